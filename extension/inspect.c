/*-------------------------------------------------------------------------
 *
 * inspect.c
 *	  What an operator needs to find where replicas diverged, without
 *	  shipping rows between them: per-batch and per-table summaries and
 *	  per-row hashes, compared across replicas by sidecar/tools/
 *	  zyzzyva-diverge (docs/liveness.md, section 4).
 *
 *	 batch_summary()		one line per batch in zyzzyva.batch_log (the
 *							batches since the stable checkpoint): its
 *							history digest, hashes of its requests, its
 *							replies and its effects (every row change in
 *							the undo log, in order)
 *	 batch_effects(a, b)	one line per row change of batches a..b: the
 *							table, the row's key, hashes of the key and of
 *							the before- and after-image
 *	 table_digests()		one line per replicated table: its row count
 *							and the SHA-256 of the LtHash of its rows
 *	 row_hashes(t)			one line per row of replicated table t: key,
 *							key hash, row hash
 *
 * A row's hash is SHA-256 of the bytes the state digest hashes for it
 * (digest.c: domain, qualified table name, canonical row text), so equal
 * hashes on two replicas mean equal rows, and replicas compare tables and
 * batches by hashes alone.
 *
 * Who may see what.  The summaries (whole batches, whole tables) say no
 * more than the state digest does, which zyzzyva_monitor may read.  A
 * row's key and hashes are data of the table: batch_effects() shows them
 * only for tables the caller may SELECT from (for the others, the change
 * is listed with its table and nothing else), and row_hashes() refuses a
 * table the caller may not read.  A row hash of a table with few possible
 * rows could be inverted by trying them all, which is why it needs the
 * same right as reading the row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_batch_summary);
PG_FUNCTION_INFO_V1(zyzzyva_batch_effects);
PG_FUNCTION_INFO_V1(zyzzyva_table_digests);
PG_FUNCTION_INFO_V1(zyzzyva_row_hashes);

static const char zz_row_domain[] = "zyzzyva-row-v1";
static const char zz_key_domain[] = "zyzzyva-key-v1";

/*
 * SHA-256 of domain NUL qualname NUL text, as a bytea.
 */
static bytea *
hash_named_text(const char *domain, const char *qualname, const char *text)
{
	StringInfoData buf;
	bytea	   *out = palloc(VARHDRSZ + ZZ_SHA256_BYTES);

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, domain, strlen(domain) + 1);
	appendBinaryStringInfo(&buf, qualname, strlen(qualname) + 1);
	appendStringInfoString(&buf, text);
	zz_sha256(buf.data, buf.len, (uint8 *) VARDATA(out));
	SET_VARSIZE(out, VARHDRSZ + ZZ_SHA256_BYTES);
	pfree(buf.data);
	return out;
}

static bytea *
table_lanes_hash(const void *data, size_t len)
{
	bytea	   *out = palloc(VARHDRSZ + ZZ_SHA256_BYTES);

	zz_sha256(data, len, (uint8 *) VARDATA(out));
	SET_VARSIZE(out, VARHDRSZ + ZZ_SHA256_BYTES);
	return out;
}

/*
 * The key of a row of rel given as canonical row text ("id=2", or
 * "a=1, b=x" for a composite key), read back with the table's row type
 * (as rollback_to() reads undo images).  NULL if rel has no primary key.
 */
static char *
row_key_text(Relation rel, const char *rowtext)
{
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	Relation	pk;
	HeapTupleHeader th;
	HeapTupleData tuple;
	StringInfoData key;
	Datum		row;

	if (!OidIsValid(pkoid))
		return NULL;
	row = OidInputFunctionCall(F_RECORD_IN, (char *) rowtext, desc->tdtypeid, -1);
	th = DatumGetHeapTupleHeader(row);
	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;

	initStringInfo(&key);
	pk = index_open(pkoid, AccessShareLock);
	for (int i = 0; i < pk->rd_index->indnkeyatts; i++)
	{
		AttrNumber	attnum = pk->rd_index->indkey.values[i];
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		bool		isnull;
		Datum		v = heap_getattr(&tuple, attnum, desc, &isnull);
		Oid			outfn;
		bool		varlena;

		getTypeOutputInfo(att->atttypid, &outfn, &varlena);
		appendStringInfo(&key, "%s%s=%s", i > 0 ? ", " : "",
						 quote_identifier(NameStr(att->attname)),
						 isnull ? "NULL" : OidOutputFunctionCall(outfn, v));
	}
	index_close(pk, AccessShareLock);
	return key.data;
}

