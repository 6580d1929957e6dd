/*
 * drift_check.c — the drift check against the engine (drift.h, "the check
 * against the engine"): how the containers are acquired (enum
 * drift_acquisition, acquire()),
 * the inspects of the project's containers and their images, the image
 * cache, the journal line; the comparison itself is drift.c's
 * drift_compute().
 */
#include "drift.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observe.h"
#include "util.h"

/* ---- the check ---------------------------------------------------------------------- */

static void journal(struct rc_state *st, const struct drift_opts *o, const char *commit, const char *result,
		    const char *message)
{
	if (!o->journal || !st || !state_locked(st))
		return;
	struct state_journal_entry je = { .commit = commit, .action = "drift", .result = result, .message = message };
	struct rc_err e;
	if (state_journal(st, &je, &e) < 0)
		log_warn("%s", e.msg);
}

struct drift_inspects {
	struct dk_client *c;
	bool ok;             /* false: no client, the names were not inspected */
	const char **names;  /* borrowed from the desired state: units pre does not cover */
	size_t n;
	int parallel;
	struct dk_inspect_result *res;  /* n of them, by name */
	struct dk_inspect_result *pre;  /* taken over: the listed containers, by id */
	size_t npre;
	pthread_t th;
	bool threaded;
};

static void *inspects_main(void *p)
{
	struct drift_inspects *di = p;
	struct rc_err err = { 0 };
	(void)dk_inspect_many(di->c, di->names, di->n, di->parallel, di->res, &err);
	return NULL;
}

/* drift_inspects_start(), inspecting by name only the units whose name is in held (sorted; NULL:
 * every unit pre does not cover). */
static struct drift_inspects *inspects_start(struct dk_client *c, const struct rc_desired *d, int parallel,
					     struct dk_inspect_result *pre, size_t npre, const char **held, size_t nheld)
{
	struct drift_inspects *di = xcalloc(1, sizeof(*di));
	di->c = c;
	di->ok = c != NULL;
	di->pre = pre;
	di->npre = pre ? npre : 0;
	/* the names the inspects by id already answered for */
	const char **have = xcalloc(di->npre + 1, sizeof(*have));
	size_t nhave = 0;
	for (size_t k = 0; k < di->npre; k++)
		if (pre[k].container && pre[k].container->name)
			have[nhave++] = pre[k].container->name;
	qsort(have, nhave, sizeof(*have), strp_cmp);
	di->names = xcalloc(d->nunits + 1, sizeof(char *));
	for (size_t i = 0; c && i < d->nunits; i++) {
		const char *name = d->units[i].container;
		if (!bsearch(&name, have, nhave, sizeof(*have), strp_cmp) &&
		    (!held || bsearch(&name, held, nheld, sizeof(*held), strp_cmp)))
			di->names[di->n++] = name;
	}
	free(have);
	di->parallel = parallel > 0 ? parallel : 8;
	di->res = xcalloc(di->n + 1, sizeof(*di->res));
	if (di->n) {
		di->threaded = pthread_create(&di->th, NULL, inspects_main, di) == 0;
		if (!di->threaded)
			inspects_main(di);
	}
	return di;
}

struct drift_inspects *drift_inspects_start(struct dk_client *c, const struct rc_desired *d, int parallel,
					    struct dk_inspect_result *pre, size_t npre)
{
	return inspects_start(c, d, parallel, pre, npre, NULL, 0);
}

/* Inspects by name of the units whose container name a container of list holds: list is every
 * container on the engine, so any other name would be a 404. */
static struct drift_inspects *inspects_start_listed(struct dk_client *c, const struct rc_desired *d, int parallel,
						    const struct dk_container_list *list)
{
	size_t n = list ? list->n : 0;
	const char **held = xcalloc(n + 1, sizeof(*held));
	for (size_t i = 0; i < n; i++)
		held[i] = list->items[i].name ? list->items[i].name : "";
	qsort(held, n, sizeof(*held), strp_cmp);
	struct drift_inspects *di = inspects_start(c, d, parallel, NULL, 0, held, n);
	free(held);
	return di;
}

