/*
 * test_wire.c
 *	  The call and reply codec the extension and the daemon share
 *	  (extension/zzwire.c): round trips, the exact layout, and rejection of
 *	  every kind of malformed input, in the order the bytes are read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "zzwire.h"

/*
 * A zz_wire_text of a C string (NULL: SQL NULL).
 */
static zz_wire_text
txt(const char *s)
{
	zz_wire_text t = {s, s ? (uint32_t) strlen(s) : 0};

	return t;
}

/*
 * Encode a call of role, database, signature and nargs args; *len its size.
 */
static uint8_t *
encode(const char *role, const char *db, const char *sig, const char *const *args,
	   uint32_t nargs, size_t *len)
{
	static zz_wire_call c;
	uint8_t    *buf;

	c.role = txt(role);
	c.database = txt(db);
	c.signature = txt(sig);
	c.nargs = nargs;
	for (uint32_t i = 0; i < nargs; i++)
		c.args[i] = txt(args[i]);
	*len = zz_wire_call_size(&c);
	buf = malloc(*len);
	assert_non_null(buf);
	zz_wire_encode_call(buf, &c);
	return buf;
}

/*
 * A text check that refuses texts containing 'X', and counts its calls.
 */
static int	checks;

static bool
no_x(void *arg, const char *p, uint32_t len, const char **why)
{
	checks++;
	if (memchr(p, 'X', len) != NULL)
	{
		*why = "X";
		return false;
	}
	return true;
}

