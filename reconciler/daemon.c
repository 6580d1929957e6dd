/*
 * daemon.c — see daemon.h; the map of the files the daemon is split into is
 * daemon_int.h.  This file: daemon_run() (start, boot convergence, stop), the
 * loop over the fds (branch watch, events, signalfd, control socket) and the
 * timer table, signals, operator requests and fetches.
 */
#include "daemon_int.h"
#include "telemetry.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "drift.h"
#include "owner.h"
#include "requests.h"
#include "watch.h"

/* ---- output -------------------------------------------------------------- */

void dm_say(const char *fmt, ...)
{
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s reconciler[%ld]: %s\n", ts, (long)getpid(), buf_cstr(&b));
	fflush(stderr);
	buf_release(&b);
}

void dm_journal(struct daemon *dm, const char *commit, const char *action, const char *unit, const char *result,
		const char *message)
{
	struct state_journal_entry je = { .commit = commit, .action = action, .unit = unit, .result = result,
					  .message = message };
	struct rc_err err;
	if (state_journal(dm->st, &je, &err) < 0)
		dm_say("warning: %s", err.msg);
}

void dm_save(struct daemon *dm)
{
	struct rc_err err;
	if (state_save(dm->st, &err) < 0)
		dm_say("warning: saving state: %s", err.msg);
}

double dm_secs(int64_t ns)
{
	return (double)ns / 1e9;
}

/* ---- the timer table ------------------------------------------------------- */

void dm_arm(struct daemon *dm, enum dtimer t, int64_t at)
{
	dm->at[t] = at;
}

void dm_soon(struct daemon *dm, enum dtimer t)
{
	int64_t now = now_ns();
	if (!dm->at[t] || dm->at[t] > now)
		dm->at[t] = now;
}

static void fetch(struct daemon *dm);
static void on_reload(struct daemon *dm);
static void on_head(struct daemon *dm);
static void on_converge(struct daemon *dm);
static void on_events(struct daemon *dm);
static void on_check(struct daemon *dm);
static void on_drift(struct daemon *dm);
static void on_pull(struct daemon *dm);

/*
 * The rows, in the order they fire within one turn of the loop.  live: NULL,
 * or whether the row counts now (an armed row that does not is neither
 * waited for nor fired); fire is called with the row disarmed and re-arms it
 * if it is periodic.  DT_PROBES and DT_REPAIRS are the earliest of the
 * units' times (dm_next_probe(), dm_next_repair()), set before every wait.
 */
static bool has_cur(const struct daemon *dm)
{
	return dm->cur != NULL;
}

static bool events_closed(const struct daemon *dm)
{
	return dm->cur && !dm->ev;
}

static const struct timer_row {
	enum dtimer id;
	const char *name;
	bool (*live)(const struct daemon *dm);
	void (*fire)(struct daemon *dm);
} timers[] = {
	{ DT_FETCH, "fetch", NULL, fetch },
	{ DT_RETRY, "engine retry", NULL, dm_retry_rollout },
	{ DT_RELOAD, "reload", NULL, on_reload },
	{ DT_HEAD, "branch head", NULL, on_head },
	{ DT_CONVERGE, "converge", has_cur, on_converge },
	{ DT_EVENTS, "event stream", events_closed, on_events },
	{ DT_CHECK, "check", NULL, on_check },
	{ DT_DRIFT, "drift check", has_cur, on_drift },
	{ DT_PULL, "pull check", has_cur, on_pull },
	{ DT_PROBES, "http probes", has_cur, dm_http_probes },
	{ DT_REPAIRS, "repairs", has_cur, dm_act_all },
	{ DT_IDLE, "idle sampling", has_cur, dm_idle_sample },
};

/* The next time the loop must wake up: the earliest live row, and twice a second for requests. */
static int64_t next_deadline(struct daemon *dm)
{
	int64_t now = now_ns(), t = now + NS_PER_S / 2;  /* requests are looked at twice a second */
	dm->at[DT_PROBES] = dm_next_probe(dm);
	dm->at[DT_REPAIRS] = dm_next_repair(dm);
	for (size_t i = 0; i < ARRAY_SIZE(timers); i++) {
		const struct timer_row *r = &timers[i];
		if (dm->at[r->id] && dm->at[r->id] < t && (!r->live || r->live(dm)))
			t = dm->at[r->id];
	}
	int64_t w = dm->wp ? wp_deadline(dm->wp) : 0;  /* a held connection's or a relay's timeout */
	if (w && w < t)
		t = w;
	return t < now ? now : t;
}

