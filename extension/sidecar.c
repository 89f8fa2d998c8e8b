/*-------------------------------------------------------------------------
 *
 * sidecar.c
 *	  This backend's connection to its replica's sidecar (zyzzyvad).
 *
 * The local socket speaks zyzzyvad's frames (sidecar/daemon/frame.h): a
 * type byte, a little-endian uint32 payload length, the payload.  A call
 * is one FT_L_REQUEST frame, answered by one FT_L_RESULT frame once the
 * request is complete and this replica has applied it, or by FT_L_ERROR if
 * the sidecar refuses it.
 *
 * Each backend keeps one connection, opened by its first call and reused.
 * The sidecar reads nothing more from a connection until it has answered
 * its request, so an exchange that ends without its answer (cancel,
 * timeout, error) leaves a connection that must not be reused: it is
 * closed at once, or at the abort that follows, and the next call opens a
 * new one.
 *
 * Waiting is one WaitEventSet on the socket, this backend's latch and the
 * postmaster: cancel, statement_timeout and termination interrupt it,
 * zyzzyva.call_timeout bounds it, and the backend exits with the
 * postmaster.  An absent sidecar is an immediate error, never a wait.
 *
 * zyzzyva.sidecar_status() asks the sidecar for its status on a short
 * connection of its own (the views zyzzyva.sidecar, peers, request_stats).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/string.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "zyzzyva.h"

PG_FUNCTION_INFO_V1(zyzzyva_sidecar_status);

/* the sidecar's largest frame: a result with the largest reply */
#define ZZ_MAX_FRAME_IN		(ZZ_WIRE_MAX_REPLY + ZZ_FT_L_RESULT_HDR)

/* the connection of this backend to its sidecar */
static pgsocket zz_sock = PGINVALID_SOCKET;
static char *zz_sock_path = NULL;	/* what it connected to (TopMemoryContext) */
static WaitEventSet *zz_wes = NULL;
static int	zz_wes_pos = -1;		/* the socket's event in zz_wes */
static uint32 zz_wes_events = 0;	/* what it waits for now */
static bool zz_unfinished = false;	/* a request went out without its answer */

/*
 * Close the connection to the sidecar, if any.
 */
static void
zz_disconnect(void)
{
	if (zz_wes != NULL)
	{
		FreeWaitEventSet(zz_wes);
		zz_wes = NULL;
	}
	if (zz_sock != PGINVALID_SOCKET)
	{
		closesocket(zz_sock);
		zz_sock = PGINVALID_SOCKET;
	}
	zz_wes_pos = -1;
	zz_wes_events = 0;
	zz_unfinished = false;
}

/*
 * At the abort of a (sub)transaction: a call that did not get its answer
 * (cancelled, timed out) leaves a connection the sidecar will answer on
 * later.  Close it now, so no later call reads that answer as its own.
 */
void
zz_sidecar_cleanup(void)
{
	if (zz_unfinished)
		zz_disconnect();
}

/*
 * The socket path to use: zyzzyva.socket_path, relative to the data
 * directory unless absolute.  NULL if no sidecar is configured.
 */
static char *
zz_resolve_socket_path(void)
{
	if (zz_socket_path == NULL || zz_socket_path[0] == '\0')
		return NULL;
	if (is_absolute_path(zz_socket_path))
		return pstrdup(zz_socket_path);
	return psprintf("%s/%s", DataDir, zz_socket_path);
}

/*
 * Open the connection to the sidecar at path, and the wait event set that
 * waits on it.  Any failure is an immediate ERROR.
 */
