/*
 * apply_swarm.c — phases 2-4 of apply_run() on a swarm (apply_int.h,
 * spec/swarm.md): a unit is a service (swarm.h builds its spec), so a
 * create is a service create, a recreate and an update are one service
 * update (Swarm replaces the tasks, one batch at a time, and rolls back on
 * its own when a new task fails), a start and a stop scale it to its
 * replicas and to 0, a removal removes it.
 *
 * Order: the Swarm secrets the services use (named by content), the overlay
 * networks, the removals and stops (the plan's order), then the rollout
 * one dependency wave at a time — every service of a wave asked for, then
 * the wave waited for from one service list and one task list per turn (not
 * one call per task), a unit whose dependency failed skipped — and last the
 * networks no longer wanted and the project's secrets no service uses.
 * Engine calls here are few and quick (the swarm does the work), so there
 * are no workers: one thread.
 */
#include "apply_int.h"

#include <string.h>

#include "docker_swarm.h"
#include "regauth.h"
#include "swarm.h"

#define WAIT_TURN_MS 500
#define SCHEDULE_BOUND_NS (300 * NS_PER_S)  /* to the first container of a spec, beyond the health bound */
#define MAX_FAILED_TASKS 3   /* tasks of the new spec that failed before the unit is failed */

/* The project's Swarm secrets: those there, those made for this run. */
struct secrets {
	struct dk_secret_list *have;
	struct swarm_secret_ref *refs;  /* name = rc_secret name: for the unit being built */
	char **names, **ids;            /* every swarm secret name -> id known (have + made) */
	size_t n, cap;
};

static void note_secret(struct secrets *s, const char *name, const char *id)
{
	GROW(s->names, s->n + 1, s->cap);
	s->ids = xrealloc(s->ids, s->cap * sizeof(char *));
	s->names[s->n] = xstrdup(name);
	s->ids[s->n++] = xstrdup(id);
}

static const char *secret_id(const struct secrets *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (str_eq(s->names[i], name))
			return s->ids[i];
	return NULL;
}

static void secrets_release(struct secrets *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->names[i]);
		free(s->ids[i]);
	}
	free(s->names);
	free(s->ids);
	free(s->refs);
	if (s->have)
		dk_secret_list_free(s->have);
	memset(s, 0, sizeof(*s));
}

/* Make the Swarm secrets of u that are not there; fill s->refs for u. */
static int ensure_secrets(struct run *r, struct dk_client *c, struct secrets *s, const struct rc_unit *u,
			  struct rc_err *err)
{
	free(s->refs);
	s->refs = xcalloc(u->nsecrets + 1, sizeof(*s->refs));
	for (size_t i = 0; i < u->nsecrets; i++) {
		const struct rc_secret *sec = &u->secrets[i];
		_cleanup_free_ char *name = swarm_secret_name(r->d->settings.project, sec);
		if (!secret_id(s, name)) {
			char *data = NULL, *id = NULL;
			size_t len = 0;
			/* as the loader read it: never through a link, only the state directory owner's file */
			if (!sec->path || read_private_file("secret", sec->path, 1 << 20, &data, &len, err) < 0)
				return rc_err_prefix(err, "secret '%s' of '%s'", sec->name, u->id);
			struct rc_kv labels[] = { apply_kv(RC_LABEL_MANAGED, RC_MANAGED_BY),
						  apply_kv(RC_LABEL_PROJECT, r->d->settings.project) };
			int rc = dk_secret_create(c, name, data, len, labels, 2, &id, NULL, err);
			explicit_bzero(data, len);
			free(data);
			if (rc < 0)
				return rc_err_prefix(err, "making the Swarm secret of '%s'", sec->name);
			note_secret(s, name, id);
			free(id);
		}
		/* the name stays valid: s->names owns it */
		for (size_t k = 0; k < s->n; k++)
			if (str_eq(s->names[k], name))
				s->refs[i] = (struct swarm_secret_ref){ sec->name, s->ids[k], s->names[k] };
	}
	return 0;
}

static int load_secrets(struct run *r, struct dk_client *c, struct secrets *s, struct rc_err *err)
{
	_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, r->d->settings.project);
	struct dk_filter f = { "label", label };
	if (dk_secret_list(c, &f, 1, &s->have, NULL, err) < 0)
		return rc_err_prefix(err, "listing the project's Swarm secrets");
	for (size_t i = 0; i < s->have->n; i++)
		note_secret(s, s->have->items[i].name, s->have->items[i].id);
	return 0;
}

