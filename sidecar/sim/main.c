/*
 * main.c
 *	  zyzzyva-sim: run the deterministic simulator over a range of seeds.
 *
 *	  zyzzyva-sim --seeds N [--first S] | --seed S
 *				  [--f F] [--byzantine] [--real-crypto] [--plant BUG [--plant-control]]
 *				  [--no-faults] [--clients C] [--requests R]
 *				  [--jobs J] [--trace] [--quiet]
 *
 * Each failing seed is reported with its first violation and the command
 * that replays it alone.  The last line is exactly "N passed, M failed";
 * the exit status is 1 if any seed failed, 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim.h"

#define MAX_JOBS 64

/* What one worker (or the whole sweep) adds up. */
typedef struct sweep_totals
{
	uint64_t	passed;
	uint64_t	failed;
	uint64_t	by_kind[ZZ_V_KINDS];
	zz_sim_stats stats;
} sweep_totals;

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: zyzzyva-sim (--seeds N [--first S] | --seed S) [--f F] [--byzantine]\n"
			"                   [--real-crypto] [--plant client-2f|bad-history|skip-dedup\n"
			"                   [--plant-control]]\n"
			"                   [--no-faults] [--clients C] [--requests R] [--jobs J]\n"
			"                   [--trace] [--quiet]\n");
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
 * Run seeds first + j, first + j + jobs, ... below first + count, adding
 * into *t.  A failure is printed as one block with one write, so parallel
 * workers do not interleave within it.
 */
static void
run_share(const zz_sim_config *cfg, uint64_t first, uint64_t count, unsigned j,
		  unsigned jobs, sweep_totals *t)
{
	for (uint64_t i = j; i < count; i += jobs)
	{
		uint64_t	seed = first + i;
		zz_sim_result res;

		if (zz_sim_run(cfg, seed, &res))
			t->passed++;
		else
		{
			char		cmd[256];
			char		block[1024];
			int			len;

			t->failed++;
			for (int k = 0; k < ZZ_V_KINDS; k++)
				if (res.violations & (1u << k))
					t->by_kind[k]++;
			zz_sim_replay_command(cfg, seed, cmd, sizeof(cmd));
			len = snprintf(block, sizeof(block),
						   "FAIL seed %llu (step %llu, t=%.6fs): %s\n  replay: %s\n",
						   (unsigned long long) seed, (unsigned long long) res.first_step,
						   res.first_time / 1e6, res.first, cmd);
			fflush(stdout);
			write_all(STDOUT_FILENO, block, (size_t) (len < (int) sizeof(block) ? len : (int) sizeof(block) - 1));
		}
		zz_sim_stats_add(&t->stats, &res.stats);
	}
}

/* Fork jobs workers over the range and merge what they report. */
static bool
run_parallel(const zz_sim_config *cfg, uint64_t first, uint64_t count, unsigned jobs,
			 sweep_totals *t)
{
	int			fds[MAX_JOBS];
	pid_t		pids[MAX_JOBS];

	fflush(stdout);
	for (unsigned j = 0; j < jobs; j++)
	{
		int			p[2];

		if (pipe(p) != 0 || (pids[j] = fork()) < 0)
		{
			perror("zyzzyva-sim: fork");
			return false;
		}
		if (pids[j] == 0)
		{
			sweep_totals mine;

			close(p[0]);
			memset(&mine, 0, sizeof(mine));
			run_share(cfg, first, count, j, jobs, &mine);
			fflush(stdout);
			_exit(write_all(p[1], &mine, sizeof(mine)) ? 0 : 3);
		}
		close(p[1]);
		fds[j] = p[0];
	}
	for (unsigned j = 0; j < jobs; j++)
	{
		sweep_totals part;
		size_t		got = 0;
		int			status;

		while (got < sizeof(part))
		{
			ssize_t		r = read(fds[j], (char *) &part + got, sizeof(part) - got);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t) r;
		}
		close(fds[j]);
		waitpid(pids[j], &status, 0);
		if (got != sizeof(part) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		{
			fprintf(stderr, "zyzzyva-sim: worker %u died\n", j);
			return false;
		}
		t->passed += part.passed;
		t->failed += part.failed;
		for (int k = 0; k < ZZ_V_KINDS; k++)
			t->by_kind[k] += part.by_kind[k];
		zz_sim_stats_add(&t->stats, &part.stats);
	}
	return true;
}

static void
print_summary(const zz_sim_config *cfg, uint64_t first, uint64_t count, const sweep_totals *t)
{
	const zz_sim_stats *s = &t->stats;

	printf("zyzzyva-sim: f=%u seeds %llu..%llu, %s crypto%s%s%s\n", cfg->f,
		   (unsigned long long) first, (unsigned long long) (first + count - 1),
		   cfg->crypto == ZZ_CRYPTO_REAL ? "real" : "symbolic",
		   cfg->faults ? ", faults" : ", no faults",
		   cfg->byzantine ? ", byzantine (equivocating primary, lying replies and checkpoints, faulty client)" : "",
		   cfg->plant != ZZ_PLANT_NONE ? ", planted bug" : "");
	printf("  requests: %llu submitted, %llu fast path, %llu commit path; "
		   "%llu retransmissions, %llu COMMITs, %llu POMs sent\n",
		   (unsigned long long) s->submitted, (unsigned long long) s->completed_fast,
		   (unsigned long long) s->completed_commit, (unsigned long long) s->retransmissions,
		   (unsigned long long) s->commits_sent, (unsigned long long) s->poms_sent);
	printf("  replicas: %llu fill-holes, %llu confirm-reqs, %llu cached replies, "
		   "%llu stable checkpoints, %llu view changes, %llu rollbacks, %llu state transfers\n",
		   (unsigned long long) s->fill_holes, (unsigned long long) s->confirm_reqs,
		   (unsigned long long) s->cached_replies, (unsigned long long) s->checkpoints_stable,
		   (unsigned long long) s->view_changes, (unsigned long long) s->rollbacks,
		   (unsigned long long) s->state_transfers);
	printf("  faults: %llu crashes, %llu partitions; messages %llu delivered, %llu dropped, "
		   "%llu duplicated, %llu forged\n",
		   (unsigned long long) s->crashes, (unsigned long long) s->partitions,
		   (unsigned long long) s->messages, (unsigned long long) s->dropped,
		   (unsigned long long) s->duplicated, (unsigned long long) s->forged);
	printf("  %llu steps, %.1f simulated seconds\n", (unsigned long long) s->steps,
		   s->sim_time / 1e6);
	if (t->failed)
	{
		printf("  failures by kind:");
		for (int k = 0; k < ZZ_V_KINDS; k++)
			if (t->by_kind[k])
				printf(" %s %llu", zz_violation_name(1u << k),
					   (unsigned long long) t->by_kind[k]);
		printf("\n");
	}
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
				one = false;
	sweep_totals t;

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
				fprintf(stderr, "zyzzyva-sim: --plant takes client-2f, bad-history or skip-dedup\n");
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
	if (jobs > count)
		jobs = count;

	memset(&t, 0, sizeof(t));
	if (jobs > 1)
	{
		if (!run_parallel(&cfg, first, count, (unsigned) jobs, &t))
			return 2;
	}
	else
		run_share(&cfg, first, count, 0, 1, &t);
	if (!quiet && !(one && tracing))
		print_summary(&cfg, first, count, &t);
	printf("%llu passed, %llu failed\n", (unsigned long long) t.passed,
		   (unsigned long long) t.failed);
	return t.failed ? 1 : 0;
}
