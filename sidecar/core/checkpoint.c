/*
 * checkpoint.c
 *	  CHECKPOINT, stable checkpoints and state transfer (docs/protocol.md
 *	  section 7).
 *
 * Every cp_interval sequence numbers a replica signs CHECKPOINT(n, h_n, a)
 * where a digests the service state and the client table after executing
 * n.  2f+1 matching CHECKPOINTs certify n: the replica keeps that proof and
 * reports it in a VIEW-CHANGE, where the new history starts from the
 * highest proof in the set.
 *
 * Truncation waits one interval.  A correct replica sends its CHECKPOINT
 * for n + cp_interval only once it holds the proof for n, so 2f+1 votes
 * for n + cp_interval show that at least f+1 correct replicas hold the
 * proof for n.  Every quorum of 2f+1 VIEW-CHANGEs then contains one, the
 * new history extends n, and n is stable: the log at or below it is
 * truncated and the service may drop its undo there.  (Truncating on the
 * first proof would be unsafe: the proof might be known to one replica
 * only, and a view change could then choose a history that leaves the
 * checkpoint, which its holder can no longer roll back to.)
 *
 * A replica that finds
 * a stable checkpoint beyond the history it holds, or whose own digest
 * disagrees with one, fetches the state of that checkpoint from a peer
 * and checks it against the certified digest before installing it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica_int.h"

static const uint8_t tag_cp_state[] = "zz-cp-state";

static void record_vote(zz_replica *r, const zz_checkpoint *cp);

/*
 * a = H(service digest || H(client table)).
 */
static void
checkpoint_digest(zz_replica *r, const zz_digest *svc, const uint8_t *table,
				  size_t table_len, zz_digest *out)
{
	zz_digest	th;
	zz_iov		iov[3];

	zz_hash(r->crypto, table, table_len, &th);
	iov[0].base = tag_cp_state;
	iov[0].len = sizeof(tag_cp_state);
	iov[1].base = svc;
	iov[1].len = sizeof(*svc);
	iov[2].base = &th;
	iov[2].len = sizeof(th);
	zz_hashv(r->crypto, iov, 3, out);
}

static zz_cp_state *
cp_state_for(zz_replica *r, zz_seq seq)
{
	int			i;

	for (i = 0; i < ZZ_CP_SLOTS; i++)
		if (r->cp_states[i].table != NULL && r->cp_states[i].seq == seq)
			return &r->cp_states[i];
	return NULL;
}

/*
 * A slot for our own checkpoint state at seq: a free one, else the oldest
 * that is not the stable checkpoint.
 */
static zz_cp_state *
cp_state_slot(zz_replica *r, zz_seq seq)
{
	zz_cp_state *best = NULL;
	int			i;

	for (i = 0; i < ZZ_CP_SLOTS; i++)
	{
		zz_cp_state *s = &r->cp_states[i];

		if (s->table == NULL || s->seq == seq)
			return s;
		if (s->seq != r->stable_seq && (best == NULL || s->seq < best->seq))
			best = s;
	}
	return best;
}

static zz_cp_votes *
votes_for(zz_replica *r, zz_seq seq, bool create)
{
	zz_cp_votes *victim = NULL;
	int			i;

	for (i = 0; i < ZZ_CP_SLOTS; i++)
		if (r->votes[i].seq == seq)
			return &r->votes[i];
	if (!create)
		return NULL;
	for (i = 0; i < ZZ_CP_SLOTS; i++)
	{
		zz_cp_votes *v = &r->votes[i];

		if (v->seq <= r->stable_seq)
		{
			victim = v;
			break;
		}
		/* All busy: evict the highest, which is the least useful. */
		if (victim == NULL || v->seq > victim->seq)
			victim = v;
	}
	/*
	 * A higher checkpoint than all we track displaces the highest only if
	 * it lies beyond our log: then it can only be reached by state
	 * transfer, for which the highest certificate is the most useful (a
	 * replica far behind sees every slot fill with checkpoints it can
	 * neither execute nor certify, and would otherwise never catch up).
	 */
	if (victim->seq > r->stable_seq && victim->seq < seq && seq <= r->max_seq)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->seq = seq;
	return victim;
}

/*
 * Forward a certificate's votes, each still signed by its voter, so a
 * replica that missed them (or voted in another view) can certify too.
 */
void
zz_send_proof_votes(zz_replica *r, const zz_cp_proof *p, uint32_t to)
{
	uint32_t	i;

	for (i = 0; i < p->count; i++)
	{
		zz_checkpoint cp;

		memset(&cp, 0, sizeof(cp));
		cp.view = p->view;
		cp.seq = p->seq;
		cp.history = p->history;
		cp.state = p->state;
		cp.replica = p->replicas[i];
		cp.sig = p->sigs[i];
		zz_buf_reset(&r->out);
		zz_encode_checkpoint(&r->out, &cp);
		zz_send_replica(r, to, &r->out);
	}
}

/*
 * Send this replica's own signed CHECKPOINT for its highest certified
 * checkpoint to a replica that lags (it asked for history we truncated, or
 * voted for an old checkpoint): with 2f+1 of these it can transfer state.
 */
void
zz_send_stable_checkpoint(zz_replica *r, uint32_t to)
{
	zz_cp_state *s = cp_state_for(r, r->cert_proof.seq);

	if (r->cert_proof.count > 0)
	{
		zz_send_proof_votes(r, &r->cert_proof, to);
		return;
	}
	if (s == NULL || s->own.seq != r->cert_proof.seq || s->own.seq == 0)
		return;
	zz_buf_reset(&r->out);
	zz_encode_checkpoint(&r->out, &s->own);
	zz_send_replica(r, to, &r->out);
}

/*
 * The CHECKPOINT signatures in a proof: 2f+1 distinct replicas over one
 * (n, h_n, a).
 */
bool
zz_cp_proof_valid(zz_replica *r, const zz_cp_proof *p)
{
	bool		seen[ZZ_MAX_N] = {false};
	uint32_t	i;

	if (p->count < zz_quorum(&r->p) || p->count > r->p.n)
		return false;
	for (i = 0; i < p->count; i++)
	{
		if (p->replicas[i] >= r->p.n || seen[p->replicas[i]])
			return false;
		seen[p->replicas[i]] = true;
		zz_checkpoint_signing_bytes(&r->sigbuf, p->view, p->seq, &p->history, &p->state,
									p->replicas[i]);
		if (!zz_verify(r->crypto, p->replicas[i], r->sigbuf.data, r->sigbuf.len,
					   &p->sigs[i]))
			return false;
	}
	return true;
}

/*
 * Our service refused a snapshot that passed every check we can make (the
 * database found its rows do not give the certified digest).  One faulty
 * signer can cause that once per round of signers; more refusals in a row
 * than f mean our own database cannot take any of them (its schema was
 * changed behind the extension's back, say): ask again only after a delay
 * that doubles with each further refusal (up to 256 x checkpoint_resend),
 * so that this replica does not make the others read and send their whole
 * state several times a second for ever.
 */
static void
install_refused(zz_replica *r)
{
	uint32_t	shift;

	r->install_failures++;
	if (r->install_failures <= r->p.f)
		return;
	shift = r->install_failures - r->p.f;
	if (shift > 8)
		shift = 8;
	r->transfer_deadline = r->now + (r->p.checkpoint_resend << shift);
	zz_replica_trace(r, "state transfer to %llu: %u snapshots refused in a row, next request in %llu us",
					 (unsigned long long) r->transfer_seq, r->install_failures,
					 (unsigned long long) (r->p.checkpoint_resend << shift));
}

static bool installed(zz_replica *r, const zz_cp_proof *cp, const zz_digest *svc,
					  const uint8_t *table, uint32_t tl, uint32_t from);

