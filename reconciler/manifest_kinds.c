/*
 * manifest_kinds.c — pass 2: one parser per kind (Settings with its policy,
 * Plan, Network, Service, Template, Customer), the host's policy file
 * (mf_load_host_policy()), mf_parse_docs() which dispatches every document (Settings
 * first), and the model's release.
 */
#include "manifest_int.h"

#include <string.h>

#include "custsecret.h"
#include "speckeys.h"
#include "strmap.h"
#include "util.h"

static void roots_free(struct roots *r)
{
	if (!r)
		return;
	strmap_free(r->edges);
	free(r->is_root);
	free(r);
}

static void osvc_release(struct osvc *s)
{
	free(s->command);
	free(s->entrypoint);
	free(s->env.v);
	free(s->build_args.v);
	free(s->labels.v);
	free(s->ports);
	free(s->vols);
	free(s->secrets.v);
	free(s->networks.v);
	free(s->deps);
	free(s->cap_add.v);
	free(s->devices.v);
	free(s->net_ids);
	sk_values_release(s->fields);
	mf_swarm_release(&s->sw);
	strmap_free(s->targets);
	strmap_free(s->secret_targets);
}

void mf_model_release(struct model *m)
{
	roots_free(m->set.root_tree);
	free(m->set.allow_cap_add.v);
	free(m->host.allow_cap_add.v);
	free(m->host.allow_devices.v);
	free(m->host.bind_roots.v);
	free(m->host.require);
	free(m->set.allow_devices.v);
	free(m->set.bind_roots.v);
	free(m->set.allow_external_volumes.v);
	free(m->host.allow_external_volumes.v);
	free(m->host.subnet_pools);
	free(m->xvols);
	strmap_free(m->xvol_by);
	free(m->set.notify_urls.v);
	free(m->set.notify_events.v);
	sk_values_release(m->set.defaults);
	mf_swarm_release(&m->set.defaults_sw);
	free(m->set.require);
	strmap_free(m->plan_by);
	strmap_free(m->net_by);
	strmap_free(m->svc_by);
	strmap_free(m->tmpl_by);
	for (size_t i = 0; i < m->nplans; i++) {
		sk_values_release(m->plans[i].fields);
		mf_swarm_release(&m->plans[i].sw);
	}
	free(m->plans);
	free(m->nets);
	for (size_t i = 0; i < m->nsvcs; i++)
		osvc_release(&m->svcs[i]);
	free(m->svcs);
	for (size_t i = 0; i < m->ntmpls; i++) {
		for (size_t j = 0; j < m->tmpls[i].nsvcs; j++)
			osvc_release(&m->tmpls[i].svcs[j]);
		free(m->tmpls[i].svcs);
		strmap_free(m->tmpls[i].svc_by);
	}
	free(m->tmpls);
	for (size_t i = 0; i < m->ncusts; i++) {
		mf_swarm_release(&m->custs[i].sw);
		free(m->custs[i].env.v);
		for (size_t j = 0; j < m->custs[i].nover; j++)
			free(m->custs[i].over[j].env.v);
		free(m->custs[i].over);
		strmap_free(m->custs[i].over_by);
	}
	free(m->custs);
}

/*
 * Settings.notify: {webhooks: [URL, ...], events: [ACTION or ACTION:RESULT, ...]} — the daemon posts
 * the journal's events to each URL (notify.h).  http(s) URLs only, no whitespace or control characters,
 * at most NOTIFY_MAX_WEBHOOKS.
 */
#define NOTIFY_MAX_WEBHOOKS 8
#define NOTIFY_MAX_URL 2048
static void parse_notify(struct ctx *c, const struct ynode *y, struct osettings *s)
{
	static const char *const keys[] = { "webhooks", "events", NULL };
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'notify' must be a mapping like {webhooks: [https://hooks.example/x], events: [rollout:failed]}");
		return;
	}
	mf_check_keys(c, y, keys, "notify");
	mf_get_strings(c, y, "webhooks", &s->notify_urls);
	if (s->notify_urls.n > NOTIFY_MAX_WEBHOOKS)
		mf_diag(c, y_get(y, "webhooks"), "'webhooks' may list at most %d URLs, not %zu", NOTIFY_MAX_WEBHOOKS,
		     s->notify_urls.n);
	for (size_t i = 0; i < s->notify_urls.n; i++) {
		const char *u = s->notify_urls.v[i].name;
		if ((!str_startswith(u, "http://") && !str_startswith(u, "https://")) || strlen(u) <= 8 ||
		    strlen(u) > NOTIFY_MAX_URL || mf_has_ctl_or_space(u))
			mf_diag(c, s->notify_urls.v[i].at, "webhook '%s' must be an http:// or https:// URL (at most %d bytes, "
			     "no spaces)", mf_shown(c, u), NOTIFY_MAX_URL);
	}
	if (y_get(y, "events")) {
		s->notify_events_set = true;
		mf_get_strings(c, y, "events", &s->notify_events);
		for (size_t i = 0; i < s->notify_events.n; i++) {
			const char *e = s->notify_events.v[i].name;
			bool ok = *e && strlen(e) <= 64;
			for (const char *p = e; ok && *p; p++)
				ok = (*p >= 'a' && *p <= 'z') || *p == '-' || *p == ':' || *p == '*';
			if (!ok)
				mf_diag(c, s->notify_events.v[i].at, "event '%s' must be ACTION or ACTION:RESULT in lower case, "
				     "e.g. rollout:failed or disable (spec/http-api.md)", mf_shown(c, e));
		}
	}
}

/* Settings.ports: {range: LOW-HIGH}, the pool of port: auto. */
static void settings_ports(struct ctx *c, const struct ynode *y, struct osettings *s)
{
	static const char *const port_keys[] = { "range", NULL };
	const struct ynode *v;
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'ports' must be a mapping like {range: 5000-15000}");
	} else {
		mf_check_keys(c, y, port_keys, "ports");
		if ((v = y_get(y, "range"))) {
			s->range_at = v;
			const char *r = mf_as_str(c, v, "range");
			const char *dash = r ? strchr(r, '-') : NULL;
			char lo[8], hi[8];
			if (r && (!dash || dash - r > 6 || strlen(dash + 1) > 6)) {
				mf_diag(c, v, "'range' must be LOW-HIGH, e.g. 5000-15000");
			} else if (r) {
				memcpy(lo, r, (size_t)(dash - r));
				lo[dash - r] = '\0';
				strcpy(hi, dash + 1);
				if (!mf_parse_port(lo, &s->port_lo) || !mf_parse_port(hi, &s->port_hi) ||
				    s->port_lo > s->port_hi) {
					mf_diag(c, v, "'range' must be LOW-HIGH with ports from 1 to 65535, LOW <= HIGH: '%s'",
					     mf_shown(c, r));
					s->port_lo = s->port_hi = 0;
				}
			}
		}
	}
}

