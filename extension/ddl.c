/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  Schema setup as a replicated request: zyzzyva.replicated_ddl(sql).
 *
 * Every replica needs the same replicated tables and functions.  Rather
 * than setting them up by hand on each replica, a user runs
 *
 *	 SELECT zyzzyva.replicated_ddl('CREATE TABLE ...; CREATE FUNCTION ...;
 *									SELECT zyzzyva.replicate_table(...); ...');
 *
 * once, on any replica.  replicated_ddl(text) is a built-in replicated
 * function (intercept.c and apply.c know its signature; it is not in
 * zyzzyva.function_registry, so the digest of an empty replica does not
 * change): the call goes through the sidecar like any replicated call, and
 * every replica runs the SQL inside apply_batch(), in the request's
 * subtransaction, at the same point in the order, under the pinned
 * settings (search_path = public).  While it runs, zz_exec.ddl is set:
 * replicate_table() and replicate_function() then work inside replicated
 * execution, updating the digest lanes of the batch, and apply_batch()
 * reloads the registry after the request, so that later requests of the
 * same batch may call the functions it declared.
 *
 * The hard part is undo.  Zyzzyva executes speculatively, so a batch with
 * a DDL request may be rolled back after a view change, and the database
 * must then be exactly as before it, rows, registry, schema and digest.
 * The ProcessUtility hook below lets through, and records in
 * zyzzyva.undo_log (interleaved with row changes, in the same order
 * counter):
 *
 *	 CREATE TABLE, CREATE INDEX, CREATE FUNCTION/PROCEDURE, CREATE SCHEMA
 *		 undo: drop what it created
 *		 (IF NOT EXISTS on an existing object records nothing);
 *	 ALTER TABLE, CREATE TRIGGER, GRANT/REVOKE on objects this same request
 *		 created (the drop undoes them too);
 *	 replicate_table(), replicate_function()
 *		 undo: unreplicate (take the table's rows back out of the digest,
 *		 drop its triggers, delete the registry row);
 *	 ALTER TABLE (one subcommand: add, drop, rename or retype a column, set
 *		 or drop a default or NOT NULL, add or drop a constraint), RENAME
 *		 of a table, column, index or function, DROP TABLE/INDEX/FUNCTION
 *		 (RESTRICT), CREATE OR REPLACE FUNCTION, GRANT/REVOKE on objects
 *		 that exist
 *		 undo: an exact inverse each, with the registry following renames
 *		 and drops (ddl_evolve.c, docs/ddl.md);
 *
 *	 CREATE SEQUENCE (and the sequences of serial and identity columns, which
 *		 go with their table), undo: drop it (sequence.c: replicated with
 *		 the table that owns it, or by zyzzyva.replicate_sequence());
 *
 * and refuses everything else: temporary and unlogged tables (not durable
 * replicated state), statements that cannot run in a transaction block
 * (VACUUM, CREATE INDEX CONCURRENTLY, ...), transaction control, SET
 * (settings are pinned), CASCADE, and the rest.  Row writes are ordinary:
 * rows of replicated tables get row undo, rows of tables the request
 * created go with the table.  rollback_to() walks the undo newest first;
 * the objects of one request are dropped together once it is past the
 * request (RESTRICT: see zz_pending_drops), when later requests' objects
 * and rows are gone already.
 *
 * Each applied DDL request is kept in zyzzyva.ddl_log (past stable
 * checkpoints; rolled back with its batch), with the role it ran as and
 * its batch's time: the replica's schema history, which the state digest
 * covers and snapshots carry, so that a replica that missed a schema
 * change installs it before the rows (ddl_transfer.c).
 *
 * One replica alone cannot change the schema: a request is a proposal
 * until f+1 replicas have made it (ddl_proposal.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "miscadmin.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "parser/parser.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "zyzzyva.h"
#include "ddl_int.h"

PG_FUNCTION_INFO_V1(zyzzyva_replicated_ddl);

int			zz_cluster_f = 0;

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* objects created by the running DDL request (ObjectAddress), in zz_ddl_cxt */
static List *zz_ddl_created = NIL;
static MemoryContext zz_ddl_cxt = NULL;

/* > 0 while the extension itself runs utility statements (registration) */
static int	zz_ddl_internal = 0;

static SPIPlanPtr ddl_undo_plan = NULL;

static const char *const zz_ddl_detail =
"A replicated DDL request may create tables, sequences, indexes, functions and schemas; alter, rename, drop, replace and grant on tables, indexes and functions; write rows; and call zyzzyva.replicate_table() and zyzzyva.replicate_function(): each change has an exact undo, since a speculative request may be rolled back (docs/ddl.md).";

/*
 * Refuse a statement that a replicated DDL request does not support.
 */
static void
refuse_unsupported(const char *what, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s is not supported in a replicated DDL request", what),
			 why ? errdetail("%s", why) : errdetail("%s", zz_ddl_detail)));
}

