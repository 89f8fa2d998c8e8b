/*
 * message.h
 *	  Zyzzyva's messages (docs/protocol.md section 3) and their one canonical
 *	  binary encoding.
 *
 * Encoding: a message is one type byte followed by its fields in the order
 * the structs below list them.  Integers are little-endian and fixed width
 * (u8, u32, u64); digests, signatures and MACs are raw bytes; variable byte
 * strings are a u32 length then the bytes; arrays are a count (u8 for
 * per-replica arrays, u32 otherwise) then the elements.  Nothing is
 * optional except where a struct says so with an explicit presence byte
 * (0 or 1; any other value is malformed).
 *
 * Decoders take (buf, len) and either fill the struct and return ZZ_OK, or
 * return an error and leave nothing allocated.  They reject: truncation,
 * trailing bytes, unknown types, counts over the limits in types.h,
 * lengths that do not fit in the remaining input, replica ids >= ZZ_MAX_N,
 * and presence bytes other than 0 or 1.  Decoded structs point into the
 * input buffer for byte strings (op, reply): the buffer must outlive them.
 * Arrays of requests and embedded messages are allocated; release them
 * with the matching zz_*_release().
 *
 * Signatures and MACs are not part of what they sign: each signed object
 * has a zz_*_signing_bytes() that produces the domain-separated input to
 * zz_sign/zz_verify, independent of the message that carries it.
 */
#ifndef ZZ_MESSAGE_H
#define ZZ_MESSAGE_H

#include "crypto.h"
#include "types.h"

typedef enum zz_msg_type
{
	ZZ_MSG_REQUEST = 1,
	ZZ_MSG_ORDER_REQ = 2,
	ZZ_MSG_SPEC_RESPONSE = 3,
	ZZ_MSG_COMMIT = 4,
	ZZ_MSG_LOCAL_COMMIT = 5,
	ZZ_MSG_CONFIRM_REQ = 6,
	ZZ_MSG_FILL_HOLE = 7,
	ZZ_MSG_POM = 8,
	ZZ_MSG_I_HATE_THE_PRIMARY = 9,
	ZZ_MSG_VIEW_CHANGE = 10,
	ZZ_MSG_NEW_VIEW = 11,
	ZZ_MSG_VIEW_CONFIRM = 12,
	ZZ_MSG_CHECKPOINT = 13,
	ZZ_MSG_STATE_REQUEST = 14,
	ZZ_MSG_STATE_REPLY = 15,
	ZZ_MSG_TYPE_MAX = 15
} zz_msg_type;

typedef enum zz_err
{
	ZZ_OK = 0,
	ZZ_ERR_TRUNCATED,			/* input ends inside a field */
	ZZ_ERR_TRAILING,			/* bytes after the last field */
	ZZ_ERR_TYPE,				/* unknown or unexpected type byte */
	ZZ_ERR_LIMIT,				/* a count or length over its limit */
	ZZ_ERR_VALUE,				/* a field with an impossible value */
	ZZ_ERR_NOMEM
} zz_err;

extern const char *zz_err_str(zz_err e);
extern const char *zz_msg_type_name(int type);

/* Peek at the type byte; ZZ_ERR_TYPE if unknown, ZZ_ERR_TRUNCATED if empty. */
extern zz_err zz_msg_peek_type(const uint8_t *buf, size_t len, zz_msg_type *out);

/* ---- REQUEST: client -> primary (retransmissions -> all) ---- */
typedef struct zz_request
{
	uint32_t	client;
	uint64_t	timestamp;
	uint32_t	op_len;
	const uint8_t *op;
	uint8_t		n_auth;			/* MAC authenticator: one MAC per replica */
	zz_mac		auth[ZZ_MAX_N];
} zz_request;

/* ---- ORDER-REQ: primary -> backups ---- */
typedef struct zz_order_hdr
{
	zz_view		view;			/* view the primary issued it in */
	zz_seq		seq;			/* n */
	zz_digest	history;		/* h_n = H(h_{n-1} || n || d) */
	zz_digest	batch_digest;	/* d = H(batch) */
	uint64_t	nd_time;		/* nondeterministic choices: a timestamp ... */
	uint64_t	nd_seed;		/* ... and a random seed */
	uint32_t	count;			/* requests in the batch */
	zz_sig		sig;			/* by the primary of `view` */
} zz_order_hdr;

