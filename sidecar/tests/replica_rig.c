/*
 * replica_rig.c
 *	  The replica unit tests' rig (replica_rig.h): building and freeing it,
 *	  recording what the replicas send, building and signing the messages
 *	  the tests feed them, reading what they answered, and playing the
 *	  network between real replicas.
 */

#include "replica_rig.h"

/* ------------------------------------------------------------------------
 * The rig: one replica, the cluster's keys, and a record of what it sent
 * ------------------------------------------------------------------------ */

zz_crypto_mode mode_real = ZZ_CRYPTO_REAL;
zz_crypto_mode mode_symbolic = ZZ_CRYPTO_SYMBOLIC;

static void
record(node *from, bool to_client, uint32_t dest, const uint8_t *buf, size_t len)
{
	rig		   *g = from->g;
	sent_msg   *m;

	if (g->n_sent == g->cap_sent)
	{
		g->cap_sent = g->cap_sent ? 2 * g->cap_sent : 64;
		g->sent = realloc(g->sent, g->cap_sent * sizeof(*g->sent));
		assert_non_null(g->sent);
	}
	m = &g->sent[g->n_sent++];
	m->from = from->id;
	m->to_client = to_client;
	m->dest = dest;
	m->type = len > 0 ? buf[0] : 0;
	m->len = len;
	m->sender_mode = ZZ_MODE_NORMAL;
	m->sender_view = 0;
	if (from->id < ZZ_MAX_N && g->rr[from->id] != NULL)
	{
		zz_replica_status st;

		zz_replica_get_status(g->rr[from->id], &st);
		m->sender_mode = st.mode;
		m->sender_view = st.view;
	}
	m->buf = malloc(len ? len : 1);
	assert_non_null(m->buf);
	memcpy(m->buf, buf, len);
}

void
io_to_replica(void *ctx, uint32_t replica, const uint8_t *buf, size_t len)
{
	record(ctx, false, replica, buf, len);
}

void
io_to_client(void *ctx, uint32_t client, const uint8_t *buf, size_t len)
{
	record(ctx, true, client, buf, len);
}

void
io_trace(void *ctx, const char *line)
{
	node	   *from = ctx;

	if (from->g->trace)
		fprintf(stderr, "  trace: %s\n", line);
}

/* Create replica i of the rig with its own crypto context and service. */
void
rig_start_replica(rig *g, uint32_t i)
{
	g->rcs[i] = zz_crypto_create(g->ks, true, i);
	assert_non_null(g->rcs[i]);
	g->kvs[i] = zz_kv_create();
	assert_non_null(g->kvs[i]);
	g->nodes[i].g = g;
	g->nodes[i].id = i;
	g->ios[i].ctx = &g->nodes[i];
	g->ios[i].to_replica = io_to_replica;
	g->ios[i].to_client = io_to_client;
	g->ios[i].trace = io_trace;
	g->rr[i] = zz_replica_create(&g->p, i, g->rcs[i], zz_kv_service(g->kvs[i]), &g->ios[i]);
	assert_non_null(g->rr[i]);
}

rig *
rig_new_f(zz_crypto_mode mode, uint32_t f, uint32_t id)
{
	rig		   *g = calloc(1, sizeof(*g));
	uint32_t	i;

	assert_non_null(g);
	assert_true(zz_params_default(&g->p, f));
	g->p.cp_interval = CP;
	g->p.batch_max = 8;
	g->id = id;
	g->ks = zz_keyset_from_seed(mode, g->p.n, N_CLIENTS, 0x7e57 + f);
	assert_non_null(g->ks);
	for (i = 0; i < g->p.n; i++)
	{
		g->signer[i] = zz_crypto_create(g->ks, true, i);
		assert_non_null(g->signer[i]);
	}
	for (i = 0; i < N_CLIENTS; i++)
	{
		g->client[i] = zz_crypto_create(g->ks, false, i);
		assert_non_null(g->client[i]);
		g->next_ts[i] = 1;
	}
	g->trace = getenv("ZZ_TEST_TRACE") != NULL;
	rig_start_replica(g, id);
	g->r = g->rr[id];
	g->kv = g->kvs[id];
	g->rcrypto = g->rcs[id];
	zz_buf_init(&g->buf);
	zz_buf_init(&g->sigbuf);
	g->now = 1000;
	return g;
}

