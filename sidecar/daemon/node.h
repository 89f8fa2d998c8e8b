/*
 * node.h
 *	  One replica process: the core's replica, its service, the local
 *	  clients, the peer mesh and the loop that drives them.
 */
#ifndef ZZD_NODE_H
#define ZZD_NODE_H

#include <stdbool.h>

/* Run the daemon on a configuration file until SIGTERM; exit status. */
extern int	node_main(const char *config_path);

#endif							/* ZZD_NODE_H */
