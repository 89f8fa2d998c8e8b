/*
 * pgpipe.c
 *	  A pipelined libpq connection in the reactor (see pgpipe.h).
 *
 * libpq in pipeline mode gives each statement's result followed by a NULL,
 * PGRES_PIPELINE_ABORTED (then NULL) for the statements after an error,
 * and PGRES_PIPELINE_SYNC, with no NULL after it, for each Sync.  The op
 * queue matches them to what was sent.  Connecting is asynchronous too
 * (PQconnectStartParams / PQconnectPoll), so a database that hangs never
 * stalls the daemon's loop.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpipe.h"

#define PGPIPE_RETRY_MIN	(50 * 1000)		/* first reconnect delay */
#define PGPIPE_RETRY_MAX	(2 * 1000 * 1000)	/* cap of the backoff */

typedef enum pgpipe_conn_state
{
	PP_DOWN,
	PP_CONNECTING,
	PP_UP
} pgpipe_conn_state;

struct pgpipe
{
	ev_loop    *loop;
	char	   *conninfo;
	char		appname[64];
	pgpipe_handlers h;

	PGconn	   *conn;
	pgpipe_conn_state state;
	int			fd;
	int			fd_mask;		/* what the reactor watches fd for */
	uint64_t	timer;			/* reconnect */
	zz_time		retry_delay;

	pgpipe_op  *head;
	pgpipe_op  *tail;
	uint32_t	nops;
	uint64_t	connects;

	char		last_error[400];
	zz_time		last_error_at;
};

static void pp_fd_event(ev_loop *loop, int fd, void *arg, int mask);
static void pp_connect(pgpipe *p);

