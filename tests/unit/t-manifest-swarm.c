/*
 * Unit tests of the keys of engine: swarm in the loader (manifest_swarm.c)
 * and of their canonical lines (spec.c): units resolved from recorded
 * manifests, the lines and which of them are in place, every diagnostic with
 * its position, and containers mode's hashes exactly what they were before.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "manifest.h"
#include "report.h"
#include "spec.h"
#include "tap.h"
#include "util.h"

static char secrets_dir[64];

/* tests/golden/manifests/good/example.yaml as it was when engine: swarm came (b389dff) */
static const char example_yaml[] =
	"# The example from the format's design (spec/manifest.md), plus the\n"
	"# `infra` plan the db service refers to.\n"
	"kind: Settings            # at most one; everything has a default\n"
	"project: acme             # names and labels of every object: acme-<customer>-<service>\n"
	"ports: {range: 5000-15000}            # pool for `port: auto`\n"
	"subnets: {pool: 10.210.0.0/16, size: 26}   # one subnet per customer network\n"
	"defaults: {stop_grace_period: 10s}\n"
	"policy: {allow_privileged: false, bind_roots: [/srv/acme]}\n"
	"---\n"
	"kind: Plan\n"
	"name: starter\n"
	"cpus: 0.5\n"
	"memory: 512M\n"
	"memory_reservation: 256M\n"
	"pids: 256\n"
	"restart: {backoff: 5s, max_backoff: 300s, max_failures: 5}\n"
	"---\n"
	"kind: Plan\n"
	"name: infra\n"
	"cpus: 2\n"
	"memory: 2G\n"
	"---\n"
	"kind: Network             # shared networks (per-customer ones are implicit)\n"
	"name: backend\n"
	"internal: true\n"
	"---\n"
	"kind: Service             # a shared, single container (database, cache, front proxy)\n"
	"name: db\n"
	"image: postgres:15\n"
	"plan: infra\n"
	"env: {POSTGRES_DB: app}\n"
	"secrets: [db_password]    # file under the state dir's secrets/, mounted read-only at /run/secrets/db_password\n"
	"volumes: [\"db-data:/var/lib/postgresql/data\"]\n"
	"networks: [backend]\n"
	"health: {cmd: \"pg_isready\", interval: 10s, timeout: 5s, retries: 5, start_period: 10s}\n"
	"stop_grace_period: 120s\n"
	"---\n"
	"kind: Template            # what every customer of this template gets\n"
	"name: mission-control\n"
	"services:\n"
	"  app:\n"
	"    image: mission-control:1.4\n"
	"    port: 3000            # container port published on the customer's host port\n"
	"    networks: [backend]   # plus the customer's own network, always\n"
	"    depends_on: {db: healthy}\n"
	"    health: {http: /health, interval: 30s, timeout: 5s, retries: 3, start_period: 10s}\n"
	"  worker:\n"
	"    image: mission-control-worker:1.4\n"
	"    depends_on: {app: healthy}\n"
	"---\n"
	"kind: Customer\n"
	"id: abc123\n"
	"template: mission-control\n"
	"plan: starter\n"
	"port: 5001                # or auto\n"
	"env: {FEATURE_X: \"on\"}\n"
	"state: running            # or stopped\n";

/* tests/golden/manifests/good/hardening.yaml, the same */
static const char hardening_yaml[] =
	"# Hardening and fairness keys: Settings.defaults for every service, a service's own\n"
	"# value replacing the default, Plan cpu_shares, policy.require met through defaults.\n"
	"kind: Settings\n"
	"project: hard\n"
	"policy:\n"
	"  require: [no_new_privileges, log_cap, cap_drop_all]\n"
	"defaults:\n"
	"  init: true\n"
	"  read_only: true\n"
	"  cap_drop: [ALL]\n"
	"  security_opt: [\"no-new-privileges:true\"]\n"
	"  shm_size: 16M\n"
	"  logging: {driver: local, options: {max-size: 20M, max-file: 5}}\n"
	"  ulimits: {nofile: 4096}\n"
	"  cpu_shares: 256\n"
	"---\n"
	"kind: Plan\n"
	"name: heavy\n"
	"cpu_shares: 2048\n"
	"---\n"
	"kind: Service\n"
	"name: db\n"
	"image: postgres:15\n"
	"plan: heavy\n"
	"read_only: false\n"
	"init: false\n"
	"cap_drop: [all, net_raw]\n"
	"cap_add: []\n"
	"ulimits: {nofile: {soft: 1024, hard: 65536}, memlock: {soft: 0, hard: 0}}\n"
	"logging: {driver: json-file, options: {max-size: 100M}}\n"
	"---\n"
	"kind: Template\n"
	"name: web\n"
	"services:\n"
	"  app:\n"
	"    image: app:1\n"
	"    tmpfs: [/tmp]\n"
	"    shm_size: 64M\n"
	"---\n"
	"kind: Customer\n"
	"id: c1\n"
	"template: web\n";

