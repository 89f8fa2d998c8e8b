/*
 * history.c
 *	  The replica's log window, its client table, and the hashing that ties
 *	  them together: batch digests, the history chain h_n and the Merkle
 *	  tree over a batch's replies (docs/protocol.md section 2).
 *
 * The log keeps, for every sequence number after the last stable
 * checkpoint, the ORDER-REQ as issued (with its view), the replies and the
 * undo of the client table.  Truncation drops what a stable checkpoint
 * covers; rollback undoes a speculative suffix (section 8), in the service
 * and in the client table, never below the stable checkpoint.
 */
#include <stdlib.h>
#include <string.h>

#include "replica_int.h"

static const uint8_t tag_batch[] = "zz-batch";
static const uint8_t tag_chain[] = "zz-chain";
static const uint8_t tag_leaf[] = "zz-leaf";
static const uint8_t tag_node[] = "zz-node";
static const uint8_t tag_root[] = "zz-root";

/*
 * The entry holding seq, or NULL if seq is outside (stable_seq, max_seq].
 */
zz_entry *
zz_entry_at(zz_replica *r, zz_seq seq)
{
	zz_entry   *e;

	if (seq <= r->stable_seq || seq > r->max_seq)
		return NULL;
	e = &r->ring[seq % r->ring_cap];
	return e->used ? e : NULL;
}

/*
 * Does our log pass through (seq, h): our stable checkpoint, or an entry
 * we hold at seq with history h?  Evidence a VIEW-CHANGE reports, and
 * evidence a LOCAL-COMMIT leans on, must (docs/protocol.md section 10).
 */
bool
zz_log_holds(zz_replica *r, zz_seq seq, const zz_digest *h)
{
	zz_entry   *e;

	if (seq == r->stable_seq)
		return zz_digest_eq(&r->stable_history, h);
	e = zz_entry_at(r, seq);
	return e != NULL && zz_digest_eq(&e->order->hdr.history, h);
}

/*
 * Release everything an entry owns and mark its slot free.
 */
void
zz_entry_clear(zz_entry *e)
{
	uint32_t	i;

	if (!e->used)
		return;
	if (e->replies)
	{
		for (i = 0; i < e->order->hdr.count; i++)
			free(e->replies[i].data);
		free(e->replies);
	}
	for (i = 0; i < e->n_undo; i++)
		free(e->undo[i].prev_reply);
	free(e->undo);
	free(e->skipped);
	free(e->tree);
	free(e->req_digests);
	zz_order_req_free(e->order);
	memset(e, 0, sizeof(*e));
}

/*
 * Find a client's record; with create, insert an empty one.  Open
 * addressing with linear probing; records are never deleted.
 */
zz_client_rec *
zz_client_lookup(zz_replica *r, uint32_t client, bool create)
{
	uint32_t	mask,
				i;

	if (create && (r->clients_used + 1) * 2 > r->clients_cap)
	{
		uint32_t	oldcap = r->clients_cap;
		zz_client_rec *old = r->clients;
		uint32_t	newcap = oldcap ? oldcap * 2 : 64;
		zz_client_rec *fresh = calloc(newcap, sizeof(*fresh));

		if (fresh == NULL)
			return NULL;
		r->clients = fresh;
		r->clients_cap = newcap;
		for (i = 0; i < oldcap; i++)
		{
			if (old[i].used)
			{
				uint32_t	j = (old[i].client * 2654435761u) & (newcap - 1);

				while (fresh[j].used)
					j = (j + 1) & (newcap - 1);
				fresh[j] = old[i];
			}
		}
		free(old);
	}
	if (r->clients_cap == 0)
		return NULL;
	mask = r->clients_cap - 1;
	for (i = (client * 2654435761u) & mask;; i = (i + 1) & mask)
	{
		zz_client_rec *c = &r->clients[i];

		if (c->used && c->client == client)
			return c;
		if (!c->used)
		{
			if (!create)
				return NULL;
			c->used = true;
			c->client = client;
			r->clients_used++;
			return c;
		}
	}
}

/*
 * d = H(batch): the primary's nondeterministic choices and the digests of
 * the batch's requests in order.  The choices are inside d, and so inside
 * h_n, because execution depends on them: two replicas with one history
 * must have executed with the same inputs.
 */
