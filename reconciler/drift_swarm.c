/*
 * drift_swarm.c — drift_from_plan() (drift.h): on a swarm the services'
 * labels and their fingerprints (docker_swarm.h) say what the planner needs
 * to see a change made by hand, so what drifted is what the planner would
 * do, plus the services whose tasks do not all run.  Pure.
 */
#include "drift.h"

#include <string.h>

static struct drift_item *add(struct drift_report *r, enum drift_kind k, const char *unit, const char *customer)
{
	r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	struct drift_item *it = &r->v[r->n++];
	memset(it, 0, sizeof(*it));
	it->kind = k;
	it->unit = unit ? xstrdup(unit) : NULL;
	it->customer = customer ? xstrdup(customer) : NULL;
	return it;
}

static const struct dk_container_summary *seen_of(const struct dk_container_list *seen, const char *id)
{
	for (size_t i = 0; seen && id && i < seen->n; i++)
		if (str_eq(seen->items[i].id, id))
			return &seen->items[i];
	return NULL;
}

static const char *spec_label(const struct dk_container_summary *s)
{
	return s ? dk_label(s->labels, s->nlabels, RC_LABEL_SPEC) : NULL;
}

/* One finding for a unit's action. */
static void unit_item(const struct plan_action *a, const struct dk_container_summary *s, struct drift_report *r)
{
	const struct rc_unit *u = a->desired;
	struct drift_item *it;
	switch (a->kind) {
	case PLAN_CREATE:
		it = add(r, DRIFT_MISSING, u->id, u->customer);
		it->detail = xasprintf("service '%s' is gone", u->container);
		break;
	case PLAN_RECREATE:
	case PLAN_UPDATE: {
		it = add(r, DRIFT_CHANGED, u->id, u->customer);
		it->container = xstrdup(a->container_name);
		struct buf want = BUF_INIT;
		spec_canonical(u, true, &want);
		const char *have = spec_label(s);
		spec_diff(buf_cstr(&want), have ? have : "", &it->changes);
		buf_release(&want);
		if (have && strstr(have, "swarm.changed_by_hand="))
			it->detail = xstrdup("the service was changed outside reconciler (docker service update/scale)");
		break;
	}
	case PLAN_START:
		it = add(r, DRIFT_STOPPED, u->id, u->customer);
		it->container = xstrdup(a->container_name);
		it->detail = xstrdup("scaled to 0");
		break;
	case PLAN_STOP:
		it = add(r, DRIFT_RUNNING, u->id, u->customer);
		it->container = xstrdup(a->container_name);
		break;
	default:
		break;
	}
}

void drift_from_plan(const struct rc_desired *d, const struct dk_container_list *seen, const struct plan *p,
		     struct drift_report *ret)
{
	struct drift_report r = { 0 };
	r.project = xstrdup(d->settings.project);
	r.commit = d->commit ? xstrdup(d->commit) : NULL;
	r.nunits = d->nunits;
	r.ncontainers = seen ? seen->n : 0;
	r.nnetworks = d->nnetworks;
	bool *acted = xcalloc(d->nunits + 1, sizeof(bool));
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		struct drift_item *it;
		if (a->desired) {
			acted[a->desired - d->units] = true;
			unit_item(a, seen_of(seen, a->container_id), &r);
		} else if (a->kind == PLAN_REMOVE) {
			it = add(&r, DRIFT_EXTRA, a->unit, NULL);
			it->container = xstrdup(a->container_name);
			it->container_id = a->container_id ? xstrdup(a->container_id) : NULL;
			it->detail = xstrdup(a->cause ? a->cause : "a service of the project no manifest names");
		} else if (a->kind == PLAN_NET_CREATE || a->kind == PLAN_NET_REMOVE || a->kind == PLAN_NET_RECREATE) {
			it = add(&r, a->kind == PLAN_NET_CREATE ? DRIFT_NET_MISSING
				 : a->kind == PLAN_NET_REMOVE ? DRIFT_NET_EXTRA : DRIFT_NET_CHANGED, NULL, NULL);
			it->network = xstrdup(a->network);
		}
	}
	/* services as they should be whose tasks do not all run: Swarm is on it, or cannot */
	for (size_t i = 0; seen && i < seen->n; i++) {
		const struct dk_container_summary *s = &seen->items[i];
		const char *unit = dk_label(s->labels, s->nlabels, RC_LABEL_UNIT);
		const struct rc_unit *u = unit ? rc_desired_unit(d, unit) : NULL;
		if (!u || acted[u - d->units] || !u->running || !s->status || strstr(s->status, "(healthy)"))
			continue;
		struct drift_item *it = add(&r, DRIFT_STOPPED, u->id, u->customer);
		it->container = xstrdup(s->name);
		it->detail = xasprintf("tasks: %s", s->status);
	}
	free(acted);
	*ret = r;
}
