/*
 * forge_int.h
 *	  The faulty replica's records (struct zz_forger), shared by forge.c
 *	  (equivocation, checkpoints, message-level forgeries, sending) and
 *	  forge_vc.c (VIEW-CHANGE and NEW-VIEW lies).
 */
#ifndef ZZ_FORGE_INT_H
#define ZZ_FORGE_INT_H

#include "forge.h"
#include "message.h"
#include "replica_int.h"

#define FG_VARIANTS		6		/* ORDER-REQs kept per seq */
#define FG_MAX_CCS		128		/* certificates kept (the oldest stay) */
#define FG_REPLAY_RING	16		/* sent messages kept for replaying */
#define FG_MAX_SEQ		(1u << 20)
#define FG_VC_VIEWS		8		/* VIEW-CHANGEs kept for the latest views */

/* What the victims were sent at one seq of the fork view. */
typedef struct fg_slot
{
	bool		valid;			/* h is known */
	zz_digest	h;				/* the h_n the victims hold at this seq */
	uint8_t    *bytes;			/* forged ORDER-REQ, if rewritten */
	size_t		len;
} fg_slot;

/* ORDER-REQs seen at one seq. */
typedef struct fg_log
{
	uint8_t		n;
	zz_order_req *v[FG_VARIANTS];
} fg_log;

typedef struct fg_sent
{
	uint8_t    *bytes;
	size_t		len;
	bool		to_replica;
	uint32_t	to;
} fg_sent;

struct zz_forger
{
	zz_params	p;
	uint32_t	id;
	zz_crypto  *crypto;
	zz_forge_config cfg;
	zz_seq		fork_at;		/* moves up if the fork cannot start yet */

	fg_slot    *slots;			/* equivocation, by seq */
	zz_seq		nslots;
	zz_order_req *old;			/* an earlier ORDER-REQ, for duplicates */

	fg_log	   *log;			/* ORDER-REQs seen, by seq */
	zz_seq		nlog;
	zz_commit_cert *ccs;		/* certificates seen */
	uint32_t	nccs;
	bool		has_old_cp;		/* the lowest stable checkpoint proof seen */
	zz_cp_proof old_cp;

	fg_sent		ring[FG_REPLAY_RING];
	uint32_t	ring_next;

	/* Message-level forgeries (forge.h). */
	zz_view		pom_view;		/* the view a crafted POM went out in (+1) */
	zz_seq		ahead_last;		/* the last n+1 forged ahead */
	zz_view		ahead_view;
	struct
	{
		zz_view		view;
		uint8_t    *raw[ZZ_MAX_N];	/* VIEW-CHANGE bytes by sender */
		size_t		len[ZZ_MAX_N];
	}			vcs[FG_VC_VIEWS];

	zz_buf		out;
	zz_buf		sb;
};

/* forge.c */
uint8_t    *zz_forge_dup_bytes(const uint8_t *p, size_t len, size_t *outlen);
void		zz_forge_log_view_change(zz_forger *fg, const zz_view_change *m);

/* forge_vc.c: a VIEW-CHANGE or NEW-VIEW rewritten with the configured lie */
uint8_t    *zz_forge_rewrite_view_change(zz_forger *fg, const uint8_t *buf, size_t len,
										 size_t *outlen);
uint8_t    *zz_forge_rewrite_new_view(zz_forger *fg, const uint8_t *buf, size_t len,
									  size_t *outlen);

#endif							/* ZZ_FORGE_INT_H */
