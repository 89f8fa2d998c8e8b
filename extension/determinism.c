/*-------------------------------------------------------------------------
 *
 * determinism.c
 *	  Keeping replicated execution deterministic.
 *
 * Every replica must compute the same result from the same batch.  The
 * primary's ORDER-REQ carries the nondeterministic inputs, a time and a
 * seed; replicated functions read them through zyzzyva.now() and
 * zyzzyva.random().  The known sources of nondeterminism (the clock, the
 * random generator, transaction ids, backend ids) are refused while a
 * batch is applied, and sequences other than replicated ones (sequence.c): a planner hook walks each query planned in
 * replicated execution, after rewriting, so column defaults and views are
 * checked too, and again after planning, which inlines simple SQL
 * functions into the query.
 *
 * What a query may call is an allowlist rather than a blocklist: every
 * function in the query (called, an operator's, a cast's input or output
 * function, an aggregate) must be
 *	- a built-in function that is immutable, or stable and not one that
 *	  reads this server's environment (settings, version, addresses,
 *	  process and transaction ids, sizes, statistics, files), or volatile
 *	  and on the short list of volatile built-ins with deterministic
 *	  effects (pg_sleep, set_config); built-in means made by initdb: a
 *	  function a superuser declares in language internal later (an
 *	  "immutable" alias of clock_timestamp) counts as C;
 *	- a function in SQL or PL/pgSQL, whose statements are checked in turn
 *	  as they are planned;
 *	- one of the extension's own (schema zyzzyva), which check their mode;
 *	- or named in zyzzyva.allowed_functions.
 * Functions in C or any other language (untrusted ones above all) are
 * refused unless allowed by name.  The input literals 'now', 'today',
 * 'tomorrow' and 'yesterday' of the date and time types are refused where
 * the parser sees them (it folds them into constants, each replica its
 * own), and in a request's arguments (apply.c).
 *
 * A plan cached before replicated execution would escape that check, so a
 * backend that planned statements inside functions outside replicated
 * execution (and outside the extension's own functions, which run in a
 * mode) resets its plan cache when it next applies a batch: a daemon's
 * apply session never does, and pays nothing.  What still slips through
 * (a C function, a SQL function inlined inside a sublink) is caught by the
 * state digest at the next checkpoint.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/proclang.h"
#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "parser/analyze.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_now);
PG_FUNCTION_INFO_V1(zyzzyva_random);

static planner_hook_type prev_planner_hook = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* executor nesting depth, and whether statements were planned inside it
 * outside replicated execution since the last plan cache reset */
static int	zz_exec_depth = 0;
static bool zz_planned_outside = false;

static const char hint_now[] = "Use zyzzyva.now(), the time the primary chose for the batch.";
static const char hint_random[] = "Use zyzzyva.random(), seeded by the primary for the batch.";
static const char hint_local[] = "Its value differs from one replica to the next.";