void
pgpipe_log(pgpipe *p, zlog_level level, const char *fmt,...)
{
	char		msg[sizeof(p->last_error)];
	va_list		ap;
	zz_time		now = ev_now();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* libpq's messages span lines and end in a newline: one log line */
	for (size_t n = strlen(msg); n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '); n--)
		msg[n - 1] = '\0';
	for (char *c = msg; *c != '\0'; c++)
		if (*c == '\n' || *c == '\t')
			*c = ' ';
	if (strcmp(msg, p->last_error) == 0 && now - p->last_error_at < 10 * 1000000u)
		return;
	snprintf(p->last_error, sizeof(p->last_error), "%s", msg);
	p->last_error_at = now;
	zlog(level, "postgres: %s", msg);
}

const char *
pgpipe_last_error(const pgpipe *p)
{
	return p->last_error;
}

/*
 * Watch the connection's socket for exactly mask.  force re-registers even
 * if nothing seems to change: while connecting, libpq may close its socket
 * and open another that gets the same number, which epoll no longer knows.
 */
static void
pp_watch(pgpipe *p, int mask, bool force)
{
	int			fd = p->conn ? PQsocket(p->conn) : -1;

	if (!force && fd == p->fd && mask == p->fd_mask)
		return;
	if (p->fd >= 0)
		ev_del_file(p->loop, p->fd, EV_READABLE | EV_WRITABLE);
	p->fd = -1;
	p->fd_mask = EV_NONE;
	if (fd < 0 || mask == EV_NONE)
		return;
	if (!ev_add_file(p->loop, fd, mask, pp_fd_event, p))
	{
		zlog(ZLOG_ERROR, "postgres: cannot watch the connection's socket");
		return;
	}
	p->fd = fd;
	p->fd_mask = mask;
}

/*
 * The reconnect timer.
 */
static void
pp_timer(ev_loop *loop, uint64_t id, void *arg)
{
	pgpipe	   *p = arg;

	p->timer = 0;
	if (p->conn == NULL)
		pp_connect(p);
}

/*
 * Reconnect after the next backoff delay.
 */
static void
pp_retry_later(pgpipe *p)
{
	zz_time		d = p->retry_delay;

	p->retry_delay = d * 2 > PGPIPE_RETRY_MAX ? PGPIPE_RETRY_MAX : d * 2;
	if (p->timer != 0)
		ev_del_timer(p->loop, p->timer);
	p->timer = ev_add_timer(p->loop, ev_now() + d, pp_timer, p);
}

static void
pp_free_op(pgpipe_op *o)
{
	for (int i = 0; i < PGPIPE_MAX_STMTS; i++)
		PQclear(o->res[i]);
	free(o);
}

/*
 * Close the connection, forget the ops in flight, tell the owner, and
 * reconnect later.
 */
static void
pp_drop(pgpipe *p)
{
	bool		was_up = p->state == PP_UP;

	pp_watch(p, EV_NONE, false);
	if (p->conn != NULL)
		PQfinish(p->conn);
	p->conn = NULL;
	p->state = PP_DOWN;
	while (p->head != NULL)
	{
		pgpipe_op  *o = p->head;

		p->head = o->next;
		pp_free_op(o);
	}
	p->tail = NULL;
	p->nops = 0;
	pp_retry_later(p);
	if (was_up)
		p->h.lost(p->h.arg);
}

void
pgpipe_fail(pgpipe *p)
{
	if (p->conn == NULL)
		return;
	pgpipe_log(p, ZLOG_ERROR, "connection lost: %s; reconnecting", PQerrorMessage(p->conn));
	pp_drop(p);
}

void
pgpipe_reset(pgpipe *p)
{
	if (p->conn != NULL)
		pp_drop(p);
}

/*
 * Push the output libpq holds; watch for writability while some remains.
 */
static void
pp_flush(pgpipe *p)
{
	int			rc;

	if (p->conn == NULL)
		return;
	rc = PQflush(p->conn);
	if (rc < 0)
	{
		pgpipe_fail(p);
		return;
	}
	pp_watch(p, EV_READABLE | (rc == 1 ? EV_WRITABLE : 0), false);
}

pgpipe_op *
pgpipe_push(pgpipe *p, int kind, zz_seq seq, uint64_t gen, int nstmts)
{
	pgpipe_op  *o;

	if (p->conn == NULL)
		return NULL;
	o = calloc(1, sizeof(pgpipe_op));
	if (o == NULL || PQpipelineSync(p->conn) != 1)
	{
		free(o);
		pgpipe_fail(p);
		return NULL;
	}
	o->kind = kind;
	o->seq = seq;
	o->gen = gen;
	o->nstmts = nstmts;
	o->sent = ev_now();
	if (p->tail)
		p->tail->next = o;
	else
		p->head = o;
	p->tail = o;
	p->nops++;
	pp_flush(p);
	return o;
}

/*
 * Start a connection attempt.
 */
static void
pp_connect(pgpipe *p)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {p->conninfo, p->appname, NULL};

	p->conn = PQconnectStartParams(keys, vals, 1);
	if (p->conn == NULL || PQstatus(p->conn) == CONNECTION_BAD)
	{
		pgpipe_log(p, ZLOG_ERROR, "cannot connect: %s",
				   p->conn ? PQerrorMessage(p->conn) : "out of memory");
		PQfinish(p->conn);
		p->conn = NULL;
		pp_retry_later(p);
		return;
	}
	p->state = PP_CONNECTING;
	pp_watch(p, EV_WRITABLE, true);
}

/*
 * Advance the connection attempt; once up, enter pipeline mode and hand
 * the session to the owner.
 */
static void
pp_connect_poll(pgpipe *p)
{
	switch (PQconnectPoll(p->conn))
	{
		case PGRES_POLLING_READING:
			pp_watch(p, EV_READABLE, true);
			return;
		case PGRES_POLLING_WRITING:
			pp_watch(p, EV_WRITABLE, true);
			return;
		case PGRES_POLLING_OK:
			break;
		default:
			pgpipe_log(p, ZLOG_ERROR, "cannot connect: %s", PQerrorMessage(p->conn));
			pp_drop(p);
			return;
	}
	if (PQsetnonblocking(p->conn, 1) != 0 || PQenterPipelineMode(p->conn) != 1)
	{
		pgpipe_log(p, ZLOG_ERROR, "cannot use the connection: %s", PQerrorMessage(p->conn));
		pp_drop(p);
		return;
	}
	p->state = PP_UP;
	p->connects++;
	zlog(ZLOG_INFO, "postgres: connected (server %d, pid %d)", PQserverVersion(p->conn),
		 PQbackendPID(p->conn));
	pp_watch(p, EV_READABLE, true);
	p->h.connected(p->h.arg);
}

/*
 * Match the results libpq has parsed to the op queue, and hand each op
 * whose results are all in to the owner.
 */