static void
zz_connect(const char *path)
{
	struct sockaddr_un sa;

	zz_disconnect();
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("zyzzyva.socket_path is too long: \"%s\"", path),
				 errdetail("A Unix socket path has at most %d bytes.",
						   (int) sizeof(sa.sun_path) - 1),
				 errhint("Put the sidecar's client_socket in a directory with a shorter path.")));
	strlcpy(sa.sun_path, path, sizeof(sa.sun_path));

	zz_sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (zz_sock == PGINVALID_SOCKET)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not create a socket for the zyzzyva sidecar: %m")));
	/* a Unix socket connects or fails at once; EAGAIN: its backlog is full */
	if (connect(zz_sock, (struct sockaddr *) &sa, sizeof(sa)) < 0)
	{
		int			save_errno = errno;

		zz_disconnect();
		errno = save_errno;
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not reach the zyzzyva sidecar at \"%s\": %m", path),
				 errhint("Start zyzzyvad for this replica, or set zyzzyva.socket_path to its client_socket.")));
	}

	zz_wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(zz_wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(zz_wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	zz_wes_pos = AddWaitEventToSet(zz_wes, WL_SOCKET_READABLE, zz_sock, NULL, NULL);
	zz_wes_events = WL_SOCKET_READABLE;

	if (zz_sock_path != NULL)
		pfree(zz_sock_path);
	zz_sock_path = MemoryContextStrdup(TopMemoryContext, path);
}

/*
 * Can the open connection carry another call?  Not if a call left it
 * without its answer, if it leads elsewhere than path now (the setting was
 * reloaded), or if the sidecar closed it (it restarted) or sent something
 * unasked.
 */
static bool
zz_connection_usable(const char *path)
{
	char		b;
	ssize_t		n;

	if (zz_sock == PGINVALID_SOCKET || zz_unfinished ||
		zz_sock_path == NULL || strcmp(zz_sock_path, path) != 0)
		return false;
	n = recv(zz_sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

/*
 * Error context while waiting: an interrupt (cancel, statement_timeout)
 * ends the wait, not the call, which may still complete on the replicas.
 */
static void
zz_wait_context(void *arg)
{
	errcontext("waiting for the zyzzyva sidecar to complete the replicated call of %s; it may still complete on the replicas",
			   (const char *) arg);
}

/*
 * Wait until the socket is ready for events (WL_SOCKET_READABLE or
 * WL_SOCKET_WRITEABLE), serving interrupts, until deadline (0: none).
 */
static void
zz_wait(uint32 events, TimestampTz deadline, const char *signature)
{
	long		timeout = -1;
	WaitEvent	ev;
	int			rc;

	if (deadline != 0)
	{
		timeout = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (timeout <= 0)
		{
			zz_disconnect();
			ereport(ERROR,
					(errcode(ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN),
					 errmsg("replicated call of %s timed out after %d ms",
							signature, zz_call_timeout),
					 errdetail("The zyzzyva sidecar did not complete the call in time; it may still complete on the replicas."),
					 errhint("Check that enough replicas are running and connected, or raise zyzzyva.call_timeout.")));
		}
	}
	if (events != zz_wes_events)
	{
		ModifyWaitEvent(zz_wes, zz_wes_pos, events, NULL);
		zz_wes_events = events;
	}
	rc = WaitEventSetWait(zz_wes, timeout, &ev, 1, PG_WAIT_EXTENSION);
	if (rc > 0 && (ev.events & WL_LATCH_SET))
	{
		ErrorContextCallback errcallback;

		ResetLatch(MyLatch);
		errcallback.callback = zz_wait_context;
		errcallback.arg = (void *) signature;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		CHECK_FOR_INTERRUPTS();
		error_context_stack = errcallback.previous;
	}
}

/*
 * Send one whole frame.  Returns false if the sidecar closed the
 * connection before taking all of it: it submits only whole frames, so the
 * call was not submitted.
 */
static bool
zz_send_frame(const StringInfo frame, TimestampTz deadline, const char *what)
{
	size_t		off = 0;

	while (off < (size_t) frame->len)
	{
		ssize_t		n = send(zz_sock, frame->data + off, frame->len - off, MSG_NOSIGNAL);

		if (n > 0)
		{
			zz_unfinished = true;
			off += (size_t) n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		{
			zz_wait(WL_SOCKET_WRITEABLE, deadline, what);
			continue;
		}
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return false;
		{
			int			save_errno = errno;

			zz_disconnect();
			errno = save_errno;
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not send the replicated call of %s to the zyzzyva sidecar: %m",
							what),
					 errdetail("The call was not submitted.")));
		}
	}
	return true;
}

/*
 * Receive one whole frame into buf: its type in *type, its payload from
 * buf->data + ZZ_FRAME_HDR.  Reads exactly the frame, nothing beyond.
 *
 * Returns false if the connection was reset before any byte of the answer
 * came: the sidecar closed it with our request unread (a Unix socket
 * resets only then), so the call was not submitted.  A plain close, or a
 * reset after part of the answer, leaves the outcome unknown: an ERROR.
 */
static bool
zz_recv_frame(StringInfo buf, uint8 *type, TimestampTz deadline, const char *what)
{
	size_t		need = ZZ_FRAME_HDR;

	resetStringInfo(buf);
	while ((size_t) buf->len < need)
	{
		ssize_t		n;

		enlargeStringInfo(buf, (int) (need - buf->len));
		n = recv(zz_sock, buf->data + buf->len, need - buf->len, 0);
		if (n > 0)
		{
			buf->len += (int) n;
			buf->data[buf->len] = '\0';
			if (need == ZZ_FRAME_HDR && buf->len >= ZZ_FRAME_HDR)
			{
				const uint8 *h = (const uint8 *) buf->data;
				uint32		len = zz_wire_frame_len(h);

				if (len > ZZ_MAX_FRAME_IN)
				{
					zz_disconnect();
					ereport(ERROR,
							(errcode(ERRCODE_PROTOCOL_VIOLATION),
							 errmsg("the zyzzyva sidecar sent a %u-byte frame for the replicated call of %s, more than the largest reply",
									len, what),
							 errdetail("The call may still complete on the replicas.")));
				}
				need = ZZ_FRAME_HDR + (size_t) len;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		{
			zz_wait(WL_SOCKET_READABLE, deadline, what);
			continue;
		}
		if (n < 0 && errno == ECONNRESET && buf->len == 0)
			return false;
		{
			int			save_errno = errno;

			zz_disconnect();
			errno = save_errno;
			if (n == 0)
				ereport(ERROR,
						(errcode(ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN),
						 errmsg("the zyzzyva sidecar closed the connection during the replicated call of %s",
								what),
						 errdetail("The call may still complete on the replicas."),
						 errhint("Check the sidecar's log; it may have been restarted.")));
			ereport(ERROR,
					(errcode(ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN),
					 errmsg("could not read the reply to the replicated call of %s from the zyzzyva sidecar: %m",
							what),
					 errdetail("The call may still complete on the replicas.")));
		}
	}
	*type = (uint8) buf->data[0];
	zz_unfinished = false;
	return true;
}

/*
 * The reason in an FT_L_ERROR frame the sidecar sent before closing the
 * connection without taking our request (for instance: all its client
 * slots are in use), or NULL.  Reads only what has already arrived.
 */
static char *
zz_pending_refusal(void)
{
	char		buf[ZZ_FRAME_HDR + 256];
	ssize_t		n = recv(zz_sock, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	uint32		len;
	char	   *reason;

	if (n < ZZ_FRAME_HDR || (uint8) buf[0] != ZZ_FT_L_ERROR)
		return NULL;
	len = zz_wire_frame_len((const uint8 *) buf);
	reason = pnstrdup(buf + ZZ_FRAME_HDR, Min(len, (uint32) (n - ZZ_FRAME_HDR)));
	pg_clean_ascii(reason);
	return reason;
}

/*
 * Send the request frame to the sidecar and receive its answer into
 * response (type in *type, payload from response->data + ZZ_FRAME_HDR).
 * what names the call in messages.  A connection the sidecar closed
 * without taking the request (it restarted, or dropped an idle
 * connection) is replaced once, transparently: the request was not
 * submitted.  Every failure is an ERROR that says whether the call may
 * have been submitted.
 */
void
zz_sidecar_exchange(const char *what, const StringInfo request,
					StringInfo response, uint8 *type)
{
	char	   *path = zz_resolve_socket_path();
	TimestampTz deadline = 0;

	if (path == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot call replicated function %s: no zyzzyva sidecar is configured",
						what),
				 errhint("Set zyzzyva.socket_path in postgresql.conf to the client_socket of this replica's zyzzyvad, and reload.")));

	if (zz_call_timeout > 0)
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), zz_call_timeout);
	for (int attempt = 1;; attempt++)
	{
		char	   *reason;

		if (!zz_connection_usable(path))
			zz_connect(path);
		if (zz_send_frame(request, deadline, what) &&
			zz_recv_frame(response, type, deadline, what))
			break;
		if (attempt == 1)
		{
			zz_disconnect();
			continue;
		}
		reason = zz_pending_refusal();
		zz_disconnect();
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("the zyzzyva sidecar at \"%s\" closed the connection without taking the replicated call of %s",
						path, what),
				 reason ? errdetail("The call was not submitted.  The sidecar said: %s", reason) :
				 errdetail("The call was not submitted."),
				 errhint("Check the sidecar's log.")));
	}
	pfree(path);
}

