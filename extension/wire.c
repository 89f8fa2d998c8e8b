/*-------------------------------------------------------------------------
 *
 * wire.c
 *	  The byte formats of requests and replies.
 *
 * A request names a replicated function by its canonical signature and
 * carries its arguments in canonical text form; the sidecar carries these
 * bytes opaquely (they are a REQUEST's operation), and apply_batch()
 * receives a batch of them from the daemon.  All integers are big-endian
 * (network order, as in PostgreSQL's own binary formats); all text is in
 * the database's server encoding, which must be the same on every replica.
 *
 *	 batch	 := count:uint32 request{count}
 *	 request := client:uint32 timestamp:uint64 len:uint32 call[len]
 *
 * and call and reply as extension/zzwire.h defines them (the one codec the
 * extension and the daemon share).
 *
 * role is the name of the role that made the call (the current user of the
 * calling backend) and database the name of its database; both travel
 * inside the request, so the request's MAC authenticator covers them, and
 * apply_batch() runs the call as that role (apply.c) if the replica the
 * request came from is entrusted with it.  Both are 1 to NAMEDATALEN - 1
 * bytes.
 *
 * The signature is the form format_procedure_qualified() prints, for
 * example "public.transfer(integer,integer,numeric)"; it is compared with
 * the registry as a string, never resolved through an OID.  A value's text
 * is what the type's output function prints under the pinned settings
 * (zyzzyva.c).  A malformed batch is the daemon's bug and fails the whole
 * call; a malformed call is a client's and becomes that request's error
 * reply, the same on every replica.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "reader.h"
#include "zyzzyva.h"

StaticAssertDecl(ZZ_WIRE_MAX_NAME == NAMEDATALEN - 1, "names are PostgreSQL names");
StaticAssertDecl(ZZ_WIRE_MAX_ARGS == FUNC_MAX_ARGS, "a call passes at most FUNC_MAX_ARGS");

PG_FUNCTION_INFO_V1(zyzzyva_encode_call);
PG_FUNCTION_INFO_V1(zyzzyva_encode_call_as);
PG_FUNCTION_INFO_V1(zyzzyva_encode_batch);
PG_FUNCTION_INFO_V1(zyzzyva_decode_batch);
PG_FUNCTION_INFO_V1(zyzzyva_decode_reply);

/* Read a big-endian uint32 (reader.h reads the bytes). */
static bool
rd_uint32(ZzReader *r, uint32 *v)
{
	uint64		u;

	if (!rd_uint(r, 4, &u))
		return false;
	*v = (uint32) u;
	return true;
}

/* Read a big-endian uint64. */
static bool
rd_uint64(ZzReader *r, uint64 *v)
{
	return rd_uint(r, 8, v);
}

/*
 * Append a big-endian uint32.
 */
void
zz_put_uint32(StringInfo buf, uint32 v)
{
	uint8		b[4];

	zz_wire_put_u32(b, v);
	appendBinaryStringInfo(buf, (const char *) b, 4);
}

/*
 * Append a big-endian uint64.
 */
static void
put_uint64(StringInfo buf, uint64 v)
{
	zz_put_uint32(buf, (uint32) (v >> 32));
	zz_put_uint32(buf, (uint32) v);
}

/*
 * zz_wire_text_check: is this text, in the server encoding, without zero
 * bytes?
 */
static bool
text_ok(void *arg, const char *p, uint32_t len, const char **why)
{
	if (memchr(p, '\0', len) != NULL)
	{
		*why = "text contains a zero byte";
		return false;
	}
	if (!pg_verify_mbstr(GetDatabaseEncoding(), p, (int) len, true))
	{
		*why = "text is not valid in the server encoding";
		return false;
	}
	return true;
}

/*
 * A checked text as a palloc'd C string (NULL for an SQL NULL).
 */
static char *
text_copy(const zz_wire_text *t)
{
	return t->p != NULL ? pnstrdup(t->p, t->len) : NULL;
}

/*
 * A C string as a text of the shared codec (NULL: SQL NULL).
 */
static zz_wire_text
text_of(const char *s)
{
	zz_wire_text t = {s, s != NULL ? (uint32) strlen(s) : 0};

	return t;
}

/*
 * Append what the shared codec wrote into a buffer of size bytes.
 */
