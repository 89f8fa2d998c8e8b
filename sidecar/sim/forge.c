/*
 * forge.c
 *	  What a faulty replica does to the messages it sends (see forge.h):
 *	  the equivocating, silent and slow primary, lying checkpoints and
 *	  VIEW-CHANGEs, omission, delay and replay.
 *
 * The forger needs the protocol's batch digest and history chain to build
 * a well-formed forged branch, so it includes the replica's internal
 * header for zz_batch_digest and zz_chain_history: the same functions an
 * honest primary uses, so a forged branch differs from the honest one only
 * where the forger means it to.
 *
 * It keeps what a faulty replica could keep: every ORDER-REQ it sent or
 * received (by seq, a few variants each) and the commit certificates it
 * saw in COMMITs and VIEW-CHANGEs, so that a stale certificate can be
 * presented together with the entries that make it look legitimate.
 *
 * The VIEW-CHANGE and NEW-VIEW lies are in forge_vc.c; the records both
 * files keep are in forge_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge_int.h"

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
		case ZZ_VC_FORGED_CC:
			return "forged-cc";
		case ZZ_VC_DUP_SIGNER_CC:
			return "dup-signer-cc";
		case ZZ_VC_WRONG_VIEW_CC:
			return "wrong-view-cc";
		case ZZ_VC_STALE_CP:
			return "stale-checkpoint";
	}
	return "?";
}

/*
 * Create the forger of replica `replica`, signing with its own keys.
 */
zz_forger *
zz_forger_create(const zz_params *p, uint32_t replica, zz_crypto *crypto,
				 const zz_forge_config *cfg)
{
	zz_forger  *fg = calloc(1, sizeof(zz_forger));

	if (fg == NULL)
		return NULL;
	fg->p = *p;
	fg->id = replica;
	fg->crypto = crypto;
	zz_buf_init(&fg->out);
	zz_buf_init(&fg->sb);
	zz_forger_configure(fg, cfg);
	return fg;
}

/*
 * Replace the behaviour.  The equivocation's forged branch is kept: a
 * primary that already forked stays forked towards its victims.
 */
void
zz_forger_configure(zz_forger *fg, const zz_forge_config *cfg)
{
	fg->cfg = *cfg;
	fg->cfg.victims &= ~(1u << fg->id);
	fg->fork_at = cfg->fork_at ? cfg->fork_at : 1;
}

const zz_forge_config *
zz_forger_config(const zz_forger *fg)
{
	return &fg->cfg;
}

bool
zz_forger_view_change_for(zz_forger *fg, zz_view v, zz_buf *out)
{
	zz_view_change m;
	const uint8_t *raw = NULL;
	size_t		len = 0;
	zz_view		best = 0;
	bool		mine = false,
				ok;

	for (int k = 0; k < FG_VC_VIEWS; k++)
		if (fg->vcs[k].raw[fg->id] != NULL && (raw == NULL || fg->vcs[k].view > best))
		{
			raw = fg->vcs[k].raw[fg->id];
			len = fg->vcs[k].len[fg->id];
			best = fg->vcs[k].view;
		}
	if (raw == NULL || v == 0 || zz_decode_view_change(raw, len, &m) != ZZ_OK)
		return false;
	m.new_view = v;
	for (uint32_t i = 0; i < m.n_hate; i++)
		if (m.hate_replicas[i] == fg->id)
		{
			zz_i_hate_signing_bytes(&fg->sb, v - 1, fg->id);
			zz_sign(fg->crypto, fg->sb.data, fg->sb.len, &m.hate_sigs[i]);
			mine = true;
		}
	if (!mine && m.n_hate < ZZ_MAX_N)
	{
		m.hate_replicas[m.n_hate] = fg->id;
		zz_i_hate_signing_bytes(&fg->sb, v - 1, fg->id);
		zz_sign(fg->crypto, fg->sb.data, fg->sb.len, &m.hate_sigs[m.n_hate]);
		m.n_hate++;
	}
	zz_view_change_signing_bytes(&fg->sb, &m);
	zz_sign(fg->crypto, fg->sb.data, fg->sb.len, &m.sig);
	zz_buf_reset(out);
	ok = zz_encode_view_change(out, &m);
	zz_view_change_release(&m);
	return ok;
}

