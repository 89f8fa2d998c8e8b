/*
 * config.c
 *	  Reading and checking a replica's configuration file (see config.h).
 *
 * The settings are a declarative table, as in pgbouncer: name, type,
 * where the value goes, its range, whether it is required and whether a
 * SIGHUP may change it.  The file is read in two passes: the first finds
 * f, because the protocol's defaults depend on it (zz_params_default);
 * the second applies every line in order.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"

#define CFG_MAX_LINE	4096
#define CFG_MAX_LINES	10000

typedef enum cfg_type
{
	CT_U32,
	CT_BYTES,					/* u64 with optional k, M, G suffix */
	CT_USEC,					/* zz_time with optional us, ms, s suffix */
	CT_PATH,
	CT_ADDR,
	CT_SOCKPATH,
	CT_SERVICE,
	CT_LOGLEVEL,
	CT_MODE,
	CT_STRING					/* CFG_MAX_CONNINFO bytes, taken as written */
} cfg_type;

typedef struct cfg_key
{
	const char *name;
	cfg_type	type;
	size_t		offset;
	uint64_t	min;
	uint64_t	max;
	bool		required;
	bool		reloadable;
} cfg_key;

#define OFF(field) offsetof(daemon_config, field)
#define MS 1000u
#define SEC 1000000u

static const cfg_key cfg_keys[] = {
	{"id", CT_U32, OFF(id), 0, ZZ_MAX_N - 1, true, false},
	{"f", CT_U32, OFF(f), 1, ZZ_MAX_F, true, false},
	{"private_key", CT_PATH, OFF(private_key), 0, 0, true, false},
	{"mac_secret", CT_PATH, OFF(mac_secret), 0, 0, false, false},
	{"view_file", CT_PATH, OFF(view_file), 0, 0, false, false},
	{"listen", CT_ADDR, OFF(listen), 0, 0, false, false},
	{"client_socket", CT_SOCKPATH, OFF(client_socket), 0, 0, true, false},
	{"client_socket_mode", CT_MODE, OFF(client_socket_mode), 0, 0, false, false},
	{"service", CT_SERVICE, OFF(service), 0, 0, false, false},
	{"null_reply_size", CT_U32, OFF(null_reply_size), 0, ZZ_MAX_REPLY_LEN, false, false},
	{"pg_conninfo", CT_STRING, OFF(pg_conninfo), 0, 0, false, false},
	{"max_clients", CT_U32, OFF(max_clients), 1, 65536, false, false},
	{"peer_queue_max", CT_BYTES, OFF(peer_queue_max), 1u << 20, (uint64_t) 1 << 34, false, true},
	{"transfer_chunk", CT_BYTES, OFF(transfer_chunk), 1024, 16u << 20, false, true},
	{"transfer_rate", CT_BYTES, OFF(transfer_rate), 0, (uint64_t) 1 << 40, false, true},
	{"reconnect_max", CT_USEC, OFF(reconnect_max), 10 * MS, 60 * SEC, false, true},
	{"handshake_timeout", CT_USEC, OFF(handshake_timeout), 100 * MS, 60 * SEC, false, true},
	{"ping_interval", CT_USEC, OFF(ping_interval), 10 * MS, 600 * SEC, false, true},
	{"order_ahead", CT_U32, OFF(params.order_ahead), 0, 4096, false, false},
	{"exec_window", CT_U32, OFF(params.exec_window), 1, 1024, false, false},
	{"retain_batches", CT_U32, OFF(params.retain_batches), 0, 1u << 24, false, false},
	{"retain_bytes", CT_BYTES, OFF(params.retain_bytes), 0, (uint64_t) 1 << 40, false, false},
#ifdef ZZ_FAULT_INJECTION
	{"test_withhold_order_req", CT_STRING, OFF(test_withhold_order_req), 0, 0, false, true},
	{"test_nd_time_skew", CT_STRING, OFF(test_nd_time_skew), 0, 0, false, true},
#endif
	{"local_apply_wait", CT_USEC, OFF(local_apply_wait), 0, 600 * SEC, false, true},
	{"batch_commit", CT_STRING, OFF(batch_commit), 0, 0, false, false},
	{"verify_interval", CT_USEC, OFF(verify_interval), 0, (uint64_t) 7 * 24 * 3600 * SEC, false, true},
	{"log_level", CT_LOGLEVEL, OFF(log_level), 0, 0, false, true},
	{"batch_size", CT_U32, OFF(params.batch_max), 1, ZZ_MAX_BATCH, false, false},
	{"batch_timeout", CT_USEC, OFF(params.batch_timeout), 0, 10 * SEC, false, false},
	{"checkpoint_interval", CT_U32, OFF(params.cp_interval), 1, ZZ_MAX_CP_INTERVAL, false, false},
	{"commit_timeout", CT_USEC, OFF(params.commit_timeout), 1, 60 * SEC, false, false},
	{"retransmit_timeout", CT_USEC, OFF(params.retransmit_timeout), 1, 60 * SEC, false, false},
	{"retransmit_max", CT_USEC, OFF(params.retransmit_max), 1, 600 * SEC, false, false},
	{"fill_hole_timeout", CT_USEC, OFF(params.fill_hole_timeout), 1, 60 * SEC, false, false},
	{"checkpoint_resend", CT_USEC, OFF(params.checkpoint_resend), 1, 600 * SEC, false, false},
	{"confirm_timeout", CT_USEC, OFF(params.confirm_timeout), 1, 60 * SEC, false, false},
	{"view_change_timeout", CT_USEC, OFF(params.view_change_timeout), 1, 600 * SEC, false, false},
	{"max_time_ahead", CT_USEC, OFF(params.max_time_ahead), 10 * MS, (uint64_t) 7 * 24 * 3600 * SEC, false, false},
};

