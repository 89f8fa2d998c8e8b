/*
 * test_crypto.c
 *	  Hashing, signatures and MACs (crypto.c), in real and symbolic mode,
 *	  checked against independent computations with OpenSSL; and key
 *	  loading from PEM files generated here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>

#include "crypto.h"

#define N			4
#define CLIENTS		8
#define SEED		42

static const uint8_t msg[] = "ORDER-REQ header bytes to sign";

static void
le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static void
le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

/* SHA-256(tag || seed || a [|| b]), computed independently of crypto.c. */
static void
expect_derived(const char *tag, uint64_t seed, uint32_t a, const uint32_t *b,
			   uint8_t out[32])
{
	uint8_t		buf[64];
	size_t		len = strlen(tag);
	unsigned int outlen;

	memcpy(buf, tag, len);
	le64(buf + len, seed);
	le32(buf + len + 8, a);
	len += 12;
	if (b != NULL)
	{
		le32(buf + len, *b);
		len += 4;
	}
	assert_int_equal(EVP_Digest(buf, len, out, &outlen, EVP_sha256(), NULL), 1);
}

/* HMAC-SHA256(key, data), truncated to a MAC. */
static void
expect_hmac(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
			uint8_t out[32])
{
	size_t		outlen = 0;

	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen,
							  data, len, out, 32, &outlen));
	assert_int_equal(outlen, 32);
}

/* The five replica and client contexts most tests use. */
typedef struct nodes
{
	zz_keyset  *ks;
	zz_crypto  *r[N];
	zz_crypto  *c3;				/* client 3 */
} nodes;

static void
nodes_create(nodes *x, zz_crypto_mode mode, uint64_t seed)
{
	x->ks = zz_keyset_from_seed(mode, N, CLIENTS, seed);
	assert_non_null(x->ks);
	for (uint32_t i = 0; i < N; i++)
	{
		x->r[i] = zz_crypto_create(x->ks, true, i);
		assert_non_null(x->r[i]);
	}
	x->c3 = zz_crypto_create(x->ks, false, 3);
	assert_non_null(x->c3);
	/* Nodes keep their own references: the keyset may go now. */
	zz_keyset_free(x->ks);
	x->ks = NULL;
}

static void
nodes_free(nodes *x)
{
	for (uint32_t i = 0; i < N; i++)
		zz_crypto_free(x->r[i]);
	zz_crypto_free(x->c3);
}

/* Sign and verify: good signature, flipped bits, wrong and absent signers. */
static void
check_sign_verify(zz_crypto_mode mode)
{
	nodes		x;
	zz_sig		sig;
	zz_sig		bad;
	uint8_t		m2[sizeof(msg)];

	nodes_create(&x, mode, SEED);
	assert_true(zz_sign(x.r[0], msg, sizeof(msg), &sig));
	assert_true(zz_verify(x.r[1], 0, msg, sizeof(msg), &sig));
	assert_true(zz_verify(x.r[0], 0, msg, sizeof(msg), &sig));
	assert_true(zz_verify(x.c3, 0, msg, sizeof(msg), &sig));

	memcpy(m2, msg, sizeof(msg));
	m2[3] ^= 0x04;
	assert_false(zz_verify(x.r[1], 0, m2, sizeof(m2), &sig));
	assert_false(zz_verify(x.r[1], 0, msg, sizeof(msg) - 1, &sig));
	for (int byte = 0; byte < ZZ_SIG_LEN; byte += 9)
	{
		bad = sig;
		bad.b[byte] ^= 0x80;
		assert_false(zz_verify(x.r[2], 0, msg, sizeof(msg), &bad));
	}
	assert_false(zz_verify(x.r[1], 2, msg, sizeof(msg), &sig));
	assert_false(zz_verify(x.r[1], N, msg, sizeof(msg), &sig));
	assert_false(zz_verify(x.r[1], ZZ_MAX_N, msg, sizeof(msg), &sig));
	assert_false(zz_verify(x.r[1], UINT32_MAX, msg, sizeof(msg), &sig));

	/* Clients have no signing key. */
	assert_false(zz_sign(x.c3, msg, sizeof(msg), &bad));
	nodes_free(&x);
}

static void
test_sign_verify_real(void **state)
{
	check_sign_verify(ZZ_CRYPTO_REAL);
}

