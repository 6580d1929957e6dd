/*
 * docker-live — exercises every operation of docker.h against the real
 * engine (TAP).  Run by tests/t/t0100-docker-client.sh, which exports:
 *   PROJECT            label value put on everything created here
 *   TEST_IMAGE         reconciler-test/app:1
 *   DK_LIVE_PULL_REF   an image in the local registry ($RC_TEST_REGISTRY),
 *                      pushed by the script (a copy of TEST_IMAGE)
 *   RC_TEST_REGISTRY   host:port of the local registry
 * Everything created carries io.reconciler.project=$PROJECT and is removed
 * at the end (the script's cleanup catches what a failure leaves behind).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "docker.h"
#include "tap.h"
#include "unit.h"
#include "util.h"

#define MiB ((int64_t)1 << 20)

static struct dk_client *dc;
static char *project;
static char *name_full, *name_full2, *name_worker, *net_a, *net_b, *vol;
static struct rc_kv proj_label[1];

static bool has_str(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static uint16_t free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("cannot find a free port");
	close(fd);
	return ntohs(a.sin_port);
}

/* ---- events seen so far ---- */

struct seen {
	char *id, *action, *exit_code, *name;
};
static struct seen seen[512];
static size_t nseen;

static bool find_seen(const char *id, const char *action, const char **ret_exit)
{
	for (size_t i = 0; i < nseen; i++)
		if (strcmp(seen[i].id, id) == 0 && strcmp(seen[i].action, action) == 0) {
			if (ret_exit)
				*ret_exit = seen[i].exit_code;
			return true;
		}
	return false;
}

/* Read events until (id, action) was seen or wait_ms passed. */
static bool wait_event(struct dk_events *ev, const char *id, const char *action, int wait_ms,
		       const char **ret_exit)
{
	int64_t deadline = now_ms() + wait_ms;
	while (!find_seen(id, action, ret_exit)) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return false;
		struct dk_event e;
		struct rc_err err = { 0 };
		int r = dk_events_next(ev, (int)left, &e, &err);
		if (r < 0) {
			diag("events: %s", err.msg);
			return false;
		}
		if (r == 0)
			continue;
		if (nseen < ARRAY_SIZE(seen)) {
			const char *x = dk_event_attr(&e, "exitCode"), *n = dk_event_attr(&e, "name");
			seen[nseen].id = xstrdup(e.id);
			seen[nseen].action = xstrdup(e.action);
			seen[nseen].exit_code = x ? xstrdup(x) : NULL;
			seen[nseen].name = n ? xstrdup(n) : NULL;
			nseen++;
		}
		dk_event_release(&e);
	}
	return true;
}

/* The docker CLI for what reconciler never asks the engine (kill, rmi): true when it succeeded. */
static bool docker_cli(const char *verb, const char *arg)
{
	_cleanup_free_ char *cmd = xasprintf("docker %s '%s' >/dev/null", verb, arg);
	return system(cmd) == 0;
}

/* ---- tests ---- */

static void test_system(void)
{
	struct dk_status st;
	struct rc_err err = { 0 };
	ok(dk_ping(dc, &st, &err) == 0 && st.http == 200, "ping answers 200 (%s)", err.msg);
	struct dk_version v = { 0 };
	ok(dk_version(dc, &v, &st, &err) == 0, "version (%s)", err.msg);
	is_str(v.api_version, "1.41", "engine speaks API 1.41");
	ok(v.version && *v.version, "engine version '%s'", v.version ? v.version : "");
	dk_version_release(&v);

	struct dk_client *bad = NULL;
	struct dk_opts o = { .host = "unix:///nonexistent/docker.sock", .timeout_ms = 2000 };
	ok(dk_client_open(&o, &bad, &err) < 0 && strstr(err.msg, "/nonexistent/docker.sock"),
	   "open on a missing socket fails naming it: %s", err.msg);
	o.host = "npipe:////./pipe/docker_engine";
	ok(dk_client_open(&o, &bad, &err) < 0 && strstr(err.msg, "unsupported"),
	   "unsupported host scheme refused: %s", err.msg);
	o.host = "ssh://nonexistent.invalid";  /* ssh:// engines go through an ssh forward (t0805): here it fails */
	ok(dk_client_open(&o, &bad, &err) < 0 && strstr(err.msg, "ssh to nonexistent.invalid failed"),
	   "an ssh:// engine that cannot be reached: ssh's own error: %s", err.msg);
	ok(bad == NULL, "no client returned on failure");
}

static char *image_id(const char *ref)
{
	struct dk_image *img = NULL;
	struct dk_status st;
	struct rc_err err = { 0 };
	if (dk_image_inspect(dc, ref, &img, &st, &err) < 0) {
		diag("%s", err.msg);
		return NULL;
	}
	char *id = xstrdup(img->id);
	dk_image_free(img);
	return id;
}