#define CFG_NKEYS ((int) (sizeof(cfg_keys) / sizeof(cfg_keys[0])))

/* One `key = value` line as read. */
typedef struct cfg_line
{
	int			line;
	char	   *key;
	char	   *value;
} cfg_line;

/*
 * Report one problem as "FILE:LINE: message".
 */
void
cfg_report(cfg_err_fn err, void *arg, const char *path, int line, const char *fmt,...)
{
	char		msg[1200];
	int			n;
	va_list		ap;

	if (line > 0)
		n = snprintf(msg, sizeof(msg), "%s:%d: ", path, line);
	else
		n = snprintf(msg, sizeof(msg), "%s: ", path);
	if (n < 0)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t) n, fmt, ap);
	va_end(ap);
	err(arg, msg);
}

/*
 * Levenshtein distance of two short strings, for "did you mean" hints.
 */
static int
cfg_distance(const char *a, const char *b)
{
	int			la = (int) strlen(a);
	int			lb = (int) strlen(b);
	int			row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (int j = 0; j <= lb; j++)
		row[j] = j;
	for (int i = 1; i <= la; i++)
	{
		int			diag = row[0];

		row[0] = i;
		for (int j = 1; j <= lb; j++)
		{
			int			up = row[j];
			int			best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/*
 * Find a key in the table; -1 if unknown.
 */
static int
cfg_find_key(const char *name)
{
	for (int i = 0; i < CFG_NKEYS; i++)
	{
		if (strcmp(cfg_keys[i].name, name) == 0)
			return i;
	}
	return -1;
}

/*
 * Trim leading and trailing white space in place.
 */
static char *
cfg_trim(char *s)
{
	char	   *e;

	while (isspace((unsigned char) *s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char) e[-1]))
		*--e = '\0';
	return s;
}

/*
 * Parse an unsigned decimal number followed by an optional unit from
 * units[] (each with its multiplier).  False on anything else.
 */
static bool
cfg_parse_number(const char *s, const char *const *units, const uint64_t *mult,
				 uint64_t *out)
{
	char	   *end;
	unsigned long long v;

	if (!isdigit((unsigned char) *s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	if (*end == '\0')
	{
		*out = v;
		return true;
	}
	for (int i = 0; units != NULL && units[i] != NULL; i++)
	{
		if (strcmp(end, units[i]) == 0)
		{
			if (v > UINT64_MAX / mult[i])
				return false;
			*out = v * mult[i];
			return true;
		}
	}
	return false;
}

/*
 * The service names of the file.
 */
const char *
cfg_service_name(svc_kind kind)
{
	switch (kind)
	{
		case SVC_KV:
			return "kv";
		case SVC_NULL:
			return "null";
		case SVC_POSTGRES:
			return "postgres";
	}
	return "?";
}

/*
 * Parse "host:port" with host an IPv4 literal, "localhost", or "[IPv6]".
 */
bool
cfg_parse_addr(const char *s, cfg_addr *a)
{
	char		host[256];
	const char *colon;
	const char *hs = s;
	size_t		hlen;
	uint64_t	port;
	struct sockaddr_in *in4 = (struct sockaddr_in *) &a->sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &a->sa;

	memset(a, 0, sizeof(*a));
	if (strlen(s) >= sizeof(a->text))
		return false;
	snprintf(a->text, sizeof(a->text), "%s", s);
	if (*s == '[')
	{
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return false;
		hs = s + 1;
		hlen = (size_t) (close - hs);
		colon = close + 1;
	}
	else
	{
		colon = strrchr(s, ':');
		if (colon == NULL)
			return false;
		hlen = (size_t) (colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return false;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (!cfg_parse_number(colon + 1, NULL, NULL, &port) || port == 0 || port > 65535)
		return false;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1)
	{
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t) port);
		a->salen = sizeof(*in4);
		return true;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1)
	{
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t) port);
		a->salen = sizeof(*in6);
		return true;
	}
	return false;
}

/*
 * Resolve a path relative to the configuration file's directory.
 */
static bool
cfg_resolve_path(const char *cfgpath, const char *value, char *out, size_t outlen)
{
	const char *slash = strrchr(cfgpath, '/');
	int			n;

	if (value[0] == '/' || slash == NULL)
		n = snprintf(out, outlen, "%s", value);
	else
		n = snprintf(out, outlen, "%.*s/%s", (int) (slash - cfgpath), cfgpath, value);
	return n > 0 && (size_t) n < outlen;
}

/*
 * Apply one table key's value to cfg; report and return false if it does
 * not parse or is out of range.
 */
static bool
cfg_set(daemon_config *cfg, const cfg_key *k, const cfg_line *l, cfg_err_fn err, void *arg)
{
	static const char *const usec_units[] = {"us", "ms", "s", NULL};
	static const uint64_t usec_mult[] = {1, 1000, 1000000};
	static const char *const byte_units[] = {"k", "K", "M", "G", NULL};
	static const uint64_t byte_mult[] = {1u << 10, 1u << 10, 1u << 20, 1u << 30};
	char	   *field = (char *) cfg + k->offset;
	uint64_t	v;

	switch (k->type)
	{
		case CT_U32:
		case CT_BYTES:
		case CT_USEC:
			if (!cfg_parse_number(l->value,
								  k->type == CT_USEC ? usec_units : k->type == CT_BYTES ? byte_units : NULL,
								  k->type == CT_USEC ? usec_mult : byte_mult, &v))
			{
				cfg_report(err, arg, cfg->path, l->line, "%s: '%s' is not a %s", k->name, l->value,
						   k->type == CT_USEC ? "duration (e.g. 500us, 2ms, 1s)" :
						   k->type == CT_BYTES ? "size (e.g. 65536, 64M)" : "non-negative integer");
				return false;
			}
			if (v < k->min || v > k->max)
			{
				cfg_report(err, arg, cfg->path, l->line,
						   "%s = %s is out of range (%llu .. %llu%s)", k->name, l->value,
						   (unsigned long long) k->min, (unsigned long long) k->max,
						   k->type == CT_USEC ? " microseconds" : k->type == CT_BYTES ? " bytes" : "");
				return false;
			}
			if (k->type == CT_U32)
				*(uint32_t *) field = (uint32_t) v;
			else
				*(uint64_t *) field = v;
			return true;
		case CT_PATH:
			if (!cfg_resolve_path(cfg->path, l->value, field, PATH_MAX))
			{
				cfg_report(err, arg, cfg->path, l->line, "%s: path too long", k->name);
				return false;
			}
			if (k->offset == OFF(private_key))
				cfg->private_key_line = l->line;
			if (k->offset == OFF(mac_secret))
				cfg->mac_secret_line = l->line;
			return true;
		case CT_SOCKPATH:
			if (!cfg_resolve_path(cfg->path, l->value, field, sizeof(cfg->client_socket)))
			{
				cfg_report(err, arg, cfg->path, l->line,
						   "%s: path too long for a Unix socket (at most %zu bytes)",
						   k->name, sizeof(cfg->client_socket) - 1);
				return false;
			}
			return true;
		case CT_ADDR:
			if (!cfg_parse_addr(l->value, (cfg_addr *) field))
			{
				cfg_report(err, arg, cfg->path, l->line,
						   "%s: '%s' is not host:port (host: an IP address or localhost)",
						   k->name, l->value);
				return false;
			}
			return true;
		case CT_SERVICE:
			if (strcmp(l->value, "kv") == 0)
				cfg->service = SVC_KV;
			else if (strcmp(l->value, "null") == 0)
				cfg->service = SVC_NULL;
			else if (strcmp(l->value, "postgres") == 0)
				cfg->service = SVC_POSTGRES;
			else
			{
				cfg_report(err, arg, cfg->path, l->line,
						   "service: '%s' is not one of kv, null, postgres", l->value);
				return false;
			}
			return true;
		case CT_STRING:
			if (strlen(l->value) >= CFG_MAX_CONNINFO)
			{
				cfg_report(err, arg, cfg->path, l->line, "%s: longer than %d bytes",
						   k->name, CFG_MAX_CONNINFO - 1);
				return false;
			}
			snprintf(field, CFG_MAX_CONNINFO, "%s", l->value);
			return true;
		case CT_LOGLEVEL:
			if (!zlog_parse_level(l->value, &cfg->log_level))
			{
				cfg_report(err, arg, cfg->path, l->line,
						   "log_level: '%s' is not one of error, warning, info, debug", l->value);
				return false;
			}
			return true;
		case CT_MODE:
			if (strcmp(l->value, "0600") == 0)
				cfg->client_socket_mode = 0600;
			else if (strcmp(l->value, "0660") == 0)
				cfg->client_socket_mode = 0660;
			else
			{
				cfg_report(err, arg, cfg->path, l->line,
						   "client_socket_mode: '%s' is not 0600 or 0660", l->value);
				return false;
			}
			return true;
	}
	return false;
}

/*
 * Apply "replica.N = host:port pubkey_path".
 */
static bool
cfg_set_replica(daemon_config *cfg, const cfg_line *l, cfg_err_fn err, void *arg)
{
	const char *num = l->key + strlen("replica.");
	char		value[CFG_MAX_LINE];
	char	   *sp;
	char	   *path;
	uint64_t	idx;
	cfg_replica *r;

	if (!cfg_parse_number(num, NULL, NULL, &idx) || idx >= ZZ_MAX_N)
	{
		cfg_report(err, arg, cfg->path, l->line,
				   "'%s': replica number must be 0 .. %d", l->key, ZZ_MAX_N - 1);
		return false;
	}
	r = &cfg->replicas[idx];
	if (r->present)
	{
		cfg_report(err, arg, cfg->path, l->line,
				   "duplicate key '%s' (first set on line %d)", l->key, r->line);
		return false;
	}
	snprintf(value, sizeof(value), "%s", l->value);
	sp = value;
	while (*sp && !isspace((unsigned char) *sp))
		sp++;
	path = cfg_trim(sp);
	if (*sp != '\0')
		*sp = '\0';
	if (*path == '\0')
	{
		cfg_report(err, arg, cfg->path, l->line,
				   "'%s' needs 'host:port pubkey_path'", l->key);
		return false;
	}
	if (!cfg_parse_addr(value, &r->addr))
	{
		cfg_report(err, arg, cfg->path, l->line,
				   "%s: '%s' is not host:port (host: an IP address or localhost)",
				   l->key, value);
		return false;
	}
	if (!cfg_resolve_path(cfg->path, path, r->pubkey, sizeof(r->pubkey)))
	{
		cfg_report(err, arg, cfg->path, l->line, "%s: path too long", l->key);
		return false;
	}
	r->present = true;
	r->line = l->line;
	return true;
}

/*
 * Apply "entrust.N = role role ...": the roles replica N may submit calls
 * for ("*": every role that is not a superuser).  Role names are limited to
 * letters, digits, _ $ . and -, so that the list travels unquoted.
 */
static bool
cfg_set_entrust(daemon_config *cfg, const cfg_line *l, cfg_err_fn err, void *arg)
{
	const char *num = l->key + strlen("entrust.");
	char		value[CFG_MAX_LINE];
	uint64_t	idx;
	cfg_replica *r;
	size_t		used = 0;

	if (!cfg_parse_number(num, NULL, NULL, &idx) || idx >= ZZ_MAX_N)
	{
		cfg_report(err, arg, cfg->path, l->line,
				   "'%s': replica number must be 0 .. %d", l->key, ZZ_MAX_N - 1);
		return false;
	}
	r = &cfg->replicas[idx];
	if (r->entrust_line != 0)
	{
		cfg_report(err, arg, cfg->path, l->line,
				   "duplicate key '%s' (first set on line %d)", l->key, r->entrust_line);
		return false;
	}
	snprintf(value, sizeof(value), "%s", l->value);
	for (char *w = strtok(value, " \t,"); w != NULL; w = strtok(NULL, " \t,"))
	{
		size_t		wl = strlen(w);

		for (size_t i = 0; i < wl; i++)
		{
			if (!isalnum((unsigned char) w[i]) && strchr("_$.-", w[i]) == NULL &&
				!(wl == 1 && w[i] == '*'))
			{
				cfg_report(err, arg, cfg->path, l->line,
						   "%s: '%s' is not a role name (letters, digits, _ $ . -) or *",
						   l->key, w);
				return false;
			}
		}
		if (wl > 63 || used + wl + 2 >= sizeof(r->entrust))
		{
			cfg_report(err, arg, cfg->path, l->line, "%s: '%s' is too long", l->key, w);
			return false;
		}
		used += (size_t) snprintf(r->entrust + used, sizeof(r->entrust) - used, "%s%s",
								  used > 0 ? "," : "", w);
	}
	r->entrust_line = l->line;
	return true;
}

/*
 * Warn if the connection string holds a password: the file is readable by
 * whoever runs the daemon, and a .pgpass file (mode 0600) or peer
 * authentication keeps it out of it.
 */
static void
cfg_warn_password(const daemon_config *cfg)
{
	const char *ci = cfg->pg_conninfo;
	const char *at = strchr(ci, '@');
	const char *scheme = strstr(ci, "://");

	if (strstr(ci, "password") != NULL ||
		(scheme != NULL && at != NULL && at > scheme &&
		 memchr(scheme + 3, ':', (size_t) (at - scheme - 3)) != NULL))
		zlog(ZLOG_WARNING, "%s: pg_conninfo holds a password in a file that may be read "
			 "by others; use a .pgpass file (mode 0600) or peer authentication instead",
			 cfg->path);
}

/*
 * Append to pg_conninfo the options that set zyzzyva.entrust and
 * zyzzyva.cluster_f (f+1 replicas must propose a replicated DDL request)
 * on the sidecar's connections (key=value form or URI form).  The connection
 * string must not set options itself: these must not be overridden.
 */
static bool
cfg_conninfo_entrust(daemon_config *cfg, int line, cfg_err_fn err, void *arg)
{
	char		opt[CFG_MAX_CONNINFO + 64];
	char		enc[3 * sizeof(opt)];
	size_t		len = strlen(cfg->pg_conninfo);
	bool		uri = strncmp(cfg->pg_conninfo, "postgresql://", 13) == 0 ||
		strncmp(cfg->pg_conninfo, "postgres://", 11) == 0;
	int			n;

	if (strstr(cfg->pg_conninfo, "options") != NULL)
	{
		cfg_report(err, arg, cfg->path, line,
				   "pg_conninfo must not set options: zyzzyvad sets them (zyzzyva.entrust)");
		return false;
	}
	snprintf(opt, sizeof(opt), "-c zyzzyva.entrust=%s -c zyzzyva.cluster_f=%u",
			 cfg->entrust, cfg->f);
	if (uri)
	{
		size_t		e = 0;

		for (const char *c = opt; *c; c++)
			e += (size_t) (isalnum((unsigned char) *c) ?
						   snprintf(enc + e, sizeof(enc) - e, "%c", *c) :
						   snprintf(enc + e, sizeof(enc) - e, "%%%02X", (unsigned char) *c));
		n = snprintf(cfg->pg_conninfo + len, sizeof(cfg->pg_conninfo) - len, "%soptions=%s",
					 strchr(cfg->pg_conninfo, '?') ? "&" : "?", enc);
	}
	else
		n = snprintf(cfg->pg_conninfo + len, sizeof(cfg->pg_conninfo) - len,
					 " options='%s'", opt);
	if (n < 0 || (size_t) n >= sizeof(cfg->pg_conninfo) - len)
	{
		cfg_report(err, arg, cfg->path, line,
				   "pg_conninfo is too long with the entrustment added");
		return false;
	}
	return true;
}

/*
 * Compose the whole entrustment, "0:a,b;1:c", from every entrust.N, and
 * hand it to the database through pg_conninfo.
 */
static bool
cfg_compose_entrust(daemon_config *cfg, int conninfo_line, cfg_err_fn err, void *arg)
{
	size_t		used = 0;
	bool		any = false;

	for (uint32_t i = 0; i < cfg->n && i < ZZ_MAX_N; i++)
	{
		const cfg_replica *r = &cfg->replicas[i];
		int			w;

		if (r->entrust[0] == '\0')
			continue;
		any = true;
		w = snprintf(cfg->entrust + used, sizeof(cfg->entrust) - used, "%s%u:%s",
					 used > 0 ? ";" : "", i, r->entrust);
		if (w < 0 || (size_t) w >= sizeof(cfg->entrust) - used)
		{
			cfg_report(err, arg, cfg->path, r->entrust_line, "the entrust.N lists are too long");
			return false;
		}
		used += (size_t) w;
	}
	for (uint32_t i = cfg->n; i < ZZ_MAX_N; i++)
	{
		if (cfg->replicas[i].entrust_line != 0)
		{
			cfg_report(err, arg, cfg->path, cfg->replicas[i].entrust_line,
					   "entrust.%u is beyond replica.%u (f = %u)", i, cfg->n - 1, cfg->f);
			return false;
		}
	}
	if (cfg->service != SVC_POSTGRES)
		return true;
	if (!any)
		zlog(ZLOG_WARNING, "%s: no entrust.N lines: no replica may submit calls for any "
			 "role, and every replicated call will be refused (42501)", cfg->path);
	cfg_warn_password(cfg);
	return cfg_conninfo_entrust(cfg, conninfo_line, err, arg);
}

/*
 * Refuse a configuration file that its group or others may write: whoever
 * can write it chooses the keys and peers the daemon trusts.
 */
static bool
cfg_private_enough(const char *path, int fd, cfg_err_fn err, void *arg)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
	{
		cfg_report(err, arg, path, 0, "cannot stat: %s", strerror(errno));
		return false;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
	{
		cfg_report(err, arg, path, 0,
				   "the configuration file is writable by %s (mode %04o); "
				   "make it writable only by its owner (chmod go-w)",
				   (st.st_mode & S_IWOTH) ? "others" : "its group",
				   (unsigned) (st.st_mode & 07777));
		return false;
	}
	return true;
}

/*
 * Read the file into key/value lines, reporting lines that are not
 * `key = value`.  Returns the lines (malloc'd; strings inside *text).
 */
static cfg_line *
cfg_read_lines(const char *path, int *nlines, char **text, bool *ok,
			   cfg_err_fn err, void *arg)
{
	FILE	   *fp = fopen(path, "r");
	char		buf[CFG_MAX_LINE + 2];
	cfg_line   *lines = NULL;
	size_t		textlen = 0;
	size_t		textcap = 0;
	int			lineno = 0;
	int			n = 0;

	*text = NULL;
	*nlines = 0;
	if (fp == NULL)
	{
		cfg_report(err, arg, path, 0, "cannot open: %s", strerror(errno));
		*ok = false;
		return NULL;
	}
	if (!cfg_private_enough(path, fileno(fp), err, arg))
	{
		fclose(fp);
		*ok = false;
		return NULL;
	}
	lines = calloc(CFG_MAX_LINES, sizeof(cfg_line));
	if (lines == NULL)
	{
		fclose(fp);
		*ok = false;
		return NULL;
	}
	/* First pass stores offsets in key/value; fixed up after the text is final. */
	while (fgets(buf, sizeof(buf), fp) != NULL)
	{
		char	   *s;
		char	   *eq;
		char	   *key;
		char	   *val;
		size_t		kl;
		size_t		vl;
		char	   *grown;

		lineno++;
		if (strlen(buf) > CFG_MAX_LINE && buf[strlen(buf) - 1] != '\n')
		{
			int			c;

			cfg_report(err, arg, path, lineno, "line longer than %d bytes", CFG_MAX_LINE);
			*ok = false;
			while ((c = fgetc(fp)) != EOF && c != '\n')
				;
			continue;
		}
		s = cfg_trim(buf);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL)
		{
			cfg_report(err, arg, path, lineno, "expected 'key = value', got '%s'", s);
			*ok = false;
			continue;
		}
		*eq = '\0';
		key = cfg_trim(s);
		val = cfg_trim(eq + 1);
		if (*key == '\0' || *val == '\0')
		{
			cfg_report(err, arg, path, lineno, "expected 'key = value'");
			*ok = false;
			continue;
		}
		if (n == CFG_MAX_LINES)
		{
			cfg_report(err, arg, path, lineno, "more than %d settings", CFG_MAX_LINES);
			*ok = false;
			break;
		}
		kl = strlen(key) + 1;
		vl = strlen(val) + 1;
		if (textlen + kl + vl > textcap)
		{
			textcap = (textlen + kl + vl) * 2;
			grown = realloc(*text, textcap);
			if (grown == NULL)
			{
				*ok = false;
				break;
			}
			*text = grown;
		}
		memcpy(*text + textlen, key, kl);
		memcpy(*text + textlen + kl, val, vl);
		lines[n].line = lineno;
		lines[n].key = (char *) (uintptr_t) textlen;
		lines[n].value = (char *) (uintptr_t) (textlen + kl);
		textlen += kl + vl;
		n++;
	}
	fclose(fp);
	for (int i = 0; i < n; i++)
	{
		lines[i].key = *text + (uintptr_t) lines[i].key;
		lines[i].value = *text + (uintptr_t) lines[i].value;
	}
	*nlines = n;
	return lines;
}

