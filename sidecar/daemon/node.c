/*
 * node.c
 *	  Wiring the core into the reactor (see node.h).
 *
 * The core is a pure state machine; this file is its shell.  Time is the
 * reactor's (ev_now: monotonic microseconds that read as the wall clock).
 * Bytes arrive from the peer mesh and
 * are pushed into zz_replica_receive or a local zz_client; what the core
 * sends comes out through zz_io:
 *
 *	  to another replica		-> peer mesh (FT_REPLICA_MSG)
 *	  to a client of another	-> peer mesh, to the client's replica (FT_CLIENT_MSG)
 *	  to ourselves / our client -> the mailbox
 *
 * The mailbox makes local delivery asynchronous: the replica may send to
 * one of our clients, whose reaction may send to our replica, and neither
 * state machine is ever re-entered from inside its own call.  It is drained
 * in the loop's before-sleep hook, before output is flushed, so local
 * messages cost no extra loop turn.
 *
 * The service is the in-memory key-value store, the null service, or a
 * PostgreSQL database (pgservice.c), which executes asynchronously: its
 * results come back through node_pg_done into zz_replica_execute_done.
 * A local client's complete result is sent only once our own replica has
 * executed its batch (node_applied), so that the program reads its own
 * writes from the local database.
 *
 * One reactor timer follows the earliest deadline of the replica and of the
 * busy clients.  Signals arrive through a signalfd: SIGHUP reloads what can
 * be reloaded, SIGTERM and SIGINT stop the loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "conn.h"
#include "config.h"
#include "coreinfo.h"
#include "event.h"
#include "keptview.h"
#include "keys.h"
#include "kvservice.h"
#include "local.h"
#include "log.h"
#include "node.h"
#include "nullservice.h"
#include "peer.h"
#include "pgservice.h"
#include "replica.h"

#define MB_REPLICA		1
#define MB_CLIENT		2
#define MB_HDR			9		/* kind u8, client u32, length u32 */
#define MB_MAX_ROUNDS	64		/* mailbox swaps per before-sleep */

typedef struct node
{
	ev_loop    *loop;
	daemon_config cfg;
	daemon_keys keys;
	zz_keyset  *ks;
	zz_crypto  *crypto;
	zz_kvservice *kv;
	nullsvc    *ns;
	pgsvc	   *pg;
	zz_replica *replica;
	peer_mesh  *mesh;
	local_endpoint *local;
	zz_io		io;
	zz_buf		mailbox[2];		/* [0] filling, [1] draining */
	uint64_t	core_timer;
	zz_time		core_deadline;
	int			sigfd;
	zz_time		started;
	bool		core_ready;		/* false until the database's position is known */
	zz_view		kept_view;		/* the highest view committed to (view_file) */
	zz_view		unkept_view;	/* a higher view the file could not take, or 0 */
	uint64_t	unkept_dropped; /* messages not sent since, for the log */
} node;

static bool node_view_kept(node *nd);

/*
 * Report a configuration problem through the log.
 */
static void
node_cfg_error(void *arg, const char *msg)
{
	zlog(*(zlog_level *) arg, "%s", msg);
}

/*
 * Queue a message for ourselves or one of our clients.
 */
static void
node_mailbox_push(node *nd, uint8_t kind, uint32_t client, const uint8_t *buf, size_t len)
{
	uint8_t		hdr[MB_HDR];

	hdr[0] = kind;
	frame_put_u32(hdr + 1, client);
	frame_put_u32(hdr + 5, (uint32_t) len);
	if (!zz_buf_reserve(&nd->mailbox[0], MB_HDR + len) ||
		!zz_buf_append(&nd->mailbox[0], hdr, MB_HDR) ||
		!zz_buf_append(&nd->mailbox[0], buf, len))
		zlog(ZLOG_WARNING, "out of memory: local message dropped");
}

#ifdef ZZ_FAULT_INJECTION
/*
 * Fault injection for tests (test_withhold_order_req = "V S R", only in a
 * build with -DZZ_FAULT_INJECTION: build/fi/zyzzyvad): the
 * ORDER-REQ of view V at sequence number S reaches replica R only, from
 * every replica with the setting (the primary, and any replica answering
 * a FILL-HOLE with it).  With the primary then gone, a view change has
 * too few reports of that batch to keep it, and R rolls it back.
 */
