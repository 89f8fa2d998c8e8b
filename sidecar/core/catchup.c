/*
 * catchup.c
 *	  The retained log and catch-up by replay (docs/protocol.md, sections 6
 *	  and 7).
 *
 * A replica far behind (it spent minutes installing a large checkpoint
 * while the others went on) finds that every peer truncated the batches it
 * needs next: a FILL-HOLE below their stable checkpoint used to be answered
 * with that checkpoint only, and the replica fetched state again, for ever
 * under sustained load.  Two halves fix that:
 *
 *	- The retained log (answering side): the ORDER-REQs a stable checkpoint
 *	  truncates are kept, bounded by retain_batches and retain_bytes, with
 *	  the certificate of every checkpoint as it became stable.  A FILL-HOLE
 *	  below the stable checkpoint that the retained log covers is answered
 *	  with the certificate of the next retained checkpoint c at or above
 *	  its start (its 2f+1 CHECKPOINT votes), the ORDER-REQs up to c, and
 *	  the highest certificate, as without the retained log.
 *
 *	- Catch-up by replay (asking side): a certificate for the next
 *	  checkpoint c above our log, where we would start a state transfer,
 *	  becomes a target instead.  The ORDER-REQs in (max_seq, c] are
 *	  collected from the certificate's signers, whatever view they were
 *	  signed in, and only once all are there is the chain checked: batch
 *	  digests from the requests, h_n = H(h_{n-1} || n || d) from our
 *	  max_history, ending at exactly the certificate's h_c.  Then they are
 *	  appended as verified and executed.  A chain that does not end there
 *	  is dropped and the next signer asked; after f+1 refusals, or a
 *	  deadline without progress, the state transfer starts as before.
 *
 * Safety: catch-up is tried exactly where a state transfer to the same
 * certificate would be allowed (normal mode, a certificate of our view),
 * and it never leaves our log: the replayed batches extend it.  2f+1
 * replicas signed h_c, so a chain from our h_{max} that ends at h_c holds,
 * by collision resistance, exactly the batches (requests, times and seeds)
 * the certified history holds: executing them gives the certified state,
 * as installing c would.  The signatures of the ORDER-REQs and the clients'
 * MACs add nothing the certificate does not pin, so they are not checked
 * (a client's bad MAC for this replica could otherwise block it for good).
 * A service that executes nondeterministically shows as a checkpoint that
 * does not match, which the usual repair path handles.
 */
#include <stdlib.h>
#include <string.h>

#include "replica_int.h"

/* The retained log: ORDER-REQs truncated at stable checkpoints. */
struct zz_retained
{
	zz_order_req **ring;		/* cap slots; seq lo is at head */
	uint32_t	cap;
	uint32_t	head;
	zz_seq		lo;				/* oldest retained seq (count 0: none) */
	uint32_t	count;
	uint64_t	bytes;			/* of the ORDER-REQs and certificates kept */
	zz_cp_proof *certs;			/* ascending seq, all within [lo - 1, lo + count) */
	uint32_t	ncerts;
	uint32_t	certs_cap;
};

static size_t
order_size(const zz_order_req *m)
{
	size_t		n = sizeof(*m) + (size_t) m->hdr.count * sizeof(zz_request);

	for (uint32_t i = 0; i < m->hdr.count; i++)
		n += m->reqs[i].op_len;
	return n;
}

zz_retained *
zz_retained_create(void)
{
	return calloc(1, sizeof(zz_retained));
}

/* Forget every retained entry and certificate (a gap in the log, or off). */
void
zz_retained_clear(zz_retained *t)
{
	if (t == NULL)
		return;
	for (uint32_t i = 0; i < t->count; i++)
		zz_order_req_free(t->ring[(t->head + i) % t->cap]);
	t->count = 0;
	t->head = 0;
	t->lo = 0;
	t->bytes = 0;
	t->ncerts = 0;
}

void
zz_retained_free(zz_retained *t)
{
	if (t == NULL)
		return;
	zz_retained_clear(t);
	free(t->ring);
	free(t->certs);
	free(t);
}

/* Drop the oldest entry, and the certificates it alone covered. */
static void
drop_oldest(zz_retained *t)
{
	zz_order_req *m = t->ring[t->head];
	uint32_t	k = 0;

	t->bytes -= order_size(m);
	zz_order_req_free(m);
	t->ring[t->head] = NULL;
	t->head = (t->head + 1) % t->cap;
	t->count--;
	t->lo++;
	if (t->count == 0)
	{
		zz_retained_clear(t);
		return;
	}
	while (k < t->ncerts && t->certs[k].seq < t->lo)
		k++;
	if (k > 0)
	{
		t->bytes -= (uint64_t) k * sizeof(zz_cp_proof);
		memmove(t->certs, t->certs + k, (t->ncerts - k) * sizeof(zz_cp_proof));
		t->ncerts -= k;
	}
}

