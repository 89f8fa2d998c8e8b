/*-------------------------------------------------------------------------
 *
 * transfer_chunk.c
 *	  Chunked state transfer: a checkpoint's rows served and installed in
 *	  bounded chunks, each checked on arrival (docs/transfer.md).
 *
 * A serving replica reads the rows as of checkpoint seq exactly as
 * snapshot() does (transfer.c: the current rows and the undo above seq as
 * a multiset), in one REPEATABLE READ transaction, once: snapshot_open
 * cuts the chunks, hashes them for the manifest and spools their bytes to
 * a temporary file of the backend's, from which snapshot_chunk hands them
 * out in order.  The rows are read, sorted and hashed once, and what is
 * served is byte for byte what the manifest describes.
 *
 *	 snapshot_open(seq, chunk_bytes) -> manifest
 *	 snapshot_chunk() -> next chunk, NULL after the last
 *
 * A chunk holds rows of one table whose texts add up to at most
 * chunk_bytes (a longer row has a chunk of its own).  The bytes (integers
 * big-endian, as in transfer.c):
 *
 *	 manifest := "ZZMANI" version:uint16 (= 1) seq:uint64 chunk_bytes:uint32
 *				 nchunks:uint32 rows:uint64 bytes:uint64 lanes[2048]
 *				 entry{nchunks} history
 *	 entry	  := nrows:uint32 nbytes:uint32 lanes_sha256[32]
 *	 chunk	  := "ZZCHNK" version:uint16 (= 1) seq:uint64 index:uint32
 *				 namelen:uint32 name nrows:uint32 row{nrows}
 *	 row	  := len:uint32 text[len]
 *
 * lanes is the LtHash of every row (the sum of the chunks'), an entry's
 * lanes_sha256 the SHA-256 of its chunk's LtHash, and history the schema
 * history section of a snapshot (ddl_transfer.c), whose inner digest is
 * computed with lanes.  The state digest is SHA-256 over the lanes and the
 * replicated definitions, with the schema history folded in (digest.c,
 * ddl_transfer.c); it is not additive, but the lanes are, so the installer
 * checks the manifest once, before any row:
 *
 *	 install_open(seq, history, state_digest, manifest)
 *		runs the schema history this replica lacks, checks that the
 *		manifest's lanes with this database's definitions give the
 *		certified state_digest (ZZ001 if not), and empties every
 *		replicated table;
 *	 install_chunk(chunk), once per chunk in order
 *		checks the chunk against its manifest entry (ZZ001 if not: a wrong
 *		chunk is refused as it arrives), inserts its rows and checks that
 *		they read back, as stored, as the chunk's rows (XX001 if not);
 *	 install_close(proof)
 *		checks that every chunk came and that they add up to the
 *		manifest's lanes, then records seq as the last applied batch and
 *		stable checkpoint, as install_snapshot() does.
 *
 * All three run in one transaction of the caller's: nothing is visible
 * until the last, and any refusal rolls everything back.  The state of an
 * open transfer lives in the backend for the transaction only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/buffile.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "reader.h"
#include "zyzzyva.h"
#include "transfer_int.h"

PG_FUNCTION_INFO_V1(zyzzyva_snapshot_open);
PG_FUNCTION_INFO_V1(zyzzyva_snapshot_chunk);
PG_FUNCTION_INFO_V1(zyzzyva_install_open);
PG_FUNCTION_INFO_V1(zyzzyva_install_chunk);
PG_FUNCTION_INFO_V1(zyzzyva_install_close);

#define ZZ_MANI_MAGIC		"ZZMANI"
#define ZZ_CHNK_MAGIC		"ZZCHNK"
#define ZZ_XFER_MAGIC_LEN	6
#define ZZ_XFER_VERSION		1
#define ZZ_ENTRY_LEN		(4 + 4 + ZZ_SHA256_BYTES)
#define ZZ_CURSOR_NAME		"zyzzyva_transfer_rows"
#define ZZ_MIN_CHUNK		1024
#define ZZ_MAX_CHUNK		(64 * 1024 * 1024)

/* The serving side: the rows being cut, then the chunks being served. */
typedef struct ZzServe
{
	LocalTransactionId lxid;	/* the transaction it belongs to */
	MemoryContext cxt;
	int64		seq;
	int32		chunk_bytes;
	ZzLocalTable *tables;
	int			ntables;
	int			table;			/* the table being read, ntables at the end */
	bool		open;			/* its cursor is open */
	char	  **carry;			/* rows read and not yet in a chunk */
	int			ncarry;
	int			carry_at;
	uint32		next;			/* index of the next chunk */
	BufFile    *spool;			/* the chunks' bytes, in order */
	uint32	   *lens;			/* each chunk's length in spool */
	uint32		nchunks;
} ZzServe;

