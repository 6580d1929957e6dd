/* planner.c — see planner.h. */
#include "planner.h"

#include <string.h>

#include "bindpath.h"
#include "buf.h"
#include "order.h"

/* ---- observed ----------------------------------------------------------------- */

static void foreign_release(struct plan_foreign *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].host_ports);
	}
	free(f);
}

void plan_observed_release(struct plan_observed *o)
{
	for (size_t i = 0; i < o->ncontainers; i++) {
		struct plan_container *c = &o->containers[i];
		free(c->id);
		free(c->name);
		free(c->unit);
		free(c->hash);
		free(c->base_hash);
		free(c->spec);
		free(c->commit);
		free(c->depends_on);
		free(c->state);
		free(c->image_id);
		free(c->health);
		free(c->host_ports);
		for (size_t j = 0; j < c->nnetworks; j++)
			free(c->networks[j]);
		free(c->networks);
	}
	free(o->containers);
	free(o->host_listening);
	free(o->remote_engine);
	free(o->engine_data_root);
	for (size_t i = 0; i < o->nnetworks; i++) {
		free(o->networks[i].id);
		free(o->networks[i].name);
		free(o->networks[i].label);
		free(o->networks[i].subnet);
	}
	free(o->networks);
	foreign_release(o->foreign, o->nforeign);
	foreign_release(o->foreign_networks, o->nforeign_networks);
	for (size_t i = 0; i < o->nimages; i++) {
		free(o->images[i].ref);
		free(o->images[i].id);
		free(o->images[i].registry_digest);
		free(o->images[i].local_digest);
	}
	free(o->images);
	for (size_t i = 0; i < o->nwarnings; i++)
		free(o->warnings[i]);
	free(o->warnings);
	memset(o, 0, sizeof(*o));
}

/* ---- names -------------------------------------------------------------------- */

const char *planner_action_kind_name(enum plan_kind k)
{
	switch (k) {
	case PLAN_NET_CREATE: return "network create";
	case PLAN_CREATE: return "create";
	case PLAN_RECREATE: return "recreate";
	case PLAN_UPDATE: return "update";
	case PLAN_START: return "start";
	case PLAN_STOP: return "stop";
	case PLAN_REMOVE: return "remove";
	case PLAN_NET_REMOVE: return "network remove";
	case PLAN_NET_RECREATE: return "network recreate";
	}
	return "?";
}

const char *planner_action_marker(enum plan_kind k)
{
	switch (k) {
	case PLAN_NET_CREATE: return "+";
	case PLAN_CREATE: return "+";
	case PLAN_RECREATE: return "-/+";
	case PLAN_UPDATE: return "~";
	case PLAN_START: return ">";
	case PLAN_STOP: return ".";
	case PLAN_REMOVE: return "-";
	case PLAN_NET_REMOVE: return "-";
	case PLAN_NET_RECREATE: return "-/+";
	}
	return "?";
}

/* ---- dependency graph ------------------------------------------------------------ */

static int unit_cmp_id(const void *key, const void *elem)
{
	return strcmp(key, ((const struct rc_unit *)elem)->id);
}

/* Index of the unit with this id in d, or -1.  d->units is sorted by id (unit.h). */
static ssize_t unit_index(const struct rc_desired *d, const char *id)
{
	if (!id || !d->nunits)
		return -1;
	const struct rc_unit *u = bsearch(id, d->units, d->nunits, sizeof(*d->units), unit_cmp_id);
	if (u)
		return u - d->units;
	/* Defensive: a caller that did not sort. */
	for (size_t i = 0; i < d->nunits; i++)
		if (strcmp(d->units[i].id, id) == 0)
			return (ssize_t)i;
	return -1;
}

size_t planner_unit_deps(const struct rc_desired *d, const struct rc_unit *u, const struct rc_unit ***ret)
{
	const struct rc_unit **v = xcalloc(u->ndeps + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < u->ndeps; i++) {
		ssize_t k = unit_index(d, u->deps[i].unit);
		if (k >= 0)
			v[n++] = &d->units[k];
	}
	*ret = v;
	return n;
}

