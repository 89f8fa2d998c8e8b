/*
 * test_sim.c
 *	  Tests of the simulator and its checker: each invariant catches a
 *	  violation fed to it directly; each planted bug is caught in a short
 *	  sweep (and its scenario without the bug shows no such violation); a
 *	  seed replays identically; a fault-free sweep passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "checker.h"
#include "explore.h"
#include "scenario.h"
#include "sim.h"

/* ------------------------------------------------ checker, fed directly */

static zz_digest
dig(uint8_t x)
{
	zz_digest	d;

	memset(&d, x, sizeof(d));
	return d;
}

static zz_completion
completion(uint64_t ts, zz_seq seq, uint8_t h, const char *reply)
{
	zz_completion c;

	memset(&c, 0, sizeof(c));
	c.timestamp = ts;
	c.seq = seq;
	c.history = dig(h);
	c.reply = (const uint8_t *) reply;
	c.reply_len = (uint32_t) strlen(reply);
	return c;
}

static void
exec(zz_checker *ck, uint32_t r, zz_seq seq, uint32_t client, uint64_t ts,
	 const char *reply)
{
	zz_checker_executed(ck, r, seq, client, ts, (const uint8_t *) reply,
						(uint32_t) strlen(reply));
}

/* Show replica r a history of (seq, h) pairs, the first committed ones first. */
static void
visit(zz_checker *ck, uint32_t r, const zz_seq *seqs, const uint8_t *hs, int n,
	  int committed)
{
	zz_checker_visit_begin(ck, r);
	for (int i = 0; i < n; i++)
	{
		zz_digest	h = dig(hs[i]);

		zz_checker_history(ck, r, seqs[i], &h, i < committed);
	}
}

static void
test_checker_agreement_completions(void **state)
{
	zz_checker *ck = zz_checker_create(4, 3);
	zz_completion a = completion(1, 5, 0xaa, "OK");
	zz_completion b = completion(1, 5, 0xaa, "OK");
	zz_completion c = completion(2, 5, 0xbb, "OK");

	zz_checker_completed(ck, 0, &a);
	zz_checker_completed(ck, 1, &b);	/* same seq, same h: a batch */
	assert_int_equal(zz_checker_violations(ck), 0);
	zz_checker_completed(ck, 2, &c);
	assert_int_equal(zz_checker_violations(ck), ZZ_V_AGREEMENT);
	zz_checker_free(ck);
}

static void
test_checker_agreement_committed(void **state)
{
	zz_checker *ck = zz_checker_create(4, 1);
	const zz_seq seqs[] = {1, 2, 3};
	const uint8_t h0[] = {1, 2, 3};
	const uint8_t h1[] = {1, 2, 9};
	zz_completion c = completion(1, 3, 3, "x");

	visit(ck, 0, seqs, h0, 3, 3);
	visit(ck, 1, seqs, h1, 3, 2);	/* 3 differs but is speculative: fine */
	assert_int_equal(zz_checker_violations(ck), 0);
	/* A faulty replica's committed history does not count. */
	zz_checker_set_faulty_replica(ck, 3);
	visit(ck, 3, seqs, h1, 3, 3);
	assert_int_equal(zz_checker_violations(ck), 0);
	zz_checker_completed(ck, 0, &c);
	assert_int_equal(zz_checker_violations(ck), 0);
	visit(ck, 1, seqs, h1, 3, 3);	/* now replica 1 commits its 3 */
	assert_int_equal(zz_checker_violations(ck), ZZ_V_AGREEMENT);
	zz_checker_free(ck);
}

static void
test_checker_chain(void **state)
{
	zz_checker *ck = zz_checker_create(4, 1);
	const zz_seq seqs[] = {4, 5};
	const uint8_t a[] = {0x40, 0x50};
	const uint8_t b[] = {0x41, 0x51};
	const uint8_t c[] = {0x41, 0x50};

	visit(ck, 0, seqs, a, 2, 0);
	visit(ck, 1, seqs, b, 2, 0);	/* a different branch: fine */
	visit(ck, 2, seqs, a, 2, 0);
	assert_int_equal(zz_checker_violations(ck), 0);
	visit(ck, 3, seqs, c, 2, 0);	/* h_5 of branch a over h_4 of branch b */
	assert_int_equal(zz_checker_violations(ck), ZZ_V_CHAIN);
	zz_checker_free(ck);
}

