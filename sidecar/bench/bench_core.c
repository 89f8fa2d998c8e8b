/*
 * bench_core.c
 *	  `make bench-core`: the protocol core's throughput and cryptographic
 *	  cost, with no sockets.
 *
 * Four replicas (f = 1) and enough clients to fill batches run in one
 * process on one thread, with real cryptography (Ed25519 signatures,
 * HMAC-SHA256 authenticators).  Messages go through an in-memory FIFO; the
 * virtual clock only moves when nothing is in flight, so timers fire only
 * when the pipeline is idle (the last, partial batches).  Each client
 * keeps one request outstanding and submits again on completion.  The
 * service is the in-memory key-value store (PUT of a 16-byte value).
 *
 * For each batch size it prints:
 *	 batch=B requests_per_s=X crypto_ops_per_request=Y
 * where X is completed requests per wall-clock second for the whole
 * cluster and Y counts signatures, verifications, MACs and MAC checks at
 * the busiest replica, divided by the completed requests.  Hashes are
 * reported separately.  Options: --requests N (per batch size),
 * --batches 1,16,64,256.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "crypto.h"
#include "kvservice.h"
#include "replica.h"

#define N_REPLICAS 4

typedef struct bench_msg
{
	bool		to_client;
	uint32_t	dest;
	uint32_t	len;
	uint8_t    *data;
} bench_msg;

typedef struct bench
{
	bench_msg  *q;
	size_t		head,
				tail,
				cap;
	zz_replica *replicas[N_REPLICAS];
	zz_kvservice *kv[N_REPLICAS];
	zz_crypto  *rcrypto[N_REPLICAS];
	zz_client **clients;
	zz_crypto **ccrypto;
	uint32_t	n_clients;
	uint64_t	completed;
	uint64_t	fast;
	uint64_t	target;
	zz_time		now;
	uint8_t		op[64];
	uint32_t	op_len;
} bench;

static void
push(bench *b, bool to_client, uint32_t dest, const uint8_t *buf, size_t len)
{
	bench_msg  *m;

	if (b->tail - b->head == b->cap)
	{
		size_t		newcap = b->cap ? b->cap * 2 : 4096;
		bench_msg  *nq = malloc(newcap * sizeof(*nq));
		size_t		i;

		if (nq == NULL)
			abort();
		for (i = 0; i < b->tail - b->head; i++)
			nq[i] = b->q[(b->head + i) % b->cap];
		free(b->q);
		b->q = nq;
		b->tail -= b->head;
		b->head = 0;
		b->cap = newcap;
	}
	m = &b->q[b->tail % b->cap];
	m->to_client = to_client;
	m->dest = dest;
	m->len = (uint32_t) len;
	m->data = malloc(len);
	if (m->data == NULL)
		abort();
	memcpy(m->data, buf, len);
	b->tail++;
}

static void
io_to_replica(void *ctx, uint32_t replica, const uint8_t *buf, size_t len)
{
	push(ctx, false, replica, buf, len);
}

static void
io_to_client(void *ctx, uint32_t client, const uint8_t *buf, size_t len)
{
	push(ctx, true, client, buf, len);
}

static void
submit(bench *b, uint32_t c)
{
	int			n = snprintf((char *) b->op, sizeof(b->op), "PUT k%u value-%08u", c % 97,
							 (unsigned) (b->completed & 0xffffffff));

	zz_client_submit(b->clients[c], b->now, b->op, (uint32_t) n);
}

static void
on_done(void *ctx, uint32_t client, const zz_completion *c)
{
	bench	   *b = ctx;

	b->completed++;
	if (c->path == ZZ_PATH_FAST)
		b->fast++;
	if (b->completed + b->n_clients <= b->target + b->n_clients &&
		b->completed < b->target)
		submit(b, client);
}

static double
wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static zz_time
min_deadline(bench *b)
{
	zz_time		t = UINT64_MAX;
	uint32_t	i;

	for (i = 0; i < N_REPLICAS; i++)
	{
		zz_time		d = zz_replica_next_deadline(b->replicas[i]);

		if (d < t)
			t = d;
	}
	for (i = 0; i < b->n_clients; i++)
	{
		zz_time		d = zz_client_next_deadline(b->clients[i]);

		if (d < t)
			t = d;
	}
	return t;
}

/*
 * Run one batch size; print its line.
 */
