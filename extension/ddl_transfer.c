/*-------------------------------------------------------------------------
 *
 * ddl_transfer.c
 *	  The schema history (zyzzyva.ddl_log) in the state digest and in
 *	  snapshots, so that state transfer crosses schema changes
 *	  (docs/ddl.md).
 *
 * Every replicated DDL request that ran is kept in zyzzyva.ddl_log: its
 * batch, its position in it, its text, the role it ran as and the batch's
 * time.  The log is never truncated, and is rolled back with its batch.
 *
 * The digest.  When the log is not empty, the state digest is
 *
 *	 SHA-256("zyzzyva-state-ddl-v1" NUL  history  inner)
 *
 * where inner is the digest of the rows and of the replicated schema
 * (digest.c, unchanged) and history is SHA-256 over the log in order.  So
 * replicas that ran different schema changes never certify the same
 * checkpoint, even where schema_items does not look (an ordinary index, a
 * function that is not replicated), and a replica that never ran one keeps
 * the digest it had.
 *
 * Snapshots (version 2) end with the log up to their batch and the inner
 * digest of their state:
 *
 *	 history := count:uint32 [inner[32] entry{count}]	  (inner if count > 0)
 *	 entry	 := seq:uint64 request:uint32 nd_time:uint64
 *				rolelen:uint32 role sqllen:uint32 sql
 *
 * install_snapshot() first checks the log against the certified digest
 * (with the snapshot's inner digest: a faulty peer cannot make a log that
 * gives the certified digest), before it runs anything.  This replica's
 * own log must be a prefix of it; the requests it lacks run, in order, as
 * their roles, on empty replicated tables (the snapshot's rows replace
 * them afterwards, and a constraint a later request added holds on no
 * rows), in replicated execution with its refusals.  Then the rows go in
 * and the whole digest is checked, as before.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "access/xact.h"

#include "reader.h"
#include "zyzzyva.h"
#include "ddl_int.h"

#define ERRCODE_ZZ_DIGEST_MISMATCH	MAKE_SQLSTATE('Z','Z','0','0','1')

extern Datum zyzzyva_rollback_to(PG_FUNCTION_ARGS);

static const char zz_history_domain[] = "zyzzyva-ddl-history-v1";
static const char zz_state_ddl_domain[] = "zyzzyva-state-ddl-v1";

static void
put_u64(StringInfo buf, uint64 v)
{
	zz_put_uint32(buf, (uint32) (v >> 32));
	zz_put_uint32(buf, (uint32) v);
}

static void
put_text(StringInfo buf, const char *s)
{
	zz_put_uint32(buf, (uint32) strlen(s));
	appendBinaryStringInfo(buf, s, strlen(s));
}

/* one entry in the bytes the history digest covers (and snapshots carry) */
static void
put_entry(StringInfo buf, const ZzDdlEntry *e)
{
	put_u64(buf, (uint64) e->seq);
	zz_put_uint32(buf, (uint32) e->request);
	put_u64(buf, (uint64) e->nd_time);
	put_text(buf, e->role);
	put_text(buf, e->sql);
}

/*
 * The log, up to batch upto (all of it if upto < 0), in order.
 */
static ZzDdlEntry *
read_log(int64 upto, int *count)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(upto < 0 ? PG_INT64_MAX : upto)};
	ZzSavedUser saved;
	ZzDdlEntry *entries;
	MemoryContext cxt = CurrentMemoryContext;

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args(zz_extension_has("ddl_log", "role") ?
							  "SELECT seq, request, coalesce(nd_time, 0), "
							  "coalesce(role::pg_catalog.text, ''), sql FROM zyzzyva.ddl_log "
							  "WHERE seq OPERATOR(pg_catalog.<=) $1 ORDER BY seq, request" :
							  /* version 0.1: neither role nor time kept */
							  "SELECT seq, request, 0::pg_catalog.int8, '', sql FROM zyzzyva.ddl_log "
							  "WHERE seq OPERATOR(pg_catalog.<=) $1 ORDER BY seq, request",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read zyzzyva.ddl_log");
	*count = (int) SPI_processed;
	entries = MemoryContextAlloc(cxt, sizeof(ZzDdlEntry) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		entries[i].seq = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		entries[i].request = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		entries[i].nd_time = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		entries[i].role = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 4));
		entries[i].sql = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 5));
	}
	SPI_finish();
	zz_restore_user(&saved);
	return entries;
}

static void
history_of(const ZzDdlEntry *entries, int count, uint8 out[ZZ_SHA256_BYTES])
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, zz_history_domain, sizeof(zz_history_domain));
	for (int i = 0; i < count; i++)
		put_entry(&buf, &entries[i]);
	zz_sha256(buf.data, buf.len, out);
	pfree(buf.data);
}

