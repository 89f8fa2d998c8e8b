/*
 * conn.h
 *	  A framed connection on the reactor: TLS 1.3 over TCP (the replica
 *	  mesh) or plain over a Unix socket (local clients).
 *
 * Input: bytes are read into one buffer and frames are handed to the owner
 * in place, in order.  A frame's declared length is checked against the
 * connection's maximum as soon as its header arrives, before any room is
 * made for the payload.  The owner may pause a connection (it stops being
 * read and parsed, so the socket's own flow control pushes back on the
 * sender) and resume it later.
 *
 * Output: frames are appended to a per-connection queue of bounded size
 * and written in the loop's before-sleep hook, all of a turn's frames in
 * one write (for TLS: one SSL_write, so records are large).  A frame that
 * would take the queue past its bound is dropped and counted: Zyzzyva
 * tolerates lost messages, and a slow or malicious peer must not be able to
 * grow our memory or stall the others.
 *
 * Closing is deferred: conn_close() unhooks and closes the socket at once,
 * calls on_close, and frees the struct in conn_reap(), so callers in the
 * middle of a callback never touch freed memory.
 */
#ifndef ZZD_CONN_H
#define ZZD_CONN_H

#include <openssl/ssl.h>

#include "event.h"
#include "frame.h"
#include "tls.h"

typedef struct conn conn;

typedef enum conn_verdict
{
	CONN_CONTINUE = 0,			/* go on with the next frame */
	CONN_PAUSE,					/* stop reading until conn_resume */
	CONN_CLOSE					/* the frame was bad: close (already logged) */
} conn_verdict;

typedef struct conn_ops
{
	/* TLS handshake finished (not called for plain connections). */
	bool		(*on_secure) (conn *c, void *arg);
	conn_verdict (*on_frame) (conn *c, void *arg, const frame *f);
	/* The connection is closed; `why` says why.  c is freed later. */
	void		(*on_close) (conn *c, void *arg, const char *why);
} conn_ops;

typedef struct conn_stats
{
	uint64_t	frames_in;
	uint64_t	frames_out;
	uint64_t	bytes_in;
	uint64_t	bytes_out;
	uint64_t	dropped;		/* frames refused by the queue bound */
	zz_time		last_heard;
} conn_stats;

/*
 * Take over a non-blocking socket.  ctx NULL: plain.  connecting: a TCP
 * connect() is in progress (complete it, then start TLS as client).
 * Returns NULL if out of memory (fd is then left to the caller).
 */
extern conn *conn_create(ev_loop *loop, int fd, SSL_CTX *ctx, bool server,
						 bool connecting, const tls_pin *pin, uint32_t max_payload,
						 const conn_ops *ops, void *arg, const char *desc);

/* Queue one frame; false if it was dropped (queue bound, closed, no memory). */
extern bool conn_send(conn *c, uint8_t type, const void *p1, size_t l1,
					  const void *p2, size_t l2);

extern void conn_close(conn *c, const char *why);
extern void conn_pause(conn *c);
extern void conn_resume(conn *c);

extern bool conn_is_open(const conn *c);
extern bool conn_is_secure(const conn *c);	/* TLS done (or plain) */
extern SSL *conn_ssl(const conn *c);
extern int	conn_fd(const conn *c);
extern const char *conn_desc(const conn *c);
extern void conn_set_desc(conn *c, const char *desc);
extern const conn_stats *conn_get_stats(const conn *c);
extern size_t conn_queued(const conn *c);
extern zz_time conn_created(const conn *c);
extern void conn_set_queue_max(conn *c, uint64_t max);
extern void *conn_arg(const conn *c);
extern void conn_set_arg(conn *c, void *arg);

/*
 * The before-sleep work: parse what resumed connections hold, write every
 * queue, free closed connections.
 */
extern void conn_run_resumed(void);
extern void conn_flush_all(void);
extern void conn_reap(void);

#endif							/* ZZD_CONN_H */