rig *
rig_new(void **state)
{
	return rig_new_f(*(const zz_crypto_mode *) *state, 1, RID);
}

void
rig_free(rig *g)
{
	size_t		i;

	for (i = 0; i < g->p.n; i++)
	{
		zz_replica_free(g->rr[i]);
		zz_kv_free(g->kvs[i]);
		zz_crypto_free(g->rcs[i]);
		zz_crypto_free(g->signer[i]);
	}
	for (i = 0; i < N_CLIENTS; i++)
		zz_crypto_free(g->client[i]);
	zz_keyset_free(g->ks);
	for (i = 0; i < g->n_sent; i++)
		free(g->sent[i].buf);
	free(g->sent);
	zz_buf_free(&g->buf);
	zz_buf_free(&g->sigbuf);
	free(g);
}

zz_replica_status
status(const rig *g)
{
	zz_replica_status s;

	zz_replica_get_status(g->r, &s);
	return s;
}

const zz_replica_stats *
stats(const rig *g)
{
	return zz_replica_get_stats(g->r);
}

/* The k-th replica other than the one under test (k < n - 1). */
uint32_t
other(const rig *g, uint32_t k)
{
	return k < g->id ? k : k + 1;
}

void
deliver(rig *g, const zz_buf *b)
{
	g->now += 10;
	zz_replica_receive(g->r, g->now, b->data, b->len);
}

size_t
count_sent(const rig *g, bool to_client, uint8_t type)
{
	size_t		i,
				n = 0;

	for (i = 0; i < g->n_sent; i++)
		if (g->sent[i].to_client == to_client && g->sent[i].type == type)
			n++;
	return n;
}

const sent_msg *
last_sent(const rig *g, bool to_client, uint8_t type)
{
	size_t		i;

	for (i = g->n_sent; i > 0; i--)
		if (g->sent[i - 1].to_client == to_client && g->sent[i - 1].type == type)
			return &g->sent[i - 1];
	return NULL;
}

void
clear_sent(rig *g)
{
	size_t		i;

	for (i = 0; i < g->n_sent; i++)
		free(g->sent[i].buf);
	g->n_sent = 0;
	g->pumped = 0;
}

/* ------------------------------------------------------------------------
 * Building messages
 * ------------------------------------------------------------------------ */

/* A client's REQUEST with a MAC authenticator entry for every replica. */
void
make_request(rig *g, const rq *q, zz_request *out, unsigned tamper)
{
	zz_crypto  *c = g->client[q->client];
	zz_digest	d;
	uint32_t	j;

	memset(out, 0, sizeof(*out));
	out->client = q->client;
	out->timestamp = q->ts;
	out->op = (const uint8_t *) q->op;
	out->op_len = (uint32_t) strlen(q->op);
	zz_request_digest(c, out, &d);
	out->n_auth = (uint8_t) g->p.n;
	for (j = 0; j < g->p.n; j++)
		zz_mac_compute(c, j, &d, &out->auth[j]);
	if (tamper & T_BAD_MAC)
		out->auth[g->id].b[3] ^= 0x40;
}

/* The time encode_order puts in its ORDER-REQs; 0: 5000 + n. */
uint64_t order_nd_time;

/*
 * Encode into out an ORDER-REQ (v, n) over requests qs, chained from prev
 * the way the replica chains (zz_batch_digest, zz_chain_history), signed
 * by the primary of v unless tamper says otherwise.  *h_out gets its h_n.
 */
