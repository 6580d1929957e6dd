/*
 * Unit tests for report.c: value humanization, then golden files.  A plan
 * with every action kind (and a conflict, a secret change, allocation
 * effects, dependents) is built by hand, rendered in each format and
 * compared with tests/golden/report/<name>.<txt|md|json>.
 * GOLDEN_UPDATE=1 rewrites the golden files (review them with git diff).
 */
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "planner.h"
#include "report.h"
#include "spec.h"
#include "tap.h"
#include "unit.h"
#include "util.h"

#define SECRET_DIGEST "0123456789abcdef0123456789abcdef"
#define SECRET_DIGEST2 "fedcba9876543210fedcba9876543210"

/* ---- builders ------------------------------------------------------------------ */

static struct rc_unit *add_unit(struct rc_desired *d, const char *id)
{
	d->units = xrealloc(d->units, (d->nunits + 1) * sizeof(*d->units));
	struct rc_unit *u = &d->units[d->nunits++];
	memset(u, 0, sizeof(*u));
	u->id = xstrdup(id);
	char *name = xasprintf("acme-%s", id);
	for (char *p = name; *p; p++)
		if (*p == '/')
			*p = '-';
	u->container = name;
	const char *slash = strchr(id, '/');
	u->customer = slash ? xstrndup(id, (size_t)(slash - id)) : NULL;
	u->service = xstrdup(slash ? slash + 1 : id);
	u->image = xstrdup("app:1");
	u->running = true;
	return u;
}

static void add_dep(struct rc_unit *u, const char *dep)
{
	u->deps = xrealloc(u->deps, (u->ndeps + 1) * sizeof(*u->deps));
	u->deps[u->ndeps++] = (struct rc_dep){ xstrdup(dep), RC_DEP_HEALTHY, false };
}

static void add_auto_port(struct rc_unit *u, uint16_t cport, uint16_t host)
{
	u->ports = xrealloc(u->ports, (u->nports + 1) * sizeof(*u->ports));
	u->ports[u->nports++] = (struct rc_port){ cport, host, true, NULL, xstrdup("tcp") };
}

/* The desired state the plan below converges to. */
static struct rc_desired *mk_desired(void)
{
	struct rc_desired *d = xcalloc(1, sizeof(*d));
	d->settings.project = xstrdup("acme");
	d->settings.port_lo = 20000;
	d->settings.port_hi = 20999;
	d->settings.subnet_pool = xstrdup("10.210.0.0/16");
	d->settings.subnet_prefix = 26;
	struct rc_unit *u = add_unit(d, "alpha/app");
	add_dep(u, "db");
	add_auto_port(u, 8080, 20005);
	u = add_unit(d, "alpha/worker");
	add_dep(u, "alpha/app");
	add_unit(d, "beta/app");
	u = add_unit(d, "beta/worker");
	u->running = false;
	add_unit(d, "cache");
	u = add_unit(d, "db");
	u->networks = xcalloc(1, sizeof(char *));
	u->networks[u->nnetworks++] = xstrdup("acme-backend");
	u->links = xcalloc(1, sizeof(char *));
	u->links[u->nlinks++] = xstrdup("acme-alpha-via-backend");
	d->networks = xcalloc(4, sizeof(*d->networks));
	d->networks[0].name = xstrdup("acme-alpha");
	d->networks[0].id = xstrdup("alpha");
	d->networks[0].customer = xstrdup("alpha");
	/* a shared network with a subnet of its own, and one with the engine's choice */
	d->networks[1].name = xstrdup("acme-backend");
	d->networks[1].id = xstrdup("backend");
	d->networks[1].subnet = xstrdup("10.99.0.0/24");
	d->networks[2].name = xstrdup("acme-edge");
	d->networks[2].id = xstrdup("edge");
	d->nnetworks = 3;
	return d;
}

static struct plan_action *add(struct plan *p, enum plan_kind k, const char *unit, const char *name,
			       const char *cause)
{
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	struct plan_action *a = &p->v[p->n++];
	memset(a, 0, sizeof(*a));
	a->kind = k;
	a->unit = unit ? xstrdup(unit) : NULL;
	if (k == PLAN_NET_CREATE || k == PLAN_NET_REMOVE || k == PLAN_NET_RECREATE)
		a->network = xstrdup(name);
	else
		a->container_name = xstrdup(name);
	a->cause = xstrdup(cause);
	return a;
}

static void add_change(struct plan_action *a, const char *key, const char *before, const char *after)
{
	a->changes.v = xrealloc(a->changes.v, (a->changes.n + 1) * sizeof(*a->changes.v));
	a->changes.v[a->changes.n++] = (struct spec_change){ xstrdup(key), before ? xstrdup(before) : NULL,
							     after ? xstrdup(after) : NULL };
}

