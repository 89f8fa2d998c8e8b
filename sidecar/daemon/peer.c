/*
 * peer.c
 *	  The replica mesh (see peer.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "peer.h"
#include "tls.h"

#define PEER_MAX_PAYLOAD	(ZZ_MAX_MSG_LEN + 4)
#define PEER_MAX_PENDING	64		/* unauthenticated connections at once */
#define PEER_MAX_PER_SOURCE	8		/* ... from one source address */
#define PEER_BACKOFF_MIN	(50 * 1000)
#define PEER_HOUSEKEEPING	(100 * 1000)	/* timer period, microseconds */
#define PEER_SILENT_PINGS	4		/* missed ping intervals before closing */
#define PEER_LOG_BURST		20		/* rejection lines per second */

/* One connection's bookkeeping (the conn's owner argument). */
typedef struct peer_link
{
	peer_mesh  *mesh;
	conn	   *c;
	int			peer;			/* -1 until TLS proves who it is */
	bool		outbound;
	bool		hello_done;
	struct sockaddr_storage source;	/* inbound: where it came from */
	struct peer_link *next;		/* on the pending list until HELLO */
	struct peer_link *prev;
} peer_link;

typedef struct peer_slot
{
	peer_mesh  *mesh;
	uint32_t	id;
	peer_link  *link;			/* current connection, if any */
	bool		open;			/* HELLO exchanged */
	uint64_t	reconnect_timer;
	zz_time		backoff;
	zz_time		last_ping;
	uint32_t	unanswered;		/* pings sent since we last heard anything */
	zz_time		rtt;
	zz_time		since;			/* connected or disconnected since */
	bool		fail_logged;	/* a failed dial since the last session was logged */
	uint64_t	sessions;
	conn_stats	past;			/* counters of closed connections */
	uint64_t	bulk_dropped;	/* client messages refused to keep room */
} peer_slot;

struct peer_mesh
{
	ev_loop    *loop;
	const daemon_config *cfg;
	const daemon_keys *keys;
	peer_handlers h;
	SSL_CTX    *ctx;
	int			listen_fd;
	peer_slot	slots[ZZ_MAX_N];
	peer_link  *pending;
	int			npending;
	uint64_t	housekeeping_timer;
	zz_time		log_window;
	int			log_count;
	uint64_t	log_suppressed;
	uint64_t	rejected;		/* inbound connections refused, all reasons */
	uint64_t	unknown_sources;	/* ... because no replica has that address */
	uint64_t	evicted;		/* pending handshakes closed to make room */
	uint64_t	foreign_client_msgs;	/* client messages from a non-hosting replica */
};

static const conn_ops peer_conn_ops;

static void peer_dial(peer_mesh *m, peer_slot *s);

/*
 * Log a rejected or failed inbound connection, at most PEER_LOG_BURST
 * lines a second: a flood of garbage must not become a flood of log.
 */
