/* apply_rollout.c — phase 3 of apply_run(): the rollout (apply_int.h, apply.h). */
#include "apply_int.h"

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "health.h"
#include "ready.h"
#include "spec.h"
#include "speckeys.h"
#include "workq.h"

/*
 * One coordinating thread (the caller's) and a pool of workers (workq.h).
 * A worker runs only calls to the engine: a unit's creates, starts, stops,
 * renames and removals, one inspect.  The waiting for readiness holds no
 * thread: the coordinator follows the project's container events (one
 * stream, opened before the first change), runs `http` probes on one multi
 * handle (health.h), and keeps for each unit what it knows (ready.h).  A
 * dependent is released the moment its dependencies are ready.
 *
 * A job is one unit.  Its states: pending (dependencies not ready), queued
 * (a step is with the workers), waiting (for readiness), done.  Its steps:
 *   UP       the plan's actions for the unit (create, recreate, update,
 *            start); a recreate is a replacement (replace() below);
 *   INSPECT  one inspect: a unit without work whose readiness a dependent
 *            or wait_unchanged needs, and every waiting unit after the
 *            event stream was lost (events between are not replayed);
 *   FINISH   after a replacement is ready: remove the old container;
 *   RESTORE  after a replacement failed: remove the new container and start
 *            the old one again under its name.
 */

enum jstate { J_PENDING = 0, J_QUEUED, J_WAITING, J_DONE };
/* How a job ended: a fault is the engine's failure, no verdict on the unit. */
enum job_end { JOB_OK = 0, JOB_FAILED, JOB_FAULT };

static enum job_end failed_by(bool engine_fault)
{
	return engine_fault ? JOB_FAULT : JOB_FAILED;
}

enum jstep { STEP_UP = 0, STEP_INSPECT, STEP_FINISH, STEP_RESTORE };

/* An event seen for a job's unit before the job knew its container. */
struct early_event {
	char *id;
	char *action;
	int exit_code;
};

#define EARLY_MAX 32

struct job {
	const struct rc_unit *u;          /* NULL for a network create */
	const struct plan_action *net;    /* a network create: units on that network wait for it */
	const struct plan_action **acts;  /* this unit's up-phase actions, in plan order */
	size_t nacts;
	const char **rejoin;              /* networks of the unit recreated in this apply (NET_RECREATE): its
	                                     container, stopped and disconnected by that network's job, is
	                                     connected again (and started) before its actions */
	size_t nrejoin;
	enum rc_dep_cond need;            /* strongest condition a dependent waits for */
	char *label;                      /* "+ alpha/app" */
	bool watch;                       /* no work: only its readiness is followed */
	bool report;                      /* a watch recorded as "= unit" when it fails (wait_unchanged) */
	size_t *rdeps, nrdeps;            /* jobs waiting for this one */
	size_t nwait;                     /* dependencies not done yet */
	enum jstate state;
	enum jstep step;
	int64_t t0, wait_t0, deadline;
	unsigned epoch;                   /* event stream generation when the step was queued */
	/* written by the worker that ran the step; read by the coordinator after it is collected */
	int rc;
	struct rc_err err;
	char *id;                         /* the container whose readiness counts */
	char *old_id;                     /* a replacement: the old container, stopped, until the new one is ready */
	bool start_first;                 /* ... or, update_order start-first, still running under its name,
	                                     the new one under a side name */
	bool needs_wait;
	bool inspected;                   /* insp and ip hold an inspect made by the step */
	struct ready_obs insp;
	char *ip;
	bool restored;                    /* RESTORE: the old container runs again */
	bool fault;                       /* it failed because the engine did (no verdict on the unit) */
	bool blind;                       /* a wait: the last inspect got no answer from the engine (a fault),
	                                     and no event came since: its deadline would prove nothing */
	int64_t blind_since;              /* when that began */
	/* the coordinator's */
	struct ready_obs obs;
	struct early_event early[EARLY_MAX];
	size_t nearly;
	bool early_lost;                  /* more than EARLY_MAX: an inspect must tell */
	bool probing;
	int64_t next_probe;
	char why[256];                    /* what a wait waits for; a failure's reason */
	char note[256];
};

static void early_clear(struct job *jb)
{
	for (size_t i = 0; i < jb->nearly; i++) {
		free(jb->early[i].id);
		free(jb->early[i].action);
	}
	jb->nearly = 0;
	jb->early_lost = false;
}

/* An in-place change that removes a memory or CPU limit, or a spec-key table row the engine
 * cannot unset in place (speckeys.h, clear_recreates): docker update cannot. */
static bool lifts_limit(const struct plan_action *a)
{
	for (size_t i = 0; i < a->changes.n; i++) {
		const struct spec_change *ch = &a->changes.v[i];
		/* a reservation neither: the update API takes 0 as "unchanged" and -1 as the cgroup's
		 * "max" (on cgroup v2 memory.low = max, the opposite of none) */
		if (!ch->after && (strcmp(ch->key, "memory") == 0 || strcmp(ch->key, "cpus") == 0 ||
				   strcmp(ch->key, "memory_reservation") == 0 || sk_ckey_clear_recreates(ch->key)))
			return true;
	}
	return false;
}

/* Replace jb's unit's container old_id, the way its update_order says. */
static int replace_unit(struct run *r, struct dk_client *c, struct job *jb, const char *old_id, struct rc_err *err)
{
	const struct rc_unit *u = jb->u;
	struct replacement rp = { 0 };
	jb->start_first = u->start_first && u->running && !u->job;
	int rc = jb->start_first ? apply_replace_start_first(r, c, u, old_id, &rp, err)
				 : apply_replace(r, c, u, old_id, &rp, err);
	jb->id = rp.id;
	jb->old_id = rp.old_id;
	jb->needs_wait |= rp.needs_wait;
	jb->restored = rp.restored;
	return rc;
}