static void
test_sign_verify_symbolic(void **state)
{
	check_sign_verify(ZZ_CRYPTO_SYMBOLIC);
}

/*
 * Seeded Ed25519 keys are SHA-256("zz-ed25519" || seed || i), and Ed25519
 * is deterministic: the same seed gives the same signature bytes, equal to
 * OpenSSL's own signature with the independently derived key.
 */
static void
test_seeded_keys_deterministic(void **state)
{
	zz_keyset  *k1 = zz_keyset_from_seed(ZZ_CRYPTO_REAL, N, CLIENTS, SEED);
	zz_keyset  *k2 = zz_keyset_from_seed(ZZ_CRYPTO_REAL, N, CLIENTS, SEED);
	zz_keyset  *k3 = zz_keyset_from_seed(ZZ_CRYPTO_REAL, N, CLIENTS, SEED + 1);
	zz_crypto  *a = zz_crypto_create(k1, true, 2);
	zz_crypto  *b = zz_crypto_create(k2, true, 2);
	zz_crypto  *c = zz_crypto_create(k3, true, 2);
	zz_sig		sa;
	zz_sig		sb;
	zz_sig		sc;
	uint8_t		sk[32];
	uint8_t		expect[ZZ_SIG_LEN];
	size_t		siglen = sizeof(expect);
	EVP_PKEY   *pkey;
	EVP_MD_CTX *ctx;

	assert_true(zz_sign(a, msg, sizeof(msg), &sa));
	assert_true(zz_sign(b, msg, sizeof(msg), &sb));
	assert_true(zz_sign(c, msg, sizeof(msg), &sc));
	assert_memory_equal(sa.b, sb.b, ZZ_SIG_LEN);
	assert_memory_not_equal(sa.b, sc.b, ZZ_SIG_LEN);
	assert_false(zz_verify(a, 2, msg, sizeof(msg), &sc));

	expect_derived("zz-ed25519", SEED, 2, NULL, sk);
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, sizeof(sk));
	assert_non_null(pkey);
	ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey), 1);
	assert_int_equal(EVP_DigestSign(ctx, expect, &siglen, msg, sizeof(msg)), 1);
	assert_memory_equal(sa.b, expect, ZZ_SIG_LEN);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);

	zz_crypto_free(a);
	zz_crypto_free(b);
	zz_crypto_free(c);
	zz_keyset_free(k1);
	zz_keyset_free(k2);
	zz_keyset_free(k3);
}

/* A symbolic signature is SHA-256(SHA-256("zz-sym" || seed || i) || msg), then zeros. */
static void
test_symbolic_sig_value(void **state)
{
	nodes		x;
	zz_sig		sig;
	uint8_t		secret[32];
	uint8_t		buf[32 + sizeof(msg)];
	uint8_t		expect[32];
	uint8_t		zeros[ZZ_SIG_LEN - 32] = {0};
	unsigned int outlen;

	nodes_create(&x, ZZ_CRYPTO_SYMBOLIC, SEED);
	assert_true(zz_sign(x.r[1], msg, sizeof(msg), &sig));
	expect_derived("zz-sym", SEED, 1, NULL, secret);
	memcpy(buf, secret, 32);
	memcpy(buf + 32, msg, sizeof(msg));
	assert_int_equal(EVP_Digest(buf, sizeof(buf), expect, &outlen, EVP_sha256(), NULL), 1);
	assert_memory_equal(sig.b, expect, 32);
	assert_memory_equal(sig.b + 32, zeros, sizeof(zeros));
	nodes_free(&x);
}

/*
 * MACs: the replica -> client key is the client -> replica key, the value
 * is HMAC-SHA256 (or the symbolic hash) under the derived pair key, and a
 * wrong peer, digest or MAC fails.
 */