/* Settings.subnets: {pool: CIDR, size: PREFIX}, where customer networks get their subnets. */
static void settings_subnets(struct ctx *c, const struct ynode *y, struct osettings *s)
{
	static const char *const subnet_keys[] = { "pool", "size", NULL };
	const struct ynode *v;
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'subnets' must be a mapping like {pool: 10.210.0.0/16, size: 26}");
	} else {
		mf_check_keys(c, y, subnet_keys, "subnets");
		if ((v = y_get(y, "pool")) && mf_get_cidr(c, v, "pool", &s->pool) == 0) {
			s->pool_str = v->str;
			s->pool_at = v;
			mf_host_subnet_check(c, &s->pool, v->str, v);
		}
		int64_t size;
		if (mf_get_int(c, y, "size", 1, 30, &size) > 0)
			s->prefix = (int)size;
		if (s->pool_str && s->prefix && s->prefix <= s->pool.prefix)
			mf_diag(c, y_get(y, "size"), "'size' /%d must be longer than the pool's /%d", s->prefix,
			     s->pool.prefix);
	}
}

/* Settings.defaults: stop_grace_period, plan and the spec-key table's rows allowed there. */
static void settings_defaults(struct ctx *c, const struct ynode *y, struct osettings *s)
{
	static const char *const def_keys[] = { "stop_grace_period", "plan", SWARM_DEFAULTS_KEYS, NULL };
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'defaults' must be a mapping");
	} else {
		mf_check_keys(c, y, mf_keys_with_fields(c, def_keys, SK_IN_DEFAULTS), "defaults");
		mf_parse_fields(c, y, SK_IN_DEFAULTS, s->defaults);
		mf_parse_swarm(c, y, SWARM_ROLLOUT, &s->defaults_sw);
		if (mf_get_duration(c, y, "stop_grace_period", &s->stop_grace) > 0 && s->stop_grace % NS_PER_S)
			mf_diag(c, y_get(y, "stop_grace_period"), "'stop_grace_period' must be whole seconds (Docker counts it in seconds)");
		if (y_get(y, "plan")) {
			s->default_plan = mf_get_name(c, y, "plan", "defaults", false);
			s->default_plan_at = y_get(y, "plan");
		}
	}
}

/* policy.allow_cap_add: each capability known, never one of the forbidden, within the host policy. */
static void policy_caps(struct ctx *c, const struct ynode *y, struct osettings *s, const struct ohostpol *hp)
{
	struct refs caps = { 0 };
	mf_get_strings(c, y, "allow_cap_add", &caps);
	for (size_t i = 0; i < caps.n; i++) {
		const char *cap = mf_cap_parse(c, caps.v[i].name, caps.v[i].at, "allow_cap_add");
		if (!cap)
			continue;
		if (mf_cap_never(cap))
			mf_diag(c, caps.v[i].at, "capability '%s' can never be allowed", cap);
		else if (hp->present && !mf_refs_has(&hp->allow_cap_add, cap))
			mf_diag(c, caps.v[i].at, "capability '%s' is beyond the host policy (%s: allow_cap_add)", cap,
			     hp->file);
		else
			mf_refs_add(&s->allow_cap_add, cap, caps.v[i].at);
	}
	free(caps.v);
}

/* policy.require: each a requirement of the spec-key table (sk_requirement). */
static void policy_require(struct ctx *c, const struct ynode *y, struct osettings *s)
{
	struct refs req = { 0 };
	mf_get_strings(c, y, "require", &req);
	size_t nq;
	const struct sk_requirement *all = sk_requirements(&nq);
	const char **qnames = xcalloc(nq + 1, sizeof(*qnames));
	for (size_t i = 0; i < nq; i++)
		qnames[i] = all[i].name;
	for (size_t i = 0; i < req.n; i++) {
		const struct sk_requirement *q = sk_requirement(req.v[i].name);
		if (!q) {
			mf_diag(c, req.v[i].at, "unknown requirement '%s' in 'require'%s", mf_shown(c, req.v[i].name),
			     mf_mean(c, req.v[i].name, qnames, nq));
			continue;
		}
		s->require = xrealloc(s->require, (s->nrequire + 1) * sizeof(*s->require));
		s->require[s->nrequire++] = q;
	}
	free(qnames);
	free(req.v);
}