/* Keep the retained log within retain_batches and retain_bytes. */
static void
enforce_bounds(zz_replica *r)
{
	zz_retained *t = r->retained;

	if (r->p.retain_batches == 0 || r->p.retain_bytes == 0)
	{
		zz_retained_clear(t);
		return;
	}
	while (t->count > 0 &&
		   (t->count > r->p.retain_batches || t->bytes > r->p.retain_bytes))
		drop_oldest(t);
}

/*
 * A stable checkpoint truncates the entry m at seq: keep it (ownership
 * passes).  Entries must follow one another; a gap starts the log anew.
 */
void
zz_retain_order(zz_replica *r, zz_seq seq, zz_order_req *m)
{
	zz_retained *t = r->retained;

	if (r->p.retain_batches == 0 || r->p.retain_bytes == 0 || m == NULL)
	{
		zz_order_req_free(m);
		zz_retained_clear(t);
		return;
	}
	if (t->count > 0 && seq != t->lo + t->count)
		zz_retained_clear(t);
	if (t->count == t->cap)
	{
		uint32_t	ncap = t->cap ? t->cap * 2 : 64;
		zz_order_req **nr = malloc(sizeof(*nr) * ncap);

		if (nr == NULL)
			abort();
		for (uint32_t i = 0; i < t->count; i++)
			nr[i] = t->ring[(t->head + i) % t->cap];
		free(t->ring);
		t->ring = nr;
		t->cap = ncap;
		t->head = 0;
	}
	if (t->count == 0)
		t->lo = seq;
	t->ring[(t->head + t->count) % t->cap] = m;
	t->count++;
	t->bytes += order_size(m);
	enforce_bounds(r);
}

/*
 * The certificate of a checkpoint that just became stable (the retained
 * log ends at it).
 */
void
zz_retain_cert(zz_replica *r, const zz_cp_proof *p)
{
	zz_retained *t = r->retained;

	if (t->count == 0 || p->count == 0 || p->seq != t->lo + t->count - 1 ||
		(t->ncerts > 0 && t->certs[t->ncerts - 1].seq >= p->seq))
		return;
	if (t->ncerts == t->certs_cap)
	{
		uint32_t	ncap = t->certs_cap ? t->certs_cap * 2 : 8;
		zz_cp_proof *nc = realloc(t->certs, sizeof(zz_cp_proof) * ncap);

		if (nc == NULL)
			abort();
		t->certs = nc;
		t->certs_cap = ncap;
	}
	t->certs[t->ncerts++] = *p;
	t->bytes += sizeof(zz_cp_proof);
	enforce_bounds(r);
}

/* The retained certificate of checkpoint seq, or NULL. */
const zz_cp_proof *
zz_retained_cert(const zz_replica *r, zz_seq seq)
{
	const zz_retained *t = r->retained;

	for (uint32_t k = 0; k < t->ncerts; k++)
		if (t->certs[k].seq == seq)
			return &t->certs[k];
	return NULL;
}

void
zz_retained_usage(const zz_replica *r, uint32_t *batches, uint64_t *bytes)
{
	*batches = r->retained->count;
	*bytes = r->retained->bytes;
}

/*
 * Answer a FILL-HOLE for [from, to] that starts at or below our stable
 * checkpoint from the retained log: the certificate of the lowest retained
 * checkpoint c >= from, then the ORDER-REQs from..min(c, to), at most
 * ZZ_FILL_HOLE_MAX of them.  False if the retained log does not hold them
 * (the caller answers as without it, with the stable checkpoint).
 */