/*
 * Close the connection after a protocol error: what follows on it cannot
 * be trusted.
 */
void
zz_sidecar_disconnect(void)
{
	zz_disconnect();
}

/*
 * The sidecar's status: zyzzyvad answers an empty FT_L_STATUS_REQ frame on
 * its local socket with one ZZ_FT_L_STATUS frame of "key: value" lines (what
 * zyzzyva-cli --status prints).  Asked on a connection of its own, opened
 * and closed here, so that it never disturbs the connection that carries
 * calls.  Bounded: zyzzyva.call_timeout, at most ZZ_STATUS_TIMEOUT_MS.
 */
#define ZZ_STATUS_TIMEOUT_MS	10000

static void
zz_status_fail(const char *path, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("could not read the status of the zyzzyva sidecar at \"%s\": %s",
					path, why),
			 errhint("Start zyzzyvad for this replica, or set zyzzyva.socket_path to its client_socket.")));
}

/*
 * Wait for events on sock until deadline, serving interrupts.
 */
static void
zz_status_wait(pgsocket sock, int events, TimestampTz deadline, const char *path)
{
	long		timeout = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
	int			rc;

	if (timeout <= 0)
		zz_status_fail(path, "no answer in time");
	rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | events,
						   sock, timeout, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

static void
zz_status_exchange(pgsocket sock, const char *path, StringInfo out)
{
	struct sockaddr_un sa;
	TimestampTz deadline;
	char		req[ZZ_FRAME_HDR] = {ZZ_FT_L_STATUS_REQ, 0, 0, 0, 0};
	size_t		sent = 0;
	size_t		need = ZZ_FRAME_HDR;
	int			timeout_ms = zz_call_timeout > 0 ?
		Min(zz_call_timeout, ZZ_STATUS_TIMEOUT_MS) : ZZ_STATUS_TIMEOUT_MS;
	uint8		type;

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		zz_status_fail(path, "the path is too long for a Unix socket");
	strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	if (connect(sock, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		zz_status_fail(path, strerror(errno));

	while (sent < sizeof(req))
	{
		ssize_t		n = send(sock, req + sent, sizeof(req) - sent, MSG_NOSIGNAL);

		if (n > 0)
			sent += (size_t) n;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			zz_status_wait(sock, WL_SOCKET_WRITEABLE, deadline, path);
		else
			zz_status_fail(path, strerror(errno));
	}

	resetStringInfo(out);
	while ((size_t) out->len < need)
	{
		ssize_t		n;

		enlargeStringInfo(out, (int) (need - out->len));
		n = recv(sock, out->data + out->len, need - out->len, 0);
		if (n > 0)
		{
			out->len += (int) n;
			if (need == ZZ_FRAME_HDR && out->len >= ZZ_FRAME_HDR)
			{
				const uint8 *h = (const uint8 *) out->data;
				uint32		len = zz_wire_frame_len(h);

				if (len > ZZ_WIRE_MAX_STATUS)
					zz_status_fail(path, "the answer is too large");
				need = ZZ_FRAME_HDR + (size_t) len;
			}
		}
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			zz_status_wait(sock, WL_SOCKET_READABLE, deadline, path);
		else if (n == 0)
			zz_status_fail(path, "the sidecar closed the connection");
		else
			zz_status_fail(path, strerror(errno));
	}
	out->data[out->len] = '\0';
	type = (uint8) out->data[0];
	if (type == ZZ_FT_L_ERROR)
	{
		char	   *reason = pstrdup(out->data + ZZ_FRAME_HDR);

		pg_clean_ascii(reason);
		zz_status_fail(path, psprintf("the sidecar refused: %s", reason));
	}
	if (type != ZZ_FT_L_STATUS)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the zyzzyva sidecar at \"%s\" answered a status request with frame type %u",
						path, type)));
	/* the payload alone */
	memmove(out->data, out->data + ZZ_FRAME_HDR, out->len - ZZ_FRAME_HDR + 1);
	out->len -= ZZ_FRAME_HDR;
}