/* The installing side: the manifest and what came so far. */
typedef struct ZzInstall
{
	LocalTransactionId lxid;
	MemoryContext cxt;
	int64		seq;
	uint32		nchunks;
	uint64		rows;
	uint64		bytes;
	ZzLtHash	lanes;			/* the manifest's */
	uint8		history[ZZ_SHA256_BYTES];	/* h_seq */
	uint8		digest[ZZ_SHA256_BYTES];	/* the certified state digest */
	char	   *entries;		/* nchunks entries, as in the manifest */
	uint32		next;
	ZzLtHash	got;			/* sum of the chunks installed */
	char	   *last_table;		/* the table of the previous chunk */
	uint64		rows_done;
	uint64		bytes_done;
} ZzInstall;

/*
 * Static, so that a transfer left open by a transaction that ended is seen
 * as such (its lxid is not ours) without reading freed memory; what they
 * point to lives in the transaction's memory.
 */
static ZzServe serve_st;
static ZzServe *serve = NULL;
static ZzInstall inst_st;
static ZzInstall *inst = NULL;

static void
put_u16(StringInfo buf, uint16 v)
{
	char		b[2] = {(char) (v >> 8), (char) v};

	appendBinaryStringInfo(buf, b, 2);
}

static void
put_u64(StringInfo buf, uint64 v)
{
	zz_put_uint32(buf, (uint32) (v >> 32));
	zz_put_uint32(buf, (uint32) v);
}

static bytea *
finish_bytea(StringInfo buf)
{
	bytea	   *b = (bytea *) buf->data;

	SET_VARSIZE(b, buf->len);
	return b;
}

/* ------------------------------------------------------------------------
 * Serving
 * ------------------------------------------------------------------------ */

/*
 * The open transfer of this transaction, or an error.
 */
static ZzServe *
serve_current(void)
{
	if (serve == NULL || serve->lxid != MyProc->lxid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no chunked snapshot is open in this transaction"),
				 errhint("Call zyzzyva.snapshot_open() first, in the same REPEATABLE READ transaction.")));
	return serve;
}

/*
 * Forget the open transfer; its spool is closed if this transaction still
 * has it (an ended one's resource owner closed it).
 */
static void
serve_reset(void)
{
	if (serve != NULL && serve->lxid == MyProc->lxid)
	{
		if (serve->spool != NULL)
			BufFileClose(serve->spool);
		MemoryContextDelete(serve->cxt);
	}
	serve = NULL;
}

/*
 * A transaction that commits with a snapshot open (its last chunk not
 * asked for) closes the spool itself rather than leave it to the resource
 * owner, which would warn of a leaked file.
 */
static void
serve_xact_callback(XactEvent event, void *arg)
{
	if (serve == NULL)
		return;
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PARALLEL_PRE_COMMIT ||
		event == XACT_EVENT_PRE_PREPARE)
		serve_reset();
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		serve = NULL;			/* the resource owner closes the file */
}

/*
 * Open the cursor over table i's rows as of seq (the multiset of
 * transfer.c's header).  The caller is connected to SPI and in a mode; the
 * cursor outlives both, to the end of the transaction.
 */
static void
serve_open_table(ZzServe *s)
{
	SPIPlanPtr	plan;
	Datum		values[2];
	const ZzLocalTable *t = &s->tables[s->table];

	zz_require_table(t);
	plan = zz_snapshot_rows_plan(t);
	values[0] = Int64GetDatum(s->seq);
	values[1] = ObjectIdGetDatum(t->relid);
	(void) SPI_cursor_open(ZZ_CURSOR_NAME, plan, values, NULL, true);
	SPI_freeplan(plan);
	s->open = true;
}

/*
 * Refill the carried rows from the open cursor; false at the end of the
 * table (the cursor is closed then).
 */