void
encode_order(rig *g, zz_view v, zz_seq n, const zz_digest *prev, const rq *qs,
			 uint32_t count, unsigned tamper, zz_buf *out, zz_digest *h_out)
{
	zz_order_req m;
	zz_request	reqs[MAX_REQS];
	zz_digest	digs[MAX_REQS];
	uint32_t	primary = zz_primary_of(&g->p, v),
				key = primary,
				i;
	zz_crypto  *c = g->signer[primary];

	assert_true(count >= 1 && count <= MAX_REQS);
	memset(&m, 0, sizeof(m));
	for (i = 0; i < count; i++)
	{
		make_request(g, &qs[i], &reqs[i], tamper);
		zz_request_digest(c, &reqs[i], &digs[i]);
	}
	m.reqs = reqs;
	m.hdr.view = v;
	m.hdr.seq = n;
	m.hdr.count = count;
	m.hdr.nd_time = order_nd_time != 0 ? order_nd_time : 5000 + n;
	m.hdr.nd_seed = 0xabcdef00ull + n;
	zz_batch_digest(c, m.hdr.nd_time, m.hdr.nd_seed, digs, count, &m.hdr.batch_digest);
	if (tamper & T_BAD_BATCH_CHAINED)
		m.hdr.batch_digest.b[7] ^= 0x01;
	zz_chain_history(c, prev, n, &m.hdr.batch_digest, &m.hdr.history);
	if (tamper & T_BAD_BATCH_DIGEST)
		m.hdr.batch_digest.b[7] ^= 0x01;
	if (tamper & T_BAD_HISTORY)
		m.hdr.history.b[11] ^= 0x80;
	if (tamper & T_WRONG_SIGNER)
	{
		key = (primary + 1) % g->p.n;
		if (key == g->id)
			key = (key + 1) % g->p.n;
	}
	zz_order_hdr_signing_bytes(&g->sigbuf, &m.hdr);
	assert_true(g->sigbuf.len > 0);
	assert_true(zz_sign(g->signer[key], g->sigbuf.data, g->sigbuf.len, &m.hdr.sig));
	if (tamper & T_FLIP_SIG)
		m.hdr.sig.b[17] ^= 0x04;
	zz_buf_reset(out);
	assert_true(zz_encode_order_req(out, &m));
	if (h_out)
		*h_out = m.hdr.history;
}

/*
 * Order one request from client with the next timestamp, at the next seq
 * of the test's history, and check the replica executed it.  Returns its
 * timestamp.
 */
uint64_t
order_one(rig *g, uint32_t client, const char *op)
{
	rq			q = {client, g->next_ts[client]++, op};
	zz_digest	h;

	encode_order(g, 0, g->seq + 1, &g->hist, &q, 1, T_NONE, &g->buf, &h);
	deliver(g, &g->buf);
	assert_int_equal(status(g).last_executed, g->seq + 1);
	g->seq++;
	g->hist = h;
	return q.ts;
}

void
run_batches(rig *g, uint32_t k)
{
	while (k-- > 0)
		order_one(g, CLIENT, "ADD hits 1");
}

/*
 * A commit certificate over (v, n, h) with one entry per signer, each
 * signing (v, n, h, R).  A signer id >= n signs with key id % n.
 */
void
cc_fill(rig *g, zz_commit_cert *cc, zz_view v, zz_seq n, const zz_digest *h,
		const zz_digest *R, const uint32_t *who, uint32_t count)
{
	uint32_t	i;

	memset(cc, 0, sizeof(*cc));
	cc->view = v;
	cc->seq = n;
	cc->history = *h;
	cc->count = (uint8_t) count;
	for (i = 0; i < count; i++)
	{
		zz_cc_entry *e = &cc->entries[i];

		e->replica = who[i];
		e->reply_root = *R;
		zz_response_core_signing_bytes(&g->sigbuf, v, n, h, R);
		assert_true(zz_sign(g->signer[who[i] % g->p.n], g->sigbuf.data, g->sigbuf.len,
							&e->sig));
	}
}

void
send_commit(rig *g, uint32_t client, uint64_t ts, const zz_commit_cert *cc)
{
	zz_commit	m;

	memset(&m, 0, sizeof(m));
	m.client = client;
	m.timestamp = ts;
	m.cc = *cc;
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_commit(&g->buf, &m));
	deliver(g, &g->buf);
}

/* A CHECKPOINT vote signed with key's key, claiming to come from claimed. */
void
send_vote(rig *g, uint32_t key, uint32_t claimed, zz_seq seq, const zz_digest *h,
		  const zz_digest *state, bool flip_sig)
{
	zz_checkpoint cp;

	memset(&cp, 0, sizeof(cp));
	cp.seq = seq;
	cp.history = *h;
	cp.state = *state;
	cp.replica = claimed;
	zz_checkpoint_signing_bytes(&g->sigbuf, 0, seq, h, state, claimed);
	assert_true(zz_sign(g->signer[key], g->sigbuf.data, g->sigbuf.len, &cp.sig));
	if (flip_sig)
		cp.sig.b[40] ^= 0x20;
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_checkpoint(&g->buf, &cp));
	deliver(g, &g->buf);
}

