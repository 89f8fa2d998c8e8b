/*
 * request.c
 *	  Requests at a replica (docs/protocol.md sections 4 and 5): REQUEST, the
 *	  primary's open batch and its ORDER-REQ, CONFIRM-REQ, and resending
 *	  the reply a client already had.
 */
#include <stdlib.h>
#include <string.h>

#include "replica_int.h"

/* ------------------------------------------------------------------------
 * REQUEST
 * ------------------------------------------------------------------------ */

/*
 * Resend the SPEC-RESPONSE a client was already sent for its latest
 * request.  (A client that was committing retransmits its COMMIT, which
 * is answered with a fresh LOCAL-COMMIT.)  A request below the stable
 * checkpoint is answered from the client table, which state transfer also
 * carries.
 */
static void
resend_cached(zz_replica *r, zz_client_rec *c)
{
	zz_spec_response m;
	zz_digest	d;
	const uint8_t *reply;
	uint32_t	len;

	zz_seq		settled = r->stable_seq > r->cert_proof.seq ? r->stable_seq : r->cert_proof.seq;

	/*
	 * At or below our stable or certified checkpoint the answer comes from
	 * the client table (below): a replica that reached the checkpoint by
	 * state transfer has nothing else, and all must answer alike.
	 */
	if (c->last_seq > settled)
	{
		zz_entry   *e = zz_entry_at(r, c->last_seq);

		/* Unanswered entries (view change in progress) are answered later. */
		if (e != NULL && e->responded && c->last_index < e->order->hdr.count)
		{
			r->stats.cached_replies++;
			zz_send_spec_response(r, e, c->last_index);
		}
		return;
	}
	if (!zz_client_reply(c, &reply, &len))
		return;

	/*
	 * Covered by a stable or certified checkpoint, and every correct
	 * replica holds the same reply in its client table: answer with a
	 * response core of its own, a batch of one at (0, n, h_n), which every
	 * correct replica builds identically.
	 */
	memset(&m, 0, sizeof(m));
	m.seq = c->last_seq;
	m.history = c->last_history;
	m.replica = r->id;
	m.client = c->client;
	m.timestamp = c->last_ts;
	m.reply = reply;
	m.reply_len = len;
	m.order.seq = c->last_seq;
	m.order.history = c->last_history;
	m.order.count = 1;
	zz_reply_leaf(r->crypto, c->client, c->last_ts, reply, len, &d);
	zz_merkle_root(r->crypto, &d, 1, &m.reply_root);
	zz_response_core_signing_bytes(&r->sigbuf, 0, m.seq, &m.history, &m.reply_root);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &m.core_sig);
	zz_spec_response_mac_digest(r->crypto, &m, &d);
	zz_mac_compute(r->crypto, c->client, &d, &m.mac);
	zz_buf_reset(&r->out);
	zz_encode_spec_response(&r->out, &m);
	r->io.to_client(r->io.ctx, c->client, r->out.data, r->out.len);
	r->stats.cached_replies++;
}

/*
 * The bytes of requests one ORDER-REQ carries at most.  A VIEW-CHANGE
 * carries every batch above the stable checkpoint, up to 2 x cp_interval
 * of them, and must encode too: so a batch carries at most half of
 * ZZ_MAX_MSG_LEN spread over that window (and never more than a quarter,
 * so that the batches in flight fit the peers' queues together).  A
 * request larger than that still goes alone in its batch.
 */
static size_t
batch_bytes_max(const zz_replica *r)
{
	size_t		window = ZZ_MAX_MSG_LEN / 2 / (2 * (size_t) (r->p.cp_interval ? r->p.cp_interval : 1));

	return window < ZZ_MAX_MSG_LEN / 4 ? window : ZZ_MAX_MSG_LEN / 4;
}

/*
 * Requests of the open batch, from the first, that one ORDER-REQ carries
 * by the estimate of their encoded size (at least one).
 */