static void
test_checker_validity(void **state)
{
	zz_checker *ck = zz_checker_create(4, 2);
	const zz_seq seqs[] = {3};
	const uint8_t hs[] = {0x33};
	const uint8_t other[] = {0x34};
	zz_completion good = completion(1, 3, 0x33, "VALUE a");
	zz_completion bad = completion(1, 3, 0x33, "VALUE b");

	/* Replica 1 ran another history at 3: its reply is not compared. */
	exec(ck, 1, 3, 0, 1, "VALUE z");
	visit(ck, 1, seqs, other, 1, 0);
	exec(ck, 0, 3, 0, 1, "VALUE a");
	visit(ck, 0, seqs, hs, 1, 0);
	zz_checker_completed(ck, 0, &good);
	assert_int_equal(zz_checker_violations(ck), 0);
	zz_checker_finish(ck);
	assert_int_equal(zz_checker_violations(ck), 0);
	zz_checker_free(ck);

	/* Replied differently from the correct replica at the same history. */
	ck = zz_checker_create(4, 2);
	exec(ck, 0, 3, 0, 1, "VALUE a");
	visit(ck, 0, seqs, hs, 1, 0);
	zz_checker_completed(ck, 0, &bad);
	assert_int_equal(zz_checker_violations(ck), ZZ_V_VALIDITY);
	zz_checker_free(ck);

	/* The order the other way round: completion first, execution later. */
	ck = zz_checker_create(4, 2);
	zz_checker_completed(ck, 0, &bad);
	exec(ck, 2, 3, 0, 1, "VALUE a");
	visit(ck, 2, seqs, hs, 1, 0);
	assert_int_equal(zz_checker_violations(ck), ZZ_V_VALIDITY);
	zz_checker_free(ck);

	/* No correct replica ever produced it: caught at the end. */
	ck = zz_checker_create(4, 2);
	zz_checker_completed(ck, 0, &good);
	assert_int_equal(zz_checker_violations(ck), 0);
	zz_checker_finish(ck);
	assert_int_equal(zz_checker_violations(ck), ZZ_V_VALIDITY);
	zz_checker_free(ck);
}

static void
test_checker_exactly_once(void **state)
{
	zz_checker *ck = zz_checker_create(4, 2);
	zz_completion c = completion(7, 4, 0x44, "1");

	exec(ck, 0, 2, 1, 7, "1");
	zz_checker_rolled_back(ck, 0, 1);	/* undone: may execute again */
	exec(ck, 0, 4, 1, 7, "1");
	zz_checker_installed(ck, 1, 10);
	exec(ck, 1, 11, 1, 7, "1");			/* after a state transfer */
	assert_int_equal(zz_checker_violations(ck), 0);
	exec(ck, 0, 5, 1, 7, "1");
	assert_int_equal(zz_checker_violations(ck), ZZ_V_EXACTLY_ONCE);
	zz_checker_free(ck);

	/* A (c, t) completing twice. */
	ck = zz_checker_create(4, 2);
	zz_checker_completed(ck, 1, &c);
	assert_int_equal(zz_checker_violations(ck), 0);
	zz_checker_completed(ck, 1, &c);
	assert_int_equal(zz_checker_violations(ck), ZZ_V_EXACTLY_ONCE);
	zz_checker_free(ck);
}

static void
test_checker_checkpoint(void **state)
{
	zz_checker *ck = zz_checker_create(4, 1);
	zz_digest	a = dig(0xa0);
	zz_digest	b = dig(0xb0);

	zz_checker_stable(ck, 0, 16, &a);
	zz_checker_stable(ck, 1, 16, &a);
	zz_checker_stable(ck, 2, 32, &b);
	assert_int_equal(zz_checker_violations(ck), 0);
	zz_checker_stable(ck, 3, 16, &b);
	assert_int_equal(zz_checker_violations(ck), ZZ_V_CHECKPOINT);
	zz_checker_free(ck);
}

