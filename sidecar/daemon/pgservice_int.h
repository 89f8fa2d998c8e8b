/*
 * pgservice_int.h
 *	  What pgservice.c (applying batches) and pgrecover.c (resume, the
 *	  digest check, state transfer, the condition) share: the service's
 *	  state.  Not for other files: they use pgservice.h.
 */
#ifndef ZZD_PGSERVICE_INT_H
#define ZZD_PGSERVICE_INT_H

#include "pgpipe.h"
#include "pgservice.h"

#define PG_INT8OID			20
#define PG_BYTEAOID			17
#define PG_INT4OID			23

typedef enum pg_op_kind
{
	OP_SETUP,
	OP_POSITION,
	OP_BATCH,
	OP_LOOKUP,
	OP_ROLLBACK,
	OP_STABLE,
	OP_CONDITION,
	OP_ORDERS
} pg_op_kind;


extern const char *const pg_cond_names[];

/* A batch the core handed over, kept until its seq is a stable checkpoint. */
typedef struct pg_batch
{
	zz_seq		seq;
	zz_view		view;
	zz_digest	history;
	uint64_t	nd_time;
	uint64_t	nd_seed;
	uint32_t	count;
	bool		want_digest;
	uint8_t    *req;			/* the requests bytea of apply_batch */
	size_t		req_len;
	zz_buf		order;			/* its ORDER-REQ, for keep_order (empty: none) */
	uint64_t	gen;
	bool		has_digest;		/* the state digest after it (checkpoints) */
	zz_digest	digest;
	bool		done;			/* its result went to the core */
	bool		sent;			/* an op for it is in the pipeline */
} pg_batch;

struct pgsvc
{
	ev_loop    *loop;
	char	   *conninfo;
	uint32_t	replica_id;
	PGconn	   *side;			/* blocking connection for state transfer */
	pgpipe	   *check;			/* the digest check's own connection */
	const zz_time *verify_interval;
	bool		verify_due;		/* a stable checkpoint passed: check when you can */
	bool		verify_inflight;
	zz_time		verify_last;	/* when the last check started */
	pgsvc_hooks hooks;
	zz_service	svc;
	pgpipe	   *pipe;

	uint32_t	cp_interval;	/* the core's checkpoint_interval (0: unknown) */
	bool		batch_commit_async; /* batches commit without waiting for
									 * their WAL flush (docs/durability.md) */
	bool		ready;			/* this session is set up */
	bool		repairing;		/* an op failed: drain, then reread the position */
	bool		stalled;		/* the database cannot be brought to the core's position */
	char		stall_reason[300];
	zz_seq		failing_seq;	/* the batch the database failed to apply ... */
	uint32_t	failures;		/* ... this many times in a row (0: none) */
	char		failure_reason[300];
	uint64_t	timer;			/* repair, or recheck when stalled */
	zz_time		retry_delay;

	pg_batch   *log;			/* ascending seq */
	size_t		nlog;
	size_t		caplog;
	uint64_t	next_gen;

	zz_seq		executed;		/* the last batch whose result the core has */
	zz_seq		db_expect;		/* the database's position once the queue is done */
	zz_seq		db_stable;		/* its stable checkpoint, as last read */
	zz_seq		lookup_until;	/* batches up to here come from batch_log */
	zz_seq		stable;			/* the core's stable checkpoint */
	bool		stable_has_digest;	/* ... and our state digest at it */
	zz_digest	stable_digest;
	zz_seq		stable_sent;
	zz_buf		stable_blob;	/* the core's part of checkpoint stable */
	bool		stable_resend;	/* send mark_stable(stable) again, with the blob */

	/* recovery */
	bool		started;		/* the first position was read */
	zz_seq		resumed_at;		/* resumed at this stable checkpoint (0: not) */
	zz_seq		resume_until;	/* where the database was: catching up to here */
	bool		diverged;		/* rows no longer match the digest */
	zz_seq		halted_above;	/* no certificate can form above this stable one */
	bool		halted;
	char		halt_reason[200];
	zz_seq		transfer_seq;	/* the core fetches this checkpoint */
	pgsvc_cond	cond;
	char		cond_detail[200];
	bool		cond_sent;		/* the database has cond and cond_detail */
	bool		cond_unsupported;	/* no zyzzyva.set_condition (logged once) */

