/* daemon_heal.c — self-healing I/O: what the engine shows of each unit, heal_decide() carried out (daemon_int.h). */
#include "daemon_int.h"
#include "telemetry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "observe.h"
#include "order.h"
#include "health.h"

/* ---- the project's containers, known from the periodic list and the events ---- */

void dm_known_clear(struct daemon *dm)
{
	for (size_t i = 0; i < dm->nknown; i++)
		free(dm->known[i]);
	dm->nknown = 0;
	dm->known_valid = false;
}

/* Where id is or would go in dm->known. */
static size_t known_pos(const struct daemon *dm, const char *id, bool *ret_found)
{
	size_t lo = 0, hi = dm->nknown;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(dm->known[mid], id);
		if (c == 0) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = false;
	return lo;
}

static void known_add(struct daemon *dm, const char *id)
{
	bool found;
	size_t at = known_pos(dm, id, &found);
	if (found)
		return;
	GROW(dm->known, dm->nknown + 1, dm->known_cap);
	memmove(&dm->known[at + 1], &dm->known[at], (dm->nknown - at) * sizeof(*dm->known));
	dm->known[at] = xstrdup(id);
	dm->nknown++;
}

static void known_del(struct daemon *dm, const char *id)
{
	bool found;
	size_t at = known_pos(dm, id, &found);
	if (!found)
		return;
	free(dm->known[at]);
	memmove(&dm->known[at], &dm->known[at + 1], (dm->nknown - at - 1) * sizeof(*dm->known));
	dm->nknown--;
}

/* l: the project's containers, listed while the event stream was open (or not: then invalid). */
static void known_seed(struct daemon *dm, const struct dk_container_list *l)
{
	dm_known_clear(dm);
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].id)
			known_add(dm, l->items[i].id);
	dm->known_valid = dm->ev != NULL;
}

/* List the containers carrying the project label. */
static int list_project(struct daemon *dm, struct dk_container_list **ret, struct rc_err *err)
{
	_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, dm->cur->settings.project);
	struct dk_filter f[] = { { "label", label } };
	return dk_container_list(dm->c, f, 1, ret, NULL, err);
}

void dm_events_open(struct daemon *dm)
{
	if (!dm->cur || dm->ev)
		return;
	const char *project = dm->cur->settings.project;
	_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, project);
	struct dk_filter f[] = {
		{ "type", "container" }, { "label", label }, { "event", "create" }, { "event", "die" },
		{ "event", "destroy" }, { "event", "oom" }, { "event", "health_status" }, { "event", "kill" },
	};
	struct rc_err err = { 0 };
	if (dk_events_open(dm->c, f, ARRAY_SIZE(f), 0, &dm->ev, &err) < 0) {
		dm->events_backoff_ns = dm->events_backoff_ns ? dm->events_backoff_ns * 2 : NS_PER_S / 2;
		if (dm->events_backoff_ns > 30 * NS_PER_S)
			dm->events_backoff_ns = 30 * NS_PER_S;
		dm_say("cannot follow engine events: %s; retrying in %.1fs", err.msg, dm_secs(dm->events_backoff_ns));
		dm_arm(dm, DT_EVENTS, now_ns() + dm->events_backoff_ns);
		dm->ev = NULL;
		return;
	}
	dm->events_backoff_ns = 0;
	free(dm->ev_project);
	dm->ev_project = xstrdup(project);
	/* Events before the stream opened are lost; resync by inspecting every unit (the list alone
	 * does not show a restart the engine made by itself). */
	dm_soon(dm, DT_CHECK);
	dm->check_deep = true;
	/* the stream first, then the list: a container made or removed in between is in both */
	struct dk_container_list *l = NULL;
	dm_known_clear(dm);
	if (list_project(dm, &l, &err) == 0)
		known_seed(dm, l);
	dk_container_list_free(l);
}

void dm_events_close(struct daemon *dm)
{
	dk_events_close(dm->ev);
	dm->ev = NULL;
	dm_arm(dm, DT_EVENTS, now_ns());
	dm_known_clear(dm);
}

/* ---- self-healing: heal_decide() (heal.h) carried out --------------------- */

static struct heal_state heal_state_of(const struct daemon *dm, const struct rc_unit *u, const struct unit_rt *rt)
{
	return (struct heal_state){
		.failures = state_get_restarts(dm->st, u->id).failures,
		.disabled = state_is_disabled(dm->st, u->id, NULL),
		.sleeping = state_is_sleeping(dm->st, u->id, NULL),
		.bad = rt->bad,
		.ok_since = rt->ok_since,
		.pending = rt->pending,
		.http_streak = rt->http_streak,
	};
}

static struct heal_action decide(struct daemon *dm, const struct rc_unit *u, const struct unit_rt *rt,
				 const struct heal_event *e)
{
	struct heal_policy p = heal_policy_of(u, dm->o->stable_ns);
	if (dm->o->stopped_grace_ns > 0)
		p.api_stop_delay_ns = dm->o->stopped_grace_ns;
	struct heal_state s = heal_state_of(dm, u, rt);
	return heal_decide(&p, &s, e, now_ns());
}

