/* Unit tests for manifest.c (loading, expansion, hash stability) and spec.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "hash.h"
#include "seckey.h"
#include "manifest.h"
#include "order.h"
#include "spec.h"
#include "tap.h"
#include "fixture.h"
#include "util.h"

#define FIXTURE "tests/golden/manifests/good/example.yaml"

static char *fixture;          /* the example's text */
static char secrets_dir[64];

static char *read_fixture(void)
{
	const char *top = getenv("RC_TOP");
	char *path = xasprintf("%s/%s", top ? top : ".", FIXTURE);
	char *data = NULL;
	struct rc_err err;
	if (read_file(path, 1 << 20, &data, NULL, &err) < 0)
		die("%s", err.msg);
	free(path);
	return data;
}

static void write_secret(const char *name, const char *content)
{
	char *p = xasprintf("%s/%s", secrets_dir, name);
	struct rc_err err;
	if (write_file_atomic(p, content, strlen(content), 0600, &err) < 0)
		die("%s", err.msg);
	free(p);
}

/* The keyed digest of content under the key of secrets directory dir (made by the load: seckey.h). */
static void keyed_digest(const char *dir, const char *content, char out[RC_HASH_HEX_LEN + 1])
{
	unsigned char key[RC_SECKEY_LEN];
	struct rc_err err;
	if (seckey_load(dir, key, &err) < 0)
		die("%s", err.msg);
	rc_keyed128_hex(key, sizeof(key), content, strlen(content), out);
}

/* Load from (path, text) pairs; NULL path ends the list. Returns NULL on failure (diags printed). */
static struct rc_desired *load_v(const char *const *pairs, const char *sdir)
{
	struct manifest_opts o = { .secrets_dir = sdir };
	return fixture_load(pairs, &o, NULL);
}

static struct rc_desired *load1(const char *text)
{
	const char *pairs[] = { "m.yaml", text, NULL };
	return load_v(pairs, secrets_dir);
}

/* text with the first occurrence of from replaced by to */
static char *replace(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);
	if (!p)
		die("'%s' not in the fixture", from);
	return xasprintf("%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
}

static void test_example(void)
{
	struct rc_desired *d = load1(fixture);
	if (!ok(d != NULL, "the example loads"))
		return;
	is_str(d->settings.project, "acme", "project");
	is_int(d->settings.port_lo, 5000, "port range low");
	is_int(d->settings.port_hi, 15000, "port range high");
	is_str(d->settings.subnet_pool, "10.210.0.0/16", "subnet pool");
	is_int(d->settings.subnet_prefix, 26, "subnet size");
	is_int(d->settings.default_stop_grace_ns, 10000000000LL, "default stop grace");
	is_int(d->nunits, 3, "three units");
	is_int(d->nnetworks, 3, "three networks");
	is_str(d->networks[0].name, "acme-abc123", "customer network");
	is_str(d->networks[0].customer, "abc123", "customer network belongs to the customer");
	ok(d->networks[0].subnet == NULL, "customer subnet comes from the pool");
	is_str(d->networks[1].name, "acme-abc123-via-backend", "the customer's link network to backend");
	is_str(d->networks[1].customer, "abc123", "belongs to the customer");
	is_str(d->networks[1].link_of, "backend", "links the shared network");
	ok(d->networks[1].internal && d->networks[1].subnet == NULL, "internal as backend is; subnet from the pool");
	is_str(d->networks[2].name, "acme-backend", "shared network");
	{
		struct rc_unit *sdb = rc_desired_unit(d, "db");
		ok(sdb && sdb->nlinks == 1 && strcmp(sdb->links[0], "acme-abc123-via-backend") == 0,
		   "the shared db joins the customer's link network (outside its spec)");
	}
	ok(d->networks[2].internal, "backend is internal");
	ok(d->networks[2].link_of == NULL, "the shared network is no link");

	struct rc_unit *app = rc_desired_unit(d, "abc123/app");
	struct rc_unit *worker = rc_desired_unit(d, "abc123/worker");
	struct rc_unit *db = rc_desired_unit(d, "db");
	if (!ok(app && worker && db, "units abc123/app, abc123/worker, db")) {
		rc_desired_free(d);
		return;
	}
	is_str(d->units[0].id, "abc123/app", "units sorted by id");
	is_str(app->container, "acme-abc123-app", "customer container name");
	is_str(db->container, "acme-db", "shared container name");
	is_str(app->customer, "abc123", "customer of app");
	ok(db->customer == NULL, "db is shared");
	is_str(app->image, "mission-control:1.4", "app image");
	is_int(app->nnetworks, 2, "app on two networks");
	is_str(app->networks[0], "acme-abc123", "customer network first");
	is_str(app->networks[1], "acme-abc123-via-backend", "then its link to the shared one (never the shared bridge)");
	is_int(worker->nnetworks, 1, "worker on its customer network only");
	is_int(app->nports, 1, "app publishes one port");
	is_int(app->ports[0].container_port, 3000, "container port");
	is_int(app->ports[0].host_port, 5001, "customer host port");
	ok(!app->ports[0].host_auto, "fixed port");
	is_str(app->ports[0].proto, "tcp", "tcp");
	is_int(app->ndeps, 1, "app has one dependency");
	is_str(app->deps[0].unit, "db", "on the shared db");
	is_int(app->deps[0].cond, RC_DEP_HEALTHY, "healthy");
	is_str(worker->deps[0].unit, "abc123/app", "worker on its sibling");
	is_int(app->nano_cpus, 500000000, "0.5 CPU in nano-CPUs");
	is_int(app->memory, 512LL << 20, "512M");
	is_int(app->memory_reservation, 256LL << 20, "256M");
	is_int(app->pids_limit, 256, "pids");
	is_str(app->restart.policy, "unless-stopped", "default restart policy");
	is_int(app->restart.backoff_ns, 5000000000LL, "backoff");
	is_int(app->restart.max_backoff_ns, 300000000000LL, "max backoff");
	is_int(app->restart.max_failures, 5, "max failures");
	is_str(app->plan, "starter", "customer plan");
	is_str(db->plan, "infra", "service plan");
	is_int(db->nano_cpus, 2000000000, "2 CPUs");
	is_int(db->memory, 2LL << 30, "2G");
	is_int(app->stop_grace_ns, 10000000000LL, "default stop grace applied");
	is_int(db->stop_grace_ns, 120000000000LL, "service stop grace");
	is_int(app->nenv, 1, "customer env reaches app");
	is_str(app->env[0].key, "FEATURE_X", "env key");
	is_str(app->env[0].value, "on", "quoted value kept as text");
	is_int(app->health.kind, RC_HEALTH_HTTP, "http health");
	is_str(app->health.http_path, "/health", "health path");
	is_int(app->health.http_port, 3000, "health port defaults to 'port'");
	is_int(db->health.kind, RC_HEALTH_CMD, "cmd health");
	is_int(db->health.interval_ns, 10000000000LL, "health interval");
	is_int(db->health.retries, 5, "health retries");
	is_int(db->nmounts, 2, "db: volume and secret");
	is_str(db->mounts[0].target, "/run/secrets/db_password", "mounts sorted by target");
	is_int(db->mounts[0].kind, RC_MOUNT_SECRET, "secret mount");
	ok(db->mounts[0].read_only, "secret read-only");
	is_str(db->mounts[1].source, "acme-db-data", "shared volume name");
	is_int(db->nsecrets, 1, "one secret");
	char dg[RC_HASH_HEX_LEN + 1];
	keyed_digest(secrets_dir, "s3cret", dg);
	is_str(db->secrets[0].digest, dg, "secret digest of the content, keyed with the host key");
	ok(app->running && db->running, "running by default");
	ok(app->hash[0] && app->base_hash[0], "hashes filled");
	is_str(app->file, "m.yaml", "unit remembers its file");

	struct buf b = BUF_INIT;
	spec_canonical(app, true, &b);
	ok(strstr(b.data, "\nports.3000/tcp=5001\n") != NULL, "canonical port line");
	ok(strstr(b.data, "cpus=500000000\n") == b.data, "sorted, cpus first");
	buf_reset(&b);
	spec_canonical(app, false, &b);
	ok(strstr(b.data, "cpus=") == NULL && strstr(b.data, "restart.") == NULL, "no resources without them");
	buf_release(&b);
	rc_desired_free(d);
}

