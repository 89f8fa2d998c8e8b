/*
 * pgpipe.h
 *	  A pipelined libpq connection in the reactor.
 *
 * One non-blocking connection in pipeline mode, its socket watched by the
 * reactor, reconnected with backoff (50 ms doubling to 2 s) whenever it
 * fails.  Work is sent as "ops": the caller sends one or more statements
 * with PQsend* on pgpipe_conn(), then pgpipe_push() adds the Sync and
 * queues the op.  The statements of one op run as one implicit
 * transaction (everything between two Syncs does).  Results come back in
 * the order the ops were sent; when all of an op's are in, the done
 * handler gets the op with one PGresult per statement, or the first error.
 *
 * pgservice.c applies each batch, with its state digest, as one op.
 */
#ifndef ZZD_PGPIPE_H
#define ZZD_PGPIPE_H

#include <libpq-fe.h>

#include "event.h"
#include "log.h"
#include "message.h"

#define PGPIPE_MAX_STMTS	6

typedef struct pgpipe pgpipe;

/* Statements sent up to a Sync, and then their results. */
typedef struct pgpipe_op
{
	/* the caller's, as given to pgpipe_push */
	int			kind;
	zz_seq		seq;
	uint64_t	gen;
	int			nstmts;
	zz_time		sent;

	/* the results, when done */
	PGresult   *res[PGPIPE_MAX_STMTS];
	bool		failed;			/* an error, or fewer results than statements */
	char		sqlstate[6];
	char		errmsg[400];

	/* private */
	struct pgpipe_op *next;
	int			got;
	bool		in_stmt;
} pgpipe_op;

typedef struct pgpipe_handlers
{
	void	   *arg;
	/* a new session is up: prepare statements, read where the database is */
	void		(*connected) (void *arg);
	/* an op's results are all in (the op is freed after the call) */
	void		(*done) (void *arg, pgpipe_op *op);
	/* the connection is gone, and the ops in flight with it */
	void		(*lost) (void *arg);
} pgpipe_handlers;

extern pgpipe *pgpipe_create(ev_loop *loop, const char *conninfo, const char *appname,
							 const pgpipe_handlers *h);
extern void pgpipe_free(pgpipe *p);

/* Start connecting. */
extern void pgpipe_start(pgpipe *p);

/* The connection to send statements on; NULL unless connected. */
extern PGconn *pgpipe_conn(const pgpipe *p);

/*
 * After sending an op's statements: send the Sync, queue the op and flush.
 * NULL if the connection failed (it is dropped: the lost handler runs).
 */
extern pgpipe_op *pgpipe_push(pgpipe *p, int kind, zz_seq seq, uint64_t gen, int nstmts);

/* A send on pgpipe_conn() failed: drop the connection and reconnect later. */
extern void pgpipe_fail(pgpipe *p);

/* Drop the connection on purpose (the session is unusable); reconnect later. */
extern void pgpipe_reset(pgpipe *p);

/* Ops sent and not done. */
extern uint32_t pgpipe_inflight(const pgpipe *p);

/* Sessions opened so far. */
extern uint64_t pgpipe_connects(const pgpipe *p);

/* "down", "connecting" or "up". */
extern const char *pgpipe_state(const pgpipe *p);

/*
 * Log a problem with the database, once per distinct message every 10 s
 * (a database that is down must not flood the log at every retry), on one
 * line; the last one is kept for the status.
 */
extern void pgpipe_log(pgpipe *p, zlog_level level, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern const char *pgpipe_last_error(const pgpipe *p);

#endif							/* ZZD_PGPIPE_H */
