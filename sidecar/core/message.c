/*
 * message.c
 *	  The canonical binary encoding of Zyzzyva's messages (message.h).
 *
 * Each struct has one writer and one reader, used wherever the struct
 * appears: on its own, embedded in another message, or in the bytes a
 * signature or MAC covers.  The encoding is canonical: the decoders accept
 * exactly the byte strings the encoders produce, so a decoded message
 * re-encodes to the same bytes.
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
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

/* Smallest encodings, for checking that counts can fit before allocating. */
#define REQUEST_MIN		(4 + 8 + 4 + 1)
#define ORDER_HDR_LEN	(8 + 8 + ZZ_DIGEST_LEN * 2 + 8 + 8 + 4 + ZZ_SIG_LEN)
#define CC_ENTRY_LEN	(4 + ZZ_DIGEST_LEN + ZZ_SIG_LEN)
#define SIGNER_LEN		(4 + ZZ_SIG_LEN)	/* a replica id and its signature */
#define CP_PROOF_MIN	(8 + 8 + ZZ_DIGEST_LEN * 2 + 1)
#define VIEW_CERT_MIN	(8 + 8 + ZZ_DIGEST_LEN + 1)
#define VIEW_CHANGE_MIN (8 + 4 + 2 * CP_PROOF_MIN + VIEW_CERT_MIN + 1 + 4 + 1 + ZZ_SIG_LEN)

/* Parts of a SPEC-RESPONSE's MAC'd bytes, built on the stack. */
#define SPEC_HEAD_LEN	(8 + 8 + ZZ_DIGEST_LEN * 2 + 4 + ZZ_SIG_LEN + 4 + 8 + 4 + 4)
#define LOCAL_COMMIT_LEN (8 + 8 + ZZ_DIGEST_LEN + 4 + 4 + 8)

/*
 * Domain tags: what a signature or MAC is over is named first, with the
 * terminating NUL, so that no two kinds of signed bytes can coincide.
 */
static const char TAG_REQUEST[] = "zz-req";
static const char TAG_ORDER_HDR[] = "zz-order-hdr";
static const char TAG_RESPONSE_CORE[] = "zz-response-core";
static const char TAG_SPEC_RESPONSE[] = "zz-spec-response";
static const char TAG_LOCAL_COMMIT[] = "zz-local-commit";
static const char TAG_CONFIRM_REQ[] = "zz-confirm-req";
static const char TAG_FILL_HOLE[] = "zz-fill-hole";
static const char TAG_I_HATE[] = "zz-i-hate-the-primary";
static const char TAG_CHECKPOINT[] = "zz-checkpoint";
static const char TAG_VIEW_CHANGE[] = "zz-view-change";
static const char TAG_NEW_VIEW[] = "zz-new-view";
static const char TAG_VIEW_CONFIRM[] = "zz-view-confirm";
static const char TAG_STATE_REQUEST[] = "zz-state-request";


/* ---------------------------------------------------------------- */
/* Names                                                            */
/* ---------------------------------------------------------------- */

/*
 * zz_err_str
 *		A short description of a decoding error, for logs and traces.
 */
const char *
zz_err_str(zz_err e)
{
	switch (e)
	{
		case ZZ_OK:
			return "ok";
		case ZZ_ERR_TRUNCATED:
			return "message truncated";
		case ZZ_ERR_TRAILING:
			return "trailing bytes after message";
		case ZZ_ERR_TYPE:
			return "unknown or unexpected message type";
		case ZZ_ERR_LIMIT:
			return "count or length over its limit";
		case ZZ_ERR_VALUE:
			return "field with an impossible value";
		case ZZ_ERR_NOMEM:
			return "out of memory";
	}
	return "unknown error";
}

/*
 * zz_msg_type_name
 *		The protocol's name for a message type (docs/protocol.md section 3).
 */
const char *
zz_msg_type_name(int type)
{
	static const char *const names[] = {
		[ZZ_MSG_REQUEST] = "REQUEST",
		[ZZ_MSG_ORDER_REQ] = "ORDER-REQ",
		[ZZ_MSG_SPEC_RESPONSE] = "SPEC-RESPONSE",
		[ZZ_MSG_COMMIT] = "COMMIT",
		[ZZ_MSG_LOCAL_COMMIT] = "LOCAL-COMMIT",
		[ZZ_MSG_CONFIRM_REQ] = "CONFIRM-REQ",
		[ZZ_MSG_FILL_HOLE] = "FILL-HOLE",
		[ZZ_MSG_POM] = "POM",
		[ZZ_MSG_I_HATE_THE_PRIMARY] = "I-HATE-THE-PRIMARY",
		[ZZ_MSG_VIEW_CHANGE] = "VIEW-CHANGE",
		[ZZ_MSG_NEW_VIEW] = "NEW-VIEW",
		[ZZ_MSG_VIEW_CONFIRM] = "VIEW-CONFIRM",
		[ZZ_MSG_CHECKPOINT] = "CHECKPOINT",
		[ZZ_MSG_STATE_REQUEST] = "STATE-REQUEST",
		[ZZ_MSG_STATE_REPLY] = "STATE-REPLY",
	};

	if (type < ZZ_MSG_REQUEST || type > ZZ_MSG_TYPE_MAX)
		return "UNKNOWN";
	return names[type];
}

/*
 * zz_msg_peek_type
 *		The type of an encoded message, without decoding it.
 */
