/*
 * explore.c
 *	  The schedule explorer (explore.h, EXPLORE.md).
 *
 * Schedules are built from rounds, one per view.  Round 0 fixes the
 * faulty replica b, what it does from the start (nothing wrong, an
 * equivocating primary, crafted POMs, backup-built ORDER-REQs, lying
 * STATE-REPLYs) and view 0's requests and message fates; round v >= 1
 * adds a view change (b's lie in its VIEW-CHANGE, whose VIEW-CHANGE the
 * new primary misses, whether that replica also misses the new view) and
 * view v's requests and message fates.  In the spirit of Twins and
 * ByzzFuzz: which replica is faulty and which lie it tells, which leader
 * fails (every view's primary falls silent to end it), which replicas get
 * each message kind in each view.
 *
 * The search: every one-round schedule first, in a fixed order (the
 * smallest schedules); then, best first, extend the schedule whose world
 * (the scenario's snapshot: scenario.c) is the most unsettled by one more
 * round in every way, skipping worlds seen before (a state hash, as a
 * stateful model checker does), the faulty replicas (and their first
 * behaviour) taking turns.  Each schedule is run once, to its end
 * and a healing period, and any violation fails it.  Everything is
 * deterministic: the n-th schedule is the same on every run, which is what
 * lets a progress file resume a search (its lines are the results in
 * order; the search replays them instead of running them).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "explore.h"
#include "rng.h"
#include "scenario.h"
#include "sim.h"

#define XP_MAX_VIEWS	4
#define XP_TEXT			16384

/* What the faulty replica does from the start. */
typedef enum xp_beh
{
	BEH_NONE = 0,
	BEH_EQUIVOCATE,				/* as primary: a forked branch to two backups */
	BEH_POM,					/* crafted POMs of two sequence numbers */
	BEH_FORGE_AHEAD,			/* backup-built ORDER-REQs */
	BEH_LIE_STATE,				/* STATE-REPLYs with a changed table */
	BEH_COUNT
} xp_beh;

static const char *const beh_words[] = {
	"", "equivocate drop victims %s at 2", "pom-any-seq", "forge-order-req", "lie-state"
};

/* The lie in b's VIEW-CHANGE for a view change. */
static const char *const lie_words[] = {
	"", "hide all", "hide stale-cc", "hide stale-cc newest"
};

#define XP_LIES 4

typedef struct xp_round
{
	uint8_t		nreq;			/* requests in this view (view 0: 1, 2 or a burst of 6) */
	uint8_t		miss;			/* 0, or 1+r: r misses the primary's ORDER-REQs */
	uint8_t		commit;			/* 0: COMMITs reach all; 1: b now, the others two
								 * views later; 2+x: b and x now, the others
								 * two views later */
	uint8_t		lie;			/* the view change into this view: lie_words */
	uint8_t		excl;			/* 0, or 1+r: r's VIEW-CHANGE misses the new primary */
	uint8_t		deaf;			/* 1: ... and r misses this view's NEW-VIEW and
								 * ORDER-REQs; 2: as 1, and this view's
								 * VIEW-CONFIRMs reach only its primary and b */
} xp_round;

typedef struct xp_sched
{
	uint8_t		f;
	uint8_t		b;
	uint8_t		beh;
	uint8_t		n;				/* rounds (views) */
	xp_round	r[XP_MAX_VIEWS];
} xp_sched;

/* A world the search may extend. */
typedef struct xp_node
{
	xp_sched	s;
	uint32_t	score;
	uint64_t	index;
	bool		expanded;
} xp_node;

typedef struct xp_search
{
	const zz_explore_opts *o;
	zz_explore_result *res;
	struct timespec t0;

	uint64_t	next_index;		/* schedules run (or read back) so far */
	FILE	   *state;
	char	   *resume;			/* the progress file's lines, read back */
	size_t		resume_len;
	size_t		resume_off;

	uint64_t   *seen;			/* open-addressed set of world hashes */
	size_t		seen_cap;
	size_t		seen_n;
	xp_node    *nodes;
	size_t		nnodes;
	size_t		nodes_cap;
	bool		stop;
	uint32_t	turn;			/* best_node's class in turn */

	/* The new worlds of the expansion under way: only the best few go on. */
	xp_node    *kids;
	size_t		nkids;
	size_t		kids_cap;
} xp_search;