static void test_image_inspect(const char *test_image)
{
	struct dk_image *img = NULL;
	struct dk_status st;
	struct rc_err err = { 0 };
	ok(dk_image_inspect(dc, test_image, &img, &st, &err) == 0, "image inspect '%s' (%s)", test_image, err.msg);
	if (img) {
		ok(str_startswith(img->id, "sha256:"), "image id is sha256:... (%s)", img->id);
		ok(has_str(img->repo_tags, img->nrepo_tags, test_image), "RepoTags has '%s'", test_image);
		dk_image_free(img);
	}
	img = NULL;
	ok(dk_image_inspect(dc, "reconciler-test/no-such-image:0", &img, &st, &err) < 0 && st.http == 404 &&
	   img == NULL, "missing image: 404 (%s)", err.msg);
}

/* Create a network with a subnet from 10.2xx.y.0/24, trying a few candidates. */
static char *create_network(char *name, bool internal, char *ret_subnet, size_t sz)
{
	struct rc_kv labels[2] = { proj_label[0], { (char *)"test.net", name } };
	for (int i = 0; i < 20; i++) {
		unsigned r = (unsigned)getpid() * 7u + (unsigned)i * 13u + (internal ? 1u : 0u);
		snprintf(ret_subnet, sz, "10.%u.%u.0/24", 200 + r % 50, (r / 50) % 256);
		struct dk_network_spec s = { .name = name, .labels = labels, .nlabels = 2,
					     .internal = internal, .subnet = ret_subnet };
		char *id = NULL;
		struct dk_status st;
		struct rc_err err = { 0 };
		if (dk_network_create(dc, &s, &id, &st, &err) == 0)
			return id;
		diag("network create: %s", err.msg);
		if (st.http == 409 && !strstr(st.message, "overlap"))
			return NULL;
	}
	return NULL;
}

static char subnet_a[32], subnet_b[32];

static void test_networks(void)
{
	struct dk_status st;
	struct rc_err err = { 0 };
	_cleanup_free_ char *ida = create_network(net_a, true, subnet_a, sizeof(subnet_a));
	_cleanup_free_ char *idb = create_network(net_b, false, subnet_b, sizeof(subnet_b));
	ok(ida && idb, "two networks created with labels and subnets");

	struct dk_network_spec dup = { .name = net_a, .labels = proj_label, .nlabels = 1 };
	ok(dk_network_create(dc, &dup, NULL, &st, &err) < 0 && st.http == 409,
	   "same name again: 409 thanks to CheckDuplicate (%s)", st.message);

	char flt[256];
	snprintf(flt, sizeof(flt), RC_LABEL_PROJECT "=%s", project);
	struct dk_filter f[] = { { "label", flt } };
	struct dk_network_list *l = NULL;
	ok(dk_network_list(dc, f, 1, &l, &st, &err) == 0, "network list by label (%s)", err.msg);
	if (l) {
		is_int(l->n, 2, "label filter finds our two networks");
		for (size_t i = 0; i < l->n; i++) {
			const struct dk_network *n = &l->items[i];
			bool is_a = strcmp(n->name, net_a) == 0;
			ok(is_a || strcmp(n->name, net_b) == 0, "listed network '%s' is ours", n->name);
			is_str(dk_label(n->labels, n->nlabels, RC_LABEL_PROJECT), project, "network label");
			is_int(n->internal, is_a, "internal flag of '%s'", n->name);
			ok(n->nsubnets == 1 && strcmp(n->subnets[0], is_a ? subnet_a : subnet_b) == 0,
			   "subnet of '%s'", n->name);
		}
		dk_network_list_free(l);
	}
	struct dk_network *n = NULL;
	ok(dk_network_inspect(dc, net_a, &n, &st, &err) == 0, "network inspect by name (%s)", err.msg);
	if (n) {
		is_str(n->id, ida, "inspect gives the id create returned");
		is_str(n->driver, "bridge", "driver bridge");
		is_str(dk_label(n->labels, n->nlabels, "test.net"), net_a, "second label");
		dk_network_free(n);
	}
	n = NULL;
	ok(dk_network_inspect(dc, "rc-no-such-network-x", &n, &st, &err) < 0 && st.http == 404,
	   "inspect of a missing network: 404");
}

static void test_volumes(void)
{
	struct dk_status st;
	struct rc_err err = { 0 };
	struct rc_kv labels[2] = { proj_label[0], { (char *)"test.vol", (char *)"yes" } };
	ok(dk_volume_create(dc, vol, labels, 2, NULL, &st, &err) == 0 && st.http == 201,
	   "volume create: 201 (%s)", err.msg);
	struct dk_volume *v = NULL;
	ok(dk_volume_inspect(dc, vol, &v, &st, &err) == 0, "volume inspect (%s)", err.msg);
	if (v) {
		is_str(v->name, vol, "volume name");
		is_str(dk_label(v->labels, v->nlabels, "test.vol"), "yes", "volume label");
		is_str(v->driver, "local", "volume driver");
		dk_volume_free(v);
	}
}