/* Load (path, text) pairs (NULL ends).  *ret_diags: the diagnostics, formatted (NULL when none). */
static struct rc_desired *load_v(const char *const *pairs, char **ret_diags)
{
	struct source_files f = { 0 };
	size_t n = 0;
	while (pairs[2 * n])
		n++;
	f.files = xcalloc(n + 1, sizeof(*f.files));
	for (size_t i = 0; i < n; i++) {
		f.files[i].path = xstrdup(pairs[2 * i]);
		f.files[i].data = xstrdup(pairs[2 * i + 1]);
		f.files[i].len = strlen(pairs[2 * i + 1]);
	}
	f.nfiles = n;
	struct manifest_opts o = { .secrets_dir = secrets_dir };
	struct rc_desired *d = NULL;
	struct rc_diags diags = { 0 };
	*ret_diags = NULL;
	if (manifest_load(&f, &o, &d, &diags) < 0) {
		struct buf b = BUF_INIT;
		rc_diags_format(&diags, &b);
		*ret_diags = buf_detach(&b, NULL);
		d = NULL;
	}
	rc_diags_release(&diags);
	for (size_t i = 0; i < n; i++) {
		free(f.files[i].path);
		free(f.files[i].data);
	}
	free(f.files);
	return d;
}

static struct rc_desired *load1(const char *text)
{
	const char *pairs[] = { "m.yaml", text, NULL };
	char *diags;
	struct rc_desired *d = load_v(pairs, &diags);
	if (diags)
		diag("load failed:\n%s", diags);
	free(diags);
	return d;
}

static char *canon(const struct rc_unit *u, bool wr)
{
	struct buf b = BUF_INIT;
	spec_canonical(u, wr, &b);
	return buf_detach(&b, NULL);
}

/* ---- containers mode: the hashes of before ---------------------------------------- */

static const struct {
	const char *text;
	const char *unit, *hash, *base_hash;
} before[] = {
	{ example_yaml, "abc123/app", "de0b0e48d99e388a6049cff75bf752c2", "22debeaa4b9418578dc7ce5f1b4fa4ff" },
	{ example_yaml, "abc123/worker", "646af275211ba9b0d0b9f8af857fa0df", "d9b3926373773cbf973df5aac1bec9c6" },
	{ example_yaml, "db", "96e29cda3b72a44f53c303855efb186a", "8f464a2b5249892c6cbf76ac7581f194" },
	{ hardening_yaml, "c1/app", "59074a562c8b084efe18c11daad2ef0e", "0c31fca0a2c94615f21b1b116a344c34" },
	{ hardening_yaml, "db", "b6538a673acb14318d5aca371357ac8c", "da52908f596e711c1562c2b64dec830b" },
};

static void test_containers_unchanged(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(before); i++) {
		struct rc_desired *d = load1(before[i].text);
		struct rc_unit *u = d ? rc_desired_unit(d, before[i].unit) : NULL;
		if (!ok(u != NULL, "containers: %s loads", before[i].unit)) {
			rc_desired_free(d);
			continue;
		}
		is_int(d->settings.engine, RC_ENGINE_CONTAINERS, "containers is the default engine");
		ok(!u->swarm.enabled && u->swarm.replicas == 0 && u->swarm.monitor_ns == 0, "%s: no Swarm settings", u->id);
		is_str(u->hash, before[i].hash, "%s: hash as before engine: swarm", u->id);
		is_str(u->base_hash, before[i].base_hash, "%s: base hash as before", u->id);
		rc_desired_free(d);
	}
	/* engine: containers written is the default, byte for byte */
	const char *src = strstr(example_yaml, "kind: Settings");
	char *text = xasprintf("%.*skind: Settings\nengine: containers\n%s", (int)(src - example_yaml), example_yaml,
			       src + strlen("kind: Settings"));
	struct rc_desired *d = load1(text);
	free(text);
	struct rc_unit *u = d ? rc_desired_unit(d, "abc123/app") : NULL;
	ok(u && strcmp(u->hash, before[0].hash) == 0, "'engine: containers' written: the same hash");
	rc_desired_free(d);
}

/* ---- swarm: what units get ---------------------------------------------------------- */

static const char swarm_yaml[] =
	"kind: Service\n"
	"name: web\n"
	"image: nginx:1\n"
	"replicas: 3\n"
	"placement:\n"
	"  constraints: [\"node.role == manager\", node.labels.tier==gold, node.labels.tier==gold]\n"
	"  spread: [node.labels.zone, engine.labels.rack]\n"
	"rollout: {parallelism: 2, delay: 10s}\n"
	"publish: host\n"
	"ports: [\"8080:80\"]\n"
	"user: \"1000\"\n"
	"cap_drop: [ALL]\n"
	"---\n"
	"kind: Service\n"
	"name: plain\n"
	"image: app:1\n"
	"publish: ingress\n"
	"---\n"
	"kind: Plan\n"
	"name: gold\n"
	"replicas: 2\n"
	"placement: {constraints: [node.labels.tier==gold], spread: [node.labels.dc]}\n"
	"rollout: {monitor: 30s}\n"
	"publish: host\n"
	"---\n"
	"kind: Template\n"
	"name: t\n"
	"plan: gold\n"
	"services:\n"
	"  app: {image: app:1, placement: {constraints: [\"node.platform.os!=windows\"]}}\n"
	"  one: {image: app:1, replicas: 1, placement: {spread: []}, rollout: {parallelism: 0}, publish: ingress}\n"
	"---\n"
	"kind: Customer\n"
	"id: c1\n"
	"template: t\n"
	"placement: {constraints: [node.labels.customer==c1, node.labels.tier==gold], spread: [engine.labels.rack]}\n"
	"---\n"
	"kind: Customer\n"
	"id: c2\n"
	"template: t\n"
	"---\n"
	"# Settings last: the order of the documents does not matter\n"
	"kind: Settings\n"
	"engine: swarm\n"
	"defaults: {rollout: {delay: 1s, parallelism: 4}}\n";

