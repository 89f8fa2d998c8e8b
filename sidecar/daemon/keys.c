/*
 * keys.c
 *	  Loading, checking and generating replica keys (see keys.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "keys.h"

/*
 * The last OpenSSL error as text (or a fallback).
 */
static const char *
keys_ssl_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (e == 0)
		return "not a PEM Ed25519 key";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/*
 * Explain that a file does not hold the Ed25519 key expected, with
 * OpenSSL's reason when it could not parse it at all.
 */
static void
keys_not_a_key(char *why, size_t whylen, const char *path, const char *kind, bool parse_failed)
{
	size_t		used;

	snprintf(why, whylen, "'%s' is not an Ed25519 %s key in PEM form", path, kind);
	used = strlen(why);
	if (parse_failed && used + 2 < whylen)
		snprintf(why + used, whylen - used, ": %s", keys_ssl_error());
}

/*
 * Refuse a key file, or the directory that holds it, that its group or
 * others may write: whoever can replace a key speaks for that replica.
 * (A sticky directory such as /tmp lets others create files, not replace
 * ours, and is accepted.)
 */
static bool
keys_not_writable_by_others(const char *path, int fd, char *why, size_t whylen)
{
	struct stat st;
	char		dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (fstat(fd, &st) != 0)
	{
		snprintf(why, whylen, "cannot stat '%s': %s", path, strerror(errno));
		return false;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
	{
		snprintf(why, whylen,
				 "key file '%s' is writable by group or others (mode %04o); run chmod go-w on it",
				 path, (unsigned) (st.st_mode & 07777));
		return false;
	}
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int) (slash - path), path);
	if (stat(dir, &st) != 0)
	{
		snprintf(why, whylen, "cannot stat key directory '%s': %s", dir, strerror(errno));
		return false;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)
	{
		snprintf(why, whylen,
				 "key directory '%s' is writable by group or others (mode %04o); "
				 "run chmod go-w on it", dir, (unsigned) (st.st_mode & 07777));
		return false;
	}
	return true;
}

/*
 * Open a file holding a secret and check that only its owner may read or
 * write it.  Returns the open fd, or -1 with a reason in why.
 */
static int
keys_open_secret(const char *path, char *why, size_t whylen)
{
	struct stat st;
	int			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
	{
		snprintf(why, whylen, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
	{
		snprintf(why, whylen, "'%s' is not a regular file", path);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 077) != 0)
	{
		snprintf(why, whylen,
				 "'%s' is accessible by group or others (mode %04o); run chmod 600 on it",
				 path, (unsigned) (st.st_mode & 07777));
		close(fd);
		return -1;
	}
	if (!keys_not_writable_by_others(path, fd, why, whylen))
	{
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Read a replica's two keys from an open PEM file: Ed25519 (signatures,
 * TLS), then X25519 (pairwise MAC keys).
 */
static bool
keys_read_pair(FILE *fp, const char *path, bool private_key, EVP_PKEY **ed,
			   EVP_PKEY **x, char *why, size_t whylen)
{
	const char *kind = private_key ? "private" : "public";

	*ed = private_key ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) :
		PEM_read_PUBKEY(fp, NULL, NULL, NULL);
	if (*ed == NULL || EVP_PKEY_get_id(*ed) != EVP_PKEY_ED25519)
	{
		keys_not_a_key(why, whylen, path, kind, *ed == NULL);
		EVP_PKEY_free(*ed);
		*ed = NULL;
		return false;
	}
	*x = private_key ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) :
		PEM_read_PUBKEY(fp, NULL, NULL, NULL);
	if (*x == NULL || EVP_PKEY_get_id(*x) != EVP_PKEY_X25519)
	{
		ERR_clear_error();
		snprintf(why, whylen,
				 "'%s' holds no X25519 %s key after its Ed25519 key (keys from an older "
				 "zyzzyva-keygen: generate them again)", path, kind);
		EVP_PKEY_free(*ed);
		EVP_PKEY_free(*x);
		*ed = *x = NULL;
		return false;
	}
	return true;
}

/*
 * Read a replica's public keys from a PEM file.
 */
static bool
keys_read_public(const char *path, EVP_PKEY **ed, EVP_PKEY **x, char *why, size_t whylen)
{
	FILE	   *fp = fopen(path, "r");
	bool		ok;

	if (fp == NULL)
	{
		snprintf(why, whylen, "cannot open public key '%s': %s", path, strerror(errno));
		return false;
	}
	if (!keys_not_writable_by_others(path, fileno(fp), why, whylen))
	{
		fclose(fp);
		return false;
	}
	ok = keys_read_pair(fp, path, false, ed, x, why, whylen);
	fclose(fp);
	return ok;
}