/*
 * Defaults for the daemon's own settings (the protocol's come from
 * zz_params_default once f is known).
 */
static void
cfg_defaults(daemon_config *cfg)
{
	cfg->client_socket_mode = 0600;
	cfg->service = SVC_KV;
	cfg->max_clients = 256;
	cfg->peer_queue_max = 64u << 20;
	cfg->transfer_chunk = 1u << 20;
	cfg->transfer_rate = 64u << 20;
	cfg->reconnect_max = 2 * SEC;
	cfg->handshake_timeout = 5 * SEC;
	cfg->ping_interval = 1 * SEC;
	cfg->local_apply_wait = 10 * SEC;
	cfg->verify_interval = 60 * SEC;
	strcpy(cfg->batch_commit, "async");
	cfg->log_level = ZLOG_INFO;
}

/*
 * The core's defaults suit its simulator, whose network never stalls.
 * Between processes that share two cores, a request can wait milliseconds
 * behind a busy loop; timers that trigger CONFIRM-REQ, FILL-HOLE and view
 * changes get room for that.  So does the commit timer: it is only the
 * cap of the client's adaptive wait (twice the usual time to n responses),
 * and a cap of 2 ms sent most requests of a loaded but healthy cluster
 * down the commit path (fast-path share 0.4-0.77, twice the messages,
 * about half the throughput).  With a replica down the adaptive timer
 * commits at once, whatever the cap.  The batch timer is zero.
 */
