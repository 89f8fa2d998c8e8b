/*
 * local.h
 *	  The local client endpoint: a Unix socket through which programs on
 *	  this host submit operations.  The daemon is their Zyzzyva client.
 *
 * Each connection gets a client slot, and each slot its own zz_client with
 * id  replica_id * 65536 + slot  and its own MAC keys.  A connection has
 * one request outstanding: after a ZZ_FT_L_REQUEST frame the connection is
 * not read again until the result is complete and sent back (ZZ_FT_L_RESULT),
 * so a client that pipelines is pushed back by the socket buffer.  Open
 * more connections for more outstanding requests.
 *
 * A complete result is sent only once the daemon's own replica has
 * executed it (local_set_applied), so that a program reading the local
 * replica's state right after its request sees what the request did.
 *
 * Only local processes reach the socket; it is created with mode 0600 (or
 * 0660), and each connection's SO_PEERCRED must be our uid, root, or (with
 * 0660) our gid.
 */
#ifndef ZZD_LOCAL_H
#define ZZD_LOCAL_H

#include "client.h"
#include "config.h"
#include "event.h"
#include "message.h"

typedef struct local_endpoint local_endpoint;

/* Fill status text for a ZZ_FT_L_STATUS_REQ. */
typedef void (*local_status_fn) (void *arg, zz_buf *out);

/* Has our own replica executed the batch at seq with history h_seq? */
typedef bool (*local_applied_fn) (void *arg, zz_seq seq, const zz_digest *history);

/*
 * cfg must outlive the endpoint.  Each client sends through client_io;
 * keys come from ks.
 */
extern local_endpoint *local_create(ev_loop *loop, const daemon_config *cfg,
									const zz_keyset *ks, const zz_io *client_io,
									local_status_fn status, void *status_arg);

/*
 * Read-your-writes: answer a completed request only once applied() says
 * our own replica has executed it (with the history it completed with),
 * so the program's next read of the local database sees its effects.
 * Results that must wait are held and sent by local_release_held.
 */
extern void local_set_applied(local_endpoint *le, local_applied_fn applied, void *arg);

/* Send the held results whose batches our replica has now executed. */
extern void local_release_held(local_endpoint *le);

/* Create the socket and listen.  False (with err) on failure. */
extern bool local_start(local_endpoint *le, char *err, size_t errlen);

/* Close connections, remove the socket file, free the clients. */
extern void local_free(local_endpoint *le);

/* A core message for local client `client` arrived. */
extern void local_client_receive(local_endpoint *le, uint32_t client, zz_time now,
								 const uint8_t *buf, size_t len);

/* Fire the clients' due timers; and when they next need it. */
extern void local_tick(local_endpoint *le, zz_time now);
extern zz_time local_next_deadline(const local_endpoint *le);

/* Append status lines (connections, outstanding, completions, latency). */
extern void local_status(const local_endpoint *le, zz_buf *out);

#endif							/* ZZD_LOCAL_H */
