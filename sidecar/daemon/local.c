/*
 * local.c
 *	  The local client endpoint (see local.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "frame.h"
#include "local.h"
#include "log.h"

typedef struct local_slot
{
	local_endpoint *le;
	uint32_t	index;
	zz_crypto  *crypto;			/* created on first use, kept with the client */
	zz_client  *client;			/* kept for the daemon's life: its timestamps
								 * must keep growing across connections */
	conn	   *c;				/* NULL when no program holds the slot */
	bool		busy;			/* a request is outstanding */
	int			busy_pos;		/* index in le->busy */
	bool		held;			/* complete, waiting for our replica to execute it */
	uint8_t		held_hdr[ZZ_FT_L_RESULT_HDR];
	uint8_t    *held_reply;
	uint32_t	held_len;
	zz_seq		held_seq;
	zz_digest	held_history;
	zz_time		held_until;		/* then sent anyway, marked unapplied */
} local_slot;

#define LAT_SUB_BITS	3
#define LAT_SUB			(1u << LAT_SUB_BITS)
#define LAT_BUCKETS		((40 - LAT_SUB_BITS + 1) * LAT_SUB)

struct local_endpoint
{
	ev_loop    *loop;
	const daemon_config *cfg;
	const zz_keyset *ks;
	zz_io		io;
	local_status_fn status;
	void	   *status_arg;
	local_applied_fn applied;
	void	   *applied_arg;
	uint32_t	nheld;
	uint64_t	held_total;
	uint64_t	held_expired;
	int			listen_fd;
	bool		socket_created;
	local_slot *slots;			/* cfg->max_clients */
	uint32_t   *busy;			/* slots with a request outstanding */
	uint32_t	nbusy;
	uint32_t	nconns;
	uint64_t	accepted;
	uint64_t	refused;
	uint64_t	completed_fast;
	uint64_t	completed_commit;
	uint64_t	latency_sum;	/* microseconds, over completions */
	uint64_t	latency_hist[LAT_BUCKETS];	/* log-linear, see lat_bucket() */
};

static const conn_ops local_conn_ops;

/*
 * Latency histogram: 8 buckets per power of two of microseconds, so a
 * percentile read from it is within 12.5% of the true value.
 */
static uint32_t
lat_bucket(uint64_t us)
{
	uint32_t	lg;

	if (us < LAT_SUB)
		return (uint32_t) us;
	lg = 63 - (uint32_t) __builtin_clzll(us);	/* >= LAT_SUB_BITS */
	if (lg >= 40)
		return LAT_BUCKETS - 1;
	return (lg - LAT_SUB_BITS + 1) * LAT_SUB +
		(uint32_t) ((us >> (lg - LAT_SUB_BITS)) & (LAT_SUB - 1));
}

/* The largest latency that falls in bucket b. */
static uint64_t
lat_bucket_top(uint32_t b)
{
	uint32_t	lg;

	if (b < LAT_SUB)
		return b;
	lg = b / LAT_SUB + LAT_SUB_BITS - 1;
	return ((uint64_t) (LAT_SUB + b % LAT_SUB + 1) << (lg - LAT_SUB_BITS)) - 1;
}

/* The p-th percentile (0 < p < 100) of the completions so far, in us. */
static uint64_t
lat_percentile(const local_endpoint *le, uint64_t done, double p)
{
	uint64_t	want = (uint64_t) (done * p / 100.0),
				seen = 0;

	if (done == 0)
		return 0;
	for (uint32_t b = 0; b < LAT_BUCKETS; b++)
	{
		seen += le->latency_hist[b];
		if (seen > want)
			return lat_bucket_top(b);
	}
	return lat_bucket_top(LAT_BUCKETS - 1);
}

/*
 * Mark a slot busy or idle, keeping the dense list of busy slots.
 */
static void
local_set_busy(local_endpoint *le, local_slot *s, bool busy)
{
	if (busy == s->busy)
		return;
	s->busy = busy;
	if (busy)
	{
		s->busy_pos = (int) le->nbusy;
		le->busy[le->nbusy++] = s->index;
	}
	else
	{
		uint32_t	last = le->busy[--le->nbusy];

		le->busy[s->busy_pos] = last;
		le->slots[last].busy_pos = s->busy_pos;
		s->busy_pos = -1;
	}
}