static void disable(struct daemon *dm, const struct rc_unit *u, struct unit_rt *rt, const char *reason)
{
	_cleanup_free_ char *why = xasprintf("%d consecutive failures, last: %s", u->restart.max_failures, reason);
	state_set_disabled_at(dm->st, u->id, (int64_t)time(NULL), why, u->hash);
	rt->pending = HEAL_REPAIR_NONE;
	dm_say("unit %s disabled after %s; `reconciler enable %s` brings it back", u->id, why, u->id);
	dm_journal(dm, dm_cur_commit(dm), "disable", u->id, "ok", why);
	/* stop it, or the engine's restart policy keeps a crash loop going */
	struct rc_err err = { 0 };
	struct dk_status ds;
	int t = u->stop_grace_ns > 0 ? (int)(u->stop_grace_ns / NS_PER_S) : -1;
	if (dk_container_stop(dm->c, u->container, t, &ds, &err) < 0 && ds.http != 404 && ds.http != 304)
		dm_say("warning: stopping disabled unit %s: %s", u->id, err.msg);
	dm_save(dm);
}

/* A HEAL_FAILURE: count it, schedule the repair, or disable. */
static void count_failure(struct daemon *dm, const struct rc_unit *u, struct unit_rt *rt, const struct heal_action *a)
{
	struct state_restarts r = state_get_restarts(dm->st, u->id);
	r.failures = a->failures;
	r.last_failure = (int64_t)time(NULL);
	r.backoff_ns = a->backoff_ns;
	state_set_restarts(dm->st, u->id, &r);
	telemetry_unit_failed(u->id, a->failures);
	rt->bad = true;
	rt->ok_since = 0;
	rt->http_streak = a->http_streak;
	snprintf(rt->reason, sizeof rt->reason, "%s", a->reason);
	int maxf = u->restart.max_failures;
	_cleanup_free_ char *of = maxf > 0 ? xasprintf(" of %d", maxf) : xstrdup("");
	if (a->disable) {
		dm_say("unit %s: %s (failure %d%s)", u->id, a->reason, r.failures, of);
		dm_journal(dm, dm_cur_commit(dm), "failure", u->id, "failed", a->reason);
		disable(dm, u, rt, a->reason);
		return;
	}
	_cleanup_free_ char *jm = NULL;
	if (a->repair != HEAL_REPAIR_NONE) {
		rt->pending = a->repair;
		rt->due = now_ns() + a->delay_ns;
		rt->waiting_logged = false;
		dm_say("unit %s: %s; %s in %.1fs (failure %d%s)", u->id, a->reason, heal_repair_name(a->repair),
		       dm_secs(a->delay_ns), r.failures, of);
		jm = xasprintf("%s; acting in %.1fs (failure %d%s)", a->reason, dm_secs(a->delay_ns), r.failures, of);
	} else {
		dm_say("unit %s: %s (failure %d%s)", u->id, a->reason, r.failures, of);
		jm = xasprintf("%s (failure %d%s)", a->reason, r.failures, of);
	}
	dm_journal(dm, dm_cur_commit(dm), "failure", u->id, "failed", jm);
	dm_save(dm);
}

/* u depends (directly or not) on dep. */
static bool depends_on(const struct rc_desired *d, const struct rc_unit *u, const char *dep, int depth)
{
	if (depth > 64)
		return false;
	for (size_t i = 0; i < u->ndeps; i++) {
		if (str_eq(u->deps[i].unit, dep))
			return true;
		const struct rc_unit *x = rc_desired_unit(d, u->deps[i].unit);
		if (x && depends_on(d, x, dep, depth + 1))
			return true;
	}
	return false;
}

/* u recovered: the units that depend on it start their count again. */
static void recovered(struct daemon *dm, const struct rc_unit *u, struct unit_rt *rt)
{
	rt->bad = false;
	dm_say("unit %s is ready again", u->id);
	dm_journal(dm, dm_cur_commit(dm), "recovered", u->id, "ok", rt->reason);
	struct heal_event dep = { .kind = HEAL_EV_DEP_RECOVERED };
	for (size_t i = 0; i < dm->cur->nunits; i++) {
		const struct rc_unit *x = &dm->cur->units[i];
		if (x == u || !depends_on(dm->cur, x, u->id, 0))
			continue;
		if (decide(dm, x, &dm->rt[i], &dep).verdict == HEAL_RESET) {
			state_del_restarts(dm->st, x->id);
			dm_say("unit %s: failure counter reset (its dependency %s recovered)", x->id, u->id);
		}
	}
	dm_save(dm);
}

/* A HEAL_READY. */
static void on_ready(struct daemon *dm, const struct rc_unit *u, struct unit_rt *rt, const struct heal_action *a)
{
	telemetry_unit_ready(u->id);
	if (a->recovered)
		recovered(dm, u, rt);
	rt->ok_since = a->ok_since;
	if (a->reset) {
		state_del_restarts(dm->st, u->id);
		dm_say("unit %s ready for %.0fs: failure counter reset", u->id, dm_secs(now_ns() - rt->ok_since));
		dm_journal(dm, dm_cur_commit(dm), "stable", u->id, "ok", "failure counter reset");
		dm_save(dm);
	}
}