static const struct
{
	Oid			fn;
	const char *name;
	const char *hint;
}			zz_forbidden[] =
{
	{F_NOW, "now()", hint_now},
	{F_TRANSACTION_TIMESTAMP, "transaction_timestamp()", hint_now},
	{F_STATEMENT_TIMESTAMP, "statement_timestamp()", hint_now},
	{F_CLOCK_TIMESTAMP, "clock_timestamp()", hint_now},
	{F_TIMEOFDAY, "timeofday()", hint_now},
	{F_RANDOM, "random()", hint_random},
	{F_SETSEED, "setseed()", hint_random},
	{F_GEN_RANDOM_UUID, "gen_random_uuid()", hint_random},
	{F_PG_BACKEND_PID, "pg_backend_pid()", hint_local},
	{F_TXID_CURRENT, "txid_current()", hint_local},
	{F_TXID_CURRENT_IF_ASSIGNED, "txid_current_if_assigned()", hint_local},
	{F_TXID_CURRENT_SNAPSHOT, "txid_current_snapshot()", hint_local},
	{F_PG_CURRENT_XACT_ID, "pg_current_xact_id()", hint_local},
	{F_PG_CURRENT_XACT_ID_IF_ASSIGNED, "pg_current_xact_id_if_assigned()", hint_local},
	{F_PG_CURRENT_SNAPSHOT, "pg_current_snapshot()", hint_local},
	{F_INET_CLIENT_ADDR, "inet_client_addr()", hint_local},
	{F_INET_CLIENT_PORT, "inet_client_port()", hint_local},
	{F_INET_SERVER_ADDR, "inet_server_addr()", hint_local},
	{F_INET_SERVER_PORT, "inet_server_port()", hint_local},
	{F_PG_POSTMASTER_START_TIME, "pg_postmaster_start_time()", hint_local},
	{F_PG_CONF_LOAD_TIME, "pg_conf_load_time()", hint_local},
	{F_CURRENT_SETTING_TEXT, "current_setting()", hint_local},
	{F_CURRENT_SETTING_TEXT_BOOL, "current_setting()", hint_local},
	{F_VERSION, "version()", hint_local},
	{F_CURRENT_DATABASE, "current_database()", hint_local},
	{F_PG_MY_TEMP_SCHEMA, "pg_my_temp_schema()", hint_local},
	{F_PG_IS_IN_RECOVERY, "pg_is_in_recovery()", hint_local},
	{F_PG_JIT_AVAILABLE, "pg_jit_available()", hint_local},
	{F_PG_BLOCKING_PIDS, "pg_blocking_pids()", hint_local},
	{F_PG_SAFE_SNAPSHOT_BLOCKING_PIDS, "pg_safe_snapshot_blocking_pids()", hint_local},
	{F_PG_LISTENING_CHANNELS, "pg_listening_channels()", hint_local},
	{F_PG_NOTIFICATION_QUEUE_USAGE, "pg_notification_queue_usage()", hint_local},
	{F_TXID_STATUS, "txid_status()", hint_local},
	{F_PG_XACT_STATUS, "pg_xact_status()", hint_local},
	{F_TXID_VISIBLE_IN_SNAPSHOT, "txid_visible_in_snapshot()", hint_local},
};

/*
 * The sequence functions: allowed, nextval() and setval() only on a
 * replicated sequence named by a constant (check_sequence_use); currval()
 * and lastval() read what this request drew, since apply drops the
 * backend's sequence caches before each request (sequence.c).
 */
static const Oid zz_sequence_functions[] =
{
	F_NEXTVAL, F_CURRVAL, F_LASTVAL, F_SETVAL_REGCLASS_INT8, F_SETVAL_REGCLASS_INT8_BOOL,
};

/*
 * Volatile built-in functions that replicated execution may call: their
 * effects are the same on every replica (a sleep is bounded by the
 * request's budget; set_config changes this transaction's settings only).
 */
static const Oid zz_volatile_allowed[] =
{
	F_PG_SLEEP, F_PG_SLEEP_FOR, F_PG_SLEEP_UNTIL, F_SET_CONFIG,
};

/*
 * Prefixes of the names of built-in functions that read this server's
 * environment rather than the replicated state: statistics, sizes, files,
 * the WAL, replication, backups, locks held by others, ids.
 */
static const char *const zz_local_prefixes[] =
{
	"pg_stat", "pg_size", "pg_relation_size", "pg_total_relation_size", "pg_table_size",
	"pg_indexes_size", "pg_database_size", "pg_tablespace_size", "pg_ls_", "pg_read_",
	"pg_current_", "pg_last_", "pg_wal", "pg_walfile", "pg_control_", "pg_backup",
	"pg_replication", "pg_get_replication", "pg_get_wal", "pg_get_backend", "pg_backend",
	"pg_postmaster", "pg_conf", "pg_is_", "pg_tablespace_location", "pg_filenode",
	"pg_relation_filenode", "pg_relation_filepath", "pg_lock_status", "pg_cancel_backend",
	"pg_terminate_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_promote",
	"pg_show_", "pg_get_keywords", "pg_get_shmem", "pg_log_", "pg_export_snapshot",
	"pg_snapshot", "pg_visible", "pg_import_system", "pg_advisory", "pg_try_advisory",
	"txid_", "inet_client", "inet_server", "pg_client_encoding", "pg_get_userbyid",
	"pg_sequence_last_value", "pg_sequence_parameters", "lo_", "loread", "lowrite",
};