/* Fire the rows whose time has come, in table order. */
static void run_timers(struct daemon *dm)
{
	for (size_t i = 0; i < ARRAY_SIZE(timers) && !dm->stop; i++) {
		const struct timer_row *r = &timers[i];
		if (r->id == DT_PROBES || r->id == DT_REPAIRS)
			dm->at[r->id] = r->id == DT_PROBES ? dm_next_probe(dm) : dm_next_repair(dm);
		int64_t at = dm->at[r->id];
		if (!at || at > now_ns() || (r->live && !r->live(dm)))
			continue;
		dm->at[r->id] = 0;
		log_debug("timer: %s", r->name);
		r->fire(dm);
	}
}

/* ---- the desired state in force ------------------------------------------ */

const char *dm_cur_commit(const struct daemon *dm)
{
	return dm->cur ? dm->cur->commit : NULL;
}

void dm_install(struct daemon *dm, struct rc_desired *d, struct source_files *files)
{
	struct unit_rt *rt = xcalloc(d->nunits + 1, sizeof(*rt));
	for (size_t i = 0; i < d->nunits; i++) {
		rt[i].probe_ms = -1;
		struct rc_unit *old = dm->cur ? rc_desired_unit(dm->cur, d->units[i].id) : NULL;
		if (old) {
			struct unit_rt *o = &dm->rt[old - dm->cur->units];
			rt[i].cid = TAKE_PTR(o->cid);
			rt[i].restart_count = o->restart_count;
			rt[i].die_seen = o->die_seen;
			rt[i].die_code = o->die_code;
			rt[i].die_cid = TAKE_PTR(o->die_cid);
			rt[i].kill_cid = TAKE_PTR(o->kill_cid);
			rt[i].kill_ns = o->kill_ns;
			rt[i].probe_ms = o->probe_ms;
			rt[i].idle_bytes = o->idle_bytes;
			rt[i].idle_since = o->idle_since;
		}
	}
	dm_rt_release(dm);
	rc_desired_free(dm->cur);
	source_files_release(&dm->files);
	dm->cur = d;
	dm->files = *files;
	memset(files, 0, sizeof(*files));
	dm->rt = rt;
	state_apply_sleeping(dm->st, d);  /* before the first converge: heal leaves them alone */
	dm_soon(dm, DT_CHECK);
	dm_soon(dm, DT_IDLE);
	if (dm->ev && !str_eq(dm->ev_project, d->settings.project))
		dm_events_close(dm);  /* the project changed: follow the new one's events */
}

/* ---- requests ------------------------------------------------------------- */

/* One request: restart is the daemon's own (engine work); the others are request_exec()'s. */
static bool request(struct daemon *dm, const struct request *r, struct buf *msg, struct rc_err *err)
{
	if (str_eq(r->verb, "restart"))
		return dm_restart(dm, r->arg, r->who, msg, err) == 0;
	if (str_eq(r->verb, "wake"))
		return dm_wake(dm, r->arg, r->who, msg, err) == 0;
	if (str_eq(r->verb, "disable") && dm->cur && !rc_desired_unit(dm->cur, r->arg)) {
		rc_errf(err, "no unit '%s' in commit %.12s", r->arg, dm_cur_commit(dm));
		return false;
	}
	unsigned eff = 0;
	bool ok = request_exec_by(dm->st, r->verb, r->arg, r->note, r->who, msg, &eff, err) == 0;
	dm_save(dm);
	if (eff & REQ_EFFECT_CONVERGE)
		dm_soon(dm, DT_CONVERGE);
	if (eff & REQ_EFFECT_RECHECK) {
		free(dm->skip_logged);
		dm->skip_logged = NULL;
		dm_soon(dm, DT_HEAD);
	}
	if (ok && str_eq(r->verb, "enable"))
		dm_forget(dm, r->arg);
	if (ok && str_eq(r->verb, "disable"))
		dm_disabled_by_request(dm, r->arg);
	return ok;
}