#define XP_KIDS_KEPT	4		/* children of one world the search may extend */

static uint32_t
primary_of(uint32_t f, uint32_t view)
{
	return view % (3 * f + 1);
}

/* ------------------------------------------------------- the scenario */

static void
add(char *buf, size_t cap, size_t *off, const char *fmt,...)
	__attribute__((format(printf, 4, 5)));

static void
add(char *buf, size_t cap, size_t *off, const char *fmt,...)
{
	va_list		ap;
	int			w;

	if (*off >= cap)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (w > 0)
		*off += (size_t) w;
}

/* One line describing a schedule (progress file, file headers). */
static void
describe(const xp_sched *s, char *out, size_t cap)
{
	size_t		o = 0;

	add(out, cap, &o, "f=%u b=R%u beh=%u", s->f, s->b, s->beh);
	for (int v = 0; v < s->n; v++)
	{
		const xp_round *r = &s->r[v];

		add(out, cap, &o, " v%d:%u.%u.%u.%u.%u.%u", v, r->nreq, r->miss, r->commit, r->lie,
			r->excl, r->deaf);
	}
}

/* A schedule from its description (describe()); false if malformed. */
static bool
parse_sched(const char *p, xp_sched *s)
{
	unsigned	f,
				b,
				beh;
	int			used;

	memset(s, 0, sizeof(*s));
	if (sscanf(p, "f=%u b=R%u beh=%u%n", &f, &b, &beh, &used) != 3 || f < 1 || f > 2 ||
		b >= 3 * f + 1 || beh >= BEH_COUNT)
		return false;
	s->f = (uint8_t) f;
	s->b = (uint8_t) b;
	s->beh = (uint8_t) beh;
	p += used;
	while (s->n < XP_MAX_VIEWS)
	{
		unsigned	v,
					a[6];

		if (sscanf(p, " v%u:%u.%u.%u.%u.%u.%u%n", &v, &a[0], &a[1], &a[2], &a[3], &a[4],
				   &a[5], &used) != 7 || v != s->n || a[0] > 6 || a[1] > 3 * f + 1 ||
			a[2] > 2 + 3 * f || a[3] >= XP_LIES || a[4] > 3 * f + 1 || a[5] > 2)
			break;
		s->r[s->n].nreq = (uint8_t) a[0];
		s->r[s->n].miss = (uint8_t) a[1];
		s->r[s->n].commit = (uint8_t) a[2];
		s->r[s->n].lie = (uint8_t) a[3];
		s->r[s->n].excl = (uint8_t) a[4];
		s->r[s->n].deaf = (uint8_t) a[5];
		s->n++;
		p += used;
	}
	while (*p == ' ')
		p++;
	return s->n > 0 && *p == '\0';
}

/*
 * The schedule as a scenario.  With file_mode, for a file that replays a
 * violation: the bug line and [safe] / [unsafe] expectations; without,
 * for the explorer's own run: the bugs come from the options, and the
 * scenario ends with a snapshot of the world before the healing period.
 */