/*
 * Refuse a statement that cannot run in a transaction block.
 */
static void
refuse_nontransactional(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
			 errmsg("%s cannot run in a replicated DDL request", what),
			 errdetail("A replicated DDL request runs inside its batch's transaction, in a subtransaction of its own, on every replica."),
			 errhint("Run it on each replica by hand if it changes nothing replicated.")));
}

/*
 * Check the statements of a DDL request before running any: the kinds the
 * request may contain at its top level.  The ProcessUtility hook checks
 * each utility statement again when it runs, with the catalogs at hand
 * (and statements run by functions the request calls).
 */
static void
check_statements(const char *sql)
{
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	ListCell   *lc;

	if (raw == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("replicated DDL request is empty")));
	foreach(lc, raw)
	{
		Node	   *stmt = castNode(RawStmt, lfirst(lc))->stmt;
		const char *tag = GetCommandTagName(CreateCommandTag(stmt));

		switch (nodeTag(stmt))
		{
			case T_SelectStmt:
			case T_InsertStmt:
			case T_UpdateStmt:
			case T_DeleteStmt:
			case T_CreateFunctionStmt:
			case T_AlterTableStmt:
			case T_CreateTrigStmt:
			case T_GrantStmt:
			case T_DropStmt:
			case T_RenameStmt:
				break;
			case T_CreateStmt:
				if (((CreateStmt *) stmt)->relation->relpersistence == RELPERSISTENCE_TEMP)
					refuse_unsupported("CREATE TEMPORARY TABLE",
									   "A temporary table is not replicated state.");
				if (((CreateStmt *) stmt)->relation->relpersistence == RELPERSISTENCE_UNLOGGED)
					refuse_unsupported("CREATE UNLOGGED TABLE",
									   "An unlogged table is emptied after a crash, so a replica would lose replicated rows.");
				break;
			case T_IndexStmt:
				if (((IndexStmt *) stmt)->concurrent)
					refuse_nontransactional("CREATE INDEX CONCURRENTLY");
				break;
			case T_CreateSchemaStmt:
				if (((CreateSchemaStmt *) stmt)->schemaElts != NIL)
					refuse_unsupported("CREATE SCHEMA with elements",
									   "Create the schema's objects in statements of their own.");
				break;
			case T_TransactionStmt:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
						 errmsg("%s is not allowed in a replicated DDL request", tag),
						 errdetail("The request runs in its batch's transaction, in a subtransaction of its own; it commits with the batch.")));
				break;
			case T_VacuumStmt:
			case T_CreatedbStmt:
			case T_DropdbStmt:
			case T_CreateTableSpaceStmt:
			case T_DropTableSpaceStmt:
			case T_AlterSystemStmt:
			case T_ReindexStmt:
			case T_ClusterStmt:
			case T_CreateSubscriptionStmt:
			case T_DropSubscriptionStmt:
			case T_AlterSubscriptionStmt:
				refuse_nontransactional(tag);
				break;
			case T_VariableSetStmt:
				refuse_unsupported(tag,
								   "Replicated execution pins the settings that change how values read and print, search_path = public among them.");
				break;
			case T_CreateSeqStmt:
				if (((CreateSeqStmt *) stmt)->sequence->relpersistence != RELPERSISTENCE_PERMANENT)
					refuse_unsupported("CREATE TEMPORARY or UNLOGGED SEQUENCE",
									   "Only a permanent sequence can be replicated state.");
				break;
			default:
				refuse_unsupported(tag, NULL);
				break;
		}
	}
	list_free_deep(raw);
}

/*
 * Record one schema action in the undo of the current batch, in order with
 * its row changes (capture.c).
 */