/* A correct vote from replica `from` agreeing with cp. */
void
send_matching_vote(rig *g, uint32_t from, const zz_checkpoint *cp)
{
	send_vote(g, from, from, cp->seq, &cp->history, &cp->state, false);
}

void
send_i_hate(rig *g, uint32_t from, zz_view v)
{
	zz_i_hate	m;

	memset(&m, 0, sizeof(m));
	m.view = v;
	m.replica = from;
	zz_i_hate_signing_bytes(&g->sigbuf, v, from);
	assert_true(zz_sign(g->signer[from], g->sigbuf.data, g->sigbuf.len, &m.sig));
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_i_hate(&g->buf, &m));
	deliver(g, &g->buf);
}

/* ------------------------------------------------------------------------
 * Reading what the replica sent
 * ------------------------------------------------------------------------ */

/*
 * The replica's own CHECKPOINT for seq, if it has broadcast one: decoded,
 * sent to every other replica, and signed by the replica.
 */
bool
own_checkpoint(rig *g, zz_seq seq, zz_checkpoint *out)
{
	size_t		i,
				copies = 0;
	bool		found = false;

	for (i = 0; i < g->n_sent; i++)
	{
		const sent_msg *m = &g->sent[i];
		zz_checkpoint cp;

		if (m->to_client || m->type != ZZ_MSG_CHECKPOINT)
			continue;
		assert_int_equal(zz_decode_checkpoint(m->buf, m->len, &cp), ZZ_OK);
		if (cp.seq != seq)
			continue;
		assert_int_equal(cp.replica, g->id);
		assert_int_not_equal(m->dest, g->id);
		zz_checkpoint_signing_bytes(&g->sigbuf, cp.view, cp.seq, &cp.history, &cp.state, cp.replica);
		assert_true(zz_verify(g->client[0], g->id, g->sigbuf.data, g->sigbuf.len, &cp.sig));
		*out = cp;
		found = true;
		copies++;
	}
	if (found)
		assert_true(copies >= g->p.n - 1);
	return found;
}

/*
 * Whether the replica holds a checkpoint certificate at or above seq, as
 * another replica sees it: a signed STATE-REQUEST for seq is answered with
 * a STATE-REPLY carrying a proof of 2f+1 distinct signers.
 */
bool
certified(rig *g, zz_seq seq)
{
	zz_state_request q;
	zz_state_reply rep;
	uint32_t	asker = other(g, 0);
	size_t		before = g->n_sent,
				i;
	bool		answered = false;

	memset(&q, 0, sizeof(q));
	q.replica = asker;
	q.seq = seq;
	zz_state_request_signing_bytes(&g->sigbuf, &q);
	assert_true(zz_sign(g->signer[asker], g->sigbuf.data, g->sigbuf.len, &q.sig));
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_state_request(&g->buf, &q));
	deliver(g, &g->buf);
	for (i = before; i < g->n_sent; i++)
	{
		const sent_msg *m = &g->sent[i];

		if (m->to_client || m->type != ZZ_MSG_STATE_REPLY)
			continue;
		assert_int_equal(m->dest, asker);
		assert_int_equal(zz_decode_state_reply(m->buf, m->len, &rep), ZZ_OK);
		assert_true(rep.cp.seq >= seq);
		assert_true(rep.cp.count >= zz_quorum(&g->p));
		answered = true;
	}
	/* The internal view agrees with what the replica shows its peers. */
	assert_int_equal(answered, g->r->cert_proof.seq >= seq);
	return answered;
}

/* Decode the last SPEC-RESPONSE sent to client (its buffer outlives m). */
const sent_msg *
last_spec_response(rig *g, uint32_t client, zz_spec_response *m)
{
	const sent_msg *s = last_sent(g, true, ZZ_MSG_SPEC_RESPONSE);

	assert_non_null(s);
	assert_int_equal(s->dest, client);
	assert_int_equal(zz_decode_spec_response(s->buf, s->len, m), ZZ_OK);
	return s;
}

