/*
 * forge_vc.c
 *	  A faulty replica's lies in the view change (forge.h, zz_vc_lie): the
 *	  VIEW-CHANGE it sends, or keeps as its own (zz_forger_rewrite_own_vc),
 *	  and the NEW-VIEW it builds as the new primary, rewritten to withhold
 *	  its entries or to report a stale, forged or malformed commit
 *	  certificate or a stale checkpoint, each backed by a chain of entries
 *	  found among the ORDER-REQs and certificates it kept (forge.c keeps
 *	  them).
 */
#include <stdlib.h>
#include <string.h>

#include "forge_int.h"

/* ------------------------------------------------------ VIEW-CHANGE lies */

/*
 * Find, among the ORDER-REQs kept, a chain from prev (the h at seq - 1)
 * through seq .. last ending at h = want.  Fills chain[seq - first].
 */
static bool
find_chain(zz_forger *fg, zz_seq seq, zz_seq first, zz_seq last, const zz_digest *prev,
		   const zz_digest *want, zz_order_req **chain)
{
	fg_log	   *l;

	if (seq >= fg->nlog)
		return false;
	l = &fg->log[seq];
	for (int i = 0; i < l->n; i++)
	{
		zz_order_req *e = l->v[i];
		zz_digest	h;

		zz_chain_history(fg->crypto, prev, seq, &e->hdr.batch_digest, &h);
		if (!zz_digest_eq(&h, &e->hdr.history))
			continue;
		if (seq == last)
		{
			if (!zz_digest_eq(&h, want))
				continue;
			chain[seq - first] = e;
			return true;
		}
		chain[seq - first] = e;
		if (find_chain(fg, seq + 1, first, last, &h, want, chain))
			return true;
	}
	return false;
}

/* The kept certificate a stale-CC lie presents against VIEW-CHANGE m. */
static const zz_commit_cert *
pick_stale_cc(zz_forger *fg, const zz_view_change *m)
{
	const zz_commit_cert *best = NULL;
	zz_seq		top = m->cp.seq + 2 * (zz_seq) fg->p.cp_interval;

	for (uint32_t i = 0; i < fg->nccs; i++)
	{
		const zz_commit_cert *c = &fg->ccs[i];

		if (c->seq <= m->cp.seq || c->seq > top)
			continue;
		if (fg->cfg.stale_seq != 0)
		{
			if (c->seq == fg->cfg.stale_seq && c->view == fg->cfg.stale_view)
				return c;
			continue;
		}
		if (m->has_cc && c->view == m->cc.view && c->seq == m->cc.seq)
			continue;			/* that is the honest one */
		if (best == NULL ||
			(fg->cfg.stale_newest ? c->view > best->view : c->view < best->view) ||
			(c->view == best->view && c->seq > best->seq))
			best = c;
	}
	return best;
}

/*
 * Build the lie in VIEW-CHANGE m (see zz_vc_lie) and encode it, re-signed,
 * into out.  False: nothing to lie with, send the truth.
 */
/*
 * A commit certificate for the last entry of m made of the forger's own
 * signature, 2f+1 times: under 2f+1 replicas' ids (forged signers), or
 * under its own id each time (a duplicate signer).  False if m holds no
 * entry.
 */
static bool
own_signed_cc(zz_forger *fg, const zz_view_change *m, bool other_ids, zz_commit_cert *cc)
{
	const zz_order_req *e;
	zz_cc_entry mine;

	if (m->n_entries == 0)
		return false;
	e = &m->entries[m->n_entries - 1];
	memset(cc, 0, sizeof(*cc));
	cc->view = e->hdr.view;
	cc->seq = e->hdr.seq;
	cc->history = e->hdr.history;
	memset(&mine, 0, sizeof(mine));
	mine.replica = fg->id;
	zz_response_core_signing_bytes(&fg->sb, e->hdr.view, e->hdr.seq,
								   &e->hdr.history, &mine.reply_root);
	zz_sign(fg->crypto, fg->sb.data, fg->sb.len, &mine.sig);
	for (uint32_t i = 0; i < 2 * fg->p.f + 1; i++)
	{
		cc->entries[i] = mine;
		if (other_ids)
			cc->entries[i].replica = (fg->id + i) % fg->p.n;
	}
	cc->count = (uint8_t) (2 * fg->p.f + 1);
	return true;
}

