/*
 * bench.c
 *	  zyzzyva-bench: closed-loop load through zyzzyvad's local sockets.
 *
 *	  zyzzyva-bench --socket PATH[,PATH...] [--observe PATH[,PATH...]]
 *					[--clients C] [--outstanding K] [--size BYTES] [--op TEXT]
 *					[--call SIGNATURE [--args 'A B ...']...]
 *					[--duration S] [--warmup S] [--config NAME] [--csv FILE]
 *
 * Opens C x K connections, spread round-robin over the sockets given (one
 * per replica spreads the clients' work over the daemons).  Each
 * connection is one Zyzzyva client with one request outstanding: when a
 * result comes back, the next request goes out.  The op is --op, or
 * --size bytes of 'x' (for the null service), or with --call (service =
 * postgres) a call of a replicated function in the extension's encoding
 * (pgcall.h): each --args gives one call's arguments, separated by white
 * space, and each connection cycles through them (e.g. transfers back and
 * forth, so that balances never run out).  After --warmup seconds,
 * results are counted for --duration seconds.
 *
 * Prints one line:
 *	  config=NAME clients=C outstanding=K size=B requests=N requests_per_s=X
 *	  p50_ms=.. p99_ms=.. p999_ms=.. fast_path_share=S msgs_per_request=M
 *	  crypto_ops_per_request=Q
 * where messages are the frames all daemons sent to each other, and crypto
 * operations are those of the busiest daemon (its replica and its clients),
 * both per completed request, from the status before and after of the
 * daemons behind --observe (default: the --socket list; give every
 * replica's socket there to count the whole cluster).
 * --csv appends the same figures as a row (with a header if the file is new).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "event.h"
#include "frame.h"
#include "lclient.h"
#include "pgcall.h"

#define BENCH_MAX_SOCKETS	ZZ_MAX_N

typedef struct bench bench;

typedef struct bconn
{
	bench	   *b;
	conn	   *c;
	zz_time		sent;
	uint32_t	next_op;
} bconn;

struct bench
{
	ev_loop    *loop;
	const char *sockets[BENCH_MAX_SOCKETS];
	int			nsockets;
	const char *observe[BENCH_MAX_SOCKETS];
	int			nobserve;
	uint8_t    *op;				/* ops[0]; the others with --call */
	uint32_t	oplen;
	uint8_t    *ops[64];
	uint32_t	oplens[64];
	uint32_t	nops;
	bconn	   *conns;
	int			nconns;
	int			open;
	bool		measuring;
	bool		over;
	zz_time		measure_start;
	zz_time		measure_end;
	uint32_t   *lat;			/* microseconds, measured completions */
	size_t		nlat;
	size_t		caplat;
	uint64_t	fast;
	uint64_t	errors;
	/* daemon counters at the start of the measurement */
	uint64_t	frames0[BENCH_MAX_SOCKETS];
	uint64_t	crypto0[BENCH_MAX_SOCKETS];
};

/*
 * Sum of the counters a daemon's status reports for messages (frames it
 * sent to peers) and crypto operations (its replica's and its clients').
 */
static bool
bench_counters(const char *sock, uint64_t *frames, uint64_t *crypto)
{
	char	   *st = lclient_status(sock, 5000);
	static const char *const ckeys[] = {"crypto_signs", "crypto_verifies", "crypto_macs",
	"crypto_mac_checks", "clients_crypto_ops", NULL};

	*frames = 0;
	*crypto = 0;
	if (st == NULL)
		return false;
	for (char *line = strtok(st, "\n"); line != NULL; line = strtok(NULL, "\n"))
	{
		char	   *colon = strchr(line, ':');

		if (colon == NULL)
			continue;
		*colon = '\0';
		if (strcmp(line, "frames_out_total") == 0)
			*frames = strtoull(colon + 2, NULL, 10);
		for (int i = 0; ckeys[i]; i++)
			if (strcmp(line, ckeys[i]) == 0)
				*crypto += strtoull(colon + 2, NULL, 10);
	}
	free(st);
	return true;
}

/*
 * Send the next request on bc.
 */
