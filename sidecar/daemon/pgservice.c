/*
 * pgservice.c
 *	  The replicated service as a PostgreSQL database (see pgservice.h).
 *
 * The connection is a pgpipe (pgpipe.c): non-blocking, in pipeline mode,
 * in the reactor, reconnected with backoff.  Everything sent to the
 * database is an op of one or more statements ended by a Sync, so each op
 * is one transaction:
 *
 *	 SETUP		prepare apply and digest; does the database store ORDER-REQs
 *				(0.2); read the position (zyzzyva.status)
 *	 POSITION	read the position again (after an error)
 *	 BATCH		apply_batch(seq, view, h_seq, nd_time, nd_seed, requests)
 *				[+ state_digest() when the core wants the digest]
 *				[+ keep_order(seq, view, ORDER-REQ) on a 0.2 database]
 *	 ORDERS		the stored ORDER-REQs above the stable checkpoint (once, at
 *				the first position, before the core starts)
 *	 LOOKUP		the replies of a batch the database already applied
 *				(zyzzyva.batch_log), when it is ahead of the core
 *	 ROLLBACK	rollback_to(seq)
 *	 STABLE		mark_stable(seq, digest, kept checkpoint)
 *	 CONDITION	set_condition(condition, detail) for the status view
 *
 * Results come back in the order the ops were sent; the op queue matches
 * them up.  The core hands over up to exec_window batches before the
 * first is done (execute.c), so the database has the next batch queued
 * while it applies one; they are sent in sequence order and their results
 * reach the core in that order.  If one fails, the ones queued behind it
 * fail too (apply_batch refuses a gap) or, after an error of another kind,
 * are not reported: the repair below rereads the position and sends them
 * again.
 *
 * The batches the core handed over are kept, with their encoded requests,
 * until their sequence number is a stable checkpoint: the one the core is
 * waiting for is sent again after an error, and the others can be applied
 * again if the database lost them.  Each execute() call gets a generation
 * number; a result whose generation no longer matches a kept batch belongs
 * to a batch the core dropped (rolled back while in flight) and is
 * discarded, and the database is rolled back past it.
 *
 * Error handling is one procedure, "repair": stop sending, let the queue
 * drain, wait (backoff), read the database's position and bring it to the
 * core's: the number of batches whose results the core has (executed).
 * A lost connection does the same after reconnecting.
 *
 * Recovery (issue 6).  At each stable checkpoint the core's part of it
 * (the proof, the service digest, the client table) is stored with
 * mark_stable, in the transaction that drops the undo below it.  On a 0.2
 * database each batch also stores the ORDER-REQ it was ordered by
 * (keep_order, same transaction), and a sidecar that starts on it resumes
 * its core at the checkpoint with that history (pgresume.c,
 * zz_replica_resume_history): the batches the core takes back come from
 * batch_log, and only what lies above them is rolled back.  On a 0.1
 * database a sidecar that starts resumes its core at the stable
 * checkpoint (zz_replica_resume), rolls the database back to it, and
 * fetches the batches above from the other replicas.  After a stable
 * checkpoint, at most once per verify_interval, a second pipelined
 * connection rechecks the rows against the incremental digest
 * (verify_digest, in a REPEATABLE READ snapshot: it reads every replicated
 * row, so it must not hold up the batches); rows changed behind the
 * extension's back make this replica "diverged": the core stops answering
 * and repairs itself by state transfer.  State transfer itself (snapshot,
 * install) runs on a third, blocking connection, bounded by
 * statement_timeout: snapshot reads the rows as of a checkpoint in a
 * REPEATABLE READ transaction, install replaces them after checking them
 * against the certified digest.  The recovery parts live in pgrecover.c;
 * pgservice_int.h is what the two files share.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgcall.h"
#include "pgpipe.h"
#include "pgservice_int.h"

#define PG_RETRY_MIN		(50 * 1000)		/* first repair delay */
#define PG_RETRY_MAX		(2 * 1000 * 1000)	/* cap of the backoff */
#define PG_STALL_RETRY		(5 * 1000 * 1000)	/* recheck a stalled database */

#define PG_SQL_APPLY \
	"SELECT reply FROM zyzzyva.apply_batch($1, $2, $3, $4, $5, $6) ORDER BY request"
#define PG_SQL_DIGEST		"SELECT zyzzyva.state_digest()"
#define PG_SQL_POSITION \
	"SELECT last_seq, stable_seq, stable_proof FROM zyzzyva.replica_state WHERE id = 1"
#define PG_SQL_LOOKUP \
	"SELECT history, replies FROM zyzzyva.batch_log WHERE seq = $1"
#define PG_SQL_ROLLBACK		"SELECT zyzzyva.rollback_to($1)"
#define PG_SQL_STABLE		"SELECT zyzzyva.mark_stable($1, $2, $3)"
#define PG_SQL_ASYNC		"SET synchronous_commit = off"

static const char *const pg_op_names[] = {
	"setup", "position", "batch", "lookup", "rollback", "mark_stable", "set_condition",
	"orders"
};

static void pg_send_pending(pgsvc *ps);
static void pg_timer(ev_loop *loop, uint64_t id, void *arg);

/* ------------------------------------------------------------------------
 * The kept batches
 * ------------------------------------------------------------------------ */

/*
 * Find a kept batch by generation; NULL if the core dropped it.
 */
static pg_batch *
pg_batch_by_gen(pgsvc *ps, uint64_t gen)
{
	for (size_t i = ps->nlog; i-- > 0;)
		if (ps->log[i].gen == gen)
			return &ps->log[i];
	return NULL;
}

static pg_batch *
pg_batch_by_seq(pgsvc *ps, zz_seq seq)
{
	for (size_t i = ps->nlog; i-- > 0;)
		if (ps->log[i].seq == seq)
			return &ps->log[i];
	return NULL;
}

/*
 * Forget kept batches above seq (rolled back) or, with below, at or below
 * seq that are done (a stable checkpoint).
 */
