/*
 * pgtransfer.c
 *	  Chunked state transfer for the PostgreSQL service, driven
 *	  asynchronously in the reactor (docs/transfer.md).
 *
 * Serving (zz_service.serve): replica `to` asked for our certified
 * checkpoint.  A connection of the transfer's own opens a REPEATABLE READ
 * transaction, reads the manifest (zyzzyva.snapshot_open: every chunk's
 * LtHash contribution and the schema history), which the core sends in
 * the STATE-REPLY in place of the snapshot; then the requester pulls the
 * chunks one FT_XFER_REQ at a time, each read with zyzzyva.snapshot_chunk
 * when asked for and sent as FT_XFER_CHUNK over the authenticated peer
 * mesh.  One transfer per requester: another STATE-REQUEST while its
 * transfer is alive is dropped (logged).  Chunks go out at most at
 * transfer_rate bytes a second per requester, and only while the peer's
 * queue has room beside the protocol's own messages.
 *
 * Installing (zz_service.install_start): a STATE-REPLY carried a manifest.
 * A connection of its own begins a transaction, zyzzyva.install_open
 * checks the manifest against the certified digest (and runs the schema
 * history this replica lacks), then the chunks are asked for, at most
 * XF_WINDOW at a time, and each is installed with zyzzyva.install_chunk as
 * it arrives (refused there if it does not match its manifest entry);
 * zyzzyva.install_close and COMMIT end it, and the core is told
 * (zz_replica_install_done).  A refusal, a lost connection or a peer that
 * goes quiet for XF_QUIET rolls everything back.
 *
 * Memory: a chunk read or received is held until it is queued to the peer
 * or handed to libpq, so either side holds a few chunks, whatever the
 * size of the database.  Progress goes to zyzzyva.transfer_progress (a
 * third connection: the install's transaction holds the state row).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "pgservice_int.h"

#define XF_WINDOW			2	/* chunks asked for and not yet installed */
#define XF_QUIET			(30 * 1000000ULL)	/* a transfer without progress ends */
#define XF_UNTAKEN			(5 * 1000000ULL)	/* a manifest no chunk was asked for */
#define XF_TICK				(100 * 1000ULL)
#define XF_PROGRESS_EVERY	(500 * 1000ULL)
#define XF_REQ_LEN			12	/* seq u64, index u32 */
#define XF_REAP_MAX			(2 * ZZ_MAX_N + 4)
#define XF_TOO_OLD_EVERY	(10 * 1000000ULL)	/* the error of a 0.1 database, at most */

#define XF_SQL_PROBE		"SELECT pg_catalog.to_regprocedure('zyzzyva.snapshot_open(bigint,integer)') IS NOT NULL"
#define XF_SQL_OPEN_SNAP	"SELECT zyzzyva.snapshot_open($1, $2)"
#define XF_SQL_CHUNK		"SELECT zyzzyva.snapshot_chunk()"
#define XF_SQL_INST_OPEN	"SELECT zyzzyva.install_open($1, $2, $3, $4)"
#define XF_SQL_INST_CHUNK	"SELECT zyzzyva.install_chunk($1)"
#define XF_SQL_INST_CLOSE	"SELECT zyzzyva.install_close()"
#define XF_SQL_PROGRESS		"SELECT zyzzyva.set_transfer_progress($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"

enum
{
	XK_BEGIN = 1, XK_MANIFEST, XK_CHUNK, XK_OPEN, XK_INSTALL, XK_CLOSE,
	XK_PROBE, XK_PROGRESS
};

typedef enum xf_phase
{
	XP_CONNECTING,
	XP_OPENING,					/* manifest / install_open in flight */
	XP_STREAMING,
	XP_CLOSING,
	XP_ENDED
} xf_phase;

typedef struct pgxfer pgxfer;

/* One transfer: served to a replica, or installed from one. */
typedef struct xf_job
{
	pgxfer	   *x;
	bool		installing;
	uint32_t	peer;
	zz_seq		seq;
	pgpipe	   *pipe;
	xf_phase	phase;
	zz_time		started;
	zz_time		activity;		/* the last progress */
	uint32_t	nchunks;
	uint64_t	rows_total;
	uint64_t	bytes_total;
	uint64_t	rows_done;
	uint64_t	bytes_done;

	/* serving */
	uint32_t	read;			/* chunks read so far */
	uint32_t	wanted;			/* chunks asked for so far */
	bool		reading;
	uint8_t    *held;			/* the last chunk read, framed, until it is queued */
	size_t		held_len;
	bool		held_unsent;
	double		tokens;			/* the rate's bucket, bytes */
	zz_time		tokens_at;

	/* installing */
	uint8_t    *mani;			/* until install_open has it */
	size_t		mani_len;
	zz_digest	history;
	zz_digest	expect;
	uint32_t	requested;
	uint32_t	received;
	uint32_t	installed;
} xf_job;

struct pgxfer
{
	pgsvc	   *ps;
	int			chunked;		/* the database has the chunk functions: -1 unknown */
	const uint64_t *chunk_bytes;
	const uint64_t *rate;
	xf_job	   *serve[ZZ_MAX_N];
	xf_job	   *inst;
	uint64_t	timer;

