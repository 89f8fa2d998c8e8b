/*
 * newview.h
 *	  The new history of a view change and the rule that computes it
 *	  (newview.c), for enterview.c and viewchange.c.  Internal to the core.
 */
#ifndef ZZ_NEWVIEW_H
#define ZZ_NEWVIEW_H

#include "replica_int.h"

/* The new history G computed from a NEW-VIEW's 2f+1 VIEW-CHANGEs. */
typedef struct zz_new_history
{
	zz_seq		start;			/* highest valid certified checkpoint */
	zz_digest	start_history;
	zz_cp_proof start_proof;
	zz_seq		end;			/* last slot of G */
	zz_digest	end_history;
	zz_order_req **entries;		/* clones, slots start+1 .. end */
} zz_new_history;

/* Check every piece of evidence in a VIEW-CHANGE for view v. */
extern bool zz_vc_valid(zz_replica *r, const zz_view_change *m, zz_view v);

/* 2f+1 VIEW-CONFIRM signatures over one (view, seq, h). */
extern bool zz_view_cert_valid(zz_replica *r, const zz_view_cert *c);

/* G from 2f+1 valid VIEW-CHANGEs; false only on allocation failure. */
extern bool zz_compute_new_history(zz_replica *r, const zz_view_change *const *vcs,
								   uint32_t k, zz_new_history *g);
extern void zz_new_history_free(zz_new_history *g);

#endif							/* ZZ_NEWVIEW_H */
