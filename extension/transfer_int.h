/*-------------------------------------------------------------------------
 *
 * transfer_int.h
 *	  What the two forms of state transfer share: the single snapshot
 *	  (transfer.c) and the chunked one (transfer_chunk.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZZ_TRANSFER_INT_H
#define ZZ_TRANSFER_INT_H

#include "postgres.h"

#include "executor/spi.h"

/* install_*() refuse state whose digest is not the agreed one */
#define ERRCODE_ZZ_DIGEST_MISMATCH	MAKE_SQLSTATE('Z','Z','0','0','1')

/* A replicated table of this database. */
typedef struct ZzLocalTable
{
	char	   *qualname;
	Oid			relid;			/* InvalidOid if the table is missing */
} ZzLocalTable;

extern ZzLocalTable *zz_local_tables(int *count);
extern void zz_require_table(const ZzLocalTable *t);
extern void zz_read_position(int64 *last_seq, int64 *stable_seq);
extern void zz_refuse_snapshot_behind_ddl(int64 seq);
extern void zz_install_enter(int64 seq, const char *caller);
extern SPIPlanPtr zz_snapshot_rows_plan(const ZzLocalTable *t);
extern char *zz_hex(const uint8 *d, size_t len);

#endif							/* ZZ_TRANSFER_INT_H */
