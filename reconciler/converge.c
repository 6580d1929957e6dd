/* converge.c — see converge.h. */
#include "converge.h"

#include <string.h>

#include "buf.h"

#include "manifest.h"
#include "owner.h"

static int read_source(const struct converge_source *src, const char *rev, struct source_files *ret,
		       struct rc_err *err)
{
	if (src->dir) {
		if (src->path && *src->path)
			return rc_errf(err, "--path and --dir cannot be used together (give --dir the sub-directory)");
		return source_load_dir(src->dir, ret, err);
	}
	return source_load_git(src->repo, rev ? rev : src->rev, src->path, ret, err);
}

int converge_load(const struct converge_source *src, const char *rev, struct source_files *files,
		  struct rc_desired **ret_desired, struct buf *diag, struct rc_err *err)
{
	if (read_source(src, rev, files, err) < 0)
		return -1;
	return converge_expand(src, files, ret_desired, diag, err);
}

int converge_build_tree(void *ctx, const char *context, const char *dockerfile, char ret[41],
			struct rc_err *err)
{
	const struct converge_commit *cc = ctx;
	return source_build_tree(cc->repo, cc->commit, context, dockerfile, ret, err);
}

int converge_expand(const struct converge_source *src, const struct source_files *files,
		    struct rc_desired **ret_desired, struct buf *diag, struct rc_err *err)
{
	/* the secrets directory and the state directory are checked before a secret is read */
	struct rc_err serr = { 0 };
	bool refused = src->secrets_dir && state_check_secrets(src->secrets_dir, &serr) < 0;
	struct manifest_opts mo = { .secrets_dir = src->secrets_dir, .secrets_dir_refused = refused ? serr.msg : NULL,
				    .generate_secrets = src->generate_secrets && !refused,
				    .host_policy = src->host_policy };
	struct converge_commit cc = { .repo = src->repo, .commit = files->commit };
	if (files->commit && src->repo) {   /* build: contexts are read from the same commit */
		mo.build_tree = converge_build_tree;
		mo.build_ctx = &cc;
	}
	struct rc_diags diags = { 0 };
	struct rc_desired *d = NULL;
	if (manifest_load(files, &mo, &d, &diags) < 0) {
		struct buf b = BUF_INIT;
		rc_diags_sort(&diags);
		rc_diags_format(&diags, &b);
		size_t total = diags.n + diags.dropped;
		if (total == 0) /* must not happen; never report "invalid" without a reason */
			buf_adds(&b, "reconciler: manifests rejected without a diagnostic\n");
		size_t start = b.len;
		buf_addf(&b, "invalid: %zu error%s (", total, total == 1 ? "" : "s");
		if (files->commit)
			buf_addf(&b, "commit %.7s", files->commit);
		else
			buf_addf(&b, "directory %s", src->dir);
		buf_adds(&b, ")");
		rc_errf(err, "%s", buf_cstr(&b) + start);
		buf_adds(&b, "\n");
		if (diag)
			buf_add(diag, b.data, b.len);
		buf_release(&b);
		if (src->diags)
			*src->diags = diags;  /* moved: the caller releases it */
		else
			rc_diags_release(&diags);
		return -1;
	}
	rc_diags_release(&diags);
	if (d->commit) {
		d->path = xstrdup(src->path ? src->path : "");
		d->repo = src->repo ? xstrdup(src->repo) : NULL;
	}
	*ret_desired = d;
	return 0;
}

static int plan_from(struct converge *cv, struct rc_desired *d, struct dk_client *c, struct rc_state *st,
		     struct observe_raw *raw, void (*adjust)(struct plan_observed *o, void *ctx), void *ctx,
		     struct rc_err *err);

int converge_plan(struct converge *cv, struct rc_desired *d, struct dk_client *c, struct rc_state *st,
		  struct rc_err *err)
{
	return plan_from(cv, d, c, st, NULL, NULL, NULL, err);
}

int converge_plan_adjusted(struct converge *cv, struct rc_desired *d, struct dk_client *c, struct rc_state *st,
			   void (*adjust)(struct plan_observed *o, void *ctx), void *ctx, struct rc_err *err)
{
	return plan_from(cv, d, c, st, NULL, adjust, ctx, err);
}

int converge_plan_prefetched(struct converge *cv, struct rc_desired *d, struct dk_client *c, struct rc_state *st,
			     struct observe_raw *raw, struct rc_err *err)
{
	return plan_from(cv, d, c, st, raw, NULL, NULL, err);
}

