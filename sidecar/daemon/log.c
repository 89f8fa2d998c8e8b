/*
 * log.c
 *	  zyzzyvad's log.
 *
 * Lines go to stderr, unbuffered, each written with one write() so that
 * lines from several daemons sharing a terminal or a file do not
 * interleave mid-line.  Format:
 *
 *	  2026-11-25 23:30:01.123 r2 WARNING: peer 3: connection reset
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char zlog_tag[32] = "zyzzyvad";
static zlog_level zlog_current = ZLOG_INFO;

static const char *const zlog_names[] = {"error", "warning", "info", "debug"};
static const char *const zlog_labels[] = {"ERROR", "WARNING", "INFO", "DEBUG"};

/*
 * Set the tag every line carries and the initial level.
 */
void
zlog_init(const char *tag, zlog_level level)
{
	snprintf(zlog_tag, sizeof(zlog_tag), "%s", tag);
	zlog_current = level;
}

/*
 * Change the level filter (SIGHUP reload).
 */
void
zlog_set_level(zlog_level level)
{
	zlog_current = level;
}

/*
 * The current level filter.
 */
zlog_level
zlog_get_level(void)
{
	return zlog_current;
}

/*
 * Would a line at this level be printed?  Lets callers skip building
 * expensive debug output.
 */
bool
zlog_enabled(zlog_level level)
{
	return level <= zlog_current;
}

/*
 * Parse a level name as written in the configuration file.
 */
bool
zlog_parse_level(const char *s, zlog_level *out)
{
	for (int i = 0; i <= ZLOG_DEBUG; i++)
	{
		if (strcmp(s, zlog_names[i]) == 0)
		{
			*out = (zlog_level) i;
			return true;
		}
	}
	return false;
}

/*
 * The configuration-file name of a level.
 */
const char *
zlog_level_name(zlog_level level)
{
	return (level >= ZLOG_ERROR && level <= ZLOG_DEBUG) ? zlog_names[level] : "?";
}

/*
 * Print one line if its level passes the filter.
 */
void
zlog(zlog_level level, const char *fmt,...)
{
	char		line[1024];
	struct timeval tv;
	struct tm	tm;
	size_t		len;
	int			n;
	va_list		ap;

	if (!zlog_enabled(level))
		return;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	len = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
	n = snprintf(line + len, sizeof(line) - len, ".%03d %s %s: ",
				 (int) (tv.tv_usec / 1000), zlog_tag, zlog_labels[level]);
	if (n > 0)
		len += (size_t) n;
	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t) n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* A failed log write has nowhere to be reported. */
	(void) !write(STDERR_FILENO, line, len);
}