int planner_waves(const struct rc_desired *d, const char *const *ids, size_t nids, struct plan_waves *ret,
		  struct rc_err *err)
{
	bool *in = xcalloc(d->nunits + 1, sizeof(bool));
	int *level = xcalloc(d->nunits + 1, sizeof(int));
	int r = -1;
	if (!ids) {
		for (size_t i = 0; i < d->nunits; i++)
			in[i] = true;
	} else {
		for (size_t i = 0; i < nids; i++) {
			ssize_t k = unit_index(d, ids[i]);
			if (k < 0) {
				rc_errf(err, "unknown unit '%s'", ids[i]);
				goto out;
			}
			in[k] = true;
		}
	}
	if (rc_desired_levels(d, in, level, err) < 0)
		goto out;
	int max = -1;
	for (size_t i = 0; i < d->nunits; i++)
		if (in[i] && level[i] > max)
			max = level[i];
	struct plan_waves w = { xcalloc((size_t)(max + 1) + 1, sizeof(struct plan_wave)), (size_t)(max + 1) };
	for (size_t i = 0; i < d->nunits; i++) {
		if (!in[i])
			continue;
		struct plan_wave *wv = &w.v[level[i]];
		wv->units = xrealloc(wv->units, (wv->n + 1) * sizeof(*wv->units));
		wv->units[wv->n++] = &d->units[i];   /* d->units is sorted: so is each wave */
	}
	*ret = w;
	r = 0;
out:
	free(in);
	free(level);
	return r;
}

void plan_waves_release(struct plan_waves *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i].units);
	free(w->v);
	memset(w, 0, sizeof(*w));
}

/* ---- building the plan ------------------------------------------------------------- */

struct builder {
	const struct rc_desired *d;
	const struct plan_observed *o;
	struct plan p;
	size_t cap, ccap;
	int *level;
	/* Per action: sort keys parallel to p.v. */
	struct key {
		int phase;       /* 0 net create, 1 removals/stops, 2 creates/starts, 3 net remove */
		int group;       /* phase 1: 0 units gone, 1 desired units */
		int sub;         /* phase 2: 0 create/recreate/update, 1 start */
		size_t seq;
	} *keys;
	size_t kcap;
};

static struct plan_action *add_action(struct builder *B, enum plan_kind kind, const char *unit)
{
	GROW(B->p.v, B->p.n + 1, B->cap);
	GROW(B->keys, B->p.n + 1, B->kcap);
	struct plan_action *a = &B->p.v[B->p.n];
	struct key *k = &B->keys[B->p.n];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->unit = unit ? xstrdup(unit) : NULL;
	k->seq = B->p.n;
	switch (kind) {
	case PLAN_NET_CREATE:
	case PLAN_NET_RECREATE: k->phase = 0; break;
	case PLAN_STOP:
	case PLAN_REMOVE: k->phase = 1; break;
	case PLAN_NET_REMOVE: k->phase = 3; break;
	default: k->phase = 2; break;
	}
	k->sub = kind == PLAN_START ? 1 : 0;
	B->p.n++;
	return a;
}

static void add_conflict(struct builder *B, char *msg)
{
	for (size_t i = 0; i < B->p.nconflicts; i++)
		if (strcmp(B->p.conflicts[i], msg) == 0) {
			free(msg);   /* the same conflict found twice (e.g. a port in two bindings) */
			return;
		}
	GROW(B->p.conflicts, B->p.nconflicts + 1, B->ccap);
	B->p.conflicts[B->p.nconflicts++] = msg;
}

static bool is_running_state(const char *s)
{
	return str_eq(s, "running") || str_eq(s, "restarting") || str_eq(s, "paused");
}

const struct plan_image *planner_image(const struct plan_observed *o, const char *ref)
{
	if (!ref)
		return NULL;
	for (size_t i = 0; i < o->nimages; i++)
		if (str_eq(o->images[i].ref, ref))
			return &o->images[i];
	return NULL;
}

static const char *image_now(const struct plan_observed *o, const char *ref)
{
	const struct plan_image *pi = planner_image(o, ref);
	return pi ? pi->id : NULL;
}

/* Values in causes are cut so one cause stays one readable line. */
static void add_value(struct buf *b, const char *v)
{
	size_t n = strlen(v);
	if (n <= 60)
		buf_adds(b, v);
	else
		buf_addf(b, "%.57s...", v);
}

