/*
 * delay-relay.c
 *	  zyzzyva-delay-relay: a TCP relay on loopback that delivers every byte
 *	  a fixed time after it arrived, in each direction: a simulated network
 *	  link with a one-way delay, for the benchmarks (bench-null.sh,
 *	  bench-pg.sh with BENCH_LAN_DELAY_US).
 *
 *	zyzzyva-delay-relay DELAY_US LISTEN_PORT:TARGET_PORT [LISTEN_PORT:TARGET_PORT ...]
 *
 * For each pair it listens on 127.0.0.1:LISTEN_PORT; each connection made
 * there is relayed to 127.0.0.1:TARGET_PORT, and what either side sends
 * reaches the other DELAY_US microseconds later (in order, whole TCP
 * byte stream, no loss).  The kernel of this machine has no netem qdisc
 * ("Specified qdisc kind is unknown"), so the delay is added here, in
 * user space, by one process with one ppoll loop: it adds its own
 * scheduling delay (tens of microseconds on an idle machine, more on a
 * busy one), which the benchmark's figures include.
 *
 * Runs until killed (SIGTERM).  Every connection's queue is bounded
 * (RELAY_MAX_QUEUED bytes per direction: reading stops until it drains).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RELAY_MAX_PAIRS		64		/* listening ports */
#define RELAY_MAX_CONNS		512		/* relayed connections */
#define RELAY_CHUNK			65536
#define RELAY_MAX_QUEUED	(8u << 20)

typedef struct chunk
{
	struct chunk *next;
	uint64_t	due;			/* deliver at (µs, monotonic) */
	size_t		len;
	size_t		off;			/* written so far */
	uint8_t		data[];
} chunk;

/* One direction of a relayed connection: from fd[in] to fd[out]. */
typedef struct flow
{
	int			in;
	int			out;
	chunk	   *head;
	chunk	   *tail;
	size_t		queued;
	int			eof;			/* in said EOF: shut out down once drained */
	int			done;			/* nothing more in this direction */
} flow;

typedef struct conn
{
	int			used;
	int			fd[2];			/* 0: accepted side, 1: target side */
	flow		f[2];			/* 0: fd0 -> fd1, 1: fd1 -> fd0 */
} conn;

static uint64_t delay_us;
static conn conns[RELAY_MAX_CONNS];
static volatile sig_atomic_t stop;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void
on_term(int sig)
{
	(void) sig;
	stop = 1;
}

static int
nonblock_nodelay(int fd)
{
	int			one = 1;

	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int
listen_on(int port)
{
	struct sockaddr_in a;
	int			one = 1;
	int			fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *) &a, sizeof(a)) != 0 || listen(fd, 64) != 0 ||
		nonblock_nodelay(fd) != 0)
	{
		close(fd);
		return -1;
	}
	return fd;
}

/* A blocking connect on loopback: immediate, or refused. */
static int
connect_to(int port)
{
	struct sockaddr_in a;
	int			fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *) &a, sizeof(a)) != 0 || nonblock_nodelay(fd) != 0)
	{
		close(fd);
		return -1;
	}
	return fd;
}

static void
conn_close(conn *c)
{
	for (int d = 0; d < 2; d++)
	{
		chunk	   *k = c->f[d].head;

		while (k != NULL)
		{
			chunk	   *next = k->next;

			free(k);
			k = next;
		}
		close(c->fd[d]);
	}
	memset(c, 0, sizeof(*c));
}

/* Read what in has into the queue, stamped with its delivery time. */
static int
flow_read(flow *f, uint64_t now)
{
	chunk	   *k = malloc(sizeof(chunk) + RELAY_CHUNK);
	ssize_t		n;

	if (k == NULL)
		return -1;
	n = read(f->in, k->data, RELAY_CHUNK);
	if (n <= 0)
	{
		free(k);
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			f->eof = 1;
		return n < 0 && errno != EAGAIN && errno != EINTR ? -1 : 0;
	}
	k->next = NULL;
	k->due = now + delay_us;
	k->len = (size_t) n;
	k->off = 0;
	if (f->tail)
		f->tail->next = k;
	else
		f->head = k;
	f->tail = k;
	f->queued += (size_t) n;
	return 0;
}