zz_err
zz_msg_peek_type(const uint8_t *buf, size_t len, zz_msg_type *out)
{
	if (len == 0)
		return ZZ_ERR_TRUNCATED;
	if (buf[0] < ZZ_MSG_REQUEST || buf[0] > ZZ_MSG_TYPE_MAX)
		return ZZ_ERR_TYPE;
	*out = (zz_msg_type) buf[0];
	return ZZ_OK;
}


/* ---------------------------------------------------------------- */
/* Output buffers                                                   */
/* ---------------------------------------------------------------- */

/* An empty buffer; it allocates on first use. */
void
zz_buf_init(zz_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* Forget the contents but keep the memory, for reuse per message. */
void
zz_buf_reset(zz_buf *b)
{
	b->len = 0;
}

/* Release the memory; the buffer is empty and reusable afterwards. */
void
zz_buf_free(zz_buf *b)
{
	free(b->data);
	zz_buf_init(b);
}

/*
 * zz_buf_reserve
 *		Make room for extra more bytes, growing by doubling.
 */
bool
zz_buf_reserve(zz_buf *b, size_t extra)
{
	size_t		need;
	size_t		cap;
	uint8_t    *grown;

	if (extra > SIZE_MAX - b->len)
		return false;
	need = b->len + extra;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
	{
		if (cap > SIZE_MAX / 2)
		{
			cap = need;
			break;
		}
		cap *= 2;
	}
	grown = realloc(b->data, cap);
	if (grown == NULL)
		return false;
	b->data = grown;
	b->cap = cap;
	return true;
}

/* Append n bytes; false (and nothing appended) if memory runs out. */
bool
zz_buf_append(zz_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return true;
	if (!zz_buf_reserve(b, n))
		return false;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return true;
}


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
static void
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
static bool
wr_require(zz_wr *w, bool cond)
{
	if (!cond)
		w->bad = true;
	return cond;
}

/* Fixed-width fields: integers little-endian, digests and sigs raw. */
static void
wr_u8(zz_wr *w, uint8_t v)
{
	wr_raw(w, &v, 1);
}

static void
wr_u32(zz_wr *w, uint32_t v)
{
	uint8_t		b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t) (v >> (8 * i));
	wr_raw(w, b, sizeof(b));
}

static void
wr_u64(zz_wr *w, uint64_t v)
{
	uint8_t		b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t) (v >> (8 * i));
	wr_raw(w, b, sizeof(b));
}

static void
wr_digest(zz_wr *w, const zz_digest *d)
{
	wr_raw(w, d->b, ZZ_DIGEST_LEN);
}

static void
wr_sig(zz_wr *w, const zz_sig *s)
{
	wr_raw(w, s->b, ZZ_SIG_LEN);
}

static void
wr_replica(zz_wr *w, uint32_t id)
{
	if (wr_require(w, id < ZZ_MAX_N))
		wr_u32(w, id);
}

/* A u8 count of a per-replica array, which must be at most ZZ_MAX_N. */
static bool
wr_count8(zz_wr *w, uint8_t count)
{
	wr_u8(w, count);
	return wr_require(w, count <= ZZ_MAX_N);
}

/* A u32 length and the bytes. */
static void
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
static void
rd_fail(zz_rd *r, zz_err e)
{
	if (r->err == ZZ_OK)
		r->err = e;
	r->p = r->end;
}

/* Bytes not yet read. */
static size_t
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
static void
rd_raw(zz_rd *r, void *dst, size_t n)
{
	const uint8_t *p = rd_take(r, n);

	if (p != NULL && n > 0)
		memcpy(dst, p, n);
}

/* Fixed-width fields, as the writers put them; zero after an error. */
static uint8_t
rd_u8(zz_rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p ? p[0] : 0;
}

static uint32_t
rd_u32(zz_rd *r)
{
	const uint8_t *p = rd_take(r, 4);
	uint32_t	v = 0;

	for (int i = 0; p != NULL && i < 4; i++)
		v |= (uint32_t) p[i] << (8 * i);
	return v;
}

static uint64_t
rd_u64(zz_rd *r)
{
	const uint8_t *p = rd_take(r, 8);
	uint64_t	v = 0;

	for (int i = 0; p != NULL && i < 8; i++)
		v |= (uint64_t) p[i] << (8 * i);
	return v;
}

static void
rd_digest(zz_rd *r, zz_digest *d)
{
	rd_raw(r, d->b, ZZ_DIGEST_LEN);
}

static void
rd_sig(zz_rd *r, zz_sig *s)
{
	rd_raw(r, s->b, ZZ_SIG_LEN);
}

/* A replica id, which must be below ZZ_MAX_N. */
static uint32_t
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
static uint8_t
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
static uint32_t
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
static void *
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
static void
write_whole(zz_wr *w, const zz_codec *codec, const void *m)
{
	codec->write(w, m);
	wr_raw(w, (const uint8_t *) m + codec->auth_off, codec->auth_len);
}

/* Read a struct and its trailing authenticator. */
static void
read_whole(zz_rd *r, const zz_codec *codec, void *m)
{
	codec->read(r, m);
	rd_raw(r, (uint8_t *) m + codec->auth_off, codec->auth_len);
}

/* prefix, then m: whole, or without its authenticator. */
static void
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
static bool
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
static bool
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
static zz_err
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
static void
signing(zz_buf *b, const char *tag, size_t taglen, const zz_codec *codec,
		const void *m)
{
	zz_buf_reset(b);
	if (!emit(b, tag, taglen, codec, m, false))
		b->len = 0;
}