static void
start_state_transfer(zz_replica *r, const zz_cp_proof *proof)
{
	zz_state_request m;
	uint32_t	i;

	if (r->mode == ZZ_MODE_STATE_TRANSFER && r->transfer_seq > proof->seq)
		return;
	if (r->svc.install == NULL)
		return;
	if (r->install_pending)
		return;					/* the service is installing one: its end decides */
	if (r->mode == ZZ_MODE_STATE_TRANSFER && r->transfer_seq > 0 &&
		r->now < r->transfer_deadline)
	{
		/*
		 * A request is out: a peer answers with its highest certified
		 * checkpoint, so aim higher without asking anyone else yet (every
		 * new certificate would otherwise ask the next peer, and each one
		 * would read and send its whole state).
		 */
		r->transfer_seq = proof->seq;
		r->transfer_proof = *proof;
		return;
	}
	if (r->mode != ZZ_MODE_STATE_TRANSFER)
	{
		r->stats.state_transfers++;
		r->install_failures = 0;
		/* the oldest checkpoint this transfer asks for: see zz_on_state_reply */
		r->transfer_asked = proof->seq;
	}
	r->mode = ZZ_MODE_STATE_TRANSFER;
	r->transfer_seq = proof->seq;
	r->transfer_proof = *proof;
	zz_replica_trace(r, "state transfer to checkpoint %llu", (unsigned long long) proof->seq);

	/* Ask one signer now; the timer rotates through the others. */
	memset(&m, 0, sizeof(m));
	m.replica = r->id;
	m.seq = proof->seq;
	zz_state_request_signing_bytes(&r->sigbuf, &m);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &m.sig);
	zz_buf_reset(&r->out);
	zz_encode_state_request(&r->out, &m);
	for (i = 0; i < proof->count; i++)
	{
		uint32_t	peer = proof->replicas[(r->transfer_peer + i) % proof->count];

		if (peer != r->id)
		{
			zz_send_replica(r, peer, &r->out);
			r->transfer_peer = (r->transfer_peer + i + 1) % proof->count;
			break;
		}
	}
	r->transfer_deadline = r->now + r->p.checkpoint_resend;
}

/*
 * Fetch the state of a certified checkpoint that a new history starts from.
 */
void
zz_checkpoint_transfer(zz_replica *r, const zz_cp_proof *proof)
{
	start_state_transfer(r, proof);
}

/*
 * Send our own CHECKPOINT vote and keep resending it until it is certified.
 * A vote is for the view we are in: if the view changed since we executed
 * the checkpoint (and the history survived), sign it again for this view.
 * We sign only in normal mode: a vote of view v says its voter held the
 * history in normal mode of v (docs/protocol.md section 7), and in a view
 * change r->view may already name a view whose new history is not yet
 * adopted.  zz_checkpoint_revote signs what waits once we are back.
 */
static void
send_own_vote(zz_replica *r, const zz_checkpoint *cp_in)
{
	zz_checkpoint cp_local = *cp_in;
	const zz_checkpoint *cp = &cp_local;

	if (cp_local.view != r->view)
	{
		zz_cp_state *s = cp_state_for(r, cp_local.seq);

		if (r->mode != ZZ_MODE_NORMAL)
			return;				/* s->own keeps its old view: revoted later */

		cp_local.view = r->view;
		zz_checkpoint_signing_bytes(&r->sigbuf, cp_local.view, cp_local.seq,
									&cp_local.history, &cp_local.state, r->id);
		zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &cp_local.sig);
		if (s != NULL)
			s->own = cp_local;
		record_vote(r, &cp_local);
	}
	if (r->my_cp.seq != cp->seq)
		r->my_cp_at = r->now;
	r->my_cp = *cp;
	zz_buf_reset(&r->out);
	zz_encode_checkpoint(&r->out, cp);
	zz_broadcast(r, &r->out);
	r->cp_resend_deadline = r->now + r->p.checkpoint_resend;
}

/*
 * Truncate at seq, whose proof at least f+1 correct replicas hold.
 */
static void
make_stable(zz_replica *r, zz_seq seq)
{
	int			i;
	zz_cp_state *s = cp_state_for(r, seq);

	/*
	 * Only with a proof in hand: it is what our VIEW-CHANGE reports as the
	 * point the new history starts from.
	 */
	if (seq <= r->stable_seq || seq > r->last_executed || s == NULL)
	{
		if (seq > r->stable_seq)
			zz_replica_trace(r, "checkpoint %llu not stable yet: %s", (unsigned long long) seq,
							 seq > r->last_executed ? "not executed" : "no state kept for it");
		return;
	}
	if (s->proof.count == 0)
	{
		/*
		 * We never saw this one's certificate.  Show our vote: replicas
		 * that hold it answer with its votes, and certify() comes back.
		 */
		if (s->own.seq == seq)
		{
			zz_buf_reset(&r->out);
			zz_encode_checkpoint(&r->out, &s->own);
			zz_broadcast(r, &r->out);
		}
		return;
	}
	/* (the service's mark_stable, called from here, may ask for the proof) */
	r->stable_proof = s->proof;
	zz_truncate_below(r, seq);
	zz_retain_cert(r, &s->proof);	/* answers FILL-HOLEs below it (catchup.c) */
	r->stable_history = s->own.history;
	r->stats.checkpoints_stable++;
	if (r->has_cc && r->max_cc.seq <= seq)
		r->has_cc = false;
	for (i = 0; i < ZZ_CP_SLOTS; i++)
	{
		if (r->cp_states[i].table != NULL && r->cp_states[i].seq < seq)
		{
			free(r->cp_states[i].table);
			memset(&r->cp_states[i], 0, sizeof(r->cp_states[i]));
		}
	}
	zz_replica_trace(r, "checkpoint %llu stable", (unsigned long long) seq);
	if (r->mode == ZZ_MODE_STATE_TRANSFER && !r->repairing && r->transfer_seq <= seq)
	{
		/*
		 * We executed our way to the checkpoint we were fetching (a batch
		 * the service was still running finished): nothing to fetch, and
		 * staying in transfer mode would ignore every other message.
		 */
		zz_replica_trace(r, "state transfer to %llu no longer needed",
						 (unsigned long long) r->transfer_seq);
		r->mode = ZZ_MODE_NORMAL;
		r->transfer_seq = 0;
		r->transfer_deadline = UINT64_MAX;
		zz_vc_after_install(r);
		zz_checkpoint_revote(r);
	}
	if (r->mode == ZZ_MODE_VIEW_CHANGE)
		zz_vc_progress(r);		/* the entries it waited to relabel may be gone */
}

/*
 * 2f+1 votes matching our own certify seq: keep the proof, release our
 * vote for the next checkpoint, and truncate at the one before.
 */
static void
certify(zz_replica *r, const zz_cp_proof *proof)
{
	zz_cp_state *s = cp_state_for(r, proof->seq);

	if (s != NULL && s->proof.count == 0)
	{
		s->proof = *proof;
		/* Late certificate of a checkpoint we may already truncate at. */
		if (proof->seq + r->p.cp_interval <= r->cert_proof.seq)
			make_stable(r, proof->seq);
	}
	if (proof->seq > r->cert_proof.seq)
	{
		r->cert_proof = *proof;
		zz_replica_trace(r, "checkpoint %llu certified", (unsigned long long) proof->seq);
	}
	if (r->has_queued_cp && r->queued_cp.seq <= proof->seq + r->p.cp_interval)
	{
		r->has_queued_cp = false;
		send_own_vote(r, &r->queued_cp);
	}
	if (proof->seq > r->p.cp_interval)
		make_stable(r, proof->seq - r->p.cp_interval);
}

/*
 * Replica j's vote with the same view and content as c, if it cast one.
 */
static const zz_checkpoint *
find_vote(const zz_cp_votes *v, uint32_t j, const zz_checkpoint *c)
{
	uint32_t	k;

	for (k = 0; k < v->nvotes[j]; k++)
	{
		const zz_checkpoint *o = &v->vote[j][k];

		if (o->view == c->view && zz_digest_eq(&o->history, &c->history) &&
			zz_digest_eq(&o->state, &c->state))
			return o;
	}
	return NULL;
}

