/*-------------------------------------------------------------------------
 *
 * ddl_evolve.c
 *	  Schema evolution in a replicated DDL request: ALTER TABLE, RENAME,
 *	  DROP, CREATE OR REPLACE FUNCTION, GRANT and REVOKE on objects that
 *	  exist already, each with an exact undo (docs/ddl.md).
 *
 * ddl.c lets a request create objects and undoes it by dropping them.  A
 * change to an object that exists needs an undo that restores the earlier
 * definition exactly, since a speculative batch may be rolled back and the
 * replica must then equal the replicas that never applied it (the state
 * digest covers the replicated definitions).  Each supported statement
 * records, before or after it runs, one undo record (zyzzyva.undo_log,
 * rel = 0) whose target is a small JSON object saying how to restore:
 *
 *	 run_sql		  run statements as the extension's owner (the inverse of
 *					  ADD COLUMN, ADD/DROP CONSTRAINT, SET/DROP DEFAULT,
 *					  SET/DROP NOT NULL, RENAME COLUMN/INDEX, DROP INDEX,
 *					  CREATE OR REPLACE FUNCTION), rehashing the table's
 *					  rows in the digest if it is replicated (rel);
 *	 rename_table	  rename back, and the registry with it;
 *	 rename_function  rename back, and the registry with it;
 *	 undrop_table	  DROP TABLE moved the table, with its rows, indexes,
 *					  triggers and grants, into a schema of its own
 *					  (zyzzyva_undo_<seq>_<ord>); undo moves it back, puts
 *					  back its foreign keys and its registry row;
 *	 undrop_function  the same for DROP FUNCTION;
 *	 undrop_column	  DROP COLUMN only marks the attribute dropped; undo
 *					  marks it live again (name, type, NOT NULL), puts back
 *					  its default, constraints and indexes, and the values
 *					  saved before the drop;
 *	 retype_column	  ALTER COLUMN TYPE: convert back, and put back the
 *					  values saved before;
 *	 restore_acl	  GRANT/REVOKE: the ACL as it was, with its shared
 *					  dependencies.
 *
 * What a drop keeps lives in zyzzyva_undo_<seq>_<ord> schemas until the
 * batch is below a stable checkpoint (mark_stable drops them, zz_ddl_purge)
 * or a snapshot is installed.  A drop is first run for real in a
 * subtransaction that is rolled back, so that it fails exactly when DROP
 * ... RESTRICT would (dependent views, foreign keys, triggers).
 *
 * This file writes the undo records; ddl_evolve_undo.c carries them out
 * and purges what the drops kept.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_shdepend.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "parser/parse_type.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "zyzzyva.h"
#include "ddl_int.h"

/* ------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------ */

/* the target of an undo record: {"k": "v", ...}, values text or null */
static void
jbegin(StringInfo buf)
{
	initStringInfo(buf);
	appendStringInfoChar(buf, '{');
}

static void
jadd(StringInfo buf, const char *key, const char *val)
{
	if (buf->len > 1)
		appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
	if (val == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, val);
}

static char *
jend(StringInfo buf)
{
	appendStringInfoChar(buf, '}');
	return buf->data;
}

/*
 * Run statements as the extension's owner, past the ProcessUtility hook's
 * checks (they are the extension's own), with search_path = pg_catalog,
 * pg_temp: every name in them is qualified.
 */
void
zz_ddl_run_internal(const char *sql)
{
	ZzSavedUser saved;
	int			rc;

	zz_as_owner(&saved);
	zz_ddl_internal_begin();
	SPI_connect();
	rc = SPI_execute(sql, false, 0);
	if (rc < 0)
		elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(rc));
	SPI_finish();
	zz_ddl_internal_end();
	zz_restore_user(&saved);
	CommandCounterIncrement();
}

/*
 * One value of a query run as the extension's owner with the safe
 * search_path (so that names print qualified); NULL if no row or NULL.
 */
static char *
query_value(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	ZzSavedUser saved;
	char	   *result = NULL;

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not run \"%s\"", sql);
	if (SPI_processed > 0)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			result = MemoryContextStrdup(CurTransactionContext, v);
	}
	SPI_finish();
	zz_restore_user(&saved);
	return result;
}

