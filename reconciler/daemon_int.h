/*
 * daemon_int.h — the daemon's private parts, shared by the files it is
 * split into (only daemon.c and daemon_*.c include it; make check-layers
 * says so):
 *
 *   daemon.c          daemon_run(): start, boot convergence, the loop over
 *                     the fds and the timer table, signals, requests, fetches
 *   daemon_rollout.c  a commit's life: load, converge (owner check, plan,
 *                     apply), rollout, rollback, the branch head, retries
 *                     after an engine fault
 *   daemon_heal.c     self-healing I/O: the event stream and the known
 *                     container ids, looks at units (inspect, list, http
 *                     probes), heal_decide() (heal.h) carried out, repairs
 *   daemon_control.c  the control socket's drift and drift --fix, the
 *                     periodic drift check
 */
#ifndef RC_DAEMON_INT_H
#define RC_DAEMON_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "apply.h"
#include "buf.h"
#include "converge.h"
#include "daemon.h"
#include "docker.h"
#include "heal.h"
#include "source.h"
#include "state.h"
#include "util.h"
#include "wakeproxy.h"


/* What the daemon knows about one unit of the desired state in force (memory only). */
struct unit_rt {
	char *cid;                /* container id last seen; NULL: none yet */
	int restart_count;        /* its RestartCount when last seen */
	enum heal_repair pending; /* a repair waiting for its backoff */
	int64_t due;              /* monotonic ns */
	int64_t ok_since;         /* monotonic ns the unit was first seen ready; 0: not ready */
	bool bad;                 /* a failure was counted and the unit has not been ready since */
	bool waiting_logged;      /* "waiting for dependency" said once per action */
	int http_streak;          /* consecutive failed http probes */
	int64_t next_probe;
	int64_t probe_ms;         /* the last http probe's latency; -1: none yet */
	bool probe_inside;        /* the last http probe was made from inside its network namespace */
	char reason[256];
	/* The exit code of the last "die" event of its container, until a restart is counted: an
	 * inspect made after the engine restarted it shows ExitCode 0 (reset when it runs again). */
	bool die_seen;
	int die_code;
	char *die_cid;
	/* The last "kill" event of its container with a signal other than SIGKILL: the engine's
	 * API was asked to stop or restart it (an operator's docker stop/restart, or our own
	 * repair) — a die that follows is not a failure of the unit (the kernel's OOM kill or a
	 * crash sends no such event). */
	char *kill_cid;
	int64_t kill_ns;
	/* idle sampling (daemon_idle.c): the rx+tx bytes last seen and since when they did not move
	 * (monotonic ns; 0: not sampled since it last ran) */
	uint64_t idle_bytes;
	int64_t idle_since;
	bool listen_warned;       /* a sleeping unit's port could not be listened on: said once */
};

/*
 * The timer table (redis ae style): each deadline of the loop is a row with
 * its next time (dm->at[], monotonic ns; 0: not armed) and a handler
 * (daemon.c, timers[]).  Armed "now" is how one part of the daemon asks
 * another to act at the next turn (a new commit to look at, a converge after
 * a request, a check of every unit after the desired state changed).
 */
enum dtimer {
	DT_FETCH,      /* --remote: fetch the branch (every fetch_interval) */
	DT_RETRY,      /* resume a rollout the engine cut short, or read a commit again */
	DT_RELOAD,     /* SIGHUP: read the manifests again and converge */
	DT_HEAD,       /* look at the branch head (watch hint, fetch, retry request) */
	DT_CONVERGE,   /* converge the desired state in force (enable, approve, restart requests) */
	DT_EVENTS,     /* open the engine's event stream (again) */
	DT_CHECK,      /* look at every unit (every check_interval; at once after a change) */
	DT_DRIFT,      /* the periodic drift check */
	DT_PULL,       /* the `pull: always` units' tags asked of their registries (every pull_interval) */
	DT_PROBES,     /* the earliest http probe due (from the units) */
	DT_REPAIRS,    /* the earliest repair due (from the units) */
	DT_IDLE,       /* sample the network counters of units with idle: {after} (daemon_idle.c) */
	DT_N
};