void planner_describe_changes(const struct spec_changes *ch, struct buf *b)
{
	for (size_t i = 0; i < ch->n; i++) {
		const struct spec_change *c = &ch->v[i];
		if (b->len)
			buf_adds(b, "; ");
		const char *secret = str_startswith(c->key, "secrets.") ? c->key + strlen("secrets.")
				     : str_startswith(c->key, "secret.") ? c->key + strlen("secret.")
				     : NULL;
		if (secret) {
			/* Never values, not even digests. */
			const char *what = !c->before ? "added" : !c->after ? "removed" : "changed";
			buf_addf(b, "secret %s %s", secret, what);
		} else if (!c->before) {
			buf_addf(b, "%s added (", c->key);
			add_value(b, c->after);
			buf_addc(b, ')');
		} else if (!c->after) {
			buf_addf(b, "%s removed (was ", c->key);
			add_value(b, c->before);
			buf_addc(b, ')');
		} else {
			buf_addf(b, "%s: ", c->key);
			add_value(b, c->before);
			buf_adds(b, " -> ");
			add_value(b, c->after);
		}
	}
}

static void cause_add(struct buf *b, const char *s)
{
	if (b->len)
		buf_adds(b, "; ");
	buf_adds(b, s);
}

/* Keep-score of container c for unit u: hash match, then name match, then running. */
/*
 * Which of a unit's containers to keep: the one under the unit's name first
 * (a replacement cut short leaves the new container under a side name,
 * "<name>.next-...", and the old one under "<name>.old-...": the one under
 * the name is what serves; the others are removed), then the current hash,
 * then a running one.
 */
static int keep_score(const struct rc_unit *u, const struct plan_container *c)
{
	return (str_eq(c->name, u->container) ? 4 : 0) + (str_eq(c->hash, u->hash) ? 2 : 0) +
	       (is_running_state(c->state) ? 1 : 0);
}

static bool connected_to_all(const struct rc_unit *u, const struct plan_container *c, const char **ret_missing)
{
	for (size_t i = 0; i < u->nnetworks; i++) {
		bool found = false;
		for (size_t j = 0; j < c->nnetworks && !found; j++)
			found = str_eq(c->networks[j], u->networks[i]);
		if (!found) {
			*ret_missing = u->networks[i];
			return false;
		}
	}
	return true;
}

/* One of a unit's containers is kept (the best keep_score(), then the smallest id); the others
 * are duplicates, removed.  Returns the kept one's index in B->o->containers. */
static size_t keep_one(struct builder *B, const struct rc_unit *u, const size_t *cands, size_t ncands)
{
	const struct plan_observed *o = B->o;
	struct plan_action *a;
	size_t keep = cands[0];
	for (size_t i = 1; i < ncands; i++) {
		const struct plan_container *c = &o->containers[cands[i]], *best = &o->containers[keep];
		int sc = keep_score(u, c), sb = keep_score(u, best);
		if (sc > sb || (sc == sb && strcmp(c->id, best->id) < 0))
			keep = cands[i];
	}
	const struct plan_container *k = &o->containers[keep];
	for (size_t i = 0; i < ncands; i++) {
		if (cands[i] == keep)
			continue;
		const struct plan_container *c = &o->containers[cands[i]];
		a = add_action(B, PLAN_REMOVE, u->id);
		a->container_id = xstrdup(c->id);
		a->container_name = xstrdup(c->name);
		a->cause = xasprintf("duplicate container for unit '%s' (keeping '%s')", u->id, k->name);
		a->protected_ = u->protected_;
	}
	return keep;
}

enum verdict { KEEP_AS_IS, UPDATE_IN_PLACE, RECREATE };

/* What the kept container k needs to become unit u: nothing, an update in place (resources
 * only) or a new container; why goes to *cause, the spec's changes to *ch. */
