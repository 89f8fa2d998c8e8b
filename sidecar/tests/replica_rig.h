/*
 * replica_rig.h
 *	  The rig the replica unit tests (test_replica_*.c) share: one replica
 *	  under test, or all n of them, the cluster's keys, and a record of what
 *	  they sent (replica_rig.c).
 *
 * Each test builds one replica (id RID, a backup of view 0, whose primary
 * is replica 0) over the in-memory key-value service and feeds it
 * messages the test builds and signs itself with the cluster's keys: the
 * primary's ORDER-REQs, clients' REQUESTs and COMMITs, other replicas'
 * CHECKPOINT votes and I-HATE-THE-PRIMARYs.  What the replica sends is
 * recorded through its zz_io and decoded with the codec; the tests assert
 * on those messages, on its stats and on zz_replica_get_status.
 *
 * Many tests run all n replicas for real (rig_add_peers), with the test
 * playing the network (it delivers, reorders and loses their messages), a
 * faulty R0 and the clients.
 *
 * ZZ_TEST_TRACE=1 in the environment prints the replicas' trace lines.
 */

#ifndef ZZ_TEST_REPLICA_RIG_H
#define ZZ_TEST_REPLICA_RIG_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "kvservice.h"
#include "message.h"
#include "replica.h"
#include "replica_int.h"

#define N_CLIENTS	4
#define CP			4			/* cp_interval of every rig */
#define RID			2			/* the replica under test: a backup of view 0 */
#define CLIENT		1			/* the client most tests use */
#define MAX_REQS	4			/* requests per ORDER-REQ the tests build */

typedef struct sent_msg
{
	uint32_t	from;			/* the replica that sent it */
	bool		to_client;
	uint32_t	dest;
	uint8_t		type;
	uint8_t    *buf;
	size_t		len;
	zz_replica_mode sender_mode;	/* the sender's mode and view as it sent */
	zz_view		sender_view;
} sent_msg;

typedef struct rig rig;

/* What a replica's zz_io hooks get as ctx: the rig and who is sending. */
typedef struct node
{
	rig		   *g;
	uint32_t	id;
} node;

struct rig
{
	zz_params	p;
	uint32_t	id;
	zz_keyset  *ks;
	zz_crypto  *signer[ZZ_MAX_N];	/* the test signs as any replica with these */
	zz_crypto  *client[N_CLIENTS];
	zz_crypto  *rcrypto;		/* the replica's own context */
	zz_kvservice *kv;
	zz_replica *r;				/* the replica under test: rr[id] */
	bool		trace;

	/* Every replica the rig runs (only rr[id] unless rig_add_peers). */
	zz_replica *rr[ZZ_MAX_N];
	zz_kvservice *kvs[ZZ_MAX_N];
	zz_crypto  *rcs[ZZ_MAX_N];
	node		nodes[ZZ_MAX_N];
	zz_io		ios[ZZ_MAX_N];

	sent_msg   *sent;
	size_t		n_sent;
	size_t		cap_sent;
	size_t		pumped;			/* sent[] delivered to peers up to here */

	/* The primary's side of the history the test has ordered so far. */
	zz_seq		seq;
	zz_digest	hist;
	uint64_t	next_ts[N_CLIENTS];
	zz_time		now;

	zz_buf		buf;
	zz_buf		sigbuf;
};

/* One request of an ORDER-REQ the test builds. */
typedef struct rq
{
	uint32_t	client;
	uint64_t	ts;
	const char *op;
} rq;

/* Ways to spoil an ORDER-REQ. */
enum
{
	T_NONE = 0,
	T_FLIP_SIG = 1 << 0,		/* one byte of the primary's signature */
	T_WRONG_SIGNER = 1 << 1,	/* signed by a replica that is not the primary */
	T_BAD_HISTORY = 1 << 2,		/* h_n not H(h_{n-1} || n || d), signed anyway */
	T_BAD_BATCH_DIGEST = 1 << 3,	/* d not H(batch); h_n chained from the true d */
	T_BAD_BATCH_CHAINED = 1 << 4,	/* d not H(batch); h_n chained from that d */
	T_BAD_MAC = 1 << 5			/* a request's MAC for the replica under test */
};

/* Which replica-to-replica messages the network loses. */
typedef bool (*drop_fn) (const sent_msg *m);

