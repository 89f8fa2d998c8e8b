/*-------------------------------------------------------------------------
 *
 * call.c
 *	  A replicated call, from the calling backend through the sidecar.
 *
 * intercept.c points each call of a replicated function made outside
 * replicated execution at zz_call_replicated().  It
 *
 *	 1. refuses a call inside a transaction block: the call commits on its
 *		own, on every replica, and could not be rolled back with the rest
 *		(a subtransaction of a statement outside any block is fine: it may
 *		catch the call's error);
 *	 2. encodes the call (wire.c): the calling role (the current user) and
 *		database, the canonical signature and each argument printed by its
 *		type's output function under the pinned settings;
 *	 3. sends it to the local zyzzyvad (sidecar.c) and waits for the
 *		answer, which the sidecar sends once the request is complete and
 *		this replica has applied it;
 *	 4. turns the reply into the function's result (read by the return
 *		type's input function under the pinned settings) or into an ERROR
 *		with the SQLSTATE and message the function raised on the replicas.
 *
 * A call is committed on every replica when it returns, whatever the
 * calling statement does next.  If the statement (a DO block, a function
 * that made the call, a query that called it) then fails, or an EXCEPTION
 * block around the call rolls back, the local rollback does not undo the
 * call: the abort raises a WARNING that says so (zz_call_xact_callback),
 * rather than refusing such contexts, which would also refuse a PL/pgSQL
 * block that catches the call's own error.
 *
 * Read-your-writes: the call returns only after this replica has applied
 * and committed the request.  The calling statement's snapshot is older;
 * the next statement takes a new one and sees the call's effects (a call
 * cannot be inside a transaction block, so there is always a next
 * statement with a new snapshot, at any isolation level).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/string.h"
#include "miscadmin.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_last_call);

/* the sidecar's largest request (ZZ_MAX_OP_LEN in sidecar/core/types.h) */
#define ZZ_MAX_OP_BYTES		(1 << 20)

/* whether the top-level transaction is a block, as of its last statement */
static LocalTransactionId zz_top_lxid = InvalidLocalTransactionId;
static bool zz_top_in_block = false;

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* the last completed call, for zyzzyva.last_call() */
static struct
{
	char	   *signature;		/* NULL until a call completes */
	uint8		path;			/* ZZ_L_PATH_COMMIT, ZZ_L_PATH_UNAPPLIED bits */
	uint64		view;
	uint64		seq;
	char		sqlstate[6];
}			zz_last;

/*
 * The replicated calls that completed in the running transaction (their
 * reply was a value, so they are committed on every replica), by the
 * transaction nesting level they were made at, and the last one's
 * signature: an abort that reaches them warns.
 */
#define ZZ_MAX_TRACKED_CALLS 64
static int	zz_done_level[ZZ_MAX_TRACKED_CALLS];
static int	zz_ndone = 0;
static uint64 zz_done_total = 0;	/* counted beyond the array too */
static char zz_done_signature[256];

/*
 * Does this type's text form depend on no setting?  Then its arguments and
 * results need not be printed and read under the pinned settings.
 */
static bool
zz_text_is_fixed(Oid typid)
{
	switch (getBaseType(typid))
	{
		case BOOLOID:
		case CHAROID:
		case NAMEOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case UUIDOID:
		case JSONOID:
		case JSONBOID:
		case VOIDOID:
			return true;
		default:
			return false;
	}
}

/*
 * Note whether the top-level transaction is a transaction block, before
 * each top-level statement runs (the executor and utility hooks): inside a
 * subtransaction IsTransactionBlock() is always true, whether or not the
 * statement runs in a block.
 */
static void
zz_note_block_state(void)
{
	if (IsTransactionState() && !IsSubTransaction())
	{
		zz_top_lxid = MyProc->lxid;
		zz_top_in_block = IsTransactionBlock();
	}
}

/*
 * ExecutorStart hook: note the block state (zz_note_block_state).
 */
static void
zz_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	zz_note_block_state();
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * ProcessUtility hook: the same for utility statements (DO, CALL, ...),
 * and the checks of authz.c (what replicated execution may not run, and
 * what may change replicated objects).
 */
