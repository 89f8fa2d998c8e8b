/*-------------------------------------------------------------------------
 *
 * transfer.c
 *	  State transfer: zyzzyva.snapshot() and zyzzyva.install_snapshot().
 *
 * A replica whose missing history was truncated fetches the rows of the
 * replicated tables as of a stable checkpoint from a peer, checks them
 * against the checkpoint's state digest, and installs them.
 *
 * snapshot(seq) computes the rows as of applied batch seq without writing
 * or locking anything beyond what a reader takes: from the current rows and
 * the undo records of every batch above seq, as a multiset,
 *
 *	 current row +1,  each undo after-image -1,  each undo before-image +1,
 *
 * keeping the rows whose count is positive.  Each row version above seq
 * is added once (as the current row, or as the before-image of the change
 * that replaced it) and taken away once (as the after-image of the change
 * that made it), except the version that was current at seq, so the sum
 * telescopes over any number of changes to the same key.  Undo exists for
 * every batch above the stable checkpoint, hence stable_seq <= seq <=
 * last_seq.
 *
 * The bytes (all integers big-endian, text in the server encoding, which
 * must be the same on every replica, as for requests):
 *
 *	 snapshot := "ZZSNAP" version:uint16 (= 2) seq:uint64 ntables:uint32
 *				 table{ntables} history
 *	 table	  := namelen:uint32 name[namelen] nrows:uint64 row{nrows}
 *	 row	  := len:uint32 text[len]
 *
 * history is the schema history up to seq (replicated DDL requests, whose
 * undo this file does not interpret: ddl_transfer.c), run by
 * install_snapshot() before the rows go in, after checking it against the
 * certified digest.  A snapshot of seq is refused (55000) while a DDL
 * request above seq is in the undo: the current rows cannot say what they
 * were under the older schema; the next checkpoint after it can be served.
 *
 * name is the table's quoted, schema-qualified name (never an OID: the
 * bytes move between servers), row text is the row's canonical text
 * (record_out under the pinned settings: what the digest hashes and undo
 * stores).  Tables are in strictly ascending byte order of their names,
 * rows of a table in strictly ascending byte order of their text (the "C"
 * collation's order), and every replicated table appears, empty or not, so
 * equal states give equal bytes on every correct replica.
 *
 * install_snapshot() accepts only bytes in exactly this form: any other
 * order, a duplicate, trailing bytes or text that is not valid in the
 * server encoding is malformed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "reader.h"
#include "zyzzyva.h"
#include "transfer_int.h"

PG_FUNCTION_INFO_V1(zyzzyva_snapshot);
PG_FUNCTION_INFO_V1(zyzzyva_install_snapshot);

#define ZZ_SNAP_MAGIC		"ZZSNAP"
#define ZZ_SNAP_MAGIC_LEN	6
#define ZZ_SNAP_VERSION		2	/* 2: the schema history at the end */


/* One table of a decoded snapshot; names and rows point into the bytes. */
typedef struct ZzSnapTable
{
	const char *name;			/* NUL-terminated copy */
	uint64		nrows;
	char	  **rows;			/* NUL-terminated copies */
} ZzSnapTable;


/*
 * Append a big-endian uint16 / uint64.
 */
static void
put_uint16(StringInfo buf, uint16 v)
{
	char		b[2];

	b[0] = (char) (v >> 8);
	b[1] = (char) v;
	appendBinaryStringInfo(buf, b, 2);
}

static void
put_uint64(StringInfo buf, uint64 v)
{
	zz_put_uint32(buf, (uint32) (v >> 32));
	zz_put_uint32(buf, (uint32) v);
}

/*
 * The replicated tables of this database, in ascending byte order of their
 * quoted qualified names.  The caller is connected to SPI.
 */
