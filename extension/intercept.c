/*-------------------------------------------------------------------------
 *
 * intercept.c
 *	  Routing calls of replicated functions to the sidecar.
 *
 * A plain `SELECT transfer(1, 2, 10)` on any replica must become a request
 * that every replica executes in the agreed order; only inside replicated
 * execution (apply_batch() on the sidecar's connection) does the function's
 * own body run.  The function itself is left exactly as its owner wrote it:
 * interception happens in the function manager, through the hooks
 * PostgreSQL provides for security plugins (needs_fmgr_hook, fmgr_hook, as
 * used by sepgsql):
 *
 *	 - needs_fmgr_hook answers true for the OIDs of replicated functions, so
 *	   fmgr_info() routes every call of them, from any caller (SQL, PL/pgSQL,
 *	   triggers, defaults, fmgr calls by OID), through fmgr_security_definer;
 *	   that also keeps the planner from inlining their bodies.
 *	 - fmgr_hook, at the start of each such call and outside replicated
 *	   execution, points the call at zz_call_replicated (call.c), which sends
 *	   the call to the sidecar; at the end of the call it puts the
 *	   function's own entry point back.  Inside replicated execution it
 *	   changes nothing, and the body runs.
 *
 * Why not replace the function's definition with a C wrapper and keep the
 * body under another name?  Because then the catalog no longer says what
 * the function does: pg_get_functiondef() (and so the schema part of the
 * state digest, and pg_dump) would show the wrapper; a later CREATE OR
 * REPLACE by the owner would silently drop the interception; objects that
 * reference the function by OID would follow whichever half kept the OID.
 * With the hooks, the definition stays the owner's, redefinitions stay
 * replicated (the registry names the function by signature), and DROP just
 * works.
 *
 * The hooks need to know, per OID, whether a function is replicated: a
 * backend-local table from OID to canonical signature, read from
 * zyzzyva.function_registry and resolved through to_regprocedure(), plus
 * the extension's own zyzzyva.replicated_ddl(text) (ddl.c).  It is
 * rebuilt lazily after any change to pg_proc, pg_namespace or pg_type (a
 * rename changes which function a signature names) and after any change to
 * the registry, which a trigger on the registry announces to every backend
 * as a relcache invalidation of the registry table.  The same trigger
 * invalidates the pg_proc entry of a newly registered function, so that
 * plans that inlined its body before it was registered are made again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_registry_changed);

/* One replicated function of this database, by OID. */
typedef struct ZzReplicatedFn
{
	Oid			fnoid;			/* hash key */
	char	   *signature;		/* canonical, as in the registry */
} ZzReplicatedFn;

static HTAB *zz_fns = NULL;		/* in zz_fns_cxt */
static MemoryContext zz_fns_cxt = NULL;
static bool zz_fns_valid = false;
static bool zz_fns_loading = false;
static Oid	zz_registry_relid = InvalidOid; /* as of the last load */

static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;

/*
 * Calls that fmgr_hook pointed at the sidecar and has not yet put back:
 * the FmgrInfo and its own entry point.  A call sent to the sidecar runs
 * no other function, so this is at most one deep in practice.
 */
#define ZZ_MAX_REDIRECTED 8

static struct
{
	FmgrInfo   *flinfo;
	PGFunction	own_addr;
}			zz_redirected[ZZ_MAX_REDIRECTED];
static int	zz_nredirected = 0;

/*
 * Syscache callback (pg_proc, pg_namespace, pg_type): the table must be
 * rebuilt.  Only marks it; the rebuild happens at the next lookup, never
 * under a caller's feet.
 */
static void
zz_fns_invalidate_syscache(Datum arg, int cacheid, uint32 hashvalue)
{
	zz_fns_valid = false;
}

/*
 * Relcache callback: the same when the registry changed (or everything
 * did, or the registry did not exist when the table was read).
 */
