/*
 * nullservice.c
 *	  A service with no state (see nullservice.h).
 *
 * Its state digest is constant, so every replica agrees at every
 * checkpoint; rollback and state transfer have nothing to do.  Replies are
 * zero bytes of the configured size (no allocation when the size is 0, the
 * paper's 0/0 setting).
 */
#include <stdlib.h>
#include <string.h>

#include "nullservice.h"

struct nullsvc
{
	uint32_t	reply_size;
	zz_service	svc;
};

/*
 * Execute a batch: one reply of reply_size zero bytes per request.
 */
static zz_exec_status
nullsvc_execute(void *ctx, zz_seq seq, uint64_t nd_time, uint64_t nd_seed,
				const zz_op *ops, uint32_t count, bool want_digest,
				zz_exec_result *res)
{
	nullsvc    *ns = ctx;

	memset(res, 0, sizeof(*res));
	res->seq = seq;
	res->count = count;
	res->replies = calloc(count ? count : 1, sizeof(zz_reply));
	if (res->replies == NULL)
		return ZZ_EXEC_FAILED;
	for (uint32_t i = 0; i < count && ns->reply_size > 0; i++)
	{
		res->replies[i].data = calloc(1, ns->reply_size);
		if (res->replies[i].data == NULL)
		{
			zz_exec_result_free(res);
			return ZZ_EXEC_FAILED;
		}
		res->replies[i].len = ns->reply_size;
	}
	res->has_digest = want_digest;
	return ZZ_EXEC_DONE;
}

/*
 * Nothing to undo.
 */
static bool
nullsvc_rollback(void *ctx, zz_seq seq)
{
	return true;
}

/*
 * Nothing to forget.
 */
static void
nullsvc_mark_stable(void *ctx, zz_seq seq)
{
}

/*
 * The empty state.
 */
static bool
nullsvc_snapshot(void *ctx, zz_seq seq, uint8_t **out, size_t *outlen)
{
	*out = malloc(1);
	*outlen = 0;
	return *out != NULL;
}

/*
 * Installing the empty state: only an empty snapshot with the zero digest.
 */
static bool
nullsvc_install(void *ctx, zz_seq seq, const zz_digest *history, const uint8_t *data,
				size_t len, const zz_digest *expect)
{
	static const zz_digest zero;

	return len == 0 && memcmp(expect, &zero, sizeof(zero)) == 0;
}

/*
 * Create the service.
 */
nullsvc *
nullsvc_create(uint32_t reply_size)
{
	nullsvc    *ns = calloc(1, sizeof(nullsvc));

	if (ns == NULL)
		return NULL;
	ns->reply_size = reply_size;
	ns->svc.ctx = ns;
	ns->svc.execute = nullsvc_execute;
	ns->svc.rollback = nullsvc_rollback;
	ns->svc.mark_stable = nullsvc_mark_stable;
	ns->svc.snapshot = nullsvc_snapshot;
	ns->svc.install = nullsvc_install;
	return ns;
}

/*
 * Release the service.
 */
void
nullsvc_free(nullsvc *ns)
{
	free(ns);
}

/*
 * The vtable the replica executes against.
 */
const zz_service *
nullsvc_service(nullsvc *ns)
{
	return &ns->svc;
}
