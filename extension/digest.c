/*-------------------------------------------------------------------------
 *
 * digest.c
 *	  The state digest: an LtHash of every row of every replicated table,
 *	  kept up to date incrementally, and a hash of the replicated schema.
 *
 * Each row is hashed as
 *
 *	 "zyzzyva-row-v1" NUL  qualified-table-name  NUL  row-text
 *
 * where row-text is the row printed by record_out under the pinned settings
 * (the canonical text of each column, in column order, quoted as a row
 * literal).  The capture trigger adds the hash of each new row version and
 * subtracts the hash of each old one, so the lanes always equal the hash of
 * the multiset of rows, at a cost per change rather than per database.
 *
 * state_digest() is SHA-256 over the lanes and over the definitions of the
 * replicated functions and tables (the view zyzzyva.schema_items), so two
 * replicas whose function bodies differ disagree at the next checkpoint
 * even if their rows agree.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/htup_details.h"
#include "access/transam.h"
#include "storage/itemptr.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_state_digest);
PG_FUNCTION_INFO_V1(zyzzyva_verify_digest);

static const char zz_row_domain[] = "zyzzyva-row-v1";
static const char zz_state_domain[] = "zyzzyva-state-v1";

static SPIPlanPtr lanes_load_plan = NULL;
static SPIPlanPtr lanes_lock_plan = NULL;
static SPIPlanPtr lanes_store_plan = NULL;

/* record_out, with its per-rowtype cache, kept per row type */
typedef struct ZzRowOut
{
	Oid			rowtype;		/* hash key */
	FmgrInfo	finfo;
} ZzRowOut;

static HTAB *zz_row_out = NULL;

/*
 * Prepare a statement once per backend and keep it in *slot.  The plan
 * cache revalidates it after DDL, so it survives the extension's tables
 * being recreated.
 */
SPIPlanPtr
zz_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*slot = plan;
	}
	return *slot;
}

/*
 * The lanes as stored in one version of the state row, identified by its
 * ctid and xmin, so that a backend that applies batch after batch does not
 * read back the 2 KB it wrote itself.  Any other write of the row (another
 * session's, a rollback_to(), install_snapshot(), a stable checkpoint,
 * set_condition()) makes a new version with another ctid or xmin, and the
 * lanes are read again; so does the abort of the transaction that wrote
 * the remembered version, which is then never visible.  Two versions with
 * the same ctid and xmin would need the same (sub)transaction to write the
 * row twice at one place, which it cannot while the first is alive.  A
 * frozen xmin reads as FrozenTransactionId and is never remembered.
 */
static struct
{
	bool		valid;
	ItemPointerData ctid;
	TransactionId xmin;
	ZzLtHash	lanes;
} lanes_cache;

/*
 * Whether the last zz_lanes_load found the state row as this backend last
 * stored or read it: no other backend wrote replicated state in between
 * (every writer changes the row in the same transaction).
 */
bool		zz_lanes_unchanged = false;

/*
 * Remember the lanes of zz_exec as those of the state row version (ctid,
 * xmin) in columns 1 and 2 of the first row of SPI_tuptable.
 */
static void
lanes_remember(void)
{
	bool		isnull1,
				isnull2;
	Datum		ctid,
				xmin;

	lanes_cache.valid = false;
	if (SPI_tuptable == NULL || SPI_processed != 1)
		return;
	ctid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull1);
	xmin = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull2);
	if (isnull1 || isnull2 || !TransactionIdIsNormal(DatumGetTransactionId(xmin)))
		return;
	ItemPointerCopy((ItemPointer) DatumGetPointer(ctid), &lanes_cache.ctid);
	lanes_cache.xmin = DatumGetTransactionId(xmin);
	lanes_cache.lanes = zz_exec.lanes;
	lanes_cache.valid = true;
}

/*
 * The caller just stored the lanes of zz_exec in the state row with an
 * UPDATE ... RETURNING ctid, xmin (its result is SPI_tuptable).
 */
