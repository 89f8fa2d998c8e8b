/*
 * test_replica_window.c
 *	  Unit tests of the execution window (exec_window, execute.c): a
 *	  service that answers later lets the replica submit batches ahead,
 *	  rolls back exactly what it was handed, and zz_replica_check catches
 *	  a replica that runs past the window.
 *
 * The rig is shared with the other test_replica_*.c (replica_rig.h).
 */

#include "replica_rig.h"

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

/* ------------------------------------------------------------------------ */

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_window_submits_ahead),
		BOTH(test_window_rollback_exact),
		BOTH(test_check_catches_window_overrun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