void
pg_forget(pgsvc *ps, zz_seq seq, bool below)
{
	size_t		k = 0;

	for (size_t i = 0; i < ps->nlog; i++)
	{
		pg_batch   *b = &ps->log[i];
		bool		drop = below ? (b->seq <= seq && b->done) : b->seq > seq;

		if (drop)
		{
			free(b->req);
			zz_buf_free(&b->order);
		}
		else
			ps->log[k++] = *b;
	}
	ps->nlog = k;
}

/* Is a batch waiting for its result? */
static bool
pg_has_pending(const pgsvc *ps)
{
	for (size_t i = 0; i < ps->nlog; i++)
		if (!ps->log[i].done)
			return true;
	return false;
}

bool
pg_can_send(const pgsvc *ps)
{
	return pgpipe_conn(ps->pipe) != NULL && ps->ready && !ps->repairing && !ps->stalled;
}

/* ------------------------------------------------------------------------
 * Sending
 * ------------------------------------------------------------------------ */

/*
 * Arm the one timer (repair, recheck) to fire after delay.
 */
static void
pg_arm_timer(pgsvc *ps, zz_time delay)
{
	if (ps->timer != 0)
		ev_del_timer(ps->loop, ps->timer);
	ps->timer = ev_add_timer(ps->loop, ev_now() + delay, pg_timer, ps);
}

/*
 * The next repair delay: doubling from PG_RETRY_MIN to PG_RETRY_MAX.
 */
static zz_time
pg_backoff(pgsvc *ps)
{
	zz_time		d = ps->retry_delay;

	ps->retry_delay = d * 2 > PG_RETRY_MAX ? PG_RETRY_MAX : d * 2;
	return d;
}

/*
 * The start of a connection: prepare the two statements every batch uses,
 * and read where the database is.
 */
static void
pg_send_setup(pgsvc *ps)
{
	PGconn	   *conn = pgpipe_conn(ps->pipe);
	Oid			types[6] = {PG_INT8OID, PG_INT8OID, PG_BYTEAOID, PG_INT8OID, PG_INT8OID,
	PG_BYTEAOID};

	/*
	 * Asynchronous batch commit (docs/durability.md): this session's
	 * transactions (batches, rollbacks, the condition) do not wait for
	 * their WAL flush; mark_stable forces its own.  Synchronous: the
	 * server's own setting.
	 */
	if ((ps->batch_commit_async &&
		 PQsendQueryParams(conn, PG_SQL_ASYNC, 0, NULL, NULL, NULL, NULL, 0) != 1) ||
		PQsendPrepare(conn, "zz_apply", PG_SQL_APPLY, 6, types) != 1 ||
		PQsendPrepare(conn, "zz_digest", PG_SQL_DIGEST, 0, NULL) != 1 ||
		PQsendQueryParams(conn, PG_SQL_HAS_ORDERS, 0, NULL, NULL, NULL, NULL, 0) != 1 ||
		PQsendQueryParams(conn, PG_SQL_POSITION, 0, NULL, NULL, NULL, NULL, 1) != 1)
	{
		pgpipe_fail(ps->pipe);
		return;
	}
	(void) pgpipe_push(ps->pipe, OP_SETUP, 0, 0, ps->batch_commit_async ? 5 : 4);
}

/*
 * Read the database's position again (repair).
 */
static void
pg_send_position(pgsvc *ps)
{
	PGconn	   *conn = pgpipe_conn(ps->pipe);

	if (PQsendQueryParams(conn, PG_SQL_POSITION, 0, NULL, NULL, NULL, NULL, 1) != 1)
	{
		pgpipe_fail(ps->pipe);
		return;
	}
	(void) pgpipe_push(ps->pipe, OP_POSITION, 0, 0, 1);
}

/*
 * One administrative call: rollback_to(seq), or mark_stable(seq, digest,
 * kept) with our state digest at seq when we have it and the core's part
 * of the checkpoint, followed by a check of the rows against the digest.
 */
static void
pg_send_admin(pgsvc *ps, pg_op_kind kind, zz_seq seq)
{
	PGconn	   *conn = pgpipe_conn(ps->pipe);
	uint8_t		v[8];
	const char *values[3] = {(const char *) v, (const char *) ps->stable_digest.b,
	(const char *) ps->stable_blob.data};
	int			lengths[3] = {8, ZZ_DIGEST_LEN, (int) ps->stable_blob.len};
	int			formats[3] = {1, 1, 1};
	Oid			types[3] = {PG_INT8OID, PG_BYTEAOID, PG_BYTEAOID};
	int			nparams = 1;

	pgcall_put_u64(v, seq);
	if (kind == OP_STABLE)
	{
		nparams = 3;
		if (!ps->stable_has_digest)
			values[1] = NULL;	/* SQL NULL */
		if (ps->stable_blob.len == 0)
			values[2] = NULL;
	}
	if (PQsendQueryParams(conn, kind == OP_ROLLBACK ? PG_SQL_ROLLBACK : PG_SQL_STABLE,
						  nparams, types, values, lengths, formats, 0) != 1)
	{
		pgpipe_fail(ps->pipe);
		return;
	}
	if (kind == OP_ROLLBACK)
		ps->db_expect = seq;
	else
		ps->stable_sent = seq;
	(void) pgpipe_push(ps->pipe, kind, seq, 0, 1);
}

/*
 * Apply kept batch b (its state digest too, if the core wants it).
 */
static void
pg_send_batch(pgsvc *ps, pg_batch *b)
{
	PGconn	   *conn = pgpipe_conn(ps->pipe);
	uint8_t		seq[8],
				view[8],
				ndt[8],
				nds[8];
	const char *values[6] = {(const char *) seq, (const char *) view,
		(const char *) b->history.b, (const char *) ndt, (const char *) nds,
	(const char *) b->req};
	int			lengths[6] = {8, 8, ZZ_DIGEST_LEN, 8, 8, (int) b->req_len};
	int			formats[6] = {1, 1, 1, 1, 1, 1};
	bool		digest = b->want_digest && !b->done;
	bool		keep = ps->keep_orders && b->order.len > 0;

	pgcall_put_u64(seq, b->seq);
	pgcall_put_u64(view, b->view);
	pgcall_put_u64(ndt, b->nd_time);
	pgcall_put_u64(nds, b->nd_seed);
	/* its ORDER-REQ goes last, in the same transaction (pgresume.c) */
	if (PQsendQueryPrepared(conn, "zz_apply", 6, values, lengths, formats, 1) != 1 ||
		(digest && PQsendQueryPrepared(conn, "zz_digest", 0, NULL, NULL, NULL, 1) != 1) ||
		(keep && !pg_send_keep_order(ps, b)))
	{
		pgpipe_fail(ps->pipe);
		return;
	}
	b->sent = true;
	ps->db_expect = b->seq;
	(void) pgpipe_push(ps->pipe, OP_BATCH, b->seq, b->gen, 1 + digest + keep);
}

