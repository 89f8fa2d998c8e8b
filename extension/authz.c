/*-------------------------------------------------------------------------
 *
 * authz.c
 *	  Who a replicated request runs as, and which replica may ask for it.
 *
 * Every request carries the name of the role that made the call (wire.c).
 * Apply runs the call as that role, in a security-restricted operation,
 * as PostgreSQL runs maintenance commands as a table's owner
 * (SetUserIdAndSecContext with SECURITY_LOCAL_USERID_CHANGE and
 * SECURITY_RESTRICTED_OPERATION): EXECUTE, table privileges, row security,
 * SECURITY DEFINER and INVOKER behave as for a local call, and the call
 * cannot SET ROLE, create temporary objects or leave anything behind in
 * the sidecar's session.
 *
 * The request's role comes from the replica whose sidecar submitted it: a
 * correct replica's backend names its current user, but a faulty replica
 * may name any role.  The request's client id names that replica (client
 * id / 65536; the request's MAC authenticator, which every replica checks
 * before accepting an ORDER-REQ, is keyed with that replica's key), so the
 * decision can be made the same way by every correct replica: the request
 * runs only if its origin replica is entrusted with the role.
 *
 * The entrustment is zyzzyva.entrust, a list
 *
 *	   replica:role,role,...;replica:role,...
 *
 * where "*" stands for every role that is not a superuser (a superuser
 * must be named).  The sidecar sets it on its connection from the
 * `entrust.N` lines of its configuration, which are part of the cluster
 * identity its peers check at the handshake: correct replicas that talk
 * to one another hold the same entrustment.  It is read once at the start
 * of each batch and cannot be changed inside replicated execution.
 *
 * Two more guards live here.  In replicated execution, whoever the caller
 * is, statements and functions that reach outside the database, change
 * roles or bring in unchecked code are refused (check_utility, the planner
 * hook).  Outside it, statements that change replicated tables and
 * functions are refused for every role unless zyzzyva.repair_mode is on
 * (check_protected).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_language.h"
#include "catalog/pg_namespace.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "parser/parse_func.h"
#include "parser/parse_type.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "zyzzyva.h"

char	   *zz_entrust = NULL;

/* client ids are replica id * 65536 + slot (sidecar/daemon/local.c) */
#define ZZ_CLIENTS_PER_REPLICA 65536

/* one "replica:role" pair of the parsed entrustment */
typedef struct ZzEntrusted
{
	uint32		replica;
	char		role[NAMEDATALEN];	/* "*": every role that is not a superuser */
} ZzEntrusted;

/* the entrustment as of the start of the running batch */
static ZzEntrusted *zz_entrusted = NULL;
static int	zz_nentrusted = 0;

/*
 * Parse an entrustment list into *out (allocated in cxt, or not at all if
 * cxt is NULL).  Returns false with *why set if it is malformed.
 */
static bool
entrust_parse(const char *text, MemoryContext cxt, ZzEntrusted **out, int *count,
			  const char **why)
{
	char	   *copy = pstrdup(text);
	char	   *entry,
			   *save1 = NULL;
	int			cap = 16,
				n = 0;
	ZzEntrusted *list = palloc(sizeof(ZzEntrusted) * cap);

	for (entry = strtok_r(copy, ";", &save1); entry != NULL;
		 entry = strtok_r(NULL, ";", &save1))
	{
		char	   *colon = strchr(entry, ':');
		char	   *end;
		char	   *role,
				   *save2 = NULL;
		long		replica;

		while (*entry == ' ')
			entry++;
		if (*entry == '\0')
			continue;
		if (colon == NULL)
		{
			*why = "each entry must be replica:role,role,...";
			return false;
		}
		*colon = '\0';
		replica = strtol(entry, &end, 10);
		while (*end == ' ')
			end++;
		if (end == entry || *end != '\0' || replica < 0 || replica >= 65536)
		{
			*why = "a replica must be a number from 0 to 65535";
			return false;
		}
		for (role = strtok_r(colon + 1, ",", &save2); role != NULL;
			 role = strtok_r(NULL, ",", &save2))
		{
			size_t		len;

			while (*role == ' ')
				role++;
			len = strlen(role);
			while (len > 0 && role[len - 1] == ' ')
				role[--len] = '\0';
			if (len == 0)
				continue;
			if (len >= NAMEDATALEN)
			{
				*why = "a role name is too long";
				return false;
			}
			if (n == cap)
			{
				cap *= 2;
				list = repalloc(list, sizeof(ZzEntrusted) * cap);
			}
			list[n].replica = (uint32) replica;
			strlcpy(list[n].role, role, NAMEDATALEN);
			n++;
		}
	}
	if (cxt != NULL)
	{
		*out = MemoryContextAlloc(cxt, sizeof(ZzEntrusted) * Max(n, 1));
		memcpy(*out, list, sizeof(ZzEntrusted) * n);
		*count = n;
	}
	pfree(list);
	pfree(copy);
	return true;
}

