/*-------------------------------------------------------------------------
 *
 * request_budget.c
 *	  The per-request budget (zyzzyva.request_timeout) and the request's
 *	  clock: while one request of a batch runs, a timer cancels it when it
 *	  has run too long, and the transaction's start time is the batch's.
 *
 * apply_batch() brackets each request with zz_request_budget_start and
 * zz_request_budget_stop; zz_request_running tells the determinism checks
 * (determinism.c) that a request, not apply_batch() itself, is running.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "datatype/timestamp.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "zyzzyva.h"

/* a request of a batch is running (between zz_request_budget_start and
 * _stop): not apply_batch()'s own statements */
bool		zz_request_running = false;

/* ------------------------------------------------------------------------
 * The per-request budget (zyzzyva.request_timeout; docs/liveness.md)
 *
 * A request that runs longer than the budget is cancelled and fails with
 * one fixed error, whatever it did meanwhile: a request that caught the
 * cancel (EXCEPTION WHEN query_canceled) and returned anyway is failed all
 * the same, and the cancel is repeated every ZZ_BUDGET_REPEAT_MS until the
 * request gives up.  The message carries no figure measured here, so that
 * replicas that all cancel a request give the same reply.
 * ------------------------------------------------------------------------ */

#define ZZ_BUDGET_REPEAT_MS 100

int			zz_request_timeout = 5000;

static TimeoutId zz_budget_timeout = MAX_TIMEOUTS;	/* not registered yet */
static volatile sig_atomic_t zz_budget_spent = false;
static bool zz_budget_armed = false;

/*
 * Timeout handler: the running request spent its budget.  Cancel it as a
 * statement timeout does (the cancel surfaces as 57014 at the next
 * CHECK_FOR_INTERRUPTS), and note that it was the budget.
 */
static void
zz_budget_spent_handler(void)
{
	zz_budget_spent = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* ------------------------------------------------------------------------
 * The request's clock
 *
 * The date and time types resolve 'now', 'today', 'tomorrow' and
 * 'yesterday' from the start time of the transaction, and so does now().
 * The parse check refuses the literals it can see, but a text cast at run
 * time (t := w::timestamptz with w = 'now', DECLARE d date := 'today' in
 * PL/pgSQL, whose assignment casts are never planned) reads that time all
 * the same.  So while a request runs, the transaction's and the
 * statement's start times are the batch's time (zyzzyva.now()), the same
 * on every replica, and what slips past the checks still agrees.  The real
 * times are put back when the request ends.
 *
 * PostgreSQL sets these times only at the start of a transaction or
 * statement; its one setter is meant for parallel workers (and asserts
 * that it runs in one, in builds with assertions).
 * ------------------------------------------------------------------------ */

static TimestampTz zz_real_xact_start;
static TimestampTz zz_real_stmt_start;

static void
set_start_timestamps(TimestampTz xact_ts, TimestampTz stmt_ts)
{
#ifdef USE_ASSERT_CHECKING
	int			saved = ParallelWorkerNumber;

	ParallelWorkerNumber = 0;
	SetParallelStartTimestamps(xact_ts, stmt_ts);
	ParallelWorkerNumber = saved;
#else
	SetParallelStartTimestamps(xact_ts, stmt_ts);
#endif
}

static void
request_clock_pin(void)
{
	TimestampTz batch_time = (TimestampTz) (zz_exec.nd_time -
											(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);

	if (!zz_request_running)
	{
		zz_real_xact_start = GetCurrentTransactionStartTimestamp();
		zz_real_stmt_start = GetCurrentStatementStartTimestamp();
		zz_request_running = true;
	}
	set_start_timestamps(batch_time, batch_time);
}

static void
request_clock_unpin(void)
{
	if (!zz_request_running)
		return;
	set_start_timestamps(zz_real_xact_start, zz_real_stmt_start);
	zz_request_running = false;
}

/*
 * Start the running request's budget (a request of apply_batch, in its
 * subtransaction), and pin its clock.  Zero disables the budget.
 */
void
zz_request_budget_start(void)
{
	request_clock_pin();
	zz_budget_spent = false;
	zz_budget_armed = false;
	if (zz_request_timeout <= 0)
		return;
	if (zz_budget_timeout == MAX_TIMEOUTS)
		zz_budget_timeout = RegisterTimeout(USER_TIMEOUT, zz_budget_spent_handler);
	enable_timeout_every(zz_budget_timeout,
						 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), zz_request_timeout),
						 ZZ_BUDGET_REPEAT_MS);
	zz_budget_armed = true;
}

/*
 * Stop the budget and unpin the clock; true if the request spent it.  A cancel the budget
 * raised that no CHECK_FOR_INTERRUPTS has taken yet is withdrawn, so that
 * it cannot hit the next request or the batch's own statements.
 */
bool
zz_request_budget_stop(void)
{
	bool		spent;

	request_clock_unpin();
	if (zz_budget_armed)
		disable_timeout(zz_budget_timeout, false);
	zz_budget_armed = false;
	spent = zz_budget_spent;
	if (spent)
	{
		QueryCancelPending = false;
		zz_budget_spent = false;
	}
	return spent;
}

/*
 * The reply of a request that spent its budget: the same text on every
 * replica.
 */
void
zz_request_budget_error(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_QUERY_CANCELED),
			 errmsg(ZZ_BUDGET_MESSAGE),
			 errhint("Make the function do less per call, or raise zyzzyva.request_timeout on every replica.")));
}