static void
zz_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	zz_note_block_state();
	zz_authz_check_utility(pstmt->utilityStmt);
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * Is the call inside a transaction block (explicit, or the implicit one of
 * several statements sent as one query string)?  A subtransaction of a
 * statement outside any block (a PL/pgSQL EXCEPTION block) is not: that
 * statement commits on its own like any other, and the block may catch the
 * call's error.  When unsure, say yes.
 */
static bool
zz_in_transaction_block(void)
{
	if (!IsTransactionBlock())
		return false;
	if (!IsSubTransaction())
		return true;
	return zz_top_lxid != MyProc->lxid || zz_top_in_block;
}

/*
 * Refuse a call that could not commit on its own: inside a transaction
 * block, or in a parallel operation.
 */
static void
zz_check_call_allowed(const char *signature)
{
	if (zz_in_transaction_block())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("replicated function %s cannot be called inside a transaction block",
						signature),
				 errdetail("A replicated call commits by itself on every replica before it returns; it cannot be rolled back with the transaction."),
				 errhint("Call it in a statement of its own, outside BEGIN ... COMMIT, and send it alone rather than with other statements in one query string.")));
	if (IsInParallelMode())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("replicated function %s cannot be called in a parallel operation",
						signature),
				 errhint("Declare the function PARALLEL UNSAFE (the default).")));
}

/*
 * Encode the call (wire.c) as the payload of an FT_L_REQUEST frame in
 * frame; note the return type in *rettype.
 */
static void
zz_build_request(FunctionCallInfo fcinfo, const char *signature,
				 StringInfo frame, Oid *rettype)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	ZzCall		call;
	bool		pin = false;
	int			nestlevel = 0;
	uint32		len;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->pronargs != fcinfo->nargs)
		elog(ERROR, "replicated function %s called with %d arguments, not %d",
			 signature, fcinfo->nargs, proc->pronargs);
	*rettype = proc->prorettype;

	/*
	 * The caller: the current user, against which a local call checks
	 * privileges.  For a SECURITY DEFINER function the function manager has
	 * already switched to the function's owner when the call reaches us, so
	 * the caller is the session's role (the login role, or the one SET ROLE
	 * chose): the request must never claim the owner's authority.
	 */
	call.role = GetUserNameFromId(proc->prosecdef ? GetOuterUserId() : GetUserId(), false);
	call.database = get_database_name(MyDatabaseId);
	if (call.database == NULL)
		elog(ERROR, "cache lookup failed for database %u", MyDatabaseId);
	call.signature = (char *) signature;
	call.nargs = fcinfo->nargs;
	call.args = palloc0(sizeof(char *) * Max(call.nargs, 1));
	for (int i = 0; i < call.nargs; i++)
		if (!fcinfo->args[i].isnull && !zz_text_is_fixed(proc->proargtypes.values[i]))
			pin = true;
	if (pin)
		nestlevel = zz_pin_settings();
	for (int i = 0; i < call.nargs; i++)
	{
		Oid			outfunc;
		bool		isvarlena;

		if (fcinfo->args[i].isnull)
			continue;
		getTypeOutputInfo(proc->proargtypes.values[i], &outfunc, &isvarlena);
		call.args[i] = OidOutputFunctionCall(outfunc, fcinfo->args[i].value);
	}
	if (pin)
		zz_unpin_settings(nestlevel);
	ReleaseSysCache(tup);

	resetStringInfo(frame);
	appendStringInfoSpaces(frame, ZZ_FRAME_HDR);
	zz_encode_call(frame, &call);
	if (frame->len - ZZ_FRAME_HDR > ZZ_MAX_OP_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("replicated call of %s is too large: %d bytes", signature,
						frame->len - ZZ_FRAME_HDR),
				 errdetail("The sidecar accepts requests of at most %d bytes.", ZZ_MAX_OP_BYTES)));
	len = (uint32) (frame->len - ZZ_FRAME_HDR);
	frame->data[0] = (char) ZZ_FT_L_REQUEST;
	frame->data[1] = (char) (len & 0xFF);
	frame->data[2] = (char) ((len >> 8) & 0xFF);
	frame->data[3] = (char) ((len >> 16) & 0xFF);
	frame->data[4] = (char) ((len >> 24) & 0xFF);
}

/*
 * A little-endian uint64.
 */