/*
 * GUC check hook of zyzzyva.entrust: well-formed, and not changed by a
 * replicated request (which could make its own session differ from a
 * replica whose sidecar reconnected).
 */
bool
zz_entrust_check(char **newval, void **extra, GucSource source)
{
	const char *why = NULL;

	if (zz_exec.mode != ZZ_MODE_NONE)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("zyzzyva.entrust cannot be changed during replicated execution");
		return false;
	}
	if (*newval != NULL && !entrust_parse(*newval, NULL, NULL, NULL, &why))
	{
		GUC_check_errdetail("%s", why);
		return false;
	}
	return true;
}

/*
 * Read the entrustment for the batch about to run (into cxt, which lives
 * as long as the batch).
 */
void
zz_entrust_load(MemoryContext cxt)
{
	const char *why = NULL;

	zz_entrusted = NULL;
	zz_nentrusted = 0;
	if (zz_entrust != NULL &&
		!entrust_parse(zz_entrust, cxt, &zz_entrusted, &zz_nentrusted, &why))
		elog(ERROR, "zyzzyva.entrust is malformed: %s", why);
}

/*
 * Forget the batch's entrustment.
 */
void
zz_entrust_unload(void)
{
	zz_entrusted = NULL;
	zz_nentrusted = 0;
}

/*
 * Is the replica that hosts client entrusted with role?
 */
static bool
entrusted(uint32 client, const char *role, bool is_super)
{
	uint32		replica = client / ZZ_CLIENTS_PER_REPLICA;

	for (int i = 0; i < zz_nentrusted; i++)
	{
		if (zz_entrusted[i].replica != replica)
			continue;
		if (strcmp(zz_entrusted[i].role, role) == 0)
			return true;
		if (!is_super && strcmp(zz_entrusted[i].role, "*") == 0)
			return true;
	}
	return false;
}

/*
 * Check that the request may run as the role it names, from the replica
 * that sent it, in this database, and return that role's OID.  Every
 * refusal is an ERROR, which becomes the request's reply: the same on
 * every replica whose roles and entrustment agree.
 */
Oid
zz_request_role(const ZzRequest *req, const ZzCall *call)
{
	Oid			roleid;
	bool		is_super;
	char	   *dbname = get_database_name(MyDatabaseId);

	if (dbname == NULL || strcmp(dbname, call->database) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_CATALOG_NAME),
				 errmsg("request for database \"%s\" cannot run in database \"%s\"",
						call->database, dbname ? dbname : "?"),
				 errhint("Every replica's database must have the same name.")));
	/* the entrustment first: a replica learns nothing of roles not its own */
	roleid = get_role_oid(call->role, true);
	is_super = OidIsValid(roleid) && superuser_arg(roleid);
	if (!entrusted(req->client, call->role, is_super))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("replica %u is not entrusted with role \"%s\"",
						req->client / ZZ_CLIENTS_PER_REPLICA, call->role),
				 errdetail("The request came from replica %u's sidecar; the cluster's entrust.%u setting does not name this role%s.",
						   req->client / ZZ_CLIENTS_PER_REPLICA,
						   req->client / ZZ_CLIENTS_PER_REPLICA,
						   is_super ? " (a superuser must be named, \"*\" does not cover it)" : ""),
				 errhint("List the role in entrust.N of every replica's zyzzyvad configuration.")));
	if (!OidIsValid(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" of the replicated call does not exist", call->role),
				 errhint("Create the roles that call replicated functions on every replica.")));
	return roleid;
}

/*
 * Become role for a replicated call, in a security-restricted operation.
 * The abort of the request's subtransaction restores the user by itself.
 */
