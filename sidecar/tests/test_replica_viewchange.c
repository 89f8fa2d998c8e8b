/*
 * test_replica_viewchange.c
 *	  Unit tests of the view change (docs/protocol.md section 8): a replica
 *	  that cannot build its VIEW-CHANGE still leaves the view, CHECKPOINT
 *	  votes only in normal mode, a NEW-VIEW needs exactly a quorum, a POM
 *	  needs one (v, n), a state transfer yields to a view change, and a
 *	  replica that enters a view late fetches the entries it missed.
 *
 * Most run all n replicas, with the test as the network (replica_rig.h).
 */

#include "replica_rig.h"

/* ------------------------------------------------------------------------
 * Checkpoints (section 7)
 * ------------------------------------------------------------------------ */

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
 * Issue 10: certificates across views, forged evidence
 * ------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------
 * Liveness (issue 10 item 7)
 * ------------------------------------------------------------------------ */

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_checkpoint_vote_only_in_normal_mode),
		BOTH(test_view_change_build_failure_leaves_view),
		BOTH(test_new_view_needs_exactly_quorum),
		BOTH(test_pom_requires_same_view_and_seq),
		BOTH(test_state_transfer_yields_to_view_change),
		BOTH(test_late_view_entry_fetches_missed_entries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
