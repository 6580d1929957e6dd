/* Unit tests for ready.c: when a wait for a unit is over, from an inspect
 * and a sequence of engine events; and for workq.c: items run on the pool
 * and come back through the fd. */
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ready.h"
#include "tap.h"
#include "workq.h"

static struct rc_unit unit(enum rc_health_kind hk, const char *policy)
{
	struct rc_unit u = { 0 };
	u.id = (char *)"alpha/app";
	u.container = (char *)"p-alpha-app";
	u.health.kind = hk;
	u.health.retries = 3;
	u.restart.policy = (char *)(uintptr_t)policy;
	return u;
}

/* One row: a unit, what a dependent needs, an inspect (status NULL: none), events, the verdict. */
struct row {
	const char *name;
	enum rc_health_kind hk;
	const char *policy;
	enum rc_dep_cond need;
	const char *status, *health;   /* inspect */
	int exit_code;
	const char *events[6];          /* "start", "die:3", "health_status: healthy", ... */
	int http;                       /* -1: no probe */
	enum ready_verdict want;
	const char *why;                /* substring of why */
};

static const struct row rows[] = {
	{ "no check: running is ready", RC_HEALTH_NONE, "unless-stopped", RC_DEP_STARTED, "running", NULL, 0,
	  { 0 }, -1, READY_OK, "started" },
	{ "no check: started by event", RC_HEALTH_NONE, "unless-stopped", RC_DEP_STARTED, NULL, NULL, 0,
	  { "start" }, -1, READY_OK, "started" },
	{ "no check, nothing seen yet: wait", RC_HEALTH_NONE, "no", RC_DEP_STARTED, NULL, NULL, 0,
	  { 0 }, -1, READY_WAIT, "not running" },
	{ "cmd: starting waits", RC_HEALTH_CMD, "unless-stopped", RC_DEP_STARTED, "running", "starting", 0,
	  { 0 }, -1, READY_WAIT, "health: starting" },
	{ "cmd: healthy from inspect", RC_HEALTH_CMD, "unless-stopped", RC_DEP_STARTED, "running", "healthy", 0,
	  { 0 }, -1, READY_OK, "healthy" },
	{ "cmd: start then healthy event", RC_HEALTH_CMD, "unless-stopped", RC_DEP_STARTED, NULL, NULL, 0,
	  { "start", "health_status: healthy" }, -1, READY_OK, "healthy" },
	{ "cmd: unhealthy fails at once", RC_HEALTH_CMD, "unless-stopped", RC_DEP_STARTED, NULL, NULL, 0,
	  { "start", "health_status: unhealthy" }, -1, READY_FAIL, "is unhealthy" },
	{ "cmd: a restart resets health", RC_HEALTH_CMD, "always", RC_DEP_STARTED, "running", "healthy", 0,
	  { "die:1", "start" }, -1, READY_WAIT, "health: starting" },
	{ "cmd: died, policy no: fails", RC_HEALTH_CMD, "no", RC_DEP_STARTED, NULL, NULL, 0,
	  { "start", "die:3" }, -1, READY_FAIL, "crashed with exit code 3" },
	{ "cmd: died, engine restarts: waits", RC_HEALTH_CMD, "unless-stopped", RC_DEP_STARTED, NULL, NULL, 0,
	  { "start", "die:3" }, -1, READY_WAIT, "restarting" },
	{ "on-failure restarts a crash", RC_HEALTH_NONE, "on-failure", RC_DEP_STARTED, NULL, NULL, 0,
	  { "start", "die:2" }, -1, READY_WAIT, "restarting" },
	{ "on-failure does not restart exit 0", RC_HEALTH_NONE, "on-failure", RC_DEP_STARTED, NULL, NULL, 0,
	  { "start", "die:0" }, -1, READY_FAIL, "stopped (exit 0)" },
	{ "oom then die", RC_HEALTH_NONE, "no", RC_DEP_STARTED, NULL, NULL, 0,
	  { "start", "oom", "die:137" }, -1, READY_FAIL, "out of memory" },
	{ "destroyed fails", RC_HEALTH_CMD, "unless-stopped", RC_DEP_STARTED, NULL, NULL, 0,
	  { "start", "destroy" }, -1, READY_FAIL, "was removed" },
	{ "exited in the inspect fails", RC_HEALTH_NONE, "unless-stopped", RC_DEP_STARTED, "exited", NULL, 2,
	  { 0 }, -1, READY_FAIL, "crashed with exit code 2" },
	{ "completed: exit 0", RC_HEALTH_NONE, "no", RC_DEP_COMPLETED, NULL, NULL, 0,
	  { "start", "die:0" }, -1, READY_OK, "completed" },
	{ "completed: exit 0 even when the engine restarts it", RC_HEALTH_NONE, "always", RC_DEP_COMPLETED, NULL, NULL,
	  0, { "start", "die:0" }, -1, READY_OK, "completed" },
	{ "completed: running waits", RC_HEALTH_NONE, "no", RC_DEP_COMPLETED, NULL, NULL, 0,
	  { "start" }, -1, READY_WAIT, "running" },
	{ "completed: exit 1 fails", RC_HEALTH_NONE, "no", RC_DEP_COMPLETED, "exited", NULL, 1,
	  { 0 }, -1, READY_FAIL, "exit code 1" },
	{ "completed: inspect says exited 0", RC_HEALTH_NONE, "no", RC_DEP_COMPLETED, "exited", NULL, 0,
	  { 0 }, -1, READY_OK, "completed" },
	{ "http: running, no probe yet", RC_HEALTH_HTTP, "unless-stopped", RC_DEP_STARTED, "running", NULL, 0,
	  { 0 }, -1, READY_WAIT, "probe" },
	{ "http: probe failed", RC_HEALTH_HTTP, "unless-stopped", RC_DEP_STARTED, "running", NULL, 0,
	  { 0 }, 0, READY_WAIT, "probe" },
	{ "http: probe healthy", RC_HEALTH_HTTP, "unless-stopped", RC_DEP_STARTED, "running", NULL, 0,
	  { 0 }, 1, READY_OK, "healthy" },
	{ "unknown events change nothing", RC_HEALTH_CMD, "unless-stopped", RC_DEP_STARTED, "running", "starting", 0,
	  { "rename", "exec_start: wget" }, -1, READY_WAIT, "health: starting" },
};

