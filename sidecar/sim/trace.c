/*
 * trace.c
 *	  One readable line per message for the simulator's trace: the type
 *	  name and the fields a reader needs to follow the protocol (view, seq,
 *	  client, timestamp, short digests).  One formatter per message type,
 *	  each decoding with the codec, so the trace shows what the receiver
 *	  will decode, not what the sender meant.
 */
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "sim.h"

typedef unsigned long long ull;

/* The first 4 bytes of a digest in hex. */
static const char *
hx(const zz_digest *d, char *buf)
{
	snprintf(buf, 9, "%02x%02x%02x%02x", d->b[0], d->b[1], d->b[2], d->b[3]);
	return buf;
}

/* A byte string as a short quoted, printable excerpt. */
static const char *
excerpt(const uint8_t *p, uint32_t len, char *buf, size_t cap)
{
	size_t		o = 0;
	uint32_t	i;

	buf[o++] = '"';
	for (i = 0; i < len && o + 5 < cap && i < 24; i++)
		buf[o++] = (p[i] >= 32 && p[i] < 127 && p[i] != '"') ? (char) p[i] : '.';
	if (i < len)
	{
		buf[o++] = '.';
		buf[o++] = '.';
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static void
fmt_request(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_request	m;
	char		ex[40];

	if (zz_decode_request(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "REQUEST (malformed)");
		return;
	}
	snprintf(out, cap, "REQUEST c=%u t=%llu op=%s", m.client, (ull) m.timestamp,
			 excerpt(m.op, m.op_len, ex, sizeof(ex)));
}

static void
fmt_order_req(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_order_req m;
	char		h[9],
				d[9];

	if (zz_decode_order_req(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "ORDER-REQ (malformed)");
		return;
	}
	snprintf(out, cap, "ORDER-REQ v=%llu n=%llu count=%u h=%s d=%s",
			 (ull) m.hdr.view, (ull) m.hdr.seq, m.hdr.count,
			 hx(&m.hdr.history, h), hx(&m.hdr.batch_digest, d));
	zz_order_req_release(&m);
}

static void
fmt_spec_response(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_spec_response m;
	char		h[9],
				ex[40];

	if (zz_decode_spec_response(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "SPEC-RESPONSE (malformed)");
		return;
	}
	snprintf(out, cap, "SPEC-RESPONSE v=%llu n=%llu i=%u c=%u t=%llu h=%s reply=%s",
			 (ull) m.view, (ull) m.seq, m.replica, m.client, (ull) m.timestamp,
			 hx(&m.history, h), excerpt(m.reply, m.reply_len, ex, sizeof(ex)));
}

static void
fmt_commit(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_commit	m;
	char		h[9];

	if (zz_decode_commit(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "COMMIT (malformed)");
		return;
	}
	snprintf(out, cap, "COMMIT c=%u t=%llu cc(v=%llu n=%llu h=%s signers=%u)",
			 m.client, (ull) m.timestamp, (ull) m.cc.view, (ull) m.cc.seq,
			 hx(&m.cc.history, h), m.cc.count);
}

static void
fmt_local_commit(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_local_commit m;
	char		h[9];

	if (zz_decode_local_commit(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "LOCAL-COMMIT (malformed)");
		return;
	}
	snprintf(out, cap, "LOCAL-COMMIT v=%llu n=%llu i=%u c=%u t=%llu h=%s",
			 (ull) m.view, (ull) m.seq, m.replica, m.client, (ull) m.timestamp,
			 hx(&m.history, h));
}

static void
fmt_confirm_req(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_confirm_req m;

	if (zz_decode_confirm_req(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "CONFIRM-REQ (malformed)");
		return;
	}
	snprintf(out, cap, "CONFIRM-REQ v=%llu i=%u c=%u t=%llu", (ull) m.view,
			 m.replica, m.request.client, (ull) m.request.timestamp);
}

static void
fmt_fill_hole(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_fill_hole m;

	if (zz_decode_fill_hole(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "FILL-HOLE (malformed)");
		return;
	}
	snprintf(out, cap, "FILL-HOLE v=%llu i=%u n=%llu..%llu", (ull) m.view,
			 m.replica, (ull) m.from_seq, (ull) m.to_seq);
}

static void
fmt_pom(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_pom		m;
	char		a[9],
				b[9];

	if (zz_decode_pom(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "POM (malformed)");
		return;
	}
	snprintf(out, cap, "POM v=%llu n=%llu h=%s vs v=%llu n=%llu h=%s",
			 (ull) m.a.view, (ull) m.a.seq, hx(&m.a.history, a),
			 (ull) m.b.view, (ull) m.b.seq, hx(&m.b.history, b));
}

static void
fmt_i_hate(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_i_hate	m;

	if (zz_decode_i_hate(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "I-HATE-THE-PRIMARY (malformed)");
		return;
	}
	snprintf(out, cap, "I-HATE-THE-PRIMARY v=%llu i=%u", (ull) m.view, m.replica);
}

static void
fmt_view_change(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_view_change m;

	if (zz_decode_view_change(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "VIEW-CHANGE (malformed)");
		return;
	}
	if (m.has_cc)
		snprintf(out, cap, "VIEW-CHANGE v=%llu i=%u cp=%llu cc(v=%llu n=%llu) entries=%u hates=%u",
				 (ull) m.new_view, m.replica, (ull) m.cp.seq, (ull) m.cc.view,
				 (ull) m.cc.seq, m.n_entries, m.n_hate);
	else
		snprintf(out, cap, "VIEW-CHANGE v=%llu i=%u cp=%llu no-cc entries=%u hates=%u",
				 (ull) m.new_view, m.replica, (ull) m.cp.seq, m.n_entries, m.n_hate);
	zz_view_change_release(&m);
}

static void
fmt_new_view(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_new_view m;

	if (zz_decode_new_view(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "NEW-VIEW (malformed)");
		return;
	}
	snprintf(out, cap, "NEW-VIEW v=%llu i=%u view-changes=%u", (ull) m.new_view,
			 m.replica, m.n_vc);
	zz_new_view_release(&m);
}

static void
fmt_view_confirm(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_view_confirm m;
	char		h[9];

	if (zz_decode_view_confirm(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "VIEW-CONFIRM (malformed)");
		return;
	}
	snprintf(out, cap, "VIEW-CONFIRM v=%llu n=%llu i=%u h=%s", (ull) m.view,
			 (ull) m.seq, m.replica, hx(&m.history, h));
}

static void
fmt_checkpoint(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_checkpoint m;
	char		h[9],
				a[9];

	if (zz_decode_checkpoint(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "CHECKPOINT (malformed)");
		return;
	}
	snprintf(out, cap, "CHECKPOINT n=%llu i=%u h=%s state=%s", (ull) m.seq,
			 m.replica, hx(&m.history, h), hx(&m.state, a));
}

static void
fmt_state_request(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_state_request m;

	if (zz_decode_state_request(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "STATE-REQUEST (malformed)");
		return;
	}
	snprintf(out, cap, "STATE-REQUEST i=%u n>=%llu", m.replica, (ull) m.seq);
}

static void
fmt_state_reply(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	zz_state_reply m;

	if (zz_decode_state_reply(buf, len, &m) != ZZ_OK)
	{
		snprintf(out, cap, "STATE-REPLY (malformed)");
		return;
	}
	snprintf(out, cap, "STATE-REPLY i=%u cp=%llu bytes=%u", m.replica,
			 (ull) m.cp.seq, m.state_len);
}

void
zz_sim_format_message(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	typedef void (*fmt_fn) (const uint8_t *, size_t, char *, size_t);
	static const fmt_fn fmts[ZZ_MSG_TYPE_MAX + 1] = {
		[ZZ_MSG_REQUEST] = fmt_request,
		[ZZ_MSG_ORDER_REQ] = fmt_order_req,
		[ZZ_MSG_SPEC_RESPONSE] = fmt_spec_response,
		[ZZ_MSG_COMMIT] = fmt_commit,
		[ZZ_MSG_LOCAL_COMMIT] = fmt_local_commit,
		[ZZ_MSG_CONFIRM_REQ] = fmt_confirm_req,
		[ZZ_MSG_FILL_HOLE] = fmt_fill_hole,
		[ZZ_MSG_POM] = fmt_pom,
		[ZZ_MSG_I_HATE_THE_PRIMARY] = fmt_i_hate,
		[ZZ_MSG_VIEW_CHANGE] = fmt_view_change,
		[ZZ_MSG_NEW_VIEW] = fmt_new_view,
		[ZZ_MSG_VIEW_CONFIRM] = fmt_view_confirm,
		[ZZ_MSG_CHECKPOINT] = fmt_checkpoint,
		[ZZ_MSG_STATE_REQUEST] = fmt_state_request,
		[ZZ_MSG_STATE_REPLY] = fmt_state_reply,
	};
	zz_msg_type t;

	if (zz_msg_peek_type(buf, len, &t) != ZZ_OK || fmts[t] == NULL)
	{
		snprintf(out, cap, "%s (%zu bytes)", len ? "UNKNOWN" : "EMPTY", len);
		return;
	}
	fmts[t] (buf, len, out, cap);
}