/* ---------------------------------------------------------------- */
/* Parts of messages                                                */
/* ---------------------------------------------------------------- */

/* A request (a REQUEST's body; also inside ORDER-REQ and CONFIRM-REQ). */
static void
write_request(zz_wr *w, const void *arg)
{
	const zz_request *m = arg;

	wr_u32(w, m->client);
	wr_u64(w, m->timestamp);
	wr_bytes(w, m->op, m->op_len, ZZ_MAX_OP_LEN);
	if (wr_count8(w, m->n_auth))
		wr_raw(w, m->auth, (size_t) m->n_auth * ZZ_MAC_LEN);
}

static void
read_request(zz_rd *r, void *arg)
{
	zz_request *m = arg;

	m->client = rd_u32(r);
	m->timestamp = rd_u64(r);
	m->op = rd_bytes(r, ZZ_MAX_OP_LEN, &m->op_len);
	m->n_auth = (uint8_t) rd_count(r, false, ZZ_MAX_N, ZZ_MAC_LEN);
	rd_raw(r, m->auth, (size_t) m->n_auth * ZZ_MAC_LEN);
}

/* An ORDER-REQ header; its count is checked, its requests are elsewhere. */
static void
write_order_hdr(zz_wr *w, const void *arg)
{
	const zz_order_hdr *h = arg;

	wr_u64(w, h->view);
	wr_u64(w, h->seq);
	wr_digest(w, &h->history);
	wr_digest(w, &h->batch_digest);
	wr_u64(w, h->nd_time);
	wr_u64(w, h->nd_seed);
	wr_u32(w, h->count);
	wr_require(w, h->count <= ZZ_MAX_BATCH);
}

static void
read_order_hdr(zz_rd *r, void *arg)
{
	zz_order_hdr *h = arg;

	h->view = rd_u64(r);
	h->seq = rd_u64(r);
	rd_digest(r, &h->history);
	rd_digest(r, &h->batch_digest);
	h->nd_time = rd_u64(r);
	h->nd_seed = rd_u64(r);
	h->count = rd_u32(r);
	if (h->count > ZZ_MAX_BATCH)
		rd_fail(r, ZZ_ERR_LIMIT);
}

static const zz_codec codec_order_hdr = {
	0, sizeof(zz_order_hdr), write_order_hdr, read_order_hdr,
	offsetof(zz_order_hdr, sig), ZZ_SIG_LEN, NULL
};

/* A commit certificate. */
static void
write_commit_cert(zz_wr *w, const zz_commit_cert *cc)
{
	wr_u64(w, cc->view);
	wr_u64(w, cc->seq);
	wr_digest(w, &cc->history);
	if (!wr_count8(w, cc->count))
		return;
	for (uint32_t i = 0; i < cc->count; i++)
	{
		wr_replica(w, cc->entries[i].replica);
		wr_digest(w, &cc->entries[i].reply_root);
		wr_sig(w, &cc->entries[i].sig);
	}
}

static void
read_commit_cert(zz_rd *r, zz_commit_cert *cc)
{
	cc->view = rd_u64(r);
	cc->seq = rd_u64(r);
	rd_digest(r, &cc->history);
	cc->count = (uint8_t) rd_count(r, false, ZZ_MAX_N, CC_ENTRY_LEN);
	for (uint32_t i = 0; i < cc->count; i++)
	{
		cc->entries[i].replica = rd_replica(r);
		rd_digest(r, &cc->entries[i].reply_root);
		rd_sig(r, &cc->entries[i].sig);
	}
}

/*
 * A set of replicas' signatures: the count, the replica ids, then the
 * signatures (the order of the struct arrays).  Used by checkpoint proofs
 * and by I-HATE-THE-PRIMARY proofs.
 */
static void
write_signers(zz_wr *w, uint8_t count, const uint32_t *replicas,
			  const zz_sig *sigs)
{
	if (!wr_count8(w, count))
		return;
	for (uint32_t i = 0; i < count; i++)
		wr_replica(w, replicas[i]);
	for (uint32_t i = 0; i < count; i++)
		wr_sig(w, &sigs[i]);
}

static uint8_t
read_signers(zz_rd *r, uint32_t *replicas, zz_sig *sigs)
{
	uint8_t		count = (uint8_t) rd_count(r, false, ZZ_MAX_N, SIGNER_LEN);

	for (uint32_t i = 0; i < count; i++)
		replicas[i] = rd_replica(r);
	for (uint32_t i = 0; i < count; i++)
		rd_sig(r, &sigs[i]);
	return count;
}

/* A stable checkpoint's proof. */
static void
write_cp_proof(zz_wr *w, const zz_cp_proof *cp)
{
	wr_u64(w, cp->view);
	wr_u64(w, cp->seq);
	wr_digest(w, &cp->history);
	wr_digest(w, &cp->state);
	write_signers(w, cp->count, cp->replicas, cp->sigs);
}

static void
read_cp_proof(zz_rd *r, zz_cp_proof *cp)
{
	cp->view = rd_u64(r);
	cp->seq = rd_u64(r);
	rd_digest(r, &cp->history);
	rd_digest(r, &cp->state);
	cp->count = read_signers(r, cp->replicas, cp->sigs);
}

/* A view's certificate: 2f+1 VIEW-CONFIRM signatures. */
static void
write_view_cert(zz_wr *w, const zz_view_cert *vc)
{
	wr_u64(w, vc->view);
	wr_u64(w, vc->seq);
	wr_digest(w, &vc->history);
	write_signers(w, vc->count, vc->replicas, vc->sigs);
}

