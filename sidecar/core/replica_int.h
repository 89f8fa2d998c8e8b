/*
 * replica_int.h
 *	  The replica's internal state, shared by the files that implement its
 *	  steps: replica.c (dispatch, REQUEST, ORDER-REQ, execution,
 *	  SPEC-RESPONSE, COMMIT), history.c (the log window, client table,
 *	  Merkle trees), checkpoint.c (CHECKPOINT, stable checkpoints, state
 *	  transfer), catchup.c (the retained log, catch-up by replay),
 *	  viewchange.c (I-HATE-THE-PRIMARY, VIEW-CHANGE, sending NEW-VIEW) and
 *	  enterview.c (taking a NEW-VIEW, VIEW-CONFIRM, entering the view).
 *
 * Not part of the core's interface: shells use replica.h.
 */
#ifndef ZZ_REPLICA_INT_H
#define ZZ_REPLICA_INT_H

#include "merkle.h"
#include "message.h"
#include "replica.h"

/*
 * Undo of one executed request's effect on the client table, so a rolled
 * back batch restores exactly what it replaced.
 */
typedef struct zz_client_undo
{
	uint32_t	client;
	uint64_t	prev_ts;
	zz_digest	prev_req;
	zz_seq		prev_seq;
	zz_digest	prev_history;
	uint32_t	prev_index;
	uint8_t    *prev_reply;		/* owned while the entry lives */
	uint32_t	prev_reply_len;
} zz_client_undo;

/* One sequence number of the log: an accepted ORDER-REQ and its execution. */
typedef struct zz_entry
{
	bool		used;
	zz_order_req *order;		/* clone, owns requests and ops */
	zz_digest  *req_digests;	/* per request */
	bool		submitted;		/* handed to the service */
	bool		executed;		/* replies known, responses sent */
	bool	   *skipped;		/* per request: duplicate, not executed */
	zz_reply   *replies;		/* per request (skipped: empty) */
	zz_digest  *tree;			/* Merkle tree over the replies, leaves first */
	zz_digest	reply_root;
	zz_sig		core_sig;
	bool		responded;		/* SPEC-RESPONSEs sent under the current label */
	uint32_t	n_undo;
	zz_client_undo *undo;
} zz_entry;

/*
 * Per-client record: exactly-once and the reply to resend (section 2).
 * The SPEC-RESPONSE itself is rebuilt from the log entry when a client
 * retransmits, so nothing is copied per request for the rare resend.
 */
typedef struct zz_client_rec
{
	bool		used;
	uint32_t	client;
	uint64_t	last_ts;		/* highest timestamp executed */
	zz_digest	last_req;		/* its request digest */
	zz_seq		last_seq;		/* where it executed */
	zz_digest	last_history;	/* h at last_seq */
	uint32_t	last_index;		/* its position in that batch */
	uint8_t    *reply;			/* its reply (from execution or state transfer) */
	uint32_t	reply_len;
	uint64_t	ordered_ts;		/* highest timestamp in an accepted ORDER-REQ */
	zz_seq		ordered_seq;
	zz_time		confirm_deadline;	/* backup: CONFIRM-REQ outstanding */
	uint64_t	confirm_ts;		/* ... for this timestamp */
	zz_view		confirm_view;	/* ... sent in this view */
	zz_time		confirm_since;	/* ... first armed at (zz_confirm_patient) */
	zz_seq		confirm_max_seq;	/* ... our max_seq when last armed */
	uint32_t	confirm_len;	/* ... the request's bytes (confirm_bytes) */
	zz_time		resend_at;		/* its next retransmission acted on from here */
	uint64_t	resend_ts;		/* ... if of this timestamp */
	zz_view		resend_view;	/* ... in this view */
} zz_client_rec;

/* A request waiting in the primary's open batch. */
typedef struct zz_pending
{
	zz_request	req;			/* op points into op_copy */
	uint8_t    *op_copy;
	zz_digest	digest;
} zz_pending;

#define ZZ_CP_SLOTS 6
/* The view of an own CHECKPOINT not yet signed: sent only once re-signed. */
#define ZZ_CP_UNSIGNED UINT64_MAX
#define ZZ_VOTE_VIEWS 3			/* votes kept per replica per checkpoint */

/* CHECKPOINT votes for one sequence number. */
typedef struct zz_cp_votes
{
	zz_seq		seq;			/* 0: slot free */
	uint8_t		nvotes[ZZ_MAX_N];	/* a replica may vote again in a later view */
	zz_checkpoint vote[ZZ_MAX_N][ZZ_VOTE_VIEWS];
} zz_cp_votes;


