/*
 * pgcall.h
 *	  The PostgreSQL extension's request and reply bytes, for the tools.
 *
 * With service = postgres, a request's operation is a call of a replicated
 * SQL function and its reply is the function's result or error, in the
 * format the extension and the daemon share (extension/zzwire.h).
 *
 * The daemon carries both opaquely; zyzzyva-cli and zyzzyva-bench use
 * these to build requests (--call) and print replies.
 */
#ifndef ZZD_PGCALL_H
#define ZZD_PGCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zzwire.h"

/*
 * Encode a call of signature (canonical, e.g.
 * "public.transfer(integer,integer,bigint)") made by role in database,
 * with nargs arguments in text form (NULL: SQL NULL).  Returns a malloc'd
 * buffer and its length.  The replicas run it as role if the replica that
 * submits it is entrusted with role.
 */
extern uint8_t *pgcall_encode(const char *role, const char *database,
							  const char *signature, const char *const *args,
							  int nargs, size_t *len);

/* The role and database a tool calls as by default, as psql: $PGUSER or
 * the user's name, $PGDATABASE or the role's name. */
extern const char *pgcall_default_role(void);
extern const char *pgcall_default_database(const char *role);

/*
 * Describe a reply as a malloc'd C string: the result text ("NULL" for
 * SQL NULL), or "ERROR SQLSTATE: message".  *is_error tells which.  NULL
 * if the bytes are not a reply.
 */
extern char *pgcall_format_reply(const uint8_t *reply, size_t len, bool *is_error);

/* Big-endian integers, as in the extension's formats (extension/zzwire.h). */
#define pgcall_put_u32	zz_wire_put_u32
#define pgcall_put_u64	zz_wire_put_u64
#define pgcall_get_u32	zz_wire_get_u32
#define pgcall_get_u64	zz_wire_get_u64

/* Parse hex (even length, no prefix) into a malloc'd buffer; NULL if not hex. */
extern uint8_t *pgcall_from_hex(const char *hex, size_t *len);

#endif							/* ZZD_PGCALL_H */
