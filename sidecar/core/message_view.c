/*
 * message_view.c
 *	  The codecs of the view change and of the checkpoints it carries
 *	  (message.h): I-HATE-THE-PRIMARY, VIEW-CHANGE, NEW-VIEW, VIEW-CONFIRM,
 *	  CHECKPOINT, STATE-REQUEST and STATE-REPLY, and what their signatures
 *	  cover.
 *
 * Built like the normal case's codecs in message.c, from the writer,
 * reader and generic codec of message_int.h; a VIEW-CHANGE embeds
 * ORDER-REQs and a commit certificate, whose parts message.c lends.
 */
#include "message_int.h"

/* Smallest encodings, for checking that counts can fit before allocating. */
#define ORDER_HDR_LEN	(8 + 8 + ZZ_DIGEST_LEN * 2 + 8 + 8 + 4 + ZZ_SIG_LEN)
#define SIGNER_LEN		(4 + ZZ_SIG_LEN)	/* a replica id and its signature */
#define CP_PROOF_MIN	(8 + 8 + ZZ_DIGEST_LEN * 2 + 1)
#define VIEW_CERT_MIN	(8 + 8 + ZZ_DIGEST_LEN + 1)
#define VIEW_CHANGE_MIN (8 + 4 + 2 * CP_PROOF_MIN + VIEW_CERT_MIN + 1 + 4 + 1 + ZZ_SIG_LEN)

/*
 * Domain tags: what a signature or MAC is over is named first, with the
 * terminating NUL, so that no two kinds of signed bytes can coincide.
 */
static const char TAG_I_HATE[] = "zz-i-hate-the-primary";
static const char TAG_CHECKPOINT[] = "zz-checkpoint";
static const char TAG_VIEW_CHANGE[] = "zz-view-change";
static const char TAG_NEW_VIEW[] = "zz-new-view";
static const char TAG_VIEW_CONFIRM[] = "zz-view-confirm";
static const char TAG_STATE_REQUEST[] = "zz-state-request";


/* ---------------------------------------------------------------- */
/* Parts of messages                                                */
/* ---------------------------------------------------------------- */

/*
 * A set of replicas' signatures: the count, the replica ids, then the
 * signatures (the order of the struct arrays).  Used by checkpoint proofs
 * and by I-HATE-THE-PRIMARY proofs.
 */
static void
write_signers(zz_wr *w, uint8_t count, const uint32_t *replicas,
			  const zz_sig *sigs)
{
	if (!wr_count8(w, count))
		return;
	for (uint32_t i = 0; i < count; i++)
		wr_replica(w, replicas[i]);
	for (uint32_t i = 0; i < count; i++)
		wr_sig(w, &sigs[i]);
}

static uint8_t
read_signers(zz_rd *r, uint32_t *replicas, zz_sig *sigs)
{
	uint8_t		count = (uint8_t) rd_count(r, false, ZZ_MAX_N, SIGNER_LEN);

	for (uint32_t i = 0; i < count; i++)
		replicas[i] = rd_replica(r);
	for (uint32_t i = 0; i < count; i++)
		rd_sig(r, &sigs[i]);
	return count;
}

/* A stable checkpoint's proof. */
static void
write_cp_proof(zz_wr *w, const zz_cp_proof *cp)
{
	wr_u64(w, cp->view);
	wr_u64(w, cp->seq);
	wr_digest(w, &cp->history);
	wr_digest(w, &cp->state);
	write_signers(w, cp->count, cp->replicas, cp->sigs);
}

static void
read_cp_proof(zz_rd *r, zz_cp_proof *cp)
{
	cp->view = rd_u64(r);
	cp->seq = rd_u64(r);
	rd_digest(r, &cp->history);
	rd_digest(r, &cp->state);
	cp->count = read_signers(r, cp->replicas, cp->sigs);
}