static bool strv_is(char **v, size_t n, const char *joined)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addc(&b, ' ');
		buf_adds(&b, v[i]);
	}
	bool same = strcmp(buf_cstr(&b), joined) == 0;
	if (!same)
		diag("got '%s', expected '%s'", buf_cstr(&b), joined);
	buf_release(&b);
	return same;
}

static void test_swarm_units(void)
{
	struct rc_desired *d = load1(swarm_yaml);
	if (!ok(d != NULL, "swarm: the manifests load"))
		return;
	is_int(d->settings.engine, RC_ENGINE_SWARM, "Settings.engine: swarm");
	struct rc_unit *web = rc_desired_unit(d, "web"), *plain = rc_desired_unit(d, "plain");
	struct rc_unit *app1 = rc_desired_unit(d, "c1/app"), *one1 = rc_desired_unit(d, "c1/one");
	struct rc_unit *app2 = rc_desired_unit(d, "c2/app");
	if (!ok(web && plain && app1 && one1 && app2, "the units")) {
		rc_desired_free(d);
		return;
	}
	const struct rc_swarm *w = &web->swarm;
	ok(w->enabled, "web is a Swarm service");
	is_int(w->replicas, 3, "web: its own replicas");
	ok(strv_is(w->constraints, w->nconstraints, "node.labels.tier==gold node.role==manager"),
	   "web: constraints sorted, once each, blanks around the operator dropped");
	ok(strv_is(w->spread, w->nspread, "node.labels.zone engine.labels.rack"), "web: spread as written, in order");
	is_int(w->parallelism, 2, "web: parallelism its own");
	is_int(w->delay_ns, 10 * NS_PER_S, "web: delay its own");
	is_int(w->monitor_ns, 5 * NS_PER_S, "web: monitor the default 5s");
	is_str(w->publish_mode, "host", "web: publish host");

	w = &plain->swarm;
	is_int(w->replicas, 1, "plain: 1 replica by default");
	ok(w->nconstraints == 0 && w->nspread == 0, "plain: no placement");
	is_int(w->parallelism, 4, "plain: parallelism from Settings.defaults");
	is_int(w->delay_ns, NS_PER_S, "plain: delay from Settings.defaults");
	is_int(w->monitor_ns, 5 * NS_PER_S, "plain: monitor 5s");
	ok(w->publish_mode == NULL, "plain: publish: ingress is the default (NULL)");

	w = &app1->swarm;
	is_int(w->replicas, 2, "c1/app: replicas from the plan");
	ok(strv_is(w->constraints, w->nconstraints,
		   "node.labels.customer==c1 node.labels.tier==gold node.platform.os!=windows"),
	   "c1/app: constraints of plan, customer and service, merged");
	ok(strv_is(w->spread, w->nspread, "engine.labels.rack"), "c1/app: spread of the customer over the plan's");
	is_int(w->parallelism, 4, "c1/app: parallelism from the defaults");
	is_int(w->delay_ns, NS_PER_S, "c1/app: delay from the defaults");
	is_int(w->monitor_ns, 30 * NS_PER_S, "c1/app: monitor from the plan");
	is_str(w->publish_mode, "host", "c1/app: publish from the plan");

	w = &one1->swarm;
	is_int(w->replicas, 1, "c1/one: its own replicas win over the plan's");
	ok(w->nspread == 0, "c1/one: its own 'spread: []' wins: none");
	is_int(w->parallelism, 0, "c1/one: parallelism 0 (all at once) is its own");
	ok(w->publish_mode == NULL, "c1/one: its own 'publish: ingress' wins over the plan's host");

	w = &app2->swarm;
	ok(strv_is(w->constraints, w->nconstraints, "node.labels.tier==gold node.platform.os!=windows"),
	   "c2/app: no customer constraints");
	ok(strv_is(w->spread, w->nspread, "node.labels.dc"), "c2/app: the plan's spread");

	/* the canonical lines */
	char *t = canon(web, true);
	is_str(t,
	       "cap_drop.ALL=true\n"
	       "image=nginx:1\n"
	       "placement.constraint.node.labels.tier\\=\\=gold=true\n"
	       "placement.constraint.node.role\\=\\=manager=true\n"
	       "placement.spread=node.labels.zone,engine.labels.rack\n"
	       "ports.80/tcp=8080\n"
	       "publish=host\n"
	       "replicas=3\n"
	       "restart.policy=unless-stopped\n"
	       "rollout.delay=10000000000\n"
	       "rollout.monitor=5000000000\n"
	       "rollout.parallelism=2\n"
	       "stop_grace=10000000000\n"
	       "user=1000\n",
	       "web: its canonical text");
	free(t);
	t = canon(web, false);
	ok(!strstr(t, "replicas=") && !strstr(t, "rollout.") && strstr(t, "placement.spread=") && strstr(t, "publish=host"),
	   "the base text leaves out replicas and rollout.*, keeps placement and publish");
	free(t);
	t = canon(plain, true);
	ok(!strstr(t, "publish") && strstr(t, "\nreplicas=1\n") && strstr(t, "rollout.parallelism=4\n"),
	   "plain: no publish line for ingress; the defaults written out");
	free(t);
	rc_desired_free(d);
}

