/*
 * viewchange.c
 *	  The view change (docs/protocol.md section 8): proofs of misbehaviour,
 *	  I-HATE-THE-PRIMARY, VIEW-CHANGE, NEW-VIEW with the corrected rule,
 *	  re-issuing the new history in the new view, VIEW-CONFIRM.
 *
 * Flow.  A replica that suspects the primary of view v sends
 * I-HATE-THE-PRIMARY(v).  On f+1 of them (its own included) it stops
 * taking part in v and sends VIEW-CHANGE(v+1): its stable checkpoint, a
 * higher certified one, the certificate of the view it entered last, its
 * max commit certificate, every ORDER-REQ it holds after the checkpoint
 * (each with the view it was issued in), and the f+1 I-HATE proofs.  The primary of v+1 collects 2f+1 valid VIEW-CHANGEs and
 * sends NEW-VIEW with them.  Every replica checks every piece of evidence
 * and computes the new history G itself (compute_new_history below), rolls
 * back its speculative suffix where it differs from G, adopts and executes
 * G, and waits for the new primary to re-issue G's ORDER-REQs in view v+1.
 * Then it sends VIEW-CONFIRM(v+1, n, h_n); 2f+1 matching ones end the view
 * change (and are its entered-view certificate), and only then are the
 * clients answered under the new view.
 *
 * Why re-issue: the rule counts ORDER-REQs by the view they were issued
 * in.  An entry carried into view v+1 must count as a view v+1 entry
 * later, or a stale certificate from an older view could outrank a request
 * that completed in v+1.  Re-signed by the new primary, the entry proves
 * its new view to any third party.
 *
 * A view change that does not finish in time makes the replica hate the
 * new primary in turn (I-HATE(v+1)), and the next view change waits twice
 * as long.
 *
 * This file runs the view change up to the NEW-VIEW: the I-HATEs and
 * POMs, the VIEW-CHANGEs and the new primary's NEW-VIEW, the NEW-VIEW a
 * replica that missed the change asks for, and the timers.  Taking the
 * NEW-VIEW (adopting G, the re-issues, VIEW-CONFIRM, entering the view)
 * is enterview.c; computing G is newview.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viewchange_int.h"

static void store_vc(zz_replica *r, const uint8_t *buf, size_t len, uint32_t from);
static void maybe_send_new_view(zz_replica *r);

zz_vc_state *
zz_vc_create(zz_replica *r)
{
	zz_vc_state *vc = calloc(1, sizeof(zz_vc_state));

	if (vc == NULL)
		return NULL;
	zz_buf_init(&vc->my_vc);
	zz_buf_init(&vc->nv_raw);
	vc->timeout = r->p.view_change_timeout;
	vc->deadline = UINT64_MAX;
	vc->reissue_deadline = UINT64_MAX;
	vc->repair_deadline = UINT64_MAX;
	vc->early_cap = 2 * r->p.cp_interval + 2;
	vc->early = calloc(vc->early_cap, sizeof(zz_order_req *));
	if (vc->early == NULL)
	{
		zz_buf_free(&vc->my_vc);
		zz_buf_free(&vc->nv_raw);
		free(vc);
		return NULL;
	}
	return vc;
}

void
zz_vc_clear_vcs(zz_vc_state *vc)
{
	int			i;

	for (i = 0; i < ZZ_MAX_N; i++)
	{
		if (vc->vc_have[i])
			zz_view_change_release(&vc->vcs[i]);
		free(vc->vc_raw[i]);
		vc->vc_raw[i] = NULL;
		vc->vc_have[i] = false;
	}
}

/*
 * Forget re-issued entries held for a NEW-VIEW that has not come.
 */
static void
clear_early(zz_vc_state *vc)
{
	uint32_t	i;

	for (i = 0; i < vc->early_cap; i++)
	{
		if (vc->early[i])
			zz_order_req_free(vc->early[i]);
		vc->early[i] = NULL;
	}
}

