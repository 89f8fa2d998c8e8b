/*
 * sim.c
 *	  The deterministic simulator (see sim.h): the world, its network, its
 *	  fault schedule, its workload, the primary-crash probe and the step
 *	  loop.  Scripted scenarios (scenario.c) drive the same world.
 *
 * Every node gets a zz_io whose hooks copy each message into a binary heap
 * of pending deliveries keyed by (time, insertion counter).  A step takes
 * whichever comes first, the next heap event or the earliest node
 * deadline, advances simulated time to it and calls into the core.  After
 * the step the node it touched is inspected and the checker updated.
 * The only randomness is the seeded zz_rng; the core itself is
 * deterministic, so one seed is one run.
 *
 * The primary-crash probe (protocol liveness after a crash): once the
 * correct clients have done their work and the fault period is over, at a
 * random time within one view-change timeout T, the primary of the view
 * the correct replicas are in crashes for good (with --byzantine, only if it
 * is one of the f faulty replicas: a correct one would make f+1 faults),
 * every other faulty replica stops misbehaving, the network is reliable,
 * and each correct client
 * submits one more request.  Within 3T of the crash every correct replica
 * must be in a later view, and each of those requests must complete within
 * 3T of its submission (ZZ_V_RECOVERY).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "sim_int.h"

#define SIM_DRAIN			300000	/* us the cluster runs on after the work */
#define SIM_PROBE_TRIES		2000	/* 1 ms waits for a settled view */
#define SIM_SETTLE_LAG		8		/* batches a settled replica may still owe */

/* ------------------------------------------------------------ the heap */

