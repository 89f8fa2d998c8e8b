/*
 * forge.c
 *	  The equivocating primary and lying checkpoints of a faulty replica
 *	  (see forge.h).
 *
 * The forger needs the protocol's batch digest and history chain to build
 * a well-formed forged branch, so it includes the replica's internal
 * header for zz_batch_digest and zz_chain_history: the same functions an
 * honest primary uses, so a forged branch differs from the honest one only
 * where the forger means it to.
 */
#include <stdlib.h>
#include <string.h>

#include "forge.h"
#include "message.h"
#include "replica_int.h"

/* What the victims were sent at one seq of the fork view. */
typedef struct fg_slot
{
	bool		valid;			/* h is known */
	zz_digest	h;				/* the h_n the victims hold at this seq */
	uint8_t    *bytes;			/* forged ORDER-REQ, if rewritten */
	size_t		len;
} fg_slot;

struct zz_forger
{
	zz_params	p;
	uint32_t	id;
	zz_crypto  *crypto;
	zz_forge_mode mode;
	uint32_t	victims;		/* bit per replica */
	zz_view		view;
	zz_seq		fork_at;
	bool		lie_cp;
	zz_vc_lie	vc_lie;
	bool		has_old_cc;
	zz_commit_cert old_cc;		/* the first certificate it reported */
	fg_slot    *slots;
	zz_seq		nslots;
	zz_order_req *old;			/* an earlier ORDER-REQ, for duplicates */
	zz_buf		out;
	zz_buf		sb;
};

const char *
zz_forge_mode_name(zz_forge_mode m)
{
	switch (m)
	{
		case ZZ_FORGE_NONE:
			return "none";
		case ZZ_FORGE_BAD_HISTORY:
			return "bad-history";
		case ZZ_FORGE_DUPLICATE:
			return "duplicate";
		case ZZ_FORGE_DROP:
			return "drop";
		case ZZ_FORGE_ND:
			return "nondeterminism";
	}
	return "?";
}

const char *
zz_vc_lie_name(zz_vc_lie l)
{
	switch (l)
	{
		case ZZ_VC_HONEST:
			return "honest";
		case ZZ_VC_WITHHOLD:
			return "withhold";
		case ZZ_VC_STALE_CC:
			return "stale-cc";
	}
	return "?";
}

zz_forger *
zz_forger_create(const zz_params *p, uint32_t replica, zz_crypto *crypto,
				 zz_forge_mode mode, uint32_t victims, zz_view fork_view,
				 zz_seq fork_at, bool lie_checkpoints, zz_vc_lie vc_lie)
{
	zz_forger  *fg = calloc(1, sizeof(zz_forger));

	if (fg == NULL)
		return NULL;
	fg->p = *p;
	fg->id = replica;
	fg->crypto = crypto;
	fg->mode = mode;
	fg->victims = victims & ~(1u << replica);
	fg->view = fork_view;
	fg->fork_at = fork_at ? fork_at : 1;
	fg->lie_cp = lie_checkpoints;
	fg->vc_lie = vc_lie;
	zz_buf_init(&fg->out);
	zz_buf_init(&fg->sb);
	return fg;
}

void
zz_forger_free(zz_forger *fg)
{
	if (fg == NULL)
		return;
	for (zz_seq s = 0; s < fg->nslots; s++)
		free(fg->slots[s].bytes);
	free(fg->slots);
	if (fg->old)
		zz_order_req_free(fg->old);
	zz_buf_free(&fg->out);
	zz_buf_free(&fg->sb);
	free(fg);
}

static fg_slot *
slot_at(zz_forger *fg, zz_seq seq)
{
	if (seq >= (1u << 20))
		return NULL;
	if (seq >= fg->nslots)
	{
		zz_seq		ncap = fg->nslots ? fg->nslots : 64;
		fg_slot    *ns;

		while (ncap <= seq)
			ncap *= 2;
		ns = realloc(fg->slots, ncap * sizeof(fg_slot));
		if (ns == NULL)
			abort();
		memset(ns + fg->nslots, 0, (ncap - fg->nslots) * sizeof(fg_slot));
		fg->slots = ns;
		fg->nslots = ncap;
	}
	return &fg->slots[seq];
}