static enum verdict judge_container(const struct plan_observed *o, const struct rc_unit *u,
				    const struct plan_container *k, struct buf *cause, struct spec_changes *ch)
{
	bool half_made = str_eq(k->state, "created");
	bool hash_eq = str_eq(k->hash, u->hash);
	bool recreate = false, update = false;

	if (!str_eq(k->name, u->container)) {
		recreate = true;
		struct buf t = BUF_INIT;
		buf_addf(&t, "container name '%s' should be '%s'", k->name, u->container);
		cause_add(cause, t.data);
		buf_release(&t);
	}
	if (str_eq(k->state, "dead")) {
		recreate = true;
		cause_add(cause, "container is dead");
	}
	const char *img = image_now(o, u->image);
	if (img && k->image_id && !str_eq(img, k->image_id)) {
		recreate = true;
		struct buf t = BUF_INIT;
		buf_addf(&t, "image %s now points to %s", u->image, img);
		cause_add(cause, t.data);
		buf_release(&t);
	}
	const struct plan_image *pi = planner_image(o, u->image);
	if (u->pull == RC_PULL_ALWAYS && pi && pi->moved && pi->registry_digest) {
		/* apply pulls it first (apply_container.c), then replaces the container */
		recreate = true;
		struct buf t = BUF_INIT;
		buf_addf(&t, "image %s moved in the registry: ", u->image);
		if (pi->local_digest)
			buf_addf(&t, "%.19s\u2026", pi->local_digest);
		else
			buf_adds(&t, "(no digest)");
		buf_addf(&t, " \u2192 %.19s\u2026", pi->registry_digest);
		cause_add(cause, t.data);
		buf_release(&t);
	}
	if (!hash_eq) {
		if (k->spec) {
			struct buf text = BUF_INIT;
			spec_canonical(u, true, &text);
			spec_diff(k->spec, buf_cstr(&text), ch);
			buf_release(&text);
		}
		bool in_place = str_eq(k->base_hash, u->base_hash) && (!k->spec || spec_changes_resource_only(ch));
		if (!in_place || half_made)
			recreate = true;
		else
			update = true;
		struct buf t = BUF_INIT;
		planner_describe_changes(ch, &t);
		if (!t.len)
			buf_adds(&t, k->spec ? "spec hash differs" : "spec changed (container has no spec label)");
		cause_add(cause, t.data);
		buf_release(&t);
	}
	const char *missing_net = NULL;
	if (!is_running_state(k->state) && !connected_to_all(u, k, &missing_net)) {
		recreate = true;
		struct buf t = BUF_INIT;
		buf_addf(&t, "%s container is not connected to network '%s'", half_made ? "half-made" : "stopped",
			 missing_net);
		cause_add(cause, t.data);
		buf_release(&t);
	}

	return recreate ? RECREATE : update ? UPDATE_IN_PLACE : KEEP_AS_IS;
}

/* Start or stop the kept container k as unit u wants it running or not. */
static void plan_run_state(struct builder *B, const struct rc_unit *u, const struct plan_container *k)
{
	struct plan_action *a;
	bool half_made = str_eq(k->state, "created");
	bool running = is_running_state(k->state) && !str_eq(k->state, "paused");
	/* a job that ran to exit 0 with this spec is converged (a recreate, planned before, runs it anew) */
	bool completed = u->job && str_eq(k->state, "exited") && k->has_exit && k->exit_code == 0;
	if (u->running && !running && !completed) {
		a = add_action(B, PLAN_START, u->id);
		a->desired = u;
		a->container_id = xstrdup(k->id);
		a->container_name = xstrdup(k->name);
		a->cause = str_eq(k->state, "paused") ? xstrdup("paused")
			   : half_made ? xstrdup("created, never started")
			   : u->job && k->has_exit ? xasprintf("job failed (exit %d): runs again", k->exit_code)
			   : xstrdup("stopped");
	} else if (!u->running && is_running_state(k->state)) {
		a = add_action(B, PLAN_STOP, u->id);
		a->desired = u;
		a->container_id = xstrdup(k->id);
		a->container_name = xstrdup(k->name);
		a->cause = xstrdup("desired state: stopped");
		a->protected_ = u->protected_;
	}
}

