/*
 * event.c
 *	  The epoll reactor (see event.h).
 *
 * File events live in an array indexed by fd.  Timers are few (the core's
 * next deadline, one reconnect timer per peer, handshake deadlines), so
 * they sit in an unsorted array scanned per turn, as in ae.  One turn:
 * run the before-sleep hook, sleep until the earliest timer or an fd is
 * ready, dispatch file events (readable before writable), then fire due
 * timers.  Timers added while timers fire wait for the next turn, so a
 * callback that re-arms itself for "now" cannot spin the loop forever
 * within one turn.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "log.h"

#define EV_MAX_EVENTS	256

typedef struct ev_file
{
	int			mask;
	ev_file_proc proc;
	void	   *arg;
} ev_file;

typedef struct ev_timer
{
	uint64_t	id;
	zz_time		when;
	ev_timer_proc proc;
	void	   *arg;
} ev_timer;

struct ev_loop
{
	int			epfd;
	ev_file    *files;
	int			nfiles;			/* allocated slots in files */
	ev_timer   *timers;
	int			ntimers;
	int			cap_timers;
	uint64_t	next_timer_id;
	ev_hook_proc before_sleep;
	void	   *before_sleep_arg;
	bool		stop;
	struct epoll_event events[EV_MAX_EVENTS];
};

/*
 * Microseconds of a clock.
 */
static zz_time
ev_clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (zz_time) ts.tv_sec * 1000000u + (zz_time) ts.tv_nsec / 1000u;
}

/*
 * The time base of the core and of every timer in the daemon:
 * CLOCK_MONOTONIC, shifted once, at the first call, by the difference
 * between the wall clock and the monotonic clock.  So it never jumps
 * (timers need that) and it reads as the wall clock in microseconds since
 * the epoch, give or take the steps the wall clock took since the daemon
 * started.  The core puts the primary's time into each ORDER-REQ as the
 * batch's nondeterministic timestamp (nd_time), which the PostgreSQL
 * service hands to zyzzyva.apply_batch() unchanged, where zyzzyva.now()
 * reads it as wall-clock microseconds.  Every replica executes the
 * primary's value, so this stays deterministic; converting nd_time with
 * each replica's own offset would not be.
 */
zz_time
ev_now(void)
{
	static zz_time offset;
	static bool have_offset;

	if (!have_offset)
	{
		zz_time		mono = ev_clock_us(CLOCK_MONOTONIC);
		zz_time		real = ev_clock_us(CLOCK_REALTIME);

		offset = real > mono ? real - mono : 0;
		have_offset = true;
	}
	return ev_clock_us(CLOCK_MONOTONIC) + offset;
}

/*
 * Create a loop with its epoll instance.  NULL if the kernel refuses.
 */
ev_loop *
ev_loop_create(void)
{
	ev_loop    *loop = calloc(1, sizeof(ev_loop));

	if (loop == NULL)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
	{
		free(loop);
		return NULL;
	}
	loop->next_timer_id = 1;
	return loop;
}

/*
 * Release the loop.  File descriptors it watched belong to their owners
 * and are not closed here.
 */
void
ev_loop_free(ev_loop *loop)
{
	if (loop == NULL)
		return;
	close(loop->epfd);
	free(loop->files);
	free(loop->timers);
	free(loop);
}

/*
 * Make sure files[] has a slot for fd.
 */
static bool
ev_grow_files(ev_loop *loop, int fd)
{
	int			n;
	ev_file    *files;

	if (fd < loop->nfiles)
		return true;
	n = loop->nfiles ? loop->nfiles : 64;
	while (n <= fd)
		n *= 2;
	files = realloc(loop->files, (size_t) n * sizeof(ev_file));
	if (files == NULL)
		return false;
	memset(files + loop->nfiles, 0, (size_t) (n - loop->nfiles) * sizeof(ev_file));
	loop->files = files;
	loop->nfiles = n;
	return true;
}

/*
 * Translate our mask to epoll's.
 */
static uint32_t
ev_epoll_mask(int mask)
{
	uint32_t	e = 0;

	if (mask & EV_READABLE)
		e |= EPOLLIN;
	if (mask & EV_WRITABLE)
		e |= EPOLLOUT;
	return e;
}

/*
 * Watch fd for mask in addition to what it is already watched for.
 */
bool
ev_add_file(ev_loop *loop, int fd, int mask, ev_file_proc proc, void *arg)
{
	struct epoll_event ee;
	ev_file    *fe;
	int			op;

	if (fd < 0 || !ev_grow_files(loop, fd))
		return false;
	fe = &loop->files[fd];
	op = fe->mask == EV_NONE ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	memset(&ee, 0, sizeof(ee));
	ee.events = ev_epoll_mask(fe->mask | mask);
	ee.data.fd = fd;
	if (epoll_ctl(loop->epfd, op, fd, &ee) < 0)
	{
		zlog(ZLOG_ERROR, "epoll_ctl(fd %d): %s", fd, strerror(errno));
		return false;
	}
	fe->mask |= mask;
	fe->proc = proc;
	fe->arg = arg;
	return true;
}

/*
 * Stop watching fd for mask.
 */
