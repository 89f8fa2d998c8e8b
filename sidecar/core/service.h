/*
 * service.h
 *	  The replicated service the core executes against.
 *
 * A replica hands each ordered batch to the service in sequence order.  The
 * service must be deterministic: the same batches in the same order with the
 * same nondeterministic inputs (nd_time, nd_seed) give the same replies and
 * the same state digest on every correct replica.
 *
 * Because Zyzzyva executes speculatively, the service must be able to roll
 * back to an earlier sequence number (undo everything executed above it),
 * but never below the last stable checkpoint, which the core announces
 * with mark_stable so the service can drop undo information below it.
 *
 * Execution may be asynchronous (a database applies batches through a
 * connection): execute() either completes at once and returns
 * ZZ_EXEC_DONE, or returns ZZ_EXEC_PENDING and the caller later hands the
 * result to zz_replica_execute_done().  The in-memory key-value service
 * always completes at once.  The core may hand over up to exec_window
 * batches (types.h) before the first is done; results must come back in
 * sequence order, and execute() may return ZZ_EXEC_DONE only when every
 * batch handed over before is done.  rollback(seq) may also be called
 * with batches above seq handed over and not done: the service drops
 * them (their results never reach the core) and undoes them if it
 * applied them.  install() likewise drops whatever is in flight.
 */
#ifndef ZZ_SERVICE_H
#define ZZ_SERVICE_H

#include "types.h"

typedef struct zz_op
{
	uint32_t	client;
	uint64_t	timestamp;
	const uint8_t *data;
	uint32_t	len;
} zz_op;

/* One reply; data is malloc'd by the service and freed by the core. */
typedef struct zz_reply
{
	uint8_t    *data;
	uint32_t	len;
} zz_reply;

typedef struct zz_exec_result
{
	zz_seq		seq;
	uint32_t	count;
	zz_reply   *replies;		/* count replies, malloc'd array */
	bool		has_digest;
	zz_digest	state;			/* state digest after seq, if asked for */
} zz_exec_result;

typedef enum zz_exec_status
{
	ZZ_EXEC_DONE = 0,
	ZZ_EXEC_PENDING = 1,
	ZZ_EXEC_FAILED = 2			/* the service cannot go on (I/O failure) */
} zz_exec_status;

typedef struct zz_service
{
	void	   *ctx;

	/*
	 * Execute ops[0..count) at sequence number seq.  If want_digest, also
	 * return the state digest after this batch.  On ZZ_EXEC_DONE, fill res.
	 */
	zz_exec_status (*execute) (void *ctx, zz_seq seq, uint64_t nd_time,
							   uint64_t nd_seed, const zz_op *ops,
							   uint32_t count, bool want_digest,
							   zz_exec_result *res);

	/*
	 * Undo every batch executed above seq, and drop those handed over
	 * above it.  False if it cannot.
	 */
	bool		(*rollback) (void *ctx, zz_seq seq);

	/* seq is a stable checkpoint: undo information at or below it may go. */
	void		(*mark_stable) (void *ctx, zz_seq seq);

	/*
	 * State transfer: serialize the state as of stable checkpoint seq into
	 * a malloc'd buffer, or install such a buffer (replacing all state)
	 * after checking it against the expected digest (history is h_seq, for
	 * services that record it).  Either may be NULL
	 * for services that do not support it.
	 */
	bool		(*snapshot) (void *ctx, zz_seq seq, uint8_t **out, size_t *outlen);
	bool		(*install) (void *ctx, zz_seq seq, const zz_digest *history,
							const uint8_t *data, size_t len, const zz_digest *expect);

	/*
	 * Asynchronous state transfer (optional; NULL: the two above only).
	 *
	 * serve: replica `to` asked for the state of our certified checkpoint
	 * seq.  1: the service prepares it and answers later through
	 * zz_replica_serve_state (with the bytes that take the snapshot's
	 * place: a manifest of chunks it then streams itself); 0: not now
	 * (dropped); -1: use snapshot.
	 *
	 * install_start: like install, for the bytes a peer's serve sent.  1:
	 * the install runs in the background (fetching the rest from replica
	 * `from`) and ends with zz_replica_install_done; 0: refused; -1: use
	 * install.
	 */
	int			(*serve) (void *ctx, uint32_t to, zz_seq seq);
	int			(*install_start) (void *ctx, uint32_t from, zz_seq seq,
								  const zz_digest *history, const uint8_t *data,
								  size_t len, const zz_digest *expect);
} zz_service;

extern void zz_exec_result_free(zz_exec_result *res);

#endif							/* ZZ_SERVICE_H */
