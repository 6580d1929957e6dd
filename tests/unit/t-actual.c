/*
 * Unit tests for actual.c: inspect replies recorded from the real engine
 * (the JSON files in tests/unit/data/actual, made by `reconciler apply` of
 * tests/unit/data/actual/manifests) read back as exactly the canonical text
 * of the unit they were made from; every field changed in a container shows
 * up as exactly that key in spec_diff(expected, actual).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actual.h"
#include "buf.h"
#include "docker.h"
#include "manifest.h"
#include "source.h"
#include "spec.h"
#include "tap.h"
#include "util.h"

#define APP_PORT 23900   /* the host port `port: auto` got when the fixtures were recorded */

static const char *top(void)
{
	const char *t = getenv("RC_TOP");
	return t && *t ? t : ".";
}

static char *slurp(const char *name, size_t *len)
{
	_cleanup_free_ char *path = xasprintf("%s/tests/unit/data/actual/%s", top(), name);
	char *data = NULL;
	struct rc_err err;
	if (read_file(path, 1 << 20, &data, len, &err) < 0)
		die("%s", err.msg);
	return data;
}

static struct dk_container *load_ct(const char *name)
{
	size_t len;
	_cleanup_free_ char *json = slurp(name, &len);
	struct dk_container *ct = NULL;
	struct rc_err err;
	if (dk_decode_container(json, len, &ct, &err) < 0)
		die("%s: %s", name, err.msg);
	return ct;
}

static struct dk_image *image;
static struct rc_desired *desired;
static char secrets_dir[] = "/tmp/t-actual.XXXXXX";

static void load_desired(void)
{
	if (!mkdtemp(secrets_dir))
		die("mkdtemp");
	_cleanup_free_ char *sp = xasprintf("%s/db_password", secrets_dir);
	_cleanup_free_ char *kp = xasprintf("%s/.digest-key", secrets_dir);
	struct rc_err err;
	if (write_file_atomic(sp, "s3cret", 6, 0600, &err) < 0)
		die("%s", err.msg);
	/* the key the recorded db.json's secret digest was made with (seckey.h) */
	if (write_file_atomic(kp, "golden-key-0123456789abcdefghijk", 32, 0600, &err) < 0)
		die("%s", err.msg);
	_cleanup_free_ char *dir = xasprintf("%s/tests/unit/data/actual/manifests", top());
	struct source_files files = { 0 };
	if (source_load_dir(dir, &files, &err) < 0)
		die("%s", err.msg);
	struct manifest_opts mo = { .secrets_dir = secrets_dir };
	struct rc_diags diags = { 0 };
	if (manifest_load(&files, &mo, &desired, &diags) < 0)
		die("fixture manifests do not load");
	source_files_release(&files);
	struct rc_unit *app = rc_desired_unit(desired, "c1/app");
	app->ports[0].host_port = APP_PORT; /* what state_allocate() gave it */
	unlink(sp);
	unlink(kp);
	rmdir(secrets_dir);
}

/* expected (actual_expected) and actual (actual_canonical) texts of ct for unit id */
static void texts(const char *id, const struct dk_container *ct, const struct dk_image *img, struct buf *exp,
		  struct buf *act)
{
	const struct rc_unit *u = rc_desired_unit(desired, id);
	if (!u)
		die("no unit %s", id);
	actual_expected(u, exp);
	struct actual_input in = { .ct = ct, .image = img, .expected = buf_cstr(exp),
				   .links = (const char *const *)u->links, .nlinks = u->nlinks };
	actual_canonical(&in, act);
}

/* The keys that differ, "k1 k2" (sorted), or "" */
static char *diff_keys(const char *id, const struct dk_container *ct, const struct dk_image *img)
{
	struct buf exp = BUF_INIT, act = BUF_INIT, keys = BUF_INIT;
	texts(id, ct, img, &exp, &act);
	struct spec_changes ch;
	spec_diff(buf_cstr(&exp), buf_cstr(&act), &ch);
	for (size_t i = 0; i < ch.n; i++)
		buf_addf(&keys, "%s%s", i ? " " : "", ch.v[i].key);
	if (ch.n == 0)
		buf_adds(&keys, "");
	spec_changes_release(&ch);
	buf_release(&exp);
	buf_release(&act);
	return buf_detach(&keys, NULL);
}