/* Carry out what heal_decide() said. */
static void carry_out(struct daemon *dm, const struct rc_unit *u, struct unit_rt *rt, const struct heal_action *a)
{
	switch (a->verdict) {
	case HEAL_NOTHING:
	case HEAL_RESET:
		break;
	case HEAL_READY:
		on_ready(dm, u, rt, a);
		break;
	case HEAL_FAILURE:
		count_failure(dm, u, rt, a);
		break;
	case HEAL_API_STOP:
		dm_say("unit %s: stopped through the engine's API, not counted as a failure; starting it again in %.0fs",
		       u->id, dm_secs(a->delay_ns));
		dm_journal(dm, dm_cur_commit(dm), "stopped", u->id, "ok", a->reason);
		/* what the repair waits for, for status's last check until it is made */
		snprintf(rt->reason, sizeof rt->reason, "%s", a->reason);
		free(rt->kill_cid);
		rt->kill_cid = NULL;
		rt->pending = a->repair;
		rt->due = now_ns() + a->delay_ns;
		rt->waiting_logged = false;
		break;
	}
}

/* What the daemon saw of u, for `status` (state.h, struct state_health). */
static void record(struct daemon *dm, const struct rc_unit *u, const struct unit_rt *rt, const char *result)
{
	struct state_health h = { .last_check = (int64_t)time(NULL), .result = result, .probe_ms = -1 };
	if (u->health.kind == RC_HEALTH_HTTP && rt->probe_ms >= 0 && !str_eq(result, "disabled"))
		h.probe_ms = rt->probe_ms;
	if (rt->pending) {
		int64_t left = rt->due - now_ns();
		h.next_repair = h.last_check + (left > 0 ? (left + NS_PER_S - 1) / NS_PER_S : 0);
	}
	state_set_health(dm->st, u->id, &h);
}

/* record() what a look ended in: the verdict, or what the container shows. */
static void record_look(struct daemon *dm, const struct rc_unit *u, const struct unit_rt *rt,
			const struct heal_event *e, const struct heal_action *a)
{
	if (state_is_disabled(dm->st, u->id, NULL)) {
		record(dm, u, rt, "disabled");
		return;
	}
	if (a->verdict == HEAL_READY) {
		record(dm, u, rt, "ready");
		return;
	}
	if (a->verdict == HEAL_FAILURE || a->verdict == HEAL_API_STOP) {
		record(dm, u, rt, a->reason);
		return;
	}
	if (rt->pending && rt->reason[0]) {
		/* the failure a repair waits for stays the result until the repair */
		_cleanup_free_ char *what = xasprintf("%s (repair pending)", rt->reason);
		record(dm, u, rt, what);
		return;
	}
	if (!e->exists) {
		record(dm, u, rt, "missing");
		return;
	}
	_cleanup_free_ char *what = xasprintf("%s%s%s%s", e->status ? e->status : "?", e->health ? " (" : "",
					      e->health ? e->health : "", e->health ? ")" : "");
	record(dm, u, rt, what);
}

/* u is ready as far as the periodic list tells (running, healthy, same container: no inspect needed). */
static void ready(struct daemon *dm, const struct rc_unit *u, struct unit_rt *rt)
{
	struct heal_event e = { .kind = HEAL_EV_SEEN, .exists = true, .status = "running", .health = "healthy" };
	struct heal_action a = decide(dm, u, rt, &e);
	carry_out(dm, u, rt, &a);
	record_look(dm, u, rt, &e, &a);
}

/* Judge u from its container (NULL: none).  Counts failures and schedules repairs. */
static void evaluate(struct daemon *dm, const struct rc_unit *u, struct unit_rt *rt, const struct dk_container *ct)
{
	if (!u->running || state_is_disabled(dm->st, u->id, NULL))
		return;
	if (ct && !str_eq(ct->id, rt->cid)) {
		free(rt->cid);
		rt->cid = xstrdup(ct->id);
		rt->restart_count = ct->restart_count;
		rt->http_streak = 0;
	} else if (ct && ct->restart_count > rt->restart_count) {
		struct heal_event e = { .kind = HEAL_EV_RESTARTED, .restarts = ct->restart_count - rt->restart_count,
					.exit_code = ct->exit_code, .oom_killed = ct->oom_killed };
		rt->restart_count = ct->restart_count;
		if (rt->die_seen && str_eq(rt->die_cid, ct->id) && str_eq(ct->state_status, "running"))
			e.exit_code = rt->die_code;  /* restarted already: the inspect's ExitCode was reset */
		rt->die_seen = false;
		struct heal_action a = decide(dm, u, rt, &e);
		carry_out(dm, u, rt, &a);
		if (state_is_disabled(dm->st, u->id, NULL))
			return;
	}
	struct heal_event e = { .kind = HEAL_EV_SEEN, .exists = ct != NULL, .http_path = u->health.http_path };
	if (ct) {
		e.status = ct->state_status;
		e.health = ct->health_status;
		e.failing_streak = ct->failing_streak;
		e.exit_code = ct->exit_code;
		e.oom_killed = ct->oom_killed;
		e.api_stop_ns = rt->kill_cid && str_eq(rt->kill_cid, ct->id) ? rt->kill_ns : 0;
	}
	struct heal_action a = decide(dm, u, rt, &e);
	carry_out(dm, u, rt, &a);
	record_look(dm, u, rt, &e, &a);
}