static void
record_undo(const char *action, const char *target)
{
	Oid			argtypes[5] = {INT8OID, INT4OID, INT4OID, TEXTOID, TEXTOID};
	Datum		values[5];
	ZzSavedUser saved;

	values[0] = Int64GetDatum(zz_exec.seq);
	values[1] = Int32GetDatum(zz_exec.undo_ord);
	values[2] = Int32GetDatum(zz_exec.request);
	values[3] = CStringGetTextDatum(action);
	values[4] = CStringGetTextDatum(target);

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_plan(zz_keep_plan(&ddl_undo_plan,
									  "INSERT INTO zyzzyva.undo_log "
									  "(seq, ord, request, rel, action, target) "
									  "VALUES ($1, $2, $3, 0, $4, $5)",
									  5, argtypes),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write an undo record");
	SPI_finish();
	zz_restore_user(&saved);
	zz_exec.undo_ord++;
}

/*
 * Note that the running request created an object, and record its undo.
 */
static void
created(Oid classid, Oid objid, const char *action, const char *target)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(zz_ddl_cxt);
	ObjectAddress *addr = palloc(sizeof(ObjectAddress));

	ObjectAddressSet(*addr, classid, objid);
	zz_ddl_created = lappend(zz_ddl_created, addr);
	MemoryContextSwitchTo(oldcxt);
	record_undo(action, target);
}

/*
 * Did the running request create this object?
 */
static bool
created_here(Oid classid, Oid objid)
{
	ListCell   *lc;

	foreach(lc, zz_ddl_created)
	{
		ObjectAddress *addr = lfirst(lc);

		if (addr->classId == classid && addr->objectId == objid)
			return true;
	}
	return false;
}

/*
 * Refuse to change an object that the running request did not create.
 */
static void
require_created_here(Oid classid, Oid objid, const char *what)
{
	if (!OidIsValid(objid) || !created_here(classid, objid))
	{
		ObjectAddress addr;

		ObjectAddressSet(addr, classid, objid);
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not supported in a replicated DDL request on %s, which the request did not create",
						what,
						OidIsValid(objid) ? getObjectDescription(&addr, true) : "an object"),
				 errdetail("The undo of a replicated DDL request drops what it created; it cannot restore an earlier definition.")));
	}
}

static char *
relation_qualname(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * The OIDs of the functions named name in namespace nspid.
 */
static List *
functions_named(Oid nspid, const char *name)
{
	CatCList   *catlist = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum(name));
	List	   *oids = NIL;

	for (int i = 0; i < catlist->n_members; i++)
	{
		HeapTuple	tup = &catlist->members[i]->tuple;
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tup);

		if (proc->pronamespace == nspid)
			oids = lappend_oid(oids, proc->oid);
	}
	ReleaseSysCacheList(catlist);
	return oids;
}

/*
 * The OIDs of the indexes of a relation.
 */
static List *
indexes_of(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	List	   *list = list_copy(RelationGetIndexList(rel));

	table_close(rel, AccessShareLock);
	return list;
}

/* one utility statement, as ddl_utility received it */
typedef struct ZzUtilityArgs
{
	PlannedStmt *pstmt;
	const char *queryString;
	bool		readOnlyTree;
	ProcessUtilityContext context;
	ParamListInfo params;
	QueryEnvironment *queryEnv;
	DestReceiver *dest;
	QueryCompletion *qc;
} ZzUtilityArgs;

static void
run_utility(void *arg)
{
	ZzUtilityArgs *a = arg;

	if (prev_ProcessUtility)
		prev_ProcessUtility(a->pstmt, a->queryString, a->readOnlyTree, a->context,
							a->params, a->queryEnv, a->dest, a->qc);
	else
		standard_ProcessUtility(a->pstmt, a->queryString, a->readOnlyTree, a->context,
								a->params, a->queryEnv, a->dest, a->qc);
	CommandCounterIncrement();
}

/*
 * Check, run and record one utility statement of a DDL request.
 */
static void
ddl_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			ProcessUtilityContext context, ParamListInfo params,
			QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	const char *tag = GetCommandTagName(CreateCommandTag(stmt));
	ZzUtilityArgs args = {pstmt, queryString, readOnlyTree, context, params,
	queryEnv, dest, qc};

