/*-------------------------------------------------------------------------
 *
 * lthash.c
 *	  LtHash16 over OpenSSL: SHA-256, expanded by AES-256-CTR (see lthash.h).
 *
 *-------------------------------------------------------------------------
 */
#include "lthash.h"

#include <string.h>

#include <openssl/evp.h>

/*
 * Set h to the hash of the empty multiset.
 */
void
zz_lthash_zero(ZzLtHash *h)
{
	memset(h, 0, sizeof(*h));
}

/* OpenSSL's algorithms and contexts, fetched once */
static EVP_MD *zz_sha256_md = NULL;
static EVP_CIPHER *zz_aes_ctr = NULL;
static EVP_MD_CTX *zz_md_ctx = NULL;
static EVP_CIPHER_CTX *zz_cipher_ctx = NULL;
static bool zz_cipher_set = false;	/* zz_cipher_ctx holds AES-256-CTR */

/*
 * Fetch the algorithms and make the contexts, once per process.
 */
static bool
lthash_init(void)
{
	if (zz_cipher_ctx != NULL)
		return true;
	if (zz_sha256_md == NULL)
		zz_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (zz_aes_ctr == NULL)
		zz_aes_ctr = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
	if (zz_md_ctx == NULL)
		zz_md_ctx = EVP_MD_CTX_new();
	if (zz_sha256_md == NULL || zz_aes_ctr == NULL || zz_md_ctx == NULL)
		return false;
	zz_cipher_ctx = EVP_CIPHER_CTX_new();
	return zz_cipher_ctx != NULL;
}

/*
 * Hash one element: key AES-256-CTR with SHA-256(data) and read the first
 * 2048 bytes of keystream as 1024 little-endian 16-bit lanes.  Returns false
 * only if OpenSSL fails (out of memory), which the caller reports.
 */
bool
zz_lthash_of(ZzLtHash *out, const void *data, size_t len)
{
	static const uint8_t zeros[ZZ_LTHASH_BYTES];
	static const uint8_t iv[16];
	uint8_t		key[ZZ_SHA256_BYTES];
	uint8_t		buf[ZZ_LTHASH_BYTES];
	unsigned int keylen;
	int			outlen;

	if (!lthash_init() ||
		EVP_DigestInit_ex(zz_md_ctx, zz_sha256_md, NULL) != 1 ||
		EVP_DigestUpdate(zz_md_ctx, data, len) != 1 ||
		EVP_DigestFinal_ex(zz_md_ctx, key, &keylen) != 1 ||
		keylen != sizeof(key) ||
		/* once the context has the cipher, only the key changes */
		EVP_EncryptInit_ex(zz_cipher_ctx, zz_cipher_set ? NULL : zz_aes_ctr, NULL,
						   key, iv) != 1 ||
		EVP_EncryptUpdate(zz_cipher_ctx, buf, &outlen, zeros, sizeof(zeros)) != 1 ||
		outlen != (int) sizeof(buf))
	{
		zz_cipher_set = false;
		return false;
	}
	zz_cipher_set = true;
	zz_lthash_from_bytes(out, buf);
	return true;
}

/*
 * h += x, lane by lane, modulo 2^16.
 */
void
zz_lthash_add(ZzLtHash *h, const ZzLtHash *x)
{
	for (int i = 0; i < ZZ_LTHASH_LANES; i++)
		h->lane[i] = (uint16_t) (h->lane[i] + x->lane[i]);
}

/*
 * h -= x, lane by lane, modulo 2^16: the inverse of zz_lthash_add.
 */
void
zz_lthash_sub(ZzLtHash *h, const ZzLtHash *x)
{
	for (int i = 0; i < ZZ_LTHASH_LANES; i++)
		h->lane[i] = (uint16_t) (h->lane[i] - x->lane[i]);
}

/*
 * Serialize the lanes little-endian, independent of the host's byte order,
 * so that stored states and digests compare across machines.
 */
void
zz_lthash_to_bytes(const ZzLtHash *h, uint8_t out[ZZ_LTHASH_BYTES])
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* the lanes are already in that order: one copy (a tenth of a row's hash) */
	memcpy(out, h->lane, ZZ_LTHASH_BYTES);
#else
	for (int i = 0; i < ZZ_LTHASH_LANES; i++)
	{
		out[2 * i] = (uint8_t) (h->lane[i] & 0xff);
		out[2 * i + 1] = (uint8_t) (h->lane[i] >> 8);
	}
#endif
}

/*
 * The inverse of zz_lthash_to_bytes.
 */
void
zz_lthash_from_bytes(ZzLtHash *h, const uint8_t in[ZZ_LTHASH_BYTES])
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(h->lane, in, ZZ_LTHASH_BYTES);
#else
	for (int i = 0; i < ZZ_LTHASH_LANES; i++)
		h->lane[i] = (uint16_t) (in[2 * i] | (in[2 * i + 1] << 8));
#endif
}
