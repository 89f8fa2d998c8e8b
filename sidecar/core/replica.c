/*
 * replica.c
 *	  The Zyzzyva replica's normal case (docs/protocol.md sections 4-6):
 *	  REQUEST, the primary's batching into ORDER-REQ, acceptance and
 *	  speculative execution, SPEC-RESPONSE, COMMIT and LOCAL-COMMIT,
 *	  cached replies, CONFIRM-REQ and FILL-HOLE.
 *
 * Checkpoints live in checkpoint.c, catch-up by replay in catchup.c, the
 * view change in viewchange.c and enterview.c, the log and client table
 * in history.c.  Nothing here does I/O or reads a clock: time arrives as
 * an argument and messages leave through zz_io.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica_int.h"



/*
 * An event an operator must see: to io.notice if the shell has it, and
 * to the trace.
 */
void
zz_replica_notice(zz_replica *r, zz_notice_kind kind, const char *fmt,...)
{
	char		line[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	zz_replica_trace(r, "%s", line);
	if (r->io.notice != NULL)
		r->io.notice(r->io.ctx, kind, line);
}

/*
 * A line of trace for humans, when the shell asked for traces.
 */
void
zz_replica_trace(zz_replica *r, const char *fmt,...)
{
	char		line[512];
	int			off;
	va_list		ap;

	if (r->io.trace == NULL)
		return;
	off = snprintf(line, sizeof(line), "R%u v%llu: ", r->id, (unsigned long long) r->view);
	va_start(ap, fmt);
	vsnprintf(line + off, sizeof(line) - off, fmt, ap);
	va_end(ap);
	r->io.trace(r->io.ctx, line);
}

void
zz_send_replica(zz_replica *r, uint32_t to, const zz_buf *b)
{
	/* An empty buffer is an encoding that failed or never happened. */
	if (to != r->id && to < r->p.n && b->len > 0)
		r->io.to_replica(r->io.ctx, to, b->data, b->len);
}

void
zz_broadcast_raw(zz_replica *r, const uint8_t *buf, size_t len)
{
	uint32_t	i;

	if (len == 0)
		return;
	for (i = 0; i < r->p.n; i++)
		if (i != r->id)
			r->io.to_replica(r->io.ctx, i, buf, len);
}

void
zz_broadcast(zz_replica *r, const zz_buf *b)
{
	uint32_t	i;

	for (i = 0; i < r->p.n; i++)
		zz_send_replica(r, i, b);
}

/*
 * Create a replica at view 0 with an empty history.
 */
zz_replica *
zz_replica_create(const zz_params *params, uint32_t id, zz_crypto *crypto,
				  const zz_service *svc, const zz_io *io)
{
	zz_replica *r;

	if (params->n != 3 * params->f + 1 || params->n > ZZ_MAX_N || id >= params->n ||
		params->cp_interval == 0 || params->cp_interval > ZZ_MAX_CP_INTERVAL ||
		params->batch_max == 0 || params->batch_max > ZZ_MAX_BATCH)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->p = *params;
	r->id = id;
	r->crypto = crypto;
	r->svc = *svc;
	r->io = *io;
	r->ring_cap = 2 * params->cp_interval + 2;
	r->ring = calloc(r->ring_cap, sizeof(zz_entry));
	r->future = calloc(r->ring_cap, sizeof(zz_order_req *));
	r->past_seq = calloc(r->ring_cap, sizeof(zz_seq));
	r->past_history = calloc(r->ring_cap, sizeof(zz_digest));
	r->batch = calloc(params->batch_max, sizeof(zz_pending));
	zz_buf_init(&r->out);
	zz_buf_init(&r->sigbuf);
	r->vc = zz_vc_create(r);
	r->chain_memo = zz_chain_memo_create(r->ring_cap);
	r->retained = zz_retained_create();
	if (r->chain_memo == NULL || r->retained == NULL || r->ring == NULL || r->future == NULL || r->batch == NULL || r->vc == NULL ||
		r->past_seq == NULL || r->past_history == NULL ||
		zz_client_lookup(r, 0, true) == NULL)
	{
		zz_replica_free(r);
		return NULL;
	}
	r->batch_deadline = UINT64_MAX;
	r->fill_hole_deadline = UINT64_MAX;
	r->announce_deadline = UINT64_MAX;
	r->catchup_deadline = UINT64_MAX;
	r->catchup_ask_at = UINT64_MAX;
	return r;
}

void
zz_drop_batch(zz_replica *r)
{
	uint32_t	i;
	bool		had = r->batch_len > 0;

	for (i = 0; i < r->batch_len; i++)
		free(r->batch[i].op_copy);
	r->batch_len = 0;
	r->batch_deadline = UINT64_MAX;
	if (had)
		zz_recompute_ordered(r);
}

static void
drop_future(zz_replica *r)
{
	uint32_t	i;

	for (i = 0; i < r->ring_cap; i++)
	{
		if (r->future[i])
			zz_order_req_free(r->future[i]);
		r->future[i] = NULL;
	}
	r->fill_hole_deadline = UINT64_MAX;
}

void
zz_replica_free(zz_replica *r)
{
	uint32_t	i;

	if (r == NULL)
		return;
	if (r->ring)
		for (i = 0; i < r->ring_cap; i++)
			zz_entry_clear(&r->ring[i]);
	if (r->future)
		drop_future(r);
	if (r->batch)
		zz_drop_batch(r);
	for (i = 0; i < r->clients_cap; i++)
		free(r->clients[i].reply);
	for (i = 0; i < ZZ_CP_SLOTS; i++)
		free(r->cp_states[i].table);
	free(r->pending_table);
	zz_checkpoint_free_serving(r);
	zz_vc_free(r->vc);
	zz_chain_memo_free(r->chain_memo);
	zz_retained_free(r->retained);
	free(r->clients);
	free(r->ring);
	free(r->past_seq);
	free(r->past_history);
	free(r->future);
	free(r->batch);
	zz_buf_free(&r->out);
	zz_buf_free(&r->sigbuf);
	free(r);
}

bool
zz_replica_set_params(zz_replica *r, const zz_params *params)
{
	if (params->f != r->p.f || params->n != r->p.n ||
		params->cp_interval != r->p.cp_interval ||
		params->batch_max == 0 || params->batch_max > ZZ_MAX_BATCH)
		return false;
	if (params->batch_max < r->batch_len)
		return false;			/* the open batch is larger: try again later */
	if (params->batch_max > r->p.batch_max)
	{
		/* The open batch's array is sized by batch_max. */
		zz_pending *b = realloc(r->batch, sizeof(zz_pending) * params->batch_max);

		if (b == NULL)
			return false;
		r->batch = b;
	}
	r->p = *params;
	return true;
}

#ifdef ZZ_FAULT_INJECTION
/*
 * Switch planted bugs on or off (test builds only).
 */
void
zz_replica_set_bugs(zz_replica *r, unsigned bugs)
{
	r->bugs = bugs;
}

/*
 * Make this replica, as primary, stamp its batches with a skewed time
 * (test builds only): the backups' time checks must catch it.
 */
void
zz_replica_set_nd_time_skew(zz_replica *r, int64_t skew_us)
{
	r->nd_time_skew = skew_us;
}
#endif

const zz_replica_stats *
zz_replica_get_stats(const zz_replica *r)
{
	return &r->stats;
}

/*
 * The highest sequence number known committed: covered by the max CC or
 * by the stable checkpoint.
 */
static zz_seq
committed_seq(const zz_replica *r)
{
	zz_seq		c = r->stable_seq;

	if (r->has_cc && r->max_cc.seq > c && r->max_cc.seq <= r->last_executed)
		c = r->max_cc.seq;
	return c;
}

void
zz_replica_get_status(const zz_replica *r, zz_replica_status *out)
{
	out->id = r->id;
	out->view = r->view;
	out->mode = r->mode;
	out->max_seq = r->max_seq;
	out->last_executed = r->last_executed;
	out->committed = committed_seq(r);
	out->stable_seq = r->stable_seq;
	out->certified = r->cert_proof.seq;
	out->stable_state = r->stable_proof.state;
	out->history = r->exec_history;
	out->repairing = r->repairing;
	out->transfer_seq = r->mode == ZZ_MODE_STATE_TRANSFER ? r->transfer_seq : 0;
	out->catchup_seq = zz_catchup_active(r) ? r->catchup_far.seq : 0;
	zz_retained_usage(r, &out->retained_batches, &out->retained_bytes);
}

/*
 * "Committed" here means what can never be rolled back: the stable
 * checkpoint.  A CC this replica holds is not enough on its own: until the
 * client has 2f+1 LOCAL-COMMITs it may be the only replica that saw it,
 * and a view change that does not hear from it may choose otherwise
 * (the request was not complete, so no client was told).
 */
void
zz_replica_visit_history(const zz_replica *r, zz_history_visit fn, void *ctx)
{
	zz_seq		s,
				c = r->stable_seq;

	if (r->stable_seq > 0)
		fn(ctx, r->stable_seq, &r->stable_history, 0, true);
	for (s = r->stable_seq + 1; s <= r->last_executed; s++)
	{
		const zz_entry *e = &r->ring[s % r->ring_cap];

		if (e->used)
			fn(ctx, s, &e->order->hdr.history, e->order->hdr.view, s <= c);
	}
}

/* ------------------------------------------------------------------------
 * ORDER-REQ
 * ------------------------------------------------------------------------ */

/*
 * The primary's time for a batch (what the service's now() returns while
 * executing it) never goes back, and never runs further ahead of our own
 * clock than max_time_ahead.  A primary that signed one that does is
 * faulty: we hate it rather than execute (docs/protocol.md, "Time").
 */
static bool
order_time_plausible(zz_replica *r, const zz_order_hdr *h)
{
	const char *why = NULL;

	if (h->nd_time < r->last_nd_time)
		why = "ORDER-REQ time goes back";
	else if (r->p.max_time_ahead > 0 && h->nd_time > r->now + r->p.max_time_ahead)
		why = "ORDER-REQ time too far ahead of our clock";
	if (why == NULL)
		return true;
	zz_replica_trace(r, "n=%llu: time %llu, previous %llu, our clock %llu: %s",
					 (unsigned long long) h->seq, (unsigned long long) h->nd_time,
					 (unsigned long long) r->last_nd_time, (unsigned long long) r->now, why);
	if (h->view == r->view)
		zz_hate_primary(r, why);
	return false;
}

/*
 * Append an ORDER-REQ at max_seq + 1 if it passes every acceptance check
 * of section 4 step 3 (the signature was checked by the caller when
 * verified is true), then execute what can be executed.
 */
bool
zz_accept_order_req(zz_replica *r, const zz_order_req *m, bool verified)
{
	zz_entry   *e;
	zz_digest  *digests;
	zz_digest	d,
				h;
	uint32_t	i;

	if (m->hdr.seq != r->max_seq + 1 || m->hdr.count == 0 ||
		m->hdr.seq > r->stable_seq + 2 * (zz_seq) r->p.cp_interval)
		return false;
	if (!verified)
	{
		zz_order_hdr_signing_bytes(&r->sigbuf, &m->hdr);
		if (!zz_verify(r->crypto, zz_primary_of(&r->p, m->hdr.view), r->sigbuf.data,
					   r->sigbuf.len, &m->hdr.sig))
			return false;
		if (!order_time_plausible(r, &m->hdr))
			return false;
	}
	digests = malloc(sizeof(zz_digest) * m->hdr.count);
	if (digests == NULL)
		abort();
	for (i = 0; i < m->hdr.count; i++)
	{
		bool		ok;

		if (verified)
		{
			zz_request_digest(r->crypto, &m->reqs[i], &digests[i]);
			continue;
		}
		ok = zz_request_authentic(r, &m->reqs[i], &digests[i]);
		if (!ok)
		{
			zz_replica_trace(r, "ORDER-REQ n=%llu: request %u fails its MAC",
							 (unsigned long long) m->hdr.seq, i);
			free(digests);
			return false;
		}
	}
	zz_batch_digest(r->crypto, m->hdr.nd_time, m->hdr.nd_seed, digests, m->hdr.count, &d);
	zz_chain_history(r->crypto, &r->max_history, m->hdr.seq, &d, &h);
	if (!zz_digest_eq(&d, &m->hdr.batch_digest) ||
		(!zz_digest_eq(&h, &m->hdr.history) && !ZZ_BUGGY(r, ZZ_BUG_ACCEPT_BAD_HISTORY)))
	{
		zz_replica_trace(r, "ORDER-REQ n=%llu rejected: batch or history digest mismatch",
						 (unsigned long long) m->hdr.seq);
		free(digests);
		return false;
	}

	e = &r->ring[m->hdr.seq % r->ring_cap];
	zz_entry_clear(e);
	e->order = zz_order_req_clone(m);
	if (e->order == NULL)
		abort();
	e->used = true;
	e->req_digests = digests;
	r->max_seq = m->hdr.seq;
	r->max_seq_at = r->now;
	r->max_seq_bytes = 0;
	for (i = 0; i < m->hdr.count; i++)
		r->max_seq_bytes += m->reqs[i].op_len;
	r->max_history = m->hdr.history;
	if (m->hdr.nd_time > r->last_nd_time)
		r->last_nd_time = m->hdr.nd_time;
	for (i = 0; i < m->hdr.count; i++)
	{
		zz_client_rec *c = zz_client_lookup(r, m->reqs[i].client, true);

		if (c && m->reqs[i].timestamp > c->ordered_ts)
		{
			c->ordered_ts = m->reqs[i].timestamp;
			c->ordered_seq = m->hdr.seq;
		}
		if (c && c->ordered_ts >= c->confirm_ts)
			zz_confirm_disarm(r, c);
	}
	zz_try_execute(r);
	return true;
}

/*
 * Our FILL-HOLE for [from, to] in our view, signed, into r->out.
 */
static void
encode_fill_hole(zz_replica *r, zz_seq from, zz_seq to)
{
	zz_fill_hole m;

	memset(&m, 0, sizeof(m));
	m.view = r->view;
	m.replica = r->id;
	m.from_seq = from;
	m.to_seq = to;
	zz_fill_hole_signing_bytes(&r->sigbuf, &m);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &m.sig);
	zz_buf_reset(&r->out);
	zz_encode_fill_hole(&r->out, &m);
	r->stats.fill_holes++;
}