/*
 * Describe the votes at v, one "R<j> state <8 hex> history <8 hex>" per
 * replica (its latest vote), for the operator.
 */
static void
describe_votes(const zz_replica *r, const zz_cp_votes *v, char *buf, size_t len)
{
	size_t		off = 0;

	buf[0] = '\0';
	for (uint32_t j = 0; j < r->p.n && off < len; j++)
	{
		const zz_checkpoint *c;

		if (v->nvotes[j] == 0)
			continue;
		c = &v->vote[j][v->nvotes[j] - 1];
		off += (size_t) snprintf(buf + off, len - off,
								 "%sR%u state %02x%02x%02x%02x history %02x%02x%02x%02x",
								 off ? ", " : "", j, c->state.b[0], c->state.b[1],
								 c->state.b[2], c->state.b[3], c->history.b[0],
								 c->history.b[1], c->history.b[2], c->history.b[3]);
	}
}

/*
 * Replica j's latest vote at v if it is from our view, else NULL.
 */
static const zz_checkpoint *
vote_in_view(const zz_replica *r, const zz_cp_votes *v, uint32_t j)
{
	const zz_checkpoint *c;

	if (v->nvotes[j] == 0)
		return NULL;
	c = &v->vote[j][v->nvotes[j] - 1];
	return c->view == r->view ? c : NULL;
}

/*
 * No 2f+1 matching votes at v->seq: can they still come?  Counted among
 * the votes of our view (each replica's latest; older views' votes may
 * hold a history a view change rolled back).  When every replica has
 * voted, all with the same history, and still no 2f+1 votes match, the
 * correct replicas (2f+1 of them, all among the voters) executed the same
 * batches to different states: nondeterministic execution, which f faulty
 * voters cannot fake (a faulty primary that ordered different batches
 * shows in the histories; a faulty voter's own state alone breaks no
 * group of 2f+1 correct ones).  Say so once, with the digests and the
 * batches it narrows down to, and stop changing views for timeouts
 * (zz_views_futile): a new primary could not help.
 */
static void
check_diverged(zz_replica *r, const zz_cp_votes *v)
{
	uint32_t	voted = 0,
				best = 0,
				best_history = 0;
	char		votes[ZZ_MAX_N * 48];

	if (v->seq <= r->diverged_seq || r->mode != ZZ_MODE_NORMAL)
		return;
	for (uint32_t i = 0; i < r->p.n; i++)
	{
		uint32_t	same = 0,
					same_history = 0;
		const zz_checkpoint *c = vote_in_view(r, v, i);

		if (c == NULL)
			continue;
		voted++;
		for (uint32_t j = 0; j < r->p.n; j++)
		{
			const zz_checkpoint *o = vote_in_view(r, v, j);

			if (o == NULL || !zz_digest_eq(&o->history, &c->history))
				continue;
			same_history++;
			if (zz_digest_eq(&o->state, &c->state))
				same++;
		}
		if (same > best)
			best = same;
		if (same_history > best_history)
			best_history = same_history;
	}
	if (voted < r->p.n || best_history < r->p.n || best >= zz_quorum(&r->p))
		return;
	r->diverged_seq = v->seq;
	describe_votes(r, v, votes, sizeof(votes));
	zz_replica_notice(r, ZZ_NOTICE_DIVERGED,
					  "checkpoint %llu can never become stable: the replicas executed the same "
					  "batches to different states (%s); the first differing batch is after "
					  "stable checkpoint %llu, at or before %llu; not changing views (a new "
					  "primary cannot help)",
					  (unsigned long long) v->seq, votes, (unsigned long long) r->stable_seq,
					  (unsigned long long) v->seq);
}

/*
 * Would changing views be futile?  While a checkpoint above the stable one
 * can never become stable (check_diverged), every view would stop there
 * again: say so instead of hating the primary.
 */
bool
zz_views_futile(zz_replica *r, const char *why)
{
	if (r->diverged_seq <= r->stable_seq)
		return false;
	zz_replica_trace(r, "not hating the primary (%s): checkpoint %llu can never become stable",
					 why, (unsigned long long) r->diverged_seq);
	return true;
}

/*
 * The votes at v that match c (same view and content), as a proof.
 */
static void
collect_proof(const zz_replica *r, const zz_cp_votes *v, const zz_checkpoint *c,
			  zz_cp_proof *proof)
{
	memset(proof, 0, sizeof(*proof));
	proof->view = c->view;
	proof->seq = v->seq;
	proof->history = c->history;
	proof->state = c->state;
	for (uint32_t j = 0; j < r->p.n; j++)
	{
		const zz_checkpoint *o = find_vote(v, j, c);

		if (o != NULL)
		{
			proof->replicas[proof->count] = j;
			proof->sigs[proof->count] = o->sig;
			proof->count++;
		}
	}
}

/*
 * Look for 2f+1 matching votes at seq and act on them.
 *
 * The votes at one seq may hold more than one certificate, each of its
 * own view: a view change may drop the history an older view certified
 * (a certificate alone is not stable, and its history may be speculative),
 * and the replicas then execute seq again and certify it anew.  The
 * certificate that matches our own vote is the one to certify with,
 * whatever order the votes came in; failing that, the one of the highest
 * view is the one a state transfer is weighed on (an older one may be
 * stale).  Acting on the first certificate found instead let a stale one
 * hide the current one for good: the replica never certified, never made
 * the checkpoint before stable, and its log window closed.
 */
/*
 * A replica, other than us, that voted for a checkpoint beyond our log
 * (after *after, rotating), if f+1 replicas did: at least one correct
 * replica executed that far.  UINT32_MAX if none.  Without a certificate
 * nothing else tells an idle cluster's lagging replica that its last
 * ORDER-REQs were lost: no more come, and a certified vote is not resent.
 */
static uint32_t
voter_beyond_log(const zz_replica *r, const uint32_t *after)
{
	for (int i = 0; i < ZZ_CP_SLOTS; i++)
	{
		const zz_cp_votes *v = &r->votes[i];
		uint32_t	count = 0,
					pick = UINT32_MAX;

		if (v->seq <= r->max_seq)
			continue;
		for (uint32_t k = 0; k < r->p.n; k++)
		{
			uint32_t	j = (after ? *after + 1 + k : k) % r->p.n;

			if (j == r->id || v->nvotes[j] == 0)
				continue;
			count++;
			if (pick == UINT32_MAX)
				pick = j;
		}
		if (count >= r->p.f + 1)
			return pick;
	}
	return UINT32_MAX;
}