static void
test_checker_liveness(void **state)
{
	zz_checker *ck = zz_checker_create(4, 2);
	zz_completion c = completion(1, 1, 1, "OK");

	zz_checker_submitted(ck, 0, 1, 50);
	zz_checker_submitted(ck, 1, 1, 50);
	assert_int_equal(zz_checker_liveness_deadline(ck, 100, 1000), 1100);
	zz_checker_liveness(ck, 1100, 100, 1000);
	assert_int_equal(zz_checker_violations(ck), 0);
	zz_checker_completed(ck, 0, &c);
	zz_checker_liveness(ck, 1101, 100, 1000);
	assert_int_equal(zz_checker_violations(ck), ZZ_V_LIVENESS);
	zz_checker_free(ck);

	/* Outstanding at the end of the run. */
	ck = zz_checker_create(4, 2);
	zz_checker_set_faulty_client(ck, 1);
	zz_checker_submitted(ck, 1, 1, 0);	/* faulty: never counted */
	zz_checker_finish(ck);
	assert_int_equal(zz_checker_violations(ck), 0);
	zz_checker_submitted(ck, 0, 3, 0);
	zz_checker_finish(ck);
	assert_int_equal(zz_checker_violations(ck), ZZ_V_LIVENESS);
	zz_checker_free(ck);
}

/*
 * A correct replica left behind a stable checkpoint, one that f+1 correct
 * replicas hold a certificate above, fails liveness once the bound has
 * passed, counted from when it fell behind or the faults ended, whichever
 * is later.  A stable checkpoint without f+1 certificates above it (a
 * state transfer installs the certificate it fetched as the stable
 * checkpoint), a faulty replica, and a crashed one hold no one to it.
 * The deadline it reports keeps the shell's run going that long.
 */
static void
test_checker_replica_lag(void **state)
{
	zz_checker *ck = zz_checker_create(4, 1);
	zz_digest	a = dig(0xa0),
				b = dig(0xb0);

	zz_checker_set_faulty_replica(ck, 2);
	zz_checker_set_clock(ck, 50, 1);
	zz_checker_certified(ck, 0, 32);
	zz_checker_stable(ck, 0, 16, &a);
	zz_checker_certified(ck, 2, 48);	/* faulty: counts for nothing */
	zz_checker_stable(ck, 2, 32, &b);
	zz_checker_certified(ck, 3, 16);	/* installed by a transfer */
	zz_checker_stable(ck, 3, 16, &a);
	assert_int_equal(zz_checker_liveness_deadline(ck, 100, 1000), UINT64_MAX);
	zz_checker_certified(ck, 3, 32);	/* f+1 certified above 16 */
	assert_int_equal(zz_checker_liveness_deadline(ck, 100, 1000), 1100);
	zz_checker_liveness(ck, 1100, 100, 1000);
	assert_int_equal(zz_checker_violations(ck), 0);

	/* catching up clears it; falling behind again counts afresh */
	zz_checker_set_clock(ck, 900, 2);
	zz_checker_stable(ck, 1, 16, &a);
	assert_int_equal(zz_checker_liveness_deadline(ck, 100, 1000), UINT64_MAX);
	zz_checker_set_clock(ck, 1200, 3);
	zz_checker_certified(ck, 0, 48);
	zz_checker_stable(ck, 0, 32, &b);
	zz_checker_certified(ck, 3, 48);
	zz_checker_stable(ck, 3, 32, &b);
	assert_int_equal(zz_checker_liveness_deadline(ck, 100, 1000), 2200);

	/* crashed, it is not held to it; back up, the bound starts again */
	zz_checker_replica_down(ck, 1, true);
	assert_int_equal(zz_checker_liveness_deadline(ck, 100, 1000), UINT64_MAX);
	zz_checker_set_clock(ck, 1500, 4);
	zz_checker_replica_down(ck, 1, false);
	assert_int_equal(zz_checker_liveness_deadline(ck, 100, 1000), 2500);
	zz_checker_liveness(ck, 2500, 100, 1000);
	assert_int_equal(zz_checker_violations(ck), 0);
	zz_checker_liveness(ck, 2501, 100, 1000);
	assert_int_equal(zz_checker_violations(ck), ZZ_V_LIVENESS);
	zz_checker_free(ck);
}

