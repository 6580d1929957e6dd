/*
 * swarm-live — exercises every call of docker_swarm.h against a real swarm
 * engine (TAP).  Run by tests/t/t0905-swarm-client.sh, which starts an
 * engine of its own with its own swarm and exports:
 *   SWARM_HOST     its socket (unix:///...); never the main engine
 *   PROJECT        label value (and name prefix) of everything made here
 *   SWARM_SUBNET   the overlay network's subnet (from the test's pool)
 *   SWARM_PORT, SWARM_PORT2   host ports to publish (from the test's block)
 *   TEST_IMAGE, TEST_IMAGE2   reconciler-test/app:1 and :2, loaded there
 *   SWARM_PRIVATE_IMAGE   an image in a registry that wants a password
 *   SWARM_LOGIN_CONFIG    the docker CLI config.json that `docker login` wrote for it
 *   MAIN_BRIDGE    the main engine's bridge (docker0) when it has one: it must
 *                  outlive the swarm engine's start
 * Changes by hand are made with the docker CLI (DOCKER_HOST=SWARM_HOST).
 * Everything made is removed at the end; the script stops the engine anyway.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "docker.h"
#include "docker_swarm.h"
#include "regauth.h"
#include "tap.h"
#include "unit.h"
#include "util.h"

static struct dk_client *dc;
static char *project;
static const char *image1, *image2;
static char *svc_name, *net_name, *sec_name, *sec_id, *net_id, *svc_id;
static struct rc_kv proj_label[1];
static struct dk_filter proj_filter[1];
static uint16_t port1, port2;

static const struct rc_kv env[] = { { (char *)"HEALTH", (char *)"ok" }, { (char *)"GREETING", (char *)"hello" } };
static const char *const aliases[] = { "web" };
static struct rc_kv clabels[1];
static const char *networks[1];
static struct dk_svc_secret secrets[1];
static struct dk_svc_port ports[1];
static const struct dk_svc_mount mounts[] = { { DK_MOUNT_TMPFS, NULL, "/scratch", false } };

static struct dk_service_spec our_spec(void)
{
	return (struct dk_service_spec){
		.name = svc_name,
		.labels = proj_label, .nlabels = 1,
		.container_labels = clabels, .ncontainer_labels = 1,
		.image = image1,
		.env = env, .nenv = 2,
		.mounts = mounts, .nmounts = 1,
		.secrets = secrets, .nsecrets = 1,
		.networks = networks, .nnetworks = 1,
		.aliases = aliases, .naliases = 1,
		.ports = ports, .nports = 1,
		.replicas = 1,
		.memory = 64 << 20,
		.health_cmd = "wget -q -O /dev/null http://127.0.0.1:8080/health",
		.health_interval_ns = 1000000000, .health_timeout_ns = 3000000000, .health_retries = 3,
		.stop_grace_ns = 2000000000,
		.update_parallelism = 1, .update_monitor_ns = 1000000000, .update_failure_action = "rollback",
	};
}

/* The service as listed now (by label), or NULL; *ret_list keeps it. */
static const struct dk_service *listed(struct dk_service_list **ret_list)
{
	struct rc_err err = { 0 };
	*ret_list = NULL;
	if (dk_service_list(dc, proj_filter, 1, ret_list, NULL, &err) < 0) {
		diag("list services: %s", err.msg);
		return NULL;
	}
	return dk_service_find(*ret_list, svc_name);
}

static char *listed_fp(uint64_t *ret_version)
{
	struct dk_service_list *l = NULL;
	const struct dk_service *s = listed(&l);
	char *fp = xstrdup(s && s->fingerprint ? s->fingerprint : "none");
	if (ret_version)
		*ret_version = s ? s->version : 0;
	dk_service_list_free(l);
	return fp;
}

static char *body_fp(const struct dk_service_spec *s)
{
	char fp[RC_HASH_HEX_LEN + 1];
	_cleanup_free_ char *b = dk_service_body(s);
	struct rc_err err = { 0 };
	if (dk_service_fingerprint(b, strlen(b), fp, &err) < 0)
		return xstrdup("error");
	return xstrdup(fp);
}

