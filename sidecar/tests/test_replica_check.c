/*
 * test_replica_check.c
 *	  Unit tests of zz_replica_check (check.c): each invariant, broken by
 *	  hand in a replica that passed it, is caught and named.
 *
 * The rig is shared with the other test_replica_*.c (replica_rig.h).
 */

#include "replica_rig.h"

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

/* ------------------------------------------------------------------------ */

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_check_catches_corrupt_history),
		BOTH(test_check_catches_broken_positions),
		BOTH(test_check_catches_client_table_drift),
		BOTH(test_check_catches_duplicate_execution),
		BOTH(test_check_catches_mode_violations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