/* ------------------------------------------------------------------------
 * Commit certificates (section 4 step 5)
 * ------------------------------------------------------------------------ */

/*
 * Execute one request at seq 1 and return its timestamp, the replica's
 * reply root R and its own signature over (0, 1, h_1, R).
 */
uint64_t
cc_setup(rig *g, zz_digest *R, zz_sig *own_sig)
{
	zz_spec_response m;
	uint64_t	ts = order_one(g, CLIENT, "PUT color blue");

	last_spec_response(g, CLIENT, &m);
	*R = m.reply_root;
	*own_sig = m.core_sig;
	clear_sent(g);
	return ts;
}

/* A valid CC for what cc_setup executed: two other replicas and our own. */
void
cc_valid(rig *g, zz_commit_cert *cc, const zz_digest *R, const zz_sig *own_sig)
{
	uint32_t	who[2] = {other(g, 0), other(g, 1)};

	cc_fill(g, cc, 0, 1, &g->hist, R, who, 2);
	cc->entries[2].replica = g->id;
	cc->entries[2].reply_root = *R;
	cc->entries[2].sig = *own_sig;
	cc->count = 3;
}

/* ------------------------------------------------------------------------
 * Checkpoints (section 7)
 * ------------------------------------------------------------------------ */

/* Execute one interval and return the replica's own vote. */
void
cp_setup(rig *g, zz_checkpoint *cp)
{
	run_batches(g, CP);
	assert_true(own_checkpoint(g, CP, cp));
}

/* ------------------------------------------------------------------------
 * Recovery: resume from a kept stable checkpoint, repair (issue 6)
 * ------------------------------------------------------------------------ */

/* Bring the replica under test to a stable checkpoint at CP. */
void
stable_setup(rig *g, zz_checkpoint *cp1)
{
	zz_checkpoint cp2;

	run_batches(g, CP);
	assert_true(own_checkpoint(g, CP, cp1));
	send_matching_vote(g, other(g, 0), cp1);
	send_matching_vote(g, other(g, 1), cp1);
	run_batches(g, CP);
	assert_true(own_checkpoint(g, 2 * CP, &cp2));
	send_matching_vote(g, other(g, 0), &cp2);
	send_matching_vote(g, other(g, 1), &cp2);
	assert_int_equal(status(g).stable_seq, CP);
}

/* ------------------------------------------------------------------------
 * A small cluster: every replica real, the network in the test's hands
 * ------------------------------------------------------------------------ */

/* Start the other replicas of the rig, so they talk to each other. */
void
rig_add_peers(rig *g)
{
	uint32_t	i;

	for (i = 0; i < g->p.n; i++)
		if (g->rr[i] == NULL)
			rig_start_replica(g, i);
}

void
deliver_to(rig *g, uint32_t i, const zz_buf *b)
{
	g->now += 10;
	zz_replica_receive(g->rr[i], g->now, b->data, b->len);
}

/*
 * Deliver every replica-bound message sent since the last pump, in the
 * order sent (and what those provoke), unless drop says it is lost.
 */
void
pump(rig *g, drop_fn drop)
{
	while (g->pumped < g->n_sent)
	{
		sent_msg	m = g->sent[g->pumped++];	/* g->sent may move */

		if (m.to_client || m.dest >= g->p.n || g->rr[m.dest] == NULL ||
			(drop != NULL && drop(&m)))
			continue;
		g->now += 1;
		zz_replica_receive(g->rr[m.dest], g->now, m.buf, m.len);
	}
}

void
tick_all(rig *g, zz_time now, drop_fn drop)
{
	uint32_t	i;

	g->now = now;
	for (i = 0; i < g->p.n; i++)
		if (g->rr[i] != NULL)
			zz_replica_tick(g->rr[i], now);
	pump(g, drop);
}

zz_replica_status
status_of(const rig *g, uint32_t i)
{
	zz_replica_status st;

	zz_replica_get_status(g->rr[i], &st);
	return st;
}