static void plan_unit(struct builder *B, size_t ui, const size_t *cands, size_t ncands)
{
	const struct rc_unit *u = &B->d->units[ui];
	const struct plan_observed *o = B->o;
	struct plan_action *a;

	if (!u->hash[0])
		BUG("unit '%s' has no hash: spec_hash_units() not called", u->id);

	if (ncands == 0) {
		a = add_action(B, PLAN_CREATE, u->id);
		a->desired = u;
		a->container_name = xstrdup(u->container);
		a->cause = xstrdup("missing");
		return;
	}

	const struct plan_container *k = &o->containers[keep_one(B, u, cands, ncands)];
	struct buf cause = BUF_INIT;
	struct spec_changes ch = { NULL, 0 };
	enum verdict v = judge_container(o, u, k, &cause, &ch);
	if (v == RECREATE) {
		a = add_action(B, PLAN_RECREATE, u->id);
		a->desired = u;
		a->container_id = xstrdup(k->id);
		a->container_name = xstrdup(u->container);
		a->cause = buf_detach(&cause, NULL);
		a->changes = ch;
		a->protected_ = u->protected_;
		return;
	}
	if (v == UPDATE_IN_PLACE) {
		a = add_action(B, PLAN_UPDATE, u->id);
		a->desired = u;
		a->container_id = xstrdup(k->id);
		a->container_name = xstrdup(k->name);
		a->cause = buf_detach(&cause, NULL);
		a->changes = ch;
		a->protected_ = u->protected_;
	} else {
		buf_release(&cause);
		spec_changes_release(&ch);
	}

	plan_run_state(B, u, k);
}

/*
 * A shared unit whose container (under its own name) is not on link network
 * n although it should be — a run cut short between making the network and
 * connecting it; NULL when every one is (or is not there to connect).
 */
static const struct rc_unit *link_unjoined(const struct builder *B, const struct rc_network *n)
{
	for (size_t i = 0; n->link_of && i < B->d->nunits; i++) {
		const struct rc_unit *u = &B->d->units[i];
		bool member = false;
		for (size_t k = 0; k < u->nlinks && !member; k++)
			member = strcmp(u->links[k], n->name) == 0;
		if (!member)
			continue;
		for (size_t j = 0; j < B->o->ncontainers; j++) {
			const struct plan_container *c = &B->o->containers[j];
			if (!str_eq(c->name, u->container))
				continue;
			bool on = false;
			for (size_t k = 0; k < c->nnetworks && !on; k++)
				on = str_eq(c->networks[k], n->name);
			if (!on)
				return u;
		}
	}
	return NULL;
}

static void change_add(struct spec_changes *ch, const char *key, const char *before, const char *after)
{
	ch->v = xrealloc(ch->v, (ch->n + 1) * sizeof(*ch->v));
	ch->v[ch->n++] = (struct spec_change){ xstrdup(key), before ? xstrdup(before) : NULL,
					       after ? xstrdup(after) : NULL };
}

void planner_network_changes(const struct rc_network *n, const char *subnet, bool internal,
			     struct spec_changes *ret)
{
	struct spec_changes ch = { NULL, 0 };
	if (internal != n->internal)
		change_add(&ch, "internal", internal ? "true" : "false", n->internal ? "true" : "false");
	if (n->subnet && !str_eq(subnet, n->subnet))
		change_add(&ch, "subnet", subnet, n->subnet);
	*ret = ch;
}

static void plan_networks(struct builder *B)
{
	const struct rc_desired *d = B->d;
	const struct plan_observed *o = B->o;
	for (size_t i = 0; i < d->nnetworks; i++) {
		const struct rc_network *n = &d->networks[i];
		const struct plan_net *have = NULL;
		for (size_t j = 0; j < o->nnetworks && !have; j++)
			if (str_eq(o->networks[j].name, n->name))
				have = &o->networks[j];
		if (have) {
			struct spec_changes ch;
			planner_network_changes(n, have->subnet, have->internal, &ch);
			if (ch.n) { /* removed and made again; its containers stopped, reconnected, started */
				struct plan_action *a = add_action(B, PLAN_NET_RECREATE, NULL);
				a->network = xstrdup(n->name);
				a->network_id = xstrdup(have->id);
				a->desired_net = n;
				struct buf t = BUF_INIT;
				planner_describe_changes(&ch, &t);
				a->cause = buf_detach(&t, NULL);
				a->changes = ch;
				continue;
			}
			const struct rc_unit *u = link_unjoined(B, n);
			if (u) { /* the network is there: the step only connects (network_id set) */
				struct plan_action *a = add_action(B, PLAN_NET_CREATE, NULL);
				a->network = xstrdup(n->name);
				a->network_id = xstrdup(have->id);
				a->desired_net = n;
				a->cause = xasprintf("exists; shared service '%s' is not on it yet", u->id);
			}
			continue;
		}
		struct plan_action *a = add_action(B, PLAN_NET_CREATE, NULL);
		a->network = xstrdup(n->name);
		a->desired_net = n;
		a->cause = xstrdup("missing");
		for (size_t j = 0; j < o->nforeign_networks; j++)
			if (str_eq(o->foreign_networks[j].name, n->name))
				add_conflict(B, xasprintf("network name '%s' is taken by a network not managed by "
							  "reconciler",
							  n->name));
	}
	for (size_t j = 0; j < o->nnetworks; j++) {
		const struct plan_net *on = &o->networks[j];
		const char *cause = NULL;
		if (!rc_desired_network(d, on->name)) {
			cause = "network removed from manifests";
		} else {
			for (size_t k = 0; k < j && !cause; k++)
				if (str_eq(o->networks[k].name, on->name))
					cause = "duplicate network";
		}
		if (!cause)
			continue;
		struct plan_action *a = add_action(B, PLAN_NET_REMOVE, NULL);
		a->network = xstrdup(on->name);
		a->network_id = xstrdup(on->id);
		a->cause = xstrdup(cause);
	}
}

