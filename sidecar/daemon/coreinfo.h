/*
 * coreinfo.h
 *	  What the daemon reads of the core that replica.h does not offer yet.
 *
 * The PostgreSQL service records each batch with its view and history
 * digest h_seq (for recovery), but zz_service.execute() passes neither.
 * Until it does (a core change, see the daemon's README), this reads them
 * from the replica's log through the core's internal header.  Nothing
 * else in the daemon looks inside the core.
 */
#ifndef ZZD_COREINFO_H
#define ZZD_COREINFO_H

#include "replica.h"

/* The view and h_seq of the accepted batch at seq; false if not in the log. */
extern bool coreinfo_batch_label(zz_replica *r, zz_seq seq, zz_view *view, zz_digest *history);

#endif							/* ZZD_COREINFO_H */
