/*
 * probe.c
 *	  zyzzyva-probe: a hostile or well-behaved peer for the daemon's tests.
 *
 *	  zyzzyva-probe TARGET [IDENTITY] [STEP]... --expect closed|open [--wait SECONDS]
 *
 *	  TARGET	--connect HOST:PORT		TCP (plain, unless an IDENTITY is given)
 *				--unix PATH				the local client socket
 *	  IDENTITY	--tls KEYFILE			TLS 1.3 with a self-signed cert for this key
 *				--tls-nocert			TLS 1.3 presenting no certificate
 *				--as CONFIG --to N		be the replica CONFIG describes, dialing
 *										replica N (its address from CONFIG unless
 *										--connect says otherwise)
 *	  STEP		--hello					HELLO from --as's id to N, correct cluster id
 *				--hello-claim FROM		HELLO that claims another sender
 *				--hello-bad-cluster		HELLO with a wrong cluster id
 *				--frame TYPE HEX		one frame (payload in hex, "" for none)
 *				--header TYPE LEN		a frame header alone, declaring LEN bytes
 *				--raw HEX				raw bytes
 *				--sleep MS
 *				--state-requests COUNT	COUNT STATE-REQUESTs signed as --as's
 *										replica (a faulty replica flooding them)
 *
 * After the steps it reads (and discards) what the daemon sends until the
 * daemon closes the connection or --wait seconds (default 5) pass, and
 * exits 0 if that matches --expect: "closed" (the daemon dropped us) or
 * "open" (it kept the connection).  It prints what it saw.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "config.h"
#include "frame.h"
#include "message.h"
#include "keys.h"
#include "tls.h"

typedef struct probe
{
	int			fd;
	SSL		   *ssl;
	SSL_CTX    *ctx;
	daemon_config cfg;
	daemon_keys keys;
	bool		have_cfg;
	uint32_t	to;
} probe;

/*
 * Fail with a message (exit 2: the probe itself could not run).
 */
static void
probe_die(const char *fmt, const char *arg)
{
	fprintf(stderr, "zyzzyva-probe: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(2);
}

/*
 * Print configuration errors.
 */
static void
probe_cfg_error(void *arg, const char *msg)
{
	fprintf(stderr, "%s\n", msg);
}

/*
 * Milliseconds on the monotonic clock.
 */
static long long
probe_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Decode hex into a malloc'd buffer.
 */
static uint8_t *
probe_hex(const char *hex, size_t *len)
{
	size_t		n = strlen(hex);
	uint8_t    *out;

	if (n % 2 != 0)
		probe_die("odd-length hex '%s'", hex);
	out = malloc(n / 2 + 1);
	for (size_t i = 0; i < n / 2; i++)
	{
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			probe_die("bad hex '%s'", hex);
		out[i] = (uint8_t) b;
	}
	*len = n / 2;
	return out;
}

/*
 * Write everything, through TLS if it is up.
 */
static bool
probe_write(probe *p, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	while (len > 0)
	{
		int			n;

		if (p->ssl)
			n = SSL_write(p->ssl, b, (int) len);
		else
			n = (int) send(p->fd, b, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		b += n;
		len -= (size_t) n;
	}
	return true;
}

/*
 * Send one frame.
 */
static bool
probe_frame(probe *p, uint8_t type, const uint8_t *payload, size_t len)
{
	uint8_t		hdr[FRAME_HDR_LEN];

	hdr[0] = type;
	frame_put_u32(hdr + 1, (uint32_t) len);
	return probe_write(p, hdr, sizeof(hdr)) && (len == 0 || probe_write(p, payload, len));
}

/*
 * Send count STATE-REQUESTs for checkpoint 1 or later, signed (Ed25519,
 * as the core signs) with the key of the replica --as describes.
 */
static bool
probe_state_requests(probe *p, int count)
{
	zz_state_request m;
	zz_buf		b;
	size_t		siglen = ZZ_SIG_LEN;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool		ok = true;

	if (!p->have_cfg)
		probe_die("%s needs --as CONFIG --to N", "--state-requests");
	memset(&m, 0, sizeof(m));
	m.replica = p->cfg.id;
	m.seq = 1;
	zz_buf_init(&b);
	zz_state_request_signing_bytes(&b, &m);
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, p->keys.priv) != 1 ||
		EVP_DigestSign(ctx, m.sig.b, &siglen, b.data, b.len) != 1)
		probe_die("%s", "cannot sign a STATE-REQUEST");
	EVP_MD_CTX_free(ctx);
	zz_buf_reset(&b);
	if (!zz_encode_state_request(&b, &m))
		probe_die("%s", "cannot encode a STATE-REQUEST");
	for (int i = 0; i < count && ok; i++)
		ok = probe_frame(p, FT_REPLICA_MSG, b.data, b.len);
	zz_buf_free(&b);
	return ok;
}

/*
 * Send a HELLO claiming to come from `from`.
 */
