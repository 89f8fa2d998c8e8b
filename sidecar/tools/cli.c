/*
 * cli.c
 *	  zyzzyva-cli: submit operations through a replica's local socket.
 *
 *	  zyzzyva-cli --socket PATH [--verbose] [--timeout SECONDS] OP...
 *	  zyzzyva-cli --socket PATH --status
 *
 * Each OP is one request (for the kv service, e.g. "PUT k v", "GET k");
 * requests go one after another on one connection, and each reply is
 * printed on its own line once the replicas have completed it.  --verbose
 * adds how it completed (fast or commit path), its view and sequence
 * number.  Exit status: 0 if every request completed, 1 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "lclient.h"

/*
 * Print usage.
 */
static void
cli_usage(FILE *fp)
{
	fprintf(fp, "usage: zyzzyva-cli --socket PATH [--verbose] [--timeout SECONDS] OP...\n"
			"       zyzzyva-cli --socket PATH --status\n");
}

/*
 * Send one frame and wait for its answer; print it.  Returns success.
 */
static bool
cli_roundtrip(int fd, uint8_t type, const char *payload, size_t plen, bool verbose,
			  long long timeout_ms)
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
	if (rtype == FT_L_RESULT && rlen >= FT_L_RESULT_HDR)
	{
		if (verbose)
			printf("path=%s view=%llu seq=%llu reply=", reply[0] == 0 ? "fast" : "commit",
				   (unsigned long long) frame_get_u64(reply + 1),
				   (unsigned long long) frame_get_u64(reply + 9));
		fwrite(reply + FT_L_RESULT_HDR, 1, rlen - FT_L_RESULT_HDR, stdout);
		putchar('\n');
	}
	else if (rtype == FT_L_STATUS)
		fwrite(reply, 1, rlen, stdout);
	else if (rtype == FT_L_ERROR)
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

int
main(int argc, char **argv)
{
	const char *path = NULL;
	bool		verbose = false;
	bool		status = false;
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
	fd = lclient_connect(path);
	if (fd < 0)
	{
		fprintf(stderr, "zyzzyva-cli: cannot connect to %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (status)
		ok = cli_roundtrip(fd, FT_L_STATUS_REQ, "", 0, false, timeout_ms);
	for (; ok && i < argc; i++)
		ok = cli_roundtrip(fd, FT_L_REQUEST, argv[i], strlen(argv[i]), verbose, timeout_ms);
	close(fd);
	return ok ? 0 : 1;
}