static void
peer_log_reject(peer_mesh *m, const char *fmt,...)
{
	zz_time		now = ev_now();
	char		line[600];
	va_list		ap;

	m->rejected++;
	if (now - m->log_window >= 1000000)
	{
		if (m->log_suppressed > 0)
			zlog(ZLOG_WARNING, "%llu more rejected connections not logged",
				 (unsigned long long) m->log_suppressed);
		m->log_window = now;
		m->log_count = 0;
		m->log_suppressed = 0;
	}
	if (++m->log_count > PEER_LOG_BURST)
	{
		m->log_suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	zlog(ZLOG_WARNING, "%s", line);
}

/*
 * Put a link on the list of connections that have not finished HELLO.
 */
static void
peer_pending_add(peer_mesh *m, peer_link *l)
{
	l->prev = NULL;
	l->next = m->pending;
	if (m->pending)
		m->pending->prev = l;
	m->pending = l;
	m->npending++;
}

/*
 * Take l off the pending list (no-op if it is not on it).
 */
static void
peer_pending_remove(peer_mesh *m, peer_link *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else if (m->pending == l)
		m->pending = l->next;
	else
		return;					/* not on the list */
	if (l->next)
		l->next->prev = l->prev;
	l->next = l->prev = NULL;
	m->npending--;
}

/*
 * Queue our HELLO to replica `to` on link l.
 */
static bool
peer_send_hello(peer_mesh *m, peer_link *l, uint32_t to)
{
	uint8_t		p[HELLO_LEN];

	memcpy(p, HELLO_MAGIC, 4);
	frame_put_u32(p + 4, m->cfg->id);
	frame_put_u32(p + 8, to);
	memcpy(p + 12, m->keys->cluster_id.b, ZZ_DIGEST_LEN);
	return conn_send(l->c, FT_HELLO, p, sizeof(p), NULL, 0);
}

/*
 * Describe a socket's remote address.
 */
static void
peer_addr_text(const struct sockaddr_storage *sa, char *buf, size_t len)
{
	char		host[INET6_ADDRSTRLEN] = "?";
	int			port = 0;

	if (sa->ss_family == AF_INET)
	{
		const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	}
	else if (sa->ss_family == AF_INET6)
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, len, "%s:%d", host, port);
}

/*
 * The reconnect timer of a slot fired: dial, unless a connection exists.
 */
static void
peer_reconnect_fire(ev_loop *loop, uint64_t id, void *arg)
{
	peer_slot  *s = arg;

	s->reconnect_timer = 0;
	if (s->link == NULL)
		peer_dial(s->mesh, s);
}

/*
 * Arrange the next dial of s after its backoff, and double the backoff.
 */
static void
peer_schedule_reconnect(peer_mesh *m, peer_slot *s)
{
	if (s->reconnect_timer != 0)
		return;
	s->reconnect_timer = ev_add_timer(m->loop, ev_now() + s->backoff, peer_reconnect_fire, s);
	s->backoff *= 2;
	if (s->backoff > m->cfg->reconnect_max)
		s->backoff = m->cfg->reconnect_max;
}

/*
 * Start a TCP connection to replica s->id (non-blocking).
 */
static void
peer_dial(peer_mesh *m, peer_slot *s)
{
	const cfg_addr *a = &m->cfg->replicas[s->id].addr;
	tls_pin		pin = {m->keys, 1u << s->id, NULL};
	peer_link  *l;
	char		desc[96];
	int			one = 1;
	int			fd;
	bool		connecting = false;

	fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
	{
		zlog(ZLOG_WARNING, "peer %u: socket: %s", s->id, strerror(errno));
		peer_schedule_reconnect(m, s);
		return;
	}
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *) &a->sa, a->salen) < 0)
	{
		if (errno != EINPROGRESS)
		{
			zlog(s->fail_logged ? ZLOG_DEBUG : ZLOG_INFO, "peer %u: cannot connect to %s: %s; retrying",
				 s->id, a->text, strerror(errno));
			s->fail_logged = true;
			close(fd);
			peer_schedule_reconnect(m, s);
			return;
		}
		connecting = true;
	}
	l = calloc(1, sizeof(peer_link));
	if (l == NULL)
	{
		close(fd);
		peer_schedule_reconnect(m, s);
		return;
	}
	l->mesh = m;
	l->peer = (int) s->id;
	l->outbound = true;
	snprintf(desc, sizeof(desc), "peer %u (%s)", s->id, a->text);
	l->c = conn_create(m->loop, fd, m->ctx, false, connecting, &pin, PEER_MAX_PAYLOAD,
					   &peer_conn_ops, l, desc);
	if (l->c == NULL)
	{
		close(fd);
		free(l);
		peer_schedule_reconnect(m, s);
		return;
	}
	conn_set_queue_max(l->c, m->cfg->peer_queue_max);
	s->link = l;
	peer_pending_add(m, l);
	if (!peer_send_hello(m, l, s->id))
		conn_close(l->c, "cannot queue HELLO");
}