void
zz_vc_free(zz_vc_state *vc)
{
	if (vc == NULL)
		return;
	clear_early(vc);
	free(vc->early);
	zz_vc_clear_vcs(vc);
	zz_new_history_free(&vc->g);
	zz_buf_free(&vc->my_vc);
	zz_buf_free(&vc->nv_raw);
	free(vc);
}

/* ------------------------------------------------------------------------
 * I-HATE-THE-PRIMARY and starting a view change
 * ------------------------------------------------------------------------ */

static zz_hate_votes *
hate_slot(zz_vc_state *vc, zz_view v, bool create)
{
	zz_hate_votes *low = NULL;
	int			i;

	for (i = 0; i < ZZ_HATE_SLOTS; i++)
		if (vc->hates[i].used && vc->hates[i].view == v)
			return &vc->hates[i];
	if (!create)
		return NULL;
	for (i = 0; i < ZZ_HATE_SLOTS; i++)
		if (!vc->hates[i].used || low == NULL || vc->hates[i].view < low->view)
			low = &vc->hates[i];
	memset(low, 0, sizeof(*low));
	low->used = true;
	low->view = v;
	return low;
}

static uint32_t
hate_count(const zz_hate_votes *h, uint32_t n)
{
	uint32_t	i,
				c = 0;

	for (i = 0; i < n; i++)
		c += h->have[i];
	return c;
}

/*
 * Our VIEW-CHANGE for view v: certified checkpoint, max CC, every
 * ORDER-REQ after the checkpoint, f+1 I-HATE proofs for v-1.
 */
static bool
build_view_change(zz_replica *r, zz_view v, const uint32_t *haters, const zz_sig *hate_sigs,
				  uint32_t n_hate)
{
	zz_view_change m;
	zz_seq		s;
	uint32_t	i;
	bool		ok;

	if (ZZ_BUGGY(r, ZZ_FAULT_VC_BUILD_FAILS))
		return false;
	memset(&m, 0, sizeof(m));
	m.new_view = v;
	m.replica = r->id;
	if (r->stable_seq > 0)
		m.cp = r->stable_proof;
	/*
	 * A checkpoint certificate only while our log still holds it: a view
	 * change may have rolled us back below it, and a certificate outside
	 * the history we report makes the whole VIEW-CHANGE invalid.
	 */
	if (r->cert_proof.count > 0 && r->cert_proof.seq > m.cp.seq &&
		zz_log_holds(r, r->cert_proof.seq, &r->cert_proof.history))
		m.cert = r->cert_proof;
	if (r->has_cc && r->max_cc.seq > m.cp.seq && r->max_cc.seq <= r->max_seq)
	{
		m.has_cc = 1;
		m.cc = r->max_cc;
	}
	/*
	 * The planted defects of issue 10 are switched on with the code as it
	 * was, without this certificate, which would otherwise mask them.
	 */
	if (r->entered_cert.count > 0 && r->entered_cert.seq > m.cp.seq &&
		zz_log_holds(r, r->entered_cert.seq, &r->entered_cert.history) &&
		!ZZ_BUGGY(r, ZZ_BUG_VC_NO_ENTERED_CERT | ZZ_BUG_CC_ANY_VIEW | ZZ_BUG_MAX_CC_BY_SEQ))
		m.entered = r->entered_cert;	/* as above: only inside what we report */
	m.n_entries = (uint32_t) (r->max_seq - m.cp.seq);
	m.entries = calloc(m.n_entries ? m.n_entries : 1, sizeof(zz_order_req));
	if (m.entries == NULL)
		return false;
	for (s = m.cp.seq + 1, i = 0; s <= r->max_seq; s++, i++)
	{
		zz_entry   *e = zz_entry_at(r, s);

		if (e == NULL)
		{
			free(m.entries);
			return false;
		}
		m.entries[i] = *e->order;
	}
	m.n_hate = (uint8_t) n_hate;
	for (i = 0; i < n_hate; i++)
	{
		m.hate_replicas[i] = haters[i];
		m.hate_sigs[i] = hate_sigs[i];
	}
	zz_view_change_signing_bytes(&r->sigbuf, &m);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &m.sig);
	zz_buf_reset(&r->vc->my_vc);
	ok = zz_encode_view_change(&r->vc->my_vc, &m);
	free(m.entries);