static bool
node_withheld(node *nd, uint32_t to, const uint8_t *buf, size_t len)
{
	unsigned long long v,
				sq;
	unsigned	r;
	zz_msg_type type;
	zz_order_req m;
	bool		withhold;

	if (zz_msg_peek_type(buf, len, &type) != ZZ_OK || type != ZZ_MSG_ORDER_REQ ||
		sscanf(nd->cfg.test_withhold_order_req, "%llu %llu %u", &v, &sq, &r) != 3 ||
		to == r || zz_decode_order_req(buf, len, &m) != ZZ_OK)
		return false;
	withhold = m.hdr.view == v && m.hdr.seq == sq;
	zz_order_req_release(&m);
	if (withhold)
		zlog(ZLOG_DEBUG, "test: ORDER-REQ v%llu n%llu withheld from replica %u", v, sq, to);
	return withhold;
}
#endif

/*
 * zz_io.to_replica: for the replica and for every local client.  What
 * clients cause and retransmit goes behind the protocol's own messages
 * (peer_send_replica_bulk).
 */
static void
node_to_replica(void *ctx, uint32_t replica, const uint8_t *buf, size_t len)
{
	node	   *nd = ctx;
	zz_msg_type type;

	if (replica != nd->cfg.id && !node_view_kept(nd))
		return;
#ifdef ZZ_FAULT_INJECTION
	if (nd->cfg.test_withhold_order_req[0] != '\0' && replica != nd->cfg.id &&
		node_withheld(nd, replica, buf, len))
		return;
#endif
	if (replica == nd->cfg.id)
		node_mailbox_push(nd, MB_REPLICA, 0, buf, len);
	else if (zz_msg_peek_type(buf, len, &type) == ZZ_OK &&
			 (type == ZZ_MSG_REQUEST || type == ZZ_MSG_CONFIRM_REQ))
		(void) peer_send_replica_bulk(nd->mesh, replica, buf, len);	/* clients retransmit */
	else
		(void) peer_send_replica(nd->mesh, replica, buf, len);
}

/*
 * zz_io.to_client: local clients through the mailbox, others through
 * their replica.
 */
static void
node_to_client(void *ctx, uint32_t client, const uint8_t *buf, size_t len)
{
	node	   *nd = ctx;
	uint32_t	owner = client >> 16;

	if (!node_view_kept(nd))
		return;
	if (owner == nd->cfg.id)
		node_mailbox_push(nd, MB_CLIENT, client, buf, len);
	else if (owner < nd->cfg.n)
		(void) peer_send_client(nd->mesh, owner, client, buf, len);
}

/*
 * zz_io.notice: what an operator must see, in the log (view changes with
 * their reason and duration, late checkpoints) and, for a checkpoint that
 * can never become stable, in the condition too.
 */
static void
node_notice(void *ctx, zz_notice_kind kind, const char *line)
{
	node	   *nd = ctx;
	zz_replica_status st;

	switch (kind)
	{
		case ZZ_NOTICE_VIEW:
			zlog(ZLOG_WARNING, "view: %s", line);
			break;
		case ZZ_NOTICE_CHECKPOINT_LATE:
			zlog(ZLOG_WARNING, "checkpoint: %s", line);
			break;
		case ZZ_NOTICE_CATCHUP:
			zlog(ZLOG_INFO, "catch-up: %s", line);
			break;
		case ZZ_NOTICE_DIVERGED:
			zlog(ZLOG_ERROR, "DIVERGED: %s", line);
			zz_replica_get_status(nd->replica, &st);
			if (nd->pg != NULL)
				pgsvc_set_halted(nd->pg, st.stable_seq, line);
			break;
	}
}

/*
 * zz_io.trace: the core's trace lines, at debug level.
 */
static void
node_trace(void *ctx, const char *line)
{
	zlog(ZLOG_DEBUG, "core: %s", line);
}

/*
 * Hand a message to our replica.  (The primary's batching, which holds
 * requests while a batch executes, is the core's: order_ahead, request.c.)
 */
