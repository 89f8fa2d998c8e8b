/*
 * client.c
 *	  The Zyzzyva client (docs/protocol.md section 4, steps 1 and 4).
 *
 * The client sends REQUEST to the primary it believes in, then gathers
 * SPEC-RESPONSEs.  Matching means the same (v, n, h_n, H(r), c, t).
 *   a. 3f+1 matching: complete (fast path).
 *   b. 2f+1..3f matching when the commit timer fires: check the response
 *	    cores' signatures, send COMMIT with the certificate to all, and
 *	    complete on 2f+1 LOCAL-COMMITs sent in one view (docs/protocol.md
 *	    section 10, "Completion on the commit path").
 *   c. fewer: retransmit REQUEST to all replicas, with growing intervals.
 *   d. two responses whose ORDER-REQ headers conflict for one (v, n): POM.
 * Only complete results reach the caller.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "merkle.h"
#include "message.h"

/* The latest SPEC-RESPONSE from one replica, with the bytes it points into. */
typedef struct zz_resp_slot
{
	bool		have;
	uint8_t    *raw;			/* owned copy of the message */
	size_t		raw_len;
	size_t		raw_cap;
	zz_spec_response m;			/* points into raw */
	bool		sig_checked;
	bool		sig_ok;
} zz_resp_slot;

/*
 * Is a test-only misbehaviour (client.h, zz_client_bug) switched on?
 * Constant false without ZZ_FAULT_INJECTION: the product has none.
 */
#ifdef ZZ_FAULT_INJECTION
#define ZZ_CLIENT_BUGGY(c, bug)	(((c)->bugs & (bug)) != 0)
#else
#define ZZ_CLIENT_BUGGY(c, bug)	false
#endif

struct zz_client
{
	zz_params	p;
	uint32_t	id;
	zz_crypto  *crypto;
	zz_io		io;
	zz_client_done done;
	void	   *done_ctx;
#ifdef ZZ_FAULT_INJECTION
	unsigned	bugs;			/* planted or faulty behaviour (zz_client_set_bugs) */
#endif
	zz_client_stats stats;

	zz_view		view;			/* our belief; picks the primary */
	uint64_t	next_ts;

	/* The outstanding request. */
	bool		busy;
	uint64_t	ts;
	zz_buf		req;			/* encoded REQUEST, for retransmission */
	zz_digest	req_digest;
	zz_time		sent_at;
	zz_time		commit_deadline;
	bool		commit_fired;	/* commit_deadline passed without a quorum */
	zz_time		retransmit_deadline;
	zz_time		retransmit_interval;
	zz_resp_slot resp[ZZ_MAX_N];

	/* The commit phase. */
	bool		committing;
	zz_commit	commit;
	bool		local_commit[ZZ_MAX_N];	/* a LOCAL-COMMIT came from replica i */
	zz_view		lc_sent_in[ZZ_MAX_N];	/* the view replica i sent its latest in */
	zz_seq		lc_seq;			/* the (n, h_n) local_commit[] counts for */
	zz_digest	lc_history;
	int			commit_group;	/* replica whose response the CC is for */
	zz_resp_slot commit_rep;	/* a copy of that response: the reply to return */

	bool		pom_sent;		/* for the outstanding request */
	bool		verify_cc;		/* a certificate of ours went unanswered */

	/*
	 * The adaptive commit timer (docs/protocol.md section 4): how long all n
	 * responses usually take, and whether a replica seems to be missing.
	 */
	zz_time		full_ewma;		/* EWMA of the time to n matching responses */
	uint32_t	commit_streak;	/* consecutive completions on the commit path */
	uint32_t	since_probe;	/* requests since we last waited for all n */
	uint32_t	probe_every;	/* wait for all n on every this many requests */
	bool		probing;		/* the outstanding request is such a probe */

	zz_buf		out;
	zz_buf		sigbuf;
};

zz_client *
zz_client_create(const zz_params *params, uint32_t id, zz_crypto *crypto,
				 const zz_io *io, zz_client_done done, void *done_ctx)
{
	zz_client  *c;

	if (params->n != 3 * params->f + 1 || params->n > ZZ_MAX_N)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->p = *params;
	c->id = id;
	c->crypto = crypto;
	c->io = *io;
	c->done = done;
	c->done_ctx = done_ctx;
	c->next_ts = 1;
	zz_buf_init(&c->req);
	zz_buf_init(&c->out);
	zz_buf_init(&c->sigbuf);
	return c;
}