static int plan_from(struct converge *cv, struct rc_desired *d, struct dk_client *c, struct rc_state *st,
		     struct observe_raw *raw, void (*adjust)(struct plan_observed *o, void *ctx), void *ctx,
		     struct rc_err *err)
{
	memset(cv, 0, sizeof(*cv));
	cv->d = d;
	int64_t t = now_ns();
	struct observe_raw fetched = { 0 };
	if (d->settings.engine == RC_ENGINE_SWARM) {
		if (raw)
			observe_raw_release(raw);  /* containers, fetched before the manifests said swarm */
		if (observe_fetch_swarm(c, d->settings.project, &fetched, err) < 0)
			return rc_err_prefix(err, "observing the swarm");
		raw = &fetched;
	} else if (!raw) {
		if (observe_fetch(c, &fetched, err) < 0)
			return rc_err_prefix(err, "observing the engine");
		raw = &fetched;
	}
	raw->registry = true;  /* the `pull: always` units' tags are asked of their registries */
	if (observe_build(c, raw, d->settings.project, d, st, &cv->obs, err) < 0)
		return rc_err_prefix(err, "observing the engine");
	cv->t_observe = now_ns() - t;
	t = now_ns();
	if (state_allocate(st, d, &cv->obs.alloc, err) < 0)
		return rc_err_prefix(err, "allocating ports and subnets");
	state_apply_sleeping(st, d);  /* a sleeping unit is kept stopped (a changed spec recreated stopped) */
	if (state_locked(st)) {
		const char **ids = xcalloc(cv->obs.plan.ncontainers + 1, sizeof(char *));
		for (size_t i = 0; i < cv->obs.plan.ncontainers; i++)
			ids[i] = cv->obs.plan.containers[i].id;
		state_prune_inplace(st, ids, cv->obs.plan.ncontainers);
		free(ids);
	}
	if (adjust)
		adjust(&cv->obs.plan, ctx);
	if (planner_plan(d, &cv->obs.plan, &cv->plan, err) < 0)
		return rc_err_prefix(err, "planning");
	cv->t_plan = now_ns() - t;
	return 0;
}

void converge_filter(struct converge *cv, bool (*keep)(const struct plan_action *a, void *ctx), void *ctx)
{
	struct plan *p = &cv->plan, *h = &cv->held;
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (keep(&p->v[i], ctx)) {
			p->v[n++] = p->v[i];
		} else {
			h->v = xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
			h->v[h->n++] = p->v[i];
		}
	}
	p->n = n;
}

static bool is_up(enum plan_kind k)
{
	return k == PLAN_CREATE || k == PLAN_RECREATE || k == PLAN_UPDATE || k == PLAN_START;
}

struct holding {
	const struct rc_state *st;
	const struct rc_desired *d;
	struct buf *why;
	char **units;   /* held so far (each said once) */
	size_t n, cap;
};

static bool keep_unheld(const struct plan_action *a, void *ctx)
{
	struct holding *h = ctx;
	const struct rc_unit *u = a->unit && is_up(a->kind) ? rc_desired_unit(h->d, a->unit) : NULL;
	if (!u)
		return true;
	bool disabled = state_is_disabled(h->st, u->id, NULL);
	const char *dep = disabled ? NULL : state_disabled_dependency(h->st, h->d, u);
	if (!disabled && !dep)
		return true;
	for (size_t i = 0; i < h->n; i++)
		if (str_eq(h->units[i], u->id))
			return false;
	GROW(h->units, h->n + 1, h->cap);
	h->units[h->n++] = xstrdup(u->id);
	if (h->why && !disabled)
		buf_addf(h->why, "%s%s (%s is disabled)", h->why->len ? "; " : "", u->id, dep);
	return false;
}

size_t converge_hold_disabled(struct converge *cv, const struct rc_state *st, struct buf *why)
{
	struct holding h = { .st = st, .d = cv->d, .why = why };
	converge_filter(cv, keep_unheld, &h);
	for (size_t i = 0; i < h.n; i++)
		free(h.units[i]);
	free(h.units);
	return h.n;
}

int converge_claim(struct converge *cv, struct dk_client *c, struct rc_state *st, const struct owner_self *self,
		   const struct owner_marker *seen, bool take_over, bool *ret_refused, struct rc_err *err)
{
	int r = owner_claim(c, self, seen, take_over, ret_refused, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		_cleanup_free_ char *prev = seen->present ? owner_describe(seen) : NULL;
		_cleanup_free_ char *msg =
			prev ? xasprintf("took over project '%s' from %s", self->project, prev)
			     : xasprintf("claimed project '%s' for state directory %s on host %s (repository %s)",
					 self->project, self->state_dir, self->host, self->repo);
		struct state_journal_entry je = { .commit = cv->d->commit, .action = prev ? "take-over" : "claim",
						  .result = "ok", .message = msg };
		if (state_journal(st, &je, err) < 0)
			return rc_err_prefix(err, "journaling the owner of project '%s'", self->project);
	}
	cv->claimed = true;
	return 0;
}

