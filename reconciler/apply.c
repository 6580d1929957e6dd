/* apply.c — see apply.h; the map of the executor's files is in apply_int.h. */
#include "apply_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <unistd.h>
#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "depsched.h"
#include "health.h"


const char *apply_status_name(enum apply_status s)
{
	switch (s) {
	case APPLY_OK: return "ok";
	case APPLY_FAILED: return "failed";
	case APPLY_SKIPPED: return "skipped";
	case APPLY_AWAITING: return "awaiting approval";
	}
	return "?";
}

void apply_crash_point(const char *name)
{
	const char *at = getenv("RECONCILER_TEST_CRASH_AT");
	if (at && strcmp(at, name) == 0)
		raise(SIGKILL);
}

/* ---- recording ---------------------------------------------------------- */

void apply_record(struct run *r, const struct step_note *n)
{
	const char *what = n->what, *unit = n->unit, *msg = n->msg;
	enum apply_status s = n->status;
	bool fault = n->engine_fault;
	int64_t ns = n->ns;
	pthread_mutex_lock(&r->mu);
	struct apply_result *out = r->out;
	out->steps = xrealloc(out->steps, (out->nsteps + 1) * sizeof(*out->steps));
	struct apply_step *step = &out->steps[out->nsteps++];
	step->what = xstrdup(what);
	step->unit = unit ? xstrdup(unit) : NULL;
	step->status = s;
	step->msg = msg ? xstrdup(msg) : NULL;
	step->ns = ns;
	step->engine_fault = fault && (s == APPLY_FAILED || s == APPLY_SKIPPED);
	if (s == APPLY_FAILED || s == APPLY_SKIPPED)
		out->nfailed++;
	if (step->engine_fault)
		out->nfaults++;
	if (s == APPLY_AWAITING)
		out->nawaiting++;
	struct state_journal_entry je = { .commit = r->d->commit, .action = what, .unit = unit,
					  .result = step->engine_fault ? "engine-fault" : apply_status_name(s),
					  .message = msg };
	struct rc_err err;
	if (state_journal(r->st, &je, &err) < 0)
		log_warn("%s", err.msg);
	if (r->o->progress) {
		if (r->line_shown) {
			fputs("\r\033[K", stdout);
			r->line_shown = false;
		}
		printf("%-8s %-40s %s\n", s == APPLY_OK ? "ok" : apply_status_name(s), what, msg ? msg : "");
		fflush(stdout);
	}
	pthread_mutex_unlock(&r->mu);
}

void apply_msgf(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, n, fmt, ap);
	va_end(ap);
}

struct rc_kv apply_kv(const char *k, const char *v)
{
	return (struct rc_kv){ (char *)(uintptr_t)k, (char *)(uintptr_t)v };
}

int apply_grace_s(int64_t grace_ns)
{
	return grace_ns > 0 ? (int)(grace_ns / NS_PER_S) : -1;
}

int apply_remove(struct dk_client *c, const char *id, struct dk_status *st, struct rc_err *err)
{
	return dk_container_remove(c, id, true /* force */, false /* keep volumes */, st, err);
}

/* ---- waiting for a unit ------------------------------------------------- */

int apply_default_parallel(void)
{
	return 8;
}

bool apply_interrupted(const struct apply_opts *o)
{
	return o->interrupted && o->interrupted(o->interrupted_ctx);
}

int64_t apply_unit_bound_ns(const struct rc_unit *u, const struct apply_opts *o)
{
	if (o->rollout_timeout_ns > 0)
		return o->rollout_timeout_ns;
	if (u->job && u->job_timeout_ns > 0)
		return u->job_timeout_ns;
	const struct rc_health *h = &u->health;
	int64_t interval = h->interval_ns ? h->interval_ns : 30 * NS_PER_S;
	int64_t timeout = h->timeout_ns ? h->timeout_ns : 30 * NS_PER_S;
	int retries = h->retries ? h->retries : 3;
	return h->start_period_ns + (int64_t)(retries + 1) * (interval + timeout) + 5 * NS_PER_S;
}

const char *apply_container_ip(const struct dk_container *ct, const struct rc_unit *u)
{
	for (size_t i = 0; i < u->nnetworks; i++) {
		const struct dk_net_attach *a = dk_container_network(ct, u->networks[i]);
		if (a && a->ip)
			return a->ip;
	}
	for (size_t i = 0; i < ct->nnetworks; i++)
		if (ct->networks[i].ip)
			return ct->networks[i].ip;
	return NULL;
}

