/*
 * The Swarm half of the Engine API client without an engine: the service
 * request body (golden JSON), the fingerprint (the body we send and the Spec
 * the engine returns give the same one; a change by hand gives another), and
 * the decoders on replies recorded from a real swarm (Docker 20.10.24, by
 * tests/unit/data/swarm/record.sh, which says how to record them again) and
 * on hostile ones.
 * GOLDEN_UPDATE=1 rewrites tests/unit/data/swarm/body-*.json (review the diff).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "docker_swarm.h"
#include "tap.h"
#include "util.h"

static const char *top(void)
{
	const char *t = getenv("RC_TOP");
	return t && *t ? t : ".";
}

static char *slurp(const char *name, size_t *ret_len)
{
	_cleanup_free_ char *path = xasprintf("%s/tests/unit/data/swarm/%s", top(), name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		diag("cannot read %s", path);
		*ret_len = 0;
		return xstrdup("");
	}
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	*ret_len = b.len;
	return buf_detach(&b, NULL);
}

/* A secret id in the golden body (record.sh posts it with the id of the secret it makes instead). */
#define SECRET_ID "57xgp66ww61q9x94iywkxsstc"

static const struct rc_kv labels[] = { { (char *)"io.reconciler.project", (char *)"swx" },
				       { (char *)"io.reconciler.unit", (char *)"c1/web" } };
static const struct rc_kv clabels[] = { { (char *)"io.reconciler.hash", (char *)"abc123" } };
static const struct rc_kv env[] = { { (char *)"A", (char *)"1" }, { (char *)"B", (char *)"two words" },
				    { (char *)"EMPTY", NULL } };
static const char *const entrypoint[] = { "/app/run" };
static const char *const command[] = { "serve", "--x=1" };
static const char *const caps_add[] = { "CAP_NET_ADMIN" };
static const char *const caps_drop[] = { "CAP_MKNOD", "CAP_AUDIT_WRITE" };
static const struct dk_svc_mount mounts[] = {
	{ DK_MOUNT_VOLUME, "swxvol", "/data", false },
	{ DK_MOUNT_TMPFS, NULL, "/scratch", false },
	{ DK_MOUNT_VOLUME, "swxro", "/ro", true },
};
static const struct dk_svc_secret secrets[] = { { SECRET_ID, "swx-sec", "pw", 0400 } };
static const char *const networks[] = { "swx-net" };
static const char *const aliases[] = { "web", "www" };
static const struct dk_svc_port ports[] = { { 8080, 23978, NULL, "host" } };
static const char *const constraints[] = { "node.role==manager", "node.platform.os==linux" };
static const char *const spread[] = { "node.labels.zone" };

static struct dk_service_spec full_spec(void)
{
	return (struct dk_service_spec){
		.name = "swx-full",
		.labels = labels, .nlabels = 2,
		.container_labels = clabels, .ncontainer_labels = 1,
		.image = "reconciler-test/app:1",
		.command = command, .ncommand = 2,
		.entrypoint = entrypoint, .nentrypoint = 1,
		.env = env, .nenv = 3,
		.user = "0", .workdir = "/tmp", .stop_signal = "SIGTERM",
		.stop_grace_ns = 5000000000,
		.init = true, .read_only = false,
		.cap_add = caps_add, .ncap_add = 1,
		.cap_drop = caps_drop, .ncap_drop = 2,
		.mounts = mounts, .nmounts = 3,
		.secrets = secrets, .nsecrets = 1,
		.networks = networks, .nnetworks = 1,
		.aliases = aliases, .naliases = 2,
		.ports = ports, .nports = 1,
		.replicas = 1,
		.nano_cpus = 500000000, .memory = 67108864,
		.nano_cpus_reservation = 100000000, .memory_reservation = 16777216,
		.pids_limit = 100,
		.health_cmd = "wget -q -O /dev/null http://127.0.0.1:8080/health",
		.health_interval_ns = 1000000000, .health_timeout_ns = 2000000000,
		.health_start_period_ns = 500000000, .health_retries = 3,
		.restart_condition = "on-failure", .restart_delay_ns = 1000000000, .restart_max_attempts = 5,
		.constraints = constraints, .nconstraints = 2,
		.spread = spread, .nspread = 1,
		.update_parallelism = 1, .update_delay_ns = 1000000000, .update_monitor_ns = 2000000000,
		.update_order = "start-first", .update_failure_action = "rollback",
	};
}