static uint8_t *
dup_bytes(const uint8_t *p, size_t len, size_t *outlen)
{
	uint8_t    *c = malloc(len ? len : 1);

	if (c == NULL)
		abort();
	memcpy(c, p, len);
	*outlen = len;
	return c;
}

/* Re-sign the header with the faulty replica's own key and encode. */
static void
sign_and_encode(zz_forger *fg, zz_order_req *m)
{
	zz_order_hdr_signing_bytes(&fg->sb, &m->hdr);
	zz_sign(fg->crypto, fg->sb.data, fg->sb.len, &m->hdr.sig);
	zz_buf_reset(&fg->out);
	zz_encode_order_req(&fg->out, m);
}

/*
 * Recompute d and h_n of a (possibly changed) batch on top of prev, the
 * h the victims hold at seq - 1.
 */
static void
rechain(zz_forger *fg, zz_order_req *m, const zz_digest *prev)
{
	zz_digest  *ds = malloc(sizeof(zz_digest) * (m->hdr.count ? m->hdr.count : 1));

	if (ds == NULL)
		abort();
	for (uint32_t i = 0; i < m->hdr.count; i++)
		zz_request_digest(fg->crypto, &m->reqs[i], &ds[i]);
	zz_batch_digest(fg->crypto, m->hdr.nd_time, m->hdr.nd_seed, ds, m->hdr.count,
					&m->hdr.batch_digest);
	zz_chain_history(fg->crypto, prev, m->hdr.seq, &m->hdr.batch_digest, &m->hdr.history);
	free(ds);
}

/*
 * Change the batch at the fork point: add an old request (duplicate) or
 * drop the last one.  False if the mutation needs an old request and
 * there is none yet (the fork then moves to the next seq).
 */
static bool
mutate_batch(zz_forger *fg, zz_order_req *m, zz_request **owned)
{
	zz_request *reqs;
	uint32_t	n = m->hdr.count;

	if (fg->mode == ZZ_FORGE_DROP && n >= 2)
	{
		m->hdr.count = n - 1;
		return true;
	}
	if (fg->old == NULL || fg->old->hdr.count == 0)
		return false;
	reqs = calloc(n + 1, sizeof(zz_request));
	if (reqs == NULL)
		abort();
	if (fg->mode == ZZ_FORGE_DUPLICATE)
	{
		memcpy(reqs, m->reqs, n * sizeof(zz_request));
		reqs[n] = fg->old->reqs[0];
		m->hdr.count = n + 1;
	}
	else
	{
		reqs[0] = fg->old->reqs[0];
		m->hdr.count = 1;
	}
	*owned = reqs;
	m->reqs = reqs;
	return true;
}

/* The ORDER-REQ branch: see forge.h. */
static uint8_t *
rewrite_order_req(zz_forger *fg, const uint8_t *buf, size_t len, size_t *outlen)
{
	zz_order_req m;
	zz_request *genuine;
	zz_request *owned = NULL;
	fg_slot    *slot;
	fg_slot    *prev;
	uint8_t    *res = NULL;

	if (zz_decode_order_req(buf, len, &m) != ZZ_OK)
		return NULL;
	genuine = m.reqs;
	if (m.hdr.view != fg->view || (slot = slot_at(fg, m.hdr.seq)) == NULL)
		goto done;
	if (slot->bytes != NULL)
	{
		res = dup_bytes(slot->bytes, slot->len, outlen);
		goto done;
	}
	if (m.hdr.seq < fg->fork_at)
	{
		slot->valid = true;
		slot->h = m.hdr.history;
		if (fg->old == NULL)
			fg->old = zz_order_req_clone(&m);
		goto done;
	}
	switch (fg->mode)
	{
		case ZZ_FORGE_NONE:
			goto done;
		case ZZ_FORGE_BAD_HISTORY:
			if (m.hdr.seq != fg->fork_at)
				goto done;
			for (int i = 0; i < 4; i++)
				m.hdr.history.b[i] ^= 0xa5;
			break;
		case ZZ_FORGE_ND:
		case ZZ_FORGE_DUPLICATE:
		case ZZ_FORGE_DROP:
			{
				zz_digest	zero;

				memset(&zero, 0, sizeof(zero));
				prev = m.hdr.seq > 1 ? slot_at(fg, m.hdr.seq - 1) : NULL;
				if (m.hdr.seq > 1 && (prev == NULL || !prev->valid))
					goto done;	/* cannot chain: the victims get the truth */
				if (fg->mode == ZZ_FORGE_ND)
				{
					m.hdr.nd_seed ^= 0x5555;
					m.hdr.nd_time += 7;
				}
				else if (m.hdr.seq == fg->fork_at && !mutate_batch(fg, &m, &owned))
				{
					/* Nothing to duplicate yet: fork one seq later. */
					fg->fork_at++;
					slot->valid = true;
					slot->h = m.hdr.history;
					if (fg->old == NULL)
						fg->old = zz_order_req_clone(&m);
					goto done;
				}
				rechain(fg, &m, prev ? &prev->h : &zero);
				break;
			}
	}
	sign_and_encode(fg, &m);
	slot->valid = true;
	slot->h = m.hdr.history;
	slot->bytes = dup_bytes(fg->out.data, fg->out.len, &slot->len);
	res = dup_bytes(fg->out.data, fg->out.len, outlen);
done:
	m.reqs = genuine;
	free(owned);
	zz_order_req_release(&m);
	return res;
}