static void
test_checker_step_rule(void **state)
{
	zz_checker *ck = zz_checker_create(4, 1);

	zz_checker_local_commit_sent(ck, 1, 9, 0, 0, 0);	/* no view change */
	zz_checker_local_commit_sent(ck, 2, 9, 1, 1, 0);	/* already in view 1 */
	zz_checker_local_commit_sent(ck, 2, 9, 0, 1, 12);	/* its VC carries a CC for 12 */
	zz_checker_set_faulty_replica(ck, 3);
	zz_checker_local_commit_sent(ck, 3, 9, 0, 1, 0);	/* faulty: anything goes */
	assert_int_equal(zz_checker_violations(ck), 0);
	zz_checker_local_commit_sent(ck, 1, 9, 0, 1, 8);
	assert_int_equal(zz_checker_violations(ck), ZZ_V_PROTOCOL);
	zz_checker_free(ck);
}

/* ------------------------------------------------------- planted bugs */

/*
 * Run seeds 1..n with a plant; return the union of violation kinds, and
 * in *seeds_hit how many seeds showed `want`.
 */
static unsigned
sweep(zz_sim_plant plant, bool control, uint64_t n, unsigned want, int *seeds_hit)
{
	zz_sim_config cfg;
	unsigned	all = 0;

	zz_sim_config_default(&cfg, 1);
	cfg.plant = plant;
	cfg.plant_control = control;
	*seeds_hit = 0;
	for (uint64_t seed = 1; seed <= n; seed++)
	{
		zz_sim_result res;

		zz_sim_run(&cfg, seed, &res);
		all |= res.violations;
		if (res.violations & want)
			(*seeds_hit)++;
	}
	return all;
}

/*
 * The schedule explorer: the first schedules pass on the shipped code;
 * with a planted bug it finds a violation by itself, minimises it and
 * writes a scenario that replays it (and passes without the bug).
 */
static void
test_explorer(void **state)
{
	zz_explore_opts xo;
	zz_explore_result xr;
	zz_scenario_opts so;
	zz_scenario_result sr;
	unsigned	rb,
				cb;

	memset(&xo, 0, sizeof(xo));
	xo.f = 1;
	xo.max_schedules = 400;
	xo.quiet = true;
	assert_true(zz_explore(&xo, &xr));
	assert_int_equal(xr.failed, 0);
	assert_int_equal(xr.passed, 400);

	assert_true(zz_sim_bug_parse("pom-any-seq", &rb, &cb));
	xo.bugs = rb;
	xo.client_bugs = cb;
	xo.bug_name = "pom-any-seq";
	xo.stop_at_first = true;
	xo.out_dir = "build/test-explore";
	assert_true(zz_explore(&xo, &xr));
	assert_int_equal(xr.failed, 1);
	assert_true(xr.first_file[0] != '\0');

	memset(&so, 0, sizeof(so));
	so.unsafe_new_view = true;	/* the file's bug, switched on */
	assert_int_equal(zz_scenario_run_file(xr.first_file, &so, &sr), ZZ_SCENARIO_PASS);
	assert_true(sr.violations != 0);
	so.unsafe_new_view = false;
	assert_int_equal(zz_scenario_run_file(xr.first_file, &so, &sr), ZZ_SCENARIO_PASS);
	assert_int_equal(sr.violations, 0);
	remove(xr.first_file);
}

/*
 * zz_replica_check after every step: a replica that executes a (c, t)
 * twice (the skip-dedup plant; the core's own assertion stays quiet in a
 * replica with a planted bug) breaks its client-table invariant, and the
 * simulator reports it as an invariant violation.  Without the plant,
 * nothing.
 */
static void
test_replica_invariants(void **state)
{
	int			hit;

	sweep(ZZ_PLANT_SKIP_DEDUP, false, 12, ZZ_V_INVARIANT, &hit);
	assert_true(hit > 0);
	sweep(ZZ_PLANT_SKIP_DEDUP, true, 12, ZZ_V_INVARIANT, &hit);
	assert_int_equal(hit, 0);
	sweep(ZZ_PLANT_NONE, false, 12, ZZ_V_INVARIANT, &hit);
	assert_int_equal(hit, 0);
}