static void requests(struct daemon *dm)
{
	struct request *v = NULL;
	size_t n = 0;
	struct rc_err err = { 0 };
	if (request_list(dm->o->state_dir, &v, &n, &err) < 0) {
		dm_say("warning: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct buf msg = BUF_INIT;
		bool ok = request(dm, &v[i], &msg, &err);
		dm_say("request %s %s: %s", v[i].verb, v[i].arg, ok ? buf_cstr(&msg) : err.msg);
		if (request_answer(dm->o->state_dir, v[i].name, ok, ok ? buf_cstr(&msg) : err.msg, &err) < 0)
			dm_say("warning: %s", err.msg);
		buf_release(&msg);
	}
	request_list_free(v, n);
}

/* ---- signals and the engine wait --------------------------------------------- */

void dm_read_signals(struct daemon *dm)
{
	struct signalfd_siginfo si;
	while (read(dm->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			dm_say("SIGHUP: re-reading the manifests");
			dm_soon(dm, DT_RELOAD);
		} else {
			dm_say("%s: finishing", strsignal((int)si.ssi_signo));
			dm->stop = true;
		}
	}
}

/* Wait for the engine (and the signalfd).  0 when it answers, -1 when a signal asks us to stop. */
static int wait_engine(struct daemon *dm)
{
	int64_t delay = NS_PER_S / 2;
	struct dk_opts dopts = { .host = dm->o->docker_host };
	for (;;) {
		struct rc_err err = { 0 };
		if (!dm->c && dk_client_open(&dopts, &dm->c, &err) == 0)
			return 0;
		if (dm->c) {
			if (dk_ping(dm->c, NULL, &err) == 0)
				return 0;
		}
		telemetry_alive();
		dm_say("waiting for the docker engine at %s: %s; next try in %.1fs",
		       dm->o->docker_host ? dm->o->docker_host : DK_DEFAULT_HOST, err.msg, dm_secs(delay));
		struct pollfd p = { dm->sigfd, POLLIN, 0 };
		if (poll(&p, 1, (int)(delay / NS_PER_MS)) > 0) {
			dm_read_signals(dm);
			if (dm->stop)
				return -1;
		}
		delay = delay * 2 > 30 * NS_PER_S ? 30 * NS_PER_S : delay * 2;
	}
}

/* ---- the timers' handlers ----------------------------------------------------- */

static void fetch(struct daemon *dm)
{
	struct rc_err err = { 0 };
	const char *branch = dm->o->remote_branch ? dm->o->remote_branch : "main";
	char id[41];
	if (source_fetch(dm->o->repo, dm->o->remote, dm->o->remote_credentials, branch, dm->follow, id, &err) < 0) {
		_cleanup_free_ char *shown = url_redact(dm->o->remote);
		dm_say("warning: fetching %s from %s: %s", branch, shown, err.msg);
	} else if (!str_eq(id, dm_cur_commit(dm))) {
		dm_soon(dm, DT_HEAD);
	}
	dm_arm(dm, DT_FETCH, now_ns() + dm->fetch_ns);
}

static void on_reload(struct daemon *dm)
{
	dm_arm(dm, DT_HEAD, 0);  /* the reload looks at the head too */
	dm_check_head(dm, true, "SIGHUP");
}

static void on_head(struct daemon *dm)
{
	dm_check_head(dm, false, "new commit");
}

static void on_converge(struct daemon *dm)
{
	struct buf msg = BUF_INIT;
	size_t nsteps = 0;
	struct conv_opts co = { 0 };
	if (dm_converge(dm, dm->cur, &co, &msg, &nsteps) != CONV_OK)
		dm_say("converging %.12s: %s", dm_cur_commit(dm), buf_cstr(&msg));
	else if (nsteps)
		dm_say("converged %.12s (%zu step%s)", dm_cur_commit(dm), nsteps, nsteps == 1 ? "" : "s");
	dm_save(dm);
	buf_release(&msg);
	dm_soon(dm, DT_CHECK);
}

static void on_events(struct daemon *dm)
{
	dm_events_open(dm);
}

static void on_check(struct daemon *dm)
{
	dm_check_all(dm);
	dm_arm(dm, DT_CHECK, now_ns() + dm->check_ns);
}

static void on_drift(struct daemon *dm)
{
	dm_drift(dm);
	dm_arm(dm, DT_DRIFT, now_ns() + dm->drift_ns);
}

static void on_pull(struct daemon *dm)
{
	dm_pull_check(dm);
	dm_arm(dm, DT_PULL, now_ns() + dm->pull_ns);
}

/* ---- the loop --------------------------------------------------------------- */

/* Wait for an fd or the next deadline; handle an engine event that arrives. */
static void wait_turn(struct daemon *dm, struct pollfd *fds, size_t nfds)
{
	int timeout = (int)((next_deadline(dm) - now_ns()) / NS_PER_MS);
	struct rc_err err = { 0 };
	if (!dm->ev) {
		poll(fds, nfds, timeout);
		return;
	}
	struct dk_event e;
	int r = dk_events_poll(dm->ev, timeout, fds, nfds, &e, &err);
	if (r == 1) {
		dm_handle_event(dm, &e);
		dk_event_release(&e);
	} else if (r < 0) {
		dm_say("engine event stream lost: %s; reconnecting", err.msg);
		dm_events_close(dm);
	}
	poll(fds, nfds, 0);
}

static void loop(struct daemon *dm)
{
	int64_t now = now_ns();
	dm_arm(dm, DT_CHECK, dm->at[DT_CHECK] && dm->at[DT_CHECK] < now + dm->check_ns ? dm->at[DT_CHECK]
										 : now + dm->check_ns);
	dm_arm(dm, DT_FETCH, dm->o->remote ? now + dm->fetch_ns : 0);
	dm_arm(dm, DT_DRIFT, dm->drift_ns > 0 ? now + dm->drift_ns : 0);
	dm_arm(dm, DT_PULL, dm->pull_ns > 0 ? now + dm->pull_ns : 0);
	while (!dm->stop) {
		telemetry_tick(dm->cur, dm->st);  /* heartbeat, watchdog, the unit table for /metrics */
		/* the watch, the signals, the control socket, then the wake proxy's (daemon_idle.c) */
		size_t cap = 3 + (dm->wp ? wp_nfds(dm->wp) : 0), nall = 3;
		_cleanup_free_ struct pollfd *fds = xcalloc(cap, sizeof(*fds));
		fds[0] = (struct pollfd){ watch_fd(dm->w), POLLIN, 0 };
		fds[1] = (struct pollfd){ dm->sigfd, POLLIN, 0 };
		fds[2] = (struct pollfd){ dm->ctl ? control_fd(dm->ctl) : -1, POLLIN, 0 };
		size_t nfds = dm->ctl ? 3 : 2;
		if (dm->wp)
			wp_pollfds(dm->wp, fds, &nall, cap);
		wait_turn(dm, fds, nall);
		if (fds[1].revents & POLLIN)
			dm_read_signals(dm);
		if (dm->stop)
			break;
		if (fds[0].revents & POLLIN) {
			struct rc_err err = { 0 };
			int r = watch_wait(dm->w, 0, &err);
			if (r == 1)
				dm_soon(dm, DT_HEAD);
			else if (r < 0)
				dm_say("warning: watching the repository: %s", err.msg);
		}
		dm_idle_handle(dm, fds + 3, nall - 3);  /* before the requests: a held client waits */
		requests(dm);
		if (nfds > 2 && (fds[2].revents & POLLIN))
			dm_control(dm);
		run_timers(dm);
		dm_save(dm);
	}
}

static int setup_signals(struct daemon *dm)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	dm->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return dm->sigfd < 0 ? -1 : 0;
}

