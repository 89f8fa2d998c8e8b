/*-------------------------------------------------------------------------
 *
 * zyzzyva.c
 *	  Module load, settings, and the modes of replicated execution.
 *
 * The library must be loaded through shared_preload_libraries: its hooks
 * must be in place in every backend before any replicated function runs,
 * not only in backends that happen to have called one of its functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "zyzzyva.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

ZzExec		zz_exec;

char	   *zz_socket_path = NULL;
int			zz_call_timeout = 30000;

/*
 * Settings that change how values are read or printed, or whether a
 * statement fails, pinned while a backend executes replicated requests or
 * reads replicated rows.  Replicas must print every value the same way,
 * since results travel as text and rows are hashed as text.
 */
static const struct
{
	const char *name;
	const char *value;
}			zz_pinned[] =
{
	{"DateStyle", "ISO, YMD"},
	{"IntervalStyle", "postgres"},
	{"TimeZone", "UTC"},
	{"timezone_abbreviations", "Default"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
	{"lc_messages", "C"},
	{"lc_monetary", "C"},
	{"lc_numeric", "C"},
	{"lc_time", "C"},
	{"xmloption", "content"},
	{"xmlbinary", "base64"},
	{"quote_all_identifiers", "off"},
	{"standard_conforming_strings", "on"},
	{"default_text_search_config", "pg_catalog.simple"},
	{"gin_fuzzy_search_limit", "0"},
	{"search_path", ZZ_APPLY_SEARCH_PATH},
	{"statement_timeout", "0"},
	{"lock_timeout", "0"},
};

/*
 * Subtransactions entered while a mode is active, with the digest lanes as
 * they were when each began, so that the abort of a subtransaction (a
 * request's ERROR, or an EXCEPTION block inside a replicated function)
 * takes back its changes to the digest along with its changes to rows.
 */
typedef struct ZzSavedLanes
{
	SubTransactionId subid;
	ZzLtHash	lanes;
} ZzSavedLanes;

static ZzSavedLanes *zz_saved = NULL;
static int	zz_nsaved = 0;
static int	zz_maxsaved = 0;

/*
 * Forget every mode state; the pinned settings are restored by the
 * transaction machinery itself when this is called at an abort.
 */
static void
zz_reset(void)
{
	zz_exec.mode = ZZ_MODE_NONE;
	zz_exec.ddl = false;
	zz_nsaved = 0;
	zz_undo_discard();
}

/*
 * At the end of a transaction no mode survives.  A mode is normally left
 * explicitly; this covers errors that escape apply_batch() or rollback_to().
 * An abort also ends a replicated call that did not get its answer.
 */
static void
zz_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		zz_intercept_reset();
		zz_sidecar_cleanup();
	}
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		zz_reset();
}

/*
 * Keep the digest lanes in step with subtransactions (see ZzSavedLanes), and
 * leave the mode if the subtransaction that entered it aborts.  A
 * subtransaction's abort also ends a replicated call that did not get its
 * answer (an EXCEPTION block caught its cancel or timeout).
 */
static void
zz_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		zz_sidecar_cleanup();
	if (zz_exec.mode == ZZ_MODE_NONE)
		return;

	switch (event)
	{
		case SUBXACT_EVENT_START_SUB:
			if (zz_nsaved == zz_maxsaved)
			{
				zz_maxsaved = Max(16, zz_maxsaved * 2);
				zz_saved = zz_saved == NULL ?
					MemoryContextAlloc(TopMemoryContext, sizeof(ZzSavedLanes) * zz_maxsaved) :
					repalloc(zz_saved, sizeof(ZzSavedLanes) * zz_maxsaved);
			}
			zz_saved[zz_nsaved].subid = mySubid;
			zz_saved[zz_nsaved].lanes = zz_exec.lanes;
			zz_nsaved++;
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			while (zz_nsaved > 0 && zz_saved[zz_nsaved - 1].subid >= mySubid)
				zz_nsaved--;
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			if (mySubid <= zz_exec.entered_in)
			{
				zz_reset();
				break;
			}
			zz_undo_subxact_abort(mySubid);
			while (zz_nsaved > 0 && zz_saved[zz_nsaved - 1].subid > mySubid)
				zz_nsaved--;
			if (zz_nsaved > 0 && zz_saved[zz_nsaved - 1].subid == mySubid)
			{
				zz_exec.lanes = zz_saved[zz_nsaved - 1].lanes;
				zz_nsaved--;
			}
			break;
		case SUBXACT_EVENT_PRE_COMMIT_SUB:
			break;
	}
}

