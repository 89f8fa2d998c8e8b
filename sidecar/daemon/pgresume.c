/*
 * pgresume.c
 *	  Restart with the history for the PostgreSQL service (see
 *	  pgservice.c's header, "Recovery", and docs/durability.md).
 *
 * With each batch it applies, the sidecar stores the ORDER-REQ the core
 * executed there (zyzzyva.keep_order, in the batch's own transaction), so
 * the database holds, above its stable checkpoint, the batches and what
 * proves they were ordered.  A sidecar that starts on such a database
 * reads them back (one op, before the core starts) and hands them to a
 * fresh core with the kept checkpoint (zz_replica_resume_history).  The
 * core checks each as if it came from the primary again and takes back
 * the chain it verifies; the batches come from zyzzyva.batch_log
 * (LOOKUP, checked against their history digest), not applied again, and
 * only what lies above the history it took back is rolled back.  So when
 * every replica stops at once, the batches clients saw complete are still
 * there.
 *
 * A 0.1 database has no zyzzyva.batch_order: the sidecar does as before
 * (pgrecover.c, pg_first_position): it resumes at the stable checkpoint
 * and rolls the rest back.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgcall.h"
#include "pgservice_int.h"

#define PG_SQL_KEEP_ORDER	"SELECT zyzzyva.keep_order($1, $2, $3)"
#define PG_SQL_ORDERS \
	"SELECT seq, order_req FROM zyzzyva.batch_order " \
	"WHERE seq > $1 AND seq <= $2 ORDER BY seq"

/*
 * Add keep_order(seq, view, ORDER-REQ) for batch b to the op being built:
 * it commits with the batch or not at all.
 */
bool
pg_send_keep_order(pgsvc *ps, const pg_batch *b)
{
	uint8_t		seq[8],
				view[8];
	const char *values[3] = {(const char *) seq, (const char *) view,
	(const char *) b->order.data};
	int			lengths[3] = {8, 8, (int) b->order.len};
	int			formats[3] = {1, 1, 1};
	Oid			types[3] = {PG_INT8OID, PG_INT8OID, PG_BYTEAOID};

	pgcall_put_u64(seq, b->seq);
	pgcall_put_u64(view, b->view);
	return PQsendQueryParams(pgpipe_conn(ps->pipe), PG_SQL_KEEP_ORDER, 3, types, values,
							 lengths, formats, 1) == 1;
}

/*
 * The first position of this process, on a database that stores the
 * ORDER-REQs (pos: last_seq, stable_seq, stable_proof): read those above
 * the stable checkpoint before the core starts.  False if the database
 * cannot give them (pg_first_position does as before).
 */
bool
pg_resume_with_orders(pgsvc *ps, const PGresult *pos, zz_seq db_seq, zz_seq db_stable)
{
	PGconn	   *conn = pgpipe_conn(ps->pipe);
	uint8_t		lo[8],
				hi[8];
	const char *values[2] = {(const char *) lo, (const char *) hi};
	int			lengths[2] = {8, 8};
	int			formats[2] = {1, 1};
	Oid			types[2] = {PG_INT8OID, PG_INT8OID};

	/*
	 * (Also with nothing above the checkpoint: the core then still comes
	 * back in the view its shell kept.)
	 */
	if (!ps->keep_orders || ps->hooks.resume_history == NULL || db_seq < db_stable ||
		ps->executed != 0 || ps->nlog != 0 || conn == NULL)
		return false;
	if (db_stable > 0 && PQgetisnull(pos, 0, 2))
		return false;			/* no kept proof: pg_first_position says so */
	zz_buf_reset(&ps->resume_blob);
	ps->resume_has_blob = db_stable > 0;
	if (ps->resume_has_blob &&
		!zz_buf_append(&ps->resume_blob, PQgetvalue(pos, 0, 2), (size_t) PQgetlength(pos, 0, 2)))
		return false;
	ps->resume_db_seq = db_seq;
	ps->resume_db_stable = db_stable;
	pgcall_put_u64(lo, db_stable);
	pgcall_put_u64(hi, db_seq);
	if (PQsendQueryParams(conn, PG_SQL_ORDERS, 2, types, values, lengths, formats, 1) != 1)
	{
		pgpipe_fail(ps->pipe);
		return true;			/* the next session starts over */
	}
	(void) pgpipe_push(ps->pipe, OP_ORDERS, db_seq, 0, 1);
	return true;
}

