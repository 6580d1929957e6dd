/*
 * daemon_idle.c — idle customers (daemon_int.h): sampling each idle-enabled
 * running unit's network byte counters (DT_IDLE), putting a unit whose
 * counters did not move for its idle.after to sleep, and waking sleeping
 * units (the `wake` request).  The sleeping marks live in the state
 * (units.json, state.h); plan, apply and drift see a sleeping unit as
 * desired stopped (state_apply_sleeping()).
 */
#include "daemon_int.h"

#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#define IDLE_PERIOD_MIN (1 * NS_PER_S)
#define IDLE_PERIOD_MAX (60 * NS_PER_S)
#define IDLE_PARALLEL 128  /* stats calls in flight in a sampling round */

/* Does a running, awake unit of dm->cur depend on unit i (directly)?  It keeps i awake. */
static bool needed_awake(const struct daemon *dm, size_t i)
{
	const char *id = dm->cur->units[i].id;
	for (size_t k = 0; k < dm->cur->nunits; k++) {
		const struct rc_unit *v = &dm->cur->units[k];
		if (k == i || !v->running || state_is_sleeping(dm->st, v->id, NULL))
			continue;
		for (size_t j = 0; j < v->ndeps; j++)
			if (str_eq(v->deps[j].unit, id))
				return true;
	}
	return false;
}

/* Whether unit i is sampled at all: idle on, meant to run, awake, not disabled, not a job. */
static bool sampled(const struct daemon *dm, size_t i)
{
	const struct rc_unit *u = &dm->cur->units[i];
	return u->idle_after_ns > 0 && u->running && !u->job && !state_is_sleeping(dm->st, u->id, NULL) &&
	       !state_is_disabled(dm->st, u->id, NULL);
}

/* The sampling period: a third of the shortest idle.after, within 1 s .. 60 s; 0: nothing to sample. */
static int64_t idle_period(const struct daemon *dm)
{
	int64_t p = 0;
	for (size_t i = 0; dm->cur && i < dm->cur->nunits; i++) {
		if (!sampled(dm, i))
			continue;
		int64_t t = dm->cur->units[i].idle_after_ns / 3;
		if (!p || t < p)
			p = t;
	}
	if (!p)
		return 0;
	return p < IDLE_PERIOD_MIN ? IDLE_PERIOD_MIN : p > IDLE_PERIOD_MAX ? IDLE_PERIOD_MAX : p;
}

/* Stop unit i with its grace and mark it sleeping. */
static void put_to_sleep(struct daemon *dm, size_t i, int64_t quiet_ns)
{
	struct rc_unit *u = &dm->cur->units[i];
	struct unit_rt *rt = &dm->rt[i];
	struct dk_status ds = { 0 };
	struct rc_err err = { 0 };
	int t = u->stop_grace_ns > 0 ? (int)(u->stop_grace_ns / NS_PER_S) : -1;
	if (dk_container_stop(dm->c, u->container, t, &ds, &err) < 0 && ds.http != 304 && ds.http != 404) {
		dm_say("warning: putting %s to sleep: %s", u->id, err.msg);
		return;
	}
	state_set_sleeping(dm->st, u->id, (int64_t)time(NULL));
	u->running = false;  /* the desired state in force: stopped until woken */
	rt->pending = HEAL_REPAIR_NONE;
	rt->idle_since = 0;
	rt->ok_since = 0;
	free(rt->kill_cid);  /* our own stop: not an operator's docker stop to start again */
	rt->kill_cid = NULL;
	_cleanup_free_ char *why = xasprintf("no network traffic for %.0fs (idle after %.0fs)", dm_secs(quiet_ns),
					     dm_secs(u->idle_after_ns));
	dm_say("unit %s is sleeping: %s", u->id, why);
	dm_journal(dm, dm_cur_commit(dm), "sleep", u->id, "ok", why);
	dm_save(dm);
	dm_idle_listen(dm);
}

