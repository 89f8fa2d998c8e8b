/*
 * pgrecover.c
 *	  Recovery for the PostgreSQL service (see pgservice.c's header):
 *	  resuming the core from the stable checkpoint the database keeps,
 *	  checking the rows against the state digest (divergence), serving and
 *	  installing a checkpoint's rows (state transfer), and reporting the
 *	  replica's condition to zyzzyva.status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgcall.h"
#include "pgservice_int.h"

#define PG_SQL_VERIFY		"SELECT zyzzyva.verify_digest()"
#define PG_SQL_RR_BEGIN		"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
#define PG_SQL_CONDITION	"SELECT zyzzyva.set_condition($1, $2)"
#define PG_SQL_SNAPSHOT		"SELECT zyzzyva.snapshot($1)"
#define PG_SQL_INSTALL		"SELECT zyzzyva.install_snapshot($1, $2, $3, $4)"
#define PG_SIDE_TIMEOUT		"-c statement_timeout=60s -c lock_timeout=30s"

const char *const pg_cond_names[] = {
	"normal", "catching_up", "state_transfer", "diverged", "stalled"
};

static void pg_verify_result(pgsvc *ps, const PGresult *r);

/*
 * Recheck the rows against the digest on the check connection, if a
 * stable checkpoint asked for it and none is running.
 */
void
pg_maybe_verify(pgsvc *ps)
{
	PGconn	   *conn = pgpipe_conn(ps->check);

	if (!ps->verify_due || ps->verify_inflight || conn == NULL || ps->diverged)
		return;
	if (PQsendQueryParams(conn, PG_SQL_RR_BEGIN, 0, NULL, NULL, NULL, NULL, 0) != 1 ||
		PQsendQueryParams(conn, PG_SQL_VERIFY, 0, NULL, NULL, NULL, NULL, 0) != 1 ||
		PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1)
	{
		pgpipe_fail(ps->check);
		return;
	}
	ps->verify_due = false;
	ps->verify_inflight = true;
	ps->verify_last = ev_now();
	(void) pgpipe_push(ps->check, 0, ps->stable, 0, 3);
}

/*
 * Write the condition to the database when it changed (best effort: the
 * status view shows it; the log says it anyway).
 */
void
pg_send_condition(pgsvc *ps)
{
	PGconn	   *conn = pgpipe_conn(ps->pipe);
	const char *values[2] = {pg_cond_names[ps->cond], ps->cond_detail};

	if (ps->cond_sent || ps->cond_unsupported || conn == NULL || !ps->ready ||
		ps->repairing)
		return;
	if (values[1][0] == '\0')
		values[1] = NULL;
	if (PQsendQueryParams(conn, PG_SQL_CONDITION, 2, NULL, values, NULL, NULL, 0) != 1)
	{
		pgpipe_fail(ps->pipe);
		return;
	}
	ps->cond_sent = true;
	(void) pgpipe_push(ps->pipe, OP_CONDITION, 0, 0, 1);
}

/*
 * The checkpoint the database kept did not verify: say so; the core starts
 * from 0 and the others bring this replica up to date.
 */
void
pg_log_bad_checkpoint(zz_seq db_stable)
{
	zlog(ZLOG_ERROR, "postgres: the checkpoint %llu kept in zyzzyva.replica_state "
		 "does not verify (proof or digest): starting from 0; the other replicas "
		 "will bring this one up to date by state transfer",
		 (unsigned long long) db_stable);
}

/*
 * The first position of this process: resume the core at the database's
 * stable checkpoint if it kept one, then let the core start.
 */