static bool
lie_view_change(zz_forger *fg, const zz_view_change *m, zz_buf *out)
{
	zz_view_change lie = *m;
	zz_order_req *entries = NULL;
	bool		ok = true;

	if (m->replica != fg->id)
		return false;
	switch (fg->cfg.vc_lie)
	{
		case ZZ_VC_HONEST:
			return false;
		case ZZ_VC_WITHHOLD:
			{
				zz_seq		from = fg->cfg.withhold_from;
				zz_seq		keep = from > m->cp.seq ? from - m->cp.seq - 1 : 0;

				if (keep >= m->n_entries)
					return false;
				lie.n_entries = (uint32_t) keep;
				if (lie.has_cc && lie.cc.seq > m->cp.seq + keep)
					lie.has_cc = 0;
				/* A checkpoint certificate above what it shows goes too. */
				if (lie.cert.count > 0 && lie.cert.seq > m->cp.seq + keep)
					memset(&lie.cert, 0, sizeof(lie.cert));
				break;
			}
		case ZZ_VC_STALE_CC:
			{
				const zz_commit_cert *cc = pick_stale_cc(fg, m);
				zz_order_req **chain;
				zz_seq		n,
							extra = 0;
				const zz_order_req *at;

				if (cc == NULL)
					return false;
				n = cc->seq - m->cp.seq;
				chain = calloc(n, sizeof(zz_order_req *));
				if (chain == NULL)
					abort();
				if (!find_chain(fg, m->cp.seq + 1, m->cp.seq + 1, cc->seq, &m->cp.history,
								&cc->history, chain))
				{
					free(chain);
					return false;
				}
				/* Our real entries past it, if they build on it. */
				at = cc->seq - m->cp.seq <= m->n_entries ?
					&m->entries[cc->seq - m->cp.seq - 1] : NULL;
				if (at != NULL && zz_digest_eq(&at->hdr.history, &cc->history))
					extra = m->n_entries - n;
				entries = calloc(n + extra, sizeof(zz_order_req));
				if (entries == NULL)
					abort();
				for (zz_seq i = 0; i < n; i++)
					entries[i] = *chain[i];
				for (zz_seq i = 0; i < extra; i++)
					entries[n + i] = m->entries[n + i];
				free(chain);
				lie.entries = entries;
				lie.n_entries = (uint32_t) (n + extra);
				lie.has_cc = 1;
				lie.cc = *cc;
				/* relabelled: the signatures no longer match (wrong-view) */
				if (fg->cfg.stale_relabel && cc->view + 1 < m->new_view)
					lie.cc.view = m->new_view - 1;
				break;
			}
		case ZZ_VC_FORGED_CC:
			/* Its own signature under 2f+1 replicas' ids. */
			if (!own_signed_cc(fg, m, true, &lie.cc))
				return false;
			lie.has_cc = 1;
			break;
		case ZZ_VC_DUP_SIGNER_CC:
			/* Its own valid signature 2f+1 times, under its own id. */
			if (!own_signed_cc(fg, m, false, &lie.cc))
				return false;
			lie.has_cc = 1;
			break;
		case ZZ_VC_STALE_CP:
			{
				/*
				 * An older stable checkpoint than its own (the lowest proof
				 * it kept, or the genesis), with the entries it kept from
				 * there to its own checkpoint, then its real ones.
				 */
				zz_cp_proof old;
				zz_order_req **chain;
				zz_seq		gap;

				memset(&old, 0, sizeof(old));
				if (fg->has_old_cp && fg->old_cp.seq < m->cp.seq)
					old = fg->old_cp;
				if (m->cp.seq == 0 || old.seq >= m->cp.seq)
					return false;
				gap = m->cp.seq - old.seq;
				if (gap > 2 * (zz_seq) fg->p.cp_interval)
					return false;	/* more than a VIEW-CHANGE may carry */
				chain = calloc(gap, sizeof(zz_order_req *));
				if (chain == NULL)
					abort();
				if (!find_chain(fg, old.seq + 1, old.seq + 1, m->cp.seq, &old.history,
								&m->cp.history, chain))
				{
					free(chain);
					return false;
				}
				entries = calloc(gap + m->n_entries, sizeof(zz_order_req));
				if (entries == NULL)
					abort();
				for (zz_seq i = 0; i < gap; i++)
					entries[i] = *chain[i];
				for (uint32_t i = 0; i < m->n_entries; i++)
					entries[gap + i] = m->entries[i];
				free(chain);
				lie.cp = old;
				lie.entries = entries;
				lie.n_entries = (uint32_t) (gap + m->n_entries);
				/* as many as a VIEW-CHANGE may carry: a suffix goes */
				if (lie.n_entries > 2 * fg->p.cp_interval)
					lie.n_entries = 2 * fg->p.cp_interval;
				if (lie.has_cc && lie.cc.seq > old.seq + lie.n_entries)
					lie.has_cc = 0;
				break;
			}
		case ZZ_VC_WRONG_VIEW_CC:
			{
				/* Its real certificate, relabelled with the latest view. */
				if (!m->has_cc || m->cc.view + 1 >= m->new_view)
					return false;
				lie.cc.view = m->new_view - 1;
				break;
			}
	}
	/*
	 * A checkpoint certificate must sit on an entry the message shows, or
	 * the whole VIEW-CHANGE is invalid: keep it only where it still does.
	 */
	if (lie.cert.count > 0)
	{
		const zz_order_req *ce = lie.cert.seq > lie.cp.seq &&
			lie.cert.seq - lie.cp.seq <= lie.n_entries ?
			&lie.entries[lie.cert.seq - lie.cp.seq - 1] : NULL;

		if (ce == NULL || !zz_digest_eq(&ce->hdr.history, &lie.cert.history))
			memset(&lie.cert, 0, sizeof(lie.cert));
	}
	zz_view_change_signing_bytes(&fg->sb, &lie);
	zz_sign(fg->crypto, fg->sb.data, fg->sb.len, &lie.sig);
	zz_buf_reset(out);
	ok = zz_encode_view_change(out, &lie);
	free(entries);
	return ok;
}