static void test_swarm(void)
{
	struct dk_swarm_info info = { 0 };
	struct rc_err err = { 0 };
	if (ok(dk_swarm_info(dc, &info, NULL, &err) == 0, "swarm info (%s)", err.msg)) {
		is_str(info.state, "active", "the engine is in a swarm");
		ok(info.manager && info.node_id && info.cluster_id && info.nodes == 1 && info.managers == 1,
		   "a manager of a swarm of one");
	}
	dk_swarm_info_release(&info);
	struct dk_node_list *nl = NULL;
	if (ok(dk_node_list(dc, &nl, NULL, &err) == 0 && nl->n == 1, "one node")) {
		const struct dk_node *n = &nl->items[0];
		ok(n->leader && strcmp(n->role, "manager") == 0 && strcmp(n->state, "ready") == 0 &&
			   strcmp(n->availability, "active") == 0,
		   "the leader, ready and active");
	}
	dk_node_list_free(nl);
	const char *br = getenv("MAIN_BRIDGE");
	if (br && *br) {
		_cleanup_free_ char *sys = xasprintf("/sys/class/net/%s", br);
		ok(access(sys, F_OK) == 0, "the main engine's bridge %s is still there", br);
	}

	/* the main engine is in no swarm: its 503 is an answer, not a fault */
	struct dk_client *main_engine = NULL;
	struct dk_opts o = { .host = getenv("MAIN_DOCKER_HOST") };
	if (dk_client_open(&o, &main_engine, &err) == 0) {
		struct dk_service_list *l = NULL;
		struct dk_status st = { 0 };
		struct rc_err e2 = { 0 };
		ok(dk_service_list(main_engine, NULL, 0, &l, &st, &e2) < 0 && st.http == 503 && !e2.engine_fault &&
			   strstr(e2.msg, "list services: 503 This node is not a swarm manager"),
		   "an engine in no swarm: 503, no fault (%s)", e2.msg);
		struct dk_swarm_info mi = { 0 };
		ok(dk_swarm_info(main_engine, &mi, NULL, &e2) == 0 && strcmp(mi.state, "inactive") == 0 && !mi.manager,
		   "its swarm info: inactive");
		dk_swarm_info_release(&mi);
		dk_client_free(main_engine);
	} else {
		ok(0, "open the main engine: %s", err.msg);
	}
}

static void test_network_and_secret(void)
{
	struct rc_err err = { 0 };
	struct dk_network_spec ns = { .name = net_name, .driver = "overlay", .labels = proj_label, .nlabels = 1,
				      .subnet = getenv("SWARM_SUBNET"), .attachable = true };
	ok(dk_network_create(dc, &ns, &net_id, NULL, &err) == 0, "an attachable overlay network (%s)", err.msg);
	struct dk_network *n = NULL;
	if (ok(net_id && dk_network_inspect(dc, net_id, &n, NULL, &err) == 0, "inspected")) {
		/* a swarm network's Driver is its DriverState, written by the manager's allocator a moment
		 * after the create: "" until then */
		ok(n->attachable && (!n->driver || !*n->driver || strcmp(n->driver, "overlay") == 0),
		   "attachable, overlay (driver '%s')", n->driver ? n->driver : "");
		dk_network_free(n);
	}
	static const char data[] = "s3cr\0t";  /* a NUL inside: bytes, not a string */
	ok(dk_secret_create(dc, sec_name, data, sizeof(data) - 1, proj_label, 1, &sec_id, NULL, &err) == 0 && sec_id,
	   "a secret (%s)", err.msg);
	struct dk_status st = { 0 };
	char *again = NULL;
	ok(dk_secret_create(dc, sec_name, "x", 1, proj_label, 1, &again, &st, &err) < 0 && st.http == 409 && !again &&
		   strstr(err.msg, "create secret '") && strstr(err.msg, "409"),
	   "the same name again: 409 (%s)", err.msg);
	struct dk_secret_list *sl = NULL;
	if (ok(dk_secret_list(dc, proj_filter, 1, &sl, NULL, &err) == 0, "secrets by label")) {
		ok(sl->n == 1 && strcmp(sl->items[0].id, sec_id) == 0 && strcmp(sl->items[0].name, sec_name) == 0 &&
			   strcmp(dk_label(sl->items[0].labels, sl->items[0].nlabels, RC_LABEL_PROJECT), project) == 0,
		   "ours, with its label");
	}
	dk_secret_list_free(sl);
	networks[0] = net_name;
	secrets[0] = (struct dk_svc_secret){ sec_id, sec_name, "pw", 0400 };
}

/* Wait (bounded, not timed) until service name runs one task, every task it wants running runs, the
 * spec labelled hash (NULL: any) and no update is under way; tell which task states were seen. */