/* Inspect id into jb->insp and jb->ip.  404: gone. */
static int inspect_into(struct dk_client *c, struct job *jb, const char *id, struct rc_err *err)
{
	struct dk_container *ct = NULL;
	struct dk_status ds;
	jb->insp = (struct ready_obs)READY_OBS_INIT;
	if (dk_container_inspect(c, id, &ct, &ds, err) < 0) {
		if (ds.http != 404)
			return rc_err_prefix(err, "waiting for '%s'", jb->u->container);
		jb->insp.gone = true;
		jb->inspected = true;
		return 0;
	}
	ready_from_inspect(&jb->insp, jb->u, ct->state_status, ct->exit_code, ct->oom_killed, ct->health_status);
	const char *ip = apply_container_ip(ct, jb->u);
	free(jb->ip);
	jb->ip = ip ? xstrdup(ip) : NULL;
	free(jb->id);
	jb->id = xstrdup(ct->id);
	jb->inspected = true;
	dk_container_free(ct);
	return 0;
}

/*
 * Connect container (an id or u's name) of u to the networks of u that were
 * recreated (jb->rejoin), with the alias create gives there.  The network's
 * job stopped it and took it off the old network; a stopped container keeps
 * a network in its config by name, so it is first disconnected (nothing to
 * disconnect is fine), then connected.
 */
static int rejoin(struct dk_client *c, const struct job *jb, const char *container, struct rc_err *err)
{
	const struct rc_unit *u = jb->u;
	for (size_t i = 0; i < jb->nrejoin; i++) {
		size_t k = 0;
		while (k < u->nnetworks && strcmp(u->networks[k], jb->rejoin[i]) != 0)
			k++;
		if (k == u->nnetworks)
			BUG("unit '%s' rejoins '%s', which is not one of its networks", u->id, jb->rejoin[i]);
		const char *al = apply_net_alias(u, k);
		struct dk_status ds = { 0 };
		struct rc_err e2 = { 0 };
		dk_network_disconnect(c, jb->rejoin[i], container, true, &ds, &e2);
		if (dk_network_connect(c, jb->rejoin[i], container, &al, 1, &ds, err) < 0)
			return rc_err_prefix(err, "connecting '%s' to the recreated network '%s'", u->container,
					     jb->rejoin[i]);
	}
	return 0;
}

/* STEP_UP on a worker: the unit's actions.  jb->rc and jb->err say how it went. */
static int step_up(struct run *r, struct dk_client *c, struct job *jb, struct rc_err *err)
{
	const struct rc_unit *u = jb->u;
	if (apply_interrupted(r->o))  /* queued before a stop request: not begun */
		return rc_errf(err, "interrupted before '%s'", u->container);
	/* back on the networks recreated under it — the container the actions act on (a replacement's
	 * old one too: put back if the new one fails, it must be on them); a new one gets them at create */
	bool rejoined = false;
	if (jb->nrejoin && !(jb->nacts && jb->acts[0]->kind == PLAN_CREATE)) {
		const char *target = jb->nacts ? jb->acts[0]->container_id : u->container;
		if (rejoin(c, jb, target, err) < 0)
			return -1;
		rejoined = true;
	}
	bool started = false; /* an action started a container (or made a new one) */
	bool fresh = false;   /* a new container was made in this job: later steps act on it */
	for (size_t i = 0; i < jb->nacts && !fresh; i++) {
		const struct plan_action *a = jb->acts[i];
		/* the engine cannot lift a memory or CPU limit or a reservation in place: replace instead */
		enum plan_kind kind = a->kind == PLAN_UPDATE && lifts_limit(a) ? PLAN_RECREATE : a->kind;
		free(jb->id);
		jb->id = NULL;
		switch (kind) {
		case PLAN_RECREATE:
			if (replace_unit(r, c, jb, a->container_id, err) < 0)
				return -1;
			fresh = started = true;
			break;
		case PLAN_CREATE:
			if (apply_create_start(r, c, u, &jb->id, &jb->needs_wait, err) < 0)
				return -1;
			fresh = started = true;
			break;
		case PLAN_UPDATE: {
			jb->id = xstrdup(a->container_id);
			struct dk_resources res = {
				.nano_cpus = u->nano_cpus,
				.memory = u->memory,
				.memory_reservation = u->memory_reservation, /* 0: unchanged (none to lift) */
				.pids_limit = u->pids_limit ? u->pids_limit : -1,
				.restart_policy = u->restart.policy,
				.restart_max_retries = u->restart.max_retries,
				.fields = u->fields,   /* the spec-key table's in-place rows */
			};
			if (dk_container_update(c, a->container_id, &res, NULL, err) < 0)
				return rc_err_prefix(err, "updating '%s'", u->container);
			struct buf spec = BUF_INIT, lines = BUF_INIT;
			spec_canonical(u, true, &spec);
			planner_resource_lines(buf_cstr(&spec), &lines);
			pthread_mutex_lock(&r->mu);
			state_set_inplace(r->st, a->container_id, u->hash, buf_cstr(&lines));
			pthread_mutex_unlock(&r->mu);
			buf_release(&spec);
			buf_release(&lines);
			break;
		}
		case PLAN_START: {
			jb->id = xstrdup(a->container_id);
			struct dk_status ds;
			if (apply_start_unit(r, c, u, a->container_id, &ds, err) < 0)
				return rc_err_prefix(err, "starting '%s'", u->container);
			jb->needs_wait = true;
			started = true;
			break;
		}
		default:
			BUG("action %d in the up phase", (int)a->kind);
		}
	}
	/* the network's job stopped it: it runs again, and is waited for as a start is */
	if (rejoined && !started && u->running) {
		const char *target = jb->id ? jb->id : u->container;
		struct dk_status ds;
		apply_before_start(r, u);
		if (dk_container_start(c, target, &ds, err) < 0)
			return rc_err_prefix(err, "starting '%s' again on its recreated network", u->container);
		jb->needs_wait = true;
		if (!jb->id)  /* its id, for the events that tell when it is ready */
			return inspect_into(c, jb, u->container, err);
	}
	/* the address an http probe needs is known once the container runs */
	if (jb->needs_wait && u->health.kind == RC_HEALTH_HTTP)
		return inspect_into(c, jb, jb->id, err);
	return 0;
}