static void
test_plant_client_2f(void **state)
{
	int			hit;
	unsigned	want = ZZ_V_AGREEMENT | ZZ_V_VALIDITY;

	sweep(ZZ_PLANT_CLIENT_2F, false, 12, want, &hit);
	assert_true(hit > 0);
	/* The same equivocating primary, with clients waiting for 2f+1. */
	sweep(ZZ_PLANT_CLIENT_2F, true, 12, want, &hit);
	assert_int_equal(hit, 0);
}

static void
test_plant_bad_history(void **state)
{
	int			hit;

	/* The replica's own chain invariant (zz_replica_check) sees it first. */
	sweep(ZZ_PLANT_BAD_HISTORY, false, 12, ZZ_V_CHAIN | ZZ_V_INVARIANT, &hit);
	assert_true(hit > 0);
	sweep(ZZ_PLANT_BAD_HISTORY, true, 12, ZZ_V_CHAIN | ZZ_V_AGREEMENT, &hit);
	assert_int_equal(hit, 0);
}

static void
test_plant_skip_dedup(void **state)
{
	int			hit;

	sweep(ZZ_PLANT_SKIP_DEDUP, false, 12, ZZ_V_EXACTLY_ONCE, &hit);
	assert_true(hit > 0);
	sweep(ZZ_PLANT_SKIP_DEDUP, true, 12, ZZ_V_EXACTLY_ONCE, &hit);
	assert_int_equal(hit, 0);
}

/*
 * The primary-crash probe: every seed ends with the primary crashing, and
 * the new view and the clients' requests come within 3T.  With replicas
 * that never hate (every I-HATE-THE-PRIMARY lost) the bound must fire.
 */
static void
test_primary_crash_probe(void **state)
{
	for (uint64_t seed = 1; seed <= 6; seed++)
	{
		zz_sim_config cfg;
		zz_sim_result res;

		zz_sim_config_default(&cfg, 1 + (uint32_t) (seed % 2));
		cfg.faults = false;
		if (!zz_sim_run(&cfg, seed, &res))
			fail_msg("seed %llu: %s", (unsigned long long) seed, res.first);
		assert_int_equal(res.stats.primary_crashes, 1);
		assert_true(res.stats.recovery_max > 0);
		assert_true(res.stats.recovery_max <= 150000);
		assert_true(res.stats.probe_max <= 150000);
		assert_true(res.stats.views >= 1);

		cfg.plant = ZZ_PLANT_NO_HATE;
		zz_sim_run(&cfg, seed, &res);
		assert_true(res.violations & ZZ_V_RECOVERY);
		assert_int_equal(res.stats.views, 0);

		cfg.plant_control = true;
		if (!zz_sim_run(&cfg, seed, &res))
			fail_msg("seed %llu, control: %s", (unsigned long long) seed, res.first);
	}
}

/* A Byzantine seed: f faulty replicas and a faulty client, every time. */
static void
test_byzantine_cast(void **state)
{
	uint64_t	consistent = 0;

	for (uint32_t f = 1; f <= 2; f++)
		for (uint64_t seed = 1; seed <= 8; seed++)
		{
			zz_sim_config cfg;
			zz_sim_result res;
			const zz_sim_stats *s = &res.stats;
			uint64_t	faulty_clients;

			zz_sim_config_default(&cfg, f);
			cfg.byzantine = true;
			cfg.primary_crash = false;
			zz_sim_run(&cfg, seed, &res);
			faulty_clients = s->cast_never_commit + s->cast_reuse_ts + s->cast_bad_cc;
			assert_int_equal(faulty_clients, 1);
			assert_int_equal(s->cast_clients, 1);
			assert_int_equal(s->cast_replicas, f);
			/* Each faulty replica lies in its VIEW-CHANGEs or not, one way. */
			assert_true(s->cast_vc_withhold + s->cast_vc_stale + s->cast_vc_forged <= f);
			assert_true(s->cast_equivocate <= f);
			/* some liars act on their lie as new primaries (forge.h) */
			assert_true(s->cast_vc_consistent <=
						s->cast_vc_withhold + s->cast_vc_stale + s->cast_vc_forged);
			consistent += s->cast_vc_consistent;
		}
	assert_true(consistent > 0);
}

/* ------------------------------------------------------- determinism */

typedef struct trace_hash
{
	uint64_t	h;
	uint64_t	lines;
} trace_hash;