static void
write_scenario(const xp_sched *s, const char *bug, unsigned vkind, bool file_mode,
			   char *buf, size_t cap)
{
	uint32_t	n = 3 * s->f + 1;
	size_t		o = 0;
	uint32_t	client = 0;
	char		list[64],
				desc[256];
	char		beh[96];

	describe(s, desc, sizeof(desc));
	if (s->beh == BEH_EQUIVOCATE)
	{
		/* Its victims: the last 2f replicas other than itself. */
		size_t		lo = 0;
		uint32_t	got = 0;

		list[0] = '\0';
		for (int i = (int) n - 1; i >= 0 && got < 2 * s->f; i--)
			if ((uint32_t) i != s->b)
			{
				lo += snprintf(list + lo, sizeof(list) - lo, "%sR%d", lo ? "," : "", i);
				got++;
			}
		snprintf(beh, sizeof(beh), beh_words[BEH_EQUIVOCATE], list);
	}
	else
		snprintf(beh, sizeof(beh), "%s", beh_words[s->beh]);

	add(buf, cap, &o, "# schedule %s\n", desc);
	add(buf, cap, &o, "f %u\nclients 8\nparam batch_max 1\n", s->f);
	if (s->beh == BEH_LIE_STATE)
		add(buf, cap, &o, "param cp_interval 2\n");
	if (file_mode && bug != NULL)
		add(buf, cap, &o, "bug %s\n", bug);
	add(buf, cap, &o, "byzantine R%u local-commit-any %s\n", s->b, beh);

	for (int v = 0; v < s->n; v++)
	{
		const xp_round *r = &s->r[v];
		uint32_t	p = primary_of(s->f, (uint32_t) v);

		add(buf, cap, &o, "# view %d (primary R%u)\n", v, p);
		if (v > 0)
		{
			uint32_t	prev = primary_of(s->f, (uint32_t) v - 1);

			/*
			 * As the new primary it acts on its lie: builds NEW-VIEW and
			 * re-issues the new history from it (forge.h, consistent).
			 */
			add(buf, cap, &o, "byzantine R%u local-commit-any %s %s%s\n", s->b, beh,
				lie_words[r->lie], r->lie && s->b == p ? " consistent" : "");
			if (r->excl)
				add(buf, cap, &o, "drop VIEW-CHANGE from R%u to R%u view %d as x%d\n",
					r->excl - 1, p, v, v);
			if (r->excl && r->deaf)
				add(buf, cap, &o, "drop NEW-VIEW,ORDER-REQ to R%u view %d as d%d\n",
					r->excl - 1, v, v);
			if (r->excl && r->deaf == 2)
			{
				/*
				 * Only the new primary (and b) enter view v: the others
				 * adopt its history but stay unconfirmed, so they report
				 * it without the entered-view certificate.
				 */
				size_t		lo = 0;

				list[0] = '\0';
				for (uint32_t i = 0; i < n; i++)
					if (i != p && i != s->b)
						lo += snprintf(list + lo, sizeof(list) - lo, "%sR%u", lo ? "," : "", i);
				add(buf, cap, &o, "drop VIEW-CONFIRM to %s view %d as k%d\n", list, v, v);
			}
			/* The leader of view v-1 fails: silent on the next request. */
			add(buf, cap, &o, "drop ORDER-REQ from R%u view %d as t%d\n", prev, v - 1, v);
			add(buf, cap, &o, "submit C%d PUT t t%d\n", 4 + v, v);
			/* Once the backups heard it, it has done its job: no more retries. */
			add(buf, cap, &o, "run 5ms\ndrop REQUEST from C%d as tq%d\n", 4 + v, v);
			add(buf, cap, &o, "await replica R%u view=%d mode=normal within 150ms\n", p, v);
			if (v >= 2 && s->r[v - 2].commit)
				add(buf, cap, &o, "release c%d\n", v - 2);
		}
		if (r->miss)
			add(buf, cap, &o, "drop ORDER-REQ from R%u to R%u view %d as o%d\n", p,
				r->miss - 1, v, v);
		if (r->commit)
		{
			size_t		lo = 0;

			list[0] = '\0';
			for (uint32_t i = 0; i < n; i++)
				if (i != s->b && (r->commit < 2 || i != (uint32_t) r->commit - 2))
					lo += snprintf(list + lo, sizeof(list) - lo, "%sR%u", lo ? "," : "", i);
			add(buf, cap, &o, "hold COMMIT to %s view %d as c%d\n", list, v, v);
		}
		if (r->nreq > 2)
		{
			/* a burst: C0, one request after the other, then quiet */
			for (int q = 0; q < r->nreq; q++)
			{
				if (q > 0)
					add(buf, cap, &o, "await complete C0 t=%d within 200ms\n", q);
				add(buf, cap, &o, "submit C0 PUT k r%d_%d\nrun 5ms\n", v, q);
			}
			add(buf, cap, &o, "drop REQUEST from C0 as q0\n");
			client = 1;
		}
		else
			for (int q = 0; q < r->nreq; q++)
			{
				/* one client per request (C0..C4), quiet once it has sent it */
				add(buf, cap, &o, "submit C%u PUT k r%d_%d\n", client, v, q);
				add(buf, cap, &o, "run 1ms\n");
				add(buf, cap, &o, "drop REQUEST from C%u as q%u\n", client, client);
				add(buf, cap, &o, "run 4ms\n");
				client++;
			}
		add(buf, cap, &o, "run 10ms\n");
	}
	if (!file_mode)
		add(buf, cap, &o, "snapshot\n");
	add(buf, cap, &o, "# heal: every message goes through again\nrelease all\nrun 1s\n");
	if (file_mode && bug != NULL)
	{
		const char *k = "";

		for (int i = 0; i < 16; i++)
			if (vkind == (1u << i))
				k = zz_violation_name(vkind);
		add(buf, cap, &o, "[safe] expect safe\n[unsafe] expect violation %s\n", k);
	}
	else
		add(buf, cap, &o, "expect safe\n");
}

