/*
 * enterview.c
 *	  Entering the new view (docs/protocol.md section 8): a replica takes
 *	  the NEW-VIEW, computes G from its 2f+1 VIEW-CHANGEs (newview.c),
 *	  adopts G (rolling back where its log differs, fetching state it
 *	  lacks), takes the new primary's re-issues of G in the new view, and
 *	  on 2f+1 matching VIEW-CONFIRMs enters the view.
 *
 * viewchange.c runs the view change up to the NEW-VIEW and its timers;
 * the state both share is viewchange_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viewchange_int.h"

/*
 * Replace the log from the first slot where it differs from G, and make
 * sure what precedes G's start is ours.
 */
static void
adopt_new_history(zz_replica *r)
{
	zz_vc_state *vc = r->vc;
	zz_new_history *g = &vc->g;
	zz_seq		s,
				from,
				keep;

	if (g->end <= r->stable_seq && r->stable_seq > g->start &&
		r->stable_proof.view >= vc->target)
	{
		/*
		 * We are already past G: a certified checkpoint of the new view
		 * (state transfer overtook the view change) covers it.  Confirm.
		 */
		zz_replica_trace(r, "new history (%llu, %llu] is below our checkpoint %llu of view %llu",
						 (unsigned long long) g->start, (unsigned long long) g->end,
						 (unsigned long long) r->stable_seq,
						 (unsigned long long) r->stable_proof.view);
		vc->have_g = true;
		vc->repair_interval = r->p.fill_hole_timeout;
		vc->repair_deadline = r->now + vc->repair_interval;
		zz_vc_progress(r);
		return;
	}
	if (g->end < r->stable_seq)
	{
		zz_replica_trace(r, "new history ends below our stable checkpoint");
		return;
	}
	/* We need G's starting point: our own, or transferred. */
	if (g->start > r->stable_seq)
	{
		zz_entry   *e = zz_entry_at(r, g->start);

		if (e == NULL || !e->executed ||
			!zz_digest_eq(&e->order->hdr.history, &g->start_history) ||
			g->end > r->stable_seq + 2 * (zz_seq) r->p.cp_interval)
		{
			/* Fetch the certified checkpoint G starts from (checkpoint.c). */
			vc->awaiting_transfer = true;
			zz_checkpoint_transfer(r, &g->start_proof);
			return;
		}
	}
	else if (g->start < r->stable_seq)
	{
		const zz_order_req *e = g->entries[r->stable_seq - g->start - 1];

		if (!zz_digest_eq(&e->hdr.history, &r->stable_history))
		{
			zz_replica_trace(r, "new history conflicts with our stable checkpoint");
			return;
		}
	}
	if (g->end > r->stable_seq + 2 * (zz_seq) r->p.cp_interval)
	{
		/*
		 * G reaches past our window (our checkpoints lagged: our service
		 * stalled while the others went on).  We cannot hold its entries;
		 * a certified checkpoint at or past its end covers it.  Ask for
		 * one: peers answer a FILL-HOLE below their log with their
		 * checkpoint's votes, and zz_vc_transfer_ok lets it in.
		 */
		zz_replica_trace(r, "new history (%llu, %llu] reaches past our window (stable %llu): "
						 "fetching a checkpoint that covers it",
						 (unsigned long long) g->start, (unsigned long long) g->end,
						 (unsigned long long) r->stable_seq);
		vc->awaiting_transfer = true;
		zz_announce_restart(r);
		return;
	}

	/* G starts from a certified checkpoint: count its votes as ours. */
	zz_checkpoint_learn_proof(r, &g->start_proof);

	/* Keep the longest prefix of our log that G shares. */
	from = g->start > r->stable_seq ? g->start : r->stable_seq;
	keep = from;
	for (s = from + 1; s <= g->end && s <= r->max_seq; s++)
	{
		zz_entry   *e = zz_entry_at(r, s);

		if (e == NULL || !zz_digest_eq(&e->order->hdr.history,
									   &g->entries[s - g->start - 1]->hdr.history))
			break;
		keep = s;
	}
	if (keep < r->max_seq)
	{
		if (!zz_rollback_to(r, keep))
		{
			zz_replica_trace(r, "rollback to %llu failed", (unsigned long long) keep);
			return;
		}
	}
	for (s = keep + 1; s <= g->end; s++)
	{
		if (!zz_accept_order_req(r, g->entries[s - g->start - 1], true))
		{
			zz_replica_trace(r, "cannot adopt entry %llu of the new history",
							 (unsigned long long) s);
			return;
		}
	}
	vc->have_g = true;
	zz_replica_trace(r, "adopted new history (%llu, %llu]",
					 (unsigned long long) g->start, (unsigned long long) g->end);

	/* The new primary re-issues G in its view. */
	if (zz_primary_of(&r->p, r->view) == r->id)
	{
		zz_seq		lo = g->start > r->stable_seq ? g->start : r->stable_seq;

		for (s = lo + 1; s <= g->end; s++)
		{
			zz_entry   *e = zz_entry_at(r, s);

			e->order->hdr.view = r->view;
			zz_order_hdr_signing_bytes(&r->sigbuf, &e->order->hdr);
			zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &e->order->hdr.sig);
			e->responded = false;
			zz_buf_reset(&r->out);
			zz_encode_order_req(&r->out, e->order);
			zz_broadcast(r, &r->out);
		}
		vc->reissue_deadline = r->now + r->p.fill_hole_timeout;
	}
	else
	{
		uint32_t	i;

		/* Re-issues that came before the NEW-VIEW. */
		for (i = 0; i < vc->early_cap; i++)
		{
			zz_order_req *e = vc->early[i];

			vc->early[i] = NULL;
			if (e != NULL)
			{
				if (e->hdr.view == r->view)
					zz_vc_relabel(r, e);
				zz_order_req_free(e);
			}
		}
	}
	vc->repair_interval = r->p.fill_hole_timeout;
	vc->repair_deadline = r->now + vc->repair_interval;
	zz_vc_progress(r);
}

