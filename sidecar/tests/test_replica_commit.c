/*
 * test_replica_commit.c
 *	  Unit tests of commit-certificate validation within one view: a
 *	  client's COMMIT and the replica's LOCAL-COMMIT (docs/protocol.md
 *	  section 4 step 5).
 *
 * The replica under test executes one request and is then handed
 * certificates: a valid quorum, duplicate or out-of-range signers, too
 * few, bad signatures, another view, a conflicting history (genuine and
 * forged), a sequence not yet executed, and a COMMIT during a view change.
 * The rig is shared with the other test_replica_*.c (replica_rig.h).
 */

#include "replica_rig.h"

/* ------------------------------------------------------------------------
 * Reading what the replica sent
 * ------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------ */

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
