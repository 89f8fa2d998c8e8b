/*
 * test_replica.c
 *	  Unit tests of one replica's acceptance rules, driven message by
 *	  message (docs/protocol.md sections 2-7).
 *
 * Each test builds one replica (id RID, a backup of view 0, whose primary
 * is replica 0) over the in-memory key-value service and feeds it
 * messages the test builds and signs itself with the cluster's keys: the
 * primary's ORDER-REQs, clients' REQUESTs and COMMITs, other replicas'
 * CHECKPOINT votes and I-HATE-THE-PRIMARYs.  What the replica sends is
 * recorded through its zz_io and decoded with the codec; the tests assert
 * on those messages, on its stats and on zz_replica_get_status.
 *
 * Rules covered: commit-certificate validation (COMMIT -> LOCAL-COMMIT),
 * checkpoint votes, certification and stability (truncation one interval
 * later), flow control, ORDER-REQ acceptance, exactly-once execution and
 * cached replies.  Every test runs with real (Ed25519/HMAC) and symbolic
 * cryptography.
 *
 * Issue 10 and 11 tests follow: certificates across views (each rule
 * also run with its planted bug switched on, to show the test catches
 * it), forged evidence (POM, buffered ORDER-REQs, STATE-REPLY), the
 * invariants of zz_replica_check broken by hand, the batch time bounds,
 * and liveness after restarts, transfers and late view entry.
 *
 * Many tests run all n replicas for real, with the test playing the
 * network (it delivers, reorders and loses their messages), a faulty R0
 * and the clients.  Two of them (marked "regression") reproduce core bugs
 * these tests found, now fixed; each says what it expects.
 *
 * ZZ_TEST_TRACE=1 in the environment prints the replicas' trace lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "kvservice.h"
#include "message.h"
#include "replica.h"
#include "replica_int.h"

#define N_CLIENTS	4
#define CP			4			/* cp_interval of every rig */
#define RID			2			/* the replica under test: a backup of view 0 */
#define CLIENT		1			/* the client most tests use */
#define MAX_REQS	4			/* requests per ORDER-REQ the tests build */

/* ------------------------------------------------------------------------
 * The rig: one replica, the cluster's keys, and a record of what it sent
 * ------------------------------------------------------------------------ */

typedef struct sent_msg
{
	uint32_t	from;			/* the replica that sent it */
	bool		to_client;
	uint32_t	dest;
	uint8_t		type;
	uint8_t    *buf;
	size_t		len;
	zz_replica_mode sender_mode;	/* the sender's mode and view as it sent */
	zz_view		sender_view;
} sent_msg;

typedef struct rig rig;

/* What a replica's zz_io hooks get as ctx: the rig and who is sending. */
typedef struct node
{
	rig		   *g;
	uint32_t	id;
} node;

struct rig
{
	zz_params	p;
	uint32_t	id;
	zz_keyset  *ks;
	zz_crypto  *signer[ZZ_MAX_N];	/* the test signs as any replica with these */
	zz_crypto  *client[N_CLIENTS];
	zz_crypto  *rcrypto;		/* the replica's own context */
	zz_kvservice *kv;
	zz_replica *r;				/* the replica under test: rr[id] */
	bool		trace;

	/* Every replica the rig runs (only rr[id] unless rig_add_peers). */
	zz_replica *rr[ZZ_MAX_N];
	zz_kvservice *kvs[ZZ_MAX_N];
	zz_crypto  *rcs[ZZ_MAX_N];
	node		nodes[ZZ_MAX_N];
	zz_io		ios[ZZ_MAX_N];

	sent_msg   *sent;
	size_t		n_sent;
	size_t		cap_sent;
	size_t		pumped;			/* sent[] delivered to peers up to here */

	/* The primary's side of the history the test has ordered so far. */
	zz_seq		seq;
	zz_digest	hist;
	uint64_t	next_ts[N_CLIENTS];
	zz_time		now;

	zz_buf		buf;
	zz_buf		sigbuf;
};

/* One request of an ORDER-REQ the test builds. */
typedef struct rq
{
	uint32_t	client;
	uint64_t	ts;
	const char *op;
} rq;

/* Ways to spoil an ORDER-REQ. */
enum
{
	T_NONE = 0,
	T_FLIP_SIG = 1 << 0,		/* one byte of the primary's signature */
	T_WRONG_SIGNER = 1 << 1,	/* signed by a replica that is not the primary */
	T_BAD_HISTORY = 1 << 2,		/* h_n not H(h_{n-1} || n || d), signed anyway */
	T_BAD_BATCH_DIGEST = 1 << 3,	/* d not H(batch); h_n chained from the true d */
	T_BAD_BATCH_CHAINED = 1 << 4,	/* d not H(batch); h_n chained from that d */
	T_BAD_MAC = 1 << 5			/* a request's MAC for the replica under test */
};

static zz_crypto_mode mode_real = ZZ_CRYPTO_REAL;
static zz_crypto_mode mode_symbolic = ZZ_CRYPTO_SYMBOLIC;

static void
record(node *from, bool to_client, uint32_t dest, const uint8_t *buf, size_t len)
{
	rig		   *g = from->g;
	sent_msg   *m;

	if (g->n_sent == g->cap_sent)
	{
		g->cap_sent = g->cap_sent ? 2 * g->cap_sent : 64;
		g->sent = realloc(g->sent, g->cap_sent * sizeof(*g->sent));
		assert_non_null(g->sent);
	}
	m = &g->sent[g->n_sent++];
	m->from = from->id;
	m->to_client = to_client;
	m->dest = dest;
	m->type = len > 0 ? buf[0] : 0;
	m->len = len;
	m->sender_mode = ZZ_MODE_NORMAL;
	m->sender_view = 0;
	if (from->id < ZZ_MAX_N && g->rr[from->id] != NULL)
	{
		zz_replica_status st;

		zz_replica_get_status(g->rr[from->id], &st);
		m->sender_mode = st.mode;
		m->sender_view = st.view;
	}
	m->buf = malloc(len ? len : 1);
	assert_non_null(m->buf);
	memcpy(m->buf, buf, len);
}

static void
io_to_replica(void *ctx, uint32_t replica, const uint8_t *buf, size_t len)
{
	record(ctx, false, replica, buf, len);
}

static void
io_to_client(void *ctx, uint32_t client, const uint8_t *buf, size_t len)
{
	record(ctx, true, client, buf, len);
}

static void
io_trace(void *ctx, const char *line)
{
	node	   *from = ctx;

	if (from->g->trace)
		fprintf(stderr, "  trace: %s\n", line);
}

/* Create replica i of the rig with its own crypto context and service. */
static void
rig_start_replica(rig *g, uint32_t i)
{
	g->rcs[i] = zz_crypto_create(g->ks, true, i);
	assert_non_null(g->rcs[i]);
	g->kvs[i] = zz_kv_create();
	assert_non_null(g->kvs[i]);
	g->nodes[i].g = g;
	g->nodes[i].id = i;
	g->ios[i].ctx = &g->nodes[i];
	g->ios[i].to_replica = io_to_replica;
	g->ios[i].to_client = io_to_client;
	g->ios[i].trace = io_trace;
	g->rr[i] = zz_replica_create(&g->p, i, g->rcs[i], zz_kv_service(g->kvs[i]), &g->ios[i]);
	assert_non_null(g->rr[i]);
}

static rig *
rig_new_f(zz_crypto_mode mode, uint32_t f, uint32_t id)
{
	rig		   *g = calloc(1, sizeof(*g));
	uint32_t	i;

	assert_non_null(g);
	assert_true(zz_params_default(&g->p, f));
	g->p.cp_interval = CP;
	g->p.batch_max = 8;
	g->id = id;
	g->ks = zz_keyset_from_seed(mode, g->p.n, N_CLIENTS, 0x7e57 + f);
	assert_non_null(g->ks);
	for (i = 0; i < g->p.n; i++)
	{
		g->signer[i] = zz_crypto_create(g->ks, true, i);
		assert_non_null(g->signer[i]);
	}
	for (i = 0; i < N_CLIENTS; i++)
	{
		g->client[i] = zz_crypto_create(g->ks, false, i);
		assert_non_null(g->client[i]);
		g->next_ts[i] = 1;
	}
	g->trace = getenv("ZZ_TEST_TRACE") != NULL;
	rig_start_replica(g, id);
	g->r = g->rr[id];
	g->kv = g->kvs[id];
	g->rcrypto = g->rcs[id];
	zz_buf_init(&g->buf);
	zz_buf_init(&g->sigbuf);
	g->now = 1000;
	return g;
}

static rig *
rig_new(void **state)
{
	return rig_new_f(*(const zz_crypto_mode *) *state, 1, RID);
}

static void
rig_free(rig *g)
{
	size_t		i;

	for (i = 0; i < g->p.n; i++)
	{
		zz_replica_free(g->rr[i]);
		zz_kv_free(g->kvs[i]);
		zz_crypto_free(g->rcs[i]);
		zz_crypto_free(g->signer[i]);
	}
	for (i = 0; i < N_CLIENTS; i++)
		zz_crypto_free(g->client[i]);
	zz_keyset_free(g->ks);
	for (i = 0; i < g->n_sent; i++)
		free(g->sent[i].buf);
	free(g->sent);
	zz_buf_free(&g->buf);
	zz_buf_free(&g->sigbuf);
	free(g);
}

static zz_replica_status
status(const rig *g)
{
	zz_replica_status s;

	zz_replica_get_status(g->r, &s);
	return s;
}

static const zz_replica_stats *
stats(const rig *g)
{
	return zz_replica_get_stats(g->r);
}

/* The k-th replica other than the one under test (k < n - 1). */
static uint32_t
other(const rig *g, uint32_t k)
{
	return k < g->id ? k : k + 1;
}

static void
deliver(rig *g, const zz_buf *b)
{
	g->now += 10;
	zz_replica_receive(g->r, g->now, b->data, b->len);
}

static size_t
count_sent(const rig *g, bool to_client, uint8_t type)
{
	size_t		i,
				n = 0;

	for (i = 0; i < g->n_sent; i++)
		if (g->sent[i].to_client == to_client && g->sent[i].type == type)
			n++;
	return n;
}

static const sent_msg *
last_sent(const rig *g, bool to_client, uint8_t type)
{
	size_t		i;

	for (i = g->n_sent; i > 0; i--)
		if (g->sent[i - 1].to_client == to_client && g->sent[i - 1].type == type)
			return &g->sent[i - 1];
	return NULL;
}

static void
clear_sent(rig *g)
{
	size_t		i;

	for (i = 0; i < g->n_sent; i++)
		free(g->sent[i].buf);
	g->n_sent = 0;
	g->pumped = 0;
}

/* ------------------------------------------------------------------------
 * Building messages
 * ------------------------------------------------------------------------ */

/* A client's REQUEST with a MAC authenticator entry for every replica. */
static void
make_request(rig *g, const rq *q, zz_request *out, unsigned tamper)
{
	zz_crypto  *c = g->client[q->client];
	zz_digest	d;
	uint32_t	j;

	memset(out, 0, sizeof(*out));
	out->client = q->client;
	out->timestamp = q->ts;
	out->op = (const uint8_t *) q->op;
	out->op_len = (uint32_t) strlen(q->op);
	zz_request_digest(c, out, &d);
	out->n_auth = (uint8_t) g->p.n;
	for (j = 0; j < g->p.n; j++)
		zz_mac_compute(c, j, &d, &out->auth[j]);
	if (tamper & T_BAD_MAC)
		out->auth[g->id].b[3] ^= 0x40;
}

/* The time encode_order puts in its ORDER-REQs; 0: 5000 + n. */
static uint64_t order_nd_time;

/*
 * Encode into out an ORDER-REQ (v, n) over requests qs, chained from prev
 * the way the replica chains (zz_batch_digest, zz_chain_history), signed
 * by the primary of v unless tamper says otherwise.  *h_out gets its h_n.
 */
static void
encode_order(rig *g, zz_view v, zz_seq n, const zz_digest *prev, const rq *qs,
			 uint32_t count, unsigned tamper, zz_buf *out, zz_digest *h_out)
{
	zz_order_req m;
	zz_request	reqs[MAX_REQS];
	zz_digest	digs[MAX_REQS];
	uint32_t	primary = zz_primary_of(&g->p, v),
				key = primary,
				i;
	zz_crypto  *c = g->signer[primary];

	assert_true(count >= 1 && count <= MAX_REQS);
	memset(&m, 0, sizeof(m));
	for (i = 0; i < count; i++)
	{
		make_request(g, &qs[i], &reqs[i], tamper);
		zz_request_digest(c, &reqs[i], &digs[i]);
	}
	m.reqs = reqs;
	m.hdr.view = v;
	m.hdr.seq = n;
	m.hdr.count = count;
	m.hdr.nd_time = order_nd_time != 0 ? order_nd_time : 5000 + n;
	m.hdr.nd_seed = 0xabcdef00ull + n;
	zz_batch_digest(c, m.hdr.nd_time, m.hdr.nd_seed, digs, count, &m.hdr.batch_digest);
	if (tamper & T_BAD_BATCH_CHAINED)
		m.hdr.batch_digest.b[7] ^= 0x01;
	zz_chain_history(c, prev, n, &m.hdr.batch_digest, &m.hdr.history);
	if (tamper & T_BAD_BATCH_DIGEST)
		m.hdr.batch_digest.b[7] ^= 0x01;
	if (tamper & T_BAD_HISTORY)
		m.hdr.history.b[11] ^= 0x80;
	if (tamper & T_WRONG_SIGNER)
	{
		key = (primary + 1) % g->p.n;
		if (key == g->id)
			key = (key + 1) % g->p.n;
	}
	zz_order_hdr_signing_bytes(&g->sigbuf, &m.hdr);
	assert_true(g->sigbuf.len > 0);
	assert_true(zz_sign(g->signer[key], g->sigbuf.data, g->sigbuf.len, &m.hdr.sig));
	if (tamper & T_FLIP_SIG)
		m.hdr.sig.b[17] ^= 0x04;
	zz_buf_reset(out);
	assert_true(zz_encode_order_req(out, &m));
	if (h_out)
		*h_out = m.hdr.history;
}

/*
 * Order one request from client with the next timestamp, at the next seq
 * of the test's history, and check the replica executed it.  Returns its
 * timestamp.
 */
static uint64_t
order_one(rig *g, uint32_t client, const char *op)
{
	rq			q = {client, g->next_ts[client]++, op};
	zz_digest	h;

	encode_order(g, 0, g->seq + 1, &g->hist, &q, 1, T_NONE, &g->buf, &h);
	deliver(g, &g->buf);
	assert_int_equal(status(g).last_executed, g->seq + 1);
	g->seq++;
	g->hist = h;
	return q.ts;
}

static void
run_batches(rig *g, uint32_t k)
{
	while (k-- > 0)
		order_one(g, CLIENT, "ADD hits 1");
}

/*
 * A commit certificate over (v, n, h) with one entry per signer, each
 * signing (v, n, h, R).  A signer id >= n signs with key id % n.
 */
static void
cc_fill(rig *g, zz_commit_cert *cc, zz_view v, zz_seq n, const zz_digest *h,
		const zz_digest *R, const uint32_t *who, uint32_t count)
{
	uint32_t	i;

	memset(cc, 0, sizeof(*cc));
	cc->view = v;
	cc->seq = n;
	cc->history = *h;
	cc->count = (uint8_t) count;
	for (i = 0; i < count; i++)
	{
		zz_cc_entry *e = &cc->entries[i];

		e->replica = who[i];
		e->reply_root = *R;
		zz_response_core_signing_bytes(&g->sigbuf, v, n, h, R);
		assert_true(zz_sign(g->signer[who[i] % g->p.n], g->sigbuf.data, g->sigbuf.len,
							&e->sig));
	}
}

static void
send_commit(rig *g, uint32_t client, uint64_t ts, const zz_commit_cert *cc)
{
	zz_commit	m;

	memset(&m, 0, sizeof(m));
	m.client = client;
	m.timestamp = ts;
	m.cc = *cc;
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_commit(&g->buf, &m));
	deliver(g, &g->buf);
}

/* A CHECKPOINT vote signed with key's key, claiming to come from claimed. */
static void
send_vote(rig *g, uint32_t key, uint32_t claimed, zz_seq seq, const zz_digest *h,
		  const zz_digest *state, bool flip_sig)
{
	zz_checkpoint cp;

	memset(&cp, 0, sizeof(cp));
	cp.seq = seq;
	cp.history = *h;
	cp.state = *state;
	cp.replica = claimed;
	zz_checkpoint_signing_bytes(&g->sigbuf, 0, seq, h, state, claimed);
	assert_true(zz_sign(g->signer[key], g->sigbuf.data, g->sigbuf.len, &cp.sig));
	if (flip_sig)
		cp.sig.b[40] ^= 0x20;
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_checkpoint(&g->buf, &cp));
	deliver(g, &g->buf);
}

/* A correct vote from replica `from` agreeing with cp. */
static void
send_matching_vote(rig *g, uint32_t from, const zz_checkpoint *cp)
{
	send_vote(g, from, from, cp->seq, &cp->history, &cp->state, false);
}

static void
send_i_hate(rig *g, uint32_t from, zz_view v)
{
	zz_i_hate	m;

	memset(&m, 0, sizeof(m));
	m.view = v;
	m.replica = from;
	zz_i_hate_signing_bytes(&g->sigbuf, v, from);
	assert_true(zz_sign(g->signer[from], g->sigbuf.data, g->sigbuf.len, &m.sig));
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_i_hate(&g->buf, &m));
	deliver(g, &g->buf);
}

/* ------------------------------------------------------------------------
 * Reading what the replica sent
 * ------------------------------------------------------------------------ */

/*
 * The replica's own CHECKPOINT for seq, if it has broadcast one: decoded,
 * sent to every other replica, and signed by the replica.
 */
static bool
own_checkpoint(rig *g, zz_seq seq, zz_checkpoint *out)
{
	size_t		i,
				copies = 0;
	bool		found = false;

	for (i = 0; i < g->n_sent; i++)
	{
		const sent_msg *m = &g->sent[i];
		zz_checkpoint cp;

		if (m->to_client || m->type != ZZ_MSG_CHECKPOINT)
			continue;
		assert_int_equal(zz_decode_checkpoint(m->buf, m->len, &cp), ZZ_OK);
		if (cp.seq != seq)
			continue;
		assert_int_equal(cp.replica, g->id);
		assert_int_not_equal(m->dest, g->id);
		zz_checkpoint_signing_bytes(&g->sigbuf, cp.view, cp.seq, &cp.history, &cp.state, cp.replica);
		assert_true(zz_verify(g->client[0], g->id, g->sigbuf.data, g->sigbuf.len, &cp.sig));
		*out = cp;
		found = true;
		copies++;
	}
	if (found)
		assert_true(copies >= g->p.n - 1);
	return found;
}

/*
 * Whether the replica holds a checkpoint certificate at or above seq, as
 * another replica sees it: a signed STATE-REQUEST for seq is answered with
 * a STATE-REPLY carrying a proof of 2f+1 distinct signers.
 */
static bool
certified(rig *g, zz_seq seq)
{
	zz_state_request q;
	zz_state_reply rep;
	uint32_t	asker = other(g, 0);
	size_t		before = g->n_sent,
				i;
	bool		answered = false;

	memset(&q, 0, sizeof(q));
	q.replica = asker;
	q.seq = seq;
	zz_state_request_signing_bytes(&g->sigbuf, &q);
	assert_true(zz_sign(g->signer[asker], g->sigbuf.data, g->sigbuf.len, &q.sig));
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_state_request(&g->buf, &q));
	deliver(g, &g->buf);
	for (i = before; i < g->n_sent; i++)
	{
		const sent_msg *m = &g->sent[i];

		if (m->to_client || m->type != ZZ_MSG_STATE_REPLY)
			continue;
		assert_int_equal(m->dest, asker);
		assert_int_equal(zz_decode_state_reply(m->buf, m->len, &rep), ZZ_OK);
		assert_true(rep.cp.seq >= seq);
		assert_true(rep.cp.count >= zz_quorum(&g->p));
		answered = true;
	}
	/* The internal view agrees with what the replica shows its peers. */
	assert_int_equal(answered, g->r->cert_proof.seq >= seq);
	return answered;
}

/* Decode the last SPEC-RESPONSE sent to client (its buffer outlives m). */
static const sent_msg *
last_spec_response(rig *g, uint32_t client, zz_spec_response *m)
{
	const sent_msg *s = last_sent(g, true, ZZ_MSG_SPEC_RESPONSE);

	assert_non_null(s);
	assert_int_equal(s->dest, client);
	assert_int_equal(zz_decode_spec_response(s->buf, s->len, m), ZZ_OK);
	return s;
}