/* Inspect u's container; *ret NULL when it does not exist.  -1 on an engine error (logged). */
static int inspect_unit(struct daemon *dm, const struct rc_unit *u, struct dk_container **ret)
{
	struct rc_err err = { 0 };
	struct dk_status ds = { 0 };
	*ret = NULL;
	if (dk_container_inspect(dm->c, u->container, ret, &ds, &err) < 0) {
		if (ds.http == 404)
			return 0;
		dm_say("warning: inspecting %s: %s", u->container, err.msg);
		return -1;
	}
	/* a foreign container with our name is not ours to heal */
	if (!str_eq(dk_label((*ret)->labels, (*ret)->nlabels, RC_LABEL_UNIT), u->id)) {
		dk_container_free(*ret);
		*ret = NULL;
	}
	return 0;
}

static void check_unit(struct daemon *dm, size_t i)
{
	const struct rc_unit *u = &dm->cur->units[i];
	if (!u->running)
		return;
	if (state_is_disabled(dm->st, u->id, NULL)) {
		/* left alone, not inspected; but looked at: status says so, not the last verdict before */
		record(dm, u, &dm->rt[i], "disabled");
		return;
	}
	struct dk_container *ct = NULL;
	if (inspect_unit(dm, u, &ct) < 0)
		return;
	evaluate(dm, u, &dm->rt[i], ct);
	dk_container_free(ct);
}

/* The periodic check: one list call; inspect only what does not look fine (everything after the
 * event stream (re)opened). */
/*
 * On a swarm Swarm restarts and reschedules tasks itself: the check is a
 * plan against the services, applied when it has work — a service removed,
 * scaled or updated by hand (its fingerprint: swarm.h), a network gone.
 */
static void check_swarm(struct daemon *dm)
{
	struct buf msg = BUF_INIT;
	size_t nsteps = 0;
	struct conv_opts co = { .self_heal = true };
	if (dm_converge(dm, dm->cur, &co, &msg, &nsteps) != CONV_OK)
		dm_say("swarm check: %s", buf_cstr(&msg));
	else if (nsteps)
		dm_say("swarm check: put back what changed outside Git (%zu step%s)", nsteps, nsteps == 1 ? "" : "s");
	buf_release(&msg);
	if (nsteps)
		dm_save(dm);
}

void dm_check_all(struct daemon *dm)
{
	if (!dm->cur)
		return;
	if (dm->cur->settings.engine == RC_ENGINE_SWARM) {
		check_swarm(dm);
		return;
	}
	if (dm->check_deep) {
		dm->check_deep = false;
		for (size_t i = 0; i < dm->cur->nunits; i++)
			check_unit(dm, i);
		return;
	}
	struct dk_container_list *l = NULL;
	struct rc_err err = { 0 };
	if (list_project(dm, &l, &err) < 0) {
		dm_say("warning: periodic check: %s", err.msg);
		return;
	}
	known_seed(dm, l);
	for (size_t i = 0; i < dm->cur->nunits; i++) {
		const struct rc_unit *u = &dm->cur->units[i];
		struct unit_rt *rt = &dm->rt[i];
		if (!u->running)
			continue;
		if (state_is_disabled(dm->st, u->id, NULL)) {
			record(dm, u, rt, "disabled");
			continue;
		}
		const struct dk_container_summary *sum = NULL;
		for (size_t k = 0; k < l->n && !sum; k++)
			if (str_eq(l->items[k].name, u->container))
				sum = &l->items[k];
		const char *h = sum ? observe_health_from_status(sum->status) : NULL;
		bool fine = sum && str_eq(sum->state, "running") && str_eq(rt->cid, sum->id) && !rt->pending &&
			    (u->health.kind == RC_HEALTH_NONE ||
			     (u->health.kind == RC_HEALTH_CMD && str_eq(h, "healthy")) ||
			     (u->health.kind == RC_HEALTH_HTTP && rt->http_streak == 0));
		if (fine)
			ready(dm, u, rt);  /* as far as the list tells: no inspect needed */
		else
			check_unit(dm, i);
	}
	dk_container_list_free(l);
}

