/*
 * keygen.c
 *	  zyzzyva-keygen: replica keys.
 *
 *	  zyzzyva-keygen [--force] DIR ID		DIR/replica-ID.key (0600), DIR/replica-ID.pub
 *	  zyzzyva-keygen [--force] --secret FILE	32 random bytes (0600)
 *
 * A replica's files each hold an Ed25519 key (signatures, TLS) then an
 * X25519 key (pairwise MAC keys), in PEM, through OpenSSL.  --secret is
 * kept for old scripts: the daemon no longer uses a cluster MAC secret.
 * Existing files are never replaced without --force.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

/*
 * Usage text.
 */
static void
usage(FILE *fp)
{
	fprintf(fp, "usage: zyzzyva-keygen [--force] DIR ID\n"
			"       zyzzyva-keygen [--force] --secret FILE\n");
}

int
main(int argc, char **argv)
{
	char		err[1024];
	bool		force = false;
	int			i = 1;
	char	   *end;
	unsigned long id;

	if (i < argc && strcmp(argv[i], "--force") == 0)
	{
		force = true;
		i++;
	}
	if (argc - i == 2 && strcmp(argv[i], "--secret") == 0)
	{
		if (!keys_generate_secret(argv[i + 1], force, err, sizeof(err)))
		{
			fprintf(stderr, "zyzzyva-keygen: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (argc - i != 2 || argv[i][0] == '-')
	{
		usage(stderr);
		return 2;
	}
	id = strtoul(argv[i + 1], &end, 10);
	if (*argv[i + 1] == '\0' || *end != '\0' || id >= ZZ_MAX_N)
	{
		fprintf(stderr, "zyzzyva-keygen: replica id must be 0 .. %d\n", ZZ_MAX_N - 1);
		return 2;
	}
	if (!keys_generate(argv[i], (uint32_t) id, force, err, sizeof(err)))
	{
		fprintf(stderr, "zyzzyva-keygen: %s\n", err);
		return 1;
	}
	return 0;
}
