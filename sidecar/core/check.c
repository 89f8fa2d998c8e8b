/*
 * check.c
 *	  zz_replica_check: the invariants a correct replica keeps between any
 *	  two steps (docs/protocol.md, "Invariants").
 *
 * The simulator calls it after every step; test and debug builds assert
 * it at the end of zz_replica_receive, zz_replica_tick and
 * zz_replica_execute_done.  It reads the replica's state and recomputes
 * what can be recomputed cheaply: the history chain from the stable
 * checkpoint (one hash per entry), the client table against the log, the
 * evidence a VIEW-CHANGE would report against the log.  It does not
 * re-verify signatures: those were checked on the way in.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica_int.h"

/*
 * What zz_replica_check remembers between calls, so that checking after
 * every step stays cheap.  One link of the history chain as it last
 * verified it: h = H(prev || seq || d) with d = H(nd_time, nd_seed,
 * req_digests).  The next check hashes again only links whose inputs
 * changed, so checking after every step costs a comparison per entry,
 * not two hashes; the stored h still catches an entry changed since.
 */
typedef struct zz_chain_link
{
	zz_seq		seq;			/* 0: nothing verified in this slot */
	const zz_digest *req_digests;
	uint32_t	count;
	uint64_t	nd_time;
	uint64_t	nd_seed;
	zz_digest	prev;
	zz_digest	batch_digest;
	zz_digest	history;
} zz_chain_link;

struct zz_chain_memo
{
	/*
	 * The executed log zz_replica_check last scanned for duplicate
	 * (client, t): it scans again only once the log moved.
	 */
	bool		scanned;
	zz_seq		scan_stable;
	zz_seq		scan_applied;
	zz_digest	scan_history;
	uint32_t	scan_clients_cap;
	uint64_t   *seen;			/* per client record: last t met in the log */

	uint32_t	slots;			/* the log ring's capacity */
	zz_chain_link link[];
};

void
zz_chain_memo_free(zz_chain_memo *m)
{
	if (m != NULL)
		free(m->seen);
	free(m);
}

zz_chain_memo *
zz_chain_memo_create(uint32_t slots)
{
	zz_chain_memo *m = calloc(1, sizeof(zz_chain_memo) + slots * sizeof(zz_chain_link));

	if (m != NULL)
		m->slots = slots;
	return m;
}

/* The description of the last violation found, per thread. */
static _Thread_local char violation[256];

static const char *
violated(const zz_replica *r, const char *fmt,...)
	__attribute__((format(printf, 2, 3)));

static const char *
violated(const zz_replica *r, const char *fmt,...)
{
	va_list		ap;
	int			off;

	off = snprintf(violation, sizeof(violation), "R%u v%llu: ", r->id,
				   (unsigned long long) r->view);
	va_start(ap, fmt);
	vsnprintf(violation + off, sizeof(violation) - off, fmt, ap);
	va_end(ap);
	return violation;
}

/* The entry at seq if the log holds it (read-only zz_entry_at). */
static const zz_entry *
entry_at(const zz_replica *r, zz_seq seq)
{
	const zz_entry *e;

	if (seq <= r->stable_seq || seq > r->max_seq)
		return NULL;
	e = &r->ring[seq % r->ring_cap];
	return e->used ? e : NULL;
}

/* A client's record, read-only (the probing of zz_client_lookup). */
static const zz_client_rec *
client_at(const zz_replica *r, uint32_t client)
{
	uint32_t	mask,
				i,
				k;

	if (r->clients_cap == 0)
		return NULL;
	mask = r->clients_cap - 1;
	for (i = (client * 2654435761u) & mask, k = 0; k < r->clients_cap; i = (i + 1) & mask, k++)
	{
		const zz_client_rec *c = &r->clients[i];

		if (!c->used)
			return NULL;
		if (c->client == client)
			return c;
	}
	return NULL;
}

/*
 * The last batch handed to the service: the last executed and the
 * submitted entries after it (the execution window, execute.c).
 */
