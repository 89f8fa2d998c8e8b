/*
 * frame.h
 *	  zyzzyvad's wire frames: a type byte and a u32 little-endian payload
 *	  length, then the payload.  Used on the peer mesh (inside TLS) and on
 *	  the local client socket.
 *
 * A reader checks the length against the channel's maximum as soon as the
 * five header bytes are in, before it allocates anything for the payload.
 */
#ifndef ZZD_FRAME_H
#define ZZD_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"
#include "zzwire.h"				/* the local socket's frame types and limits */

#define FRAME_HDR_LEN		ZZ_FRAME_HDR

/* Peer mesh frames. */
#define FT_HELLO			1	/* first frame: who I am, whom I meant */
#define FT_REPLICA_MSG		2	/* a core message for the receiving replica */
#define FT_CLIENT_MSG		3	/* u32 client id + a core message for that client */
#define FT_PING				4	/* u64 sender's clock */
#define FT_PONG				5	/* the PING's u64, echoed */
#define FT_XFER_REQ			6	/* state transfer: u64 seq, u32 index of the chunk wanted */
#define FT_XFER_CHUNK		7	/* state transfer: u64 seq, u32 index, the chunk */

/* Local client socket frames: ZZ_FT_L_* in extension/zzwire.h. */

/* The HELLO payload: magic, sender, intended receiver, cluster id. */
#define HELLO_MAGIC			"ZZV1"
#define HELLO_LEN			(4 + 4 + 4 + 32)

typedef enum frame_status
{
	FRAME_READY = 0,			/* a whole frame is at the front */
	FRAME_NEED_MORE,			/* *need bytes in all are needed */
	FRAME_TOO_LARGE				/* the header declares more than the max */
} frame_status;

typedef struct frame
{
	uint8_t		type;
	uint32_t	len;
	const uint8_t *payload;
} frame;

/*
 * Look at the front of buf.  FRAME_READY fills f and *need (the frame's
 * total size, to consume).  FRAME_NEED_MORE sets *need to the total bytes
 * the frame will occupy once its header is known (or FRAME_HDR_LEN), so
 * the caller can reserve exactly that, knowing it is within max_payload.
 */
extern frame_status frame_parse(const uint8_t *buf, size_t len, uint32_t max_payload,
								frame *f, size_t *need);

/* Append a frame whose payload is the concatenation of up to two parts. */
extern bool frame_append(zz_buf *out, uint8_t type, const void *p1, size_t l1,
						 const void *p2, size_t l2);

/* Little-endian helpers shared by the frame users. */
extern void frame_put_u32(uint8_t *p, uint32_t v);
extern void frame_put_u64(uint8_t *p, uint64_t v);
extern uint32_t frame_get_u32(const uint8_t *p);
extern uint64_t frame_get_u64(const uint8_t *p);

#endif							/* ZZD_FRAME_H */
