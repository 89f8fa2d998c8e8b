/*
 * scenario.c
 *	  The scenario interpreter (scenario.h; the format is in SCENARIOS.md).
 *
 * Two passes.  parse_line() turns each line into one sc_cmd, checking
 * everything that can be checked without running (names, numbers, node
 * ranges, rule names); any mistake stops there with file:line.  Then the
 * commands run in order against a simulator world (sim_int.h) built by
 * the first command that is not set-up.  The world's network asks
 * net_filter() about every message; the active rules decide.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "replica_int.h"
#include "scenario.h"
#include "sim_int.h"

#define SC_MAX_TOKENS	48
#define SC_MAX_LINE		1024
#define SC_NAME_LEN		32
#define SC_TEXT_LEN		200
#define SC_WAIT_DEFAULT (10 * 1000000)	/* wait ... without within: 10 s */
#define SC_ALL_TYPES	0xfffeu	/* bits 1..15 */
#define SC_MAX_VIEWS	16		/* new histories kept per replica */
#define SC_G_ENTRIES	16		/* ... and entries of each */

typedef enum sc_kind
{
	/* set-up: before the world exists */
	SC_F,
	SC_CLIENTS,
	SC_PARAM,
	SC_LATENCY,
	SC_SEED,
	SC_REAL_CRYPTO,
	/* the timeline */
	SC_AT,
	SC_RUN,
	SC_WAIT,
	SC_SUBMIT,
	SC_CRASH,
	SC_RESTART,
	SC_BYZANTINE,
	SC_FAULTY,
	SC_RULE,
	SC_RELEASE,
	SC_DELIVER,
	SC_END,
	SC_EXPECT,
	SC_NEVER,
	SC_REPLAY,
	SC_INJECT,
	SC_SNAPSHOT,
	SC_END_ALL
} sc_kind;

typedef enum sc_rule_kind
{
	RULE_DROP,
	RULE_HOLD,
	RULE_DELAY,
	RULE_DUPLICATE,				/* deliver twice */
	RULE_COPY					/* deliver, and keep a copy for replay */
} sc_rule_kind;

/* Which messages a rule applies to. */
typedef struct sc_sel
{
	uint32_t	types;			/* bit per zz_msg_type */
	uint32_t	from;			/* bit per node index; 0: any */
	uint32_t	to;
	bool		has_view;
	zz_view		view;
	bool		has_seq;
	zz_seq		seq;
} sc_sel;

typedef enum sc_cmp
{
	CMP_EQ,
	CMP_NE,
	CMP_GE,
	CMP_LE,
	CMP_GT,
	CMP_LT
} sc_cmp;

typedef enum sc_xkind
{
	X_COMPLETE,
	X_NOT_COMPLETE,
	X_VIEW,
	X_MODE,
	X_EXECUTED,
	X_STABLE,
	X_STAT,
	X_SAFE,
	X_VIOLATION,
	X_ALL_COMPLETE,
	X_MAX_CC,
	X_REPLICA,
	X_NEW_HISTORY
} sc_xkind;

/* One entry a new-history condition names: seq -> (client, t). */
typedef struct sc_gent
{
	zz_seq		seq;
	uint32_t	client;
	uint64_t	ts;
} sc_gent;

/* A condition: what expect asserts and wait waits for. */
typedef struct sc_cond
{
	sc_xkind	kind;
	bool		any_node;
	uint32_t	node;			/* replica id, or client id */
	uint64_t	ts;
	bool		has_seq,
				has_view,
				has_path,
				has_reply;
	zz_seq		seq;
	zz_view		view;
	zz_completion_path path;
	char		reply[128];
	sc_cmp		cmp;
	uint64_t	value;
	int			stat;
	unsigned	vkind;			/* violation bit, 0: any */
	zz_replica_mode mode;
	bool		has_mode;
	bool		has_end;
	bool		none;			/* max-cc: it holds none */
	zz_seq		end;
	int			ngent;
	sc_gent		gent[8];
} sc_cond;

typedef struct sc_cmd
{
	sc_kind		kind;
	int			line;
	int			only;			/* 0 always, 1 shipped rule only, 2 unsafe only */
	char		text[SC_TEXT_LEN];
	uint64_t	num;			/* f, clients, param value, seed */
	uint64_t	num2;
	int			param;
	uint32_t	node;
	zz_time		time;			/* at, run, latency, delay by */
	zz_time		within;
	char	   *op;				/* submit */
	zz_forge_config fc;
	uint32_t	lie_ppm;
	unsigned	client_bugs;
	sc_rule_kind rule;
	sc_sel		sel;
	char		name[SC_NAME_LEN];
	bool		reverse;
	bool		amnesia;		/* restart from the kept checkpoint only */
	uint32_t	to;				/* replay, inject: node mask (0: as sent) */
	zz_view		view;			/* inject */
	sc_cond		cond;
} sc_cmd;

typedef struct sc_held
{
	uint32_t	from;
	uint32_t	to;
	uint8_t    *buf;
	size_t		len;
} sc_held;

typedef struct sc_rule
{
	sc_rule_kind kind;
	sc_sel		sel;
	char		name[SC_NAME_LEN];
	zz_time		delay;
	bool		active;
	sc_held    *held;
	size_t		nheld;
	size_t		cap;
} sc_rule;

typedef struct sc_done
{
	uint32_t	client;
	uint64_t	ts;
	zz_view		view;
	zz_seq		seq;
	zz_completion_path path;
	char		reply[128];
} sc_done;

/* The zz_params fields a scenario may set. */
static const struct
{
	const char *name;
	size_t		off;
	bool		is_time;
	bool		is_u32;
}			sc_params[] = {
	{"batch_max", offsetof(zz_params, batch_max), false, true},
	{"batch_timeout", offsetof(zz_params, batch_timeout), true, false},
	{"cp_interval", offsetof(zz_params, cp_interval), false, true},
	{"commit_timeout", offsetof(zz_params, commit_timeout), true, false},
	{"retransmit_timeout", offsetof(zz_params, retransmit_timeout), true, false},
	{"retransmit_max", offsetof(zz_params, retransmit_max), true, false},
	{"fill_hole_timeout", offsetof(zz_params, fill_hole_timeout), true, false},
	{"checkpoint_resend", offsetof(zz_params, checkpoint_resend), true, false},
	{"confirm_timeout", offsetof(zz_params, confirm_timeout), true, false},
	{"view_change_timeout", offsetof(zz_params, view_change_timeout), true, false},
};

#define SC_NPARAMS ((int) (sizeof(sc_params) / sizeof(sc_params[0])))

/* Statistics expect stat can read: replica counters, then client counters. */
static const struct
{
	const char *name;
	bool		replica;
	size_t		off;
}			sc_stats[] = {
	{"batches_ordered", true, offsetof(zz_replica_stats, batches_ordered)},
	{"batches_executed", true, offsetof(zz_replica_stats, batches_executed)},
	{"requests_executed", true, offsetof(zz_replica_stats, requests_executed)},
	{"spec_responses", true, offsetof(zz_replica_stats, spec_responses)},
	{"local_commits", true, offsetof(zz_replica_stats, local_commits)},
	{"cached_replies", true, offsetof(zz_replica_stats, cached_replies)},
	{"confirm_reqs", true, offsetof(zz_replica_stats, confirm_reqs)},
	{"fill_holes", true, offsetof(zz_replica_stats, fill_holes)},
	{"checkpoints_stable", true, offsetof(zz_replica_stats, checkpoints_stable)},
	{"view_changes", true, offsetof(zz_replica_stats, view_changes)},
	{"rollbacks", true, offsetof(zz_replica_stats, rollbacks)},
	{"poms", true, offsetof(zz_replica_stats, poms)},
	{"i_hates", true, offsetof(zz_replica_stats, i_hates)},
	{"state_transfers", true, offsetof(zz_replica_stats, state_transfers)},
	{"rejected", true, offsetof(zz_replica_stats, rejected)},
	{"submitted", false, offsetof(zz_client_stats, submitted)},
	{"completed_fast", false, offsetof(zz_client_stats, completed_fast)},
	{"completed_commit", false, offsetof(zz_client_stats, completed_commit)},
	{"retransmissions", false, offsetof(zz_client_stats, retransmissions)},
	{"commits_sent", false, offsetof(zz_client_stats, commits_sent)},
	{"poms_sent", false, offsetof(zz_client_stats, poms_sent)},
	{"client_rejected", false, offsetof(zz_client_stats, rejected)},
};

#define SC_NSTATS ((int) (sizeof(sc_stats) / sizeof(sc_stats[0])))

/* The planted bugs a scenario, the CLI or the explorer can switch on. */
static const struct
{
	const char *name;
	unsigned	replica;		/* zz_replica_bug */
	unsigned	client;			/* zz_client_bug */
}			sc_bugs[] = {
	{"unsafe-new-view", ZZ_BUG_UNSAFE_NEW_VIEW, 0},
	{"cc-any-view", ZZ_BUG_CC_ANY_VIEW, 0},
	{"max-cc-by-seq", ZZ_BUG_MAX_CC_BY_SEQ, 0},
	{"client-complete-on-2f", 0, ZZ_CLIENT_BUG_COMPLETE_ON_2F},
	{"new-view-lowest-cc", ZZ_BUG_NEW_VIEW_LOWEST_CC, 0},
	{"pom-any-seq", ZZ_BUG_POM_ANY_SEQ, 0},
	{"fill-hole-no-verify", ZZ_BUG_FILL_HOLE_NO_VERIFY, 0},
	{"state-reply-no-cert", ZZ_BUG_STATE_REPLY_NO_CERT, 0},
	{"accept-bad-history", ZZ_BUG_ACCEPT_BAD_HISTORY, 0},
	{"skip-dedup", ZZ_BUG_SKIP_DEDUP, 0},
	{"cc-dup-signer", ZZ_BUG_CC_DUP_SIGNER, 0},
	{"cc-any-signed-view", ZZ_BUG_CC_ANY_SIGNED_VIEW, 0},
	{"new-view-lowest-cp", ZZ_BUG_NEW_VIEW_LOWEST_CP, 0},
	{"keep-own-new-view", ZZ_BUG_KEEP_OWN_NEW_VIEW, 0},
	{"lc-any-view", 0, ZZ_CLIENT_BUG_LC_ANY_VIEW},
};

#define SC_NBUGS ((int) (sizeof(sc_bugs) / sizeof(sc_bugs[0])))

bool
zz_sim_bug_parse(const char *name, unsigned *replica_bugs, unsigned *client_bugs)
{
	for (int k = 0; k < SC_NBUGS; k++)
		if (name != NULL && strcmp(name, sc_bugs[k].name) == 0)
		{
			*replica_bugs = sc_bugs[k].replica;
			*client_bugs = sc_bugs[k].client;
			return true;
		}
	return false;
}

const char *
zz_sim_bug_name(int i)
{
	return i >= 0 && i < SC_NBUGS ? sc_bugs[i].name : NULL;
}

/* The new history of one view as one replica adopted it. */
typedef struct sc_gsnap
{
	bool		taken;
	zz_seq		start;
	zz_seq		end;
	uint32_t	client[SC_G_ENTRIES];	/* of the first request at start+1+i */
	uint64_t	ts[SC_G_ENTRIES];
} sc_gsnap;

