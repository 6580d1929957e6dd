/* drift.c — see drift.h; the JSON schema is spec/drift-json.md. */
#include "drift.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actual.h"
#include "hash.h"
#include "observe.h"
#include "report.h"
#include "util.h"

#define ARROW "\xe2\x86\x92" /* → */

static const char *const kind_names[DRIFT__MAX] = {
	[DRIFT_CHANGED] = "changed",   [DRIFT_STOPPED] = "stopped", [DRIFT_RUNNING] = "running",
	[DRIFT_MISSING] = "missing",   [DRIFT_RENAMED] = "renamed", [DRIFT_EXTRA] = "extra",
	[DRIFT_UNMANAGED] = "unmanaged", [DRIFT_NET_MISSING] = "network-missing",
	[DRIFT_NET_EXTRA] = "network-extra", [DRIFT_NET_CHANGED] = "network-changed",
};

const char *drift_kind_name(enum drift_kind k)
{
	return (unsigned)k < DRIFT__MAX ? kind_names[k] : "?";
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void drift_item_release(struct drift_item *it)
{
	free(it->unit);
	free(it->customer);
	free(it->container);
	free(it->container_id);
	free(it->network);
	free(it->detail);
	spec_changes_release(&it->changes);
	memset(it, 0, sizeof(*it));
}

void drift_report_release(struct drift_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		drift_item_release(&r->v[i]);
	free(r->v);
	free(r->project);
	free(r->commit);
	memset(r, 0, sizeof(*r));
}

/* ---- compute ---------------------------------------------------------------- */

struct builder {
	struct drift_report *r;
	size_t cap;
};

static struct drift_item *add(struct builder *b, enum drift_kind k)
{
	GROW(b->r->v, b->r->n + 1, b->cap);
	struct drift_item *it = &b->r->v[b->r->n++];
	memset(it, 0, sizeof(*it));
	it->kind = k;
	return it;
}

static bool is_ours(const struct rc_kv *labels, size_t n, const char *project)
{
	return str_eq(dk_label(labels, n, RC_LABEL_PROJECT), project);
}

static bool is_running(const struct dk_container *ct)
{
	return str_eq(ct->state_status, "running");
}

/* Is container a a better keeper for u than container b?  Right name, then running, then lowest id. */
static bool better(const struct dk_container *a, const struct dk_container *b, const struct rc_unit *u)
{
	bool an = str_eq(a->name, u->container), bn = str_eq(b->name, u->container);
	if (an != bn)
		return an;
	if (is_running(a) != is_running(b))
		return is_running(a);
	return strcmp(a->id, b->id) < 0;
}

static const struct dk_image *find_image(const struct drift_input *in, const char *id)
{
	for (size_t i = 0; id && i < in->nimages; i++)
		if (in->images[i] && str_eq(in->images[i]->id, id))
			return in->images[i];
	return NULL;
}

static char *state_detail(const struct dk_container *ct)
{
	const char *s = ct->state_status ? ct->state_status : "unknown";
	if (strcmp(s, "exited") == 0)
		return xasprintf("exited (code %d%s)", ct->exit_code, ct->oom_killed ? ", OOM-killed" : "");
	return xasprintf("%s", s);
}

/* Add a change to ch, keeping ch sorted by key; takes the strings. */
static void change_insert(struct spec_changes *ch, char *key, char *before, char *after)
{
	size_t at = 0;
	while (at < ch->n && strcmp(ch->v[at].key, key) < 0)
		at++;
	ch->v = xrealloc(ch->v, (ch->n + 1) * sizeof(*ch->v));
	memmove(&ch->v[at + 1], &ch->v[at], (ch->n - at) * sizeof(*ch->v));
	ch->v[at] = (struct spec_change){ key, before, after };
	ch->n++;
}

/*
 * The alias apply gives the unit on each of its networks (apply.c: its service name on the first;
 * on the others its container name for a customer's unit, its service name for a shared one),
 * missing from a network the container is on: "networks.N.alias" expected → the aliases it has
 * there ("" for none).  `docker network disconnect` + `connect` without --alias loses it, and the
 * name other units reach it by with it.  Not in the canonical spec: the engine sets it at create.
 */
static void alias_changes(const struct rc_unit *u, const struct dk_container *ct, struct spec_changes *ch)
{
	for (size_t i = 0; i < u->nnetworks; i++) {
		const struct dk_net_attach *at = dk_container_network(ct, u->networks[i]);
		if (!at)
			continue;  /* a missing network is a networks.N change already */
		const char *want = i == 0 || !u->customer ? u->service : u->container;
		bool has = false;
		for (size_t k = 0; k < at->naliases && !has; k++)
			has = str_eq(at->aliases[k], want);
		if (has)
			continue;
		struct buf b = BUF_INIT;
		for (size_t k = 0; k < at->naliases; k++)
			buf_addf(&b, "%s%s", k ? "," : "", at->aliases[k]);
		change_insert(ch, xasprintf("networks.%zu.alias", i), xstrdup(want), buf_detach(&b, NULL));
	}
}

/* The fields of ct that differ from u's canonical spec (pure; the costly part of a check). */
static void unit_changes(const struct drift_input *in, const struct rc_unit *u, const struct dk_container *ct,
			 struct spec_changes *ret)
{
	struct buf exp = BUF_INIT, act = BUF_INIT;
	actual_expected(u, &exp);
	struct actual_input ai = { .ct = ct, .image = find_image(in, ct->image_id), .expected = buf_cstr(&exp),
				   .links = (const char *const *)u->links, .nlinks = u->nlinks };
	actual_canonical(&ai, &act);
	spec_diff(buf_cstr(&exp), buf_cstr(&act), ret);
	/*
	 * A container made from another spec than the unit's (a change held back behind a disabled
	 * unit, awaiting approval, a step that failed, or the commit a refresh plans) differs from
	 * the unit by what was not applied yet: that is no drift.  Drifted is what differs both from
	 * the unit and from the spec reconciler made the container with (its labels, with the
	 * in-place updates since: in->made).  A secret's content is seen only through the labels:
	 * a rotated secret stays a finding.
	 */
	const struct plan_container *made = NULL;
	for (size_t i = 0; i < in->nmade && !made && !in->unapplied_is_drift; i++)
		if (str_eq(in->made[i].id, ct->id))
			made = &in->made[i];
	if (ret->n && made && made->spec && made->hash && !str_eq(made->hash, u->hash)) {
		struct spec_changes by_hand = { 0 };
		spec_diff(made->spec, buf_cstr(&act), &by_hand);
		size_t keep = 0;
		for (size_t i = 0; i < ret->n; i++) {
			bool found = str_startswith(ret->v[i].key, "secrets.");
			for (size_t k = 0; k < by_hand.n && !found; k++)
				found = str_eq(by_hand.v[k].key, ret->v[i].key);
			if (found) {
				ret->v[keep++] = ret->v[i];
			} else {
				free(ret->v[i].key);
				free(ret->v[i].before);
				free(ret->v[i].after);
			}
		}
		ret->n = keep;
		spec_changes_release(&by_hand);
	}
	alias_changes(u, ct, ret);
	buf_release(&exp);
	buf_release(&act);
}

/* unit_changes() of every unit with a container, on two threads (the other core is idle by now). */
struct changes_job {
	const struct drift_input *in;
	const long *kept;
	struct spec_changes *ch;  /* per unit */
	size_t from, to;
};

static void *changes_main(void *p)
{
	struct changes_job *j = p;
	const struct rc_desired *d = j->in->d;
	for (size_t k = j->from; k < j->to; k++)
		if (j->kept[k] >= 0)
			unit_changes(j->in, &d->units[k], j->in->inspected[j->kept[k]], &j->ch[k]);
	return NULL;
}

static struct spec_changes *all_changes(const struct drift_input *in, const long *kept)
{
	size_t n = in->d->nunits;
	struct spec_changes *ch = xcalloc(n + 1, sizeof(*ch));
	struct changes_job half = { in, kept, ch, 0, n / 2 }, rest = { in, kept, ch, n / 2, n };
	pthread_t th;
	bool threaded = n >= 16 && pthread_create(&th, NULL, changes_main, &half) == 0;
	if (!threaded)
		rest.from = 0;
	changes_main(&rest);
	if (threaded)
		pthread_join(th, NULL);
	return ch;
}

/* ch: unit_changes() of u and ct, taken over. */
static void check_unit(struct builder *b, const struct drift_input *in, const struct rc_unit *u,
		       const struct dk_container *ct, struct spec_changes ch)
{
	if (!ct) {
		struct drift_item *it = add(b, DRIFT_MISSING);
		it->unit = xstrdup(u->id);
		it->customer = dup_or_null(u->customer);
		it->detail = xasprintf("no container '%s'", u->container);
		return;
	}
	if (!str_eq(ct->name, u->container)) {
		struct drift_item *it = add(b, DRIFT_RENAMED);
		it->unit = xstrdup(u->id);
		it->customer = dup_or_null(u->customer);
		it->container = xstrdup(ct->name);
		it->container_id = xstrdup(ct->id);
		it->detail = xasprintf("named '%s' instead of '%s'", ct->name, u->container);
	}
	/* a job (run: once) that exited 0 has done what it is for */
	bool completed = u->job && str_eq(ct->state_status, "exited") && ct->exit_code == 0;
	if (u->running != is_running(ct) && !completed) {
		struct drift_item *it = add(b, u->running ? DRIFT_STOPPED : DRIFT_RUNNING);
		it->unit = xstrdup(u->id);
		it->customer = dup_or_null(u->customer);
		it->container = xstrdup(ct->name);
		it->container_id = xstrdup(ct->id);
		it->detail = u->running ? state_detail(ct) : xstrdup("running; desired state: stopped");
	}
	const struct plan_image *tag = NULL;
	for (size_t i = 0; i < in->ntags && !tag; i++)
		if (str_eq(in->tags[i].ref, u->image))
			tag = &in->tags[i];
	if (tag && ct->image_id && str_eq(actual_image_ref(ct), u->image) && !str_eq(tag->id, ct->image_id)) {
		/* the same reference, another image: the tag moved after the container was made */
		change_insert(&ch, xstrdup("image.id"), xstrdup(tag->id), xstrdup(ct->image_id));
	}
	if (ch.n) {
		struct drift_item *it = add(b, DRIFT_CHANGED);
		it->unit = xstrdup(u->id);
		it->customer = dup_or_null(u->customer);
		it->container = xstrdup(ct->name);
		it->container_id = xstrdup(ct->id);
		it->changes = ch;
	} else {
		spec_changes_release(&ch);
	}
}

/* Rank of a kind inside its group (the order findings of one unit are listed in). */
static int kind_rank(enum drift_kind k)
{
	static const int rank[DRIFT__MAX] = {
		[DRIFT_MISSING] = 0, [DRIFT_RENAMED] = 1, [DRIFT_STOPPED] = 2, [DRIFT_RUNNING] = 2,
		[DRIFT_CHANGED] = 3, [DRIFT_EXTRA] = 10, [DRIFT_UNMANAGED] = 20, [DRIFT_NET_MISSING] = 30,
		[DRIFT_NET_EXTRA] = 30, [DRIFT_NET_CHANGED] = 30,
	};
	return rank[k];
}

static int group_of(const struct drift_item *it)
{
	switch (it->kind) {
	case DRIFT_EXTRA: return 1;
	case DRIFT_UNMANAGED: return 2;
	case DRIFT_NET_MISSING:
	case DRIFT_NET_EXTRA:
	case DRIFT_NET_CHANGED: return 3;
	default: return 0;
	}
}

static const char *subject_of(const struct drift_item *it)
{
	if (group_of(it) == 0)
		return it->unit;
	if (it->container)
		return it->container;
	return it->network ? it->network : "";
}

static int item_cmp(const void *a, const void *b)
{
	const struct drift_item *x = a, *y = b;
	int gx = group_of(x), gy = group_of(y);
	if (gx != gy)
		return gx - gy;
	int r = strcmp(subject_of(x), subject_of(y));
	if (r)
		return r;
	if (kind_rank(x->kind) != kind_rank(y->kind))
		return kind_rank(x->kind) - kind_rank(y->kind);
	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	return strcmp(x->detail ? x->detail : "", y->detail ? y->detail : "");
}

/*
 * The keeper of each unit among the project's containers (kept[k]: an index
 * into in->containers, -1 for none); the others carrying the project label
 * are extras (no unit, a unit not desired, a duplicate).  Counts them in
 * b->r->ncontainers.
 */
static void find_keepers(struct builder *b, const struct drift_input *in, long *kept)
{
	const struct rc_desired *d = in->d;
	size_t nc = in->containers ? in->containers->n : 0;
	_cleanup_free_ long *owner = xcalloc(nc + 1, sizeof(long));
	for (size_t k = 0; k < d->nunits; k++)
		kept[k] = -1;
	for (size_t i = 0; i < nc; i++) {
		owner[i] = -1;
		const struct dk_container *ct = in->inspected[i];
		if (!ct)
			continue;
		b->r->ncontainers++;
		const char *unit = dk_label(ct->labels, ct->nlabels, RC_LABEL_UNIT);
		const struct rc_unit *u = unit ? rc_desired_unit(d, unit) : NULL;
		if (!u) {
			struct drift_item *it = add(b, DRIFT_EXTRA);
			it->unit = dup_or_null(unit);
			it->customer = dup_or_null(dk_label(ct->labels, ct->nlabels, RC_LABEL_CUSTOMER));
			it->container = xstrdup(ct->name);
			it->container_id = xstrdup(ct->id);
			it->detail = unit ? xasprintf("unit '%s' is not in the desired state", unit)
					  : xstrdup("carries the project label but no unit label");
			continue;
		}
		long idx = (long)(u - d->units);
		owner[i] = idx;
		if (kept[idx] < 0 || better(ct, in->inspected[kept[idx]], u))
			kept[idx] = (long)i;
	}
	for (size_t i = 0; i < nc; i++) {
		if (owner[i] < 0 || kept[owner[i]] == (long)i)
			continue;
		const struct dk_container *ct = in->inspected[i];
		const struct rc_unit *u = &d->units[owner[i]];
		struct drift_item *it = add(b, DRIFT_EXTRA);
		it->unit = xstrdup(u->id);
		it->customer = dup_or_null(u->customer);
		it->container = xstrdup(ct->name);
		it->container_id = xstrdup(ct->id);
		it->detail = xasprintf("duplicate of unit '%s' (kept '%s')", u->id, in->inspected[kept[owner[i]]]->name);
	}
}

/* Containers without the project label on a unit's container name or host port. */
static void find_unmanaged(struct builder *b, const struct drift_input *in)
{
	const struct rc_desired *d = in->d;
	size_t nc = in->containers ? in->containers->n : 0;
	for (size_t i = 0; i < nc; i++) {
		const struct dk_container_summary *s = &in->containers->items[i];
		if (is_ours(s->labels, s->nlabels, d->settings.project))
			continue;
		for (size_t k = 0; k < d->nunits; k++) {
			const struct rc_unit *u = &d->units[k];
			if (str_eq(s->name, u->container)) {
				struct drift_item *it = add(b, DRIFT_UNMANAGED);
				it->unit = NULL;
				it->customer = dup_or_null(u->customer);
				it->container = xstrdup(s->name);
				it->container_id = xstrdup(s->id);
				it->detail = xasprintf("has the container name of unit '%s'", u->id);
			}
			for (size_t p = 0; p < u->nports; p++) {
				bool hit = false;
				for (size_t q = 0; q < s->nports && !hit; q++)
					hit = s->ports[q].public_port && s->ports[q].public_port == u->ports[p].host_port;
				if (!hit)
					continue;
				struct drift_item *it = add(b, DRIFT_UNMANAGED);
				it->customer = dup_or_null(u->customer);
				it->container = xstrdup(s->name);
				it->container_id = xstrdup(s->id);
				it->detail = xasprintf("publishes host port %u of unit '%s'", u->ports[p].host_port, u->id);
			}
		}
	}
}

/* Desired networks missing, changed or held by someone else's network; ours not desired. */
static void check_networks(struct builder *b, const struct drift_input *in)
{
	const struct rc_desired *d = in->d;
	const char *project = d->settings.project;
	size_t nn = in->networks ? in->networks->n : 0;
	for (size_t k = 0; k < d->nnetworks; k++) {
		const struct rc_network *dn = &d->networks[k];
		const struct dk_network *found = NULL;
		for (size_t i = 0; i < nn && !found; i++)
			if (str_eq(in->networks->items[i].name, dn->name))
				found = &in->networks->items[i];
		if (found && is_ours(found->labels, found->nlabels, project)) {
			struct spec_changes nch;
			planner_network_changes(dn, found->nsubnets ? found->subnets[0] : NULL, found->internal, &nch);
			if (!nch.n)
				continue;
			for (size_t i = 0; i < nch.n; i++) {  /* expected (the desired one's) first */
				char *t = nch.v[i].before;
				nch.v[i].before = nch.v[i].after;
				nch.v[i].after = t;
			}
			struct drift_item *it = add(b, DRIFT_NET_CHANGED);
			it->network = xstrdup(dn->name);
			it->customer = dup_or_null(dn->customer);
			it->detail = xstrdup("differs from the manifests: apply (or drift --fix) recreates it");
			it->changes = nch;
			continue;
		}
		struct drift_item *it = add(b, found ? DRIFT_UNMANAGED : DRIFT_NET_MISSING);
		it->network = xstrdup(dn->name);
		it->customer = dup_or_null(dn->customer);
		it->detail = found ? xstrdup("a network without the project label has this name")
				   : xasprintf("no network '%s'", dn->name);
	}
	for (size_t i = 0; i < nn; i++) {
		const struct dk_network *n = &in->networks->items[i];
		if (!is_ours(n->labels, n->nlabels, project) || rc_desired_network(d, n->name))
			continue;
		struct drift_item *it = add(b, DRIFT_NET_EXTRA);
		it->network = xstrdup(n->name);
		it->customer = dup_or_null(dk_label(n->labels, n->nlabels, RC_LABEL_CUSTOMER));
		it->detail = xstrdup("carries the project label but is not desired");
	}
}

void drift_compute(const struct drift_input *in, struct drift_report *ret)
{
	const struct rc_desired *d = in->d;
	struct drift_report r = { 0 };
	struct builder b = { &r, 0 };
	r.project = xstrdup(d->settings.project);
	r.commit = dup_or_null(d->commit);
	r.nunits = d->nunits;
	r.nnetworks = d->nnetworks;

	long *kept = xcalloc(d->nunits + 1, sizeof(long));
	find_keepers(&b, in, kept);
	struct spec_changes *ch = all_changes(in, kept);
	for (size_t k = 0; k < d->nunits; k++)
		check_unit(&b, in, &d->units[k], kept[k] >= 0 ? in->inspected[kept[k]] : NULL, ch[k]);
	free(ch);
	free(kept);
	find_unmanaged(&b, in);
	check_networks(&b, in);
	if (r.n)
		qsort(r.v, r.n, sizeof(*r.v), item_cmp);
	*ret = r;
}

/* ---- summary ------------------------------------------------------------------ */

void drift_summarize(const struct drift_report *r, struct drift_summary *ret)
{
	struct drift_summary s = { 0 };
	for (size_t i = 0; i < r->n; i++)
		s.count[r->v[i].kind]++;
	s.total = r->n;
	s.units = r->nunits;
	s.containers = r->ncontainers;
	*ret = s;
}

static const char *const summary_words[DRIFT__MAX] = {
	[DRIFT_CHANGED] = "changed",   [DRIFT_STOPPED] = "stopped", [DRIFT_RUNNING] = "running",
	[DRIFT_MISSING] = "missing",   [DRIFT_RENAMED] = "renamed", [DRIFT_EXTRA] = "extra",
	[DRIFT_UNMANAGED] = "unmanaged", [DRIFT_NET_MISSING] = "network missing",
	[DRIFT_NET_EXTRA] = "network extra", [DRIFT_NET_CHANGED] = "network changed",
};
static const enum drift_kind summary_order[] = { DRIFT_CHANGED, DRIFT_STOPPED, DRIFT_RUNNING, DRIFT_MISSING,
						DRIFT_RENAMED, DRIFT_EXTRA, DRIFT_UNMANAGED, DRIFT_NET_MISSING,
						DRIFT_NET_EXTRA, DRIFT_NET_CHANGED };

static void counts_phrase(const struct drift_summary *s, struct buf *out)
{
	bool first = true;
	for (size_t i = 0; i < ARRAY_SIZE(summary_order); i++) {
		enum drift_kind k = summary_order[i];
		if (!s->count[k])
			continue;
		buf_addf(out, "%s%zu %s", first ? "" : ", ", s->count[k], summary_words[k]);
		first = false;
	}
}

void drift_summary_format(const struct drift_summary *s, struct buf *out)
{
	if (!s->total) {
		buf_adds(out, "no drift");
		return;
	}
	buf_addf(out, "%zu finding%s: ", s->total, s->total == 1 ? "" : "s");
	counts_phrase(s, out);
}

/* ---- render -------------------------------------------------------------------- */

static const char *marker(enum drift_kind k)
{
	switch (k) {
	case DRIFT_CHANGED: return "~";
	case DRIFT_RENAMED: return "~";
	case DRIFT_STOPPED: return "!";
	case DRIFT_RUNNING: return "!";
	case DRIFT_MISSING: return "-";
	case DRIFT_EXTRA: return "+";
	case DRIFT_UNMANAGED: return "!";
	case DRIFT_NET_MISSING: return "-";
	case DRIFT_NET_EXTRA: return "+";
	case DRIFT_NET_CHANGED: return "~";
	case DRIFT__MAX: break;
	}
	return "?";
}

static const char *color_of(enum drift_kind k)
{
	switch (k) {
	case DRIFT_CHANGED:
	case DRIFT_RENAMED:
	case DRIFT_NET_CHANGED: return "\033[33m";
	case DRIFT_EXTRA:
	case DRIFT_NET_EXTRA: return "\033[32m";
	default: return "\033[31m";
	}
}

/* The subject as shown: unit id, container name, or "network NAME". */
static void subject(const struct drift_item *it, struct buf *out)
{
	if (group_of(it) == 3 || (it->kind == DRIFT_UNMANAGED && it->network))
		buf_addf(out, "network %s", it->network);
	else
		buf_adds(out, subject_of(it));
}

/* One changed field, for humans: "memory: 48 MiB → 64 MiB", "secret db: not mounted". */
static void change_text(const struct spec_change *c, struct buf *out)
{
	const char *name;
	if (report_key_is_secret(c->key, &name)) {
		buf_addf(out, "secret %s: %s", name,
			 !c->after ? "not mounted" : !c->before ? "mounted but not expected" : "other content");
		return;
	}
	buf_addf(out, "%s: ", c->key);
	if (c->before)
		report_humanize(c->key, *c->before ? c->before : "\"\"", out);
	else
		buf_adds(out, "(absent)");
	buf_adds(out, " " ARROW " ");
	if (c->after)
		report_humanize(c->key, *c->after ? c->after : "\"\"", out);  /* e.g. no alias left */
	else
		buf_adds(out, "(absent)");
}

static void header_text(const struct drift_report *r, struct buf *out)
{
	buf_addf(out, "Drift check of project %s against ", r->project);
	if (r->commit)
		buf_addf(out, "commit %.12s", r->commit);
	else
		buf_adds(out, "a directory");
	buf_addf(out, ": %zu unit%s, %zu container%s, %zu network%s.\n", r->nunits, r->nunits == 1 ? "" : "s",
		 r->ncontainers, r->ncontainers == 1 ? "" : "s", r->nnetworks, r->nnetworks == 1 ? "" : "s");
}

static void render_text(const struct drift_report *r, bool color, struct buf *out)
{
	header_text(r, out);
	struct drift_summary s;
	drift_summarize(r, &s);
	if (!r->n) {
		buf_adds(out, "No drift.\n");
		return;
	}
	buf_addc(out, '\n');
	for (size_t i = 0; i < r->n; i++) {
		const struct drift_item *it = &r->v[i];
		struct buf subj = BUF_INIT;
		subject(it, &subj);
		if (color)
			buf_adds(out, color_of(it->kind));
		buf_addf(out, "%s %-28s %-15s", marker(it->kind), buf_cstr(&subj), drift_kind_name(it->kind));
		if (color)
			buf_adds(out, "\033[0m");
		if (it->kind == DRIFT_CHANGED)
			buf_addf(out, " %s", it->container);
		else if (it->detail)
			buf_addf(out, " %s", it->detail);
		buf_addc(out, '\n');
		for (size_t k = 0; k < it->changes.n; k++) {
			buf_adds(out, "      ");
			change_text(&it->changes.v[k], out);
			buf_addc(out, '\n');
		}
		buf_release(&subj);
	}
	buf_adds(out, "\nDrift: ");
	counts_phrase(&s, out);
	buf_adds(out, ".\n");
}

/* Text inside a Markdown table cell: no newlines, | escaped. */
static void md_cell(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			buf_adds(out, "\\|");
		else if (*s == '\n')
			buf_addc(out, ' ');
		else
			buf_addc(out, *s);
	}
}