void
zz_become_caller(Oid roleid, ZzSavedUser *saved)
{
	GetUserIdAndSecContext(&saved->user, &saved->sec);
	saved->nestlevel = 0;
	SetUserIdAndSecContext(roleid, saved->sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/*
 * What replicated execution may not do, whoever the caller is (a replica
 * entrusted with a superuser included): reach outside the database (files,
 * programs, the server's processes and configuration), change roles, or
 * bring in code that runs outside PostgreSQL's privilege checks (C and
 * untrusted languages, extensions, LOAD).  A call as an ordinary role is
 * refused most of these by PostgreSQL itself; these checks make the
 * refusal the same for every role, and name it.
 */
static const char *const zz_outside_functions[] = {
	"pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_ls_dir",
	"pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir",
	"pg_ls_logicalsnapdir", "pg_ls_logicalmapdir", "pg_ls_replslotdir",
	"pg_current_logfile", "pg_file_write", "pg_file_rename", "pg_file_unlink",
	"pg_file_sync", "lo_import", "lo_export", "pg_reload_conf",
	"pg_rotate_logfile", "pg_terminate_backend", "pg_cancel_backend",
	"pg_promote", "pg_switch_wal", "pg_create_restore_point",
	"pg_backup_start", "pg_backup_stop", "pg_log_backend_memory_contexts",
	"pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
	"pg_drop_replication_slot", "pg_logical_emit_message",
	"pg_import_system_collations", "pg_tablespace_location",
};

static planner_hook_type prev_planner_hook = NULL;

/*
 * Raise the refusal of what in replicated execution.
 */
static void
refuse(const char *what, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s is not allowed in replicated execution", what),
			 errdetail("%s", why),
			 errhint("Replicated functions and replicated DDL may change only this database's replicated state.")));
}

/*
 * Refuse a call of a function of pg_catalog that reaches outside the
 * database.
 */
static void
check_outside_function(Oid funcid)
{
	char	   *name;

	if (get_func_namespace(funcid) != PG_CATALOG_NAMESPACE)
		return;
	name = get_func_name(funcid);
	if (name == NULL)
		return;
	for (int i = 0; i < lengthof(zz_outside_functions); i++)
		if (strcmp(name, zz_outside_functions[i]) == 0)
			refuse(psprintf("%s()", name),
				   "It reads or writes files or acts on the server outside the database, "
				   "which no replica can check against the others.");
	pfree(name);
}

/*
 * Walk a query and every expression and subquery in it.
 */
static bool
outside_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr))
		check_outside_function(((FuncExpr *) node)->funcid);
	else if (IsA(node, Query))
		return query_tree_walker((Query *) node, outside_walker, context, 0);
	return expression_tree_walker(node, outside_walker, context);
}

/*
 * Planner hook: in replicated execution, refuse calls that reach outside
 * the database, before planning and again after (SQL functions inlined).
 */
static PlannedStmt *
zz_authz_planner(Query *parse, const char *query_string, int cursorOptions,
				 ParamListInfo boundParams)
{
	PlannedStmt *stmt;

	if (zz_exec.mode == ZZ_MODE_APPLY)
		(void) query_tree_walker(parse, outside_walker, NULL, 0);
	if (prev_planner_hook)
		stmt = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	else
		stmt = standard_planner(parse, query_string, cursorOptions, boundParams);
	if (zz_exec.mode == ZZ_MODE_APPLY)
		(void) query_tree_walker(parse, outside_walker, NULL, 0);
	return stmt;
}

/*
 * The language a CREATE FUNCTION or DO names (default: sql, plpgsql).
 */
static const char *
statement_language(List *options, const char *dflt)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, "language") == 0)
			return strVal(d->arg);
	}
	return dflt;
}

/*
 * Refuse a language whose code runs outside PostgreSQL's privilege
 * checks: C, internal, and every untrusted procedural language.
 */
static void
check_language(const char *lang)
{
	HeapTuple	tup = SearchSysCache1(LANGNAME, PointerGetDatum(lang));
	bool		trusted = false;

	if (HeapTupleIsValid(tup))
	{
		Form_pg_language l = (Form_pg_language) GETSTRUCT(tup);

		trusted = l->lanpltrusted;
		ReleaseSysCache(tup);
	}
	else
		return;					/* PostgreSQL reports the missing language */
	if (!trusted)
		refuse(psprintf("code in language %s", lang),
			   "C, internal and untrusted languages run outside PostgreSQL's privilege checks.");
}

/*
 * Refuse the utility statements replicated execution may not run.
 */