/*
 * Do two socket addresses name the same host (the port aside)?  An IPv4
 * address also matches its IPv4-mapped IPv6 form.
 */
static bool
peer_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	uint8_t		ha[16],
				hb[16];
	const struct sockaddr_storage *x[2] = {a, b};
	uint8_t    *h[2] = {ha, hb};

	for (int i = 0; i < 2; i++)
	{
		if (x[i]->ss_family == AF_INET)
		{
			memset(h[i], 0, 10);
			h[i][10] = h[i][11] = 0xff;
			memcpy(h[i] + 12, &((const struct sockaddr_in *) x[i])->sin_addr, 4);
		}
		else if (x[i]->ss_family == AF_INET6)
			memcpy(h[i], &((const struct sockaddr_in6 *) x[i])->sin6_addr, 16);
		else
			return false;
	}
	return memcmp(ha, hb, 16) == 0;
}

/*
 * Is sa the address of a configured replica (that may dial us)?  Only
 * they get past accept: anything else is closed before TLS costs a byte.
 */
static bool
peer_source_known(const peer_mesh *m, const struct sockaddr_storage *sa)
{
	for (uint32_t j = 0; j < m->cfg->n; j++)
		if (j != m->cfg->id && m->cfg->replicas[j].present &&
			peer_same_host(&m->cfg->replicas[j].addr.sa, sa))
			return true;
	return false;
}

/*
 * Make room for one more inbound handshake from sa: if the pending
 * inbound handshakes from that source are at PEER_MAX_PER_SOURCE, or all
 * of them at PEER_MAX_PENDING, close the oldest (of that source, or of
 * all).  A replica that restarts under a flood of slow connections so
 * always gets its turn: its fresh handshake pushes out the stale ones,
 * which the handshake deadline would close anyway.
 */
static void
peer_make_room(peer_mesh *m, const struct sockaddr_storage *sa)
{
	peer_link  *oldest_source = NULL,
			   *oldest = NULL;
	int			from_source = 0,
				inbound = 0;

	for (peer_link *l = m->pending; l != NULL; l = l->next)
	{
		if (l->outbound)
			continue;
		inbound++;
		/* the list is newest first: the last one seen is the oldest */
		oldest = l;
		if (peer_same_host(&l->source, sa))
		{
			from_source++;
			oldest_source = l;
		}
	}
	if (from_source >= PEER_MAX_PER_SOURCE)
		oldest = oldest_source;
	else if (inbound < PEER_MAX_PENDING)
		return;
	if (oldest == NULL)
		return;
	m->evicted++;
	peer_log_reject(m, "%s: closed to make room for a newer handshake (%d pending from its "
					"source, %d in all)", conn_desc(oldest->c), from_source, inbound);
	conn_close(oldest->c, "evicted: the oldest pending handshake");
}

/*
 * Accept what the listening socket has, up to a bound per event.
 */
static void
peer_accept(ev_loop *loop, int lfd, void *arg, int mask)
{
	peer_mesh  *m = arg;

	for (int i = 0; i < 64; i++)
	{
		struct sockaddr_storage sa;
		socklen_t	salen = sizeof(sa);
		tls_pin		pin = {m->keys, (1u << m->cfg->id) - 1, NULL};
		char		addr[80];
		char		desc[96];
		peer_link  *l;
		int			one = 1;
		int			fd = accept4(lfd, (struct sockaddr *) &sa, &salen,
								 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
		{
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				errno != ECONNABORTED)
				zlog(ZLOG_WARNING, "accept: %s", strerror(errno));
			return;
		}
		peer_addr_text(&sa, addr, sizeof(addr));
		if (!peer_source_known(m, &sa))
		{
			m->unknown_sources++;
			peer_log_reject(m, "inbound %s: refused: not the address of a configured replica",
							addr);
			close(fd);
			continue;
		}
		peer_make_room(m, &sa);
		if (m->npending >= PEER_MAX_PENDING + ZZ_MAX_N)
		{
			/* (only our own dials are left: they are few) */
			peer_log_reject(m, "inbound %s: refused: %d connections already unauthenticated",
							addr, m->npending);
			close(fd);
			continue;
		}
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		l = calloc(1, sizeof(peer_link));
		if (l == NULL)
		{
			close(fd);
			continue;
		}
		l->mesh = m;
		l->peer = -1;
		l->source = sa;
		snprintf(desc, sizeof(desc), "inbound %s", addr);
		l->c = conn_create(m->loop, fd, m->ctx, true, false, &pin, PEER_MAX_PAYLOAD,
						   &peer_conn_ops, l, desc);
		if (l->c == NULL)
		{
			close(fd);
			free(l);
			continue;
		}
		conn_set_queue_max(l->c, m->cfg->peer_queue_max);
		peer_pending_add(m, l);
		zlog(ZLOG_DEBUG, "%s: accepted", desc);
	}
}

