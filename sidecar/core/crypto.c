/*
 * crypto.c
 *	  SHA-256, Ed25519 and HMAC-SHA256 for the core, over OpenSSL 3's EVP API.
 *
 * Costs (one core of the development machine, x86-64 with SHA-NI, OpenSSL
 * 3.0, -O2, best of four runs of a scratch loop):
 *
 *	zz_hash of 64 bytes			~105 ns	 reusable EVP_MD_CTX, pre-fetched EVP_MD
 *	  (EVP_Digest one-shot with its implicit fetch: ~275 ns; the low-level
 *	  SHA256_* calls used now cost less again, see below)
 *	zz_mac_compute/check		~135 ns	 HMAC from precomputed inner/outer states
 *	  (EVP_MAC_init re-init: ~155 ns; EVP_MAC_CTX_dup per op: ~360 ns;
 *	  with SHA256_CTX states copied by assignment, less again)
 *	zz_sign (Ed25519)			~25 us
 *	zz_verify (Ed25519)			~65 us
 *	symbolic sign / verify		~190 / ~220 ns	one SHA-256 each
 *	symbolic MAC				~120 ns
 *
 * So the protocol's cost is its signatures: sign once per batch, never per
 * request (docs/protocol.md section 3), and keep per-request authentication to
 * MACs.
 *
 * HMAC: for each peer we absorb key ^ ipad and key ^ opad into two SHA-256
 * contexts once.  A MAC is then copy(inner) + update(digest) + final, and
 * copy(outer) + update(inner hash) + final: two compression-function calls
 * and two small allocations inside EVP_MD_CTX_copy_ex, instead of the four
 * compressions and the provider round trips of a fresh HMAC.
 *
 * Key derivation (all integers little-endian, fixed width: seed u64,
 * replica and client ids u32; the tags are the ASCII bytes, no NUL):
 *	seeded Ed25519 private key of replica i = SHA-256("zz-ed25519" || seed || i)
 *	seeded pair key (replica i, client c)	= SHA-256("zz-mac" || seed || i || c)
 *	loaded pair key (replica i, client c), c hosted by replica h = c / clients_per_replica:
 *		HKDF-SHA256(ikm = X25519(x_i, X_h) = X25519(x_h, X_i),
 *					salt = "zyzzyva pair MAC v1", info = "zz-mac" || i || c)
 *	symbolic signer secret of replica i		= SHA-256("zz-sym" || seed || i)
 *	symbolic signature	= SHA-256(secret || msg), then 32 zero bytes
 *	symbolic MAC		= first 16 bytes of SHA-256(pair key || digest)
 *
 * Loaded keys are pairwise: each replica has a static X25519 key beside its
 * Ed25519 key, and the MAC key of (replica i, client c) comes from the
 * Diffie-Hellman secret of i and the replica h that hosts c (the daemon
 * whose local programs c serves, and which holds c's keys).  Only i and h
 * can compute it, so no third replica can forge c's authenticator entry for
 * i, nor i's replies to c.  (A single cluster-wide secret, as before, let
 * any replica compute every pair's key.)  i == h is the pair of a replica
 * and its own clients: X25519(x_h, X_h), which only h knows.
 *
 * A zz_crypto belongs to one node and is not thread-safe: it reuses digest
 * contexts between calls.  It takes its own references to everything it
 * needs, so the keyset may be freed once the nodes are created.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * SHA-256's low-level interface (deprecated in OpenSSL 3, still shipped and
 * still the same SHA-NI code) for the per-request hashes and MACs: a
 * SHA256_CTX is a plain struct, so precomputed HMAC states are copied by
 * assignment, where EVP_MD_CTX_copy_ex allocates and goes through the
 * provider each time.  Signatures stay on EVP.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "crypto.h"

/* Client ids a replica accepts when the keyset does not bound them. */
#define ZZ_CRYPTO_MAX_CLIENTS	(1u << 20)

#define ZZ_KEY_LEN			32	/* Ed25519 private key, pair keys, secrets */
#define SHA256_BLOCK		64