bool
zz_forger_local_commit(zz_forger *fg, const uint8_t *buf, size_t len, zz_view view,
					   zz_buf *out, uint32_t *client)
{
	zz_msg_type t;
	zz_commit	m;
	zz_local_commit lc;
	zz_digest	d;

	if (!fg->cfg.lc_any || zz_msg_peek_type(buf, len, &t) != ZZ_OK || t != ZZ_MSG_COMMIT ||
		zz_decode_commit(buf, len, &m) != ZZ_OK)
		return false;
	memset(&lc, 0, sizeof(lc));
	lc.view = view;
	lc.seq = m.cc.seq;
	lc.history = m.cc.history;
	lc.replica = fg->id;
	lc.client = m.client;
	lc.timestamp = m.timestamp;
	zz_local_commit_mac_digest(fg->crypto, &lc, &d);
	zz_mac_compute(fg->crypto, m.client, &d, &lc.mac);
	zz_buf_reset(out);
	*client = m.client;
	return zz_encode_local_commit(out, &lc);
}

uint64_t
zz_forger_cc_views(const zz_forger *fg)
{
	uint64_t	v = 0;

	for (uint32_t i = 0; i < fg->nccs; i++)
		if (fg->ccs[i].view < 64)
			v |= 1ULL << fg->ccs[i].view;
	return v;
}

void
zz_forger_free(zz_forger *fg)
{
	if (fg == NULL)
		return;
	for (zz_seq s = 0; s < fg->nslots; s++)
		free(fg->slots[s].bytes);
	free(fg->slots);
	for (zz_seq s = 0; s < fg->nlog; s++)
		for (int i = 0; i < fg->log[s].n; i++)
			zz_order_req_free(fg->log[s].v[i]);
	free(fg->log);
	free(fg->ccs);
	for (int i = 0; i < FG_REPLAY_RING; i++)
		free(fg->ring[i].bytes);
	for (int v = 0; v < FG_VC_VIEWS; v++)
		for (int i = 0; i < ZZ_MAX_N; i++)
			free(fg->vcs[v].raw[i]);
	if (fg->old)
		zz_order_req_free(fg->old);
	zz_buf_free(&fg->out);
	zz_buf_free(&fg->sb);
	free(fg);
}

/*
 * Grow a by-seq array of elem-sized records so that index seq exists.
 */
static void *
grow_to(void *arr, zz_seq *cap, zz_seq seq, size_t elem)
{
	zz_seq		ncap = *cap ? *cap : 64;
	uint8_t    *na;

	if (seq < *cap)
		return arr;
	while (ncap <= seq)
		ncap *= 2;
	na = realloc(arr, ncap * elem);
	if (na == NULL)
		abort();
	memset(na + *cap * elem, 0, (ncap - *cap) * elem);
	*cap = ncap;
	return na;
}

static fg_slot *
slot_at(zz_forger *fg, zz_seq seq)
{
	if (seq >= FG_MAX_SEQ)
		return NULL;
	fg->slots = grow_to(fg->slots, &fg->nslots, seq, sizeof(fg_slot));
	return &fg->slots[seq];
}

uint8_t *
zz_forge_dup_bytes(const uint8_t *p, size_t len, size_t *outlen)
{
	uint8_t    *c = malloc(len ? len : 1);

	if (c == NULL)
		abort();
	memcpy(c, p, len);
	*outlen = len;
	return c;
}

/* ------------------------------------------------------------ records */