static void inspects_join(struct drift_inspects *di)
{
	if (di && di->threaded)
		pthread_join(di->th, NULL);
	if (di)
		di->threaded = false;
}

void drift_inspects_free(struct drift_inspects *di)
{
	if (!di)
		return;
	inspects_join(di);
	dk_inspect_results_release(di->res, di->n);
	free(di->res);
	if (di->pre)
		dk_inspect_results_release(di->pre, di->npre);
	free(di->pre);
	free(di->names);
	dk_client_free(di->c);
	free(di);
}

/*
 * The part of the engine a drift check looks at, listed with filters so that
 * a host full of other containers costs nothing (an unfiltered list makes the
 * engine build a summary per container: about as much work as inspecting
 * it): the project's containers, the containers publishing a host port of a
 * unit (a managed one or an intruder), every network.  Whoever holds a unit's
 * container name is found by the inspects by name (add_name_holders()).
 */
static int fetch_filtered(struct dk_client *c, const struct rc_state *st, const struct rc_desired *d,
			  struct observe_raw *prelisted, struct observe_raw *ret, struct rc_err *err)
{
	struct observe_raw r = { 0 };
	if (prelisted) {
		r = *prelisted;
		*prelisted = (struct observe_raw){ 0 };
	}
	_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, d->settings.project);
	struct dk_filter lf[] = { { "label", label } };
	if (!r.containers && dk_container_list(c, lf, 1, &r.containers, NULL, err) < 0) {
		observe_raw_release(&r);
		return rc_err_prefix(err, "listing containers");
	}
	size_t np = 0;
	for (size_t i = 0; i < d->nunits; i++)
		np += d->units[i].nports;
	struct dk_filter *pf = xcalloc(np + 1, sizeof(*pf));
	char **vals = xcalloc(np + 1, sizeof(*vals));
	size_t n = 0;
	for (size_t i = 0; i < d->nunits; i++) {
		const struct rc_unit *u = &d->units[i];
		for (size_t k = 0; k < u->nports; k++) {
			const struct rc_port *p = &u->ports[k];
			const char *proto = p->proto ? p->proto : "tcp";
			uint16_t host = p->host_port ? p->host_port
						     : state_get_port(st, u->id, p->container_port, proto);
			if (!host)
				continue;
			vals[n] = xasprintf("%u/%s", host, proto);
			pf[n] = (struct dk_filter){ "publish", vals[n] };
			n++;
		}
	}
	struct dk_container_list *holders = NULL;
	int rc = n ? dk_container_list(c, pf, n, &holders, NULL, err) : 0;
	for (size_t i = 0; i < n; i++)
		free(vals[i]);
	free(vals);
	free(pf);
	if (rc < 0) {
		observe_raw_release(&r);
		return rc_err_prefix(err, "listing containers publishing the units' host ports");
	}
	dk_container_list_merge(r.containers, holders);
	if (!r.networks && dk_network_list(c, NULL, 0, &r.networks, NULL, err) < 0) {
		observe_raw_release(&r);
		return rc_err_prefix(err, "listing networks");
	}
	*ret = r;
	return 0;
}

/*
 * Add to raw the containers the inspects by name found on a unit's name that
 * raw lacks (containers of other owners: the project's are listed).  False
 * when an inspect by name neither found a container nor got a 404.
 */
static void add_holder(struct observe_raw *raw, const char *const *listed, size_t nlisted,
		       const struct dk_container *ct)
{
	if (!ct->id || bsearch(&ct->id, listed, nlisted, sizeof(*listed), strp_cmp))
		return;
	/* another owner's; or one of the project's the list lacks (made since, or not listed at all:
	 * drift_opts.known_ids) */
	dk_container_list_add_inspected(raw->containers, ct);
}

/*
 * Add to raw the containers the inspects by name found on a unit's name that
 * raw lacks (containers of other owners: the project's are listed).  False
 * when an inspect by name neither found a container nor got a 404.
 */
