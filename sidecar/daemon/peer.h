/*
 * peer.h
 *	  The full mesh of authenticated connections among replicas.
 *
 * Topology: replica i dials every replica j > i and accepts connections
 * only from replicas j < i.  Each pair thus has exactly one connection,
 * decided without negotiation.  A dialer whose connection fails redials
 * with exponential backoff (capped by reconnect_max); a new authenticated
 * connection from a replica replaces its old one (it restarted).
 *
 * Each connection is TLS 1.3 pinned to the replicas' keys (tls.h); its
 * first frame each way is HELLO (magic, sender, intended receiver,
 * cluster id), checked against the authenticated key before anything else
 * is accepted.  PING/PONG measure round trips and detect silent peers.
 */
#ifndef ZZD_PEER_H
#define ZZD_PEER_H

#include "config.h"
#include "event.h"
#include "keys.h"
#include "message.h"

typedef struct peer_mesh peer_mesh;

typedef struct peer_handlers
{
	void	   *arg;
	/* A core message for this replica, from authenticated replica `from`. */
	void		(*replica_msg) (void *arg, uint32_t from, const uint8_t *buf, size_t len);
	/* A core message for local client `client`, relayed by replica `from`. */
	void		(*client_msg) (void *arg, uint32_t from, uint32_t client,
							   const uint8_t *buf, size_t len);
	/* A state transfer frame (FT_XFER_*) from authenticated replica `from`. */
	void		(*transfer_msg) (void *arg, uint32_t from, uint8_t type,
								 const uint8_t *buf, size_t len);
} peer_handlers;

/* cfg and keys must outlive the mesh; cfg may change in place (reload). */
extern peer_mesh *peer_mesh_create(ev_loop *loop, const daemon_config *cfg,
								   const daemon_keys *keys, const peer_handlers *h,
								   char *err, size_t errlen);

/* Listen on cfg->listen and start dialing.  False (with err) on failure. */
extern bool peer_mesh_start(peer_mesh *m, char *err, size_t errlen);
extern void peer_mesh_free(peer_mesh *m);

/* Queue a core message to a replica; false if dropped (down, queue full). */
extern bool peer_send_replica(peer_mesh *m, uint32_t to, const uint8_t *buf, size_t len);

/* The same for a message clients cause (REQUEST, CONFIRM-REQ): dropped
 * first, while the queue is more than half full. */
extern bool peer_send_replica_bulk(peer_mesh *m, uint32_t to, const uint8_t *buf, size_t len);

/* Queue a state transfer frame to a replica: only while its queue is less
 * than half full (the protocol's own messages keep the other half). */
extern bool peer_send_transfer(peer_mesh *m, uint32_t to, uint8_t type, const uint8_t *buf,
							   size_t len);

/* Queue a core message for client `client`, via its replica `to`. */
extern bool peer_send_client(peer_mesh *m, uint32_t to, uint32_t client,
							 const uint8_t *buf, size_t len);

/* Apply reloaded settings (queue bounds) to live connections. */
extern void peer_mesh_reload(peer_mesh *m);

/* Replicas currently connected (HELLO exchanged), self not counted. */
extern uint32_t peer_mesh_connected(const peer_mesh *m);

/* Append "key: value" status lines, one per peer. */
extern void peer_mesh_status(const peer_mesh *m, zz_buf *out);

#endif							/* ZZD_PEER_H */
