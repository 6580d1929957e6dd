/* apply.c — see apply.h. */
#include "apply.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "depsched.h"
#include "health.h"
#include "regauth.h"
#include "spec.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL

struct job {
	const struct rc_unit *u;
	const struct plan_action **acts;  /* this unit's up-phase actions, in plan order */
	size_t nacts;
	enum rc_dep_cond need;            /* strongest condition a dependent waits for */
	char *label;                      /* "+ alpha/app" */
};

struct run {
	const struct rc_desired *d;
	struct rc_state *st;
	const struct apply_opts *o;
	struct dk_client **clients;
	struct job *jobs;
	size_t njobs;
	const char **failed_nets;         /* networks whose create failed in phase 1 */
	size_t nfailed_nets;
	pthread_mutex_t mu;               /* guards st, out, stdout */
	struct apply_result *out;
};

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

/*
 * Crash-safety tests: RECONCILER_TEST_CRASH_AT=<point> kills the process
 * with SIGKILL at that point, as a `kill -9` would (points: after-create,
 * after-connect, after-start, after-job, after-removal, after-network).
 */
static void crash_point(const char *name)
{
	const char *at = getenv("RECONCILER_TEST_CRASH_AT");
	if (at && strcmp(at, name) == 0)
		raise(SIGKILL);
}

/* ---- recording ---------------------------------------------------------- */

static void record(struct run *r, const char *what, const char *unit, enum apply_status s,
		   const char *msg, int64_t ns)
{
	pthread_mutex_lock(&r->mu);
	struct apply_result *out = r->out;
	out->steps = xrealloc(out->steps, (out->nsteps + 1) * sizeof(*out->steps));
	struct apply_step *step = &out->steps[out->nsteps++];
	step->what = xstrdup(what);
	step->unit = unit ? xstrdup(unit) : NULL;
	step->status = s;
	step->msg = msg ? xstrdup(msg) : NULL;
	step->ns = ns;
	if (s == APPLY_FAILED || s == APPLY_SKIPPED)
		out->nfailed++;
	if (s == APPLY_AWAITING)
		out->nawaiting++;
	struct state_journal_entry je = { .commit = r->d->commit, .action = what, .unit = unit,
					  .result = apply_status_name(s), .message = msg };
	struct rc_err err;
	if (state_journal(r->st, &je, &err) < 0)
		log_warn("%s", err.msg);
	if (r->o->progress) {
		printf("%-8s %-40s %s\n", s == APPLY_OK ? "ok" : apply_status_name(s), what, msg ? msg : "");
		fflush(stdout);
	}
	pthread_mutex_unlock(&r->mu);
}

/* ---- building a container ----------------------------------------------- */

/* A borrowed key/value pair for the label arrays dk_* only read. */
static struct rc_kv kv(const char *k, const char *v)
{
	return (struct rc_kv){ (char *)(uintptr_t)k, (char *)(uintptr_t)v };
}

static const struct rc_secret *find_secret(const struct rc_unit *u, const char *name)
{
	for (size_t i = 0; i < u->nsecrets; i++)
		if (strcmp(u->secrets[i].name, name) == 0)
			return &u->secrets[i];
	return NULL;
}

/* Make sure u's image is present (pulling it if not) and return the ID its
 * reference resolves to now in *ret_id (malloc'ed).  Containers are created
 * from that ID, not from the reference: the container runs exactly what was
 * resolved here, and the engine's container list need not resolve the
 * reference again for every container it lists (docs/architecture.md). */
