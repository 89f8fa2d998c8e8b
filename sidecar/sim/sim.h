/*
 * sim.h
 *	  The deterministic simulator: n = 3f+1 replicas and a few clients in
 *	  one process, one seeded PRNG, simulated time in microseconds.
 *
 * zz_sim_run() plays one seed: it builds the cluster, draws a fault
 * schedule (delay, reordering, duplication, loss, partitions, crashes and
 * restarts, all within a fault period, crashes and partitions hitting at
 * most f replicas), drives clients that submit random key-value
 * operations, and checks the invariants of checker.h after every step.
 * It ends with the primary-crash probe (sim.c): the primary crashes after
 * the fault period and the new view and the clients' requests must come
 * within 3 view-change timeouts.  The same config and seed always give the
 * same run, event for event.  Scripted runs: scenario.h.
 *
 * The CLI (main.c), the unit tests and the core benchmark all call it.
 */
#ifndef ZZ_SIM_H
#define ZZ_SIM_H

#include "crypto.h"
#include "types.h"

/* Bugs a test plants, to show the checker catches them. */
typedef enum zz_sim_plant
{
	ZZ_PLANT_NONE = 0,
	ZZ_PLANT_CLIENT_2F,			/* clients complete on 2f matching responses */
	ZZ_PLANT_BAD_HISTORY,		/* correct replicas accept a wrong h_n */
	ZZ_PLANT_SKIP_DEDUP,		/* correct replicas execute a (c, t) twice */
	ZZ_PLANT_NO_HATE			/* I-HATE-THE-PRIMARY never arrives: no view change */
} zz_sim_plant;

/* Violation kinds, as bits (a run may show several). */
typedef enum zz_violation
{
	ZZ_V_AGREEMENT = 1 << 0,	/* two completions/commits at one seq differ */
	ZZ_V_CHAIN = 1 << 1,		/* one h_n over two different prefixes */
	ZZ_V_VALIDITY = 1 << 2,		/* a completed reply no correct replica gave */
	ZZ_V_EXACTLY_ONCE = 1 << 3, /* a (c, t) executed or completed twice */
	ZZ_V_LIVENESS = 1 << 4,		/* a request did not complete in time */
	ZZ_V_CHECKPOINT = 1 << 5,	/* stable checkpoints at one seq differ */
	ZZ_V_STEP_LIMIT = 1 << 6,	/* the run did not end (livelock) */
	ZZ_V_PROTOCOL = 1 << 7,		/* a correct replica broke a step rule */
	ZZ_V_RECOVERY = 1 << 8,		/* no new view / completion within 3T of a
								 * primary crash */
	ZZ_V_INVARIANT = 1 << 9		/* a correct replica broke zz_replica_check */
} zz_violation;

#define ZZ_V_KINDS 10

extern const char *zz_violation_name(unsigned kind_bit);

/*
 * What a run (or a sweep) exercised.  Every field up to sim_time is a sum
 * over seeds; the ones after it are maxima.
 */