static bool
serve_fetch(ZzServe *s)
{
	Portal		portal = SPI_cursor_find(ZZ_CURSOR_NAME);
	MemoryContext old;

	if (portal == NULL)
		elog(ERROR, "the cursor of a chunked snapshot is gone");
	SPI_cursor_fetch(portal, true, 256);
	if (SPI_processed == 0)
	{
		SPI_cursor_close(portal);
		s->open = false;
		return false;
	}
	old = MemoryContextSwitchTo(s->cxt);
	if (s->carry != NULL)
		pfree(s->carry);
	s->carry = palloc(sizeof(char *) * SPI_processed);
	s->ncarry = 0;
	s->carry_at = 0;
	MemoryContextSwitchTo(old);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		char	   *row = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
		int64		count = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));

		if (count != 1 || row == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the undo of table %s does not match its rows",
							s->tables[s->table].qualname),
					 errdetail("Row %s counts " INT64_FORMAT " times as of batch " INT64_FORMAT ".",
							   row ? row : "(null)", count, s->seq)));
		s->carry[s->ncarry++] = MemoryContextStrdup(s->cxt, row);
		pfree(row);
	}
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/*
 * Cut the next chunk into buf (if not NULL) and hash its rows into h;
 * counts in *nrows, *nbytes.  False after the last chunk.  The caller is
 * connected to SPI and in ZZ_MODE_DIGEST.
 */
static bool
serve_next(ZzServe *s, StringInfo buf, ZzLtHash *h, uint32 *nrows, uint32 *nbytes)
{
	const char *name;
	int			count_at = 0;

	zz_lthash_zero(h);
	*nrows = 0;
	*nbytes = 0;
	/* the next table with a row */
	for (;;)
	{
		if (s->table >= s->ntables)
			return false;
		if (s->carry_at < s->ncarry)
			break;
		if (!s->open)
			serve_open_table(s);
		if (serve_fetch(s))
			break;
		s->table++;
	}
	name = s->tables[s->table].qualname;
	if (buf != NULL)
	{
		appendBinaryStringInfo(buf, ZZ_CHNK_MAGIC, ZZ_XFER_MAGIC_LEN);
		put_u16(buf, ZZ_XFER_VERSION);
		put_u64(buf, (uint64) s->seq);
		zz_put_uint32(buf, s->next);
		zz_put_uint32(buf, (uint32) strlen(name));
		appendBinaryStringInfo(buf, name, strlen(name));
		count_at = buf->len;
		zz_put_uint32(buf, 0);	/* patched below */
	}
	for (;;)
	{
		while (s->carry_at < s->ncarry)
		{
			char	   *row = s->carry[s->carry_at];
			size_t		len = strlen(row);
			ZzLtHash	rh;

			if (*nrows > 0 && (uint64) *nbytes + len > (uint64) s->chunk_bytes)
				goto done;
			CHECK_FOR_INTERRUPTS();
			zz_row_hash(&rh, name, row);
			zz_lthash_add(h, &rh);
			if (buf != NULL)
			{
				zz_put_uint32(buf, (uint32) len);
				appendBinaryStringInfo(buf, row, len);
			}
			(*nrows)++;
			*nbytes += (uint32) len;
			pfree(row);
			s->carry_at++;
		}
		if (!s->open || !serve_fetch(s))
		{
			/* the table ends the chunk */
			s->table++;
			break;
		}
	}
done:
	if (buf != NULL)
		for (int i = 0; i < 4; i++)
			buf->data[count_at + i] = (char) (*nrows >> (24 - 8 * i));
	s->next++;
	return true;
}

/*
 * zyzzyva.snapshot_open(seq bigint, chunk_bytes integer) returns bytea
 *
 * Read the rows as of checkpoint seq once and return the manifest of
 * their chunks; snapshot_chunk() then hands the chunks out, in the same
 * transaction, which must be REPEATABLE READ so that both passes read the
 * same rows.
 */
