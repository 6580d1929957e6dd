/*
 * telemetry.h — what the daemon tells the world about itself: the HTTP
 * endpoint (httpd.h), the webhooks (notify.h), systemd (sdnotify.h), fed
 * from the metrics registry (metrics.h).
 *
 * Owns: their life in the daemon process and the glue from the daemon's
 * state to them.  The daemon calls one function at each point that
 * matters, and none of them waits for a client:
 *   telemetry_start()      after the state lock: listen, start the workers
 *   telemetry_tick()       every turn of the loop: heartbeat, watchdog, and
 *                          (at most 4 times a second) a fresh copy of the
 *                          unit table, STATUS=, the webhooks' configuration
 *   telemetry_alive()      a rollout's coordinator between its waits
 *                          (heartbeat and watchdog from inside long rollouts)
 *   telemetry_unit_ready() / telemetry_unit_failed()   the loop's verdicts
 *   telemetry_booted()     boot convergence over: READY=1
 *   telemetry_stop()       STOPPING=1, the server and the workers stopped
 * Process-wide (one daemon per process).
 */
#ifndef RC_TELEMETRY_H
#define RC_TELEMETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "state.h"
#include "unit.h"

struct telemetry_opts {
	const char *listen;   /* --listen; NULL: <state-dir>/http.sock */
	const char *repo;     /* for the commits' committer times */
	/* GET /status: the document of `status --json` (cmd_apply.c) */
	int (*status)(void *ctx, struct buf *out, struct rc_err *err);
	void *status_ctx;
};

/* Before daemon_run(): what telemetry_start() will do (copied). */
void telemetry_configure(const struct telemetry_opts *o);
/* Listen and start the workers.  -1 with err when --listen was given and cannot be listened on
 * (the default socket that cannot be made is a warning: the daemon runs without the endpoint). */
int telemetry_start(const char *state_dir, struct rc_err *err);
void telemetry_tick(const struct rc_desired *cur, const struct rc_state *st);
void telemetry_alive(void);
void telemetry_unit_ready(const char *unit);
void telemetry_unit_failed(const char *unit, int n);
void telemetry_booted(const char *summary);
void telemetry_stop(void);

#endif