/* ------------------------------------------------------ running one */

typedef struct xp_outcome
{
	bool		failed;
	unsigned	violations;
	uint64_t	hash;
	uint32_t	score;
	char		first[512];
} xp_outcome;

static void
run_sched(xp_search *x, const xp_sched *s, xp_outcome *out)
{
	static char text[XP_TEXT];
	zz_scenario_opts so;
	zz_scenario_result res;

	write_scenario(s, NULL, 0, false, text, sizeof(text));
	memset(&so, 0, sizeof(so));
	so.bugs = x->o->bugs;
	so.client_bugs = x->o->client_bugs;
	zz_scenario_run_text("explore", text, &so, &res);
	if (res.status == ZZ_SCENARIO_ERROR)
	{
		/* The explorer's own mistake: say so loudly. */
		fprintf(stderr, "zyzzyva-sim: explorer wrote a malformed scenario: %s\n%s",
				res.message, text);
		abort();
	}
	if (res.status == ZZ_SCENARIO_FAIL && res.violations == 0)
	{
		/* The explorer's own mistake too: a step that cannot be taken. */
		fprintf(stderr, "zyzzyva-sim: explorer schedule did not run: %s\n%s", res.message, text);
		abort();
	}
	memset(out, 0, sizeof(*out));
	out->violations = res.violations;
	out->failed = res.violations != 0;
	out->hash = res.snapped ? res.snap_hash : 0;
	out->score = res.snapped ? res.snap_score : 0;
	snprintf(out->first, sizeof(out->first), "%s", res.first_violation);
}

static double
elapsed(const xp_search *x)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - x->t0.tv_sec) + (t.tv_nsec - x->t0.tv_nsec) / 1e9;
}

/* ------------------------------------------------------ minimising */

/*
 * Drop and shrink schedule elements while it still fails: the last
 * rounds, then each element back to its default, until nothing more goes.
 */
static void
minimise(xp_search *x, xp_sched *s, xp_outcome *out)
{
	bool		changed = true;

	while (changed)
	{
		changed = false;
		while (s->n > 1)
		{
			xp_sched	t = *s;
			xp_outcome	o;

			t.n--;
			run_sched(x, &t, &o);
			if (!o.failed)
				break;
			*s = t;
			*out = o;
			changed = true;
		}
		if (s->beh != BEH_NONE)
		{
			xp_sched	t = *s;
			xp_outcome	o;

			t.beh = BEH_NONE;
			run_sched(x, &t, &o);
			if (o.failed)
			{
				*s = t;
				*out = o;
				changed = true;
			}
		}
		for (int v = 0; v < s->n; v++)
		{
			uint8_t    *fields[6] = {
				&s->r[v].nreq, &s->r[v].miss, &s->r[v].commit, &s->r[v].lie,
				&s->r[v].excl, &s->r[v].deaf
			};
			const uint8_t defaults[6] = {v == 0 ? 1 : 0, 0, 0, 0, 0, 0};

			/* a commit to b and x: first try b alone */
			if (s->r[v].commit >= 2)
			{
				xp_sched	t = *s;
				xp_outcome	o;

				t.r[v].commit = 1;
				run_sched(x, &t, &o);
				if (o.failed)
				{
					*s = t;
					*out = o;
					changed = true;
				}
			}

			for (int k = 0; k < 6; k++)
			{
				xp_sched	t;
				xp_outcome	o;
				uint8_t		keep = *fields[k];

				if (keep == defaults[k])
					continue;
				*fields[k] = defaults[k];
				t = *s;
				*fields[k] = keep;
				run_sched(x, &t, &o);
				if (o.failed)
				{
					*s = t;
					*out = o;
					changed = true;
				}
			}
		}
	}
}