/* A worker: run the job's current step. */
static void job_step(void *ctx, int worker, size_t j)
{
	struct run *r = ctx;
	struct job *jb = &r->jobs[j];
	struct dk_client *c = r->clients[worker];
	struct rc_err *err = &jb->err;
	err->msg[0] = '\0';
	jb->inspected = false;
	switch (jb->step) {
	case STEP_UP:
		jb->rc = jb->net ? apply_net_create(r, c, jb->net) : step_up(r, c, jb, err);
		break;
	case STEP_INSPECT:
		jb->rc = inspect_into(c, jb, jb->id ? jb->id : jb->u->container, err);
		break;
	case STEP_FINISH: {
		struct dk_status ds;
		if (jb->start_first) {
			jb->rc = apply_swap_in(c, jb->u, jb->id, jb->old_id, err);
			break;
		}
		if (apply_remove(c, jb->old_id, &ds, err) < 0 && ds.http != 404)
			log_warn("unit '%s': removing the replaced container: %s (the next run removes it)", jb->u->id,
				 err->msg);
		jb->rc = 0;
		break;
	}
	case STEP_RESTORE:
		if (jb->start_first) {
			struct dk_status ds;
			struct rc_err e2 = { 0 };
			if (apply_remove(c, jb->id, &ds, &e2) < 0 && ds.http != 404)
				rc_errf(err, "%s; the old container runs on (never stopped); removing the new one: %s",
					jb->why, e2.msg);
			else
				rc_errf(err, "%s; the old container runs on (never stopped)", jb->why);
			jb->restored = true;
		} else {
			apply_restore_old(r, c, jb->u, jb->id, jb->old_id, jb->why, &jb->restored, err);
		}
		err->engine_fault = jb->fault;  /* why it was restored is what counts */
		jb->rc = -1;
		break;
	}
}

/* The coordinator's view of the rollout. */
struct roll {
	struct run *r;
	struct workq *q;
	struct dk_client *c;              /* the caller's: the event stream */
	struct dk_events *ev;
	unsigned epoch;                   /* bumped each time the stream is (re)opened */
	int64_t ev_retry;                 /* when to try opening the stream again */
	int64_t ev_poll;                  /* without a stream: when to inspect the waiting units again */
	char *project_label;
	struct health_probes *probes;
	int64_t blind_max;                /* a wait the engine leaves blind this long ends (as a fault) */
	size_t ndone, nfailed, nwaiting_health;
	bool interrupted;
	bool fault;                       /* a job failed because the engine did: nothing new starts */
	int64_t t0, last_line;
	const char *slowest;
	int64_t slowest_ns;
};

static void dispatch(struct roll *R, size_t j, enum jstep step)
{
	struct job *jb = &R->r->jobs[j];
	jb->state = J_QUEUED;
	jb->step = step;
	jb->epoch = R->epoch;
	workq_push(R->q, j);
}

static void job_done(struct roll *R, size_t j, enum job_end end, const char *msg);

/* Dependents of a failed job: a watch's fail (their dependency is not ready); others are skipped.
 * A failure that was the engine's is theirs too. */
static void fail_dependents(struct roll *R, size_t j)
{
	struct run *r = R->r;
	struct job *jb = &r->jobs[j];
	for (size_t k = 0; k < jb->nrdeps; k++) {
		size_t d = jb->rdeps[k];
		if (r->jobs[d].state != J_PENDING)
			continue;
		if (jb->watch || jb->net) {
			_cleanup_free_ char *m = jb->net ? xasprintf("not started: network '%s' could not be %s",
								       jb->net->network,
								       jb->net->kind == PLAN_NET_RECREATE ? "recreated"
													  : "created")
							 : xasprintf("dependency '%s': %s", jb->u->id, jb->why);
			r->jobs[d].t0 = now_ns();
			job_done(R, d, failed_by(jb->fault), m);
		} else {
			r->jobs[d].state = J_DONE;
			r->jobs[d].fault = jb->fault;
			R->ndone++;
			R->nfailed++;
			_cleanup_free_ char *m = xasprintf("not started: dependency '%s' failed", jb->u->id);
			struct job *dj = &r->jobs[d];
			apply_record(r, &(struct step_note){ .what = dj->label, .unit = dj->u->id, .status = APPLY_SKIPPED,
							     .msg = m, .engine_fault = jb->fault });
			fail_dependents(R, d);
		}
	}
}

/* A job is over.  fault (with !ok): it failed because the engine did, which decides nothing about
 * the unit; nothing new is started after it (the rollout loop ends the pending jobs). */