static bool
probe_hello(probe *p, uint32_t from, bool bad_cluster)
{
	uint8_t		h[HELLO_LEN];

	if (!p->have_cfg)
		probe_die("%s needs --as CONFIG --to N", "--hello");
	memcpy(h, HELLO_MAGIC, 4);
	frame_put_u32(h + 4, from);
	frame_put_u32(h + 8, p->to);
	memcpy(h + 12, p->keys.cluster_id.b, ZZ_DIGEST_LEN);
	if (bad_cluster)
		h[12] ^= 1;
	return probe_frame(p, FT_HELLO, h, sizeof(h));
}

/*
 * Read until the peer closes or the deadline passes.  True if it closed.
 */
static bool
probe_wait_closed(probe *p, long long wait_ms, uint64_t *got)
{
	long long	deadline = probe_ms() + wait_ms;
	uint8_t		buf[65536];

	fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
	*got = 0;
	for (;;)
	{
		struct pollfd pfd = {p->fd, POLLIN, 0};
		long long	left = deadline - probe_ms();
		int			n;

		if (p->ssl)
		{
			n = SSL_read(p->ssl, buf, sizeof(buf));
			if (n <= 0)
			{
				int			e = SSL_get_error(p->ssl, n);

				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
					return true;
			}
		}
		else
		{
			n = (int) read(p->fd, buf, sizeof(buf));
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				return true;
		}
		if (n > 0)
		{
			*got += (uint64_t) n;
			continue;
		}
		if (left <= 0)
			return false;
		(void) poll(&pfd, 1, (int) left);
	}
}

/*
 * Connect to host:port or a Unix socket (blocking, with timeouts).
 */
static int
probe_connect(const char *hostport, const char *unix_path)
{
	struct timeval tv = {5, 0};
	int			fd;

	if (unix_path)
	{
		struct sockaddr_un sa;

		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", unix_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
			probe_die("cannot connect to %s", unix_path);
	}
	else
	{
		cfg_addr	a;
		int			one = 1;

		if (!cfg_parse_addr(hostport, &a))
			probe_die("bad address '%s'", hostport);
		fd = socket(a.sa.ss_family, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *) &a.sa, a.salen) < 0)
			probe_die("cannot connect to %s", hostport);
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/*
 * TLS 1.3 client handshake presenting no certificate at all.
 */
static bool
probe_tls_nocert(probe *p)
{
	char		err[1024];

	p->ctx = SSL_CTX_new(TLS_client_method());
	if (p->ctx == NULL || SSL_CTX_set_min_proto_version(p->ctx, TLS1_3_VERSION) != 1)
		probe_die("%s", "cannot set up TLS");
	p->ssl = SSL_new(p->ctx);
	if (p->ssl == NULL || SSL_set_fd(p->ssl, p->fd) != 1 || SSL_connect(p->ssl) != 1)
	{
		printf("closed: TLS handshake failed: %s\n", tls_error_text(err, sizeof(err)));
		return false;
	}
	return true;
}

/*
 * TLS client handshake presenting priv; the server's key is not checked
 * (the probe tests the daemon, not the other way round).
 */
static bool
probe_tls(probe *p, EVP_PKEY *priv)
{
	char		err[1024];
	static tls_pin any = {NULL, 0, NULL};

	p->ctx = tls_context(priv, "zyzzyva probe", err, sizeof(err));
	if (p->ctx == NULL)
		probe_die("%s", err);
	p->ssl = tls_session(p->ctx, p->fd, false, &any);
	if (p->ssl == NULL || SSL_connect(p->ssl) != 1)
	{
		printf("closed: TLS handshake failed: %s\n", tls_error_text(err, sizeof(err)));
		return false;
	}
	return true;
}

/*
 * Release everything (so that leak checkers stay quiet) and return rc.
 */
static int
probe_finish(probe *p, int rc)
{
	if (p->ssl)
		SSL_free(p->ssl);
	SSL_CTX_free(p->ctx);
	if (p->have_cfg)
		keys_free(&p->keys);
	if (p->fd >= 0)
		close(p->fd);
	return rc;
}