static void
check_mac(zz_crypto_mode mode)
{
	nodes		x;
	zz_digest	d;
	zz_digest	d2;
	zz_mac		from_replica;
	zz_mac		from_client;
	zz_mac		m;
	uint8_t		key[32];
	uint8_t		expect[32];
	uint32_t	client = 3;
	zz_mac		zeros;

	nodes_create(&x, mode, SEED);
	zz_hash(x.r[1], "request", 7, &d);
	zz_mac_compute(x.r[1], 3, &d, &from_replica);
	zz_mac_compute(x.c3, 1, &d, &from_client);
	assert_memory_equal(from_replica.b, from_client.b, ZZ_MAC_LEN);
	assert_true(zz_mac_check(x.c3, 1, &d, &from_replica));
	assert_true(zz_mac_check(x.r[1], 3, &d, &from_client));

	expect_derived("zz-mac", SEED, 1, &client, key);
	if (mode == ZZ_CRYPTO_REAL)
		expect_hmac(key, sizeof(key), d.b, ZZ_DIGEST_LEN, expect);
	else
	{
		uint8_t		buf[64];
		unsigned int outlen;

		memcpy(buf, key, 32);
		memcpy(buf + 32, d.b, 32);
		assert_int_equal(EVP_Digest(buf, 64, expect, &outlen, EVP_sha256(), NULL), 1);
	}
	assert_memory_equal(from_replica.b, expect, ZZ_MAC_LEN);

	/* Wrong peer, both ways: other replicas and other clients differ. */
	assert_false(zz_mac_check(x.c3, 2, &d, &from_replica));
	zz_mac_compute(x.r[2], 3, &d, &m);
	assert_memory_not_equal(m.b, from_replica.b, ZZ_MAC_LEN);
	assert_false(zz_mac_check(x.r[1], 4, &d, &from_client));
	zz_mac_compute(x.r[1], 4, &d, &m);
	assert_memory_not_equal(m.b, from_replica.b, ZZ_MAC_LEN);

	/* Wrong digest, flipped MAC bit. */
	d2 = d;
	d2.b[31] ^= 1;
	assert_false(zz_mac_check(x.c3, 1, &d2, &from_replica));
	m = from_replica;
	m.b[ZZ_MAC_LEN - 1] ^= 0x20;
	assert_false(zz_mac_check(x.c3, 1, &d, &m));

	/* Peers outside the id spaces have no key. */
	memset(&zeros, 0, sizeof(zeros));
	assert_false(zz_mac_check(x.c3, N, &d, &from_replica));
	assert_false(zz_mac_check(x.r[1], CLIENTS, &d, &from_client));
	assert_false(zz_mac_check(x.r[1], UINT32_MAX, &d, &from_client));
	zz_mac_compute(x.r[1], CLIENTS, &d, &m);
	assert_memory_equal(m.b, zeros.b, ZZ_MAC_LEN);
	assert_false(zz_mac_check(x.c3, 1, &d, &zeros));

	/* Repeated MACs from the cached peer state stay equal. */
	for (int i = 0; i < 3; i++)
	{
		zz_mac_compute(x.r[1], 3, &d, &m);
		assert_memory_equal(m.b, from_replica.b, ZZ_MAC_LEN);
	}
	nodes_free(&x);
}

static void
test_mac_real(void **state)
{
	check_mac(ZZ_CRYPTO_REAL);
}

static void
test_mac_symbolic(void **state)
{
	check_mac(ZZ_CRYPTO_SYMBOLIC);
}

/* A replica's peer table grows to large client ids and stays correct. */
static void
test_mac_many_clients(void **state)
{
	zz_keyset  *ks = zz_keyset_from_seed(ZZ_CRYPTO_REAL, N, 5000, 7);
	zz_crypto  *r = zz_crypto_create(ks, true, 0);
	zz_crypto  *cl = zz_crypto_create(ks, false, 4999);
	zz_digest	d;
	zz_mac		m;

	assert_null(zz_crypto_create(ks, false, 5000));
	zz_hash(r, "x", 1, &d);
	for (uint32_t c = 0; c < 5000; c += 37)
	{
		zz_mac_compute(r, c, &d, &m);
		assert_true(zz_mac_check(r, c, &d, &m));
	}
	zz_mac_compute(cl, 0, &d, &m);
	assert_true(zz_mac_check(r, 4999, &d, &m));
	assert_false(zz_mac_check(r, 4998, &d, &m));
	zz_crypto_free(r);
	zz_crypto_free(cl);
	zz_keyset_free(ks);
}