/* The replica sent no LOCAL-COMMIT, and holds no commit beyond `committed`. */
static void
assert_no_local_commit(rig *g, zz_seq committed)
{
	assert_int_equal(count_sent(g, true, ZZ_MSG_LOCAL_COMMIT), 0);
	assert_int_equal(stats(g)->local_commits, 0);
	assert_int_equal(status(g).committed, committed);
}

/* ------------------------------------------------------------------------
 * Commit certificates (section 4 step 5)
 * ------------------------------------------------------------------------ */

/*
 * Execute one request at seq 1 and return its timestamp, the replica's
 * reply root R and its own signature over (0, 1, h_1, R).
 */
static uint64_t
cc_setup(rig *g, zz_digest *R, zz_sig *own_sig)
{
	zz_spec_response m;
	uint64_t	ts = order_one(g, CLIENT, "PUT color blue");

	last_spec_response(g, CLIENT, &m);
	*R = m.reply_root;
	*own_sig = m.core_sig;
	clear_sent(g);
	return ts;
}

/* A valid CC for what cc_setup executed: two other replicas and our own. */
static void
cc_valid(rig *g, zz_commit_cert *cc, const zz_digest *R, const zz_sig *own_sig)
{
	uint32_t	who[2] = {other(g, 0), other(g, 1)};

	cc_fill(g, cc, 0, 1, &g->hist, R, who, 2);
	cc->entries[2].replica = g->id;
	cc->entries[2].reply_root = *R;
	cc->entries[2].sig = *own_sig;
	cc->count = 3;
}

static void
test_cc_valid_quorum_gets_local_commit(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	R,
				d;
	zz_sig		own;
	zz_commit_cert cc;
	zz_local_commit lc;
	const sent_msg *s;
	uint64_t	ts = cc_setup(g, &R, &own);

	assert_int_equal(status(g).committed, 0);
	cc_valid(g, &cc, &R, &own);
	send_commit(g, CLIENT, ts, &cc);

	assert_int_equal(count_sent(g, true, ZZ_MSG_LOCAL_COMMIT), 1);
	s = last_sent(g, true, ZZ_MSG_LOCAL_COMMIT);
	assert_int_equal(s->dest, CLIENT);
	assert_int_equal(zz_decode_local_commit(s->buf, s->len, &lc), ZZ_OK);
	assert_int_equal(lc.view, 0);
	assert_int_equal(lc.seq, 1);
	assert_memory_equal(&lc.history, &g->hist, sizeof(zz_digest));
	assert_int_equal(lc.replica, g->id);
	assert_int_equal(lc.client, CLIENT);
	assert_int_equal(lc.timestamp, ts);
	zz_local_commit_mac_digest(g->client[CLIENT], &lc, &d);
	assert_true(zz_mac_check(g->client[CLIENT], g->id, &d, &lc.mac));
	/* ... and only the client it is for can check it. */
	assert_false(zz_mac_check(g->client[CLIENT + 1], g->id, &d, &lc.mac));

	assert_int_equal(stats(g)->local_commits, 1);
	assert_int_equal(stats(g)->rejected, 0);
	assert_int_equal(status(g).committed, 1);
	rig_free(g);
}

/* The same replica twice makes up the 2f+1 count. */
static void
test_cc_duplicate_signer_rejected(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	R;
	zz_sig		own;
	zz_commit_cert cc;
	uint32_t	who[3] = {other(g, 0), other(g, 1), other(g, 1)};
	uint64_t	ts = cc_setup(g, &R, &own);

	cc_fill(g, &cc, 0, 1, &g->hist, &R, who, 3);
	send_commit(g, CLIENT, ts, &cc);
	assert_no_local_commit(g, 0);
	assert_int_equal(stats(g)->rejected, 1);

	/* The replica itself repeated is no better. */
	who[0] = who[1] = who[2] = g->id;
	cc_fill(g, &cc, 0, 1, &g->hist, &R, who, 3);
	send_commit(g, CLIENT, ts, &cc);
	assert_no_local_commit(g, 0);
	assert_int_equal(stats(g)->rejected, 2);

	/* Three distinct signers over the same cores pass. */
	cc_valid(g, &cc, &R, &own);
	send_commit(g, CLIENT, ts, &cc);
	assert_int_equal(count_sent(g, true, ZZ_MSG_LOCAL_COMMIT), 1);
	rig_free(g);
}

static void
test_cc_fewer_than_quorum_rejected(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	R;
	zz_sig		own;
	zz_commit_cert cc;
	uint64_t	ts = cc_setup(g, &R, &own);

	cc_valid(g, &cc, &R, &own);
	cc.count = 2;				/* 2f valid signatures */
	send_commit(g, CLIENT, ts, &cc);
	assert_no_local_commit(g, 0);
	assert_int_equal(stats(g)->rejected, 1);
	rig_free(g);
}

/*
 * A signer id >= n.  The entry is signed with the key of replica id % n,
 * so an implementation that reduced ids modulo n would accept it.
 */
static void
test_cc_signer_out_of_range_rejected(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	R;
	zz_sig		own;
	zz_commit_cert cc;
	uint32_t	who[3] = {other(g, 0), other(g, 1), other(g, 2) + g->p.n};
	uint64_t	ts = cc_setup(g, &R, &own);

	cc_fill(g, &cc, 0, 1, &g->hist, &R, who, 3);
	send_commit(g, CLIENT, ts, &cc);
	assert_no_local_commit(g, 0);
	assert_int_equal(stats(g)->rejected, 1);

	/* The same certificate with the id in range is valid. */
	cc.entries[2].replica = other(g, 2);
	send_commit(g, CLIENT, ts, &cc);
	assert_int_equal(count_sent(g, true, ZZ_MSG_LOCAL_COMMIT), 1);
	rig_free(g);
}

static void
test_cc_bad_signature_rejected(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	R;
	zz_sig		own;
	zz_commit_cert cc;
	uint64_t	ts = cc_setup(g, &R, &own);

	cc_valid(g, &cc, &R, &own);
	cc.entries[1].sig.b[9] ^= 0x01;
	send_commit(g, CLIENT, ts, &cc);
	assert_no_local_commit(g, 0);
	assert_int_equal(stats(g)->rejected, 1);

	/* A changed reply root under an intact signature is just as bad. */
	cc_valid(g, &cc, &R, &own);
	cc.entries[0].reply_root.b[0] ^= 0x01;
	send_commit(g, CLIENT, ts, &cc);
	assert_no_local_commit(g, 0);
	assert_int_equal(stats(g)->rejected, 2);
	rig_free(g);
}

/* The signatures cover view 0; the certificate claims view 1. */
static void
test_cc_wrong_view_rejected(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	R;
	zz_sig		own;
	zz_commit_cert cc;
	uint64_t	ts = cc_setup(g, &R, &own);

	cc_valid(g, &cc, &R, &own);
	cc.view = 1;
	send_commit(g, CLIENT, ts, &cc);
	assert_no_local_commit(g, 0);
	assert_int_equal(stats(g)->rejected, 1);
	assert_int_equal(stats(g)->i_hates, 0);
	rig_free(g);
}

/*
 * A valid CC for seq 1 over a history other than the replica's: no
 * LOCAL-COMMIT, and the replica hates the primary (section 8 triggers).
 */
static void
test_cc_conflicting_history_hates_primary(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	R,
				other_h;
	zz_sig		own;
	zz_commit_cert cc;
	zz_i_hate	ih;
	const sent_msg *s;
	uint32_t	who[3] = {other(g, 0), other(g, 1), other(g, 2)};
	rq			q = {CLIENT + 1, 1, "PUT color red"};
	zz_digest	zero = {{0}};
	uint64_t	ts = cc_setup(g, &R, &own);

	/* What the primary could have ordered at 1 instead. */
	encode_order(g, 0, 1, &zero, &q, 1, T_NONE, &g->buf, &other_h);
	assert_memory_not_equal(&other_h, &g->hist, sizeof(zz_digest));
	cc_fill(g, &cc, 0, 1, &other_h, &R, who, 3);
	send_commit(g, CLIENT, ts, &cc);

	assert_no_local_commit(g, 0);
	assert_int_equal(stats(g)->i_hates, 1);
	assert_int_equal(stats(g)->rejected, 0);
	assert_int_equal(count_sent(g, false, ZZ_MSG_I_HATE_THE_PRIMARY), g->p.n - 1);
	s = last_sent(g, false, ZZ_MSG_I_HATE_THE_PRIMARY);
	assert_int_equal(zz_decode_i_hate(s->buf, s->len, &ih), ZZ_OK);
	assert_int_equal(ih.view, 0);
	assert_int_equal(ih.replica, g->id);
	rig_free(g);
}

/* A forged certificate over another history is no evidence against the primary. */
static void
test_cc_conflicting_history_forged_cc_ignored(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	R,
				other_h;
	zz_sig		own;
	zz_commit_cert cc;
	uint32_t	who[3] = {other(g, 0), other(g, 1), other(g, 2)};
	uint64_t	ts = cc_setup(g, &R, &own);

	other_h = g->hist;
	other_h.b[0] ^= 0xff;
	cc_fill(g, &cc, 0, 1, &other_h, &R, who, 3);
	cc.entries[2].sig.b[0] ^= 0x01;
	send_commit(g, CLIENT, ts, &cc);
	assert_no_local_commit(g, 0);
	assert_int_equal(stats(g)->i_hates, 0);
	assert_int_equal(count_sent(g, false, ZZ_MSG_I_HATE_THE_PRIMARY), 0);
	rig_free(g);
}

/*
 * A CC for a seq the replica has not executed is ignored (not counted as
 * rejected); the client's retransmission is answered once it has.
 */
static void
test_cc_unexecuted_seq_ignored_until_executed(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	R,
				h2;
	zz_sig		own;
	zz_commit_cert cc;
	zz_buf		order2;
	uint32_t	who[3] = {other(g, 0), other(g, 1), other(g, 2)};
	rq			q = {CLIENT, 0, "PUT color green"};

	cc_setup(g, &R, &own);
	q.ts = g->next_ts[CLIENT]++;
	zz_buf_init(&order2);
	encode_order(g, 0, 2, &g->hist, &q, 1, T_NONE, &order2, &h2);
	cc_fill(g, &cc, 0, 2, &h2, &R, who, 3);

	send_commit(g, CLIENT, q.ts, &cc);
	assert_no_local_commit(g, 0);
	assert_int_equal(stats(g)->rejected, 0);
	assert_int_equal(stats(g)->i_hates, 0);

	deliver(g, &order2);
	assert_int_equal(status(g).last_executed, 2);
	send_commit(g, CLIENT, q.ts, &cc);
	assert_int_equal(count_sent(g, true, ZZ_MSG_LOCAL_COMMIT), 1);
	assert_int_equal(status(g).committed, 2);
	zz_buf_free(&order2);
	rig_free(g);
}

/* Once its VIEW-CHANGE is out, a replica gives no LOCAL-COMMIT. */
static void
test_cc_no_local_commit_in_view_change(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	R;
	zz_sig		own;
	zz_commit_cert cc;
	uint32_t	k;
	uint64_t	ts = cc_setup(g, &R, &own);

	for (k = 0; k <= g->p.f; k++)
		send_i_hate(g, other(g, k), 0);
	assert_int_equal(status(g).mode, ZZ_MODE_VIEW_CHANGE);
	assert_true(count_sent(g, false, ZZ_MSG_VIEW_CHANGE) > 0);

	cc_valid(g, &cc, &R, &own);
	send_commit(g, CLIENT, ts, &cc);
	assert_no_local_commit(g, 0);
	rig_free(g);
}

/* ------------------------------------------------------------------------
 * Checkpoints (section 7)
 * ------------------------------------------------------------------------ */

/* a = H("zz-cp-state" || service digest || H(client table)), as checkpoint.c documents. */
static void
expected_cp_state(rig *g, zz_digest *out)
{
	static const uint8_t tag[] = "zz-cp-state";
	zz_buf		table;
	zz_digest	svc,
				th;
	zz_iov		iov[3];

	zz_buf_init(&table);
	zz_client_table_serialize(g->r, &table);
	zz_hash(g->signer[0], table.data, table.len, &th);
	zz_kv_digest(g->kv, &svc);
	iov[0].base = tag;
	iov[0].len = sizeof(tag);
	iov[1].base = &svc;
	iov[1].len = sizeof(svc);
	iov[2].base = &th;
	iov[2].len = sizeof(th);
	zz_hashv(g->signer[0], iov, 3, out);
	zz_buf_free(&table);
}

static void
test_checkpoint_sent_every_interval(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp;
	zz_digest	a;

	run_batches(g, CP - 1);
	assert_int_equal(count_sent(g, false, ZZ_MSG_CHECKPOINT), 0);
	run_batches(g, 1);
	assert_true(own_checkpoint(g, CP, &cp));
	assert_int_equal(count_sent(g, false, ZZ_MSG_CHECKPOINT), g->p.n - 1);
	assert_int_equal(cp.seq, CP);
	assert_memory_equal(&cp.history, &g->hist, sizeof(zz_digest));
	{
		zz_replica_status st = status(g);

		assert_memory_equal(&cp.history, &st.history, sizeof(zz_digest));
	}
	expected_cp_state(g, &a);
	assert_memory_equal(&cp.state, &a, sizeof(zz_digest));

	/* The state digest follows the service: a different op, a different a. */
	{
		rig		   *h = rig_new(state);
		zz_checkpoint cp2;

		run_batches(h, CP - 1);
		order_one(h, CLIENT, "ADD hits 2");
		assert_true(own_checkpoint(h, CP, &cp2));
		assert_memory_not_equal(&cp2.state, &cp.state, sizeof(zz_digest));
		rig_free(h);
	}
	rig_free(g);
}

/*
 * 2f+1 matching votes certify a checkpoint; the log truncates at it only
 * when the next one is certified.
 */
static void
test_checkpoint_quorum_certifies_then_truncates_one_interval_later(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp1,
				cp2;
	zz_replica_status st;

	run_batches(g, CP);
	assert_true(own_checkpoint(g, CP, &cp1));
	assert_false(certified(g, CP));
	send_matching_vote(g, other(g, 0), &cp1);
	assert_false(certified(g, CP));
	send_matching_vote(g, other(g, 1), &cp1);
	assert_true(certified(g, CP));

	/* Certified, not yet stable: nothing truncated. */
	st = status(g);
	assert_int_equal(st.stable_seq, 0);
	assert_int_equal(stats(g)->checkpoints_stable, 0);
	assert_int_equal(zz_kv_stable(g->kv), 0);
	assert_int_equal(stats(g)->rejected, 0);

	run_batches(g, CP);
	assert_true(own_checkpoint(g, 2 * CP, &cp2));
	send_matching_vote(g, other(g, 2), &cp2);
	assert_int_equal(status(g).stable_seq, 0);
	send_matching_vote(g, other(g, 0), &cp2);
	assert_true(certified(g, 2 * CP));

	st = status(g);
	assert_int_equal(st.stable_seq, CP);
	assert_memory_equal(&st.stable_state, &cp1.state, sizeof(zz_digest));
	assert_true(st.committed >= CP);
	assert_int_equal(stats(g)->checkpoints_stable, 1);
	assert_int_equal(zz_kv_stable(g->kv), CP);
	rig_free(g);
}

/* The vote for n + cp_interval waits for the certificate of n. */
static void
test_checkpoint_next_vote_waits_for_certificate(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp1,
				cp2;

	run_batches(g, 2 * CP);
	assert_true(own_checkpoint(g, CP, &cp1));
	assert_false(own_checkpoint(g, 2 * CP, &cp2));
	send_matching_vote(g, other(g, 0), &cp1);
	assert_false(own_checkpoint(g, 2 * CP, &cp2));
	send_matching_vote(g, other(g, 1), &cp1);
	assert_true(own_checkpoint(g, 2 * CP, &cp2));
	assert_memory_equal(&cp2.history, &g->hist, sizeof(zz_digest));
	rig_free(g);
}

/* Execute one interval and return the replica's own vote. */
static void
cp_setup(rig *g, zz_checkpoint *cp)
{
	run_batches(g, CP);
	assert_true(own_checkpoint(g, CP, cp));
}

static void
test_checkpoint_vote_bad_signature_not_counted(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp;

	cp_setup(g, &cp);
	send_matching_vote(g, other(g, 0), &cp);
	send_vote(g, other(g, 1), other(g, 1), CP, &cp.history, &cp.state, true);
	assert_int_equal(stats(g)->rejected, 1);
	assert_false(certified(g, CP));
	send_matching_vote(g, other(g, 1), &cp);
	assert_true(certified(g, CP));
	rig_free(g);
}

static void
test_checkpoint_vote_wrong_replica_not_counted(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp;
	uint32_t	a = other(g, 0),
				b = other(g, 1);

	cp_setup(g, &cp);
	send_matching_vote(g, a, &cp);
	/* Signed by a, claiming to be b. */
	send_vote(g, a, b, CP, &cp.history, &cp.state, false);
	/* A replica id out of range (signed with the key of id % n). */
	send_vote(g, b, b + g->p.n, CP, &cp.history, &cp.state, false);
	/* Claiming to be the replica itself, with its own key. */
	send_vote(g, g->id, g->id, CP, &cp.history, &cp.state, false);
	assert_int_equal(stats(g)->rejected, 3);
	assert_false(certified(g, CP));
	send_matching_vote(g, b, &cp);
	assert_true(certified(g, CP));
	rig_free(g);
}

static void
test_checkpoint_vote_mismatched_digest_not_counted(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp;
	zz_digest	bad_state,
				bad_hist;

	cp_setup(g, &cp);
	bad_state = cp.state;
	bad_state.b[0] ^= 1;
	bad_hist = cp.history;
	bad_hist.b[31] ^= 1;
	send_matching_vote(g, other(g, 0), &cp);
	send_vote(g, other(g, 1), other(g, 1), CP, &cp.history, &bad_state, false);
	send_vote(g, other(g, 2), other(g, 2), CP, &bad_hist, &cp.state, false);
	assert_false(certified(g, CP));
	assert_int_equal(status(g).mode, ZZ_MODE_NORMAL);
	/* A later, matching vote from a replica replaces its mismatched one. */
	send_matching_vote(g, other(g, 2), &cp);
	assert_true(certified(g, CP));
	rig_free(g);
}

static void
test_checkpoint_vote_duplicate_not_counted(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp;

	cp_setup(g, &cp);
	send_matching_vote(g, other(g, 0), &cp);
	send_matching_vote(g, other(g, 0), &cp);
	send_matching_vote(g, other(g, 0), &cp);
	assert_false(certified(g, CP));
	send_matching_vote(g, other(g, 1), &cp);
	assert_true(certified(g, CP));
	rig_free(g);
}

/* f+1 matching votes (its own and f others) do not certify, for f = 1 and 2. */
static void
test_checkpoint_f_plus_one_not_enough(void **state)
{
	uint32_t	f;

	for (f = 1; f <= 2; f++)
	{
		rig		   *g = rig_new_f(*(const zz_crypto_mode *) *state, f, RID);
		zz_checkpoint cp;
		uint32_t	k;

		cp_setup(g, &cp);
		for (k = 0; k < f; k++)
			send_matching_vote(g, other(g, k), &cp);
		assert_false(certified(g, CP));
		for (; k < 2 * f - 1; k++)
			send_matching_vote(g, other(g, k), &cp);
		assert_false(certified(g, CP));	/* 2f */
		send_matching_vote(g, other(g, k), &cp);
		assert_true(certified(g, CP));	/* 2f+1 */
		rig_free(g);
	}
}

/*
 * 2f+1 replicas certify a state digest other than the replica's own: it
 * has diverged, and fetches the certified state.
 */
static void
test_checkpoint_divergence_starts_state_transfer(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp;
	zz_digest	theirs;
	zz_state_request q;
	const sent_msg *s;
	uint32_t	k;

	cp_setup(g, &cp);
	theirs = cp.state;
	theirs.b[5] ^= 0x10;
	for (k = 0; k < 2 * g->p.f; k++)
		send_vote(g, other(g, k), other(g, k), CP, &cp.history, &theirs, false);
	assert_int_equal(status(g).mode, ZZ_MODE_NORMAL);
	assert_int_equal(stats(g)->state_transfers, 0);

	send_vote(g, other(g, k), other(g, k), CP, &cp.history, &theirs, false);
	assert_int_equal(status(g).mode, ZZ_MODE_STATE_TRANSFER);
	assert_int_equal(stats(g)->state_transfers, 1);
	assert_false(certified(g, CP));

	/* It asks one of the certificate's signers for the state. */
	s = last_sent(g, false, ZZ_MSG_STATE_REQUEST);
	assert_non_null(s);
	assert_int_not_equal(s->dest, g->id);
	assert_int_equal(zz_decode_state_request(s->buf, s->len, &q), ZZ_OK);
	assert_int_equal(q.replica, g->id);
	assert_int_equal(q.seq, CP);
	rig_free(g);
}

