/*
 * test_install_paths.c
 *	  The ends of a background install (zz_replica_install_done) that a
 *	  view change overtook, run deterministically.
 *
 * A service that installs in the background (zz_service.install_start,
 * as pgservice's chunked transfer does) may finish after a view change put
 * the transfer aside and the replica went on by itself.  By then the
 * replica has a stable checkpoint of its own:
 *
 *	- AT the installed checkpoint (same seq, same history): the service's
 *	  state is the checkpoint's, which the core already holds: adopt, and
 *	  execute the batches above it again.
 *	- ABOVE it: the service holds an older state than the batches the core
 *	  executed since: repair (fetch the highest certified checkpoint).
 *
 * The simulator found the second (seed 3045: f=1, Byzantine, background
 * install and execution window); only a random seed reached the first.
 *
 * Here four real replicas run over the in-memory KV service, with the test
 * as the network (it delivers every message in the order sent).  R3 is cut
 * off while the first checkpoint's batches run, then hears the checkpoint
 * votes and fetches the certified state.  Its service wraps its KV and
 * runs installs in the background: install_start keeps the snapshot and
 * the test decides when the install ends (it installs it into the KV then
 * and calls zz_replica_install_done).  While the install is held, the
 * test makes every replica hate the primary; R3 puts its transfer aside,
 * takes part in the view change, executes the new history itself and
 * makes later checkpoints stable on its own.
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

#include "kvservice.h"
#include "message.h"
#include "replica.h"

#define CP			4			/* cp_interval */
#define N_CLIENTS	2
#define BG			3			/* the replica whose service installs in the background */

typedef struct msg
{
	uint32_t	dest;
	uint8_t    *buf;
	size_t		len;
} msg;

typedef struct net net;

typedef struct endpoint
{
	net		   *w;
	uint32_t	id;
} endpoint;

/* R3's service: the KV, whose installs the test holds. */
typedef struct bg_service
{
	zz_service	svc;
	const zz_service *inner;
	bool		held;			/* an install waits for the test */
	uint32_t	started;		/* install_start calls */
	zz_seq		seq;
	zz_digest	history,
				expect;
	uint8_t    *data;
	size_t		len;
} bg_service;

struct net
{
	zz_params	p;
	zz_keyset  *ks;
	zz_crypto  *rcs[ZZ_MAX_N];
	zz_crypto  *signer[ZZ_MAX_N];
	zz_crypto  *client[N_CLIENTS];
	zz_kvservice *kvs[ZZ_MAX_N];
	zz_replica *rr[ZZ_MAX_N];
	endpoint	eps[ZZ_MAX_N];
	zz_io		ios[ZZ_MAX_N];
	bg_service	bg;
	bool		cut_bg;			/* R3 hears nothing but CHECKPOINTs, kept back */
	msg		   *kept;			/* the CHECKPOINTs kept back from R3 */
	size_t		n_kept;
	msg		   *q;
	size_t		nq,
				capq,
				head;
	uint64_t	next_ts[N_CLIENTS];
	zz_time		now;
	bool		trace;
	zz_buf		buf;
	zz_buf		sigbuf;
};

static zz_crypto_mode mode_real = ZZ_CRYPTO_REAL;
static zz_crypto_mode mode_symbolic = ZZ_CRYPTO_SYMBOLIC;

static void
io_to_replica(void *ctx, uint32_t replica, const uint8_t *buf, size_t len)
{
	net		   *w = ((endpoint *) ctx)->w;
	msg		   *m;

	if (w->nq == w->capq)
	{
		w->capq = w->capq ? 2 * w->capq : 256;
		w->q = realloc(w->q, w->capq * sizeof(*w->q));
		assert_non_null(w->q);
	}
	m = &w->q[w->nq++];
	m->dest = replica;
	m->len = len;
	m->buf = malloc(len ? len : 1);
	assert_non_null(m->buf);
	memcpy(m->buf, buf, len);
}

static void
io_to_client(void *ctx, uint32_t client, const uint8_t *buf, size_t len)
{
	/* the test checks the replicas, not what clients would see */
}

static void
io_trace(void *ctx, const char *line)
{
	endpoint   *e = ctx;

	if (e->w->trace)
		fprintf(stderr, "  R%u: %s\n", e->id, line);
}

/* ------------------------------------------------------------------------
 * R3's service
 * ------------------------------------------------------------------------ */

static zz_exec_status
bg_execute(void *ctx, zz_seq seq, uint64_t nd_time, uint64_t nd_seed, const zz_op *ops,
		   uint32_t count, bool want_digest, zz_exec_result *res)
{
	bg_service *b = ctx;

	return b->inner->execute(b->inner->ctx, seq, nd_time, nd_seed, ops, count, want_digest,
							 res);
}

