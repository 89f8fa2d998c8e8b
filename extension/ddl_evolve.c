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

/* a field of a target, NULL if null or missing */
static char *
jget(const char *json, const char *key)
{
	Datum		j = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	Jsonb	   *jb = DatumGetJsonbP(j);
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
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

static char *
qualname_of(Oid relid)
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
static uint64
registry_run(const char *sql, int nargs, Datum *values)
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
static void
lanes_table(const char *qualname, int sign)
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

/*
 * A change that rewrites the text of every row of a table (a column
 * added, dropped or retyped, the table renamed) fires no row trigger: the
 * digest takes the table's rows out before and back in after.  Whatever
 * the capture trigger adds in between (the rows an undo puts back) is
 * replaced by the rows as they are at the end.
 */
typedef struct ZzRehash
{
	bool		active;
	ZzLtHash	lanes;			/* the lanes before, without the table */
} ZzRehash;

static void
rehash_begin(ZzRehash *rh, Oid relid)
{
	rh->active = rel_is_replicated(relid);
	if (!rh->active)
		return;
	lanes_table(qualname_of(relid), -1);
	rh->lanes = zz_exec.lanes;
}

static void
rehash_end(ZzRehash *rh, Oid relid)
{
	if (!rh->active)
		return;
	zz_exec.lanes = rh->lanes;
	lanes_table(qualname_of(relid), +1);
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
								 quote_identifier(nsp), qualname_of(relid)));
	return true;
}

/*
 * Put the saved rows' values back, by primary key (undo).
 */
static void
restore_rows(Oid relid, const char *nsp)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	StringInfoData sql;
	const char *q = qualname_of(relid);
	Relation	pk;

	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE ONLY %s AS t SET (", q);
	zz_append_columns(&sql, desc, NULL);
	appendStringInfoString(&sql, ") = ROW(");
	zz_append_columns(&sql, desc, "o");
	appendStringInfo(&sql, ") FROM (SELECT (s.r::%s).* FROM %s.saved_rows AS s) AS o WHERE ",
					 q, quote_identifier(nsp));
	pk = index_open(pkoid, AccessShareLock);
	for (int i = 0; i < pk->rd_index->indnkeyatts; i++)
	{
		const char *col = quote_identifier(get_attname(relid, pk->rd_index->indkey.values[i], false));

		appendStringInfo(&sql, "%st.%s OPERATOR(pg_catalog.=) o.%s", i > 0 ? " AND " : "", col, col);
	}
	index_close(pk, AccessShareLock);
	table_close(rel, AccessShareLock);
	zz_ddl_run_internal(sql.data);
}

/* the names and definitions of a table's constraints and indexes */
static List *
table_parts(Oid relid)
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

/*
 * Put back the CHECK constraints and plain indexes whose definition
 * differs from the saved one (a column converted there and back prints
 * its expressions with casts it did not have).
 */