#define RUN() \
	do { \
		if (prev_ProcessUtility) \
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, \
								params, queryEnv, dest, qc); \
		else \
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, \
									params, queryEnv, dest, qc); \
		CommandCounterIncrement(); \
	} while (0)

	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
		case T_CreateSeqStmt:
			{
				bool		is_table = IsA(stmt, CreateStmt);
				RangeVar   *rv = is_table ? ((CreateStmt *) stmt)->relation :
				((CreateSeqStmt *) stmt)->sequence;
				Oid			before,
							after;

				if (rv->relpersistence != RELPERSISTENCE_PERMANENT)
					refuse_unsupported(tag, is_table ?
									   "Temporary and unlogged tables are not durable replicated state." :
									   "Only a permanent sequence can be replicated state.");
				before = RangeVarGetRelid(rv, NoLock, true);
				RUN();
				after = RangeVarGetRelid(rv, NoLock, true);
				/* drop_table drops any relation, a sequence too */
				if (OidIsValid(after) && after != before)
					created(RelationRelationId, after, "drop_table", relation_qualname(after));
				break;
			}
		case T_IndexStmt:
			{
				IndexStmt  *is = (IndexStmt *) stmt;
				Oid			relid;
				List	   *before,
						   *after;
				ListCell   *lc;

				if (is->concurrent)
					refuse_nontransactional("CREATE INDEX CONCURRENTLY");
				relid = RangeVarGetRelid(is->relation, NoLock, false);
				before = indexes_of(relid);
				RUN();
				after = indexes_of(relid);
				foreach(lc, after)
					if (!list_member_oid(before, lfirst_oid(lc)))
						created(RelationRelationId, lfirst_oid(lc), "drop_index",
								relation_qualname(lfirst_oid(lc)));
				break;
			}
		case T_CreateFunctionStmt:
			{
				CreateFunctionStmt *cf = (CreateFunctionStmt *) stmt;
				char	   *name;
				Oid			nspid = QualifiedNameGetCreationNamespace(cf->funcname, &name);
				List	   *before = functions_named(nspid, name);
				List	   *defs = NIL;
				List	   *after;
				ListCell   *lc,
						   *lc2;

				/* the definitions CREATE OR REPLACE may change */
				if (cf->replace)
					foreach(lc, before)
						defs = lappend(defs, zz_ddl_function_def(lfirst_oid(lc)));
				RUN();
				after = functions_named(nspid, name);
				foreach(lc, after)
				{
					if (list_member_oid(before, lfirst_oid(lc)))
						continue;
					created(ProcedureRelationId, lfirst_oid(lc), "drop_routine",
							format_procedure_qualified(lfirst_oid(lc)));
				}
				forboth(lc, before, lc2, defs)
				{
					Oid			fn = lfirst_oid(lc);
					char	   *def = zz_ddl_function_def(fn);

					if (created_here(ProcedureRelationId, fn) || def == NULL ||
						lfirst(lc2) == NULL || strcmp(def, lfirst(lc2)) == 0)
						continue;
					zz_ddl_record_replace(lfirst(lc2));
				}
				break;
			}
		case T_CreateSchemaStmt:
			{
				CreateSchemaStmt *cs = (CreateSchemaStmt *) stmt;
				Oid			before,
							after;

				if (cs->schemaElts != NIL)
					refuse_unsupported("CREATE SCHEMA with elements",
									   "Create the schema's objects in statements of their own.");
				if (cs->schemaname == NULL)
					refuse_unsupported("CREATE SCHEMA without a name", NULL);
				before = get_namespace_oid(cs->schemaname, true);
				RUN();
				after = get_namespace_oid(cs->schemaname, true);
				if (OidIsValid(after) && after != before)
					created(NamespaceRelationId, after, "drop_schema",
							quote_identifier(cs->schemaname));
				break;
			}
		case T_AlterTableStmt:
			{
				AlterTableStmt *at = (AlterTableStmt *) stmt;
				Oid			relid = RangeVarGetRelid(at->relation, NoLock, at->missing_ok);

				if (!OidIsValid(relid) || created_here(RelationRelationId, relid))
					RUN();
				else
					zz_ddl_alter_table(at, relid, run_utility, &args);
				break;
			}
		case T_RenameStmt:
			{
				RenameStmt *rs = (RenameStmt *) stmt;
				Oid			relid = rs->relation ?
					RangeVarGetRelid(rs->relation, NoLock, true) : InvalidOid;

				/*
				 * A column of a table this request created goes with the
				 * table; a renamed table, index or function records its
				 * rename even then, since the drop that undoes its creation
				 * names it as it was created.
				 */
				if (OidIsValid(relid) && created_here(RelationRelationId, relid) &&
					rs->renameType == OBJECT_COLUMN)
					RUN();
				else
					zz_ddl_rename(rs, run_utility, &args);
				break;
			}
		case T_DropStmt:
			{
				zz_ddl_drop((DropStmt *) stmt, run_utility, &args);
				break;
			}
		case T_CreateTrigStmt:
			{
				CreateTrigStmt *ct = (CreateTrigStmt *) stmt;

				require_created_here(RelationRelationId,
									 RangeVarGetRelid(ct->relation, NoLock, true), tag);
				RUN();
				break;
			}
		case T_GrantStmt:
			{
				GrantStmt  *gs = (GrantStmt *) stmt;
				ListCell   *lc;

				if (gs->targtype != ACL_TARGET_OBJECT)
					refuse_unsupported("GRANT or REVOKE on all objects in a schema", NULL);
				foreach(lc, gs->privileges)
					if (lfirst_node(AccessPriv, lc)->cols != NIL)
						refuse_unsupported("GRANT or REVOKE on columns",
										   "Grant on the whole table.");
				foreach(lc, gs->objects)
				{
					Oid			classid = InvalidOid;
					Oid			objid = InvalidOid;

					switch (gs->objtype)
					{
						case OBJECT_SEQUENCE:
						case OBJECT_TABLE:
							classid = RelationRelationId;
							objid = RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, false);
							break;
						case OBJECT_FUNCTION:
						case OBJECT_PROCEDURE:
						case OBJECT_ROUTINE:
							classid = ProcedureRelationId;
							objid = LookupFuncWithArgs(gs->objtype, lfirst_node(ObjectWithArgs, lc),
													   false);
							break;
						case OBJECT_SCHEMA:
							classid = NamespaceRelationId;
							objid = get_namespace_oid(strVal(lfirst(lc)), false);
							break;
						default:
							refuse_unsupported("GRANT or REVOKE on this kind of object", NULL);
							break;
					}
					/* the ACL before, unless the drop of a new object undoes it */
					if (!created_here(classid, objid))
						zz_ddl_record_acl(classid, objid);
				}
				RUN();
				break;
			}
		case T_TransactionStmt:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
					 errmsg("%s is not allowed in a replicated DDL request", tag)));
			break;
		case T_VacuumStmt:
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterSystemStmt:
		case T_ReindexStmt:
		case T_ClusterStmt:
			refuse_nontransactional(tag);
			break;
		default:
			refuse_unsupported(tag, NULL);
			break;
	}