static char *id_full, *id_worker;
static uint16_t host_port;
static char bind_dir[4096];

static void test_create(const char *test_image)
{
	struct dk_status st;
	struct rc_err err = { 0 };
	host_port = free_port();
	if (!getcwd(bind_dir, sizeof(bind_dir)))
		die("getcwd");
	const char *entry[] = { "/bin/sh", "-c" };
	const char *cmd[] = { "exec /app/run" };
	struct rc_kv env[] = { { (char *)"FOO", (char *)"bar baz" }, { (char *)"HEALTH", (char *)"ok" } };
	struct rc_kv labels[] = { proj_label[0], { (char *)"test.role", (char *)"full" } };
	struct dk_port ports[] = {
		{ .container_port = 8080, .host_port = host_port, .host_ip = "127.0.0.1" },
		{ .container_port = 9090, .proto = "udp" },
	};
	struct dk_mount mounts[] = {
		{ DK_MOUNT_VOLUME, vol, "/data", false },
		{ DK_MOUNT_BIND, bind_dir, "/host", true },
		{ DK_MOUNT_TMPFS, NULL, "/scratch", false },
	};
	const char *aliases[] = { "web", "web-alias" };
	struct sk_value fields[SK__COUNT] = {
		[SK_USER] = { .set = true, .str = (char *)"0:0" },
		[SK_WORKDIR] = { .set = true, .str = (char *)"/tmp" },
		[SK_STOP_SIGNAL] = { .set = true, .str = (char *)"SIGTERM" },
	};
	struct dk_create_spec s = {
		.name = name_full, .image = test_image,
		.cmd = cmd, .ncmd = 1, .entrypoint = entry, .nentrypoint = 2,
		.env = env, .nenv = 2, .labels = labels, .nlabels = 2,
		.ports = ports, .nports = 2,
		.nano_cpus = 500000000, .memory = 64 * MiB, .memory_reservation = 32 * MiB, .pids_limit = 100,
		.restart_policy = "on-failure", .restart_max_retries = 3,
		.health_cmd = "wget -q -O- http://127.0.0.1:8080/health",
		.health_interval_ns = 500000000, .health_timeout_ns = 2000000000,
		.health_start_period_ns = 1000000, .health_retries = 3,
		.stop_timeout_s = 3, .fields = fields,
		.mounts = mounts, .nmounts = 3,
		.network = net_a, .aliases = aliases, .naliases = 2,
	};
	ok(dk_container_create(dc, &s, &id_full, &st, &err) == 0 && st.http == 201 && id_full,
	   "create with every option: 201 (%s)", err.msg);
	char *id2 = NULL;
	ok(dk_container_create(dc, &s, &id2, &st, &err) < 0 && st.http == 409 && !id2 &&
	   strstr(st.message, "already in use"), "same name again: 409 '%s'", st.message);
	diag("error text: %s", err.msg);

	struct dk_create_spec bad = { .name = name_worker, .image = "reconciler-test/no-such-image:0",
				      .labels = proj_label, .nlabels = 1 };
	ok(dk_container_create(dc, &bad, NULL, &st, &err) < 0 && st.http == 404,
	   "missing image: 404 (%s)", st.message);

	struct dk_create_spec bad2 = s;
	bad2.name = name_worker;
	bad2.memory_reservation = 128 * MiB;
	uint64_t before = dk_stats_get(dc, DK_OP_CREATE);
	ok(dk_container_create(dc, &bad2, NULL, &st, &err) < 0 && strstr(err.msg, "reservation"),
	   "reservation above the limit refused before asking: %s", err.msg);
	is_int(dk_stats_get(dc, DK_OP_CREATE), before, "no request made for it");

	/* a second network joins after create, before start */
	const char *b_alias[] = { "b-alias" };
	ok(dk_network_connect(dc, net_b, name_full, b_alias, 1, &st, &err) == 0 && st.http == 200,
	   "connect to a second network with an alias (%s)", err.msg);

	struct rc_kv wenv[] = { { (char *)"MODE", (char *)"sleep" } };
	struct rc_kv wlabels[] = { proj_label[0], { (char *)"test.role", (char *)"worker" } };
	struct dk_create_spec w = { .name = name_worker, .image = test_image, .env = wenv, .nenv = 1,
				    .labels = wlabels, .nlabels = 2,
				    .health_disable = true };
	ok(dk_container_create(dc, &w, &id_worker, &st, &err) == 0 && id_worker,
	   "create a minimal worker (%s)", err.msg);
}

