/*
 * tls.c
 *	  TLS 1.3 contexts and sessions for the replica mesh (see tls.h).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "tls.h"

static int	tls_pin_index = -1;

/*
 * Collect OpenSSL's pending errors into one line.
 */
const char *
tls_error_text(char *buf, size_t len)
{
	unsigned long e;
	size_t		used = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0)
	{
		char		one[256];

		ERR_error_string_n(e, one, sizeof(one));
		if (used + strlen(one) + 3 < len)
			used += (size_t) snprintf(buf + used, len - used, "%s%s", used ? "; " : "", one);
	}
	if (used == 0)
		snprintf(buf, len, "no detail from OpenSSL");
	return buf;
}

/*
 * Certificate check: the leaf's key must be one the connection may come
 * from.  The chain itself means nothing (self-signed), so chain errors are
 * overridden; tls_peer_replica re-checks the leaf after the handshake.
 */
static int
tls_verify(int preverify_ok, X509_STORE_CTX *xs)
{
	SSL		   *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	tls_pin    *pin = ssl ? SSL_get_ex_data(ssl, tls_pin_index) : NULL;
	X509	   *cert;
	int			who;

	if (X509_STORE_CTX_get_error_depth(xs) != 0)
		return 1;
	if (pin == NULL)
		return 0;
	if (pin->keys == NULL)
		return 1;
	cert = X509_STORE_CTX_get_current_cert(xs);
	if (cert == NULL)
		return 0;
	who = keys_find_replica(pin->keys, X509_get0_pubkey(cert));
	if (who < 0 || (pin->allow_mask & (1u << who)) == 0)
	{
		pin->why = who < 0 ? "its key is not the key of any configured replica"
			: "its key is a replica's that may not take this connection "
			"(replicas dial only higher ids)";
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	X509_STORE_CTX_set_error(xs, X509_V_OK);
	return 1;
}

/*
 * A self-signed certificate over priv; its only content that matters is
 * the public key.
 */
static X509 *
tls_self_signed(EVP_PKEY *priv, const char *name)
{
	X509	   *x = X509_new();
	X509_NAME  *subj;

	if (x == NULL)
		return NULL;
	subj = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 ||
		ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
		X509_gmtime_adj(X509_getm_notBefore(x), -86400L) == NULL ||
		X509_time_adj_ex(X509_getm_notAfter(x), 36500, 0, NULL) == NULL ||
		X509_set_pubkey(x, priv) != 1 ||
		X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
								   (const unsigned char *) name, -1, -1, 0) != 1 ||
		X509_set_issuer_name(x, subj) != 1 ||
		X509_sign(x, priv, NULL) <= 0)
	{
		X509_free(x);
		return NULL;
	}
	return x;
}

/*
 * Build the context shared by every peer connection of this daemon.
 */
SSL_CTX *
tls_context(EVP_PKEY *priv, const char *name, char *err, size_t errlen)
{
	SSL_CTX    *ctx;
	X509	   *cert;
	char		detail[512];

	if (tls_pin_index < 0)
		tls_pin_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ctx = SSL_CTX_new(TLS_method());
	cert = ctx ? tls_self_signed(priv, name) : NULL;
	if (ctx == NULL || cert == NULL || tls_pin_index < 0 ||
		SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
		SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
		SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
								 "TLS_CHACHA20_POLY1305_SHA256") != 1 ||
		SSL_CTX_set1_groups_list(ctx, "X25519") != 1 ||
		SSL_CTX_set1_sigalgs_list(ctx, "ed25519") != 1 ||
		SSL_CTX_use_certificate(ctx, cert) != 1 ||
		SSL_CTX_use_PrivateKey(ctx, priv) != 1 ||
		SSL_CTX_check_private_key(ctx) != 1)
	{
		snprintf(err, errlen, "cannot set up TLS: %s", tls_error_text(detail, sizeof(detail)));
		X509_free(cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	X509_free(cert);			/* the context holds its own reference */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, tls_verify);
	/* No resumption: every connection proves key possession afresh. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
						SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
					 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

/*
 * Wrap a connected, non-blocking socket.
 */
SSL *
tls_session(SSL_CTX *ctx, int fd, bool server, tls_pin *pin)
{
	SSL		   *ssl = SSL_new(ctx);

	if (ssl == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1 || SSL_set_ex_data(ssl, tls_pin_index, pin) != 1)
	{
		SSL_free(ssl);
		return NULL;
	}
	if (server)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	return ssl;
}

/*
 * The replica whose configured key the peer proved it holds.
 */
int
tls_peer_replica(SSL *ssl, const daemon_keys *keys)
{
	X509	   *cert = SSL_get0_peer_certificate(ssl);

	if (cert == NULL || SSL_version(ssl) != TLS1_3_VERSION)
		return -1;
	return keys_find_replica(keys, X509_get0_pubkey(cert));
}