/* Serialized client table at one of our own checkpoints. */
typedef struct zz_cp_state
{
	zz_seq		seq;
	zz_digest	svc_digest;
	uint8_t    *table;
	size_t		table_len;
	zz_checkpoint own;			/* the CHECKPOINT we signed for it */
	zz_cp_proof proof;			/* 2f+1 votes matching it (count 0: not yet) */
} zz_cp_state;

typedef struct zz_vc_state zz_vc_state; /* viewchange.c */
typedef struct zz_retained zz_retained; /* catchup.c */
typedef struct zz_chain_memo zz_chain_memo; /* check.c */

/*
 * Is a planted bug (replica.h, zz_replica_bug) switched on?  Test builds
 * only: without ZZ_FAULT_INJECTION every switch is constant false and the
 * compiler drops the faulty branch.
 */
#ifdef ZZ_FAULT_INJECTION
#define ZZ_BUGGY(r, bug)	(((r)->bugs & (bug)) != 0)
#else
#define ZZ_BUGGY(r, bug)	false
#endif

struct zz_replica
{
	zz_params	p;
	uint32_t	id;
	zz_crypto  *crypto;
	zz_service	svc;
	zz_io		io;
#ifdef ZZ_FAULT_INJECTION
	unsigned	bugs;			/* planted bugs switched on (zz_replica_set_bugs) */
	int64_t		nd_time_skew;	/* a faulty primary's clock (zz_replica_set_nd_time_skew) */
#endif
	zz_replica_stats stats;

	zz_view		view;
	zz_replica_mode mode;

	/* The log window: (stable_seq, max_seq], at most 2 x cp_interval. */
	zz_seq		stable_seq;
	zz_digest	stable_history;
	zz_cp_proof stable_proof;
	zz_cp_proof cert_proof;		/* highest checkpoint with 2f+1 votes matching ours */
	zz_seq		max_seq;
	zz_time		max_seq_at;		/* when max_seq last advanced, and the bytes */
	size_t		max_seq_bytes;	/* of its requests (confirm_patient) */
	zz_digest	max_history;
	uint64_t	last_nd_time;	/* of the ORDER-REQ at max_seq: times never go back */
	uint64_t	stable_nd_time; /* ... at the stable checkpoint (0 if unknown) */

	/* Checkpoints that do not become stable (io.notice) */
	zz_time		my_cp_at;		/* when we cast our vote my_cp */
	zz_seq		late_noticed;	/* the last checkpoint reported late */
	zz_seq		diverged_seq;	/* no certificate can form here: states differ */
	zz_seq		last_executed;
	zz_digest	exec_history;
	zz_entry   *ring;
	uint32_t	ring_cap;
	zz_seq	   *past_seq;		/* h_n of truncated entries, by seq % ring_cap, */
	zz_digest  *past_history;	/* so late COMMITs can still be answered */

	/*
	 * Evidence for the next view change (docs/protocol.md, "Evidence"):
	 * the max CC, ranked by (view, seq), and the 2f+1 VIEW-CONFIRMs with
	 * which we entered our view (count 0 in view 0 or after a restart).
	 */
	bool		has_cc;
	zz_commit_cert max_cc;
	zz_view_cert entered_cert;

	/* Client table: open addressing on client id. */
	zz_client_rec *clients;
	uint32_t	clients_cap;
	uint32_t	clients_used;
	uint32_t	confirms_armed; /* records with a CONFIRM-REQ timer running */
	uint64_t	confirm_bytes;	/* ... and the bytes of their requests */

	/* Primary: the open batch. */
	zz_pending *batch;
	uint32_t	batch_len;
	zz_time		batch_deadline;

	/* ORDER-REQs that arrived ahead of a hole, keyed by seq. */
	zz_order_req **future;		/* ring_cap slots, by seq % ring_cap */
	zz_time		fill_hole_deadline;
	uint32_t	fill_hole_round;
	zz_time		fetch_all_at;	/* last FILL-HOLE to all after a conflicting CC */

	/* The retained log below the stable checkpoint (catchup.c). */
	struct zz_retained *retained;

