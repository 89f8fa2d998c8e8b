/*
 * test_kv.c
 *	  Unit tests of the in-memory key-value service: operation semantics,
 *	  determinism, undo and rollback, the incremental LtHash digest, and
 *	  snapshot / install.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvservice.h"

/* Free a result without depending on the core's zz_exec_result_free. */
static void
result_release(zz_exec_result *res)
{
	for (uint32_t i = 0; i < res->count; i++)
		free(res->replies[i].data);
	free(res->replies);
	memset(res, 0, sizeof(*res));
}

/*
 * Execute a batch of NUL-terminated ops at seq and compare each reply with
 * the expected strings (NULL entries are not checked).
 */
static void
exec_expect(zz_kvservice *kv, zz_seq seq, const char *const *ops,
			const char *const *expect, uint32_t count)
{
	const zz_service *svc = zz_kv_service(kv);
	zz_op		batch[16];
	zz_exec_result res;

	assert_true(count <= 16);
	for (uint32_t i = 0; i < count; i++)
	{
		batch[i].client = 1;
		batch[i].timestamp = seq * 100 + i;
		batch[i].data = (const uint8_t *) ops[i];
		batch[i].len = (uint32_t) strlen(ops[i]);
	}
	assert_int_equal(svc->execute(svc->ctx, seq, 1234, 99, batch, count, true, &res),
					 ZZ_EXEC_DONE);
	assert_int_equal(res.seq, seq);
	assert_int_equal(res.count, count);
	assert_true(res.has_digest);
	for (uint32_t i = 0; i < count; i++)
	{
		if (expect[i] == NULL)
			continue;
		if (res.replies[i].len != strlen(expect[i]) ||
			memcmp(res.replies[i].data, expect[i], res.replies[i].len) != 0)
			fail_msg("op \"%s\": reply \"%.*s\", expected \"%s\"", ops[i],
					 (int) res.replies[i].len, (const char *) res.replies[i].data,
					 expect[i]);
	}
	result_release(&res);
}

/* Execute one op at seq and return its reply as a malloc'd string. */
static char *
exec_one(zz_kvservice *kv, zz_seq seq, const char *op)
{
	const zz_service *svc = zz_kv_service(kv);
	zz_op		o = {7, seq, (const uint8_t *) op, (uint32_t) strlen(op)};
	zz_exec_result res;
	char	   *s;

	assert_int_equal(svc->execute(svc->ctx, seq, 1000 + seq, 4242, &o, 1, false, &res),
					 ZZ_EXEC_DONE);
	assert_false(res.has_digest);
	s = malloc(res.replies[0].len + 1);
	memcpy(s, res.replies[0].data, res.replies[0].len);
	s[res.replies[0].len] = '\0';
	result_release(&res);
	return s;
}

static void
test_operations(void **state)
{
	zz_kvservice *kv = zz_kv_create();
	const char *const ops[] = {
		"PUT a hello world", "GET a", "GET b", "ADD n 5", "ADD n -7",
		"APPEND a !", "GET a", "APPEND s xy", "NOW", "PUT e ",
		"GET e", "ADD a 1",
	};
	const char *const want[] = {
		"OK", "VALUE hello world", "NONE", "5", "-2",
		"12", "VALUE hello world!", "2", "1234", "OK",
		"VALUE ", "ERR value is not an integer",
	};

	exec_expect(kv, 1, ops, want, 12);
	assert_int_equal(zz_kv_count(kv), 4);
	assert_int_equal(zz_kv_last_executed(kv), 1);
	zz_kv_free(kv);
}