/* ---- start and boot ------------------------------------------------------------ */

/*
 * Boot convergence: the branch head (or, when it is marked failed, the last
 * good commit), then a first look at every unit — the RestartCount each
 * container has now is the baseline; restarts after it are counted.
 */
static void boot(struct daemon *dm)
{
	dm_journal(dm, NULL, "boot", NULL, "started", dm->follow);
	_cleanup_free_ char *head = dm_resolve_head(dm);
	const char *target = head;
	if (head && state_get_failed_commit(dm->st, head)) {
		target = state_get_last_good(dm->st);
		dm_say("boot: the head %.12s is marked failed; %s", head,
		       target ? "converging to the last good commit" : "no last good commit: nothing to do");
		dm->skip_logged = xstrdup(head);
	}
	_cleanup_free_ char *t = target ? xstrdup(target) : NULL;
	if (t)
		dm_rollout(dm, t, "boot");
	if (!dm->stop) {
		dm_events_open(dm);
		dm_check_all(dm);
		dm_arm(dm, DT_CHECK, 0);
	}
	size_t nd = 0;
	_cleanup_free_ const char **dis = state_disabled_units(dm->st, &nd);
	_cleanup_free_ char *summary = xasprintf(
		"commit %.12s, %zu unit%s, %zu network%s, %zu disabled", dm_cur_commit(dm) ? dm_cur_commit(dm) : "(none)",
		dm->cur ? dm->cur->nunits : 0, dm->cur && dm->cur->nunits == 1 ? "" : "s",
		dm->cur ? dm->cur->nnetworks : 0, dm->cur && dm->cur->nnetworks == 1 ? "" : "s", nd);
	if (dm->refused) {
		dm_say("boot convergence refused: the project belongs to another state directory; stopping");
	} else if (dm->stop) {
		dm_say("boot convergence interrupted: %s", summary);
		dm_journal(dm, dm_cur_commit(dm), "boot", NULL, "interrupted", summary);
	} else {
		dm_say("boot convergence complete: %s", summary);
		telemetry_booted(summary);  /* READY=1 */
		dm_journal(dm, dm_cur_commit(dm), "boot", NULL, "ok", summary);
	}
	dm_save(dm);
}