/*
 * May the user who called the running zyzzyva function (before it became
 * the extension's owner) read relid?
 */
static bool
caller_may_read(Oid relid)
{
	return pg_class_aclcheck(relid, zz_exec.outer_user, ACL_SELECT) == ACLCHECK_OK;
}

/*
 * zyzzyva.batch_summary() returns table (seq bigint, view bigint,
 *		history bytea, requests_hash bytea, replies_hash bytea,
 *		changes bigint, effects_hash bytea)
 *
 * effects_hash is SHA-256 over the batch's row changes and schema actions
 * in their order: table name, before- and after-image (as the digest
 * prints rows), action and target, so that it is equal on two replicas
 * exactly when the batch changed the same rows in the same way.
 */
Datum
zyzzyva_batch_summary(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	zz_enter_mode(ZZ_MODE_DIGEST, "zyzzyva.batch_summary()");
	SPI_connect();
	if (SPI_execute("SELECT b.seq, b.view, b.history, "
					"pg_catalog.sha256(b.requests), pg_catalog.sha256(b.replies), "
					"(SELECT pg_catalog.count(*) FROM zyzzyva.undo_log u WHERE u.seq OPERATOR(pg_catalog.=) b.seq), "
					"pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.concat('" "zyzzyva-effects-v1" "', "
					"  (SELECT pg_catalog.string_agg(pg_catalog.concat_ws(pg_catalog.chr(1), "
					"       u.ord, CASE WHEN u.rel OPERATOR(pg_catalog.=) 0 THEN '' "
					"                   ELSE pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' "
					"                        OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname) END, "
					"       COALESCE(u.old_row, pg_catalog.chr(2)), "
					"       COALESCE(u.new_row, pg_catalog.chr(2)), "
					"       COALESCE(u.action, ''), COALESCE(u.target, '')), "
					"       pg_catalog.chr(3) ORDER BY u.ord) "
					"     FROM zyzzyva.undo_log u "
					"     LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) u.rel "
					"     LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					"    WHERE u.seq OPERATOR(pg_catalog.=) b.seq)), 'UTF8')) "
					"FROM zyzzyva.batch_log b ORDER BY b.seq",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read zyzzyva.batch_log");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		values[7];
		bool		nulls[7];

		for (int c = 0; c < 7; c++)
			values[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	zz_leave_mode();
	return (Datum) 0;
}

/*
 * zyzzyva.batch_effects(first bigint, last bigint) returns table
 *		(seq bigint, request integer, ord integer, table_name text,
 *		 action text, key text, key_hash bytea, before_hash bytea,
 *		 after_hash bytea)
 *
 * Every row change and schema action of batches first..last in the undo
 * log.  key and the hashes only for tables the caller may read; NULL
 * before_hash is an inserted row, NULL after_hash a deleted one.
 */
