/*
 * event.h
 *	  A small epoll reactor in the manner of redis's ae: file events,
 *	  one-shot timers, and a before-sleep hook where batched output is
 *	  flushed.
 *
 * Time is CLOCK_MONOTONIC in microseconds, shifted at startup to read as
 * the wall clock (see ev_now; it is the core's zz_time).  The loop
 * sleeps in epoll_pwait2 with a nanosecond timeout, so sub-millisecond
 * timers (the primary's batch timer) fire on time.
 */
#ifndef ZZD_EVENT_H
#define ZZD_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "types.h"

#define EV_NONE			0
#define EV_READABLE		1
#define EV_WRITABLE		2

typedef struct ev_loop ev_loop;

/* A file event fired: mask says which of EV_READABLE / EV_WRITABLE. */
typedef void (*ev_file_proc) (ev_loop *loop, int fd, void *arg, int mask);

/* A timer fired; it is already removed (timers are one-shot). */
typedef void (*ev_timer_proc) (ev_loop *loop, uint64_t id, void *arg);

/* Called once per loop turn, after dispatching and before sleeping. */
typedef void (*ev_hook_proc) (ev_loop *loop, void *arg);

extern ev_loop *ev_loop_create(void);
extern void ev_loop_free(ev_loop *loop);

/*
 * Watch fd for the events in mask (added to those already watched).  One
 * callback per fd: a second call replaces proc and arg.
 */
extern bool ev_add_file(ev_loop *loop, int fd, int mask, ev_file_proc proc, void *arg);

/* Stop watching fd for the events in mask; fd is forgotten at EV_NONE. */
extern void ev_del_file(ev_loop *loop, int fd, int mask);

/* The mask fd is watched for. */
extern int	ev_file_mask(const ev_loop *loop, int fd);

/* Fire proc at `when` (monotonic microseconds).  Returns the timer id (> 0). */
extern uint64_t ev_add_timer(ev_loop *loop, zz_time when, ev_timer_proc proc, void *arg);

/* Cancel a timer; ids that already fired or were removed are ignored. */
extern void ev_del_timer(ev_loop *loop, uint64_t id);

extern void ev_set_before_sleep(ev_loop *loop, ev_hook_proc proc, void *arg);

/* Run until ev_stop.  Returns false if epoll itself failed. */
extern bool ev_run(ev_loop *loop);
extern void ev_stop(ev_loop *loop);

/* Process one turn, sleeping at most max_wait microseconds (tests, tools). */
extern bool ev_run_once(ev_loop *loop, zz_time max_wait);

/*
 * CLOCK_MONOTONIC in microseconds plus a constant fixed at the first call:
 * monotonic, and close to the wall clock (microseconds since the epoch).
 */
extern zz_time ev_now(void);

#endif							/* ZZD_EVENT_H */
