/*
 * conn.c
 *	  Framed connections over TLS or a Unix socket (see conn.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "conn.h"

#define CONN_READ_CHUNK		(64u << 10) /* room made before each read */
#define CONN_READ_TURN		(4u << 20)	/* bytes read per readiness event */
#define CONN_WRITE_CHUNK	(1u << 20)	/* bytes per SSL_write call */
#define CONN_SHRINK_ABOVE	(4u << 20)	/* free idle buffers larger than this */

typedef enum conn_state
{
	C_CONNECTING,
	C_HANDSHAKE,
	C_OPEN,
	C_CLOSED
} conn_state;

struct conn
{
	ev_loop    *loop;
	int			fd;
	SSL		   *ssl;
	tls_pin		pin;
	conn_state	state;
	bool		paused;
	bool		read_wants_write;	/* SSL_read asked for writability */
	bool		write_wants_read;	/* SSL_write asked for readability */
	bool		write_blocked;	/* waiting for EV_WRITABLE to write more */
	uint32_t	max_payload;
	uint64_t	queue_max;
	zz_buf		in;
	zz_buf		out;
	size_t		out_off;
	const conn_ops *ops;
	void	   *arg;
	char		desc[96];
	conn_stats	stats;
	zz_time		created;
	bool		on_dirty;
	bool		on_resume;
	conn	   *next_dirty;
	conn	   *next_resume;
	conn	   *next_closed;
};

/* Work the before-sleep hook does; single-threaded daemon, so module-wide. */
static conn *dirty_list;
static conn *resume_list;
static conn *closed_list;

static void conn_event(ev_loop *loop, int fd, void *arg, int mask);
static bool conn_peer_left(conn *c);
static void conn_handshake(conn *c);
static void conn_flush(conn *c);

/*
 * Create a connection over fd and start watching it.
 */
