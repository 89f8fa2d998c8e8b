/*
 * keys.h
 *	  A replica's key material as the daemon uses it: its own Ed25519 and
 *	  X25519 private keys, every replica's public keys, and a cluster id
 *	  that every member computes the same way.  (MAC keys are pairwise,
 *	  derived in the core from X25519: see crypto.c.)
 *
 * The core loads its own copy through zz_keyset_load; the transport needs
 * the OpenSSL keys themselves (TLS certificates and pinning), so they are
 * loaded here too, and checked: the private key file must not be readable
 * or writable by group or others, and must match the public key that the
 * configuration lists for this replica.
 */
#ifndef ZZD_KEYS_H
#define ZZD_KEYS_H

#include <openssl/evp.h>

#include "config.h"

#define KEYS_SECRET_MIN		32
#define KEYS_SECRET_MAX		1024

typedef struct daemon_keys
{
	EVP_PKEY   *priv;			/* Ed25519: signatures, TLS */
	EVP_PKEY   *xpriv;			/* X25519: pairwise MAC keys */
	EVP_PKEY   *pub[ZZ_MAX_N];
	EVP_PKEY   *xpub[ZZ_MAX_N];
	uint32_t	n;
	zz_digest	cluster_id;		/* SHA-256 over f and every public key */
} daemon_keys;

/* Load and check every key file named by cfg; errors point at its lines. */
extern bool keys_load(const daemon_config *cfg, daemon_keys *k, cfg_err_fn err, void *arg);
extern void keys_free(daemon_keys *k);

/* Which replica owns this public key; -1 if none does. */
extern int	keys_find_replica(const daemon_keys *k, const EVP_PKEY *pk);

/*
 * Key generation (zyzzyva-keygen): DIR/replica-ID.key (0600) and
 * DIR/replica-ID.pub (0644), each an Ed25519 then an X25519 key in PEM; a
 * secret of 32 random bytes (0600; no longer used by the daemon).
 * Existing files are kept unless force.
 */
extern bool keys_generate(const char *dir, uint32_t id, bool force, char *err, size_t errlen);
extern bool keys_generate_secret(const char *path, bool force, char *err, size_t errlen);

#endif							/* ZZD_KEYS_H */