/* A bind root that holds the engine's data root, or lies in it: a link inside the root, resolved
 * beneath it, could hand a container other containers' files and the engine's own state.  Every
 * unit with such a bind is a conflict, changed or not: its container has that root's files. */
static void data_root_conflicts(struct builder *B)
{
	const struct rc_desired *d = B->d;
	const char *dr = B->o->engine_data_root;
	if (!dr)
		return;
	for (size_t ui = 0; ui < d->nunits; ui++) {
		const struct rc_unit *u = &d->units[ui];
		for (size_t j = 0; j < u->nmounts; j++) {
			const struct rc_mount *m = &u->mounts[j];
			if (m->kind != RC_MOUNT_BIND)
				continue;
			const char *root = bindpath_root_of(d->settings.bind_roots, d->settings.nbind_roots, m->source);
			if (!root || !(bindpath_under(root, dr) || bindpath_under(dr, root)))
				continue;
			add_conflict(B, xasprintf("unit '%s' mounts '%s' from bind root '%s', which %s the engine's data "
						  "root '%s': a link inside the root could hand the container other "
						  "containers' files and the engine's state; narrow policy.bind_roots or move "
						  "the engine's data root out of it",
						  u->id, m->source, root,
						  bindpath_under(root, dr) ? "lies inside" : "holds", dr));
		}
	}
}

/* Unmanaged objects holding what the plan needs; two units wanting one host port. */
static void find_conflicts(struct builder *B)
{
	const struct rc_desired *d = B->d;
	const struct plan_observed *o = B->o;
	bool *binds = xcalloc(d->nunits + 1, sizeof(bool));   /* unit gets (re)created or started */
	bool *named = xcalloc(d->nunits + 1, sizeof(bool));   /* unit gets a container name */
	for (size_t i = 0; i < B->p.n; i++) {
		const struct plan_action *a = &B->p.v[i];
		if (!a->desired)
			continue;
		size_t ui = (size_t)(a->desired - d->units);
		if (a->kind == PLAN_CREATE || a->kind == PLAN_RECREATE || a->kind == PLAN_START)
			binds[ui] = true;
		if (a->kind == PLAN_CREATE || a->kind == PLAN_RECREATE)
			named[ui] = true;
	}
	int32_t *owner = xmalloc(65536 * sizeof(int32_t));
	for (size_t i = 0; i < 65536; i++)
		owner[i] = -1;
	for (size_t ui = 0; ui < d->nunits; ui++) {
		const struct rc_unit *u = &d->units[ui];
		for (size_t j = 0; j < u->nports; j++) {
			uint16_t hp = u->ports[j].host_port;
			if (!hp)
				continue;
			if (owner[hp] >= 0 && (size_t)owner[hp] != ui)
				add_conflict(B, xasprintf("host port %u is wanted by both unit '%s' and unit '%s'", hp,
							  d->units[owner[hp]].id, u->id));
			else
				owner[hp] = (int32_t)ui;
			if (!binds[ui])
				continue;
			for (size_t f = 0; f < o->nforeign; f++)
				for (size_t k = 0; k < o->foreign[f].nhost_ports; k++)
					if (o->foreign[f].host_ports[k] == hp)
						add_conflict(B, xasprintf("unit '%s' needs host port %u, which container "
									  "'%s' (not managed by reconciler) publishes",
									  u->id, hp, o->foreign[f].name));
			for (size_t k = 0; k < o->nhost_listening; k++)
				if (o->host_listening[k] == hp)
					add_conflict(B, xasprintf("unit '%s' needs host port %u, which a process on the "
								  "host (not a container) listens on", u->id, hp));
		}
		if (binds[ui] && u->running && u->health.kind == RC_HEALTH_HTTP && o->remote_engine)
			add_conflict(B, xasprintf("unit '%s': an http health check is probed from this host, which cannot "
						  "reach the containers of the engine at '%s' (not on this host): use "
						  "health: {cmd: ...}, which the engine runs", u->id, o->remote_engine));
		if (!named[ui])
			continue;
		for (size_t f = 0; f < o->nforeign; f++)
			if (str_eq(o->foreign[f].name, u->container))
				add_conflict(B, xasprintf("unit '%s' needs container name '%s', which a container not "
							  "managed by reconciler holds",
							  u->id, u->container));
	}
	free(owner);
	free(binds);
	free(named);
}