	/*
	 * Catch-up by replay (catchup.c): the certificate the buffered
	 * ORDER-REQs (in future) must chain to (count 0: none yet), the
	 * highest certificate above our log of this run (fetched by state
	 * transfer if replay makes no progress), and the run's timers.
	 */
	zz_cp_proof catchup;
	zz_cp_proof catchup_far;
	zz_time		catchup_deadline;	/* UINT64_MAX: no run */
	zz_time		catchup_ask_at; /* ask the next signer */
	zz_seq		catchup_asked_hi;	/* the last seq the last request can bring */
	zz_seq		catchup_progress;	/* max_seq + last_executed when the deadline
									 * was last set */
	uint32_t	catchup_peer;
	uint32_t	catchup_refusals;	/* chains refused in a row */
	zz_seq		catchup_gave_up;	/* certificates up to here: state transfer */
	zz_seq		catchup_run_from;	/* for the notice at the end of a run */
	zz_time		catchup_run_at;
	uint64_t	catchup_run_batches;

	/* Checkpoints. */
	zz_cp_votes votes[ZZ_CP_SLOTS];
	zz_cp_state cp_states[ZZ_CP_SLOTS];
	zz_checkpoint my_cp;		/* latest own CHECKPOINT sent, for resending */
	zz_time		vote_reply_at[ZZ_MAX_N];	/* last answer to a lagging voter */
	bool		has_queued_cp;
	zz_checkpoint queued_cp;	/* own CHECKPOINT waiting for the previous certificate */
	zz_time		cp_resend_deadline;
	zz_seq		transfer_seq;	/* state transfer target, 0 if none */
	zz_seq		transfer_asked;	/* the checkpoint its first STATE-REQUEST named */
	zz_cp_proof transfer_proof;
	zz_time		transfer_deadline;
	uint32_t	transfer_peer;
	uint32_t	install_failures;	/* snapshots our service refused in a row */
	bool		install_pending;	/* the service installs in the background */
	zz_cp_proof pending_cp;		/* ... this checkpoint */
	zz_digest	pending_svc;	/* ... with this service digest */
	uint8_t    *pending_table;	/* ... and client table */
	uint32_t	pending_tl;
	uint32_t	pending_from;
	/* what a STATE-REQUEST the service serves later is answered with */
	struct zz_serve_slot *serving[ZZ_MAX_N];
	bool		repairing;		/* the service's state is corrupt (zz_replica_repair) */
	zz_time		behind_since;	/* f+1 voted beyond our log, and nothing came */
	zz_time		behind_ask_at;	/* when we last asked one of them */
	uint32_t	behind_peer;	/* whom we asked last */
	zz_time		stable_retry_deadline;	/* resend the vote of a checkpoint we
										 * cannot make stable (checkpoint.c) */
	uint32_t	announce_left;	/* restart announcements still to send */
	zz_time		announce_wait;	/* until the next one */
	zz_time		announce_deadline;

	bool		forgot_orders;	/* resumed as the primary of view: orders nothing in it */
	zz_vc_state *vc;
	zz_chain_memo *chain_memo;	/* links zz_replica_check verified (check.c) */

	zz_time		now;
	zz_buf		out;			/* scratch for encoding */
	zz_buf		sigbuf;			/* scratch for signing inputs */
};

/*
 * The CONFIRM-REQ timer of one client record.  The replica counts the
 * armed ones so that time handling skips the client table when none is
 * (next_deadline and tick run after every event).
 */
static inline bool
zz_confirm_armed(const zz_client_rec *c)
{
	return c->confirm_deadline != 0 && c->confirm_deadline != UINT64_MAX;
}

static inline void
zz_confirm_disarm(zz_replica *r, zz_client_rec *c)
{
	if (zz_confirm_armed(c))
	{
		r->confirms_armed--;
		r->confirm_bytes -= c->confirm_len;
	}
	c->confirm_deadline = UINT64_MAX;
}

/*
 * check.c: the invariants, asserted after every step in debug and test
 * builds (ZZ_NO_STEP_CHECKS leaves them out of a test build that measures,
 * the benchmark's).
 */
extern zz_chain_memo *zz_chain_memo_create(uint32_t slots);
extern void zz_chain_memo_free(zz_chain_memo *m);
#if !defined(NDEBUG) || defined(ZZ_FAULT_INJECTION)
extern void zz_replica_assert_check(zz_replica *r, const char *step);
#endif
#if (!defined(NDEBUG) || defined(ZZ_FAULT_INJECTION)) && !defined(ZZ_NO_STEP_CHECKS)
#define ZZ_ASSERT_INVARIANTS(r, step)	zz_replica_assert_check((r), (step))
#else
#define ZZ_ASSERT_INVARIANTS(r, step)	((void) 0)
#endif