/* policy.allow_devices and policy.allow_external_volumes, within the host policy. */
static void policy_devices_volumes(struct ctx *c, const struct ynode *y, struct osettings *s,
				   const struct ohostpol *hp)
{
	mf_get_strings(c, y, "allow_devices", &s->allow_devices);
	for (size_t i = 0; i < s->allow_devices.n; i++)
		if (!mf_clean_abs_path(s->allow_devices.v[i].name) ||
		    !str_startswith(s->allow_devices.v[i].name, "/dev/"))
			mf_diag(c, s->allow_devices.v[i].at, "'allow_devices' entries must be paths under /dev/");
		else if (hp->present && !mf_refs_has(&hp->allow_devices, s->allow_devices.v[i].name))
			mf_diag(c, s->allow_devices.v[i].at, "device '%s' is beyond the host policy (%s: allow_devices)",
			     mf_shown(c, s->allow_devices.v[i].name), hp->file);
	mf_get_strings(c, y, "allow_external_volumes", &s->allow_external_volumes);
	for (size_t i = 0; i < s->allow_external_volumes.n; i++) {
		const char *xv = s->allow_external_volumes.v[i].name;
		if (!mf_valid_name(xv) || strlen(xv) < 2)
			mf_diag(c, s->allow_external_volumes.v[i].at, "'allow_external_volumes' entries must be volume names");
		else if (hp->present && !mf_refs_has(&hp->allow_external_volumes, xv))
			mf_diag(c, s->allow_external_volumes.v[i].at,
			     "external volume '%s' is beyond the host policy (%s: allow_external_volumes)",
			     mf_shown(c, xv), hp->file);
	}
}

/* policy.bind_roots: clean absolute paths, no system directory, apart from the state directory,
 * within the host policy; then the tree that answers "under a root?". */
static void policy_bind_roots(struct ctx *c, const struct ynode *y, struct osettings *s,
			      const struct ohostpol *hp)
{
	struct refs roots = { 0 };
	const char *sdir, *held;
	mf_get_strings(c, y, "bind_roots", &roots);
	for (size_t i = 0; i < roots.n; i++) {
		const char *r = roots.v[i].name;
		if (!mf_clean_abs_path(r))
			mf_diag(c, roots.v[i].at, "bind root '%s' must be a clean absolute path", mf_shown(c, r));
		else if (mf_bind_forbidden(r, &held))
			mf_diag(c, roots.v[i].at, held ? "bind root '%s' holds the system directory '%s' and can never be allowed"
						    : "bind root '%s' is a system directory and can never be allowed",
			     mf_shown(c, r), held);
		else if ((sdir = mf_root_state_overlap(c, r)))
			mf_diag(c, roots.v[i].at, "bind root '%s' %s the state directory '%s' and can never be allowed",
			     mf_shown(c, r), strcmp(sdir, r) == 0 ? "is" : mf_path_under(sdir, r) ? "holds" : "lies inside",
			     mf_shown(c, sdir));
		else if (hp->present && !mf_hostpol_holds_root(hp, r))
			mf_diag(c, roots.v[i].at, "bind root '%s' is beyond the host policy (%s: bind_roots): it must lie inside one of its roots",
			     mf_shown(c, r), hp->file);
		else
			mf_refs_add(&s->bind_roots, r, roots.v[i].at);
	}
	free(roots.v);
	if (s->bind_roots.n) {
		s->root_tree = xcalloc(1, sizeof(*s->root_tree));
		s->root_tree->edges = strmap_new();
		GROW(s->root_tree->is_root, 1, s->root_tree->cap);
		s->root_tree->is_root[s->root_tree->n++] = false;   /* node 0: "/" */
		for (size_t i = 0; i < s->bind_roots.n; i++)
			mf_roots_add(c, s->root_tree, s->bind_roots.v[i].name);
	}
}

/* Settings.policy: what this repository allows its services, capped by the host policy. */
static void settings_policy(struct ctx *c, const struct ynode *y, struct osettings *s)
{
	static const char *const pol_keys[] = { "allow_privileged", "allow_host_namespaces", "allow_cap_add",
						"allow_devices", "bind_roots", "require", "allow_external_volumes", NULL };
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'policy' must be a mapping");
		return;
	}
	mf_check_keys(c, y, pol_keys, "policy");
	mf_get_bool(c, y, "allow_privileged", &s->allow_privileged);
	mf_get_bool(c, y, "allow_host_namespaces", &s->allow_host_namespaces);
	const struct ohostpol *hp = &c->m->host;
	if (hp->present && s->allow_privileged && !hp->allow_privileged)
		mf_diag(c, y_get(y, "allow_privileged"), "'allow_privileged: true' is beyond the host policy (%s does not allow privileged containers)",
		     hp->file);
	if (hp->present && s->allow_host_namespaces && !hp->allow_host_namespaces)
		mf_diag(c, y_get(y, "allow_host_namespaces"), "'allow_host_namespaces: true' is beyond the host policy (%s does not allow them)",
		     hp->file);
	policy_caps(c, y, s, hp);
	policy_require(c, y, s);
	policy_devices_volumes(c, y, s, hp);
	policy_bind_roots(c, y, s, hp);
}