void
ev_del_file(ev_loop *loop, int fd, int mask)
{
	struct epoll_event ee;
	ev_file    *fe;
	int			newmask;

	if (fd < 0 || fd >= loop->nfiles)
		return;
	fe = &loop->files[fd];
	if (fe->mask == EV_NONE)
		return;
	newmask = fe->mask & ~mask;
	memset(&ee, 0, sizeof(ee));
	ee.events = ev_epoll_mask(newmask);
	ee.data.fd = fd;
	/* Errors here mean fd is already gone; nothing to undo. */
	(void) epoll_ctl(loop->epfd, newmask == EV_NONE ? EPOLL_CTL_DEL : EPOLL_CTL_MOD,
					 fd, &ee);
	fe->mask = newmask;
	if (newmask == EV_NONE)
	{
		fe->proc = NULL;
		fe->arg = NULL;
	}
}

/*
 * The events fd is watched for.
 */
int
ev_file_mask(const ev_loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->nfiles)
		return EV_NONE;
	return loop->files[fd].mask;
}

/*
 * Add a one-shot timer.  Returns 0 only if memory ran out.
 */
uint64_t
ev_add_timer(ev_loop *loop, zz_time when, ev_timer_proc proc, void *arg)
{
	ev_timer   *t;

	if (loop->ntimers == loop->cap_timers)
	{
		int			cap = loop->cap_timers ? loop->cap_timers * 2 : 16;
		ev_timer   *timers = realloc(loop->timers, (size_t) cap * sizeof(ev_timer));

		if (timers == NULL)
			return 0;
		loop->timers = timers;
		loop->cap_timers = cap;
	}
	t = &loop->timers[loop->ntimers++];
	t->id = loop->next_timer_id++;
	t->when = when;
	t->proc = proc;
	t->arg = arg;
	return t->id;
}

/*
 * Cancel a timer by id.
 */
void
ev_del_timer(ev_loop *loop, uint64_t id)
{
	for (int i = 0; i < loop->ntimers; i++)
	{
		if (loop->timers[i].id == id)
		{
			loop->timers[i] = loop->timers[--loop->ntimers];
			return;
		}
	}
}

/*
 * Install the hook run before each sleep (where output is flushed).
 */
void
ev_set_before_sleep(ev_loop *loop, ev_hook_proc proc, void *arg)
{
	loop->before_sleep = proc;
	loop->before_sleep_arg = arg;
}

/*
 * Fire every timer that is due and existed when this turn began.
 */
static void
ev_fire_timers(ev_loop *loop)
{
	uint64_t	max_id = loop->next_timer_id - 1;
	zz_time		now = ev_now();
	int			i = 0;

	while (i < loop->ntimers)
	{
		ev_timer	t = loop->timers[i];

		if (t.id > max_id || t.when > now)
		{
			i++;
			continue;
		}
		/* Remove before calling: the callback may add or delete timers. */
		loop->timers[i] = loop->timers[--loop->ntimers];
		t.proc(loop, t.id, t.arg);
		/* The array may have changed; rescan from the start. */
		i = 0;
	}
}

/*
 * One turn of the loop: hook, sleep, dispatch, timers.
 */
bool
ev_run_once(ev_loop *loop, zz_time max_wait)
{
	struct timespec ts;
	struct timespec *tsp = NULL;
	zz_time		now;
	zz_time		wait = max_wait;
	int			n;

	if (loop->before_sleep)
		loop->before_sleep(loop, loop->before_sleep_arg);
	if (loop->stop)
		return true;

	now = ev_now();
	for (int i = 0; i < loop->ntimers; i++)
	{
		zz_time		until = loop->timers[i].when > now ? loop->timers[i].when - now : 0;

		if (until < wait)
			wait = until;
	}
	if (wait != UINT64_MAX)
	{
		ts.tv_sec = (time_t) (wait / 1000000u);
		ts.tv_nsec = (long) (wait % 1000000u) * 1000;
		tsp = &ts;
	}

	n = epoll_pwait2(loop->epfd, loop->events, EV_MAX_EVENTS, tsp, NULL);
	if (n < 0)
	{
		if (errno == EINTR)
			return true;
		zlog(ZLOG_ERROR, "epoll_pwait2: %s", strerror(errno));
		return false;
	}
	for (int i = 0; i < n; i++)
	{
		struct epoll_event *e = &loop->events[i];
		int			fd = e->data.fd;
		int			fired = 0;
		ev_file    *fe;

		if (fd >= loop->nfiles)
			continue;
		fe = &loop->files[fd];
		if (e->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			fired |= EV_READABLE;
		if (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			fired |= EV_WRITABLE;
		/* Readable first; the callback may unregister or close fd. */
		if ((fired & EV_READABLE) && (fe->mask & EV_READABLE))
			fe->proc(loop, fd, fe->arg, EV_READABLE);
		fe = &loop->files[fd];
		if ((fired & EV_WRITABLE) && (fe->mask & EV_WRITABLE))
			fe->proc(loop, fd, fe->arg, EV_WRITABLE);
	}
	ev_fire_timers(loop);
	return true;
}

/*
 * Run turns until ev_stop is called.
 */
bool
ev_run(ev_loop *loop)
{
	loop->stop = false;
	while (!loop->stop)
	{
		if (!ev_run_once(loop, UINT64_MAX))
			return false;
	}
	return true;
}

/*
 * Ask ev_run to return after the current turn.
 */
void
ev_stop(ev_loop *loop)
{
	loop->stop = true;
}