/*
 * Ask one replica for the ORDER-REQs in [from, until] (catch-up, catchup.c).
 */
void
zz_send_fill_hole_to(zz_replica *r, uint32_t to, zz_seq from, zz_seq until)
{
	encode_fill_hole(r, from, until);
	zz_send_replica(r, to, &r->out);
}

/*
 * Ask for the ORDER-REQs between max_seq and an ORDER-REQ that arrived
 * early (section 6): the primary first, every replica on later rounds.
 */
static void
send_fill_hole(zz_replica *r, zz_seq to)
{
	encode_fill_hole(r, r->max_seq + 1, to);
	if (r->fill_hole_round == 0)
		zz_send_replica(r, zz_primary_of(&r->p, r->view), &r->out);
	else
		zz_broadcast(r, &r->out);
	r->fill_hole_round++;
	r->fill_hole_deadline = r->now + r->p.fill_hole_timeout;
}

/*
 * After a restart: ask every replica what follows our log.  Those in a
 * later view answer with its NEW-VIEW (a restarted replica may have missed
 * view changes), those that truncated past us with their checkpoint, the
 * others with the next ORDER-REQ, which starts the usual fill-hole.
 * Without this a replica that restarts into an idle cluster would learn
 * where it is only from the next request.
 */
void
zz_announce_restart(zz_replica *r)
{
	encode_fill_hole(r, r->max_seq + 1, r->max_seq + ZZ_FILL_HOLE_MAX);
	zz_broadcast(r, &r->out);

	/*
	 * A few times more, each wait twice the last: nobody may have heard
	 * (a partition, peers still down), or one answer may not be enough
	 * (each brings at most ZZ_FILL_HOLE_MAX entries).  Not forever: in a
	 * busy cluster the replica would keep asking for what it gets anyway.
	 */
	if (r->announce_left == 0)
	{
		r->announce_left = ZZ_ANNOUNCE_ROUNDS;
		r->announce_wait = r->p.fill_hole_timeout;
	}
	else
		r->announce_wait *= 2;
	r->announce_left--;
	r->announce_deadline = r->announce_left > 0 ? r->now + r->announce_wait : UINT64_MAX;
}