/* The minimised schedule as a scenario file; false if it cannot be written. */
static bool
write_file(xp_search *x, const xp_sched *s, const xp_outcome *out, uint64_t index,
		   char *path, size_t cap)
{
	static char text[XP_TEXT];
	const char *bug = x->o->bug_name ? x->o->bug_name : "shipped";
	FILE	   *fp;
	unsigned	kind = 0;

	if (x->o->out_dir == NULL)
		return false;
	if (mkdir(x->o->out_dir, 0777) != 0 && errno != EEXIST)
		return false;
	for (int i = 0; i < 16 && kind == 0; i++)
		if (out->violations & (1u << i))
			kind = 1u << i;
	snprintf(path, cap, "%s/explore-%s-%llu.zz", x->o->out_dir, bug,
			 (unsigned long long) index);
	fp = fopen(path, "w");
	if (fp == NULL)
		return false;
	fprintf(fp, "# Found by the schedule explorer (make explore%s%s), schedule %llu,\n"
			"# minimised.  Violation: %s\n"
			"# Replay: zyzzyva-sim --scenario %s%s\n",
			x->o->bug_name ? " BUG=" : "", x->o->bug_name ? x->o->bug_name : "",
			(unsigned long long) index, out->first, path,
			x->o->bug_name ? " --planted" : "");
	write_scenario(s, x->o->bug_name, kind, true, text, sizeof(text));
	fputs(text, fp);
	fclose(fp);
	return true;
}

/* ------------------------------------------------------ the search */

static bool
seen_add(xp_search *x, uint64_t h)
{
	size_t		i;

	if (h == 0)
		h = 1;
	if (x->seen_n * 2 >= x->seen_cap)
	{
		size_t		ncap = x->seen_cap ? 2 * x->seen_cap : 4096;
		uint64_t   *nt = calloc(ncap, sizeof(uint64_t));

		if (nt == NULL)
			abort();
		for (size_t k = 0; k < x->seen_cap; k++)
			if (x->seen[k])
			{
				for (i = x->seen[k] % ncap; nt[i]; i = (i + 1) % ncap)
					;
				nt[i] = x->seen[k];
			}
		free(x->seen);
		x->seen = nt;
		x->seen_cap = ncap;
	}
	for (i = h % x->seen_cap; x->seen[i]; i = (i + 1) % x->seen_cap)
		if (x->seen[i] == h)
			return false;
	x->seen[i] = h;
	x->seen_n++;
	return true;
}

/*
 * The result of the next schedule: read back from the progress file if
 * it has it (the same schedule must be there), else run it and append.
 */
static bool
next_result(xp_search *x, const xp_sched *s, xp_outcome *out)
{
	char		desc[256];

	describe(s, desc, sizeof(desc));
	if (x->resume != NULL && x->resume_off < x->resume_len)
	{
		char	   *line = x->resume + x->resume_off;
		char	   *nl = strchr(line, '\n');
		unsigned long long idx,
					hash;
		unsigned	score,
					viol;
		int			used;

		if (nl != NULL)
		{
			*nl = '\0';
			x->resume_off = (size_t) (nl - x->resume) + 1;
			if (sscanf(line, "%llu %llx %u %x %n", &idx, &hash, &score, &viol, &used) == 4 &&
				idx == x->next_index && strncmp(line + used, desc, strlen(desc)) == 0)
			{
				memset(out, 0, sizeof(*out));
				out->hash = hash;
				out->score = score;
				out->violations = viol;
				out->failed = viol != 0;
				snprintf(out->first, sizeof(out->first), "(read back from %s)",
						 x->o->state_path);
				x->res->resumed++;
				x->next_index++;
				return true;
			}
		}
		/* A different search: stop reading it back. */
		x->resume_len = x->resume_off = 0;
	}
	if ((x->o->budget_s > 0 && elapsed(x) >= x->o->budget_s) ||
		(x->o->max_schedules > 0 && x->next_index >= x->o->max_schedules))
	{
		x->stop = true;
		return false;
	}
	run_sched(x, s, out);
	if (x->state != NULL)
	{
		fprintf(x->state, "%llu %llx %u %x %s\n", (unsigned long long) x->next_index,
				(unsigned long long) out->hash, out->score, out->violations, desc);
		fflush(x->state);
	}
	x->next_index++;
	return true;
}