/* Settings.engine: containers (the default) or swarm (spec/swarm.md). */
static void settings_engine(struct ctx *c, const struct ynode *m, struct osettings *s)
{
	static const char *const engines[] = { "containers", "swarm" };
	const char *e = mf_get_str(c, m, "engine");
	if (!e) {
		s->engine_unknown = y_get(m, "engine") != NULL;
		return;
	}
	if (strcmp(e, "swarm") == 0)
		s->engine = RC_ENGINE_SWARM;
	else if (strcmp(e, "containers") != 0) {
		mf_diag(c, y_get(m, "engine"), "'engine' must be containers or swarm, not '%s'%s", mf_shown(c, e),
			mf_mean(c, e, engines, ARRAY_SIZE(engines)));
		s->engine_unknown = true;
		return;
	}
	s->engine_at = y_get(m, "engine");
}

static void parse_settings(struct ctx *c, const struct ynode *m)
{
	static const char *const keys[] = { "kind", "project", "ports", "subnets", "defaults", "policy",
					    "tenant_isolation", "notify", "engine", NULL };
	struct osettings *s = &c->m->set;
	if (c->m->have_settings) {
		mf_diag(c, m, "more than one Settings document (the first is at %s:%d)", s->at->file, s->at->line);
		return;
	}
	c->m->have_settings = true;
	s->at = m;
	mf_check_keys(c, m, keys, "Settings");
	bool isolation = true;
	mf_get_bool(c, m, "tenant_isolation", &isolation);
	s->shared_bridges = !isolation;
	if (s->shared_bridges && c->m->host.present && !c->m->host.allow_shared_bridges)
		mf_diag(c, y_get(m, "tenant_isolation"), "'tenant_isolation: false' is beyond the host policy (%s does not "
		     "allow_shared_bridges: customers would reach each other)", c->m->host.file);
	if (y_get(m, "project")) {
		s->project = mf_get_name(c, m, "project", "Settings", false);
		if (!s->project)
			c->broken = true;
	}
	settings_engine(c, m, s);
	const struct ynode *y;
	if ((y = y_get(m, "ports")))
		settings_ports(c, y, s);
	if ((y = y_get(m, "subnets")))
		settings_subnets(c, y, s);
	if ((y = y_get(m, "defaults")))
		settings_defaults(c, y, s);
	if ((y = y_get(m, "policy")))
		settings_policy(c, y, s);
	if ((y = y_get(m, "notify")))
		parse_notify(c, y, s);
}

/* idle: {after: DURATION} (Plan, Customer): 1 with *ret set (0s: off), 0 absent, -1 wrong (said). */
static int parse_idle(struct ctx *c, const struct ynode *m, int64_t *ret)
{
	static const char *const keys[] = { "after", NULL };
	const struct ynode *y = y_get(m, "idle");
	if (!y)
		return 0;
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'idle' must be a mapping like {after: 30m}");
		return -1;
	}
	mf_check_keys(c, y, keys, "idle");
	int64_t after = 0;
	int r = mf_get_duration(c, y, "after", &after);
	if (r == 0) {
		mf_diag(c, y, "'idle' needs 'after', e.g. {after: 30m}");
		return -1;
	}
	if (r < 0)
		return -1;
	if (after && after < NS_PER_S) {
		mf_diag(c, y_get(y, "after"), "'after' must be at least 1s (or 0s: never)");
		return -1;
	}
	*ret = after;
	return 1;
}

