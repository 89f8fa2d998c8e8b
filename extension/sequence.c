/*-------------------------------------------------------------------------
 *
 * sequence.c
 *	  Sequences in replicated execution: nextval(), setval(), currval(),
 *	  lastval(), serial, bigserial and identity columns.
 *
 * A PostgreSQL sequence lives outside transactions: nextval() is never
 * rolled back, it logs 32 values ahead in the WAL (after a crash the
 * sequence jumps ahead), and each backend may cache values (CACHE > 1).
 * None of that may make replicas differ, and a rolled-back speculative
 * batch must take its sequence values back with its rows.  So the state of
 * a replicated sequence (last_value, is_called) is kept twice:
 *
 *	 zyzzyva.sequence_state	 one row per replicated sequence, a replicated
 *							 table of the extension (like ddl_proposal): in
 *							 the digest, undone with a rolled-back batch,
 *							 carried by snapshots and installed by state
 *							 transfer, all by the machinery of replicated
 *							 tables (capture.c, undo.c, transfer.c).  This is
 *							 the replicated state.
 *	 the sequence itself	 what nextval() reads and advances; a working
 *							 copy, brought back to the row whenever it may
 *							 differ.
 *
 * apply_batch() calls, in order:
 *
 *	 zz_sequences_batch_begin	 read the rows; set every sequence whose
 *								 state differs from its row back to it
 *								 (after a crash, an aborted batch, a
 *								 rollback_to(), an installed snapshot, a
 *								 nextval() someone ran by hand);
 *	 zz_sequences_request_begin	 drop this backend's sequence caches: each
 *								 request sees currval()/lastval() as in a new
 *								 session, and values a cache holds are never
 *								 handed out by one replica and not another;
 *	 zz_sequences_after_ddl		 after a replicated DDL request: reread the
 *								 rows, forget sequences it dropped, register
 *								 the sequences owned by replicated tables
 *								 (serial, identity) it created;
 *	 zz_sequences_sync			 at the end of the batch: write the state of
 *								 every sequence that moved into its row (the
 *								 capture trigger records undo and updates the
 *								 digest).
 *
 * Most databases replicate no sequence, and reading the empty table cost
 * every batch an SPI query.  So a backend remembers that the table was
 * empty (seq_none_relid) and skips the read while that stays true: any row
 * inserted into or deleted from it, in any mode (a request, undo replayed
 * by rollback_to(), a snapshot installed, a registration by hand), sends a
 * relcache invalidation of the table (zz_sequences_row_changed, from the
 * capture trigger), which this backend sees at its next command, at the
 * abort of the (sub)transaction that wrote, or, from another backend, after
 * that one commits.  Since another backend's invalidation may arrive only
 * after its commit is visible, the memory is also dropped whenever the
 * state row changed since this backend last wrote it (zz_lanes_unchanged):
 * every writer of replicated state changes it in the same transaction.
 *
 * Values a failed request drew stay drawn, as in PostgreSQL: the sync runs
 * outside the requests' subtransactions.  A sequence's parameters (type,
 * start, increment, bounds, cache, cycle, owner, privileges) are in the
 * schema part of the digest (view zyzzyva.sequence_items).
 *
 * A sequence becomes replicated with the table that owns it (a serial or
 * identity column, or OWNED BY): replicate_table() registers it, in or
 * outside a replicated DDL request; or by zyzzyva.replicate_sequence() for a
 * sequence of its own.  In replicated execution nextval() and setval() must
 * name a replicated sequence by a constant (the planner hook of
 * determinism.c calls zz_sequence_check_use); any other is refused, since
 * its state would not be replicated.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_replicate_sequence);

/* the special space of a sequence's page (commands/sequence.c) */
#define ZZ_SEQ_MAGIC	0x1717

#define ZZ_SEQ_TABLE	"zyzzyva.sequence_state"

/* One replicated sequence, as known during the running batch. */
typedef struct ZzSeq
{
	Oid			relid;			/* InvalidOid: missing here */
	char	   *nspname;
	char	   *relname;
	int64		last_value;		/* as in its row */
	bool		is_called;
} ZzSeq;

static MemoryContext zz_seq_cxt = NULL;
static ZzSeq *zz_seqs = NULL;
static int	zz_nseqs = 0;
static int	zz_maxseqs = 0;
static bool zz_seqs_loaded = false;