/* A CHECKPOINT with a wrong state digest, properly signed by the liar. */
static uint8_t *
rewrite_checkpoint(zz_forger *fg, const uint8_t *buf, size_t len, size_t *outlen)
{
	zz_checkpoint m;

	if (zz_decode_checkpoint(buf, len, &m) != ZZ_OK || m.replica != fg->id)
		return NULL;
	m.state.b[0] ^= 0x5a;
	zz_checkpoint_signing_bytes(&fg->sb, m.view, m.seq, &m.history, &m.state, m.replica);
	zz_sign(fg->crypto, fg->sb.data, fg->sb.len, &m.sig);
	zz_buf_reset(&fg->out);
	zz_encode_checkpoint(&fg->out, &m);
	return dup_bytes(fg->out.data, fg->out.len, outlen);
}

/*
 * The faulty replica's own VIEW-CHANGE, with entries withheld or an old
 * certificate in place of the current one, signed again by the liar.
 */
static uint8_t *
rewrite_view_change(zz_forger *fg, const uint8_t *buf, size_t len, size_t *outlen)
{
	zz_view_change m;
	uint32_t	n_entries;
	uint8_t    *res = NULL;

	if (zz_decode_view_change(buf, len, &m) != ZZ_OK)
		return NULL;
	n_entries = m.n_entries;
	if (m.replica != fg->id)
		goto done;
	if (m.has_cc && !fg->has_old_cc)
	{
		fg->has_old_cc = true;
		fg->old_cc = m.cc;
	}
	if (fg->vc_lie == ZZ_VC_WITHHOLD)
	{
		m.n_entries = 0;
		m.has_cc = 0;
	}
	else if (fg->vc_lie == ZZ_VC_STALE_CC && fg->has_old_cc && m.has_cc &&
			 (m.cc.seq != fg->old_cc.seq || m.cc.view != fg->old_cc.view))
		m.cc = fg->old_cc;
	else
		goto done;
	zz_view_change_signing_bytes(&fg->sb, &m);
	zz_sign(fg->crypto, fg->sb.data, fg->sb.len, &m.sig);
	zz_buf_reset(&fg->out);
	zz_encode_view_change(&fg->out, &m);
	res = dup_bytes(fg->out.data, fg->out.len, outlen);
done:
	m.n_entries = n_entries;
	zz_view_change_release(&m);
	return res;
}

uint8_t *
zz_forger_rewrite(zz_forger *fg, uint32_t to, const uint8_t *buf, size_t len,
				  size_t *outlen)
{
	zz_msg_type t;

	if (zz_msg_peek_type(buf, len, &t) != ZZ_OK)
		return NULL;
	if (t == ZZ_MSG_CHECKPOINT && fg->lie_cp)
		return rewrite_checkpoint(fg, buf, len, outlen);
	if (t == ZZ_MSG_VIEW_CHANGE && fg->vc_lie != ZZ_VC_HONEST)
		return rewrite_view_change(fg, buf, len, outlen);
	if (t == ZZ_MSG_ORDER_REQ && fg->mode != ZZ_FORGE_NONE && to < 32 &&
		(fg->victims & (1u << to)))
		return rewrite_order_req(fg, buf, len, outlen);
	return NULL;
}