static bool add_name_holders(struct observe_raw *raw, const struct drift_inspects *di)
{
	if (!di->ok)
		return false;  /* no client for the inspects */
	for (size_t k = 0; k < di->n; k++)
		if (!di->res[k].container && di->res[k].st.http != 404)
			return false;
	/* the ids listed (a container is found once: by name, or by id and then not by name) */
	size_t n = raw->containers->n;
	const char **listed = xcalloc(n + 1, sizeof(*listed));
	for (size_t i = 0; i < n; i++)
		listed[i] = raw->containers->items[i].id ? raw->containers->items[i].id : "";
	qsort(listed, n, sizeof(*listed), strp_cmp);
	for (size_t k = 0; k < di->n; k++)
		if (di->res[k].container)
			add_holder(raw, listed, n, di->res[k].container);
	/* the prefetched ones: a name none of them holds was inspected again above */
	for (size_t k = 0; k < di->npre; k++)
		if (di->pre[k].container)
			add_holder(raw, listed, n, di->pre[k].container);
	free(listed);
	return true;
}

static int by_id(const void *a, const void *b)
{
	const struct dk_container *x = *(const struct dk_container *const *)a;
	const struct dk_container *y = *(const struct dk_container *const *)b;
	return strcmp(x->id, y->id);
}

/* The containers di inspected (by name and by id), sorted by id (for bsearch); *ret_n of them. */
static const struct dk_container **sorted_inspected(const struct drift_inspects *di, size_t *ret_n)
{
	const struct dk_container **v = xcalloc(di->n + di->npre + 1, sizeof(*v));
	size_t n = 0;
	for (size_t k = 0; k < di->n; k++)
		if (di->res[k].container && di->res[k].container->id)
			v[n++] = di->res[k].container;
	for (size_t k = 0; k < di->npre; k++)
		if (di->pre[k].container && di->pre[k].container->id)
			v[n++] = di->pre[k].container;
	qsort(v, n, sizeof(*v), by_id);
	*ret_n = n;
	return v;
}

/* The other lists (host-port holders, networks) on a client of their own, while the known ids are inspected. */
struct fetch_job {
	struct dk_client *c;
	const struct rc_state *st;
	const struct rc_desired *d;
	struct observe_raw none;   /* an empty container list: the project's containers are not listed */
	struct observe_raw raw;
	struct rc_err err;
	int rc;
};

static void *fetch_main(void *p)
{
	struct fetch_job *j = p;
	j->rc = fetch_filtered(j->c, j->st, j->d, &j->none, &j->raw, &j->err);
	return NULL;
}

/*
 * drift_opts.known_ids: inspect them by id (those of the project become the
 * container summaries through add_name_holders(), those gone are dropped)
 * while the host-port holders and the networks are listed on a clone of c;
 * then *ret_di inspects by name the units none of them holds the name of.
 */
static int inspect_known(struct dk_client *c, const struct rc_state *st, const struct rc_desired *d,
			 const struct drift_opts *o, struct observe_raw *ret_raw, struct drift_inspects **ret_di,
			 struct rc_err *err)
{
	struct fetch_job j = { .c = dk_client_clone(c), .st = st, .d = d };  /* .err zeroed */
	j.none.containers = xcalloc(1, sizeof(*j.none.containers));
	pthread_t th;
	bool threaded = j.c && pthread_create(&th, NULL, fetch_main, &j) == 0;
	size_t n = o->nknown;
	struct dk_inspect_result *res = xcalloc(n + 1, sizeof(*res));
	int r = dk_inspect_many(c, o->known_ids, n, o->parallel > 0 ? o->parallel : 8, res, err);
	if (threaded)
		pthread_join(th, NULL);
	else
		j.rc = fetch_filtered(c, st, d, &j.none, &j.raw, &j.err);
	dk_client_free(j.c);
	observe_raw_release(&j.none);
	if (r < 0 || j.rc < 0) {
		if (r >= 0)
			*err = j.err;
		else
			rc_err_prefix(err, "inspecting the project's containers");
		dk_inspect_results_release(res, n);
		free(res);
		observe_raw_release(&j.raw);
		return -1;
	}
	*ret_raw = j.raw;
	*ret_di = drift_inspects_start(dk_client_clone(c), d, o->parallel, res, n);
	return 0;
}

/* ---- images: an image id names immutable content, so its inspect can be kept ---- */

