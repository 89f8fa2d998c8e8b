/*
 * crypto.h
 *	  Hashing, signatures and MACs for the core, over OpenSSL 3's EVP API.
 *
 * Every node (replica or client) owns one zz_crypto.  It holds the node's
 * Ed25519 private key (replicas only), every replica's public key, and the
 * pairwise MAC keys between clients and replicas.  It counts the
 * cryptographic operations it performs, so benchmarks can report them.
 *
 * Signatures (Ed25519) authenticate everything a third party must be able to
 * check: ORDER-REQ headers, SPEC-RESPONSE cores (commit certificates),
 * CHECKPOINT, VIEW-CHANGE and friends.  MACs (HMAC-SHA256, truncated to 128
 * bits) authenticate the per-request traffic between clients and replicas:
 * the REQUEST's authenticator (one MAC per replica) and each reply.
 *
 * The simulator may run in ZZ_CRYPTO_SYMBOLIC mode: a "signature" is then
 * SHA-256(signer secret || message) and a MAC is SHA-256(pair secret ||
 * message), both truncated.  Faulty code in the simulator never sees other
 * nodes' secrets, so symbolic signatures are unforgeable there, and sweeps
 * run much faster.  ZZ_CRYPTO_REAL uses Ed25519 and HMAC.
 */
#ifndef ZZ_CRYPTO_H
#define ZZ_CRYPTO_H

#include "types.h"

typedef enum zz_crypto_mode
{
	ZZ_CRYPTO_REAL = 0,
	ZZ_CRYPTO_SYMBOLIC = 1
} zz_crypto_mode;

/* Counters of cryptographic operations performed by one node. */
typedef struct zz_crypto_stats
{
	uint64_t	signs;
	uint64_t	verifies;
	uint64_t	macs;			/* MACs computed (outgoing) */
	uint64_t	mac_checks;		/* MACs verified (incoming) */
	uint64_t	hashes;			/* SHA-256 computations */
} zz_crypto_stats;

/* Opaque key material for a whole cluster, used to build each node's view. */
typedef struct zz_keyset zz_keyset;

typedef struct zz_crypto zz_crypto;

/*
 * Build a deterministic key set for n replicas and max_clients clients from
 * a seed (simulator, tests, benchmarks).  Real-mode keys are Ed25519 keys
 * derived from the seed, so runs are reproducible.
 */
extern zz_keyset *zz_keyset_from_seed(zz_crypto_mode mode, uint32_t n,
									  uint32_t max_clients, uint64_t seed);
extern void zz_keyset_free(zz_keyset *ks);

/*
 * Load one replica's keys from files (zyzzyvad): its private keys and the n
 * replicas' public keys, PEM files each holding an Ed25519 key (signatures)
 * then an X25519 key (pairwise MAC keys).  Client c is hosted by replica
 * c / clients_per_replica; the keyset makes contexts only for this replica
 * and the clients it hosts, and the MAC key of (replica i, client c) is
 * derived from X25519 between i and c's host, so no other replica knows it.
 */
extern zz_keyset *zz_keyset_load(uint32_t n, const char *const *pub_pem_paths,
								 const char *priv_pem_path, uint32_t self_replica,
								 uint32_t clients_per_replica,
								 char *err, size_t errlen);

/*
 * A node's crypto context.  is_replica selects the id space of self.  With
 * loaded keys, NULL unless self is the loading replica or a client it hosts.
 */
extern zz_crypto *zz_crypto_create(const zz_keyset *ks, bool is_replica, uint32_t self);
extern void zz_crypto_free(zz_crypto *c);
extern const zz_crypto_stats *zz_crypto_get_stats(const zz_crypto *c);
extern void zz_crypto_reset_stats(zz_crypto *c);

/* SHA-256 over one buffer, or over several pieces concatenated. */
extern void zz_hash(zz_crypto *c, const void *data, size_t len, zz_digest *out);
typedef struct zz_iov
{
	const void *base;
	size_t		len;
} zz_iov;
extern void zz_hashv(zz_crypto *c, const zz_iov *iov, int iovcnt, zz_digest *out);

/* Sign with this node's replica key.  False if it has none. */
extern bool zz_sign(zz_crypto *c, const uint8_t *msg, size_t len, zz_sig *out);

/* Verify a signature by replica `signer` (false if signer is out of range). */
extern bool zz_verify(zz_crypto *c, uint32_t signer, const uint8_t *msg,
					  size_t len, const zz_sig *sig);

/*
 * MAC between this node and a peer of the other kind: a replica MACs toward
 * client `peer`, a client toward replica `peer`.  The input is a digest.
 */
extern void zz_mac_compute(zz_crypto *c, uint32_t peer, const zz_digest *d,
						   zz_mac *out);
extern bool zz_mac_check(zz_crypto *c, uint32_t peer, const zz_digest *d,
						 const zz_mac *mac);

/* Comparison of two digests (public values: not constant-time). */
extern bool zz_digest_eq(const zz_digest *a, const zz_digest *b);

#endif							/* ZZ_CRYPTO_H */
