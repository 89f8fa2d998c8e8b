/*
 * frame.c
 *	  Frame parsing and building (see frame.h).
 */
#include <string.h>

#include "frame.h"

/*
 * Store v little-endian at p.
 */
void
frame_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

/*
 * Store v little-endian at p.
 */
void
frame_put_u64(uint8_t *p, uint64_t v)
{
	frame_put_u32(p, (uint32_t) v);
	frame_put_u32(p + 4, (uint32_t) (v >> 32));
}

/*
 * Load a little-endian u32.
 */
uint32_t
frame_get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 |
		(uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/*
 * Load a little-endian u64.
 */
uint64_t
frame_get_u64(const uint8_t *p)
{
	return (uint64_t) frame_get_u32(p) | (uint64_t) frame_get_u32(p + 4) << 32;
}

/*
 * Parse the frame at the front of buf, checking its declared length
 * against max_payload before the caller makes room for it.
 */
frame_status
frame_parse(const uint8_t *buf, size_t len, uint32_t max_payload, frame *f, size_t *need)
{
	uint32_t	plen;

	if (len < FRAME_HDR_LEN)
	{
		*need = FRAME_HDR_LEN;
		return FRAME_NEED_MORE;
	}
	plen = frame_get_u32(buf + 1);
	if (plen > max_payload)
		return FRAME_TOO_LARGE;
	*need = FRAME_HDR_LEN + (size_t) plen;
	if (len < *need)
		return FRAME_NEED_MORE;
	f->type = buf[0];
	f->len = plen;
	f->payload = buf + FRAME_HDR_LEN;
	return FRAME_READY;
}

/*
 * Append one frame to an output buffer.
 */
bool
frame_append(zz_buf *out, uint8_t type, const void *p1, size_t l1,
			 const void *p2, size_t l2)
{
	uint8_t		hdr[FRAME_HDR_LEN];

	if (l1 + l2 > UINT32_MAX)
		return false;
	hdr[0] = type;
	frame_put_u32(hdr + 1, (uint32_t) (l1 + l2));
	if (!zz_buf_reserve(out, FRAME_HDR_LEN + l1 + l2))
		return false;
	if (!zz_buf_append(out, hdr, FRAME_HDR_LEN))
		return false;
	if (l1 > 0 && !zz_buf_append(out, p1, l1))
		return false;
	if (l2 > 0 && !zz_buf_append(out, p2, l2))
		return false;
	return true;
}
