/*-------------------------------------------------------------------------
 *
 * determinism.c
 *	  Keeping replicated execution deterministic.
 *
 * Every replica must compute the same result from the same batch.  The
 * primary's ORDER-REQ carries the nondeterministic inputs, a time and a
 * seed; replicated functions read them through zyzzyva.now() and
 * zyzzyva.random().  The known sources of nondeterminism (the clock, the
 * random generator, transaction ids, backend ids, sequences) are refused
 * while a batch is applied: a planner hook walks each query planned in
 * replicated execution, after rewriting, so column defaults and views are
 * checked too, and again after planning, which inlines simple SQL
 * functions into the query.
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

#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "utils/fmgrprotos.h"
#include "utils/fmgroids.h"
#include "utils/plancache.h"
#include "utils/timestamp.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_now);
PG_FUNCTION_INFO_V1(zyzzyva_random);

static planner_hook_type prev_planner_hook = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

/* executor nesting depth, and whether statements were planned inside it
 * outside replicated execution since the last plan cache reset */
static int	zz_exec_depth = 0;
static bool zz_planned_outside = false;

static const char hint_now[] = "Use zyzzyva.now(), the time the primary chose for the batch.";
static const char hint_random[] = "Use zyzzyva.random(), seeded by the primary for the batch.";
static const char hint_local[] = "Its value differs from one replica to the next.";
static const char hint_sequence[] = "Sequences are not replicated: derive keys from the arguments, or keep a counter in a replicated table.";

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
	{F_NEXTVAL, "nextval()", hint_sequence},
	{F_CURRVAL, "currval()", hint_sequence},
	{F_LASTVAL, "lastval()", hint_sequence},
	{F_SETVAL_REGCLASS_INT8, "setval()", hint_sequence},
	{F_SETVAL_REGCLASS_INT8_BOOL, "setval()", hint_sequence},
};

/*
 * Refuse a call of a forbidden function, if fn is one.
 */
static void
check_function(Oid fn)
{
	for (int i = 0; i < lengthof(zz_forbidden); i++)
		if (zz_forbidden[i].fn == fn)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("function %s is not allowed in replicated execution",
							zz_forbidden[i].name),
					 errhint("%s", zz_forbidden[i].hint)));
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
 * Walk a query and every expression and subquery in it.
 */
static bool
check_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr))
		check_function(((FuncExpr *) node)->funcid);
	else if (IsA(node, SQLValueFunction))
		check_sql_value_function((SQLValueFunction *) node);
	else if (IsA(node, Query))
		return query_tree_walker((Query *) node, check_walker, context, 0);
	return expression_tree_walker(node, check_walker, context);
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
		(void) query_tree_walker(parse, check_walker, NULL, 0);
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
 * Install the hooks (from _PG_init).
 */
void
zz_determinism_init(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = zz_planner;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = zz_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = zz_ExecutorFinish;
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