/* ---- networks ------------------------------------------------------------ */

static void net_create(struct run *r, struct dk_client *c, const struct plan_action *a)
{
	const struct rc_network *n = a->desired_net;
	_cleanup_free_ char *what = xasprintf("%s network %s", planner_action_marker(a->kind), n->name);
	struct rc_err err = { 0 };
	int64_t t0 = now_ns();
	if (a->kind == PLAN_NET_RECREATE) {
		apply_record(r, &(struct step_note){ .what = what, .status = APPLY_FAILED, .ns = 0,
			.msg = "a swarm's overlay network is not recreated in place (its services hold it): "
			       "remove the network's services in one commit and bring them back in the next" });
		return;
	}
	struct rc_kv labels[4] = { apply_kv(RC_LABEL_MANAGED, RC_MANAGED_BY),
				   apply_kv(RC_LABEL_PROJECT, r->d->settings.project), apply_kv(RC_LABEL_NETWORK, n->id) };
	size_t nl = 3;
	if (n->customer)
		labels[nl++] = apply_kv(RC_LABEL_CUSTOMER, n->customer);
	struct dk_network_spec ns = { .name = n->name, .driver = "overlay", .attachable = true, .labels = labels,
				      .nlabels = nl, .internal = n->internal, .subnet = n->subnet };
	struct dk_status ds = { 0 };
	char *id = NULL;
	int rc = a->network_id ? 0 : dk_network_create(c, &ns, &id, &ds, &err);
	free(id);
	_cleanup_free_ char *msg = rc < 0 ? NULL : n->subnet ? xasprintf("overlay, subnet %s", n->subnet)
							      : xstrdup("overlay");
	apply_record(r, &(struct step_note){ .what = what, .status = rc < 0 ? APPLY_FAILED : APPLY_OK,
					     .msg = rc < 0 ? err.msg : msg, .engine_fault = err.engine_fault,
					     .ns = now_ns() - t0 });
}

/* A network's removal: the tasks of services removed just before may hold it a moment. */
static void net_remove(struct run *r, struct dk_client *c, const struct plan_action *a)
{
	_cleanup_free_ char *what = xasprintf("%s network %s", planner_action_marker(a->kind), a->network);
	struct rc_err err = { 0 };
	int64_t t0 = now_ns();
	int rc = -1;
	for (int attempt = 0; attempt < 60; attempt++) {
		struct dk_status ds = { 0 };
		memset(&err, 0, sizeof(err));
		rc = dk_network_remove(c, a->network_id, &ds, &err);
		if (rc == 0 || ds.http == 404) {
			rc = 0;
			break;
		}
		if (err.engine_fault || (ds.http != 403 && ds.http != 409 && !strstr(ds.message, "in use")))
			break;
		sleep_ms(WAIT_TURN_MS);
	}
	apply_record(r, &(struct step_note){ .what = what, .status = rc < 0 ? APPLY_FAILED : APPLY_OK,
					     .msg = rc < 0 ? err.msg : NULL, .engine_fault = err.engine_fault,
					     .ns = now_ns() - t0 });
}

/* ---- services --------------------------------------------------------------- */

/* The project's services now (with their versions), and the swarm's tasks. */
struct seen {
	struct dk_service_list *svcs;
	struct dk_task_list *tasks;
};

static void seen_release(struct seen *s)
{
	if (s->svcs)
		dk_service_list_free(s->svcs);
	if (s->tasks)
		dk_task_list_free(s->tasks);
	memset(s, 0, sizeof(*s));
}

static int look(struct run *r, struct dk_client *c, bool tasks, struct seen *s, struct rc_err *err)
{
	seen_release(s);
	_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, r->d->settings.project);
	struct dk_filter f = { "label", label };
	if (dk_service_list(c, &f, 1, &s->svcs, NULL, err) < 0)
		return rc_err_prefix(err, "listing services");
	if (tasks && dk_task_list(c, NULL, 0, &s->tasks, NULL, err) < 0)
		return rc_err_prefix(err, "listing tasks");
	return 0;
}

/* The version of service name now (one list of the project's services), or 0. */
static uint64_t version_now(struct run *r, struct dk_client *c, const char *name)
{
	struct seen s = { 0 };
	struct rc_err err = { 0 };
	uint64_t v = 0;
	if (look(r, c, false, &s, &err) == 0) {
		const struct dk_service *svc = dk_service_find(s.svcs, name);
		v = svc ? svc->version : 0;
	}
	seen_release(&s);
	return v;
}