static void test_rows(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		struct rc_unit u = unit(r->hk, r->policy);
		struct ready_obs o = READY_OBS_INIT;
		if (r->status)
			ready_from_inspect(&o, &u, r->status, r->exit_code, false, r->health);
		for (size_t k = 0; k < 6 && r->events[k]; k++) {
			char action[64];
			int code = 0;
			snprintf(action, sizeof action, "%s", r->events[k]);
			char *colon = strncmp(action, "die:", 4) == 0 ? action + 3 : NULL;
			if (colon) {
				code = atoi(colon + 1);
				*colon = '\0';
			}
			ready_from_event(&o, &u, action, code);
		}
		if (r->http >= 0)
			o.http = r->http;
		char why[256] = "";
		enum ready_verdict v = ready_eval(&u, r->need, &o, why, sizeof why);
		is_int(v, r->want, "%s: verdict", r->name);
		ok(strstr(why, r->why) != NULL, "%s: why '%s' has '%s'", r->name, why, r->why);
	}
}

static atomic_int ran;

static void work(void *ctx, int worker, size_t item)
{
	(void)ctx;
	(void)worker;
	(void)item;
	atomic_fetch_add(&ran, 1);
}

static void test_workq(void)
{
	struct workq *q = workq_new(3, work, NULL);
	for (size_t i = 0; i < 100; i++)
		workq_push(q, i);
	is_int(workq_pending(q) > 0, 1, "pushed items are pending");
	int seen[100] = { 0 };
	size_t got = 0, items[16];
	while (got < 100) {
		struct pollfd p = { .fd = workq_fd(q), .events = POLLIN };
		if (poll(&p, 1, 5000) != 1)
			break;
		size_t n = workq_collect(q, items, 16);
		for (size_t i = 0; i < n; i++)
			seen[items[i]]++;
		got += n;
	}
	is_int(got, 100, "every item comes back through the fd");
	int once = 1;
	for (size_t i = 0; i < 100; i++)
		once &= seen[i] == 1;
	ok(once, "each item exactly once");
	is_int(atomic_load(&ran), 100, "each item ran");
	is_int(workq_pending(q), 0, "nothing pending after collecting");
	workq_free(q);
}

int main(void)
{
	test_rows();
	test_workq();
	return done_testing();
}
