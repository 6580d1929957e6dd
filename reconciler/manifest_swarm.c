/*
 * manifest_swarm.c — the keys of `engine: swarm` (spec/swarm.md, "Keys";
 * spec/manifest.md): pass 2's grammar of replicas, placement, rollout and
 * publish (mf_parse_swarm(), for a service, a Plan, a Customer and
 * Settings.defaults); pass 3's engine check (mf_swarm_check(): the Swarm keys
 * refused under `engine: containers`, the keys a Swarm service cannot honour
 * refused under `engine: swarm`, wherever the Settings document is); and a
 * unit's Swarm settings resolved (mf_swarm_unit()).
 */
#include "manifest_int.h"

#include <stdio.h>
#include <string.h>

#include "speckeys.h"
#include "util.h"

/* The key node of key in mapping m (where a message about the key points), or NULL. */
static const struct ynode *key_node(const struct ynode *m, const char *key)
{
	if (!m || m->kind != Y_MAP)
		return NULL;
	for (size_t i = 0; i < y_npairs(m); i++)
		if (strcmp(y_key(m, i)->str, key) == 0)
			return y_key(m, i);
	return NULL;
}

/* s[0..n) without leading and trailing blanks, ctx-owned */
static const char *trimmed(struct ctx *c, const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return mf_keep(c, xstrndup(s, n));
}

/* A label name after node.labels. / engine.labels.: not empty, no blanks, control characters or '='. */
static bool label_name_ok(const char *s)
{
	return *s && !mf_has_ctl_or_space(s) && !strchr(s, '=') && !strchr(s, '!');
}

static const char *const fixed_attrs[] = { "node.id", "node.hostname", "node.role", "node.platform.os",
					   "node.platform.arch", "node.labels", "engine.labels" };

/*
 * A placement constraint: ATTR==VALUE or ATTR!=VALUE (blanks around the operator
 * allowed, as Swarm allows them), ATTR one Swarm knows (node.id, node.hostname,
 * node.role, node.platform.os, node.platform.arch, node.labels.NAME,
 * engine.labels.NAME), VALUE not empty, without blanks or control characters.
 * Returns the constraint without blanks (ctx-owned), or NULL when wrong (said).
 */
static const char *parse_constraint(struct ctx *c, const char *raw, const struct ynode *at)
{
	const char *eq = strstr(raw, "=="), *ne = strstr(raw, "!=");
	const char *op = eq && (!ne || eq < ne) ? eq : ne;
	if (!op) {
		mf_diag(c, at, "placement constraint '%s' must be ATTRIBUTE==VALUE or ATTRIBUTE!=VALUE, e.g. node.labels.tier==gold",
			mf_shown(c, raw));
		return NULL;
	}
	const char *attr = trimmed(c, raw, (size_t)(op - raw));
	const char *value = trimmed(c, op + 2, strlen(op + 2));
	bool known = false;
	for (size_t i = 0; i < ARRAY_SIZE(fixed_attrs) - 2 && !known; i++)
		known = strcmp(attr, fixed_attrs[i]) == 0;
	if (!known && str_startswith(attr, "node.labels."))
		known = label_name_ok(attr + strlen("node.labels."));
	else if (!known && str_startswith(attr, "engine.labels."))
		known = label_name_ok(attr + strlen("engine.labels."));
	if (!known) {
		mf_diag(c, at, "unknown attribute '%s' in placement constraint '%s': use node.id, node.hostname, node.role, "
			"node.platform.os, node.platform.arch, node.labels.NAME or engine.labels.NAME%s",
			mf_shown(c, attr), mf_shown(c, raw), mf_mean(c, attr, fixed_attrs, ARRAY_SIZE(fixed_attrs)));
		return NULL;
	}
	if (!*value || mf_has_ctl_or_space(value) || strstr(value, "==") || strstr(value, "!=")) {
		mf_diag(c, at, "placement constraint '%s' needs one value after '%.2s', without blanks or control characters",
			mf_shown(c, raw), op);
		return NULL;
	}
	if (strcmp(attr, "node.role") == 0 && strcmp(value, "manager") != 0 && strcmp(value, "worker") != 0) {
		mf_diag(c, at, "'node.role' is manager or worker, not '%s'", mf_shown(c, value));
		return NULL;
	}
	return mf_keep(c, xasprintf("%s%.2s%s", attr, op, value));
}