/*
 * Update service id to sv at version: the orchestrator moves the version by itself while a rollout
 * of the service runs, and the engine refuses an update at an old one ("update out of sequence",
 * docker_swarm.h): read the version again and retry, a few times.
 */
static int update_at(struct run *r, struct dk_client *c, const char *id, uint64_t version,
		     const struct swarm_svc *sv, struct rc_err *err)
{
	for (int attempt = 0;; attempt++) {
		struct dk_status ds = { 0 };
		memset(err, 0, sizeof(*err));
		if (dk_service_update(c, id, version, &sv->spec, &ds, err) == 0)
			return 0;
		if (attempt >= 5 || !strstr(err->msg, "out of sequence"))
			return -1;
		sleep_ms(200 * (attempt + 1));
		uint64_t v = version_now(r, c, sv->spec.name);
		if (v)
			version = v;
	}
}

static void teardown(struct run *r, struct dk_client *c, struct secrets *sec, const struct plan *p)
{
	struct seen s = { 0 };
	struct rc_err lerr = { 0 };
	bool looked = false;
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		if (a->kind != PLAN_REMOVE && a->kind != PLAN_STOP)
			continue;
		const char *who = a->unit ? a->unit : a->container_name;
		_cleanup_free_ char *what = xasprintf("%s %s", planner_action_marker(a->kind), who);
		struct rc_err err = { 0 };
		struct dk_status ds = { 0 };
		int64_t t0 = now_ns();
		int rc;
		if (a->kind == PLAN_REMOVE) {
			rc = dk_service_remove(c, a->container_id, &ds, &err);
			if (rc < 0 && ds.http == 404)
				rc = 0;
		} else {
			/* scaled to 0: the desired unit's spec with no replicas */
			if (!looked && look(r, c, false, &s, &lerr) < 0) {
				apply_record(r, &(struct step_note){ .what = what, .unit = a->unit, .status = APPLY_FAILED,
								     .msg = lerr.msg, .engine_fault = lerr.engine_fault });
				continue;
			}
			looked = true;
			const struct dk_service *svc = dk_service_find(s.svcs, a->container_name);
			struct swarm_svc sv = { 0 };
			rc = -1;
			if (!svc)
				rc_errf(&err, "service '%s' is gone", a->container_name);
			else if (ensure_secrets(r, c, sec, a->desired, &err) == 0 &&
				 swarm_svc_build(r->d, a->desired, sec->refs, a->desired->nsecrets, &sv, &err) == 0) {
				sv.spec.replicas = 0;
				rc = update_at(r, c, svc->id, svc->version, &sv, &err);
			}
			swarm_svc_release(&sv);
		}
		apply_record(r, &(struct step_note){ .what = what, .unit = a->unit, .status = rc < 0 ? APPLY_FAILED : APPLY_OK,
						     .msg = rc < 0 ? err.msg : a->cause, .engine_fault = err.engine_fault,
						     .ns = now_ns() - t0 });
	}
	seen_release(&s);
}

/* A unit of the rollout. */
struct work {
	const struct plan_action *a;
	int64_t t0, bound;
	int64_t started;   /* when a task of its spec got a container (0: not yet: scheduling, pulling) */
	bool asked, done, failed;
};

/* Create the service of w, or update the one there (its version from s); the image's registry
 * credentials go with it, so every node can pull. */
static int ask(struct run *r, struct dk_client *c, struct secrets *sec, const struct seen *s, struct work *w,
	       struct rc_err *err)
{
	const struct rc_unit *u = w->a->desired;
	if (ensure_secrets(r, c, sec, u, err) < 0)
		return -1;
	char *auth = NULL;
	struct rc_err aerr = { 0 };
	if (regauth_lookup(NULL, u->image, &auth, NULL, &aerr) < 0)
		log_warn("unit '%s': registry credentials for %s: %s (the nodes pull without)", u->id, u->image, aerr.msg);
	struct swarm_svc sv;
	int rc = swarm_svc_build(r->d, u, sec->refs, u->nsecrets, &sv, err);
	sv.spec.registry_auth = auth;
	const struct dk_service *svc = rc == 0 ? dk_service_find(s->svcs, u->container) : NULL;
	if (rc == 0 && svc) {
		rc = update_at(r, c, svc->id, svc->version, &sv, err);
	} else if (rc == 0) {
		char *id = NULL;
		rc = dk_service_create(c, &sv.spec, &id, NULL, err);
		free(id);
	}
	swarm_svc_release(&sv);
	regauth_free(auth);
	return rc;
}