static void
node_replica_deliver(node *nd, const uint8_t *buf, size_t len)
{
	/*
	 * Until the database said where it is, the core must not act: it may
	 * have to resume at the database's stable checkpoint first.  What is
	 * dropped here is sent again (peers and clients retransmit).
	 */
	if (!nd->core_ready)
		return;
	zz_replica_receive(nd->replica, ev_now(), buf, len);
}

/*
 * Peer mesh: a message for our replica.
 */
static void
node_replica_msg(void *arg, uint32_t from, const uint8_t *buf, size_t len)
{
	node	   *nd = arg;

	node_replica_deliver(nd, buf, len);
}

/*
 * Peer mesh: a message for one of our clients.
 */
static void
node_client_msg(void *arg, uint32_t from, uint32_t client, const uint8_t *buf, size_t len)
{
	node	   *nd = arg;

	local_client_receive(nd->local, client, ev_now(), buf, len);
}

/*
 * Deliver what the mailbox holds; deliveries may queue more, so swap and
 * repeat, a bounded number of rounds (the rest waits one loop turn).
 */
static bool
node_drain_mailbox(node *nd)
{
	for (int round = 0; round < MB_MAX_ROUNDS; round++)
	{
		zz_buf		tmp;
		size_t		off = 0;

		if (nd->mailbox[0].len == 0)
			return true;
		tmp = nd->mailbox[1];
		nd->mailbox[1] = nd->mailbox[0];
		nd->mailbox[0] = tmp;
		zz_buf_reset(&nd->mailbox[0]);
		while (off + MB_HDR <= nd->mailbox[1].len)
		{
			const uint8_t *p = nd->mailbox[1].data + off;
			uint32_t	client = frame_get_u32(p + 1);
			uint32_t	len = frame_get_u32(p + 5);
			zz_time		now = ev_now();

			if (p[0] == MB_REPLICA)
				node_replica_deliver(nd, p + MB_HDR, len);
			else
				local_client_receive(nd->local, client, now, p + MB_HDR, len);
			off += MB_HDR + len;
		}
		zz_buf_reset(&nd->mailbox[1]);
	}
	return nd->mailbox[0].len == 0;
}

static void node_core_timer(ev_loop *loop, uint64_t id, void *arg);

/*
 * Point the core timer at the earliest deadline (or now, if the mailbox
 * still holds messages).
 */
static void
node_arm_core_timer(node *nd, bool now)
{
	zz_time		d = zz_replica_next_deadline(nd->replica);
	zz_time		lt = local_next_deadline(nd->local);

	if (lt < d)
		d = lt;
	if (now)
		d = ev_now();
	if (nd->core_timer != 0 && d == nd->core_deadline)
		return;
	if (nd->core_timer != 0)
		ev_del_timer(nd->loop, nd->core_timer);
	nd->core_timer = 0;
	nd->core_deadline = d;
	if (d != UINT64_MAX)
		nd->core_timer = ev_add_timer(nd->loop, d, node_core_timer, nd);
}

/*
 * The core timer: tick the replica and the busy clients.
 */
static void
node_core_timer(ev_loop *loop, uint64_t id, void *arg)
{
	node	   *nd = arg;
	zz_time		now = ev_now();

	nd->core_timer = 0;
	if (nd->core_ready)
		zz_replica_tick(nd->replica, now);
	local_tick(nd->local, now);
}

/*
 * Before each sleep: frames buffered by resumed clients, the mailbox, the
 * core timer, then every output queue in one write each.
 */
static void
node_before_sleep(ev_loop *loop, void *arg)
{
	node	   *nd = arg;
	bool		drained;

	conn_run_resumed();
	drained = node_drain_mailbox(nd);
	if (nd->pg != NULL)
	{
		zz_replica_status st;

		zz_replica_get_status(nd->replica, &st);
		pgsvc_set_transfer(nd->pg, st.transfer_seq, st.last_executed);
	}
	local_release_held(nd->local);
	node_arm_core_timer(nd, !drained);
	conn_flush_all();
	conn_reap();
}

/*
 * SIGHUP: reload the file; apply what may change now, warn about the rest.
 */