static void check_inspect_full(const struct dk_container *ct, bool started)
{
	is_str(ct->id, id_full, "inspect: id");
	is_str(ct->name, name_full, "inspect: name without '/'");
	ok(str_startswith(ct->image_id, "sha256:"), "inspect: image id");
	ok(has_str(ct->env, ct->nenv, "FOO=bar baz") && has_str(ct->env, ct->nenv, "HEALTH=ok") &&
	   has_str(ct->env, ct->nenv, "PORT=8080"), "inspect: env, with the image's merged in");
	is_str(dk_label(ct->labels, ct->nlabels, "test.role"), "full", "inspect: our label");
	is_str(dk_label(ct->labels, ct->nlabels, "io.reconciler.test-image"), "1", "inspect: image label merged");
	ok(ct->ncmd == 1 && strcmp(ct->cmd[0], "exec /app/run") == 0, "inspect: cmd");
	ok(ct->nentrypoint == 2 && strcmp(ct->entrypoint[1], "-c") == 0, "inspect: entrypoint");
	is_str(ct->fields[SK_USER].str, "0:0", "inspect: user");
	is_str(ct->fields[SK_WORKDIR].str, "/tmp", "inspect: workdir");
	ok(ct->has_health && ct->nhealth_test == 2 && strcmp(ct->health_test[0], "CMD-SHELL") == 0,
	   "inspect: healthcheck CMD-SHELL");
	is_int(ct->health_interval_ns, 500000000, "inspect: health interval in ns");
	is_int(ct->health_timeout_ns, 2000000000, "inspect: health timeout in ns");
	is_int(ct->health_start_period_ns, 1000000, "inspect: health start period in ns");
	is_int(ct->health_retries, 3, "inspect: health retries");
	ok(has_str(ct->exposed_ports, ct->nexposed_ports, "8080/tcp") &&
	   has_str(ct->exposed_ports, ct->nexposed_ports, "9090/udp"), "inspect: exposed ports");
	is_int(ct->stop_timeout_s, 3, "inspect: stop timeout");
	is_str(ct->fields[SK_STOP_SIGNAL].str, "SIGTERM", "inspect: stop signal");
	is_int(ct->nano_cpus, 500000000, "inspect: NanoCpus");
	is_int(ct->memory, 64 * MiB, "inspect: Memory");
	is_int(ct->memory_reservation, 32 * MiB, "inspect: MemoryReservation");
	is_int(ct->pids_limit, 100, "inspect: PidsLimit");
	is_str(ct->restart_policy, "on-failure", "inspect: restart policy");
	is_int(ct->restart_max_retries, 3, "inspect: max retries");
	ok(ct->nport_bindings == 1 && ct->port_bindings[0].container_port == 8080 &&
	   ct->port_bindings[0].host_port == host_port && str_eq(ct->port_bindings[0].host_ip, "127.0.0.1") &&
	   str_eq(ct->port_bindings[0].proto, "tcp"), "inspect: one port binding 127.0.0.1:%u->8080/tcp", host_port);
	ok(ct->nmounts == 3, "inspect: three mounts (%zu)", ct->nmounts);
	if (ct->nmounts == 3) {
		/* sorted by target: /data, /host, /scratch */
		ok(ct->mounts[0].type == DK_MOUNT_VOLUME && str_eq(ct->mounts[0].source, vol) &&
		   !ct->mounts[0].read_only, "inspect: volume mount");
		ok(ct->mounts[1].type == DK_MOUNT_BIND && str_eq(ct->mounts[1].source, bind_dir) &&
		   ct->mounts[1].read_only, "inspect: read-only bind mount");
		ok(ct->mounts[2].type == DK_MOUNT_TMPFS && str_eq(ct->mounts[2].target, "/scratch"),
		   "inspect: tmpfs mount");
	}
	const struct dk_net_attach *a = dk_container_network(ct, net_a);
	const struct dk_net_attach *b = dk_container_network(ct, net_b);
	ok(a && b && ct->nnetworks == 2, "inspect: on both networks");
	if (a) {
		ok(a->naliases == 2 && strcmp(a->aliases[0], "web") == 0 && strcmp(a->aliases[1], "web-alias") == 0,
		   "inspect: aliases on the first network, short id stripped (%zu)", a->naliases);
		if (started)
			ok(a->ip != NULL, "inspect: an address on the first network (%s)", a->ip ? a->ip : "");
	}
	if (b)
		ok(b->naliases == 1 && strcmp(b->aliases[0], "b-alias") == 0, "inspect: alias on the second network");
}

static void test_inspect_before_start(void)
{
	struct dk_container *ct = NULL;
	struct dk_status st;
	struct rc_err err = { 0 };
	ok(dk_container_inspect(dc, name_full, &ct, &st, &err) == 0, "inspect by name (%s)", err.msg);
	if (!ct)
		return;
	check_inspect_full(ct, false);
	is_str(ct->state_status, "created", "state: created");
	ok(!ct->running && ct->pid == 0, "state: not running");
	dk_container_free(ct);
}

