/*
 * test_replica_ccviews.c
 *	  Unit tests of certificates across views: what a commit or checkpoint
 *	  certificate of an older view may still do after a view change
 *	  (LOCAL-COMMIT, the max CC, hating the primary, a client's completion).
 *	  Each rule is also run with its planted bug switched on, to show the
 *	  test catches it.
 *
 * Most run all n replicas for real, with the test playing the network, a
 * faulty R0 and the clients (replica_rig.h).  Two of them (marked
 * "regression") reproduce core bugs these tests found, now fixed; each
 * says what it expects.
 */

#include "replica_rig.h"

/* ------------------------------------------------------------------------
 * A small cluster: every replica real, the network in the test's hands
 * ------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------ */

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_stale_cc_from_old_view_does_not_hate_new_primary),
		BOTH(test_rollback_below_max_cc_drops_it),
		BOTH(test_cc_of_older_view_not_local_committed),
		BOTH(test_checkpoint_below_entered_view_evidence_refused),
		BOTH(test_max_cc_ranked_by_view_then_seq),
		BOTH(test_client_completes_on_local_commits_of_one_view),
		BOTH(test_entered_view_cert_outranks_older_cc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