/* placement: {constraints: [C, ...], spread: [DESCRIPTOR, ...]} */
static void parse_placement(struct ctx *c, const struct ynode *y, struct oswarm *w)
{
	static const char *const keys[] = { "constraints", "spread", NULL };
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'placement' must be a mapping like {constraints: [node.labels.tier==gold], spread: [node.labels.zone]}");
		return;
	}
	mf_check_keys(c, y, keys, "placement");
	struct refs raw = { 0 };
	mf_get_strings(c, y, "constraints", &raw);
	if (raw.n > SWARM_MAX_CONSTRAINTS)
		mf_diag(c, y_get(y, "constraints"), "at most %d placement constraints", SWARM_MAX_CONSTRAINTS);
	for (size_t i = 0; i < raw.n && i < SWARM_MAX_CONSTRAINTS; i++) {
		const char *k = parse_constraint(c, raw.v[i].name, raw.v[i].at);
		if (k)
			mf_refs_add(&w->constraints, k, raw.v[i].at);
	}
	free(raw.v);
	if (!y_get(y, "spread"))
		return;
	w->has_spread = true;
	mf_get_strings(c, y, "spread", &w->spread);
	if (w->spread.n > SWARM_MAX_SPREAD) {   /* (and the pairwise check below stays small) */
		mf_diag(c, y_get(y, "spread"), "at most %d 'spread' descriptors", SWARM_MAX_SPREAD);
		return;
	}
	for (size_t i = 0; i < w->spread.n; i++) {
		const char *s = w->spread.v[i].name;
		bool ok = (str_startswith(s, "node.labels.") && label_name_ok(s + strlen("node.labels."))) ||
			  (str_startswith(s, "engine.labels.") && label_name_ok(s + strlen("engine.labels.")));
		if (!ok)
			mf_diag(c, w->spread.v[i].at, "'spread' takes node.labels.NAME or engine.labels.NAME (tasks are spread over "
				"the label's values), not '%s'", mf_shown(c, s));
		for (size_t j = 0; ok && j < i; j++)
			if (strcmp(w->spread.v[j].name, s) == 0)
				mf_diag(c, w->spread.v[i].at, "'%s' is in 'spread' twice", mf_shown(c, s));
	}
}

/* rollout: {parallelism: N, delay: DURATION, monitor: DURATION} */
static void parse_rollout(struct ctx *c, const struct ynode *y, struct oswarm *w)
{
	static const char *const keys[] = { "parallelism", "delay", "monitor", NULL };
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'rollout' must be a mapping like {parallelism: 1, delay: 10s, monitor: 5s}");
		return;
	}
	mf_check_keys(c, y, keys, "rollout");
	w->has_parallelism = mf_get_int(c, y, "parallelism", 0, SWARM_MAX_REPLICAS, &w->parallelism) > 0;
	if (mf_get_duration(c, y, "delay", &w->delay) > 0) {
		if (w->delay > 3600 * NS_PER_S)
			mf_diag(c, y_get(y, "delay"), "'delay' must be at most 1h");
		else
			w->has_delay = true;
	}
	if (mf_get_duration(c, y, "monitor", &w->monitor) > 0) {
		if (w->monitor <= 0 || w->monitor > 3600 * NS_PER_S)
			mf_diag(c, y_get(y, "monitor"), "'monitor' must be above 0s and at most 1h (Swarm takes 0 as its own default)");
		else
			w->has_monitor = true;
	}
}

