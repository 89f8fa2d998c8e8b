/*
 * test_replica_restart.c
 *	  Unit tests of a replica that restarts: it resumes from its kept
 *	  stable checkpoint (zz_replica_resume), takes back its own speculative
 *	  history (zz_replica_resume_history, reinstate.c), refuses a bad kept
 *	  checkpoint, repairs corrupt state from the highest certified
 *	  checkpoint, and rejoins the cluster's current view.
 *
 * The rig is shared with the other test_replica_*.c (replica_rig.h).
 */

#include "replica_rig.h"

/* ------------------------------------------------------------------------
 * Recovery: resume from a kept stable checkpoint, repair (issue 6)
 * ------------------------------------------------------------------------ */

/*
 * What a shell keeps at a stable checkpoint lets a fresh replica start
 * there: same stable checkpoint, same state digest, same client table.
 */
static void
test_resume_from_saved_stable_checkpoint(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp1;
	zz_buf		blob,
				t1,
				t2;
	zz_replica *fresh;
	zz_kvservice *kv;
	zz_replica_status st;

	stable_setup(g, &cp1);
	zz_buf_init(&blob);
	assert_false(zz_replica_save_stable(g->r, 2 * CP, &blob));	/* not stable */
	assert_true(zz_replica_save_stable(g->r, CP, &blob));

	kv = zz_kv_create();
	fresh = zz_replica_create(&g->p, g->id, g->rcrypto, zz_kv_service(kv), &g->ios[g->id]);
	assert_non_null(fresh);
	assert_true(zz_replica_resume(fresh, g->now, blob.data, blob.len));
	zz_replica_get_status(fresh, &st);
	assert_int_equal(st.stable_seq, CP);
	assert_int_equal(st.last_executed, CP);
	assert_int_equal(st.max_seq, CP);
	assert_int_equal(st.mode, ZZ_MODE_NORMAL);
	assert_memory_equal(&st.stable_state, &cp1.state, sizeof(zz_digest));
	assert_memory_equal(&st.history, &cp1.history, sizeof(zz_digest));
	assert_int_equal(zz_kv_stable(kv), CP);	/* the service heard of it */

	/* the client table is the one of the checkpoint */
	zz_buf_init(&t1);
	zz_buf_init(&t2);
	zz_client_table_serialize(fresh, &t2);
	assert_true(t2.len > 0);
	{
		/* the kept blob's table: after the service digest and its length */
		zz_state_reply m;
		uint32_t	tl;

		/* a STATE-REPLY, then the view and a mark */
		assert_int_equal(zz_decode_state_reply(blob.data, blob.len - 12, &m), ZZ_OK);
		memcpy(&tl, m.state + sizeof(zz_digest), 4);
		assert_int_equal(tl, t2.len);
		assert_memory_equal(m.state + sizeof(zz_digest) + 4, t2.data, tl);
	}

	/* only a fresh replica resumes */
	assert_false(zz_replica_resume(fresh, g->now, blob.data, blob.len));
	assert_false(zz_replica_resume(g->r, g->now, blob.data, blob.len));
	zz_replica_free(fresh);
	zz_kv_free(kv);
	zz_buf_free(&t1);
	zz_buf_free(&t2);
	zz_buf_free(&blob);
	rig_free(g);
}

/*
 * A replica restarted with its own speculative history above the stable
 * checkpoint (zz_replica_resume_history): the stored ORDER-REQs come back
 * as its log, executed again, in the highest view it knew.  A stored
 * ORDER-REQ that does not verify as if it came from the network
 * (signature flipped, unsigned, from another history, a gap) ends the
 * history there; what follows is not taken either.
 */
