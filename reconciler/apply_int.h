/*
 * apply_int.h — the executor's private header, shared by its files (only
 * apply.c and apply_*.c include it; `make check-layers` says so):
 *
 *   apply.c          apply_run(): the phases in order (save, teardown, the
 *                    rollout, network removals), recording each step, the
 *                    network steps, the side-by-side pool of phases 2 and 4,
 *                    the waiting helpers (bounds, http probe)
 *   apply_container.c  building a container (the image resolved once per run,
 *                    labelled volumes, labels, ports, mounts, create, connect),
 *                    starting it, and the replacement of a recreate
 *   apply_rollout.c  phase 3: the jobs and their dependency graph, the workers'
 *                    steps (create, replace, update, start, inspect) and the
 *                    coordinator that follows events and probes
 *   apply_swarm.c    phases 2-4 with engine: swarm: Swarm secrets, overlay
 *                    networks, services created, updated, scaled and removed
 *                    wave by wave, each wave waited for from the task list
 *
 * struct run is one apply_run(): what every file reads, and the lock that
 * guards the state, the result, stdout and the image cache.
 */
#ifndef RC_APPLY_INT_H
#define RC_APPLY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "apply.h"
#include "bindroot.h"

struct job;


/* An image reference resolved once per run (every unit of a template shares it). */
struct image_entry {
	char *ref;
	char *id;                         /* NULL while it is being resolved, or when it failed */
	char *error;                      /* why it cannot be had */
	bool fault;                       /* ... because the engine failed */
	bool busy;
	char *build_log;                  /* a build ran for it in this run: its output (each unit
	                                     that uses it keeps a copy in the state: state_builds.c) */
	size_t build_log_len;
};

struct run {
	const struct rc_desired *d;
	struct rc_state *st;
	const struct apply_opts *o;
	/* the rollout's (apply_rollout.c) */
	struct dk_client **clients;       /* one per worker */
	struct job *jobs;
	size_t njobs;
	pthread_mutex_t mu;               /* guards st, out, stdout, images, reals */
	struct bindroot_reals *reals;     /* bind sources' real paths, resolved once per run (bindroot.h) */
	pthread_cond_t image_cv;
	struct image_entry *images;
	size_t nimages, capimages;
	struct apply_result *out;
	bool tty;                         /* progress on a terminal: one updating line */
	bool line_shown;                  /* that line is on the screen now */
};

/* A step for apply_record(): what apply_step will hold. */
struct step_note {
	const char *what;                 /* "+ alpha/app" */
	const char *unit;                 /* NULL: a network, the allocations */
	enum apply_status status;
	const char *msg;
	bool engine_fault;                /* a FAILED or SKIPPED step is no verdict: the engine failed */
	int64_t ns;                       /* time spent */
};

/* Add a step to the result and the journal (and print it with --progress). */
void apply_record(struct run *r, const struct step_note *n);

/*
 * Crash-safety tests: RECONCILER_TEST_CRASH_AT=<point> kills the process
 * with SIGKILL at that point, as a `kill -9` would (points: after-create,
 * after-connect, after-start, after-job, after-removal, after-network, and
 * of a network's recreation after-network-stop, after-network-remove).
 */
void apply_crash_point(const char *name);

/* snprintf, for messages cut at the buffer's size on purpose. */
__attribute__((format(printf, 3, 4))) void apply_msgf(char *dst, size_t n, const char *fmt, ...);

/* A borrowed key/value pair for the label arrays dk_* only read. */
struct rc_kv apply_kv(const char *k, const char *v);

/* The bound of a wait for u: o's rollout timeout, else u's start period + (retries + 1) x
 * (interval + timeout) + 5 s. */
int64_t apply_unit_bound_ns(const struct rc_unit *u, const struct apply_opts *o);

/* Is u on network (one of its own networks, not a link)? */
bool apply_unit_on(const struct rc_unit *u, const char *network);

/* The stop timeout in seconds the engine takes for a grace period (-1: the container's own). */
int apply_grace_s(int64_t grace_ns);

/* Remove a container, forced (running or not), keeping its volumes. */
int apply_remove(struct dk_client *c, const char *id, struct dk_status *st, struct rc_err *err);

/* apply_container.c */

/*
 * The alias a unit gets on its i-th network: the service name on the
 * customer's own network (and on every network of a shared service);
 * customers' units are reachable on their other networks by container name
 * only.
 */
const char *apply_net_alias(const struct rc_unit *u, size_t i);

/* Create the container for u under name (not started).  *ret_id malloc'ed. */
int apply_create_container(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *name,
			   char **ret_id, struct rc_err *err);

/* Stop (with the unit's grace period) and remove a container; gone is fine. */
int apply_stop_remove(struct dk_client *c, const char *id, int64_t grace_ns, struct rc_err *err);

/*
 * Start u's container id.  The engine sets up one endpoint per network at a
 * start, so the call may take the client's timeout plus a second per network
 * beyond four before it counts as an engine fault.
 */
int apply_start_unit(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *id,
		     struct dk_status *st, struct rc_err *err);
/* Tell r's caller a container of u is about to start (apply_opts.before_start); r may be NULL. */
void apply_before_start(struct run *r, const struct rc_unit *u);

/* Create u's container under its name and start it when desired running (*needs_wait then). */
int apply_create_start(struct run *r, struct dk_client *c, const struct rc_unit *u, char **ret_id,
		       bool *needs_wait, struct rc_err *err);

/* What a replacement made: the new container, the old one kept until the new one is ready. */
struct replacement {
	char *id;                         /* the new container */
	char *old_id;                     /* the old one (NULL: gone, or removed already) */
	bool needs_wait;                  /* the new one was started: wait for it */
	bool restored;                    /* on failure: the old container is back */
};

/* Replace u's container old_id: the new one made under a side name first, then the old one stopped
 * and renamed aside, the new one named and started; the old one put back on failure. */
int apply_replace(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *old_id,
		  struct replacement *ret, struct rc_err *err);
/* update_order start-first: the new one made and started under a side name, the old one untouched
 * until apply_swap_in(). */
int apply_replace_start_first(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *old_id,
			      struct replacement *ret, struct rc_err *err);
/* start-first, the new container ready: stop and remove the old one, give the new one the name. */
int apply_swap_in(struct dk_client *c, const struct rc_unit *u, const char *new_id, const char *old_id,
		  struct rc_err *err);
/* Put the old container back: remove the new one (when there is one), give the old one its name
 * and start it again.  why is what went wrong; err gets it with what became of the old one. */
int apply_restore_old(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *new_id,
		      const char *old_id, const char *why, bool *ret_restored, struct rc_err *err);

/* Free the image cache of r. */
void apply_images_release(struct run *r);

/* apply.c: NET_CREATE, and NET_RECREATE (its takedown first); records its step. */
int apply_net_create(struct run *r, struct dk_client *c, const struct plan_action *a);

/* A protected unit's action waits for approval: recorded as awaiting (true), unless approved (false). */
bool apply_held_for_approval(struct run *r, const struct plan_action *a);
/* apply_swarm.c: phases 2-4 on a swarm (engine: swarm): services instead of containers. */
void apply_swarm(struct run *r, struct dk_client *c, const struct plan *p);
/* apply_rollout.c: phase 3 for plan p, at most parallel engine calls in flight.  Fills
 * r->out's slowest unit. */
void apply_rollout(struct run *r, struct dk_client *c, const struct plan *p, int parallel);

#endif
