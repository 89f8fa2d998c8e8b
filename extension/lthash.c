/*-------------------------------------------------------------------------
 *
 * lthash.c
 *	  LtHash16 over OpenSSL's SHAKE256 (see lthash.h).
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

/*
 * Hash one element: expand SHAKE256(data) to 2048 bytes and read them as
 * 1024 little-endian 16-bit lanes.  Returns false only if OpenSSL fails
 * (out of memory), which the caller reports.
 */
bool
zz_lthash_of(ZzLtHash *out, const void *data, size_t len)
{
	uint8_t		buf[ZZ_LTHASH_BYTES];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool		ok;

	if (ctx == NULL)
		return false;
	ok = EVP_DigestInit_ex(ctx, EVP_shake256(), NULL) == 1 &&
		EVP_DigestUpdate(ctx, data, len) == 1 &&
		EVP_DigestFinalXOF(ctx, buf, sizeof(buf)) == 1;
	EVP_MD_CTX_free(ctx);
	if (ok)
		zz_lthash_from_bytes(out, buf);
	return ok;
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
	for (int i = 0; i < ZZ_LTHASH_LANES; i++)
	{
		out[2 * i] = (uint8_t) (h->lane[i] & 0xff);
		out[2 * i + 1] = (uint8_t) (h->lane[i] >> 8);
	}
}

/*
 * The inverse of zz_lthash_to_bytes.
 */
void
zz_lthash_from_bytes(ZzLtHash *h, const uint8_t in[ZZ_LTHASH_BYTES])
{
	for (int i = 0; i < ZZ_LTHASH_LANES; i++)
		h->lane[i] = (uint16_t) (in[2 * i] | (in[2 * i + 1] << 8));
}