static void
cfg_network_defaults(zz_params *p)
{
	/*
	 * A batch closes at the end of the loop turn in which its first request
	 * arrived: alone when the load is light (no added latency), with all
	 * that queued up meanwhile when the replica is busy.
	 */
	p->batch_timeout = 0;
	/* ... and waits while a batch executes (zz_batch_held) */
	p->order_ahead = 1;
	p->commit_timeout = 20 * MS;
	p->retransmit_timeout = 50 * MS;
	p->retransmit_max = 1 * SEC;
	p->fill_hole_timeout = 20 * MS;
	p->checkpoint_resend = 200 * MS;
	p->confirm_timeout = 200 * MS;
	p->view_change_timeout = 500 * MS;
	/* a replica that installed a large checkpoint replays the rest (catchup.c) */
	p->retain_batches = ZZ_RETAIN_BATCHES_DEFAULT;
	p->retain_bytes = ZZ_RETAIN_BYTES_DEFAULT;
}

#ifdef ZZ_FAULT_INJECTION
/*
 * Parse test_nd_time_skew (signed milliseconds, "-3e12" allowed) into
 * microseconds; false if it is not a number or beyond 1e13 ms either way.
 */
static bool
cfg_parse_skew(const char *text, int64_t *skew_us)
{
	char	   *end;
	double		ms;

	errno = 0;
	ms = strtod(text, &end);
	while (*end != '\0' && isspace((unsigned char) *end))
		end++;
	if (end == text || *end != '\0' || errno != 0 || !(ms >= -1e13 && ms <= 1e13))
		return false;
	if (skew_us != NULL)
		*skew_us = (int64_t) (ms * 1000.0);
	return true;
}