static uint8 *
append_space(StringInfo buf, size_t size)
{
	uint8	   *p;

	enlargeStringInfo(buf, (int) size);
	p = (uint8 *) buf->data + buf->len;
	buf->len += (int) size;
	buf->data[buf->len] = '\0';
	return p;
}

/*
 * Split a batch into its requests.  The requests point into data, which the
 * caller keeps alive.  A malformed batch raises an ERROR: batches come from
 * the local daemon, and a malformed one means the daemon is broken.
 */
ZzRequest *
zz_decode_batch(const char *data, size_t len, int *count)
{
	ZzReader	r = {data, len};
	uint32		n;
	ZzRequest  *reqs;

	/* each request takes at least 16 bytes, so count is bounded by len */
	if (!rd_uint32(&r, &n) || n > r.left / 16)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed batch: request count does not fit the batch")));
	reqs = palloc0(sizeof(ZzRequest) * Max(n, 1));
	for (uint32 i = 0; i < n; i++)
	{
		if (!rd_uint32(&r, &reqs[i].client) ||
			!rd_uint64(&r, &reqs[i].timestamp) ||
			!rd_uint32(&r, &reqs[i].call_len) ||
			!rd_bytes(&r, &reqs[i].call, reqs[i].call_len))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("malformed batch: request %u is truncated", i)));
	}
	if (r.left != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed batch: %zu bytes after the last request", r.left)));
	*count = (int) n;
	return reqs;
}

/*
 * Decode one call into palloc'd strings.  Returns false and sets *why if the
 * bytes are not a well-formed call; never reads past len.
 */
bool
zz_decode_call(const char *data, size_t len, ZzCall *call, const char **why)
{
	zz_wire_call *wc = palloc(sizeof(zz_wire_call));

	if (!zz_wire_decode_call((const uint8 *) data, len, wc, text_ok, NULL, why))
	{
		pfree(wc);
		return false;
	}
	call->role = text_copy(&wc->role);
	call->database = text_copy(&wc->database);
	call->signature = text_copy(&wc->signature);
	call->nargs = (int) wc->nargs;
	call->args = palloc0(sizeof(char *) * Max(wc->nargs, 1));
	for (uint32 i = 0; i < wc->nargs; i++)
		call->args[i] = text_copy(&wc->args[i]);
	pfree(wc);
	return true;
}

/*
 * Append the encoding of a call.
 */
void
zz_encode_call(StringInfo buf, const ZzCall *call)
{
	zz_wire_call *wc = palloc(sizeof(zz_wire_call));

	Assert(call->nargs >= 0 && call->nargs <= ZZ_WIRE_MAX_ARGS);
	wc->role = text_of(call->role);
	wc->database = text_of(call->database);
	wc->signature = text_of(call->signature);
	wc->nargs = (uint32) call->nargs;
	for (int i = 0; i < call->nargs; i++)
		wc->args[i] = text_of(call->args[i]);
	zz_wire_encode_call(append_space(buf, zz_wire_call_size(wc)), wc);
	pfree(wc);
}

/*
 * Append a reply in the shared format.
 */
static void
encode_reply(StringInfo buf, const zz_wire_reply *reply)
{
	zz_wire_encode_reply(append_space(buf, zz_wire_reply_size(reply)), reply);
}

/*
 * Append a successful reply: the result's canonical text, or NULL.
 */
void
zz_encode_reply_value(StringInfo buf, const char *value)
{
	zz_wire_reply reply = {.is_error = false, .text = text_of(value)};

	encode_reply(buf, &reply);
}

/*
 * Append an error reply: the SQLSTATE, the primary message, and the DETAIL
 * and HINT if any (NULL: none).
 */
void
zz_encode_reply_error(StringInfo buf, int sqlerrcode, const char *message,
					  const char *detail, const char *hint)
{
	zz_wire_reply reply = {.is_error = true, .text = text_of(message),
	.detail = text_of(detail), .hint = text_of(hint)};

	memcpy(reply.sqlstate, unpack_sql_state(sqlerrcode), 5);
	encode_reply(buf, &reply);
}

/*
 * The bytes of a call of signature with the text array args (NULL: no
 * arguments), made by role in database.
 */