#ifdef ZZ_FAULT_INJECTION
	/* A faulty replica's lie replaces it before anything uses it. */
	if (ok && r->vc->rewrite != NULL)
		r->vc->rewrite(r->vc->rewrite_ctx, &r->vc->my_vc);
#endif
	return ok;
}

#ifdef ZZ_FAULT_INJECTION
void
zz_replica_set_vc_rewrite(zz_replica *r, zz_vc_rewrite_fn fn, void *ctx)
{
	r->vc->rewrite = fn;
	r->vc->rewrite_ctx = ctx;
}
#endif

/*
 * Stop a state transfer in progress (a view change comes first).
 */
void
zz_vc_abandon_transfer(zz_replica *r, const char *why)
{
	zz_replica_trace(r, "state transfer to %llu put aside for %s",
					 (unsigned long long) r->transfer_seq, why);
	r->mode = ZZ_MODE_NORMAL;
	r->transfer_seq = 0;
	r->transfer_deadline = UINT64_MAX;
	r->vc->awaiting_transfer = false;
}

/*
 * Leave view v-1 and ask for view v, with the f+1 I-HATE proofs that
 * justify it.
 */
static void
start_view_change(zz_replica *r, zz_view v, const uint32_t *haters, const zz_sig *hate_sigs,
				  uint32_t n_hate)
{
	zz_vc_state *vc = r->vc;

	if (v <= r->view || (r->mode == ZZ_MODE_VIEW_CHANGE && vc->target >= v))
		return;
	if (r->mode == ZZ_MODE_STATE_TRANSFER)
	{
		/*
		 * Our log up to the transfer is a history to report like any
		 * other; the new history says what to fetch next.  A replica
		 * whose service is corrupt stays out.
		 */
		if (r->repairing)
			return;
		zz_vc_abandon_transfer(r, "a view change");
	}
	else if (r->mode == ZZ_MODE_VIEW_CHANGE)
		vc->timeout *= 2;		/* the last one did not finish */
	if (!build_view_change(r, v, haters, hate_sigs, n_hate))
	{
		/*
		 * We cannot say what we hold (out of memory).  Leave the old view
		 * all the same, silent: staying in normal mode would go on in a
		 * view f+1 replicas left, or (after putting a transfer aside) in a
		 * view whose new history we never adopted.  A NEW-VIEW from the
		 * others still carries us on; the next view change tries again.
		 */
		zz_replica_trace(r, "VIEW-CHANGE to view %llu could not be built: left the view silent",
						 (unsigned long long) v);
		zz_buf_reset(&vc->my_vc);
	}
	r->mode = ZZ_MODE_VIEW_CHANGE;
	vc->target = v;
	vc->deadline = r->now + vc->timeout;
	vc->sent_new_view = false;
	vc->have_g = false;
	vc->other_g = false;
	vc->awaiting_transfer = false;
	vc->confirm_sent = false;
	memset(vc->confirm_have, 0, sizeof(vc->confirm_have));
	zz_new_history_free(&vc->g);
	zz_vc_clear_vcs(vc);
	clear_early(vc);
	zz_drop_batch(r);
	if (vc->began == 0)
	{
		vc->began = r->now ? r->now : 1;
		vc->from_view = r->view;
	}
	zz_replica_notice(r, ZZ_NOTICE_VIEW, "view change from view %llu to view %llu: %s",
					  (unsigned long long) r->view, (unsigned long long) v,
					  vc->why[0] ? vc->why : "f+1 replicas hate the primary");
	zz_keep_view(r, v);
	if (vc->my_vc.len > 0)
	{
		zz_replica_trace(r, "VIEW-CHANGE to view %llu", (unsigned long long) v);
		zz_broadcast(r, &vc->my_vc);
		store_vc(r, vc->my_vc.data, vc->my_vc.len, r->id);
	}
	maybe_send_new_view(r);
}