/*
 * A NEW-VIEW: check it and all its evidence, compute G ourselves, adopt.
 */
void
zz_vc_handle_new_view(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_vc_state *vc = r->vc;
	zz_new_view m;
	const zz_view_change *set[ZZ_MAX_N];
	bool		seen[ZZ_MAX_N] = {false};
	uint32_t	i;
	bool		ok,
				replacing;
	zz_new_history g;

	if (zz_decode_new_view(buf, len, &m) != ZZ_OK)
		goto reject;

	/*
	 * One for the view we are in matters only if we accepted it before but
	 * could not adopt its history (nor started fetching what it needs):
	 * try again, things may have moved (a truncation, a transfer).
	 */
	replacing = r->mode == ZZ_MODE_VIEW_CHANGE && m.new_view == r->view &&
		vc->target == r->view && vc->have_g && vc->other_g;
	if (m.new_view < r->view ||
		(m.new_view == r->view && !replacing &&
		 !(r->mode == ZZ_MODE_VIEW_CHANGE && vc->target == r->view && !vc->have_g &&
		   !vc->awaiting_transfer)))
		goto done;
	if (r->mode == ZZ_MODE_VIEW_CHANGE && m.new_view < vc->target)
		goto done;
	/*
	 * Exactly 2f+1 VIEW-CHANGEs: the new-view rule's "at most one entry
	 * can have f+1 reports" needs it (docs/protocol.md, "The new-view
	 * rule"); with more, a faulty primary could pick a slot's winner.
	 */
	if (m.replica != zz_primary_of(&r->p, m.new_view) || m.n_vc != zz_quorum(&r->p))
		goto reject_m;
	zz_new_view_signing_bytes(&r->sigbuf, &m);
	if (r->sigbuf.len == 0 ||
		!zz_verify(r->crypto, m.replica, r->sigbuf.data, r->sigbuf.len, &m.sig))
		goto reject_m;
	for (i = 0; i < m.n_vc; i++)
	{
		if (m.vcs[i].replica >= r->p.n || seen[m.vcs[i].replica] ||
			!zz_vc_valid(r, &m.vcs[i], m.new_view))
			goto reject_m;
		seen[m.vcs[i].replica] = true;
		set[i] = &m.vcs[i];
		zz_replica_trace(r, "NEW-VIEW %llu uses VIEW-CHANGE of R%u: cp=%llu cert=%llu cc=%llu entries=%u",
						 (unsigned long long) m.new_view, m.vcs[i].replica,
						 (unsigned long long) m.vcs[i].cp.seq,
						 (unsigned long long) m.vcs[i].cert.seq,
						 (unsigned long long) (m.vcs[i].has_cc ? m.vcs[i].cc.seq : 0),
						 m.vcs[i].n_entries);
	}

	/* Enter the view change for m.new_view if we were not in it. */
	if (r->mode == ZZ_MODE_STATE_TRANSFER)
	{
		if (r->repairing)
			goto done;
		zz_vc_abandon_transfer(r, "a NEW-VIEW");
	}
	r->mode = ZZ_MODE_VIEW_CHANGE;
	if (vc->target != m.new_view)
	{
		vc->target = m.new_view;
		vc->deadline = r->now + vc->timeout;
		vc->confirm_sent = false;
		vc->other_g = false;
		memset(vc->confirm_have, 0, sizeof(vc->confirm_have));
		zz_drop_batch(r);
	}
	memset(&g, 0, sizeof(g));
	ok = zz_compute_new_history(r, set, m.n_vc, &g);
	if (ok && replacing &&
		(g.end != vc->other.seq || !zz_digest_eq(&g.end_history, &vc->other.history)))
		ok = false;				/* not the G the view was entered on */
	if (!ok)
	{
		zz_new_history_free(&g);
		goto done;
	}
	if (replacing)
	{
		/*
		 * The primary sent us another NEW-VIEW than the 2f+1 that entered
		 * the view (a faulty primary): adopt theirs instead of ours.
		 */
		zz_replica_trace(r, "NEW-VIEW %llu of the confirmed history replaces ours",
						 (unsigned long long) m.new_view);
		vc->have_g = false;
		vc->confirm_sent = false;
		vc->other_g = false;
	}
	zz_new_history_free(&vc->g);
	vc->g = g;
	zz_keep_view(r, m.new_view);
	r->view = m.new_view;
	r->forgot_orders = false;
	zz_buf_reset(&vc->nv_raw);
	zz_buf_append(&vc->nv_raw, buf, len);
	memset(vc->confirm_reply_at, 0, sizeof(vc->confirm_reply_at));
	vc->stalls = 0;
	zz_replica_trace(r, "NEW-VIEW %llu accepted: history (%llu, %llu]",
					 (unsigned long long) m.new_view, (unsigned long long) vc->g.start,
					 (unsigned long long) vc->g.end);
	zz_new_view_release(&m);
	adopt_new_history(r);
	return;
reject_m:
	r->stats.rejected++;
done:
	zz_new_view_release(&m);
	return;
reject:
	r->stats.rejected++;
}

