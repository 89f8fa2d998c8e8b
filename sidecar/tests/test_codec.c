/*
 * test_codec.c
 *	  The message codec (message.c): round trips, the exact layout, and
 *	  rejection of every kind of malformed input, plus a seeded mutation
 *	  loop (run it under ASan: make unit-test SANITIZE=1).
 *
 * Also the defaults in params.c, which have no other home.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto.h"
#include "message.h"
#include "service.h"

/* Offsets of fields the limit tests overwrite, from the layout in message.h. */
#define REQ_OPLEN_OFF		(1 + 4 + 8)
#define HDR_COUNT_OFF		(8 + 8 + 32 + 32 + 8 + 8)
#define HDR_LEN				(HDR_COUNT_OFF + 4 + ZZ_SIG_LEN)
#define SPEC_REPLICA_OFF	(1 + 8 + 8 + 32 + 32)
#define SPEC_INDEX_OFF		(SPEC_REPLICA_OFF + 4 + ZZ_SIG_LEN + 4 + 8)
#define SPEC_REPLYLEN_OFF	(SPEC_INDEX_OFF + 4)
#define CP_COUNT_OFF		(8 + 8 + 32 + 32)	/* view, seq, h, state */
#define VC_CP_OFF			(1 + 8 + 4)
#define VIEW_CERT_COUNT_OFF	(8 + 8 + 32)	/* view, seq, h */
#define TAG_LEN(s)			(sizeof(s))

/* ---- building valid messages ---- */

static const uint8_t op_a[] = "UPDATE accounts SET balance = balance - 10 WHERE id = 7";
static const uint8_t op_b[] = "SELECT 1";
static const uint8_t reply_a[] = "UPDATE 1";
static const uint8_t state_a[] = "snapshot bytes";

static void
fill(void *p, size_t n, uint8_t seed)
{
	uint8_t    *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t) (seed + 7 * i);
}

static void
make_request(zz_request *r, uint32_t client, uint8_t n_auth,
			 const uint8_t *op, uint32_t op_len)
{
	memset(r, 0, sizeof(*r));
	r->client = client;
	r->timestamp = 0x0102030405060708ull + client;
	r->op = op;
	r->op_len = op_len;
	r->n_auth = n_auth;
	for (int i = 0; i < n_auth; i++)
		fill(r->auth[i].b, ZZ_MAC_LEN, (uint8_t) (0x40 + i));
}

static void
make_order_hdr(zz_order_hdr *h, zz_view view, zz_seq seq, uint32_t count)
{
	memset(h, 0, sizeof(*h));
	h->view = view;
	h->seq = seq;
	fill(h->history.b, ZZ_DIGEST_LEN, (uint8_t) (seq + 1));
	fill(h->batch_digest.b, ZZ_DIGEST_LEN, (uint8_t) (seq + 2));
	h->nd_time = 1700000000000000ull + seq;
	h->nd_seed = 0xdeadbeefcafef00dull ^ seq;
	h->count = count;
	fill(h->sig.b, ZZ_SIG_LEN, (uint8_t) (view + 3));
}

static void
make_cc(zz_commit_cert *cc, uint8_t count)
{
	memset(cc, 0, sizeof(*cc));
	cc->view = 3;
	cc->seq = 77;
	fill(cc->history.b, ZZ_DIGEST_LEN, 9);
	cc->count = count;
	for (int i = 0; i < count; i++)
	{
		cc->entries[i].replica = (uint32_t) i;
		fill(cc->entries[i].reply_root.b, ZZ_DIGEST_LEN, 11);
		fill(cc->entries[i].sig.b, ZZ_SIG_LEN, (uint8_t) (20 + i));
	}
}

static void
make_cp(zz_cp_proof *cp, uint8_t count)
{
	memset(cp, 0, sizeof(*cp));
	cp->seq = 128;
	fill(cp->history.b, ZZ_DIGEST_LEN, 31);
	fill(cp->state.b, ZZ_DIGEST_LEN, 37);
	cp->count = count;
	for (int i = 0; i < count; i++)
	{
		cp->replicas[i] = (uint32_t) (count - i);
		fill(cp->sigs[i].b, ZZ_SIG_LEN, (uint8_t) (50 + i));
	}
}

/* Requests and entries that the view-change samples point at. */
static zz_request batch_reqs[3];
static zz_order_req vc_entries[3];
static zz_view_change nv_vcs[3];

static void
make_view_change(zz_view_change *vc, uint32_t replica, bool has_cc,
				 uint32_t n_entries, uint8_t n_hate)
{
	memset(vc, 0, sizeof(*vc));
	vc->new_view = 5;
	vc->replica = replica;
	make_cp(&vc->cp, 3);
	vc->has_cc = has_cc;
	if (has_cc)
	{
		make_cc(&vc->cc, 3);
		/* and the certificate of the view it entered */
		vc->entered.view = 4;
		vc->entered.seq = 2;
		fill(vc->entered.history.b, ZZ_DIGEST_LEN, 77);
		vc->entered.count = 3;
		for (int i = 0; i < 3; i++)
		{
			vc->entered.replicas[i] = (uint32_t) i;
			fill(vc->entered.sigs[i].b, ZZ_SIG_LEN, (uint8_t) (80 + i));
		}
	}
	vc->n_entries = n_entries;
	vc->entries = n_entries ? vc_entries : NULL;
	vc->n_hate = n_hate;
	for (int i = 0; i < n_hate; i++)
	{
		vc->hate_replicas[i] = (uint32_t) i + 1;
		fill(vc->hate_sigs[i].b, ZZ_SIG_LEN, (uint8_t) (90 + i));
	}
	fill(vc->sig.b, ZZ_SIG_LEN, (uint8_t) (100 + replica));
}

/* ---- decode + re-encode, one per type ---- */

typedef zz_err (*reencode_fn) (const uint8_t *buf, size_t len, zz_buf *out);

static void
no_release(void *m)
{
}

/*
 * Decode buf as one type and, if it decodes, encode the result into out.
 * A macro, so that each type's decoder, encoder and release are used
 * through their real signatures.
 */