/*
 * Record an I-HATE vote; f+1 for view v start the change to v+1.
 */
static void
add_hate(zz_replica *r, zz_view v, uint32_t who, const zz_sig *sig)
{
	zz_hate_votes *h;
	uint32_t	haters[ZZ_MAX_N];
	zz_sig		sigs[ZZ_MAX_N];
	uint32_t	i,
				n = 0;

	if (v < r->view)
		return;
	h = hate_slot(r->vc, v, true);
	if (h->have[who])
		return;
	h->have[who] = true;
	h->sig[who] = *sig;
	if (hate_count(h, r->p.n) < r->p.f + 1)
		return;
	for (i = 0; i < r->p.n && n < r->p.f + 1; i++)
	{
		if (h->have[i])
		{
			haters[n] = i;
			sigs[n] = h->sig[i];
			n++;
		}
	}
	start_view_change(r, v + 1, haters, sigs, n);
}

static void
hate_view_again(zz_replica *r, zz_view v, const char *why, bool repeat)
{
	zz_i_hate	m;
	bool		again = r->vc->hated && r->vc->hated_view == v;

	if (r->vc->hated && (r->vc->hated_view > v || (again && !repeat)))
		return;
	/*
	 * With repeat, hating the same view again (a client's request still
	 * unordered) says it again: the first I-HATE may have been lost, and
	 * f+1 are needed.
	 */
	r->vc->hated = true;
	r->vc->hated_view = v;
	if (!again)
	{
		r->stats.i_hates++;
		snprintf(r->vc->why, sizeof(r->vc->why), "%s", why);
		zz_replica_notice(r, ZZ_NOTICE_VIEW, "I-HATE-THE-PRIMARY of view %llu: %s",
						  (unsigned long long) v, why);
	}
	memset(&m, 0, sizeof(m));
	m.view = v;
	m.replica = r->id;
	zz_i_hate_signing_bytes(&r->sigbuf, v, r->id);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &m.sig);
	zz_buf_reset(&r->out);
	zz_encode_i_hate(&r->out, &m);
	zz_broadcast(r, &r->out);
	add_hate(r, v, r->id, &m.sig);
}

static void
hate_view(zz_replica *r, zz_view v, const char *why)
{
	hate_view_again(r, v, why, false);
}

void
zz_hate_primary(zz_replica *r, const char *why)
{
	if (r->mode == ZZ_MODE_NORMAL)
		hate_view(r, r->view, why);
}

/*
 * A client's request went unordered past the CONFIRM-REQ timeout: hate
 * the primary, and say it again if we already did.  Not while no
 * checkpoint certificate can form (zz_views_futile): the request is
 * unordered because the primary waits for that checkpoint, and every
 * primary would.  (Proofs of misbehaviour still change views.)
 */
void
zz_hate_primary_again(zz_replica *r, const char *why)
{
	if (r->mode == ZZ_MODE_NORMAL && !zz_views_futile(r, why))
		hate_view_again(r, r->view, why, true);
}

void
zz_on_i_hate(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_i_hate	m;

	if (zz_decode_i_hate(buf, len, &m) != ZZ_OK || m.replica >= r->p.n)
		goto reject;
	zz_i_hate_signing_bytes(&r->sigbuf, m.view, m.replica);
	if (!zz_verify(r->crypto, m.replica, r->sigbuf.data, r->sigbuf.len, &m.sig))
		goto reject;
	add_hate(r, m.view, m.replica, &m.sig);
	return;
reject:
	r->stats.rejected++;
}

/*
 * Two ORDER-REQ headers signed by one primary for one (v, n) that differ:
 * tell everyone, and hate that primary.
 */