static void
test_call_layout_and_round_trip(void **state)
{
	const char *args[] = {"1", NULL, ""};
	static const uint8_t expect[] = {
		0, 0, 0, 1, 'r', 0, 0, 0, 2, 'd', 'b', 0, 0, 0, 3, 'f', '(', ')',
		0, 0, 0, 3, 0, 0, 0, 1, '1', 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
	size_t		len;
	uint8_t    *buf = encode("r", "db", "f()", args, 3, &len);
	zz_wire_call c;
	const char *why = NULL;

	assert_int_equal(len, sizeof(expect));
	assert_memory_equal(buf, expect, len);
	checks = 0;
	assert_true(zz_wire_decode_call(buf, len, &c, no_x, NULL, &why));
	assert_int_equal(checks, 5);	/* role, database, signature, two non-NULL args */
	assert_int_equal(c.role.len, 1);
	assert_memory_equal(c.database.p, "db", 2);
	assert_memory_equal(c.signature.p, "f()", 3);
	assert_int_equal(c.nargs, 3);
	assert_int_equal(c.args[0].len, 1);
	assert_null(c.args[1].p);
	assert_non_null(c.args[2].p);
	assert_int_equal(c.args[2].len, 0);
	free(buf);
}

static void
test_call_rejects(void **state)
{
	const char *args[] = {"12", "34"};
	char		name[80];
	size_t		len;
	uint8_t    *buf = encode("alice", "app", "public.f(integer,integer)", args, 2, &len);
	zz_wire_call c;
	const char *why;

	/* every proper prefix, and one trailing byte */
	for (size_t n = 0; n < len; n++)
	{
		why = NULL;
		assert_false(zz_wire_decode_call(buf, n, &c, NULL, NULL, &why));
		assert_non_null(why);
	}
	buf = realloc(buf, len + 1);
	buf[len] = 0;
	assert_false(zz_wire_decode_call(buf, len + 1, &c, NULL, NULL, &why));
	assert_string_equal(why, "trailing bytes after the last argument");
	free(buf);

	/* names: 63 bytes pass, 64 and 0 do not */
	memset(name, 'a', sizeof(name));
	name[ZZ_WIRE_MAX_NAME] = '\0';
	buf = encode(name, "app", "f()", NULL, 0, &len);
	assert_true(zz_wire_decode_call(buf, len, &c, NULL, NULL, &why));
	free(buf);
	name[ZZ_WIRE_MAX_NAME] = 'a';
	name[ZZ_WIRE_MAX_NAME + 1] = '\0';
	buf = encode("app", name, "f()", NULL, 0, &len);
	assert_false(zz_wire_decode_call(buf, len, &c, NULL, NULL, &why));
	assert_string_equal(why, "the database name is truncated or longer than 63 bytes");
	free(buf);
	buf = encode("", "app", "f()", NULL, 0, &len);
	assert_false(zz_wire_decode_call(buf, len, &c, NULL, NULL, &why));
	assert_string_equal(why, "the role name is empty");
	free(buf);
	buf = encode("r", "app", "", NULL, 0, &len);
	assert_false(zz_wire_decode_call(buf, len, &c, NULL, NULL, &why));
	assert_string_equal(why, "the signature is empty");
	free(buf);

	/* more arguments than a function takes */
	buf = encode("r", "app", "f()", NULL, 0, &len);
	zz_wire_put_u32(buf + len - 4, ZZ_WIRE_MAX_ARGS + 1);
	assert_false(zz_wire_decode_call(buf, len, &c, NULL, NULL, &why));
	assert_string_equal(why, "the argument count does not fit the request");
	free(buf);

	/* the first bad text is the one reported, before later truncation */
	buf = encode("rX", "app", "f()", NULL, 0, &len);
	assert_false(zz_wire_decode_call(buf, len - 1, &c, no_x, NULL, &why));
	assert_string_equal(why, "X");
	free(buf);
	buf = encode("r", "app", "f()", args, 2, &len);
	buf[len - 1] = 'X';
	assert_false(zz_wire_decode_call(buf, len, &c, no_x, NULL, &why));
	assert_string_equal(why, "X");
	free(buf);
}

static void
test_reply(void **state)
{
	zz_wire_reply r = {.is_error = false, .text = txt("975")},
				out;
	uint8_t		buf[64];
	size_t		len = zz_wire_reply_size(&r);
	const char *why;
	static const uint8_t value[] = {'V', 0, 0, 0, 3, '9', '7', '5'};
	static const uint8_t null[] = {'V', 0xFF, 0xFF, 0xFF, 0xFF};

	zz_wire_encode_reply(buf, &r);
	assert_int_equal(len, sizeof(value));
	assert_memory_equal(buf, value, len);
	assert_true(zz_wire_decode_reply(buf, len, &out, NULL, NULL, &why));
	assert_false(out.is_error);
	assert_memory_equal(out.text.p, "975", 3);
	for (size_t n = 0; n < len; n++)
		assert_false(zz_wire_decode_reply(buf, n, &out, NULL, NULL, &why));

	r.text = txt(NULL);
	zz_wire_encode_reply(buf, &r);
	assert_memory_equal(buf, null, sizeof(null));
	assert_true(zz_wire_decode_reply(buf, sizeof(null), &out, NULL, NULL, &why));
	assert_null(out.text.p);

	r.is_error = true;
	memcpy(r.sqlstate, "42501", 6);
	r.text = txt("permission denied");
	len = zz_wire_reply_size(&r);
	zz_wire_encode_reply(buf, &r);
	assert_true(zz_wire_decode_reply(buf, len, &out, NULL, NULL, &why));
	assert_true(out.is_error);
	assert_string_equal(out.sqlstate, "42501");
	assert_int_equal(out.text.len, strlen("permission denied"));
	buf[3] = 'a';				/* lower case: not an SQLSTATE */
	assert_false(zz_wire_decode_reply(buf, len, &out, NULL, NULL, &why));
	assert_string_equal(why, "the SQLSTATE is not five digits or upper-case letters");
	buf[3] = '5';
	buf[len] = 0;
	assert_false(zz_wire_decode_reply(buf, len + 1, &out, NULL, NULL, &why));
	assert_string_equal(why, "trailing bytes after the reply");
	buf[0] = 'Q';
	assert_false(zz_wire_decode_reply(buf, len, &out, NULL, NULL, &why));
	/* an error has a message, never an SQL NULL */
	memcpy(buf, "E42501\xFF\xFF\xFF\xFF", 10);
	assert_false(zz_wire_decode_reply(buf, 10, &out, NULL, NULL, &why));

	/* an error with a DETAIL and no HINT is an 'F' reply */
	r.text = txt("x");
	r.detail = txt("d");
	r.hint = txt(NULL);
	len = zz_wire_reply_size(&r);
	zz_wire_encode_reply(buf, &r);
	assert_int_equal(buf[0], 'F');
	assert_int_equal(len, 1 + 5 + 5 + 5 + 4);
	assert_true(zz_wire_decode_reply(buf, len, &out, NULL, NULL, &why));
	assert_true(out.is_error);
	assert_memory_equal(out.detail.p, "d", 1);
	assert_null(out.hint.p);
	for (size_t n = 0; n < len; n++)
		assert_false(zz_wire_decode_reply(buf, n, &out, NULL, NULL, &why));
	/* neither: the short 'E' form, so equal errors give equal bytes */
	r.detail = txt(NULL);
	zz_wire_encode_reply(buf, &r);
	assert_int_equal(buf[0], 'E');
}

static void
test_integers(void **state)
{
	uint8_t		b[8];
	static const uint8_t hdr[] = {ZZ_FT_L_RESULT, 0x11, 0x00, 0x10, 0x00};

	zz_wire_put_u64(b, 0x0102030405060708ull);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[7], 8);
	assert_true(zz_wire_get_u64(b) == 0x0102030405060708ull);
	assert_int_equal(zz_wire_get_u32(b + 4), 0x05060708);
	assert_int_equal(zz_wire_frame_len(hdr), 0x00100011);	/* little-endian */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_layout_and_round_trip),
		cmocka_unit_test(test_call_rejects),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_integers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