uint8_t *
zz_forge_rewrite_view_change(zz_forger *fg, const uint8_t *buf, size_t len, size_t *outlen)
{
	zz_view_change m;
	uint8_t    *res = NULL;

	if (zz_decode_view_change(buf, len, &m) != ZZ_OK)
		return NULL;
	if (lie_view_change(fg, &m, &fg->out))
		res = zz_forge_dup_bytes(fg->out.data, fg->out.len, outlen);
	zz_view_change_release(&m);
	return res;
}

void
zz_forger_rewrite_own_vc(void *ctx, zz_buf *vc)
{
	zz_forger  *fg = ctx;
	zz_view_change m;
	bool		lied;

	if (!fg->cfg.vc_consistent || fg->cfg.vc_lie == ZZ_VC_HONEST ||
		zz_decode_view_change(vc->data, vc->len, &m) != ZZ_OK)
		return;
	/* What it really holds stays in its records, to lie with later. */
	zz_forge_log_view_change(fg, &m);
	lied = lie_view_change(fg, &m, &fg->out);
	zz_view_change_release(&m);
	if (lied)
	{
		zz_buf_reset(vc);
		zz_buf_append(vc, fg->out.data, fg->out.len);
	}
}

/*
 * A NEW-VIEW the faulty replica builds as the new primary: its own
 * VIEW-CHANGE inside carries the same lie as the one it sent.
 */
uint8_t *
zz_forge_rewrite_new_view(zz_forger *fg, const uint8_t *buf, size_t len, size_t *outlen)
{
	zz_new_view m;
	zz_buf		lie;
	uint8_t    *res = NULL;

	if (zz_decode_new_view(buf, len, &m) != ZZ_OK)
		return NULL;
	zz_buf_init(&lie);
	for (uint32_t i = 0; i < m.n_vc; i++)
	{
		zz_view_change v;

		if (m.vcs[i].replica != fg->id || !lie_view_change(fg, &m.vcs[i], &lie) ||
			zz_decode_view_change(lie.data, lie.len, &v) != ZZ_OK)
			continue;
		zz_view_change_release(&m.vcs[i]);
		m.vcs[i] = v;
		zz_new_view_signing_bytes(&fg->sb, &m);
		zz_sign(fg->crypto, fg->sb.data, fg->sb.len, &m.sig);
		zz_buf_reset(&fg->out);
		if (zz_encode_new_view(&fg->out, &m))
			res = zz_forge_dup_bytes(fg->out.data, fg->out.len, outlen);
		break;
	}
	zz_new_view_release(&m);
	zz_buf_free(&lie);
	return res;
}