Datum
zyzzyva_snapshot_open(PG_FUNCTION_ARGS)
{
	int64		seq = PG_GETARG_INT64(0);
	int32		chunk_bytes = PG_GETARG_INT32(1);
	int64		last_seq,
				stable_seq;
	StringInfoData buf,
				entries,
				chunk;
	ZzLtHash	total,
				h;
	uint32		nrows,
				nbytes,
				nchunks = 0;
	uint64		rows = 0,
				bytes = 0;
	MemoryContext old;

	if (!IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("zyzzyva.snapshot_open() must run in a REPEATABLE READ transaction"),
				 errhint("Both passes over the rows must read the same snapshot.")));
	if (chunk_bytes < ZZ_MIN_CHUNK || chunk_bytes > ZZ_MAX_CHUNK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("chunk_bytes must be between %d and %d", ZZ_MIN_CHUNK, ZZ_MAX_CHUNK)));
	serve_reset();
	{
		static bool callback = false;

		if (!callback)
			RegisterXactCallback(serve_xact_callback, NULL);
		callback = true;
	}
	/* outside SPI's memory, which SPI_finish frees */
	initStringInfo(&buf);

	zz_enter_mode(ZZ_MODE_DIGEST, "zyzzyva.snapshot_open()");
	SPI_connect();
	zz_read_position(&last_seq, &stable_seq);
	if (seq < stable_seq || seq > last_seq)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot take a snapshot as of batch " INT64_FORMAT
						": this replica holds batches " INT64_FORMAT " to " INT64_FORMAT,
						seq, stable_seq, last_seq)));
	zz_refuse_snapshot_behind_ddl(seq);

	{
		MemoryContext cxt = AllocSetContextCreate(TopTransactionContext,
												  "zyzzyva chunked snapshot",
												  ALLOCSET_DEFAULT_SIZES);
		ZzLocalTable *tables;
		int			ntables;

		tables = zz_local_tables(&ntables);
		old = MemoryContextSwitchTo(cxt);
		memset(&serve_st, 0, sizeof(serve_st));
		serve = &serve_st;
		serve->cxt = cxt;
		serve->lxid = MyProc->lxid;
		serve->seq = seq;
		serve->chunk_bytes = chunk_bytes;
		serve->ntables = ntables;
		serve->tables = palloc(sizeof(ZzLocalTable) * Max(ntables, 1));
		for (int i = 0; i < ntables; i++)
		{
			serve->tables[i].qualname = pstrdup(tables[i].qualname);
			serve->tables[i].relid = tables[i].relid;
		}
		MemoryContextSwitchTo(old);
	}

	/* the chunks, cut, hashed for the manifest and spooled */
	{
		MemoryContext o = MemoryContextSwitchTo(serve->cxt);
		ResourceOwner owner = CurrentResourceOwner;
		uint32		room = 64;

		/* the file lives to the end of the transaction, not the statement */
		CurrentResourceOwner = TopTransactionResourceOwner;
		serve->spool = BufFileCreateTemp(false);
		CurrentResourceOwner = owner;
		serve->lens = palloc(sizeof(uint32) * room);
		MemoryContextSwitchTo(o);
		initStringInfo(&entries);
		initStringInfo(&chunk);
		zz_lthash_zero(&total);
		while (serve_next(serve, &chunk, &h, &nrows, &nbytes))
		{
			uint8		lanes[ZZ_LTHASH_BYTES];
			uint8		sha[ZZ_SHA256_BYTES];

			zz_lthash_to_bytes(&h, lanes);
			zz_sha256(lanes, sizeof(lanes), sha);
			zz_put_uint32(&entries, nrows);
			zz_put_uint32(&entries, nbytes);
			appendBinaryStringInfo(&entries, (const char *) sha, sizeof(sha));
			zz_lthash_add(&total, &h);
			if (nchunks == room)
			{
				room *= 2;
				serve->lens = repalloc_huge(serve->lens, sizeof(uint32) * (Size) room);
			}
			serve->lens[nchunks++] = (uint32) chunk.len;
			BufFileWrite(serve->spool, chunk.data, chunk.len);
			resetStringInfo(&chunk);
			rows += nrows;
			bytes += nbytes;
		}
		pfree(chunk.data);
		if (BufFileSeek(serve->spool, 0, 0, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not rewind the spool of a chunked snapshot: %m")));
		serve->nchunks = nchunks;
		serve->next = 0;
	}

	appendStringInfoSpaces(&buf, VARHDRSZ);
	appendBinaryStringInfo(&buf, ZZ_MANI_MAGIC, ZZ_XFER_MAGIC_LEN);
	put_u16(&buf, ZZ_XFER_VERSION);
	put_u64(&buf, (uint64) seq);
	zz_put_uint32(&buf, (uint32) chunk_bytes);
	zz_put_uint32(&buf, nchunks);
	put_u64(&buf, rows);
	put_u64(&buf, bytes);
	{
		uint8		lanes[ZZ_LTHASH_BYTES];

		zz_lthash_to_bytes(&total, lanes);
		appendBinaryStringInfo(&buf, (const char *) lanes, sizeof(lanes));
	}
	appendBinaryStringInfo(&buf, entries.data, entries.len);
	zz_ddl_snapshot_history(&buf, seq, &total);

	SPI_finish();
	zz_leave_mode();
	PG_RETURN_BYTEA_P(finish_bytea(&buf));
}

/*
 * zyzzyva.snapshot_chunk() returns bytea
 *
 * The next chunk of the snapshot snapshot_open() opened in this
 * transaction; NULL after the last.
 */
Datum
zyzzyva_snapshot_chunk(PG_FUNCTION_ARGS)
{
	ZzServe    *s = serve_current();
	uint32		len;
	bytea	   *out;

	if (s->next >= s->nchunks)
	{
		if (s->spool != NULL)
		{
			BufFileClose(s->spool);
			s->spool = NULL;
		}
		PG_RETURN_NULL();
	}
	len = s->lens[s->next];
	out = palloc(VARHDRSZ + (Size) len);
	SET_VARSIZE(out, VARHDRSZ + len);
	if (BufFileRead(s->spool, VARDATA(out), len) != len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read chunk %u of a chunked snapshot from its spool: %m", s->next)));
	s->next++;
	PG_RETURN_BYTEA_P(out);
}

/* ------------------------------------------------------------------------
 * Installing
 * ------------------------------------------------------------------------ */

static ZzInstall *
install_current(void)
{
	if (inst == NULL || inst->lxid != MyProc->lxid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no chunked install is open in this transaction"),
				 errhint("Call zyzzyva.install_open() first, in the same transaction.")));
	return inst;
}

static void
refuse_manifest(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("malformed manifest: %s", why)));
}