static void
zz_fns_invalidate_relcache(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == zz_registry_relid ||
		!OidIsValid(zz_registry_relid))
		zz_fns_valid = false;
}

/*
 * Resolve a canonical signature to the OID of the function it names here,
 * or InvalidOid if none does (dropped, renamed): to_regprocedure().
 */
static Oid
zz_resolve_signature(const char *signature)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = CStringGetTextDatum(signature);
	fcinfo->args[0].isnull = false;
	result = to_regprocedure(fcinfo);
	return fcinfo->isnull ? InvalidOid : DatumGetObjectId(result);
}

/*
 * Read the registry into the table.  The caller is in a transaction.  A
 * database without the extension has an empty table.
 */
static void
zz_fns_load(void)
{
	HASHCTL		ctl;
	Oid			nspid;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	MemoryContext oldcxt;

	if (zz_fns_cxt == NULL)
		zz_fns_cxt = AllocSetContextCreate(CacheMemoryContext,
										   "zyzzyva replicated functions",
										   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(zz_fns_cxt);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(ZzReplicatedFn);
	ctl.hcxt = zz_fns_cxt;
	zz_fns = hash_create("zyzzyva replicated functions", 16, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* an invalidation that arrives while reading makes us read again */
	zz_fns_valid = true;
	zz_registry_relid = InvalidOid;
	nspid = get_namespace_oid("zyzzyva", true);
	if (OidIsValid(nspid))
		zz_registry_relid = get_relname_relid("function_registry", nspid);
	if (!OidIsValid(zz_registry_relid))
		return;

	rel = table_open(zz_registry_relid, AccessShareLock);
	/* no index, no keys: a fresh snapshot of a small table */
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);
		char	   *signature;
		Oid			fnoid;
		ZzReplicatedFn *entry;
		bool		found;

		if (isnull)
			continue;
		signature = TextDatumGetCString(d);
		fnoid = zz_resolve_signature(signature);
		if (!OidIsValid(fnoid))
			continue;			/* names no function here, for now */
		entry = hash_search(zz_fns, &fnoid, HASH_ENTER, &found);
		oldcxt = MemoryContextSwitchTo(zz_fns_cxt);
		entry->signature = pstrdup(signature);
		MemoryContextSwitchTo(oldcxt);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* the built-in replicated functions of the extension (ddl.c) */
	{
		static const char *const builtin[] = {ZZ_DDL_SIGNATURE, ZZ_WITHDRAW_SIGNATURE};

		for (int i = 0; i < lengthof(builtin); i++)
		{
			Oid			fnoid = zz_resolve_signature(builtin[i]);
			ZzReplicatedFn *entry;
			bool		found;

			if (OidIsValid(fnoid))
			{
				entry = hash_search(zz_fns, &fnoid, HASH_ENTER, &found);
				entry->signature = MemoryContextStrdup(zz_fns_cxt, builtin[i]);
			}
		}
	}
}

/*
 * The entry of a replicated function, or NULL.  Outside a transaction
 * (where no replicated call can run) the answer is NULL without looking.
 * Entries are valid until the next lookup.
 */
static ZzReplicatedFn *
zz_fns_lookup(Oid fnoid)
{
	if (!zz_fns_valid)
	{
		/* not in a transaction, or decoding WAL with a historic snapshot */
		if (zz_fns_loading || !IsTransactionState() || !OidIsValid(MyDatabaseId) ||
			HistoricSnapshotActive())
			return NULL;
		zz_fns_loading = true;
		PG_TRY();
		{
			zz_fns_load();
		}
		PG_CATCH();
		{
			zz_fns_loading = false;
			zz_fns_valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
		zz_fns_loading = false;
	}
	if (zz_fns == NULL)
		return NULL;
	return hash_search(zz_fns, &fnoid, HASH_FIND, NULL);
}

/*
 * The canonical signature of a replicated function (palloc'd in the
 * caller's context), or NULL if fnoid is not replicated.
 */
char *
zz_replicated_signature(Oid fnoid)
{
	ZzReplicatedFn *entry = zz_fns_lookup(fnoid);

	return entry ? pstrdup(entry->signature) : NULL;
}

/*
 * needs_fmgr_hook: route replicated functions through fmgr_hook.
 */
static bool
zz_needs_fmgr_hook(Oid fnoid)
{
	if (prev_needs_fmgr_hook && prev_needs_fmgr_hook(fnoid))
		return true;
	return zz_fns_lookup(fnoid) != NULL;
}

/*
 * fmgr_hook: at the start of a call of a replicated function outside
 * replicated execution, point the call at the sidecar; at its end (or
 * abort), put the function's own entry point back.  The hook also sees
 * calls routed here for other reasons (SECURITY DEFINER, SET clauses,
 * another plugin's hook) and leaves them alone.
 */
static void
zz_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, private);

	switch (event)
	{
		case FHET_START:
			if (zz_exec.mode != ZZ_MODE_NONE || zz_fns_lookup(flinfo->fn_oid) == NULL)
				return;
			if (zz_nredirected == ZZ_MAX_REDIRECTED)
				elog(ERROR, "replicated calls nested too deeply");
			zz_redirected[zz_nredirected].flinfo = flinfo;
			zz_redirected[zz_nredirected].own_addr = flinfo->fn_addr;
			zz_nredirected++;
			flinfo->fn_addr = zz_call_replicated;
			break;
		case FHET_END:
		case FHET_ABORT:
			if (zz_nredirected > 0 &&
				zz_redirected[zz_nredirected - 1].flinfo == flinfo)
			{
				zz_nredirected--;
				flinfo->fn_addr = zz_redirected[zz_nredirected].own_addr;
			}
			break;
	}
}