/*
 * Send the program its result and read its connection again.
 */
static void
local_send_result(local_slot *s, const uint8_t *hdr, const uint8_t *reply, uint32_t len)
{
	if (!conn_send(s->c, ZZ_FT_L_RESULT, hdr, ZZ_FT_L_RESULT_HDR, reply, len))
	{
		conn_close(s->c, "cannot queue the result");
		return;
	}
	conn_resume(s->c);
}

/*
 * Forget a held result.
 */
static void
local_drop_held(local_endpoint *le, local_slot *s)
{
	if (!s->held)
		return;
	free(s->held_reply);
	s->held_reply = NULL;
	s->held = false;
	le->nheld--;
}

/*
 * A request completed: send the program its result, or hold it until our
 * own replica has executed it (read-your-writes).
 */
static void
local_done(void *ctx, uint32_t client, const zz_completion *comp)
{
	local_slot *s = ctx;
	local_endpoint *le = s->le;
	uint8_t		hdr[ZZ_FT_L_RESULT_HDR];

	if (comp->path == ZZ_PATH_FAST)
		le->completed_fast++;
	else
		le->completed_commit++;
	le->latency_sum += comp->latency;
	le->latency_hist[lat_bucket(comp->latency)]++;
	local_set_busy(le, s, false);
	if (s->c == NULL)
		return;					/* the program left; the slot is free again */
	hdr[0] = (uint8_t) comp->path;
	frame_put_u64(hdr + 1, comp->view);
	frame_put_u64(hdr + 9, comp->seq);
	if (le->applied != NULL && !le->applied(le->applied_arg, comp->seq, &comp->history))
	{
		s->held_reply = malloc(comp->reply_len ? comp->reply_len : 1);
		if (s->held_reply == NULL)
		{
			conn_close(s->c, "out of memory");
			return;
		}
		memcpy(s->held_reply, comp->reply, comp->reply_len);
		memcpy(s->held_hdr, hdr, sizeof(hdr));
		s->held_len = comp->reply_len;
		s->held_seq = comp->seq;
		s->held_history = comp->history;
		s->held_until = ev_now() + le->cfg->local_apply_wait;
		s->held = true;
		le->nheld++;
		le->held_total++;
		return;
	}
	local_send_result(s, hdr, comp->reply, comp->reply_len);
}

void
local_set_applied(local_endpoint *le, local_applied_fn applied, void *arg)
{
	le->applied = applied;
	le->applied_arg = arg;
}

/*
 * Send every held result whose batch our replica has executed, and those
 * held for local_apply_wait, marked ZZ_L_PATH_UNAPPLIED: a replica that
 * fell behind (it needs a state transfer) must not hang its programs.
 */
void
local_release_held(local_endpoint *le)
{
	zz_time		now = ev_now();

	for (uint32_t i = 0; le->nheld > 0 && i < le->cfg->max_clients; i++)
	{
		local_slot *s = &le->slots[i];

		if (!s->held)
			continue;
		if (!le->applied(le->applied_arg, s->held_seq, &s->held_history))
		{
			if (now < s->held_until)
				continue;
			s->held_hdr[0] |= ZZ_L_PATH_UNAPPLIED;
			le->held_expired++;
			zlog(ZLOG_WARNING, "request completed at seq %llu, which this replica has not "
				 "executed after %llu ms: answered without read-your-writes",
				 (unsigned long long) s->held_seq,
				 (unsigned long long) le->cfg->local_apply_wait / 1000);
		}
		if (s->c != NULL)
			local_send_result(s, s->held_hdr, s->held_reply, s->held_len);
		local_drop_held(le, s);
	}
}

/*
 * CLOCK_REALTIME in microseconds.  A slot's client id outlives the daemon
 * (replica_id * 65536 + slot), so a restarted daemon must not reuse the
 * timestamps of the last one, or the replicas would answer its new
 * requests with the cached replies of old ones.  Starting each client at
 * the wall clock does it: one request at a time per client, so its
 * timestamps grow more slowly than the clock.  (A clock set back by more
 * than the daemon's downtime would defeat this; the replicas then resend
 * a cached reply that the client ignores, and the request times out
 * rather than completing wrongly.)
 */
