/* ready.c — see ready.h. */
#include "ready.h"

#include <stdio.h>
#include <string.h>

#include "health.h"

bool ready_engine_restarts(const struct rc_unit *u, int exit_code)
{
	const char *p = u->restart.policy;
	if (!p || !*p || strcmp(p, "no") == 0)
		return false;
	if (strcmp(p, "on-failure") == 0)
		return exit_code != 0;
	return true;  /* always, unless-stopped */
}

static enum ready_health health_of(const char *s)
{
	if (!s)
		return READY_H_NONE;
	if (strcmp(s, "healthy") == 0)
		return READY_H_HEALTHY;
	if (strcmp(s, "unhealthy") == 0)
		return READY_H_UNHEALTHY;
	return READY_H_STARTING;
}

void ready_from_inspect(struct ready_obs *o, const struct rc_unit *u, const char *status, int exit_code,
			bool oom_killed, const char *health_status)
{
	const char *s = status ? status : "";
	o->running = strcmp(s, "running") == 0 || strcmp(s, "paused") == 0;
	o->restarting = strcmp(s, "restarting") == 0;
	o->exited = strcmp(s, "exited") == 0 || strcmp(s, "dead") == 0;
	o->exit_code = exit_code;
	o->oom = oom_killed;
	o->gone = false;
	o->health = health_of(health_status);
	if (o->health == READY_H_NONE && u->health.kind == RC_HEALTH_CMD && (o->running || o->restarting))
		o->health = READY_H_STARTING;
}

void ready_from_event(struct ready_obs *o, const struct rc_unit *u, const char *action, int exit_code)
{
	if (strcmp(action, "start") == 0) {
		o->running = true;
		o->exited = o->restarting = false;
		o->health = u->health.kind == RC_HEALTH_CMD ? READY_H_STARTING : READY_H_NONE;
		o->http = -1;
	} else if (strcmp(action, "die") == 0) {
		o->running = false;
		o->exit_code = exit_code;
		if (ready_engine_restarts(u, exit_code)) {
			o->restarting = true;
			o->exited = false;
		} else {
			o->exited = true;
			o->restarting = false;
		}
	} else if (strcmp(action, "oom") == 0) {
		o->oom = true;
	} else if (strcmp(action, "destroy") == 0) {
		o->gone = true;
		o->running = false;
	} else if (strncmp(action, "health_status:", 14) == 0) {
		const char *v = action + 14;
		while (*v == ' ')
			v++;
		o->health = health_of(v);
	}
}

enum ready_verdict ready_eval(const struct rc_unit *u, enum rc_dep_cond need, const struct ready_obs *o,
			      char *why, size_t whylen)
{
	bool want_health = u->health.kind != RC_HEALTH_NONE;
	bool want_exit = need == RC_DEP_COMPLETED && !want_health;
	if (o->gone) {
		snprintf(why, whylen, "'%s' was removed", u->container);
		return READY_FAIL;
	}
	/* a one-shot job that exited 0 has completed, whatever the engine does next */
	if (want_exit && !o->running && (o->exited || o->restarting) && o->exit_code == 0) {
		snprintf(why, whylen, "completed");
		return READY_OK;
	}
	if (o->exited) {
		char reason[128];
		health_exit_reason(o->exit_code, o->oom, reason, sizeof reason);
		snprintf(why, whylen, "'%s' %s", u->container, reason);
		return READY_FAIL;
	}
	if (!want_health && !want_exit) {
		if (o->running) {
			snprintf(why, whylen, "started");
			return READY_OK;
		}
		snprintf(why, whylen, o->restarting ? "restarting" : "not running yet");
		return READY_WAIT;
	}
	if (want_exit) {
		snprintf(why, whylen, o->restarting ? "restarting (exit %d)" : "running", o->exit_code);
		return READY_WAIT;
	}
	if (u->health.kind == RC_HEALTH_CMD) {
		if (o->health == READY_H_HEALTHY && o->running) {
			snprintf(why, whylen, "healthy");
			return READY_OK;
		}
		if (o->health == READY_H_UNHEALTHY) {
			snprintf(why, whylen, "'%s' is unhealthy (docker health check failed %d times)", u->container,
				 u->health.retries ? u->health.retries : 3);
			return READY_FAIL;
		}
		if (o->restarting) {
			char reason[128];
			health_exit_reason(o->exit_code, o->oom, reason, sizeof reason);
			snprintf(why, whylen, "restarting: %s", reason);
		} else {
			snprintf(why, whylen, "health: %s", o->health == READY_H_NONE ? "none" : "starting");
		}
		return READY_WAIT;
	}
	/* http: the reconciler's own probe */
	if (o->running && o->http == 1) {
		snprintf(why, whylen, "healthy");
		return READY_OK;
	}
	snprintf(why, whylen, "%s", o->restarting ? "restarting" : o->running ? "http probe not yet healthy" : "not running yet");
	return READY_WAIT;
}