char *
zz_ddl_qualname_of(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * Is relid a replicated table?  (By name: the registry names tables.)
 */
static bool
rel_is_replicated(Oid relid)
{
	Oid			argtypes[2] = {NAMEOID, NAMEOID};
	Datum		values[2];

	if (!OidIsValid(relid) || get_rel_name(relid) == NULL)
		return false;
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(get_namespace_name(get_rel_namespace(relid))));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(get_rel_name(relid)));
	return query_value("SELECT 'y' FROM zyzzyva.table_registry "
					   "WHERE schema_name OPERATOR(pg_catalog.=) $1 "
					   "AND table_name OPERATOR(pg_catalog.=) $2",
					   2, argtypes, values) != NULL;
}

/* run a registry statement as the extension's owner */
uint64
zz_ddl_registry_run(const char *sql, int nargs, Datum *values)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	ZzSavedUser saved;
	uint64		n;

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0) < 0)
		elog(ERROR, "could not update the zyzzyva registry");
	n = SPI_processed;
	SPI_finish();
	zz_restore_user(&saved);
	return n;
}

/*
 * The rows of a replicated table leave or enter the digest (sign -1 or
 * +1), read as they are now.
 */
void
zz_ddl_lanes_table(const char *qualname, int sign)
{
	ZzLtHash	rows;
	ZzSavedUser saved;

	zz_lthash_zero(&rows);
	zz_as_owner(&saved);
	zz_digest_table_rows(qualname, &rows, true);
	zz_restore_user(&saved);
	if (sign < 0)
		zz_lthash_sub(&zz_exec.lanes, &rows);
	else
		zz_lthash_add(&zz_exec.lanes, &rows);
	zz_exec.lanes_dirty = true;
}

void
zz_ddl_rehash_begin(ZzRehash *rh, Oid relid)
{
	rh->active = rel_is_replicated(relid);
	if (!rh->active)
		return;
	zz_ddl_lanes_table(zz_ddl_qualname_of(relid), -1);
	rh->lanes = zz_exec.lanes;
}

void
zz_ddl_rehash_end(ZzRehash *rh, Oid relid)
{
	if (!rh->active)
		return;
	zz_exec.lanes = rh->lanes;
	zz_ddl_lanes_table(zz_ddl_qualname_of(relid), +1);
}

/* the schema that keeps what undo record (seq, ord) needs */
static char *
undo_schema_name(int64 seq, int32 ord)
{
	return psprintf("zyzzyva_undo_" INT64_FORMAT "_%d", seq, ord);
}

/*
 * Save every row of a table (canonical text) in schema nsp, for an undo
 * that must put back values a change converts or drops.  Only for tables
 * with a primary key: the values go back by key.
 */
static bool
save_rows(Oid relid, const char *nsp)
{
	Relation	rel = table_open(relid, AccessShareLock);
	bool		haspk = OidIsValid(RelationGetPrimaryKeyIndex(rel));

	table_close(rel, AccessShareLock);
	if (!haspk)
		return false;
	zz_ddl_run_internal(psprintf("CREATE TABLE %s.saved_rows AS SELECT (t.*)::pg_catalog.text AS r "
								 "FROM ONLY %s AS t",
								 quote_identifier(nsp), zz_ddl_qualname_of(relid)));
	return true;
}

/* the names and definitions of a table's constraints and indexes */
List *
zz_ddl_table_parts(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	ZzSavedUser saved;
	List	   *parts = NIL;
	MemoryContext cxt = CurrentMemoryContext;

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT 'c' OPERATOR(pg_catalog.||) c.conname, "
							  "pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', "
							  "c.conrelid::pg_catalog.regclass, c.conname, "
							  "pg_catalog.pg_get_constraintdef(c.oid)) "
							  "FROM pg_catalog.pg_constraint c WHERE c.conrelid OPERATOR(pg_catalog.=) $1 "
							  "UNION ALL SELECT 'i' OPERATOR(pg_catalog.||) i.indexrelid::pg_catalog.regclass::pg_catalog.text, "
							  "pg_catalog.pg_get_indexdef(i.indexrelid) "
							  "FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) $1 "
							  "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c "
							  "WHERE c.conindid OPERATOR(pg_catalog.=) i.indexrelid "
							  "AND c.conrelid OPERATOR(pg_catalog.=) $1)",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the constraints of a table");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		parts = lappend(parts, list_make2(pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)),
										  pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2))));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	zz_restore_user(&saved);
	return parts;
}

