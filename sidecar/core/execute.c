/*
 * execute.c
 *	  Speculative execution (docs/protocol.md section 4, step 3): handing
 *	  accepted batches to the service in order, exactly once per (client,
 *	  timestamp), and answering every client with its SPEC-RESPONSE under
 *	  one signed response core per batch.
 */
#include <stdlib.h>
#include <string.h>

#include "replica_int.h"

/* ------------------------------------------------------------------------
 * Speculative execution and SPEC-RESPONSE
 * ------------------------------------------------------------------------ */

/*
 * Send one request's SPEC-RESPONSE (also to resend it on retransmission).
 */
void
zz_send_spec_response(zz_replica *r, zz_entry *e, uint32_t i)
{
	zz_spec_response m;
	zz_digest	d;
	const zz_request *q = &e->order->reqs[i];

	memset(&m, 0, sizeof(m));
	m.view = e->order->hdr.view;
	m.seq = e->order->hdr.seq;
	m.history = e->order->hdr.history;
	m.reply_root = e->reply_root;
	m.replica = r->id;
	m.core_sig = e->core_sig;
	m.client = q->client;
	m.timestamp = q->timestamp;
	m.index = i;
	m.reply = e->replies[i].data;
	m.reply_len = e->replies[i].len;
	m.path_len = zz_merkle_tree_path(e->tree, e->order->hdr.count, i, m.path);
	m.order = e->order->hdr;
	zz_spec_response_mac_digest(r->crypto, &m, &d);
	zz_mac_compute(r->crypto, q->client, &d, &m.mac);
	zz_buf_reset(&r->out);
	zz_encode_spec_response(&r->out, &m);
	r->io.to_client(r->io.ctx, q->client, r->out.data, r->out.len);
	r->stats.spec_responses++;
}

/*
 * Batches of the window after e replaced some of its clients' records
 * before e's replies were known (submit_entry): the undo that restores
 * such a record must restore it with e's reply, as it would had e
 * finished before they were handed over, so that a rollback of them
 * leaves the client table exactly as it was after e.
 */
static void
keep_replies_for_undo(zz_replica *r, zz_entry *e)
{
	zz_seq		seq = e->order->hdr.seq,
				s;
	zz_entry   *later;
	uint32_t	j;

	for (s = seq + 1; (later = zz_entry_at(r, s)) != NULL && later->submitted; s++)
	{
		for (j = 0; j < later->n_undo; j++)
		{
			zz_client_undo *u = &later->undo[j];
			const zz_reply *rp;

			if (u->prev_seq != seq || u->prev_index >= e->order->hdr.count ||
				u->prev_reply != NULL ||
				e->order->reqs[u->prev_index].client != u->client ||
				e->order->reqs[u->prev_index].timestamp != u->prev_ts)
				continue;
			rp = &e->replies[u->prev_index];
			u->prev_reply = malloc(rp->len ? rp->len : 1);
			if (u->prev_reply == NULL)
				abort();
			if (rp->len > 0)
				memcpy(u->prev_reply, rp->data, rp->len);
			u->prev_reply_len = rp->len;
		}
	}
}

/*
 * The service finished entry e: build the reply tree, sign the response
 * core once for the whole batch, answer every client, and checkpoint.
 */
static void
finish_execution(zz_replica *r, zz_entry *e, zz_exec_result *res)
{
	uint32_t	i,
				k = 0,
				count = e->order->hdr.count;
	zz_seq		seq = e->order->hdr.seq;

	e->replies = calloc(count, sizeof(zz_reply));
	e->tree = malloc(sizeof(zz_digest) * ZZ_MERKLE_TREE_LEN(count));
	if (e->replies == NULL || e->tree == NULL)
		abort();
	for (i = 0; i < count; i++)
	{
		const zz_request *q = &e->order->reqs[i];

		if (!e->skipped[i] && k < res->count)
		{
			zz_client_rec *c = zz_client_lookup(r, q->client, false);

			e->replies[i] = res->replies[k];
			res->replies[k].data = NULL;
			k++;
			if (c != NULL && c->last_ts == q->timestamp && c->last_seq == seq)
			{
				free(c->reply);
				c->reply = malloc(e->replies[i].len ? e->replies[i].len : 1);
				if (c->reply == NULL)
					abort();
				if (e->replies[i].len > 0)
					memcpy(c->reply, e->replies[i].data, e->replies[i].len);
				c->reply_len = e->replies[i].len;
			}
		}
		zz_reply_leaf(r->crypto, q->client, q->timestamp, e->replies[i].data,
					  e->replies[i].len, &e->tree[i]);
	}
	zz_merkle_tree_root(r->crypto, e->tree, zz_merkle_tree(r->crypto, e->tree, count, e->tree),
						count, &e->reply_root);
	keep_replies_for_undo(r, e);
	e->executed = true;
	r->last_executed = seq;
	r->exec_history = e->order->hdr.history;
	r->stats.batches_executed++;

	/*
	 * During a view change, answer nothing: entries adopted from the new
	 * history are answered once they carry the new view (enterview.c).
	 */
	if (r->mode == ZZ_MODE_NORMAL && e->order->hdr.view == r->view)
		zz_respond_entry(r, e);

	if (seq % r->p.cp_interval == 0)
		zz_checkpoint_after_execute(r, seq, res->has_digest ? &res->state : NULL);
	zz_exec_result_free(res);
	if (r->mode == ZZ_MODE_VIEW_CHANGE)
		zz_vc_progress(r);
	else
		zz_batch_executed(r);	/* a batch held for this one closes now */
}