/* Probe units with http health checks whose time has come. */
void dm_http_probes(struct daemon *dm)
{
	if (!dm->cur)
		return;
	int64_t now = now_ns();
	for (size_t i = 0; i < dm->cur->nunits; i++) {
		const struct rc_unit *u = &dm->cur->units[i];
		struct unit_rt *rt = &dm->rt[i];
		if (u->health.kind != RC_HEALTH_HTTP || !u->running || rt->pending || now < rt->next_probe ||
		    state_is_disabled(dm->st, u->id, NULL))
			continue;
		int64_t interval = u->health.interval_ns > 0 ? u->health.interval_ns : 30 * NS_PER_S;
		rt->next_probe = now + interval;
		struct dk_container *ct = NULL;
		if (inspect_unit(dm, u, &ct) < 0)
			continue;
		if (ct && str_eq(ct->state_status, "running")) {
			char why[128] = "";
			int64_t t0 = now_ns();
			/* a unit that may sleep is probed from inside its network namespace: over its loopback,
			 * the probe is not traffic on its interfaces, which the idle sampler counts */
			bool inside = false, ns = u->idle_after_ns > 0 && dk_client_local(dm->c);
			int pr = apply_http_probe(ct, u, 0, ns, why, sizeof why, &inside);
			if (ns && inside != rt->probe_inside)
				log_debug("idle: %s: http probes from %s", u->id,
					  inside ? "inside its network namespace (not counted as its traffic)"
						 : "the daemon's host (counted as its traffic: it will not sleep)");
			rt->probe_inside = inside;
			rt->probe_ms = (now_ns() - t0) / NS_PER_MS;
			if (pr == 1)
				rt->http_streak = 0;
			else
				rt->http_streak++;
		}
		evaluate(dm, u, rt, ct);
		dk_container_free(ct);
	}
}

/* Is dep ready for a dependent waiting with cond?  why: what it is waiting for. */
static bool dep_ready(struct daemon *dm, const struct rc_unit *dep, enum rc_dep_cond cond, char *why, size_t n)
{
	struct dk_container *ct = NULL;
	if (state_is_disabled(dm->st, dep->id, NULL)) {
		snprintf(why, n, "%s is disabled", dep->id);
		return false;
	}
	if (inspect_unit(dm, dep, &ct) < 0 || !ct) {
		snprintf(why, n, "%s has no container", dep->id);
		return false;
	}
	bool ok;
	const char *s = ct->state_status ? ct->state_status : "";
	if (cond == RC_DEP_COMPLETED) {
		ok = strcmp(s, "exited") == 0 && ct->exit_code == 0;
	} else if (strcmp(s, "running") != 0) {
		ok = false;
	} else if (cond == RC_DEP_HEALTHY && dep->health.kind == RC_HEALTH_CMD) {
		ok = str_eq(ct->health_status, "healthy");
	} else if (cond == RC_DEP_HEALTHY && dep->health.kind == RC_HEALTH_HTTP) {
		const char *ip = apply_container_ip(ct, dep);
		uint16_t port = dep->health.http_port ? dep->health.http_port
				: (dep->nports ? dep->ports[0].container_port : 80);
		ok = ip && health_http_probe(ip, port, dep->health.http_path, 2000, NULL, 0) == 1;
	} else {
		ok = true;
	}
	if (!ok)
		snprintf(why, n, "%s is not %s (%s%s%s)", dep->id, rc_dep_cond_name(cond), s,
			 ct->health_status ? ", " : "", ct->health_status ? ct->health_status : "");
	dk_container_free(ct);
	return ok;
}

/*
 * First half of a repair of unit i, whose time has come: give up if it was
 * disabled, wait (1 s) for its dependencies, notice the engine restarted it
 * meanwhile, stop it for a restart.  True: converge it now (dm_act_all()).
 */
static bool act_prepare(struct daemon *dm, size_t i)
{
	const struct rc_unit *u = &dm->cur->units[i];
	struct unit_rt *rt = &dm->rt[i];
	if (state_is_disabled(dm->st, u->id, NULL) || !u->running) {
		rt->pending = HEAL_REPAIR_NONE;
		return false;
	}
	char why[256];
	for (size_t k = 0; k < u->ndeps; k++) {
		const struct rc_unit *dep = rc_desired_unit(dm->cur, u->deps[k].unit);
		if (dep && !dep_ready(dm, dep, u->deps[k].cond, why, sizeof why)) {
			if (!rt->waiting_logged)
				dm_say("unit %s: restart waits for its dependency: %s", u->id, why);
			rt->waiting_logged = true;
			rt->due = now_ns() + NS_PER_S;
			return false;
		}
	}
	struct dk_container *ct = NULL;
	if (inspect_unit(dm, u, &ct) < 0) {
		rt->due = now_ns() + NS_PER_S;
		return false;
	}
	enum heal_repair a = rt->pending;
	if (ct && a == HEAL_REPAIR_CONVERGE && str_eq(ct->state_status, "running")) {
		rt->pending = HEAL_REPAIR_NONE;
		dm_say("unit %s is running again (the engine restarted it, or a rollout did): nothing to repair", u->id);
		dk_container_free(ct);
		return false;
	}
	struct rc_err err = { 0 };
	if (ct && a == HEAL_REPAIR_RESTART) {
		struct dk_status ds;
		int t = u->stop_grace_ns > 0 ? (int)(u->stop_grace_ns / NS_PER_S) : -1;
		if (dk_container_stop(dm->c, ct->id, t, &ds, &err) < 0 && ds.http != 304 && ds.http != 404)
			dm_say("warning: stopping %s: %s", u->container, err.msg);
	}
	dk_container_free(ct);
	dm_say("unit %s: %s (%s)", u->id, heal_repair_name(a), rt->reason);
	return true;
}