	pgpipe	   *prog;			/* progress and the probe */
	bool		prog_inflight;
	bool		prog_dirty;
	zz_time		prog_at;
	const xf_job *prog_job;		/* whose progress is shown */
	xf_job		prog_last;		/* a copy of the last one shown */

	pgpipe	   *reap[XF_REAP_MAX];	/* pipes of ended jobs, freed outside their callbacks */
	xf_job	   *reap_jobs[XF_REAP_MAX];
	int			nreap;

	/* counters for the status */
	uint64_t	serves_started;
	uint64_t	served;
	uint64_t	serve_failed;
	uint64_t	requests_dropped;
	uint64_t	installs;
	uint64_t	install_failed;
	uint64_t	chunks_sent;
	uint64_t	chunks_installed;
	uint64_t	bytes_sent;
	uint64_t	bytes_installed;
	zz_time		drop_logged;
	uint64_t	drops_unlogged;

	/* manifests this 0.1 database could not install (a rolling upgrade) */
	bool		too_old;
	uint64_t	too_old_refused;
	uint64_t	too_old_unlogged;
	zz_time		too_old_logged;
};

static void xf_tick(ev_loop *loop, uint64_t id, void *arg);
static void xf_progress(pgxfer *x, const xf_job *j, bool force);
static void xf_probe(pgxfer *x);

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static uint64_t
get_be64(const uint8_t *p)
{
	return ((uint64_t) get_be32(p) << 32) | get_be32(p + 4);
}

static void
put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t) (v >> 32));
	put_be32(p + 4, (uint32_t) v);
}

/*
 * A chunk's row count and the bytes of its rows' text, as the manifest
 * counts them: after magic, version, seq and index come the table's name
 * and the count, then each row with its length (transfer_chunk.c).
 */
static uint32_t
chunk_rows(const uint8_t *b, size_t len)
{
	uint32_t	nl = len >= 24 ? get_be32(b + 20) : 0;

	return len >= 28 && nl <= len - 28 ? get_be32(b + 24 + nl) : 0;
}

static uint64_t
chunk_row_bytes(const uint8_t *b, size_t len, uint32_t nrows)
{
	uint64_t	framing = len >= 24 ? 28 + (uint64_t) get_be32(b + 20) + 4 * (uint64_t) nrows : 0;

	return len > framing ? len - framing : 0;
}

/* ------------------------------------------------------------------------
 * Jobs
 * ------------------------------------------------------------------------ */

static void
xf_arm(pgxfer *x)
{
	if (x->timer == 0)
		x->timer = ev_add_timer(x->ps->loop, ev_now() + XF_TICK, xf_tick, x);
}

/*
 * End a job; its pipe and memory go at the next tick (we may be inside
 * one of the pipe's callbacks).
 */
static void
xf_end(xf_job *j, bool ok, const char *why)
{
	pgxfer	   *x = j->x;

	if (j->phase == XP_ENDED)
		return;
	j->phase = XP_ENDED;
	free(j->held);
	j->held = NULL;
	free(j->mani);
	j->mani = NULL;
	if (j->installing)
	{
		x->inst = NULL;
		if (ok)
			x->installs++;
		else
			x->install_failed++;
	}
	else
	{
		if (x->serve[j->peer] == j)
			x->serve[j->peer] = NULL;
		if (ok)
			x->served++;
		else
			x->serve_failed++;
	}
	zlog(ok ? ZLOG_INFO : ZLOG_WARNING,
		 "postgres: chunked state transfer of checkpoint %llu %s replica %u %s: %u of %u chunks, "
		 "%llu of %llu rows, %llu of %llu bytes in %.1f s%s%s",
		 (unsigned long long) j->seq, j->installing ? "from" : "to", j->peer,
		 ok ? "done" : "failed", j->installing ? j->installed : j->read, j->nchunks,
		 (unsigned long long) j->rows_done, (unsigned long long) j->rows_total,
		 (unsigned long long) j->bytes_done, (unsigned long long) j->bytes_total,
		 (double) (ev_now() - j->started) / 1e6, why ? ": " : "", why ? why : "");
	if (x->prog_job == j)
	{
		x->prog_last = *j;
		x->prog_last.phase = ok ? XP_CLOSING : XP_ENDED;	/* (done / failed) */
		x->prog_job = &x->prog_last;
		xf_progress(x, &x->prog_last, true);
	}
	if (x->nreap < XF_REAP_MAX)
	{
		x->reap[x->nreap] = j->pipe;
		x->reap_jobs[x->nreap++] = j;
	}
	else
		zlog(ZLOG_ERROR, "postgres: too many ended transfers to free; leaking one");
	j->pipe = NULL;
	xf_arm(x);
	if (j->installing)
		x->ps->hooks.install_done(x->ps->hooks.arg, ok);
}

static void
xf_fail_op(xf_job *j, pgpipe_op *o, const char *what)
{
	char		why[520];

	snprintf(why, sizeof(why), "%s failed: %s: %s", what, o->sqlstate, o->errmsg);
	if (j->installing)
		pg_install_failed(j->x->ps, j->seq, o->sqlstate);
	xf_end(j, false, why);
}