struct daemon {
	const struct daemon_opts *o;
	struct converge_source src;
	char *secrets_dir;
	const char *follow;       /* the ref resolved and watched */
	struct rc_state *st;
	struct dk_client *c;
	struct dk_events *ev;
	char *ev_project;         /* the project ev was opened for */
	struct watch *w;
	int sigfd;
	/* the desired state in force */
	struct source_files files;
	struct rc_desired *cur;
	struct unit_rt *rt;       /* parallel to cur->units */
	char *skip_logged;        /* failed head commit already reported as skipped */
	bool stop;                /* SIGTERM/SIGINT, or the project is not ours: leave the loop */
	bool check_deep;          /* the next check inspects every unit: events may have been lost */
	int64_t at[DT_N];         /* the timer table's times (enum dtimer) */
	int64_t check_ns, fetch_ns, drift_ns, pull_ns;  /* the periods (pull_ns <= 0: off) */
	/* The project's container ids, sorted: the last periodic list plus the create and destroy
	 * events since.  The drift check inspects these instead of listing (docs/performance.md,
	 * "Drift check").  Valid from a list made while the event stream was open, until it closes. */
	char **known;
	size_t nknown, known_cap;
	bool known_valid;
	struct drift_image_cache *images;  /* the drift check's image inspects, by id */
	struct control_server *ctl;        /* <state-dir>/control.sock: `drift` commands ask here */
	struct wakeproxy *wp;              /* sleeping units' ports (daemon_idle.c); NULL: one-shot */
	char *repo_id;                     /* the repository identity in the ownership marker (owner.h) */
	bool take_over;                    /* --take-over, until the first claim */
	bool refused;                      /* another state directory owns the project: stop, exit 1 */
	int64_t events_backoff_ns;
	/* A rollout the engine cut short (a fault, or it stopped answering): the commit to resume once
	 * /_ping answers, and the backoff between tries (1 s doubling to 30 s). */
	char *retry_commit;
	int64_t retry_backoff_ns;
};

/* ---- daemon.c ---- */
void dm_say(const char *fmt, ...) RC_PRINTF(1, 2);
void dm_journal(struct daemon *dm, const char *commit, const char *action, const char *unit, const char *result,
		const char *message);
void dm_save(struct daemon *dm);
double dm_secs(int64_t ns);
const char *dm_cur_commit(const struct daemon *dm);
/* Arm timer t at time at (0: disarm); dm_soon(): at the next turn, unless armed earlier. */
void dm_arm(struct daemon *dm, enum dtimer t, int64_t at);
void dm_soon(struct daemon *dm, enum dtimer t);
/* Make d (and its files) the desired state in force; keeps what is known of units by id. */
void dm_install(struct daemon *dm, struct rc_desired *d, struct source_files *files);
void dm_read_signals(struct daemon *dm);

/* ---- daemon_rollout.c ---- */
/* CONV_REFUSED: another state directory owns the project (owner.h); the daemon stops (exit 1). */
enum conv_result { CONV_OK = 0, CONV_TRANSIENT, CONV_CONFLICT, CONV_FAILED, CONV_INTERRUPTED, CONV_REFUSED };

/* How the planner sees the engine before it plans: drift --fix makes the drifted fields visible. */
struct conv_adjust {
	void (*fn)(struct plan_observed *o, void *ctx);
	void *ctx;
};

/* What a converge of the daemon does besides plan and apply (dm_converge()). */
struct conv_opts {
	bool (*keep)(const struct plan_action *, void *);  /* NULL: the whole plan (less disabled units) */
	void *keep_ctx;
	bool self_heal;                  /* a repair: starting the same container again needs no approval */
	bool verify;                     /* wait for the health of units with nothing to do */
	const struct conv_adjust *adjust;  /* NULL, or how the observed state is seen first */
	struct apply_result *result;     /* NULL, or receives the steps (release it) */
	struct buf *blocked;             /* NULL, or receives the units held back because a unit they
					  * depend on is disabled: "UNIT (DEP is disabled)", "; " between */
};

/*
 * Plan d against the engine (units the daemon disabled left out, and what
 * o->keep lets through) and apply.  msg receives the reason of a failure:
 * the engine's error, the conflicts, or the failed steps.
 */
enum conv_result dm_converge(struct daemon *dm, struct rc_desired *d, const struct conv_opts *o, struct buf *msg,
				  size_t *ret_steps);
/* Converge to commit (a rollout).  0 when it is in force, -1 otherwise. */
int dm_rollout(struct daemon *dm, const char *commit, const char *why);
/* The commit the branch points to now, or NULL (logged). */
char *dm_resolve_head(struct daemon *dm);
/* Look at the branch head; roll out a new commit.  force: converge even if it is the one in force. */
void dm_check_head(struct daemon *dm, bool force, const char *why);
/* Load commit and make it the desired state in force, without converging (a one-shot restart). */
int dm_put_in_force(struct daemon *dm, const char *commit, struct rc_err *err);
/* DT_RETRY: resume the rollout the engine cut short (or look at the head again). */
void dm_retry_rollout(struct daemon *dm);