struct drift_image_cache {
	struct dk_image **v;
	size_t n, cap;
};

struct drift_image_cache *drift_image_cache_new(void)
{
	return xcalloc(1, sizeof(struct drift_image_cache));
}

void drift_image_cache_free(struct drift_image_cache *ic)
{
	if (!ic)
		return;
	for (size_t i = 0; i < ic->n; i++)
		dk_image_free(ic->v[i]);
	free(ic->v);
	free(ic);
}

static struct dk_image *cache_get(const struct drift_image_cache *ic, const char *id)
{
	for (size_t i = 0; ic && i < ic->n; i++)
		if (str_eq(ic->v[i]->id, id))
			return ic->v[i];
	return NULL;
}

/* Takes img over. */
static void cache_put(struct drift_image_cache *ic, struct dk_image *img)
{
	if (ic->n == 64) {  /* a host's images in use are few: start over rather than track use */
		for (size_t i = 0; i < ic->n; i++)
			dk_image_free(ic->v[i]);
		ic->n = 0;
	}
	GROW(ic->v, ic->n + 1, ic->cap);
	ic->v[ic->n++] = img;
}

enum drift_acquisition drift_acquisition_of(const struct drift_opts *o)
{
	if (o->inspects)
		return DRIFT_ACQ_INSPECTING;
	if (o->prelisted)
		return DRIFT_ACQ_PRELISTED;
	if (o->known_ids)
		return DRIFT_ACQ_KNOWN_IDS;
	return DRIFT_ACQ_LIST;
}

const char *drift_acquisition_name(enum drift_acquisition a)
{
	switch (a) {
	case DRIFT_ACQ_LIST: return "list";
	case DRIFT_ACQ_PRELISTED: return "prelisted";
	case DRIFT_ACQ_INSPECTING: return "inspecting";
	case DRIFT_ACQ_KNOWN_IDS: return "known-ids";
	}
	return "?";
}

/*
 * Fill *raw and *ret_di the way o says.  Whatever the way, when an inspect
 * by name did not answer (neither a container nor a 404), who holds that
 * name is unknown: everything on the engine is listed instead
 * (observe_fetch()).  *ret_di is set (to be freed) even on failure.
 */
static int acquire(struct dk_client *c, const struct rc_state *st, const struct rc_desired *d,
		   const struct drift_opts *o, struct observe_raw *raw, struct drift_inspects **ret_di,
		   struct rc_err *err)
{
	struct drift_inspects *di = NULL;
	int r = 0;
	enum drift_acquisition how = drift_acquisition_of(o);
	log_debug("drift check: containers by %s", drift_acquisition_name(how));
	switch (how) {
	case DRIFT_ACQ_KNOWN_IDS:
		r = inspect_known(c, st, d, o, raw, &di, err);
		break;
	case DRIFT_ACQ_LIST:
	case DRIFT_ACQ_PRELISTED:
		if (how == DRIFT_ACQ_PRELISTED && o->prelisted_everything && o->prelisted->containers)
			di = inspects_start_listed(dk_client_clone(c), d, o->parallel, o->prelisted->containers);
		else
			di = drift_inspects_start(dk_client_clone(c), d, o->parallel, NULL, 0);
		r = fetch_filtered(c, st, d, o->prelisted, raw, err);
		break;
	case DRIFT_ACQ_INSPECTING:
		di = o->inspects;
		r = fetch_filtered(c, st, d, o->prelisted, raw, err);
		break;
	}
	*ret_di = di;
	if (r < 0)
		return -1;
	inspects_join(di);
	if (!add_name_holders(raw, di)) {
		log_debug("drift check: an inspect by name did not answer: listing everything");
		observe_raw_release(raw);
		return observe_fetch(c, raw, err);
	}
	return 0;
}

/* The inspects of the project's containers, parallel to obs->containers->items (NULL for the others). */
struct ours {
	const struct dk_container **inspected;  /* borrowed from di or res */
	size_t n;                               /* of the project */
	struct dk_inspect_result *res;          /* those di had not inspected, by id */
	size_t nres;
};

static void ours_release(struct ours *w)
{
	free(w->inspected);
	if (w->res)
		dk_inspect_results_release(w->res, w->nres);
	free(w->res);
}