static int ensure_image(struct dk_client *c, const struct rc_unit *u, const struct apply_opts *o,
			char **ret_id, struct rc_err *err)
{
	struct dk_image *img = NULL;
	struct dk_status ds;
	if (dk_image_inspect(c, u->image, &img, &ds, err) == 0) {
		*ret_id = img->id ? xstrdup(img->id) : xstrdup(u->image);
		dk_image_free(img);
		return 0;
	}
	if (ds.http != 404)
		return -1;
	char *id = NULL;
	struct dk_pull_opts po = o->pull;
	const char *ev;
	if (!po.retries && (ev = getenv("RECONCILER_PULL_RETRIES")) && *ev)
		po.retries = atoi(ev) > 0 ? atoi(ev) : -1;
	if (!po.first_delay_ms && (ev = getenv("RECONCILER_PULL_BACKOFF_MS")) && *ev)
		po.first_delay_ms = atol(ev);
	po.interrupted = o->interrupted;  /* the daemon's SIGTERM ends the waits between attempts */
	po.interrupted_ctx = o->interrupted_ctx;
	char *auth = NULL;
	_cleanup_free_ char *source = NULL;
	if (regauth_lookup(NULL, u->image, &auth, &source, err) < 0)
		return rc_err_prefix(err, "image '%s' is not present", u->image);
	po.registry_auth = auth;
	if (auth)
		log_info("pulling '%s' (credentials from %s)", u->image, source);
	else
		log_info("pulling '%s'", u->image);
	int r = dk_image_pull(c, u->image, &po, &id, &ds, err);
	regauth_free(auth);
	if (r < 0)
		return rc_err_prefix(err, "image '%s' is not present and cannot be pulled", u->image);
	*ret_id = id ? id : xstrdup(u->image);
	return 0;
}

static int ensure_volumes(struct dk_client *c, const struct rc_desired *d, const struct rc_unit *u,
			  struct rc_err *err)
{
	for (size_t i = 0; i < u->nmounts; i++) {
		const struct rc_mount *m = &u->mounts[i];
		if (m->kind != RC_MOUNT_VOLUME)
			continue;
		struct rc_kv labels[4] = { kv(RC_LABEL_MANAGED, RC_MANAGED_BY),
					   kv(RC_LABEL_PROJECT, d->settings.project),
					   kv(RC_LABEL_UNIT, u->id) };
		size_t nl = 3;
		if (u->customer)
			labels[nl++] = kv(RC_LABEL_CUSTOMER, u->customer);
		if (dk_volume_create(c, m->source, labels, nl, NULL, err) < 0)
			return rc_err_prefix(err, "creating volume '%s'", m->source);
	}
	return 0;
}

/* Create the container for u (not started).  *ret_id malloc'ed. */
static int create_container(struct run *r, struct dk_client *c, const struct rc_unit *u, char **ret_id,
			    struct rc_err *err)
{
	const struct rc_desired *d = r->d;
	_cleanup_free_ char *image_id = NULL;
	if (ensure_image(c, u, r->o, &image_id, err) < 0 || ensure_volumes(c, d, u, err) < 0)
		return -1;

	struct buf spec = BUF_INIT;
	spec_canonical(u, true, &spec);
	size_t nl = u->nlabels + 12;
	struct rc_kv *labels = xcalloc(nl, sizeof(*labels));
	size_t k = 0;
	labels[k++] = kv(RC_LABEL_MANAGED, RC_MANAGED_BY);
	labels[k++] = kv(RC_LABEL_PROJECT, d->settings.project);
	labels[k++] = kv(RC_LABEL_UNIT, u->id);
	labels[k++] = kv(RC_LABEL_SERVICE, u->service);
	if (u->customer)
		labels[k++] = kv(RC_LABEL_CUSTOMER, u->customer);
	labels[k++] = kv(RC_LABEL_HASH, u->hash);
	labels[k++] = kv(RC_LABEL_BASE_HASH, u->base_hash);
	labels[k++] = kv(RC_LABEL_SPEC, buf_cstr(&spec));
	labels[k++] = kv(RC_LABEL_COMMIT, d->commit ? d->commit : "");
	labels[k++] = kv(RC_LABEL_IMAGE, u->image);
	/* so that a later commit without this unit can still tear it down after its dependents */
	struct buf deps = BUF_INIT;
	for (size_t i = 0; i < u->ndeps; i++)
		buf_addf(&deps, "%s%s", i ? "," : "", u->deps[i].unit);
	if (u->ndeps)
		labels[k++] = kv(RC_LABEL_DEPENDS, buf_cstr(&deps));
	for (size_t i = 0; i < u->nlabels; i++)
		labels[k++] = u->labels[i];