/* the statements that recreate the parts in before that after lacks */
static char *
parts_lost(List *before, List *after)
{
	StringInfoData sql;
	ListCell   *lc,
			   *lc2;

	initStringInfo(&sql);
	foreach(lc, before)
	{
		List	   *b = lfirst(lc);
		bool		kept = false;

		foreach(lc2, after)
			if (strcmp(linitial(b), linitial((List *) lfirst(lc2))) == 0)
				kept = true;
		if (!kept)
			appendStringInfo(&sql, "%s;\n", (char *) lsecond(b));
	}
	return sql.data;
}

/* parts as one string: name US definition RS ... */
static char *
parts_encode(List *parts)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, parts)
		appendStringInfo(&buf, "%s\x1f%s\x1e", (char *) linitial((List *) lfirst(lc)),
						 (char *) lsecond((List *) lfirst(lc)));
	return buf.data;
}

/* the current default of a column, as SQL, or NULL */
static char *
column_default(Oid relid, AttrNumber attnum)
{
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2] = {ObjectIdGetDatum(relid), Int16GetDatum(attnum)};

	return query_value("SELECT pg_catalog.pg_get_expr(adbin, adrelid) FROM pg_catalog.pg_attrdef "
					   "WHERE adrelid OPERATOR(pg_catalog.=) $1 AND adnum OPERATOR(pg_catalog.=) $2",
					   2, argtypes, values);
}

static char *
set_default_sql(const char *q, const char *col, const char *def)
{
	if (def == NULL)
		return psprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", q, quote_identifier(col));
	return psprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", q, quote_identifier(col), def);
}

static void
record(const char *action, char *target)
{
	zz_ddl_record_registration(action, target);
}

static void
record_sql(const char *sql, Oid relid)
{
	StringInfoData t;

	jbegin(&t);
	jadd(&t, "sql", sql);
	jadd(&t, "rel", OidIsValid(relid) ? zz_ddl_qualname_of(relid) : NULL);
	record("run_sql", jend(&t));
}

/*
 * Run a DROP for real in a subtransaction and roll it back: it fails
 * exactly when DROP ... RESTRICT would.
 */
static void
try_drop(const char *sql)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		zz_ddl_internal_begin();
		SPI_connect();
		if (SPI_execute(sql, false, 0) < 0)
			elog(ERROR, "could not run \"%s\"", sql);
		SPI_finish();
		zz_ddl_internal_end();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		zz_ddl_internal_end();
		ReThrowError(edata);
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
}

/* ------------------------------------------------------------------
 * Forward: what each statement records
 * ------------------------------------------------------------------ */

static void
refuse(const char *what, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s is not supported in a replicated DDL request", what),
			 errdetail("%s", why),
			 errhint("See docs/ddl.md for the schema changes a replicated DDL request supports.")));
}

/*
 * Does a new column bring a sequence of its own (serial, bigserial,
 * smallserial, or GENERATED ... AS IDENTITY)?  The statement is as parsed:
 * serial is still a type name here.
 */
static bool
column_makes_sequence(ColumnDef *cd)
{
	ListCell   *lc;

	if (cd->identity)
		return true;
	foreach(lc, cd->constraints)
		if (lfirst_node(Constraint, lc)->contype == CONSTR_IDENTITY)
			return true;
	if (cd->typeName != NULL && cd->typeName->arrayBounds == NIL &&
		list_length(cd->typeName->names) >= 1)
	{
		const char *t = strVal(llast(cd->typeName->names));

		if (strcmp(t, "serial") == 0 || strcmp(t, "bigserial") == 0 ||
			strcmp(t, "smallserial") == 0 || strcmp(t, "serial2") == 0 ||
			strcmp(t, "serial4") == 0 || strcmp(t, "serial8") == 0)
			return true;
	}
	return false;
}