/*
 * zyzzyva.install_open(seq bigint, history bytea, state_digest bytea,
 *						manifest bytea) returns bigint
 *
 * Begin installing checkpoint seq from chunks: check the manifest against
 * the certified digest (after the schema history this replica lacks has
 * run) and empty the replicated tables.  Returns the number of chunks to
 * come.
 */
Datum
zyzzyva_install_open(PG_FUNCTION_ARGS)
{
	int64		seq;
	bytea	   *history,
			   *expect,
			   *mani;
	ZzReader	r;
	const char *p;
	uint64		version,
				seqv,
				chunk_bytes,
				nchunks,
				rows,
				bytes;
	const char *lanes_bytes;
	const char *entries;
	ZzDdlHistory hist;
	const char *why;
	bool		rolled_back;
	int			ddl_ran;
	ZzLocalTable *ltabs;
	int			nltabs;
	uint8		digest[ZZ_SHA256_BYTES];
	ZzLtHash	lanes;
	MemoryContext cxt,
				old;

	for (int i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("seq, history, state_digest and manifest must not be null")));
	seq = PG_GETARG_INT64(0);
	history = PG_GETARG_BYTEA_PP(1);
	expect = PG_GETARG_BYTEA_PP(2);
	mani = PG_GETARG_BYTEA_PP(3);
	if (VARSIZE_ANY_EXHDR(history) != ZZ_SHA256_BYTES ||
		VARSIZE_ANY_EXHDR(expect) != ZZ_SHA256_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("history and state_digest must be %d-byte SHA-256 digests",
						ZZ_SHA256_BYTES)));

	r.p = VARDATA_ANY(mani);
	r.left = VARSIZE_ANY_EXHDR(mani);
	if (!rd_bytes(&r, &p, ZZ_XFER_MAGIC_LEN) || memcmp(p, ZZ_MANI_MAGIC, ZZ_XFER_MAGIC_LEN) != 0)
		refuse_manifest("it does not start with \"" ZZ_MANI_MAGIC "\"");
	if (!rd_uint(&r, 2, &version) || !rd_uint(&r, 8, &seqv) || !rd_uint(&r, 4, &chunk_bytes) ||
		!rd_uint(&r, 4, &nchunks) || !rd_uint(&r, 8, &rows) || !rd_uint(&r, 8, &bytes) ||
		!rd_bytes(&r, &lanes_bytes, ZZ_LTHASH_BYTES))
		refuse_manifest("the header is truncated");
	if (version != ZZ_XFER_VERSION)
		refuse_manifest(psprintf("version %d is not supported (this is version %d)",
								 (int) version, ZZ_XFER_VERSION));
	if (seqv != (uint64) seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the manifest is of batch " UINT64_FORMAT ", not of batch " INT64_FORMAT,
						seqv, seq)));
	if (nchunks > r.left / ZZ_ENTRY_LEN || !rd_bytes(&r, &entries, nchunks * ZZ_ENTRY_LEN))
		refuse_manifest("its entries are truncated");
	if (!zz_ddl_snapshot_decode(&r, &hist, &why))
		refuse_manifest(why);
	if (r.left != 0)
		refuse_manifest(psprintf("%zu bytes follow the schema history", r.left));
	zz_lthash_from_bytes(&lanes, (const uint8 *) lanes_bytes);

	/* as install_snapshot(): speculative schema changes go first */
	rolled_back = zz_ddl_install_prepare(&hist);
	zz_install_enter(seq, "zyzzyva.install_open()");
	ddl_ran = zz_ddl_install_history(&hist, seq, (const uint8 *) VARDATA_ANY(expect));

	/* the manifest's rows with this database's definitions */
	zz_exec.lanes = lanes;
	zz_state_digest(digest);
	if (memcmp(digest, VARDATA_ANY(expect), ZZ_SHA256_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_ZZ_DIGEST_MISMATCH),
				 errmsg("the manifest of batch " INT64_FORMAT " does not give the expected state digest",
						seq),
				 errdetail("Its rows with this database's replicated definitions give %s, the checkpoint says %s.",
						   zz_hex(digest, ZZ_SHA256_BYTES),
						   zz_hex((const uint8 *) VARDATA_ANY(expect), ZZ_SHA256_BYTES)),
				 errhint("Fetch the snapshot from another replica; if every one differs, compare the replicated definitions (zyzzyva.schema_items).")));

	/* every replicated table starts empty; the chunks fill them */
	ltabs = zz_local_tables(&nltabs);
	for (int i = 0; i < nltabs; i++)
	{
		zz_require_table(&ltabs[i]);
		if (SPI_execute(psprintf("DELETE FROM ONLY %s", ltabs[i].qualname), false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete the rows of %s", ltabs[i].qualname);
	}
	zz_lthash_zero(&zz_exec.lanes);
	zz_exec.lanes_dirty = true;
	SPI_finish();
	if (ddl_ran > 0)
		PopActiveSnapshot();
	if (rolled_back)
		PopActiveSnapshot();
	zz_leave_mode();

	cxt = AllocSetContextCreate(TopTransactionContext, "zyzzyva chunked install",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	memset(&inst_st, 0, sizeof(inst_st));
	inst = &inst_st;
	inst->cxt = cxt;
	inst->lxid = MyProc->lxid;
	inst->seq = seq;
	inst->nchunks = (uint32) nchunks;
	inst->rows = rows;
	inst->bytes = bytes;
	inst->lanes = lanes;
	memcpy(inst->history, VARDATA_ANY(history), ZZ_SHA256_BYTES);
	memcpy(inst->digest, VARDATA_ANY(expect), ZZ_SHA256_BYTES);
	inst->entries = palloc(nchunks * ZZ_ENTRY_LEN + 1);
	memcpy(inst->entries, entries, nchunks * ZZ_ENTRY_LEN);
	zz_lthash_zero(&inst->got);
	MemoryContextSwitchTo(old);
	PG_RETURN_INT64((int64) nchunks);
}

static uint32
entry_u32(const char *e)
{
	const unsigned char *u = (const unsigned char *) e;

	return ((uint32) u[0] << 24) | ((uint32) u[1] << 16) | ((uint32) u[2] << 8) | u[3];
}

static void
refuse_chunk(uint32 index, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_ZZ_DIGEST_MISMATCH),
			 errmsg("chunk %u of the snapshot does not match its manifest: %s", index, why),
			 errhint("Fetch the snapshot from another replica.")));
}

