/*
 * explore.h
 *	  The schedule explorer: searches small Byzantine schedules
 *	  systematically instead of sampling seeds (EXPLORE.md).
 *
 * A schedule is a faulty replica, what it does from the start, and up to
 * four views, each with the requests ordered in it, the backup that misses
 * its ORDER-REQs, who gets its clients' COMMITs (everyone, or only the
 * faulty replica at once and the others two views later), and for each
 * view change the lie the faulty replica tells in its VIEW-CHANGE, the
 * replica whose VIEW-CHANGE does not reach the new primary, and whether
 * that replica also misses the new view (and whether the view's
 * VIEW-CONFIRMs reach only its primary).  Each schedule is written as a
 * scenario (SCENARIOS.md) and run by the scenario interpreter; any
 * violation of the checker's invariants fails it.  A failure is minimised
 * and written out as a scenario file that replays it.
 */
#ifndef ZZ_SIM_EXPLORE_H
#define ZZ_SIM_EXPLORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct zz_explore_opts
{
	uint32_t	f;				/* 1: systematic; 2: sampled (seeded) */
	unsigned	bugs;			/* planted bugs switched on (replica.h) */
	unsigned	client_bugs;
	const char *bug_name;		/* for file names and the scenario's bug line */
	double		budget_s;		/* wall-clock budget; 0: none */
	uint64_t	max_schedules;	/* 0: no limit */
	uint64_t	seed;			/* f = 2 sampling */
	const char *state_path;		/* progress file: resume from it, append to it */
	const char *out_dir;		/* where minimised violations go (NULL: not written) */
	bool		stop_at_first;
	bool		quiet;
} zz_explore_opts;

typedef struct zz_explore_result
{
	uint64_t	passed;
	uint64_t	failed;
	uint64_t	resumed;		/* results read back from the progress file */
	double		seconds;
	double		first_at;		/* seconds to the first violation, -1: none */
	uint64_t	first_index;	/* its schedule number */
	char		first_file[512];	/* the scenario written for it */
	char		first_violation[512];
} zz_explore_result;

/*
 * The scenario for one schedule, given as the explorer prints it
 * ("f=1 b=R0 beh=0 v0:2.4.1.0.0.0 ..."), with the bug line if bug is not
 * NULL.  False if the description is malformed.
 */
extern bool zz_explore_schedule_text(const char *desc, const char *bug, char *out,
									 size_t cap);

/* Run the explorer; progress and violations to stdout unless quiet. */
extern bool zz_explore(const zz_explore_opts *opts, zz_explore_result *res);

#endif							/* ZZ_SIM_EXPLORE_H */
