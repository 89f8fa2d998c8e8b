/*
 * test_replica_checkpoint.c
 *	  Unit tests of checkpoints and state transfer (docs/protocol.md
 *	  section 7): the replica's own CHECKPOINT votes, certification and
 *	  stability (truncation one interval later), votes that must not count,
 *	  a divergent certificate starting a state transfer, and the checkpoint
 *	  certificate a STATE-REPLY carries.
 *
 * The rig is shared with the other test_replica_*.c (replica_rig.h).
 */

#include "replica_rig.h"

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

/* ------------------------------------------------------------------------
 * Issue 10: certificates across views, forged evidence
 * ------------------------------------------------------------------------ */

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
 * Liveness (issue 10 item 7)
 * ------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------ */

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_checkpoint_sent_every_interval),
		BOTH(test_checkpoint_quorum_certifies_then_truncates_one_interval_later),
		BOTH(test_checkpoint_next_vote_waits_for_certificate),
		BOTH(test_checkpoint_vote_bad_signature_not_counted),
		BOTH(test_checkpoint_vote_wrong_replica_not_counted),
		BOTH(test_checkpoint_vote_mismatched_digest_not_counted),
		BOTH(test_checkpoint_vote_duplicate_not_counted),
		BOTH(test_checkpoint_f_plus_one_not_enough),
		BOTH(test_checkpoint_divergence_starts_state_transfer),
		BOTH(test_lagging_replica_certifies_far_checkpoint),
		BOTH(test_stale_certificate_does_not_hide_current),
		BOTH(test_state_reply_certificate_checked),
		BOTH(test_state_reply_stale_certificate_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