static bool wait_running_of(const char *name, const char *hash, const char *why)
{
	char seen[256] = "";
	for (int i = 0; i < 600; i++) {
		struct dk_task_list *tl = NULL;
		struct dk_filter f[] = { { "service", name }, { "desired-state", "running" } };
		struct rc_err err = { 0 };
		bool all = false;
		if (dk_task_list(dc, f, 2, &tl, NULL, &err) == 0) {
			all = tl->n > 0;
			for (size_t k = 0; k < tl->n; k++) {
				const char *s = tl->items[k].state ? tl->items[k].state : "?";
				if (!strstr(seen, s) && strlen(seen) + strlen(s) + 2 < sizeof(seen))
					strcat(strcat(seen, " "), s);
				all &= strcmp(s, "running") == 0 &&
				       (!hash || (tl->items[k].hash && strcmp(tl->items[k].hash, hash) == 0));
			}
		}
		dk_task_list_free(tl);
		struct dk_service_list *l = NULL;
		struct dk_filter nf[] = { { "name", name } };
		const struct dk_service *s = dk_service_list(dc, nf, 1, &l, NULL, &err) == 0 ? dk_service_find(l, name) : NULL;
		bool done = all && s && s->running_tasks == 1 &&
			    (!s->update_state || (strcmp(s->update_state, "updating") != 0 &&
						  strcmp(s->update_state, "rollback_started") != 0));
		dk_service_list_free(l);
		if (done) {
			diag("%s: task states seen:%s", why, seen);
			return true;
		}
		sleep_ms(200);
	}
	diag("%s: never running; task states seen:%s", why, seen);
	return false;
}

static bool wait_running(const char *why)
{
	return wait_running_of(svc_name, clabels[0].value, why);
}

/* Wait (bounded) for a task of service name that failed or was rejected; its error in err_out. */
static bool wait_refused(const char *name, char *err_out, size_t outsz)
{
	for (int i = 0; i < 300; i++) {
		struct dk_task_list *tl = NULL;
		struct dk_filter f[] = { { "service", name } };
		struct rc_err err = { 0 };
		bool found = false;
		if (dk_task_list(dc, f, 1, &tl, NULL, &err) == 0)
			for (size_t k = 0; k < tl->n && !found; k++) {
				const struct dk_task *t = &tl->items[k];
				if (t->state && (strcmp(t->state, "rejected") == 0 || strcmp(t->state, "failed") == 0)) {
					snprintf(err_out, outsz, "%s: %s", t->state, t->error ? t->error : "(no error)");
					found = true;
				}
			}
		dk_task_list_free(tl);
		if (found)
			return true;
		sleep_ms(200);
	}
	return false;
}

/* A private image: pulled by the swarm's node with the credentials sent along, refused without. */
static void test_private_image(void)
{
	const char *ref = getenv("SWARM_PRIVATE_IMAGE"), *cfg = getenv("SWARM_LOGIN_CONFIG");
	if (!ref || !*ref || !cfg || !*cfg) {
		ok(0, "SWARM_PRIVATE_IMAGE and SWARM_LOGIN_CONFIG are set");
		return;
	}
	struct rc_err err = { 0 };
	char *auth = NULL;
	if (!ok(regauth_lookup(cfg, ref, &auth, NULL, &err) == 0 && auth, "credentials for %s (%s)", ref, err.msg))
		return;
	_cleanup_free_ char *with = xasprintf("%s-private", project);
	_cleanup_free_ char *without = xasprintf("%s-anon", project);
	struct dk_service_spec s = { .name = with, .labels = proj_label, .nlabels = 1, .image = ref, .replicas = 1,
				     .registry_auth = auth, .restart_condition = "none" };
	char *id1 = NULL, *id2 = NULL;
	ok(dk_service_create(dc, &s, &id1, NULL, &err) == 0, "a service of a private image, with credentials (%s)",
	   err.msg);
	s.name = without;
	s.registry_auth = NULL;
	ok(dk_service_create(dc, &s, &id2, NULL, &err) == 0, "and one without (%s)", err.msg);
	ok(id1 && wait_running_of(with, NULL, "private image"), "with credentials: the node pulled it, its task runs");
	char why[512] = "";
	ok(id2 && wait_refused(without, why, sizeof(why)), "without: its task is refused (%s)", why);
	for (int i = 0; i < 2; i++) {
		char *id = i ? id2 : id1;
		if (id && dk_service_remove(dc, id, NULL, &err) < 0)
			diag("remove: %s", err.msg);
		free(id);
	}
	regauth_free(auth);
}