/*
 * The OID of zyzzyva.sequence_state while this backend knows it has no
 * rows (see the file header), else InvalidOid; seq_inval_count counts the
 * invalidations of the table, so that a read the table changed under does
 * not set seq_none_relid.
 */
static Oid	seq_none_relid = InvalidOid;
static Oid	seq_table_relid = InvalidOid;
static uint64 seq_inval_count = 0;
static bool seq_callback_registered = false;

static SPIPlanPtr seq_load_plan = NULL;
static SPIPlanPtr seq_update_plan = NULL;
static SPIPlanPtr seq_delete_plan = NULL;
static SPIPlanPtr seq_insert_plan = NULL;
static SPIPlanPtr seq_rowtext_plan = NULL;
static SPIPlanPtr seq_owned_plan = NULL;

/*
 * Read the state of a sequence from its page, as nextval() would find it:
 * the sequence's one tuple, which nextval() overwrites in place.
 */
static void
seq_read(Oid relid, int64 *last_value, bool *is_called)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	Buffer		buf;
	Page		page;
	ItemId		lp;
	HeapTupleHeader tup;
	Form_pg_sequence_data data;

	if (rel->rd_rel->relkind != RELKIND_SEQUENCE)
		elog(ERROR, "\"%s\" is not a sequence", RelationGetRelationName(rel));
	buf = ReadBuffer(rel, 0);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (*(uint32 *) PageGetSpecialPointer(page) != ZZ_SEQ_MAGIC)
		elog(ERROR, "bad magic number in sequence \"%s\"", RelationGetRelationName(rel));
	lp = PageGetItemId(page, FirstOffsetNumber);
	tup = (HeapTupleHeader) PageGetItem(page, lp);
	data = (Form_pg_sequence_data) ((char *) tup + tup->t_hoff);
	*last_value = data->last_value;
	*is_called = data->is_called;
	UnlockReleaseBuffer(buf);
	relation_close(rel, AccessShareLock);
}

/*
 * Set a sequence to a state, as setval() does (not transactional), as the
 * sequence's owner: undoing is not the caller's act.
 */
static void
seq_set(Oid relid, int64 last_value, bool is_called)
{
	Oid			save_user;
	int			save_sec;
	Oid			owner;
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	DirectFunctionCall3(setval3_oid, ObjectIdGetDatum(relid),
						Int64GetDatum(last_value), BoolGetDatum(is_called));
	SetUserIdAndSecContext(save_user, save_sec);
}

/*
 * The OID of sequence nspname.relname here, or InvalidOid.
 */
static Oid
seq_resolve(const char *nspname, const char *relname)
{
	Oid			nspid = get_namespace_oid(nspname, true);
	Oid			relid;

	if (!OidIsValid(nspid))
		return InvalidOid;
	relid = get_relname_relid(relname, nspid);
	if (!OidIsValid(relid) || get_rel_relkind(relid) != RELKIND_SEQUENCE)
		return InvalidOid;
	return relid;
}

static ZzSeq *
seq_add(Oid relid, const char *nspname, const char *relname, int64 last, bool called)
{
	ZzSeq	   *s;

	if (zz_nseqs == zz_maxseqs)
	{
		zz_maxseqs = Max(16, zz_maxseqs * 2);
		zz_seqs = zz_seqs == NULL ?
			MemoryContextAlloc(zz_seq_cxt, sizeof(ZzSeq) * zz_maxseqs) :
			repalloc(zz_seqs, sizeof(ZzSeq) * zz_maxseqs);
	}
	s = &zz_seqs[zz_nseqs++];
	s->relid = relid;
	s->nspname = MemoryContextStrdup(zz_seq_cxt, nspname);
	s->relname = MemoryContextStrdup(zz_seq_cxt, relname);
	s->last_value = last;
	s->is_called = called;
	return s;
}

/*
 * Read zyzzyva.sequence_state into the list; fresh: with a new snapshot,
 * that sees what this batch wrote.
 */