void mf_parse_swarm(struct ctx *c, const struct ynode *m, unsigned what, struct oswarm *w)
{
	const struct ynode *y;
	if ((what & SWARM_REPLICAS) && (y = y_get(m, "replicas"))) {
		w->replicas_at = key_node(m, "replicas");
		if (y->kind == Y_SCALAR && strcmp(y->str, "0") == 0)
			mf_diag(c, y, "'replicas' must be from 1 to %d: to stop a service, say 'state: stopped' on the Service "
				"or the Customer", SWARM_MAX_REPLICAS);
		else
			mf_get_int(c, m, "replicas", 1, SWARM_MAX_REPLICAS, &w->replicas);
	}
	if ((what & SWARM_PLACEMENT) && (y = y_get(m, "placement"))) {
		w->placement_at = key_node(m, "placement");
		parse_placement(c, y, w);
	}
	if ((what & SWARM_ROLLOUT) && (y = y_get(m, "rollout"))) {
		w->rollout_at = key_node(m, "rollout");
		parse_rollout(c, y, w);
	}
	if ((what & SWARM_PUBLISH) && (y = y_get(m, "publish"))) {
		static const char *const modes[] = { "ingress", "host" };
		w->publish_at = key_node(m, "publish");
		const char *p = mf_as_str(c, y, "publish");
		if (p && strcmp(p, "ingress") != 0 && strcmp(p, "host") != 0)
			mf_diag(c, y, "'publish' must be ingress or host, not '%s'%s", mf_shown(c, p),
				mf_mean(c, p, modes, ARRAY_SIZE(modes)));
		else if (p)
			w->publish = p;
	}
}

void mf_swarm_release(struct oswarm *w)
{
	free(w->constraints.v);
	free(w->spread.v);
	memset(w, 0, sizeof(*w));
}

/* ------------------------------------------------------------------ */
/* pass 3: what the engine takes                                       */

/* Under containers: every Swarm key written in w is refused. */
static void refuse_swarm_keys(struct ctx *c, const struct oswarm *w, const char *why)
{
	const struct ynode *at[] = { w->replicas_at, w->placement_at, w->rollout_at, w->publish_at };
	for (size_t i = 0; i < ARRAY_SIZE(at); i++)
		if (at[i])
			mf_diag(c, at[i], "'%s' only applies with 'engine: swarm' (%s)", at[i]->str, why);
}

/* Under swarm: key of mapping m refused, with where the engine is set and why. */
static void refuse(struct ctx *c, const struct ynode *m, const char *key, const char *where, const char *why)
{
	const struct ynode *k = key_node(m, key);
	if (k)
		mf_diag(c, k, "'%s' cannot be used with 'engine: swarm' (%s): %s", key, where, why);
}

/* The spec-key table's rows a Swarm service cannot set, written in fields (of mapping m). */
static void refuse_fields(struct ctx *c, const struct ynode *m, const struct sk_value *fields, const char *where)
{
	for (int i = 0; i < SK__COUNT; i++) {
		const struct sk_row *r = sk_row((enum sk_id)i);
		if (!r->swarm && fields[i].set)
			refuse(c, m, r->key, where, "a Swarm service spec has no such setting");
	}
}

