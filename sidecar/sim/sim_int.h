/*
 * sim_int.h
 *	  The simulator's world, shared by the seeded sweep (sim.c) and the
 *	  scripted scenarios (scenario.c).  Not for use outside sidecar/sim.
 *
 * A world is n replicas and k clients wired to one event heap.  The sweep
 * draws its faults from the seed; a scenario builds the same world and
 * drives it step by step, deciding the fate of each message through a
 * network filter.
 */
#ifndef ZZ_SIM_INT_H
#define ZZ_SIM_INT_H

#include "checker.h"
#include "client.h"
#include "forge.h"
#include "kvservice.h"
#include "replica.h"
#include "rng.h"
#include "sim.h"

#define SIM_MAX_CLIENTS		8
#define SIM_MAX_NODES		(ZZ_MAX_N + SIM_MAX_CLIENTS)
#define SIM_MS				1000

typedef enum sim_ev_kind
{
	EV_DELIVER,
	EV_SUBMIT,
	EV_CRASH,
	EV_RESTART,
	EV_PARTITION,
	EV_HEAL,
	EV_CALM,
	EV_PRIMARY_CRASH,			/* the liveness probe: see sim.c */
	EV_RECOVERY_CHECK,
	EV_EXEC_DONE,				/* an asynchronous service finishes (sim.c) */
	EV_STALL,					/* a replica's service stops answering */
	EV_UNSTALL
} sim_ev_kind;

typedef struct sim_event
{
	zz_time		at;
	uint64_t	order;			/* tiebreak: insertion order */
	uint8_t		kind;
	uint16_t	from;
	uint16_t	to;				/* node index, or the replica mask of a partition */
	uint8_t    *buf;
	size_t		len;
} sim_event;

struct zz_sim;

/*
 * The service a simulated replica runs: the KV service behind a shim that
 * reports every execution, rollback and install of a correct replica to
 * the checker, and makes a faulty replica lie in its replies.
 */
/* A batch the asynchronous service executed but has not reported yet. */
typedef struct sim_pending
{
	zz_seq		seq;
	zz_time		due;
	zz_exec_result res;
} sim_pending;

typedef struct sim_shim
{
	zz_service	svc;
	const zz_service *inner;
	struct zz_sim *sim;
	uint32_t	replica;
	uint32_t	lie_ppm;		/* faulty: chance to corrupt each reply */

	/*
	 * Asynchronous mode (a database): results come back after a delay, in
	 * order, or not at all while the service is stalled (its server down).
	 */
	bool		async;
	bool		stalled;
	zz_seq		kv_seq;			/* the last batch the inner service executed */
	sim_pending *pend;
	uint32_t	npend;
	uint32_t	cappend;

	/* an install in the background (zz_service.install_start), when async */
	bool		inst_pending;
	zz_time		inst_due;
	zz_seq		inst_seq;
	zz_digest	inst_history;
	zz_digest	inst_expect;
	uint8_t    *inst_data;
	size_t		inst_len;
} sim_shim;

typedef struct sim_node
{
	struct zz_sim *sim;
	uint32_t	idx;			/* replicas 0..n-1, clients n..n+k-1 */
	uint32_t	id;				/* replica or client id */
	bool		is_replica;
	zz_crypto  *crypto;
	zz_io		io;
	bool		down;

	/* replica */
	zz_replica *replica;
	zz_kvservice *kv;
	sim_shim	shim;
	bool		byzantine;
	zz_forger  *forger;
	zz_replica_status seen;		/* status at the last inspection */
	zz_buf		kept;			/* what a shell keeps at its stable checkpoint */
	zz_seq		kept_seq;
	zz_view		vc_view;		/* highest VIEW-CHANGE it sent */
	zz_seq		vc_cc_seq;		/* what that VIEW-CHANGE certified */
	uint64_t	poms_seen;		/* its stats.poms at the last inspection */
	bool		amnesiac;		/* restarted from its kept checkpoint only */
	zz_view		kept_view;		/* the highest view it kept (zz_io.keep_view) */
	zz_seq		lc_seq;			/* the last LOCAL-COMMIT it sent (0: none) ... */
	zz_digest	lc_history;		/* ... and the history it vouched for */

	/* client */
	zz_client  *client;
	bool		client_faulty;
	uint32_t	quota;
	uint32_t	submitted;
	uint32_t	completed;
	bool		probe_due;		/* submit a liveness probe when idle */
	uint64_t	probe_ts;		/* the probe outstanding (0: none) */
	zz_time		probe_deadline;
} sim_node;

