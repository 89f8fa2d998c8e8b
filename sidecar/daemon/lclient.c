/*
 * lclient.c
 *	  Blocking local-socket client for the tools (see lclient.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "lclient.h"

#define LCLIENT_MAX_FRAME	(ZZ_MAX_REPLY_LEN + 4096)

/*
 * Milliseconds on the monotonic clock.
 */
long long
lclient_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Connect to the daemon's socket.
 */
int
lclient_connect(const char *path)
{
	struct sockaddr_un sa;
	int			fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
	{
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
	{
		int			e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * Write all of buf.
 */
static bool
lclient_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = send(fd, buf, len, MSG_NOSIGNAL);

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
 * Send one frame.
 */
bool
lclient_send(int fd, uint8_t type, const void *payload, size_t len)
{
	uint8_t		hdr[FRAME_HDR_LEN];

	if (len > UINT32_MAX)
		return false;
	hdr[0] = type;
	frame_put_u32(hdr + 1, (uint32_t) len);
	return lclient_write_all(fd, hdr, sizeof(hdr)) &&
		lclient_write_all(fd, payload, len);
}

/*
 * Read exactly len bytes before deadline.
 */
static bool
lclient_read_exact(int fd, uint8_t *buf, size_t len, long long deadline, const char **why)
{
	size_t		have = 0;

	while (have < len)
	{
		struct pollfd pfd = {fd, POLLIN, 0};
		long long	left = deadline - lclient_ms();
		ssize_t		n;

		if (left <= 0)
		{
			*why = "timed out waiting for the reply";
			return false;
		}
		if (poll(&pfd, 1, (int) (left > 60000 ? 60000 : left)) <= 0)
			continue;
		n = read(fd, buf + have, len - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
		{
			*why = "the daemon closed the connection";
			return false;
		}
		have += (size_t) n;
	}
	return true;
}

/*
 * Read one frame.
 */
bool
lclient_recv(int fd, long long timeout_ms, uint8_t *type, uint8_t **payload,
			 uint32_t *len, const char **why)
{
	long long	deadline = lclient_ms() + timeout_ms;
	uint8_t		hdr[FRAME_HDR_LEN];

	*payload = NULL;
	if (!lclient_read_exact(fd, hdr, sizeof(hdr), deadline, why))
		return false;
	*type = hdr[0];
	*len = frame_get_u32(hdr + 1);
	if (*len > LCLIENT_MAX_FRAME)
	{
		*why = "reply frame too large";
		return false;
	}
	*payload = malloc(*len + 1);
	if (*payload == NULL)
	{
		*why = "out of memory";
		return false;
	}
	if (!lclient_read_exact(fd, *payload, *len, deadline, why))
	{
		free(*payload);
		*payload = NULL;
		return false;
	}
	(*payload)[*len] = '\0';
	return true;
}

/*
 * One status round trip on a fresh connection.
 */
char *
lclient_status(const char *path, long long timeout_ms)
{
	int			fd = lclient_connect(path);
	uint8_t		type;
	uint8_t    *text = NULL;
	uint32_t	len;
	const char *why;

	if (fd < 0)
		return NULL;
	if (!lclient_send(fd, ZZ_FT_L_STATUS_REQ, "", 0) ||
		!lclient_recv(fd, timeout_ms, &type, &text, &len, &why) || type != ZZ_FT_L_STATUS)
	{
		free(text);
		text = NULL;
	}
	close(fd);
	return (char *) text;
}
