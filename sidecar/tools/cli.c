/*
 * cli.c
 *	  zyzzyva-cli: submit operations through a replica's local socket.
 *
 *	  zyzzyva-cli --socket PATH [--verbose] [--timeout SECONDS] OP...
 *	  zyzzyva-cli --socket PATH [...] [--role R] [--database D] --call SIGNATURE ARGS...
 *	  zyzzyva-cli --socket PATH [...] --hex [--decode] HEXOP...
 *	  zyzzyva-cli --socket PATH --status
 *
 * Each OP is one request (for the kv service, e.g. "PUT k v", "GET k");
 * requests go one after another on one connection, and each reply is
 * printed on its own line once the replicas have completed it.  --verbose
 * adds how it completed (fast or commit path), its view and sequence
 * number.  Exit status: 0 if every request completed, 1 otherwise.
 *
 * For service = postgres, a request is a call of a replicated function in
 * the extension's encoding (pgcall.h).  With --call SIGNATURE each
 * following argument is one call, its arguments separated by white space
 * ("1 2 100"; \N is NULL), e.g.
 *	  zyzzyva-cli --socket S --call 'public.transfer(integer,integer,bigint)' '1 2 100'
 * A call is made as --role in --database (default, as psql: $PGUSER or the
 * user's name, and $PGDATABASE or the role's name); the replicas run it as
 * that role if this replica is entrusted with it (entrust.N).
 * With --hex each OP is the hex of a request's bytes (what
 * zyzzyva.encode_call() returns).  --call and --decode print replies as
 * the result text or "ERROR SQLSTATE: message".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "lclient.h"
#include "pgcall.h"

/*
 * Print usage.
 */
static void
cli_usage(FILE *fp)
{
	fprintf(fp, "usage: zyzzyva-cli --socket PATH [--verbose] [--timeout SECONDS] OP...\n"
			"       zyzzyva-cli --socket PATH [...] [--role ROLE] [--database DB] --call SIGNATURE 'ARG ARG ...'...\n"
			"       zyzzyva-cli --socket PATH [...] --hex [--decode] HEXOP...\n"
			"       zyzzyva-cli --socket PATH --status\n");
}

/*
 * Send one frame and wait for its answer; print it.  Returns success.
 */
static bool
cli_roundtrip(int fd, uint8_t type, const void *payload, size_t plen, bool verbose,
			  bool decode, long long timeout_ms)
{
	uint8_t		rtype = 0;
	uint8_t    *reply;
	uint32_t	rlen = 0;
	const char *why = NULL;

	if (!lclient_send(fd, type, payload, plen))
	{
		fprintf(stderr, "zyzzyva-cli: write: %s\n", strerror(errno));
		return false;
	}
	if (!lclient_recv(fd, timeout_ms, &rtype, &reply, &rlen, &why))
	{
		fprintf(stderr, "zyzzyva-cli: %s\n", why);
		return false;
	}
	if (rtype == ZZ_FT_L_RESULT && rlen >= ZZ_FT_L_RESULT_HDR)
	{
		if (verbose)
			printf("path=%s%s view=%llu seq=%llu reply=",
				   (reply[0] & ZZ_L_PATH_COMMIT) ? "commit" : "fast",
				   (reply[0] & ZZ_L_PATH_UNAPPLIED) ? ",unapplied" : "",
				   (unsigned long long) frame_get_u64(reply + 1),
				   (unsigned long long) frame_get_u64(reply + 9));
		if (decode)
		{
			bool		is_error;
			char	   *text = pgcall_format_reply(reply + ZZ_FT_L_RESULT_HDR,
												   rlen - ZZ_FT_L_RESULT_HDR, &is_error);

			fputs(text ? text : "(not an extension reply)", stdout);
			free(text);
		}
		else
			fwrite(reply + ZZ_FT_L_RESULT_HDR, 1, rlen - ZZ_FT_L_RESULT_HDR, stdout);
		putchar('\n');
	}
	else if (rtype == ZZ_FT_L_STATUS)
		fwrite(reply, 1, rlen, stdout);
	else if (rtype == ZZ_FT_L_ERROR)
	{
		fprintf(stderr, "zyzzyva-cli: error from the daemon: %.*s\n", (int) rlen, reply);
		free(reply);
		return false;
	}
	else
	{
		fprintf(stderr, "zyzzyva-cli: unexpected frame type %u\n", rtype);
		free(reply);
		return false;
	}
	fflush(stdout);
	free(reply);
	return true;
}