	struct dk_port *ports = xcalloc(u->nports + 1, sizeof(*ports));
	for (size_t i = 0; i < u->nports; i++)
		ports[i] = (struct dk_port){ u->ports[i].container_port, u->ports[i].proto,
					     u->ports[i].host_port, u->ports[i].host_ip };
	struct dk_mount *mounts = xcalloc(u->nmounts + 1, sizeof(*mounts));
	size_t nm = 0;
	for (size_t i = 0; i < u->nmounts; i++) {
		const struct rc_mount *m = &u->mounts[i];
		struct dk_mount *dm = &mounts[nm++];
		dm->target = m->target;
		dm->read_only = m->read_only;
		switch (m->kind) {
		case RC_MOUNT_VOLUME: dm->type = DK_MOUNT_VOLUME; dm->source = m->source; break;
		case RC_MOUNT_BIND: dm->type = DK_MOUNT_BIND; dm->source = m->source; break;
		case RC_MOUNT_TMPFS: dm->type = DK_MOUNT_TMPFS; dm->source = NULL; break;
		case RC_MOUNT_SECRET: {
			const struct rc_secret *s = find_secret(u, m->source);
			if (!s || !s->path) {
				nm--;
				log_warn("unit '%s': secret '%s' has no file; not mounted", u->id, m->source);
				break;
			}
			dm->type = DK_MOUNT_BIND;
			dm->source = s->path;
			dm->read_only = true;
			break;
		}
		}
	}
	/* The service name is an alias on the customer's own network (and on
	 * every network of a shared service); customers on shared networks are
	 * reachable there by container name only. */
	const char *aliases[1] = { u->service };
	struct dk_create_spec cs = {
		.name = u->container,
		.image = image_id,
		.cmd = (const char *const *)u->command,
		.ncmd = u->ncommand,
		.entrypoint = (const char *const *)u->entrypoint,
		.nentrypoint = u->nentrypoint,
		.env = u->env,
		.nenv = u->nenv,
		.labels = labels,
		.nlabels = k,
		.user = u->user,
		.workdir = u->workdir,
		.ports = ports,
		.nports = u->nports,
		.nano_cpus = u->nano_cpus,
		.memory = u->memory,
		.memory_reservation = u->memory_reservation,
		.pids_limit = u->pids_limit,
		.restart_policy = u->restart.policy,
		.restart_max_retries = u->restart.max_retries,
		.health_cmd = u->health.kind == RC_HEALTH_CMD ? u->health.cmd : NULL,
		.health_disable = u->health.kind == RC_HEALTH_HTTP,
		.health_interval_ns = u->health.kind == RC_HEALTH_CMD ? u->health.interval_ns : 0,
		.health_timeout_ns = u->health.kind == RC_HEALTH_CMD ? u->health.timeout_ns : 0,
		.health_start_period_ns = u->health.kind == RC_HEALTH_CMD ? u->health.start_period_ns : 0,
		.health_retries = u->health.kind == RC_HEALTH_CMD ? u->health.retries : 0,
		.stop_timeout_s = (int)(u->stop_grace_ns / NS_PER_S),
		.stop_signal = u->stop_signal,
		.mounts = mounts,
		.nmounts = nm,
		.privileged = u->privileged,
		.pid_host = u->pid_host,
		.ipc_host = u->ipc_host,
		.cap_add = (const char *const *)u->cap_add,
		.ncap_add = u->ncap_add,
		.devices = (const char *const *)u->devices,
		.ndevices = u->ndevices,
		.network = u->nnetworks ? u->networks[0] : NULL,
		.aliases = aliases,
		.naliases = 1,
	};
	char *id = NULL;
	int rc = dk_container_create(c, &cs, &id, NULL, err);
	free(labels);
	free(ports);
	free(mounts);
	buf_release(&spec);
	buf_release(&deps);
	if (rc < 0)
		return rc_err_prefix(err, "creating '%s'", u->container);
	crash_point("after-create");
	for (size_t i = 1; i < u->nnetworks; i++) {
		const char *al = u->customer ? u->container : u->service;
		if (dk_network_connect(c, u->networks[i], id, &al, 1, NULL, err) < 0) {
			rc_err_prefix(err, "connecting '%s' to '%s'", u->container, u->networks[i]);
			free(id);
			return -1;
		}
		crash_point("after-connect");
	}
	*ret_id = id;
	return 0;
}