static int action_cmp(const void *x, const void *y, void *arg)
{
	const struct builder *B = arg;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	const struct key *ki = &B->keys[i], *kj = &B->keys[j];
	const struct plan_action *ai = &B->p.v[i], *aj = &B->p.v[j];
	if (ki->phase != kj->phase)
		return ki->phase < kj->phase ? -1 : 1;
	int r;
	switch (ki->phase) {
	case 0:
	case 3:
		r = strcmp(ai->network, aj->network);
		break;
	case 1:
		if (ki->group != kj->group)
			return ki->group < kj->group ? -1 : 1;
		if (ai->wave != aj->wave)
			return ai->wave > aj->wave ? -1 : 1;   /* dependents first */
		r = strcmp(ai->unit ? ai->unit : "", aj->unit ? aj->unit : "");
		if (!r)
			r = strcmp(ai->container_name ? ai->container_name : "",
				   aj->container_name ? aj->container_name : "");
		break;
	default:
		if (ai->wave != aj->wave)
			return ai->wave < aj->wave ? -1 : 1;
		r = strcmp(ai->unit, aj->unit);
		if (!r && ki->sub != kj->sub)
			r = ki->sub < kj->sub ? -1 : 1;
		break;
	}
	if (r)
		return r;
	return ki->seq < kj->seq ? -1 : ki->seq > kj->seq;
}

static void sort_actions(struct builder *B)
{
	size_t *idx = xcalloc(B->p.n + 1, sizeof(size_t));
	for (size_t i = 0; i < B->p.n; i++)
		idx[i] = i;
	qsort_r(idx, B->p.n, sizeof(size_t), action_cmp, B);
	struct plan_action *v = xcalloc(B->p.n + 1, sizeof(*v));
	for (size_t i = 0; i < B->p.n; i++)
		v[i] = B->p.v[idx[i]];
	free(B->p.v);
	B->p.v = v;
	free(idx);
}

/*
 * The dependency level of gone container c among the containers of units
 * that are gone too, from their RC_LABEL_DEPENDS labels (the manifests
 * that declared the dependencies are not at hand): 0 without such a
 * dependency, else one more than its deepest.  Removals run from the
 * highest level down, dependents first.  depth bounds a cycle the labels
 * should never have.
 */