void
zz_batch_digest(zz_crypto *c, uint64_t nd_time, uint64_t nd_seed,
				const zz_digest *req_digests, uint32_t count, zz_digest *out)
{
	zz_iov		iov[5] = {
		{tag_batch, sizeof(tag_batch)},
		{&nd_time, sizeof(nd_time)},
		{&nd_seed, sizeof(nd_seed)},
		{&count, sizeof(count)},
		{req_digests, (size_t) count * sizeof(zz_digest)}
	};

	zz_hashv(c, iov, 5, out);
}

/*
 * h_n = H(h_{n-1} || n || d).
 */
void
zz_chain_history(zz_crypto *c, const zz_digest *prev, zz_seq seq,
				 const zz_digest *d, zz_digest *out)
{
	uint64_t	n = seq;
	zz_iov		iov[4] = {
		{tag_chain, sizeof(tag_chain)},
		{prev, sizeof(*prev)},
		{&n, sizeof(n)},
		{d, sizeof(*d)}
	};

	zz_hashv(c, iov, 4, out);
}

/*
 * A Merkle leaf binds one reply to its client and timestamp, so a signed
 * root commits each client to exactly its own reply.
 */
void
zz_reply_leaf(zz_crypto *c, uint32_t client, uint64_t ts,
			  const uint8_t *reply, uint32_t len, zz_digest *out)
{
	zz_iov		iov[5] = {
		{tag_leaf, sizeof(tag_leaf)},
		{&client, sizeof(client)},
		{&ts, sizeof(ts)},
		{&len, sizeof(len)},
		{reply, len}
	};

	zz_hashv(c, iov, 5, out);
}

static void
merkle_node(zz_crypto *c, const zz_digest *l, const zz_digest *r, zz_digest *out)
{
	zz_iov		iov[3] = {
		{tag_node, sizeof(tag_node)},
		{l, sizeof(*l)},
		{r, sizeof(*r)}
	};

	zz_hashv(c, iov, 3, out);
}

static void
merkle_finish(zz_crypto *c, uint32_t count, const zz_digest *top, zz_digest *root)
{
	zz_iov		iov[3] = {
		{tag_root, sizeof(tag_root)},
		{&count, sizeof(count)},
		{top, sizeof(*top)}
	};

	zz_hashv(c, iov, 3, root);
}

/*
 * R over count leaves.  The root also binds the count, so a batch of k
 * leaves cannot pass for a batch of another size.
 */
void
zz_merkle_root(zz_crypto *c, const zz_digest *leaves, uint32_t count, zz_digest *root)
{
	zz_digest  *tree;
	uint32_t	n;

	if (count == 0)
	{
		zz_digest	zero = {{0}};

		merkle_finish(c, 0, &zero, root);
		return;
	}
	tree = malloc(sizeof(zz_digest) * ZZ_MERKLE_TREE_LEN(count));
	if (tree == NULL)
		abort();
	n = zz_merkle_tree(c, leaves, count, tree);
	merkle_finish(c, count, &tree[n - 1], root);
	free(tree);
}

/*
 * R from a tree built by zz_merkle_tree.
 */
void
zz_merkle_tree_root(zz_crypto *c, const zz_digest *tree, uint32_t ndigests, uint32_t count,
					zz_digest *root)
{
	merkle_finish(c, count, &tree[ndigests - 1], root);
}

/*
 * All levels of the tree, leaves first, in one array: level 0 is the
 * count leaves, each next level ceil(width / 2) nodes, the last one node.
 * Building it once per batch lets every request's path be read off it.
 * Returns the number of digests written (at most ZZ_MERKLE_TREE_LEN(count)).
 */
uint32_t
zz_merkle_tree(zz_crypto *c, const zz_digest *leaves, uint32_t count, zz_digest *tree)
{
	uint32_t	w = count,
				off = 0,
				i;

	if (tree != leaves)
		memcpy(tree, leaves, sizeof(zz_digest) * count);
	while (w > 1)
	{
		zz_digest  *lvl = tree + off;
		zz_digest  *up = lvl + w;

		for (i = 0; i + 1 < w; i += 2)
			merkle_node(c, &lvl[i], &lvl[i + 1], &up[i / 2]);
		if (w & 1)
			up[w / 2] = lvl[w - 1];
		off += w;
		w = (w + 1) / 2;
	}
	return off + 1;
}