/* Stop (with the unit's grace period) and remove a container; gone is fine. */
static int stop_remove(struct dk_client *c, const char *id, int64_t grace_ns, struct rc_err *err)
{
	struct dk_status ds;
	int t = grace_ns > 0 ? (int)(grace_ns / NS_PER_S) : -1;
	if (dk_container_stop(c, id, t, &ds, err) < 0 && ds.http != 404)
		return -1;
	if (dk_container_remove(c, id, true, false, &ds, err) < 0 && ds.http != 404)
		return -1;
	return 0;
}

/* ---- waiting for a unit ------------------------------------------------- */

bool apply_interrupted(const struct apply_opts *o)
{
	return o->interrupted && o->interrupted(o->interrupted_ctx);
}

static int64_t unit_bound_ns(const struct rc_unit *u, const struct apply_opts *o)
{
	if (o->rollout_timeout_ns > 0)
		return o->rollout_timeout_ns;
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

int apply_http_probe(const struct dk_container *ct, const struct rc_unit *u, int64_t cap_ms, char *why,
		     size_t whylen)
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
	return health_http_probe(ip, port, u->health.http_path, to, why, whylen) == 1;
}

/*
 * Wait until the container of u is ready: healthy if it has a health check,
 * exited 0 if a dependent needs it completed, running otherwise.  Returns 0
 * and a note ("healthy after 1.2s") or -1 with the reason.
 */
static int wait_ready(struct dk_client *c, const struct rc_unit *u, const char *id,
		      enum rc_dep_cond need, const struct apply_opts *o, char *note, size_t notelen,
		      struct rc_err *err)
{
	int64_t t0 = now_ns(), bound = unit_bound_ns(u, o);
	bool want_health = u->health.kind != RC_HEALTH_NONE;
	bool want_exit = need == RC_DEP_COMPLETED && !want_health;
	int64_t poll_ms = 250;
	if (u->health.kind == RC_HEALTH_HTTP && u->health.interval_ns / NS_PER_MS < 1000)
		poll_ms = u->health.interval_ns / NS_PER_MS > 100 ? u->health.interval_ns / NS_PER_MS : 100;
	char why[256] = "";
	for (;;) {
		struct dk_container *ct = NULL;
		if (dk_container_inspect(c, id, &ct, NULL, err) < 0)
			return rc_err_prefix(err, "waiting for '%s'", u->container);
		const char *s = ct->state_status ? ct->state_status : "";
		double secs = (double)(now_ns() - t0) / 1e9;
		if (strcmp(s, "exited") == 0 || strcmp(s, "dead") == 0) {
			char reason[128];
			health_exit_reason(ct->exit_code, ct->oom_killed, reason, sizeof reason);
			int ok = want_exit && ct->exit_code == 0;
			dk_container_free(ct);
			if (ok) {
				snprintf(note, notelen, "completed after %.1fs", secs);
				return 0;
			}
			return rc_errf(err, "'%s' %s", u->container, reason);
		}
		if (!want_health && !want_exit) {
			dk_container_free(ct);
			snprintf(note, notelen, "started");
			return 0;
		}
		if (u->health.kind == RC_HEALTH_CMD) {
			if (str_eq(ct->health_status, "healthy")) {
				dk_container_free(ct);
				snprintf(note, notelen, "healthy after %.1fs", secs);
				return 0;
			}
			if (str_eq(ct->health_status, "unhealthy")) {
				dk_container_free(ct);
				return rc_errf(err, "'%s' is unhealthy (docker health check failed %d times)",
					       u->container, u->health.retries);
			}
			snprintf(why, sizeof why, "health: %s", ct->health_status ? ct->health_status : "none");
		} else if (u->health.kind == RC_HEALTH_HTTP) {
			if (apply_http_probe(ct, u, 0, why, sizeof why) == 1) {
				dk_container_free(ct);
				snprintf(note, notelen, "healthy after %.1fs", secs);
				return 0;
			}
		}
		dk_container_free(ct);
		if (now_ns() - t0 > bound)
			return rc_errf(err, "'%s' not %s after %.0fs (%s)", u->container,
				       want_health ? "healthy" : "completed", (double)bound / 1e9, why);
		for (int64_t slept = 0; slept < poll_ms; slept += 250) {
			if (apply_interrupted(o))
				return rc_errf(err, "interrupted while waiting for '%s' to be %s (%s)", u->container,
					       want_health ? "healthy" : "completed", why);
			sleep_ms(poll_ms - slept < 250 ? poll_ms - slept : 250);
		}
	}
}

