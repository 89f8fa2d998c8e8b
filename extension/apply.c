/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Executing an ordered batch of requests: zyzzyva.apply_batch().
 *
 * The daemon hands each batch the protocol has ordered to apply_batch(), in
 * sequence order.  The batch runs in the caller's transaction (one
 * transaction per batch), each request in its own subtransaction, so that
 * an ERROR raised by a request rolls back only that request's changes and
 * becomes its reply, the same reply on every replica, instead of failing
 * the batch.  That holds whatever the SQLSTATE: a function that raises
 * 40001, 53100 or XX000 fails alone, because a request that failed the
 * batch would be applied again for ever and halt the cluster (a "poison
 * request", docs/liveness.md).  A request that runs longer than
 * zyzzyva.request_timeout is cancelled and fails with one fixed error
 * (determinism.c).  Only what is a fact about this database and not about
 * a request fails the batch, for the daemon to retry: a cancel that is not
 * the request's budget (an operator's, a shutdown), an error outside the
 * requests (recording the batch: disk full, ...), a lost connection, a
 * crash.  The batch, its replies, the new history digest and the digest
 * lanes are stored in the same transaction, so a crash leaves database and
 * protocol state consistent.
 *
 * A request calls one replicated function, named by its canonical
 * signature and with arguments in canonical text (wire.c), as the role
 * that made the call, if the replica that sent it is entrusted with that
 * role (authz.c).  It runs as
 *
 *	 SELECT schema.function($1, ..., $n)
 *
 * with each argument converted by its type's input function and the result
 * printed by its type's output function, under the pinned settings.  The
 * statement is prepared once per signature and kept.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_apply_batch);

/*
 * The replicated functions, as of the start of the batch: sorted canonical
 * signatures.  Registration is refused inside replicated execution except
 * in a replicated DDL request (ddl.c), after which the set is read again.
 */
static char **zz_registry = NULL;
static int	zz_nregistry = 0;

/*
 * Prepared calls, by canonical signature, kept across batches.  Any change
 * to pg_proc marks them stale and they are rebuilt, so that a replaced
 * function is called the same way here as on a replica that never cached
 * it.
 */
#define ZZ_CACHED_SIGNATURE 1024

typedef struct ZzCallPlan
{
	char		signature[ZZ_CACHED_SIGNATURE];	/* hash key */
	SPIPlanPtr	plan;			/* NULL until completely built */
	int			nargs;
	Oid			argtypes[FUNC_MAX_ARGS];
	Oid			infunc[FUNC_MAX_ARGS];
	Oid			ioparam[FUNC_MAX_ARGS];
} ZzCallPlan;

/* insert the undo records waiting in memory once they are this large */
#define ZZ_UNDO_FLUSH_BYTES (8 * 1024 * 1024)

static HTAB *zz_call_plans = NULL;
static bool zz_call_plans_stale = false;

/*
 * The statements every batch runs, prepared once per backend (zz_keep_plan):
 * parsing and planning them again for every batch cost more than running
 * them.
 */
static SPIPlanPtr registry_plan = NULL;
static SPIPlanPtr position_plan = NULL;
static SPIPlanPtr batch_log_plan = NULL;
static SPIPlanPtr position_store_plan = NULL;

/*
 * The outcome of one request.
 */
typedef struct ZzOutcome
{
	int			sqlerrcode;		/* 0 on success */
	char	   *text;			/* result (NULL = SQL NULL), or error message */
	char	   *detail;			/* an error's DETAIL and HINT, or NULL */
	char	   *hint;
} ZzOutcome;

/*
 * qsort/bsearch comparator over C strings, byte order.
 */
static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Load the registry's signatures into cxt for the batch; fresh: with a new
 * snapshot, that sees what the batch's DDL requests registered.
 */