/* Take each container of the project from di (inspected by name or by id already), inspect the rest by id. */
static int inspect_ours(struct dk_client *c, const struct observation *obs, const struct rc_desired *d,
			const struct drift_inspects *di, int parallel, struct ours *w, struct rc_err *err)
{
	size_t nc = obs->containers->n, npre = 0;
	_cleanup_free_ const char **ids = xcalloc(nc + 1, sizeof(char *));
	_cleanup_free_ size_t *pos = xcalloc(nc + 1, sizeof(size_t));
	w->inspected = xcalloc(nc + 1, sizeof(*w->inspected));
	const struct dk_container **byid = sorted_inspected(di, &npre);
	for (size_t i = 0; i < nc; i++) {
		const struct dk_container_summary *s = &obs->containers->items[i];
		if (!str_eq(dk_label(s->labels, s->nlabels, RC_LABEL_PROJECT), d->settings.project))
			continue;
		w->n++;
		const struct dk_container *key = &(struct dk_container){ .id = (char *)s->id };
		const struct dk_container **hit = s->id ? bsearch(&key, byid, npre, sizeof(*byid), by_id) : NULL;
		if (hit) {
			w->inspected[i] = *hit;
			continue;
		}
		pos[w->nres] = i;
		ids[w->nres++] = s->id;
	}
	free(byid);
	w->res = xcalloc(w->nres + 1, sizeof(*w->res));
	if (dk_inspect_many(c, ids, w->nres, parallel > 0 ? parallel : 8, w->res, err) < 0)
		return rc_err_prefix(err, "inspecting containers");
	for (size_t k = 0; k < w->nres; k++)
		w->inspected[pos[k]] = w->res[k].container;
	return 0;
}

/* The images of the inspected containers, each distinct id once (from the cache when it has it). */
static int inspect_images(struct dk_client *c, const struct ours *w, size_t nc, struct drift_image_cache *cache,
			  struct dk_image ***ret_images, size_t *ret_n, struct rc_err *err)
{
	struct dk_image **images = xcalloc(w->n + 1, sizeof(*images));
	size_t nimages = 0;
	int r = 0;
	for (size_t i = 0; i < nc && r == 0; i++) {
		const char *iid = w->inspected[i] ? w->inspected[i]->image_id : NULL;
		bool seen = !iid;
		for (size_t m = 0; m < nimages && !seen; m++)
			seen = str_eq(images[m]->id, iid);
		if (seen)
			continue;
		struct dk_image *kept = cache_get(cache, iid);
		if (kept) {
			images[nimages++] = kept;
			continue;
		}
		struct dk_status ds;
		struct dk_image *img = NULL;
		if (dk_image_inspect(c, iid, &img, &ds, err) < 0) {
			if (ds.http != 404)  /* 404: removed under the container, nothing to subtract */
				r = rc_err_prefix(err, "inspecting image '%s'", iid);
			continue;
		}
		images[nimages++] = img;
		if (cache)
			cache_put(cache, img);  /* the cache owns it now */
	}
	*ret_images = images;   /* even on failure: what was inspected is released by the caller */
	*ret_n = nimages;
	return r;
}

/* A unit the daemon disabled (or `reconciler disable` marked) is stopped on purpose and left alone
 * until `enable`, and so are the units that depend on it (converge_hold_disabled()): their stopped
 * containers are no drift (as a sleeping unit's is not); drift would otherwise fire beside the
 * disabled alert and `drift --fix` could never end at 0. */
static bool held_by_disabled(const struct rc_state *st, const struct rc_desired *d, const char *id)
{
	const struct rc_unit *u = id ? rc_desired_unit(d, id) : NULL;
	return u && (state_is_disabled(st, id, NULL) || state_disabled_dependency(st, d, u));
}

static void drop_disabled_stopped(const struct rc_state *st, const struct rc_desired *d, struct drift_report *rep)
{
	size_t n = 0;
	for (size_t i = 0; i < rep->n; i++) {
		struct drift_item *it = &rep->v[i];
		if (it->kind == DRIFT_STOPPED && held_by_disabled(st, d, it->unit)) {
			drift_item_release(it);
			continue;
		}
		rep->v[n++] = *it;
	}
	rep->n = n;
}

