/*
 * checker.c
 *	  The simulator's invariant checker (see checker.h for the invariants).
 *
 * State, all indexed so that each feed costs O(1) or O(batch):
 *	- per sequence number, globally: the agreed h (from completions and
 *	  committed entries), the distinct h values correct replicas hold there
 *	  with the h they sit on, the stable checkpoint digest, and the
 *	  completions at that seq;
 *	- per correct replica and seq: the requests its service executed there
 *	  (client, timestamp, reply hash) and the h it reported there, plus a
 *	  map (client, timestamp) -> seq of its live executions;
 *	- per completion: what completed, and whether a correct replica has
 *	  been seen producing the same reply at the same (seq, h).
 */
#include "checker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK_MAX_SEQ		(1u << 24)	/* beyond this a seq is not tracked */
#define CK_VARIANTS		4		/* distinct h per seq tracked for the chain */

/* ------------------------------------------------------------ u64 map */

/*
 * A small open-addressing map from (client, timestamp) keys to values,
 * linear probing with backward-shift deletion.  Key 0 marks a free slot,
 * so keys are stored plus one.
 */
typedef struct ck_map
{
	uint64_t   *keys;
	uint64_t   *vals;
	uint32_t	cap;
	uint32_t	used;
} ck_map;

static uint64_t
ck_key(uint32_t client, uint64_t ts)
{
	return (((uint64_t) client << 40) ^ ts) + 1;
}

static uint32_t
map_home(const ck_map *m, uint64_t key)
{
	uint64_t	x = key * 0x9e3779b97f4a7c15ULL;

	return (uint32_t) (x >> 32) & (m->cap - 1);
}

static void map_put(ck_map *m, uint64_t key, uint64_t val);