static bytea *
encode_call_datum(const char *role, const char *database, text *signature,
				  ArrayType *arr)
{
	ZzCall		call;
	StringInfoData buf;

	call.role = (char *) role;
	call.database = (char *) database;
	call.signature = text_to_cstring(signature);
	call.nargs = 0;
	call.args = NULL;
	if (arr != NULL)
	{
		Datum	   *elems;
		bool	   *nulls;

		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("args must be a one-dimensional array")));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &call.nargs);
		if (call.nargs > FUNC_MAX_ARGS)
			ereport(ERROR,
					(errcode(ERRCODE_TOO_MANY_ARGUMENTS),
					 errmsg("a call can pass at most %d arguments", FUNC_MAX_ARGS)));
		call.args = palloc0(sizeof(char *) * Max(call.nargs, 1));
		for (int i = 0; i < call.nargs; i++)
			if (!nulls[i])
				call.args[i] = TextDatumGetCString(elems[i]);
	}
	initStringInfo(&buf);
	zz_encode_call(&buf, &call);
	return (bytea *) cstring_to_text_with_len(buf.data, buf.len);
}

/*
 * zyzzyva.encode_call(signature text, args text[]) returns bytea
 *
 * The bytes of one call made by the current user in the current database,
 * as the call path sends them to the sidecar; also how tests and operators
 * build requests by hand.
 */
Datum
zyzzyva_encode_call(PG_FUNCTION_ARGS)
{
	char	   *database = get_database_name(MyDatabaseId);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("signature must not be null")));
	if (database == NULL)
		elog(ERROR, "cache lookup failed for database %u", MyDatabaseId);
	PG_RETURN_BYTEA_P(encode_call_datum(GetUserNameFromId(GetUserId(), false),
										database, PG_GETARG_TEXT_PP(0),
										PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1)));
}

/*
 * zyzzyva.encode_call_as(role name, database name, signature text,
 *						  args text[]) returns bytea
 *
 * The bytes of a call as another role or database would send them: what a
 * replica speaking for a role sends, for tests of apply's checks.
 */
Datum
zyzzyva_encode_call_as(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role, database and signature must not be null")));
	PG_RETURN_BYTEA_P(encode_call_datum(NameStr(*PG_GETARG_NAME(0)),
										NameStr(*PG_GETARG_NAME(1)),
										PG_GETARG_TEXT_PP(2),
										PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3)));
}

/*
 * zyzzyva.encode_batch(calls bytea[], clients integer[], timestamps bigint[])
 * returns bytea
 *
 * Frame calls into a batch as the daemon does.  A NULL clients array means
 * client 0 for all; a NULL timestamps array means 1, 2, 3, ...
 */
Datum
zyzzyva_encode_batch(PG_FUNCTION_ARGS)
{
	Datum	   *calls,
			   *clients = NULL,
			   *stamps = NULL;
	bool	   *cnulls,
			   *nulls;
	int			n,
				nclients = 0,
				nstamps = 0;
	StringInfoData buf;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("calls must not be null")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), BYTEAOID, -1, false,
					  TYPALIGN_INT, &calls, &cnulls, &n);
	if (!PG_ARGISNULL(1))
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), INT4OID, 4, true,
						  TYPALIGN_INT, &clients, &nulls, &nclients);
	if (!PG_ARGISNULL(2))
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), INT8OID, 8,
						  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &stamps, &nulls,
						  &nstamps);
	if ((clients != NULL && nclients != n) || (stamps != NULL && nstamps != n))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("clients and timestamps must have one element per call")));

	initStringInfo(&buf);
	zz_put_uint32(&buf, (uint32) n);
	for (int i = 0; i < n; i++)
	{
		bytea	   *call;

		if (cnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("call %d is null", i + 1)));
		call = DatumGetByteaPP(calls[i]);
		zz_put_uint32(&buf, clients ? (uint32) DatumGetInt32(clients[i]) : 0);
		put_uint64(&buf, stamps ? (uint64) DatumGetInt64(stamps[i]) : (uint64) i + 1);
		zz_put_uint32(&buf, VARSIZE_ANY_EXHDR(call));
		appendBinaryStringInfo(&buf, VARDATA_ANY(call), VARSIZE_ANY_EXHDR(call));
	}
	PG_RETURN_BYTEA_P(cstring_to_text_with_len(buf.data, buf.len));
}

