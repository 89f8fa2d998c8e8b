/*
 * checker.h
 *	  The simulator's invariant checker (protocol.md section 10).
 *
 * The simulator feeds it what happens, step by step; each feed checks the
 * invariants it can affect, so the cost per step stays small.  Tests feed
 * it directly to show that each invariant catches a planted violation.
 *
 * Invariants (correct replicas and correct clients only):
 *	agreement		 completions and committed entries at one seq carry one
 *					 h_seq (ZZ_V_AGREEMENT);
 *	chain			 one (seq, h_seq) never sits on two different h_{seq-1}
 *					 at correct replicas: h binds the whole prefix (ZZ_V_CHAIN);
 *	validity		 a completed reply equals the reply every correct replica
 *					 that executed that (seq, h_seq) produced for (c, t), and
 *					 at least one correct replica produced it (ZZ_V_VALIDITY);
 *	exactly-once	 no (c, t) twice in a correct replica's live (not rolled
 *					 back) execution, no (c, t) completing twice
 *					 (ZZ_V_EXACTLY_ONCE);
 *	checkpoints		 stable checkpoints at one seq have one state digest
 *					 (ZZ_V_CHECKPOINT);
 *	liveness		 once the fault period is over, each outstanding request
 *					 completes within a bound; all complete by the end; and
 *					 a correct replica that is up reaches, within the same
 *					 bound, any stable checkpoint of a correct replica
 *					 that f+1 correct replicas hold a certificate above (a
 *					 replica left behind one holds up every quorum it is
 *					 needed in) (ZZ_V_LIVENESS);
 *	recovery		 after the primary-crash probe (sim.c), the new view and
 *					 the clients' requests within 3T (ZZ_V_RECOVERY; the
 *					 simulator checks it, the checker records it);
 *	step rules		 a correct replica that has sent VIEW-CHANGE sends no
 *					 LOCAL-COMMIT beyond what that VIEW-CHANGE certifies
 *					 until it moves to the new view: the CC it would vouch
 *					 for is missing from the VIEW-CHANGE it already sent
 *					 (ZZ_V_PROTOCOL).
 */
#ifndef ZZ_SIM_CHECKER_H
#define ZZ_SIM_CHECKER_H

#include "client.h"
#include "sim.h"
#include "types.h"

typedef struct zz_checker zz_checker;

extern zz_checker *zz_checker_create(uint32_t n_replicas, uint32_t n_clients);
extern void zz_checker_free(zz_checker *ck);

/* Byzantine nodes are not held to the invariants. */
extern void zz_checker_set_faulty_replica(zz_checker *ck, uint32_t replica);
extern void zz_checker_set_faulty_client(zz_checker *ck, uint32_t client);
extern bool zz_checker_replica_correct(const zz_checker *ck, uint32_t replica);

/* Where the run is, for violation messages. */
extern void zz_checker_set_clock(zz_checker *ck, zz_time now, uint64_t step);

/* Violations are also reported as trace lines, if set. */
extern void zz_checker_set_trace(zz_checker *ck, zz_sim_trace_fn fn, void *ctx);

/* ---- from a correct replica's service (the recording shim) ---- */
extern void zz_checker_executed(zz_checker *ck, uint32_t replica, zz_seq seq,
								uint32_t client, uint64_t ts,
								const uint8_t *reply, uint32_t len);
extern void zz_checker_rolled_back(zz_checker *ck, uint32_t replica, zz_seq seq);
extern void zz_checker_installed(zz_checker *ck, uint32_t replica, zz_seq seq);

/*
 * ---- from inspecting a replica (zz_replica_visit_history) ----
 * A visit reports one replica's entries in rising seq order between
 * begin and end.
 */
extern void zz_checker_visit_begin(zz_checker *ck, uint32_t replica);
extern void zz_checker_history(zz_checker *ck, uint32_t replica, zz_seq seq,
							   const zz_digest *h, bool committed);
extern void zz_checker_stable(zz_checker *ck, uint32_t replica, zz_seq seq,
							  const zz_digest *state);

/* Its highest certified checkpoint (for the liveness of stable checkpoints). */
extern void zz_checker_certified(zz_checker *ck, uint32_t replica, zz_seq seq);

/* A replica crashed (down) or restarted: a crashed one is not held back. */
extern void zz_checker_replica_down(zz_checker *ck, uint32_t replica, bool down);

/*
 * A replica sends a LOCAL-COMMIT for seq while in view replica_view, having
 * sent VIEW-CHANGE(vc_view) whose CC or checkpoint reached vc_seq.  Until
 * it enters vc_view, committing beyond vc_seq vouches for a CC that its
 * VIEW-CHANGE does not carry.
 */
extern void zz_checker_local_commit_sent(zz_checker *ck, uint32_t replica,
										 zz_seq seq, zz_view replica_view,
										 zz_view vc_view, zz_seq vc_seq);

/* ---- from clients ---- */
extern void zz_checker_submitted(zz_checker *ck, uint32_t client, uint64_t ts,
								 zz_time now);
extern void zz_checker_completed(zz_checker *ck, uint32_t client,
								 const zz_completion *c);

/*
 * Liveness: every outstanding request of a correct client must complete
 * by max(submitted, calm) + bound, calm being the end of the fault period,
 * and a correct replica that is up must reach a correct replica's stable
 * checkpoint that f+1 correct replicas hold a certificate above by
 * max(fell behind it, calm) + bound.  The
 * deadline tells the shell when to check again (UINT64_MAX: none; while a
 * replica lags the run must not end before it).
 */
extern void zz_checker_liveness(zz_checker *ck, zz_time now, zz_time calm, zz_time bound);
extern zz_time zz_checker_liveness_deadline(const zz_checker *ck, zz_time calm,
											zz_time bound);

/* End of run: outstanding requests fail liveness; completions need a witness. */
extern void zz_checker_finish(zz_checker *ck);

/* The witness part alone (scenarios assert completions themselves). */
extern void zz_checker_check_witnesses(zz_checker *ck);

/* Report a violation found by the shell itself (e.g. the step limit). */
extern void zz_checker_fail(zz_checker *ck, unsigned kind, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

extern unsigned zz_checker_violations(const zz_checker *ck);
extern const char *zz_checker_first(const zz_checker *ck, uint64_t *step, zz_time *when);

#endif							/* ZZ_SIM_CHECKER_H */