/*
 * zyzzyva.install_chunk(chunk bytea) returns bigint
 *
 * Check the next chunk against its manifest entry and insert its rows;
 * returns how many.
 */
Datum
zyzzyva_install_chunk(PG_FUNCTION_ARGS)
{
	ZzInstall  *in = install_current();
	bytea	   *chunk = PG_GETARG_BYTEA_PP(0);
	ZzReader	r;
	const char *p;
	uint64		version,
				seqv,
				index,
				nrows;
	char	   *name;
	const char *why;
	const char *entry;
	char	  **rows;
	uint64		nbytes = 0;
	ZzLtHash	h,
				rh;
	uint8		lanes[ZZ_LTHASH_BYTES];
	uint8		sha[ZZ_SHA256_BYTES];
	ZzLocalTable *ltabs;
	int			nltabs,
				t;

	r.p = VARDATA_ANY(chunk);
	r.left = VARSIZE_ANY_EXHDR(chunk);
	if (!rd_bytes(&r, &p, ZZ_XFER_MAGIC_LEN) || memcmp(p, ZZ_CHNK_MAGIC, ZZ_XFER_MAGIC_LEN) != 0 ||
		!rd_uint(&r, 2, &version) || version != ZZ_XFER_VERSION ||
		!rd_uint(&r, 8, &seqv) || !rd_uint(&r, 4, &index))
		refuse_chunk(in->next, "its header is malformed");
	if (seqv != (uint64) in->seq || index != in->next)
		refuse_chunk(in->next, psprintf("it is chunk " UINT64_FORMAT " of batch " UINT64_FORMAT,
										index, seqv));
	if (in->next >= in->nchunks)
		refuse_chunk(in->next, "the manifest has no more chunks");
	entry = in->entries + (size_t) in->next * ZZ_ENTRY_LEN;
	name = zz_read_text(&r, "the table name", &why);
	if (name == NULL)
		refuse_chunk(in->next, why);
	if (in->last_table != NULL && strcmp(in->last_table, name) > 0)
		refuse_chunk(in->next, "its table is out of order");
	if (!rd_uint(&r, 4, &nrows) || nrows != entry_u32(entry) || nrows > r.left / 4 || nrows == 0)
		refuse_chunk(in->next, "its row count differs");
	rows = palloc(sizeof(char *) * nrows);
	zz_lthash_zero(&h);
	for (uint64 i = 0; i < nrows; i++)
	{
		CHECK_FOR_INTERRUPTS();
		rows[i] = zz_read_text(&r, "a row", &why);
		if (rows[i] == NULL)
			refuse_chunk(in->next, why);
		if (i > 0 && strcmp(rows[i - 1], rows[i]) >= 0)
			refuse_chunk(in->next, "its rows are out of order or repeated");
		nbytes += strlen(rows[i]);
		zz_row_hash(&rh, name, rows[i]);
		zz_lthash_add(&h, &rh);
	}
	if (r.left != 0)
		refuse_chunk(in->next, "bytes follow its rows");
	zz_lthash_to_bytes(&h, lanes);
	zz_sha256(lanes, sizeof(lanes), sha);
	if (nbytes != entry_u32(entry + 4) || memcmp(sha, entry + 8, ZZ_SHA256_BYTES) != 0)
		refuse_chunk(in->next, "its rows hash differently");

	/* the rows go in, one statement per chunk */
	zz_enter_mode(ZZ_MODE_INSTALL, "zyzzyva.install_chunk()");
	SPI_connect();
	ltabs = zz_local_tables(&nltabs);
	for (t = 0; t < nltabs; t++)
		if (strcmp(ltabs[t].qualname, name) == 0)
			break;
	if (t == nltabs)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s in the snapshot is not replicated here", name),
				 errhint("Every replica must replicate the same tables; see zyzzyva.replicated_tables.")));
	zz_require_table(&ltabs[t]);
	{
		Relation	rel = table_open(ltabs[t].relid, RowExclusiveLock);
		StringInfoData sql;
		Datum	   *elems = palloc(sizeof(Datum) * nrows);
		ArrayType  *arr;
		Oid			argtypes[1] = {TEXTARRAYOID};
		Datum		values[1];

		ZzLtHash	stored;

		/*
		 * The rows as stored come back in their canonical text, the text
		 * the digest reads (digest.c): they must hash as the chunk did.  A
		 * type whose input does not give back its output would otherwise
		 * install a state other than the certified one.  This is the
		 * read-back of the whole table install_snapshot() does, done on
		 * the rows as they go in.
		 */
		initStringInfo(&sql);
		appendStringInfo(&sql, "INSERT INTO %s AS zz_stored (", name);
		zz_append_columns(&sql, RelationGetDescr(rel), NULL);
		appendStringInfoString(&sql, ") OVERRIDING SYSTEM VALUE SELECT ");
		zz_append_columns(&sql, RelationGetDescr(rel), "o");
		appendStringInfo(&sql, " FROM (SELECT (x).* FROM (SELECT u::%s AS x FROM "
						 "pg_catalog.unnest($1) AS u OFFSET 0) AS s) AS o "
						 "RETURNING (zz_stored.*)::text", name);
		table_close(rel, NoLock);
		for (uint64 i = 0; i < nrows; i++)
			elems[i] = CStringGetTextDatum(rows[i]);
		arr = construct_array(elems, (int) nrows, TEXTOID, -1, false, TYPALIGN_INT);
		values[0] = PointerGetDatum(arr);
		if (SPI_execute_with_args(sql.data, 1, argtypes, values, NULL, false, 0) !=
			SPI_OK_INSERT_RETURNING || SPI_processed != nrows)
			elog(ERROR, "could not insert the rows of chunk %u into %s", in->next, name);
		zz_lthash_zero(&stored);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *text = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

			if (text == NULL)
				elog(ERROR, "a row of chunk %u read back as null", in->next);
			zz_row_hash(&rh, name, text);
			zz_lthash_add(&stored, &rh);
			pfree(text);
		}
		if (memcmp(&stored, &h, sizeof(stored)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the installed rows of chunk %u do not read back as the snapshot's rows",
							in->next),
					 errdetail("A row's text in table %s is not the canonical text of the row it reads as.",
							   name)));
	}
	SPI_finish();
	zz_leave_mode();

	zz_lthash_add(&in->got, &h);
	if (in->last_table == NULL || strcmp(in->last_table, name) != 0)
		in->last_table = MemoryContextStrdup(in->cxt, name);
	in->next++;
	in->rows_done += nrows;
	in->bytes_done += nbytes;
	PG_RETURN_INT64((int64) nrows);
}