struct zz_keyset
{
	zz_crypto_mode mode;
	uint32_t	n;
	uint32_t	max_clients;	/* client ids are 0 .. max_clients - 1 */
	EVP_PKEY   *priv[ZZ_MAX_N];	/* REAL: private keys known (NULL if not) */
	EVP_PKEY   *pub[ZZ_MAX_N];	/* REAL: every replica's public key */
	uint8_t		sym_secret[ZZ_MAX_N][ZZ_KEY_LEN];	/* SYMBOLIC signers */
	uint64_t	seed;			/* pair keys from the seed ... */
	bool		pairwise;		/* ... or, if set, from X25519 (loaded keys) */
	EVP_PKEY   *xpub[ZZ_MAX_N];	/* every replica's X25519 public key */
	EVP_PKEY   *xpriv;			/* the loading replica's X25519 private key */
	uint32_t	self_replica;	/* ... which replica that is */
	uint32_t	clients_per_replica;	/* client c is hosted by c / this */
};

/*
 * Signatures this node made recently, by digest of what it signed (REAL
 * mode).  Ed25519 signing is deterministic and only we hold our key, so a
 * signature in our name over a message we signed is valid exactly when it
 * equals the one we made: checking our own signature (our entry in a
 * commit certificate, which a replica checks once per batch on the commit
 * path) becomes a hash and a comparison instead of a 65 us verification.
 */
#define ZZ_OWN_SIGS			64

typedef struct zz_own_sig
{
	bool		used;
	uint8_t		msg_digest[ZZ_DIGEST_LEN];
	zz_sig		sig;
} zz_own_sig;

/* What a node keeps per peer for MACs; allocated on first use. */
typedef struct zz_peer
{
	SHA256_CTX	inner;			/* REAL: SHA-256 after key ^ ipad */
	SHA256_CTX	outer;			/* REAL: SHA-256 after key ^ opad */
	uint8_t		key[ZZ_KEY_LEN];	/* SYMBOLIC: the pair key */
} zz_peer;

struct zz_crypto
{
	zz_crypto_mode mode;
	bool		is_replica;
	uint32_t	self;
	uint32_t	n;
	uint32_t	max_peers;		/* peer ids must be below this */
	EVP_MD	   *sha256;			/* fetched once: implicit fetches are slow */
	EVP_MD_CTX *hash_ctx;		/* zz_hash, symbolic operations */
	EVP_MD_CTX *mac_ctx;		/* HMAC scratch */
	EVP_MD_CTX *sig_ctx;		/* Ed25519 sign and verify */
	EVP_PKEY   *priv;			/* REAL replica: own key */
	EVP_PKEY   *pub[ZZ_MAX_N];
	bool		has_sym_secret; /* SYMBOLIC replica: may sign */
	uint8_t		sym_secret[ZZ_MAX_N][ZZ_KEY_LEN];
	uint64_t	seed;
	bool		pairwise;		/* loaded keys: pair keys from dh[] */
	uint32_t	clients_per_replica;
	uint8_t		dh[ZZ_MAX_N][ZZ_KEY_LEN];	/* X25519 with each replica */
	zz_own_sig	own[ZZ_OWN_SIGS];	/* REAL replica: recent signatures */
	uint32_t	own_next;
	zz_peer   **peers;			/* indexed by peer id, grown on demand */
	uint32_t	peers_cap;
	zz_crypto_stats stats;
};

/* Little-endian fixed-width integers, as in the message encoding. */
static void
put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static void
put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

/*
 * sha256_pieces
 *		SHA-256 over concatenated pieces with a throwaway context.
 *
 * Only for key setup, which happens once per key; hot paths use a node's
 * reusable context instead.
 */