/*
 * The highest sequence number that may be in the service (execute.c):
 * exec_window batches past the last executed, and never past the next
 * checkpoint before it is executed, because the client table serialized
 * at a checkpoint must not hold the effects of batches after it.
 */
static inline zz_seq
zz_exec_limit(const zz_replica *r)
{
	zz_seq		lim = r->last_executed + (r->p.exec_window ? r->p.exec_window : 1);
	zz_seq		cp = (r->last_executed / r->p.cp_interval + 1) * r->p.cp_interval;

	return lim < cp ? lim : cp;
}

/* history.c */
extern zz_entry *zz_entry_at(zz_replica *r, zz_seq seq);
extern bool zz_log_holds(zz_replica *r, zz_seq seq, const zz_digest *h);
extern void zz_entry_clear(zz_entry *e);
extern zz_client_rec *zz_client_lookup(zz_replica *r, uint32_t client, bool create);
extern void zz_batch_digest(zz_crypto *c, uint64_t nd_time, uint64_t nd_seed,
							const zz_digest *req_digests, uint32_t count, zz_digest *out);
extern void zz_chain_history(zz_crypto *c, const zz_digest *prev, zz_seq seq,
							 const zz_digest *d, zz_digest *out);
extern void zz_truncate_below(zz_replica *r, zz_seq seq);
extern bool zz_rollback_to(zz_replica *r, zz_seq seq);
extern void zz_recompute_ordered(zz_replica *r);
extern void zz_undo_client_effects(zz_replica *r, zz_entry *e);
extern void zz_client_table_serialize(zz_replica *r, zz_buf *b);
extern bool zz_client_reply(const zz_client_rec *c, const uint8_t **reply, uint32_t *len);
extern bool zz_client_table_install(zz_replica *r, const uint8_t *p, size_t len,
									uint64_t *batch_time);

