/*-------------------------------------------------------------------------
 *
 * undo.c
 *	  Rolling back a speculative suffix, and the protocol's durable marks:
 *	  zyzzyva.rollback_to(), zyzzyva.mark_stable(), zyzzyva.record_commit().
 *
 * Zyzzyva executes before it commits, and a view change may discard a
 * speculative suffix that this replica already applied and committed in
 * PostgreSQL.  The capture trigger kept, for every row change, the before-
 * and after-image keyed by (sequence number, order).  rollback_to(k) replays
 * the undo of every batch above k, newest first, in one transaction:
 *
 *	 inserted row  (no before-image)  delete the row with the after-image's key
 *	 deleted row   (no after-image)	  insert the before-image
 *	 updated row					  set the after-image's row back to the
 *									  before-image
 *
 * with session_replication_role = replica, so that user triggers and
 * foreign-key checks do not fire (each step restores an earlier state
 * exactly, as logical replication's apply does); the capture trigger still
 * fires and takes each change back out of the digest.  Schema actions of
 * replicated DDL requests are undone in the same order (ddl.c: drop what
 * the request created, take back its registrations).  A stable checkpoint
 * is committed by 2f+1 replicas and is never rolled back; mark_stable()
 * records one and deletes the undo it makes useless.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/xact.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_rollback_to);
PG_FUNCTION_INFO_V1(zyzzyva_mark_stable);
PG_FUNCTION_INFO_V1(zyzzyva_record_commit);

#define UNDO_FETCH	256

/* The three statements that undo changes to one table. */
typedef struct ZzUndoPlans
{
	Oid			relid;			/* hash key */
	char	   *qualname;
	SPIPlanPtr	del;			/* $1 = after-image */
	SPIPlanPtr	ins;			/* $1 = before-image */
	SPIPlanPtr	upd;			/* $1 = before-image, $2 = after-image */
	bool		upd_as_delete_insert;	/* a GENERATED ALWAYS identity column
										 * cannot be SET: del, then ins */
} ZzUndoPlans;

/*
 * Append "a, b, c" (prefixed by alias if given) for the columns of rel that
 * can be written: not dropped, not generated.
 */
void
zz_append_columns(StringInfo buf, TupleDesc desc, const char *alias)
{
	bool		first = true;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated)
			continue;
		appendStringInfo(buf, "%s%s%s%s", first ? "" : ", ",
						 alias ? alias : "", alias ? "." : "",
						 quote_identifier(NameStr(att->attname)));
		first = false;
	}
}

/*
 * Append "t.k1 = n.k1 AND t.k2 = n.k2" over the primary key of rel.
 */
static void
append_key_match(StringInfo buf, Relation rel)
{
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	Relation	pk;

	if (!OidIsValid(pkoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replicated table \"%s\" has lost its primary key",
						RelationGetRelationName(rel)),
				 errhint("Restore the primary key: undo finds rows by it.")));
	pk = index_open(pkoid, AccessShareLock);
	for (int i = 0; i < pk->rd_index->indnkeyatts; i++)
	{
		const char *col = quote_identifier(get_attname(RelationGetRelid(rel),
													   pk->rd_index->indkey.values[i],
													   false));

		appendStringInfo(buf, "%st.%s = n.%s", i > 0 ? " AND " : "", col, col);
	}
	index_close(pk, AccessShareLock);
}

/*
 * Prepare one undo statement, its parameters row images as text; the plan
 * lives for one rollback_to() call.
 */
static SPIPlanPtr
prepare(const char *sql, int nargs)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	return plan;
}

/*
 * Build the undo statements for one table.  Identifiers are quoted into the
 * text; the row images are parameters, read back with the row type's input.
 */
