/*-------------------------------------------------------------------------
 *
 * ddl_int.h
 *	  Between ddl.c (replicated DDL requests) and ddl_evolve.c (changes to
 *	  objects that exist, with their undo) and ddl_transfer.c (the schema
 *	  history in the digest and in snapshots).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZYZZYVA_DDL_INT_H
#define ZYZZYVA_DDL_INT_H

#include "nodes/parsenodes.h"

/* ddl_evolve.c: run is the statement itself, run(arg) */
extern void zz_ddl_alter_table(AlterTableStmt *at, Oid relid, void (*run) (void *), void *arg);
extern void zz_ddl_rename(RenameStmt *rs, void (*run) (void *), void *arg);
extern void zz_ddl_drop(DropStmt *ds, void (*run) (void *), void *arg);
extern void zz_ddl_record_replace(const char *olddef);
extern char *zz_ddl_function_def(Oid fnoid);
extern void zz_ddl_record_acl(Oid classid, Oid objid);
extern bool zz_ddl_undo_evolve(int64 seq, const char *action, const char *target);
extern void zz_ddl_run_internal(const char *sql);

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

#endif							/* ZYZZYVA_DDL_INT_H */
