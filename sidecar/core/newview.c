/*
 * newview.c
 *	  The new history G of a view change (docs/protocol.md section 8): checking
 *	  every piece of evidence in a VIEW-CHANGE, and the rule that computes
 *	  G from 2f+1 of them.  viewchange.c and enterview.c run the messages
 *	  around it.
 */
#include <stdlib.h>
#include <string.h>

#include "newview.h"

void
zz_new_history_free(zz_new_history *g)
{
	zz_seq		i;

	if (g->entries)
		for (i = 0; i < g->end - g->start; i++)
			zz_order_req_free(g->entries[i]);
	free(g->entries);
	memset(g, 0, sizeof(*g));
}

/* ------------------------------------------------------------------------
 * Evidence checks
 * ------------------------------------------------------------------------ */

/*
 * Do the entries of a VIEW-CHANGE form a chain from its checkpoint, each
 * signed by the primary of the view it claims, each batch matching its
 * digest?  A correct replica's log always does.
 */
static bool
entries_valid(zz_replica *r, const zz_view_change *m)
{
	zz_digest	prev = m->cp.history;
	zz_digest	d,
				h;
	zz_digest  *digests = NULL;
	uint32_t	i,
				j;
	bool		ok = true;

	if (m->n_entries > 2 * r->p.cp_interval)
		return false;
	for (i = 0; i < m->n_entries && ok; i++)
	{
		const zz_order_req *e = &m->entries[i];

		if (e->hdr.seq != m->cp.seq + 1 + i || e->hdr.view >= m->new_view ||
			e->hdr.count == 0)
			return false;
		zz_order_hdr_signing_bytes(&r->sigbuf, &e->hdr);
		if (!zz_verify(r->crypto, zz_primary_of(&r->p, e->hdr.view), r->sigbuf.data,
					   r->sigbuf.len, &e->hdr.sig))
			return false;
		digests = realloc(digests, sizeof(zz_digest) * e->hdr.count);
		if (digests == NULL)
			abort();
		for (j = 0; j < e->hdr.count; j++)
			zz_request_digest(r->crypto, &e->reqs[j], &digests[j]);
		zz_batch_digest(r->crypto, e->hdr.nd_time, e->hdr.nd_seed, digests,
						e->hdr.count, &d);
		zz_chain_history(r->crypto, &prev, e->hdr.seq, &d, &h);
		ok = zz_digest_eq(&d, &e->hdr.batch_digest) && zz_digest_eq(&h, &e->hdr.history);
		prev = h;
	}
	free(digests);
	return ok;
}

/*
 * The entry a VIEW-CHANGE reports at seq, or NULL.
 */
static const zz_order_req *
vc_entry(const zz_view_change *m, zz_seq seq)
{
	if (seq <= m->cp.seq || seq > m->cp.seq + m->n_entries)
		return NULL;
	return &m->entries[seq - m->cp.seq - 1];
}

/*
 * Does evidence for (seq, h) lie inside what m reports: beyond the
 * sender's stable checkpoint, and h the sender's entry at seq?
 */
static bool
vc_reports(const zz_view_change *m, zz_seq seq, const zz_digest *h)
{
	const zz_order_req *e = seq > m->cp.seq ? vc_entry(m, seq) : NULL;

	return e != NULL && zz_digest_eq(&e->hdr.history, h);
}

/* Is m's commit certificate usable evidence (inside its history)? */
static bool
vc_cc_usable(const zz_view_change *m)
{
	return m->has_cc && vc_reports(m, m->cc.seq, &m->cc.history);
}

/* The same for the certified checkpoint it reports above its stable one. */
static bool
vc_cert_usable(const zz_view_change *m)
{
	return m->cert.count > 0 && vc_reports(m, m->cert.seq, &m->cert.history);
}

/* The same for the certificate of the view the sender entered last. */
static bool
vc_entered_usable(const zz_view_change *m)
{
	return m->entered.count > 0 && vc_reports(m, m->entered.seq, &m->entered.history);
}

/*
 * A view's certificate: 2f+1 distinct replicas' VIEW-CONFIRMs for one
 * (view, seq, h).
 */