void
pg_first_position(pgsvc *ps, const PGresult *r, zz_seq db_seq, zz_seq db_stable)
{
	ps->started = true;
	if (db_stable > 0 && ps->executed == 0 && ps->nlog == 0)
	{
		if (PQgetisnull(r, 0, 2))
			zlog(ZLOG_WARNING, "postgres: the database's stable checkpoint %llu has no kept "
				 "proof (written by an older sidecar?): starting from 0",
				 (unsigned long long) db_stable);
		else if (!ps->hooks.resume(ps->hooks.arg, (const uint8_t *) PQgetvalue(r, 0, 2),
								   (size_t) PQgetlength(r, 0, 2)))
			pg_log_bad_checkpoint(db_stable);
		else
		{
			ps->executed = ps->stable = ps->stable_sent = db_stable;
			ps->resumed_at = db_stable;
			ps->resume_until = db_seq;
			zlog(ZLOG_INFO, "postgres: resumed at stable checkpoint %llu kept in the database; "
				 "its batches %llu .. %llu are rolled back and fetched again from the others",
				 (unsigned long long) db_stable, (unsigned long long) db_stable + 1,
				 (unsigned long long) db_seq);
		}
	}
	ps->hooks.ready(ps->hooks.arg);
}

/*
 * The rows were checked against the incremental digest (verify_digest).
 * A mismatch means they changed behind the extension's back: this
 * replica's answers can no longer be trusted.
 */
static void
pg_verify_result(pgsvc *ps, const PGresult *r)
{
	if (r == NULL || PQntuples(r) != 1 || PQgetisnull(r, 0, 0))
		return;
	ps->verified++;
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0 || ps->diverged)
		return;
	ps->verify_failures++;
	ps->diverged = true;
	zlog(ZLOG_ERROR, "postgres: DIVERGED: the rows of the replicated tables no longer match "
		 "this replica's state digest (changed behind the extension's back?); this replica "
		 "stops answering and repairs itself by state transfer from the others");
	ps->hooks.diverged(ps->hooks.arg);
}

/*
 * The check connection: a session is up, a check is done, or it is lost.
 */
void
pg_check_connected(void *arg)
{
	pg_maybe_verify(arg);
}

void
pg_check_done(void *arg, pgpipe_op *o)
{
	pgsvc	   *ps = arg;

	ps->verify_inflight = false;
	if (o->failed)
	{
		pgpipe_log(ps->check, ZLOG_WARNING, "checking the rows against the digest failed: %s: %s",
					 o->sqlstate, o->errmsg);
		return;
	}
	pg_verify_result(ps, o->res[1]);
}

void
pg_check_lost(void *arg)
{
	((pgsvc *) arg)->verify_inflight = false;
}

/* ------------------------------------------------------------------------
 * State transfer, on a blocking connection of its own
 * ------------------------------------------------------------------------ */

/*
 * The side connection, (re)opened on demand.  Blocking calls in the
 * reactor: bounded by connect_timeout and statement_timeout, and used only
 * for state transfer, which the replica does not do while it serves.
 */
static PGconn *
pg_side(pgsvc *ps)
{
	const char *keys[] = {"dbname", "application_name", "connect_timeout", "options", NULL};
	char		appname[48];
	const char *values[5];

	if (ps->side != NULL && PQstatus(ps->side) == CONNECTION_OK)
		return ps->side;
	if (ps->side != NULL)
		PQfinish(ps->side);
	snprintf(appname, sizeof(appname), "zyzzyvad-r%u-transfer", ps->replica_id);
	values[0] = ps->conninfo;
	values[1] = appname;
	values[2] = "5";
	values[3] = PG_SIDE_TIMEOUT;
	values[4] = NULL;
	ps->side = PQconnectdbParams(keys, values, 1);
	if (ps->side == NULL || PQstatus(ps->side) != CONNECTION_OK)
	{
		zlog(ZLOG_ERROR, "postgres: state transfer connection failed: %s",
			 ps->side ? PQerrorMessage(ps->side) : "out of memory");
		if (ps->side != NULL)
			PQfinish(ps->side);
		ps->side = NULL;
	}
	return ps->side;
}

/*
 * Run one statement on the side connection; the result if it returned
 * tuples or a command status, else NULL (logged).
 */