/* ---- one unit's job (up phase) ----------------------------------------- */

/* An in-place change that removes a memory or CPU limit (docker update cannot). */
static bool lifts_limit(const struct plan_action *a)
{
	for (size_t i = 0; i < a->changes.n; i++) {
		const struct spec_change *ch = &a->changes.v[i];
		/* a reservation neither: the update API takes 0 as "unchanged" and -1 as the cgroup's
		 * "max" (on cgroup v2 memory.low = max, the opposite of none) */
		if (!ch->after && (strcmp(ch->key, "memory") == 0 || strcmp(ch->key, "cpus") == 0 ||
				   strcmp(ch->key, "memory_reservation") == 0))
			return true;
	}
	return false;
}

static int create_start(struct run *r, struct dk_client *c, const struct rc_unit *u, char **ret_id,
			bool *needs_wait, struct rc_err *err)
{
	char *id = NULL;
	if (create_container(r, c, u, &id, err) < 0)
		return -1;
	if (u->running) {
		if (dk_container_start(c, id, NULL, err) < 0) {
			free(id);
			return rc_err_prefix(err, "starting '%s'", u->container);
		}
		crash_point("after-start");
		*needs_wait = true;
	}
	*ret_id = id;
	return 0;
}

/*
 * Dependencies with no work in this apply are not in the scheduler's graph:
 * check their condition here.  A container left running but not yet healthy
 * (an apply killed after its start, or one still warming up) must gate its
 * dependents all the same.  Dependencies desired stopped are not waited for.
 */
static int wait_idle_deps(struct run *r, struct dk_client *c, const struct rc_unit *u, struct rc_err *err)
{
	for (size_t i = 0; i < u->ndeps; i++) {
		const struct rc_dep *dep = &u->deps[i];
		if (dep->cond == RC_DEP_STARTED)
			continue;
		const struct rc_unit *du = NULL;
		for (size_t k = 0; k < r->d->nunits && !du; k++)
			if (strcmp(r->d->units[k].id, dep->unit) == 0)
				du = &r->d->units[k];
		if (!du || !du->running)
			continue;
		bool has_job = false;
		for (size_t k = 0; k < r->njobs && !has_job; k++)
			has_job = r->jobs[k].u == du;
		if (has_job)
			continue;
		char note[128];
		if (wait_ready(c, du, du->container, dep->cond, r->o, note, sizeof note, err) < 0)
			return rc_err_prefix(err, "dependency '%s'", du->id);
	}
	return 0;
}