/*
 * ALTER TABLE on a table the request did not create: one subcommand of a
 * supported kind.  run runs the statement.
 */
void
zz_ddl_alter_table(AlterTableStmt *at, Oid relid, void (*run) (void *), void *arg)
{
	AlterTableCmd *cmd;
	const char *q;
	ZzRehash	rh;
	bool		replicated;

	if (list_length(at->cmds) != 1)
		refuse("ALTER TABLE with several subcommands",
			   "Write one change per ALTER TABLE statement; the statements of one request still apply and roll back together.");
	if (at->objtype != OBJECT_TABLE)
		refuse("ALTER of this kind of relation", "Only tables may be altered.");
	cmd = linitial_node(AlterTableCmd, at->cmds);
	if (cmd->behavior == DROP_CASCADE)
		refuse("CASCADE", "A replicated DDL request drops only what it names (RESTRICT).");
	q = zz_ddl_qualname_of(relid);
	replicated = rel_is_replicated(relid);

	switch (cmd->subtype)
	{
		case AT_AddColumn:
			{
				ColumnDef  *cd = castNode(ColumnDef, cmd->def);

				if (column_makes_sequence(cd))
					refuse("ADD COLUMN of a serial or identity column",
						   "Its undo would have to take the new sequence out of replication too; create the sequence in one request (CREATE SEQUENCE, zyzzyva.replicate_sequence) and add the column with DEFAULT nextval() of it in another.");
				zz_ddl_rehash_begin(&rh, relid);
				run(arg);
				zz_ddl_rehash_end(&rh, relid);
				if (get_attnum(relid, cd->colname) == InvalidAttrNumber)
					break;		/* IF NOT EXISTS on an existing column */
				record_sql(psprintf("ALTER TABLE %s DROP COLUMN %s", q,
									quote_identifier(cd->colname)), relid);
				break;
			}
		case AT_DropColumn:
			{
				AttrNumber	attnum = get_attnum(relid, cmd->name);
				HeapTuple	tup;
				Form_pg_attribute att;
				List	   *before;
				char	   *nsp;
				char	   *def;
				bool		saved;
				StringInfoData t;

				if (attnum == InvalidAttrNumber)
				{
					run(arg);	/* IF EXISTS, or its error */
					break;
				}
				tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
				if (!HeapTupleIsValid(tup))
					elog(ERROR, "cache lookup failed for attribute %d of %u", attnum, relid);
				att = (Form_pg_attribute) GETSTRUCT(tup);
				if (att->attidentity || att->attgenerated)
					refuse("DROP COLUMN of an identity or generated column",
						   "Its undo could not restore the sequence or the generation expression.");
				if (attnum < 0)
					refuse("DROP COLUMN of a system column", "");
				nsp = undo_schema_name(zz_exec.seq, zz_exec.undo_ord);
				zz_ddl_run_internal(psprintf("CREATE SCHEMA %s", quote_identifier(nsp)));
				saved = save_rows(relid, nsp);
				def = column_default(relid, attnum);
				before = zz_ddl_table_parts(relid);

				jbegin(&t);
				jadd(&t, "rel", q);
				jadd(&t, "nsp", nsp);
				jadd(&t, "attnum", psprintf("%d", attnum));
				jadd(&t, "name", NameStr(att->attname));
				jadd(&t, "type", psprintf("%u", att->atttypid));
				jadd(&t, "typmod", psprintf("%d", att->atttypmod));
				jadd(&t, "collation", psprintf("%u", att->attcollation));
				jadd(&t, "notnull", att->attnotnull ? "t" : "f");
				jadd(&t, "rows", saved ? "t" : "f");
				ReleaseSysCache(tup);

				zz_ddl_rehash_begin(&rh, relid);
				run(arg);
				zz_ddl_rehash_end(&rh, relid);
				jadd(&t, "sql", psprintf("%s%s", def ? psprintf("%s;\n", set_default_sql(q, cmd->name, def)) : "",
										 parts_lost(before, zz_ddl_table_parts(relid))));
				record("undrop_column", jend(&t));
				break;
			}
		case AT_AlterColumnType:
			{
				AttrNumber	attnum = get_attnum(relid, cmd->name);
				HeapTuple	tup;
				Form_pg_attribute att;
				char	   *nsp;
				char	   *def;
				char	   *type;
				char	   *parts;
				bool		saved;
				StringInfoData t;

				if (attnum == InvalidAttrNumber)
				{
					run(arg);
					break;
				}
				tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
				if (!HeapTupleIsValid(tup))
					elog(ERROR, "cache lookup failed for attribute %d of %u", attnum, relid);
				att = (Form_pg_attribute) GETSTRUCT(tup);
				type = format_type_extended(att->atttypid, att->atttypmod,
											FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
				if (OidIsValid(att->attcollation))
					type = psprintf("%s COLLATE %s", type,
									generate_collation_name(att->attcollation));
				ReleaseSysCache(tup);
				nsp = undo_schema_name(zz_exec.seq, zz_exec.undo_ord);
				zz_ddl_run_internal(psprintf("CREATE SCHEMA %s", quote_identifier(nsp)));
				saved = save_rows(relid, nsp);
				def = column_default(relid, attnum);
				parts = parts_encode(zz_ddl_table_parts(relid));

				zz_ddl_rehash_begin(&rh, relid);
				run(arg);
				zz_ddl_rehash_end(&rh, relid);

				jbegin(&t);
				jadd(&t, "rel", q);
				jadd(&t, "nsp", nsp);
				jadd(&t, "rows", saved ? "t" : "f");
				jadd(&t, "parts", parts);
				jadd(&t, "sql", psprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT;\n"
										 "ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s::pg_catalog.text::%s;\n"
										 "%s",
										 q, quote_identifier(cmd->name),
										 q, quote_identifier(cmd->name), type,
										 quote_identifier(cmd->name),
										 format_type_extended(get_atttype(relid, attnum), -1, FORMAT_TYPE_FORCE_QUALIFY),
										 set_default_sql(q, cmd->name, def)));
				record("retype_column", jend(&t));
				break;
			}
		case AT_AddConstraint:
			{
				List	   *before = zz_ddl_table_parts(relid);
				List	   *after;
				ListCell   *lc,
						   *lc2;

				run(arg);
				after = zz_ddl_table_parts(relid);
				foreach(lc, after)
				{
					List	   *a = lfirst(lc);
					bool		old = false;

					foreach(lc2, before)
						if (strcmp(linitial(a), linitial((List *) lfirst(lc2))) == 0)
							old = true;
					if (old)
						continue;
					if (((char *) linitial(a))[0] == 'c')
						record_sql(psprintf("ALTER TABLE %s DROP CONSTRAINT %s", q,
											quote_identifier((char *) linitial(a) + 1)), InvalidOid);
				}
				break;
			}
		case AT_DropConstraint:
			{
				Oid			argtypes[2] = {OIDOID, NAMEOID};
				Datum		values[2];
				char	   *def;
				char	   *type;

				values[0] = ObjectIdGetDatum(relid);
				values[1] = DirectFunctionCall1(namein, CStringGetDatum(cmd->name));
				type = query_value("SELECT contype::pg_catalog.text FROM pg_catalog.pg_constraint "
								   "WHERE conrelid OPERATOR(pg_catalog.=) $1 AND conname OPERATOR(pg_catalog.=) $2",
								   2, argtypes, values);
				if (type != NULL && strcmp(type, "p") == 0 && replicated)
					refuse("dropping the primary key of a replicated table",
						   "Undo and state transfer find its rows by the primary key.");
				def = query_value("SELECT pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', "
								  "conrelid::pg_catalog.regclass, conname, pg_catalog.pg_get_constraintdef(oid)) "
								  "FROM pg_catalog.pg_constraint "
								  "WHERE conrelid OPERATOR(pg_catalog.=) $1 AND conname OPERATOR(pg_catalog.=) $2",
								  2, argtypes, values);
				run(arg);
				if (def != NULL)
					record_sql(def, InvalidOid);
				break;
			}
		case AT_ColumnDefault:
			{
				AttrNumber	attnum = get_attnum(relid, cmd->name);
				char	   *def = attnum > 0 ? column_default(relid, attnum) : NULL;

				run(arg);
				record_sql(set_default_sql(q, cmd->name, def), InvalidOid);
				break;
			}
		case AT_SetNotNull:
		case AT_DropNotNull:
			{
				AttrNumber	attnum = get_attnum(relid, cmd->name);
				HeapTuple	tup;
				bool		notnull = false;

				if (attnum > 0)
				{
					tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
					if (HeapTupleIsValid(tup))
					{
						notnull = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
						ReleaseSysCache(tup);
					}
				}
				run(arg);
				record_sql(psprintf("ALTER TABLE %s ALTER COLUMN %s %s NOT NULL", q,
									quote_identifier(cmd->name), notnull ? "SET" : "DROP"),
						   InvalidOid);
				break;
			}
		default:
			refuse("this ALTER TABLE subcommand",
				   "A replicated DDL request may add, drop, rename or retype a column, set or drop its default or NOT NULL, and add or drop a constraint.");
	}
}