static void
check_stable(zz_replica *r, zz_seq seq)
{
	zz_cp_votes *v = votes_for(r, seq, false);
	zz_cp_proof proof,
				cand;
	zz_cp_state *own;
	bool		found = false;

	if (v == NULL || seq <= r->stable_seq)
		return;
	own = cp_state_for(r, seq);
	if (own != NULL && own->own.seq != seq)
		own = NULL;
	for (uint32_t i = 0; i < r->p.n; i++)
	{
		for (uint32_t k = 0; k < v->nvotes[i]; k++)
		{
			const zz_checkpoint *c = &v->vote[i][k];

			collect_proof(r, v, c, &cand);
			if (cand.count < zz_quorum(&r->p))
				continue;

			/*
			 * Certify when our own checkpoint has the certified content,
			 * whatever view we voted in: the certificate says 2f+1
			 * replicas held this history and state in its view, and we
			 * hold the same.
			 */
			if (own != NULL && zz_digest_eq(&own->own.history, &cand.history) &&
				zz_digest_eq(&own->own.state, &cand.state))
			{
				certify(r, &cand);
				return;
			}
			if (!found || cand.view > proof.view)
				proof = cand;
			found = true;
		}
	}
	if (!found)
	{
		if (seq > r->max_seq && r->behind_since == 0 && voter_beyond_log(r, NULL) != UINT32_MAX)
			r->behind_since = r->now ? r->now : 1;
		check_diverged(r, v);
		return;
	}

	if (own != NULL)
	{
		if (proof.view >= own->own.view && proof.view >= r->view &&
			(r->mode != ZZ_MODE_VIEW_CHANGE || zz_vc_transfer_ok(r, seq)) &&
			(r->mode == ZZ_MODE_VIEW_CHANGE ||
			 !zz_install_breaks_promise(r, seq, &proof.history)))
		{
			/* (A certificate from an older view may be stale: ignore it.) */
			zz_replica_trace(r, "diverged from certified checkpoint %llu",
							 (unsigned long long) seq);
			start_state_transfer(r, &proof);
		}
	}
	else if (r->mode == ZZ_MODE_VIEW_CHANGE && !zz_vc_transfer_ok(r, seq))
		return;					/* the new history decides first; votes are kept */
	else if (seq > r->max_seq && proof.view >= r->view)
	{
		/*
		 * Fetch it only if it is from our view or a later one: a
		 * certificate from an older view may hold entries that a view
		 * change since has dropped (they cannot have completed), and
		 * installing it would bring them back.  In normal mode, one of
		 * our view is first reached by replaying the batches up to it,
		 * if the others still retain them (catchup.c): fetching the
		 * state of a large service can take longer than the others take
		 * to truncate past it again.
		 */
		if (!zz_catchup_instead(r, &proof))
			start_state_transfer(r, &proof);
	}
	/* else: we hold the ORDER-REQs and will vote when we execute seq. */
}

/*
 * A certified checkpoint learned from elsewhere (a VIEW-CHANGE's proof):
 * its signatures are CHECKPOINT votes, already verified by the caller.
 * Counting them lets us certify it too when our own vote matches.  Our
 * own signature among them counts too (see zz_on_checkpoint): we may have
 * cast it before a restart that lost it.
 */
void
zz_checkpoint_learn_proof(zz_replica *r, const zz_cp_proof *p)
{
	uint32_t	i;

	if (p->count == 0 || p->seq <= r->cert_proof.seq)
		return;
	for (i = 0; i < p->count; i++)
	{
		zz_checkpoint cp;

		memset(&cp, 0, sizeof(cp));
		cp.view = p->view;
		cp.seq = p->seq;
		cp.history = p->history;
		cp.state = p->state;
		cp.replica = p->replicas[i];
		cp.sig = p->sigs[i];
		record_vote(r, &cp);
	}
}

/*
 * The log was rolled back to seq: our checkpoints above it describe states
 * that no longer exist.  Forget them and our votes for them.
 */
void
zz_checkpoint_rollback(zz_replica *r, zz_seq seq)
{
	int			i;

	for (i = 0; i < ZZ_CP_SLOTS; i++)
	{
		zz_cp_state *s = &r->cp_states[i];

		if (s->table != NULL && s->seq > seq)
		{
			free(s->table);
			memset(s, 0, sizeof(*s));
		}
		if (r->votes[i].seq > seq)
			r->votes[i].nvotes[r->id] = 0;
	}
	if (r->has_queued_cp && r->queued_cp.seq > seq)
		r->has_queued_cp = false;
	if (r->my_cp.seq > seq)
		memset(&r->my_cp, 0, sizeof(r->my_cp));
}

/*
 * We entered a new view: our uncertified checkpoints still describe our
 * history, but votes are per view, so vote for them again in this one.
 * Without this, replicas that executed a checkpoint before a view change
 * and replicas that executed it after never form 2f+1 matching votes.
 * Also called on returning to normal mode after a state transfer, for
 * checkpoints executed while out of it (not yet signed).
 */
void
zz_checkpoint_revote(zz_replica *r)
{
	int			i;

	if (r->mode != ZZ_MODE_NORMAL)
		return;

	for (i = 0; i < ZZ_CP_SLOTS; i++)
	{
		zz_cp_state *s = &r->cp_states[i];

		if (s->table == NULL || s->seq <= r->cert_proof.seq || s->own.view == r->view ||
			s->own.seq != s->seq)
			continue;
		if (s->seq <= r->cert_proof.seq + r->p.cp_interval)
			send_own_vote(r, &s->own);
		else if (r->has_queued_cp && r->queued_cp.seq == s->seq)
			r->queued_cp.view = ZZ_CP_UNSIGNED;	/* re-signed when sent */
	}
}

/*
 * Look at every checkpoint we hold votes for again (after a view change,
 * which holds back state transfers).
 */
void
zz_checkpoint_recheck(zz_replica *r)
{
	int			i;

	for (i = 0; i < ZZ_CP_SLOTS; i++)
		if (r->votes[i].seq > r->stable_seq)
			check_stable(r, r->votes[i].seq);
}

/*
 * Record a valid CHECKPOINT vote (one per replica per seq).
 */
static void
record_vote(zz_replica *r, const zz_checkpoint *cp)
{
	zz_cp_votes *v = votes_for(r, cp->seq, true);
	uint32_t	n;

	if (v == NULL)
		return;
	if (find_vote(v, cp->replica, cp) != NULL)
		return;
	/*
	 * Keep a replica's votes from several views (it votes again after a
	 * view change); when full, the one from the oldest view goes.
	 */
	n = v->nvotes[cp->replica];
	if (n < ZZ_VOTE_VIEWS)
		v->nvotes[cp->replica]++;
	else
	{
		uint32_t	k,
					oldest = 0;

		for (k = 1; k < n; k++)
			if (v->vote[cp->replica][k].view < v->vote[cp->replica][oldest].view)
				oldest = k;
		if (v->vote[cp->replica][oldest].view > cp->view)
			return;
		n = oldest;
	}
	v->vote[cp->replica][n] = *cp;
	check_stable(r, cp->seq);
}

/*
 * After executing a checkpoint sequence number: sign and send our
 * CHECKPOINT, and keep the client table as of this point for state
 * transfer.
 */
void
zz_checkpoint_after_execute(zz_replica *r, zz_seq seq, const zz_digest *svc_digest)
{
	zz_cp_state *s = cp_state_slot(r, seq);
	zz_buf		table;
	zz_checkpoint cp;
	zz_digest	zero = {{0}};

	if (s == NULL)
		return;
	zz_buf_init(&table);
	zz_client_table_serialize(r, &table);
	free(s->table);
	memset(s, 0, sizeof(*s));
	s->seq = seq;
	s->svc_digest = svc_digest ? *svc_digest : zero;
	s->table = table.data;
	s->table_len = table.len;

	memset(&cp, 0, sizeof(cp));
	cp.view = r->view;
	cp.seq = seq;
	cp.history = r->exec_history;
	checkpoint_digest(r, &s->svc_digest, s->table, s->table_len, &cp.state);
	cp.replica = r->id;

	/*
	 * Outside normal mode (a batch the service finished during a view
	 * change or a state transfer) we sign nothing: zz_checkpoint_revote
	 * signs it in the view we are next in normal mode of, if it survives.
	 */
	if (r->mode != ZZ_MODE_NORMAL)
	{
		cp.view = ZZ_CP_UNSIGNED;
		s->own = cp;
		if (seq > r->cert_proof.seq + r->p.cp_interval)
		{
			r->has_queued_cp = true;
			r->queued_cp = cp;
		}
		zz_replica_trace(r, "checkpoint %llu executed outside normal mode: vote later",
						 (unsigned long long) seq);
		return;
	}
	zz_checkpoint_signing_bytes(&r->sigbuf, cp.view, cp.seq, &cp.history, &cp.state,
								cp.replica);
	zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &cp.sig);
	s->own = cp;
	if (seq <= r->cert_proof.seq + r->p.cp_interval)
		send_own_vote(r, &cp);
	else
	{
		/* Vote once the previous checkpoint is certified (see above). */
		r->has_queued_cp = true;
		r->queued_cp = cp;
	}
	record_vote(r, &cp);

	/*
	 * Our state at seq is new; the votes may not be.  A replica that
	 * installed the checkpoint it had already made stable itself executes
	 * the batches above it again: the votes for the next checkpoint, its
	 * own the same as before, are all in hand (record_vote ignores a vote
	 * it holds), and the others do not vote again for a checkpoint they
	 * certified.  Count them now, or that checkpoint never becomes stable.
	 */
	check_stable(r, seq);
}

