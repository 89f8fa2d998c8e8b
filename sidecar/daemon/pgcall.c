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

void
pgcall_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

void
pgcall_put_u64(uint8_t *p, uint64_t v)
{
	pgcall_put_u32(p, (uint32_t) (v >> 32));
	pgcall_put_u32(p + 4, (uint32_t) v);
}

uint32_t
pgcall_get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/*
 * Append a u32 length and the bytes of s.
 */
static uint8_t *
pgcall_put_string(uint8_t *p, const char *s)
{
	size_t		len = strlen(s);

	pgcall_put_u32(p, (uint32_t) len);
	memcpy(p + 4, s, len);
	return p + 4 + len;
}

uint8_t *
pgcall_encode(const char *role, const char *database, const char *signature,
			  const char *const *args, int nargs, size_t *len)
{
	size_t		n = 4 + strlen(role) + 4 + strlen(database) + 4 + strlen(signature) + 4;
	uint8_t    *buf,
			   *p;

	for (int i = 0; i < nargs; i++)
		n += 4 + (args[i] ? strlen(args[i]) : 0);
	buf = malloc(n);
	if (buf == NULL)
		return NULL;
	p = pgcall_put_string(buf, role);
	p = pgcall_put_string(p, database);
	p = pgcall_put_string(p, signature);
	pgcall_put_u32(p, (uint32_t) nargs);
	p += 4;
	for (int i = 0; i < nargs; i++)
	{
		size_t		al = args[i] ? strlen(args[i]) : 0;

		pgcall_put_u32(p, args[i] ? (uint32_t) al : 0xFFFFFFFFu);
		if (al > 0)
			memcpy(p + 4, args[i], al);
		p += 4 + al;
	}
	*len = n;
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

char *
pgcall_format_reply(const uint8_t *reply, size_t len, bool *is_error)
{
	char	   *out;
	uint32_t	tl;

	if (len >= 5 && reply[0] == 'V')
	{
		tl = pgcall_get_u32(reply + 1);
		*is_error = false;
		if (tl == 0xFFFFFFFFu && len == 5)
			return strdup("NULL");
		if (tl != len - 5)
			return NULL;
		out = malloc(tl + 1);
		if (out == NULL)
			return NULL;
		memcpy(out, reply + 5, tl);
		out[tl] = '\0';
		return out;
	}
	if (len >= 10 && reply[0] == 'E')
	{
		tl = pgcall_get_u32(reply + 6);
		if (tl != len - 10)
			return NULL;
		*is_error = true;
		out = malloc(tl + 16);
		if (out == NULL)
			return NULL;
		snprintf(out, tl + 16, "ERROR %.5s: %.*s", (const char *) reply + 1, (int) tl,
				 (const char *) reply + 10);
		return out;
	}
	return NULL;
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

uint64_t
pgcall_get_u64(const uint8_t *p)
{
	return ((uint64_t) pgcall_get_u32(p) << 32) | pgcall_get_u32(p + 4);
}
