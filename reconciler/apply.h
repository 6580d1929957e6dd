/*
 * apply.h — the executor: carry out a plan against the engine, in
 * dependency order, gated on health.
 *
 * Owns: the order of work and the waiting.  Phases:
 *   1. (none of its own: network creates run in the rollout, below);
 *   2. stops and removals, in the plan's order (units gone from the
 *      manifests first, then dependents before their dependencies), one
 *      dependency wave at a time, side by side within a wave;
 *   3. the rollout: network creates (with the allocated subnet, labelled)
 *      and, per unit, creates, replacements (a recreate: the new container
 *      made under a side name before the old one is touched), in-place
 *      updates and starts.  Only engine calls take one of `parallel`
 *      workers (workq.h); the waiting for readiness is followed by one
 *      coordinating thread from the engine's events and http probes
 *      (ready.h).  A unit starts once its networks exist and each of its
 *      dependencies met its condition (started | healthy | completed),
 *      whether that dependency had work in this apply or not (a container
 *      left running but not yet healthy still gates its dependents); a
 *      unit that fails (create error, exits, never healthy) fails its
 *      dependents, which are never started, while unrelated units go on;
 *   4. network removals.
 * A unit with a health check is waited for until healthy (bounded by its
 * start period + (retries + 1) x (interval + timeout), or the rollout
 * timeout).
 *
 * Engine faults (docker.h) are no verdict on a unit: a step that failed
 * with one, a wait the engine left without answer for twice the call
 * timeout (at least 5 s), and the dependents they skip are recorded with
 * engine_fault, and once one happened nothing new is started (what is
 * under way ends on its own).  The caller decides what that means for the
 * commit (apply exits 3; the daemon tries the commit again).  `cmd` checks are Docker's; `http` checks are probed here
 * against the container's address on its first network.
 *
 * Every container carries the labels of unit.h; every step is written to
 * the journal.  Units marked protected wait for approval (state.h).
 */
#ifndef RC_APPLY_H
#define RC_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "docker.h"
#include "planner.h"
#include "state.h"
#include "unit.h"

struct apply_opts {
	int parallel;                 /* engine calls in flight; 0 = apply_default_parallel() */
	int64_t rollout_timeout_ns;   /* 0: each unit's own bound */
	struct dk_pull_opts pull;     /* image pulls for missing images; zeros: the environment's
	                                 RECONCILER_PULL_RETRIES (retries after the first attempt; 0 = none)
	                                 and RECONCILER_PULL_BACKOFF_MS (first delay, tripled each time),
	                                 else the client's defaults (3 retries at 5 s, 15 s, 45 s) */
	bool progress;                /* print a line per finished step to stdout */
	bool progress_line;           /* with progress: "converging 137/200: ..." (one updating line on a
	                                 terminal, a plain line every 10 s otherwise) */
	/*
	 * NULL, or asked (from any worker thread) before each unit's job and
	 * at every turn of a wait for a unit (at least every 250 ms): when it
	 * returns true the wait ends and the job fails with "interrupted", so
	 * a stop request does not sit out a health wait of minutes.  What was
	 * already started stays as it is.
	 */
	bool (*interrupted)(void *ctx);
	void *interrupted_ctx;
	/*
	 * After the rollout, also wait for every unit desired running, with a
	 * health check, not disabled and without work in the plan, to be
	 * ready (a failure is a failed step "= UNIT").  For converging again
	 * to a commit whose rollout was cut short (stop request, crash): its
	 * containers are current, so the plan has nothing to wait for, yet
	 * nobody saw them healthy.
	 */
	bool wait_unchanged;
	/*
	 * NULL, or what the planner observed: then units without work whose
	 * container is still coming up (health "starting" in the list, from a
	 * run cut short after their start) are waited for too, so an apply
	 * returns with every unit ready (a failure is a failed step "= UNIT").
	 */
	const struct plan_observed *observed;
	/*
	 * NULL, or called (from a worker thread; the callee serialises) right
	 * before the engine is asked to start a container of unit u — the
	 * moment its published ports are bound.  The daemon closes the wake
	 * proxy's listeners on a sleeping unit's ports there (wakeproxy.h).
	 */
	void (*before_start)(void *ctx, const struct rc_unit *u);
	void *before_start_ctx;
};

/* How many units of d, desired running with a `cmd` check, have a container observed still
 * "starting" (see apply_opts.observed). */
size_t apply_warming(const struct rc_desired *d, const struct plan_observed *o);

/* o->interrupted says stop (false without one). */
bool apply_interrupted(const struct apply_opts *o);

enum apply_status { APPLY_OK = 0, APPLY_FAILED, APPLY_SKIPPED, APPLY_AWAITING };

struct apply_step {
	char *what;                   /* "+ alpha/app" */
	char *unit;                   /* the unit it was for; NULL for networks and the like */
	enum apply_status status;
	char *msg;                    /* details / error */
	int64_t ns;                   /* time spent */
	bool engine_fault;            /* FAILED or SKIPPED because the engine failed (docker.h, "Engine
	                                 faults"), not because the unit did: no verdict on the commit */
};

struct apply_result {
	struct apply_step *steps;
	size_t nsteps;
	size_t nfailed;               /* FAILED + SKIPPED */
	size_t nfaults;               /* of those, the ones the engine failed (engine_fault) */
	size_t nawaiting;
	int64_t phase_ns[3];          /* teardown, rollout (network creates included), network removal */
	char *slowest_unit;           /* the unit that took longest to become ready (NULL: none waited) */
	int64_t slowest_ns;           /* from the start of its work to ready */
};

/* The default number of engine calls in flight (docs/performance.md, "Calls in flight"). */
int apply_default_parallel(void);

/*
 * Execute p (computed for d) with c (cloned per worker).  st must be
 * locked; it is saved once before the first change (so the allocations
 * state_allocate() made are on disk before any network or container holds
 * them: a run killed midway leaves nothing the state does not know), then
 * receives in-place records, approvals awaited and journal lines (the
 * caller saves it again).  Returns 0 when every step succeeded, -1 when any
 * failed (details in ret); ret is always filled (release it).
 */
int apply_run(struct dk_client *c, const struct rc_desired *d, const struct plan *p,
	      struct rc_state *st, const struct apply_opts *o, struct apply_result *ret);
void apply_result_release(struct apply_result *r);
/* The address health probes use: the container's IP on the unit's first network that has one. */
const char *apply_container_ip(const struct dk_container *ct, const struct rc_unit *u);
/*
 * Run u's `http` health check once against ct (which must be running): GET
 * http://<apply_container_ip>:<health port, else the first container port,
 * else 80><path> within the check's timeout (default 5 s; capped at
 * cap_ms when cap_ms > 0).  1 healthy, 0 not, with why filled.  inside:
 * from inside the container's network namespace (ct->pid; a local engine
 * only), so the probe is no traffic on its interfaces (health_http_probe_in();
 * *ret_inside, may be NULL, says whether it could be).
 */
int apply_http_probe(const struct dk_container *ct, const struct rc_unit *u, int64_t cap_ms, bool inside, char *why,
		     size_t whylen, bool *ret_inside);
const char *apply_status_name(enum apply_status s);

/* What apply --json says besides the result (apply_json.c). */
struct apply_json_info {
	const char *project;
	const char *commit;           /* NULL: --dir */
	size_t planned;               /* the plan's actions */
	int exit_code;                /* what apply exits with */
};
/* Append r as the apply --json document (spec/apply-json.md) to out. */
void apply_result_json(const struct apply_result *r, const struct apply_json_info *info, struct buf *out);

#endif
