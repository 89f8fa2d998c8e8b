/*
 * kvservice.h
 *	  An in-memory, deterministic key-value service implementing zz_service.
 *
 * The simulator, the unit tests and the core benchmark replicate this
 * service.  Operations are short byte strings:
 *
 *	  PUT k v		set k to v (v is the rest of the op, may hold spaces)	-> "OK"
 *	  GET k			read k									-> "VALUE <v>" or "NONE"
 *	  ADD k delta	integer add (absent k counts as 0)		-> the new value
 *	  APPEND k s	append s to k's value					-> the new length
 *	  NOW			the primary's nondeterministic time		-> nd_time
 *	  RAND			a value derived from nd_seed and the request's index
 *	  anything else -> "ERR <reason>", deterministically
 *
 * Keys are 1..ZZ_KV_MAX_KEY bytes without spaces; values at most
 * ZZ_KV_MAX_VALUE bytes.  Numbers are signed 64-bit decimals.
 *
 * Speculation: every change is logged with the value it replaced, tagged
 * with its sequence number, so rollback(seq) undoes everything executed
 * above seq, in reverse.  mark_stable(seq) drops the undo at or below seq.
 *
 * State digest: an LtHash (1024 lanes of 16 bits, added and subtracted
 * modulo 2^16) of the multiset of (key, value) pairs; each pair expands to
 * its lane vector with SHAKE128.  The digest handed to the core is SHA-256
 * of the lane vector.  Lanes are updated incrementally: a change only marks
 * its key dirty (remembering the value the lanes still account for), and
 * the next digest request folds each dirty key in once, so a key written
 * a thousand times between checkpoints costs two expansions, not two
 * thousand.
 */
#ifndef ZZ_KVSERVICE_H
#define ZZ_KVSERVICE_H

#include "service.h"
#include "types.h"

#define ZZ_KV_MAX_KEY		255
#define ZZ_KV_MAX_VALUE		(64u << 10)
#define ZZ_KV_LANES			1024
#define ZZ_KV_DIGEST_HEX	(2 * ZZ_DIGEST_LEN + 1)

typedef struct zz_kvservice zz_kvservice;

extern zz_kvservice *zz_kv_create(void);
extern void zz_kv_free(zz_kvservice *kv);

/* The zz_service vtable over kv (valid as long as kv is). */
extern const zz_service *zz_kv_service(zz_kvservice *kv);

/* Digest of the current state (same value execute() reports). */
extern void zz_kv_digest(zz_kvservice *kv, zz_digest *out);

/* Digest recomputed from scratch, ignoring the incremental lanes (tests). */
extern void zz_kv_digest_full(const zz_kvservice *kv, zz_digest *out);

/* Lower-case hex of a digest into out (ZZ_KV_DIGEST_HEX bytes). */
extern void zz_kv_digest_hex(const zz_digest *d, char *out);

/* Highest sequence number executed (0 before any), and the stable point. */
extern zz_seq zz_kv_last_executed(const zz_kvservice *kv);
extern zz_seq zz_kv_stable(const zz_kvservice *kv);

/* Number of keys currently present. */
extern uint32_t zz_kv_count(const zz_kvservice *kv);

/*
 * Read a key without going through the replicated path (tests, traces).
 * Returns false if absent; otherwise points *val at the value, valid until
 * the next change.
 */
extern bool zz_kv_get(const zz_kvservice *kv, const char *key, size_t klen,
					  const uint8_t **val, uint32_t *vlen);

/* Undo records currently held (tests: mark_stable must release them). */
extern size_t zz_kv_undo_count(const zz_kvservice *kv);

#endif							/* ZZ_KVSERVICE_H */