/* Did a dependency of u fail in this run (a failed or skipped step of its unit)? */
static const char *failed_dep(struct run *r, const struct rc_unit *u)
{
	for (size_t i = 0; i < u->ndeps; i++)
		for (size_t k = 0; k < r->out->nsteps; k++) {
			const struct apply_step *st = &r->out->steps[k];
			if (st->unit && str_eq(st->unit, u->deps[i].unit) &&
			    (st->status == APPLY_FAILED || st->status == APPLY_SKIPPED))
				return u->deps[i].unit;
		}
	return NULL;
}

static void finish(struct run *r, struct work *w, enum apply_status status, const char *msg, bool fault)
{
	_cleanup_free_ char *what = xasprintf("%s %s", planner_action_marker(w->a->kind), w->a->unit);
	apply_record(r, &(struct step_note){ .what = what, .unit = w->a->unit, .status = status, .msg = msg,
					     .engine_fault = fault, .ns = now_ns() - w->t0 });
	w->done = true;
	w->failed = status != APPLY_OK;
	int64_t took = now_ns() - w->t0;
	if (status == APPLY_OK && took > r->out->slowest_ns) {
		free(r->out->slowest_unit);
		r->out->slowest_unit = xstrdup(w->a->unit);
		r->out->slowest_ns = took;
	}
}

/* Wait for the asked units of a wave: one service list and one task list per turn. */
static void wait_wave(struct run *r, struct dk_client *c, struct work *wv, size_t n)
{
	struct seen s = { 0 };
	for (;;) {
		size_t open = 0;
		for (size_t i = 0; i < n; i++)
			open += !wv[i].done;
		if (!open)
			break;
		struct rc_err err = { 0 };
		bool stop = apply_interrupted(r->o);
		if (stop || look(r, c, true, &s, &err) < 0) {
			for (size_t i = 0; i < n; i++)
				if (!wv[i].done)
					finish(r, &wv[i], APPLY_FAILED, stop ? "interrupted" : err.msg, !stop && err.engine_fault);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			struct work *w = &wv[i];
			if (w->done)
				continue;
			const struct rc_unit *u = w->a->desired;
			const struct dk_service *svc = dk_service_find(s.svcs, u->container);
			struct buf why = BUF_INIT;
			enum swarm_verdict v = !svc ? SWARM_WAIT
					     : swarm_ready(svc, s.tasks, u->hash, swarm_replicas(u), MAX_FAILED_TASKS, &why);
			if (svc && !w->started && swarm_started(svc, s.tasks, u->hash))
				w->started = now_ns();
			int64_t now = now_ns();
			if (v == SWARM_READY)
				finish(r, w, APPLY_OK, buf_cstr(&why), false);
			else if (v == SWARM_FAILED)
				finish(r, w, APPLY_FAILED, buf_cstr(&why), false);
			else if (w->started ? now - w->started > w->bound : now - w->t0 > SCHEDULE_BOUND_NS + w->bound) {
				/* the health bound counts from the first container of the spec; before that the
				 * swarm schedules and the nodes pull, which a wave of hundreds makes long */
				_cleanup_free_ char *m =
					w->started ? xasprintf("not ready %.0fs after its first task started: %s",
							       (double)w->bound / 1e9, buf_cstr(&why))
						   : xasprintf("no task of it started within %.0fs: %s",
							       (double)(SCHEDULE_BOUND_NS + w->bound) / 1e9,
							       svc ? buf_cstr(&why) : "no service");
				finish(r, w, APPLY_FAILED, m, false);
			}
			buf_release(&why);
		}
		sleep_ms(WAIT_TURN_MS);
	}
	seen_release(&s);
}

/* The bound of a unit's wait once its first task started: its health bound for each batch of the
 * rolling update, plus the monitor period and delay between batches; twice that and a minute, since
 * Swarm itself ends a task whose check fails (the verdict comes from the task list) and this bound
 * only ends a wait Swarm leaves open: 200 tasks starting on two cores took longer than one bound
 * to pass their first checks (tests/bench/swarm.sh). */