static uint32_t
batch_prefix_by_bytes(const zz_replica *r)
{
	size_t		bytes = 1024;	/* the header, generously */
	size_t		max = batch_bytes_max(r);
	uint32_t	k;

	for (k = 0; k < r->batch_len; k++)
	{
		const zz_request *q = &r->batch[k].req;

		bytes += 64 + (size_t) q->op_len + (size_t) q->n_auth * sizeof(zz_mac);
		if (bytes > max)
			break;
	}
	return k > 0 ? k : 1;
}

/*
 * Forget the first k requests of the open batch (ordered, or dropped);
 * the rest stay open, still counted as ordered for their clients.
 */
static void
batch_remove_prefix(zz_replica *r, uint32_t k)
{
	if (k >= r->batch_len)
	{
		zz_drop_batch(r);
		return;
	}
	for (uint32_t i = 0; i < k; i++)
		free(r->batch[i].op_copy);
	memmove(r->batch, r->batch + k, sizeof(zz_pending) * (r->batch_len - k));
	r->batch_len -= k;
	zz_recompute_ordered(r);
	for (uint32_t i = 0; i < r->batch_len; i++)
	{
		zz_client_rec *c = zz_client_lookup(r, r->batch[i].req.client, true);

		if (c != NULL && r->batch[i].req.timestamp > c->ordered_ts)
			c->ordered_ts = r->batch[i].req.timestamp;
	}
}

/*
 * Order the first k requests of the open batch: one ORDER-REQ, signed
 * once, sent to every backup, and accepted locally.  False if it does not
 * encode (over ZZ_MAX_MSG_LEN): then nothing was sent or accepted.
 */
static bool
order_batch_prefix(zz_replica *r, uint32_t k)
{
	zz_order_req m;
	zz_digest  *digests;
	uint32_t	i;

	memset(&m, 0, sizeof(m));
	digests = malloc(sizeof(zz_digest) * k);
	m.reqs = malloc(sizeof(zz_request) * k);
	if (digests == NULL || m.reqs == NULL)
		abort();
	for (i = 0; i < k; i++)
	{
		digests[i] = r->batch[i].digest;
		m.reqs[i] = r->batch[i].req;
	}
	m.hdr.view = r->view;
	m.hdr.seq = r->max_seq + 1;
	m.hdr.count = k;

	/* the size does not depend on the signature: check it before signing */
	zz_buf_reset(&r->out);
	if (!zz_encode_order_req(&r->out, &m))
	{
		free(digests);
		free(m.reqs);
		return false;
	}

	/*
	 * The primary's clock, but never behind an earlier batch's: a new
	 * primary's clock may be behind the old one's, and replicated
	 * functions may rely on time moving forward.
	 */
	m.hdr.nd_time = r->now > r->last_nd_time ? r->now : r->last_nd_time + 1;
#ifdef ZZ_FAULT_INJECTION
	if (r->nd_time_skew != 0)	/* a faulty primary's clock, back or ahead */
		m.hdr.nd_time = r->nd_time_skew < 0 && (uint64_t) -r->nd_time_skew >= r->now ? 1 :
			r->now + (uint64_t) r->nd_time_skew;
#endif
	m.hdr.nd_seed = r->max_seq * 0x9e3779b97f4a7c15ull ^ r->now;	/* any value will do */
	zz_batch_digest(r->crypto, m.hdr.nd_time, m.hdr.nd_seed, digests, k,
					&m.hdr.batch_digest);
	zz_chain_history(r->crypto, &r->max_history, m.hdr.seq, &m.hdr.batch_digest,
					 &m.hdr.history);
	zz_order_hdr_signing_bytes(&r->sigbuf, &m.hdr);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &m.hdr.sig);

	zz_buf_reset(&r->out);
	if (!zz_encode_order_req(&r->out, &m))
		abort();				/* encoded a moment ago, same size */
	zz_broadcast(r, &r->out);
	r->stats.batches_ordered++;
	zz_replica_trace(r, "ORDER-REQ n=%llu count=%u", (unsigned long long) m.hdr.seq,
					 m.hdr.count);
	zz_accept_order_req(r, &m, true);

	free(digests);
	free(m.reqs);
	return true;
}