/*
 * TLS is up: learn (or confirm) who the peer is from the key it proved.
 */
static bool
peer_on_secure(conn *c, void *arg)
{
	peer_link  *l = arg;
	peer_mesh  *m = l->mesh;
	int			who = tls_peer_replica(conn_ssl(c), m->keys);
	char		desc[96];

	if (l->outbound)
	{
		if (who != l->peer)
		{
			conn_close(c, "authenticated with a key that is not this replica's");
			return false;
		}
		return true;
	}
	if (who < 0 || (uint32_t) who >= m->cfg->id)
	{
		conn_close(c, who < 0 ? "key is not a configured replica's"
				   : "replicas with a higher id do not dial us");
		return false;
	}
	l->peer = who;
	snprintf(desc, sizeof(desc), "peer %d (%s)", who, conn_desc(c));
	conn_set_desc(c, desc);
	if (!peer_send_hello(m, l, (uint32_t) who))
	{
		conn_close(c, "cannot queue HELLO");
		return false;
	}
	return true;
}

/*
 * Check the peer's HELLO and, for an inbound connection, install it as the
 * peer's connection (replacing an older one).
 */
static conn_verdict
peer_on_hello(peer_link *l, const frame *f)
{
	peer_mesh  *m = l->mesh;
	peer_slot  *s;
	char		why[160];

	if (f->type != FT_HELLO || f->len != HELLO_LEN ||
		memcmp(f->payload, HELLO_MAGIC, 4) != 0)
	{
		snprintf(why, sizeof(why), "first frame is not a HELLO (type %u, %u bytes)",
				 f->type, f->len);
		conn_close(l->c, why);
		return CONN_CLOSE;
	}
	if (frame_get_u32(f->payload + 4) != (uint32_t) l->peer ||
		frame_get_u32(f->payload + 8) != m->cfg->id)
	{
		snprintf(why, sizeof(why), "HELLO claims to be from %u to %u; its key is replica %d's",
				 frame_get_u32(f->payload + 4), frame_get_u32(f->payload + 8), l->peer);
		conn_close(l->c, why);
		return CONN_CLOSE;
	}
	if (memcmp(f->payload + 12, m->keys->cluster_id.b, ZZ_DIGEST_LEN) != 0)
	{
		conn_close(l->c, "HELLO names another cluster (f or public keys differ)");
		return CONN_CLOSE;
	}
	l->hello_done = true;
	peer_pending_remove(m, l);
	s = &m->slots[l->peer];
	if (!l->outbound && s->link != l)
	{
		peer_link  *old = s->link;

		s->link = l;
		if (old != NULL)
			conn_close(old->c, "replaced by a newer connection from the same replica");
	}
	s->open = true;
	s->fail_logged = false;
	s->since = ev_now();
	s->sessions++;
	s->backoff = PEER_BACKOFF_MIN;
	s->last_ping = 0;
	s->unanswered = 0;
	zlog(ZLOG_INFO, "peer %d connected (%s)", l->peer, l->outbound ? "we dialed" : "it dialed");
	return CONN_CONTINUE;
}