int apply_http_probe(const struct dk_container *ct, const struct rc_unit *u, int64_t cap_ms, bool inside, char *why,
		     size_t whylen, bool *ret_inside)
{
	const char *ip = apply_container_ip(ct, u);
	if (!ip) {
		snprintf(why, whylen, "no address yet");
		return 0;
	}
	uint16_t port = u->health.http_port ? u->health.http_port : (u->nports ? u->ports[0].container_port : 80);
	int64_t to = u->health.timeout_ns ? u->health.timeout_ns / NS_PER_MS : 5000;
	if (cap_ms > 0 && to > cap_ms)
		to = cap_ms;
	return health_http_probe_in(inside ? ct->pid : 0, ct->id, ip, port, u->health.http_path, to, why, whylen,
				    ret_inside) == 1;
}
/* ---- phases ------------------------------------------------------------- */

/*
 * What is under n's name now, after the engine refused to create it: 1 the
 * network n asks for (labelled with our project and n's id, with n's subnet
 * when n has one, and n's internal flag: a run killed with this create in
 * flight had the engine finish it), 0 nothing (yet: a create the engine is
 * still finishing may not be visible), -1 something else, or no answer.
 */
static int net_there(struct dk_client *c, const struct rc_desired *d, const struct rc_network *n)
{
	struct dk_network *have = NULL;
	struct dk_status ds = { 0 };
	struct rc_err err = { 0 };
	if (dk_network_inspect(c, n->name, &have, &ds, &err) < 0)
		return ds.http == 404 ? 0 : -1;
	bool ok = str_eq(dk_label(have->labels, have->nlabels, RC_LABEL_PROJECT), d->settings.project) &&
		  str_eq(dk_label(have->labels, have->nlabels, RC_LABEL_NETWORK), n->id) &&
		  have->internal == n->internal &&
		  (!n->subnet || (have->nsubnets == 1 && str_eq(have->subnets[0], n->subnet)));
	dk_network_free(have);
	return ok ? 1 : -1;
}

/*
 * Create n; *ret_adopted when it was there already, as asked.  The engine
 * answers 409 (the name exists) or 403 (its pool overlaps another) both
 * for a network a killed run left — ours as asked: adopted — and, for a
 * moment, after a network of that subnet was removed or while others are
 * made side by side (the engine's address pools are shared): while nothing
 * stands under the name, the create is tried again, for about three seconds.
 */
static int net_make(struct dk_client *c, const struct rc_desired *d, const struct rc_network *n,
		    const struct dk_network_spec *ns, bool *ret_adopted, struct rc_err *err)
{
	*ret_adopted = false;
	for (int attempt = 0;; attempt++) {
		struct dk_status ds = { 0 };
		char *id = NULL;
		if (dk_network_create(c, ns, &id, &ds, err) == 0) {
			free(id);
			return 0;
		}
		if (ds.http != 409 && ds.http != 403)
			return -1;
		int there = net_there(c, d, n);
		if (there == 1) {
			*ret_adopted = true;
			return 0;
		}
		if (there < 0 || attempt >= 15)
			return -1;
		sleep_ms(200);
	}
}

bool apply_unit_on(const struct rc_unit *u, const char *network)
{
	for (size_t i = 0; i < u->nnetworks; i++)
		if (strcmp(u->networks[i], network) == 0)
			return true;
	return false;
}

/* Disconnect whatever is still attached to network id (running containers: the network's inspect lists them). */
static void net_disconnect_all(struct dk_client *c, const char *id)
{
	struct dk_network *n = NULL;
	struct rc_err ierr = { 0 };
	if (dk_network_inspect(c, id, &n, NULL, &ierr) < 0)
		return;
	for (size_t i = 0; i < n->ncontainers; i++)
		dk_network_disconnect(c, id, n->containers[i], true, NULL, &ierr);
	dk_network_free(n);
}

/*
 * The first half of NET_RECREATE: stop the containers of the units on the
 * network (each with its grace period; their jobs connect and start them
 * again once it is made anew), take them and the shared services on it — a
 * customer's link network — off it (a stopped container keeps it in its
 * config; the shared services run on, and net_create() connects them
 * again), disconnect whatever else is still attached, and remove it.  Only
 * the units on this network are stopped.
 */