/* zyzzyva.allowed_functions, as set, and resolved for this backend */
static char *zz_allowed_functions_setting = NULL;
static Oid *zz_allowed_oids = NULL;
static int	zz_nallowed_oids = 0;
static bool zz_allowed_stale = true;

/*
 * GUC assign hook of zyzzyva.allowed_functions: resolve the list again
 * when next needed (it needs the catalogs).
 */
static void
allowed_functions_assign(const char *newval, void *extra)
{
	zz_allowed_stale = true;
}

/*
 * Resolve zyzzyva.allowed_functions, function signatures separated by
 * commas outside parentheses ("public.f(integer), ext.g(text, text)"), into
 * OIDs.  A signature that names no function is left out with a warning.
 */
static void
resolve_allowed_functions(void)
{
	const char *p = zz_allowed_functions_setting ? zz_allowed_functions_setting : "";
	int			cap = 8;

	zz_allowed_stale = false;
	if (zz_allowed_oids != NULL)
		pfree(zz_allowed_oids);
	zz_allowed_oids = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * cap);
	zz_nallowed_oids = 0;
	while (*p != '\0')
	{
		const char *start = p;
		int			depth = 0;
		char	   *sig;
		Oid			fn;

		while (*p != '\0' && (depth > 0 || *p != ','))
		{
			if (*p == '(')
				depth++;
			else if (*p == ')' && depth > 0)
				depth--;
			p++;
		}
		sig = pnstrdup(start, p - start);
		if (*p == ',')
			p++;
		if (strspn(sig, " \t\n") == strlen(sig))
			continue;
		{
			LOCAL_FCINFO(fcinfo, 1);

			InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
			fcinfo->args[0].value = CStringGetTextDatum(sig);
			fcinfo->args[0].isnull = false;
			fn = DatumGetObjectId(to_regprocedure(fcinfo));
			if (fcinfo->isnull)
				fn = InvalidOid;	/* (to_regprocedure: no such function) */
		}
		if (!OidIsValid(fn))
		{
			ereport(WARNING,
					(errmsg("zyzzyva.allowed_functions: no function %s", sig)));
			continue;
		}
		if (zz_nallowed_oids == cap)
		{
			cap *= 2;
			zz_allowed_oids = repalloc(zz_allowed_oids, sizeof(Oid) * cap);
		}
		zz_allowed_oids[zz_nallowed_oids++] = fn;
	}
}

/*
 * Is fn named in zyzzyva.allowed_functions?
 */
static bool
is_allowed_by_name(Oid fn)
{
	if (zz_allowed_stale)
		resolve_allowed_functions();
	for (int i = 0; i < zz_nallowed_oids; i++)
		if (zz_allowed_oids[i] == fn)
			return true;
	return false;
}

/*
 * Refuse fn as a function that reads this replica's environment.
 */
static void
refuse_local(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("function %s is not allowed in replicated execution", name),
			 errhint("%s", hint_local)));
}

/*
 * Refuse a call of a function that replicated execution may not make (see
 * the file header): the known nondeterministic ones by name, then the
 * allowlist by language and volatility.
 */
