/*
 * sim.c
 *	  The deterministic simulator (see sim.h): the world, its network, its
 *	  fault schedule, its workload and the step loop.
 *
 * Every node gets a zz_io whose hooks copy each message into a binary heap
 * of pending deliveries keyed by (time, insertion counter).  A step takes
 * whichever comes first, the next heap event or the earliest node
 * deadline, advances simulated time to it and calls into the core.  After
 * the step the node it touched is inspected and the checker updated.
 * The only randomness is the seeded zz_rng; the core itself is
 * deterministic, so one seed is one run.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"
#include "client.h"
#include "forge.h"
#include "kvservice.h"
#include "message.h"
#include "replica.h"
#include "rng.h"
#include "sim.h"

#define SIM_MAX_CLIENTS		8
#define SIM_MAX_NODES		(ZZ_MAX_N + SIM_MAX_CLIENTS)
#define SIM_DRAIN			300000	/* us the cluster runs on after the work */
#define SIM_MS				1000

typedef enum sim_ev_kind
{
	EV_DELIVER,
	EV_SUBMIT,
	EV_CRASH,
	EV_RESTART,
	EV_PARTITION,
	EV_HEAL,
	EV_CALM
} sim_ev_kind;

typedef struct sim_event
{
	zz_time		at;
	uint64_t	order;			/* tiebreak: insertion order */
	uint8_t		kind;
	uint16_t	from;
	uint16_t	to;				/* node index, or the replica mask of a partition */
	uint8_t    *buf;
	size_t		len;
} sim_event;

struct zz_sim;

/*
 * The service a simulated replica runs: the KV service behind a shim that
 * reports every execution, rollback and install of a correct replica to
 * the checker, and makes a faulty replica lie in its replies.
 */
typedef struct sim_shim
{
	zz_service	svc;
	const zz_service *inner;
	struct zz_sim *sim;
	uint32_t	replica;
	uint32_t	lie_ppm;		/* faulty: chance to corrupt each reply */
} sim_shim;

typedef struct sim_node
{
	struct zz_sim *sim;
	uint32_t	idx;			/* replicas 0..n-1, clients n..n+k-1 */
	uint32_t	id;				/* replica or client id */
	bool		is_replica;
	zz_crypto  *crypto;
	zz_io		io;
	bool		down;

	/* replica */
	zz_replica *replica;
	zz_kvservice *kv;
	sim_shim	shim;
	bool		byzantine;
	zz_forger  *forger;
	zz_replica_status seen;		/* status at the last inspection */
	zz_view		vc_view;		/* highest VIEW-CHANGE it sent */
	zz_seq		vc_cc_seq;		/* what that VIEW-CHANGE certified */

	/* client */
	zz_client  *client;
	bool		client_faulty;
	uint32_t	quota;
	uint32_t	submitted;
	uint32_t	completed;
} sim_node;

typedef struct zz_sim
{
	zz_sim_config cfg;
	uint64_t	seed;
	zz_rng		rng;
	zz_params	params;
	uint32_t	n;
	uint32_t	k;
	sim_node	nodes[SIM_MAX_NODES];
	zz_keyset  *ks;
	zz_checker *ck;

	sim_event  *heap;
	size_t		hlen;
	size_t		hcap;
	uint64_t	order;

	zz_time		now;
	uint64_t	step;
	zz_time		calm;			/* end of the fault period */
	bool		faulty_net;		/* still inside it */
	uint32_t	partitioned;	/* replicas cut off from everyone else */
	uint32_t	loss_ppm;
	uint32_t	dup_ppm;
	uint32_t	long_ppm;
	zz_time		long_max;
	uint32_t	clients_done;
	uint32_t	clients_correct;
	zz_sim_result *res;
	uint64_t	hash;
} zz_sim;

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

static void
trace(zz_sim *s, const char *fmt,...)
	__attribute__((format(printf, 2, 3)));

static void
trace(zz_sim *s, const char *fmt,...)
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

static const char *
node_name(const zz_sim *s, uint32_t idx, char *buf)
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
	trace(s, "%-13s %s -> %s  %s", what, node_name(s, from, a), node_name(s, to, b), msg);
}

static void
io_trace(void *ctx, const char *line)
{
	sim_node   *nd = ctx;

	trace(nd->sim, "              %s", line);
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
	}
}

/*
 * A node sends: apply Byzantine rewriting, partitions, loss, duplication
 * and delay, and queue what survives.  The bytes are copied.
 */