/* A view's certificate: 2f+1 VIEW-CONFIRM signatures. */
static void
write_view_cert(zz_wr *w, const zz_view_cert *vc)
{
	wr_u64(w, vc->view);
	wr_u64(w, vc->seq);
	wr_digest(w, &vc->history);
	write_signers(w, vc->count, vc->replicas, vc->sigs);
}

static void
read_view_cert(zz_rd *r, zz_view_cert *vc)
{
	vc->view = rd_u64(r);
	vc->seq = rd_u64(r);
	rd_digest(r, &vc->history);
	vc->count = read_signers(r, vc->replicas, vc->sigs);
}

/* ---------------------------------------------------------------- */
/* Messages                                                         */
/* ---------------------------------------------------------------- */

/* I-HATE-THE-PRIMARY */
static void
write_i_hate(zz_wr *w, const void *arg)
{
	const zz_i_hate *m = arg;

	wr_u64(w, m->view);
	wr_replica(w, m->replica);
}

static void
read_i_hate(zz_rd *r, void *arg)
{
	zz_i_hate  *m = arg;

	m->view = rd_u64(r);
	m->replica = rd_replica(r);
}

static const zz_codec codec_i_hate = {
	ZZ_MSG_I_HATE_THE_PRIMARY, sizeof(zz_i_hate), write_i_hate, read_i_hate,
	offsetof(zz_i_hate, sig), ZZ_SIG_LEN, NULL
};

CODEC_API(i_hate)

/* CHECKPOINT */
static void
write_checkpoint(zz_wr *w, const void *arg)
{
	const zz_checkpoint *m = arg;

	wr_u64(w, m->view);
	wr_u64(w, m->seq);
	wr_digest(w, &m->history);
	wr_digest(w, &m->state);
	wr_replica(w, m->replica);
}

static void
read_checkpoint(zz_rd *r, void *arg)
{
	zz_checkpoint *m = arg;

	m->view = rd_u64(r);
	m->seq = rd_u64(r);
	rd_digest(r, &m->history);
	rd_digest(r, &m->state);
	m->replica = rd_replica(r);
}

static const zz_codec codec_checkpoint = {
	ZZ_MSG_CHECKPOINT, sizeof(zz_checkpoint), write_checkpoint,
	read_checkpoint, offsetof(zz_checkpoint, sig), ZZ_SIG_LEN, NULL
};

CODEC_API(checkpoint)

/* VIEW-CHANGE: its ORDER-REQs inline, each as in an ORDER-REQ message. */
static void
write_view_change(zz_wr *w, const void *arg)
{
	const zz_view_change *m = arg;

	wr_u64(w, m->new_view);
	wr_replica(w, m->replica);
	write_cp_proof(w, &m->cp);
	write_cp_proof(w, &m->cert);
	write_view_cert(w, &m->entered);
	wr_u8(w, m->has_cc);
	if (wr_require(w, m->has_cc <= 1) && m->has_cc)
		zz_write_commit_cert(w, &m->cc);
	wr_u32(w, m->n_entries);
	if (wr_require(w, m->n_entries <= ZZ_MAX_VC_ENTRIES &&
				   (m->n_entries == 0 || m->entries != NULL)))
	{
		for (uint32_t i = 0; i < m->n_entries; i++)
			zz_write_order_req(w, &m->entries[i]);
	}
	write_signers(w, m->n_hate, m->hate_replicas, m->hate_sigs);
}

static void
read_view_change(zz_rd *r, void *arg)
{
	zz_view_change *m = arg;
	uint32_t	count;

	m->new_view = rd_u64(r);
	m->replica = rd_replica(r);
	read_cp_proof(r, &m->cp);
	read_cp_proof(r, &m->cert);
	read_view_cert(r, &m->entered);
	m->has_cc = rd_presence(r);
	if (m->has_cc)
		zz_read_commit_cert(r, &m->cc);
	count = rd_count(r, true, ZZ_MAX_VC_ENTRIES, ORDER_HDR_LEN);
	m->entries = rd_alloc(r, count, sizeof(zz_order_req));
	if (m->entries != NULL)
		m->n_entries = count;
	for (uint32_t i = 0; i < m->n_entries && r->err == ZZ_OK; i++)
		zz_read_order_req(r, &m->entries[i]);
	m->n_hate = read_signers(r, m->hate_replicas, m->hate_sigs);
}