static void
test_errors(void **state)
{
	zz_kvservice *kv = zz_kv_create();
	char		longkey[300];
	char		op[400];
	const char *const ops[] = {
		"", "FOO x", "put a b", "PUT", "PUT a", "GET", "GET a b",
		"ADD a", "ADD a x", "ADD a 99999999999999999999", "NOW x", "RAND 1",
		"PUT  a", "APPEND a",
	};
	const char *const want[] = {
		"ERR empty operation", "ERR unknown command", "ERR unknown command",
		"ERR missing key", "ERR usage: PUT key value", "ERR missing key",
		"ERR usage: GET key", "ERR usage: ADD key delta", "ERR bad integer",
		"ERR bad integer", "ERR usage: NOW", "ERR usage: RAND",
		"ERR missing key", "ERR usage: APPEND key string",
	};
	char	   *r;

	exec_expect(kv, 1, ops, want, 14);
	assert_int_equal(zz_kv_count(kv), 0);

	memset(longkey, 'k', 256);
	longkey[256] = '\0';
	snprintf(op, sizeof(op), "PUT %s v", longkey);
	r = exec_one(kv, 2, op);
	assert_string_equal(r, "ERR key too long");
	free(r);

	r = exec_one(kv, 3, "ADD m 9223372036854775807");
	assert_string_equal(r, "9223372036854775807");
	free(r);
	r = exec_one(kv, 4, "ADD m 1");
	assert_string_equal(r, "ERR integer overflow");
	free(r);
	r = exec_one(kv, 5, "ADD m -9223372036854775807");
	assert_string_equal(r, "0");
	free(r);
	r = exec_one(kv, 6, "ADD q -9223372036854775808");
	assert_string_equal(r, "-9223372036854775808");
	free(r);
	zz_kv_free(kv);
}

/* Sequence numbers must rise; re-executing one is a caller bug. */
static void
test_seq_must_rise(void **state)
{
	zz_kvservice *kv = zz_kv_create();
	const zz_service *svc = zz_kv_service(kv);
	zz_op		o = {1, 1, (const uint8_t *) "PUT a 1", 7};
	zz_exec_result res;

	free(exec_one(kv, 5, "PUT a 1"));
	assert_int_equal(svc->execute(svc->ctx, 5, 0, 0, &o, 1, false, &res), ZZ_EXEC_FAILED);
	assert_int_equal(svc->execute(svc->ctx, 3, 0, 0, &o, 1, false, &res), ZZ_EXEC_FAILED);
	free(exec_one(kv, 9, "PUT a 2"));	/* gaps are fine */
	assert_int_equal(zz_kv_last_executed(kv), 9);
	zz_kv_free(kv);
}

/* NOW and RAND depend only on (nd_time, nd_seed, index). */
static void
test_nondeterministic_inputs(void **state)
{
	zz_kvservice *a = zz_kv_create();
	zz_kvservice *b = zz_kv_create();
	const zz_service *sa = zz_kv_service(a);
	const zz_service *sb = zz_kv_service(b);
	zz_op		ops[3] = {
		{1, 1, (const uint8_t *) "RAND", 4},
		{2, 1, (const uint8_t *) "RAND", 4},
		{3, 1, (const uint8_t *) "NOW", 3},
	};
	zz_exec_result ra, rb, rc;

	assert_int_equal(sa->execute(sa->ctx, 1, 777, 31337, ops, 3, false, &ra), ZZ_EXEC_DONE);
	assert_int_equal(sb->execute(sb->ctx, 1, 777, 31337, ops, 3, false, &rb), ZZ_EXEC_DONE);
	for (int i = 0; i < 3; i++)
	{
		assert_int_equal(ra.replies[i].len, rb.replies[i].len);
		assert_memory_equal(ra.replies[i].data, rb.replies[i].data, ra.replies[i].len);
	}
	/* Two RANDs of one batch differ; another seed gives another value. */
	assert_false(ra.replies[0].len == ra.replies[1].len &&
				 memcmp(ra.replies[0].data, ra.replies[1].data, ra.replies[0].len) == 0);
	assert_int_equal(sb->execute(sb->ctx, 2, 777, 31338, ops, 1, false, &rc), ZZ_EXEC_DONE);
	assert_false(ra.replies[0].len == rc.replies[0].len &&
				 memcmp(ra.replies[0].data, rc.replies[0].data, rc.replies[0].len) == 0);
	assert_memory_equal(ra.replies[2].data, "777", 3);
	result_release(&ra);
	result_release(&rb);
	result_release(&rc);
	zz_kv_free(a);
	zz_kv_free(b);
}