static void job_done(struct roll *R, size_t j, enum job_end end, const char *msg)
{
	bool ok = end == JOB_OK, fault = end == JOB_FAULT;
	struct run *r = R->r;
	struct job *jb = &r->jobs[j];
	if (jb->state == J_DONE)
		return;
	jb->state = J_DONE;
	R->ndone++;
	int64_t ns = now_ns() - jb->t0;
	if (!ok) {
		R->nfailed++;
		apply_msgf(jb->why, sizeof jb->why, "%s", msg ? msg : "failed");
		jb->fault = fault;
		if (fault && !R->fault) {
			R->fault = true;
			log_warn("rollout: the engine failed (%s); nothing new is started", msg ? msg : "?");
		}
	}
	if (jb->net)
		;  /* net_create() recorded it */
	else if (!jb->watch)
		apply_record(r, &(struct step_note){ .what = jb->label, .unit = jb->u->id,
						     .status = ok ? APPLY_OK : APPLY_FAILED, .msg = msg,
						     .engine_fault = !ok && fault, .ns = ns });
	else if (!ok && jb->report)
		apply_record(r, &(struct step_note){ .what = jb->label, .unit = jb->u->id, .status = APPLY_FAILED,
						     .msg = msg, .engine_fault = fault, .ns = ns });
	if (ok && !jb->watch && !jb->net) {
		apply_crash_point("after-job");
		if (jb->needs_wait && ns > R->slowest_ns) {
			R->slowest_ns = ns;
			R->slowest = jb->u->id;
		}
	}
	if (!ok) {
		fail_dependents(R, j);
		return;
	}
	for (size_t k = 0; k < jb->nrdeps; k++) {
		size_t d = jb->rdeps[k];
		struct job *dj = &r->jobs[d];
		if (dj->state == J_PENDING && --dj->nwait == 0 && !R->interrupted && !R->fault) {
			dj->t0 = now_ns();
			dispatch(R, d, STEP_UP);
		}
	}
}

/* Is the wait over?  Acts on the verdict. */
static void evaluate(struct roll *R, size_t j)
{
	struct run *r = R->r;
	struct job *jb = &r->jobs[j];
	if (jb->state != J_WAITING)
		return;
	char why[256];
	enum ready_verdict v = ready_eval(jb->u, jb->need, &jb->obs, why, sizeof why);
	double secs = (double)(now_ns() - jb->wait_t0) / 1e9;
	if (v == READY_WAIT) {
		apply_msgf(jb->why, sizeof jb->why, "%s", why);
		if (jb->blind && now_ns() - jb->blind_since > R->blind_max) {
			/* no need to sit out the bound: the daemon tries again once the engine answers */
			jb->fault = true;
			apply_msgf(why, sizeof why, "waiting for '%s': the engine has not answered for %.0fs (%s)",
			     jb->u->container, (double)(now_ns() - jb->blind_since) / 1e9, jb->why);
			v = READY_FAIL;
		} else if (now_ns() > jb->deadline) {
			bool want_health = jb->u->health.kind != RC_HEALTH_NONE;
			/* the engine did not answer the last look at it: the bound proves nothing */
			jb->fault = jb->blind;
			apply_msgf(why, sizeof why, "'%s' not %s after %.0fs (%s%s)", jb->u->container,
				 want_health ? "healthy" : jb->need == RC_DEP_COMPLETED ? "completed" : "running",
				 (double)(jb->deadline - jb->wait_t0) / 1e9, jb->blind ? "the engine failed: " : "",
				 jb->why);
			v = READY_FAIL;
		} else {
			return;
		}
	}
	if (v == READY_OK) {
		if (strcmp(why, "started") == 0)
			apply_msgf(jb->note, sizeof jb->note, "started");
		else
			apply_msgf(jb->note, sizeof jb->note, "%s after %.1fs", why, secs);
		if (jb->old_id) {
			dispatch(R, j, STEP_FINISH);
			return;
		}
		job_done(R, j, JOB_OK, jb->note);
		return;
	}
	apply_msgf(jb->why, sizeof jb->why, "%s", why);
	if (jb->old_id) {
		dispatch(R, j, STEP_RESTORE);  /* keeps jb->fault */
		return;
	}
	job_done(R, j, failed_by(jb->fault), why);
}

/* Start following a job's container: what the step inspected, then what the stream told since. */
static void begin_wait(struct roll *R, size_t j, bool fresh_wait)
{
	struct job *jb = &R->r->jobs[j];
	int64_t now = now_ns();
	if (fresh_wait) {
		jb->wait_t0 = now;
		int64_t bound = apply_unit_bound_ns(jb->u, R->r->o);
		jb->deadline = now + bound;
		jb->obs = (struct ready_obs)READY_OBS_INIT;
	}
	jb->state = J_WAITING;
	bool replay_all = !jb->inspected;
	if (jb->inspected) {
		int http = jb->obs.http;
		jb->obs = jb->insp;
		jb->obs.http = http;
	}
	/* Events that came before the job knew its container.  Its own new container: every event
	 * since its creation is here (the stream was open before), so replay them all.  After an
	 * inspect: only what can follow it (a "start" seen before the inspect is in it already). */
	for (size_t i = 0; i < jb->nearly; i++) {
		struct early_event *e = &jb->early[i];
		if (!jb->id || strcmp(e->id, jb->id) != 0)
			continue;
		if (!replay_all && strcmp(e->action, "start") == 0)
			continue;
		ready_from_event(&jb->obs, jb->u, e->action, e->exit_code);
	}
	early_clear(jb);
	jb->next_probe = now;
	evaluate(R, j);
}

/* A step came back from the workers. */
static void collected(struct roll *R, size_t j)
{
	struct run *r = R->r;
	struct job *jb = &r->jobs[j];
	switch (jb->step) {
	case STEP_UP:
		if (jb->rc < 0) {
			job_done(R, j, failed_by(jb->err.engine_fault), jb->err.msg);
			return;
		}
		if (jb->net) {
			job_done(R, j, JOB_OK, NULL);
			return;
		}
		if (!jb->needs_wait) {
			job_done(R, j, JOB_OK, NULL);
			return;
		}
		if (R->interrupted) {
			job_done(R, j, JOB_FAILED, "interrupted after its start");
			return;
		}
		/* the stream was lost while the step ran: its events may be missing */
		if (!jb->inspected && (jb->epoch != R->epoch || !R->ev || jb->early_lost)) {
			jb->wait_t0 = now_ns();
			jb->deadline = jb->wait_t0 + apply_unit_bound_ns(jb->u, r->o);
			jb->obs = (struct ready_obs)READY_OBS_INIT;
			early_clear(jb);
			dispatch(R, j, STEP_INSPECT);
			jb->needs_wait = true;
			return;
		}
		begin_wait(R, j, true);
		return;
	case STEP_INSPECT:
		if (jb->rc < 0) {
			/* the engine did not answer: look again soon, within the unit's bound */
			jb->state = J_WAITING;
			if (jb->err.engine_fault && !jb->blind)
				jb->blind_since = now_ns();
			jb->blind = jb->err.engine_fault;
			apply_msgf(jb->why, sizeof jb->why, "%s", jb->err.msg);
			evaluate(R, j);
			return;
		}
		jb->blind = false;
		begin_wait(R, j, jb->wait_t0 == 0);
		return;
	case STEP_FINISH:
		if (jb->rc < 0)
			job_done(R, j, failed_by(jb->err.engine_fault), jb->err.msg);
		else
			job_done(R, j, JOB_OK, jb->note);
		return;
	case STEP_RESTORE:
		job_done(R, j, failed_by(jb->err.engine_fault), jb->err.msg);
		return;
	}
}