void
zz_report_pom(zz_replica *r, const zz_order_hdr *a, const zz_order_hdr *b)
{
	zz_pom		m;

	r->stats.poms++;
	m.a = *a;
	m.b = *b;
	zz_buf_reset(&r->out);
	zz_encode_pom(&r->out, &m);
	zz_broadcast(r, &r->out);
	if (a->view == r->view)
		zz_hate_primary(r, "proof of misbehaviour");
}

void
zz_on_pom(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_vc_state *vc = r->vc;
	zz_pom		m;
	uint32_t	primary;

	/*
	 * A proof only if both headers claim one (v, n): two ORDER-REQs of
	 * different sequence numbers differ in any honest log.
	 */
	if (zz_decode_pom(buf, len, &m) != ZZ_OK || m.a.view != m.b.view ||
		(m.a.seq != m.b.seq && !ZZ_BUGGY(r, ZZ_BUG_POM_ANY_SEQ)) ||
		(zz_digest_eq(&m.a.history, &m.b.history) &&
		 zz_digest_eq(&m.a.batch_digest, &m.b.batch_digest)))
		goto reject;
	primary = zz_primary_of(&r->p, m.a.view);
	zz_order_hdr_signing_bytes(&r->sigbuf, &m.a);
	if (!zz_verify(r->crypto, primary, r->sigbuf.data, r->sigbuf.len, &m.a.sig))
		goto reject;
	zz_order_hdr_signing_bytes(&r->sigbuf, &m.b);
	if (!zz_verify(r->crypto, primary, r->sigbuf.data, r->sigbuf.len, &m.b.sig))
		goto reject;
	if (m.a.view == r->view && r->mode == ZZ_MODE_NORMAL &&
		!(vc->hated && vc->hated_view >= r->view))
	{
		r->stats.poms++;
		/* Pass it on: every correct replica must hear it, or f+1 may not hate. */
		zz_broadcast_raw(r, buf, len);
		zz_hate_primary(r, "proof of misbehaviour received");
	}
	return;
reject:
	r->stats.rejected++;
}

/* ------------------------------------------------------------------------
 * VIEW-CHANGE and NEW-VIEW
 * ------------------------------------------------------------------------ */

/*
 * Keep a validated VIEW-CHANGE for the target view (own copy of the bytes).
 */
static void
store_vc(zz_replica *r, const uint8_t *buf, size_t len, uint32_t from)
{
	zz_vc_state *vc = r->vc;
	uint8_t    *raw;

	if (from >= r->p.n || vc->vc_have[from])
		return;
	raw = malloc(len);
	if (raw == NULL)
		abort();
	memcpy(raw, buf, len);
	if (zz_decode_view_change(raw, len, &vc->vcs[from]) != ZZ_OK)
	{
		free(raw);
		return;
	}
	vc->vc_raw[from] = raw;
	vc->vc_len[from] = len;
	vc->vc_have[from] = true;
}

/*
 * The new primary: with 2f+1 valid VIEW-CHANGEs, send NEW-VIEW.
 */
static void
maybe_send_new_view(zz_replica *r)
{
	zz_vc_state *vc = r->vc;
	zz_new_view m;
	zz_buf		b;
	uint32_t	i;

	if (r->mode != ZZ_MODE_VIEW_CHANGE || vc->sent_new_view ||
		zz_primary_of(&r->p, vc->target) != r->id)
		return;
	memset(&m, 0, sizeof(m));
	m.new_view = vc->target;
	m.replica = r->id;
	m.vcs = calloc(r->p.n, sizeof(zz_view_change));
	if (m.vcs == NULL)
		abort();
	for (i = 0; i < r->p.n && m.n_vc < zz_quorum(&r->p); i++)
		if (vc->vc_have[i])
			m.vcs[m.n_vc++] = vc->vcs[i];
	if (m.n_vc < zz_quorum(&r->p))
	{
		free(m.vcs);
		return;
	}
	zz_new_view_signing_bytes(&r->sigbuf, &m);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &m.sig);
	zz_buf_init(&b);
	if (zz_encode_new_view(&b, &m))
	{
		vc->sent_new_view = true;
		zz_replica_trace(r, "NEW-VIEW %llu", (unsigned long long) vc->target);
		zz_broadcast(r, &b);
		zz_vc_handle_new_view(r, b.data, b.len);
	}
	zz_buf_free(&b);
	free(m.vcs);
}