static void
build_plans(ZzUndoPlans *p)
{
	Relation	rel = table_open(p->relid, RowExclusiveLock);
	TupleDesc	desc = RelationGetDescr(rel);
	const char *q = zz_relation_qualname(rel);
	StringInfoData sql;

	p->qualname = MemoryContextStrdup(TopTransactionContext, q);

	initStringInfo(&sql);
	appendStringInfo(&sql, "DELETE FROM ONLY %s AS t USING (SELECT ($1::%s).*) AS n WHERE ",
					 q, q);
	append_key_match(&sql, rel);
	p->del = prepare(sql.data, 1);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s (", q);
	zz_append_columns(&sql, desc, NULL);
	appendStringInfoString(&sql, ") OVERRIDING SYSTEM VALUE SELECT ");
	zz_append_columns(&sql, desc, "o");
	appendStringInfo(&sql, " FROM (SELECT ($1::%s).*) AS o", q);
	p->ins = prepare(sql.data, 1);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE ONLY %s AS t SET (", q);
	zz_append_columns(&sql, desc, NULL);
	appendStringInfoString(&sql, ") = ROW(");
	zz_append_columns(&sql, desc, "o");
	appendStringInfo(&sql, ") FROM (SELECT ($1::%s).*) AS o, (SELECT ($2::%s).*) AS n WHERE ",
					 q, q);
	append_key_match(&sql, rel);
	p->upd_as_delete_insert = false;
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped &&
			TupleDescAttr(desc, i)->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			p->upd_as_delete_insert = true;
	p->upd = p->upd_as_delete_insert ? NULL : prepare(sql.data, 2);

	table_close(rel, NoLock);
}

/*
 * Undo one row change; it must touch exactly one row, or the table no
 * longer matches its undo and rolling back further would corrupt it.
 */
static void
undo_one(ZzUndoPlans *p, int64 seq, char *oldrow, char *newrow)
{
	Datum		values[2];
	SPIPlanPtr	plan;
	int			expect;

	if (oldrow && newrow && p->upd_as_delete_insert)
	{
		undo_one(p, seq, NULL, newrow);
		undo_one(p, seq, oldrow, NULL);
		return;
	}
	if (oldrow && newrow)
	{
		plan = p->upd;
		values[0] = CStringGetTextDatum(oldrow);
		values[1] = CStringGetTextDatum(newrow);
		expect = SPI_OK_UPDATE;
	}
	else if (newrow)
	{
		plan = p->del;
		values[0] = CStringGetTextDatum(newrow);
		expect = SPI_OK_DELETE;
	}
	else
	{
		plan = p->ins;
		values[0] = CStringGetTextDatum(oldrow);
		expect = SPI_OK_INSERT;
	}
	if (SPI_execute_plan(plan, values, NULL, false, 0) != expect || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("undo of batch " INT64_FORMAT " does not match table %s",
						seq, p->qualname),
				 errdetail("The row to restore was not found where its undo record says it is.")));
}

/*
 * Read the replica's position: last applied batch and stable checkpoint.
 */
static void
read_marks(int64 *last_seq, int64 *stable_seq, int64 *max_cc_seq, bool lock)
{
	bool		isnull;
	ZzSavedUser saved;
	int			rc;

	/* as the extension's owner: the caller may hold only EXECUTE */
	zz_as_owner(&saved);
	rc = SPI_execute(lock ?
					"SELECT last_seq, stable_seq, max_cc_seq FROM zyzzyva.replica_state "
					"WHERE id = 1 FOR UPDATE" :
					"SELECT last_seq, stable_seq, max_cc_seq FROM zyzzyva.replica_state "
					"WHERE id = 1",
					false, 1);
	zz_restore_user(&saved);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("zyzzyva.replica_state has no state row"),
				 errhint("Recreate the extension: its state was deleted.")));
	*last_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
	*stable_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 2, &isnull));
	*max_cc_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 3, &isnull));
}

/*
 * zyzzyva.rollback_to(seq bigint) returns bigint
 *
 * Undo every batch above seq, newest change first, in the caller's
 * transaction; return how many batches were undone.  See the file header.
 */
