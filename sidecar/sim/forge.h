/*
 * forge.h
 *	  Byzantine behaviour for faulty replicas in the simulator.
 *
 * A faulty replica runs the real replica code; its misbehaviour is added
 * in the simulator's I/O layer (rewriting, dropping, delaying or replaying
 * what it sends, with its own keys: a faulty node has its own secrets and
 * nobody else's) and in its service (lying replies, sim.c).  The forger
 * also sees what the faulty replica receives, so it can keep certificates
 * and ORDER-REQs to lie with later.
 *
 * The equivocating primary: while it leads fork_view, the ORDER-REQs it
 * sends to a victim set are replaced from fork_at on by a forged branch:
 *	FORGE_BAD_HISTORY	the ORDER-REQ at fork_at carries a corrupted h_n
 *						(nothing else changes; a correct victim must refuse it)
 *	FORGE_DUPLICATE		the batch at fork_at also carries a request ordered
 *						earlier (a correct victim must not execute it twice)
 *	FORGE_DROP			the batch at fork_at loses its last request (or, if
 *						that is its only one, it becomes an old request)
 *	FORGE_ND			nd_time / nd_seed change from fork_at on (d covers them)
 * Branches that change a batch are re-chained (new d, new h_n) and every
 * later ORDER-REQ to a victim is re-chained and re-signed consistently, so
 * the victims see a well-formed history that differs from the others'.
 *
 * A silent primary sends no ORDER-REQ from silent_from on and no NEW-VIEW
 * in any view it leads; a slow one sends them late by `slow`, which the
 * simulator keeps just under the timeouts that would expose it.  Any
 * faulty replica may also omit, delay or replay any message it sends.
 */
#ifndef ZZ_SIM_FORGE_H
#define ZZ_SIM_FORGE_H

#include "crypto.h"
#include "message.h"
#include "rng.h"
#include "types.h"

typedef enum zz_forge_mode
{
	ZZ_FORGE_NONE = 0,
	ZZ_FORGE_BAD_HISTORY,
	ZZ_FORGE_DUPLICATE,
	ZZ_FORGE_DROP,
	ZZ_FORGE_ND
} zz_forge_mode;

/*
 * Lies in the faulty replica's own VIEW-CHANGE messages (section 8: the
 * new-view rule must survive them), re-signed with its own key, in the
 * VIEW-CHANGEs it sends and in any NEW-VIEW it builds as a new primary:
 *	VC_WITHHOLD			report only the entries below withhold_from (0: no
 *						entries at all), and no certificate beyond them
 *	VC_STALE_CC			report an older commit certificate it saw, with the
 *						entries (from its own records) that lead to it: the
 *						one for (stale_view, stale_seq), or if stale_seq is
 *						0 the one from the lowest view (the Abraham et al.
 *						move)
 *	VC_FORGED_CC		report a certificate for its last entry that 2f+1
 *						replicas never signed (its own signature copied)
 */
typedef enum zz_vc_lie
{
	ZZ_VC_HONEST = 0,
	ZZ_VC_WITHHOLD,
	ZZ_VC_STALE_CC,
	ZZ_VC_FORGED_CC,
	ZZ_VC_DUP_SIGNER_CC,
	ZZ_VC_WRONG_VIEW_CC,
	ZZ_VC_STALE_CP
} zz_vc_lie;

#define ZZ_VC_LIES 7

/*
 * Messages a faulty replica builds itself, at the message level, rather
 * than rewriting what its replica sends:
 *	pom_any_seq		on an ORDER-REQ of a second sequence number in a view,
 *					a POM of two ORDER-REQs of different n from the (correct)
 *					primary, to every replica: valid signatures, no lie
 *					but the claim
 *	forge_ahead		on an ORDER-REQ (v, n) from the primary, an ORDER-REQ
 *					(v, n+1) built by this backup, chained on h_n, holding a
 *					request of the same client it made up (timestamp 10^6+n,
 *					MACs it cannot compute), to every other backup: signed
 *					with its own key (foreign) or, with FORGE_SIG_BAD,
 *					garbage; a victim missing n buffers it (fill-hole path)
 *	state_lie		its STATE-REPLYs carry a client table it changed and a
 *					checkpoint digest made to match (the signatures no longer do)
 *	nv_victims		as a new primary, its NEW-VIEW to these replicas is built
 *					from another set of VIEW-CHANGEs: without nv_exclude's
 *					(different NEW-VIEWs to different replicas)
 */
typedef enum zz_forge_sig
{
	ZZ_FORGE_SIG_OWN = 0,		/* its own key: valid, but not the primary's */
	ZZ_FORGE_SIG_BAD			/* bytes that verify under no key */
} zz_forge_sig;