static void
load_registry(MemoryContext cxt, bool fresh)
{
	ZzSavedUser saved;

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_plan(zz_keep_plan(&registry_plan,
									  "SELECT signature FROM zyzzyva.function_registry",
									  0, NULL),
						 NULL, NULL, !fresh, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read zyzzyva.function_registry");
	zz_nregistry = (int) SPI_processed;
	zz_registry = MemoryContextAlloc(cxt, sizeof(char *) * Max(zz_nregistry, 1));
	for (int i = 0; i < zz_nregistry; i++)
		zz_registry[i] = MemoryContextStrdup(cxt,
											 SPI_getvalue(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 1));
	SPI_finish();
	zz_restore_user(&saved);
	qsort(zz_registry, zz_nregistry, sizeof(char *), compare_strings);
}

/*
 * Is signature replicated?  Compared as a string: requests must use the
 * canonical form that replicate_function() stored.
 */
static bool
is_replicated(const char *signature)
{
	if (strcmp(signature, ZZ_DDL_SIGNATURE) == 0 ||
		strcmp(signature, ZZ_WITHDRAW_SIGNATURE) == 0)
		return true;			/* built in: ddl.c */
	return bsearch(&signature, zz_registry, zz_nregistry, sizeof(char *),
				   compare_strings) != NULL;
}

/*
 * Syscache callback: pg_proc changed.  Entries may be in use right now,
 * so only mark them; call_plans_flush_if_stale() drops them later.
 */
static void
call_plans_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	zz_call_plans_stale = true;
}

/*
 * Drop every prepared call if pg_proc changed since they were made.  Only
 * at the start of a request, when no entry is in use.
 */
static void
call_plans_flush_if_stale(void)
{
	HASH_SEQ_STATUS status;
	ZzCallPlan *entry;

	if (zz_call_plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = ZZ_CACHED_SIGNATURE;
		ctl.entrysize = sizeof(ZzCallPlan);
		zz_call_plans = hash_create("zyzzyva prepared calls", 64, &ctl,
									HASH_ELEM | HASH_STRINGS);
		CacheRegisterSyscacheCallback(PROCOID, call_plans_invalidate, (Datum) 0);
		zz_call_plans_stale = false;
		return;
	}
	if (!zz_call_plans_stale)
		return;
	hash_seq_init(&status, zz_call_plans);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->plan != NULL)
			SPI_freeplan(entry->plan);
		(void) hash_search(zz_call_plans, entry->signature, HASH_REMOVE, NULL);
	}
	zz_call_plans_stale = false;
}

/*
 * Prepare the call of a replicated function:
 *
 *	 SELECT schema.function($1, ..., $n)
 *
 * with the parameters typed as the function's arguments (VARIADIC before the
 * last one if the function is variadic), and note how to read each argument.
 */
static void
prepare_call(ZzCallPlan *cp, const char *signature, int nargs_given)
{
	Oid			fnoid;
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		variadic;
	StringInfoData sql;
	SPIPlanPtr	plan;

	fnoid = DatumGetObjectId(DirectFunctionCall1(regprocedurein,
												 CStringGetDatum(signature)));
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fnoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fnoid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->pronargs != nargs_given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed request: function %s takes %d arguments, the request passes %d",
						signature, proc->pronargs, nargs_given)));

	cp->nargs = proc->pronargs;
	for (int i = 0; i < cp->nargs; i++)
	{
		cp->argtypes[i] = proc->proargtypes.values[i];
		getTypeInputInfo(cp->argtypes[i], &cp->infunc[i], &cp->ioparam[i]);
	}
	variadic = OidIsValid(proc->provariadic);

	/* identifiers are quoted; values are parameters */
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s(",
					 quote_qualified_identifier(get_namespace_name(proc->pronamespace),
												NameStr(proc->proname)));
	for (int i = 0; i < cp->nargs; i++)
		appendStringInfo(&sql, "%s%s$%d", i > 0 ? ", " : "",
						 variadic && i == cp->nargs - 1 ? "VARIADIC " : "", i + 1);
	appendStringInfoChar(&sql, ')');
	ReleaseSysCache(tup);

	plan = SPI_prepare(sql.data, cp->nargs, cp->argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql.data, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	cp->plan = plan;
}

/*
 * Run one call inside the current subtransaction and return its result's
 * canonical text, allocated in outcxt.  Every failure is an ERROR, which the
 * caller turns into the reply.
 */