static void test_service(void)
{
	struct rc_err err = { 0 };
	struct dk_status st = { 0 };
	struct dk_service_spec s = our_spec();
	uint64_t creates = dk_stats_get(dc, DK_OP_SERVICE_CREATE);
	ok(dk_service_create(dc, &s, &svc_id, &st, &err) == 0 && svc_id, "create service (%s)", err.msg);
	char *again = NULL;
	ok(dk_service_create(dc, &s, &again, &st, &err) < 0 && st.http == 409 && !again && !err.engine_fault &&
		   strstr(err.msg, "create service '") && strstr(err.msg, "409"),
	   "the same name again: 409 (%s)", err.msg);
	is_int(dk_stats_get(dc, DK_OP_SERVICE_CREATE) - creates, 2, "two creates counted");
	ok(dk_op_mutating(DK_OP_SERVICE_CREATE) && dk_op_mutating(DK_OP_SERVICE_UPDATE) &&
		   dk_op_mutating(DK_OP_SECRET_CREATE) && !dk_op_mutating(DK_OP_SERVICE_LIST) &&
		   !dk_op_mutating(DK_OP_TASK_LIST) && strcmp(dk_op_name(DK_OP_SERVICE_UPDATE), "service-update") == 0,
	   "op names and mutating flags");
	ok(wait_running("create"), "its task runs (healthy)");

	struct dk_service_list *l = NULL;
	const struct dk_service *sv = listed(&l);
	if (ok(sv != NULL, "listed by label")) {
		is_str(sv->id, svc_id, "its id");
		ok(sv->replicated && sv->replicas == 1 && sv->running_tasks == 1 && sv->desired_tasks == 1,
		   "1 replica wanted, 1 running");
		ok(sv->nnetworks == 1 && strcmp(sv->networks[0], net_id) == 0, "its network, by id");
		ok(sv->npublished == 1 && sv->published[0] == port1, "its published port");
		is_str(sv->image, image1, "its image");
	}
	dk_service_list_free(l);

	struct dk_task_list *tl = NULL;
	struct dk_filter f[] = { { "service", svc_name } };
	if (ok(dk_task_list(dc, f, 1, &tl, NULL, &err) == 0 && tl->n >= 1, "its tasks")) {
		const struct dk_task *t = &tl->items[0];
		ok(t->container_id && t->node_id && t->slot == 1, "a container on a node, slot 1");
		is_str(t->hash, "h1", "the hash label of the spec it runs");
	}
	dk_task_list_free(tl);

	/* the fingerprint of what we sent is the one of what the engine keeps */
	_cleanup_free_ char *ours = body_fp(&s);
	uint64_t v0 = 0;
	_cleanup_free_ char *fp = listed_fp(&v0);
	is_str(fp, ours, "the fingerprint of the body sent = the listed Spec's");

	/* an update with its version; then the same version again: out of sequence */
	clabels[0].value = (char *)"h2";
	s.image = image2;
	err = (struct rc_err){ 0 };
	ok(dk_service_update(dc, svc_id, v0, &s, &st, &err) == 0, "update to image 2 (%s)", err.msg);
	ok(dk_service_update(dc, svc_id, v0, &s, &st, &err) < 0 && st.http == 500 && !err.engine_fault &&
		   strstr(err.msg, "update service '") && strstr(err.msg, "out of sequence"),
	   "the old version again: refused, no fault (%s)", err.msg);
	ok(wait_running("update"), "the updated task runs");
	_cleanup_free_ char *ours2 = body_fp(&s);
	uint64_t v1 = 0;
	_cleanup_free_ char *fp2 = listed_fp(&v1);
	ok(v1 > v0, "the version moved");
	is_str(fp2, ours2, "after an update: the fingerprint of the body sent");
	ok(strcmp(ours, ours2) != 0, "another image, another fingerprint");
	tl = NULL;
	if (ok(dk_task_list(dc, (struct dk_filter[]){ { "service", svc_name }, { "desired-state", "running" } }, 2,
			    &tl, NULL, &err) == 0 && tl->n == 1, "one task wanted running")) {
		is_str(tl->items[0].hash, "h2", "it runs the new spec");
	}
	dk_task_list_free(tl);
	l = NULL;
	sv = listed(&l);
	diag("UpdateStatus after our update: %s (%s)", sv && sv->update_state ? sv->update_state : "none",
	     sv && sv->update_message ? sv->update_message : "");
	dk_service_list_free(l);
}