static void
seq_load(bool fresh)
{
	ZzSavedUser saved;

	if (zz_seq_cxt == NULL)
		zz_seq_cxt = AllocSetContextCreate(TopMemoryContext, "zyzzyva sequences",
										   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(zz_seq_cxt);
	zz_seqs = NULL;
	zz_nseqs = zz_maxseqs = 0;

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_plan(zz_keep_plan(&seq_load_plan,
									  "SELECT schema_name::pg_catalog.text, sequence_name::pg_catalog.text, "
									  "last_value, is_called FROM zyzzyva.sequence_state "
									  "ORDER BY schema_name, sequence_name",
									  0, NULL),
						 NULL, NULL, !fresh, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read " ZZ_SEQ_TABLE);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *nsp = SPI_getvalue(tup, desc, 1);
		char	   *rel = SPI_getvalue(tup, desc, 2);
		bool		isnull;
		int64		last = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		bool		called = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));

		seq_add(seq_resolve(nsp, rel), nsp, rel, last, called);
	}
	SPI_finish();
	zz_restore_user(&saved);
	zz_seqs_loaded = true;
}

/*
 * Run one statement on zyzzyva.sequence_state as the extension's owner.
 */
static uint64
seq_run(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes,
		Datum *values, int expect)
{
	ZzSavedUser saved;
	uint64		n;

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_plan(zz_keep_plan(slot, sql, nargs, argtypes),
						 values, NULL, false, 0) != expect)
		elog(ERROR, "could not write " ZZ_SEQ_TABLE);
	n = SPI_processed;
	SPI_finish();
	zz_restore_user(&saved);
	return n;
}

/*
 * Write the row of a sequence whose state moved.
 */
static void
seq_store(ZzSeq *s, int64 last, bool called)
{
	Oid			argtypes[4] = {NAMEOID, NAMEOID, INT8OID, BOOLOID};
	Datum		values[4];

	values[0] = CStringGetDatum(s->nspname);
	values[1] = CStringGetDatum(s->relname);
	values[0] = DirectFunctionCall1(namein, values[0]);
	values[1] = DirectFunctionCall1(namein, values[1]);
	values[2] = Int64GetDatum(last);
	values[3] = BoolGetDatum(called);
	(void) seq_run(&seq_update_plan,
				   "UPDATE zyzzyva.sequence_state SET last_value = $3, is_called = $4 "
				   "WHERE schema_name OPERATOR(pg_catalog.=) $1 "
				   "AND sequence_name OPERATOR(pg_catalog.=) $2",
				   4, argtypes, values, SPI_OK_UPDATE);
	s->last_value = last;
	s->is_called = called;
}

/*
 * Compare every replicated sequence in the list with its row, and where
 * they differ bring one back to the other: row_wins, set the sequence to
 * its row (the start of a batch); otherwise write the sequence's state
 * into its row (the end).  A sequence missing here, or dropped since the
 * list was read, is passed over: the digest says it is missing.
 */
static void
seq_reconcile(bool row_wins)
{
	for (int i = 0; i < zz_nseqs; i++)
	{
		ZzSeq	   *s = &zz_seqs[i];
		int64		last;
		bool		called;

		if (!OidIsValid(s->relid) ||
			!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(s->relid)))
			continue;
		seq_read(s->relid, &last, &called);
		if (last == s->last_value && called == s->is_called)
			continue;
		if (row_wins)
			seq_set(s->relid, s->last_value, s->is_called);
		else
			seq_store(s, last, called);
	}
	ResetSequenceCaches();
}

/*
 * Relcache invalidation callback: zyzzyva.sequence_state (or every
 * relation) may have changed.
 */
static void
seq_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == seq_table_relid)
	{
		seq_none_relid = InvalidOid;
		seq_inval_count++;
	}
}

/*
 * The capture trigger inserted or deleted a row of rel (any mode): if rel
 * is zyzzyva.sequence_state, tell every backend, this one included, that
 * whether it has rows may have changed.  The invalidation is transactional:
 * others see it when the writer commits, this backend at its next command
 * and again if the writer aborts.
 */
void
zz_sequences_row_changed(Relation rel)
{
	if (strcmp(RelationGetRelationName(rel), "sequence_state") != 0)
		return;
	if (RelationGetNamespace(rel) != get_namespace_oid("zyzzyva", true))
		return;
	CacheInvalidateRelcache(rel);
}

/*
 * Called by apply_batch() after it entered replicated execution: see the
 * file header.
 */
