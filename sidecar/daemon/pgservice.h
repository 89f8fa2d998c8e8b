/*
 * pgservice.h
 *	  The replicated service as a PostgreSQL database, through libpq.
 *
 * Each ordered batch becomes one call of zyzzyva.apply_batch() (the
 * extension, sql/) in one transaction, with
 * zyzzyva.state_digest() in the same transaction when the core wants the
 * digest (every checkpoint).  The connection is non-blocking, in pipeline
 * mode, and watched by the reactor: execute() sends the batch and returns
 * ZZ_EXEC_PENDING; the replies go to the core when the result arrives.
 * rollback() and mark_stable() are queued on the same pipeline, so the
 * database sees every operation in the order the core asked for it.
 *
 * A lost connection or a failed batch is repaired, not fatal: reconnect
 * with backoff, read the database's position (zyzzyva.status), bring it to
 * the core's (roll back what the core no longer has, replay what the
 * database lost from the batches kept since the stable checkpoint), and
 * send the batch the core is waiting for again.  What cannot be repaired
 * (a database ahead of the core beyond its stable checkpoint, or behind it
 * beyond the kept batches: a sidecar restarted on a populated database)
 * stalls this replica with a clear log line and status; the others carry
 * on.  Full recovery from the database is issue 6.
 */
#ifndef ZZD_PGSERVICE_H
#define ZZD_PGSERVICE_H

#include "event.h"
#include "message.h"
#include "replica.h"
#include "service.h"

typedef struct pgsvc pgsvc;

typedef struct pgsvc_hooks
{
	void	   *arg;

	/*
	 * The view and history digest h_seq of the batch at seq, which the core
	 * is executing (zz_service.execute does not pass them; the database
	 * records them with the batch).  False if unknown.
	 */
	bool		(*label) (void *arg, zz_seq seq, zz_view *view, zz_digest *history);

	/* A batch finished: hand its result to the core (ownership passes). */
	void		(*done) (void *arg, zz_exec_result *res);

	/*
	 * Recovery (see zz_replica_save_stable and zz_replica_resume).
	 * save_stable: what the core keeps of its stable checkpoint seq, stored
	 * with it in zyzzyva.replica_state.stable_proof.  resume: at the first
	 * connection, what the database kept, for a core that starts afresh;
	 * false if the core refuses it.  ready: the database's position is
	 * known (resumed or not), so the core may start.  diverged: the
	 * database's rows no longer match its state digest; the core should
	 * stop answering and repair by state transfer.
	 */
	bool		(*save_stable) (void *arg, zz_seq seq, zz_buf *out);
	bool		(*resume) (void *arg, const uint8_t *blob, size_t len);
	void		(*ready) (void *arg);
	void		(*diverged) (void *arg);

	/*
	 * Restart with the history (zz_replica_save_order and
	 * zz_replica_resume_history; NULL: not used).  order: the ORDER-REQ of
	 * the batch at seq the core is executing, stored with the batch
	 * (zyzzyva.batch_order, 0.2).  resume_history: at the first
	 * connection, the kept checkpoint (NULL: none yet) and the ORDER-REQs
	 * stored above it, for a core that starts afresh; *until: where the
	 * history it took back ends.  False if the core refuses the
	 * checkpoint.
	 */
	bool		(*order) (void *arg, zz_seq seq, zz_buf *out);
	bool		(*resume_history) (void *arg, const uint8_t *blob, size_t len,
								   const zz_kept_order *orders, uint32_t n, zz_seq *until);

	/*
	 * Chunked state transfer (pgtransfer.c).  serve_state: answer replica
	 * to's STATE-REQUEST for checkpoint seq with data in place of the
	 * snapshot (zz_replica_serve_state).  install_done: the install the
	 * core started ended (zz_replica_install_done).  send_transfer: queue
	 * a transfer frame to a replica; false if it cannot now.
	 */
	bool		(*serve_state) (void *arg, uint32_t to, zz_seq seq, const uint8_t *data,
								size_t len);
	void		(*install_done) (void *arg, bool ok);
	bool		(*send_transfer) (void *arg, uint32_t to, uint8_t type, const uint8_t *buf,
								  size_t len);
} pgsvc_hooks;

/* What pgsvc_condition reports (zyzzyva.status.condition). */
typedef enum pgsvc_cond
{
	PGSVC_NORMAL = 0,
	PGSVC_CATCHING_UP,			/* resumed, not yet back where the database was */
	PGSVC_STATE_TRANSFER,		/* fetching a checkpoint from the others */
	PGSVC_DIVERGED,				/* rows changed behind the extension's back */
	PGSVC_STALLED				/* the database cannot follow the core */
} pgsvc_cond;

/* The service over conninfo (a libpq connection string). */
/* verify_interval points into the configuration (it follows a reload). */
extern pgsvc *pgsvc_create(ev_loop *loop, const char *conninfo, uint32_t replica_id,
						   const pgsvc_hooks *hooks, const zz_time *verify_interval);

/*
 * Commit the batches' transactions asynchronously (synchronous_commit =
 * off on the batch connection; stable checkpoints stay durable).  Takes
 * effect at the next connection: call before pgsvc_start.
 */
extern void pgsvc_set_batch_commit(pgsvc *ps, bool async);

/*
 * The core's checkpoint_interval: a sidecar that takes back its history
 * reads batches from batch_log only up to the first checkpoint above the
 * database's stable one, whose state digest the database can still give.
 */
extern void pgsvc_set_checkpoint_interval(pgsvc *ps, uint32_t cp_interval);

/* Start connecting (in the background; execute() may be called at once). */
extern void pgsvc_start(pgsvc *ps);

/* The vtable the replica executes against. */
extern const zz_service *pgsvc_service(pgsvc *ps);

/*
 * The replica's condition, as the shell sees it from the core
 * (transfer_seq: the checkpoint a state transfer fetches, 0 if none):
 * written to zyzzyva.replica_state whenever it changes, with detail.
 */
extern void pgsvc_set_transfer(pgsvc *ps, zz_seq transfer_seq, zz_seq last_executed);

/*
 * No checkpoint certificate can form above stable checkpoint stable_seq
 * (the replicas' states differ; line says how): condition diverged, with
 * line as its detail, until a checkpoint above stable_seq is stable.
 */
extern void pgsvc_set_halted(pgsvc *ps, zz_seq stable_seq, const char *line);

/* A transfer frame (FT_XFER_*) from authenticated replica `from`. */
extern void pgsvc_transfer_frame(pgsvc *ps, uint32_t from, uint8_t type, const uint8_t *p,
								 size_t len);

/* The chunk size and the rate per requester (bytes/s, 0: no limit); they
 * point into the configuration (they follow a reload). */
extern void pgsvc_set_transfer_limits(pgsvc *ps, const uint64_t *chunk_bytes,
									  const uint64_t *rate);

/* Append status lines (pg_*: connection, position, counters). */
extern void pgsvc_status(const pgsvc *ps, zz_buf *out);

/* Close the connection and free everything. */
extern void pgsvc_free(pgsvc *ps);

#endif							/* ZZD_PGSERVICE_H */