static int64_t bound_of(const struct rc_unit *u, const struct apply_opts *o)
{
	if (o->rollout_timeout_ns > 0)
		return o->rollout_timeout_ns;
	uint64_t reps = swarm_replicas(u), par = u->swarm.parallelism ? u->swarm.parallelism : 1;
	int64_t batches = (int64_t)((reps + par - 1) / par);
	int64_t monitor = u->swarm.monitor_ns ? u->swarm.monitor_ns : 5 * NS_PER_S;
	return 2 * (batches ? batches : 1) * (apply_unit_bound_ns(u, o) + monitor + u->swarm.delay_ns) + 60 * NS_PER_S;
}

static bool up_kind(enum plan_kind k)
{
	return k == PLAN_CREATE || k == PLAN_RECREATE || k == PLAN_UPDATE || k == PLAN_START;
}

/* One wave: ask for each unit (skipping those whose dependency failed), then wait for them. */
static void run_wave(struct run *r, struct dk_client *c, struct secrets *sec, const struct plan *p, int wave)
{
	struct work *wv = xcalloc(p->n + 1, sizeof(*wv));
	size_t n = 0;
	struct seen s = { 0 };
	struct rc_err lerr = { 0 };
	int looked = look(r, c, false, &s, &lerr);
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		if (!up_kind(a->kind) || a->wave != wave || !a->desired)
			continue;
		if (a->protected_ && apply_held_for_approval(r, a))
			continue;
		struct work *w = &wv[n++];
		*w = (struct work){ .a = a, .t0 = now_ns(), .bound = bound_of(a->desired, r->o) };
		const char *dep = failed_dep(r, a->desired);
		struct rc_err err = { 0 };
		if (dep) {
			_cleanup_free_ char *m = xasprintf("dependency %s failed", dep);
			finish(r, w, APPLY_SKIPPED, m, false);
		} else if (looked < 0) {
			finish(r, w, APPLY_FAILED, lerr.msg, lerr.engine_fault);
		} else if (ask(r, c, sec, &s, w, &err) < 0) {
			finish(r, w, APPLY_FAILED, err.msg, err.engine_fault);
		}
	}
	seen_release(&s);
	wait_wave(r, c, wv, n);
	free(wv);
}

/* The project's secrets no desired unit names any more: removed (one still in use stays). */
static void prune_secrets(struct run *r, struct dk_client *c, const struct secrets *sec)
{
	for (size_t i = 0; sec->have && i < sec->have->n; i++) {
		const struct dk_secret *s = &sec->have->items[i];
		bool used = false;
		for (size_t k = 0; k < r->d->nunits && !used; k++)
			for (size_t j = 0; j < r->d->units[k].nsecrets && !used; j++) {
				_cleanup_free_ char *name = swarm_secret_name(r->d->settings.project,
									      &r->d->units[k].secrets[j]);
				used = str_eq(name, s->name);
			}
		struct rc_err err = { 0 };
		if (!used && dk_secret_remove(c, s->id, NULL, &err) == 0)
			log_info("removed Swarm secret %s (no service uses it)", s->name);
	}
}

void apply_swarm(struct run *r, struct dk_client *c, const struct plan *p)
{
	struct secrets sec = { 0 };
	struct rc_err err = { 0 };
	int64_t t = now_ns();
	if (load_secrets(r, c, &sec, &err) < 0) {
		apply_record(r, &(struct step_note){ .what = "secrets", .status = APPLY_FAILED, .msg = err.msg,
						     .engine_fault = err.engine_fault });
		secrets_release(&sec);
		return;
	}
	teardown(r, c, &sec, p);
	r->out->phase_ns[0] = now_ns() - t;
	t = now_ns();
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == PLAN_NET_CREATE || p->v[i].kind == PLAN_NET_RECREATE)
			net_create(r, c, &p->v[i]);
	int maxwave = -1;
	for (size_t i = 0; i < p->n; i++)
		if (up_kind(p->v[i].kind) && p->v[i].wave > maxwave)
			maxwave = p->v[i].wave;
	for (int w = 0; w <= maxwave; w++)
		run_wave(r, c, &sec, p, w);
	r->out->phase_ns[1] = now_ns() - t;
	t = now_ns();
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == PLAN_NET_REMOVE)
			net_remove(r, c, &p->v[i]);
	if (!r->out->nfailed)
		prune_secrets(r, c, &sec);
	r->out->phase_ns[2] = now_ns() - t;
	secrets_release(&sec);
}