/* One change to swarm_yaml: which hashes of web move. */
static void hashes_after(const char *from, const char *to, bool *ret_hash, bool *ret_base)
{
	struct rc_desired *a = load1(swarm_yaml);
	const char *p = strstr(swarm_yaml, from);
	if (!p)
		die("'%s' not in the fixture", from);
	char *text = xasprintf("%.*s%s%s", (int)(p - swarm_yaml), swarm_yaml, to, p + strlen(from));
	struct rc_desired *b = load1(text);
	free(text);
	struct rc_unit *ua = a ? rc_desired_unit(a, "web") : NULL, *ub = b ? rc_desired_unit(b, "web") : NULL;
	*ret_hash = ua && ub && strcmp(ua->hash, ub->hash) != 0;
	*ret_base = ua && ub && strcmp(ua->base_hash, ub->base_hash) != 0;
	if (!ua || !ub)
		*ret_hash = *ret_base = true;   /* fails the in-place checks below */
	rc_desired_free(a);
	rc_desired_free(b);
}

static void test_swarm_in_place(void)
{
	static const struct {
		const char *from, *to;
		bool base;   /* the base hash moves too (not in place) */
	} cases[] = {
		{ "replicas: 3\n", "replicas: 5\n", false },
		{ "rollout: {parallelism: 2, delay: 10s}", "rollout: {parallelism: 3, delay: 10s}", false },
		{ "rollout: {parallelism: 2, delay: 10s}", "rollout: {parallelism: 2, delay: 20s}", false },
		{ "rollout: {parallelism: 2, delay: 10s}", "rollout: {parallelism: 2, delay: 10s, monitor: 1m}", false },
		{ "node.labels.tier==gold, node.labels.tier==gold]", "node.labels.tier==silver]", true },
		{ "spread: [node.labels.zone, engine.labels.rack]", "spread: [engine.labels.rack, node.labels.zone]", true },
		{ "publish: host\nports", "publish: ingress\nports", true },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		bool h, b;
		hashes_after(cases[i].from, cases[i].to, &h, &b);
		ok(h && b == cases[i].base, "'%.*s' -> '%.*s': hash moves, base hash %s", (int)strcspn(cases[i].from, "\n"),
		   cases[i].from, (int)strcspn(cases[i].to, "\n"), cases[i].to,
		   cases[i].base ? "too (a replacement)" : "not (in place)");
	}
	bool h, b;
	hashes_after("\"node.role == manager\"", "node.role==manager", &h, &b);
	ok(!h && !b, "blanks around a constraint's operator change nothing");
	hashes_after("replicas: 3\n", "", &h, &b);
	bool h1, b1;
	hashes_after("replicas: 3\n", "replicas: 1\n", &h1, &b1);
	ok(h && h1 && !b && !b1, "no replicas and replicas: 1 both move only the hash");

	ok(spec_key_is_resource("replicas") && spec_key_is_resource("rollout.delay") &&
	   spec_key_is_resource("rollout.parallelism") && !spec_key_is_resource("publish") &&
	   !spec_key_is_resource("placement.spread") && !spec_key_is_resource("placement.constraint.node.id\\=\\=x"),
	   "in-place keys: replicas and rollout.*, not placement or publish");
	struct spec_changes ch;
	spec_diff("image=a\nreplicas=1\nrollout.delay=0\n", "image=a\nreplicas=4\nrollout.delay=5000000000\n", &ch);
	ok(ch.n == 2 && spec_changes_resource_only(&ch), "a replicas and rollout change is resource-only (~ update)");
	spec_changes_release(&ch);
	struct buf o = BUF_INIT;
	report_humanize("rollout.delay", "90000000000", &o);
	is_str(buf_cstr(&o), "1m30s", "plan/diff show rollout.delay as a duration");
	buf_reset(&o);
	report_humanize("rollout.monitor", "5000000000", &o);
	is_str(buf_cstr(&o), "5s", "and rollout.monitor");
	buf_reset(&o);
	report_humanize("replicas", "3", &o);
	is_str(buf_cstr(&o), "3", "replicas as the number");
	buf_release(&o);
}

/* ---- diagnostics, with their positions ---------------------------------------------- */

static void expect_diags(const char *const *pairs, const char *want, const char *name)
{
	char *got = NULL;
	struct rc_desired *d = load_v(pairs, &got);
	ok(d == NULL, "%s: refused", name);
	is_str(got, want, "%s: the diagnostics", name);
	rc_desired_free(d);
	free(got);
}

