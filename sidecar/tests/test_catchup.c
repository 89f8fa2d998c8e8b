/*
 * test_catchup.c
 *	  Unit tests of the retained log and catch-up by replay (catchup.c,
 *	  docs/protocol.md sections 6 and 7).
 *
 * Each test runs a whole cluster (f = 1, four replicas and one client) on
 * a small in-memory network the test drives: it delivers messages in
 * order, cuts a replica off and back on, and may rewrite what one replica
 * sends another (a faulty peer answering a FILL-HOLE).  R3 is cut off
 * while the others order enough batches to make checkpoints far above it
 * stable and truncate their logs; the tests then look at how it comes
 * back.  Every test runs with real and with symbolic cryptography.
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

#define N			4
#define CP			4			/* cp_interval */
#define LAG			3			/* the replica cut off */
#define CLIENT_NODE 100			/* the client's node id on the test network */

typedef struct msg
{
	uint32_t	from;
	uint32_t	to;				/* replica id, or CLIENT_NODE */
	uint8_t    *buf;
	size_t		len;
} msg;

typedef struct net net;

/* May rewrite (or drop: false) a message before it is delivered. */
typedef bool (*tamper_fn) (net *g, msg *m);

typedef struct node
{
	net		   *g;
	uint32_t	id;
} node;

struct net
{
	zz_params	p;
	zz_keyset  *ks;
	zz_crypto  *rc[N];
	zz_crypto  *signer0;		/* R0's key, for forged ORDER-REQs */
	zz_crypto  *cc;
	zz_kvservice *kv[N];
	zz_replica *r[N];
	zz_client  *client;
	node		nodes[N + 1];
	zz_io		io[N + 1];
	bool		cut[N];
	msg		   *q;
	size_t		qhead,
				qlen,
				qcap;
	zz_time		now;
	bool		trace;
	tamper_fn	tamper;
	zz_seq		tamper_upto;	/* ORDER-REQs to LAG up to this seq */
	zz_digest	forged[64];		/* the forged chain, by seq % 64 */
	uint64_t	tampered;
	uint64_t	state_requests; /* STATE-REQUESTs LAG sent */
	uint32_t	ops;
	zz_buf		buf;
};

static zz_crypto_mode mode_real = ZZ_CRYPTO_REAL;
static zz_crypto_mode mode_symbolic = ZZ_CRYPTO_SYMBOLIC;

static void
enqueue(node *from, uint32_t to, const uint8_t *buf, size_t len)
{
	net		   *g = from->g;
	msg		   *m;

	if (g->qlen == g->qcap)
	{
		size_t		ncap = g->qcap ? 2 * g->qcap : 256;
		msg		   *nq = malloc(ncap * sizeof(msg));

		assert_non_null(nq);
		for (size_t i = 0; i < g->qlen; i++)
			nq[i] = g->q[(g->qhead + i) % g->qcap];
		free(g->q);
		g->q = nq;
		g->qcap = ncap;
		g->qhead = 0;
	}
	m = &g->q[(g->qhead + g->qlen) % g->qcap];
	m->from = from->id;
	m->to = to;
	m->buf = malloc(len ? len : 1);
	assert_non_null(m->buf);
	memcpy(m->buf, buf, len);
	m->len = len;
	g->qlen++;
	if (from->id == LAG && len > 0 && buf[0] == ZZ_MSG_STATE_REQUEST)
		g->state_requests++;
}

static void
io_to_replica(void *ctx, uint32_t replica, const uint8_t *buf, size_t len)
{
	enqueue(ctx, replica, buf, len);
}

static void
io_to_client(void *ctx, uint32_t client, const uint8_t *buf, size_t len)
{
	(void) client;
	enqueue(ctx, CLIENT_NODE, buf, len);
}

static void
io_trace(void *ctx, const char *line)
{
	node	   *n = ctx;

	if (n->g->trace)
		fprintf(stderr, "  trace: %s\n", line);
}

static void
on_done(void *ctx, uint32_t client, const zz_completion *c)
{
	(void) ctx;
	(void) client;
	(void) c;
}