/* Everything one faulty replica does wrong.  All zero: nothing. */
typedef struct zz_forge_config
{
	zz_forge_mode mode;			/* equivocation, while leading fork_view */
	uint32_t	victims;		/* bit per replica */
	zz_view		fork_view;
	zz_seq		fork_at;
	bool		lie_checkpoints;	/* CHECKPOINT with a wrong state digest */
	zz_vc_lie	vc_lie;
	zz_seq		withhold_from;
	zz_view		stale_view;
	zz_seq		stale_seq;
	bool		stale_newest;	/* stale-cc: the highest-view one, not the lowest */
	bool		stale_relabel;	/* stale-cc: relabelled with the latest view */
	bool		silent;			/* as primary: see above */
	zz_seq		silent_from;
	zz_time		slow;			/* as primary: delay ORDER-REQ, NEW-VIEW */
	uint32_t	omit_ppm;		/* any message: dropped with this chance */
	uint32_t	delay_ppm;		/* any message: delayed ... */
	zz_time		delay_max;		/* ... by up to this */
	uint32_t	replay_ppm;		/* per message: also resend an old one */
	bool		pom_any_seq;	/* message-level forgeries: see above */
	bool		forge_ahead;
	zz_forge_sig ahead_sig;
	bool		state_lie;
	bool		lc_any;			/* LOCAL-COMMIT every COMMIT, in its current view */
	uint32_t	nv_victims;		/* bit per replica */
	uint32_t	nv_exclude;		/* replica id */
	bool		vc_consistent;	/* it acts on its VIEW-CHANGE lie itself */
} zz_forge_config;

/* A message the forger builds itself, for the replicas in to (bit each). */
typedef struct zz_forge_msg
{
	uint32_t	to;
	uint8_t    *buf;			/* malloc'd */
	size_t		len;
} zz_forge_msg;

#define ZZ_FORGE_MAX_MSGS 4

/* What to do with one message the faulty replica sends. */
typedef struct zz_forge_out
{
	uint8_t    *buf;			/* malloc'd replacement, or NULL: unchanged */
	size_t		len;
	bool		drop;			/* send nothing (buf is NULL) */
	zz_time		delay;			/* extra delay */
	uint8_t    *replay;			/* malloc'd: an old message to send as well */
	size_t		replay_len;
	bool		replay_to_replica;
	uint32_t	replay_to;
} zz_forge_out;

typedef struct zz_forger zz_forger;

extern zz_forger *zz_forger_create(const zz_params *p, uint32_t replica,
								   zz_crypto *crypto, const zz_forge_config *cfg);
extern void zz_forger_free(zz_forger *fg);

/* Change behaviour mid-run (scenarios; a crashed primary's peers calm down). */
extern void zz_forger_configure(zz_forger *fg, const zz_forge_config *cfg);
extern const zz_forge_config *zz_forger_config(const zz_forger *fg);

/*
 * A VIEW-CHANGE for view v that nobody asked for: its latest one, with the
 * new view changed to v, its own I-HATE for v-1 signed and the others'
 * proofs kept as they were, re-signed.  Short of f others hating v-1 it
 * cannot be valid.  False if it has sent no VIEW-CHANGE yet.
 */
extern bool zz_forger_view_change_for(zz_forger *fg, zz_view v, zz_buf *out);

/*
 * With lc_any: the LOCAL-COMMIT it answers a COMMIT with, naming view (the
 * one its replica is in), whatever the certificate and its own log say:
 * MACed with its own key for the client, as any replica can.  False if
 * the message is no COMMIT (or lc_any is off); *client is the addressee.
 */
extern bool zz_forger_local_commit(zz_forger *fg, const uint8_t *buf, size_t len,
								   zz_view view, zz_buf *out, uint32_t *client);

/*
 * A faulty replica that lies consistently (vc_consistent): the core's
 * zz_vc_rewrite_fn (replica.h), ctx the forger.  It replaces the
 * VIEW-CHANGE its replica built by the lie (vc_lie) before the replica
 * uses it, so the replica sends the lie, builds its NEW-VIEW from it as
 * the new primary and re-issues the new history computed from it: it does
 * not act on its honest VIEW-CHANGE.  The lie then needs no rewriting on
 * the way out (zz_forger_send leaves VIEW-CHANGEs and NEW-VIEWs alone).
 * Without vc_consistent (or with no lie) it changes nothing.
 */
extern void zz_forger_rewrite_own_vc(void *ctx, zz_buf *vc);

/* The views of the commit certificates it keeps, a bit each (views 0..63). */
extern uint64_t zz_forger_cc_views(const zz_forger *fg);

extern const char *zz_forge_mode_name(zz_forge_mode m);
extern const char *zz_vc_lie_name(zz_vc_lie l);

/*
 * A message the faulty replica sends to replica or client `to`.  rng is
 * the simulator's (omission, delay, replay draw from it).
 */
extern void zz_forger_send(zz_forger *fg, zz_rng *rng, bool to_replica, uint32_t to,
						   const uint8_t *buf, size_t len, zz_forge_out *out);

/*
 * A message the faulty replica receives: certificates, ORDER-REQs and
 * VIEW-CHANGEs to keep, and the
 * messages it builds in answer (at most ZZ_FORGE_MAX_MSGS into out; the
 * caller sends and frees them).  Returns how many.
 */
extern int	zz_forger_observe(zz_forger *fg, const uint8_t *buf, size_t len,
							  zz_forge_msg *out);

#endif							/* ZZ_SIM_FORGE_H */