void dm_idle_listen(struct daemon *dm)
{
	if (dm->wp && dm->c && !dk_client_local(dm->c)) {
		/* its published ports are on the engine's host, its addresses not reachable from here */
		static bool said;
		for (size_t i = 0; !said && dm->cur && i < dm->cur->nunits; i++)
			if (state_is_sleeping(dm->st, dm->cur->units[i].id, NULL) && dm->cur->units[i].nports) {
				dm_say("sleeping units do not wake on demand: the engine at '%s' is not on this host "
				       "(`reconciler wake` works)", dk_client_host(dm->c));
				said = true;
			}
		return;
	}
	for (size_t i = 0; dm->wp && dm->cur && i < dm->cur->nunits; i++) {
		const struct rc_unit *u = &dm->cur->units[i];
		if (!state_is_sleeping(dm->st, u->id, NULL) || wp_listening(dm->wp, u->id))
			continue;
		for (size_t k = 0; k < u->nports; k++) {
			const struct rc_port *p = &u->ports[k];
			struct rc_err err = { 0 };
			if (!p->host_port || !str_eq(p->proto, "tcp"))
				continue;
			if (wp_listen(dm->wp, u->id, p->host_ip, p->host_port, p->container_port, &err) < 0) {
				if (!dm->rt[i].listen_warned)
					dm_say("warning: %s sleeps without waking on demand: %s", u->id, err.msg);
				dm->rt[i].listen_warned = true;
			} else {
				dm->rt[i].listen_warned = false;
				log_debug("idle: listening on port %u for %s", p->host_port, u->id);
			}
		}
	}
}

/* The units connections asked for, in the order they asked. */
struct wanted {
	char **v;
	size_t n, cap;
};

static void take_wanted(struct daemon *dm, const struct pollfd *fds, size_t n, struct wanted *w)
{
	for (const char *u = wp_handle(dm->wp, fds, n); u; u = wp_handle(dm->wp, NULL, 0)) {
		GROW(w->v, w->n + 1, w->cap);
		w->v[w->n++] = xstrdup(u);
	}
}

/*
 * Right after a wake, relay until each spliced connection has its first
 * bytes from the container (at most WAKE_PUMP_NS): the client waited for the
 * start already, and the loop's next turn may run slow timers first.  A
 * connection to another sleeping unit meanwhile is queued in w.
 */
static void pump(struct daemon *dm, struct wanted *w)
{
	int64_t end = now_ns() + WAKE_PUMP_NS;
	while (wp_unanswered(dm->wp) && now_ns() < end && !dm->stop) {
		size_t cap = wp_nfds(dm->wp), n = 0;
		_cleanup_free_ struct pollfd *fds = xcalloc(cap + 1, sizeof(*fds));
		wp_pollfds(dm->wp, fds, &n, cap);
		poll(fds, n, 10);
		take_wanted(dm, fds, n, w);
	}
}

void dm_idle_handle(struct daemon *dm, const struct pollfd *fds, size_t n)
{
	if (!dm->wp)
		return;
	struct wanted w = { 0 };
	take_wanted(dm, fds, n, &w);
	for (size_t k = 0; k < w.n; k++) {
		const char *id = w.v[k];
		struct buf msg = BUF_INIT;
		struct rc_err err = { 0 };
		if (dm->stop)
			break;
		dm_say("a connection to a port of sleeping unit %s: waking it", id);
		int64_t t0 = now_ns();
		if (dm_wake(dm, id, "a connection to its port", &msg, &err) < 0)
			dm_say("waking %s on demand: %s", id, err.msg);
		else
			log_info("idle: %s woken on demand in %.0f ms", id, (double)(now_ns() - t0) / (double)NS_PER_MS);
		buf_release(&msg);
		pump(dm, &w);
	}
	for (size_t k = 0; k < w.n; k++)
		free(w.v[k]);
	free(w.v);
}

/* Pass the connections held for unit i to its container, now running; or close them. */
static void splice_held(struct daemon *dm, size_t i, bool ok)
{
	const struct rc_unit *u = &dm->cur->units[i];
	if (!dm->wp || !wp_held(dm->wp, u->id))
		return;
	struct dk_container *ct = NULL;
	struct rc_err err = { 0 };
	const char *ip = NULL;
	if (ok && dk_container_inspect(dm->c, u->container, &ct, NULL, &err) == 0)
		for (size_t k = 0; !ip && k < u->nnetworks; k++) {
			const struct dk_net_attach *a = dk_container_network(ct, u->networks[k]);
			ip = a && a->ip && *a->ip ? a->ip : NULL;
		}
	if (ip) {
		log_debug("idle: splicing %zu held connection(s) to %s at %s", wp_held(dm->wp, u->id), u->id, ip);
		wp_splice(dm->wp, u->id, ip);
	} else {
		dm_say("closing the connections held for %s: %s", u->id, ok ? "no address of its container" : "not started");
		wp_drop(dm->wp, u->id);
	}
	dk_container_free(ct);
}