static bool
sha256_pieces(const zz_iov *iov, int iovcnt, uint8_t out[ZZ_DIGEST_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool		ok = ctx != NULL &&
		EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL) == 1;

	for (int i = 0; ok && i < iovcnt; i++)
		ok = EVP_DigestUpdate(ctx, iov[i].base, iov[i].len) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/*
 * derive_seeded
 *		SHA-256(tag || seed || id1 [|| id2]), the seeded key derivation.
 */
static bool
derive_seeded(const char *tag, uint64_t seed, uint32_t id1, const uint32_t *id2,
			  uint8_t out[ZZ_KEY_LEN])
{
	uint8_t		fields[16];
	size_t		flen = 12;
	zz_iov		iov[2];

	put_le64(fields, seed);
	put_le32(fields + 8, id1);
	if (id2 != NULL)
	{
		put_le32(fields + 12, *id2);
		flen = 16;
	}
	iov[0].base = tag;
	iov[0].len = strlen(tag);
	iov[1].base = fields;
	iov[1].len = flen;
	return sha256_pieces(iov, 2, out);
}

/*
 * keyset_alloc
 *		An empty keyset for n replicas, or NULL if n is out of range.
 */
static zz_keyset *
keyset_alloc(zz_crypto_mode mode, uint32_t n, uint32_t max_clients)
{
	zz_keyset  *ks;

	if (n == 0 || n > ZZ_MAX_N || max_clients > ZZ_CRYPTO_MAX_CLIENTS)
		return NULL;
	ks = calloc(1, sizeof(*ks));
	if (ks == NULL)
		return NULL;
	ks->mode = mode;
	ks->n = n;
	ks->max_clients = max_clients;
	return ks;
}

/*
 * public_of
 *		A public-only EVP_PKEY for an Ed25519 private key.
 *
 * Nodes verify with public-only keys so that no context used for
 * verification carries another replica's private key.
 */
static EVP_PKEY *
public_of(EVP_PKEY *priv)
{
	uint8_t		raw[ZZ_KEY_LEN];
	size_t		len = sizeof(raw);

	if (EVP_PKEY_get_raw_public_key(priv, raw, &len) != 1 || len != sizeof(raw))
		return NULL;
	return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
}

/*
 * zz_keyset_from_seed
 *		Deterministic keys for a whole cluster (simulator, tests, benchmarks).
 *
 * REAL mode derives an Ed25519 key per replica; SYMBOLIC mode only a secret
 * per replica.  Pair keys are derived on demand from the seed, so the
 * keyset stays small however many clients there are.
 */
zz_keyset *
zz_keyset_from_seed(zz_crypto_mode mode, uint32_t n, uint32_t max_clients,
					uint64_t seed)
{
	zz_keyset  *ks = keyset_alloc(mode, n, max_clients);

	if (ks == NULL)
		return NULL;
	ks->seed = seed;
	for (uint32_t i = 0; i < n; i++)
	{
		uint8_t		sk[ZZ_KEY_LEN];

		if (mode == ZZ_CRYPTO_SYMBOLIC)
		{
			if (!derive_seeded("zz-sym", seed, i, NULL, ks->sym_secret[i]))
				goto fail;
			continue;
		}
		if (!derive_seeded("zz-ed25519", seed, i, NULL, sk))
			goto fail;
		ks->priv[i] = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
												   sk, sizeof(sk));
		OPENSSL_cleanse(sk, sizeof(sk));
		if (ks->priv[i] == NULL)
			goto fail;
		ks->pub[i] = public_of(ks->priv[i]);
		if (ks->pub[i] == NULL)
			goto fail;
	}
	return ks;

fail:
	zz_keyset_free(ks);
	return NULL;
}

/*
 * zz_keyset_free
 *		Release a keyset and wipe its secrets.
 */
void
zz_keyset_free(zz_keyset *ks)
{
	if (ks == NULL)
		return;
	for (uint32_t i = 0; i < ZZ_MAX_N; i++)
	{
		EVP_PKEY_free(ks->priv[i]);
		EVP_PKEY_free(ks->pub[i]);
		EVP_PKEY_free(ks->xpub[i]);
	}
	EVP_PKEY_free(ks->xpriv);
	OPENSSL_cleanse(ks, sizeof(*ks));
	free(ks);
}

/*
 * set_err
 *		Format an error for zz_keyset_load, with OpenSSL's reason if any.
 *
 * Drains OpenSSL's error queue so that a later, unrelated failure does not
 * report this one.
 */
static void
set_err(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char		reason[256] = "";

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	if (err == NULL || errlen == 0)
		return;
	snprintf(err, errlen, "%s \"%s\"%s%s", what, path,
			 e != 0 ? ": " : "", reason);
}