static void
xf_lost(void *arg)
{
	xf_job	   *j = arg;

	xf_end(j, false, "the database connection was lost");
}

static xf_job *
xf_job_new(pgxfer *x, bool installing, uint32_t peer, zz_seq seq, void (*connected) (void *),
		   void (*done) (void *, pgpipe_op *))
{
	xf_job	   *j = calloc(1, sizeof(xf_job));
	pgpipe_handlers h;
	char		appname[48];

	if (j == NULL)
		return NULL;
	j->x = x;
	j->installing = installing;
	j->peer = peer;
	j->seq = seq;
	j->started = j->activity = j->tokens_at = ev_now();
	h.arg = j;
	h.connected = connected;
	h.done = done;
	h.lost = xf_lost;
	snprintf(appname, sizeof(appname), "zyzzyvad-r%u-%s-r%u", x->ps->replica_id,
			 installing ? "install" : "serve", peer);
	j->pipe = pgpipe_create(x->ps->loop, x->ps->conninfo, appname, &h);
	if (j->pipe == NULL)
	{
		free(j);
		return NULL;
	}
	pgpipe_start(j->pipe);
	xf_arm(x);
	return j;
}

/* ------------------------------------------------------------------------
 * Serving
 * ------------------------------------------------------------------------ */

static void
xf_serve_connected(void *arg)
{
	xf_job	   *j = arg;
	PGconn	   *conn = pgpipe_conn(j->pipe);
	uint8_t		v[8],
				c[4];
	const char *values[2] = {(const char *) v, (const char *) c};
	int			lengths[2] = {8, 4};
	int			formats[2] = {1, 1};
	Oid			types[2] = {PG_INT8OID, 23};

	if (j->phase != XP_CONNECTING)
	{
		xf_end(j, false, "the database connection was lost");
		return;
	}
	put_be64(v, j->seq);
	put_be32(c, (uint32_t) *j->x->chunk_bytes);
	if (PQsendQueryParams(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL,
						  NULL, NULL, 0) != 1 ||
		PQsendQueryParams(conn, XF_SQL_OPEN_SNAP, 2, types, values, lengths, formats, 1) != 1 ||
		pgpipe_push(j->pipe, XK_MANIFEST, j->seq, 0, 2) == NULL)
	{
		xf_end(j, false, "could not send the manifest's statement");
		return;
	}
	j->phase = XP_OPENING;
}

/*
 * Queue the held chunk to the requester, if the rate and its queue allow.
 */
static void
xf_serve_push(xf_job *j)
{
	pgxfer	   *x = j->x;
	pgsvc	   *ps = x->ps;
	zz_time		now = ev_now();

	if (!j->held_unsent)
		return;
	if (*x->rate > 0)
	{
		j->tokens += (double) (now - j->tokens_at) * (double) *x->rate / 1e6;
		if (j->tokens > (double) *x->rate)
			j->tokens = (double) *x->rate;	/* at most a second's worth of burst */
		j->tokens_at = now;
		if (j->tokens < 0)
			return;				/* the tick tries again */
	}
	if (!ps->hooks.send_transfer(ps->hooks.arg, j->peer, FT_XFER_CHUNK, j->held, j->held_len))
		return;					/* the peer's queue is full: the tick tries again */
	j->tokens -= (double) j->held_len;
	j->held_unsent = false;
	x->chunks_sent++;
	x->bytes_sent += j->held_len;
	j->activity = now;
	if (j->read == j->nchunks)
		xf_end(j, true, NULL);
}

/*
 * Read the next chunk if the requester asked for it and none is held.
 */
static void
xf_serve_read(xf_job *j)
{
	PGconn	   *conn;

	if (j->phase != XP_STREAMING || j->reading || j->held_unsent || j->read >= j->wanted ||
		j->read >= j->nchunks)
		return;
	conn = pgpipe_conn(j->pipe);
	if (conn == NULL ||
		PQsendQueryParams(conn, XF_SQL_CHUNK, 0, NULL, NULL, NULL, NULL, 1) != 1 ||
		pgpipe_push(j->pipe, XK_CHUNK, j->seq, 0, 1) == NULL)
	{
		xf_end(j, false, "could not send the chunk's statement");
		return;
	}
	j->reading = true;
}

