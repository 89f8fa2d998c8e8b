/*
 * pgcall.c
 *	  The extension's call and reply bytes (see pgcall.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

#include "pgcall.h"
#include "types.h"

/* The shared format's limits are the core's. */
_Static_assert(ZZ_WIRE_MAX_OP == ZZ_MAX_OP_LEN, "a call is one request's operation");
_Static_assert(ZZ_WIRE_MAX_REPLY == ZZ_MAX_REPLY_LEN, "a reply is one request's reply");

/*
 * A C string as a text of the call.
 */
static zz_wire_text
pgcall_text(const char *s)
{
	zz_wire_text t = {s, s != NULL ? (uint32_t) strlen(s) : 0};

	return t;
}

/*
 * Encode a call (see pgcall.h) in the shared format.
 */
uint8_t *
pgcall_encode(const char *role, const char *database, const char *signature,
			  const char *const *args, int nargs, size_t *len)
{
	zz_wire_call *call;
	uint8_t    *buf;

	if (nargs < 0 || nargs > ZZ_WIRE_MAX_ARGS || (call = malloc(sizeof(zz_wire_call))) == NULL)
		return NULL;
	call->role = pgcall_text(role);
	call->database = pgcall_text(database);
	call->signature = pgcall_text(signature);
	call->nargs = (uint32_t) nargs;
	for (int i = 0; i < nargs; i++)
		call->args[i] = pgcall_text(args[i]);
	*len = zz_wire_call_size(call);
	buf = malloc(*len);
	if (buf != NULL)
		zz_wire_encode_call(buf, call);
	free(call);
	return buf;
}

const char *
pgcall_default_role(void)
{
	const char *u = getenv("PGUSER");
	struct passwd *pw;

	if (u != NULL && u[0] != '\0')
		return u;
	pw = getpwuid(geteuid());
	return pw != NULL ? pw->pw_name : "postgres";
}

const char *
pgcall_default_database(const char *role)
{
	const char *d = getenv("PGDATABASE");

	return d != NULL && d[0] != '\0' ? d : role;
}

/*
 * Describe a reply (see pgcall.h), read with the shared codec.
 */
char *
pgcall_format_reply(const uint8_t *reply, size_t len, bool *is_error)
{
	zz_wire_reply r;
	const char *why;
	char	   *out;

	if (!zz_wire_decode_reply(reply, len, &r, NULL, NULL, &why))
		return NULL;
	*is_error = r.is_error;
	if (!r.is_error && r.text.p == NULL)
		return strdup("NULL");
	out = malloc(r.text.len + 16);
	if (out == NULL)
		return NULL;
	if (r.is_error)
		snprintf(out, r.text.len + 16, "ERROR %.5s: %.*s", r.sqlstate, (int) r.text.len,
				 r.text.p);
	else
	{
		memcpy(out, r.text.p, r.text.len);
		out[r.text.len] = '\0';
	}
	return out;
}

uint8_t *
pgcall_from_hex(const char *hex, size_t *len)
{
	size_t		n = strlen(hex);
	uint8_t    *buf;

	if (n % 2 != 0)
		return NULL;
	buf = malloc(n / 2 ? n / 2 : 1);
	if (buf == NULL)
		return NULL;
	for (size_t i = 0; i < n / 2; i++)
	{
		unsigned int v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1 ||
			!strchr("0123456789abcdefABCDEF", hex[2 * i]) || hex[2 * i] == '\0' ||
			!strchr("0123456789abcdefABCDEF", hex[2 * i + 1]) || hex[2 * i + 1] == '\0')
		{
			free(buf);
			return NULL;
		}
		buf[i] = (uint8_t) v;
	}
	*len = n / 2;
	return buf;
}