/* Each operation is counted once, and only when performed. */
static void
test_counters(void **state)
{
	nodes		x;
	zz_digest	d;
	zz_sig		sig;
	zz_mac		m;
	zz_iov		iov[2] = {{"a", 1}, {"b", 1}};
	const zz_crypto_stats *st;

	nodes_create(&x, ZZ_CRYPTO_REAL, SEED);
	st = zz_crypto_get_stats(x.r[0]);
	assert_int_equal(st->signs + st->verifies + st->macs + st->mac_checks + st->hashes, 0);

	zz_hash(x.r[0], "abc", 3, &d);
	zz_hashv(x.r[0], iov, 2, &d);
	assert_true(zz_sign(x.r[0], msg, sizeof(msg), &sig));
	assert_true(zz_sign(x.r[0], msg, sizeof(msg), &sig));
	assert_true(zz_verify(x.r[0], 0, msg, sizeof(msg), &sig));
	assert_false(zz_verify(x.r[0], 1, msg, sizeof(msg), &sig));
	assert_false(zz_verify(x.r[0], 99, msg, sizeof(msg), &sig));	/* not performed */
	zz_mac_compute(x.r[0], 3, &d, &m);
	zz_mac_compute(x.r[0], 4, &d, &m);
	zz_mac_compute(x.r[0], 5, &d, &m);
	assert_true(zz_mac_check(x.r[0], 5, &d, &m));
	assert_false(zz_mac_check(x.r[0], CLIENTS, &d, &m));	/* not performed */

	assert_int_equal(st->hashes, 2);
	assert_int_equal(st->signs, 2);
	assert_int_equal(st->verifies, 2);
	assert_int_equal(st->macs, 3);
	assert_int_equal(st->mac_checks, 1);
	/* Other nodes' counters are their own. */
	assert_int_equal(zz_crypto_get_stats(x.r[1])->signs, 0);

	zz_crypto_reset_stats(x.r[0]);
	assert_int_equal(st->signs + st->verifies + st->macs + st->mac_checks + st->hashes, 0);
	nodes_free(&x);
}

/* SHA-256 test vectors, pieces vs whole, and the context-free path. */
static void
test_hash(void **state)
{
	static const uint8_t abc_sha256[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde,
		0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
		0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad
	};
	static const uint8_t empty_sha256[32] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
		0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
		0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55
	};
	nodes		x;
	zz_digest	d;
	zz_digest	d2;
	zz_iov		iov[3] = {{"a", 1}, {NULL, 0}, {"bc", 2}};

	nodes_create(&x, ZZ_CRYPTO_SYMBOLIC, SEED);
	zz_hash(x.r[0], "abc", 3, &d);
	assert_memory_equal(d.b, abc_sha256, 32);
	zz_hashv(x.c3, iov, 3, &d2);
	assert_true(zz_digest_eq(&d, &d2));
	zz_hash(NULL, "abc", 3, &d2);
	assert_true(zz_digest_eq(&d, &d2));
	zz_hash(x.r[0], "", 0, &d);
	assert_memory_equal(d.b, empty_sha256, 32);
	assert_false(zz_digest_eq(&d, &d2));
	d2 = d;
	d2.b[17] ^= 0x01;
	assert_false(zz_digest_eq(&d, &d2));
	nodes_free(&x);
}

/* Ids outside their spaces, and bad cluster sizes, are refused. */
static void
test_create_rejects(void **state)
{
	zz_keyset  *ks = zz_keyset_from_seed(ZZ_CRYPTO_REAL, N, CLIENTS, SEED);

	assert_non_null(ks);
	assert_null(zz_crypto_create(ks, true, N));
	assert_null(zz_crypto_create(ks, false, CLIENTS));
	assert_null(zz_crypto_create(NULL, true, 0));
	assert_null(zz_keyset_from_seed(ZZ_CRYPTO_REAL, 0, CLIENTS, SEED));
	assert_null(zz_keyset_from_seed(ZZ_CRYPTO_SYMBOLIC, ZZ_MAX_N + 1, CLIENTS, SEED));
	assert_null(zz_keyset_from_seed(ZZ_CRYPTO_SYMBOLIC, N, (1u << 20) + 1, SEED));
	zz_keyset_free(ks);
	zz_keyset_free(NULL);
	zz_crypto_free(NULL);
}

/*
 * A replica checks its own signatures against the ones it made (Ed25519 is
 * deterministic): the same answers as a full verification, without one.
 */