typedef struct zz_order_req
{
	zz_order_hdr hdr;
	zz_request *reqs;			/* hdr.count requests, allocated */
} zz_order_req;

/* ---- SPEC-RESPONSE: replica -> client ---- */
typedef struct zz_spec_response
{
	zz_view		view;
	zz_seq		seq;
	zz_digest	history;		/* h_n */
	zz_digest	reply_root;		/* R: Merkle root over the batch's reply leaves */
	uint32_t	replica;
	zz_sig		core_sig;		/* replica's sig over (view, seq, h_n, R) */
	uint32_t	client;
	uint64_t	timestamp;
	uint32_t	index;			/* position of this request in the batch */
	uint32_t	reply_len;
	const uint8_t *reply;
	uint8_t		path_len;		/* Merkle path from this leaf to R */
	zz_digest	path[ZZ_MAX_MERKLE_DEPTH];
	zz_order_hdr order;			/* the ORDER-REQ header it executed */
	zz_mac		mac;			/* replica -> client, over the fields above */
} zz_spec_response;

/* ---- commit certificate: 2f+1 matching signed response cores ---- */
typedef struct zz_cc_entry
{
	uint32_t	replica;
	zz_digest	reply_root;
	zz_sig		sig;
} zz_cc_entry;

typedef struct zz_commit_cert
{
	zz_view		view;
	zz_seq		seq;
	zz_digest	history;
	uint8_t		count;
	zz_cc_entry entries[ZZ_MAX_N];
} zz_commit_cert;

/* ---- COMMIT: client -> all replicas ---- */
typedef struct zz_commit
{
	uint32_t	client;
	uint64_t	timestamp;
	zz_commit_cert cc;
} zz_commit;

/* ---- LOCAL-COMMIT: replica -> client ---- */
typedef struct zz_local_commit
{
	zz_view		view;
	zz_seq		seq;
	zz_digest	history;
	uint32_t	replica;
	uint32_t	client;
	uint64_t	timestamp;
	zz_mac		mac;
} zz_local_commit;

/* ---- CONFIRM-REQ: backup -> primary, forwarding a retransmitted REQUEST ---- */
typedef struct zz_confirm_req
{
	zz_view		view;
	uint32_t	replica;
	zz_request	request;
	zz_sig		sig;
} zz_confirm_req;

/* ---- FILL-HOLE: replica -> primary, then -> all ---- */
typedef struct zz_fill_hole
{
	zz_view		view;
	uint32_t	replica;
	zz_seq		from_seq;		/* max_n + 1 */
	zz_seq		to_seq;			/* n */
	zz_sig		sig;
} zz_fill_hole;

/* ---- POM: proof of misbehaviour: two primary-signed headers, one (v, n) ---- */
typedef struct zz_pom
{
	zz_order_hdr a;
	zz_order_hdr b;
} zz_pom;

/* ---- I-HATE-THE-PRIMARY ---- */
typedef struct zz_i_hate
{
	zz_view		view;
	uint32_t	replica;
	zz_sig		sig;
} zz_i_hate;

/* ---- CHECKPOINT ---- */
typedef struct zz_checkpoint
{
	zz_view		view;			/* the voter's view: certificates are per view */
	zz_seq		seq;
	zz_digest	history;		/* h_n */
	zz_digest	state;			/* a: state digest after executing n */
	uint32_t	replica;
	zz_sig		sig;
} zz_checkpoint;

/* 2f+1 matching CHECKPOINT signatures: a stable checkpoint's proof. */
typedef struct zz_cp_proof
{
	zz_view		view;
	zz_seq		seq;
	zz_digest	history;
	zz_digest	state;
	uint8_t		count;
	uint32_t	replicas[ZZ_MAX_N];
	zz_sig		sigs[ZZ_MAX_N];
} zz_cp_proof;

/*
 * 2f+1 matching VIEW-CONFIRMs: the replicas that signed them adopted the
 * new history of view `view` up to seq, whose h is history, and entered
 * the view with it.  Evidence of that view, as strong as a commit
 * certificate of it (docs/protocol.md, "Evidence").
 */
typedef struct zz_view_cert
{
	zz_view		view;
	zz_seq		seq;
	zz_digest	history;
	uint8_t		count;			/* 0: none */
	uint32_t	replicas[ZZ_MAX_N];
	zz_sig		sigs[ZZ_MAX_N];
} zz_view_cert;

