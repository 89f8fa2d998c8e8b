/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Declaring replicated tables and functions.
 *
 * The registry (zyzzyva.table_registry, zyzzyva.function_registry) names
 * objects by schema-qualified name and, for functions, argument types:
 * OIDs differ from one replica to the next, names do not.  The registry and
 * the current definitions of the objects it names are part of the state
 * digest (zyzzyva.schema_items).
 *
 * Both functions run outside replicated execution (by hand, on every
 * replica), or inside a replicated DDL request (ddl.c), where they join
 * the batch's transaction and digest lanes, and record their undo.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_replicate_table);
PG_FUNCTION_INFO_V1(zyzzyva_replicate_function);

/*
 * Run a statement on the extension's registry through SPI, as the
 * extension's owner (the caller may be any role allowed to register), and
 * check its result; values are parameters, never interpolated.
 */
static uint64
run(const char *sql, int nargs, Oid *argtypes, Datum *values, int expect)
{
	ZzSavedUser saved;
	int			rc;

	zz_as_owner(&saved);
	rc = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0);
	zz_restore_user(&saved);
	if (rc != expect)
		elog(ERROR, "SPI_execute_with_args failed for \"%s\": %s",
			 sql, SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * Install the guard and capture triggers (capture.c) on a replicated table,
 * enabled ALWAYS so that replication roles do not turn them off.  With
 * or_replace, triggers already there are replaced (adopt.c: a dump restored
 * them); without, a table that has them is an error.  The caller is
 * connected to SPI.
 */
void
zz_install_table_triggers(const char *qualname, bool or_replace)
{
	const char *create = or_replace ? "CREATE OR REPLACE TRIGGER" : "CREATE TRIGGER";
	StringInfoData sql;

	/* identifiers cannot be parameters: qualname is quoted */
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "%s zyzzyva_guard "
					 "BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s "
					 "FOR EACH STATEMENT EXECUTE FUNCTION zyzzyva.guard();"
					 "%s zyzzyva_capture AFTER INSERT OR UPDATE OR DELETE ON %s "
					 "FOR EACH ROW EXECUTE FUNCTION zyzzyva.capture();"
					 "ALTER TABLE %s ENABLE ALWAYS TRIGGER zyzzyva_guard, "
					 "ENABLE ALWAYS TRIGGER zyzzyva_capture",
					 create, qualname, create, qualname, qualname);
	zz_ddl_internal_begin();
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create the triggers of %s", qualname);
	zz_ddl_internal_end();
	pfree(sql.data);
}

/*
 * zyzzyva.replicate_table(regclass) returns void
 *
 * Make a table replicated: check it can be (an ordinary, permanent table
 * with a primary key, since undo and state transfer find rows by key), add
 * its current rows to the digest, record it in the registry, and install
 * the guard and capture triggers (capture.c).  From then on only replicated
 * execution may write it.
 */
Datum
zyzzyva_replicate_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	char	   *nspname,
			   *relname,
			   *qualname;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		nested = zz_ddl_registering();

	if (!nested)
		zz_require_no_mode("zyzzyva.replicate_table()");

	/* blocks writers until commit, as CREATE TRIGGER would */
	rel = table_open(relid, ShareRowExclusiveLock);
	nspname = get_namespace_name(RelationGetNamespace(rel));
	relname = pstrdup(RelationGetRelationName(rel));
	qualname = quote_qualified_identifier(nspname, relname);

	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot replicate partitioned table %s", qualname),
				 errhint("Replicate an ordinary table; partitioned tables are not supported yet.")));
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot replicate %s: it is not a table", qualname)));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot replicate temporary table \"%s\"", relname)));
	if (IsCatalogRelation(rel) || strcmp(nspname, "zyzzyva") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot replicate %s: it belongs to the system or to zyzzyva",
						qualname)));
	/* only its owner may hand a table over to replication */
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
	if (!OidIsValid(RelationGetPrimaryKeyIndex(rel)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s has no primary key", qualname),
				 errdetail("Undo and state transfer find the rows of a replicated table by its primary key."),
				 errhint("Add one with ALTER TABLE %s ADD PRIMARY KEY (...), then call zyzzyva.replicate_table() again.",
						 qualname)));

	/*
	 * Keep the lock but not the relcache reference: ALTER TABLE below
	 * refuses a table that this session still has open.
	 */
	table_close(rel, NoLock);

	if (!nested)
		zz_enter_mode(ZZ_MODE_ADMIN, "zyzzyva.replicate_table()");
	SPI_connect();

	values[0] = CStringGetTextDatum(nspname);
	values[1] = CStringGetTextDatum(relname);
	if (run("SELECT 1 FROM zyzzyva.table_registry "
			"WHERE schema_name = $1 AND table_name = $2",
			2, argtypes, values, SPI_OK_SELECT) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table %s is already replicated", qualname)));

	/*
	 * The rows already there become part of the replicated state.  Inside a
	 * DDL request they may have been written by its earlier statements.
	 */
	{
		ZzSavedUser saved;

		/* every row, whatever row security the caller is under */
		zz_as_owner(&saved);
		zz_digest_table_rows(qualname, &zz_exec.lanes, nested);
		zz_restore_user(&saved);
	}
	zz_exec.lanes_dirty = true;

	run("INSERT INTO zyzzyva.table_registry (schema_name, table_name) VALUES ($1, $2)",
		2, argtypes, values, SPI_OK_INSERT);

	zz_install_table_triggers(qualname, false);

	SPI_finish();
	/* its serial and identity sequences go with it (sequence.c) */
	zz_sequences_table_replicated(relid);
	if (nested)
		zz_ddl_record_registration("unreplicate_table", qualname);
	else
		zz_leave_mode();
	PG_RETURN_VOID();
}