void dm_idle_sample(struct daemon *dm)
{
	dm_idle_listen(dm);  /* a port that was taken may be free now */
	int64_t period = idle_period(dm);
	if (!period || !dm->c)
		return;  /* armed again by dm_install() and dm_wake() */
	int64_t t0 = now_ns();
	size_t n = dm->cur->nunits, ncalls = 0;
	_cleanup_free_ const char **names = xcalloc(n + 1, sizeof(*names));
	_cleanup_free_ size_t *idx = xcalloc(n + 1, sizeof(*idx));
	for (size_t i = 0; i < n; i++) {
		if (!sampled(dm, i)) {
			dm->rt[i].idle_since = 0;
			continue;
		}
		idx[ncalls] = i;
		names[ncalls++] = dm->cur->units[i].container;
	}
	/* one stats call per unit, IDLE_PARALLEL in flight: each waits for the engine's next tick */
	_cleanup_free_ struct dk_net_bytes *res = xcalloc(ncalls + 1, sizeof(*res));
	dk_net_bytes_many(dm->c, names, ncalls, IDLE_PARALLEL, res);
	int64_t now = now_ns();
	for (size_t k = 0; k < ncalls && !dm->stop; k++) {
		size_t i = idx[k];
		struct unit_rt *rt = &dm->rt[i];
		const struct rc_unit *u = &dm->cur->units[i];
		uint64_t bytes = res[k].rx + res[k].tx;
		if (!res[k].ok) {
			if (res[k].st.http != 404)
				log_debug("idle: %s: %s", u->id, res[k].error);
			rt->idle_since = 0;
			continue;
		}
		/* not running (no counters), or counters that moved: it is not idle */
		if (!res[k].counted || !rt->idle_since || bytes != rt->idle_bytes) {
			if (rt->idle_since && res[k].counted)
				log_debug("idle: %s: %llu bytes moved", u->id,
					  (unsigned long long)(bytes - rt->idle_bytes));
			rt->idle_bytes = bytes;
			rt->idle_since = res[k].counted ? now : 0;
			continue;
		}
		if (now - rt->idle_since >= u->idle_after_ns && !needed_awake(dm, i))
			put_to_sleep(dm, i, now - rt->idle_since);
	}
	log_debug("idle: sampled %zu unit%s in %.1f ms", ncalls, ncalls == 1 ? "" : "s",
		  (double)(now - t0) / (double)NS_PER_MS);  /* tests/bench/idle.sh reads this */
	dm_arm(dm, DT_IDLE, now_ns() + period);
}

/* ---- waking ------------------------------------------------------------------ */

/* apply's workers start units side by side: one at a time in the wake proxy */
static pthread_mutex_t wp_mu = PTHREAD_MUTEX_INITIALIZER;

void dm_idle_before_start(void *ctx, const struct rc_unit *u)
{
	struct daemon *dm = ctx;
	pthread_mutex_lock(&wp_mu);
	if (dm->wp && wp_listening(dm->wp, u->id)) {
		wp_unlisten(dm->wp, u->id);  /* held what waits; the engine may publish the port */
		log_debug("idle: %s starts: %zu connection(s) held, its listeners closed", u->id,
			  wp_held(dm->wp, u->id));
	}
	pthread_mutex_unlock(&wp_mu);
}

/* Select the units arg names (unit ids, customer:ID) into in[]; -1 naming the first that is none. */
static int select_named(struct daemon *dm, const char *arg, bool *in, struct rc_err *err)
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
	return 0;
}