ZzLocalTable *
zz_local_tables(int *count)
{
	ZzLocalTable *tables;

	if (SPI_execute("SELECT q, pg_catalog.to_regclass(q)::pg_catalog.oid FROM "
					"(SELECT pg_catalog.quote_ident(schema_name) OPERATOR(pg_catalog.||) '.' "
					"OPERATOR(pg_catalog.||) pg_catalog.quote_ident(table_name) AS q "
					"FROM zyzzyva.table_registry) AS t ORDER BY q COLLATE \"C\"",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read zyzzyva.table_registry");
	*count = (int) SPI_processed;
	tables = palloc(sizeof(ZzLocalTable) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		Datum		d;

		tables[i].qualname = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull);
		tables[i].relid = isnull ? InvalidOid : DatumGetObjectId(d);
	}
	return tables;
}

/*
 * Refuse to go on with a replicated table that no longer exists.
 */
void
zz_require_table(const ZzLocalTable *t)
{
	if (!OidIsValid(t->relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("replicated table %s does not exist", t->qualname),
				 errdetail("It is in zyzzyva.table_registry but was dropped or renamed.")));
}

/*
 * Read last_seq and stable_seq; the caller is connected to SPI.  With lock,
 * lock the state row (zz_enter_mode has already, for writing modes).
 */
void
zz_read_position(int64 *last_seq, int64 *stable_seq)
{
	bool		isnull;

	if (SPI_execute("SELECT last_seq, stable_seq FROM zyzzyva.replica_state WHERE id = 1",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("zyzzyva.replica_state has no state row"),
				 errhint("Recreate the extension: its state was deleted.")));
	*last_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
	*stable_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 2, &isnull));
}

/*
 * A snapshot as of seq cannot be taken when a replicated DDL request above
 * seq changed which tables are replicated: the current rows cannot say
 * what they were.  Needs SPI.
 */
void
zz_refuse_snapshot_behind_ddl(int64 seq)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(seq)};

	if (SPI_execute_with_args("SELECT min(seq) FROM zyzzyva.undo_log "
							  "WHERE seq > $1 AND action IS NOT NULL HAVING count(*) > 0",
							  1, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read zyzzyva.undo_log");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot take a snapshot as of batch " INT64_FORMAT
						": replicated DDL batch %s was applied since",
						seq, SPI_getvalue(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1)),
				 errhint("Take the snapshot at a checkpoint at or after that batch.")));
}

/*
 * The rows of table t as of a batch ($1; $2 is the table's OID): the
 * table's rows, minus the rows the undo log says batches above it added,
 * plus the ones they removed, each with its count, in byte order.  The
 * multiset of the file header.  Needs SPI.
 */
SPIPlanPtr
zz_snapshot_rows_plan(const ZzLocalTable *t)
{
	StringInfoData sql;
	Oid			argtypes[2] = {INT8OID, OIDOID};
	SPIPlanPtr	plan;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT r, sum(c)::bigint FROM ("
					 "SELECT (t.*)::text AS r, 1 AS c FROM ONLY %s AS t "
					 "UNION ALL SELECT u.new_row, -1 FROM zyzzyva.undo_log AS u "
					 "WHERE u.seq > $1 AND u.rel = $2 AND u.new_row IS NOT NULL "
					 "UNION ALL SELECT u.old_row, 1 FROM zyzzyva.undo_log AS u "
					 "WHERE u.seq > $1 AND u.rel = $2 AND u.old_row IS NOT NULL"
					 ") AS m GROUP BY r HAVING sum(c) <> 0 ORDER BY r COLLATE \"C\"",
					 t->qualname);
	plan = SPI_prepare(sql.data, 2, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql.data, SPI_result_code_string(SPI_result));
	pfree(sql.data);
	return plan;
}

/*
 * Append one table of the snapshot as of batch seq to buf.  See the file
 * header for the multiset; a count other than 0 or 1 means the undo does
 * not match the table (a primary key allows a row only once).
 */
static void
snapshot_table(StringInfo buf, const ZzLocalTable *t, int64 seq, ZzLtHash *lanes)
{
	SPIPlanPtr	plan;
	Portal		portal;
	Datum		values[2];
	size_t		namelen = strlen(t->qualname);
	int			count_at;
	uint64		nrows = 0;

	zz_require_table(t);
	zz_put_uint32(buf, (uint32) namelen);
	appendBinaryStringInfo(buf, t->qualname, namelen);
	count_at = buf->len;
	put_uint64(buf, 0);			/* patched below */

	plan = zz_snapshot_rows_plan(t);
	values[0] = Int64GetDatum(seq);
	values[1] = ObjectIdGetDatum(t->relid);
	portal = SPI_cursor_open(NULL, plan, values, NULL, true);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			char	   *row = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
			int64		count = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc,
															2, &isnull));
			size_t		len;

			if (count != 1 || row == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the undo of table %s does not match its rows", t->qualname),
						 errdetail("Row %s counts " INT64_FORMAT " times as of batch " INT64_FORMAT ".",
								   row ? row : "(null)", count, seq)));
			len = strlen(row);
			{
				ZzLtHash	h;

				zz_row_hash(&h, t->qualname, row);
				zz_lthash_add(lanes, &h);
			}
			zz_put_uint32(buf, (uint32) len);
			appendBinaryStringInfo(buf, row, len);
			nrows++;
			pfree(row);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);

	for (int i = 0; i < 8; i++)
		buf->data[count_at + i] = (char) (nrows >> (56 - 8 * i));
}