/* PEM password callback: keys must not be encrypted, and we never prompt. */
static int
no_password(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/*
 * read_pem_keys
 *		Read a replica's two keys, public or private, from one PEM file: its
 *		Ed25519 key, then its X25519 key.  Both are required.
 */
static bool
read_pem_keys(const char *path, bool private_key, EVP_PKEY **ed, EVP_PKEY **x,
			  char *err, size_t errlen)
{
	FILE	   *fp = fopen(path, "r");
	EVP_PKEY   *k[2] = {NULL, NULL};
	static const int types[2] = {EVP_PKEY_ED25519, EVP_PKEY_X25519};
	static const char *const names[2] = {"Ed25519", "X25519"};
	const char *kind = private_key ? "private" : "public";

	if (fp == NULL)
	{
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "could not open key file \"%s\": %s",
					 path, strerror(errno));
		return false;
	}
	for (int i = 0; i < 2; i++)
	{
		char		what[128];

		if (private_key)
			k[i] = PEM_read_PrivateKey(fp, NULL, no_password, NULL);
		else
			k[i] = PEM_read_PUBKEY(fp, NULL, no_password, NULL);
		if (k[i] == NULL)
			snprintf(what, sizeof(what), "could not read an %s PEM %s key%s from",
					 names[i], kind,
					 i == 1 ? " (the second key; regenerate with zyzzyva-keygen)" : "");
		else if (EVP_PKEY_get_id(k[i]) != types[i])
			snprintf(what, sizeof(what), "%s %s key is not %s in",
					 i == 0 ? "first" : "second", kind, names[i]);
		else
			continue;
		set_err(err, errlen, what, path);
		break;
	}
	fclose(fp);
	if (k[0] == NULL || k[1] == NULL ||
		EVP_PKEY_get_id(k[0]) != types[0] || EVP_PKEY_get_id(k[1]) != types[1])
	{
		EVP_PKEY_free(k[0]);
		EVP_PKEY_free(k[1]);
		return false;
	}
	*ed = k[0];
	*x = k[1];
	return true;
}

/*
 * zz_keyset_load
 *		Keys of one replica of a real cluster, from files (zyzzyvad).
 *
 * pub_pem_paths[0..n) are the replicas' public keys, each file an Ed25519
 * then an X25519 public key.  priv_pem_path is replica self_replica's
 * private keys, the same two in the same order, and must match its public
 * keys.  Client ids are 0 .. n * clients_per_replica - 1, client c hosted by
 * replica c / clients_per_replica; pair keys are pairwise (see the top of
 * the file).  On failure returns NULL with a message in err.
 */
zz_keyset *
zz_keyset_load(uint32_t n, const char *const *pub_pem_paths,
			   const char *priv_pem_path, uint32_t self_replica,
			   uint32_t clients_per_replica, char *err, size_t errlen)
{
	zz_keyset  *ks = NULL;
	EVP_PKEY   *priv = NULL;
	EVP_PKEY   *xpriv = NULL;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (n == 0 || n > ZZ_MAX_N || pub_pem_paths == NULL)
	{
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "number of replicas %u is not between 1 and %d",
					 n, ZZ_MAX_N);
		return NULL;
	}
	if (clients_per_replica == 0 ||
		(uint64_t) n * clients_per_replica > ZZ_CRYPTO_MAX_CLIENTS)
	{
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%u clients per replica is out of range", clients_per_replica);
		return NULL;
	}
	if (priv_pem_path == NULL || self_replica >= n)
	{
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "replica id %u is not below n = %u, or no private key",
					 self_replica, n);
		return NULL;
	}

	ks = keyset_alloc(ZZ_CRYPTO_REAL, n, n * clients_per_replica);
	if (ks == NULL)
	{
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ks->pairwise = true;
	ks->self_replica = self_replica;
	ks->clients_per_replica = clients_per_replica;

	for (uint32_t i = 0; i < n; i++)
	{
		if (!read_pem_keys(pub_pem_paths[i], false, &ks->pub[i], &ks->xpub[i], err, errlen))
			goto fail;
	}
	if (!read_pem_keys(priv_pem_path, true, &priv, &xpriv, err, errlen))
		goto fail;
	ks->priv[self_replica] = priv;
	ks->xpriv = xpriv;
	if (EVP_PKEY_eq(priv, ks->pub[self_replica]) != 1 ||
		EVP_PKEY_eq(xpriv, ks->xpub[self_replica]) != 1)
	{
		ERR_clear_error();
		if (err != NULL && errlen > 0)
			snprintf(err, errlen,
					 "private keys \"%s\" do not match the public keys \"%s\" of replica %u",
					 priv_pem_path, pub_pem_paths[self_replica], self_replica);
		goto fail;
	}
	return ks;

fail:
	zz_keyset_free(ks);
	return NULL;
}

