/*
 * replica.h
 *	  The Zyzzyva replica as a pure state machine.
 *
 * Drive it with zz_replica_receive (a message arrived), zz_replica_tick
 * (time passed) and zz_replica_execute_done (an asynchronous service
 * finished a batch).  It answers through zz_io.  zz_replica_next_deadline
 * tells the shell when it next needs a tick.
 */
#ifndef ZZ_REPLICA_H
#define ZZ_REPLICA_H

#include "crypto.h"
#include "io.h"
#include "message.h"
#include "service.h"
#include "types.h"

typedef struct zz_replica zz_replica;

typedef enum zz_replica_mode
{
	ZZ_MODE_NORMAL = 0,
	ZZ_MODE_VIEW_CHANGE = 1,
	ZZ_MODE_STATE_TRANSFER = 2
} zz_replica_mode;

#ifdef ZZ_FAULT_INJECTION
/*
 * Test-only misbehaviour, for planted-bug tests and the schedule explorer.
 * Each names a defect the tests must be able to catch; see docs/protocol.md.
 * Compiled only with -DZZ_FAULT_INJECTION: the product binaries hold
 * neither the switches nor the faulty code (make check-fault-injection).
 */
typedef enum zz_replica_bug
{
	ZZ_BUG_NONE = 0,
	ZZ_BUG_ACCEPT_BAD_HISTORY = 1 << 0, /* accept ORDER-REQ with a wrong h_n */
	ZZ_BUG_SKIP_DEDUP = 1 << 1, /* execute a (client, t) twice */
	ZZ_BUG_UNSAFE_NEW_VIEW = 1 << 2,	/* the published (unsafe) new-view rule */
	/*
	 * The two defects of issue 10.  Each also leaves the entered view's
	 * certificate out of VIEW-CHANGEs (as ZZ_BUG_VC_NO_ENTERED_CERT),
	 * re-creating the code that had them: that certificate alone would
	 * otherwise cover most of what they break.
	 */
	ZZ_BUG_CC_ANY_VIEW = 1 << 3,	/* LOCAL-COMMIT a CC of any view */
	ZZ_BUG_MAX_CC_BY_SEQ = 1 << 4,	/* keep the max CC by sequence number alone */
	ZZ_BUG_NEW_VIEW_LOWEST_CC = 1 << 5, /* new-view rule: lowest-view CC wins */
	ZZ_BUG_POM_ANY_SEQ = 1 << 6,	/* POM of two ORDER-REQs with different n */
	ZZ_BUG_FILL_HOLE_NO_VERIFY = 1 << 7,	/* buffered ORDER-REQs applied unchecked */
	ZZ_BUG_STATE_REPLY_NO_CERT = 1 << 8,	/* STATE-REPLY's certificate unchecked */
	ZZ_BUG_STATE_REPLY_STALE = 1 << 9,	/* install a certificate of an older view */
	ZZ_BUG_VC_NO_ENTERED_CERT = 1 << 10,	/* VIEW-CHANGE without the entered
											 * view's certificate */
	ZZ_FAULT_VC_BUILD_FAILS = 1 << 11,	/* fault: building a VIEW-CHANGE fails,
										 * as out of memory would */
	ZZ_BUG_CC_DUP_SIGNER = 1 << 12, /* CC signers not required distinct */
	ZZ_BUG_CC_ANY_SIGNED_VIEW = 1 << 13,	/* CC signatures of any view <= its
											 * label accepted */
	ZZ_BUG_NEW_VIEW_LOWEST_CP = 1 << 14,	/* new history starts at the lowest
											 * reported checkpoint */
	ZZ_BUG_KEEP_OWN_NEW_VIEW = 1 << 15	/* keep our NEW-VIEW though 2f+1
										 * confirmed another */
} zz_replica_bug;
#endif							/* ZZ_FAULT_INJECTION */