static struct job *job_of_unit(struct run *r, const char *unit)
{
	if (!unit)
		return NULL;
	for (size_t k = 0; k < r->njobs; k++)
		if (r->jobs[k].u && strcmp(r->jobs[k].u->id, unit) == 0)
			return &r->jobs[k];
	return NULL;
}

static void on_event(struct roll *R, const struct dk_event *e)
{
	struct job *jb = job_of_unit(R->r, dk_event_attr(e, RC_LABEL_UNIT));
	if (!jb || jb->state == J_DONE || jb->state == J_PENDING)
		return;
	const char *ec = dk_event_attr(e, "exitCode");
	int code = ec ? atoi(ec) : 0;
	if (jb->state == J_WAITING && jb->id && strcmp(jb->id, e->id) == 0) {
		jb->blind = false;  /* the engine speaks of it */
		ready_from_event(&jb->obs, jb->u, e->action, code);
		evaluate(R, (size_t)(jb - R->r->jobs));
		return;
	}
	if (jb->state != J_QUEUED)
		return;
	if (jb->nearly == EARLY_MAX) {
		jb->early_lost = true;
		return;
	}
	jb->early[jb->nearly++] = (struct early_event){ xstrdup(e->id), xstrdup(e->action), code };
}

static void on_probe(void *ctx, size_t j, int healthy, const char *why)
{
	struct roll *R = ctx;
	struct job *jb = &R->r->jobs[j];
	jb->probing = false;
	if (jb->state != J_WAITING)
		return;
	jb->obs.http = healthy;
	if (!healthy)
		apply_msgf(jb->why, sizeof jb->why, "%s", why);
	evaluate(R, j);
	if (jb->state == J_WAITING && !healthy)
		apply_msgf(jb->why, sizeof jb->why, "%s", why);
}

static int64_t probe_interval_ns(const struct rc_unit *u)
{
	int64_t iv = u->health.interval_ns;
	if (iv <= 0 || iv > NS_PER_S)
		iv = NS_PER_S / 4;
	return iv < NS_PER_S / 10 ? NS_PER_S / 10 : iv;
}

static void events_open_roll(struct roll *R)
{
	struct dk_filter f[] = {
		{ "type", "container" }, { "label", R->project_label }, { "event", "start" }, { "event", "die" },
		{ "event", "destroy" }, { "event", "oom" }, { "event", "health_status" },
	};
	struct rc_err err = { 0 };
	if (dk_events_open(R->c, f, ARRAY_SIZE(f), 0, &R->ev, &err) < 0) {
		R->ev = NULL;
		R->ev_retry = now_ns() + NS_PER_S;
		log_warn("rollout: cannot follow engine events (%s); inspecting the waiting units every second", err.msg);
		return;
	}
	R->epoch++;
}

/* What the rollout is doing, for a person watching. */
static void progress_line(struct roll *R, bool force)
{
	struct run *r = R->r;
	if (!r->o->progress || !r->o->progress_line)
		return;
	int64_t now = now_ns();
	if (!force && now - R->last_line < (r->tty ? NS_PER_S / 4 : 10 * NS_PER_S))
		return;
	R->last_line = now;
	size_t total = 0, engine = 0, waiting = 0, ready = 0, pending = 0;
	for (size_t k = 0; k < r->njobs; k++) {
		const struct job *jb = &r->jobs[k];
		if (jb->watch || jb->net)
			continue;
		total++;
		switch (jb->state) {
		case J_PENDING: pending++; break;
		case J_QUEUED: engine++; break;
		case J_WAITING: waiting++; break;
		case J_DONE: break;
		}
	}
	size_t failed = 0;
	pthread_mutex_lock(&r->mu);
	failed = r->out->nfailed;
	pthread_mutex_unlock(&r->mu);
	size_t done = 0;
	for (size_t k = 0; k < r->njobs; k++)
		done += !r->jobs[k].watch && !r->jobs[k].net && r->jobs[k].state == J_DONE;
	ready = done >= failed ? done - failed : 0;
	pthread_mutex_lock(&r->mu);
	if (r->tty)
		fputs("\r\033[K", stdout);
	printf("converging %zu/%zu: %zu pending, %zu at the engine, %zu waiting for health, %zu ready, %zu failed",
	       done, total, pending, engine, waiting, ready, failed);
	if (r->tty) {
		r->line_shown = true;
	} else {
		putchar('\n');
	}
	fflush(stdout);
	pthread_mutex_unlock(&r->mu);
}

static void end_progress_line(struct run *r)
{
	pthread_mutex_lock(&r->mu);
	if (r->line_shown) {
		fputs("\r\033[K", stdout);
		fflush(stdout);
		r->line_shown = false;
	}
	pthread_mutex_unlock(&r->mu);
}

/* A stop request: nothing new starts; waits end (also those that begin later: a step in flight at
 * the request still comes back).  Whether it ended any job. */