#undef RUN
}

/*
 * ProcessUtility hook: while a replicated DDL request runs, every utility
 * statement it runs, directly or through functions, is checked and its
 * undo recorded (ddl_utility).  Statements a command runs for itself
 * (the index of a PRIMARY KEY, a foreign key's ALTER TABLE) go with their
 * command, the sequence of a serial or identity column too.
 */
static void
zz_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				  ProcessUtilityContext context, ParamListInfo params,
				  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (zz_exec.mode == ZZ_MODE_APPLY && zz_exec.ddl && zz_ddl_internal == 0)
	{
		if (context != PROCESS_UTILITY_SUBCOMMAND)
		{
			ddl_utility(pstmt, queryString, readOnlyTree, context, params,
						queryEnv, dest, qc);
			return;
		}
		/* the sequence of a serial or identity column goes with its table */
	}
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}


/*
 * Run the statements of a decided DDL request as the current role, in the
 * running request, recording their undo, and keep it in zyzzyva.ddl_log
 * (with role, the role it runs as, and the batch's time): the schema
 * history that the digest covers and snapshots carry (ddl_transfer.c).
 */
void
zz_ddl_execute(const char *sql, const char *role)
{
	zz_exec.ddl = true;
	zz_exec.ddl_ran = true;
	zz_ddl_created = NIL;
	zz_ddl_cxt = CurrentMemoryContext;
	zz_ddl_internal = 0;
	PG_TRY();
	{
		Oid			argtypes[5] = {INT8OID, INT4OID, TEXTOID, NAMEOID, INT8OID};
		Datum		values[5];
		ZzSavedUser saved;
		int			rc;
		int			nestlevel;

		/*
		 * Unqualified names create objects in public; pg_catalog is still
		 * searched first (implicitly), as for replicated calls.
		 */
		SPI_connect();
		nestlevel = NewGUCNestLevel();
		(void) set_config_option("search_path", ZZ_DDL_SEARCH_PATH,
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
		rc = SPI_execute(sql, false, 0);
		if (rc < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("replicated DDL request failed: %s", SPI_result_code_string(rc))));
		AtEOXact_GUC(true, nestlevel);

		values[0] = Int64GetDatum(zz_exec.seq);
		values[1] = Int32GetDatum(zz_exec.request);
		values[2] = CStringGetTextDatum(sql);
		values[3] = DirectFunctionCall1(namein, CStringGetDatum(role));
		values[4] = Int64GetDatum(zz_exec.nd_time);
		zz_as_owner(&saved);
		/* version 0.1's log keeps neither role nor time */
		if (zz_extension_has("ddl_log", "role") ?
			SPI_execute_with_args("INSERT INTO zyzzyva.ddl_log (seq, request, sql, role, nd_time) "
								  "VALUES ($1, $2, $3, $4, $5)",
								  5, argtypes, values, NULL, false, 0) != SPI_OK_INSERT :
			SPI_execute_with_args("INSERT INTO zyzzyva.ddl_log (seq, request, sql) "
								  "VALUES ($1, $2, $3)",
								  3, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record a replicated DDL request");
		zz_restore_user(&saved);
		SPI_finish();
	}
	PG_FINALLY();
	{
		zz_exec.ddl = false;
		zz_ddl_created = NIL;
		zz_ddl_internal = 0;
	}
	PG_END_TRY();
}

/*
 * zyzzyva.replicated_ddl(sql text) returns void
 *
 * Runs only inside apply_batch(), as (or inside) a request: elsewhere a
 * call of it is routed to the sidecar (intercept.c).  See the file header.
 */
Datum
zyzzyva_replicated_ddl(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (zz_exec.mode != ZZ_MODE_APPLY || zz_exec.request < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("zyzzyva.replicated_ddl() runs only as a replicated request"),
				 errhint("Call it in a statement of its own on a replica whose sidecar runs: SELECT zyzzyva.replicated_ddl('...').")));
	if (zz_exec.ddl)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("zyzzyva.replicated_ddl() cannot be nested")));

	check_statements(sql);

	/* a proposal until f+1 replicas made it */
	if (zz_cluster_f > 0 && !zz_ddl_proposal_decides(sql))
		PG_RETURN_VOID();

	zz_ddl_execute(sql, GetUserNameFromId(GetUserId(), false));
	PG_RETURN_VOID();
}

