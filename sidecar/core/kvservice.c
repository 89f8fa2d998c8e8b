/*
 * kvservice.c
 *	  The in-memory deterministic key-value service (see kvservice.h).
 *
 * Layout: an open-addressing hash table (linear probing, power-of-two
 * capacity, at most half full) of slots.  A slot owns its key and value;
 * short ones live inside the slot, longer ones in a heap buffer that only
 * grows, so steady-state execution allocates nothing but the replies.
 * A key that becomes absent (only a rollback can remove a key) keeps its
 * slot with present = false; that keeps probing free of tombstones and
 * lets the dirty flag stay with the key.
 *
 * Two logs share one shape, a record array plus a byte arena holding
 * copies of keys and old values:
 *	- the undo log, one record per change, tagged with the sequence number
 *	  that made it, popped by rollback and trimmed by mark_stable;
 *	- the dirty list, one record per key changed since the lanes were
 *	  last brought up to date, holding the value the lanes account for.
 */
#include "kvservice.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define KV_INLINE		24
#define KV_MIN_CAP		16
#define KV_LANE_BYTES	(ZZ_KV_LANES * 2)
#define KV_SNAP_MAGIC	"ZZKV"
#define KV_SNAP_VERSION 1

typedef struct kv_slot
{
	uint64_t	hash;			/* 0: empty slot */
	uint32_t	klen;
	uint32_t	vlen;
	uint32_t	vcap;			/* capacity of vheap; 0 while inline */
	bool		present;
	bool		dirty;			/* has a record in the dirty list */
	uint8_t    *kheap;			/* key, if longer than KV_INLINE */
	uint8_t    *vheap;			/* value, once it outgrew KV_INLINE */
	uint8_t		kin[KV_INLINE];
	uint8_t		vin[KV_INLINE];
} kv_slot;

/* A growable byte arena; records refer to it by offset. */
typedef struct kv_bytes
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} kv_bytes;

/* One saved (key, value-or-absent); used by both logs. */
typedef struct kv_saved
{
	zz_seq		seq;			/* undo: the batch that made the change */
	size_t		off;			/* key bytes, then value bytes */
	uint32_t	klen;
	uint32_t	vlen;
	bool		had;			/* the key was present with that value */
} kv_saved;

typedef struct kv_log
{
	kv_saved   *recs;
	size_t		len;
	size_t		cap;
	kv_bytes	bytes;
} kv_log;

struct zz_kvservice
{
	zz_service	svc;
	kv_slot    *slots;
	uint32_t	cap;			/* power of two */
	uint32_t	used;			/* slots holding a key, present or not */
	uint32_t	npresent;
	uint16_t	lanes[ZZ_KV_LANES]; /* LtHash of the pairs, minus dirty keys' changes */
	kv_log		dirty;
	kv_log		undo;
	zz_seq		last;			/* highest seq executed */
	zz_seq		stable;			/* highest seq marked stable */
	EVP_MD_CTX *mdctx;
	EVP_MD	   *shake;
	EVP_MD	   *sha256;
};

static zz_exec_status kv_execute(void *ctx, zz_seq seq, uint64_t nd_time,
								 uint64_t nd_seed, const zz_op *ops,
								 uint32_t count, bool want_digest,
								 zz_exec_result *res);
static bool kv_rollback(void *ctx, zz_seq seq);
static void kv_mark_stable(void *ctx, zz_seq seq);
static bool kv_snapshot(void *ctx, zz_seq seq, uint8_t **out, size_t *outlen);
static bool kv_install(void *ctx, zz_seq seq, const zz_digest *history,
					   const uint8_t *data, size_t len, const zz_digest *expect);

/* ---------------------------------------------------------------- helpers */

/*
 * Append n bytes to an arena, growing it geometrically so that the
 * amortized cost per change stays constant.  False on allocation failure.
 */
static bool
bytes_push(kv_bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap)
	{
		size_t		ncap = b->cap ? b->cap : 256;
		uint8_t    *nd;

		while (ncap < b->len + n)
			ncap *= 2;
		nd = realloc(b->data, ncap);
		if (nd == NULL)
			return false;
		b->data = nd;
		b->cap = ncap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return true;
}

/*
 * Save (key, value-or-absent) at the end of a log.  Used for undo records
 * (seq = the changing batch) and dirty records (seq unused).
 */
static bool
log_push(kv_log *log, zz_seq seq, const uint8_t *key, uint32_t klen,
		 bool had, const uint8_t *val, uint32_t vlen)
{
	kv_saved   *rec;

	if (log->len == log->cap)
	{
		size_t		ncap = log->cap ? 2 * log->cap : 64;
		kv_saved   *nr = realloc(log->recs, ncap * sizeof(kv_saved));

		if (nr == NULL)
			return false;
		log->recs = nr;
		log->cap = ncap;
	}
	rec = &log->recs[log->len];
	rec->seq = seq;
	rec->off = log->bytes.len;
	rec->klen = klen;
	rec->vlen = had ? vlen : 0;
	rec->had = had;
	if (!bytes_push(&log->bytes, key, klen) ||
		!bytes_push(&log->bytes, val, rec->vlen))
	{
		log->bytes.len = rec->off;
		return false;
	}
	log->len++;
	return true;
}