/*
 * A replica that cannot build its VIEW-CHANGE (ZZ_FAULT_VC_BUILD_FAILS
 * stands for running out of memory) still leaves the view, silent: in the
 * middle of a state transfer, putting the transfer aside must not leave it
 * in normal mode of a view f+1 replicas have left.
 */
static void
test_view_change_build_failure_leaves_view(void **state)
{
	for (int transfer = 0; transfer <= 1; transfer++)
	{
		rig		   *g = rig_new(state);
		zz_checkpoint cp;
		zz_digest	theirs;
		uint32_t	k;

		cp_setup(g, &cp);
		if (transfer)
		{
			theirs = cp.state;
			theirs.b[5] ^= 0x10;
			for (k = 0; k < 2 * g->p.f + 1; k++)
				send_vote(g, other(g, k), other(g, k), CP, &cp.history, &theirs, false);
			assert_int_equal(status(g).mode, ZZ_MODE_STATE_TRANSFER);
		}
		zz_replica_set_bugs(g->r, ZZ_FAULT_VC_BUILD_FAILS);
		for (k = 0; k <= g->p.f; k++)
			send_i_hate(g, other(g, k), 0);
		assert_int_equal(status(g).mode, ZZ_MODE_VIEW_CHANGE);
		assert_int_equal(count_sent(g, false, ZZ_MSG_VIEW_CHANGE), 0);
		rig_free(g);
	}
}

/* ------------------------------------------------------------------------
 * Recovery: resume from a kept stable checkpoint, repair (issue 6)
 * ------------------------------------------------------------------------ */

/*
 * A replica far behind: votes for checkpoints it cannot reach fill every
 * slot it tracks; a certificate higher still must get through (it is what
 * a state transfer needs), not be dropped for want of a slot.
 */
static void
test_lagging_replica_certifies_far_checkpoint(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	h,
				st;
	zz_seq		far = (ZZ_CP_SLOTS + 4) * (zz_seq) CP;
	uint32_t	k;

	memset(&h, 0x11, sizeof(h));
	memset(&st, 0x22, sizeof(st));
	for (k = 1; k <= ZZ_CP_SLOTS; k++)
		send_vote(g, other(g, 0), other(g, 0), k * (zz_seq) CP, &h, &st, false);
	assert_int_equal(status(g).mode, ZZ_MODE_NORMAL);
	for (k = 0; k < 2 * g->p.f + 1; k++)
		send_vote(g, other(g, k), other(g, k), far, &h, &st, false);
	assert_int_equal(status(g).mode, ZZ_MODE_STATE_TRANSFER);
	assert_int_equal(status(g).transfer_seq, far);
	assert_non_null(last_sent(g, false, ZZ_MSG_STATE_REQUEST));
	rig_free(g);
}

/* Bring the replica under test to a stable checkpoint at CP. */
static void
stable_setup(rig *g, zz_checkpoint *cp1)
{
	zz_checkpoint cp2;

	run_batches(g, CP);
	assert_true(own_checkpoint(g, CP, cp1));
	send_matching_vote(g, other(g, 0), cp1);
	send_matching_vote(g, other(g, 1), cp1);
	run_batches(g, CP);
	assert_true(own_checkpoint(g, 2 * CP, &cp2));
	send_matching_vote(g, other(g, 0), &cp2);
	send_matching_vote(g, other(g, 1), &cp2);
	assert_int_equal(status(g).stable_seq, CP);
}

/*
 * What a shell keeps at a stable checkpoint lets a fresh replica start
 * there: same stable checkpoint, same state digest, same client table.
 */
static void
test_resume_from_saved_stable_checkpoint(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp1;
	zz_buf		blob,
				t1,
				t2;
	zz_replica *fresh;
	zz_kvservice *kv;
	zz_replica_status st;

	stable_setup(g, &cp1);
	zz_buf_init(&blob);
	assert_false(zz_replica_save_stable(g->r, 2 * CP, &blob));	/* not stable */
	assert_true(zz_replica_save_stable(g->r, CP, &blob));

	kv = zz_kv_create();
	fresh = zz_replica_create(&g->p, g->id, g->rcrypto, zz_kv_service(kv), &g->ios[g->id]);
	assert_non_null(fresh);
	assert_true(zz_replica_resume(fresh, g->now, blob.data, blob.len));
	zz_replica_get_status(fresh, &st);
	assert_int_equal(st.stable_seq, CP);
	assert_int_equal(st.last_executed, CP);
	assert_int_equal(st.max_seq, CP);
	assert_int_equal(st.mode, ZZ_MODE_NORMAL);
	assert_memory_equal(&st.stable_state, &cp1.state, sizeof(zz_digest));
	assert_memory_equal(&st.history, &cp1.history, sizeof(zz_digest));
	assert_int_equal(zz_kv_stable(kv), CP);	/* the service heard of it */

	/* the client table is the one of the checkpoint */
	zz_buf_init(&t1);
	zz_buf_init(&t2);
	zz_client_table_serialize(fresh, &t2);
	assert_true(t2.len > 0);
	{
		/* the kept blob's table: after the service digest and its length */
		zz_state_reply m;
		uint32_t	tl;

		/* a STATE-REPLY, then the view and a mark */
		assert_int_equal(zz_decode_state_reply(blob.data, blob.len - 12, &m), ZZ_OK);
		memcpy(&tl, m.state + sizeof(zz_digest), 4);
		assert_int_equal(tl, t2.len);
		assert_memory_equal(m.state + sizeof(zz_digest) + 4, t2.data, tl);
	}

	/* only a fresh replica resumes */
	assert_false(zz_replica_resume(fresh, g->now, blob.data, blob.len));
	assert_false(zz_replica_resume(g->r, g->now, blob.data, blob.len));
	zz_replica_free(fresh);
	zz_kv_free(kv);
	zz_buf_free(&t1);
	zz_buf_free(&t2);
	zz_buf_free(&blob);
	rig_free(g);
}

/*
 * A replica restarted with its own speculative history above the stable
 * checkpoint (zz_replica_resume_history): the stored ORDER-REQs come back
 * as its log, executed again, in the highest view it knew.  A stored
 * ORDER-REQ that does not verify as if it came from the network
 * (signature flipped, unsigned, from another history, a gap) ends the
 * history there; what follows is not taken either.
 */
static void
test_resume_history_reinstates_own_batches(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp1;
	zz_buf		blob,
				ob[CP],
				none;
	zz_kept_order k[CP];
	zz_replica_status before;

	stable_setup(g, &cp1);
	before = status(g);
	assert_int_equal(before.last_executed, 2 * CP);
	zz_buf_init(&blob);
	zz_buf_init(&none);
	assert_true(zz_replica_save_stable(g->r, CP, &blob));
	for (uint32_t i = 0; i < CP; i++)
	{
		zz_buf_init(&ob[i]);
		assert_true(zz_replica_save_order(g->r, CP + 1 + i, &ob[i]));
		k[i].buf = ob[i].data;
		k[i].len = ob[i].len;
	}
	/* only what the log holds */
	assert_false(zz_replica_save_order(g->r, 2 * CP + 1, &none));
	assert_false(zz_replica_save_order(g->r, CP, &none));

	/*
	 * case 0: all of it, in view 0; 1: the view kept through keep_view is
	 * higher; 2: a signature flipped; 3: unsigned; 4: a correctly signed
	 * ORDER-REQ of another history; 5: a gap; 6: bytes that do not decode
	 */
	for (int c = 0; c <= 6; c++)
	{
		zz_kvservice *kv = zz_kv_create();
		zz_replica *fresh;
		zz_replica_status st;
		zz_kept_order kk[CP];
		zz_buf		bad;
		zz_order_req m;
		zz_seq		until = 0,
					expect = 2 * CP;
		uint32_t	nk = CP;
		const uint32_t at = 2;	/* the stored batch the bad cases spoil */

		memcpy(kk, k, sizeof(kk));
		zz_buf_init(&bad);
		if (c == 2 || c == 3)
		{
			assert_int_equal(zz_decode_order_req(k[at].buf, k[at].len, &m), ZZ_OK);
			if (c == 2)
				m.hdr.sig.b[5] ^= 0x10;
			else
				memset(&m.hdr.sig, 0, sizeof(m.hdr.sig));
			assert_true(zz_encode_order_req(&bad, &m));
			zz_order_req_release(&m);
		}
		else if (c == 4)
		{
			rq			q = {CLIENT, 999, "ADD other 1"};

			encode_order(g, 0, CP + 1 + at, &cp1.history, &q, 1, T_NONE, &bad, NULL);
		}
		if (c >= 2 && c <= 4)
		{
			kk[at].buf = bad.data;
			kk[at].len = bad.len;
			expect = CP + at;
		}
		else if (c == 5)
		{
			memmove(&kk[at], &kk[at + 1], sizeof(kk[0]) * (CP - at - 1));
			nk = CP - 1;
			expect = CP + at;
		}
		else if (c == 6)
		{
			kk[at].len = 7;
			expect = CP + at;
		}

		fresh = zz_replica_create(&g->p, g->id, g->rcrypto, zz_kv_service(kv), &g->ios[g->id]);
		assert_non_null(fresh);
		assert_true(zz_replica_resume_history(fresh, g->now, blob.data, blob.len, kk, nk,
											  c == 1 ? 3 : 0, &until));
		assert_int_equal(until, expect);
		zz_replica_get_status(fresh, &st);
		assert_int_equal(st.stable_seq, CP);
		assert_int_equal(st.max_seq, expect);
		assert_int_equal(st.last_executed, expect);	/* the kv executes at once */
		assert_int_equal(st.view, c == 1 ? 3 : 0);
		assert_int_equal(st.mode, ZZ_MODE_NORMAL);
		if (expect == 2 * CP)
			assert_memory_equal(&st.history, &before.history, sizeof(zz_digest));
		assert_null(zz_replica_check(fresh));
		/* only a fresh replica resumes */
		assert_false(zz_replica_resume_history(fresh, g->now, blob.data, blob.len, kk, nk,
											   0, NULL));
		zz_replica_free(fresh);
		zz_kv_free(kv);
		zz_buf_free(&bad);
	}

	/* a checkpoint that does not verify: nothing at all */
	{
		zz_kvservice *kv = zz_kv_create();
		zz_replica *fresh = zz_replica_create(&g->p, g->id, g->rcrypto, zz_kv_service(kv),
											  &g->ios[g->id]);
		zz_replica_status st;

		assert_false(zz_replica_resume_history(fresh, g->now, blob.data, blob.len - 20, k, CP,
											   0, NULL));
		zz_replica_get_status(fresh, &st);
		assert_int_equal(st.max_seq, 0);
		zz_replica_free(fresh);
		zz_kv_free(kv);
	}
	for (uint32_t i = 0; i < CP; i++)
		zz_buf_free(&ob[i]);
	zz_buf_free(&none);
	zz_buf_free(&blob);
	rig_free(g);
}

/*
 * A kept checkpoint that does not verify is refused: a changed client
 * table (the digest no longer matches what 2f+1 signed), a proof with too
 * few signatures, another replica's, truncated bytes.
 */
static void
test_resume_refuses_bad_checkpoint(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp1;
	zz_buf		blob,
				bad;
	zz_state_reply m;
	uint8_t    *copy;

	stable_setup(g, &cp1);
	zz_buf_init(&blob);
	assert_true(zz_replica_save_stable(g->r, CP, &blob));

	for (int c = 0; c < 5; c++)
	{
		zz_replica *fresh;
		zz_kvservice *kv = zz_kv_create();
		size_t		len = blob.len;

		zz_buf_init(&bad);
		assert_int_equal(zz_decode_state_reply(blob.data, blob.len - 12, &m), ZZ_OK);
		copy = malloc(m.state_len);
		assert_non_null(copy);
		memcpy(copy, m.state, m.state_len);
		m.state = copy;
		switch (c)
		{
			case 0:			/* a byte of the client table */
				copy[m.state_len - 1] ^= 1;
				break;
			case 1:			/* the service digest */
				copy[3] ^= 1;
				break;
			case 2:			/* fewer than 2f+1 signers */
				m.cp.count = 2 * g->p.f;
				break;
			case 3:			/* another replica's */
				m.replica = other(g, 0);
				break;
			case 4:			/* truncated */
				break;
		}
		assert_true(zz_encode_state_reply(&bad, &m));
		if (c == 4)
			len = bad.len - 3;
		else
			len = bad.len;
		fresh = zz_replica_create(&g->p, g->id, g->rcrypto, zz_kv_service(kv), &g->ios[g->id]);
		assert_false(zz_replica_resume(fresh, g->now, bad.data, len));
		assert_int_equal(status(g).stable_seq, CP);
		{
			zz_replica_status st;

			zz_replica_get_status(fresh, &st);
			assert_int_equal(st.stable_seq, 0);
			assert_int_equal(st.last_executed, 0);
		}
		zz_replica_free(fresh);
		zz_kv_free(kv);
		free(copy);
		zz_buf_free(&bad);
	}
	zz_buf_free(&blob);
	rig_free(g);
}

/*
 * A service that finds its state corrupt: the replica stops answering
 * (state transfer mode) and asks a signer of its highest certificate for
 * that checkpoint, even though it is its own stable one.
 */
static void
test_repair_fetches_highest_certified_checkpoint(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp1;
	zz_state_request q;
	const sent_msg *s;
	zz_replica_status st;
	size_t		before;

	stable_setup(g, &cp1);
	before = count_sent(g, false, ZZ_MSG_STATE_REQUEST);
	zz_replica_repair(g->r, g->now);
	st = status(g);
	assert_int_equal(st.mode, ZZ_MODE_STATE_TRANSFER);
	assert_true(st.repairing);
	assert_int_equal(st.transfer_seq, 2 * CP);
	assert_int_equal(stats(g)->repairs, 1);
	assert_int_equal(count_sent(g, false, ZZ_MSG_STATE_REQUEST), before + 1);
	s = last_sent(g, false, ZZ_MSG_STATE_REQUEST);
	assert_int_not_equal(s->dest, g->id);
	assert_int_equal(zz_decode_state_request(s->buf, s->len, &q), ZZ_OK);
	assert_int_equal(q.seq, 2 * CP);

	/* while repairing it neither serves its state nor orders requests */
	{
		zz_state_request m;

		memset(&m, 0, sizeof(m));
		m.replica = other(g, 0);
		m.seq = CP;
		zz_buf_reset(&g->sigbuf);
		zz_state_request_signing_bytes(&g->sigbuf, &m);
		zz_sign(g->signer[m.replica], g->sigbuf.data, g->sigbuf.len, &m.sig);
		zz_buf_reset(&g->buf);
		zz_encode_state_request(&g->buf, &m);
		before = count_sent(g, false, ZZ_MSG_STATE_REPLY);
		zz_replica_receive(g->r, g->now, g->buf.data, g->buf.len);
		assert_int_equal(count_sent(g, false, ZZ_MSG_STATE_REPLY), before);
	}
	rig_free(g);
}

/* ------------------------------------------------------------------------
 * Flow control (section 2)
 * ------------------------------------------------------------------------ */

static void
test_order_req_beyond_window_refused(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp1,
				cp2;
	zz_buf		next;
	zz_digest	h;
	rq			q = {CLIENT, 0, "ADD hits 1"};
	size_t		answered;

	run_batches(g, 2 * CP);		/* the window (0, 2 x cp_interval] is full */
	q.ts = g->next_ts[CLIENT]++;
	zz_buf_init(&next);
	encode_order(g, 0, 2 * CP + 1, &g->hist, &q, 1, T_NONE, &next, &h);
	answered = count_sent(g, true, ZZ_MSG_SPEC_RESPONSE);
	deliver(g, &next);
	assert_int_equal(status(g).max_seq, 2 * CP);
	assert_int_equal(status(g).last_executed, 2 * CP);
	assert_int_equal(stats(g)->requests_executed, 2 * CP);
	assert_int_equal(count_sent(g, true, ZZ_MSG_SPEC_RESPONSE), answered);

	/* Certifying cp_interval does not move the window: stability does. */
	assert_true(own_checkpoint(g, CP, &cp1));
	send_matching_vote(g, other(g, 0), &cp1);
	send_matching_vote(g, other(g, 1), &cp1);
	assert_true(certified(g, CP));
	deliver(g, &next);
	assert_int_equal(status(g).max_seq, 2 * CP);

	assert_true(own_checkpoint(g, 2 * CP, &cp2));
	send_matching_vote(g, other(g, 0), &cp2);
	send_matching_vote(g, other(g, 1), &cp2);
	assert_int_equal(status(g).stable_seq, CP);
	deliver(g, &next);
	assert_int_equal(status(g).max_seq, 2 * CP + 1);
	assert_int_equal(status(g).last_executed, 2 * CP + 1);
	assert_int_equal(count_sent(g, true, ZZ_MSG_SPEC_RESPONSE), answered + 1);
	zz_buf_free(&next);
	rig_free(g);
}

/* ------------------------------------------------------------------------
 * ORDER-REQ acceptance (section 4 step 3)
 * ------------------------------------------------------------------------ */

static void
test_order_req_valid_executed_and_answered(void **state)
{
	rig		   *g = rig_new(state);
	zz_spec_response m;
	zz_digest	d,
				leaf,
				root;
	uint64_t	ts = order_one(g, CLIENT, "PUT color blue");
	const uint8_t *val;
	uint32_t	vlen;

	assert_int_equal(stats(g)->batches_executed, 1);
	assert_int_equal(stats(g)->requests_executed, 1);
	assert_int_equal(stats(g)->spec_responses, 1);
	assert_int_equal(count_sent(g, true, ZZ_MSG_SPEC_RESPONSE), 1);
	last_spec_response(g, CLIENT, &m);
	assert_int_equal(m.view, 0);
	assert_int_equal(m.seq, 1);
	assert_memory_equal(&m.history, &g->hist, sizeof(zz_digest));
	assert_int_equal(m.replica, g->id);
	assert_int_equal(m.client, CLIENT);
	assert_int_equal(m.timestamp, ts);
	assert_int_equal(m.reply_len, 2);
	assert_memory_equal(m.reply, "OK", 2);
	zz_spec_response_mac_digest(g->client[CLIENT], &m, &d);
	assert_true(zz_mac_check(g->client[CLIENT], g->id, &d, &m.mac));
	/* The signed core (v, n, h_n, R), with R the root over this reply. */
	zz_reply_leaf(g->client[CLIENT], CLIENT, ts, m.reply, m.reply_len, &leaf);
	zz_merkle_root(g->client[CLIENT], &leaf, 1, &root);
	assert_memory_equal(&m.reply_root, &root, sizeof(zz_digest));
	zz_response_core_signing_bytes(&g->sigbuf, 0, 1, &g->hist, &m.reply_root);
	assert_true(zz_verify(g->client[CLIENT], g->id, g->sigbuf.data, g->sigbuf.len,
						  &m.core_sig));
	assert_true(zz_kv_get(g->kv, "color", 5, &val, &vlen));
	assert_int_equal(vlen, 4);
	assert_memory_equal(val, "blue", 4);
	assert_int_equal(status(g).max_seq, 1);
	{
		zz_replica_status st = status(g);

		assert_memory_equal(&st.history, &g->hist, sizeof(zz_digest));
	}
	assert_int_equal(stats(g)->rejected, 0);
	rig_free(g);
}

/*
 * Deliver the next ORDER-REQ spoiled by tamper (in view v) and check it
 * was refused: nothing accepted, executed or answered, and `rejected`
 * counted as expected.  Then the unspoiled ORDER-REQ is accepted.
 */
static void
expect_order_refused(void **state, zz_view v, unsigned tamper, uint64_t rejected)
{
	rig		   *g = rig_new(state);
	rq			q = {CLIENT, 1, "PUT color blue"};
	zz_digest	h;
	zz_replica_status st;

	encode_order(g, v, 1, &g->hist, &q, 1, tamper, &g->buf, &h);
	deliver(g, &g->buf);
	st = status(g);
	assert_int_equal(st.max_seq, 0);
	assert_int_equal(st.last_executed, 0);
	assert_int_equal(stats(g)->batches_executed, 0);
	assert_int_equal(stats(g)->requests_executed, 0);
	assert_int_equal(count_sent(g, true, ZZ_MSG_SPEC_RESPONSE), 0);
	assert_int_equal(zz_kv_count(g->kv), 0);
	assert_int_equal(stats(g)->rejected, rejected);

	order_one(g, CLIENT, "PUT color blue");
	assert_int_equal(count_sent(g, true, ZZ_MSG_SPEC_RESPONSE), 1);
	rig_free(g);
}