Datum
zyzzyva_batch_effects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		first = PG_GETARG_INT64(0);
	int64		last = PG_GETARG_INT64(1);
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2];
	Portal		portal;
	SPIPlanPtr	plan;

	InitMaterializedSRF(fcinfo, 0);
	zz_enter_mode(ZZ_MODE_DIGEST, "zyzzyva.batch_effects()");
	SPI_connect();
	plan = SPI_prepare("SELECT seq, request, ord, rel, action, target, old_row, new_row "
					   "FROM zyzzyva.undo_log WHERE seq BETWEEN $1 AND $2 ORDER BY seq, ord",
					   2, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not read zyzzyva.undo_log");
	args[0] = Int64GetDatum(first);
	args[1] = Int64GetDatum(last);
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 256);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	td = SPI_tuptable->tupdesc;
			Datum		values[9];
			bool		nulls[9] = {false};
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(t, td, 4, &isnull));
			char	   *action = SPI_getvalue(t, td, 5);
			char	   *target = SPI_getvalue(t, td, 6);
			char	   *oldrow = SPI_getvalue(t, td, 7);
			char	   *newrow = SPI_getvalue(t, td, 8);
			Relation	rel = OidIsValid(relid) ? try_relation_open(relid, AccessShareLock) : NULL;

			values[0] = SPI_getbinval(t, td, 1, &isnull);
			values[1] = SPI_getbinval(t, td, 2, &isnull);
			values[2] = SPI_getbinval(t, td, 3, &isnull);
			for (int c = 3; c < 9; c++)
				nulls[c] = true;
			if (action != NULL)
			{
				/* a schema action of a replicated DDL request: its target names it */
				values[4] = CStringGetTextDatum(action);
				nulls[4] = false;
				values[5] = CStringGetTextDatum(target ? target : "");
				nulls[5] = false;
				values[6] = PointerGetDatum(hash_named_text(zz_key_domain, action, target ? target : ""));
				nulls[6] = false;
			}
			else if (rel != NULL)
			{
				char	   *qualname = zz_relation_qualname(rel);

				values[3] = CStringGetTextDatum(qualname);
				nulls[3] = false;
				if (caller_may_read(relid))
				{
					char	   *key = row_key_text(rel, newrow ? newrow : oldrow);

					if (key != NULL)
					{
						values[5] = CStringGetTextDatum(key);
						values[6] = PointerGetDatum(hash_named_text(zz_key_domain, qualname, key));
						nulls[5] = nulls[6] = false;
					}
					if (oldrow != NULL)
					{
						values[7] = PointerGetDatum(hash_named_text(zz_row_domain, qualname, oldrow));
						nulls[7] = false;
					}
					if (newrow != NULL)
					{
						values[8] = PointerGetDatum(hash_named_text(zz_row_domain, qualname, newrow));
						nulls[8] = false;
					}
				}
			}
			if (rel != NULL)
				relation_close(rel, AccessShareLock);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	zz_leave_mode();
	return (Datum) 0;
}

/*
 * The replicated tables, as (OID, qualified name), in name order.
 */
static List *
replicated_tables(List **names)
{
	List	   *oids = NIL;

	*names = NIL;
	if (SPI_execute("SELECT c.oid, pg_catalog.quote_ident(r.schema_name) OPERATOR(pg_catalog.||) '.' "
					"OPERATOR(pg_catalog.||) pg_catalog.quote_ident(r.table_name) "
					"FROM zyzzyva.table_registry r "
					"JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) r.schema_name "
					"JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid "
					"AND c.relname OPERATOR(pg_catalog.=) r.table_name "
					"ORDER BY r.schema_name COLLATE \"C\", r.table_name COLLATE \"C\"", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read zyzzyva.table_registry");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		oids = lappend_oid(oids, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																SPI_tuptable->tupdesc, 1, &isnull)));
		*names = lappend(*names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	}
	return oids;
}

/*
 * Call fn(row text, arg) for every row of the table named qualname, read
 * under the pinned settings, in the statement's snapshot.
 */
static void
for_each_row(const char *qualname, void (*fn) (const char *rowtext, void *arg), void *arg)
{
	char	   *sql = psprintf("SELECT (r.*)::text FROM ONLY %s AS r", qualname);
	SPIPlanPtr	plan = SPI_prepare(sql, 0, NULL);
	MemoryContext rows_cxt;
	Portal		portal;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	rows_cxt = AllocSetContextCreate(CurrentMemoryContext, "zyzzyva rows",
									 ALLOCSET_DEFAULT_SIZES);

	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		MemoryContext oldcxt;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		oldcxt = MemoryContextSwitchTo(rows_cxt);
		for (uint64 i = 0; i < SPI_processed; i++)
			fn(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1), arg);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rows_cxt);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	MemoryContextDelete(rows_cxt);
}