/*
 * Forget a response but keep its buffer for the next one: a client gets
 * n responses per request, and allocating for each was measurable.
 */
static void
clear_slot(zz_resp_slot *s)
{
	/* Only the flags: the decoded fields are rewritten before they are read. */
	s->have = false;
	s->raw_len = 0;
	s->sig_checked = false;
	s->sig_ok = false;
}

static void
free_slot(zz_resp_slot *s)
{
	free(s->raw);
	memset(s, 0, sizeof(*s));
}

static void
clear_responses(zz_client *c)
{
	int			i;

	for (i = 0; i < (int) c->p.n; i++)
		clear_slot(&c->resp[i]);
	clear_slot(&c->commit_rep);
}

/*
 * Keep a response of our own: raw bytes, and the decoded view into them.
 */
static bool
fill_slot(zz_resp_slot *s, const uint8_t *buf, size_t len)
{
	clear_slot(s);
	if (s->raw_cap < len)
	{
		free(s->raw);
		s->raw = malloc(len);
		if (s->raw == NULL)
			abort();
		s->raw_cap = len;
	}
	memcpy(s->raw, buf, len);
	if (zz_decode_spec_response(s->raw, len, &s->m) != ZZ_OK)
	{
		clear_slot(s);
		return false;
	}
	s->raw_len = len;
	s->have = true;
	return true;
}

static void
copy_slot(zz_resp_slot *dst, const zz_resp_slot *src)
{
	if (src == dst)
		return;
	if (fill_slot(dst, src->raw, src->raw_len))
	{
		dst->sig_checked = src->sig_checked;
		dst->sig_ok = src->sig_ok;
	}
}

void
zz_client_free(zz_client *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < ZZ_MAX_N; i++)
		free_slot(&c->resp[i]);
	free_slot(&c->commit_rep);
	zz_buf_free(&c->req);
	zz_buf_free(&c->out);
	zz_buf_free(&c->sigbuf);
	free(c);
}

#ifdef ZZ_FAULT_INJECTION
/*
 * Switch test-only misbehaviour on or off (test builds only).
 */
void
zz_client_set_bugs(zz_client *c, unsigned bugs)
{
	c->bugs = bugs;
}
#endif

const zz_client_stats *
zz_client_get_stats(const zz_client *c)
{
	return &c->stats;
}

void
zz_client_set_next_timestamp(zz_client *c, uint64_t ts)
{
	if (!c->busy && ts > c->next_ts)
		c->next_ts = ts;
}

bool
zz_client_busy(const zz_client *c)
{
	return c->busy;
}

/*
 * How long to wait for all n responses before committing with 2f+1.
 *
 * Twice the usual time to n responses (learnt from fast completions), at
 * least ZZ_COMMIT_WAIT_MIN and at most commit_timeout.  When requests keep
 * needing the commit path, a replica is down or slow: then commit as soon
 * as 2f+1 match, paying a round trip instead of a timer, and wait the full
 * time only on every probe_every-th request to notice its return.  Each
 * probe that still ends on the commit path doubles probe_every, from
 * ZZ_COMMIT_PROBE up to ZZ_COMMIT_PROBE_MAX, so a replica that stays down
 * costs ever fewer full waits; a fast completion resets it.
 */
#define ZZ_COMMIT_WAIT_MIN	100		/* microseconds */
#define ZZ_COMMIT_STREAK	3
#define ZZ_COMMIT_PROBE		32
#define ZZ_COMMIT_PROBE_MAX	512

static zz_time
commit_wait(zz_client *c)
{
	zz_time		w;

	if (c->probe_every == 0)
		c->probe_every = ZZ_COMMIT_PROBE;
	c->probing = false;
	if (c->commit_streak >= ZZ_COMMIT_STREAK)
	{
		if (++c->since_probe < c->probe_every)
			return 0;
		c->since_probe = 0;
		c->probing = true;
	}
	if (c->full_ewma == 0)
		return c->p.commit_timeout;
	w = 2 * c->full_ewma;
	if (w < ZZ_COMMIT_WAIT_MIN)
		w = ZZ_COMMIT_WAIT_MIN;
	return w < c->p.commit_timeout ? w : c->p.commit_timeout;
}