static void
node_reload(node *nd)
{
	daemon_config *next = malloc(sizeof(daemon_config));
	zlog_level	lvl = ZLOG_ERROR;
	zlog_level	warn = ZLOG_WARNING;
	int			applied;

	if (next == NULL)
		return;
	zlog(ZLOG_INFO, "SIGHUP: reloading %s", nd->cfg.path);
	if (!cfg_load(nd->cfg.path, next, node_cfg_error, &lvl))
	{
		zlog(ZLOG_ERROR, "reload failed; keeping the running configuration");
		free(next);
		return;
	}
	applied = cfg_apply_reload(&nd->cfg, next, node_cfg_error, &warn);
	zlog_set_level(nd->cfg.log_level);
#ifdef ZZ_FAULT_INJECTION
	zz_replica_set_nd_time_skew(nd->replica, cfg_test_nd_time_skew(&nd->cfg));
#endif
	peer_mesh_reload(nd->mesh);
	zlog(ZLOG_INFO, "reload done: %d setting%s changed", applied, applied == 1 ? "" : "s");
	free(next);
}

/*
 * The signalfd is readable.
 */
static void
node_signal(ev_loop *loop, int fd, void *arg, int mask)
{
	node	   *nd = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si))
	{
		if (si.ssi_signo == SIGHUP)
			node_reload(nd);
		else
		{
			zlog(ZLOG_INFO, "signal %u: shutting down", si.ssi_signo);
			ev_stop(loop);
		}
	}
}

/*
 * Route SIGHUP, SIGTERM and SIGINT to a signalfd; ignore SIGPIPE.
 */
static bool
node_signals(node *nd)
{
	sigset_t	set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return false;
	nd->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return nd->sigfd >= 0 && ev_add_file(nd->loop, nd->sigfd, EV_READABLE, node_signal, nd);
}

/*
 * Hex of a digest into out (65 bytes).
 */
static void
node_hex(const zz_digest *d, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < ZZ_DIGEST_LEN; i++)
	{
		out[2 * i] = hex[d->b[i] >> 4];
		out[2 * i + 1] = hex[d->b[i] & 15];
	}
	out[2 * ZZ_DIGEST_LEN] = '\0';
}

/*
 * The status text: the replica's position and counters, the local
 * clients, the peers.
 */