static bool
bg_rollback(void *ctx, zz_seq seq)
{
	bg_service *b = ctx;

	return b->inner->rollback(b->inner->ctx, seq);
}

static void
bg_mark_stable(void *ctx, zz_seq seq)
{
	bg_service *b = ctx;

	b->inner->mark_stable(b->inner->ctx, seq);
}

static bool
bg_snapshot(void *ctx, zz_seq seq, uint8_t **out, size_t *outlen)
{
	bg_service *b = ctx;

	return b->inner->snapshot(b->inner->ctx, seq, out, outlen);
}

static bool
bg_install(void *ctx, zz_seq seq, const zz_digest *history, const uint8_t *data, size_t len,
		   const zz_digest *expect)
{
	bg_service *b = ctx;

	return b->inner->install(b->inner->ctx, seq, history, data, len, expect);
}

/* Keep the snapshot; the test ends the install (bg_finish). */
static int
bg_install_start(void *ctx, uint32_t from, zz_seq seq, const zz_digest *history,
				 const uint8_t *data, size_t len, const zz_digest *expect)
{
	bg_service *b = ctx;

	assert_false(b->held);
	b->held = true;
	b->started++;
	b->seq = seq;
	b->history = *history;
	b->expect = *expect;
	free(b->data);
	b->data = malloc(len ? len : 1);
	assert_non_null(b->data);
	memcpy(b->data, data, len);
	b->len = len;
	return 1;
}

/*
 * The background install ends: the KV's state becomes the checkpoint's
 * (whatever R3 executed meanwhile), and the core hears of it.
 */
static void
bg_finish(net *w)
{
	bg_service *b = &w->bg;

	assert_true(b->held);
	b->held = false;
	assert_true(b->inner->install(b->inner->ctx, b->seq, &b->history, b->data, b->len,
								  &b->expect));
	w->now += 10;
	zz_replica_install_done(w->rr[BG], w->now, true);
}

/* ------------------------------------------------------------------------
 * The cluster and its network
 * ------------------------------------------------------------------------ */

static net *
net_new(void **state)
{
	net		   *w = calloc(1, sizeof(*w));
	zz_crypto_mode mode = *(const zz_crypto_mode *) *state;
	uint32_t	i;

	assert_non_null(w);
	assert_true(zz_params_default(&w->p, 1));
	w->p.cp_interval = CP;
	w->p.batch_max = 1;
	w->ks = zz_keyset_from_seed(mode, w->p.n, N_CLIENTS, 0x1b5a);
	assert_non_null(w->ks);
	w->trace = getenv("ZZ_TEST_TRACE") != NULL;
	zz_buf_init(&w->buf);
	zz_buf_init(&w->sigbuf);
	w->now = 1000;
	for (i = 0; i < N_CLIENTS; i++)
	{
		w->client[i] = zz_crypto_create(w->ks, false, i);
		assert_non_null(w->client[i]);
		w->next_ts[i] = 1;
	}
	for (i = 0; i < w->p.n; i++)
	{
		const zz_service *svc;

		w->signer[i] = zz_crypto_create(w->ks, true, i);
		w->rcs[i] = zz_crypto_create(w->ks, true, i);
		w->kvs[i] = zz_kv_create();
		assert_non_null(w->signer[i]);
		assert_non_null(w->rcs[i]);
		assert_non_null(w->kvs[i]);
		w->eps[i].w = w;
		w->eps[i].id = i;
		w->ios[i].ctx = &w->eps[i];
		w->ios[i].to_replica = io_to_replica;
		w->ios[i].to_client = io_to_client;
		w->ios[i].trace = io_trace;
		svc = zz_kv_service(w->kvs[i]);
		if (i == BG)
		{
			w->bg.inner = svc;
			w->bg.svc = *svc;
			w->bg.svc.ctx = &w->bg;
			w->bg.svc.execute = bg_execute;
			w->bg.svc.rollback = bg_rollback;
			w->bg.svc.mark_stable = bg_mark_stable;
			w->bg.svc.snapshot = bg_snapshot;
			w->bg.svc.install = bg_install;
			w->bg.svc.serve = NULL;
			w->bg.svc.install_start = bg_install_start;
			svc = &w->bg.svc;
		}
		w->rr[i] = zz_replica_create(&w->p, i, w->rcs[i], svc, &w->ios[i]);
		assert_non_null(w->rr[i]);
	}
	return w;
}

static void
net_free(net *w)
{
	uint32_t	i;

	for (i = 0; i < w->p.n; i++)
	{
		zz_replica_free(w->rr[i]);
		zz_kv_free(w->kvs[i]);
		zz_crypto_free(w->rcs[i]);
		zz_crypto_free(w->signer[i]);
	}
	for (i = 0; i < N_CLIENTS; i++)
		zz_crypto_free(w->client[i]);
	for (size_t k = w->head; k < w->nq; k++)
		free(w->q[k].buf);
	for (size_t k = 0; k < w->n_kept; k++)
		free(w->kept[k].buf);
	free(w->kept);
	free(w->q);
	free(w->bg.data);
	zz_keyset_free(w->ks);
	zz_buf_free(&w->buf);
	zz_buf_free(&w->sigbuf);
	free(w);
}