static void test_start(struct dk_events *ev)
{
	struct dk_status st;
	struct rc_err err = { 0 };
	ok(dk_container_start(dc, id_full, &st, &err) == 0 && st.http == 204, "start: 204 (%s)", err.msg);
	ok(dk_container_start(dc, id_full, &st, &err) == 0 && st.http == 304, "start again: 0 with 304");
	ok(dk_container_start(dc, id_worker, &st, &err) == 0 && st.http == 204, "start worker (%s)", err.msg);
	ok(dk_container_start(dc, "rc-no-such-container-x", &st, &err) < 0 && st.http == 404,
	   "start of a missing container: 404 '%s'", st.message);

	ok(wait_event(ev, id_full, "create", 10000, NULL), "events: create seen");
	ok(wait_event(ev, id_full, "start", 10000, NULL), "events: start seen");
	ok(wait_event(ev, id_full, "health_status: healthy", 30000, NULL), "events: health_status: healthy seen");

	struct dk_container *ct = NULL;
	ok(dk_container_inspect(dc, id_full, &ct, &st, &err) == 0, "inspect after start (%s)", err.msg);
	if (!ct)
		return;
	check_inspect_full(ct, true);
	is_str(ct->state_status, "running", "state: running");
	ok(ct->running && !ct->paused && !ct->oom_killed && ct->pid > 0, "state: running, pid %d", ct->pid);
	ok(ct->started_at && !str_startswith(ct->started_at, "0001-"), "state: started_at %s", ct->started_at);
	is_str(ct->health_status, "healthy", "state: health healthy");
	is_int(ct->failing_streak, 0, "state: failing streak 0");
	dk_container_free(ct);
}

static void test_list(void)
{
	struct dk_status st;
	struct rc_err err = { 0 };
	char flt[256];
	snprintf(flt, sizeof(flt), RC_LABEL_PROJECT "=%s", project);
	struct dk_filter f[] = { { "label", flt }, { "label", "test.role=full" } };
	struct dk_container_list *l = NULL;
	ok(dk_container_list(dc, f, 2, &l, &st, &err) == 0, "list with two label filters (%s)", err.msg);
	if (!l)
		return;
	is_int(l->n, 1, "both labels must match: one container");
	if (l->n == 1) {
		const struct dk_container_summary *s = &l->items[0];
		is_str(s->id, id_full, "summary: id");
		is_str(s->name, name_full, "summary: name without '/'");
		ok(str_startswith(s->image_id, "sha256:"), "summary: image id");
		is_str(s->state, "running", "summary: state");
		ok(str_startswith(s->status, "Up"), "summary: status '%s'", s->status);
		is_str(dk_label(s->labels, s->nlabels, RC_LABEL_PROJECT), project, "summary: labels");
		bool pub = false, exp = false;
		for (size_t i = 0; i < s->nports; i++) {
			if (s->ports[i].private_port == 8080 && s->ports[i].public_port == host_port &&
			    str_eq(s->ports[i].type, "tcp") && str_eq(s->ports[i].ip, "127.0.0.1"))
				pub = true;
			if (s->ports[i].private_port == 9090 && s->ports[i].public_port == 0 &&
			    str_eq(s->ports[i].type, "udp"))
				exp = true;
		}
		ok(pub && exp, "summary: published and exposed ports");
		ok(s->nnetworks == 2 && has_str(s->networks, s->nnetworks, net_a) &&
		   has_str(s->networks, s->nnetworks, net_b), "summary: network names");
	}
	dk_container_list_free(l);

	struct dk_filter f1[] = { { "label", flt } };
	l = NULL;
	ok(dk_container_list(dc, f1, 1, &l, &st, &err) == 0 && l && l->n == 2,
	   "project label alone: both containers (all=1)");
	dk_container_list_free(l);
}