static void refuse_svc(struct ctx *c, const struct osvc *s, const char *where)
{
	refuse(c, s->at, "devices", where, "Swarm services have no devices");
	refuse(c, s->at, "pid", where, "a Swarm service cannot join the host's PID namespace");
	refuse(c, s->at, "ipc", where, "a Swarm service cannot join the host's IPC namespace");
	refuse(c, s->at, "build", where,
	       "the nodes pull the image: push it to a registry every node reaches and name it in 'image'");
	refuse(c, s->at, "run", where, "one-shot jobs (run: once) are not supported as Swarm services yet");
	refuse_fields(c, s->at, s->fields, where);
	if (s->health.kind == RC_HEALTH_HTTP)
		refuse(c, s->at, "health", where,
		       "an 'http' check is probed by reconciler from its own host, and a task may run on any node: "
		       "use 'cmd' (Docker runs it inside the task)");
	for (size_t i = 0; i < s->nvols; i++)
		if (s->vols[i].kind == RC_MOUNT_BIND)
			mf_diag(c, s->vols[i].at,
				"bind mount of '%s' cannot be used with 'engine: swarm' (%s): the nodes' file systems "
				"cannot be checked for links out of the bind roots from here; use a named volume",
				mf_shown(c, s->vols[i].src), where);
}

/* Under swarm: a policy.require (Settings' or the host's) that only a row Swarm cannot set meets
 * can never be met: said once, where it is written (the host's: at the engine line). */
static void refuse_requirements(struct ctx *c, const char *where)
{
	const struct model *m = c->m;
	const struct osettings *set = &m->set;
	const struct ynode *req = set->at ? y_get(y_get(set->at, "policy"), "require") : NULL;
	for (size_t i = 0; req && req->kind == Y_SEQ && i < req->n; i++) {
		const struct ynode *it = req->kids[i];
		const struct sk_requirement *q = it->kind == Y_SCALAR ? sk_requirement(it->str) : NULL;
		if (q && !sk_row(q->id)->swarm)
			mf_diag(c, it, "requirement '%s' cannot be met with 'engine: swarm' (%s): it asks for '%s', which "
				"a Swarm service cannot set", q->name, where, q->how);
	}
	for (size_t i = 0; i < m->host.nrequire; i++) {
		const struct sk_requirement *q = m->host.require[i];
		if (!sk_row(q->id)->swarm)
			mf_diag(c, set->engine_at, "'engine: swarm' cannot meet the host policy's requirement '%s' (%s): it "
				"asks for '%s', which a Swarm service cannot set", q->name, m->host.file, q->how);
	}
}

void mf_swarm_check(struct ctx *c)
{
	const struct model *m = c->m;
	const struct osettings *set = &m->set;
	if (set->engine_unknown)
		return;   /* said already; which keys fit would be a guess */
	if (set->engine != RC_ENGINE_SWARM) {
		const char *why = set->engine_at
			? mf_keep(c, xasprintf("%s:%d sets 'engine: containers'", set->engine_at->file, set->engine_at->line))
			: "the engine is containers, the default: no Settings sets 'engine'";
		for (size_t i = 0; i < m->nsvcs; i++)
			refuse_swarm_keys(c, &m->svcs[i].sw, why);
		for (size_t i = 0; i < m->ntmpls; i++)
			for (size_t j = 0; j < m->tmpls[i].nsvcs; j++)
				refuse_swarm_keys(c, &m->tmpls[i].svcs[j].sw, why);
		for (size_t i = 0; i < m->nplans; i++)
			refuse_swarm_keys(c, &m->plans[i].sw, why);
		for (size_t i = 0; i < m->ncusts; i++)
			refuse_swarm_keys(c, &m->custs[i].sw, why);
		refuse_swarm_keys(c, &set->defaults_sw, why);
		return;
	}
	const char *where = mf_keep(c, xasprintf("%s:%d", set->engine_at->file, set->engine_at->line));
	for (size_t i = 0; i < m->nsvcs; i++)
		refuse_svc(c, &m->svcs[i], where);
	for (size_t i = 0; i < m->ntmpls; i++)
		for (size_t j = 0; j < m->tmpls[i].nsvcs; j++)
			refuse_svc(c, &m->tmpls[i].svcs[j], where);
	static const char idle_why[] = "idle sleep stops and wakes single containers; Swarm services are not put to sleep";
	for (size_t i = 0; i < m->nplans; i++) {
		refuse(c, m->plans[i].at, "idle", where, idle_why);
		refuse_fields(c, m->plans[i].at, m->plans[i].fields, where);
	}
	for (size_t i = 0; i < m->ncusts; i++)
		refuse(c, m->custs[i].at, "idle", where, idle_why);
	if (set->at)
		refuse_fields(c, y_get(set->at, "defaults"), set->defaults, where);
	refuse_requirements(c, where);
}