static void
check_utility(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_CopyStmt:
			{
				CopyStmt   *c = (CopyStmt *) stmt;

				if (c->is_program)
					refuse(c->is_from ? "COPY FROM PROGRAM" : "COPY TO PROGRAM",
						   "It runs a program on the server.");
				if (c->filename != NULL)
					refuse(c->is_from ? "COPY FROM a file" : "COPY TO a file",
						   "It reads or writes a file on the server.");
				break;
			}
		case T_CreateRoleStmt:
		case T_AlterRoleStmt:
		case T_AlterRoleSetStmt:
		case T_DropRoleStmt:
		case T_GrantRoleStmt:
		case T_ReassignOwnedStmt:
		case T_DropOwnedStmt:
			refuse(CreateCommandName(stmt),
				   "Roles belong to the whole server and are not replicated: each replica's administrator manages them.");
			break;
		case T_AlterSystemStmt:
		case T_AlterDatabaseStmt:
		case T_AlterDatabaseSetStmt:
		case T_AlterDatabaseRefreshCollStmt:
		case T_LoadStmt:
		case T_CreateExtensionStmt:
		case T_AlterExtensionStmt:
		case T_AlterExtensionContentsStmt:
		case T_CreateEventTrigStmt:
		case T_AlterEventTrigStmt:
		case T_CreatePLangStmt:
		case T_CreateFdwStmt:
		case T_AlterFdwStmt:
		case T_CreateForeignServerStmt:
		case T_AlterForeignServerStmt:
		case T_CreateUserMappingStmt:
		case T_AlterUserMappingStmt:
		case T_DropUserMappingStmt:
		case T_ImportForeignSchemaStmt:
		case T_CreateForeignTableStmt:
		case T_CreatePublicationStmt:
		case T_AlterPublicationStmt:
		case T_CreateSubscriptionStmt:
		case T_AlterSubscriptionStmt:
		case T_DropSubscriptionStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterTableSpaceOptionsStmt:
		case T_CheckPointStmt:
			refuse(CreateCommandName(stmt),
				   "It changes the server, its configuration or its code, or reaches outside the database.");
			break;
		case T_CreateFunctionStmt:
			check_language(statement_language(((CreateFunctionStmt *) stmt)->options, "sql"));
			break;
		case T_DoStmt:
			check_language(statement_language(((DoStmt *) stmt)->args, "plpgsql"));
			break;
		default:
			break;
	}
}

/*
 * Replicated objects change only through replication.  Outside replicated
 * execution, for every role, superusers included, statements that would
 * change a replicated table's or function's definition, triggers, rules,
 * policies, privileges or owner are refused: a replica whose objects
 * differ from the others' gives different replies (a trigger that fires
 * only here), and its schema digest no longer matches.  An administrator
 * repairing a replica may SET zyzzyva.repair_mode = on (superuser only);
 * each such statement is then logged with a WARNING.
 */
bool		zz_repair_mode = false;

/*
 * Is schema.name a replicated table?  (The registry, read as the
 * extension's owner.)
 */
static bool
table_is_replicated(Oid relid)
{
	Oid			argtypes[2] = {NAMEOID, NAMEOID};
	Datum		values[2];
	char	   *nsp;
	char	   *rel;
	bool		found;
	ZzSavedUser saved;

	if (!OidIsValid(relid))
		return false;
	rel = get_rel_name(relid);
	nsp = get_namespace_name(get_rel_namespace(relid));
	if (rel == NULL || nsp == NULL)
		return false;
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(nsp));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(rel));
	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT 1 FROM zyzzyva.table_registry "
							  "WHERE schema_name OPERATOR(pg_catalog.=) $1 "
							  "AND table_name OPERATOR(pg_catalog.=) $2",
							  2, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read zyzzyva.table_registry");
	found = SPI_processed > 0;
	SPI_finish();
	zz_restore_user(&saved);
	return found;
}

/*
 * Does schema nspname hold a replicated table or function?
 */
static bool
schema_has_replicated(const char *nspname)
{
	Oid			argtypes[1] = {NAMEOID};
	Datum		values[1] = {DirectFunctionCall1(namein, CStringGetDatum(nspname))};
	bool		found;
	ZzSavedUser saved;

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT 1 FROM zyzzyva.table_registry WHERE schema_name OPERATOR(pg_catalog.=) $1 "
							  "UNION ALL SELECT 1 FROM zyzzyva.function_registry "
							  "WHERE schema_name OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the zyzzyva registry");
	found = SPI_processed > 0;
	SPI_finish();
	zz_restore_user(&saved);
	return found;
}