/* A deterministic PRNG for the randomized tests (xorshift64*). */
static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* A random op over a few keys, with some long values to exercise the heap. */
static void
random_op(uint64_t *rng, char *buf, size_t cap)
{
	int			key = (int) (next_rand(rng) % 6);
	int			kind = (int) (next_rand(rng) % 5);

	switch (kind)
	{
		case 0:
			snprintf(buf, cap, "PUT k%d v%llu", key,
					 (unsigned long long) (next_rand(rng) % 1000));
			break;
		case 1:
			snprintf(buf, cap, "ADD n%d %lld", key,
					 (long long) (next_rand(rng) % 200) - 100);
			break;
		case 2:
			snprintf(buf, cap, "APPEND k%d %s", key,
					 next_rand(rng) % 4 ? "xyz" : "a-rather-longer-string-than-inline-storage");
			break;
		case 3:
			snprintf(buf, cap, "GET k%d", key);
			break;
		default:
			snprintf(buf, cap, "PUT %s%d long-%llu-%s", key % 2 ? "longkey-longkey-longkey-longkey-" : "k",
					 key, (unsigned long long) next_rand(rng),
					 "padding-padding-padding-padding");
			break;
	}
}

/* Apply count random ops, one batch each, from seq first. */
static void
run_random(zz_kvservice *kv, uint64_t *rng, zz_seq first, int count)
{
	char		buf[256];

	for (int i = 0; i < count; i++)
	{
		random_op(rng, buf, sizeof(buf));
		free(exec_one(kv, first + i, buf));
	}
}

/* The incremental digest always equals the digest recomputed from scratch. */
static void
test_digest_incremental(void **state)
{
	zz_kvservice *kv = zz_kv_create();
	uint64_t	rng = 0x1234567;
	zz_digest	inc, full, empty;

	zz_kv_digest(kv, &empty);
	for (int round = 0; round < 40; round++)
	{
		run_random(kv, &rng, (zz_seq) round * 25 + 1, 25);
		zz_kv_digest(kv, &inc);
		zz_kv_digest_full(kv, &full);
		assert_memory_equal(inc.b, full.b, ZZ_DIGEST_LEN);
		assert_memory_not_equal(inc.b, empty.b, ZZ_DIGEST_LEN);
	}
	zz_kv_free(kv);
}

/* The digest is of the multiset: insertion order does not matter, content does. */
static void
test_digest_content(void **state)
{
	zz_kvservice *a = zz_kv_create();
	zz_kvservice *b = zz_kv_create();
	zz_digest	da, db;
	char		hex[ZZ_KV_DIGEST_HEX];

	free(exec_one(a, 1, "PUT x 1"));
	free(exec_one(a, 2, "PUT y 2"));
	free(exec_one(a, 3, "PUT z 3"));
	free(exec_one(b, 1, "PUT z 3"));
	free(exec_one(b, 2, "PUT x 9"));
	free(exec_one(b, 3, "PUT y 2"));
	free(exec_one(b, 4, "PUT x 1"));
	zz_kv_digest(a, &da);
	zz_kv_digest(b, &db);
	assert_memory_equal(da.b, db.b, ZZ_DIGEST_LEN);
	zz_kv_digest_hex(&da, hex);
	assert_int_equal(strlen(hex), 64);

	/* Same bytes split differently between key and value must differ. */
	free(exec_one(a, 4, "PUT ab c"));
	free(exec_one(b, 5, "PUT a bc"));
	zz_kv_digest(a, &da);
	zz_kv_digest(b, &db);
	assert_memory_not_equal(da.b, db.b, ZZ_DIGEST_LEN);
	zz_kv_free(a);
	zz_kv_free(b);
}