/*
 * Sign the batch's response core once, under the view its ORDER-REQ now
 * carries, and send every client its SPEC-RESPONSE.
 */
void
zz_respond_entry(zz_replica *r, zz_entry *e)
{
	uint32_t	i;

	zz_response_core_signing_bytes(&r->sigbuf, e->order->hdr.view, e->order->hdr.seq,
								   &e->order->hdr.history, &e->reply_root);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &e->core_sig);
	for (i = 0; i < e->order->hdr.count; i++)
		if (!e->skipped[i])
			zz_send_spec_response(r, e, i);
	e->responded = true;
}

/*
 * The last batch handed to the service: the last executed, and the
 * batches after it that are submitted and not yet done (at most
 * zz_exec_limit).
 */
zz_seq
zz_last_submitted(zz_replica *r)
{
	zz_seq		s = r->last_executed;
	zz_entry   *e;

	while ((e = zz_entry_at(r, s + 1)) != NULL && e->submitted)
		s++;
	return s;
}

/*
 * Hand entry e to the service: decide which of its requests execute
 * (those whose (client, t) did not already) and record them in the client
 * table, keeping the undo.  The table is updated here, not when the
 * result comes back, so that the next batch of the window is deduplicated
 * against this one exactly as if it had finished.
 */
static zz_exec_status
submit_entry(zz_replica *r, zz_entry *e, zz_exec_result *res)
{
	zz_op	   *ops;
	uint32_t	i,
				nops = 0,
				count = e->order->hdr.count;
	zz_exec_status st;

	ops = malloc(sizeof(zz_op) * (count ? count : 1));
	e->skipped = calloc(count ? count : 1, sizeof(bool));
	e->undo = calloc(count ? count : 1, sizeof(zz_client_undo));
	if (ops == NULL || e->skipped == NULL || e->undo == NULL)
		abort();
	for (i = 0; i < count; i++)
	{
		const zz_request *q = &e->order->reqs[i];
		zz_client_rec *c = zz_client_lookup(r, q->client, true);
		zz_client_undo *u;

		if (c == NULL)
			abort();
		if (q->timestamp <= c->last_ts && !ZZ_BUGGY(r, ZZ_BUG_SKIP_DEDUP))
		{
			e->skipped[i] = true;
			continue;
		}
		u = &e->undo[e->n_undo++];
		u->client = c->client;
		u->prev_ts = c->last_ts;
		u->prev_req = c->last_req;
		u->prev_seq = c->last_seq;
		u->prev_history = c->last_history;
		u->prev_index = c->last_index;
		u->prev_reply = c->reply;
		u->prev_reply_len = c->reply_len;
		c->reply = NULL;
		c->reply_len = 0;
		c->last_index = i;
		c->last_ts = q->timestamp;
		c->last_req = e->req_digests[i];
		c->last_seq = e->order->hdr.seq;
		c->last_history = e->order->hdr.history;
		ops[nops].client = q->client;
		ops[nops].timestamp = q->timestamp;
		ops[nops].data = q->op;
		ops[nops].len = q->op_len;
		nops++;
	}
	e->submitted = true;
	memset(res, 0, sizeof(*res));
	st = r->svc.execute(r->svc.ctx, e->order->hdr.seq, e->order->hdr.nd_time,
						e->order->hdr.nd_seed, ops, nops,
						e->order->hdr.seq % r->p.cp_interval == 0, res);
	free(ops);
	if (st == ZZ_EXEC_FAILED)
	{
		/* not handed over after all: undone, tried again at the next event */
		zz_undo_client_effects(r, e);
		free(e->undo);
		free(e->skipped);
		e->undo = NULL;
		e->skipped = NULL;
		e->n_undo = 0;
		e->submitted = false;
		return st;
	}
	r->stats.requests_executed += nops;
	return st;
}

/*
 * Hand the accepted batches to the service, in order: as many as the
 * window lets be in the service at once (exec_window, zz_exec_limit), so
 * that an asynchronous service (a database) has the next batch queued
 * while it applies one.  Results still come back, and are finished, in
 * sequence order (zz_replica_execute_done).  Requests whose (client, t)
 * already executed are skipped deterministically: every correct replica
 * decides the same from the same history.  Synchronously completing
 * services execute in this loop.
 */
void
zz_try_execute(zz_replica *r)
{
	for (;;)
	{
		zz_seq		s = zz_last_submitted(r) + 1;
		zz_entry   *e;
		zz_exec_result res;
		zz_exec_status st;

		if (s > r->max_seq || s > zz_exec_limit(r) || (e = zz_entry_at(r, s)) == NULL)
			return;
		st = submit_entry(r, e, &res);
		if (st == ZZ_EXEC_PENDING)
			continue;
		if (st == ZZ_EXEC_FAILED)
		{
			zz_replica_trace(r, "service failed at n=%llu", (unsigned long long) s);
			return;
		}
		if (s != r->last_executed + 1)
		{
			/* a service must finish batches in order (service.h) */
			zz_replica_trace(r, "service finished n=%llu before n=%llu",
							 (unsigned long long) s,
							 (unsigned long long) r->last_executed + 1);
			abort();
		}
		finish_execution(r, e, &res);
	}
}

void
zz_replica_execute_done(zz_replica *r, zz_time now, zz_exec_result *res)
{
	zz_entry   *e;

	r->now = now;
	e = zz_entry_at(r, res->seq);
	if (e == NULL || !e->submitted || e->executed || res->seq != r->last_executed + 1)
	{
		zz_exec_result_free(res);
		return;
	}
	finish_execution(r, e, res);
	zz_try_execute(r);
	ZZ_ASSERT_INVARIANTS(r, "execute_done");
}