static void
bench_send(bconn *bc)
{
	bench	   *b = bc->b;
	uint32_t	k = bc->next_op++ % b->nops;

	bc->sent = ev_now();
	if (!conn_send(bc->c, ZZ_FT_L_REQUEST, b->ops[k], b->oplens[k], NULL, 0))
		conn_close(bc->c, "cannot queue a request");
}

/*
 * A frame from a daemon: a result (count it, send the next) or an error.
 */
static conn_verdict
bench_on_frame(conn *c, void *arg, const frame *f)
{
	bconn	   *bc = arg;
	bench	   *b = bc->b;
	zz_time		now = ev_now();

	if (f->type == ZZ_FT_L_RESULT && f->len >= ZZ_FT_L_RESULT_HDR)
	{
		if (b->measuring && now < b->measure_end)
		{
			if (b->nlat == b->caplat)
			{
				size_t		cap = b->caplat ? b->caplat * 2 : 1u << 16;
				uint32_t   *lat = realloc(b->lat, cap * sizeof(uint32_t));

				if (lat == NULL)
					return CONN_CLOSE;
				b->lat = lat;
				b->caplat = cap;
			}
			b->lat[b->nlat++] = (uint32_t) (now - bc->sent > UINT32_MAX ? UINT32_MAX : now - bc->sent);
			if ((f->payload[0] & ZZ_L_PATH_COMMIT) == 0)
				b->fast++;
		}
	}
	else if (f->type == ZZ_FT_L_ERROR)
	{
		b->errors++;
		fprintf(stderr, "zyzzyva-bench: daemon error: %.*s\n", (int) f->len, f->payload);
	}
	else
	{
		conn_close(c, "unexpected frame");
		return CONN_CLOSE;
	}
	if (!b->over)
		bench_send(bc);
	return CONN_CONTINUE;
}

/*
 * A connection closed (the daemon went away, or we are done).
 */
static void
bench_on_close(conn *c, void *arg, const char *why)
{
	bconn	   *bc = arg;

	bc->c = NULL;
	if (!bc->b->over)
		fprintf(stderr, "zyzzyva-bench: connection closed: %s\n", why);
	if (--bc->b->open == 0)
		ev_stop(bc->b->loop);
}

static const conn_ops bench_ops = {NULL, bench_on_frame, bench_on_close};

/*
 * End of warmup: snapshot the daemons' counters, start counting.
 */
static void
bench_start_measuring(ev_loop *loop, uint64_t id, void *arg)
{
	bench	   *b = arg;

	for (int i = 0; i < b->nobserve; i++)
		(void) bench_counters(b->observe[i], &b->frames0[i], &b->crypto0[i]);
	b->measure_end += ev_now() - b->measure_start;
	b->measure_start = ev_now();
	b->measuring = true;
}

/*
 * End of the measurement.
 */
static void
bench_stop(ev_loop *loop, uint64_t id, void *arg)
{
	bench	   *b = arg;

	if (ev_now() < b->measure_end)
	{
		(void) ev_add_timer(loop, b->measure_end, bench_stop, b);
		return;
	}
	b->over = true;
	ev_stop(loop);
}

/*
 * The before-sleep hook: write what the turn queued.
 */
static void
bench_before_sleep(ev_loop *loop, void *arg)
{
	conn_flush_all();
	conn_reap();
}

/*
 * Compare for qsort.
 */
static int
bench_cmp(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *) a;
	uint32_t	y = *(const uint32_t *) b;

	return (x > y) - (x < y);
}

/*
 * The q-quantile of the sorted latencies, in milliseconds.
 */
static double
bench_quantile(const bench *b, double q)
{
	size_t		i;

	if (b->nlat == 0)
		return 0;
	i = (size_t) ceil(q * (double) b->nlat);
	if (i > 0)
		i--;
	if (i >= b->nlat)
		i = b->nlat - 1;
	return b->lat[i] / 1000.0;
}

/*
 * Usage text.
 */
