/*
 * params.c
 *	  Default cluster parameters and small helpers shared by the core.
 *
 * The defaults are tuned for the in-process simulator and a LAN: timers are
 * in microseconds of the caller's clock (types.h).  Every replica and client
 * of one cluster must use the same values.
 */
#include <stdlib.h>
#include <string.h>

#include "service.h"
#include "types.h"

#ifdef ZZ_FAULT_INJECTION
extern const char zz_fault_injection_build[];
#endif

/*
 * zz_params_default
 *		Fill *p with the defaults for a cluster tolerating f faults.
 *
 * Returns false (and zeroes *p) if f is 0 or above ZZ_MAX_F, since n = 3f+1
 * must fit the per-replica arrays sized by ZZ_MAX_N.
 */
bool
zz_params_default(zz_params *p, uint32_t f)
{
	memset(p, 0, sizeof(*p));
	if (f == 0 || f > ZZ_MAX_F)
		return false;

	p->f = f;
	p->n = 3 * f + 1;
	p->batch_max = 64;
	p->batch_timeout = 200;
	p->cp_interval = 128;
	p->commit_timeout = 2000;
	p->retransmit_timeout = 4000;
	p->retransmit_max = 200000;
	p->fill_hole_timeout = 2000;
	p->checkpoint_resend = 20000;
	p->confirm_timeout = 10000;
	p->view_change_timeout = 50000;
	/*
	 * Clocks of correct replicas differ by far less; a minute leaves room
	 * for a badly set one while keeping a faulty primary from pushing the
	 * replicated time (what now() returns in the service) far ahead.
	 */
	p->max_time_ahead = 60 * 1000 * 1000;

	/*
	 * A database applies a batch while the next ones are already queued on
	 * its connection (docs/performance.md): two hide the round trip between
	 * one batch's result and the next batch's arrival, four leave room for
	 * the primary's batches ordered ahead (order_ahead) and a backup's
	 * burst after a hole is filled, and more would only lengthen what a
	 * rollback has to undo.
	 */
	p->exec_window = 4;

	/*
	 * No retained log, so no catch-up by replay (catchup.c): a lagging
	 * replica fetches state, as the core's tests of state transfer
	 * expect.  The daemon keeps ZZ_RETAIN_BATCHES_DEFAULT and
	 * ZZ_RETAIN_BYTES_DEFAULT, the simulator retains in some seeds.
	 */
	p->retain_batches = 0;
	p->retain_bytes = 0;
	return true;
}

/*
 * zz_exec_result_free
 *		Free the replies a service returned, and the array holding them.
 *
 * The struct itself belongs to the caller; it is left empty (count 0,
 * replies NULL) so that freeing twice is harmless.
 */
void
zz_exec_result_free(zz_exec_result *res)
{
	if (res == NULL)
		return;
	if (res->replies != NULL)
	{
		for (uint32_t i = 0; i < res->count; i++)
			free(res->replies[i].data);
		free(res->replies);
	}
	res->replies = NULL;
	res->count = 0;
}

#ifdef ZZ_FAULT_INJECTION
/*
 * A mark that this core was built with the test-only code: make
 * check-fault-injection looks for it, and must not find it in the product.
 */
const char zz_fault_injection_build[] = "zz_fault_injection_build";
#endif