/*
 * x25519
 *		The Diffie-Hellman secret of our X25519 key and a peer's public one.
 */
static bool
x25519(EVP_PKEY *priv, EVP_PKEY *pub, uint8_t out[ZZ_KEY_LEN])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, NULL);
	size_t		len = ZZ_KEY_LEN;
	bool		ok;

	ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 &&
		EVP_PKEY_derive_set_peer(ctx, pub) == 1 &&
		EVP_PKEY_derive(ctx, out, &len) == 1 && len == ZZ_KEY_LEN;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		ERR_clear_error();
	return ok;
}

/*
 * zz_crypto_create
 *		A node's crypto context: replica `self`, or client `self`.
 *
 * Returns NULL if self is outside its id space (replicas: below n; clients:
 * below the keyset's max_clients) or on allocation failure.
 */
zz_crypto *
zz_crypto_create(const zz_keyset *ks, bool is_replica, uint32_t self)
{
	zz_crypto  *c;

	if (ks == NULL || (is_replica && self >= ks->n) ||
		(!is_replica && self >= ks->max_clients))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->mode = ks->mode;
	c->is_replica = is_replica;
	c->self = self;
	c->n = ks->n;
	c->max_peers = is_replica ? ks->max_clients : ks->n;
	c->seed = ks->seed;

	c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	c->hash_ctx = EVP_MD_CTX_new();
	c->mac_ctx = EVP_MD_CTX_new();
	c->sig_ctx = EVP_MD_CTX_new();
	if (c->sha256 == NULL || c->hash_ctx == NULL || c->mac_ctx == NULL ||
		c->sig_ctx == NULL)
		goto fail;

	if (ks->pairwise)
	{
		/*
		 * Loaded keys belong to one replica: it may be that replica, or one
		 * of the clients it hosts; nothing else.
		 */
		uint32_t	host = is_replica ? self : self / ks->clients_per_replica;

		if (host != ks->self_replica || ks->xpriv == NULL)
			goto fail;
		c->pairwise = true;
		c->clients_per_replica = ks->clients_per_replica;
		for (uint32_t i = 0; i < ks->n; i++)
			if (!x25519(ks->xpriv, ks->xpub[i], c->dh[i]))
				goto fail;
	}

	if (c->mode == ZZ_CRYPTO_SYMBOLIC)
	{
		memcpy(c->sym_secret, ks->sym_secret, sizeof(c->sym_secret));
		c->has_sym_secret = is_replica;
	}
	else
	{
		for (uint32_t i = 0; i < ks->n; i++)
		{
			if (ks->pub[i] == NULL || EVP_PKEY_up_ref(ks->pub[i]) != 1)
				goto fail;
			c->pub[i] = ks->pub[i];
		}
		if (is_replica && ks->priv[self] != NULL)
		{
			if (EVP_PKEY_up_ref(ks->priv[self]) != 1)
				goto fail;
			c->priv = ks->priv[self];
		}
	}
	return c;

fail:
	zz_crypto_free(c);
	return NULL;
}

/*
 * zz_crypto_free
 *		Release a node's context, its peers' MAC states and its secrets.
 */
void
zz_crypto_free(zz_crypto *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; i < c->peers_cap; i++)
	{
		zz_peer    *p = c->peers[i];

		if (p == NULL)
			continue;
		OPENSSL_cleanse(p, sizeof(*p));
		free(p);
	}
	free(c->peers);
	for (uint32_t i = 0; i < ZZ_MAX_N; i++)
		EVP_PKEY_free(c->pub[i]);
	EVP_PKEY_free(c->priv);
	EVP_MD_CTX_free(c->hash_ctx);
	EVP_MD_CTX_free(c->mac_ctx);
	EVP_MD_CTX_free(c->sig_ctx);
	EVP_MD_free(c->sha256);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