static void golden(const char *name, const char *got)
{
	if (getenv("GOLDEN_UPDATE")) {
		_cleanup_free_ char *path = xasprintf("%s/tests/unit/data/swarm/%s", top(), name);
		FILE *f = fopen(path, "w");
		ok(f && fputs(got, f) >= 0 && fputc('\n', f) != EOF && fclose(f) == 0, "%s rewritten", name);
		return;
	}
	size_t len;
	_cleanup_free_ char *want = slurp(name, &len);
	if (len && want[len - 1] == '\n')
		want[len - 1] = '\0';
	is_str(got, want, "the body is %s", name);
}

static void body(void)
{
	struct dk_service_spec s = full_spec();
	_cleanup_free_ char *b = dk_service_body(&s);
	golden("body-full.json", b);
	ok(strstr(b, "\"RollbackConfig\":{\"Parallelism\":1,\"Delay\":1000000000,\"FailureAction\":\"pause\"") != NULL,
	   "a rollback never rolls back: its failure action is pause");
	ok(strstr(b, "\"EMPTY=\"") != NULL, "an env value NULL is KEY=");

	/* the least: a name, an image, replicas (always written: 0 means stopped) */
	struct dk_service_spec m = { .name = "swx-min", .image = "reconciler-test/app:1" };
	_cleanup_free_ char *mb = dk_service_body(&m);
	is_str(mb, "{\"Name\":\"swx-min\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"reconciler-test/app:1\"}},"
		   "\"Mode\":{\"Replicated\":{\"Replicas\":0}}}", "zero values are left out, replicas is not");

	/* health: disabled; timings without a command keep the image's test */
	struct dk_service_spec h = { .name = "h", .image = "i", .replicas = 2, .health_disable = true,
				     .health_cmd = "ignored" };
	_cleanup_free_ char *hb = dk_service_body(&h);
	ok(strstr(hb, "\"Healthcheck\":{\"Test\":[\"NONE\"]}") != NULL, "health disabled: Test [NONE] and nothing else");
	h.health_disable = false;
	h.health_cmd = NULL;
	h.health_retries = 7;
	_cleanup_free_ char *hb2 = dk_service_body(&h);
	ok(strstr(hb2, "\"Healthcheck\":{\"Retries\":7}") != NULL, "retries alone: no Test (the image's)");
	/* a port without mode or protocol: the engine's defaults written out */
	static const struct dk_svc_port p[] = { { 80, 0, "udp", NULL } };
	struct dk_service_spec pp = { .name = "p", .image = "i", .ports = p, .nports = 1 };
	_cleanup_free_ char *pb = dk_service_body(&pp);
	ok(strstr(pb, "\"EndpointSpec\":{\"Mode\":\"vip\",\"Ports\":[{\"Protocol\":\"udp\",\"TargetPort\":80,"
		      "\"PublishMode\":\"ingress\"}]}") != NULL, "a port not published: no PublishedPort");
}

static void fp_of(const char *json, char out[RC_HASH_HEX_LEN + 1])
{
	struct rc_err err = { 0 };
	if (dk_service_fingerprint(json, strlen(json), out, &err) < 0) {
		diag("fingerprint: %s", err.msg);
		strcpy(out, "error");
	}
}

/* The fingerprint of the one service (by name) of a recorded list. */
static char *recorded_fp(const char *file, const char *name)
{
	size_t len;
	_cleanup_free_ char *json = slurp(file, &len);
	struct dk_service_list *l = NULL;
	struct rc_err err = { 0 };
	if (dk_decode_service_list(json, len, &l, &err) < 0) {
		diag("%s: %s", file, err.msg);
		return xstrdup("none");
	}
	const struct dk_service *s = dk_service_find(l, name);
	char *fp = xstrdup(s && s->fingerprint ? s->fingerprint : "none");
	dk_service_list_free(l);
	return fp;
}

