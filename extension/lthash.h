/*-------------------------------------------------------------------------
 *
 * lthash.h
 *	  LtHash: an incremental multiset hash over row encodings.
 *
 * A state is 1024 lanes of 16 bits.  An element hashes to such a state by
 * hashing then expanding: SHA-256 of its bytes is the key of AES-256 in
 * counter mode (IV zero), whose first 2048 bytes of keystream are the
 * lanes, little-endian.  The multiset's hash is the lane-wise sum modulo
 * 2^16 of its elements' hashes, so adding or removing a row costs one hash
 * and one vector addition or subtraction, whatever the size of the
 * database.  This is Bellare and Micciancio's incremental hashing as
 * parameterised by Lewi et al. ("Securing Update Propagation with
 * Homomorphic Hashing", LtHash16, which expands with BLAKE2x; AES-CTR is
 * the expansion OpenSSL does fastest here, about 7 times SHAKE256), and it
 * resists the generalised birthday attack that breaks a plain sum of
 * SHA-256 values.
 *
 * The OpenSSL handles are kept between calls: one per process, not for
 * concurrent use by several threads.
 *
 * This file knows nothing of PostgreSQL, so that it can be unit-tested and
 * shared with the sidecar if the sidecar ever needs to check a digest.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZZ_LTHASH_H
#define ZZ_LTHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZZ_LTHASH_LANES		1024
#define ZZ_LTHASH_BYTES		(ZZ_LTHASH_LANES * 2)
#define ZZ_SHA256_BYTES		32

typedef struct ZzLtHash
{
	uint16_t	lane[ZZ_LTHASH_LANES];
} ZzLtHash;

extern void zz_lthash_zero(ZzLtHash *h);
extern bool zz_lthash_of(ZzLtHash *out, const void *data, size_t len);
extern void zz_lthash_add(ZzLtHash *h, const ZzLtHash *x);
extern void zz_lthash_sub(ZzLtHash *h, const ZzLtHash *x);
extern void zz_lthash_to_bytes(const ZzLtHash *h, uint8_t out[ZZ_LTHASH_BYTES]);
extern void zz_lthash_from_bytes(ZzLtHash *h, const uint8_t in[ZZ_LTHASH_BYTES]);

#endif							/* ZZ_LTHASH_H */