static int gone_level(const struct plan_observed *o, const ssize_t *owner, size_t c, int depth)
{
	const char *deps = o->containers[c].depends_on;
	if (!deps || depth > 64)
		return 0;
	int level = 0;
	for (const char *p = deps; *p;) {
		size_t n = strcspn(p, ",");
		for (size_t k = 0; k < o->ncontainers; k++) {
			const char *u = o->containers[k].unit;
			if (owner[k] < 0 && u && strlen(u) == n && strncmp(u, p, n) == 0) {
				int l = gone_level(o, owner, k, depth + 1) + 1;
				if (l > level)
					level = l;
			}
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return level;
}

int planner_plan(const struct rc_desired *d, const struct plan_observed *o, struct plan *ret,
		 struct rc_err *err)
{
	static const struct plan_observed none;
	if (!o)
		o = &none;
	struct builder B = { .d = d, .o = o };
	bool *all = xcalloc(d->nunits + 1, sizeof(bool));
	B.level = xcalloc(d->nunits + 1, sizeof(int));
	for (size_t i = 0; i < d->nunits; i++)
		all[i] = true;
	int r = rc_desired_levels(d, all, B.level, err);
	free(all);
	if (r < 0) {
		free(B.level);
		return rc_err_prefix(err, "planning");
	}

	/* Group observed containers by desired unit. */
	size_t *cands = xcalloc(o->ncontainers + 1, sizeof(size_t));
	ssize_t *owner = xcalloc(o->ncontainers + 1, sizeof(ssize_t));
	for (size_t c = 0; c < o->ncontainers; c++)
		owner[c] = unit_index(d, o->containers[c].unit);
	for (size_t c = 0; c < o->ncontainers; c++) {
		if (owner[c] >= 0)
			continue;
		const struct plan_container *pc = &o->containers[c];
		struct plan_action *a = add_action(&B, PLAN_REMOVE, pc->unit);
		B.keys[B.p.n - 1].group = 0;
		a->gone = true;
		a->wave = gone_level(o, owner, c, 0);
		a->container_id = xstrdup(pc->id);
		a->container_name = xstrdup(pc->name);
		a->cause = xstrdup(pc->unit ? "unit removed from manifests" : "container has no unit label");
	}
	plan_networks(&B);
	for (size_t ui = 0; ui < d->nunits; ui++) {
		size_t n = 0;
		for (size_t c = 0; c < o->ncontainers; c++)
			if (owner[c] == (ssize_t)ui)
				cands[n++] = c;
		size_t first = B.p.n;
		plan_unit(&B, ui, cands, n);
		for (size_t i = first; i < B.p.n; i++) {
			B.p.v[i].wave = B.level[ui];
			B.keys[i].group = 1;
		}
	}
	free(cands);
	free(owner);
	find_conflicts(&B);
	data_root_conflicts(&B);
	sort_actions(&B);
	free(B.keys);
	free(B.level);
	*ret = B.p;
	return 0;
}

void plan_release(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct plan_action *a = &p->v[i];
		free(a->unit);
		free(a->container_id);
		free(a->container_name);
		free(a->network);
		free(a->network_id);
		free(a->cause);
		spec_changes_release(&a->changes);
	}
	free(p->v);
	for (size_t i = 0; i < p->nconflicts; i++)
		free(p->conflicts[i]);
	free(p->conflicts);
	memset(p, 0, sizeof(*p));
}

/* ---- in-place updates ------------------------------------------------------------- */

/* Length of the key of line p (ends at the first unescaped '=' or at len). */
static size_t key_len(const char *p, size_t len)
{
	size_t k = 0;
	while (k < len && p[k] != '=') {
		if (p[k] == '\\' && k + 1 < len)
			k++;
		k++;
	}
	return k < len ? k : len;
}

/* Split text into lines (without '\n'), keeping those whose resource-ness is want. */
static char **lines_where(const char *text, bool want, size_t *ret_n, size_t *cap)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = text ? text : "";
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len) {
			char *key = xstrndup(p, key_len(p, len));
			if (spec_key_is_resource(key) == want) {
				GROW(v, n + 1, *cap);
				v[n++] = xstrndup(p, len);
			}
			free(key);
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	*ret_n = n;
	return v;
}

static void emit_lines(char **v, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		buf_adds(out, v[i]);
		buf_addc(out, '\n');
		free(v[i]);
	}
	free(v);
}

void planner_resource_lines(const char *spec, struct buf *out)
{
	size_t n, cap = 0;
	char **v = lines_where(spec, true, &n, &cap);
	emit_lines(v, n, out);
}

void planner_overlay_resources(const char *spec, const char *resources, struct buf *out)
{
	size_t n, m, cap = 0, cap2 = 0;
	char **v = lines_where(spec, false, &n, &cap);
	char **r = lines_where(resources, true, &m, &cap2);
	GROW(v, n + m, cap);
	for (size_t i = 0; i < m; i++)
		v[n + i] = r[i];
	free(r);
	qsort(v, n + m, sizeof(*v), strp_cmp);
	emit_lines(v, n + m, out);
}
