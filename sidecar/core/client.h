/*
 * client.h
 *	  The Zyzzyva client as a pure state machine (docs/protocol.md section 4).
 *
 * One outstanding request at a time per client (the sidecar runs one
 * client per backend session).  A request completes when 3f+1 matching
 * SPEC-RESPONSEs arrive (fast path), or when the commit timer fires with
 * 2f+1 matching and 2f+1 LOCAL-COMMITs then answer its COMMIT (commit
 * path).  With fewer than 2f+1 it retransmits to all replicas with growing
 * intervals.  Only complete results are reported.
 */
#ifndef ZZ_CLIENT_H
#define ZZ_CLIENT_H

#include "crypto.h"
#include "io.h"
#include "types.h"

typedef struct zz_client zz_client;

typedef enum zz_completion_path
{
	ZZ_PATH_FAST = 0,			/* 3f+1 matching SPEC-RESPONSEs */
	ZZ_PATH_COMMIT = 1			/* CC + 2f+1 LOCAL-COMMITs */
} zz_completion_path;

/* What a completed request returns to its caller. */
typedef struct zz_completion
{
	uint64_t	timestamp;
	zz_view		view;
	zz_seq		seq;			/* sequence number it completed at */
	zz_digest	history;		/* h_seq */
	zz_completion_path path;
	const uint8_t *reply;		/* valid during the callback only */
	uint32_t	reply_len;
	zz_time		latency;
} zz_completion;

typedef void (*zz_client_done) (void *ctx, uint32_t client, const zz_completion *c);

typedef struct zz_client_stats
{
	uint64_t	submitted;
	uint64_t	completed_fast;
	uint64_t	completed_commit;
	uint64_t	retransmissions;
	uint64_t	commits_sent;
	uint64_t	poms_sent;
	uint64_t	rejected;		/* responses dropped: bad MAC, malformed, mismatched */
} zz_client_stats;

#ifdef ZZ_FAULT_INJECTION
/*
 * Test-only misbehaviour: planted bugs and faulty clients for the
 * simulator.  Compiled only with -DZZ_FAULT_INJECTION, never into the
 * product (make check-fault-injection checks the binaries).
 */
typedef enum zz_client_bug
{
	ZZ_CLIENT_BUG_NONE = 0,
	ZZ_CLIENT_BUG_COMPLETE_ON_2F = 1 << 0,	/* complete on 2f matching */
	ZZ_CLIENT_BUG_NEVER_COMMIT = 1 << 1,	/* faulty client: never sends COMMIT */
	ZZ_CLIENT_BUG_REUSE_TIMESTAMP = 1 << 2, /* faulty client: new op, old t */
	ZZ_CLIENT_BUG_BAD_CC = 1 << 3,	/* faulty client: corrupt certificates */
	ZZ_CLIENT_BUG_LC_ANY_VIEW = 1 << 4	/* complete on LOCAL-COMMITs of mixed views */
} zz_client_bug;
#endif							/* ZZ_FAULT_INJECTION */

extern zz_client *zz_client_create(const zz_params *params, uint32_t id,
								   zz_crypto *crypto, const zz_io *io,
								   zz_client_done done, void *done_ctx);
extern void zz_client_free(zz_client *c);

/*
 * Submit an operation; the client copies it.  Returns its timestamp, or 0
 * if a request is still outstanding or op_len is over ZZ_MAX_OP_LEN.
 */
extern uint64_t zz_client_submit(zz_client *c, zz_time now, const uint8_t *op, uint32_t op_len);

/*
 * Start this client's timestamps at ts.  A client id that outlives its
 * process (the daemon's per-slot clients) must never reuse a timestamp, or
 * replicas answer its new request with the cached reply of an old one:
 * restart from something larger than anything used before, such as the
 * wall clock in microseconds.  Ignored while a request is outstanding.
 */
extern void zz_client_set_next_timestamp(zz_client *c, uint64_t ts);

extern void zz_client_receive(zz_client *c, zz_time now, const uint8_t *buf, size_t len);
extern void zz_client_tick(zz_client *c, zz_time now);
extern zz_time zz_client_next_deadline(const zz_client *c);
extern bool zz_client_busy(const zz_client *c);
extern const zz_client_stats *zz_client_get_stats(const zz_client *c);

#ifdef ZZ_FAULT_INJECTION
/* Switch test-only misbehaviour (zz_client_bug) on or off. */
extern void zz_client_set_bugs(zz_client *c, unsigned bugs);
#endif

#endif							/* ZZ_CLIENT_H */
