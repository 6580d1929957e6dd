/* apply_container.c — building, starting and replacing a container: the image resolved once per
 * run, labelled volumes, the create body (labels, ports, mounts), the other networks connected, the
 * replacement of a recreate and putting the old container back (apply_int.h). */
#include "apply_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bindpath.h"
#include "bindroot.h"
#include "buf.h"
#include "extvol.h"
#include "regauth.h"
#include "source.h"
#include "spec.h"

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
	/* the plan saw the tag move in its registry (asked for a `pull: always` unit): pulled again,
	 * whichever unit of that reference comes first (the result is cached per reference) */
	const struct plan_image *pi = o->observed ? planner_image(o->observed, u->image) : NULL;
	bool moved = u->pull != RC_PULL_NEVER && pi && pi->moved;
	if (!moved && dk_image_inspect(c, u->image, &img, &ds, err) == 0) {
		*ret_id = img->id ? xstrdup(img->id) : xstrdup(u->image);
		dk_image_free(img);
		return 0;
	}
	if (!moved && ds.http != 404)
		return -1;
	if (u->pull == RC_PULL_NEVER)
		return rc_errf(err, "image '%s' is not present and the service says 'pull: never' "
			       "(load or pull it on the engine first)", u->image);
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
		log_info("pulling '%s'%s (credentials from %s)", u->image, moved ? " (moved in the registry)" : "",
			 source);
	else
		log_info("pulling '%s'%s", u->image, moved ? " (moved in the registry)" : "");
	int r = dk_image_pull(c, u->image, &po, &id, &ds, err);
	regauth_free(auth);
	if (r < 0)
		return moved ? rc_err_prefix(err, "image '%s' moved in the registry and cannot be pulled", u->image)
			     : rc_err_prefix(err, "image '%s' is not present and cannot be pulled", u->image);
	*ret_id = id ? id : xstrdup(u->image);
	return 0;
}

/* Keep a build's output for unit u in the state (builds/<commit>/<unit>.log); a failure to keep
 * it is a warning, never the unit's failure.  r->mu held. */
static void keep_build_log_locked(struct run *r, const struct rc_unit *u, const char *log, size_t len)
{
	struct rc_err err = { 0 };
	if (state_save_build_log(r->st, r->d->commit, u->id, log, len, &err) < 0)
		log_warn("%s", err.msg);
}

static void keep_build_log(struct run *r, const struct rc_unit *u, const char *log, size_t len)
{
	pthread_mutex_lock(&r->mu);
	keep_build_log_locked(r, u, log, len);
	pthread_mutex_unlock(&r->mu);
}

/*
 * u's build (spec/manifest.md, "Building images"): its tag present already is the build done
 * (the tag is made from what it is built from); else the context's tree is sent to the engine as
 * a tar stream and built.  The output goes to *ret_log (a build ran) and to u's build log.
 */