/*
 * Is this type one whose values cannot travel as text (a pseudo-type)?
 */
static bool
is_pseudo_type(Oid typid)
{
	return get_typtype(typid) == TYPTYPE_PSEUDO;
}

/*
 * zyzzyva.replicate_function(regprocedure) returns text
 *
 * Record a function as replicated, under its canonical signature (returned),
 * after checking that calls to it can travel as requests: an ordinary,
 * volatile function, not returning a set or an anonymous record, whose
 * arguments all have text forms.  From then on a call of it outside
 * replicated execution goes through the sidecar (intercept.c): the trigger
 * on the registry tells every backend.
 */
Datum
zyzzyva_replicate_function(PG_FUNCTION_ARGS)
{
	Oid			fnoid = PG_GETARG_OID(0);
	HeapTuple	tup;
	Form_pg_proc proc;
	char	   *signature,
			   *nspname;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	bool		nested = zz_ddl_registering();

	if (!nested)
		zz_require_no_mode("zyzzyva.replicate_function()");

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fnoid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", fnoid)));
	proc = (Form_pg_proc) GETSTRUCT(tup);
	signature = format_procedure_qualified(fnoid);
	nspname = get_namespace_name(proc->pronamespace);
	if (!pg_proc_ownercheck(fnoid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_FUNCTION, NameStr(proc->proname));

	if (proc->prokind != PROKIND_FUNCTION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot replicate %s: only ordinary functions can be replicated",
						signature),
				 errhint("Wrap the procedure or aggregate in a function.")));
	if (proc->proretset)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot replicate %s: it returns a set", signature),
				 errhint("Return an array or a single row instead.")));
	if (strcmp(nspname, "zyzzyva") == 0 || strcmp(nspname, "pg_catalog") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot replicate %s: it belongs to the system or to zyzzyva",
						signature)));
	if (proc->provolatile != PROVOLATILE_VOLATILE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("cannot replicate %s: it is not VOLATILE", signature),
				 errdetail("Each call of a replicated function is a request to every replica, but the planner may evaluate a STABLE or IMMUTABLE function once for many calls, or while planning."),
				 errhint("Declare it VOLATILE (the default) with ALTER FUNCTION.")));
	for (int i = 0; i < proc->pronargs; i++)
		if (is_pseudo_type(proc->proargtypes.values[i]))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot replicate %s: argument %d has pseudo-type %s",
							signature, i + 1,
							format_type_be(proc->proargtypes.values[i])),
					 errhint("Replicated calls carry their arguments as text; declare a concrete type.")));
	if (is_pseudo_type(proc->prorettype) &&
		proc->prorettype != VOIDOID && proc->prorettype != RECORDOID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot replicate %s: it returns pseudo-type %s",
						signature, format_type_be(proc->prorettype))));
	if (proc->prorettype == RECORDOID &&
		heap_attisnull(tup, Anum_pg_proc_proallargtypes, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot replicate %s: it returns an anonymous record", signature),
				 errhint("Declare OUT parameters, or return a named composite type.")));

	values[0] = CStringGetTextDatum(signature);
	values[1] = CStringGetTextDatum(nspname);
	values[2] = CStringGetTextDatum(NameStr(proc->proname));
	ReleaseSysCache(tup);

	if (!nested)
		zz_enter_mode(ZZ_MODE_ADMIN, "zyzzyva.replicate_function()");
	SPI_connect();
	if (run("SELECT 1 FROM zyzzyva.function_registry WHERE signature = $1",
			1, argtypes, values, SPI_OK_SELECT) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_FUNCTION),
				 errmsg("function %s is already replicated", signature)));
	run("INSERT INTO zyzzyva.function_registry (signature, schema_name, function_name) "
		"VALUES ($1, $2, $3)",
		3, argtypes, values, SPI_OK_INSERT);
	SPI_finish();
	if (nested)
		zz_ddl_record_registration("unreplicate_function", signature);
	else
		zz_leave_mode();

	PG_RETURN_TEXT_P(cstring_to_text(signature));
}