static int net_takedown(struct run *r, struct dk_client *c, const struct plan_action *a, struct rc_err *err)
{
	for (size_t i = 0; i < r->d->nunits; i++) {
		const struct rc_unit *u = &r->d->units[i];
		bool on = apply_unit_on(u, a->network), link = false;
		for (size_t k = 0; k < u->nlinks && !link; k++)
			link = strcmp(u->links[k], a->network) == 0;
		if (!on && !link)
			continue;
		struct dk_status ds = { 0 };
		if (on && dk_container_stop(c, u->container, apply_grace_s(u->stop_grace_ns), &ds, err) < 0 && ds.http != 404)
			return rc_err_prefix(err, "stopping '%s' to recreate its network", u->container);
		/* running, or stopped and keeping it in its config (a shared service on a link: stopped by
		 * the job of another network it is on): off it; not on it is fine */
		struct rc_err e2 = { 0 };
		dk_network_disconnect(c, a->network, u->container, true, &ds, &e2);
	}
	apply_crash_point("after-network-stop");
	net_disconnect_all(c, a->network_id);
	struct dk_status ds = { 0 };
	int rc = dk_network_remove(c, a->network_id, &ds, err);
	if (rc < 0 && ds.http == 403) {  /* something joined meanwhile */
		net_disconnect_all(c, a->network_id);
		rc = dk_network_remove(c, a->network_id, &ds, err);
	}
	if (rc < 0 && ds.http != 404)
		return rc_err_prefix(err, "removing the network to recreate it");
	apply_crash_point("after-network-remove");
	return 0;
}

int apply_net_create(struct run *r, struct dk_client *c, const struct plan_action *a)
{
	const struct rc_network *n = a->desired_net;
	struct rc_kv labels[4] = { apply_kv(RC_LABEL_MANAGED, RC_MANAGED_BY), apply_kv(RC_LABEL_PROJECT, r->d->settings.project),
				   apply_kv(RC_LABEL_NETWORK, n->id) };
	size_t nl = 3;
	if (n->customer)
		labels[nl++] = apply_kv(RC_LABEL_CUSTOMER, n->customer);
	struct dk_network_spec ns = { .name = n->name, .labels = labels, .nlabels = nl,
				      .internal = n->internal, .subnet = n->subnet };
	struct rc_err err = { 0 };
	bool again = a->kind == PLAN_NET_RECREATE;
	_cleanup_free_ char *what = xasprintf("%s network %s", planner_action_marker(a->kind), n->name);
	int64_t t0 = now_ns();
	bool adopted = false;
	if (again && net_takedown(r, c, a, &err) < 0) {
		apply_record(r, &(struct step_note){ .what = what, .status = APPLY_FAILED, .msg = err.msg,
						     .engine_fault = err.engine_fault, .ns = now_ns() - t0 });
		return -1;
	}
	if ((!a->network_id || again) && net_make(c, r->d, n, &ns, &adopted, &err) < 0) {
		apply_record(r, &(struct step_note){ .what = what, .status = APPLY_FAILED, .msg = err.msg,
						     .engine_fault = err.engine_fault, .ns = now_ns() - t0 });
		return -1;
	}
	apply_crash_point("after-network");
	/* a link network: the shared services already there join it now (new ones join at create) */
	for (size_t i = 0; n->link_of && i < r->d->nunits; i++) {
		const struct rc_unit *u = &r->d->units[i];
		bool member = false;
		for (size_t k = 0; k < u->nlinks && !member; k++)
			member = strcmp(u->links[k], n->name) == 0;
		if (!member)
			continue;
		struct dk_status cs = { 0 };
		const char *al = u->service;
		if (dk_network_connect(c, n->name, u->container, &al, 1, &cs, &err) < 0 && cs.http != 404 &&
		    !strstr(err.msg, "already exists")) {
			rc_err_prefix(&err, "connecting '%s' to its customer's link network", u->container);
			apply_record(r, &(struct step_note){ .what = what, .status = APPLY_FAILED, .msg = err.msg,
							     .engine_fault = err.engine_fault, .ns = now_ns() - t0 });
			return -1;
		}
	}
	_cleanup_free_ char *msg = adopted ? xasprintf("there already (made by a run cut short): adopted%s%s",
						      n->subnet ? ", subnet " : "", n->subnet ? n->subnet : "")
				  : again ? xstrdup(a->cause)
				  : n->subnet ? xasprintf("subnet %s", n->subnet) : NULL;
	apply_record(r, &(struct step_note){ .what = what, .status = APPLY_OK, .msg = msg, .ns = now_ns() - t0 });
	return 0;
}