conn *
conn_create(ev_loop *loop, int fd, SSL_CTX *ctx, bool server, bool connecting,
			const tls_pin *pin, uint32_t max_payload, const conn_ops *ops,
			void *arg, const char *desc)
{
	conn	   *c = calloc(1, sizeof(conn));

	if (c == NULL)
		return NULL;
	c->loop = loop;
	c->fd = fd;
	c->max_payload = max_payload;
	c->queue_max = UINT64_MAX;
	c->ops = ops;
	c->arg = arg;
	c->created = ev_now();
	c->stats.last_heard = c->created;
	if (pin)
		c->pin = *pin;
	zz_buf_init(&c->in);
	zz_buf_init(&c->out);
	snprintf(c->desc, sizeof(c->desc), "%s", desc);
	if (ctx != NULL)
	{
		c->ssl = tls_session(ctx, fd, server, &c->pin);
		if (c->ssl == NULL)
		{
			free(c);
			return NULL;
		}
	}
	if (connecting)
		c->state = C_CONNECTING;
	else if (c->ssl != NULL)
		c->state = C_HANDSHAKE;
	else
		c->state = C_OPEN;
	/*
	 * A server waits for the ClientHello; a client speaks first, from the
	 * first writable event, so that no callback runs before the caller
	 * holds c.
	 */
	if (!ev_add_file(loop, fd,
					 (connecting || (c->ssl != NULL && !server)) ? EV_WRITABLE : EV_READABLE,
					 conn_event, c))
	{
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	return c;
}

/*
 * Close: unhook and close the socket now, tell the owner, free later.
 */
void
conn_close(conn *c, const char *why)
{
	if (c->state == C_CLOSED)
		return;
	c->state = C_CLOSED;
	ev_del_file(c->loop, c->fd, EV_READABLE | EV_WRITABLE);
	if (c->ssl != NULL)
	{
		/* Best effort close_notify; the socket is non-blocking. */
		(void) SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	}
	close(c->fd);
	c->fd = -1;
	c->next_closed = closed_list;
	closed_list = c;
	if (c->ops->on_close)
		c->ops->on_close(c, c->arg, why);
}

/*
 * Free the memory of connections closed since the last call, unless a
 * before-sleep list still points at them.
 */
void
conn_reap(void)
{
	conn	  **pp = &closed_list;

	while (*pp != NULL)
	{
		conn	   *c = *pp;

		if (c->on_dirty || c->on_resume)
		{
			pp = &c->next_closed;
			continue;
		}
		*pp = c->next_closed;
		zz_buf_free(&c->in);
		zz_buf_free(&c->out);
		free(c);
	}
}

/*
 * Describe an SSL or socket failure for the close reason.
 */
static const char *
conn_io_error(conn *c, int ret, int sslerr, char *buf, size_t len)
{
	char		detail[400];

	if (c->ssl == NULL || sslerr == SSL_ERROR_SYSCALL)
	{
		if (ret == 0 || errno == 0)
			snprintf(buf, len, "connection closed by peer");
		else
			snprintf(buf, len, "%s", strerror(errno));
	}
	else if (sslerr == SSL_ERROR_ZERO_RETURN)
		snprintf(buf, len, "connection closed by peer");
	else
		snprintf(buf, len, "TLS: %s", tls_error_text(detail, sizeof(detail)));
	return buf;
}

/*
 * Set which readiness events the socket is watched for, from the state.
 */
static void
conn_watch(conn *c, bool want_read, bool want_write)
{
	int			have = ev_file_mask(c->loop, c->fd);
	int			want = (want_read ? EV_READABLE : 0) | (want_write ? EV_WRITABLE : 0);

	if (want & ~have)
		(void) ev_add_file(c->loop, c->fd, want & ~have, conn_event, c);
	if (have & ~want)
		ev_del_file(c->loop, c->fd, have & ~want);
}

/*
 * Put c on the list the before-sleep hook writes out.
 */
static void
conn_mark_dirty(conn *c)
{
	if (!c->on_dirty)
	{
		c->on_dirty = true;
		c->next_dirty = dirty_list;
		dirty_list = c;
	}
}

/*
 * Advance the TLS handshake as far as the socket allows.
 */
static void
conn_handshake(conn *c)
{
	int			r;
	int			e;
	char		why[512];

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1)
	{
		c->state = C_OPEN;
		conn_watch(c, !c->paused, false);
		if (c->ops->on_secure && !c->ops->on_secure(c, c->arg))
		{
			conn_close(c, "rejected after handshake");
			return;
		}
		if (c->state == C_OPEN && c->out.len > c->out_off)
			conn_mark_dirty(c);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		conn_watch(c, true, false);
	else if (e == SSL_ERROR_WANT_WRITE)
		conn_watch(c, true, true);
	else
	{
		char		detail[400];

		if (e == SSL_ERROR_SSL)
		{
			long		vr = SSL_get_verify_result(c->ssl);

			if (c->pin.why != NULL)
			{
				ERR_clear_error();
				snprintf(why, sizeof(why), "TLS handshake failed: peer certificate refused: %s",
						 c->pin.why);
			}
			else
				snprintf(why, sizeof(why), "TLS handshake failed: %s%s%s",
						 tls_error_text(detail, sizeof(detail)),
						 vr != X509_V_OK ? "; certificate: " : "",
						 vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
		}
		else
			snprintf(why, sizeof(why), "TLS handshake failed: %s",
					 conn_io_error(c, r, e, detail, sizeof(detail)));
		conn_close(c, why);
	}
}

/*
 * Hand every complete frame at the front of the input buffer to the
 * owner.  Returns false if the connection closed.
 */
static bool
conn_parse(conn *c)
{
	size_t		off = 0;
	size_t		need = FRAME_HDR_LEN;

	while (c->state == C_OPEN && !c->paused)
	{
		frame		f;
		frame_status st = frame_parse(c->in.data + off, c->in.len - off,
									  c->max_payload, &f, &need);
		conn_verdict v;

		if (st == FRAME_TOO_LARGE)
		{
			char		why[160];

			snprintf(why, sizeof(why),
					 "frame type %u declares %u bytes, over the limit of %u",
					 c->in.data[off], frame_get_u32(c->in.data + off + 1), c->max_payload);
			conn_close(c, why);
			return false;
		}
		if (st == FRAME_NEED_MORE)
			break;
		c->stats.frames_in++;
		v = c->ops->on_frame(c, c->arg, &f);
		off += need;
		need = FRAME_HDR_LEN;
		if (c->state == C_CLOSED)
			return false;
		if (v == CONN_CLOSE)
		{
			conn_close(c, "protocol error");
			return false;
		}
		if (v == CONN_PAUSE)
			conn_pause(c);
	}
	if (off > 0)
	{
		memmove(c->in.data, c->in.data + off, c->in.len - off);
		c->in.len -= off;
	}
	/* need was checked against max_payload by frame_parse. */
	if (need > c->in.cap && !zz_buf_reserve(&c->in, need - c->in.len))
	{
		conn_close(c, "out of memory for an incoming frame");
		return false;
	}
	if (c->in.len == 0 && c->in.cap > CONN_SHRINK_ABOVE)
	{
		zz_buf_free(&c->in);
		zz_buf_init(&c->in);
	}
	return true;
}

/*
 * Read what the socket has (bounded per event) and parse it.
 */
static void
conn_read(conn *c)
{
	size_t		total = 0;
	char		why[512];

	while (c->state == C_OPEN && !c->paused)
	{
		size_t		room;
		int			n;
		int			e = 0;

		if (c->in.cap - c->in.len < CONN_READ_CHUNK &&
			!zz_buf_reserve(&c->in, CONN_READ_CHUNK))
		{
			conn_close(c, "out of memory");
			return;
		}
		room = c->in.cap - c->in.len;
		if (room > INT32_MAX)
			room = INT32_MAX;
		errno = 0;
		if (c->ssl != NULL)
		{
			ERR_clear_error();
			n = SSL_read(c->ssl, c->in.data + c->in.len, (int) room);
			if (n <= 0)
				e = SSL_get_error(c->ssl, n);
		}
		else
		{
			ssize_t		r = read(c->fd, c->in.data + c->in.len, room);

			n = r < 0 ? -1 : (int) r;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				e = SSL_ERROR_WANT_READ;
			else if (n <= 0)
				e = SSL_ERROR_SYSCALL;
		}
		if (n > 0)
		{
			c->in.len += (size_t) n;
			c->stats.bytes_in += (uint64_t) n;
			c->stats.last_heard = ev_now();
			total += (size_t) n;
			if (!conn_parse(c))
				return;
			if (total >= CONN_READ_TURN && (c->ssl == NULL || !SSL_has_pending(c->ssl)))
				return;
			continue;
		}
		if (e == SSL_ERROR_WANT_READ)
			return;
		if (e == SSL_ERROR_WANT_WRITE)
		{
			c->read_wants_write = true;
			conn_watch(c, true, true);
			return;
		}
		conn_close(c, conn_io_error(c, n, e, why, sizeof(why)));
		return;
	}
}

/*
 * Write as much of the output queue as the socket takes.
 */
static void
conn_flush(conn *c)
{
	char		why[512];

	while (c->state == C_OPEN && c->out_off < c->out.len)
	{
		size_t		chunk = c->out.len - c->out_off;
		int			n;
		int			e = 0;

		if (chunk > CONN_WRITE_CHUNK)
			chunk = CONN_WRITE_CHUNK;
		errno = 0;
		if (c->ssl != NULL)
		{
			ERR_clear_error();
			n = SSL_write(c->ssl, c->out.data + c->out_off, (int) chunk);
			if (n <= 0)
				e = SSL_get_error(c->ssl, n);
		}
		else
		{
			ssize_t		r = send(c->fd, c->out.data + c->out_off, chunk, MSG_NOSIGNAL);

			n = r < 0 ? -1 : (int) r;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				e = SSL_ERROR_WANT_WRITE;
			else if (n <= 0)
				e = SSL_ERROR_SYSCALL;
		}
		if (n > 0)
		{
			c->out_off += (size_t) n;
			c->stats.bytes_out += (uint64_t) n;
			continue;
		}
		if (e == SSL_ERROR_WANT_WRITE)
		{
			c->write_blocked = true;
			conn_watch(c, !c->paused || c->write_wants_read, true);
			break;
		}
		if (e == SSL_ERROR_WANT_READ)
		{
			c->write_wants_read = true;
			conn_watch(c, true, false);
			break;
		}
		conn_close(c, conn_io_error(c, n, e, why, sizeof(why)));
		return;
	}
	if (c->state != C_OPEN)
		return;
	if (c->out_off == c->out.len)
	{
		c->out.len = 0;
		c->out_off = 0;
		if (c->out.cap > CONN_SHRINK_ABOVE)
		{
			zz_buf_free(&c->out);
			zz_buf_init(&c->out);
		}
		/* Drained: stop watching writability (level-triggered, it would spin). */
		c->write_blocked = false;
		conn_watch(c, !c->paused || c->write_wants_read, c->read_wants_write);
	}
	else if (c->out_off >= CONN_WRITE_CHUNK)
	{
		memmove(c->out.data, c->out.data + c->out_off, c->out.len - c->out_off);
		c->out.len -= c->out_off;
		c->out_off = 0;
	}
}

/*
 * Finish a non-blocking connect(), then start TLS.
 */
static void
conn_connected(conn *c)
{
	int			err = 0;
	socklen_t	len = sizeof(err);
	char		why[160];

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0)
	{
		snprintf(why, sizeof(why), "connect: %s", strerror(err));
		conn_close(c, why);
		return;
	}
	c->state = c->ssl ? C_HANDSHAKE : C_OPEN;
	if (c->ssl)
		conn_handshake(c);
	else
		conn_watch(c, !c->paused, c->out.len > c->out_off);
}

/*
 * The reactor's callback for every connection.
 */
static void
conn_event(ev_loop *loop, int fd, void *arg, int mask)
{
	conn	   *c = arg;

	switch (c->state)
	{
		case C_CONNECTING:
			conn_connected(c);
			return;
		case C_HANDSHAKE:
			conn_handshake(c);
			return;
		case C_CLOSED:
			return;
		case C_OPEN:
			break;
	}
	if (mask & EV_READABLE)
	{
		if (c->write_wants_read)
		{
			c->write_wants_read = false;
			conn_flush(c);
		}
		if (!c->paused)
			conn_read(c);
		else if (c->state == C_OPEN && conn_peer_left(c))
		{
			/* a caller that leaves while its request is pending (issue 12) */
			conn_close(c, "connection closed by peer");
			return;
		}
		else if (c->state == C_OPEN)
			conn_watch(c, c->write_wants_read, c->write_blocked || c->read_wants_write);
	}
	if ((mask & EV_WRITABLE) && c->state == C_OPEN)
	{
		if (c->read_wants_write)
		{
			c->read_wants_write = false;
			if (!c->write_blocked)
				conn_watch(c, !c->paused, false);
			if (!c->paused)
				conn_read(c);
		}
		if (c->state == C_OPEN)
			conn_flush(c);
	}
}

/*
 * Queue a frame, respecting the bound.
 */
bool
conn_send(conn *c, uint8_t type, const void *p1, size_t l1, const void *p2, size_t l2)
{
	size_t		queued;

	if (c->state == C_CLOSED)
		return false;
	queued = c->out.len - c->out_off;
	if (queued > 0 && queued + FRAME_HDR_LEN + l1 + l2 > c->queue_max)
	{
		c->stats.dropped++;
		return false;
	}
	if (!frame_append(&c->out, type, p1, l1, p2, l2))
	{
		c->stats.dropped++;
		return false;
	}
	c->stats.frames_out++;
	if (c->state == C_OPEN && !c->write_blocked)
		conn_mark_dirty(c);
	return true;
}

/*
 * A paused connection became readable: has the peer closed it (rather
 * than sent more)?  Looks without consuming anything.
 */
static bool
conn_peer_left(conn *c)
{
	char		b;

	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/*
 * Stop reading c (its sender is pushed back by the socket buffers).
 *
 * The socket stays registered until it actually becomes readable while
 * paused (conn_event unregisters it then): a client that waits for its
 * answer before sending again, the usual case, costs no epoll_ctl calls.
 */
void
conn_pause(conn *c)
{
	if (c->paused || c->state == C_CLOSED)
		return;
	c->paused = true;
}

/*
 * Read c again; frames already buffered are parsed in the before-sleep
 * hook (conn_run_resumed), never from inside the caller's callback.
 */
void
conn_resume(conn *c)
{
	if (!c->paused || c->state == C_CLOSED)
		return;
	c->paused = false;
	if (c->state == C_OPEN)
		conn_watch(c, true, c->write_blocked || c->read_wants_write);
	if (!c->on_resume)
	{
		c->on_resume = true;
		c->next_resume = resume_list;
		resume_list = c;
	}
}

/*
 * Parse the frames that resumed connections already hold.
 */
void
conn_run_resumed(void)
{
	while (resume_list != NULL)
	{
		conn	   *c = resume_list;

		resume_list = c->next_resume;
		c->on_resume = false;
		if (c->state == C_OPEN && !c->paused && c->in.len > 0)
			(void) conn_parse(c);
	}
}

/*
 * Write every queue that has something new (the before-sleep flush).
 */
void
conn_flush_all(void)
{
	while (dirty_list != NULL)
	{
		conn	   *c = dirty_list;

		dirty_list = c->next_dirty;
		c->on_dirty = false;
		if (c->state == C_OPEN && !c->write_blocked)
			conn_flush(c);
	}
}

/*
 * Is c still open (connecting, handshaking or open)?
 */
bool
conn_is_open(const conn *c)
{
	return c->state != C_CLOSED;
}

/*
 * Has c finished its handshake (plain connections: always)?
 */
bool
conn_is_secure(const conn *c)
{
	return c->state == C_OPEN;
}

/*
 * The TLS session (NULL for plain connections).
 */
SSL *
conn_ssl(const conn *c)
{
	return c->ssl;
}

/*
 * The socket (-1 once closed).
 */
int
conn_fd(const conn *c)
{
	return c->fd;
}

/*
 * The description used in log lines.
 */
const char *
conn_desc(const conn *c)
{
	return c->desc;
}

/*
 * Rename c in log lines (once its peer is known).
 */
void
conn_set_desc(conn *c, const char *desc)
{
	snprintf(c->desc, sizeof(c->desc), "%s", desc);
}

/*
 * Frame and byte counters.
 */
const conn_stats *
conn_get_stats(const conn *c)
{
	return &c->stats;
}

/*
 * Bytes waiting in the output queue.
 */
size_t
conn_queued(const conn *c)
{
	return c->out.len - c->out_off;
}

/*
 * When c was created (handshake deadlines).
 */
zz_time
conn_created(const conn *c)
{
	return c->created;
}

/*
 * Bound the output queue (bytes).
 */
void
conn_set_queue_max(conn *c, uint64_t max)
{
	c->queue_max = max;
}

/*
 * The owner's argument.
 */
void *
conn_arg(const conn *c)
{
	return c->arg;
}

/*
 * Change the owner's argument (a connection changes hands).
 */
void
conn_set_arg(conn *c, void *arg)
{
	c->arg = arg;
}