static uint64_t
local_wall_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/*
 * Make sure slot s has its client (keys derived on first use).
 */
static bool
local_slot_client(local_endpoint *le, local_slot *s)
{
	uint32_t	id = le->cfg->id * 65536u + s->index;

	if (s->client != NULL)
		return true;
	s->crypto = zz_crypto_create(le->ks, false, id);
	if (s->crypto == NULL)
		return false;
	s->client = zz_client_create(&le->cfg->params, id, s->crypto, &le->io, local_done, s);
	if (s->client == NULL)
	{
		zz_crypto_free(s->crypto);
		s->crypto = NULL;
		return false;
	}
	zz_client_set_next_timestamp(s->client, local_wall_clock_us());
	return true;
}

/*
 * Send an error frame.
 */
static void
local_send_error(conn *c, const char *msg)
{
	(void) conn_send(c, ZZ_FT_L_ERROR, msg, strlen(msg), NULL, 0);
}

/*
 * One frame from a local program.
 */
static conn_verdict
local_on_frame(conn *c, void *arg, const frame *f)
{
	local_slot *s = arg;
	local_endpoint *le = s->le;
	char		why[96];

	switch (f->type)
	{
		case ZZ_FT_L_REQUEST:
			if (s->busy)
			{
				/* Cannot happen: the connection is paused while busy. */
				conn_close(c, "request while one is outstanding");
				return CONN_CLOSE;
			}
			if (zz_client_submit(s->client, ev_now(), f->payload, f->len) == 0)
			{
				local_send_error(c, "request refused by the client state machine");
				return CONN_CONTINUE;
			}
			local_set_busy(le, s, true);
			return CONN_PAUSE;
		case ZZ_FT_L_STATUS_REQ:
			{
				zz_buf		text;

				zz_buf_init(&text);
				le->status(le->status_arg, &text);
				(void) conn_send(c, ZZ_FT_L_STATUS, text.data, text.len, NULL, 0);
				zz_buf_free(&text);
				return CONN_CONTINUE;
			}
		default:
			snprintf(why, sizeof(why), "unknown frame type %u (%u bytes)", f->type, f->len);
			local_send_error(c, why);
			conn_close(c, why);
			return CONN_CLOSE;
	}
}

/*
 * A local connection ended; its slot is free once no request is pending.
 */
static void
local_on_close(conn *c, void *arg, const char *why)
{
	local_slot *s = arg;
	local_endpoint *le = s->le;

	zlog(ZLOG_DEBUG, "%s: closed: %s", conn_desc(c), why);
	if (strcmp(why, "connection closed by peer") != 0 && strcmp(why, "shutting down") != 0)
		zlog(ZLOG_WARNING, "%s: dropped: %s", conn_desc(c), why);
	s->c = NULL;
	local_drop_held(le, s);
	le->nconns--;
	if (s->busy)
	{
		/* the caller is gone: stop retransmitting its request (issue 12) */
		zz_client_abandon(s->client);
		local_set_busy(le, s, false);
	}
}

static const conn_ops local_conn_ops = {
	.on_secure = NULL,
	.on_frame = local_on_frame,
	.on_close = local_on_close,
};

/*
 * May this peer use the socket?  Same uid, root, or our gid when the
 * socket is group-accessible.
 */
static bool
local_peer_allowed(local_endpoint *le, int fd, char *desc, size_t desclen)
{
	struct ucred cred;
	socklen_t	len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
	{
		snprintf(desc, desclen, "local client (no credentials)");
		return false;
	}
	snprintf(desc, desclen, "local client pid %d uid %u", (int) cred.pid, (unsigned) cred.uid);
	return cred.uid == geteuid() || cred.uid == 0 ||
		(le->cfg->client_socket_mode == 0660 && cred.gid == getegid());
}

/*
 * Accept local programs, each into a free slot.
 */
