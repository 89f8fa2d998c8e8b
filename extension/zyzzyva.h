/*-------------------------------------------------------------------------
 *
 * zyzzyva.h
 *	  Declarations shared by the files of the zyzzyva extension.
 *
 * The extension is the database side of zyzzyva: it declares which tables
 * and functions are replicated, executes ordered batches of requests
 * (apply.c), records undo so that a speculative suffix can be rolled back
 * (capture.c, undo.c), keeps an incremental digest of the replicated state
 * (digest.c, lthash.c) and keeps replicated execution deterministic
 * (determinism.c).  Outside replicated execution, a call of a replicated
 * function goes through the local sidecar (intercept.c, call.c).
 *
 * A backend is in one of three modes.  In ZZ_MODE_NONE replicated tables
 * refuse writes.  In ZZ_MODE_APPLY, while apply_batch() runs a batch, the
 * capture trigger records undo and updates the digest.  In ZZ_MODE_UNDO,
 * while rollback_to() replays undo, the trigger only updates the digest.
 * Every mode pins the settings that change how values read and print, so
 * that every replica produces the same text; ZZ_MODE_ADMIN (registration,
 * stable checkpoints, commit certificates) and ZZ_MODE_DIGEST (reading the
 * digest, taking a snapshot) write no replicated rows.  In ZZ_MODE_INSTALL,
 * while install_snapshot() replaces every replicated row, the capture
 * trigger does nothing: the installer sets the digest itself and writes no
 * undo.  A replicated DDL request (ddl.c) runs in ZZ_MODE_APPLY with
 * zz_exec.ddl set.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZYZZYVA_H
#define ZYZZYVA_H

#include "postgres.h"

#include "access/htup.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/guc.h"
#include "utils/relcache.h"

#include "lthash.h"
#include "zzwire.h"

typedef enum ZzMode
{
	ZZ_MODE_NONE = 0,
	ZZ_MODE_APPLY,
	ZZ_MODE_UNDO,
	ZZ_MODE_ADMIN,				/* registration, checkpoint marks */
	ZZ_MODE_DIGEST,				/* settings pinned to read rows, no writes */
	ZZ_MODE_INSTALL				/* install_snapshot(): rows replaced wholesale */
} ZzMode;

/*
 * The state of replicated execution in this backend.  Only meaningful while
 * mode != ZZ_MODE_NONE; reset at the end of the transaction, and at the
 * abort of the subtransaction that entered the mode.
 */
typedef struct ZzExec
{
	ZzMode		mode;
	SubTransactionId entered_in;	/* subtransaction that entered the mode */
	int			guc_nestlevel;	/* to restore the pinned settings */
	Oid			owner;			/* owner of schema zyzzyva: writes its tables */
	Oid			outer_user;		/* the user and security context before the */
	int			outer_sec;		/* mode was entered, restored when it is left */

	/* the batch being applied (ZZ_MODE_APPLY) */
	int64		seq;
	int64		nd_time;		/* microseconds since the Unix epoch */
	int64		nd_seed;
	int32		request;		/* index of the running request, from 0 */
	int32		origin;			/* the replica that sent it (client / 65536) */
	int32		undo_ord;		/* order of the next undo record in seq */
	uint64		random_calls;	/* zyzzyva.random() calls in this request */
	bool		ddl;			/* a replicated DDL request is running (ddl.c) */
	bool		ddl_ran;		/* one ran since the registry was loaded */

	/* the running LtHash of all rows of replicated tables */
	ZzLtHash	lanes;
	bool		lanes_dirty;	/* changed since loaded or stored */
} ZzExec;

extern ZzExec zz_exec;

/* GUCs */
extern char *zz_socket_path;
extern int	zz_call_timeout;

/* zyzzyva.c */
extern void zz_enter_mode(ZzMode mode, const char *caller);
extern void zz_leave_mode(void);
extern int	zz_pin_settings(void);
extern void zz_unpin_settings(int nestlevel);
extern void zz_require_no_mode(const char *what);
/* the user and setting zz_as_owner / zz_become_caller replaced */
typedef struct ZzSavedUser
{
	Oid			user;
	int			sec;
	int			nestlevel;		/* GUC nest level to restore, 0 if none */
} ZzSavedUser;