void
zz_on_checkpoint(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_checkpoint cp;

	if (zz_decode_checkpoint(buf, len, &cp) != ZZ_OK || cp.replica >= r->p.n ||
		cp.seq == 0 || cp.seq % r->p.cp_interval != 0)
		goto reject;
	zz_checkpoint_signing_bytes(&r->sigbuf, cp.view, cp.seq, &cp.history, &cp.state,
								cp.replica);
	if (!zz_verify(r->crypto, cp.replica, r->sigbuf.data, r->sigbuf.len, &cp.sig))
		goto reject;
	if (cp.replica == r->id)
	{
		/*
		 * Our own vote, relayed in a peer's certificate: one we signed
		 * before a restart that lost it, or in a view we have left.  Only
		 * we can have signed it, and the certificate it completes is one
		 * any replica accepts, so count it like the others (certify()
		 * still requires our own state to match).  Without it a replica
		 * that resumed from its kept checkpoint never certifies a
		 * checkpoint whose certificate holds its pre-crash vote, and
		 * stays a window behind.  (One we hold already, or at or below
		 * our stable checkpoint, tells us nothing.)
		 */
		zz_cp_votes *v = votes_for(r, cp.seq, false);

		if (cp.seq <= r->stable_seq || (v != NULL && find_vote(v, r->id, &cp) != NULL))
			goto reject;
		record_vote(r, &cp);
		return;
	}
	if (cp.seq <= r->cert_proof.seq)
	{
		/*
		 * The sender has not certified what we have: it missed votes,
		 * and nobody resends a certified vote.  Answer with ours for that
		 * checkpoint, or for our latest one if it lags further.
		 */
		zz_cp_state *s = cp_state_for(r, cp.seq);
		bool		answer;

		/* At most once per half resend interval per replica: no echoes. */
		answer = r->vote_reply_at[cp.replica] == 0 ||
			r->now >= r->vote_reply_at[cp.replica] + r->p.checkpoint_resend / 2;
		if (answer)
		{
			const zz_cp_proof *kept = zz_retained_cert(r, cp.seq);

			r->vote_reply_at[cp.replica] = r->now ? r->now : 1;
			if (s != NULL && s->proof.count > 0)
				zz_send_proof_votes(r, &s->proof, cp.replica);
			else if (kept != NULL)
			{
				/*
				 * One that caught up by replay to here (catchup.c) needs
				 * this certificate to make the checkpoint stable and move
				 * its window on.
				 */
				zz_send_proof_votes(r, kept, cp.replica);
			}
			else if (s != NULL && s->own.seq == cp.seq)
			{
				zz_buf_reset(&r->out);
				zz_encode_checkpoint(&r->out, &s->own);
				zz_send_replica(r, cp.replica, &r->out);
			}
			else
				zz_send_stable_checkpoint(r, cp.replica);
		}
		if (cp.seq <= r->stable_seq)
			return;
	}
	record_vote(r, &cp);
	return;
reject:
	r->stats.rejected++;
}

/*
 * A STATE-REQUEST the service answers later (zz_service.serve): the
 * checkpoint's proof, service digest and client table as they were when it
 * was asked, since the checkpoint may leave our slots meanwhile.
 */
typedef struct zz_serve_slot
{
	zz_cp_state st;				/* seq, svc_digest, table (owned) */
	zz_cp_proof proof;
} zz_serve_slot;

static void
serve_slot_free(zz_replica *r, uint32_t to)
{
	if (r->serving[to] != NULL)
	{
		free(r->serving[to]->st.table);
		free(r->serving[to]);
		r->serving[to] = NULL;
	}
}

void
zz_checkpoint_free_serving(zz_replica *r)
{
	for (uint32_t i = 0; i < ZZ_MAX_N; i++)
		serve_slot_free(r, i);
}

/*
 * Send a STATE-REPLY: the checkpoint's proof, then the service digest, the
 * client table and the service's snapshot (or what takes its place).
 */
static bool
send_state_reply(zz_replica *r, uint32_t to, const zz_cp_state *s, const zz_cp_proof *proof,
				 const uint8_t *snap, size_t snap_len)
{
	zz_state_reply rep;
	zz_buf		blob;
	uint32_t	tl;
	bool		ok;

	zz_buf_init(&blob);
	tl = (uint32_t) s->table_len;
	zz_buf_append(&blob, &s->svc_digest, sizeof(s->svc_digest));
	zz_buf_append(&blob, &tl, sizeof(tl));
	zz_buf_append(&blob, s->table, s->table_len);
	zz_buf_append(&blob, snap, snap_len);
	memset(&rep, 0, sizeof(rep));
	rep.replica = r->id;
	rep.cp = *proof;
	rep.state = blob.data;
	rep.state_len = (uint32_t) blob.len;
	zz_buf_reset(&r->out);
	ok = zz_encode_state_reply(&r->out, &rep);
	if (ok)
		zz_send_replica(r, to, &r->out);
	zz_buf_free(&blob);
	return ok;
}

/*
 * Serve the state of our highest certified checkpoint: its proof, then the
 * service digest, the client table and the service's snapshot.
 */
void
zz_on_state_request(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_state_request m;
	zz_cp_state *s;
	uint8_t    *snap = NULL;
	size_t		snap_len = 0;

	if (zz_decode_state_request(buf, len, &m) != ZZ_OK || m.replica >= r->p.n)
		goto reject;
	zz_state_request_signing_bytes(&r->sigbuf, &m);
	if (!zz_verify(r->crypto, m.replica, r->sigbuf.data, r->sigbuf.len, &m.sig))
		goto reject;
	s = cp_state_for(r, r->cert_proof.seq);
	if (r->repairing)
		return;					/* our own state is not to be trusted */
	if (r->cert_proof.seq < m.seq || r->cert_proof.count == 0 || s == NULL)
		return;
	if (r->svc.serve != NULL)
	{
		int			rc = r->svc.serve(r->svc.ctx, m.replica, r->cert_proof.seq);

		if (rc > 0)
		{
			/* answered later (zz_replica_serve_state), with this */
			zz_serve_slot *slot = calloc(1, sizeof(zz_serve_slot));

			if (slot == NULL || (slot->st.table = malloc(s->table_len ? s->table_len : 1)) == NULL)
				abort();
			serve_slot_free(r, m.replica);
			slot->st.seq = s->seq;
			slot->st.svc_digest = s->svc_digest;
			memcpy(slot->st.table, s->table, s->table_len);
			slot->st.table_len = s->table_len;
			slot->proof = r->cert_proof;
			r->serving[m.replica] = slot;
		}
		if (rc >= 0)
			return;				/* answered later, or not */
	}
	if (r->svc.snapshot == NULL ||
		!r->svc.snapshot(r->svc.ctx, r->cert_proof.seq, &snap, &snap_len))
		return;
	send_state_reply(r, m.replica, s, &r->cert_proof, snap, snap_len);
	free(snap);
	return;
reject:
	r->stats.rejected++;
}

/*
 * zz_replica_serve_state: see replica.h.
 */
bool
zz_replica_serve_state(zz_replica *r, zz_time now, uint32_t to, zz_seq seq,
					   const uint8_t *data, size_t len)
{
	zz_serve_slot *slot;
	bool		ok;

	r->now = now;
	if (to >= r->p.n || (slot = r->serving[to]) == NULL || slot->st.seq != seq || r->repairing)
		return false;
	ok = send_state_reply(r, to, &slot->st, &slot->proof, data, len);
	serve_slot_free(r, to);
	return ok;
}