	/* restart with the history (pgresume.c) */
	bool		keep_orders;	/* the database has zyzzyva.batch_order (0.2) */
	zz_buf		resume_blob;	/* its kept checkpoint, while the orders are read */
	bool		resume_has_blob;
	zz_seq		resume_db_seq;	/* ... and its position */
	zz_seq		resume_db_stable;

#ifdef ZZ_FAULT_INJECTION
	/* fault injection for the recovery tests (environment, see pgsvc_create) */
	bool		test_corrupt_snapshot;
	bool		test_exit_on_transfer;
#endif

	/* counters for the status */
	uint64_t	batches;
	uint64_t	requests;
	uint64_t	apply_us;
	uint64_t	errors;
	uint64_t	rollbacks;
	uint64_t	replayed;
	uint64_t	looked_up;
	uint64_t	stale;
	uint64_t	verified;
	uint64_t	verify_failures;
	uint64_t	snapshots_served;
	uint64_t	snapshots_cached;	/* ... of them from the cache */

	/* the last checkpoint state served, kept for the next STATE-REQUEST */
	zz_seq		snap_seq;
	uint8_t    *snap;
	size_t		snap_len;
	uint64_t	installs;
	uint64_t	install_failures;
	uint32_t	installs_refused;	/* in a row, by the extension (ZZ001) */
	char		side_sqlstate[6];	/* of the side connection's last failure */
	struct pgxfer *xfer;		/* chunked state transfer (pgtransfer.c) */
};

/*
 * A batch the database failed to apply this many times in a row makes the
 * replica report itself stalled (it keeps retrying).
 */
#define PG_STALLED_AFTER_FAILURES	2

/* pgservice.c */
extern void pg_forget(pgsvc *ps, zz_seq seq, bool below);
extern bool pg_can_send(const pgsvc *ps);

extern void pg_reconcile(pgsvc *ps, zz_seq db_seq, zz_seq db_stable);

/* pgresume.c */
#define PG_SQL_HAS_ORDERS \
	"SELECT pg_catalog.to_regclass('zyzzyva.batch_order') IS NOT NULL"
extern bool pg_send_keep_order(pgsvc *ps, const pg_batch *b);
extern bool pg_resume_with_orders(pgsvc *ps, const PGresult *pos, zz_seq db_seq,
								  zz_seq db_stable);
extern void pg_orders_result(pgsvc *ps, pgpipe_op *o);

/* pgrecover.c */
extern void pg_log_bad_checkpoint(zz_seq db_stable);
extern void pg_first_position(pgsvc *ps, const PGresult *r, zz_seq db_seq, zz_seq db_stable);
extern void pg_maybe_verify(pgsvc *ps);
extern void pg_send_condition(pgsvc *ps);
extern void pg_update_condition(pgsvc *ps);
extern void pg_check_connected(void *arg);
extern void pg_check_done(void *arg, pgpipe_op *o);
extern void pg_check_lost(void *arg);
extern bool pg_snapshot(void *ctx, zz_seq seq, uint8_t **out, size_t *outlen);
extern bool pg_install(void *ctx, zz_seq seq, const zz_digest *history, const uint8_t *data,
					   size_t len, const zz_digest *expect);
#ifdef ZZ_FAULT_INJECTION
extern void pg_test_exit_on_transfer(pgsvc *ps, zz_seq seq);
#endif
extern void pg_install_failed(pgsvc *ps, zz_seq seq, const char *sqlstate);
extern void pg_installed(pgsvc *ps, zz_seq seq, const zz_digest *expect, const char *rows);

/* pgtransfer.c */
extern bool pgx_create(pgsvc *ps);
extern void pgx_start(pgsvc *ps);
extern void pgx_status(const pgsvc *ps, zz_buf *out);
extern void pgx_free(pgsvc *ps);

/*
 * While transfer_seq is fetched: whether this database cannot install the
 * chunked transfers it is sent (its extension is 0.1), with the reason in
 * why.
 */
extern bool pgx_install_blocked(pgsvc *ps, zz_seq transfer_seq, char *why, size_t len);
extern int	pgx_serve(void *ctx, uint32_t to, zz_seq seq);
extern int	pgx_install_start(void *ctx, uint32_t from, zz_seq seq, const zz_digest *history,
							  const uint8_t *data, size_t len, const zz_digest *expect);

#endif							/* ZZD_PGSERVICE_INT_H */