static void
log_clear(kv_log *log)
{
	log->len = 0;
	log->bytes.len = 0;
}

static void
log_free(kv_log *log)
{
	free(log->recs);
	free(log->bytes.data);
	memset(log, 0, sizeof(*log));
}

static inline const uint8_t *
slot_key(const kv_slot *s)
{
	return s->klen <= KV_INLINE ? s->kin : s->kheap;
}

static inline const uint8_t *
slot_val(const kv_slot *s)
{
	return s->vcap ? s->vheap : s->vin;
}

static void
slot_release(kv_slot *s)
{
	if (s->klen > KV_INLINE)
		free(s->kheap);
	if (s->vcap)
		free(s->vheap);
}

/*
 * FNV-1a with a final avalanche; never 0, which marks an empty slot.
 * The table's hash need not be cryptographic: the digest does not use it.
 */
static uint64_t
kv_hash_key(const uint8_t *key, uint32_t klen)
{
	uint64_t	h = 1469598103934665603ULL;

	for (uint32_t i = 0; i < klen; i++)
	{
		h ^= key[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h ? h : 1;
}

/* Index of key's slot, or -1. */
static int64_t
kv_find(const zz_kvservice *kv, const uint8_t *key, uint32_t klen, uint64_t h)
{
	uint32_t	mask = kv->cap - 1;

	for (uint32_t i = (uint32_t) h & mask;; i = (i + 1) & mask)
	{
		const kv_slot *s = &kv->slots[i];

		if (s->hash == 0)
			return -1;
		if (s->hash == h && s->klen == klen && memcmp(slot_key(s), key, klen) == 0)
			return i;
	}
}

/*
 * Double the table.  Slots move by value: their key and value pointers stay
 * valid because inline storage is addressed through slot_key/slot_val.
 */
static bool
kv_grow(zz_kvservice *kv)
{
	uint32_t	ncap = kv->cap * 2;
	kv_slot    *ns = calloc(ncap, sizeof(kv_slot));

	if (ns == NULL)
		return false;
	for (uint32_t i = 0; i < kv->cap; i++)
	{
		kv_slot    *s = &kv->slots[i];
		uint32_t	j;

		if (s->hash == 0)
			continue;
		for (j = (uint32_t) s->hash & (ncap - 1); ns[j].hash != 0; j = (j + 1) & (ncap - 1))
			;
		ns[j] = *s;
	}
	free(kv->slots);
	kv->slots = ns;
	kv->cap = ncap;
	return true;
}

/*
 * Find key's slot, creating an absent one if it has none.  Returns the
 * slot (valid until the next insertion) or NULL on allocation failure.
 */
static kv_slot *
kv_lookup_or_add(zz_kvservice *kv, const uint8_t *key, uint32_t klen)
{
	uint64_t	h = kv_hash_key(key, klen);
	int64_t		idx = kv_find(kv, key, klen, h);
	kv_slot    *s;
	uint32_t	i;

	if (idx >= 0)
		return &kv->slots[idx];
	if (2 * (kv->used + 1) > kv->cap && !kv_grow(kv))
		return NULL;
	for (i = (uint32_t) h & (kv->cap - 1); kv->slots[i].hash != 0; i = (i + 1) & (kv->cap - 1))
		;
	s = &kv->slots[i];
	memset(s, 0, sizeof(*s));
	if (klen > KV_INLINE)
	{
		s->kheap = malloc(klen);
		if (s->kheap == NULL)
			return NULL;
		memcpy(s->kheap, key, klen);
	}
	else
		memcpy(s->kin, key, klen);
	s->hash = h;
	s->klen = klen;
	kv->used++;
	return s;
}

/* Make room for a value of vlen bytes in s, keeping the first keep bytes. */
static bool
slot_reserve(kv_slot *s, uint32_t vlen, uint32_t keep)
{
	if (s->vcap == 0)
	{
		uint8_t    *heap;
		uint32_t	ncap;

		if (vlen <= KV_INLINE)
			return true;
		ncap = vlen < 64 ? 64 : vlen;
		heap = malloc(ncap);
		if (heap == NULL)
			return false;
		memcpy(heap, s->vin, keep);
		s->vheap = heap;
		s->vcap = ncap;
	}
	else if (vlen > s->vcap)
	{
		uint32_t	ncap = s->vcap * 2 > vlen ? s->vcap * 2 : vlen;
		uint8_t    *heap = realloc(s->vheap, ncap);

		if (heap == NULL)
			return false;
		s->vheap = heap;
		s->vcap = ncap;
	}
	return true;
}

/*
 * Before changing s: log the undo record for seq and, the first time since
 * the lanes were folded, the dirty record.  Both copy the old value.
 */
static bool
kv_before_change(zz_kvservice *kv, kv_slot *s, zz_seq seq, bool log_undo)
{
	if (log_undo &&
		!log_push(&kv->undo, seq, slot_key(s), s->klen, s->present,
				  slot_val(s), s->vlen))
		return false;
	if (!s->dirty)
	{
		if (!log_push(&kv->dirty, 0, slot_key(s), s->klen, s->present,
					  slot_val(s), s->vlen))
			return false;
		s->dirty = true;
	}
	return true;
}

/* Set s's value (present) or make it absent, without logging. */
static bool
slot_set(zz_kvservice *kv, kv_slot *s, bool present, const uint8_t *val, uint32_t vlen)
{
	if (!present)
	{
		if (s->present)
			kv->npresent--;
		s->present = false;
		s->vlen = 0;
		return true;
	}
	if (!slot_reserve(s, vlen, 0))
		return false;
	memcpy(s->vcap ? s->vheap : s->vin, val, vlen);
	s->vlen = vlen;
	if (!s->present)
		kv->npresent++;
	s->present = true;
	return true;
}

/* ------------------------------------------------------------ the digest */

/* Expand one (key, value) pair to its lane vector with SHAKE128. */
static void
kv_pair_lanes(const zz_kvservice *kv, const uint8_t *key, uint32_t klen,
			  const uint8_t *val, uint32_t vlen, uint16_t *out)
{
	static const char tag[] = "zyzzyva-kv-lthash-v1";
	uint8_t		lens[8];
	uint8_t		buf[KV_LANE_BYTES];

	for (int i = 0; i < 4; i++)
	{
		lens[i] = (uint8_t) (klen >> (8 * i));
		lens[4 + i] = (uint8_t) (vlen >> (8 * i));
	}
	if (!EVP_DigestInit_ex2(kv->mdctx, kv->shake, NULL) ||
		!EVP_DigestUpdate(kv->mdctx, tag, sizeof(tag)) ||
		!EVP_DigestUpdate(kv->mdctx, lens, sizeof(lens)) ||
		!EVP_DigestUpdate(kv->mdctx, key, klen) ||
		!EVP_DigestUpdate(kv->mdctx, val, vlen) ||
		!EVP_DigestFinalXOF(kv->mdctx, buf, sizeof(buf)))
		abort();				/* OpenSSL failing on a built-in hash: can't happen */
	for (int i = 0; i < ZZ_KV_LANES; i++)
		out[i] = (uint16_t) (buf[2 * i] | (buf[2 * i + 1] << 8));
}

/* lanes += sign * lanes(key, val), modulo 2^16 per lane. */
static void
lanes_apply(const zz_kvservice *kv, uint16_t *lanes, int sign, const uint8_t *key,
			uint32_t klen, const uint8_t *val, uint32_t vlen)
{
	uint16_t	pl[ZZ_KV_LANES];

	kv_pair_lanes(kv, key, klen, val, vlen, pl);
	for (int i = 0; i < ZZ_KV_LANES; i++)
		lanes[i] = (uint16_t) (sign > 0 ? lanes[i] + pl[i] : lanes[i] - pl[i]);
}

/* The digest handed out: SHA-256 of the lanes, little-endian. */
static void
lanes_digest(const zz_kvservice *kv, const uint16_t *lanes, zz_digest *out)
{
	uint8_t		buf[KV_LANE_BYTES];
	unsigned int olen = 0;

	for (int i = 0; i < ZZ_KV_LANES; i++)
	{
		buf[2 * i] = (uint8_t) lanes[i];
		buf[2 * i + 1] = (uint8_t) (lanes[i] >> 8);
	}
	if (!EVP_DigestInit_ex2(kv->mdctx, kv->sha256, NULL) ||
		!EVP_DigestUpdate(kv->mdctx, buf, sizeof(buf)) ||
		!EVP_DigestFinal_ex(kv->mdctx, out->b, &olen))
		abort();
}

/*
 * Fold every dirty key into the lanes: take out the pair the lanes account
 * for, put in the current one.  Keys back at their old value cost nothing.
 */
static void
kv_fold_dirty(zz_kvservice *kv)
{
	for (size_t i = 0; i < kv->dirty.len; i++)
	{
		const kv_saved *d = &kv->dirty.recs[i];
		const uint8_t *key = kv->dirty.bytes.data + d->off;
		const uint8_t *old = key + d->klen;
		int64_t		idx = kv_find(kv, key, d->klen, kv_hash_key(key, d->klen));
		kv_slot    *s;

		if (idx < 0)
			abort();			/* slots are never removed while dirty */
		s = &kv->slots[idx];
		s->dirty = false;
		if (d->had && s->present && d->vlen == s->vlen &&
			memcmp(old, slot_val(s), s->vlen) == 0)
			continue;
		if (d->had)
			lanes_apply(kv, kv->lanes, -1, key, d->klen, old, d->vlen);
		if (s->present)
			lanes_apply(kv, kv->lanes, +1, key, d->klen, slot_val(s), s->vlen);
	}
	log_clear(&kv->dirty);
}

void
zz_kv_digest(zz_kvservice *kv, zz_digest *out)
{
	kv_fold_dirty(kv);
	lanes_digest(kv, kv->lanes, out);
}

/* The lanes computed from nothing but the present pairs. */
static void
kv_full_lanes(const zz_kvservice *kv, uint16_t *lanes)
{
	memset(lanes, 0, KV_LANE_BYTES);
	for (uint32_t i = 0; i < kv->cap; i++)
	{
		const kv_slot *s = &kv->slots[i];

		if (s->hash != 0 && s->present)
			lanes_apply(kv, lanes, +1, slot_key(s), s->klen, slot_val(s), s->vlen);
	}
}

/*
 * The digest computed from nothing but the present pairs.  Tests compare it
 * with the incremental one; install uses the same sum to check a snapshot.
 */
void
zz_kv_digest_full(const zz_kvservice *kv, zz_digest *out)
{
	uint16_t	lanes[ZZ_KV_LANES];

	kv_full_lanes(kv, lanes);
	lanes_digest(kv, lanes, out);
}

void
zz_kv_digest_hex(const zz_digest *d, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < ZZ_DIGEST_LEN; i++)
	{
		out[2 * i] = hex[d->b[i] >> 4];
		out[2 * i + 1] = hex[d->b[i] & 15];
	}
	out[2 * ZZ_DIGEST_LEN] = '\0';
}

/* ------------------------------------------------------- create and free */

/* Reset kv to an empty table of KV_MIN_CAP slots. */
static bool
kv_init_table(zz_kvservice *kv)
{
	kv->slots = calloc(KV_MIN_CAP, sizeof(kv_slot));
	if (kv->slots == NULL)
		return false;
	kv->cap = KV_MIN_CAP;
	kv->used = 0;
	kv->npresent = 0;
	memset(kv->lanes, 0, sizeof(kv->lanes));
	return true;
}

static void
kv_free_table(zz_kvservice *kv)
{
	if (kv->slots == NULL)
		return;
	for (uint32_t i = 0; i < kv->cap; i++)
		if (kv->slots[i].hash != 0)
			slot_release(&kv->slots[i]);
	free(kv->slots);
	kv->slots = NULL;
}

zz_kvservice *
zz_kv_create(void)
{
	zz_kvservice *kv = calloc(1, sizeof(zz_kvservice));

	if (kv == NULL)
		return NULL;
	kv->mdctx = EVP_MD_CTX_new();
	kv->shake = EVP_MD_fetch(NULL, "SHAKE128", NULL);
	kv->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (kv->mdctx == NULL || kv->shake == NULL || kv->sha256 == NULL ||
		!kv_init_table(kv))
	{
		zz_kv_free(kv);
		return NULL;
	}
	kv->svc.ctx = kv;
	kv->svc.execute = kv_execute;
	kv->svc.rollback = kv_rollback;
	kv->svc.mark_stable = kv_mark_stable;
	kv->svc.snapshot = kv_snapshot;
	kv->svc.install = kv_install;
	return kv;
}

void
zz_kv_free(zz_kvservice *kv)
{
	if (kv == NULL)
		return;
	kv_free_table(kv);
	log_free(&kv->dirty);
	log_free(&kv->undo);
	EVP_MD_CTX_free(kv->mdctx);
	EVP_MD_free(kv->shake);
	EVP_MD_free(kv->sha256);
	free(kv);
}

const zz_service *
zz_kv_service(zz_kvservice *kv)
{
	return &kv->svc;
}

zz_seq
zz_kv_last_executed(const zz_kvservice *kv)
{
	return kv->last;
}

zz_seq
zz_kv_stable(const zz_kvservice *kv)
{
	return kv->stable;
}

uint32_t
zz_kv_count(const zz_kvservice *kv)
{
	return kv->npresent;
}

size_t
zz_kv_undo_count(const zz_kvservice *kv)
{
	return kv->undo.len;
}

bool
zz_kv_get(const zz_kvservice *kv, const char *key, size_t klen,
		  const uint8_t **val, uint32_t *vlen)
{
	int64_t		idx;

	if (klen == 0 || klen > ZZ_KV_MAX_KEY)
		return false;
	idx = kv_find(kv, (const uint8_t *) key, (uint32_t) klen,
				  kv_hash_key((const uint8_t *) key, (uint32_t) klen));
	if (idx < 0 || !kv->slots[idx].present)
		return false;
	*val = slot_val(&kv->slots[idx]);
	*vlen = kv->slots[idx].vlen;
	return true;
}

/* -------------------------------------------------------------- execute */

/* A reply under construction: small ones are built on the stack. */
typedef struct kv_out
{
	char		small[48];
	const uint8_t *tail;		/* optional bytes after small (GET's value) */
	uint32_t	tail_len;
	uint32_t	len;			/* bytes used in small */
} kv_out;

static void
out_str(kv_out *o, const char *s)
{
	size_t		n = strlen(s);

	memcpy(o->small, s, n);
	o->len = (uint32_t) n;
}

static void
out_i64(kv_out *o, int64_t v)
{
	char		tmp[24];
	int			n = 0;
	uint64_t	u = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;

	do
	{
		tmp[n++] = (char) ('0' + u % 10);
		u /= 10;
	} while (u > 0);
	o->len = 0;
	if (v < 0)
		o->small[o->len++] = '-';
	while (n > 0)
		o->small[o->len++] = tmp[--n];
}

static void
out_u64(kv_out *o, uint64_t u)
{
	char		tmp[24];
	int			n = 0;

	do
	{
		tmp[n++] = (char) ('0' + u % 10);
		u /= 10;
	} while (u > 0);
	o->len = 0;
	while (n > 0)
		o->small[o->len++] = tmp[--n];
}

/*
 * Parse a strict signed decimal: optional sign, 1..19 digits, nothing else.
 * False if malformed or outside int64.
 */
static bool
parse_i64(const uint8_t *p, uint32_t len, int64_t *out)
{
	uint32_t	i = 0;
	bool		neg = false;
	uint64_t	u = 0;

	if (len > 0 && (p[0] == '-' || p[0] == '+'))
	{
		neg = p[0] == '-';
		i = 1;
	}
	if (i == len || len - i > 19)
		return false;
	for (; i < len; i++)
	{
		if (p[i] < '0' || p[i] > '9')
			return false;
		u = u * 10 + (uint64_t) (p[i] - '0');
	}
	if (neg)
	{
		if (u > (uint64_t) INT64_MAX + 1)
			return false;
		*out = u == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) u;
	}
	else
	{
		if (u > (uint64_t) INT64_MAX)
			return false;
		*out = (int64_t) u;
	}
	return true;
}