static void
sim_send(zz_sim *s, sim_node *from, uint32_t to, const uint8_t *buf, size_t len)
{
	uint8_t    *forged = NULL;
	size_t		flen = 0;
	int			copies = 1;

	if (to >= s->n + s->k || to == from->idx)
		return;
	if (from->is_replica && !from->byzantine)
		watch_replica_send(s, from, buf, len);
	if (from->forger != NULL && to < s->n &&
		(forged = zz_forger_rewrite(from->forger, to, buf, len, &flen)) != NULL)
	{
		s->res->stats.forged++;
		buf = forged;
		len = flen;
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
			free(forged);
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
		sim_event	ev;
		zz_time		delay = zz_rng_range(&s->rng, 50, 500);

		if (s->faulty_net && zz_rng_chance(&s->rng, s->long_ppm))
			delay = zz_rng_range(&s->rng, SIM_MS, s->long_max);
		memset(&ev, 0, sizeof(ev));
		ev.at = s->now + delay;
		ev.kind = EV_DELIVER;
		ev.from = (uint16_t) from->idx;
		ev.to = (uint16_t) to;
		ev.len = len;
		if (c == 0 && forged != NULL)
		{
			ev.buf = forged;
			forged = NULL;
		}
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
	free(forged);
}

static void
io_to_replica(void *ctx, uint32_t replica, const uint8_t *buf, size_t len)
{
	sim_node   *nd = ctx;

	if (replica < nd->sim->n)
		sim_send(nd->sim, nd, replica, buf, len);
}

static void
io_to_client(void *ctx, uint32_t client, const uint8_t *buf, size_t len)
{
	sim_node   *nd = ctx;

	if (client < nd->sim->k)
		sim_send(nd->sim, nd, nd->sim->n + client, buf, len);
}

/* ------------------------------------------------- the recording shim */

static zz_exec_status
shim_execute(void *ctx, zz_seq seq, uint64_t nd_time, uint64_t nd_seed,
			 const zz_op *ops, uint32_t count, bool want_digest, zz_exec_result *res)
{
	sim_shim   *sh = ctx;
	zz_exec_status st = sh->inner->execute(sh->inner->ctx, seq, nd_time, nd_seed,
										   ops, count, want_digest, res);

	if (st != ZZ_EXEC_DONE)
		return st;
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
	return st;
}

static bool
shim_rollback(void *ctx, zz_seq seq)
{
	sim_shim   *sh = ctx;

	if (!sh->inner->rollback(sh->inner->ctx, seq))
		return false;
	zz_checker_rolled_back(sh->sim->ck, sh->replica, seq);
	return true;
}

static void
shim_mark_stable(void *ctx, zz_seq seq)
{
	sim_shim   *sh = ctx;

	sh->inner->mark_stable(sh->inner->ctx, seq);
}

static bool
shim_snapshot(void *ctx, zz_seq seq, uint8_t **out, size_t *outlen)
{
	sim_shim   *sh = ctx;

	return sh->inner->snapshot(sh->inner->ctx, seq, out, outlen);
}

static bool
shim_install(void *ctx, zz_seq seq, const uint8_t *data, size_t len,
			 const zz_digest *expect)
{
	sim_shim   *sh = ctx;

	if (!sh->inner->install(sh->inner->ctx, seq, data, len, expect))
		return false;
	zz_checker_installed(sh->sim->ck, sh->replica, seq);
	return true;
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

static void
client_submit(zz_sim *s, sim_node *nd)
{
	char		op[64];
	uint32_t	len = random_op(s, op, sizeof(op));
	uint64_t	ts = zz_client_submit(nd->client, s->now, (const uint8_t *) op, len);

	if (ts == 0)
	{
		zz_checker_fail(s->ck, ZZ_V_LIVENESS, "client %u refused a submission", nd->id);
		return;
	}
	nd->submitted++;
	zz_checker_submitted(s->ck, nd->id, ts, s->now);
	trace(s, "submit        C%u t=%llu \"%s\"", nd->id, (unsigned long long) ts, op);
}

static void
client_done(void *ctx, uint32_t client, const zz_completion *c)
{
	sim_node   *nd = ctx;
	zz_sim	   *s = nd->sim;

	zz_checker_completed(s->ck, client, c);
	nd->completed++;
	trace(s, "complete      C%u t=%llu n=%llu %s reply=\"%.*s\"", client,
		  (unsigned long long) c->timestamp, (unsigned long long) c->seq,
		  c->path == ZZ_PATH_FAST ? "fast" : "commit",
		  (int) (c->reply_len < 40 ? c->reply_len : 40), (const char *) c->reply);
	if (nd->submitted < nd->quota)
		schedule(s, s->now + zz_rng_range(&s->rng, 0, 4 * SIM_MS), EV_SUBMIT, nd->idx, nd->idx);
	else if (!nd->client_faulty)
		s->clients_done++;
}

/* ------------------------------------------------------------- set-up */

static zz_forge_mode
random_forge_mode(zz_sim *s)
{
	static const zz_forge_mode modes[] = {
		ZZ_FORGE_NONE, ZZ_FORGE_DUPLICATE, ZZ_FORGE_DROP, ZZ_FORGE_ND,
		ZZ_FORGE_BAD_HISTORY
	};

	return modes[zz_rng_below(&s->rng, 5)];
}

/*
 * Decide the Byzantine cast: which replicas misbehave and how, which
 * client is faulty, and the planted bugs.  Returns the mask of Byzantine
 * replicas (they also make up the crash/partition set).
 */
static uint32_t
cast_byzantine(zz_sim *s, unsigned *replica_bugs, unsigned *client_bugs)
{
	uint32_t	byz = 0;
	uint32_t	nbyz;

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
		case ZZ_PLANT_NONE:
			break;
	}
	if (s->cfg.plant != ZZ_PLANT_NONE)
	{
		/* The scenario: replica 0, the first primary, is the faulty one. */
		if (s->cfg.plant_control)
			*replica_bugs = *client_bugs = 0;
		return 1u;
	}
	if (!s->cfg.byzantine)
		return 0;
	nbyz = (uint32_t) zz_rng_range(&s->rng, 1, s->params.f);
	if (zz_rng_below(&s->rng, 2) == 0)
		byz |= 1u;				/* the first primary, half the time */
	while ((uint32_t) __builtin_popcount(byz) < nbyz)
		byz |= 1u << zz_rng_below(&s->rng, s->n);
	return byz;
}

/* Set up a replica's misbehaviour (plants first, else drawn). */
static void
make_byzantine(zz_sim *s, sim_node *nd)
{
	zz_forge_mode mode = ZZ_FORGE_NONE;
	uint32_t	victims = 0;
	zz_seq		fork_at = zz_rng_range(&s->rng, 2, 8);
	bool		lie_cp = false;
	zz_vc_lie	vc_lie = ZZ_VC_HONEST;

	nd->byzantine = true;
	zz_checker_set_faulty_replica(s->ck, nd->id);
	switch (s->cfg.plant)
	{
		case ZZ_PLANT_CLIENT_2F:
			mode = ZZ_FORGE_DROP;
			for (uint32_t i = s->n - 2 * s->params.f; i < s->n; i++)
				victims |= 1u << i;
			break;
		case ZZ_PLANT_BAD_HISTORY:
			mode = ZZ_FORGE_BAD_HISTORY;
			victims = 1u << 1;
			break;
		case ZZ_PLANT_SKIP_DEDUP:
			mode = ZZ_FORGE_DUPLICATE;
			victims = ~0u;
			break;
		case ZZ_PLANT_NONE:
			mode = random_forge_mode(s);
			while ((victims & ~(1u << nd->id) & ((1u << s->n) - 1)) == 0)
				victims = (uint32_t) zz_rng_next(&s->rng);
			fork_at = zz_rng_range(&s->rng, 2, 30);
			lie_cp = zz_rng_below(&s->rng, 3) == 0;
			vc_lie = (zz_vc_lie) zz_rng_below(&s->rng, 3);
			if (zz_rng_below(&s->rng, 2) == 0)
				nd->shim.lie_ppm = (uint32_t) zz_rng_range(&s->rng, 1000, 300000);
			break;
	}
	nd->forger = zz_forger_create(&s->params, nd->id, nd->crypto, mode, victims,
								  nd->id, fork_at, lie_cp, vc_lie);
	trace(s, "byzantine     R%u forge=%s victims=%#x fork_at=%llu lie_cp=%d lie_ppm=%u vc=%s",
		  nd->id, zz_forge_mode_name(mode), victims & ((1u << s->n) - 1),
		  (unsigned long long) fork_at, lie_cp, nd->shim.lie_ppm, zz_vc_lie_name(vc_lie));
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

static bool
sim_setup(zz_sim *s)
{
	static const uint32_t cps[] = {8, 16, 32, 128};
	static const uint32_t batches[] = {1, 4, 16, 64};
	unsigned	replica_bugs,
				client_bugs;
	uint32_t	byz;

	zz_rng_seed(&s->rng, s->seed);
	if (!zz_params_default(&s->params, s->cfg.f))
		return false;
	s->params.cp_interval = cps[zz_rng_below(&s->rng, 4)];
	s->params.batch_max = batches[zz_rng_below(&s->rng, 4)];
	s->n = s->params.n;
	s->k = s->cfg.clients ? s->cfg.clients : (uint32_t) zz_rng_range(&s->rng, 2, 5);
	if (s->k > SIM_MAX_CLIENTS)
		s->k = SIM_MAX_CLIENTS;
	s->ks = zz_keyset_from_seed(s->cfg.crypto, s->n, s->k, s->seed);
	s->ck = zz_checker_create(s->n, s->k);
	if (s->ks == NULL || s->ck == NULL)
		return false;
	zz_checker_set_trace(s->ck, s->cfg.trace, s->cfg.trace_ctx);
	byz = cast_byzantine(s, &replica_bugs, &client_bugs);
	trace(s, "seed %llu: f=%u n=%u clients=%u cp_interval=%u batch_max=%u",
		  (unsigned long long) s->seed, s->params.f, s->n, s->k,
		  s->params.cp_interval, s->params.batch_max);

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
			if (byz & (1u << i))
				make_byzantine(s, nd);
			nd->replica = zz_replica_create(&s->params, nd->id, nd->crypto,
											&nd->shim.svc, &nd->io);
			if (nd->replica == NULL)
				return false;
			if (!nd->byzantine && replica_bugs)
				zz_replica_set_bugs(nd->replica, replica_bugs);
		}
		else
		{
			nd->client = zz_client_create(&s->params, nd->id, nd->crypto, &nd->io,
										  client_done, nd);
			if (nd->client == NULL)
				return false;
			nd->quota = s->cfg.requests ? s->cfg.requests
				: (uint32_t) zz_rng_range(&s->rng, 30, 60);
			if (client_bugs)
				zz_client_set_bugs(nd->client, client_bugs);
			else if (s->cfg.byzantine && nd->id == s->k - 1 && s->k >= 3)
			{
				static const unsigned bad[] = {
					ZZ_CLIENT_BUG_NEVER_COMMIT, ZZ_CLIENT_BUG_REUSE_TIMESTAMP,
					ZZ_CLIENT_BUG_BAD_CC
				};

				nd->client_faulty = true;
				zz_checker_set_faulty_client(s->ck, nd->id);
				zz_client_set_bugs(nd->client, bad[zz_rng_below(&s->rng, 3)]);
			}
			if (!nd->client_faulty)
				s->clients_correct++;
			schedule(s, zz_rng_range(&s->rng, 0, 2 * SIM_MS), EV_SUBMIT, i, i);
		}
	}
	draw_faults(s, byz);
	trace(s, "faults: calm at %.3fs loss=%.1f%% dup=%.1f%% long=%.1f%% (<= %llums)",
		  s->calm / 1e6, s->loss_ppm / 1e4, s->dup_ppm / 1e4, s->long_ppm / 1e4,
		  (unsigned long long) (s->long_max / SIM_MS));
	return true;
}