static void
read_view_cert(zz_rd *r, zz_view_cert *vc)
{
	vc->view = rd_u64(r);
	vc->seq = rd_u64(r);
	rd_digest(r, &vc->history);
	vc->count = read_signers(r, vc->replicas, vc->sigs);
}

/* ---------------------------------------------------------------- */
/* Messages                                                         */
/* ---------------------------------------------------------------- */

/* REQUEST */
static const zz_codec codec_request = {
	ZZ_MSG_REQUEST, sizeof(zz_request), write_request, read_request, 0, 0, NULL
};

CODEC_API(request)

/* ORDER-REQ: the signed header, then hdr.count requests. */
static void
write_order_req(zz_wr *w, const void *arg)
{
	const zz_order_req *m = arg;

	write_whole(w, &codec_order_hdr, &m->hdr);
	if (!wr_require(w, m->hdr.count <= ZZ_MAX_BATCH &&
					(m->hdr.count == 0 || m->reqs != NULL)))
		return;
	for (uint32_t i = 0; i < m->hdr.count; i++)
		write_request(w, &m->reqs[i]);
}

static void
read_order_req(zz_rd *r, void *arg)
{
	zz_order_req *m = arg;
	uint32_t	count;

	read_whole(r, &codec_order_hdr, &m->hdr);
	if (r->err != ZZ_OK)
		return;
	if ((uint64_t) m->hdr.count * REQUEST_MIN > rd_left(r))
	{
		rd_fail(r, ZZ_ERR_TRUNCATED);
		return;
	}
	count = m->hdr.count;
	m->reqs = rd_alloc(r, count, sizeof(zz_request));
	for (uint32_t i = 0; i < count && r->err == ZZ_OK; i++)
		read_request(r, &m->reqs[i]);
}

/* zz_order_req_release as a codec release. */
static void
release_order_req(void *m)
{
	zz_order_req_release(m);
}

static const zz_codec codec_order_req = {
	ZZ_MSG_ORDER_REQ, sizeof(zz_order_req), write_order_req, read_order_req,
	0, 0, release_order_req
};

CODEC_API(order_req)

/*
 * SPEC-RESPONSE.  Its MAC covers everything before it; the reply can be
 * large, so the MAC'd digest hashes the head, the reply where it lies, and
 * the tail.  The head ends with the reply's length.
 */
static void
write_spec_head(zz_wr *w, const zz_spec_response *m)
{
	wr_u64(w, m->view);
	wr_u64(w, m->seq);
	wr_digest(w, &m->history);
	wr_digest(w, &m->reply_root);
	wr_replica(w, m->replica);
	wr_sig(w, &m->core_sig);
	wr_u32(w, m->client);
	wr_u64(w, m->timestamp);
	wr_u32(w, m->index);
	wr_require(w, m->index < ZZ_MAX_BATCH);
	wr_u32(w, m->reply_len);
	wr_require(w, m->reply_len <= ZZ_MAX_REPLY_LEN &&
			   (m->reply_len == 0 || m->reply != NULL));
}

static void
write_spec_tail(zz_wr *w, const zz_spec_response *m)
{
	wr_u8(w, m->path_len);
	if (wr_require(w, m->path_len <= ZZ_MAX_MERKLE_DEPTH))
		wr_raw(w, m->path, (size_t) m->path_len * ZZ_DIGEST_LEN);
	write_whole(w, &codec_order_hdr, &m->order);
}

static void
write_spec_response(zz_wr *w, const void *arg)
{
	const zz_spec_response *m = arg;

	write_spec_head(w, m);
	if (w->bad)
		return;
	wr_raw(w, m->reply, m->reply_len);
	write_spec_tail(w, m);
}

static void
read_spec_response(zz_rd *r, void *arg)
{
	zz_spec_response *m = arg;

	m->view = rd_u64(r);
	m->seq = rd_u64(r);
	rd_digest(r, &m->history);
	rd_digest(r, &m->reply_root);
	m->replica = rd_replica(r);
	rd_sig(r, &m->core_sig);
	m->client = rd_u32(r);
	m->timestamp = rd_u64(r);
	m->index = rd_u32(r);
	if (m->index >= ZZ_MAX_BATCH)
		rd_fail(r, ZZ_ERR_VALUE);
	m->reply = rd_bytes(r, ZZ_MAX_REPLY_LEN, &m->reply_len);
	m->path_len = (uint8_t) rd_count(r, false, ZZ_MAX_MERKLE_DEPTH, ZZ_DIGEST_LEN);
	rd_raw(r, m->path, (size_t) m->path_len * ZZ_DIGEST_LEN);
	read_whole(r, &codec_order_hdr, &m->order);
}

static const zz_codec codec_spec_response = {
	ZZ_MSG_SPEC_RESPONSE, sizeof(zz_spec_response), write_spec_response,
	read_spec_response, offsetof(zz_spec_response, mac), ZZ_MAC_LEN, NULL
};

CODEC_API(spec_response)

/* COMMIT */
static void
write_commit(zz_wr *w, const void *arg)
{
	const zz_commit *m = arg;

	wr_u32(w, m->client);
	wr_u64(w, m->timestamp);
	write_commit_cert(w, &m->cc);
}