static void test_fresh(void)
{
	static const struct { const char *file, *unit; } cases[] = {
		{ "db.json", "db" }, { "c1-app.json", "c1/app" }, { "c1-worker.json", "c1/worker" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct dk_container *ct = load_ct(cases[i].file);
		struct buf exp = BUF_INIT, act = BUF_INIT;
		texts(cases[i].unit, ct, image, &exp, &act);
		is_str(buf_cstr(&act), buf_cstr(&exp), "%s: a fresh container reads back as its unit's canonical text",
		       cases[i].unit);
		buf_release(&exp);
		buf_release(&act);
		dk_container_free(ct);
	}
}

static void test_without_image(void)
{
	/* Without the image's config nothing can be subtracted: its env shows up. */
	struct dk_container *ct = load_ct("c1-worker.json");
	_cleanup_free_ char *k = diff_keys("c1/worker", ct, NULL);
	is_str(k, "env.PATH env.PORT", "without the image, the image's env is not subtracted");
	dk_container_free(ct);
}

static void test_recorded_drift(void)
{
	/* recorded after `docker update --memory 64m --memory-swap 128m` and
	 * `docker network disconnect <backend>` */
	struct dk_container *ct = load_ct("c1-app-drifted.json");
	struct buf exp = BUF_INIT, act = BUF_INIT;
	texts("c1/app", ct, image, &exp, &act);
	struct spec_changes ch;
	spec_diff(buf_cstr(&exp), buf_cstr(&act), &ch);
	is_int(ch.n, 2, "recorded drift: two fields");
	if (ch.n == 2) {
		is_str(ch.v[0].key, "memory", "memory changed");
		is_str(ch.v[0].before, "50331648", "expected 48 MiB");
		is_str(ch.v[0].after, "67108864", "actual 64 MiB");
		is_str(ch.v[1].key, "networks.1", "second network");
		is_str(ch.v[1].before, "rtdriftdev-c1-via-backend", "expected its link to the backend");
		ok(ch.v[1].after == NULL, "actual: not connected");
	}
	spec_changes_release(&ch);
	buf_release(&exp);
	buf_release(&act);
	dk_container_free(ct);
}

/* ---- one mutation per field ---------------------------------------------------- */

static void set_str(char **p, const char *v)
{
	free(*p);
	*p = v ? xstrdup(v) : NULL;
}

static void push_str(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(char *));
	(*v)[(*n)++] = xstrdup(s);
}

static void set_env(struct dk_container *ct, const char *key, const char *pair)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < ct->nenv; i++)
		if (strncmp(ct->env[i], key, kl) == 0 && ct->env[i][kl] == '=') {
			free(ct->env[i]);
			if (pair) {
				ct->env[i] = xstrdup(pair);
			} else {
				memmove(&ct->env[i], &ct->env[i + 1], (ct->nenv - i - 1) * sizeof(char *));
				ct->nenv--;
			}
			return;
		}
	if (pair)
		push_str(&ct->env, &ct->nenv, pair);
}

static struct dk_mount_info *mount_at(struct dk_container *ct, const char *target)
{
	for (size_t i = 0; i < ct->nmounts; i++)
		if (strcmp(ct->mounts[i].target, target) == 0)
			return &ct->mounts[i];
	die("no mount at %s", target);
}