bool dm_keep_units(const struct plan_action *a, void *ctx)
{
	const struct unit_set *set = ctx;
	if (a->kind == PLAN_NET_CREATE)
		return true;
	const struct rc_unit *u = a->unit ? rc_desired_unit(set->d, a->unit) : NULL;
	return u && set->in[u - set->d->units];
}

/* Why unit failed in ar ("failed <step>: <why>", as dm_converge() says it), into out; false if it did not. */
static bool unit_failure(const struct apply_result *ar, const char *unit, struct buf *out)
{
	for (size_t i = 0; i < ar->nsteps; i++) {
		const struct apply_step *st = &ar->steps[i];
		if (str_eq(st->unit, unit) && (st->status == APPLY_FAILED || st->status == APPLY_SKIPPED)) {
			buf_addf(out, "%s %s: %s", apply_status_name(st->status), st->what, st->msg ? st->msg : "");
			return true;
		}
	}
	return false;
}

#define ACT_BATCH_NS (NS_PER_S / 2)

/*
 * Repair every unit whose time has come, together: one converge of all of
 * them, so independent repairs (each waiting for its unit's health) run side
 * by side on the executor's pool rather than one after the other.
 */
void dm_act_all(struct daemon *dm)
{
	size_t n = dm->cur->nunits, nsel = 0;
	int64_t now = now_ns();
	bool any = false;
	for (size_t i = 0; i < n && !any; i++)
		any = dm->rt[i].pending && now >= dm->rt[i].due;
	if (!any)
		return;
	bool *in = xcalloc(n + 1, sizeof(bool));
	enum heal_repair *acts = xcalloc(n + 1, sizeof(*acts));
	for (size_t i = 0; i < n && !dm->stop; i++) {
		/* units that failed together (due within ACT_BATCH_NS of each other) are repaired together */
		if (!dm->rt[i].pending || now + ACT_BATCH_NS < dm->rt[i].due || !act_prepare(dm, i))
			continue;
		in[i] = true;
		acts[i] = dm->rt[i].pending;
		dm->rt[i].pending = HEAL_REPAIR_NONE;
		nsel++;
	}
	if (!nsel)
		goto out;
	struct unit_set set = { dm->cur, in };
	struct buf msg = BUF_INIT;
	struct apply_result ar;
	size_t nsteps = 0;
	struct conv_opts co = { .keep = dm_keep_units, .keep_ctx = &set, .self_heal = true, .result = &ar };
	enum conv_result r = dm_converge(dm, dm->cur, &co, &msg, &nsteps);
	for (size_t i = 0; i < n; i++) {
		if (!in[i])
			continue;
		const struct rc_unit *u = &dm->cur->units[i];
		struct unit_rt *rt = &dm->rt[i];
		enum heal_repair a = acts[i];
		struct buf why = BUF_INIT;
		bool failed = r == CONV_FAILED && unit_failure(&ar, u->id, &why);
		if (r == CONV_OK || (r == CONV_FAILED && !failed)) {
			dm_journal(dm, dm_cur_commit(dm), a == HEAL_REPAIR_RESTART ? "restart" : "repair", u->id, "ok", rt->reason);
			rt->http_streak = 0;
			rt->next_probe = 0;
			dm_save(dm);
			check_unit(dm, i);
		} else if (r == CONV_TRANSIENT) {
			dm_say("unit %s: cannot act now: %s", u->id, buf_cstr(&msg));
			rt->pending = a;
			rt->due = now_ns() + 2 * NS_PER_S;
		} else if (r == CONV_INTERRUPTED || r == CONV_REFUSED) {
			dm_say("unit %s: %s %s: %s", u->id, a == HEAL_REPAIR_RESTART ? "restart" : "repair",
			    r == CONV_REFUSED ? "refused" : "interrupted", buf_cstr(&msg));
			rt->pending = a;
		} else {
			struct heal_event e = { .kind = HEAL_EV_REPAIR_FAILED,
						.reason = failed ? buf_cstr(&why) : buf_cstr(&msg) };
			struct heal_action ha = decide(dm, u, rt, &e);
			carry_out(dm, u, rt, &ha);
		}
		buf_release(&why);
	}
	apply_result_release(&ar);
	buf_release(&msg);
out:
	free(acts);
	free(in);
}