/*
 * Ask the database for the replies it recorded for batch b (it applied b
 * before this sidecar knew), and its digest if b is its last batch.
 */
static void
pg_send_lookup(pgsvc *ps, pg_batch *b)
{
	PGconn	   *conn = pgpipe_conn(ps->pipe);
	uint8_t		v[8];
	const char *values[1] = {(const char *) v};
	int			lengths[1] = {8};
	int			formats[1] = {1};
	Oid			types[1] = {PG_INT8OID};
	bool		digest = b->want_digest && b->seq == ps->lookup_until;

	pgcall_put_u64(v, b->seq);
	if (PQsendQueryParams(conn, PG_SQL_LOOKUP, 1, types, values, lengths, formats, 1) != 1 ||
		(digest && PQsendQueryPrepared(conn, "zz_digest", 0, NULL, NULL, NULL, 1) != 1))
	{
		pgpipe_fail(ps->pipe);
		return;
	}
	b->sent = true;
	(void) pgpipe_push(ps->pipe, OP_LOOKUP, b->seq, b->gen, digest ? 2 : 1);
}

/*
 * Send every batch the core waits for that is not in the pipeline yet.
 */
static void
pg_send_pending(pgsvc *ps)
{
	for (size_t i = 0; i < ps->nlog && pg_can_send(ps); i++)
	{
		pg_batch   *b = &ps->log[i];

		if (b->done || b->sent)
			continue;
		if (b->seq <= ps->lookup_until)
			pg_send_lookup(ps, b);
		else
			pg_send_batch(ps, b);
	}
}

/*
 * Tell the database about the core's stable checkpoint once it has
 * applied that batch.
 */
static void
pg_maybe_mark_stable(pgsvc *ps)
{
	if (pg_can_send(ps) &&
		((ps->stable > ps->stable_sent && ps->stable > ps->db_stable) || ps->stable_resend) &&
		ps->stable <= ps->executed && ps->stable <= ps->db_expect)
	{
		ps->stable_resend = false;
		pg_send_admin(ps, OP_STABLE, ps->stable);
	}
}

/*
 * Something failed: stop sending, let the pipeline drain, then (after a
 * backoff) read the position and bring the database to the core's.
 */
static void
pg_repair(pgsvc *ps)
{
	if (!ps->repairing)
		ps->errors++;
	ps->repairing = true;
	if (pgpipe_inflight(ps->pipe) == 0)
		pg_arm_timer(ps, pg_backoff(ps));
}

/*
 * The database cannot follow the core: say why, loudly, and keep checking
 * (an operator may fix it).
 */
static void
pg_stall(pgsvc *ps, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(ps->stall_reason, sizeof(ps->stall_reason), fmt, ap);
	va_end(ap);
	ps->stalled = true;
	pgpipe_log(ps->pipe, ZLOG_ERROR, "this replica cannot execute: %s", ps->stall_reason);
	pg_arm_timer(ps, PG_STALL_RETRY);
}

/*
 * Bring the database, at db_seq (stable checkpoint db_stable), to the
 * core's position (executed), then send what the core waits for.
 */
void
pg_reconcile(pgsvc *ps, zz_seq db_seq, zz_seq db_stable)
{
	bool		was_stalled = ps->stalled;

	ps->stalled = false;
	ps->repairing = false;
	ps->db_expect = db_seq;
	ps->db_stable = db_stable;
	/* a mark_stable lost with the session is sent again */
	ps->stable_sent = db_stable;
	for (size_t i = 0; i < ps->nlog; i++)
		ps->log[i].sent = false;
	if (ps->lookup_until > db_seq)
		ps->lookup_until = db_seq;	/* it lost some: apply them again */

	if (db_seq > ps->executed)
	{
		if (ps->lookup_until > ps->executed)
		{
			/*
			 * Batches up to lookup_until come from batch_log (the core took
			 * back its history, pgresume.c, or an earlier session was
			 * reading them): keep them, roll back only what lies above.
			 */
			if (db_seq > ps->lookup_until)
			{
				zlog(ZLOG_WARNING, "postgres: the database is at batch %llu, this replica "
					 "takes back its history up to %llu: rolling the rest back",
					 (unsigned long long) db_seq, (unsigned long long) ps->lookup_until);
				pg_send_admin(ps, OP_ROLLBACK, ps->lookup_until);
			}
		}
		else if (ps->executed >= db_stable)
		{
			zlog(ZLOG_WARNING, "postgres: the database is at batch %llu, this replica at %llu: "
				 "rolling the database back", (unsigned long long) db_seq,
				 (unsigned long long) ps->executed);
			pg_send_admin(ps, OP_ROLLBACK, ps->executed);
		}
		else
		{
			/*
			 * Ahead beyond its stable checkpoint: a sidecar restarted on its
			 * database.  The batches the core executes again are taken from
			 * batch_log (checked against their history digest) until the
			 * core catches up.
			 */
			ps->lookup_until = db_seq;
			zlog(ZLOG_WARNING, "postgres: the database is at batch %llu (stable checkpoint "
				 "%llu) but this sidecar has executed only %llu: batches up to %llu are "
				 "taken from zyzzyva.batch_log, not applied again (a sidecar restarted on its "
				 "database)", (unsigned long long) db_seq,
				 (unsigned long long) db_stable, (unsigned long long) ps->executed,
				 (unsigned long long) db_seq);
		}
	}
	else if (db_seq < ps->executed)
	{
		for (zz_seq s = db_seq + 1; s <= ps->executed; s++)
		{
			if (pg_batch_by_seq(ps, s) == NULL)
			{
				pg_stall(ps, "the database is at batch %llu but this replica executed %llu, "
						 "and batch %llu is no longer kept (below the stable checkpoint "
						 "%llu): it needs recovery by state transfer",
						 (unsigned long long) db_seq, (unsigned long long) ps->executed,
						 (unsigned long long) s, (unsigned long long) ps->stable);
				return;
			}
		}
		zlog(ZLOG_WARNING, "postgres: the database lost batches %llu .. %llu (restored from "
			 "an older backup, or written without synchronous commit?): applying them again",
			 (unsigned long long) db_seq + 1, (unsigned long long) ps->executed);
		for (zz_seq s = db_seq + 1; s <= ps->executed && pg_can_send(ps); s++)
		{
			ps->replayed++;
			pg_send_batch(ps, pg_batch_by_seq(ps, s));
		}
	}
	if (was_stalled && !ps->stalled)
		zlog(ZLOG_INFO, "postgres: the database is usable again");
	ps->retry_delay = PG_RETRY_MIN;
	pg_send_pending(ps);
	pg_maybe_mark_stable(ps);
	pg_send_condition(ps);
}