static void md_code(struct buf *out, const char *s)
{
	bool tick = strchr(s, '`') != NULL;
	buf_adds(out, tick ? "`` " : "`");
	md_cell(out, s);
	buf_adds(out, tick ? " ``" : "`");
}

static void render_markdown(const struct drift_report *r, struct buf *out)
{
	buf_adds(out, "### Drift: project ");
	md_code(out, r->project);
	if (r->commit) {
		char c[13];
		snprintf(c, sizeof(c), "%.12s", r->commit);
		buf_adds(out, ", commit ");
		md_code(out, c);
	} else {
		buf_adds(out, ", a directory");
	}
	buf_addc(out, '\n');
	buf_addf(out, "\n%zu unit%s, %zu container%s, %zu network%s checked.\n", r->nunits, r->nunits == 1 ? "" : "s",
		 r->ncontainers, r->ncontainers == 1 ? "" : "s", r->nnetworks, r->nnetworks == 1 ? "" : "s");
	struct drift_summary s;
	drift_summarize(r, &s);
	if (!r->n) {
		buf_adds(out, "\n**No drift.**\n");
		return;
	}
	buf_adds(out, "\n| | object | finding | details |\n| --- | --- | --- | --- |\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct drift_item *it = &r->v[i];
		struct buf subj = BUF_INIT;
		subject(it, &subj);
		buf_addf(out, "| %s | ", marker(it->kind));
		md_code(out, buf_cstr(&subj));
		buf_addf(out, " | %s | ", drift_kind_name(it->kind));
		if (it->changes.n) {
			for (size_t k = 0; k < it->changes.n; k++) {
				struct buf c = BUF_INIT;
				change_text(&it->changes.v[k], &c);
				if (k)
					buf_adds(out, "<br>");
				md_cell(out, buf_cstr(&c));
				buf_release(&c);
			}
		} else if (it->detail) {
			md_cell(out, it->detail);
		}
		buf_adds(out, " |\n");
		buf_release(&subj);
	}
	buf_adds(out, "\n**Drift:** ");
	counts_phrase(&s, out);
	buf_adds(out, ".\n");
}

