/*
 * types.h
 *	  Basic types and limits shared by every part of the Zyzzyva core.
 *
 * The core is a pure state machine: no sockets, no clock, no randomness.
 * Callers push bytes and time in; bytes come out through zz_io.  Time is
 * an opaque monotonic count of microseconds supplied by the caller.
 */
#ifndef ZZ_TYPES_H
#define ZZ_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZZ_DIGEST_LEN		32		/* SHA-256 */
#define ZZ_SIG_LEN			64		/* Ed25519 */
#define ZZ_MAC_LEN			16		/* HMAC-SHA256 truncated to 128 bits */
#define ZZ_MAX_F			5
#define ZZ_MAX_N			(3 * ZZ_MAX_F + 1)
#define ZZ_MAX_BATCH		1024	/* requests in one ORDER-REQ */
#define ZZ_MAX_MERKLE_DEPTH 11		/* ceil(log2(ZZ_MAX_BATCH)) + 1 */
#define ZZ_MAX_OP_LEN		(1u << 20)	/* one request's operation */
#define ZZ_MAX_REPLY_LEN	(1u << 20)	/* one request's reply */
#define ZZ_MAX_MSG_LEN		(64u << 20) /* any encoded message */
#define ZZ_MAX_CP_INTERVAL	4096

typedef uint64_t zz_time;		/* microseconds, caller's monotonic clock */
typedef uint64_t zz_view;
typedef uint64_t zz_seq;

typedef struct zz_digest
{
	uint8_t		b[ZZ_DIGEST_LEN];
} zz_digest;

typedef struct zz_sig
{
	uint8_t		b[ZZ_SIG_LEN];
} zz_sig;

typedef struct zz_mac
{
	uint8_t		b[ZZ_MAC_LEN];
} zz_mac;

/* Cluster parameters every replica and client must agree on. */
typedef struct zz_params
{
	uint32_t	f;				/* faults tolerated; n = 3f + 1 */
	uint32_t	n;
	uint32_t	batch_max;		/* primary closes a batch at this many requests */
	zz_time		batch_timeout;	/* ... or this long after its first request */
	uint32_t	cp_interval;	/* CHECKPOINT every cp_interval sequence numbers */
	zz_time		commit_timeout; /* client: wait this long for 3f+1 before COMMIT */
	zz_time		retransmit_timeout; /* client: first retransmission interval */
	zz_time		retransmit_max; /* client: retransmission interval cap */
	zz_time		fill_hole_timeout;	/* replica: FILL-HOLE retry interval */
	zz_time		checkpoint_resend;	/* replica: resend unstable CHECKPOINT */
	zz_time		confirm_timeout;	/* backup: CONFIRM-REQ answered within */
	zz_time		view_change_timeout;	/* first view-change timeout, doubles */
	zz_time		max_time_ahead; /* backup: refuse an ORDER-REQ whose time (nd_time,
								 * same unit) is this far past its own clock;
								 * 0: no bound */
	uint32_t	order_ahead;	/* primary: hold the open batch while this many
								 * of its ordered batches are not executed by
								 * its own service, unless the batch is full
								 * (batch_max, or one ORDER-REQ's bytes); 0:
								 * never (request.c) */
	uint32_t	exec_window;	/* replica: batches handed to an asynchronous
								 * service before the first of them is done
								 * (1: one at a time; 0 counts as 1).  Local to
								 * each replica: it changes when a batch
								 * starts, never what it gives (execute.c) */
	uint32_t	retain_batches; /* replica: ORDER-REQs kept below the stable
								 * checkpoint to answer a lagging replica's
								 * FILL-HOLE (catchup.c); 0: none, and no
								 * catch-up by replay either */
	uint64_t	retain_bytes;	/* ... and at most this many bytes of them */
} zz_params;

/*
 * A deployment's retained log (zz_params_default keeps none): a replica
 * that spent minutes installing a large checkpoint replays what the
 * others truncated meanwhile.  64 MiB bounds the memory; 65536 batches
 * are minutes of sustained load.
 */
#define ZZ_RETAIN_BATCHES_DEFAULT	65536
#define ZZ_RETAIN_BYTES_DEFAULT		((uint64_t) 64 << 20)

/* Fill defaults for f; returns false if f is out of range. */
extern bool zz_params_default(zz_params *p, uint32_t f);

static inline uint32_t
zz_quorum(const zz_params *p)
{
	return 2 * p->f + 1;
}

static inline uint32_t
zz_primary_of(const zz_params *p, zz_view v)
{
	return (uint32_t) (v % p->n);
}

#endif							/* ZZ_TYPES_H */