bool
zz_view_cert_valid(zz_replica *r, const zz_view_cert *c)
{
	bool		seen[ZZ_MAX_N] = {false};
	uint32_t	i;

	if (c->count < zz_quorum(&r->p) || c->count > r->p.n)
		return false;
	for (i = 0; i < c->count; i++)
	{
		zz_view_confirm vcf;

		if (c->replicas[i] >= r->p.n || seen[c->replicas[i]])
			return false;
		seen[c->replicas[i]] = true;
		memset(&vcf, 0, sizeof(vcf));
		vcf.view = c->view;
		vcf.seq = c->seq;
		vcf.history = c->history;
		vcf.replica = c->replicas[i];
		zz_view_confirm_signing_bytes(&r->sigbuf, &vcf);
		if (!zz_verify(r->crypto, c->replicas[i], r->sigbuf.data, r->sigbuf.len, &c->sigs[i]))
			return false;
	}
	return true;
}

/*
 * Is evidence (va, sa) stronger than (vb, sb)?  By view, then by reach.
 */
static bool
evidence_above(zz_view va, zz_seq sa, zz_view vb, zz_seq sb)
{
	return va > vb || (va == vb && sa > sb);
}

/*
 * The strongest evidence a VIEW-CHANGE holds for slot s: a commit
 * certificate, a checkpoint certificate or the certificate of the view the
 * sender entered, covering s.  Each is 2f+1 replicas' word that they held
 * the prefix in a view; the rule ranks them by view, then by reach.
 * Returns false if it has none; else the view and the seq it covers to.
 */
static bool
vc_evidence(const zz_view_change *m, zz_seq s, zz_view *view, zz_seq *upto)
{
	bool		found = false;

	if (vc_cc_usable(m) && m->cc.seq >= s)
	{
		*view = m->cc.view;
		*upto = m->cc.seq;
		found = true;
	}
	if (vc_cert_usable(m) && m->cert.seq >= s &&
		(!found || evidence_above(m->cert.view, m->cert.seq, *view, *upto)))
	{
		*view = m->cert.view;
		*upto = m->cert.seq;
		found = true;
	}
	if (vc_entered_usable(m) && m->entered.seq >= s &&
		(!found || evidence_above(m->entered.view, m->entered.seq, *view, *upto)))
	{
		*view = m->entered.view;
		*upto = m->entered.seq;
		found = true;
	}
	return found;
}

/*
 * Check every piece of evidence in a VIEW-CHANGE for view v.  Signatures,
 * f+1 I-HATE proofs for v-1, the checkpoint proof, the entries' chain and
 * signatures, and the CC (valid, and inside the sender's own history).
 */
bool
zz_vc_valid(zz_replica *r, const zz_view_change *m, zz_view v)
{
	bool		seen[ZZ_MAX_N] = {false};
	uint32_t	i;

	if (m->new_view != v || v == 0 || m->replica >= r->p.n)
		return false;
	zz_view_change_signing_bytes(&r->sigbuf, m);
	if (r->sigbuf.len == 0 ||
		!zz_verify(r->crypto, m->replica, r->sigbuf.data, r->sigbuf.len, &m->sig))
		return false;
	if (m->n_hate < r->p.f + 1)
		return false;
	for (i = 0; i < m->n_hate; i++)
	{
		uint32_t	who = m->hate_replicas[i];

		if (who >= r->p.n || seen[who])
			return false;
		seen[who] = true;
		zz_i_hate_signing_bytes(&r->sigbuf, v - 1, who);
		if (!zz_verify(r->crypto, who, r->sigbuf.data, r->sigbuf.len, &m->hate_sigs[i]))
			return false;
	}
	if (m->cp.count == 0)
	{
		zz_digest	zero = {{0}};

		if (m->cp.seq != 0 || !zz_digest_eq(&m->cp.history, &zero))
			return false;
	}
	else if (!zz_cp_proof_valid(r, &m->cp))
		return false;
	if (!entries_valid(r, m))
		return false;
	if (m->has_cc && m->cc.seq > m->cp.seq)
	{
		if (!vc_cc_usable(m) || !zz_cc_valid(r, &m->cc))
			return false;
	}
	if (m->cert.count > 0 && (!vc_cert_usable(m) || !zz_cp_proof_valid(r, &m->cert)))
		return false;
	/*
	 * The entered view's certificate counts only inside the history the
	 * sender reports (a correct replica sends it only there); outside, it
	 * is as if absent, which any sender may choose.
	 */
	if (vc_entered_usable(m) &&
		(m->entered.view >= v || !zz_view_cert_valid(r, &m->entered)))
		return false;
	return true;
}

