/* Unit tests for heal.c: the daemon's self-healing decisions, a table of
 * (policy, state, event, now) → action rows, and the backoff sequence of a
 * crash loop up to disable. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "heal.h"
#include "tap.h"

#define S 1000000000LL
#define NOW (1000 * S)

/* 10 s doubling to 300 s, stable after 10 min, 10 s stop grace, 3 http retries */
#define POLICY(hk, maxf)                                                                                   \
	{ .backoff_ns = 10 * S, .max_backoff_ns = 300 * S, .max_failures = (maxf), .stable_ns = 600 * S,   \
	  .stop_grace_ns = 10 * S, .api_stop_delay_ns = 2 * S, .health = (hk), .http_retries = 3, .running = true }

static struct heal_policy policy(enum rc_health_kind hk, int max_failures)
{
	return (struct heal_policy)POLICY(hk, max_failures);
}

struct row {
	const char *name;
	struct heal_policy p;
	struct heal_state s;
	struct heal_event e;
	/* expected */
	enum heal_verdict verdict;
	int failures;                 /* HEAL_FAILURE: the counter after */
	enum heal_repair repair;
	int64_t delay_ns;
	bool disable;
	bool recovered, reset;
	const char *reason;           /* substring, or NULL */
};

#define SEEN(st) .kind = HEAL_EV_SEEN, .exists = true, .status = (st)

/* a one-shot job (run: once) */
#define JOB_POLICY(maxf)                                                                                   \
	{ .backoff_ns = 10 * S, .max_backoff_ns = 300 * S, .max_failures = (maxf), .stable_ns = 600 * S,   \
	  .stop_grace_ns = 10 * S, .api_stop_delay_ns = 2 * S, .health = RC_HEALTH_NONE, .http_retries = 3, .running = true,  \
	  .job = true }