static void
test_resume_history_reinstates_own_batches(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp1;
	zz_buf		blob,
				ob[CP],
				none;
	zz_kept_order k[CP];
	zz_replica_status before;

	stable_setup(g, &cp1);
	before = status(g);
	assert_int_equal(before.last_executed, 2 * CP);
	zz_buf_init(&blob);
	zz_buf_init(&none);
	assert_true(zz_replica_save_stable(g->r, CP, &blob));
	for (uint32_t i = 0; i < CP; i++)
	{
		zz_buf_init(&ob[i]);
		assert_true(zz_replica_save_order(g->r, CP + 1 + i, &ob[i]));
		k[i].buf = ob[i].data;
		k[i].len = ob[i].len;
	}
	/* only what the log holds */
	assert_false(zz_replica_save_order(g->r, 2 * CP + 1, &none));
	assert_false(zz_replica_save_order(g->r, CP, &none));

	/*
	 * case 0: all of it, in view 0; 1: the view kept through keep_view is
	 * higher; 2: a signature flipped; 3: unsigned; 4: a correctly signed
	 * ORDER-REQ of another history; 5: a gap; 6: bytes that do not decode
	 */
	for (int c = 0; c <= 6; c++)
	{
		zz_kvservice *kv = zz_kv_create();
		zz_replica *fresh;
		zz_replica_status st;
		zz_kept_order kk[CP];
		zz_buf		bad;
		zz_order_req m;
		zz_seq		until = 0,
					expect = 2 * CP;
		uint32_t	nk = CP;
		const uint32_t at = 2;	/* the stored batch the bad cases spoil */

		memcpy(kk, k, sizeof(kk));
		zz_buf_init(&bad);
		if (c == 2 || c == 3)
		{
			assert_int_equal(zz_decode_order_req(k[at].buf, k[at].len, &m), ZZ_OK);
			if (c == 2)
				m.hdr.sig.b[5] ^= 0x10;
			else
				memset(&m.hdr.sig, 0, sizeof(m.hdr.sig));
			assert_true(zz_encode_order_req(&bad, &m));
			zz_order_req_release(&m);
		}
		else if (c == 4)
		{
			rq			q = {CLIENT, 999, "ADD other 1"};

			encode_order(g, 0, CP + 1 + at, &cp1.history, &q, 1, T_NONE, &bad, NULL);
		}
		if (c >= 2 && c <= 4)
		{
			kk[at].buf = bad.data;
			kk[at].len = bad.len;
			expect = CP + at;
		}
		else if (c == 5)
		{
			memmove(&kk[at], &kk[at + 1], sizeof(kk[0]) * (CP - at - 1));
			nk = CP - 1;
			expect = CP + at;
		}
		else if (c == 6)
		{
			kk[at].len = 7;
			expect = CP + at;
		}

		fresh = zz_replica_create(&g->p, g->id, g->rcrypto, zz_kv_service(kv), &g->ios[g->id]);
		assert_non_null(fresh);
		assert_true(zz_replica_resume_history(fresh, g->now, blob.data, blob.len, kk, nk,
											  c == 1 ? 3 : 0, &until));
		assert_int_equal(until, expect);
		zz_replica_get_status(fresh, &st);
		assert_int_equal(st.stable_seq, CP);
		assert_int_equal(st.max_seq, expect);
		assert_int_equal(st.last_executed, expect);	/* the kv executes at once */
		assert_int_equal(st.view, c == 1 ? 3 : 0);
		assert_int_equal(st.mode, ZZ_MODE_NORMAL);
		if (expect == 2 * CP)
			assert_memory_equal(&st.history, &before.history, sizeof(zz_digest));
		assert_null(zz_replica_check(fresh));
		/* only a fresh replica resumes */
		assert_false(zz_replica_resume_history(fresh, g->now, blob.data, blob.len, kk, nk,
											   0, NULL));
		zz_replica_free(fresh);
		zz_kv_free(kv);
		zz_buf_free(&bad);
	}

	/* a checkpoint that does not verify: nothing at all */
	{
		zz_kvservice *kv = zz_kv_create();
		zz_replica *fresh = zz_replica_create(&g->p, g->id, g->rcrypto, zz_kv_service(kv),
											  &g->ios[g->id]);
		zz_replica_status st;

		assert_false(zz_replica_resume_history(fresh, g->now, blob.data, blob.len - 20, k, CP,
											   0, NULL));
		zz_replica_get_status(fresh, &st);
		assert_int_equal(st.max_seq, 0);
		zz_replica_free(fresh);
		zz_kv_free(kv);
	}
	for (uint32_t i = 0; i < CP; i++)
		zz_buf_free(&ob[i]);
	zz_buf_free(&none);
	zz_buf_free(&blob);
	rig_free(g);
}

