/*
 * scenario_parse.c
 *	  The scenario interpreter's first pass (scenario_int.h; the format is
 *	  in SCENARIOS.md): each line of the text becomes one sc_cmd, with
 *	  everything checked that can be checked without running (names,
 *	  numbers, node ranges, rule names); any mistake stops there with
 *	  file:line.  scenario.c runs the commands.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario_int.h"

/* The zz_params fields a scenario may set. */
const sc_param_def sc_params[] = {
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
	{"retain_batches", offsetof(zz_params, retain_batches), false, true},
	{"retain_bytes", offsetof(zz_params, retain_bytes), false, false},
};

_Static_assert(sizeof(sc_params) / sizeof(sc_params[0]) == SC_NPARAMS,
			   "SC_NPARAMS (scenario_int.h) counts sc_params");

/* Statistics expect stat can read: replica counters, then client counters. */
const sc_stat_def sc_stats[] = {
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
	{"catchup_runs", true, offsetof(zz_replica_stats, catchup_runs)},
	{"catchup_batches", true, offsetof(zz_replica_stats, catchup_batches)},
	{"catchup_refusals", true, offsetof(zz_replica_stats, catchup_refusals)},
	{"catchup_served", true, offsetof(zz_replica_stats, catchup_served)},
	{"submitted", false, offsetof(zz_client_stats, submitted)},
	{"completed_fast", false, offsetof(zz_client_stats, completed_fast)},
	{"completed_commit", false, offsetof(zz_client_stats, completed_commit)},
	{"retransmissions", false, offsetof(zz_client_stats, retransmissions)},
	{"commits_sent", false, offsetof(zz_client_stats, commits_sent)},
	{"poms_sent", false, offsetof(zz_client_stats, poms_sent)},
	{"client_rejected", false, offsetof(zz_client_stats, rejected)},
};

_Static_assert(sizeof(sc_stats) / sizeof(sc_stats[0]) == SC_NSTATS,
			   "SC_NSTATS (scenario_int.h) counts sc_stats");

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

/* A replica's mode: normal, view-change or state-transfer. */
static bool
parse_mode(const char *s, zz_replica_mode *mode)
{
	static const struct
	{
		const char *name;
		zz_replica_mode mode;
	}			modes[] = {
		{"normal", ZZ_MODE_NORMAL},
		{"view-change", ZZ_MODE_VIEW_CHANGE},
		{"state-transfer", ZZ_MODE_STATE_TRANSFER},
	};

	for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
		if (strcmp(s, modes[k].name) == 0)
		{
			*mode = modes[k].mode;
			return true;
		}
	return false;
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
		if (!parse_mode(m, &c->mode))
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
				if (!parse_mode(v, &c->mode))
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

#define BYZANTINE_BEHAVIOURS \
	"(honest, equivocate, silent, slow, omit, delay, " \
	"replay, lie-replies, lie-checkpoints, hide, pom-any-seq, forge-order-req, " \
	"lie-state, new-view-to, local-commit-any, consistent)"

/*
 * The behaviour of a faulty replica that is one word turning one switch on
 * (SCENARIOS.md): that switch in *fc, or NULL when w is not one of them.
 */
static bool *
byzantine_flag(zz_forge_config *fc, const char *w)
{
	static const struct
	{
		const char *name;
		size_t		offset;
	}			flags[] = {
		{"lie-checkpoints", offsetof(zz_forge_config, lie_checkpoints)},
		{"pom-any-seq", offsetof(zz_forge_config, pom_any_seq)},
		{"lie-state", offsetof(zz_forge_config, state_lie)},
		{"local-commit-any", offsetof(zz_forge_config, lc_any)},
		{"consistent", offsetof(zz_forge_config, vc_consistent)},
	};

	for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
		if (strcmp(w, flags[k].name) == 0)
			return (bool *) ((char *) fc + flags[k].offset);
	return NULL;
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
	bool	   *flag;

	memset(fc, 0, sizeof(*fc));
	if (!parse_node(r, tk->n > 1 ? tk->t[1] : NULL, true, &c->node))
	{
		*err = "expected a replica (R0, R1, ...)";
		return false;
	}
	if (tk->n == 2)
	{
		*err = "say what it does " BYZANTINE_BEHAVIOURS;
		return false;
	}
	while (i < tk->n)
	{
		const char *w = tk->t[i];
		const char *a = i + 1 < tk->n ? tk->t[i + 1] : NULL;

		if (strcmp(w, "honest") == 0)
			i++;
		else if ((flag = byzantine_flag(fc, w)) != NULL)
		{
			*flag = true;
			i++;
		}
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
			*err = "unknown behaviour " BYZANTINE_BEHAVIOURS;
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
					"view_change_timeout, retain_batches, retain_bytes)";
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
		c.with_history = c.kind == SC_RESTART && tk.n == 3 &&
			strcmp(tk.t[2], "with-history") == 0;
		if (tk.n != (c.amnesia || c.with_history ? 3 : 2) ||
			!parse_node(r, tk.t[1], true, &c.node))
		{
			*err = "expected: crash R<i> | restart R<i> [from-checkpoint | with-history]";
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

bool
sc_parse_text(sc_run *r, const char *text)
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
			sc_fail(r, ZZ_SCENARIO_ERROR, lineno, "line too long");
			return false;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		if (!parse_line(r, line, lineno, &err))
		{
			sc_fail(r, ZZ_SCENARIO_ERROR, lineno, "%s: %s", err, line);
			return false;
		}
		p += len + (nl ? 1 : 0);
	}
	return true;
}
