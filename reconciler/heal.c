/* heal.c — see heal.h. */
#include "heal.h"

#include <stdio.h>
#include <string.h>

#include "health.h"
#include "util.h"


struct heal_policy heal_policy_of(const struct rc_unit *u, int64_t stable_ns)
{
	struct heal_policy p = {
		.backoff_ns = u->restart.backoff_ns > 0 ? u->restart.backoff_ns : 10 * NS_PER_S,
		.max_backoff_ns = u->restart.max_backoff_ns > 0 ? u->restart.max_backoff_ns : 300 * NS_PER_S,
		.max_failures = u->restart.max_failures,
		.stable_ns = stable_ns > 0 ? stable_ns : 600 * NS_PER_S,
		.api_stop_delay_ns = 2 * NS_PER_S,
		.stop_grace_ns = u->stop_grace_ns,
		.health = u->health.kind,
		.http_retries = u->health.retries ? u->health.retries : 3,
		.running = u->running,
		.job = u->job,
	};
	if (p.max_backoff_ns < p.backoff_ns)
		p.max_backoff_ns = p.backoff_ns;
	return p;
}

const char *heal_repair_name(enum heal_repair r)
{
	return r == HEAL_REPAIR_RESTART ? "restarting" : "repairing";
}

/* n more failures, then repair (HEAL_REPAIR_NONE: the engine acts) after the backoff, or disable. */
static void failure(const struct heal_policy *p, const struct heal_state *s, int n, enum heal_repair repair,
		    struct heal_action *a)
{
	a->verdict = HEAL_FAILURE;
	a->count = n;
	a->failures = s->failures + n;
	a->backoff_ns = backoff_delay_ns(a->failures, p->backoff_ns, p->max_backoff_ns);
	a->disable = p->max_failures > 0 && a->failures >= p->max_failures;
	a->repair = a->disable ? HEAL_REPAIR_NONE : repair;
	a->delay_ns = a->repair ? a->backoff_ns : 0;
}

static void ready(const struct heal_policy *p, const struct heal_state *s, int64_t now, struct heal_action *a)
{
	a->verdict = HEAL_READY;
	a->recovered = s->bad;
	a->ok_since = s->ok_since ? s->ok_since : now;
	a->reset = s->failures > 0 && now - a->ok_since >= p->stable_ns;
}

/* A look at a running container. */
static void seen_running(const struct heal_policy *p, const struct heal_state *s, const struct heal_event *e,
			 int64_t now, struct heal_action *a)
{
	if (p->health == RC_HEALTH_CMD && str_eq(e->health, "unhealthy")) {
		snprintf(a->reason, sizeof a->reason, "unhealthy (docker health check failed %d times)", e->failing_streak);
		failure(p, s, 1, HEAL_REPAIR_RESTART, a);
	} else if (p->health == RC_HEALTH_HTTP && s->http_streak >= p->http_retries) {
		snprintf(a->reason, sizeof a->reason, "unhealthy (http probe of %s failed %d times)",
			 e->http_path ? e->http_path : "/", s->http_streak);
		a->http_streak = 0;
		failure(p, s, 1, HEAL_REPAIR_RESTART, a);
	} else if (p->health == RC_HEALTH_NONE || str_eq(e->health, "healthy") ||
		   (p->health == RC_HEALTH_HTTP && s->http_streak == 0)) {
		ready(p, s, now, a);
	}
}

static void seen(const struct heal_policy *p, const struct heal_state *s, const struct heal_event *e, int64_t now,
		 struct heal_action *a)
{
	if (!e->exists) {
		snprintf(a->reason, sizeof a->reason, "container removed");
		failure(p, s, 1, HEAL_REPAIR_CONVERGE, a);
		return;
	}
	const char *st = e->status ? e->status : "";
	if (strcmp(st, "running") == 0) {
		seen_running(p, s, e, now, a);
		return;
	}
	if (strcmp(st, "restarting") == 0 || strcmp(st, "paused") == 0 || strcmp(st, "removing") == 0)
		return;  /* the engine is at it, or an operator paused it */
	if (p->job && strcmp(st, "exited") == 0 && e->exit_code == 0) {
		ready(p, s, now, a);  /* a one-shot job that completed: converged, not a crash */
		return;
	}
	if (strcmp(st, "exited") == 0 && e->api_stop_ns && now - e->api_stop_ns < p->stop_grace_ns + 30 * NS_PER_S) {
		/* stopped through the engine's API (docker stop or restart, or our own repair): an act,
		 * not a failure — started again without a count */
		a->verdict = HEAL_API_STOP;
		a->repair = HEAL_REPAIR_CONVERGE;
		a->delay_ns = p->api_stop_delay_ns;
		snprintf(a->reason, sizeof a->reason, "stopped through the engine's API (not a failure)");
		return;
	}
	if (strcmp(st, "created") == 0)
		snprintf(a->reason, sizeof a->reason, "created but never started");
	else if (strcmp(st, "dead") == 0)
		snprintf(a->reason, sizeof a->reason, "dead");
	else
		health_exit_reason(e->exit_code, e->oom_killed, a->reason, sizeof a->reason);
	failure(p, s, 1, HEAL_REPAIR_CONVERGE, a);
}

struct heal_action heal_decide(const struct heal_policy *p, const struct heal_state *s, const struct heal_event *e,
			       int64_t now)
{
	struct heal_action a = { .verdict = HEAL_NOTHING, .http_streak = s->http_streak, .ok_since = s->ok_since };
	if (!p->running || s->disabled || s->sleeping)
		return a;  /* a sleeping unit's stopped container is its desired state, not a failure */
	switch (e->kind) {
	case HEAL_EV_RESTARTED: {
		if (e->restarts <= 0)
			break;
		char why[128];
		health_exit_reason(e->exit_code, e->oom_killed, why, sizeof why);
		snprintf(a.reason, sizeof a.reason, "%s; restarted by the engine (%d time%s)", why, e->restarts,
			 e->restarts == 1 ? "" : "s");
		failure(p, s, e->restarts, HEAL_REPAIR_NONE, &a);
		break;
	}
	case HEAL_EV_SEEN:
		if (s->pending == HEAL_REPAIR_NONE)
			seen(p, s, e, now, &a);
		break;
	case HEAL_EV_REPAIR_FAILED:
		snprintf(a.reason, sizeof a.reason, "%s", e->reason ? e->reason : "repair failed");
		failure(p, s, 1, HEAL_REPAIR_CONVERGE, &a);
		break;
	case HEAL_EV_DEP_RECOVERED:
		if (s->failures > 0)
			a.verdict = HEAL_RESET;
		break;
	}
	if (a.verdict == HEAL_FAILURE)
		a.ok_since = 0;
	return a;
}