static net *
net_new(zz_crypto_mode mode, uint32_t retain_batches, uint64_t retain_bytes)
{
	net		   *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	assert_true(zz_params_default(&g->p, 1));
	g->p.cp_interval = CP;
	g->p.batch_max = 1;
	g->p.retain_batches = retain_batches;
	g->p.retain_bytes = retain_bytes;
	g->ks = zz_keyset_from_seed(mode, N, 1, 0xca7c);
	assert_non_null(g->ks);
	g->trace = getenv("ZZ_TEST_TRACE") != NULL;
	for (uint32_t i = 0; i <= N; i++)
	{
		g->nodes[i].g = g;
		g->nodes[i].id = i < N ? i : CLIENT_NODE;
		g->io[i].ctx = &g->nodes[i];
		g->io[i].to_replica = io_to_replica;
		g->io[i].to_client = io_to_client;
		g->io[i].trace = io_trace;
	}
	for (uint32_t i = 0; i < N; i++)
	{
		g->rc[i] = zz_crypto_create(g->ks, true, i);
		g->kv[i] = zz_kv_create();
		assert_non_null(g->rc[i]);
		assert_non_null(g->kv[i]);
		g->r[i] = zz_replica_create(&g->p, i, g->rc[i], zz_kv_service(g->kv[i]), &g->io[i]);
		assert_non_null(g->r[i]);
	}
	g->signer0 = zz_crypto_create(g->ks, true, 0);
	g->cc = zz_crypto_create(g->ks, false, 0);
	g->client = zz_client_create(&g->p, 0, g->cc, &g->io[N], on_done, g);
	assert_non_null(g->client);
	g->now = 1000;
	zz_buf_init(&g->buf);
	return g;
}

static void
net_drop_queue(net *g)
{
	for (size_t i = 0; i < g->qlen; i++)
		free(g->q[(g->qhead + i) % g->qcap].buf);
	g->qlen = 0;
	g->qhead = 0;
}

static void
net_free(net *g)
{
	net_drop_queue(g);
	free(g->q);
	zz_client_free(g->client);
	for (uint32_t i = 0; i < N; i++)
	{
		zz_replica_free(g->r[i]);
		zz_kv_free(g->kv[i]);
		zz_crypto_free(g->rc[i]);
	}
	zz_crypto_free(g->signer0);
	zz_crypto_free(g->cc);
	zz_keyset_free(g->ks);
	zz_buf_free(&g->buf);
	free(g);
}

/* Deliver one queued message (lost if it touches a replica cut off). */
static void
deliver_one(net *g)
{
	msg			m = g->q[g->qhead];

	g->qhead = (g->qhead + 1) % g->qcap;
	g->qlen--;
	g->now += 10;
	if ((m.from < N && g->cut[m.from]) || (m.to < N && g->cut[m.to]) ||
		(g->tamper != NULL && !g->tamper(g, &m)))
	{
		free(m.buf);
		return;
	}
	if (m.to == CLIENT_NODE)
		zz_client_receive(g->client, g->now, m.buf, m.len);
	else
		zz_replica_receive(g->r[m.to], g->now, m.buf, m.len);
	free(m.buf);
}

/* Run the cluster for d microseconds of simulated time. */
static void
run(net *g, zz_time d)
{
	zz_time		end = g->now + d;

	while (g->now < end)
	{
		zz_time		next = end;

		if (g->qlen > 0)
		{
			deliver_one(g);
			continue;
		}
		for (uint32_t i = 0; i < N; i++)
		{
			zz_time		t = zz_replica_next_deadline(g->r[i]);

			if (t < next)
				next = t;
		}
		if (zz_client_next_deadline(g->client) < next)
			next = zz_client_next_deadline(g->client);
		g->now = next > g->now ? next : g->now + 1;
		for (uint32_t i = 0; i < N; i++)
			if (!g->cut[i])
				zz_replica_tick(g->r[i], g->now);
		zz_client_tick(g->client, g->now);
	}
}

/* Submit k requests, one after the other, each run to completion. */
static void
submit(net *g, uint32_t k)
{
	for (uint32_t i = 0; i < k; i++)
	{
		char		op[64];
		int			len = snprintf(op, sizeof(op), "PUT k%u v%u", g->ops % 5, g->ops);
		zz_time		limit = g->now + 2 * 1000 * 1000;

		g->ops++;
		assert_true(zz_client_submit(g->client, g->now, (const uint8_t *) op, (uint32_t) len) > 0);
		while (zz_client_busy(g->client) && g->now < limit)
			run(g, 1000);
		assert_false(zz_client_busy(g->client));
	}
}