void
zz_sequences_batch_begin(void)
{
	uint64		count;

	if (!zz_extension_has("sequence_state", NULL))
	{
		/* a database on version 0.1: no replicated sequences */
		zz_seqs_loaded = false;
		zz_nseqs = 0;
		ResetSequenceCaches();
		return;
	}
	if (!seq_callback_registered)
	{
		CacheRegisterRelcacheCallback(seq_relcache_callback, (Datum) 0);
		seq_callback_registered = true;
	}
	seq_table_relid = get_relname_relid("sequence_state",
										get_namespace_oid("zyzzyva", false));
	/* another backend wrote replicated state since this one last did */
	if (!zz_lanes_unchanged)
		seq_none_relid = InvalidOid;
	AcceptInvalidationMessages();
	if (OidIsValid(seq_none_relid) && seq_none_relid == seq_table_relid)
	{
		/* known to be empty: what seq_load would find */
		zz_seqs = NULL;
		zz_nseqs = zz_maxseqs = 0;
		if (zz_seq_cxt != NULL)
			MemoryContextReset(zz_seq_cxt);
		zz_seqs_loaded = true;
		ResetSequenceCaches();
		return;
	}
	count = seq_inval_count;
	seq_load(false);
	if (zz_nseqs == 0 && zz_lanes_unchanged && count == seq_inval_count)
		seq_none_relid = seq_table_relid;
	seq_reconcile(true);
}

/*
 * Called before each request of the batch.
 */
void
zz_sequences_request_begin(void)
{
	ResetSequenceCaches();
}

/*
 * Write the state of every replicated sequence that moved into its row.
 */
void
zz_sequences_sync(void)
{
	if (!zz_seqs_loaded)
		return;
	seq_reconcile(false);
}

/*
 * End of the batch (or of its transaction): forget the list.
 */
void
zz_sequences_batch_end(void)
{
	zz_seqs_loaded = false;
	zz_nseqs = 0;
}

/*
 * Insert the row of a newly replicated sequence with its current state.
 * In replicated execution the capture trigger records its undo and adds it
 * to the digest; outside (registration by hand, ZZ_MODE_ADMIN) the row is
 * written as install_snapshot() writes rows and added to the digest here.
 */
static void
seq_register(Oid relid)
{
	Oid			argtypes[4] = {NAMEOID, NAMEOID, INT8OID, BOOLOID};
	Datum		values[4];
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));
	char	   *relname = get_rel_name(relid);
	int64		last;
	bool		called;
	Relation	rel;

	rel = relation_open(relid, AccessShareLock);
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot replicate sequence %s: it is temporary or unlogged",
						quote_qualified_identifier(nspname, relname)),
				 errdetail("An unlogged sequence starts again after a crash, so a replica would hand out values twice.")));
	relation_close(rel, AccessShareLock);

	seq_read(relid, &last, &called);
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(nspname));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(relname));
	values[2] = Int64GetDatum(last);
	values[3] = BoolGetDatum(called);

	if (zz_exec.mode == ZZ_MODE_APPLY)
	{
		(void) seq_run(&seq_insert_plan,
					   "INSERT INTO zyzzyva.sequence_state "
					   "(schema_name, sequence_name, last_value, is_called) "
					   "VALUES ($1, $2, $3, $4)",
					   4, argtypes, values, SPI_OK_INSERT);
		if (zz_seqs_loaded)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(zz_seq_cxt);

			seq_add(relid, nspname, relname, last, called);
			MemoryContextSwitchTo(oldcxt);
		}
	}
	else
	{
		ZzSavedUser saved;
		ZzLtHash	h;
		char	   *text;

		Assert(zz_exec.mode == ZZ_MODE_ADMIN);
		zz_exec.mode = ZZ_MODE_INSTALL;
		(void) seq_run(&seq_insert_plan,
					   "INSERT INTO zyzzyva.sequence_state "
					   "(schema_name, sequence_name, last_value, is_called) "
					   "VALUES ($1, $2, $3, $4)",
					   4, argtypes, values, SPI_OK_INSERT);
		zz_exec.mode = ZZ_MODE_ADMIN;

		zz_as_owner(&saved);
		SPI_connect();
		if (SPI_execute_plan(zz_keep_plan(&seq_rowtext_plan,
										  "SELECT (r.*)::pg_catalog.text FROM zyzzyva.sequence_state AS r "
										  "WHERE schema_name OPERATOR(pg_catalog.=) $1 "
										  "AND sequence_name OPERATOR(pg_catalog.=) $2",
										  2, argtypes),
							 values, NULL, false, 0) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "could not read back the row of sequence %s",
				 quote_qualified_identifier(nspname, relname));
		text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		zz_row_hash(&h, ZZ_SEQ_TABLE, text);
		zz_lthash_add(&zz_exec.lanes, &h);
		zz_exec.lanes_dirty = true;
		SPI_finish();
		zz_restore_user(&saved);
	}
}