void
send_i_hate_to(rig *g, uint32_t from, zz_view v, uint32_t to)
{
	zz_i_hate	ih;

	memset(&ih, 0, sizeof(ih));
	ih.view = v;
	ih.replica = from;
	zz_i_hate_signing_bytes(&g->sigbuf, v, from);
	assert_true(zz_sign(g->signer[from], g->sigbuf.data, g->sigbuf.len, &ih.sig));
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_i_hate(&g->buf, &ih));
	deliver_to(g, to, &g->buf);
}

void
encode_request(rig *g, const rq *q)
{
	zz_request	req;

	make_request(g, q, &req, T_NONE);
	zz_buf_reset(&g->buf);
	assert_true(zz_encode_request(&g->buf, &req));
}

/* ------------------------------------------------------------------------
 * Issue 10: certificates across views, forged evidence
 * ------------------------------------------------------------------------ */

/*
 * Four real replicas: requests qs[0..k) ordered by R0 in view 0 at n = 1..k
 * and executed by every backup, then I-HATE(0) from R0 and R3 moves the
 * whole cluster to view 1, whose new history keeps them (every VIEW-CHANGE
 * reports them) and whose primary R1 re-issues them.  *h gets h_k.
 */
void
cluster_to_view_1(rig *g, const rq *qs, uint32_t k, zz_digest *h)
{
	zz_digest	prev = {{0}};
	uint32_t	i,
				j;

	rig_add_peers(g);
	for (j = 0; j < k; j++)
	{
		encode_order(g, 0, j + 1, &prev, &qs[j], 1, T_NONE, &g->buf, &prev);
		for (i = 1; i < g->p.n; i++)
			deliver_to(g, i, &g->buf);
	}
	*h = prev;
	for (i = 0; i < g->p.n; i++)
	{
		send_i_hate_to(g, 0, 0, i);
		send_i_hate_to(g, 3, 0, i);
	}
	pump(g, NULL);
	for (i = 0; i < g->p.n; i++)
	{
		zz_replica_status st = status_of(g, i);

		assert_int_equal(st.view, 1);
		assert_int_equal(st.mode, ZZ_MODE_NORMAL);
		assert_int_equal(st.last_executed, k);
		assert_memory_equal(&st.history, h, sizeof(zz_digest));
	}
}

zz_exec_status
slow_execute(void *ctx, zz_seq seq, uint64_t nd_time, uint64_t nd_seed, const zz_op *ops,
			 uint32_t count, bool want_digest, zz_exec_result *res)
{
	slow_service *sl = ctx;
	zz_exec_status st = sl->inner->execute(sl->inner->ctx, seq, nd_time, nd_seed, ops,
										   count, want_digest, res);

	if (seq != sl->hold_seq || st != ZZ_EXEC_DONE)
		return st;
	sl->res = *res;
	sl->held = true;
	return ZZ_EXEC_PENDING;
}

bool
slow_rollback(void *ctx, zz_seq seq)
{
	slow_service *sl = ctx;

	return sl->inner->rollback(sl->inner->ctx, seq);
}

void
slow_mark_stable(void *ctx, zz_seq seq)
{
	slow_service *sl = ctx;

	sl->inner->mark_stable(sl->inner->ctx, seq);
}

/* ------------------------------------------------------------------------
 * zz_replica_check: each invariant broken by hand is caught
 * ------------------------------------------------------------------------ */

/* The check names the broken invariant (a substring of its message). */
void
assert_caught(rig *g, const char *what)
{
	const char *why = zz_replica_check(g->r);

	if (why == NULL)
		fail_msg("zz_replica_check did not catch: %s", what);
	if (strstr(why, what) == NULL)
		fail_msg("zz_replica_check caught \"%s\", expected \"%s\"", why, what);
}

/* ------------------------------------------------------------------------
 * Liveness (issue 10 item 7)
 * ------------------------------------------------------------------------ */

/* Client requests, one per client in turn, ordered by the primary of view v. */
void
cluster_requests(rig *g, zz_view v, uint32_t k, drop_fn drop)
{
	uint32_t	i;

	for (i = 0; i < k; i++)
	{
		rq			q = {i % N_CLIENTS, g->next_ts[i % N_CLIENTS]++, "ADD hits 1"};

		encode_request(g, &q);
		deliver_to(g, zz_primary_of(&g->p, v), &g->buf);
		tick_all(g, g->now + g->p.batch_timeout + 1, drop);
	}
}