/* ------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------ */

/*
 * A reply too large for the protocol becomes an error reply.  Every
 * correct replica computes the same reply, so every one replaces it the
 * same way.
 */
static bool
pg_reply_too_large(zz_reply *out)
{
	static const char msg[] = "reply too large for the replication protocol";
	uint32_t	ml = (uint32_t) strlen(msg);

	out->len = 1 + 5 + 4 + ml;
	out->data = malloc(out->len);
	if (out->data == NULL)
		return false;
	out->data[0] = 'E';
	memcpy(out->data + 1, "54000", 5);
	pgcall_put_u32(out->data + 6, ml);
	memcpy(out->data + 10, msg, ml);
	return true;
}

/*
 * Copy one reply into out.
 */
static bool
pg_copy_reply(const uint8_t *p, size_t len, zz_reply *out)
{
	if (len > ZZ_MAX_REPLY_LEN)
		return pg_reply_too_large(out);
	out->len = (uint32_t) len;
	out->data = malloc(len ? len : 1);
	if (out->data == NULL)
		return false;
	memcpy(out->data, p, len);
	return true;
}

/*
 * Read a state digest result (one 32-byte bytea, binary).
 */
static bool
pg_read_digest(const PGresult *r, zz_digest *out)
{
	if (r == NULL || PQntuples(r) != 1 || PQgetisnull(r, 0, 0) ||
		PQgetlength(r, 0, 0) != ZZ_DIGEST_LEN)
		return false;
	memcpy(out->b, PQgetvalue(r, 0, 0), ZZ_DIGEST_LEN);
	return true;
}

/*
 * Hand a finished batch to the core.  Last thing a caller does: the core
 * may call back into the service (the next execute, a rollback), which
 * may move the kept batches.
 */
static void
pg_complete(pgsvc *ps, pg_batch *b, zz_exec_result *res, const pgpipe_op *o)
{
	b->done = true;
	ps->executed = b->seq;
	if (ps->lookup_until != 0 && ps->executed >= ps->lookup_until)
		ps->lookup_until = 0;
	ps->batches++;
	ps->requests += b->count;
	ps->apply_us += ev_now() - o->sent;
	pg_maybe_mark_stable(ps);
	if (ps->failures > 0)
	{
		zlog(ZLOG_INFO, "postgres: batch %llu applied after %u failure%s",
			 (unsigned long long) b->seq, ps->failures, ps->failures == 1 ? "" : "s");
		ps->failures = 0;
		pg_update_condition(ps);
	}
	ps->hooks.done(ps->hooks.arg, res);
}

/*
 * The database failed to apply a batch.  A request's own failure is its
 * reply (the extension catches it, whatever its SQLSTATE), so this is a
 * failure of the database itself: a cancel, disk full when recording the
 * batch, a crash.  Retry it (repair); after PG_STALLED_AFTER_FAILURES in a
 * row, say so in the condition: the replica is stalled on this batch, and
 * why.
 */
static void
pg_batch_failed(pgsvc *ps, const pgpipe_op *o)
{
	/*
	 * A batch queued behind one that failed: the database refused it for
	 * the missing predecessor.  Not a failure of its own (the count is of
	 * the first), and the repair sends it again.
	 */
	if (ps->repairing)
		return;
	if (ps->failures > 0 && ps->failing_seq == o->seq)
		ps->failures++;
	else
		ps->failures = 1;
	ps->failing_seq = o->seq;
	snprintf(ps->failure_reason, sizeof(ps->failure_reason),
			 "the database failed batch %llu %u time%s (%s: %.150s); retrying",
			 (unsigned long long) o->seq, ps->failures, ps->failures == 1 ? "" : "s",
			 o->sqlstate, o->errmsg);
	pgpipe_log(ps->pipe, ZLOG_ERROR, "batch %llu failed in the database (attempt %u), "
			   "not because of a request: %s: %s", (unsigned long long) o->seq,
			   ps->failures, o->sqlstate, o->errmsg);
	pg_repair(ps);
	if (ps->failures >= PG_STALLED_AFTER_FAILURES)
		pg_update_condition(ps);
}

/*
 * A BATCH op finished.
 */