static void
check_function(Oid fn)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	Oid			lang;
	char		volatility;
	const char *name;
	Oid			plpgsql;

	for (int i = 0; i < lengthof(zz_forbidden); i++)
		if (zz_forbidden[i].fn == fn)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("function %s is not allowed in replicated execution",
							zz_forbidden[i].name),
					 errhint("%s", zz_forbidden[i].hint)));

	for (int i = 0; i < lengthof(zz_sequence_functions); i++)
		if (zz_sequence_functions[i] == fn)
			return;				/* check_sequence_use checks the sequence */

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		return;					/* dropped meanwhile: the executor will say */
	proc = (Form_pg_proc) GETSTRUCT(tup);
	lang = proc->prolang;
	volatility = proc->provolatile;
	name = pstrdup(NameStr(proc->proname));
	if (proc->pronamespace == get_namespace_oid("zyzzyva", true))
	{
		ReleaseSysCache(tup);
		return;					/* the extension's own: they check the mode */
	}
	ReleaseSysCache(tup);

	if (lang == INTERNALlanguageId && fn < FirstNormalObjectId)
	{
		if (volatility == PROVOLATILE_VOLATILE)
		{
			for (int i = 0; i < lengthof(zz_volatile_allowed); i++)
				if (zz_volatile_allowed[i] == fn)
					return;
			if (is_allowed_by_name(fn))
				return;
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("function %s is not allowed in replicated execution",
							format_procedure(fn)),
					 errdetail("It is a volatile built-in function: its result or effect may differ from one replica to the next."),
					 errhint("If it is deterministic, name it in zyzzyva.allowed_functions on every replica.")));
		}
		if (volatility == PROVOLATILE_STABLE)
		{
			for (int i = 0; i < lengthof(zz_local_prefixes); i++)
				if (strncmp(name, zz_local_prefixes[i], strlen(zz_local_prefixes[i])) == 0 &&
					!is_allowed_by_name(fn))
					refuse_local(format_procedure(fn));
		}
		return;
	}
	plpgsql = get_language_oid("plpgsql", true);
	if (lang == SQLlanguageId || (OidIsValid(plpgsql) && lang == plpgsql))
		return;					/* their statements are checked as planned */
	if (is_allowed_by_name(fn))
		return;
	{
		HeapTuple	ltup = SearchSysCache1(LANGOID, ObjectIdGetDatum(lang));
		char	   *lname = "?";
		bool		trusted = false;

		if (HeapTupleIsValid(ltup))
		{
			lname = pstrdup(NameStr(((Form_pg_language) GETSTRUCT(ltup))->lanname));
			trusted = ((Form_pg_language) GETSTRUCT(ltup))->lanpltrusted;
			ReleaseSysCache(ltup);
		}
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function %s is not allowed in replicated execution",
						format_procedure(fn)),
				 errdetail("It is written in %s%s, which replicated execution cannot check for nondeterminism.",
						   trusted ? "" : "the untrusted language ", lname),
				 errhint("Write it in SQL or PL/pgSQL, or, if it is deterministic, name it in zyzzyva.allowed_functions on every replica.")));
	}
}

/*
 * check_functions_in_node callback: check one function, never stop.
 */
static bool
check_function_cb(Oid fn, void *context)
{
	check_function(fn);
	return false;
}

/*
 * Refuse CURRENT_TIMESTAMP and its kin, which are not function calls.
 */
static void
check_sql_value_function(SQLValueFunction *svf)
{
	const char *name = NULL;

	switch (svf->op)
	{
		case SVFOP_CURRENT_DATE:
			name = "CURRENT_DATE";
			break;
		case SVFOP_CURRENT_TIME:
		case SVFOP_CURRENT_TIME_N:
			name = "CURRENT_TIME";
			break;
		case SVFOP_CURRENT_TIMESTAMP:
		case SVFOP_CURRENT_TIMESTAMP_N:
			name = "CURRENT_TIMESTAMP";
			break;
		case SVFOP_LOCALTIME:
		case SVFOP_LOCALTIME_N:
			name = "LOCALTIME";
			break;
		case SVFOP_LOCALTIMESTAMP:
		case SVFOP_LOCALTIMESTAMP_N:
			name = "LOCALTIMESTAMP";
			break;
		default:
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s is not allowed in replicated execution", name),
			 errhint("%s", hint_now)));
}