/* An ORDER-REQ of another view (here view 1, signed by its primary). */
static void
test_order_req_wrong_view_refused(void **state)
{
	expect_order_refused(state, 1, T_NONE, 0);
}

static void
test_order_req_wrong_primary_signature_refused(void **state)
{
	expect_order_refused(state, 0, T_WRONG_SIGNER, 1);
	expect_order_refused(state, 0, T_FLIP_SIG, 1);
}

static void
test_order_req_broken_history_refused(void **state)
{
	expect_order_refused(state, 0, T_BAD_HISTORY, 1);
}

/*
 * d in the header is not H(batch): with h_n chained from the true d (only
 * the batch digest check catches it), and chained from the false d.
 */
static void
test_order_req_batch_digest_mismatch_refused(void **state)
{
	expect_order_refused(state, 0, T_BAD_BATCH_DIGEST, 1);
	expect_order_refused(state, 0, T_BAD_BATCH_CHAINED, 1);
}

static void
test_order_req_bad_request_mac_refused(void **state)
{
	expect_order_refused(state, 0, T_BAD_MAC, 1);
}

/* A history chained from the wrong predecessor is refused at seq 2 too. */
static void
test_order_req_history_must_chain_from_previous(void **state)
{
	rig		   *g = rig_new(state);
	rq			q = {CLIENT, 0, "ADD hits 1"};
	zz_digest	h,
				zero = {{0}};

	run_batches(g, 1);
	q.ts = g->next_ts[CLIENT]++;
	encode_order(g, 0, 2, &zero, &q, 1, T_NONE, &g->buf, &h);
	clear_sent(g);
	deliver(g, &g->buf);
	assert_int_equal(status(g).max_seq, 1);
	assert_int_equal(count_sent(g, true, ZZ_MSG_SPEC_RESPONSE), 0);
	assert_int_equal(stats(g)->rejected, 1);
	rig_free(g);
}

/* ------------------------------------------------------------------------
 * Exactly-once (section 2, section 5)
 * ------------------------------------------------------------------------ */

static void
test_same_request_ordered_twice_executes_once(void **state)
{
	rig		   *g = rig_new(state);
	rq			q = {CLIENT, 1, "ADD hits 5"};
	zz_digest	h;
	const uint8_t *val;
	uint32_t	vlen;

	encode_order(g, 0, 1, &g->hist, &q, 1, T_NONE, &g->buf, &h);
	deliver(g, &g->buf);
	g->hist = h;
	encode_order(g, 0, 2, &g->hist, &q, 1, T_NONE, &g->buf, &h);
	deliver(g, &g->buf);

	/* Both ORDER-REQs are accepted; the request runs once. */
	assert_int_equal(status(g).last_executed, 2);
	{
		zz_replica_status st = status(g);

		assert_memory_equal(&st.history, &h, sizeof(zz_digest));
	}
	assert_int_equal(stats(g)->batches_executed, 2);
	assert_int_equal(stats(g)->requests_executed, 1);
	assert_int_equal(stats(g)->spec_responses, 1);
	assert_int_equal(count_sent(g, true, ZZ_MSG_SPEC_RESPONSE), 1);
	assert_true(zz_kv_get(g->kv, "hits", 4, &val, &vlen));
	assert_int_equal(vlen, 1);
	assert_memory_equal(val, "5", 1);
	rig_free(g);
}

static void
test_retransmitted_request_gets_cached_reply(void **state)
{
	rig		   *g = rig_new(state);
	rq			q = {CLIENT, 0, "ADD hits 5"};
	zz_request	req;
	const sent_msg *first;
	uint8_t    *first_bytes;
	size_t		first_len;
	const sent_msg *again;

	q.ts = order_one(g, CLIENT, q.op);
	first = last_sent(g, true, ZZ_MSG_SPEC_RESPONSE);
	assert_non_null(first);
	first_len = first->len;
	first_bytes = malloc(first_len);
	assert_non_null(first_bytes);
	memcpy(first_bytes, first->buf, first_len);
	clear_sent(g);

	make_request(g, &q, &req, T_NONE);
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_request(&g->buf, &req));
	deliver(g, &g->buf);

	assert_int_equal(g->n_sent, 1);
	again = last_sent(g, true, ZZ_MSG_SPEC_RESPONSE);
	assert_non_null(again);
	assert_int_equal(again->dest, CLIENT);
	assert_int_equal(again->len, first_len);
	assert_memory_equal(again->buf, first_bytes, first_len);
	assert_int_equal(stats(g)->cached_replies, 1);
	assert_int_equal(stats(g)->requests_executed, 1);
	assert_int_equal(stats(g)->confirm_reqs, 0);

	/* Same (client, t), different operation: not the request that ran. */
	clear_sent(g);
	q.op = "ADD hits 6";
	make_request(g, &q, &req, T_NONE);
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_request(&g->buf, &req));
	deliver(g, &g->buf);
	assert_int_equal(g->n_sent, 0);
	assert_int_equal(stats(g)->cached_replies, 1);
	assert_int_equal(stats(g)->requests_executed, 1);
	free(first_bytes);
	rig_free(g);
}

/* ------------------------------------------------------------------------
 * A small cluster: every replica real, the network in the test's hands
 * ------------------------------------------------------------------------ */

/* Start the other replicas of the rig, so they talk to each other. */
static void
rig_add_peers(rig *g)
{
	uint32_t	i;

	for (i = 0; i < g->p.n; i++)
		if (g->rr[i] == NULL)
			rig_start_replica(g, i);
}

static void
deliver_to(rig *g, uint32_t i, const zz_buf *b)
{
	g->now += 10;
	zz_replica_receive(g->rr[i], g->now, b->data, b->len);
}

/* Which replica-to-replica messages the network loses. */
typedef bool (*drop_fn) (const sent_msg *m);

/*
 * Deliver every replica-bound message sent since the last pump, in the
 * order sent (and what those provoke), unless drop says it is lost.
 */
static void
pump(rig *g, drop_fn drop)
{
	while (g->pumped < g->n_sent)
	{
		sent_msg	m = g->sent[g->pumped++];	/* g->sent may move */

		if (m.to_client || m.dest >= g->p.n || g->rr[m.dest] == NULL ||
			(drop != NULL && drop(&m)))
			continue;
		g->now += 1;
		zz_replica_receive(g->rr[m.dest], g->now, m.buf, m.len);
	}
}

static void
tick_all(rig *g, zz_time now, drop_fn drop)
{
	uint32_t	i;

	g->now = now;
	for (i = 0; i < g->p.n; i++)
		if (g->rr[i] != NULL)
			zz_replica_tick(g->rr[i], now);
	pump(g, drop);
}

static zz_replica_status
status_of(const rig *g, uint32_t i)
{
	zz_replica_status st;

	zz_replica_get_status(g->rr[i], &st);
	return st;
}

/* The last SPEC-RESPONSE replica `from` sent, decoded (buffer outlives m). */
static void
spec_response_from(const rig *g, uint32_t from, zz_spec_response *m)
{
	size_t		i;

	for (i = g->n_sent; i > 0; i--)
	{
		const sent_msg *s = &g->sent[i - 1];

		if (s->from == from && s->to_client && s->type == ZZ_MSG_SPEC_RESPONSE)
		{
			assert_int_equal(zz_decode_spec_response(s->buf, s->len, m), ZZ_OK);
			return;
		}
	}
	fail_msg("R%u sent no SPEC-RESPONSE", from);
}

/*
 * The faulty primary R0 never answers CONFIRM-REQs, R3 never gets a from
 * anyone (the FILL-HOLEs a CONFIRM-REQ timeout sends to every replica are
 * lost), and R2's VIEW-CHANGE reaches the new primary R1 too late to be in
 * its NEW-VIEW.
 */
static bool
drop_stale_cc_schedule(const sent_msg *m)
{
	return m->type == ZZ_MSG_CONFIRM_REQ || m->type == ZZ_MSG_FILL_HOLE ||
		(m->type == ZZ_MSG_VIEW_CHANGE && m->from == 2 && m->dest == 1);
}

/*
 * Regression (see the
 * report that came with this test): a valid commit certificate from an
 * earlier view that conflicts with the current view's history makes a
 * replica hate the current primary, though that primary did nothing
 * wrong: the view change legitimately dropped the uncompleted request
 * the old certificate is for.  on_commit hates on any valid conflicting
 * CC, whatever its view.
 *
 * Schedule (f = 1, R0 faulty; the rest of the cluster is real replicas):
 *  1. View 0: R0 signs ORDER-REQ(a) at n=1 and shows it to R1 and R2 only.
 *     Client C1 gets SPEC-RESPONSEs from R0, R1, R2 and builds CC_a.
 *  2. C1 retransmits a; R3's CONFIRM-REQ to R0 goes unanswered, R3 hates
 *     R0, and R0 sends I-HATE too: view change to 1.  R1's NEW-VIEW uses
 *     the VIEW-CHANGEs of R0, R1, R3: a appears once (< f+1), no CC, so
 *     slot 1 is left open and R1, R2 roll a back.  Everyone enters view 1.
 *  3. View 1: the correct primary R1 orders b at n=1; all execute it.
 *  4. C1's retransmission timer resends its pending COMMIT(CC_a) to all
 *     (client.c resends a pending COMMIT with every retransmission).
 * Expected: no replica hates R1 (CC_a is view-0 evidence; R1 never signed
 * anything conflicting) and view 1 goes on.  Actual: every replica sends
 * I-HATE-THE-PRIMARY(1), and with f+1 of them view 1 is torn down.  A
 * faulty client holding such a certificate can repeat this in every view.
 */
static void
test_stale_cc_from_old_view_does_not_hate_new_primary(void **state)
{
	rig		   *g;
	rq			a = {CLIENT, 1, "PUT x a"},
				b = {CLIENT + 1, 1, "PUT x b"};
	zz_digest	zero = {{0}},
				h_a,
				h_b;
	zz_commit_cert cc_a;
	zz_spec_response m;
	zz_request	req;
	uint32_t	who[3] = {0, 1, 2};
	uint64_t	hates_before[ZZ_MAX_N];
	uint32_t	i;
	int			bugs = 0;

	g = rig_new(state);
	assert_int_equal(g->id, 2);
	rig_add_peers(g);

	/* 1. View 0: a at n=1, shown to R1 and R2 only; CC_a from R0, R1, R2. */
	encode_order(g, 0, 1, &zero, &a, 1, T_NONE, &g->buf, &h_a);
	deliver_to(g, 1, &g->buf);
	deliver_to(g, 2, &g->buf);
	assert_int_equal(status_of(g, 1).last_executed, 1);
	assert_int_equal(status_of(g, 2).last_executed, 1);
	spec_response_from(g, 2, &m);
	cc_fill(g, &cc_a, 0, 1, &h_a, &m.reply_root, who, 3);
	for (i = 1; i <= 2; i++)
	{
		zz_spec_response mi;

		/* CC_a's entries are exactly R1's and R2's signed response cores. */
		spec_response_from(g, i, &mi);
		assert_memory_equal(&mi.core_sig, &cc_a.entries[i].sig, sizeof(zz_sig));
	}

	/* 2. The view change to 1 drops a. */
	make_request(g, &a, &req, T_NONE);
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_request(&g->buf, &req));
	for (i = 1; i < g->p.n; i++)
		deliver_to(g, i, &g->buf);
	pump(g, drop_stale_cc_schedule);
	tick_all(g, g->now + g->p.confirm_timeout + 1, drop_stale_cc_schedule);
	assert_int_equal(zz_replica_get_stats(g->rr[3])->i_hates, 1);
	for (i = 0; i < g->p.n; i++)
	{
		zz_i_hate	ih;

		memset(&ih, 0, sizeof(ih));
		ih.view = 0;
		ih.replica = 0;
		zz_i_hate_signing_bytes(&g->sigbuf, 0, 0);
		assert_true(zz_sign(g->signer[0], g->sigbuf.data, g->sigbuf.len, &ih.sig));
		zz_buf_reset(&g->buf);
		assert_true(zz_encode_i_hate(&g->buf, &ih));
		deliver_to(g, i, &g->buf);
	}
	pump(g, drop_stale_cc_schedule);
	for (i = 0; i < g->p.n; i++)
	{
		zz_replica_status st = status_of(g, i);

		assert_int_equal(st.view, 1);
		assert_int_equal(st.mode, ZZ_MODE_NORMAL);
		assert_int_equal(st.last_executed, 0);
	}

	/* 3. View 1: R1 orders b at n=1. */
	make_request(g, &b, &req, T_NONE);
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_request(&g->buf, &req));
	deliver_to(g, 1, &g->buf);
	tick_all(g, g->now + g->p.batch_timeout + 1, drop_stale_cc_schedule);
	h_b = status_of(g, 1).history;
	assert_memory_not_equal(&h_a, &h_b, sizeof(zz_digest));
	for (i = 0; i < g->p.n; i++)
	{
		zz_replica_status st = status_of(g, i);

		assert_int_equal(st.last_executed, 1);
		assert_memory_equal(&st.history, &h_b, sizeof(zz_digest));
		hates_before[i] = zz_replica_get_stats(g->rr[i])->i_hates;
	}

	/* 4. C1 resends its pending COMMIT(CC_a). */
	memset(&req, 0, sizeof(req));
	{
		zz_commit	c;

		memset(&c, 0, sizeof(c));
		c.client = CLIENT;
		c.timestamp = a.ts;
		c.cc = cc_a;
		zz_buf_reset(&g->buf);
		assert_true(zz_encode_commit(&g->buf, &c));
	}
	for (i = 0; i < g->p.n; i++)
		deliver_to(g, i, &g->buf);
	pump(g, drop_stale_cc_schedule);
	for (i = 0; i < g->p.n; i++)
	{
		zz_replica_status st = status_of(g, i);

		if (zz_replica_get_stats(g->rr[i])->i_hates != hates_before[i] ||
			st.view != 1 || st.mode != ZZ_MODE_NORMAL)
		{
			print_message("CORE BUG: R%u hates the primary of view 1 over a view-0 CC "
						  "(i_hates %llu -> %llu, now view %llu mode %d)\n", i,
						  (unsigned long long) hates_before[i],
						  (unsigned long long) zz_replica_get_stats(g->rr[i])->i_hates,
						  (unsigned long long) st.view, (int) st.mode);
			bugs++;
		}
	}
	rig_free(g);
	if (bugs > 0)
		fail_msg("CORE BUG: a CC from an older view deposed a correct primary "
				 "(%d replicas above)", bugs);
}

/* R0 has gone silent: the network loses everything it sends. */
static bool r0_silent;

static bool
drop_rolled_back_cc_schedule(const sent_msg *m)
{
	return drop_stale_cc_schedule(m) || (r0_silent && m->from == 0);
}

static void
send_i_hate_to(rig *g, uint32_t from, zz_view v, uint32_t to)
{
	zz_i_hate	ih;

	memset(&ih, 0, sizeof(ih));
	ih.view = v;
	ih.replica = from;
	zz_i_hate_signing_bytes(&g->sigbuf, v, from);
	assert_true(zz_sign(g->signer[from], g->sigbuf.data, g->sigbuf.len, &ih.sig));
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_i_hate(&g->buf, &ih));
	deliver_to(g, to, &g->buf);
}

static void
encode_request(rig *g, const rq *q)
{
	zz_request	req;

	make_request(g, q, &req, T_NONE);
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_request(&g->buf, &req));
}

/*
 * Regression: a replica
 * keeps its max commit certificate when a view change rolls its history
 * back below it (zz_rollback_to never clears has_cc).  docs/protocol.md
 * section 8: a CC whose prefix conflicts with the selected history
 * cannot have completed and is dropped.  The stale CC then (a) makes the
 * replica report the new, different entry as committed, (b) lets it send
 * LOCAL-COMMIT for a forged certificate (on_commit skips validation when
 * max_cc.seq >= the certificate's seq), and (c) makes its next
 * VIEW-CHANGE invalid (the CC is not inside the history it reports), so
 * every peer rejects it; with the one faulty replica silent there are
 * then never 2f+1 valid VIEW-CHANGEs, and the cluster cannot change view.
 *
 * Schedule (f = 1, R0 faulty):
 *  1. View 0: R0 signs ORDER-REQ(a) at n=1 for R1 and R2 only; C1 builds
 *     CC_a from R0, R1, R2 and its COMMIT reaches R2 only: R2 adopts CC_a
 *     and answers LOCAL-COMMIT (a is not complete: one LOCAL-COMMIT).
 *  2. View change to 1 as in the test above: R1's NEW-VIEW uses R0, R1,
 *     R3 (R2's VIEW-CHANGE, which carries CC_a, arrives late); a is
 *     dropped; R2 rolls it back.
 *  3. View 1: R1 orders b at n=1; all execute it.  R0 goes silent.
 *  4. A forged COMMIT for (1, 1, h_b) with bad signatures reaches R2.
 *  5. R3 times out on a CONFIRM-REQ to R1 and R0 sends I-HATE(1): view
 *     change to 2, whose primary is R2.
 * Expected: R2 reports nothing committed at 1, rejects the forged
 * certificate, and R1, R2, R3 (2f+1 correct replicas) enter view 2.
 */
static void
test_rollback_below_max_cc_drops_it(void **state)
{
	rig		   *g;
	rq			a = {CLIENT, 1, "PUT x a"},
				b = {CLIENT + 1, 1, "PUT x b"},
				c = {CLIENT + 2, 1, "PUT y c"};
	zz_digest	zero = {{0}},
				h_a,
				h_b;
	zz_commit_cert cc_a,
				forged;
	zz_spec_response m;
	uint32_t	who[3] = {0, 1, 2};
	uint32_t	i,
				k;
	uint64_t	rejected_before[ZZ_MAX_N];
	size_t		lc_before;
	int			bugs = 0;

	r0_silent = false;
	g = rig_new(state);
	rig_add_peers(g);

	/* 1. */
	encode_order(g, 0, 1, &zero, &a, 1, T_NONE, &g->buf, &h_a);
	deliver_to(g, 1, &g->buf);
	deliver_to(g, 2, &g->buf);
	spec_response_from(g, 2, &m);
	cc_fill(g, &cc_a, 0, 1, &h_a, &m.reply_root, who, 3);
	{
		zz_commit	cm;

		memset(&cm, 0, sizeof(cm));
		cm.client = CLIENT;
		cm.timestamp = a.ts;
		cm.cc = cc_a;
		zz_buf_reset(&g->buf);
		assert_true(zz_encode_commit(&g->buf, &cm));
		deliver_to(g, 2, &g->buf);
	}
	assert_int_equal(count_sent(g, true, ZZ_MSG_LOCAL_COMMIT), 1);
	assert_int_equal(status_of(g, 2).committed, 1);

	/* 2. */
	encode_request(g, &a);
	for (i = 1; i < g->p.n; i++)
		deliver_to(g, i, &g->buf);
	pump(g, drop_rolled_back_cc_schedule);
	tick_all(g, g->now + g->p.confirm_timeout + 1, drop_rolled_back_cc_schedule);
	for (i = 0; i < g->p.n; i++)
		send_i_hate_to(g, 0, 0, i);
	pump(g, drop_rolled_back_cc_schedule);
	for (i = 0; i < g->p.n; i++)
	{
		assert_int_equal(status_of(g, i).view, 1);
		assert_int_equal(status_of(g, i).mode, ZZ_MODE_NORMAL);
		assert_int_equal(status_of(g, i).last_executed, 0);
	}

	/* 3. */
	encode_request(g, &b);
	deliver_to(g, 1, &g->buf);
	tick_all(g, g->now + g->p.batch_timeout + 1, drop_rolled_back_cc_schedule);
	h_b = status_of(g, 2).history;
	for (i = 0; i < g->p.n; i++)
		assert_int_equal(status_of(g, i).last_executed, 1);
	r0_silent = true;

	if (status_of(g, 2).committed != 0)
	{
		print_message("CORE BUG (a): R2 reports seq 1 committed (by the rolled-back CC_a "
					  "for h_a) while it holds b (h_b) there\n");
		bugs++;
	}

	/* 4. */
	cc_fill(g, &forged, 1, 1, &h_b, &m.reply_root, who + 0, 3);
	for (k = 0; k < 3; k++)
		forged.entries[k].sig.b[0] ^= 0x01;
	lc_before = count_sent(g, true, ZZ_MSG_LOCAL_COMMIT);
	send_commit(g, CLIENT + 1, b.ts, &forged);
	if (count_sent(g, true, ZZ_MSG_LOCAL_COMMIT) != lc_before)
	{
		print_message("CORE BUG (b): R2 sent LOCAL-COMMIT for a certificate with three "
					  "bad signatures\n");
		bugs++;
	}

	/* 5. */
	for (i = 0; i < g->p.n; i++)
		rejected_before[i] = zz_replica_get_stats(g->rr[i])->rejected;
	encode_request(g, &c);
	deliver_to(g, 3, &g->buf);
	pump(g, drop_rolled_back_cc_schedule);
	tick_all(g, g->now + g->p.confirm_timeout + 1, drop_rolled_back_cc_schedule);
	for (i = 1; i < g->p.n; i++)
		send_i_hate_to(g, 0, 1, i);
	pump(g, drop_rolled_back_cc_schedule);
	for (i = 1; i < g->p.n; i++)
		if (i != 2 && zz_replica_get_stats(g->rr[i])->rejected != rejected_before[i])
		{
			print_message("CORE BUG (c): R%u rejected messages of the view change to 2 "
						  "(R2's VIEW-CHANGE carries the stale CC_a)\n", i);
			bugs++;
			break;
		}
	/* Let timers run: view-change timeouts, resends. */
	for (k = 0; k < 8; k++)
		tick_all(g, g->now + g->p.view_change_timeout, drop_rolled_back_cc_schedule);
	for (i = 1; i < g->p.n; i++)
	{
		zz_replica_status st = status_of(g, i);

		if (st.mode != ZZ_MODE_NORMAL || st.view < 2)
		{
			print_message("CORE BUG (c): R%u never completes a view change: view %llu "
						  "mode %d\n", i, (unsigned long long) st.view, (int) st.mode);
			bugs++;
		}
	}
	r0_silent = false;
	rig_free(g);
	if (bugs > 0)
		fail_msg("CORE BUG: a replica keeps a max CC its history was rolled back below "
				 "(%d symptoms above)", bugs);
}