static void
test_own_signature_shortcut(void **state)
{
	nodes		x;
	zz_sig		sig;
	zz_sig		other;
	zz_sig		bad;
	uint8_t		m[8];
	const zz_crypto_stats *st;

	nodes_create(&x, ZZ_CRYPTO_REAL, SEED);
	assert_true(zz_sign(x.r[0], msg, sizeof(msg), &sig));
	assert_true(zz_verify(x.r[0], 0, msg, sizeof(msg), &sig));
	assert_true(zz_verify(x.r[1], 0, msg, sizeof(msg), &sig));

	/* a flipped bit, another replica's signature, another message */
	bad = sig;
	bad.b[40] ^= 1;
	assert_false(zz_verify(x.r[0], 0, msg, sizeof(msg), &bad));
	assert_true(zz_sign(x.r[1], msg, sizeof(msg), &other));
	assert_false(zz_verify(x.r[0], 0, msg, sizeof(msg), &other));
	assert_false(zz_verify(x.r[0], 0, msg, sizeof(msg) - 1, &sig));

	/* pushed out of the recent set by 100 others: still valid the long way */
	for (int i = 0; i < 100; i++)
	{
		zz_sig		s2;

		le64(m, (uint64_t) i);
		assert_true(zz_sign(x.r[0], m, sizeof(m), &s2));
		assert_true(zz_verify(x.r[0], 0, m, sizeof(m), &s2));
	}
	assert_true(zz_verify(x.r[0], 0, msg, sizeof(msg), &sig));
	assert_false(zz_verify(x.r[0], 0, msg, sizeof(msg), &bad));

	/* verifications are counted either way */
	st = zz_crypto_get_stats(x.r[0]);
	assert_int_equal(st->verifies, 4 + 100 + 2);
	nodes_free(&x);
}

/* ---- keyset_load from PEM files written here ---- */

/* Client ids per replica in these tests: client c is hosted by c / CPR. */
#define CPR			100

typedef struct pemdir
{
	char		dir[64];
	char		priv[N][128];	/* Ed25519 then X25519 private key */
	char		pub[N][128];	/* Ed25519 then X25519 public key */
	char		edonly[128];	/* replica 3's Ed25519 public key alone (old format) */
	char		other[128];		/* an X25519 key first: not Ed25519 */
	char		garbage[128];
	const char *pubs[N];
	EVP_PKEY   *x[N];			/* the X25519 keys, for the expected values */
} pemdir;

static EVP_PKEY *
keygen(int type)
{
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY   *key = NULL;

	assert_non_null(kctx);
	assert_int_equal(EVP_PKEY_keygen_init(kctx), 1);
	assert_int_equal(EVP_PKEY_keygen(kctx, &key), 1);
	EVP_PKEY_CTX_free(kctx);
	return key;
}

/* Write one or two keys (in order) into a PEM file. */
static void
write_pem(const char *path, EVP_PKEY *key, EVP_PKEY *key2, bool private_key)
{
	FILE	   *fp = fopen(path, "w");

	assert_non_null(fp);
	for (int i = 0; i < 2; i++)
	{
		EVP_PKEY   *k = i == 0 ? key : key2;

		if (k == NULL)
			continue;
		if (private_key)
			assert_int_equal(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL), 1);
		else
			assert_int_equal(PEM_write_PUBKEY(fp, k), 1);
	}
	assert_int_equal(fclose(fp), 0);
}

static int
pem_setup(void **state)
{
	pemdir	   *p = calloc(1, sizeof(*p));
	char		dir[] = "/tmp/zz-test-crypto-XXXXXX";
	EVP_PKEY   *x;
	FILE	   *fp;

	if (p == NULL || mkdtemp(dir) == NULL)
		return -1;
	strcpy(p->dir, dir);
	for (int i = 0; i < N; i++)
	{
		EVP_PKEY   *key = keygen(EVP_PKEY_ED25519);

		p->x[i] = keygen(EVP_PKEY_X25519);
		snprintf(p->priv[i], sizeof(p->priv[i]), "%s/replica%d.key", dir, i);
		snprintf(p->pub[i], sizeof(p->pub[i]), "%s/replica%d.pub", dir, i);
		write_pem(p->priv[i], key, p->x[i], true);
		write_pem(p->pub[i], key, p->x[i], false);
		p->pubs[i] = p->pub[i];
		if (i == 3)
		{
			snprintf(p->edonly, sizeof(p->edonly), "%s/edonly.pub", dir);
			write_pem(p->edonly, key, NULL, false);
		}
		EVP_PKEY_free(key);
	}
	x = keygen(EVP_PKEY_X25519);
	snprintf(p->other, sizeof(p->other), "%s/x25519.pub", dir);
	write_pem(p->other, x, x, false);
	EVP_PKEY_free(x);
	snprintf(p->garbage, sizeof(p->garbage), "%s/garbage.pub", dir);
	fp = fopen(p->garbage, "w");
	if (fp == NULL)
		return -1;
	fputs("-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n", fp);
	fclose(fp);
	*state = p;
	return 0;
}

