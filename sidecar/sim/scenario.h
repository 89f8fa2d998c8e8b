/*
 * scenario.h
 *	  Scripted executions for the simulator: a scenario file (SCENARIOS.md
 *	  documents the format) builds a small cluster, makes chosen replicas
 *	  Byzantine, decides the fate of chosen messages, submits requests,
 *	  crashes and restarts replicas, advances time, and asserts outcomes.
 *
 * A scenario is parsed whole before it runs: a malformed line is an error
 * naming file:line, and nothing runs.  The run is deterministic (the
 * simulator's world with a fixed latency unless the scenario asks for a
 * range, and one seeded PRNG for anything drawn).
 */
#ifndef ZZ_SIM_SCENARIO_H
#define ZZ_SIM_SCENARIO_H

#include "sim.h"

typedef struct zz_scenario_opts
{
	/*
	 * Switch on the planted bug the scenario names (its "bug NAME" line;
	 * unsafe-new-view if it names none) in the correct replicas or
	 * clients, and run its [unsafe] lines instead of its [safe] ones.
	 */
	bool		unsafe_new_view;
	unsigned	bugs;			/* more zz_replica_bug switches, in every run */
	unsigned	client_bugs;	/* more zz_client_bug switches (correct clients) */
	bool		verbose;		/* every message in the trace, not just events */
	zz_sim_trace_fn trace;		/* NULL: no trace */
	void	   *trace_ctx;
} zz_scenario_opts;

typedef enum zz_scenario_status
{
	ZZ_SCENARIO_PASS = 0,		/* every expectation held */
	ZZ_SCENARIO_FAIL = 1,		/* an expectation failed, or an unexpected violation */
	ZZ_SCENARIO_ERROR = 2		/* the file is malformed or cannot be read */
} zz_scenario_status;

typedef struct zz_scenario_result
{
	zz_scenario_status status;
	char		message[600];	/* the failure or error, "file:line: ..." */
	uint32_t	expectations;	/* expectations checked */
	bool		has_unsafe_lines;	/* the file says what its planted bug does */
	char		bug[32];		/* the planted bug it names (unsafe-new-view) */
	unsigned	violations;		/* ZZ_V_* the checker reported */
	char		first_violation[512];
	zz_sim_stats stats;
	/* What the last "snapshot" line saw (the explorer's abstract state). */
	bool		snapped;
	uint64_t	snap_hash;		/* equal worlds, equal hash (timing aside) */
	uint32_t	snap_score;		/* how much is left unsettled (explore.c) */
} zz_scenario_result;

/* Run a scenario file. */
extern zz_scenario_status zz_scenario_run_file(const char *path, const zz_scenario_opts *opts,
											   zz_scenario_result *res);

/* Run scenario text; name stands for the file in messages. */
extern zz_scenario_status zz_scenario_run_text(const char *name, const char *text,
											   const zz_scenario_opts *opts,
											   zz_scenario_result *res);

/*
 * The planted bugs by name (replica.h's ZZ_BUG_*, client.h's
 * ZZ_CLIENT_BUG_COMPLETE_ON_2F), for scenarios, the CLI and the explorer.
 * False if the name is unknown.
 */
extern bool zz_sim_bug_parse(const char *name, unsigned *replica_bugs,
							 unsigned *client_bugs);
/* The i-th bug name (0..), NULL past the last. */
extern const char *zz_sim_bug_name(int i);

#endif							/* ZZ_SIM_SCENARIO_H */
