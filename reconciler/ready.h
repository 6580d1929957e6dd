/*
 * ready.h — when is a unit ready: the pure decision, from what was seen of
 * its container (one inspect, then engine events, then http probes), of
 * whether a wait for it is over.
 *
 * Owns: struct ready_obs (what is known of one container) and the rules
 * that fold an inspect or an event into it, and ready_eval(), the verdict.
 * No I/O: the executor (apply_rollout.c) feeds it; tests/unit/t-ready.c checks the
 * rules with tables of cases.
 *
 * The rules, as the executor applied them when it polled inspect:
 *  - a unit with a health check is ready when healthy (`cmd`: the engine's
 *    health_status; `http`: the reconciler's last probe answered 2xx/3xx);
 *    `unhealthy` fails at once;
 *  - a unit a dependent needs `completed` (and without a health check) is
 *    ready when its container exited 0;
 *  - any other unit is ready once started;
 *  - a container that exited (and that the engine will not restart under
 *    its restart policy), was killed for memory and exited, or was removed
 *    fails the wait.  One that exits and that the engine restarts
 *    (`always`, `unless-stopped`, `on-failure` after a non-zero exit) is
 *    still waited for, up to the unit's bound.
 */
#ifndef RC_READY_H
#define RC_READY_H

#include <stdbool.h>
#include <stddef.h>

#include "unit.h"

enum ready_health { READY_H_NONE = 0, READY_H_STARTING, READY_H_HEALTHY, READY_H_UNHEALTHY };
enum ready_verdict { READY_WAIT = 0, READY_OK, READY_FAIL };

struct ready_obs {
	bool running;              /* started and not died since */
	bool exited;               /* stopped for good (will not be restarted by the engine) */
	bool gone;                 /* removed */
	int exit_code;
	bool oom;
	bool restarting;           /* died; the engine restarts it */
	enum ready_health health;
	int http;                  /* last http probe: -1 none yet, 0 failed, 1 healthy */
};

#define READY_OBS_INIT { .http = -1 }

/* Fold an inspect's State into o: status ("running", "exited", ...), exit code, OOM and health
 * status (NULL: no health check). */
void ready_from_inspect(struct ready_obs *o, const struct rc_unit *u, const char *status, int exit_code,
			bool oom_killed, const char *health_status);
/*
 * Fold one container event into o: action "start", "die" (exit_code from the event's exitCode
 * attribute), "oom", "destroy", "health_status: healthy|unhealthy"; others are ignored.  u gives
 * the restart policy that decides whether a "die" is final.
 */
void ready_from_event(struct ready_obs *o, const struct rc_unit *u, const char *action, int exit_code);

/*
 * Is a wait for u (need: the strongest condition a dependent waits for) over?  READY_OK with note
 * ("healthy", "completed", "started"), READY_FAIL with why ("'c' crashed with exit code 3",
 * "'c' is unhealthy ..."), or READY_WAIT with why saying what is awaited ("health: starting").
 */
enum ready_verdict ready_eval(const struct rc_unit *u, enum rc_dep_cond need, const struct ready_obs *o,
			      char *why, size_t whylen);

/* Whether the engine restarts u's container after it exited with exit_code (its restart policy). */
bool ready_engine_restarts(const struct rc_unit *u, int exit_code);

#endif