/*
 * zyzzyva.install_close(proof bytea DEFAULT NULL) returns bigint
 *
 * Finish the chunked install: every chunk came, the rows as stored read
 * back as the manifest's lanes; record the new position as
 * install_snapshot() does.  Returns the number of rows installed.
 */
Datum
zyzzyva_install_close(PG_FUNCTION_ARGS)
{
	ZzInstall  *in = install_current();
	Datum		values[1];
	char		nulls[1] = {' '};
	ZzSavedUser saved;
	int64		rows = (int64) in->rows_done;

	if (in->next != in->nchunks)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%u of the snapshot's %u chunks were installed", in->next, in->nchunks)));
	if (memcmp(&in->got, &in->lanes, sizeof(ZzLtHash)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_ZZ_DIGEST_MISMATCH),
				 errmsg("the chunks of the snapshot of batch " INT64_FORMAT " do not add up to its manifest",
						in->seq)));
	/* (install_chunk read every chunk's rows back as they were stored) */
	zz_enter_mode(ZZ_MODE_INSTALL, "zyzzyva.install_close()");
	SPI_connect();
	zz_exec.lanes = in->lanes;
	zz_exec.lanes_dirty = true;

	values[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	if (PG_ARGISNULL(0))
		nulls[0] = 'n';
	zz_as_owner(&saved);
	zz_ddl_purge(-1);
	if (SPI_execute("DELETE FROM zyzzyva.undo_log", false, 0) != SPI_OK_DELETE ||
		SPI_execute("DELETE FROM zyzzyva.batch_log", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not clear the logs");
	{
		Oid			types[4] = {INT8OID, BYTEAOID, BYTEAOID, BYTEAOID};
		bytea	   *hist = palloc(VARHDRSZ + ZZ_SHA256_BYTES);
		bytea	   *dig = palloc(VARHDRSZ + ZZ_SHA256_BYTES);
		Datum		vals[4];
		char		nls[4] = {' ', ' ', ' ', nulls[0]};

		SET_VARSIZE(hist, VARHDRSZ + ZZ_SHA256_BYTES);
		memcpy(VARDATA(hist), in->history, ZZ_SHA256_BYTES);
		SET_VARSIZE(dig, VARHDRSZ + ZZ_SHA256_BYTES);
		memcpy(VARDATA(dig), in->digest, ZZ_SHA256_BYTES);
		vals[0] = Int64GetDatum(in->seq);
		vals[1] = PointerGetDatum(hist);
		vals[2] = PointerGetDatum(dig);
		vals[3] = values[0];
		if (SPI_execute_with_args("UPDATE zyzzyva.replica_state SET "
								  "last_seq = $1, stable_seq = $1, "
								  "last_history = $2, stable_history = $2, "
								  "stable_digest = $3, stable_proof = $4, "
								  "max_cc = CASE WHEN max_cc_seq > $1 THEN NULL ELSE max_cc END, "
								  "max_cc_seq = least(max_cc_seq, $1), "
								  "transfers_installed = transfers_installed + 1, "
								  "last_transfer_seq = $1, last_transfer_at = now() "
								  "WHERE id = 1",
								  4, types, vals, nls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record the snapshot of batch " INT64_FORMAT, in->seq);
	}
	zz_restore_user(&saved);
	SPI_finish();
	zz_leave_mode();
	MemoryContextDelete(in->cxt);
	inst = NULL;
	PG_RETURN_INT64(rows);
}