typedef struct sc_run
{
	const char *name;
	const zz_scenario_opts *opts;
	zz_scenario_result *res;

	sc_cmd	   *cmds;
	int			ncmds;
	int			cap;

	/* Set-up, as parsed. */
	uint32_t	f;
	uint32_t	clients;
	bool		param_set[SC_NPARAMS];
	uint64_t	param_val[SC_NPARAMS];
	zz_time		lat_lo;
	zz_time		lat_hi;
	uint64_t	seed;
	bool		real_crypto;
	unsigned	bug_replica;	/* the planted bug the scenario names */
	unsigned	bug_client;
	bool		timeline;		/* a timeline command was parsed */
	char		names[64][SC_NAME_LEN]; /* rule names, for checking references */
	int			nnames;

	/* The run. */
	zz_sim	   *sim;
	zz_sim_result simres;
	sc_rule    *rules;
	int			nrules;
	sc_done    *done;
	int			ndone;
	int			done_cap;
	bool		violation_expected;
	unsigned	replica_bugs;	/* switched on in the correct replicas */

	/*
	 * The new history G of each view as each replica adopted it: its log
	 * when first seen in that view in normal mode.
	 */
	sc_gsnap	g[ZZ_MAX_N][SC_MAX_VIEWS];
	const sc_cond *never;		/* a never ... for ... running */
	const sc_cmd *cur;
} sc_run;

/* ------------------------------------------------------------ messages */

static void
fail(sc_run *r, zz_scenario_status st, int line, const char *fmt,...)
	__attribute__((format(printf, 4, 5)));

/*
 * Record the first failure (or error) as "name:line: message".
 */