/*
 * The primary's clock skew a test asked for, in microseconds (0: none).
 */
int64_t
cfg_test_nd_time_skew(const daemon_config *cfg)
{
	int64_t		skew = 0;

	if (cfg->test_nd_time_skew[0] == '\0' || !cfg_parse_skew(cfg->test_nd_time_skew, &skew))
		return 0;
	return skew;
}
#endif

/*
 * Cross-setting checks once every line is applied.
 */
static bool
cfg_check_whole(daemon_config *cfg, const int *set_line, cfg_err_fn err, void *arg)
{
	bool		ok = true;

	for (int i = 0; i < CFG_NKEYS; i++)
	{
		if (cfg_keys[i].required && set_line[i] == 0)
		{
			cfg_report(err, arg, cfg->path, 0, "missing required key '%s'", cfg_keys[i].name);
			ok = false;
		}
	}
	if (set_line[cfg_find_key("f")] == 0)
		return false;
	cfg->n = 3 * cfg->f + 1;
	for (uint32_t i = 0; i < ZZ_MAX_N; i++)
	{
		cfg_replica *r = &cfg->replicas[i];

		if (i < cfg->n && !r->present)
		{
			cfg_report(err, arg, cfg->path, 0,
					   "missing 'replica.%u' (f = %u needs replica.0 .. replica.%u)",
					   i, cfg->f, cfg->n - 1);
			ok = false;
		}
		else if (i >= cfg->n && r->present)
		{
			cfg_report(err, arg, cfg->path, r->line,
					   "replica.%u is beyond replica.%u (f = %u means n = %u)",
					   i, cfg->n - 1, cfg->f, cfg->n);
			ok = false;
		}
		for (uint32_t j = 0; j < i && r->present && i < cfg->n; j++)
		{
			if (cfg->replicas[j].present && cfg->replicas[j].addr.salen == r->addr.salen &&
				memcmp(&cfg->replicas[j].addr.sa, &r->addr.sa, r->addr.salen) == 0)
			{
				cfg_report(err, arg, cfg->path, r->line,
						   "replica.%u has the same address as replica.%u (line %d)",
						   i, j, cfg->replicas[j].line);
				ok = false;
			}
		}
	}
	if (set_line[cfg_find_key("id")] != 0 && cfg->id >= cfg->n)
	{
		cfg_report(err, arg, cfg->path, set_line[cfg_find_key("id")],
				   "id = %u, but replicas are numbered 0 .. %u (f = %u)",
				   cfg->id, cfg->n - 1, cfg->f);
		ok = false;
	}
	else if (set_line[cfg_find_key("listen")] == 0 && cfg->replicas[cfg->id].present)
		cfg->listen = cfg->replicas[cfg->id].addr;
	if (cfg->service == SVC_POSTGRES && set_line[cfg_find_key("pg_conninfo")] == 0)
	{
		cfg_report(err, arg, cfg->path, set_line[cfg_find_key("service")],
				   "service = postgres needs pg_conninfo (a libpq connection string, "
				   "e.g. 'host=/var/run/postgresql dbname=app')");
		ok = false;
	}
	else if (cfg->service != SVC_POSTGRES && set_line[cfg_find_key("pg_conninfo")] != 0)
	{
		cfg_report(err, arg, cfg->path, set_line[cfg_find_key("pg_conninfo")],
				   "pg_conninfo is only for service = postgres");
		ok = false;
	}
	if (strcmp(cfg->batch_commit, "async") != 0 && strcmp(cfg->batch_commit, "sync") != 0)
	{
		cfg_report(err, arg, cfg->path, set_line[cfg_find_key("batch_commit")],
				   "batch_commit: '%s' is not one of async, sync", cfg->batch_commit);
		ok = false;
	}
#ifdef ZZ_FAULT_INJECTION
	if (set_line[cfg_find_key("test_withhold_order_req")] != 0)
	{
		unsigned long long v,
					sq;
		unsigned	to;
		char		extra;

		if (sscanf(cfg->test_withhold_order_req, "%llu %llu %u %c", &v, &sq, &to, &extra) != 3 ||
			to >= ZZ_MAX_N)
		{
			cfg_report(err, arg, cfg->path, set_line[cfg_find_key("test_withhold_order_req")],
					   "test_withhold_order_req: '%s' is not 'VIEW SEQ REPLICA'",
					   cfg->test_withhold_order_req);
			ok = false;
		}
	}
	if (set_line[cfg_find_key("test_nd_time_skew")] != 0 &&
		!cfg_parse_skew(cfg->test_nd_time_skew, NULL))
	{
		cfg_report(err, arg, cfg->path, set_line[cfg_find_key("test_nd_time_skew")],
				   "test_nd_time_skew: '%s' is not a number of milliseconds "
				   "(e.g. -3e12 or 3e12, at most 1e13 either way)", cfg->test_nd_time_skew);
		ok = false;
	}
#endif
	if (cfg->params.retransmit_max < cfg->params.retransmit_timeout)
	{
		cfg_report(err, arg, cfg->path, set_line[cfg_find_key("retransmit_max")],
				   "retransmit_max must be at least retransmit_timeout");
		ok = false;
	}
	return ok;
}