/*
 * Is sequence relid replicated?  Only during a batch (the list).
 */
static bool
seq_known(Oid relid)
{
	for (int i = 0; i < zz_nseqs; i++)
		if (zz_seqs[i].relid == relid)
			return true;
	return false;
}

/*
 * Register the sequences owned by columns of table relid (serial,
 * identity, OWNED BY) that are not replicated yet.  For replicate_table(),
 * and after a replicated DDL request for every replicated table.  The
 * caller is in ZZ_MODE_APPLY or ZZ_MODE_ADMIN.
 */
static void
seq_register_owned(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	List	   *owned = NIL;
	ListCell   *lc;
	ZzSavedUser saved;
	MemoryContext cxt = CurrentMemoryContext;	/* SPI_finish frees SPI's */

	values[0] = ObjectIdGetDatum(relid);
	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_plan(zz_keep_plan(&seq_owned_plan,
									  "SELECT d.objid FROM pg_catalog.pg_depend AS d "
									  "JOIN pg_catalog.pg_class AS s ON s.oid OPERATOR(pg_catalog.=) d.objid "
									  "WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
									  "AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
									  "AND d.refobjid OPERATOR(pg_catalog.=) $1 "
									  "AND d.deptype IN ('a', 'i') AND s.relkind OPERATOR(pg_catalog.=) 'S' "
									  "AND NOT EXISTS (SELECT 1 FROM zyzzyva.sequence_state AS r "
									  "WHERE r.schema_name OPERATOR(pg_catalog.=) "
									  "(SELECT n.nspname FROM pg_catalog.pg_namespace AS n "
									  "WHERE n.oid OPERATOR(pg_catalog.=) s.relnamespace) "
									  "AND r.sequence_name OPERATOR(pg_catalog.=) s.relname) "
									  "ORDER BY s.relname COLLATE \"C\"",
									  1, argtypes),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the sequences of table %u", relid);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		Oid			seqid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext spicxt = MemoryContextSwitchTo(cxt);

		owned = lappend_oid(owned, seqid);
		MemoryContextSwitchTo(spicxt);
	}
	SPI_finish();
	zz_restore_user(&saved);
	foreach(lc, owned)
		seq_register(lfirst_oid(lc));
	list_free(owned);
}

/*
 * replicate_table() made relid replicated: its sequences go with it.
 */
void
zz_sequences_table_replicated(Oid relid)
{
	if (!zz_extension_has("sequence_state", NULL))
		return;					/* version 0.1 */
	seq_register_owned(relid);
}

/*
 * After a replicated DDL request (apply_batch(), outside its
 * subtransaction, which may have failed): write what its statements did to
 * the replicated sequences, forget those it dropped, and register the
 * sequences it gave replicated tables.
 */