static void
hash_line(void *ctx, const char *line)
{
	trace_hash *th = ctx;

	for (const char *p = line; *p; p++)
		th->h = (th->h ^ (uint8_t) *p) * 1099511628211ULL;
	th->h = (th->h ^ '\n') * 1099511628211ULL;
	th->lines++;
}

/* Run one seed with a hashed trace. */
static void
traced_run(uint64_t seed, bool byzantine, trace_hash *th, zz_sim_result *res)
{
	zz_sim_config cfg;

	zz_sim_config_default(&cfg, 1);
	cfg.byzantine = byzantine;
	cfg.trace = hash_line;
	cfg.trace_ctx = th;
	th->h = 1469598103934665603ULL;
	th->lines = 0;
	zz_sim_run(&cfg, seed, res);
}

static void
test_determinism(void **state)
{
	for (uint64_t seed = 3; seed <= 5; seed++)
	{
		trace_hash	a,
					b;
		zz_sim_result ra,
					rb;

		traced_run(seed, seed == 5, &a, &ra);
		traced_run(seed, seed == 5, &b, &rb);
		assert_true(a.lines > 100);
		assert_int_equal(a.lines, b.lines);
		assert_true(a.h == b.h);
		assert_true(ra.event_hash == rb.event_hash);
		assert_int_equal(ra.stats.steps, rb.stats.steps);
		assert_int_equal(ra.violations, rb.violations);
		assert_string_equal(ra.first, rb.first);

		/* Tracing does not change the run. */
		{
			zz_sim_config cfg;
			zz_sim_result rc;

			zz_sim_config_default(&cfg, 1);
			cfg.byzantine = seed == 5;
			zz_sim_run(&cfg, seed, &rc);
			assert_true(rc.event_hash == ra.event_hash);
		}
	}
	{
		trace_hash	a,
					b;
		zz_sim_result ra,
					rb;

		traced_run(6, false, &a, &ra);
		traced_run(7, false, &b, &rb);
		assert_true(a.h != b.h);
		assert_true(ra.event_hash != rb.event_hash);
	}
}

/* ------------------------------------------------------- plain sweeps */

static void
test_fault_free_sweep(void **state)
{
	zz_sim_config cfg;

	for (uint32_t f = 1; f <= 2; f++)
	{
		zz_sim_config_default(&cfg, f);
		cfg.faults = false;
		for (uint64_t seed = 1; seed <= 10; seed++)
		{
			zz_sim_result res;

			if (!zz_sim_run(&cfg, seed, &res))
				fail_msg("f=%u seed %llu: %s", f, (unsigned long long) seed, res.first);
			assert_true(res.stats.submitted > 0);
			assert_int_equal(res.stats.completed_fast + res.stats.completed_commit,
							 res.stats.submitted);
		}
	}
}

static void
test_replay_command(void **state)
{
	zz_sim_config cfg;
	char		cmd[256];

	zz_sim_config_default(&cfg, 2);
	cfg.byzantine = true;
	cfg.plant = ZZ_PLANT_SKIP_DEDUP;
	zz_sim_replay_command(&cfg, 1234, cmd, sizeof(cmd));
	assert_string_equal(cmd, "./build/zyzzyva-sim --seed 1234 --f 2 --byzantine "
						"--plant skip-dedup --trace");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checker_agreement_completions),
		cmocka_unit_test(test_checker_agreement_committed),
		cmocka_unit_test(test_checker_chain),
		cmocka_unit_test(test_checker_validity),
		cmocka_unit_test(test_checker_exactly_once),
		cmocka_unit_test(test_checker_checkpoint),
		cmocka_unit_test(test_checker_liveness),
		cmocka_unit_test(test_checker_replica_lag),
		cmocka_unit_test(test_checker_step_rule),
		cmocka_unit_test(test_replica_invariants),
		cmocka_unit_test(test_explorer),
		cmocka_unit_test(test_plant_client_2f),
		cmocka_unit_test(test_plant_bad_history),
		cmocka_unit_test(test_plant_skip_dedup),
		cmocka_unit_test(test_primary_crash_probe),
		cmocka_unit_test(test_byzantine_cast),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_fault_free_sweep),
		cmocka_unit_test(test_replay_command),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