/* The node's operation counters (see zz_crypto_stats). */
const zz_crypto_stats *
zz_crypto_get_stats(const zz_crypto *c)
{
	return &c->stats;
}

/* Zero the counters, e.g. between benchmark phases. */
void
zz_crypto_reset_stats(zz_crypto *c)
{
	memset(&c->stats, 0, sizeof(c->stats));
}

/*
 * hash_into
 *		SHA-256 of the pieces with the node's reusable context.
 *
 * A digest failure can only be an allocation failure inside OpenSSL; a
 * wrong digest could make different batches look equal, so we stop.
 */
static void
hash_into(zz_crypto *c, const zz_iov *iov, int iovcnt, uint8_t out[ZZ_DIGEST_LEN])
{
	SHA256_CTX	ctx;
	bool		ok = SHA256_Init(&ctx) == 1;

	for (int i = 0; ok && i < iovcnt; i++)
		ok = SHA256_Update(&ctx, iov[i].base, iov[i].len) == 1;
	ok = ok && SHA256_Final(out, &ctx) == 1;
	if (!ok)
	{
		fprintf(stderr, "zyzzyva: SHA-256 failed\n");
		abort();
	}
}

/*
 * zz_hashv
 *		SHA-256 over several pieces, as if concatenated.
 *
 * c may be NULL for callers without a node context (tools): that path uses
 * a throwaway context, is slower and is not counted.
 */
void
zz_hashv(zz_crypto *c, const zz_iov *iov, int iovcnt, zz_digest *out)
{
	if (c == NULL)
	{
		if (!sha256_pieces(iov, iovcnt, out->b))
		{
			fprintf(stderr, "zyzzyva: SHA-256 failed\n");
			abort();
		}
		return;
	}
	c->stats.hashes++;
	hash_into(c, iov, iovcnt, out->b);
}

/*
 * zz_hash
 *		SHA-256 over one buffer.
 */
void
zz_hash(zz_crypto *c, const void *data, size_t len, zz_digest *out)
{
	zz_iov		iov;

	iov.base = data;
	iov.len = len;
	zz_hashv(c, &iov, 1, out);
}

/*
 * symbolic_sig
 *		The symbolic "signature" of replica signer over msg.
 */
static void
symbolic_sig(zz_crypto *c, uint32_t signer, const uint8_t *msg, size_t len,
			 zz_sig *out)
{
	zz_iov		iov[2];

	iov[0].base = c->sym_secret[signer];
	iov[0].len = ZZ_KEY_LEN;
	iov[1].base = msg;
	iov[1].len = len;
	memset(out, 0, sizeof(*out));
	hash_into(c, iov, 2, out->b);
}

/*
 * zz_sign
 *		Sign msg with this replica's key (Ed25519, or symbolic).
 *
 * Returns false for a client, for a replica whose private key was not
 * loaded, and if OpenSSL fails.
 */
bool
zz_sign(zz_crypto *c, const uint8_t *msg, size_t len, zz_sig *out)
{
	size_t		siglen = ZZ_SIG_LEN;

	if (c->mode == ZZ_CRYPTO_SYMBOLIC)
	{
		if (!c->has_sym_secret)
			return false;
		c->stats.signs++;
		symbolic_sig(c, c->self, msg, len, out);
		return true;
	}
	if (c->priv == NULL)
		return false;
	c->stats.signs++;
	EVP_MD_CTX_reset(c->sig_ctx);
	if (EVP_DigestSignInit_ex(c->sig_ctx, NULL, NULL, NULL, NULL, c->priv, NULL) != 1 ||
		EVP_DigestSign(c->sig_ctx, out->b, &siglen, msg, len) != 1 ||
		siglen != ZZ_SIG_LEN)
	{
		ERR_clear_error();
		memset(out, 0, sizeof(*out));
		return false;
	}
	{
		zz_own_sig *o = &c->own[c->own_next++ % ZZ_OWN_SIGS];
		zz_iov		iov = {msg, len};

		hash_into(c, &iov, 1, o->msg_digest);
		o->sig = *out;
		o->used = true;
	}
	return true;
}

