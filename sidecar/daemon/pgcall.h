/*
 * pgcall.h
 *	  The PostgreSQL extension's request and reply bytes, for the tools.
 *
 * With service = postgres, a request's operation is a call of a replicated
 * SQL function and its reply is the function's result or error, in the
 * extension's encoding (extension/wire.c, big-endian):
 *
 *	 call  := rolelen:u32 role dblen:u32 database
 *			  siglen:u32 signature nargs:u32 (len:i32 text)*	(len -1: NULL)
 *	 reply := 'V' len:i32 text			(the result; -1: NULL)
 *			| 'E' sqlstate[5] len:u32 message
 *
 * The daemon carries both opaquely; zyzzyva-cli and zyzzyva-bench use
 * these to build requests (--call) and print replies.
 */
#ifndef ZZD_PGCALL_H
#define ZZD_PGCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Big-endian integers, as in the extension's formats. */
extern void pgcall_put_u32(uint8_t *p, uint32_t v);
extern void pgcall_put_u64(uint8_t *p, uint64_t v);
extern uint32_t pgcall_get_u32(const uint8_t *p);
extern uint64_t pgcall_get_u64(const uint8_t *p);

/* Parse hex (even length, no prefix) into a malloc'd buffer; NULL if not hex. */
extern uint8_t *pgcall_from_hex(const char *hex, size_t *len);

#endif							/* ZZD_PGCALL_H */