static int build_image(struct run *r, struct dk_client *c, const struct rc_unit *u, char **ret_id,
		       char **ret_log, size_t *ret_len, struct rc_err *err)
{
	const struct rc_build *b = u->build;
	struct dk_image *img = NULL;
	struct dk_status ds;
	if (dk_image_inspect(c, u->image, &img, &ds, err) == 0) {
		*ret_id = img->id ? xstrdup(img->id) : xstrdup(u->image);
		dk_image_free(img);
		return 0;
	}
	if (ds.http != 404)
		return -1;
	if (!r->d->repo)
		return rc_errf(err, "image '%s' is not present and cannot be built: no repository to read "
			       "the context from", u->image);
	struct buf tar = BUF_INIT;
	if (source_tree_tar(r->d->repo, b->tree, &tar, err) < 0)
		return rc_err_prefix(err, "building '%s'", u->image);
	log_info("building '%s' from '%s' (tree %.12s)", u->image, *b->context ? b->context : ".", b->tree);
	struct buf out;
	buf_init(&out, RC_STATE_BUILD_LOG_MAX);
	struct dk_build_opts bo = { .tag = u->image, .dockerfile = b->dockerfile, .target = b->target,
				    .args = b->args, .nargs = b->nargs };
	char *id = NULL;
	int rc = dk_image_build(c, &bo, tar.data, tar.len, &out, &id, &ds, err);
	buf_release(&tar);
	keep_build_log(r, u, buf_cstr(&out), out.len);
	if (rc < 0) {
		buf_release(&out);
		return -1;
	}
	*ret_id = id;
	*ret_log = buf_detach(&out, ret_len);
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
		if (e->build_log && u->build)   /* built in this run for another unit: a copy for this one */
			keep_build_log_locked(r, u, e->build_log, e->build_log_len);
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
	char *id = NULL, *log = NULL;
	size_t loglen = 0;
	int rc = u->build ? build_image(r, c, u, &id, &log, &loglen, err) : resolve_image(c, u, r->o, &id, err);
	pthread_mutex_lock(&r->mu);
	e = &r->images[k];
	e->busy = false;
	e->build_log = log;
	e->build_log_len = loglen;
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
		struct rc_kv labels[4] = { apply_kv(RC_LABEL_MANAGED, RC_MANAGED_BY),
					   apply_kv(RC_LABEL_PROJECT, d->settings.project),
					   apply_kv(RC_LABEL_UNIT, u->id) };
		size_t nl = 3;
		if (u->customer)
			labels[nl++] = apply_kv(RC_LABEL_CUSTOMER, u->customer);
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

const char *apply_net_alias(const struct rc_unit *u, size_t i)
{
	return i == 0 || !u->customer ? u->service : u->container;
}


/* What a create body borrows or owns beyond the unit: released by create_parts_release(). */
struct create_parts {
	struct buf spec, deps;            /* the canonical text and the depends-on label */
	struct rc_kv *labels;
	size_t nlabels;
	struct dk_port *ports;
	struct dk_mount *mounts;
	size_t nmounts;
	char **bind_real;                 /* resolved bind sources, one slot per unit mount */
	size_t nbind;
};

static void create_parts_release(struct create_parts *cp)
{
	buf_release(&cp->spec);
	buf_release(&cp->deps);
	free(cp->labels);
	free(cp->ports);
	free(cp->mounts);
	for (size_t i = 0; i < cp->nbind; i++)
		free(cp->bind_real[i]);
	free(cp->bind_real);
}

/* The labels of unit.h (spec/labels.md), then the unit's own. */
static void create_labels(const struct rc_desired *d, const struct rc_unit *u, struct create_parts *cp)
{
	spec_canonical(u, true, &cp->spec);
	struct rc_kv *labels = xcalloc(u->nlabels + 12, sizeof(*labels));
	size_t k = 0;
	labels[k++] = apply_kv(RC_LABEL_MANAGED, RC_MANAGED_BY);
	labels[k++] = apply_kv(RC_LABEL_PROJECT, d->settings.project);
	labels[k++] = apply_kv(RC_LABEL_UNIT, u->id);
	labels[k++] = apply_kv(RC_LABEL_SERVICE, u->service);
	if (u->customer)
		labels[k++] = apply_kv(RC_LABEL_CUSTOMER, u->customer);
	labels[k++] = apply_kv(RC_LABEL_HASH, u->hash);
	labels[k++] = apply_kv(RC_LABEL_BASE_HASH, u->base_hash);
	labels[k++] = apply_kv(RC_LABEL_SPEC, buf_cstr(&cp->spec));
	labels[k++] = apply_kv(RC_LABEL_COMMIT, d->commit ? d->commit : "");
	labels[k++] = apply_kv(RC_LABEL_IMAGE, u->image);
	/* so that a later commit without this unit can still tear it down after its dependents */
	for (size_t i = 0; i < u->ndeps; i++)
		buf_addf(&cp->deps, "%s%s", i ? "," : "", u->deps[i].unit);
	if (u->ndeps)
		labels[k++] = apply_kv(RC_LABEL_DEPENDS, buf_cstr(&cp->deps));
	for (size_t i = 0; i < u->nlabels; i++)
		labels[k++] = u->labels[i];
	cp->labels = labels;
	cp->nlabels = k;
}

/* The engine gets a bind's source resolved beneath its root (the outermost policy.bind_roots
 * entry holding it), never a link out (bindpath.h).  *ret_real malloc'ed. */
static int resolve_bind(const struct rc_desired *d, const struct rc_mount *m, char **ret_real, struct rc_err *err)
{
	const char *root = bindpath_root_of(d->settings.bind_roots, d->settings.nbind_roots, m->source);
	if (!root)
		return rc_errf(err, "bind source '%s' is inside no policy.bind_roots entry", m->source);
	if (bindroot_check(root, err) < 0)
		return -1;
	return bindpath_resolve(root, m->source, ret_real, err);
}

/* Ports and mounts of the create body (a secret without a file is not mounted). */
static int create_ports_mounts(const struct rc_desired *d, const struct rc_unit *u, struct create_parts *cp,
			       struct rc_err *err)
{
	cp->ports = xcalloc(u->nports + 1, sizeof(*cp->ports));
	for (size_t i = 0; i < u->nports; i++)
		cp->ports[i] = (struct dk_port){ u->ports[i].container_port, u->ports[i].proto,
						 u->ports[i].host_port, u->ports[i].host_ip };
	cp->mounts = xcalloc(u->nmounts + 1, sizeof(*cp->mounts));
	cp->bind_real = xcalloc(u->nmounts + 1, sizeof(*cp->bind_real));
	cp->nbind = u->nmounts;
	for (size_t i = 0; i < u->nmounts; i++) {
		const struct rc_mount *m = &u->mounts[i];
		struct dk_mount *dm = &cp->mounts[cp->nmounts++];
		dm->target = m->target;
		dm->read_only = m->read_only;
		switch (m->kind) {
		case RC_MOUNT_VOLUME: dm->type = DK_MOUNT_VOLUME; dm->source = m->source; break;
		case RC_MOUNT_BIND:
			if (resolve_bind(d, m, &cp->bind_real[i], err) < 0)
				return -1;
			dm->type = DK_MOUNT_BIND;
			dm->source = cp->bind_real[i];
			break;
		case RC_MOUNT_TMPFS: dm->type = DK_MOUNT_TMPFS; dm->source = NULL; break;
		case RC_MOUNT_SECRET: {
			const struct rc_secret *s = find_secret(u, m->source);
			if (!s || !s->path) {
				cp->nmounts--;
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
	return 0;
}

/* The nesting rule on real paths (bindroot.h), the paths resolved once per run. */
static int check_nesting(struct run *r, const struct rc_unit *u, struct rc_err *err)
{
	pthread_mutex_lock(&r->mu);
	if (!r->reals)
		r->reals = bindroot_reals_new(r->d);
	int rc = bindroot_check_nesting(r->d, u, r->reals, err);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* Connect the new container id to u's other networks and (a shared service) its customers' link
 * networks; on failure it is removed (not left half-made under a temporary name). */
static int connect_rest(struct dk_client *c, const struct rc_unit *u, const char *name, const char *id,
			struct rc_err *err)
{
	for (size_t i = u->nnetworks ? 1 : 0; i < u->nnetworks + u->nlinks; i++) {
		bool link = i >= u->nnetworks;
		const char *net = link ? u->links[i - u->nnetworks] : u->networks[i];
		const char *al = link ? u->service : apply_net_alias(u, i);
		if (dk_network_connect(c, net, id, &al, 1, NULL, err) < 0) {
			rc_err_prefix(err, "connecting '%s' to '%s'", name, net);
			struct rc_err rerr;
			apply_remove(c, id, NULL, &rerr);
			return -1;
		}
		if (!link)
			apply_crash_point("after-connect");
	}
	return 0;
}

int apply_create_container(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *name,
			   char **ret_id, struct rc_err *err)
{
	const struct rc_desired *d = r->d;
	_cleanup_free_ char *image_id = NULL;
	if (ensure_image(r, c, u, &image_id, err) < 0 || ensure_volumes(c, d, u, err) < 0)
		return -1;
	struct create_parts cp = { .spec = BUF_INIT, .deps = BUF_INIT };
	create_labels(d, u, &cp);
	if (create_ports_mounts(d, u, &cp, err) < 0 || check_nesting(r, u, err) < 0) {
		create_parts_release(&cp);
		return rc_err_prefix(err, "creating '%s'", name);
	}
	bool cmd_check = u->health.kind == RC_HEALTH_CMD;
	const char *aliases[1] = { apply_net_alias(u, 0) };
	struct dk_create_spec cs = {
		.name = name,
		.image = image_id,
		.cmd = (const char *const *)u->command,
		.ncmd = u->ncommand,
		.entrypoint = (const char *const *)u->entrypoint,
		.nentrypoint = u->nentrypoint,
		.env = u->env,
		.nenv = u->nenv,
		.labels = cp.labels,
		.nlabels = cp.nlabels,
		.ports = cp.ports,
		.nports = u->nports,
		.nano_cpus = u->nano_cpus,
		.memory = u->memory,
		.memory_reservation = u->memory_reservation,
		.pids_limit = u->pids_limit,
		.restart_policy = u->restart.policy,
		.restart_max_retries = u->restart.max_retries,
		.health_cmd = cmd_check ? u->health.cmd : NULL,
		.health_disable = u->health.kind == RC_HEALTH_HTTP,
		.health_interval_ns = cmd_check ? u->health.interval_ns : 0,
		.health_timeout_ns = cmd_check ? u->health.timeout_ns : 0,
		.health_start_period_ns = cmd_check ? u->health.start_period_ns : 0,
		.health_retries = cmd_check ? u->health.retries : 0,
		.stop_timeout_s = (int)(u->stop_grace_ns / NS_PER_S),
		.mounts = cp.mounts,
		.nmounts = cp.nmounts,
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
	create_parts_release(&cp);
	if (rc < 0)
		return rc_err_prefix(err, "creating '%s'", name);
	apply_crash_point("after-create");
	if (connect_rest(c, u, name, id, err) < 0) {
		free(id);
		return -1;
	}
	*ret_id = id;
	return 0;
}

int apply_stop_remove(struct dk_client *c, const char *id, int64_t grace_ns, struct rc_err *err)
{
	struct dk_status ds;
	if (dk_container_stop(c, id, apply_grace_s(grace_ns), &ds, err) < 0 && ds.http != 404)
		return -1;
	if (apply_remove(c, id, &ds, err) < 0 && ds.http != 404)
		return -1;
	return 0;
}

void apply_images_release(struct run *r)
{
	for (size_t i = 0; i < r->nimages; i++) {
		free(r->images[i].ref);
		free(r->images[i].id);
		free(r->images[i].error);
		free(r->images[i].build_log);
	}
	free(r->images);
}

/* ---- replacing a container ------------------------------------------------ */

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
void apply_before_start(struct run *r, const struct rc_unit *u)
{
	if (r && r->o->before_start)
		r->o->before_start(r->o->before_start_ctx, u);
}

int apply_start_unit(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *id,
		     struct dk_status *st, struct rc_err *err)
{
	apply_before_start(r, u);
	size_t nets = u->nnetworks + u->nlinks;
	long t = dk_client_timeout_ms(c) + (nets > 4 ? (long)(nets - 4) * 1000 : 0);
	return dk_container_start_within(c, id, t, st, err);
}

int apply_create_start(struct run *r, struct dk_client *c, const struct rc_unit *u, char **ret_id,
			bool *needs_wait, struct rc_err *err)
{
	char *id = NULL;
	if (apply_create_container(r, c, u, u->container, &id, err) < 0)
		return -1;
	if (u->running) {
		if (apply_start_unit(r, c, u, id, NULL, err) < 0) {
			free(id);
			return rc_err_prefix(err, "starting '%s'", u->container);
		}
		apply_crash_point("after-start");
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
int apply_restore_old(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *new_id,
		      const char *old_id, const char *why, bool *ret_restored, struct rc_err *err)
{
	struct rc_err e2 = { 0 };
	struct dk_status ds;
	*ret_restored = false;
	if (new_id && apply_remove(c, new_id, &ds, &e2) < 0 && ds.http != 404)
		return rc_errf(err, "%s; the old container was not restored: removing the new one: %s", why, e2.msg);
	if (dk_container_rename(c, old_id, u->container, &ds, &e2) < 0)
		return rc_errf(err, "%s; the old container was not restored: %s", why, e2.msg);
	if (u->running && apply_start_unit(r, c, u, old_id, &ds, &e2) < 0)
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
int apply_replace_start_first(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *old_id,
			      struct replacement *ret, struct rc_err *err)
{
	_cleanup_free_ char *next = side_name(u->container, "next");
	char *id = NULL;
	if (apply_create_container(r, c, u, next, &id, err) < 0)
		return rc_err_prefix(err, "the old container was not touched");
	apply_crash_point("after-replace-create");
	if (apply_start_unit(r, c, u, id, NULL, err) < 0) {
		rc_err_prefix(err, "starting the new '%s' (the old one runs on, untouched)", u->container);
		struct rc_err e2;
		apply_remove(c, id, NULL, &e2);
		free(id);
		return -1;
	}
	apply_crash_point("after-start");
	ret->needs_wait = true;
	ret->id = id;
	ret->old_id = xstrdup(old_id);
	return 0;
}

/* start-first, the new container ready: stop and remove the old one, give the new one the name. */
int apply_swap_in(struct dk_client *c, const struct rc_unit *u, const char *new_id, const char *old_id,
		   struct rc_err *err)
{
	struct dk_status ds;
	int t = apply_grace_s(u->stop_grace_ns);
	if (dk_container_stop(c, old_id, t, &ds, err) < 0 && ds.http != 404)
		return rc_err_prefix(err, "stopping the old container (the new one runs under a side name)");
	apply_crash_point("after-replace-stop");
	if (apply_remove(c, old_id, &ds, err) < 0 && ds.http != 404)
		return rc_err_prefix(err, "removing the old container (the new one runs under a side name)");
	apply_crash_point("after-replace-rename");
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
 * new one does not start, the old one is put back.  On success ret->id is
 * the new container and ret->old_id the old one (stopped, renamed), to be
 * removed once the new one is ready (or put back if it never is).
 */
int apply_replace(struct run *r, struct dk_client *c, const struct rc_unit *u, const char *old_id,
		  struct replacement *ret, struct rc_err *err)
{
	_cleanup_free_ char *next = side_name(u->container, "next");
	char *id = NULL;
	struct dk_status ds;
	ret->restored = false;
	if (apply_create_container(r, c, u, next, &id, err) < 0)
		return rc_err_prefix(err, "the old container was not touched");
	apply_crash_point("after-replace-create");
	int t = apply_grace_s(u->stop_grace_ns);
	if (dk_container_stop(c, old_id, t, &ds, err) < 0 && ds.http != 404) {
		rc_err_prefix(err, "stopping the old container");
		struct rc_err e2;
		apply_remove(c, id, NULL, &e2);
		free(id);
		return -1;
	}
	apply_crash_point("after-replace-stop");
	bool old_gone = ds.http == 404;
	char why[1200];
	bool why_fault = false;   /* what went wrong is an engine fault: the undo's messages keep it so */
	_cleanup_free_ char *aside = side_name(u->container, "old");
	if (!old_gone && dk_container_rename(c, old_id, aside, &ds, err) < 0) {
		old_gone = ds.http == 404;
		if (!old_gone) {
			apply_msgf(why, sizeof why, "renaming the old container: %s", err->msg);
			why_fault = err->engine_fault;
			goto undo;
		}
	}
	apply_crash_point("after-replace-rename");
	if (dk_container_rename(c, id, u->container, &ds, err) < 0) {
		apply_msgf(why, sizeof why, "naming the new container '%s': %s", u->container, err->msg);
		why_fault = err->engine_fault;
		goto undo;
	}
	if (u->running) {
		if (apply_start_unit(r, c, u, id, &ds, err) < 0) {
			apply_msgf(why, sizeof why, "starting the new '%s': %s", u->container, err->msg);
			why_fault = err->engine_fault;
			goto undo;
		}
		apply_crash_point("after-start");
		ret->needs_wait = true;
	}
	ret->id = id;
	ret->old_id = old_gone ? NULL : xstrdup(old_id);
	if ((!u->running || u->job) && ret->old_id) {
		/* desired stopped: there is nothing to wait for; a job: the old one only ran its old spec
		 * (never put back: a failed new run keeps its container, for its logs) */
		struct rc_err e2;
		apply_remove(c, old_id, NULL, &e2);
		free(ret->old_id);
		ret->old_id = NULL;
	}
	return 0;
undo:
	if (old_gone)
		rc_errf(err, "%s", why);
	else
		apply_restore_old(r, c, u, id, old_id, why, &ret->restored, err);
	err->engine_fault = why_fault;
	free(id);
	return -1;
}