void
zz_sequences_after_ddl(void)
{
	Oid			argtypes[2] = {NAMEOID, NAMEOID};
	List	   *tables = NIL;
	ListCell   *lc;
	ZzSavedUser saved;
	MemoryContext cxt = CurrentMemoryContext;	/* SPI_finish frees SPI's */

	if (!zz_seqs_loaded)
		return;
	/* the rows as the request left them (a failed one: as before it) */
	seq_load(true);
	for (int i = 0; i < zz_nseqs; i++)
	{
		ZzSeq	   *s = &zz_seqs[i];
		Datum		values[2];

		if (OidIsValid(s->relid))
			continue;
		/* dropped (or renamed: then registered again below, if owned) */
		values[0] = DirectFunctionCall1(namein, CStringGetDatum(s->nspname));
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(s->relname));
		(void) seq_run(&seq_delete_plan,
					   "DELETE FROM zyzzyva.sequence_state "
					   "WHERE schema_name OPERATOR(pg_catalog.=) $1 "
					   "AND sequence_name OPERATOR(pg_catalog.=) $2",
					   2, argtypes, values, SPI_OK_DELETE);
	}
	zz_sequences_sync();

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute("SELECT pg_catalog.to_regclass(pg_catalog.quote_ident(schema_name) "
					"OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) "
					"pg_catalog.quote_ident(table_name))::pg_catalog.oid "
					"FROM zyzzyva.table_registry WHERE schema_name OPERATOR(pg_catalog.<>) 'zyzzyva' "
					"ORDER BY schema_name COLLATE \"C\", table_name COLLATE \"C\"",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read zyzzyva.table_registry");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			MemoryContext spicxt = MemoryContextSwitchTo(cxt);

			tables = lappend_oid(tables, DatumGetObjectId(d));
			MemoryContextSwitchTo(spicxt);
		}
	}
	SPI_finish();
	zz_restore_user(&saved);
	foreach(lc, tables)
		seq_register_owned(lfirst_oid(lc));
	list_free(tables);
	seq_load(true);
}

/*
 * The planner hook of determinism.c met nextval() or setval() of relid (or
 * an identity column's next value): refuse it unless the sequence is
 * replicated.  relid is InvalidOid when the sequence is not a constant.
 */
void
zz_sequence_check_use(Oid relid, const char *what)
{
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s of a sequence not named by a constant is not allowed in replicated execution",
						what),
				 errhint("Name the sequence by a constant, e.g. nextval('public.t_id_seq'), so that replicated execution can check that it is replicated.")));
	if (!seq_known(relid))
	{
		char	   *name = get_rel_name(relid);

		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s of sequence %s is not allowed in replicated execution: it is not replicated",
						what,
						name ? quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
														  name) : "(dropped)"),
				 errdetail("The state of a sequence that is not replicated differs from one replica to the next."),
				 errhint("A sequence is replicated with the replicated table that owns it (serial, identity, OWNED BY), or by zyzzyva.replicate_sequence() in a replicated DDL request.")));
	}
}

/*
 * zyzzyva.replicate_sequence(regclass) returns void
 *
 * Make a sequence replicated: its state becomes a row of
 * zyzzyva.sequence_state.  In a replicated DDL request, or by hand on
 * every replica, as replicate_table().
 */
Datum
zyzzyva_replicate_sequence(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	bool		nested = zz_ddl_registering();
	char	   *nspname;
	char	   *relname;

	if (!nested)
		zz_require_no_mode("zyzzyva.replicate_sequence()");
	if (get_rel_relkind(relid) != RELKIND_SEQUENCE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot replicate %s: it is not a sequence",
						DatumGetCString(DirectFunctionCall1(regclassout,
															ObjectIdGetDatum(relid))))));
	nspname = get_namespace_name(get_rel_namespace(relid));
	relname = get_rel_name(relid);
	if (strcmp(nspname, "zyzzyva") == 0 || strcmp(nspname, "pg_catalog") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot replicate %s: it belongs to the system or to zyzzyva",
						quote_qualified_identifier(nspname, relname))));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_SEQUENCE, relname);

	if (!nested)
		zz_enter_mode(ZZ_MODE_ADMIN, "zyzzyva.replicate_sequence()");
	{
		Oid			argtypes[2] = {NAMEOID, NAMEOID};
		Datum		values[2];
		ZzSavedUser saved;
		bool		exists;

		values[0] = DirectFunctionCall1(namein, CStringGetDatum(nspname));
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(relname));
		zz_as_owner(&saved);
		SPI_connect();
		if (SPI_execute_with_args("SELECT 1 FROM zyzzyva.sequence_state "
								  "WHERE schema_name OPERATOR(pg_catalog.=) $1 "
								  "AND sequence_name OPERATOR(pg_catalog.=) $2",
								  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read " ZZ_SEQ_TABLE);
		exists = SPI_processed > 0;
		SPI_finish();
		zz_restore_user(&saved);
		if (exists)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("sequence %s is already replicated",
							quote_qualified_identifier(nspname, relname))));
	}
	seq_register(relid);
	if (!nested)
		zz_leave_mode();
	PG_RETURN_VOID();
}