/*
 * zyzzyva.snapshot(seq bigint) returns bytea
 *
 * The rows of every replicated table as of applied batch seq, in the form
 * the file header describes.  Reads only, with the locks a plain SELECT
 * takes: the apply connection goes on meanwhile.  Every statement reads
 * with the statement's snapshot; the caller runs it in a REPEATABLE READ
 * transaction so that it also matches what else it reads there.
 */
Datum
zyzzyva_snapshot(PG_FUNCTION_ARGS)
{
	int64		seq = PG_GETARG_INT64(0);
	int64		last_seq,
				stable_seq;
	ZzLocalTable *tables;
	int			ntables;
	StringInfoData buf;
	bytea	   *result;
	ZzLtHash	lanes;

	/* outside SPI's memory, which SPI_finish frees */
	initStringInfo(&buf);

	zz_enter_mode(ZZ_MODE_DIGEST, "zyzzyva.snapshot()");
	SPI_connect();
	zz_read_position(&last_seq, &stable_seq);
	if (seq < stable_seq)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot take a snapshot as of batch " INT64_FORMAT
						": the stable checkpoint is batch " INT64_FORMAT,
						seq, stable_seq),
				 errdetail("The undo that leads back to earlier batches was deleted at the stable checkpoint.")));
	if (seq > last_seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot take a snapshot as of batch " INT64_FORMAT
						": the last applied batch is " INT64_FORMAT,
						seq, last_seq)));

	zz_refuse_snapshot_behind_ddl(seq);

	tables = zz_local_tables(&ntables);

	/* the header, with room for the varlena header in front */
	appendStringInfoSpaces(&buf, VARHDRSZ);
	appendBinaryStringInfo(&buf, ZZ_SNAP_MAGIC, ZZ_SNAP_MAGIC_LEN);
	put_uint16(&buf, ZZ_SNAP_VERSION);
	put_uint64(&buf, (uint64) seq);
	zz_put_uint32(&buf, (uint32) ntables);
	zz_lthash_zero(&lanes);
	for (int i = 0; i < ntables; i++)
		snapshot_table(&buf, &tables[i], seq, &lanes);
	/* the schema history up to seq (ddl_transfer.c) */
	zz_ddl_snapshot_history(&buf, seq, &lanes);

	SPI_finish();
	zz_leave_mode();

	result = (bytea *) buf.data;
	SET_VARSIZE(result, buf.len);
	PG_RETURN_BYTEA_P(result);
}

/*
 * Read len:uint32 text[len] into a palloc'd C string, or say why not
 * ("<what> is truncated", ...).  Snapshots' tables and rows, and their
 * schema history (ddl_transfer.c).
 */