/*
 * Learn from a completion: fast ones teach the time to n responses.
 */
static void
learn_commit_wait(zz_client *c, zz_time latency, zz_completion_path path)
{
	if (path == ZZ_PATH_FAST)
	{
		c->commit_streak = 0;
		c->since_probe = 0;
		c->probe_every = ZZ_COMMIT_PROBE;
		/* EWMA with weight 1/8. */
		c->full_ewma = c->full_ewma == 0 ? latency :
			c->full_ewma - c->full_ewma / 8 + latency / 8;
	}
	else
	{
		c->commit_streak++;
		if (c->probing && c->probe_every < ZZ_COMMIT_PROBE_MAX)
			c->probe_every *= 2;
	}
	c->probing = false;
}

/*
 * Retransmission intervals grow with the request's size: one factor more
 * per ZZ_RETRANSMIT_SIZE_UNIT bytes.  A request of a few KiB keeps the
 * configured intervals; one of 1 MiB waits 17 times as long before it is
 * sent again to every replica, and its cap is 17 times retransmit_max.  A
 * flood of large requests keeps a correct primary behind for seconds, and
 * each early retransmission of 1 MiB to n replicas (which hash it to check
 * its MAC) only adds to the flood.
 */
#define ZZ_RETRANSMIT_SIZE_UNIT (64u << 10)

static zz_time
retransmit_size_factor(size_t len)
{
	return 1 + (zz_time) (len / ZZ_RETRANSMIT_SIZE_UNIT);
}

static zz_time
retransmit_first(const zz_client *c, uint32_t op_len)
{
	return c->p.retransmit_timeout * retransmit_size_factor(op_len);
}

static zz_time
retransmit_cap(const zz_client *c)
{
	return c->p.retransmit_max * retransmit_size_factor(c->req.len);
}

/*
 * Submit a new operation: REQUEST with a MAC authenticator (one MAC per
 * replica), sent to the primary of the view we believe in.
 */
/*
 * Give up the outstanding request: its caller is gone.  No more
 * retransmissions; responses that still arrive for it are ignored (they
 * carry its timestamp, and the next request gets a later one).  The
 * request may still be executed: it may be ordered already.
 */
void
zz_client_abandon(zz_client *c)
{
	if (!c->busy)
		return;
	c->busy = false;
	c->committing = false;
	clear_responses(c);
}

uint64_t
zz_client_submit(zz_client *c, zz_time now, const uint8_t *op, uint32_t op_len)
{
	zz_request	q;
	uint32_t	i;

	if (c->busy || op_len > ZZ_MAX_OP_LEN)
		return 0;
	memset(&q, 0, sizeof(q));
	q.client = c->id;
	if (ZZ_CLIENT_BUGGY(c, ZZ_CLIENT_BUG_REUSE_TIMESTAMP) && c->next_ts > 1 && (c->next_ts & 1))
		q.timestamp = c->next_ts - 1;	/* faulty: an old t with a new op */
	else
		q.timestamp = c->next_ts++;
	q.op = op;
	q.op_len = op_len;
	q.n_auth = (uint8_t) c->p.n;
	zz_request_digest(c->crypto, &q, &c->req_digest);
	c->commit_deadline = now + commit_wait(c);
	c->commit_fired = false;
	for (i = 0; i < c->p.n; i++)
		zz_mac_compute(c->crypto, i, &c->req_digest, &q.auth[i]);
	zz_buf_reset(&c->req);
	if (!zz_encode_request(&c->req, &q))
		return 0;

	clear_responses(c);
	c->busy = true;
	c->committing = false;
	c->pom_sent = false;
	memset(c->local_commit, 0, sizeof(c->local_commit));
	c->lc_seq = 0;
	c->ts = q.timestamp;
	c->sent_at = now;
	c->retransmit_interval = retransmit_first(c, op_len);
	c->retransmit_deadline = now + c->retransmit_interval;
	c->stats.submitted++;
	c->io.to_replica(c->io.ctx, zz_primary_of(&c->p, c->view), c->req.data, c->req.len);
	return q.timestamp;
}

static bool
responses_match(const zz_resp_slot *a, const zz_resp_slot *b)
{
	return a->m.view == b->m.view && a->m.seq == b->m.seq &&
		zz_digest_eq(&a->m.history, &b->m.history) &&
		a->m.reply_len == b->m.reply_len &&
		memcmp(a->m.reply, b->m.reply, a->m.reply_len) == 0;
}