static void
fail(sc_run *r, zz_scenario_status st, int line, const char *fmt,...)
{
	char		msg[480];
	va_list		ap;

	if (r->res->status != ZZ_SCENARIO_PASS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->res->status = st;
	if (line > 0)
		snprintf(r->res->message, sizeof(r->res->message), "%s:%d: %s", r->name, line, msg);
	else
		snprintf(r->res->message, sizeof(r->res->message), "%s: %s", r->name, msg);
}

/* A line of the scenario's own trace, stamped with the simulated time. */
static void
script_trace(sc_run *r, const char *fmt,...)
	__attribute__((format(printf, 2, 3)));

static void
script_trace(sc_run *r, const char *fmt,...)
{
	char		line[600];
	int			off;
	va_list		ap;

	if (r->opts->trace == NULL)
		return;
	off = snprintf(line, sizeof(line), "%11.6f script        ",
				   r->sim ? r->sim->now / 1e6 : 0.0);
	va_start(ap, fmt);
	vsnprintf(line + off, sizeof(line) - off, fmt, ap);
	va_end(ap);
	r->opts->trace(r->opts->trace_ctx, line);
}

/*
 * The world's trace: everything when verbose, else everything but the
 * plain deliveries (rules, drops, holds and every replica's own lines
 * stay).
 */
static void
sink(void *ctx, const char *line)
{
	sc_run	   *r = ctx;

	if (!r->opts->verbose && strncmp(line + 12, "deliver ", 8) == 0)
		return;
	r->opts->trace(r->opts->trace_ctx, line);
}

static bool holds(sc_run *r, const sc_cond *c, char *why, size_t cap);

/* ------------------------------------------------------------- parsing */

typedef struct sc_toks
{
	int			n;
	char	   *t[SC_MAX_TOKENS];
	char		buf[SC_MAX_LINE];
} sc_toks;

/*
 * Split a line into tokens: whitespace separates, "..." groups (the
 * quotes go), # starts a comment.  False on an unterminated quote or too
 * many tokens.
 */
static bool
tokenize(const char *line, sc_toks *tk, const char **err)
{
	const char *p = line;
	char	   *o = tk->buf;

	tk->n = 0;
	for (;;)
	{
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p == '\0' || *p == '#')
			return true;
		if (tk->n == SC_MAX_TOKENS)
		{
			*err = "too many words";
			return false;
		}
		tk->t[tk->n++] = o;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
		{
			if (*p == '"')
			{
				p++;
				while (*p != '\0' && *p != '"')
					*o++ = *p++;
				if (*p != '"')
				{
					*err = "unterminated quote";
					return false;
				}
				p++;
			}
			else if (*p == '#')
				break;
			else
				*o++ = *p++;
		}
		*o++ = '\0';
	}
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	char	   *end;

	if (s == NULL || !isdigit((unsigned char) *s))
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* A decimal number with a unit: 250us, 2ms, 1.5s; a bare 0 is allowed. */
static bool
parse_time(const char *s, zz_time *out)
{
	char	   *end;
	double		v;

	if (s == NULL || !(isdigit((unsigned char) *s) || *s == '.'))
		return false;
	if (strcmp(s, "0") == 0)
	{
		*out = 0;
		return true;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || v < 0)
		return false;
	if (strcmp(end, "us") == 0)
		*out = (zz_time) (v + 0.5);
	else if (strcmp(end, "ms") == 0)
		*out = (zz_time) (v * 1e3 + 0.5);
	else if (strcmp(end, "s") == 0)
		*out = (zz_time) (v * 1e6 + 0.5);
	else
		return false;
	return true;
}

/* A percentage, 0..100, as parts per million: 5%, 0.5%. */
static bool
parse_pct(const char *s, uint32_t *ppm)
{
	char	   *end;
	double		v;

	if (s == NULL || !(isdigit((unsigned char) *s) || *s == '.'))
		return false;
	v = strtod(s, &end);
	if (strcmp(end, "%") != 0 || v < 0 || v > 100)
		return false;
	*ppm = (uint32_t) (v * 1e4 + 0.5);
	return true;
}

/* R<i> (replica) or C<i> (client) within the cluster parsed so far. */
static bool
parse_node(sc_run *r, const char *s, bool replica, uint32_t *id)
{
	uint64_t	v;

	if (s == NULL || s[0] != (replica ? 'R' : 'C') || !parse_u64(s + 1, &v))
		return false;
	if (v >= (replica ? 3 * r->f + 1 : r->clients))
		return false;
	*id = (uint32_t) v;
	return true;
}

/*
 * A node set: R1,R2,C0 ... or replicas, clients, *.  As a mask of node
 * indices (replicas 0..n-1, clients n..).
 */
static bool
parse_nodes(sc_run *r, const char *s, uint32_t *mask)
{
	uint32_t	n = 3 * r->f + 1;
	char		copy[SC_MAX_LINE];
	char	   *save = NULL;

	*mask = 0;
	if (strcmp(s, "*") == 0)
		return true;
	snprintf(copy, sizeof(copy), "%s", s);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
	{
		uint32_t	id;

		if (strcmp(t, "replicas") == 0)
			*mask |= (1u << n) - 1;
		else if (strcmp(t, "clients") == 0)
			*mask |= ((1u << r->clients) - 1) << n;
		else if (parse_node(r, t, true, &id))
			*mask |= 1u << id;
		else if (parse_node(r, t, false, &id))
			*mask |= 1u << (n + id);
		else
			return false;
	}
	return *mask != 0;
}

/* Message type names (message.h), with I-HATE for short; * for any. */
static bool
parse_types(const char *s, uint32_t *types)
{
	char		copy[SC_MAX_LINE];
	char	   *save = NULL;

	*types = 0;
	if (strcmp(s, "*") == 0)
	{
		*types = SC_ALL_TYPES;
		return true;
	}
	snprintf(copy, sizeof(copy), "%s", s);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
	{
		int			found = 0;

		if (strcmp(t, "I-HATE") == 0)
			found = ZZ_MSG_I_HATE_THE_PRIMARY;
		for (int k = ZZ_MSG_REQUEST; k <= ZZ_MSG_TYPE_MAX && !found; k++)
			if (strcmp(t, zz_msg_type_name(k)) == 0)
				found = k;
		if (!found)
			return false;
		*types |= 1u << found;
	}
	return true;
}

/*
 * A selector: TYPES [from NODES] [to NODES] [view V] [seq N], from token
 * *i on; stops at a word it does not know (e.g. "as", "by").
 */
static bool
parse_sel(sc_run *r, sc_toks *tk, int *i, sc_sel *sel, const char **err)
{
	memset(sel, 0, sizeof(*sel));
	if (*i >= tk->n || !parse_types(tk->t[*i], &sel->types))
	{
		*err = "expected message types (e.g. ORDER-REQ, COMMIT,LOCAL-COMMIT or *)";
		return false;
	}
	(*i)++;
	while (*i < tk->n)
	{
		const char *w = tk->t[*i];
		const char *v = *i + 1 < tk->n ? tk->t[*i + 1] : NULL;

		if (strcmp(w, "from") == 0 || strcmp(w, "to") == 0)
		{
			uint32_t   *m = w[0] == 'f' ? &sel->from : &sel->to;

			if (v == NULL || *m != 0 || !parse_nodes(r, v, m))
			{
				*err = "bad node list after from/to (R0,R1, C2, replicas, clients or *)";
				return false;
			}
		}
		else if (strcmp(w, "view") == 0)
		{
			if (sel->has_view || !parse_u64(v, &sel->view))
			{
				*err = "bad view number";
				return false;
			}
			sel->has_view = true;
		}
		else if (strcmp(w, "seq") == 0)
		{
			if (sel->has_seq || !parse_u64(v, &sel->seq))
			{
				*err = "bad sequence number";
				return false;
			}
			sel->has_seq = true;
		}
		else
			break;
		*i += 2;
	}
	return true;
}

static bool
parse_cmp(const char *s, sc_cmp *c)
{
	static const char *const ops[] = {"==", "!=", ">=", "<=", ">", "<"};

	for (int k = 0; k < 6; k++)
		if (s != NULL && strcmp(s, ops[k]) == 0)
		{
			*c = (sc_cmp) k;
			return true;
		}
	return false;
}

static bool
violation_kind(const char *s, unsigned *kind)
{
	for (int k = 0; k < ZZ_V_KINDS; k++)
		if (strcmp(s, zz_violation_name(1u << k)) == 0)
		{
			*kind = 1u << k;
			return true;
		}
	return false;
}

/* key=value with a given key; *val points into the token. */
static bool
keyval(const char *tok, const char *key, const char **val)
{
	size_t		kl = strlen(key);

	if (strncmp(tok, key, kl) != 0 || tok[kl] != '=')
		return false;
	*val = tok + kl + 1;
	return true;
}

/*
 * A condition (for expect and wait), from token i to the end.
 */
static bool
parse_cond(sc_run *r, sc_toks *tk, int i, sc_cond *c, const char **err)
{
	const char *w = i < tk->n ? tk->t[i] : "";
	const char *a = i + 1 < tk->n ? tk->t[i + 1] : NULL;
	int			next = i + 2;

	memset(c, 0, sizeof(*c));
	if (strcmp(w, "complete") == 0 || strcmp(w, "not-complete") == 0)
	{
		const char *v;
		bool		got_ts = false;

		c->kind = w[0] == 'c' ? X_COMPLETE : X_NOT_COMPLETE;
		if (!parse_node(r, a, false, &c->node))
		{
			*err = "expected a client (C0, C1, ...)";
			return false;
		}
		for (; next < tk->n; next++)
		{
			const char *t = tk->t[next];

			if (keyval(t, "t", &v) && parse_u64(v, &c->ts))
				got_ts = true;
			else if (c->kind == X_COMPLETE && keyval(t, "seq", &v) && parse_u64(v, &c->seq))
				c->has_seq = true;
			else if (c->kind == X_COMPLETE && keyval(t, "view", &v) && parse_u64(v, &c->view))
				c->has_view = true;
			else if (c->kind == X_COMPLETE && keyval(t, "path", &v) &&
					 (strcmp(v, "fast") == 0 || strcmp(v, "commit") == 0))
			{
				c->has_path = true;
				c->path = v[0] == 'f' ? ZZ_PATH_FAST : ZZ_PATH_COMMIT;
			}
			else if (c->kind == X_COMPLETE && keyval(t, "reply", &v) &&
					 strlen(v) < sizeof(c->reply))
			{
				c->has_reply = true;
				snprintf(c->reply, sizeof(c->reply), "%s", v);
			}
			else
			{
				*err = "expected t=T, seq=N, view=V, path=fast|commit or reply=TEXT";
				return false;
			}
		}
		if (!got_ts)
		{
			*err = "the request needs its timestamp: t=T";
			return false;
		}
		return true;
	}
	if (strcmp(w, "view") == 0 || strcmp(w, "executed") == 0 || strcmp(w, "stable") == 0)
	{
		c->kind = w[0] == 'v' ? X_VIEW : w[0] == 'e' ? X_EXECUTED : X_STABLE;
		if (!parse_node(r, a, true, &c->node) || next + 2 != tk->n ||
			!parse_cmp(tk->t[next], &c->cmp) || !parse_u64(tk->t[next + 1], &c->value))
		{
			*err = "expected: view|executed|stable R<i> OP N (OP: == != >= <= > <)";
			return false;
		}
		return true;
	}
	if (strcmp(w, "mode") == 0)
	{
		const char *m = next < tk->n ? tk->t[next] : "";

		c->kind = X_MODE;
		if (!parse_node(r, a, true, &c->node) || next + 1 != tk->n)
		{
			*err = "expected: mode R<i> normal|view-change|state-transfer";
			return false;
		}
		if (strcmp(m, "normal") == 0)
			c->mode = ZZ_MODE_NORMAL;
		else if (strcmp(m, "view-change") == 0)
			c->mode = ZZ_MODE_VIEW_CHANGE;
		else if (strcmp(m, "state-transfer") == 0)
			c->mode = ZZ_MODE_STATE_TRANSFER;
		else
		{
			*err = "mode is normal, view-change or state-transfer";
			return false;
		}
		return true;
	}
	if (strcmp(w, "stat") == 0)
	{
		int			k;

		c->kind = X_STAT;
		for (k = 0; k < SC_NSTATS; k++)
			if (a != NULL && strcmp(a, sc_stats[k].name) == 0)
				break;
		if (k == SC_NSTATS)
		{
			*err = "unknown statistic (see SCENARIOS.md)";
			return false;
		}
		c->stat = k;
		c->any_node = true;
		if (next < tk->n && parse_node(r, tk->t[next], sc_stats[k].replica, &c->node))
		{
			c->any_node = false;
			next++;
		}
		if (next + 2 != tk->n || !parse_cmp(tk->t[next], &c->cmp) ||
			!parse_u64(tk->t[next + 1], &c->value))
		{
			*err = "expected: stat NAME [R<i>|C<i>] OP N";
			return false;
		}
		return true;
	}
	if (strcmp(w, "safe") == 0 || strcmp(w, "all-complete") == 0)
	{
		c->kind = w[0] == 's' ? X_SAFE : X_ALL_COMPLETE;
		if (i + 1 != tk->n)
		{
			*err = "nothing may follow safe / all-complete";
			return false;
		}
		return true;
	}
	if (strcmp(w, "violation") == 0)
	{
		c->kind = X_VIOLATION;
		if (a != NULL && (!violation_kind(a, &c->vkind) || i + 2 != tk->n))
		{
			*err = "unknown violation kind (agreement, history-chain, validity, "
				"exactly-once, liveness, checkpoint, step-limit, step-rule, recovery, invariant)";
			return false;
		}
		return true;
	}
	if (strcmp(w, "max-cc") == 0 || strcmp(w, "replica") == 0 ||
		strcmp(w, "new-history") == 0)
	{
		const char *v;
		bool		got_view = false;

		c->kind = w[0] == 'm' ? X_MAX_CC : w[0] == 'r' ? X_REPLICA : X_NEW_HISTORY;
		if (!parse_node(r, a, true, &c->node))
		{
			*err = "expected a replica (R0, R1, ...)";
			return false;
		}
		for (; next < tk->n; next++)
		{
			const char *t = tk->t[next];
			uint64_t	sq;
			char	   *colon;

			if (keyval(t, "view", &v) && parse_u64(v, &c->view))
				c->has_view = got_view = true;
			else if (c->kind == X_MAX_CC && keyval(t, "seq", &v) && parse_u64(v, &c->seq))
				c->has_seq = true;
			else if (c->kind == X_MAX_CC && strcmp(t, "none") == 0)
				c->none = true;
			else if (c->kind == X_REPLICA && keyval(t, "mode", &v))
			{
				c->has_mode = true;
				if (strcmp(v, "normal") == 0)
					c->mode = ZZ_MODE_NORMAL;
				else if (strcmp(v, "view-change") == 0)
					c->mode = ZZ_MODE_VIEW_CHANGE;
				else if (strcmp(v, "state-transfer") == 0)
					c->mode = ZZ_MODE_STATE_TRANSFER;
				else
				{
					*err = "mode is normal, view-change or state-transfer";
					return false;
				}
			}
			else if (c->kind == X_REPLICA && keyval(t, "executed", &v) &&
					 parse_u64(v, &c->value))
				c->has_seq = true;
			else if (c->kind == X_NEW_HISTORY && keyval(t, "end", &v) &&
					 parse_u64(v, &c->end))
				c->has_end = true;
			else if (c->kind == X_NEW_HISTORY && isdigit((unsigned char) t[0]) &&
					 (colon = strchr(t, '=')) != NULL && c->ngent < 8)
			{
				char		num[24];
				const char *ct = colon + 1;
				const char *col2 = strchr(ct, ':');
				char		cname[16];
				sc_gent    *ge = &c->gent[c->ngent];

				snprintf(num, sizeof(num), "%.*s", (int) (colon - t), t);
				if (col2 == NULL || col2 - ct >= (long) sizeof(cname) || !parse_u64(num, &sq))
				{
					*err = "a new-history entry is SEQ=C<i>:T (e.g. 1=C0:1)";
					return false;
				}
				snprintf(cname, sizeof(cname), "%.*s", (int) (col2 - ct), ct);
				if (!parse_node(r, cname, false, &ge->client) || !parse_u64(col2 + 1, &ge->ts))
				{
					*err = "a new-history entry is SEQ=C<i>:T (e.g. 1=C0:1)";
					return false;
				}
				ge->seq = sq;
				c->ngent++;
			}
			else
			{
				*err = c->kind == X_MAX_CC ? "expected: max-cc R<i> none | [view=V] [seq=N]" :
					c->kind == X_REPLICA ? "expected: replica R<i> [view=V] [mode=M] [executed=N]" :
					"expected: new-history R<i> view=V [end=N] [SEQ=C<i>:T ...]";
				return false;
			}
		}
		if (c->kind == X_NEW_HISTORY && (!got_view || c->view == 0 || c->view >= SC_MAX_VIEWS))
		{
			*err = "new-history needs view=V, 1..15";
			return false;
		}
		if (c->kind == X_MAX_CC && c->none && (c->has_view || c->has_seq))
		{
			*err = "max-cc R<i> none takes nothing else";
			return false;
		}
		return true;
	}
	*err = "unknown condition (complete, not-complete, view, mode, executed, stable, stat, "
		"safe, violation, all-complete, max-cc, replica, new-history)";
	return false;
}

/*
 * byzantine R<i> BEHAVIOUR...: see SCENARIOS.md.
 */
static bool
parse_byzantine(sc_run *r, sc_toks *tk, sc_cmd *c, const char **err)
{
	int			i = 2;
	zz_forge_config *fc = &c->fc;
	bool		fork_view_set = false;

	memset(fc, 0, sizeof(*fc));
	if (!parse_node(r, tk->n > 1 ? tk->t[1] : NULL, true, &c->node))
	{
		*err = "expected a replica (R0, R1, ...)";
		return false;
	}
	if (tk->n == 2)
	{
		*err = "say what it does (honest, equivocate, silent, slow, omit, delay, "
			"replay, lie-replies, lie-checkpoints, hide, pom-any-seq, forge-order-req, "
				"lie-state, new-view-to, local-commit-any, consistent)";
		return false;
	}
	while (i < tk->n)
	{
		const char *w = tk->t[i];
		const char *a = i + 1 < tk->n ? tk->t[i + 1] : NULL;

		if (strcmp(w, "honest") == 0)
			i++;
		else if (strcmp(w, "equivocate") == 0)
		{
			static const zz_forge_mode modes[] = {
				ZZ_FORGE_BAD_HISTORY, ZZ_FORGE_DUPLICATE, ZZ_FORGE_DROP, ZZ_FORGE_ND
			};

			for (int k = 0; k < 4 && a != NULL; k++)
				if (strcmp(a, zz_forge_mode_name(modes[k])) == 0)
					fc->mode = modes[k];
			if (fc->mode == ZZ_FORGE_NONE || i + 3 >= tk->n ||
				strcmp(tk->t[i + 2], "victims") != 0 ||
				!parse_nodes(r, tk->t[i + 3], &fc->victims) ||
				(fc->victims >> (3 * r->f + 1)) != 0)
			{
				*err = "expected: equivocate bad-history|duplicate|drop|nondeterminism "
					"victims R1,R2 [at SEQ] [view V]";
				return false;
			}
			i += 4;
			fc->fork_at = 1;
			while (i + 1 < tk->n && (strcmp(tk->t[i], "at") == 0 || strcmp(tk->t[i], "view") == 0))
			{
				uint64_t	v;

				if (!parse_u64(tk->t[i + 1], &v))
				{
					*err = "bad number after at/view";
					return false;
				}
				if (tk->t[i][0] == 'a')
					fc->fork_at = v;
				else
				{
					fc->fork_view = v;
					fork_view_set = true;
				}
				i += 2;
			}
		}
		else if (strcmp(w, "silent") == 0)
		{
			fc->silent = true;
			fc->silent_from = 0;
			i++;
			if (i + 1 < tk->n && strcmp(tk->t[i], "from") == 0)
			{
				if (!parse_u64(tk->t[i + 1], &fc->silent_from))
				{
					*err = "expected: silent [from SEQ]";
					return false;
				}
				i += 2;
			}
		}
		else if (strcmp(w, "slow") == 0)
		{
			if (!parse_time(a, &fc->slow))
			{
				*err = "expected: slow DURATION (e.g. 8ms)";
				return false;
			}
			i += 2;
		}
		else if (strcmp(w, "omit") == 0 || strcmp(w, "replay") == 0)
		{
			if (!parse_pct(a, w[0] == 'o' ? &fc->omit_ppm : &fc->replay_ppm))
			{
				*err = "expected a percentage (e.g. 10%)";
				return false;
			}
			i += 2;
		}
		else if (strcmp(w, "delay") == 0)
		{
			if (!parse_pct(a, &fc->delay_ppm) || i + 3 >= tk->n ||
				strcmp(tk->t[i + 2], "up-to") != 0 || !parse_time(tk->t[i + 3], &fc->delay_max))
			{
				*err = "expected: delay PCT up-to DURATION";
				return false;
			}
			i += 4;
		}
		else if (strcmp(w, "lie-replies") == 0)
		{
			c->lie_ppm = 1000000;
			i++;
			if (i < tk->n && parse_pct(tk->t[i], &c->lie_ppm))
				i++;
		}
		else if (strcmp(w, "lie-checkpoints") == 0)
		{
			fc->lie_checkpoints = true;
			i++;
		}
		else if (strcmp(w, "pom-any-seq") == 0)
		{
			fc->pom_any_seq = true;
			i++;
		}
		else if (strcmp(w, "forge-order-req") == 0)
		{
			fc->forge_ahead = true;
			i++;
			if (i < tk->n && strcmp(tk->t[i], "bad-sig") == 0)
			{
				fc->ahead_sig = ZZ_FORGE_SIG_BAD;
				i++;
			}
		}
		else if (strcmp(w, "lie-state") == 0)
		{
			fc->state_lie = true;
			i++;
		}
		else if (strcmp(w, "local-commit-any") == 0)
		{
			fc->lc_any = true;
			i++;
		}
		else if (strcmp(w, "consistent") == 0)
		{
			fc->vc_consistent = true;
			i++;
		}
		else if (strcmp(w, "new-view-to") == 0)
		{
			if (i + 1 >= tk->n || !parse_nodes(r, tk->t[i + 1], &fc->nv_victims) ||
				(fc->nv_victims >> (3 * r->f + 1)) != 0)
			{
				*err = "expected: new-view-to REPLICAS [without R<i>]";
				return false;
			}
			fc->nv_exclude = c->node;	/* none */
			i += 2;
			if (i + 1 < tk->n && strcmp(tk->t[i], "without") == 0)
			{
				if (!parse_node(r, tk->t[i + 1], true, &fc->nv_exclude))
				{
					*err = "expected: new-view-to REPLICAS [without R<i>]";
					return false;
				}
				i += 2;
			}
		}
		else if (strcmp(w, "hide") == 0)
		{
			i += 2;
			if (a != NULL && strcmp(a, "all") == 0)
				fc->vc_lie = ZZ_VC_WITHHOLD;
			else if (a != NULL && strcmp(a, "forged-cc") == 0)
				fc->vc_lie = ZZ_VC_FORGED_CC;
			else if (a != NULL && strcmp(a, "dup-signer-cc") == 0)
				fc->vc_lie = ZZ_VC_DUP_SIGNER_CC;
			else if (a != NULL && strcmp(a, "wrong-view-cc") == 0)
				fc->vc_lie = ZZ_VC_WRONG_VIEW_CC;
			else if (a != NULL && strcmp(a, "stale-checkpoint") == 0)
				fc->vc_lie = ZZ_VC_STALE_CP;
			else if (a != NULL && strcmp(a, "from") == 0 && i < tk->n &&
					 parse_u64(tk->t[i], &fc->withhold_from) && fc->withhold_from > 0)
			{
				fc->vc_lie = ZZ_VC_WITHHOLD;
				i++;
			}
			else if (a != NULL && strcmp(a, "stale-cc") == 0)
			{
				fc->vc_lie = ZZ_VC_STALE_CC;
				if (i + 3 < tk->n && strcmp(tk->t[i], "view") == 0 &&
					strcmp(tk->t[i + 2], "seq") == 0)
				{
					if (!parse_u64(tk->t[i + 1], &fc->stale_view) ||
						!parse_u64(tk->t[i + 3], &fc->stale_seq) || fc->stale_seq == 0)
					{
						*err = "expected: hide stale-cc [view V seq N] [relabelled]";
						return false;
					}
					i += 4;
				}
				else if (i < tk->n && strcmp(tk->t[i], "newest") == 0)
				{
					fc->stale_newest = true;
					i++;
				}
				if (i < tk->n && strcmp(tk->t[i], "relabelled") == 0)
				{
					fc->stale_relabel = true;
					i++;
				}
			}
			else
			{
				*err = "expected: hide all | hide from SEQ | "
					"hide stale-cc [view V seq N | newest] [relabelled] | "
					"hide forged-cc | hide dup-signer-cc | hide wrong-view-cc | "
					"hide stale-checkpoint";
				return false;
			}
		}
		else
		{
			*err = "unknown behaviour (honest, equivocate, silent, slow, omit, delay, "
				"replay, lie-replies, lie-checkpoints, hide, pom-any-seq, forge-order-req, "
				"lie-state, new-view-to, local-commit-any, consistent)";
			return false;
		}
	}
	if (!fork_view_set)
		fc->fork_view = c->node;	/* the first view it leads */
	return true;
}

static bool
known_rule(sc_run *r, const char *name)
{
	for (int k = 0; k < r->nnames; k++)
		if (strcmp(r->names[k], name) == 0)
			return true;
	return false;
}

/*
 * One line into one command (or nothing, for a blank line).  False on a
 * mistake, with *err saying what.
 */
static bool
parse_line(sc_run *r, const char *line, int lineno, const char **err)
{
	sc_toks		tk;
	sc_cmd		c;
	const char *w;
	int			only = 0;

	if (!tokenize(line, &tk, err))
		return false;
	if (tk.n == 0)
		return true;
	memset(&c, 0, sizeof(c));
	c.line = lineno;
	if (strcmp(tk.t[0], "[safe]") == 0 || strcmp(tk.t[0], "[unsafe]") == 0)
	{
		only = tk.t[0][1] == 's' ? 1 : 2;
		memmove(tk.t, tk.t + 1, (tk.n - 1) * sizeof(char *));
		tk.n--;
		if (tk.n == 0)
		{
			*err = "[safe] / [unsafe] needs a directive after it";
			return false;
		}
	}
	c.only = only;
	{
		const char *s = line;
		size_t		l;

		while (*s == ' ' || *s == '\t')
			s++;
		l = strcspn(s, "\r\n");
		if (l >= sizeof(c.text))
			l = sizeof(c.text) - 1;
		memcpy(c.text, s, l);
		c.text[l] = '\0';
	}
	w = tk.t[0];

	/* Set-up directives. */
	if (strcmp(w, "f") == 0 || strcmp(w, "clients") == 0 || strcmp(w, "param") == 0 ||
		strcmp(w, "latency") == 0 || strcmp(w, "seed") == 0 ||
		strcmp(w, "real-crypto") == 0 || strcmp(w, "bug") == 0)
	{
		if (r->timeline)
		{
			*err = "set-up directives (f, clients, param, latency, seed, real-crypto, bug) "
				"must come before the timeline";
			return false;
		}
		if (only != 0)
		{
			*err = "set-up directives cannot depend on the rule";
			return false;
		}
		if (w[0] == 'f' && strcmp(w, "f") == 0)
		{
			if (tk.n != 2 || !parse_u64(tk.t[1], &c.num) || c.num < 1 || c.num > 2)
			{
				*err = "expected: f 1|2";
				return false;
			}
			r->f = (uint32_t) c.num;
			return true;
		}
		if (strcmp(w, "clients") == 0)
		{
			if (tk.n != 2 || !parse_u64(tk.t[1], &c.num) || c.num < 1 ||
				c.num > SIM_MAX_CLIENTS)
			{
				*err = "expected: clients 1..8";
				return false;
			}
			r->clients = (uint32_t) c.num;
			return true;
		}
		if (strcmp(w, "param") == 0)
		{
			int			k;

			for (k = 0; k < SC_NPARAMS; k++)
				if (tk.n > 1 && strcmp(tk.t[1], sc_params[k].name) == 0)
					break;
			if (k == SC_NPARAMS || tk.n != 3)
			{
				*err = "expected: param NAME VALUE (NAME: batch_max, batch_timeout, "
					"cp_interval, commit_timeout, retransmit_timeout, retransmit_max, "
					"fill_hole_timeout, checkpoint_resend, confirm_timeout, "
					"view_change_timeout)";
				return false;
			}
			if (sc_params[k].is_time ? !parse_time(tk.t[2], &r->param_val[k])
				: !parse_u64(tk.t[2], &r->param_val[k]) || r->param_val[k] == 0)
			{
				*err = sc_params[k].is_time ? "expected a duration (e.g. 10ms)"
					: "expected a positive number";
				return false;
			}
			r->param_set[k] = true;
			return true;
		}
		if (strcmp(w, "latency") == 0)
		{
			if ((tk.n != 2 && tk.n != 3) || !parse_time(tk.t[1], &r->lat_lo))
			{
				*err = "expected: latency DURATION [DURATION]";
				return false;
			}
			r->lat_hi = r->lat_lo;
			if (tk.n == 3 && (!parse_time(tk.t[2], &r->lat_hi) || r->lat_hi < r->lat_lo))
			{
				*err = "expected: latency MIN MAX with MIN <= MAX";
				return false;
			}
			return true;
		}
		if (strcmp(w, "bug") == 0)
		{
			if (tk.n != 2 || !zz_sim_bug_parse(tk.t[1], &r->bug_replica, &r->bug_client))
			{
				*err = "expected: bug NAME (unsafe-new-view, cc-any-view, max-cc-by-seq, "
					"client-complete-on-2f, new-view-lowest-cc, pom-any-seq, "
					"fill-hole-no-verify, state-reply-no-cert, accept-bad-history, skip-dedup, "
					"cc-dup-signer, cc-any-signed-view, new-view-lowest-cp, keep-own-new-view, "
					"lc-any-view)";
				return false;
			}
			snprintf(r->res->bug, sizeof(r->res->bug), "%s", tk.t[1]);
			return true;
		}
		if (strcmp(w, "seed") == 0)
		{
			if (tk.n != 2 || !parse_u64(tk.t[1], &r->seed))
			{
				*err = "expected: seed N";
				return false;
			}
			return true;
		}
		if (tk.n != 1)
		{
			*err = "real-crypto takes nothing";
			return false;
		}
		r->real_crypto = true;
		return true;
	}

	r->timeline = true;
	if (strcmp(w, "at") == 0 || strcmp(w, "run") == 0)
	{
		c.kind = w[0] == 'a' ? SC_AT : SC_RUN;
		if (tk.n != 2 || !parse_time(tk.t[1], &c.time))
		{
			*err = "expected: at TIME | run DURATION (with us, ms or s)";
			return false;
		}
	}
	else if (strcmp(w, "wait") == 0 || strcmp(w, "await") == 0)
	{
		c.kind = SC_WAIT;
		c.reverse = w[0] == 'a';	/* await: go on at the deadline regardless */
		c.within = SC_WAIT_DEFAULT;
		if (tk.n >= 3 && strcmp(tk.t[tk.n - 2], "within") == 0)
		{
			if (!parse_time(tk.t[tk.n - 1], &c.within))
			{
				*err = "expected a duration after within";
				return false;
			}
			tk.n -= 2;
		}
		if (!parse_cond(r, &tk, 1, &c.cond, err))
			return false;
		if (c.cond.kind == X_SAFE)
		{
			*err = "wait safe means nothing; use expect safe";
			return false;
		}
	}
	else if (strcmp(w, "submit") == 0)
	{
		char		op[SC_MAX_LINE] = "";
		size_t		o = 0;

		c.kind = SC_SUBMIT;
		if (tk.n < 3 || !parse_node(r, tk.t[1], false, &c.node))
		{
			*err = "expected: submit C<i> OPERATION";
			return false;
		}
		for (int k = 2; k < tk.n; k++)
			o += snprintf(op + o, sizeof(op) - o, "%s%s", k > 2 ? " " : "", tk.t[k]);
		c.op = strdup(op);
		if (c.op == NULL)
			abort();
	}
	else if (strcmp(w, "crash") == 0 || strcmp(w, "restart") == 0)
	{
		c.kind = w[0] == 'c' ? SC_CRASH : SC_RESTART;
		c.amnesia = c.kind == SC_RESTART && tk.n == 3 &&
			strcmp(tk.t[2], "from-checkpoint") == 0;
		if (tk.n != (c.amnesia ? 3 : 2) || !parse_node(r, tk.t[1], true, &c.node))
		{
			*err = "expected: crash R<i> | restart R<i> [from-checkpoint]";
			return false;
		}
	}
	else if (strcmp(w, "byzantine") == 0)
	{
		c.kind = SC_BYZANTINE;
		if (!parse_byzantine(r, &tk, &c, err))
			return false;
	}
	else if (strcmp(w, "faulty") == 0)
	{
		c.kind = SC_FAULTY;
		if (tk.n < 3 || !parse_node(r, tk.t[1], false, &c.node))
		{
			*err = "expected: faulty C<i> never-commit|reuse-timestamp|bad-cc ...";
			return false;
		}
		for (int k = 2; k < tk.n; k++)
		{
			if (strcmp(tk.t[k], "never-commit") == 0)
				c.client_bugs |= ZZ_CLIENT_BUG_NEVER_COMMIT;
			else if (strcmp(tk.t[k], "reuse-timestamp") == 0)
				c.client_bugs |= ZZ_CLIENT_BUG_REUSE_TIMESTAMP;
			else if (strcmp(tk.t[k], "bad-cc") == 0)
				c.client_bugs |= ZZ_CLIENT_BUG_BAD_CC;
			else
			{
				*err = "a faulty client is never-commit, reuse-timestamp or bad-cc";
				return false;
			}
		}
	}
	else if (strcmp(w, "never") == 0)
	{
		c.kind = SC_NEVER;
		if (tk.n < 4 || strcmp(tk.t[tk.n - 2], "for") != 0 ||
			!parse_time(tk.t[tk.n - 1], &c.time))
		{
			*err = "expected: never CONDITION for DURATION";
			return false;
		}
		tk.n -= 2;
		if (!parse_cond(r, &tk, 1, &c.cond, err))
			return false;
		if (c.cond.kind == X_SAFE || c.cond.kind == X_VIOLATION)
		{
			*err = "never safe / never violation: use expect";
			return false;
		}
	}
	else if (strcmp(w, "replay") == 0)
	{
		int			i = 2;

		c.kind = SC_REPLAY;
		c.num = 1;
		if (tk.n < 2 || !known_rule(r, tk.t[1]))
		{
			*err = "expected: replay NAME [to NODES] [times K] (NAME from an earlier "
				"copy or hold ... as NAME)";
			return false;
		}
		snprintf(c.name, sizeof(c.name), "%s", tk.t[1]);
		while (i < tk.n)
		{
			if (i + 1 < tk.n && strcmp(tk.t[i], "to") == 0 && parse_nodes(r, tk.t[i + 1], &c.to) &&
				c.to != 0)
				i += 2;
			else if (i + 1 < tk.n && strcmp(tk.t[i], "times") == 0 &&
					 parse_u64(tk.t[i + 1], &c.num) && c.num >= 1 && c.num <= 100)
				i += 2;
			else
			{
				*err = "expected: replay NAME [to NODES] [times 1..100]";
				return false;
			}
		}
	}
	else if (strcmp(w, "inject") == 0)
	{
		c.kind = SC_INJECT;
		c.num = strcmp(tk.n > 2 ? tk.t[2] : "", "VIEW-CHANGE") == 0;
		if (tk.n < 5 || !parse_node(r, tk.t[1], true, &c.node) ||
			(strcmp(tk.t[2], "I-HATE") != 0 && strcmp(tk.t[2], "I-HATE-THE-PRIMARY") != 0 &&
			 !c.num) ||
			strcmp(tk.t[3], "view") != 0 || !parse_u64(tk.t[4], &c.view) ||
			(tk.n != 5 && (tk.n != 7 || strcmp(tk.t[5], "to") != 0 ||
						   !parse_nodes(r, tk.t[6], &c.to) || c.to == 0 ||
						   (c.to >> (3 * r->f + 1)) != 0)))
		{
			*err = "expected: inject R<i> I-HATE|VIEW-CHANGE view V [to REPLICAS]";
			return false;
		}
	}
	else if (strcmp(w, "drop") == 0 || strcmp(w, "hold") == 0 || strcmp(w, "delay") == 0 ||
			 strcmp(w, "duplicate") == 0 || strcmp(w, "copy") == 0)
	{
		int			i = 1;

		c.kind = SC_RULE;
		c.rule = strcmp(w, "drop") == 0 ? RULE_DROP : strcmp(w, "delay") == 0 ? RULE_DELAY :
			strcmp(w, "hold") == 0 ? RULE_HOLD : strcmp(w, "copy") == 0 ? RULE_COPY :
			RULE_DUPLICATE;
		if (!parse_sel(r, &tk, &i, &c.sel, err))
			return false;
		if (c.rule == RULE_DELAY)
		{
			if (i + 1 >= tk.n || strcmp(tk.t[i], "by") != 0 || !parse_time(tk.t[i + 1], &c.time))
			{
				*err = "expected: delay SELECTOR by DURATION [as NAME]";
				return false;
			}
			i += 2;
		}
		if (i < tk.n)
		{
			if (i + 2 != tk.n || strcmp(tk.t[i], "as") != 0 ||
				strlen(tk.t[i + 1]) >= SC_NAME_LEN)
			{
				*err = "unexpected words after the selector (only: as NAME)";
				return false;
			}
			if (known_rule(r, tk.t[i + 1]))
			{
				*err = "a rule by that name exists already";
				return false;
			}
			snprintf(c.name, sizeof(c.name), "%s", tk.t[i + 1]);
			if (r->nnames < 64)
				snprintf(r->names[r->nnames++], SC_NAME_LEN, "%s", c.name);
		}
		else if (c.rule == RULE_COPY)
		{
			*err = "copy needs a name to replay: copy SELECTOR as NAME";
			return false;
		}
	}
	else if (strcmp(w, "snapshot") == 0)
	{
		c.kind = SC_SNAPSHOT;
		if (tk.n != 1)
		{
			*err = "snapshot takes nothing";
			return false;
		}
	}
	else if ((strcmp(w, "release") == 0 || strcmp(w, "end") == 0) && tk.n == 2 &&
			 strcmp(tk.t[1], "all") == 0)
	{
		c.kind = SC_END_ALL;
		c.reverse = w[0] == 'r';	/* release all: deliver what holds kept */
	}
	else if (strcmp(w, "release") == 0 || strcmp(w, "deliver") == 0 || strcmp(w, "end") == 0)
	{
		c.kind = w[0] == 'r' ? SC_RELEASE : w[0] == 'd' ? SC_DELIVER : SC_END;
		if (tk.n < 2 || tk.n > 3 || !known_rule(r, tk.t[1]) ||
			(tk.n == 3 && (c.kind == SC_END || strcmp(tk.t[2], "reverse") != 0)))
		{
			*err = "expected: release|deliver NAME [reverse], end NAME (NAME from "
				"an earlier 'as NAME')";
			return false;
		}
		snprintf(c.name, sizeof(c.name), "%s", tk.t[1]);
		c.reverse = tk.n == 3;
	}
	else if (strcmp(w, "expect") == 0)
	{
		c.kind = SC_EXPECT;
		if (!parse_cond(r, &tk, 1, &c.cond, err))
			return false;
	}
	else
	{
		*err = "unknown directive";
		return false;
	}
	if (r->ncmds == r->cap)
	{
		r->cap = r->cap ? 2 * r->cap : 64;
		r->cmds = realloc(r->cmds, r->cap * sizeof(sc_cmd));
		if (r->cmds == NULL)
			abort();
	}
	r->cmds[r->ncmds++] = c;
	if (only == 2)
		r->res->has_unsafe_lines = true;
	return true;
}

static bool
parse_text(sc_run *r, const char *text)
{
	const char *p = text;
	int			lineno = 0;

	while (*p != '\0')
	{
		const char *nl = strchr(p, '\n');
		size_t		len = nl ? (size_t) (nl - p) : strlen(p);
		char		line[SC_MAX_LINE];
		const char *err = NULL;

		lineno++;
		if (len >= sizeof(line))
		{
			fail(r, ZZ_SCENARIO_ERROR, lineno, "line too long");
			return false;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		if (!parse_line(r, line, lineno, &err))
		{
			fail(r, ZZ_SCENARIO_ERROR, lineno, "%s: %s", err, line);
			return false;
		}
		p += len + (nl ? 1 : 0);
	}
	return true;
}

/* ------------------------------------------------------- the network */

/* What a selector needs to know about a message. */
typedef struct sc_msg
{
	zz_msg_type type;
	bool		has_view;
	zz_view		view;
	bool		has_seq;
	zz_seq		seq;
	zz_seq		seq_hi;			/* FILL-HOLE: a range */
} sc_msg;

static void
msg_fields(const uint8_t *buf, size_t len, sc_msg *m)
{
	memset(m, 0, sizeof(*m));
	if (zz_msg_peek_type(buf, len, &m->type) != ZZ_OK)
		return;
	switch (m->type)
	{
		case ZZ_MSG_ORDER_REQ:
			{
				zz_order_req o;

				if (zz_decode_order_req(buf, len, &o) == ZZ_OK)
				{
					m->has_view = m->has_seq = true;
					m->view = o.hdr.view;
					m->seq = o.hdr.seq;
					zz_order_req_release(&o);
				}
				break;
			}
		case ZZ_MSG_SPEC_RESPONSE:
			{
				zz_spec_response o;

				if (zz_decode_spec_response(buf, len, &o) == ZZ_OK)
				{
					m->has_view = m->has_seq = true;
					m->view = o.view;
					m->seq = o.seq;
				}
				break;
			}
		case ZZ_MSG_COMMIT:
			{
				zz_commit	o;

				if (zz_decode_commit(buf, len, &o) == ZZ_OK)
				{
					m->has_view = m->has_seq = true;
					m->view = o.cc.view;
					m->seq = o.cc.seq;
				}
				break;
			}
		case ZZ_MSG_LOCAL_COMMIT:
			{
				zz_local_commit o;

				if (zz_decode_local_commit(buf, len, &o) == ZZ_OK)
				{
					m->has_view = m->has_seq = true;
					m->view = o.view;
					m->seq = o.seq;
				}
				break;
			}
		case ZZ_MSG_CONFIRM_REQ:
			{
				zz_confirm_req o;

				if (zz_decode_confirm_req(buf, len, &o) == ZZ_OK)
				{
					m->has_view = true;
					m->view = o.view;
				}
				break;
			}
		case ZZ_MSG_FILL_HOLE:
			{
				zz_fill_hole o;

				if (zz_decode_fill_hole(buf, len, &o) == ZZ_OK)
				{
					m->has_view = m->has_seq = true;
					m->view = o.view;
					m->seq = o.from_seq;
					m->seq_hi = o.to_seq;
				}
				break;
			}
		case ZZ_MSG_POM:
			{
				zz_pom		o;

				if (zz_decode_pom(buf, len, &o) == ZZ_OK)
				{
					m->has_view = m->has_seq = true;
					m->view = o.a.view;
					m->seq = o.a.seq;
				}
				break;
			}
		case ZZ_MSG_I_HATE_THE_PRIMARY:
			{
				zz_i_hate	o;

				if (zz_decode_i_hate(buf, len, &o) == ZZ_OK)
				{
					m->has_view = true;
					m->view = o.view;
				}
				break;
			}
		case ZZ_MSG_VIEW_CHANGE:
			{
				zz_view_change o;

				if (zz_decode_view_change(buf, len, &o) == ZZ_OK)
				{
					m->has_view = true;
					m->view = o.new_view;
					zz_view_change_release(&o);
				}
				break;
			}
		case ZZ_MSG_NEW_VIEW:
			{
				zz_new_view o;

				if (zz_decode_new_view(buf, len, &o) == ZZ_OK)
				{
					m->has_view = true;
					m->view = o.new_view;
					zz_new_view_release(&o);
				}
				break;
			}
		case ZZ_MSG_VIEW_CONFIRM:
			{
				zz_view_confirm o;

				if (zz_decode_view_confirm(buf, len, &o) == ZZ_OK)
				{
					m->has_view = m->has_seq = true;
					m->view = o.view;
					m->seq = o.seq;
				}
				break;
			}
		case ZZ_MSG_CHECKPOINT:
			{
				zz_checkpoint o;

				if (zz_decode_checkpoint(buf, len, &o) == ZZ_OK)
				{
					m->has_seq = true;
					m->seq = o.seq;
				}
				break;
			}
		case ZZ_MSG_STATE_REQUEST:
			{
				zz_state_request o;

				if (zz_decode_state_request(buf, len, &o) == ZZ_OK)
				{
					m->has_seq = true;
					m->seq = o.seq;
				}
				break;
			}
		case ZZ_MSG_STATE_REPLY:
			{
				zz_state_reply o;

				if (zz_decode_state_reply(buf, len, &o) == ZZ_OK)
				{
					m->has_seq = true;
					m->seq = o.cp.seq;
				}
				break;
			}
		case ZZ_MSG_REQUEST:
			break;
	}
	if (m->has_seq && m->seq_hi < m->seq)
		m->seq_hi = m->seq;
}

static bool
sel_match(const sc_sel *s, uint32_t from, uint32_t to, const sc_msg *m)
{
	if (!(s->types & (1u << m->type)))
		return false;
	if (s->from && !(s->from & (1u << from)))
		return false;
	if (s->to && !(s->to & (1u << to)))
		return false;
	if (s->has_view && (!m->has_view || m->view != s->view))
		return false;
	if (s->has_seq && (!m->has_seq || s->seq < m->seq || s->seq > m->seq_hi))
		return false;
	return true;
}

/*
 * The world asks about every message: the first active rule that matches
 * it decides (rules in the order they were made).
 */
static sim_fate
net_filter(void *ctx, uint32_t from, uint32_t to, const uint8_t *buf, size_t len,
		   zz_time *extra)
{
	sc_run	   *r = ctx;
	sc_msg		m;

	msg_fields(buf, len, &m);
	for (int k = 0; k < r->nrules; k++)
	{
		sc_rule    *ru = &r->rules[k];

		if (!ru->active || !sel_match(&ru->sel, from, to, &m))
			continue;
		switch (ru->kind)
		{
			case RULE_DROP:
				return SIM_DROP;
			case RULE_DELAY:
				*extra = ru->delay;
				return SIM_DELIVER;
			case RULE_DUPLICATE:
				sim_queue(r->sim, from, to, buf, len, r->lat_lo);
				return SIM_DELIVER;
			case RULE_COPY:
			case RULE_HOLD:
				if (ru->nheld == ru->cap)
				{
					ru->cap = ru->cap ? 2 * ru->cap : 16;
					ru->held = realloc(ru->held, ru->cap * sizeof(sc_held));
					if (ru->held == NULL)
						abort();
				}
				ru->held[ru->nheld].from = from;
				ru->held[ru->nheld].to = to;
				ru->held[ru->nheld].len = len;
				ru->held[ru->nheld].buf = malloc(len ? len : 1);
				if (ru->held[ru->nheld].buf == NULL)
					abort();
				memcpy(ru->held[ru->nheld].buf, buf, len);
				ru->nheld++;
				return ru->kind == RULE_COPY ? SIM_DELIVER : SIM_KEEP;
		}
	}
	return SIM_DELIVER;
}

static sc_rule *
find_rule(sc_run *r, const char *name)
{
	for (int k = 0; k < r->nrules; k++)
		if (r->rules[k].active && r->rules[k].name[0] && strcmp(r->rules[k].name, name) == 0)
			return &r->rules[k];
	return NULL;
}

/* Deliver (or discard) what a hold rule has kept. */
static void
flush_rule(sc_run *r, sc_rule *ru, bool deliver, bool reverse)
{
	for (size_t k = 0; k < ru->nheld; k++)
	{
		sc_held    *h = &ru->held[reverse ? ru->nheld - 1 - k : k];

		if (deliver)
			sim_queue(r->sim, h->from, h->to, h->buf, h->len, r->lat_lo);
		free(h->buf);
	}
	ru->nheld = 0;
}

/* -------------------------------------------------------- the world */

static void
on_complete(void *ctx, uint32_t client, const zz_completion *c)
{
	sc_run	   *r = ctx;
	sc_done    *d;

	if (r->ndone == r->done_cap)
	{
		r->done_cap = r->done_cap ? 2 * r->done_cap : 32;
		r->done = realloc(r->done, r->done_cap * sizeof(sc_done));
		if (r->done == NULL)
			abort();
	}
	d = &r->done[r->ndone++];
	d->client = client;
	d->ts = c->timestamp;
	d->view = c->view;
	d->seq = c->seq;
	d->path = c->path;
	snprintf(d->reply, sizeof(d->reply), "%.*s",
			 (int) (c->reply_len < sizeof(d->reply) - 1 ? c->reply_len : sizeof(d->reply) - 1),
			 (const char *) c->reply);
}

static bool
build_world(sc_run *r)
{
	zz_sim_config cfg;
	zz_params	p;

	zz_sim_config_default(&cfg, r->f);
	cfg.crypto = r->real_crypto ? ZZ_CRYPTO_REAL : ZZ_CRYPTO_SYMBOLIC;
	cfg.faults = false;
	cfg.primary_crash = false;
	cfg.clients = r->clients;
	if (r->opts->trace != NULL)
	{
		cfg.trace = sink;
		cfg.trace_ctx = r;
	}
	if (!zz_params_default(&p, r->f))
		return false;
	for (int k = 0; k < SC_NPARAMS; k++)
		if (r->param_set[k])
		{
			if (sc_params[k].is_u32)
				*(uint32_t *) ((char *) &p + sc_params[k].off) = (uint32_t) r->param_val[k];
			else
				*(zz_time *) ((char *) &p + sc_params[k].off) = r->param_val[k];
		}
	r->sim = sim_create(&cfg, r->seed, &r->simres);
	r->sim->lat_lo = r->lat_lo;
	r->sim->lat_hi = r->lat_hi;
	r->sim->filter = net_filter;
	r->sim->filter_ctx = r;
	r->sim->on_complete = on_complete;
	r->sim->complete_ctx = r;
	if (!sim_build(r->sim, &p, r->clients))
		return false;
	{
		unsigned	rb = r->opts->bugs,
					cb = r->opts->client_bugs;

		if (r->opts->unsafe_new_view)
		{
			rb |= r->bug_replica;
			cb |= r->bug_client;
		}
		for (uint32_t i = 0; i < r->sim->n && rb; i++)
			zz_replica_set_bugs(r->sim->nodes[i].replica, rb);
		for (uint32_t i = 0; i < r->sim->k && cb; i++)
			zz_client_set_bugs(r->sim->nodes[r->sim->n + i].client, cb);
		r->replica_bugs = rb;
		script_trace(r, "f=%u n=%u clients=%u batch_max=%u cp_interval=%u latency=%llu..%lluus "
					 "planted bug: %s (replica bugs %#x, client bugs %#x)", r->f, r->sim->n,
					 r->clients, p.batch_max, p.cp_interval, (unsigned long long) r->lat_lo,
					 (unsigned long long) r->lat_hi,
					 r->opts->unsafe_new_view ? r->res->bug : "none", rb, cb);
	}
	return true;
}

/*
 * After every step: note the new history of each view a replica has just
 * entered (its log when first seen in that view in normal mode).
 */
static void
after_step(sc_run *r)
{
	zz_sim	   *s = r->sim;

	for (uint32_t i = 0; i < s->n; i++)
	{
		zz_replica *rp = s->nodes[i].replica;
		sc_gsnap   *g;

		if (rp->mode != ZZ_MODE_NORMAL || rp->view == 0 || rp->view >= SC_MAX_VIEWS ||
			r->g[i][rp->view].taken)
			continue;
		g = &r->g[i][rp->view];
		g->taken = true;
		g->start = rp->stable_seq;
		g->end = rp->max_seq;
		for (zz_seq q = g->start + 1; q <= g->end && q - g->start - 1 < SC_G_ENTRIES; q++)
		{
			zz_entry   *e = zz_entry_at(rp, q);

			if (e != NULL && e->order->hdr.count > 0)
			{
				g->client[q - g->start - 1] = e->order->reqs[0].client;
				g->ts[q - g->start - 1] = e->order->reqs[0].timestamp;
			}
		}
	}
}

/* FNV-1a over a value. */
static uint64_t
mix(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/*
 * The explorer's view of the world now: a hash of what matters for what
 * can happen next (each replica's view, mode, log position and history,
 * max CC, stable checkpoint; each client's completions and whether it
 * waits; what hold rules keep), not of timing; and a score of what is
 * left unsettled: certificates held back, replicas keeping a certificate
 * of an older view, correct replicas on different histories, rolled-back
 * work.  The explorer extends unsettled worlds first.
 */
static void
snapshot(sc_run *r)
{
	zz_sim	   *s = r->sim;
	uint64_t	h = 0xcbf29ce484222325ULL;
	uint32_t	score = 0;
	zz_digest	hist[ZZ_MAX_N];
	uint32_t	nhist = 0;

	for (uint32_t i = 0; i < s->n; i++)
	{
		const zz_replica *rp = s->nodes[i].replica;
		uint64_t	v[8];

		v[0] = rp->view;
		v[1] = rp->mode;
		v[2] = rp->last_executed;
		v[3] = rp->max_seq;
		v[4] = rp->has_cc;
		v[5] = rp->has_cc ? rp->max_cc.view : 0;
		v[6] = rp->has_cc ? rp->max_cc.seq : 0;
		v[7] = rp->stable_seq;
		h = mix(h, v, sizeof(v));
		h = mix(h, rp->exec_history.b, 8);
		if (s->nodes[i].forger != NULL)
		{
			/* certificates of several views to choose its lies from */
			uint64_t	cv = zz_forger_cc_views(s->nodes[i].forger);

			h = mix(h, &cv, sizeof(cv));
			if (__builtin_popcountll(cv) > 1)
				score += 3 * (uint32_t) (__builtin_popcountll(cv) - 1);
		}
		if (s->nodes[i].byzantine)
			continue;
		if (rp->has_cc && rp->max_cc.view < rp->view)
			score += 2;
		{
			bool		seen = false;

			for (uint32_t k = 0; k < nhist; k++)
				seen |= zz_digest_eq(&hist[k], &rp->exec_history);
			if (!seen)
				hist[nhist++] = rp->exec_history;
		}
		if (zz_replica_get_stats(rp)->rollbacks > 0)
			score++;
		/* a view change it has not finished */
		if (rp->mode == ZZ_MODE_VIEW_CHANGE)
			score++;
		/* a LOCAL-COMMIT a client holds for a history it no longer has */
		if (s->nodes[i].lc_seq > rp->stable_seq &&
			!zz_log_holds(s->nodes[i].replica, s->nodes[i].lc_seq, &s->nodes[i].lc_history))
			score += 3;
		/* ... or for a request not complete yet: a completion on its way */
		else if (s->nodes[i].lc_seq > 0 && s->nodes[i].lc_client < s->k &&
				 zz_client_busy(s->nodes[s->n + s->nodes[i].lc_client].client) &&
				 s->nodes[s->n + s->nodes[i].lc_client].submitted == s->nodes[i].lc_ts)
			score += 2;
	}
	score += nhist > 1 ? nhist - 1 : 0;
	for (uint32_t i = 0; i < s->k; i++)
	{
		uint64_t	v[2];

		v[0] = zz_client_get_stats(s->nodes[s->n + i].client)->completed_fast +
			zz_client_get_stats(s->nodes[s->n + i].client)->completed_commit;
		v[1] = zz_client_busy(s->nodes[s->n + i].client);
		h = mix(h, v, sizeof(v));
	}
	for (int k = 0; k < r->nrules; k++)
	{
		uint64_t	v = r->rules[k].active ? r->rules[k].nheld : UINT64_MAX;

		h = mix(h, &v, sizeof(v));
		if (r->rules[k].active && r->rules[k].kind == RULE_HOLD && r->rules[k].nheld > 0)
			score += 3;
	}
	r->res->snapped = true;
	r->res->snap_hash = h;
	r->res->snap_score = score;
	script_trace(r, "(world %016llx, score %u)", (unsigned long long) h, score);
}

/* One step of the world, due by limit; false if none is. */
static bool
step(sc_run *r, zz_time limit)
{
	if (!sim_step(r->sim, limit))
		return false;
	after_step(r);
	return true;
}

/*
 * Run the world until time t (every step due by then), and stop there.
 * With a never-condition running, stop early (false) if it holds.
 */
static bool
advance(sc_run *r, zz_time t)
{
	char		why[400];

	while (step(r, t))
		if (r->never != NULL && holds(r, r->never, why, sizeof(why)))
			return false;
	if (t > r->sim->now)
		r->sim->now = t;
	return true;
}

static bool
compare(uint64_t a, sc_cmp c, uint64_t b)
{
	switch (c)
	{
		case CMP_EQ:
			return a == b;
		case CMP_NE:
			return a != b;
		case CMP_GE:
			return a >= b;
		case CMP_LE:
			return a <= b;
		case CMP_GT:
			return a > b;
		case CMP_LT:
			return a < b;
	}
	return false;
}

static uint64_t
stat_value(sc_run *r, const sc_cond *c)
{
	uint64_t	sum = 0;
	zz_sim	   *s = r->sim;

	if (sc_stats[c->stat].replica)
	{
		for (uint32_t i = 0; i < s->n; i++)
			if (c->any_node || i == c->node)
				sum += *(const uint64_t *) ((const char *) zz_replica_get_stats(s->nodes[i].replica) +
											sc_stats[c->stat].off);
	}
	else
	{
		for (uint32_t i = 0; i < s->k; i++)
			if (c->any_node || i == c->node)
				sum += *(const uint64_t *) ((const char *) zz_client_get_stats(s->nodes[s->n + i].client) +
											sc_stats[c->stat].off);
	}
	return sum;
}

static const char *
mode_name(zz_replica_mode m)
{
	return m == ZZ_MODE_NORMAL ? "normal" : m == ZZ_MODE_VIEW_CHANGE ? "view-change" :
		"state-transfer";
}

/*
 * Does condition c hold now?  If not, why (for the failure message).
 */
static bool
holds(sc_run *r, const sc_cond *c, char *why, size_t cap)
{
	zz_sim	   *s = r->sim;
	zz_replica_status st;
	const sc_done *d = NULL;

	why[0] = '\0';
	if (c->kind == X_COMPLETE || c->kind == X_NOT_COMPLETE)
		for (int k = 0; k < r->ndone && d == NULL; k++)
			if (r->done[k].client == c->node && r->done[k].ts == c->ts)
				d = &r->done[k];
	if (c->kind == X_VIEW || c->kind == X_MODE || c->kind == X_EXECUTED || c->kind == X_STABLE ||
		c->kind == X_REPLICA)
		zz_replica_get_status(s->nodes[c->node].replica, &st);
	switch (c->kind)
	{
		case X_COMPLETE:
			if (d == NULL)
			{
				snprintf(why, cap, "C%u t=%llu has not completed", c->node,
						 (unsigned long long) c->ts);
				return false;
			}
			if ((c->has_seq && d->seq != c->seq) || (c->has_view && d->view != c->view) ||
				(c->has_path && d->path != c->path) ||
				(c->has_reply && strcmp(d->reply, c->reply) != 0))
			{
				snprintf(why, cap, "C%u t=%llu completed with seq=%llu view=%llu path=%s "
						 "reply=\"%s\"", c->node, (unsigned long long) c->ts,
						 (unsigned long long) d->seq, (unsigned long long) d->view,
						 d->path == ZZ_PATH_FAST ? "fast" : "commit", d->reply);
				return false;
			}
			return true;
		case X_NOT_COMPLETE:
			if (d != NULL)
			{
				snprintf(why, cap, "C%u t=%llu completed at seq %llu in view %llu", c->node,
						 (unsigned long long) c->ts, (unsigned long long) d->seq,
						 (unsigned long long) d->view);
				return false;
			}
			return true;
		case X_VIEW:
			snprintf(why, cap, "R%u is in view %llu", c->node, (unsigned long long) st.view);
			return compare(st.view, c->cmp, c->value);
		case X_EXECUTED:
			snprintf(why, cap, "R%u executed up to %llu", c->node,
					 (unsigned long long) st.last_executed);
			return compare(st.last_executed, c->cmp, c->value);
		case X_STABLE:
			snprintf(why, cap, "R%u's stable checkpoint is %llu", c->node,
					 (unsigned long long) st.stable_seq);
			return compare(st.stable_seq, c->cmp, c->value);
		case X_MODE:
			snprintf(why, cap, "R%u is in mode %s", c->node, mode_name(st.mode));
			return st.mode == c->mode;
		case X_STAT:
			{
				uint64_t	v = stat_value(r, c);

				snprintf(why, cap, "%s is %llu", sc_stats[c->stat].name, (unsigned long long) v);
				return compare(v, c->cmp, c->value);
			}
		case X_SAFE:
			if (zz_checker_violations(s->ck))
			{
				snprintf(why, cap, "%s", zz_checker_first(s->ck, NULL, NULL));
				return false;
			}
			return true;
		case X_VIOLATION:
			{
				unsigned	v = zz_checker_violations(s->ck);

				if (c->vkind ? (v & c->vkind) != 0 : v != 0)
					return true;
				snprintf(why, cap, "no %s violation was reported",
						 c->vkind ? zz_violation_name(c->vkind) : "safety");
				return false;
			}
		case X_MAX_CC:
			{
				const zz_replica *rp = s->nodes[c->node].replica;

				if (!rp->has_cc)
				{
					snprintf(why, cap, "R%u holds no commit certificate", c->node);
					return c->none;
				}
				snprintf(why, cap, "R%u's max CC is (view %llu, seq %llu)", c->node,
						 (unsigned long long) rp->max_cc.view,
						 (unsigned long long) rp->max_cc.seq);
				return !c->none && (!c->has_view || rp->max_cc.view == c->view) &&
					(!c->has_seq || rp->max_cc.seq == c->seq);
			}
		case X_REPLICA:
			snprintf(why, cap, "R%u is in view %llu, mode %s, executed up to %llu", c->node,
					 (unsigned long long) st.view, mode_name(st.mode),
					 (unsigned long long) st.last_executed);
			return (!c->has_view || st.view == c->view) &&
				(!c->has_mode || st.mode == c->mode) &&
				(!c->has_seq || st.last_executed == c->value);
		case X_NEW_HISTORY:
			{
				const sc_gsnap *g = &r->g[c->node][c->view];

				if (!g->taken)
				{
					snprintf(why, cap, "R%u has not entered view %llu", c->node,
							 (unsigned long long) c->view);
					return false;
				}
				if (c->has_end && g->end != c->end)
				{
					snprintf(why, cap, "R%u's new history of view %llu is (%llu, %llu]",
							 c->node, (unsigned long long) c->view,
							 (unsigned long long) g->start, (unsigned long long) g->end);
					return false;
				}
				for (int k = 0; k < c->ngent; k++)
				{
					const sc_gent *ge = &c->gent[k];
					zz_seq		i = ge->seq - g->start - 1;

					if (ge->seq <= g->start || ge->seq > g->end || i >= SC_G_ENTRIES ||
						g->client[i] != ge->client || g->ts[i] != ge->ts)
					{
						if (ge->seq > g->start && ge->seq <= g->end && i < SC_G_ENTRIES)
							snprintf(why, cap, "R%u's new history of view %llu holds C%u t=%llu "
									 "at %llu", c->node, (unsigned long long) c->view,
									 g->client[i], (unsigned long long) g->ts[i],
									 (unsigned long long) ge->seq);
						else
							snprintf(why, cap, "R%u's new history of view %llu is (%llu, %llu]",
									 c->node, (unsigned long long) c->view,
									 (unsigned long long) g->start,
									 (unsigned long long) g->end);
						return false;
					}
				}
				return true;
			}
		case X_ALL_COMPLETE:
			for (uint32_t i = 0; i < s->k; i++)
				if (!s->nodes[s->n + i].client_faulty &&
					zz_client_busy(s->nodes[s->n + i].client))
				{
					snprintf(why, cap, "C%u still has a request outstanding", i);
					return false;
				}
			return true;
	}
	return false;
}

/* Run one command; false stops the scenario (the failure is recorded). */
static bool
run_cmd(sc_run *r, const sc_cmd *c)
{
	zz_sim	   *s = r->sim;
	char		why[400];

	r->cur = c;
	script_trace(r, "%s", c->text);
	switch (c->kind)
	{
		case SC_F:
		case SC_CLIENTS:
		case SC_PARAM:
		case SC_LATENCY:
		case SC_SEED:
		case SC_REAL_CRYPTO:
			break;
		case SC_AT:
			if (c->time < s->now)
			{
				fail(r, ZZ_SCENARIO_FAIL, c->line, "at %.6fs is in the past (now %.6fs)",
					 c->time / 1e6, s->now / 1e6);
				return false;
			}
			(void) advance(r, c->time);
			break;
		case SC_RUN:
			(void) advance(r, s->now + c->time);
			break;
		case SC_WAIT:
			{
				zz_time		deadline = s->now + c->within;

				while (!holds(r, &c->cond, why, sizeof(why)))
				{
					if (!step(r, deadline))
					{
						s->now = deadline;
						if (holds(r, &c->cond, why, sizeof(why)))
							break;
						if (c->reverse)
						{
							script_trace(r, "(not within %.3f ms: %s; going on)",
										 c->within / 1e3, why);
							return true;
						}
						fail(r, ZZ_SCENARIO_FAIL, c->line, "%s: not within %.3f ms: %s",
							 c->text, c->within / 1e3, why);
						return false;
					}
				}
				script_trace(r, "(waited until %.6fs)", s->now / 1e6);
				break;
			}
		case SC_SUBMIT:
			{
				uint64_t	ts = sim_submit(s, c->node, c->op);

				if (ts == 0)
				{
					fail(r, ZZ_SCENARIO_FAIL, c->line,
						 "C%u cannot submit: it still has a request outstanding", c->node);
					return false;
				}
				break;
			}
		case SC_CRASH:
			sim_crash(s, c->node);
			break;
		case SC_RESTART:
			sim_restart(s, c->node, c->amnesia);
			break;
		case SC_BYZANTINE:
			sim_make_byzantine(s, c->node, &c->fc, c->lie_ppm);

			/*
			 * A faulty replica keeps its own (shipped) code, except a
			 * consistent liar: it computes what its lie makes the
			 * correct replicas compute, planted bug included.
			 */
			zz_replica_set_bugs(s->nodes[c->node].replica,
								c->fc.vc_consistent ? r->replica_bugs : 0);
			break;
		case SC_FAULTY:
			sim_make_faulty_client(s, c->node, c->client_bugs);
			break;
		case SC_RULE:
			{
				sc_rule    *ru;

				r->rules = realloc(r->rules, (r->nrules + 1) * sizeof(sc_rule));
				if (r->rules == NULL)
					abort();
				ru = &r->rules[r->nrules++];
				memset(ru, 0, sizeof(*ru));
				ru->kind = c->rule;
				ru->sel = c->sel;
				ru->delay = c->time;
				ru->active = true;
				snprintf(ru->name, sizeof(ru->name), "%s", c->name);
				break;
			}
		case SC_RELEASE:
		case SC_DELIVER:
		case SC_END:
			{
				sc_rule    *ru = find_rule(r, c->name);

				if (ru == NULL)
				{
					fail(r, ZZ_SCENARIO_FAIL, c->line, "no active rule named %s", c->name);
					return false;
				}
				script_trace(r, "(%zu message%s held by %s %s)", ru->nheld,
							 ru->nheld == 1 ? "" : "s", c->name,
							 c->kind == SC_END ? "discarded" : "delivered");
				flush_rule(r, ru, c->kind != SC_END, c->reverse);
				if (c->kind != SC_DELIVER)
					ru->active = false;
				break;
			}
		case SC_NEVER:
			r->res->expectations++;
			if (holds(r, &c->cond, why, sizeof(why)))
			{
				fail(r, ZZ_SCENARIO_FAIL, c->line, "%s: holds at the start", c->text);
				return false;
			}
			r->never = &c->cond;
			if (!advance(r, s->now + c->time))
			{
				r->never = NULL;
				fail(r, ZZ_SCENARIO_FAIL, c->line, "%s: it held at %.6fs", c->text,
					 s->now / 1e6);
				return false;
			}
			r->never = NULL;
			script_trace(r, "(never held)");
			break;
		case SC_REPLAY:
			{
				sc_rule    *ru = find_rule(r, c->name);
				size_t		sent = 0;

				if (ru == NULL)
				{
					fail(r, ZZ_SCENARIO_FAIL, c->line, "no active rule named %s", c->name);
					return false;
				}
				for (uint64_t t = 0; t < c->num; t++)
					for (size_t k = 0; k < ru->nheld; k++)
					{
						const sc_held *h = &ru->held[k];

						if (c->to == 0)
						{
							sim_queue(s, h->from, h->to, h->buf, h->len, r->lat_lo);
							sent++;
						}
						else
							for (uint32_t to = 0; to < s->n + s->k; to++)
								if ((c->to & (1u << to)) && to != h->from)
								{
									sim_queue(s, h->from, to, h->buf, h->len, r->lat_lo);
									sent++;
								}
					}
				script_trace(r, "(%zu cop%s of %zu kept by %s sent again)", sent,
							 sent == 1 ? "y" : "ies", ru->nheld, c->name);
				break;
			}
		case SC_INJECT:
			{
				sim_node   *nd = &s->nodes[c->node];
				zz_i_hate	ih;
				zz_buf		b;

				if (!nd->byzantine)
				{
					fail(r, ZZ_SCENARIO_FAIL, c->line,
						 "R%u is not Byzantine: a correct replica says only what it means",
						 c->node);
					return false;
				}
				zz_buf_init(&b);
				if (c->num)
				{
					if (!zz_forger_view_change_for(nd->forger, c->view, &b))
					{
						zz_buf_free(&b);
						fail(r, ZZ_SCENARIO_FAIL, c->line,
							 "R%u has sent no VIEW-CHANGE to build one from", c->node);
						return false;
					}
				}
				else
				{
					memset(&ih, 0, sizeof(ih));
					ih.view = c->view;
					ih.replica = c->node;
					zz_i_hate_signing_bytes(&b, ih.view, ih.replica);
					zz_sign(nd->crypto, b.data, b.len, &ih.sig);
					zz_buf_reset(&b);
					zz_encode_i_hate(&b, &ih);
				}
				for (uint32_t to = 0; to < s->n; to++)
					if (to != c->node && (c->to == 0 || (c->to & (1u << to))))
						sim_queue(s, c->node, to, b.data, b.len, r->lat_lo);
				zz_buf_free(&b);
				break;
			}
		case SC_SNAPSHOT:
			snapshot(r);
			break;
		case SC_END_ALL:
			for (int k = 0; k < r->nrules; k++)
				if (r->rules[k].active)
				{
					flush_rule(r, &r->rules[k], c->reverse, false);
					r->rules[k].active = false;
				}
			break;
		case SC_EXPECT:
			r->res->expectations++;
			if (!holds(r, &c->cond, why, sizeof(why)))
			{
				fail(r, ZZ_SCENARIO_FAIL, c->line, "%s: %s", c->text, why);
				return false;
			}
			if (c->cond.kind == X_VIOLATION)
				r->violation_expected = true;
			script_trace(r, "(holds)");
			break;
	}
	return true;
}

static void
free_run(sc_run *r)
{
	for (int k = 0; k < r->ncmds; k++)
		free(r->cmds[k].op);
	free(r->cmds);
	for (int k = 0; k < r->nrules; k++)
	{
		flush_rule(r, &r->rules[k], false, false);
		free(r->rules[k].held);
	}
	free(r->rules);
	free(r->done);
	if (r->sim)
		sim_destroy(r->sim);
}

zz_scenario_status
zz_scenario_run_text(const char *name, const char *text, const zz_scenario_opts *opts,
					 zz_scenario_result *res)
{
	sc_run		r;
	zz_scenario_opts none;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	if (opts == NULL)
	{
		memset(&none, 0, sizeof(none));
		opts = &none;
	}
	r.name = name;
	r.opts = opts;
	r.res = res;
	r.f = 1;
	r.clients = 2;
	r.lat_lo = r.lat_hi = 100;
	r.seed = 1;
	r.bug_replica = ZZ_BUG_UNSAFE_NEW_VIEW;
	snprintf(res->bug, sizeof(res->bug), "unsafe-new-view");
	if (!parse_text(&r, text))
	{
		free_run(&r);
		return res->status;
	}
	if (!build_world(&r))
	{
		fail(&r, ZZ_SCENARIO_ERROR, 0, "cannot build the cluster");
		free_run(&r);
		return res->status;
	}
	for (int k = 0; k < r.ncmds; k++)
	{
		const sc_cmd *c = &r.cmds[k];

		if ((c->only == 1 && opts->unsafe_new_view) || (c->only == 2 && !opts->unsafe_new_view))
			continue;
		if (!run_cmd(&r, c))
			break;
	}
	if (res->status == ZZ_SCENARIO_PASS)
	{
		zz_checker_check_witnesses(r.sim->ck);
		if (zz_checker_violations(r.sim->ck) && !r.violation_expected)
			fail(&r, ZZ_SCENARIO_FAIL, 0, "violation: %s",
				 zz_checker_first(r.sim->ck, NULL, NULL));
	}
	sim_collect_stats(r.sim);
	res->stats = r.simres.stats;
	res->violations = zz_checker_violations(r.sim->ck);
	snprintf(res->first_violation, sizeof(res->first_violation), "%s",
			 zz_checker_first(r.sim->ck, NULL, NULL));
	script_trace(&r, "%s: %s", res->status == ZZ_SCENARIO_PASS ? "PASS" : "FAIL",
				 res->status == ZZ_SCENARIO_PASS ? "every expectation held" : res->message);
	free_run(&r);
	return res->status;
}

zz_scenario_status
zz_scenario_run_file(const char *path, const zz_scenario_opts *opts, zz_scenario_result *res)
{
	FILE	   *fp = fopen(path, "r");
	char	   *text = NULL;
	size_t		len = 0,
				cap = 0;
	zz_scenario_status st;

	if (fp == NULL)
	{
		memset(res, 0, sizeof(*res));
		res->status = ZZ_SCENARIO_ERROR;
		snprintf(res->message, sizeof(res->message), "%s: cannot open: %s", path,
				 strerror(errno));
		return res->status;
	}
	for (;;)
	{
		size_t		got;

		if (len + 4096 + 1 > cap)
		{
			cap = cap ? 2 * cap : 8192;
			text = realloc(text, cap);
			if (text == NULL)
				abort();
		}
		got = fread(text + len, 1, cap - len - 1, fp);
		len += got;
		if (got == 0)
			break;
	}
	fclose(fp);
	text[len] = '\0';
	st = zz_scenario_run_text(path, text, opts, res);
	free(text);
	return st;
}