static void
pg_batch_result(pgsvc *ps, const pgpipe_op *o)
{
	pg_batch   *b = pg_batch_by_gen(ps, o->gen);
	const PGresult *r = o->res[0];
	zz_exec_result res;

	if (o->failed)
	{
		pg_batch_failed(ps, o);
		return;
	}
	if (ps->repairing)
		return;					/* behind a failed op: the repair sends it again */
	if (b == NULL || b->done)
	{
		if (b == NULL)
		{
			/* The core dropped it while it was in flight: undo it here too. */
			ps->stale++;
			if (!pg_has_pending(ps) && ps->db_expect > ps->executed && pg_can_send(ps))
				pg_send_admin(ps, OP_ROLLBACK, ps->executed);
		}
		return;					/* (a replayed batch: nothing to report) */
	}
	if (r == NULL || PQntuples(r) != (int) b->count || PQnfields(r) != 1)
	{
		pgpipe_log(ps->pipe, ZLOG_ERROR, "batch %llu: apply_batch returned %d replies for %u requests",
					 (unsigned long long) b->seq, r ? PQntuples(r) : -1, b->count);
		pg_repair(ps);
		return;
	}
	memset(&res, 0, sizeof(res));
	res.seq = b->seq;
	res.count = b->count;
	res.replies = calloc(b->count ? b->count : 1, sizeof(zz_reply));
	if (res.replies == NULL)
		abort();
	for (uint32_t i = 0; i < b->count; i++)
	{
		if (PQgetisnull(r, (int) i, 0) ||
			!pg_copy_reply((const uint8_t *) PQgetvalue(r, (int) i, 0),
						   (size_t) PQgetlength(r, (int) i, 0), &res.replies[i]))
		{
			zz_exec_result_free(&res);
			pgpipe_log(ps->pipe, ZLOG_ERROR, "batch %llu: reply %u is missing",
						 (unsigned long long) b->seq, i);
			pg_repair(ps);
			return;
		}
	}
	if (b->want_digest)
	{
		if (!pg_read_digest(o->res[1], &res.state))
		{
			zz_exec_result_free(&res);
			pgpipe_log(ps->pipe, ZLOG_ERROR, "batch %llu: state_digest() gave no 32-byte digest",
						 (unsigned long long) b->seq);
			pg_repair(ps);
			return;
		}
		res.has_digest = true;
		b->has_digest = true;
		b->digest = res.state;
	}
	pg_complete(ps, b, &res, o);
}

/*
 * A LOOKUP op finished: the replies the database recorded for a batch it
 * applied before this sidecar started, if it is the same batch.
 */
static void
pg_lookup_result(pgsvc *ps, const pgpipe_op *o)
{
	pg_batch   *b = pg_batch_by_gen(ps, o->gen);
	const PGresult *r = o->res[0];
	zz_exec_result res;
	const uint8_t *p;
	size_t		left;

	if (b == NULL || b->done || (ps->repairing && !o->failed))
		return;
	if (o->failed)
	{
		pgpipe_log(ps->pipe, ZLOG_ERROR, "reading batch %llu from zyzzyva.batch_log failed: %s: %s",
					 (unsigned long long) o->seq, o->sqlstate, o->errmsg);
		pg_repair(ps);
		return;
	}
	if (r != NULL && PQntuples(r) == 1 && PQgetlength(r, 0, 0) == ZZ_DIGEST_LEN &&
		memcmp(PQgetvalue(r, 0, 0), b->history.b, ZZ_DIGEST_LEN) != 0 &&
		b->seq > ps->db_stable && pg_can_send(ps))
	{
		/*
		 * The core's batch at seq is not the one the database applied: a
		 * view change discarded the database's (a history taken back after
		 * a restart reached further than the new view's).  Undo it and
		 * what follows, and apply the core's.
		 */
		zlog(ZLOG_WARNING, "postgres: the database applied another batch %llu than this "
			 "replica executes there (discarded by a view change): rolling it back",
			 (unsigned long long) b->seq);
		ps->lookup_until = b->seq - 1 > ps->executed ? b->seq - 1 : 0;
		pg_send_admin(ps, OP_ROLLBACK, b->seq - 1);
		b->sent = false;
		pg_send_pending(ps);
		return;
	}
	if (r == NULL || PQntuples(r) != 1 || PQgetlength(r, 0, 0) != ZZ_DIGEST_LEN ||
		memcmp(PQgetvalue(r, 0, 0), b->history.b, ZZ_DIGEST_LEN) != 0)
	{
		pg_stall(ps, "the database applied a batch %llu %s; it cannot follow this replica "
				 "without recovery by state transfer", (unsigned long long) b->seq,
				 r != NULL && PQntuples(r) == 1 ? "with another history digest"
				 : "that zyzzyva.batch_log no longer holds");
		return;
	}
	memset(&res, 0, sizeof(res));
	res.seq = b->seq;
	res.count = b->count;
	res.replies = calloc(b->count ? b->count : 1, sizeof(zz_reply));
	if (res.replies == NULL)
		abort();
	p = (const uint8_t *) PQgetvalue(r, 0, 1);
	left = (size_t) PQgetlength(r, 0, 1);
	if (left < 4 || pgcall_get_u32(p) != b->count)
		goto malformed;
	p += 4;
	left -= 4;
	for (uint32_t i = 0; i < b->count; i++)
	{
		uint32_t	len;

		if (left < 4 || (len = pgcall_get_u32(p)) > left - 4 ||
			!pg_copy_reply(p + 4, len, &res.replies[i]))
			goto malformed;
		p += 4 + len;
		left -= 4 + len;
	}
	if (o->nstmts == 2 && pg_read_digest(o->res[1], &res.state))
	{
		res.has_digest = true;
		b->has_digest = true;
		b->digest = res.state;
	}
	else if (b->want_digest)
		zlog(ZLOG_WARNING, "postgres: no state digest for checkpoint %llu taken from batch_log",
			 (unsigned long long) b->seq);
	ps->looked_up++;
	pg_complete(ps, b, &res, o);
	return;

malformed:
	zz_exec_result_free(&res);
	pg_stall(ps, "zyzzyva.batch_log holds malformed replies for batch %llu",
			 (unsigned long long) b->seq);
}

/*
 * Read "last_seq, stable_seq, stable_proof" (binary).
 */
static bool
pg_read_position(const PGresult *r, zz_seq *seq, zz_seq *stable)
{
	if (r == NULL || PQntuples(r) != 1 || PQnfields(r) != 3 ||
		PQgetisnull(r, 0, 0) || PQgetisnull(r, 0, 1) ||
		PQgetlength(r, 0, 0) != 8 || PQgetlength(r, 0, 1) != 8)
		return false;
	*seq = pgcall_get_u64((const uint8_t *) PQgetvalue(r, 0, 0));
	*stable = pgcall_get_u64((const uint8_t *) PQgetvalue(r, 0, 1));
	return true;
}

/*
 * An op's results are all in: act on them.
 */
