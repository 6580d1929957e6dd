/* apply.c — see apply.h. */
#include "apply.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <poll.h>
#include <unistd.h>
#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bindpath.h"
#include "buf.h"
#include "depsched.h"
#include "extvol.h"
#include "health.h"
#include "ready.h"
#include "workq.h"
#include "regauth.h"
#include "spec.h"
#include "speckeys.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL

struct job;

/* An image reference resolved once per run (every unit of a template shares it). */
struct image_entry {
	char *ref;
	char *id;                         /* NULL while it is being resolved, or when it failed */
	char *error;                      /* why it cannot be had */
	bool fault;                       /* ... because the engine failed */
	bool busy;
};

struct run {
	const struct rc_desired *d;
	struct rc_state *st;
	const struct apply_opts *o;
	struct dk_client **clients;       /* one per worker */
	struct job *jobs;
	size_t njobs;
	pthread_mutex_t mu;               /* guards st, out, stdout, images */
	pthread_cond_t image_cv;
	struct image_entry *images;
	size_t nimages, capimages;
	struct apply_result *out;
	bool tty;                         /* progress on a terminal: one updating line */
	bool line_shown;                  /* that line is on the screen now */
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
 * after-connect, after-start, after-job, after-removal, after-network, and
 * of a network's recreation after-network-stop, after-network-remove).
 */
static void crash_point(const char *name)
{
	const char *at = getenv("RECONCILER_TEST_CRASH_AT");
	if (at && strcmp(at, name) == 0)
		raise(SIGKILL);
}

/* ---- recording ---------------------------------------------------------- */

/* fault: a FAILED or SKIPPED step is no verdict: the engine failed (apply_step.engine_fault). */
static void record(struct run *r, const char *what, const char *unit, enum apply_status s,
		   const char *msg, bool fault, int64_t ns)
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
static int resolve_image(struct dk_client *c, const struct rc_unit *u, const struct apply_opts *o,
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

/*
 * resolve_image() once per reference and run: the first unit that needs it
 * resolves (or pulls) it while the others wait for the answer, whether an ID
 * or an error.
 */
static int ensure_image(struct run *r, struct dk_client *c, const struct rc_unit *u, char **ret_id,
			struct rc_err *err)
{
	pthread_mutex_lock(&r->mu);
	struct image_entry *e = NULL;
	for (;;) {
		e = NULL;
		for (size_t i = 0; i < r->nimages && !e; i++)
			if (strcmp(r->images[i].ref, u->image) == 0)
				e = &r->images[i];
		if (!e || !e->busy)
			break;
		pthread_cond_wait(&r->image_cv, &r->mu);
	}
	if (e) {
		int rc = e->id ? 0 : -1;
		if (e->id)
			*ret_id = xstrdup(e->id);
		else if (e->fault)
			rc_err_fault(err, "%s", e->error);
		else
			rc_errf(err, "%s", e->error);
		pthread_mutex_unlock(&r->mu);
		return rc;
	}
	GROW(r->images, r->nimages + 1, r->capimages);
	size_t k = r->nimages++;
	r->images[k] = (struct image_entry){ .ref = xstrdup(u->image), .busy = true };
	pthread_mutex_unlock(&r->mu);
	char *id = NULL;
	int rc = resolve_image(c, u, r->o, &id, err);
	pthread_mutex_lock(&r->mu);
	e = &r->images[k];
	e->busy = false;
	if (rc == 0) {
		e->id = id;
		*ret_id = xstrdup(id);
	} else {
		e->error = xstrdup(err->msg);
		e->fault = err->engine_fault;
	}
	pthread_cond_broadcast(&r->image_cv);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static int ensure_volumes(struct dk_client *c, const struct rc_desired *d, const struct rc_unit *u,
			  struct rc_err *err)
{
	for (size_t i = 0; i < u->nmounts; i++) {
		const struct rc_mount *m = &u->mounts[i];
		if (m->kind != RC_MOUNT_VOLUME)
			continue;
		if (m->external) {   /* made outside reconciler: checked, never created (extvol.h) */
			if (extvol_check(c, d, m->source, err) < 0)
				return -1;
			continue;
		}
		struct rc_kv labels[4] = { kv(RC_LABEL_MANAGED, RC_MANAGED_BY),
					   kv(RC_LABEL_PROJECT, d->settings.project),
					   kv(RC_LABEL_UNIT, u->id) };
		size_t nl = 3;
		if (u->customer)
			labels[nl++] = kv(RC_LABEL_CUSTOMER, u->customer);
		struct dk_volume *v = NULL;
		if (dk_volume_create(c, m->source, labels, nl, &v, NULL, err) < 0)
			return rc_err_prefix(err, "creating volume '%s'", m->source);
		/* the engine hands back a volume of that name that was there already, whoever made it */
		const char *by = dk_label(v->labels, v->nlabels, RC_LABEL_MANAGED);
		const char *proj = dk_label(v->labels, v->nlabels, RC_LABEL_PROJECT);
		int rc = 0;
		if (!str_eq(by, RC_MANAGED_BY) || !str_eq(proj, d->settings.project)) {
			const char *device = dk_label(v->options, v->noptions, "device");
			rc = rc_errf(err, "volume '%s' exists and was not made by reconciler for project '%s'%s%s%s: "
				     "refusing to mount it (a volume of that name made by hand could hold anything); "
				     "remove it, or rename the volume in the manifests",
				     m->source, d->settings.project, device ? " (a bind of '" : "", device ? device : "",
				     device ? "')" : "");
		}
		dk_volume_free(v);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/*
 * The alias a unit gets on its i-th network: the service name on the
 * customer's own network (and on every network of a shared service);
 * customers' units are reachable on their other networks by container name
 * only.
 */
static const char *net_alias(const struct rc_unit *u, size_t i)
{
	return i == 0 || !u->customer ? u->service : u->container;
}

/* Create the container for u under name (not started).  *ret_id malloc'ed. */
static int create_container(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *name,
			    char **ret_id, struct rc_err *err)
{
	const struct rc_desired *d = r->d;
	_cleanup_free_ char *image_id = NULL;
	if (ensure_image(r, c, u, &image_id, err) < 0 || ensure_volumes(c, d, u, err) < 0)
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
	char **bind_real = xcalloc(u->nmounts + 1, sizeof(*bind_real));   /* resolved bind sources */
	size_t nm = 0;
	for (size_t i = 0; i < u->nmounts; i++) {
		const struct rc_mount *m = &u->mounts[i];
		struct dk_mount *dm = &mounts[nm++];
		dm->target = m->target;
		dm->read_only = m->read_only;
		switch (m->kind) {
		case RC_MOUNT_VOLUME: dm->type = DK_MOUNT_VOLUME; dm->source = m->source; break;
		case RC_MOUNT_BIND: {
			/* The engine gets the source resolved beneath its root (the outermost
			 * policy.bind_roots entry holding it), never a link out (bindpath.h). */
			const char *root = NULL;
			for (size_t j = 0; j < d->settings.nbind_roots; j++) {
				const char *rt = d->settings.bind_roots[j];
				size_t n = strlen(rt);
				if (strncmp(m->source, rt, n) == 0 && (m->source[n] == '\0' || m->source[n] == '/') &&
				    (!root || n < strlen(root)))
					root = rt;
			}
			if (!root)
				rc_errf(err, "bind source '%s' is inside no policy.bind_roots entry", m->source);
			if (!root || bindpath_resolve(root, m->source, &bind_real[i], err) < 0) {
				rc_err_prefix(err, "creating '%s'", name);
				for (size_t j = 0; j < i; j++)
					free(bind_real[j]);
				free(bind_real);
				free(labels);
				free(ports);
				free(mounts);
				buf_release(&spec);
				buf_release(&deps);
				return -1;
			}
			dm->type = DK_MOUNT_BIND;
			dm->source = bind_real[i];
			break;
		}
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
	const char *aliases[1] = { net_alias(u, 0) };
	struct dk_create_spec cs = {
		.name = name,
		.image = image_id,
		.cmd = (const char *const *)u->command,
		.ncmd = u->ncommand,
		.entrypoint = (const char *const *)u->entrypoint,
		.nentrypoint = u->nentrypoint,
		.env = u->env,
		.nenv = u->nenv,
		.labels = labels,
		.nlabels = k,
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
		.mounts = mounts,
		.nmounts = nm,
		.pid_host = u->pid_host,
		.ipc_host = u->ipc_host,
		.cap_add = (const char *const *)u->cap_add,
		.ncap_add = u->ncap_add,
		.devices = (const char *const *)u->devices,
		.ndevices = u->ndevices,
		.fields = u->fields,
		.network = u->nnetworks ? u->networks[0] : NULL,
		.aliases = aliases,
		.naliases = 1,
	};
	char *id = NULL;
	int rc = dk_container_create(c, &cs, &id, NULL, err);
	free(labels);
	free(ports);
	free(mounts);
	for (size_t i = 0; i < u->nmounts; i++)
		free(bind_real[i]);
	free(bind_real);
	buf_release(&spec);
	buf_release(&deps);
	if (rc < 0)
		return rc_err_prefix(err, "creating '%s'", name);
	crash_point("after-create");
	for (size_t i = 1; i < u->nnetworks; i++) {
		const char *al = net_alias(u, i);
		if (dk_network_connect(c, u->networks[i], id, &al, 1, NULL, err) < 0) {
			rc_err_prefix(err, "connecting '%s' to '%s'", name, u->networks[i]);
			/* not left half-made under a temporary name */
			struct rc_err rerr;
			dk_container_remove(c, id, true, false, NULL, &rerr);
			free(id);
			return -1;
		}
		crash_point("after-connect");
	}
	/* a shared service joins the link network of each customer that reaches it (tenant isolation) */
	for (size_t i = 0; i < u->nlinks; i++) {
		const char *al = u->service;
		if (dk_network_connect(c, u->links[i], id, &al, 1, NULL, err) < 0) {
			rc_err_prefix(err, "connecting '%s' to '%s'", name, u->links[i]);
			struct rc_err rerr;
			dk_container_remove(c, id, true, false, NULL, &rerr);
			free(id);
			return -1;
		}
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

int apply_default_parallel(void)
{
	return 8;
}

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

/* ---- phase 3: the rollout ------------------------------------------------
 *
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

/* snprintf, for messages cut at the buffer's size on purpose. */
__attribute__((format(printf, 3, 4))) static void msgf(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, n, fmt, ap);
	va_end(ap);
}

enum jstate { J_PENDING = 0, J_QUEUED, J_WAITING, J_DONE };
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

/* A name for a container that is not (yet, or any more) the unit's: "<name>.<what>-<8 hex>". */
static char *side_name(const char *name, const char *what)
{
	static atomic_uint counter;
	unsigned x = (unsigned)getpid() * 2654435761u ^ (unsigned)now_ns() ^ atomic_fetch_add(&counter, 1) * 40503u;
	return xasprintf("%s.%s-%08x", name, what, x);
}

/*
 * Start u's container id.  The engine sets up one endpoint per network at a
 * start (a shared service on every customer's link network has hundreds;
 * the cost grows faster than the count), so the call may take the client's timeout
 * plus a second per network beyond four before it counts as an engine fault
 * (docs/performance.md, "Tenant isolation": 50 s for 101 networks here).
 */
static int start_unit(struct dk_client *c, const struct rc_unit *u, const char *id, struct dk_status *st,
		      struct rc_err *err)
{
	size_t nets = u->nnetworks + u->nlinks;
	long t = dk_client_timeout_ms(c) + (nets > 4 ? (long)(nets - 4) * 1000 : 0);
	return dk_container_start_within(c, id, t, st, err);
}

static int create_start(struct run *r, struct dk_client *c, const struct rc_unit *u, char **ret_id,
			bool *needs_wait, struct rc_err *err)
{
	char *id = NULL;
	if (create_container(r, c, u, u->container, &id, err) < 0)
		return -1;
	if (u->running) {
		if (start_unit(c, u, id, NULL, err) < 0) {
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
 * Put the old container back: remove the new one (when there is one) and
 * give the old one its name and start it again.  why is what went wrong;
 * err gets it with what became of the old container.
 */
static int restore_old(struct dk_client *c, const struct rc_unit *u, const char *new_id, const char *old_id,
		       const char *why, bool *ret_restored, struct rc_err *err)
{
	struct rc_err e2 = { 0 };
	struct dk_status ds;
	*ret_restored = false;
	if (new_id && dk_container_remove(c, new_id, true, false, &ds, &e2) < 0 && ds.http != 404)
		return rc_errf(err, "%s; the old container was not restored: removing the new one: %s", why, e2.msg);
	if (dk_container_rename(c, old_id, u->container, &ds, &e2) < 0)
		return rc_errf(err, "%s; the old container was not restored: %s", why, e2.msg);
	if (u->running && start_unit(c, u, old_id, &ds, &e2) < 0)
		return rc_errf(err, "%s; the old container has its name back but does not start: %s", why, e2.msg);
	*ret_restored = true;
	return rc_errf(err, "%s; the old container %s again", why, u->running ? "runs" : "is back");
}

/*
 * update_order: start-first.  Create and start the new container under a
 * side name while the old one runs on, untouched; once the new one is ready
 * (FINISH: swap_in()) the old one is stopped and removed and the new one
 * takes the unit's name.  If it never is (RESTORE), it is removed: the old
 * one never stopped.
 */
static int replace_start_first(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *old_id,
			       char **ret_id, char **ret_old, bool *needs_wait, struct rc_err *err)
{
	_cleanup_free_ char *next = side_name(u->container, "next");
	char *id = NULL;
	if (create_container(r, c, u, next, &id, err) < 0)
		return rc_err_prefix(err, "the old container was not touched");
	crash_point("after-replace-create");
	if (start_unit(c, u, id, NULL, err) < 0) {
		rc_err_prefix(err, "starting the new '%s' (the old one runs on, untouched)", u->container);
		struct rc_err e2;
		dk_container_remove(c, id, true, false, NULL, &e2);
		free(id);
		return -1;
	}
	crash_point("after-start");
	*needs_wait = true;
	*ret_id = id;
	*ret_old = xstrdup(old_id);
	return 0;
}

/* start-first, the new container ready: stop and remove the old one, give the new one the name. */
static int swap_in(struct dk_client *c, const struct rc_unit *u, const char *new_id, const char *old_id,
		   struct rc_err *err)
{
	struct dk_status ds;
	int t = u->stop_grace_ns > 0 ? (int)(u->stop_grace_ns / NS_PER_S) : -1;
	if (dk_container_stop(c, old_id, t, &ds, err) < 0 && ds.http != 404)
		return rc_err_prefix(err, "stopping the old container (the new one runs under a side name)");
	crash_point("after-replace-stop");
	if (dk_container_remove(c, old_id, true, false, &ds, err) < 0 && ds.http != 404)
		return rc_err_prefix(err, "removing the old container (the new one runs under a side name)");
	crash_point("after-replace-rename");
	if (dk_container_rename(c, new_id, u->container, &ds, err) < 0)
		return rc_err_prefix(err, "naming the new container '%s' (it runs under a side name)", u->container);
	return 0;
}

/*
 * Replace the container old_id of u, touching it only once everything that
 * can fail before has succeeded: pull and create the new container under a
 * side name (image, values the engine refuses, networks: the old one keeps
 * running through all of it).  Then stop the old one (its grace period),
 * rename it aside, give the new one the unit's name and start it.  If the
 * new one does not start, the old one is put back.  On success *ret_id is
 * the new container and *ret_old the old one (stopped, renamed), to be
 * removed once the new one is ready (or put back if it never is).
 */
static int replace(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *old_id, char **ret_id,
		   char **ret_old, bool *needs_wait, bool *ret_restored, struct rc_err *err)
{
	_cleanup_free_ char *next = side_name(u->container, "next");
	char *id = NULL;
	struct dk_status ds;
	*ret_restored = false;
	if (create_container(r, c, u, next, &id, err) < 0)
		return rc_err_prefix(err, "the old container was not touched");
	crash_point("after-replace-create");
	int t = u->stop_grace_ns > 0 ? (int)(u->stop_grace_ns / NS_PER_S) : -1;
	if (dk_container_stop(c, old_id, t, &ds, err) < 0 && ds.http != 404) {
		rc_err_prefix(err, "stopping the old container");
		struct rc_err e2;
		dk_container_remove(c, id, true, false, NULL, &e2);
		free(id);
		return -1;
	}
	crash_point("after-replace-stop");
	bool old_gone = ds.http == 404;
	char why[1200];
	bool why_fault = false;   /* what went wrong is an engine fault: the undo's messages keep it so */
	_cleanup_free_ char *aside = side_name(u->container, "old");
	if (!old_gone && dk_container_rename(c, old_id, aside, &ds, err) < 0) {
		old_gone = ds.http == 404;
		if (!old_gone) {
			msgf(why, sizeof why, "renaming the old container: %s", err->msg);
			why_fault = err->engine_fault;
			goto undo;
		}
	}
	crash_point("after-replace-rename");
	if (dk_container_rename(c, id, u->container, &ds, err) < 0) {
		msgf(why, sizeof why, "naming the new container '%s': %s", u->container, err->msg);
		why_fault = err->engine_fault;
		goto undo;
	}
	if (u->running) {
		if (start_unit(c, u, id, &ds, err) < 0) {
			msgf(why, sizeof why, "starting the new '%s': %s", u->container, err->msg);
			why_fault = err->engine_fault;
			goto undo;
		}
		crash_point("after-start");
		*needs_wait = true;
	}
	*ret_id = id;
	*ret_old = old_gone ? NULL : xstrdup(old_id);
	if (!u->running && *ret_old) {
		/* desired stopped: there is nothing to wait for */
		struct rc_err e2;
		dk_container_remove(c, old_id, true, false, NULL, &e2);
		free(*ret_old);
		*ret_old = NULL;
	}
	return 0;
undo:
	if (old_gone)
		rc_errf(err, "%s", why);
	else
		restore_old(c, u, id, old_id, why, ret_restored, err);
	err->engine_fault = why_fault;
	free(id);
	return -1;
}

/* Replace jb's unit's container old_id, the way its update_order says. */
static int replace_unit(struct run *r, struct dk_client *c, struct job *jb, const char *old_id, struct rc_err *err)
{
	const struct rc_unit *u = jb->u;
	jb->start_first = u->start_first && u->running;
	if (jb->start_first)
		return replace_start_first(r, c, u, old_id, &jb->id, &jb->old_id, &jb->needs_wait, err);
	return replace(r, c, u, old_id, &jb->id, &jb->old_id, &jb->needs_wait, &jb->restored, err);
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
		const char *al = net_alias(u, k);
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
			if (create_start(r, c, u, &jb->id, &jb->needs_wait, err) < 0)
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
			if (start_unit(c, u, a->container_id, &ds, err) < 0)
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

static int net_create(struct run *r, struct dk_client *c, const struct plan_action *a);

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
		jb->rc = jb->net ? net_create(r, c, jb->net) : step_up(r, c, jb, err);
		break;
	case STEP_INSPECT:
		jb->rc = inspect_into(c, jb, jb->id ? jb->id : jb->u->container, err);
		break;
	case STEP_FINISH: {
		struct dk_status ds;
		if (jb->start_first) {
			jb->rc = swap_in(c, jb->u, jb->id, jb->old_id, err);
			break;
		}
		if (dk_container_remove(c, jb->old_id, true, false, &ds, err) < 0 && ds.http != 404)
			log_warn("unit '%s': removing the replaced container: %s (the next run removes it)", jb->u->id,
				 err->msg);
		jb->rc = 0;
		break;
	}
	case STEP_RESTORE:
		if (jb->start_first) {
			struct dk_status ds;
			struct rc_err e2 = { 0 };
			if (dk_container_remove(c, jb->id, true, false, &ds, &e2) < 0 && ds.http != 404)
				rc_errf(err, "%s; the old container runs on (never stopped); removing the new one: %s",
					jb->why, e2.msg);
			else
				rc_errf(err, "%s; the old container runs on (never stopped)", jb->why);
			jb->restored = true;
		} else {
			restore_old(c, jb->u, jb->id, jb->old_id, jb->why, &jb->restored, err);
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

static void job_done(struct roll *R, size_t j, bool ok, bool fault, const char *msg);

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
			job_done(R, d, false, jb->fault, m);
		} else {
			r->jobs[d].state = J_DONE;
			r->jobs[d].fault = jb->fault;
			R->ndone++;
			R->nfailed++;
			_cleanup_free_ char *m = xasprintf("not started: dependency '%s' failed", jb->u->id);
			record(r, r->jobs[d].label, r->jobs[d].u->id, APPLY_SKIPPED, m, jb->fault, 0);
			fail_dependents(R, d);
		}
	}
}

/* A job is over.  fault (with !ok): it failed because the engine did, which decides nothing about
 * the unit; nothing new is started after it (the rollout loop ends the pending jobs). */
static void job_done(struct roll *R, size_t j, bool ok, bool fault, const char *msg)
{
	struct run *r = R->r;
	struct job *jb = &r->jobs[j];
	if (jb->state == J_DONE)
		return;
	jb->state = J_DONE;
	R->ndone++;
	int64_t ns = now_ns() - jb->t0;
	if (!ok) {
		R->nfailed++;
		msgf(jb->why, sizeof jb->why, "%s", msg ? msg : "failed");
		jb->fault = fault;
		if (fault && !R->fault) {
			R->fault = true;
			log_warn("rollout: the engine failed (%s); nothing new is started", msg ? msg : "?");
		}
	}
	if (jb->net)
		;  /* net_create() recorded it */
	else if (!jb->watch)
		record(r, jb->label, jb->u->id, ok ? APPLY_OK : APPLY_FAILED, msg, !ok && fault, ns);
	else if (!ok && jb->report)
		record(r, jb->label, jb->u->id, APPLY_FAILED, msg, fault, ns);
	if (ok && !jb->watch && !jb->net) {
		crash_point("after-job");
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
		msgf(jb->why, sizeof jb->why, "%s", why);
		if (jb->blind && now_ns() - jb->blind_since > R->blind_max) {
			/* no need to sit out the bound: the daemon tries again once the engine answers */
			jb->fault = true;
			msgf(why, sizeof why, "waiting for '%s': the engine has not answered for %.0fs (%s)",
			     jb->u->container, (double)(now_ns() - jb->blind_since) / 1e9, jb->why);
			v = READY_FAIL;
		} else if (now_ns() > jb->deadline) {
			bool want_health = jb->u->health.kind != RC_HEALTH_NONE;
			/* the engine did not answer the last look at it: the bound proves nothing */
			jb->fault = jb->blind;
			msgf(why, sizeof why, "'%s' not %s after %.0fs (%s%s)", jb->u->container,
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
			msgf(jb->note, sizeof jb->note, "started");
		else
			msgf(jb->note, sizeof jb->note, "%s after %.1fs", why, secs);
		if (jb->old_id) {
			dispatch(R, j, STEP_FINISH);
			return;
		}
		job_done(R, j, true, false, jb->note);
		return;
	}
	msgf(jb->why, sizeof jb->why, "%s", why);
	if (jb->old_id) {
		dispatch(R, j, STEP_RESTORE);  /* keeps jb->fault */
		return;
	}
	job_done(R, j, false, jb->fault, why);
}

/* Start following a job's container: what the step inspected, then what the stream told since. */
static void begin_wait(struct roll *R, size_t j, bool fresh_wait)
{
	struct job *jb = &R->r->jobs[j];
	int64_t now = now_ns();
	if (fresh_wait) {
		jb->wait_t0 = now;
		int64_t bound = unit_bound_ns(jb->u, R->r->o);
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
			job_done(R, j, false, jb->err.engine_fault, jb->err.msg);
			return;
		}
		if (jb->net) {
			job_done(R, j, true, false, NULL);
			return;
		}
		if (!jb->needs_wait) {
			job_done(R, j, true, false, NULL);
			return;
		}
		if (R->interrupted) {
			job_done(R, j, false, false, "interrupted after its start");
			return;
		}
		/* the stream was lost while the step ran: its events may be missing */
		if (!jb->inspected && (jb->epoch != R->epoch || !R->ev || jb->early_lost)) {
			jb->wait_t0 = now_ns();
			jb->deadline = jb->wait_t0 + unit_bound_ns(jb->u, r->o);
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
			msgf(jb->why, sizeof jb->why, "%s", jb->err.msg);
			evaluate(R, j);
			return;
		}
		jb->blind = false;
		begin_wait(R, j, jb->wait_t0 == 0);
		return;
	case STEP_FINISH:
		if (jb->rc < 0)
			job_done(R, j, false, jb->err.engine_fault, jb->err.msg);
		else
			job_done(R, j, true, false, jb->note);
		return;
	case STEP_RESTORE:
		job_done(R, j, false, jb->err.engine_fault, jb->err.msg);
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
		msgf(jb->why, sizeof jb->why, "%s", why);
	evaluate(R, j);
	if (jb->state == J_WAITING && !healthy)
		msgf(jb->why, sizeof jb->why, "%s", why);
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

/* The loop: release ready jobs, follow events and probes, collect steps, until every job is done. */
static void rollout(struct roll *R)
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
		int64_t now = now_ns();
		/* a stop request: nothing new starts; waits end (also those that begin later: a step in
		 * flight at the request still comes back) */
		if (!R->interrupted && apply_interrupted(r->o))
			R->interrupted = true;
		if (R->interrupted) {
			bool any = false;
			for (size_t k = 0; k < r->njobs; k++) {
				struct job *jb = &r->jobs[k];
				if (jb->state == J_PENDING && !jb->watch && !jb->net) {
					_cleanup_free_ char *m = xasprintf("interrupted before '%s'", jb->u->container);
					job_done(R, k, false, false, m);
					any = true;
				} else if (jb->state == J_WAITING) {
					bool want_health = jb->u->health.kind != RC_HEALTH_NONE;
					_cleanup_free_ char *m = xasprintf("interrupted while waiting for '%s' to be %s (%s)",
									   jb->u->container,
									   want_health ? "healthy" : "completed", jb->why);
					job_done(R, k, false, false, m);
					any = true;
				}
			}
			if (any)
				continue;
		}
		/* the engine failed a job: nothing new starts (each would only meet the same engine);
		 * what is under way ends on its own */
		if (R->fault)
			for (size_t k = 0; k < r->njobs; k++) {
				struct job *jb = &r->jobs[k];
				if (jb->state == J_PENDING && !jb->watch && !jb->net) {
					job_done(R, k, false, true, "not started: the engine failed meanwhile");
				}
			}
		/* deadlines, probes and (without a stream) inspects of the waiting */
		int timeout = 250;
		bool poll_now = !R->ev && now >= R->ev_poll;
		for (size_t k = 0; k < r->njobs; k++) {
			struct job *jb = &r->jobs[k];
			if (jb->state != J_WAITING)
				continue;
			if (now > jb->deadline || (jb->blind && now - jb->blind_since > R->blind_max)) {
				evaluate(R, k);
				continue;
			}
			if (poll_now) {
				dispatch(R, k, STEP_INSPECT);
				continue;
			}
			if (jb->u->health.kind == RC_HEALTH_HTTP && jb->obs.running && !jb->probing) {
				if (now >= jb->next_probe) {
					uint16_t port = jb->u->health.http_port ? jb->u->health.http_port
						      : (jb->u->nports ? jb->u->ports[0].container_port : 80);
					int64_t to = jb->u->health.timeout_ns ? jb->u->health.timeout_ns / NS_PER_MS : 5000;
					if (!jb->ip) {
						msgf(jb->why, sizeof jb->why, "no address yet");
						dispatch(R, k, STEP_INSPECT);
						continue;
					}
					jb->probing = true;
					jb->next_probe = now + probe_interval_ns(jb->u);
					health_probes_start(R->probes, k, jb->ip, port, jb->u->health.http_path, to);
				} else {
					int64_t left = (jb->next_probe - now) / NS_PER_MS + 1;
					if (left < timeout)
						timeout = (int)left;
				}
			}
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
		if (R->ndone >= r->njobs)
			break;
		progress_line(R, false);
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

/* ---- phases ------------------------------------------------------------- */

static bool is_up(enum plan_kind k)
{
	return k == PLAN_CREATE || k == PLAN_RECREATE || k == PLAN_UPDATE || k == PLAN_START;
}

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

static bool unit_on(const struct rc_unit *u, const char *network)
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
		bool on = unit_on(u, a->network), link = false;
		for (size_t k = 0; k < u->nlinks && !link; k++)
			link = strcmp(u->links[k], a->network) == 0;
		if (!on && !link)
			continue;
		struct dk_status ds = { 0 };
		int t = u->stop_grace_ns > 0 ? (int)(u->stop_grace_ns / NS_PER_S) : -1;
		if (on && dk_container_stop(c, u->container, t, &ds, err) < 0 && ds.http != 404)
			return rc_err_prefix(err, "stopping '%s' to recreate its network", u->container);
		/* running, or stopped and keeping it in its config (a shared service on a link: stopped by
		 * the job of another network it is on): off it; not on it is fine */
		struct rc_err e2 = { 0 };
		dk_network_disconnect(c, a->network, u->container, true, &ds, &e2);
	}
	crash_point("after-network-stop");
	net_disconnect_all(c, a->network_id);
	struct dk_status ds = { 0 };
	int rc = dk_network_remove(c, a->network_id, &ds, err);
	if (rc < 0 && ds.http == 403) {  /* something joined meanwhile */
		net_disconnect_all(c, a->network_id);
		rc = dk_network_remove(c, a->network_id, &ds, err);
	}
	if (rc < 0 && ds.http != 404)
		return rc_err_prefix(err, "removing the network to recreate it");
	crash_point("after-network-remove");
	return 0;
}

/* NET_CREATE, and NET_RECREATE (net_takedown() first). */
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
	struct rc_err err = { 0 };
	bool again = a->kind == PLAN_NET_RECREATE;
	_cleanup_free_ char *what = xasprintf("%s network %s", planner_action_marker(a->kind), n->name);
	int64_t t0 = now_ns();
	bool adopted = false;
	if (again && net_takedown(r, c, a, &err) < 0) {
		record(r, what, NULL, APPLY_FAILED, err.msg, err.engine_fault, now_ns() - t0);
		return -1;
	}
	if ((!a->network_id || again) && net_make(c, r->d, n, &ns, &adopted, &err) < 0) {
		record(r, what, NULL, APPLY_FAILED, err.msg, err.engine_fault, now_ns() - t0);
		return -1;
	}
	crash_point("after-network");
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
			record(r, what, NULL, APPLY_FAILED, err.msg, err.engine_fault, now_ns() - t0);
			return -1;
		}
	}
	_cleanup_free_ char *msg = adopted ? xasprintf("there already (made by a run cut short): adopted%s%s",
						      n->subnet ? ", subnet " : "", n->subnet ? n->subnet : "")
				  : again ? xstrdup(a->cause)
				  : n->subnet ? xasprintf("subnet %s", n->subnet) : NULL;
	record(r, what, NULL, APPLY_OK, msg, false, now_ns() - t0);
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
		rc = stop_remove(c, a->container_id, grace, &err);
	}
	record(r, what, a->unit, rc < 0 ? APPLY_FAILED : APPLY_OK, rc < 0 ? err.msg : a->cause, rc < 0 && err.engine_fault,
	       now_ns() - t0);
	crash_point("after-removal");
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
	record(r, what, NULL, rc < 0 ? APPLY_FAILED : APPLY_OK, rc < 0 ? err.msg : NULL, rc < 0 && err.engine_fault,
	       now_ns() - t0);
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
		record(&r, "save allocations", NULL, APPLY_FAILED, serr.msg, false, 0);
		pthread_mutex_destroy(&r.mu);
		pthread_cond_destroy(&r.image_cv);
		return -1;
	}

	/* 1. networks: created within the rollout (3), each before the units on it, side by side
	 * with the containers of the networks made before */

	/* 2. teardown, in the plan's order */
	int64_t t = now_ns();
	teardown_phase(&r, c, p, parallel);
	ret->phase_ns[0] = now_ns() - t;

	/* 3. rollout: one job per unit with up-phase work, one watch per unit without work whose
	 * readiness is needed */
	t = now_ns();
	r.jobs = xcalloc(p->n + d->nunits + 1, sizeof(*r.jobs));
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == PLAN_NET_CREATE || p->v[i].kind == PLAN_NET_RECREATE)
			r.jobs[r.njobs++].net = &p->v[i];
	size_t nnet = r.njobs;
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
				record(&r, what, a->unit, APPLY_AWAITING, a->cause, false, 0);
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
	/* The units on a recreated network: its job stops them; theirs connect them again and start
	 * them (after it, gated as any start), with their own actions if they have any. */
	for (size_t x = 0; x < nnet; x++) {
		const struct plan_action *na = r.jobs[x].net;
		if (na->kind != PLAN_NET_RECREATE)
			continue;
		for (size_t i = 0; i < d->nunits; i++) {
			const struct rc_unit *u = &d->units[i];
			if (!unit_on(u, na->network))
				continue;
			struct job *jb = NULL;
			for (size_t k = nnet; k < r.njobs && !jb; k++)
				if (r.jobs[k].u == u)
					jb = &r.jobs[k];
			if (!jb) {
				jb = &r.jobs[r.njobs++];
				jb->u = u;
				jb->need = needed_condition(d, u);
			}
			jb->rejoin = xrealloc(jb->rejoin, (jb->nrejoin + 1) * sizeof(*jb->rejoin));
			jb->rejoin[jb->nrejoin++] = na->network;
		}
	}
	size_t nwork = r.njobs;
	for (size_t k = nnet; k < nwork; k++) {
		struct job *jb = &r.jobs[k];
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < jb->nacts; i++)
			buf_addf(&b, "%s%s", i ? "," : "", planner_action_marker(jb->acts[i]->kind));
		if (!jb->nacts)  /* only back on its recreated network(s) */
			buf_adds(&b, jb->u->running ? ">" : "~");
		buf_addf(&b, " %s", jb->u->id);
		jb->label = buf_detach(&b, NULL);
	}
	/* Dependencies with no work in this apply gate their dependents all the same (a container
	 * left running but not yet healthy: an apply killed after its start, or one still warming
	 * up); those desired stopped are not waited for. */
	size_t ndeps_cap = 0;
	for (size_t k = nnet; k < nwork; k++)
		ndeps_cap += r.jobs[k].u->ndeps + r.jobs[k].u->nnetworks + r.jobs[k].u->nlinks;
	size_t (*edges)[2] = xcalloc(ndeps_cap + 1, sizeof(*edges));
	size_t nedges = 0;
	for (size_t k = nnet; k < nwork; k++) {
		const struct rc_unit *u = r.jobs[k].u;
		/* a new container joins its links at create: they must be there; a start, an update or a
		 * rejoin does not touch them (a link made or recreated connects a shared service itself) */
		bool makes = false;
		for (size_t i = 0; i < r.jobs[k].nacts; i++)
			makes |= r.jobs[k].acts[i]->kind == PLAN_CREATE || r.jobs[k].acts[i]->kind == PLAN_RECREATE;
		size_t nnets = u->nnetworks + (makes ? u->nlinks : 0);
		for (size_t ni = 0; ni < nnets; ni++) {
			const char *net = ni < u->nnetworks ? u->networks[ni] : u->links[ni - u->nnetworks];
			for (size_t x = 0; x < nnet; x++)
				if (strcmp(r.jobs[x].net->network, net) == 0) {
					edges[nedges][0] = k;
					edges[nedges][1] = x;
					nedges++;
				}
		}
		for (size_t di = 0; di < u->ndeps; di++) {
			const struct rc_dep *dep = &u->deps[di];
			size_t m = SIZE_MAX;
			for (size_t x = nnet; x < r.njobs && m == SIZE_MAX; x++)
				if (strcmp(r.jobs[x].u->id, dep->unit) == 0)
					m = x;
			if (m == SIZE_MAX || r.jobs[m].watch) {
				if (dep->cond == RC_DEP_STARTED)
					continue;
				const struct rc_unit *du = NULL;
				for (size_t x = 0; x < d->nunits && !du; x++)
					if (strcmp(d->units[x].id, dep->unit) == 0)
						du = &d->units[x];
				if (!du || !du->running)
					continue;
				m = add_watch(&r, du, dep->cond, false);
			}
			edges[nedges][0] = k;
			edges[nedges][1] = m;
			nedges++;
		}
	}
	/* See apply_opts.wait_unchanged and .observed. */
	if (o->wait_unchanged || o->observed)
		for (size_t i = 0; i < d->nunits; i++) {
			const struct rc_unit *u = &d->units[i];
			if (!u->running || u->health.kind == RC_HEALTH_NONE || state_is_disabled(st, u->id, NULL))
				continue;
			if (!o->wait_unchanged && !warming(u, o->observed))
				continue;
			/* add_watch() leaves a unit with a job of its own as it is */
			add_watch(&r, u, RC_DEP_STARTED, true);
		}
	for (size_t e = 0; e < nedges; e++) {
		struct job *dep = &r.jobs[edges[e][1]];
		dep->rdeps = xrealloc(dep->rdeps, (dep->nrdeps + 1) * sizeof(size_t));
		dep->rdeps[dep->nrdeps++] = edges[e][0];
		r.jobs[edges[e][0]].nwait++;
	}
	free(edges);
	if (r.njobs) {
		int workers = (size_t)parallel < r.njobs ? parallel : (int)r.njobs;
		r.clients = xcalloc((size_t)workers, sizeof(*r.clients));
		for (int w = 0; w < workers; w++)
			r.clients[w] = dk_client_clone(c);
		struct roll R = { .r = &r, .c = c, .t0 = now_ns() };
		/* twice the call timeout, at least 5 s: a few inspects (one a second) all without answer */
		R.blind_max = 2 * dk_client_timeout_ms(c) * NS_PER_MS;
		if (R.blind_max < 5 * NS_PER_S)
			R.blind_max = 5 * NS_PER_S;
		R.project_label = xasprintf("%s=%s", RC_LABEL_PROJECT, d->settings.project);
		R.q = workq_new(workers, job_step, &r);
		rollout(&R);
		workq_free(R.q);
		free(R.project_label);
		if (R.slowest) {
			ret->slowest_unit = xstrdup(R.slowest);
			ret->slowest_ns = R.slowest_ns;
		}
		for (int w = 0; w < workers; w++)
			dk_client_free(r.clients[w]);
		free(r.clients);
	}
	ret->phase_ns[1] = now_ns() - t;

	/* 4. networks no longer wanted */
	t = now_ns();
	net_remove_phase(&r, c, p, parallel);
	ret->phase_ns[2] = now_ns() - t;

	for (size_t k = 0; k < r.njobs; k++) {
		struct job *jb = &r.jobs[k];
		free(jb->acts);
		free(jb->rejoin);
		free(jb->label);
		free(jb->rdeps);
		free(jb->id);
		free(jb->old_id);
		free(jb->ip);
		early_clear(jb);
	}
	free(r.jobs);
	for (size_t i = 0; i < r.nimages; i++) {
		free(r.images[i].ref);
		free(r.images[i].id);
		free(r.images[i].error);
	}
	free(r.images);
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
