/*
 * fuzz_msg.c
 *	  libFuzzer target: arbitrary bytes through every message decoder of
 *	  the core (message.c), the bytes a peer's REPLICA_MSG or CLIENT_MSG
 *	  frame carries.
 *
 * The first byte is the message type, so it picks the decoder (what the
 * core's own dispatch does).  An input of an unknown type is still offered
 * to the decoder that (type - 1) mod 15 names, which must refuse it.  A
 * message that decodes must re-encode to exactly the input (the encoding
 * is canonical: one byte string per message); its signing bytes and, for
 * an ORDER-REQ, a clone are computed too, so that every path that reads a
 * decoded struct runs on it.  Any difference aborts.
 *
 * Built with -DFUZZ_MSG_SEEDS and without libFuzzer, the same file is the
 * seed generator: `fuzz_msg_seeds DIR` writes a valid encoding of every
 * type (with edge cases: empty and full arrays, absent and present
 * optional parts) into DIR, one file each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

typedef zz_err (*reencode_fn) (const uint8_t *buf, size_t len, zz_buf *out);

static void
no_release(void *m)
{
}

/* Signing bytes of each decoded message, where it has them. */
static zz_buf sb;

static void
sign_none(const void *m)
{
}

static void
sign_order_req(const zz_order_req *m)
{
	zz_order_req *c;

	zz_order_hdr_signing_bytes(&sb, &m->hdr);
	c = zz_order_req_clone(m);
	if (c != NULL)
	{
		if (c->hdr.count != m->hdr.count)
			abort();
		for (uint32_t i = 0; i < c->hdr.count; i++)
			if (c->reqs[i].op_len != m->reqs[i].op_len ||
				(c->reqs[i].op_len > 0 &&
				 memcmp(c->reqs[i].op, m->reqs[i].op, c->reqs[i].op_len) != 0))
				abort();
		zz_order_req_free(c);
	}
}

static void
sign_spec_response(const zz_spec_response *m)
{
	zz_response_core_signing_bytes(&sb, m->view, m->seq, &m->history, &m->reply_root);
	zz_order_hdr_signing_bytes(&sb, &m->order);
}

static void
sign_pom(const zz_pom *m)
{
	zz_order_hdr_signing_bytes(&sb, &m->a);
	zz_order_hdr_signing_bytes(&sb, &m->b);
}

static void
sign_checkpoint(const zz_checkpoint *m)
{
	zz_checkpoint_signing_bytes(&sb, m->view, m->seq, &m->history, &m->state,
								m->replica);
}

static void
sign_i_hate(const zz_i_hate *m)
{
	zz_i_hate_signing_bytes(&sb, m->view, m->replica);
}

#define sign_request sign_none
#define sign_commit sign_none
#define sign_local_commit sign_none
#define sign_state_reply sign_none
#define sign_confirm_req zz_confirm_req_signing_bytes_1
#define sign_fill_hole zz_fill_hole_signing_bytes_1
#define sign_view_change zz_view_change_signing_bytes_1
#define sign_new_view zz_new_view_signing_bytes_1
#define sign_view_confirm zz_view_confirm_signing_bytes_1
#define sign_state_request zz_state_request_signing_bytes_1

#define ONE_ARG_SIGNER(kind, type) \
static void \
zz_##kind##_signing_bytes_1(const type *m) \
{ \
	zz_##kind##_signing_bytes(&sb, m); \
}

ONE_ARG_SIGNER(confirm_req, zz_confirm_req)
ONE_ARG_SIGNER(fill_hole, zz_fill_hole)
ONE_ARG_SIGNER(view_change, zz_view_change)
ONE_ARG_SIGNER(new_view, zz_new_view)
ONE_ARG_SIGNER(view_confirm, zz_view_confirm)
ONE_ARG_SIGNER(state_request, zz_state_request)

/*
 * Decode buf as one type; if it decodes, sign it and encode it into out.
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
		sign_##kind(&m); \
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

#ifndef FUZZ_MSG_SEEDS

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * One input.  libFuzzer's buffer is exactly size bytes, so ASan sees any
 * read past the end.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static zz_buf out;
	zz_msg_type t;
	zz_err		pe;
	zz_err		e;
	int			k;

	if (size == 0)
	{
		if (zz_msg_peek_type(data, 0, &t) != ZZ_ERR_TRUNCATED)
			abort();
		return 0;
	}
	pe = zz_msg_peek_type(data, size, &t);
	k = pe == ZZ_OK ? (int) t : (data[0] + ZZ_MSG_TYPE_MAX - 1) % ZZ_MSG_TYPE_MAX + 1;
	zz_buf_reset(&out);
	e = reencoders[k] (data, size, &out);
	if (e == ZZ_OK)
	{
		/* only a known type decodes, and then exactly as it came */
		if (pe != ZZ_OK)
			abort();
		if (out.len != size || memcmp(out.data, data, size) != 0)
			abort();
	}
	else if (e == ZZ_ERR_NOMEM)
		abort();				/* a decoded message the encoder refuses */
	else if (out.len != 0)
		abort();				/* nothing appended on failure */
	return 0;
}