static void
bench_usage(void)
{
	fprintf(stderr, "usage: zyzzyva-bench --socket PATH[,PATH...] [--observe PATH[,PATH...]]\n"
			"                     [--clients C] [--outstanding K] [--size BYTES] [--op TEXT]\n"
			"                     [--call SIGNATURE [--args 'A B ...']...]\n"
			"                     [--role ROLE] [--database DB]\n"
			"                     [--duration S] [--warmup S] [--config NAME] [--csv FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	bench		b;
	char	   *socks = NULL;
	char	   *observe = NULL;
	const char *opstr = NULL;
	const char *call = NULL;
	const char *role = NULL;
	const char *database = NULL;
	const char *callargs[64];
	int			ncallargs = 0;
	const char *config = "bench";
	const char *csv = NULL;
	int			clients = 1;
	int			outstanding = 1;
	long		size = 0;
	double		duration = 5;
	double		warmup = 1;
	uint64_t	frames = 0;
	uint64_t	crypto_max = 0;
	double		secs;

	memset(&b, 0, sizeof(b));
	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			bench_usage();
		if (strcmp(a, "--socket") == 0)
			socks = strdup(v);
		else if (strcmp(a, "--observe") == 0)
			observe = strdup(v);
		else if (strcmp(a, "--clients") == 0)
			clients = atoi(v);
		else if (strcmp(a, "--outstanding") == 0)
			outstanding = atoi(v);
		else if (strcmp(a, "--size") == 0)
			size = atol(v);
		else if (strcmp(a, "--op") == 0)
			opstr = v;
		else if (strcmp(a, "--call") == 0)
			call = v;
		else if (strcmp(a, "--role") == 0)
			role = v;
		else if (strcmp(a, "--database") == 0)
			database = v;
		else if (strcmp(a, "--args") == 0 && ncallargs < 64)
			callargs[ncallargs++] = v;
		else if (strcmp(a, "--duration") == 0)
			duration = atof(v);
		else if (strcmp(a, "--warmup") == 0)
			warmup = atof(v);
		else if (strcmp(a, "--config") == 0)
			config = v;
		else if (strcmp(a, "--csv") == 0)
			csv = v;
		else
			bench_usage();
		i++;
	}
	if (socks == NULL || clients < 1 || outstanding < 1 || clients * outstanding > 65536 ||
		size < 0 || size > (long) ZZ_MAX_OP_LEN || duration <= 0 || warmup < 0)
		bench_usage();
	for (char *s = strtok(socks, ","); s != NULL && b.nsockets < BENCH_MAX_SOCKETS; s = strtok(NULL, ","))
		b.sockets[b.nsockets++] = s;
	if (observe == NULL)
	{
		memcpy(b.observe, b.sockets, sizeof(b.sockets));
		b.nobserve = b.nsockets;
	}
	for (char *s = observe ? strtok(observe, ",") : NULL; s != NULL && b.nobserve < BENCH_MAX_SOCKETS;
		 s = strtok(NULL, ","))
		b.observe[b.nobserve++] = s;
	if (role == NULL)
		role = pgcall_default_role();
	if (database == NULL)
		database = pgcall_default_database(role);
	if (call)
	{
		if (ncallargs == 0)
			callargs[ncallargs++] = "";
		for (int k = 0; k < ncallargs; k++)
		{
			char	   *copy = strdup(callargs[k]);
			const char *args[256];
			int			na = 0;
			size_t		len = 0;

			if (copy == NULL)
				return 1;
			for (char *w = strtok(copy, " \t"); w != NULL && na < 256; w = strtok(NULL, " \t"))
				args[na++] = strcmp(w, "\\N") == 0 ? NULL : w;
			b.ops[k] = pgcall_encode(role, database, call, args, na, &len);
			b.oplens[k] = (uint32_t) len;
			free(copy);
			if (b.ops[k] == NULL)
				return 1;
		}
		b.nops = (uint32_t) ncallargs;
		b.op = b.ops[0];
		b.oplen = b.oplens[0];
	}
	else if (opstr)
	{
		b.oplen = (uint32_t) strlen(opstr);
		b.op = (uint8_t *) strdup(opstr);
	}
	else
	{
		b.oplen = (uint32_t) size;
		b.op = malloc((size_t) size + 1);
		memset(b.op, 'x', (size_t) size);
	}
	if (b.nops == 0)
	{
		b.ops[0] = b.op;
		b.oplens[0] = b.oplen;
		b.nops = 1;
	}
	b.loop = ev_loop_create();
	b.nconns = clients * outstanding;
	b.conns = calloc((size_t) b.nconns, sizeof(bconn));
	if (b.loop == NULL || b.conns == NULL || b.op == NULL)
		return 1;
	ev_set_before_sleep(b.loop, bench_before_sleep, &b);
	for (int i = 0; i < b.nconns; i++)
	{
		const char *path = b.sockets[i % b.nsockets];
		int			fd = lclient_connect(path);

		if (fd < 0)
		{
			fprintf(stderr, "zyzzyva-bench: cannot connect to %s: %s\n", path, strerror(errno));
			return 1;
		}
		(void) fcntl(fd, F_SETFL, O_NONBLOCK);
		b.conns[i].b = &b;
		b.conns[i].c = conn_create(b.loop, fd, NULL, false, false, NULL,
								   ZZ_MAX_REPLY_LEN + 64, &bench_ops, &b.conns[i], path);
		if (b.conns[i].c == NULL)
			return 1;
		b.open++;
		bench_send(&b.conns[i]);
	}
	b.measure_start = ev_now() + (zz_time) (warmup * 1e6);
	b.measure_end = b.measure_start + (zz_time) (duration * 1e6);
	(void) ev_add_timer(b.loop, b.measure_start, bench_start_measuring, &b);
	(void) ev_add_timer(b.loop, b.measure_end, bench_stop, &b);
	ev_run(b.loop);
	b.over = true;

	for (int i = 0; i < b.nobserve; i++)
	{
		uint64_t	f1;
		uint64_t	c1;

		if (!bench_counters(b.observe[i], &f1, &c1))
			continue;
		frames += f1 - b.frames0[i];
		if (c1 - b.crypto0[i] > crypto_max)
			crypto_max = c1 - b.crypto0[i];
	}
	qsort(b.lat, b.nlat, sizeof(uint32_t), bench_cmp);
	secs = (double) (b.measure_end - b.measure_start) / 1e6;
	{
		/* One set of figures, as key=value on stdout and as a CSV row. */
		static const char *const names[] = {"requests_per_s", "p50_ms", "p99_ms", "p999_ms",
			"fast_path_share", "msgs_per_request", "crypto_ops_per_request"};
		double		per = b.nlat ? 1.0 / (double) b.nlat : 0.0;
		double		vals[] = {b.nlat / secs, bench_quantile(&b, 0.5), bench_quantile(&b, 0.99),
			bench_quantile(&b, 0.999), b.fast * per, frames * per, crypto_max * per};
		FILE	   *fp = NULL;
		int			nv = (int) (sizeof(vals) / sizeof(vals[0]));

		printf("config=%s clients=%d outstanding=%d size=%u requests=%zu", config, clients,
			   outstanding, b.oplen, b.nlat);
		for (int i = 0; i < nv; i++)
			printf(" %s=%.3f", names[i], vals[i]);
		printf("\n");
		if (csv)
		{
			bool		fresh = access(csv, F_OK) != 0;

			fp = fopen(csv, "a");
			if (fp == NULL)
			{
				fprintf(stderr, "zyzzyva-bench: cannot write %s: %s\n", csv, strerror(errno));
				return 1;
			}
			if (fresh)
			{
				fprintf(fp, "config,clients,outstanding,size,duration_s,requests");
				for (int i = 0; i < nv; i++)
					fprintf(fp, ",%s", names[i]);
				fprintf(fp, "\n");
			}
			fprintf(fp, "%s,%d,%d,%u,%.3f,%zu", config, clients, outstanding, b.oplen, secs, b.nlat);
			for (int i = 0; i < nv; i++)
				fprintf(fp, ",%.3f", vals[i]);
			fprintf(fp, "\n");
			fclose(fp);
		}
	}
	return b.nlat > 0 && b.errors == 0 ? 0 : 1;
}