/*
 * A REQUEST or COMMIT comes from a client, and a client's messages travel
 * only over its own replica's link (client id / 65536 names the replica).
 * One arriving over another replica's link is that replica speaking for a
 * client it does not host: drop it.  (Both encodings start with the type
 * byte and the u32 client id; message.h.)
 */
static bool
peer_client_owned(peer_mesh *m, peer_link *l, const frame *f)
{
	uint32_t	client;

	if (f->len < 5 || (f->payload[0] != ZZ_MSG_REQUEST && f->payload[0] != ZZ_MSG_COMMIT))
		return true;
	client = frame_get_u32(f->payload + 1);
	if ((client >> 16) == (uint32_t) l->peer)
		return true;
	m->foreign_client_msgs++;
	peer_log_reject(m, "%s: %s for client %u, which replica %d does not host; dropped",
					conn_desc(l->c), zz_msg_type_name(f->payload[0]), client, l->peer);
	return false;
}

/*
 * One frame from a peer.
 */
static conn_verdict
peer_on_frame(conn *c, void *arg, const frame *f)
{
	peer_link  *l = arg;
	peer_mesh  *m = l->mesh;
	char		why[160];

	if (!l->hello_done)
		return peer_on_hello(l, f);
	switch (f->type)
	{
		case FT_REPLICA_MSG:
			if (!peer_client_owned(m, l, f))
				return CONN_CONTINUE;
			m->h.replica_msg(m->h.arg, (uint32_t) l->peer, f->payload, f->len);
			return CONN_CONTINUE;
		case FT_CLIENT_MSG:
			{
				uint32_t	client;

				if (f->len < 4)
				{
					conn_close(c, "client frame without a client id");
					return CONN_CLOSE;
				}
				client = frame_get_u32(f->payload);
				if ((client >> 16) != m->cfg->id || (client & 0xffff) >= m->cfg->max_clients)
				{
					zlog(ZLOG_DEBUG, "%s: message for client %u, not ours; dropped",
						 conn_desc(c), client);
					return CONN_CONTINUE;
				}
				m->h.client_msg(m->h.arg, (uint32_t) l->peer, client,
								f->payload + 4, f->len - 4);
				return CONN_CONTINUE;
			}
		case FT_XFER_REQ:
		case FT_XFER_CHUNK:
			if (m->h.transfer_msg != NULL)
				m->h.transfer_msg(m->h.arg, (uint32_t) l->peer, f->type, f->payload, f->len);
			return CONN_CONTINUE;
		case FT_PING:
			if (f->len != 8)
				break;
			(void) conn_send(c, FT_PONG, f->payload, 8, NULL, 0);
			return CONN_CONTINUE;
		case FT_PONG:
			if (f->len != 8)
				break;
			{
				zz_time		sent = frame_get_u64(f->payload);
				zz_time		now = ev_now();

				if (sent <= now)
					m->slots[l->peer].rtt = now - sent;
			}
			return CONN_CONTINUE;
		default:
			break;
	}
	snprintf(why, sizeof(why), "unexpected frame type %u (%u bytes)", f->type, f->len);
	conn_close(c, why);
	return CONN_CLOSE;
}

/*
 * A connection closed: log it, account for it, redial if we are the
 * dialing side.
 */
