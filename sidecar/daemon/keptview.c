/*
 * keptview.c
 *	  The highest view a replica committed to, in a file (keptview.h).
 *
 * The file holds one line, "view N".  The core asks for it to be kept
 * before it sends a VIEW-CHANGE or enters a view (rare), so the cost of
 * the two fsyncs does not matter; what matters is that the file is either
 * the old one or the new one after a crash, never a torn one.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "keptview.h"

bool
kept_view_load(const char *path, zz_view *view, char *err, size_t errlen)
{
	FILE	   *f = fopen(path, "r");
	char		line[64],
				extra;
	uint64_t	v;

	*view = 0;
	if (f == NULL)
	{
		if (errno == ENOENT)
			return true;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return false;
	}
	if (fgets(line, sizeof(line), f) == NULL ||
		sscanf(line, "view %" SCNu64 " %c", &v, &extra) != 1)
	{
		snprintf(err, errlen, "%s: expected one line \"view N\"", path);
		fclose(f);
		return false;
	}
	fclose(f);
	*view = v;
	return true;
}

bool
kept_view_store(const char *path, zz_view view, char *err, size_t errlen)
{
	char		tmp[PATH_MAX],
				dir[PATH_MAX],
				line[64];
	int			fd,
				len;
	bool		ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp))
	{
		snprintf(err, errlen, "%s: path too long", path);
		return false;
	}
	len = snprintf(line, sizeof(line), "view %" PRIu64 "\n", (uint64_t) view);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return false;
	}
	ok = write(fd, line, (size_t) len) == len && fsync(fd) == 0;
	if (close(fd) != 0)
		ok = false;
	if (!ok || rename(tmp, path) != 0)
	{
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		(void) unlink(tmp);
		return false;
	}
	/* the rename itself must survive a crash */
	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
	{
		snprintf(err, errlen, "cannot sync the directory of %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	return true;
}
