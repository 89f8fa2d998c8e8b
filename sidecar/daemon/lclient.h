/*
 * lclient.h
 *	  A blocking client of zyzzyvad's local socket, for the tools
 *	  (zyzzyva-cli, zyzzyva-bench): connect, send a frame, read a frame
 *	  with a deadline.
 */
#ifndef ZZD_LCLIENT_H
#define ZZD_LCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Connect to the socket at path; -1 with errno on failure. */
extern int	lclient_connect(const char *path);

/* Send one frame (blocking). */
extern bool lclient_send(int fd, uint8_t type, const void *payload, size_t len);

/*
 * Read one frame within timeout_ms.  The payload is malloc'd (free it);
 * on failure *why says what happened.
 */
extern bool lclient_recv(int fd, long long timeout_ms, uint8_t *type, uint8_t **payload,
						 uint32_t *len, const char **why);

/* Fetch the daemon's status text (malloc'd, NUL-terminated); NULL on failure. */
extern char *lclient_status(const char *path, long long timeout_ms);

/* Milliseconds on the monotonic clock. */
extern long long lclient_ms(void);

#endif							/* ZZD_LCLIENT_H */