/* Deliver every message sent so far, and what those provoke, in order. */
static void
pump(net *w)
{
	while (w->head < w->nq)
	{
		msg			m = w->q[w->head++];

		if (m.dest == BG && w->cut_bg)
		{
			if (m.len > 0 && m.buf[0] == ZZ_MSG_CHECKPOINT)
			{
				w->kept = realloc(w->kept, (w->n_kept + 1) * sizeof(*w->kept));
				assert_non_null(w->kept);
				w->kept[w->n_kept++] = m;
				continue;
			}
		}
		else if (m.dest < w->p.n)
		{
			w->now += 1;
			zz_replica_receive(w->rr[m.dest], w->now, m.buf, m.len);
		}
		free(m.buf);
	}
}

/* Let time pass by d: every replica's timers, then the network. */
static void
run_for(net *w, zz_time d)
{
	w->now += d;
	for (uint32_t i = 0; i < w->p.n; i++)
		zz_replica_tick(w->rr[i], w->now);
	pump(w);
}

static zz_replica_status
status_of(const net *w, uint32_t i)
{
	zz_replica_status st;

	zz_replica_get_status(w->rr[i], &st);
	return st;
}

/* A client's REQUEST to the primary of `view`, which orders it. */
static void
request(net *w, uint32_t client, zz_view view, const char *op)
{
	zz_request	req;
	zz_digest	d;

	memset(&req, 0, sizeof(req));
	req.client = client;
	req.timestamp = w->next_ts[client]++;
	req.op = (const uint8_t *) op;
	req.op_len = (uint32_t) strlen(op);
	zz_request_digest(w->client[client], &req, &d);
	req.n_auth = (uint8_t) w->p.n;
	for (uint32_t j = 0; j < w->p.n; j++)
		zz_mac_compute(w->client[client], j, &d, &req.auth[j]);
	zz_buf_reset(&w->buf);
	assert_true(zz_encode_request(&w->buf, &req));
	w->now += 10;
	zz_replica_receive(w->rr[zz_primary_of(&w->p, view)], w->now, w->buf.data, w->buf.len);
	pump(w);
	run_for(w, w->p.batch_timeout + 1);
}

/* k increments, each ordered, executed and answered before the next. */
static void
load(net *w, zz_view view, uint32_t k)
{
	while (k-- > 0)
		request(w, 0, view, "ADD hits 1");
}

/* Every replica hears every replica hate the primary of view v. */
static void
hate_all(net *w, zz_view v)
{
	for (uint32_t from = 0; from < w->p.n; from++)
	{
		zz_i_hate	m;

		memset(&m, 0, sizeof(m));
		m.view = v;
		m.replica = from;
		zz_i_hate_signing_bytes(&w->sigbuf, v, from);
		assert_true(zz_sign(w->signer[from], w->sigbuf.data, w->sigbuf.len, &m.sig));
		zz_buf_reset(&w->buf);
		assert_true(zz_encode_i_hate(&w->buf, &m));
		for (uint32_t to = 0; to < w->p.n; to++)
		{
			if (to == from)
				continue;
			w->now += 1;
			zz_replica_receive(w->rr[to], w->now, w->buf.data, w->buf.len);
		}
	}
	pump(w);
}

/* Every replica's KV holds the same state, and their logs agree. */
static void
assert_agreement(net *w)
{
	zz_digest	d0,
				di;
	zz_replica_status s0 = status_of(w, 0);

	zz_kv_digest_full(w->kvs[0], &d0);
	for (uint32_t i = 1; i < w->p.n; i++)
	{
		zz_replica_status si = status_of(w, i);

		zz_kv_digest_full(w->kvs[i], &di);
		assert_memory_equal(&d0, &di, sizeof(d0));
		assert_int_equal(si.last_executed, s0.last_executed);
		assert_memory_equal(&si.history, &s0.history, sizeof(zz_digest));
	}
	for (uint32_t i = 0; i < w->p.n; i++)
		assert_null(zz_replica_check(w->rr[i]));
}

/*
 * The common start: CP batches in view 0 that R3 misses (cut off), then
 * the checkpoint votes for CP reach it: it fetches the certified
 * checkpoint CP, whose install the test holds.  Then the view change to
 * view 1: R3 puts its transfer aside, takes part, and gets the batches up
 * to CP from the new history, which it executes itself.
 */