static void
local_accept(ev_loop *loop, int lfd, void *arg, int mask)
{
	local_endpoint *le = arg;

	for (int i = 0; i < 64; i++)
	{
		char		desc[96];
		local_slot *s = NULL;
		int			fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
		{
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				zlog(ZLOG_WARNING, "accept on the client socket: %s", strerror(errno));
			return;
		}
		if (!local_peer_allowed(le, fd, desc, sizeof(desc)))
		{
			zlog(ZLOG_WARNING, "%s: refused: not our uid, root or group", desc);
			le->refused++;
			close(fd);
			continue;
		}
		for (uint32_t j = 0; j < le->cfg->max_clients; j++)
		{
			if (le->slots[j].c == NULL && !le->slots[j].busy && !le->slots[j].held)
			{
				s = &le->slots[j];
				break;
			}
		}
		if (s == NULL || !local_slot_client(le, s))
		{
			zlog(ZLOG_WARNING, "%s: refused: %s", desc,
				 s == NULL ? "all client slots in use (max_clients)" : "cannot create its client");
			le->refused++;
			close(fd);
			continue;
		}
		s->c = conn_create(le->loop, fd, NULL, true, false, NULL, ZZ_MAX_OP_LEN,
						   &local_conn_ops, s, desc);
		if (s->c == NULL)
		{
			close(fd);
			continue;
		}
		le->nconns++;
		le->accepted++;
		zlog(ZLOG_DEBUG, "%s: connected as client %u", desc, le->cfg->id * 65536u + s->index);
	}
}

/*
 * Allocate the endpoint and its slot table.
 */
local_endpoint *
local_create(ev_loop *loop, const daemon_config *cfg, const zz_keyset *ks,
			 const zz_io *client_io, local_status_fn status, void *status_arg)
{
	local_endpoint *le = calloc(1, sizeof(local_endpoint));

	if (le == NULL)
		return NULL;
	le->slots = calloc(cfg->max_clients, sizeof(local_slot));
	le->busy = calloc(cfg->max_clients, sizeof(uint32_t));
	if (le->slots == NULL || le->busy == NULL)
	{
		free(le->slots);
		free(le->busy);
		free(le);
		return NULL;
	}
	le->loop = loop;
	le->cfg = cfg;
	le->ks = ks;
	le->io = *client_io;
	le->status = status;
	le->status_arg = status_arg;
	le->listen_fd = -1;
	for (uint32_t i = 0; i < cfg->max_clients; i++)
	{
		le->slots[i].le = le;
		le->slots[i].index = i;
		le->slots[i].busy_pos = -1;
	}
	return le;
}

/*
 * Remove a stale socket file left by a daemon that died, but never one a
 * live daemon still answers on.
 */
static bool
local_clear_stale(const char *path, char *err, size_t errlen)
{
	struct stat st;
	struct sockaddr_un sa;
	int			fd;
	bool		live;

	if (lstat(path, &st) < 0)
		return true;
	if (!S_ISSOCK(st.st_mode))
	{
		snprintf(err, errlen, "'%s' exists and is not a socket", path);
		return false;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	live = fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	if (live)
	{
		snprintf(err, errlen, "another process is listening on '%s'", path);
		return false;
	}
	(void) unlink(path);
	return true;
}

/*
 * Create the socket with its mode, and listen.
 */
bool
local_start(local_endpoint *le, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	mode_t		old;
	int			fd;
	int			rc;

	if (!local_clear_stale(le->cfg->client_socket, err, errlen))
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", le->cfg->client_socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
	{
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return false;
	}
	/* No window in which the socket exists with looser permissions. */
	old = umask(0777 & ~le->cfg->client_socket_mode);
	rc = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(sa.sun_path, le->cfg->client_socket_mode) < 0 ||
		listen(fd, 128) < 0 || !ev_add_file(le->loop, fd, EV_READABLE, local_accept, le))
	{
		snprintf(err, errlen, "cannot listen on '%s': %s", sa.sun_path, strerror(errno));
		close(fd);
		return false;
	}
	le->listen_fd = fd;
	le->socket_created = true;
	zlog(ZLOG_INFO, "listening for local clients on %s (mode %04o)", sa.sun_path,
		 le->cfg->client_socket_mode);
	return true;
}

/*
 * Shut the endpoint down.
 */
void
local_free(local_endpoint *le)
{
	if (le == NULL)
		return;
	if (le->listen_fd >= 0)
	{
		ev_del_file(le->loop, le->listen_fd, EV_READABLE);
		close(le->listen_fd);
	}
	if (le->socket_created)
		(void) unlink(le->cfg->client_socket);
	for (uint32_t i = 0; i < le->cfg->max_clients; i++)
	{
		local_slot *s = &le->slots[i];

		if (s->c)
			conn_close(s->c, "shutting down");
		free(s->held_reply);
		zz_client_free(s->client);
		zz_crypto_free(s->crypto);
	}
	conn_reap();
	free(le->slots);
	free(le->busy);
	free(le);
}