static int teardown_one(struct run *r, struct dk_client *c, const struct plan_action *a)
{
	struct rc_err err = { 0 };
	int64_t t0 = now_ns();
	const char *who = a->unit ? a->unit : a->container_name;
	_cleanup_free_ char *what = xasprintf("%s %s", planner_action_marker(a->kind), who);
	int64_t grace = a->desired ? a->desired->stop_grace_ns : r->d->settings.default_stop_grace_ns;
	int rc;
	if (a->kind == PLAN_STOP) {
		struct dk_status ds;
		rc = dk_container_stop(c, a->container_id, (int)(grace / NS_PER_S), &ds, &err);
	} else {
		rc = apply_stop_remove(c, a->container_id, grace, &err);
	}
	apply_record(r, &(struct step_note){ .what = what, .unit = a->unit,
					     .status = rc < 0 ? APPLY_FAILED : APPLY_OK,
					     .msg = rc < 0 ? err.msg : a->cause,
					     .engine_fault = rc < 0 && err.engine_fault, .ns = now_ns() - t0 });
	apply_crash_point("after-removal");
	return rc;
}

static int net_remove(struct run *r, struct dk_client *c, const struct plan_action *a)
{
	struct rc_err err = { 0 };
	struct dk_status ds;
	int64_t t0 = now_ns();
	_cleanup_free_ char *what = xasprintf("- network %s", a->network);
	int rc = dk_network_remove(c, a->network_id, &ds, &err);
	if (rc < 0 && ds.http == 403) {
		/* still joined: a shared service on a customer's link network (or a container left
		 * connected by hand): disconnect what is there, then remove it */
		struct dk_network *n = NULL;
		struct rc_err ierr = { 0 };
		if (dk_network_inspect(c, a->network_id, &n, NULL, &ierr) == 0) {
			for (size_t i = 0; i < n->ncontainers; i++)
				dk_network_disconnect(c, a->network_id, n->containers[i], true, NULL, &ierr);
			dk_network_free(n);
			rc = dk_network_remove(c, a->network_id, &ds, &err);
		}
	}
	if (rc < 0 && ds.http == 404)
		rc = 0;
	apply_record(r, &(struct step_note){ .what = what, .status = rc < 0 ? APPLY_FAILED : APPLY_OK,
					     .msg = rc < 0 ? err.msg : NULL,
					     .engine_fault = rc < 0 && err.engine_fault, .ns = now_ns() - t0 });
	return rc;
}

/*
 * Actions that do not depend on each other, side by side on a pool of at
 * most `parallel` workers, one client each: each wave of the teardown
 * (phase 2) and the network removals (phase 4).
 */
typedef int (*action_fn)(struct run *r, struct dk_client *c, const struct plan_action *a);

struct pool_run {
	struct run *r;
	struct dk_client **clients;
	const struct plan_action **acts;
	action_fn fn;
};

static int pool_job(void *ctx, int worker, size_t j, struct rc_err *err)
{
	struct pool_run *pr = ctx;
	if (pr->fn(pr->r, pr->clients[worker], pr->acts[j]) < 0)
		return rc_errf(err, "%s", planner_action_marker(pr->acts[j]->kind));
	return 0;
}

/* Run acts[0..n); ret_ok (may be NULL) gets whether each succeeded. */
static void run_side_by_side(struct run *r, struct dk_client *c, const struct plan_action **acts, size_t n,
			     int parallel, action_fn fn, bool *ret_ok)
{
	if (!n)
		return;
	int workers = (size_t)parallel < n ? parallel : (int)n;
	struct pool_run pr = { r, xcalloc((size_t)workers, sizeof(struct dk_client *)), acts, fn };
	for (int w = 0; w < workers; w++)
		pr.clients[w] = dk_client_clone(c);
	struct sched_graph g = { n, xcalloc(n, sizeof(size_t *)), xcalloc(n, sizeof(size_t)) };
	struct sched_result *res = xcalloc(n, sizeof(*res));
	sched_run(&g, workers, pool_job, &pr, NULL, res);
	for (size_t k = 0; ret_ok && k < n; k++)
		ret_ok[k] = res[k].status == SCHED_OK;
	sched_results_release(res, n);
	free(res);
	sched_graph_release(&g);
	for (int w = 0; w < workers; w++)
		dk_client_free(pr.clients[w]);
	free(pr.clients);
}