/*
 * Refuse a system column of a table (ctid, xmin, xmax, cmin, cmax,
 * tableoid) in a request's statements: where a row is stored, the local
 * transaction and command ids that wrote it and the table's local OID
 * differ from one replica to the next.
 */
static void
check_system_column(Var *var)
{
	if (var->varattno >= 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("system column %s is not allowed in replicated execution",
					var->varattno == SelfItemPointerAttributeNumber ? "ctid" :
					var->varattno == MinTransactionIdAttributeNumber ? "xmin" :
					var->varattno == MaxTransactionIdAttributeNumber ? "xmax" :
					var->varattno == MinCommandIdAttributeNumber ? "cmin" :
					var->varattno == MaxCommandIdAttributeNumber ? "cmax" :
					var->varattno == TableOidAttributeNumber ? "tableoid" : "?"),
			 errdetail("Row locations, transaction ids and OIDs are this replica's own."),
			 errhint("Use the table's key columns.")));
}

/*
 * nextval() and setval() must name a replicated sequence by a constant; an
 * identity column's next value must come from a replicated sequence.
 */
static void
check_sequence_use(Node *node)
{
	if (IsA(node, NextValueExpr))
		zz_sequence_check_use(((NextValueExpr *) node)->seqid, "the next value");
	else if (IsA(node, FuncExpr))
	{
		FuncExpr   *fe = (FuncExpr *) node;
		Node	   *arg;

		if (fe->funcid != F_NEXTVAL && fe->funcid != F_SETVAL_REGCLASS_INT8 &&
			fe->funcid != F_SETVAL_REGCLASS_INT8_BOOL)
			return;
		arg = list_length(fe->args) > 0 ? linitial(fe->args) : NULL;
		zz_sequence_check_use(arg != NULL && IsA(arg, Const) && !((Const *) arg)->constisnull ?
							  DatumGetObjectId(((Const *) arg)->constvalue) : InvalidOid,
							  fe->funcid == F_NEXTVAL ? "nextval()" : "setval()");
	}
}

/*
 * Walk a query and every expression and subquery in it.  context is
 * non-NULL for the query as written (before planning): only there are
 * system columns the query's own, the planner adds ctid to find the rows
 * an UPDATE or DELETE changes.
 */
static bool
check_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SQLValueFunction))
		check_sql_value_function((SQLValueFunction *) node);
	else if (IsA(node, Var))
	{
		if (context != NULL && zz_request_running)
			check_system_column((Var *) node);
	}
	else if (IsA(node, NextValueExpr))
		check_sequence_use(node);
	else if (IsA(node, Query))
		return query_tree_walker((Query *) node, check_walker, context, 0);
	else
	{
		if (IsA(node, FuncExpr))
			check_sequence_use(node);
		(void) check_functions_in_node(node, check_function_cb, NULL);
	}
	return expression_tree_walker(node, check_walker, context);
}

/*
 * Does text (an input literal for a date or time type) use one of the
 * relative values that each replica resolves from its own clock?  They are
 * words in the literal ('today 10:00' too), in any case.
 */
static const char *
relative_datetime_word(const char *text, int len)
{
	static const char *const words[] = {"now", "today", "tomorrow", "yesterday"};
	int			i = 0;

	while (i < len)
	{
		int			start;

		while (i < len && !isalpha((unsigned char) text[i]))
			i++;
		start = i;
		while (i < len && isalpha((unsigned char) text[i]))
			i++;
		for (int w = 0; w < lengthof(words); w++)
			if (i - start == (int) strlen(words[w]) &&
				pg_strncasecmp(text + start, words[w], i - start) == 0)
				return words[w];
	}
	return NULL;
}