bool
zz_retained_answer(zz_replica *r, uint32_t to_replica, zz_seq from, zz_seq to)
{
	zz_retained *t = r->retained;
	const zz_cp_proof *c = NULL;
	zz_seq		end;

	if (t->count == 0 || from < t->lo || from > t->lo + t->count - 1)
		return false;
	for (uint32_t k = 0; k < t->ncerts; k++)
		if (t->certs[k].seq >= from)
		{
			c = &t->certs[k];
			break;
		}
	if (c == NULL)
		return false;
	zz_send_proof_votes(r, c, to_replica);
	end = c->seq;
	if (to < end)
		end = to;
	if (end - from >= ZZ_FILL_HOLE_MAX)
		end = from + ZZ_FILL_HOLE_MAX - 1;
	for (zz_seq s = from; s <= end; s++)
	{
		zz_buf_reset(&r->out);
		zz_encode_order_req(&r->out, t->ring[(t->head + (s - t->lo)) % t->cap]);
		zz_send_replica(r, to_replica, &r->out);
	}
	/*
	 * And our highest certificate, as without a retained log: a replica
	 * that does not replay (the primary, one in a view change) fetches
	 * that one rather than the next, and one that replays learns how far
	 * it has to go.
	 */
	if (c->seq != r->cert_proof.seq)
		zz_send_stable_checkpoint(r, to_replica);
	r->stats.catchup_served++;
	return true;
}

/* ------------------------------------------------------------------------
 * Catch-up by replay
 * ------------------------------------------------------------------------ */

/*
 * Without progress for this long, fetch state instead: a few fill-hole
 * intervals (asking each signer in turn) and two checkpoint resends, for
 * a replica whose own service is slow to start; a state transfer costs
 * far more than the wait.
 */
static zz_time
patience(const zz_replica *r)
{
	return 4 * r->p.fill_hole_timeout + 2 * r->p.checkpoint_resend;
}

bool
zz_catchup_active(const zz_replica *r)
{
	return r->catchup_deadline != UINT64_MAX;
}

static zz_order_req *
buffered(zz_replica *r, zz_seq s)
{
	zz_order_req *f = r->future[s % r->ring_cap];

	return f != NULL && f->hdr.seq == s ? f : NULL;
}

static zz_seq
first_missing(zz_replica *r)
{
	zz_seq		s;

	for (s = r->max_seq + 1; s <= r->catchup.seq; s++)
		if (buffered(r, s) == NULL)
			return s;
	return s;
}

/*
 * Ask the next signer of the certificate we aim at for the ORDER-REQs we
 * miss (or, with no target yet, for what follows our log: its answer
 * brings the next certificate).
 */
static void
ask_next_signer(zz_replica *r)
{
	const zz_cp_proof *p = r->catchup.count > 0 ? &r->catchup : &r->catchup_far;
	zz_seq		from,
				to;

	if (r->catchup.count > 0)
	{
		from = first_missing(r);
		to = r->catchup.seq;
	}
	else
	{
		from = r->max_seq + 1;
		to = r->max_seq + ZZ_FILL_HOLE_MAX;
	}
	for (uint32_t i = 0; i < p->count; i++)
	{
		uint32_t	peer = p->replicas[(r->catchup_peer + i) % p->count];

		if (peer == r->id)
			continue;
		r->catchup_peer = (r->catchup_peer + i + 1) % p->count;
		zz_send_fill_hole_to(r, peer, from, to);
		break;
	}
	r->catchup_asked_hi = from + ZZ_FILL_HOLE_MAX - 1;
	r->catchup_ask_at = r->now + r->p.fill_hole_timeout;
}

static void
end_run(zz_replica *r)
{
	r->catchup.count = 0;
	r->catchup.seq = 0;
	r->catchup_far.count = 0;
	r->catchup_far.seq = 0;
	r->catchup_deadline = UINT64_MAX;
	r->catchup_ask_at = UINT64_MAX;
}

/*
 * Replay did not get us there: fetch the highest certificate's state, as
 * without catch-up.
 */
static void
give_up(zz_replica *r, const char *why)
{
	zz_cp_proof p = r->catchup_far.seq > r->catchup.seq ? r->catchup_far : r->catchup;

	zz_replica_trace(r, "catch-up to %llu: %s, fetching state",
					 (unsigned long long) p.seq, why);
	end_run(r);
	r->catchup_gave_up = p.seq;
	if (p.count > 0)
		zz_checkpoint_transfer(r, &p);
}

/* Drop the buffered ORDER-REQs in (max_seq, target]. */
static void
drop_buffer(zz_replica *r)
{
	for (zz_seq s = r->max_seq + 1; s <= r->catchup.seq; s++)
	{
		uint32_t	slot = (uint32_t) (s % r->ring_cap);

		zz_order_req_free(r->future[slot]);
		r->future[slot] = NULL;
	}
}

/*
 * The chain from our max_history through the buffered ORDER-REQs: true if
 * every batch digest is that of its requests and the chain ends at the
 * certificate's history.
 */