static bool end_for_interrupt(struct roll *R)
{
	struct run *r = R->r;
	bool any = false;
	for (size_t k = 0; k < r->njobs; k++) {
		struct job *jb = &r->jobs[k];
		if (jb->state == J_PENDING && !jb->watch && !jb->net) {
			_cleanup_free_ char *m = xasprintf("interrupted before '%s'", jb->u->container);
			job_done(R, k, JOB_FAILED, m);
			any = true;
		} else if (jb->state == J_WAITING) {
			bool want_health = jb->u->health.kind != RC_HEALTH_NONE;
			_cleanup_free_ char *m = xasprintf("interrupted while waiting for '%s' to be %s (%s)",
							   jb->u->container, want_health ? "healthy" : "completed",
							   jb->why);
			job_done(R, k, JOB_FAILED, m);
			any = true;
		}
	}
	return any;
}

/* Start jb's next http probe when it is due; else lower *timeout (ms) to when it is. */
static void probe_due(struct roll *R, size_t k, int64_t now, int *timeout)
{
	struct job *jb = &R->r->jobs[k];
	const struct rc_health *h = &jb->u->health;
	if (now < jb->next_probe) {
		int64_t left = (jb->next_probe - now) / NS_PER_MS + 1;
		if (left < *timeout)
			*timeout = (int)left;
		return;
	}
	if (!jb->ip) {
		apply_msgf(jb->why, sizeof jb->why, "no address yet");
		dispatch(R, k, STEP_INSPECT);
		return;
	}
	uint16_t port = h->http_port ? h->http_port : (jb->u->nports ? jb->u->ports[0].container_port : 80);
	int64_t to = h->timeout_ns ? h->timeout_ns / NS_PER_MS : 5000;
	jb->probing = true;
	jb->next_probe = now + probe_interval_ns(jb->u);
	health_probes_start(R->probes, k, jb->ip, port, h->http_path, to);
}

/* Deadlines, probes and (without a stream) inspects of the waiting jobs; *timeout (ms) lowered to
 * the next probe. */
static void tend_waiting(struct roll *R, int64_t now, int *timeout)
{
	struct run *r = R->r;
	bool poll_now = !R->ev && now >= R->ev_poll;
	for (size_t k = 0; k < r->njobs; k++) {
		struct job *jb = &r->jobs[k];
		if (jb->state != J_WAITING)
			continue;
		if (now > jb->deadline || (jb->blind && now - jb->blind_since > R->blind_max))
			evaluate(R, k);
		else if (poll_now)
			dispatch(R, k, STEP_INSPECT);
		else if (jb->u->health.kind == RC_HEALTH_HTTP && jb->obs.running && !jb->probing)
			probe_due(R, k, now, timeout);
	}
	if (poll_now)
		R->ev_poll = now + NS_PER_S;
	if (!R->ev && now >= R->ev_retry) {
		events_open_roll(R);
		if (R->ev) {
			/* events while it was down are not replayed: look at every waiting unit once */
			for (size_t k = 0; k < r->njobs; k++)
				if (r->jobs[k].state == J_WAITING)
					dispatch(R, k, STEP_INSPECT);
		}
	}
}

/* Wait up to timeout ms for an event, a probe or a step, and act on what came. */
static void wait_once(struct roll *R, int timeout, size_t *got)
{
	struct run *r = R->r;
	struct pollfd fds[64];
	size_t nfds = 0;
	fds[nfds++] = (struct pollfd){ .fd = workq_fd(R->q), .events = POLLIN };
	nfds += health_probes_fds(R->probes, fds + nfds, ARRAY_SIZE(fds) - nfds, &timeout);
	if (R->ev) {
		struct dk_event e = { 0 };
		struct rc_err err = { 0 };
		int er = dk_events_poll(R->ev, timeout, fds, nfds, &e, &err);
		if (er == 1) {
			on_event(R, &e);
			dk_event_release(&e);
		} else if (er < 0) {
			log_warn("rollout: engine events: %s; following the waiting units by inspect until it is back",
				 err.msg);
			dk_events_close(R->ev);
			R->ev = NULL;
			R->ev_retry = now_ns() + NS_PER_S / 2;
			R->ev_poll = 0;
		}
	} else {
		poll(fds, nfds, timeout);
	}
	health_probes_perform(R->probes, on_probe, R);
	size_t n = workq_collect(R->q, got, r->njobs + 1);
	for (size_t i = 0; i < n; i++)
		collected(R, got[i]);
}

/* The loop: release ready jobs, follow events and probes, collect steps, until every job is done. */
static void rollout_loop(struct roll *R)
{
	struct run *r = R->r;
	size_t *got = xcalloc(r->njobs + 1, sizeof(size_t));
	events_open_roll(R);
	R->probes = health_probes_new();
	R->last_line = now_ns();
	for (size_t k = 0; k < r->njobs; k++) {
		struct job *jb = &r->jobs[k];
		jb->t0 = now_ns();
		if (jb->watch)
			dispatch(R, k, STEP_INSPECT);
		else if (jb->nwait == 0)
			dispatch(R, k, STEP_UP);
	}
	while (R->ndone < r->njobs) {
		if (!R->interrupted && apply_interrupted(r->o))
			R->interrupted = true;
		if (R->interrupted && end_for_interrupt(R))
			continue;
		/* the engine failed a job: nothing new starts (each would only meet the same engine);
		 * what is under way ends on its own */
		for (size_t k = 0; R->fault && k < r->njobs; k++) {
			struct job *jb = &r->jobs[k];
			if (jb->state == J_PENDING && !jb->watch && !jb->net)
				job_done(R, k, JOB_FAULT, "not started: the engine failed meanwhile");
		}
		int timeout = 250;
		tend_waiting(R, now_ns(), &timeout);
		if (R->ndone >= r->njobs)
			break;
		progress_line(R, false);
		wait_once(R, timeout, got);
	}
	end_progress_line(r);
	free(got);
	health_probes_free(R->probes);
	dk_events_close(R->ev);
	R->ev = NULL;
}