/* Keep an ORDER-REQ (a clone) unless an identical one is kept already. */
static void
log_order_req(zz_forger *fg, const zz_order_req *m)
{
	fg_log	   *l;
	zz_order_req *c;

	if (m->hdr.seq == 0 || m->hdr.seq >= FG_MAX_SEQ || m->hdr.count == 0)
		return;
	fg->log = grow_to(fg->log, &fg->nlog, m->hdr.seq, sizeof(fg_log));
	l = &fg->log[m->hdr.seq];
	for (int i = 0; i < l->n; i++)
		if (l->v[i]->hdr.view == m->hdr.view &&
			zz_digest_eq(&l->v[i]->hdr.history, &m->hdr.history))
			return;
	if (l->n == FG_VARIANTS || (c = zz_order_req_clone(m)) == NULL)
		return;
	l->v[l->n++] = c;
}

/* Keep a certificate unless it is known; when full, the newest is replaced. */
static void
log_cc(zz_forger *fg, const zz_commit_cert *cc)
{
	uint32_t	i;

	for (i = 0; i < fg->nccs; i++)
		if (fg->ccs[i].view == cc->view && fg->ccs[i].seq == cc->seq &&
			zz_digest_eq(&fg->ccs[i].history, &cc->history))
			return;
	if (fg->ccs == NULL)
	{
		fg->ccs = calloc(FG_MAX_CCS, sizeof(zz_commit_cert));
		if (fg->ccs == NULL)
			abort();
	}
	if (fg->nccs < FG_MAX_CCS)
		fg->nccs++;
	fg->ccs[fg->nccs - 1] = *cc;
}

void
zz_forge_log_view_change(zz_forger *fg, const zz_view_change *m)
{
	if (m->cp.count > 0 && (!fg->has_old_cp || m->cp.seq < fg->old_cp.seq))
	{
		fg->old_cp = m->cp;
		fg->has_old_cp = true;
	}
	if (m->has_cc)
		log_cc(fg, &m->cc);
	for (uint32_t i = 0; i < m->n_entries; i++)
		log_order_req(fg, &m->entries[i]);
}

/* Keep the raw bytes of a VIEW-CHANGE for a later NEW-VIEW of our own. */
static void
keep_vc_bytes(zz_forger *fg, const zz_view_change *m, const uint8_t *buf, size_t len)
{
	int			slot = (int) (m->new_view % FG_VC_VIEWS);

	if (m->replica >= ZZ_MAX_N)
		return;
	if (fg->vcs[slot].view != m->new_view)
	{
		for (int i = 0; i < ZZ_MAX_N; i++)
		{
			free(fg->vcs[slot].raw[i]);
			fg->vcs[slot].raw[i] = NULL;
		}
		fg->vcs[slot].view = m->new_view;
	}
	if (fg->vcs[slot].raw[m->replica] != NULL)
		return;
	fg->vcs[slot].raw[m->replica] = zz_forge_dup_bytes(buf, len, &fg->vcs[slot].len[m->replica]);
}

static int	forge_on_order_req(zz_forger *fg, const zz_order_req *m, zz_forge_msg *out);

/*
 * What the faulty replica receives: ORDER-REQs, the certificates in
 * COMMITs and VIEW-CHANGEs, VIEW-CHANGEs themselves; and what it forges in
 * answer.
 */
int
zz_forger_observe(zz_forger *fg, const uint8_t *buf, size_t len, zz_forge_msg *out)
{
	zz_msg_type t;
	int			nout = 0;

	if (zz_msg_peek_type(buf, len, &t) != ZZ_OK)
		return 0;
	if (t == ZZ_MSG_ORDER_REQ)
	{
		zz_order_req m;

		if (zz_decode_order_req(buf, len, &m) == ZZ_OK)
		{
			log_order_req(fg, &m);
			nout = forge_on_order_req(fg, &m, out);
			zz_order_req_release(&m);
		}
	}
	else if (t == ZZ_MSG_COMMIT)
	{
		zz_commit	m;

		if (zz_decode_commit(buf, len, &m) == ZZ_OK)
			log_cc(fg, &m.cc);
	}
	else if (t == ZZ_MSG_VIEW_CHANGE)
	{
		zz_view_change m;

		if (zz_decode_view_change(buf, len, &m) == ZZ_OK)
		{
			zz_forge_log_view_change(fg, &m);
			keep_vc_bytes(fg, &m, buf, len);
			zz_view_change_release(&m);
		}
	}
	return nout;
}