/* Lock, signals, control socket, first fetch, branch watch.  0, or -1 (said on stderr). */
static int start(struct daemon *dm, const char *remote_shown)
{
	const struct daemon_opts *o = dm->o;
	struct rc_err err = { 0 };
	if (state_open(o->state_dir, STATE_OPEN_LOCK, &dm->st, &err) < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		return -1;
	}
	size_t nw = 0;
	const char *const *w = state_warnings(dm->st, &nw);
	for (size_t i = 0; i < nw; i++)
		dm_say("warning: %s", w[i]);
	if (setup_signals(dm) < 0) {
		fprintf(stderr, "reconciler: cannot set up signal handling: %s\n", strerror(errno));
		return -1;
	}
	if (control_listen(o->state_dir, &dm->ctl, &err) < 0)
		dm_say("warning: no control socket (drift commands will check by themselves): %s", err.msg);
	if (telemetry_start(o->state_dir, &err) < 0) {  /* the HTTP endpoint, webhooks, systemd */
		fprintf(stderr, "reconciler: %s\n", err.msg);
		return -1;
	}
	dm_say("starting: following '%s' of %s%s%s%s%s%s, state in %s", dm->follow, o->repo,
	       o->remote ? " fetched from " : "", o->remote ? remote_shown : "",
	       o->remote_credentials ? " (credentials from " : "", o->remote_credentials ? o->remote_credentials : "",
	       o->remote_credentials ? ")" : "", o->state_dir);
	if (o->remote) {
		char id[41];
		if (source_fetch(o->repo, o->remote, o->remote_credentials, o->remote_branch ? o->remote_branch : "main",
				 dm->follow, id, &err) < 0)
			dm_say("warning: first fetch from %s failed: %s", remote_shown, err.msg);
	}
	struct watch_opts wo = WATCH_OPTS_DEFAULT;
	wo.inotify = !o->no_inotify;
	if (o->poll_interval_ns > 0)
		wo.poll_interval_ms = (int)(o->poll_interval_ns / NS_PER_MS) > 0 ? (int)(o->poll_interval_ns / NS_PER_MS) : 1;
	if (watch_open(o->repo, dm->follow, &wo, &dm->w, &err) < 0) {
		fprintf(stderr, "reconciler: watching '%s': %s\n", o->repo, err.msg);
		return -1;
	}
	return 0;
}

static void release(struct daemon *dm)
{
	wp_free(dm->wp);
	control_close(dm->ctl);
	dm_events_close(dm);
	watch_close(dm->w);
	if (dm->sigfd >= 0)
		close(dm->sigfd);
	dm_rt_release(dm);
	rc_desired_free(dm->cur);
	source_files_release(&dm->files);
	dk_client_free(dm->c);
	state_free(dm->st);
	free(dm->ev_project);
	dm_known_clear(dm);
	free(dm->known);
	drift_image_cache_free(dm->images);
	free(dm->skip_logged);
	free(dm->retry_commit);
	free(dm->secrets_dir);
	free(dm->repo_id);
}