static zz_replica_status
status_of(const net *g, uint32_t i)
{
	zz_replica_status s;

	zz_replica_get_status(g->r[i], &s);
	return s;
}

/*
 * Cut LAG off, order `batches` more with the others, and bring it back:
 * the others' stable checkpoint is then far above LAG's log.
 */
static void
lag_behind(net *g, uint32_t batches)
{
	submit(g, 2);
	g->cut[LAG] = true;
	submit(g, batches);
	run(g, 20000);
	assert_true(status_of(g, 0).stable_seq >= 2 + batches - 2 * CP);
	assert_true(status_of(g, LAG).max_seq <= 2);
	g->cut[LAG] = false;
}

/* Keep the cluster busy until LAG executed what R0 executed. */
static void
until_caught_up(net *g)
{
	for (int i = 0; i < 40; i++)
	{
		submit(g, 1);
		run(g, 20000);
		if (status_of(g, LAG).last_executed >= status_of(g, 0).last_executed &&
			status_of(g, LAG).mode == ZZ_MODE_NORMAL)
			break;
	}
}

/* LAG holds R0's history where it ended. */
static void
assert_same_history(net *g)
{
	zz_replica_status a = status_of(g, 0),
				b = status_of(g, LAG);

	assert_int_equal(b.last_executed, a.last_executed);
	assert_memory_equal(&a.history, &b.history, sizeof(zz_digest));
	assert_int_equal(b.mode, ZZ_MODE_NORMAL);
	assert_null(zz_replica_check(g->r[LAG]));
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

/*
 * A replica cut off while the others truncated six intervals past it
 * comes back by replaying the retained ORDER-REQs: no STATE-REQUEST.
 */
static void
test_catchup_replays_several_intervals(void **state)
{
	net		   *g = net_new(*(zz_crypto_mode *) *state, 4096, 1u << 20);
	const zz_replica_stats *st = zz_replica_get_stats(g->r[LAG]);

	lag_behind(g, 6 * CP);
	until_caught_up(g);
	assert_same_history(g);
	assert_int_equal(st->state_transfers, 0);
	assert_int_equal(g->state_requests, 0);
	assert_true(st->catchup_runs >= 1);
	assert_true(st->catchup_batches >= 4 * CP);
	assert_int_equal(st->catchup_refusals, 0);
	net_free(g);
}

/*
 * Without a retained log (retain_batches 0) the replica fetches state, as
 * before: the same run, with a STATE-REQUEST and no replay.
 */
static void
test_catchup_retention_off_transfers(void **state)
{
	net		   *g = net_new(*(zz_crypto_mode *) *state, 0, 0);
	const zz_replica_stats *st = zz_replica_get_stats(g->r[LAG]);

	lag_behind(g, 6 * CP);
	until_caught_up(g);
	assert_same_history(g);
	assert_true(st->state_transfers >= 1);
	assert_true(g->state_requests >= 1);
	assert_int_equal(st->catchup_runs, 0);
	assert_int_equal(st->catchup_batches, 0);
	assert_int_equal(status_of(g, 1).retained_batches, 0);
	net_free(g);
}

/* Send replica `to` a FILL-HOLE for [from, until] signed by LAG. */
static void
fill_hole_as_lag(net *g, uint32_t to, zz_seq from, zz_seq until)
{
	zz_fill_hole m;
	zz_buf		sb;

	memset(&m, 0, sizeof(m));
	m.view = 0;
	m.replica = LAG;
	m.from_seq = from;
	m.to_seq = until;
	zz_buf_init(&sb);
	zz_fill_hole_signing_bytes(&sb, &m);
	assert_true(zz_sign(g->rc[LAG], sb.data, sb.len, &m.sig));
	zz_buf_free(&sb);
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_fill_hole(&g->buf, &m));
	g->now += 10;
	zz_replica_receive(g->r[to], g->now, g->buf.data, g->buf.len);
}