/*
 * The stored ORDER-REQs are in: hand them to the core with the kept
 * checkpoint, then let the core start and bring the database to it.
 * Unreadable rows count as none (the core resumes at the checkpoint).
 */
void
pg_orders_result(pgsvc *ps, pgpipe_op *o)
{
	const PGresult *r = o->failed ? NULL : o->res[0];
	zz_seq		db_seq = ps->resume_db_seq,
				db_stable = ps->resume_db_stable,
				until = 0;
	zz_kept_order *orders = NULL;
	uint32_t	n = 0;
	int			rows = 0;

	if (o->failed)
		zlog(ZLOG_WARNING, "postgres: reading zyzzyva.batch_order failed (%s: %s): "
			 "resuming without the history", o->sqlstate, o->errmsg);
	else if (r != NULL && PQnfields(r) == 2)
		rows = PQntuples(r);
	if (rows > 0 && (orders = calloc((size_t) rows, sizeof(*orders))) == NULL)
		rows = 0;
	for (int i = 0; i < rows; i++)
	{
		/* contiguous from the checkpoint up; the core checks the rest */
		if (PQgetlength(r, i, 0) != 8 ||
			pgcall_get_u64((const uint8_t *) PQgetvalue(r, i, 0)) != db_stable + 1 + n)
			break;
		orders[n].buf = (const uint8_t *) PQgetvalue(r, i, 1);
		orders[n].len = (size_t) PQgetlength(r, i, 1);
		n++;
	}

	ps->started = true;
	/* what the core executes again comes from batch_log, not applied twice */
	ps->lookup_until = db_seq;
	if (!ps->hooks.resume_history(ps->hooks.arg,
								  ps->resume_has_blob ? ps->resume_blob.data : NULL,
								  ps->resume_blob.len, orders, n, &until))
	{
		ps->lookup_until = 0;
		pg_log_bad_checkpoint(db_stable);
	}
	else
	{
		ps->executed = ps->stable = ps->stable_sent = db_stable;
		ps->lookup_until = until > db_stable ? until : 0;

		/*
		 * A checkpoint inside the range needs the state digest as of that
		 * batch, which batch_log does not keep: only the database at that
		 * batch can give it.  Read from batch_log up to the first
		 * checkpoint above the stable one (pg_reconcile rolls the database
		 * back to it) and apply the batches above it again.
		 */
		if (ps->cp_interval > 0 && ps->lookup_until > 0)
		{
			zz_seq		first_cp = (db_stable / ps->cp_interval + 1) * ps->cp_interval;

			if (ps->lookup_until > first_cp)
				ps->lookup_until = first_cp;
		}
		ps->resumed_at = db_stable;
		ps->resume_until = until > db_stable ? until : 0;
		if (db_seq > 0)
			zlog(ZLOG_INFO, "postgres: resumed at stable checkpoint %llu with this replica's "
				 "history up to batch %llu (%u stored ORDER-REQs of the database's %llu "
				 "batches above the checkpoint)%s",
				 (unsigned long long) db_stable, (unsigned long long) until, n,
				 (unsigned long long) (db_seq - db_stable),
				 until < db_seq ? "; the batches above it are rolled back" : "");
	}
	free(orders);
	zz_buf_reset(&ps->resume_blob);
	ps->hooks.ready(ps->hooks.arg);
	pg_reconcile(ps, db_seq, db_stable);
}