static int job_run(void *ctx, int worker, size_t j, struct rc_err *err)
{
	struct run *r = ctx;
	struct job *jb = &r->jobs[j];
	struct dk_client *c = r->clients[worker];
	const struct rc_unit *u = jb->u;
	char *id = NULL;
	bool needs_wait = false;
	int64_t t0 = now_ns();
	char note[256] = "";

	if (apply_interrupted(r->o)) {
		rc_errf(err, "interrupted before '%s'", u->container);
		goto fail;
	}
	if (wait_idle_deps(r, c, u, err) < 0)
		goto fail;
	bool fresh = false;   /* a new container was made in this job: later steps act on it */
	for (size_t i = 0; i < u->nnetworks; i++)
		for (size_t k = 0; k < r->nfailed_nets; k++)
			if (strcmp(u->networks[i], r->failed_nets[k]) == 0) {
				rc_errf(err, "not started: network '%s' could not be created", u->networks[i]);
				goto fail;
			}
	for (size_t i = 0; i < jb->nacts; i++) {
		const struct plan_action *a = jb->acts[i];
		if (fresh)
			break;
		free(id);
		id = a->container_id ? xstrdup(a->container_id) : NULL;
		switch (a->kind) {
		case PLAN_RECREATE:
			if (stop_remove(c, a->container_id, u->stop_grace_ns, err) < 0)
				goto fail;
			/* fall through */
		case PLAN_CREATE:
			free(id);
			id = NULL;
			if (create_start(r, c, u, &id, &needs_wait, err) < 0)
				goto fail;
			fresh = true;
			break;
		case PLAN_UPDATE: {
			if (lifts_limit(a)) {
				/* the engine cannot lift a memory or CPU limit or a reservation in place */
				free(id);
				id = NULL;
				if (stop_remove(c, a->container_id, u->stop_grace_ns, err) < 0 ||
				    create_start(r, c, u, &id, &needs_wait, err) < 0)
					goto fail;
				fresh = true;
				break;
			}
			struct dk_resources res = {
				.nano_cpus = u->nano_cpus,
				.memory = u->memory,
				.memory_reservation = u->memory_reservation, /* 0: unchanged (none to lift) */
				.pids_limit = u->pids_limit ? u->pids_limit : -1,
				.restart_policy = u->restart.policy,
				.restart_max_retries = u->restart.max_retries,
			};
			if (dk_container_update(c, a->container_id, &res, NULL, err) < 0) {
				rc_err_prefix(err, "updating '%s'", u->container);
				goto fail;
			}
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
			struct dk_status ds;
			if (dk_container_start(c, a->container_id, &ds, err) < 0) {
				rc_err_prefix(err, "starting '%s'", u->container);
				goto fail;
			}
			needs_wait = true;
			break;
		}
		default:
			BUG("action %d in the up phase", (int)a->kind);
		}
	}
	if (needs_wait && wait_ready(c, u, id, jb->need, r->o, note, sizeof note, err) < 0)
		goto fail;
	record(r, jb->label, u->id, APPLY_OK, note[0] ? note : NULL, now_ns() - t0);
	crash_point("after-job");
	free(id);
	return 0;
fail:
	record(r, jb->label, u->id, APPLY_FAILED, err->msg, now_ns() - t0);
	free(id);
	return -1;
}

/* ---- phases ------------------------------------------------------------- */

static bool is_up(enum plan_kind k)
{
	return k == PLAN_CREATE || k == PLAN_RECREATE || k == PLAN_UPDATE || k == PLAN_START;
}

static int net_create(struct run *r, struct dk_client *c, const struct plan_action *a)
{
	const struct rc_network *n = a->desired_net;
	struct rc_kv labels[4] = { kv(RC_LABEL_MANAGED, RC_MANAGED_BY), kv(RC_LABEL_PROJECT, r->d->settings.project),
				   kv(RC_LABEL_NETWORK, n->id) };
	size_t nl = 3;
	if (n->customer)
		labels[nl++] = kv(RC_LABEL_CUSTOMER, n->customer);
	struct dk_network_spec ns = { .name = n->name, .labels = labels, .nlabels = nl,
				      .internal = n->internal, .subnet = n->subnet };
	struct rc_err err = { "" };
	_cleanup_free_ char *what = xasprintf("+ network %s", n->name);
	int64_t t0 = now_ns();
	char *id = NULL;
	if (dk_network_create(c, &ns, &id, NULL, &err) < 0) {
		record(r, what, NULL, APPLY_FAILED, err.msg, now_ns() - t0);
		return -1;
	}
	free(id);
	_cleanup_free_ char *msg = n->subnet ? xasprintf("subnet %s", n->subnet) : NULL;
	record(r, what, NULL, APPLY_OK, msg, now_ns() - t0);
	crash_point("after-network");
	return 0;
}

static int teardown_one(struct run *r, struct dk_client *c, const struct plan_action *a)
{
	struct rc_err err = { "" };
	int64_t t0 = now_ns();
	const char *who = a->unit ? a->unit : a->container_name;
	_cleanup_free_ char *what = xasprintf("%s %s", planner_action_marker(a->kind), who);
	int64_t grace = a->desired ? a->desired->stop_grace_ns : r->d->settings.default_stop_grace_ns;
	int rc;
	if (a->kind == PLAN_STOP) {
		struct dk_status ds;
		rc = dk_container_stop(c, a->container_id, (int)(grace / NS_PER_S), &ds, &err);
	} else {
		rc = stop_remove(c, a->container_id, grace, &err);
	}
	record(r, what, a->unit, rc < 0 ? APPLY_FAILED : APPLY_OK, rc < 0 ? err.msg : a->cause, now_ns() - t0);
	crash_point("after-removal");
	return rc;
}