/*
 * What sits in the queue from R1 to LAG: the votes of the first
 * certificate it sends, and its ORDER-REQs.
 */
static void
answer_to_lag(net *g, zz_seq *cp_seq, uint32_t *votes, zz_seq *lo, zz_seq *hi, uint32_t *orders)
{
	*cp_seq = 0;
	*votes = 0;
	*lo = UINT64_MAX;
	*hi = 0;
	*orders = 0;
	for (size_t i = 0; i < g->qlen; i++)
	{
		msg		   *m = &g->q[(g->qhead + i) % g->qcap];

		if (m->from != 1 || m->to != LAG)
			continue;
		if (m->buf[0] == ZZ_MSG_CHECKPOINT)
		{
			zz_checkpoint c;

			assert_int_equal(zz_decode_checkpoint(m->buf, m->len, &c), ZZ_OK);
			if (*cp_seq == 0)
				*cp_seq = c.seq;	/* the first certificate it sends */
			if (c.seq == *cp_seq)
				(*votes)++;
		}
		else if (m->buf[0] == ZZ_MSG_ORDER_REQ)
		{
			zz_order_req o;

			assert_int_equal(zz_decode_order_req(m->buf, m->len, &o), ZZ_OK);
			if (o.hdr.seq < *lo)
				*lo = o.hdr.seq;
			if (o.hdr.seq > *hi)
				*hi = o.hdr.seq;
			(*orders)++;
			zz_order_req_release(&o);
		}
	}
}

/*
 * A FILL-HOLE below the stable checkpoint is answered from the retained
 * log: the certificate of the next retained checkpoint at or above its
 * start, then the ORDER-REQs up to it; one below what is retained gets the
 * stable checkpoint only, as without a retained log.
 */
static void
test_catchup_answer_from_retained_log(void **state)
{
	net		   *g = net_new(*(zz_crypto_mode *) *state, 8 * CP, 1u << 20);
	zz_seq		cp,
				lo,
				hi;
	uint32_t	votes,
				orders;
	zz_replica_status s1;

	g->cut[LAG] = true;
	submit(g, 16 * CP);
	run(g, 20000);
	s1 = status_of(g, 1);
	assert_true(s1.stable_seq >= 14 * CP);
	assert_int_equal(s1.retained_batches, 8 * CP);

	/* from a seq inside the retained log: its next certificate and entries */
	fill_hole_as_lag(g, 1, s1.stable_seq - 2 * CP + 2, s1.stable_seq);
	answer_to_lag(g, &cp, &votes, &lo, &hi, &orders);
	assert_int_equal(cp, s1.stable_seq - CP);
	assert_true(votes >= 3);
	assert_int_equal(lo, s1.stable_seq - 2 * CP + 2);
	assert_int_equal(hi, s1.stable_seq - CP);
	assert_int_equal(orders, CP - 1);
	assert_int_equal(zz_replica_get_stats(g->r[1])->catchup_served, 1);

	/* below the retained log (the oldest went): the stable checkpoint only */
	net_drop_queue(g);
	g->cut[LAG] = true;
	fill_hole_as_lag(g, 1, 1, CP);
	answer_to_lag(g, &cp, &votes, &lo, &hi, &orders);
	assert_int_equal(orders, 0);
	assert_true(votes >= 1);
	assert_true(cp >= s1.stable_seq);	/* its highest certified checkpoint */
	net_free(g);
}

/* The retained log keeps within retain_batches and within retain_bytes. */
static void
test_catchup_retained_log_bounded(void **state)
{
	net		   *g = net_new(*(zz_crypto_mode *) *state, 6, 1u << 20);
	zz_replica_status s;

	submit(g, 12 * CP);
	run(g, 20000);
	for (uint32_t i = 0; i < N; i++)
	{
		s = status_of(g, i);
		assert_true(s.stable_seq >= 10 * CP);
		assert_int_equal(s.retained_batches, 6);
	}
	net_free(g);

	/* a byte bound of a few batches (each is a few hundred bytes) */
	g = net_new(*(zz_crypto_mode *) *state, 4096, 3000);
	submit(g, 12 * CP);
	run(g, 20000);
	for (uint32_t i = 0; i < N; i++)
	{
		s = status_of(g, i);
		assert_true(s.retained_bytes <= 3000);
		assert_true(s.retained_batches >= 1);
		assert_true(s.retained_batches < 12 * CP - 2 * CP);
	}
	net_free(g);
}