static void test_update_rename(void)
{
	struct dk_status st;
	struct rc_err err = { 0 };
	/* 256 MiB is above the 128 MiB swap limit set at create: needs MemorySwap along */
	struct dk_resources r = { .nano_cpus = 1000000000, .memory = 256 * MiB, .memory_reservation = 16 * MiB,
				  .pids_limit = 200, .restart_policy = "always" };
	ok(dk_container_update(dc, id_full, &r, &st, &err) == 0 && st.http == 200, "update raises limits (%s)", err.msg);
	struct dk_resources r2 = { .memory = 48 * MiB, .memory_reservation = 40 * MiB };
	ok(dk_container_update(dc, id_full, &r2, &st, &err) == 0, "update lowers memory with reservation (%s)", err.msg);
	struct dk_resources bad = { .memory = 32 * MiB, .memory_reservation = 64 * MiB };
	ok(dk_container_update(dc, id_full, &bad, &st, &err) < 0 && strstr(err.msg, "reservation"),
	   "reservation above the limit refused: %s", err.msg);
	struct dk_container *ct = NULL;
	if (dk_container_inspect(dc, id_full, &ct, &st, &err) == 0) {
		is_int(ct->nano_cpus, 1000000000, "updated NanoCpus");
		is_int(ct->memory, 48 * MiB, "updated Memory");
		is_int(ct->memory_reservation, 40 * MiB, "updated MemoryReservation");
		is_int(ct->pids_limit, 200, "updated PidsLimit");
		is_str(ct->restart_policy, "always", "updated restart policy");
		is_str(ct->state_status, "running", "still running: updated in place");
		dk_container_free(ct);
	} else {
		ok(0, "inspect after update: %s", err.msg);
	}

	ok(dk_container_rename(dc, id_full, name_full2, &st, &err) == 0 && st.http == 204, "rename (%s)", err.msg);
	ct = NULL;
	ok(dk_container_inspect(dc, name_full2, &ct, &st, &err) == 0 && ct && strcmp(ct->id, id_full) == 0,
	   "found under the new name");
	dk_container_free(ct);
	ok(dk_container_rename(dc, id_worker, name_full2, &st, &err) < 0 && st.http == 409,
	   "rename onto a used name: 409 '%s'", st.message);

	ok(dk_network_disconnect(dc, net_b, id_full, false, &st, &err) == 0 && st.http == 200,
	   "disconnect from the second network (%s)", err.msg);
	ct = NULL;
	if (dk_container_inspect(dc, id_full, &ct, &st, &err) == 0) {
		ok(ct->nnetworks == 1 && dk_container_network(ct, net_a), "only the first network left");
		dk_container_free(ct);
	}
}

static void test_inspect_many(void)
{
	const char *ids[] = { id_full, id_worker, "rc-no-such-container-y", name_worker };
	struct dk_inspect_result res[4];
	struct rc_err err = { 0 };
	uint64_t before = dk_stats_get(dc, DK_OP_INSPECT);
	ok(dk_inspect_many(dc, ids, 4, 2, res, &err) == 0, "inspect_many: 0 with a missing one (%s)", err.msg);
	is_int(dk_stats_get(dc, DK_OP_INSPECT) - before, 4, "four inspect calls counted");
	ok(res[0].container && strcmp(res[0].container->id, id_full) == 0 && res[0].st.http == 200, "result 0");
	ok(res[1].container && strcmp(res[1].container->name, name_worker) == 0, "result 1");
	ok(res[1].container && res[1].container->stop_timeout_s == -1 && !res[1].container->fields[SK_STOP_SIGNAL].str &&
	   res[1].container->nmounts == 0 && res[1].container->nport_bindings == 0,
	   "worker: unset stop timeout reads -1, no mounts, no bindings");
	ok(res[1].container && res[1].container->has_health && res[1].container->nhealth_test == 1 &&
	   strcmp(res[1].container->health_test[0], "NONE") == 0, "worker: healthcheck disabled with NONE");
	ok(!res[2].container && res[2].st.http == 404 && strstr(res[2].error, "404"),
	   "result 2: 404 (%s)", res[2].error);
	ok(res[3].container && strcmp(res[3].container->id, id_worker) == 0, "result 3 by name");
	dk_inspect_results_release(res, 4);
	ok(res[0].container == NULL, "release clears");
}

struct thr {
	struct dk_client *c;
	int ok;
};

static void *thread_main(void *p)
{
	struct thr *t = p;
	for (int i = 0; i < 5; i++) {
		struct dk_container *ct = NULL;
		if (dk_container_inspect(t->c, id_worker, &ct, NULL, NULL) == 0)
			t->ok++;
		dk_container_free(ct);
	}
	return NULL;
}

static void test_threads(void)
{
	uint64_t before = dk_stats_get(dc, DK_OP_INSPECT);
	struct thr t[3];
	pthread_t th[3];
	for (int i = 0; i < 3; i++) {
		t[i].c = dk_client_clone(dc);
		t[i].ok = 0;
		pthread_create(&th[i], NULL, thread_main, &t[i]);
	}
	int total = 0;
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		total += t[i].ok;
	}
	is_int(total, 15, "three threads with clones: 15 inspects succeed");
	is_int(dk_stats_get(dc, DK_OP_INSPECT) - before, 15, "counters aggregated across clones");
	is_int(dk_stats_get(t[0].c, DK_OP_INSPECT), dk_stats_get(dc, DK_OP_INSPECT), "a clone sees the same counters");
	for (int i = 0; i < 3; i++)
		dk_client_free(t[i].c);
}

