/*-------------------------------------------------------------------------
 *
 * ddl_proposal.c
 *	  The quorum of a replicated DDL request (zyzzyva.ddl_proposal,
 *	  zyzzyva.withdraw_ddl): ddl.c runs a request's statements only once
 *	  f+1 replicas have proposed them.
 *
 * One replica alone cannot change the schema.  With zyzzyva.cluster_f = f
 * (the sidecar sets it), a replicated DDL request is a proposal: it is
 * recorded in zyzzyva.ddl_proposal (replicated state: digest, undo, state
 * transfer) under its text, its role and the replica whose sidecar sent it
 * (the request's client id / 65536), and the statement runs, as that role,
 * in the batch where the proposals of f+1 distinct replicas for the same
 * text and role are present; they are then deleted.  A proposal expires
 * zyzzyva.ddl_proposal_timeout after the batch time (the primary's nd_time)
 * of the batch that recorded it, and zyzzyva.withdraw_ddl(sql) withdraws
 * the proposal of the replica that sends it.  All of it happens in ordered
 * batches, so every correct replica decides the same.  Without a sidecar
 * (cluster_f = 0) a request applies at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "zyzzyva.h"
#include "ddl_int.h"

PG_FUNCTION_INFO_V1(zyzzyva_withdraw_ddl);

int			zz_ddl_proposal_timeout = 3600;

/*
 * Run one statement on zyzzyva.ddl_proposal as the extension's owner and
 * return SPI_processed (the writes fire the capture trigger: undo, digest).
 */
static uint64
proposal_run(const char *sql, int nargs, Oid *argtypes, Datum *values, int expect)
{
	ZzSavedUser saved;
	int			rc;
	uint64		n;

	zz_as_owner(&saved);
	SPI_connect();
	rc = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0);
	if (rc != expect)
		elog(ERROR, "could not update zyzzyva.ddl_proposal: %s", SPI_result_code_string(rc));
	n = SPI_processed;
	if (expect == SPI_OK_SELECT && n == 1)
	{
		bool		isnull;

		n = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	zz_restore_user(&saved);
	return n;
}

/*
 * Drop the proposals that expired by this batch's time.
 */
static void
proposals_expire(void)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];

	values[0] = Int64GetDatum(zz_exec.nd_time - (int64) zz_ddl_proposal_timeout * 1000000);
	(void) proposal_run("DELETE FROM zyzzyva.ddl_proposal "
						"WHERE proposed_at OPERATOR(pg_catalog.<) $1",
						1, argtypes, values, SPI_OK_DELETE);
}

/*
 * Fill the key of this replica's proposal of sql by the current role:
 * values[0] its SHA-256, values[1] the role, values[2] the replica.
 */
static void
proposal_key(const char *sql, Datum *values)
{
	uint8		digest[ZZ_SHA256_BYTES];
	bytea	   *d = palloc(VARHDRSZ + ZZ_SHA256_BYTES);

	zz_sha256(sql, strlen(sql), digest);
	SET_VARSIZE(d, VARHDRSZ + ZZ_SHA256_BYTES);
	memcpy(VARDATA(d), digest, ZZ_SHA256_BYTES);
	values[0] = PointerGetDatum(d);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	values[2] = Int32GetDatum(zz_exec.origin);
}

/*
 * Record this replica's proposal of sql by the current role, and say
 * whether f+1 distinct replicas have now proposed it (their proposals are
 * then consumed, and the statement runs in this request).
 */
bool
zz_ddl_proposal_decides(const char *sql)
{
	Oid			argtypes[6] = {BYTEAOID, NAMEOID, INT4OID, TEXTOID, INT8OID, INT8OID};
	Datum		values[6];
	uint64		replicas;

	proposal_key(sql, values);
	values[3] = CStringGetTextDatum(sql);
	values[4] = Int64GetDatum(zz_exec.seq);
	values[5] = Int64GetDatum(zz_exec.nd_time);

	proposals_expire();
	(void) proposal_run("INSERT INTO zyzzyva.ddl_proposal "
						"(sql_digest, role, replica, sql, proposed_seq, proposed_at) "
						"VALUES ($1, $2, $3, $4, $5, $6) "
						"ON CONFLICT (sql_digest, role, replica) DO UPDATE "
						"SET proposed_seq = excluded.proposed_seq, proposed_at = excluded.proposed_at",
						6, argtypes, values, SPI_OK_INSERT);
	replicas = proposal_run("SELECT pg_catalog.count(*) FROM zyzzyva.ddl_proposal "
							"WHERE sql_digest OPERATOR(pg_catalog.=) $1 "
							"AND role OPERATOR(pg_catalog.=) $2",
							2, argtypes, values, SPI_OK_SELECT);
	if (replicas < (uint64) zz_cluster_f + 1)
		return false;
	(void) proposal_run("DELETE FROM zyzzyva.ddl_proposal "
						"WHERE sql_digest OPERATOR(pg_catalog.=) $1 "
						"AND role OPERATOR(pg_catalog.=) $2",
						2, argtypes, values, SPI_OK_DELETE);
	return true;
}

/*
 * zyzzyva.withdraw_ddl(sql text) returns boolean
 *
 * A replicated request: withdraw the proposal of sql that the sending
 * replica made as the current role.  True if there was one.
 */
Datum
zyzzyva_withdraw_ddl(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			argtypes[3] = {BYTEAOID, NAMEOID, INT4OID};
	Datum		values[3];

	if (zz_exec.mode != ZZ_MODE_APPLY || zz_exec.request < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("zyzzyva.withdraw_ddl() runs only as a replicated request"),
				 errhint("Call it in a statement of its own on a replica whose sidecar runs.")));
	proposal_key(sql, values);
	proposals_expire();
	PG_RETURN_BOOL(proposal_run("DELETE FROM zyzzyva.ddl_proposal "
								"WHERE sql_digest OPERATOR(pg_catalog.=) $1 "
								"AND role OPERATOR(pg_catalog.=) $2 "
								"AND replica OPERATOR(pg_catalog.=) $3",
								3, argtypes, values, SPI_OK_DELETE) > 0);
}