static char *
run_call(const ZzRequest *req, MemoryContext outcxt)
{
	ZzCall		call;
	const char *why;
	ZzCallPlan	local;
	ZzCallPlan *cp;
	Datum	   *values;
	char	   *nulls;
	char	   *result;
	Oid			roleid;
	ZzSavedUser saved;
	int			rc;

	if (!zz_decode_call(req->call, req->call_len, &call, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed request: %s", why)));
	roleid = zz_request_role(req, &call);

	if (!is_replicated(call.signature))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function %s is not replicated", call.signature),
				 errhint("Only functions declared with zyzzyva.replicate_function() can be called, by their canonical signature (see zyzzyva.replicated_functions).")));

	call_plans_flush_if_stale();
	if (strlen(call.signature) < ZZ_CACHED_SIGNATURE)
	{
		bool		found;

		cp = hash_search(zz_call_plans, call.signature, HASH_ENTER, &found);
		if (!found)
			cp->plan = NULL;
		if (cp->plan == NULL)
			prepare_call(cp, call.signature, call.nargs);
	}
	else
	{
		cp = &local;
		prepare_call(cp, call.signature, call.nargs);
	}
	if (cp->nargs != call.nargs)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed request: function %s takes %d arguments, the request passes %d",
						call.signature, cp->nargs, call.nargs)));

	/* from here on, as the caller (an error restores the user) */
	zz_become_caller(roleid, &saved);
	values = palloc(sizeof(Datum) * Max(call.nargs, 1));
	nulls = palloc(sizeof(char) * Max(call.nargs, 1));
	for (int i = 0; i < call.nargs; i++)
	{
		if (call.args[i] != NULL)
			zz_check_datetime_input(cp->argtypes[i], call.args[i], (int) strlen(call.args[i]));
		values[i] = OidInputFunctionCall(cp->infunc[i], call.args[i], cp->ioparam[i], -1);
		nulls[i] = call.args[i] == NULL ? 'n' : ' ';
	}

	rc = SPI_execute_plan(cp->plan, values, nulls, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "replicated call did not return one row");
	result = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	zz_restore_user(&saved);
	if (cp == &local)
		SPI_freeplan(local.plan);
	return result ? MemoryContextStrdup(outcxt, result) : NULL;
}

/*
 * Is an error caught in a request's subtransaction a failure of this
 * database rather than the request's outcome?  Only a cancel that the
 * request's budget did not raise (an operator's pg_cancel_backend()): it is
 * a fact about this replica, and the batch is retried.  It is told by where
 * it was raised, ProcessInterrupts, not by its SQLSTATE, which any function
 * may raise (RAISE ... USING ERRCODE = 'query_canceled' is the request's
 * own failure).  Every other error, whatever its SQLSTATE, is the request's
 * reply: the request runs the same on every replica, so a function that
 * raises serialization_failure, disk_full or admin_shutdown does so
 * everywhere, and a replica where a request failed for a local reason alone
 * is outvoted and repaired at the next checkpoint (docs/liveness.md).
 * Shutdowns and lost connections are FATAL and never get here.
 */
static bool
is_failure_of_database(const ErrorData *edata, bool budget_spent)
{
	return edata->sqlerrcode == ERRCODE_QUERY_CANCELED && !budget_spent &&
		edata->funcname != NULL && strcmp(edata->funcname, "ProcessInterrupts") == 0;
}

/*
 * Execute one request in its own subtransaction (the pattern of PL/Python's
 * subtransactions) under its budget, and return its outcome, allocated in
 * outcxt.  A request that spent its budget fails with the budget's error
 * even if it caught the cancel and returned.
 */
static ZzOutcome
execute_request(const ZzRequest *req, MemoryContext outcxt)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ZzOutcome	out = {0, NULL, NULL, NULL};

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	zz_request_budget_start();
	PG_TRY();
	{
		SPI_connect();
		out.text = run_call(req, outcxt);
		SPI_finish();
		if (zz_request_budget_stop())
			zz_request_budget_error();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		spent = zz_request_budget_stop();

		MemoryContextSwitchTo(outcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		if (is_failure_of_database(edata, spent))
			ReThrowError(edata);
		out.sqlerrcode = edata->sqlerrcode;
		out.text = edata->message ? edata->message : "";
		/* as a local call would show them (not CONTEXT: see zzwire.h) */
		out.detail = edata->detail;
		out.hint = edata->hint;
		if (spent)
		{
			/* whatever error the cancel surfaced as, the reply is the budget's */
			out.sqlerrcode = ERRCODE_QUERY_CANCELED;
			out.text = ZZ_BUDGET_MESSAGE;
			out.detail = NULL;
			out.hint = NULL;
		}
	}
	PG_END_TRY();
	return out;
}