static void
pp_process(pgpipe *p)
{
	while (p->conn != NULL && p->head != NULL && !PQisBusy(p->conn))
	{
		pgpipe_op  *o = p->head;
		PGresult   *r = PQgetResult(p->conn);

		if (r == NULL)
		{
			if (!o->in_stmt)
			{
				if (PQstatus(p->conn) == CONNECTION_BAD)
					pgpipe_fail(p);
				return;
			}
			o->in_stmt = false;
			o->got++;
			continue;
		}
		switch (PQresultStatus(r))
		{
			case PGRES_PIPELINE_SYNC:
				PQclear(r);
				p->head = o->next;
				if (p->head == NULL)
					p->tail = NULL;
				p->nops--;
				if (o->got < o->nstmts && !o->failed)
				{
					o->failed = true;
					snprintf(o->sqlstate, sizeof(o->sqlstate), "?????");
					snprintf(o->errmsg, sizeof(o->errmsg), "%d of %d results", o->got, o->nstmts);
				}
				if (!o->failed)
					p->retry_delay = PGPIPE_RETRY_MIN;	/* the session works */
				p->h.done(p->h.arg, o);
				pp_free_op(o);
				break;
			case PGRES_FATAL_ERROR:
			case PGRES_PIPELINE_ABORTED:
				if (!o->failed)
				{
					const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
					const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

					o->failed = true;
					snprintf(o->sqlstate, sizeof(o->sqlstate), "%s", st ? st : "?????");
					snprintf(o->errmsg, sizeof(o->errmsg), "%s", msg ? msg : PQresultErrorMessage(r));
				}
				PQclear(r);
				o->in_stmt = true;
				if (PQstatus(p->conn) == CONNECTION_BAD)
				{
					pgpipe_fail(p);
					return;
				}
				break;
			default:
				if (o->got < PGPIPE_MAX_STMTS && o->res[o->got] == NULL)
					o->res[o->got] = r;
				else
					PQclear(r);
				o->in_stmt = true;
				break;
		}
	}
}

/*
 * The connection's socket is ready.
 */
static void
pp_fd_event(ev_loop *loop, int fd, void *arg, int mask)
{
	pgpipe	   *p = arg;

	if (p->conn == NULL)
		return;
	if (p->state == PP_CONNECTING)
	{
		pp_connect_poll(p);
		return;
	}
	if (mask & EV_READABLE)
	{
		if (PQconsumeInput(p->conn) != 1)
		{
			pgpipe_fail(p);
			return;
		}
		pp_process(p);
	}
	if (p->conn != NULL && (mask & EV_WRITABLE))
		pp_flush(p);
}

pgpipe *
pgpipe_create(ev_loop *loop, const char *conninfo, const char *appname, const pgpipe_handlers *h)
{
	pgpipe	   *p = calloc(1, sizeof(pgpipe));

	if (p == NULL || (p->conninfo = strdup(conninfo)) == NULL)
	{
		free(p);
		return NULL;
	}
	snprintf(p->appname, sizeof(p->appname), "%s", appname);
	p->loop = loop;
	p->h = *h;
	p->fd = -1;
	p->retry_delay = PGPIPE_RETRY_MIN;
	return p;
}

void
pgpipe_start(pgpipe *p)
{
	pp_connect(p);
}

PGconn *
pgpipe_conn(const pgpipe *p)
{
	return p->state == PP_UP ? p->conn : NULL;
}

uint32_t
pgpipe_inflight(const pgpipe *p)
{
	return p->nops;
}

uint64_t
pgpipe_connects(const pgpipe *p)
{
	return p->connects;
}

const char *
pgpipe_state(const pgpipe *p)
{
	static const char *const names[] = {"down", "connecting", "up"};

	return names[p->state];
}

void
pgpipe_free(pgpipe *p)
{
	if (p == NULL)
		return;
	if (p->timer != 0)
		ev_del_timer(p->loop, p->timer);
	pp_watch(p, EV_NONE, false);
	if (p->conn != NULL)
		PQfinish(p->conn);
	while (p->head != NULL)
	{
		pgpipe_op  *o = p->head;

		p->head = o->next;
		pp_free_op(o);
	}
	free(p->conninfo);
	free(p);
}