/* ------------------------------------------------------------------------
 * Issue 10: certificates across views, forged evidence
 * ------------------------------------------------------------------------ */

/* The SPEC-RESPONSE replica `from` last sent for (v, n), decoded. */
static void
spec_response_at(const rig *g, uint32_t from, zz_view v, zz_seq n, zz_spec_response *m)
{
	size_t		i;

	for (i = g->n_sent; i > 0; i--)
	{
		const sent_msg *s = &g->sent[i - 1];

		if (s->from != from || !s->to_client || s->type != ZZ_MSG_SPEC_RESPONSE)
			continue;
		assert_int_equal(zz_decode_spec_response(s->buf, s->len, m), ZZ_OK);
		if (m->view == v && m->seq == n)
			return;
	}
	fail_msg("R%u sent no SPEC-RESPONSE for (%llu, %llu)", from, (unsigned long long) v,
			 (unsigned long long) n);
}

/* LOCAL-COMMITs replica `from` has sent so far. */
static size_t
local_commits_from(const rig *g, uint32_t from)
{
	size_t		i,
				k = 0;

	for (i = 0; i < g->n_sent; i++)
		if (g->sent[i].from == from && g->sent[i].to_client &&
			g->sent[i].type == ZZ_MSG_LOCAL_COMMIT)
			k++;
	return k;
}

static void
commit_to(rig *g, uint32_t to, uint32_t client, uint64_t ts, const zz_commit_cert *cc)
{
	zz_commit	m;

	memset(&m, 0, sizeof(m));
	m.client = client;
	m.timestamp = ts;
	m.cc = *cc;
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_commit(&g->buf, &m));
	deliver_to(g, to, &g->buf);
}

/*
 * Four real replicas: requests qs[0..k) ordered by R0 in view 0 at n = 1..k
 * and executed by every backup, then I-HATE(0) from R0 and R3 moves the
 * whole cluster to view 1, whose new history keeps them (every VIEW-CHANGE
 * reports them) and whose primary R1 re-issues them.  *h gets h_k.
 */
static void
cluster_to_view_1(rig *g, const rq *qs, uint32_t k, zz_digest *h)
{
	zz_digest	prev = {{0}};
	uint32_t	i,
				j;

	rig_add_peers(g);
	for (j = 0; j < k; j++)
	{
		encode_order(g, 0, j + 1, &prev, &qs[j], 1, T_NONE, &g->buf, &prev);
		for (i = 1; i < g->p.n; i++)
			deliver_to(g, i, &g->buf);
	}
	*h = prev;
	for (i = 0; i < g->p.n; i++)
	{
		send_i_hate_to(g, 0, 0, i);
		send_i_hate_to(g, 3, 0, i);
	}
	pump(g, NULL);
	for (i = 0; i < g->p.n; i++)
	{
		zz_replica_status st = status_of(g, i);

		assert_int_equal(st.view, 1);
		assert_int_equal(st.mode, ZZ_MODE_NORMAL);
		assert_int_equal(st.last_executed, k);
		assert_memory_equal(&st.history, h, sizeof(zz_digest));
	}
}

/*
 * A replica LOCAL-COMMITs a certificate of the view it is in, or one of an
 * older view only for a prefix its next VIEW-CHANGE covers with evidence
 * of its view (the new history it entered the view with).  In view 1, a
 * valid view-0 CC for the history it holds: refused by a replica that
 * holds no such evidence (its entered certificate taken away, as after a
 * restart), taken by one that does; a view-1 CC is taken and becomes its
 * max CC.  ZZ_BUG_CC_ANY_VIEW takes the old one without the evidence.
 */
static void
test_cc_of_older_view_not_local_committed(void **state)
{
	rig		   *g = rig_new(state);
	rq			a = {CLIENT, 1, "PUT x a"};
	zz_digest	h;
	zz_spec_response m0,
				m1;
	zz_commit_cert cc0,
				cc1;
	zz_view_cert entered;
	uint32_t	who[3] = {1, 2, 3};
	size_t		lc;
	uint64_t	rej;

	cluster_to_view_1(g, &a, 1, &h);
	spec_response_at(g, 2, 0, 1, &m0);
	spec_response_at(g, 2, 1, 1, &m1);
	cc_fill(g, &cc0, 0, 1, &h, &m0.reply_root, who, 3);
	cc_fill(g, &cc1, 1, 1, &h, &m1.reply_root, who, 3);
	entered = g->rr[2]->entered_cert;
	assert_int_equal(entered.view, 1);
	assert_int_equal(entered.seq, 1);

	memset(&g->rr[2]->entered_cert, 0, sizeof(entered));
	lc = local_commits_from(g, 2);
	rej = zz_replica_get_stats(g->rr[2])->rejected;
	commit_to(g, 2, CLIENT, a.ts, &cc0);
	assert_int_equal(local_commits_from(g, 2), lc);
	assert_int_equal(zz_replica_get_stats(g->rr[2])->rejected, rej + 1);
	assert_false(g->rr[2]->has_cc);

	/* the planted defect LOCAL-COMMITs it */
	zz_replica_set_bugs(g->rr[2], ZZ_BUG_CC_ANY_VIEW);
	commit_to(g, 2, CLIENT, a.ts, &cc0);
	assert_int_equal(local_commits_from(g, 2), lc + 1);
	zz_replica_set_bugs(g->rr[2], 0);
	g->rr[2]->has_cc = false;

	/* covered by the new history it entered view 1 with */
	g->rr[2]->entered_cert = entered;
	commit_to(g, 2, CLIENT, a.ts, &cc0);
	assert_int_equal(local_commits_from(g, 2), lc + 2);
	{
		const sent_msg *s = last_sent(g, true, ZZ_MSG_LOCAL_COMMIT);
		zz_local_commit o;

		/* it vouches in view 1, the view it is in, not the CC's */
		assert_int_equal(zz_decode_local_commit(s->buf, s->len, &o), ZZ_OK);
		assert_int_equal(o.view, 1);
		assert_int_equal(o.seq, 1);
	}

	/*
	 * An entered-view certificate the log no longer passes through (as
	 * after installing a checkpoint below it whose history differs): its
	 * VIEW-CHANGE would drop it, so it covers nothing.
	 */
	g->rr[2]->entered_cert.seq = 3;
	commit_to(g, 2, CLIENT, a.ts, &cc0);
	assert_int_equal(local_commits_from(g, 2), lc + 2);
	g->rr[2]->entered_cert = entered;

	commit_to(g, 2, CLIENT, a.ts, &cc1);
	assert_int_equal(local_commits_from(g, 2), lc + 3);
	assert_true(g->rr[2]->has_cc);
	assert_int_equal(g->rr[2]->max_cc.view, 1);
	rig_free(g);
}

/*
 * A replica in normal mode of view 1, which entered it with a new history
 * up to CP + 1 (and may have LOCAL-COMMITted older-view certificates on
 * it), refuses a checkpoint certificate of view 2 at CP whose history
 * differs: installing it would take its log off that evidence, and its
 * next VIEW-CHANGE could no longer report what its LOCAL-COMMITs promised.
 * Without such evidence, the same certificate starts a state transfer.
 */
static void
test_checkpoint_below_entered_view_evidence_refused(void **state)
{
	for (int evidence = 0; evidence <= 1; evidence++)
	{
		rig		   *g = rig_new(state);
		zz_checkpoint cp;
		zz_digest	h,
					st;
		uint32_t	k;

		cp_setup(g, &cp);
		run_batches(g, 1);
		g->r->view = 1;
		if (evidence)
		{
			memset(&g->r->entered_cert, 0, sizeof(g->r->entered_cert));
			g->r->entered_cert.view = 1;
			g->r->entered_cert.seq = CP + 1;
			g->r->entered_cert.history = status(g).history;
			g->r->entered_cert.count = 3;
			for (k = 0; k < 3; k++)
				g->r->entered_cert.replicas[k] = k + 1;
		}
		h = cp.history;
		h.b[3] ^= 0x40;
		st = cp.state;
		st.b[5] ^= 0x10;
		for (k = 0; k < 3; k++)
		{
			zz_checkpoint v;

			memset(&v, 0, sizeof(v));
			v.view = 2;
			v.seq = CP;
			v.history = h;
			v.state = st;
			v.replica = other(g, k);
			zz_checkpoint_signing_bytes(&g->sigbuf, v.view, v.seq, &v.history, &v.state,
										v.replica);
			assert_true(zz_sign(g->signer[v.replica], g->sigbuf.data, g->sigbuf.len,
								&v.sig));
			zz_buf_reset(&g->buf);
			assert_true(zz_encode_checkpoint(&g->buf, &v));
			deliver(g, &g->buf);
		}
		if (evidence)
		{
			assert_int_equal(status(g).mode, ZZ_MODE_NORMAL);
			assert_int_equal(stats(g)->state_transfers, 0);
		}
		else
		{
			assert_int_equal(status(g).mode, ZZ_MODE_STATE_TRANSFER);
			assert_int_equal(stats(g)->state_transfers, 1);
		}
		rig_free(g);
	}
}

/* A client's completion, seen by the test. */
static int	client_done_count;
static zz_completion_path client_done_path;

static void
client_done(void *ctx, uint32_t client, const zz_completion *c)
{
	client_done_count++;
	client_done_path = c->path;
}

/* A LOCAL-COMMIT from replica `from`, sent in view v, MACed to the client. */
static void
local_commit_to_client(rig *g, zz_client *c, uint32_t from, zz_view v, zz_seq n,
					   const zz_digest *h, uint64_t ts)
{
	zz_local_commit lc;
	zz_digest	d;

	memset(&lc, 0, sizeof(lc));
	lc.view = v;
	lc.seq = n;
	lc.history = *h;
	lc.replica = from;
	lc.client = CLIENT;
	lc.timestamp = ts;
	zz_local_commit_mac_digest(g->signer[from], &lc, &d);
	zz_mac_compute(g->signer[from], CLIENT, &d, &lc.mac);
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_local_commit(&g->buf, &lc));
	g->now += 10;
	zz_client_receive(c, g->now, g->buf.data, g->buf.len);
}

/*
 * A client completes on the commit path only with 2f+1 LOCAL-COMMITs sent
 * in one view (the view each LOCAL-COMMIT names), and a replica names the
 * view it is in, not the certificate's.  The reviewer's schedule (kept as
 * a scenario, mixed-view-lc2): R2 LOCAL-COMMITs a in view 0, rolls it back
 * in view 1; R0 (faulty) and R3 LOCAL-COMMIT it in view 2; a view change
 * drops a and b completes at n = 1.  Here the client gets those three
 * LOCAL-COMMITs: it must not complete.  ZZ_CLIENT_BUG_LC_ANY_VIEW, the old
 * rule, completes on them.
 */
static void
test_client_completes_on_local_commits_of_one_view(void **state)
{
	for (int bug = 0; bug <= 1; bug++)
	{
		rig		   *g = rig_new(state);
		node		cnode = {g, 100 + CLIENT};
		zz_io		cio = {.ctx = &cnode, .to_replica = io_to_replica, .to_client = io_to_client, .trace = io_trace};
		zz_client  *c;
		zz_spec_response m;
		uint64_t	ts;
		zz_time		submitted;
		size_t		i;

		rig_add_peers(g);
		c = zz_client_create(&g->p, CLIENT, g->client[CLIENT], &cio, client_done, NULL);
		assert_non_null(c);
		if (bug)
			zz_client_set_bugs(c, ZZ_CLIENT_BUG_LC_ANY_VIEW);
		client_done_count = 0;
		submitted = g->now;
		ts = zz_client_submit(c, g->now, (const uint8_t *) "PUT x a", 7);
		assert_true(ts > 0);
		pump(g, NULL);			/* the REQUEST reaches R0 */
		tick_all(g, g->now + g->p.batch_timeout + 1, NULL);

		/* R3's response is lost: only the commit path can complete. */
		for (i = 0; i < g->n_sent; i++)
			if (g->sent[i].to_client && g->sent[i].type == ZZ_MSG_SPEC_RESPONSE &&
				g->sent[i].dest == CLIENT && g->sent[i].from != 3)
				zz_client_receive(c, g->now, g->sent[i].buf, g->sent[i].len);
		spec_response_at(g, 1, 0, 1, &m);
		g->now = submitted + g->p.commit_timeout;
		zz_client_tick(c, g->now);
		assert_int_equal(zz_client_get_stats(c)->commits_sent, 1);
		assert_int_equal(client_done_count, 0);

		local_commit_to_client(g, c, 2, 0, 1, &m.history, ts);
		local_commit_to_client(g, c, 0, 2, 1, &m.history, ts);
		local_commit_to_client(g, c, 3, 2, 1, &m.history, ts);
		if (bug)
		{
			assert_int_equal(client_done_count, 1);
			zz_client_free(c);
			rig_free(g);
			continue;
		}
		assert_int_equal(client_done_count, 0);

		/* R2's of an older view does not replace its newer one */
		local_commit_to_client(g, c, 2, 2, 1, &m.history, ts);
		assert_int_equal(client_done_count, 1);
		assert_int_equal(client_done_path, ZZ_PATH_COMMIT);
		zz_client_free(c);
		rig_free(g);
	}
}

/*
 * A service that holds back the batch at one sequence number, as a
 * database still applying it would: the test hands the result over with
 * zz_replica_execute_done when it chooses.
 */
typedef struct slow_service
{
	zz_service	svc;			/* what the replica calls */
	const zz_service *inner;
	zz_seq		hold_seq;
	bool		held;
	zz_exec_result res;
} slow_service;

static zz_exec_status
slow_execute(void *ctx, zz_seq seq, uint64_t nd_time, uint64_t nd_seed, const zz_op *ops,
			 uint32_t count, bool want_digest, zz_exec_result *res)
{
	slow_service *sl = ctx;
	zz_exec_status st = sl->inner->execute(sl->inner->ctx, seq, nd_time, nd_seed, ops,
										   count, want_digest, res);

	if (seq != sl->hold_seq || st != ZZ_EXEC_DONE)
		return st;
	sl->res = *res;
	sl->held = true;
	return ZZ_EXEC_PENDING;
}

static bool
slow_rollback(void *ctx, zz_seq seq)
{
	slow_service *sl = ctx;

	return sl->inner->rollback(sl->inner->ctx, seq);
}

static void
slow_mark_stable(void *ctx, zz_seq seq)
{
	slow_service *sl = ctx;

	sl->inner->mark_stable(sl->inner->ctx, seq);
}

/*
 * A replica signs CHECKPOINT votes only in normal mode of the view the vote
 * names.  R2's service still runs the batch at CP when the cluster moves to
 * view 1; R2 adopts the new history (its view now 1) and only then learns
 * the batch is done.  It must not vote for CP as a view-1 replica until it
 * has entered view 1; once it has, it votes in view 1.
 */
static void
test_checkpoint_vote_only_in_normal_mode(void **state)
{
	rig		   *g = rig_new(state);
	slow_service sl;
	rq			qs[CP];
	zz_digest	h;
	zz_checkpoint cp;
	size_t		i,
				before;
	uint32_t	k;

	/* R2 runs over the slow service */
	zz_replica_free(g->rr[RID]);
	memset(&sl, 0, sizeof(sl));
	sl.inner = zz_kv_service(g->kvs[RID]);
	sl.svc = *sl.inner;
	sl.svc.ctx = &sl;
	sl.svc.execute = slow_execute;
	sl.svc.rollback = slow_rollback;
	sl.svc.mark_stable = slow_mark_stable;
	sl.svc.snapshot = NULL;
	sl.svc.install = NULL;
	sl.hold_seq = CP;
	g->rr[RID] = zz_replica_create(&g->p, RID, g->rcs[RID], &sl.svc, &g->ios[RID]);
	assert_non_null(g->rr[RID]);
	g->r = g->rr[RID];

	for (k = 0; k < CP; k++)
	{
		qs[k].client = k % N_CLIENTS;
		qs[k].ts = 1 + k / N_CLIENTS;
		qs[k].op = "ADD hits 1";
	}
	rig_add_peers(g);
	{
		zz_digest	prev = {{0}};

		for (k = 0; k < CP; k++)
		{
			encode_order(g, 0, k + 1, &prev, &qs[k], 1, T_NONE, &g->buf, &prev);
			for (i = 1; i < g->p.n; i++)
				deliver_to(g, (uint32_t) i, &g->buf);
		}
		h = prev;
	}
	assert_true(sl.held);
	for (i = 0; i < g->p.n; i++)
	{
		send_i_hate_to(g, 0, 0, (uint32_t) i);
		send_i_hate_to(g, 3, 0, (uint32_t) i);
	}
	pump(g, NULL);
	assert_int_equal(status_of(g, RID).view, 1);
	assert_int_equal(status_of(g, RID).mode, ZZ_MODE_VIEW_CHANGE);

	/* The batch finishes while R2 is still in the view change. */
	before = g->n_sent;
	sl.held = false;
	zz_replica_execute_done(g->r, g->now, &sl.res);
	pump(g, NULL);
	for (i = before; i < g->n_sent; i++)
	{
		const sent_msg *m = &g->sent[i];

		if (m->from != RID || m->type != ZZ_MSG_CHECKPOINT)
			continue;
		assert_int_equal(zz_decode_checkpoint(m->buf, m->len, &cp), ZZ_OK);
		if (cp.view == 1)
		{
			assert_int_equal(m->sender_mode, ZZ_MODE_NORMAL);
			assert_int_equal(m->sender_view, 1);
		}
	}

	/* Once in view 1, its vote for CP, signed in view 1. */
	assert_int_equal(status_of(g, RID).mode, ZZ_MODE_NORMAL);
	{
		zz_replica_status st = status_of(g, RID);

		assert_memory_equal(&st.history, &h, sizeof(h));
	}
	for (i = g->n_sent, k = 0; i > before; i--)
	{
		const sent_msg *m = &g->sent[i - 1];

		if (m->from != RID || m->type != ZZ_MSG_CHECKPOINT)
			continue;
		assert_int_equal(zz_decode_checkpoint(m->buf, m->len, &cp), ZZ_OK);
		assert_int_equal(cp.seq, CP);
		assert_int_equal(cp.view, 1);
		k++;
	}
	assert_true(k > 0);
	rig_free(g);
}

static bool
drop_new_view(const sent_msg *m)
{
	return m->type == ZZ_MSG_NEW_VIEW;
}

/*
 * A NEW-VIEW carries exactly 2f+1 VIEW-CHANGEs: with more, two entries of
 * one slot can each have f+1 reports and the new primary picks which the
 * rule sees first.  One with all four valid VIEW-CHANGEs is refused, one
 * with three of them accepted.
 */