/* ---- VIEW-CHANGE ---- */

/*
 * A replica holds no ORDER-REQ beyond its stable checkpoint + 2 x
 * cp_interval (docs/protocol.md section 2), so no VIEW-CHANGE has more entries.
 */
#define ZZ_MAX_VC_ENTRIES	(2 * ZZ_MAX_CP_INTERVAL)

typedef struct zz_view_change
{
	zz_view		new_view;		/* v + 1 */
	uint32_t	replica;
	zz_cp_proof cp;				/* stable checkpoint (count 0: the genesis) */
	zz_cp_proof cert;			/* a higher certified checkpoint (count 0: none) */
	zz_view_cert entered;		/* how the sender entered its view (count 0: none) */
	uint8_t		has_cc;
	zz_commit_cert cc;			/* max CC by (view, seq), if has_cc */
	uint32_t	n_entries;
	zz_order_req *entries;		/* every ORDER-REQ after the checkpoint, allocated */
	uint8_t		n_hate;			/* f+1 I-HATE proofs for view new_view - 1 */
	uint32_t	hate_replicas[ZZ_MAX_N];
	zz_sig		hate_sigs[ZZ_MAX_N];
	zz_sig		sig;
} zz_view_change;

/* ---- NEW-VIEW ---- */
typedef struct zz_new_view
{
	zz_view		new_view;
	uint32_t	replica;		/* the new primary */
	uint8_t		n_vc;
	zz_view_change *vcs;		/* 2f+1 VIEW-CHANGE messages, allocated */
	zz_sig		sig;
} zz_new_view;

/* ---- VIEW-CONFIRM ---- */
typedef struct zz_view_confirm
{
	zz_view		view;
	zz_seq		seq;
	zz_digest	history;
	uint32_t	replica;
	zz_sig		sig;
} zz_view_confirm;

/* ---- STATE-REQUEST / STATE-REPLY: catch-up past truncated history ---- */
typedef struct zz_state_request
{
	uint32_t	replica;
	zz_seq		seq;			/* wants a stable checkpoint >= seq */
	zz_sig		sig;
} zz_state_request;

typedef struct zz_state_reply
{
	uint32_t	replica;
	zz_cp_proof cp;				/* the checkpoint the state belongs to */
	uint32_t	state_len;		/* service snapshot + client table, opaque */
	const uint8_t *state;
} zz_state_reply;

/*
 * Encoding.  zz_buf is a growable output buffer; encoders append to it and
 * return false on allocation failure, or if the struct breaks a rule the
 * decoder enforces (a count or length over its limit, a replica id >=
 * ZZ_MAX_N, a presence byte not 0 or 1, a NULL array with a nonzero count,
 * a result over ZZ_MAX_MSG_LEN).  On false nothing is appended.
 */
typedef struct zz_buf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} zz_buf;

extern void zz_buf_init(zz_buf *b);
extern void zz_buf_reset(zz_buf *b);	/* len = 0, keep memory */
extern void zz_buf_free(zz_buf *b);
extern bool zz_buf_reserve(zz_buf *b, size_t extra);
extern bool zz_buf_append(zz_buf *b, const void *p, size_t n);

extern bool zz_encode_request(zz_buf *b, const zz_request *m);
extern bool zz_encode_order_req(zz_buf *b, const zz_order_req *m);
extern bool zz_encode_spec_response(zz_buf *b, const zz_spec_response *m);
extern bool zz_encode_commit(zz_buf *b, const zz_commit *m);
extern bool zz_encode_local_commit(zz_buf *b, const zz_local_commit *m);
extern bool zz_encode_confirm_req(zz_buf *b, const zz_confirm_req *m);
extern bool zz_encode_fill_hole(zz_buf *b, const zz_fill_hole *m);
extern bool zz_encode_pom(zz_buf *b, const zz_pom *m);
extern bool zz_encode_i_hate(zz_buf *b, const zz_i_hate *m);
extern bool zz_encode_checkpoint(zz_buf *b, const zz_checkpoint *m);
extern bool zz_encode_view_change(zz_buf *b, const zz_view_change *m);
extern bool zz_encode_new_view(zz_buf *b, const zz_new_view *m);
extern bool zz_encode_view_confirm(zz_buf *b, const zz_view_confirm *m);
extern bool zz_encode_state_request(zz_buf *b, const zz_state_request *m);
extern bool zz_encode_state_reply(zz_buf *b, const zz_state_reply *m);

