/*
 * scenario_int.h
 *	  The scenario interpreter's own types, shared by its parser
 *	  (scenario_parse.c: text to commands) and its runner (scenario.c:
 *	  commands against a simulator world).  Not for other code.
 */
#ifndef ZZ_SIM_SCENARIO_INT_H
#define ZZ_SIM_SCENARIO_INT_H

#include <stddef.h>

#include "message.h"
#include "replica_int.h"
#include "scenario.h"
#include "sim_int.h"

#define SC_MAX_TOKENS	48
#define SC_MAX_LINE		1024
#define SC_NAME_LEN		32
#define SC_TEXT_LEN		200
#define SC_WAIT_DEFAULT (10 * 1000000)	/* wait ... without within: 10 s */
#define SC_ALL_TYPES	0xfffeu	/* bits 1..15 */
#define SC_MAX_VIEWS	16		/* new histories kept per replica */
#define SC_G_ENTRIES	16		/* ... and entries of each */

typedef enum sc_kind
{
	/* set-up: before the world exists */
	SC_F,
	SC_CLIENTS,
	SC_PARAM,
	SC_LATENCY,
	SC_SEED,
	SC_REAL_CRYPTO,
	/* the timeline */
	SC_AT,
	SC_RUN,
	SC_WAIT,
	SC_SUBMIT,
	SC_CRASH,
	SC_RESTART,
	SC_BYZANTINE,
	SC_FAULTY,
	SC_RULE,
	SC_RELEASE,
	SC_DELIVER,
	SC_END,
	SC_EXPECT,
	SC_NEVER,
	SC_REPLAY,
	SC_INJECT,
	SC_SNAPSHOT,
	SC_END_ALL
} sc_kind;

typedef enum sc_rule_kind
{
	RULE_DROP,
	RULE_HOLD,
	RULE_DELAY,
	RULE_DUPLICATE,				/* deliver twice */
	RULE_COPY					/* deliver, and keep a copy for replay */
} sc_rule_kind;

/* Which messages a rule applies to. */
typedef struct sc_sel
{
	uint32_t	types;			/* bit per zz_msg_type */
	uint32_t	from;			/* bit per node index; 0: any */
	uint32_t	to;
	bool		has_view;
	zz_view		view;
	bool		has_seq;
	zz_seq		seq;
} sc_sel;

typedef enum sc_cmp
{
	CMP_EQ,
	CMP_NE,
	CMP_GE,
	CMP_LE,
	CMP_GT,
	CMP_LT
} sc_cmp;

typedef enum sc_xkind
{
	X_COMPLETE,
	X_NOT_COMPLETE,
	X_VIEW,
	X_MODE,
	X_EXECUTED,
	X_STABLE,
	X_STAT,
	X_SAFE,
	X_VIOLATION,
	X_ALL_COMPLETE,
	X_MAX_CC,
	X_REPLICA,
	X_NEW_HISTORY
} sc_xkind;

/* One entry a new-history condition names: seq -> (client, t). */
typedef struct sc_gent
{
	zz_seq		seq;
	uint32_t	client;
	uint64_t	ts;
} sc_gent;

/* A condition: what expect asserts and wait waits for. */
typedef struct sc_cond
{
	sc_xkind	kind;
	bool		any_node;
	uint32_t	node;			/* replica id, or client id */
	uint64_t	ts;
	bool		has_seq,
				has_view,
				has_path,
				has_reply;
	zz_seq		seq;
	zz_view		view;
	zz_completion_path path;
	char		reply[128];
	sc_cmp		cmp;
	uint64_t	value;
	int			stat;
	unsigned	vkind;			/* violation bit, 0: any */
	zz_replica_mode mode;
	bool		has_mode;
	bool		has_end;
	bool		none;			/* max-cc: it holds none */
	zz_seq		end;
	int			ngent;
	sc_gent		gent[8];
} sc_cond;