/*
 * The owner of schema zyzzyva, who owns the extension's tables.
 */
static Oid
zz_schema_owner(void)
{
	Oid			nspid = get_namespace_oid("zyzzyva", false);
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Pin the settings that change how values read and print (zz_pinned) at a
 * new GUC nesting level, and return that level for zz_unpin_settings.  The
 * abort of the enclosing (sub)transaction also restores them.
 */
int
zz_pin_settings(void)
{
	int			nestlevel = NewGUCNestLevel();

	for (int i = 0; i < lengthof(zz_pinned); i++)
	{
		const char *cur = GetConfigOption(zz_pinned[i].name, true, false);

		/*
		 * Already so (the sidecar's session, batch after batch): setting it
		 * again costs, e.g. timezone_abbreviations rereads its file.  Every
		 * batch pins again, so a replicated function that changes one
		 * cannot leak it into the next.
		 */
		if (cur != NULL && strcmp(cur, zz_pinned[i].value) == 0)
			continue;
		(void) set_config_option(zz_pinned[i].name, zz_pinned[i].value,
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
	}
	return nestlevel;
}

/*
 * Restore the settings that zz_pin_settings pinned.
 */
void
zz_unpin_settings(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Enter a mode of replicated execution: pin the settings (restored by
 * zz_leave_mode, or by the abort of this (sub)transaction), note who owns
 * the extension's tables, and for the modes that change rows load the
 * digest lanes, locking the state row against concurrent appliers.
 */
void
zz_enter_mode(ZzMode mode, const char *caller)
{
	zz_require_no_mode(caller);
	zz_exec.owner = zz_schema_owner();

	zz_exec.guc_nestlevel = zz_pin_settings();
	/*
	 * Only replicated functions need public: the modes in which just the
	 * extension's own statements run search pg_catalog alone.
	 */
	if (mode != ZZ_MODE_APPLY)
		(void) set_config_option("search_path", ZZ_SAFE_SEARCH_PATH,
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
	/*
	 * Undo replays before-images, and installing a snapshot writes a whole
	 * consistent state: user triggers and foreign-key checks must not fire,
	 * exactly as when logical replication applies changes.  The capture
	 * trigger is ENABLE ALWAYS and still fires.
	 */
	(void) set_config_option("session_replication_role",
							 mode == ZZ_MODE_UNDO || mode == ZZ_MODE_INSTALL ?
							 "replica" : "origin",
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);

	zz_exec.seq = 0;
	zz_exec.nd_time = 0;
	zz_exec.nd_seed = 0;
	zz_exec.request = -1;
	zz_exec.undo_ord = 0;
	zz_exec.random_calls = 0;
	zz_exec.ddl = false;
	zz_exec.ddl_ran = false;
	zz_exec.entered_in = GetCurrentSubTransactionId();
	zz_nsaved = 0;
	zz_exec.mode = mode;

	/*
	 * Reading the digest and the rows, undoing batches and installing a
	 * snapshot touch every replicated table and only the extension's own
	 * statements run: as the extension's owner, so that the monitoring
	 * role and a sidecar role that is not a superuser need only EXECUTE.
	 * (Apply runs each call as its caller; registration checks the
	 * caller's ownership and stays as the caller.)
	 */
	GetUserIdAndSecContext(&zz_exec.outer_user, &zz_exec.outer_sec);
	if (mode == ZZ_MODE_DIGEST || mode == ZZ_MODE_UNDO || mode == ZZ_MODE_INSTALL)
		SetUserIdAndSecContext(zz_exec.owner,
							   zz_exec.outer_sec | SECURITY_LOCAL_USERID_CHANGE);
	zz_lanes_load(mode != ZZ_MODE_DIGEST);
}

/*
 * Leave the current mode: store the lanes if rows changed, and
 * restore the settings that zz_enter_mode pinned.
 */
void
zz_leave_mode(void)
{
	ZzMode		mode = zz_exec.mode;

	Assert(mode != ZZ_MODE_NONE);
	if (zz_undo_pending() > 0)
		elog(ERROR, "undo records of batch " INT64_FORMAT " were not written",
			 zz_exec.seq);
	if (mode != ZZ_MODE_DIGEST && zz_exec.lanes_dirty)
		zz_lanes_store();
	zz_reset();
	SetUserIdAndSecContext(zz_exec.outer_user, zz_exec.outer_sec);
	zz_unpin_settings(zz_exec.guc_nestlevel);
}

/*
 * Refuse to start something that must not run inside replicated execution
 * (a nested apply_batch(), a registration, a rollback).
 */
void
zz_require_no_mode(const char *what)
{
	if (zz_exec.mode != ZZ_MODE_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot be called during replicated execution", what),
				 errhint("Call it from the session that manages the replica, not from a replicated function.")));
}

/*
 * Switch to the owner of schema zyzzyva to write the extension's own tables
 * from inside a replicated function, which may run as a role that cannot,
 * with search_path = pg_catalog, pg_temp: the extension's own statements
 * must not resolve a name to an object that some role planted in a schema
 * it may create in (public.quote_ident(name) would outrank
 * pg_catalog.quote_ident(text) for a name argument).  The abort of a
 * (sub)transaction restores the user and the setting by itself.
 */
void
zz_as_owner(ZzSavedUser *saved)
{
	GetUserIdAndSecContext(&saved->user, &saved->sec);
	SetUserIdAndSecContext(zz_exec.mode != ZZ_MODE_NONE ? zz_exec.owner : zz_schema_owner(),
						   saved->sec | SECURITY_LOCAL_USERID_CHANGE);
	saved->nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", ZZ_SAFE_SEARCH_PATH,
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/*
 * Undo zz_as_owner or zz_become_caller.
 */
void
zz_restore_user(const ZzSavedUser *saved)
{
	if (saved->nestlevel > 0)
		AtEOXact_GUC(true, saved->nestlevel);
	SetUserIdAndSecContext(saved->user, saved->sec);
}

/*
 * Is this error a fact about this replica's environment rather than a
 * deterministic outcome of the request?  Such errors (cancel, shutdown,
 * deadlock, lack of memory or disk, I/O failures, internal errors) must not
 * become a reply that other replicas would not give: they fail the whole
 * batch, and the daemon retries it.
 */
bool
zz_is_environmental_error(int sqlerrcode)
{
	int			class = ERRCODE_TO_CATEGORY(sqlerrcode);

	return class == ERRCODE_TO_CATEGORY(ERRCODE_TRANSACTION_ROLLBACK) ||	/* 40 */
		class == ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES) || /* 53 */
		class == ERRCODE_TO_CATEGORY(ERRCODE_OPERATOR_INTERVENTION) ||	/* 57 */
		class == ERRCODE_TO_CATEGORY(ERRCODE_SYSTEM_ERROR) ||	/* 58 */
		class == ERRCODE_TO_CATEGORY(ERRCODE_INTERNAL_ERROR) || /* XX */
		class == ERRCODE_TO_CATEGORY(ERRCODE_CONNECTION_EXCEPTION) ||	/* 08 */
		sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		sqlerrcode == ERRCODE_OBJECT_IN_USE;
}

/*
 * Module load: refuse to load other than at server start, define the
 * settings, install the hooks.
 *
 * zyzzyva.socket_path is superuser-only (whoever answers on that socket
 * decides what replicated calls return) but not server-wide: each
 * database with the extension is replicated by its own sidecar, so it may
 * be set per database (ALTER DATABASE ... SET).
 */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("zyzzyva must be loaded via shared_preload_libraries"),
				 errhint("Add zyzzyva to shared_preload_libraries in postgresql.conf and restart the server.")));

	DefineCustomStringVariable("zyzzyva.socket_path",
							   "Path of the local zyzzyvad socket that replicated calls go through.",
							   "Relative to the data directory unless absolute; empty means that no sidecar is configured.",
							   &zz_socket_path,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("zyzzyva.call_timeout",
							"Longest wait for the sidecar to complete a replicated call.",
							"Zero waits without limit (statement_timeout and cancel still apply).",
							&zz_call_timeout,
							30000, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	/*
	 * Set in postgresql.conf or, by a superuser, at connection start (the
	 * sidecar passes its configuration's entrust.N lines): a role that
	 * could change it could make apply run calls as any role.
	 */
	DefineCustomStringVariable("zyzzyva.entrust",
							   "Which roles each replica may submit replicated calls for.",
							   "replica:role,role;replica:role,...; \"*\" is every role that is not a superuser.  The sidecar sets it from its configuration.",
							   &zz_entrust,
							   "",
							   PGC_SU_BACKEND,
							   0,
							   zz_entrust_check, NULL, NULL);
	/*
	 * The cluster's f and how long a DDL proposal lives: set by the sidecar
	 * at connection start (or in postgresql.conf), the same on every
	 * replica, since apply decides with them.
	 */
	DefineCustomIntVariable("zyzzyva.cluster_f",
							"The number of faulty replicas the cluster tolerates: a replicated DDL request applies once f+1 replicas proposed it.",
							"Zero (no sidecar): a replicated DDL request applies at once.",
							&zz_cluster_f,
							0, 0, 100,
							PGC_SU_BACKEND,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("zyzzyva.ddl_proposal_timeout",
							"How long a replicated DDL proposal waits for the other replicas' proposals.",
							"Measured in batch time (zyzzyva.now()).",
							&zz_ddl_proposal_timeout,
							3600, 1, INT_MAX / 2,
							PGC_SU_BACKEND,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("zyzzyva.repair_mode",
							 "Allows changing replicated tables and functions outside replication.",
							 "For an administrator repairing one replica; every such change is logged with a WARNING.",
							 &zz_repair_mode,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	RegisterXactCallback(zz_xact_callback, NULL);
	RegisterSubXactCallback(zz_subxact_callback, NULL);
	zz_determinism_init();
	zz_intercept_init();
	zz_call_init();
	zz_ddl_init();
	zz_authz_init();

	/*
	 * After every zyzzyva.* setting is defined (the init functions above
	 * define some): reserving the prefix drops the placeholders of the
	 * settings not yet defined, and with them their values from
	 * postgresql.conf (zyzzyva.request_timeout, zyzzyva.allowed_functions
	 * were ignored until the next reload).
	 */
	MarkGUCPrefixReserved("zyzzyva");
}

/*
 * Does this database's version of the extension have relation
 * zyzzyva.relname (and its column, unless column is NULL)?  One shared
 * library serves every installed version: a database still on 0.1 (before
 * ALTER EXTENSION zyzzyva UPDATE) lacks what later versions added, and the
 * code that reads those objects does without them, as 0.1 did.
 */
static bool
extension_lookup(const char *relname, const char *column)
{
	Oid			nsp = get_namespace_oid("zyzzyva", true);
	Oid			rel;

	if (!OidIsValid(nsp))
		return false;
	rel = get_relname_relid(relname, nsp);
	if (!OidIsValid(rel))
		return false;
	return column == NULL || get_attnum(rel, column) != InvalidAttrNumber;
}

/*
 * The answers of zz_extension_has, per backend: the few objects asked
 * about, each with its answer, until a change to pg_namespace, pg_class or
 * pg_attribute (ALTER EXTENSION UPDATE adds relations and columns, DROP and
 * CREATE EXTENSION remove and add them) forgets them all.  Catalog
 * invalidations are exact: this backend sees its own change at its next
 * command, another backend's once it commits.  has_count counts them, so
 * that an answer the catalogs changed under is not kept.
 */
#define ZZ_HAS_SLOTS 8

static struct
{
	char		relname[NAMEDATALEN];	/* "": a free slot */
	char		column[NAMEDATALEN];	/* "": none asked */
	bool		answer;
}			has_cache[ZZ_HAS_SLOTS];
static uint64 has_count = 0;
static bool has_callbacks = false;

static void
has_forget(Datum arg, int cacheid, uint32 hashvalue)
{
	memset(has_cache, 0, sizeof(has_cache));
	has_count++;
}

bool
zz_extension_has(const char *relname, const char *column)
{
	const char *col = column != NULL ? column : "";
	uint64		count = has_count;
	bool		answer;
	int			k;

	if (!has_callbacks)
	{
		CacheRegisterSyscacheCallback(NAMESPACENAME, has_forget, (Datum) 0);
		CacheRegisterSyscacheCallback(RELNAMENSP, has_forget, (Datum) 0);
		CacheRegisterSyscacheCallback(ATTNAME, has_forget, (Datum) 0);
		has_callbacks = true;
	}
	for (k = 0; k < ZZ_HAS_SLOTS && has_cache[k].relname[0] != '\0'; k++)
		if (strcmp(has_cache[k].relname, relname) == 0 &&
			strcmp(has_cache[k].column, col) == 0)
			return has_cache[k].answer;
	answer = extension_lookup(relname, column);
	if (k < ZZ_HAS_SLOTS && count == has_count &&
		strlen(relname) < NAMEDATALEN && strlen(col) < NAMEDATALEN)
	{
		strlcpy(has_cache[k].relname, relname, NAMEDATALEN);
		strlcpy(has_cache[k].column, col, NAMEDATALEN);
		has_cache[k].answer = answer;
	}
	return answer;
}