void
zz_on_new_view(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_vc_handle_new_view(r, buf, len);
}

/*
 * A state transfer that a new history needed has finished: adopt G.
 */
void
zz_vc_after_install(zz_replica *r)
{
	zz_vc_state *vc = r->vc;

	if (vc->awaiting_transfer)
	{
		vc->awaiting_transfer = false;
		r->mode = ZZ_MODE_VIEW_CHANGE;
		adopt_new_history(r);
	}
	else if (vc->have_g && vc->target == r->view && r->stable_seq >= vc->g.end)
	{
		/*
		 * We had adopted the new history but lost its re-issued entries,
		 * which the others truncated since: the installed checkpoint
		 * covers it, so confirm from there.
		 */
		r->mode = ZZ_MODE_VIEW_CHANGE;
		zz_vc_progress(r);
	}
}

/*
 * The view a view change in progress is moving to (0 if none).
 */
zz_view
zz_vc_target(const zz_replica *r)
{
	return r->vc->target;
}

/*
 * May a certified checkpoint's state be fetched during the view change?
 * Only once the new history is adopted and the checkpoint covers it.
 */
bool
zz_vc_awaiting_transfer(const zz_replica *r)
{
	return r->mode == ZZ_MODE_VIEW_CHANGE && r->vc->awaiting_transfer;
}

bool
zz_vc_transfer_ok(const zz_replica *r, zz_seq seq)
{
	return (r->vc->have_g || r->vc->awaiting_transfer) && r->vc->target == r->view &&
		seq >= r->vc->g.end;
}

/*
 * Does the new history being installed hold h at seq?  False when no view
 * change is installing one, or seq is outside it.
 */