/* splitmix64's finalizer: RAND's deterministic mixing of nd_seed and index. */
static uint64_t
mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool
verb_is(const uint8_t *p, uint32_t len, const char *verb)
{
	size_t		n = strlen(verb);

	return len == n && memcmp(p, verb, n) == 0;
}

/* Find the first space in p[0..len), or len. */
static uint32_t
find_space(const uint8_t *p, uint32_t len)
{
	const uint8_t *sp = memchr(p, ' ', len);

	return sp ? (uint32_t) (sp - p) : len;
}

/*
 * Execute one operation of the batch at seq.  The reply goes to *o; any
 * change is logged for undo.  Returns false only on allocation failure.
 */
static bool
kv_apply(zz_kvservice *kv, zz_seq seq, uint64_t nd_time, uint64_t nd_seed,
		 uint32_t index, const zz_op *op, kv_out *o)
{
	const uint8_t *p = op->data;
	uint32_t	len = op->len;
	uint32_t	vend = find_space(p, len);
	const uint8_t *verb = p;
	uint32_t	vlen = vend;
	const uint8_t *rest = p + (vend < len ? vend + 1 : len);
	uint32_t	rlen = vend < len ? len - vend - 1 : 0;
	bool		has_rest = vend < len;
	uint32_t	kend;
	kv_slot    *s;

	o->tail = NULL;
	o->tail_len = 0;
	if (len == 0)
	{
		out_str(o, "ERR empty operation");
		return true;
	}
	if (verb_is(verb, vlen, "NOW") || verb_is(verb, vlen, "RAND"))
	{
		if (has_rest)
			out_str(o, verb[0] == 'N' ? "ERR usage: NOW" : "ERR usage: RAND");
		else if (verb[0] == 'N')
			out_u64(o, nd_time);
		else
			out_u64(o, mix64(nd_seed ^ mix64(index)));
		return true;
	}
	if (!verb_is(verb, vlen, "PUT") && !verb_is(verb, vlen, "GET") &&
		!verb_is(verb, vlen, "ADD") && !verb_is(verb, vlen, "APPEND"))
	{
		out_str(o, "ERR unknown command");
		return true;
	}

	/* All four take a key first. */
	kend = find_space(rest, rlen);
	if (!has_rest || kend == 0)
	{
		out_str(o, "ERR missing key");
		return true;
	}
	if (kend > ZZ_KV_MAX_KEY)
	{
		out_str(o, "ERR key too long");
		return true;
	}

	if (verb[0] == 'G')
	{
		int64_t		idx;

		if (kend != rlen)
		{
			out_str(o, "ERR usage: GET key");
			return true;
		}
		idx = kv_find(kv, rest, kend, kv_hash_key(rest, kend));
		if (idx < 0 || !kv->slots[idx].present)
			out_str(o, "NONE");
		else
		{
			out_str(o, "VALUE ");
			o->tail = slot_val(&kv->slots[idx]);
			o->tail_len = kv->slots[idx].vlen;
		}
		return true;
	}

	/* PUT, ADD and APPEND take an argument after the key. */
	if (kend == rlen)
	{
		out_str(o, verb[0] == 'P' ? "ERR usage: PUT key value" :
				verb[0] == 'A' && vlen == 3 ? "ERR usage: ADD key delta" :
				"ERR usage: APPEND key string");
		return true;
	}
	{
		const uint8_t *arg = rest + kend + 1;
		uint32_t	alen = rlen - kend - 1;

		if (verb[0] == 'P')
		{
			if (alen > ZZ_KV_MAX_VALUE)
			{
				out_str(o, "ERR value too long");
				return true;
			}
			if ((s = kv_lookup_or_add(kv, rest, kend)) == NULL ||
				!kv_before_change(kv, s, seq, true) ||
				!slot_set(kv, s, true, arg, alen))
				return false;
			out_str(o, "OK");
		}
		else if (vlen == 3)		/* ADD */
		{
			int64_t		delta;
			int64_t		cur = 0;
			int64_t		sum;
			kv_out		num;

			if (!parse_i64(arg, alen, &delta))
			{
				out_str(o, "ERR bad integer");
				return true;
			}
			if ((s = kv_lookup_or_add(kv, rest, kend)) == NULL)
				return false;
			if (s->present && !parse_i64(slot_val(s), s->vlen, &cur))
			{
				out_str(o, "ERR value is not an integer");
				return true;
			}
			if (__builtin_add_overflow(cur, delta, &sum))
			{
				out_str(o, "ERR integer overflow");
				return true;
			}
			out_i64(&num, sum);
			if (!kv_before_change(kv, s, seq, true) ||
				!slot_set(kv, s, true, (const uint8_t *) num.small, num.len))
				return false;
			*o = num;
			o->tail = NULL;
			o->tail_len = 0;
		}
		else					/* APPEND */
		{
			uint32_t	old;

			if ((s = kv_lookup_or_add(kv, rest, kend)) == NULL)
				return false;
			old = s->present ? s->vlen : 0;
			if ((uint64_t) old + alen > ZZ_KV_MAX_VALUE)
			{
				out_str(o, "ERR value too long");
				return true;
			}
			if (!kv_before_change(kv, s, seq, true) ||
				!slot_reserve(s, old + alen, old))
				return false;
			memcpy((s->vcap ? s->vheap : s->vin) + old, arg, alen);
			s->vlen = old + alen;
			if (!s->present)
				kv->npresent++;
			s->present = true;
			out_u64(o, s->vlen);
		}
	}
	return true;
}

