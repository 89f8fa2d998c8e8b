/*
 * message_int.h
 *	  The machinery every message codec is built from (message.c,
 *	  message_view.c): the writer, the reader and the generic codec.  Not
 *	  for use outside the codecs; the rest of the core sees message.h.
 *
 * Each message has a codec (zz_codec): its writer and reader cover the
 * fields before its trailing signature or MAC, which is exactly what the
 * signature covers, and generic code adds the type byte, the
 * authenticator, the checks for trailing bytes and the cleanup on errors.
 *
 * Writers run twice: once with no output to count the bytes (and to find
 * fields the decoder would reject), then into space reserved in one step.
 * Readers keep the first error and turn every later read into a no-op, so
 * a reader is a straight list of fields with one check at the end.  Every
 * count is checked against its limit, and against the bytes left, before
 * anything is allocated.
 */
#ifndef ZZ_MESSAGE_INT_H
#define ZZ_MESSAGE_INT_H

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

/* ---------------------------------------------------------------- */
/* Writer                                                           */
/* ---------------------------------------------------------------- */

/*
 * A writer counts bytes (p == NULL) or stores them into p[0..cap).  bad is
 * set, and everything after ignored, when a field breaks a limit the
 * decoder enforces or the output would overflow.
 */
typedef struct zz_wr
{
	uint8_t    *p;
	size_t		cap;
	size_t		n;
	bool		bad;
} zz_wr;

typedef void (*zz_write_fn) (zz_wr *w, const void *m);

/* Raw bytes: the primitive every other writer goes through. */
static inline void
wr_raw(zz_wr *w, const void *src, size_t len)
{
	if (w->bad || len == 0)
		return;
	if (w->p != NULL)
	{
		if (len > w->cap - w->n)
		{
			w->bad = true;
			return;
		}
		memcpy(w->p + w->n, src, len);
	}
	w->n += len;
}

/* Mark the output invalid unless cond holds; returns cond. */
static inline bool
wr_require(zz_wr *w, bool cond)
{
	if (!cond)
		w->bad = true;
	return cond;
}

/* Fixed-width fields: integers little-endian, digests and sigs raw. */
static inline void
wr_u8(zz_wr *w, uint8_t v)
{
	wr_raw(w, &v, 1);
}

static inline void
wr_u32(zz_wr *w, uint32_t v)
{
	uint8_t		b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t) (v >> (8 * i));
	wr_raw(w, b, sizeof(b));
}

static inline void
wr_u64(zz_wr *w, uint64_t v)
{
	uint8_t		b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t) (v >> (8 * i));
	wr_raw(w, b, sizeof(b));
}

static inline void
wr_digest(zz_wr *w, const zz_digest *d)
{
	wr_raw(w, d->b, ZZ_DIGEST_LEN);
}

static inline void
wr_sig(zz_wr *w, const zz_sig *s)
{
	wr_raw(w, s->b, ZZ_SIG_LEN);
}

static inline void
wr_replica(zz_wr *w, uint32_t id)
{
	if (wr_require(w, id < ZZ_MAX_N))
		wr_u32(w, id);
}

/* A u8 count of a per-replica array, which must be at most ZZ_MAX_N. */
static inline bool
wr_count8(zz_wr *w, uint8_t count)
{
	wr_u8(w, count);
	return wr_require(w, count <= ZZ_MAX_N);
}

/* A u32 length and the bytes. */
static inline void
wr_bytes(zz_wr *w, const uint8_t *p, uint32_t len, uint32_t limit)
{
	if (!wr_require(w, len <= limit && (len == 0 || p != NULL)))
		return;
	wr_u32(w, len);
	wr_raw(w, p, len);
}


/* ---------------------------------------------------------------- */
/* Reader                                                           */
/* ---------------------------------------------------------------- */

typedef struct zz_rd
{
	const uint8_t *p;
	const uint8_t *end;
	zz_err		err;			/* first error; later reads do nothing */
} zz_rd;

typedef void (*zz_read_fn) (zz_rd *r, void *m);

/* Record the first error and stop reading. */
static inline void
rd_fail(zz_rd *r, zz_err e)
{
	if (r->err == ZZ_OK)
		r->err = e;
	r->p = r->end;
}

/* Bytes not yet read. */
static inline size_t
rd_left(const zz_rd *r)
{
	return (size_t) (r->end - r->p);
}