static zz_seq
submitted_through(const zz_replica *r)
{
	zz_seq		s = r->last_executed;
	const zz_entry *e;

	while ((e = entry_at(r, s + 1)) != NULL && e->submitted)
		s++;
	return s;
}

/*
 * Positions: stable <= committed <= executed <= max, and what each entry
 * records about its own execution.
 */
static const char *
check_positions(const zz_replica *r)
{
	zz_seq		s,
				applied;

	if (!(r->stable_seq <= r->last_executed && r->last_executed <= r->max_seq))
		return violated(r, "positions out of order: stable %llu executed %llu max %llu",
						(unsigned long long) r->stable_seq,
						(unsigned long long) r->last_executed,
						(unsigned long long) r->max_seq);
	if (r->max_seq > r->stable_seq + 2 * (zz_seq) r->p.cp_interval)
		return violated(r, "log beyond the window: max %llu, stable %llu",
						(unsigned long long) r->max_seq, (unsigned long long) r->stable_seq);
	if (r->has_cc && (r->max_cc.seq <= r->stable_seq || r->max_cc.view > r->view))
		return violated(r, "max CC (%llu, %llu) at or below the stable checkpoint %llu or "
						"of a later view",
						(unsigned long long) r->max_cc.view,
						(unsigned long long) r->max_cc.seq,
						(unsigned long long) r->stable_seq);
	if (r->stable_seq > 0 && (r->stable_proof.seq != r->stable_seq ||
							  !zz_digest_eq(&r->stable_proof.history, &r->stable_history)))
		return violated(r, "stable checkpoint %llu does not match its proof (seq %llu)",
						(unsigned long long) r->stable_seq,
						(unsigned long long) r->stable_proof.seq);
	applied = submitted_through(r);
	if (applied > zz_exec_limit(r))
		return violated(r, "batches up to %llu handed to the service, beyond the window "
						"(last executed %llu, limit %llu)", (unsigned long long) applied,
						(unsigned long long) r->last_executed,
						(unsigned long long) zz_exec_limit(r));
	for (s = r->stable_seq + 1; s <= r->max_seq; s++)
	{
		const zz_entry *e = entry_at(r, s);

		if (e == NULL || e->order == NULL)
			return violated(r, "hole in the log at %llu (stable %llu, max %llu)",
							(unsigned long long) s, (unsigned long long) r->stable_seq,
							(unsigned long long) r->max_seq);
		if (e->order->hdr.seq != s)
			return violated(r, "slot %llu holds the ORDER-REQ of %llu",
							(unsigned long long) s, (unsigned long long) e->order->hdr.seq);
		if (e->executed != (s <= r->last_executed) || e->submitted != (s <= applied))
			return violated(r, "entry %llu: executed %d submitted %d, last executed %llu",
							(unsigned long long) s, (int) e->executed, (int) e->submitted,
							(unsigned long long) r->last_executed);
		if (e->order->hdr.view > r->view)
			return violated(r, "entry %llu carries view %llu, above ours",
							(unsigned long long) s, (unsigned long long) e->order->hdr.view);
	}
	return NULL;
}

/*
 * The log chains: h_n = H(h_{n-1} || n || d) from the stable checkpoint,
 * each d over the batch's request digests and nondeterministic inputs;
 * max_history and exec_history are the chain's values at max and at the
 * last executed.
 */