/*
 * Ask one replica for whatever follows our log (a FILL-HOLE for the next
 * ZZ_FILL_HOLE_MAX seqs; nothing comes back if there is nothing).
 */
void
zz_fetch_after_log(zz_replica *r, uint32_t to)
{
	encode_fill_hole(r, r->max_seq + 1, r->max_seq + ZZ_FILL_HOLE_MAX);
	zz_send_replica(r, to, &r->out);
}

/*
 * Ask every replica for the ORDER-REQs in [from, to] (at most once per
 * fill-hole interval).
 */
static void
fetch_from_all(zz_replica *r, zz_seq from, zz_seq to)
{
	if (from > to || (r->fetch_all_at != 0 && r->now < r->fetch_all_at + r->p.fill_hole_timeout))
		return;
	r->fetch_all_at = r->now ? r->now : 1;
	encode_fill_hole(r, from, to);
	zz_broadcast(r, &r->out);
}

/*
 * Apply buffered ORDER-REQs that have become next in line.
 */
static void
drain_future(zz_replica *r)
{
	for (;;)
	{
		uint32_t	slot = (uint32_t) ((r->max_seq + 1) % r->ring_cap);
		zz_order_req *f = r->future[slot];

		if (f == NULL)
			break;
		r->future[slot] = NULL;

		/*
		 * Buffered unverified: the primary's signature, the requests' MACs
		 * and the history chain are all checked now, as for one that
		 * arrives in order.
		 */
		if (f->hdr.seq == r->max_seq + 1 && f->hdr.view == r->view &&
			!zz_accept_order_req(r, f, ZZ_BUGGY(r, ZZ_BUG_FILL_HOLE_NO_VERIFY)))
			r->stats.rejected++;
		zz_order_req_free(f);
	}
}