/*
 * RENAME of a table, column, index or function.
 */
void
zz_ddl_rename(RenameStmt *rs, void (*run) (void *), void *arg)
{
	StringInfoData t;

	switch (rs->renameType)
	{
		case OBJECT_TABLE:
			{
				Oid			relid = RangeVarGetRelid(rs->relation, NoLock, rs->missing_ok);
				char	   *nsp,
						   *old;
				ZzRehash	rh;
				Datum		values[3];

				if (!OidIsValid(relid))
				{
					run(arg);
					break;
				}
				nsp = get_namespace_name(get_rel_namespace(relid));
				old = get_rel_name(relid);
				zz_ddl_rehash_begin(&rh, relid);
				run(arg);
				if (rh.active)
				{
					values[0] = CStringGetTextDatum(rs->newname);
					values[1] = CStringGetTextDatum(nsp);
					values[2] = CStringGetTextDatum(old);
					zz_ddl_registry_run("UPDATE zyzzyva.table_registry SET table_name = $1::pg_catalog.name "
								 "WHERE schema_name OPERATOR(pg_catalog.=) $2::pg_catalog.name "
								 "AND table_name OPERATOR(pg_catalog.=) $3::pg_catalog.name",
								 3, values);
				}
				zz_ddl_rehash_end(&rh, relid);
				jbegin(&t);
				jadd(&t, "nsp", nsp);
				jadd(&t, "old", old);
				jadd(&t, "new", rs->newname);
				record("rename_table", jend(&t));
				break;
			}
		case OBJECT_COLUMN:
			{
				Oid			relid = RangeVarGetRelid(rs->relation, NoLock, rs->missing_ok);

				run(arg);
				if (OidIsValid(relid))
					record_sql(psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", zz_ddl_qualname_of(relid),
										quote_identifier(rs->newname), quote_identifier(rs->subname)),
							   InvalidOid);
				break;
			}
		case OBJECT_INDEX:
			{
				Oid			relid = RangeVarGetRelid(rs->relation, NoLock, rs->missing_ok);
				char	   *old = OidIsValid(relid) ? get_rel_name(relid) : NULL;

				run(arg);
				if (old != NULL)
					record_sql(psprintf("ALTER INDEX %s RENAME TO %s", zz_ddl_qualname_of(relid),
										quote_identifier(old)), InvalidOid);
				break;
			}
		case OBJECT_FUNCTION:
		case OBJECT_ROUTINE:
		case OBJECT_PROCEDURE:
			{
				Oid			fnoid = LookupFuncWithArgs(rs->renameType, castNode(ObjectWithArgs, rs->object), false);
				char	   *oldsig = format_procedure_qualified(fnoid);
				char	   *oldname = get_func_name(fnoid);
				char	   *newsig;
				Datum		values[3];

				run(arg);
				newsig = format_procedure_qualified(fnoid);
				values[0] = CStringGetTextDatum(newsig);
				values[1] = CStringGetTextDatum(rs->newname);
				values[2] = CStringGetTextDatum(oldsig);
				zz_ddl_registry_run("UPDATE zyzzyva.function_registry SET signature = $1, "
							 "function_name = $2::pg_catalog.name WHERE signature OPERATOR(pg_catalog.=) $3",
							 3, values);
				jbegin(&t);
				jadd(&t, "oldsig", oldsig);
				jadd(&t, "newsig", newsig);
				jadd(&t, "oldname", oldname);
				record("rename_function", jend(&t));
				break;
			}
		default:
			refuse("RENAME of this kind of object", "Tables, columns, indexes and functions may be renamed.");
	}
}

