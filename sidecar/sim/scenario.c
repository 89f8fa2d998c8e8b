/*
 * scenario.c
 *	  The scenario interpreter (scenario.h; the format is in SCENARIOS.md).
 *
 * Two passes.  The parser (scenario_parse.c) turns each line into one
 * sc_cmd, checking everything that can be checked without running (names,
 * numbers, node ranges, rule names); any mistake stops there with
 * file:line.  Then the commands run here, in order, against a simulator
 * world (sim_int.h) built by the first command that is not set-up.  The world's network asks
 * net_filter() about every message; the active rules decide.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario_int.h"

/* ------------------------------------------------------------ messages */

/*
 * Record the first failure (or error) as "name:line: message".
 */
void
sc_fail(sc_run *r, zz_scenario_status st, int line, const char *fmt,...)
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
				sc_fail(r, ZZ_SCENARIO_FAIL, c->line, "at %.6fs is in the past (now %.6fs)",
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
						sc_fail(r, ZZ_SCENARIO_FAIL, c->line, "%s: not within %.3f ms: %s",
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
					sc_fail(r, ZZ_SCENARIO_FAIL, c->line,
						 "C%u cannot submit: it still has a request outstanding", c->node);
					return false;
				}
				break;
			}
		case SC_CRASH:
			sim_crash(s, c->node);
			break;
		case SC_RESTART:
			if (c->with_history)
				sim_restart_with_history(s, c->node);
			else
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
					sc_fail(r, ZZ_SCENARIO_FAIL, c->line, "no active rule named %s", c->name);
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
				sc_fail(r, ZZ_SCENARIO_FAIL, c->line, "%s: holds at the start", c->text);
				return false;
			}
			r->never = &c->cond;
			if (!advance(r, s->now + c->time))
			{
				r->never = NULL;
				sc_fail(r, ZZ_SCENARIO_FAIL, c->line, "%s: it held at %.6fs", c->text,
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
					sc_fail(r, ZZ_SCENARIO_FAIL, c->line, "no active rule named %s", c->name);
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
					sc_fail(r, ZZ_SCENARIO_FAIL, c->line,
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
						sc_fail(r, ZZ_SCENARIO_FAIL, c->line,
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
				sc_fail(r, ZZ_SCENARIO_FAIL, c->line, "%s: %s", c->text, why);
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
	if (!sc_parse_text(&r, text))
	{
		free_run(&r);
		return res->status;
	}
	if (!build_world(&r))
	{
		sc_fail(&r, ZZ_SCENARIO_ERROR, 0, "cannot build the cluster");
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
			sc_fail(&r, ZZ_SCENARIO_FAIL, 0, "violation: %s",
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
