/*
 * zzwire.c
 *	  The request and reply format (see zzwire.h), compiled into both the
 *	  extension and the sidecar daemon.
 */
#include <string.h>

#include "zzwire.h"

/* A cursor over bytes being read; never reads past the end. */
typedef struct wire_reader
{
	const uint8_t *p;
	size_t		left;
} wire_reader;

/*
 * Write a big-endian u32.
 */
void
zz_wire_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

/*
 * Write a big-endian u64.
 */
void
zz_wire_put_u64(uint8_t *p, uint64_t v)
{
	zz_wire_put_u32(p, (uint32_t) (v >> 32));
	zz_wire_put_u32(p + 4, (uint32_t) v);
}

/*
 * Read a big-endian u32.
 */
uint32_t
zz_wire_get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/*
 * Read a big-endian u64.
 */
uint64_t
zz_wire_get_u64(const uint8_t *p)
{
	return ((uint64_t) zz_wire_get_u32(p) << 32) | zz_wire_get_u32(p + 4);
}

/*
 * The payload length in a frame header (little-endian, after the type).
 */
uint32_t
zz_wire_frame_len(const uint8_t *hdr)
{
	return (uint32_t) hdr[1] | (uint32_t) hdr[2] << 8 | (uint32_t) hdr[3] << 16 |
		(uint32_t) hdr[4] << 24;
}

/*
 * Read a big-endian u32.
 */
static bool
rd_u32(wire_reader *r, uint32_t *v)
{
	if (r->left < 4)
		return false;
	*v = zz_wire_get_u32(r->p);
	r->p += 4;
	r->left -= 4;
	return true;
}

/*
 * Take n bytes.
 */
static bool
rd_bytes(wire_reader *r, const char **out, size_t n)
{
	if (r->left < n)
		return false;
	*out = (const char *) r->p;
	r->p += n;
	r->left -= n;
	return true;
}

/*
 * Run the caller's text check, if any.
 */
static bool
check_text(zz_wire_text_check check, void *arg, const zz_wire_text *t, const char **why)
{
	return check == NULL || check(arg, t->p, t->len, why);
}

/*
 * Read a role or database name: 1 to ZZ_WIRE_MAX_NAME bytes of text.
 */
static bool
rd_name(wire_reader *r, zz_wire_text *t, bool role, zz_wire_text_check check, void *arg,
		const char **why)
{
	if (!rd_u32(r, &t->len) || t->len > ZZ_WIRE_MAX_NAME || !rd_bytes(r, &t->p, t->len))
	{
		*why = role ? "the role name is truncated or longer than 63 bytes" :
			"the database name is truncated or longer than 63 bytes";
		return false;
	}
	if (t->len == 0)
	{
		*why = role ? "the role name is empty" : "the database name is empty";
		return false;
	}
	return check_text(check, arg, t, why);
}

/*
 * Read a call (see zzwire.h): each field in order, each text checked as
 * soon as it is read.
 */
bool
zz_wire_decode_call(const uint8_t *data, size_t len, zz_wire_call *call,
					zz_wire_text_check check, void *arg, const char **why)
{
	wire_reader r = {data, len};

	memset(call, 0, sizeof(*call));
	if (!rd_name(&r, &call->role, true, check, arg, why) ||
		!rd_name(&r, &call->database, false, check, arg, why))
		return false;
	if (!rd_u32(&r, &call->signature.len) || call->signature.len > ZZ_WIRE_MAX_SIGNATURE ||
		!rd_bytes(&r, &call->signature.p, call->signature.len))
	{
		*why = "the signature is truncated";
		return false;
	}
	if (call->signature.len == 0)
	{
		*why = "the signature is empty";
		return false;
	}
	if (!check_text(check, arg, &call->signature, why))
		return false;
	if (!rd_u32(&r, &call->nargs) || call->nargs > ZZ_WIRE_MAX_ARGS || call->nargs > r.left / 4)
	{
		*why = "the argument count does not fit the request";
		return false;
	}
	for (uint32_t i = 0; i < call->nargs; i++)
	{
		zz_wire_text *a = &call->args[i];

		if (!rd_u32(&r, &a->len))
		{
			*why = "an argument is truncated";
			return false;
		}
		if (a->len == ZZ_WIRE_NULL)
		{
			a->p = NULL;		/* SQL NULL */
			a->len = 0;
			continue;
		}
		if (!rd_bytes(&r, &a->p, a->len))
		{
			*why = "an argument is truncated";
			return false;
		}
		if (!check_text(check, arg, a, why))
			return false;
	}
	if (r.left != 0)
	{
		*why = "trailing bytes after the last argument";
		return false;
	}
	return true;
}

/*
 * Bytes of a length-prefixed text (or an SQL NULL).
 */
static size_t
text_size(const zz_wire_text *t)
{
	return 4 + (t->p != NULL ? t->len : 0);
}

/*
 * Write a length-prefixed text (or an SQL NULL); returns the end.
 */