/*
 * The primary closes its open batch.  A batch is never larger than one
 * ORDER-REQ can encode (ZZ_MAX_MSG_LEN): it is cut by bytes into as many
 * ORDER-REQs as it takes (64 requests of 1 MiB make two), as far as flow
 * control allows; what is left stays open for the next.  A request that
 * could not be encoded even alone is dropped (its client hears nothing
 * and gives up) rather than ordered to this replica only.
 */
void
zz_close_batch(zz_replica *r)
{
	while (r->batch_len > 0 && r->mode == ZZ_MODE_NORMAL && zz_is_primary(r) &&
		   !r->forgot_orders)
	{
		uint32_t	k;

		if (r->max_seq + 1 > r->stable_seq + 2 * (zz_seq) r->p.cp_interval)
			return;				/* flow control: wait for a checkpoint */
		k = batch_prefix_by_bytes(r);
		while (!order_batch_prefix(r, k))
		{
			if (k == 1)
			{
				zz_replica_trace(r, "request c=%u t=%llu dropped: it does not encode",
								 r->batch[0].req.client,
								 (unsigned long long) r->batch[0].req.timestamp);
				r->stats.rejected++;
				break;
			}
			k /= 2;
		}
		batch_remove_prefix(r, k);
	}
}

/*
 * Check the MAC authenticator entry meant for this replica.
 */
bool
zz_request_authentic(zz_replica *r, const zz_request *q, zz_digest *d)
{
	zz_request_digest(r->crypto, q, d);
	if (q->n_auth != r->p.n)
		return false;
	return zz_mac_check(r->crypto, q->client, d, &q->auth[r->id]);
}

/*
 * Batching that follows the load (order_ahead): does the primary hold its
 * open batch?  Yes while order_ahead of its ordered batches wait for its
 * own service and the batch still fits one ORDER-REQ.  A service that
 * applies one batch at a time (a database: one transaction, one commit)
 * costs about the same per batch however many requests it holds, so
 * requests that arrive while a batch executes go into the next one
 * together instead of one ORDER-REQ each.  With nothing in flight (one
 * client, or a service that executes as it orders) nothing is held and
 * nothing waits.
 */
bool
zz_batch_held(const zz_replica *r)
{
	return r->p.order_ahead != 0 && r->batch_len > 0 && r->batch_len < r->p.batch_max &&
		r->max_seq - r->last_executed >= r->p.order_ahead &&
		batch_prefix_by_bytes(r) >= r->batch_len;
}

/*
 * The batch timer fired: close the open batch, unless it is held
 * (zz_batch_held: it closes when the service catches up, zz_batch_executed;
 * the timer comes back now and then in case that never says so, after a
 * state transfer say).
 */
void
zz_batch_deadline(zz_replica *r, zz_time now)
{
	r->batch_deadline = UINT64_MAX;
	if (zz_batch_held(r))
	{
		r->batch_deadline = now + ZZ_BATCH_HOLD_RECHECK;
		return;
	}
	zz_close_batch(r);
	if (r->batch_len > 0)		/* held by flow control: try again later */
		r->batch_deadline = now + r->p.batch_timeout;
}

/*
 * The service executed a batch: a held batch is due now, if it no longer
 * has to wait.  Only its timer closes it (at once: zz_replica_tick), never
 * this call: execution runs inside ordering (zz_accept_order_req executes
 * a synchronous service's batch before zz_close_batch has taken the
 * requests out of the open batch), and must not order them again.
 */