static zz_seq
highest_future(zz_replica *r)
{
	zz_seq		hi = 0;
	uint32_t	i;

	for (i = 0; i < r->ring_cap; i++)
		if (r->future[i] && r->future[i]->hdr.seq > hi)
			hi = r->future[i]->hdr.seq;
	return hi;
}

static void
on_order_req(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_order_req m;
	zz_entry   *e;

	if (zz_decode_order_req(buf, len, &m) != ZZ_OK)
	{
		r->stats.rejected++;
		return;
	}
	/* one a catch-up by replay waits for (catchup.c) */
	if (zz_catchup_offer(r, &m))
	{
		if (r->catchup.count == 0)
			drain_future(r);	/* what came ahead of the target */
		goto done;
	}
	if (r->mode == ZZ_MODE_VIEW_CHANGE && m.hdr.view == zz_vc_target(r))
	{
		/* The new primary re-issuing the new history in its view. */
		if (!zz_vc_relabel(r, &m))
			r->stats.rejected++;
		goto done;
	}
	if (m.hdr.view > r->view)
	{
		/* A view change we missed: ask for its NEW-VIEW. */
		zz_request_new_view(r, m.hdr.view);
		goto done;
	}
	if (m.hdr.view == r->view && r->mode == ZZ_MODE_VIEW_CHANGE)
	{
		/* The new primary re-issuing the new history in its view. */
		if (!zz_vc_relabel(r, &m))
			r->stats.rejected++;
		goto done;
	}
	if (m.hdr.view != r->view || r->mode != ZZ_MODE_NORMAL || zz_is_primary(r))
		goto done;
	if (m.hdr.seq <= r->max_seq)
	{
		/* A second, different ORDER-REQ for an accepted (v, n) is a POM. */
		e = zz_entry_at(r, m.hdr.seq);
		if (e != NULL && e->order->hdr.view == m.hdr.view &&
			memcmp(&e->order->hdr.history, &m.hdr.history, sizeof(zz_digest)) != 0)
		{
			zz_order_hdr_signing_bytes(&r->sigbuf, &m.hdr);
			if (zz_verify(r->crypto, zz_primary_of(&r->p, m.hdr.view), r->sigbuf.data,
						  r->sigbuf.len, &m.hdr.sig))
				zz_report_pom(r, &e->order->hdr, &m.hdr);
		}
		goto done;
	}
	if (m.hdr.seq > r->stable_seq + 2 * (zz_seq) r->p.cp_interval)
	{
		zz_seq		win_end = r->stable_seq + 2 * (zz_seq) r->p.cp_interval;

		/*
		 * Flow control.  If we also lag inside the window, fill that in:
		 * executing it is what lets the next checkpoint move the window.
		 */
		zz_replica_trace(r, "ORDER-REQ n=%llu beyond the window (stable %llu)",
						 (unsigned long long) m.hdr.seq, (unsigned long long) r->stable_seq);
		if (r->max_seq < win_end && r->fill_hole_deadline == UINT64_MAX)
			send_fill_hole(r, win_end);
		goto done;
	}
	if (m.hdr.seq == r->max_seq + 1)
	{
		if (!zz_accept_order_req(r, &m, false))
			r->stats.rejected++;
		drain_future(r);
		if (highest_future(r) == 0)
		{
			r->fill_hole_deadline = UINT64_MAX;
			r->fill_hole_round = 0;
		}
	}
	else
	{
		uint32_t	slot = (uint32_t) (m.hdr.seq % r->ring_cap);

		if (r->future[slot] == NULL)
			r->future[slot] = zz_order_req_clone(&m);
		if (r->fill_hole_deadline == UINT64_MAX)
			send_fill_hole(r, m.hdr.seq - 1);
	}
done:
	zz_order_req_release(&m);
}