static void
pg_finish_op(pgsvc *ps, pgpipe_op *o)
{
	zz_seq		db_seq,
				db_stable;

	if (zlog_enabled(ZLOG_DEBUG))
		zlog(ZLOG_DEBUG, "postgres: %s %llu %s in %llu us", pg_op_names[o->kind],
			 (unsigned long long) o->seq, o->failed ? "failed" : "done",
			 (unsigned long long) (ev_now() - o->sent));
	switch (o->kind)
	{
		case OP_SETUP:
		case OP_POSITION:
			if (o->failed || !pg_read_position(o->res[o->nstmts - 1], &db_seq, &db_stable))
			{
				pgpipe_log(ps->pipe, ZLOG_ERROR, "cannot read the replica's position: %s: %s%s",
							 o->failed ? o->sqlstate : "-",
							 o->failed ? o->errmsg : "unexpected result",
							 strcmp(o->sqlstate, "42P01") == 0 || strcmp(o->sqlstate, "3F000") == 0 ||
							 strcmp(o->sqlstate, "42883") == 0
							 ? " (is the extension created? CREATE EXTENSION zyzzyva)" : "");
				pgpipe_reset(ps->pipe);
				return;
			}
			if (o->kind == OP_SETUP)
			{
				ps->ready = true;
				ps->cond_sent = false;
				zlog(ZLOG_INFO, "postgres: the database is at batch %llu (stable checkpoint %llu); "
					 "this replica has executed %llu", (unsigned long long) db_seq,
					 (unsigned long long) db_stable, (unsigned long long) ps->executed);
				ps->keep_orders = o->nstmts >= 2 && o->res[o->nstmts - 2] != NULL &&
					PQntuples(o->res[o->nstmts - 2]) == 1 &&
					strcmp(PQgetvalue(o->res[o->nstmts - 2], 0, 0), "t") == 0;
				if (!ps->started &&
					pg_resume_with_orders(ps, o->res[o->nstmts - 1], db_seq, db_stable))
					return;		/* reconciled when the orders are in */
				if (!ps->started)
					pg_first_position(ps, o->res[o->nstmts - 1], db_seq, db_stable);
			}
			pg_reconcile(ps, db_seq, db_stable);
			return;
		case OP_BATCH:
			pg_batch_result(ps, o);
			return;
		case OP_LOOKUP:
			pg_lookup_result(ps, o);
			return;
		case OP_ORDERS:
			pg_orders_result(ps, o);
			return;
		case OP_ROLLBACK:
			if (o->failed)
			{
				pgpipe_log(ps->pipe, ZLOG_ERROR, "rollback to %llu failed: %s: %s",
							 (unsigned long long) o->seq, o->sqlstate, o->errmsg);
				pg_repair(ps);
			}
			else
				ps->rollbacks++;
			return;
		case OP_STABLE:
			if (o->failed)
			{
				pgpipe_log(ps->pipe, ZLOG_WARNING, "mark_stable(%llu) failed: %s: %s",
							 (unsigned long long) o->seq, o->sqlstate, o->errmsg);
				return;
			}
			if (o->seq > ps->db_stable)
				ps->db_stable = o->seq;
			/* durable now, and every batch below it: no longer needed here */
			pg_forget(ps, o->seq < ps->stable ? o->seq : ps->stable, true);
			if (ps->verify_last == 0 || ev_now() - ps->verify_last >= *ps->verify_interval)
			{
				ps->verify_due = true;
				pg_maybe_verify(ps);
			}
			return;
		case OP_CONDITION:
			if (o->failed)
			{
				ps->cond_unsupported = strcmp(o->sqlstate, "42883") == 0;
				pgpipe_log(ps->pipe, ZLOG_WARNING, "set_condition failed: %s: %s%s",
							 o->sqlstate, o->errmsg,
							 ps->cond_unsupported ? " (an older extension: not retried)" : "");
				if (!ps->cond_unsupported)
					ps->cond_sent = false;
			}
			return;
	}
}

/*
 * The timer: reread the position (repair, stalled).
 */
static void
pg_timer(ev_loop *loop, uint64_t id, void *arg)
{
	pgsvc	   *ps = arg;

	ps->timer = 0;
	if (pgpipe_conn(ps->pipe) != NULL && ps->ready && pgpipe_inflight(ps->pipe) == 0 &&
		(ps->repairing || ps->stalled))
		pg_send_position(ps);
}

/*
 * pgpipe: a new session.  Set it up; batches wait for its position.
 */
static void
pg_on_connected(void *arg)
{
	pgsvc	   *ps = arg;

	ps->ready = false;
	pg_send_setup(ps);
}

/*
 * pgpipe: an op is done.  Then, while repairing, once the pipeline is
 * empty, wait and reread the position.
 */
static void
pg_on_done(void *arg, pgpipe_op *o)
{
	pgsvc	   *ps = arg;

	pg_finish_op(ps, o);
	if (ps->repairing && pgpipe_inflight(ps->pipe) == 0 && pgpipe_conn(ps->pipe) != NULL)
		pg_arm_timer(ps, pg_backoff(ps));
}

/*
 * pgpipe: the session is gone, and what was in flight.  Nothing counts as
 * sent; the next session starts from the database's position.
 */
static void
pg_on_lost(void *arg)
{
	pgsvc	   *ps = arg;

	ps->ready = false;
	ps->repairing = false;
	for (size_t i = 0; i < ps->nlog; i++)
		ps->log[i].sent = false;
}

/* ------------------------------------------------------------------------
 * The zz_service interface
 * ------------------------------------------------------------------------ */

/*
 * Encode the requests as apply_batch wants them:
 * count:u32 (client:u32 timestamp:u64 len:u32 call[len])*, big-endian.
 */
static uint8_t *
pg_encode_requests(const zz_op *ops, uint32_t count, size_t *len)
{
	size_t		n = 4;
	uint8_t    *buf,
			   *p;

	for (uint32_t i = 0; i < count; i++)
		n += 16 + ops[i].len;
	buf = malloc(n);
	if (buf == NULL)
		return NULL;
	pgcall_put_u32(buf, count);
	p = buf + 4;
	for (uint32_t i = 0; i < count; i++)
	{
		pgcall_put_u32(p, ops[i].client);
		pgcall_put_u64(p + 4, ops[i].timestamp);
		pgcall_put_u32(p + 12, ops[i].len);
		if (ops[i].len > 0)
			memcpy(p + 16, ops[i].data, ops[i].len);
		p += 16 + ops[i].len;
	}
	*len = n;
	return buf;
}