static void parse_plan(struct ctx *c, const struct ynode *m)
{
	static const char *const keys[] = { "kind", "name", "cpus", "memory", "memory_reservation", "pids",
					     "restart", "idle", SWARM_PLAN_KEYS, NULL };
	static const char *const rkeys[] = { "policy", "max_retries", "backoff", "max_backoff", "max_failures",
					     NULL };
	static const char *const policies[] = { "no", "always", "unless-stopped", "on-failure" };
	mf_check_keys(c, m, mf_keys_with_fields(c, keys, SK_IN_PLAN), "Plan");
	struct model *md = c->m;
	GROW(md->plans, md->nplans + 1, md->capplans);
	struct oplan *p = &md->plans[md->nplans++];
	p->at = m;
	p->name = mf_get_name(c, m, "name", "Plan", true);
	if (!p->name)
		c->broken = true;
	const struct ynode *y;
	if ((y = y_get(m, "cpus"))) {
		if (y->kind != Y_SCALAR || !mf_parse_cpus(y->str, &p->cpus) || p->cpus == 0 ||
		    p->cpus > 1024 * NS_PER_S) {
			mf_diag(c, y, "'cpus' must be a number of CPUs above 0, e.g. 0.5 or 2");
			p->cpus = 0;
		}
	}
	if (mf_get_size(c, m, "memory", &p->memory) > 0 && p->memory < 6 * (1 << 20))
		mf_diag(c, y_get(m, "memory"), "'memory' must be at least 6M (Docker's minimum)");
	mf_get_size(c, m, "memory_reservation", &p->memory_reservation);
	if (p->memory && p->memory_reservation > p->memory)
		mf_diag(c, y_get(m, "memory_reservation"), "'memory_reservation' must not be above 'memory'");
	mf_get_int(c, m, "pids", 1, INT32_MAX, &p->pids);
	parse_idle(c, m, &p->idle_after);
	mf_parse_fields(c, m, SK_IN_PLAN, p->fields);
	mf_parse_swarm(c, m, SWARM_REPLICAS | SWARM_PLACEMENT | SWARM_ROLLOUT | SWARM_PUBLISH, &p->sw);
	if ((y = y_get(m, "restart"))) {
		if (y->kind != Y_MAP) {
			mf_diag(c, y, "'restart' must be a mapping like {policy: unless-stopped, backoff: 10s}");
			return;
		}
		mf_check_keys(c, y, rkeys, "restart");
		const struct ynode *py = y_get(y, "policy");
		if (py) {
			p->restart_policy = mf_as_str(c, py, "policy");
			bool known = false;
			for (size_t i = 0; p->restart_policy && i < ARRAY_SIZE(policies); i++)
				known = known || strcmp(p->restart_policy, policies[i]) == 0;
			if (p->restart_policy && !known) {
				mf_diag(c, py, "unknown restart policy '%s': use no, always, unless-stopped or on-failure%s",
				     mf_shown(c, p->restart_policy), mf_mean(c, p->restart_policy, policies, ARRAY_SIZE(policies)));
				p->restart_policy = NULL;
			}
		}
		if (mf_get_int(c, y, "max_retries", 0, 1000000, &p->max_retries) > 0 &&
		    !str_eq(p->restart_policy, "on-failure"))
			mf_diag(c, y_get(y, "max_retries"), "'max_retries' only goes with 'policy: on-failure'");
		p->has_backoff = mf_get_duration(c, y, "backoff", &p->backoff) > 0;
		p->has_max_backoff = mf_get_duration(c, y, "max_backoff", &p->max_backoff) > 0;
		if (p->has_backoff && p->backoff < NS_PER_MS)
			mf_diag(c, y_get(y, "backoff"), "'backoff' must be at least 1ms");
		if (p->has_backoff && p->has_max_backoff && p->max_backoff < p->backoff)
			mf_diag(c, y_get(y, "max_backoff"), "'max_backoff' must not be below 'backoff'");
		mf_get_int(c, y, "max_failures", 0, 1000000, &p->max_failures);
	}
}

static void parse_network(struct ctx *c, const struct ynode *m)
{
	static const char *const keys[] = { "kind", "name", "internal", "subnet", NULL };
	mf_check_keys(c, m, keys, "Network");
	struct model *md = c->m;
	GROW(md->nets, md->nnets + 1, md->capnets);
	struct onet *n = &md->nets[md->nnets++];
	n->at = m;
	n->name = mf_get_name(c, m, "name", "Network", true);
	if (!n->name)
		c->broken = true;
	mf_get_bool(c, m, "internal", &n->internal);
	const struct ynode *y = y_get(m, "subnet");
	if (y && mf_get_cidr(c, y, "subnet", &n->cidr) == 0) {
		if (n->cidr.prefix > 29)
			mf_diag(c, y, "subnet '%s' is too small for a network (at most /29)", y->str);
		else {
			n->subnet = y->str;
			n->subnet_at = y;
			mf_host_subnet_check(c, &n->cidr, y->str, y);
		}
	}
}

void mf_host_subnet_check(struct ctx *c, const struct cidr *x, const char *shown_cidr, const struct ynode *at)
{
	const struct ohostpol *hp = &c->m->host;
	if (!hp->present || !hp->has_subnet_pools)
		return;
	for (size_t i = 0; i < hp->nsubnet_pools; i++)
		if (cidr_holds(hp->subnet_pools[i], *x))
			return;
	mf_diag(c, at, "subnet '%s' is beyond the host policy (%s: subnet_pools): it must lie inside one of its pools",
	     mf_shown(c, shown_cidr), hp->file);
}

static void parse_volume(struct ctx *c, const struct ynode *m)
{
	static const char *const keys[] = { "kind", "name", "external", "docker_name", NULL };
	mf_check_keys(c, m, keys, "Volume");
	struct model *md = c->m;
	GROW(md->xvols, md->nxvols + 1, md->capxvols);
	struct oxvol *v = &md->xvols[md->nxvols++];
	*v = (struct oxvol){ .at = m };
	v->name = mf_get_name(c, m, "name", "Volume", true);
	if (!v->name)
		c->broken = true;
	bool external = false;
	const struct ynode *ext = y_get(m, "external");
	mf_get_bool(c, m, "external", &external);
	if (!ext)
		mf_diag(c, m, "a Volume is one made outside reconciler: say 'external: true' (volumes reconciler makes "
			   "need no declaration)");
	else if (ext->kind == Y_SCALAR && !external)
		mf_diag(c, ext, "'external: false' declares nothing: volumes reconciler makes need no declaration");
	v->docker_name = v->name;
	const struct ynode *dn = y_get(m, "docker_name");
	if (dn) {
		const char *s = mf_get_str(c, m, "docker_name");
		if (s && (!mf_valid_name(s) || strlen(s) < 2))
			mf_diag(c, dn, "invalid volume name '%s' in 'docker_name'", mf_shown(c, s));
		else if (s) {
			v->docker_name = s;
			v->docker_name_at = dn;
		}
	}
}

