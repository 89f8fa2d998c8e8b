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
 *				number and order) and update the digest;
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

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_capture);
PG_FUNCTION_INFO_V1(zyzzyva_guard);

static SPIPlanPtr undo_insert_plan = NULL;

/*
 * Append one undo record for the current request in the current batch.
 */
static void
write_undo(Relation rel, const char *oldtext, const char *newtext)
{
	Oid			argtypes[6] = {INT8OID, INT4OID, INT4OID, OIDOID, TEXTOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Oid			saved_user;
	int			saved_sec;

	values[0] = Int64GetDatum(zz_exec.seq);
	values[1] = Int32GetDatum(zz_exec.undo_ord);
	values[2] = Int32GetDatum(zz_exec.request);
	values[3] = ObjectIdGetDatum(RelationGetRelid(rel));
	if (oldtext)
		values[4] = CStringGetTextDatum(oldtext);
	else
		nulls[4] = 'n';
	if (newtext)
		values[5] = CStringGetTextDatum(newtext);
	else
		nulls[5] = 'n';

	zz_as_owner(&saved_user, &saved_sec);
	SPI_connect();
	if (SPI_execute_plan(zz_keep_plan(&undo_insert_plan,
									  "INSERT INTO zyzzyva.undo_log "
									  "(seq, ord, request, rel, old_row, new_row) "
									  "VALUES ($1, $2, $3, $4, $5, $6)",
									  6, argtypes),
						 values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write an undo record");
	SPI_finish();
	zz_restore_user(saved_user, saved_sec);
	zz_exec.undo_ord++;
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