/*
 * The sibling path of leaf index, read off a tree from zz_merkle_tree;
 * levels where the node has no sibling (odd last node) contribute
 * nothing.  Returns the path's length.
 */
uint8_t
zz_merkle_tree_path(const zz_digest *tree, uint32_t count, uint32_t index, zz_digest *path)
{
	uint32_t	w = count,
				off = 0;
	uint8_t		len = 0;

	while (w > 1)
	{
		uint32_t	sib = index ^ 1;

		if (sib < w)
			path[len++] = tree[off + sib];
		off += w;
		w = (w + 1) / 2;
		index >>= 1;
	}
	return len;
}

/*
 * The path of one leaf, building the tree (tests and one-off callers).
 */
uint8_t
zz_merkle_path(zz_crypto *c, const zz_digest *leaves, uint32_t count,
			   uint32_t index, zz_digest *path)
{
	zz_digest  *tree = malloc(sizeof(zz_digest) * ZZ_MERKLE_TREE_LEN(count));
	uint8_t		len;

	if (tree == NULL)
		abort();
	zz_merkle_tree(c, leaves, count, tree);
	len = zz_merkle_tree_path(tree, count, index, path);
	free(tree);
	return len;
}

/*
 * Check that leaf sits at index among count leaves under root.
 */
bool
zz_merkle_verify(zz_crypto *c, const zz_digest *leaf, uint32_t count,
				 uint32_t index, const zz_digest *path, uint8_t path_len,
				 const zz_digest *root)
{
	zz_digest	cur = *leaf,
				got;
	uint32_t	w = count;
	uint8_t		used = 0;

	if (count == 0 || index >= count)
		return false;
	while (w > 1)
	{
		uint32_t	sib = index ^ 1;

		if (sib < w)
		{
			if (used >= path_len)
				return false;
			if (index & 1)
				merkle_node(c, &path[used], &cur, &cur);
			else
				merkle_node(c, &cur, &path[used], &cur);
			used++;
		}
		w = (w + 1) / 2;
		index >>= 1;
	}
	if (used != path_len)
		return false;
	merkle_finish(c, count, &cur, &got);
	return zz_digest_eq(&got, root);
}

/*
 * A stable checkpoint at seq: drop the log at or below it and let the
 * service forget its undo there.
 */
void
zz_truncate_below(zz_replica *r, zz_seq seq)
{
	zz_seq		s;
	zz_entry   *e;

	if (seq <= r->stable_seq)
		return;
	for (s = r->stable_seq + 1; s <= seq && s <= r->max_seq; s++)
	{
		e = &r->ring[s % r->ring_cap];
		if (e->used)
		{
			if (s == seq)
			{
				r->stable_history = e->order->hdr.history;
				r->stable_nd_time = e->order->hdr.nd_time;
			}
			r->past_seq[s % r->ring_cap] = s;
			r->past_history[s % r->ring_cap] = e->order->hdr.history;
			/* kept for replicas that lag (catchup.c); the replies go */
			if (e->replies)
			{
				for (uint32_t i = 0; i < e->order->hdr.count; i++)
					free(e->replies[i].data);
				free(e->replies);
				e->replies = NULL;
			}
			zz_retain_order(r, s, e->order);
			e->order = NULL;
		}
		else
			zz_retained_clear(r->retained); /* a hole: start anew */
		zz_entry_clear(e);
	}
	r->stable_seq = seq;
	if (r->svc.mark_stable)
		r->svc.mark_stable(r->svc.ctx, seq);
}

/*
 * Undo the client-table effects of one entry, newest request first.
 */
void
zz_undo_client_effects(zz_replica *r, zz_entry *e)
{
	uint32_t	i;

	for (i = e->n_undo; i-- > 0;)
	{
		zz_client_undo *u = &e->undo[i];
		zz_client_rec *c = zz_client_lookup(r, u->client, false);

		if (c == NULL)
			continue;
		free(c->reply);
		c->last_ts = u->prev_ts;
		c->last_req = u->prev_req;
		c->last_seq = u->prev_seq;
		c->last_history = u->prev_history;
		c->last_index = u->prev_index;
		c->reply = u->prev_reply;
		c->reply_len = u->prev_reply_len;
		u->prev_reply = NULL;
	}
}

