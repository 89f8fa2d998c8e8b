/*
 * log.h
 *	  zyzzyvad's log: one line per event on stderr, with a level filter that
 *	  SIGHUP can change.
 */
#ifndef ZZD_LOG_H
#define ZZD_LOG_H

#include <stdbool.h>

typedef enum zlog_level
{
	ZLOG_ERROR = 0,
	ZLOG_WARNING = 1,
	ZLOG_INFO = 2,
	ZLOG_DEBUG = 3
} zlog_level;

/* The tag printed on every line, e.g. "r2", and the initial level. */
extern void zlog_init(const char *tag, zlog_level level);
extern void zlog_set_level(zlog_level level);
extern zlog_level zlog_get_level(void);
extern bool zlog_enabled(zlog_level level);

/* Parse "error", "warning", "info", "debug"; false if none of them. */
extern bool zlog_parse_level(const char *s, zlog_level *out);
extern const char *zlog_level_name(zlog_level level);

extern void zlog(zlog_level level, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

#endif							/* ZZD_LOG_H */