bool
zz_vc_history_holds(const zz_replica *r, zz_seq seq, const zz_digest *h)
{
	const zz_new_history *g = &r->vc->g;

	if (r->mode == ZZ_MODE_NORMAL || !(r->vc->have_g || r->vc->awaiting_transfer) ||
		r->vc->target != r->view || seq <= g->start || seq > g->end)
		return false;
	return zz_digest_eq(&g->entries[seq - g->start - 1]->hdr.history, h);
}

/*
 * The new primary re-issued an entry of G in the new view: take its
 * signature and view, provided it is exactly the entry we adopted.
 */
bool
zz_vc_relabel(zz_replica *r, const zz_order_req *m)
{
	zz_vc_state *vc = r->vc;
	zz_entry   *e;
	zz_order_req *copy;

	if (!vc->have_g)
	{
		/* Ahead of its NEW-VIEW (reordered): keep it for when G is ours. */
		uint32_t	slot = (uint32_t) (m->hdr.seq % vc->early_cap);

		if (r->mode == ZZ_MODE_VIEW_CHANGE && m->hdr.view == vc->target &&
			vc->early[slot] == NULL)
			vc->early[slot] = zz_order_req_clone(m);
		return true;
	}
	if (m->hdr.seq > vc->g.end)
		return true;			/* a new entry of the view: ordered once we enter */
	e = zz_entry_at(r, m->hdr.seq);
	if (e == NULL || e->order->hdr.view == r->view)
		return true;
	zz_order_hdr_signing_bytes(&r->sigbuf, &m->hdr);
	if (!zz_verify(r->crypto, zz_primary_of(&r->p, r->view), r->sigbuf.data, r->sigbuf.len,
				   &m->hdr.sig))
		return false;
	if (!zz_digest_eq(&m->hdr.history, &e->order->hdr.history) ||
		!zz_digest_eq(&m->hdr.batch_digest, &e->order->hdr.batch_digest) ||
		m->hdr.nd_time != e->order->hdr.nd_time || m->hdr.nd_seed != e->order->hdr.nd_seed ||
		m->hdr.count != e->order->hdr.count)
	{
		/* Keep it: with the genuine one from a peer it proves equivocation. */
		zz_replica_trace(r, "re-issued ORDER-REQ n=%llu differs from the new history",
						 (unsigned long long) m->hdr.seq);
		vc->has_bad_reissue = true;
		vc->bad_reissue = m->hdr;
		return false;
	}
	if (vc->has_bad_reissue && vc->bad_reissue.seq == m->hdr.seq &&
		vc->bad_reissue.view == m->hdr.view)
	{
		vc->has_bad_reissue = false;
		zz_report_pom(r, &vc->bad_reissue, &m->hdr);
	}
	copy = zz_order_req_clone(e->order);
	if (copy == NULL)
		abort();
	copy->hdr = m->hdr;
	zz_order_req_free(e->order);
	e->order = copy;
	e->responded = false;
	zz_vc_progress(r);
	return true;
}

/*
 * When all of G carries the new view and is executed, send VIEW-CONFIRM.
 */
void
zz_vc_progress(zz_replica *r)
{
	zz_vc_state *vc = r->vc;
	zz_seq		s;

	if (r->mode != ZZ_MODE_VIEW_CHANGE || !vc->have_g || vc->confirm_sent ||
		r->last_executed < vc->g.end)
		return;
	/*
	 * Every entry of G must carry the new view, except below a certified
	 * checkpoint: the new primary may have truncated those (it re-issues
	 * from its own stable checkpoint), and certified entries are evidence
	 * in their own right in any later view change.
	 */
	for (s = r->stable_seq + 1; s <= vc->g.end; s++)
	{
		zz_entry   *e = zz_entry_at(r, s);

		if (s > vc->g.start && s > r->cert_proof.seq &&
			(e == NULL || e->order->hdr.view != r->view))
			return;
	}
	memset(&vc->my_confirm, 0, sizeof(vc->my_confirm));
	vc->my_confirm.view = r->view;
	vc->my_confirm.seq = vc->g.end;
	vc->my_confirm.history = vc->g.end_history;
	vc->my_confirm.replica = r->id;
	zz_view_confirm_signing_bytes(&r->sigbuf, &vc->my_confirm);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &vc->my_confirm.sig);
	vc->confirm_sent = true;
	zz_buf_reset(&r->out);
	zz_encode_view_confirm(&r->out, &vc->my_confirm);
	zz_broadcast(r, &r->out);
	vc->confirm_have[r->id] = true;
	vc->confirms[r->id] = vc->my_confirm;
	zz_on_view_confirm(r, NULL, 0);
}

