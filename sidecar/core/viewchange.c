/*
 * viewchange.c
 *	  The view change (protocol.md section 8): proofs of misbehaviour,
 *	  I-HATE-THE-PRIMARY, VIEW-CHANGE, NEW-VIEW with the corrected rule,
 *	  VIEW-CONFIRM.
 *
 * This first version records the triggers (POM, timers, conflicting CCs)
 * and counts them; the view change itself is issue 3's work.
 */
#include <stdlib.h>
#include <string.h>

#include "replica_int.h"

struct zz_vc_state
{
	zz_view		hated_view;		/* we sent I-HATE for this view */
	bool		hated;
};

zz_vc_state *
zz_vc_create(zz_replica *r)
{
	return calloc(1, sizeof(zz_vc_state));
}

void
zz_vc_free(zz_vc_state *vc)
{
	free(vc);
}

void
zz_hate_primary(zz_replica *r, const char *why)
{
	if (r->vc->hated && r->vc->hated_view == r->view)
		return;
	r->vc->hated = true;
	r->vc->hated_view = r->view;
	r->stats.i_hates++;
	zz_replica_trace(r, "I-HATE-THE-PRIMARY: %s", why);
}

void
zz_report_pom(zz_replica *r, const zz_order_hdr *a, const zz_order_hdr *b)
{
	r->stats.poms++;
	zz_hate_primary(r, "proof of misbehaviour");
}

void
zz_on_pom(zz_replica *r, const uint8_t *buf, size_t len)
{
}

void
zz_on_i_hate(zz_replica *r, const uint8_t *buf, size_t len)
{
}

void
zz_on_view_change(zz_replica *r, const uint8_t *buf, size_t len)
{
}

void
zz_on_new_view(zz_replica *r, const uint8_t *buf, size_t len)
{
}

void
zz_on_view_confirm(zz_replica *r, const uint8_t *buf, size_t len)
{
}

void
zz_vc_tick(zz_replica *r)
{
}

zz_time
zz_vc_deadline(const zz_replica *r)
{
	return UINT64_MAX;
}