/*
 * zz_service.execute: keep the batch, send it, answer later.
 */
static zz_exec_status
pg_execute(void *ctx, zz_seq seq, uint64_t nd_time, uint64_t nd_seed, const zz_op *ops,
		   uint32_t count, bool want_digest, zz_exec_result *res)
{
	pgsvc	   *ps = ctx;
	pg_batch   *b;

	/*
	 * Kept batches at or above seq were dropped by the core without a
	 * rollback() (it rolls back the service only below what it executed):
	 * forget them, and undo them in the database if they got there.
	 */
	pg_forget(ps, seq - 1, false);
	if (ps->executed >= seq)
		ps->executed = seq - 1;
	if (ps->nlog == ps->caplog)
	{
		size_t		cap = ps->caplog ? ps->caplog * 2 : 64;
		pg_batch   *grown = realloc(ps->log, cap * sizeof(pg_batch));

		if (grown == NULL)
			return ZZ_EXEC_FAILED;
		ps->log = grown;
		ps->caplog = cap;
	}
	b = &ps->log[ps->nlog];
	memset(b, 0, sizeof(*b));
	b->req = pg_encode_requests(ops, count, &b->req_len);
	if (b->req == NULL)
		return ZZ_EXEC_FAILED;
	if (!ps->hooks.label(ps->hooks.arg, seq, &b->view, &b->history))
		zlog(ZLOG_WARNING, "postgres: no history digest for batch %llu; recording zeros",
			 (unsigned long long) seq);
	zz_buf_init(&b->order);
	if (ps->keep_orders && ps->hooks.order != NULL &&
		!ps->hooks.order(ps->hooks.arg, seq, &b->order))
		zz_buf_reset(&b->order);
	b->seq = seq;
	b->nd_time = nd_time;
	b->nd_seed = nd_seed;
	b->count = count;
	b->want_digest = want_digest;
	b->gen = ++ps->next_gen;
	ps->nlog++;
	if (pg_can_send(ps))
	{
		/* (not while batches come from batch_log: the database is ahead) */
		if (ps->db_expect >= seq && seq > ps->lookup_until)
			pg_send_admin(ps, OP_ROLLBACK, seq - 1);
		pg_send_pending(ps);
	}
	return ZZ_EXEC_PENDING;
}

/*
 * zz_service.rollback: queued behind whatever is in flight, so the
 * database undoes exactly what it applied.  Always succeeds from the
 * core's point of view; a failure in the database is repaired.
 */
static bool
pg_rollback(void *ctx, zz_seq seq)
{
	pgsvc	   *ps = ctx;

	pg_forget(ps, seq, false);
	if (ps->executed > seq)
		ps->executed = seq;
	if (ps->lookup_until > seq)
		ps->lookup_until = 0;
	if (pg_can_send(ps) && ps->db_expect > seq)
		pg_send_admin(ps, OP_ROLLBACK, seq);
	return true;
}

/*
 * zz_service.mark_stable: forget kept batches up to seq; tell the
 * database once it has applied seq.
 */
static void
pg_mark_stable(void *ctx, zz_seq seq)
{
	pgsvc	   *ps = ctx;

	pg_batch   *b = pg_batch_by_seq(ps, seq);

	if (seq == ps->stable && ps->stable_blob.len == 0 && seq > 0)
	{
		/* just installed by state transfer: keep the core's part too */
		if (ps->hooks.save_stable(ps->hooks.arg, seq, &ps->stable_blob))
		{
			ps->stable_resend = true;
			pg_maybe_mark_stable(ps);
		}
		return;
	}
	if (seq <= ps->stable)
		return;
	ps->stable = seq;
	ps->stable_has_digest = b != NULL && b->has_digest;
	if (ps->stable_has_digest)
		ps->stable_digest = b->digest;
	zz_buf_reset(&ps->stable_blob);
	if (!ps->hooks.save_stable(ps->hooks.arg, seq, &ps->stable_blob))
		zz_buf_reset(&ps->stable_blob);

	/*
	 * Batches are forgotten only once the database's own stable checkpoint
	 * covers them (OP_STABLE): with asynchronous batch commit, a batch
	 * whose result came back may still be lost by a crash of the server,
	 * and is then applied again from here (docs/durability.md).
	 */
	pg_forget(ps, seq < ps->db_stable ? seq : ps->db_stable, true);
	pg_maybe_mark_stable(ps);
}

/* ------------------------------------------------------------------------
 * Life cycle and status
 * ------------------------------------------------------------------------ */

pgsvc *
pgsvc_create(ev_loop *loop, const char *conninfo, uint32_t replica_id, const pgsvc_hooks *hooks,
			 const zz_time *verify_interval)
{
	pgsvc	   *ps = calloc(1, sizeof(pgsvc));
	pgpipe_handlers h;
	char		appname[32];

	if (ps == NULL)
		return NULL;
	h.arg = ps;
	h.connected = pg_on_connected;
	h.done = pg_on_done;
	h.lost = pg_on_lost;
	snprintf(appname, sizeof(appname), "zyzzyvad-r%u", replica_id);
	ps->pipe = pgpipe_create(loop, conninfo, appname, &h);
	ps->conninfo = strdup(conninfo);
	if (ps->pipe == NULL || ps->conninfo == NULL)
	{
		pgpipe_free(ps->pipe);
		free(ps->conninfo);
		free(ps);
		return NULL;
	}
	ps->replica_id = replica_id;
	ps->verify_interval = verify_interval;
	h.connected = pg_check_connected;
	h.done = pg_check_done;
	h.lost = pg_check_lost;
	snprintf(appname, sizeof(appname), "zyzzyvad-r%u-check", replica_id);
	ps->check = pgpipe_create(loop, conninfo, appname, &h);
	if (ps->check == NULL)
	{
		pgpipe_free(ps->pipe);
		free(ps->conninfo);
		free(ps);
		return NULL;
	}
	zz_buf_init(&ps->stable_blob);

#ifdef ZZ_FAULT_INJECTION

	/*
	 * Test fault injection, for regress/t/104_state_transfer.t: serve wrong
	 * rows, or die when asked for a checkpoint's state.  Only in the
	 * fault-injection build (build/fi/zyzzyvad), never in the product's;
	 * the log says so loudly when they are set.
	 */
	ps->test_corrupt_snapshot = getenv("ZZ_TEST_CORRUPT_SNAPSHOT") != NULL;
	ps->test_exit_on_transfer = getenv("ZZ_TEST_EXIT_ON_STATE_REQUEST") != NULL;
	if (ps->test_corrupt_snapshot || ps->test_exit_on_transfer)
		zlog(ZLOG_WARNING, "postgres: TEST FAULT INJECTION ON: %s%s",
			 ps->test_corrupt_snapshot ? "ZZ_TEST_CORRUPT_SNAPSHOT " : "",
			 ps->test_exit_on_transfer ? "ZZ_TEST_EXIT_ON_STATE_REQUEST" : "");
#endif
	ps->loop = loop;
	ps->hooks = *hooks;
	ps->retry_delay = PG_RETRY_MIN;
	ps->svc.ctx = ps;
	ps->svc.execute = pg_execute;
	ps->svc.rollback = pg_rollback;
	ps->svc.mark_stable = pg_mark_stable;
	ps->svc.snapshot = pg_snapshot;
	ps->svc.install = pg_install;
	if (!pgx_create(ps))
		zlog(ZLOG_WARNING, "postgres: no chunked state transfer (out of memory)");
	return ps;
}