void
zz_lanes_stored(void)
{
	lanes_remember();
}

/*
 * Load the lanes from zyzzyva.replica_state.  With lock, take the row lock
 * that serializes every writer of replicated state (appliers, rollbacks,
 * registrations), held to the end of the transaction.  The lanes column is
 * read only if the row is not the version remembered in lanes_cache.
 */
void
zz_lanes_load(bool lock)
{
	SPIPlanPtr	plan;
	Oid			argtypes[2] = {TIDOID, XIDOID};
	Datum		values[2];
	char		nulls[2] = {'n', 'n'};
	bool		isnull;
	Datum		d;
	ZzSavedUser saved;

	if (lanes_cache.valid)
	{
		values[0] = PointerGetDatum(&lanes_cache.ctid);
		values[1] = TransactionIdGetDatum(lanes_cache.xmin);
		nulls[0] = nulls[1] = ' ';
	}

	zz_as_owner(&saved);
	SPI_connect();
	if (lock)
		plan = zz_keep_plan(&lanes_lock_plan,
							"SELECT ctid, xmin, CASE WHEN ctid = $1 AND xmin = $2 THEN NULL ELSE lanes END "
							"FROM zyzzyva.replica_state WHERE id = 1 FOR UPDATE",
							2, argtypes);
	else
		plan = zz_keep_plan(&lanes_load_plan,
							"SELECT ctid, xmin, CASE WHEN ctid = $1 AND xmin = $2 THEN NULL ELSE lanes END "
							"FROM zyzzyva.replica_state WHERE id = 1",
							2, argtypes);
	if (SPI_execute_plan(plan, values, nulls, !lock, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("zyzzyva.replica_state has no state row"),
				 errhint("Recreate the extension: its state was deleted.")));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	zz_lanes_unchanged = isnull && lanes_cache.valid;
	if (isnull && lanes_cache.valid)
		zz_exec.lanes = lanes_cache.lanes;	/* the version we remember */
	else
	{
		bytea	   *b = isnull ? NULL : DatumGetByteaPP(d);

		if (b == NULL || VARSIZE_ANY_EXHDR(b) != ZZ_LTHASH_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("zyzzyva.replica_state.lanes must be %d bytes", ZZ_LTHASH_BYTES)));
		zz_lthash_from_bytes(&zz_exec.lanes, (const uint8 *) VARDATA_ANY(b));
		lanes_remember();
	}