static int
pem_teardown(void **state)
{
	pemdir	   *p = *state;

	for (int i = 0; i < N; i++)
	{
		unlink(p->priv[i]);
		unlink(p->pub[i]);
		EVP_PKEY_free(p->x[i]);
	}
	unlink(p->edonly);
	unlink(p->other);
	unlink(p->garbage);
	rmdir(p->dir);
	free(p);
	return 0;
}

static zz_keyset *
load(pemdir *p, const char *priv, uint32_t self, char *err, size_t errlen)
{
	return zz_keyset_load(N, p->pubs, priv, self, CPR, err, errlen);
}

/*
 * The pair key of (replica r, client cl) as crypto.c's header defines it:
 * HKDF-SHA256 over X25519 of r and cl's host, computed here independently
 * from the two X25519 keys.
 */
static void
expect_pair_key(pemdir *p, uint32_t r, uint32_t cl, uint8_t key[32])
{
	uint8_t		dh[32];
	size_t		len = sizeof(dh);
	uint8_t		info[6 + 8];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(p->x[r], NULL);
	EVP_PKEY_CTX *kctx;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(ctx, p->x[cl / CPR]), 1);
	assert_int_equal(EVP_PKEY_derive(ctx, dh, &len), 1);
	EVP_PKEY_CTX_free(ctx);
	memcpy(info, "zz-mac", 6);
	le32(info + 6, r);
	le32(info + 10, cl);
	kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	assert_non_null(kctx);
	assert_int_equal(EVP_PKEY_derive_init(kctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_hkdf_md(kctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_CTX_set1_hkdf_salt(kctx, (const unsigned char *) "zyzzyva pair MAC v1", 19), 1);
	assert_int_equal(EVP_PKEY_CTX_set1_hkdf_key(kctx, dh, 32), 1);
	assert_int_equal(EVP_PKEY_CTX_add1_hkdf_info(kctx, info, sizeof(info)), 1);
	len = 32;
	assert_int_equal(EVP_PKEY_derive(kctx, key, &len), 1);
	EVP_PKEY_CTX_free(kctx);
}

/* Loaded keys sign and verify across nodes; MAC keys are pairwise. */
static void
test_keyset_load(void **state)
{
	pemdir	   *p = *state;
	char		err[256];
	zz_keyset  *k0 = load(p, p->priv[0], 0, err, sizeof(err));
	zz_keyset  *k2 = load(p, p->priv[2], 2, err, sizeof(err));
	zz_crypto  *r0;
	zz_crypto  *r2;
	zz_crypto  *cl;
	zz_crypto  *own;
	zz_sig		sig;
	zz_digest	d;
	zz_mac		m;
	uint8_t		key[32];
	uint8_t		expect[32];
	const uint32_t c = 0 * CPR + 5;	/* a client hosted by replica 0 */

	assert_non_null(k0);
	assert_non_null(k2);
	r0 = zz_crypto_create(k0, true, 0);
	r2 = zz_crypto_create(k2, true, 2);
	cl = zz_crypto_create(k0, false, c);
	assert_non_null(r0);
	assert_non_null(r2);
	assert_non_null(cl);

	assert_true(zz_sign(r0, msg, sizeof(msg), &sig));
	assert_true(zz_verify(r2, 0, msg, sizeof(msg), &sig));
	assert_true(zz_verify(cl, 0, msg, sizeof(msg), &sig));
	assert_false(zz_verify(cl, 1, msg, sizeof(msg), &sig));
	assert_false(zz_sign(cl, msg, sizeof(msg), &sig));

	/* Replica 2 and client c (on replica 0) agree on their pair key. */
	zz_hash(r2, "req", 3, &d);
	zz_mac_compute(r2, c, &d, &m);
	assert_true(zz_mac_check(cl, 2, &d, &m));
	assert_false(zz_mac_check(cl, 0, &d, &m));
	zz_mac_compute(cl, 2, &d, &m);
	assert_true(zz_mac_check(r2, c, &d, &m));
	assert_false(zz_mac_check(r2, c + 1, &d, &m));

	/* ... which is HKDF over X25519 of replicas 2 and 0, as documented. */
	expect_pair_key(p, 2, c, key);
	expect_hmac(key, sizeof(key), d.b, ZZ_DIGEST_LEN, expect);
	assert_memory_equal(m.b, expect, ZZ_MAC_LEN);

	/* A replica and its own client: X25519(x0, X0), which only 0 knows. */
	zz_mac_compute(cl, 0, &d, &m);
	assert_true(zz_mac_check(r0, c, &d, &m));
	expect_pair_key(p, 0, c, key);
	expect_hmac(key, sizeof(key), d.b, ZZ_DIGEST_LEN, expect);
	assert_memory_equal(m.b, expect, ZZ_MAC_LEN);

	/* Client ids: n * CPR of them; a keyset makes only its own clients. */
	own = zz_crypto_create(k0, false, CPR - 1);
	assert_non_null(own);
	assert_null(zz_crypto_create(k0, false, CPR));
	assert_null(zz_crypto_create(k0, false, N * CPR));
	assert_null(zz_crypto_create(k0, true, 2));
	zz_mac_compute(r0, N * CPR, &d, &m);	/* no host: no key */
	assert_false(zz_mac_check(r0, N * CPR, &d, &m));

	zz_crypto_free(own);
	zz_crypto_free(r0);
	zz_crypto_free(r2);
	zz_crypto_free(cl);
	zz_keyset_free(k0);
	zz_keyset_free(k2);
}

/*
 * Hostile: replica 1 is faulty and holds everything it legitimately has
 * (its own private keys, every public key).  It wants to pass a request off
 * as client c's (hosted by replica 0) to replica 2, or a reply off as
 * replica 2's to c, so it needs the MAC key of the pair (2, c).  Nothing
 * it can build produces a MAC that replica 2 or client c accepts: not a
 * client context for c, not its own pair keys with c, not its own clients'
 * keys toward replica 2, not the old cluster-wide derivation.
 */
static void
test_no_replica_speaks_for_another_pair(void **state)
{
	pemdir	   *p = *state;
	char		err[256];
	zz_keyset  *k0 = load(p, p->priv[0], 0, err, sizeof(err));
	zz_keyset  *k1 = load(p, p->priv[1], 1, err, sizeof(err));
	zz_keyset  *k2 = load(p, p->priv[2], 2, err, sizeof(err));
	zz_crypto  *cl;
	zz_crypto  *r2;
	zz_crypto  *evil;
	zz_crypto  *evil_client;
	zz_digest	d;
	zz_mac		genuine;
	zz_mac		forged;
	uint8_t		key[32];
	const uint32_t c = 0 * CPR + 7;

	assert_non_null(k0);
	assert_non_null(k1);
	assert_non_null(k2);
	cl = zz_crypto_create(k0, false, c);
	r2 = zz_crypto_create(k2, true, 2);
	evil = zz_crypto_create(k1, true, 1);
	assert_non_null(cl);
	assert_non_null(r2);
	assert_non_null(evil);
	zz_hash(cl, "transfer 1000 to mallory", 24, &d);

	/* The genuine entry of c's authenticator for replica 2 verifies. */
	zz_mac_compute(cl, 2, &d, &genuine);
	assert_true(zz_mac_check(r2, c, &d, &genuine));

	/* Replica 1's keys cannot make a context for client c ... */
	assert_null(zz_crypto_create(k1, false, c));

	/* ... its own pair key with c is not the pair (2, c)'s ... */
	zz_mac_compute(evil, c, &d, &forged);
	assert_false(zz_mac_check(r2, c, &d, &forged));
	assert_false(zz_mac_check(cl, 2, &d, &forged));
	assert_memory_not_equal(forged.b, genuine.b, ZZ_MAC_LEN);

	/* ... nor is any of its own clients' keys toward replica 2 ... */
	for (uint32_t own = 1 * CPR; own < 1 * CPR + 4; own++)
	{
		evil_client = zz_crypto_create(k1, false, own);
		assert_non_null(evil_client);
		zz_mac_compute(evil_client, 2, &d, &forged);
		assert_false(zz_mac_check(r2, c, &d, &forged));
		/* (and they are genuine for their own id: the check is not vacuous) */
		assert_true(zz_mac_check(r2, own, &d, &forged));
		zz_crypto_free(evil_client);
	}

	/* ... and the pair key is a function of a DH secret replica 1 lacks. */
	expect_pair_key(p, 2, c, key);
	{
		uint8_t		mac_full[32];

		expect_hmac(key, sizeof(key), d.b, ZZ_DIGEST_LEN, mac_full);
		assert_memory_equal(mac_full, genuine.b, ZZ_MAC_LEN);
	}

	/* A reply forged by replica 1 in replica 2's name is refused by c. */
	zz_mac_compute(evil, c, &d, &forged);
	assert_false(zz_mac_check(cl, 2, &d, &forged));

	zz_crypto_free(cl);
	zz_crypto_free(r2);
	zz_crypto_free(evil);
	zz_keyset_free(k0);
	zz_keyset_free(k1);
	zz_keyset_free(k2);
}

/* Every way loading can fail says what went wrong. */
static void
test_keyset_load_errors(void **state)
{
	pemdir	   *p = *state;
	char		err[512];
	const char *pubs[N];

	/* A private key that is not replica 0's. */
	assert_null(load(p, p->priv[1], 0, err, sizeof(err)));
	assert_non_null(strstr(err, "do not match"));

	/* A missing public key file. */
	memcpy(pubs, p->pubs, sizeof(pubs));
	pubs[3] = "/nonexistent/zz.pub";
	assert_null(zz_keyset_load(N, pubs, p->priv[0], 0, CPR, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/zz.pub"));
	assert_non_null(strstr(err, "could not open"));

	/* A file that is not PEM, a key of the wrong type, no X25519 key. */
	pubs[3] = p->garbage;
	assert_null(zz_keyset_load(N, pubs, p->priv[0], 0, CPR, err, sizeof(err)));
	assert_non_null(strstr(err, "could not read an Ed25519 PEM public key"));
	pubs[3] = p->other;
	assert_null(zz_keyset_load(N, pubs, p->priv[0], 0, CPR, err, sizeof(err)));
	assert_non_null(strstr(err, "is not Ed25519"));
	pubs[3] = p->edonly;
	assert_null(zz_keyset_load(N, pubs, p->priv[0], 0, CPR, err, sizeof(err)));
	assert_non_null(strstr(err, "could not read an X25519 PEM public key"));

	/* A public key given as the private key, or none. */
	assert_null(load(p, p->pub[0], 0, err, sizeof(err)));
	assert_non_null(strstr(err, "could not read an Ed25519 PEM private key"));
	assert_null(load(p, NULL, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "no private key"));

	/* A bad n, clients per replica, a self out of range. */
	assert_null(zz_keyset_load(0, p->pubs, p->priv[0], 0, CPR, err, sizeof(err)));
	assert_non_null(strstr(err, "number of replicas"));
	assert_null(zz_keyset_load(N, p->pubs, p->priv[0], 0, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "clients per replica"));
	assert_null(zz_keyset_load(N, p->pubs, p->priv[0], 0, 1u << 20, err, sizeof(err)));
	assert_non_null(strstr(err, "clients per replica"));
	assert_null(load(p, p->priv[0], N, err, sizeof(err)));
	assert_non_null(strstr(err, "replica id"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify_real),
		cmocka_unit_test(test_sign_verify_symbolic),
		cmocka_unit_test(test_seeded_keys_deterministic),
		cmocka_unit_test(test_symbolic_sig_value),
		cmocka_unit_test(test_mac_real),
		cmocka_unit_test(test_mac_symbolic),
		cmocka_unit_test(test_mac_many_clients),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_create_rejects),
		cmocka_unit_test(test_own_signature_shortcut),
		cmocka_unit_test_setup_teardown(test_keyset_load, pem_setup, pem_teardown),
		cmocka_unit_test_setup_teardown(test_no_replica_speaks_for_another_pair, pem_setup, pem_teardown),
		cmocka_unit_test_setup_teardown(test_keyset_load_errors, pem_setup, pem_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
