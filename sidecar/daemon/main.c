/*
 * main.c
 *	  zyzzyvad: one Zyzzyva replica as a process.
 *
 *	  zyzzyvad CONFIG					run the replica
 *	  zyzzyvad --check-config CONFIG	check the file and its keys, then exit
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "keys.h"
#include "node.h"

/*
 * --check-config prints every problem on stderr.
 */
static void
main_print_error(void *arg, const char *msg)
{
	int		   *count = arg;

	fprintf(stderr, "%s\n", msg);
	(*count)++;
}

/*
 * Check a configuration file and the key files it names.
 */
static int
main_check_config(const char *path)
{
	daemon_config cfg;
	daemon_keys keys;
	int			errors = 0;
	bool		ok = cfg_load(path, &cfg, main_print_error, &errors);

	/* Key files are worth checking only once the replica list is sound. */
	if (ok && keys_load(&cfg, &keys, main_print_error, &errors))
		keys_free(&keys);
	if (errors > 0)
	{
		fprintf(stderr, "%s: %d error%s\n", path, errors, errors == 1 ? "" : "s");
		return 1;
	}
	printf("%s: OK (replica %u of n = %u, f = %u, service %s)\n", path, cfg.id, cfg.n,
		   cfg.f, cfg_service_name(cfg.service));
	return 0;
}

/*
 * Usage text.
 */
static void
main_usage(FILE *fp)
{
	fprintf(fp,
			"usage: zyzzyvad CONFIG\n"
			"       zyzzyvad --check-config CONFIG\n"
			"Runs one Zyzzyva replica.  SIGHUP reloads log_level and the transport\n"
			"settings; SIGTERM stops it.\n");
}

int
main(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
	{
		main_usage(stdout);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--check-config") == 0)
		return main_check_config(argv[2]);
	if (argc == 2 && argv[1][0] != '-')
		return node_main(argv[1]);
	main_usage(stderr);
	return 2;
}