static int net_remove(struct run *r, struct dk_client *c, const struct plan_action *a)
{
	struct rc_err err = { "" };
	struct dk_status ds;
	int64_t t0 = now_ns();
	_cleanup_free_ char *what = xasprintf("- network %s", a->network);
	int rc = dk_network_remove(c, a->network_id, &ds, &err);
	if (rc < 0 && ds.http == 404)
		rc = 0;
	record(r, what, NULL, rc < 0 ? APPLY_FAILED : APPLY_OK, rc < 0 ? err.msg : NULL, now_ns() - t0);
	return rc;
}

/*
 * Actions that do not depend on each other, side by side on a pool of at
 * most `parallel` workers, one client each: the network creates (phase 1),
 * each wave of the teardown (phase 2) and the network removals (phase 4).
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

/* Phases 1 and 4: every network action of `kind`; failed creates go to r->failed_nets. */
static void net_phase(struct run *r, struct dk_client *c, const struct plan *p, enum plan_kind kind,
		      int parallel, action_fn fn)
{
	const struct plan_action **acts = xcalloc(p->n + 1, sizeof(*acts));
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == kind)
			acts[n++] = &p->v[i];
	bool *ok = xcalloc(n + 1, sizeof(bool));
	run_side_by_side(r, c, acts, n, parallel, fn, ok);
	for (size_t k = 0; k < n; k++)
		if (!ok[k] && kind == PLAN_NET_CREATE)
			r->failed_nets[r->nfailed_nets++] = acts[k]->network;
	free(ok);
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

/* Strongest condition any dependent (with work, or not) waits for on u. */
static enum rc_dep_cond needed_condition(const struct rc_desired *d, const struct rc_unit *u)
{
	enum rc_dep_cond need = RC_DEP_STARTED;
	for (size_t i = 0; i < d->nunits; i++)
		for (size_t k = 0; k < d->units[i].ndeps; k++)
			if (strcmp(d->units[i].deps[k].unit, u->id) == 0 && d->units[i].deps[k].cond > need)
				need = d->units[i].deps[k].cond;
	return need;
}

/* See apply_opts.wait_unchanged. */
static void wait_unchanged(struct run *r, struct dk_client *c, const struct plan *p)
{
	for (size_t i = 0; i < r->d->nunits; i++) {
		const struct rc_unit *u = &r->d->units[i];
		if (!u->running || u->health.kind == RC_HEALTH_NONE || state_is_disabled(r->st, u->id, NULL))
			continue;
		bool has_work = false;
		for (size_t k = 0; k < p->n && !has_work; k++)
			has_work = p->v[k].unit && strcmp(p->v[k].unit, u->id) == 0;
		if (has_work)
			continue;
		int64_t t0 = now_ns();
		char note[128];
		struct rc_err err = { "" };
		if (wait_ready(c, u, u->container, RC_DEP_STARTED, r->o, note, sizeof note, &err) < 0) {
			_cleanup_free_ char *what = xasprintf("= %s", u->id);
			record(r, what, u->id, APPLY_FAILED, err.msg, now_ns() - t0);
		}
	}
}

int apply_run(struct dk_client *c, const struct rc_desired *d, const struct plan *p,
	      struct rc_state *st, const struct apply_opts *o, struct apply_result *ret)
{
	memset(ret, 0, sizeof(*ret));
	struct run r = { .d = d, .st = st, .o = o, .out = ret };
	pthread_mutex_init(&r.mu, NULL);
	int parallel = o->parallel > 0 ? o->parallel : 4;

	/* 0. Persist the allocations before the first change: killed later, we
	 * would leave networks and containers holding subnets and host ports the
	 * state does not know, and a created, never started container publishes
	 * nothing in Docker's list, so the next run would hand its port out
	 * again. */
	struct rc_err serr = { "" };
	if (state_save(st, &serr) < 0) {
		record(&r, "save allocations", NULL, APPLY_FAILED, serr.msg, 0);
		pthread_mutex_destroy(&r.mu);
		return -1;
	}