/*
 * A faulty peer's answer: ORDER-REQs to LAG up to tamper_upto are
 * rewritten.  Mode 1: one byte of a request changed (its batch digest no
 * longer matches).  Mode 2: another nd_seed, with batch digest and history
 * chain recomputed and signed with the primary's key: a well-formed chain
 * that does not end at the certificate.
 */
static int	tamper_mode;

static bool
tamper_answers(net *g, msg *m)
{
	zz_order_req o,
			   *c;

	if (m->to != LAG || m->len == 0 || m->buf[0] != ZZ_MSG_ORDER_REQ)
		return true;
	assert_int_equal(zz_decode_order_req(m->buf, m->len, &o), ZZ_OK);
	if (o.hdr.seq > g->tamper_upto)
	{
		zz_order_req_release(&o);
		return true;
	}
	c = zz_order_req_clone(&o);
	zz_order_req_release(&o);
	assert_non_null(c);
	if (tamper_mode == 1)
		((uint8_t *) c->reqs[0].op)[c->reqs[0].op_len - 1] ^= 1;
	else
	{
		zz_digest	dg[8],
					prev;
		zz_replica *lag = g->r[LAG];
		zz_buf		sb;

		assert_true(c->hdr.count <= 8);
		for (uint32_t i = 0; i < c->hdr.count; i++)
			zz_request_digest(g->signer0, &c->reqs[i], &dg[i]);
		c->hdr.nd_seed ^= 0x5a5a;
		zz_batch_digest(g->signer0, c->hdr.nd_time, c->hdr.nd_seed, dg, c->hdr.count,
						&c->hdr.batch_digest);
		prev = c->hdr.seq == lag->max_seq + 1 ? lag->max_history : g->forged[(c->hdr.seq - 1) % 64];
		zz_chain_history(g->signer0, &prev, c->hdr.seq, &c->hdr.batch_digest, &c->hdr.history);
		g->forged[c->hdr.seq % 64] = c->hdr.history;
		zz_buf_init(&sb);
		zz_order_hdr_signing_bytes(&sb, &c->hdr);
		assert_true(zz_sign(g->signer0, sb.data, sb.len, &c->hdr.sig));
		zz_buf_free(&sb);
	}
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_order_req(&g->buf, c));
	zz_order_req_free(c);
	free(m->buf);
	m->buf = malloc(g->buf.len);
	assert_non_null(m->buf);
	memcpy(m->buf, g->buf.data, g->buf.len);
	m->len = g->buf.len;
	g->tampered++;
	return true;
}

static void
forged_chain_refused(void **state, int mode)
{
	net		   *g = net_new(*(zz_crypto_mode *) *state, 4096, 1u << 20);
	const zz_replica_stats *st = zz_replica_get_stats(g->r[LAG]);

	lag_behind(g, 6 * CP);
	g->tamper_upto = status_of(g, 0).stable_seq;
	tamper_mode = mode;
	g->tamper = tamper_answers;
	until_caught_up(g);
	assert_true(g->tampered > 0);
	/* every answer refused, nothing replayed: it fetched state instead */
	assert_true(st->catchup_refusals >= 2);
	assert_int_equal(st->catchup_batches, 0);
	assert_true(st->state_transfers >= 1);
	assert_same_history(g);
	net_free(g);
}

static void
test_catchup_tampered_request_refused(void **state)
{
	forged_chain_refused(state, 1);
}

static void
test_catchup_forged_chain_refused(void **state)
{
	forged_chain_refused(state, 2);
}

#define BOTH(fn) \
	cmocka_unit_test_prestate(fn, &mode_real), \
	cmocka_unit_test_prestate(fn, &mode_symbolic)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_catchup_replays_several_intervals),
		BOTH(test_catchup_retention_off_transfers),
		BOTH(test_catchup_answer_from_retained_log),
		BOTH(test_catchup_retained_log_bounded),
		BOTH(test_catchup_tampered_request_refused),
		BOTH(test_catchup_forged_chain_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
