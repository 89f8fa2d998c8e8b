/*
 * main.c
 *	  zyzzyva-sim: run the deterministic simulator over a range of seeds.
 *
 *	  zyzzyva-sim --seeds N [--first S] | --seed S
 *				  [--f F] [--byzantine] [--real-crypto] [--plant BUG [--plant-control]]
 *				  [--no-faults] [--no-primary-crash] [--clients C] [--requests R]
 *				  [--jobs J] [--trace] [--quiet]
 *	  zyzzyva-sim --scenario FILE [--trace] [--planted] [--bug NAME]...
 *	  zyzzyva-sim --explore [explorer options, explore.h]
 *
 * Each failing seed is reported with its first violation and the command
 * that replays it alone.  The last line is exactly "N passed, M failed";
 * the exit status is 1 if any seed failed, 2 on bad usage.
 *
 * --scenario runs one scripted execution (SCENARIOS.md) and prints its
 * trace: the script's steps and the protocol's events, every message too
 * with --trace.  --planted (or its old name --unsafe-new-view) switches on
 * the planted bug the scenario names (its "bug" line; the new-view rule as
 * first published if it names none) and runs its [unsafe] lines; --bug
 * NAME switches on a planted bug by name.  The last line is "PASS FILE" or "FAIL FILE:
 * ..."; the exit status is 0, 1 (an expectation failed or an unexpected
 * violation), or 2 (a malformed scenario or bad usage).
 *
 * --explore runs the schedule explorer (explore.h, EXPLORE.md): small
 * schedules searched systematically, with --bug NAME switched on, within
 * --budget seconds or --max-schedules, resuming from --state; the first
 * violation is minimised and written to --out as a scenario.  The last
 * line is again "N passed, M failed".  --schedule prints the scenario of
 * one schedule as the explorer describes it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "explore.h"
#include "scenario.h"
#include "sim.h"

#define MAX_JOBS 64

/* What the whole sweep adds up. */
typedef struct sweep_totals
{
	uint64_t	passed;
	uint64_t	failed;
	uint64_t	crashed;
	uint64_t	by_kind[ZZ_V_KINDS];
	zz_sim_stats stats;
} sweep_totals;

/* What a worker reports per seed through its pipe. */
typedef struct seed_record
{
	uint64_t	seed;
	uint64_t	index;			/* position in the sweep */
	uint32_t	crashed;
	uint32_t	violations;
	zz_sim_stats stats;
} seed_record;

/* The seed a worker is running, for its crash handler. */
static volatile sig_atomic_t crash_fd = -1;
static seed_record crash_rec;
static char crash_msg[512];
static size_t crash_msg_len;

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: zyzzyva-sim (--seeds N [--first S] | --seed S) [--f F] [--byzantine]\n"
			"                   [--real-crypto] [--plant client-2f|bad-history|skip-dedup|no-hate\n"
			"                   [--plant-control]]\n"
			"                   [--no-faults] [--no-primary-crash] [--clients C]\n"
			"                   [--requests R] [--jobs J] [--trace] [--quiet]\n"
			"       zyzzyva-sim --scenario FILE [--trace] [--planted|--unsafe-new-view]\n"
			"                   [--bug NAME]...\n"
			"       zyzzyva-sim --explore [--f F] [--bug NAME] [--budget SECONDS]\n"
			"                   [--max-schedules N] [--state FILE] [--first SEED (f=2)]\n"
			"                   [--out DIR] [--stop-at-first] [--quiet]\n"
			"       zyzzyva-sim [--bug NAME] --schedule \"f=1 b=R0 beh=0 v0:1.0.0.0.0.0 ...\"\n"
			"  bugs: ");
	for (int i = 0; zz_sim_bug_name(i) != NULL; i++)
		fprintf(out, "%s%s", i ? ", " : "", zz_sim_bug_name(i));
	fprintf(out, "\n");
}

static void
print_trace_line(void *ctx, const char *line)
{
	fputs(line, stdout);
	fputc('\n', stdout);
}

/* Write all of buf to fd, retrying on short writes. */
static bool
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0)
	{
		ssize_t		w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		len -= (size_t) w;
	}
	return true;
}

/*
 * A seed crashed the process (a core bug: segfault or abort).  Say which,
 * tell the parent through the pipe, and die; the parent carries on with
 * the next seed.  Only async-signal-safe calls.
 */