/*
 * May replicate_table() / replicate_function() run now?  Outside
 * replicated execution, or inside a replicated DDL request.
 */
bool
zz_ddl_registering(void)
{
	return zz_exec.mode == ZZ_MODE_APPLY && zz_exec.ddl;
}

/*
 * The extension's own utility statements (registration's triggers) pass
 * the hook unchecked between these two calls.
 */
void
zz_ddl_internal_begin(void)
{
	zz_ddl_internal++;
}

void
zz_ddl_internal_end(void)
{
	if (zz_ddl_internal > 0)
		zz_ddl_internal--;
}

/*
 * Record the undo of a registration made by the running DDL request.
 */
void
zz_ddl_record_registration(const char *action, const char *target)
{
	Assert(zz_ddl_registering());
	record_undo(action, target);
}

/*
 * The objects of one DDL request that rollback_to() is dropping: collected
 * while it walks back through the request's undo, and dropped together
 * once it is past the request (zz_ddl_undo_flush), in one
 * performMultipleDeletions() with RESTRICT.  Together, because the objects
 * of one request may depend on each other in any order (a trigger created
 * after its function, a foreign key added between two new tables);
 * RESTRICT, because nothing outside the request may be dropped with them:
 * later requests' objects are gone already, and if a local object made by
 * hand depends on one of them, the rollback fails loudly rather than drop
 * it silently.
 */