/* Copy a built reply into a malloc'd zz_reply. */
static bool
out_finish(const kv_out *o, zz_reply *r)
{
	r->len = o->len + o->tail_len;
	r->data = malloc(r->len ? r->len : 1);
	if (r->data == NULL)
		return false;
	memcpy(r->data, o->small, o->len);
	if (o->tail_len)
		memcpy(r->data + o->len, o->tail, o->tail_len);
	return true;
}

/*
 * zz_service.execute: run a batch in order.  Sequence numbers must rise
 * (gaps are allowed: a state transfer may have skipped some); anything else
 * is a caller bug reported as ZZ_EXEC_FAILED.
 */
static zz_exec_status
kv_execute(void *ctx, zz_seq seq, uint64_t nd_time, uint64_t nd_seed,
		   const zz_op *ops, uint32_t count, bool want_digest,
		   zz_exec_result *res)
{
	zz_kvservice *kv = ctx;
	zz_reply   *replies;

	memset(res, 0, sizeof(*res));
	if (seq <= kv->last)
		return ZZ_EXEC_FAILED;
	replies = calloc(count ? count : 1, sizeof(zz_reply));
	if (replies == NULL)
		return ZZ_EXEC_FAILED;
	for (uint32_t i = 0; i < count; i++)
	{
		kv_out		o;

		if (!kv_apply(kv, seq, nd_time, nd_seed, i, &ops[i], &o) ||
			!out_finish(&o, &replies[i]))
		{
			for (uint32_t j = 0; j < i; j++)
				free(replies[j].data);
			free(replies);
			return ZZ_EXEC_FAILED;
		}
	}
	kv->last = seq;
	res->seq = seq;
	res->count = count;
	res->replies = replies;
	res->has_digest = want_digest;
	if (want_digest)
		zz_kv_digest(kv, &res->state);
	return ZZ_EXEC_DONE;
}

