/* Unit tests for swarm_spec.c: the verdict of a rollout wait from tasks (a table), services and
 * tasks read as container summaries (state, status, a change by hand), secret names, and a unit's
 * service spec (replicas, restart, rollout, placement, networks and links, a bind refused). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "spec.h"
#include "swarm.h"
#include "tap.h"

#define H1 "11111111111111111111111111111111"
#define H2 "22222222222222222222222222222222"

static struct dk_task task(const char *svc, const char *hash, const char *desired, const char *state,
			   const char *error, const char *ts)
{
	return (struct dk_task){ .id = (char *)(uintptr_t)"t", .service_id = (char *)(uintptr_t)svc,
				 .hash = (char *)(uintptr_t)hash, .desired_state = (char *)(uintptr_t)desired,
				 .state = (char *)(uintptr_t)state, .error = (char *)(uintptr_t)error,
				 .timestamp = (char *)(uintptr_t)ts };
}

struct row {
	const char *name;
	const char *update_state;
	struct dk_task tasks[6];
	size_t ntasks;
	uint64_t replicas;
	enum swarm_verdict want;
	const char *why;  /* substring */
};

static void verdicts(void)
{
	const struct row rows[] = {
		{ "two of two running the new spec: ready", NULL,
		  { task("s", H2, "running", "running", NULL, "1"), task("s", H2, "running", "running", NULL, "2") },
		  2, 2, SWARM_READY, "2/2 running" },
		{ "old tasks running do not count", NULL,
		  { task("s", H1, "running", "running", NULL, "1"), task("s", H2, "running", "starting", NULL, "2") },
		  2, 2, SWARM_WAIT, "0/2 running (tasks of this spec: starting 1)" },
		{ "another service's tasks do not count", NULL,
		  { task("x", H2, "running", "running", NULL, "1") }, 1, 1, SWARM_WAIT, "0/1" },
		{ "ready but Swarm still updating: wait", "updating",
		  { task("s", H2, "running", "running", NULL, "1") }, 1, 1, SWARM_WAIT, "update under way" },
		{ "Swarm paused the update: failed", "paused", { { 0 } }, 0, 1, SWARM_FAILED, "paused" },
		{ "Swarm rolled back: failed", "rollback_completed", { { 0 } }, 0, 1, SWARM_FAILED, "rolled back" },
		{ "three failed tasks of the new spec: failed, the last error said", NULL,
		  { task("s", H2, "shutdown", "failed", "task: non-zero exit (1)", "1"),
		    task("s", H2, "shutdown", "failed", "starting container failed: boom", "3"),
		    task("s", H2, "shutdown", "failed", "task: non-zero exit (2)", "2") },
		  3, 1, SWARM_FAILED, "3 tasks of this spec ended, the last failed (exit 0): starting container failed: boom" },
		{ "two failed, not yet three: wait", NULL,
		  { task("s", H2, "shutdown", "failed", "x", "1"), task("s", H2, "shutdown", "failed", "x", "2") },
		  2, 1, SWARM_WAIT, "0/1" },
		{ "tasks Swarm stopped for their health check (complete) count as ended", NULL,
		  { task("s", H2, "shutdown", "complete", NULL, "1"), task("s", H2, "shutdown", "complete", NULL, "2"),
		    task("s", H2, "shutdown", "complete", NULL, "3") },
		  3, 1, SWARM_FAILED, "the last complete (exit 0): no reason given (Swarm stops a task whose health" },
		{ "a task shut down (a node drained) is no failure", NULL,
		  { task("s", H2, "shutdown", "shutdown", NULL, "1"), task("s", H2, "shutdown", "shutdown", NULL, "2"),
		    task("s", H2, "shutdown", "shutdown", NULL, "3") },
		  3, 1, SWARM_WAIT, "0/1" },
		{ "scaled to 0: ready at once", NULL, { { 0 } }, 0, 0, SWARM_READY, "0/0" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		struct dk_service svc = { .id = (char *)(uintptr_t)"s", .update_state = (char *)(uintptr_t)r->update_state };
		struct dk_task_list tl = { (struct dk_task *)(uintptr_t)r->tasks, r->ntasks };
		struct buf why = BUF_INIT;
		enum swarm_verdict v = swarm_ready(&svc, &tl, H2, r->replicas, 3, &why);
		is_int(v, r->want, "%s: verdict", r->name);
		ok(strstr(buf_cstr(&why), r->why) != NULL, "%s: says '%s' (%s)", r->name, r->why, buf_cstr(&why));
		buf_release(&why);
	}
}

static void summaries(void)
{
	struct rc_kv labels[] = { { (char *)(uintptr_t)RC_LABEL_HASH, (char *)(uintptr_t)H2 },
				  { (char *)(uintptr_t)RC_LABEL_SPEC, (char *)(uintptr_t)"image=app:1" },
				  { (char *)(uintptr_t)RC_LABEL_SWARM_FP, (char *)(uintptr_t)"fp-sent" },
				  { (char *)(uintptr_t)RC_LABEL_UNIT, (char *)(uintptr_t)"a/app" } };
	char *netid = (char *)(uintptr_t)"n1id";
	uint16_t pub[] = { 8080 };
	struct dk_service svcs[] = {
		{ .id = (char *)(uintptr_t)"s1", .name = (char *)(uintptr_t)"p-a-app", .labels = labels, .nlabels = 4,
		  .replicated = true, .replicas = 2, .fingerprint = (char *)(uintptr_t)"fp-sent", .networks = &netid,
		  .nnetworks = 1, .published = pub, .npublished = 1 },
		{ .id = (char *)(uintptr_t)"s2", .name = (char *)(uintptr_t)"p-b-app", .labels = labels, .nlabels = 4,
		  .replicated = true, .replicas = 1, .fingerprint = (char *)(uintptr_t)"fp-other",
		  .updated_at = (char *)(uintptr_t)"2026-12-06T23:00:00Z" },
		{ .id = (char *)(uintptr_t)"s3", .name = (char *)(uintptr_t)"p-c-app", .labels = labels, .nlabels = 4,
		  .replicated = true, .replicas = 0, .fingerprint = (char *)(uintptr_t)"fp-sent" },
	};
	struct dk_task tasks[] = { task("s1", H2, "running", "running", NULL, "1"),
				   task("s1", H2, "running", "running", NULL, "2"),
				   task("s2", H2, "shutdown", "failed", "no such image", "1") };
	struct dk_service_list sl = { svcs, 3 };
	struct dk_task_list tl = { tasks, 3 };
	struct dk_network net = { .id = (char *)(uintptr_t)"n1id", .name = (char *)(uintptr_t)"p-a" };
	struct dk_network_list nl = { &net, 1 };
	struct dk_container_list *l = NULL;
	swarm_summaries(&sl, &tl, &nl, &l);
	is_int(l->n, 3, "one summary per service");
	is_str(l->items[0].name, "p-a-app", "named as the service");
	is_str(l->items[0].state, "running", "replicas wanted: running");
	is_str(l->items[0].status, "Up 2/2 tasks running (healthy)", "every replica runs the spec: healthy");
	is_str(l->items[0].networks[0], "p-a", "network ids read as names");
	is_int(l->items[0].ports[0].public_port, 8080, "published port");
	is_str(dk_label(l->items[0].labels, l->items[0].nlabels, RC_LABEL_HASH), H2, "hash label kept");
	ok(strstr(l->items[1].status, "(unhealthy)") && strstr(l->items[1].status, "no such image"),
	   "failed tasks: unhealthy, with the error (%s)", l->items[1].status);
	is_str(dk_label(l->items[1].labels, l->items[1].nlabels, RC_LABEL_HASH), "changed-by-hand",
	       "a fingerprint that moved: the hash says changed by hand");
	ok(strstr(dk_label(l->items[1].labels, l->items[1].nlabels, RC_LABEL_SPEC),
		  "\nswarm.changed_by_hand=2026-12-06T23:00:00Z") != NULL, "... and the spec names it");
	is_str(l->items[2].state, "exited", "scaled to 0: exited");
	dk_container_list_free(l);
}

static void secret_names(void)
{
	struct rc_secret g = { .name = (char *)(uintptr_t)"db_password", .digest = "0123456789abcdef0123456789abcdef" };
	struct rc_secret c = g;
	c.customer = (char *)(uintptr_t)"alpha";
	char *a = swarm_secret_name("proj", &g), *b = swarm_secret_name("proj", &c);
	is_str(a, "proj-db_password-0123456789ab", "a global secret: project, name, digest");
	is_str(b, "proj-alpha-db_password-0123456789ab", "a customer's: with the customer");
	free(a);
	free(b);
}

static void spec_of_unit(void)
{
	char *nets[] = { (char *)(uintptr_t)"p-a" }, *links[] = { (char *)(uintptr_t)"p-a-via-backend" };
	char *cons[] = { (char *)(uintptr_t)"node.labels.tier==gold" };
	struct rc_desired d = { .settings = { .project = (char *)(uintptr_t)"p", .engine = RC_ENGINE_SWARM } };
	struct rc_unit u = { .id = (char *)(uintptr_t)"a/app", .container = (char *)(uintptr_t)"p-a-app",
			     .customer = (char *)(uintptr_t)"a", .service = (char *)(uintptr_t)"app",
			     .image = (char *)(uintptr_t)"app:1", .networks = nets, .nnetworks = 1, .links = links,
			     .nlinks = 1, .running = true, .start_first = true,
			     .restart = { .policy = (char *)(uintptr_t)"on-failure", .max_retries = 4 },
			     .swarm = { .replicas = 3, .constraints = cons, .nconstraints = 1 } };
	spec_hash_unit(&u);
	struct swarm_svc sv;
	struct rc_err err = { 0 };
	is_int(swarm_svc_build(&d, &u, NULL, 0, &sv, &err), 0, "a unit's service spec");
	is_str(sv.spec.name, "p-a-app", "named as the container would be");
	is_int(sv.spec.replicas, 3, "replicas");
	is_int(sv.spec.nnetworks, 2, "its network and its link");
	is_str(sv.spec.networks[1], "p-a-via-backend", "the link second");
	is_str(sv.spec.restart_condition, "on-failure", "on-failure stays on-failure");
	is_int(sv.spec.restart_max_attempts, 4, "with its retries");
	is_str(sv.spec.update_order, "start-first", "update_order start-first without host ports");
	is_str(sv.spec.update_failure_action, "rollback", "Swarm rolls a failed update back");
	is_int(sv.spec.update_parallelism, 1, "one task at a time by default");
	is_str(sv.spec.constraints[0], "node.labels.tier==gold", "placement");
	ok(dk_label(sv.spec.labels, sv.spec.nlabels, RC_LABEL_SWARM_FP) != NULL, "the fingerprint label");
	is_str(dk_label(sv.spec.container_labels, sv.spec.ncontainer_labels, RC_LABEL_HASH), u.hash,
	       "tasks carry the spec hash");
	ok(!dk_label(sv.spec.container_labels, sv.spec.ncontainer_labels, RC_LABEL_PROJECT),
	   "not the project label: task containers are not ours to list");
	swarm_svc_release(&sv);
	u.running = false;
	is_int(swarm_replicas(&u), 0, "desired stopped: 0 replicas");

	struct rc_mount bind = { .kind = RC_MOUNT_BIND, .source = (char *)(uintptr_t)"/srv/x",
				 .target = (char *)(uintptr_t)"/data" };
	u.mounts = &bind;
	u.nmounts = 1;
	ok(swarm_svc_build(&d, &u, NULL, 0, &sv, &err) < 0 && strstr(err.msg, "use a volume"),
	   "a bind mount is refused: %s", err.msg);
	swarm_svc_release(&sv);
}

int main(void)
{
	verdicts();
	summaries();
	secret_names();
	spec_of_unit();
	return done_testing();
}