static const char svc_swarm_keys[] =
	"kind: Service\n"
	"name: web\n"
	"image: nginx:1\n"
	"replicas: 3\n"
	"publish: host\n"
	"rollout: {delay: 1s}\n"
	"placement:\n"
	"  constraints: [node.labels.a==b]\n"
	"---\n"
	"kind: Plan\n"
	"name: p\n"
	"replicas: 2\n"
	"---\n"
	"kind: Template\n"
	"name: t\n"
	"services:\n"
	"  app: {image: app:1, rollout: {parallelism: 2}}\n"
	"---\n"
	"kind: Customer\n"
	"id: c1\n"
	"template: t\n"
	"placement: {spread: [node.labels.zone]}\n";

static void test_containers_refuse(void)
{
	const char *none[] = { "a.yaml", svc_swarm_keys, NULL };
	expect_diags(none,
		     "a.yaml:4:1: 'replicas' only applies with 'engine: swarm' (the engine is containers, the default: no Settings sets 'engine')\n"
		     "a.yaml:5:1: 'publish' only applies with 'engine: swarm' (the engine is containers, the default: no Settings sets 'engine')\n"
		     "a.yaml:6:1: 'rollout' only applies with 'engine: swarm' (the engine is containers, the default: no Settings sets 'engine')\n"
		     "a.yaml:7:1: 'placement' only applies with 'engine: swarm' (the engine is containers, the default: no Settings sets 'engine')\n"
		     "a.yaml:12:1: 'replicas' only applies with 'engine: swarm' (the engine is containers, the default: no Settings sets 'engine')\n"
		     "a.yaml:17:23: 'rollout' only applies with 'engine: swarm' (the engine is containers, the default: no Settings sets 'engine')\n"
		     "a.yaml:22:1: 'placement' only applies with 'engine: swarm' (the engine is containers, the default: no Settings sets 'engine')\n",
		     "no engine: the Swarm keys of a Service, Plan, template service and Customer");
	const char *written[] = { "a.yaml", svc_swarm_keys, "z/settings.yaml",
				  "kind: Settings\nproject: p\nengine: containers\n"
				  "defaults: {rollout: {monitor: 1s}}\n", NULL };
	expect_diags(written,
		     "a.yaml:4:1: 'replicas' only applies with 'engine: swarm' (z/settings.yaml:3 sets 'engine: containers')\n"
		     "a.yaml:5:1: 'publish' only applies with 'engine: swarm' (z/settings.yaml:3 sets 'engine: containers')\n"
		     "a.yaml:6:1: 'rollout' only applies with 'engine: swarm' (z/settings.yaml:3 sets 'engine: containers')\n"
		     "a.yaml:7:1: 'placement' only applies with 'engine: swarm' (z/settings.yaml:3 sets 'engine: containers')\n"
		     "a.yaml:12:1: 'replicas' only applies with 'engine: swarm' (z/settings.yaml:3 sets 'engine: containers')\n"
		     "a.yaml:17:23: 'rollout' only applies with 'engine: swarm' (z/settings.yaml:3 sets 'engine: containers')\n"
		     "a.yaml:22:1: 'placement' only applies with 'engine: swarm' (z/settings.yaml:3 sets 'engine: containers')\n"
		     "z/settings.yaml:4:12: 'rollout' only applies with 'engine: swarm' (z/settings.yaml:3 sets 'engine: containers')\n",
		     "engine: containers written, in a file after the services");
}

static const char swarm_refused[] =
	"kind: Service\n"
	"name: bad\n"
	"image: x:1\n"
	"privileged: true\n"
	"devices: [\"/dev/null:/dev/null:rw\"]\n"
	"pid: host\n"
	"ipc: host\n"
	"run: once\n"
	"user: \"1000\"\n"
	"working_dir: /app\n"
	"stop_signal: SIGINT\n"
	"init: true\n"
	"read_only: true\n"
	"cap_drop: [ALL]\n"
	"security_opt: [no-new-privileges]\n"
	"shm_size: 16M\n"
	"ulimits: {nofile: 1024}\n"
	"logging: {driver: local}\n"
	"---\n"
	"kind: Plan\n"
	"name: p\n"
	"idle: {after: 1h}\n"
	"cpu_shares: 512\n"
	"---\n"
	"kind: Template\n"
	"name: t\n"
	"plan: p\n"
	"services:\n"
	"  app:\n"
	"    build: {context: app}\n"
	"---\n"
	"kind: Customer\n"
	"id: c1\n"
	"template: t\n"
	"idle: {after: 10m}\n"
	"---\n"
	"kind: Volume\n"
	"name: shared\n"
	"external: true\n"
	"---\n"
	"kind: Service\n"
	"name: ok\n"
	"image: x:1\n"
	"volumes: [shared:/data]\n";

static int fake_tree(void *ctx, const char *context, const char *dockerfile, char ret[41], struct rc_err *err)
{
	memset(ret, 'a', 40);
	ret[40] = '\0';
	return 0;
}