/* the state digest from the history and the inner digest */
static void
combine(const uint8 history[ZZ_SHA256_BYTES], const uint8 inner[ZZ_SHA256_BYTES],
		uint8 out[ZZ_SHA256_BYTES])
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, zz_state_ddl_domain, sizeof(zz_state_ddl_domain));
	appendBinaryStringInfo(&buf, (const char *) history, ZZ_SHA256_BYTES);
	appendBinaryStringInfo(&buf, (const char *) inner, ZZ_SHA256_BYTES);
	zz_sha256(buf.data, buf.len, out);
	pfree(buf.data);
}

/*
 * digest.c's hook: fold the schema history into the state digest
 * (unchanged while the log is empty).
 */
void
zz_ddl_fold_history(uint8 digest[ZZ_SHA256_BYTES])
{
	int			count;
	ZzDdlEntry *entries = read_log(-1, &count);
	uint8		history[ZZ_SHA256_BYTES];
	uint8		inner[ZZ_SHA256_BYTES];

	if (count == 0)
		return;
	history_of(entries, count, history);
	memcpy(inner, digest, ZZ_SHA256_BYTES);
	combine(history, inner, digest);
}

/*
 * Append the history section of a snapshot of batch seq whose rows hash
 * to lanes (transfer.c).  The caller has checked that no DDL ran above
 * seq, so the current schema is the schema at seq.
 */
void
zz_ddl_snapshot_history(StringInfo buf, int64 seq, const ZzLtHash *lanes)
{
	ZzLtHash	saved = zz_exec.lanes;
	uint8		inner[ZZ_SHA256_BYTES];
	int			count;
	ZzDdlEntry *entries = read_log(seq, &count);

	zz_put_uint32(buf, (uint32) count);
	if (count == 0)
		return;					/* the certified digest is the inner one */
	zz_exec.lanes = *lanes;
	zz_state_digest_inner(inner);
	zz_exec.lanes = saved;
	appendBinaryStringInfo(buf, (const char *) inner, ZZ_SHA256_BYTES);
	for (int i = 0; i < count; i++)
		put_entry(buf, &entries[i]);
}

/*
 * Decode the history section of a snapshot; false with *why if malformed.
 */
bool
zz_ddl_snapshot_decode(ZzReader *r, ZzDdlHistory *h, const char **why)
{
	const char *inner;
	uint64		count;

	if (!rd_uint(r, 4, &count))
	{
		*why = "the schema history is truncated";
		return false;
	}
	h->count = 0;
	h->entries = NULL;
	if (count == 0)
		return true;
	if (!rd_bytes(r, &inner, ZZ_SHA256_BYTES))
	{
		*why = "the schema history is truncated";
		return false;
	}
	memcpy(h->inner, inner, ZZ_SHA256_BYTES);
	if (count > r->left / 28)
	{
		*why = "the schema history is truncated";
		return false;
	}
	h->count = (int) count;
	h->entries = palloc(sizeof(ZzDdlEntry) * Max(count, 1));
	for (uint64 i = 0; i < count; i++)
	{
		ZzDdlEntry *e = &h->entries[i];
		uint64		seq,
					request,
					nd_time;

		if (!rd_uint(r, 8, &seq) || !rd_uint(r, 4, &request) || !rd_uint(r, 8, &nd_time))
		{
			*why = "the schema history is truncated";
			return false;
		}
		e->seq = (int64) seq;
		e->request = (int32) request;
		e->nd_time = (int64) nd_time;
		if ((e->role = zz_read_text(r, "the schema history", why)) == NULL ||
			(e->sql = zz_read_text(r, "the schema history", why)) == NULL)
			return false;
		if (i > 0 && (e->seq < h->entries[i - 1].seq ||
					  (e->seq == h->entries[i - 1].seq && e->request <= h->entries[i - 1].request)))
		{
			*why = "the schema history is out of order";
			return false;
		}
	}
	return true;
}

static bool
same_entry(const ZzDdlEntry *a, const ZzDdlEntry *b)
{
	return a->seq == b->seq && a->request == b->request && a->nd_time == b->nd_time &&
		strcmp(a->role, b->role) == 0 && strcmp(a->sql, b->sql) == 0;
}

/*
 * install_snapshot(), before it enters its mode: if this replica applied
 * speculative schema changes (above its stable checkpoint) that are not
 * in the snapshot's history, roll back to the stable checkpoint first:
 * its history up to there is certified, so a prefix of any later one.
 * Returns whether it rolled back (and pushed a snapshot that sees it, for
 * the caller to pop).
 */