static void
test_new_view_needs_exactly_quorum(void **state)
{
	rig		   *g = rig_new(state);
	rq			a = {CLIENT, 1, "PUT x a"};
	zz_view_change vcs[ZZ_MAX_N];
	zz_new_view nv;
	zz_digest	prev = {{0}};
	uint32_t	i,
				k = 0;
	size_t		j;
	uint64_t	rej;

	rig_add_peers(g);
	encode_order(g, 0, 1, &prev, &a, 1, T_NONE, &g->buf, &prev);
	for (i = 1; i < g->p.n; i++)
		deliver_to(g, i, &g->buf);
	for (i = 0; i < g->p.n; i++)
	{
		send_i_hate_to(g, 0, 0, i);
		send_i_hate_to(g, 3, 0, i);
	}
	pump(g, drop_new_view);
	assert_int_equal(status_of(g, RID).mode, ZZ_MODE_VIEW_CHANGE);

	/* every replica's VIEW-CHANGE for view 1, one each */
	for (i = 0; i < g->p.n; i++)
		for (j = 0; j < g->n_sent; j++)
			if (g->sent[j].from == i && g->sent[j].type == ZZ_MSG_VIEW_CHANGE)
			{
				assert_int_equal(zz_decode_view_change(g->sent[j].buf, g->sent[j].len,
													   &vcs[k]), ZZ_OK);
				assert_int_equal(vcs[k].new_view, 1);
				k++;
				break;
			}
	assert_int_equal(k, g->p.n);

	for (int n_vc = (int) g->p.n; n_vc >= (int) zz_quorum(&g->p); n_vc--)
	{
		memset(&nv, 0, sizeof(nv));
		nv.new_view = 1;
		nv.replica = 1;
		nv.n_vc = (uint8_t) n_vc;
		nv.vcs = vcs;
		zz_new_view_signing_bytes(&g->sigbuf, &nv);
		assert_true(zz_sign(g->signer[1], g->sigbuf.data, g->sigbuf.len, &nv.sig));
		zz_buf_reset(&g->buf);
		assert_true(zz_encode_new_view(&g->buf, &nv));
		rej = zz_replica_get_stats(g->r)->rejected;
		deliver_to(g, RID, &g->buf);
		if (n_vc > (int) zz_quorum(&g->p))
		{
			assert_int_equal(status_of(g, RID).view, 0);
			assert_int_equal(zz_replica_get_stats(g->r)->rejected, rej + 1);
		}
		else
			assert_int_equal(status_of(g, RID).view, 1);
	}
	for (i = 0; i < k; i++)
		zz_view_change_release(&vcs[i]);
	rig_free(g);
}

/*
 * The max CC is ranked by (view, seq): a view-1 certificate for n = 1
 * replaces a view-0 one for n = 2.  ZZ_BUG_MAX_CC_BY_SEQ keeps the old.
 */
static void
test_max_cc_ranked_by_view_then_seq(void **state)
{
	for (int bug = 0; bug <= 1; bug++)
	{
		rig		   *g = rig_new(state);
		rq			qs[2] = {{CLIENT, 1, "PUT x a1"}, {CLIENT + 1, 1, "PUT y a2"}};
		zz_digest	h1,
					h2;
		zz_spec_response m;
		zz_commit_cert cc;
		uint32_t	who[3] = {1, 2, 3};

		rig_add_peers(g);
		encode_order(g, 0, 1, &(zz_digest) {{0}}, &qs[0], 1, T_NONE, &g->buf, &h1);
		zz_replica_set_bugs(g->rr[2], bug ? ZZ_BUG_MAX_CC_BY_SEQ : 0);
		cluster_to_view_1(g, qs, 2, &h2);

		/* View 0's COMMITs were lost.  In view 1, a CC for n = 2: */
		spec_response_at(g, 2, 1, 2, &m);
		cc_fill(g, &cc, 1, 2, &h2, &m.reply_root, who, 3);
		commit_to(g, 2, CLIENT + 1, 1, &cc);
		assert_int_equal(g->rr[2]->max_cc.seq, 2);

		/* Move the replica's max CC back to view 0 by hand, as if it had
		 * kept a view-0 certificate for n = 2 through the view change. */
		g->rr[2]->max_cc.view = 0;
		spec_response_at(g, 2, 1, 1, &m);
		cc_fill(g, &cc, 1, 1, &h1, &m.reply_root, who, 3);
		commit_to(g, 2, CLIENT, 1, &cc);
		if (bug)
		{
			assert_int_equal(g->rr[2]->max_cc.view, 0);
			assert_int_equal(g->rr[2]->max_cc.seq, 2);
		}
		else
		{
			assert_int_equal(g->rr[2]->max_cc.view, 1);
			assert_int_equal(g->rr[2]->max_cc.seq, 1);
		}
		rig_free(g);
	}
}

/* Everything to or from R3 is lost (it is cut off). */
static bool r3_cut;
/* Everything R0 sends is lost (the test speaks for it). */
static bool r0_muted;

static bool
drop_entered_cert_schedule(const sent_msg *m)
{
	if (r3_cut && (m->from == 3 || m->dest == 3))
		return true;
	if (r0_muted && m->from == 0)
		return true;
	/* R1's VIEW-CHANGE for view 2 never reaches the new primary R2. */
	return !r3_cut && m->type == ZZ_MSG_VIEW_CHANGE && m->from == 1 && m->dest == 2;
}

/*
 * The certificate of the view a replica entered is evidence of that view
 * in its next VIEW-CHANGE, ranked above an older view's CC.
 *
 * View 0: R0 orders a at n = 1 to R1, R2; R3 is cut off.  View change to
 * 1 among R0, R1, R2: G = a, and R0, R1, R2 enter view 1 with 2f+1
 * VIEW-CONFIRMs.  View change to 2, primary R2, from the VIEW-CHANGEs of
 * R0 (the test's: a stale-looking valid CC for b at n = 1 of view 0), R2
 * (a, view 1, and its entered certificate) and R3 (nothing).  Slot 1: the
 * entered certificate (view 1) outranks the CC (view 0), so G keeps a.
 * Without it (ZZ_BUG_VC_NO_ENTERED_CERT at R2), a has one report of a
 * view above 0 (< f+1) and the CC's b wins; so it does when the rule
 * prefers the lowest view (ZZ_BUG_NEW_VIEW_LOWEST_CC at R2, which
 * computes G as the new primary).
 */
static void
test_entered_view_cert_outranks_older_cc(void **state)
{
	const unsigned bugs[3] = {0, ZZ_BUG_VC_NO_ENTERED_CERT, ZZ_BUG_NEW_VIEW_LOWEST_CC};

	for (int bug = 0; bug <= 2; bug++)
	{
		rig		   *g = rig_new(state);
		rq			a = {CLIENT, 1, "PUT x a"},
					b = {CLIENT + 1, 1, "PUT x b"};
		zz_digest	zero = {{0}},
					h_a,
					h_b,
					R;
		zz_buf		bbuf;
		zz_order_req ob;
		zz_view_change vc;
		uint32_t	who[3] = {0, 1, 2};
		uint32_t	i;
		const sent_msg *s;
		zz_view_change mine;

		r3_cut = true;
		r0_muted = false;
		rig_add_peers(g);
		encode_order(g, 0, 1, &zero, &a, 1, T_NONE, &g->buf, &h_a);
		deliver_to(g, 1, &g->buf);
		deliver_to(g, 2, &g->buf);
		for (i = 0; i < 3; i++)
		{
			send_i_hate_to(g, 0, 0, i);
			send_i_hate_to(g, 1, 0, i);
		}
		pump(g, drop_entered_cert_schedule);
		for (i = 0; i < 3; i++)
		{
			assert_int_equal(status_of(g, i).view, 1);
			assert_int_equal(status_of(g, i).mode, ZZ_MODE_NORMAL);
		}
		assert_int_equal(status_of(g, 3).view, 0);
		assert_int_equal(g->rr[2]->entered_cert.view, 1);
		assert_int_equal(g->rr[2]->entered_cert.seq, 1);
		assert_true(g->rr[2]->entered_cert.count >= zz_quorum(&g->p));
		zz_replica_set_bugs(g->rr[2], bugs[bug]);

		/* R0 lies from now on: its VIEW-CHANGE is the test's. */
		r3_cut = false;
		r0_muted = true;
		zz_buf_init(&bbuf);
		encode_order(g, 0, 1, &zero, &b, 1, T_NONE, &bbuf, &h_b);
		assert_int_equal(zz_decode_order_req(bbuf.data, bbuf.len, &ob), ZZ_OK);
		memset(&R, 0x5a, sizeof(R));
		memset(&vc, 0, sizeof(vc));
		vc.new_view = 2;
		vc.replica = 0;
		vc.has_cc = 1;
		cc_fill(g, &vc.cc, 0, 1, &h_b, &R, who, 3);
		vc.n_entries = 1;
		vc.entries = &ob;
		vc.n_hate = 2;
		for (i = 0; i < 2; i++)
		{
			vc.hate_replicas[i] = i;
			zz_i_hate_signing_bytes(&g->sigbuf, 1, i);
			assert_true(zz_sign(g->signer[i], g->sigbuf.data, g->sigbuf.len, &vc.hate_sigs[i]));
		}
		zz_view_change_signing_bytes(&g->sigbuf, &vc);
		assert_true(zz_sign(g->signer[0], g->sigbuf.data, g->sigbuf.len, &vc.sig));
		zz_buf_reset(&g->buf);
		assert_true(zz_encode_view_change(&g->buf, &vc));
		deliver_to(g, 2, &g->buf);
		zz_order_req_release(&ob);

		/* I-HATE(1) from R0 and R1 reach R2 and R3: both ask for view 2. */
		for (i = 2; i < g->p.n; i++)
		{
			send_i_hate_to(g, 0, 1, i);
			send_i_hate_to(g, 1, 1, i);
		}
		pump(g, drop_entered_cert_schedule);
		s = NULL;
		for (size_t k = g->n_sent; k > 0 && s == NULL; k--)
			if (g->sent[k - 1].from == 2 && g->sent[k - 1].type == ZZ_MSG_VIEW_CHANGE)
				s = &g->sent[k - 1];
		assert_non_null(s);
		assert_int_equal(zz_decode_view_change(s->buf, s->len, &mine), ZZ_OK);
		assert_int_equal(mine.entered.count, bug == 1 ? 0 : 3);
		zz_view_change_release(&mine);

		assert_int_equal(status_of(g, 2).view, 2);
		assert_int_equal(status_of(g, 2).last_executed, 1);
		{
			zz_replica_status st2 = status_of(g, 2);

			assert_memory_equal(&st2.history, bug ? &h_b : &h_a, sizeof(zz_digest));
		}
		zz_buf_free(&bbuf);
		r0_muted = false;
		rig_free(g);
	}
}

/*
 * A POM is two primary-signed ORDER-REQ headers for one (v, n) that
 * differ.  Two of different sequence numbers prove nothing (every honest
 * log has them): rejected, no I-HATE.  ZZ_BUG_POM_ANY_SEQ acts on it.
 */
static void
test_pom_requires_same_view_and_seq(void **state)
{
	for (int c = 0; c < 3; c++)
	{
		rig		   *g = rig_new(state);
		rq			a = {CLIENT, 1, "PUT x a"},
					b = {CLIENT + 1, 1, "PUT x b"};
		zz_digest	zero = {{0}},
					h;
		zz_order_req oa,
					ob;
		zz_buf		ba,
					bb;
		zz_pom		pom;

		zz_buf_init(&ba);
		zz_buf_init(&bb);
		encode_order(g, 0, 1, &zero, &a, 1, T_NONE, &ba, &h);
		/* c = 0: same (v, n), another batch; else n = 2 after a */
		if (c == 0)
			encode_order(g, 0, 1, &zero, &b, 1, T_NONE, &bb, NULL);
		else
			encode_order(g, 0, 2, &h, &b, 1, T_NONE, &bb, NULL);
		assert_int_equal(zz_decode_order_req(ba.data, ba.len, &oa), ZZ_OK);
		assert_int_equal(zz_decode_order_req(bb.data, bb.len, &ob), ZZ_OK);
		pom.a = oa.hdr;
		pom.b = ob.hdr;
		if (c == 2)
			zz_replica_set_bugs(g->r, ZZ_BUG_POM_ANY_SEQ);
		zz_buf_reset(&g->buf);
		assert_true(zz_encode_pom(&g->buf, &pom));
		deliver(g, &g->buf);
		if (c == 1)
		{
			assert_int_equal(stats(g)->i_hates, 0);
			assert_int_equal(stats(g)->rejected, 1);
			assert_int_equal(count_sent(g, false, ZZ_MSG_POM), 0);
		}
		else
		{
			assert_int_equal(stats(g)->i_hates, 1);
			assert_int_equal(count_sent(g, false, ZZ_MSG_I_HATE_THE_PRIMARY), g->p.n - 1);
		}
		zz_order_req_release(&oa);
		zz_order_req_release(&ob);
		zz_buf_free(&ba);
		zz_buf_free(&bb);
		rig_free(g);
	}
}

/*
 * An ORDER-REQ that arrives ahead of a hole is buffered unverified; when
 * the hole fills it is checked like any other before it is applied: a bad
 * primary signature or a bad request MAC keeps it out.
 * ZZ_BUG_FILL_HOLE_NO_VERIFY applies it anyway.
 */
static void
test_buffered_order_req_verified_when_applied(void **state)
{
	const unsigned tampers[2] = {T_FLIP_SIG, T_BAD_MAC};

	for (int t = 0; t < 2; t++)
		for (int bug = 0; bug <= 1; bug++)
		{
			rig		   *g = rig_new(state);
			rq			a = {CLIENT, 1, "PUT x a"},
						b = {CLIENT + 1, 1, "PUT x b"};
			zz_digest	zero = {{0}},
						h1;
			zz_buf		b2;

			zz_buf_init(&b2);
			if (bug)
				zz_replica_set_bugs(g->r, ZZ_BUG_FILL_HOLE_NO_VERIFY);
			encode_order(g, 0, 1, &zero, &a, 1, T_NONE, &g->buf, &h1);
			encode_order(g, 0, 2, &h1, &b, 1, tampers[t], &b2, NULL);
			deliver(g, &b2);	/* early: buffered, a FILL-HOLE goes out */
			assert_int_equal(status(g).max_seq, 0);
			assert_int_equal(count_sent(g, false, ZZ_MSG_FILL_HOLE), 1);
			deliver(g, &g->buf);
			assert_int_equal(status(g).last_executed, bug ? 2 : 1);
			if (!bug)
				assert_int_equal(stats(g)->rejected, 1);
			zz_buf_free(&b2);
			rig_free(g);
		}
}

/*
 * A STATE-REPLY is installed only if 2f+1 valid signatures certify the
 * digest its state is checked against: the same reply with one signature
 * spoiled is rejected.  ZZ_BUG_STATE_REPLY_NO_CERT installs it.
 */
static void
test_state_reply_certificate_checked(void **state)
{
	for (int c = 0; c < 3; c++)
	{
		rig		   *g = rig_new(state);
		zz_checkpoint cp1,
					cp2;
		zz_state_request q;
		zz_state_reply rep;
		const sent_msg *s;
		zz_buf		reply;
		zz_replica *x;
		uint32_t	k;

		/* R2 reaches a certified checkpoint at 2 CP and serves it. */
		stable_setup(g, &cp1);
		assert_true(own_checkpoint(g, 2 * CP, &cp2));
		memset(&q, 0, sizeof(q));
		q.replica = 3;
		q.seq = 2 * CP;
		zz_state_request_signing_bytes(&g->sigbuf, &q);
		assert_true(zz_sign(g->signer[3], g->sigbuf.data, g->sigbuf.len, &q.sig));
		zz_buf_reset(&g->buf);
		assert_true(zz_encode_state_request(&g->buf, &q));
		deliver(g, &g->buf);
		s = last_sent(g, false, ZZ_MSG_STATE_REPLY);
		assert_non_null(s);
		zz_buf_init(&reply);
		assert_true(zz_buf_append(&reply, s->buf, s->len));

		/* R3, fresh, learns of the certificate and asks for the state. */
		rig_start_replica(g, 3);
		x = g->rr[3];
		for (k = 0; k < 3; k++)
		{
			zz_checkpoint v = cp2;

			v.replica = k;
			zz_checkpoint_signing_bytes(&g->sigbuf, v.view, v.seq, &v.history, &v.state, k);
			assert_true(zz_sign(g->signer[k], g->sigbuf.data, g->sigbuf.len, &v.sig));
			zz_buf_reset(&g->buf);
			assert_true(zz_encode_checkpoint(&g->buf, &v));
			deliver_to(g, 3, &g->buf);
		}
		assert_int_equal(status_of(g, 3).mode, ZZ_MODE_STATE_TRANSFER);

		if (c > 0)
		{
			/* one signature of the certificate spoiled, re-encoded */
			zz_buf		bad;

			assert_int_equal(zz_decode_state_reply(reply.data, reply.len, &rep), ZZ_OK);
			rep.cp.sigs[1].b[9] ^= 0x20;
			zz_buf_init(&bad);
			assert_true(zz_encode_state_reply(&bad, &rep));
			zz_buf_reset(&reply);
			assert_true(zz_buf_append(&reply, bad.data, bad.len));
			zz_buf_free(&bad);
		}
		if (c == 2)
			zz_replica_set_bugs(x, ZZ_BUG_STATE_REPLY_NO_CERT);
		deliver_to(g, 3, &reply);
		if (c == 1)
		{
			assert_int_equal(status_of(g, 3).mode, ZZ_MODE_STATE_TRANSFER);
			assert_int_equal(zz_replica_get_stats(x)->transfers_rejected, 1);
			assert_int_equal(status_of(g, 3).stable_seq, 0);
		}
		else
		{
			assert_int_equal(status_of(g, 3).mode, ZZ_MODE_NORMAL);
			assert_int_equal(status_of(g, 3).stable_seq, 2 * CP);
			/*
			 * The batch time at the checkpoint comes with it (certified in
			 * the client table), though R3 never held the batch: an
			 * ORDER-REQ whose time goes back is refused.
			 */
			assert_non_null(zz_entry_at(g->r, 2 * CP));
			assert_true(zz_entry_at(g->r, 2 * CP)->order->hdr.nd_time > 0);
			assert_int_equal(x->stable_nd_time, zz_entry_at(g->r, 2 * CP)->order->hdr.nd_time);
			assert_int_equal(x->last_nd_time, x->stable_nd_time);
		}
		zz_buf_free(&reply);
		rig_free(g);
	}
}

/*
 * A STATE-REPLY carrying a valid certificate of an older view than the
 * replica's, higher than the one it asked for, is refused: such a
 * checkpoint may hold entries a view change dropped since.
 * ZZ_BUG_STATE_REPLY_STALE installs it.
 */
static void
test_state_reply_stale_certificate_refused(void **state)
{
	for (int bug = 0; bug <= 1; bug++)
	{
		rig		   *g = rig_new(state);
		zz_checkpoint cp1;
		zz_state_request q;
		const sent_msg *s;
		zz_state_reply rep;
		zz_buf		reply;
		zz_replica *x;
		uint32_t	k;

		/* R2's highest certificate: 2 CP, of view 0 */
		stable_setup(g, &cp1);
		assert_int_equal(g->r->cert_proof.seq, 2 * CP);
		assert_int_equal(g->r->cert_proof.view, 0);
		memset(&q, 0, sizeof(q));
		q.replica = 3;
		q.seq = CP;
		zz_state_request_signing_bytes(&g->sigbuf, &q);
		assert_true(zz_sign(g->signer[3], g->sigbuf.data, g->sigbuf.len, &q.sig));
		zz_buf_reset(&g->buf);
		assert_true(zz_encode_state_request(&g->buf, &q));
		deliver(g, &g->buf);
		s = last_sent(g, false, ZZ_MSG_STATE_REPLY);
		assert_non_null(s);
		assert_int_equal(zz_decode_state_reply(s->buf, s->len, &rep), ZZ_OK);
		assert_int_equal(rep.cp.seq, 2 * CP);
		zz_buf_init(&reply);
		assert_true(zz_buf_append(&reply, s->buf, s->len));

		/* R3, in view 1, fetches checkpoint CP certified in view 1. */
		rig_start_replica(g, 3);
		x = g->rr[3];
		x->view = 1;
		if (bug)
			zz_replica_set_bugs(x, ZZ_BUG_STATE_REPLY_STALE);
		for (k = 0; k < 3; k++)
		{
			zz_checkpoint v = cp1;

			v.view = 1;
			v.replica = k;
			zz_checkpoint_signing_bytes(&g->sigbuf, v.view, v.seq, &v.history, &v.state, k);
			assert_true(zz_sign(g->signer[k], g->sigbuf.data, g->sigbuf.len, &v.sig));
			zz_buf_reset(&g->buf);
			assert_true(zz_encode_checkpoint(&g->buf, &v));
			deliver_to(g, 3, &g->buf);
		}
		assert_int_equal(status_of(g, 3).mode, ZZ_MODE_STATE_TRANSFER);
		assert_int_equal(status_of(g, 3).transfer_seq, CP);

		/* R2's answer: its view-0 certificate for 2 CP */
		deliver_to(g, 3, &reply);
		if (bug)
			assert_int_equal(status_of(g, 3).stable_seq, 2 * CP);
		else
		{
			assert_int_equal(status_of(g, 3).mode, ZZ_MODE_STATE_TRANSFER);
			assert_int_equal(status_of(g, 3).stable_seq, 0);
			assert_int_equal(zz_replica_get_stats(x)->transfers_rejected, 1);
		}
		zz_buf_free(&reply);
		rig_free(g);
	}
}