void dm_handle_event(struct daemon *dm, const struct dk_event *e)
{
	if (!dm->cur)
		return;
	/* every container of the project, the units' and any other (the drift check's extras) */
	if (e->id && str_eq(e->action, "create"))
		known_add(dm, e->id);
	else if (e->id && str_eq(e->action, "destroy"))
		known_del(dm, e->id);
	if (str_eq(e->action, "create"))
		return;  /* nothing to check yet: it is not started */
	const char *unit = dk_event_attr(e, RC_LABEL_UNIT);
	const struct rc_unit *u = unit ? rc_desired_unit(dm->cur, unit) : NULL;
	if (!u)
		return;
	log_debug("event %s %s %s", e->action, unit, e->id);
	struct unit_rt *rt = &dm->rt[u - dm->cur->units];
	if (str_eq(e->action, "kill") && e->id) {
		/* docker stop and restart send the stop signal first; a bare docker kill (SIGKILL) is
		 * how a crash is simulated, and is judged as one */
		if (str_eq(dk_event_attr(e, "signal"), "9"))
			return;
		free(rt->kill_cid);
		rt->kill_cid = xstrdup(e->id);
		rt->kill_ns = now_ns();
		return;  /* the die that follows is what to judge */
	}
	const char *code = dk_event_attr(e, "exitCode");
	if (str_eq(e->action, "die") && code && e->id) {
		rt->die_seen = true;
		rt->die_code = atoi(code);
		free(rt->die_cid);
		rt->die_cid = xstrdup(e->id);
	}
	check_unit(dm, (size_t)(u - dm->cur->units));
}


int64_t dm_next_probe(const struct daemon *dm)
{
	int64_t t = 0;
	for (size_t i = 0; dm->cur && i < dm->cur->nunits; i++) {
		const struct rc_unit *u = &dm->cur->units[i];
		const struct unit_rt *rt = &dm->rt[i];
		if (u->health.kind != RC_HEALTH_HTTP || !u->running || rt->pending ||
		    state_is_disabled(dm->st, u->id, NULL))
			continue;  /* as dm_http_probes() skips them */
		int64_t at = rt->next_probe > 0 ? rt->next_probe : 1;
		if (!t || at < t)
			t = at;
	}
	return t;
}

int64_t dm_next_repair(const struct daemon *dm)
{
	int64_t t = 0;
	for (size_t i = 0; dm->cur && i < dm->cur->nunits; i++)
		if (dm->rt[i].pending && (!t || dm->rt[i].due < t))
			t = dm->rt[i].due > 0 ? dm->rt[i].due : 1;
	return t;
}

void dm_rt_release(struct daemon *dm)
{
	if (!dm->cur)
		return;
	for (size_t i = 0; i < dm->cur->nunits; i++) {
		free(dm->rt[i].cid);
		free(dm->rt[i].die_cid);
		free(dm->rt[i].kill_cid);
	}
	free(dm->rt);
	dm->rt = NULL;
}

void dm_forget(struct daemon *dm, const char *unit)
{
	struct rc_unit *u = dm->cur ? rc_desired_unit(dm->cur, unit) : NULL;
	if (!u)
		return;
	struct unit_rt *rt = &dm->rt[u - dm->cur->units];
	rt->pending = HEAL_REPAIR_NONE;
	rt->bad = false;
	rt->ok_since = 0;
}

/* ---- operator requests that act on the engine --------------------------------- */

/* Select the units arg names (unit ids, customer:ID) into in[]; -1 naming the first that is none. */
static int select_units(struct daemon *dm, const char *arg, bool *in, struct rc_err *err)
{
	_cleanup_free_ char *copy = xstrdup(arg);
	char *save = NULL;
	for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		bool customer = str_startswith(tok, "customer:"), any = false;
		_cleanup_free_ char *prefix = customer ? xasprintf("%s/", tok + 9) : NULL;
		for (size_t i = 0; i < dm->cur->nunits; i++) {
			const char *id = dm->cur->units[i].id;
			if (customer ? str_startswith(id, prefix) : str_eq(id, tok)) {
				in[i] = true;
				any = true;
			}
		}
		if (!any)
			return customer ? rc_errf(err, "no customer '%s' in commit %.12s", tok + 9, dm_cur_commit(dm))
					: rc_errf(err, "no unit '%s' in commit %.12s", tok, dm_cur_commit(dm));
	}
	for (size_t i = 0; i < dm->cur->nunits; i++) {
		const struct rc_unit *u = &dm->cur->units[i];
		if (in[i] && state_is_disabled(dm->st, u->id, NULL))
			return rc_errf(err, "unit '%s' is disabled: `reconciler enable %s` first", u->id, u->id);
		if (in[i] && !u->running)
			return rc_errf(err, "unit '%s' is not meant to run (running: false)", u->id);
	}
	return 0;
}

/* Stop the selected units' containers, dependents first, each with its grace. */
static int stop_selected(struct daemon *dm, const bool *in, struct rc_err *err)
{
	size_t *ord = NULL;
	if (rc_desired_order(dm->cur, &ord, err) < 0)
		return -1;
	for (size_t k = dm->cur->nunits; k-- > 0;) {
		const struct rc_unit *u = &dm->cur->units[ord[k]];
		if (!in[ord[k]])
			continue;
		struct dk_status ds = { 0 };
		struct rc_err e2 = { 0 };
		int t = u->stop_grace_ns > 0 ? (int)(u->stop_grace_ns / NS_PER_S) : -1;
		if (dk_container_stop(dm->c, u->container, t, &ds, &e2) < 0 && ds.http != 304 && ds.http != 404) {
			free(ord);
			return rc_errf(err, "stopping %s: %s", u->container, e2.msg);
		}
	}
	free(ord);
	return 0;
}