static void
read_commit(zz_rd *r, void *arg)
{
	zz_commit  *m = arg;

	m->client = rd_u32(r);
	m->timestamp = rd_u64(r);
	read_commit_cert(r, &m->cc);
}

static const zz_codec codec_commit = {
	ZZ_MSG_COMMIT, sizeof(zz_commit), write_commit, read_commit, 0, 0, NULL
};

CODEC_API(commit)

/* LOCAL-COMMIT */
static void
write_local_commit(zz_wr *w, const void *arg)
{
	const zz_local_commit *m = arg;

	wr_u64(w, m->view);
	wr_u64(w, m->seq);
	wr_digest(w, &m->history);
	wr_replica(w, m->replica);
	wr_u32(w, m->client);
	wr_u64(w, m->timestamp);
}

static void
read_local_commit(zz_rd *r, void *arg)
{
	zz_local_commit *m = arg;

	m->view = rd_u64(r);
	m->seq = rd_u64(r);
	rd_digest(r, &m->history);
	m->replica = rd_replica(r);
	m->client = rd_u32(r);
	m->timestamp = rd_u64(r);
}

static const zz_codec codec_local_commit = {
	ZZ_MSG_LOCAL_COMMIT, sizeof(zz_local_commit), write_local_commit,
	read_local_commit, offsetof(zz_local_commit, mac), ZZ_MAC_LEN, NULL
};

CODEC_API(local_commit)

/* CONFIRM-REQ */
static void
write_confirm_req(zz_wr *w, const void *arg)
{
	const zz_confirm_req *m = arg;

	wr_u64(w, m->view);
	wr_replica(w, m->replica);
	write_request(w, &m->request);
}

static void
read_confirm_req(zz_rd *r, void *arg)
{
	zz_confirm_req *m = arg;

	m->view = rd_u64(r);
	m->replica = rd_replica(r);
	read_request(r, &m->request);
}

static const zz_codec codec_confirm_req = {
	ZZ_MSG_CONFIRM_REQ, sizeof(zz_confirm_req), write_confirm_req,
	read_confirm_req, offsetof(zz_confirm_req, sig), ZZ_SIG_LEN, NULL
};

CODEC_API(confirm_req)

/* FILL-HOLE */
static void
write_fill_hole(zz_wr *w, const void *arg)
{
	const zz_fill_hole *m = arg;

	wr_u64(w, m->view);
	wr_replica(w, m->replica);
	wr_u64(w, m->from_seq);
	wr_u64(w, m->to_seq);
}

static void
read_fill_hole(zz_rd *r, void *arg)
{
	zz_fill_hole *m = arg;

	m->view = rd_u64(r);
	m->replica = rd_replica(r);
	m->from_seq = rd_u64(r);
	m->to_seq = rd_u64(r);
}

static const zz_codec codec_fill_hole = {
	ZZ_MSG_FILL_HOLE, sizeof(zz_fill_hole), write_fill_hole, read_fill_hole,
	offsetof(zz_fill_hole, sig), ZZ_SIG_LEN, NULL
};

CODEC_API(fill_hole)

/* POM: two headers signed by one primary. */
static void
write_pom(zz_wr *w, const void *arg)
{
	const zz_pom *m = arg;

	write_whole(w, &codec_order_hdr, &m->a);
	write_whole(w, &codec_order_hdr, &m->b);
}

static void
read_pom(zz_rd *r, void *arg)
{
	zz_pom	   *m = arg;

	read_whole(r, &codec_order_hdr, &m->a);
	read_whole(r, &codec_order_hdr, &m->b);
}

static const zz_codec codec_pom = {
	ZZ_MSG_POM, sizeof(zz_pom), write_pom, read_pom, 0, 0, NULL
};

CODEC_API(pom)

/* I-HATE-THE-PRIMARY */
static void
write_i_hate(zz_wr *w, const void *arg)
{
	const zz_i_hate *m = arg;

	wr_u64(w, m->view);
	wr_replica(w, m->replica);
}

static void
read_i_hate(zz_rd *r, void *arg)
{
	zz_i_hate  *m = arg;

	m->view = rd_u64(r);
	m->replica = rd_replica(r);
}

static const zz_codec codec_i_hate = {
	ZZ_MSG_I_HATE_THE_PRIMARY, sizeof(zz_i_hate), write_i_hate, read_i_hate,
	offsetof(zz_i_hate, sig), ZZ_SIG_LEN, NULL
};

CODEC_API(i_hate)

/* CHECKPOINT */
static void
write_checkpoint(zz_wr *w, const void *arg)
{
	const zz_checkpoint *m = arg;

	wr_u64(w, m->view);
	wr_u64(w, m->seq);
	wr_digest(w, &m->history);
	wr_digest(w, &m->state);
	wr_replica(w, m->replica);
}

static void
read_checkpoint(zz_rd *r, void *arg)
{
	zz_checkpoint *m = arg;

	m->view = rd_u64(r);
	m->seq = rd_u64(r);
	rd_digest(r, &m->history);
	rd_digest(r, &m->state);
	m->replica = rd_replica(r);
}

static const zz_codec codec_checkpoint = {
	ZZ_MSG_CHECKPOINT, sizeof(zz_checkpoint), write_checkpoint,
	read_checkpoint, offsetof(zz_checkpoint, sig), ZZ_SIG_LEN, NULL
};

CODEC_API(checkpoint)

