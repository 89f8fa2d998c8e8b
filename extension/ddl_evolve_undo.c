/*-------------------------------------------------------------------------
 *
 * ddl_evolve_undo.c
 *	  The undo of schema evolution (docs/ddl.md): each undo record that
 *	  ddl_evolve.c wrote for an ALTER TABLE, RENAME, DROP, CREATE OR REPLACE
 *	  FUNCTION, GRANT or REVOKE is carried out here when its batch rolls
 *	  back (zz_ddl_undo_evolve), and what the drops kept is removed once it
 *	  can no longer be needed (zz_ddl_purge).
 *
 * The records and what each action restores are described at the top of
 * ddl_evolve.c; the helpers both files use are in ddl_int.h.
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
 * Put the saved rows' values back, by primary key (undo).
 */
static void
restore_rows(Oid relid, const char *nsp)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	StringInfoData sql;
	const char *q = zz_ddl_qualname_of(relid);
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

/*
 * Put back the CHECK constraints and plain indexes whose definition
 * differs from the saved one (a column converted there and back prints
 * its expressions with casts it did not have).
 */
static void
parts_restore(Oid relid, const char *saved)
{
	List	   *now = zz_ddl_table_parts(relid);
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
								 zz_ddl_qualname_of(relid), quote_identifier(rec + 1), sep + 1);
			else
				appendStringInfo(&sql, "DROP INDEX %s;\n%s;\n", rec + 1, sep + 1);
		}
		rec = end + 1;
	}
	if (sql.len > 0)
		zz_ddl_run_internal(sql.data);
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
				 errmsg("undo of DROP COLUMN: column %d of %s is not dropped", attnum, zz_ddl_qualname_of(relid))));
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
			zz_ddl_rehash_begin(&rh, relid);
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
			zz_ddl_rehash_end(&rh, relid);
		return true;
	}
	if (strcmp(action, "rename_table") == 0)
	{
		char	   *nsp = jget(target, "nsp");
		char	   *old = jget(target, "old");
		char	   *new = jget(target, "new");
		Oid			relid = relid_of(quote_qualified_identifier(nsp, new));
		Datum		values[3];

		zz_ddl_rehash_begin(&rh, relid);
		zz_ddl_run_internal(psprintf("ALTER TABLE %s RENAME TO %s",
									 quote_qualified_identifier(nsp, new), quote_identifier(old)));
		if (rh.active)
		{
			values[0] = CStringGetTextDatum(old);
			values[1] = CStringGetTextDatum(nsp);
			values[2] = CStringGetTextDatum(new);
			zz_ddl_registry_run("UPDATE zyzzyva.table_registry SET table_name = $1::pg_catalog.name "
						 "WHERE schema_name OPERATOR(pg_catalog.=) $2::pg_catalog.name "
						 "AND table_name OPERATOR(pg_catalog.=) $3::pg_catalog.name",
						 3, values);
		}
		zz_ddl_rehash_end(&rh, relid);
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
		zz_ddl_registry_run("UPDATE zyzzyva.function_registry SET signature = $1, "
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
			zz_ddl_registry_run("INSERT INTO zyzzyva.table_registry (schema_name, table_name) "
						 "VALUES ($1::pg_catalog.name, $2::pg_catalog.name)", 2, values);
			zz_ddl_lanes_table(q, +1);
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
			zz_ddl_registry_run("INSERT INTO zyzzyva.function_registry (signature, schema_name, function_name) "
						 "VALUES ($1, $2::pg_catalog.name, $3::pg_catalog.name)", 3, values);
		}
		return true;
	}
	if (strcmp(action, "undrop_column") == 0 || strcmp(action, "retype_column") == 0)
	{
		char	   *rel = jget(target, "rel");
		char	   *nsp = jget(target, "nsp");
		Oid			relid = relid_of(rel);

		zz_ddl_rehash_begin(&rh, relid);
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
		zz_ddl_rehash_end(&rh, relid);
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