void
zz_on_view_change(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_view_change m;
	zz_vc_state *vc = r->vc;

	if (zz_decode_view_change(buf, len, &m) != ZZ_OK)
	{
		r->stats.rejected++;
		return;
	}
	if (m.new_view <= r->view)
	{
		/* A replica still asking for the view we are in: show it NEW-VIEW. */
		if (m.new_view == r->view && r->mode == ZZ_MODE_NORMAL && m.replica < r->p.n)
			zz_vc_send_new_view_to(r, m.replica);
		goto done;
	}
	if (!zz_vc_valid(r, &m, m.new_view))
	{
		r->stats.rejected++;
		goto done;
	}
	/* A valid VIEW-CHANGE carries f+1 I-HATEs: enough to join it. */
	if (r->mode != ZZ_MODE_VIEW_CHANGE || m.new_view > vc->target)
		start_view_change(r, m.new_view, m.hate_replicas, m.hate_sigs, m.n_hate);
	if (r->mode == ZZ_MODE_VIEW_CHANGE && m.new_view == vc->target)
	{
		store_vc(r, buf, len, m.replica);
		maybe_send_new_view(r);
	}
done:
	zz_view_change_release(&m);
}

/* ------------------------------------------------------------------------
 * Replicas that missed a view change
 * ------------------------------------------------------------------------ */

bool
zz_vc_send_new_view_to(zz_replica *r, uint32_t to)
{
	zz_buf	   *nv = &r->vc->nv_raw;

	if (nv->len == 0 || to >= r->p.n)
		return false;
	zz_send_replica(r, to, nv);
	return true;
}

/*
 * We saw traffic of a view above ours: ask that view's primary for the
 * NEW-VIEW (a FILL-HOLE from an older view is answered with it).
 */
void
zz_request_new_view(zz_replica *r, zz_view v)
{
	zz_fill_hole m;

	if (r->vc->nv_request_deadline != 0 && r->vc->nv_request_deadline > r->now)
		return;
	r->vc->nv_request_deadline = r->now + r->p.fill_hole_timeout;
	memset(&m, 0, sizeof(m));
	m.view = r->view;
	m.replica = r->id;
	m.from_seq = r->max_seq + 1;
	m.to_seq = r->max_seq + 1;
	zz_fill_hole_signing_bytes(&r->sigbuf, &m);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &m.sig);
	zz_buf_reset(&r->out);
	zz_encode_fill_hole(&r->out, &m);
	zz_send_replica(r, zz_primary_of(&r->p, v), &r->out);
}

/*
 * Ask the new primary for the entries of G it re-issued in its view (a
 * FILL-HOLE in the new view is answered with them).
 */
static void
request_reissue(zz_replica *r)
{
	zz_vc_state *vc = r->vc;
	zz_fill_hole m;

	memset(&m, 0, sizeof(m));
	m.view = r->view;
	m.replica = r->id;
	m.from_seq = (vc->g.start > r->stable_seq ? vc->g.start : r->stable_seq) + 1;
	m.to_seq = vc->g.end;
	/* From the first entry still under its old view: answers are capped. */
	while (m.from_seq <= m.to_seq)
	{
		zz_entry   *e = zz_entry_at(r, m.from_seq);

		if (e == NULL || e->order->hdr.view != r->view)
			break;
		m.from_seq++;
	}
	if (m.from_seq > m.to_seq)
		return;
	zz_fill_hole_signing_bytes(&r->sigbuf, &m);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &m.sig);
	zz_buf_reset(&r->out);
	zz_encode_fill_hole(&r->out, &m);

	/*
	 * First the new primary; then everyone (docs/protocol.md section 6): any
	 * replica in the view holds the re-issued entries with the primary's
	 * signature, so a primary that starves us cannot keep us out.
	 */
	if (vc->stalls <= 1)
		zz_send_replica(r, zz_primary_of(&r->p, r->view), &r->out);
	else
		zz_broadcast(r, &r->out);
}