Datum
zyzzyva_rollback_to(PG_FUNCTION_ARGS)
{
	int64		target = PG_GETARG_INT64(0);
	int64		last_seq,
				stable_seq,
				max_cc_seq;
	HTAB	   *plans;
	HASHCTL		ctl;
	Portal		portal;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	ZzSavedUser saved;
	MemoryContext rowcxt;

	zz_enter_mode(ZZ_MODE_UNDO, "zyzzyva.rollback_to()");
	zz_ddl_undo_begin();
	SPI_connect();
	read_marks(&last_seq, &stable_seq, &max_cc_seq, false);
	if (target < stable_seq)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot roll back to batch " INT64_FORMAT
						": batch " INT64_FORMAT " is a stable checkpoint",
						target, stable_seq),
				 errdetail("A stable checkpoint is committed by 2f+1 replicas and is never rolled back.")));
	if (target > last_seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot roll back to batch " INT64_FORMAT
						": the last applied batch is " INT64_FORMAT,
						target, last_seq)));

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(ZzUndoPlans);
	ctl.hcxt = CurrentMemoryContext;
	plans = hash_create("zyzzyva undo plans", 16, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "zyzzyva undo rows",
								   ALLOCSET_DEFAULT_SIZES);

	values[0] = Int64GetDatum(target);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT seq, rel, old_row, new_row, action, target, request "
									   "FROM zyzzyva.undo_log "
									   "WHERE seq > $1 ORDER BY seq DESC, ord DESC",
									   1, argtypes, values, NULL, true, 0);
	for (;;)
	{
		int64		n;
		int64	   *seqs;
		int32	   *requests;
		Oid		   *rels;
		char	  **olds,
				  **news,
				  **actions,
				  **targets;

		MemoryContextReset(rowcxt);
		SPI_cursor_fetch(portal, true, UNDO_FETCH);
		n = (int64) SPI_processed;
		if (n == 0)
			break;
		/* copy the batch out: running the undo replaces SPI_tuptable */
		seqs = MemoryContextAlloc(rowcxt, sizeof(int64) * n);
		requests = MemoryContextAlloc(rowcxt, sizeof(int32) * n);
		rels = MemoryContextAlloc(rowcxt, sizeof(Oid) * n);
		olds = MemoryContextAlloc(rowcxt, sizeof(char *) * n);
		news = MemoryContextAlloc(rowcxt, sizeof(char *) * n);
		actions = MemoryContextAlloc(rowcxt, sizeof(char *) * n);
		targets = MemoryContextAlloc(rowcxt, sizeof(char *) * n);
		for (int64 i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			char	   *v;

			seqs[i] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			requests[i] = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
			rels[i] = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
			v = SPI_getvalue(tup, desc, 3);
			olds[i] = v ? MemoryContextStrdup(rowcxt, v) : NULL;
			v = SPI_getvalue(tup, desc, 4);
			news[i] = v ? MemoryContextStrdup(rowcxt, v) : NULL;
			v = SPI_getvalue(tup, desc, 5);
			actions[i] = v ? MemoryContextStrdup(rowcxt, v) : NULL;
			v = SPI_getvalue(tup, desc, 6);
			targets[i] = v ? MemoryContextStrdup(rowcxt, v) : NULL;
		}
		SPI_freetuptable(SPI_tuptable);

		for (int64 i = 0; i < n; i++)
		{
			bool		found;
			ZzUndoPlans *p;

			CHECK_FOR_INTERRUPTS();
			/* drops of an earlier DDL request's objects, once past it */
			zz_ddl_undo_flush(seqs[i], requests[i]);
			if (actions[i] != NULL)
			{
				/* a replicated DDL request's schema action (ddl.c) */
				zz_ddl_undo(seqs[i], requests[i], actions[i], targets[i]);
				/* it may have changed a table's row type: plan again */
				hash_destroy(plans);
				plans = hash_create("zyzzyva undo plans", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
				continue;
			}
			p = hash_search(plans, &rels[i], HASH_ENTER, &found);
			if (!found)
				build_plans(p);
			undo_one(p, seqs[i], olds[i], news[i]);
		}
	}
	SPI_cursor_close(portal);
	zz_ddl_undo_flush(-1, -1);

	/*
	 * forget the undone batches; the position goes back to target, and so
	 * does its view: the next batch may again come from the view of batch
	 * target (the view of batch target + 1 it replaces is gone with it)
	 */
	zz_as_owner(&saved);
	if (SPI_execute_with_args("DELETE FROM zyzzyva.undo_log WHERE seq > $1",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("DELETE FROM zyzzyva.batch_log WHERE seq > $1",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("DELETE FROM zyzzyva.ddl_log WHERE seq > $1",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("UPDATE zyzzyva.replica_state SET last_seq = $1, "
							  "last_history = coalesce("
							  "(SELECT history FROM zyzzyva.batch_log WHERE seq = $1), "
							  "CASE WHEN stable_seq = $1 THEN stable_history END, "
							  "CASE WHEN $1 = 0 THEN decode(repeat('00', 32), 'hex') END), "
							  "view = coalesce("
							  "(SELECT view FROM zyzzyva.batch_log WHERE seq = $1), "
							  "CASE WHEN $1 = 0 THEN 0 END, view), "
							  "max_cc = CASE WHEN max_cc_seq > $1 THEN NULL ELSE max_cc END, "
							  "max_cc_seq = least(max_cc_seq, $1) "
							  "WHERE id = 1",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the rollback to batch " INT64_FORMAT, target);
	zz_restore_user(&saved);

	SPI_finish();
	zz_leave_mode();
	PG_RETURN_INT64(last_seq - target);
}

/*
 * zyzzyva.mark_stable(seq bigint, state_digest bytea, proof bytea)
 * returns bigint
 *
 * Record that batch seq is a stable checkpoint (2f+1 matching CHECKPOINTs,
 * whose messages the daemon passes as proof, with the agreed digest), and
 * delete the undo at or below it and the batches below it, which can no
 * longer be needed.  Returns the number of undo records deleted.
 */
Datum
zyzzyva_mark_stable(PG_FUNCTION_ARGS)
{
	int64		seq;
	int64		last_seq,
				stable_seq,
				max_cc_seq;
	Oid			argtypes[3] = {INT8OID, BYTEAOID, BYTEAOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	ZzSavedUser saved;
	uint64		deleted;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("seq must not be null")));
	seq = PG_GETARG_INT64(0);
	zz_enter_mode(ZZ_MODE_ADMIN, "zyzzyva.mark_stable()");

	/*
	 * A stable checkpoint is what a restarted replica resumes from: durable
	 * even when the batches commit asynchronously (docs/durability.md).
	 * Its commit record flushes the WAL of every batch before it too.
	 */
	ForceSyncCommit();

	SPI_connect();
	read_marks(&last_seq, &stable_seq, &max_cc_seq, true);
	if (seq < stable_seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot mark batch " INT64_FORMAT " stable: batch "
						INT64_FORMAT " is already a stable checkpoint",
						seq, stable_seq),
				 errdetail("The stable checkpoint never moves backwards.")));
	if (seq > last_seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot mark batch " INT64_FORMAT " stable: the last applied batch is "
						INT64_FORMAT, seq, last_seq)));

	values[0] = Int64GetDatum(seq);
	for (int i = 1; i <= 2; i++)
	{
		if (PG_ARGISNULL(i))
			nulls[i] = 'n';
		else
			values[i] = PG_GETARG_DATUM(i);
	}

	/* what the undo of schema changes kept goes with the undo (ddl_evolve_undo.c) */
	zz_ddl_purge(seq);
	zz_as_owner(&saved);
	if (SPI_execute_with_args("UPDATE zyzzyva.replica_state SET stable_seq = $1, "
							  "stable_history = CASE WHEN stable_seq = $1 THEN stable_history "
							  "ELSE (SELECT history FROM zyzzyva.batch_log WHERE seq = $1) END, "
							  "stable_digest = $2, stable_proof = $3 WHERE id = 1",
							  3, argtypes, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record stable checkpoint " INT64_FORMAT, seq);
	if (SPI_execute_with_args("DELETE FROM zyzzyva.undo_log WHERE seq <= $1",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete undo below " INT64_FORMAT, seq);
	deleted = SPI_processed;
	if (SPI_execute_with_args("DELETE FROM zyzzyva.batch_log WHERE seq < $1",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete batches below " INT64_FORMAT, seq);
	zz_restore_user(&saved);
	SPI_finish();
	zz_leave_mode();
	PG_RETURN_INT64((int64) deleted);
}

/*
 * zyzzyva.record_commit(seq bigint, cc bytea) returns boolean
 *
 * Keep the highest commit certificate this replica holds (the daemon's
 * encoding, stored as it comes), if seq is above the current one and has
 * been applied here.  Returns whether it was adopted.
 */
Datum
zyzzyva_record_commit(PG_FUNCTION_ARGS)
{
	int64		seq;
	int64		last_seq,
				stable_seq,
				max_cc_seq;
	Oid			argtypes[2] = {INT8OID, BYTEAOID};
	Datum		values[2];
	ZzSavedUser saved;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("seq and cc must not be null")));
	seq = PG_GETARG_INT64(0);
	zz_enter_mode(ZZ_MODE_ADMIN, "zyzzyva.record_commit()");

	SPI_connect();
	read_marks(&last_seq, &stable_seq, &max_cc_seq, true);
	if (seq > last_seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot record a commit certificate for batch " INT64_FORMAT
						": the last applied batch is " INT64_FORMAT, seq, last_seq)));
	if (seq <= max_cc_seq)
	{
		SPI_finish();
		zz_leave_mode();
		PG_RETURN_BOOL(false);
	}
	values[0] = Int64GetDatum(seq);
	values[1] = PG_GETARG_DATUM(1);
	zz_as_owner(&saved);
	if (SPI_execute_with_args("UPDATE zyzzyva.replica_state SET max_cc_seq = $1, max_cc = $2 "
							  "WHERE id = 1",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the commit certificate of batch " INT64_FORMAT, seq);
	zz_restore_user(&saved);
	SPI_finish();
	zz_leave_mode();
	PG_RETURN_BOOL(true);
}
