/*-------------------------------------------------------------------------
 *
 * adopt.c
 *	  Existing data: putting a database that already holds rows under
 *	  replication, and finishing a database restored from a dump.
 *
 * zyzzyva.adopt(tables, functions) registers existing tables (with their
 * rows, through replicate_table(), which adds them to the digest) and
 * functions (replicate_function()) as replicated, locally and at once,
 * without the f+1 proposals a replicated DDL request needs.  That is safe
 * only before the replica's history begins: it refuses a database that
 * has applied a batch.  Before the first batch every replica's
 * administrator sets up their own database, exactly as the setup SQL run
 * on each server before its sidecar starts does; the first checkpoint then
 * compares the digests, which cover the rows, the registry and the
 * definitions, so a replica that adopted something else is found there.
 * After the first batch, schema changes go through replicated_ddl().
 *
 * A restore: pg_dump keeps the registry (the upgrade script marks it with
 * pg_extension_config_dump) but not the replica's position nor its digest
 * lanes (docs/operations.md).  pg_restore loads the registry with COPY,
 * outside any mode of the extension: the trigger registry_loaded notes it
 * in zyzzyva.adoption (pending), and while it is pending the restore's own
 * statements on replicated tables (primary keys, the guard and capture
 * triggers, foreign keys, grants) are not refused as changes outside
 * replication (authz.c asks zz_adopt_pending()).  adopt() then recomputes
 * the lanes from every replicated row, reinstalls the guard and capture
 * triggers, and clears pending.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_adopt);
PG_FUNCTION_INFO_V1(zyzzyva_registry_loaded);

/* registry.c */
extern Datum zyzzyva_replicate_table(PG_FUNCTION_ARGS);
extern Datum zyzzyva_replicate_function(PG_FUNCTION_ARGS);

/*
 * Run a statement of the extension's own as the extension's owner and
 * return the first column of its first row as text (NULL if none).  The
 * caller is connected to SPI.
 */
static char *
owner_value(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	ZzSavedUser saved;
	char	   *v = NULL;

	zz_as_owner(&saved);
	if (SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0) < 0)
		elog(ERROR, "SPI_execute_with_args failed for \"%s\"", sql);
	if (SPI_processed > 0 && SPI_tuptable != NULL)
		v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	zz_restore_user(&saved);
	return v;
}

/*
 * Is a restored registry waiting for zyzzyva.adopt()?  False in a database
 * without the extension's version 0.2 objects.
 */
bool
zz_adopt_pending(void)
{
	Oid			nsp = get_namespace_oid("zyzzyva", true);
	char	   *v;

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("adoption", nsp)))
		return false;
	SPI_connect();
	v = owner_value("SELECT pending FROM zyzzyva.adoption WHERE id OPERATOR(pg_catalog.=) 1",
					0, NULL, NULL);
	SPI_finish();
	return v != NULL && strcmp(v, "t") == 0;
}

/*
 * zyzzyva.registry_loaded(): AFTER INSERT ... FOR EACH STATEMENT on the
 * registry tables.  Rows that arrive outside every mode of the extension
 * and outside its own scripts were not written by replicate_table() or
 * replicate_function(): a restore (or a superuser's INSERT).  The digest
 * does not cover them yet.
 */
Datum
zyzzyva_registry_loaded(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("zyzzyva.registry_loaded() must be called as a trigger")));
	if (zz_exec.mode == ZZ_MODE_NONE && !creating_extension)
	{
		SPI_connect();
		(void) owner_value("UPDATE zyzzyva.adoption SET pending = true, pending_since = pg_catalog.now() "
						   "WHERE id OPERATOR(pg_catalog.=) 1 AND NOT pending",
						   0, NULL, NULL);
		SPI_finish();
	}
	return PointerGetDatum(NULL);
}

/*
 * Refuse a database that has begun its history: adopting there would
 * change one replica's state outside the order.
 */
static void
require_no_history(void)
{
	char	   *v;

	SPI_connect();
	v = owner_value("SELECT s.last_seq OPERATOR(pg_catalog.+) "
					"(SELECT pg_catalog.count(*) FROM zyzzyva.batch_log) "
					"FROM zyzzyva.replica_state s WHERE s.id OPERATOR(pg_catalog.=) 1",
					0, NULL, NULL);
	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("zyzzyva.replica_state has no state row"),
				 errhint("Recreate the extension: its state was deleted.")));
	if (strcmp(v, "0") != 0)
	{
		char	   *seq = owner_value("SELECT last_seq FROM zyzzyva.replica_state", 0, NULL, NULL);

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot adopt objects: this database has applied batches up to %s", seq),
				 errdetail("Outside replication a replica may change its replicated state only before its first batch, when every replica's administrator sets up their own database alike."),
				 errhint("Create and register new objects with zyzzyva.replicated_ddl(); to put existing data under replication, adopt it in fresh databases before the sidecars first start (docs/operations.md).")));
	}
	SPI_finish();
}