static void
peer_on_close(conn *c, void *arg, const char *why)
{
	peer_link  *l = arg;
	peer_mesh  *m = l->mesh;
	const conn_stats *st = conn_get_stats(c);

	peer_pending_remove(m, l);
	if (l->peer >= 0 && m->slots[l->peer].link == l)
	{
		peer_slot  *s = &m->slots[l->peer];

		s->link = NULL;
		s->past.frames_in += st->frames_in;
		s->past.frames_out += st->frames_out;
		s->past.bytes_in += st->bytes_in;
		s->past.bytes_out += st->bytes_out;
		s->past.dropped += st->dropped;
		if (s->open)
			zlog(ZLOG_WARNING, "peer %d disconnected: %s", l->peer, why);
		else if (l->outbound)
		{
			zlog(s->fail_logged ? ZLOG_DEBUG : ZLOG_INFO, "%s: cannot connect: %s; retrying",
				 conn_desc(c), why);
			s->fail_logged = true;
		}
		else
			peer_log_reject(m, "%s: %s", conn_desc(c), why);
		s->open = false;
		s->since = ev_now();
		if (l->outbound && m->listen_fd >= 0)
			peer_schedule_reconnect(m, s);
	}
	else if (l->hello_done)
		zlog(ZLOG_INFO, "%s: closed: %s", conn_desc(c), why);
	else
		peer_log_reject(m, "%s: rejected: %s", conn_desc(c), why);
	free(l);
}

static const conn_ops peer_conn_ops = {
	.on_secure = peer_on_secure,
	.on_frame = peer_on_frame,
	.on_close = peer_on_close,
};

/*
 * Periodic work: handshake deadlines, pings, silent peers.
 */
static void
peer_housekeeping(ev_loop *loop, uint64_t id, void *arg)
{
	peer_mesh  *m = arg;
	zz_time		now = ev_now();
	peer_link  *l = m->pending;

	while (l != NULL)
	{
		peer_link  *next = l->next;

		if (now - conn_created(l->c) > m->cfg->handshake_timeout)
			conn_close(l->c, "no handshake and HELLO in time");
		l = next;
	}
	for (uint32_t i = 0; i < m->cfg->n; i++)
	{
		peer_slot  *s = &m->slots[i];
		uint8_t		ts[8];

		if (!s->open || s->link == NULL)
			continue;
		/*
		 * Silence is counted in pings that went unanswered, not in time
		 * since the last byte: if our own loop stalled, the peer's bytes
		 * are waiting in our socket and the peer is not to blame.
		 */
		if (conn_get_stats(s->link->c)->last_heard >= s->last_ping)
			s->unanswered = 0;
		if (now - s->last_ping < m->cfg->ping_interval)
			continue;
		if (s->unanswered >= PEER_SILENT_PINGS)
		{
			conn_close(s->link->c, "silent for too long (pings unanswered)");
			continue;
		}
		frame_put_u64(ts, now);
		(void) conn_send(s->link->c, FT_PING, ts, sizeof(ts), NULL, 0);
		s->last_ping = now;
		s->unanswered++;
	}
	m->housekeeping_timer = ev_add_timer(loop, now + PEER_HOUSEKEEPING, peer_housekeeping, m);
}

/*
 * Set up the mesh: the TLS context over our key; nothing on the network yet.
 */