/* ------------------------------------------------------------------------
 * zz_replica_check: each invariant broken by hand is caught
 * ------------------------------------------------------------------------ */

/* A replica with a few executed batches, a CC and a clean bill of health. */
static rig *
check_setup(void **state)
{
	rig		   *g = rig_new(state);
	zz_digest	R;
	zz_sig		own;
	zz_commit_cert cc;
	uint64_t	ts = cc_setup(g, &R, &own);

	cc_valid(g, &cc, &R, &own);
	send_commit(g, CLIENT, ts, &cc);
	assert_true(g->r->has_cc);
	run_batches(g, 2);
	assert_null(zz_replica_check(g->r));
	return g;
}

/* The check names the broken invariant (a substring of its message). */
static void
assert_caught(rig *g, const char *what)
{
	const char *why = zz_replica_check(g->r);

	if (why == NULL)
		fail_msg("zz_replica_check did not catch: %s", what);
	if (strstr(why, what) == NULL)
		fail_msg("zz_replica_check caught \"%s\", expected \"%s\"", why, what);
}

static void
test_check_catches_corrupt_history(void **state)
{
	rig		   *g = check_setup(state);

	/* an entry the previous check already verified */
	zz_entry_at(g->r, 2)->order->hdr.history.b[4] ^= 0x10;
	assert_caught(g, "history chain broken at 2");
	zz_entry_at(g->r, 2)->order->hdr.history.b[4] ^= 0x10;
	assert_null(zz_replica_check(g->r));

	/* request digests that no longer give the batch digest */
	{
		zz_entry   *e = zz_entry_at(g->r, 3);
		zz_digest  *d = malloc(sizeof(zz_digest) * e->order->hdr.count);

		assert_non_null(d);
		memcpy(d, e->req_digests, sizeof(zz_digest) * e->order->hdr.count);
		d[0].b[0] ^= 1;
		free(e->req_digests);
		e->req_digests = d;
		assert_caught(g, "entry 3: batch digest does not match");
		d[0].b[0] ^= 1;
		assert_null(zz_replica_check(g->r));
	}

	/* h at the last executed */
	g->r->exec_history.b[0] ^= 1;
	assert_caught(g, "executed history is not h");
	rig_free(g);
}

static void
test_check_catches_broken_positions(void **state)
{
	rig		   *g = check_setup(state);
	zz_seq		last = g->r->last_executed;

	g->r->last_executed = g->r->max_seq + 1;
	assert_caught(g, "positions out of order");
	g->r->last_executed = last - 1;
	assert_caught(g, "executed 1 submitted 1");
	g->r->last_executed = last;
	assert_null(zz_replica_check(g->r));

	g->r->max_cc.seq = 0;
	assert_caught(g, "max CC");
	g->r->max_cc.seq = 1;
	g->r->max_cc.history.b[2] ^= 4;
	assert_caught(g, "max CC (0, 1) conflicts with the log");
	rig_free(g);
}

static void
test_check_catches_client_table_drift(void **state)
{
	rig		   *g = check_setup(state);
	zz_client_rec *c = zz_client_lookup(g->r, CLIENT, false);

	assert_non_null(c);
	c->last_ts++;
	assert_caught(g, "table says");
	c->last_ts--;
	c->last_seq = g->r->last_executed + 2;
	assert_caught(g, "beyond");
	c->last_seq = g->r->last_executed;
	assert_null(zz_replica_check(g->r));
	g->r->confirm_bytes += 5;	/* the bytes a backup's patience counts */
	assert_caught(g, "CONFIRM-REQ timers");
	rig_free(g);
}

/* ------------------------------------------------------------------------
 * The execution window (exec_window, execute.c)
 * ------------------------------------------------------------------------ */

/*
 * An asynchronous service that answers nothing until the test says so, as
 * a database with several batches queued on its connection: it applies
 * each batch at once (the inner KV service) and keeps the results, in
 * order, until queue_deliver hands them to the replica; a rollback drops
 * the results above its target.
 */
#define QUEUE_MAX 16
typedef struct queue_service
{
	zz_service	svc;
	const zz_service *inner;
	zz_exec_result res[QUEUE_MAX];
	uint32_t	n;
	uint32_t	rollbacks;
	zz_seq		rolled_back_to;
} queue_service;

static zz_exec_status
queue_execute(void *ctx, zz_seq seq, uint64_t nd_time, uint64_t nd_seed, const zz_op *ops,
			  uint32_t count, bool want_digest, zz_exec_result *res)
{
	queue_service *qs = ctx;

	assert_true(qs->n < QUEUE_MAX);
	assert_int_equal(qs->inner->execute(qs->inner->ctx, seq, nd_time, nd_seed, ops, count,
										want_digest, res), ZZ_EXEC_DONE);
	qs->res[qs->n++] = *res;
	memset(res, 0, sizeof(*res));
	return ZZ_EXEC_PENDING;
}

static bool
queue_rollback(void *ctx, zz_seq seq)
{
	queue_service *qs = ctx;
	uint32_t	k = 0;

	if (!qs->inner->rollback(qs->inner->ctx, seq))
		return false;
	for (uint32_t i = 0; i < qs->n; i++)
	{
		if (qs->res[i].seq > seq)
			zz_exec_result_free(&qs->res[i]);
		else
			qs->res[k++] = qs->res[i];
	}
	qs->n = k;
	qs->rollbacks++;
	qs->rolled_back_to = seq;
	return true;
}

static void
queue_mark_stable(void *ctx, zz_seq seq)
{
	queue_service *qs = ctx;

	qs->inner->mark_stable(qs->inner->ctx, seq);
}

/* Hand the oldest k results to the replica, in order. */
static void
queue_deliver(rig *g, queue_service *qs, uint32_t k)
{
	while (k-- > 0)
	{
		zz_exec_result res;

		assert_true(qs->n > 0);
		res = qs->res[0];
		memmove(&qs->res[0], &qs->res[1], (qs->n - 1) * sizeof(qs->res[0]));
		qs->n--;
		g->now += 10;
		zz_replica_execute_done(g->r, g->now, &res);
	}
}

static void
queue_free(queue_service *qs)
{
	for (uint32_t i = 0; i < qs->n; i++)
		zz_exec_result_free(&qs->res[i]);
	qs->n = 0;
}

/*
 * The replica under test with window k over a queue service, and the
 * peers (synchronous KV services) to compare it with.
 */
static rig *
window_setup(void **state, uint32_t k, queue_service *qs)
{
	rig		   *g = rig_new(state);

	g->p.exec_window = k;
	zz_replica_free(g->rr[RID]);
	memset(qs, 0, sizeof(*qs));
	qs->inner = zz_kv_service(g->kvs[RID]);
	qs->svc = *qs->inner;
	qs->svc.ctx = qs;
	qs->svc.execute = queue_execute;
	qs->svc.rollback = queue_rollback;
	qs->svc.mark_stable = queue_mark_stable;
	qs->svc.snapshot = NULL;
	qs->svc.install = NULL;
	g->rr[RID] = zz_replica_create(&g->p, RID, g->rcs[RID], &qs->svc, &g->ios[RID]);
	assert_non_null(g->rr[RID]);
	g->r = g->rr[RID];
	rig_add_peers(g);
	return g;
}

/*
 * Four batches of view 0 (cp_interval CP = 4: the window's last is the
 * checkpoint): client 0 in 1 and again in 2 (its record replaced while 1
 * is in the service), 2's request again in 3 (a duplicate across the
 * window), client 3 in 1 and 4.  Delivered to the replica under test and,
 * the first upto of them, to peer 1.
 */
static void
window_order(rig *g, uint32_t upto)
{
	static const rq b1[] = {{0, 1, "PUT a 1"}, {3, 1, "PUT b 1"}};
	static const rq b2[] = {{0, 2, "ADD hits 1"}};
	static const rq b3[] = {{0, 2, "ADD hits 1"}, {2, 1, "PUT c 3"}};
	static const rq b4[] = {{3, 2, "ADD hits 5"}};
	const rq   *bs[4] = {b1, b2, b3, b4};
	uint32_t	ns[4] = {2, 1, 2, 1};
	zz_digest	prev = {{0}};

	for (uint32_t k = 0; k < 4; k++)
	{
		encode_order(g, 0, k + 1, &prev, bs[k], ns[k], T_NONE, &g->buf, &prev);
		deliver_to(g, RID, &g->buf);
		if (k < upto)
			deliver_to(g, 1, &g->buf);
	}
}

/*
 * K batches go to the service before any is done; the duplicate in batch 3
 * is skipped as if 2 had finished; results finish in order, and the next
 * batch goes in as one comes out.
 */
static void
test_window_submits_ahead(void **state)
{
	queue_service qs;
	rig		   *g = window_setup(state, 3, &qs);

	window_order(g, 0);
	assert_int_equal(qs.n, 3);	/* 1, 2, 3 in the service, none done */
	assert_int_equal(status(g).last_executed, 0);
	assert_int_equal(zz_last_submitted(g->r), 3);
	assert_true(zz_entry_at(g->r, 3)->skipped[0]);
	assert_false(zz_entry_at(g->r, 3)->skipped[1]);
	assert_null(zz_replica_check(g->r));

	queue_deliver(g, &qs, 1);
	assert_int_equal(status(g).last_executed, 1);
	assert_int_equal(qs.n, 3);	/* 4 went in */
	assert_int_equal(zz_last_submitted(g->r), 4);
	assert_null(zz_replica_check(g->r));
	queue_deliver(g, &qs, 3);
	assert_int_equal(status(g).last_executed, 4);
	assert_null(zz_replica_check(g->r));

	/* replica and peer (synchronous, one at a time) end alike */
	{
		zz_digest	a,
					b;

		window_order(g, 4);		/* (the replica under test ignores the resend) */
		zz_client_table_serialize(g->r, &g->buf);
		zz_client_table_serialize(g->rr[1], &g->sigbuf);
		assert_int_equal(g->buf.len, g->sigbuf.len);
		assert_memory_equal(g->buf.data, g->sigbuf.data, g->buf.len);
		zz_kv_digest(g->kvs[RID], &a);
		zz_kv_digest(g->kvs[1], &b);
		assert_memory_equal(&a, &b, sizeof(a));
	}
	queue_free(&qs);
	rig_free(g);
}

/*
 * A rollback while three batches are in the service and one is done: the
 * service is told to drop them (their results never arrive), and the
 * client table and the service are exactly those of a replica that
 * executed batch 1 only: client 0's reply from batch 1 is back although
 * batch 2 replaced its record before batch 1's reply was known.
 */
static void
test_window_rollback_exact(void **state)
{
	queue_service qs;
	rig		   *g = window_setup(state, 4, &qs);
	zz_buf		mine,
				ref;
	zz_digest	a,
				b;

	window_order(g, 1);
	assert_int_equal(qs.n, 4);
	queue_deliver(g, &qs, 1);
	assert_int_equal(status(g).last_executed, 1);
	assert_int_equal(zz_last_submitted(g->r), 4);

	assert_true(zz_rollback_to(g->r, 1));
	assert_int_equal(qs.rollbacks, 1);
	assert_int_equal(qs.rolled_back_to, 1);
	assert_int_equal(qs.n, 0);
	assert_int_equal(status(g).last_executed, 1);
	assert_int_equal(status(g).max_seq, 1);
	assert_null(zz_replica_check(g->r));

	zz_buf_init(&mine);
	zz_buf_init(&ref);
	zz_client_table_serialize(g->r, &mine);
	zz_client_table_serialize(g->rr[1], &ref);
	assert_int_equal(mine.len, ref.len);
	assert_memory_equal(mine.data, ref.data, mine.len);
	{
		zz_client_rec *c = zz_client_lookup(g->r, 0, false);

		assert_non_null(c);
		assert_int_equal(c->last_ts, 1);
		assert_int_equal(c->last_seq, 1);
		assert_non_null(c->reply);
	}
	assert_int_equal(zz_kv_last_executed(g->kvs[RID]), 1);
	zz_kv_digest(g->kvs[RID], &a);
	zz_kv_digest(g->kvs[1], &b);
	assert_memory_equal(&a, &b, sizeof(a));
	zz_buf_free(&mine);
	zz_buf_free(&ref);
	queue_free(&qs);
	rig_free(g);
}

/*
 * zz_replica_check: batches in the service are a prefix after the last
 * executed, at most exec_window of them.
 */
static void
test_check_catches_window_overrun(void **state)
{
	queue_service qs;
	rig		   *g = window_setup(state, 2, &qs);

	window_order(g, 0);
	assert_int_equal(qs.n, 2);
	assert_null(zz_replica_check(g->r));

	zz_entry_at(g->r, 3)->submitted = true;
	assert_caught(g, "beyond the window");
	zz_entry_at(g->r, 3)->submitted = false;
	assert_null(zz_replica_check(g->r));

	zz_entry_at(g->r, 1)->submitted = false;
	assert_caught(g, "entry 2: executed 0 submitted 1");
	zz_entry_at(g->r, 1)->submitted = true;
	assert_null(zz_replica_check(g->r));
	queue_free(&qs);
	rig_free(g);
}

/* A (client, t) executed twice, as ZZ_BUG_SKIP_DEDUP does. */
static void
test_check_catches_duplicate_execution(void **state)
{
	rig		   *g = rig_new(state);
	rq			q = {CLIENT, 1, "ADD hits 1"};
	zz_digest	h;

	zz_replica_set_bugs(g->r, ZZ_BUG_SKIP_DEDUP);
	encode_order(g, 0, 1, &g->hist, &q, 1, T_NONE, &g->buf, &h);
	deliver(g, &g->buf);
	assert_null(zz_replica_check(g->r));
	encode_order(g, 0, 2, &h, &q, 1, T_NONE, &g->buf, &h);
	deliver(g, &g->buf);
	assert_int_equal(status(g).last_executed, 2);
	assert_caught(g, "t=1 executed at 2 after t=1");
	rig_free(g);
}

static void
test_check_catches_mode_violations(void **state)
{
	rig		   *g = check_setup(state);

	zz_entry_at(g->r, 3)->order->hdr.view = 1;
	assert_caught(g, "above ours");
	zz_entry_at(g->r, 3)->order->hdr.view = 0;
	g->r->view = 1;				/* as if it entered view 1 keeping view-0 entries past G */
	g->r->entered_cert.count = 2;	/* ... with too few VIEW-CONFIRMs */
	assert_caught(g, "entered view 0 with 2 VIEW-CONFIRMs");
	g->r->entered_cert.count = 3;
	g->r->entered_cert.replicas[0] = 0;
	g->r->entered_cert.replicas[1] = 1;
	g->r->entered_cert.replicas[2] = 1;
	assert_caught(g, "signer 1 twice");
	g->r->entered_cert.replicas[2] = 2;
	g->r->entered_cert.view = 1;
	g->r->entered_cert.seq = 1;
	g->r->entered_cert.history = zz_entry_at(g->r, 1)->order->hdr.history;
	g->r->max_cc.view = 1;
	assert_caught(g, "past the new history carries view 0");
	g->r->view = 0;
	g->r->entered_cert.count = 0;
	g->r->max_cc.view = 0;
	assert_null(zz_replica_check(g->r));
	g->r->mode = ZZ_MODE_STATE_TRANSFER;
	g->r->transfer_seq = g->r->stable_seq;
	assert_caught(g, "not above the stable checkpoint");
	g->r->mode = ZZ_MODE_NORMAL;
	rig_free(g);
}

/* ------------------------------------------------------------------------
 * Time (issue 11): the primary's batch time never goes back or runs ahead
 * ------------------------------------------------------------------------ */

/*
 * A backup refuses an ORDER-REQ whose time is below the previous batch's
 * or more than max_time_ahead past its own clock, and hates the primary
 * that signed it instead of executing; at the bound it accepts.
 */
static void
test_order_req_time_bounds(void **state)
{
	for (int c = 0; c < 3; c++)
	{
		rig		   *g = rig_new(state);
		rq			a = {CLIENT, 1, "PUT x a"},
					b = {CLIENT + 1, 1, "PUT x b"};
		zz_digest	h1;

		order_nd_time = g->now + 5000;
		encode_order(g, 0, 1, &g->hist, &a, 1, T_NONE, &g->buf, &h1);
		deliver(g, &g->buf);
		assert_int_equal(status(g).last_executed, 1);
		if (c == 0)
			order_nd_time = g->now + 4000;	/* back in time */
		else if (c == 1)
			order_nd_time = g->now + 10 + g->p.max_time_ahead + 1;	/* too far ahead */
		else
			order_nd_time = g->now + 10 + g->p.max_time_ahead;	/* at the bound */
		encode_order(g, 0, 2, &h1, &b, 1, T_NONE, &g->buf, NULL);
		deliver(g, &g->buf);	/* (deliver advances the clock by 10) */
		order_nd_time = 0;
		if (c < 2)
		{
			assert_int_equal(status(g).last_executed, 1);
			assert_int_equal(status(g).max_seq, 1);
			assert_int_equal(stats(g)->i_hates, 1);
			assert_int_equal(count_sent(g, false, ZZ_MSG_I_HATE_THE_PRIMARY), g->p.n - 1);
		}
		else
		{
			assert_int_equal(status(g).last_executed, 2);
			assert_int_equal(stats(g)->i_hates, 0);
		}
		rig_free(g);
	}
}

/*
 * A rolled-back batch's time does not hold back the next primary: after
 * a rollback the bound is the time of the batch the log now ends with.
 */
static void
test_rollback_restores_batch_time(void **state)
{
	rig		   *g = rig_new(state);
	rq			a = {CLIENT, 1, "PUT x a"},
				b = {CLIENT + 1, 1, "PUT x b"},
				c = {CLIENT + 2, 1, "PUT x c"};
	zz_digest	h1;

	order_nd_time = g->now + 100;
	encode_order(g, 0, 1, &g->hist, &a, 1, T_NONE, &g->buf, &h1);
	deliver(g, &g->buf);
	order_nd_time = g->now + 30 * 1000 * 1000;
	encode_order(g, 0, 2, &h1, &b, 1, T_NONE, &g->buf, NULL);
	deliver(g, &g->buf);
	assert_int_equal(status(g).last_executed, 2);
	assert_true(zz_rollback_to(g->r, 1));
	assert_int_equal(g->r->last_nd_time, g->now - 20 + 100);
	order_nd_time = g->now + 200;
	encode_order(g, 0, 2, &h1, &c, 1, T_NONE, &g->buf, NULL);
	deliver(g, &g->buf);
	order_nd_time = 0;
	assert_int_equal(status(g).last_executed, 2);
	assert_int_equal(stats(g)->i_hates, 0);
	rig_free(g);
}

/*
 * A primary's batch time is its clock, but never at or below the time of
 * the batch before (a new primary's clock may be behind the old one's).
 */
static void
test_primary_time_never_goes_back(void **state)
{
	for (int behind = 0; behind <= 1; behind++)
	{
		rig		   *g = rig_new_f(*(const zz_crypto_mode *) *state, 1, 0);
		rq			a = {CLIENT, 1, "PUT x a"};
		zz_request	req;
		zz_order_req o;
		const sent_msg *s;
		uint64_t	last = behind ? g->now + 777777 : g->now - 500;

		g->r->last_nd_time = last;
		make_request(g, &a, &req, T_NONE);
		zz_buf_reset(&g->buf);
		assert_true(zz_encode_request(&g->buf, &req));
		deliver(g, &g->buf);
		g->now += g->p.batch_timeout + 1;
		zz_replica_tick(g->r, g->now);
		s = last_sent(g, false, ZZ_MSG_ORDER_REQ);
		assert_non_null(s);
		assert_int_equal(zz_decode_order_req(s->buf, s->len, &o), ZZ_OK);
		if (behind)
			assert_int_equal(o.hdr.nd_time, last + 1);
		else
			assert_int_equal(o.hdr.nd_time, g->now);
		zz_order_req_release(&o);
		rig_free(g);
	}
}