/*
 * What each client has ordered is exactly what is executed or still in
 * the log: recompute it after the log or the open batch lost entries
 * (rollback, a view change dropping the primary's batch).  Otherwise a
 * request that was ordered and then dropped would never be ordered again.
 */
void
zz_recompute_ordered(zz_replica *r)
{
	zz_seq		s;
	uint32_t	i;

	for (i = 0; i < r->clients_cap; i++)
	{
		zz_client_rec *c = &r->clients[i];

		if (!c->used)
			continue;
		c->ordered_ts = c->last_ts;
		c->ordered_seq = c->last_seq;
	}
	for (s = r->last_executed + 1; s <= r->max_seq; s++)
	{
		zz_entry   *e = zz_entry_at(r, s);

		if (e == NULL)
			continue;
		for (i = 0; i < e->order->hdr.count; i++)
		{
			zz_client_rec *c = zz_client_lookup(r, e->order->reqs[i].client, true);

			if (c && e->order->reqs[i].timestamp > c->ordered_ts)
			{
				c->ordered_ts = e->order->reqs[i].timestamp;
				c->ordered_seq = s;
			}
		}
	}
}

/*
 * Roll the log back to seq: undo, newest first, every batch above it, in
 * the service and in the client table (also those submitted and not yet
 * finished: their effects on the table are made when they are handed over).  Never below the stable checkpoint.
 */
bool
zz_rollback_to(zz_replica *r, zz_seq seq)
{
	zz_seq		s;
	zz_seq		undone = 0;

	if (seq < r->stable_seq)
		return false;

	/*
	 * Also when what is above seq is only handed over, not finished (the
	 * execution window): the service drops those batches, and undoes them
	 * if it already applied them.
	 */
	if (r->last_executed > seq || zz_last_submitted(r) > seq)
	{
		if (r->svc.rollback == NULL || !r->svc.rollback(r->svc.ctx, seq))
			return false;
	}
	for (s = r->max_seq; s > seq; s--)
	{
		zz_entry   *e = &r->ring[s % r->ring_cap];

		if (!e->used)
			continue;
		if (e->submitted)
		{
			zz_undo_client_effects(r, e);
			undone++;
		}
		zz_entry_clear(e);
	}
	r->stats.rollbacks += undone;
	zz_checkpoint_rollback(r, seq);
	if (r->has_cc && r->max_cc.seq > seq)
		r->has_cc = false;		/* its history is gone from ours */
	r->max_seq = seq;
	if (r->last_executed > seq)
		r->last_executed = seq;
	if (seq == r->stable_seq)
		r->max_history = r->stable_history;
	else
		r->max_history = zz_entry_at(r, seq)->order->hdr.history;
	/*
	 * Time as of the history we keep: a rolled-back batch's time must not
	 * hold back the next primary's (order_time_plausible in replica.c).
	 */
	r->last_nd_time = seq == r->stable_seq ? r->stable_nd_time :
		zz_entry_at(r, seq)->order->hdr.nd_time;

	/* h at the last executed, which may lie below seq (zz_replica_check). */
	if (r->last_executed == seq)
		r->exec_history = r->max_history;
	else if (r->last_executed == r->stable_seq)
		r->exec_history = r->stable_history;
	else
		r->exec_history = zz_entry_at(r, r->last_executed)->order->hdr.history;

	zz_recompute_ordered(r);
	zz_replica_trace(r, "rolled back to %llu (%llu batches undone)",
					 (unsigned long long) seq, (unsigned long long) undone);
	return true;
}

static int
cmp_rec(const void *a, const void *b)
{
	const zz_client_rec *x = *(const zz_client_rec *const *) a;
	const zz_client_rec *y = *(const zz_client_rec *const *) b;

	return (x->client > y->client) - (x->client < y->client);
}

/*
 * The reply a client was last given, kept in its record from execution
 * (or installed by state transfer), so every correct replica serializes
 * the same table whether or not it has answered the client yet.
 */
bool
zz_client_reply(const zz_client_rec *c, const uint8_t **reply, uint32_t *len)
{
	*reply = c->reply;
	*len = c->reply_len;
	return c->reply != NULL;
}

/*
 * The client table's replicated part (what exactly-once and late answers
 * need) in a canonical order: u64 the time of the last executed batch,
 * u32 count, then per client u32 id, u64 last_ts, the request digest, u64
 * last_seq, h at last_seq, and the reply (u32 length + bytes).  It is part
 * of the checkpoint digest and of state transfer; the batch time lets a
 * replica that installs the checkpoint keep time from going back
 * (docs/protocol.md section 9).
 */