typedef struct sc_cmd
{
	sc_kind		kind;
	int			line;
	int			only;			/* 0 always, 1 shipped rule only, 2 unsafe only */
	char		text[SC_TEXT_LEN];
	uint64_t	num;			/* f, clients, param value, seed */
	uint64_t	num2;
	int			param;
	uint32_t	node;
	zz_time		time;			/* at, run, latency, delay by */
	zz_time		within;
	char	   *op;				/* submit */
	zz_forge_config fc;
	uint32_t	lie_ppm;
	unsigned	client_bugs;
	sc_rule_kind rule;
	sc_sel		sel;
	char		name[SC_NAME_LEN];
	bool		reverse;
	bool		amnesia;		/* restart from the kept checkpoint only */
	bool		with_history;	/* ... and the history its service stored */
	uint32_t	to;				/* replay, inject: node mask (0: as sent) */
	zz_view		view;			/* inject */
	sc_cond		cond;
} sc_cmd;

typedef struct sc_held
{
	uint32_t	from;
	uint32_t	to;
	uint8_t    *buf;
	size_t		len;
} sc_held;

typedef struct sc_rule
{
	sc_rule_kind kind;
	sc_sel		sel;
	char		name[SC_NAME_LEN];
	zz_time		delay;
	bool		active;
	sc_held    *held;
	size_t		nheld;
	size_t		cap;
} sc_rule;

typedef struct sc_done
{
	uint32_t	client;
	uint64_t	ts;
	zz_view		view;
	zz_seq		seq;
	zz_completion_path path;
	char		reply[128];
} sc_done;

/* The zz_params fields a scenario may set (scenario_parse.c). */
typedef struct sc_param_def
{
	const char *name;
	size_t		off;
	bool		is_time;
	bool		is_u32;
} sc_param_def;

#define SC_NPARAMS 12
extern const sc_param_def sc_params[];

/* The statistics expect stat can read: replica counters, then client ones. */
typedef struct sc_stat_def
{
	const char *name;
	bool		replica;
	size_t		off;
} sc_stat_def;

#define SC_NSTATS 26
extern const sc_stat_def sc_stats[];

/* The new history of one view as one replica adopted it. */
typedef struct sc_gsnap
{
	bool		taken;
	zz_seq		start;
	zz_seq		end;
	uint32_t	client[SC_G_ENTRIES];	/* of the first request at start+1+i */
	uint64_t	ts[SC_G_ENTRIES];
} sc_gsnap;

typedef struct sc_run
{
	const char *name;
	const zz_scenario_opts *opts;
	zz_scenario_result *res;

	sc_cmd	   *cmds;
	int			ncmds;
	int			cap;

	/* Set-up, as parsed. */
	uint32_t	f;
	uint32_t	clients;
	bool		param_set[SC_NPARAMS];
	uint64_t	param_val[SC_NPARAMS];
	zz_time		lat_lo;
	zz_time		lat_hi;
	uint64_t	seed;
	bool		real_crypto;
	unsigned	bug_replica;	/* the planted bug the scenario names */
	unsigned	bug_client;
	bool		timeline;		/* a timeline command was parsed */
	char		names[64][SC_NAME_LEN]; /* rule names, for checking references */
	int			nnames;

	/* The run. */
	zz_sim	   *sim;
	zz_sim_result simres;
	sc_rule    *rules;
	int			nrules;
	sc_done    *done;
	int			ndone;
	int			done_cap;
	bool		violation_expected;
	unsigned	replica_bugs;	/* switched on in the correct replicas */

	/*
	 * The new history G of each view as each replica adopted it: its log
	 * when first seen in that view in normal mode.
	 */
	sc_gsnap	g[ZZ_MAX_N][SC_MAX_VIEWS];
	const sc_cond *never;		/* a never ... for ... running */
	const sc_cmd *cur;
} sc_run;

/* Record the first failure (or error) as "name:line: message" (scenario.c). */
extern void sc_fail(sc_run *r, zz_scenario_status st, int line, const char *fmt,...)
	__attribute__((format(printf, 4, 5)));

/* Parse a whole scenario into r's commands; false (and r's error) if malformed. */
extern bool sc_parse_text(sc_run *r, const char *text);

#endif							/* ZZ_SIM_SCENARIO_INT_H */