/*
 * Answer a FILL-HOLE with the ORDER-REQs we hold in the range.  Any
 * replica may answer: the ORDER-REQs carry the primary's signature.
 */
static void
on_fill_hole(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_fill_hole m;
	zz_seq		s,
				end;

	if (zz_decode_fill_hole(buf, len, &m) != ZZ_OK || m.replica >= r->p.n ||
		m.from_seq > m.to_seq)
		goto reject;
	zz_fill_hole_signing_bytes(&r->sigbuf, &m);
	if (!zz_verify(r->crypto, m.replica, r->sigbuf.data, r->sigbuf.len, &m.sig))
		goto reject;
	if (m.view < r->view)
	{
		/* The sender missed a view change: show it the NEW-VIEW. */
		zz_vc_send_new_view_to(r, m.replica);
		return;
	}
	if (m.from_seq <= r->stable_seq &&
		zz_retained_answer(r, m.replica, m.from_seq, m.to_seq))
		return;					/* from the retained log: it catches up by replay */
	if (m.from_seq <= r->stable_seq)
	{
		/* Truncated here: show the checkpoint so it can transfer state. */
		zz_send_stable_checkpoint(r, m.replica);
		if (m.to_seq <= r->stable_seq)
			return;
		m.from_seq = r->stable_seq + 1;	/* and send what we still hold */
	}
	if (m.view != r->view)
		return;
	end = m.to_seq < r->max_seq ? m.to_seq : r->max_seq;
	if (end - m.from_seq >= ZZ_FILL_HOLE_MAX)
		end = m.from_seq + ZZ_FILL_HOLE_MAX - 1;
	for (s = m.from_seq; s <= end; s++)
	{
		zz_entry   *e = zz_entry_at(r, s);

		if (e == NULL || e->order->hdr.view != r->view)
			continue;
		zz_buf_reset(&r->out);
		zz_encode_order_req(&r->out, e->order);
		zz_send_replica(r, m.replica, &r->out);
	}
	return;
reject:
	r->stats.rejected++;
}

/* ------------------------------------------------------------------------
 * COMMIT
 * ------------------------------------------------------------------------ */

/*
 * Planted bug ZZ_BUG_CC_ANY_SIGNED_VIEW: accept a signature made for any
 * view below the certificate's label, as if the signatures did not cover
 * the view.  Always false without the bug (and in product builds).
 */
#ifdef ZZ_FAULT_INJECTION
static bool
cc_signed_in_older_view(zz_replica *r, const zz_commit_cert *cc, const zz_cc_entry *en)
{
	if (!ZZ_BUGGY(r, ZZ_BUG_CC_ANY_SIGNED_VIEW))
		return false;
	for (zz_view v = 0; v < cc->view; v++)
	{
		zz_response_core_signing_bytes(&r->sigbuf, v, cc->seq, &cc->history,
									   &en->reply_root);
		if (zz_verify(r->crypto, en->replica, r->sigbuf.data, r->sigbuf.len, &en->sig))
			return true;
	}
	return false;
}
#else
#define cc_signed_in_older_view(r, cc, en)	false
#endif

/*
 * A commit certificate is valid when 2f+1 distinct replicas signed the
 * response core (view, seq, h_n, their R).
 */
bool
zz_cc_valid(zz_replica *r, const zz_commit_cert *cc)
{
	bool		seen[ZZ_MAX_N] = {false};
	uint32_t	i,
				good = 0;

	if (cc->count < zz_quorum(&r->p) || cc->count > r->p.n)
		return false;
	for (i = 0; i < cc->count; i++)
	{
		const zz_cc_entry *en = &cc->entries[i];

		if (en->replica >= r->p.n ||
			(seen[en->replica] && !ZZ_BUGGY(r, ZZ_BUG_CC_DUP_SIGNER)))
			return false;
		seen[en->replica] = true;
		zz_response_core_signing_bytes(&r->sigbuf, cc->view, cc->seq, &cc->history,
									   &en->reply_root);
		if (!zz_verify(r->crypto, en->replica, r->sigbuf.data, r->sigbuf.len, &en->sig) &&
			!cc_signed_in_older_view(r, cc, en))
			return false;
		good++;
	}
	return good >= zz_quorum(&r->p);
}

/*
 * Does certificate a rank above b?  By view first, then by sequence
 * number (docs/protocol.md, "The max CC"): a certificate of a later view
 * was formed on a history that every completed request of an earlier view
 * is part of, whatever the sequence numbers.
 */
bool
zz_cc_outranks(const zz_replica *r, const zz_commit_cert *a, const zz_commit_cert *b)
{
	if (ZZ_BUGGY(r, ZZ_BUG_MAX_CC_BY_SEQ))
		return a->seq > b->seq;
	return a->view > b->view || (a->view == b->view && a->seq > b->seq);
}

/*
 * The history digest this replica holds at seq, if it still knows it.
 */
static bool
history_at(zz_replica *r, zz_seq seq, zz_digest *out)
{
	zz_entry   *e;

	if (seq == r->stable_seq)
	{
		*out = r->stable_history;
		return true;
	}
	if (seq < r->stable_seq)
	{
		/* Truncated, and so committed: answer from the digests we kept. */
		if (r->past_seq[seq % r->ring_cap] != seq)
			return false;
		*out = r->past_history[seq % r->ring_cap];
		return true;
	}
	e = zz_entry_at(r, seq);
	if (e == NULL || !e->executed)
		return false;
	*out = e->order->hdr.history;
	return true;
}