/*
 * How many replicas sent a response matching replica i's.
 */
static uint32_t
count_matching(const zz_client *c, uint32_t i)
{
	uint32_t	j,
				k = 0;

	for (j = 0; j < c->p.n; j++)
		if (c->resp[j].have && responses_match(&c->resp[i], &c->resp[j]))
			k++;
	return k;
}

static void
complete(zz_client *c, zz_time now, const zz_resp_slot *s, zz_completion_path path)
{
	zz_completion done;

	memset(&done, 0, sizeof(done));
	done.timestamp = c->ts;
	done.view = s->m.view;
	done.seq = s->m.seq;
	done.history = s->m.history;
	done.path = path;
	done.reply = s->m.reply;
	done.reply_len = s->m.reply_len;
	done.latency = now - c->sent_at;
	learn_commit_wait(c, done.latency, path);
	c->verify_cc = false;
	if (s->m.view > c->view)
		c->view = s->m.view;
	c->busy = false;
	c->committing = false;
	if (path == ZZ_PATH_FAST)
		c->stats.completed_fast++;
	else
		c->stats.completed_commit++;
	if (c->done)
		c->done(c->done_ctx, c->id, &done);
	clear_responses(c);
}

/*
 * Is replica i's response core signed, and does its reply sit in the
 * signed reply tree?  Checked lazily: only the commit path needs it.
 */
static bool
response_certifiable(zz_client *c, zz_resp_slot *s)
{
	zz_digest	leaf;

	if (s->sig_checked)
		return s->sig_ok;
	s->sig_checked = true;
	s->sig_ok = false;
	zz_response_core_signing_bytes(&c->sigbuf, s->m.view, s->m.seq, &s->m.history,
								   &s->m.reply_root);
	if (!zz_verify(c->crypto, s->m.replica, c->sigbuf.data, c->sigbuf.len, &s->m.core_sig))
		return false;
	zz_reply_leaf(c->crypto, s->m.client, s->m.timestamp, s->m.reply, s->m.reply_len, &leaf);
	s->sig_ok = zz_merkle_verify(c->crypto, &leaf, s->m.order.count, s->m.index,
								 s->m.path, s->m.path_len, &s->m.reply_root);
	return s->sig_ok;
}

static void
send_commit(zz_client *c)
{
	uint32_t	i;

	zz_buf_reset(&c->out);
	zz_encode_commit(&c->out, &c->commit);
	for (i = 0; i < c->p.n; i++)
		c->io.to_replica(c->io.ctx, i, c->out.data, c->out.len);
	c->stats.commits_sent++;
}

/*
 * The commit timer fired: build a commit certificate from 2f+1 matching,
 * certifiable responses, if we have them.
 */
static bool
try_commit(zz_client *c)
{
	uint32_t	i,
				j;

	for (i = 0; i < c->p.n; i++)
	{
		zz_commit_cert *cc = &c->commit.cc;

		if (!c->resp[i].have || count_matching(c, i) < zz_quorum(&c->p))
			continue;
		memset(&c->commit, 0, sizeof(c->commit));
		c->commit.client = c->id;
		c->commit.timestamp = c->ts;
		cc->view = c->resp[i].m.view;
		cc->seq = c->resp[i].m.seq;
		cc->history = c->resp[i].m.history;
		for (j = 0; j < c->p.n; j++)
		{
			zz_resp_slot *s = &c->resp[j];

			/*
			 * Check the response cores' signatures only after a certificate
			 * failed to gather LOCAL-COMMITs: replicas check them anyway
			 * (once per batch), and checking 2f+1 per request here cost the
			 * commit path most of its CPU.
			 */
			if (!s->have || !responses_match(&c->resp[i], s) ||
				(c->verify_cc && !response_certifiable(c, s)))
				continue;
			cc->entries[cc->count].replica = s->m.replica;
			cc->entries[cc->count].reply_root = s->m.reply_root;
			cc->entries[cc->count].sig = s->m.core_sig;
			cc->count++;
		}
		if (cc->count < zz_quorum(&c->p))
			continue;
		if (ZZ_CLIENT_BUGGY(c, ZZ_CLIENT_BUG_BAD_CC))
			cc->entries[0].sig.b[0] ^= 1;
		/*
		 * LOCAL-COMMITs for the same (n, h_n) still count, whatever the
		 * certificate's view: each says in which view its sender vouched.
		 */
		if (cc->seq != c->lc_seq || !zz_digest_eq(&cc->history, &c->lc_history))
		{
			memset(c->local_commit, 0, sizeof(c->local_commit));
			c->lc_seq = cc->seq;
			c->lc_history = cc->history;
		}
		c->committing = true;
		c->commit_group = (int) i;
		copy_slot(&c->commit_rep, &c->resp[i]);
		send_commit(c);
		return true;
	}
	return false;
}