/* ------------------------------------------------ the equivocating primary */

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

	if (fg->cfg.mode == ZZ_FORGE_DROP && n >= 2)
	{
		m->hdr.count = n - 1;
		return true;
	}
	if (fg->old == NULL || fg->old->hdr.count == 0)
		return false;
	reqs = calloc(n + 1, sizeof(zz_request));
	if (reqs == NULL)
		abort();
	if (fg->cfg.mode == ZZ_FORGE_DUPLICATE)
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

/* The forged branch for a victim (see forge.h); NULL: send the truth. */
static uint8_t *
rewrite_order_req(zz_forger *fg, const zz_order_req *orig, size_t *outlen)
{
	zz_order_req m = *orig;
	zz_request *owned = NULL;
	fg_slot    *slot;
	fg_slot    *prev;
	uint8_t    *res = NULL;

	if (m.hdr.view != fg->cfg.fork_view || (slot = slot_at(fg, m.hdr.seq)) == NULL)
		return NULL;
	if (slot->bytes != NULL)
		return zz_forge_dup_bytes(slot->bytes, slot->len, outlen);
	if (m.hdr.seq < fg->fork_at)
	{
		slot->valid = true;
		slot->h = m.hdr.history;
		if (fg->old == NULL)
			fg->old = zz_order_req_clone(&m);
		return NULL;
	}
	switch (fg->cfg.mode)
	{
		case ZZ_FORGE_NONE:
			return NULL;
		case ZZ_FORGE_BAD_HISTORY:
			if (m.hdr.seq != fg->fork_at)
				return NULL;
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
					return NULL;	/* cannot chain: the victims get the truth */
				if (fg->cfg.mode == ZZ_FORGE_ND)
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
					return NULL;
				}
				rechain(fg, &m, prev ? &prev->h : &zero);
				break;
			}
	}
	sign_and_encode(fg, &m);
	slot->valid = true;
	slot->h = m.hdr.history;
	slot->bytes = zz_forge_dup_bytes(fg->out.data, fg->out.len, &slot->len);
	res = zz_forge_dup_bytes(fg->out.data, fg->out.len, outlen);
	free(owned);
	return res;
}

/* ------------------------------------------------------- checkpoints */

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
	return zz_forge_dup_bytes(fg->out.data, fg->out.len, outlen);
}

/* ------------------------------------------- message-level forgeries */

/* A message for every replica but the faulty one and, if given, skip. */
static void
emit(zz_forger *fg, zz_forge_msg *out, int *n, const zz_buf *b, int64_t skip)
{
	uint32_t	to = ((1u << fg->p.n) - 1) & ~(1u << fg->id);

	if (skip >= 0)
		to &= ~(1u << skip);
	if (*n >= ZZ_FORGE_MAX_MSGS || to == 0)
		return;
	out[*n].to = to;
	out[*n].buf = zz_forge_dup_bytes(b->data, b->len, &out[*n].len);
	(*n)++;
}

/*
 * On an ORDER-REQ from the primary: a POM of two of its ORDER-REQs with
 * different n, and a backup-built ORDER-REQ for n+1 (forge.h).
 */