/*
 * Is seq (whose h matches our log) covered by evidence of our own view
 * that our next VIEW-CHANGE reports, or by the stable checkpoint (final)?
 * The certificate we entered this view with covers its new history; a
 * checkpoint certificate of this view covers its prefix.  Clients get
 * answers labelled view 0 for requests at or below a certified checkpoint
 * (resend_cached in request.c) and commit them this way.
 */
static bool
held_in_this_view(zz_replica *r, zz_seq seq)
{
	if (seq <= r->stable_seq)
		return true;

	/*
	 * Only evidence our log still passes through: build_view_change
	 * reports nothing else.  A checkpoint installed since may have taken
	 * the log off it (zz_install_breaks_promise keeps that from happening
	 * once we lean on it).
	 */
	if (r->entered_cert.count > 0 && r->entered_cert.view == r->view &&
		seq <= r->entered_cert.seq &&
		zz_log_holds(r, r->entered_cert.seq, &r->entered_cert.history))
		return true;
	return r->cert_proof.count > 0 && r->cert_proof.view == r->view &&
		seq <= r->cert_proof.seq &&
		zz_log_holds(r, r->cert_proof.seq, &r->cert_proof.history);
}

/*
 * Would installing a certified checkpoint at (seq, h) take our log off
 * evidence of our own view that our LOCAL-COMMITs may lean on (the
 * entered-view certificate, a checkpoint certificate, the max CC), below
 * it?  Our next VIEW-CHANGE must report that evidence (docs/protocol.md
 * section 10, "Which certificate a replica may LOCAL-COMMIT"), so in
 * this view we refuse such a checkpoint: it is of a later view (a correct
 * replica in our view cannot sign one contradicting it), and we learn of
 * that view and its new history soon enough.  A replica repairing a
 * corrupt state has lost its word anyway and counts against f.
 */
bool
zz_install_breaks_promise(zz_replica *r, zz_seq seq, const zz_digest *h)
{
	if (r->repairing || zz_log_holds(r, seq, h))
		return false;
	if (r->entered_cert.count > 0 && r->entered_cert.view == r->view &&
		r->entered_cert.seq > seq &&
		zz_log_holds(r, r->entered_cert.seq, &r->entered_cert.history))
		return true;
	if (r->cert_proof.count > 0 && r->cert_proof.view == r->view &&
		r->cert_proof.seq > seq &&
		zz_log_holds(r, r->cert_proof.seq, &r->cert_proof.history))
		return true;
	return r->has_cc && r->max_cc.view == r->view && r->max_cc.seq > seq &&
		zz_log_holds(r, r->max_cc.seq, &r->max_cc.history);
}

static void
on_commit(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_commit	m;
	zz_digest	mine,
				d;
	zz_local_commit lc;

	if (zz_decode_commit(buf, len, &m) != ZZ_OK)
		goto reject;

	/*
	 * Once our VIEW-CHANGE is out, the max CC it reports is final: a
	 * LOCAL-COMMIT now would help a client complete on a certificate the
	 * new view may never hear of.  The client retries in the new view.
	 */
	if (r->mode != ZZ_MODE_NORMAL)
		return;
	if (m.cc.seq > r->last_executed)
		return;					/* the client retransmits once we catch up */
	if (!history_at(r, m.cc.seq, &mine))
	{
		zz_client_rec *c = zz_client_lookup(r, m.client, false);

		/* Truncated and forgotten: the client table still knows its own. */
		if (c == NULL || m.cc.seq > r->stable_seq || c->last_seq != m.cc.seq ||
			c->last_ts != m.timestamp)
			return;
		mine = c->last_history;
	}
	if (!zz_digest_eq(&mine, &m.cc.history))
	{
		/*
		 * A valid CC of this view that conflicts with our history: the
		 * primary lied.  One from an older view may be stale (its history
		 * was rolled back in a view change) and says nothing about this
		 * primary.
		 */
		if (m.cc.view == r->view && zz_cc_valid(r, &m.cc))
		{
			zz_hate_primary(r, "commit certificate conflicts with local history");
			/*
			 * We alone may hold a forked branch: fetch the others' ORDER-REQs
			 * for the range, so the primary's two signed versions of one
			 * (v, n) become a POM that every replica acts on.
			 */
			fetch_from_all(r, r->stable_seq + 1, m.cc.seq);
		}
		return;
	}

	/*
	 * Only a certificate of the view we are in, or one for a prefix our
	 * next VIEW-CHANGE is sure to cover with evidence of this view
	 * (docs/protocol.md, "Which certificate a replica may LOCAL-COMMIT"):
	 * one of an older view may label entries since rolled back and
	 * re-issued, and a certificate of a view in between may outrank it at
	 * the next view change.  The client collects responses again in this
	 * view.
	 */
	if (m.cc.view != r->view && !held_in_this_view(r, m.cc.seq) &&
		!ZZ_BUGGY(r, ZZ_BUG_CC_ANY_VIEW))
		goto reject;
	if (m.cc.seq > r->stable_seq)
	{
		/*
		 * Keep the certificate that ranks highest.  One inside the max CC
		 * (same view, not beyond it) and matching our history needs no
		 * second signature check.
		 */
		bool		covered = r->has_cc && r->max_cc.seq >= m.cc.seq &&
			(r->max_cc.view == m.cc.view || ZZ_BUGGY(r, ZZ_BUG_MAX_CC_BY_SEQ));

		if (!covered)
		{
			if (!zz_cc_valid(r, &m.cc))
				goto reject;
			if (m.cc.view > r->view)
				goto reject;	/* cannot be: we are in no such view */
			if (!r->has_cc || zz_cc_outranks(r, &m.cc, &r->max_cc))
			{
				r->has_cc = true;
				r->max_cc = m.cc;
			}
		}
	}
	/*
	 * The LOCAL-COMMIT names the view we vouch in, not the certificate's:
	 * the client counts only LOCAL-COMMITs of one view (docs/protocol.md
	 * section 10, "Completion on the commit path").
	 */
	memset(&lc, 0, sizeof(lc));
	lc.view = r->view;
	lc.seq = m.cc.seq;
	lc.history = m.cc.history;
	lc.replica = r->id;
	lc.client = m.client;
	lc.timestamp = m.timestamp;
	zz_local_commit_mac_digest(r->crypto, &lc, &d);
	zz_mac_compute(r->crypto, m.client, &d, &lc.mac);
	zz_buf_reset(&r->out);
	zz_encode_local_commit(&r->out, &lc);
	r->io.to_client(r->io.ctx, m.client, r->out.data, r->out.len);
	r->stats.local_commits++;
	return;
reject:
	r->stats.rejected++;
}