/*
 * At transaction abort the FmgrInfos of redirected calls may be gone;
 * forget them (fmgr_hook's FHET_ABORT has normally done so already).
 */
void
zz_intercept_reset(void)
{
	zz_nredirected = 0;
}

/*
 * zyzzyva.registry_changed() returns trigger
 *
 * On zyzzyva.function_registry, enabled ALWAYS (undo changes the registry
 * too): tell every backend to reread the registry, and for a function that
 * becomes replicated, invalidate its pg_proc entry so that plans that
 * inlined its body are made again.  The invalidations are sent at commit.
 */
Datum
zyzzyva_registry_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("zyzzyva.registry_changed() must be called as a trigger")));

	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));

	if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) &&
		(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		 TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
	{
		HeapTuple	row = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
			trigdata->tg_newtuple : trigdata->tg_trigtuple;
		bool		isnull;
		Datum		d = heap_getattr(row, 1, RelationGetDescr(trigdata->tg_relation),
									 &isnull);
		Oid			fnoid = isnull ? InvalidOid :
			zz_resolve_signature(TextDatumGetCString(d));

		if (OidIsValid(fnoid))
		{
			Relation	procrel = table_open(ProcedureRelationId, AccessShareLock);
			HeapTuple	proctup = SearchSysCacheCopy1(PROCOID, ObjectIdGetDatum(fnoid));

			if (HeapTupleIsValid(proctup))
				CacheInvalidateHeapTuple(procrel, proctup, NULL);
			table_close(procrel, AccessShareLock);
		}
	}
	return PointerGetDatum(NULL);
}

/*
 * Install the hooks and the invalidation callbacks (from _PG_init).
 */
void
zz_intercept_init(void)
{
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = zz_needs_fmgr_hook;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = zz_fmgr_hook;

	CacheRegisterSyscacheCallback(PROCOID, zz_fns_invalidate_syscache, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, zz_fns_invalidate_syscache, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, zz_fns_invalidate_syscache, (Datum) 0);
	CacheRegisterRelcacheCallback(zz_fns_invalidate_relcache, (Datum) 0);
}
