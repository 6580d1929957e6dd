/*
 * daemon.h — `reconciler run`: keep the engine converged to a Git branch,
 * for as long as the process lives.
 *
 * Owns: the daemon's loop and its decisions.  One thread, one poll loop over
 * the branch watch (watch.h), the engine's event stream (docker.h), a
 * signalfd (SIGTERM/SIGINT: finish the current engine call and exit 0 — a
 * health wait of a rollout is interrupted (apply_opts.interrupted), the
 * rollout is neither marked failed nor rolled back, and converging to that
 * commit again waits for the health of what it had made; SIGHUP: re-read
 * the manifests and converge) and timers (periodic check, pending
 * restarts, http probes, fetches, requests).  Convergence itself is
 * converge.h's; the daemon decides when and what.  The self-healing
 * decisions are heal.h's (pure); the files the daemon is split into are
 * listed in daemon_int.h.
 *
 * Phases and rules:
 *  - Start: take the state directory's lock (a second daemon exits 1 naming
 *    the holder's pid); wait for the engine (backoff 0.5 s doubling to 30 s,
 *    until it answers or a signal arrives); then BOOT CONVERGENCE: converge
 *    to the branch head (or, when the head is a commit marked failed, to the
 *    last good commit), logged as "boot convergence complete".
 *  - Commits: a watch hint (or a fetch) makes the daemon resolve the branch
 *    with libgit2; a commit that differs from the one in force and is not
 *    marked failed is ROLLED OUT: loaded, planned (units disabled by the
 *    daemon are left out), applied in dependency order gated on health.
 *  - A bad commit (invalid manifests, conflicts) is reported (file:line:col
 *    on stderr and in the journal) and marked failed; nothing is touched.
 *    A rollout in which any unit fails (never healthy, exits, image cannot
 *    be pulled) is marked failed and ROLLED BACK: the whole desired state of
 *    the last good commit is converged again.  A failed commit is not tried
 *    again until a newer commit arrives or `reconciler retry`.
 *  - Self-healing of the desired state in force, per unit: a container that
 *    is missing (recreated), exited / created / dead (started or recreated:
 *    the planner decides), or unhealthy (Docker `cmd` check, or the daemon's
 *    own `http` probes failing `retries` times: stopped and started) is acted
 *    upon after the unit's backoff (restart.backoff doubling to
 *    restart.max_backoff), once its dependencies are ready.  Every failure
 *    counts, including restarts the engine made itself (RestartCount grows:
 *    crash loops under `unless-stopped`) and actions that did not make the
 *    unit ready; at restart.max_failures (0: never) the unit is disabled:
 *    its container is stopped (so the engine's policy stops restarting it)
 *    and it is left alone until `reconciler enable`.  A unit ready for the
 *    stable period has its counter reset; a unit that recovers resets the
 *    counters of the units that depend on it.  Counters and disabled marks
 *    live in the state directory (units.json) and survive restarts.
 *  - Ownership (owner.h): every converge looks at the project's ownership
 *    marker first; the first claims the project (with take_over, takes it
 *    from its owner, once).  When another state directory owns it the
 *    daemon changes nothing, says and journals why, and exits 1.
 *  - Requests (requests.h) are picked up on every turn of the loop; so are
 *    `drift` commands on the control socket (control.h), answered with a
 *    drift check against the desired state in force.
 */
#ifndef RC_DAEMON_H
#define RC_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

struct daemon_opts {
	const char *repo;            /* Git repository (work tree, .git or bare) */
	const char *rev;             /* branch to follow; NULL or "HEAD": the branch HEAD points to */
	const char *path;            /* manifest sub-directory */
	const char *state_dir;
	const char *docker_host;
	const char *remote;          /* NULL: no fetching; else fetched into repo every fetch_interval */
	const char *remote_branch;   /* the remote's branch (default "main") */
	const char *policy;              /* --policy: the host policy file (hostpolicy.h), read at every load */
	const char *remote_credentials;  /* NULL, or the credentials file of remote (gitcred.h) */
	int64_t poll_interval_ns;    /* watch polling; 0: 2 s */
	int64_t check_interval_ns;   /* periodic check of every unit; 0: 30 s */
	int64_t drift_interval_ns;   /* periodic drift check (drift.h), journaled; 0: 5 min, < 0: off */
	int64_t pull_interval_ns;    /* the `pull: always` units' tags asked of their registries, a moved one
	                                rolled out (journaled "pull"); 0: 5 min, < 0: off */
	int64_t fetch_interval_ns;   /* 0: 60 s */
	int64_t stable_ns;           /* ready this long resets a counter; 0: 10 min */
	int64_t stopped_grace_ns;    /* a unit an operator stopped through the engine is started again after this; 0: 2 s */
	int parallel;                /* apply workers; 0: default */
	bool no_inotify;             /* the branch watch polls only (watch.h) */
	bool quiet;                  /* no per-step lines on stdout */
	bool take_over;              /* take the project from the state directory that owns it (owner.h) */
};

/*
 * Run until SIGTERM or SIGINT.  Returns the process exit code: 0 after a
 * signal, 1 when the daemon cannot start (lock held, repository or branch
 * unusable) or another state directory owns the project (owner.h).
 * Everything is logged to stderr (and the journal); per-step lines of
 * rollouts go to stdout unless quiet.
 */
int daemon_run(const struct daemon_opts *o);

/*
 * `reconciler restart` when no daemon runs: take the state directory's lock,
 * put the last applied commit in force (o->rev is ignored), and restart the
 * units arg names (unit ids, customer:ID) as the daemon does for a restart
 * request: stop them (dependents first, each with its grace), start them in
 * dependency order, wait until ready, reset their failure counters; journaled
 * with who asked.  Returns the exit code (0 or 1); what was done goes to
 * stdout, the error to stderr.
 */
int daemon_restart_once(const struct daemon_opts *o, const char *arg);
/* `reconciler wake` when no daemon runs: the same, waking the sleeping units arg names (and the
 * sleeping units they depend on) as the daemon does for a wake request (dm_wake()). */
int daemon_wake_once(const struct daemon_opts *o, const char *arg);

#endif