int daemon_run(const struct daemon_opts *o)
{
	struct daemon dm = { .o = o, .sigfd = -1 };
	int rc = 1;
	_cleanup_free_ char *remote_shown = url_redact(o->remote);  /* no credentials in the log */
	dm.secrets_dir = xasprintf("%s/secrets", o->state_dir);
	dm.follow = o->rev && *o->rev ? o->rev : "HEAD";
	_cleanup_free_ char *remote_ref = NULL;
	if (o->remote) {
		remote_ref = xasprintf("refs/remotes/reconciler/%s", o->remote_branch ? o->remote_branch : "main");
		dm.follow = remote_ref;
	}
	dm.src = (struct converge_source){ .repo = o->repo, .rev = dm.follow, .path = o->path,
					   .secrets_dir = dm.secrets_dir, .generate_secrets = true };
	dm.repo_id = owner_repo_identity(o->repo, NULL, o->remote);
	dm.take_over = o->take_over;
	dm.check_ns = o->check_interval_ns > 0 ? o->check_interval_ns : 30 * NS_PER_S;
	dm.fetch_ns = o->fetch_interval_ns > 0 ? o->fetch_interval_ns : 60 * NS_PER_S;
	dm.drift_ns = o->drift_interval_ns ? o->drift_interval_ns : 300 * NS_PER_S;
	dm.pull_ns = o->pull_interval_ns ? o->pull_interval_ns : 300 * NS_PER_S;
	dm_soon(&dm, DT_EVENTS);  /* follow the engine's events as soon as there is a desired state */
	dm.wp = wp_new(WAKE_MAX_HELD, WAKE_HOLD_NS, WAKE_IDLE_NS);
	if (start(&dm, remote_shown) < 0)
		goto out;
	dm_say("boot: waiting for the engine, then converging before anything else");
	if (wait_engine(&dm) < 0) {
		rc = 0;
		goto out;
	}
	boot(&dm);
	dm_events_open(&dm);
	loop(&dm);
	dm_say("stopped");
	dm_journal(&dm, dm_cur_commit(&dm), "stop", NULL, dm.refused ? "refused" : "ok", NULL);
	dm_save(&dm);
	rc = dm.refused ? 1 : 0;
out:
	telemetry_stop();  /* STOPPING=1 */
	release(&dm);
	return rc;
}

static int act_once(const struct daemon_opts *o, const char *verb, const char *arg);

int daemon_restart_once(const struct daemon_opts *o, const char *arg)
{
	return act_once(o, "restart", arg);
}

int daemon_wake_once(const struct daemon_opts *o, const char *arg)
{
	return act_once(o, "wake", arg);
}

/* restart or wake without a daemon: the last applied commit in force, then as the daemon does. */
static int act_once(const struct daemon_opts *o, const char *verb, const char *arg)
{
	struct daemon dm = { .o = o, .sigfd = -1 };
	struct rc_err err = { 0 };
	int rc = 1;
	_cleanup_free_ char *who = request_who();
	_cleanup_free_ char *commit = NULL;  /* before any goto: the fuzz build's clang refuses a jump over it */
	struct buf msg = BUF_INIT;
	dm.secrets_dir = xasprintf("%s/secrets", o->state_dir);
	dm.repo_id = owner_repo_identity(o->repo, NULL, NULL);
	struct dk_opts dopts = { .host = o->docker_host };
	if (state_open(o->state_dir, STATE_OPEN_LOCK, &dm.st, &err) < 0 || dk_client_open(&dopts, &dm.c, &err) < 0)
		goto out;
	const char *last = state_get_last_applied(dm.st);
	if (!last) {
		rc_errf(&err, "nothing was applied from this state directory yet");
		goto out;
	}
	commit = xstrdup(last);
	const char *path = o->path ? o->path : state_get_path(dm.st);
	dm.follow = commit;
	dm.src = (struct converge_source){ .repo = o->repo, .rev = commit, .path = path,
					   .secrets_dir = dm.secrets_dir, .generate_secrets = true };
	if (dm_put_in_force(&dm, commit, &err) < 0)
		goto out;
	if ((str_eq(verb, "wake") ? dm_wake(&dm, arg, who, &msg, &err) : dm_restart(&dm, arg, who, &msg, &err)) < 0)
		goto out;
	if (!o->quiet)
		printf("%s\n", buf_cstr(&msg));
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "reconciler: %s\n", err.msg);
	buf_release(&msg);
	release(&dm);
	return rc;
}