#ifdef ZZ_CHECK_LANES_CACHE
	if (isnull)
	{
		bytea	   *b;

		if (SPI_execute("SELECT lanes FROM zyzzyva.replica_state WHERE id = 1",
						true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not check the lanes");
		b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
		{
			ZzLtHash	stored;

			zz_lthash_from_bytes(&stored, (const uint8 *) VARDATA_ANY(b));
			if (memcmp(&stored, &zz_exec.lanes, sizeof(stored)) != 0)
				elog(ERROR, "remembered digest lanes differ from the stored ones");
			elog(LOG, "zyzzyva: remembered lanes checked");
		}
	}
#endif
	zz_exec.lanes_dirty = false;
	SPI_finish();
	zz_restore_user(&saved);
}

/*
 * The lanes as a bytea, for storing.
 */
bytea *
zz_lanes_bytea(void)
{
	bytea	   *b = palloc(VARHDRSZ + ZZ_LTHASH_BYTES);

	SET_VARSIZE(b, VARHDRSZ + ZZ_LTHASH_BYTES);
	zz_lthash_to_bytes(&zz_exec.lanes, (uint8 *) VARDATA(b));
	return b;
}

/*
 * Store the lanes in zyzzyva.replica_state, in the current transaction.
 */
void
zz_lanes_store(void)
{
	Oid			argtypes[1] = {BYTEAOID};
	Datum		values[1];
	ZzSavedUser saved;

	values[0] = PointerGetDatum(zz_lanes_bytea());
	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_plan(zz_keep_plan(&lanes_store_plan,
									  "UPDATE zyzzyva.replica_state SET lanes = $1 WHERE id = 1 "
									  "RETURNING ctid, xmin",
									  1, argtypes),
						 values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not store the digest lanes");
	zz_lanes_stored();
	SPI_finish();
	zz_restore_user(&saved);
	zz_exec.lanes_dirty = false;
}

/*
 * The schema-qualified, quoted name of a relation: its identity in the
 * digest.  Names, never OIDs, since OIDs differ between replicas.
 */
char *
zz_relation_qualname(Relation rel)
{
	return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									  RelationGetRelationName(rel));
}

/*
 * The canonical text of a row of rel: what record_out prints for it.  The
 * caller must have pinned the settings (a mode is active).
 */
char *
zz_row_text(Relation rel, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	ZzRowOut   *entry;
	bool		found;
	Datum		row;

	if (zz_row_out == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ZzRowOut);
		zz_row_out = hash_create("zyzzyva row output", 16, &ctl,
								 HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(zz_row_out, &desc->tdtypeid, HASH_ENTER, &found);
	if (!found)
		fmgr_info_cxt(F_RECORD_OUT, &entry->finfo, TopMemoryContext);

	row = heap_copy_tuple_as_datum(tuple, desc);
	return OutputFunctionCall(&entry->finfo, row);
}

/*
 * Hash one row of the table named qualname into an LtHash element.
 */
void
zz_row_hash(ZzLtHash *out, const char *qualname, const char *rowtext)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, zz_row_domain, sizeof(zz_row_domain));
	appendBinaryStringInfo(&buf, qualname, strlen(qualname) + 1);
	appendStringInfoString(&buf, rowtext);
	if (!zz_lthash_of(out, buf.data, buf.len))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not hash a row: OpenSSL failed")));
	pfree(buf.data);
}

/*
 * Add the hash of every row of the table named qualname to acc.  Used when
 * a table becomes replicated with rows in it, to check the incremental
 * lanes against a full recomputation, and to check installed rows.  The
 * table is read with the statement's snapshot, the one the lanes were
 * loaded with, unless own_writes: then with a new one that sees what this
 * transaction wrote since.
 */
void
zz_digest_table_rows(const char *qualname, ZzLtHash *acc, bool own_writes)
{
	StringInfoData sql;
	Portal		portal;
	SPIPlanPtr	plan;
	ZzLtHash	h;

	Assert(zz_exec.mode != ZZ_MODE_NONE);
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT (r.*)::text FROM ONLY %s AS r", qualname);

	SPI_connect();
	plan = SPI_prepare(sql.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql.data, SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, !own_writes);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *text = SPI_getvalue(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 1);

			zz_row_hash(&h, qualname, text);
			zz_lthash_add(acc, &h);
			pfree(text);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
}

/*
 * The state digest: the inner digest below, with the schema history of
 * replicated DDL folded in once there is one (ddl_transfer.c).
 */
void
zz_state_digest(uint8 out[ZZ_SHA256_BYTES])
{
	zz_state_digest_inner(out);
	zz_ddl_fold_history(out);
}

/*
 * SHA-256 over the lanes and over every item of zyzzyva.schema_items in a
 * fixed (byte-wise) order.  The caller must be in a mode, so that the
 * definitions print under the pinned settings.
 */