/* VIEW-CHANGE: its ORDER-REQs inline, each as in an ORDER-REQ message. */
static void
write_view_change(zz_wr *w, const void *arg)
{
	const zz_view_change *m = arg;

	wr_u64(w, m->new_view);
	wr_replica(w, m->replica);
	write_cp_proof(w, &m->cp);
	write_cp_proof(w, &m->cert);
	write_view_cert(w, &m->entered);
	wr_u8(w, m->has_cc);
	if (wr_require(w, m->has_cc <= 1) && m->has_cc)
		write_commit_cert(w, &m->cc);
	wr_u32(w, m->n_entries);
	if (wr_require(w, m->n_entries <= ZZ_MAX_VC_ENTRIES &&
				   (m->n_entries == 0 || m->entries != NULL)))
	{
		for (uint32_t i = 0; i < m->n_entries; i++)
			write_order_req(w, &m->entries[i]);
	}
	write_signers(w, m->n_hate, m->hate_replicas, m->hate_sigs);
}

static void
read_view_change(zz_rd *r, void *arg)
{
	zz_view_change *m = arg;
	uint32_t	count;

	m->new_view = rd_u64(r);
	m->replica = rd_replica(r);
	read_cp_proof(r, &m->cp);
	read_cp_proof(r, &m->cert);
	read_view_cert(r, &m->entered);
	m->has_cc = rd_presence(r);
	if (m->has_cc)
		read_commit_cert(r, &m->cc);
	count = rd_count(r, true, ZZ_MAX_VC_ENTRIES, ORDER_HDR_LEN);
	m->entries = rd_alloc(r, count, sizeof(zz_order_req));
	if (m->entries != NULL)
		m->n_entries = count;
	for (uint32_t i = 0; i < m->n_entries && r->err == ZZ_OK; i++)
		read_order_req(r, &m->entries[i]);
	m->n_hate = read_signers(r, m->hate_replicas, m->hate_sigs);
}

/* zz_view_change_release as a codec release. */
static void
release_view_change(void *m)
{
	zz_view_change_release(m);
}

static const zz_codec codec_view_change = {
	ZZ_MSG_VIEW_CHANGE, sizeof(zz_view_change), write_view_change,
	read_view_change, offsetof(zz_view_change, sig), ZZ_SIG_LEN,
	release_view_change
};

CODEC_API(view_change)

/* NEW-VIEW: the VIEW-CHANGEs inline, each with its own signature. */
static void
write_new_view(zz_wr *w, const void *arg)
{
	const zz_new_view *m = arg;

	wr_u64(w, m->new_view);
	wr_replica(w, m->replica);
	if (!wr_count8(w, m->n_vc) ||
		!wr_require(w, m->n_vc == 0 || m->vcs != NULL))
		return;
	for (uint32_t i = 0; i < m->n_vc; i++)
		write_whole(w, &codec_view_change, &m->vcs[i]);
}

static void
read_new_view(zz_rd *r, void *arg)
{
	zz_new_view *m = arg;
	uint32_t	count;

	m->new_view = rd_u64(r);
	m->replica = rd_replica(r);
	count = rd_count(r, false, ZZ_MAX_N, VIEW_CHANGE_MIN);
	m->vcs = rd_alloc(r, count, sizeof(zz_view_change));
	if (m->vcs != NULL)
		m->n_vc = (uint8_t) count;
	for (uint32_t i = 0; i < m->n_vc && r->err == ZZ_OK; i++)
		read_whole(r, &codec_view_change, &m->vcs[i]);
}

/* zz_new_view_release as a codec release. */
static void
release_new_view(void *m)
{
	zz_new_view_release(m);
}

static const zz_codec codec_new_view = {
	ZZ_MSG_NEW_VIEW, sizeof(zz_new_view), write_new_view, read_new_view,
	offsetof(zz_new_view, sig), ZZ_SIG_LEN, release_new_view
};

CODEC_API(new_view)

/* VIEW-CONFIRM */
static void
write_view_confirm(zz_wr *w, const void *arg)
{
	const zz_view_confirm *m = arg;

	wr_u64(w, m->view);
	wr_u64(w, m->seq);
	wr_digest(w, &m->history);
	wr_replica(w, m->replica);
}

static void
read_view_confirm(zz_rd *r, void *arg)
{
	zz_view_confirm *m = arg;

	m->view = rd_u64(r);
	m->seq = rd_u64(r);
	rd_digest(r, &m->history);
	m->replica = rd_replica(r);
}

static const zz_codec codec_view_confirm = {
	ZZ_MSG_VIEW_CONFIRM, sizeof(zz_view_confirm), write_view_confirm,
	read_view_confirm, offsetof(zz_view_confirm, sig), ZZ_SIG_LEN, NULL
};

CODEC_API(view_confirm)

/* STATE-REQUEST */
static void
write_state_request(zz_wr *w, const void *arg)
{
	const zz_state_request *m = arg;

	wr_replica(w, m->replica);
	wr_u64(w, m->seq);
}

static void
read_state_request(zz_rd *r, void *arg)
{
	zz_state_request *m = arg;

	m->replica = rd_replica(r);
	m->seq = rd_u64(r);
}

static const zz_codec codec_state_request = {
	ZZ_MSG_STATE_REQUEST, sizeof(zz_state_request), write_state_request,
	read_state_request, offsetof(zz_state_request, sig), ZZ_SIG_LEN, NULL
};

CODEC_API(state_request)

/* STATE-REPLY: the state is bounded only by the message limit. */
static void
write_state_reply(zz_wr *w, const void *arg)
{
	const zz_state_reply *m = arg;

	wr_replica(w, m->replica);
	write_cp_proof(w, &m->cp);
	wr_bytes(w, m->state, m->state_len, ZZ_MAX_MSG_LEN);
}