/*
 * One call of signature; its arguments are the white-space separated
 * words of args (\N is NULL).
 */
static uint8_t *
cli_encode_call(const char *role, const char *database, const char *signature,
				const char *args, size_t *len)
{
	char	   *copy = strdup(args);
	const char *argv[256];
	int			n = 0;
	uint8_t    *op;

	if (copy == NULL)
		return NULL;
	for (char *w = strtok(copy, " \t\n"); w != NULL && n < 256; w = strtok(NULL, " \t\n"))
		argv[n++] = strcmp(w, "\\N") == 0 ? NULL : w;
	op = pgcall_encode(role, database, signature, argv, n, len);
	free(copy);
	return op;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	bool		verbose = false;
	bool		status = false;
	bool		hex = false;
	bool		decode = false;
	const char *call = NULL;
	const char *role = NULL;
	const char *database = NULL;
	long long	timeout_ms = 30000;
	int			i;
	int			fd;
	bool		ok = true;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++)
	{
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout_ms = (long long) (atof(argv[++i]) * 1000);
		else if (strcmp(argv[i], "--verbose") == 0)
			verbose = true;
		else if (strcmp(argv[i], "--status") == 0)
			status = true;
		else if (strcmp(argv[i], "--call") == 0 && i + 1 < argc)
			call = argv[++i];
		else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
			role = argv[++i];
		else if (strcmp(argv[i], "--database") == 0 && i + 1 < argc)
			database = argv[++i];
		else if (strcmp(argv[i], "--hex") == 0)
			hex = true;
		else if (strcmp(argv[i], "--decode") == 0)
			decode = true;
		else if (strcmp(argv[i], "--") == 0)
		{
			i++;
			break;
		}
		else
		{
			cli_usage(stderr);
			return 2;
		}
	}
	if (path == NULL || (!status && i >= argc) || timeout_ms <= 0)
	{
		cli_usage(stderr);
		return 2;
	}
	if (role == NULL)
		role = pgcall_default_role();
	if (database == NULL)
		database = pgcall_default_database(role);
	fd = lclient_connect(path);
	if (fd < 0)
	{
		fprintf(stderr, "zyzzyva-cli: cannot connect to %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (status)
		ok = cli_roundtrip(fd, ZZ_FT_L_STATUS_REQ, "", 0, false, false, timeout_ms);
	for (; ok && i < argc; i++)
	{
		uint8_t    *op = NULL;
		size_t		oplen = 0;

		if (call != NULL)
			op = cli_encode_call(role, database, call, argv[i], &oplen);
		else if (hex && (op = pgcall_from_hex(argv[i], &oplen)) == NULL)
		{
			fprintf(stderr, "zyzzyva-cli: '%s' is not hex\n", argv[i]);
			ok = false;
			break;
		}
		if (op != NULL)
			ok = cli_roundtrip(fd, ZZ_FT_L_REQUEST, op, oplen, verbose, call != NULL || decode,
							   timeout_ms);
		else if (call != NULL)
		{
			fprintf(stderr, "zyzzyva-cli: out of memory\n");
			ok = false;
		}
		else
			ok = cli_roundtrip(fd, ZZ_FT_L_REQUEST, argv[i], strlen(argv[i]), verbose, decode,
							   timeout_ms);
		free(op);
	}
	close(fd);
	return ok ? 0 : 1;
}