static void test_swarm_refuse(void)
{
	const char *pairs[] = { "a.yaml", swarm_refused, "b/settings.yaml",
				"kind: Settings\nproject: p\nengine: swarm\n"
				"policy: {allow_host_namespaces: true, allow_privileged: true, allow_devices: [/dev/null],\n"
				"         allow_external_volumes: [shared]}\n"
				"defaults: {shm_size: 8M, init: true}\n", NULL };
	char *got = NULL;
	struct source_files f = { 0 };
	f.files = xcalloc(3, sizeof(*f.files));
	for (size_t i = 0; i < 2; i++) {
		f.files[i].path = (char *)(uintptr_t)pairs[2 * i];
		f.files[i].data = (char *)(uintptr_t)pairs[2 * i + 1];
		f.files[i].len = strlen(pairs[2 * i + 1]);
	}
	f.nfiles = 2;
	f.commit = (char *)(uintptr_t)"0123456789012345678901234567890123456789";
	struct manifest_opts o = { .secrets_dir = secrets_dir, .build_tree = fake_tree };
	struct rc_desired *d = NULL;
	struct rc_diags diags = { 0 };
	if (manifest_load(&f, &o, &d, &diags) < 0) {
		struct buf b = BUF_INIT;
		rc_diags_format(&diags, &b);
		got = buf_detach(&b, NULL);
	}
	rc_diags_release(&diags);
	free(f.files);
	ok(d == NULL, "swarm: what a service cannot do is refused");
	is_str(got,
	       "a.yaml:4:1: 'privileged' cannot be used with 'engine: swarm' (b/settings.yaml:3): a Swarm service spec has no such setting\n"
	       "a.yaml:5:1: 'devices' cannot be used with 'engine: swarm' (b/settings.yaml:3): Swarm services have no devices\n"
	       "a.yaml:6:1: 'pid' cannot be used with 'engine: swarm' (b/settings.yaml:3): a Swarm service cannot join the host's PID namespace\n"
	       "a.yaml:7:1: 'ipc' cannot be used with 'engine: swarm' (b/settings.yaml:3): a Swarm service cannot join the host's IPC namespace\n"
	       "a.yaml:8:1: 'run' cannot be used with 'engine: swarm' (b/settings.yaml:3): one-shot jobs (run: once) are not supported as Swarm services yet\n"
	       "a.yaml:15:1: 'security_opt' cannot be used with 'engine: swarm' (b/settings.yaml:3): a Swarm service spec has no such setting\n"
	       "a.yaml:16:1: 'shm_size' cannot be used with 'engine: swarm' (b/settings.yaml:3): a Swarm service spec has no such setting\n"
	       "a.yaml:17:1: 'ulimits' cannot be used with 'engine: swarm' (b/settings.yaml:3): a Swarm service spec has no such setting\n"
	       "a.yaml:18:1: 'logging' cannot be used with 'engine: swarm' (b/settings.yaml:3): a Swarm service spec has no such setting\n"
	       "a.yaml:22:1: 'idle' cannot be used with 'engine: swarm' (b/settings.yaml:3): idle sleep stops and wakes single containers; Swarm services are not put to sleep\n"
	       "a.yaml:23:1: 'cpu_shares' cannot be used with 'engine: swarm' (b/settings.yaml:3): a Swarm service spec has no such setting\n"
	       "a.yaml:30:5: 'build' cannot be used with 'engine: swarm' (b/settings.yaml:3): the nodes pull the image: push it to a registry every node reaches and name it in 'image'\n"
	       "a.yaml:35:1: 'idle' cannot be used with 'engine: swarm' (b/settings.yaml:3): idle sleep stops and wakes single containers; Swarm services are not put to sleep\n"
	       "b/settings.yaml:6:12: 'shm_size' cannot be used with 'engine: swarm' (b/settings.yaml:3): a Swarm service spec has no such setting\n",
	       "swarm: every refusal at its key, naming the engine's line and why");
	rc_desired_free(d);
	free(got);
}