static void
xf_serve_done(void *arg, pgpipe_op *o)
{
	xf_job	   *j = arg;
	pgxfer	   *x = j->x;
	pgsvc	   *ps = x->ps;
	const PGresult *r;
	const uint8_t *b;
	size_t		len;

	if (j->phase == XP_ENDED)
		return;
	if (o->failed)
	{
		xf_fail_op(j, o, o->kind == XK_MANIFEST ? "zyzzyva.snapshot_open" : "zyzzyva.snapshot_chunk");
		return;
	}
	r = o->res[o->nstmts - 1];
	if (r == NULL || PQntuples(r) != 1)
	{
		xf_end(j, false, "no result");
		return;
	}
	b = (const uint8_t *) PQgetvalue(r, 0, 0);
	len = (size_t) PQgetlength(r, 0, 0);
	j->activity = ev_now();
	if (o->kind == XK_MANIFEST)
	{
		if (PQgetisnull(r, 0, 0) || len < 40)
		{
			xf_end(j, false, "a malformed manifest");
			return;
		}
		j->nchunks = get_be32(b + 20);
		j->rows_total = get_be64(b + 24);
		j->bytes_total = get_be64(b + 32);
		if (!ps->hooks.serve_state(ps->hooks.arg, j->peer, j->seq, b, len))
		{
			xf_end(j, false, "the checkpoint is no longer kept, or the manifest is too large");
			return;
		}
		zlog(ZLOG_INFO, "postgres: serving checkpoint %llu to replica %u in %u chunks "
			 "(%llu rows, %llu bytes)", (unsigned long long) j->seq, j->peer, j->nchunks,
			 (unsigned long long) j->rows_total, (unsigned long long) j->bytes_total);
		j->phase = XP_STREAMING;
		xf_progress(x, j, true);
		if (j->nchunks == 0)
			xf_end(j, true, NULL);
		return;
	}
	/* XK_CHUNK */
	j->reading = false;
	if (PQgetisnull(r, 0, 0) || len < 30)
	{
		xf_end(j, false, "fewer chunks than the manifest says");
		return;
	}
	j->held = malloc(XF_REQ_LEN + len);
	if (j->held == NULL)
	{
		xf_end(j, false, "out of memory");
		return;
	}
	put_be64(j->held, j->seq);
	put_be32(j->held + 8, j->read);
	memcpy(j->held + XF_REQ_LEN, b, len);
	j->held_len = XF_REQ_LEN + len;
	j->held_unsent = true;
#ifdef ZZ_FAULT_INJECTION
	if (ps->test_corrupt_snapshot)
	{
		/* change the last digit: rows that parse, with a wrong value */
		for (size_t i = j->held_len; i-- > XF_REQ_LEN;)
		{
			if (j->held[i] >= '0' && j->held[i] <= '9')
			{
				j->held[i] = j->held[i] == '9' ? '8' : j->held[i] + 1;
				zlog(ZLOG_WARNING, "postgres: ZZ_TEST_CORRUPT_SNAPSHOT: serving a wrong row "
					 "(test fault injection)");
				break;
			}
		}
	}
#endif
	j->read++;
	{
		uint32_t	nrows = chunk_rows(b, len);

		j->rows_done += nrows;
		j->bytes_done += chunk_row_bytes(b, len, nrows);
	}
	xf_serve_push(j);
	if (j->phase == XP_STREAMING && !j->held_unsent)
	{
		free(j->held);
		j->held = NULL;
		xf_serve_read(j);
	}
	xf_progress(x, j, false);
}

/*
 * zz_service.serve: see service.h.
 */
int
pgx_serve(void *ctx, uint32_t to, zz_seq seq)
{
	pgsvc	   *ps = ctx;
	pgxfer	   *x = ps->xfer;
	xf_job	   *j;

	if (x == NULL || x->chunked == 0)
		return -1;				/* a 0.1 database: the single snapshot */
	if (ps->diverged || ps->stalled)
		return 0;				/* our rows are not to be trusted */
	if (x->chunked < 0 || to >= ZZ_MAX_N)
		return 0;				/* not known yet: it asks again */
	j = x->serve[to];
	if (j != NULL && j->phase == XP_STREAMING && j->wanted == 0 &&
		ev_now() - j->activity >= XF_UNTAKEN)
	{
		/* it installed from another replica, or found our checkpoint too old */
		xf_end(j, false, "the requester took no chunk and asks again");
		j = NULL;
	}
	if (j != NULL)
	{
		x->requests_dropped++;
		x->drops_unlogged++;
		if (ev_now() - x->drop_logged >= 10 * 1000000ULL)
		{
			zlog(ZLOG_WARNING, "postgres: STATE-REQUEST from replica %u dropped: its transfer "
				 "of checkpoint %llu is in progress (%llu dropped in the last 10 s)", to,
				 (unsigned long long) j->seq, (unsigned long long) x->drops_unlogged);
			x->drop_logged = ev_now();
			x->drops_unlogged = 0;
		}
		return 0;
	}
#ifdef ZZ_FAULT_INJECTION
	pg_test_exit_on_transfer(ps, seq);
#endif
	x->serves_started++;
	j = xf_job_new(x, false, to, seq, xf_serve_connected, xf_serve_done);
	if (j == NULL)
		return 0;
	x->serve[to] = j;
	return 1;
}

/* ------------------------------------------------------------------------
 * Installing
 * ------------------------------------------------------------------------ */

static void
xf_inst_request(xf_job *j)
{
	pgsvc	   *ps = j->x->ps;

	while (j->phase == XP_STREAMING && j->requested < j->nchunks &&
		   j->requested - j->installed < XF_WINDOW)
	{
		uint8_t		req[XF_REQ_LEN];

		put_be64(req, j->seq);
		put_be32(req + 8, j->requested);
		if (!ps->hooks.send_transfer(ps->hooks.arg, j->peer, FT_XFER_REQ, req, sizeof(req)))
			return;				/* the tick asks again */
		if (j->received == j->requested)
			j->activity = ev_now();	/* (the wait for the peer starts now) */
		j->requested++;
	}
}