/* ------------------------------------------------------------------------
 * The new history
 * ------------------------------------------------------------------------ */

/*
 * Both rules start the new history at the highest stable checkpoint that
 * the VIEW-CHANGEs report (each is final: see checkpoint.c).
 */
static void
start_at_stable_checkpoint(zz_replica *r, const zz_view_change *const *vcs, uint32_t k,
						   zz_new_history *g)
{
	uint32_t	i,
				best = 0;

	memset(g, 0, sizeof(*g));
	for (i = 1; i < k; i++)
		if (ZZ_BUGGY(r, ZZ_BUG_NEW_VIEW_LOWEST_CP) ?
			vcs[i]->cp.seq < vcs[best]->cp.seq :
			vcs[i]->cp.seq > vcs[best]->cp.seq)
			best = i;
	g->start = g->end = vcs[best]->cp.seq;
	g->start_history = g->end_history = vcs[best]->cp.history;
	g->start_proof = vcs[best]->cp;
}

static bool
append_selected(zz_new_history *g, const zz_order_req *e)
{
	zz_seq		k = e->hdr.seq - g->start - 1;
	zz_order_req **grown = realloc(g->entries, sizeof(*grown) * (k + 1));

	if (grown == NULL)
		return false;
	g->entries = grown;
	g->entries[k] = zz_order_req_clone(e);
	if (g->entries[k] == NULL)
		return false;
	g->end = e->hdr.seq;
	g->end_history = e->hdr.history;
	return true;
}

/*
 * The corrected rule ("the highest view wins"; docs/protocol.md, "The
 * new-view rule").
 *
 * Start at the highest valid certified checkpoint in the set.  For each
 * slot s above it, consider only the VIEW-CHANGEs whose reported history
 * agrees with G so far ("alive"): entries that chain from the selected
 * history.  Let w be the highest view of live evidence covering s (a CC, a
 * checkpoint certificate or an entered-view certificate).  If f+1 live
 * VIEW-CHANGEs report one entry at s issued in a view above w (any view if
 * no evidence covers s), select it.  Otherwise select the entry at s of
 * the holder of that evidence.  Otherwise stop: nothing at s or beyond can
 * have completed.
 *
 * Why it is safe (the argument in full is in docs/protocol.md, "Safety"):
 * a request completes either on 3f+1 matching responses in some view u,
 * so f+1 correct replicas in any 2f+1 VIEW-CHANGEs report it labelled u
 * or later, while no evidence of view >= u can conflict with it; or on
 * 2f+1 LOCAL-COMMITs in view u, each promising evidence of view u
 * covering it, so one correct replica in the set reports evidence of view
 * >= u consistent with it, and any entry of a higher view at s was built
 * on top of it.
 */