/*
 * Load the configuration file (see config.h).
 */
bool
cfg_load(const char *path, daemon_config *cfg, cfg_err_fn err, void *arg)
{
	int			set_line[CFG_NKEYS];
	cfg_line   *lines;
	char	   *text;
	int			nlines;
	bool		ok = true;
	int			fkey = cfg_find_key("f");

	memset(cfg, 0, sizeof(*cfg));
	memset(set_line, 0, sizeof(set_line));
	cfg_defaults(cfg);
	if (snprintf(cfg->path, sizeof(cfg->path), "%s", path) >= (int) sizeof(cfg->path))
	{
		cfg_report(err, arg, path, 0, "path too long");
		return false;
	}
	lines = cfg_read_lines(path, &nlines, &text, &ok, err, arg);
	if (lines == NULL)
		return false;

	/* Pass 1: f, on which the protocol's defaults depend. */
	for (int i = 0; i < nlines; i++)
	{
		if (strcmp(lines[i].key, "f") == 0 && set_line[fkey] == 0)
		{
			if (cfg_set(cfg, &cfg_keys[fkey], &lines[i], err, arg))
				set_line[fkey] = lines[i].line;
			else
			{
				ok = false;
				set_line[fkey] = -lines[i].line;	/* seen, but bad */
			}
		}
	}
	if (!zz_params_default(&cfg->params, set_line[fkey] > 0 ? cfg->f : 1))
		ok = false;
	cfg_network_defaults(&cfg->params);

	/* Pass 2: everything, in file order. */
	for (int i = 0; i < nlines; i++)
	{
		const cfg_line *l = &lines[i];
		int			k;

		if (strncmp(l->key, "replica.", 8) == 0)
		{
			if (!cfg_set_replica(cfg, l, err, arg))
				ok = false;
			continue;
		}
		if (strncmp(l->key, "entrust.", 8) == 0)
		{
			if (!cfg_set_entrust(cfg, l, err, arg))
				ok = false;
			continue;
		}
		k = cfg_find_key(l->key);
		if (k < 0)
		{
			const char *hint = NULL;

			for (int j = 0; j < CFG_NKEYS; j++)
			{
				if (cfg_distance(l->key, cfg_keys[j].name) <= 2)
				{
					hint = cfg_keys[j].name;
					break;
				}
			}
			if (hint)
				cfg_report(err, arg, path, l->line, "unknown key '%s' (did you mean '%s'?)",
						   l->key, hint);
			else
				cfg_report(err, arg, path, l->line, "unknown key '%s'", l->key);
			ok = false;
			continue;
		}
		if (k == fkey)
		{
			if (l->line != abs(set_line[fkey]))
			{
				cfg_report(err, arg, path, l->line,
						   "duplicate key 'f' (first set on line %d)", abs(set_line[fkey]));
				ok = false;
			}
			continue;
		}
		if (set_line[k] != 0)
		{
			cfg_report(err, arg, path, l->line, "duplicate key '%s' (first set on line %d)",
					   l->key, set_line[k]);
			ok = false;
			continue;
		}
		set_line[k] = l->line;
		if (!cfg_set(cfg, &cfg_keys[k], l, err, arg))
			ok = false;
	}
	if (set_line[fkey] < 0)
		set_line[fkey] = 0;		/* reported already; skip the replica checks */
	if (set_line[fkey] == 0 && ok)
		ok = false;
	if (!cfg_check_whole(cfg, set_line, err, arg))
		ok = false;
	else if (ok && !cfg_compose_entrust(cfg, set_line[cfg_find_key("pg_conninfo")], err, arg))
		ok = false;
	cfg->params.f = cfg->f;
	cfg->params.n = cfg->n;
	free(lines);
	free(text);
	return ok;
}