static void
parts_restore(Oid relid, const char *saved)
{
	List	   *now = table_parts(relid);
	char	   *copy = pstrdup(saved);
	char	   *rec = copy;
	StringInfoData sql;

	initStringInfo(&sql);
	while (*rec != '\0')
	{
		char	   *end = strchr(rec, '\x1e');
		char	   *sep = strchr(rec, '\x1f');
		ListCell   *lc;

		if (end == NULL || sep == NULL || sep > end)
			break;
		*end = '\0';
		*sep = '\0';
		foreach(lc, now)
		{
			List	   *p = lfirst(lc);

			if (strcmp(linitial(p), rec) != 0 || strcmp(lsecond(p), sep + 1) == 0)
				continue;
			if (rec[0] == 'c')
				appendStringInfo(&sql, "ALTER TABLE %s DROP CONSTRAINT %s;\n%s;\n",
								 qualname_of(relid), quote_identifier(rec + 1), sep + 1);
			else
				appendStringInfo(&sql, "DROP INDEX %s;\n%s;\n", rec + 1, sep + 1);
		}
		rec = end + 1;
	}
	if (sql.len > 0)
		zz_ddl_run_internal(sql.data);
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
	jadd(&t, "rel", OidIsValid(relid) ? qualname_of(relid) : NULL);
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
	q = qualname_of(relid);
	replicated = rel_is_replicated(relid);

	switch (cmd->subtype)
	{
		case AT_AddColumn:
			{
				ColumnDef  *cd = castNode(ColumnDef, cmd->def);

				if (column_makes_sequence(cd))
					refuse("ADD COLUMN of a serial or identity column",
						   "Its undo would have to take the new sequence out of replication too; create the sequence in one request (CREATE SEQUENCE, zyzzyva.replicate_sequence) and add the column with DEFAULT nextval() of it in another.");
				rehash_begin(&rh, relid);
				run(arg);
				rehash_end(&rh, relid);
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
				before = table_parts(relid);

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

				rehash_begin(&rh, relid);
				run(arg);
				rehash_end(&rh, relid);
				jadd(&t, "sql", psprintf("%s%s", def ? psprintf("%s;\n", set_default_sql(q, cmd->name, def)) : "",
										 parts_lost(before, table_parts(relid))));
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
				parts = parts_encode(table_parts(relid));

				rehash_begin(&rh, relid);
				run(arg);
				rehash_end(&rh, relid);

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
				List	   *before = table_parts(relid);
				List	   *after;
				ListCell   *lc,
						   *lc2;

				run(arg);
				after = table_parts(relid);
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
				rehash_begin(&rh, relid);
				run(arg);
				if (rh.active)
				{
					values[0] = CStringGetTextDatum(rs->newname);
					values[1] = CStringGetTextDatum(nsp);
					values[2] = CStringGetTextDatum(old);
					registry_run("UPDATE zyzzyva.table_registry SET table_name = $1::pg_catalog.name "
								 "WHERE schema_name OPERATOR(pg_catalog.=) $2::pg_catalog.name "
								 "AND table_name OPERATOR(pg_catalog.=) $3::pg_catalog.name",
								 3, values);
				}
				rehash_end(&rh, relid);
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
					record_sql(psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", qualname_of(relid),
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
					record_sql(psprintf("ALTER INDEX %s RENAME TO %s", qualname_of(relid),
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
				registry_run("UPDATE zyzzyva.function_registry SET signature = $1, "
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
			try_drop(psprintf("DROP TABLE %s", qualname_of(relid)));
			q = qualname_of(relid);
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
				lanes_table(q, -1);
				values[0] = CStringGetTextDatum(get_namespace_name(get_rel_namespace(relid)));
				values[1] = CStringGetTextDatum(get_rel_name(relid));
				registry_run("DELETE FROM zyzzyva.table_registry "
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
			replicated = registry_run("DELETE FROM zyzzyva.function_registry "
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
		ident = qualname_of(objid);
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

/* ------------------------------------------------------------------
 * Undo
 * ------------------------------------------------------------------ */

/*
 * Set an object's ACL as it was (NULL: the default), with the shared
 * dependencies on its grantees, as GRANT and REVOKE keep them.
 */
static void
restore_acl(Oid classid, Oid objid, const char *acltext)
{
	Relation	rel = table_open(classid, RowExclusiveLock);
	int			cacheid;
	AttrNumber	aclattr,
				ownerattr;
	HeapTuple	tup,
				newtup;
	Datum		d;
	bool		isnull;
	Acl		   *oldacl = NULL,
			   *newacl = NULL;
	Oid			owner;
	Oid		   *oldm = NULL,
			   *newm = NULL;
	int			nold = 0,
				nnew = 0;
	int			natts = RelationGetDescr(rel)->natts;
	Datum	   *values = palloc0(sizeof(Datum) * natts);
	bool	   *nulls = palloc0(sizeof(bool) * natts);
	bool	   *repl = palloc0(sizeof(bool) * natts);

	if (classid == RelationRelationId)
	{
		cacheid = RELOID;
		aclattr = Anum_pg_class_relacl;
		ownerattr = Anum_pg_class_relowner;
	}
	else if (classid == ProcedureRelationId)
	{
		cacheid = PROCOID;
		aclattr = Anum_pg_proc_proacl;
		ownerattr = Anum_pg_proc_proowner;
	}
	else
	{
		cacheid = NAMESPACEOID;
		aclattr = Anum_pg_namespace_nspacl;
		ownerattr = Anum_pg_namespace_nspowner;
	}
	tup = SearchSysCache1(cacheid, ObjectIdGetDatum(objid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for object %u", objid);
	owner = DatumGetObjectId(SysCacheGetAttr(cacheid, tup, ownerattr, &isnull));
	d = SysCacheGetAttr(cacheid, tup, aclattr, &isnull);
	if (!isnull)
		oldacl = DatumGetAclPCopy(d);
	if (acltext != NULL)
	{
		Oid			typinput;
		Oid			typioparam;

		/* array_in caches in flinfo: call it with one */
		getTypeInputInfo(ACLITEMARRAYOID, &typinput, &typioparam);
		newacl = DatumGetAclPCopy(OidInputFunctionCall(typinput, (char *) acltext,
													   typioparam, -1));
	}
	repl[aclattr - 1] = true;
	if (newacl != NULL)
		values[aclattr - 1] = PointerGetDatum(newacl);
	else
		nulls[aclattr - 1] = true;
	newtup = heap_modify_tuple(tup, RelationGetDescr(rel), values, nulls, repl);
	CatalogTupleUpdate(rel, &newtup->t_self, newtup);
	if (oldacl != NULL)
		nold = aclmembers(oldacl, &oldm);
	if (newacl != NULL)
		nnew = aclmembers(newacl, &newm);
	updateAclDependencies(classid, objid, 0, owner, nold, oldm, nnew, newm);
	ReleaseSysCache(tup);
	table_close(rel, RowExclusiveLock);
	CommandCounterIncrement();
}

/*
 * Mark a dropped column live again (undo of DROP COLUMN): the attribute
 * keeps its place, length and alignment, so the row type is the one
 * before the drop.
 */
static void
undrop_attribute(Oid relid, AttrNumber attnum, const char *name, Oid typid,
				 int32 typmod, Oid collation, bool notnull)
{
	Relation	attrel = table_open(AttributeRelationId, RowExclusiveLock);
	HeapTuple	tup = SearchSysCacheCopy2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	Form_pg_attribute att;
	ObjectAddress col,
				ref;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for attribute %d of %u", attnum, relid);
	att = (Form_pg_attribute) GETSTRUCT(tup);
	if (!att->attisdropped)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("undo of DROP COLUMN: column %d of %s is not dropped", attnum, qualname_of(relid))));
	att->attisdropped = false;
	att->atttypid = typid;
	att->atttypmod = typmod;
	att->attcollation = collation;
	att->attnotnull = notnull;
	att->attstattarget = -1;
	namestrcpy(&att->attname, name);
	CatalogTupleUpdate(attrel, &tup->t_self, tup);
	table_close(attrel, RowExclusiveLock);

	ObjectAddressSubSet(col, RelationRelationId, relid, attnum);
	ObjectAddressSet(ref, TypeRelationId, typid);
	recordDependencyOn(&col, &ref, DEPENDENCY_NORMAL);
	if (OidIsValid(collation) && collation != DEFAULT_COLLATION_OID)
	{
		ObjectAddressSet(ref, CollationRelationId, collation);
		recordDependencyOn(&col, &ref, DEPENDENCY_NORMAL);
	}
	CacheInvalidateRelcacheByRelid(relid);
	CommandCounterIncrement();
}

static Oid
relid_of(const char *qualname)
{
	return DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(qualname)));
}

/*
 * Undo one action of ddl_evolve.c; false if action is not one of them.
 */
bool
zz_ddl_undo_evolve(int64 seq, const char *action, const char *target)
{
	ZzRehash	rh;

	if (strcmp(action, "run_sql") == 0)
	{
		char	   *rel = jget(target, "rel");
		char	   *sql = jget(target, "sql");
		Oid			relid = rel ? relid_of(rel) : InvalidOid;

		if (rel)
			rehash_begin(&rh, relid);
		if (jget(target, "function") != NULL)
		{
			int			nestlevel = NewGUCNestLevel();

			(void) set_config_option("check_function_bodies", "off",
									 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
			zz_ddl_run_internal(sql);
			AtEOXact_GUC(true, nestlevel);
		}
		else
			zz_ddl_run_internal(sql);
		if (rel)
			rehash_end(&rh, relid);
		return true;
	}
	if (strcmp(action, "rename_table") == 0)
	{
		char	   *nsp = jget(target, "nsp");
		char	   *old = jget(target, "old");
		char	   *new = jget(target, "new");
		Oid			relid = relid_of(quote_qualified_identifier(nsp, new));
		Datum		values[3];

		rehash_begin(&rh, relid);
		zz_ddl_run_internal(psprintf("ALTER TABLE %s RENAME TO %s",
									 quote_qualified_identifier(nsp, new), quote_identifier(old)));
		if (rh.active)
		{
			values[0] = CStringGetTextDatum(old);
			values[1] = CStringGetTextDatum(nsp);
			values[2] = CStringGetTextDatum(new);
			registry_run("UPDATE zyzzyva.table_registry SET table_name = $1::pg_catalog.name "
						 "WHERE schema_name OPERATOR(pg_catalog.=) $2::pg_catalog.name "
						 "AND table_name OPERATOR(pg_catalog.=) $3::pg_catalog.name",
						 3, values);
		}
		rehash_end(&rh, relid);
		return true;
	}
	if (strcmp(action, "rename_function") == 0)
	{
		char	   *oldsig = jget(target, "oldsig");
		char	   *newsig = jget(target, "newsig");
		Datum		values[3];

		zz_ddl_run_internal(psprintf("ALTER ROUTINE %s RENAME TO %s", newsig,
									 quote_identifier(jget(target, "oldname"))));
		values[0] = CStringGetTextDatum(oldsig);
		values[1] = CStringGetTextDatum(jget(target, "oldname"));
		values[2] = CStringGetTextDatum(newsig);
		registry_run("UPDATE zyzzyva.function_registry SET signature = $1, "
					 "function_name = $2::pg_catalog.name WHERE signature OPERATOR(pg_catalog.=) $3",
					 3, values);
		return true;
	}
	if (strcmp(action, "undrop_table") == 0)
	{
		char	   *nsp = jget(target, "nsp");
		char	   *schema = jget(target, "schema");
		char	   *name = jget(target, "name");
		char	   *fks = jget(target, "fks");
		char	   *q = quote_qualified_identifier(schema, name);

		zz_ddl_run_internal(psprintf("ALTER TABLE %s SET SCHEMA %s; DROP SCHEMA %s",
									 quote_qualified_identifier(nsp, name), quote_identifier(schema),
									 quote_identifier(nsp)));
		if (strcmp(jget(target, "replicated"), "t") == 0)
		{
			Datum		values[2];

			values[0] = CStringGetTextDatum(schema);
			values[1] = CStringGetTextDatum(name);
			registry_run("INSERT INTO zyzzyva.table_registry (schema_name, table_name) "
						 "VALUES ($1::pg_catalog.name, $2::pg_catalog.name)", 2, values);
			lanes_table(q, +1);
		}
		if (fks != NULL)
			zz_ddl_run_internal(fks);
		return true;
	}
	if (strcmp(action, "undrop_function") == 0)
	{
		char	   *nsp = jget(target, "schema");
		char	   *sig = jget(target, "sig");
		char	   *moved = jget(target, "moved");
		Oid			fnoid = DatumGetObjectId(DirectFunctionCall1(regprocedurein, CStringGetDatum(moved)));
		Oid			grave = get_func_namespace(fnoid);

		zz_ddl_run_internal(psprintf("ALTER ROUTINE %s SET SCHEMA %s; DROP SCHEMA %s",
									 moved, quote_identifier(nsp),
									 quote_identifier(get_namespace_name(grave))));
		if (strcmp(jget(target, "replicated"), "t") == 0)
		{
			Datum		values[3];

			values[0] = CStringGetTextDatum(sig);
			values[1] = CStringGetTextDatum(nsp);
			values[2] = CStringGetTextDatum(get_func_name(fnoid));
			registry_run("INSERT INTO zyzzyva.function_registry (signature, schema_name, function_name) "
						 "VALUES ($1, $2::pg_catalog.name, $3::pg_catalog.name)", 3, values);
		}
		return true;
	}
	if (strcmp(action, "undrop_column") == 0 || strcmp(action, "retype_column") == 0)
	{
		char	   *rel = jget(target, "rel");
		char	   *nsp = jget(target, "nsp");
		Oid			relid = relid_of(rel);

		rehash_begin(&rh, relid);
		if (strcmp(action, "undrop_column") == 0)
			undrop_attribute(relid, (AttrNumber) atoi(jget(target, "attnum")),
							 jget(target, "name"),
							 (Oid) strtoul(jget(target, "type"), NULL, 10),
							 atoi(jget(target, "typmod")),
							 (Oid) strtoul(jget(target, "collation"), NULL, 10),
							 strcmp(jget(target, "notnull"), "t") == 0);
		if (jget(target, "sql")[0] != '\0')
			zz_ddl_run_internal(jget(target, "sql"));
		if (jget(target, "parts") != NULL)
			parts_restore(relid, jget(target, "parts"));
		if (strcmp(jget(target, "rows"), "t") == 0)
			restore_rows(relid, nsp);
		{
			int			nestlevel = NewGUCNestLevel();

			(void) set_config_option("client_min_messages", "warning",
									 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
			zz_ddl_run_internal(psprintf("DROP SCHEMA %s CASCADE", quote_identifier(nsp)));
			AtEOXact_GUC(true, nestlevel);
		}
		rehash_end(&rh, relid);
		return true;
	}
	if (strcmp(action, "restore_acl") == 0)
	{
		char	   *class = jget(target, "class");
		char	   *ident = jget(target, "ident");
		char	   *acl = jget(target, "acl");

		if (strcmp(class, "table") == 0)
			restore_acl(RelationRelationId, relid_of(ident), acl);
		else if (strcmp(class, "function") == 0)
			restore_acl(ProcedureRelationId,
						DatumGetObjectId(DirectFunctionCall1(regprocedurein, CStringGetDatum(ident))),
						acl);
		else
			restore_acl(NamespaceRelationId,
						DatumGetObjectId(DirectFunctionCall1(regnamespacein, CStringGetDatum(ident))),
						acl);
		return true;
	}
	(void) seq;
	return false;
}

/*
 * Is nspid a schema that keeps what an undo needs (zyzzyva_undo_*)?  Its
 * objects are replicated state waiting for a rollback: authz.c protects
 * them as it protects replicated tables.
 */
bool
zz_ddl_undo_schema(Oid nspid)
{
	char	   *name = OidIsValid(nspid) ? get_namespace_name(nspid) : NULL;

	return name != NULL && strncmp(name, "zyzzyva_undo_", 13) == 0;
}

/*
 * Drop what the undo of batches at or below seq kept (seq < 0: of every
 * batch): their undo is being deleted (a stable checkpoint, an installed
 * snapshot).
 */
void
zz_ddl_purge(int64 seq)
{
	ZzSavedUser saved;
	List	   *drop = NIL;
	ListCell   *lc;

	zz_as_owner(&saved);
	SPI_connect();
	if (SPI_execute("SELECT nspname::pg_catalog.text, "
					"pg_catalog.split_part(nspname::pg_catalog.text, '_', 3)::pg_catalog.int8 "
					"FROM pg_catalog.pg_namespace "
					"WHERE nspname OPERATOR(pg_catalog.~) '^zyzzyva_undo_[0-9]+_[0-9]+$'",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the schemas of undo");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		s = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		if (seq < 0 || s <= seq)
		{
			MemoryContext old = MemoryContextSwitchTo(CurTransactionContext);

			drop = lappend(drop, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	zz_restore_user(&saved);
	foreach(lc, drop)
	{
		int			nestlevel = NewGUCNestLevel();

		(void) set_config_option("client_min_messages", "warning",
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		zz_ddl_run_internal(psprintf("DROP SCHEMA %s CASCADE", quote_identifier(lfirst(lc))));
		AtEOXact_GUC(true, nestlevel);
	}
}