static uint64
zz_get_u64le(const char *p)
{
	uint64		v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | (uint8) p[i];
	return v;
}

/*
 * Turn the reply into the function's result, or raise the function's error.
 */
static Datum
zz_finish_call(FunctionCallInfo fcinfo, const char *signature, Oid rettype,
			   const ZzReply *reply)
{
	Datum		result;
	bool		pin;
	int			nestlevel = 0;

	if (reply->is_error)
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE(reply->sqlstate[0], reply->sqlstate[1],
									   reply->sqlstate[2], reply->sqlstate[3],
									   reply->sqlstate[4])),
				 errmsg_internal("%s", reply->text),
				 reply->detail ? errdetail_internal("%s", reply->detail) : 0,
				 reply->hint ? errhint("%s", reply->hint) : 0));

	if (reply->text == NULL)
	{
		fcinfo->isnull = true;
		return (Datum) 0;
	}
	if (rettype == VOIDOID)
		return (Datum) 0;

	pin = !zz_text_is_fixed(rettype);
	if (pin)
		nestlevel = zz_pin_settings();
	if (rettype == RECORDOID)
	{
		TupleDesc	tupdesc;

		/* OUT parameters: read the row with their row type */
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot read the result of replicated function %s: it returns an anonymous record",
							signature)));
		tupdesc = BlessTupleDesc(tupdesc);
		result = OidInputFunctionCall(F_RECORD_IN, reply->text, RECORDOID,
									  tupdesc->tdtypmod);
	}
	else
	{
		Oid			infunc,
					ioparam;

		getTypeInputInfo(rettype, &infunc, &ioparam);
		result = OidInputFunctionCall(infunc, reply->text, ioparam, -1);
	}
	if (pin)
		zz_unpin_settings(nestlevel);
	return result;
}

/*
 * Remember a completed call for zyzzyva.last_call().
 */
static void
zz_note_completion(const char *signature, const char *payload, const ZzReply *reply)
{
	if (zz_last.signature != NULL)
		pfree(zz_last.signature);
	zz_last.signature = MemoryContextStrdup(TopMemoryContext, signature);
	zz_last.path = (uint8) payload[0];
	zz_last.view = zz_get_u64le(payload + 1);
	zz_last.seq = zz_get_u64le(payload + 9);
	strlcpy(zz_last.sqlstate, reply->is_error ? reply->sqlstate : "00000",
			sizeof(zz_last.sqlstate));
}

/*
 * The entry point of every replicated function called outside replicated
 * execution (see intercept.c): send the call through the sidecar and
 * return the agreed result.  See the file header.
 */
Datum
zz_call_replicated(PG_FUNCTION_ARGS)
{
	char	   *signature;
	StringInfoData frame,
				answer;
	Oid			rettype;
	uint8		type;
	const char *payload;
	uint32		plen;
	ZzReply		reply;
	const char *why = NULL;

	signature = zz_replicated_signature(fcinfo->flinfo->fn_oid);
	if (signature == NULL)
		signature = format_procedure_qualified(fcinfo->flinfo->fn_oid);
	zz_check_call_allowed(signature);

	initStringInfo(&frame);
	initStringInfo(&answer);
	zz_build_request(fcinfo, signature, &frame, &rettype);
	zz_sidecar_exchange(signature, &frame, &answer, &type);

	payload = answer.data + ZZ_FRAME_HDR;
	plen = (uint32) (answer.len - ZZ_FRAME_HDR);
	if (type == ZZ_FT_L_ERROR)
	{
		char	   *reason = pnstrdup(payload, plen);

		pg_clean_ascii(reason);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("the zyzzyva sidecar refused the replicated call of %s: %s",
						signature, reason)));
	}
	if (type != ZZ_FT_L_RESULT || plen < ZZ_FT_L_RESULT_HDR)
	{
		zz_sidecar_disconnect();
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("unexpected frame from the zyzzyva sidecar for the replicated call of %s",
						signature),
				 errdetail("Frame type %u with %u bytes, where a result was expected.",
						   type, plen)));
	}
	if (!zz_decode_reply(payload + ZZ_FT_L_RESULT_HDR, plen - ZZ_FT_L_RESULT_HDR,
						 &reply, &why))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("malformed reply from the zyzzyva sidecar to the replicated call of %s: %s",
						signature, why)));
	zz_note_completion(signature, payload, &reply);
	if (!reply.is_error)
	{
		int			level = GetCurrentTransactionNestLevel();

		/* beyond the array, the outermost level stands for the rest */
		if (zz_ndone < ZZ_MAX_TRACKED_CALLS)
			zz_done_level[zz_ndone++] = level;
		zz_done_total++;
		strlcpy(zz_done_signature, signature, sizeof(zz_done_signature));
	}
	if (zz_last.path & ZZ_L_PATH_UNAPPLIED)
		ereport(WARNING,
				(errmsg("replicated call of %s completed, but this replica has not applied it yet",
						signature),
				 errdetail("The statements that follow may not see its effects until this replica catches up (sequence number " UINT64_FORMAT ").",
						   zz_last.seq)));
	return zz_finish_call(fcinfo, signature, rettype, &reply);
}