/*
 * Is typid a date or time type, whose input accepts 'now' and kin?
 */
static bool
is_datetime_type(Oid typid)
{
	return typid == DATEOID || typid == TIMEOID || typid == TIMETZOID ||
		typid == TIMESTAMPOID || typid == TIMESTAMPTZOID;
}

/*
 * Refuse text as input of date or time type typid in replicated execution
 * if it is relative to the clock ('now', 'today', ...).  For apply.c (a
 * request's arguments) and the parse check below.
 */
void
zz_check_datetime_input(Oid typid, const char *text, int len)
{
	const char *word;

	if (text == NULL || !is_datetime_type(typid))
		return;
	word = relative_datetime_word(text, len);
	if (word != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the input '%s' for type %s is not allowed in replicated execution",
						word, format_type_be(typid)),
				 errdetail("Each replica would read its own clock."),
				 errhint("%s", hint_now)));
}

/*
 * Walker of the parse check: every constant of a date or time type that
 * came from a string literal in the source text (at its location, perhaps
 * after a type name: timestamptz 'now').
 */
static bool
literal_walker(Node *node, void *context)
{
	const char *source = context;

	if (node == NULL)
		return false;
	if (IsA(node, Const))
	{
		Const	   *c = (Const *) node;

		if (is_datetime_type(c->consttype) && c->location >= 0 &&
			c->location < (int) strlen(source))
		{
			const char *p = source + c->location;
			const char *end;

			/* skip a type name before the literal, if any */
			for (int skip = 0; *p != '\0' && *p != '\'' && skip < 64; skip++, p++)
				if (!isalnum((unsigned char) *p) && strchr(" \t\n_.\"()", *p) == NULL)
					break;
			if (*p == '\'' && (end = strchr(p + 1, '\'')) != NULL)
				zz_check_datetime_input(c->consttype, p + 1, (int) (end - p - 1));
		}
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, literal_walker, context, 0);
	return expression_tree_walker(node, literal_walker, context);
}

/*
 * post_parse_analyze hook: in replicated execution, refuse the clock's
 * input literals before the parser's folded constants can differ.
 */
static void
zz_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);
	if (zz_exec.mode == ZZ_MODE_APPLY && pstate->p_sourcetext != NULL)
		(void) query_tree_walker(query, literal_walker, (void *) pstate->p_sourcetext, 0);
}

/*
 * Planner hook: in replicated execution, check the (rewritten) query before
 * planning it; outside, note plans made inside functions, which a later
 * batch could reuse unchecked.
 */
static PlannedStmt *
zz_planner(Query *parse, const char *query_string, int cursorOptions,
		   ParamListInfo boundParams)
{
	PlannedStmt *stmt;

	if (zz_exec.mode == ZZ_MODE_APPLY)
		(void) query_tree_walker(parse, check_walker, (void *) parse, 0);
	else if (zz_exec.mode == ZZ_MODE_NONE && zz_exec_depth > 0)
		zz_planned_outside = true;

	if (prev_planner_hook)
		stmt = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	else
		stmt = standard_planner(parse, query_string, cursorOptions, boundParams);

	/*
	 * The planner rewrites its input in place, inlining SQL functions into
	 * the query's expressions: walk it again to see their bodies.
	 */
	if (zz_exec.mode == ZZ_MODE_APPLY)
		(void) query_tree_walker(parse, check_walker, NULL, 0);
	return stmt;
}

/*
 * Executor hooks that only count nesting: statements planned at depth zero
 * are top-level statements, which replicated execution never reuses.
 */
static void
zz_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
			   bool execute_once)
{
	zz_exec_depth++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		zz_exec_depth--;
	}
	PG_END_TRY();
}

/*
 * The same for ExecutorFinish, where AFTER triggers run.
 */
static void
zz_ExecutorFinish(QueryDesc *queryDesc)
{
	zz_exec_depth++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		zz_exec_depth--;
	}
	PG_END_TRY();
}

