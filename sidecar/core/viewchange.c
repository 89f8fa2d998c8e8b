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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "newview.h"

#define ZZ_HATE_SLOTS 4

typedef struct zz_hate_votes
{
	bool		used;
	zz_view		view;
	bool		have[ZZ_MAX_N];
	zz_sig		sig[ZZ_MAX_N];
} zz_hate_votes;

struct zz_vc_state
{
	zz_hate_votes hates[ZZ_HATE_SLOTS];
	bool		hated;
	zz_view		hated_view;		/* highest view we sent I-HATE for */

	/* The view change in progress (r->mode == ZZ_MODE_VIEW_CHANGE). */
	zz_view		target;
	zz_time		deadline;
	zz_time		timeout;
	zz_buf		my_vc;			/* our encoded VIEW-CHANGE for target */
	bool		vc_have[ZZ_MAX_N];
	uint8_t    *vc_raw[ZZ_MAX_N];
	size_t		vc_len[ZZ_MAX_N];
	zz_view_change vcs[ZZ_MAX_N];	/* decoded from vc_raw */
	bool		sent_new_view;

	/* Installing the new view. */
	bool		have_g;
	zz_new_history g;
	bool		awaiting_transfer;
	bool		confirm_sent;
	zz_view_confirm my_confirm;
	bool		confirm_have[ZZ_MAX_N];
	zz_view_confirm confirms[ZZ_MAX_N];
	zz_time		reissue_deadline;	/* new primary: resend NEW-VIEW and re-issues */

	uint32_t	stalls;			/* deadlines passed with G adopted */
	zz_order_req **early;		/* re-issues that came before NEW-VIEW, by seq % cap */
	uint32_t	early_cap;
	zz_time		repair_deadline;	/* G adopted: next fetch or VIEW-CONFIRM resend */

	/* For the operator (io.notice): when the change began, from where, why. */
	zz_time		began;			/* 0: no view change since the last entered */
	zz_view		from_view;
	char		why[96];		/* our last reason to hate the primary */
	zz_time		repair_interval;	/* doubles up to the view-change timeout */
	bool		other_g;		/* 2f+1 confirmed another G than ours */
	zz_view_confirm other;		/* that G's (view, seq, h) */
	bool		has_bad_reissue;	/* a re-issued header that contradicts G */
	zz_order_hdr bad_reissue;

	/* After: what moved us into r->view, for replicas that missed it. */
	zz_buf		nv_raw;
	zz_time		confirm_reply_at[ZZ_MAX_N];
	zz_time		nv_request_deadline;
#ifdef ZZ_FAULT_INJECTION
	zz_vc_rewrite_fn rewrite;	/* a consistent liar's (zz_replica_set_vc_rewrite) */
	void	   *rewrite_ctx;
#endif
};

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

static void
clear_vcs(zz_vc_state *vc)
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
	clear_vcs(vc);
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
static void
abandon_transfer(zz_replica *r, const char *why)
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
		abandon_transfer(r, "a view change");
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
	clear_vcs(vc);
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

static void handle_new_view(zz_replica *r, const uint8_t *buf, size_t len);

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
		handle_new_view(r, b.data, b.len);
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
static void
handle_new_view(zz_replica *r, const uint8_t *buf, size_t len)
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
		abandon_transfer(r, "a NEW-VIEW");
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
	handle_new_view(r, buf, len);
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
	clear_vcs(vc);
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