static const char *
check_chain(const zz_replica *r)
{
	zz_digest	prev = r->stable_history,
				d,
				h;
	zz_seq		s;

	if (r->last_executed == r->stable_seq && !zz_digest_eq(&r->exec_history, &prev))
		return violated(r, "executed history differs from the stable checkpoint's");
	if (r->max_seq == r->stable_seq && !zz_digest_eq(&r->max_history, &prev))
		return violated(r, "max history differs from the stable checkpoint's");
	for (s = r->stable_seq + 1; s <= r->max_seq; s++)
	{
		const zz_entry *e = entry_at(r, s);
		const zz_order_hdr *hd = &e->order->hdr;
		zz_chain_link *l = &r->chain_memo->link[s % r->chain_memo->slots];

		if (l->seq == s && l->req_digests == e->req_digests && l->count == hd->count &&
			l->nd_time == hd->nd_time && l->nd_seed == hd->nd_seed &&
			zz_digest_eq(&l->prev, &prev) && zz_digest_eq(&l->batch_digest, &hd->batch_digest))
			h = l->history;		/* verified before, same inputs */
		else
		{
			zz_batch_digest(r->crypto, hd->nd_time, hd->nd_seed, e->req_digests, hd->count,
							&d);
			if (!zz_digest_eq(&d, &hd->batch_digest))
				return violated(r, "entry %llu: batch digest does not match its requests",
								(unsigned long long) s);
			zz_chain_history(r->crypto, &prev, s, &d, &h);
			l->seq = s;
			l->req_digests = e->req_digests;
			l->count = hd->count;
			l->nd_time = hd->nd_time;
			l->nd_seed = hd->nd_seed;
			l->prev = prev;
			l->batch_digest = d;
			l->history = h;
		}
		if (!zz_digest_eq(&h, &hd->history))
			return violated(r, "history chain broken at %llu", (unsigned long long) s);
		if (s == r->last_executed && !zz_digest_eq(&h, &r->exec_history))
			return violated(r, "executed history is not h at %llu", (unsigned long long) s);
		prev = h;
	}
	if (!zz_digest_eq(&prev, &r->max_history))
		return violated(r, "max history is not h at %llu", (unsigned long long) r->max_seq);
	return NULL;
}

/*
 * The evidence the next VIEW-CHANGE reports lies inside the log: the max
 * CC and the entered view's certificate match h where the log holds them.
 */
static const char *
check_evidence(const zz_replica *r)
{
	const zz_entry *e;

	if (r->has_cc && (e = entry_at(r, r->max_cc.seq)) != NULL &&
		!zz_digest_eq(&e->order->hdr.history, &r->max_cc.history))
		return violated(r, "max CC (%llu, %llu) conflicts with the log (h %02x%02x%02x%02x, "
						"log %02x%02x%02x%02x of view %llu)",
						(unsigned long long) r->max_cc.view,
						(unsigned long long) r->max_cc.seq,
						r->max_cc.history.b[0], r->max_cc.history.b[1],
						r->max_cc.history.b[2], r->max_cc.history.b[3],
						e->order->hdr.history.b[0], e->order->hdr.history.b[1],
						e->order->hdr.history.b[2], e->order->hdr.history.b[3],
						(unsigned long long) e->order->hdr.view);
	if (r->entered_cert.count > 0)
	{
		bool		seen[ZZ_MAX_N] = {false};
		uint32_t	i;

		if (r->entered_cert.count < zz_quorum(&r->p) || r->entered_cert.count > r->p.n)
			return violated(r, "entered view %llu with %u VIEW-CONFIRMs",
							(unsigned long long) r->entered_cert.view, r->entered_cert.count);
		for (i = 0; i < r->entered_cert.count; i++)
		{
			if (r->entered_cert.replicas[i] >= r->p.n || seen[r->entered_cert.replicas[i]])
				return violated(r, "entered view %llu: VIEW-CONFIRM signer %u twice or unknown",
								(unsigned long long) r->entered_cert.view,
								r->entered_cert.replicas[i]);
			seen[r->entered_cert.replicas[i]] = true;
		}
		if (r->entered_cert.view > r->view)
			return violated(r, "entered view %llu is above ours",
							(unsigned long long) r->entered_cert.view);
		if (r->mode == ZZ_MODE_NORMAL && r->entered_cert.view == r->view &&
			(e = entry_at(r, r->entered_cert.seq)) != NULL &&
			!zz_digest_eq(&e->order->hdr.history, &r->entered_cert.history))
			return violated(r, "the new history of view %llu we entered is no longer our log "
							"at %llu", (unsigned long long) r->view,
							(unsigned long long) r->entered_cert.seq);
	}
	return NULL;
}