static void
read_state_reply(zz_rd *r, void *arg)
{
	zz_state_reply *m = arg;

	m->replica = rd_replica(r);
	read_cp_proof(r, &m->cp);
	m->state = rd_bytes(r, ZZ_MAX_MSG_LEN, &m->state_len);
}

static const zz_codec codec_state_reply = {
	ZZ_MSG_STATE_REPLY, sizeof(zz_state_reply), write_state_reply,
	read_state_reply, 0, 0, NULL
};

CODEC_API(state_reply)


/* ---------------------------------------------------------------- */
/* Ownership                                                        */
/* ---------------------------------------------------------------- */

/*
 * zz_order_req_release
 *		Free a decoded ORDER-REQ's request array (not the struct).
 */
void
zz_order_req_release(zz_order_req *m)
{
	if (m == NULL)
		return;
	free(m->reqs);
	m->reqs = NULL;
}

/*
 * zz_view_change_release
 *		Free a decoded VIEW-CHANGE's entries and their requests.
 */
void
zz_view_change_release(zz_view_change *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; m->entries != NULL && i < m->n_entries; i++)
		zz_order_req_release(&m->entries[i]);
	free(m->entries);
	m->entries = NULL;
	m->n_entries = 0;
}

/*
 * zz_new_view_release
 *		Free a decoded NEW-VIEW's VIEW-CHANGEs and everything in them.
 */
void
zz_new_view_release(zz_new_view *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; m->vcs != NULL && i < m->n_vc; i++)
		zz_view_change_release(&m->vcs[i]);
	free(m->vcs);
	m->vcs = NULL;
	m->n_vc = 0;
}

/*
 * zz_order_req_clone
 *		Copy an ORDER-REQ into one allocation: the struct, its request
 *		array, then the requests' ops.
 *
 * For keeping an ORDER-REQ after the buffer it was decoded from goes away.
 * Free the copy with zz_order_req_free (never zz_order_req_release).
 * Returns NULL on allocation failure or if m breaks the limits.
 */
zz_order_req *
zz_order_req_clone(const zz_order_req *m)
{
	size_t		reqs_off;
	size_t		ops_off;
	size_t		total;
	uint32_t	count = m->hdr.count;
	zz_order_req *copy;
	uint8_t    *ops;

	if (count > ZZ_MAX_BATCH || (count > 0 && m->reqs == NULL))
		return NULL;
	reqs_off = sizeof(zz_order_req);
	reqs_off = (reqs_off + _Alignof(zz_request) - 1) & ~(_Alignof(zz_request) - 1);
	ops_off = reqs_off + (size_t) count * sizeof(zz_request);
	total = ops_off;
	for (uint32_t i = 0; i < count; i++)
	{
		if (m->reqs[i].op_len > ZZ_MAX_OP_LEN ||
			(m->reqs[i].op_len > 0 && m->reqs[i].op == NULL))
			return NULL;
		total += m->reqs[i].op_len;
	}

	copy = malloc(total);
	if (copy == NULL)
		return NULL;
	copy->hdr = m->hdr;
	copy->reqs = count > 0 ? (zz_request *) ((uint8_t *) copy + reqs_off) : NULL;
	ops = (uint8_t *) copy + ops_off;
	for (uint32_t i = 0; i < count; i++)
	{
		copy->reqs[i] = m->reqs[i];
		copy->reqs[i].op = ops;
		if (m->reqs[i].op_len > 0)
			memcpy(ops, m->reqs[i].op, m->reqs[i].op_len);
		ops += m->reqs[i].op_len;
	}
	return copy;
}

/* Free a clone: the one allocation zz_order_req_clone made. */
void
zz_order_req_free(zz_order_req *m)
{
	free(m);
}


/* ---------------------------------------------------------------- */
/* What signatures cover                                            */
/* ---------------------------------------------------------------- */

/*
 * Each zz_*_signing_bytes() writes a domain tag and then the signed
 * struct's fields before its signature, exactly as its message encodes
 * them: the codec's writer, without the type byte and the signature.
 */

void
zz_order_hdr_signing_bytes(zz_buf *b, const zz_order_hdr *h)
{
	signing(b, TAG_ORDER_HDR, sizeof(TAG_ORDER_HDR), &codec_order_hdr, h);
}

/* The signed core of a SPEC-RESPONSE, shared by a whole batch. */
typedef struct zz_response_core
{
	zz_view		view;
	zz_seq		seq;
	const zz_digest *history;
	const zz_digest *reply_root;
} zz_response_core;

/* (v, n, h_n, R): what a replica signs once per batch. */
static void
write_response_core(zz_wr *w, const void *arg)
{
	const zz_response_core *rc = arg;

	wr_u64(w, rc->view);
	wr_u64(w, rc->seq);
	wr_digest(w, rc->history);
	wr_digest(w, rc->reply_root);
}

static const zz_codec codec_response_core = {
	0, sizeof(zz_response_core), write_response_core, NULL, 0, 0, NULL
};

void
zz_response_core_signing_bytes(zz_buf *b, zz_view v, zz_seq n,
							   const zz_digest *h, const zz_digest *reply_root)
{
	zz_response_core rc = {v, n, h, reply_root};

	signing(b, TAG_RESPONSE_CORE, sizeof(TAG_RESPONSE_CORE),
			&codec_response_core, &rc);
}