/* ------------------------------------------------------ rollback, stable */

/*
 * Undo the newest undo record: put the saved value (or absence) back.
 * Rollback never allocates a slot (the key has one), but it may need the
 * dirty list, which can fail to grow.
 */
static bool
kv_undo_one(zz_kvservice *kv, const kv_saved *u, const uint8_t *base)
{
	const uint8_t *key = base + u->off;
	kv_slot    *s = kv_lookup_or_add(kv, key, u->klen);

	if (s == NULL || !kv_before_change(kv, s, 0, false))
		return false;
	return slot_set(kv, s, u->had, key + u->klen, u->vlen);
}

/* zz_service.rollback: undo every batch above seq, newest first. */
static bool
kv_rollback(void *ctx, zz_seq seq)
{
	zz_kvservice *kv = ctx;

	if (seq < kv->stable)
		return false;
	while (kv->undo.len > 0 && kv->undo.recs[kv->undo.len - 1].seq > seq)
	{
		const kv_saved *u = &kv->undo.recs[kv->undo.len - 1];

		if (!kv_undo_one(kv, u, kv->undo.bytes.data))
			return false;
		kv->undo.bytes.len = u->off;
		kv->undo.len--;
	}
	if (seq < kv->last)
		kv->last = seq;
	return true;
}

