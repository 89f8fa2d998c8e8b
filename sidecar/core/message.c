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
 * This file holds the codecs of the normal case (REQUEST, ORDER-REQ,
 * SPEC-RESPONSE, COMMIT, LOCAL-COMMIT, CONFIRM-REQ, FILL-HOLE, POM), what
 * their signatures and MACs cover, and the names and buffers every codec
 * uses; message_view.c the codecs of the view change and the checkpoints;
 * message_int.h the writer, reader and generic codec both are built from.
 */
#include "message_int.h"

/* Smallest encodings, for checking that counts can fit before allocating. */
#define REQUEST_MIN		(4 + 8 + 4 + 1)
#define CC_ENTRY_LEN	(4 + ZZ_DIGEST_LEN + ZZ_SIG_LEN)

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
void
zz_write_commit_cert(zz_wr *w, const zz_commit_cert *cc)
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

void
zz_read_commit_cert(zz_rd *r, zz_commit_cert *cc)
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

/* ---------------------------------------------------------------- */
/* Messages                                                         */
/* ---------------------------------------------------------------- */

/* REQUEST */
static const zz_codec codec_request = {
	ZZ_MSG_REQUEST, sizeof(zz_request), write_request, read_request, 0, 0, NULL
};

CODEC_API(request)

/* ORDER-REQ: the signed header, then hdr.count requests. */
void
zz_write_order_req(zz_wr *w, const void *arg)
{
	const zz_order_req *m = arg;

	write_whole(w, &codec_order_hdr, &m->hdr);
	if (!wr_require(w, m->hdr.count <= ZZ_MAX_BATCH &&
					(m->hdr.count == 0 || m->reqs != NULL)))
		return;
	for (uint32_t i = 0; i < m->hdr.count; i++)
		write_request(w, &m->reqs[i]);
}

void
zz_read_order_req(zz_rd *r, void *arg)
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
	ZZ_MSG_ORDER_REQ, sizeof(zz_order_req), zz_write_order_req, zz_read_order_req,
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
	zz_write_commit_cert(w, &m->cc);
}

static void
read_commit(zz_rd *r, void *arg)
{
	zz_commit  *m = arg;

	m->client = rd_u32(r);
	m->timestamp = rd_u64(r);
	zz_read_commit_cert(r, &m->cc);
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