/*
 * A kept checkpoint that does not verify is refused: a changed client
 * table (the digest no longer matches what 2f+1 signed), a proof with too
 * few signatures, another replica's, truncated bytes.
 */
static void
test_resume_refuses_bad_checkpoint(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp1;
	zz_buf		blob,
				bad;
	zz_state_reply m;
	uint8_t    *copy;

	stable_setup(g, &cp1);
	zz_buf_init(&blob);
	assert_true(zz_replica_save_stable(g->r, CP, &blob));

	for (int c = 0; c < 5; c++)
	{
		zz_replica *fresh;
		zz_kvservice *kv = zz_kv_create();
		size_t		len = blob.len;

		zz_buf_init(&bad);
		assert_int_equal(zz_decode_state_reply(blob.data, blob.len - 12, &m), ZZ_OK);
		copy = malloc(m.state_len);
		assert_non_null(copy);
		memcpy(copy, m.state, m.state_len);
		m.state = copy;
		switch (c)
		{
			case 0:			/* a byte of the client table */
				copy[m.state_len - 1] ^= 1;
				break;
			case 1:			/* the service digest */
				copy[3] ^= 1;
				break;
			case 2:			/* fewer than 2f+1 signers */
				m.cp.count = 2 * g->p.f;
				break;
			case 3:			/* another replica's */
				m.replica = other(g, 0);
				break;
			case 4:			/* truncated */
				break;
		}
		assert_true(zz_encode_state_reply(&bad, &m));
		if (c == 4)
			len = bad.len - 3;
		else
			len = bad.len;
		fresh = zz_replica_create(&g->p, g->id, g->rcrypto, zz_kv_service(kv), &g->ios[g->id]);
		assert_false(zz_replica_resume(fresh, g->now, bad.data, len));
		assert_int_equal(status(g).stable_seq, CP);
		{
			zz_replica_status st;

			zz_replica_get_status(fresh, &st);
			assert_int_equal(st.stable_seq, 0);
			assert_int_equal(st.last_executed, 0);
		}
		zz_replica_free(fresh);
		zz_kv_free(kv);
		free(copy);
		zz_buf_free(&bad);
	}
	zz_buf_free(&blob);
	rig_free(g);
}

/*
 * A service that finds its state corrupt: the replica stops answering
 * (state transfer mode) and asks a signer of its highest certificate for
 * that checkpoint, even though it is its own stable one.
 */
static void
test_repair_fetches_highest_certified_checkpoint(void **state)
{
	rig		   *g = rig_new(state);
	zz_checkpoint cp1;
	zz_state_request q;
	const sent_msg *s;
	zz_replica_status st;
	size_t		before;

	stable_setup(g, &cp1);
	before = count_sent(g, false, ZZ_MSG_STATE_REQUEST);
	zz_replica_repair(g->r, g->now);
	st = status(g);
	assert_int_equal(st.mode, ZZ_MODE_STATE_TRANSFER);
	assert_true(st.repairing);
	assert_int_equal(st.transfer_seq, 2 * CP);
	assert_int_equal(stats(g)->repairs, 1);
	assert_int_equal(count_sent(g, false, ZZ_MSG_STATE_REQUEST), before + 1);
	s = last_sent(g, false, ZZ_MSG_STATE_REQUEST);
	assert_int_not_equal(s->dest, g->id);
	assert_int_equal(zz_decode_state_request(s->buf, s->len, &q), ZZ_OK);
	assert_int_equal(q.seq, 2 * CP);

	/* while repairing it neither serves its state nor orders requests */
	{
		zz_state_request m;

		memset(&m, 0, sizeof(m));
		m.replica = other(g, 0);
		m.seq = CP;
		zz_buf_reset(&g->sigbuf);
		zz_state_request_signing_bytes(&g->sigbuf, &m);
		zz_sign(g->signer[m.replica], g->sigbuf.data, g->sigbuf.len, &m.sig);
		zz_buf_reset(&g->buf);
		zz_encode_state_request(&g->buf, &m);
		before = count_sent(g, false, ZZ_MSG_STATE_REPLY);
		zz_replica_receive(g->r, g->now, g->buf.data, g->buf.len);
		assert_int_equal(count_sent(g, false, ZZ_MSG_STATE_REPLY), before);
	}
	rig_free(g);
}