typedef struct TableAcc
{
	const char *qualname;
	ZzLtHash	lanes;
	int64		rows;
} TableAcc;

static void
add_row_to_table(const char *rowtext, void *arg)
{
	TableAcc   *acc = arg;
	ZzLtHash	h;

	zz_row_hash(&h, acc->qualname, rowtext);
	zz_lthash_add(&acc->lanes, &h);
	acc->rows++;
}

/*
 * zyzzyva.table_digests() returns table (table_name text, row_count bigint,
 *		digest bytea)
 *
 * digest is SHA-256 of the LtHash of the table's rows (its share of the
 * state digest's lanes): equal on two replicas exactly when the table's
 * rows are.  O(database), like verify_digest().
 */
Datum
zyzzyva_table_digests(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *names;
	List	   *oids;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	zz_enter_mode(ZZ_MODE_DIGEST, "zyzzyva.table_digests()");
	SPI_connect();
	oids = replicated_tables(&names);
	foreach(lc, names)
	{
		TableAcc	acc;
		uint8		lanes[ZZ_LTHASH_BYTES];
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		acc.qualname = lfirst(lc);
		acc.rows = 0;
		zz_lthash_zero(&acc.lanes);
		for_each_row(acc.qualname, add_row_to_table, &acc);
		zz_lthash_to_bytes(&acc.lanes, lanes);
		values[0] = CStringGetTextDatum(acc.qualname);
		values[1] = Int64GetDatum(acc.rows);
		values[2] = PointerGetDatum(table_lanes_hash(lanes, sizeof(lanes)));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	list_free(oids);
	SPI_finish();
	zz_leave_mode();
	return (Datum) 0;
}

typedef struct RowHashAcc
{
	Relation	rel;
	const char *qualname;
	ReturnSetInfo *rsinfo;
} RowHashAcc;

static void
put_row_hash(const char *rowtext, void *arg)
{
	RowHashAcc *acc = arg;
	char	   *key = row_key_text(acc->rel, rowtext);
	Datum		values[3];
	bool		nulls[3] = {key == NULL, key == NULL, false};

	if (key != NULL)
	{
		values[0] = CStringGetTextDatum(key);
		values[1] = PointerGetDatum(hash_named_text(zz_key_domain, acc->qualname, key));
	}
	values[2] = PointerGetDatum(hash_named_text(zz_row_domain, acc->qualname, rowtext));
	tuplestore_putvalues(acc->rsinfo->setResult, acc->rsinfo->setDesc, values, nulls);
}

/*
 * zyzzyva.row_hashes(rel regclass) returns table (key text, key_hash bytea,
 *		row_hash bytea)
 *
 * Every row of replicated table rel.  The caller needs SELECT on it.
 */
Datum
zyzzyva_row_hashes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	List	   *names;
	List	   *oids;
	RowHashAcc	acc;

	InitMaterializedSRF(fcinfo, 0);
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(relid)),
				 errdetail("Row hashes say what the rows are: they need the right to read them."),
				 errhint("Grant SELECT on the table to the role that runs zyzzyva-diverge.")));
	zz_enter_mode(ZZ_MODE_DIGEST, "zyzzyva.row_hashes()");
	SPI_connect();
	oids = replicated_tables(&names);
	if (!list_member_oid(oids, relid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table %s is not replicated", get_rel_name(relid))));
	acc.rel = table_open(relid, AccessShareLock);
	acc.qualname = zz_relation_qualname(acc.rel);
	acc.rsinfo = rsinfo;
	for_each_row(acc.qualname, put_row_hash, &acc);
	table_close(acc.rel, AccessShareLock);
	SPI_finish();
	zz_leave_mode();
	return (Datum) 0;
}