/*
 * search_path while replicated functions run (pg_catalog first, temporary
 * objects last), and while only the extension's own statements run.
 */
#define ZZ_APPLY_SEARCH_PATH	"pg_catalog, public, pg_temp"
#define ZZ_SAFE_SEARCH_PATH		"pg_catalog, pg_temp"
/* replicated DDL: pg_catalog implicitly first, new objects in public */
#define ZZ_DDL_SEARCH_PATH		"public, pg_temp"

extern void zz_as_owner(ZzSavedUser *saved);
extern bool zz_extension_has(const char *relname, const char *column);
extern void zz_restore_user(const ZzSavedUser *saved);
extern bool zz_is_environmental_error(int sqlerrcode);

/* adopt.c */
extern bool zz_adopt_pending(void);

/* registry.c */
extern void zz_install_table_triggers(const char *qualname, bool or_replace);

/* authz.c */
struct ZzRequest;
struct ZzCall;
extern char *zz_entrust;
extern bool zz_repair_mode;
extern bool zz_entrust_check(char **newval, void **extra, GucSource source);
extern void zz_entrust_load(MemoryContext cxt);
extern void zz_entrust_unload(void);
extern Oid	zz_request_role(const struct ZzRequest *req, const struct ZzCall *call);
extern void zz_become_caller(Oid roleid, ZzSavedUser *saved);
extern void zz_authz_init(void);
extern void zz_authz_check_utility(Node *stmt);

/* digest.c */
extern SPIPlanPtr zz_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs,
							   Oid *argtypes);
extern bool zz_lanes_unchanged;
extern void zz_lanes_load(bool lock);
extern void zz_lanes_store(void);
extern void zz_lanes_stored(void);
extern bytea *zz_lanes_bytea(void);
extern char *zz_relation_qualname(Relation rel);
extern char *zz_row_text(Relation rel, HeapTuple tuple);
extern void zz_row_hash(ZzLtHash *out, const char *qualname, const char *rowtext);
extern void zz_digest_table_rows(const char *qualname, ZzLtHash *acc,
								 bool own_writes);
extern void zz_state_digest(uint8 out[ZZ_SHA256_BYTES]);
extern void zz_state_digest_inner(uint8 out[ZZ_SHA256_BYTES]);
extern void zz_sha256(const void *data, size_t len, uint8 out[ZZ_SHA256_BYTES]);

/* ddl.c */
#define ZZ_DDL_SIGNATURE	"zyzzyva.replicated_ddl(text)"
#define ZZ_WITHDRAW_SIGNATURE	"zyzzyva.withdraw_ddl(text)"
extern int	zz_cluster_f;
extern int	zz_ddl_proposal_timeout;
extern void zz_ddl_init(void);
extern bool zz_ddl_registering(void);
extern void zz_ddl_internal_begin(void);
extern void zz_ddl_internal_end(void);
extern void zz_ddl_record_registration(const char *action, const char *target);
extern void zz_ddl_undo_begin(void);
extern void zz_ddl_undo(int64 seq, int32 request, const char *action,
						const char *target);
extern void zz_ddl_undo_flush(int64 seq, int32 request);
/* ddl_evolve_undo.c, ddl_transfer.c: what schema undo keeps; the schema history */
extern void zz_ddl_purge(int64 seq);
extern bool zz_ddl_undo_schema(Oid nspid);
extern void zz_ddl_fold_history(uint8 digest[ZZ_SHA256_BYTES]);
extern void zz_ddl_snapshot_history(StringInfo buf, int64 seq, const ZzLtHash *lanes);
struct ZzReader;
extern char *zz_read_text(struct ZzReader *r, const char *what, const char **why);
typedef struct ZzDdlHistory
{
	uint8		inner[ZZ_SHA256_BYTES];	/* digest of the rows and schema */
	int			count;
	struct ZzDdlEntry *entries;
} ZzDdlHistory;
extern bool zz_ddl_snapshot_decode(struct ZzReader *r, ZzDdlHistory *h, const char **why);
extern bool zz_ddl_install_prepare(const ZzDdlHistory *h);
extern int	zz_ddl_install_history(const ZzDdlHistory *h, int64 seq,
								   const uint8 expect[ZZ_SHA256_BYTES]);