void
pgsvc_set_batch_commit(pgsvc *ps, bool async)
{
	ps->batch_commit_async = async;
}

void
pgsvc_set_checkpoint_interval(pgsvc *ps, uint32_t cp_interval)
{
	ps->cp_interval = cp_interval;
}

void
pgsvc_start(pgsvc *ps)
{
	pgpipe_start(ps->pipe);
	pgpipe_start(ps->check);
	pgx_start(ps);
}

const zz_service *
pgsvc_service(pgsvc *ps)
{
	return &ps->svc;
}

/*
 * pg_state: stalled, repairing, down, connecting, setup (connected, the
 * position not read yet) or ready.
 */
void
pgsvc_status(const pgsvc *ps, zz_buf *out)
{
	const char *state = ps->stalled || ps->failures >= PG_STALLED_AFTER_FAILURES ? "stalled" :
		ps->repairing ? "repairing" :
		pgpipe_conn(ps->pipe) == NULL ? pgpipe_state(ps->pipe) : ps->ready ? "ready" : "setup";
	char		text[1600];
	int			n;

	n = snprintf(text, sizeof(text),
				 "pg_state: %s\npg_batch_commit: %s\npg_executed: %llu\npg_db_seq: %llu\npg_db_stable: %llu\n"
				 "pg_inflight_ops: %u\npg_kept_batches: %zu\npg_batches: %llu\npg_requests: %llu\n"
				 "pg_mean_batch_us: %llu\npg_errors: %llu\npg_connects: %llu\npg_rollbacks: %llu\n"
				 "pg_replayed: %llu\npg_looked_up: %llu\npg_stale: %llu\n"
				 "pg_condition: %s\npg_resumed_at: %llu\npg_verified: %llu\n"
				 "pg_verify_failures: %llu\npg_snapshots_served: %llu\npg_snapshots_cached: %llu\n"
				 "pg_installs: %llu\n"
				 "pg_install_failures: %llu\n",
				 state, ps->batch_commit_async ? "async" : "sync", (unsigned long long) ps->executed, (unsigned long long) ps->db_expect,
				 (unsigned long long) ps->db_stable, pgpipe_inflight(ps->pipe), ps->nlog,
				 (unsigned long long) ps->batches, (unsigned long long) ps->requests,
				 (unsigned long long) (ps->batches ? ps->apply_us / ps->batches : 0),
				 (unsigned long long) ps->errors,
				 (unsigned long long) pgpipe_connects(ps->pipe),
				 (unsigned long long) ps->rollbacks, (unsigned long long) ps->replayed,
				 (unsigned long long) ps->looked_up, (unsigned long long) ps->stale,
				 pg_cond_names[ps->cond], (unsigned long long) ps->resumed_at,
				 (unsigned long long) ps->verified, (unsigned long long) ps->verify_failures,
				 (unsigned long long) ps->snapshots_served,
				 (unsigned long long) ps->snapshots_cached, (unsigned long long) ps->installs,
				 (unsigned long long) ps->install_failures);
	if (n > 0)
		(void) zz_buf_append(out, text, (size_t) (n < (int) sizeof(text) ? n : (int) sizeof(text) - 1));
	if (ps->stalled || ps->failures >= PG_STALLED_AFTER_FAILURES)
	{
		n = snprintf(text, sizeof(text), "pg_stall_reason: %s\n",
					 ps->stalled ? ps->stall_reason : ps->failure_reason);
		if (n > 0)
			(void) zz_buf_append(out, text, (size_t) (n < (int) sizeof(text) ? n : (int) sizeof(text) - 1));
	}
	if (pgpipe_last_error(ps->pipe)[0] != '\0')
	{
		n = snprintf(text, sizeof(text), "pg_last_error: %s\n", pgpipe_last_error(ps->pipe));
		if (n > 0)
			(void) zz_buf_append(out, text, (size_t) (n < (int) sizeof(text) ? n : (int) sizeof(text) - 1));
	}
	pgx_status(ps, out);
}

void
pgsvc_free(pgsvc *ps)
{
	if (ps == NULL)
		return;
	if (ps->timer != 0)
		ev_del_timer(ps->loop, ps->timer);
	pgx_free(ps);
	pgpipe_free(ps->pipe);
	pgpipe_free(ps->check);
	if (ps->side != NULL)
		PQfinish(ps->side);
	for (size_t i = 0; i < ps->nlog; i++)
	{
		free(ps->log[i].req);
		zz_buf_free(&ps->log[i].order);
	}
	free(ps->log);
	zz_buf_free(&ps->stable_blob);
	zz_buf_free(&ps->resume_blob);
	free(ps->snap);
	free(ps->conninfo);
	free(ps);
}