static void
node_status(void *arg, zz_buf *out)
{
	node	   *nd = arg;
	zz_replica_status st;
	const zz_replica_stats *rs = zz_replica_get_stats(nd->replica);
	static const char *const modes[] = {"normal", "view_change", "state_transfer"};
	char		h[2 * ZZ_DIGEST_LEN + 1];
	char		a[2 * ZZ_DIGEST_LEN + 1];
	char		text[2048];
	int			n;

	zz_replica_get_status(nd->replica, &st);
	node_hex(&st.history, h);
	node_hex(&st.stable_state, a);
	n = snprintf(text, sizeof(text),
				 "id: %u\nf: %u\nn: %u\npid: %d\nuptime_s: %llu\nservice: %s\n"
				 "view: %llu\nprimary: %u\nmode: %s\nmax_seq: %llu\nlast_executed: %llu\n"
				 "committed: %llu\nstable_seq: %llu\nhistory: %s\nstable_state: %s\n"
				 "peers_connected: %u\n"
				 "batches_ordered: %llu\nbatches_executed: %llu\nrequests_executed: %llu\n"
				 "spec_responses: %llu\nlocal_commits: %llu\ncached_replies: %llu\n"
				 "confirm_reqs: %llu\nfill_holes: %llu\ncheckpoints_stable: %llu\n"
				 "view_changes: %llu\nrollbacks: %llu\npoms: %llu\nrejected: %llu\n",
				 nd->cfg.id, nd->cfg.f, nd->cfg.n, (int) getpid(),
				 (unsigned long long) ((ev_now() - nd->started) / 1000000),
				 cfg_service_name(nd->cfg.service),
				 (unsigned long long) st.view, zz_primary_of(&nd->cfg.params, st.view),
				 st.mode <= ZZ_MODE_STATE_TRANSFER ? modes[st.mode] : "?",
				 (unsigned long long) st.max_seq, (unsigned long long) st.last_executed,
				 (unsigned long long) st.committed, (unsigned long long) st.stable_seq,
				 h, a, peer_mesh_connected(nd->mesh),
				 (unsigned long long) rs->batches_ordered,
				 (unsigned long long) rs->batches_executed,
				 (unsigned long long) rs->requests_executed,
				 (unsigned long long) rs->spec_responses,
				 (unsigned long long) rs->local_commits,
				 (unsigned long long) rs->cached_replies,
				 (unsigned long long) rs->confirm_reqs,
				 (unsigned long long) rs->fill_holes,
				 (unsigned long long) rs->checkpoints_stable,
				 (unsigned long long) rs->view_changes,
				 (unsigned long long) rs->rollbacks,
				 (unsigned long long) rs->poms,
				 (unsigned long long) rs->rejected);
	if (n > 0)
		(void) zz_buf_append(out, text, (size_t) (n < (int) sizeof(text) ? n : (int) sizeof(text) - 1));
	n = snprintf(text, sizeof(text),
				 "state_transfers: %llu\ntransfers_installed: %llu\ntransfers_rejected: %llu\n"
				 "transfer_seq: %llu\nrepairs: %llu\nrepairing: %d\ncore_ready: %d\n",
				 (unsigned long long) rs->state_transfers,
				 (unsigned long long) rs->transfers_installed,
				 (unsigned long long) rs->transfers_rejected,
				 (unsigned long long) st.transfer_seq, (unsigned long long) rs->repairs,
				 st.repairing ? 1 : 0, nd->core_ready ? 1 : 0);
	if (n > 0)
		(void) zz_buf_append(out, text, (size_t) (n < (int) sizeof(text) ? n : (int) sizeof(text) - 1));
	/* catch-up by replay and the retained log it feeds on (core/catchup.c) */
	n = snprintf(text, sizeof(text),
				 "catchup_runs: %llu\ncatchup_batches: %llu\ncatchup_refusals: %llu\n"
				 "catchup_served: %llu\ncatchup_seq: %llu\nretained_batches: %u\n"
				 "retained_bytes: %llu\n",
				 (unsigned long long) rs->catchup_runs,
				 (unsigned long long) rs->catchup_batches,
				 (unsigned long long) rs->catchup_refusals,
				 (unsigned long long) rs->catchup_served,
				 (unsigned long long) st.catchup_seq, st.retained_batches,
				 (unsigned long long) st.retained_bytes);
	if (n > 0)
		(void) zz_buf_append(out, text, (size_t) (n < (int) sizeof(text) ? n : (int) sizeof(text) - 1));
	{
		const zz_crypto_stats *cs = zz_crypto_get_stats(nd->crypto);

		n = snprintf(text, sizeof(text),
					 "crypto_signs: %llu\ncrypto_verifies: %llu\ncrypto_macs: %llu\n"
					 "crypto_mac_checks: %llu\n",
					 (unsigned long long) cs->signs, (unsigned long long) cs->verifies,
					 (unsigned long long) cs->macs, (unsigned long long) cs->mac_checks);
		if (n > 0)
			(void) zz_buf_append(out, text, (size_t) n);
	}
	local_status(nd->local, out);
	if (nd->pg != NULL)
		pgsvc_status(nd->pg, out);
	peer_mesh_status(nd->mesh, out);
}

/*
 * The PostgreSQL service: the label (view, h_seq) of the batch the
 * replica is executing.
 */
static bool
node_pg_label(void *arg, zz_seq seq, zz_view *view, zz_digest *history)
{
	node	   *nd = arg;

	return coreinfo_batch_label(nd->replica, seq, view, history);
}

/*
 * The PostgreSQL service finished a batch.
 */
static void
node_pg_done(void *arg, zz_exec_result *res)
{
	node	   *nd = arg;

	zz_replica_execute_done(nd->replica, ev_now(), res);
}

/*
 * The PostgreSQL service keeps the core's part of each stable checkpoint.
 */
static bool
node_pg_save_stable(void *arg, zz_seq seq, zz_buf *out)
{
	node	   *nd = arg;

	return zz_replica_save_stable(nd->replica, seq, out);
}

/*
 * ... and hands it back after a restart.
 */
static bool
node_pg_resume(void *arg, const uint8_t *blob, size_t len)
{
	node	   *nd = arg;

	return zz_replica_resume(nd->replica, ev_now(), blob, len);
}

/*
 * ... or, with the batches it stored above it (restart with the history),
 * never below the view it kept.
 */