/* capture.c */
extern void zz_undo_flush(void);
extern Size zz_undo_pending(void);
extern void zz_undo_subxact_abort(SubTransactionId subid);
extern void zz_undo_discard(void);

/* sequence.c */
extern void zz_sequences_batch_begin(void);
extern void zz_sequences_request_begin(void);
extern void zz_sequences_after_ddl(void);
extern void zz_sequences_sync(void);
extern void zz_sequences_batch_end(void);
extern void zz_sequences_table_replicated(Oid relid);
extern void zz_sequences_row_changed(Relation rel);
extern void zz_sequence_check_use(Oid relid, const char *what);

/* undo.c */
extern void zz_append_columns(StringInfo buf, TupleDesc desc, const char *alias);

/* intercept.c */
extern void zz_intercept_init(void);
extern void zz_intercept_reset(void);
extern char *zz_replicated_signature(Oid fnoid);

/* call.c */
extern Datum zz_call_replicated(PG_FUNCTION_ARGS);
extern void zz_call_init(void);

/* sidecar.c: zyzzyvad's local frames, ZZ_FT_L_* (extension/zzwire.h) */

extern void zz_sidecar_exchange(const char *what, const StringInfo request,
								StringInfo response, uint8 *type);
extern void zz_sidecar_disconnect(void);
extern void zz_sidecar_cleanup(void);
extern void zz_sidecar_status(StringInfo out);

/* determinism.c */
extern void zz_determinism_init(void);
extern void zz_forget_unchecked_plans(void);
extern uint64 zz_random_bits(uint64 counter);
extern void zz_check_datetime_input(Oid typid, const char *text, int len);

/* request_budget.c */
#define ZZ_BUDGET_MESSAGE "request cancelled: it ran longer than zyzzyva.request_timeout allows"
extern int	zz_request_timeout;
extern void zz_request_budget_start(void);
extern bool zz_request_budget_stop(void);
extern void zz_request_budget_error(void) pg_attribute_noreturn();
extern bool zz_request_running;

/* wire.c: see wire.c for the byte formats */
typedef struct ZzCall
{
	char	   *role;			/* the calling role's name */
	char	   *database;		/* the calling database's name */
	char	   *signature;
	int			nargs;
	char	  **args;			/* NULL entries are SQL NULLs */
} ZzCall;

typedef struct ZzRequest
{
	uint32		client;
	uint64		timestamp;
	const char *call;			/* points into the batch */
	uint32		call_len;
} ZzRequest;

extern ZzRequest *zz_decode_batch(const char *data, size_t len, int *count);
extern bool zz_decode_call(const char *data, size_t len, ZzCall *call,
						   const char **why);
typedef struct ZzReply
{
	bool		is_error;
	char		sqlstate[6];	/* for an error: five characters and a NUL */
	char	   *text;			/* result (NULL = SQL NULL), or error message */
	char	   *detail;			/* an error's DETAIL and HINT, or NULL */
	char	   *hint;
} ZzReply;

extern bool zz_decode_reply(const char *data, size_t len, ZzReply *reply,
							const char **why);
extern void zz_encode_call(StringInfo buf, const ZzCall *call);
extern void zz_encode_reply_value(StringInfo buf, const char *value);
extern void zz_encode_reply_error(StringInfo buf, int sqlerrcode,
								  const char *message, const char *detail,
								  const char *hint);
extern void zz_put_uint32(StringInfo buf, uint32 v);

#endif							/* ZYZZYVA_H */