int
main(int argc, char **argv)
{
	probe		p;
	const char *hostport = NULL;
	const char *unix_path = NULL;
	const char *tlskey = NULL;
	const char *as = NULL;
	const char *expect = NULL;
	long long	wait_ms = 5000;
	int			first_step = 0;
	bool		closed;
	bool		secure = true;
	bool		nocert = false;
	uint64_t	got;
	int			i;

	memset(&p, 0, sizeof(p));
	p.fd = -1;
	p.to = UINT32_MAX;
	/* Pass 1: target, identity, expectation. */
	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc)
			hostport = argv[++i];
		else if (strcmp(argv[i], "--unix") == 0 && i + 1 < argc)
			unix_path = argv[++i];
		else if (strcmp(argv[i], "--tls") == 0 && i + 1 < argc)
			tlskey = argv[++i];
		else if (strcmp(argv[i], "--tls-nocert") == 0)
			nocert = true;
		else if (strcmp(argv[i], "--as") == 0 && i + 1 < argc)
			as = argv[++i];
		else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			p.to = (uint32_t) atoi(argv[++i]);
		else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
			expect = argv[++i];
		else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc)
			wait_ms = (long long) (atof(argv[++i]) * 1000);
		else if (first_step == 0)
			first_step = i;
	}
	if (expect == NULL || (strcmp(expect, "closed") != 0 && strcmp(expect, "open") != 0))
		probe_die("%s", "need --expect closed|open");
	if (as != NULL)
	{
		if (p.to == UINT32_MAX)
			probe_die("%s", "--as needs --to N");
		if (!cfg_load(as, &p.cfg, probe_cfg_error, NULL) ||
			!keys_load(&p.cfg, &p.keys, probe_cfg_error, NULL) || p.to >= p.cfg.n)
			probe_die("cannot use %s", as);
		p.have_cfg = true;
		if (hostport == NULL)
			hostport = p.cfg.replicas[p.to].addr.text;
	}
	if ((hostport == NULL) == (unix_path == NULL))
		probe_die("%s", "need exactly one of --connect, --unix (or --as)");
	p.fd = probe_connect(hostport, unix_path);
	if (tlskey != NULL)
	{
		FILE	   *fp = fopen(tlskey, "r");
		EVP_PKEY   *k = fp ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) : NULL;

		if (fp)
			fclose(fp);
		if (k == NULL)
			probe_die("cannot read key %s", tlskey);
		secure = probe_tls(&p, k);
		EVP_PKEY_free(k);
	}
	else if (as != NULL)
		secure = probe_tls(&p, p.keys.priv);
	else if (nocert)
		secure = probe_tls_nocert(&p);
	if (!secure)
		return probe_finish(&p, strcmp(expect, "closed") == 0 ? 0 : 1);

	/* Pass 2: the steps, in order. */
	for (i = first_step ? first_step : argc; i < argc; i++)
	{
		bool		ok = true;

		if (strcmp(argv[i], "--hello") == 0)
			ok = probe_hello(&p, p.cfg.id, false);
		else if (strcmp(argv[i], "--hello-bad-cluster") == 0)
			ok = probe_hello(&p, p.cfg.id, true);
		else if (strcmp(argv[i], "--hello-claim") == 0 && i + 1 < argc)
			ok = probe_hello(&p, (uint32_t) atoi(argv[++i]), false);
		else if (strcmp(argv[i], "--frame") == 0 && i + 2 < argc)
		{
			size_t		len;
			uint8_t    *pl = probe_hex(argv[i + 2], &len);

			ok = probe_frame(&p, (uint8_t) strtol(argv[i + 1], NULL, 0), pl, len);
			free(pl);
			i += 2;
		}
		else if (strcmp(argv[i], "--header") == 0 && i + 2 < argc)
		{
			uint8_t		hdr[FRAME_HDR_LEN];

			hdr[0] = (uint8_t) strtol(argv[i + 1], NULL, 0);
			frame_put_u32(hdr + 1, (uint32_t) strtoul(argv[i + 2], NULL, 0));
			ok = probe_write(&p, hdr, sizeof(hdr));
			i += 2;
		}
		else if (strcmp(argv[i], "--raw") == 0 && i + 1 < argc)
		{
			size_t		len;
			uint8_t    *raw = probe_hex(argv[++i], &len);

			ok = probe_write(&p, raw, len);
			free(raw);
		}
		else if (strcmp(argv[i], "--tls-nocert") == 0)
			continue;
		else if (strcmp(argv[i], "--state-requests") == 0 && i + 1 < argc)
			ok = probe_state_requests(&p, atoi(argv[++i]));
		else if (strcmp(argv[i], "--sleep") == 0 && i + 1 < argc)
			usleep((useconds_t) atoi(argv[++i]) * 1000);
		else if (strcmp(argv[i], "--connect") == 0 || strcmp(argv[i], "--unix") == 0 ||
				 strcmp(argv[i], "--tls") == 0 || strcmp(argv[i], "--as") == 0 ||
				 strcmp(argv[i], "--to") == 0 || strcmp(argv[i], "--expect") == 0 ||
				 strcmp(argv[i], "--wait") == 0)
			i++;
		else
			probe_die("unknown step '%s'", argv[i]);
		if (!ok)
		{
			printf("closed: write failed during the steps\n");
			return probe_finish(&p, strcmp(expect, "closed") == 0 ? 0 : 1);
		}
	}
	closed = probe_wait_closed(&p, wait_ms, &got);
	printf("%s after %llu bytes from the daemon\n", closed ? "closed" : "open",
		   (unsigned long long) got);
	return probe_finish(&p, (closed == (strcmp(expect, "closed") == 0)) ? 0 : 1);
}
