/*
 * coreinfo.c
 *	  Reading a batch's label from the replica's log (see coreinfo.h).
 */
#include <string.h>

#include "coreinfo.h"
#include "replica_int.h"

/*
 * The ORDER-REQ accepted at seq carries the view it was issued in (or
 * re-issued in, after a view change) and h_seq.
 */
bool
coreinfo_batch_label(zz_replica *r, zz_seq seq, zz_view *view, zz_digest *history)
{
	const zz_entry *e = zz_entry_at(r, seq);

	if (e == NULL || e->order == NULL)
	{
		*view = 0;
		memset(history, 0, sizeof(*history));
		return false;
	}
	*view = e->order->hdr.view;
	*history = e->order->hdr.history;
	return true;
}