/*
 * Step 4d: two responses carrying different ORDER-REQs for one (v, n),
 * both signed by that view's primary, prove it equivocated.  Tell every
 * replica (once per request); they check the signatures themselves.
 */
static void
check_equivocation(zz_client *c, const zz_resp_slot *s)
{
	uint32_t	j;

	static const zz_sig unsigned_hdr;

	/* Answers from the client table carry no ORDER-REQ to compare. */
	if (c->pom_sent || memcmp(&s->m.order.sig, &unsigned_hdr, sizeof(zz_sig)) == 0)
		return;
	for (j = 0; j < c->p.n; j++)
	{
		const zz_resp_slot *o = &c->resp[j];
		zz_pom		pom;

		if (!o->have || o == s || o->m.order.view != s->m.order.view ||
			o->m.order.seq != s->m.order.seq ||
			(zz_digest_eq(&o->m.order.history, &s->m.order.history) &&
			 zz_digest_eq(&o->m.order.batch_digest, &s->m.order.batch_digest)))
			continue;
		zz_order_hdr_signing_bytes(&c->sigbuf, &s->m.order);
		if (!zz_verify(c->crypto, zz_primary_of(&c->p, s->m.order.view), c->sigbuf.data,
					   c->sigbuf.len, &s->m.order.sig))
			return;
		zz_order_hdr_signing_bytes(&c->sigbuf, &o->m.order);
		if (!zz_verify(c->crypto, zz_primary_of(&c->p, o->m.order.view), c->sigbuf.data,
					   c->sigbuf.len, &o->m.order.sig))
			continue;
		pom.a = s->m.order;
		pom.b = o->m.order;
		zz_buf_reset(&c->out);
		if (!zz_encode_pom(&c->out, &pom))
			return;
		for (j = 0; j < c->p.n; j++)
			c->io.to_replica(c->io.ctx, j, c->out.data, c->out.len);
		c->pom_sent = true;
		c->stats.poms_sent++;
		return;
	}
}

static void
on_spec_response(zz_client *c, zz_time now, const uint8_t *buf, size_t len)
{
	zz_spec_response m;
	zz_digest	d;
	zz_resp_slot *s;
	uint32_t	need;

	if (zz_decode_spec_response(buf, len, &m) != ZZ_OK || m.replica >= c->p.n)
		goto reject;
	if (!c->busy || m.client != c->id || m.timestamp != c->ts)
		return;					/* stale or not ours */
	zz_spec_response_mac_digest(c->crypto, &m, &d);
	if (!zz_mac_check(c->crypto, m.replica, &d, &m.mac))
		goto reject;

	/*
	 * Keep the latest response per replica: a view change re-executes,
	 * and a request below a stable checkpoint is answered from the client
	 * table at view 0.
	 */
	s = &c->resp[m.replica];
	if (!fill_slot(s, buf, len))
		goto reject;
	check_equivocation(c, s);

	need = ZZ_CLIENT_BUGGY(c, ZZ_CLIENT_BUG_COMPLETE_ON_2F) ? 2 * c->p.f : c->p.n;
	if (count_matching(c, m.replica) >= need)
	{
		complete(c, now, s, ZZ_PATH_FAST);
		return;
	}
	if (c->committing || now < c->commit_deadline || ZZ_CLIENT_BUGGY(c, ZZ_CLIENT_BUG_NEVER_COMMIT))
		return;
	try_commit(c);
	return;
reject:
	c->stats.rejected++;
}

/*
 * A LOCAL-COMMIT for the certificate we sent: complete once 2f+1 distinct
 * replicas sent one in the same view (the view each MACs in its message).
 * A LOCAL-COMMIT binds its sender only until it leaves that view: one that
 * rolls the entry back in a later view change vouches for nothing after,
 * so LOCAL-COMMITs of different views must not add up (docs/protocol.md
 * section 10, "Completion on the commit path").  A replica's latest one
 * replaces its earlier: correct replicas' views only rise.
 */