void
zz_batch_executed(zz_replica *r)
{
	if (r->p.order_ahead == 0 || r->batch_len == 0 || zz_batch_held(r) ||
		r->batch_deadline <= r->now)
		return;
	r->batch_deadline = r->now;
}

/*
 * Append a request to the primary's open batch unless it is stale or
 * already there.  Closes the batch when full.
 */
static void
primary_add_request(zz_replica *r, const zz_request *q, const zz_digest *d)
{
	zz_client_rec *c = zz_client_lookup(r, q->client, true);
	zz_pending *p;

	if (c == NULL || q->timestamp <= c->ordered_ts || r->forgot_orders)
		return;
	if (r->batch_len >= r->p.batch_max)
		return;					/* flow control held the batch; client retries */
	p = &r->batch[r->batch_len];
	p->op_copy = malloc(q->op_len ? q->op_len : 1);
	if (p->op_copy == NULL)
		abort();
	memcpy(p->op_copy, q->op, q->op_len);
	p->req = *q;
	p->req.op = p->op_copy;
	p->digest = *d;
	c->ordered_ts = q->timestamp;
	if (r->batch_len++ == 0)
		r->batch_deadline = r->now + r->p.batch_timeout;
	if (r->batch_len >= r->p.batch_max ||
		(r->p.order_ahead != 0 && batch_prefix_by_bytes(r) < r->batch_len))
		zz_close_batch(r);		/* full: by count, or by one ORDER-REQ's bytes */
}

/*
 * Forward a retransmitted request to the primary (section 5) and start the
 * CONFIRM-REQ timer.
 */
static void
send_confirm_req(zz_replica *r, const zz_request *q, zz_client_rec *c)
{
	zz_confirm_req m;

	memset(&m, 0, sizeof(m));
	m.view = r->view;
	m.replica = r->id;
	m.request = *q;
	zz_confirm_req_signing_bytes(&r->sigbuf, &m);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &m.sig);
	zz_buf_reset(&r->out);
	zz_encode_confirm_req(&r->out, &m);
	zz_send_replica(r, zz_primary_of(&r->p, r->view), &r->out);
	r->stats.confirm_reqs++;
	if (!zz_confirm_armed(c) || c->confirm_view != r->view)
	{
		if (!zz_confirm_armed(c))
			r->confirms_armed++;
		else
			r->confirm_bytes -= c->confirm_len;
		c->confirm_len = q->op_len;
		r->confirm_bytes += q->op_len;
		c->confirm_deadline = r->now + r->p.confirm_timeout;
		c->confirm_ts = q->timestamp;
		c->confirm_view = r->view;
		c->confirm_since = r->now;
		c->confirm_max_seq = r->max_seq;
	}
}

/*
 * May this client's retransmission be acted on now?  At most one per
 * half of the clients' first retransmission interval: an honest client
 * retransmits no faster, and one that floods (or the network's duplicates)
 * must not make this replica resend replies, ORDER-REQs or CONFIRM-REQs
 * at its pace, ahead of the protocol's own messages.
 */
static bool
retransmission_due(zz_replica *r, zz_client_rec *c, uint64_t ts)
{
	/*
	 * The limit is per request and per view: a client's next request, or
	 * its request in a new view, must not wait for the previous one's
	 * interval (recovery after a primary crash depends on it).
	 */
	if (r->now < c->resend_at && c->resend_ts == ts && c->resend_view == r->view)
		return false;
	c->resend_at = r->now + r->p.retransmit_timeout / 2;
	c->resend_ts = ts;
	c->resend_view = r->view;
	return true;
}

/*
 * Has this backup a CONFIRM-REQ for a large request outstanding already
 * (same request, same view, its timer armed)?  Then the client's next
 * retransmission is not forwarded again: the primary got the request from
 * the client too, and if it never orders it the timer fires all the same.
 * A CONFIRM-REQ carries the whole request; forwarding every retransmission
 * of a 1 MiB request from every backup tripled a flood of them.
 */