static bool
node_pg_resume_history(void *arg, const uint8_t *blob, size_t len,
					   const zz_kept_order *orders, uint32_t n, zz_seq *until)
{
	node	   *nd = arg;

	return zz_replica_resume_history(nd->replica, ev_now(), blob, len, orders, n,
									 nd->kept_view, until);
}

/*
 * The PostgreSQL service stores the ORDER-REQ of each batch with it.
 */
static bool
node_pg_order(void *arg, zz_seq seq, zz_buf *out)
{
	node	   *nd = arg;

	return zz_replica_save_order(nd->replica, seq, out);
}

/*
 * zz_io.keep_view: the core commits to a view (a VIEW-CHANGE for it, or
 * entering it).  Made durable before the core goes on, so that a restart
 * never comes back below it.  If the file cannot be written the replica
 * must not make the promise it cannot keep: it stays silent (nothing goes
 * to peers or clients, see node_view_kept) until the file takes the view.
 * To the others it is a crashed replica, which the protocol tolerates; a
 * replica that spoke for the view and then restarted in an older one
 * would not be (docs/durability.md).
 */
static void
node_keep_view(void *ctx, zz_view view)
{
	node	   *nd = ctx;

	if (nd->cfg.view_file[0] == '\0' || view <= nd->kept_view || view <= nd->unkept_view)
		return;
	nd->unkept_view = view;
	(void) node_view_kept(nd);
}

/*
 * May the replica speak?  Not while a view it committed to is not in the
 * view_file: each message it would send tries the file again, so it
 * speaks again as soon as the file can be written.
 */
static bool
node_view_kept(node *nd)
{
	char		err[PATH_MAX + 200];

	if (nd->unkept_view <= nd->kept_view)
		return true;
	if (!kept_view_store(nd->cfg.view_file, nd->unkept_view, err, sizeof(err)))
	{
		if (nd->unkept_dropped++ == 0)
			zlog(ZLOG_ERROR, "view_file: %s: view %llu is not kept; this replica sends "
				 "nothing until it is (after a restart it could come back below a view "
				 "it had promised to leave)", err, (unsigned long long) nd->unkept_view);
		return false;
	}
	if (nd->unkept_dropped > 0)
		zlog(ZLOG_WARNING, "view_file: view %llu kept; this replica speaks again "
			 "(%llu messages were not sent)", (unsigned long long) nd->unkept_view,
			 (unsigned long long) nd->unkept_dropped);
	nd->kept_view = nd->unkept_view;
	nd->unkept_dropped = 0;
	return true;
}

/*
 * The database's position is known: the core may start.
 */
static void
node_pg_ready(void *arg)
{
	node	   *nd = arg;

	nd->core_ready = true;
	zz_replica_restart(nd->replica, ev_now());	/* arm its timers from now */
}

/*
 * The database's rows no longer match its digest.
 */
static void
node_pg_diverged(void *arg)
{
	node	   *nd = arg;

	zz_replica_repair(nd->replica, ev_now());
}

/*
 * Chunked state transfer (pgtransfer.c): the manifest goes out in the
 * core's STATE-REPLY, the install's end goes to the core, the chunks and
 * their requests over the mesh beside the core's messages.
 */
static bool
node_pg_serve_state(void *arg, uint32_t to, zz_seq seq, const uint8_t *data, size_t len)
{
	node	   *nd = arg;

	return zz_replica_serve_state(nd->replica, ev_now(), to, seq, data, len);
}

static void
node_pg_install_done(void *arg, bool ok)
{
	node	   *nd = arg;

	zz_replica_install_done(nd->replica, ev_now(), ok);
}

static bool
node_pg_send_transfer(void *arg, uint32_t to, uint8_t type, const uint8_t *buf, size_t len)
{
	node	   *nd = arg;

	return nd->mesh != NULL && peer_send_transfer(nd->mesh, to, type, buf, len);
}

static void
node_transfer_msg(void *arg, uint32_t from, uint8_t type, const uint8_t *buf, size_t len)
{
	node	   *nd = arg;

	if (nd->pg != NULL)
		pgsvc_transfer_frame(nd->pg, from, type, buf, len);
}

/* Looking for one sequence number in the replica's executed history. */
typedef struct node_hist_probe
{
	zz_seq		seq;
	const zz_digest *history;
	bool		match;
} node_hist_probe;