static int
forge_on_order_req(zz_forger *fg, const zz_order_req *m, zz_forge_msg *out)
{
	uint32_t	primary = zz_primary_of(&fg->p, m->hdr.view);
	int			n = 0;

	if (primary == fg->id || m->hdr.seq == 0)
		return 0;
	/* Only on the primary's own: not on another forger's (they would feed
	 * each other forever). */
	zz_order_hdr_signing_bytes(&fg->sb, &m->hdr);
	if (!zz_verify(fg->crypto, primary, fg->sb.data, fg->sb.len, &m->hdr.sig))
		return 0;
	if (fg->cfg.pom_any_seq && fg->pom_view != m->hdr.view + 1)
	{
		const zz_order_req *other = NULL;

		for (zz_seq q = m->hdr.seq - 1; q >= 1 && q + 64 > m->hdr.seq && other == NULL; q--)
			for (int i = 0; q < fg->nlog && i < fg->log[q].n; i++)
				if (fg->log[q].v[i]->hdr.view == m->hdr.view)
				{
					other = fg->log[q].v[i];
					break;
				}
		if (other != NULL)
		{
			zz_pom		pom;

			pom.a = other->hdr;
			pom.b = m->hdr;
			zz_buf_reset(&fg->out);
			if (zz_encode_pom(&fg->out, &pom))
				emit(fg, out, &n, &fg->out, -1);
			fg->pom_view = m->hdr.view + 1;
		}
	}
	if (fg->cfg.forge_ahead && m->hdr.count > 0 &&
		!(fg->ahead_view == m->hdr.view && fg->ahead_last >= m->hdr.seq + 1))
	{
		zz_order_req f;
		zz_request	q = m->reqs[0];
		char		op[48];
		int			oplen = snprintf(op, sizeof(op), "PUT forged-by-R%u x", fg->id);

		memset(&f, 0, sizeof(f));
		f.hdr.view = m->hdr.view;
		f.hdr.seq = m->hdr.seq + 1;
		f.hdr.nd_time = m->hdr.nd_time + 1;
		f.hdr.nd_seed = m->hdr.nd_seed ^ 0x7777;
		f.hdr.count = 1;
		q.timestamp = 1000000 + f.hdr.seq;
		q.op = (const uint8_t *) op;
		q.op_len = (uint32_t) oplen;
		for (uint32_t i = 0; i < q.n_auth; i++)
			q.auth[i].b[0] ^= 0x3c;	/* the client's MACs: it cannot make them */
		f.reqs = &q;
		rechain(fg, &f, &m->hdr.history);
		zz_order_hdr_signing_bytes(&fg->sb, &f.hdr);
		zz_sign(fg->crypto, fg->sb.data, fg->sb.len, &f.hdr.sig);
		if (fg->cfg.ahead_sig == ZZ_FORGE_SIG_BAD)
			f.hdr.sig.b[1] ^= 0x99;
		zz_buf_reset(&fg->out);
		if (zz_encode_order_req(&fg->out, &f))
			emit(fg, out, &n, &fg->out, primary);
		fg->ahead_view = m->hdr.view;
		fg->ahead_last = f.hdr.seq;
	}
	return n;
}

/*
 * A STATE-REPLY with rows of the client table changed and a checkpoint
 * digest that matches them (and no longer the 2f+1 signatures).
 */