static uint8_t *
put_text(uint8_t *out, const zz_wire_text *t)
{
	zz_wire_put_u32(out, t->p != NULL ? t->len : ZZ_WIRE_NULL);
	if (t->p != NULL && t->len > 0)
		memcpy(out + 4, t->p, t->len);
	return out + text_size(t);
}

/*
 * The encoded size of a call.
 */
size_t
zz_wire_call_size(const zz_wire_call *call)
{
	size_t		n = text_size(&call->role) + text_size(&call->database) +
		text_size(&call->signature) + 4;

	for (uint32_t i = 0; i < call->nargs; i++)
		n += text_size(&call->args[i]);
	return n;
}

/*
 * Encode a call into out (zz_wire_call_size bytes).
 */
void
zz_wire_encode_call(uint8_t *out, const zz_wire_call *call)
{
	out = put_text(out, &call->role);
	out = put_text(out, &call->database);
	out = put_text(out, &call->signature);
	zz_wire_put_u32(out, call->nargs);
	out += 4;
	for (uint32_t i = 0; i < call->nargs; i++)
		out = put_text(out, &call->args[i]);
}

/*
 * Is this reply an error with a DETAIL or a HINT ('F')?
 */
static bool
reply_is_full(const zz_wire_reply *reply)
{
	return reply->is_error && (reply->detail.p != NULL || reply->hint.p != NULL);
}

/*
 * The encoded size of a reply.
 */
size_t
zz_wire_reply_size(const zz_wire_reply *reply)
{
	size_t		n = 1 + (reply->is_error ? 5 : 0) + text_size(&reply->text);

	if (reply_is_full(reply))
		n += text_size(&reply->detail) + text_size(&reply->hint);
	return n;
}

/*
 * Encode a reply into out (zz_wire_reply_size bytes).
 */
void
zz_wire_encode_reply(uint8_t *out, const zz_wire_reply *reply)
{
	bool		full = reply_is_full(reply);

	*out++ = full ? 'F' : reply->is_error ? 'E' : 'V';
	if (reply->is_error)
	{
		memcpy(out, reply->sqlstate, 5);
		out += 5;
	}
	out = put_text(out, &reply->text);
	if (full)
	{
		out = put_text(out, &reply->detail);
		(void) put_text(out, &reply->hint);
	}
}

/*
 * Read an optional text of an 'F' reply (0xFFFFFFFF: none).
 */
static bool
rd_optional_text(wire_reader *r, zz_wire_text *t, zz_wire_text_check check,
				 void *arg, const char **why)
{
	if (!rd_u32(r, &t->len))
	{
		*why = "the length is truncated";
		return false;
	}
	if (t->len == ZZ_WIRE_NULL)
	{
		t->len = 0;				/* none: p stays NULL */
		return true;
	}
	if (!rd_bytes(r, &t->p, t->len))
	{
		*why = "the text is truncated";
		return false;
	}
	return check_text(check, arg, t, why);
}

/*
 * Read a reply (see zzwire.h).
 */
bool
zz_wire_decode_reply(const uint8_t *data, size_t len, zz_wire_reply *reply,
					 zz_wire_text_check check, void *arg, const char **why)
{
	wire_reader r = {data, len};
	const char *kind,
			   *state;

	memset(reply, 0, sizeof(*reply));
	if (!rd_bytes(&r, &kind, 1) || (*kind != 'V' && *kind != 'E' && *kind != 'F'))
	{
		*why = "the reply is neither a value ('V') nor an error ('E', 'F')";
		return false;
	}
	reply->is_error = *kind == 'E' || *kind == 'F';
	if (reply->is_error)
	{
		if (!rd_bytes(&r, &state, 5))
		{
			*why = "the SQLSTATE is truncated";
			return false;
		}
		for (int i = 0; i < 5; i++)
			if (!((state[i] >= '0' && state[i] <= '9') ||
				  (state[i] >= 'A' && state[i] <= 'Z')))
			{
				*why = "the SQLSTATE is not five digits or upper-case letters";
				return false;
			}
		memcpy(reply->sqlstate, state, 5);
	}
	if (!rd_u32(&r, &reply->text.len))
	{
		*why = "the length is truncated";
		return false;
	}
	if (reply->text.len == ZZ_WIRE_NULL && !reply->is_error)
		reply->text.len = 0;	/* SQL NULL: p stays NULL */
	else
	{
		if (!rd_bytes(&r, &reply->text.p, reply->text.len))
		{
			*why = "the text is truncated";
			return false;
		}
		if (!check_text(check, arg, &reply->text, why))
			return false;
	}
	if (*kind == 'F')
	{
		if (!rd_optional_text(&r, &reply->detail, check, arg, why) ||
			!rd_optional_text(&r, &reply->hint, check, arg, why))
			return false;
		if (reply->detail.p == NULL && reply->hint.p == NULL)
		{
			*why = "an 'F' reply without DETAIL and HINT (that is an 'E' reply)";
			return false;
		}
	}
	if (r.left != 0)
	{
		*why = "trailing bytes after the reply";
		return false;
	}
	return true;
}