static void
on_crash(int sig)
{
	write_all(STDOUT_FILENO, crash_msg, crash_msg_len);
	if (crash_fd >= 0)
	{
		crash_rec.crashed = (uint32_t) sig;
		write_all(crash_fd, &crash_rec, sizeof(crash_rec));
	}
	_exit(4);
}

static void
catch_crashes(void)
{
	signal(SIGSEGV, on_crash);
	signal(SIGABRT, on_crash);
	signal(SIGBUS, on_crash);
	signal(SIGFPE, on_crash);
	signal(SIGILL, on_crash);
}

/* Run one seed; print its failure as one block (one write, no interleaving). */
static void
run_seed(const zz_sim_config *cfg, uint64_t seed, seed_record *rec)
{
	zz_sim_result res;
	char		cmd[256];

	zz_sim_replay_command(cfg, seed, cmd, sizeof(cmd));
	crash_msg_len = (size_t) snprintf(crash_msg, sizeof(crash_msg),
									  "FAIL seed %llu: the process crashed\n  replay: %s\n",
									  (unsigned long long) seed, cmd);
	if (crash_msg_len >= sizeof(crash_msg))
		crash_msg_len = sizeof(crash_msg) - 1;
	crash_rec.seed = seed;
	crash_rec.index = rec->index;
	fflush(stdout);
	zz_sim_run(cfg, seed, &res);
	rec->seed = seed;
	rec->crashed = 0;
	rec->violations = res.violations;
	rec->stats = res.stats;
	if (res.violations)
	{
		char		block[1024];
		int			len = snprintf(block, sizeof(block),
								   "FAIL seed %llu (step %llu, t=%.6fs): %s\n  replay: %s\n",
								   (unsigned long long) seed,
								   (unsigned long long) res.first_step,
								   res.first_time / 1e6, res.first, cmd);

		fflush(stdout);
		write_all(STDOUT_FILENO, block, len < (int) sizeof(block) ? (size_t) len : sizeof(block) - 1);
	}
}

static void
add_record(sweep_totals *t, const seed_record *rec)
{
	if (rec->crashed)
	{
		t->failed++;
		t->crashed++;
		return;
	}
	if (rec->violations == 0)
		t->passed++;
	else
	{
		t->failed++;
		for (int k = 0; k < ZZ_V_KINDS; k++)
			if (rec->violations & (1u << k))
				t->by_kind[k]++;
	}
	zz_sim_stats_add(&t->stats, &rec->stats);
}

/* One worker: indices from, from + jobs, ... below count; records to fd. */
static void
worker(const zz_sim_config *cfg, uint64_t first, uint64_t count, uint64_t from,
	   unsigned jobs, int fd)
{
	crash_fd = fd;
	catch_crashes();
	for (uint64_t i = from; i < count; i += jobs)
	{
		seed_record rec;

		memset(&rec, 0, sizeof(rec));
		rec.index = i;
		run_seed(cfg, first + i, &rec);
		if (!write_all(fd, &rec, sizeof(rec)))
			_exit(3);
	}
	fflush(stdout);
	_exit(0);
}

typedef struct worker_state
{
	pid_t		pid;
	int			fd;
	uint64_t	next;			/* index of the next seed it owes */
	size_t		got;			/* bytes of a partial record */
	bool		crashed;		/* its last record was a crash */
	seed_record rec;
} worker_state;

static bool
spawn(const zz_sim_config *cfg, uint64_t first, uint64_t count, unsigned jobs,
	  worker_state *w)
{
	int			p[2];

	fflush(stdout);
	if (pipe(p) != 0 || (w->pid = fork()) < 0)
	{
		perror("zyzzyva-sim: fork");
		return false;
	}
	if (w->pid == 0)
	{
		close(p[0]);
		worker(cfg, first, count, w->next, jobs, p[1]);
	}
	close(p[1]);
	w->fd = p[0];
	w->got = 0;
	w->crashed = false;
	return true;
}

/*
 * Fork jobs workers over the seed range (worker j takes indices j,
 * j + jobs, ...), merge the records they stream back, and replace a worker
 * that a seed crashed so the sweep still covers every seed.
 */
