/*
 * config.h
 *	  One replica's configuration file: `key = value` lines.
 *
 *	  # comment
 *	  id = 1
 *	  f = 1
 *	  replica.0 = 127.0.0.1:7000 keys/replica-0.pub
 *	  ...
 *	  private_key = keys/replica-1.key
 *	  entrust.0 = alice bob			(roles replica 0 may call as; * = any
 *	  entrust.1 = *					 role that is not a superuser)
 *
 * Relative paths are taken relative to the file's directory.  Durations
 * take a unit (us, ms, s; a bare number is microseconds).  Every problem is
 * reported as "FILE:LINE: message" (or "FILE: message" for a key that is
 * missing altogether) through an error callback, and loading goes on to
 * find the rest, so one --check-config run shows them all.
 */
#ifndef ZZD_CONFIG_H
#define ZZD_CONFIG_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "log.h"
#include "types.h"

typedef enum svc_kind
{
	SVC_KV = 0,					/* the in-memory key-value service */
	SVC_NULL = 1,				/* the paper's 0/0 benchmark service */
	SVC_POSTGRES = 2			/* a PostgreSQL database through libpq */
} svc_kind;

#define CFG_MAX_CONNINFO	1024

typedef struct cfg_addr
{
	char		text[300];		/* as written: host:port */
	struct sockaddr_storage sa;
	socklen_t	salen;
} cfg_addr;

typedef struct cfg_replica
{
	bool		present;
	int			line;
	cfg_addr	addr;
	char		pubkey[PATH_MAX];
	int			entrust_line;	/* line of entrust.N, 0 if none */
	char		entrust[CFG_MAX_CONNINFO];	/* roles it may call as: "a,b" */
} cfg_replica;

typedef struct daemon_config
{
	char		path[PATH_MAX];
	uint32_t	id;
	uint32_t	f;
	uint32_t	n;
	cfg_replica replicas[ZZ_MAX_N];
	char		private_key[PATH_MAX];
	int			private_key_line;
	char		mac_secret[PATH_MAX];
	int			mac_secret_line;
	char		view_file[PATH_MAX];	/* the highest view committed to (keptview.h) */
	cfg_addr	listen;			/* defaults to replica.<id>'s address */
	char		client_socket[sizeof(((struct sockaddr_un *) 0)->sun_path)];
	uint32_t	client_socket_mode; /* 0600 or 0660 */
	svc_kind	service;
	uint32_t	null_reply_size;
	char		pg_conninfo[CFG_MAX_CONNINFO];	/* service = postgres; ends with
												 * the options that set
												 * zyzzyva.entrust */
	char		entrust[CFG_MAX_CONNINFO];	/* "0:a,b;1:c": every entrust.N */
	uint32_t	max_clients;	/* local client slots */
	uint64_t	peer_queue_max; /* bytes queued per peer before dropping */
	uint64_t	transfer_chunk; /* state transfer: row bytes per chunk */
	uint64_t	transfer_rate;	/* state transfer: bytes/s per requester, 0: no limit */
	zz_time		reconnect_max;	/* cap of the reconnect backoff */
	zz_time		handshake_timeout;
	zz_time		ping_interval;
	zz_time		local_apply_wait;	/* hold a complete result this long for our
									 * replica to execute it */
	zz_time		verify_interval;	/* service = postgres: recheck the rows against
									 * the digest at most this often (0: at every
									 * stable checkpoint) */
	char		batch_commit[CFG_MAX_CONNINFO];	/* service = postgres: async (a
												 * batch's commit does not wait
												 * for its WAL flush) or sync */
#ifdef ZZ_FAULT_INJECTION
	char		test_withhold_order_req[CFG_MAX_CONNINFO];	/* "V S R" */
	char		test_nd_time_skew[CFG_MAX_CONNINFO];	/* as primary, stamp batches
														 * this many ms off */
#endif
	zlog_level	log_level;
	zz_params	params;
} daemon_config;

typedef void (*cfg_err_fn) (void *arg, const char *msg);

/*
 * Parse and check the file (syntax, ranges, required keys, one address per
 * replica).  The file must not be writable by group or others.  Key files are checked separately by keys_load.  Returns true
 * if no error was reported.
 */
extern bool cfg_load(const char *path, daemon_config *cfg, cfg_err_fn err, void *arg);

/*
 * Copy the settings that may change without a restart from `next` into
 * `cur`, and report (through err) each changed setting that needs a
 * restart.  Returns the number of settings applied.
 */
extern int	cfg_apply_reload(daemon_config *cur, const daemon_config *next,
							 cfg_err_fn err, void *arg);

#ifdef ZZ_FAULT_INJECTION
/* test_nd_time_skew in microseconds (0 if unset). */
extern int64_t cfg_test_nd_time_skew(const daemon_config *cfg);
#endif

/* The name of a service kind as the file spells it. */
extern const char *cfg_service_name(svc_kind kind);

/* Parse "host:port" (IPv4, [IPv6] or localhost).  False if malformed. */
extern bool cfg_parse_addr(const char *s, cfg_addr *a);

/* Format an error "FILE:LINE: ..." (line 0: "FILE: ...") through err. */
extern void cfg_report(cfg_err_fn err, void *arg, const char *path, int line,
					   const char *fmt,...) __attribute__((format(printf, 5, 6)));

#endif							/* ZZD_CONFIG_H */