static void test_stop_kill(struct dk_events *ev)
{
	struct dk_status st;
	struct rc_err err = { 0 };
	ok(docker_cli("kill --signal SIGKILL", id_worker), "docker kill --signal SIGKILL");
	const char *code = NULL;
	ok(wait_event(ev, id_worker, "die", 10000, &code), "events: die seen");
	is_str(code, "137", "die event carries exitCode 137");

	ok(dk_container_stop(dc, id_full, 5, &st, &err) == 0 && st.http == 204, "stop with timeout (%s)", err.msg);
	ok(dk_container_stop(dc, id_full, 5, &st, &err) == 0 && st.http == 304, "stop again: 0 with 304");
	ok(dk_container_stop(dc, "rc-no-such-container-z", 1, &st, &err) < 0 && st.http == 404,
	   "stop of a missing one: 404");
	struct dk_container *ct = NULL;
	if (dk_container_inspect(dc, id_full, &ct, &st, &err) == 0) {
		is_str(ct->state_status, "exited", "state: exited");
		is_int(ct->exit_code, 0, "exit code 0 after SIGTERM");
		ok(ct->finished_at && !str_startswith(ct->finished_at, "0001-"), "finished_at set");
		dk_container_free(ct);
	}
	ct = NULL;
	if (dk_container_inspect(dc, id_worker, &ct, &st, &err) == 0) {
		is_int(ct->exit_code, 137, "worker exit code 137");
		dk_container_free(ct);
	}
	ok(wait_event(ev, id_full, "stop", 10000, NULL), "events: stop seen");
}

static void test_remove(struct dk_events *ev)
{
	struct dk_status st;
	struct rc_err err = { 0 };
	ok(dk_container_remove(dc, id_full, true, true, &st, &err) == 0 && st.http == 204, "remove (%s)", err.msg);
	ok(dk_container_remove(dc, id_full, true, true, &st, &err) < 0 && st.http == 404,
	   "remove again: 404 '%s'", st.message);
	struct dk_container *ct = NULL;
	ok(dk_container_inspect(dc, id_full, &ct, &st, &err) < 0 && st.http == 404 && !ct, "inspect: 404");
	ok(dk_container_remove(dc, id_worker, true, false, &st, &err) == 0, "remove worker");
	ok(wait_event(ev, id_full, "destroy", 10000, NULL), "events: destroy seen");

	ok(dk_network_remove(dc, net_a, &st, &err) == 0 && st.http == 204, "network remove (%s)", err.msg);
	ok(dk_network_remove(dc, net_b, &st, &err) == 0, "second network remove (%s)", err.msg);
	ok(dk_network_remove(dc, net_a, &st, &err) < 0 && st.http == 404, "network remove again: 404");
	ok(dk_volume_remove(dc, vol, false, &st, &err) == 0 && st.http == 204, "volume remove (%s)", err.msg);
	ok(dk_volume_remove(dc, vol, false, &st, &err) < 0 && st.http == 404, "volume remove again: 404");
}

static void test_pull(const char *test_image)
{
	const char *ref = getenv("DK_LIVE_PULL_REF");
	const char *reg = getenv("RC_TEST_REGISTRY");
	if (!ref || !reg) {
		ok(0, "DK_LIVE_PULL_REF and RC_TEST_REGISTRY are set");
		return;
	}
	struct dk_status st;
	struct rc_err err = { 0 };
	_cleanup_free_ char *want = image_id(test_image);
	ok(docker_cli("rmi", ref), "remove the local tag '%s'", ref);
	struct dk_image *img = NULL;
	ok(dk_image_inspect(dc, ref, &img, &st, &err) < 0 && st.http == 404, "tag gone locally");
	struct dk_pull_opts o = { .retries = 2, .first_delay_ms = 10, .stall_ms = 30000 };
	char *id = NULL;
	uint64_t before = dk_stats_get(dc, DK_OP_IMAGE_PULL);
	ok(dk_image_pull(dc, ref, &o, &id, &st, &err) == 0, "pull from the local registry (%s)", err.msg);
	is_int(dk_stats_get(dc, DK_OP_IMAGE_PULL) - before, 1, "one attempt");
	is_str(id, want, "pulled image has the pushed Id");
	free(id);
	if (dk_image_inspect(dc, ref, &img, &st, &err) == 0) {
		ok(has_str(img->repo_tags, img->nrepo_tags, ref), "RepoTags has the pulled ref");
		dk_image_free(img);
	}

	_cleanup_free_ char *missing = xasprintf("%s/%s/app:no-such-tag", reg, project);
	id = NULL;
	before = dk_stats_get(dc, DK_OP_IMAGE_PULL);
	ok(dk_image_pull(dc, missing, &o, &id, &st, &err) < 0 && !id, "pull of a missing tag fails");
	diag("error text: %s", err.msg);
	is_int(dk_stats_get(dc, DK_OP_IMAGE_PULL) - before, 3, "after 1 + 2 retries");
	ok(strstr(err.msg, "giving up after 3 attempts") && strstr(err.msg, "no-such-tag"),
	   "the error says so and names the ref");
	ok(st.message[0] != '\0', "status carries the engine's message: %s", st.message);

	ok(docker_cli("rmi", ref), "remove the pulled tag");
}