/*
 * zyzzyva.last_call(OUT signature text, OUT path text, OUT view bigint,
 *					 OUT seq bigint, OUT sqlstate text, OUT applied boolean)
 * returns record
 *
 * How this session's last completed replicated call went: the fast or the
 * commit path, the view and sequence number of the batch that ordered it,
 * its SQLSTATE ('00000' if it returned a value), and whether this replica
 * had applied it when the sidecar answered.  All NULL before the first
 * call.
 */
Datum
zyzzyva_last_call(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {true, true, true, true, true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (zz_last.signature != NULL)
	{
		values[0] = CStringGetTextDatum(zz_last.signature);
		values[1] = CStringGetTextDatum((zz_last.path & ZZ_L_PATH_COMMIT) ? "commit" : "fast");
		values[2] = Int64GetDatum((int64) zz_last.view);
		values[3] = Int64GetDatum((int64) zz_last.seq);
		values[4] = CStringGetTextDatum(zz_last.sqlstate);
		values[5] = BoolGetDatum((zz_last.path & ZZ_L_PATH_UNAPPLIED) == 0);
		memset(nulls, false, sizeof(nulls));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * Warn that n replicated calls are committed on every replica although the
 * (sub)transaction that made them rolled back.
 */
static void
zz_warn_committed_calls(uint64 n, bool whole)
{
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 n == 1 ?
			 errmsg("the replicated call of %s is committed on every replica, although %s rolled back",
					zz_done_signature, whole ? "the statement that made it" : "the block that made it") :
			 errmsg("%llu replicated calls (the last of %s) are committed on every replica, although %s rolled back",
					(unsigned long long) n, zz_done_signature,
					whole ? "the statement that made them" : "the block that made them"),
			 errdetail("A replicated call commits on its own when it returns; a later failure of the calling statement does not undo it."),
			 errhint("Make a replicated call in a statement of its own, or have one replicated function do all of the work.")));
}

/*
 * At the abort of the transaction (or of a subtransaction) that made
 * replicated calls that completed: warn (see the file header).
 */
static void
zz_call_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT && zz_done_total > 0)
		zz_warn_committed_calls(zz_done_total, true);
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT)
	{
		zz_ndone = 0;
		zz_done_total = 0;
	}
}

static void
zz_call_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	int			level;
	int			kept = 0;
	uint64		gone = 0;

	if (zz_ndone == 0 ||
		(event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	level = GetCurrentTransactionNestLevel();
	for (int i = 0; i < zz_ndone; i++)
	{
		if (zz_done_level[i] < level)
			zz_done_level[kept++] = zz_done_level[i];
		else if (event == SUBXACT_EVENT_COMMIT_SUB)
			zz_done_level[kept++] = level - 1;	/* now the parent's */
		else
			gone++;
	}
	zz_ndone = kept;
	if (gone > 0)
	{
		zz_done_total -= gone;
		zz_warn_committed_calls(gone, false);
	}
}

/*
 * Install the hooks that note whether statements run in a transaction
 * block (from _PG_init).
 */
void
zz_call_init(void)
{
	RegisterXactCallback(zz_call_xact_callback, NULL);
	RegisterSubXactCallback(zz_call_subxact_callback, NULL);
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = zz_ExecutorStart;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = zz_ProcessUtility;
}