/* Phase 4: the network removals, side by side. */
static void net_remove_phase(struct run *r, struct dk_client *c, const struct plan *p, int parallel)
{
	const struct plan_action **acts = xcalloc(p->n + 1, sizeof(*acts));
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == PLAN_NET_REMOVE)
			acts[n++] = &p->v[i];
	run_side_by_side(r, c, acts, n, parallel, net_remove, NULL);
	free(acts);
}

/*
 * Phase 2: stops and removals in the plan's order (units gone from the
 * manifests first, then the desired units', each from dependents down), a
 * run of consecutive actions of the same group and dependency wave at a
 * time: nothing in one wave depends on anything else in it.
 */
static void teardown_phase(struct run *r, struct dk_client *c, const struct plan *p, int parallel)
{
	const struct plan_action **acts = xcalloc(p->n + 1, sizeof(*acts));
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		if (a->kind != PLAN_STOP && a->kind != PLAN_REMOVE)
			continue;
		if (n && (acts[n - 1]->wave != a->wave || acts[n - 1]->gone != a->gone)) {
			run_side_by_side(r, c, acts, n, parallel, teardown_one, NULL);
			n = 0;
		}
		acts[n++] = a;
	}
	run_side_by_side(r, c, acts, n, parallel, teardown_one, NULL);
	free(acts);
}

int apply_run(struct dk_client *c, const struct rc_desired *d, const struct plan *p,
	      struct rc_state *st, const struct apply_opts *o, struct apply_result *ret)
{
	memset(ret, 0, sizeof(*ret));
	struct run r = { .d = d, .st = st, .o = o, .out = ret };
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.image_cv, NULL);
	r.tty = o->progress && isatty(STDOUT_FILENO);
	int parallel = o->parallel > 0 ? o->parallel : apply_default_parallel();

	/* 0. Persist the allocations before the first change: killed later, we
	 * would leave networks and containers holding subnets and host ports the
	 * state does not know, and a created, never started container publishes
	 * nothing in Docker's list, so the next run would hand its port out
	 * again. */
	struct rc_err serr = { 0 };
	if (state_save(st, &serr) < 0) {
		apply_record(&r, &(struct step_note){ .what = "save allocations", .status = APPLY_FAILED,
						      .msg = serr.msg });
		pthread_mutex_destroy(&r.mu);
		pthread_cond_destroy(&r.image_cv);
		return -1;
	}

	if (d->settings.engine == RC_ENGINE_SWARM) {  /* services instead of containers: apply_swarm.c */
		apply_swarm(&r, c, p);
		pthread_mutex_destroy(&r.mu);
		pthread_cond_destroy(&r.image_cv);
		return ret->nfailed ? -1 : 0;
	}

	/* 1. networks: created within the rollout (3), each before the units on it, side by side
	 * with the containers of the networks made before */

	/* 2. teardown, in the plan's order */
	int64_t t = now_ns();
	teardown_phase(&r, c, p, parallel);
	ret->phase_ns[0] = now_ns() - t;

	/* 3. rollout (apply_rollout.c) */
	t = now_ns();
	apply_rollout(&r, c, p, parallel);
	ret->phase_ns[1] = now_ns() - t;

	/* 4. networks no longer wanted */
	t = now_ns();
	net_remove_phase(&r, c, p, parallel);
	ret->phase_ns[2] = now_ns() - t;

	apply_images_release(&r);
	bindroot_reals_free(r.reals);
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.image_cv);
	return ret->nfailed ? -1 : 0;
}

void apply_result_release(struct apply_result *r)
{
	for (size_t i = 0; i < r->nsteps; i++) {
		free(r->steps[i].what);
		free(r->steps[i].unit);
		free(r->steps[i].msg);
	}
	free(r->steps);
	free(r->slowest_unit);
	memset(r, 0, sizeof(*r));
}

