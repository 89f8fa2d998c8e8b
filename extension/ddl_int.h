/*-------------------------------------------------------------------------
 *
 * ddl_int.h
 *	  Between ddl.c (replicated DDL requests), ddl_evolve.c (changes to
 *	  objects that exist) with ddl_evolve_undo.c (their undo), and
 *	  ddl_transfer.c (the schema history in the digest and in snapshots).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZYZZYVA_DDL_INT_H
#define ZYZZYVA_DDL_INT_H

#include "nodes/parsenodes.h"

#include "lthash.h"

/* ddl_evolve.c: run is the statement itself, run(arg) */
extern void zz_ddl_alter_table(AlterTableStmt *at, Oid relid, void (*run) (void *), void *arg);
extern void zz_ddl_rename(RenameStmt *rs, void (*run) (void *), void *arg);
extern void zz_ddl_drop(DropStmt *ds, void (*run) (void *), void *arg);
extern void zz_ddl_record_replace(const char *olddef);
extern char *zz_ddl_function_def(Oid fnoid);
extern void zz_ddl_record_acl(Oid classid, Oid objid);
extern void zz_ddl_run_internal(const char *sql);

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

/* ddl_evolve.c: what its undo (ddl_evolve_undo.c) shares with it */
extern char *zz_ddl_qualname_of(Oid relid);
extern uint64 zz_ddl_registry_run(const char *sql, int nargs, Datum *values);
extern void zz_ddl_lanes_table(const char *qualname, int sign);
extern void zz_ddl_rehash_begin(ZzRehash *rh, Oid relid);
extern void zz_ddl_rehash_end(ZzRehash *rh, Oid relid);
extern List *zz_ddl_table_parts(Oid relid);

/* ddl_evolve_undo.c */
extern bool zz_ddl_undo_evolve(int64 seq, const char *action, const char *target);

/* ddl_transfer.c: one replicated DDL request of the schema history */
typedef struct ZzDdlEntry
{
	int64		seq;
	int32		request;
	int64		nd_time;
	char	   *role;
	char	   *sql;
} ZzDdlEntry;

/* ddl.c */
extern void zz_ddl_execute(const char *sql, const char *role);

/* ddl_proposal.c: record this replica's proposal; true once f+1 made it */
extern bool zz_ddl_proposal_decides(const char *sql);

#endif							/* ZYZZYVA_DDL_INT_H */