void
zz_client_table_serialize(zz_replica *r, zz_buf *b)
{
	zz_client_rec **v;
	uint32_t	i,
				n = 0;
	zz_entry   *last = zz_entry_at(r, r->last_executed);
	uint64_t	t = last != NULL ? last->order->hdr.nd_time : r->stable_nd_time;

	zz_buf_reset(b);
	zz_buf_append(b, &t, sizeof(t));
	v = malloc(sizeof(*v) * (r->clients_used ? r->clients_used : 1));
	if (v == NULL)
		abort();
	for (i = 0; i < r->clients_cap; i++)
		if (r->clients[i].used && r->clients[i].last_ts > 0)
			v[n++] = &r->clients[i];
	qsort(v, n, sizeof(*v), cmp_rec);
	zz_buf_append(b, &n, sizeof(n));
	for (i = 0; i < n; i++)
	{
		const uint8_t *reply = NULL;
		uint32_t	len = 0;

		if (!zz_client_reply(v[i], &reply, &len))
			len = 0;
		zz_buf_append(b, &v[i]->client, sizeof(v[i]->client));
		zz_buf_append(b, &v[i]->last_ts, sizeof(v[i]->last_ts));
		zz_buf_append(b, &v[i]->last_req, sizeof(v[i]->last_req));
		zz_buf_append(b, &v[i]->last_seq, sizeof(v[i]->last_seq));
		zz_buf_append(b, &v[i]->last_history, sizeof(v[i]->last_history));
		zz_buf_append(b, &len, sizeof(len));
		zz_buf_append(b, reply, len);
	}
	free(v);
}

#define ZZ_CLIENT_TABLE_REC (4 + 8 + ZZ_DIGEST_LEN + 8 + ZZ_DIGEST_LEN + 4)

/*
 * Replace the client table with a serialized one (state transfer).  The
 * caller has already checked it against a certified digest; this only
 * rejects a malformed encoding.  *batch_time gets the time of the batch
 * the table was taken after.
 */
bool
zz_client_table_install(zz_replica *r, const uint8_t *p, size_t len, uint64_t *batch_time)
{
	const uint8_t *end = p + len;
	uint32_t	n,
				i;

	if (len < 12)
		return false;
	memcpy(batch_time, p, 8);
	p += 8;
	memcpy(&n, p, 4);
	p += 4;
	if ((size_t) (end - p) / ZZ_CLIENT_TABLE_REC < n)
		return false;
	for (i = 0; i < r->clients_cap; i++)
	{
		zz_client_rec *c = &r->clients[i];

		free(c->reply);
		c->reply = NULL;
		c->reply_len = 0;
		c->last_ts = c->ordered_ts = 0;
		c->last_seq = c->ordered_seq = 0;
	}
	for (i = 0; i < n; i++)
	{
		uint32_t	id,
					rl;
		zz_client_rec *c;

		if ((size_t) (end - p) < ZZ_CLIENT_TABLE_REC)
			return false;
		memcpy(&rl, p + ZZ_CLIENT_TABLE_REC - 4, 4);
		if (rl > ZZ_MAX_REPLY_LEN || (size_t) (end - p) - ZZ_CLIENT_TABLE_REC < rl)
			return false;
		memcpy(&id, p, 4);
		c = zz_client_lookup(r, id, true);
		if (c == NULL)
			return false;
		memcpy(&c->last_ts, p + 4, 8);
		memcpy(&c->last_req, p + 12, ZZ_DIGEST_LEN);
		memcpy(&c->last_seq, p + 12 + ZZ_DIGEST_LEN, 8);
		memcpy(&c->last_history, p + 20 + ZZ_DIGEST_LEN, ZZ_DIGEST_LEN);
		c->reply = malloc(rl ? rl : 1);
		if (c->reply == NULL)
			return false;
		memcpy(c->reply, p + ZZ_CLIENT_TABLE_REC, rl);
		c->reply_len = rl;
		c->ordered_ts = c->last_ts;
		c->ordered_seq = c->last_seq;
		p += ZZ_CLIENT_TABLE_REC + rl;
	}
	return p == end;
}