/* The same manifests: keys reordered, documents in other files and order, comments. */
static const char *const reordered[] = {
	"z/customers.yaml",
	"# customers\n"
	"state: running\n"
	"env: {FEATURE_X: \"on\"}   # a comment\n"
	"port: 5001\n"
	"plan: starter\n"
	"template: mission-control\n"
	"id: abc123\n"
	"kind: Customer\n",
	"a/infra.yml",
	"---\n"
	"kind: Service\n"
	"stop_grace_period: 2m\n"
	"health: {timeout: 5s, retries: 5, start_period: 10s, interval: 10s, cmd: pg_isready}\n"
	"networks:\n  - backend\n"
	"volumes: [db-data:/var/lib/postgresql/data]\n"
	"secrets: [db_password]\n"
	"env:\n  - POSTGRES_DB=app\n"
	"plan: infra\n"
	"image: postgres:15\n"
	"name: db\n"
	"---\n"
	"{kind: Network, internal: true, name: backend}\n"
	"---\n"
	"kind: Plan\nmemory: 2048M\ncpus: 2.0\nname: infra\n"
	"---\n"
	"kind: Plan\nname: starter\nrestart: {max_failures: 5, max_backoff: 5m, backoff: 5000ms}\n"
	"pids: 256\nmemory_reservation: 262144k\nmemory: 524288k\ncpus: 0.50\n",
	"m/templates.yaml",
	"kind: Template\nname: mission-control\nservices:\n"
	"  worker:\n    depends_on: {app: healthy}\n    image: mission-control-worker:1.4\n"
	"  app:\n    health: {start_period: 10s, retries: 3, timeout: 5s, interval: 30s, http: /health}\n"
	"    depends_on: {db: {condition: healthy}}\n    networks: [backend]\n    port: 3000\n"
	"    image: mission-control:1.4\n"
	"---\n"
	"# settings last\n"
	"kind: Settings\npolicy: {bind_roots: [/srv/acme], allow_privileged: false}\n"
	"defaults: {stop_grace_period: 10s}\nsubnets: {size: 26, pool: 10.210.0.0/16}\n"
	"ports: {range: 5000-15000}\nproject: acme\n",
	NULL,
};

static void test_stability(void)
{
	struct rc_desired *a = load1(fixture);
	struct rc_desired *b = load_v(reordered, secrets_dir);
	if (!ok(a && b, "both layouts load")) {
		rc_desired_free(a);
		rc_desired_free(b);
		return;
	}
	/* memory: 524288k is not a size we accept; see below — so b must not exist */
	is_int(a->nunits, b->nunits, "same units");
	for (size_t i = 0; i < a->nunits && i < b->nunits; i++) {
		is_str(b->units[i].id, a->units[i].id, "unit %zu id", i);
		is_str(b->units[i].hash, a->units[i].hash, "hash of %s unchanged by layout, order, comments", a->units[i].id);
		is_str(b->units[i].base_hash, a->units[i].base_hash, "base hash of %s unchanged", a->units[i].id);
	}
	rc_desired_free(a);
	rc_desired_free(b);
}

struct mutation {
	const char *from, *to;
	const char *changed;      /* space-separated unit ids whose hash must change */
	bool base_changes;        /* and whether their base_hash changes too */
};

static const struct mutation mutations[] = {
	{ "image: postgres:15", "image: postgres:16", "db", true },
	{ "FEATURE_X: \"on\"", "FEATURE_X: \"off\"", "abc123/app abc123/worker", true },
	{ "env: {POSTGRES_DB: app}", "env: {POSTGRES_DB: app, X: y}", "db", true },
	{ "cpus: 0.5", "cpus: 1", "abc123/app abc123/worker", false },
	{ "memory: 2G", "memory: 3G", "db", false },
	{ "pids: 256", "pids: 257", "abc123/app abc123/worker", false },
	{ "plan: starter", "plan: infra", "abc123/app abc123/worker", false },
	{ "restart: {backoff: 5s", "restart: {policy: always, backoff: 5s", "abc123/app abc123/worker", false },
	{ "port: 5001", "port: auto", "abc123/app", true },
	{ "port: 5001", "port: 5002", "abc123/app", true },
	{ "stop_grace_period: 120s", "stop_grace_period: 121s", "db", true },
	{ "defaults: {stop_grace_period: 10s}", "defaults: {stop_grace_period: 11s}", "abc123/app abc123/worker", true },
	{ "retries: 3", "retries: 4", "abc123/app", true },
	{ "http: /health", "http: /healthz", "abc123/app", true },
	{ "cmd: \"pg_isready\"", "cmd: \"pg_isready -q\"", "db", true },
	{ "db-data:/var/lib/postgresql/data", "db-data:/var/lib/postgresql/data:ro", "db", true },
	{ "image: mission-control-worker:1.4", "image: mission-control-worker:1.4\n    command: [run, --fast]", "abc123/worker", true },
	{ "project: acme", "project: acme2", "abc123/app abc123/worker db", true },
	{ "internal: true", "internal: true\n---\nkind: Network\nname: front", "", false },
	/* not container properties: nothing changes */
	{ "internal: true", "internal: false", "", false },
	{ "state: running", "state: stopped", "", false },
	{ "depends_on: {app: healthy}", "depends_on: [app]", "", false },
	{ "max_failures: 5", "max_failures: 6", "", false },
	{ "# or auto", "# a different comment", "", false },
};