int drift_check(struct dk_client *c, struct rc_state *st, struct rc_desired *d, const struct drift_opts *o,
		struct drift_report *ret_report, struct drift_summary *ret_summary, struct rc_err *err)
{
	static const struct drift_opts defaults = { 0 };
	if (!o)
		o = &defaults;
	int64_t t0 = now_ns();
	struct observation obs = { 0 };
	struct observe_raw raw = { 0 };
	struct drift_inspects *di = NULL;
	struct ours w = { 0 };
	struct dk_image **images = NULL;
	size_t nimages = 0;
	int rc = -1;

	bool swarm = d->settings.engine == RC_ENGINE_SWARM;
	if (swarm && o->prelisted)
		observe_raw_release(o->prelisted);  /* containers: a swarm's units are services */
	if (swarm)
		di = o->inspects;  /* taken over, as acquire() would: joined and freed below */
	if ((swarm ? observe_fetch_swarm(c, d->settings.project, &raw, err) : acquire(c, st, d, o, &raw, &di, err)) < 0 ||
	    observe_build(c, &raw, d->settings.project, d, st, &obs, err) < 0)
		goto out;
	if (state_allocate(st, d, &obs.alloc, err) < 0) {
		rc_err_prefix(err, "allocating ports and subnets");
		goto out;
	}
	state_apply_sleeping(st, d);  /* a sleeping unit is meant to be stopped: not drift */
	struct drift_report rep;
	if (swarm) {
		struct plan p = { 0 };
		if (planner_plan(d, &obs.plan, &p, err) < 0)
			goto out;
		drift_from_plan(d, obs.containers, &p, &rep);
		plan_release(&p);
	} else {
		if (inspect_ours(c, &obs, d, di, o->parallel, &w, err) < 0 ||
		    inspect_images(c, &w, obs.containers->n, o->images, &images, &nimages, err) < 0)
			goto out;
		struct drift_input in = { .d = d, .containers = obs.containers, .networks = obs.networks,
					  .inspected = w.inspected, .images = (const struct dk_image *const *)images,
					  .nimages = nimages, .tags = obs.plan.images, .ntags = obs.plan.nimages,
					  .made = obs.plan.containers, .nmade = obs.plan.ncontainers,
					  .unapplied_is_drift = o->unapplied_is_drift };
		drift_compute(&in, &rep);
		drop_disabled_stopped(st, d, &rep);
	}
	struct drift_summary sum;
	drift_summarize(&rep, &sum);
	sum.duration_ns = now_ns() - t0;
	struct buf msg = BUF_INIT;
	drift_summary_format(&sum, &msg);
	journal(st, o, d->commit, sum.total ? "drift" : "none", buf_cstr(&msg));
	buf_release(&msg);
	*ret_summary = sum;
	if (ret_report)
		*ret_report = rep;
	else
		drift_report_release(&rep);
	rc = 0;
out:
	if (rc < 0)
		journal(st, o, d->commit, "failed", err ? err->msg : "");
	for (size_t m = 0; m < nimages && !o->images; m++)
		dk_image_free(images[m]);  /* with a cache, it owns them */
	free(images);
	ours_release(&w);
	observe_raw_release(&raw);
	observation_release(&obs);
	drift_inspects_free(di);
	return rc;
}

int drift_last_summary(const struct rc_state *st, struct buf *out, struct rc_err *err)
{
	struct state_journal_record r;
	int found = state_journal_last(st, "drift", &r, err);
	if (found < 0)
		return -1;
	if (!found) {
		buf_adds(out, "last drift check: never");
		return 0;
	}
	buf_addf(out, "last drift check %s", r.time ? r.time : "?");
	if (r.commit)
		buf_addf(out, " (commit %.12s)", r.commit);
	if (str_eq(r.result, "failed"))
		buf_addf(out, ": failed: %s", r.message ? r.message : "");
	else
		buf_addf(out, ": %s", r.message ? r.message : "?");
	state_journal_record_release(&r);
	return 0;
}