/* policy.require under swarm: what only a row Swarm cannot set meets is said once, where it is written */
static void test_requirements(void)
{
	const char *pairs[] = { "m.yaml",
				"kind: Settings\nengine: swarm\npolicy: {require: [init, no_new_privileges]}\n"
				"defaults: {init: true}\n---\nkind: Service\nname: s\nimage: x:1\n", NULL };
	expect_diags(pairs,
		     "m.yaml:3:26: requirement 'no_new_privileges' cannot be met with 'engine: swarm' (m.yaml:2): it asks for "
		     "'security_opt: [no-new-privileges]', which a Swarm service cannot set\n"
		     "m.yaml:6:1: service 's' does not set 'security_opt: [no-new-privileges]', which Settings policy.require asks for (no_new_privileges)\n",
		     "Settings policy.require no_new_privileges under swarm");

	static const char host[] = "kind: HostPolicy\nrequire: [log_cap, read_only]\n";
	struct source_file hp = { (char *)(uintptr_t)"/etc/reconciler/policy.yaml", (char *)(uintptr_t)host, strlen(host) };
	const char *text = "kind: Settings\nengine: swarm\n---\nkind: Service\nname: s\nimage: x:1\nread_only: true\n";
	struct source_file f = { (char *)(uintptr_t)"m.yaml", (char *)(uintptr_t)text, strlen(text) };
	struct source_files fs = { &f, 1, NULL };
	struct manifest_opts o = { .secrets_dir = secrets_dir, .host_policy = &hp };
	struct rc_desired *d = NULL;
	struct rc_diags diags = { 0 };
	char *got = NULL;
	if (manifest_load(&fs, &o, &d, &diags) < 0) {
		struct buf b = BUF_INIT;
		rc_diags_format(&diags, &b);
		got = buf_detach(&b, NULL);
	}
	rc_diags_release(&diags);
	ok(d == NULL, "the host's require log_cap under swarm: refused");
	is_str(got,
	       "m.yaml:2:9: 'engine: swarm' cannot meet the host policy's requirement 'log_cap' (/etc/reconciler/policy.yaml): "
	       "it asks for 'logging: {options: {max-size: SIZE}}', which a Swarm service cannot set\n"
	       "m.yaml:4:1: service 's' does not set 'logging: {options: {max-size: SIZE}}', which the host policy requires "
	       "(/etc/reconciler/policy.yaml: require log_cap)\n",
	       "said at the engine line, naming the host policy file");
	rc_desired_free(d);
	free(got);
}