static void m_image(struct dk_container *ct) { set_str(&ct->image, "reconciler-test/app:2"); }
static void m_cmd(struct dk_container *ct) { set_str(&ct->cmd[1], "--other"); }
static void m_entrypoint(struct dk_container *ct) { push_str(&ct->entrypoint, &ct->nentrypoint, "/bin/sh"); }
static void m_env_value(struct dk_container *ct) { set_env(ct, "GREETING", "GREETING=bye"); }
static void m_env_added(struct dk_container *ct) { set_env(ct, "EXTRA", "EXTRA=1"); }
static void m_env_removed(struct dk_container *ct) { set_env(ct, "MODE", NULL); }
static void m_env_image_key(struct dk_container *ct) { set_env(ct, "PORT", "PORT=9090"); }
static void m_user(struct dk_container *ct) { set_str(&ct->fields[SK_USER].str, "root"); }
static void m_workdir(struct dk_container *ct) { set_str(&ct->fields[SK_WORKDIR].str, "/"); }
static void m_stop_grace(struct dk_container *ct) { ct->stop_timeout_s = 30; }
static void m_stop_signal(struct dk_container *ct) { set_str(&ct->fields[SK_STOP_SIGNAL].str, "SIGINT"); }
static void m_cpus(struct dk_container *ct) { ct->nano_cpus = 1000000000; }
static void m_memory(struct dk_container *ct) { ct->memory = 64 << 20; }
static void m_reservation(struct dk_container *ct) { ct->memory_reservation = 0; }
static void m_pids(struct dk_container *ct) { ct->pids_limit = 0; }
static void m_restart(struct dk_container *ct) { set_str(&ct->restart_policy, "always"); }
static void m_privileged(struct dk_container *ct) { ct->fields[SK_PRIVILEGED].set = true; ct->fields[SK_PRIVILEGED].num = 1; }
static void m_pid(struct dk_container *ct) { set_str(&ct->pid_mode, "host"); }
static void m_ipc(struct dk_container *ct) { set_str(&ct->ipc_mode, "host"); }
static void m_cap(struct dk_container *ct) { push_str(&ct->cap_add, &ct->ncap_add, "NET_ADMIN"); }
static void m_device(struct dk_container *ct) { push_str(&ct->devices, &ct->ndevices, "/dev/fuse:/dev/fuse:rwm"); }
static void m_network_added(struct dk_container *ct)
{
	ct->networks = xrealloc(ct->networks, (ct->nnetworks + 1) * sizeof(*ct->networks));
	memset(&ct->networks[ct->nnetworks], 0, sizeof(*ct->networks));
	ct->networks[ct->nnetworks++].name = xstrdup("zz-other");
}
static void m_link_joined(struct dk_container *ct)
{
	ct->networks = xrealloc(ct->networks, (ct->nnetworks + 1) * sizeof(*ct->networks));
	memset(&ct->networks[ct->nnetworks], 0, sizeof(*ct->networks));
	ct->networks[ct->nnetworks++].name = xstrdup("rtdriftdev-c1-via-backend");
}
static void m_label_value(struct dk_container *ct)
{
	for (size_t i = 0; i < ct->nlabels; i++)
		if (strcmp(ct->labels[i].key, "team") == 0)
			set_str(&ct->labels[i].value, "ops");
}
static void m_label_foreign(struct dk_container *ct)
{
	ct->labels = xrealloc(ct->labels, (ct->nlabels + 1) * sizeof(*ct->labels));
	ct->labels[ct->nlabels].key = xstrdup("zz.added.by.hand");
	ct->labels[ct->nlabels++].value = xstrdup("1");
}
static void m_port(struct dk_container *ct) { ct->port_bindings[0].host_port = APP_PORT + 5; }
static void m_port_ip(struct dk_container *ct) { set_str(&ct->port_bindings[0].host_ip, "127.0.0.1"); }
static void m_volume(struct dk_container *ct) { set_str(&mount_at(ct, "/data")->source, "other-volume"); }
static void m_volume_ro(struct dk_container *ct) { mount_at(ct, "/data")->read_only = true; }
static void m_secret_gone(struct dk_container *ct)
{
	struct dk_mount_info *m = mount_at(ct, "/run/secrets/db_password");
	set_str(&m->source, "/tmp/not-the-secret");
}
static void m_health_interval(struct dk_container *ct) { ct->health_interval_ns = 5000000000; }
static void m_health_cmd(struct dk_container *ct) { set_str(&ct->health_test[1], "true"); }
static void m_health_off(struct dk_container *ct)
{
	for (size_t i = 0; i < ct->nhealth_test; i++)
		free(ct->health_test[i]);
	ct->nhealth_test = 1;
	ct->health_test[0] = xstrdup("NONE");
}
static void m_http_to_cmd(struct dk_container *ct)
{
	free(ct->health_test[0]);
	ct->health_test[0] = xstrdup("CMD-SHELL");
	push_str(&ct->health_test, &ct->nhealth_test, "true");
}