#define DEFINE_REENCODE(kind, type, release) \
static zz_err \
reencode_##kind(const uint8_t *buf, size_t len, zz_buf *out) \
{ \
	type		m; \
	zz_err		e = zz_decode_##kind(buf, len, &m); \
	\
	if (e == ZZ_OK) \
	{ \
		if (!zz_encode_##kind(out, &m)) \
			e = ZZ_ERR_NOMEM; \
		release(&m); \
	} \
	return e; \
}

DEFINE_REENCODE(request, zz_request, no_release)
DEFINE_REENCODE(order_req, zz_order_req, zz_order_req_release)
DEFINE_REENCODE(spec_response, zz_spec_response, no_release)
DEFINE_REENCODE(commit, zz_commit, no_release)
DEFINE_REENCODE(local_commit, zz_local_commit, no_release)
DEFINE_REENCODE(confirm_req, zz_confirm_req, no_release)
DEFINE_REENCODE(fill_hole, zz_fill_hole, no_release)
DEFINE_REENCODE(pom, zz_pom, no_release)
DEFINE_REENCODE(i_hate, zz_i_hate, no_release)
DEFINE_REENCODE(checkpoint, zz_checkpoint, no_release)
DEFINE_REENCODE(view_change, zz_view_change, zz_view_change_release)
DEFINE_REENCODE(new_view, zz_new_view, zz_new_view_release)
DEFINE_REENCODE(view_confirm, zz_view_confirm, no_release)
DEFINE_REENCODE(state_request, zz_state_request, no_release)
DEFINE_REENCODE(state_reply, zz_state_reply, no_release)

static const reencode_fn reencoders[ZZ_MSG_TYPE_MAX + 1] = {
	[ZZ_MSG_REQUEST] = reencode_request,
	[ZZ_MSG_ORDER_REQ] = reencode_order_req,
	[ZZ_MSG_SPEC_RESPONSE] = reencode_spec_response,
	[ZZ_MSG_COMMIT] = reencode_commit,
	[ZZ_MSG_LOCAL_COMMIT] = reencode_local_commit,
	[ZZ_MSG_CONFIRM_REQ] = reencode_confirm_req,
	[ZZ_MSG_FILL_HOLE] = reencode_fill_hole,
	[ZZ_MSG_POM] = reencode_pom,
	[ZZ_MSG_I_HATE_THE_PRIMARY] = reencode_i_hate,
	[ZZ_MSG_VIEW_CHANGE] = reencode_view_change,
	[ZZ_MSG_NEW_VIEW] = reencode_new_view,
	[ZZ_MSG_VIEW_CONFIRM] = reencode_view_confirm,
	[ZZ_MSG_CHECKPOINT] = reencode_checkpoint,
	[ZZ_MSG_STATE_REQUEST] = reencode_state_request,
	[ZZ_MSG_STATE_REPLY] = reencode_state_reply,
};

/* ---- the samples: valid encodings of every type, with edge cases ---- */

#define MAX_SAMPLES 32

typedef struct sample
{
	const char *name;
	zz_msg_type type;
	zz_buf		enc;
} sample;

static sample samples[MAX_SAMPLES];
static int	n_samples;

static void
add_sample(const char *name, zz_msg_type type, bool encoded, zz_buf *b)
{
	assert_true(encoded);
	assert_true(n_samples < MAX_SAMPLES);
	samples[n_samples].name = name;
	samples[n_samples].type = type;
	samples[n_samples].enc = *b;
	n_samples++;
	zz_buf_init(b);
}

static const sample *
find_sample(const char *name)
{
	for (int i = 0; i < n_samples; i++)
		if (strcmp(samples[i].name, name) == 0)
			return &samples[i];
	fail_msg("no sample %s", name);
	return NULL;
}

/* A malloc'd copy of exactly len bytes, so ASan sees any over-read. */
static uint8_t *
exact_copy(const uint8_t *p, size_t len)
{
	uint8_t    *c = malloc(len ? len : 1);

	assert_non_null(c);
	if (len)
		memcpy(c, p, len);
	return c;
}

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static void
build_request_samples(zz_buf *b)
{
	zz_request	r;
	zz_confirm_req cr;

	make_request(&r, 42, 4, op_a, sizeof(op_a));
	add_sample("request", ZZ_MSG_REQUEST, zz_encode_request(b, &r), b);
	make_request(&r, 0, 0, NULL, 0);
	add_sample("request-empty", ZZ_MSG_REQUEST, zz_encode_request(b, &r), b);
	make_request(&r, 7, ZZ_MAX_N, op_b, sizeof(op_b));
	add_sample("request-max-auth", ZZ_MSG_REQUEST, zz_encode_request(b, &r), b);

	memset(&cr, 0, sizeof(cr));
	cr.view = 4;
	cr.replica = 2;
	make_request(&cr.request, 9, 4, op_b, sizeof(op_b));
	fill(cr.sig.b, ZZ_SIG_LEN, 3);
	add_sample("confirm-req", ZZ_MSG_CONFIRM_REQ, zz_encode_confirm_req(b, &cr), b);
}

static void
build_order_samples(zz_buf *b)
{
	zz_order_req o;
	zz_pom		pom;
	zz_spec_response sr;

	make_request(&batch_reqs[0], 1, 4, op_a, sizeof(op_a));
	make_request(&batch_reqs[1], 2, 0, NULL, 0);
	make_request(&batch_reqs[2], 3, 4, op_b, sizeof(op_b));
	make_order_hdr(&o.hdr, 1, 10, 3);
	o.reqs = batch_reqs;
	add_sample("order-req", ZZ_MSG_ORDER_REQ, zz_encode_order_req(b, &o), b);
	make_order_hdr(&o.hdr, 1, 11, 0);
	o.reqs = NULL;
	add_sample("order-req-empty", ZZ_MSG_ORDER_REQ, zz_encode_order_req(b, &o), b);

	make_order_hdr(&pom.a, 2, 12, 5);
	make_order_hdr(&pom.b, 2, 12, 6);
	add_sample("pom", ZZ_MSG_POM, zz_encode_pom(b, &pom), b);

	memset(&sr, 0, sizeof(sr));
	sr.view = 1;
	sr.seq = 10;
	fill(sr.history.b, ZZ_DIGEST_LEN, 1);
	fill(sr.reply_root.b, ZZ_DIGEST_LEN, 2);
	sr.replica = 3;
	fill(sr.core_sig.b, ZZ_SIG_LEN, 4);
	sr.client = 42;
	sr.timestamp = 99;
	sr.index = 2;
	sr.reply = reply_a;
	sr.reply_len = sizeof(reply_a);
	sr.path_len = 2;
	fill(sr.path, sizeof(sr.path[0]) * 2, 5);
	make_order_hdr(&sr.order, 1, 10, 3);
	fill(sr.mac.b, ZZ_MAC_LEN, 6);
	add_sample("spec-response", ZZ_MSG_SPEC_RESPONSE, zz_encode_spec_response(b, &sr), b);
	sr.reply = NULL;
	sr.reply_len = 0;
	sr.path_len = ZZ_MAX_MERKLE_DEPTH;
	fill(sr.path, sizeof(sr.path), 8);
	add_sample("spec-response-full-path", ZZ_MSG_SPEC_RESPONSE,
			   zz_encode_spec_response(b, &sr), b);
}

static void
build_small_samples(zz_buf *b)
{
	zz_commit	cm;
	zz_local_commit lc;
	zz_fill_hole fh;
	zz_i_hate	ih;
	zz_checkpoint cp;
	zz_view_confirm vcf;
	zz_state_request sq;
	zz_state_reply sp;

	memset(&cm, 0, sizeof(cm));
	cm.client = 42;
	cm.timestamp = 1234;
	make_cc(&cm.cc, 3);
	add_sample("commit", ZZ_MSG_COMMIT, zz_encode_commit(b, &cm), b);
	make_cc(&cm.cc, 0);
	add_sample("commit-empty-cc", ZZ_MSG_COMMIT, zz_encode_commit(b, &cm), b);

	memset(&lc, 0, sizeof(lc));
	lc.view = 2;
	lc.seq = 17;
	fill(lc.history.b, ZZ_DIGEST_LEN, 12);
	lc.replica = 1;
	lc.client = 42;
	lc.timestamp = 1234;
	fill(lc.mac.b, ZZ_MAC_LEN, 13);
	add_sample("local-commit", ZZ_MSG_LOCAL_COMMIT, zz_encode_local_commit(b, &lc), b);

	memset(&fh, 0, sizeof(fh));
	fh.view = 2;
	fh.replica = 3;
	fh.from_seq = 5;
	fh.to_seq = 9;
	fill(fh.sig.b, ZZ_SIG_LEN, 14);
	add_sample("fill-hole", ZZ_MSG_FILL_HOLE, zz_encode_fill_hole(b, &fh), b);

	memset(&ih, 0, sizeof(ih));
	ih.view = 2;
	ih.replica = ZZ_MAX_N - 1;
	fill(ih.sig.b, ZZ_SIG_LEN, 15);
	add_sample("i-hate", ZZ_MSG_I_HATE_THE_PRIMARY, zz_encode_i_hate(b, &ih), b);

	memset(&cp, 0, sizeof(cp));
	cp.seq = 256;
	fill(cp.history.b, ZZ_DIGEST_LEN, 16);
	fill(cp.state.b, ZZ_DIGEST_LEN, 17);
	cp.replica = 2;
	fill(cp.sig.b, ZZ_SIG_LEN, 18);
	add_sample("checkpoint", ZZ_MSG_CHECKPOINT, zz_encode_checkpoint(b, &cp), b);

	memset(&vcf, 0, sizeof(vcf));
	vcf.view = 6;
	vcf.seq = 300;
	fill(vcf.history.b, ZZ_DIGEST_LEN, 19);
	vcf.replica = 0;
	fill(vcf.sig.b, ZZ_SIG_LEN, 20);
	add_sample("view-confirm", ZZ_MSG_VIEW_CONFIRM, zz_encode_view_confirm(b, &vcf), b);

	memset(&sq, 0, sizeof(sq));
	sq.replica = 1;
	sq.seq = 512;
	fill(sq.sig.b, ZZ_SIG_LEN, 21);
	add_sample("state-request", ZZ_MSG_STATE_REQUEST, zz_encode_state_request(b, &sq), b);

	memset(&sp, 0, sizeof(sp));
	sp.replica = 2;
	make_cp(&sp.cp, 3);
	sp.state = state_a;
	sp.state_len = sizeof(state_a);
	add_sample("state-reply", ZZ_MSG_STATE_REPLY, zz_encode_state_reply(b, &sp), b);
}

static void
build_view_change_samples(zz_buf *b)
{
	zz_new_view nv;
	zz_view_change vc;

	make_order_hdr(&vc_entries[0].hdr, 1, 10, 3);
	vc_entries[0].reqs = batch_reqs;
	make_order_hdr(&vc_entries[1].hdr, 1, 11, 0);
	vc_entries[1].reqs = NULL;
	make_order_hdr(&vc_entries[2].hdr, 2, 12, 1);
	vc_entries[2].reqs = &batch_reqs[1];

	make_view_change(&vc, 1, true, 3, 2);
	add_sample("view-change", ZZ_MSG_VIEW_CHANGE, zz_encode_view_change(b, &vc), b);
	make_view_change(&vc, 2, false, 0, 0);
	make_cp(&vc.cp, 0);
	add_sample("view-change-genesis", ZZ_MSG_VIEW_CHANGE,
			   zz_encode_view_change(b, &vc), b);

	make_view_change(&nv_vcs[0], 0, true, 3, 2);
	make_view_change(&nv_vcs[1], 1, false, 1, 2);
	make_view_change(&nv_vcs[2], 3, false, 0, 0);
	memset(&nv, 0, sizeof(nv));
	nv.new_view = 5;
	nv.replica = 1;
	nv.n_vc = 3;
	nv.vcs = nv_vcs;
	fill(nv.sig.b, ZZ_SIG_LEN, 77);
	add_sample("new-view", ZZ_MSG_NEW_VIEW, zz_encode_new_view(b, &nv), b);
	nv.n_vc = 0;
	nv.vcs = NULL;
	add_sample("new-view-empty", ZZ_MSG_NEW_VIEW, zz_encode_new_view(b, &nv), b);
}

static int
group_setup(void **state)
{
	zz_buf		b;

	zz_buf_init(&b);
	build_request_samples(&b);
	build_order_samples(&b);
	build_small_samples(&b);
	build_view_change_samples(&b);
	return 0;
}

static int
group_teardown(void **state)
{
	for (int i = 0; i < n_samples; i++)
		zz_buf_free(&samples[i].enc);
	n_samples = 0;
	return 0;
}

/* Decode a whole sample (or a variant of it) as its own type. */
static zz_err
reencode(const sample *s, const uint8_t *buf, size_t len, zz_buf *out)
{
	uint8_t    *copy = exact_copy(buf, len);
	zz_err		e;

	zz_buf_reset(out);
	e = reencoders[s->type](copy, len, out);
	free(copy);
	return e;
}

/* Overwrite a u32 at off in a copy of a sample and decode it. */
static zz_err
decode_with_u32(const char *name, size_t off, uint32_t v)
{
	const sample *s = find_sample(name);
	uint8_t    *copy = exact_copy(s->enc.data, s->enc.len);
	zz_buf		out;
	zz_err		e;

	assert_true(off + 4 <= s->enc.len);
	put32(copy + off, v);
	zz_buf_init(&out);
	e = reencoders[s->type](copy, s->enc.len, &out);
	zz_buf_free(&out);
	free(copy);
	return e;
}

/* Overwrite a byte at off in a copy of a sample and decode it. */
static zz_err
decode_with_u8(const char *name, size_t off, uint8_t v)
{
	const sample *s = find_sample(name);
	uint8_t    *copy = exact_copy(s->enc.data, s->enc.len);
	zz_buf		out;
	zz_err		e;

	assert_true(off < s->enc.len);
	copy[off] = v;
	zz_buf_init(&out);
	e = reencoders[s->type](copy, s->enc.len, &out);
	zz_buf_free(&out);
	free(copy);
	return e;
}

/* ---- tests ---- */

/* Every type has a sample, and each decodes and re-encodes byte for byte. */
static void
test_roundtrip_all_types(void **state)
{
	bool		seen[ZZ_MSG_TYPE_MAX + 1] = {false};
	zz_buf		out;

	zz_buf_init(&out);
	for (int i = 0; i < n_samples; i++)
	{
		const sample *s = &samples[i];
		zz_msg_type t;

		assert_int_equal(zz_msg_peek_type(s->enc.data, s->enc.len, &t), ZZ_OK);
		assert_int_equal(t, s->type);
		assert_int_equal(reencode(s, s->enc.data, s->enc.len, &out), ZZ_OK);
		assert_int_equal(out.len, s->enc.len);
		assert_memory_equal(out.data, s->enc.data, s->enc.len);
		seen[s->type] = true;
	}
	for (int t = ZZ_MSG_REQUEST; t <= ZZ_MSG_TYPE_MAX; t++)
		assert_true(seen[t]);
	zz_buf_free(&out);
}

/* The exact bytes of two messages: type, little-endian fields, arrays. */
static void
test_golden_layout(void **state)
{
	zz_request	r;
	zz_i_hate	ih;
	zz_buf		b;
	uint8_t		expect[1 + 4 + 8 + 4 + 2 + 1 + ZZ_MAC_LEN];

	make_request(&r, 1, 1, (const uint8_t *) "ab", 2);
	r.timestamp = 0x1122334455667788ull;
	memset(r.auth[0].b, 0x5a, ZZ_MAC_LEN);
	memset(expect, 0, sizeof(expect));
	expect[0] = ZZ_MSG_REQUEST;
	expect[1] = 1;
	for (int i = 0; i < 8; i++)
		expect[5 + i] = (uint8_t) (0x88 - 0x11 * i);
	expect[13] = 2;
	expect[17] = 'a';
	expect[18] = 'b';
	expect[19] = 1;
	memset(expect + 20, 0x5a, ZZ_MAC_LEN);
	zz_buf_init(&b);
	assert_true(zz_encode_request(&b, &r));
	assert_int_equal(b.len, sizeof(expect));
	assert_memory_equal(b.data, expect, sizeof(expect));

	/* Encoders append. */
	memset(&ih, 0, sizeof(ih));
	ih.view = 0x0102030405060708ull;
	ih.replica = 3;
	memset(ih.sig.b, 0xaa, ZZ_SIG_LEN);
	assert_true(zz_encode_i_hate(&b, &ih));
	assert_int_equal(b.len, sizeof(expect) + 1 + 8 + 4 + ZZ_SIG_LEN);
	assert_int_equal(b.data[sizeof(expect)], ZZ_MSG_I_HATE_THE_PRIMARY);
	assert_int_equal(b.data[sizeof(expect) + 1], 0x08);
	assert_int_equal(b.data[sizeof(expect) + 8], 0x01);
	assert_int_equal(b.data[sizeof(expect) + 9], 3);
	assert_int_equal(b.data[b.len - 1], 0xaa);
	zz_buf_free(&b);
}

/* Decoded fields equal what was encoded, and byte strings point into the input. */
static void
test_decoded_fields(void **state)
{
	const sample *s = find_sample("order-req");
	zz_order_req o;
	const sample *sv = find_sample("new-view");
	zz_new_view nv;

	assert_int_equal(zz_decode_order_req(s->enc.data, s->enc.len, &o), ZZ_OK);
	assert_int_equal(o.hdr.seq, 10);
	assert_int_equal(o.hdr.count, 3);
	assert_int_equal(o.reqs[0].client, 1);
	assert_int_equal(o.reqs[0].op_len, sizeof(op_a));
	assert_memory_equal(o.reqs[0].op, op_a, sizeof(op_a));
	assert_true(o.reqs[0].op > s->enc.data && o.reqs[0].op < s->enc.data + s->enc.len);
	assert_int_equal(o.reqs[1].op_len, 0);
	assert_int_equal(o.reqs[2].n_auth, 4);
	assert_memory_equal(o.reqs[2].auth, batch_reqs[2].auth, 4 * ZZ_MAC_LEN);
	zz_order_req_release(&o);
	assert_null(o.reqs);

	assert_int_equal(zz_decode_new_view(sv->enc.data, sv->enc.len, &nv), ZZ_OK);
	assert_int_equal(nv.n_vc, 3);
	assert_int_equal(nv.vcs[0].n_entries, 3);
	assert_true(nv.vcs[0].has_cc);
	assert_int_equal(nv.vcs[0].cc.count, 3);
	assert_int_equal(nv.vcs[0].entries[0].reqs[2].client, 3);
	assert_false(nv.vcs[1].has_cc);
	assert_int_equal(nv.vcs[1].cp.replicas[0], 3);
	assert_int_equal(nv.vcs[2].replica, 3);
	assert_memory_equal(nv.vcs[2].sig.b, nv_vcs[2].sig.b, ZZ_SIG_LEN);
	zz_new_view_release(&nv);
	assert_null(nv.vcs);
}

/* Every strict prefix of every valid encoding is truncated. */
static void
test_every_prefix_truncated(void **state)
{
	zz_buf		out;

	zz_buf_init(&out);
	for (int i = 0; i < n_samples; i++)
	{
		const sample *s = &samples[i];

		for (size_t len = 0; len < s->enc.len; len++)
		{
			zz_err		e = reencode(s, s->enc.data, len, &out);

			if (e != ZZ_ERR_TRUNCATED)
				fail_msg("%s: prefix of %zu/%zu bytes gave %s", s->name, len,
						 s->enc.len, zz_err_str(e));
		}
	}
	zz_buf_free(&out);
}

/* One byte too many is trailing garbage, whatever its value. */
static void
test_trailing_byte(void **state)
{
	zz_buf		out;

	zz_buf_init(&out);
	for (int i = 0; i < n_samples; i++)
	{
		const sample *s = &samples[i];
		uint8_t    *longer = exact_copy(s->enc.data, s->enc.len + 1);

		memcpy(longer, s->enc.data, s->enc.len);
		longer[s->enc.len] = 0;
		assert_int_equal(reencode(s, longer, s->enc.len + 1, &out), ZZ_ERR_TRAILING);
		free(longer);
	}
	zz_buf_free(&out);
}

/* Unknown type bytes, and known ones given to another type's decoder. */
static void
test_wrong_type(void **state)
{
	const uint8_t bad_types[] = {0, ZZ_MSG_TYPE_MAX + 1, 0x80, 0xff};
	zz_msg_type t;

	for (int i = 0; i < n_samples; i++)
	{
		const sample *s = &samples[i];

		for (size_t k = 0; k < sizeof(bad_types); k++)
		{
			assert_int_equal(decode_with_u8(s->name, 0, bad_types[k]), ZZ_ERR_TYPE);
			assert_int_equal(zz_msg_peek_type(&bad_types[k], 1, &t), ZZ_ERR_TYPE);
		}
		for (int other = ZZ_MSG_REQUEST; other <= ZZ_MSG_TYPE_MAX; other++)
			if (other != (int) s->type)
				assert_int_equal(decode_with_u8(s->name, 0, (uint8_t) other),
								 ZZ_ERR_TYPE);
	}
	assert_int_equal(zz_msg_peek_type(NULL, 0, &t), ZZ_ERR_TRUNCATED);
}

/* Counts and lengths over their limits are rejected as limits. */
static void
test_limits(void **state)
{
	const sample *vc = find_sample("view-change-genesis");
	/* The stable checkpoint and the certificate, both empty here. */
	size_t		vc_entered_off = VC_CP_OFF + 2 * (CP_COUNT_OFF + 1);
	size_t		vc_after_cp = vc_entered_off + VIEW_CERT_COUNT_OFF + 1;
	size_t		spec_path_off = SPEC_REPLYLEN_OFF + 4 + sizeof(reply_a);
	uint8_t    *huge;
	zz_request	r;

	/* n_auth = 200, just after the op. */
	assert_int_equal(decode_with_u8("request", REQ_OPLEN_OFF + 4 + sizeof(op_a), 200),
					 ZZ_ERR_LIMIT);
	assert_int_equal(decode_with_u8("request-empty", REQ_OPLEN_OFF + 4, ZZ_MAX_N + 1),
					 ZZ_ERR_LIMIT);
	/* op_len 0xffffffff, and just over ZZ_MAX_OP_LEN. */
	assert_int_equal(decode_with_u32("request", REQ_OPLEN_OFF, 0xffffffffu), ZZ_ERR_LIMIT);
	assert_int_equal(decode_with_u32("request", REQ_OPLEN_OFF, ZZ_MAX_OP_LEN + 1),
					 ZZ_ERR_LIMIT);
	/* ... but one at the limit that is not there is truncation. */
	assert_int_equal(decode_with_u32("request", REQ_OPLEN_OFF, ZZ_MAX_OP_LEN),
					 ZZ_ERR_TRUNCATED);
	/* Batch count ZZ_MAX_BATCH + 1, in an ORDER-REQ and in a POM header. */
	assert_int_equal(decode_with_u32("order-req", 1 + HDR_COUNT_OFF, ZZ_MAX_BATCH + 1),
					 ZZ_ERR_LIMIT);
	assert_int_equal(decode_with_u32("order-req", 1 + HDR_COUNT_OFF, 0xffffffffu),
					 ZZ_ERR_LIMIT);
	assert_int_equal(decode_with_u32("pom", 1 + HDR_LEN + HDR_COUNT_OFF, ZZ_MAX_BATCH + 1),
					 ZZ_ERR_LIMIT);
	/* A count within the limit whose requests cannot fit: before allocating. */
	assert_int_equal(decode_with_u32("order-req-empty", 1 + HDR_COUNT_OFF, ZZ_MAX_BATCH),
					 ZZ_ERR_TRUNCATED);
	/* path_len 99 and ZZ_MAX_MERKLE_DEPTH + 1. */
	assert_int_equal(decode_with_u8("spec-response", spec_path_off, 99), ZZ_ERR_LIMIT);
	assert_int_equal(decode_with_u8("spec-response", spec_path_off,
									ZZ_MAX_MERKLE_DEPTH + 1), ZZ_ERR_LIMIT);
	/* reply_len over ZZ_MAX_REPLY_LEN. */
	assert_int_equal(decode_with_u32("spec-response", SPEC_REPLYLEN_OFF,
									 ZZ_MAX_REPLY_LEN + 1), ZZ_ERR_LIMIT);
	/* Per-replica counts: commit certificate, checkpoint proof, NEW-VIEW. */
	assert_int_equal(decode_with_u8("commit", 1 + 4 + 8 + 8 + 8 + 32, ZZ_MAX_N + 1),
					 ZZ_ERR_LIMIT);
	assert_int_equal(decode_with_u8("state-reply", 1 + 4 + CP_COUNT_OFF, 200),
					 ZZ_ERR_LIMIT);
	assert_int_equal(decode_with_u8("new-view-empty", 1 + 8 + 4, ZZ_MAX_N + 1),
					 ZZ_ERR_LIMIT);
	assert_int_equal(decode_with_u8("new-view-empty", 1 + 8 + 4, 3), ZZ_ERR_TRUNCATED);
	/* VIEW-CHANGE: entries over ZZ_MAX_VC_ENTRIES, then hate proofs. */
	assert_int_equal(decode_with_u32(vc->name, vc_after_cp + 1, ZZ_MAX_VC_ENTRIES + 1),
					 ZZ_ERR_LIMIT);
	assert_int_equal(decode_with_u32(vc->name, vc_after_cp + 1, 0xffffffffu),
					 ZZ_ERR_LIMIT);
	assert_int_equal(decode_with_u8(vc->name, vc_after_cp + 1 + 4, ZZ_MAX_N + 1),
					 ZZ_ERR_LIMIT);
	/* The entered view's certificate: 2f+1 signers at most ZZ_MAX_N. */
	assert_int_equal(decode_with_u8(vc->name, vc_entered_off + VIEW_CERT_COUNT_OFF,
									ZZ_MAX_N + 1), ZZ_ERR_LIMIT);
	/* STATE-REPLY's state: over the message limit, or just not there. */
	assert_int_equal(decode_with_u32("state-reply", find_sample("state-reply")->enc.len -
									 sizeof(state_a) - 4, ZZ_MAX_MSG_LEN + 1),
					 ZZ_ERR_LIMIT);
	assert_int_equal(decode_with_u32("state-reply", find_sample("state-reply")->enc.len -
									 sizeof(state_a) - 4, sizeof(state_a) + 1),
					 ZZ_ERR_TRUNCATED);

	/* A whole message over ZZ_MAX_MSG_LEN, whatever it holds. */
	huge = calloc(1, (size_t) ZZ_MAX_MSG_LEN + 1);
	assert_non_null(huge);
	huge[0] = ZZ_MSG_REQUEST;
	assert_int_equal(zz_decode_request(huge, (size_t) ZZ_MAX_MSG_LEN + 1, &r),
					 ZZ_ERR_LIMIT);
	free(huge);
}

/* Presence bytes other than 0/1, replica ids >= ZZ_MAX_N, impossible indexes. */
static void
test_values(void **state)
{
	const sample *vc = find_sample("view-change-genesis");
	size_t		has_cc_off = VC_CP_OFF + 2 * (CP_COUNT_OFF + 1) + VIEW_CERT_COUNT_OFF + 1;

	assert_int_equal(decode_with_u8(vc->name, has_cc_off, 2), ZZ_ERR_VALUE);
	assert_int_equal(decode_with_u8(vc->name, has_cc_off, 0xff), ZZ_ERR_VALUE);
	/* has_cc = 1 with no certificate there: what follows cannot be one. */
	assert_int_not_equal(decode_with_u8(vc->name, has_cc_off, 1), ZZ_OK);

	assert_int_equal(decode_with_u32("i-hate", 1 + 8, ZZ_MAX_N), ZZ_ERR_VALUE);
	assert_int_equal(decode_with_u32("i-hate", 1 + 8, 0xffffffffu), ZZ_ERR_VALUE);
	assert_int_equal(decode_with_u32("i-hate", 1 + 8, ZZ_MAX_N - 1), ZZ_OK);
	assert_int_equal(decode_with_u32("spec-response", SPEC_REPLICA_OFF, ZZ_MAX_N),
					 ZZ_ERR_VALUE);
	assert_int_equal(decode_with_u32("commit", 1 + 4 + 8 + 8 + 8 + 32 + 1, ZZ_MAX_N),
					 ZZ_ERR_VALUE);
	assert_int_equal(decode_with_u32("state-reply", 1 + 4 + CP_COUNT_OFF + 1, 99),
					 ZZ_ERR_VALUE);
	assert_int_equal(decode_with_u32(vc->name, 1 + 8, ZZ_MAX_N), ZZ_ERR_VALUE);
	assert_int_equal(decode_with_u32("state-request", 1, 16), ZZ_ERR_VALUE);
	assert_int_equal(decode_with_u32("spec-response", SPEC_INDEX_OFF, ZZ_MAX_BATCH),
					 ZZ_ERR_VALUE);
	assert_int_equal(decode_with_u32("spec-response", SPEC_INDEX_OFF, ZZ_MAX_BATCH - 1),
					 ZZ_OK);
}

/* Encoders refuse structs the decoders would reject, and append nothing. */
static void
test_encoder_refuses_invalid(void **state)
{
	zz_buf		b;
	zz_request	r;
	zz_order_req o;
	zz_view_change vc;
	zz_spec_response sr;
	zz_i_hate	ih;

	zz_buf_init(&b);
	assert_true(zz_buf_append(&b, "x", 1));

	make_request(&r, 1, 4, op_a, sizeof(op_a));
	r.n_auth = ZZ_MAX_N + 1;
	assert_false(zz_encode_request(&b, &r));
	r.n_auth = 4;
	r.op_len = ZZ_MAX_OP_LEN + 1;
	assert_false(zz_encode_request(&b, &r));
	r.op_len = 5;
	r.op = NULL;
	assert_false(zz_encode_request(&b, &r));

	make_order_hdr(&o.hdr, 1, 1, ZZ_MAX_BATCH + 1);
	o.reqs = batch_reqs;
	assert_false(zz_encode_order_req(&b, &o));
	o.hdr.count = 2;
	o.reqs = NULL;
	assert_false(zz_encode_order_req(&b, &o));

	make_view_change(&vc, 1, false, 0, 0);
	vc.has_cc = 2;
	assert_false(zz_encode_view_change(&b, &vc));
	vc.has_cc = 0;
	vc.replica = ZZ_MAX_N;
	assert_false(zz_encode_view_change(&b, &vc));

	memset(&sr, 0, sizeof(sr));
	sr.path_len = ZZ_MAX_MERKLE_DEPTH + 1;
	assert_false(zz_encode_spec_response(&b, &sr));

	memset(&ih, 0, sizeof(ih));
	ih.replica = ZZ_MAX_N;
	assert_false(zz_encode_i_hate(&b, &ih));

	assert_int_equal(b.len, 1);
	zz_buf_free(&b);
}

/* A clone owns its ops: it survives the buffer it was decoded from. */
static void
test_order_req_clone(void **state)
{
	const sample *s = find_sample("order-req");
	uint8_t    *copy = exact_copy(s->enc.data, s->enc.len);
	zz_order_req o;
	zz_order_req *c;
	zz_buf		b;

	assert_int_equal(zz_decode_order_req(copy, s->enc.len, &o), ZZ_OK);
	c = zz_order_req_clone(&o);
	assert_non_null(c);
	zz_order_req_release(&o);
	memset(copy, 0xee, s->enc.len);
	free(copy);

	assert_int_equal(c->hdr.count, 3);
	assert_memory_equal(c->reqs[0].op, op_a, sizeof(op_a));
	assert_memory_equal(c->reqs[2].op, op_b, sizeof(op_b));
	zz_buf_init(&b);
	assert_true(zz_encode_order_req(&b, c));
	assert_int_equal(b.len, s->enc.len);
	assert_memory_equal(b.data, s->enc.data, s->enc.len);
	zz_buf_free(&b);
	zz_order_req_free(c);
}

/*
 * Signing bytes: a domain tag, then the message's own fields without the
 * signature; the signature never changes them, every other field does.
 */
static void
test_signing_bytes(void **state)
{
	const sample *svc = find_sample("view-change");
	const sample *snv = find_sample("new-view");
	const char	vc_tag[] = "zz-view-change";
	const char	nv_tag[] = "zz-new-view";
	const char	hdr_tag[] = "zz-order-hdr";
	zz_view_change vc;
	zz_new_view nv;
	zz_order_hdr h;
	zz_view_confirm vcf;
	zz_buf		b1;
	zz_buf		b2;
	zz_digest	d1;
	zz_digest	d2;

	zz_buf_init(&b1);
	zz_buf_init(&b2);

	assert_int_equal(zz_decode_view_change(svc->enc.data, svc->enc.len, &vc), ZZ_OK);
	zz_view_change_signing_bytes(&b1, &vc);
	assert_int_equal(b1.len, TAG_LEN(vc_tag) + svc->enc.len - 1 - ZZ_SIG_LEN);
	assert_memory_equal(b1.data, vc_tag, TAG_LEN(vc_tag));
	assert_memory_equal(b1.data + TAG_LEN(vc_tag), svc->enc.data + 1,
						svc->enc.len - 1 - ZZ_SIG_LEN);
	vc.sig.b[0] ^= 1;
	zz_view_change_signing_bytes(&b2, &vc);
	assert_int_equal(b2.len, b1.len);
	assert_memory_equal(b1.data, b2.data, b1.len);
	vc.entries[0].reqs[0].timestamp++;
	zz_view_change_signing_bytes(&b2, &vc);
	assert_memory_not_equal(b1.data, b2.data, b1.len);
	zz_view_change_release(&vc);

	assert_int_equal(zz_decode_new_view(snv->enc.data, snv->enc.len, &nv), ZZ_OK);
	zz_new_view_signing_bytes(&b1, &nv);
	assert_int_equal(b1.len, TAG_LEN(nv_tag) + snv->enc.len - 1 - ZZ_SIG_LEN);
	assert_memory_equal(b1.data, nv_tag, TAG_LEN(nv_tag));
	assert_memory_equal(b1.data + TAG_LEN(nv_tag), snv->enc.data + 1,
						snv->enc.len - 1 - ZZ_SIG_LEN);
	zz_new_view_release(&nv);

	make_order_hdr(&h, 4, 5, 6);
	zz_order_hdr_signing_bytes(&b1, &h);
	assert_int_equal(b1.len, TAG_LEN(hdr_tag) + HDR_LEN - ZZ_SIG_LEN);
	assert_memory_equal(b1.data, hdr_tag, TAG_LEN(hdr_tag));
	h.sig.b[5] ^= 0x10;
	zz_order_hdr_signing_bytes(&b2, &h);
	assert_memory_equal(b1.data, b2.data, b1.len);
	h.nd_seed++;
	zz_order_hdr_signing_bytes(&b2, &h);
	assert_memory_not_equal(b1.data, b2.data, b1.len);

	/* Different kinds of signed bytes never coincide, even with equal fields. */
	zz_hash(NULL, "x", 1, &d1);
	zz_response_core_signing_bytes(&b1, 1, 2, &d1, &d1);
	memset(&vcf, 0, sizeof(vcf));
	vcf.view = 1;
	vcf.seq = 2;
	vcf.history = d1;
	zz_view_confirm_signing_bytes(&b2, &vcf);
	assert_true(b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0);
	zz_i_hate_signing_bytes(&b1, 7, 1);
	zz_i_hate_signing_bytes(&b2, 7, 2);
	assert_memory_not_equal(b1.data, b2.data, b1.len);
	zz_checkpoint_signing_bytes(&b1, 0, 9, &d1, &d1, 1);
	d2 = d1;
	d2.b[31] ^= 1;
	zz_checkpoint_signing_bytes(&b2, 0, 9, &d1, &d2, 1);
	assert_memory_not_equal(b1.data, b2.data, b1.len);
	/* Out-of-range fields: nothing to sign. */
	zz_i_hate_signing_bytes(&b1, 7, ZZ_MAX_N);
	assert_int_equal(b1.len, 0);

	zz_buf_free(&b1);
	zz_buf_free(&b2);
}

/*
 * MAC'd digests: a request's covers (client, t, op) and not the
 * authenticator; a SPEC-RESPONSE's is SHA-256 of the tag and the encoding
 * from after the type byte through the reply.
 */
static void
test_mac_digests(void **state)
{
	const sample *s = find_sample("spec-response");
	const char	tag[] = "zz-spec-response";
	zz_spec_response sr;
	zz_request	r;
	zz_local_commit lc;
	zz_digest	d1;
	zz_digest	d2;
	zz_iov		iov[2];

	make_request(&r, 5, 4, op_a, sizeof(op_a));
	zz_request_digest(NULL, &r, &d1);
	r.auth[0].b[0] ^= 1;
	r.n_auth = 3;
	zz_request_digest(NULL, &r, &d2);
	assert_true(zz_digest_eq(&d1, &d2));
	r.timestamp++;
	zz_request_digest(NULL, &r, &d2);
	assert_false(zz_digest_eq(&d1, &d2));

	assert_int_equal(zz_decode_spec_response(s->enc.data, s->enc.len, &sr), ZZ_OK);
	zz_spec_response_mac_digest(NULL, &sr, &d1);
	iov[0].base = tag;
	iov[0].len = sizeof(tag);
	/* Everything from after the type byte through the reply ... */
	iov[1].base = s->enc.data + 1;
	iov[1].len = s->enc.len - 1 - ZZ_MAC_LEN -
		(1 + (size_t) sr.path_len * ZZ_DIGEST_LEN +
		 (8 + 8 + 2 * ZZ_DIGEST_LEN + 8 + 8 + 4 + ZZ_SIG_LEN));
	zz_hashv(NULL, iov, 2, &d2);
	assert_memory_equal(d1.b, d2.b, ZZ_DIGEST_LEN);
	sr.mac.b[0] ^= 1;
	zz_spec_response_mac_digest(NULL, &sr, &d2);
	assert_true(zz_digest_eq(&d1, &d2));
	/* ... but not the path or the ORDER-REQ header (their own proofs) ... */
	sr.order.nd_time++;
	sr.path[0].b[0] ^= 1;
	zz_spec_response_mac_digest(NULL, &sr, &d2);
	assert_true(zz_digest_eq(&d1, &d2));
	/* ... while the reply and the client's timestamp are covered. */
	sr.timestamp++;
	zz_spec_response_mac_digest(NULL, &sr, &d2);
	assert_false(zz_digest_eq(&d1, &d2));

	memset(&lc, 0, sizeof(lc));
	lc.client = 3;
	zz_local_commit_mac_digest(NULL, &lc, &d1);
	lc.mac.b[3] = 1;
	zz_local_commit_mac_digest(NULL, &lc, &d2);
	assert_true(zz_digest_eq(&d1, &d2));
	lc.timestamp = 1;
	zz_local_commit_mac_digest(NULL, &lc, &d2);
	assert_false(zz_digest_eq(&d1, &d2));
}

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t	x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* Apply one random mutation to buf[0..*len), which has room for cap bytes. */
static void
mutate(uint8_t *buf, size_t *len, size_t cap, uint64_t *rng)
{
	static const uint32_t interesting[] = {
		0, 1, 2, 0x7f, 0x80, 0xff, 0x100, ZZ_MAX_N, ZZ_MAX_N + 1,
		ZZ_MAX_BATCH, ZZ_MAX_BATCH + 1, ZZ_MAX_OP_LEN, ZZ_MAX_OP_LEN + 1,
		0x7fffffff, 0xffffffff
	};
	size_t		pos = *len ? xorshift(rng) % *len : 0;

	switch (xorshift(rng) % 7)
	{
		case 0:
			if (*len)
				buf[pos] = (uint8_t) xorshift(rng);
			break;
		case 1:
			if (*len)
				buf[pos] ^= (uint8_t) (1u << (xorshift(rng) % 8));
			break;
		case 2:
			*len = *len ? xorshift(rng) % *len : 0;
			break;
		case 3:
			for (size_t k = 1 + xorshift(rng) % 8; k > 0 && *len < cap; k--)
				buf[(*len)++] = (uint8_t) xorshift(rng);
			break;
		case 4:
			if (*len)
			{
				memmove(buf + pos, buf + pos + 1, *len - pos - 1);
				(*len)--;
			}
			break;
		case 5:
			if (*len < cap)
			{
				memmove(buf + pos + 1, buf + pos, *len - pos);
				buf[pos] = (uint8_t) xorshift(rng);
				(*len)++;
			}
			break;
		default:
			if (*len >= 4)
				put32(buf + xorshift(rng) % (*len - 3),
					  interesting[xorshift(rng) % (sizeof(interesting) /
												   sizeof(interesting[0]))]);
			break;
	}
}

/*
 * Seeded random mutations of valid encodings, fed to every decoder: none
 * may crash or over-read (ASan), and whatever one accepts must re-encode
 * to the same bytes (the encoding is canonical).
 */
static void
test_mutations(void **state)
{
	uint64_t	rng = 0x9e3779b97f4a7c15ull;
	zz_buf		out;
	int			accepted = 0;
	int			rejected = 0;

	zz_buf_init(&out);
	for (int iter = 0; iter < 20000; iter++)
	{
		const sample *s = &samples[xorshift(&rng) % n_samples];
		size_t		cap = s->enc.len + 64;
		uint8_t    *work = malloc(cap);
		size_t		len = s->enc.len;
		int			nmut = 1 + (int) (xorshift(&rng) % 3);

		assert_non_null(work);
		memcpy(work, s->enc.data, len);
		for (int k = 0; k < nmut; k++)
			mutate(work, &len, cap, &rng);

		for (int t = ZZ_MSG_REQUEST; t <= ZZ_MSG_TYPE_MAX; t++)
		{
			uint8_t    *exact = exact_copy(work, len);
			zz_err		e;

			zz_buf_reset(&out);
			e = reencoders[t](exact, len, &out);
			if (e == ZZ_OK)
			{
				if (out.len != len || memcmp(out.data, exact, len) != 0)
					fail_msg("iteration %d: %s accepted non-canonical bytes",
							 iter, zz_msg_type_name(t));
				accepted++;
			}
			else
			{
				assert_true(e == ZZ_ERR_TRUNCATED || e == ZZ_ERR_TRAILING ||
							e == ZZ_ERR_TYPE || e == ZZ_ERR_LIMIT ||
							e == ZZ_ERR_VALUE);
				rejected++;
			}
			free(exact);
		}
		free(work);
	}
	zz_buf_free(&out);
	/* The loop must have exercised both sides. */
	assert_true(accepted > 1000);
	assert_true(rejected > 20000);
}

static void
test_names(void **state)
{
	assert_string_equal(zz_msg_type_name(ZZ_MSG_ORDER_REQ), "ORDER-REQ");
	assert_string_equal(zz_msg_type_name(ZZ_MSG_SPEC_RESPONSE), "SPEC-RESPONSE");
	assert_string_equal(zz_msg_type_name(ZZ_MSG_I_HATE_THE_PRIMARY), "I-HATE-THE-PRIMARY");
	assert_string_equal(zz_msg_type_name(ZZ_MSG_STATE_REPLY), "STATE-REPLY");
	assert_string_equal(zz_msg_type_name(0), "UNKNOWN");
	assert_string_equal(zz_msg_type_name(ZZ_MSG_TYPE_MAX + 1), "UNKNOWN");
	assert_string_equal(zz_err_str(ZZ_ERR_TRUNCATED), "message truncated");
	assert_string_equal(zz_err_str(ZZ_OK), "ok");
	assert_string_equal(zz_err_str((zz_err) 99), "unknown error");
}

/* params.c: the defaults, and f out of range. */
static void
test_params_default(void **state)
{
	zz_params	p;
	zz_exec_result res;

	assert_true(zz_params_default(&p, 1));
	assert_int_equal(p.n, 4);
	assert_int_equal(zz_quorum(&p), 3);
	assert_int_equal(p.batch_max, 64);
	assert_int_equal(p.batch_timeout, 200);
	assert_int_equal(p.cp_interval, 128);
	assert_int_equal(p.commit_timeout, 2000);
	assert_int_equal(p.retransmit_timeout, 4000);
	assert_int_equal(p.retransmit_max, 200000);
	assert_int_equal(p.fill_hole_timeout, 2000);
	assert_int_equal(p.checkpoint_resend, 20000);
	assert_int_equal(p.confirm_timeout, 10000);
	assert_int_equal(p.view_change_timeout, 50000);
	assert_true(zz_params_default(&p, ZZ_MAX_F));
	assert_int_equal(p.n, ZZ_MAX_N);
	assert_false(zz_params_default(&p, 0));
	assert_false(zz_params_default(&p, ZZ_MAX_F + 1));

	/* zz_exec_result_free frees every reply (ASan checks) and empties res. */
	memset(&res, 0, sizeof(res));
	res.count = 2;
	res.replies = calloc(2, sizeof(zz_reply));
	assert_non_null(res.replies);
	res.replies[0].data = malloc(3);
	res.replies[0].len = 3;
	zz_exec_result_free(&res);
	assert_null(res.replies);
	assert_int_equal(res.count, 0);
	zz_exec_result_free(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all_types),
		cmocka_unit_test(test_golden_layout),
		cmocka_unit_test(test_decoded_fields),
		cmocka_unit_test(test_every_prefix_truncated),
		cmocka_unit_test(test_trailing_byte),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_encoder_refuses_invalid),
		cmocka_unit_test(test_order_req_clone),
		cmocka_unit_test(test_signing_bytes),
		cmocka_unit_test(test_mac_digests),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_params_default),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