static void fingerprint_recorded(void)
{
	char want[RC_HASH_HEX_LEN + 1];
	struct dk_service_spec s = full_spec();
	_cleanup_free_ char *b = dk_service_body(&s);
	fp_of(b, want);
	_cleanup_free_ char *created = recorded_fp("services-full.json", "swx-full");
	is_str(created, want, "the body sent and the Spec the engine returns after create: one fingerprint");
	_cleanup_free_ char *updated = recorded_fp("services-updated.json", "swx-full");
	is_str(updated, want, "... and after an update with the same body (the version moved)");
	_cleanup_free_ char *label = recorded_fp("services-label-add.json", "swx-full");
	is_str(label, want, "... and after `docker service update --label-add` (the CLI re-sorts the mounts)");
	static const char *const by_hand[] = { "env-add", "replicas", "image", "limit-memory", "constraint-add",
					       "publish-add", "force", "hostname" };
	_cleanup_free_ char *prev = xstrdup(want);
	for (size_t i = 0; i < ARRAY_SIZE(by_hand); i++) {
		_cleanup_free_ char *file = xasprintf("services-%s.json", by_hand[i]);
		_cleanup_free_ char *fp = recorded_fp(file, "swx-full");
		if (strcmp(by_hand[i], "force") == 0) {
			is_str(fp, prev, "`docker service update --force` (a restart) leaves it");
		} else {
			ok(strcmp(fp, prev) != 0 && strcmp(fp, want) != 0 && strcmp(fp, "none") != 0,
			   "`docker service update --%s` changes it", by_hand[i]);
		}
		free(prev);
		prev = xstrdup(fp);
	}

	/* the least body, and one with partial configs the engine fills in */
	struct dk_service_spec m = { .name = "swx-min", .image = "reconciler-test/app:1" };
	_cleanup_free_ char *mb = dk_service_body(&m);
	golden("body-min.json", mb);
	fp_of(mb, want);
	_cleanup_free_ char *min = recorded_fp("services-full.json", "swx-min");
	is_str(min, want, "the least spec: the engine's Isolation, Runtime, ForceUpdate and Labels {} read as absent");
	static const struct dk_svc_port p[] = { { 8080, 0, NULL, NULL } };
	struct dk_service_spec d = { .name = "swx-defaults", .image = "reconciler-test/app:1", .replicas = 0,
				     .update_parallelism = 2, .restart_delay_ns = 1000000000, .ports = p, .nports = 1,
				     .memory = 0 };
	_cleanup_free_ char *db = dk_service_body(&d);
	golden("body-defaults.json", db);
	fp_of(db, want);
	_cleanup_free_ char *dfl = recorded_fp("services-full.json", "swx-defaults");
	is_str(dfl, want, "defaults filled in (FailureAction, Order, MaxFailureRatio, Condition, MaxAttempts, "
		   "vip, tcp, ingress) read as absent");
}