/* zz_view_change_release as a codec release. */
static void
release_view_change(void *m)
{
	zz_view_change_release(m);
}

static const zz_codec codec_view_change = {
	ZZ_MSG_VIEW_CHANGE, sizeof(zz_view_change), write_view_change,
	read_view_change, offsetof(zz_view_change, sig), ZZ_SIG_LEN,
	release_view_change
};

CODEC_API(view_change)

/* NEW-VIEW: the VIEW-CHANGEs inline, each with its own signature. */
static void
write_new_view(zz_wr *w, const void *arg)
{
	const zz_new_view *m = arg;

	wr_u64(w, m->new_view);
	wr_replica(w, m->replica);
	if (!wr_count8(w, m->n_vc) ||
		!wr_require(w, m->n_vc == 0 || m->vcs != NULL))
		return;
	for (uint32_t i = 0; i < m->n_vc; i++)
		write_whole(w, &codec_view_change, &m->vcs[i]);
}

static void
read_new_view(zz_rd *r, void *arg)
{
	zz_new_view *m = arg;
	uint32_t	count;

	m->new_view = rd_u64(r);
	m->replica = rd_replica(r);
	count = rd_count(r, false, ZZ_MAX_N, VIEW_CHANGE_MIN);
	m->vcs = rd_alloc(r, count, sizeof(zz_view_change));
	if (m->vcs != NULL)
		m->n_vc = (uint8_t) count;
	for (uint32_t i = 0; i < m->n_vc && r->err == ZZ_OK; i++)
		read_whole(r, &codec_view_change, &m->vcs[i]);
}

/* zz_new_view_release as a codec release. */
static void
release_new_view(void *m)
{
	zz_new_view_release(m);
}

static const zz_codec codec_new_view = {
	ZZ_MSG_NEW_VIEW, sizeof(zz_new_view), write_new_view, read_new_view,
	offsetof(zz_new_view, sig), ZZ_SIG_LEN, release_new_view
};

CODEC_API(new_view)

/* VIEW-CONFIRM */
static void
write_view_confirm(zz_wr *w, const void *arg)
{
	const zz_view_confirm *m = arg;

	wr_u64(w, m->view);
	wr_u64(w, m->seq);
	wr_digest(w, &m->history);
	wr_replica(w, m->replica);
}

static void
read_view_confirm(zz_rd *r, void *arg)
{
	zz_view_confirm *m = arg;

	m->view = rd_u64(r);
	m->seq = rd_u64(r);
	rd_digest(r, &m->history);
	m->replica = rd_replica(r);
}

static const zz_codec codec_view_confirm = {
	ZZ_MSG_VIEW_CONFIRM, sizeof(zz_view_confirm), write_view_confirm,
	read_view_confirm, offsetof(zz_view_confirm, sig), ZZ_SIG_LEN, NULL
};

CODEC_API(view_confirm)

/* STATE-REQUEST */
static void
write_state_request(zz_wr *w, const void *arg)
{
	const zz_state_request *m = arg;

	wr_replica(w, m->replica);
	wr_u64(w, m->seq);
}

static void
read_state_request(zz_rd *r, void *arg)
{
	zz_state_request *m = arg;

	m->replica = rd_replica(r);
	m->seq = rd_u64(r);
}

static const zz_codec codec_state_request = {
	ZZ_MSG_STATE_REQUEST, sizeof(zz_state_request), write_state_request,
	read_state_request, offsetof(zz_state_request, sig), ZZ_SIG_LEN, NULL
};