static const struct row rows[] = {
	{ "a job that exited 0: ready, not a crash", JOB_POLICY(5), { 0 }, { SEEN("exited"), .exit_code = 0 },
	  HEAL_READY, 0, 0, 0, false, false, false, NULL },
	{ "a job that exited 0 after a failed run: recovered", JOB_POLICY(5), { .failures = 2, .bad = true },
	  { SEEN("exited"), .exit_code = 0 }, HEAL_READY, 0, 0, 0, false, true, false, NULL },
	{ "a job that exited non-zero: a failure, run again after the backoff", JOB_POLICY(5), { .failures = 1 },
	  { SEEN("exited"), .exit_code = 3 }, HEAL_FAILURE, 2, HEAL_REPAIR_CONVERGE, 20 * S, false, false, false,
	  "crashed with exit code 3" },
	{ "a job failing max_failures times: disabled", JOB_POLICY(3), { .failures = 2, .bad = true },
	  { SEEN("exited"), .exit_code = 1 }, HEAL_FAILURE, 3, HEAL_REPAIR_NONE, 0, true, false, false, NULL },
	{ "a service that exited 0: still a failure", POLICY(RC_HEALTH_NONE, 5), { 0 },
	  { SEEN("exited"), .exit_code = 0 }, HEAL_FAILURE, 1, HEAL_REPAIR_CONVERGE, 10 * S, false, false, false, NULL },
	{ "running, no health check: ready", POLICY(RC_HEALTH_NONE, 5), { 0 }, { SEEN("running") },
	  HEAL_READY, 0, 0, 0, false, false, false, NULL },
	{ "ready after a failure: recovered", POLICY(RC_HEALTH_NONE, 5), { .failures = 2, .bad = true },
	  { SEEN("running") }, HEAL_READY, 0, 0, 0, false, true, false, NULL },
	{ "ready for the stable period with failures: counter reset", POLICY(RC_HEALTH_NONE, 5),
	  { .failures = 2, .ok_since = NOW - 600 * S }, { SEEN("running") }, HEAL_READY, 0, 0, 0, false, false, true,
	  NULL },
	{ "ready, not yet stable: no reset", POLICY(RC_HEALTH_NONE, 5), { .failures = 2, .ok_since = NOW - 599 * S },
	  { SEEN("running") }, HEAL_READY, 0, 0, 0, false, false, false, NULL },
	{ "healthy: ready", POLICY(RC_HEALTH_CMD, 5), { 0 }, { SEEN("running"), .health = "healthy" }, HEAL_READY, 0, 0,
	  0, false, false, false, NULL },
	{ "cmd check starting: nothing yet", POLICY(RC_HEALTH_CMD, 5), { 0 }, { SEEN("running"), .health = "starting" },
	  HEAL_NOTHING, 0, 0, 0, false, false, false, NULL },
	{ "unhealthy (cmd): a failure, restart after the first backoff", POLICY(RC_HEALTH_CMD, 5), { 0 },
	  { SEEN("running"), .health = "unhealthy", .failing_streak = 3 }, HEAL_FAILURE, 1, HEAL_REPAIR_RESTART, 10 * S,
	  false, false, false, "docker health check failed 3 times" },
	{ "http probes failing retries times: restart", POLICY(RC_HEALTH_HTTP, 5), { .http_streak = 3 },
	  { SEEN("running"), .http_path = "/healthz" }, HEAL_FAILURE, 1, HEAL_REPAIR_RESTART, 10 * S, false, false,
	  false, "http probe of /healthz failed 3 times" },
	{ "http probes failing, fewer than retries: nothing yet", POLICY(RC_HEALTH_HTTP, 5), { .http_streak = 2 },
	  { SEEN("running") }, HEAL_NOTHING, 0, 0, 0, false, false, false, NULL },
	{ "crash: a failure, converge after the backoff", POLICY(RC_HEALTH_NONE, 5), { 0 },
	  { SEEN("exited"), .exit_code = 3 }, HEAL_FAILURE, 1, HEAL_REPAIR_CONVERGE, 10 * S, false, false, false,
	  "crashed with exit code 3" },
	{ "second crash: backoff doubles", POLICY(RC_HEALTH_NONE, 5), { .failures = 1, .bad = true },
	  { SEEN("exited"), .exit_code = 1 }, HEAL_FAILURE, 2, HEAL_REPAIR_CONVERGE, 20 * S, false, false, false, NULL },
	{ "many crashes: backoff capped at max_backoff", POLICY(RC_HEALTH_NONE, 0), { .failures = 20, .bad = true },
	  { SEEN("exited"), .exit_code = 1 }, HEAL_FAILURE, 21, HEAL_REPAIR_CONVERGE, 300 * S, false, false, false,
	  NULL },
	{ "max_failures reached: disable, no repair", POLICY(RC_HEALTH_NONE, 3), { .failures = 2, .bad = true },
	  { SEEN("exited"), .exit_code = 1 }, HEAL_FAILURE, 3, HEAL_REPAIR_NONE, 0, true, false, false, NULL },
	{ "max_failures 0: never disabled", POLICY(RC_HEALTH_NONE, 0), { .failures = 99 },
	  { SEEN("exited"), .exit_code = 1 }, HEAL_FAILURE, 100, HEAL_REPAIR_CONVERGE, 300 * S, false, false, false,
	  NULL },
	{ "killed by the OOM killer", POLICY(RC_HEALTH_NONE, 5), { 0 }, { SEEN("exited"), .exit_code = 137, .oom_killed = true },
	  HEAL_FAILURE, 1, HEAL_REPAIR_CONVERGE, 10 * S, false, false, false, "out of memory" },
	{ "container removed: converge", POLICY(RC_HEALTH_NONE, 5), { 0 }, { .kind = HEAL_EV_SEEN, .exists = false },
	  HEAL_FAILURE, 1, HEAL_REPAIR_CONVERGE, 10 * S, false, false, false, "container removed" },
	{ "created, never started", POLICY(RC_HEALTH_NONE, 5), { 0 }, { SEEN("created") }, HEAL_FAILURE, 1,
	  HEAL_REPAIR_CONVERGE, 10 * S, false, false, false, "created but never started" },
	{ "dead", POLICY(RC_HEALTH_NONE, 5), { 0 }, { SEEN("dead") }, HEAL_FAILURE, 1, HEAL_REPAIR_CONVERGE, 10 * S, false,
	  false, false, "dead" },
	{ "restarting: the engine is at it", POLICY(RC_HEALTH_NONE, 5), { 0 }, { SEEN("restarting") }, HEAL_NOTHING, 0,
	  0, 0, false, false, false, NULL },
	{ "paused by an operator: left alone", POLICY(RC_HEALTH_NONE, 5), { 0 }, { SEEN("paused") }, HEAL_NOTHING, 0, 0,
	  0, false, false, false, NULL },
	{ "operator stop (kill signal != 9) just before: not a failure, started in 2 s", POLICY(RC_HEALTH_NONE, 1),
	  { .failures = 0 }, { SEEN("exited"), .exit_code = 143, .api_stop_ns = NOW - 5 * S }, HEAL_API_STOP, 0,
	  HEAL_REPAIR_CONVERGE, 2 * S, false, false, false, "not a failure" },
	{ "operator stop with run --stopped-grace 60: started again in 60 s",
	  { .backoff_ns = 10 * S, .max_backoff_ns = 300 * S, .max_failures = 1, .stable_ns = 600 * S,
	    .stop_grace_ns = 10 * S, .api_stop_delay_ns = 60 * S, .http_retries = 3, .running = true },
	  { .failures = 0 }, { SEEN("exited"), .exit_code = 143, .api_stop_ns = NOW - 5 * S }, HEAL_API_STOP, 0,
	  HEAL_REPAIR_CONVERGE, 60 * S, false, false, false, "not a failure" },
	{ "operator stop long ago (past grace + 30 s): a failure", POLICY(RC_HEALTH_NONE, 5), { 0 },
	  { SEEN("exited"), .exit_code = 143, .api_stop_ns = NOW - 41 * S }, HEAL_FAILURE, 1, HEAL_REPAIR_CONVERGE,
	  10 * S, false, false, false, NULL },
	{ "bare docker kill (no api stop): a crash", POLICY(RC_HEALTH_NONE, 5), { 0 },
	  { SEEN("exited"), .exit_code = 137 }, HEAL_FAILURE, 1, HEAL_REPAIR_CONVERGE, 10 * S, false, false, false,
	  NULL },
	{ "engine restarted it twice: two failures, the engine acts", POLICY(RC_HEALTH_NONE, 5), { .failures = 1 },
	  { .kind = HEAL_EV_RESTARTED, .restarts = 2, .exit_code = 1 }, HEAL_FAILURE, 3, HEAL_REPAIR_NONE, 0, false,
	  false, false, "restarted by the engine (2 times)" },
	{ "engine restarts reaching max_failures: disable", POLICY(RC_HEALTH_NONE, 3), { .failures = 2 },
	  { .kind = HEAL_EV_RESTARTED, .restarts = 1, .exit_code = 1 }, HEAL_FAILURE, 3, HEAL_REPAIR_NONE, 0, true,
	  false, false, NULL },
	{ "engine restarts counted even with a repair pending", POLICY(RC_HEALTH_NONE, 5),
	  { .pending = HEAL_REPAIR_CONVERGE }, { .kind = HEAL_EV_RESTARTED, .restarts = 1, .exit_code = 1 },
	  HEAL_FAILURE, 1, HEAL_REPAIR_NONE, 0, false, false, false, NULL },
	{ "a repair pending: a look changes nothing", POLICY(RC_HEALTH_NONE, 5), { .pending = HEAL_REPAIR_CONVERGE },
	  { SEEN("exited"), .exit_code = 1 }, HEAL_NOTHING, 0, 0, 0, false, false, false, NULL },
	{ "disabled: left alone", POLICY(RC_HEALTH_NONE, 5), { .disabled = true, .failures = 5 },
	  { .kind = HEAL_EV_SEEN, .exists = false }, HEAL_NOTHING, 0, 0, 0, false, false, false, NULL },
	{ "sleeping, container stopped: left alone, no failure", POLICY(RC_HEALTH_NONE, 5), { .sleeping = true },
	  { SEEN("exited"), .exit_code = 137 }, HEAL_NOTHING, 0, 0, 0, false, false, false, NULL },
	{ "sleeping, container gone: not repaired", POLICY(RC_HEALTH_NONE, 5), { .sleeping = true },
	  { .kind = HEAL_EV_SEEN, .exists = false }, HEAL_NOTHING, 0, 0, 0, false, false, false, NULL },
	{ "sleeping, repair failed: not counted", POLICY(RC_HEALTH_NONE, 5), { .sleeping = true, .failures = 1 },
	  { .kind = HEAL_EV_REPAIR_FAILED, .reason = "x" }, HEAL_NOTHING, 0, 0, 0, false, false, false, NULL },
	{ "repair failed: a failure, converge again after the backoff", POLICY(RC_HEALTH_NONE, 5), { .failures = 1 },
	  { .kind = HEAL_EV_REPAIR_FAILED, .reason = "failed start x: boom" }, HEAL_FAILURE, 2, HEAL_REPAIR_CONVERGE,
	  20 * S, false, false, false, "boom" },
	{ "a dependency recovered: counter reset", POLICY(RC_HEALTH_NONE, 5), { .failures = 2 },
	  { .kind = HEAL_EV_DEP_RECOVERED }, HEAL_RESET, 0, 0, 0, false, false, false, NULL },
	{ "a dependency recovered, no failures: nothing", POLICY(RC_HEALTH_NONE, 5), { 0 },
	  { .kind = HEAL_EV_DEP_RECOVERED }, HEAL_NOTHING, 0, 0, 0, false, false, false, NULL },
	{ "a dependency recovered, disabled: stays", POLICY(RC_HEALTH_NONE, 5), { .failures = 5, .disabled = true },
	  { .kind = HEAL_EV_DEP_RECOVERED }, HEAL_NOTHING, 0, 0, 0, false, false, false, NULL },
};