/*
 * zz_verify
 *		Check replica signer's signature over msg.
 */
bool
zz_verify(zz_crypto *c, uint32_t signer, const uint8_t *msg, size_t len,
		  const zz_sig *sig)
{
	if (signer >= c->n)
		return false;
	c->stats.verifies++;
	if (c->mode == ZZ_CRYPTO_SYMBOLIC)
	{
		zz_sig		expect;

		symbolic_sig(c, signer, msg, len, &expect);
		return CRYPTO_memcmp(expect.b, sig->b, ZZ_SIG_LEN) == 0;
	}
	if (c->is_replica && signer == c->self && c->priv != NULL)
	{
		uint8_t		md[ZZ_DIGEST_LEN];
		zz_iov		iov = {msg, len};

		hash_into(c, &iov, 1, md);
		for (int i = 0; i < ZZ_OWN_SIGS; i++)
			if (c->own[i].used && memcmp(c->own[i].msg_digest, md, ZZ_DIGEST_LEN) == 0)
				return memcmp(c->own[i].sig.b, sig->b, ZZ_SIG_LEN) == 0;
		/* not among our recent signatures: check it the long way */
	}
	EVP_MD_CTX_reset(c->sig_ctx);
	if (EVP_DigestVerifyInit_ex(c->sig_ctx, NULL, NULL, NULL, NULL,
								c->pub[signer], NULL) != 1 ||
		EVP_DigestVerify(c->sig_ctx, sig->b, ZZ_SIG_LEN, msg, len) != 1)
	{
		ERR_clear_error();
		return false;
	}
	return true;
}

/*
 * pair_key
 *		The MAC key shared by replica r and client cl.
 */
static bool
pair_key(const zz_crypto *c, uint32_t r, uint32_t cl, uint8_t out[ZZ_KEY_LEN])
{
	static const char salt[] = "zyzzyva pair MAC v1";
	uint8_t		info[6 + 8];
	uint32_t	other;
	EVP_KDF    *kdf;
	EVP_KDF_CTX *kctx;
	OSSL_PARAM	params[5];
	bool		ok;

	if (!c->pairwise)
		return derive_seeded("zz-mac", c->seed, r, &cl, out);

	/* The other end of the Diffie-Hellman: cl's host, or replica r. */
	other = c->is_replica ? cl / c->clients_per_replica : r;
	if (other >= c->n)
		return false;
	memcpy(info, "zz-mac", 6);
	put_le32(info + 6, r);
	put_le32(info + 10, cl);
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
												  (void *) c->dh[other], ZZ_KEY_LEN);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
												  (void *) salt, sizeof(salt) - 1);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info));
	params[4] = OSSL_PARAM_construct_end();
	ok = kctx != NULL && EVP_KDF_derive(kctx, out, ZZ_KEY_LEN, params) == 1;
	EVP_KDF_CTX_free(kctx);
	if (!ok)
		ERR_clear_error();
	return ok;
}

/*
 * hmac_pad_state
 *		A SHA-256 context that has absorbed one block of key ^ pad.
 */
static bool
hmac_pad_state(SHA256_CTX *ctx, const uint8_t key[ZZ_KEY_LEN], uint8_t pad)
{
	uint8_t		block[SHA256_BLOCK];
	bool		ok;

	for (int i = 0; i < SHA256_BLOCK; i++)
		block[i] = (uint8_t) ((i < ZZ_KEY_LEN ? key[i] : 0) ^ pad);
	ok = SHA256_Init(ctx) == 1 && SHA256_Update(ctx, block, sizeof(block)) == 1;
	OPENSSL_cleanse(block, sizeof(block));
	return ok;
}

/*
 * get_peer
 *		The MAC state for a peer, set up on first use.
 *
 * Returns NULL if the peer id is out of range or on allocation failure.
 * The peer table is a dense array indexed by id, grown by doubling; ids
 * are bounded (ZZ_CRYPTO_MAX_CLIENTS at most), so it stays small.
 */