static void test_stats(void)
{
	ok(!dk_op_mutating(DK_OP_LIST) && !dk_op_mutating(DK_OP_INSPECT) && dk_op_mutating(DK_OP_CREATE) &&
	   dk_op_mutating(DK_OP_IMAGE_PULL) && !dk_op_mutating(DK_OP_EVENTS), "mutating vs read-only ops");
	is_str(dk_op_name(DK_OP_NETWORK_CONNECT), "network-connect", "op names");
	ok(dk_stats_mutating(dc) > 0 && dk_stats_total(dc) > dk_stats_mutating(dc), "counters add up");
	dk_stats_reset(dc);
	is_int(dk_stats_total(dc), 0, "reset");
	struct dk_container_list *l = NULL;
	struct dk_status st;
	dk_container_list(dc, NULL, 0, &l, &st, NULL);
	dk_container_list_free(l);
	struct dk_version v = { 0 };
	dk_version(dc, &v, NULL, NULL);
	dk_version_release(&v);
	is_int(dk_stats_get(dc, DK_OP_LIST), 1, "one list counted");
	is_int(dk_stats_mutating(dc), 0, "read-only calls: zero mutating");
}

static void cleanup(void)
{
	/* best effort: everything this program may have left */
	const char *names[] = { name_full, name_full2, name_worker };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		dk_container_remove(dc, names[i], true, true, NULL, NULL);
	dk_network_remove(dc, net_a, NULL, NULL);
	dk_network_remove(dc, net_b, NULL, NULL);
	dk_volume_remove(dc, vol, true, NULL, NULL);
}

int main(void)
{
	project = getenv("PROJECT");
	const char *test_image = getenv("TEST_IMAGE") ? getenv("TEST_IMAGE") : "reconciler-test/app:1";
	if (!project || !*project) {
		printf("Bail out! PROJECT is not set\n");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_ALL);
	proj_label[0].key = (char *)RC_LABEL_PROJECT;
	proj_label[0].value = project;
	name_full = xasprintf("%s-full", project);
	name_full2 = xasprintf("%s-full2", project);
	name_worker = xasprintf("%s-worker", project);
	net_a = xasprintf("%s-a", project);
	net_b = xasprintf("%s-b", project);
	vol = xasprintf("%s-vol", project);

	struct rc_err err = { 0 };
	struct dk_opts o = { .host = getenv("DOCKER_HOST"), .timeout_ms = 20000 };
	if (!ok(dk_client_open(&o, &dc, &err) == 0, "open the client (%s)", err.msg)) {
		printf("Bail out! %s\n", err.msg);
		return 1;
	}
	is_int(dk_stats_get(dc, DK_OP_VERSION), 1, "open asked /version once");

	test_system();
	test_image_inspect(test_image);

	char flt[256];
	snprintf(flt, sizeof(flt), RC_LABEL_PROJECT "=%s", project);
	struct dk_filter ef[] = { { "type", "container" }, { "label", flt } };
	struct dk_events *ev = NULL;
	ok(dk_events_open(dc, ef, 2, 0, &ev, &err) == 0, "events stream opened (%s)", err.msg);
	if (ev) {
		struct dk_event e;
		is_int(dk_events_next(ev, 100, &e, &err), 0, "nothing happened yet: timeout");
		int p[2];
		if (pipe(p) == 0) {
			if (write(p[1], "x", 1) != 1)
				die("write");
			struct pollfd pf = { .fd = p[0], .events = POLLIN };
			is_int(dk_events_poll(ev, 5000, &pf, 1, &e, &err), 0, "poll wakes for the caller's fd");
			ok(pf.revents & POLLIN, "revents says which");
			close(p[0]);
			close(p[1]);
		}
	}

	test_networks();
	test_volumes();
	test_create(test_image);
	test_inspect_before_start();
	if (ev && id_full && id_worker) {
		test_start(ev);
		test_list();
		test_update_rename();
		test_inspect_many();
		test_threads();
		test_stop_kill(ev);
		test_remove(ev);
	} else {
		ok(0, "create or events failed: skipping the lifecycle tests");
	}
	dk_events_close(ev);
	test_pull(test_image);
	test_stats();

	cleanup();
	for (size_t i = 0; i < nseen; i++) {
		free(seen[i].id);
		free(seen[i].action);
		free(seen[i].exit_code);
		free(seen[i].name);
	}
	free(id_full);
	free(id_worker);
	free(name_full);
	free(name_full2);
	free(name_worker);
	free(net_a);
	free(net_b);
	free(vol);
	dk_client_free(dc);
	curl_global_cleanup();
	return done_testing();
}