/* Add to in[] the sleeping units the selected ones depend on, directly or not. */
static void add_sleeping_deps(struct daemon *dm, bool *in)
{
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < dm->cur->nunits; i++) {
			const struct rc_unit *u = &dm->cur->units[i];
			for (size_t j = 0; in[i] && j < u->ndeps; j++) {
				struct rc_unit *dep = rc_desired_unit(dm->cur, u->deps[j].unit);
				size_t k = dep ? (size_t)(dep - dm->cur->units) : 0;
				if (dep && !in[k] && state_is_sleeping(dm->st, dep->id, NULL)) {
					in[k] = true;
					grew = true;
				}
			}
		}
	}
}

/* Arm t at at, unless it is armed earlier already. */
static void arm_by(struct daemon *dm, enum dtimer t, int64_t at)
{
	if (!dm->at[t] || dm->at[t] > at)
		dm_arm(dm, t, at);
}

int dm_wake(struct daemon *dm, const char *arg, const char *who, struct buf *msg, struct rc_err *err)
{
	if (!dm->cur || !dm->c)
		return rc_errf(err, "no desired state in force yet");
	size_t n = dm->cur->nunits, nwake = 0;
	_cleanup_free_ bool *in = xcalloc(n + 1, sizeof(bool));
	_cleanup_free_ bool *asked = xcalloc(n + 1, sizeof(bool));
	if (select_named(dm, arg, in, err) < 0)
		return -1;
	memcpy(asked, in, n * sizeof(bool));
	add_sleeping_deps(dm, in);
	for (size_t i = 0; i < n; i++) {
		struct rc_unit *u = &dm->cur->units[i];
		in[i] = in[i] && state_is_sleeping(dm->st, u->id, NULL);
		if (!in[i])
			continue;
		if (state_is_disabled(dm->st, u->id, NULL))
			return rc_errf(err, "unit '%s' is disabled: `reconciler enable %s` first", u->id, u->id);
		nwake++;
	}
	if (!nwake) {
		for (size_t i = 0; i < n; i++)
			if (asked[i])
				splice_held(dm, i, dm->cur->units[i].running);
		buf_addf(msg, "nothing to wake: %s %s not sleeping", arg, strchr(arg, ' ') ? "are" : "is");
		return 0;
	}
	_cleanup_free_ char *by = xasprintf("asked by %s", who ? who : "an operator");
	for (size_t i = 0; i < n; i++) {
		if (!in[i])
			continue;
		state_del_sleeping(dm->st, dm->cur->units[i].id);
		dm->cur->units[i].running = true;  /* only running units are put to sleep */
		dm->rt[i].idle_since = 0;
		/* its listeners stay open (a burst of connections is held, not refused) until right before the
		 * engine starts its container: dm_idle_before_start(), called by the apply below */
	}
	dm_say("waking %s (%s): starting in dependency order", arg, by);
	struct unit_set set = { dm->cur, in };
	struct buf why = BUF_INIT;
	struct conv_opts co = { .keep = dm_keep_units, .keep_ctx = &set, .self_heal = true };
	size_t nsteps = 0;
	int64_t t0 = now_ns();
	enum conv_result r = dm_converge(dm, dm->cur, &co, &why, &nsteps);
	log_debug("idle: the converge of the wake took %.0f ms", (double)(now_ns() - t0) / (double)NS_PER_MS);
	for (size_t i = 0; i < n; i++) {
		if (in[i] && dm->wp)
			wp_unlisten(dm->wp, dm->cur->units[i].id);  /* not started (the converge failed first) */
		if (in[i])
			dm_journal(dm, dm_cur_commit(dm), "wake", dm->cur->units[i].id, r == CONV_OK ? "ok" : "failed",
				   r == CONV_OK ? by : buf_cstr(&why));
		if (in[i] || asked[i])
			splice_held(dm, i, r == CONV_OK);
	}
	dm_save(dm);
	/* a look at every unit and the next sample soon, not at this turn: held connections first */
	arm_by(dm, DT_CHECK, now_ns() + NS_PER_S);
	arm_by(dm, DT_IDLE, now_ns() + NS_PER_S);
	if (r != CONV_OK) {
		rc_errf(err, "waking %s: %s", arg, buf_cstr(&why));
		buf_release(&why);
		return -1;
	}
	buf_release(&why);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (in[i])
			buf_addf(msg, "%s%s", k++ ? ", " : "woke ", dm->cur->units[i].id);
	buf_addf(msg, " (ready)");
	return 0;
}