/*
 * 2f+1 VIEW-CONFIRMs of our view for another new history than ours: a
 * faulty primary sent us another NEW-VIEW than those who entered the view.
 * We cannot enter on ours, and alone we cannot move the others to the next
 * view; ask the confirmers for the NEW-VIEW they accepted (a FILL-HOLE of
 * an older view is answered with it) and adopt the one whose G the quorum
 * confirmed (handle_new_view).
 */
static void
check_other_confirmed(zz_replica *r)
{
	zz_vc_state *vc = r->vc;
	uint32_t	i,
				j;

	for (i = 0; i < r->p.n; i++)
	{
		const zz_view_confirm *c = &vc->confirms[i];
		uint32_t	k = 0;
		zz_fill_hole m;

		if (!vc->confirm_have[i] || c->view != r->view ||
			(c->seq == vc->g.end && zz_digest_eq(&c->history, &vc->g.end_history)))
			continue;
		for (j = 0; j < r->p.n; j++)
			if (vc->confirm_have[j] && vc->confirms[j].view == c->view &&
				vc->confirms[j].seq == c->seq &&
				zz_digest_eq(&vc->confirms[j].history, &c->history))
				k++;
		if (k < zz_quorum(&r->p) || ZZ_BUGGY(r, ZZ_BUG_KEEP_OWN_NEW_VIEW))
			continue;
		if (!vc->other_g)
			zz_replica_trace(r, "2f+1 confirmed view %llu on another new history (%llu) than ours",
							 (unsigned long long) r->view, (unsigned long long) c->seq);
		vc->other_g = true;
		vc->other = *c;
		if (vc->nv_request_deadline != 0 && vc->nv_request_deadline > r->now)
			return;
		vc->nv_request_deadline = r->now + r->p.fill_hole_timeout;
		memset(&m, 0, sizeof(m));
		m.view = r->view - 1;
		m.replica = r->id;
		m.from_seq = m.to_seq = r->max_seq + 1;
		zz_fill_hole_signing_bytes(&r->sigbuf, &m);
		zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &m.sig);
		zz_buf_reset(&r->out);
		zz_encode_fill_hole(&r->out, &m);
		for (j = 0; j < r->p.n; j++)
			if (j != r->id && vc->confirm_have[j] && vc->confirms[j].view == c->view &&
				vc->confirms[j].seq == c->seq &&
				zz_digest_eq(&vc->confirms[j].history, &c->history))
				zz_send_replica(r, j, &r->out);
		return;
	}
}

/*
 * 2f+1 matching VIEW-CONFIRMs: the view change is over.  Answer the
 * clients for everything now labelled with the new view.
 */