/*
 * Seed PostgreSQL's own random() from the batch, so that a call that slips
 * past the planner check (determinism.c) still gives every replica the
 * same value.
 */
static void
seed_builtin_random(void)
{
	double		s = (double) (zz_random_bits(0) >> 11) * (2.0 / 9007199254740992.0) - 1.0;

	DirectFunctionCall1(setseed, Float8GetDatum(s));
}

/*
 * Read last_seq and view of the last applied batch, locking the state row
 * first.  A plain read would see the position before a concurrent install
 * (a state transfer runs on a connection of its own) commits; the batch
 * would pass the order check, wait for the row later, and then write its
 * older position over the installed one.  FOR UPDATE waits for that
 * transaction and reads the row it left.
 */
static void
read_position(int64 *last_seq, int64 *last_view)
{
	bool		isnull;
	ZzSavedUser saved;

	zz_as_owner(&saved);		/* (the lock needs UPDATE on the row) */
	SPI_connect();
	if (SPI_execute_plan(zz_keep_plan(&position_plan,
									  "SELECT last_seq, view FROM zyzzyva.replica_state "
									  "WHERE id = 1 FOR UPDATE",
									  0, NULL),
						 NULL, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read zyzzyva.replica_state");
	*last_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
	*last_view = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	zz_restore_user(&saved);
}

/*
 * Record the applied batch and the new position, with the digest lanes, in
 * the batch's transaction.
 */
static void
record_batch(int64 seq, int64 view, bytea *history, int64 nd_time,
			 int64 nd_seed, bytea *requests, StringInfo replies)
{
	Oid			logtypes[8] = {INT8OID, INT8OID, BYTEAOID, INT8OID, INT8OID,
	BYTEAOID, BYTEAOID, TIMESTAMPTZOID};
	Datum		logvalues[8];
	Oid			statetypes[4] = {INT8OID, INT8OID, BYTEAOID, BYTEAOID};
	Datum		statevalues[4];
	ZzSavedUser saved;

	logvalues[0] = statevalues[0] = Int64GetDatum(seq);
	logvalues[1] = statevalues[1] = Int64GetDatum(view);
	logvalues[2] = statevalues[2] = PointerGetDatum(history);
	logvalues[3] = Int64GetDatum(nd_time);
	logvalues[4] = Int64GetDatum(nd_seed);
	logvalues[5] = PointerGetDatum(requests);
	logvalues[6] = PointerGetDatum(cstring_to_text_with_len(replies->data, replies->len));
	/* local bookkeeping, outside the digest: the wall clock is fine here */
	logvalues[7] = TimestampTzGetDatum(GetCurrentTimestamp());
	statevalues[3] = PointerGetDatum(zz_lanes_bytea());

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_plan(zz_keep_plan(&batch_log_plan,
									  "INSERT INTO zyzzyva.batch_log "
									  "(seq, view, history, nd_time, nd_seed, requests, replies, applied_at) "
									  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
									  8, logtypes),
						 logvalues, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record batch " INT64_FORMAT, seq);
	if (SPI_execute_plan(zz_keep_plan(&position_store_plan,
									  "UPDATE zyzzyva.replica_state "
									  "SET last_seq = $1, view = $2, last_history = $3, lanes = $4 "
									  "WHERE id = 1 RETURNING ctid, xmin",
									  4, statetypes),
						 statevalues, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not record the position after batch " INT64_FORMAT, seq);
	zz_lanes_stored();
	SPI_finish();
	zz_restore_user(&saved);
	zz_exec.lanes_dirty = false;
}

/*
 * zyzzyva.apply_batch(seq bigint, view bigint, history bytea,
 *					   nd_time bigint, nd_seed bigint, requests bytea)
 * returns table (request integer, sqlstate text, result text, reply bytea)
 *
 * Apply ordered batch seq (which must follow the last applied one) and
 * return one reply per request, in order.  See the file header.
 */
Datum
zyzzyva_apply_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		seq,
				view,
				nd_time,
				nd_seed,
				last_seq,
				last_view;
	bytea	   *history,
			   *requests;
	ZzRequest  *reqs;
	int			nreqs;
	MemoryContext reqcxt;
	StringInfoData replies;

	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arguments of zyzzyva.apply_batch() must not be null")));
	seq = PG_GETARG_INT64(0);
	view = PG_GETARG_INT64(1);
	history = PG_GETARG_BYTEA_P(2);
	nd_time = PG_GETARG_INT64(3);
	nd_seed = PG_GETARG_INT64(4);
	requests = PG_GETARG_BYTEA_P(5);
	if (VARSIZE_ANY_EXHDR(history) != ZZ_SHA256_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("history must be a %d-byte SHA-256 digest", ZZ_SHA256_BYTES)));
	if (view < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("view must not be negative")));

	InitMaterializedSRF(fcinfo, 0);
	reqs = zz_decode_batch(VARDATA_ANY(requests), VARSIZE_ANY_EXHDR(requests), &nreqs);

	zz_enter_mode(ZZ_MODE_APPLY, "zyzzyva.apply_batch()");
	zz_forget_unchecked_plans();
	read_position(&last_seq, &last_view);
	if (seq != last_seq + 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch " INT64_FORMAT " is out of order", seq),
				 errdetail("The last applied batch is " INT64_FORMAT ".", last_seq),
				 errhint("Apply batches in sequence order, or roll back with zyzzyva.rollback_to() first.")));
	if (view < last_view)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch " INT64_FORMAT " comes from view " INT64_FORMAT
						", older than view " INT64_FORMAT " of the last applied batch",
						seq, view, last_view)));

	zz_exec.seq = seq;
	zz_exec.nd_time = nd_time;
	zz_exec.nd_seed = nd_seed;
	zz_exec.undo_ord = 0;

	load_registry(CurrentMemoryContext, false);
	zz_sequences_batch_begin();
	zz_entrust_load(CurrentMemoryContext);
	reqcxt = AllocSetContextCreate(CurrentMemoryContext, "zyzzyva request",
								   ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&replies);
	zz_put_uint32(&replies, (uint32) nreqs);
	for (int i = 0; i < nreqs; i++)
	{
		ZzOutcome	out;
		StringInfoData reply;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(reqcxt);
		zz_exec.request = i;
		zz_exec.origin = (int32) (reqs[i].client / 65536);
		zz_exec.random_calls = 0;
		seed_builtin_random();
		zz_sequences_request_begin();

		out = execute_request(&reqs[i], reqcxt);

		/* keep the batch's undo records from taking too much memory */
		if (zz_undo_pending() > ZZ_UNDO_FLUSH_BYTES)
			zz_undo_flush();

		/* a DDL request may have declared functions for the next ones */
		if (zz_exec.ddl_ran)
		{
			zz_exec.ddl_ran = false;
			load_registry(CurrentMemoryContext, true);
			zz_sequences_after_ddl();
		}

		initStringInfo(&reply);
		if (out.sqlerrcode == 0)
			zz_encode_reply_value(&reply, out.text);
		else
			zz_encode_reply_error(&reply, out.sqlerrcode, out.text,
								  out.detail, out.hint);
		zz_put_uint32(&replies, (uint32) reply.len);
		appendBinaryStringInfo(&replies, reply.data, reply.len);

		values[0] = Int32GetDatum(i);
		values[1] = CStringGetTextDatum(unpack_sql_state(out.sqlerrcode));
		if (out.text != NULL)
			values[2] = CStringGetTextDatum(out.text);
		else
			nulls[2] = true;
		values[3] = PointerGetDatum(cstring_to_text_with_len(reply.data, reply.len));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(reply.data);
	}
	/* the sequences' new states, in their rows (sequence.c) */
	zz_sequences_sync();
	zz_sequences_batch_end();
	zz_exec.request = -1;
	zz_entrust_unload();
	zz_registry = NULL;
	zz_nregistry = 0;
	MemoryContextDelete(reqcxt);

	zz_undo_flush();
	record_batch(seq, view, history, nd_time, nd_seed, requests, &replies);
	zz_leave_mode();
	return (Datum) 0;
}