/* Seconds since t0. */
static double
seconds_since(TimestampTz t0)
{
	return (double) (GetCurrentTimestamp() - t0) / 1000000.0;
}

/*
 * The number of rows and the bytes on disk of a table (for the result).
 */
static void
table_size(const char *qualname, Oid relid, int64 *rows, int64 *bytes)
{
	StringInfoData sql;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	char	   *v;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT pg_catalog.count(*) FROM ONLY %s", qualname);
	SPI_connect();
	v = owner_value(sql.data, 0, NULL, NULL);
	*rows = v ? strtoll(v, NULL, 10) : 0;
	v = owner_value("SELECT pg_catalog.pg_table_size($1)", 1, argtypes, values);
	*bytes = v ? strtoll(v, NULL, 10) : 0;
	SPI_finish();
	pfree(sql.data);
}

static void
emit(ReturnSetInfo *rsinfo, const char *kind, const char *identity,
	 int64 rows, int64 bytes, bool sized, double secs)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, !sized, !sized, false};

	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(identity);
	values[2] = Int64GetDatum(rows);
	values[3] = Int64GetDatum(bytes);
	values[4] = Float8GetDatum(secs);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Is this table, or this function, registered already?
 */
static bool
registered(const char *sql, Datum a, Datum b)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {a, b};
	char	   *v;

	SPI_connect();
	v = owner_value(sql, b ? 2 : 1, argtypes, values);
	SPI_finish();
	return v != NULL;
}

/*
 * Register the tables and functions named in the arrays that are not
 * replicated yet.
 */