/* What Docker showed: the container and network that the plan removes. */
static void mk_observed(struct plan_observed *o)
{
	memset(o, 0, sizeof(*o));
	o->containers = xcalloc(1, sizeof(*o->containers));
	o->ncontainers = 1;
	struct plan_container *c = &o->containers[0];
	c->id = xstrdup("c0ffee");
	c->name = xstrdup("acme-gamma-app");
	c->unit = xstrdup("gamma/app");
	c->spec = xstrdup("image=app:1\nports.8080/tcp=auto\n");
	c->state = xstrdup("running");
	c->host_ports = xcalloc(1, sizeof(uint16_t));
	c->host_ports[0] = 20007;
	c->nhost_ports = 1;
	o->networks = xcalloc(1, sizeof(*o->networks));
	o->nnetworks = 1;
	o->networks[0].id = xstrdup("n7");
	o->networks[0].name = xstrdup("acme-gamma");
	o->networks[0].label = xstrdup("gamma");
	o->networks[0].subnet = xstrdup("10.210.0.128/26");
}

/* One action of every kind, in the planner's order. */
static void mk_plan(const struct rc_desired *d, struct plan *p)
{
	memset(p, 0, sizeof(*p));
	struct plan_action *a;
	a = add(p, PLAN_NET_CREATE, NULL, "acme-alpha", "missing");
	a->desired_net = &d->networks[0];
	a = add(p, PLAN_NET_RECREATE, NULL, "acme-backend", "internal: true -> false; subnet: 10.98.0.0/24 -> 10.99.0.0/24");
	a->desired_net = &d->networks[1];
	a->network_id = xstrdup("n8");
	add_change(a, "internal", "true", "false");
	add_change(a, "subnet", "10.98.0.0/24", "10.99.0.0/24");
	a = add(p, PLAN_NET_CREATE, NULL, "acme-edge", "missing");
	a->desired_net = &d->networks[2];
	a = add(p, PLAN_REMOVE, "gamma/app", "acme-gamma-app", "unit removed from manifests");
	a->container_id = xstrdup("c0ffee");
	a = add(p, PLAN_STOP, "beta/worker", "acme-beta-worker", "desired state: stopped");
	a->desired = rc_desired_unit(d, "beta/worker");
	a = add(p, PLAN_RECREATE, "db", "acme-db",
		"image app:1 now points to sha256:feed; env.MODE: a -> b; secrets.db_password changed");
	/* The planner's own wording of the changes ends the cause; the report
	 * shows the changes itself and keeps only the rest. */
	free(a->cause);
	a->cause = xstrdup("image app:1 now points to sha256:feed; env.MODE: a -> b; secret db_password changed; "
			   "stop_grace: 10000000000 -> 90000000000");
	a->desired = rc_desired_unit(d, "db");
	add_change(a, "env.MODE", "a", "b");
	add_change(a, "secrets.db_password", SECRET_DIGEST, SECRET_DIGEST2);
	add_change(a, "stop_grace", "10000000000", "90000000000");
	a->protected_ = true;
	a = add(p, PLAN_RECREATE, "cache", "acme-cache", "env.NEW added (x`y); ports.6379/tcp added (auto)");
	a->desired = rc_desired_unit(d, "cache");
	add_change(a, "env.NEW", NULL, "x`y");
	add_change(a, "ports.6379/tcp", NULL, "auto");
	a = add(p, PLAN_CREATE, "alpha/app", "acme-alpha-app", "missing");
	a->desired = rc_desired_unit(d, "alpha/app");
	a->wave = 1;
	a = add(p, PLAN_UPDATE, "beta/app", "acme-beta-app",
		"cpus: 250000000 -> 500000000; memory: 67108864 -> 134217728; health.interval: 500000000 -> 1500000000");
	a->desired = rc_desired_unit(d, "beta/app");
	add_change(a, "cpus", "250000000", "500000000");
	add_change(a, "memory", "67108864", "134217728");
	add_change(a, "health.interval", "500000000", "1500000000");
	a = add(p, PLAN_START, "alpha/worker", "acme-alpha-worker", "stopped");
	a->desired = rc_desired_unit(d, "alpha/worker");
	a->wave = 2;
	a = add(p, PLAN_NET_REMOVE, NULL, "acme-gamma", "network removed from manifests");
	a->network_id = xstrdup("n7");
	p->conflicts = xcalloc(1, sizeof(char *));
	p->conflicts[0] = xstrdup("unit 'alpha/app' needs host port 20005, which container 'web' (not managed by "
				  "reconciler) publishes");
	p->nconflicts = 1;
}

/* ---- golden files ---------------------------------------------------------------- */

static const char *top(void)
{
	const char *t = getenv("RC_TOP");
	return t && *t ? t : ".";
}

static void golden(const char *name, const char *got)
{
	_cleanup_free_ char *path = xasprintf("%s/tests/golden/report/%s", top(), name);
	struct rc_err err;
	if (getenv("GOLDEN_UPDATE")) {
		ok(write_file_atomic(path, got, strlen(got), 0644, &err) == 0, "wrote %s", path);
		return;
	}
	char *want = NULL;
	size_t len = 0;
	if (read_file(path, 1 << 20, &want, &len, &err) < 0) {
		ok(0, "golden %s: %s", name, err.msg);
		return;
	}
	if (!is_str(got, want, "golden %s", name))
		diag("regenerate with GOLDEN_UPDATE=1 and review with git diff");
	free(want);
}