/* Counters for status views and benchmarks. */
typedef struct zz_replica_stats
{
	uint64_t	batches_ordered;	/* as primary */
	uint64_t	batches_executed;
	uint64_t	requests_executed;
	uint64_t	spec_responses;
	uint64_t	local_commits;
	uint64_t	cached_replies;
	uint64_t	confirm_reqs;
	uint64_t	fill_holes;
	uint64_t	checkpoints_stable;
	uint64_t	view_changes;
	uint64_t	rollbacks;		/* batches undone */
	uint64_t	poms;
	uint64_t	i_hates;
	uint64_t	state_transfers;	/* started */
	uint64_t	transfers_installed;
	uint64_t	transfers_rejected;	/* STATE-REPLYs that failed a check */
	uint64_t	repairs;		/* zz_replica_repair */
	uint64_t	catchup_runs;	/* catch-up by replay started (catchup.c) */
	uint64_t	catchup_batches;	/* batches replayed by it */
	uint64_t	catchup_refusals;	/* replayed chains that missed the certificate */
	uint64_t	catchup_served; /* FILL-HOLEs answered from the retained log */
	uint64_t	rejected;		/* messages rejected as malformed or invalid */
} zz_replica_stats;

/* A read-only summary of the replica's position. */
typedef struct zz_replica_status
{
	uint32_t	id;
	zz_view		view;
	zz_replica_mode mode;
	zz_seq		max_seq;		/* highest ORDER-REQ accepted */
	zz_seq		last_executed;
	zz_seq		committed;		/* highest seq covered by a CC it holds or a stable
								 * checkpoint */
	zz_seq		stable_seq;
	zz_digest	stable_state;
	zz_seq		certified;		/* highest checkpoint whose 2f+1 certificate it holds */
	zz_digest	history;		/* h at last_executed */
	bool		repairing;		/* its service state is corrupt: fetching a checkpoint */
	zz_seq		transfer_seq;	/* the checkpoint a state transfer fetches, 0 if none */
	zz_seq		catchup_seq;	/* the checkpoint catch-up by replay aims at, 0 if none */
	uint32_t	retained_batches;	/* ORDER-REQs kept below the stable checkpoint */
	uint64_t	retained_bytes; /* ... and their bytes */
} zz_replica_status;

extern zz_replica *zz_replica_create(const zz_params *params, uint32_t id,
									 zz_crypto *crypto, const zz_service *svc,
									 const zz_io *io);
extern void zz_replica_free(zz_replica *r);

/* A message arrived.  Malformed or unauthenticated input is counted and dropped. */
extern void zz_replica_receive(zz_replica *r, zz_time now, const uint8_t *buf, size_t len);

/* Time passed; fire whatever timers are due. */
extern void zz_replica_tick(zz_replica *r, zz_time now);

/* When the replica next wants zz_replica_tick; UINT64_MAX if never. */
extern zz_time zz_replica_next_deadline(const zz_replica *r);

/* An asynchronous service finished the batch at res->seq (ownership passes). */
extern void zz_replica_execute_done(zz_replica *r, zz_time now, zz_exec_result *res);

/*
 * The process restarted: forget volatile state (the primary's open batch,
 * buffered out-of-order messages, timers) and keep what the shell persists
 * (history, checkpoints, view, client table).
 */
extern void zz_replica_restart(zz_replica *r, zz_time now);

/*
 * Recovery from the service's own storage (a database).  A shell keeps
 * what zz_replica_save_stable gives at each stable checkpoint seq (the
 * service's mark_stable(seq) is the moment: the proof of 2f+1 CHECKPOINTs,
 * the service digest and the client table, which the service does not
 * hold); after a restart, with the service rolled back to that checkpoint,
 * zz_replica_resume makes a fresh replica start there instead of at 0,
 * in the view it had entered when it kept it (views never go back; a
 * replica that comes back as the primary of that view orders nothing more
 * in it and asks for the next).
 * The batches above it come again from the other replicas (FILL-HOLE, or
 * state transfer if they truncated them).  Until then this replica counts
 * against f: it has forgotten what it executed speculatively.
 */
extern bool zz_replica_save_stable(zz_replica *r, zz_seq seq, zz_buf *out);
extern bool zz_replica_resume(zz_replica *r, zz_time now, const uint8_t *buf, size_t len);

/*
 * Recovery with the replica's own speculative history (reinstate.c).  A
 * shell whose service stores, with each batch it applies, the ORDER-REQ
 * the replica executed there (zz_replica_save_order, while the service
 * executes seq) hands them back after a restart, in ascending seq from
 * the stable checkpoint up, with the checkpoint kept by
 * zz_replica_save_stable (NULL, 0: none yet, the history starts at 0) and
 * the highest view it kept through zz_io.keep_view (min_view).  Each
 * ORDER-REQ is checked as one from the network: the signature of its
 * view's primary, its requests, its batch digest and the history chain
 * from the checkpoint; the first that fails ends the history there.  The
 * replica then executes them again (a service that still holds their
 * results answers at once) and goes on in the highest of min_view, the
 * checkpoint's view and the ORDER-REQs' views: it is then no different
 * from a replica that was cut off for a while.  *until says where the
 * reinstated history ends (the service must roll back what lies above).
 * False (nothing done) if the replica is not fresh or the checkpoint does
 * not verify.
 */