static void
node_hist_visit(void *ctx, zz_seq seq, const zz_digest *h, zz_view view, bool committed)
{
	node_hist_probe *p = ctx;

	if (seq == p->seq && memcmp(h, p->history, sizeof(*h)) == 0)
		p->match = true;
}

/*
 * Has our replica executed the batch at seq, with history h_seq (and not
 * some other batch that a view change will roll back)?  At or below the
 * stable checkpoint every correct replica agrees.
 */
static bool
node_applied(void *arg, zz_seq seq, const zz_digest *history)
{
	node	   *nd = arg;
	zz_replica_status st;
	node_hist_probe p = {seq, history, false};

	zz_replica_get_status(nd->replica, &st);
	if (st.last_executed < seq)
		return false;
	if (seq <= st.stable_seq)
		return true;
	if (seq == st.last_executed)
		return memcmp(&st.history, history, sizeof(*history)) == 0;
	zz_replica_visit_history(nd->replica, node_hist_visit, &p);
	return p.match;
}

/*
 * Load the core's key set (its own copy of the keys) from the files.
 */
static bool
node_load_keyset(node *nd, char *err, size_t errlen)
{
	const char *pubs[ZZ_MAX_N];

	for (uint32_t i = 0; i < nd->cfg.n; i++)
		pubs[i] = nd->cfg.replicas[i].pubkey;
	/* client ids are replica id * 65536 + slot (local.c) */
	nd->ks = zz_keyset_load(nd->cfg.n, pubs, nd->cfg.private_key, nd->cfg.id,
							65536u, err, errlen);
	return nd->ks != NULL;
}

/*
 * Build everything from the configuration.  Errors are logged.
 */
