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
 *	 call	 := rolelen:uint32 role[rolelen] dblen:uint32 database[dblen]
 *				siglen:uint32 signature[siglen] nargs:uint32 arg{nargs}
 *	 arg	 := len:int32 text[len]				(len = -1: SQL NULL)
 *
 *	 reply	 := 'V' len:int32 text[len]			(the result; -1: NULL)
 *			  | 'E' sqlstate[5] len:uint32 message[len]
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

#define ZZ_MAX_SIGNATURE	(64 * 1024)

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
	char		b[4];

	b[0] = (char) (v >> 24);
	b[1] = (char) (v >> 16);
	b[2] = (char) (v >> 8);
	b[3] = (char) v;
	appendBinaryStringInfo(buf, b, 4);
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
 * Copy len bytes of text into a palloc'd C string, or say why they are not
 * text in the server encoding.
 */
static char *
text_from_wire(const char *p, size_t len, const char **why)
{
	if (memchr(p, '\0', len) != NULL)
	{
		*why = "text contains a zero byte";
		return NULL;
	}
	if (!pg_verify_mbstr(GetDatabaseEncoding(), p, (int) len, true))
	{
		*why = "text is not valid in the server encoding";
		return NULL;
	}
	return pnstrdup(p, len);
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
 * Read a role or database name: 1 to NAMEDATALEN - 1 bytes of text.
 */
static bool
rd_name(ZzReader *r, char **out, const char *what, const char **why)
{
	uint32		len;
	const char *p;

	if (!rd_uint32(r, &len) || len >= NAMEDATALEN || !rd_bytes(r, &p, len))
	{
		*why = psprintf("the %s name is truncated or longer than %d bytes",
						what, NAMEDATALEN - 1);
		return false;
	}
	if (len == 0)
	{
		*why = psprintf("the %s name is empty", what);
		return false;
	}
	return (*out = text_from_wire(p, len, why)) != NULL;
}

/*
 * Append a length-prefixed string.
 */
static void
put_string(StringInfo buf, const char *s)
{
	size_t		len = strlen(s);

	zz_put_uint32(buf, (uint32) len);
	appendBinaryStringInfo(buf, s, (int) len);
}

/*
 * Decode one call into palloc'd strings.  Returns false and sets *why if the
 * bytes are not a well-formed call; never reads past len.
 */
bool
zz_decode_call(const char *data, size_t len, ZzCall *call, const char **why)
{
	ZzReader	r = {data, len};
	uint32		siglen,
				nargs;
	const char *p;

	if (!rd_name(&r, &call->role, "role", why) ||
		!rd_name(&r, &call->database, "database", why))
		return false;
	if (!rd_uint32(&r, &siglen) || siglen > ZZ_MAX_SIGNATURE ||
		!rd_bytes(&r, &p, siglen))
	{
		*why = "the signature is truncated";
		return false;
	}
	if (siglen == 0)
	{
		*why = "the signature is empty";
		return false;
	}
	if ((call->signature = text_from_wire(p, siglen, why)) == NULL)
		return false;
	if (!rd_uint32(&r, &nargs) || nargs > FUNC_MAX_ARGS || nargs > r.left / 4)
	{
		*why = "the argument count does not fit the request";
		return false;
	}
	call->nargs = (int) nargs;
	call->args = palloc0(sizeof(char *) * Max(nargs, 1));
	for (uint32 i = 0; i < nargs; i++)
	{
		uint32		alen;

		if (!rd_uint32(&r, &alen))
		{
			*why = "an argument is truncated";
			return false;
		}
		if (alen == 0xFFFFFFFF)
			continue;			/* SQL NULL */
		if (!rd_bytes(&r, &p, alen))
		{
			*why = "an argument is truncated";
			return false;
		}
		if ((call->args[i] = text_from_wire(p, alen, why)) == NULL)
			return false;
	}
	if (r.left != 0)
	{
		*why = "trailing bytes after the last argument";
		return false;
	}
	return true;
}

/*
 * Append the encoding of a call.
 */
void
zz_encode_call(StringInfo buf, const ZzCall *call)
{
	put_string(buf, call->role);
	put_string(buf, call->database);
	put_string(buf, call->signature);
	zz_put_uint32(buf, (uint32) call->nargs);
	for (int i = 0; i < call->nargs; i++)
	{
		if (call->args[i] == NULL)
			zz_put_uint32(buf, 0xFFFFFFFF);
		else
		{
			size_t		alen = strlen(call->args[i]);

			zz_put_uint32(buf, (uint32) alen);
			appendBinaryStringInfo(buf, call->args[i], (int) alen);
		}
	}
}

/*
 * Append a successful reply: the result's canonical text, or NULL.
 */
void
zz_encode_reply_value(StringInfo buf, const char *value)
{
	appendStringInfoChar(buf, 'V');
	if (value == NULL)
		zz_put_uint32(buf, 0xFFFFFFFF);
	else
	{
		size_t		len = strlen(value);

		zz_put_uint32(buf, (uint32) len);
		appendBinaryStringInfo(buf, value, (int) len);
	}
}

/*
 * Append an error reply: the SQLSTATE and the primary message.
 */
void
zz_encode_reply_error(StringInfo buf, int sqlerrcode, const char *message)
{
	size_t		len = strlen(message);

	appendStringInfoChar(buf, 'E');
	appendBinaryStringInfo(buf, unpack_sql_state(sqlerrcode), 5);
	zz_put_uint32(buf, (uint32) len);
	appendBinaryStringInfo(buf, message, (int) len);
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
	ZzReader	r = {data, len};
	const char *kind,
			   *state,
			   *p;
	uint32		tlen;

	memset(reply, 0, sizeof(ZzReply));
	if (!rd_bytes(&r, &kind, 1) || (*kind != 'V' && *kind != 'E'))
	{
		*why = "the reply is neither a value ('V') nor an error ('E')";
		return false;
	}
	reply->is_error = *kind == 'E';
	if (reply->is_error)
	{
		if (!rd_bytes(&r, &state, 5))
		{
			*why = "the SQLSTATE is truncated";
			return false;
		}
		for (int i = 0; i < 5; i++)
			if (!((state[i] >= '0' && state[i] <= '9') ||
				  (state[i] >= 'A' && state[i] <= 'Z')))
			{
				*why = "the SQLSTATE is not five digits or upper-case letters";
				return false;
			}
		memcpy(reply->sqlstate, state, 5);
	}
	if (!rd_uint32(&r, &tlen))
	{
		*why = "the length is truncated";
		return false;
	}
	if (tlen == 0xFFFFFFFF && !reply->is_error)
		reply->text = NULL;		/* SQL NULL */
	else
	{
		if (!rd_bytes(&r, &p, tlen))
		{
			*why = "the text is truncated";
			return false;
		}
		if ((reply->text = text_from_wire(p, tlen, why)) == NULL)
			return false;
	}
	if (r.left != 0)
	{
		*why = "trailing bytes after the reply";
		return false;
	}
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