void
zz_state_digest_inner(uint8 out[ZZ_SHA256_BYTES])
{
	uint8		lanes[ZZ_LTHASH_BYTES];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int outlen;
	bool		ok;
	ZzSavedUser saved;

	Assert(zz_exec.mode != ZZ_MODE_NONE);
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not compute the state digest: OpenSSL failed")));
	zz_lthash_to_bytes(&zz_exec.lanes, lanes);
	ok = EVP_DigestUpdate(ctx, zz_state_domain, sizeof(zz_state_domain)) == 1 &&
		EVP_DigestUpdate(ctx, lanes, sizeof(lanes)) == 1;

	zz_as_owner(&saved);
	SPI_connect();
	/* the replicated sequences' parameters too (sequence.c) */
	/*
	 * zyzzyva.sequence_state is left out of the schema part: its definition
	 * is the extension's own, and a database updated from 0.1 (which lacks
	 * it) must keep its digest while its peers are updated one at a time.
	 * Its rows are in the lanes like every replicated table's.
	 */
	if (SPI_execute(zz_extension_has("sequence_items", NULL) ?
					"SELECT kind, identity, definition FROM ("
					"SELECT kind, identity, definition FROM zyzzyva.schema_items "
					"WHERE identity OPERATOR(pg_catalog.<>) 'zyzzyva.sequence_state' "
					"UNION ALL SELECT kind, identity, definition FROM zyzzyva.sequence_items) AS i "
					"ORDER BY kind COLLATE \"C\", identity COLLATE \"C\"" :
					/* version 0.1: no sequence_items, no replicated sequence */
					"SELECT kind, identity, definition FROM zyzzyva.schema_items "
					"ORDER BY kind COLLATE \"C\", identity COLLATE \"C\"",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read zyzzyva.schema_items");
	for (uint64 i = 0; ok && i < SPI_processed; i++)
	{
		for (int col = 1; ok && col <= 3; col++)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[i],
										 SPI_tuptable->tupdesc, col);

			if (v == NULL)
				v = "";
			ok = EVP_DigestUpdate(ctx, v, strlen(v) + 1) == 1;
		}
	}
	SPI_finish();
	zz_restore_user(&saved);

	ok = ok && EVP_DigestFinal_ex(ctx, out, &outlen) == 1 && outlen == ZZ_SHA256_BYTES;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not compute the state digest: OpenSSL failed")));
}

/*
 * SHA-256 of a byte string.
 */
void
zz_sha256(const void *data, size_t len, uint8 out[ZZ_SHA256_BYTES])
{
	unsigned int outlen;

	if (EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not compute SHA-256: OpenSSL failed")));
}

/*
 * zyzzyva.state_digest() returns bytea
 *
 * The digest a CHECKPOINT carries: equal on two replicas exactly when their
 * replicated rows and replicated schema are (up to SHA-256 and LtHash).
 */
Datum
zyzzyva_state_digest(PG_FUNCTION_ARGS)
{
	uint8		d[ZZ_SHA256_BYTES];
	bool		own_mode = zz_exec.mode == ZZ_MODE_NONE;

	if (own_mode)
		zz_enter_mode(ZZ_MODE_DIGEST, "zyzzyva.state_digest()");
	zz_state_digest(d);
	if (own_mode)
		zz_leave_mode();
	PG_RETURN_BYTEA_P(cstring_to_text_with_len((char *) d, sizeof(d)));
}

/*
 * zyzzyva.verify_digest() returns boolean
 *
 * Recompute the lanes from every row of every replicated table and compare
 * them with the incrementally maintained ones.  O(database): for tests and
 * for an operator who suspects the digest, not for every checkpoint.
 */
Datum
zyzzyva_verify_digest(PG_FUNCTION_ARGS)
{
	ZzLtHash	full;
	List	   *tables = NIL;
	ListCell   *lc;
	bool		equal;

	zz_enter_mode(ZZ_MODE_DIGEST, "zyzzyva.verify_digest()");
	zz_lthash_zero(&full);
	SPI_connect();
	if (SPI_execute("SELECT pg_catalog.quote_ident(schema_name) OPERATOR(pg_catalog.||) '.' "
					"OPERATOR(pg_catalog.||) pg_catalog.quote_ident(table_name) "
					"FROM zyzzyva.table_registry", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read zyzzyva.table_registry");
	for (uint64 i = 0; i < SPI_processed; i++)
		tables = lappend(tables,
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	foreach(lc, tables)
		zz_digest_table_rows(lfirst(lc), &full, false);
	SPI_finish();
	equal = memcmp(&full, &zz_exec.lanes, sizeof(full)) == 0;
	zz_leave_mode();
	PG_RETURN_BOOL(equal);
}