#define ZZ_CONFIRM_LARGE_REQUEST (64u << 10)

static bool
confirm_outstanding(const zz_replica *r, const zz_client_rec *c, const zz_request *q)
{
	return q->op_len >= ZZ_CONFIRM_LARGE_REQUEST && zz_confirm_armed(c) &&
		c->confirm_ts == q->timestamp && c->confirm_view == r->view;
}

void
zz_on_request(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_request	q;
	zz_digest	d;
	zz_client_rec *c;

	if (zz_decode_request(buf, len, &q) != ZZ_OK || !zz_request_authentic(r, &q, &d))
	{
		r->stats.rejected++;
		return;
	}
	c = zz_client_lookup(r, q.client, true);
	if (c == NULL)
		return;
	if (q.timestamp <= c->last_ts)
	{
		/* Executed: resend the cached reply if it is the same request. */
		if (q.timestamp == c->last_ts && zz_digest_eq(&d, &c->last_req) &&
			retransmission_due(r, c, q.timestamp))
			resend_cached(r, c);
		return;
	}
	if (r->mode != ZZ_MODE_NORMAL)
		return;
	if (zz_is_primary(r))
	{
		if (q.timestamp <= c->ordered_ts)
		{
			/* Ordered, not yet executed: the backups may lack the ORDER-REQ. */
			zz_entry   *e = zz_entry_at(r, c->ordered_seq);

			if (e != NULL && retransmission_due(r, c, q.timestamp))
			{
				zz_buf_reset(&r->out);
				zz_encode_order_req(&r->out, e->order);
				zz_broadcast(r, &r->out);
			}
			return;
		}
		primary_add_request(r, &q, &d);
	}
	else if (q.timestamp > c->ordered_ts && !confirm_outstanding(r, c, &q) &&
			 retransmission_due(r, c, q.timestamp))
		send_confirm_req(r, &q, c);
}

/*
 * The primary answers a CONFIRM-REQ with the ORDER-REQ that holds the
 * request, or orders it now.
 */
void
zz_on_confirm_req(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_confirm_req m;
	zz_client_rec *c;
	zz_digest	d;

	if (zz_decode_confirm_req(buf, len, &m) != ZZ_OK || m.replica >= r->p.n)
		goto reject;
	zz_confirm_req_signing_bytes(&r->sigbuf, &m);
	if (!zz_verify(r->crypto, m.replica, r->sigbuf.data, r->sigbuf.len, &m.sig))
		goto reject;
	if (m.view != r->view || !zz_is_primary(r) || r->mode != ZZ_MODE_NORMAL)
		return;
	if (!zz_request_authentic(r, &m.request, &d))
		goto reject;
	c = zz_client_lookup(r, m.request.client, true);
	if (c == NULL)
		return;
	if (m.request.timestamp <= c->ordered_ts)
	{
		zz_entry   *e = zz_entry_at(r, c->ordered_ts > c->last_ts ? c->ordered_seq : c->last_seq);

		if (e != NULL)
		{
			zz_buf_reset(&r->out);
			zz_encode_order_req(&r->out, e->order);
			zz_send_replica(r, m.replica, &r->out);
		}
		else
			zz_replica_trace(r, "CONFIRM-REQ c=%u t=%llu: ordered_ts=%llu last_ts=%llu "
							 "ordered_seq=%llu last_seq=%llu stable=%llu max=%llu batch=%u",
							 c->client, (unsigned long long) m.request.timestamp,
							 (unsigned long long) c->ordered_ts,
							 (unsigned long long) c->last_ts,
							 (unsigned long long) c->ordered_seq,
							 (unsigned long long) c->last_seq,
							 (unsigned long long) r->stable_seq,
							 (unsigned long long) r->max_seq, r->batch_len);
		return;
	}
	primary_add_request(r, &m.request, &d);
	return;
reject:
	r->stats.rejected++;
}

