/*
 * keptview.h
 *	  The highest view a replica committed to, kept in a small file
 *	  (configuration key view_file) so that a restarted replica never
 *	  takes part again in a view it left (zz_io.keep_view,
 *	  zz_replica_resume_history; docs/durability.md).
 */
#ifndef ZZD_KEPTVIEW_H
#define ZZD_KEPTVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "types.h"

/*
 * Read the kept view: true with *view = 0 if the file does not exist yet;
 * false (err says why) if it exists but cannot be read or is malformed.
 */
extern bool kept_view_load(const char *path, zz_view *view, char *err, size_t errlen);

/*
 * Replace the kept view durably: a new file written and fsync'd, renamed
 * over the old one, and the directory fsync'd.  False (err says why) if
 * any step fails; the old file is then still whole.
 */
extern bool kept_view_store(const char *path, zz_view view, char *err, size_t errlen);

#endif							/* ZZD_KEPTVIEW_H */