/* replica.c, execute.c */
extern void zz_replica_trace(zz_replica *r, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern void zz_replica_notice(zz_replica *r, zz_notice_kind kind, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern void zz_send_replica(zz_replica *r, uint32_t to, const zz_buf *b);
extern void zz_broadcast(zz_replica *r, const zz_buf *b);
extern void zz_broadcast_raw(zz_replica *r, const uint8_t *buf, size_t len);
extern bool zz_accept_order_req(zz_replica *r, const zz_order_req *m, bool verified);
extern void zz_try_execute(zz_replica *r);
extern zz_seq zz_last_submitted(zz_replica *r);
extern void zz_fetch_after_log(zz_replica *r, uint32_t to);
extern bool zz_cc_valid(zz_replica *r, const zz_commit_cert *cc);
extern bool zz_install_breaks_promise(zz_replica *r, zz_seq seq, const zz_digest *h);
extern bool zz_cc_outranks(const zz_replica *r, const zz_commit_cert *a,
						   const zz_commit_cert *b);
extern void zz_respond_entry(zz_replica *r, zz_entry *e);
extern void zz_send_spec_response(zz_replica *r, zz_entry *e, uint32_t i);

/* request.c */
extern void zz_on_request(zz_replica *r, const uint8_t *buf, size_t len);
extern void zz_on_confirm_req(zz_replica *r, const uint8_t *buf, size_t len);
extern void zz_close_batch(zz_replica *r);
extern bool zz_batch_held(const zz_replica *r);
extern void zz_batch_deadline(zz_replica *r, zz_time now);
extern void zz_batch_executed(zz_replica *r);

/* a held batch (order_ahead) is looked at again this often anyway */
#define ZZ_BATCH_HOLD_RECHECK	5000
extern bool zz_request_authentic(zz_replica *r, const zz_request *q, zz_digest *d);

static inline bool
zz_is_primary(const zz_replica *r)
{
	return zz_primary_of(&r->p, r->view) == r->id;
}
extern void zz_drop_batch(zz_replica *r);
extern void zz_request_new_view(zz_replica *r, zz_view v);

/* checkpoint.c */
extern void zz_checkpoint_after_execute(zz_replica *r, zz_seq seq, const zz_digest *svc_digest);
extern void zz_on_checkpoint(zz_replica *r, const uint8_t *buf, size_t len);
extern void zz_on_state_request(zz_replica *r, const uint8_t *buf, size_t len);
extern void zz_on_state_reply(zz_replica *r, const uint8_t *buf, size_t len);
extern bool zz_cp_proof_valid(zz_replica *r, const zz_cp_proof *p);
extern void zz_checkpoint_tick(zz_replica *r);
extern bool zz_views_futile(zz_replica *r, const char *why);
#define ZZ_CP_LATE (10 * 1000 * 1000)	/* report a checkpoint not certified after this */
extern void zz_send_stable_checkpoint(zz_replica *r, uint32_t to);
#define ZZ_KEPT_VIEW_MARK	0x31767a7au	/* "zzv1": a kept checkpoint with its view */
#define ZZ_ANNOUNCE_ROUNDS	10		/* restart announcements, the wait doubling
									 * from fill_hole_timeout */
extern void zz_announce_restart(zz_replica *r);
extern void zz_checkpoint_transfer(zz_replica *r, const zz_cp_proof *proof);
extern void zz_checkpoint_free_serving(zz_replica *r);
extern void zz_checkpoint_recheck(zz_replica *r);
extern void zz_checkpoint_revote(zz_replica *r);
extern void zz_checkpoint_learn_proof(zz_replica *r, const zz_cp_proof *p);
extern void zz_checkpoint_rollback(zz_replica *r, zz_seq seq);
extern zz_time zz_checkpoint_deadline(const zz_replica *r);
extern bool zz_resume_checkpoint(zz_replica *r, zz_time now, const uint8_t *buf, size_t len,
								 zz_view *viewp);

/* ORDER-REQs resent per FILL-HOLE */
#define ZZ_FILL_HOLE_MAX 64

/* catchup.c */
extern zz_retained *zz_retained_create(void);
extern void zz_retained_clear(zz_retained *t);
extern void zz_retained_free(zz_retained *t);
extern void zz_retain_order(zz_replica *r, zz_seq seq, zz_order_req *m);
extern void zz_retain_cert(zz_replica *r, const zz_cp_proof *p);
extern const zz_cp_proof *zz_retained_cert(const zz_replica *r, zz_seq seq);
extern bool zz_retained_answer(zz_replica *r, uint32_t to_replica, zz_seq from, zz_seq to);
extern bool zz_catchup_active(const zz_replica *r);
extern void zz_retained_usage(const zz_replica *r, uint32_t *batches, uint64_t *bytes);
extern bool zz_catchup_instead(zz_replica *r, const zz_cp_proof *proof);
extern bool zz_catchup_offer(zz_replica *r, const zz_order_req *m);
extern zz_time zz_catchup_deadline(const zz_replica *r);
extern void zz_catchup_tick(zz_replica *r);
extern void zz_send_fill_hole_to(zz_replica *r, uint32_t to, zz_seq from, zz_seq until);
extern void zz_send_proof_votes(zz_replica *r, const zz_cp_proof *p, uint32_t to);

/* reinstate.c */
extern void zz_keep_view(zz_replica *r, zz_view v);

/* viewchange.c */
extern zz_vc_state *zz_vc_create(zz_replica *r);
extern void zz_vc_free(zz_vc_state *vc);
extern void zz_on_pom(zz_replica *r, const uint8_t *buf, size_t len);
extern void zz_on_i_hate(zz_replica *r, const uint8_t *buf, size_t len);
extern void zz_on_view_change(zz_replica *r, const uint8_t *buf, size_t len);
extern void zz_hate_primary(zz_replica *r, const char *why);
extern void zz_hate_primary_again(zz_replica *r, const char *why);
extern void zz_report_pom(zz_replica *r, const zz_order_hdr *a, const zz_order_hdr *b);
extern void zz_vc_tick(zz_replica *r);
extern bool zz_vc_send_new_view_to(zz_replica *r, uint32_t to);
extern zz_time zz_vc_deadline(const zz_replica *r);

/* enterview.c */
extern void zz_on_new_view(zz_replica *r, const uint8_t *buf, size_t len);
extern void zz_on_view_confirm(zz_replica *r, const uint8_t *buf, size_t len);
extern void zz_vc_progress(zz_replica *r);
extern bool zz_vc_relabel(zz_replica *r, const zz_order_req *m);
extern zz_view zz_vc_target(const zz_replica *r);
extern void zz_vc_after_install(zz_replica *r);
extern bool zz_vc_transfer_ok(const zz_replica *r, zz_seq seq);
extern bool zz_vc_history_holds(const zz_replica *r, zz_seq seq, const zz_digest *h);
extern bool zz_vc_awaiting_transfer(const zz_replica *r);

#endif							/* ZZ_REPLICA_INT_H */