static bool
corrected_rule(zz_replica *r, const zz_view_change *const *vcs, uint32_t k,
					zz_new_history *g)
{
	bool		alive[ZZ_MAX_N];
	uint32_t	i,
				j;
	zz_seq		s;

	start_at_stable_checkpoint(r, vcs, k, g);

	for (i = 0; i < k; i++)
	{
		const zz_order_req *e = vc_entry(vcs[i], g->start);

		if (vcs[i]->cp.seq == g->start)
			alive[i] = zz_digest_eq(&vcs[i]->cp.history, &g->start_history);
		else
			alive[i] = e != NULL && zz_digest_eq(&e->hdr.history, &g->start_history);
	}

	for (s = g->start + 1;; s++)
	{
		const zz_order_req *chosen = NULL;
		int			cc_holder = -1;
		bool		any_cc = false;
		zz_view		w = 0;
		zz_seq		holder_upto = 0;

		/* w: the highest view of live evidence (CC or certificate) covering s. */
		for (i = 0; i < k; i++)
		{
			zz_view		ev = 0;
			zz_seq		upto = 0;

			if (!alive[i] || !vc_evidence(vcs[i], s, &ev, &upto))
				continue;
			if (!any_cc || (ZZ_BUGGY(r, ZZ_BUG_NEW_VIEW_LOWEST_CC) ? ev < w : ev > w) ||
				(ev == w && upto > holder_upto))
			{
				w = ev;
				holder_upto = upto;
				cc_holder = (int) i;
			}
			any_cc = true;
		}

		/* f+1 live reports of one entry issued in a view above w. */
		for (i = 0; i < k && chosen == NULL; i++)
		{
			const zz_order_req *e = alive[i] ? vc_entry(vcs[i], s) : NULL;
			uint32_t	support = 0;

			if (e == NULL || (any_cc && e->hdr.view <= w))
				continue;
			for (j = 0; j < k; j++)
			{
				const zz_order_req *o = alive[j] ? vc_entry(vcs[j], s) : NULL;

				if (o != NULL && (!any_cc || o->hdr.view > w) &&
					zz_digest_eq(&o->hdr.history, &e->hdr.history))
					support++;
			}
			if (support >= r->p.f + 1)
				chosen = e;
		}
		if (chosen == NULL && cc_holder >= 0)
			chosen = vc_entry(vcs[cc_holder], s);
		if (chosen == NULL)
			break;
		if (!append_selected(g, chosen))
			return false;
		for (i = 0; i < k; i++)
		{
			const zz_order_req *e = vc_entry(vcs[i], s);

			alive[i] = alive[i] && e != NULL &&
				zz_digest_eq(&e->hdr.history, &chosen->hdr.history);
		}
	}
	return true;
}

/*
 * The rule as first published, kept only so tests can show that the
 * shipped scenarios catch it: take the CC with the highest sequence
 * number, whatever its view, copy its holder's history up to it, then
 * append entries that f+1 VIEW-CHANGEs report.  Unsafe (Abraham et al.).
 */
static bool
published_rule(zz_replica *r, const zz_view_change *const *vcs, uint32_t k,
						   zz_new_history *g)
{
	uint32_t	i,
				j;
	int			cc_holder = -1;
	zz_seq		s;

	start_at_stable_checkpoint(r, vcs, k, g);
	for (i = 0; i < k; i++)
		if (vc_cc_usable(vcs[i]) && vcs[i]->cc.seq > g->start &&
			(cc_holder < 0 || vcs[i]->cc.seq > vcs[cc_holder]->cc.seq))
			cc_holder = (int) i;
	for (s = g->start + 1;; s++)
	{
		const zz_order_req *chosen = NULL;

		if (cc_holder >= 0 && s <= vcs[cc_holder]->cc.seq)
			chosen = vc_entry(vcs[cc_holder], s);
		for (i = 0; i < k && chosen == NULL; i++)
		{
			const zz_order_req *e = vc_entry(vcs[i], s);
			uint32_t	support = 0;

			if (e == NULL)
				continue;
			for (j = 0; j < k; j++)
			{
				const zz_order_req *o = vc_entry(vcs[j], s);

				if (o && zz_digest_eq(&o->hdr.history, &e->hdr.history))
					support++;
			}
			if (support >= r->p.f + 1)
				chosen = e;
		}
		if (chosen == NULL)
			break;
		/* It must still chain from what was selected below it. */
		{
			zz_digest	h;

			zz_chain_history(r->crypto, &g->end_history, s, &chosen->hdr.batch_digest, &h);
			if (!zz_digest_eq(&h, &chosen->hdr.history))
				break;
		}
		if (!append_selected(g, chosen))
			return false;
	}
	return true;
}

/*
 * G from a NEW-VIEW's VIEW-CHANGEs (all already checked by zz_vc_valid),
 * by the corrected rule, or by the published one when the test switch
 * asks for it.
 */
bool
zz_compute_new_history(zz_replica *r, const zz_view_change *const *vcs, uint32_t k,
					   zz_new_history *g)
{
	if (k != zz_quorum(&r->p))
		return false;			/* the rule is argued for exactly 2f+1 */
	if (ZZ_BUGGY(r, ZZ_BUG_UNSAFE_NEW_VIEW))
		return published_rule(r, vcs, k, g);
	return corrected_rule(r, vcs, k, g);
}