/* ---- daemon_heal.c ---- */
/* The units a batch of repairs converges (and the networks they may need): conv_opts.keep. */
struct unit_set {
	const struct rc_desired *d;
	const bool *in;  /* by unit index */
};
bool dm_keep_units(const struct plan_action *a, void *ctx);
void dm_events_open(struct daemon *dm);
void dm_events_close(struct daemon *dm);
/* Handle the events the engine has sent already, without waiting. */
void dm_events_drain(struct daemon *dm);
void dm_handle_event(struct daemon *dm, const struct dk_event *e);
void dm_known_clear(struct daemon *dm);
/* The periodic check: one list call; inspect only what does not look fine. */
void dm_check_all(struct daemon *dm);
/* Probe units with http health checks whose time has come. */
void dm_http_probes(struct daemon *dm);
/* Repair every unit whose time has come, together. */
void dm_act_all(struct daemon *dm);
/* The earliest http probe and repair due; 0: none. */
int64_t dm_next_probe(const struct daemon *dm);
int64_t dm_next_repair(const struct daemon *dm);
void dm_rt_release(struct daemon *dm);
/* `restart` request: stop the units arg names (ids, customer:ID; dependents first, each with its
 * grace), converge them (started in dependency order, waiting for ready), reset their counters;
 * journaled with who.  0 with msg, or -1. */
int dm_restart(struct daemon *dm, const char *arg, const char *who, struct buf *msg, struct rc_err *err);
/* After a `disable` request: tie the mark to the unit's spec in force, stop its container. */
void dm_disabled_by_request(struct daemon *dm, const char *unit);
/* Forget what the daemon remembers of unit (memory) after an enable. */
void dm_forget(struct daemon *dm, const char *unit);

/*
 * DT_PULL: ask the registries of the `pull: always` units' tags (one distribution request per
 * distinct reference) and, when one moved, journal it ("pull", both digests) and converge the
 * desired state in force: the plan sees the move, apply pulls and replaces those units.  A
 * registry that does not answer is a warning; nothing changes.
 */
void dm_pull_check(struct daemon *dm);

/* ---- daemon_idle.c ---- */
/* The wake proxy's bounds (docs/operations.md, "Idle customers"). */
#define WAKE_MAX_HELD 256                  /* connections held at a time, all units */
#define WAKE_HOLD_NS (120 * NS_PER_S)       /* a held connection not spliced by then is closed */
#define WAKE_IDLE_NS (600 * NS_PER_S)       /* a relay quiet that long either way is closed */
#define WAKE_PUMP_NS (2 * NS_PER_S)         /* after a wake: relay at once until the first answer, at most */
/* DT_IDLE: one stats call per running unit with idle: {after}; a unit whose counters did not move
 * for its `after` is stopped (its grace) and marked sleeping (journaled "sleep").  Re-arms itself. */
void dm_idle_sample(struct daemon *dm);
/* `wake` request: start the sleeping units arg names (ids, customer:ID) and the sleeping units they
 * depend on, dependencies first, wait until ready, clear the marks; journaled "wake" with who.
 * 0 with msg, or -1. */
int dm_wake(struct daemon *dm, const char *arg, const char *who, struct buf *msg, struct rc_err *err);
/* Listen on the published tcp ports of every sleeping unit not listened for yet. */
void dm_idle_listen(struct daemon *dm);
/* After the loop's poll: the wake proxy's fds and timeouts; wake the units a connection asked for. */
void dm_idle_handle(struct daemon *dm, const struct pollfd *fds, size_t n);
/* apply_opts.before_start (ctx: the daemon): close the wake proxy's listeners on u's ports, holding
 * what waits in their backlog, right before the engine starts u's container and binds them.  Called
 * from apply's worker threads while the daemon's loop waits for the apply. */
void dm_idle_before_start(void *ctx, const struct rc_unit *u);

/* ---- daemon_control.c ---- */
/* A command on the control socket (control.h). */
void dm_control(struct daemon *dm);
/* DT_DRIFT: the periodic drift check, reported only. */
void dm_drift(struct daemon *dm);

#endif