static void test_rows(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		struct heal_action a = heal_decide(&r->p, &r->s, &r->e, NOW);
		int good = a.verdict == r->verdict;
		if (r->verdict == HEAL_FAILURE)
			good &= a.failures == r->failures && a.count == r->failures - r->s.failures && a.disable == r->disable;
		if (r->verdict == HEAL_FAILURE || r->verdict == HEAL_API_STOP)
			good &= a.repair == r->repair && a.delay_ns == r->delay_ns;
		if (r->verdict == HEAL_READY)
			good &= a.recovered == r->recovered && a.reset == r->reset && a.ok_since != 0;
		if (r->reason)
			good &= strstr(a.reason, r->reason) != NULL;
		if (!ok(good, "%s", r->name))
			printf("#   verdict %d failures %d repair %d delay %.1fs disable %d recovered %d reset %d reason '%s'\n",
			       a.verdict, a.failures, a.repair, (double)a.delay_ns / 1e9, a.disable, a.recovered, a.reset,
			       a.reason);
	}
}

/* A crash loop from the first failure: 10, 20, 40, 80 s, then disabled at max_failures 5. */
static void test_crash_loop(void)
{
	struct heal_policy p = policy(RC_HEALTH_NONE, 5);
	struct heal_state s = { 0 };
	const int64_t want[] = { 10 * S, 20 * S, 40 * S, 80 * S };
	struct heal_event e = { SEEN("exited"), .exit_code = 1 };
	for (int i = 0; i < 4; i++) {
		struct heal_action a = heal_decide(&p, &s, &e, NOW);
		is_int(a.delay_ns, want[i], "crash %d waits %llds", i + 1, (long long)(want[i] / S));
		s.failures = a.failures;
		s.bad = true;
	}
	struct heal_action a = heal_decide(&p, &s, &e, NOW);
	ok(a.verdict == HEAL_FAILURE && a.disable && a.failures == 5 && a.repair == HEAL_REPAIR_NONE,
	   "crash 5 of max_failures 5 disables");
	s.disabled = true;
	a = heal_decide(&p, &s, &e, NOW);
	is_int(a.verdict, HEAL_NOTHING, "a disabled unit is left alone");
}

