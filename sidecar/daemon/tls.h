/*
 * tls.h
 *	  Mutually authenticated TLS 1.3 between replicas, pinned to the
 *	  replicas' Ed25519 keys.
 *
 * Why TLS rather than a home-made signed handshake: TLS 1.3 already is a
 * signed handshake (each side's CertificateVerify signs the transcript,
 * which includes both sides' fresh randoms and ephemeral X25519 shares),
 * with a key schedule, per-record AEAD and replay protection that have
 * been analysed far beyond what a project-specific protocol would be.
 * OpenSSL is already our crypto library.  And records are per write, not
 * per frame: the daemon writes a whole loop turn's batch of frames at once,
 * so the per-byte AES-GCM cost (AES-NI) is lower than an HMAC per frame.
 *
 * Certificates carry no trust: each daemon makes a self-signed X.509
 * certificate in memory from its replica key at startup.  What a peer is
 * checked against is the public key in our configuration: the
 * certificate's key must be the configured key of a replica the
 * connection is allowed to come from (the one we dialed, or one that
 * dials us), and TLS 1.3's CertificateVerify proves the peer holds the
 * private half.  The peer's replica id is the index of the key that
 * matched, never a number the peer claims; so no replica can speak for
 * another.
 */
#ifndef ZZD_TLS_H
#define ZZD_TLS_H

#include <openssl/ssl.h>

#include "keys.h"

/* Which peers a connection may authenticate as. */
typedef struct tls_pin
{
	const daemon_keys *keys;	/* NULL: accept any key (test probes only) */
	uint32_t	allow_mask;		/* bit i: replica i may be the peer */
	const char *why;			/* set when the peer's key was refused */
} tls_pin;

/*
 * A TLS 1.3 context presenting a self-signed certificate over priv and
 * demanding one from the peer.  NULL with a reason in err on failure.
 */
extern SSL_CTX *tls_context(EVP_PKEY *priv, const char *name, char *err, size_t errlen);

/* An SSL over fd in client or server role, checking the peer against pin. */
extern SSL *tls_session(SSL_CTX *ctx, int fd, bool server, tls_pin *pin);

/* After the handshake: the replica the peer's key belongs to, or -1. */
extern int	tls_peer_replica(SSL *ssl, const daemon_keys *keys);

/* Drain OpenSSL's error queue into text. */
extern const char *tls_error_text(char *buf, size_t len);

#endif							/* ZZD_TLS_H */