static void
enter_view(zz_replica *r)
{
	zz_vc_state *vc = r->vc;
	zz_seq		s;
	uint32_t	i;

	/*
	 * The 2f+1 VIEW-CONFIRMs are evidence of this view for G: every
	 * request that completed before it is in G, and our next VIEW-CHANGE
	 * must cover G's slots with this view even if no client commits them
	 * again (docs/protocol.md, "Evidence").
	 */
	memset(&r->entered_cert, 0, sizeof(r->entered_cert));
	r->entered_cert.view = r->view;
	r->entered_cert.seq = vc->my_confirm.seq;
	r->entered_cert.history = vc->my_confirm.history;
	for (i = 0; i < r->p.n; i++)
	{
		const zz_view_confirm *c = &vc->confirms[i];

		if (vc->confirm_have[i] && c->view == r->view && c->seq == vc->my_confirm.seq &&
			zz_digest_eq(&c->history, &vc->my_confirm.history))
		{
			r->entered_cert.replicas[r->entered_cert.count] = i;
			r->entered_cert.sigs[r->entered_cert.count] = c->sig;
			r->entered_cert.count++;
		}
	}
	r->mode = ZZ_MODE_NORMAL;
	r->stats.view_changes++;
	vc->deadline = UINT64_MAX;
	vc->reissue_deadline = UINT64_MAX;
	vc->repair_deadline = UINT64_MAX;
	vc->timeout = r->p.view_change_timeout;
	vc->target = 0;
	zz_new_history_free(&vc->g);
	vc->have_g = false;
	vc->other_g = false;
	zz_vc_clear_vcs(vc);
	r->fill_hole_round = 0;
	r->fill_hole_deadline = UINT64_MAX;
	if (vc->began != 0)
		zz_replica_notice(r, ZZ_NOTICE_VIEW, "entered view %llu (from view %llu, %s) at batch "
						  "%llu after %llu ms", (unsigned long long) r->view,
						  (unsigned long long) vc->from_view,
						  vc->why[0] ? vc->why : "f+1 replicas hated its primary",
						  (unsigned long long) r->max_seq,
						  (unsigned long long) ((r->now - vc->began) / 1000));
	else
		zz_replica_notice(r, ZZ_NOTICE_VIEW, "entered view %llu at batch %llu",
						  (unsigned long long) r->view, (unsigned long long) r->max_seq);
	vc->began = 0;
	vc->why[0] = '\0';
	for (s = r->stable_seq + 1; s <= r->last_executed; s++)
	{
		zz_entry   *e = zz_entry_at(r, s);

		if (e != NULL && e->executed && !e->responded && e->order->hdr.view == r->view)
			zz_respond_entry(r, e);
	}
	zz_checkpoint_revote(r);
	zz_checkpoint_recheck(r);

	/*
	 * The others may have entered before us and ordered past G already:
	 * ask the primary for what follows our log now, not when the next
	 * request shows the hole.
	 */
	if (!zz_is_primary(r))
		zz_fetch_after_log(r, zz_primary_of(&r->p, r->view));
}

void
zz_on_view_confirm(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_vc_state *vc = r->vc;
	zz_view_confirm m;
	uint32_t	i,
				k = 0;

	if (buf != NULL)
	{
		if (zz_decode_view_confirm(buf, len, &m) != ZZ_OK || m.replica >= r->p.n)
			goto reject;
		zz_view_confirm_signing_bytes(&r->sigbuf, &m);
		if (!zz_verify(r->crypto, m.replica, r->sigbuf.data, r->sigbuf.len, &m.sig))
			goto reject;
		if (r->mode == ZZ_MODE_VIEW_CHANGE && m.view == vc->target && m.view > r->view)
		{
			/* Ahead of its NEW-VIEW (reordered): keep it for when G is ours. */
			vc->confirm_have[m.replica] = true;
			vc->confirms[m.replica] = m;
			return;
		}
		if (m.view != r->view)
			return;
		if (r->mode == ZZ_MODE_NORMAL)
		{
			/* It is still confirming a view we are in: help it along. */
			if (vc->my_confirm.view == r->view &&
				(vc->confirm_reply_at[m.replica] == 0 ||
				 r->now >= vc->confirm_reply_at[m.replica] + r->p.fill_hole_timeout))
			{
				vc->confirm_reply_at[m.replica] = r->now ? r->now : 1;
				zz_buf_reset(&r->out);
				zz_encode_view_confirm(&r->out, &vc->my_confirm);
				zz_send_replica(r, m.replica, &r->out);
			}
			return;
		}
		vc->confirm_have[m.replica] = true;
		vc->confirms[m.replica] = m;
	}
	if (r->mode == ZZ_MODE_VIEW_CHANGE && vc->have_g && r->view == vc->target)
		check_other_confirmed(r);
	if (r->mode != ZZ_MODE_VIEW_CHANGE || !vc->confirm_sent)
		return;
	/* of this view: one kept from the view before may match (seq, h) too */
	for (i = 0; i < r->p.n; i++)
		if (vc->confirm_have[i] && vc->confirms[i].view == vc->my_confirm.view &&
			vc->confirms[i].seq == vc->my_confirm.seq &&
			zz_digest_eq(&vc->confirms[i].history, &vc->my_confirm.history))
			k++;
	if (k >= zz_quorum(&r->p))
		enter_view(r);
	return;
reject:
	r->stats.rejected++;
}