/* Rollback undoes exactly the batches above seq, state and digest alike. */
static void
test_rollback(void **state)
{
	zz_kvservice *kv = zz_kv_create();
	const zz_service *svc = zz_kv_service(kv);
	uint64_t	rng = 42;
	zz_digest	at[61];
	zz_digest	now;
	char	   *r;

	zz_kv_digest(kv, &at[0]);
	for (zz_seq s = 1; s <= 60; s++)
	{
		run_random(kv, &rng, s, 1);
		zz_kv_digest(kv, &at[s]);
	}
	/* Roll back in steps, checking the digest at each point. */
	for (zz_seq s = 60; s >= 10; s -= 7)
	{
		assert_true(svc->rollback(svc->ctx, s));
		assert_int_equal(zz_kv_last_executed(kv), s);
		zz_kv_digest(kv, &now);
		assert_memory_equal(now.b, at[s].b, ZZ_DIGEST_LEN);
		zz_kv_digest_full(kv, &now);
		assert_memory_equal(now.b, at[s].b, ZZ_DIGEST_LEN);
	}
	/* Execute a different suffix, then roll all the way back. */
	run_random(kv, &rng, 12, 30);
	assert_true(svc->rollback(svc->ctx, 0));
	zz_kv_digest(kv, &now);
	assert_memory_equal(now.b, at[0].b, ZZ_DIGEST_LEN);
	assert_int_equal(zz_kv_count(kv), 0);
	assert_int_equal(zz_kv_undo_count(kv), 0);

	/* Rolling back an insert makes the key absent again. */
	free(exec_one(kv, 1, "PUT fresh 1"));
	assert_true(svc->rollback(svc->ctx, 0));
	r = exec_one(kv, 1, "GET fresh");
	assert_string_equal(r, "NONE");
	free(r);
	/* Rolling back above the last executed is a no-op. */
	assert_true(svc->rollback(svc->ctx, 50));
	assert_int_equal(zz_kv_last_executed(kv), 1);
	zz_kv_free(kv);
}

/* mark_stable releases undo at or below seq and forbids rollback below it. */
static void
test_mark_stable(void **state)
{
	zz_kvservice *kv = zz_kv_create();
	const zz_service *svc = zz_kv_service(kv);
	uint64_t	rng = 7;
	zz_digest	at20, now;
	size_t		before;

	run_random(kv, &rng, 1, 20);
	zz_kv_digest(kv, &at20);
	run_random(kv, &rng, 21, 20);
	before = zz_kv_undo_count(kv);
	svc->mark_stable(svc->ctx, 20);
	assert_true(zz_kv_undo_count(kv) < before);
	assert_int_equal(zz_kv_stable(kv), 20);
	assert_false(svc->rollback(svc->ctx, 19));
	assert_true(svc->rollback(svc->ctx, 20));
	zz_kv_digest(kv, &now);
	assert_memory_equal(now.b, at20.b, ZZ_DIGEST_LEN);
	svc->mark_stable(svc->ctx, 20);
	assert_int_equal(zz_kv_undo_count(kv), 0);
	/* Stale announcements are ignored. */
	svc->mark_stable(svc->ctx, 5);
	assert_int_equal(zz_kv_stable(kv), 20);
	zz_kv_free(kv);
}

/*
 * Snapshot at a stable seq after more batches ran: it describes the state
 * at seq, installs into a fresh service, and is refused with a wrong digest.
 */