static void
sim_teardown(zz_sim *s)
{
	for (uint32_t i = 0; i < s->n + s->k; i++)
	{
		sim_node   *nd = &s->nodes[i];

		if (nd->replica)
			zz_replica_free(nd->replica);
		if (nd->client)
			zz_client_free(nd->client);
		zz_kv_free(nd->kv);
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
	if (st.view == nd->seen.view && st.mode == nd->seen.mode &&
		st.max_seq == nd->seen.max_seq && st.last_executed == nd->seen.last_executed &&
		st.committed == nd->seen.committed && st.stable_seq == nd->seen.stable_seq &&
		memcmp(&st.history, &nd->seen.history, sizeof(zz_digest)) == 0)
		return;
	nd->seen = st;
	if (nd->byzantine)
		return;
	zz_checker_visit_begin(s->ck, nd->id);
	zz_replica_visit_history(nd->replica, visit_entry, nd);
	if (st.stable_seq > 0)
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
		zz_replica_receive(to->replica, s->now, ev->buf, ev->len);
		inspect_replica(s, to);
	}
	else
		zz_client_receive(to->client, s->now, ev->buf, ev->len);
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
			client_submit(s, nd);
			break;
		case EV_CRASH:
			if (!nd->down && s->faulty_net)
			{
				nd->down = true;
				s->res->stats.crashes++;
				trace(s, "crash         R%u", nd->id);
			}
			break;
		case EV_RESTART:
			if (nd->down)
			{
				nd->down = false;
				zz_replica_restart(nd->replica, s->now);
				trace(s, "restart       R%u", nd->id);
				inspect_replica(s, nd);
			}
			break;
		case EV_PARTITION:
			if (s->faulty_net)
			{
				s->partitioned = ev->to;
				s->res->stats.partitions++;
				trace(s, "partition     replicas %#x cut off", ev->to);
			}
			break;
		case EV_HEAL:
			s->partitioned = 0;
			trace(s, "heal");
			break;
		case EV_CALM:
			s->faulty_net = false;
			s->partitioned = 0;
			trace(s, "calm          faults end; every replica up");
			for (uint32_t r = 0; r < s->n; r++)
				if (s->nodes[r].down)
				{
					s->nodes[r].down = false;
					zz_replica_restart(s->nodes[r].replica, s->now);
					inspect_replica(s, &s->nodes[r]);
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

static void
sim_loop(zz_sim *s)
{
	zz_time		bound = s->cfg.liveness_bound ? s->cfg.liveness_bound : 10000000;
	uint64_t	max_steps = s->cfg.max_steps ? s->cfg.max_steps : 2000000;
	zz_time		end = UINT64_MAX;

	for (;;)
	{
		uint32_t	who = 0;
		zz_time		dl = next_deadline(s, &who);
		zz_time		ev = s->hlen ? s->heap[0].at : UINT64_MAX;
		zz_time		live = zz_checker_liveness_deadline(s->ck, s->calm, bound);
		zz_time		t;

		if (end == UINT64_MAX && s->clients_done >= s->clients_correct)
			end = s->now + SIM_DRAIN;
		t = dl < ev ? dl : ev;
		if (live != UINT64_MAX && live + 1 < t)
			t = live + 1;
		if (t == UINT64_MAX || t > end)
			break;
		if (t > s->now)
			s->now = t;
		s->step++;
		zz_checker_set_clock(s->ck, s->now, s->step);
		if (s->step > max_steps)
		{
			zz_checker_fail(s->ck, ZZ_V_STEP_LIMIT, "no end after %llu steps",
							(unsigned long long) max_steps);
			break;
		}
		if (dl <= ev && dl <= t)
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
		else if (ev <= t)
		{
			sim_event	e = heap_pop(s);

			if (e.kind == EV_DELIVER)
				deliver(s, &e);
			else
				control(s, &e);
			free(e.buf);
		}
		zz_checker_liveness(s->ck, s->now, s->calm, bound);
		if (zz_checker_violations(s->ck))
			return;
	}
	if (!zz_checker_violations(s->ck))
		zz_checker_finish(s->ck);
}

/* Sum the nodes' own counters into the result. */
static void
collect_stats(zz_sim *s)
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

			st->fill_holes += r->fill_holes;
			st->confirm_reqs += r->confirm_reqs;
			st->checkpoints_stable += r->checkpoints_stable;
			st->view_changes += r->view_changes;
			st->rollbacks += r->rollbacks;
			st->state_transfers += r->state_transfers;
			st->cached_replies += r->cached_replies;
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
	zz_sim	   *s = calloc(1, sizeof(zz_sim));
	const char *first;

	memset(res, 0, sizeof(*res));
	if (s == NULL)
		abort();
	s->cfg = *cfg;
	s->seed = seed;
	s->res = res;
	s->hash = 1469598103934665603ULL;
	if (!sim_setup(s))
	{
		snprintf(res->first, sizeof(res->first), "set-up failed (f=%u)", cfg->f);
		res->violations = ZZ_V_STEP_LIMIT;
		sim_teardown(s);
		free(s);
		return false;
	}
	sim_loop(s);
	collect_stats(s);
	res->violations = zz_checker_violations(s->ck);
	first = zz_checker_first(s->ck, &res->first_step, &res->first_time);
	snprintf(res->first, sizeof(res->first), "%s", first);
	res->event_hash = s->hash;
	sim_teardown(s);
	free(s);
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
}

void
zz_sim_stats_add(zz_sim_stats *sum, const zz_sim_stats *one)
{
	const uint64_t *src = (const uint64_t *) one;
	uint64_t   *dst = (uint64_t *) sum;

	/* Every field is a 64-bit counter. */
	for (size_t i = 0; i < sizeof(zz_sim_stats) / sizeof(uint64_t); i++)
		dst[i] += src[i];
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
	}
	return "?";
}

bool
zz_sim_plant_parse(const char *str, zz_sim_plant *out)
{
	for (int p = ZZ_PLANT_NONE; p <= ZZ_PLANT_SKIP_DEDUP; p++)
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
	if (cfg->clients && o > 0 && (size_t) o < cap)
		o += snprintf(out + o, cap - o, " --clients %u", cfg->clients);
	if (cfg->requests && o > 0 && (size_t) o < cap)
		o += snprintf(out + o, cap - o, " --requests %u", cfg->requests);
	if (o > 0 && (size_t) o < cap)
		snprintf(out + o, cap - o, " --trace");
}
