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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"

#define CLI_MAX_REPLY	(ZZ_MAX_REPLY_LEN + 64)

/*
 * Milliseconds on the monotonic clock.
 */
static long long
cli_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Connect to the daemon's socket.
 */
static int
cli_connect(const char *path)
{
	struct sockaddr_un sa;
	int			fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
	{
		errno = ENAMETOOLONG;
		close(fd);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
	{
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Write all of buf.
 */
static bool
cli_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t) n;
	}
	return true;
}

/*
 * Read one frame, waiting until deadline_ms.  The payload is malloc'd.
 */
static bool
cli_read_frame(int fd, long long deadline_ms, uint8_t *type, uint8_t **payload,
			   uint32_t *len, const char **why)
{
	uint8_t		hdr[FRAME_HDR_LEN];
	size_t		have = 0;
	size_t		want = FRAME_HDR_LEN;
	uint8_t    *buf = hdr;

	*payload = NULL;
	while (have < want)
	{
		struct pollfd pfd = {fd, POLLIN, 0};
		long long	left = deadline_ms - cli_ms();
		ssize_t		n;

		if (left <= 0 || poll(&pfd, 1, (int) (left > 60000 ? 60000 : left)) < 0)
		{
			if (left <= 0)
			{
				*why = "timed out waiting for the reply";
				free(*payload);
				return false;
			}
			continue;
		}
		if (pfd.revents == 0)
			continue;
		n = read(fd, buf + have, want - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			*why = "the daemon closed the connection";
			free(*payload);
			return false;
		}
		have += (size_t) n;
		if (buf == hdr && have == FRAME_HDR_LEN)
		{
			*type = hdr[0];
			*len = frame_get_u32(hdr + 1);
			if (*len > CLI_MAX_REPLY)
			{
				*why = "reply frame too large";
				return false;
			}
			*payload = malloc(*len ? *len : 1);
			if (*payload == NULL)
			{
				*why = "out of memory";
				return false;
			}
			buf = *payload;
			have = 0;
			want = *len;
		}
	}
	return true;
}

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
	uint8_t		hdr[FRAME_HDR_LEN];
	uint8_t		rtype = 0;
	uint8_t    *reply;
	uint32_t	rlen = 0;
	const char *why = NULL;

	hdr[0] = type;
	frame_put_u32(hdr + 1, (uint32_t) plen);
	if (!cli_write_all(fd, hdr, sizeof(hdr)) ||
		!cli_write_all(fd, (const uint8_t *) payload, plen))
	{
		fprintf(stderr, "zyzzyva-cli: write: %s\n", strerror(errno));
		return false;
	}
	if (!cli_read_frame(fd, cli_ms() + timeout_ms, &rtype, &reply, &rlen, &why))
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
	fd = cli_connect(path);
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