/*
 * A trigger function of a relation replicated execution writes: the
 * executor calls it without planning a query, so the planner hook never
 * sees it.  Built-in trigger functions (foreign keys, deferred unique
 * checks, tsvector_update_trigger, ...) are deterministic; others follow
 * the rule for any function (SQL and PL/pgSQL have their statements
 * checked as planned; C and other languages only if allowed by name).
 */
static void
check_trigger_function(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Oid			lang;

	if (!HeapTupleIsValid(tup))
		return;
	lang = ((Form_pg_proc) GETSTRUCT(tup))->prolang;
	ReleaseSysCache(tup);
	if (lang != INTERNALlanguageId || fn >= FirstNormalObjectId)
		check_function(fn);
}

/*
 * Check what the executor runs for a write to relid outside any planned
 * query: its triggers' functions and WHEN conditions and its CHECK
 * constraints (compiled from their stored expressions, never planned).
 * For a partitioned table, every partition's, where rows may be routed
 * (looked up only for a table that has children).
 */
static bool
check_one_relation(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TriggerDesc *td = rel->trigdesc;
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	bool		has_children = rel->rd_rel->relhassubclass;

	for (int i = 0; td != NULL && i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];

		if (t->tgenabled == TRIGGER_DISABLED)
			continue;
		check_trigger_function(t->tgfoid);
		if (t->tgqual != NULL)
			(void) check_walker(stringToNode(t->tgqual), NULL);
	}
	for (int i = 0; constr != NULL && i < constr->num_check; i++)
		(void) check_walker(stringToNode(constr->check[i].ccbin), NULL);
	relation_close(rel, AccessShareLock);
	return has_children;
}

static void
check_written_relation(Oid relid)
{
	List	   *rels;
	ListCell   *lc;

	if (!check_one_relation(relid))
		return;
	rels = find_all_inheritors(relid, AccessShareLock, NULL);
	foreach(lc, rels)
		if (lfirst_oid(lc) != relid)
			(void) check_one_relation(lfirst_oid(lc));
	list_free(rels);
}

/*
 * ExecutorStart hook: in replicated execution, check what the statement's
 * writes would run beside its plan (check_written_relation).
 */
static void
zz_determinism_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (zz_exec.mode == ZZ_MODE_APPLY && queryDesc->plannedstmt != NULL &&
		(eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
	{
		ListCell   *lc;

		foreach(lc, queryDesc->plannedstmt->resultRelations)
		{
			RangeTblEntry *rte = rt_fetch(lfirst_int(lc), queryDesc->plannedstmt->rtable);

			if (rte->rtekind == RTE_RELATION)
				check_written_relation(rte->relid);
		}
	}
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * The language a DO block names (plpgsql by default).
 */
static const char *
do_language(DoStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->args)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, "language") == 0)
			return strVal(d->arg);
	}
	return "plpgsql";
}

/*
 * ProcessUtility hook: in replicated execution, CALL runs a procedure and
 * evaluates its arguments without planning a query, and DO runs a block
 * through its language's inline handler: check the procedure and its
 * arguments as a query's functions, and allow DO only in PL/pgSQL, whose
 * statements are checked as planned (a trusted language such as PL/Perl
 * may still read the clock).
 */
static void
zz_determinism_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
							  bool readOnlyTree, ProcessUtilityContext context,
							  ParamListInfo params, QueryEnvironment *queryEnv,
							  DestReceiver *dest, QueryCompletion *qc)
{
	if (zz_exec.mode == ZZ_MODE_APPLY)
	{
		Node	   *stmt = pstmt->utilityStmt;

		if (IsA(stmt, CallStmt))
			(void) check_walker((Node *) ((CallStmt *) stmt)->funcexpr, (void *) stmt);
		else if (IsA(stmt, DoStmt) && strcmp(do_language((DoStmt *) stmt), "plpgsql") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("DO in language %s is not allowed in replicated execution",
							do_language((DoStmt *) stmt)),
					 errdetail("Replicated execution checks PL/pgSQL statements for nondeterminism, and no other language's."),
					 errhint("Write the block in PL/pgSQL.")));
	}
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/*
 * Called by apply_batch() on entering replicated execution: drop cached
 * plans that were made outside it and so were never checked.
 */
