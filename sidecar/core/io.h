/*
 * io.h
 *	  How the core's state machines hand messages to their shell.
 *
 * The core never performs I/O.  When a state machine wants to send, it
 * calls these hooks with an encoded message; the shell (the simulator or
 * zyzzyvad) copies the bytes before returning and delivers them later, or
 * not at all.  Delivery back into the core is by zz_replica_receive /
 * zz_client_receive.
 */
#ifndef ZZ_IO_H
#define ZZ_IO_H

#include "types.h"

/* What an operator must see: the events zz_io.notice reports. */
typedef enum zz_notice_kind
{
	ZZ_NOTICE_VIEW,				/* a view change: asked for, started, entered */
	ZZ_NOTICE_CHECKPOINT_LATE,	/* our checkpoint has no certificate after a while */
	ZZ_NOTICE_DIVERGED,			/* no checkpoint certificate can form: replicas' states differ */
	ZZ_NOTICE_CATCHUP			/* a catch-up by replay ended: from, to, batches, time */
} zz_notice_kind;

typedef struct zz_io
{
	void	   *ctx;
	/* Send to one replica (never to self; the core handles its own copy). */
	void		(*to_replica) (void *ctx, uint32_t replica, const uint8_t *buf, size_t len);
	/* Send to one client. */
	void		(*to_client) (void *ctx, uint32_t client, const uint8_t *buf, size_t len);
	/* Optional: a line of trace for humans (simulator traces, daemon debug log). */
	void		(*trace) (void *ctx, const char *line);

	/*
	 * Optional: an event an operator must see (a line for the log: view
	 * changes with their reason and duration, a checkpoint that is late or
	 * can never become stable).  Never a hot path.
	 */
	void		(*notice) (void *ctx, zz_notice_kind kind, const char *line);

	/*
	 * Optional: the replica is about to commit to view `view` for good: it
	 * sends a VIEW-CHANGE for it, or enters it on its NEW-VIEW.  A shell
	 * that restarts the replica from its own storage
	 * (zz_replica_resume_history) keeps the highest such view durably
	 * before returning and hands it back as min_view, so that a restarted
	 * replica never takes part again in a view it left.  Rare: once per
	 * view change.
	 */
	void		(*keep_view) (void *ctx, zz_view view);
} zz_io;

#endif							/* ZZ_IO_H */