static void
on_local_commit(zz_client *c, zz_time now, const uint8_t *buf, size_t len)
{
	zz_local_commit m;
	zz_digest	d;
	uint32_t	i,
				k = 0;

	if (zz_decode_local_commit(buf, len, &m) != ZZ_OK || m.replica >= c->p.n)
		goto reject;
	if (!c->busy || c->lc_seq == 0 || m.client != c->id || m.timestamp != c->ts)
		return;
	zz_local_commit_mac_digest(c->crypto, &m, &d);
	if (!zz_mac_check(c->crypto, m.replica, &d, &m.mac))
		goto reject;
	if (m.seq != c->lc_seq || !zz_digest_eq(&m.history, &c->lc_history))
		return;
	if (c->local_commit[m.replica] && m.view < c->lc_sent_in[m.replica])
		return;
	c->local_commit[m.replica] = true;
	c->lc_sent_in[m.replica] = m.view;
	for (i = 0; i < c->p.n; i++)
		k += c->local_commit[i] && (c->lc_sent_in[i] == m.view ||
									ZZ_CLIENT_BUGGY(c, ZZ_CLIENT_BUG_LC_ANY_VIEW));
	if (k >= zz_quorum(&c->p))
		complete(c, now, &c->commit_rep, ZZ_PATH_COMMIT);
	return;
reject:
	c->stats.rejected++;
}

void
zz_client_receive(zz_client *c, zz_time now, const uint8_t *buf, size_t len)
{
	zz_msg_type t;

	if (zz_msg_peek_type(buf, len, &t) != ZZ_OK)
	{
		c->stats.rejected++;
		return;
	}
	if (t == ZZ_MSG_SPEC_RESPONSE)
		on_spec_response(c, now, buf, len);
	else if (t == ZZ_MSG_LOCAL_COMMIT)
		on_local_commit(c, now, buf, len);
	else
		c->stats.rejected++;
}

zz_time
zz_client_next_deadline(const zz_client *c)
{
	zz_time		t;

	if (!c->busy)
		return UINT64_MAX;
	t = c->retransmit_deadline;
	if (!c->committing && !c->commit_fired && c->commit_deadline < t &&
		!ZZ_CLIENT_BUGGY(c, ZZ_CLIENT_BUG_NEVER_COMMIT))
		t = c->commit_deadline;
	return t;
}

void
zz_client_tick(zz_client *c, zz_time now)
{
	uint32_t	i;

	if (!c->busy)
		return;
	if (!c->committing && !c->commit_fired && now >= c->commit_deadline &&
		!ZZ_CLIENT_BUGGY(c, ZZ_CLIENT_BUG_NEVER_COMMIT))
	{
		/*
		 * Without 2f+1 matching yet, keep the deadline passed: each further
		 * response tries again (on_spec_response), so the request commits
		 * as soon as the quorum is in.  Only the timer is spent.  (Moving
		 * the deadline to infinity here left a request whose timer fired
		 * early, as the adaptive timer's zero wait makes it do whenever the
		 * loop ticks between submit and the responses, waiting for the
		 * retransmission: 50 ms per request with a backup down.)
		 */
		c->commit_fired = true;
		try_commit(c);
	}
	if (now >= c->retransmit_deadline)
	{
		/*
		 * Retransmit the request to all replicas, and a pending COMMIT too.
		 * A certificate may never gather LOCAL-COMMITs (its history was
		 * rolled back in a view change): fresh responses then let the
		 * commit timer form a new one.
		 */
		if (c->committing)
		{
			send_commit(c);
			c->verify_cc = true;	/* from now on, build only checked ones */
		}
		for (i = 0; i < c->p.n; i++)
			c->io.to_replica(c->io.ctx, i, c->req.data, c->req.len);
		c->committing = false;
		c->pom_sent = false;	/* a proof of misbehaviour may have been lost too */
		c->commit_deadline = now + c->p.commit_timeout;
		c->commit_fired = false;
		c->stats.retransmissions++;
		c->retransmit_interval *= 2;
		if (c->retransmit_interval > retransmit_cap(c))
			c->retransmit_interval = retransmit_cap(c);
		c->retransmit_deadline = now + c->retransmit_interval;
	}
}