/*
 * Check a checkpoint's state (svc digest || table length || client table
 * || service snapshot) against the digest its 2f+1 signers certified.
 * Sets the parts; false if it does not match.
 */
static bool
cp_state_check(zz_replica *r, const zz_cp_proof *cp, const uint8_t *state, size_t state_len,
			   zz_digest *svc, const uint8_t **table, uint32_t *tl,
			   const uint8_t **snap, size_t *snap_len)
{
	zz_digest	a;

	if (state_len < sizeof(*svc) + 4)
		return false;
	memcpy(svc, state, sizeof(*svc));
	memcpy(tl, state + sizeof(*svc), 4);
	if (*tl > state_len - sizeof(*svc) - 4)
		return false;
	*table = state + sizeof(*svc) + 4;
	*snap = *table + *tl;
	*snap_len = state_len - sizeof(*svc) - 4 - *tl;
	checkpoint_digest(r, svc, *table, *tl, &a);
	return zz_digest_eq(&a, &cp->state);
}

/*
 * Copies of the ORDER-REQs above cp, if our log passes through cp's
 * history; NULL (and 0) otherwise.
 */
static zz_order_req **
log_above(zz_replica *r, const zz_cp_proof *cp, zz_seq *n)
{
	zz_order_req **out;
	zz_seq		s;

	*n = 0;
	if (cp->seq >= r->max_seq || !zz_log_holds(r, cp->seq, &cp->history))
		return NULL;
	out = malloc(sizeof(zz_order_req *) * (r->max_seq - cp->seq));
	if (out == NULL)
		abort();
	for (s = cp->seq + 1; s <= r->max_seq; s++)
	{
		out[*n] = zz_order_req_clone(zz_entry_at(r, s)->order);
		if (out[*n] == NULL)
			abort();
		(*n)++;
	}
	return out;
}

/*
 * Make a certified checkpoint, whose service state is in place, our
 * stable checkpoint: restore its client table, restart the log there and
 * vote for it.
 */
static bool
adopt_checkpoint(zz_replica *r, const zz_cp_proof *cp, const zz_digest *svc,
				 const uint8_t *table, uint32_t tl)
{
	zz_cp_state *s;
	uint32_t	i;
	zz_order_req **above;
	zz_seq		n_above;
	uint64_t	batch_time;

	if (!zz_client_table_install(r, table, tl, &batch_time))
		return false;

	/*
	 * The ORDER-REQs we hold above the checkpoint stay if our history
	 * passes through it: they are executed again on the installed state.
	 * Dropping them would make a primary that repairs its state issue
	 * other batches at sequence numbers it already used.
	 */
	above = log_above(r, cp, &n_above);

	/*
	 * The checkpoint's batch time comes with its certified client table,
	 * whether or not our log passed through it: a transferred or resumed
	 * replica must not let a faulty primary move time back.
	 */
	r->stable_nd_time = batch_time;
	r->last_nd_time = batch_time;

	/* The log restarts at the installed checkpoint. */
	for (i = 0; i < r->ring_cap; i++)
		zz_entry_clear(&r->ring[i]);
	zz_retained_clear(r->retained); /* it no longer leads up to the log */
	r->stable_seq = r->max_seq = r->last_executed = cp->seq;
	r->stable_history = r->max_history = r->exec_history = cp->history;
	r->stable_proof = *cp;
	r->cert_proof = *cp;
	r->has_queued_cp = false;
	for (i = 0; i < ZZ_CP_SLOTS; i++)
	{
		/* checkpoints above it described a history we no longer hold */
		if (r->cp_states[i].table != NULL && r->cp_states[i].seq != cp->seq)
		{
			free(r->cp_states[i].table);
			memset(&r->cp_states[i], 0, sizeof(r->cp_states[i]));
		}
	}
	if (r->my_cp.seq > cp->seq)
		memset(&r->my_cp, 0, sizeof(r->my_cp));
	s = cp_state_slot(r, cp->seq);
	if (s != NULL)
	{
		free(s->table);
		memset(s, 0, sizeof(*s));
		s->seq = cp->seq;
		s->svc_digest = *svc;
		s->table = malloc(tl ? tl : 1);
		if (s->table == NULL)
			abort();
		memcpy(s->table, table, tl);
		s->table_len = tl;
		s->proof = *cp;
	}
	if (r->svc.mark_stable)
		r->svc.mark_stable(r->svc.ctx, cp->seq);
	for (i = 0; i < n_above; i++)
	{
		if (!zz_accept_order_req(r, above[i], true))
			break;
	}
	for (i = 0; i < n_above; i++)
		zz_order_req_free(above[i]);
	free(above);
	/* A certificate outside what we hold now cannot be reported. */
	if (r->has_cc && (r->max_cc.seq <= cp->seq || r->max_cc.seq > r->max_seq ||
					  !zz_digest_eq(&zz_entry_at(r, r->max_cc.seq)->order->hdr.history,
									&r->max_cc.history)))
		r->has_cc = false;
	if (s != NULL)
	{
		/*
		 * Our state is now the certified one: vote for it.  Replicas that
		 * have not certified it yet may need our vote (nobody resends a
		 * certified vote), and their next votes wait on it.
		 */
		s->own.view = cp->view;
		s->own.seq = cp->seq;
		s->own.history = cp->history;
		s->own.state = cp->state;
		s->own.replica = r->id;
		zz_checkpoint_signing_bytes(&r->sigbuf, s->own.view, s->own.seq, &s->own.history,
									&s->own.state, r->id);
		zz_sign(r->crypto, r->sigbuf.data, r->sigbuf.len, &s->own.sig);
		r->my_cp = s->own;
		zz_buf_reset(&r->out);
		zz_encode_checkpoint(&r->out, &s->own);
		zz_broadcast(r, &r->out);
	}
	return true;
}

/*
 * Is the certificate a STATE-REPLY carries one we may install?  The one
 * we asked for, one of our view or later (and not older than the one we
 * asked for), or one whose h_n the new history we adopt holds at n.  A
 * peer answers with its highest certificate, and a higher one from an
 * older view may hold entries a view change since has dropped
 * (docs/protocol.md, "Checkpoints and state transfer").
 */
static bool
transfer_cert_wanted(zz_replica *r, const zz_cp_proof *cp)
{
	const zz_cp_proof *want = &r->transfer_proof;

	if (ZZ_BUGGY(r, ZZ_BUG_STATE_REPLY_STALE))
		return true;
	/* Outside a view change, never off evidence our view leans on. */
	if (!zz_vc_awaiting_transfer(r) && zz_install_breaks_promise(r, cp->seq, &cp->history))
		return false;
	if (cp->seq == want->seq && cp->view == want->view &&
		zz_digest_eq(&cp->history, &want->history) && zz_digest_eq(&cp->state, &want->state))
		return true;
	if (cp->view >= r->view && cp->view >= want->view)
		return true;
	/* During a view change: one inside the new history, which G vouches for. */
	return zz_vc_history_holds(r, cp->seq, &cp->history);
}

/*
 * Install a transferred checkpoint after checking it against the digest
 * 2f+1 replicas signed.  A peer that sends wrong state is ignored; the
 * timer asks another.
 */