static void json_str_or_null(struct buf *b, const char *s)
{
	if (s)
		buf_add_json_str(b, s);
	else
		buf_adds(b, "null");
}

static void json_value(struct buf *b, const char *key, const char *v, bool human)
{
	if (!v) {
		buf_adds(b, "null");
		return;
	}
	if (!human) {
		buf_add_json_str(b, v);
		return;
	}
	struct buf h = BUF_INIT;
	report_humanize(key, v, &h);
	buf_add_json_str(b, buf_cstr(&h));
	buf_release(&h);
}

static void render_json(const struct drift_report *r, struct buf *out)
{
	struct drift_summary s;
	drift_summarize(r, &s);
	buf_adds(out, "{\n  \"version\": 1,\n  \"command\": \"drift\",\n  \"project\": ");
	buf_add_json_str(out, r->project);
	buf_adds(out, ",\n  \"commit\": ");
	json_str_or_null(out, r->commit);
	buf_addf(out, ",\n  \"checked\": {\"units\": %zu, \"containers\": %zu, \"networks\": %zu},\n", r->nunits,
		 r->ncontainers, r->nnetworks);
	buf_addf(out, "  \"summary\": {\"total\": %zu", s.total);
	for (int k = 0; k < DRIFT__MAX; k++)
		buf_addf(out, ", \"%s\": %zu", kind_names[k], s.count[k]);
	buf_adds(out, "},\n  \"drift\": [");
	for (size_t i = 0; i < r->n; i++) {
		const struct drift_item *it = &r->v[i];
		buf_adds(out, i ? ",\n    {" : "\n    {");
		buf_addf(out, "\"kind\": \"%s\", \"unit\": ", drift_kind_name(it->kind));
		json_str_or_null(out, it->unit);
		buf_adds(out, ", \"customer\": ");
		json_str_or_null(out, it->customer);
		buf_adds(out, ", \"container\": ");
		json_str_or_null(out, it->container);
		buf_adds(out, ", \"container_id\": ");
		json_str_or_null(out, it->container_id);
		buf_adds(out, ", \"network\": ");
		json_str_or_null(out, it->network);
		buf_adds(out, ", \"detail\": ");
		json_str_or_null(out, it->kind == DRIFT_CHANGED ? NULL : it->detail);
		buf_adds(out, ", \"changes\": [");
		for (size_t k = 0; k < it->changes.n; k++) {
			const struct spec_change *c = &it->changes.v[k];
			bool secret = report_key_is_secret(c->key, NULL);
			buf_adds(out, k ? ", {" : "{");
			buf_adds(out, "\"field\": ");
			buf_add_json_str(out, c->key);
			buf_addf(out, ", \"secret\": %s, \"expected\": ", secret ? "true" : "false");
			json_value(out, c->key, secret && c->before ? "(secret)" : c->before, false);
			buf_adds(out, ", \"actual\": ");
			json_value(out, c->key, secret && c->after ? "(secret)" : c->after, false);
			buf_adds(out, ", \"expected_human\": ");
			json_value(out, c->key, secret && c->before ? "(secret)" : c->before, !secret);
			buf_adds(out, ", \"actual_human\": ");
			json_value(out, c->key, secret && c->after ? "(secret)" : c->after, !secret);
			buf_adds(out, "}");
		}
		buf_adds(out, "]}");
	}
	buf_adds(out, r->n ? "\n  ]\n}\n" : "]\n}\n");
}