static void fingerprint_rules(void)
{
	char a[RC_HASH_HEX_LEN + 1], b[RC_HASH_HEX_LEN + 1];
	struct {
		const char *x, *y;
		bool same;
		const char *what;
	} cases[] = {
		{ "{\"Name\":\"a\",\"Labels\":{\"x\":\"1\"}}", "{\"Name\":\"a\",\"Labels\":{\"x\":\"2\"}}", true,
		  "labels are not in it" },
		{ "{\"TaskTemplate\":{\"ContainerSpec\":{\"Env\":[\"A=1\",\"B=2\"]}}}",
		  "{\"TaskTemplate\":{\"ContainerSpec\":{\"Env\":[\"B=2\",\"A=1\"]}}}", true, "env is a set" },
		{ "{\"TaskTemplate\":{\"ContainerSpec\":{\"Args\":[\"a\",\"b\"]}}}",
		  "{\"TaskTemplate\":{\"ContainerSpec\":{\"Args\":[\"b\",\"a\"]}}}", false, "args keep their order" },
		{ "{\"TaskTemplate\":{\"Networks\":[{\"Target\":\"net\",\"Aliases\":[\"b\",\"a\"]}]}}",
		  "{\"TaskTemplate\":{\"Networks\":[{\"Target\":\"n280swsjhrshmb5hkqms8at9y\",\"Aliases\":[\"a\",\"b\"]}]}}",
		  true, "a network by name or by id, its aliases a set" },
		{ "{\"TaskTemplate\":{\"Networks\":[{\"Target\":\"a\"}]}}",
		  "{\"TaskTemplate\":{\"Networks\":[{\"Target\":\"a\"},{\"Target\":\"b\"}]}}", false,
		  "a network more counts" },
		{ "{\"Mode\":{\"Replicated\":{}}}", "{\"Mode\":{\"Replicated\":{\"Replicas\":1}}}", true,
		  "Replicated without Replicas is 1" },
		{ "{\"Mode\":{\"Replicated\":{\"Replicas\":0}}}", "{\"Mode\":{\"Replicated\":{\"Replicas\":1}}}", false,
		  "0 replicas is no default" },
		{ "{\"Mode\":{\"Replicated\":{\"Replicas\":0}}}", "{\"Mode\":{\"Global\":{}}}", false,
		  "global is not 0 replicas" },
		{ "{\"UpdateConfig\":{\"Order\":\"stop-first\"}}", "{}", true, "stop-first is the default" },
		{ "{\"UpdateConfig\":{\"Order\":\"start-first\"}}", "{}", false, "start-first is not" },
		{ "{\"TaskTemplate\":{\"ContainerSpec\":{\"Hostname\":\"x\"}}}", "{}", false,
		  "a field the reconciler never sets counts" },
		{ "{\"TaskTemplate\":{\"ContainerSpec\":{\"ReadOnly\":false},\"Resources\":{\"Limits\":{}}}}", "{}", true,
		  "false and {} are absent" },
		{ "{\"b\":1,\"a\":[2,1]}", "{\"a\":[2,1],\"b\":1}", true, "keys in any order" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		fp_of(cases[i].x, a);
		fp_of(cases[i].y, b);
		ok((strcmp(a, b) == 0) == cases[i].same && strcmp(a, "error") != 0, "%s", cases[i].what);
	}
	struct rc_err err = { 0 };
	char keep[RC_HASH_HEX_LEN + 1] = "untouched";
	static const char *const bad[] = { "", "[]", "1", "\"x\"", "{", "null" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ok(dk_service_fingerprint(bad[i], strlen(bad[i]), keep, &err) < 0 && strcmp(keep, "untouched") == 0,
		   "not a Spec object: '%s' refused, ret untouched", bad[i]);
	struct buf deep = BUF_INIT;
	for (int i = 0; i < 200; i++)
		buf_adds(&deep, "{\"a\":");
	buf_adds(&deep, "1");
	for (int i = 0; i < 200; i++)
		buf_adds(&deep, "}");
	ok(dk_service_fingerprint(buf_cstr(&deep), deep.len, keep, &err) < 0 && strstr(err.msg, "deeper"),
	   "200 levels deep: refused (%s)", err.msg);
	buf_release(&deep);
}

static void decoders(void)
{
	size_t len;
	struct rc_err err = { 0 };

	_cleanup_free_ char *sj = slurp("services-full.json", &len);
	struct dk_service_list *sl = NULL;
	if (ok(dk_decode_service_list(sj, len, &sl, &err) == 0, "services: decoded (%s)", err.msg)) {
		const struct dk_service *s = dk_service_find(sl, "swx-full");
		if (ok(s != NULL, "swx-full is there")) {
			ok(s->id && strlen(s->id) == 25, "its ID");
			ok(s->version > 0, "its version %llu", (unsigned long long)s->version);
			is_str(s->image, "reconciler-test/app:1", "image");
			ok(s->replicated && s->replicas == 1, "replicated, 1");
			is_int(s->desired_tasks, 1, "desired tasks (ServiceStatus)");
			is_str(dk_label(s->labels, s->nlabels, "io.reconciler.unit"), "c1/web", "labels");
			ok(s->nnetworks == 1 && strcmp(s->networks[0], "swx-net") != 0, "a network, by id (%s)",
			   s->nnetworks ? s->networks[0] : "none");
			ok(s->npublished == 1 && s->published[0] == 23978, "published port");
			ok(s->fingerprint && strlen(s->fingerprint) == RC_HASH_HEX_LEN, "a fingerprint");
			ok(s->created_at && s->updated_at, "created and updated at");
		}
		const struct dk_service *m = dk_service_find(sl, "swx-min");
		ok(m && m->replicated && m->replicas == 0 && m->npublished == 0 && !m->update_state,
		   "swx-min: 0 replicas, nothing published, no update status");
		ok(!dk_service_find(sl, "nope"), "a name not there: NULL");
	}
	dk_service_list_free(sl);

	_cleanup_free_ char *uj = slurp("services-image.json", &len);
	sl = NULL;
	if (ok(dk_decode_service_list(uj, len, &sl, &err) == 0, "services after an update: decoded")) {
		const struct dk_service *s = dk_service_find(sl, "swx-full");
		ok(s && s->update_state, "UpdateStatus.State after an update: %s", s && s->update_state ? s->update_state : "none");
	}
	dk_service_list_free(sl);

	_cleanup_free_ char *tj = slurp("tasks.json", &len);
	struct dk_task_list *tl = NULL;
	if (ok(dk_decode_task_list(tj, len, &tl, &err) == 0 && tl->n > 0, "tasks: decoded")) {
		size_t running = 0;
		for (size_t i = 0; i < tl->n; i++) {
			const struct dk_task *t = &tl->items[i];
			if (t->state && strcmp(t->state, "running") == 0 && t->desired_state &&
			    strcmp(t->desired_state, "running") == 0) {
				running++;
				ok(t->container_id && t->node_id && t->slot >= 1 && t->service_id,
				   "a running task has a container, a node, a slot, a service");
				is_str(t->hash, "abc123", "the hash label of the spec it runs");
			}
		}
		ok(running >= 1, "%zu running", running);
	}
	dk_task_list_free(tl);

	_cleanup_free_ char *nj = slurp("nodes.json", &len);
	struct dk_node_list *nl = NULL;
	if (ok(dk_decode_node_list(nj, len, &nl, &err) == 0 && nl->n == 1, "nodes: one")) {
		const struct dk_node *n = &nl->items[0];
		ok(n->leader && !strcmp(n->role, "manager") && !strcmp(n->availability, "active") &&
			   !strcmp(n->state, "ready") && !strcmp(n->reachability, "reachable"),
		   "the leader, a manager, active, ready, reachable");
		is_str(n->addr, "127.0.0.1", "its address");
		ok(dk_node_find(nl, n->id) == n && !dk_node_find(nl, "x"), "found by id");
	}
	dk_node_list_free(nl);

	_cleanup_free_ char *xj = slurp("secrets.json", &len);
	struct dk_secret_list *xl = NULL;
	if (ok(dk_decode_secret_list(xj, len, &xl, &err) == 0 && xl->n >= 1, "secrets: decoded")) {
		is_str(xl->items[0].name, "swx-sec", "a name");
		is_str(dk_label(xl->items[0].labels, xl->items[0].nlabels, "x"), "y", "labels");
	}
	dk_secret_list_free(xl);

	_cleanup_free_ char *ij = slurp("info.json", &len);
	struct dk_swarm_info info = { 0 };
	if (ok(dk_decode_swarm_info(ij, len, &info, &err) == 0, "info: decoded")) {
		is_str(info.state, "active", "active");
		ok(info.manager && info.node_id && info.cluster_id && info.nodes == 1 && info.managers == 1 && !info.error,
		   "a manager of one node");
	}
	dk_swarm_info_release(&info);
	_cleanup_free_ char *ij2 = slurp("info-inactive.json", &len);
	if (ok(dk_decode_swarm_info(ij2, len, &info, &err) == 0, "info of an engine outside a swarm: decoded")) {
		is_str(info.state, "inactive", "inactive");
		ok(!info.manager && !info.node_id && !info.cluster_id && info.nodes == 0, "no manager, no ids");
	}
	dk_swarm_info_release(&info);
}

static void hostile(void)
{
	struct rc_err err = { 0 };
	static const char *const not_lists[] = { "", "{}", "null", "1", "[", "\"x\"" };
	for (size_t i = 0; i < ARRAY_SIZE(not_lists); i++) {
		const char *j = not_lists[i];
		struct dk_service_list *sl = (void *)1;
		struct dk_task_list *tl = (void *)1;
		struct dk_node_list *nl = (void *)1;
		struct dk_secret_list *xl = (void *)1;
		ok(dk_decode_service_list(j, strlen(j), &sl, &err) < 0 && sl == (void *)1 &&
			   dk_decode_task_list(j, strlen(j), &tl, &err) < 0 && tl == (void *)1 &&
			   dk_decode_node_list(j, strlen(j), &nl, &err) < 0 && nl == (void *)1 &&
			   dk_decode_secret_list(j, strlen(j), &xl, &err) < 0 && xl == (void *)1,
		   "not a list: '%s' refused, ret untouched", j);
	}
	/* wrong types everywhere, missing ids, numbers out of range */
	static const char svc[] =
		"[1, \"x\", null, {}, {\"ID\": 7}, {\"ID\": \"\"},"
		" {\"ID\": \"s1\", \"Version\": {\"Index\": -5}, \"Spec\": {\"Name\": 3, \"Labels\": [\"a\"],"
		"  \"TaskTemplate\": {\"ContainerSpec\": \"img\", \"Networks\": [{\"Target\": 1}, \"x\", {\"Target\": \"n\"}]},"
		"  \"Mode\": {\"Replicated\": {\"Replicas\": 1e300}}},"
		"  \"Endpoint\": {\"Ports\": [{\"PublishedPort\": 70000}, {\"PublishedPort\": -1}, {\"PublishedPort\": 80}]},"
		"  \"ServiceStatus\": {\"RunningTasks\": \"2\"}, \"UpdateStatus\": {\"State\": \"\"}},"
		" {\"ID\": \"s2\", \"Spec\": []}]";
	struct dk_service_list *sl = NULL;
	if (ok(dk_decode_service_list(svc, strlen(svc), &sl, &err) == 0 && sl->n == 2, "services: two with an ID")) {
		const struct dk_service *s = &sl->items[0];
		ok(!s->name && s->nlabels == 0 && !s->image && s->version == 0, "wrong types read as absent");
		ok(s->replicas > 0 && s->running_tasks == 0, "a huge count clamped, a string is no count");
		ok(s->nnetworks == 1 && s->npublished == 1 && s->published[0] == 80, "only valid targets and ports");
		ok(s->fingerprint && !s->update_state, "a fingerprint; an empty state is none");
		ok(!sl->items[1].fingerprint && !sl->items[1].name, "a Spec that is no object: no fingerprint");
	}
	dk_service_list_free(sl);
	static const char tasks[] = "[{\"ID\": \"t\", \"Slot\": -3, \"Status\": {\"State\": 1, \"ContainerStatus\": "
				    "{\"ExitCode\": 1e12}}, \"Spec\": {\"ContainerSpec\": {\"Labels\": "
				    "{\"io.reconciler.hash\": 5}}}}, {\"Status\": {}}]";
	struct dk_task_list *tl = NULL;
	if (ok(dk_decode_task_list(tasks, strlen(tasks), &tl, &err) == 0 && tl->n == 1, "tasks: one with an ID")) {
		const struct dk_task *t = &tl->items[0];
		ok(t->slot == 0 && !t->state && t->exit_code == 1000000 && !t->hash && !t->node_id,
		   "wrong types read as absent, an exit code clamped");
	}
	dk_task_list_free(tl);
	static const char nodes[] = "[{\"ID\": \"n\", \"Spec\": 1, \"ManagerStatus\": {\"Leader\": \"yes\"}}, {\"Spec\": {}}]";
	struct dk_node_list *nl = NULL;
	ok(dk_decode_node_list(nodes, strlen(nodes), &nl, &err) == 0 && nl->n == 1 && !nl->items[0].leader &&
		   !nl->items[0].role,
	   "nodes: wrong types read as absent");
	dk_node_list_free(nl);
	static const char hostile_secrets[] = "[{\"ID\": \"x\"}, {\"ID\": \"y\", \"Spec\": {\"Name\": \"n\", \"Labels\": 1}}]";
	struct dk_secret_list *xl = NULL;
	ok(dk_decode_secret_list(hostile_secrets, strlen(hostile_secrets), &xl, &err) == 0 && xl->n == 1 && xl->items[0].nlabels == 0,
	   "secrets: one without a name skipped");
	dk_secret_list_free(xl);
	struct dk_swarm_info info = { .state = (char *)"untouched" };
	static const char *const infos[] = { "{}", "{\"Swarm\": 1}", "{\"Swarm\": {\"LocalNodeState\": 2}}", "[]", "" };
	for (size_t i = 0; i < ARRAY_SIZE(infos); i++)
		ok(dk_decode_swarm_info(infos[i], strlen(infos[i]), &info, &err) < 0 && !strcmp(info.state, "untouched"),
		   "info without Swarm.LocalNodeState: '%s' refused", infos[i]);
	/* a huge array: 200000 tasks, one allocation each, all freed */
	struct buf big = BUF_INIT;
	buf_adds(&big, "[");
	for (int i = 0; i < 200000; i++)
		buf_addf(&big, "%s{\"ID\":\"t%d\"}", i ? "," : "", i);
	buf_adds(&big, "]");
	tl = NULL;
	ok(dk_decode_task_list(buf_cstr(&big), big.len, &tl, &err) == 0 && tl->n == 200000, "200000 tasks");
	dk_task_list_free(tl);
	buf_release(&big);
}

int main(void)
{
	body();
	fingerprint_rules();
	fingerprint_recorded();
	decoders();
	hostile();
	return done_testing();
}