static bool
node_init(node *nd, const char *path)
{
	zlog_level	lvl = ZLOG_ERROR;
	char		err[1024];
	const zz_service *svc;
	peer_handlers h;

	memset(nd, 0, sizeof(*nd));
	nd->sigfd = -1;
	zz_buf_init(&nd->mailbox[0]);
	zz_buf_init(&nd->mailbox[1]);
	if (!cfg_load(path, &nd->cfg, node_cfg_error, &lvl))
		return false;
	snprintf(err, sizeof(err), "r%u", nd->cfg.id);
	zlog_init(err, nd->cfg.log_level);
	if (!keys_load(&nd->cfg, &nd->keys, node_cfg_error, &lvl))
		return false;
	if (!node_load_keyset(nd, err, sizeof(err)))
	{
		zlog(ZLOG_ERROR, "keys: %s", err);
		return false;
	}
	if (nd->cfg.mac_secret[0] != '\0')
		zlog(ZLOG_WARNING, "%s:%d: mac_secret is ignored: MAC keys are pairwise, from the "
			 "replicas' X25519 keys", nd->cfg.path, nd->cfg.mac_secret_line);
	nd->crypto = zz_crypto_create(nd->ks, true, nd->cfg.id);
	nd->loop = ev_loop_create();
	if (nd->crypto == NULL || nd->loop == NULL)
	{
		zlog(ZLOG_ERROR, "out of memory");
		return false;
	}
	if (nd->cfg.service == SVC_KV)
	{
		nd->kv = zz_kv_create();
		svc = nd->kv ? zz_kv_service(nd->kv) : NULL;
	}
	else if (nd->cfg.service == SVC_POSTGRES)
	{
		pgsvc_hooks ph = {nd, node_pg_label, node_pg_done, node_pg_save_stable,
			node_pg_resume, node_pg_ready, node_pg_diverged, node_pg_order,
			node_pg_resume_history, node_pg_serve_state, node_pg_install_done,
		node_pg_send_transfer};

		nd->pg = pgsvc_create(nd->loop, nd->cfg.pg_conninfo, nd->cfg.id, &ph,
							  &nd->cfg.verify_interval);
		if (nd->pg != NULL)
		{
			pgsvc_set_batch_commit(nd->pg, strcmp(nd->cfg.batch_commit, "async") == 0);
			pgsvc_set_checkpoint_interval(nd->pg, nd->cfg.params.cp_interval);
			pgsvc_set_transfer_limits(nd->pg, &nd->cfg.transfer_chunk, &nd->cfg.transfer_rate);
		}
		svc = nd->pg ? pgsvc_service(nd->pg) : NULL;
	}
	else
	{
		nd->ns = nullsvc_create(nd->cfg.null_reply_size);
		svc = nd->ns ? nullsvc_service(nd->ns) : NULL;
	}
	nd->io.ctx = nd;
	nd->io.to_replica = node_to_replica;
	nd->io.to_client = node_to_client;
	nd->io.trace = node_trace;
	nd->io.notice = node_notice;
	nd->io.keep_view = node_keep_view;
	if (nd->cfg.view_file[0] != '\0' &&
		!kept_view_load(nd->cfg.view_file, &nd->kept_view, err, sizeof(err)))
	{
		zlog(ZLOG_ERROR, "view_file: %s", err);
		return false;
	}
	if (nd->cfg.view_file[0] == '\0' && nd->cfg.service == SVC_POSTGRES)
		zlog(ZLOG_WARNING, "view_file is not set: after a restart this replica may come back "
			 "in a lower view than it committed to, which the protocol counts as a fault; "
			 "set view_file (docs/durability.md)");
	nd->replica = svc ? zz_replica_create(&nd->cfg.params, nd->cfg.id, nd->crypto, svc, &nd->io)
		: NULL;
	if (nd->replica == NULL)
	{
		zlog(ZLOG_ERROR, "cannot create the replica state machine");
		return false;
	}
#ifdef ZZ_FAULT_INJECTION
	zz_replica_set_nd_time_skew(nd->replica, cfg_test_nd_time_skew(&nd->cfg));
#endif
	h.arg = nd;
	h.replica_msg = node_replica_msg;
	h.client_msg = node_client_msg;
	h.transfer_msg = node_transfer_msg;
	nd->mesh = peer_mesh_create(nd->loop, &nd->cfg, &nd->keys, &h, err, sizeof(err));
	if (nd->mesh == NULL)
	{
		zlog(ZLOG_ERROR, "%s", err);
		return false;
	}
	nd->local = local_create(nd->loop, &nd->cfg, nd->ks, &nd->io, node_status, nd);
	if (nd->local == NULL)
	{
		zlog(ZLOG_ERROR, "out of memory");
		return false;
	}
	local_set_applied(nd->local, node_applied, nd);
	if (!node_signals(nd))
	{
		zlog(ZLOG_ERROR, "cannot set up signal handling: %s", strerror(errno));
		return false;
	}
	if (!peer_mesh_start(nd->mesh, err, sizeof(err)) ||
		!local_start(nd->local, err, sizeof(err)))
	{
		zlog(ZLOG_ERROR, "%s", err);
		return false;
	}
	ev_set_before_sleep(nd->loop, node_before_sleep, nd);
	nd->started = ev_now();
	nd->core_ready = nd->pg == NULL;
	if (nd->pg != NULL)
		pgsvc_start(nd->pg);
	return true;
}

/*
 * Tear down in reverse order.
 */
static void
node_free(node *nd)
{
	local_free(nd->local);
	peer_mesh_free(nd->mesh);
	zz_replica_free(nd->replica);
	pgsvc_free(nd->pg);
	zz_kv_free(nd->kv);
	nullsvc_free(nd->ns);
	zz_crypto_free(nd->crypto);
	zz_keyset_free(nd->ks);
	keys_free(&nd->keys);
	if (nd->sigfd >= 0)
		close(nd->sigfd);
	ev_loop_free(nd->loop);
	zz_buf_free(&nd->mailbox[0]);
	zz_buf_free(&nd->mailbox[1]);
}

/*
 * Run the daemon.
 */
int
node_main(const char *config_path)
{
	node	   *nd = malloc(sizeof(node));
	int			rc = 1;

	if (nd == NULL)
		return 1;
	if (node_init(nd, config_path))
	{
		zlog(ZLOG_INFO, "replica %u of %u (f = %u) running, pid %d", nd->cfg.id, nd->cfg.n,
			 nd->cfg.f, (int) getpid());
		rc = ev_run(nd->loop) ? 0 : 1;
		/* Flush what is queued (best effort), then close. */
		conn_flush_all();
	}
	node_free(nd);
	if (rc == 0)
		zlog(ZLOG_INFO, "stopped");
	free(nd);
	return rc;
}