/* zz_service.mark_stable: drop undo at or below seq; it can never be used. */
static void
kv_mark_stable(void *ctx, zz_seq seq)
{
	zz_kvservice *kv = ctx;
	size_t		keep = 0;
	size_t		base;

	if (seq <= kv->stable)
		return;
	kv->stable = seq;
	while (keep < kv->undo.len && kv->undo.recs[keep].seq <= seq)
		keep++;
	if (keep == 0)
		return;
	if (keep == kv->undo.len)
	{
		log_clear(&kv->undo);
		return;
	}
	base = kv->undo.recs[keep].off;
	memmove(kv->undo.recs, kv->undo.recs + keep,
			(kv->undo.len - keep) * sizeof(kv_saved));
	kv->undo.len -= keep;
	memmove(kv->undo.bytes.data, kv->undo.bytes.data + base,
			kv->undo.bytes.len - base);
	kv->undo.bytes.len -= base;
	for (size_t i = 0; i < kv->undo.len; i++)
		kv->undo.recs[i].off -= base;
}

/* ------------------------------------------------- snapshot and install */

typedef struct kv_pair_ref
{
	const uint8_t *key;
	uint32_t	klen;
	const uint8_t *val;
	uint32_t	vlen;
} kv_pair_ref;

static int
pair_cmp(const void *a, const void *b)
{
	const kv_pair_ref *x = a;
	const kv_pair_ref *y = b;
	uint32_t	n = x->klen < y->klen ? x->klen : y->klen;
	int			c = memcmp(x->key, y->key, n);

	if (c != 0)
		return c;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
		(uint32_t) p[3] << 24;
}