static bool warming(const struct rc_unit *u, const struct plan_observed *o)
{
	if (!u->running || u->health.kind != RC_HEALTH_CMD)
		return false;
	for (size_t i = 0; i < o->ncontainers; i++)
		if (str_eq(o->containers[i].name, u->container))
			return str_eq(o->containers[i].health, "starting") && str_eq(o->containers[i].state, "running");
	return false;
}

size_t apply_warming(const struct rc_desired *d, const struct plan_observed *o)
{
	size_t n = 0;
	for (size_t i = 0; i < d->nunits; i++)
		n += warming(&d->units[i], o);
	return n;
}

/* Add a watch for u (no work of its own) needing cond; report: recorded when it fails. */
static size_t add_watch(struct run *r, const struct rc_unit *u, enum rc_dep_cond cond, bool report)
{
	for (size_t k = 0; k < r->njobs; k++)
		if (r->jobs[k].u == u) {
			if (r->jobs[k].watch) {
				if (cond > r->jobs[k].need)
					r->jobs[k].need = cond;
				r->jobs[k].report |= report;
			}
			return k;
		}
	struct job *jb = &r->jobs[r->njobs];
	jb->u = u;
	jb->watch = true;
	jb->report = report;
	jb->need = cond;
	jb->label = xasprintf("= %s", u->id);
	return r->njobs++;
}
/* ---- the jobs and their graph ------------------------------------------- */

static bool is_up(enum plan_kind k)
{
	return k == PLAN_CREATE || k == PLAN_RECREATE || k == PLAN_UPDATE || k == PLAN_START;
}

/* Strongest condition any dependent (with work, or not) waits for on u; completed for a job. */
static enum rc_dep_cond needed_condition(const struct rc_desired *d, const struct rc_unit *u)
{
	if (u->job)  /* a job's work is done when it exited 0: a failure is the apply's */
		return RC_DEP_COMPLETED;
	enum rc_dep_cond need = RC_DEP_STARTED;
	for (size_t i = 0; i < d->nunits; i++)
		for (size_t k = 0; k < d->units[i].ndeps; k++)
			if (strcmp(d->units[i].deps[k].unit, u->id) == 0 && d->units[i].deps[k].cond > need)
				need = d->units[i].deps[k].cond;
	return need;
}

/* The job of unit u among jobs[from..r->njobs), made (without actions) when there is none. */
static struct job *job_for(struct run *r, size_t from, const struct rc_unit *u)
{
	for (size_t k = from; k < r->njobs; k++)
		if (r->jobs[k].u == u)
			return &r->jobs[k];
	struct job *jb = &r->jobs[r->njobs++];
	jb->u = u;
	jb->need = needed_condition(r->d, u);
	return jb;
}

/* A protected unit's action waits for approval: recorded as awaiting, unless approved. */
bool apply_held_for_approval(struct run *r, const struct plan_action *a)
{
	pthread_mutex_lock(&r->mu);
	bool approved = state_is_approved(r->st, a->unit, a->desired->hash);
	if (!approved)
		state_set_awaiting(r->st, a->unit, a->desired->hash, r->d->commit, 0);
	pthread_mutex_unlock(&r->mu);
	if (approved)
		return false;
	_cleanup_free_ char *what = xasprintf("%s %s", planner_action_marker(a->kind), a->unit);
	apply_record(r, &(struct step_note){ .what = what, .unit = a->unit, .status = APPLY_AWAITING,
					     .msg = a->cause });
	return true;
}

/* One job per network create, then one per unit with up-phase work; returns the number of network
 * jobs (they come first). */
static size_t add_work_jobs(struct run *r, const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == PLAN_NET_CREATE || p->v[i].kind == PLAN_NET_RECREATE)
			r->jobs[r->njobs++].net = &p->v[i];
	size_t nnet = r->njobs;
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		if (!is_up(a->kind) || !a->desired)
			continue;
		if (a->protected_ && apply_held_for_approval(r, a))
			continue;
		struct job *jb = job_for(r, nnet, a->desired);
		if (!jb->acts)
			jb->acts = xcalloc(p->n, sizeof(*jb->acts));
		jb->acts[jb->nacts++] = a;
	}
	/* The units on a recreated network: its job stops them; theirs connect them again and start
	 * them (after it, gated as any start), with their own actions if they have any. */
	for (size_t x = 0; x < nnet; x++) {
		const struct plan_action *na = r->jobs[x].net;
		if (na->kind != PLAN_NET_RECREATE)
			continue;
		for (size_t i = 0; i < r->d->nunits; i++) {
			const struct rc_unit *u = &r->d->units[i];
			if (!apply_unit_on(u, na->network))
				continue;
			struct job *jb = job_for(r, nnet, u);
			jb->rejoin = xrealloc(jb->rejoin, (jb->nrejoin + 1) * sizeof(*jb->rejoin));
			jb->rejoin[jb->nrejoin++] = na->network;
		}
	}
	for (size_t k = nnet; k < r->njobs; k++) {
		struct job *jb = &r->jobs[k];
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < jb->nacts; i++)
			buf_addf(&b, "%s%s", i ? "," : "", planner_action_marker(jb->acts[i]->kind));
		if (!jb->nacts)  /* only back on its recreated network(s) */
			buf_adds(&b, jb->u->running ? ">" : "~");
		buf_addf(&b, " %s", jb->u->id);
		jb->label = buf_detach(&b, NULL);
	}
	return nnet;
}

struct edges {
	size_t (*v)[2];                   /* {dependent, dependency} */
	size_t n;
};

static void edge(struct edges *E, size_t from, size_t to)
{
	E->v[E->n][0] = from;
	E->v[E->n][1] = to;
	E->n++;
}