/* ------------------------------------------------------------------------
 * Dispatch and time
 * ------------------------------------------------------------------------ */

void
zz_replica_receive(zz_replica *r, zz_time now, const uint8_t *buf, size_t len)
{
	zz_msg_type t;

	r->now = now;
	if (zz_msg_peek_type(buf, len, &t) != ZZ_OK)
	{
		r->stats.rejected++;
		return;
	}
	/*
	 * Fetching state, a replica answers nothing else, but it still takes
	 * part in a view change (unless its own state is corrupt): otherwise
	 * one slow transfer costs the cluster a second view change.
	 */
	if (r->mode == ZZ_MODE_STATE_TRANSFER && t != ZZ_MSG_STATE_REPLY &&
		t != ZZ_MSG_CHECKPOINT && t != ZZ_MSG_STATE_REQUEST &&
		(r->repairing || (t != ZZ_MSG_I_HATE_THE_PRIMARY && t != ZZ_MSG_VIEW_CHANGE &&
						  t != ZZ_MSG_NEW_VIEW && t != ZZ_MSG_VIEW_CONFIRM)))
		return;
	switch (t)
	{
		case ZZ_MSG_REQUEST:
			zz_on_request(r, buf, len);
			break;
		case ZZ_MSG_ORDER_REQ:
			on_order_req(r, buf, len);
			break;
		case ZZ_MSG_COMMIT:
			on_commit(r, buf, len);
			break;
		case ZZ_MSG_CONFIRM_REQ:
			zz_on_confirm_req(r, buf, len);
			break;
		case ZZ_MSG_FILL_HOLE:
			on_fill_hole(r, buf, len);
			break;
		case ZZ_MSG_CHECKPOINT:
			zz_on_checkpoint(r, buf, len);
			break;
		case ZZ_MSG_STATE_REQUEST:
			zz_on_state_request(r, buf, len);
			break;
		case ZZ_MSG_STATE_REPLY:
			zz_on_state_reply(r, buf, len);
			break;
		case ZZ_MSG_POM:
			zz_on_pom(r, buf, len);
			break;
		case ZZ_MSG_I_HATE_THE_PRIMARY:
			zz_on_i_hate(r, buf, len);
			break;
		case ZZ_MSG_VIEW_CHANGE:
			zz_on_view_change(r, buf, len);
			break;
		case ZZ_MSG_NEW_VIEW:
			zz_on_new_view(r, buf, len);
			break;
		case ZZ_MSG_VIEW_CONFIRM:
			zz_on_view_confirm(r, buf, len);
			break;
		default:
			/* SPEC-RESPONSE and LOCAL-COMMIT go to clients, not replicas. */
			r->stats.rejected++;
			break;
	}
	ZZ_ASSERT_INVARIANTS(r, "receive");
}

static zz_time
min_time(zz_time a, zz_time b)
{
	return a < b ? a : b;
}

/*
 * The earliest CONFIRM-REQ timer among clients.
 */
/*
 * A backup's CONFIRM-REQ for client c timed out without the request being
 * ordered.  Wait another interval instead of hating the primary while the
 * primary is visibly busy ordering:
 *	- it ordered a batch since the timer was last armed, or this backup
 *	  holds ordered batches it has not executed yet;
 *	- its batches are large (ZZ_CONFIRM_LARGE_BATCH bytes of requests or
 *	  more) and the last one came within ZZ_CONFIRM_RECENT intervals: each
 *	  takes a while to cross the network, and the request may be queued
 *	  behind several of them;
 *	- or it cannot order more until a checkpoint becomes stable (the
 *	  window of 2 x cp_interval above our stable checkpoint is full), which
 *	  the correct replicas bring about by themselves.
 * A flood of large requests keeps a correct primary seconds behind its
 * clients, its ORDER-REQs megabytes deep in the peers' queues; each
 * timeout would start a view change, whose messages carry those batches
 * and time out in turn.  The patience is bounded, so that a primary that
 * orders others' requests but never this one is still replaced:
 * ZZ_CONFIRM_PATIENCE intervals after the first CONFIRM-REQ at most.
 *
 * How long a correct primary takes to reach a request grows with the bytes
 * queued before it, which no fixed interval covers: both bounds get one
 * more interval for every ZZ_CONFIRM_BYTES_PER_INTERVAL of the requests
 * this backup has forwarded and not yet seen ordered (confirm_bytes).  The
 * allowance shrinks as the primary orders them, and a primary that orders
 * nothing at all gets none of it (the large-batch condition).
 */