static bool listed(const char *list, const char *id)
{
	size_t n = strlen(id);
	for (const char *p = list; (p = strstr(p, id)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static void test_mutations(void)
{
	struct rc_desired *a = load1(fixture);
	if (!a)
		return;
	for (size_t m = 0; m < ARRAY_SIZE(mutations); m++) {
		const struct mutation *mu = &mutations[m];
		char *text = replace(fixture, mu->from, mu->to);
		struct rc_desired *b = load1(text);
		free(text);
		if (!ok(b != NULL, "mutation %zu of '%s' loads", m, mu->from))
			continue;
		bool all = true;
		for (size_t i = 0; i < a->nunits; i++) {
			const struct rc_unit *ua = &a->units[i];
			const struct rc_unit *ub = rc_desired_unit(b, ua->id);
			if (!ub) {
				all = false;
				diag("unit %s missing", ua->id);
				continue;
			}
			bool want = listed(mu->changed, ua->id);
			bool hch = strcmp(ua->hash, ub->hash) != 0;
			bool bch = strcmp(ua->base_hash, ub->base_hash) != 0;
			if (hch != want || bch != (want && mu->base_changes)) {
				all = false;
				diag("%s: hash changed %d (want %d), base changed %d (want %d)", ua->id, hch, want, bch,
				     want && mu->base_changes);
			}
		}
		ok(all, "mutation %zu of '%s' changes exactly: %s%s", m, mu->from,
		   *mu->changed ? mu->changed : "nothing", mu->base_changes ? "" : " (resources only)");
		rc_desired_free(b);
	}
	/* a secret's content */
	write_secret("db_password", "other");
	struct rc_desired *b = load1(fixture);
	write_secret("db_password", "s3cret");
	if (ok(b != NULL, "loads with another secret")) {
		ok(strcmp(rc_desired_unit(a, "db")->hash, rc_desired_unit(b, "db")->hash) != 0, "secret content changes db's hash");
		is_str(rc_desired_unit(b, "abc123/app")->hash, rc_desired_unit(a, "abc123/app")->hash, "and nothing else");
	}
	rc_desired_free(b);
	/* state: stopped */
	char *text = replace(fixture, "state: running", "state: stopped");
	b = load1(text);
	free(text);
	if (b)
		ok(!rc_desired_unit(b, "abc123/app")->running && rc_desired_unit(b, "db")->running,
		   "state: stopped stops the customer's units only");
	rc_desired_free(b);
	/* protected is carried, not hashed */
	text = replace(fixture, "state: running", "protected: true");
	b = load1(text);
	free(text);
	if (b) {
		ok(rc_desired_unit(b, "abc123/app")->protected_, "protected carried into the unit");
		is_str(rc_desired_unit(b, "abc123/app")->hash, rc_desired_unit(a, "abc123/app")->hash, "protected is not hashed");
	}
	rc_desired_free(b);
	rc_desired_free(a);
}

static void test_no_secrets_dir(void)
{
	const char *pairs[] = { "m.yaml", fixture, NULL };
	struct rc_desired *d = load_v(pairs, NULL);
	if (!ok(d != NULL, "loads without a secrets dir"))
		return;
	char dg[RC_HASH_HEX_LEN + 1];
	rc_hash128_hex("", 0, dg);
	is_str(rc_desired_unit(d, "db")->secrets[0].digest, dg, "digest of empty without a secrets dir");
	ok(rc_desired_unit(d, "db")->secrets[0].path == NULL, "no path without a secrets dir");
	rc_desired_free(d);
}

/* manifest_secrets_current(): the daemon's check of whether its loaded specs still hold */
static void test_secrets_current(void)
{
	struct rc_desired *d = load1(fixture);
	if (!ok(d != NULL, "secrets current: loads"))
		return;
	const char *name = NULL;
	ok(manifest_secrets_current(d, &name), "secrets unchanged: current");
	write_secret("db_password", "rotated");
	ok(!manifest_secrets_current(d, &name), "a rotated secret: not current");
	is_str(name, "db_password", "and it is named");
	write_secret("db_password", "s3cret");
	ok(manifest_secrets_current(d, NULL), "rotated back: current again");
	char *p = xasprintf("%s/db_password", secrets_dir);
	rename(p, "/tmp/rc-t-manifest-moved-secret");
	ok(!manifest_secrets_current(d, &name), "a removed secret: not current");
	rename("/tmp/rc-t-manifest-moved-secret", p);
	free(p);
	rc_desired_free(d);
	const char *pairs[] = { "m.yaml", fixture, NULL };
	d = load_v(pairs, NULL);
	ok(d && manifest_secrets_current(d, NULL), "loaded without a secrets dir: current");
	rc_desired_free(d);

	/* a customer's own secret (secrets/CUSTOMER/NAME) is digested with the secrets dir's key */
	static const char cust[] =
		"kind: Template\nname: t\nsecrets: {tok: {generate: {bytes: 16}}}\n"
		"services:\n  app: {image: app:1, secrets: [tok]}\n---\n"
		"kind: Customer\nid: zed\ntemplate: t\n";
	struct source_file f = { (char *)"c.yaml", (char *)(uintptr_t)cust, sizeof(cust) - 1 };
	struct source_files fs = { &f, 1, NULL };
	struct manifest_opts o = { .secrets_dir = secrets_dir, .generate_secrets = true };
	struct rc_diags diags = { 0 };
	d = NULL;
	ok(manifest_load(&fs, &o, &d, &diags) == 0, "a template with a generated secret loads");
	ok(d && manifest_secrets_current(d, NULL), "a customer's own secret: current right after the load");
	char *kp = xasprintf("%s/zed/.digest-key", secrets_dir);
	ok(access(kp, F_OK) < 0, "and no key is made in the customer's directory");
	free(kp);
	rc_desired_free(d);
	rc_diags_release(&diags);
}

static void test_spec_diff(void)
{
	struct spec_changes c;
	spec_diff("cpus=1\nimage=a\nmemory=5\n", "cpus=2\nenv.X=y\nimage=a\n", &c);
	if (is_int(c.n, 3, "three changes")) {
		is_str(c.v[0].key, "cpus", "changed key");
		is_str(c.v[0].before, "1", "before");
		is_str(c.v[0].after, "2", "after");
		is_str(c.v[1].key, "env.X", "added key");
		ok(c.v[1].before == NULL, "added: no before");
		is_str(c.v[2].key, "memory", "removed key");
		ok(c.v[2].after == NULL, "removed: no after");
	}
	ok(!spec_changes_resource_only(&c), "an env change is not resource-only");
	spec_changes_release(&c);
	spec_diff("cpus=1\nimage=a\nrestart.policy=no\n", "cpus=2\nimage=a\nrestart.policy=always\n", &c);
	is_int(c.n, 2, "two resource changes");
	ok(spec_changes_resource_only(&c), "cpus and restart are resource-only");
	spec_changes_release(&c);
	spec_diff("a=1\n", "a=1\n", &c);
	is_int(c.n, 0, "equal texts: no changes");
	spec_changes_release(&c);
	spec_diff("env.A\\=B=x\\ny\n", "env.A\\=B=z\n", &c);
	if (is_int(c.n, 1, "escaped key splits at the unescaped '='"))
		is_str(c.v[0].key, "env.A\\=B", "escaped key kept");
	spec_changes_release(&c);
	ok(spec_key_is_resource("memory_reservation") && spec_key_is_resource("restart.max_retries") &&
	   !spec_key_is_resource("image") && !spec_key_is_resource("memoryx"), "resource keys");

	/* a real before/after */
	struct rc_desired *a = load1(fixture);
	char *text = replace(fixture, "memory: 2G", "memory: 3G");
	struct rc_desired *b = load1(text);
	free(text);
	if (a && b) {
		struct buf x = BUF_INIT, y = BUF_INIT;
		spec_canonical(rc_desired_unit(a, "db"), true, &x);
		spec_canonical(rc_desired_unit(b, "db"), true, &y);
		spec_diff(x.data, y.data, &c);
		is_int(c.n, 1, "plan memory change: one key");
		if (c.n)
			is_str(c.v[0].after, "3221225472", "memory in bytes");
		ok(spec_changes_resource_only(&c), "in place");
		spec_changes_release(&c);
		buf_release(&x);
		buf_release(&y);
	}
	rc_desired_free(a);
	rc_desired_free(b);
}

static void test_escaping(void)
{
	const char *m = "kind: Service\nname: x\nimage: x:1\nenv: {A: \"line1\\nline2\\\\\"}\n"
			"command: [\"sh\", \"-c\", \"echo \\\"hi\\\"\"]\n";
	struct rc_desired *d = load1(m);
	if (!ok(d != NULL, "service with odd values loads"))
		return;
	struct buf b = BUF_INIT;
	spec_canonical(&d->units[0], true, &b);
	ok(strstr(b.data, "env.A=line1\\nline2\\\\\n") != NULL, "newline and backslash escaped");
	ok(strstr(b.data, "command=[\"sh\",\"-c\",\"echo \\\\\"hi\\\\\"\"]\n") != NULL, "argv as JSON, then escaped");
	buf_release(&b);
	rc_desired_free(d);
	d = load1("kind: Service\nname: x\nimage: x:1\ncommand: sh -c 'echo a  b' \"x y\" z\\ w\n");
	if (ok(d != NULL, "string command loads") && is_int(d->units[0].ncommand, 5, "split like a shell")) {
		is_str(d->units[0].command[2], "echo a  b", "single quotes");
		is_str(d->units[0].command[3], "x y", "double quotes");
		is_str(d->units[0].command[4], "z w", "backslash");
	}
	rc_desired_free(d);
}

/* Load text as m.yaml expecting failure; the first diagnostic as "line:col: msg" (static), or NULL. */
static const char *load_fails(char *text)
{
	static char first[512];
	struct source_file f = { (char *)"m.yaml", text, strlen(text) };
	struct source_files fs = { &f, 1, NULL };
	struct rc_desired *d = NULL;
	struct rc_diags diags = { 0 };
	const char *r = NULL;
	if (manifest_load(&fs, NULL, &d, &diags) < 0 && diags.n) {
		snprintf(first, sizeof(first), "%d:%d: %s", diags.v[0].line, diags.v[0].col, diags.v[0].msg);
		r = first;
	}
	rc_desired_free(d);
	rc_diags_release(&diags);
	return r;
}

static void test_stop_signal(void)
{
	static const char *const good[] = { "SIGTERM", "SIGQUIT", "SIGKILL", "SIGIOT", "SIGRTMIN", "SIGRTMIN+3",
					    "SIGRTMIN+15", "SIGRTMAX-14", "SIGRTMAX", "9", "1", "64" };
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		char *m = xasprintf("kind: Service\nname: x\nimage: x:1\nstop_signal: %s\n", good[i]);
		struct rc_desired *d = load1(m);
		if (ok(d != NULL, "stop_signal %s is valid", good[i])) {
			/* the value enters the canonical spec as written */
			struct buf b = BUF_INIT;
			spec_canonical(&d->units[0], true, &b);
			char *line = xasprintf("\nstop_signal=%s\n", good[i]);
			ok(strstr(b.data, line) != NULL, "stop_signal %s: canonical as written", good[i]);
			free(line);
			buf_release(&b);
		}
		rc_desired_free(d);
		free(m);
	}
	static const struct {
		const char *value, *diag;
	} bad[] = {
		{ "SIGFOO", "4:14: unknown signal 'SIGFOO' in 'stop_signal'" },
		{ "SIGTREM", "4:14: unknown signal 'SIGTREM' in 'stop_signal' (did you mean 'SIGTERM'?)" },
		{ "SIGRTMIN+16", "4:14: unknown signal 'SIGRTMIN+16' in 'stop_signal'" },
		{ "SIGRTMIN+0", "4:14: unknown signal 'SIGRTMIN+0' in 'stop_signal'" },
		{ "SIGRTMAX-15", "4:14: unknown signal 'SIGRTMAX-15' in 'stop_signal'" },
		{ "SIGRTMAX+1", "4:14: unknown signal 'SIGRTMAX+1' in 'stop_signal'" },
		{ "SIGUNUSED", "4:14: unknown signal 'SIGUNUSED' in 'stop_signal'" },
		{ "TERM", "4:14: 'stop_signal' must be a signal name like SIGTERM or a number: 'TERM'" },
		{ "0", "4:14: 'stop_signal' must be a signal name like SIGTERM or a number: '0'" },
		{ "65", "4:14: 'stop_signal' must be a signal name like SIGTERM or a number: '65'" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *m = xasprintf("kind: Service\nname: x\nimage: x:1\nstop_signal: %s\n", bad[i].value);
		is_str(load_fails(m), bad[i].diag, "stop_signal %s is an error", bad[i].value);
		free(m);
	}
}

static void test_failure_contract(void)
{
	struct rc_desired *d = (struct rc_desired *)&d;   /* a sentinel that must stay */
	struct rc_desired *keep = d;
	struct source_file f = { (char *)"x.yaml", (char *)"kind: Nope\n", 11 };
	struct source_files fs = { &f, 1, NULL };
	struct rc_diags diags = { 0 };
	is_int(manifest_load(&fs, NULL, &d, &diags), -1, "bad manifest fails");
	ok(d == keep, "ret untouched on failure");
	is_int(diags.n, 1, "one diagnostic");
	if (diags.n) {
		is_str(diags.v[0].file, "x.yaml", "diag file");
		is_int(diags.v[0].line, 1, "diag line");
		is_int(diags.v[0].col, 7, "diag col");
	}
	rc_diags_release(&diags);
	struct source_files empty = { NULL, 0, NULL };
	d = NULL;
	is_int(manifest_load(&empty, NULL, &d, &diags), 0, "no manifests: an empty desired state");
	if (d)
		ok(d->nunits == 0 && str_eq(d->settings.project, "reconciler"), "defaults when there is nothing");
	rc_desired_free(d);
}

/* Capabilities: one canonical name per value before any check; what was valid keeps its spec. */
static void test_capabilities(void)
{
#define CAP_SET "kind: Settings\npolicy: {allow_cap_add: [%s]}\n---\n" \
		"kind: Service\nname: x\nimage: x:1\ncap_add: [%s]\n"
	char *a = xasprintf(CAP_SET, "NET_RAW, CHOWN", "NET_RAW, CHOWN");
	char *b = xasprintf(CAP_SET, "\" cap_net_raw \", Cap_Chown", "CAP_NET_RAW, \"chown \"");
	struct rc_desired *da = load1(a), *db = load1(b);
	if (ok(da && db, "every spelling of a capability loads")) {
		is_int(db->units[0].ncap_add, 2, "two capabilities");
		is_str(db->units[0].cap_add[0], "CHOWN", "canonical name: trimmed, upper case, no CAP_");
		is_str(db->units[0].cap_add[1], "NET_RAW", "sorted");
		is_str(db->units[0].hash, da->units[0].hash, "the spelling does not change the hash");
	}
	rc_desired_free(da);
	rc_desired_free(db);
	free(a);
	free(b);
	static const struct {
		const char *allow, *add, *diag;
	} bad[] = {
		{ "CAP_CAP_SYS_ADMIN", "NET_RAW", "2:26: unknown capability 'CAP_CAP_SYS_ADMIN' in 'allow_cap_add'" },
		{ "NET_RAW", "CAP_CAP_SYS_ADMIN", "7:11: unknown capability 'CAP_CAP_SYS_ADMIN' in 'cap_add'" },
		{ "NET_RAW", "cap_sys_admin", "7:11: capability 'SYS_ADMIN' is never allowed" },
		{ "NET_RAW", "NET_RAWW", "7:11: unknown capability 'NET_RAWW' in 'cap_add' (did you mean 'NET_RAW'?)" },
		{ "' CAP_SYS_PTRACE'", "NET_RAW", "2:26: capability 'SYS_PTRACE' can never be allowed" },
		{ "cap_all", "NET_RAW", "2:26: capability 'ALL' can never be allowed" },
		{ "NET_RAW", "KILL", "7:11: capability 'KILL' is not allowed by policy (Settings policy.allow_cap_add)" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *m = xasprintf(CAP_SET, bad[i].allow, bad[i].add);
		is_str(load_fails(m), bad[i].diag, "allow_cap_add [%s], cap_add [%s]", bad[i].allow, bad[i].add);
		free(m);
	}
#undef CAP_SET
}

/*
 * Secrets are read with open_private(): a symbolic link (even to another 0600
 * file of ours), a FIFO, a directory or another uid's file is refused at the
 * position naming the secret, and a FIFO does not block the load.
 */
#define SECRET_SVC "kind: Service\nname: db\nimage: x:1\nsecrets: [db_password]\n"

/* Load SECRET_SVC with sdir (and refused); 0 with the digest, or -1 with the first "line:col: msg". */
static int secret_load(const char *sdir, const char *refused, char out[512])
{
	char *text = xstrdup(SECRET_SVC);
	struct source_file f = { (char *)"m.yaml", text, strlen(text) };
	struct source_files fs = { &f, 1, NULL };
	struct manifest_opts o = { .secrets_dir = sdir, .secrets_dir_refused = refused };
	struct rc_desired *d = NULL;
	struct rc_diags diags = { 0 };
	int r = manifest_load(&fs, &o, &d, &diags);
	out[0] = '\0';
	if (r == 0 && d->nunits == 1 && d->units[0].nsecrets == 1)
		snprintf(out, 512, "%s", d->units[0].secrets[0].digest);
	else if (r < 0 && diags.n)
		snprintf(out, 512, "%d:%d: %s", diags.v[0].line, diags.v[0].col, diags.v[0].msg);
	rc_desired_free(d);
	rc_diags_release(&diags);
	free(text);
	return r;
}

static void test_secret_files(void)
{
	char *sdir = xasprintf("%s/hostile", secrets_dir);
	char *path = xasprintf("%s/db_password", sdir);
	char *other = xasprintf("%s/db_password", secrets_dir);  /* a 0600 file of ours, elsewhere */
	char got[512], dg[RC_HASH_HEX_LEN + 1], *want;
	mkdir(sdir, 0700);
	struct rc_err err;

	/* a regular file: the digest of its content, as before */
	if (write_file_atomic(path, "s3cret", 6, 0600, &err) < 0)
		die("%s", err.msg);
	is_int(secret_load(sdir, NULL, got), 0, "a regular 0600 secret loads");
	keyed_digest(sdir, "s3cret", dg);
	is_str(got, dg, "its digest is the digest of its content");
	const char *pairs[] = { "m.yaml", SECRET_SVC, NULL };
	struct rc_desired *d = load_v(pairs, sdir);

	/* a symbolic link to another 0600 file of ours, with the same content */
	unlink(path);
	if (symlink(other, path) < 0)
		die("symlink");
	is_int(secret_load(sdir, NULL, got), -1, "a symbolic link to a 0600 file is refused");
	want = xasprintf("4:11: secret 'db_password': '%s' is a symbolic link: secrets are never read through one "
			 "(put the file itself there, mode 0600)", path);
	is_str(got, want, "at the position naming the secret, saying why");
	free(want);
	const char *name = NULL;
	ok(d && !manifest_secrets_current(d, &name) && str_eq(name, "db_password"),
	   "a secret replaced by a link since the load is not current");
	rc_desired_free(d);
	unlink(path);

	/* a FIFO: refused without blocking (the test would hang here) */
	if (mkfifo(path, 0600) < 0)
		die("mkfifo");
	is_int(secret_load(sdir, NULL, got), -1, "a FIFO is refused");
	want = xasprintf("4:11: secret 'db_password': '%s' is not a regular file (a FIFO)", path);
	is_str(got, want, "and named");
	free(want);
	unlink(path);

	/* a directory */
	mkdir(path, 0700);
	is_int(secret_load(sdir, NULL, got), -1, "a directory is refused");
	want = xasprintf("4:11: secret 'db_password': '%s' is not a regular file (a directory)", path);
	is_str(got, want, "and named");
	free(want);
	rmdir(path);

	/* another uid's file (root only: chown) */
	if (write_file_atomic(path, "s3cret", 6, 0600, &err) < 0)
		die("%s", err.msg);
	if (geteuid() == 0 && chown(path, 65534, 65534) == 0) {
		is_int(secret_load(sdir, NULL, got), -1, "another uid's file is refused");
		want = xasprintf("4:11: secret 'db_password': '%s' is owned by uid 65534, not the state directory's "
				 "owner (uid 0)", path);
		is_str(got, want, "and named");
		free(want);
	} else {
		ok(1, "# skip another uid's file: needs root");
		ok(1, "# skip another uid's file: needs root");
	}
	unlink(path);

	/* the secrets directory refused (state_check_secrets()): every reference says why */
	is_int(secret_load(sdir, "state directory 'X' is writable by group or others (mode 0777): chmod 0700 X", got),
	       -1, "a refused secrets directory is not read");
	is_str(got, "4:11: secret 'db_password': state directory 'X' is writable by group or others (mode 0777): "
	       "chmod 0700 X", "each secret says why");
	rmdir(sdir);
	free(other);
	free(path);
	free(sdir);
}
#undef SECRET_SVC

/* Bind roots never hold, are or lie inside the state directory (the secrets directory's parent). */
static void test_bind_roots_state_dir(void)
{
	char *sdir = xasprintf("%s/state/secrets", secrets_dir);
	static const struct {
		const char *root_rel, *verb;
	} cases[] = { { "", "holds" }, { "/state", "is" }, { "/state/x", "lies inside" } };
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *m = xasprintf("kind: Settings\npolicy: {bind_roots: [%s%s]}\n", secrets_dir, cases[i].root_rel);
		const char *pairs[] = { "m.yaml", m, NULL };
		struct source_file f = { (char *)"m.yaml", m, strlen(m) };
		struct source_files fs = { &f, 1, NULL };
		struct manifest_opts o = { .secrets_dir = sdir };
		struct rc_desired *d = NULL;
		struct rc_diags diags = { 0 };
		is_int(manifest_load(&fs, &o, &d, &diags), -1, "bind root %s%s refused", secrets_dir, cases[i].root_rel);
		char *want = xasprintf("bind root '%s%s' %s the state directory '%s/state' and can never be allowed",
				       secrets_dir, cases[i].root_rel, cases[i].verb, secrets_dir);
		is_str(diags.n ? diags.v[0].msg : "", want, "and says why");
		free(want);
		rc_diags_release(&diags);
		rc_desired_free(d);
		/* without a secrets directory the loader cannot know the state directory */
		d = load_v(pairs, NULL);
		ok(d != NULL, "without a secrets directory %s%s is accepted", secrets_dir, cases[i].root_rel);
		rc_desired_free(d);
		free(m);
	}
	char *m = xasprintf("kind: Settings\npolicy: {bind_roots: [%s/srv]}\n", secrets_dir);
	const char *pairs[] = { "m.yaml", m, NULL };
	struct rc_desired *d = load_v(pairs, sdir);
	ok(d != NULL, "a root beside the state directory is fine");
	rc_desired_free(d);
	free(m);
	free(sdir);
}

/* Image references: the engine's grammar (distribution/reference), so that
 * what validates is what a container create accepts. */
static void test_image_refs(void)
{
	char d64[65], d96[97], d128[129];
	memset(d64, 'a', 64), d64[64] = '\0';
	memset(d96, '0', 96), d96[96] = '\0';
	memset(d128, 'f', 128), d128[128] = '\0';
	char *long_ok = xasprintf("%0237d", 0), *long_bad = xasprintf("%0238d", 0);
	char *long_path_ok = xasprintf("a/%0243d", 0), *long_path_bad = xasprintf("a/%0244d", 0);
	char *long_reg_bad = xasprintf("r.io/%0251d", 0), *tag128 = xasprintf("app:%0128d", 0);
	char *tag129 = xasprintf("app:%0129d", 0);
	char *dig = xasprintf("app:1@sha256:%s", d64), *dig384 = xasprintf("app@sha384:%s", d96);
	char *dig512 = xasprintf("r.io:5000/a/b:t@sha512:%s", d128), *dig_upper = xasprintf("app@sha256:%.63sA", d64);
	char *dig_md5 = xasprintf("app@md5:%.32s", d64), *dig_short = xasprintf("app@sha256:%.63s", d64);
	const struct {
		const char *image;
		const char *why;   /* NULL: valid */
	} cases[] = {
		{ "postgres", NULL },
		{ "postgres:15", NULL },
		{ "library/postgres:15.2-alpine", NULL },
		{ "registry.Example.com:5000/team/app:V1", NULL },
		{ "localhost/x", NULL },
		{ "localhost:5000/x/y", NULL },
		{ "Registry/x", NULL },
		{ "[::1]:5000/x", NULL },
		{ "10.0.0.1:5000/x", NULL },
		{ "a__b-c--d/e_f.g:_tag", NULL },
		{ long_ok, NULL },
		{ long_path_ok, NULL },
		{ tag128, NULL },
		{ dig, NULL },
		{ dig384, NULL },
		{ dig512, NULL },
		{ "Postgres:15", "repository names must be lower case" },
		{ "app:1@sha256:zz", "a digest is sha256: and 64 lower-case hex digits (or sha384: and 96, sha512: and 128)" },
		{ dig_upper, "a digest is sha256: and 64 lower-case hex digits (or sha384: and 96, sha512: and 128)" },
		{ dig_short, "a digest is sha256: and 64 lower-case hex digits (or sha384: and 96, sha512: and 128)" },
		{ dig_md5, "a digest is sha256: and 64 lower-case hex digits (or sha384: and 96, sha512: and 128)" },
		{ long_bad, "the repository name is longer than 255 characters (counting the 'docker.io/' and 'library/' the engine adds)" },
		{ long_path_bad, "the repository name is longer than 255 characters (counting the 'docker.io/' and 'library/' the engine adds)" },
		{ long_reg_bad, "the repository name is longer than 255 characters" },
		{ tag129, "a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'" },
		{ "app:.x", "a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'" },
		{ "app:", "a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'" },
		{ "a:b:c", "a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'" },
		{ "a..b", "each part of the repository name is lower-case letters and digits, separated by one '.', one or two '_' or any number of '-'" },
		{ "a___b", "each part of the repository name is lower-case letters and digits, separated by one '.', one or two '_' or any number of '-'" },
		{ "a-", "each part of the repository name is lower-case letters and digits, separated by one '.', one or two '_' or any number of '-'" },
		{ "a//b", "each part of the repository name is lower-case letters and digits, separated by one '.', one or two '_' or any number of '-'" },
		{ "r.io/a/", "each part of the repository name is lower-case letters and digits, separated by one '.', one or two '_' or any number of '-'" },
		{ "my_reg.com/x", "the registry is not a host name, an IPv4 address or [IPv6], with an optional :port" },
		{ "reg.io:/x", "the registry is not a host name, an IPv4 address or [IPv6], with an optional :port" },
		{ "-reg.io/x", "the registry is not a host name, an IPv4 address or [IPv6], with an optional :port" },
		{ "r.io/", "the repository name is empty" },
		{ d64, "64 hex digits are an image ID, not a reference" },
		{ "a b", "it is empty or contains spaces" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *m = xasprintf("kind: Service\nname: x\nimage: '%s'\n", cases[i].image);
		const char *got = load_fails(m);
		if (!cases[i].why) {
			ok(got == NULL, "image '%.40s' is valid", cases[i].image);
			if (got)
				diag("%s", got);
		} else {
			char *want = strlen(cases[i].image) > 80
					     ? xasprintf("3:8: invalid image '%.60s...': %s", cases[i].image, cases[i].why)
					     : xasprintf("3:8: invalid image '%s': %s", cases[i].image, cases[i].why);
			is_str(got, want, "image '%.40s': %s", cases[i].image, cases[i].why);
			free(want);
		}
		free(m);
	}
	free(long_ok), free(long_bad), free(long_path_ok), free(long_path_bad), free(long_reg_bad);
	free(tag128), free(tag129), free(dig), free(dig384), free(dig512), free(dig_upper), free(dig_md5), free(dig_short);
}

/* Subnet pools and network subnets: private unicast ranges only. */
static void test_subnet_ranges(void)
{
	static const struct {
		const char *cidr;
		bool ok;
	} cases[] = {
		{ "10.0.0.0/8", true }, { "10.210.0.0/16", true }, { "172.16.0.0/12", true },
		{ "172.31.255.0/24", true }, { "192.168.0.0/16", true }, { "192.168.7.0/29", true },
		{ "100.64.0.0/10", true }, { "100.127.0.0/24", true },
		{ "0.0.0.0/0", false }, { "0.0.0.0/8", false }, { "127.0.0.0/20", false }, { "224.0.0.0/20", false },
		{ "239.255.0.0/16", false }, { "240.0.0.0/4", false }, { "169.254.0.0/16", false },
		{ "8.8.8.0/24", false }, { "10.0.0.0/7", false }, { "172.32.0.0/16", false },
		{ "172.0.0.0/11", false }, { "192.169.0.0/16", false }, { "100.128.0.0/16", false },
		{ "100.0.0.0/8", false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *pool = xasprintf("kind: Settings\nsubnets: {pool: %s, size: 30}\n", cases[i].cidr);
		char *net = xasprintf("kind: Network\nname: n\nsubnet: %s\n", cases[i].cidr);
		const char *got = load_fails(pool);
		if (cases[i].ok) {
			ok(got == NULL, "pool %s is accepted", cases[i].cidr);
		} else {
			char *want = xasprintf("2:17: subnet '%s' is not inside a private range: 'pool' must lie within "
					       "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10", cases[i].cidr);
			is_str(got, want, "pool %s is refused", cases[i].cidr);
			free(want);
		}
		got = load_fails(net);
		if (cases[i].ok) {
			ok(got == NULL || strstr(got, "too small") || strstr(got, "overlaps"), "network subnet %s is accepted",
			   cases[i].cidr);
		} else {
			char *want = xasprintf("3:9: subnet '%s' is not inside a private range: 'subnet' must lie within "
					       "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10", cases[i].cidr);
			is_str(got, want, "network subnet %s is refused", cases[i].cidr);
			free(want);
		}
		free(pool);
		free(net);
	}
}

/* Every diagnostic of a load of text that must fail, formatted; NULL when it loads. */
static char *load_diags(const char *text)
{
	struct source_file f = { (char *)"m.yaml", (char *)(uintptr_t)text, strlen(text) };
	struct source_files fs = { &f, 1, NULL };
	struct rc_desired *d = NULL;
	struct rc_diags diags = { 0 };
	char *r = NULL;
	if (manifest_load(&fs, NULL, &d, &diags) < 0) {
		struct buf b = BUF_INIT;
		rc_diags_format(&diags, &b);
		r = buf_detach(&b, NULL);
	}
	rc_desired_free(d);
	rc_diags_release(&diags);
	return r;
}

/*
 * A large input (quick, but far past where a quadratic check shows): the
 * hashed and sorted checks must find exactly what the old linear scans did.
 * Correctness only; timings live in tests/bench/load.sh.
 */
static void test_large(void)
{
	enum { ENV = 5000, CHAIN = 2000, CUSTOMERS = 2000, NETS = 1000, DEPS = 30 };
	struct buf b = BUF_INIT;
	buf_adds(&b, "kind: Settings\nports: {range: 1000-60000}\nsubnets: {pool: 10.0.0.0/8, size: 29}\n");
	buf_adds(&b, "---\nkind: Service\nname: big\nimage: app:1\nnetworks: [n0000]\nenv:\n");
	for (int i = ENV - 1; i >= 0; i--)
		buf_addf(&b, "  K%05d: v%d\n", i, i);
	for (int i = 0; i < CHAIN; i++) {   /* s0001 depends on s0000, ... */
		buf_addf(&b, "---\nkind: Service\nname: s%04d\nimage: app:1\n", i);
		if (i)
			buf_addf(&b, "depends_on: [s%04d]\n", i - 1);
	}
	for (int i = 0; i < NETS; i++)
		buf_addf(&b, "---\nkind: Network\nname: n%04d\nsubnet: 172.%d.%d.0/24\n", i, 16 + i / 256, i % 256);
	buf_adds(&b, "---\nkind: Template\nname: t\nservices:\n  app:\n    image: app:1\n    port: 80\n"
		     "    networks: [n0000]\n    depends_on:\n");
	for (int i = 0; i < DEPS; i++)   /* every sibling three times, and the shared 'big' */
		buf_addf(&b, "      - w%03d\n      - big\n", i % (DEPS / 3));
	for (int i = 0; i < DEPS / 3; i++)
		buf_addf(&b, "  w%03d: {image: app:1}\n", i);
	for (int i = 0; i < CUSTOMERS; i++)
		buf_addf(&b, "---\nkind: Customer\nid: c%04d\ntemplate: t\nenv: {X: '%d'}\n", i, i);
	char *good = buf_detach(&b, NULL);

	struct rc_desired *d = load1(good);
	if (ok(d != NULL, "a large set loads")) {
		is_int(d->nunits, 1 + CHAIN + CUSTOMERS * (1 + DEPS / 3), "every unit is there");
		is_int(d->nnetworks, NETS + 2 * CUSTOMERS, "every network is there (a customer's own and its link to n0000)");
		const struct rc_unit *big = NULL, *app = NULL, *last = NULL;
		for (size_t i = 0; i < d->nunits; i++) {
			if (strcmp(d->units[i].id, "big") == 0)
				big = &d->units[i];
			if (strcmp(d->units[i].id, "c1999/app") == 0)
				app = &d->units[i];
			if (strcmp(d->units[i].id, "s1999") == 0)
				last = &d->units[i];
		}
		if (ok(big && big->nenv == ENV, "%d env keys", ENV))
			ok(strcmp(big->env[0].key, "K00000") == 0 && strcmp(big->env[ENV - 1].value, "v4999") == 0,
			   "sorted, with their values");
		if (ok(app != NULL, "c1999/app exists")) {
			is_int(app->ndeps, DEPS / 3 + 1, "a dependency named three times counts once");
			ok(app->nenv == 1 && strcmp(app->env[0].value, "1999") == 0, "the customer's env");
		}
		ok(last && last->ndeps == 1 && strcmp(last->deps[0].unit, "s1998") == 0, "the chain's last link");
		size_t *order = NULL;
		struct rc_err err;
		if (ok(rc_desired_order(d, &order, &err) == 0, "a %d-service chain has an order", CHAIN)) {
			size_t s0 = SIZE_MAX, s1999 = SIZE_MAX;
			for (size_t i = 0; i < d->nunits; i++) {
				if (strcmp(d->units[order[i]].id, "s0000") == 0)
					s0 = i;
				if (strcmp(d->units[order[i]].id, "s1999") == 0)
					s1999 = i;
			}
			ok(s0 < s1999, "dependencies first");
		}
		free(order);
	}
	rc_desired_free(d);

	/* the same, broken at its far end: checks of one document */
	char *bad = xasprintf("%s---\nkind: Service\nname: late\nimage: app:1\nenv:\n  K1: a\n  K2: b\n  K1: c\n"
			      "ports: ['8080:80', '8081:80']\n", good);
	char *dg = load_diags(bad);
	if (ok(dg != NULL, "the broken large set fails")) {
		ok(strstr(dg, ": duplicate key 'K1' (first at line ") != NULL, "the duplicate key, naming the first");
		ok(strstr(dg, ": container port 80/tcp is published twice\n") != NULL, "the port published twice");
	}
	free(dg);
	free(bad);
	/* and checks across documents (made when nothing else is wrong) */
	bad = xasprintf("%s---\nkind: Network\nname: wide\nsubnet: 172.16.0.0/12\n"
			"---\nkind: Network\nname: again\nsubnet: 172.19.231.0/24\n", good);
	dg = load_diags(bad);
	if (ok(dg != NULL, "overlapping subnets among %d networks fail", NETS)) {
		ok(strstr(dg, ": subnet 172.16.0.0/12 of network 'wide' overlaps subnet 172.16.0.0/24 of network 'n0000'\n") != NULL,
		   "a wide subnet names the earliest network it overlaps");
		ok(strstr(dg, ": subnet 172.19.231.0/24 of network 'again' overlaps subnet 172.19.231.0/24 of network 'n0999'\n") != NULL,
		   "an equal subnet names the earlier one, not the wider later one");
		ok(strstr(dg, "\ninvalid") == NULL && strstr(dg, "overlaps") && !strstr(strstr(strstr(dg, "overlaps") + 1, "overlaps") + 1, "overlaps"),
		   "two networks, two diagnostics");
	}
	free(dg);
	free(bad);

	/* a cycle through the whole chain is found once, printed whole */
	char *cyc = replace(good, "name: s0000\nimage: app:1\n", "name: s0000\nimage: app:1\ndepends_on: [s1999]\n");
	dg = load_diags(cyc);
	if (ok(dg != NULL, "a %d-service cycle fails", CHAIN)) {
		ok(strstr(dg, "dependency cycle: s0000 -> s1999 -> s1998 -> ") != NULL && strstr(dg, " -> s0001 -> s0000\n"),
		   "the cycle, printed whole");
		const char *first = strstr(dg, "dependency cycle");
		ok(first && !strstr(first + 1, "dependency cycle"), "once");
	}
	free(dg);
	free(cyc);
	free(good);
}

/* build: the loader asks manifest_opts.build_tree for the context's tree id (in this unit test a fake answers: the id
 * is made from the context's name), makes the tag from it, and puts both in the spec. */
static int stub_calls;
static int stub_tree(void *ctx, const char *context, const char *dockerfile, char ret[41], struct rc_err *err)
{
	(void)ctx;
	stub_calls++;
	if (strcmp(context, "gone") == 0)
		return rc_errf(err, "no directory 'gone' in commit 0123456789ab");
	if (strcmp(dockerfile, "Dockerfile") != 0 && strcmp(dockerfile, "docker/prod.Dockerfile") != 0)
		return rc_errf(err, "no file '%s'", dockerfile);
	snprintf(ret, 41, "%s", *context ? "abcdef0123456789abcdef0123456789abcdef01"
					  : "0000000000000000000000000000000000000000");
	return 0;
}

static struct rc_desired *load_build(const char *text, struct buf *diags_out)
{
	_cleanup_free_ char *path = xstrdup("m.yaml"), *data = xstrdup(text);
	struct source_file file = { .path = path, .data = data, .len = strlen(text) };
	struct source_files f = { .files = &file, .nfiles = 1 };
	struct manifest_opts o = { .build_tree = stub_tree };
	struct rc_desired *d = NULL;
	struct rc_diags diags = { 0 };
	if (manifest_load(&f, &o, &d, &diags) < 0)
		d = NULL;
	rc_diags_format(&diags, diags_out);
	rc_diags_release(&diags);
	return d;
}

static void test_build(void)
{
	struct buf diags = BUF_INIT;
	stub_calls = 0;
	struct rc_desired *d = load_build(
		"kind: Settings\nproject: My_Shop\n---\n"
		"kind: Service\nname: Web_App\nbuild: ./app/\n---\n"
		"kind: Service\nname: api\nbuild: {context: srv, dockerfile: ./docker/prod.Dockerfile, "
		"args: {B: \"2\", A: one}, target: run}\n---\n"
		"kind: Service\nname: root\nbuild: {context: .}\n---\n"
		"kind: Template\nname: t\nservices:\n  w:\n    build: app\n---\n"
		"kind: Customer\nid: c1\ntemplate: t\n---\n"
		"kind: Customer\nid: c2\ntemplate: t\nservices: {w: {image: 'own:1'}}\n", &diags);
	ok(d != NULL, "a set with builds loads");
	if (!d) {
		diag("%s", buf_cstr(&diags));
		buf_release(&diags);
		return;
	}
	is_int(stub_calls, 4, "one tree look-up per service that builds");
	const struct rc_unit *web = rc_desired_unit(d, "Web_App");
	const struct rc_unit *api = rc_desired_unit(d, "api");
	const struct rc_unit *root = rc_desired_unit(d, "root");
	const struct rc_unit *c1 = rc_desired_unit(d, "c1/w"), *c2 = rc_desired_unit(d, "c2/w");
	ok(web && api && root && c1 && c2, "the units");
	if (web && api && root && c1 && c2) {
		is_str(web->image, "my-shop-build-web-app:abcdef012345", "the tag: lower case, one '-' per run of others");
		is_str(web->build->context, "app", "the context normalised");
		ok(strncmp(api->image, "my-shop-build-api:abcdef012345-", 31) == 0 && strlen(api->image) == 39,
		   "options add 8 hex digits: %s", api->image);
		is_str(api->build->dockerfile, "docker/prod.Dockerfile", "the dockerfile normalised");
		is_str(api->build->args[0].key, "A", "args sorted");
		is_str(root->image, "my-shop-build-root:000000000000", "the root as the context");
		is_str(c1->image, "my-shop-build-w:abcdef012345", "a template service's tag: one for all customers");
		ok(c2->build == NULL && strcmp(c2->image, "own:1") == 0, "a customer's image replaces the build");
		struct buf spec = BUF_INIT;
		spec_canonical(api, true, &spec);
		ok(strstr(spec.data, "build.tree=abcdef0123456789abcdef0123456789abcdef01\n") &&
		   strstr(spec.data, "build.context=srv\n") && strstr(spec.data, "build.target=run\n") &&
		   strstr(spec.data, "build.args.A=one\nbuild.args.B=2\n") &&
		   strstr(spec.data, "build.dockerfile=docker/prod.Dockerfile\n"), "the spec says what it is built from");
		buf_reset(&spec);
		spec_canonical(root, true, &spec);
		ok(strstr(spec.data, "build.context=.\n") != NULL, "the root's context is '.'");
		buf_release(&spec);
	}
	rc_desired_free(d);
	buf_reset(&diags);
	d = load_build("kind: Service\nname: a\nbuild: {context: gone}\n", &diags);
	ok(!d && strstr(buf_cstr(&diags), "m.yaml:3:18: build context 'gone': no directory 'gone' in commit"),
	   "the look-up's error at the context: %s", buf_cstr(&diags));
	buf_release(&diags);
}

int main(void)
{
	strcpy(secrets_dir, "/tmp/rc-t-manifest.XXXXXX");
	if (!mkdtemp(secrets_dir))
		die("mkdtemp");
	write_secret("db_password", "s3cret");
	fixture = read_fixture();
	test_example();
	test_stability();
	test_mutations();
	test_no_secrets_dir();
	test_secrets_current();
	test_spec_diff();
	test_escaping();
	test_stop_signal();
	test_failure_contract();
	test_capabilities();
	test_bind_roots_state_dir();
	test_secret_files();
	test_large();
	test_image_refs();
	test_subnet_ranges();
	test_build();
	free(fixture);
	static const char *const made[] = { "db_password", ".digest-key", "zed/tok", "zed" };
	for (size_t i = 0; i < ARRAY_SIZE(made); i++) {
		char *p = xasprintf("%s/%s", secrets_dir, made[i]);
		if (unlink(p) < 0)
			rmdir(p);
		free(p);
	}
	rmdir(secrets_dir);
	return done_testing();
}
