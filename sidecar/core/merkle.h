/*
 * merkle.h
 *	  The Merkle tree over one batch's replies.  A replica signs one
 *	  response core per batch, (v, n, h_n, R), where R is the root over the
 *	  batch's reply leaves; each client gets its reply and the path to R, so
 *	  a commit certificate commits every client to its own reply while the
 *	  replica signs once per batch (docs/protocol.md section 3).
 */
#ifndef ZZ_MERKLE_H
#define ZZ_MERKLE_H

#include "crypto.h"

/* The leaf binding a reply to its client and timestamp. */
extern void zz_reply_leaf(zz_crypto *c, uint32_t client, uint64_t ts,
						  const uint8_t *reply, uint32_t len, zz_digest *out);
extern void zz_merkle_root(zz_crypto *c, const zz_digest *leaves, uint32_t count,
						   zz_digest *root);
/* Room for every level: count, then ceil(w / 2) per level up to one. */
#define ZZ_MERKLE_TREE_LEN(count) (2 * (size_t) (count) + ZZ_MAX_MERKLE_DEPTH + 1)

/*
 * The whole tree, leaves first, into tree (ZZ_MERKLE_TREE_LEN(count));
 * returns how many digests it wrote.  Paths and the root read off it, so
 * a batch hashes its tree once.
 */
extern uint32_t zz_merkle_tree(zz_crypto *c, const zz_digest *leaves, uint32_t count,
							   zz_digest *tree);
extern uint8_t zz_merkle_tree_path(const zz_digest *tree, uint32_t count, uint32_t index,
								   zz_digest *path);
extern void zz_merkle_tree_root(zz_crypto *c, const zz_digest *tree, uint32_t ndigests,
								uint32_t count, zz_digest *root);
/* Fills path (at most ZZ_MAX_MERKLE_DEPTH digests); returns its length. */
extern uint8_t zz_merkle_path(zz_crypto *c, const zz_digest *leaves, uint32_t count,
							  uint32_t index, zz_digest *path);
extern bool zz_merkle_verify(zz_crypto *c, const zz_digest *leaf, uint32_t count,
							 uint32_t index, const zz_digest *path, uint8_t path_len,
							 const zz_digest *root);

#endif							/* ZZ_MERKLE_H */