static void
map_grow(ck_map *m)
{
	ck_map		old = *m;

	m->cap = old.cap ? old.cap * 2 : 64;
	m->used = 0;
	m->keys = calloc(m->cap, sizeof(uint64_t));
	m->vals = calloc(m->cap, sizeof(uint64_t));
	if (m->keys == NULL || m->vals == NULL)
		abort();
	for (uint32_t i = 0; i < old.cap; i++)
		if (old.keys[i])
			map_put(m, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
}

static void
map_put(ck_map *m, uint64_t key, uint64_t val)
{
	uint32_t	i;

	if (2 * (m->used + 1) > m->cap)
		map_grow(m);
	for (i = map_home(m, key); m->keys[i] && m->keys[i] != key; i = (i + 1) & (m->cap - 1))
		;
	if (!m->keys[i])
		m->used++;
	m->keys[i] = key;
	m->vals[i] = val;
}

static bool
map_get(const ck_map *m, uint64_t key, uint64_t *val)
{
	if (m->cap == 0)
		return false;
	for (uint32_t i = map_home(m, key); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key)
		{
			*val = m->vals[i];
			return true;
		}
	return false;
}

static void
map_del(ck_map *m, uint64_t key)
{
	uint32_t	i,
				j;

	if (m->cap == 0)
		return;
	for (i = map_home(m, key); m->keys[i] != key; i = (i + 1) & (m->cap - 1))
		if (!m->keys[i])
			return;
	/* Backward shift: pull later members of the cluster into the hole. */
	for (j = (i + 1) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1))
	{
		uint32_t	h = map_home(m, m->keys[j]);

		if (((j - h) & (m->cap - 1)) >= ((j - i) & (m->cap - 1)))
		{
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->used--;
}

static void
map_clear(ck_map *m)
{
	if (m->cap)
	{
		memset(m->keys, 0, m->cap * sizeof(uint64_t));
		m->used = 0;
	}
}

static void
map_free(ck_map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------ the state */

typedef struct ck_variant
{
	zz_digest	h;
	zz_digest	prev;			/* the h at seq - 1 it was seen on */
	uint32_t	replica;
} ck_variant;

typedef struct ck_gseq
{
	bool		agreed;
	zz_digest	h;
	char		src[48];		/* who fixed it, for messages */
	uint8_t		nvar;
	ck_variant	var[CK_VARIANTS];
	bool		has_cp;
	zz_digest	cp;
	uint32_t	cp_replica;
	uint32_t	ncomp;
	uint32_t	compcap;
	uint32_t   *comp;			/* indices into ck->comps */
} ck_gseq;

typedef struct ck_exec
{
	uint32_t	client;
	uint64_t	ts;
	uint64_t	rhash;
	uint32_t	rlen;
} ck_exec;

typedef struct ck_rseq
{
	ck_exec    *ex;
	uint32_t	n;
	uint32_t	cap;
	bool		has_h;
	bool		chained;
	bool		committed_checked;
	bool		validated;
	zz_digest	h;
} ck_rseq;

typedef struct ck_replica
{
	bool		faulty;
	ck_rseq    *seqs;
	zz_seq		cap;
	zz_seq		top;			/* highest seq with executions */
	ck_map		live;			/* (client, ts) -> seq */
	bool		have_prev;		/* within a visit */
	zz_seq		prev_seq;
	zz_digest	prev_h;
	bool		down;			/* crashed: held to nothing until it is back */
	zz_seq		stable;			/* its stable checkpoint, as last reported */
	zz_seq		certified;		/* its highest certified checkpoint, likewise */
	zz_seq		lag_target;		/* a higher one of another correct replica */
	zz_time		lag_since;		/* ... that it has been behind since */
} ck_replica;

typedef struct ck_comp
{
	uint32_t	client;
	uint64_t	ts;
	zz_seq		seq;
	zz_digest	h;
	uint64_t	rhash;
	uint32_t	rlen;
	bool		witnessed;
} ck_comp;

typedef struct ck_client
{
	bool		faulty;
	bool		outstanding;
	uint64_t	ts;
	zz_time		since;
} ck_client;

struct zz_checker
{
	uint32_t	n;
	uint32_t	nclients;
	ck_replica *reps;
	ck_client  *clients;
	ck_gseq    *gseqs;
	zz_seq		gcap;
	ck_comp    *comps;
	uint32_t	ncomps;
	uint32_t	compcap;
	ck_map		completed;		/* (client, ts) -> index + 1 into comps */

	zz_time		now;
	uint64_t	step;
	unsigned	violations;
	uint64_t	nviolations;
	char		first[512];
	uint64_t	first_step;
	zz_time		first_time;
	zz_sim_trace_fn trace;
	void	   *trace_ctx;
};

/* FNV-1a: replies are compared by hash and length. */
static uint64_t
reply_hash(const uint8_t *p, uint32_t len)
{
	uint64_t	h = 1469598103934665603ULL;

	for (uint32_t i = 0; i < len; i++)
	{
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static bool
dig_eq(const zz_digest *a, const zz_digest *b)
{
	return memcmp(a->b, b->b, ZZ_DIGEST_LEN) == 0;
}

/* The first 6 bytes of a digest in hex, for messages. */
static const char *
short_hex(const zz_digest *d, char *buf)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 6; i++)
	{
		buf[2 * i] = hex[d->b[i] >> 4];
		buf[2 * i + 1] = hex[d->b[i] & 15];
	}
	buf[12] = '\0';
	return buf;
}

zz_checker *
zz_checker_create(uint32_t n_replicas, uint32_t n_clients)
{
	zz_checker *ck = calloc(1, sizeof(zz_checker));

	if (ck == NULL)
		return NULL;
	ck->n = n_replicas;
	ck->nclients = n_clients;
	ck->reps = calloc(n_replicas, sizeof(ck_replica));
	ck->clients = calloc(n_clients ? n_clients : 1, sizeof(ck_client));
	if (ck->reps == NULL || ck->clients == NULL)
	{
		zz_checker_free(ck);
		return NULL;
	}
	return ck;
}

static void
rseq_clear(ck_rseq *rs)
{
	free(rs->ex);
	memset(rs, 0, sizeof(*rs));
}

void
zz_checker_free(zz_checker *ck)
{
	if (ck == NULL)
		return;
	for (uint32_t r = 0; ck->reps && r < ck->n; r++)
	{
		for (zz_seq s = 0; s < ck->reps[r].cap; s++)
			rseq_clear(&ck->reps[r].seqs[s]);
		free(ck->reps[r].seqs);
		map_free(&ck->reps[r].live);
	}
	for (zz_seq s = 0; s < ck->gcap; s++)
		free(ck->gseqs[s].comp);
	free(ck->gseqs);
	free(ck->comps);
	map_free(&ck->completed);
	free(ck->reps);
	free(ck->clients);
	free(ck);
}

void
zz_checker_set_faulty_replica(zz_checker *ck, uint32_t replica)
{
	if (replica < ck->n)
		ck->reps[replica].faulty = true;
}

void
zz_checker_set_faulty_client(zz_checker *ck, uint32_t client)
{
	if (client < ck->nclients)
		ck->clients[client].faulty = true;
}

bool
zz_checker_replica_correct(const zz_checker *ck, uint32_t replica)
{
	return replica < ck->n && !ck->reps[replica].faulty;
}

void
zz_checker_set_clock(zz_checker *ck, zz_time now, uint64_t step)
{
	ck->now = now;
	ck->step = step;
}

void
zz_checker_set_trace(zz_checker *ck, zz_sim_trace_fn fn, void *ctx)
{
	ck->trace = fn;
	ck->trace_ctx = ctx;
}

void
zz_checker_fail(zz_checker *ck, unsigned kind, const char *fmt,...)
{
	char		msg[512];
	int			off;
	va_list		ap;

	off = snprintf(msg, sizeof(msg), "%s: ", zz_violation_name(kind));
	va_start(ap, fmt);
	vsnprintf(msg + off, sizeof(msg) - off, fmt, ap);
	va_end(ap);
	if (ck->violations == 0)
	{
		memcpy(ck->first, msg, sizeof(msg));
		ck->first_step = ck->step;
		ck->first_time = ck->now;
	}
	ck->violations |= kind;
	ck->nviolations++;
	if (ck->trace)
	{
		char		line[600];

		snprintf(line, sizeof(line), "VIOLATION at step %llu: %s",
				 (unsigned long long) ck->step, msg);
		ck->trace(ck->trace_ctx, line);
	}
}

unsigned
zz_checker_violations(const zz_checker *ck)
{
	return ck->violations;
}

const char *
zz_checker_first(const zz_checker *ck, uint64_t *step, zz_time *when)
{
	if (step)
		*step = ck->first_step;
	if (when)
		*when = ck->first_time;
	return ck->violations ? ck->first : "";
}

/* The global record of seq, grown on demand; NULL if seq is out of range. */
static ck_gseq *
gseq_at(zz_checker *ck, zz_seq seq)
{
	if (seq >= CK_MAX_SEQ)
		return NULL;
	if (seq >= ck->gcap)
	{
		zz_seq		ncap = ck->gcap ? ck->gcap : 256;
		ck_gseq    *ng;

		while (ncap <= seq)
			ncap *= 2;
		ng = realloc(ck->gseqs, ncap * sizeof(ck_gseq));
		if (ng == NULL)
			abort();
		memset(ng + ck->gcap, 0, (ncap - ck->gcap) * sizeof(ck_gseq));
		ck->gseqs = ng;
		ck->gcap = ncap;
	}
	return &ck->gseqs[seq];
}

/* A replica's record of seq, grown on demand; NULL if out of range. */
static ck_rseq *
rseq_at(ck_replica *rep, zz_seq seq)
{
	if (seq >= CK_MAX_SEQ)
		return NULL;
	if (seq >= rep->cap)
	{
		zz_seq		ncap = rep->cap ? rep->cap : 256;
		ck_rseq    *ns;

		while (ncap <= seq)
			ncap *= 2;
		ns = realloc(rep->seqs, ncap * sizeof(ck_rseq));
		if (ns == NULL)
			abort();
		memset(ns + rep->cap, 0, (ncap - rep->cap) * sizeof(ck_rseq));
		rep->seqs = ns;
		rep->cap = ncap;
	}
	return &rep->seqs[seq];
}

/*
 * Agreement: h is final at seq (a completion or a committed entry, named
 * by src).  The first such h fixes seq; any other is a violation.
 */
static void
agree(zz_checker *ck, zz_seq seq, const zz_digest *h, const char *src)
{
	ck_gseq    *g = gseq_at(ck, seq);
	char		a[16],
				b[16];

	if (g == NULL)
		return;
	if (!g->agreed)
	{
		g->agreed = true;
		g->h = *h;
		snprintf(g->src, sizeof(g->src), "%s", src);
		return;
	}
	if (!dig_eq(&g->h, h))
		zz_checker_fail(ck, ZZ_V_AGREEMENT,
						"seq %llu is final with h=%s (%s) and with h=%s (%s)",
						(unsigned long long) seq, short_hex(&g->h, a), g->src,
						short_hex(h, b), src);
}

/*
 * Validity for one replica's executions at seq against the completions at
 * seq: where the replica holds the completion's h and executed the same
 * (c, t), the replies must be equal.
 */
static void
validate(zz_checker *ck, uint32_t r, zz_seq seq)
{
	ck_rseq    *rs = rseq_at(&ck->reps[r], seq);
	ck_gseq    *g = gseq_at(ck, seq);

	if (rs == NULL || g == NULL || !rs->has_h)
		return;
	for (uint32_t i = 0; i < g->ncomp; i++)
	{
		ck_comp    *c = &ck->comps[g->comp[i]];

		if (!dig_eq(&c->h, &rs->h))
			continue;
		for (uint32_t j = 0; j < rs->n; j++)
		{
			const ck_exec *x = &rs->ex[j];

			if (x->client != c->client || x->ts != c->ts)
				continue;
			if (x->rhash != c->rhash || x->rlen != c->rlen)
				zz_checker_fail(ck, ZZ_V_VALIDITY,
								"client %u t=%llu completed at seq %llu with a reply "
								"(%u bytes) that differs from correct replica %u's "
								"(%u bytes) at the same history",
								c->client, (unsigned long long) c->ts,
								(unsigned long long) seq, c->rlen, r, x->rlen);
			else
				c->witnessed = true;
		}
	}
}

/* ------------------------------------------------------ replica feeds */

void
zz_checker_executed(zz_checker *ck, uint32_t replica, zz_seq seq, uint32_t client,
					uint64_t ts, const uint8_t *reply, uint32_t len)
{
	ck_replica *rep;
	ck_rseq    *rs;
	uint64_t	prev;

	if (!zz_checker_replica_correct(ck, replica))
		return;
	rep = &ck->reps[replica];
	if ((rs = rseq_at(rep, seq)) == NULL)
		return;
	/* Only what a correct client sent: MACs make anything else detectable. */
	if (client < ck->nclients && !ck->clients[client].faulty && ck->clients[client].ts > 0 &&
		ts > ck->clients[client].ts)
		zz_checker_fail(ck, ZZ_V_VALIDITY,
						"correct replica %u executed client %u t=%llu at seq %llu, "
						"which that client never sent (it is at t=%llu)", replica, client,
						(unsigned long long) ts, (unsigned long long) seq,
						(unsigned long long) ck->clients[client].ts);
	if (map_get(&rep->live, ck_key(client, ts), &prev))
		zz_checker_fail(ck, ZZ_V_EXACTLY_ONCE,
						"correct replica %u executed client %u t=%llu at seq %llu "
						"and again at seq %llu",
						replica, client, (unsigned long long) ts,
						(unsigned long long) prev, (unsigned long long) seq);
	map_put(&rep->live, ck_key(client, ts), seq);
	if (rs->n == rs->cap)
	{
		rs->cap = rs->cap ? 2 * rs->cap : 4;
		rs->ex = realloc(rs->ex, rs->cap * sizeof(ck_exec));
		if (rs->ex == NULL)
			abort();
	}
	rs->ex[rs->n].client = client;
	rs->ex[rs->n].ts = ts;
	rs->ex[rs->n].rhash = reply_hash(reply, len);
	rs->ex[rs->n].rlen = len;
	rs->n++;
	if (seq > rep->top)
		rep->top = seq;
}

/* Forget a replica's executions above seq (they were undone). */
static void
forget_above(ck_replica *rep, zz_seq seq)
{
	for (zz_seq s = seq + 1; s <= rep->top && s < rep->cap; s++)
	{
		ck_rseq    *rs = &rep->seqs[s];

		for (uint32_t j = 0; j < rs->n; j++)
			map_del(&rep->live, ck_key(rs->ex[j].client, rs->ex[j].ts));
		rseq_clear(rs);
	}
	if (rep->top > seq)
		rep->top = seq;
}

void
zz_checker_rolled_back(zz_checker *ck, uint32_t replica, zz_seq seq)
{
	if (zz_checker_replica_correct(ck, replica))
		forget_above(&ck->reps[replica], seq);
}

/*
 * A state transfer replaced everything: what the replica executed before
 * is no longer its history (its records below seq may even belong to a
 * branch it never rolled back), so all of it is forgotten.
 */
void
zz_checker_installed(zz_checker *ck, uint32_t replica, zz_seq seq)
{
	ck_replica *rep;

	if (!zz_checker_replica_correct(ck, replica))
		return;
	rep = &ck->reps[replica];
	for (zz_seq s = 0; s < rep->cap; s++)
		rseq_clear(&rep->seqs[s]);
	map_clear(&rep->live);
	rep->top = seq;
}

void
zz_checker_visit_begin(zz_checker *ck, uint32_t replica)
{
	if (replica < ck->n)
		ck->reps[replica].have_prev = false;
}

/*
 * The chain invariant at seq: h sits on prev.  Correct replicas check
 * h_seq = H(h_{seq-1} || seq || d) before accepting, so one h over two
 * different predecessors means a replica accepted a broken history.
 */
static void
chain_check(zz_checker *ck, uint32_t r, zz_seq seq, const zz_digest *h,
			const zz_digest *prev)
{
	ck_gseq    *g = gseq_at(ck, seq);
	char		a[16],
				b[16],
				c[16];

	if (g == NULL)
		return;
	for (uint8_t i = 0; i < g->nvar; i++)
	{
		if (!dig_eq(&g->var[i].h, h))
			continue;
		if (!dig_eq(&g->var[i].prev, prev))
			zz_checker_fail(ck, ZZ_V_CHAIN,
							"h=%s at seq %llu follows h=%s at correct replica %u "
							"but h=%s at correct replica %u",
							short_hex(h, a), (unsigned long long) seq,
							short_hex(&g->var[i].prev, b), g->var[i].replica,
							short_hex(prev, c), r);
		return;
	}
	if (g->nvar < CK_VARIANTS)
	{
		g->var[g->nvar].h = *h;
		g->var[g->nvar].prev = *prev;
		g->var[g->nvar].replica = r;
		g->nvar++;
	}
}

void
zz_checker_history(zz_checker *ck, uint32_t replica, zz_seq seq,
				   const zz_digest *h, bool committed)
{
	ck_replica *rep;
	ck_rseq    *rs;

	if (!zz_checker_replica_correct(ck, replica))
		return;
	rep = &ck->reps[replica];
	if ((rs = rseq_at(rep, seq)) == NULL)
		return;
	if (!rs->has_h || !dig_eq(&rs->h, h))
	{
		rs->has_h = true;
		rs->h = *h;
		rs->chained = false;
		rs->committed_checked = false;
		rs->validated = false;
	}
	if (!rs->chained && rep->have_prev && rep->prev_seq + 1 == seq)
	{
		chain_check(ck, replica, seq, h, &rep->prev_h);
		rs->chained = true;
	}
	if (committed && !rs->committed_checked)
	{
		char		src[48];

		snprintf(src, sizeof(src), "committed at replica %u", replica);
		agree(ck, seq, h, src);
		rs->committed_checked = true;
	}
	if (!rs->validated)
	{
		validate(ck, replica, seq);
		rs->validated = true;
	}
	rep->have_prev = true;
	rep->prev_seq = seq;
	rep->prev_h = *h;
}

/*
 * Which correct replicas are behind a checkpoint that is stable for good:
 * one a correct replica holds as its stable checkpoint while f+1 correct
 * replicas hold a certificate above it.  (A replica's stable checkpoint
 * alone may be only certified: a state transfer installs the certificate
 * it fetched as its stable checkpoint.)  Each replica behind it gets the
 * highest such checkpoint as its target, with the time it fell behind; it
 * is free again once it reaches that target (a later one starts a new
 * lag).
 */
static void
update_lags(zz_checker *ck)
{
	uint32_t	f = (ck->n - 1) / 3;
	zz_seq		top = 0;

	for (uint32_t r = 0; r < ck->n; r++)
	{
		uint32_t	above = 0;

		if (ck->reps[r].faulty || ck->reps[r].stable <= top)
			continue;
		for (uint32_t o = 0; o < ck->n; o++)
			if (!ck->reps[o].faulty && ck->reps[o].certified > ck->reps[r].stable)
				above++;
		if (above >= f + 1)
			top = ck->reps[r].stable;
	}
	for (uint32_t r = 0; r < ck->n; r++)
	{
		ck_replica *rep = &ck->reps[r];

		if (rep->faulty || rep->down)
		{
			rep->lag_target = 0;
			continue;
		}
		if (rep->lag_target != 0 && rep->stable >= rep->lag_target)
			rep->lag_target = 0;
		if (rep->lag_target == 0 && rep->stable < top)
		{
			rep->lag_target = top;
			rep->lag_since = ck->now;
		}
	}
}

void
zz_checker_stable(zz_checker *ck, uint32_t replica, zz_seq seq, const zz_digest *state)
{
	ck_gseq    *g;
	char		a[16],
				b[16];

	if (!zz_checker_replica_correct(ck, replica))
		return;
	ck->reps[replica].stable = seq;
	update_lags(ck);
	if (seq == 0 || (g = gseq_at(ck, seq)) == NULL)
		return;
	if (!g->has_cp)
	{
		g->has_cp = true;
		g->cp = *state;
		g->cp_replica = replica;
	}
	else if (!dig_eq(&g->cp, state))
		zz_checker_fail(ck, ZZ_V_CHECKPOINT,
						"stable checkpoint at seq %llu has state %s at replica %u "
						"and %s at replica %u",
						(unsigned long long) seq, short_hex(&g->cp, a), g->cp_replica,
						short_hex(state, b), replica);
}

void
zz_checker_certified(zz_checker *ck, uint32_t replica, zz_seq seq)
{
	if (!zz_checker_replica_correct(ck, replica))
		return;
	ck->reps[replica].certified = seq;
	update_lags(ck);
}

void
zz_checker_replica_down(zz_checker *ck, uint32_t replica, bool down)
{
	if (replica >= ck->n)
		return;
	ck->reps[replica].down = down;
	ck->reps[replica].lag_target = 0;	/* back up: a lag counts from now */
	update_lags(ck);
}

void
zz_checker_local_commit_sent(zz_checker *ck, uint32_t replica, zz_seq seq,
							 zz_view replica_view, zz_view vc_view, zz_seq vc_seq)
{
	if (!zz_checker_replica_correct(ck, replica))
		return;
	if (replica_view < vc_view && seq > vc_seq)
		zz_checker_fail(ck, ZZ_V_PROTOCOL,
						"correct replica %u sent LOCAL-COMMIT for seq %llu in view %llu "
						"after its VIEW-CHANGE to view %llu, which certifies only up to "
						"seq %llu",
						replica, (unsigned long long) seq,
						(unsigned long long) replica_view, (unsigned long long) vc_view,
						(unsigned long long) vc_seq);
}

/* ------------------------------------------------------- client feeds */

void
zz_checker_submitted(zz_checker *ck, uint32_t client, uint64_t ts, zz_time now)
{
	if (client >= ck->nclients)
		return;
	ck->clients[client].outstanding = true;
	ck->clients[client].ts = ts;
	ck->clients[client].since = now;
}

void
zz_checker_completed(zz_checker *ck, uint32_t client, const zz_completion *c)
{
	ck_comp    *cp;
	ck_gseq    *g;
	uint64_t	prev;
	uint32_t	idx;
	char		src[48];

	if (client >= ck->nclients || ck->clients[client].faulty)
		return;
	if (ck->clients[client].outstanding && ck->clients[client].ts == c->timestamp)
		ck->clients[client].outstanding = false;
	if (map_get(&ck->completed, ck_key(client, c->timestamp), &prev))
	{
		zz_checker_fail(ck, ZZ_V_EXACTLY_ONCE,
						"client %u t=%llu completed twice (seq %llu, then seq %llu)",
						client, (unsigned long long) c->timestamp,
						(unsigned long long) ck->comps[prev - 1].seq,
						(unsigned long long) c->seq);
		return;
	}
	if ((g = gseq_at(ck, c->seq)) == NULL)
		return;
	if (ck->ncomps == ck->compcap)
	{
		ck->compcap = ck->compcap ? 2 * ck->compcap : 256;
		ck->comps = realloc(ck->comps, ck->compcap * sizeof(ck_comp));
		if (ck->comps == NULL)
			abort();
	}
	idx = ck->ncomps++;
	cp = &ck->comps[idx];
	cp->client = client;
	cp->ts = c->timestamp;
	cp->seq = c->seq;
	cp->h = c->history;
	cp->rhash = reply_hash(c->reply, c->reply_len);
	cp->rlen = c->reply_len;
	cp->witnessed = false;
	map_put(&ck->completed, ck_key(client, c->timestamp), idx + 1);
	if (g->ncomp == g->compcap)
	{
		g->compcap = g->compcap ? 2 * g->compcap : 4;
		g->comp = realloc(g->comp, g->compcap * sizeof(uint32_t));
		if (g->comp == NULL)
			abort();
	}
	g->comp[g->ncomp++] = idx;

	snprintf(src, sizeof(src), "completion of client %u t=%llu", client,
			 (unsigned long long) c->timestamp);
	agree(ck, c->seq, &c->history, src);
	for (uint32_t r = 0; r < ck->n; r++)
		if (!ck->reps[r].faulty)
			validate(ck, r, c->seq);
}

/* When replica rep's lag behind its target fails liveness. */
static zz_time
lag_deadline(const ck_replica *rep, zz_time calm, zz_time bound)
{
	return (rep->lag_since > calm ? rep->lag_since : calm) + bound;
}

zz_time
zz_checker_liveness_deadline(const zz_checker *ck, zz_time calm, zz_time bound)
{
	zz_time		best = UINT64_MAX;

	for (uint32_t i = 0; i < ck->nclients; i++)
	{
		const ck_client *c = &ck->clients[i];
		zz_time		d;

		if (c->faulty || !c->outstanding)
			continue;
		d = (c->since > calm ? c->since : calm) + bound;
		if (d < best)
			best = d;
	}
	for (uint32_t r = 0; r < ck->n; r++)
	{
		const ck_replica *rep = &ck->reps[r];

		if (rep->lag_target != 0 && lag_deadline(rep, calm, bound) < best)
			best = lag_deadline(rep, calm, bound);
	}
	return best;
}

void
zz_checker_liveness(zz_checker *ck, zz_time now, zz_time calm, zz_time bound)
{
	if (ck->violations & ZZ_V_LIVENESS)
		return;
	for (uint32_t i = 0; i < ck->nclients; i++)
	{
		ck_client  *c = &ck->clients[i];
		zz_time		d;

		if (c->faulty || !c->outstanding)
			continue;
		d = (c->since > calm ? c->since : calm) + bound;
		if (now > d)
		{
			zz_checker_fail(ck, ZZ_V_LIVENESS,
							"client %u t=%llu submitted at %.6fs still outstanding "
							"at %.6fs (faults ended at %.6fs)",
							i, (unsigned long long) c->ts, c->since / 1e6,
							now / 1e6, calm / 1e6);
			return;
		}
	}
	for (uint32_t r = 0; r < ck->n; r++)
	{
		ck_replica *rep = &ck->reps[r];

		if (rep->lag_target != 0 && now > lag_deadline(rep, calm, bound))
		{
			zz_checker_fail(ck, ZZ_V_LIVENESS,
							"replica %u still at stable checkpoint %llu at %.6fs, behind "
							"stable checkpoint %llu (f+1 correct replicas certified "
							"beyond it) since %.6fs (faults ended at %.6fs)",
							r, (unsigned long long) rep->stable, now / 1e6,
							(unsigned long long) rep->lag_target, rep->lag_since / 1e6,
							calm / 1e6);
			return;
		}
	}
}

/*
 * Every completion must have a witness: a correct replica that produced
 * the same reply for it at the same seq.  Witnesses are recorded as they
 * are found; for a completion without one, a last look at the records
 * ignores h (a replica's h at seq may have been truncated unseen).
 */
void
zz_checker_check_witnesses(zz_checker *ck)
{
	for (uint32_t k = 0; k < ck->ncomps; k++)
	{
		ck_comp    *c = &ck->comps[k];

		for (uint32_t r = 0; r < ck->n && !c->witnessed; r++)
		{
			ck_replica *rep = &ck->reps[r];
			ck_rseq    *rs;

			if (rep->faulty || c->seq >= rep->cap)
				continue;
			rs = &rep->seqs[c->seq];
			for (uint32_t j = 0; j < rs->n; j++)
				if (rs->ex[j].client == c->client && rs->ex[j].ts == c->ts &&
					rs->ex[j].rhash == c->rhash && rs->ex[j].rlen == c->rlen)
					c->witnessed = true;
		}
		if (!c->witnessed)
		{
			zz_checker_fail(ck, ZZ_V_VALIDITY,
							"client %u t=%llu completed at seq %llu but no correct "
							"replica executed it there with that reply",
							c->client, (unsigned long long) c->ts,
							(unsigned long long) c->seq);
			return;
		}
	}
}

/*
 * End of run: every correct client's request must have completed, and
 * every completion must have a witness.
 */
void
zz_checker_finish(zz_checker *ck)
{
	for (uint32_t i = 0; i < ck->nclients; i++)
	{
		ck_client  *c = &ck->clients[i];

		if (!c->faulty && c->outstanding && !(ck->violations & ZZ_V_LIVENESS))
			zz_checker_fail(ck, ZZ_V_LIVENESS,
							"client %u t=%llu never completed", i,
							(unsigned long long) c->ts);
	}
	zz_checker_check_witnesses(ck);
}

const char *
zz_violation_name(unsigned kind_bit)
{
	switch (kind_bit)
	{
		case ZZ_V_AGREEMENT:
			return "agreement";
		case ZZ_V_CHAIN:
			return "history-chain";
		case ZZ_V_VALIDITY:
			return "validity";
		case ZZ_V_EXACTLY_ONCE:
			return "exactly-once";
		case ZZ_V_LIVENESS:
			return "liveness";
		case ZZ_V_CHECKPOINT:
			return "checkpoint";
		case ZZ_V_STEP_LIMIT:
			return "step-limit";
		case ZZ_V_PROTOCOL:
			return "step-rule";
		case ZZ_V_RECOVERY:
			return "recovery";
		case ZZ_V_INVARIANT:
			return "invariant";
	}
	return "violation";
}