static void
xf_inst_connected(void *arg)
{
	xf_job	   *j = arg;
	PGconn	   *conn = pgpipe_conn(j->pipe);
	uint8_t		v[8];
	const char *values[4] = {(const char *) v, (const char *) j->history.b,
	(const char *) j->expect.b, (const char *) j->mani};
	int			lengths[4] = {8, ZZ_DIGEST_LEN, ZZ_DIGEST_LEN, (int) j->mani_len};
	int			formats[4] = {1, 1, 1, 1};
	Oid			types[4] = {PG_INT8OID, PG_BYTEAOID, PG_BYTEAOID, PG_BYTEAOID};

	if (j->phase != XP_CONNECTING)
	{
		xf_end(j, false, "the database connection was lost");
		return;
	}
	put_be64(v, j->seq);
	if (PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
		PQsendQueryParams(conn, XF_SQL_INST_OPEN, 4, types, values, lengths, formats, 0) != 1 ||
		pgpipe_push(j->pipe, XK_OPEN, j->seq, 0, 2) == NULL)
	{
		xf_end(j, false, "could not send install_open");
		return;
	}
	free(j->mani);
	j->mani = NULL;
	j->phase = XP_OPENING;
}

static void
xf_inst_close(xf_job *j)
{
	PGconn	   *conn = pgpipe_conn(j->pipe);

	if (conn == NULL ||
		PQsendQueryParams(conn, XF_SQL_INST_CLOSE, 0, NULL, NULL, NULL, NULL, 0) != 1 ||
		PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
		pgpipe_push(j->pipe, XK_CLOSE, j->seq, 0, 2) == NULL)
	{
		xf_end(j, false, "could not send install_close");
		return;
	}
	j->phase = XP_CLOSING;
}

