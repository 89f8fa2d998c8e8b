/*
 * fuzz_conn.c
 *	  libFuzzer target: arbitrary bytes, arriving in arbitrary pieces, on a
 *	  framed connection (conn.c over a Unix socket pair, as the local client
 *	  socket uses it; the TLS path shares the same buffer and parser code).
 *
 * The input's first byte picks the channel maximum; then each piece is a
 * length byte and that many bytes, written to the peer end of the socket
 * pair, with one loop turn after each.  The frame callback checks what
 * the parser promises (length within the maximum, payload readable) and,
 * when a frame's first payload byte says so, pauses and later resumes the
 * connection or asks for it to be closed.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_state
{
	conn	   *c;
	uint32_t	max;
	bool		closed;
	bool		paused;
	uint64_t	frames;
	uint64_t	sum;
} fuzz_state;

/*
 * Every frame: check the promise, touch every byte, maybe pause or close.
 */
static conn_verdict
fuzz_on_frame(conn *c, void *arg, const frame *f)
{
	fuzz_state *st = arg;

	if (f->len > st->max)
		abort();
	for (uint32_t i = 0; i < f->len; i++)
		st->sum += f->payload[i];
	st->frames++;
	if (f->len > 0 && f->payload[0] == 0xcc)
		return CONN_CLOSE;
	if (f->len > 0 && f->payload[0] == 0xbb)
	{
		st->paused = true;
		return CONN_PAUSE;
	}
	return CONN_CONTINUE;
}

/*
 * The connection closed.
 */
static void
fuzz_on_close(conn *c, void *arg, const char *why)
{
	fuzz_state *st = arg;

	st->closed = true;
}

static const conn_ops fuzz_ops = {NULL, fuzz_on_frame, fuzz_on_close};

/*
 * One input.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ev_loop *loop;
	static const uint32_t maxes[] = {0, 1, 5, 44, 1000, 70000};
	fuzz_state	st;
	int			sv[2];
	size_t		off = 1;

	if (size < 1)
		return 0;
	if (loop == NULL)
		loop = ev_loop_create();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	memset(&st, 0, sizeof(st));
	st.max = maxes[data[0] % (sizeof(maxes) / sizeof(maxes[0]))];
	st.c = conn_create(loop, sv[0], NULL, true, false, NULL, st.max, &fuzz_ops, &st, "fuzz");
	if (st.c == NULL)
		abort();
	while (off < size && !st.closed)
	{
		size_t		n = data[off++];

		if (n > size - off)
			n = size - off;
		if (n > 0 && write(sv[1], data + off, n) != (ssize_t) n)
			break;
		off += n;
		(void) ev_run_once(loop, 0);
		if (st.paused && !st.closed && (data[off - 1] & 1))
		{
			st.paused = false;
			conn_resume(st.c);
			conn_run_resumed();
		}
		conn_flush_all();
	}
	close(sv[1]);
	for (int i = 0; i < 4 && !st.closed; i++)
	{
		if (st.paused)
		{
			st.paused = false;
			conn_resume(st.c);
			conn_run_resumed();
		}
		(void) ev_run_once(loop, 0);
	}
	if (!st.closed)
		conn_close(st.c, "done");
	conn_reap();
	return 0;
}