void drift_render(const struct drift_report *r, enum drift_format fmt, bool color, struct buf *out)
{
	switch (fmt) {
	case DRIFT_TEXT: render_text(r, color, out); break;
	case DRIFT_MARKDOWN: render_markdown(r, out); break;
	case DRIFT_JSON: render_json(r, out); break;
	}
}

/* ---- hand-over to the planner ---------------------------------------------------- */

/* key of a canonical line (up to the first unescaped '='), length */
static size_t line_key_len(const char *line, size_t len)
{
	size_t k = 0;
	while (k < len && line[k] != '=')
		k += line[k] == '\\' && k + 1 < len ? 2 : 1;
	return k < len ? k : len;
}

void drift_overlay_observed(const struct drift_report *r, struct plan_observed *o)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct drift_item *it = &r->v[i];
		if (it->kind != DRIFT_CHANGED || !it->container_id)
			continue;
		struct plan_container *pc = NULL;
		for (size_t k = 0; k < o->ncontainers && !pc; k++)
			if (str_eq(o->containers[k].id, it->container_id))
				pc = &o->containers[k];
		if (!pc)
			continue;
		/* lines of the effective spec, minus the drifted keys, plus their actual values */
		char **lines = NULL;
		size_t n = 0, cap = 0;
		for (const char *p = pc->spec ? pc->spec : ""; *p;) {
			size_t len = strcspn(p, "\n");
			size_t kl = line_key_len(p, len);
			bool drifted = false;
			for (size_t c = 0; c < it->changes.n && !drifted; c++)
				drifted = strlen(it->changes.v[c].key) == kl && strncmp(it->changes.v[c].key, p, kl) == 0;
			if (len && !drifted) {
				GROW(lines, n + 1, cap);
				lines[n++] = xstrndup(p, len);
			}
			p += len;
			if (*p)
				p++;
		}
		for (size_t c = 0; c < it->changes.n; c++) {
			if (!it->changes.v[c].after)
				continue;
			GROW(lines, n + 1, cap);
			lines[n++] = xasprintf("%s=%s", it->changes.v[c].key, it->changes.v[c].after);
		}
		if (n)
			qsort(lines, n, sizeof(char *), strp_cmp);
		struct buf all = BUF_INIT, base = BUF_INIT;
		for (size_t k = 0; k < n; k++) {
			_cleanup_free_ char *key = xstrndup(lines[k], line_key_len(lines[k], strlen(lines[k])));
			buf_adds(&all, lines[k]);
			buf_addc(&all, '\n');
			if (!spec_key_is_resource(key)) {
				buf_adds(&base, lines[k]);
				buf_addc(&base, '\n');
			}
			free(lines[k]);
		}
		free(lines);
		char h[RC_HASH_HEX_LEN + 1], bh[RC_HASH_HEX_LEN + 1];
		rc_hash128_hex(buf_cstr(&all), all.len, h);
		rc_hash128_hex(buf_cstr(&base), base.len, bh);
		free(pc->spec);
		pc->spec = buf_detach(&all, NULL);
		free(pc->hash);
		pc->hash = xstrdup(h);
		free(pc->base_hash);
		pc->base_hash = xstrdup(bh);
		buf_release(&base);
	}
}