int converge_apply(struct converge *cv, struct dk_client *c, struct rc_state *st, const struct apply_opts *o,
		   struct apply_result *ret)
{
	if (!cv->claimed)
		BUG("converge_apply() before converge_claim()");
	memset(ret, 0, sizeof(*ret));
	struct apply_opts ao = *o;
	ao.observed = &cv->obs.plan;
	if (cv->plan.n || o->wait_unchanged || apply_warming(cv->d, ao.observed))
		apply_run(c, cv->d, &cv->plan, st, &ao, ret);
	if (cv->d->commit) {
		state_set_last_applied(st, cv->d->commit);
		state_set_project(st, cv->d->settings.project);
		state_set_path(st, cv->d->path);
		const char **names = xcalloc(cv->d->nunits + 1, sizeof(char *));
		for (size_t i = 0; i < cv->d->nunits; i++)
			names[i] = cv->d->units[i].container;
		/* the names drift inspects ahead of the next check; a swarm's units are services (none) */
		state_set_containers(st, names, cv->d->settings.engine == RC_ENGINE_SWARM ? 0 : cv->d->nunits);
		for (size_t i = 0; i < cv->d->nunits; i++)
			names[i] = cv->d->units[i].id;
		state_set_unit_ids(st, names, cv->d->nunits);
		state_prune_units(st, names, cv->d->nunits);
		free(names);
		if (ret->nfailed == 0)
			state_set_last_good(st, cv->d->commit);
	}
	return ret->nfailed ? -1 : 0;
}

void converge_release(struct converge *cv)
{
	plan_release(&cv->held);
	plan_release(&cv->plan);
	observation_release(&cv->obs);
	memset(cv, 0, sizeof(*cv));
}

/* ---- a rollback's target (converge_keep_removals()) ---- */

/* Drop g's unit i (released), keeping the array sorted. */
static void drop_unit(struct rc_desired *g, size_t i)
{
	rc_unit_release(&g->units[i]);
	memmove(&g->units[i], &g->units[i + 1], (g->nunits - i - 1) * sizeof(g->units[0]));
	g->nunits--;
}

/* Whether a unit of g is on network name (or links to it). */
static bool network_used(const struct rc_desired *g, const char *name)
{
	for (size_t i = 0; i < g->nunits; i++)
		for (size_t k = 0; k < g->units[i].nnetworks; k++)
			if (str_eq(g->units[i].networks[k], name))
				return true;
	return false;
}

/* Drop the link network name from the shared units' links. */
static void drop_links(struct rc_desired *g, const char *name)
{
	for (size_t i = 0; i < g->nunits; i++) {
		struct rc_unit *u = &g->units[i];
		for (size_t k = 0; k < u->nlinks; k++) {
			if (!str_eq(u->links[k], name))
				continue;
			free(u->links[k]);
			memmove(&u->links[k], &u->links[k + 1], (u->nlinks - k - 1) * sizeof(u->links[0]));
			u->nlinks--;
			break;
		}
	}
}

void converge_keep_removals(struct rc_desired *g, const struct rc_desired *f, struct buf *dropped)
{
	bool *keep = xcalloc(g->nunits + 1, sizeof(*keep));
	for (size_t i = 0; i < g->nunits; i++)
		keep[i] = rc_desired_unit(f, g->units[i].id) != NULL;
	for (bool more = true; more;) {  /* what a kept unit depends on is kept: to a fixed point */
		more = false;
		for (size_t i = 0; i < g->nunits; i++)
			for (size_t k = 0; keep[i] && k < g->units[i].ndeps; k++) {
				const struct rc_unit *x = rc_desired_unit(g, g->units[i].deps[k].unit);
				if (x && !keep[x - g->units]) {
					keep[x - g->units] = true;
					more = true;
				}
			}
	}
	for (size_t i = g->nunits; i-- > 0;)
		if (!keep[i]) {
			buf_addf(dropped, "%s%s", dropped->len ? ", " : "", g->units[i].id);
			drop_unit(g, i);
		}
	free(keep);
	for (size_t i = g->nnetworks; i-- > 0;) {
		struct rc_network *n = &g->networks[i];
		if (rc_desired_network(f, n->name) || network_used(g, n->name))
			continue;
		drop_links(g, n->name);
		rc_network_release(n);
		memmove(&g->networks[i], &g->networks[i + 1], (g->nnetworks - i - 1) * sizeof(g->networks[0]));
		g->nnetworks--;
	}
}