/*
 * Update the service to s over the version listed now, again while the engine says the version moved
 * meanwhile ("update out of sequence": the orchestrator writes UpdateStatus while a rollout runs,
 * and each write moves the version).  Bounded.
 */
static int update_current(const struct dk_service_spec *s, struct rc_err *err)
{
	for (int i = 0; i < 50; i++) {
		uint64_t v = 0;
		free(listed_fp(&v));
		struct dk_status st = { 0 };
		*err = (struct rc_err){ 0 };
		if (dk_service_update(dc, svc_id, v, s, &st, err) == 0)
			return 0;
		if (st.http != 500 || !strstr(err->msg, "out of sequence"))
			return -1;
		diag("%s: again", err->msg);
		sleep_ms(100);
	}
	return -1;
}

/* `docker service update ARGS` on the swarm engine (DOCKER_HOST is its socket). */
static int cli_update(const char *args)
{
	_cleanup_free_ char *cmd = xasprintf("docker service update --detach %s %s >/dev/null 2>&1", args, svc_name);
	return system(cmd);
}

static void test_by_hand(void)
{
	struct dk_service_spec s = our_spec();
	s.image = image2;
	_cleanup_free_ char *ours = body_fp(&s);
	_cleanup_free_ char *prev = listed_fp(NULL);
	is_str(prev, ours, "before: ours");
	ok(cli_update("--label-add by-hand=1") == 0, "docker service update --label-add");
	_cleanup_free_ char *after_label = listed_fp(NULL);
	is_str(after_label, ours, "a label added by hand leaves the fingerprint");
	_cleanup_free_ char *publish = xasprintf("--publish-add published=%u,target=8081,mode=host", port2);
	const char *changes[] = { "--env-add BY_HAND=1", "--replicas 2", "--image reconciler-test/app:1",
				  "--limit-memory 96M", "--constraint-add node.role==manager", publish };
	for (size_t i = 0; i < ARRAY_SIZE(changes); i++) {
		ok(cli_update(changes[i]) == 0, "docker service update %s", changes[i]);
		char *fp = listed_fp(NULL);
		ok(strcmp(fp, prev) != 0 && strcmp(fp, ours) != 0 && strcmp(fp, "none") != 0,
		   "... changes the fingerprint");
		free(prev);
		prev = fp;
	}
	/* ours again, over the hand-made version: the fingerprint is ours again */
	struct rc_err err = { 0 };
	ok(update_current(&s, &err) == 0, "our spec again (%s)", err.msg);
	_cleanup_free_ char *back = listed_fp(NULL);
	is_str(back, ours, "the fingerprint is ours again");
	struct dk_service_list *l = NULL;
	const struct dk_service *sv = listed(&l);
	/* (Endpoint.Ports, the ports in force, lag behind the Spec: the fingerprint above says the added
	 * port is gone from the Spec) */
	ok(sv && sv->replicas == 1, "1 replica again");
	ok(sv && !dk_label(sv->labels, sv->nlabels, "by-hand"), "the whole spec replaced: the hand-made label gone");
	dk_service_list_free(l);
	ok(wait_running("back to ours"), "runs again");
}

/* An update whose task never gets healthy, with failure action rollback: Swarm rolls the Spec back
 * (labels and all), so the fingerprint is the one of the body before. */
static void test_rollback(void)
{
	static const struct rc_kv never[] = { { (char *)"HEALTH", (char *)"never" },
					      { (char *)"GREETING", (char *)"hello" } };
	struct dk_service_spec good = our_spec();
	good.image = image2;
	struct dk_service_spec bad = good;
	bad.env = never;
	_cleanup_free_ char *fp_good = body_fp(&good);
	_cleanup_free_ char *fp_bad = body_fp(&bad);
	_cleanup_free_ char *now = listed_fp(NULL);
	is_str(now, fp_good, "before: ours");
	struct rc_err err = { 0 };
	ok(update_current(&bad, &err) == 0, "an update whose task never gets healthy (%s)", err.msg);
	char seen[256] = "";
	char *last = NULL;
	for (int i = 0; i < 600; i++) {
		struct dk_service_list *l = NULL;
		const struct dk_service *sv = listed(&l);
		const char *st = sv && sv->update_state ? sv->update_state : "none";
		if (!strstr(seen, st) && strlen(seen) + strlen(st) + 2 < sizeof(seen))
			strcat(strcat(seen, " "), st);
		free(last);
		last = xstrdup(st);
		dk_service_list_free(l);
		if (strcmp(last, "rollback_completed") == 0 || strcmp(last, "rollback_paused") == 0 ||
		    strcmp(last, "paused") == 0)
			break;
		sleep_ms(200);
	}
	diag("UpdateStatus.State seen:%s", seen);
	is_str(last, "rollback_completed", "Swarm rolled it back");
	free(last);
	_cleanup_free_ char *after = listed_fp(NULL);
	ok(strcmp(after, fp_good) == 0 && strcmp(after, fp_bad) != 0, "the Spec is ours before the update again");
	ok(wait_running("rolled back"), "runs again");
}