static void
xf_inst_done(void *arg, pgpipe_op *o)
{
	xf_job	   *j = arg;
	pgxfer	   *x = j->x;
	const PGresult *r;

	if (j->phase == XP_ENDED)
		return;
	if (o->failed)
	{
		xf_fail_op(j, o, o->kind == XK_OPEN ? "zyzzyva.install_open" :
				   o->kind == XK_INSTALL ? "zyzzyva.install_chunk" : "zyzzyva.install_close");
		return;
	}
	r = o->res[o->kind == XK_CLOSE ? 0 : o->nstmts - 1];
	j->activity = ev_now();
	switch (o->kind)
	{
		case XK_OPEN:
			if (r == NULL || PQntuples(r) != 1 ||
				strtoull(PQgetvalue(r, 0, 0), NULL, 10) != j->nchunks)
			{
				xf_end(j, false, "install_open counts other chunks than the manifest");
				return;
			}
			j->phase = XP_STREAMING;
			xf_progress(x, j, true);
			if (j->nchunks == 0)
				xf_inst_close(j);
			else
				xf_inst_request(j);
			return;
		case XK_INSTALL:
			j->installed++;
			x->chunks_installed++;
			if (r != NULL && PQntuples(r) == 1)
				j->rows_done += strtoull(PQgetvalue(r, 0, 0), NULL, 10);
			if (j->installed == j->nchunks)
				xf_inst_close(j);
			else
				xf_inst_request(j);
			xf_progress(x, j, false);
			return;
		case XK_CLOSE:
			pg_installed(x->ps, j->seq, &j->expect,
						 r != NULL && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?");
			xf_end(j, true, NULL);
			return;
		default:
			return;
	}
}

/*
 * A manifest came, and this database is on 0.1, which has no chunk
 * functions: during a rolling upgrade the replicas already on 0.2 serve
 * only manifests, so this replica asks one signer after another and
 * never installs.  Say so, as an error at most every XF_TOO_OLD_EVERY, in
 * the condition while it lasts, and look at the database again (the
 * update may have run since it was connected).
 */
static void
xf_refuse_too_old(pgxfer *x, uint32_t from, zz_seq seq)
{
	bool		was = x->too_old;

	x->too_old = true;
	x->too_old_refused++;
	x->too_old_unlogged++;
	if (x->too_old_logged == 0 || ev_now() - x->too_old_logged >= XF_TOO_OLD_EVERY)
	{
		zlog(ZLOG_ERROR, "postgres: cannot install checkpoint %llu from replica %u: it came as a "
			 "chunked state transfer, and this database's extension (zyzzyva 0.1) is too old to "
			 "install one; run ALTER EXTENSION zyzzyva UPDATE in it (%llu such transfer(s) "
			 "refused since the last message)", (unsigned long long) seq, from,
			 (unsigned long long) x->too_old_unlogged);
		x->too_old_logged = ev_now();
		x->too_old_unlogged = 0;
		xf_probe(x);
	}
	if (!was)
		pg_update_condition(x->ps);
}

/*
 * pgx_install_blocked: see pgservice_int.h.
 */
bool
pgx_install_blocked(pgsvc *ps, zz_seq transfer_seq, char *why, size_t len)
{
	pgxfer	   *x = ps->xfer;

	if (x == NULL || !x->too_old)
		return false;
	if (transfer_seq == 0)
	{
		x->too_old = false;		/* no longer fetching: it found another way */
		return false;
	}
	snprintf(why, len, "this database's extension (zyzzyva 0.1) cannot install the chunked "
			 "state transfers the other replicas send: run ALTER EXTENSION zyzzyva UPDATE");
	return true;
}

/*
 * zz_service.install_start: see service.h.
 */
int
pgx_install_start(void *ctx, uint32_t from, zz_seq seq, const zz_digest *history,
				  const uint8_t *data, size_t len, const zz_digest *expect)
{
	pgsvc	   *ps = ctx;
	pgxfer	   *x = ps->xfer;
	xf_job	   *j;

	if (x == NULL || len < 40 || memcmp(data, "ZZMANI", 6) != 0)
		return -1;				/* a single snapshot: installed as before */
	if (x->chunked == 0)
	{
		xf_refuse_too_old(x, from, seq);
		return 0;
	}
	if (x->chunked != 1 || x->inst != NULL || from >= ZZ_MAX_N)
		return 0;
	free(ps->snap);				/* (our state changes: serve nothing stale) */
	ps->snap = NULL;
	j = xf_job_new(x, true, from, seq, xf_inst_connected, xf_inst_done);
	if (j == NULL)
		return 0;
	j->mani = malloc(len);
	if (j->mani == NULL)
	{
		xf_end(j, false, "out of memory");
		return 0;
	}
	memcpy(j->mani, data, len);
	j->mani_len = len;
	j->history = *history;
	j->expect = *expect;
	j->nchunks = get_be32(data + 20);
	j->rows_total = get_be64(data + 24);
	j->bytes_total = get_be64(data + 32);
	x->inst = j;
	x->prog_job = j;
	zlog(ZLOG_INFO, "postgres: installing checkpoint %llu from replica %u in %u chunks "
		 "(%llu rows, %llu bytes)", (unsigned long long) seq, from, j->nchunks,
		 (unsigned long long) j->rows_total, (unsigned long long) j->bytes_total);
	return 1;
}

/* ------------------------------------------------------------------------
 * Frames from peers
 * ------------------------------------------------------------------------ */

/*
 * pgsvc_transfer_frame: see pgservice.h.
 */
void
pgsvc_transfer_frame(pgsvc *ps, uint32_t from, uint8_t type, const uint8_t *p, size_t len)
{
	pgxfer	   *x = ps->xfer;
	zz_seq		seq;
	uint32_t	index;
	xf_job	   *j;

	if (x == NULL || len < XF_REQ_LEN || from >= ZZ_MAX_N)
		return;
	seq = get_be64(p);
	index = get_be32(p + 8);
	if (type == FT_XFER_REQ)
	{
		j = x->serve[from];
		if (j == NULL || j->seq != seq || j->phase != XP_STREAMING || index != j->wanted ||
			index >= j->nchunks)
		{
			zlog(ZLOG_DEBUG, "postgres: chunk request %u of checkpoint %llu from replica %u "
				 "does not follow its transfer; ignored", index, (unsigned long long) seq, from);
			return;
		}
		j->wanted++;
		j->activity = ev_now();
		xf_serve_read(j);
		return;
	}
	/* FT_XFER_CHUNK */
	j = x->inst;
	if (j == NULL || j->peer != from || j->seq != seq || j->phase != XP_STREAMING ||
		index != j->received || index >= j->requested)
	{
		zlog(ZLOG_DEBUG, "postgres: chunk %u of checkpoint %llu from replica %u is not the one "
			 "expected; ignored", index, (unsigned long long) seq, from);
		return;
	}
	{
		PGconn	   *conn = pgpipe_conn(j->pipe);
		const char *values[1] = {(const char *) p + XF_REQ_LEN};
		int			lengths[1] = {(int) (len - XF_REQ_LEN)};
		int			formats[1] = {1};
		Oid			types[1] = {PG_BYTEAOID};

		if (conn == NULL ||
			PQsendQueryParams(conn, XF_SQL_INST_CHUNK, 1, types, values, lengths, formats, 0) != 1 ||
			pgpipe_push(j->pipe, XK_INSTALL, seq, 0, 1) == NULL)
		{
			xf_end(j, false, "could not send install_chunk");
			return;
		}
	}
	j->received++;
	j->bytes_done += chunk_row_bytes(p + XF_REQ_LEN, len - XF_REQ_LEN,
									 chunk_rows(p + XF_REQ_LEN, len - XF_REQ_LEN));
	x->bytes_installed += len - XF_REQ_LEN;	/* (with the framing) */
	j->activity = ev_now();
}

/* ------------------------------------------------------------------------
 * Progress, the probe, the tick
 * ------------------------------------------------------------------------ */

/*
 * Ask the database whether it has the chunk functions (unless a statement
 * of this connection is in flight: the next refusal asks again).
 */
static void
xf_probe(pgxfer *x)
{
	PGconn	   *conn = pgpipe_conn(x->prog);

	if (conn == NULL || x->prog_inflight ||
		PQsendQueryParams(conn, XF_SQL_PROBE, 0, NULL, NULL, NULL, NULL, 0) != 1 ||
		pgpipe_push(x->prog, XK_PROBE, 0, 0, 1) == NULL)
		return;
	x->prog_inflight = true;
}

static void
xf_prog_connected(void *arg)
{
	pgxfer	   *x = arg;

	x->prog_inflight = false;
	xf_probe(x);
}

static void
xf_prog_done(void *arg, pgpipe_op *o)
{
	pgxfer	   *x = arg;

	x->prog_inflight = false;
	if (o->kind == XK_PROBE)
	{
		int			was = x->chunked;

		x->chunked = !o->failed && o->res[0] != NULL && PQntuples(o->res[0]) == 1 &&
			strcmp(PQgetvalue(o->res[0], 0, 0), "t") == 0;
		if (was != x->chunked)
			zlog(ZLOG_INFO, "postgres: state transfer %s", x->chunked ?
				 "in chunks (zyzzyva.snapshot_open)" :
				 "as one snapshot (the database's extension is 0.1)");
		if (x->chunked == 1 && x->too_old)
		{
			x->too_old = false;
			zlog(ZLOG_INFO, "postgres: the database's extension was updated: "
				 "chunked state transfers install now");
			pg_update_condition(x->ps);
		}
	}
	else if (o->failed)
		pgpipe_log(x->prog, ZLOG_WARNING, "recording the transfer's progress failed: %s: %s",
				   o->sqlstate, o->errmsg);
	if (x->prog_dirty && x->prog_job != NULL)
		xf_progress(x, x->prog_job, true);
}

static void
xf_prog_lost(void *arg)
{
	((pgxfer *) arg)->prog_inflight = false;
}

/*
 * Write j's progress to zyzzyva.transfer_progress: at most every
 * XF_PROGRESS_EVERY unless force, one statement at a time.
 */
static void
xf_progress(pgxfer *x, const xf_job *j, bool force)
{
	PGconn	   *conn = pgpipe_conn(x->prog);
	char		v[10][24];
	const char *values[10];
	const char *state;

	if (j->phase == XP_ENDED && j != &x->prog_last)
		return;					/* xf_end showed its last state */
	if (j->installing && x->prog_job != j && x->prog_job != &x->prog_last)
		x->prog_job = j;
	else if (!j->installing && x->inst == NULL && j != &x->prog_last)
		x->prog_job = j;		/* serving shows while nothing installs */
	if (x->prog_job != j)
		return;
	x->prog_dirty = true;
	if (x->chunked != 1 || conn == NULL || x->prog_inflight ||
		(!force && ev_now() - x->prog_at < XF_PROGRESS_EVERY))
		return;
	state = j->phase == XP_ENDED ? "failed" : j == &x->prog_last ? "done" : "running";
	snprintf(v[0], sizeof(v[0]), "%s", j->installing ? "installing" : "serving");
	snprintf(v[1], sizeof(v[1]), "%u", j->peer);
	snprintf(v[2], sizeof(v[2]), "%llu", (unsigned long long) j->seq);
	snprintf(v[3], sizeof(v[3]), "%u", j->installing ? j->installed : j->read);
	snprintf(v[4], sizeof(v[4]), "%u", j->nchunks);
	snprintf(v[5], sizeof(v[5]), "%llu", (unsigned long long) j->rows_done);
	snprintf(v[6], sizeof(v[6]), "%llu", (unsigned long long) j->rows_total);
	snprintf(v[7], sizeof(v[7]), "%llu", (unsigned long long) j->bytes_done);
	snprintf(v[8], sizeof(v[8]), "%llu", (unsigned long long) j->bytes_total);
	snprintf(v[9], sizeof(v[9]), "%s", state);
	for (int i = 0; i < 10; i++)
		values[i] = v[i];
	if (PQsendQueryParams(conn, XF_SQL_PROGRESS, 10, NULL, values, NULL, NULL, 0) != 1 ||
		pgpipe_push(x->prog, XK_PROGRESS, 0, 0, 1) == NULL)
		return;
	x->prog_inflight = true;
	x->prog_dirty = false;
	x->prog_at = ev_now();
}

/*
 * Every XF_TICK while anything runs: free ended jobs, push what waits on
 * the rate or a full queue, end transfers that went quiet.
 */
static void
xf_tick(ev_loop *loop, uint64_t id, void *arg)
{
	pgxfer	   *x = arg;
	zz_time		now = ev_now();
	bool		busy = false;

	(void) loop;
	(void) id;
	x->timer = 0;
	for (int i = 0; i < x->nreap; i++)
	{
		pgpipe_free(x->reap[i]);
		free(x->reap_jobs[i]);
	}
	x->nreap = 0;
	for (uint32_t i = 0; i < ZZ_MAX_N; i++)
	{
		xf_job	   *j = x->serve[i];

		if (j == NULL)
			continue;
		/* (only while it waits on the requester: our own database may take long) */
		if (j->phase == XP_STREAMING && !j->reading && now - j->activity > XF_QUIET)
		{
			xf_end(j, false, "the requester went quiet");
			continue;
		}
		busy = true;
		if (j->held_unsent)
		{
			xf_serve_push(j);
			if (j->phase == XP_STREAMING && !j->held_unsent)
			{
				free(j->held);
				j->held = NULL;
				xf_serve_read(j);
			}
		}
	}
	if (x->inst != NULL)
	{
		if (x->inst->phase == XP_STREAMING && x->inst->received < x->inst->requested &&
			now - x->inst->activity > XF_QUIET)
			xf_end(x->inst, false, "no progress from the serving replica");
		else
		{
			xf_inst_request(x->inst);
			busy = true;
		}
	}
	if (x->prog_dirty && x->prog_job != NULL)
	{
		xf_progress(x, x->prog_job, false);
		busy = true;
	}
	if (busy || x->nreap > 0)
		xf_arm(x);
}

/* ------------------------------------------------------------------------
 * Life cycle and status
 * ------------------------------------------------------------------------ */

bool
pgx_create(pgsvc *ps)
{
	pgxfer	   *x = calloc(1, sizeof(pgxfer));
	pgpipe_handlers h = {0};
	char		appname[48];
	static const uint64_t default_chunk = 1u << 20;
	static const uint64_t no_rate = 0;

	if (x == NULL)
		return false;
	x->ps = ps;
	x->chunked = -1;
	x->chunk_bytes = &default_chunk;
	x->rate = &no_rate;
	h.arg = x;
	h.connected = xf_prog_connected;
	h.done = xf_prog_done;
	h.lost = xf_prog_lost;
	snprintf(appname, sizeof(appname), "zyzzyvad-r%u-transfer", ps->replica_id);
	x->prog = pgpipe_create(ps->loop, ps->conninfo, appname, &h);
	if (x->prog == NULL)
	{
		free(x);
		return false;
	}
	ps->xfer = x;
	ps->svc.serve = pgx_serve;
	ps->svc.install_start = pgx_install_start;
	return true;
}

void
pgx_start(pgsvc *ps)
{
	if (ps->xfer != NULL)
		pgpipe_start(ps->xfer->prog);
}

/*
 * pgsvc_set_transfer_limits: see pgservice.h.
 */
void
pgsvc_set_transfer_limits(pgsvc *ps, const uint64_t *chunk_bytes, const uint64_t *rate)
{
	if (ps->xfer == NULL)
		return;
	ps->xfer->chunk_bytes = chunk_bytes;
	ps->xfer->rate = rate;
}

void
pgx_status(const pgsvc *ps, zz_buf *out)
{
	const pgxfer *x = ps->xfer;
	char		text[900];
	int			n;
	int			serving = 0;

	if (x == NULL)
		return;
	for (uint32_t i = 0; i < ZZ_MAX_N; i++)
		serving += x->serve[i] != NULL;
	n = snprintf(text, sizeof(text),
				 "pg_transfer_mode: %s\npg_transfer_serving: %d\npg_transfer_serves_started: %llu\n"
				 "pg_transfer_served: %llu\n"
				 "pg_transfer_serve_failed: %llu\npg_transfer_requests_dropped: %llu\n"
				 "pg_transfer_chunks_sent: %llu\npg_transfer_bytes_sent: %llu\n"
				 "pg_transfer_installs: %llu\npg_transfer_install_failed: %llu\n"
				 "pg_transfer_chunks_installed: %llu\npg_transfer_bytes_installed: %llu\n"
				 "pg_transfer_refused_too_old: %llu\n",
				 x->chunked < 0 ? "unknown" : x->chunked ? "chunked" : "single",
				 serving, (unsigned long long) x->serves_started, (unsigned long long) x->served,
				 (unsigned long long) x->serve_failed, (unsigned long long) x->requests_dropped,
				 (unsigned long long) x->chunks_sent, (unsigned long long) x->bytes_sent,
				 (unsigned long long) x->installs, (unsigned long long) x->install_failed,
				 (unsigned long long) x->chunks_installed,
				 (unsigned long long) x->bytes_installed,
				 (unsigned long long) x->too_old_refused);
	if (x->inst != NULL && n > 0 && (size_t) n < sizeof(text))
		n += snprintf(text + n, sizeof(text) - n,
					  "pg_transfer_installing: checkpoint %llu from R%u chunks %u/%u rows %llu/%llu "
					  "bytes %llu/%llu\n", (unsigned long long) x->inst->seq, x->inst->peer,
					  x->inst->installed, x->inst->nchunks,
					  (unsigned long long) x->inst->rows_done,
					  (unsigned long long) x->inst->rows_total,
					  (unsigned long long) x->inst->bytes_done,
					  (unsigned long long) x->inst->bytes_total);
	if (n > 0)
		zz_buf_append(out, text, (size_t) n < sizeof(text) ? (size_t) n : sizeof(text) - 1);
}

void
pgx_free(pgsvc *ps)
{
	pgxfer	   *x = ps->xfer;

	if (x == NULL)
		return;
	if (x->timer != 0)
		ev_del_timer(ps->loop, x->timer);
	for (int i = 0; i < x->nreap; i++)
	{
		pgpipe_free(x->reap[i]);
		free(x->reap_jobs[i]);
	}
	for (uint32_t i = 0; i < ZZ_MAX_N; i++)
	{
		if (x->serve[i] != NULL)
		{
			pgpipe_free(x->serve[i]->pipe);
			free(x->serve[i]->held);
			free(x->serve[i]);
		}
	}
	if (x->inst != NULL)
	{
		pgpipe_free(x->inst->pipe);
		free(x->inst->mani);
		free(x->inst);
	}
	pgpipe_free(x->prog);
	free(x);
	ps->xfer = NULL;
}