/*
 * Deliver a core message to a local client.
 */
void
local_client_receive(local_endpoint *le, uint32_t client, zz_time now,
					 const uint8_t *buf, size_t len)
{
	uint32_t	slot = client & 0xffff;

	if ((client >> 16) != le->cfg->id || slot >= le->cfg->max_clients ||
		le->slots[slot].client == NULL)
		return;
	zz_client_receive(le->slots[slot].client, now, buf, len);
}

/*
 * Tick every busy client whose deadline has come.  Walks the busy list
 * backwards: a completion removes its slot by moving the last entry,
 * which has been visited already, into its place.
 */
void
local_tick(local_endpoint *le, zz_time now)
{
	for (uint32_t i = le->nbusy; i-- > 0;)
	{
		local_slot *s;

		if (i >= le->nbusy)
			continue;
		s = &le->slots[le->busy[i]];
		if (zz_client_next_deadline(s->client) <= now)
			zz_client_tick(s->client, now);
	}
}

/*
 * The earliest deadline of the busy clients and the held results.
 */
zz_time
local_next_deadline(const local_endpoint *le)
{
	zz_time		d = UINT64_MAX;

	for (uint32_t i = 0; le->nheld > 0 && i < le->cfg->max_clients; i++)
		if (le->slots[i].held && le->slots[i].held_until < d)
			d = le->slots[i].held_until;

	for (uint32_t i = 0; i < le->nbusy; i++)
	{
		zz_time		t = zz_client_next_deadline(le->slots[le->busy[i]].client);

		if (t < d)
			d = t;
	}
	return d;
}

/*
 * Status lines of the endpoint.
 */
void
local_status(const local_endpoint *le, zz_buf *out)
{
	uint64_t	done = le->completed_fast + le->completed_commit;
	uint64_t	retrans = 0;
	uint64_t	commits = 0;
	uint64_t	crypto_ops = 0;
	char		text[1024];
	int			n;

	for (uint32_t i = 0; i < le->cfg->max_clients; i++)
	{
		if (le->slots[i].client)
		{
			const zz_client_stats *st = zz_client_get_stats(le->slots[i].client);

			const zz_crypto_stats *cs = zz_crypto_get_stats(le->slots[i].crypto);

			retrans += st->retransmissions;
			commits += st->commits_sent;
			crypto_ops += cs->signs + cs->verifies + cs->macs + cs->mac_checks;
		}
	}
	n = snprintf(text, sizeof(text),
				 "clients_connected: %u\nclients_accepted: %llu\nclients_refused: %llu\n"
				 "requests_outstanding: %u\nrequests_completed_fast: %llu\n"
				 "requests_completed_commit: %llu\nrequests_retransmissions: %llu\n"
				 "requests_commits_sent: %llu\nrequests_mean_latency_us: %llu\n"
				 "clients_crypto_ops: %llu\nrequests_held_for_local_apply: %u\n"
				 "requests_held_total: %llu\nrequests_held_expired: %llu\n"
				 "requests_latency_p50_us: %llu\nrequests_latency_p90_us: %llu\n"
				 "requests_latency_p99_us: %llu\n",
				 le->nconns, (unsigned long long) le->accepted,
				 (unsigned long long) le->refused, le->nbusy,
				 (unsigned long long) le->completed_fast,
				 (unsigned long long) le->completed_commit,
				 (unsigned long long) retrans, (unsigned long long) commits,
				 (unsigned long long) (done ? le->latency_sum / done : 0),
				 (unsigned long long) crypto_ops, le->nheld,
				 (unsigned long long) le->held_total,
				 (unsigned long long) le->held_expired,
				 (unsigned long long) lat_percentile(le, done, 50),
				 (unsigned long long) lat_percentile(le, done, 90),
				 (unsigned long long) lat_percentile(le, done, 99));
	if (n > 0)
		(void) zz_buf_append(out, text, (size_t) n);
}