static bool parse_state(struct ctx *c, const struct ynode *m)
{
	static const char *const states[] = { "running", "stopped" };
	const char *st = mf_get_str(c, m, "state");
	if (!st || strcmp(st, "running") == 0)
		return false;
	if (strcmp(st, "stopped") == 0)
		return true;
	mf_diag(c, y_get(m, "state"), "'state' must be running or stopped, not '%s'%s", mf_shown(c, st),
	     mf_mean(c, st, states, ARRAY_SIZE(states)));
	return false;
}

static void parse_service(struct ctx *c, const struct ynode *m)
{
	/* "port" is accepted to say where it belongs */
	static const char *const keys[] = { "kind", "name", SVC_KEYS, "protected", "state", "port", NULL };
	mf_check_keys(c, m, mf_keys_with_fields(c, keys, SK_IN_SERVICE), "Service");
	struct model *md = c->m;
	GROW(md->svcs, md->nsvcs + 1, md->capsvcs);
	struct osvc *s = &md->svcs[md->nsvcs++];
	s->name = mf_get_name(c, m, "name", "Service", true);
	s->name_at = y_get(m, "name");
	if (!s->name)
		c->broken = true;
	if (y_get(m, "port"))
		mf_diag(c, y_get(m, "port"), "'port' belongs to template services; a Service publishes with 'ports: [\"HOST:CONTAINER\"]'");
	mf_parse_svc(c, m, s);
	mf_get_bool(c, m, "protected", &s->protected_);
	s->stopped = parse_state(c, m);
}

/*
 * `secrets:` of a Template or Customer: a mapping of secret name to null/{}
 * (a file the operator puts at secrets/<customer>/<name>) or
 * {generate: {bytes: N, encoding: hex|base64}} (reconciler makes it).
 */
static void parse_secret_decls(struct ctx *c, const struct ynode *m, struct osecdecls *out)
{
	static const char *const dkeys[] = { "generate", NULL };
	static const char *const gkeys[] = { "bytes", "encoding", NULL };
	const struct ynode *y = y_get(m, "secrets");
	if (!y)
		return;
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'secrets' must be a mapping of secret name to {} or {generate: {bytes: N, encoding: hex|base64}}");
		return;
	}
	out->v = (struct osecdecl *)(void *)mf_keep(c, xcalloc(y_npairs(y) + 1, sizeof(*out->v)));
	for (size_t i = 0; i < y_npairs(y); i++) {
		const struct ynode *k = y_key(y, i), *v = y_val(y, i);
		if (!mf_valid_name(k->str)) {
			mf_diag(c, k, "invalid secret name '%s': use at most %d letters, digits, '_', '.', '-', starting with a letter or digit",
			     mf_shown(c, k->str), NAME_MAX_LEN);
			continue;
		}
		struct osecdecl *d = &out->v[out->n++];
		d->name = k->str;
		d->at = k;
		if (y_is_null(v))
			continue;
		if (v->kind != Y_MAP) {
			mf_diag(c, v, "secret '%s' must be {} or {generate: {bytes: N, encoding: hex|base64}}", k->str);
			continue;
		}
		mf_check_keys(c, v, dkeys, "secret declaration");
		const struct ynode *g = y_get(v, "generate");
		if (!g)
			continue;
		if (g->kind != Y_MAP) {
			mf_diag(c, g, "'generate' must be a mapping {bytes: N, encoding: hex|base64}");
			continue;
		}
		mf_check_keys(c, g, gkeys, "generate");
		int64_t bytes = 32;
		mf_get_int(c, g, "bytes", CUSTSECRET_MIN_BYTES, CUSTSECRET_MAX_BYTES, &bytes);
		d->gen_bytes = (int)bytes;
		const char *enc = mf_get_str(c, g, "encoding");
		if (enc && strcmp(enc, "base64") == 0)
			d->gen_base64 = true;
		else if (enc && strcmp(enc, "hex") != 0)
			mf_diag(c, y_get(g, "encoding"), "'encoding' must be 'hex' or 'base64', not '%s'", mf_shown(c, enc));
	}
}

const struct osecdecl *mf_find_secdecl(const struct osecdecls *ds, const char *name)
{
	for (size_t i = 0; ds && i < ds->n; i++)
		if (strcmp(ds->v[i].name, name) == 0)
			return &ds->v[i];
	return NULL;
}