/* ------------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------------ */

zz_time
zz_vc_deadline(const zz_replica *r)
{
	zz_time		t = UINT64_MAX;

	if (r->mode == ZZ_MODE_STATE_TRANSFER && r->vc->awaiting_transfer)
		t = r->vc->deadline;	/* the view change's own timer still runs */
	else if (r->mode == ZZ_MODE_VIEW_CHANGE)
	{
		t = r->vc->deadline;
		if (r->vc->reissue_deadline < t)
			t = r->vc->reissue_deadline;
		if (r->vc->repair_deadline < t)
			t = r->vc->repair_deadline;
	}
	return t;
}

void
zz_vc_tick(zz_replica *r)
{
	zz_vc_state *vc = r->vc;

	if (r->mode == ZZ_MODE_STATE_TRANSFER && vc->awaiting_transfer && vc->deadline <= r->now)
	{
		/*
		 * The state the new history needs has not come in time: the view
		 * change did not finish; hate its primary (start_view_change then
		 * puts the transfer aside once f+1 agree).
		 */
		vc->deadline = r->now + vc->timeout;
		hate_view(r, vc->target, "view change timed out fetching state");
		return;
	}
	if (r->mode != ZZ_MODE_VIEW_CHANGE)
		return;
	if (vc->reissue_deadline <= r->now)
	{
		/* New primary: some replicas may have missed NEW-VIEW or re-issues. */
		zz_seq		s;

		zz_broadcast(r, &vc->nv_raw);
		for (s = r->stable_seq + 1; s <= vc->g.end && vc->have_g; s++)
		{
			zz_entry   *e = zz_entry_at(r, s);

			if (e == NULL || e->order->hdr.view != r->view)
				continue;
			zz_buf_reset(&r->out);
			zz_encode_order_req(&r->out, e->order);
			zz_broadcast(r, &r->out);
		}
		vc->reissue_deadline = r->now + r->p.fill_hole_timeout;
	}
	if (vc->repair_deadline <= r->now && !(vc->have_g && r->view == vc->target))
		vc->repair_deadline = UINT64_MAX;	/* nothing to repair (any more) */
	if (vc->repair_deadline <= r->now)
	{
		/*
		 * G adopted but the view not entered: messages were lost or came
		 * early.  Repair on the short timer; hate only on the long one.
		 */
		vc->repair_interval *= 2;
		if (vc->repair_interval > vc->timeout)
			vc->repair_interval = vc->timeout;
		vc->repair_deadline = r->now + vc->repair_interval;
		zz_vc_progress(r);
		if (r->mode != ZZ_MODE_VIEW_CHANGE)
			return;
		vc->stalls++;
		if (!vc->confirm_sent)
			request_reissue(r);
		else
		{
			zz_buf_reset(&r->out);
			zz_encode_view_confirm(&r->out, &vc->my_confirm);
			zz_broadcast(r, &r->out);
		}
	}
	if (vc->deadline <= r->now)
	{
		vc->deadline = r->now + vc->timeout;
		/* A truncation may have removed what we were waiting for. */
		zz_vc_progress(r);
		if (r->mode != ZZ_MODE_VIEW_CHANGE)
			return;
		/* The view change to target did not finish: hate its primary too. */
		if (vc->my_vc.len > 0)
			zz_broadcast(r, &vc->my_vc);
		hate_view(r, vc->target, "view change timed out");
	}
}