/* One schedule: run it, count it, handle a violation, keep its world. */
static void
visit(xp_search *x, const xp_sched *s)
{
	xp_outcome	out;
	uint64_t	index = x->next_index;

	if (x->stop || !next_result(x, s, &out))
		return;
	if (out.failed)
	{
		x->res->failed++;
		if (x->res->first_at < 0)
		{
			xp_sched	m = *s;
			xp_outcome	mo = out;
			char		desc[256];

			x->res->first_at = elapsed(x);
			x->res->first_index = index;
			if (strncmp(out.first, "(read back", 10) != 0)
				minimise(x, &m, &mo);
			else
				run_sched(x, &m, &mo);
			snprintf(x->res->first_violation, sizeof(x->res->first_violation), "%s", mo.first);
			describe(&m, desc, sizeof(desc));
			if (write_file(x, &m, &mo, index, x->res->first_file, sizeof(x->res->first_file)) &&
				!x->o->quiet)
				printf("violation at schedule %llu after %.1fs: %s\n  minimised: %s\n  "
					   "replay: zyzzyva-sim --scenario %s%s\n",
					   (unsigned long long) index, x->res->first_at, mo.first, desc,
					   x->res->first_file, x->o->bug_name ? " --planted" : "");
			else if (!x->o->quiet)
				printf("violation at schedule %llu after %.1fs: %s\n  minimised: %s\n",
					   (unsigned long long) index, x->res->first_at, mo.first, desc);
		}
		if (x->o->stop_at_first)
			x->stop = true;
		return;
	}
	x->res->passed++;
	/* One-view forgeries (POMs, ORDER-REQs, STATE-REPLYs) are not extended. */
	if (s->n < XP_MAX_VIEWS && s->beh <= BEH_EQUIVOCATE && seen_add(x, out.hash))
	{
		if (x->nkids == x->kids_cap)
		{
			x->kids_cap = x->kids_cap ? 2 * x->kids_cap : 256;
			x->kids = realloc(x->kids, x->kids_cap * sizeof(xp_node));
			if (x->kids == NULL)
				abort();
		}
		x->kids[x->nkids].s = *s;
		x->kids[x->nkids].score = out.score;
		x->kids[x->nkids].index = index;
		x->kids[x->nkids].expanded = false;
		x->nkids++;
	}
	if (!x->o->quiet && x->next_index % 1000 == 0)
	{
		printf("  %llu schedules, %llu worlds, %.0fs\n", (unsigned long long) x->next_index,
			   (unsigned long long) x->seen_n, elapsed(x));
		fflush(stdout);
	}
}