static uint8_t *
rewrite_state_reply(zz_forger *fg, const uint8_t *buf, size_t len, size_t *outlen)
{
	static const uint8_t tag_cp_state[] = "zz-cp-state";
	zz_state_reply m;
	uint8_t    *state;
	uint32_t	tl;
	zz_digest	svc,
				th;
	zz_iov		iov[3];
	uint8_t    *res = NULL;
	const size_t rec_last_req = 4 + 4 + 8;	/* count, client, last_ts */

	if (zz_decode_state_reply(buf, len, &m) != ZZ_OK ||
		m.state_len < sizeof(zz_digest) + 4)
		return NULL;
	state = zz_forge_dup_bytes(m.state, m.state_len, outlen);
	memcpy(&svc, state, sizeof(svc));
	memcpy(&tl, state + sizeof(svc), 4);
	if (tl > m.state_len - sizeof(svc) - 4 || tl < rec_last_req + 1)
	{
		free(state);
		return NULL;
	}
	/* The first client's last request digest: a row nobody executed. */
	state[sizeof(svc) + 4 + rec_last_req] ^= 0x42;
	zz_hash(fg->crypto, state + sizeof(svc) + 4, tl, &th);
	iov[0].base = tag_cp_state;
	iov[0].len = sizeof(tag_cp_state);
	iov[1].base = &svc;
	iov[1].len = sizeof(svc);
	iov[2].base = &th;
	iov[2].len = sizeof(th);
	zz_hashv(fg->crypto, iov, 3, &m.cp.state);
	m.state = state;
	zz_buf_reset(&fg->out);
	if (zz_encode_state_reply(&fg->out, &m))
		res = zz_forge_dup_bytes(fg->out.data, fg->out.len, outlen);
	free(state);
	return res;
}

/*
 * As the new primary: a NEW-VIEW for a victim built from 2f+1 kept
 * VIEW-CHANGEs without nv_exclude's.  NULL if it has too few.
 */
static uint8_t *
split_new_view(zz_forger *fg, const uint8_t *buf, size_t len, size_t *outlen)
{
	zz_new_view m;
	zz_view_change vcs[ZZ_MAX_N];
	uint32_t	k = 0,
				need = 2 * fg->p.f + 1;
	int			slot;
	uint8_t    *res = NULL;

	if (zz_decode_new_view(buf, len, &m) != ZZ_OK)
		return NULL;
	slot = (int) (m.new_view % FG_VC_VIEWS);
	if (fg->vcs[slot].view == m.new_view)
		for (uint32_t i = 0; i < fg->p.n && k < need; i++)
			if (i != fg->cfg.nv_exclude && fg->vcs[slot].raw[i] != NULL &&
				zz_decode_view_change(fg->vcs[slot].raw[i], fg->vcs[slot].len[i],
									  &vcs[k]) == ZZ_OK)
				k++;
	if (k == need)
	{
		zz_new_view nv = m;

		nv.vcs = vcs;
		nv.n_vc = (uint8_t) k;
		zz_new_view_signing_bytes(&fg->sb, &nv);
		zz_sign(fg->crypto, fg->sb.data, fg->sb.len, &nv.sig);
		zz_buf_reset(&fg->out);
		if (zz_encode_new_view(&fg->out, &nv))
			res = zz_forge_dup_bytes(fg->out.data, fg->out.len, outlen);
	}
	for (uint32_t i = 0; i < k; i++)
		zz_view_change_release(&vcs[i]);
	zz_new_view_release(&m);
	return res;
}

/* ------------------------------------------------------------- sending */

/* Keep a copy of what was sent, for replays. */
static void
remember_sent(zz_forger *fg, bool to_replica, uint32_t to, const uint8_t *buf, size_t len)
{
	fg_sent    *s = &fg->ring[fg->ring_next];

	fg->ring_next = (fg->ring_next + 1) % FG_REPLAY_RING;
	free(s->bytes);
	s->bytes = zz_forge_dup_bytes(buf, len, &s->len);
	s->to_replica = to_replica;
	s->to = to;
}

/*
 * One message the faulty replica sends: decide its fate (see forge.h).
 */