/*
 * Serialize kv's present pairs, sorted by key, as the snapshot at seq:
 * "ZZKV", u32 version, u64 seq, u32 count, then (u32 klen, key, u32 vlen,
 * value) per pair, little-endian.
 */
static bool
kv_serialize(const zz_kvservice *kv, zz_seq seq, uint8_t **out, size_t *outlen)
{
	kv_pair_ref *pairs = malloc((kv->npresent ? kv->npresent : 1) * sizeof(kv_pair_ref));
	size_t		n = 0;
	size_t		total = 20;
	uint8_t    *buf;
	uint8_t    *p;

	if (pairs == NULL)
		return false;
	for (uint32_t i = 0; i < kv->cap; i++)
	{
		const kv_slot *s = &kv->slots[i];

		if (s->hash == 0 || !s->present)
			continue;
		pairs[n].key = slot_key(s);
		pairs[n].klen = s->klen;
		pairs[n].val = slot_val(s);
		pairs[n].vlen = s->vlen;
		total += 8 + (size_t) s->klen + s->vlen;
		n++;
	}
	qsort(pairs, n, sizeof(kv_pair_ref), pair_cmp);
	buf = malloc(total);
	if (buf == NULL)
	{
		free(pairs);
		return false;
	}
	p = buf;
	memcpy(p, KV_SNAP_MAGIC, 4);
	put_u32(p + 4, KV_SNAP_VERSION);
	put_u32(p + 8, (uint32_t) seq);
	put_u32(p + 12, (uint32_t) (seq >> 32));
	put_u32(p + 16, (uint32_t) n);
	p += 20;
	for (size_t i = 0; i < n; i++)
	{
		put_u32(p, pairs[i].klen);
		memcpy(p + 4, pairs[i].key, pairs[i].klen);
		p += 4 + pairs[i].klen;
		put_u32(p, pairs[i].vlen);
		memcpy(p + 4, pairs[i].val, pairs[i].vlen);
		p += 4 + pairs[i].vlen;
	}
	free(pairs);
	*out = buf;
	*outlen = total;
	return true;
}