/* ------------------------------------------------------------------ */
/* expansion                                                           */

static void add_constraints(char ***v, size_t *n, const struct oswarm *w)
{
	for (size_t i = 0; w && i < w->constraints.n; i++)
		(*v)[(*n)++] = xstrdup(w->constraints.v[i].name);
}

void mf_swarm_unit(const struct model *m, struct rc_unit *u, const struct osvc *s, const struct ocust *cu,
		   const struct oplan *pl)
{
	if (m->set.engine != RC_ENGINE_SWARM)
		return;
	struct rc_swarm *w = &u->swarm;
	const struct oswarm *own = &s->sw, *plan = pl ? &pl->sw : NULL, *cust = cu ? &cu->sw : NULL;
	const struct oswarm *def = &m->set.defaults_sw;
	w->enabled = true;
	w->replicas = own->replicas ? (uint64_t)own->replicas : plan && plan->replicas ? (uint64_t)plan->replicas : 1;

	/* constraints: the union of the plan's, the customer's and the service's, sorted, once each */
	size_t nc = own->constraints.n + (plan ? plan->constraints.n : 0) + (cust ? cust->constraints.n : 0);
	if (nc) {
		w->constraints = xcalloc(nc, sizeof(char *));
		add_constraints(&w->constraints, &w->nconstraints, plan);
		add_constraints(&w->constraints, &w->nconstraints, cust);
		add_constraints(&w->constraints, &w->nconstraints, own);
		qsort(w->constraints, w->nconstraints, sizeof(char *), strp_cmp);
		size_t k = 0;
		for (size_t i = 0; i < w->nconstraints; i++) {
			if (k && strcmp(w->constraints[k - 1], w->constraints[i]) == 0)
				free(w->constraints[i]);
			else
				w->constraints[k++] = w->constraints[i];
		}
		w->nconstraints = k;
	}
	/* spread: the most specific that writes it (service, customer, plan), in its order */
	const struct oswarm *sp = own->has_spread ? own : cust && cust->has_spread ? cust
						: plan && plan->has_spread ? plan : NULL;
	if (sp && sp->spread.n) {
		w->spread = xcalloc(sp->spread.n, sizeof(char *));
		for (size_t i = 0; i < sp->spread.n; i++)
			w->spread[w->nspread++] = xstrdup(sp->spread.v[i].name);
	}
	/* rollout: each sub-key of the service's, else the plan's, else Settings.defaults', else the default */
	const struct oswarm *layers[] = { own, plan, def };
	w->parallelism = SWARM_DEFAULT_PARALLELISM;
	w->delay_ns = 0;
	w->monitor_ns = SWARM_DEFAULT_MONITOR_NS;
	bool got_p = false, got_d = false, got_m = false;
	for (size_t i = 0; i < ARRAY_SIZE(layers); i++) {
		const struct oswarm *l = layers[i];
		if (!l)
			continue;
		if (!got_p && l->has_parallelism) {
			w->parallelism = (uint64_t)l->parallelism;
			got_p = true;
		}
		if (!got_d && l->has_delay) {
			w->delay_ns = l->delay;
			got_d = true;
		}
		if (!got_m && l->has_monitor) {
			w->monitor_ns = l->monitor;
			got_m = true;
		}
	}
	/* publish: the service's, else the plan's; ingress is the default (NULL) */
	const char *pub = own->publish ? own->publish : plan ? plan->publish : NULL;
	w->publish_mode = pub && strcmp(pub, "host") == 0 ? xstrdup("host") : NULL;
}