static char *render(const struct report_input *in, enum report_format f, bool color)
{
	struct report_opts o = { .format = f, .color = color };
	struct buf b = BUF_INIT;
	report_render(in, &o, &b);
	return buf_detach(&b, NULL);
}

static void test_humanize(void)
{
	static const struct { const char *key, *value, *want; } cases[] = {
		{ "cpus", "500000000", "0.5" },
		{ "cpus", "250000000", "0.25" },
		{ "cpus", "2000000000", "2" },
		{ "cpus", "1", "0.000000001" },
		{ "memory", "67108864", "64 MiB" },
		{ "memory", "2147483648", "2 GiB" },
		{ "memory_reservation", "1536", "1536 B" },
		{ "memory", "1000", "1000 B" },
		{ "stop_grace", "10000000000", "10s" },
		{ "stop_grace", "90000000000", "1m30s" },
		{ "stop_grace", "3600000000000", "1h" },
		{ "stop_grace", "0", "0s" },
		{ "health.interval", "500000000", "500ms" },
		{ "health.interval", "1500000000", "1.5s" },
		{ "health.interval", "1250000000", "1.25s" },
		{ "health.interval", "61500000000", "61500ms" },
		{ "health.timeout", "1500", "1500ns" },
		{ "health.start_period", "2000", "2us" },
		{ "pids", "64", "64" },
		{ "env.MEMORY", "67108864", "67108864" },
		{ "memory", "lots", "lots" },
		{ "image", "app:1", "app:1" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b = BUF_INIT;
		report_humanize(cases[i].key, cases[i].value, &b);
		is_str(buf_cstr(&b), cases[i].want, "humanize %s=%s", cases[i].key, cases[i].value);
		buf_release(&b);
	}
	const char *name = NULL;
	ok(report_key_is_secret("secrets.db", &name) && str_eq(name, "db"), "secrets.db is a secret");
	ok(report_key_is_secret("secret.db", &name) && str_eq(name, "db"), "secret.db is a secret");
	ok(!report_key_is_secret("env.secrets", &name), "env.secrets is not a secret");
}

static void test_full(void)
{
	struct rc_desired *d = mk_desired();
	struct plan_observed o;
	struct plan p;
	mk_observed(&o);
	mk_plan(d, &p);
	struct report_input in = { .plan = &p, .desired = d, .observed = &o };
	struct report_summary s;
	report_summarize(&p, &s);
	ok(s.create == 1 && s.update == 1 && s.recreate == 2 && s.remove == 1 && s.start == 1 && s.stop == 1 &&
		   s.net_create == 2 && s.net_remove == 1 && s.net_recreate == 1 && s.conflicts == 1,
	   "summary counts every kind");

	static const struct { enum report_format f; const char *file; } fmts[] = {
		{ REPORT_TEXT, "plan.txt" }, { REPORT_MARKDOWN, "plan.md" }, { REPORT_JSON, "plan.json" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
		char *got = render(&in, fmts[i].f, false);
		golden(fmts[i].file, got);
		ok(!strstr(got, SECRET_DIGEST) && !strstr(got, SECRET_DIGEST2), "%s: no secret digest", fmts[i].file);
		ok(!strstr(got, "\033["), "%s: no colour unless asked", fmts[i].file);
		free(got);
	}
	char *got = render(&in, REPORT_TEXT, true);
	ok(strstr(got, "\033[32m+") != NULL && strstr(got, "\033[0m") != NULL, "text: colour when asked");
	free(got);
	got = render(&in, REPORT_JSON, true);
	ok(!strstr(got, "\033["), "json: never colour");
	free(got);

	/* The same plan as a diff between two commits. */
	in.observed = NULL;
	in.diff = true;
	in.from = "1111111111111111111111111111111111111111";
	in.to = "2222222222222222222222222222222222222222";
	for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
		_cleanup_free_ char *name = xasprintf("diff-%s", fmts[i].file);
		got = render(&in, fmts[i].f, false);
		golden(name, got);
		free(got);
	}
	plan_release(&p);
	plan_observed_release(&o);
	rc_desired_free(d);
}

static void test_empty(void)
{
	struct plan p = { 0 };
	struct report_input in = { .plan = &p };
	char *got = render(&in, REPORT_TEXT, false);
	is_str(got, "No changes.\n", "empty plan: text");
	free(got);
	got = render(&in, REPORT_MARKDOWN, false);
	golden("empty.md", got);
	free(got);
	got = render(&in, REPORT_JSON, false);
	golden("empty.json", got);
	free(got);
}

int main(void)
{
	test_humanize();
	test_full();
	test_empty();
	return done_testing();
}