/* Write the chunks that are due. */
static int
flow_write(flow *f, uint64_t now)
{
	while (f->head != NULL && f->head->due <= now)
	{
		chunk	   *k = f->head;
		ssize_t		n = write(f->out, k->data + k->off, k->len - k->off);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		k->off += (size_t) n;
		f->queued -= (size_t) n;
		if (k->off < k->len)
			return 0;
		f->head = k->next;
		if (f->head == NULL)
			f->tail = NULL;
		free(k);
	}
	if (f->head == NULL && f->eof && !f->done)
	{
		(void) shutdown(f->out, SHUT_WR);
		f->done = 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int			lfd[RELAY_MAX_PAIRS];
	int			target[RELAY_MAX_PAIRS];
	int			npairs = 0;
	struct pollfd pfd[RELAY_MAX_PAIRS + 2 * RELAY_MAX_CONNS];
	int			pconn[RELAY_MAX_PAIRS + 2 * RELAY_MAX_CONNS];

	if (argc < 3)
	{
		fprintf(stderr, "usage: %s DELAY_US LISTEN_PORT:TARGET_PORT ...\n", argv[0]);
		return 2;
	}
	delay_us = strtoull(argv[1], NULL, 10);
	for (int i = 2; i < argc && npairs < RELAY_MAX_PAIRS; i++)
	{
		int			lp,
					tp;

		if (sscanf(argv[i], "%d:%d", &lp, &tp) != 2 || (lfd[npairs] = listen_on(lp)) < 0)
		{
			fprintf(stderr, "%s: cannot listen as %s: %s\n", argv[0], argv[i], strerror(errno));
			return 1;
		}
		target[npairs++] = tp;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);

	while (!stop)
	{
		int			np = 0;
		uint64_t	now = now_us(),
					next = UINT64_MAX;
		struct timespec ts,
				   *tsp = NULL;

		for (int i = 0; i < npairs; i++)
		{
			pfd[np].fd = lfd[i];
			pfd[np].events = POLLIN;
			pconn[np++] = -1 - i;
		}
		for (int c = 0; c < RELAY_MAX_CONNS; c++)
		{
			if (!conns[c].used)
				continue;
			for (int d = 0; d < 2; d++)
			{
				flow	   *f = &conns[c].f[d];

				/* fd[d] is read by flow d and written by flow 1 - d */
				pfd[np].fd = conns[c].fd[d];
				pfd[np].events = 0;
				if (!f->eof && f->queued < RELAY_MAX_QUEUED)
					pfd[np].events |= POLLIN;
				if (conns[c].f[1 - d].head != NULL && conns[c].f[1 - d].head->due <= now)
					pfd[np].events |= POLLOUT;
				/* due data waits for POLLOUT; only what is not yet due sets the timeout */
				if (f->head != NULL && f->head->due > now && f->head->due < next)
					next = f->head->due;
				if (pfd[np].events == 0)
					pfd[np].fd = -1;	/* (a hang-up would wake us for ever) */
				pconn[np++] = c;
			}
		}
		if (next != UINT64_MAX)
		{
			uint64_t	wait = next > now ? next - now : 0;

			ts.tv_sec = (time_t) (wait / 1000000u);
			ts.tv_nsec = (long) (wait % 1000000u) * 1000;
			tsp = &ts;
		}
		if (ppoll(pfd, (nfds_t) np, tsp, NULL) < 0 && errno != EINTR)
			return 1;
		now = now_us();
		for (int i = 0; i < np; i++)
		{
			if (pconn[i] < 0)
			{
				int			pair = -1 - pconn[i];
				int			a,
							b;

				if (!(pfd[i].revents & POLLIN))
					continue;
				a = accept(lfd[pair], NULL, NULL);
				if (a < 0)
					continue;
				b = connect_to(target[pair]);
				if (b < 0 || nonblock_nodelay(a) != 0)
				{
					close(a);
					if (b >= 0)
						close(b);
					continue;
				}
				for (int c = 0; c < RELAY_MAX_CONNS; c++)
				{
					if (conns[c].used)
						continue;
					conns[c].used = 1;
					conns[c].fd[0] = a;
					conns[c].fd[1] = b;
					conns[c].f[0].in = a;
					conns[c].f[0].out = b;
					conns[c].f[1].in = b;
					conns[c].f[1].out = a;
					a = -1;
					break;
				}
				if (a >= 0)
				{
					close(a);
					close(b);
				}
			}
			else if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			{
				conn	   *c = &conns[pconn[i]];
				int			d = pfd[i].fd == c->fd[0] ? 0 : 1;

				if (c->used && !c->f[d].eof && flow_read(&c->f[d], now) != 0)
					conn_close(c);
			}
		}
		/* deliver what is due; close connections that are done both ways */
		for (int c = 0; c < RELAY_MAX_CONNS; c++)
		{
			if (!conns[c].used)
				continue;
			if (flow_write(&conns[c].f[0], now) != 0 || flow_write(&conns[c].f[1], now) != 0 ||
				(conns[c].f[0].done && conns[c].f[1].done))
				conn_close(&conns[c]);
		}
	}
	return 0;
}