/*
 * A service that holds back the batch at one sequence number, as a
 * database still applying it would: the test hands the result over with
 * zz_replica_execute_done when it chooses.
 */
typedef struct slow_service
{
	zz_service	svc;			/* what the replica calls */
	const zz_service *inner;
	zz_seq		hold_seq;
	bool		held;
	zz_exec_result res;
} slow_service;

extern zz_crypto_mode mode_real;
extern zz_crypto_mode mode_symbolic;

/* Every test runs with real (Ed25519/HMAC) and symbolic cryptography. */
#define BOTH(fn) \
	{#fn " [real]", fn, NULL, NULL, &mode_real}, \
	{#fn " [symbolic]", fn, NULL, NULL, &mode_symbolic}

void io_to_replica(void *ctx, uint32_t replica, const uint8_t *buf, size_t len);
void io_to_client(void *ctx, uint32_t client, const uint8_t *buf, size_t len);
void io_trace(void *ctx, const char *line);
void rig_start_replica(rig *g, uint32_t i);
rig *rig_new_f(zz_crypto_mode mode, uint32_t f, uint32_t id);
rig *rig_new(void **state);
void rig_free(rig *g);
zz_replica_status status(const rig *g);
const zz_replica_stats *stats(const rig *g);
uint32_t other(const rig *g, uint32_t k);
void deliver(rig *g, const zz_buf *b);
size_t count_sent(const rig *g, bool to_client, uint8_t type);
const sent_msg *last_sent(const rig *g, bool to_client, uint8_t type);
void clear_sent(rig *g);
void make_request(rig *g, const rq *q, zz_request *out, unsigned tamper);
extern uint64_t order_nd_time;
void encode_order(rig *g, zz_view v, zz_seq n, const zz_digest *prev, const rq *qs,
		uint32_t count, unsigned tamper, zz_buf *out, zz_digest *h_out);
uint64_t order_one(rig *g, uint32_t client, const char *op);
void run_batches(rig *g, uint32_t k);
void cc_fill(rig *g, zz_commit_cert *cc, zz_view v, zz_seq n, const zz_digest *h,
		const zz_digest *R, const uint32_t *who, uint32_t count);
void send_commit(rig *g, uint32_t client, uint64_t ts, const zz_commit_cert *cc);
void send_vote(rig *g, uint32_t key, uint32_t claimed, zz_seq seq, const zz_digest *h,
		const zz_digest *state, bool flip_sig);
void send_matching_vote(rig *g, uint32_t from, const zz_checkpoint *cp);
void send_i_hate(rig *g, uint32_t from, zz_view v);
bool own_checkpoint(rig *g, zz_seq seq, zz_checkpoint *out);
bool certified(rig *g, zz_seq seq);
const sent_msg *last_spec_response(rig *g, uint32_t client, zz_spec_response *m);
uint64_t cc_setup(rig *g, zz_digest *R, zz_sig *own_sig);
void cc_valid(rig *g, zz_commit_cert *cc, const zz_digest *R, const zz_sig *own_sig);
void cp_setup(rig *g, zz_checkpoint *cp);
void stable_setup(rig *g, zz_checkpoint *cp1);
void rig_add_peers(rig *g);
void deliver_to(rig *g, uint32_t i, const zz_buf *b);
void pump(rig *g, drop_fn drop);
void tick_all(rig *g, zz_time now, drop_fn drop);
zz_replica_status status_of(const rig *g, uint32_t i);
void send_i_hate_to(rig *g, uint32_t from, zz_view v, uint32_t to);
void encode_request(rig *g, const rq *q);
void cluster_to_view_1(rig *g, const rq *qs, uint32_t k, zz_digest *h);
zz_exec_status slow_execute(void *ctx, zz_seq seq, uint64_t nd_time, uint64_t nd_seed,
		const zz_op *ops, uint32_t count, bool want_digest, zz_exec_result *res);
bool slow_rollback(void *ctx, zz_seq seq);
void slow_mark_stable(void *ctx, zz_seq seq);
void assert_caught(rig *g, const char *what);
void cluster_requests(rig *g, zz_view v, uint32_t k, drop_fn drop);

#endif							/* ZZ_TEST_REPLICA_RIG_H */