static int
cmp_kids(const void *a, const void *b)
{
	const xp_node *x = a,
			   *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * The new worlds of one expansion join the frontier: all of them after
 * the first round, else the keep most unsettled (so that one rich world
 * does not flood the search with its siblings).
 */
static void
push_kids(xp_search *x, size_t keep)
{
	qsort(x->kids, x->nkids, sizeof(xp_node), cmp_kids);
	for (size_t i = 0; i < x->nkids && i < keep; i++)
	{
		if (x->nnodes == x->nodes_cap)
		{
			x->nodes_cap = x->nodes_cap ? 2 * x->nodes_cap : 1024;
			x->nodes = realloc(x->nodes, x->nodes_cap * sizeof(xp_node));
			if (x->nodes == NULL)
				abort();
		}
		x->nodes[x->nnodes++] = x->kids[i];
	}
	x->nkids = 0;
}

/* Every round 0, smallest first. */
static void
first_rounds(xp_search *x)
{
	uint32_t	n = 3 * x->o->f + 1;
	static const uint8_t nreqs[] = {1, 2, 6};

	for (int beh = 0; beh < BEH_COUNT && !x->stop; beh++)
		for (uint32_t b = 0; b < n && !x->stop; b++)
			for (int ri = 0; ri < 3 && !x->stop; ri++)
				for (uint32_t miss = 0; miss <= n && !x->stop; miss++)
					for (uint32_t commit = 0; commit < n + 2 && !x->stop; commit++)
					{
						xp_sched	s;

						if (commit >= 2 && commit - 2 == b)
							continue;

						/* the burst is for state transfer only */
						if ((nreqs[ri] == 6) != (beh == BEH_LIE_STATE))
							continue;
						if (miss == 1 || (miss && miss - 1 == b))
							continue;	/* not the primary R0, not b itself */
						if (beh == BEH_EQUIVOCATE && b != 0)
							continue;	/* it equivocates as the primary of view 0 */
						memset(&s, 0, sizeof(s));
						s.f = (uint8_t) x->o->f;
						s.b = (uint8_t) b;
						s.beh = (uint8_t) beh;
						s.n = 1;
						s.r[0].nreq = nreqs[ri];
						s.r[0].miss = (uint8_t) miss;
						s.r[0].commit = (uint8_t) commit;
						visit(x, &s);
					}
}

/* Every way to add round v to s. */
static void
extend(xp_search *x, const xp_sched *base)
{
	uint32_t	n = 3 * x->o->f + 1;
	int			v = base->n;
	uint32_t	p = primary_of(x->o->f, (uint32_t) v);

	for (int lie = 0; lie < XP_LIES && !x->stop; lie++)
		for (uint32_t excl = 0; excl <= n && !x->stop; excl++)
			for (int deaf = 0; deaf < 3 && !x->stop; deaf++)
				for (int nreq = 1; nreq >= 0 && !x->stop; nreq--)
					for (uint32_t miss = 0; miss <= n && !x->stop; miss++)
						for (uint32_t commit = 0; commit < n + 2 && !x->stop; commit++)
						{
							xp_sched	s = *base;
							xp_round   *r = &s.r[v];

							if (commit >= 2 && commit - 2 == base->b)
								continue;

							if (excl && (excl - 1 == p))
								continue;	/* the new primary has its own */
							if (deaf && !excl)
								continue;
							if (miss && (miss - 1 == p || miss - 1 == base->b))
								continue;
							if (nreq == 0 && (miss || commit))
								continue;
							memset(r, 0, sizeof(*r));
							r->nreq = (uint8_t) nreq;
							r->miss = (uint8_t) miss;
							r->commit = (uint8_t) commit;
							r->lie = (uint8_t) lie;
							r->excl = (uint8_t) excl;
							r->deaf = (uint8_t) deaf;
							s.n = (uint8_t) (v + 1);
							visit(x, &s);
						}
}

/*
 * The unexpanded world with the highest score (then the shortest, the
 * oldest), taking the faulty replicas in turn: the k-th expansion looks
 * only at worlds whose faulty replica and behaviour (the first round's
 * choice) are the k-th such class still open, so that the richest class
 * (an equivocating primary) does not starve the others.
 */
static xp_node *
best_node(xp_search *x)
{
	xp_node    *best = NULL;
	uint64_t	open = 0;
	uint32_t	cls;

	/* the classes with an unexpanded world, b * BEH_COUNT + beh */
	for (size_t i = 0; i < x->nnodes; i++)
		if (!x->nodes[i].expanded)
			open |= 1ull << (x->nodes[i].s.b * BEH_COUNT + x->nodes[i].s.beh);
	if (open == 0)
		return NULL;
	do
		cls = x->turn++ % 64;
	while (!(open & (1ull << cls)));
	for (size_t i = 0; i < x->nnodes; i++)
	{
		xp_node    *nd = &x->nodes[i];

		if (nd->expanded || (uint32_t) (nd->s.b * BEH_COUNT + nd->s.beh) != cls)
			continue;
		if (best == NULL || nd->score > best->score ||
			(nd->score == best->score && nd->s.n < best->s.n))
			best = nd;
	}
	return best;
}

/* f = 2: schedules drawn from the same space, seeded. */
static void
sample(xp_search *x)
{
	zz_rng		rng;
	uint32_t	n = 3 * x->o->f + 1;

	zz_rng_seed(&rng, x->o->seed ? x->o->seed : 1);
	while (!x->stop)
	{
		xp_sched	s;

		memset(&s, 0, sizeof(s));
		s.f = (uint8_t) x->o->f;
		s.b = (uint8_t) zz_rng_below(&rng, n);
		s.beh = (uint8_t) zz_rng_below(&rng, BEH_COUNT);
		if (s.beh == BEH_EQUIVOCATE)
			s.b = 0;
		s.n = (uint8_t) (1 + zz_rng_below(&rng, XP_MAX_VIEWS));
		for (int v = 0; v < s.n; v++)
		{
			xp_round   *r = &s.r[v];
			uint32_t	p = primary_of(x->o->f, (uint32_t) v);

			r->nreq = (uint8_t) (v == 0 ? (s.beh == BEH_LIE_STATE ? 6 : 1 + zz_rng_below(&rng, 2))
								 : zz_rng_below(&rng, 2));
			r->miss = (uint8_t) zz_rng_below(&rng, n + 1);
			if (r->miss && ((uint32_t) r->miss - 1 == p || (uint32_t) r->miss - 1 == s.b))
				r->miss = 0;
			r->commit = (uint8_t) zz_rng_below(&rng, n + 2);
			if (r->commit >= 2 && (uint32_t) r->commit - 2 == s.b)
				r->commit = 1;
			if (v > 0)
			{
				r->lie = (uint8_t) zz_rng_below(&rng, XP_LIES);
				r->excl = (uint8_t) zz_rng_below(&rng, n + 1);
				if (r->excl && (uint32_t) r->excl - 1 == p)
					r->excl = 0;
				r->deaf = r->excl ? (uint8_t) zz_rng_below(&rng, 3) : 0;
			}
		}
		visit(x, &s);
	}
}

bool
zz_explore_schedule_text(const char *desc, const char *bug, char *out, size_t cap)
{
	xp_sched	s;

	if (!parse_sched(desc, &s))
		return false;
	write_scenario(&s, bug, 0, true, out, cap);
	return true;
}

bool
zz_explore(const zz_explore_opts *opts, zz_explore_result *res)
{
	xp_search	x;

	memset(res, 0, sizeof(*res));
	res->first_at = -1;
	memset(&x, 0, sizeof(x));
	x.o = opts;
	x.res = res;
	clock_gettime(CLOCK_MONOTONIC, &x.t0);
	if (opts->state_path != NULL)
	{
		FILE	   *fp = fopen(opts->state_path, "r");

		if (fp != NULL)
		{
			size_t		cap = 0;

			for (;;)
			{
				if (x.resume_len + 65536 > cap)
				{
					cap = cap ? 2 * cap : 1 << 20;
					x.resume = realloc(x.resume, cap);
					if (x.resume == NULL)
						abort();
				}
				size_t		got = fread(x.resume + x.resume_len, 1, cap - x.resume_len - 1, fp);

				if (got == 0)
					break;
				x.resume_len += got;
			}
			x.resume[x.resume_len] = '\0';
			fclose(fp);
		}
		x.state = fopen(opts->state_path, "a");
		if (x.state == NULL)
		{
			fprintf(stderr, "zyzzyva-sim: cannot write %s: %s\n", opts->state_path,
					strerror(errno));
			free(x.resume);
			return false;
		}
	}
	if (opts->f == 1)
	{
		first_rounds(&x);
		push_kids(&x, SIZE_MAX);
		while (!x.stop)
		{
			xp_node    *nd = best_node(&x);
			xp_sched	s;

			if (nd == NULL)
				break;
			nd->expanded = true;
			s = nd->s;
			extend(&x, &s);
			push_kids(&x, XP_KIDS_KEPT);
		}
	}
	else
		sample(&x);
	res->seconds = elapsed(&x);
	if (x.state != NULL)
		fclose(x.state);
	free(x.resume);
	free(x.seen);
	free(x.nodes);
	free(x.kids);
	return true;
}