void
zz_forger_send(zz_forger *fg, zz_rng *rng, bool to_replica, uint32_t to,
			   const uint8_t *buf, size_t len, zz_forge_out *out)
{
	const zz_forge_config *c = &fg->cfg;
	zz_msg_type t;

	memset(out, 0, sizeof(*out));
	if (zz_msg_peek_type(buf, len, &t) != ZZ_OK)
		return;

	/* Replay an old message as well, before this one. */
	if (c->replay_ppm && zz_rng_chance(rng, c->replay_ppm))
	{
		fg_sent    *s = &fg->ring[zz_rng_below(rng, FG_REPLAY_RING)];

		if (s->bytes != NULL)
		{
			out->replay = zz_forge_dup_bytes(s->bytes, s->len, &out->replay_len);
			out->replay_to_replica = s->to_replica;
			out->replay_to = s->to;
		}
	}
	if (c->omit_ppm && zz_rng_chance(rng, c->omit_ppm))
	{
		out->drop = true;
		return;
	}
	if (c->delay_ppm && zz_rng_chance(rng, c->delay_ppm))
		out->delay = zz_rng_range(rng, 1, c->delay_max ? c->delay_max : 1);

	if (t == ZZ_MSG_ORDER_REQ)
	{
		zz_order_req m;

		if (zz_decode_order_req(buf, len, &m) != ZZ_OK)
			return;
		log_order_req(fg, &m);
		if (zz_primary_of(&fg->p, m.hdr.view) == fg->id)
		{
			if (c->silent && m.hdr.seq >= c->silent_from)
			{
				out->drop = true;
				zz_order_req_release(&m);
				return;
			}
			out->delay += c->slow;
		}
		if (to_replica && c->mode != ZZ_FORGE_NONE && to < 32 && (c->victims & (1u << to)))
			out->buf = rewrite_order_req(fg, &m, &out->len);
		zz_order_req_release(&m);
	}
	else if (t == ZZ_MSG_NEW_VIEW)
	{
		if (c->silent)
		{
			out->drop = true;
			return;
		}
		out->delay += c->slow;
		if (c->nv_victims != 0)
		{
			/*
			 * Different NEW-VIEWs: the victims' is built from another set
			 * of VIEW-CHANGEs if it kept enough, and carries its own lie;
			 * the others get the honest one.
			 */
			if (to_replica && to < 32 && (c->nv_victims & (1u << to)))
			{
				uint8_t    *split = c->nv_exclude != fg->id ?
					split_new_view(fg, buf, len, &out->len) : NULL;
				const uint8_t *base = split ? split : buf;
				size_t		blen = split ? out->len : len,
							l2;
				uint8_t    *lied = c->vc_lie != ZZ_VC_HONEST && !c->vc_consistent ?
					zz_forge_rewrite_new_view(fg, base, blen, &l2) : NULL;

				if (lied != NULL)
				{
					free(split);
					out->buf = lied;
					out->len = l2;
				}
				else
					out->buf = split;
			}
		}
		else if (c->vc_lie != ZZ_VC_HONEST && !c->vc_consistent)
			out->buf = zz_forge_rewrite_new_view(fg, buf, len, &out->len);
	}
	else if (t == ZZ_MSG_STATE_REPLY && c->state_lie)
		out->buf = rewrite_state_reply(fg, buf, len, &out->len);
	else if (t == ZZ_MSG_LOCAL_COMMIT && c->lc_any)
	{
		/* it answers every COMMIT itself (zz_forger_local_commit) */
		out->drop = true;
		return;
	}
	else if (t == ZZ_MSG_VIEW_CHANGE)
	{
		zz_view_change m;

		if (zz_decode_view_change(buf, len, &m) == ZZ_OK)
		{
			zz_forge_log_view_change(fg, &m);
			keep_vc_bytes(fg, &m, buf, len);
			zz_view_change_release(&m);
		}
		if (c->vc_lie != ZZ_VC_HONEST && c->nv_victims == 0 && !c->vc_consistent)
			out->buf = zz_forge_rewrite_view_change(fg, buf, len, &out->len);
	}
	else if (t == ZZ_MSG_CHECKPOINT && c->lie_checkpoints)
		out->buf = rewrite_checkpoint(fg, buf, len, &out->len);
	if (c->replay_ppm)
	{
		if (out->buf)
			remember_sent(fg, to_replica, to, out->buf, out->len);
		else
			remember_sent(fg, to_replica, to, buf, len);
	}
}