/* The next n bytes, or NULL (and an error) if they are not all there. */
static const uint8_t *
rd_take(zz_rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->err != ZZ_OK)
		return NULL;
	if (rd_left(r) < n)
	{
		rd_fail(r, ZZ_ERR_TRUNCATED);
		return NULL;
	}
	r->p += n;
	return p;
}

/* Copy n bytes to dst; dst is left as it was (zeroed) on error. */
static inline void
rd_raw(zz_rd *r, void *dst, size_t n)
{
	const uint8_t *p = rd_take(r, n);

	if (p != NULL && n > 0)
		memcpy(dst, p, n);
}

/* Fixed-width fields, as the writers put them; zero after an error. */
static inline uint8_t
rd_u8(zz_rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p ? p[0] : 0;
}

static inline uint32_t
rd_u32(zz_rd *r)
{
	const uint8_t *p = rd_take(r, 4);
	uint32_t	v = 0;

	for (int i = 0; p != NULL && i < 4; i++)
		v |= (uint32_t) p[i] << (8 * i);
	return v;
}

static inline uint64_t
rd_u64(zz_rd *r)
{
	const uint8_t *p = rd_take(r, 8);
	uint64_t	v = 0;

	for (int i = 0; p != NULL && i < 8; i++)
		v |= (uint64_t) p[i] << (8 * i);
	return v;
}

static inline void
rd_digest(zz_rd *r, zz_digest *d)
{
	rd_raw(r, d->b, ZZ_DIGEST_LEN);
}

static inline void
rd_sig(zz_rd *r, zz_sig *s)
{
	rd_raw(r, s->b, ZZ_SIG_LEN);
}

/* A replica id, which must be below ZZ_MAX_N. */
static inline uint32_t
rd_replica(zz_rd *r)
{
	uint32_t	id = rd_u32(r);

	if (id >= ZZ_MAX_N)
	{
		rd_fail(r, ZZ_ERR_VALUE);
		return 0;
	}
	return id;
}

/* A presence byte: 0 or 1. */
static inline uint8_t
rd_presence(zz_rd *r)
{
	uint8_t		v = rd_u8(r);

	if (v > 1)
	{
		rd_fail(r, ZZ_ERR_VALUE);
		return 0;
	}
	return v;
}

/*
 * rd_count
 *		An array count (u8, or u32 if wide), checked against its limit and
 *		against the bytes left, given each element's smallest encoding.
 *
 * Returns 0 on error, so callers never allocate for a bad count.
 */
static inline uint32_t
rd_count(zz_rd *r, bool wide, uint32_t limit, size_t elem_min)
{
	uint32_t	count = wide ? rd_u32(r) : rd_u8(r);

	if (r->err != ZZ_OK)
		return 0;
	if (count > limit)
	{
		rd_fail(r, ZZ_ERR_LIMIT);
		return 0;
	}
	if ((uint64_t) count * elem_min > rd_left(r))
	{
		rd_fail(r, ZZ_ERR_TRUNCATED);
		return 0;
	}
	return count;
}

/* A u32 length and that many bytes, which stay in the input buffer. */
static const uint8_t *
rd_bytes(zz_rd *r, uint32_t limit, uint32_t *len)
{
	uint32_t	n = rd_count(r, true, limit, 1);
	const uint8_t *p = rd_take(r, n);

	*len = p != NULL ? n : 0;
	return p;
}

/* calloc for a decoded array; NULL for an empty one, or on failure. */
static inline void *
rd_alloc(zz_rd *r, uint32_t count, size_t size)
{
	void	   *p;

	if (r->err != ZZ_OK || count == 0)
		return NULL;
	p = calloc(count, size);
	if (p == NULL)
		rd_fail(r, ZZ_ERR_NOMEM);
	return p;
}


/* ---------------------------------------------------------------- */
/* Codecs                                                           */
/* ---------------------------------------------------------------- */

/*
 * How one struct is written and read.  Most signed or MAC'd structs end in
 * their signature or MAC; write and read cover the fields before it, which
 * are also exactly what the signature covers, and the generic code adds
 * the trailing authenticator.  type is the message's type byte (0 for
 * structs that only travel inside messages).
 */
typedef struct zz_codec
{
	zz_msg_type type;
	size_t		size;			/* sizeof the struct */
	zz_write_fn write;			/* the fields before the authenticator */
	zz_read_fn	read;
	size_t		auth_off;		/* offsetof the trailing signature or MAC */
	size_t		auth_len;		/* its length; 0 if there is none */
	void		(*release) (void *m);	/* frees what read allocated, or NULL */
} zz_codec;