CODEC_API(state_request)

/* STATE-REPLY: the state is bounded only by the message limit. */
static void
write_state_reply(zz_wr *w, const void *arg)
{
	const zz_state_reply *m = arg;

	wr_replica(w, m->replica);
	write_cp_proof(w, &m->cp);
	wr_bytes(w, m->state, m->state_len, ZZ_MAX_MSG_LEN);
}

static void
read_state_reply(zz_rd *r, void *arg)
{
	zz_state_reply *m = arg;

	m->replica = rd_replica(r);
	read_cp_proof(r, &m->cp);
	m->state = rd_bytes(r, ZZ_MAX_MSG_LEN, &m->state_len);
}

static const zz_codec codec_state_reply = {
	ZZ_MSG_STATE_REPLY, sizeof(zz_state_reply), write_state_reply,
	read_state_reply, 0, 0, NULL
};

CODEC_API(state_reply)


/* ---------------------------------------------------------------- */
/* Ownership                                                        */
/* ---------------------------------------------------------------- */

/*
 * zz_view_change_release
 *		Free a decoded VIEW-CHANGE's entries and their requests.
 */
void
zz_view_change_release(zz_view_change *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; m->entries != NULL && i < m->n_entries; i++)
		zz_order_req_release(&m->entries[i]);
	free(m->entries);
	m->entries = NULL;
	m->n_entries = 0;
}

/*
 * zz_new_view_release
 *		Free a decoded NEW-VIEW's VIEW-CHANGEs and everything in them.
 */
void
zz_new_view_release(zz_new_view *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; m->vcs != NULL && i < m->n_vc; i++)
		zz_view_change_release(&m->vcs[i]);
	free(m->vcs);
	m->vcs = NULL;
	m->n_vc = 0;
}


/* ---------------------------------------------------------------- */
/* What signatures cover                                            */
/* ---------------------------------------------------------------- */

/*
 * Each zz_*_signing_bytes() writes a domain tag and then the signed
 * struct's fields before its signature, exactly as its message encodes
 * them: the codec's writer, without the type byte and the signature.
 */
void
zz_i_hate_signing_bytes(zz_buf *b, zz_view v, uint32_t replica)
{
	zz_i_hate	m;

	memset(&m, 0, sizeof(m));
	m.view = v;
	m.replica = replica;
	signing(b, TAG_I_HATE, sizeof(TAG_I_HATE), &codec_i_hate, &m);
}

void
zz_checkpoint_signing_bytes(zz_buf *b, zz_view v, zz_seq n, const zz_digest *h,
							const zz_digest *state, uint32_t replica)
{
	zz_checkpoint m;

	memset(&m, 0, sizeof(m));
	m.view = v;
	m.seq = n;
	m.history = *h;
	m.state = *state;
	m.replica = replica;
	signing(b, TAG_CHECKPOINT, sizeof(TAG_CHECKPOINT), &codec_checkpoint, &m);
}

void
zz_view_change_signing_bytes(zz_buf *b, const zz_view_change *m)
{
	signing(b, TAG_VIEW_CHANGE, sizeof(TAG_VIEW_CHANGE), &codec_view_change, m);
}

void
zz_new_view_signing_bytes(zz_buf *b, const zz_new_view *m)
{
	signing(b, TAG_NEW_VIEW, sizeof(TAG_NEW_VIEW), &codec_new_view, m);
}

void
zz_view_confirm_signing_bytes(zz_buf *b, const zz_view_confirm *m)
{
	signing(b, TAG_VIEW_CONFIRM, sizeof(TAG_VIEW_CONFIRM), &codec_view_confirm, m);
}

void
zz_state_request_signing_bytes(zz_buf *b, const zz_state_request *m)
{
	signing(b, TAG_STATE_REQUEST, sizeof(TAG_STATE_REQUEST),
			&codec_state_request, m);
}