/* A unit that should not run is never judged. */
static void test_not_running(void)
{
	struct heal_policy p = policy(RC_HEALTH_NONE, 5);
	p.running = false;
	struct heal_state s = { 0 };
	struct heal_event e = { SEEN("exited"), .exit_code = 1 };
	is_int(heal_decide(&p, &s, &e, NOW).verdict, HEAL_NOTHING, "a unit with running: false is not judged");
}

/* heal_policy_of(): defaults and the max_backoff floor. */
static void test_policy_of(void)
{
	struct rc_unit u = { 0 };
	u.running = true;
	struct heal_policy p = heal_policy_of(&u, 0);
	ok(p.backoff_ns == 10 * S && p.max_backoff_ns == 300 * S && p.stable_ns == 600 * S && p.http_retries == 3 &&
	   p.api_stop_delay_ns == 2 * S,
	   "defaults: 10 s, 300 s, 10 min, 3 retries");
	u.restart.backoff_ns = 60 * S;
	u.restart.max_backoff_ns = 30 * S;
	p = heal_policy_of(&u, 5 * S);
	ok(p.max_backoff_ns == 60 * S && p.stable_ns == 5 * S, "max_backoff never below backoff; --stable-period");
}

int main(void)
{
	test_rows();
	test_crash_loop();
	test_not_running();
	test_policy_of();
	return done_testing();
}