void
zz_confirm_req_signing_bytes(zz_buf *b, const zz_confirm_req *m)
{
	signing(b, TAG_CONFIRM_REQ, sizeof(TAG_CONFIRM_REQ), &codec_confirm_req, m);
}

void
zz_fill_hole_signing_bytes(zz_buf *b, const zz_fill_hole *m)
{
	signing(b, TAG_FILL_HOLE, sizeof(TAG_FILL_HOLE), &codec_fill_hole, m);
}

void
zz_i_hate_signing_bytes(zz_buf *b, zz_view v, uint32_t replica)
{
	zz_i_hate	m;

	memset(&m, 0, sizeof(m));
	m.view = v;
	m.replica = replica;
	signing(b, TAG_I_HATE, sizeof(TAG_I_HATE), &codec_i_hate, &m);
}

void
zz_checkpoint_signing_bytes(zz_buf *b, zz_view v, zz_seq n, const zz_digest *h,
							const zz_digest *state, uint32_t replica)
{
	zz_checkpoint m;

	memset(&m, 0, sizeof(m));
	m.view = v;
	m.seq = n;
	m.history = *h;
	m.state = *state;
	m.replica = replica;
	signing(b, TAG_CHECKPOINT, sizeof(TAG_CHECKPOINT), &codec_checkpoint, &m);
}

void
zz_view_change_signing_bytes(zz_buf *b, const zz_view_change *m)
{
	signing(b, TAG_VIEW_CHANGE, sizeof(TAG_VIEW_CHANGE), &codec_view_change, m);
}

void
zz_new_view_signing_bytes(zz_buf *b, const zz_new_view *m)
{
	signing(b, TAG_NEW_VIEW, sizeof(TAG_NEW_VIEW), &codec_new_view, m);
}

void
zz_view_confirm_signing_bytes(zz_buf *b, const zz_view_confirm *m)
{
	signing(b, TAG_VIEW_CONFIRM, sizeof(TAG_VIEW_CONFIRM), &codec_view_confirm, m);
}

void
zz_state_request_signing_bytes(zz_buf *b, const zz_state_request *m)
{
	signing(b, TAG_STATE_REQUEST, sizeof(TAG_STATE_REQUEST),
			&codec_state_request, m);
}


/* ---------------------------------------------------------------- */
/* What MACs cover                                                  */
/* ---------------------------------------------------------------- */

/*
 * zz_request_digest
 *		SHA-256("zz-req\0" || client || timestamp || op_len || op): what a
 *		client's authenticator MACs.  The authenticator itself is left out.
 */
void
zz_request_digest(struct zz_crypto *c, const zz_request *r, zz_digest *out)
{
	uint8_t		fields[4 + 8 + 4];
	zz_wr		w = {fields, sizeof(fields), 0, false};
	zz_iov		iov[3];

	wr_u32(&w, r->client);
	wr_u64(&w, r->timestamp);
	wr_u32(&w, r->op_len);
	iov[0].base = TAG_REQUEST;
	iov[0].len = sizeof(TAG_REQUEST);
	iov[1].base = fields;
	iov[1].len = w.n;
	iov[2].base = r->op;
	iov[2].len = r->op != NULL ? r->op_len : 0;
	zz_hashv(c, iov, 3, out);
}

/*
 * zz_spec_response_mac_digest
 *		The digest a SPEC-RESPONSE's MAC covers: a tag, the fixed fields up to
 *		the reply (view, seq, h_n, R, replica, core signature, client,
 *		timestamp, index) and the reply.
 *
 * The Merkle path and the ORDER-REQ header are left out: each carries its
 * own proof (the path is checked against the signed R, the header against
 * the primary's signature) wherever it is used, and hashing them per
 * response doubled the cost of the request path.  A response that breaks
 * the limits gets an all-zero digest; it cannot be encoded anyway.
 */
void
zz_spec_response_mac_digest(struct zz_crypto *c, const zz_spec_response *m,
							zz_digest *out)
{
	uint8_t		head[SPEC_HEAD_LEN];
	zz_wr		wh = {head, sizeof(head), 0, false};
	zz_iov		iov[3];

	write_spec_head(&wh, m);
	if (wh.bad)
	{
		memset(out, 0, sizeof(*out));
		return;
	}
	iov[0].base = TAG_SPEC_RESPONSE;
	iov[0].len = sizeof(TAG_SPEC_RESPONSE);
	iov[1].base = head;
	iov[1].len = wh.n;
	iov[2].base = m->reply;
	iov[2].len = m->reply_len;
	zz_hashv(c, iov, 3, out);
}

/*
 * zz_local_commit_mac_digest
 *		The digest a LOCAL-COMMIT's MAC covers: a tag and every field but
 *		the MAC.
 */
void
zz_local_commit_mac_digest(struct zz_crypto *c, const zz_local_commit *m,
						   zz_digest *out)
{
	uint8_t		fields[LOCAL_COMMIT_LEN];
	zz_wr		w = {fields, sizeof(fields), 0, false};
	zz_iov		iov[2];

	write_local_commit(&w, m);
	if (w.bad)
	{
		memset(out, 0, sizeof(*out));
		return;
	}
	iov[0].base = TAG_LOCAL_COMMIT;
	iov[0].len = sizeof(TAG_LOCAL_COMMIT);
	iov[1].base = fields;
	iov[1].len = w.n;
	zz_hashv(c, iov, 2, out);
}