static void parse_template(struct ctx *c, const struct ynode *m)
{
	static const char *const keys[] = { "kind", "name", "plan", "secrets", "services", NULL };
	static const char *const skeys[] = { SVC_KEYS, "port", NULL };
	mf_check_keys(c, m, keys, "Template");
	struct model *md = c->m;
	GROW(md->tmpls, md->ntmpls + 1, md->captmpls);
	struct otmpl *t = &md->tmpls[md->ntmpls++];
	t->at = m;
	t->name = mf_get_name(c, m, "name", "Template", true);
	if (!t->name)
		c->broken = true;
	if (y_get(m, "plan")) {
		t->plan = mf_get_name(c, m, "plan", "Template", false);
		t->plan_at = y_get(m, "plan");
	}
	parse_secret_decls(c, m, &t->secrets);
	const struct ynode *y = y_get(m, "services");
	if (!y) {
		mf_diag(c, m, "Template has no 'services'");
		return;
	}
	if (y->kind != Y_MAP || y_npairs(y) == 0) {
		mf_diag(c, y, "'services' must be a mapping of service name to service");
		return;
	}
	t->svcs = xcalloc(y_npairs(y), sizeof(*t->svcs));
	t->svc_by = strmap_new();
	const char *const *tkeys = mf_keys_with_fields(c, skeys, SK_IN_SERVICE);
	const struct osvc *with_port = NULL;
	for (size_t i = 0; i < y_npairs(y); i++) {
		const struct ynode *k = y_key(y, i), *v = y_val(y, i);
		if (!mf_valid_name(k->str)) {
			mf_diag(c, k, "invalid service name '%s': use at most %d letters, digits, '_', '.', '-', starting with a letter or digit",
			     mf_shown(c, k->str), NAME_MAX_LEN);
			c->broken = true;
			continue;
		}
		if (v->kind != Y_MAP) {
			mf_diag(c, v, "service '%s' must be a mapping", k->str);
			c->broken = true;
			continue;
		}
		struct osvc *s = &t->svcs[t->nsvcs++];
		s->name = k->str;
		s->name_at = k;
		s->tmpl = t->name;
		strmap_add(t->svc_by, s->name, s);
		mf_check_keys(c, v, tkeys, "template service");
		mf_parse_svc(c, v, s);
		if (s->has_port) {
			if (with_port)
				mf_diag(c, s->port_at, "only one service of a template may have 'port' ('%s' has it already); use 'ports' for more",
				     with_port->name);
			else
				with_port = s;
		}
	}
	t->port_svc = with_port;
}

static void parse_customer(struct ctx *c, const struct ynode *m)
{
	static const char *const keys[] = { "kind", "id", "template", "plan", "port", "env", "state",
					    "protected", "secrets", "services", "idle", SWARM_CUST_KEYS, NULL };
	static const char *const okeys[] = { "image", "env", NULL };
	mf_check_keys(c, m, keys, "Customer");
	struct model *md = c->m;
	GROW(md->custs, md->ncusts + 1, md->capcusts);
	struct ocust *u = &md->custs[md->ncusts++];
	u->at = m;
	u->id = mf_get_name(c, m, "id", "Customer", true);
	if (!u->id)
		c->broken = true;
	u->tmpl = mf_get_name(c, m, "template", "Customer", true);
	u->tmpl_at = y_get(m, "template");
	if (y_get(m, "plan")) {
		u->plan = mf_get_name(c, m, "plan", "Customer", false);
		u->plan_at = y_get(m, "plan");
	}
	const struct ynode *y;
	if ((y = y_get(m, "port"))) {
		u->port_at = y;
		if (y->kind == Y_SCALAR && strcmp(y->str, "auto") == 0) {
			u->has_port = u->port_auto = true;
		} else if (y->kind != Y_SCALAR || !mf_parse_port(y->str, &u->port)) {
			mf_diag(c, y, "'port' must be a host port from 1 to 65535 or 'auto'");
		} else {
			u->has_port = true;
		}
	}
	mf_get_kvs(c, m, "env", false, &u->env);
	parse_secret_decls(c, m, &u->secrets);
	u->stopped = parse_state(c, m);
	u->has_idle = parse_idle(c, m, &u->idle_after) > 0;
	mf_parse_swarm(c, m, SWARM_PLACEMENT, &u->sw);
	mf_get_bool(c, m, "protected", &u->protected_);
	if ((y = y_get(m, "services"))) {
		if (y->kind != Y_MAP) {
			mf_diag(c, y, "'services' must be a mapping of service name to overrides ('env', 'image')");
			return;
		}
		u->over = xcalloc(y_npairs(y) + 1, sizeof(*u->over));
		u->over_by = strmap_new();
		for (size_t i = 0; i < y_npairs(y); i++) {
			const struct ynode *k = y_key(y, i), *v = y_val(y, i);
			if (v->kind != Y_MAP) {
				mf_diag(c, v, "overrides for '%s' must be a mapping ('env', 'image')", mf_shown(c, k->str));
				continue;
			}
			mf_check_keys(c, v, okeys, "customer service overrides");
			struct over *o = &u->over[u->nover++];
			o->name = k->str;
			o->at = k;
			strmap_add(u->over_by, o->name, o);
			o->image = mf_get_str(c, v, "image");
			const char *why;
			if (o->image && !mf_image_ok(o->image, &why)) {
				mf_diag(c, y_get(v, "image"), "invalid image '%s': %s", mf_shown(c, o->image), why);
				o->image = NULL;
			}
			mf_get_kvs(c, v, "env", false, &o->env);
		}
	}
}

static const char *const kinds[] = { "Settings", "Plan", "Network", "Service", "Template", "Customer", "Volume" };

/* Documents: Settings first (policy applies to everything else), then the rest. */
/*
 * The host's policy file, read before the repository's documents: one
 * mapping (optionally `kind: HostPolicy`) with the Settings policy keys.  Its
 * documents stay in c->docs[0..c->host_docs) (freed with the others) and are
 * skipped by mf_parse_docs().
 */