/*
 * Add to in[] the units that depend on a unit in it with `restart: true`
 * (compose's depends_on: {db: {condition: service_healthy, restart: true}}),
 * to a fixed point: a dependent restarted brings its own along.  after[i] is
 * the dependency that brought unit i in.  Disabled units and units not meant
 * to run are left alone.
 */
static void add_restart_dependents(const struct daemon *dm, bool *in, const char **after)
{
	const struct rc_desired *d = dm->cur;
	for (bool more = true; more;) {
		more = false;
		for (size_t i = 0; i < d->nunits; i++) {
			const struct rc_unit *u = &d->units[i];
			if (in[i] || !u->running || state_is_disabled(dm->st, u->id, NULL))
				continue;
			for (size_t k = 0; k < u->ndeps; k++) {
				const struct rc_unit *x = u->deps[k].restart ? rc_desired_unit(d, u->deps[k].unit) : NULL;
				if (x && in[x - d->units]) {
					in[i] = more = true;
					after[i] = x->id;
					break;
				}
			}
		}
	}
}

int dm_restart(struct daemon *dm, const char *arg, const char *who, struct buf *msg, struct rc_err *err)
{
	if (!dm->cur || !dm->c)
		return rc_errf(err, "no desired state in force yet");
	size_t n = dm->cur->nunits;
	_cleanup_free_ bool *in = xcalloc(n + 1, sizeof(bool));
	if (select_units(dm, arg, in, err) < 0)
		return -1;
	_cleanup_free_ const char **after = xcalloc(n + 1, sizeof(char *));
	add_restart_dependents(dm, in, after);
	_cleanup_free_ char *by = xasprintf("asked by %s", who ? who : "an operator");
	struct buf deps = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		if (after[i])
			buf_addf(&deps, "%s%s", deps.len ? ", " : "", dm->cur->units[i].id);
	dm_say("restart of %s (%s): stopping, then starting in dependency order%s%s", arg, by,
	       deps.len ? "; with the dependents that ask for it (depends_on restart: true): " : "", buf_cstr(&deps));
	buf_release(&deps);
	if (stop_selected(dm, in, err) < 0)
		return -1;
	struct unit_set set = { dm->cur, in };
	struct buf why = BUF_INIT;
	struct conv_opts co = { .keep = dm_keep_units, .keep_ctx = &set, .self_heal = true };
	size_t nsteps = 0;
	enum conv_result r = dm_converge(dm, dm->cur, &co, &why, &nsteps);
	for (size_t i = 0; i < n; i++) {
		if (!in[i])
			continue;
		const struct rc_unit *u = &dm->cur->units[i];
		struct unit_rt *rt = &dm->rt[i];
		if (r == CONV_OK) {
			/* ready again: the operator's restart resets what the daemon counted */
			state_del_restarts(dm->st, u->id);
			rt->pending = HEAL_REPAIR_NONE;
			rt->bad = false;
			rt->http_streak = 0;
			rt->next_probe = 0;
		}
		free(rt->kill_cid);  /* our own stop: not an operator's docker stop to start again */
		rt->kill_cid = NULL;
		_cleanup_free_ char *jm = after[i] ? xasprintf("after %s (depends_on restart: true), %s", after[i], by)
						   : NULL;
		dm_journal(dm, dm_cur_commit(dm), "restart", u->id, r == CONV_OK ? "ok" : "failed",
			   r != CONV_OK ? buf_cstr(&why) : jm ? jm : by);
	}
	dm_save(dm);
	dm_soon(dm, DT_CHECK);
	if (r != CONV_OK) {
		rc_errf(err, "restart of %s: %s", arg, buf_cstr(&why));
		buf_release(&why);
		return -1;
	}
	buf_release(&why);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (in[i] && !after[i])
			buf_addf(msg, "%s%s", k++ ? ", " : "restarted ", dm->cur->units[i].id);
	for (size_t i = 0, j = 0; i < n; i++)
		if (after[i])
			buf_addf(msg, "%s%s", j++ ? ", " : ", then its dependents ", dm->cur->units[i].id);
	buf_addf(msg, " (ready; failure counters reset)");
	return 0;
}

void dm_disabled_by_request(struct daemon *dm, const char *unit)
{
	const struct rc_unit *u = dm->cur ? rc_desired_unit(dm->cur, unit) : NULL;
	if (!u)
		return;
	const char *reason = NULL;
	state_is_disabled(dm->st, unit, &reason);
	_cleanup_free_ char *why = reason ? xstrdup(reason) : NULL;
	state_set_disabled_at(dm->st, unit, (int64_t)time(NULL), why, u->hash);  /* tied to the spec in force */
	dm->rt[u - dm->cur->units].pending = HEAL_REPAIR_NONE;
	struct rc_err err = { 0 };
	struct dk_status ds = { 0 };
	int t = u->stop_grace_ns > 0 ? (int)(u->stop_grace_ns / NS_PER_S) : -1;
	if (dk_container_stop(dm->c, u->container, t, &ds, &err) < 0 && ds.http != 404 && ds.http != 304)
		dm_say("warning: stopping disabled unit %s: %s", u->id, err.msg);
	dm_save(dm);
}