static ObjectAddresses *zz_pending_drops = NULL;
static int64 zz_pending_seq = -1;
static int32 zz_pending_request = -1;

/*
 * Start a rollback: nothing pending (an earlier rollback may have failed).
 */
void
zz_ddl_undo_begin(void)
{
	zz_pending_drops = NULL;
	zz_pending_seq = -1;
	zz_pending_request = -1;
}

/*
 * Drop the pending objects unless they belong to request (seq, request),
 * whose undo is still being walked; (-1, -1) drops them in any case.
 */
void
zz_ddl_undo_flush(int64 seq, int32 request)
{
	if (zz_pending_drops == NULL ||
		(seq == zz_pending_seq && request == zz_pending_request))
		return;
	performMultipleDeletions(zz_pending_drops, DROP_RESTRICT, 0);
	CommandCounterIncrement();
	free_object_addresses(zz_pending_drops);
	zz_pending_drops = NULL;
	zz_pending_seq = -1;
	zz_pending_request = -1;
}

/*
 * Undo one schema action (rollback_to(), in ZZ_MODE_UNDO, connected to
 * SPI).  The undo of later changes has run already, so what the action
 * made is as it made it.
 */
void
zz_ddl_undo(int64 seq, int32 request, const char *action, const char *target)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	ZzSavedUser saved;
	ObjectAddress addr;

	values[0] = CStringGetTextDatum(target);
	if (strncmp(action, "drop_", 5) == 0)
	{
		if (strcmp(action, "drop_table") == 0 || strcmp(action, "drop_index") == 0)
			ObjectAddressSet(addr, RelationRelationId,
							 DatumGetObjectId(DirectFunctionCall1(regclassin,
																  CStringGetDatum(target))));
		else if (strcmp(action, "drop_routine") == 0)
			ObjectAddressSet(addr, ProcedureRelationId,
							 DatumGetObjectId(DirectFunctionCall1(regprocedurein,
																  CStringGetDatum(target))));
		else if (strcmp(action, "drop_schema") == 0)
			ObjectAddressSet(addr, NamespaceRelationId,
							 DatumGetObjectId(DirectFunctionCall1(regnamespacein,
																  CStringGetDatum(target))));
		else
			goto unknown;
		if (zz_pending_drops == NULL)
		{
			zz_pending_drops = new_object_addresses();
			zz_pending_seq = seq;
			zz_pending_request = request;
		}
		add_exact_object_address(&addr, zz_pending_drops);
		return;
	}
	if (strcmp(action, "unreplicate_table") == 0)
	{
		ZzLtHash	rows;

		/* its rows leave the replicated state, as they entered it */
		zz_lthash_zero(&rows);
		zz_digest_table_rows(target, &rows, true);
		zz_lthash_sub(&zz_exec.lanes, &rows);
		zz_exec.lanes_dirty = true;
		if (SPI_execute(psprintf("DROP TRIGGER zyzzyva_guard ON %s;"
								 "DROP TRIGGER zyzzyva_capture ON %s", target, target),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not drop the triggers of %s", target);
		zz_as_owner(&saved);
		if (SPI_execute_with_args("DELETE FROM zyzzyva.table_registry "
								  "WHERE pg_catalog.quote_ident(schema_name) OPERATOR(pg_catalog.||) '.' "
								  "OPERATOR(pg_catalog.||) pg_catalog.quote_ident(table_name) "
								  "OPERATOR(pg_catalog.=) $1",
								  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE ||
			SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("undo of batch " INT64_FORMAT " does not match the registry: table %s is not replicated",
							seq, target)));
		zz_restore_user(&saved);
		return;
	}
	if (strcmp(action, "unreplicate_function") == 0)
	{
		zz_as_owner(&saved);
		if (SPI_execute_with_args("DELETE FROM zyzzyva.function_registry WHERE signature = $1",
								  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE ||
			SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("undo of batch " INT64_FORMAT " does not match the registry: function %s is not replicated",
							seq, target)));
		zz_restore_user(&saved);
		return;
	}
	if (zz_ddl_undo_evolve(seq, action, target))
		return;
unknown:
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("undo of batch " INT64_FORMAT " has an unknown action \"%s\"",
					seq, action)));
}

/*
 * Install the ProcessUtility hook (from _PG_init).
 */
void
zz_ddl_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = zz_ProcessUtility;
}