/* A bare table (no digest contexts needed) holding a copy of kv's pairs. */
static zz_kvservice *
kv_clone_pairs(const zz_kvservice *kv)
{
	zz_kvservice *c = zz_kv_create();

	if (c == NULL)
		return NULL;
	for (uint32_t i = 0; i < kv->cap; i++)
	{
		const kv_slot *s = &kv->slots[i];
		kv_slot    *d;

		if (s->hash == 0 || !s->present)
			continue;
		if ((d = kv_lookup_or_add(c, slot_key(s), s->klen)) == NULL ||
			!slot_set(c, d, true, slot_val(s), s->vlen))
		{
			zz_kv_free(c);
			return NULL;
		}
	}
	return c;
}

/*
 * zz_service.snapshot: the state as of seq, which must be at or above the
 * stable point (undo below it is gone) and at or below the last executed.
 * Built on a copy with the undo above seq applied, so the live state and
 * its undo log are untouched.
 */
static bool
kv_snapshot(void *ctx, zz_seq seq, uint8_t **out, size_t *outlen)
{
	zz_kvservice *kv = ctx;
	zz_kvservice *copy;
	bool		ok = true;

	if (seq < kv->stable || seq > kv->last)
		return false;
	copy = kv_clone_pairs(kv);
	if (copy == NULL)
		return false;
	for (size_t i = kv->undo.len; i > 0 && ok; i--)
	{
		const kv_saved *u = &kv->undo.recs[i - 1];

		if (u->seq <= seq)
			break;
		ok = kv_undo_one(copy, u, kv->undo.bytes.data);
	}
	if (ok)
		ok = kv_serialize(copy, seq, out, outlen);
	zz_kv_free(copy);
	return ok;
}

/*
 * Parse a snapshot into a fresh table.  Rejects anything kv_serialize
 * would not produce: wrong magic, version or seq, keys out of order or
 * malformed, lengths past the end, trailing bytes.
 */
static zz_kvservice *
kv_parse_snapshot(zz_seq seq, const uint8_t *data, size_t len)
{
	zz_kvservice *c;
	const uint8_t *p = data;
	const uint8_t *end = data + len;
	uint32_t	count;
	kv_pair_ref prev = {NULL, 0, NULL, 0};

	if (len < 20 || memcmp(data, KV_SNAP_MAGIC, 4) != 0 ||
		get_u32(data + 4) != KV_SNAP_VERSION ||
		((uint64_t) get_u32(data + 12) << 32 | get_u32(data + 8)) != seq)
		return NULL;
	count = get_u32(data + 16);
	p += 20;
	if ((c = zz_kv_create()) == NULL)
		return NULL;
	for (uint32_t i = 0; i < count; i++)
	{
		kv_pair_ref cur;
		kv_slot    *s;

		if (end - p < 4 || (cur.klen = get_u32(p)) == 0 || cur.klen > ZZ_KV_MAX_KEY ||
			(size_t) (end - p) < 8 + (size_t) cur.klen)
			goto bad;
		cur.key = p + 4;
		p += 4 + cur.klen;
		cur.vlen = get_u32(p);
		if (cur.vlen > ZZ_KV_MAX_VALUE || (size_t) (end - p) < 4 + (size_t) cur.vlen)
			goto bad;
		cur.val = p + 4;
		p += 4 + cur.vlen;
		if (memchr(cur.key, ' ', cur.klen) != NULL ||
			(prev.key != NULL && pair_cmp(&prev, &cur) >= 0))
			goto bad;
		if ((s = kv_lookup_or_add(c, cur.key, cur.klen)) == NULL ||
			!slot_set(c, s, true, cur.val, cur.vlen))
			goto bad;
		prev = cur;
	}
	if (p != end)
		goto bad;
	return c;

bad:
	zz_kv_free(c);
	return NULL;
}

/*
 * zz_service.install: replace all state with a snapshot of stable
 * checkpoint seq, but only if its recomputed digest equals expect; on any
 * failure the live state is untouched.
 */
static bool
kv_install(void *ctx, zz_seq seq, const zz_digest *history, const uint8_t *data,
		   size_t len, const zz_digest *expect)
{
	zz_kvservice *kv = ctx;
	zz_kvservice *c = kv_parse_snapshot(seq, data, len);
	zz_digest	got;

	if (c == NULL)
		return false;
	kv_full_lanes(c, c->lanes);
	lanes_digest(c, c->lanes, &got);
	if (memcmp(got.b, expect->b, ZZ_DIGEST_LEN) != 0)
	{
		zz_kv_free(c);
		return false;
	}
	/* Take c's table and lanes; parsing logged nothing dirty. */
	kv_free_table(kv);
	kv->slots = c->slots;
	kv->cap = c->cap;
	kv->used = c->used;
	kv->npresent = c->npresent;
	memcpy(kv->lanes, c->lanes, sizeof(kv->lanes));
	c->slots = NULL;
	zz_kv_free(c);
	log_clear(&kv->dirty);
	log_clear(&kv->undo);
	kv->last = seq;
	kv->stable = seq;
	return true;
}