/*
 * zyzzyva.decode_batch(requests bytea) returns table (request, client,
 * timestamp, role, database, signature, args, error)
 *
 * Show what a batch holds, the way apply_batch() reads it: for a debugging
 * session, and for tests of the decoder's rejection of malformed input.
 */
Datum
zyzzyva_decode_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *batch = PG_GETARG_BYTEA_PP(0);
	ZzRequest  *reqs;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	reqs = zz_decode_batch(VARDATA_ANY(batch), VARSIZE_ANY_EXHDR(batch), &n);
	for (int i = 0; i < n; i++)
	{
		Datum		values[8];
		bool		nulls[8] = {false, false, false, true, true, true, true, true};
		ZzCall		call;
		const char *why = NULL;

		values[0] = Int32GetDatum(i);
		values[1] = Int64GetDatum((int64) reqs[i].client);
		values[2] = Int64GetDatum((int64) reqs[i].timestamp);
		if (zz_decode_call(reqs[i].call, reqs[i].call_len, &call, &why))
		{
			Datum	   *elems = palloc(sizeof(Datum) * Max(call.nargs, 1));
			bool	   *enulls = palloc(sizeof(bool) * Max(call.nargs, 1));
			int			dims[1] = {call.nargs};
			int			lbs[1] = {1};

			for (int a = 0; a < call.nargs; a++)
			{
				enulls[a] = call.args[a] == NULL;
				elems[a] = enulls[a] ? (Datum) 0 : CStringGetTextDatum(call.args[a]);
			}
			values[3] = CStringGetTextDatum(call.role);
			values[4] = CStringGetTextDatum(call.database);
			values[5] = CStringGetTextDatum(call.signature);
			values[6] = PointerGetDatum(construct_md_array(elems, enulls, 1, dims, lbs,
														   TEXTOID, -1, false,
														   TYPALIGN_INT));
			nulls[3] = nulls[4] = nulls[5] = nulls[6] = false;
		}
		else
		{
			values[7] = CStringGetTextDatum(why);
			nulls[7] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Decode a reply into *reply (text palloc'd, NULL for SQL NULL).  Returns
 * false and sets *why if the bytes are not a well-formed reply; never reads
 * past len.  The call path reads the sidecar's answers with this.
 */
bool
zz_decode_reply(const char *data, size_t len, ZzReply *reply, const char **why)
{
	zz_wire_reply wr;

	memset(reply, 0, sizeof(ZzReply));
	if (!zz_wire_decode_reply((const uint8 *) data, len, &wr, text_ok, NULL, why))
		return false;
	reply->is_error = wr.is_error;
	memcpy(reply->sqlstate, wr.sqlstate, sizeof(reply->sqlstate));
	reply->text = text_copy(&wr.text);
	reply->detail = text_copy(&wr.detail);
	reply->hint = text_copy(&wr.hint);
	return true;
}

/*
 * zyzzyva.decode_reply(reply bytea) returns table (sqlstate, result)
 *
 * Read a reply: '00000' and the result text, or the SQLSTATE and message.
 */
Datum
zyzzyva_decode_reply(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	ZzReply		reply;
	const char *why = NULL;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!zz_decode_reply(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), &reply, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed reply: %s", why)));

	values[0] = CStringGetTextDatum(reply.is_error ? reply.sqlstate : "00000");
	if (reply.text != NULL)
	{
		values[1] = CStringGetTextDatum(reply.text);
		nulls[1] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * zyzzyva.decode_reply_error(reply bytea, OUT sqlstate text, OUT message
 *							  text, OUT detail text, OUT hint text) returns record
 *
 * Read an error reply with its DETAIL and HINT (NULL where it has none);
 * for a value reply, '00000' and NULLs.
 */
PG_FUNCTION_INFO_V1(zyzzyva_decode_reply_error);

Datum
zyzzyva_decode_reply_error(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	ZzReply		reply;
	const char *why = NULL;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, true, true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!zz_decode_reply(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), &reply, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed reply: %s", why)));
	values[0] = CStringGetTextDatum(reply.is_error ? reply.sqlstate : "00000");
	if (reply.is_error)
	{
		const char *texts[3] = {reply.text, reply.detail, reply.hint};

		for (int i = 0; i < 3; i++)
			if (texts[i] != NULL)
			{
				values[i + 1] = CStringGetTextDatum(texts[i]);
				nulls[i + 1] = false;
			}
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