/* Job k waits for the network jobs of its networks (and, when it makes a container, of its links:
 * a new container joins them at create; a start, an update or a rejoin does not touch them). */
static void network_edges(struct run *r, size_t nnet, size_t k, struct edges *E)
{
	const struct rc_unit *u = r->jobs[k].u;
	bool makes = false;
	for (size_t i = 0; i < r->jobs[k].nacts; i++)
		makes |= r->jobs[k].acts[i]->kind == PLAN_CREATE || r->jobs[k].acts[i]->kind == PLAN_RECREATE;
	size_t nnets = u->nnetworks + (makes ? u->nlinks : 0);
	for (size_t ni = 0; ni < nnets; ni++) {
		const char *net = ni < u->nnetworks ? u->networks[ni] : u->links[ni - u->nnetworks];
		for (size_t x = 0; x < nnet; x++)
			if (strcmp(r->jobs[x].net->network, net) == 0)
				edge(E, k, x);
	}
}

/* Job k waits for its dependencies' jobs.  Dependencies with no work in this apply gate their
 * dependents all the same (a container left running but not yet healthy: an apply killed after its
 * start, or one still warming up): they get a watch; those desired stopped are not waited for. */
static void dependency_edges(struct run *r, size_t nnet, size_t k, struct edges *E)
{
	const struct rc_unit *u = r->jobs[k].u;
	for (size_t di = 0; di < u->ndeps; di++) {
		const struct rc_dep *dep = &u->deps[di];
		size_t m = SIZE_MAX;
		for (size_t x = nnet; x < r->njobs && m == SIZE_MAX; x++)
			if (strcmp(r->jobs[x].u->id, dep->unit) == 0)
				m = x;
		if (m == SIZE_MAX || r->jobs[m].watch) {
			if (dep->cond == RC_DEP_STARTED)
				continue;
			const struct rc_unit *du = NULL;
			for (size_t x = 0; x < r->d->nunits && !du; x++)
				if (strcmp(r->d->units[x].id, dep->unit) == 0)
					du = &r->d->units[x];
			if (!du || !du->running)
				continue;
			m = add_watch(r, du, dep->cond, false);
		}
		edge(E, k, m);
	}
}

/* The jobs of plan p with their dependency counts and dependents. */
static void build_jobs(struct run *r, const struct plan *p)
{
	const struct rc_desired *d = r->d;
	const struct apply_opts *o = r->o;
	r->jobs = xcalloc(p->n + d->nunits + 1, sizeof(*r->jobs));
	size_t nnet = add_work_jobs(r, p);
	size_t nwork = r->njobs;
	size_t cap = 0;
	for (size_t k = nnet; k < nwork; k++)
		cap += r->jobs[k].u->ndeps + r->jobs[k].u->nnetworks + r->jobs[k].u->nlinks;
	struct edges E = { xcalloc(cap + 1, sizeof(*E.v)), 0 };
	for (size_t k = nnet; k < nwork; k++) {
		network_edges(r, nnet, k, &E);
		dependency_edges(r, nnet, k, &E);
	}
	/* See apply_opts.wait_unchanged and .observed. */
	if (o->wait_unchanged || o->observed)
		for (size_t i = 0; i < d->nunits; i++) {
			const struct rc_unit *u = &d->units[i];
			if (!u->running || u->job || u->health.kind == RC_HEALTH_NONE ||
			    state_is_disabled(r->st, u->id, NULL))
				continue;  /* a job without work completed already */
			if (!o->wait_unchanged && !warming(u, o->observed))
				continue;
			/* add_watch() leaves a unit with a job of its own as it is */
			add_watch(r, u, RC_DEP_STARTED, true);
		}
	for (size_t e = 0; e < E.n; e++) {
		struct job *dep = &r->jobs[E.v[e][1]];
		dep->rdeps = xrealloc(dep->rdeps, (dep->nrdeps + 1) * sizeof(size_t));
		dep->rdeps[dep->nrdeps++] = E.v[e][0];
		r->jobs[E.v[e][0]].nwait++;
	}
	free(E.v);
}

static void free_jobs(struct run *r)
{
	for (size_t k = 0; k < r->njobs; k++) {
		struct job *jb = &r->jobs[k];
		free(jb->acts);
		free(jb->rejoin);
		free(jb->label);
		free(jb->rdeps);
		free(jb->id);
		free(jb->old_id);
		free(jb->ip);
		early_clear(jb);
	}
	free(r->jobs);
	r->jobs = NULL;
	r->njobs = 0;
}

void apply_rollout(struct run *r, struct dk_client *c, const struct plan *p, int parallel)
{
	build_jobs(r, p);
	if (r->njobs) {
		int workers = (size_t)parallel < r->njobs ? parallel : (int)r->njobs;
		r->clients = xcalloc((size_t)workers, sizeof(*r->clients));
		for (int w = 0; w < workers; w++)
			r->clients[w] = dk_client_clone(c);
		struct roll R = { .r = r, .c = c, .t0 = now_ns() };
		/* twice the call timeout, at least 5 s: a few inspects (one a second) all without answer */
		R.blind_max = 2 * dk_client_timeout_ms(c) * NS_PER_MS;
		if (R.blind_max < 5 * NS_PER_S)
			R.blind_max = 5 * NS_PER_S;
		R.project_label = xasprintf("%s=%s", RC_LABEL_PROJECT, r->d->settings.project);
		R.q = workq_new(workers, job_step, r);
		rollout_loop(&R);
		workq_free(R.q);
		free(R.project_label);
		if (R.slowest) {
			r->out->slowest_unit = xstrdup(R.slowest);
			r->out->slowest_ns = R.slowest_ns;
		}
		for (int w = 0; w < workers; w++)
			dk_client_free(r->clients[w]);
		free(r->clients);
		r->clients = NULL;
	}
	free_jobs(r);
}