/*
 * Apply the reloadable settings of a freshly loaded file; name the others
 * that changed (they need a restart).
 */
int
cfg_apply_reload(daemon_config *cur, const daemon_config *next, cfg_err_fn err, void *arg)
{
	int			applied = 0;

	for (int i = 0; i < CFG_NKEYS; i++)
	{
		const cfg_key *k = &cfg_keys[i];
		size_t		size;

		switch (k->type)
		{
			case CT_U32:
				size = sizeof(uint32_t);
				break;
			case CT_BYTES:
			case CT_USEC:
				size = sizeof(uint64_t);
				break;
			case CT_PATH:
				size = PATH_MAX;
				break;
			case CT_ADDR:
				size = sizeof(cfg_addr);
				break;
			case CT_SOCKPATH:
				size = sizeof(cur->client_socket);
				break;
			case CT_SERVICE:
				size = sizeof(svc_kind);
				break;
			case CT_LOGLEVEL:
				size = sizeof(zlog_level);
				break;
			case CT_MODE:
				size = sizeof(uint32_t);
				break;
			case CT_STRING:
				size = CFG_MAX_CONNINFO;
				break;
			default:
				continue;
		}
		if (memcmp((const char *) cur + k->offset, (const char *) next + k->offset, size) == 0)
			continue;
		if (k->reloadable)
		{
			memcpy((char *) cur + k->offset, (const char *) next + k->offset, size);
			applied++;
		}
		else
			cfg_report(err, arg, next->path, 0,
					   "'%s' changed; the new value takes effect only after a restart", k->name);
	}
	for (int i = 0; i < ZZ_MAX_N; i++)
	{
		const cfg_replica *a = &cur->replicas[i];
		const cfg_replica *b = &next->replicas[i];

		if (a->present != b->present || strcmp(a->addr.text, b->addr.text) != 0 ||
			strcmp(a->pubkey, b->pubkey) != 0)
			cfg_report(err, arg, next->path, b->line,
					   "replica.%d changed; the change takes effect only after a restart", i);
		if (strcmp(a->entrust, b->entrust) != 0)
			cfg_report(err, arg, next->path, b->entrust_line,
					   "entrust.%d changed; the change takes effect only after a restart "
					   "of every replica's sidecar", i);
	}
	return applied;
}