/*
 * The client table agrees with the log: each client's last executed
 * request is where the table says, with its digest and h; no (client, t)
 * executes twice in the log and a client's executed timestamps rise; none
 * is above what the table records.
 */
static const char *
check_clients(const zz_replica *r)
{
	zz_seq		s,
				applied = submitted_through(r);
	uint32_t	i,
				j;
	uint64_t   *seen;			/* per client record: last t met in the log */
	uint32_t	armed = 0;
	uint64_t	armed_bytes = 0;

	for (i = 0; i < r->clients_cap; i++)
	{
		const zz_client_rec *c = &r->clients[i];

		if (!c->used)
			continue;
		if (zz_confirm_armed(c))
		{
			armed++;
			armed_bytes += c->confirm_len;
		}
		if (c->last_seq > applied)
			return violated(r, "client %u: last executed at %llu, beyond %llu", c->client,
							(unsigned long long) c->last_seq, (unsigned long long) applied);
		if (c->last_ts > 0 && c->last_seq > r->stable_seq)
		{
			const zz_entry *e = entry_at(r, c->last_seq);
			const zz_request *q;

			if (e == NULL || c->last_index >= e->order->hdr.count)
				return violated(r, "client %u: its last request (seq %llu) is not in the log",
								c->client, (unsigned long long) c->last_seq);
			q = &e->order->reqs[c->last_index];
			if (q->client != c->client || q->timestamp != c->last_ts ||
				(e->skipped != NULL && e->skipped[c->last_index]) ||
				!zz_digest_eq(&e->req_digests[c->last_index], &c->last_req) ||
				!zz_digest_eq(&e->order->hdr.history, &c->last_history))
				return violated(r, "client %u: table says t=%llu at %llu[%u], the log differs",
								c->client, (unsigned long long) c->last_ts,
								(unsigned long long) c->last_seq, c->last_index);
		}
	}
	if (armed != r->confirms_armed || armed_bytes != r->confirm_bytes)
		return violated(r, "%u CONFIRM-REQ timers of %llu bytes armed, counted %u of %llu",
						armed, (unsigned long long) armed_bytes, r->confirms_armed,
						(unsigned long long) r->confirm_bytes);

	{
		zz_chain_memo *m = r->chain_memo;
		const zz_entry *top = entry_at(r, applied);
		zz_digest	h = top != NULL ? top->order->hdr.history : r->stable_history;

		if (m->scanned && m->scan_stable == r->stable_seq && m->scan_applied == applied &&
			zz_digest_eq(&m->scan_history, &h) && m->scan_clients_cap == r->clients_cap)
			return NULL;		/* the executed log has not moved */
		if (m->scan_clients_cap < r->clients_cap || m->seen == NULL)
		{
			free(m->seen);
			m->seen = malloc(sizeof(uint64_t) * (r->clients_cap ? r->clients_cap : 1));
			if (m->seen == NULL)
				return violated(r, "out of memory checking the client table");
		}
		memset(m->seen, 0, sizeof(uint64_t) * r->clients_cap);
		m->scanned = true;
		m->scan_stable = r->stable_seq;
		m->scan_applied = applied;
		m->scan_history = h;
		m->scan_clients_cap = r->clients_cap;
		seen = m->seen;
	}
	for (s = r->stable_seq + 1; s <= applied; s++)
	{
		const zz_entry *e = entry_at(r, s);

		for (j = 0; j < e->order->hdr.count; j++)
		{
			const zz_request *q = &e->order->reqs[j];
			const zz_client_rec *c;

			if (e->skipped == NULL || e->skipped[j])
				continue;
			c = client_at(r, q->client);
			if (c == NULL)
			{
				r->chain_memo->scanned = false;
				return violated(r, "client %u executed at %llu but has no record",
								q->client, (unsigned long long) s);
			}
			if (q->timestamp <= seen[c - r->clients] || q->timestamp > c->last_ts)
			{
				uint64_t	before = seen[c - r->clients];

				r->chain_memo->scanned = false;
				return violated(r, "client %u: t=%llu executed at %llu after t=%llu "
								"(table: last t=%llu)", q->client,
								(unsigned long long) q->timestamp, (unsigned long long) s,
								(unsigned long long) before, (unsigned long long) c->last_ts);
			}
			seen[c - r->clients] = q->timestamp;
		}
	}
	return NULL;
}