/*
 * Refuse (or, in repair mode, log) a change to a replicated object.
 */
static void
protected_change(const char *what, const char *kind, const char *name)
{
	/* pg_restore's own statements, until zyzzyva.adopt() (adopt.c) */
	if (zz_adopt_pending())
		return;
	if (zz_repair_mode)
	{
		ereport(WARNING,
				(errmsg("%s on replicated %s %s outside replication (zyzzyva.repair_mode is on)",
						what, kind, name),
				 errdetail("This replica's replicated schema may no longer match the other replicas'.")));
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s on replicated %s %s is not allowed outside replication", what, kind, name),
			 errdetail("Replicated objects change only through replication, at the same point in the order on every replica."),
			 errhint("Use zyzzyva.replicated_ddl() where it supports the change; an administrator repairing this replica may SET zyzzyva.repair_mode = on (superuser only, logged).")));
}

/*
 * Check a relation named by a RangeVar.
 */
static void
check_relation(const char *what, RangeVar *rv)
{
	Oid			relid;

	if (rv == NULL)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (table_is_replicated(relid) ||
		(OidIsValid(relid) && zz_ddl_undo_schema(get_rel_namespace(relid))))
		protected_change(what, "table", quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
																   get_rel_name(relid)));
}

/*
 * Check a function by OID.
 */
static void
check_function_oid(const char *what, Oid fnoid)
{
	char	   *sig;

	if (!OidIsValid(fnoid))
		return;
	sig = zz_replicated_signature(fnoid);
	if (sig != NULL && strcmp(sig, ZZ_DDL_SIGNATURE) != 0)
		protected_change(what, "function", sig);
}

/*
 * Check a function named with its arguments.
 */
static void
check_function_args(const char *what, ObjectType type, ObjectWithArgs *owa)
{
	if (type == OBJECT_FUNCTION || type == OBJECT_ROUTINE || type == OBJECT_PROCEDURE)
		check_function_oid(what, LookupFuncWithArgs(type, owa, true));
}

/*
 * CREATE OR REPLACE FUNCTION: the function it would replace, if any.
 */
static void
check_function_replace(CreateFunctionStmt *stmt)
{
	Oid			argtypes[FUNC_MAX_ARGS];
	int			nargs = 0;
	ListCell   *lc;

	if (!stmt->replace)
		return;
	foreach(lc, stmt->parameters)
	{
		FunctionParameter *fp = lfirst_node(FunctionParameter, lc);

		if (fp->mode == FUNC_PARAM_OUT || fp->mode == FUNC_PARAM_TABLE)
			continue;
		if (nargs >= FUNC_MAX_ARGS)
			return;
		argtypes[nargs] = LookupTypeNameOid(NULL, fp->argType, true);
		if (!OidIsValid(argtypes[nargs]))
			return;
		nargs++;
	}
	check_function_oid("CREATE OR REPLACE FUNCTION",
					   LookupFuncName(stmt->funcname, nargs, argtypes, true));
}

/*
 * The relation an object name list ending in the object's own name
 * belongs to (triggers, rules, policies).
 */
static RangeVar *
owning_relation(List *names)
{
	if (list_length(names) < 2)
		return NULL;
	return makeRangeVarFromNameList(list_truncate(list_copy(names), list_length(names) - 1));
}

/*
 * Outside replicated execution: refuse statements that change replicated
 * objects (see zz_repair_mode).
 */
