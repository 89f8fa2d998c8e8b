/*
 * io.h
 *	  How the core's state machines hand messages to their shell.
 *
 * The core never performs I/O.  When a state machine wants to send, it
 * calls these hooks with an encoded message; the shell (the simulator or
 * zyzzyvad) copies the bytes before returning and delivers them later, or
 * not at all.  Delivery back into the core is by zz_replica_receive /
 * zz_client_receive.
 */
#ifndef ZZ_IO_H
#define ZZ_IO_H

#include "types.h"

typedef struct zz_io
{
	void	   *ctx;
	/* Send to one replica (never to self; the core handles its own copy). */
	void		(*to_replica) (void *ctx, uint32_t replica, const uint8_t *buf, size_t len);
	/* Send to one client. */
	void		(*to_client) (void *ctx, uint32_t client, const uint8_t *buf, size_t len);
	/* Optional: a line of trace for humans (simulator traces, daemon debug log). */
	void		(*trace) (void *ctx, const char *line);
} zz_io;

#endif							/* ZZ_IO_H */