void
zz_on_state_reply(zz_replica *r, const uint8_t *buf, size_t len)
{
	zz_state_reply m;
	zz_digest	svc;
	uint32_t	tl;
	const uint8_t *table,
			   *snap;
	size_t		snap_len;

	if (zz_decode_state_reply(buf, len, &m) != ZZ_OK)
		goto reject;
	/*
	 * No older than the first checkpoint this transfer asked for: a
	 * service that prepares its answer in the background (zz_service.serve)
	 * answers with the certificate it had when asked, and we may have
	 * asked others for higher ones since.
	 */
	if (r->mode != ZZ_MODE_STATE_TRANSFER || m.cp.seq < r->transfer_asked ||
		(m.cp.seq <= r->stable_seq && !(r->repairing && m.cp.seq == r->stable_seq)))
		return;
	/*
	 * The sender chooses what it sends: only the 2f+1 signatures make the
	 * digest the state is checked against worth anything.
	 */
	if (!transfer_cert_wanted(r, &m.cp))
	{
		zz_replica_trace(r, "STATE-REPLY from R%u: certificate %llu of view %llu is stale",
						 m.replica, (unsigned long long) m.cp.seq,
						 (unsigned long long) m.cp.view);
		goto reject;
	}
	if ((!zz_cp_proof_valid(r, &m.cp) && !ZZ_BUGGY(r, ZZ_BUG_STATE_REPLY_NO_CERT)) ||
		!cp_state_check(r, &m.cp, m.state, m.state_len, &svc, &table, &tl, &snap, &snap_len))
		goto reject;
	if (r->install_pending)
		return;					/* one install at a time */
	if (r->svc.install_start != NULL)
	{
		int			rc = r->svc.install_start(r->svc.ctx, m.replica, m.cp.seq, &m.cp.history,
											  snap, snap_len, &svc);

		if (rc > 0)
		{
			/* the rest comes from m.replica; zz_replica_install_done ends it */
			free(r->pending_table);
			r->pending_table = malloc(tl ? tl : 1);
			if (r->pending_table == NULL)
				abort();
			memcpy(r->pending_table, table, tl);
			r->pending_tl = tl;
			r->pending_cp = m.cp;
			r->pending_svc = svc;
			r->pending_from = m.replica;
			r->install_pending = true;
			r->transfer_deadline = UINT64_MAX;
			zz_replica_trace(r, "installing checkpoint %llu from R%u in the background",
							 (unsigned long long) m.cp.seq, m.replica);
			return;
		}
		if (rc == 0)
		{
			install_refused(r);
			goto reject;
		}
	}
	if (!r->svc.install(r->svc.ctx, m.cp.seq, &m.cp.history, snap, snap_len, &svc))
	{
		install_refused(r);
		goto reject;
	}
	if (!installed(r, &m.cp, &svc, table, tl, m.replica))
		goto reject;
	return;
reject:
	r->stats.rejected++;
	r->stats.transfers_rejected++;
	zz_replica_trace(r, "rejected STATE-REPLY from R%u", m.replica);
}

/*
 * The service's state is that of certified checkpoint cp now: adopt it
 * and go back to normal mode.
 */
static bool
installed(zz_replica *r, const zz_cp_proof *cp, const zz_digest *svc, const uint8_t *table,
		  uint32_t tl, uint32_t from)
{
	if (!adopt_checkpoint(r, cp, svc, table, tl))
		return false;
	r->install_failures = 0;
	r->mode = ZZ_MODE_NORMAL;
	r->repairing = false;
	r->transfer_seq = 0;
	r->transfer_deadline = UINT64_MAX;
	r->stats.transfers_installed++;
	zz_replica_trace(r, "installed checkpoint %llu from R%u",
					 (unsigned long long) cp->seq, from);
	zz_vc_after_install(r);
	zz_checkpoint_revote(r);	/* what executed while we were out of normal mode */

	/*
	 * While it transferred, it heard nothing else: a view change may have
	 * passed it by.  Ask where the others are, as after a restart.
	 */
	if (r->mode == ZZ_MODE_NORMAL)
	{
		r->announce_left = 0;
		zz_announce_restart(r);
	}
	return true;
}

/*
 * zz_replica_install_done: see replica.h.  A refusal counts as one of the
 * service's (the timer asks another signer); a success adopts the
 * checkpoint, even if a view change put the transfer aside meanwhile: the
 * service's state is the checkpoint's either way.
 */
void
zz_replica_install_done(zz_replica *r, zz_time now, bool ok)
{
	zz_cp_proof cp = r->pending_cp;

	r->now = now;
	if (!r->install_pending)
		return;
	r->install_pending = false;
	if (!ok)
	{
		install_refused(r);
		r->stats.transfers_rejected++;
		if (r->mode == ZZ_MODE_STATE_TRANSFER && r->transfer_deadline == UINT64_MAX)
			r->transfer_deadline = r->now;
		zz_replica_trace(r, "the install of checkpoint %llu from R%u failed",
						 (unsigned long long) cp.seq, r->pending_from);
	}
	else if (r->mode == ZZ_MODE_STATE_TRANSFER)
		(void) installed(r, &cp, &r->pending_svc, r->pending_table, r->pending_tl,
						 r->pending_from);
	else if (cp.seq > r->stable_seq ||
			 (cp.seq == r->stable_seq && zz_digest_eq(&cp.history, &r->stable_history)))
	{
		(void) adopt_checkpoint(r, &cp, &r->pending_svc, r->pending_table, r->pending_tl);
		r->stats.transfers_installed++;
		zz_vc_after_install(r);
	}
	else
	{
		/*
		 * The replica went past the checkpoint by itself while the install
		 * ran (a view change put the transfer aside), and has a stable
		 * checkpoint above it now: the service holds an older state than
		 * the batches the core executed.  Fetch the highest certified
		 * checkpoint, as for a service that finds its state corrupt.
		 */
		zz_replica_trace(r, "the install of checkpoint %llu ended below stable checkpoint %llu: "
						 "repairing", (unsigned long long) cp.seq,
						 (unsigned long long) r->stable_seq);
		free(r->pending_table);
		r->pending_table = NULL;
		zz_replica_repair(r, now);
		return;
	}
	free(r->pending_table);
	r->pending_table = NULL;
}

/*
 * The stable checkpoint as a shell keeps it to resume from (see
 * replica.h): a STATE-REPLY from ourselves with an empty service
 * snapshot.  False before the first stable checkpoint.
 */
bool
zz_replica_save_stable(zz_replica *r, zz_seq seq, zz_buf *out)
{
	zz_cp_state *s = cp_state_for(r, r->stable_seq);
	zz_state_reply rep;
	zz_buf		blob;
	uint32_t	tl;
	bool		ok;

	if (r->stable_seq == 0 || r->stable_seq != seq || s == NULL ||
		r->stable_proof.seq != seq || r->stable_proof.count == 0)
		return false;
	zz_buf_init(&blob);
	tl = (uint32_t) s->table_len;
	zz_buf_append(&blob, &s->svc_digest, sizeof(s->svc_digest));
	zz_buf_append(&blob, &tl, sizeof(tl));
	zz_buf_append(&blob, s->table, s->table_len);
	memset(&rep, 0, sizeof(rep));
	rep.replica = r->id;
	rep.cp = r->stable_proof;
	rep.state = blob.data;
	rep.state_len = (uint32_t) blob.len;
	ok = zz_encode_state_reply(out, &rep);
	zz_buf_free(&blob);
	if (ok)
	{
		/* and the view we last entered, behind a mark */
		uint64_t	view = r->mode == ZZ_MODE_NORMAL ? r->view :
			r->entered_cert.count > 0 ? r->entered_cert.view : r->stable_proof.view;
		uint32_t	mark = ZZ_KEPT_VIEW_MARK;

		ok = zz_buf_append(out, &view, sizeof(view)) && zz_buf_append(out, &mark, sizeof(mark));
	}
	return ok;
}

/*
 * The checkpoint part of a resume (zz_replica_resume, and
 * zz_replica_resume_history in reinstate.c): adopt the stable checkpoint
 * the shell kept, whose service state the service already holds; *viewp
 * is the view kept with it (at least the certificate's).
 */