/*
 * Read this replica's private keys, refusing a file that others may read.
 */
static bool
keys_read_private(const char *path, EVP_PKEY **ed, EVP_PKEY **x, char *why, size_t whylen)
{
	int			fd = keys_open_secret(path, why, whylen);
	FILE	   *fp;
	bool		ok;

	if (fd < 0)
		return false;
	fp = fdopen(fd, "r");
	if (fp == NULL)
	{
		snprintf(why, whylen, "cannot read '%s': %s", path, strerror(errno));
		close(fd);
		return false;
	}
	ok = keys_read_pair(fp, path, true, ed, x, why, whylen);
	fclose(fp);
	return ok;
}

/*
 * SHA-256 over a domain tag, f, every replica's raw public keys (Ed25519
 * and X25519) and the entrustment (which roles each replica may call as):
 * two replicas agree on it only if they agree on who is in the cluster and
 * whom each may speak for, so correct replicas that talk to one another
 * apply the same entrustment.
 */
static bool
keys_cluster_id(daemon_keys *k, uint32_t f, const char *entrust)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	static const char tag[] = "zyzzyva cluster v3";
	uint8_t		fb[4] = {(uint8_t) f, (uint8_t) (f >> 8), (uint8_t) (f >> 16), (uint8_t) (f >> 24)};
	bool		ok;

	ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		EVP_DigestUpdate(md, tag, sizeof(tag)) == 1 &&
		EVP_DigestUpdate(md, fb, sizeof(fb)) == 1;
	for (uint32_t i = 0; ok && i < k->n; i++)
	{
		uint8_t		raw[32];
		size_t		rawlen = sizeof(raw);

		ok = EVP_PKEY_get_raw_public_key(k->pub[i], raw, &rawlen) == 1 &&
			EVP_DigestUpdate(md, raw, rawlen) == 1;
		rawlen = sizeof(raw);
		ok = ok && EVP_PKEY_get_raw_public_key(k->xpub[i], raw, &rawlen) == 1 &&
			EVP_DigestUpdate(md, raw, rawlen) == 1;
	}
	ok = ok && EVP_DigestUpdate(md, entrust, strlen(entrust) + 1) == 1;
	ok = ok && EVP_DigestFinal_ex(md, k->cluster_id.b, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

/*
 * Load and check every key file the configuration names.
 */
bool
keys_load(const daemon_config *cfg, daemon_keys *k, cfg_err_fn err, void *arg)
{
	char		why[PATH_MAX + 200];
	bool		ok = true;

	memset(k, 0, sizeof(*k));
	k->n = cfg->n;
	for (uint32_t i = 0; i < cfg->n; i++)
	{
		if (!keys_read_public(cfg->replicas[i].pubkey, &k->pub[i], &k->xpub[i], why, sizeof(why)))
		{
			cfg_report(err, arg, cfg->path, cfg->replicas[i].line, "replica.%u: %s", i, why);
			ok = false;
			continue;
		}
		for (uint32_t j = 0; j < i; j++)
		{
			if (k->pub[j] != NULL && (EVP_PKEY_eq(k->pub[i], k->pub[j]) == 1 ||
									  EVP_PKEY_eq(k->xpub[i], k->xpub[j]) == 1))
			{
				cfg_report(err, arg, cfg->path, cfg->replicas[i].line,
						   "replica.%u has the same public key as replica.%u", i, j);
				ok = false;
			}
		}
	}
	if (!keys_read_private(cfg->private_key, &k->priv, &k->xpriv, why, sizeof(why)))
	{
		cfg_report(err, arg, cfg->path, cfg->private_key_line, "private_key: %s", why);
		ok = false;
	}
	else if (cfg->id < cfg->n && k->pub[cfg->id] != NULL &&
			 (EVP_PKEY_eq(k->priv, k->pub[cfg->id]) != 1 ||
			  EVP_PKEY_eq(k->xpriv, k->xpub[cfg->id]) != 1))
	{
		cfg_report(err, arg, cfg->path, cfg->private_key_line,
				   "private_key does not match replica.%u's public key '%s'",
				   cfg->id, cfg->replicas[cfg->id].pubkey);
		ok = false;
	}
	if (ok && !keys_cluster_id(k, cfg->f, cfg->entrust))
	{
		cfg_report(err, arg, cfg->path, 0, "cannot hash the public keys");
		ok = false;
	}
	if (!ok)
		keys_free(k);
	return ok;
}

/*
 * Release the keys.
 */
void
keys_free(daemon_keys *k)
{
	EVP_PKEY_free(k->priv);
	EVP_PKEY_free(k->xpriv);
	for (int i = 0; i < ZZ_MAX_N; i++)
	{
		EVP_PKEY_free(k->pub[i]);
		EVP_PKEY_free(k->xpub[i]);
	}
	memset(k, 0, sizeof(*k));
}

/*
 * The replica whose configured public key equals pk, or -1.
 */
int
keys_find_replica(const daemon_keys *k, const EVP_PKEY *pk)
{
	for (uint32_t i = 0; i < k->n; i++)
	{
		if (k->pub[i] != NULL && EVP_PKEY_eq(k->pub[i], pk) == 1)
			return (int) i;
	}
	return -1;
}

/*
 * Create a file with exactly `mode`, whatever the umask, refusing to
 * replace an existing one unless force.
 */
static FILE *
keys_create_file(const char *path, mode_t mode, bool force, char *err, size_t errlen)
{
	int			fd;
	FILE	   *fp;

	if (force)
		(void) unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
	{
		snprintf(err, errlen, "cannot create '%s': %s%s", path, strerror(errno),
				 errno == EEXIST ? " (use --force to replace it)" : "");
		return NULL;
	}
	if (fchmod(fd, mode) < 0 || (fp = fdopen(fd, "w")) == NULL)
	{
		snprintf(err, errlen, "cannot set up '%s': %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	return fp;
}

/*
 * Write fresh keys for replica id into dir: an Ed25519 key (signatures and
 * TLS) and an X25519 key (pairwise MAC keys), both in each file.
 */
bool
keys_generate(const char *dir, uint32_t id, bool force, char *err, size_t errlen)
{
	char		keypath[PATH_MAX];
	char		pubpath[PATH_MAX];
	EVP_PKEY   *pk;
	EVP_PKEY   *xk;
	FILE	   *fp;
	bool		ok;

	if (snprintf(keypath, sizeof(keypath), "%s/replica-%u.key", dir, id) >= (int) sizeof(keypath) ||
		snprintf(pubpath, sizeof(pubpath), "%s/replica-%u.pub", dir, id) >= (int) sizeof(pubpath))
	{
		snprintf(err, errlen, "directory name too long");
		return false;
	}
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	xk = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	if (pk == NULL || xk == NULL)
	{
		snprintf(err, errlen, "key generation failed: %s", keys_ssl_error());
		EVP_PKEY_free(pk);
		EVP_PKEY_free(xk);
		return false;
	}
	ok = false;
	fp = keys_create_file(keypath, 0600, force, err, errlen);
	if (fp != NULL)
	{
		ok = PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL) == 1 &&
			PEM_write_PrivateKey(fp, xk, NULL, NULL, 0, NULL, NULL) == 1;
		ok = (fclose(fp) == 0) && ok;
		if (!ok)
			snprintf(err, errlen, "writing '%s' failed: %s", keypath, keys_ssl_error());
		else if ((fp = keys_create_file(pubpath, 0644, force, err, errlen)) == NULL)
			ok = false;
		else
		{
			ok = PEM_write_PUBKEY(fp, pk) == 1 && PEM_write_PUBKEY(fp, xk) == 1;
			ok = (fclose(fp) == 0) && ok;
			if (!ok)
				snprintf(err, errlen, "writing '%s' failed: %s", pubpath, keys_ssl_error());
		}
	}
	EVP_PKEY_free(pk);
	EVP_PKEY_free(xk);
	return ok;
}

/*
 * Write a fresh 32-byte MAC secret.
 */
bool
keys_generate_secret(const char *path, bool force, char *err, size_t errlen)
{
	uint8_t		secret[KEYS_SECRET_MIN];
	FILE	   *fp;
	bool		ok;

	if (RAND_bytes(secret, sizeof(secret)) != 1)
	{
		snprintf(err, errlen, "no randomness: %s", keys_ssl_error());
		return false;
	}
	fp = keys_create_file(path, 0600, force, err, errlen);
	if (fp == NULL)
		return false;
	ok = fwrite(secret, 1, sizeof(secret), fp) == sizeof(secret);
	ok = (fclose(fp) == 0) && ok;
	OPENSSL_cleanse(secret, sizeof(secret));
	if (!ok)
		snprintf(err, errlen, "cannot write '%s'", path);
	return ok;
}