typedef struct zz_kept_order
{
	const uint8_t *buf;
	size_t		len;
} zz_kept_order;
extern bool zz_replica_save_order(zz_replica *r, zz_seq seq, zz_buf *out);
extern bool zz_replica_resume_history(zz_replica *r, zz_time now, const uint8_t *kept,
									  size_t kept_len, const zz_kept_order *orders,
									  uint32_t n, zz_view min_view, zz_seq *until);

/*
 * The service found its state corrupt (rows that no longer match what it
 * executed, e.g. changed behind its back): stop answering, fetch the
 * state of the highest certified checkpoint from the others, install it
 * and go on from there.
 */
extern void zz_replica_repair(zz_replica *r, zz_time now);

/*
 * Asynchronous state transfer (zz_service.serve, .install_start): the
 * service answers replica `to`'s STATE-REQUEST for checkpoint seq with
 * data in place of the snapshot (false if the checkpoint is no longer
 * kept), or ends the install it started (ok: its state is the
 * checkpoint's now).
 */
extern bool zz_replica_serve_state(zz_replica *r, zz_time now, uint32_t to, zz_seq seq,
								   const uint8_t *data, size_t len);
extern void zz_replica_install_done(zz_replica *r, zz_time now, bool ok);

/*
 * Change the timers and batching of a running replica (SIGHUP).  f, n and
 * cp_interval cannot change (they shape the log); returns false if they
 * differ or the new values are out of range.
 */
extern bool zz_replica_set_params(zz_replica *r, const zz_params *params);

extern void zz_replica_get_status(const zz_replica *r, zz_replica_status *out);
extern const zz_replica_stats *zz_replica_get_stats(const zz_replica *r);
#ifdef ZZ_FAULT_INJECTION
/* Switch planted bugs (zz_replica_bug) on or off. */
extern void zz_replica_set_bugs(zz_replica *r, unsigned bugs);

/*
 * A faulty primary's clock: stamp every ORDER-REQ with our clock plus
 * skew_us (0: the correct rule), even when that goes back.
 */
extern void zz_replica_set_nd_time_skew(zz_replica *r, int64_t skew_us);

/*
 * A faulty replica that lies consistently (docs/protocol.md section 8):
 * fn sees each VIEW-CHANGE this replica builds, encoded and signed, before
 * the replica sends or keeps it, and may replace the bytes with its lie.
 * The replica then acts on the lie as on its own word: it sends it,
 * resends it, and as the new primary builds its NEW-VIEW from it and
 * computes the new history it re-issues from it.  NULL: no rewriting.
 */
typedef void (*zz_vc_rewrite_fn) (void *ctx, zz_buf *vc);
extern void zz_replica_set_vc_rewrite(zz_replica *r, zz_vc_rewrite_fn fn, void *ctx);
#endif

/*
 * The replica's invariants (docs/protocol.md, "Invariants"): positions
 * stable <= committed <= executed <= max within the window; the log's
 * history chain h_n = H(h_{n-1} || n || d) from the stable checkpoint; the
 * max CC and the entered view's certificate inside the log; the client
 * table agreeing with the log (each client's last request where the
 * table says, no (client, t) executed twice); what the mode implies.
 * Returns a description of the first one broken, or NULL; the string
 * lasts until the next call in the thread.  Cheap enough to call after
 * every step (one hash per log entry): the simulator does, and debug and
 * test builds (without NDEBUG, or with ZZ_FAULT_INJECTION) assert it at
 * the end of zz_replica_receive, zz_replica_tick and
 * zz_replica_execute_done.
 */
extern const char *zz_replica_check(const zz_replica *r);

/*
 * Inspection for the simulator's checker: the executed history is reported
 * as (seq, h_seq) pairs through a callback, from the stable checkpoint to
 * the last executed seq; committed marks what can never be rolled back
 * (at or below the stable checkpoint).
 */
typedef void (*zz_history_visit) (void *ctx, zz_seq seq, const zz_digest *h,
								  zz_view view, bool committed);
extern void zz_replica_visit_history(const zz_replica *r, zz_history_visit fn, void *ctx);

#endif							/* ZZ_REPLICA_H */