static bool
chain_reaches(zz_replica *r)
{
	zz_digest	h = r->max_history,
				next;
	zz_digest  *dg = NULL;
	uint32_t	dcap = 0;
	bool		ok = true;

	for (zz_seq s = r->max_seq + 1; s <= r->catchup.seq && ok; s++)
	{
		zz_order_req *m = buffered(r, s);
		zz_digest	d;

		if (m->hdr.count == 0)
		{
			ok = false;
			break;
		}
		if (m->hdr.count > dcap)
		{
			dcap = m->hdr.count;
			free(dg);
			dg = malloc(sizeof(zz_digest) * dcap);
			if (dg == NULL)
				abort();
		}
		for (uint32_t i = 0; i < m->hdr.count; i++)
			zz_request_digest(r->crypto, &m->reqs[i], &dg[i]);
		zz_batch_digest(r->crypto, m->hdr.nd_time, m->hdr.nd_seed, dg, m->hdr.count, &d);
		if (!zz_digest_eq(&d, &m->hdr.batch_digest))
			ok = false;
		zz_chain_history(r->crypto, &h, s, &d, &next);
		h = next;
		if (!zz_digest_eq(&h, &m->hdr.history))
			ok = false;
	}
	free(dg);
	return ok && zz_digest_eq(&h, &r->catchup.history);
}

/*
 * Everything up to the target may be there: check the chain, and replay
 * it or refuse it.
 */
static void
try_replay(zz_replica *r)
{
	zz_seq		from = r->max_seq,
				s;

	if (r->catchup.count == 0)
		return;
	s = first_missing(r);
	if (s <= r->catchup.seq)
	{
		/* one answer brings at most ZZ_FILL_HOLE_MAX: ask for the rest */
		if (s > r->catchup_asked_hi)
			ask_next_signer(r);
		return;
	}
	if (!chain_reaches(r))
	{
		drop_buffer(r);
		r->catchup_refusals++;
		r->stats.catchup_refusals++;
		zz_replica_trace(r, "catch-up to %llu: the ORDER-REQs do not chain to the certificate",
						 (unsigned long long) r->catchup.seq);
		if (r->catchup_refusals > r->p.f)
			r->catchup_deadline = r->now;	/* zz_catchup_tick gives up */
		else
			ask_next_signer(r);
		return;
	}
	for (s = from + 1; s <= r->catchup.seq; s++)
	{
		uint32_t	slot = (uint32_t) (s % r->ring_cap);
		zz_order_req *m = r->future[slot];

		r->future[slot] = NULL;
		if (!zz_accept_order_req(r, m, true))
		{
			/* cannot happen after chain_reaches: the window was checked */
			zz_order_req_free(m);
			r->stats.rejected++;
			break;
		}
		zz_order_req_free(m);
		r->stats.catchup_batches++;
		r->catchup_run_batches++;
	}
	zz_replica_trace(r, "caught up from %llu to %llu by replay",
					 (unsigned long long) from, (unsigned long long) r->max_seq);
	r->catchup.count = 0;
	r->catchup.seq = 0;
	r->catchup_refusals = 0;
	r->catchup_progress = r->max_seq + r->last_executed;
	r->catchup_deadline = r->now + patience(r);
	if (r->catchup_far.seq <= r->max_seq)
	{
		zz_replica_notice(r, ZZ_NOTICE_CATCHUP,
						  "caught up by replay from %llu to %llu: %llu batches in %.1f s",
						  (unsigned long long) r->catchup_run_from,
						  (unsigned long long) r->max_seq,
						  (unsigned long long) r->catchup_run_batches,
						  (double) (r->now - r->catchup_run_at) / 1e6);
		end_run(r);
	}
	else
		ask_next_signer(r);		/* the answer brings the next certificate */
	zz_checkpoint_recheck(r);	/* a certificate we hold may be the next target */
}

/*
 * check_stable found a certificate above our log that it would fetch the
 * state of.  Try to reach it by replay instead: true if catch-up takes it
 * on (the caller then starts no state transfer).
 */