bool
zz_ddl_install_prepare(const ZzDdlHistory *h)
{
	int			nlocal;
	ZzDdlEntry *local = read_log(-1, &nlocal);
	bool		prefix = nlocal <= h->count;
	char	   *stable;
	int64		stable_seq;
	ZzSavedUser saved;

	for (int i = 0; prefix && i < nlocal; i++)
		prefix = same_entry(&local[i], &h->entries[i]);
	if (prefix)
		return false;
	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute("SELECT stable_seq FROM zyzzyva.replica_state WHERE id OPERATOR(pg_catalog.=) 1",
					false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read zyzzyva.replica_state");
	stable = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	stable_seq = strtoi64(stable, NULL, 10);
	SPI_finish();
	zz_restore_user(&saved);
	if (nlocal == 0 || local[nlocal - 1].seq <= stable_seq)
		return false;			/* a certified difference: refused later */
	ereport(LOG,
			(errmsg("zyzzyva: rolling back to stable checkpoint " INT64_FORMAT
					" before installing a snapshot: a schema change above it is not in the certified history",
					stable_seq)));
	(void) DirectFunctionCall1(zyzzyva_rollback_to, Int64GetDatum(stable_seq));
	CommandCounterIncrement();
	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();
	return true;
}

/*
 * install_snapshot(), before it touches a row: check the snapshot's
 * schema history against the certified digest, and run the requests this
 * replica lacks (see the file header).  Returns how many ran.
 */
int
zz_ddl_install_history(const ZzDdlHistory *h, int64 seq, const uint8 expect[ZZ_SHA256_BYTES])
{
	uint8		history[ZZ_SHA256_BYTES];
	uint8		digest[ZZ_SHA256_BYTES];
	ZzDdlEntry *local;
	int			nlocal;
	int			ran = 0;
	int32		ord = 0;

	if (h->count > 0)
		history_of(h->entries, h->count, history);
	if (h->count > 0)
		combine(history, h->inner, digest);
	if (h->count > 0 && memcmp(digest, expect, ZZ_SHA256_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_ZZ_DIGEST_MISMATCH),
				 errmsg("the schema history in the snapshot of batch " INT64_FORMAT
						" does not give the expected state digest", seq),
				 errhint("Fetch the snapshot from another replica.")));
	if (h->count > 0 && h->entries[h->count - 1].seq > seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed snapshot: its schema history goes past batch " INT64_FORMAT, seq)));

	local = read_log(-1, &nlocal);
	for (int i = 0; i < nlocal; i++)
		if (i >= h->count || !same_entry(&local[i], &h->entries[i]))
			ereport(ERROR,
					(errcode(ERRCODE_ZZ_DIGEST_MISMATCH),
					 errmsg("this replica's schema history differs from that of checkpoint " INT64_FORMAT,
							seq),
					 errdetail("Replicated DDL request %d of batch " INT64_FORMAT " here is not in the checkpoint's history at that place.",
							   local[i].request, local[i].seq),
					 errhint("Roll this replica back to its stable checkpoint (restart its sidecar), or compare zyzzyva.ddl_history with another replica.")));
	if (nlocal == h->count)
		return 0;

	/* the snapshot's rows replace them: run the changes on empty tables */
	{
		ZzSavedUser saved;

		zz_as_owner(&saved);
		SPI_connect();
		if (SPI_execute("SELECT pg_catalog.quote_ident(schema_name) OPERATOR(pg_catalog.||) '.' "
						"OPERATOR(pg_catalog.||) pg_catalog.quote_ident(table_name) "
						"FROM zyzzyva.table_registry", false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read zyzzyva.table_registry");
		{
			List	   *tables = NIL;
			ListCell   *lc;

			for (uint64 i = 0; i < SPI_processed; i++)
				tables = lappend(tables, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
			foreach(lc, tables)
				if (SPI_execute(psprintf("DELETE FROM ONLY %s", (char *) lfirst(lc)), false, 0) != SPI_OK_DELETE)
					elog(ERROR, "could not empty %s", (char *) lfirst(lc));
		}
		SPI_finish();
		zz_restore_user(&saved);
	}

	for (int i = nlocal; i < h->count; i++)
	{
		const ZzDdlEntry *e = &h->entries[i];
		ZzSavedUser saved;
		ZzMode		mode = zz_exec.mode;

		CHECK_FOR_INTERRUPTS();
		zz_exec.mode = ZZ_MODE_APPLY;
		zz_exec.seq = e->seq;
		zz_exec.request = e->request;
		zz_exec.nd_time = e->nd_time;
		zz_exec.undo_ord = ord;
		zz_become_caller(get_role_oid(e->role, false), &saved);
		zz_ddl_execute(e->sql, e->role);
		zz_restore_user(&saved);
		ord = zz_exec.undo_ord;
		zz_exec.mode = mode;
		zz_exec.request = -1;
		ran++;
	}
	/* row undo of the requests' own writes: the snapshot has no undo */
	zz_undo_discard();
	zz_ddl_purge(-1);

	/*
	 * What install_snapshot() reads next (the registry, the schema for the
	 * digest) must see the requests: a snapshot that does, popped by the
	 * caller (zz_ddl_install_done).
	 */
	CommandCounterIncrement();
	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();
	return ran;
}
