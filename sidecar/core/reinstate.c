/*
 * reinstate.c
 *	  A restarted replica takes back its own speculative history
 *	  (replica.h, zz_replica_resume_history; docs/protocol.md, "Restart
 *	  with the history").
 *
 * zz_replica_resume alone makes a replica forget everything it executed
 * above its stable checkpoint: it counts against f until the others hand
 * the batches back.  When every replica stops at once nobody can, and
 * requests that completed (3f+1 SPEC-RESPONSEs, or a commit certificate)
 * would be lost.  So a shell whose service keeps, with each batch it
 * applies, the signed ORDER-REQ the replica executed there gives them back
 * on restart, and the replica reinstates them as if they came again from
 * the primary: same checks, same history chain.  What it reinstates it
 * had executed and answered before; a replica that comes back with it is
 * like one that was cut off for a while, which the protocol tolerates.
 *
 * Views never go back: a replica that sent a VIEW-CHANGE for view v, or
 * entered v, must not take part in an older view after a restart (its
 * VIEW-CHANGE promised the others it would not).  zz_io.keep_view tells
 * the shell each such view before the message leaves or the view is
 * entered; the shell hands the highest back as min_view.
 */
#include <string.h>

#include "replica_int.h"

/*
 * The replica is about to commit to view v (see zz_io.keep_view).
 */
void
zz_keep_view(zz_replica *r, zz_view v)
{
	if (r->io.keep_view != NULL)
		r->io.keep_view(r->io.ctx, v);
}

/*
 * The ORDER-REQ of the log entry at seq, as the replica accepted it (the
 * primary's signature and the requests with their authenticators), for
 * the service to store with the batch.  False if seq is not in the log.
 * Writes only to out: a shell may call it while the core executes.
 */
bool
zz_replica_save_order(zz_replica *r, zz_seq seq, zz_buf *out)
{
	zz_entry   *e = zz_entry_at(r, seq);

	if (e == NULL || e->order == NULL)
		return false;
	zz_buf_reset(out);
	return zz_encode_order_req(out, e->order);
}

/*
 * Take back one stored ORDER-REQ at max_seq + 1, checked in full as one
 * from the network (zz_accept_order_req).
 */
static bool
reinstate_order(zz_replica *r, const zz_kept_order *k, zz_view *view)
{
	zz_order_req m;
	bool		ok;

	if (k->buf == NULL || zz_decode_order_req(k->buf, k->len, &m) != ZZ_OK)
	{
		zz_replica_trace(r, "stored ORDER-REQ n=%llu does not decode",
						 (unsigned long long) r->max_seq + 1);
		return false;
	}
	ok = m.hdr.seq == r->max_seq + 1 && zz_accept_order_req(r, &m, false);
	if (ok && m.hdr.view > *view)
		*view = m.hdr.view;
	if (!ok)
		zz_replica_trace(r, "stored ORDER-REQ n=%llu (expected %llu) refused: signature, "
						 "requests or history chain",
						 (unsigned long long) m.hdr.seq, (unsigned long long) r->max_seq + 1);
	zz_order_req_release(&m);
	return ok;
}

bool
zz_replica_resume_history(zz_replica *r, zz_time now, const uint8_t *kept, size_t kept_len,
						  const zz_kept_order *orders, uint32_t n, zz_view min_view,
						  zz_seq *until)
{
	zz_view		view = 0;
	uint32_t	i;

	r->now = now;
	if (r->last_executed != 0 || r->max_seq != 0 || r->stable_seq != 0)
		return false;			/* only a fresh replica resumes */
	if (kept != NULL && !zz_resume_checkpoint(r, now, kept, kept_len, &view))
		return false;
	for (i = 0; i < n; i++)
		if (!reinstate_order(r, &orders[i], &view))
			break;
	if (until != NULL)
		*until = r->max_seq;

	/*
	 * The highest view it had reached: the checkpoint's, its history's, or
	 * the one it kept before committing to it.  The others answer the
	 * announcement with that view's NEW-VIEW if they went further.
	 */
	if (min_view > view)
		view = min_view;
	r->view = view;
	zz_replica_trace(r, "resumed at stable checkpoint %llu with its history up to %llu "
					 "(%u of %u stored batches) in view %llu",
					 (unsigned long long) r->stable_seq, (unsigned long long) r->max_seq,
					 i, n, (unsigned long long) r->view);
	zz_announce_restart(r);

	/*
	 * Back as the primary, it may have ordered batches that it never got
	 * to store: ordering others under the same numbers would fork the
	 * history.  Order nothing more in this view, and ask for the next.
	 * (Only a cluster that never ordered anything is spared.)
	 */
	if (zz_is_primary(r) && (r->view > 0 || r->max_seq > 0 || r->stable_seq > 0))
	{
		r->forgot_orders = true;
		zz_hate_primary(r, "resumed as the primary: what it ordered last may be lost");
	}
	ZZ_ASSERT_INVARIANTS(r, "resume_history");
	return true;
}
