/*
 * reader.h
 *	  A bounds-checked reader over a byte string, for the extension's
 *	  decoders (wire.c: requests and replies; transfer.c: snapshots).
 *	  Every read either takes what it asks for or fails without moving.
 */
#ifndef ZZ_READER_H
#define ZZ_READER_H

typedef struct ZzReader
{
	const char *p;
	size_t		left;
} ZzReader;

/* Take the next n bytes. */
static inline bool
rd_bytes(ZzReader *r, const char **out, size_t n)
{
	if (r->left < n)
		return false;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return true;
}

/* Read a big-endian unsigned integer of nbytes (at most 8) bytes. */
static inline bool
rd_uint(ZzReader *r, int nbytes, uint64 *v)
{
	const char *b;

	if (!rd_bytes(r, &b, nbytes))
		return false;
	*v = 0;
	for (int i = 0; i < nbytes; i++)
		*v = (*v << 8) | (uint8) b[i];
	return true;
}

#endif							/* ZZ_READER_H */