/* What a network filter decides for one message. */
typedef enum sim_fate
{
	SIM_DELIVER,				/* after the normal latency (+ extra) */
	SIM_DROP,
	SIM_KEEP					/* the filter took a copy; deliver nothing now */
} sim_fate;

typedef sim_fate (*sim_net_filter) (void *ctx, uint32_t from, uint32_t to,
									const uint8_t *buf, size_t len, zz_time *extra);

typedef void (*sim_complete_hook) (void *ctx, uint32_t client, const zz_completion *c);

typedef struct zz_sim
{
	zz_sim_config cfg;
	uint64_t	seed;
	zz_rng		rng;
	zz_params	params;
	uint32_t	n;
	uint32_t	k;
	sim_node	nodes[SIM_MAX_NODES];
	zz_keyset  *ks;
	zz_checker *ck;

	sim_event  *heap;
	size_t		hlen;
	size_t		hcap;
	uint64_t	order;

	zz_time		now;
	uint64_t	step;
	zz_time		calm;			/* end of the fault period */
	bool		faulty_net;		/* still inside it */
	uint32_t	partitioned;	/* replicas cut off from everyone else */
	uint32_t	loss_ppm;
	uint32_t	dup_ppm;
	uint32_t	long_ppm;
	zz_time		long_max;
	zz_time		lat_lo;			/* normal one-way latency */
	zz_time		lat_hi;
	uint32_t	clients_done;
	uint32_t	clients_correct;
	zz_sim_result *res;
	uint64_t	hash;
	bool		check_liveness; /* the checker's bound after calm */

	/* Scenarios: what the network does, and who completed what. */
	sim_net_filter filter;
	void	   *filter_ctx;
	sim_complete_hook on_complete;
	void	   *complete_ctx;

	/* The primary-crash probe (sim.c). */
	bool		probe_scheduled;
	bool		probe_started;
	bool		probe_checked;
	uint32_t	probe_tries;
	zz_time		crash_at;
	zz_view		crash_view;
	uint32_t	crash_replica;
	zz_time		recovered_at;	/* all correct replicas in a later view */
	uint32_t	probes_left;
} zz_sim;

/* Building and tearing down (the sweep draws params; scenarios set them). */
extern zz_sim *sim_create(const zz_sim_config *cfg, uint64_t seed, zz_sim_result *res);
extern bool sim_build(zz_sim *s, const zz_params *p, uint32_t clients);
extern void sim_destroy(zz_sim *s);
extern void sim_make_byzantine(zz_sim *s, uint32_t replica, const zz_forge_config *fc,
							   uint32_t lie_ppm);
extern void sim_make_faulty_client(zz_sim *s, uint32_t client, unsigned bugs);

/* Acting on the world now. */
extern uint64_t sim_submit(zz_sim *s, uint32_t client, const char *op);
extern void sim_crash(zz_sim *s, uint32_t replica);
extern void sim_restart(zz_sim *s, uint32_t replica, bool amnesia);
extern void sim_restart_with_history(zz_sim *s, uint32_t replica);
extern void sim_queue(zz_sim *s, uint32_t from, uint32_t to, const uint8_t *buf,
					  size_t len, zz_time delay);

/*
 * Take one step (the earliest event or node deadline) if it is due at or
 * before limit; false if nothing is.
 */
extern bool sim_step(zz_sim *s, zz_time limit);
extern void sim_collect_stats(zz_sim *s);

extern const char *sim_node_name(const zz_sim *s, uint32_t idx, char *buf);
extern void sim_trace(zz_sim *s, const char *fmt,...) __attribute__((format(printf, 2, 3)));

#endif							/* ZZ_SIM_INT_H */