bool
zz_catchup_instead(zz_replica *r, const zz_cp_proof *proof)
{
	if (r->p.retain_batches == 0 || r->p.retain_bytes == 0 || r->mode != ZZ_MODE_NORMAL ||
		zz_is_primary(r) || proof->view != r->view || proof->seq <= r->max_seq ||
		proof->seq <= r->catchup_gave_up)
		return false;
	if (!zz_catchup_active(r))
	{
		r->catchup_run_from = r->max_seq;
		r->catchup_run_at = r->now;
		r->catchup_run_batches = 0;
		r->catchup_refusals = 0;
		r->catchup_deadline = r->now + patience(r);
		r->catchup_far = *proof;
		r->catchup_progress = r->max_seq + r->last_executed;
		r->stats.catchup_runs++;
		zz_replica_trace(r, "catch-up by replay towards checkpoint %llu from %llu",
						 (unsigned long long) proof->seq, (unsigned long long) r->max_seq);
	}
	else if (proof->seq > r->catchup_far.seq)
		r->catchup_far = *proof;
	if (r->catchup.count == 0 && proof->seq - r->max_seq <= r->p.cp_interval &&
		proof->seq <= r->stable_seq + 2 * (zz_seq) r->p.cp_interval)
	{
		r->catchup = *proof;
		zz_replica_trace(r, "catch-up: replaying to checkpoint %llu", (unsigned long long) proof->seq);
		if (first_missing(r) > proof->seq)
			try_replay(r);
		else
			ask_next_signer(r);
	}
	else if (r->catchup.count == 0 && r->catchup_ask_at == UINT64_MAX)
		ask_next_signer(r);
	return true;
}

/*
 * An ORDER-REQ arrived: if it lies in (max_seq, target], keep it for the
 * replay, whatever view it was signed in (the chain is checked when all
 * are there).  True if catch-up took it.
 */
bool
zz_catchup_offer(zz_replica *r, const zz_order_req *m)
{
	uint32_t	slot;

	if (r->catchup.count == 0 || r->mode != ZZ_MODE_NORMAL ||
		m->hdr.seq <= r->max_seq || m->hdr.seq > r->catchup.seq ||
		m->hdr.view > r->catchup.view)
		return false;
	slot = (uint32_t) (m->hdr.seq % r->ring_cap);
	if (r->future[slot] != NULL && r->future[slot]->hdr.seq != m->hdr.seq)
	{
		zz_order_req_free(r->future[slot]);
		r->future[slot] = NULL;
	}
	if (r->future[slot] == NULL)
	{
		r->future[slot] = zz_order_req_clone(m);
		if (r->future[slot] == NULL)
			abort();
		/* an answer is arriving: keep waiting for it */
		r->catchup_deadline = r->now + patience(r);
	}
	try_replay(r);
	return true;
}

zz_time
zz_catchup_deadline(const zz_replica *r)
{
	if (!zz_catchup_active(r))
		return UINT64_MAX;
	return r->catchup_ask_at < r->catchup_deadline ? r->catchup_ask_at : r->catchup_deadline;
}

/*
 * Timers: no progress within the deadline gives up for a state transfer;
 * an unanswered request goes to the next signer.  Leaving normal mode (a
 * view change) or our view ends the run: the new history decides.
 */
void
zz_catchup_tick(zz_replica *r)
{
	if (!zz_catchup_active(r))
		return;
	if (r->mode != ZZ_MODE_NORMAL ||
		(r->catchup.count > 0 && r->catchup.view != r->view) ||
		(r->catchup.count == 0 && r->catchup_far.view != r->view))
	{
		zz_replica_trace(r, "catch-up ended: the view changed");
		end_run(r);
		return;
	}
	if (r->catchup.count > 0 && r->catchup.seq <= r->max_seq)
	{
		r->catchup.count = 0;
		r->catchup.seq = 0;
	}
	if (r->catchup_far.seq <= r->max_seq)
	{
		end_run(r);
		return;
	}
	if (r->max_seq + r->last_executed > r->catchup_progress)
	{
		/*
		 * Filled in some other way (a peer still holding it), or our
		 * service executed what we replayed, which moves the window to the
		 * next target: progress too.
		 */
		r->catchup_progress = r->max_seq + r->last_executed;
		r->catchup_deadline = r->now + patience(r);
	}
	if (r->now >= r->catchup_deadline || r->catchup_refusals > r->p.f)
	{
		/*
		 * Not while our service still executes batches we replayed: an
		 * install would race them.  Look again in a while.
		 */
		if (zz_last_submitted(r) > r->last_executed)
		{
			r->catchup_deadline = r->now + r->p.fill_hole_timeout;
			return;
		}
		give_up(r, r->catchup_refusals > r->p.f ? "f+1 chains refused" : "no progress");
		return;
	}
	if (r->catchup.count == 0)
		zz_checkpoint_recheck(r);
	if (zz_catchup_active(r) && r->now >= r->catchup_ask_at)
		ask_next_signer(r);
}