static bool
run_sweep(const zz_sim_config *cfg, uint64_t first, uint64_t count, unsigned jobs,
		  sweep_totals *t)
{
	worker_state ws[MAX_JOBS];
	unsigned	live = 0;

	for (unsigned j = 0; j < jobs; j++)
	{
		ws[j].next = j;
		if (ws[j].next < count)
		{
			if (!spawn(cfg, first, count, jobs, &ws[j]))
				return false;
			live++;
		}
		else
			ws[j].fd = -1;
	}
	while (live > 0)
	{
		struct pollfd pfd[MAX_JOBS];

		for (unsigned j = 0; j < jobs; j++)
		{
			pfd[j].fd = ws[j].fd;
			pfd[j].events = POLLIN;
			pfd[j].revents = 0;
		}
		if (poll(pfd, jobs, -1) < 0)
		{
			if (errno == EINTR)
				continue;
			perror("zyzzyva-sim: poll");
			return false;
		}
		for (unsigned j = 0; j < jobs; j++)
		{
			worker_state *w = &ws[j];
			ssize_t		r;

			if (w->fd < 0 || !(pfd[j].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(w->fd, (char *) &w->rec + w->got, sizeof(w->rec) - w->got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r > 0)
			{
				w->got += (size_t) r;
				if (w->got == sizeof(w->rec))
				{
					add_record(t, &w->rec);
					w->crashed = w->rec.crashed != 0;
					w->next = w->rec.index + jobs;
					w->got = 0;
				}
				continue;
			}
			/* End of this worker: done, or replaced after a crash. */
			close(w->fd);
			w->fd = -1;
			waitpid(w->pid, NULL, 0);
			live--;
			if (w->next < count)
			{
				if (!w->crashed)
				{
					/* Died before its handler could speak (e.g. stack overflow). */
					char		cmd[256];

					zz_sim_replay_command(cfg, first + w->next, cmd, sizeof(cmd));
					printf("FAIL seed %llu: the process died\n  replay: %s\n",
						   (unsigned long long) (first + w->next), cmd);
					t->failed++;
					t->crashed++;
					w->next += jobs;
					if (w->next >= count)
						continue;
				}
				if (!spawn(cfg, first, count, jobs, w))
					return false;
				live++;
			}
		}
	}
	return true;
}

static void
print_summary(const zz_sim_config *cfg, uint64_t first, uint64_t count, const sweep_totals *t)
{
	const zz_sim_stats *s = &t->stats;
	typedef unsigned long long ull;

	printf("zyzzyva-sim: f=%u seeds %llu..%llu, %s crypto%s%s%s%s\n", cfg->f,
		   (ull) first, (ull) (first + count - 1),
		   cfg->crypto == ZZ_CRYPTO_REAL ? "real" : "symbolic",
		   cfg->faults ? ", faults" : ", no faults",
		   cfg->byzantine ? ", byzantine (f faulty replicas and a faulty client per seed)" : "",
		   cfg->primary_crash ? ", primary crash at the end" : "",
		   cfg->plant != ZZ_PLANT_NONE ? ", planted bug" : "");
	printf("  requests: %llu submitted, %llu fast path, %llu commit path; "
		   "%llu retransmissions, %llu COMMITs\n",
		   (ull) s->submitted, (ull) s->completed_fast, (ull) s->completed_commit,
		   (ull) s->retransmissions, (ull) s->commits_sent);
	printf("  view changes: %llu views reached (summed over seeds), %llu entered by replicas, "
		   "%llu I-HATE-THE-PRIMARY; rollbacks: %llu batches undone; POMs: %llu sent by "
		   "clients, %llu found or accepted by replicas\n",
		   (ull) s->views, (ull) s->view_changes, (ull) s->i_hates, (ull) s->rollbacks,
		   (ull) s->poms_sent, (ull) s->poms_replica);
	printf("  replicas: %llu fill-holes, %llu confirm-reqs, %llu cached replies, "
		   "%llu stable checkpoints, %llu state transfers, %llu catch-ups by replay "
		   "(%llu batches, %llu chains refused)\n",
		   (ull) s->fill_holes, (ull) s->confirm_reqs, (ull) s->cached_replies,
		   (ull) s->checkpoints_stable, (ull) s->state_transfers, (ull) s->catchup_runs,
		   (ull) s->catchup_batches, (ull) s->catchup_refusals);
	printf("  faults: %llu crashes (%llu restarted from the kept checkpoint only), "
		   "%llu partitions, %llu service stalls (%llu seeds with asynchronous services, "
		   "%llu batches handed over behind an unfinished one); "
		   "messages %llu delivered, %llu dropped, %llu duplicated\n",
		   (ull) s->crashes, (ull) s->amnesia_restarts, (ull) s->partitions,
		   (ull) s->stalls, (ull) s->async_seeds, (ull) s->windowed,
		   (ull) s->messages, (ull) s->dropped, (ull) s->duplicated);
	if (cfg->byzantine)
	{
		printf("  byzantine messages: %llu forged, %llu withheld, %llu delayed, %llu replayed\n",
			   (ull) s->forged, (ull) s->byz_dropped, (ull) s->byz_delayed, (ull) s->replayed);
		printf("  byzantine cast: %llu faulty replicas, %llu faulty clients\n",
			   (ull) s->cast_replicas, (ull) s->cast_clients);
		printf("  faulty replicas: %llu equivocating, %llu silent, %llu slow primaries; "
			   "%llu omit, %llu delay, %llu replay; %llu lie in replies, %llu in checkpoints; "
			   "VIEW-CHANGE: %llu withhold, %llu stale CC, %llu forged CC\n",
			   (ull) s->cast_equivocate, (ull) s->cast_silent, (ull) s->cast_slow,
			   (ull) s->cast_omit, (ull) s->cast_delay, (ull) s->cast_replay,
			   (ull) s->cast_lie_replies, (ull) s->cast_lie_cp, (ull) s->cast_vc_withhold,
			   (ull) s->cast_vc_stale, (ull) s->cast_vc_forged);
		printf("  message-level forgeries: %llu crafted POMs, %llu backup-built ORDER-REQs, "
			   "%llu lying STATE-REPLYs, %llu split NEW-VIEWs, %llu consistent liars\n",
			   (ull) s->cast_pom_any_seq, (ull) s->cast_forge_ahead, (ull) s->cast_state_lie,
			   (ull) s->cast_nv_split, (ull) s->cast_vc_consistent);
		printf("  faulty clients: %llu never commit, %llu reuse timestamps, "
			   "%llu send bad certificates\n",
			   (ull) s->cast_never_commit, (ull) s->cast_reuse_ts, (ull) s->cast_bad_cc);
	}
	if (s->primary_crashes)
		printf("  primary crashes: %llu; every correct replica in the next view within %.1f ms "
			   "(worst seed), a request completed within %.1f ms of the crash (worst seed)\n",
			   (ull) s->primary_crashes, s->recovery_max / 1e3, s->probe_max / 1e3);
	printf("  %llu steps, %.1f simulated seconds\n", (ull) s->steps, s->sim_time / 1e6);
	if (t->failed)
	{
		printf("  failures by kind:");
		if (t->crashed)
			printf(" crashed %llu", (ull) t->crashed);
		for (int k = 0; k < ZZ_V_KINDS; k++)
			if (t->by_kind[k])
				printf(" %s %llu", zz_violation_name(1u << k), (ull) t->by_kind[k]);
		printf("\n");
	}
}

/*
 * zyzzyva-sim --scenario: run one scenario file, its trace to stdout.
 */
static int
run_scenario(const char *path, bool verbose, bool unsafe_rule, unsigned bugs,
			 unsigned client_bugs)
{
	zz_scenario_opts opts;
	zz_scenario_result res;

	memset(&opts, 0, sizeof(opts));
	opts.unsafe_new_view = unsafe_rule;
	opts.bugs = bugs;
	opts.client_bugs = client_bugs;
	opts.verbose = verbose;
	opts.trace = print_trace_line;
	zz_scenario_run_file(path, &opts, &res);
	if (res.status == ZZ_SCENARIO_PASS)
		printf("PASS %s: %u expectation%s held%s\n", path, res.expectations,
			   res.expectations == 1 ? "" : "s",
			   res.violations ? " (the violation was expected)" : "");
	else
		printf("%s %s\n", res.status == ZZ_SCENARIO_ERROR ? "ERROR" : "FAIL", res.message);
	if (res.violations && res.status != ZZ_SCENARIO_ERROR)
		printf("  violation reported: %s\n", res.first_violation);
	return (int) res.status;
}

/*
 * zyzzyva-sim --explore: the schedule explorer (explore.h).  The last line
 * is "N passed, M failed"; the exit status 1 if any schedule failed.
 */
static int
run_explorer(zz_explore_opts *xo)
{
	zz_explore_result xr;

	if (!xo->quiet)
		printf("exploring f=%u%s%s, budget %.0fs%s\n", xo->f,
			   xo->bug_name ? " with bug " : " (shipped code)",
			   xo->bug_name ? xo->bug_name : "", xo->budget_s,
			   xo->state_path ? ", progress in " : "");
	if (!zz_explore(xo, &xr))
		return 2;
	if (xr.resumed)
		printf("%llu results read back from %s\n", (unsigned long long) xr.resumed,
			   xo->state_path);
	if (xr.first_at >= 0)
		printf("first violation: schedule %llu, %.1fs: %s%s%s\n",
			   (unsigned long long) xr.first_index, xr.first_at, xr.first_violation,
			   xr.first_file[0] ? "\n  written to " : "", xr.first_file);
	printf("%.1fs\n", xr.seconds);
	printf("%llu passed, %llu failed\n", (unsigned long long) xr.passed,
		   (unsigned long long) xr.failed);
	return xr.failed ? 1 : 0;
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	char	   *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *s != '\0' && *end == '\0';
}

int
main(int argc, char **argv)
{
	zz_sim_config cfg;
	uint64_t	first = 1,
				count = 0,
				v;
	uint64_t	jobs = 1;
	bool		quiet = false,
				tracing = false,
				one = false,
				unsafe_rule = false;
	unsigned	bugs = 0,
				client_bugs = 0;
	const char *scenario = NULL;
	bool		explore = false;
	zz_explore_opts xo;
	sweep_totals t;

	memset(&xo, 0, sizeof(xo));
	xo.f = 1;
	xo.budget_s = 600;
	xo.out_dir = "build/explore";
	zz_sim_config_default(&cfg, 1);
	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

#define NEED_U64() do { if (val == NULL || !parse_u64(val, &v)) { \
			fprintf(stderr, "zyzzyva-sim: %s needs a number\n", a); usage(stderr); return 2; } \
			i++; } while (0)

		if (strcmp(a, "--seeds") == 0)
		{
			NEED_U64();
			count = v;
		}
		else if (strcmp(a, "--first") == 0)
		{
			NEED_U64();
			first = v;
		}
		else if (strcmp(a, "--seed") == 0)
		{
			NEED_U64();
			first = v;
			count = 1;
			one = true;
		}
		else if (strcmp(a, "--f") == 0)
		{
			NEED_U64();
			if (v < 1 || v > 5)
			{
				fprintf(stderr, "zyzzyva-sim: --f must be 1..5\n");
				return 2;
			}
			cfg.f = (uint32_t) v;
		}
		else if (strcmp(a, "--clients") == 0)
		{
			NEED_U64();
			cfg.clients = (uint32_t) (v > 8 ? 8 : v);
		}
		else if (strcmp(a, "--requests") == 0)
		{
			NEED_U64();
			cfg.requests = (uint32_t) v;
		}
		else if (strcmp(a, "--jobs") == 0)
		{
			NEED_U64();
			jobs = v < 1 ? 1 : v > MAX_JOBS ? MAX_JOBS : v;
		}
		else if (strcmp(a, "--plant") == 0)
		{
			if (val == NULL || !zz_sim_plant_parse(val, &cfg.plant))
			{
				fprintf(stderr, "zyzzyva-sim: --plant takes client-2f, bad-history, skip-dedup "
						"or no-hate\n");
				return 2;
			}
			i++;
		}
		else if (strcmp(a, "--plant-control") == 0)
			cfg.plant_control = true;
		else if (strcmp(a, "--byzantine") == 0)
			cfg.byzantine = true;
		else if (strcmp(a, "--real-crypto") == 0)
			cfg.crypto = ZZ_CRYPTO_REAL;
		else if (strcmp(a, "--no-faults") == 0)
			cfg.faults = false;
		else if (strcmp(a, "--no-primary-crash") == 0)
			cfg.primary_crash = false;
		else if (strcmp(a, "--scenario") == 0)
		{
			if (val == NULL)
			{
				fprintf(stderr, "zyzzyva-sim: --scenario needs a file\n");
				return 2;
			}
			scenario = val;
			i++;
		}
		else if (strcmp(a, "--unsafe-new-view") == 0 || strcmp(a, "--planted") == 0)
			unsafe_rule = true;
		else if (strcmp(a, "--bug") == 0)
		{
			unsigned	rb,
						cb;

			if (!zz_sim_bug_parse(val, &rb, &cb))
			{
				fprintf(stderr, "zyzzyva-sim: unknown bug %s\n", val ? val : "(none)");
				usage(stderr);
				return 2;
			}
			bugs |= rb;
			client_bugs |= cb;
			xo.bug_name = val;
			i++;
		}
		else if (strcmp(a, "--explore") == 0)
			explore = true;
		else if (strcmp(a, "--budget") == 0)
		{
			NEED_U64();
			xo.budget_s = (double) v;
		}
		else if (strcmp(a, "--max-schedules") == 0)
		{
			NEED_U64();
			xo.max_schedules = v;
		}
		else if (strcmp(a, "--state") == 0 || strcmp(a, "--out") == 0)
		{
			if (val == NULL)
			{
				fprintf(stderr, "zyzzyva-sim: %s needs a path\n", a);
				return 2;
			}
			if (a[2] == 's')
				xo.state_path = val;
			else
				xo.out_dir = val;
			i++;
		}
		else if (strcmp(a, "--stop-at-first") == 0)
			xo.stop_at_first = true;
		else if (strcmp(a, "--schedule") == 0)
		{
			static char text[16384];

			if (val == NULL || !zz_explore_schedule_text(val, xo.bug_name, text, sizeof(text)))
			{
				fprintf(stderr, "zyzzyva-sim: --schedule takes a schedule as the explorer "
						"prints it (f=1 b=R0 beh=0 v0:1.0.0.0.0.0 ...)\n");
				return 2;
			}
			fputs(text, stdout);
			return 0;
		}
		else if (strcmp(a, "--trace") == 0)
			tracing = true;
		else if (strcmp(a, "--quiet") == 0)
			quiet = true;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
		{
			usage(stdout);
			return 0;
		}
		else
		{
			fprintf(stderr, "zyzzyva-sim: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
#undef NEED_U64
	}
	if (explore)
	{
		if (scenario != NULL || cfg.f > 2)
		{
			fprintf(stderr, "zyzzyva-sim: --explore runs alone, with f 1 or 2\n");
			return 2;
		}
		xo.f = cfg.f;
		xo.bugs = bugs;
		xo.client_bugs = client_bugs;
		xo.quiet = quiet;
		xo.seed = first;
		return run_explorer(&xo);
	}
	if (scenario != NULL)
	{
		if (count != 0)
		{
			fprintf(stderr, "zyzzyva-sim: --scenario runs alone, without --seeds/--seed\n");
			return 2;
		}
		return run_scenario(scenario, tracing, unsafe_rule, bugs, client_bugs);
	}
	if (unsafe_rule || bugs || client_bugs)
	{
		fprintf(stderr, "zyzzyva-sim: --planted and --bug are for --scenario and --explore\n");
		return 2;
	}
	if (count == 0)
	{
		fprintf(stderr, "zyzzyva-sim: give --seeds N or --seed S\n");
		usage(stderr);
		return 2;
	}
	if (tracing)
	{
		cfg.trace = print_trace_line;
		jobs = 1;				/* one readable trace */
	}
	if (jobs > MAX_JOBS)
		jobs = MAX_JOBS;
	if (jobs > count)
		jobs = count;

	memset(&t, 0, sizeof(t));
	if (one)
	{
		seed_record rec;

		/* One seed runs in this process: its trace and crash stay here. */
		memset(&rec, 0, sizeof(rec));
		catch_crashes();
		run_seed(&cfg, first, &rec);
		add_record(&t, &rec);
	}
	else if (!run_sweep(&cfg, first, count, (unsigned) jobs, &t))
		return 2;
	if (!quiet && !(one && tracing))
		print_summary(&cfg, first, count, &t);
	printf("%llu passed, %llu failed\n", (unsigned long long) t.passed,
		   (unsigned long long) t.failed);
	return t.failed ? 1 : 0;
}
