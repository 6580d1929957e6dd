/*
 * heal.h — the daemon's self-healing decisions, as a pure function.
 *
 * Owns: what one look at a unit's container (or one event about it) means
 * for the unit — ready, a failure to count (how many, why, with which
 * backoff, and whether that disables it), a repair to schedule, or an
 * operator's act that is not counted.  No engine calls, no state files, no
 * clock: the daemon (daemon_heal.c) turns what it saw into a heal_event,
 * asks heal_decide(), and carries the heal_action out (journal, counters in
 * units.json, the stop of a disabled unit, the repair's converge).  Table
 * tests: tests/unit/t-heal.c.
 *
 * The rules (docs/operations.md, "Self-healing"):
 *  - Every failure counts: a container gone, exited / created / dead, an
 *    unhealthy one (a `cmd` check the engine says failed, or `http` probes
 *    failing `retries` times), restarts the engine made by itself (each one),
 *    a repair that did not make the unit ready.
 *  - The n-th consecutive failure waits backoff_delay_ns(n, backoff,
 *    max_backoff) (health.h: doubling up to the maximum) before its repair.
 *  - At max_failures (0: never) the unit is disabled instead.
 *  - A container stopped through the engine's API (a `kill` event with a
 *    signal other than SIGKILL — docker stop or restart — within the unit's
 *    stop grace + 30 s before its exit) is an operator's act: started again
 *    after 2 s, not counted.  A bare `docker kill` (SIGKILL) is a crash.
 *  - A unit seen ready after a failure has recovered; ready for the stable
 *    period with failures counted, its counter is reset.  A unit whose
 *    dependency recovered has its counter reset (unless disabled).
 *  - A one-shot job (run: once) that exited 0 is ready (it did its work); one
 *    that exited non-zero fails as any unit.
 *  - A disabled unit, or one that should not run, is left alone.
 */
#ifndef RC_HEAL_H
#define RC_HEAL_H

#include <stdbool.h>
#include <stdint.h>

#include "unit.h"

/* A repair waiting for its time. */
enum heal_repair {
	HEAL_REPAIR_NONE = 0,
	HEAL_REPAIR_CONVERGE,  /* converge the unit: the planner starts or recreates it */
	HEAL_REPAIR_RESTART,   /* stop it (its grace), then converge: it runs but is unhealthy */
};

/* The unit's settings that heal_decide() reads (heal_policy_of()). */
struct heal_policy {
	int64_t backoff_ns;       /* first delay (restart.backoff; default 10 s) */
	int64_t max_backoff_ns;   /* cap (restart.max_backoff; default 300 s, never below backoff) */
	int max_failures;         /* 0: never disabled */
	int64_t stable_ns;        /* ready this long resets the counter */
	int64_t stop_grace_ns;    /* the unit's stop grace (for how recent an API stop must be) */
	int64_t api_stop_delay_ns; /* an operator's stop through the engine's API is undone after this
	                            * (run --stopped-grace; heal_policy_of(): 2 s) */
	enum rc_health_kind health;
	int http_retries;         /* failed http probes that make it unhealthy (default 3) */
	bool running;             /* desired state: running */
	bool job;                 /* a one-shot job (run: once): exited 0 is done, not a failure */
};

/* What is known of the unit before the event. */
struct heal_state {
	int failures;             /* consecutive failures counted (units.json) */
	bool disabled;
	bool sleeping;            /* idle: stopped by the daemon until woken (state.h) — left alone */
	bool bad;                 /* a failure was counted and it has not been ready since */
	int64_t ok_since;         /* monotonic ns it was first seen ready; 0: not ready */
	enum heal_repair pending; /* a repair already waiting */
	int http_streak;          /* consecutive failed http probes */
};

enum heal_event_kind {
	HEAL_EV_SEEN,             /* a look at the container (inspect, or a list that says it is fine) */
	HEAL_EV_RESTARTED,        /* its RestartCount grew: the engine restarted it by itself */
	HEAL_EV_REPAIR_FAILED,    /* a repair's converge failed for this unit */
	HEAL_EV_DEP_RECOVERED,    /* a unit it depends on (directly or not) recovered */
};

struct heal_event {
	enum heal_event_kind kind;
	/* HEAL_EV_SEEN */
	bool exists;              /* false: no container of ours under the unit's name */
	const char *status;       /* State.Status: running, exited, created, dead, restarting, ... */
	const char *health;       /* State.Health.Status, or NULL */
	int failing_streak;       /* State.Health.FailingStreak */
	int64_t api_stop_ns;      /* when a non-SIGKILL kill event came for this container; 0: none */
	/* HEAL_EV_SEEN (exited) and HEAL_EV_RESTARTED */
	int exit_code;
	bool oom_killed;
	/* HEAL_EV_RESTARTED */
	int restarts;             /* how many times more than when last seen */
	/* HEAL_EV_REPAIR_FAILED: why */
	const char *reason;
	/* HEAL_EV_SEEN for an http unit: the path probed, for the message */
	const char *http_path;
};

enum heal_verdict {
	HEAL_NOTHING = 0,         /* nothing to do (disabled, not running, repair pending, the engine is at it) */
	HEAL_READY,               /* ready: see recovered, reset */
	HEAL_FAILURE,             /* count `count` failures: see repair, disable */
	HEAL_API_STOP,            /* stopped through the engine's API: start it again (repair after delay), uncounted */
	HEAL_RESET,               /* HEAL_EV_DEP_RECOVERED: forget its counter */
};

struct heal_action {
	enum heal_verdict verdict;
	/* HEAL_FAILURE */
	int count;                /* failures to add */
	int failures;             /* the counter with them */
	int64_t backoff_ns;       /* backoff_delay_ns(failures, ...) */
	bool disable;             /* failures reached max_failures */
	char reason[256];         /* why, for people */
	/* HEAL_FAILURE (unless disable) and HEAL_API_STOP: the repair and its delay */
	enum heal_repair repair;  /* HEAL_REPAIR_NONE: the engine acts itself (a restart it made) */
	int64_t delay_ns;
	/* HEAL_READY */
	bool recovered;           /* state.bad: ready again after a failure */
	int64_t ok_since;         /* the new ok_since */
	bool reset;               /* ready for the stable period with failures: reset the counter */
	/* any: the http streak after (a counted http failure starts a new streak) */
	int http_streak;
};

/* The policy of u; stable_ns: the daemon's --stable-period (0: 10 min). */
struct heal_policy heal_policy_of(const struct rc_unit *u, int64_t stable_ns);

/* Decide what event means for a unit with policy p in state s, at monotonic time now. */
struct heal_action heal_decide(const struct heal_policy *p, const struct heal_state *s, const struct heal_event *e,
			       int64_t now);

const char *heal_repair_name(enum heal_repair r);  /* "repairing", "restarting" */

#endif