/*
 * What each mode implies.  Normal: entries past the new history of our
 * view were ordered in it (a backup accepts only its view's ORDER-REQs),
 * and in view 0 every entry is of view 0.  State transfer: a target above
 * the stable checkpoint, or a repair.  View change: moving to a view
 * above the one we were in, or installing the one we are in.
 */
static const char *
check_mode(const zz_replica *r)
{
	zz_seq		s;

	switch (r->mode)
	{
		case ZZ_MODE_NORMAL:
			{
				zz_seq		from = r->stable_seq;

				if (r->view > 0 && r->entered_cert.count > 0 && r->entered_cert.view == r->view &&
					r->entered_cert.seq > from)
					from = r->entered_cert.seq;
				else if (r->view > 0)
					from = r->max_seq;	/* entered without a certificate: a restart */
				for (s = from + 1; s <= r->max_seq; s++)
				{
					const zz_entry *e = entry_at(r, s);

					if (e->order->hdr.view != r->view)
						return violated(r, "normal mode: entry %llu past the new history "
										"carries view %llu", (unsigned long long) s,
										(unsigned long long) e->order->hdr.view);
				}
				if (r->batch_len > 0 && !zz_is_primary(r))
					return violated(r, "a backup holds an open batch of %u", r->batch_len);
				break;
			}
		case ZZ_MODE_STATE_TRANSFER:
			if (!r->repairing && r->transfer_seq <= r->stable_seq)
				return violated(r, "state transfer to %llu, not above the stable checkpoint "
								"%llu", (unsigned long long) r->transfer_seq,
								(unsigned long long) r->stable_seq);
			break;
		case ZZ_MODE_VIEW_CHANGE:
			if (zz_vc_target(r) < r->view || zz_vc_target(r) == 0)
				return violated(r, "view change to %llu from view %llu",
								(unsigned long long) zz_vc_target(r),
								(unsigned long long) r->view);
			if (r->batch_len > 0)
				return violated(r, "an open batch of %u during a view change", r->batch_len);
			break;
		default:
			return violated(r, "unknown mode %d", (int) r->mode);
	}
	return NULL;
}

/*
 * zz_replica_check
 *		The first invariant the replica breaks, described, or NULL.
 *
 * The string is valid until the next call in the same thread.
 */
const char *
zz_replica_check(const zz_replica *r)
{
	const char *why;

	if ((why = check_positions(r)) != NULL ||
		(why = check_chain(r)) != NULL ||
		(why = check_evidence(r)) != NULL ||
		(why = check_clients(r)) != NULL ||
		(why = check_mode(r)) != NULL)
		return why;
	return NULL;
}

#if !defined(NDEBUG) || defined(ZZ_FAULT_INJECTION)
/*
 * Debug and test builds: stop at the first step that breaks an invariant,
 * with the replica's trace line saying which.  Not with a planted bug
 * switched on: breaking invariants is its job, and the simulator's own
 * call to zz_replica_check reports it as a failed run.
 */
void
zz_replica_assert_check(zz_replica *r, const char *step)
{
	const char *why;

	if (ZZ_BUGGY(r, ~0u))
		return;
	why = zz_replica_check(r);
	if (why == NULL)
		return;
	zz_replica_trace(r, "invariant broken after %s: %s", step, why);
	fprintf(stderr, "zz_replica_check after %s: %s\n", step, why);
	abort();
}
#endif