static void
check_protected(Node *stmt)
{
	const char *what = CreateCommandName(stmt);
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_AlterTableStmt:
			check_relation(what, ((AlterTableStmt *) stmt)->relation);
			break;
		case T_CreateTrigStmt:
			check_relation(what, ((CreateTrigStmt *) stmt)->relation);
			break;
		case T_RuleStmt:
			check_relation(what, ((RuleStmt *) stmt)->relation);
			break;
		case T_CreatePolicyStmt:
			check_relation(what, ((CreatePolicyStmt *) stmt)->table);
			break;
		case T_AlterPolicyStmt:
			check_relation(what, ((AlterPolicyStmt *) stmt)->table);
			break;
		case T_IndexStmt:
			if (((IndexStmt *) stmt)->unique || ((IndexStmt *) stmt)->primary)
				check_relation(what, ((IndexStmt *) stmt)->relation);
			break;
		case T_CreateFunctionStmt:
			check_function_replace((CreateFunctionStmt *) stmt);
			break;
		case T_AlterFunctionStmt:
			check_function_args(what, ((AlterFunctionStmt *) stmt)->objtype,
								((AlterFunctionStmt *) stmt)->func);
			break;
		case T_RenameStmt:
			{
				RenameStmt *r = (RenameStmt *) stmt;

				if (r->relation != NULL)
					check_relation(what, r->relation);
				else if (r->object != NULL && IsA(r->object, ObjectWithArgs))
					check_function_args(what, r->renameType, (ObjectWithArgs *) r->object);
				break;
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *a = (AlterObjectSchemaStmt *) stmt;

				if (a->relation != NULL)
					check_relation(what, a->relation);
				else if (a->object != NULL && IsA(a->object, ObjectWithArgs))
					check_function_args(what, a->objectType, (ObjectWithArgs *) a->object);
				break;
			}
		case T_AlterOwnerStmt:
			{
				AlterOwnerStmt *a = (AlterOwnerStmt *) stmt;

				if (a->relation != NULL)
					check_relation(what, a->relation);
				else if (a->object != NULL && IsA(a->object, ObjectWithArgs))
					check_function_args(what, a->objectType, (ObjectWithArgs *) a->object);
				break;
			}
		case T_GrantStmt:
			{
				GrantStmt  *g = (GrantStmt *) stmt;

				if (g->targtype == ACL_TARGET_ALL_IN_SCHEMA)
				{
					foreach(lc, g->objects)
						if (schema_has_replicated(strVal(lfirst(lc))))
							protected_change(what, "objects in schema", strVal(lfirst(lc)));
				}
				else if (g->targtype == ACL_TARGET_OBJECT && g->objtype == OBJECT_TABLE)
				{
					foreach(lc, g->objects)
						check_relation(what, lfirst_node(RangeVar, lc));
				}
				else if (g->targtype == ACL_TARGET_OBJECT &&
						 (g->objtype == OBJECT_FUNCTION || g->objtype == OBJECT_ROUTINE))
				{
					foreach(lc, g->objects)
						check_function_args(what, g->objtype, lfirst_node(ObjectWithArgs, lc));
				}
				break;
			}
		case T_DropStmt:
			{
				DropStmt   *d = (DropStmt *) stmt;

				foreach(lc, d->objects)
				{
					Node	   *obj = lfirst(lc);

					switch (d->removeType)
					{
						case OBJECT_TABLE:
							check_relation(what, makeRangeVarFromNameList(castNode(List, obj)));
							break;
						case OBJECT_FUNCTION:
						case OBJECT_ROUTINE:
							check_function_args(what, d->removeType, castNode(ObjectWithArgs, obj));
							break;
						case OBJECT_TRIGGER:
						case OBJECT_RULE:
						case OBJECT_POLICY:
							check_relation(what, owning_relation(castNode(List, obj)));
							break;
						case OBJECT_SCHEMA:
							if (schema_has_replicated(strVal(obj)) ||
								zz_ddl_undo_schema(get_namespace_oid(strVal(obj), true)))
								protected_change(what, "objects in schema", strVal(obj));
							break;
						default:
							break;
					}
				}
				break;
			}
		case T_DropOwnedStmt:
		case T_ReassignOwnedStmt:
			/* it may drop or give away replicated objects */
			protected_change(what, "objects of", "a role");
			break;
		default:
			break;
	}
}

/*
 * Is the extension installed in this database?  (The library is loaded in
 * every database of the server.)
 */
static bool
zz_extension_here(void)
{
	return IsTransactionState() && !creating_extension &&
		OidIsValid(get_extension_oid("zyzzyva", true));
}

/*
 * Check a utility statement before it runs (from call.c's ProcessUtility
 * hook): in replicated execution, refuse what check_utility refuses;
 * outside it, what check_protected refuses.
 */
void
zz_authz_check_utility(Node *stmt)
{
	if (zz_exec.mode == ZZ_MODE_APPLY)
		check_utility(stmt);
	else if (zz_exec.mode == ZZ_MODE_NONE && zz_extension_here())
		check_protected(stmt);
}

/*
 * Install the hooks (from _PG_init).
 */
void
zz_authz_init(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = zz_authz_planner;
}