static zz_peer *
get_peer(zz_crypto *c, uint32_t peer)
{
	zz_peer    *p;
	uint8_t		key[ZZ_KEY_LEN];
	bool		ok;

	if (peer >= c->max_peers)
		return NULL;
	if (peer < c->peers_cap && c->peers[peer] != NULL)
		return c->peers[peer];

	if (peer >= c->peers_cap)
	{
		uint32_t	cap = c->peers_cap ? c->peers_cap : 16;
		zz_peer   **grown;

		while (cap <= peer)
			cap *= 2;
		grown = realloc(c->peers, cap * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		memset(grown + c->peers_cap, 0, (cap - c->peers_cap) * sizeof(*grown));
		c->peers = grown;
		c->peers_cap = cap;
	}

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	if (c->is_replica)
		ok = pair_key(c, c->self, peer, key);
	else
		ok = pair_key(c, peer, c->self, key);
	if (ok && c->mode == ZZ_CRYPTO_SYMBOLIC)
		memcpy(p->key, key, sizeof(key));
	else if (ok)
	{
		ok = hmac_pad_state(&p->inner, key, 0x36) &&
			hmac_pad_state(&p->outer, key, 0x5c);
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (!ok)
	{
		OPENSSL_cleanse(p, sizeof(*p));
		free(p);
		return NULL;
	}
	c->peers[peer] = p;
	return p;
}

/*
 * mac_of
 *		The (untruncated) MAC of a digest for a peer; false on failure.
 */
static bool
mac_of(zz_crypto *c, zz_peer *p, const zz_digest *d, uint8_t out[ZZ_DIGEST_LEN])
{
	uint8_t		inner[ZZ_DIGEST_LEN];
	bool		ok;

	if (c->mode == ZZ_CRYPTO_SYMBOLIC)
	{
		zz_iov		iov[2];

		iov[0].base = p->key;
		iov[0].len = ZZ_KEY_LEN;
		iov[1].base = d->b;
		iov[1].len = ZZ_DIGEST_LEN;
		hash_into(c, iov, 2, out);
		return true;
	}
	{
		SHA256_CTX	ctx = p->inner;

		ok = SHA256_Update(&ctx, d->b, ZZ_DIGEST_LEN) == 1 &&
			SHA256_Final(inner, &ctx) == 1;
		ctx = p->outer;
		ok = ok && SHA256_Update(&ctx, inner, sizeof(inner)) == 1 &&
			SHA256_Final(out, &ctx) == 1;
		OPENSSL_cleanse(&ctx, sizeof(ctx));
	}
	return ok;
}

/*
 * zz_mac_compute
 *		MAC a digest toward a peer of the other kind.
 *
 * If the peer has no key (id out of range) or OpenSSL fails, the MAC is
 * all zeros, which no peer accepts: callers only MAC toward peers whose
 * messages they have authenticated, so this does not happen in practice.
 */
void
zz_mac_compute(zz_crypto *c, uint32_t peer, const zz_digest *d, zz_mac *out)
{
	zz_peer    *p = get_peer(c, peer);
	uint8_t		full[ZZ_DIGEST_LEN];

	memset(out, 0, sizeof(*out));
	if (p == NULL)
		return;
	c->stats.macs++;
	if (mac_of(c, p, d, full))
		memcpy(out->b, full, ZZ_MAC_LEN);
}

/*
 * zz_mac_check
 *		Check a peer's MAC over a digest, in constant time.
 */
bool
zz_mac_check(zz_crypto *c, uint32_t peer, const zz_digest *d, const zz_mac *mac)
{
	zz_peer    *p = get_peer(c, peer);
	uint8_t		full[ZZ_DIGEST_LEN];

	if (p == NULL)
		return false;
	c->stats.mac_checks++;
	if (!mac_of(c, p, d, full))
		return false;
	return CRYPTO_memcmp(full, mac->b, ZZ_MAC_LEN) == 0;
}

/*
 * zz_digest_eq
 *		Compare two digests.  Digests are public (history chains, batch
 *		digests), so a plain comparison will do; MACs use CRYPTO_memcmp.
 */
bool
zz_digest_eq(const zz_digest *a, const zz_digest *b)
{
	return memcmp(a->b, b->b, ZZ_DIGEST_LEN) == 0;
}