static PGresult *
pg_side_exec(pgsvc *ps, const char *what, const char *sql, int nparams, const Oid *types,
			 const char *const *values, const int *lengths, const int *formats, int binary)
{
	PGconn	   *conn = pg_side(ps);
	PGresult   *r;

	if (conn == NULL)
		return NULL;
	r = PQexecParams(conn, sql, nparams, types, values, lengths, formats, binary);
	if (r == NULL ||
		(PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK))
	{
		const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

		snprintf(ps->side_sqlstate, sizeof(ps->side_sqlstate), "%s", st ? st : "");
		zlog(ZLOG_ERROR, "postgres: %s failed: %s: %s", what, st ? st : "-",
			 r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
		PQclear(r);
		return NULL;
	}
	return r;
}

#ifdef ZZ_FAULT_INJECTION
/*
 * Test fault injection: a replica that dies when asked to serve a
 * checkpoint, by either form of state transfer.
 */
void
pg_test_exit_on_transfer(pgsvc *ps, zz_seq seq)
{
	if (ps->test_exit_on_transfer)
	{
		zlog(ZLOG_WARNING, "postgres: ZZ_TEST_EXIT_ON_STATE_REQUEST: exiting instead of serving "
			 "checkpoint %llu (test fault injection)", (unsigned long long) seq);
		_exit(9);
	}
}
#endif

/*
 * zz_service.snapshot: the replicated tables' rows as of checkpoint seq,
 * read in one REPEATABLE READ snapshot (zyzzyva.snapshot undoes what came
 * after seq in memory, taking no locks the apply connection could wait
 * on).
 */
bool
pg_snapshot(void *ctx, zz_seq seq, uint8_t **out, size_t *outlen)
{
	pgsvc	   *ps = ctx;
	uint8_t		v[8];
	const char *values[1] = {(const char *) v};
	int			lengths[1] = {8};
	int			formats[1] = {1};
	Oid			types[1] = {PG_INT8OID};
	PGresult   *r;
	bool		ok = false;

	if (ps->diverged || ps->stalled)
		return false;			/* our rows are not to be trusted */

	/*
	 * The same checkpoint again (a replica asking again, or several, or
	 * one flooding STATE-REQUESTs): from memory, without a statement.  A
	 * checkpoint's state never changes, and only the kept ones are asked
	 * for, so the database reads each at most once.
	 */
	if (ps->snap != NULL && ps->snap_seq == seq)
	{
		*out = malloc(ps->snap_len ? ps->snap_len : 1);
		if (*out == NULL)
			return false;
		memcpy(*out, ps->snap, ps->snap_len);
		*outlen = ps->snap_len;
		ps->snapshots_served++;
		ps->snapshots_cached++;
		return true;
	}
#ifdef ZZ_FAULT_INJECTION
	pg_test_exit_on_transfer(ps, seq);
#endif
	pgcall_put_u64(v, seq);
	r = pg_side_exec(ps, "BEGIN (snapshot)",
					 "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL,
					 NULL, NULL, 0);
	if (r == NULL)
		return false;
	PQclear(r);
	r = pg_side_exec(ps, "zyzzyva.snapshot", PG_SQL_SNAPSHOT, 1, types, values, lengths,
					 formats, 1);
	if (r != NULL && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
	{
		size_t		n = (size_t) PQgetlength(r, 0, 0);

		*out = malloc(n ? n : 1);
		if (*out != NULL)
		{
			memcpy(*out, PQgetvalue(r, 0, 0), n);
			*outlen = n;
			ok = true;
		}
	}
	PQclear(r);
	r = pg_side_exec(ps, ok ? "COMMIT (snapshot)" : "ROLLBACK (snapshot)",
					 ok ? "COMMIT" : "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
	PQclear(r);
#ifdef ZZ_FAULT_INJECTION
	if (ok && ps->test_corrupt_snapshot)
	{
		/* change the last digit: rows that parse, with a wrong value */
		for (size_t i = *outlen; i-- > 0;)
		{
			if ((*out)[i] >= '0' && (*out)[i] <= '9')
			{
				(*out)[i] = (*out)[i] == '9' ? '8' : (*out)[i] + 1;
				zlog(ZLOG_WARNING, "postgres: ZZ_TEST_CORRUPT_SNAPSHOT: serving a wrong row "
					 "(test fault injection)");
				break;
			}
		}
	}
#endif
	if (ok)
	{
		free(ps->snap);
		ps->snap = malloc(*outlen ? *outlen : 1);
		if (ps->snap != NULL)
		{
			memcpy(ps->snap, *out, *outlen);
			ps->snap_len = *outlen;
			ps->snap_seq = seq;
		}
		ps->snapshots_served++;
		zlog(ZLOG_INFO, "postgres: served the state of checkpoint %llu (%zu bytes) for a "
			 "state transfer", (unsigned long long) seq, *outlen);
	}
	return ok;
}

/*
 * zz_service.install: replace the replicated tables' rows with a peer's
 * snapshot of checkpoint seq, which the extension checks against the
 * certified digest before it changes anything.
 */
bool
pg_install(void *ctx, zz_seq seq, const zz_digest *history, const uint8_t *data, size_t len,
		   const zz_digest *expect)
{
	pgsvc	   *ps = ctx;
	uint8_t		v[8];
	const char *values[4] = {(const char *) v, (const char *) history->b,
	(const char *) expect->b, (const char *) data};
	int			lengths[4] = {8, ZZ_DIGEST_LEN, ZZ_DIGEST_LEN, (int) len};
	int			formats[4] = {1, 1, 1, 1};
	Oid			types[4] = {PG_INT8OID, PG_BYTEAOID, PG_BYTEAOID, PG_BYTEAOID};
	PGresult   *r;

	if (len > INT32_MAX)
		return false;
	free(ps->snap);				/* (our state changes: serve nothing stale) */
	ps->snap = NULL;
	pgcall_put_u64(v, seq);
	r = pg_side_exec(ps, "zyzzyva.install_snapshot", PG_SQL_INSTALL, 4, types, values,
					 lengths, formats, 0);
	if (r == NULL)
	{
		pg_install_failed(ps, seq, ps->side_sqlstate);
		return false;
	}
	pg_installed(ps, seq, expect, PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?");
	PQclear(r);
	return true;
}

/*
 * An install of checkpoint seq failed with sqlstate (in one snapshot, or
 * in chunks by pgtransfer.c).  ZZ001: the rows do not give the certified
 * digest here.  Once is a faulty peer's snapshot; again and again is our
 * own schema (changed behind the extension's back): say so, while the
 * core asks again less and less often.
 */
void
pg_install_failed(pgsvc *ps, zz_seq seq, const char *sqlstate)
{
	ps->install_failures++;
	if (strcmp(sqlstate, "ZZ001") == 0 && ++ps->installs_refused >= 2)
	{
		zlog(ZLOG_WARNING, "postgres: %u snapshots of checkpoint %llu refused in a row: "
			 "this database's replicated schema or rows differ from the certified "
			 "checkpoint; backing off (compare zyzzyva.schema_items with another replica)",
			 ps->installs_refused, (unsigned long long) seq);
		pg_update_condition(ps);
	}
}

/*
 * The database holds the state of checkpoint seq now (installed in one
 * snapshot, or in chunks by pgtransfer.c), with nothing kept above it.
 */
void
pg_installed(pgsvc *ps, zz_seq seq, const zz_digest *expect, const char *rows)
{
	if (ps->installs_refused >= 2)
		zlog(ZLOG_INFO, "postgres: checkpoint %llu installed after %u refused snapshots",
			 (unsigned long long) seq, ps->installs_refused);
	ps->installs_refused = 0;
	zlog(ZLOG_INFO, "postgres: installed the state of checkpoint %llu (%s rows)",
		 (unsigned long long) seq, rows);
	ps->installs++;
	free(ps->snap);				/* (our state changed: serve nothing stale) */
	ps->snap = NULL;

	/* The database is at seq now, with nothing kept above it. */
	pg_forget(ps, 0, false);
	ps->executed = ps->db_expect = ps->db_stable = ps->stable = ps->stable_sent = seq;
	ps->lookup_until = 0;
	ps->stable_has_digest = true;
	ps->stable_digest = *expect;
	zz_buf_reset(&ps->stable_blob);
	if (ps->diverged)
	{
		ps->diverged = false;
		zlog(ZLOG_INFO, "postgres: repaired: the rows are those of checkpoint %llu again",
			 (unsigned long long) seq);
	}
	if (ps->stalled)
	{
		ps->stalled = false;
		zlog(ZLOG_INFO, "postgres: the database is usable again");
	}
}

/*
 * pgsvc_set_halted: see pgservice.h.
 */
void
pgsvc_set_halted(pgsvc *ps, zz_seq stable_seq, const char *line)
{
	ps->halted = true;
	ps->halted_above = stable_seq;
	snprintf(ps->halt_reason, sizeof(ps->halt_reason), "%s", line);
	pg_update_condition(ps);
}

/*
 * Decide the condition again, with what the core said last (a batch
 * failing or applied again changes it between two core steps).
 */
void
pg_update_condition(pgsvc *ps)
{
	pgsvc_set_transfer(ps, ps->transfer_seq, ps->executed);
}

/*
 * Decide the condition and write it when it changes.
 */
void
pgsvc_set_transfer(pgsvc *ps, zz_seq transfer_seq, zz_seq last_executed)
{
	pgsvc_cond	c = PGSVC_NORMAL;
	char		detail[sizeof(ps->cond_detail)] = "";

	ps->transfer_seq = transfer_seq;
	if (ps->resume_until != 0 && last_executed >= ps->resume_until)
		ps->resume_until = 0;
	if (ps->halted && ps->stable > ps->halted_above)
	{
		ps->halted = false;
		zlog(ZLOG_INFO, "postgres: checkpoint %llu is stable: the replicas agree again",
			 (unsigned long long) ps->stable);
	}
	if (ps->stalled)
	{
		c = PGSVC_STALLED;
		snprintf(detail, sizeof(detail), "%.190s", ps->stall_reason);
	}
	else if (ps->failures >= PG_STALLED_AFTER_FAILURES)
	{
		c = PGSVC_STALLED;
		snprintf(detail, sizeof(detail), "%.190s", ps->failure_reason);
	}
	else if (pgx_install_blocked(ps, transfer_seq, detail, sizeof(detail)))
		c = PGSVC_STALLED;
	else if (ps->halted)
	{
		c = PGSVC_DIVERGED;
		snprintf(detail, sizeof(detail), "%.190s", ps->halt_reason);
	}
	else if (transfer_seq != 0 && ps->installs_refused >= 2)
	{
		c = PGSVC_DIVERGED;
		snprintf(detail, sizeof(detail), "%u snapshots of checkpoint %llu refused in a row: "
				 "the replicated schema differs from the certified one; retrying with back-off",
				 ps->installs_refused, (unsigned long long) transfer_seq);
	}
	else if (ps->diverged)
	{
		c = PGSVC_DIVERGED;
		snprintf(detail, sizeof(detail), "rows changed behind the extension's back; %s",
				 transfer_seq ? "fetching a certified checkpoint" : "waiting for a certified checkpoint");
	}
	else if (transfer_seq != 0)
	{
		c = PGSVC_STATE_TRANSFER;
		snprintf(detail, sizeof(detail), "fetching checkpoint %llu from the other replicas",
				 (unsigned long long) transfer_seq);
	}
	else if (ps->resume_until != 0)
	{
		c = PGSVC_CATCHING_UP;
		snprintf(detail, sizeof(detail), "resumed at checkpoint %llu, at batch %llu of %llu",
				 (unsigned long long) ps->resumed_at, (unsigned long long) last_executed,
				 (unsigned long long) ps->resume_until);
	}
	/* progress within one condition is not worth a write per batch */
	if (c == ps->cond && (c == PGSVC_CATCHING_UP || strcmp(detail, ps->cond_detail) == 0))
		return;
	if (c != ps->cond)
		zlog(c == PGSVC_NORMAL ? ZLOG_INFO : ZLOG_WARNING, "condition: %s%s%s",
			 pg_cond_names[c], detail[0] ? ": " : "", detail);
	ps->cond = c;
	memcpy(ps->cond_detail, detail, sizeof(detail));
	ps->cond_sent = false;
	if (pg_can_send(ps) || c == PGSVC_STALLED)
		pg_send_condition(ps);
	/* (while repairing it goes out when the database's position is read) */
}