/*
 * The status text of this replica's sidecar, into out.  Any failure is an
 * ERROR, at once if nothing listens, within the timeout otherwise.
 */
void
zz_sidecar_status(StringInfo out)
{
	char	   *path = zz_resolve_socket_path();
	pgsocket	sock;

	if (path == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no zyzzyva sidecar is configured"),
				 errhint("Set zyzzyva.socket_path in postgresql.conf to the client_socket of this replica's zyzzyvad, and reload.")));
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sock == PGINVALID_SOCKET)
		zz_status_fail(path, strerror(errno));
	PG_TRY();
	{
		zz_status_exchange(sock, path, out);
	}
	PG_FINALLY();
	{
		closesocket(sock);
	}
	PG_END_TRY();
	pfree(path);
}

/*
 * zyzzyva.sidecar_status() returns table (key text, value text)
 *
 * The sidecar's status lines, in its order, split at the first ": ".
 */
Datum
zyzzyva_sidecar_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StringInfoData text;
	char	   *line;

	InitMaterializedSRF(fcinfo, 0);
	initStringInfo(&text);
	zz_sidecar_status(&text);

	line = text.data;
	while (*line != '\0')
	{
		char	   *end = strchr(line, '\n');
		char	   *sep;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (end != NULL)
			*end = '\0';
		sep = strstr(line, ": ");
		if (sep != NULL)
		{
			*sep = '\0';
			pg_clean_ascii(line);
			pg_clean_ascii(sep + 2);
			values[0] = CStringGetTextDatum(line);
			values[1] = CStringGetTextDatum(sep + 2);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		if (end == NULL)
			break;
		line = end + 1;
	}
	return (Datum) 0;
}