	/* 1. networks */
	int64_t t = now_ns();
	r.failed_nets = xcalloc(p->n + 1, sizeof(char *));
	net_phase(&r, c, p, PLAN_NET_CREATE, parallel, net_create);
	ret->phase_ns[0] = now_ns() - t;

	/* 2. teardown, in the plan's order */
	t = now_ns();
	teardown_phase(&r, c, p, parallel);
	ret->phase_ns[1] = now_ns() - t;

	/* 3. rollout: one job per unit with up-phase work */
	t = now_ns();
	r.jobs = xcalloc(p->n + 1, sizeof(*r.jobs));
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		if (!is_up(a->kind) || !a->desired)
			continue;
		if (a->protected_) {
			pthread_mutex_lock(&r.mu);
			bool approved = state_is_approved(st, a->unit, a->desired->hash);
			if (!approved)
				state_set_awaiting(st, a->unit, a->desired->hash, d->commit, 0);
			pthread_mutex_unlock(&r.mu);
			if (!approved) {
				_cleanup_free_ char *what = xasprintf("%s %s", planner_action_marker(a->kind), a->unit);
				record(&r, what, a->unit, APPLY_AWAITING, a->cause, 0);
				continue;
			}
		}
		struct job *jb = NULL;
		for (size_t k = 0; k < r.njobs && !jb; k++)
			if (r.jobs[k].u == a->desired)
				jb = &r.jobs[k];
		if (!jb) {
			jb = &r.jobs[r.njobs++];
			jb->u = a->desired;
			jb->acts = xcalloc(p->n, sizeof(*jb->acts));
			jb->need = needed_condition(d, a->desired);
		}
		jb->acts[jb->nacts++] = a;
	}
	for (size_t k = 0; k < r.njobs; k++) {
		struct job *jb = &r.jobs[k];
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < jb->nacts; i++)
			buf_addf(&b, "%s%s", i ? "," : "", planner_action_marker(jb->acts[i]->kind));
		buf_addf(&b, " %s", jb->u->id);
		jb->label = buf_detach(&b, NULL);
	}
	if (r.njobs) {
		struct sched_graph g = { r.njobs, xcalloc(r.njobs, sizeof(size_t *)),
					 xcalloc(r.njobs, sizeof(size_t)) };
		const char **names = xcalloc(r.njobs, sizeof(char *));
		for (size_t k = 0; k < r.njobs; k++) {
			const struct rc_unit *u = r.jobs[k].u;
			names[k] = u->id;
			g.deps[k] = xcalloc(u->ndeps + 1, sizeof(size_t));
			for (size_t di = 0; di < u->ndeps; di++)
				for (size_t m = 0; m < r.njobs; m++)
					if (strcmp(r.jobs[m].u->id, u->deps[di].unit) == 0)
						g.deps[k][g.ndeps[k]++] = m;
		}
		r.clients = xcalloc((size_t)parallel, sizeof(*r.clients));
		for (int w = 0; w < parallel; w++)
			r.clients[w] = dk_client_clone(c);
		struct sched_result *res = xcalloc(r.njobs, sizeof(*res));
		sched_run(&g, parallel, job_run, &r, names, res);
		for (size_t k = 0; k < r.njobs; k++)
			if (res[k].status == SCHED_SKIPPED)
				record(&r, r.jobs[k].label, r.jobs[k].u->id, APPLY_SKIPPED, res[k].msg, 0);
		sched_results_release(res, r.njobs);
		free(res);
		for (int w = 0; w < parallel; w++)
			dk_client_free(r.clients[w]);
		free(r.clients);
		free(names);
		sched_graph_release(&g);
	}
	if (o->wait_unchanged)
		wait_unchanged(&r, c, p);
	ret->phase_ns[2] = now_ns() - t;

	/* 4. networks no longer wanted */
	t = now_ns();
	net_phase(&r, c, p, PLAN_NET_REMOVE, parallel, net_remove);
	ret->phase_ns[3] = now_ns() - t;

	for (size_t k = 0; k < r.njobs; k++) {
		free(r.jobs[k].acts);
		free(r.jobs[k].label);
	}
	free(r.jobs);
	free(r.failed_nets);
	pthread_mutex_destroy(&r.mu);
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
	memset(r, 0, sizeof(*r));
}
