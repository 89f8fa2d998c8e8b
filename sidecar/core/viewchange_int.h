/*
 * viewchange_int.h
 *	  The view change's state (r->vc), shared by its two halves: viewchange.c
 *	  (I-HATE-THE-PRIMARY, VIEW-CHANGE, sending NEW-VIEW, time) and
 *	  enterview.c (taking a NEW-VIEW, VIEW-CONFIRM, entering the view).
 *	  Internal to the core.
 */
#ifndef ZZ_VIEWCHANGE_INT_H
#define ZZ_VIEWCHANGE_INT_H

#include "newview.h"


#define ZZ_HATE_SLOTS 4

typedef struct zz_hate_votes
{
	bool		used;
	zz_view		view;
	bool		have[ZZ_MAX_N];
	zz_sig		sig[ZZ_MAX_N];
} zz_hate_votes;

struct zz_vc_state
{
	zz_hate_votes hates[ZZ_HATE_SLOTS];
	bool		hated;
	zz_view		hated_view;		/* highest view we sent I-HATE for */

	/* The view change in progress (r->mode == ZZ_MODE_VIEW_CHANGE). */
	zz_view		target;
	zz_time		deadline;
	zz_time		timeout;
	zz_buf		my_vc;			/* our encoded VIEW-CHANGE for target */
	bool		vc_have[ZZ_MAX_N];
	uint8_t    *vc_raw[ZZ_MAX_N];
	size_t		vc_len[ZZ_MAX_N];
	zz_view_change vcs[ZZ_MAX_N];	/* decoded from vc_raw */
	bool		sent_new_view;

	/* Installing the new view. */
	bool		have_g;
	zz_new_history g;
	bool		awaiting_transfer;
	bool		confirm_sent;
	zz_view_confirm my_confirm;
	bool		confirm_have[ZZ_MAX_N];
	zz_view_confirm confirms[ZZ_MAX_N];
	zz_time		reissue_deadline;	/* new primary: resend NEW-VIEW and re-issues */

	uint32_t	stalls;			/* deadlines passed with G adopted */
	zz_order_req **early;		/* re-issues that came before NEW-VIEW, by seq % cap */
	uint32_t	early_cap;
	zz_time		repair_deadline;	/* G adopted: next fetch or VIEW-CONFIRM resend */

	/* For the operator (io.notice): when the change began, from where, why. */
	zz_time		began;			/* 0: no view change since the last entered */
	zz_view		from_view;
	char		why[96];		/* our last reason to hate the primary */
	zz_time		repair_interval;	/* doubles up to the view-change timeout */
	bool		other_g;		/* 2f+1 confirmed another G than ours */
	zz_view_confirm other;		/* that G's (view, seq, h) */
	bool		has_bad_reissue;	/* a re-issued header that contradicts G */
	zz_order_hdr bad_reissue;

	/* After: what moved us into r->view, for replicas that missed it. */
	zz_buf		nv_raw;
	zz_time		confirm_reply_at[ZZ_MAX_N];
	zz_time		nv_request_deadline;
#ifdef ZZ_FAULT_INJECTION
	zz_vc_rewrite_fn rewrite;	/* a consistent liar's (zz_replica_set_vc_rewrite) */
	void	   *rewrite_ctx;
#endif
};

/* viewchange.c */
extern void zz_vc_abandon_transfer(zz_replica *r, const char *why);
extern void zz_vc_clear_vcs(zz_vc_state *vc);

/* enterview.c */
extern void zz_vc_handle_new_view(zz_replica *r, const uint8_t *buf, size_t len);

#endif							/* ZZ_VIEWCHANGE_INT_H */