#else							/* FUZZ_MSG_SEEDS */

/* ---- the seed generator ---- */

static const uint8_t op_a[] = "UPDATE accounts SET balance = balance - 10 WHERE id = 7";
static const uint8_t op_b[] = "SELECT 1";
static const uint8_t reply_a[] = "UPDATE 1";
static const uint8_t state_a[] = "snapshot bytes";
static const char *seed_dir;
static int	n_written;

static void
fill(void *p, size_t n, uint8_t seed)
{
	uint8_t    *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t) (seed + 7 * i);
}

/* Write one encoding; check it decodes and re-encodes to itself first. */
static void
emit(const char *name, bool encoded, zz_buf *b)
{
	char		path[4096];
	FILE	   *fp;
	zz_buf		out;

	if (!encoded)
	{
		fprintf(stderr, "fuzz_msg_seeds: %s does not encode\n", name);
		exit(1);
	}
	zz_buf_init(&out);
	if (reencoders[b->data[0]] (b->data, b->len, &out) != ZZ_OK ||
		out.len != b->len || memcmp(out.data, b->data, b->len) != 0)
	{
		fprintf(stderr, "fuzz_msg_seeds: %s does not round-trip\n", name);
		exit(1);
	}
	zz_buf_free(&out);
	snprintf(path, sizeof(path), "%s/%s", seed_dir, name);
	fp = fopen(path, "wb");
	if (fp == NULL || fwrite(b->data, 1, b->len, fp) != b->len || fclose(fp) != 0)
	{
		perror(path);
		exit(1);
	}
	n_written++;
	zz_buf_reset(b);
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
		make_cc(&vc->cc, 3);
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

int
main(int argc, char **argv)
{
	zz_buf		b;
	zz_request	r;
	zz_confirm_req cr;
	zz_order_req o;
	zz_pom		pom;
	zz_spec_response sr;
	zz_commit	cm;
	zz_local_commit lc;
	zz_fill_hole fh;
	zz_i_hate	ih;
	zz_checkpoint cp;
	zz_view_confirm vcf;
	zz_state_request sq;
	zz_state_reply sp;
	zz_view_change vc;
	zz_new_view nv;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	seed_dir = argv[1];
	zz_buf_init(&b);

	make_request(&r, 42, 4, op_a, sizeof(op_a));
	emit("request", zz_encode_request(&b, &r), &b);
	make_request(&r, 0, 0, NULL, 0);
	emit("request-empty", zz_encode_request(&b, &r), &b);
	make_request(&r, 7, ZZ_MAX_N, op_b, sizeof(op_b));
	emit("request-max-auth", zz_encode_request(&b, &r), &b);

	memset(&cr, 0, sizeof(cr));
	cr.view = 4;
	cr.replica = 2;
	make_request(&cr.request, 9, 4, op_b, sizeof(op_b));
	fill(cr.sig.b, ZZ_SIG_LEN, 3);
	emit("confirm-req", zz_encode_confirm_req(&b, &cr), &b);

	make_request(&batch_reqs[0], 1, 4, op_a, sizeof(op_a));
	make_request(&batch_reqs[1], 2, 0, NULL, 0);
	make_request(&batch_reqs[2], 3, 4, op_b, sizeof(op_b));
	make_order_hdr(&o.hdr, 1, 10, 3);
	o.reqs = batch_reqs;
	emit("order-req", zz_encode_order_req(&b, &o), &b);
	make_order_hdr(&o.hdr, 1, 11, 0);
	o.reqs = NULL;
	emit("order-req-empty", zz_encode_order_req(&b, &o), &b);

	make_order_hdr(&pom.a, 2, 12, 5);
	make_order_hdr(&pom.b, 2, 12, 6);
	emit("pom", zz_encode_pom(&b, &pom), &b);

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
	emit("spec-response", zz_encode_spec_response(&b, &sr), &b);
	sr.reply = NULL;
	sr.reply_len = 0;
	sr.path_len = ZZ_MAX_MERKLE_DEPTH;
	fill(sr.path, sizeof(sr.path), 8);
	emit("spec-response-full-path", zz_encode_spec_response(&b, &sr), &b);

	memset(&cm, 0, sizeof(cm));
	cm.client = 42;
	cm.timestamp = 1234;
	make_cc(&cm.cc, 3);
	emit("commit", zz_encode_commit(&b, &cm), &b);
	make_cc(&cm.cc, 0);
	emit("commit-empty-cc", zz_encode_commit(&b, &cm), &b);

	memset(&lc, 0, sizeof(lc));
	lc.view = 2;
	lc.seq = 17;
	fill(lc.history.b, ZZ_DIGEST_LEN, 12);
	lc.replica = 1;
	lc.client = 42;
	lc.timestamp = 1234;
	fill(lc.mac.b, ZZ_MAC_LEN, 13);
	emit("local-commit", zz_encode_local_commit(&b, &lc), &b);

	memset(&fh, 0, sizeof(fh));
	fh.view = 2;
	fh.replica = 3;
	fh.from_seq = 5;
	fh.to_seq = 9;
	fill(fh.sig.b, ZZ_SIG_LEN, 14);
	emit("fill-hole", zz_encode_fill_hole(&b, &fh), &b);

	memset(&ih, 0, sizeof(ih));
	ih.view = 2;
	ih.replica = ZZ_MAX_N - 1;
	fill(ih.sig.b, ZZ_SIG_LEN, 15);
	emit("i-hate", zz_encode_i_hate(&b, &ih), &b);

	memset(&cp, 0, sizeof(cp));
	cp.seq = 256;
	fill(cp.history.b, ZZ_DIGEST_LEN, 16);
	fill(cp.state.b, ZZ_DIGEST_LEN, 17);
	cp.replica = 2;
	fill(cp.sig.b, ZZ_SIG_LEN, 18);
	emit("checkpoint", zz_encode_checkpoint(&b, &cp), &b);

	memset(&vcf, 0, sizeof(vcf));
	vcf.view = 6;
	vcf.seq = 300;
	fill(vcf.history.b, ZZ_DIGEST_LEN, 19);
	fill(vcf.sig.b, ZZ_SIG_LEN, 20);
	emit("view-confirm", zz_encode_view_confirm(&b, &vcf), &b);

	memset(&sq, 0, sizeof(sq));
	sq.replica = 1;
	sq.seq = 512;
	fill(sq.sig.b, ZZ_SIG_LEN, 21);
	emit("state-request", zz_encode_state_request(&b, &sq), &b);

	memset(&sp, 0, sizeof(sp));
	sp.replica = 2;
	make_cp(&sp.cp, 3);
	sp.state = state_a;
	sp.state_len = sizeof(state_a);
	emit("state-reply", zz_encode_state_reply(&b, &sp), &b);

	make_order_hdr(&vc_entries[0].hdr, 1, 10, 3);
	vc_entries[0].reqs = batch_reqs;
	make_order_hdr(&vc_entries[1].hdr, 1, 11, 0);
	vc_entries[1].reqs = NULL;
	make_order_hdr(&vc_entries[2].hdr, 2, 12, 1);
	vc_entries[2].reqs = &batch_reqs[1];
	make_view_change(&vc, 1, true, 3, 2);
	emit("view-change", zz_encode_view_change(&b, &vc), &b);
	make_view_change(&vc, 2, false, 0, 0);
	make_cp(&vc.cp, 0);
	emit("view-change-genesis", zz_encode_view_change(&b, &vc), &b);

	make_view_change(&nv_vcs[0], 0, true, 3, 2);
	make_view_change(&nv_vcs[1], 1, false, 1, 2);
	make_view_change(&nv_vcs[2], 3, false, 0, 0);
	memset(&nv, 0, sizeof(nv));
	nv.new_view = 5;
	nv.replica = 1;
	nv.n_vc = 3;
	nv.vcs = nv_vcs;
	fill(nv.sig.b, ZZ_SIG_LEN, 77);
	emit("new-view", zz_encode_new_view(&b, &nv), &b);
	nv.n_vc = 0;
	nv.vcs = NULL;
	emit("new-view-empty", zz_encode_new_view(&b, &nv), &b);

	zz_buf_free(&b);
	printf("fuzz_msg_seeds: %d seeds in %s\n", n_written, seed_dir);
	return 0;
}

#endif							/* FUZZ_MSG_SEEDS */