static bool
run(uint32_t batch, uint64_t requests, uint64_t seed)
{
	bench		b;
	zz_params	p;
	zz_io		io;
	zz_keyset  *ks;
	uint32_t	i;
	double		t0,
				t1;
	uint64_t	ops_max = 0,
				hashes_max = 0;

	memset(&b, 0, sizeof(b));
	zz_params_default(&p, 1);
	p.batch_max = batch;
	p.commit_timeout = 1000000;	/* virtual time barely moves: keep the fast path */
	p.retransmit_timeout = 2000000;
	b.n_clients = batch * 3 < 64 ? 64 : batch * 3;
	b.target = requests;
	ks = zz_keyset_from_seed(ZZ_CRYPTO_REAL, N_REPLICAS, b.n_clients, seed);
	if (ks == NULL)
		return false;
	io.ctx = &b;
	io.to_replica = io_to_replica;
	io.to_client = io_to_client;
	io.trace = NULL;
	for (i = 0; i < N_REPLICAS; i++)
	{
		b.kv[i] = zz_kv_create();
		b.rcrypto[i] = zz_crypto_create(ks, true, i);
		b.replicas[i] = zz_replica_create(&p, i, b.rcrypto[i], zz_kv_service(b.kv[i]), &io);
		if (b.replicas[i] == NULL)
			return false;
	}
	b.clients = calloc(b.n_clients, sizeof(zz_client *));
	b.ccrypto = calloc(b.n_clients, sizeof(zz_crypto *));
	for (i = 0; i < b.n_clients; i++)
	{
		b.ccrypto[i] = zz_crypto_create(ks, false, i);
		b.clients[i] = zz_client_create(&p, i, b.ccrypto[i], &io, on_done, &b);
	}

	t0 = wall();
	for (i = 0; i < b.n_clients; i++)
		submit(&b, i);
	while (b.completed < b.target)
	{
		if (b.head == b.tail)
		{
			zz_time		t = min_deadline(&b);

			if (t == UINT64_MAX)
				break;
			b.now = t > b.now ? t : b.now;
			for (i = 0; i < N_REPLICAS; i++)
				zz_replica_tick(b.replicas[i], b.now);
			for (i = 0; i < b.n_clients; i++)
				zz_client_tick(b.clients[i], b.now);
			continue;
		}
		{
			bench_msg	m = b.q[b.head % b.cap];

			b.head++;
			if (m.to_client)
				zz_client_receive(b.clients[m.dest], b.now, m.data, m.len);
			else
				zz_replica_receive(b.replicas[m.dest], b.now, m.data, m.len);
			free(m.data);
		}
	}
	t1 = wall();

	for (i = 0; i < N_REPLICAS; i++)
	{
		const zz_crypto_stats *s = zz_crypto_get_stats(b.rcrypto[i]);
		uint64_t	ops = s->signs + s->verifies + s->macs + s->mac_checks;

		if (ops > ops_max)
		{
			ops_max = ops;
			hashes_max = s->hashes;
		}
	}
	printf("batch=%u requests_per_s=%.0f crypto_ops_per_request=%.3f "
		   "hashes_per_request=%.2f fast_path_share=%.3f requests=%llu\n",
		   batch, b.completed / (t1 - t0), (double) ops_max / b.completed,
		   (double) hashes_max / b.completed, (double) b.fast / b.completed,
		   (unsigned long long) b.completed);
	fflush(stdout);

	while (b.head != b.tail)
		free(b.q[b.head++ % b.cap].data);
	free(b.q);
	for (i = 0; i < b.n_clients; i++)
	{
		zz_client_free(b.clients[i]);
		zz_crypto_free(b.ccrypto[i]);
	}
	free(b.clients);
	free(b.ccrypto);
	for (i = 0; i < N_REPLICAS; i++)
	{
		zz_replica_free(b.replicas[i]);
		zz_kv_free(b.kv[i]);
		zz_crypto_free(b.rcrypto[i]);
	}
	zz_keyset_free(ks);
	return b.completed >= b.target;
}

int
main(int argc, char **argv)
{
	uint64_t	requests = 0;
	char		list[128] = "1,16,64,256";
	char	   *tok,
			   *save;
	bool		ok = true;
	int			i;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc)
			requests = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc)
			snprintf(list, sizeof(list), "%s", argv[++i]);
		else
		{
			fprintf(stderr, "usage: %s [--requests N] [--batches 1,16,64,256]\n", argv[0]);
			return 2;
		}
	}
	printf("# zyzzyva core: 4 replicas (f=1) + clients, one thread, real Ed25519/HMAC, "
		   "no sockets\n");
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		uint32_t	batch = (uint32_t) strtoul(tok, NULL, 10);
		uint64_t	n = requests ? requests : (batch == 1 ? 20000 : 300000);

		if (batch == 0 || batch > ZZ_MAX_BATCH)
		{
			fprintf(stderr, "bad batch size %s\n", tok);
			return 2;
		}
		ok = run(batch, n, 42) && ok;
	}
	return ok ? 0 : 1;
}