/*
 * DROP TABLE, DROP FUNCTION, DROP INDEX.
 */
void
zz_ddl_drop(DropStmt *ds, void (*run) (void *), void *arg)
{
	ListCell   *lc;

	if (ds->behavior == DROP_CASCADE)
		refuse("DROP ... CASCADE", "A replicated DDL request drops only what it names (RESTRICT).");
	if (ds->concurrent)
		refuse("DROP INDEX CONCURRENTLY", "It cannot run in a transaction block.");
	if (ds->removeType != OBJECT_TABLE && ds->removeType != OBJECT_INDEX &&
		ds->removeType != OBJECT_FUNCTION && ds->removeType != OBJECT_PROCEDURE &&
		ds->removeType != OBJECT_ROUTINE)
		refuse(GetCommandTagName(CreateCommandTag((Node *) ds)),
			   "A replicated DDL request may drop tables, indexes and functions.");
	if (ds->removeType == OBJECT_INDEX)
	{
		foreach(lc, ds->objects)
		{
			RangeVar   *rv = makeRangeVarFromNameList(castNode(List, lfirst(lc)));
			Oid			idx = RangeVarGetRelid(rv, NoLock, true);
			Oid			argtypes[1] = {OIDOID};
			Datum		values[1] = {ObjectIdGetDatum(idx)};

			if (OidIsValid(idx))
				record_sql(query_value("SELECT pg_catalog.pg_get_indexdef($1)", 1, argtypes, values),
						   InvalidOid);
		}
		run(arg);
		return;
	}

	/* tables and functions move aside, after a DROP that is rolled back */
	foreach(lc, ds->objects)
	{
		char	   *nsp = undo_schema_name(zz_exec.seq, zz_exec.undo_ord);
		StringInfoData t;

		if (ds->removeType == OBJECT_TABLE)
		{
			RangeVar   *rv = makeRangeVarFromNameList(castNode(List, lfirst(lc)));
			Oid			relid = RangeVarGetRelid(rv, NoLock, ds->missing_ok);
			char	   *q,
					   *fks;
			bool		replicated;
			Oid			argtypes[1] = {OIDOID};
			Datum		values[3];

			if (!OidIsValid(relid))
				continue;
			if (get_rel_relkind(relid) != RELKIND_RELATION)
				refuse("DROP TABLE of this kind of relation", "Only ordinary tables may be dropped.");
			try_drop(psprintf("DROP TABLE %s", zz_ddl_qualname_of(relid)));
			q = zz_ddl_qualname_of(relid);
			replicated = rel_is_replicated(relid);
			values[0] = ObjectIdGetDatum(relid);
			/* its own foreign keys go: nothing may reach into it where it waits */
			fks = query_value("SELECT pg_catalog.string_agg(pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', "
							  "conrelid::pg_catalog.regclass, conname, pg_catalog.pg_get_constraintdef(oid)), "
							  "E';\\n' ORDER BY conname) FROM pg_catalog.pg_constraint "
							  "WHERE conrelid OPERATOR(pg_catalog.=) $1 AND contype OPERATOR(pg_catalog.=) 'f'",
							  1, argtypes, values);
			if (fks != NULL)
				zz_ddl_run_internal(query_value("SELECT pg_catalog.string_agg(pg_catalog.format("
												"'ALTER TABLE %s DROP CONSTRAINT %I', conrelid::pg_catalog.regclass, conname), ';') "
												"FROM pg_catalog.pg_constraint "
												"WHERE conrelid OPERATOR(pg_catalog.=) $1 AND contype OPERATOR(pg_catalog.=) 'f'",
												1, argtypes, values));
			if (replicated)
			{
				zz_ddl_lanes_table(q, -1);
				values[0] = CStringGetTextDatum(get_namespace_name(get_rel_namespace(relid)));
				values[1] = CStringGetTextDatum(get_rel_name(relid));
				zz_ddl_registry_run("DELETE FROM zyzzyva.table_registry "
							 "WHERE schema_name OPERATOR(pg_catalog.=) $1::pg_catalog.name "
							 "AND table_name OPERATOR(pg_catalog.=) $2::pg_catalog.name",
							 2, values);
			}
			jbegin(&t);
			jadd(&t, "nsp", nsp);
			jadd(&t, "schema", get_namespace_name(get_rel_namespace(relid)));
			jadd(&t, "name", get_rel_name(relid));
			jadd(&t, "replicated", replicated ? "t" : "f");
			jadd(&t, "fks", fks);
			zz_ddl_run_internal(psprintf("CREATE SCHEMA %s; ALTER TABLE %s SET SCHEMA %s",
										 quote_identifier(nsp), q, quote_identifier(nsp)));
			record("undrop_table", jend(&t));
		}
		else
		{
			ObjectWithArgs *owa = castNode(ObjectWithArgs, lfirst(lc));
			Oid			fnoid = LookupFuncWithArgs(ds->removeType, owa, ds->missing_ok);
			char	   *sig;
			char	   *home;
			Datum		values[3];
			bool		replicated;

			if (!OidIsValid(fnoid))
				continue;
			sig = format_procedure_qualified(fnoid);
			home = get_namespace_name(get_func_namespace(fnoid));
			try_drop(psprintf("DROP ROUTINE %s", sig));
			values[0] = CStringGetTextDatum(sig);
			replicated = zz_ddl_registry_run("DELETE FROM zyzzyva.function_registry "
									  "WHERE signature OPERATOR(pg_catalog.=) $1", 1, values) > 0;
			zz_ddl_run_internal(psprintf("CREATE SCHEMA %s; ALTER ROUTINE %s SET SCHEMA %s",
										 quote_identifier(nsp), sig, quote_identifier(nsp)));
			jbegin(&t);
			jadd(&t, "sig", sig);
			jadd(&t, "moved", format_procedure_qualified(fnoid));
			jadd(&t, "schema", home);
			jadd(&t, "replicated", replicated ? "t" : "f");
			record("undrop_function", jend(&t));
		}
	}
}