static void test_remove(void)
{
	struct rc_err err = { 0 };
	struct dk_status st = { 0 };
	ok(dk_service_remove(dc, svc_id, &st, &err) == 0, "remove the service (%s)", err.msg);
	ok(dk_service_remove(dc, svc_id, &st, &err) < 0 && st.http == 404 && !err.engine_fault,
	   "again: 404 (%s)", err.msg);
	/* the secret and the network are free once the service is gone (its tasks may take a moment) */
	int r = -1;
	for (int i = 0; i < 150 && r < 0; i++) {
		r = dk_secret_remove(dc, sec_id, &st, &err);
		if (r < 0)
			sleep_ms(200);
	}
	ok(r == 0, "remove the secret (%s)", r ? err.msg : "");
	ok(dk_secret_remove(dc, sec_id, &st, &err) < 0 && st.http == 404, "again: 404");
	r = -1;
	for (int i = 0; i < 150 && r < 0; i++) {
		r = dk_network_remove(dc, net_id, &st, &err);
		if (r < 0)
			sleep_ms(200);
	}
	ok(r == 0, "remove the network (%s)", r ? err.msg : "");
	struct dk_service_list *l = NULL;
	ok(dk_service_list(dc, proj_filter, 1, &l, NULL, &err) == 0 && l->n == 0, "no service of ours is left");
	dk_service_list_free(l);
}

int main(void)
{
	project = getenv("PROJECT");
	const char *host = getenv("SWARM_HOST");
	image1 = getenv("TEST_IMAGE") ? getenv("TEST_IMAGE") : "reconciler-test/app:1";
	image2 = getenv("TEST_IMAGE2") ? getenv("TEST_IMAGE2") : "reconciler-test/app:2";
	if (!project || !*project || !host || !*host || !getenv("SWARM_PORT") || !getenv("SWARM_PORT2")) {
		printf("Bail out! PROJECT, SWARM_HOST, SWARM_PORT, SWARM_PORT2 must be set\n");
		return 1;
	}
	port1 = (uint16_t)atoi(getenv("SWARM_PORT"));
	port2 = (uint16_t)atoi(getenv("SWARM_PORT2"));
	curl_global_init(CURL_GLOBAL_ALL);
	setenv("DOCKER_HOST", host, 1);  /* the CLI's changes by hand go to the swarm engine */
	proj_label[0] = (struct rc_kv){ (char *)RC_LABEL_PROJECT, project };
	_cleanup_free_ char *pf = xasprintf("%s=%s", RC_LABEL_PROJECT, project);
	proj_filter[0] = (struct dk_filter){ "label", pf };
	clabels[0] = (struct rc_kv){ (char *)RC_LABEL_HASH, (char *)"h1" };
	ports[0] = (struct dk_svc_port){ 8080, port1, NULL, "host" };
	svc_name = xasprintf("%s-web", project);
	net_name = xasprintf("%s-net", project);
	sec_name = xasprintf("%s-sec", project);
	struct dk_opts o = { .host = host };
	struct rc_err err = { 0 };
	if (dk_client_open(&o, &dc, &err) < 0) {
		printf("Bail out! %s\n", err.msg);
		return 1;
	}
	test_swarm();
	test_network_and_secret();
	test_private_image();
	if (sec_id && net_id) {
		test_service();
		if (svc_id) {
			test_by_hand();
			test_rollback();
			test_remove();
		}
	}
	dk_client_free(dc);
	free(svc_name);
	free(net_name);
	free(sec_name);
	free(sec_id);
	free(net_id);
	free(svc_id);
	curl_global_cleanup();
	return done_testing();
}