static bool
ev_before(const sim_event *a, const sim_event *b)
{
	return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static void
heap_push(zz_sim *s, sim_event ev)
{
	size_t		i;

	if (s->hlen == s->hcap)
	{
		s->hcap = s->hcap ? 2 * s->hcap : 1024;
		s->heap = realloc(s->heap, s->hcap * sizeof(sim_event));
		if (s->heap == NULL)
			abort();
	}
	ev.order = s->order++;
	i = s->hlen++;
	while (i > 0 && ev_before(&ev, &s->heap[(i - 1) / 2]))
	{
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = ev;
}

static sim_event
heap_pop(zz_sim *s)
{
	sim_event	top = s->heap[0];
	sim_event	last = s->heap[--s->hlen];
	size_t		i = 0;

	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= s->hlen)
			break;
		if (c + 1 < s->hlen && ev_before(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_before(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->hlen > 0)
		s->heap[i] = last;
	return top;
}

static void
schedule(zz_sim *s, zz_time at, sim_ev_kind kind, uint32_t from, uint32_t to)
{
	sim_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.at = at;
	ev.kind = (uint8_t) kind;
	ev.from = (uint16_t) from;
	ev.to = (uint16_t) to;
	heap_push(s, ev);
}

/* ------------------------------------------------------------- tracing */

void
sim_trace(zz_sim *s, const char *fmt,...)
{
	char		line[1024];
	int			off;
	va_list		ap;

	if (s->cfg.trace == NULL)
		return;
	off = snprintf(line, sizeof(line), "%11.6f ", s->now / 1e6);
	va_start(ap, fmt);
	vsnprintf(line + off, sizeof(line) - off, fmt, ap);
	va_end(ap);
	s->cfg.trace(s->cfg.trace_ctx, line);
}

const char *
sim_node_name(const zz_sim *s, uint32_t idx, char *buf)
{
	if (idx < s->n)
		snprintf(buf, 16, "R%u", idx);
	else
		snprintf(buf, 16, "C%u", idx - s->n);
	return buf;
}

static void
trace_message(zz_sim *s, const char *what, uint32_t from, uint32_t to,
			  const uint8_t *buf, size_t len)
{
	char		a[16],
				b[16],
				msg[512];

	if (s->cfg.trace == NULL)
		return;
	zz_sim_format_message(buf, len, msg, sizeof(msg));
	sim_trace(s, "%-13s %s -> %s  %s", what, sim_node_name(s, from, a),
			  sim_node_name(s, to, b), msg);
}

static void
io_trace(void *ctx, const char *line)
{
	sim_node   *nd = ctx;

	sim_trace(nd->sim, "              %s", line);
}

/* ------------------------------------------------------------ network */

static bool
cut_off(const zz_sim *s, uint32_t idx)
{
	return idx < s->n && (s->partitioned & (1u << idx));
}

/*
 * Step rules checked on what a correct replica sends (see checker.h).  The
 * replica is mid-call, but its status is a plain read.
 */
static void
watch_replica_send(zz_sim *s, sim_node *from, const uint8_t *buf, size_t len)
{
	zz_msg_type t;
	zz_replica_status st;

	if (zz_msg_peek_type(buf, len, &t) != ZZ_OK)
		return;
	if (t == ZZ_MSG_VIEW_CHANGE)
	{
		zz_view_change vc;

		if (zz_decode_view_change(buf, len, &vc) != ZZ_OK)
			return;
		if (vc.replica == from->id && vc.new_view >= from->vc_view)
		{
			from->vc_view = vc.new_view;
			from->vc_cc_seq = vc.has_cc ? vc.cc.seq : 0;
			if (vc.cp.seq > from->vc_cc_seq)
				from->vc_cc_seq = vc.cp.seq;
		}
		zz_view_change_release(&vc);
	}
	else if (t == ZZ_MSG_LOCAL_COMMIT)
	{
		zz_local_commit lc;

		if (zz_decode_local_commit(buf, len, &lc) != ZZ_OK)
			return;
		zz_replica_get_status(from->replica, &st);
		zz_checker_local_commit_sent(s->ck, from->id, lc.seq, st.view,
									 from->vc_view, from->vc_cc_seq);
		from->lc_seq = lc.seq;
		from->lc_history = lc.history;
	}
}

/*
 * Put one copy of a message on the heap, delay from now; the bytes are
 * copied unless owned is given (then the heap takes it).
 */
static void
enqueue(zz_sim *s, uint32_t from, uint32_t to, const uint8_t *buf, size_t len,
		zz_time delay, uint8_t *owned)
{
	sim_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.at = s->now + delay;
	ev.kind = EV_DELIVER;
	ev.from = (uint16_t) from;
	ev.to = (uint16_t) to;
	ev.len = len;
	if (owned != NULL)
		ev.buf = owned;
	else
	{
		ev.buf = malloc(len ? len : 1);
		if (ev.buf == NULL)
			abort();
		if (len > 0)
			memcpy(ev.buf, buf, len);
	}
	heap_push(s, ev);
}

/* Deliver a message a scenario held back, delay from now. */
void
sim_queue(zz_sim *s, uint32_t from, uint32_t to, const uint8_t *buf, size_t len,
		  zz_time delay)
{
	enqueue(s, from, to, buf, len, delay, NULL);
}

static void sim_send(zz_sim *s, sim_node *from, uint32_t to, const uint8_t *buf,
					 size_t len, bool replayed);

/*
 * What a Byzantine replica does to a message it sends (forge.h).  Returns
 * false if it sends nothing; else *buf / *len may point to a replacement
 * in *owned, and *extra is added to its delay.
 */
static bool
byzantine_send(zz_sim *s, sim_node *from, uint32_t to, const uint8_t **buf,
			   size_t *len, uint8_t **owned, zz_time *extra)
{
	zz_forge_out fo;
	bool		to_replica = to < s->n;

	zz_forger_send(from->forger, &s->rng, to_replica, to_replica ? to : to - s->n,
				   *buf, *len, &fo);
	if (fo.replay != NULL)
	{
		uint32_t	rto = fo.replay_to_replica ? fo.replay_to : s->n + fo.replay_to;

		s->res->stats.replayed++;
		if (rto < s->n + s->k && rto != from->idx)
			sim_send(s, from, rto, fo.replay, fo.replay_len, true);
		free(fo.replay);
	}
	if (fo.drop)
	{
		s->res->stats.byz_dropped++;
		trace_message(s, "drop(byz)", from->idx, to, *buf, *len);
		return false;
	}
	if (fo.buf != NULL)
	{
		s->res->stats.forged++;
		*owned = fo.buf;
		*buf = fo.buf;
		*len = fo.len;
	}
	if (fo.delay)
		s->res->stats.byz_delayed++;
	*extra = fo.delay;
	return true;
}

/*
 * A node sends: apply Byzantine behaviour, a scenario's filter or the
 * seed's partitions, loss, duplication and delay, and queue what survives.
 * The bytes are copied.
 */
static void
sim_send(zz_sim *s, sim_node *from, uint32_t to, const uint8_t *buf, size_t len,
		 bool replayed)
{
	uint8_t    *owned = NULL;
	zz_time		extra = 0;
	int			copies = 1;

	if (to >= s->n + s->k || to == from->idx)
		return;
	if (from->is_replica && !from->byzantine)
		watch_replica_send(s, from, buf, len);
	if (from->forger != NULL && !replayed &&
		!byzantine_send(s, from, to, &buf, &len, &owned, &extra))
		return;
	if (s->cfg.plant == ZZ_PLANT_NO_HATE && !s->cfg.plant_control)
	{
		zz_msg_type t;

		if (zz_msg_peek_type(buf, len, &t) == ZZ_OK && t == ZZ_MSG_I_HATE_THE_PRIMARY)
		{
			trace_message(s, "drop(plant)", from->idx, to, buf, len);
			free(owned);
			return;
		}
	}
	if (s->filter != NULL)
	{
		zz_time		more = 0;

		switch (s->filter(s->filter_ctx, from->idx, to, buf, len, &more))
		{
			case SIM_DELIVER:
				extra += more;
				break;
			case SIM_DROP:
				s->res->stats.dropped++;
				trace_message(s, "drop(rule)", from->idx, to, buf, len);
				free(owned);
				return;
			case SIM_KEEP:
				trace_message(s, "hold", from->idx, to, buf, len);
				free(owned);
				return;
		}
	}
	if (s->faulty_net)
	{
		const char *why = NULL;

		if (cut_off(s, from->idx) != cut_off(s, to))
			why = "drop(part)";
		else if (zz_rng_chance(&s->rng, s->loss_ppm))
			why = "drop(lost)";
		if (why != NULL)
		{
			s->res->stats.dropped++;
			trace_message(s, why, from->idx, to, buf, len);
			free(owned);
			return;
		}
		if (zz_rng_chance(&s->rng, s->dup_ppm))
		{
			copies = 2;
			s->res->stats.duplicated++;
		}
	}
	for (int c = 0; c < copies; c++)
	{
		zz_time		delay = zz_rng_range(&s->rng, s->lat_lo, s->lat_hi) + extra;

		if (s->faulty_net && zz_rng_chance(&s->rng, s->long_ppm))
			delay = zz_rng_range(&s->rng, SIM_MS, s->long_max) + extra;
		enqueue(s, from->idx, to, buf, len, delay, c == 0 ? owned : NULL);
	}
}

static void
io_to_replica(void *ctx, uint32_t replica, const uint8_t *buf, size_t len)
{
	sim_node   *nd = ctx;

	if (replica < nd->sim->n)
		sim_send(nd->sim, nd, replica, buf, len, false);
}

static void
io_to_client(void *ctx, uint32_t client, const uint8_t *buf, size_t len)
{
	sim_node   *nd = ctx;

	if (client < nd->sim->k)
		sim_send(nd->sim, nd, nd->sim->n + client, buf, len, false);
}

static void inspect_replica(zz_sim *s, sim_node *nd);

/* What a shell keeps durably before its replica commits to a view. */
static void
io_keep_view(void *ctx, zz_view view)
{
	sim_node   *nd = ctx;

	if (view > nd->kept_view)
		nd->kept_view = view;
}

/* ------------------------------------------------- the recording shim */

/* Forget the results not yet reported for batches above seq. */
static void
shim_drop_pending(sim_shim *sh, zz_seq seq)
{
	uint32_t	k = 0;

	for (uint32_t i = 0; i < sh->npend; i++)
	{
		if (sh->pend[i].seq > seq)
			zz_exec_result_free(&sh->pend[i].res);
		else
			sh->pend[k++] = sh->pend[i];
	}
	sh->npend = k;
}

static bool shim_install(void *ctx, zz_seq seq, const zz_digest *history, const uint8_t *data,
						 size_t len, const zz_digest *expect);
static void shim_drop_install(sim_shim *sh);

static zz_exec_status
shim_execute(void *ctx, zz_seq seq, uint64_t nd_time, uint64_t nd_seed,
			 const zz_op *ops, uint32_t count, bool want_digest, zz_exec_result *res)
{
	sim_shim   *sh = ctx;
	zz_exec_status st;

	if (sh->async && sh->kv_seq >= seq)
	{
		/*
		 * The core dropped batches the service had already executed,
		 * without a rollback (it rolls back only below what it executed):
		 * undo them first, as pgservice.c does.
		 */
		if (!sh->inner->rollback(sh->inner->ctx, seq - 1))
			abort();
		zz_checker_rolled_back(sh->sim->ck, sh->replica, seq - 1);
		sh->kv_seq = seq - 1;
		shim_drop_pending(sh, seq - 1);
	}
	st = sh->inner->execute(sh->inner->ctx, seq, nd_time, nd_seed, ops, count,
							want_digest, res);
	if (st != ZZ_EXEC_DONE)
		return st;
	sh->kv_seq = seq;
	for (uint32_t i = 0; i < count; i++)
	{
		if (sh->lie_ppm && zz_rng_chance(&sh->sim->rng, sh->lie_ppm))
		{
			uint8_t    *lie = malloc(4);

			if (lie == NULL)
				abort();
			memcpy(lie, "LIE!", 4);
			free(res->replies[i].data);
			res->replies[i].data = lie;
			res->replies[i].len = 4;
		}
		zz_checker_executed(sh->sim->ck, sh->replica, seq, ops[i].client,
							ops[i].timestamp, res->replies[i].data, res->replies[i].len);
	}
	if (sh->async)
	{
		zz_sim	   *s = sh->sim;
		sim_pending *p;
		zz_time		due = s->now + zz_rng_range(&s->rng, 20, 2000);

		if (sh->npend > 0 && sh->pend[sh->npend - 1].due > due)
			due = sh->pend[sh->npend - 1].due;	/* in order */
		if (sh->npend == sh->cappend)
		{
			sh->cappend = sh->cappend ? 2 * sh->cappend : 8;
			sh->pend = realloc(sh->pend, sh->cappend * sizeof(*sh->pend));
			if (sh->pend == NULL)
				abort();
		}
		if (sh->npend > 0)
			s->res->stats.windowed++;
		p = &sh->pend[sh->npend++];
		p->seq = seq;
		p->due = due;
		p->res = *res;
		memset(res, 0, sizeof(*res));
		schedule(s, due, EV_EXEC_DONE, sh->replica, sh->replica);
		return ZZ_EXEC_PENDING;
	}
	return st;
}

/*
 * Report the asynchronous results that are due, in order, unless the
 * replica is down or its service stalled (they wait).
 */
static void
shim_deliver(zz_sim *s, sim_node *nd)
{
	sim_shim   *sh = &nd->shim;

	if (sh->inst_pending && sh->inst_due <= s->now && !nd->down && !sh->stalled)
	{
		bool		ok;

		sh->inst_pending = false;
		ok = shim_install(sh, sh->inst_seq, &sh->inst_history, sh->inst_data, sh->inst_len,
						  &sh->inst_expect);
		shim_drop_install(sh);
		zz_replica_install_done(nd->replica, s->now, ok);
		inspect_replica(s, nd);
	}
	while (sh->npend > 0 && sh->pend[0].due <= s->now && !nd->down && !sh->stalled)
	{
		zz_exec_result res = sh->pend[0].res;

		memmove(&sh->pend[0], &sh->pend[1], (sh->npend - 1) * sizeof(*sh->pend));
		sh->npend--;
		zz_replica_execute_done(nd->replica, s->now, &res);	/* may execute more */
		inspect_replica(s, nd);
	}
}

static bool
shim_rollback(void *ctx, zz_seq seq)
{
	sim_shim   *sh = ctx;

	if (!sh->inner->rollback(sh->inner->ctx, seq))
		return false;
	zz_checker_rolled_back(sh->sim->ck, sh->replica, seq);
	if (sh->kv_seq > seq)
		sh->kv_seq = seq;
	shim_drop_pending(sh, seq);
	return true;
}

static void
shim_mark_stable(void *ctx, zz_seq seq)
{
	sim_shim   *sh = ctx;
	sim_node   *nd = &sh->sim->nodes[sh->replica];

	sh->inner->mark_stable(sh->inner->ctx, seq);

	/*
	 * Keep what a database keeps with its stable checkpoint (pgservice.c),
	 * for a restart that loses everything else.
	 */
	if (nd->replica != NULL && seq > nd->kept_seq)
	{
		zz_buf_reset(&nd->kept);
		if (zz_replica_save_stable(nd->replica, seq, &nd->kept))
			nd->kept_seq = seq;
		else
			zz_buf_reset(&nd->kept);
	}
}

static bool
shim_snapshot(void *ctx, zz_seq seq, uint8_t **out, size_t *outlen)
{
	sim_shim   *sh = ctx;

	return sh->inner->snapshot(sh->inner->ctx, seq, out, outlen);
}

static bool
shim_install(void *ctx, zz_seq seq, const zz_digest *history, const uint8_t *data,
			 size_t len, const zz_digest *expect)
{
	sim_shim   *sh = ctx;

	if (!sh->inner->install(sh->inner->ctx, seq, history, data, len, expect))
		return false;
	zz_checker_installed(sh->sim->ck, sh->replica, seq);
	sh->kv_seq = seq;
	shim_drop_pending(sh, 0);
	return true;
}

/*
 * Asynchronous mode: the install runs in the background, as a database's
 * chunked install does (pgtransfer.c), and ends after a delay.
 */
static int
shim_install_start(void *ctx, uint32_t from, zz_seq seq, const zz_digest *history,
				   const uint8_t *data, size_t len, const zz_digest *expect)
{
	sim_shim   *sh = ctx;
	zz_sim	   *s = sh->sim;

	(void) from;
	if (!sh->async)
		return -1;
	if (sh->inst_pending)
		return 0;
	sh->inst_data = malloc(len ? len : 1);
	if (sh->inst_data == NULL)
		abort();
	memcpy(sh->inst_data, data, len);
	sh->inst_len = len;
	sh->inst_seq = seq;
	sh->inst_history = *history;
	sh->inst_expect = *expect;
	sh->inst_pending = true;
	sh->inst_due = s->now + zz_rng_range(&s->rng, 100, 20000);
	schedule(s, sh->inst_due, EV_EXEC_DONE, sh->replica, sh->replica);
	return 1;
}

static void
shim_drop_install(sim_shim *sh)
{
	free(sh->inst_data);
	sh->inst_data = NULL;
	sh->inst_pending = false;
}

/* ------------------------------------------------------------ clients */

/* A random KV operation over a handful of keys, so requests contend. */
static uint32_t
random_op(zz_sim *s, char *buf, size_t cap)
{
	uint64_t	key = zz_rng_below(&s->rng, 4);
	uint64_t	r = zz_rng_below(&s->rng, 100);
	int			len;

	if (r < 30)
		len = snprintf(buf, cap, "PUT k%llu v%llu", (unsigned long long) key,
					   (unsigned long long) zz_rng_below(&s->rng, 1000));
	else if (r < 50)
		len = snprintf(buf, cap, "GET k%llu", (unsigned long long) key);
	else if (r < 70)
		len = snprintf(buf, cap, "ADD n%llu %lld", (unsigned long long) key,
					   (long long) zz_rng_below(&s->rng, 101) - 50);
	else if (r < 85)
		len = snprintf(buf, cap, "APPEND s%llu %c", (unsigned long long) key,
					   (char) ('a' + zz_rng_below(&s->rng, 26)));
	else if (r < 92)
		len = snprintf(buf, cap, "NOW");
	else if (r < 98)
		len = snprintf(buf, cap, "RAND");
	else
		len = snprintf(buf, cap, "BOGUS %llu", (unsigned long long) key);
	return (uint32_t) len;
}

/*
 * Client nd submits op now.  Returns its timestamp; 0 (a violation for a
 * correct client in a sweep) if the client refused.
 */
static uint64_t
submit_op(zz_sim *s, sim_node *nd, const char *op, uint32_t len)
{
	uint64_t	ts = zz_client_submit(nd->client, s->now, (const uint8_t *) op, len);

	if (ts == 0)
		return 0;
	nd->submitted++;
	zz_checker_submitted(s->ck, nd->id, ts, s->now);
	sim_trace(s, "submit        C%u t=%llu \"%s\"%s", nd->id, (unsigned long long) ts, op,
			  nd->probe_due ? " (probe)" : "");
	if (nd->probe_due)
	{
		nd->probe_due = false;
		nd->probe_ts = ts;
		nd->probe_deadline = s->now + 3 * s->params.view_change_timeout;
		schedule(s, nd->probe_deadline, EV_RECOVERY_CHECK, nd->idx, nd->idx);
	}
	return ts;
}

static void
client_submit(zz_sim *s, sim_node *nd)
{
	char		op[64];
	uint32_t	len = random_op(s, op, sizeof(op));

	if (submit_op(s, nd, op, len) == 0)
		zz_checker_fail(s->ck, ZZ_V_LIVENESS, "client %u refused a submission", nd->id);
}

/* A scenario's submission: returns the timestamp, 0 if the client is busy. */
uint64_t
sim_submit(zz_sim *s, uint32_t client, const char *op)
{
	if (client >= s->k)
		return 0;
	return submit_op(s, &s->nodes[s->n + client], op, (uint32_t) strlen(op));
}

static void
client_done(void *ctx, uint32_t client, const zz_completion *c)
{
	sim_node   *nd = ctx;
	zz_sim	   *s = nd->sim;

	zz_checker_completed(s->ck, client, c);
	nd->completed++;
	sim_trace(s, "complete      C%u t=%llu v=%llu n=%llu %s reply=\"%.*s\"", client,
			  (unsigned long long) c->timestamp, (unsigned long long) c->view,
			  (unsigned long long) c->seq, c->path == ZZ_PATH_FAST ? "fast" : "commit",
			  (int) (c->reply_len < 40 ? c->reply_len : 40), (const char *) c->reply);
	if (s->on_complete)
		s->on_complete(s->complete_ctx, client, c);
	if (nd->probe_ts != 0 && c->timestamp == nd->probe_ts)
	{
		zz_time		took = s->now - s->crash_at;

		nd->probe_ts = 0;
		if (took > s->res->stats.probe_max)
			s->res->stats.probe_max = took;
		if (s->probes_left > 0)
			s->probes_left--;
		return;
	}
	if (nd->probe_due)
		schedule(s, s->now, EV_SUBMIT, nd->idx, nd->idx);
	else if (nd->submitted < nd->quota)
		schedule(s, s->now + zz_rng_range(&s->rng, 0, 4 * SIM_MS), EV_SUBMIT, nd->idx, nd->idx);
	else if (!nd->client_faulty && nd->submitted == nd->quota)
		s->clients_done++;
}

/* ------------------------------------------------------------- set-up */

/*
 * Create an empty world for cfg and seed; sim_build (or the sweep's
 * sim_setup) fills it.
 */
zz_sim *
sim_create(const zz_sim_config *cfg, uint64_t seed, zz_sim_result *res)
{
	zz_sim	   *s = calloc(1, sizeof(zz_sim));

	if (s == NULL)
		abort();
	memset(res, 0, sizeof(*res));
	s->cfg = *cfg;
	s->seed = seed;
	s->res = res;
	s->hash = 1469598103934665603ULL;
	s->lat_lo = 50;
	s->lat_hi = 500;
	zz_rng_seed(&s->rng, seed);
	return s;
}

/*
 * Build the nodes for params p and k clients: keys from the seed, the
 * checker, every replica behind its recording shim, every client.  No
 * one is faulty yet and nothing is scheduled.
 */
bool
sim_build(zz_sim *s, const zz_params *p, uint32_t clients)
{
	s->params = *p;
	s->n = p->n;
	s->k = clients > SIM_MAX_CLIENTS ? SIM_MAX_CLIENTS : clients;
	s->ks = zz_keyset_from_seed(s->cfg.crypto, s->n, s->k, s->seed);
	s->ck = zz_checker_create(s->n, s->k);
	if (s->ks == NULL || s->ck == NULL)
		return false;
	zz_checker_set_trace(s->ck, s->cfg.trace, s->cfg.trace_ctx);
	for (uint32_t i = 0; i < s->n + s->k; i++)
	{
		sim_node   *nd = &s->nodes[i];

		nd->sim = s;
		nd->idx = i;
		nd->is_replica = i < s->n;
		nd->id = nd->is_replica ? i : i - s->n;
		nd->crypto = zz_crypto_create(s->ks, nd->is_replica, nd->id);
		if (nd->crypto == NULL)
			return false;
		nd->io.ctx = nd;
		nd->io.to_replica = io_to_replica;
		nd->io.to_client = io_to_client;
		nd->io.trace = s->cfg.trace ? io_trace : NULL;
		nd->io.keep_view = io_keep_view;
		if (nd->is_replica)
		{
			nd->kv = zz_kv_create();
			if (nd->kv == NULL)
				return false;
			nd->shim.inner = zz_kv_service(nd->kv);
			nd->shim.sim = s;
			nd->shim.replica = nd->id;
			nd->shim.svc.ctx = &nd->shim;
			nd->shim.svc.execute = shim_execute;
			nd->shim.svc.rollback = shim_rollback;
			nd->shim.svc.mark_stable = shim_mark_stable;
			nd->shim.svc.snapshot = shim_snapshot;
			nd->shim.svc.install = shim_install;
			nd->shim.svc.install_start = shim_install_start;
			nd->replica = zz_replica_create(&s->params, nd->id, nd->crypto,
											&nd->shim.svc, &nd->io);
			if (nd->replica == NULL)
				return false;
		}
		else
		{
			nd->client = zz_client_create(&s->params, nd->id, nd->crypto, &nd->io,
										  client_done, nd);
			if (nd->client == NULL)
				return false;
			s->clients_correct++;
		}
	}
	return true;
}

/* Count a faulty replica's behaviours into the cast statistics. */
static void
count_cast(zz_sim *s, const zz_forge_config *fc, uint32_t lie_ppm)
{
	zz_sim_stats *st = &s->res->stats;

	st->cast_equivocate += fc->mode != ZZ_FORGE_NONE;
	st->cast_silent += fc->silent;
	st->cast_slow += fc->slow != 0;
	st->cast_omit += fc->omit_ppm != 0;
	st->cast_delay += fc->delay_ppm != 0;
	st->cast_replay += fc->replay_ppm != 0;
	st->cast_lie_replies += lie_ppm != 0;
	st->cast_lie_cp += fc->lie_checkpoints;
	st->cast_vc_withhold += fc->vc_lie == ZZ_VC_WITHHOLD;
	st->cast_vc_stale += fc->vc_lie == ZZ_VC_STALE_CC;
	st->cast_vc_forged += fc->vc_lie == ZZ_VC_FORGED_CC || fc->vc_lie == ZZ_VC_DUP_SIGNER_CC ||
		fc->vc_lie == ZZ_VC_WRONG_VIEW_CC;
	st->cast_pom_any_seq += fc->pom_any_seq;
	st->cast_forge_ahead += fc->forge_ahead;
	st->cast_state_lie += fc->state_lie;
	st->cast_nv_split += fc->nv_victims != 0;
	st->cast_vc_consistent += fc->vc_consistent && fc->vc_lie != ZZ_VC_HONEST;
}

/*
 * Make a replica Byzantine: the forger rewrites what it sends, the shim
 * lies in lie_ppm of its replies, and the checker stops holding it to the
 * invariants.  Calling it again replaces the behaviour.
 */
void
sim_make_byzantine(zz_sim *s, uint32_t replica, const zz_forge_config *fc, uint32_t lie_ppm)
{
	sim_node   *nd = &s->nodes[replica];

	if (replica >= s->n)
		return;
	if (!nd->byzantine)
	{
		nd->byzantine = true;
		s->res->stats.cast_replicas++;
		zz_checker_set_faulty_replica(s->ck, nd->id);
	}
	if (nd->forger == NULL)
		nd->forger = zz_forger_create(&s->params, nd->id, nd->crypto, fc);
	else
		zz_forger_configure(nd->forger, fc);
	if (nd->forger == NULL)
		abort();
	/* A consistent liar acts on its VIEW-CHANGE lie (forge.h). */
	zz_replica_set_vc_rewrite(nd->replica, zz_forger_rewrite_own_vc, nd->forger);
	nd->shim.lie_ppm = lie_ppm;
	count_cast(s, fc, lie_ppm);
	sim_trace(s, "byzantine     R%u forge=%s victims=%#x fork_at=%llu lie_cp=%d lie_ppm=%u "
			  "vc=%s%s%s%s slow=%llu omit=%u delay=%u replay=%u",
			  nd->id, zz_forge_mode_name(fc->mode), fc->victims & ((1u << s->n) - 1),
			  (unsigned long long) fc->fork_at, fc->lie_checkpoints, lie_ppm,
			  zz_vc_lie_name(fc->vc_lie), fc->vc_consistent ? " (consistent)" : "",
			  fc->silent ? " silent-primary" : "",
			  fc->vc_lie == ZZ_VC_WITHHOLD && fc->withhold_from ? " (from a seq)" : "",
			  (unsigned long long) fc->slow, fc->omit_ppm, fc->delay_ppm, fc->replay_ppm);
}

/* Make a client faulty (client.h's bugs); the checker ignores it. */
void
sim_make_faulty_client(zz_sim *s, uint32_t client, unsigned bugs)
{
	sim_node   *nd = &s->nodes[s->n + client];
	zz_sim_stats *st = &s->res->stats;

	if (client >= s->k)
		return;
	if (!nd->client_faulty)
	{
		nd->client_faulty = true;
		st->cast_clients++;
		s->clients_correct--;
		zz_checker_set_faulty_client(s->ck, nd->id);
	}
	zz_client_set_bugs(nd->client, bugs);
	st->cast_never_commit += (bugs & ZZ_CLIENT_BUG_NEVER_COMMIT) != 0;
	st->cast_reuse_ts += (bugs & ZZ_CLIENT_BUG_REUSE_TIMESTAMP) != 0;
	st->cast_bad_cc += (bugs & ZZ_CLIENT_BUG_BAD_CC) != 0;
	sim_trace(s, "faulty client C%u bugs=%#x", client, bugs);
}

/*
 * Decide the Byzantine cast: which replicas misbehave (exactly f of them
 * in a Byzantine sweep, the first primary half the time), and the planted
 * bugs.  Returns the mask of Byzantine replicas (they also make up the
 * crash/partition set).
 */
static uint32_t
cast_byzantine(zz_sim *s, unsigned *replica_bugs, unsigned *client_bugs)
{
	uint32_t	byz = 0;

	*replica_bugs = 0;
	*client_bugs = 0;
	switch (s->cfg.plant)
	{
		case ZZ_PLANT_CLIENT_2F:
			*client_bugs = ZZ_CLIENT_BUG_COMPLETE_ON_2F;
			break;
		case ZZ_PLANT_BAD_HISTORY:
			*replica_bugs = ZZ_BUG_ACCEPT_BAD_HISTORY;
			break;
		case ZZ_PLANT_SKIP_DEDUP:
			*replica_bugs = ZZ_BUG_SKIP_DEDUP;
			break;
		case ZZ_PLANT_NO_HATE:
		case ZZ_PLANT_NONE:
			break;
	}
	if (s->cfg.plant != ZZ_PLANT_NONE && s->cfg.plant != ZZ_PLANT_NO_HATE)
	{
		/* The scenario: replica 0, the first primary, is the faulty one. */
		if (s->cfg.plant_control)
			*replica_bugs = *client_bugs = 0;
		return 1u;
	}
	if (!s->cfg.byzantine || s->cfg.plant == ZZ_PLANT_NO_HATE)
		return 0;
	if (zz_rng_below(&s->rng, 2) == 0)
		byz |= 1u;				/* the first primary, half the time */
	while ((uint32_t) __builtin_popcount(byz) < s->params.f)
		byz |= 1u << zz_rng_below(&s->rng, s->n);
	return byz;
}

/*
 * Draw one faulty replica's behaviour for a Byzantine sweep.  Each kind of
 * misbehaviour is drawn on its own, so seeds combine them.
 */
static void
random_forge(zz_sim *s, uint32_t id, zz_forge_config *fc, uint32_t *lie_ppm)
{
	static const zz_forge_mode modes[] = {
		ZZ_FORGE_NONE, ZZ_FORGE_DUPLICATE, ZZ_FORGE_DROP, ZZ_FORGE_ND,
		ZZ_FORGE_BAD_HISTORY
	};
	const zz_params *p = &s->params;

	memset(fc, 0, sizeof(*fc));
	fc->mode = modes[zz_rng_below(&s->rng, 5)];
	while ((fc->victims & ~(1u << id) & ((1u << s->n) - 1)) == 0)
		fc->victims = (uint32_t) zz_rng_next(&s->rng);
	fc->fork_view = id;
	fc->fork_at = zz_rng_range(&s->rng, 2, 30);
	fc->lie_checkpoints = zz_rng_below(&s->rng, 3) == 0;
	/* (not the stale checkpoint: scenarios and the explorer cover it) */
	fc->vc_lie = (zz_vc_lie) zz_rng_below(&s->rng, ZZ_VC_STALE_CP);
	if (fc->vc_lie == ZZ_VC_WITHHOLD && zz_rng_below(&s->rng, 2) == 0)
		fc->withhold_from = zz_rng_range(&s->rng, 1, 40);
	/*
	 * Half the liars act on their lie as new primaries (consistent): taken
	 * from a draw already made, so that every seed keeps its stream.
	 */
	fc->vc_consistent = (fc->fork_at & 1) != 0;
	*lie_ppm = zz_rng_below(&s->rng, 2) == 0 ?
		(uint32_t) zz_rng_range(&s->rng, 1000, 300000) : 0;
	switch (zz_rng_below(&s->rng, 4))
	{
		case 0:
			fc->silent = true;
			fc->silent_from = zz_rng_range(&s->rng, 2, 40);
			break;
		case 1:
			/* Slow, but inside the CONFIRM-REQ timeout that would expose it. */
			fc->slow = zz_rng_range(&s->rng, p->confirm_timeout / 2,
									p->confirm_timeout * 9 / 10);
			break;
		default:
			break;
	}
	if (zz_rng_below(&s->rng, 5) == 0)
		fc->omit_ppm = (uint32_t) zz_rng_range(&s->rng, 5000, 50000);
	if (zz_rng_below(&s->rng, 5) == 0)
	{
		fc->delay_ppm = (uint32_t) zz_rng_range(&s->rng, 10000, 200000);
		fc->delay_max = zz_rng_range(&s->rng, 1, 20) * SIM_MS;
	}
	if (zz_rng_below(&s->rng, 5) == 0)
		fc->replay_ppm = (uint32_t) zz_rng_range(&s->rng, 5000, 50000);

	/* Message-level forgeries (forge.h), each now and then. */
	fc->pom_any_seq = zz_rng_below(&s->rng, 6) == 0;
	fc->forge_ahead = zz_rng_below(&s->rng, 6) == 0;
	fc->ahead_sig = zz_rng_below(&s->rng, 2) ? ZZ_FORGE_SIG_BAD : ZZ_FORGE_SIG_OWN;
	fc->state_lie = zz_rng_below(&s->rng, 6) == 0;

	/*
	 * Different NEW-VIEWs to different replicas: a victim that adopted
	 * another new history fetches the one 2f+1 confirmed
	 * (new-view-split-withhold.zz).
	 */
	if (zz_rng_below(&s->rng, 6) == 0)
	{
		fc->nv_victims = (uint32_t) zz_rng_next(&s->rng) & ((1u << s->n) - 1) & ~(1u << id);
		fc->nv_exclude = (uint32_t) zz_rng_below(&s->rng, s->n);
	}
}

/* The planted bugs' fixed scenarios: replica 0 forges, as each plant needs. */
static void
plant_forge(zz_sim *s, zz_forge_config *fc)
{
	memset(fc, 0, sizeof(*fc));
	fc->fork_view = 0;
	fc->fork_at = zz_rng_range(&s->rng, 2, 8);
	switch (s->cfg.plant)
	{
		case ZZ_PLANT_CLIENT_2F:
			fc->mode = ZZ_FORGE_DROP;
			for (uint32_t i = s->n - 2 * s->params.f; i < s->n; i++)
				fc->victims |= 1u << i;
			break;
		case ZZ_PLANT_BAD_HISTORY:
			fc->mode = ZZ_FORGE_BAD_HISTORY;
			fc->victims = 1u << 1;
			break;
		case ZZ_PLANT_SKIP_DEDUP:
			fc->mode = ZZ_FORGE_DUPLICATE;
			fc->victims = ~0u;
			break;
		case ZZ_PLANT_NO_HATE:
		case ZZ_PLANT_NONE:
			break;
	}
}

/*
 * Draw the fault schedule: network fault rates, the fault period, and
 * crash / partition episodes for the replicas in faulty (at most f).
 */
static void
draw_faults(zz_sim *s, uint32_t faulty)
{
	bool		plant = s->cfg.plant != ZZ_PLANT_NONE;

	s->calm = 0;
	if (!s->cfg.faults || zz_rng_below(&s->rng, 100) < 10)
		return;
	s->calm = zz_rng_range(&s->rng, 50, 400) * SIM_MS;
	s->faulty_net = true;
	s->loss_ppm = (uint32_t) zz_rng_range(&s->rng, 0, 50000);
	s->dup_ppm = (uint32_t) zz_rng_range(&s->rng, 0, 30000);
	s->long_ppm = (uint32_t) zz_rng_range(&s->rng, 0, 20000);
	s->long_max = zz_rng_range(&s->rng, 2, 40) * SIM_MS;
	if (!s->cfg.byzantine && !plant)
	{
		uint32_t	nf = (uint32_t) zz_rng_range(&s->rng, 0, s->params.f);

		while ((uint32_t) __builtin_popcount(faulty) < nf)
			faulty |= 1u << zz_rng_below(&s->rng, s->n);
	}
	if (plant)
		faulty = 0;
	for (uint32_t r = 0; r < s->n; r++)
	{
		uint64_t	episodes;

		if (!(faulty & (1u << r)))
			continue;
		episodes = zz_rng_range(&s->rng, 0, 3);
		for (uint64_t e = 0; e < episodes; e++)
		{
			zz_time		at = zz_rng_below(&s->rng, s->calm);
			zz_time		until = at + zz_rng_range(&s->rng, 5, 150) * SIM_MS;

			schedule(s, at, EV_CRASH, r, r);
			if (until < s->calm)
				schedule(s, until, EV_RESTART, r, r);
		}
		if (s->nodes[r].shim.async)
		{
			/* its database goes away for a while: it executes nothing */
			episodes = zz_rng_range(&s->rng, 0, 2);
			for (uint64_t e = 0; e < episodes; e++)
			{
				zz_time		at = zz_rng_below(&s->rng, s->calm);

				schedule(s, at, EV_STALL, r, r);
				schedule(s, at + zz_rng_range(&s->rng, 5, 150) * SIM_MS, EV_UNSTALL, r, r);
			}
		}
	}
	if (faulty != 0)
	{
		uint64_t	episodes = zz_rng_range(&s->rng, 0, 2);

		for (uint64_t e = 0; e < episodes; e++)
		{
			zz_time		at = zz_rng_below(&s->rng, s->calm);
			zz_time		until = at + zz_rng_range(&s->rng, 5, 150) * SIM_MS;
			uint32_t	mask = 0;

			while (mask == 0)
				mask = (uint32_t) zz_rng_next(&s->rng) & faulty;
			schedule(s, at, EV_PARTITION, 0, mask);
			if (until < s->calm)
				schedule(s, until, EV_HEAL, 0, 0);
		}
	}
	schedule(s, s->calm, EV_CALM, 0, 0);
}

/*
 * The sweep's world for one seed: parameters, cast, workload and faults,
 * all drawn from the seed.
 */
static bool
sim_setup(zz_sim *s)
{
	static const uint32_t cps[] = {8, 16, 32, 128};
	static const uint32_t batches[] = {1, 4, 16, 64};
	unsigned	replica_bugs,
				client_bugs;
	uint32_t	byz;
	zz_params	p;
	uint32_t	k;

	if (!zz_params_default(&p, s->cfg.f))
		return false;
	p.cp_interval = cps[zz_rng_below(&s->rng, 4)];
	p.batch_max = batches[zz_rng_below(&s->rng, 4)];
	/* batching that follows the load (request.c), from the seed: no draw */
	p.order_ahead = (uint32_t) (s->seed % 3);
	/* batches in an asynchronous service at once (execute.c): 1, 2 or 4 */
	p.exec_window = 1u << ((s->seed / 3) % 3);
	/*
	 * A retained log, and catch-up by replay, in half the seeds (catchup.c);
	 * the others fetch state as before.  Small bounds in some, so that
	 * the oldest entries go and a lagging replica may find them gone.
	 */
	if ((s->seed / 9) % 2 == 1)
	{
		p.retain_batches = (s->seed / 18) % 2 ? 4 * p.cp_interval : ZZ_RETAIN_BATCHES_DEFAULT;
		p.retain_bytes = ZZ_RETAIN_BYTES_DEFAULT;
	}
	k = s->cfg.clients ? s->cfg.clients : (uint32_t) zz_rng_range(&s->rng, 2, 5);
	s->params = p;
	s->n = p.n;
	byz = cast_byzantine(s, &replica_bugs, &client_bugs);
	if (!sim_build(s, &p, k))
		return false;
	s->check_liveness = true;
	sim_trace(s, "seed %llu: f=%u n=%u clients=%u cp_interval=%u batch_max=%u order_ahead=%u "
			  "exec_window=%u retain_batches=%u",
			  (unsigned long long) s->seed, s->params.f, s->n, s->k,
			  s->params.cp_interval, s->params.batch_max, s->params.order_ahead,
			  s->params.exec_window, s->params.retain_batches);

	for (uint32_t i = 0; i < s->n; i++)
	{
		if (byz & (1u << i))
		{
			zz_forge_config fc;
			uint32_t	lie_ppm = 0;

			if (s->cfg.plant != ZZ_PLANT_NONE)
				plant_forge(s, &fc);
			else
				random_forge(s, i, &fc, &lie_ppm);
			sim_make_byzantine(s, i, &fc, lie_ppm);
		}
		else if (replica_bugs)
			zz_replica_set_bugs(s->nodes[i].replica, replica_bugs);
	}
	for (uint32_t c = 0; c < s->k; c++)
	{
		sim_node   *nd = &s->nodes[s->n + c];

		nd->quota = s->cfg.requests ? s->cfg.requests
			: (uint32_t) zz_rng_range(&s->rng, 30, 60);
		if (client_bugs)
			zz_client_set_bugs(nd->client, client_bugs);
		else if (s->cfg.byzantine && s->cfg.plant == ZZ_PLANT_NONE &&
				 c == s->k - 1 && s->k >= 2)
		{
			/* At least one faulty client in every Byzantine seed. */
			static const unsigned bad[] = {
				ZZ_CLIENT_BUG_NEVER_COMMIT, ZZ_CLIENT_BUG_REUSE_TIMESTAMP,
				ZZ_CLIENT_BUG_BAD_CC
			};

			sim_make_faulty_client(s, c, bad[zz_rng_below(&s->rng, 3)]);
		}
		schedule(s, zz_rng_range(&s->rng, 0, 2 * SIM_MS), EV_SUBMIT, nd->idx, nd->idx);
	}
	if (s->cfg.faults && zz_rng_chance(&s->rng, 500000))
	{
		/* services that answer later, as a database does (pgservice.c) */
		for (uint32_t i = 0; i < s->n; i++)
			s->nodes[i].shim.async = true;
		s->res->stats.async_seeds++;
		sim_trace(s, "services answer asynchronously");
	}
	draw_faults(s, byz);
	sim_trace(s, "faults: calm at %.3fs loss=%.1f%% dup=%.1f%% long=%.1f%% (<= %llums)",
			  s->calm / 1e6, s->loss_ppm / 1e4, s->dup_ppm / 1e4, s->long_ppm / 1e4,
			  (unsigned long long) (s->long_max / SIM_MS));
	return true;
}

void
sim_destroy(zz_sim *s)
{
	for (uint32_t i = 0; i < s->n + s->k; i++)
	{
		sim_node   *nd = &s->nodes[i];

		if (nd->replica)
			zz_replica_free(nd->replica);
		if (nd->client)
			zz_client_free(nd->client);
		zz_kv_free(nd->kv);
		zz_buf_free(&nd->kept);
		shim_drop_pending(&nd->shim, 0);
		shim_drop_install(&nd->shim);
		free(nd->shim.pend);
		zz_forger_free(nd->forger);
		if (nd->crypto)
			zz_crypto_free(nd->crypto);
	}
	for (size_t i = 0; i < s->hlen; i++)
		free(s->heap[i].buf);
	free(s->heap);
	if (s->ks)
		zz_keyset_free(s->ks);
	zz_checker_free(s->ck);
	free(s);
}

/* ------------------------------------------------------------ stepping */

/* The history visitor: hands each entry to the checker. */
static void
visit_entry(void *ctx, zz_seq seq, const zz_digest *h, zz_view view, bool committed)
{
	sim_node   *nd = ctx;

	zz_checker_history(nd->sim->ck, nd->id, seq, h, committed);
}

/*
 * After a step that touched replica nd: if its position moved, show its
 * history and stable checkpoint to the checker.
 */
static void
inspect_replica(zz_sim *s, sim_node *nd)
{
	zz_replica_status st;

	zz_replica_get_status(nd->replica, &st);

	/*
	 * The replica's own invariants (zz_replica_check), after every step of
	 * a correct one.  Test builds assert them inside the core too, except
	 * in a replica with a planted bug: there the simulator reports them.
	 */
	if (!nd->byzantine)
	{
		const char *why = zz_replica_check(nd->replica);

		if (why != NULL)
			zz_checker_fail(s->ck, ZZ_V_INVARIANT, "correct replica R%u: %s", nd->id, why);
	}

	/*
	 * A correct primary never signs two ORDER-REQs for one (v, n): a
	 * correct replica that accepts a proof of misbehaviour against one was
	 * fooled (a POM of two different n, say).
	 */
	if (!nd->byzantine)
	{
		uint64_t	poms = zz_replica_get_stats(nd->replica)->poms;

		if (poms > nd->poms_seen)
		{
			uint32_t	p = zz_primary_of(&s->params, st.view);

			nd->poms_seen = poms;
			if (!s->nodes[p].byzantine && !s->nodes[p].amnesiac)
				zz_checker_fail(s->ck, ZZ_V_PROTOCOL,
								"correct replica R%u accepted a proof of misbehaviour "
								"against correct primary R%u of view %llu", nd->id, p,
								(unsigned long long) st.view);
		}
	}
	if (st.view == nd->seen.view && st.mode == nd->seen.mode &&
		st.max_seq == nd->seen.max_seq && st.last_executed == nd->seen.last_executed &&
		st.committed == nd->seen.committed && st.stable_seq == nd->seen.stable_seq &&
		st.certified == nd->seen.certified &&
		memcmp(&st.history, &nd->seen.history, sizeof(zz_digest)) == 0)
		return;
	nd->seen = st;
	if (nd->byzantine)
		return;
	zz_checker_visit_begin(s->ck, nd->id);
	zz_replica_visit_history(nd->replica, visit_entry, nd);
	zz_checker_certified(s->ck, nd->id, st.certified);
	zz_checker_stable(s->ck, nd->id, st.stable_seq, &st.stable_state);
}

static void
deliver(zz_sim *s, sim_event *ev)
{
	sim_node   *to = &s->nodes[ev->to];
	zz_msg_type t = 0;

	if (to->down)
	{
		s->res->stats.dropped++;
		trace_message(s, "drop(down)", ev->from, ev->to, ev->buf, ev->len);
		return;
	}
	s->res->stats.messages++;
	zz_msg_peek_type(ev->buf, ev->len, &t);
	s->hash = (s->hash ^ (ev->at * 31 + ev->from * 7 + ev->to + ((uint64_t) t << 56) +
						  ((uint64_t) ev->len << 32))) * 0x100000001b3ULL;
	trace_message(s, "deliver", ev->from, ev->to, ev->buf, ev->len);
	if (to->is_replica)
	{
		if (to->forger != NULL)
		{
			zz_forge_msg fm[ZZ_FORGE_MAX_MSGS];
			int			nfm = zz_forger_observe(to->forger, ev->buf, ev->len, fm);

			zz_buf		lcb;
			uint32_t	client;
			zz_replica_status st;

			/* What it builds itself goes out as it is (no rewriting again). */
			for (int i = 0; i < nfm; i++)
			{
				s->res->stats.forged++;
				for (uint32_t r = 0; r < s->n; r++)
					if (fm[i].to & (1u << r))
						sim_send(s, to, r, fm[i].buf, fm[i].len, true);
				free(fm[i].buf);
			}
			zz_buf_init(&lcb);
			zz_replica_get_status(to->replica, &st);
			if (zz_forger_local_commit(to->forger, ev->buf, ev->len, st.view, &lcb, &client) &&
				client < s->k)
			{
				s->res->stats.forged++;
				sim_send(s, to, s->n + client, lcb.data, lcb.len, true);
			}
			zz_buf_free(&lcb);
		}
		zz_replica_receive(to->replica, s->now, ev->buf, ev->len);
		inspect_replica(s, to);
	}
	else
		zz_client_receive(to->client, s->now, ev->buf, ev->len);
}

/* A replica crashes: it takes no steps and loses what is sent to it. */
void
sim_crash(zz_sim *s, uint32_t replica)
{
	if (replica >= s->n || s->nodes[replica].down)
		return;
	s->nodes[replica].down = true;
	zz_checker_replica_down(s->ck, replica, true);
	s->res->stats.crashes++;
	sim_trace(s, "crash         R%u", replica);
}

/*
 * A crashed replica restarts with what it persisted (zz_replica_restart),
 * or, with amnesia, as a sidecar restarted on its database does: with the
 * service rolled back to its stable checkpoint, and a fresh core resumed
 * there from what was kept with it (zz_replica_resume).  Safe for up to f
 * such replicas as long as none is Byzantine: a request that completed is
 * still held by enough others (README, "Recovery").
 */
void
sim_restart(zz_sim *s, uint32_t replica, bool amnesia)
{
	sim_node   *nd = &s->nodes[replica];

	if (replica >= s->n || !nd->down)
		return;
	nd->down = false;
	zz_checker_replica_down(s->ck, replica, false);
	if (amnesia && !nd->byzantine && zz_kv_stable(nd->kv) == nd->kept_seq)
	{
		zz_replica *fresh;

		/* (the service's unreported results go with the process) */
		if (!nd->shim.svc.rollback(nd->shim.svc.ctx, nd->kept_seq))
			abort();			/* the service keeps undo down to its stable checkpoint */
		shim_drop_pending(&nd->shim, 0);
		shim_drop_install(&nd->shim);
		fresh = zz_replica_create(&s->params, nd->id, nd->crypto, &nd->shim.svc, &nd->io);
		if (fresh == NULL)
			abort();
		zz_replica_free(nd->replica);
		nd->replica = fresh;
		if (nd->kept_seq > 0 &&
			!zz_replica_resume(fresh, s->now, nd->kept.data, nd->kept.len))
		{
			zz_checker_fail(s->ck, ZZ_V_RECOVERY, "R%u cannot resume from the checkpoint %llu it kept",
							nd->id, (unsigned long long) nd->kept_seq);
			return;
		}
		zz_replica_restart(fresh, s->now);	/* as zyzzyvad does once it may start */
		memset(&nd->seen, 0, sizeof(nd->seen));

		/*
		 * It forgot the VIEW-CHANGEs it sent, and may answer in an older
		 * view again.  The step rule is about what a replica remembers; the
		 * end-to-end invariants still hold it to account.  (A LOCAL-COMMIT
		 * in the old view cannot complete a request: at most f replicas
		 * forgot, and at most f others sent no VIEW-CHANGE, fewer than
		 * 2f+1.)
		 */
		nd->vc_view = 0;
		nd->vc_cc_seq = 0;
		nd->poms_seen = 0;		/* fresh counters */
		nd->amnesiac = true;	/* it may sign again what it forgot it signed */
		s->res->stats.amnesia_restarts++;
		sim_trace(s, "restart       R%u from its kept checkpoint %llu only", replica,
				  (unsigned long long) nd->kept_seq);
	}
	else
	{
		zz_replica_restart(nd->replica, s->now);
		sim_trace(s, "restart       R%u", replica);
		if (nd->shim.npend > 0)
			schedule(s, s->now, EV_EXEC_DONE, replica, replica);
		if (nd->shim.inst_pending)	/* (it may have come due while the replica was down) */
			schedule(s, s->now > nd->shim.inst_due ? s->now : nd->shim.inst_due,
					 EV_EXEC_DONE, replica, replica);
	}
	inspect_replica(s, nd);
}

/*
 * A crashed replica restarts as a sidecar on a 0.2 database does: a fresh
 * core resumes at its kept checkpoint and takes back the ORDER-REQs its
 * service executed above it (stored with each batch, here read from the
 * old core's log), in no lower view than it kept before committing to one
 * (zz_replica_resume_history).  Unlike a database, the key-value service
 * cannot hand back the replies it recorded: it is rolled back to the
 * checkpoint and executes the same batches again.  Not amnesiac: it must
 * keep every promise it made (the checker holds it to the step rules).
 */
void
sim_restart_with_history(zz_sim *s, uint32_t replica)
{
	sim_node   *nd = &s->nodes[replica];
	zz_seq		upto,
				until = 0;
	uint32_t	n = 0,
				count;
	zz_buf	   *bufs;
	zz_kept_order *orders;
	zz_replica *fresh;
	bool		ok;

	if (replica >= s->n || !nd->down || nd->byzantine || zz_kv_stable(nd->kv) != nd->kept_seq)
	{
		sim_restart(s, replica, false);
		return;
	}
	nd->down = false;
	upto = zz_kv_last_executed(nd->kv);
	count = upto > nd->kept_seq ? (uint32_t) (upto - nd->kept_seq) : 0;
	bufs = calloc(count + 1, sizeof(zz_buf));
	orders = calloc(count + 1, sizeof(zz_kept_order));
	if (bufs == NULL || orders == NULL)
		abort();
	for (uint32_t i = 0; i < count; i++)
		zz_buf_init(&bufs[i]);
	while (n < count && zz_replica_save_order(nd->replica, nd->kept_seq + 1 + n, &bufs[n]))
	{
		orders[n].buf = bufs[n].data;
		orders[n].len = bufs[n].len;
		n++;
	}
	if (!nd->shim.svc.rollback(nd->shim.svc.ctx, nd->kept_seq))
		abort();
	shim_drop_pending(&nd->shim, 0);
	fresh = zz_replica_create(&s->params, nd->id, nd->crypto, &nd->shim.svc, &nd->io);
	if (fresh == NULL)
		abort();
	zz_replica_free(nd->replica);
	nd->replica = fresh;
	ok = zz_replica_resume_history(fresh, s->now, nd->kept_seq > 0 ? nd->kept.data : NULL,
								   nd->kept.len, orders, n, nd->kept_view, &until);
	for (uint32_t i = 0; i < count; i++)
		zz_buf_free(&bufs[i]);
	free(bufs);
	free(orders);
	if (!ok || until != nd->kept_seq + n)
	{
		zz_checker_fail(s->ck, ZZ_V_RECOVERY, "R%u cannot take back its history %llu .. %llu "
						"(took up to %llu)", nd->id, (unsigned long long) nd->kept_seq + 1,
						(unsigned long long) nd->kept_seq + n, (unsigned long long) until);
		return;
	}
	zz_replica_restart(fresh, s->now);	/* as zyzzyvad does once it may start */
	memset(&nd->seen, 0, sizeof(nd->seen));
	nd->poms_seen = 0;			/* fresh counters */
	s->res->stats.amnesia_restarts++;
	sim_trace(s, "restart       R%u from its kept checkpoint %llu with its history up to %llu",
			  replica, (unsigned long long) nd->kept_seq, (unsigned long long) until);
	inspect_replica(s, nd);
}

/* ------------------------------------------------- the primary crash */

/*
 * The view every correct, running replica is in, in normal mode; false if
 * they are not all there (a view change or a state transfer is going on),
 * or if one has not yet caught up with the others (it restarted from its
 * kept checkpoint, or its service stalled: until it has, it is one of the
 * f faulty, and crashing the primary would make f+1).  An asynchronous
 * service may owe a few batches at any time (SIM_SETTLE_LAG).
 */
static bool
settled_view(zz_sim *s, zz_view *view)
{
	bool		first = true;
	zz_seq		stable = 0,
				ahead = 0,
				behind = UINT64_MAX;

	for (uint32_t i = 0; i < s->n; i++)
	{
		sim_node   *nd = &s->nodes[i];
		zz_replica_status st;

		if (nd->down || nd->byzantine)
			continue;
		zz_replica_get_status(nd->replica, &st);
		if (st.mode != ZZ_MODE_NORMAL || (!first && st.view != *view))
			return false;
		*view = st.view;
		first = false;
		if (st.stable_seq > stable)
			stable = st.stable_seq;
		if (st.last_executed < behind)
			behind = st.last_executed;
		if (st.last_executed > ahead)
			ahead = st.last_executed;
	}
	return !first && behind >= stable && behind + SIM_SETTLE_LAG >= ahead;
}

/*
 * Crash the primary (see the file header).  Waits in 1 ms steps for the
 * correct replicas to settle in one view, for up to SIM_PROBE_TRIES.
 */
static void
primary_crash(zz_sim *s)
{
	zz_view		v = 0;
	zz_forge_config benign;

	if (!settled_view(s, &v) && ++s->probe_tries < SIM_PROBE_TRIES)
	{
		schedule(s, s->now + SIM_MS, EV_PRIMARY_CRASH, 0, 0);
		return;
	}
	for (uint32_t i = 0; i < s->n; i++)
	{
		zz_replica_status st;

		if (s->nodes[i].down || s->nodes[i].byzantine)
			continue;
		zz_replica_get_status(s->nodes[i].replica, &st);
		if (st.view > v)
			v = st.view;
	}
	if (s->cfg.byzantine && !s->nodes[zz_primary_of(&s->params, v)].byzantine)
	{
		/*
		 * f replicas are faulty already (and a liar's state stays wrong
		 * after it turns benign): crashing a correct primary too would be
		 * f+1 faults, more than liveness is promised for.  Probe only a
		 * faulty primary.
		 */
		sim_trace(s, "primary-crash skipped: R%u, primary of view %llu, is correct",
				  zz_primary_of(&s->params, v), (unsigned long long) v);
		s->probe_checked = true;
		return;
	}
	s->probe_started = true;
	s->crash_at = s->now;
	s->crash_view = v;
	s->crash_replica = zz_primary_of(&s->params, v);
	s->res->stats.primary_crashes++;
	sim_trace(s, "primary-crash R%u, primary of view %llu; the others behave from now on",
			  s->crash_replica, (unsigned long long) v);
	sim_crash(s, s->crash_replica);
	memset(&benign, 0, sizeof(benign));
	for (uint32_t i = 0; i < s->n; i++)
		if (s->nodes[i].forger != NULL)
		{
			zz_forger_configure(s->nodes[i].forger, &benign);
			s->nodes[i].shim.lie_ppm = 0;
		}
	for (uint32_t c = 0; c < s->k; c++)
	{
		sim_node   *nd = &s->nodes[s->n + c];

		if (nd->client_faulty)
			continue;
		nd->probe_due = true;
		s->probes_left++;
		if (!zz_client_busy(nd->client))
			schedule(s, s->now + zz_rng_range(&s->rng, 0, 2 * SIM_MS), EV_SUBMIT,
					 nd->idx, nd->idx);
	}
	schedule(s, s->now + 3 * s->params.view_change_timeout, EV_RECOVERY_CHECK, 0xffff, 0xffff);
}

/* After each step of the probe: have all correct replicas moved on? */
static void
watch_recovery(zz_sim *s)
{
	zz_view		v;

	if (!s->probe_started || s->recovered_at != 0)
		return;
	if (settled_view(s, &v) && v > s->crash_view)
	{
		s->recovered_at = s->now;
		if (s->now - s->crash_at > s->res->stats.recovery_max)
			s->res->stats.recovery_max = s->now - s->crash_at;
		sim_trace(s, "recovered     every correct replica in view %llu, %.3f ms after the crash",
				  (unsigned long long) v, (s->now - s->crash_at) / 1e3);
	}
}

/* The 3T bound: the new view at the crash's deadline, a probe at its own. */
static void
recovery_check(zz_sim *s, sim_event *ev)
{
	if (ev->from == 0xffff)
	{
		s->probe_checked = true;
		if (s->recovered_at == 0)
		{
			zz_view		v = 0;
			uint32_t	lag = 0;
			zz_replica_status st;

			memset(&st, 0, sizeof(st));
			for (uint32_t i = 0; i < s->n; i++)
			{
				if (s->nodes[i].down || s->nodes[i].byzantine)
					continue;
				zz_replica_get_status(s->nodes[i].replica, &st);
				if (st.mode != ZZ_MODE_NORMAL || st.view <= s->crash_view)
				{
					lag = i;
					v = st.view;
					break;
				}
			}
			zz_checker_fail(s->ck, ZZ_V_RECOVERY,
							"primary R%u of view %llu crashed at %.6fs; 3T later "
							"correct replica R%u is in view %llu (%s)",
							s->crash_replica, (unsigned long long) s->crash_view,
							s->crash_at / 1e6, lag, (unsigned long long) v,
							st.mode == ZZ_MODE_NORMAL ? "normal" :
							st.mode == ZZ_MODE_VIEW_CHANGE ? "view change" :
							"state transfer");
		}
		return;
	}
	else
	{
		sim_node   *nd = &s->nodes[ev->to];

		if (nd->probe_ts != 0 && nd->probe_deadline <= s->now)
			zz_checker_fail(s->ck, ZZ_V_RECOVERY,
							"client %u's request t=%llu, submitted after primary R%u "
							"crashed at %.6fs, is not complete 3T after its submission",
							nd->id, (unsigned long long) nd->probe_ts, s->crash_replica,
							s->crash_at / 1e6);
	}
}

static void
control(zz_sim *s, sim_event *ev)
{
	sim_node   *nd = &s->nodes[ev->to < s->n + s->k ? ev->to : 0];

	switch ((sim_ev_kind) ev->kind)
	{
		case EV_DELIVER:
			break;
		case EV_SUBMIT:
			if (!zz_client_busy(nd->client))
				client_submit(s, nd);
			break;
		case EV_CRASH:
			if (s->faulty_net)
				sim_crash(s, nd->id);
			break;
		case EV_RESTART:
			sim_restart(s, nd->id, zz_rng_chance(&s->rng, 500000));
			break;
		case EV_PARTITION:
			if (s->faulty_net)
			{
				s->partitioned = ev->to;
				s->res->stats.partitions++;
				sim_trace(s, "partition     replicas %#x cut off", ev->to);
			}
			break;
		case EV_HEAL:
			s->partitioned = 0;
			sim_trace(s, "heal");
			break;
		case EV_CALM:
			s->faulty_net = false;
			s->partitioned = 0;
			sim_trace(s, "calm          faults end; every replica up");
			for (uint32_t r = 0; r < s->n; r++)
			{
				sim_restart(s, r, zz_rng_chance(&s->rng, 500000));
				if (s->nodes[r].shim.stalled)
				{
					s->nodes[r].shim.stalled = false;
					shim_deliver(s, &s->nodes[r]);
				}
			}
			break;
		case EV_PRIMARY_CRASH:
			primary_crash(s);
			break;
		case EV_RECOVERY_CHECK:
			recovery_check(s, ev);
			break;
		case EV_EXEC_DONE:
			shim_deliver(s, nd);
			break;
		case EV_STALL:
			if (s->faulty_net && !nd->shim.stalled)
			{
				nd->shim.stalled = true;
				s->res->stats.stalls++;
				sim_trace(s, "stall         R%u's service stops answering", nd->id);
			}
			break;
		case EV_UNSTALL:
			if (nd->shim.stalled)
			{
				nd->shim.stalled = false;
				sim_trace(s, "unstall       R%u's service answers again", nd->id);
				shim_deliver(s, nd);
			}
			break;
	}
}

/* The up node with the earliest deadline (ties: lowest index). */
static zz_time
next_deadline(zz_sim *s, uint32_t *who)
{
	zz_time		best = UINT64_MAX;

	for (uint32_t i = 0; i < s->n + s->k; i++)
	{
		sim_node   *nd = &s->nodes[i];
		zz_time		d;

		if (nd->down)
			continue;
		d = nd->is_replica ? zz_replica_next_deadline(nd->replica)
			: zz_client_next_deadline(nd->client);
		if (d < best)
		{
			best = d;
			*who = i;
		}
	}
	return best;
}

/*
 * One step: the earliest of the next event and the next node deadline, if
 * it is due at or before limit.
 */
bool
sim_step(zz_sim *s, zz_time limit)
{
	uint32_t	who = 0;
	zz_time		dl = next_deadline(s, &who);
	zz_time		ev = s->hlen ? s->heap[0].at : UINT64_MAX;
	zz_time		t = dl < ev ? dl : ev;

	if (t == UINT64_MAX || t > limit)
		return false;
	if (t > s->now)
		s->now = t;
	s->step++;
	zz_checker_set_clock(s->ck, s->now, s->step);
	if (dl <= ev)
	{
		sim_node   *nd = &s->nodes[who];

		if (nd->is_replica)
		{
			zz_replica_tick(nd->replica, s->now);
			inspect_replica(s, nd);
		}
		else
			zz_client_tick(nd->client, s->now);
	}
	else
	{
		sim_event	e = heap_pop(s);

		if (e.kind == EV_DELIVER)
			deliver(s, &e);
		else
			control(s, &e);
		free(e.buf);
	}
	watch_recovery(s);
	return true;
}

/* The sweep's loop: until the work (and the probe) is done, or a violation. */
static void
sim_loop(zz_sim *s)
{
	zz_time		bound = s->cfg.liveness_bound ? s->cfg.liveness_bound : 10000000;
	uint64_t	max_steps = s->cfg.max_steps ? s->cfg.max_steps : 2000000;
	zz_time		end = UINT64_MAX;

	for (;;)
	{
		zz_time		live = zz_checker_liveness_deadline(s->ck, s->calm, bound);
		zz_time		limit;

		if (end == UINT64_MAX && s->clients_done >= s->clients_correct)
		{
			if (s->cfg.primary_crash && !s->probe_scheduled)
			{
				zz_time		at = s->now > s->calm ? s->now : s->calm;

				s->probe_scheduled = true;
				schedule(s, at + zz_rng_range(&s->rng, 0, s->params.view_change_timeout),
						 EV_PRIMARY_CRASH, 0, 0);
			}
			if (!s->cfg.primary_crash || (s->probe_checked && s->probes_left == 0))
				end = s->now + SIM_DRAIN;
		}
		/*
		 * A liveness deadline comes first; one after the end (a replica
		 * still behind the others' stable checkpoint when the work is
		 * done) holds the end back until it is met or missed.
		 */
		limit = live != UINT64_MAX ? live + 1 : end;
		if (s->step >= max_steps)
		{
			zz_checker_fail(s->ck, ZZ_V_STEP_LIMIT, "no end after %llu steps",
							(unsigned long long) max_steps);
			break;
		}
		if (!sim_step(s, limit))
		{
			if (limit == end)
				break;
			s->now = limit;		/* a liveness deadline with nothing else due */
		}
		zz_checker_liveness(s->ck, s->now, s->calm, bound);
		if (zz_checker_violations(s->ck))
			return;
	}
	if (!zz_checker_violations(s->ck))
		zz_checker_finish(s->ck);
}

/* Sum the nodes' own counters into the result. */
void
sim_collect_stats(zz_sim *s)
{
	zz_sim_stats *st = &s->res->stats;

	st->seeds = 1;
	st->steps = s->step;
	st->sim_time = s->now;
	for (uint32_t i = 0; i < s->n + s->k; i++)
	{
		sim_node   *nd = &s->nodes[i];

		if (nd->is_replica)
		{
			const zz_replica_stats *r = zz_replica_get_stats(nd->replica);
			zz_replica_status rs;

			zz_replica_get_status(nd->replica, &rs);
			if (rs.view > st->views)
				st->views = rs.view;
			st->fill_holes += r->fill_holes;
			st->confirm_reqs += r->confirm_reqs;
			st->checkpoints_stable += r->checkpoints_stable;
			st->view_changes += r->view_changes;
			st->rollbacks += r->rollbacks;
			st->state_transfers += r->state_transfers;
			st->catchup_runs += r->catchup_runs;
			st->catchup_batches += r->catchup_batches;
			st->catchup_refusals += r->catchup_refusals;
			st->cached_replies += r->cached_replies;
			st->poms_replica += r->poms;
			st->i_hates += r->i_hates;
		}
		else
		{
			const zz_client_stats *c = zz_client_get_stats(nd->client);

			st->submitted += c->submitted;
			st->completed_fast += c->completed_fast;
			st->completed_commit += c->completed_commit;
			st->retransmissions += c->retransmissions;
			st->commits_sent += c->commits_sent;
			st->poms_sent += c->poms_sent;
		}
	}
}

bool
zz_sim_run(const zz_sim_config *cfg, uint64_t seed, zz_sim_result *res)
{
	zz_sim	   *s = sim_create(cfg, seed, res);
	const char *first;

	if (!sim_setup(s))
	{
		snprintf(res->first, sizeof(res->first), "set-up failed (f=%u)", cfg->f);
		res->violations = ZZ_V_STEP_LIMIT;
		sim_destroy(s);
		return false;
	}
	sim_loop(s);
	for (uint32_t i = 0; i < s->n && s->cfg.trace != NULL; i++)
	{
		zz_replica_status st;
		zz_time		dl = zz_replica_next_deadline(s->nodes[i].replica);

		zz_replica_get_status(s->nodes[i].replica, &st);
		sim_trace(s, "end           R%u%s%s view %llu mode %d max_seq %llu executed %llu "
				  "stable %llu next deadline %.6fs", i, s->nodes[i].byzantine ? " (faulty)" : "",
				  s->nodes[i].down ? " (down)" : "", (unsigned long long) st.view, (int) st.mode,
				  (unsigned long long) st.max_seq, (unsigned long long) st.last_executed,
				  (unsigned long long) st.stable_seq, dl == UINT64_MAX ? -1.0 : dl / 1e6);
	}
	sim_collect_stats(s);
	res->violations = zz_checker_violations(s->ck);
	first = zz_checker_first(s->ck, &res->first_step, &res->first_time);
	snprintf(res->first, sizeof(res->first), "%s", first);
	res->event_hash = s->hash;
	sim_destroy(s);
	return res->violations == 0;
}

/* ------------------------------------------------------------- helpers */

void
zz_sim_config_default(zz_sim_config *cfg, uint32_t f)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->f = f;
	cfg->crypto = ZZ_CRYPTO_SYMBOLIC;
	cfg->faults = true;
	cfg->primary_crash = true;
}

/* Add one run's stats into a sweep's: sums, then maxima (see sim.h). */
void
zz_sim_stats_add(zz_sim_stats *sum, const zz_sim_stats *one)
{
	const uint64_t *src = (const uint64_t *) one;
	uint64_t   *dst = (uint64_t *) sum;
	size_t		nsum = offsetof(zz_sim_stats, recovery_max) / sizeof(uint64_t);

	for (size_t i = 0; i < nsum; i++)
		dst[i] += src[i];
	for (size_t i = nsum; i < sizeof(zz_sim_stats) / sizeof(uint64_t); i++)
		if (src[i] > dst[i])
			dst[i] = src[i];
}

const char *
zz_sim_plant_name(zz_sim_plant p)
{
	switch (p)
	{
		case ZZ_PLANT_NONE:
			return "none";
		case ZZ_PLANT_CLIENT_2F:
			return "client-2f";
		case ZZ_PLANT_BAD_HISTORY:
			return "bad-history";
		case ZZ_PLANT_SKIP_DEDUP:
			return "skip-dedup";
		case ZZ_PLANT_NO_HATE:
			return "no-hate";
	}
	return "?";
}

bool
zz_sim_plant_parse(const char *str, zz_sim_plant *out)
{
	for (int p = ZZ_PLANT_NONE; p <= ZZ_PLANT_NO_HATE; p++)
		if (strcmp(str, zz_sim_plant_name((zz_sim_plant) p)) == 0)
		{
			*out = (zz_sim_plant) p;
			return true;
		}
	return false;
}

void
zz_sim_replay_command(const zz_sim_config *cfg, uint64_t seed, char *out, size_t cap)
{
	int			o;

	o = snprintf(out, cap, "./build/zyzzyva-sim --seed %llu --f %u",
				 (unsigned long long) seed, cfg->f);
	if (cfg->byzantine && o > 0 && (size_t) o < cap)
		o += snprintf(out + o, cap - o, " --byzantine");
	if (cfg->crypto == ZZ_CRYPTO_REAL && o > 0 && (size_t) o < cap)
		o += snprintf(out + o, cap - o, " --real-crypto");
	if (cfg->plant != ZZ_PLANT_NONE && o > 0 && (size_t) o < cap)
		o += snprintf(out + o, cap - o, " --plant %s%s", zz_sim_plant_name(cfg->plant),
					  cfg->plant_control ? " --plant-control" : "");
	if (!cfg->faults && o > 0 && (size_t) o < cap)
		o += snprintf(out + o, cap - o, " --no-faults");
	if (!cfg->primary_crash && o > 0 && (size_t) o < cap)
		o += snprintf(out + o, cap - o, " --no-primary-crash");
	if (cfg->clients && o > 0 && (size_t) o < cap)
		o += snprintf(out + o, cap - o, " --clients %u", cfg->clients);
	if (cfg->requests && o > 0 && (size_t) o < cap)
		o += snprintf(out + o, cap - o, " --requests %u", cfg->requests);
	if (o > 0 && (size_t) o < cap)
		snprintf(out + o, cap - o, " --trace");
}