static void test_mutations(void)
{
	static const struct {
		const char *file, *unit;
		void (*mutate)(struct dk_container *);
		const char *keys;
		const char *what;
	} cases[] = {
		{ "c1-worker.json", "c1/worker", m_image, "image", "image" },
		{ "c1-worker.json", "c1/worker", m_cmd, "command", "command" },
		{ "c1-worker.json", "c1/worker", m_entrypoint, "entrypoint", "entrypoint set by hand" },
		{ "c1-worker.json", "c1/worker", m_env_value, "env.GREETING", "env value" },
		{ "c1-worker.json", "c1/worker", m_env_added, "env.EXTRA", "env added" },
		{ "c1-worker.json", "c1/worker", m_env_removed, "env.MODE", "env removed" },
		{ "c1-worker.json", "c1/worker", m_env_image_key, "env.PORT", "an image env key overridden" },
		{ "c1-worker.json", "c1/worker", m_user, "user", "user" },
		{ "c1-worker.json", "c1/worker", m_workdir, "workdir", "workdir" },
		{ "c1-worker.json", "c1/worker", m_stop_grace, "stop_grace", "stop grace" },
		{ "c1-worker.json", "c1/worker", m_stop_signal, "stop_signal", "stop signal" },
		{ "c1-worker.json", "c1/worker", m_cpus, "cpus", "cpus (docker update)" },
		{ "c1-worker.json", "c1/worker", m_memory, "memory", "memory (docker update)" },
		{ "c1-worker.json", "c1/worker", m_reservation, "memory_reservation", "memory reservation" },
		{ "c1-worker.json", "c1/worker", m_pids, "pids", "pids limit lifted" },
		{ "c1-worker.json", "c1/worker", m_restart, "restart.policy", "restart policy" },
		{ "c1-worker.json", "c1/worker", m_privileged, "privileged", "privileged" },
		{ "c1-worker.json", "c1/worker", m_pid, "pid", "pid host" },
		{ "c1-worker.json", "c1/worker", m_ipc, "ipc", "ipc host" },
		{ "c1-worker.json", "c1/worker", m_cap, "cap_add.NET_ADMIN", "capability added" },
		{ "c1-worker.json", "c1/worker", m_device, "devices.0", "device added" },
		{ "c1-worker.json", "c1/worker", m_network_added, "networks.1", "network connected by hand" },
		{ "db.json", "db", m_link_joined, "", "a shared service on a customer's link network is as it should be" },
		{ "db.json", "db", m_network_added, "networks.1", "but on another network by hand it is not" },
		{ "db.json", "db", m_label_value, "labels.team", "label value" },
		{ "db.json", "db", m_label_foreign, "", "a label we did not set is ignored" },
		{ "db.json", "db", m_volume, "mounts./data", "volume source" },
		{ "db.json", "db", m_volume_ro, "mounts./data", "volume read-only" },
		{ "db.json", "db", m_secret_gone, "mounts./run/secrets/db_password secrets.db_password",
		  "secret mount replaced: the mount and the secret" },
		{ "db.json", "db", m_health_interval, "health.interval", "health interval" },
		{ "db.json", "db", m_health_cmd, "health.cmd", "health command" },
		{ "db.json", "db", m_health_off, "health.cmd health.interval health.retries health.timeout",
		  "health check disabled" },
		{ "c1-app.json", "c1/app", m_port, "ports.8080/tcp", "host port" },
		{ "c1-app.json", "c1/app", m_port_ip, "ports.8080/tcp", "host address" },
		{ "c1-app.json", "c1/app", m_http_to_cmd,
		  "health.cmd health.http health.interval health.port health.retries health.timeout",
		  "http check replaced by a docker check" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct dk_container *ct = load_ct(cases[i].file);
		cases[i].mutate(ct);
		_cleanup_free_ char *k = diff_keys(cases[i].unit, ct, image);
		is_str(k, cases[i].keys, "%s: %s", cases[i].unit, cases[i].what);
		dk_container_free(ct);
	}
}

static void test_expected(void)
{
	const struct rc_unit *u = rc_desired_unit(desired, "c1/app");
	struct buf spec = BUF_INIT, exp = BUF_INIT;
	spec_canonical(u, true, &spec);
	actual_expected(u, &exp);
	ok(strstr(buf_cstr(&spec), "ports.8080/tcp=auto\n") != NULL, "the spec says auto");
	ok(strstr(buf_cstr(&exp), "ports.8080/tcp=23900\n") != NULL, "the expected text has the allocated port");
	ok(u->ports[0].host_auto, "the unit is left as it was");
	buf_release(&spec);
	buf_release(&exp);
}

int main(void)
{
	size_t len;
	_cleanup_free_ char *ij = slurp("image.json", &len);
	struct rc_err err;
	if (dk_decode_image(ij, len, &image, &err) < 0)
		die("%s", err.msg);
	is_int(image->config.nenv, 2, "image config: env parsed");
	is_int(image->config.ncmd, 1, "image config: cmd parsed");
	load_desired();
	test_expected();
	test_fresh();
	test_without_image();
	test_recorded_drift();
	test_mutations();
	rc_desired_free(desired);
	dk_image_free(image);
	return done_testing();
}