/*
 * A backup is patient with a primary busy with large requests one interval
 * more per 64 KiB of the requests it forwarded and has not seen ordered
 * (confirm_patient).  With 1 MiB forwarded, a primary that ordered a batch
 * (a small one: large requests of other callers wait behind it, and small
 * ones get ordered between them) and then sends nothing for 20 intervals
 * is not hated; before, it was after one interval, or after 8 had its last
 * batch been large.  Once that allowance is spent, it is.
 */
static void
test_confirm_patience_grows_with_bytes_forwarded(void **state)
{
	rig		   *g = rig_new(state);
	size_t		big = ZZ_MAX_OP_LEN - 64;
	char	   *op = malloc(big + 1);
	zz_time		t0,
				T = g->p.confirm_timeout;
	uint32_t	k;
	rq			wait;

	assert_non_null(op);
	memcpy(op, "PUT k ", 6);
	memset(op + 6, 'x', big - 6);
	op[big] = '\0';
	order_one(g, CLIENT + 1, "ADD hits 1");
	wait.client = CLIENT;
	wait.ts = g->next_ts[CLIENT]++;
	wait.op = op;
	encode_request(g, &wait);
	deliver(g, &g->buf);		/* the client's retransmission: forwarded */
	assert_int_equal(count_sent(g, false, ZZ_MSG_CONFIRM_REQ), 1);
	t0 = g->now;
	for (k = 1; k <= 20; k++)
	{
		g->now = t0 + k * T + 1;
		zz_replica_tick(g->r, g->now);
	}
	assert_int_equal(count_sent(g, false, ZZ_MSG_I_HATE_THE_PRIMARY), 0);
	for (; k <= 30; k++)
	{
		g->now = t0 + k * T + 1;
		zz_replica_tick(g->r, g->now);
	}
	assert_int_equal(count_sent(g, false, ZZ_MSG_I_HATE_THE_PRIMARY), g->p.n - 1);
	free(op);
	rig_free(g);
}

/*
 * Batching that follows the load (order_ahead, request.c): while the
 * primary's own service still executes a batch, the requests that arrive
 * wait in the open batch, past its timer, and go out together as soon as
 * that batch is executed; a full batch goes out at once; with nothing in
 * flight nothing waits.  order_ahead = 0 orders at the timer, as before.
 * (Each ORDER-REQ is sent to the n - 1 others.)
 */
static void
test_primary_batch_waits_for_execution(void **state)
{
	for (uint32_t ahead = 0; ahead <= 1; ahead++)
	{
		rig		   *g = rig_new_f(*(const zz_crypto_mode *) *state, 1, 0);
		slow_service sl;
		zz_order_req o;
		const sent_msg *s;
		uint64_t	ts = 1;

		/*
		 * the primary runs over a service that holds batch 1 and finishes
		 * the others at once, so it takes one batch at a time
		 */
		g->p.order_ahead = ahead;
		g->p.exec_window = 1;
		zz_replica_free(g->rr[0]);
		memset(&sl, 0, sizeof(sl));
		sl.inner = zz_kv_service(g->kvs[0]);
		sl.svc = *sl.inner;
		sl.svc.ctx = &sl;
		sl.svc.execute = slow_execute;
		sl.svc.rollback = slow_rollback;
		sl.svc.mark_stable = slow_mark_stable;
		sl.svc.snapshot = NULL;
		sl.svc.install = NULL;
		sl.hold_seq = 1;
		g->rr[0] = zz_replica_create(&g->p, 0, g->rcs[0], &sl.svc, &g->ios[0]);
		assert_non_null(g->rr[0]);
		g->r = g->rr[0];

		/* nothing in flight: the first request goes out at its timer */
		{
			rq			a = {0, ts++, "ADD hits 1"};

			encode_request(g, &a);
			deliver(g, &g->buf);
		}
		g->now += g->p.batch_timeout + 1;
		zz_replica_tick(g->r, g->now);
		assert_int_equal(count_sent(g, false, ZZ_MSG_ORDER_REQ) / (g->p.n - 1), 1);
		assert_true(sl.held);

		/* two more while batch 1 executes */
		for (uint32_t c = 1; c <= 2; c++)
		{
			rq			b = {c, ts++, "ADD hits 1"};

			encode_request(g, &b);
			deliver(g, &g->buf);
		}
		g->now += g->p.batch_timeout + 1;
		zz_replica_tick(g->r, g->now);
		g->now += 3 * g->p.batch_timeout + 1;
		zz_replica_tick(g->r, g->now);
		assert_int_equal(count_sent(g, false, ZZ_MSG_ORDER_REQ) / (g->p.n - 1), ahead ? 1 : 2);

		/* batch 1 executed: the held batch is due at once, both requests */
		sl.hold_seq = 2;
		g->now += 10;
		zz_replica_execute_done(g->r, g->now, &sl.res);
		if (ahead)
			assert_true(zz_replica_next_deadline(g->r) <= g->now);
		zz_replica_tick(g->r, g->now);
		assert_int_equal(count_sent(g, false, ZZ_MSG_ORDER_REQ) / (g->p.n - 1), 2);
		s = last_sent(g, false, ZZ_MSG_ORDER_REQ);
		assert_int_equal(zz_decode_order_req(s->buf, s->len, &o), ZZ_OK);
		assert_int_equal(o.hdr.seq, 2);
		assert_int_equal(o.hdr.count, 2);
		zz_order_req_release(&o);

		/* batch 2 executes; a full batch (batch_max) does not wait for it */
		assert_true(status(g).last_executed == 1);
		for (uint32_t k = 0; k < g->p.batch_max; k++)
		{
			rq			q = {3, ts++, "ADD hits 1"};

			encode_request(g, &q);
			deliver(g, &g->buf);
		}
		assert_int_equal(count_sent(g, false, ZZ_MSG_ORDER_REQ) / (g->p.n - 1), 3);
		s = last_sent(g, false, ZZ_MSG_ORDER_REQ);
		assert_int_equal(zz_decode_order_req(s->buf, s->len, &o), ZZ_OK);
		assert_int_equal(o.hdr.seq, 3);
		assert_int_equal(o.hdr.count, g->p.batch_max);
		zz_order_req_release(&o);
		zz_exec_result_free(&sl.res);
		rig_free(g);
	}
}

/* ------------------------------------------------------------------------
 * Liveness (issue 10 item 7)
 * ------------------------------------------------------------------------ */

/* Client requests, one per client in turn, ordered by the primary of view v. */
static void
cluster_requests(rig *g, zz_view v, uint32_t k, drop_fn drop)
{
	uint32_t	i;

	for (i = 0; i < k; i++)
	{
		rq			q = {i % N_CLIENTS, g->next_ts[i % N_CLIENTS]++, "ADD hits 1"};

		encode_request(g, &q);
		deliver_to(g, zz_primary_of(&g->p, v), &g->buf);
		tick_all(g, g->now + g->p.batch_timeout + 1, drop);
	}
}

/*
 * A replica restarted from its kept stable checkpoint comes back in the
 * view it had entered, not view 0 (views never go back), and catches up.
 * The checkpoint here is certified in view 0 and becomes stable in view
 * 1: only what was kept with it says view 1.  Back as the primary of that
 * view, it orders nothing (it has forgotten what it ordered) and asks for
 * the next view.
 */
static void
test_resumed_replica_rejoins_current_view(void **state)
{
	for (uint32_t who = 2; who >= 1; who--)
	{
		rig		   *g = rig_new(state);
		rq			qs[CP + 1];
		zz_digest	h;
		zz_buf		kept;
		uint32_t	k;

		for (k = 0; k <= CP; k++)
		{
			qs[k].client = k % N_CLIENTS;
			qs[k].ts = g->next_ts[k % N_CLIENTS]++;
			qs[k].op = "ADD hits 1";
		}
		cluster_to_view_1(g, qs, CP + 1, &h);
		assert_int_equal(g->rr[who]->cert_proof.seq, CP);
		assert_int_equal(g->rr[who]->cert_proof.view, 0);
		cluster_requests(g, 1, CP, NULL);
		for (k = 0; k < 4; k++)
			tick_all(g, g->now + g->p.checkpoint_resend, NULL);
		assert_int_equal(status_of(g, who).stable_seq, CP);
		assert_int_equal(g->rr[who]->stable_proof.view, 0);
		zz_buf_init(&kept);
		assert_true(zz_replica_save_stable(g->rr[who], CP, &kept));

		/* it crashes and comes back from what it kept */
		zz_replica_free(g->rr[who]);
		zz_kv_free(g->kvs[who]);
		zz_crypto_free(g->rcs[who]);
		rig_start_replica(g, who);
		if (who == g->id)
		{
			g->r = g->rr[who];
			g->kv = g->kvs[who];
			g->rcrypto = g->rcs[who];
		}
		assert_true(zz_replica_resume(g->rr[who], g->now, kept.data, kept.len));
		assert_int_equal(status_of(g, who).view, 1);
		if (who == 1)
		{
			/* the primary of view 1: no more ORDER-REQs from it in view 1 */
			size_t		orders = count_sent(g, false, ZZ_MSG_ORDER_REQ);

			assert_int_equal(zz_replica_get_stats(g->rr[1])->i_hates, 1);
			encode_request(g, &(rq) {CLIENT, g->next_ts[CLIENT]++, "ADD hits 1"});
			deliver_to(g, 1, &g->buf);
			zz_replica_tick(g->rr[1], g->now + g->p.batch_timeout + 1);
			assert_int_equal(count_sent(g, false, ZZ_MSG_ORDER_REQ), orders);
		}
		else
		{
			pump(g, NULL);
			for (k = 0; k < 4; k++)
				tick_all(g, g->now + g->p.fill_hole_timeout, NULL);
			assert_int_equal(status_of(g, who).view, 1);
			assert_int_equal(status_of(g, who).mode, ZZ_MODE_NORMAL);
			assert_int_equal(status_of(g, who).last_executed, status_of(g, 1).last_executed);
		}
		zz_buf_free(&kept);
		rig_free(g);
	}
}

/*
 * Votes from an abandoned view do not hide the current certificate.  In
 * view 0, R0, R1 and R3 executed n = CP on a history that view 1 dropped
 * (speculative, certified nowhere but at R2, which had not executed that
 * far) and R2 kept their votes: a certificate of view 0 for another
 * history.  The cluster then executes CP again in view 1 and votes for it
 * there.  R2 must certify the view-1 checkpoint, which matches its own
 * vote, and make it stable one interval later; taking the first
 * certificate among its votes (the stale one, from R0's slot), it never
 * certified, and its log window closed at 2 x CP with stable checkpoint 0
 * while the others moved on.
 */
static void
test_stale_certificate_does_not_hide_current(void **state)
{
	rig		   *g = rig_new(state);
	rq			a = {CLIENT, 1, "PUT x a"};
	zz_digest	h,
				stale_h,
				stale_st;
	uint32_t	voters[3] = {0, 1, 3},
				k;

	assert_int_equal(g->id, 2);
	g->next_ts[CLIENT] = 2;
	cluster_to_view_1(g, &a, 1, &h);
	memset(&stale_h, 0x5e, sizeof(stale_h));
	memset(&stale_st, 0xc4, sizeof(stale_st));
	for (k = 0; k < 3; k++)
		send_vote(g, voters[k], voters[k], CP, &stale_h, &stale_st, false);
	assert_int_equal(status(g).mode, ZZ_MODE_NORMAL);

	cluster_requests(g, 1, 2 * CP, NULL);
	for (k = 0; k < 4; k++)
		tick_all(g, g->now + g->p.checkpoint_resend, NULL);
	assert_int_equal(status_of(g, 0).stable_seq, CP);
	assert_true(g->r->cert_proof.seq >= CP);
	assert_int_equal(g->r->cert_proof.view, 1);
	assert_int_equal(status(g).stable_seq, CP);

	/* and it goes on past the window it would have been stuck in */
	cluster_requests(g, 1, CP, NULL);
	assert_true(status(g).last_executed > 2 * CP);
	rig_free(g);
}

/*
 * A replica fetching state still takes part in a view change: f+1
 * I-HATEs make it put the transfer aside and send its VIEW-CHANGE (its
 * log up to there is a history like any other).  A repairing replica,
 * whose own state is corrupt, stays out.
 */
static void
test_state_transfer_yields_to_view_change(void **state)
{
	for (int repairing = 0; repairing <= 1; repairing++)
	{
		rig		   *g = rig_new(state);
		zz_digest	h,
					st;
		zz_seq		far = 3 * (zz_seq) CP;
		uint32_t	k;

		run_batches(g, 2);
		memset(&h, 0x11, sizeof(h));
		memset(&st, 0x22, sizeof(st));
		for (k = 0; k < 2 * g->p.f + 1; k++)
			send_vote(g, other(g, k), other(g, k), far, &h, &st, false);
		assert_int_equal(status(g).mode, ZZ_MODE_STATE_TRANSFER);
		g->r->repairing = repairing;
		send_i_hate(g, other(g, 0), 0);
		send_i_hate(g, other(g, 1), 0);
		if (repairing)
		{
			assert_int_equal(status(g).mode, ZZ_MODE_STATE_TRANSFER);
			assert_int_equal(count_sent(g, false, ZZ_MSG_VIEW_CHANGE), 0);
		}
		else
		{
			const sent_msg *s = last_sent(g, false, ZZ_MSG_VIEW_CHANGE);
			zz_view_change vc;

			assert_int_equal(status(g).mode, ZZ_MODE_VIEW_CHANGE);
			assert_int_equal(status(g).transfer_seq, 0);
			assert_non_null(s);
			assert_int_equal(zz_decode_view_change(s->buf, s->len, &vc), ZZ_OK);
			assert_int_equal(vc.new_view, 1);
			assert_int_equal(vc.n_entries, 2);	/* the two batches it holds */
			zz_view_change_release(&vc);
			assert_null(zz_replica_check(g->r));
		}
		rig_free(g);
	}
}

/* Everything to R3 is lost while r3_deaf. */
static bool r3_deaf;

static bool
drop_to_r3(const sent_msg *m)
{
	return r3_deaf && m->dest == 3;
}

/*
 * A replica that enters a view late (its NEW-VIEW was delayed while the
 * others ordered on) fetches what it missed at once, not when the next
 * request shows it the hole.
 */
static void
test_late_view_entry_fetches_missed_entries(void **state)
{
	rig		   *g = rig_new(state);
	rq			a = {CLIENT, 1, "PUT x a"};
	zz_digest	zero = {{0}},
				h;
	const sent_msg *nv = NULL;
	zz_buf		nvb;
	uint32_t	i;
	size_t		k;

	rig_add_peers(g);
	encode_order(g, 0, 1, &zero, &a, 1, T_NONE, &g->buf, &h);
	for (i = 1; i < g->p.n; i++)
		deliver_to(g, i, &g->buf);
	r3_deaf = true;
	for (i = 0; i < 3; i++)
	{
		send_i_hate_to(g, 0, 0, i);
		send_i_hate_to(g, 1, 0, i);
	}
	pump(g, drop_to_r3);
	for (i = 0; i < 3; i++)
		assert_int_equal(status_of(g, i).view, 1);
	g->next_ts[CLIENT] = 2;
	cluster_requests(g, 1, 2, drop_to_r3);
	assert_int_equal(status_of(g, 1).last_executed, 3);
	assert_int_equal(status_of(g, 3).view, 0);

	/* Now the NEW-VIEW reaches R3, and nothing else happens. */
	for (k = 0; k < g->n_sent && nv == NULL; k++)
		if (g->sent[k].type == ZZ_MSG_NEW_VIEW && g->sent[k].dest == 3)
			nv = &g->sent[k];
	assert_non_null(nv);
	zz_buf_init(&nvb);
	assert_true(zz_buf_append(&nvb, nv->buf, nv->len));
	r3_deaf = false;
	deliver_to(g, 3, &nvb);
	pump(g, NULL);
	for (k = 0; k < 3; k++)	/* it asks for the re-issued G, and enters */
		tick_all(g, g->now + g->p.fill_hole_timeout, NULL);
	assert_int_equal(status_of(g, 3).view, 1);
	assert_int_equal(status_of(g, 3).mode, ZZ_MODE_NORMAL);
	assert_int_equal(status_of(g, 3).last_executed, 3);
	zz_buf_free(&nvb);
	rig_free(g);
}

/* ------------------------------------------------------------------------ */

#define BOTH(fn) \
	{#fn " [real]", fn, NULL, NULL, &mode_real}, \
	{#fn " [symbolic]", fn, NULL, NULL, &mode_symbolic}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_cc_valid_quorum_gets_local_commit),
		BOTH(test_cc_duplicate_signer_rejected),
		BOTH(test_cc_fewer_than_quorum_rejected),
		BOTH(test_cc_signer_out_of_range_rejected),
		BOTH(test_cc_bad_signature_rejected),
		BOTH(test_cc_wrong_view_rejected),
		BOTH(test_cc_conflicting_history_hates_primary),
		BOTH(test_cc_conflicting_history_forged_cc_ignored),
		BOTH(test_cc_unexecuted_seq_ignored_until_executed),
		BOTH(test_cc_no_local_commit_in_view_change),
		BOTH(test_checkpoint_sent_every_interval),
		BOTH(test_checkpoint_quorum_certifies_then_truncates_one_interval_later),
		BOTH(test_checkpoint_next_vote_waits_for_certificate),
		BOTH(test_checkpoint_vote_bad_signature_not_counted),
		BOTH(test_checkpoint_vote_wrong_replica_not_counted),
		BOTH(test_checkpoint_vote_mismatched_digest_not_counted),
		BOTH(test_checkpoint_vote_duplicate_not_counted),
		BOTH(test_checkpoint_f_plus_one_not_enough),
		BOTH(test_checkpoint_divergence_starts_state_transfer),
		BOTH(test_checkpoint_vote_only_in_normal_mode),
		BOTH(test_window_submits_ahead),
		BOTH(test_window_rollback_exact),
		BOTH(test_check_catches_window_overrun),
		BOTH(test_view_change_build_failure_leaves_view),
		BOTH(test_lagging_replica_certifies_far_checkpoint),
		BOTH(test_stale_certificate_does_not_hide_current),
		BOTH(test_resume_from_saved_stable_checkpoint),
		BOTH(test_resume_refuses_bad_checkpoint),
		BOTH(test_resume_history_reinstates_own_batches),
		BOTH(test_repair_fetches_highest_certified_checkpoint),
		BOTH(test_order_req_beyond_window_refused),
		BOTH(test_order_req_valid_executed_and_answered),
		BOTH(test_order_req_wrong_view_refused),
		BOTH(test_order_req_wrong_primary_signature_refused),
		BOTH(test_order_req_broken_history_refused),
		BOTH(test_order_req_batch_digest_mismatch_refused),
		BOTH(test_order_req_bad_request_mac_refused),
		BOTH(test_order_req_history_must_chain_from_previous),
		BOTH(test_same_request_ordered_twice_executes_once),
		BOTH(test_retransmitted_request_gets_cached_reply),
		BOTH(test_stale_cc_from_old_view_does_not_hate_new_primary),
		BOTH(test_rollback_below_max_cc_drops_it),
		BOTH(test_cc_of_older_view_not_local_committed),
		BOTH(test_checkpoint_below_entered_view_evidence_refused),
		BOTH(test_max_cc_ranked_by_view_then_seq),
		BOTH(test_new_view_needs_exactly_quorum),
		BOTH(test_client_completes_on_local_commits_of_one_view),
		BOTH(test_entered_view_cert_outranks_older_cc),
		BOTH(test_pom_requires_same_view_and_seq),
		BOTH(test_buffered_order_req_verified_when_applied),
		BOTH(test_state_reply_certificate_checked),
		BOTH(test_state_reply_stale_certificate_refused),
		BOTH(test_check_catches_corrupt_history),
		BOTH(test_check_catches_broken_positions),
		BOTH(test_check_catches_client_table_drift),
		BOTH(test_check_catches_duplicate_execution),
		BOTH(test_check_catches_mode_violations),
		BOTH(test_order_req_time_bounds),
		BOTH(test_rollback_restores_batch_time),
		BOTH(test_primary_time_never_goes_back),
		BOTH(test_primary_batch_waits_for_execution),
		BOTH(test_confirm_patience_grows_with_bytes_forwarded),
		BOTH(test_resumed_replica_rejoins_current_view),
		BOTH(test_state_transfer_yields_to_view_change),
		BOTH(test_late_view_entry_fetches_missed_entries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