/*
 * CREATE OR REPLACE FUNCTION of an existing function: the definition it
 * had, to run again.
 */
void
zz_ddl_record_replace(const char *olddef)
{
	StringInfoData t;

	jbegin(&t);
	jadd(&t, "sql", olddef);
	jadd(&t, "function", "t");
	record("run_sql", jend(&t));
}

char *
zz_ddl_function_def(Oid fnoid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(fnoid)};

	return query_value("SELECT pg_catalog.pg_get_functiondef($1)", 1, argtypes, values);
}

/*
 * GRANT or REVOKE on an object the request did not create: its ACL as it
 * was.
 */
void
zz_ddl_record_acl(Oid classid, Oid objid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(objid)};
	StringInfoData t;
	const char *sql;
	char	   *ident;

	if (classid == RelationRelationId)
	{
		sql = "SELECT relacl::pg_catalog.text FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) $1";
		ident = zz_ddl_qualname_of(objid);
	}
	else if (classid == ProcedureRelationId)
	{
		sql = "SELECT proacl::pg_catalog.text FROM pg_catalog.pg_proc WHERE oid OPERATOR(pg_catalog.=) $1";
		ident = format_procedure_qualified(objid);
	}
	else
	{
		sql = "SELECT nspacl::pg_catalog.text FROM pg_catalog.pg_namespace WHERE oid OPERATOR(pg_catalog.=) $1";
		ident = pstrdup(quote_identifier(get_namespace_name(objid)));
	}
	jbegin(&t);
	jadd(&t, "class", classid == RelationRelationId ? "table" :
		 classid == ProcedureRelationId ? "function" : "schema");
	jadd(&t, "ident", ident);
	jadd(&t, "acl", query_value(sql, 1, argtypes, values));
	record("restore_acl", jend(&t));
}