static net *
overtaken_install(void **state)
{
	net		   *w = net_new(state);
	zz_replica_status st;

	w->cut_bg = true;
	load(w, 0, CP);
	w->cut_bg = false;
	for (uint32_t i = 0; i < BG; i++)
		assert_int_equal(status_of(w, i).certified, CP);
	assert_int_equal(status_of(w, BG).last_executed, 0);
	for (size_t k = 0; k < w->n_kept; k++)
	{
		w->now += 1;
		zz_replica_receive(w->rr[BG], w->now, w->kept[k].buf, w->kept[k].len);
	}
	pump(w);
	st = status_of(w, BG);
	assert_int_equal(st.mode, ZZ_MODE_STATE_TRANSFER);
	assert_int_equal(st.transfer_seq, CP);
	assert_true(w->bg.held);
	assert_int_equal(w->bg.seq, CP);

	hate_all(w, 0);
	run_for(w, w->p.fill_hole_timeout + 1);
	for (uint32_t i = 0; i < w->p.n; i++)
	{
		st = status_of(w, i);
		assert_int_equal(st.view, 1);
		assert_int_equal(st.mode, ZZ_MODE_NORMAL);
		assert_int_equal(st.last_executed, CP);
	}
	assert_int_equal(status_of(w, BG).stable_seq, 0);
	assert_true(w->bg.held);	/* the install still runs */
	return w;
}

/*
 * The install ends at R3's stable checkpoint, which R3 made stable by
 * itself after the view change: adopted (the batches above it executed
 * again over the installed state), no repair, and R3 agrees with the
 * others.
 */
static void
test_install_ending_at_stable_adopts(void **state)
{
	net		   *w = overtaken_install(state);
	const zz_replica_stats *s = zz_replica_get_stats(w->rr[BG]);
	uint64_t	installed = s->transfers_installed;
	zz_replica_status st;

	/* CP becomes stable once 2 CP is certified: R3 executes 5..8 itself */
	load(w, 1, CP);
	st = status_of(w, BG);
	assert_int_equal(st.last_executed, 2 * CP);
	assert_int_equal(st.stable_seq, CP);
	assert_true(w->bg.held);

	/*
	 * The KV now holds checkpoint CP's state: the batches above it must
	 * run again for the service to match the core.
	 */
	bg_finish(w);
	st = status_of(w, BG);
	assert_int_equal(st.mode, ZZ_MODE_NORMAL);
	assert_false(st.repairing);
	assert_int_equal(st.stable_seq, CP);
	assert_int_equal(s->repairs, 0);
	assert_int_equal(s->transfers_installed, installed + 1);
	assert_null(zz_replica_check(w->rr[BG]));
	assert_agreement(w);

	load(w, 1, CP);
	assert_int_equal(status_of(w, BG).last_executed, 3 * CP);
	assert_int_equal(status_of(w, BG).stable_seq, 2 * CP);
	assert_int_equal(s->repairs, 0);
	assert_int_equal(w->bg.started, 1);
	assert_agreement(w);
	net_free(w);
}

/*
 * R3 makes a later checkpoint stable by itself before the install ends:
 * the service then holds checkpoint CP's state under the core's 2 CP.
 * R3 must repair (fetch the highest certified checkpoint), not adopt the
 * old state nor go on over it; after the repair it agrees with the others.
 */
static void
test_install_ending_below_stable_repairs(void **state)
{
	net		   *w = overtaken_install(state);
	const zz_replica_stats *s = zz_replica_get_stats(w->rr[BG]);
	zz_replica_status st;

	load(w, 1, 2 * CP);
	st = status_of(w, BG);
	assert_int_equal(st.last_executed, 3 * CP);
	assert_int_equal(st.stable_seq, 2 * CP);
	assert_true(w->bg.held);

	bg_finish(w);
	st = status_of(w, BG);
	assert_int_equal(s->repairs, 1);
	assert_true(st.repairing);
	assert_int_equal(st.mode, ZZ_MODE_STATE_TRANSFER);
	assert_true(st.transfer_seq >= 2 * CP);

	/* the repair fetches the certified checkpoint, installed in the background too */
	pump(w);
	run_for(w, 1);
	assert_true(w->bg.held);
	assert_int_equal(w->bg.started, 2);
	assert_true(w->bg.seq >= 2 * CP);
	bg_finish(w);
	st = status_of(w, BG);
	assert_int_equal(st.mode, ZZ_MODE_NORMAL);
	assert_false(st.repairing);

	load(w, 1, CP);
	assert_int_equal(status_of(w, BG).last_executed, 4 * CP);
	assert_int_equal(s->repairs, 1);
	assert_agreement(w);
	net_free(w);
}

#define BOTH(fn) \
	cmocka_unit_test_prestate(fn, &mode_symbolic), \
	cmocka_unit_test_prestate(fn, &mode_real)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_install_ending_at_stable_adopts),
		BOTH(test_install_ending_below_stable_repairs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
