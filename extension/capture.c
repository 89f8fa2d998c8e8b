/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The row-change trigger on replicated tables.
 *
 * replicate_table() installs two triggers, enabled ALWAYS so that
 * session_replication_role cannot switch them off: zyzzyva.guard(), BEFORE
 * each statement, refuses writes outside replicated execution (and
 * TRUNCATE always) before anything runs; zyzzyva.capture(), AFTER each row,
 * when the row's final version is known (BEFORE triggers have run), does,
 * by mode:
 *
 *	 apply		record the undo (before- and after-image, keyed by sequence
 *				number and order; kept in memory and inserted into
 *				zyzzyva.undo_log once per batch, see ZzUndoRecord) and update
 *				the digest;
 *	 undo		update the digest only (rollback_to() is replaying undo);
 *	 install	nothing (install_snapshot() replaces every row and sets the
 *				digest itself, and a snapshot has no undo);
 *	 otherwise	refuse the write: replicated tables change only through
 *				replicated functions, in the agreed order, on every replica.
 *
 * The images are rows in canonical text (record_out under the pinned
 * settings), which is also what the digest hashes; rollback_to() turns them
 * back into rows with the table's row type input.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_capture);
PG_FUNCTION_INFO_V1(zyzzyva_guard);

/*
 * The undo records of the running batch, not yet in zyzzyva.undo_log.
 * Inserting each one as it came cost a statement execution per changed row,
 * and each execution read the table's CHECK constraints from their stored
 * text again; apply_batch() inserts them all with one statement instead
 * (zz_undo_flush), in the batch's transaction, before it records the batch.
 * A record remembers the subtransaction that made it: the abort of that
 * subtransaction (a request's ERROR, an EXCEPTION block) takes it back,
 * exactly as it would have taken back the inserted row.
 */
typedef struct ZzUndoRecord
{
	SubTransactionId subid;
	int64		seq;
	int32		ord;
	int32		request;
	Oid			rel;
	Datum		old_row;		/* text, or 0 for NULL */
	Datum		new_row;		/* text, or 0 for NULL */
} ZzUndoRecord;

static MemoryContext undo_cxt = NULL;
static ZzUndoRecord *undo_buf = NULL;
static int	undo_n = 0;
static int	undo_max = 0;
static Size undo_bytes = 0;

static SPIPlanPtr undo_insert_plan = NULL;

/*
 * Append one undo record for the current request in the current batch.
 */