/* Write a struct and its trailing authenticator. */
static inline void
write_whole(zz_wr *w, const zz_codec *codec, const void *m)
{
	codec->write(w, m);
	wr_raw(w, (const uint8_t *) m + codec->auth_off, codec->auth_len);
}

/* Read a struct and its trailing authenticator. */
static inline void
read_whole(zz_rd *r, const zz_codec *codec, void *m)
{
	codec->read(r, m);
	rd_raw(r, (uint8_t *) m + codec->auth_off, codec->auth_len);
}

/* prefix, then m: whole, or without its authenticator. */
static inline void
write_prefixed(zz_wr *w, const void *prefix, size_t prefix_len,
			   const zz_codec *codec, const void *m, bool with_auth)
{
	wr_raw(w, prefix, prefix_len);
	if (with_auth)
		write_whole(w, codec, m);
	else
		codec->write(w, m);
}

/*
 * emit
 *		Append prefix and m's encoding to b, or nothing at all.
 *
 * Counts first, then writes into space reserved in one step.  Returns
 * false if m breaks a limit, the result would exceed ZZ_MAX_MSG_LEN, or
 * memory runs out.
 */
static inline bool
emit(zz_buf *b, const void *prefix, size_t prefix_len, const zz_codec *codec,
	 const void *m, bool with_auth)
{
	zz_wr		w = {NULL, 0, 0, false};
	size_t		total;

	write_prefixed(&w, prefix, prefix_len, codec, m, with_auth);
	if (w.bad || w.n > ZZ_MAX_MSG_LEN || !zz_buf_reserve(b, w.n))
		return false;
	total = w.n;

	w.p = b->data + b->len;
	w.cap = total;
	w.n = 0;
	write_prefixed(&w, prefix, prefix_len, codec, m, with_auth);
	assert(!w.bad && w.n == total);
	b->len += total;
	return true;
}

/* Encode a message: its type byte, then all its fields. */
static inline bool
encode(zz_buf *b, const zz_codec *codec, const void *m)
{
	uint8_t		t = (uint8_t) codec->type;

	return emit(b, &t, 1, codec, m, true);
}

/*
 * decode
 *		Zero m, check the type byte, read every field, and reject anything
 *		left over.  On failure nothing stays allocated and m is zeroed.
 */
static inline zz_err
decode(const uint8_t *buf, size_t len, const zz_codec *codec, void *m)
{
	zz_rd		r;

	memset(m, 0, codec->size);
	if (len > ZZ_MAX_MSG_LEN)
		return ZZ_ERR_LIMIT;
	if (len == 0)
		return ZZ_ERR_TRUNCATED;
	if (buf[0] != (uint8_t) codec->type)
		return ZZ_ERR_TYPE;
	r.p = buf + 1;
	r.end = buf + len;
	r.err = ZZ_OK;
	read_whole(&r, codec, m);
	if (r.err == ZZ_OK && r.p != r.end)
		r.err = ZZ_ERR_TRAILING;
	if (r.err != ZZ_OK)
	{
		if (codec->release != NULL)
			codec->release(m);
		memset(m, 0, codec->size);
	}
	return r.err;
}

/*
 * CODEC_API(name) defines the public zz_encode_<name>() and
 * zz_decode_<name>() of message.h over codec_<name>; every message has
 * its codec followed by this line.
 */
#define CODEC_API(name) \
bool \
zz_encode_##name(zz_buf *b, const zz_##name *m) \
{ \
	return encode(b, &codec_##name, m); \
} \
\
zz_err \
zz_decode_##name(const uint8_t *buf, size_t len, zz_##name *m) \
{ \
	return decode(buf, len, &codec_##name, m); \
}

/*
 * signing
 *		Replace b's contents with a domain tag and the fields a signature
 *		covers.
 *
 * If the fields break a limit (no correct node signs such a thing) or
 * memory runs out, b is left empty, which matches no signature a correct
 * node makes.
 */
static inline void
signing(zz_buf *b, const char *tag, size_t taglen, const zz_codec *codec,
		const void *m)
{
	zz_buf_reset(b);
	if (!emit(b, tag, taglen, codec, m, false))
		b->len = 0;
}

/* Parts of messages message.c lends the view change's codecs. */
void		zz_write_order_req(zz_wr *w, const void *arg);
void		zz_read_order_req(zz_rd *r, void *arg);
void		zz_write_commit_cert(zz_wr *w, const zz_commit_cert *cc);
void		zz_read_commit_cert(zz_rd *r, zz_commit_cert *cc);

#endif							/* ZZ_MESSAGE_INT_H */