char *
zz_read_text(struct ZzReader *r, const char *what, const char **why)
{
	uint64		len;
	const char *p;
	char	   *s;

	if (!rd_uint(r, 4, &len) || !rd_bytes(r, &p, len))
	{
		*why = psprintf("%s is truncated", what);
		return NULL;
	}
	if (memchr(p, '\0', len) != NULL ||
		!pg_verify_mbstr(GetDatabaseEncoding(), p, (int) len, true))
	{
		*why = psprintf("%s is not valid text in the server encoding", what);
		return NULL;
	}
	s = palloc(len + 1);
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

/*
 * Byte order of C strings, shorter first on a common prefix: the order of
 * the "C" collation, in which snapshot() sorts.
 */
static int
byte_order(const char *a, const char *b)
{
	return strcmp(a, b);
}

/*
 * Decode and validate a snapshot (see the file header); false with *why if
 * it is malformed.
 */
static bool
decode_snapshot(const char *data, size_t len, int64 *seq,
				ZzSnapTable **tables_out, int *ntables_out, ZzDdlHistory *history,
				const char **why)
{
	ZzReader	r = {data, len};
	const char *magic;
	uint64		version,
				seqv,
				ntables;
	ZzSnapTable *tables;

	if (!rd_bytes(&r, &magic, ZZ_SNAP_MAGIC_LEN) ||
		memcmp(magic, ZZ_SNAP_MAGIC, ZZ_SNAP_MAGIC_LEN) != 0)
	{
		*why = "it does not start with \"" ZZ_SNAP_MAGIC "\"";
		return false;
	}
	if (!rd_uint(&r, 2, &version))
	{
		*why = "the header is truncated";
		return false;
	}
	if (version != ZZ_SNAP_VERSION)
	{
		*why = psprintf("version %d is not supported (this is version %d)",
						(int) version, ZZ_SNAP_VERSION);
		return false;
	}
	if (!rd_uint(&r, 8, &seqv) || !rd_uint(&r, 4, &ntables))
	{
		*why = "the header is truncated";
		return false;
	}
	if (seqv > (uint64) PG_INT64_MAX)
	{
		*why = "the sequence number is out of range";
		return false;
	}
	/* each table takes at least 12 bytes: do not trust the count further */
	if (ntables > r.left / 12)
	{
		*why = "it is truncated";
		return false;
	}
	tables = palloc0(sizeof(ZzSnapTable) * Max(ntables, 1));
	for (uint64 t = 0; t < ntables; t++)
	{
		ZzSnapTable *tab = &tables[t];

		CHECK_FOR_INTERRUPTS();
		tab->name = zz_read_text(&r, "a table name", why);
		if (tab->name == NULL)
			return false;
		if (t > 0 && byte_order(tables[t - 1].name, tab->name) >= 0)
		{
			*why = psprintf("table %s is out of order or repeated", tab->name);
			return false;
		}
		if (!rd_uint(&r, 8, &tab->nrows) || tab->nrows > r.left / 4)
		{
			*why = psprintf("the rows of table %s are truncated", tab->name);
			return false;
		}
		tab->rows = palloc(sizeof(char *) * Max(tab->nrows, 1));
		for (uint64 i = 0; i < tab->nrows; i++)
		{
			tab->rows[i] = zz_read_text(&r, "a row", why);
			if (tab->rows[i] == NULL)
				return false;
			if (i > 0 && byte_order(tab->rows[i - 1], tab->rows[i]) >= 0)
			{
				*why = psprintf("the rows of table %s are out of order or repeated",
								tab->name);
				return false;
			}
		}
	}
	if (!zz_ddl_snapshot_decode(&r, history, why))
		return false;
	if (r.left != 0)
	{
		*why = psprintf("%zu bytes follow the schema history", r.left);
		return false;
	}
	*seq = (int64) seqv;
	*tables_out = tables;
	*ntables_out = (int) ntables;
	return true;
}

/*
 * Begin installing a snapshot of batch seq, for either form of state
 * transfer: install mode (it locks the state row against appliers until
 * the end of the transaction), SPI, and a refusal below the stable
 * checkpoint, which never moves backwards.
 */
void
zz_install_enter(int64 seq, const char *caller)
{
	int64		last_seq,
				stable_seq;

	zz_enter_mode(ZZ_MODE_INSTALL, caller);
	SPI_connect();
	zz_read_position(&last_seq, &stable_seq);
	if (seq < stable_seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot install a snapshot of batch " INT64_FORMAT
						": batch " INT64_FORMAT " is already a stable checkpoint",
						seq, stable_seq),
				 errdetail("The stable checkpoint never moves backwards.")));
}

/*
 * Delete every row of a replicated table and insert the snapshot's rows,
 * read back with the table's row type input.  In ZZ_MODE_INSTALL the guard
 * lets this through and the capture trigger neither records undo nor
 * touches the digest; session_replication_role = replica keeps user
 * triggers and foreign-key checks quiet, as for undo.
 */