/* ------------------------------------------------------------------------
 * Liveness (issue 10 item 7)
 * ------------------------------------------------------------------------ */

/*
 * A replica restarted from its kept stable checkpoint comes back in the
 * view it had entered, not view 0 (views never go back), and catches up.
 * The checkpoint here is certified in view 0 and becomes stable in view
 * 1: only what was kept with it says view 1.  Back as the primary of that
 * view, it orders nothing (it has forgotten what it ordered) and asks for
 * the next view.
 */
static void
test_resumed_replica_rejoins_current_view(void **state)
{
	for (uint32_t who = 2; who >= 1; who--)
	{
		rig		   *g = rig_new(state);
		rq			qs[CP + 1];
		zz_digest	h;
		zz_buf		kept;
		uint32_t	k;

		for (k = 0; k <= CP; k++)
		{
			qs[k].client = k % N_CLIENTS;
			qs[k].ts = g->next_ts[k % N_CLIENTS]++;
			qs[k].op = "ADD hits 1";
		}
		cluster_to_view_1(g, qs, CP + 1, &h);
		assert_int_equal(g->rr[who]->cert_proof.seq, CP);
		assert_int_equal(g->rr[who]->cert_proof.view, 0);
		cluster_requests(g, 1, CP, NULL);
		for (k = 0; k < 4; k++)
			tick_all(g, g->now + g->p.checkpoint_resend, NULL);
		assert_int_equal(status_of(g, who).stable_seq, CP);
		assert_int_equal(g->rr[who]->stable_proof.view, 0);
		zz_buf_init(&kept);
		assert_true(zz_replica_save_stable(g->rr[who], CP, &kept));

		/* it crashes and comes back from what it kept */
		zz_replica_free(g->rr[who]);
		zz_kv_free(g->kvs[who]);
		zz_crypto_free(g->rcs[who]);
		rig_start_replica(g, who);
		if (who == g->id)
		{
			g->r = g->rr[who];
			g->kv = g->kvs[who];
			g->rcrypto = g->rcs[who];
		}
		assert_true(zz_replica_resume(g->rr[who], g->now, kept.data, kept.len));
		assert_int_equal(status_of(g, who).view, 1);
		if (who == 1)
		{
			/* the primary of view 1: no more ORDER-REQs from it in view 1 */
			size_t		orders = count_sent(g, false, ZZ_MSG_ORDER_REQ);

			assert_int_equal(zz_replica_get_stats(g->rr[1])->i_hates, 1);
			encode_request(g, &(rq) {CLIENT, g->next_ts[CLIENT]++, "ADD hits 1"});
			deliver_to(g, 1, &g->buf);
			zz_replica_tick(g->rr[1], g->now + g->p.batch_timeout + 1);
			assert_int_equal(count_sent(g, false, ZZ_MSG_ORDER_REQ), orders);
		}
		else
		{
			pump(g, NULL);
			for (k = 0; k < 4; k++)
				tick_all(g, g->now + g->p.fill_hole_timeout, NULL);
			assert_int_equal(status_of(g, who).view, 1);
			assert_int_equal(status_of(g, who).mode, ZZ_MODE_NORMAL);
			assert_int_equal(status_of(g, who).last_executed, status_of(g, 1).last_executed);
		}
		zz_buf_free(&kept);
		rig_free(g);
	}
}

/* ------------------------------------------------------------------------ */

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_resume_from_saved_stable_checkpoint),
		BOTH(test_resume_refuses_bad_checkpoint),
		BOTH(test_resume_history_reinstates_own_batches),
		BOTH(test_repair_fetches_highest_certified_checkpoint),
		BOTH(test_resumed_replica_rejoins_current_view),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
