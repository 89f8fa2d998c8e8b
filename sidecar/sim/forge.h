/*
 * forge.h
 *	  Byzantine behaviour for faulty replicas in the simulator.
 *
 * A faulty replica runs the real replica code; its misbehaviour is added
 * in the simulator's I/O layer (rewriting what it sends, with its own keys:
 * a faulty node has its own secrets and nobody else's) and in its service
 * (lying replies).
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
 */
#ifndef ZZ_SIM_FORGE_H
#define ZZ_SIM_FORGE_H

#include "crypto.h"
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
 * new-view rule must survive them), re-signed with its own key:
 *	VC_WITHHOLD			report no ORDER-REQ entries and no commit certificate
 *	VC_STALE_CC			report the oldest commit certificate it ever had
 *						instead of its current one (the Abraham et al. move)
 */
typedef enum zz_vc_lie
{
	ZZ_VC_HONEST = 0,
	ZZ_VC_WITHHOLD,
	ZZ_VC_STALE_CC
} zz_vc_lie;

typedef struct zz_forger zz_forger;

extern zz_forger *zz_forger_create(const zz_params *p, uint32_t replica,
								   zz_crypto *crypto, zz_forge_mode mode,
								   uint32_t victims, zz_view fork_view,
								   zz_seq fork_at, bool lie_checkpoints,
								   zz_vc_lie vc_lie);
extern const char *zz_vc_lie_name(zz_vc_lie l);
extern void zz_forger_free(zz_forger *fg);
extern const char *zz_forge_mode_name(zz_forge_mode m);

/*
 * A message the faulty replica sends to replica `to`.  Returns NULL to
 * send it unchanged, or a malloc'd replacement of *outlen bytes.
 */
extern uint8_t *zz_forger_rewrite(zz_forger *fg, uint32_t to, const uint8_t *buf,
								  size_t len, size_t *outlen);

#endif							/* ZZ_SIM_FORGE_H */