static void
test_snapshot_install(void **state)
{
	zz_kvservice *a = zz_kv_create();
	zz_kvservice *b = zz_kv_create();
	const zz_service *sa = zz_kv_service(a);
	const zz_service *sb = zz_kv_service(b);
	uint64_t	rng = 99;
	zz_digest	at30, bad, now, bnow;
	uint8_t    *snap = NULL;
	size_t		len = 0;
	char	   *r;

	run_random(a, &rng, 1, 30);
	zz_kv_digest(a, &at30);
	run_random(a, &rng, 31, 25);
	sa->mark_stable(sa->ctx, 30);
	assert_false(sa->snapshot(sa->ctx, 29, &snap, &len));	/* below stable */
	assert_false(sa->snapshot(sa->ctx, 56, &snap, &len));	/* not executed */
	assert_true(sa->snapshot(sa->ctx, 30, &snap, &len));

	/* The live state is untouched by taking the snapshot. */
	zz_kv_digest(a, &now);
	zz_kv_digest_full(a, &bnow);
	assert_memory_equal(now.b, bnow.b, ZZ_DIGEST_LEN);

	/* Wrong digest, wrong seq, or a flipped byte: refused, b untouched. */
	free(exec_one(b, 1, "PUT keep me"));
	bad = at30;
	bad.b[0] ^= 1;
	assert_false(sb->install(sb->ctx, 30, NULL, snap, len, &bad));
	assert_false(sb->install(sb->ctx, 31, NULL, snap, len, &at30));
	snap[len - 1] ^= 0x40;
	assert_false(sb->install(sb->ctx, 30, NULL, snap, len, &at30));
	snap[len - 1] ^= 0x40;
	assert_false(sb->install(sb->ctx, 30, NULL, snap, len - 1, &at30));
	r = exec_one(b, 2, "GET keep");
	assert_string_equal(r, "VALUE me");
	free(r);

	assert_true(sb->install(sb->ctx, 30, NULL, snap, len, &at30));
	assert_int_equal(zz_kv_last_executed(b), 30);
	assert_int_equal(zz_kv_stable(b), 30);
	zz_kv_digest(b, &bnow);
	assert_memory_equal(bnow.b, at30.b, ZZ_DIGEST_LEN);
	r = exec_one(b, 31, "GET keep");
	assert_string_equal(r, "NONE");
	free(r);

	/* After rolling a back to 30 the two replicas agree op for op. */
	assert_true(sa->rollback(sa->ctx, 30));
	zz_kv_digest(a, &now);
	assert_memory_equal(now.b, at30.b, ZZ_DIGEST_LEN);
	assert_true(sb->rollback(sb->ctx, 30));
	{
		uint64_t	ra = 5, rb = 5;

		run_random(a, &ra, 31, 40);
		run_random(b, &rb, 31, 40);
	}
	zz_kv_digest(a, &now);
	zz_kv_digest(b, &bnow);
	assert_memory_equal(now.b, bnow.b, ZZ_DIGEST_LEN);
	free(snap);
	zz_kv_free(a);
	zz_kv_free(b);
}

/* Values grow past inline storage through APPEND; the digest follows. */
static void
test_long_values(void **state)
{
	zz_kvservice *kv = zz_kv_create();
	const zz_service *svc = zz_kv_service(kv);
	char		op[128];
	const uint8_t *v;
	uint32_t	vlen;
	zz_digest	inc, full;
	char	   *r;

	for (int i = 1; i <= 200; i++)
	{
		snprintf(op, sizeof(op), "APPEND big %08d", i);
		r = exec_one(kv, (zz_seq) i, op);
		snprintf(op, sizeof(op), "%d", i * 8);
		assert_string_equal(r, op);
		free(r);
	}
	assert_true(zz_kv_get(kv, "big", 3, &v, &vlen));
	assert_int_equal(vlen, 1600);
	assert_memory_equal(v, "00000001", 8);
	assert_true(svc->rollback(svc->ctx, 3));
	assert_true(zz_kv_get(kv, "big", 3, &v, &vlen));
	assert_int_equal(vlen, 24);
	zz_kv_digest(kv, &inc);
	zz_kv_digest_full(kv, &full);
	assert_memory_equal(inc.b, full.b, ZZ_DIGEST_LEN);
	/* Many distinct keys force the table to grow. */
	for (int i = 0; i < 500; i++)
	{
		snprintf(op, sizeof(op), "PUT key%d %d", i, i);
		free(exec_one(kv, (zz_seq) (4 + i), op));
	}
	assert_int_equal(zz_kv_count(kv), 501);
	assert_true(zz_kv_get(kv, "key321", 6, &v, &vlen));
	assert_memory_equal(v, "321", 3);
	assert_true(svc->rollback(svc->ctx, 3));
	assert_int_equal(zz_kv_count(kv), 1);
	zz_kv_digest(kv, &inc);
	zz_kv_digest_full(kv, &full);
	assert_memory_equal(inc.b, full.b, ZZ_DIGEST_LEN);
	zz_kv_free(kv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operations),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_seq_must_rise),
		cmocka_unit_test(test_nondeterministic_inputs),
		cmocka_unit_test(test_digest_incremental),
		cmocka_unit_test(test_digest_content),
		cmocka_unit_test(test_rollback),
		cmocka_unit_test(test_mark_stable),
		cmocka_unit_test(test_snapshot_install),
		cmocka_unit_test(test_long_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