static void
write_undo(Relation rel, const char *oldtext, const char *newtext)
{
	MemoryContext oldcxt;
	ZzUndoRecord *r;

	if (undo_cxt == NULL)
		undo_cxt = AllocSetContextCreate(TopMemoryContext, "zyzzyva undo records",
										 ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(undo_cxt);
	if (undo_n == undo_max)
	{
		undo_max = Max(64, undo_max * 2);
		undo_buf = undo_buf == NULL ?
			palloc(sizeof(ZzUndoRecord) * undo_max) :
			repalloc(undo_buf, sizeof(ZzUndoRecord) * undo_max);
	}
	r = &undo_buf[undo_n];
	r->subid = GetCurrentSubTransactionId();
	r->seq = zz_exec.seq;
	r->ord = zz_exec.undo_ord;
	r->request = zz_exec.request;
	r->rel = RelationGetRelid(rel);
	r->old_row = oldtext ? CStringGetTextDatum(oldtext) : (Datum) 0;
	r->new_row = newtext ? CStringGetTextDatum(newtext) : (Datum) 0;
	MemoryContextSwitchTo(oldcxt);
	undo_n++;
	undo_bytes += sizeof(ZzUndoRecord) + (oldtext ? strlen(oldtext) : 0) +
		(newtext ? strlen(newtext) : 0);
	zz_exec.undo_ord++;
}

/*
 * Bytes of undo records waiting for zz_undo_flush.
 */
Size
zz_undo_pending(void)
{
	return undo_n > 0 ? undo_bytes : 0;
}

/*
 * Forget the undo records made in subtransaction subid and in the ones it
 * began: it aborted.  Records are appended in order, and subtransaction
 * ids grow, so they are the last ones.
 */
void
zz_undo_subxact_abort(SubTransactionId subid)
{
	while (undo_n > 0 && undo_buf[undo_n - 1].subid >= subid)
		undo_n--;
}

/*
 * Forget every waiting undo record (the batch's transaction ended, or the
 * records were inserted).
 */
void
zz_undo_discard(void)
{
	undo_n = 0;
	undo_max = 0;
	undo_bytes = 0;
	undo_buf = NULL;
	if (undo_cxt != NULL)
		MemoryContextReset(undo_cxt);
}

/*
 * Insert the waiting undo records into zyzzyva.undo_log, with one
 * statement, in the current (sub)transaction.  The caller must be outside
 * every subtransaction that made one of them (between requests), so that
 * the rows are no more subject to rollback than the records were.
 */
void
zz_undo_flush(void)
{
	Oid			argtypes[6] = {INT8ARRAYOID, INT4ARRAYOID, INT4ARRAYOID, OIDARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[6];
	Datum	   *cols[6];
	bool	   *nulls[6];
	int			dims[1];
	int			lbs[1] = {1};
	ZzSavedUser saved;
	int			n = undo_n;

	if (n == 0)
		return;
	for (int c = 0; c < 6; c++)
	{
		cols[c] = palloc(sizeof(Datum) * n);
		nulls[c] = palloc0(sizeof(bool) * n);
	}
	for (int i = 0; i < n; i++)
	{
		ZzUndoRecord *r = &undo_buf[i];

		Assert(r->subid <= GetCurrentSubTransactionId());
		cols[0][i] = Int64GetDatum(r->seq);
		cols[1][i] = Int32GetDatum(r->ord);
		cols[2][i] = Int32GetDatum(r->request);
		cols[3][i] = ObjectIdGetDatum(r->rel);
		cols[4][i] = r->old_row;
		nulls[4][i] = r->old_row == (Datum) 0;
		cols[5][i] = r->new_row;
		nulls[5][i] = r->new_row == (Datum) 0;
	}
	dims[0] = n;
	values[0] = PointerGetDatum(construct_md_array(cols[0], nulls[0], 1, dims, lbs,
												   INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_md_array(cols[1], nulls[1], 1, dims, lbs,
												   INT4OID, 4, true, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_md_array(cols[2], nulls[2], 1, dims, lbs,
												   INT4OID, 4, true, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_md_array(cols[3], nulls[3], 1, dims, lbs,
												   OIDOID, 4, true, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_md_array(cols[4], nulls[4], 1, dims, lbs,
												   TEXTOID, -1, false, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_md_array(cols[5], nulls[5], 1, dims, lbs,
												   TEXTOID, -1, false, TYPALIGN_INT));

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_plan(zz_keep_plan(&undo_insert_plan,
									  "INSERT INTO zyzzyva.undo_log "
									  "(seq, ord, request, rel, old_row, new_row) "
									  "SELECT * FROM unnest($1, $2, $3, $4, $5, $6)",
									  6, argtypes),
						 values, NULL, false, 0) != SPI_OK_INSERT ||
		SPI_processed != (uint64) n)
		elog(ERROR, "could not write the undo records");
	SPI_finish();
	zz_restore_user(&saved);
	for (int c = 0; c < 6; c++)
	{
		pfree(DatumGetPointer(values[c]));
		pfree(cols[c]);
		pfree(nulls[c]);
	}
	zz_undo_discard();
}

/*
 * Refuse a write to a replicated table outside replicated execution.
 */
static void
refuse_write(Relation rel, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot %s replicated table \"%s\" outside replicated execution",
					what, RelationGetRelationName(rel)),
			 errdetail("Replicated tables change only through replicated functions, so that every replica applies the same changes in the same order."),
			 errhint("Call a replicated function (see zyzzyva.replicated_functions) to change this table.")));
}

/*
 * zyzzyva.capture(): the AFTER INSERT OR UPDATE OR DELETE row trigger of a
 * replicated table.  See the file header.
 */
Datum
zyzzyva_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	oldtup = NULL,
				newtup = NULL;
	char	   *qualname;
	char	   *oldtext = NULL,
			   *newtext = NULL;
	ZzLtHash	h;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("zyzzyva.capture() must be called as an AFTER ROW trigger")));

	rel = trigdata->tg_relation;
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		newtup = trigdata->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		oldtup = trigdata->tg_trigtuple;
		newtup = trigdata->tg_newtuple;
	}
	else
		oldtup = trigdata->tg_trigtuple;

	/* whether zyzzyva.sequence_state has rows may have changed */
	if (oldtup == NULL || newtup == NULL)
		zz_sequences_row_changed(rel);

	/* install_snapshot() sets the digest itself and keeps no undo */
	if (zz_exec.mode == ZZ_MODE_INSTALL)
		return PointerGetDatum(NULL);

	/* zyzzyva.guard() refused this already, unless the mode ended since */
	if (zz_exec.mode != ZZ_MODE_APPLY && zz_exec.mode != ZZ_MODE_UNDO)
		refuse_write(rel, newtup == NULL ? "delete from" :
					 oldtup == NULL ? "insert into" : "update");

	qualname = zz_relation_qualname(rel);
	if (oldtup != NULL)
	{
		oldtext = zz_row_text(rel, oldtup);
		zz_row_hash(&h, qualname, oldtext);
		zz_lthash_sub(&zz_exec.lanes, &h);
	}
	if (newtup != NULL)
	{
		newtext = zz_row_text(rel, newtup);
		zz_row_hash(&h, qualname, newtext);
		zz_lthash_add(&zz_exec.lanes, &h);
	}
	zz_exec.lanes_dirty = true;

	if (zz_exec.mode == ZZ_MODE_APPLY)
		write_undo(rel, oldtext, newtext);

	return PointerGetDatum(NULL);
}

/*
 * zyzzyva.guard(): the BEFORE statement trigger of a replicated table, for
 * INSERT, UPDATE, DELETE and TRUNCATE.  It refuses a write outside
 * replicated execution before any row changes or any user trigger runs,
 * and refuses TRUNCATE always: it fires no row triggers, so it would change
 * rows without undo or digest.
 */
Datum
zyzzyva_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TriggerEvent event;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("zyzzyva.guard() must be called as a BEFORE statement trigger")));

	rel = trigdata->tg_relation;
	event = trigdata->tg_event;
	if (TRIGGER_FIRED_BY_TRUNCATE(event))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot truncate replicated table \"%s\"",
						RelationGetRelationName(rel)),
				 errhint("Delete the rows through a replicated function, which records undo and keeps the digest.")));
	if (zz_exec.mode != ZZ_MODE_APPLY && zz_exec.mode != ZZ_MODE_UNDO &&
		zz_exec.mode != ZZ_MODE_INSTALL)
		refuse_write(rel, TRIGGER_FIRED_BY_INSERT(event) ? "insert into" :
					 TRIGGER_FIRED_BY_UPDATE(event) ? "update" : "delete from");
	return PointerGetDatum(NULL);
}