static void test_grammar(void)
{
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{ "replicas: 0\n", "m.yaml:5:11: 'replicas' must be from 1 to 1000: to stop a service, say 'state: stopped' on the Service or the Customer\n" },
		{ "replicas: 1001\n", "m.yaml:5:11: 'replicas' must be a whole number from 1 to 1000\n" },
		{ "replicas: two\n", "m.yaml:5:11: 'replicas' must be a whole number from 1 to 1000\n" },
		{ "placement: [node.id==x]\n", "m.yaml:5:12: 'placement' must be a mapping like {constraints: [node.labels.tier==gold], spread: [node.labels.zone]}\n" },
		{ "placement: {constrains: []}\n", "m.yaml:5:13: unknown key 'constrains' in placement (did you mean 'constraints'?)\n" },
		{ "placement: {constraints: node.id==x}\n", "m.yaml:5:26: 'constraints' must be a list\n" },
		{ "placement: {constraints: [node.labels.tier]}\n", "m.yaml:5:27: placement constraint 'node.labels.tier' must be ATTRIBUTE==VALUE or ATTRIBUTE!=VALUE, e.g. node.labels.tier==gold\n" },
		{ "placement: {constraints: [node.hostnme==a]}\n", "m.yaml:5:27: unknown attribute 'node.hostnme' in placement constraint 'node.hostnme==a': use node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.NAME or engine.labels.NAME (did you mean 'node.hostname'?)\n" },
		{ "placement: {constraints: [node.labels.==a]}\n", "m.yaml:5:27: unknown attribute 'node.labels.' in placement constraint 'node.labels.==a': use node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.NAME or engine.labels.NAME (did you mean 'node.labels'?)\n" },
		{ "placement: {constraints: [\"node.labels.a b==c\"]}\n", "m.yaml:5:27: unknown attribute 'node.labels.a b' in placement constraint 'node.labels.a b==c': use node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.NAME or engine.labels.NAME\n" },
		{ "placement: {constraints: [\"node.id==\"]}\n", "m.yaml:5:27: placement constraint 'node.id==' needs one value after '==', without blanks or control characters\n" },
		{ "placement: {constraints: [\"node.id!=a b\"]}\n", "m.yaml:5:27: placement constraint 'node.id!=a b' needs one value after '!=', without blanks or control characters\n" },
		{ "placement: {constraints: [\"node.id==a==b\"]}\n", "m.yaml:5:27: placement constraint 'node.id==a==b' needs one value after '==', without blanks or control characters\n" },
		{ "placement: {constraints: [node.role==boss]}\n", "m.yaml:5:27: 'node.role' is manager or worker, not 'boss'\n" },
		{ "placement: {spread: [node.id]}\n", "m.yaml:5:22: 'spread' takes node.labels.NAME or engine.labels.NAME (tasks are spread over the label's values), not 'node.id'\n" },
		{ "placement: {spread: [node.labels.z, node.labels.z]}\n", "m.yaml:5:37: 'node.labels.z' is in 'spread' twice\n" },
		{ "placement: {spread: [node.labels.a, node.labels.b, node.labels.c, node.labels.d, node.labels.e, node.labels.f, node.labels.g, node.labels.h, node.labels.a]}\n",
		  "m.yaml:5:21: at most 8 'spread' descriptors\n" },
		{ "rollout: 1\n", "m.yaml:5:10: 'rollout' must be a mapping like {parallelism: 1, delay: 10s, monitor: 5s}\n" },
		{ "rollout: {paralelism: 1}\n", "m.yaml:5:11: unknown key 'paralelism' in rollout (did you mean 'parallelism'?)\n" },
		{ "rollout: {parallelism: 1001}\n", "m.yaml:5:24: 'parallelism' must be a whole number from 0 to 1000\n" },
		{ "rollout: {delay: soon}\n", "m.yaml:5:18: 'delay' is not a duration: write e.g. 500ms, 10s, 5m, 1h30m\n" },
		{ "rollout: {delay: 2h}\n", "m.yaml:5:18: 'delay' must be at most 1h\n" },
		{ "rollout: {monitor: 0s}\n", "m.yaml:5:20: 'monitor' must be above 0s and at most 1h (Swarm takes 0 as its own default)\n" },
		{ "publish: hots\n", "m.yaml:5:10: 'publish' must be ingress or host, not 'hots' (did you mean 'host'?)\n" },
		{ "replica: 2\n", "m.yaml:5:1: unknown key 'replica' in Service (did you mean 'replicas'?)\n" },
		{ "deploy: {replicas: 2}\n", "m.yaml:5:1: unknown key 'deploy' in Service: with 'engine: swarm', write 'replicas', 'placement', 'rollout' and 'publish' on the service itself\n" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *text = xasprintf("kind: Settings\nengine: swarm\n---\nkind: Service\n%sname: s\nimage: x:1\n",
				       cases[i].yaml);
		const char *pairs[] = { "m.yaml", text, NULL };
		char name[128];
		snprintf(name, sizeof(name), "grammar: %.*s", (int)strcspn(cases[i].yaml, "\n"), cases[i].yaml);
		expect_diags(pairs, cases[i].want, name);
		free(text);
	}
	static const struct {
		const char *yaml, *want;
	} settings[] = {
		{ "engine: swarn\n", "m.yaml:2:9: 'engine' must be containers or swarm, not 'swarn' (did you mean 'swarm'?)\n" },
		{ "engine: [swarm]\n", "m.yaml:2:9: 'engine' must be a string\n" },
		{ "engin: swarm\n", "m.yaml:2:1: unknown key 'engin' in Settings (did you mean 'engine'?)\n" },
		{ "engine: swarm\ndefaults: {replicas: 2}\n", "m.yaml:3:12: unknown key 'replicas' in defaults\n" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		char *text = xasprintf("kind: Settings\n%s---\nkind: Service\nname: s\nimage: x:1\n", settings[i].yaml);
		const char *pairs[] = { "m.yaml", text, NULL };
		char name[128];
		snprintf(name, sizeof(name), "Settings: %.*s", (int)strcspn(settings[i].yaml, "\n"), settings[i].yaml);
		expect_diags(pairs, settings[i].want, name);
		free(text);
	}
	/* at most 32 constraints (the first 32 are still checked) */
	struct buf many = BUF_INIT;
	buf_adds(&many, "kind: Settings\nengine: swarm\n---\nkind: Service\nname: s\nimage: x:1\nplacement:\n  constraints: [");
	for (int i = 0; i < 33; i++)
		buf_addf(&many, "%snode.labels.l%d==x", i ? ", " : "", i);
	buf_adds(&many, "]\n");
	const char *many_pairs[] = { "m.yaml", buf_cstr(&many), NULL };
	expect_diags(many_pairs, "m.yaml:8:16: at most 32 placement constraints\n", "33 constraints");
	buf_release(&many);
	/* a Customer takes placement only */
	const char *cust[] = { "m.yaml",
			       "kind: Settings\nengine: swarm\n---\nkind: Template\nname: t\nservices: {a: {image: x:1}}\n"
			       "---\nkind: Customer\nid: c\ntemplate: t\nreplicas: 2\n", NULL };
	expect_diags(cust, "m.yaml:11:1: unknown key 'replicas' in Customer\n", "a Customer has no replicas");
}

static void copy_file(const char *from, const char *to)
{
	char *data = NULL;
	size_t len = 0;
	struct rc_err err = { 0 };
	if (read_file(from, 1 << 20, &data, &len, &err) < 0 || write_file_atomic(to, data, len, 0600, &err) < 0)
		die("%s", err.msg);
	free(data);
}

int main(void)
{
	strcpy(secrets_dir, "/tmp/rc-t-manifest-swarm.XXXXXX");
	if (!mkdtemp(secrets_dir))
		die("mkdtemp");
	/* the golden tests' secret and digest key: the hashes of before were taken with them */
	const char *top = getenv("RC_TOP");
	char *from = xasprintf("%s/tests/golden/manifests/secrets/db_password", top ? top : ".");
	char *to = xasprintf("%s/db_password", secrets_dir);
	copy_file(from, to);
	free(from);
	free(to);
	char *key = xasprintf("%s/.digest-key", secrets_dir);
	struct rc_err err = { 0 };
	if (write_file_atomic(key, "golden-key-0123456789abcdefghijk", 32, 0600, &err) < 0)
		die("%s", err.msg);
	free(key);

	test_containers_unchanged();
	test_swarm_units();
	test_swarm_in_place();
	test_containers_refuse();
	test_swarm_refuse();
	test_requirements();
	test_grammar();

	static const char *const made[] = { "db_password", ".digest-key" };
	for (size_t i = 0; i < ARRAY_SIZE(made); i++) {
		char *p = xasprintf("%s/%s", secrets_dir, made[i]);
		unlink(p);
		free(p);
	}
	rmdir(secrets_dir);
	return done_testing();
}