typedef struct zz_sim_stats
{
	uint64_t	seeds;
	uint64_t	steps;
	uint64_t	messages;		/* delivered */
	uint64_t	dropped;		/* lost, partitioned or to a crashed node */
	uint64_t	duplicated;
	uint64_t	forged;			/* messages a Byzantine node rewrote */
	uint64_t	byz_dropped;	/* ... withheld (silent primary, omission) */
	uint64_t	byz_delayed;	/* ... delayed (slow primary, delays) */
	uint64_t	replayed;		/* ... sent again later */
	uint64_t	submitted;
	uint64_t	completed_fast;
	uint64_t	completed_commit;
	uint64_t	retransmissions;
	uint64_t	commits_sent;
	uint64_t	poms_sent;		/* by clients */
	uint64_t	poms_replica;	/* found or accepted by replicas */
	uint64_t	i_hates;
	uint64_t	fill_holes;
	uint64_t	confirm_reqs;
	uint64_t	checkpoints_stable;
	uint64_t	view_changes;	/* views entered, summed over replicas */
	uint64_t	views;			/* the highest view reached */
	uint64_t	rollbacks;		/* batches undone */
	uint64_t	state_transfers;
	uint64_t	catchup_runs;	/* catch-up by replay (catchup.c) */
	uint64_t	catchup_batches;
	uint64_t	catchup_refusals;
	uint64_t	cached_replies;
	uint64_t	crashes;
	uint64_t	amnesia_restarts;	/* restarts from the kept stable checkpoint only */
	uint64_t	async_seeds;	/* seeds whose services answer asynchronously */
	uint64_t	stalls;			/* episodes of a service not answering */
	uint64_t	windowed;		/* batches handed to an asynchronous service
								 * while an earlier one was not done */
	uint64_t	partitions;
	uint64_t	primary_crashes;	/* liveness probes run */
	/* The Byzantine cast: how many faulty nodes behaved so. */
	uint64_t	cast_replicas;	/* faulty replicas */
	uint64_t	cast_clients;	/* faulty clients */
	uint64_t	cast_equivocate;
	uint64_t	cast_silent;
	uint64_t	cast_slow;
	uint64_t	cast_omit;
	uint64_t	cast_delay;
	uint64_t	cast_replay;
	uint64_t	cast_lie_replies;
	uint64_t	cast_lie_cp;
	uint64_t	cast_vc_withhold;
	uint64_t	cast_vc_stale;
	uint64_t	cast_vc_forged;	/* forged, duplicate-signer or wrong-view CC */
	uint64_t	cast_pom_any_seq;	/* crafted POMs of two sequence numbers */
	uint64_t	cast_forge_ahead;	/* backup-built ORDER-REQs */
	uint64_t	cast_state_lie; /* STATE-REPLYs with a changed table */
	uint64_t	cast_nv_split;	/* different NEW-VIEWs to different replicas */
	uint64_t	cast_vc_consistent;	/* acts on its own VIEW-CHANGE lie */
	uint64_t	cast_never_commit;
	uint64_t	cast_reuse_ts;
	uint64_t	cast_bad_cc;
	zz_time		sim_time;		/* simulated microseconds */
	/* Maxima. */
	zz_time		recovery_max;	/* primary crash -> all correct in a later view */
	zz_time		probe_max;		/* primary crash -> a probe request completed */
} zz_sim_stats;

/* A line of trace for humans (messages, replica traces, violations). */
typedef void (*zz_sim_trace_fn) (void *ctx, const char *line);

typedef struct zz_sim_config
{
	uint32_t	f;
	uint32_t	clients;		/* 0: drawn from the seed, 2..5 */
	uint32_t	requests;		/* per client; 0: drawn, 30..60 */
	zz_crypto_mode crypto;
	bool		byzantine;		/* f replicas and one client misbehave */
	zz_sim_plant plant;
	bool		plant_control;	/* the plant's scenario without the bug itself */
	bool		faults;			/* false: a reliable, delayed network only */
	zz_time		liveness_bound; /* after the fault period; 0: 10 s */
	bool		primary_crash;	/* end with the primary-crash liveness probe */
	uint64_t	max_steps;		/* 0: 2,000,000 */
	zz_sim_trace_fn trace;		/* NULL: no trace (fast) */
	void	   *trace_ctx;
} zz_sim_config;

typedef struct zz_sim_result
{
	unsigned	violations;		/* ZZ_V_* bits */
	char		first[512];		/* the first violation, readable */
	uint64_t	first_step;
	zz_time		first_time;
	uint64_t	event_hash;		/* over every delivery: equal runs, equal hash */
	zz_sim_stats stats;
} zz_sim_result;

extern void zz_sim_config_default(zz_sim_config *cfg, uint32_t f);

/* Play one seed.  Returns true if no invariant was violated. */
extern bool zz_sim_run(const zz_sim_config *cfg, uint64_t seed, zz_sim_result *res);

/* Add one run's stats into a sweep's totals. */
extern void zz_sim_stats_add(zz_sim_stats *sum, const zz_sim_stats *one);

/* The command line that replays one seed alone, e.g. for a failure report. */
extern void zz_sim_replay_command(const zz_sim_config *cfg, uint64_t seed,
								  char *out, size_t cap);

/*
 * One readable line for an encoded message: its type and key fields
 * (view, seq, client, timestamp, ...).  Used by the trace.
 */
extern void zz_sim_format_message(const uint8_t *buf, size_t len, char *out, size_t cap);

extern const char *zz_sim_plant_name(zz_sim_plant p);
extern bool zz_sim_plant_parse(const char *s, zz_sim_plant *out);

#endif							/* ZZ_SIM_H */
