/*
 * test_replica_order.c
 *	  Unit tests of the normal case at a backup: flow control (section 2),
 *	  ORDER-REQ acceptance (section 4 step 3), exactly-once execution and
 *	  cached replies (sections 2 and 5), and buffered ORDER-REQs checked
 *	  when the hole before them fills.
 *
 * The rig is shared with the other test_replica_*.c (replica_rig.h).
 */

#include "replica_rig.h"

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
 * Issue 10: certificates across views, forged evidence
 * ------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------ */

int
main(void)
{
	const struct CMUnitTest tests[] = {
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
		BOTH(test_buffered_order_req_verified_when_applied),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