static void
adopt_new(ReturnSetInfo *rsinfo, ArrayType *tables, ArrayType *functions)
{
	Datum	   *elems;
	bool	   *enulls;
	int			n;

	deconstruct_array(tables, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &enulls, &n);
	for (int i = 0; i < n; i++)
	{
		Oid			relid = DatumGetObjectId(elems[i]);
		char	   *nsp,
				   *rel,
				   *qualname;
		TimestampTz t0;
		double		secs;
		int64		rows,
					bytes;

		if (enulls[i])
			continue;
		rel = get_rel_name(relid);
		if (rel == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", relid)));
		nsp = get_namespace_name(get_rel_namespace(relid));
		qualname = quote_qualified_identifier(nsp, rel);
		if (registered("SELECT 1 FROM zyzzyva.table_registry WHERE schema_name OPERATOR(pg_catalog.=) $1 "
					   "AND table_name OPERATOR(pg_catalog.=) $2",
					   CStringGetTextDatum(nsp), CStringGetTextDatum(rel)))
		{
			ereport(NOTICE,
					(errmsg("table %s is replicated already; skipped", qualname)));
			continue;
		}
		t0 = GetCurrentTimestamp();
		(void) DirectFunctionCall1(zyzzyva_replicate_table, ObjectIdGetDatum(relid));
		secs = seconds_since(t0);
		table_size(qualname, relid, &rows, &bytes);
		emit(rsinfo, "table", qualname, rows, bytes, true, secs);
	}

	deconstruct_array(functions, REGPROCEDUREOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &enulls, &n);
	for (int i = 0; i < n; i++)
	{
		Oid			fnoid = DatumGetObjectId(elems[i]);
		char	   *sig;
		TimestampTz t0;

		if (enulls[i])
			continue;
		sig = format_procedure_qualified(fnoid);
		if (registered("SELECT 1 FROM zyzzyva.function_registry WHERE signature OPERATOR(pg_catalog.=) $1",
					   CStringGetTextDatum(sig), (Datum) 0))
		{
			ereport(NOTICE,
					(errmsg("function %s is replicated already; skipped", sig)));
			continue;
		}
		t0 = GetCurrentTimestamp();
		sig = TextDatumGetCString(DirectFunctionCall1(zyzzyva_replicate_function,
													  ObjectIdGetDatum(fnoid)));
		emit(rsinfo, "function", sig, 0, 0, false, seconds_since(t0));
	}
}

/*
 * Finish a restored registry: every replicated table must exist and get
 * its guard and capture triggers (pg_dump restores them; a restore that
 * skipped them gets them here), every replicated function must exist, and
 * the lanes are recomputed from every replicated row.
 */
static void
adopt_restored(ReturnSetInfo *rsinfo)
{
	List	   *names = NIL;
	List	   *relids = NIL;
	ListCell   *lc,
			   *lc2;
	int64		total_rows = 0;
	int			ntables = 0;
	char	   *missing;

	zz_enter_mode(ZZ_MODE_ADMIN, "zyzzyva.adopt()");

	SPI_connect();
	missing = owner_value("SELECT pg_catalog.string_agg(signature, ', ' ORDER BY signature) "
						  "FROM zyzzyva.function_registry "
						  "WHERE pg_catalog.to_regprocedure(signature) IS NULL",
						  0, NULL, NULL);
	if (missing != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("replicated functions are missing: %s", missing),
				 errhint("Restore the whole dump (pg_restore without --table or --section)."),
				 errdetail("The registry names them, the database does not hold them.")));
	if (SPI_execute("SELECT pg_catalog.quote_ident(schema_name) OPERATOR(pg_catalog.||) '.' "
					"OPERATOR(pg_catalog.||) pg_catalog.quote_ident(table_name), "
					"pg_catalog.to_regclass(pg_catalog.quote_ident(schema_name) OPERATOR(pg_catalog.||) '.' "
					"OPERATOR(pg_catalog.||) pg_catalog.quote_ident(table_name))::pg_catalog.oid "
					"FROM zyzzyva.table_registry ORDER BY 1",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read zyzzyva.table_registry");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *oid = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (oid == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("replicated table %s is missing", name),
					 errhint("Restore the whole dump (pg_restore without --table or --section).")));
		names = lappend(names, name);
		relids = lappend_oid(relids, (Oid) strtoul(oid, NULL, 10));
	}

	zz_lthash_zero(&zz_exec.lanes);
	forboth(lc, names, lc2, relids)
	{
		char	   *qualname = lfirst(lc);
		Oid			relid = lfirst_oid(lc2);
		ZzLtHash	acc;
		TimestampTz t0;
		double		secs;
		int64		rows,
					bytes;

		if (get_rel_namespace(relid) != get_namespace_oid("zyzzyva", false))
			zz_install_table_triggers(qualname, true);

		zz_lthash_zero(&acc);
		t0 = GetCurrentTimestamp();
		{
			ZzSavedUser saved;

			/* every row, whatever row security the caller is under */
			zz_as_owner(&saved);
			zz_digest_table_rows(qualname, &acc, false);
			zz_restore_user(&saved);
		}
		secs = seconds_since(t0);
		zz_lthash_add(&zz_exec.lanes, &acc);
		table_size(qualname, relid, &rows, &bytes);
		emit(rsinfo, "digest", qualname, rows, bytes, true, secs);
		total_rows += rows;
		ntables++;
	}
	zz_exec.lanes_dirty = true;

	{
		Oid			argtypes[2] = {INT4OID, INT8OID};
		Datum		values[2] = {Int32GetDatum(ntables), Int64GetDatum(total_rows)};

		(void) owner_value("UPDATE zyzzyva.adoption SET pending = false, pending_since = NULL, "
						   "adopted_at = pg_catalog.now(), adopted_tables = $1, adopted_rows = $2 "
						   "WHERE id OPERATOR(pg_catalog.=) 1",
						   2, argtypes, values);
	}
	SPI_finish();
	zz_leave_mode();
}

/*
 * zyzzyva.adopt(tables regclass[], functions regprocedure[])
 *	  returns table (kind, identity, rows, bytes, seconds)
 *
 * Before the replica's first batch: register the given tables, with their
 * rows, and functions (kind 'table', 'function'); then, if the registry was
 * restored, recompute the digest from every replicated table (kind
 * 'digest').  Run it alike on every replica before the sidecars first
 * start.
 */
Datum
zyzzyva_adopt(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("zyzzyva.adopt() needs arrays, empty ones for none")));
	zz_require_no_mode("zyzzyva.adopt()");
	require_no_history();
	InitMaterializedSRF(fcinfo, 0);

	adopt_new(rsinfo, PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1));
	CommandCounterIncrement();
	if (zz_adopt_pending())
		adopt_restored(rsinfo);
	return (Datum) 0;
}