#define ZZ_CONFIRM_LARGE_BATCH	(256u << 10)
#define ZZ_CONFIRM_RECENT		8
#define ZZ_CONFIRM_PATIENCE		128
#define ZZ_CONFIRM_BYTES_PER_INTERVAL	(64u << 10)

static bool
confirm_patient(const zz_replica *r, const zz_client_rec *c)
{
	zz_time		extra = r->p.confirm_timeout * (r->confirm_bytes / ZZ_CONFIRM_BYTES_PER_INTERVAL);

	if (r->now - c->confirm_since >= ZZ_CONFIRM_PATIENCE * r->p.confirm_timeout + extra)
		return false;
	return r->max_seq > c->confirm_max_seq ||
		r->last_executed < r->max_seq ||
		((r->max_seq_bytes >= ZZ_CONFIRM_LARGE_BATCH ||
		  r->confirm_bytes >= ZZ_CONFIRM_LARGE_BATCH) &&
		 r->now - r->max_seq_at < ZZ_CONFIRM_RECENT * r->p.confirm_timeout + extra) ||
		r->max_seq >= r->stable_seq + 2 * (zz_seq) r->p.cp_interval;
}

static zz_time
confirm_deadline(const zz_replica *r)
{
	zz_time		t = UINT64_MAX;
	uint32_t	i;

	if (r->confirms_armed == 0)
		return t;
	for (i = 0; i < r->clients_cap; i++)
		if (r->clients[i].used && zz_confirm_armed(&r->clients[i]))
			t = min_time(t, r->clients[i].confirm_deadline);
	return t;
}

zz_time
zz_replica_next_deadline(const zz_replica *r)
{
	zz_time		t = r->batch_deadline;

	t = min_time(t, r->fill_hole_deadline);
	t = min_time(t, zz_checkpoint_deadline(r));
	t = min_time(t, zz_vc_deadline(r));
	t = min_time(t, confirm_deadline(r));
	t = min_time(t, r->announce_deadline);
	t = min_time(t, zz_catchup_deadline(r));
	return t;
}

void
zz_replica_tick(zz_replica *r, zz_time now)
{
	uint32_t	i;

	r->now = now;
	if (r->announce_deadline <= now)
	{
		/* a few more times after a restart: the first may find them busy */
		r->announce_deadline = UINT64_MAX;
		if (r->mode == ZZ_MODE_NORMAL || zz_vc_awaiting_transfer(r))
			zz_announce_restart(r);
		else
			r->announce_deadline = now + r->announce_wait;	/* after the view change */
	}
	if (r->batch_deadline <= now)
		zz_batch_deadline(r, now);	/* request.c */
	if (r->fill_hole_deadline <= now)
	{
		zz_seq		hi = highest_future(r);

		r->fill_hole_deadline = UINT64_MAX;
		if (hi > r->max_seq + 1 && r->mode == ZZ_MODE_NORMAL)
			send_fill_hole(r, hi - 1);
		else
			r->fill_hole_round = 0;
		/*
		 * (Not while catching up: the hole is ours, the others truncated
		 * it, and the primary is not to blame.)
		 */
		if (r->fill_hole_round > 2 && !zz_catchup_active(r) &&
			!zz_views_futile(r, "fill-hole timed out"))
			zz_hate_primary(r, "fill-hole timed out");
	}
	for (i = 0; i < r->clients_cap && r->confirms_armed > 0; i++)
	{
		zz_client_rec *c = &r->clients[i];

		if (c->used && zz_confirm_armed(c) && c->confirm_deadline <= now)
		{
			if (r->mode == ZZ_MODE_NORMAL && !zz_is_primary(r) && c->confirm_view == r->view &&
				c->ordered_ts < c->confirm_ts && confirm_patient(r, c))
			{
				/* the primary is busy ordering: wait one more interval */
				c->confirm_deadline = now + r->p.confirm_timeout;
				c->confirm_max_seq = r->max_seq;
				continue;
			}
			zz_confirm_disarm(r, c);
			if (r->mode == ZZ_MODE_NORMAL && !zz_is_primary(r) && c->confirm_view == r->view &&
				c->ordered_ts < c->confirm_ts)
			{
				zz_hate_primary_again(r, "CONFIRM-REQ timed out");
				/*
				 * The primary may be feeding us alone a bad or forked
				 * ORDER-REQ: any replica can hand us the ones it sent the
				 * others, and a fork then shows as a POM.
				 */
				fetch_from_all(r, r->stable_seq + 1, r->max_seq + ZZ_FILL_HOLE_MAX);
			}
		}
	}
	zz_checkpoint_tick(r);
	zz_catchup_tick(r);
	zz_vc_tick(r);
	ZZ_ASSERT_INVARIANTS(r, "tick");
}

void
zz_replica_restart(zz_replica *r, zz_time now)
{
	uint32_t	i;

	r->now = now;
	zz_drop_batch(r);
	drop_future(r);
	r->fill_hole_round = 0;
	r->confirms_armed = 0;
	r->confirm_bytes = 0;
	for (i = 0; i < r->clients_cap; i++)
	{
		r->clients[i].confirm_deadline = UINT64_MAX;
		if (r->clients[i].ordered_ts > r->clients[i].last_ts &&
			zz_entry_at(r, r->clients[i].ordered_seq) == NULL)
			r->clients[i].ordered_ts = r->clients[i].last_ts;
	}
	r->cp_resend_deadline = now;
	zz_replica_trace(r, "restarted at n=%llu", (unsigned long long) r->last_executed);
	zz_announce_restart(r);
}