extern zz_err zz_decode_request(const uint8_t *buf, size_t len, zz_request *m);
extern zz_err zz_decode_order_req(const uint8_t *buf, size_t len, zz_order_req *m);
extern zz_err zz_decode_spec_response(const uint8_t *buf, size_t len, zz_spec_response *m);
extern zz_err zz_decode_commit(const uint8_t *buf, size_t len, zz_commit *m);
extern zz_err zz_decode_local_commit(const uint8_t *buf, size_t len, zz_local_commit *m);
extern zz_err zz_decode_confirm_req(const uint8_t *buf, size_t len, zz_confirm_req *m);
extern zz_err zz_decode_fill_hole(const uint8_t *buf, size_t len, zz_fill_hole *m);
extern zz_err zz_decode_pom(const uint8_t *buf, size_t len, zz_pom *m);
extern zz_err zz_decode_i_hate(const uint8_t *buf, size_t len, zz_i_hate *m);
extern zz_err zz_decode_checkpoint(const uint8_t *buf, size_t len, zz_checkpoint *m);
extern zz_err zz_decode_view_change(const uint8_t *buf, size_t len, zz_view_change *m);
extern zz_err zz_decode_new_view(const uint8_t *buf, size_t len, zz_new_view *m);
extern zz_err zz_decode_view_confirm(const uint8_t *buf, size_t len, zz_view_confirm *m);
extern zz_err zz_decode_state_request(const uint8_t *buf, size_t len, zz_state_request *m);
extern zz_err zz_decode_state_reply(const uint8_t *buf, size_t len, zz_state_reply *m);

extern void zz_order_req_release(zz_order_req *m);
extern void zz_view_change_release(zz_view_change *m);
extern void zz_new_view_release(zz_new_view *m);

/*
 * Deep copy of an ORDER-REQ whose ops point into a buffer that will go
 * away: the copy owns one allocation holding the requests and their ops.
 */
extern zz_order_req *zz_order_req_clone(const zz_order_req *m);
extern void zz_order_req_free(zz_order_req *m);	/* for clones */

/*
 * Signing inputs: domain tag + fixed-width fields.  Each writes into b
 * (reset first) the exact bytes to sign or verify.  If the struct breaks a
 * limit (as for the encoders) or memory runs out, b is left empty.
 */
extern void zz_order_hdr_signing_bytes(zz_buf *b, const zz_order_hdr *h);
extern void zz_response_core_signing_bytes(zz_buf *b, zz_view v, zz_seq n,
										   const zz_digest *h, const zz_digest *reply_root);
extern void zz_confirm_req_signing_bytes(zz_buf *b, const zz_confirm_req *m);
extern void zz_fill_hole_signing_bytes(zz_buf *b, const zz_fill_hole *m);
extern void zz_i_hate_signing_bytes(zz_buf *b, zz_view v, uint32_t replica);
extern void zz_checkpoint_signing_bytes(zz_buf *b, zz_view v, zz_seq n, const zz_digest *h,
										const zz_digest *state, uint32_t replica);
extern void zz_view_change_signing_bytes(zz_buf *b, const zz_view_change *m);
extern void zz_new_view_signing_bytes(zz_buf *b, const zz_new_view *m);
extern void zz_view_confirm_signing_bytes(zz_buf *b, const zz_view_confirm *m);
extern void zz_state_request_signing_bytes(zz_buf *b, const zz_state_request *m);

/*
 * Digests that MACs cover.  A request's digest covers (client, timestamp,
 * op) but not its authenticator.  A SPEC-RESPONSE's covers every field
 * up to and including the reply (not the Merkle path or the ORDER-REQ
 * header, which carry their own proofs); a LOCAL-COMMIT's every field but
 * the MAC.
 */
extern void zz_request_digest(struct zz_crypto *c, const zz_request *r, zz_digest *out);
extern void zz_spec_response_mac_digest(struct zz_crypto *c, const zz_spec_response *m,
										zz_digest *out);
extern void zz_local_commit_mac_digest(struct zz_crypto *c, const zz_local_commit *m,
									   zz_digest *out);

#endif							/* ZZ_MESSAGE_H */