peer_mesh *
peer_mesh_create(ev_loop *loop, const daemon_config *cfg, const daemon_keys *keys,
				 const peer_handlers *h, char *err, size_t errlen)
{
	peer_mesh  *m = calloc(1, sizeof(peer_mesh));
	char		name[64];

	if (m == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->loop = loop;
	m->cfg = cfg;
	m->keys = keys;
	m->h = *h;
	m->listen_fd = -1;
	snprintf(name, sizeof(name), "zyzzyva replica %u", cfg->id);
	m->ctx = tls_context(keys->priv, name, err, errlen);
	if (m->ctx == NULL)
	{
		free(m);
		return NULL;
	}
	for (uint32_t i = 0; i < ZZ_MAX_N; i++)
	{
		m->slots[i].mesh = m;
		m->slots[i].id = i;
		m->slots[i].backoff = PEER_BACKOFF_MIN;
	}
	return m;
}

/*
 * Listen, start dialing the replicas above us, start housekeeping.
 */
bool
peer_mesh_start(peer_mesh *m, char *err, size_t errlen)
{
	const cfg_addr *a = &m->cfg->listen;
	int			one = 1;
	int			fd;

	fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		bind(fd, (const struct sockaddr *) &a->sa, a->salen) < 0 ||
		listen(fd, 128) < 0)
	{
		snprintf(err, errlen, "cannot listen on %s: %s", a->text, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	if (!ev_add_file(m->loop, fd, EV_READABLE, peer_accept, m))
	{
		snprintf(err, errlen, "cannot watch the listening socket");
		close(fd);
		return false;
	}
	m->listen_fd = fd;
	for (uint32_t i = m->cfg->id + 1; i < m->cfg->n; i++)
		peer_dial(m, &m->slots[i]);
	m->housekeeping_timer = ev_add_timer(m->loop, ev_now() + PEER_HOUSEKEEPING,
										 peer_housekeeping, m);
	zlog(ZLOG_INFO, "listening for replicas on %s", a->text);
	return true;
}

/*
 * Close everything (shutdown).
 */
void
peer_mesh_free(peer_mesh *m)
{
	if (m == NULL)
		return;
	if (m->listen_fd >= 0)
	{
		ev_del_file(m->loop, m->listen_fd, EV_READABLE);
		close(m->listen_fd);
		m->listen_fd = -1;		/* also: no reconnects from here on */
	}
	if (m->housekeeping_timer)
		ev_del_timer(m->loop, m->housekeeping_timer);
	for (uint32_t i = 0; i < ZZ_MAX_N; i++)
	{
		peer_slot  *s = &m->slots[i];

		if (s->reconnect_timer)
			ev_del_timer(m->loop, s->reconnect_timer);
		s->reconnect_timer = 0;
		if (s->link)
			conn_close(s->link->c, "shutting down");
	}
	while (m->pending)
		conn_close(m->pending->c, "shutting down");
	conn_reap();
	SSL_CTX_free(m->ctx);
	free(m);
}

/*
 * The open link to replica `to`, or NULL.  Frames are queued on a dialed
 * link even before HELLO; they follow our HELLO on the wire.
 */
static peer_link *
peer_link_for(peer_mesh *m, uint32_t to)
{
	peer_slot  *s;

	if (to >= m->cfg->n || to == m->cfg->id)
		return NULL;
	s = &m->slots[to];
	if (s->link == NULL || (!s->open && !s->link->outbound))
		return NULL;
	return s->link;
}

/*
 * Send a core message to a replica.
 */
bool
peer_send_replica(peer_mesh *m, uint32_t to, const uint8_t *buf, size_t len)
{
	peer_link  *l = peer_link_for(m, to);

	if (l == NULL)
	{
		if (to < m->cfg->n)
			m->slots[to].past.dropped++;
		return false;
	}
	return conn_send(l->c, FT_REPLICA_MSG, buf, len, NULL, 0);
}

/*
 * Send a message that clients cause and retransmit (a REQUEST, a
 * CONFIRM-REQ): only while the queue to that replica is less than half
 * full.  The other half is kept for the protocol's own messages
 * (ORDER-REQs, checkpoints, view changes), which nobody resends as
 * readily: a flood of large requests and their retransmissions must not
 * push them out.  A client retransmits what is dropped here.
 */
bool
peer_send_replica_bulk(peer_mesh *m, uint32_t to, const uint8_t *buf, size_t len)
{
	peer_link  *l = peer_link_for(m, to);

	if (l != NULL && conn_queued(l->c) + len > m->cfg->peer_queue_max / 2)
	{
		m->slots[to].bulk_dropped++;
		return false;
	}
	return peer_send_replica(m, to, buf, len);
}

/*
 * Send a state transfer frame (see peer.h).
 */
bool
peer_send_transfer(peer_mesh *m, uint32_t to, uint8_t type, const uint8_t *buf, size_t len)
{
	peer_link  *l = peer_link_for(m, to);

	if (l == NULL || conn_queued(l->c) + len > m->cfg->peer_queue_max / 2)
		return false;
	return conn_send(l->c, type, buf, len, NULL, 0);
}

/*
 * Send a core message to a client of replica `to`.
 */
bool
peer_send_client(peer_mesh *m, uint32_t to, uint32_t client, const uint8_t *buf, size_t len)
{
	peer_link  *l = peer_link_for(m, to);
	uint8_t		id[4];

	if (l == NULL)
	{
		if (to < m->cfg->n)
			m->slots[to].past.dropped++;
		return false;
	}
	frame_put_u32(id, client);
	return conn_send(l->c, FT_CLIENT_MSG, id, sizeof(id), buf, len);
}

/*
 * Reloaded settings: queue bounds of live connections.
 */
void
peer_mesh_reload(peer_mesh *m)
{
	for (uint32_t i = 0; i < m->cfg->n; i++)
	{
		if (m->slots[i].link)
			conn_set_queue_max(m->slots[i].link->c, m->cfg->peer_queue_max);
	}
}

/*
 * How many peers have an open, authenticated connection.
 */
uint32_t
peer_mesh_connected(const peer_mesh *m)
{
	uint32_t	k = 0;

	for (uint32_t i = 0; i < m->cfg->n; i++)
		k += m->slots[i].open ? 1 : 0;
	return k;
}

/*
 * Status lines: one per peer.
 */
void
peer_mesh_status(const peer_mesh *m, zz_buf *out)
{
	zz_time		now = ev_now();
	uint64_t	frames_in = 0;
	uint64_t	frames_out = 0;

	for (uint32_t i = 0; i < m->cfg->n; i++)
	{
		const peer_slot *s = &m->slots[i];
		conn_stats	st = s->past;
		char		line[512];
		int			n;

		if (i == m->cfg->id)
			continue;
		if (s->link != NULL)
		{
			const conn_stats *cur = conn_get_stats(s->link->c);

			st.frames_in += cur->frames_in;
			st.frames_out += cur->frames_out;
			st.bytes_in += cur->bytes_in;
			st.bytes_out += cur->bytes_out;
			st.dropped += cur->dropped;
			st.last_heard = cur->last_heard;
		}
		frames_in += st.frames_in;
		frames_out += st.frames_out;
		n = snprintf(line, sizeof(line),
					 "peer.%u: %s addr=%s since_ms=%llu rtt_us=%llu sessions=%llu "
					 "frames_in=%llu frames_out=%llu bytes_in=%llu bytes_out=%llu dropped=%llu "
					 "bulk_dropped=%llu queued=%zu\n",
					 i, s->open ? "connected" : "disconnected", m->cfg->replicas[i].addr.text,
					 (unsigned long long) (s->since ? (now - s->since) / 1000 : 0),
					 (unsigned long long) s->rtt, (unsigned long long) s->sessions,
					 (unsigned long long) st.frames_in, (unsigned long long) st.frames_out,
					 (unsigned long long) st.bytes_in, (unsigned long long) st.bytes_out,
					 (unsigned long long) st.dropped,
					 (unsigned long long) s->bulk_dropped,
					 s->link ? conn_queued(s->link->c) : (size_t) 0);
		if (n > 0)
			(void) zz_buf_append(out, line, (size_t) (n < (int) sizeof(line) ? n : (int) sizeof(line) - 1));
	}
	{
		char		line[256];
		int			n = snprintf(line, sizeof(line),
								 "peers_rejected: %llu\npeers_unknown_sources: %llu\n"
								 "peers_evicted: %llu\npeers_pending: %d\n"
								 "peers_foreign_client_msgs: %llu\n"
								 "frames_in_total: %llu\nframes_out_total: %llu\n",
								 (unsigned long long) m->rejected,
								 (unsigned long long) m->unknown_sources,
								 (unsigned long long) m->evicted, m->npending,
								 (unsigned long long) m->foreign_client_msgs,
								 (unsigned long long) frames_in,
								 (unsigned long long) frames_out);

		(void) zz_buf_append(out, line, (size_t) n);
	}
}
