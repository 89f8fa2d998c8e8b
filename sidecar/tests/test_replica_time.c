/*
 * test_replica_time.c
 *	  Unit tests of the batch time: a backup refuses an ORDER-REQ whose
 *	  time goes back or runs ahead, a rollback restores it, the primary's
 *	  never goes back; and of the primary's pacing: it waits for execution
 *	  before the next batch, and its patience with a forwarded request
 *	  grows with the bytes forwarded.
 *
 * The rig is shared with the other test_replica_*.c (replica_rig.h).
 */

#include "replica_rig.h"

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

/* ------------------------------------------------------------------------ */

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_order_req_time_bounds),
		BOTH(test_rollback_restores_batch_time),
		BOTH(test_primary_time_never_goes_back),
		BOTH(test_primary_batch_waits_for_execution),
		BOTH(test_confirm_patience_grows_with_bytes_forwarded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