static uint64
replace_rows(const ZzLocalTable *t, const ZzSnapTable *snap)
{
	Relation	rel;
	TupleDesc	desc;
	StringInfoData sql;
	SPIPlanPtr	ins;
	Oid			argtypes[1] = {TEXTOID};

	zz_require_table(t);
	rel = table_open(t->relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);

	initStringInfo(&sql);
	appendStringInfo(&sql, "DELETE FROM ONLY %s", t->qualname);
	if (SPI_execute(sql.data, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete the rows of %s", t->qualname);

	if (snap == NULL || snap->nrows == 0)
	{
		table_close(rel, NoLock);
		return 0;
	}

	resetStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s (", t->qualname);
	zz_append_columns(&sql, desc, NULL);
	appendStringInfoString(&sql, ") OVERRIDING SYSTEM VALUE SELECT ");
	zz_append_columns(&sql, desc, "o");
	appendStringInfo(&sql, " FROM (SELECT ($1::%s).*) AS o", t->qualname);
	table_close(rel, NoLock);

	ins = SPI_prepare(sql.data, 1, argtypes);
	if (ins == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql.data, SPI_result_code_string(SPI_result));
	for (uint64 i = 0; i < snap->nrows; i++)
	{
		Datum		values[1];

		CHECK_FOR_INTERRUPTS();
		values[0] = CStringGetTextDatum(snap->rows[i]);
		if (SPI_execute_plan(ins, values, NULL, false, 0) != SPI_OK_INSERT ||
			SPI_processed != 1)
			elog(ERROR, "could not insert a row into %s", t->qualname);
		pfree(DatumGetPointer(values[0]));
	}
	SPI_freeplan(ins);
	pfree(sql.data);
	return snap->nrows;
}

char *
zz_hex(const uint8 *d, size_t len)
{
	char	   *s = palloc(len * 2 + 1);

	for (size_t i = 0; i < len; i++)
		sprintf(s + 2 * i, "%02x", d[i]);
	return s;
}

/*
 * zyzzyva.install_snapshot(seq bigint, history bytea, state_digest bytea,
 *							snap bytea, proof bytea DEFAULT NULL)
 * returns bigint
 *
 * Replace the rows of every replicated table with those of a snapshot of
 * stable checkpoint seq (whose history digest is history and whose agreed
 * state digest is state_digest, with its proof as mark_stable() takes it),
 * in the caller's transaction, and make seq this replica's last applied
 * batch and stable checkpoint.  Nothing changes unless the snapshot is well
 * formed, names only tables replicated here, and gives exactly
 * state_digest: the digest of its rows and of this database's replicated
 * definitions, as state_digest() would report after installing.  Returns
 * the number of rows installed.
 */
Datum
zyzzyva_install_snapshot(PG_FUNCTION_ARGS)
{
	int64		seq;
	bytea	   *history,
			   *expect,
			   *snap;
	int64		snap_seq;
	ZzSnapTable *stabs;
	int			nstabs;
	ZzLocalTable *ltabs;
	int			nltabs;
	const char *why;
	ZzLtHash	lanes,
				h,
				check;
	uint8		digest[ZZ_SHA256_BYTES];
	uint64		installed = 0;
	int			s;
	Oid			argtypes[4] = {INT8OID, BYTEAOID, BYTEAOID, BYTEAOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	ZzSavedUser saved;
	ZzDdlHistory history_section;
	int			ddl_ran;
	bool		rolled_back;

	for (int i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("seq, history, state_digest and snap must not be null")));
	seq = PG_GETARG_INT64(0);
	history = PG_GETARG_BYTEA_PP(1);
	expect = PG_GETARG_BYTEA_PP(2);
	snap = PG_GETARG_BYTEA_PP(3);
	if (VARSIZE_ANY_EXHDR(history) != ZZ_SHA256_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("history must be a %d-byte SHA-256 digest", ZZ_SHA256_BYTES)));
	if (VARSIZE_ANY_EXHDR(expect) != ZZ_SHA256_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state_digest must be a %d-byte SHA-256 digest (what zyzzyva.state_digest() returns)",
						ZZ_SHA256_BYTES)));

	if (!decode_snapshot(VARDATA_ANY(snap), VARSIZE_ANY_EXHDR(snap),
						 &snap_seq, &stabs, &nstabs, &history_section, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed snapshot: %s", why)));
	if (snap_seq != seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the snapshot is of batch " INT64_FORMAT ", not of batch " INT64_FORMAT,
						snap_seq, seq)));

	/* speculative schema changes not in the snapshot's history go first */
	rolled_back = zz_ddl_install_prepare(&history_section);

	/* locks the state row against appliers until the end of the transaction */
	zz_install_enter(seq, "zyzzyva.install_snapshot()");

	/* first the schema changes this replica lacks (ddl_transfer.c) */
	ddl_ran = zz_ddl_install_history(&history_section, seq, (const uint8 *) VARDATA_ANY(expect));

	/* every table named must be replicated here */
	ltabs = zz_local_tables(&nltabs);
	s = 0;
	for (int i = 0; i < nstabs; i++)
	{
		while (s < nltabs && byte_order(ltabs[s].qualname, stabs[i].name) < 0)
			s++;
		if (s == nltabs || byte_order(ltabs[s].qualname, stabs[i].name) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table %s in the snapshot is not replicated here", stabs[i].name),
					 errhint("Every replica must replicate the same tables; see zyzzyva.replicated_tables.")));
	}

	/* the digest the rows would give, with this database's definitions */
	zz_lthash_zero(&lanes);
	for (int i = 0; i < nstabs; i++)
		for (uint64 r = 0; r < stabs[i].nrows; r++)
		{
			CHECK_FOR_INTERRUPTS();
			zz_row_hash(&h, stabs[i].name, stabs[i].rows[r]);
			zz_lthash_add(&lanes, &h);
		}
	zz_exec.lanes = lanes;
	zz_state_digest(digest);
	if (memcmp(digest, VARDATA_ANY(expect), ZZ_SHA256_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_ZZ_DIGEST_MISMATCH),
				 errmsg("the snapshot of batch " INT64_FORMAT " does not give the expected state digest",
						seq),
				 errdetail("Its rows with this database's replicated definitions give %s, the checkpoint says %s.",
						   zz_hex(digest, ZZ_SHA256_BYTES),
						   zz_hex((const uint8 *) VARDATA_ANY(expect), ZZ_SHA256_BYTES)),
				 errhint("Fetch the snapshot from another replica; if every one differs, compare the replicated definitions (zyzzyva.schema_items).")));

	/* replace the rows of every replicated table, named or not */
	s = 0;
	for (int i = 0; i < nltabs; i++)
	{
		const ZzSnapTable *st = NULL;

		if (s < nstabs && byte_order(stabs[s].name, ltabs[i].qualname) == 0)
			st = &stabs[s++];
		installed += replace_rows(&ltabs[i], st);
	}

	/* the rows as stored must print as the snapshot's rows */
	zz_lthash_zero(&check);
	for (int i = 0; i < nltabs; i++)
		zz_digest_table_rows(ltabs[i].qualname, &check, true);
	if (memcmp(&check, &lanes, sizeof(check)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the installed rows do not read back as the snapshot's rows"),
				 errdetail("A row's text is not the canonical text of the row it reads as.")));
	zz_exec.lanes = lanes;
	zz_exec.lanes_dirty = true;

	/* the new position; the batches and undo of the old one are gone */
	values[0] = Int64GetDatum(seq);
	values[1] = PointerGetDatum(history);
	values[2] = PointerGetDatum(expect);
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		values[3] = PG_GETARG_DATUM(4);
	else
		nulls[3] = 'n';
	zz_as_owner(&saved);
	zz_ddl_purge(-1);
	if (SPI_execute("DELETE FROM zyzzyva.undo_log", false, 0) != SPI_OK_DELETE ||
		SPI_execute("DELETE FROM zyzzyva.batch_log", false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("UPDATE zyzzyva.replica_state SET "
							  "last_seq = $1, stable_seq = $1, "
							  "last_history = $2, stable_history = $2, "
							  "stable_digest = $3, stable_proof = $4, "
							  "max_cc = CASE WHEN max_cc_seq > $1 THEN NULL ELSE max_cc END, "
							  "max_cc_seq = least(max_cc_seq, $1), "
							  "transfers_installed = transfers_installed + 1, "
							  "last_transfer_seq = $1, last_transfer_at = now() "
							  "WHERE id = 1",
							  4, argtypes, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the snapshot of batch " INT64_FORMAT, seq);
	zz_restore_user(&saved);

	SPI_finish();
	if (ddl_ran > 0)
		PopActiveSnapshot();	/* pushed by zz_ddl_install_history */
	if (rolled_back)
		PopActiveSnapshot();	/* pushed by zz_ddl_install_prepare */
	zz_leave_mode();
	PG_RETURN_INT64((int64) installed);
}