void
zz_forget_unchecked_plans(void)
{
	if (zz_planned_outside)
	{
		ResetPlanCache();
		zz_planned_outside = false;
	}
}

/*
 * Install the hooks and define zyzzyva.request_timeout (from _PG_init).
 */
void
zz_determinism_init(void)
{
	DefineCustomIntVariable("zyzzyva.request_timeout",
							"Longest time one replicated request may run on a replica.",
							"A request that runs longer fails with SQLSTATE 57014 on every replica; "
							"zero disables the limit.  Set it the same on every replica.",
							&zz_request_timeout,
							5000, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomStringVariable("zyzzyva.allowed_functions",
							   "Functions replicated execution may call beyond its allowlist.",
							   "Signatures separated by commas, e.g. 'public.f(integer), ext.g(text)': "
							   "functions in C or other languages, or volatile built-ins, known to be "
							   "deterministic.  Set it the same on every replica.",
							   &zz_allowed_functions_setting,
							   "",
							   PGC_SIGHUP,
							   0,
							   NULL, allowed_functions_assign, NULL);
	prev_planner_hook = planner_hook;
	planner_hook = zz_planner;
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = zz_post_parse_analyze;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = zz_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = zz_ExecutorFinish;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = zz_determinism_ExecutorStart;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = zz_determinism_ProcessUtility;
}

/*
 * Refuse the deterministic inputs outside replicated execution, where there
 * is no batch to take them from.
 */
static void
require_apply(const char *fn)
{
	if (zz_exec.mode != ZZ_MODE_APPLY)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s can only be called during replicated execution", fn),
				 errhint("Call it from a replicated function.")));
}

/*
 * zyzzyva.now() returns timestamptz
 *
 * The batch's time, chosen by the primary (nd_time, microseconds since the
 * Unix epoch): the same on every replica.
 */
Datum
zyzzyva_now(PG_FUNCTION_ARGS)
{
	require_apply("zyzzyva.now()");
	PG_RETURN_TIMESTAMPTZ((TimestampTz) (zz_exec.nd_time -
										 (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY));
}

/*
 * A 64-bit value derived from the batch's seed, the request's position in
 * the batch and a counter: the same on every replica, different per call.
 */
uint64
zz_random_bits(uint64 counter)
{
	uint8		in[8 * 3 + 4];
	uint8		out[ZZ_SHA256_BYTES];
	uint64		v = 0;
	uint64		words[3] = {(uint64) zz_exec.nd_seed, (uint64) zz_exec.seq, counter};

	for (int w = 0; w < 3; w++)
		for (int b = 0; b < 8; b++)
			in[w * 8 + b] = (uint8) (words[w] >> (56 - 8 * b));
	for (int b = 0; b < 4; b++)
		in[24 + b] = (uint8) ((uint32) zz_exec.request >> (24 - 8 * b));
	zz_sha256(in, sizeof(in), out);
	for (int b = 0; b < 8; b++)
		v = (v << 8) | out[b];
	return v;
}

/*
 * zyzzyva.random() returns double precision
 *
 * A uniform value in [0, 1), a deterministic function of the batch's seed,
 * the request's position and the number of earlier calls in the request.
 */
Datum
zyzzyva_random(PG_FUNCTION_ARGS)
{
	require_apply("zyzzyva.random()");
	PG_RETURN_FLOAT8((double) (zz_random_bits(++zz_exec.random_calls) >> 11) *
					 (1.0 / 9007199254740992.0));
}