bool
zz_resume_checkpoint(zz_replica *r, zz_time now, const uint8_t *buf, size_t len,
					 zz_view *viewp)
{
	zz_state_reply m;
	zz_digest	svc;
	uint32_t	tl;
	const uint8_t *table,
			   *snap;
	size_t		snap_len;

	uint64_t	view = 0;
	uint32_t	mark;

	r->now = now;
	if (r->last_executed != 0 || r->max_seq != 0 || r->stable_seq != 0)
		return false;			/* only a fresh replica resumes */
	if (len >= sizeof(view) + sizeof(mark))
	{
		memcpy(&mark, buf + len - sizeof(mark), sizeof(mark));
		if (mark == ZZ_KEPT_VIEW_MARK)
		{
			memcpy(&view, buf + len - sizeof(mark) - sizeof(view), sizeof(view));
			len -= sizeof(mark) + sizeof(view);
		}
	}
	if (zz_decode_state_reply(buf, len, &m) != ZZ_OK || m.replica != r->id ||
		!zz_cp_proof_valid(r, &m.cp) ||
		!cp_state_check(r, &m.cp, m.state, m.state_len, &svc, &table, &tl, &snap, &snap_len) ||
		snap_len != 0)
		return false;
	if (!adopt_checkpoint(r, &m.cp, &svc, table, tl))
		return false;
	*viewp = view > m.cp.view ? view : m.cp.view;
	return true;
}

/*
 * Resume at a stable checkpoint the shell kept (zz_replica_save_stable),
 * whose service state the service already holds.
 */
bool
zz_replica_resume(zz_replica *r, zz_time now, const uint8_t *buf, size_t len)
{
	zz_view		view;

	if (!zz_resume_checkpoint(r, now, buf, len, &view))
		return false;

	/*
	 * Views never go back: come back in the view we had entered when we
	 * kept the checkpoint (at least the certificate's); peers in a later
	 * one answer our announcement with its NEW-VIEW.  Back in a view in
	 * which we were the primary, we no longer know what we ordered after
	 * the checkpoint: order nothing more in it, and ask for the next.
	 */
	r->view = view;
	zz_replica_trace(r, "resumed at stable checkpoint %llu in view %llu",
					 (unsigned long long) r->stable_seq, (unsigned long long) r->view);
	zz_announce_restart(r);
	if (zz_is_primary(r) && r->view > 0)
	{
		r->forgot_orders = true;
		zz_hate_primary(r, "resumed as the primary: what it ordered is lost");
	}
	return true;
}

/*
 * The service found its state corrupt (it no longer matches what it
 * executed): stop answering and fetch the highest certified checkpoint,
 * even if that is our own stable one.
 */
void
zz_replica_repair(zz_replica *r, zz_time now)
{
	r->now = now;
	if (r->cert_proof.count == 0 || r->svc.install == NULL)
	{
		/*
		 * Nothing certified to fetch yet: stop answering until there is;
		 * check_stable() starts the transfer when a certificate forms.
		 */
		r->repairing = true;
		r->mode = ZZ_MODE_STATE_TRANSFER;
		r->transfer_seq = 0;
		r->transfer_deadline = UINT64_MAX;
		return;
	}
	r->repairing = true;
	r->stats.repairs++;
	zz_replica_trace(r, "repairing: fetching checkpoint %llu",
					 (unsigned long long) r->cert_proof.seq);
	r->mode = ZZ_MODE_NORMAL;	/* so that the transfer starts afresh */
	start_state_transfer(r, &r->cert_proof);
}

/*
 * The checkpoint one interval below our highest certificate, if it should
 * be stable by now but we lack its proof (we never saw its certificate:
 * restarted, or the answers to our vote were lost or rate-limited); 0 if
 * none.
 */
static zz_seq
stable_wanted(const zz_replica *r)
{
	zz_seq		want;
	int			i;

	if (r->cert_proof.seq <= r->p.cp_interval)
		return 0;
	want = r->cert_proof.seq - r->p.cp_interval;
	if (want <= r->stable_seq || want > r->last_executed)
		return 0;
	for (i = 0; i < ZZ_CP_SLOTS; i++)
		if (r->cp_states[i].table != NULL && r->cp_states[i].seq == want)
			return r->cp_states[i].proof.count == 0 && r->cp_states[i].own.seq == want
				? want : 0;
	return 0;
}

zz_time
zz_checkpoint_deadline(const zz_replica *r)
{
	zz_time		t = UINT64_MAX;

	if (stable_wanted(r) != 0)
		t = r->stable_retry_deadline;

	if (r->my_cp.seq > r->cert_proof.seq && r->cp_resend_deadline)
		t = r->cp_resend_deadline;
	if (r->mode == ZZ_MODE_STATE_TRANSFER && r->transfer_deadline < t)
		t = r->transfer_deadline;
	if (r->behind_since != 0)
	{
		zz_time		b = (r->behind_ask_at > r->behind_since ? r->behind_ask_at : r->behind_since) +
			r->p.fill_hole_timeout;

		if (b < t)
			t = b;
	}
	return t;
}

/*
 * Resend an unstable CHECKPOINT (lost votes would otherwise stall
 * truncation and, through flow control, the primary), and retry a state
 * transfer with another peer.
 */
void
zz_checkpoint_tick(zz_replica *r)
{
	zz_seq		want = stable_wanted(r);

	if (r->my_cp.seq > r->cert_proof.seq && r->my_cp.seq > r->late_noticed &&
		r->now - r->my_cp_at > ZZ_CP_LATE)
	{
		zz_cp_votes *v = votes_for(r, r->my_cp.seq, false);
		char		votes[ZZ_MAX_N * 48] = "none";

		if (v != NULL)
			describe_votes(r, v, votes, sizeof(votes));
		r->late_noticed = r->my_cp.seq;
		zz_replica_notice(r, ZZ_NOTICE_CHECKPOINT_LATE,
						  "checkpoint %llu has no certificate %llu ms after this replica "
						  "voted (votes: %s)", (unsigned long long) r->my_cp.seq,
						  (unsigned long long) ((r->now - r->my_cp_at) / 1000), votes);
	}

	if (want != 0 && r->stable_retry_deadline <= r->now)
	{
		/*
		 * Show our vote again: a replica that holds the certificate
		 * answers with its votes, and make_stable() can then truncate.
		 */
		zz_cp_state *s = cp_state_for(r, want);

		if (s->own.view != ZZ_CP_UNSIGNED)
		{
			zz_buf_reset(&r->out);
			zz_encode_checkpoint(&r->out, &s->own);
			zz_broadcast(r, &r->out);
		}
		r->stable_retry_deadline = r->now + r->p.checkpoint_resend;
	}
	else if (want == 0)
		r->stable_retry_deadline = 0;
	if (r->my_cp.seq > r->cert_proof.seq && r->cp_resend_deadline &&
		r->cp_resend_deadline <= r->now)
	{
		zz_buf_reset(&r->out);
		zz_encode_checkpoint(&r->out, &r->my_cp);
		zz_broadcast(r, &r->out);
		r->cp_resend_deadline = r->now + r->p.checkpoint_resend;
	}
	if (r->behind_since != 0)
	{
		uint32_t	peer = voter_beyond_log(r, &r->behind_peer);
		zz_time		due = (r->behind_ask_at > r->behind_since ? r->behind_ask_at :
						   r->behind_since) + r->p.fill_hole_timeout;

		if (peer == UINT32_MAX)
			r->behind_since = r->behind_ask_at = 0;
		else if (due <= r->now)
		{
			/*
			 * Still behind what f+1 replicas voted for, and nothing came:
			 * ask one of them what follows our log (each in turn).
			 */
			if (r->mode == ZZ_MODE_NORMAL && !zz_is_primary(r))
			{
				zz_replica_trace(r, "behind checkpoint votes beyond %llu: asking replica %u",
								 (unsigned long long) r->max_seq, peer);
				zz_fetch_after_log(r, peer);
			}
			r->behind_peer = peer;
			r->behind_ask_at = r->now;
		}
	}
	if (r->mode == ZZ_MODE_STATE_TRANSFER && r->transfer_deadline <= r->now &&
		!r->install_pending)
	{
		/* No good answer in time: ask the next signer. */
		zz_replica_trace(r, "state transfer to %llu: asking another replica",
						 (unsigned long long) r->transfer_seq);
		start_state_transfer(r, &r->transfer_proof);
	}
}