void mf_load_host_policy(struct ctx *c, const struct source_file *f)
{
	static const char *const keys[] = { "kind", "allow_privileged", "allow_host_namespaces", "allow_cap_add",
					    "allow_devices", "bind_roots", "require", "allow_shared_bridges",
					    "allow_external_volumes", "subnet_pools", NULL };
	struct ohostpol *hp = &c->m->host;
	mf_parse_file(c, f);
	c->host_docs = c->ndocs;
	hp->present = true;
	hp->file = str_needs_escape(f->path) ? mf_keep(c, str_shown(f->path)) : f->path;
	const char *held;
	for (size_t i = 0; i < c->host_docs; i++) {
		const struct ynode *r = c->docs[i].root;
		if (y_is_null(r))
			continue;
		if (r->kind != Y_MAP) {
			mf_diag(c, r, "the host policy must be a mapping of policy keys");
			continue;
		}
		mf_check_keys(c, r, keys, "host policy");
		const char *kind = mf_get_str(c, r, "kind");
		if (kind && strcmp(kind, "HostPolicy") != 0)
			mf_diag(c, y_get(r, "kind"), "the host policy's kind is 'HostPolicy', not '%s'", mf_shown(c, kind));
		mf_get_bool(c, r, "allow_privileged", &hp->allow_privileged);
		mf_get_bool(c, r, "allow_host_namespaces", &hp->allow_host_namespaces);
		mf_get_bool(c, r, "allow_shared_bridges", &hp->allow_shared_bridges);
		struct refs caps = { 0 };
		mf_get_strings(c, r, "allow_cap_add", &caps);
		for (size_t k = 0; k < caps.n; k++) {
			const char *cap = mf_cap_parse(c, caps.v[k].name, caps.v[k].at, "allow_cap_add");
			if (cap && mf_cap_never(cap))
				mf_diag(c, caps.v[k].at, "capability '%s' can never be allowed", cap);
			else if (cap)
				mf_refs_add(&hp->allow_cap_add, cap, caps.v[k].at);
		}
		free(caps.v);
		mf_get_strings(c, r, "allow_devices", &hp->allow_devices);
		mf_get_strings(c, r, "allow_external_volumes", &hp->allow_external_volumes);
		struct refs pools = { 0 };
		if (y_get(r, "subnet_pools"))
			hp->has_subnet_pools = true;
		mf_get_strings(c, r, "subnet_pools", &pools);
		for (size_t k = 0; k < pools.n; k++) {
			struct cidr cd;
			if (mf_get_cidr(c, pools.v[k].at, "subnet_pools", &cd) == 0) {
				hp->subnet_pools = xrealloc(hp->subnet_pools, (hp->nsubnet_pools + 1) * sizeof(*hp->subnet_pools));
				hp->subnet_pools[hp->nsubnet_pools++] = cd;
			}
		}
		free(pools.v);
		struct refs req = { 0 };
		mf_get_strings(c, r, "require", &req);
		for (size_t k = 0; k < req.n; k++) {
			const struct sk_requirement *q = sk_requirement(req.v[k].name);
			if (!q) {
				mf_diag(c, req.v[k].at, "unknown requirement '%s' in 'require'", mf_shown(c, req.v[k].name));
				continue;
			}
			hp->require = xrealloc(hp->require, (hp->nrequire + 1) * sizeof(*hp->require));
			hp->require[hp->nrequire++] = q;
		}
		free(req.v);
		mf_get_strings(c, r, "bind_roots", &hp->bind_roots);
		for (size_t k = 0; k < hp->bind_roots.n; k++) {
			const char *root = hp->bind_roots.v[k].name;
			if (!mf_clean_abs_path(root))
				mf_diag(c, hp->bind_roots.v[k].at, "bind root '%s' must be a clean absolute path", mf_shown(c, root));
			else if (mf_bind_forbidden(root, &held))
				mf_diag(c, hp->bind_roots.v[k].at, "bind root '%s' is or holds a system directory and can never be allowed",
				     mf_shown(c, root));
		}
	}
}

void mf_parse_docs(struct ctx *c)
{
	for (int round = 0; round < 2; round++) {
		for (size_t i = c->host_docs; i < c->ndocs; i++) {
			const struct ynode *r = c->docs[i].root;
			if (y_is_null(r))
				continue;
			if (r->kind != Y_MAP) {
				if (round == 0)
					mf_diag(c, r, "a document must be a mapping with a 'kind'");
				continue;
			}
			const struct ynode *k = y_get(r, "kind");
			if (!k) {
				if (round == 0) {
					mf_diag(c, r, "document has no 'kind' (one of Settings, Plan, Network, Service, Template, Customer, Volume)");
					c->broken = true;
				}
				continue;
			}
			const char *kind = mf_as_str(c, round == 0 ? k : NULL, "kind");
			if (round == 0 && !kind) {
				c->broken = true;
				continue;
			}
			kind = k->kind == Y_SCALAR ? k->str : NULL;
			if (!kind)
				continue;
			size_t w;
			for (w = 0; w < ARRAY_SIZE(kinds); w++)
				if (strcmp(kind, kinds[w]) == 0)
					break;
			if (w == ARRAY_SIZE(kinds)) {
				if (round == 0) {
					mf_diag(c, k, "unknown kind '%s'%s", mf_shown(c, kind), mf_mean(c, kind, kinds, ARRAY_SIZE(kinds)));
					c->broken = true;
				}
				continue;
			}
			if ((w == 0) != (round == 0))
				continue;
			switch (w) {
			case 0: parse_settings(c, r); break;
			case 1: parse_plan(c, r); break;
			case 2: parse_network(c, r); break;
			case 3: parse_service(c, r); break;
			case 4: parse_template(c, r); break;
			case 5: parse_customer(c, r); break;
			case 6: parse_volume(c, r); break;
			}
		}
	}
}
