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
	bool		unsafe_new_view;	/* correct replicas use the published rule */
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
	bool		has_unsafe_lines;	/* the file says what the unsafe rule does */
	unsigned	violations;		/* ZZ_V_* the checker reported */
	char		first_violation[512];
	zz_sim_stats stats;
} zz_scenario_result;

/* Run a scenario file. */
extern zz_scenario_status zz_scenario_run_file(const char *path, const zz_scenario_opts *opts,
											   zz_scenario_result *res);

/* Run scenario text; name stands for the file in messages. */
extern zz_scenario_status zz_scenario_run_text(const char *name, const char *text,
											   const zz_scenario_opts *opts,
											   zz_scenario_result *res);

#endif							/* ZZ_SIM_SCENARIO_H */
