/* daemon.c — see daemon.h. */
#include "daemon.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "buf.h"
#include "control.h"
#include "converge.h"
#include "hostpolicy.h"
#include "drift.h"
#include "docker.h"
#include "health.h"
#include "manifest.h"
#include "owner.h"
#include "requests.h"
#include "source.h"
#include "state.h"
#include "telemetry.h"
#include "watch.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL

enum act { ACT_NONE = 0, ACT_CONVERGE, ACT_RESTART };

/* What the daemon knows about one unit of the desired state in force (memory only). */
struct unit_rt {
	char *cid;                /* container id last seen; NULL: none yet */
	int restart_count;        /* its RestartCount when last seen */
	enum act pending;         /* an action waiting for its backoff */
	int64_t due;              /* monotonic ns */
	int64_t ok_since;         /* monotonic ns the unit was first seen ready; 0: not ready */
	bool bad;                 /* a failure was counted and the unit has not been ready since */
	bool waiting_logged;      /* "waiting for dependency" said once per action */
	int http_streak;          /* consecutive failed http probes */
	int64_t next_probe;
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
	bool stop, reload, head_check, converge_cur, check_all;
	bool check_deep;  /* the next check inspects every unit: events may have been lost */
	/* The project's container ids, sorted: the last periodic list plus the create and destroy
	 * events since.  The drift check inspects these instead of listing (docs/performance.md,
	 * "Drift check").  Valid from a list made while the event stream was open, until it closes. */
	char **known;
	size_t nknown, known_cap;
	bool known_valid;
	struct drift_image_cache *images;  /* the drift check's image inspects, by id */
	struct control_server *ctl;        /* <state-dir>/control.sock: `drift` commands ask here */
	char *repo_id;                     /* the repository identity in the ownership marker (owner.h) */
	bool take_over;                    /* --take-over, until the first claim */
	bool refused;                      /* another state directory owns the project: stop, exit 1 */
	int64_t next_check, next_fetch, next_events, retry_head_at, next_drift;
	int64_t events_backoff_ns;
	/* A rollout the engine cut short (a fault, or it stopped answering): the commit to resume once
	 * /_ping answers, and the backoff between tries (1 s doubling to 30 s). */
	char *retry_commit;
	int64_t retry_backoff_ns;
};

/* ---- output -------------------------------------------------------------- */

static void say(const char *fmt, ...) RC_PRINTF(1, 2);
static void say(const char *fmt, ...)
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

static void journal(struct daemon *dm, const char *commit, const char *action, const char *unit,
		    const char *result, const char *message)
{
	struct state_journal_entry je = { .commit = commit, .action = action, .unit = unit, .result = result,
					  .message = message };
	struct rc_err err;
	if (state_journal(dm->st, &je, &err) < 0)
		say("warning: %s", err.msg);
}

static void save(struct daemon *dm)
{
	struct rc_err err;
	if (state_save(dm->st, &err) < 0)
		say("warning: saving state: %s", err.msg);
}

static double secs(int64_t ns)
{
	return (double)ns / 1e9;
}

/* ---- the desired state in force ------------------------------------------ */

static void rt_release(struct daemon *dm)
{
	if (!dm->cur)
		return;
	for (size_t i = 0; i < dm->cur->nunits; i++) {
		free(dm->rt[i].cid);
		free(dm->rt[i].die_cid);
		free(dm->rt[i].kill_cid);
	}
	free(dm->rt);
	dm->rt = NULL;
}

/* Make d (and its files) the desired state in force; keeps what is known of units by id. */
static void install(struct daemon *dm, struct rc_desired *d, struct source_files *files)
{
	struct unit_rt *rt = xcalloc(d->nunits + 1, sizeof(*rt));
	for (size_t i = 0; i < d->nunits; i++) {
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
		}
	}
	rt_release(dm);
	rc_desired_free(dm->cur);
	source_files_release(&dm->files);
	dm->cur = d;
	dm->files = *files;
	memset(files, 0, sizeof(*files));
	dm->rt = rt;
	dm->check_all = true;
}

static const char *cur_commit(const struct daemon *dm)
{
	return dm->cur ? dm->cur->commit : NULL;
}

/* ---- convergence ---------------------------------------------------------- */

static bool is_up(enum plan_kind k)
{
	return k == PLAN_CREATE || k == PLAN_RECREATE || k == PLAN_UPDATE || k == PLAN_START;
}

/* Leave out the work on units the daemon disabled. */
static bool keep_enabled(const struct plan_action *a, void *ctx)
{
	const struct rc_state *st = ctx;
	return !(a->unit && is_up(a->kind) && state_is_disabled(st, a->unit, NULL));
}


/* CONV_REFUSED: another state directory owns the project (owner.h); the daemon stops (exit 1). */
enum conv_result { CONV_OK = 0, CONV_TRANSIENT, CONV_CONFLICT, CONV_FAILED, CONV_INTERRUPTED, CONV_REFUSED };

static void read_signals(struct daemon *dm);

/*
 * apply's interruption check (apply.h), called from its worker threads while
 * the main thread waits for the apply: SIGTERM or SIGINT pending.  The
 * signals stay blocked and queued for the signalfd; nothing is consumed here.
 */
static bool stop_pending(void *ctx)
{
	const struct daemon *dm = ctx;
	sigset_t set;
	telemetry_alive();  /* a rollout in progress is the loop turning (telemetry.h) */
	if (dm->stop)
		return true;
	if (sigpending(&set) < 0)
		return false;
	return sigismember(&set, SIGTERM) == 1 || sigismember(&set, SIGINT) == 1;
}

/*
 * Plan d against the engine (keeping only what keep lets through, after
 * leaving disabled units out) and apply.  msg receives the reason of a
 * failure: the engine's error, the conflicts, or the failed steps.
 */
/* Another state directory owns the project (owner.h): say so, journal it, and stop (exit 1). */
static void refuse(struct daemon *dm, const char *commit, const char *why)
{
	say("%s", why);
	journal(dm, commit, "owner", NULL, "refused", why);
	dm->refused = true;
	dm->stop = true;
}

/* How the planner sees the engine before it plans: drift --fix makes the drifted fields visible. */
struct conv_adjust {
	void (*fn)(struct plan_observed *o, void *ctx);
	void *ctx;
};

static enum conv_result converge_desired_r(struct daemon *dm, struct rc_desired *d,
					   bool (*keep)(const struct plan_action *, void *), void *ctx,
					   bool self_heal, bool verify, const struct conv_adjust *adjust,
					   struct buf *msg, size_t *ret_steps, struct apply_result *ret_result);

static enum conv_result converge_desired(struct daemon *dm, struct rc_desired *d,
					 bool (*keep)(const struct plan_action *, void *), void *ctx,
					 bool self_heal, bool verify, struct buf *msg, size_t *ret_steps)
{
	return converge_desired_r(dm, d, keep, ctx, self_heal, verify, NULL, msg, ret_steps, NULL);
}

/* converge_desired(), observed through adjust (may be NULL), and with ret_result (not NULL) the
 * steps it took, per unit (release it). */
static enum conv_result converge_desired_r(struct daemon *dm, struct rc_desired *d,
					   bool (*keep)(const struct plan_action *, void *), void *ctx,
					   bool self_heal, bool verify, const struct conv_adjust *adjust,
					   struct buf *msg, size_t *ret_steps, struct apply_result *ret_result)
{
	if (ret_result)
		memset(ret_result, 0, sizeof(*ret_result));
	struct converge cv;
	struct rc_err err = { 0 };
	enum conv_result res = CONV_OK;
	/* the project's owner, before anything is planned: one engine call (owner.h) */
	struct owner_self self = { 0 };
	struct owner_marker seen = { 0 };
	int orc = owner_self_init(&self, d->settings.project, dm->o->state_dir, dm->repo_id, &err) < 0
			  ? -1 : owner_check(dm->c, &self, dm->take_over, &seen, &err);
	if (orc != 0) {
		buf_adds(msg, err.msg);
		owner_marker_release(&seen);
		owner_self_release(&self);
		if (orc < 0)
			return CONV_TRANSIENT;
		refuse(dm, d->commit, err.msg);
		return CONV_REFUSED;
	}
	int pr = adjust ? converge_plan_adjusted(&cv, d, dm->c, dm->st, adjust->fn, adjust->ctx, &err)
			: converge_plan(&cv, d, dm->c, dm->st, &err);
	if (pr < 0) {
		buf_adds(msg, err.msg);
		converge_release(&cv);
		owner_marker_release(&seen);
		owner_self_release(&self);
		return CONV_TRANSIENT;
	}
	if (cv.plan.nconflicts) {
		for (size_t i = 0; i < cv.plan.nconflicts; i++)
			buf_addf(msg, "%sconflict: %s", i ? "\n" : "", cv.plan.conflicts[i]);
		converge_release(&cv);
		owner_marker_release(&seen);
		owner_self_release(&self);
		return CONV_CONFLICT;
	}
	bool refused = false;
	int cr = converge_claim(&cv, dm->c, dm->st, &self, &seen, dm->take_over, &refused, &err);
	if (cr == 0 && owner_judge(&self, &seen) != OWNER_MINE) {
		_cleanup_free_ char *prev = seen.present ? owner_describe(&seen) : NULL;
		if (prev)
			say("took over project '%s' from %s", self.project, prev);
		else
			say("claimed project '%s' for this state directory", self.project);
	}
	owner_marker_release(&seen);
	owner_self_release(&self);
	if (cr < 0) {
		buf_adds(msg, err.msg);
		converge_release(&cv);
		if (!refused)
			return CONV_TRANSIENT;
		refuse(dm, d->commit, err.msg);
		return CONV_REFUSED;
	}
	dm->take_over = false;  /* taken over once; a later take-over by another state directory stops us */
	converge_filter(&cv, keep_enabled, dm->st);
	if (keep)
		converge_filter(&cv, keep, ctx);
	if (self_heal) {
		/* starting the same container again is no change to approve */
		for (size_t i = 0; i < cv.plan.n; i++)
			if (cv.plan.v[i].kind == PLAN_START)
				cv.plan.v[i].protected_ = false;
	}
	struct apply_opts ao = { .parallel = dm->o->parallel, .progress = !dm->o->quiet, .progress_line = true,
				 .interrupted = stop_pending, .interrupted_ctx = dm, .wait_unchanged = verify };
	struct apply_result ar;
	if (converge_apply(&cv, dm->c, dm->st, &ao, &ar) < 0) {
		res = stop_pending(dm) ? CONV_INTERRUPTED : CONV_FAILED;
		struct dk_status ps;
		struct rc_err perr = { 0 };
		if (res == CONV_FAILED && dk_ping(dm->c, &ps, &perr) < 0) {
			/* the engine went away under the steps: no verdict on the commit, try again later */
			res = CONV_TRANSIENT;
			buf_addf(msg, "the engine stopped answering (%s); nothing is decided about commit %.12s; ", perr.msg,
				 d->commit ? d->commit : "(directory)");
		} else if (res == CONV_FAILED && ar.nfaults) {
			/* a step met no coherent answer (docker.h, "Engine faults"): what failed with it
			 * says nothing about the commit */
			res = CONV_TRANSIENT;
			for (size_t i = 0; i < ar.nsteps; i++)
				if (ar.steps[i].engine_fault) {
					buf_addf(msg, "the engine failed (%s); nothing is decided about commit %.12s; ",
						 ar.steps[i].msg ? ar.steps[i].msg : ar.steps[i].what,
						 d->commit ? d->commit : "(directory)");
					break;
				}
		}
		size_t k = 0;
		for (size_t i = 0; i < ar.nsteps; i++) {
			const struct apply_step *s = &ar.steps[i];
			if (s->status != APPLY_FAILED && s->status != APPLY_SKIPPED)
				continue;
			buf_addf(msg, "%s%s %s: %s", k++ ? "; " : "", apply_status_name(s->status), s->what,
				 s->msg ? s->msg : "");
		}
	}
	if (ret_steps)
		*ret_steps = ar.nsteps;
	if (ret_result)
		*ret_result = ar;
	else
		apply_result_release(&ar);
	converge_release(&cv);
	if (res == CONV_INTERRUPTED)
		read_signals(dm);  /* sets dm->stop */
	return res;
}

static void mark_failed(struct daemon *dm, const char *commit, const char *what, const char *msg)
{
	state_add_failed_commit(dm->st, commit, (int64_t)time(NULL), msg);
	journal(dm, commit, what, NULL, "failed", msg);
	save(dm);
}

/* Load commit (NULL: the configured revision); report an invalid one.  0 or -1. */
static int load(struct daemon *dm, const char *commit, struct source_files *files, struct rc_desired **ret,
		bool *ret_invalid, struct buf *msg)
{
	struct rc_err err = { 0 };
	struct buf diag = BUF_INIT;
	struct source_file *policy = NULL;  /* read at every load: an edit takes effect with the next */
	int rc = hostpolicy_read(dm->o->policy, &policy, &err);
	if (rc == 0) {
		dm->src.host_policy = policy;
		rc = converge_load(&dm->src, commit ? commit : dm->follow, files, ret, &diag, &err);
		dm->src.host_policy = NULL;
		hostpolicy_free(policy);
	}
	if (rc < 0) {
		*ret_invalid = files->commit != NULL;
		buf_adds(msg, diag.len ? buf_cstr(&diag) : err.msg);
		while (msg->len && msg->data[msg->len - 1] == '\n')
			msg->data[--msg->len] = '\0';
	}
	buf_release(&diag);
	return rc;
}

/* Converge the last good commit again and put it in force.  False when there is none. */
static bool rollback(struct daemon *dm, const char *bad)
{
	const char *lg0 = state_get_last_good(dm->st);
	if (!lg0 || str_eq(lg0, bad)) {
		say("no last good commit to roll back to: the units of %.12s stay as they are", bad);
		return false;
	}
	bool installed = false;
	_cleanup_free_ char *lg = xstrdup(lg0);
	say("rolling back to the last good commit %.12s", lg);
	struct source_files files = { 0 };
	struct rc_desired *d = NULL;
	struct buf msg = BUF_INIT;
	bool invalid = false;
	if (load(dm, lg, &files, &d, &invalid, &msg) < 0) {
		say("rollback: cannot load %.12s: %s", lg, buf_cstr(&msg));
		journal(dm, lg, "rollback", NULL, "failed", buf_cstr(&msg));
	} else {
		size_t nsteps = 0;
		enum conv_result r = converge_desired(dm, d, NULL, NULL, false, false, &msg, &nsteps);
		if (r == CONV_OK) {
			say("rolled back to %.12s (%zu step%s)", lg, nsteps, nsteps == 1 ? "" : "s");
			journal(dm, lg, "rollback", NULL, "ok", bad);
		} else if (r == CONV_INTERRUPTED) {
			say("rollback to %.12s interrupted: %s", lg, buf_cstr(&msg));
			journal(dm, lg, "rollback", NULL, "interrupted", buf_cstr(&msg));
		} else {
			say("rollback to %.12s did not fully succeed: %s", lg, buf_cstr(&msg));
			journal(dm, lg, "rollback", NULL, "failed", buf_cstr(&msg));
		}
		install(dm, d, &files);
		d = NULL;
		installed = true;
	}
	rc_desired_free(d);
	source_files_release(&files);
	buf_release(&msg);
	return installed;
}

/*
 * Converge to commit (a rollout).  Returns 0 when it is in force, -1
 * otherwise (invalid, conflicting, failed and rolled back, or a transient
 * engine error after which it is tried again).
 */
/*
 * Keep a copy of the manifests of the commit just applied (state.h,
 * manifests.json), as `drift` does when it reads them from Git: a `drift`
 * the daemon cannot answer (busy in a rollout) then checks without the
 * repository.
 */
static void keep_manifests(struct daemon *dm, const struct source_files *files)
{
	struct rc_err err = { 0 };
	if (files->commit && state_put_manifests(dm->st, files, dm->o->path, &err) < 0)
		say("warning: keeping the manifests of %.12s: %s", files->commit, err.msg);
}

static int rollout(struct daemon *dm, const char *commit, const char *why)
{
	say("%s: converging to commit %.12s", why, commit);
	journal(dm, commit, "rollout", NULL, "started", why);
	struct source_files files = { 0 };
	struct rc_desired *d = NULL;
	struct buf msg = BUF_INIT;
	bool invalid = false;
	int rc = -1;
	if (load(dm, commit, &files, &d, &invalid, &msg) < 0) {
		fprintf(stderr, "%s\n", buf_cstr(&msg));
		if (invalid) {
			say("commit %.12s is invalid: nothing changed; it will not be tried again until a newer "
			    "commit or `reconciler retry`", commit);
			mark_failed(dm, commit, "load", buf_cstr(&msg));
		} else {
			say("cannot read commit %.12s; trying again later", commit);
			dm->retry_head_at = now_ns() + 5 * NS_PER_S;
		}
		goto out;
	}
	/*
	 * Applied before but never seen good: its rollout was cut short (a stop
	 * request, a crash) after its containers were made, so planning finds
	 * nothing to do.  Wait for their health all the same.
	 */
	bool verify = str_eq(state_get_last_applied(dm->st), commit) && !str_eq(state_get_last_good(dm->st), commit);
	size_t nsteps = 0;
	enum conv_result r = converge_desired(dm, d, NULL, NULL, false, verify, &msg, &nsteps);
	if (r != CONV_TRANSIENT) {
		free(dm->retry_commit);
		dm->retry_commit = NULL;
		dm->retry_backoff_ns = 0;
	}
	switch (r) {
	case CONV_OK:
		say("commit %.12s converged (%zu unit%s, %zu step%s)", commit, d->nunits, d->nunits == 1 ? "" : "s",
		    nsteps, nsteps == 1 ? "" : "s");
		journal(dm, commit, "rollout", NULL, "ok", NULL);
		keep_manifests(dm, &files);
		install(dm, d, &files);
		d = NULL;
		rc = 0;
		break;
	case CONV_TRANSIENT:
		/* no verdict: neither marked failed nor rolled back; the same commit again once the engine
		 * answers (retry_rollout()) */
		dm->retry_backoff_ns = dm->retry_backoff_ns ? dm->retry_backoff_ns * 2 : NS_PER_S;
		if (dm->retry_backoff_ns > 30 * NS_PER_S)
			dm->retry_backoff_ns = 30 * NS_PER_S;
		say("cannot converge to %.12s now: %s; trying again in %.1fs", commit, buf_cstr(&msg),
		    secs(dm->retry_backoff_ns));
		journal(dm, commit, "rollout", NULL, "error", buf_cstr(&msg));
		free(dm->retry_commit);
		dm->retry_commit = xstrdup(commit);
		dm->retry_head_at = now_ns() + dm->retry_backoff_ns;
		break;
	case CONV_CONFLICT:
		fprintf(stderr, "%s\n", buf_cstr(&msg));
		say("commit %.12s conflicts with objects reconciler does not manage: nothing changed", commit);
		mark_failed(dm, commit, "plan", buf_cstr(&msg));
		break;
	case CONV_REFUSED:
		/* no verdict on the commit either: the project is not ours to change (said and journaled) */
		break;
	case CONV_INTERRUPTED:
		/* a stop request is no verdict on the commit: the next start converges to it again */
		say("rollout of %.12s interrupted: %s", commit, buf_cstr(&msg));
		journal(dm, commit, "rollout", NULL, "interrupted", buf_cstr(&msg));
		break;
	case CONV_FAILED:
		say("rollout of %.12s failed: %s", commit, buf_cstr(&msg));
		mark_failed(dm, commit, "rollout", buf_cstr(&msg));
		if (!rollback(dm, commit)) {  /* nothing to roll back to: what was applied stays in force */
			install(dm, d, &files);
			d = NULL;
		}
		break;
	}
out:
	save(dm);
	rc_desired_free(d);
	source_files_release(&files);
	buf_release(&msg);
	return rc;
}

/* The commit the branch points to now, or NULL (logged). */
static char *resolve_head(struct daemon *dm)
{
	char id[41];
	struct rc_err err = { 0 };
	if (source_resolve(dm->o->repo, dm->follow, id, &err) < 0) {
		say("cannot resolve '%s': %s", dm->follow, err.msg);
		return NULL;
	}
	return xstrdup(id);
}

/* Look at the branch head; roll out a new commit.  force: converge even if it is the one in force. */
static void check_head(struct daemon *dm, bool force, const char *why)
{
	_cleanup_free_ char *head = resolve_head(dm);
	if (!head)
		return;
	if (!force && str_eq(head, cur_commit(dm)))
		return;
	if (state_get_failed_commit(dm->st, head)) {
		if (!str_eq(dm->skip_logged, head)) {
			say("commit %.12s is marked failed: waiting for a newer commit or `reconciler retry`", head);
			journal(dm, head, "skip", NULL, "failed", "marked failed: waiting for a newer commit or `reconciler retry`");
			free(dm->skip_logged);
			dm->skip_logged = xstrdup(head);
		}
		if (!force || !dm->cur)
			return;
		free(head);
		head = xstrdup(dm->cur->commit);
	}
	rollout(dm, head, why);
}

/*
 * Time to try again after a rollout the engine cut short (dm->retry_commit), or a commit that could
 * not be read: once the engine answers /_ping (else wait longer, the backoff doubling to 30 s), the
 * same commit, unless the branch moved on to a newer one meanwhile (that one, then).
 */
static void retry_rollout(struct daemon *dm)
{
	dm->retry_head_at = 0;
	if (!dm->retry_commit) {
		dm->head_check = true;
		return;
	}
	struct rc_err err = { 0 };
	if (dk_ping(dm->c, NULL, &err) < 0) {
		dm->retry_backoff_ns = dm->retry_backoff_ns > 0 ? dm->retry_backoff_ns * 2 : NS_PER_S;
		if (dm->retry_backoff_ns > 30 * NS_PER_S)
			dm->retry_backoff_ns = 30 * NS_PER_S;
		say("the engine does not answer yet (%s): the rollout of %.12s waits %.1fs more", err.msg,
		    dm->retry_commit, secs(dm->retry_backoff_ns));
		dm->retry_head_at = now_ns() + dm->retry_backoff_ns;
		return;
	}
	_cleanup_free_ char *commit = TAKE_PTR(dm->retry_commit);
	_cleanup_free_ char *head = resolve_head(dm);
	if (head && !str_eq(head, commit) && !state_get_failed_commit(dm->st, head)) {
		dm->head_check = true;  /* a newer commit came meanwhile: converge to it instead */
		return;
	}
	rollout(dm, commit, "the engine answers again: resuming");
}

/* ---- engine --------------------------------------------------------------- */

/* Wait for the engine (and the signalfd).  0 when it answers, -1 when a signal asks us to stop. */
static int wait_engine(struct daemon *dm);

/* ---- the project's containers, known from the periodic list and the events ---- */

static void known_clear(struct daemon *dm)
{
	for (size_t i = 0; i < dm->nknown; i++)
		free(dm->known[i]);
	dm->nknown = 0;
	dm->known_valid = false;
}

/* Where id is or would go in dm->known. */
static size_t known_pos(const struct daemon *dm, const char *id, bool *ret_found)
{
	size_t lo = 0, hi = dm->nknown;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(dm->known[mid], id);
		if (c == 0) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = false;
	return lo;
}

static void known_add(struct daemon *dm, const char *id)
{
	bool found;
	size_t at = known_pos(dm, id, &found);
	if (found)
		return;
	GROW(dm->known, dm->nknown + 1, dm->known_cap);
	memmove(&dm->known[at + 1], &dm->known[at], (dm->nknown - at) * sizeof(*dm->known));
	dm->known[at] = xstrdup(id);
	dm->nknown++;
}

static void known_del(struct daemon *dm, const char *id)
{
	bool found;
	size_t at = known_pos(dm, id, &found);
	if (!found)
		return;
	free(dm->known[at]);
	memmove(&dm->known[at], &dm->known[at + 1], (dm->nknown - at - 1) * sizeof(*dm->known));
	dm->nknown--;
}

/* l: the project's containers, listed while the event stream was open (or not: then invalid). */
static void known_seed(struct daemon *dm, const struct dk_container_list *l)
{
	known_clear(dm);
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].id)
			known_add(dm, l->items[i].id);
	dm->known_valid = dm->ev != NULL;
}

/* List the containers carrying the project label. */
static int list_project(struct daemon *dm, struct dk_container_list **ret, struct rc_err *err)
{
	_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, dm->cur->settings.project);
	struct dk_filter f[] = { { "label", label } };
	return dk_container_list(dm->c, f, 1, ret, NULL, err);
}

static void events_open(struct daemon *dm)
{
	if (!dm->cur || dm->ev)
		return;
	const char *project = dm->cur->settings.project;
	_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, project);
	struct dk_filter f[] = {
		{ "type", "container" }, { "label", label }, { "event", "create" }, { "event", "die" },
		{ "event", "destroy" }, { "event", "oom" }, { "event", "health_status" }, { "event", "kill" },
	};
	struct rc_err err = { 0 };
	if (dk_events_open(dm->c, f, ARRAY_SIZE(f), 0, &dm->ev, &err) < 0) {
		dm->events_backoff_ns = dm->events_backoff_ns ? dm->events_backoff_ns * 2 : NS_PER_S / 2;
		if (dm->events_backoff_ns > 30 * NS_PER_S)
			dm->events_backoff_ns = 30 * NS_PER_S;
		say("cannot follow engine events: %s; retrying in %.1fs", err.msg, secs(dm->events_backoff_ns));
		dm->next_events = now_ns() + dm->events_backoff_ns;
		dm->ev = NULL;
		return;
	}
	dm->events_backoff_ns = 0;
	free(dm->ev_project);
	dm->ev_project = xstrdup(project);
	/* Events before the stream opened are lost; resync by inspecting every unit (the list alone
	 * does not show a restart the engine made by itself). */
	dm->check_all = true;
	dm->check_deep = true;
	/* the stream first, then the list: a container made or removed in between is in both */
	struct dk_container_list *l = NULL;
	known_clear(dm);
	if (list_project(dm, &l, &err) == 0)
		known_seed(dm, l);
	dk_container_list_free(l);
}

static void events_close(struct daemon *dm)
{
	dk_events_close(dm->ev);
	dm->ev = NULL;
	dm->next_events = now_ns();
	known_clear(dm);
}

/* ---- self-healing --------------------------------------------------------- */

static void backoff_of(const struct rc_unit *u, int64_t *base, int64_t *max)
{
	*base = u->restart.backoff_ns > 0 ? u->restart.backoff_ns : 10 * NS_PER_S;
	*max = u->restart.max_backoff_ns > 0 ? u->restart.max_backoff_ns : 300 * NS_PER_S;
	if (*max < *base)
		*max = *base;
}

static void disable(struct daemon *dm, const struct rc_unit *u, struct unit_rt *rt, const char *reason)
{
	_cleanup_free_ char *why = xasprintf("%d consecutive failures, last: %s", u->restart.max_failures, reason);
	state_set_disabled(dm->st, u->id, (int64_t)time(NULL), why);
	rt->pending = ACT_NONE;
	say("unit %s disabled after %s; `reconciler enable %s` brings it back", u->id, why, u->id);
	journal(dm, cur_commit(dm), "disable", u->id, "ok", why);
	/* stop it, or the engine's restart policy keeps a crash loop going */
	struct rc_err err = { 0 };
	struct dk_status ds;
	int t = u->stop_grace_ns > 0 ? (int)(u->stop_grace_ns / NS_PER_S) : -1;
	if (dk_container_stop(dm->c, u->container, t, &ds, &err) < 0 && ds.http != 404 && ds.http != 304)
		say("warning: stopping disabled unit %s: %s", u->id, err.msg);
	save(dm);
}

/* Count n failures of u; schedule act after the backoff (ACT_NONE: the engine acts), or disable. */
static void count_failure(struct daemon *dm, const struct rc_unit *u, struct unit_rt *rt, int n,
			  const char *reason, enum act act)
{
	int64_t base, max;
	backoff_of(u, &base, &max);
	struct state_restarts r = state_get_restarts(dm->st, u->id);
	r.failures += n;
	r.last_failure = (int64_t)time(NULL);
	r.backoff_ns = backoff_delay_ns(r.failures, base, max);
	state_set_restarts(dm->st, u->id, &r);
	telemetry_unit_failed(u->id, n);
	rt->bad = true;
	rt->ok_since = 0;
	snprintf(rt->reason, sizeof rt->reason, "%s", reason);
	int maxf = u->restart.max_failures;
	_cleanup_free_ char *of = maxf > 0 ? xasprintf(" of %d", maxf) : xstrdup("");
	if (maxf > 0 && r.failures >= maxf) {
		say("unit %s: %s (failure %d%s)", u->id, reason, r.failures, of);
		journal(dm, cur_commit(dm), "failure", u->id, "failed", reason);
		disable(dm, u, rt, reason);
		return;
	}
	_cleanup_free_ char *jm = NULL;
	if (act != ACT_NONE) {
		rt->pending = act;
		rt->due = now_ns() + r.backoff_ns;
		rt->waiting_logged = false;
		say("unit %s: %s; %s in %.1fs (failure %d%s)", u->id, reason,
		    act == ACT_RESTART ? "restarting" : "repairing", secs(r.backoff_ns), r.failures, of);
		jm = xasprintf("%s; acting in %.1fs (failure %d%s)", reason, secs(r.backoff_ns), r.failures, of);
	} else {
		say("unit %s: %s (failure %d%s)", u->id, reason, r.failures, of);
		jm = xasprintf("%s (failure %d%s)", reason, r.failures, of);
	}
	journal(dm, cur_commit(dm), "failure", u->id, "failed", jm);
	save(dm);
}

/* u depends (directly or not) on dep. */
static bool depends_on(const struct rc_desired *d, const struct rc_unit *u, const char *dep, int depth)
{
	if (depth > 64)
		return false;
	for (size_t i = 0; i < u->ndeps; i++) {
		if (str_eq(u->deps[i].unit, dep))
			return true;
		const struct rc_unit *x = rc_desired_unit(d, u->deps[i].unit);
		if (x && depends_on(d, x, dep, depth + 1))
			return true;
	}
	return false;
}

static void ready(struct daemon *dm, const struct rc_unit *u, struct unit_rt *rt)
{
	int64_t now = now_ns();
	telemetry_unit_ready(u->id);
	if (rt->bad) {
		rt->bad = false;
		say("unit %s is ready again", u->id);
		journal(dm, cur_commit(dm), "recovered", u->id, "ok", rt->reason);
		for (size_t i = 0; i < dm->cur->nunits; i++) {
			const struct rc_unit *x = &dm->cur->units[i];
			if (x == u || !depends_on(dm->cur, x, u->id, 0))
				continue;
			if (state_get_restarts(dm->st, x->id).failures > 0 && !state_is_disabled(dm->st, x->id, NULL)) {
				state_del_restarts(dm->st, x->id);
				say("unit %s: failure counter reset (its dependency %s recovered)", x->id, u->id);
			}
		}
		save(dm);
	}
	if (!rt->ok_since)
		rt->ok_since = now;
	struct state_restarts r = state_get_restarts(dm->st, u->id);
	int64_t stable = dm->o->stable_ns > 0 ? dm->o->stable_ns : 600 * NS_PER_S;
	if (r.failures > 0 && now - rt->ok_since >= stable) {
		state_del_restarts(dm->st, u->id);
		say("unit %s ready for %.0fs: failure counter reset", u->id, secs(now - rt->ok_since));
		journal(dm, cur_commit(dm), "stable", u->id, "ok", "failure counter reset");
		save(dm);
	}
}

/* Judge u from its container (NULL: none).  Counts failures and schedules repairs. */
static void evaluate(struct daemon *dm, const struct rc_unit *u, struct unit_rt *rt, const struct dk_container *ct)
{
	if (!u->running || state_is_disabled(dm->st, u->id, NULL))
		return;
	char reason[200];
	if (ct) {
		if (!str_eq(ct->id, rt->cid)) {
			free(rt->cid);
			rt->cid = xstrdup(ct->id);
			rt->restart_count = ct->restart_count;
			rt->http_streak = 0;
		} else if (ct->restart_count > rt->restart_count) {
			int n = ct->restart_count - rt->restart_count;
			rt->restart_count = ct->restart_count;
			char why[128];
			int code = ct->exit_code;
			if (rt->die_seen && str_eq(rt->die_cid, ct->id) && str_eq(ct->state_status, "running"))
				code = rt->die_code;  /* restarted already: the inspect's ExitCode was reset */
			rt->die_seen = false;
			health_exit_reason(code, ct->oom_killed, why, sizeof why);
			snprintf(reason, sizeof reason, "%s; restarted by the engine (%d time%s)", why, n, n == 1 ? "" : "s");
			count_failure(dm, u, rt, n, reason, ACT_NONE);
			if (state_is_disabled(dm->st, u->id, NULL))
				return;
		}
	}
	if (rt->pending)
		return;
	if (!ct) {
		count_failure(dm, u, rt, 1, "container removed", ACT_CONVERGE);
		return;
	}
	const char *s = ct->state_status ? ct->state_status : "";
	if (strcmp(s, "running") == 0) {
		if (u->health.kind == RC_HEALTH_CMD && str_eq(ct->health_status, "unhealthy")) {
			snprintf(reason, sizeof reason, "unhealthy (docker health check failed %d times)",
				 ct->failing_streak);
			count_failure(dm, u, rt, 1, reason, ACT_RESTART);
		} else if (u->health.kind == RC_HEALTH_HTTP && rt->http_streak >= (u->health.retries ? u->health.retries : 3)) {
			snprintf(reason, sizeof reason, "unhealthy (http probe of %s failed %d times)",
				 u->health.http_path, rt->http_streak);
			rt->http_streak = 0;
			count_failure(dm, u, rt, 1, reason, ACT_RESTART);
		} else if (u->health.kind == RC_HEALTH_NONE || str_eq(ct->health_status, "healthy") ||
			   (u->health.kind == RC_HEALTH_HTTP && rt->http_streak == 0)) {
			ready(dm, u, rt);
		}
		return;
	}
	if (strcmp(s, "restarting") == 0 || strcmp(s, "paused") == 0 || strcmp(s, "removing") == 0)
		return;  /* the engine is at it, or an operator paused it */
	if (strcmp(s, "exited") == 0 && rt->kill_cid && str_eq(rt->kill_cid, ct->id) &&
	    now_ns() - rt->kill_ns < u->stop_grace_ns + 30 * NS_PER_S) {
		/* stopped through the engine's API (docker stop or restart; or our own repair):
		 * an act, not a failure — started again without a count (a docker restart brings it
		 * back by itself first) */
		say("unit %s: stopped through the engine's API, not counted as a failure; starting it again",
		    u->id);
		journal(dm, cur_commit(dm), "stopped", u->id, "ok", "stopped through the engine's API (not a failure)");
		free(rt->kill_cid);
		rt->kill_cid = NULL;
		rt->pending = ACT_CONVERGE;
		rt->due = now_ns() + 2 * NS_PER_S;
		rt->waiting_logged = false;
		return;
	}
	if (strcmp(s, "created") == 0)
		snprintf(reason, sizeof reason, "created but never started");
	else if (strcmp(s, "dead") == 0)
		snprintf(reason, sizeof reason, "dead");
	else
		health_exit_reason(ct->exit_code, ct->oom_killed, reason, sizeof reason);
	count_failure(dm, u, rt, 1, reason, ACT_CONVERGE);
}

/* Inspect u's container; *ret NULL when it does not exist.  -1 on an engine error (logged). */
static int inspect_unit(struct daemon *dm, const struct rc_unit *u, struct dk_container **ret)
{
	struct rc_err err = { 0 };
	struct dk_status ds = { 0 };
	*ret = NULL;
	if (dk_container_inspect(dm->c, u->container, ret, &ds, &err) < 0) {
		if (ds.http == 404)
			return 0;
		say("warning: inspecting %s: %s", u->container, err.msg);
		return -1;
	}
	/* a foreign container with our name is not ours to heal */
	if (!str_eq(dk_label((*ret)->labels, (*ret)->nlabels, RC_LABEL_UNIT), u->id)) {
		dk_container_free(*ret);
		*ret = NULL;
	}
	return 0;
}

static void check_unit(struct daemon *dm, size_t i)
{
	const struct rc_unit *u = &dm->cur->units[i];
	if (!u->running || state_is_disabled(dm->st, u->id, NULL))
		return;
	struct dk_container *ct = NULL;
	if (inspect_unit(dm, u, &ct) < 0)
		return;
	evaluate(dm, u, &dm->rt[i], ct);
	dk_container_free(ct);
}

/* The periodic check: one list call; inspect only what does not look fine (everything after the
 * event stream (re)opened). */
static void check_all(struct daemon *dm)
{
	if (!dm->cur)
		return;
	if (dm->check_deep) {
		dm->check_deep = false;
		for (size_t i = 0; i < dm->cur->nunits; i++)
			check_unit(dm, i);
		return;
	}
	struct dk_container_list *l = NULL;
	struct rc_err err = { 0 };
	if (list_project(dm, &l, &err) < 0) {
		say("warning: periodic check: %s", err.msg);
		return;
	}
	known_seed(dm, l);
	for (size_t i = 0; i < dm->cur->nunits; i++) {
		const struct rc_unit *u = &dm->cur->units[i];
		struct unit_rt *rt = &dm->rt[i];
		if (!u->running || state_is_disabled(dm->st, u->id, NULL))
			continue;
		const struct dk_container_summary *sum = NULL;
		for (size_t k = 0; k < l->n && !sum; k++)
			if (str_eq(l->items[k].name, u->container))
				sum = &l->items[k];
		const char *h = sum ? observe_health_from_status(sum->status) : NULL;
		bool fine = sum && str_eq(sum->state, "running") && str_eq(rt->cid, sum->id) && !rt->pending &&
			    (u->health.kind == RC_HEALTH_NONE ||
			     (u->health.kind == RC_HEALTH_CMD && str_eq(h, "healthy")) ||
			     (u->health.kind == RC_HEALTH_HTTP && rt->http_streak == 0));
		if (fine)
			ready(dm, u, rt);  /* as far as the list tells: no inspect needed */
		else
			check_unit(dm, i);
	}
	dk_container_list_free(l);
}

/* Probe units with http health checks whose time has come. */
static void http_probes(struct daemon *dm)
{
	if (!dm->cur)
		return;
	int64_t now = now_ns();
	for (size_t i = 0; i < dm->cur->nunits; i++) {
		const struct rc_unit *u = &dm->cur->units[i];
		struct unit_rt *rt = &dm->rt[i];
		if (u->health.kind != RC_HEALTH_HTTP || !u->running || rt->pending || now < rt->next_probe ||
		    state_is_disabled(dm->st, u->id, NULL))
			continue;
		int64_t interval = u->health.interval_ns > 0 ? u->health.interval_ns : 30 * NS_PER_S;
		rt->next_probe = now + interval;
		struct dk_container *ct = NULL;
		if (inspect_unit(dm, u, &ct) < 0)
			continue;
		if (ct && str_eq(ct->state_status, "running")) {
			char why[128] = "";
			if (apply_http_probe(ct, u, 0, why, sizeof why) == 1)
				rt->http_streak = 0;
			else
				rt->http_streak++;
		}
		evaluate(dm, u, rt, ct);
		dk_container_free(ct);
	}
}

/* Is dep ready for a dependent waiting with cond?  why: what it is waiting for. */
static bool dep_ready(struct daemon *dm, const struct rc_unit *dep, enum rc_dep_cond cond, char *why, size_t n)
{
	struct dk_container *ct = NULL;
	if (state_is_disabled(dm->st, dep->id, NULL)) {
		snprintf(why, n, "%s is disabled", dep->id);
		return false;
	}
	if (inspect_unit(dm, dep, &ct) < 0 || !ct) {
		snprintf(why, n, "%s has no container", dep->id);
		return false;
	}
	bool ok;
	const char *s = ct->state_status ? ct->state_status : "";
	if (cond == RC_DEP_COMPLETED) {
		ok = strcmp(s, "exited") == 0 && ct->exit_code == 0;
	} else if (strcmp(s, "running") != 0) {
		ok = false;
	} else if (cond == RC_DEP_HEALTHY && dep->health.kind == RC_HEALTH_CMD) {
		ok = str_eq(ct->health_status, "healthy");
	} else if (cond == RC_DEP_HEALTHY && dep->health.kind == RC_HEALTH_HTTP) {
		const char *ip = apply_container_ip(ct, dep);
		uint16_t port = dep->health.http_port ? dep->health.http_port
				: (dep->nports ? dep->ports[0].container_port : 80);
		ok = ip && health_http_probe(ip, port, dep->health.http_path, 2000, NULL, 0) == 1;
	} else {
		ok = true;
	}
	if (!ok)
		snprintf(why, n, "%s is not %s (%s%s%s)", dep->id, rc_dep_cond_name(cond), s,
			 ct->health_status ? ", " : "", ct->health_status ? ct->health_status : "");
	dk_container_free(ct);
	return ok;
}

/* Carry out the pending action of unit i. */
/*
 * First half of a repair of unit i, whose time has come: give up if it was
 * disabled, wait (1 s) for its dependencies, notice the engine restarted it
 * meanwhile, stop it for a restart.  True: converge it now (act_all()).
 */
static bool act_prepare(struct daemon *dm, size_t i)
{
	const struct rc_unit *u = &dm->cur->units[i];
	struct unit_rt *rt = &dm->rt[i];
	if (state_is_disabled(dm->st, u->id, NULL) || !u->running) {
		rt->pending = ACT_NONE;
		return false;
	}
	char why[256];
	for (size_t k = 0; k < u->ndeps; k++) {
		const struct rc_unit *dep = rc_desired_unit(dm->cur, u->deps[k].unit);
		if (dep && !dep_ready(dm, dep, u->deps[k].cond, why, sizeof why)) {
			if (!rt->waiting_logged)
				say("unit %s: restart waits for its dependency: %s", u->id, why);
			rt->waiting_logged = true;
			rt->due = now_ns() + NS_PER_S;
			return false;
		}
	}
	struct dk_container *ct = NULL;
	if (inspect_unit(dm, u, &ct) < 0) {
		rt->due = now_ns() + NS_PER_S;
		return false;
	}
	enum act a = rt->pending;
	if (ct && a == ACT_CONVERGE && str_eq(ct->state_status, "running")) {
		rt->pending = ACT_NONE;
		say("unit %s is running again (the engine restarted it, or a rollout did): nothing to repair", u->id);
		dk_container_free(ct);
		return false;
	}
	struct rc_err err = { 0 };
	if (ct && a == ACT_RESTART) {
		struct dk_status ds;
		int t = u->stop_grace_ns > 0 ? (int)(u->stop_grace_ns / NS_PER_S) : -1;
		if (dk_container_stop(dm->c, ct->id, t, &ds, &err) < 0 && ds.http != 304 && ds.http != 404)
			say("warning: stopping %s: %s", u->container, err.msg);
	}
	dk_container_free(ct);
	say("unit %s: %s (%s)", u->id, a == ACT_RESTART ? "restarting" : "repairing", rt->reason);
	return true;
}

/* The units a batch of repairs converges (and the networks they may need). */
struct unit_set {
	const struct rc_desired *d;
	const bool *in;  /* by unit index */
};

static bool keep_units(const struct plan_action *a, void *ctx)
{
	const struct unit_set *set = ctx;
	if (a->kind == PLAN_NET_CREATE)
		return true;
	const struct rc_unit *u = a->unit ? rc_desired_unit(set->d, a->unit) : NULL;
	return u && set->in[u - set->d->units];
}

/* Why unit failed in ar ("failed <step>: <why>", as converge_desired() says it), into out; false if it did not. */
static bool unit_failure(const struct apply_result *ar, const char *unit, struct buf *out)
{
	for (size_t i = 0; i < ar->nsteps; i++) {
		const struct apply_step *st = &ar->steps[i];
		if (str_eq(st->unit, unit) && (st->status == APPLY_FAILED || st->status == APPLY_SKIPPED)) {
			buf_addf(out, "%s %s: %s", apply_status_name(st->status), st->what, st->msg ? st->msg : "");
			return true;
		}
	}
	return false;
}

#define ACT_BATCH_NS (NS_PER_S / 2)

/*
 * Repair every unit whose time has come, together: one converge of all of
 * them, so independent repairs (each waiting for its unit's health) run side
 * by side on the executor's pool rather than one after the other.
 */
static void act_all(struct daemon *dm)
{
	size_t n = dm->cur->nunits, nsel = 0;
	int64_t now = now_ns();
	bool any = false;
	for (size_t i = 0; i < n && !any; i++)
		any = dm->rt[i].pending && now >= dm->rt[i].due;
	if (!any)
		return;
	bool *in = xcalloc(n + 1, sizeof(bool));
	enum act *acts = xcalloc(n + 1, sizeof(*acts));
	for (size_t i = 0; i < n && !dm->stop; i++) {
		/* units that failed together (due within ACT_BATCH_NS of each other) are repaired together */
		if (!dm->rt[i].pending || now + ACT_BATCH_NS < dm->rt[i].due || !act_prepare(dm, i))
			continue;
		in[i] = true;
		acts[i] = dm->rt[i].pending;
		dm->rt[i].pending = ACT_NONE;
		nsel++;
	}
	if (!nsel)
		goto out;
	struct unit_set set = { dm->cur, in };
	struct buf msg = BUF_INIT;
	struct apply_result ar;
	size_t nsteps = 0;
	enum conv_result r = converge_desired_r(dm, dm->cur, keep_units, &set, true, false, NULL, &msg, &nsteps, &ar);
	for (size_t i = 0; i < n; i++) {
		if (!in[i])
			continue;
		const struct rc_unit *u = &dm->cur->units[i];
		struct unit_rt *rt = &dm->rt[i];
		enum act a = acts[i];
		struct buf why = BUF_INIT;
		bool failed = r == CONV_FAILED && unit_failure(&ar, u->id, &why);
		if (r == CONV_OK || (r == CONV_FAILED && !failed)) {
			journal(dm, cur_commit(dm), a == ACT_RESTART ? "restart" : "repair", u->id, "ok", rt->reason);
			rt->http_streak = 0;
			rt->next_probe = 0;
			save(dm);
			check_unit(dm, i);
		} else if (r == CONV_TRANSIENT) {
			say("unit %s: cannot act now: %s", u->id, buf_cstr(&msg));
			rt->pending = a;
			rt->due = now_ns() + 2 * NS_PER_S;
		} else if (r == CONV_INTERRUPTED || r == CONV_REFUSED) {
			say("unit %s: %s %s: %s", u->id, a == ACT_RESTART ? "restart" : "repair",
			    r == CONV_REFUSED ? "refused" : "interrupted", buf_cstr(&msg));
			rt->pending = a;
		} else {
			count_failure(dm, u, rt, 1, failed ? buf_cstr(&why) : buf_cstr(&msg), ACT_CONVERGE);
		}
		buf_release(&why);
	}
	apply_result_release(&ar);
	buf_release(&msg);
out:
	free(acts);
	free(in);
}

static void handle_event(struct daemon *dm, const struct dk_event *e)
{
	if (!dm->cur)
		return;
	/* every container of the project, the units' and any other (the drift check's extras) */
	if (e->id && str_eq(e->action, "create"))
		known_add(dm, e->id);
	else if (e->id && str_eq(e->action, "destroy"))
		known_del(dm, e->id);
	if (str_eq(e->action, "create"))
		return;  /* nothing to check yet: it is not started */
	const char *unit = dk_event_attr(e, RC_LABEL_UNIT);
	const struct rc_unit *u = unit ? rc_desired_unit(dm->cur, unit) : NULL;
	if (!u)
		return;
	log_debug("event %s %s %s", e->action, unit, e->id);
	struct unit_rt *rt = &dm->rt[u - dm->cur->units];
	if (str_eq(e->action, "kill") && e->id) {
		/* docker stop and restart send the stop signal first; a bare docker kill (SIGKILL) is
		 * how a crash is simulated, and is judged as one */
		if (str_eq(dk_event_attr(e, "signal"), "9"))
			return;
		free(rt->kill_cid);
		rt->kill_cid = xstrdup(e->id);
		rt->kill_ns = now_ns();
		return;  /* the die that follows is what to judge */
	}
	const char *code = dk_event_attr(e, "exitCode");
	if (str_eq(e->action, "die") && code && e->id) {
		rt->die_seen = true;
		rt->die_code = atoi(code);
		free(rt->die_cid);
		rt->die_cid = xstrdup(e->id);
	}
	check_unit(dm, (size_t)(u - dm->cur->units));
}

/* ---- requests ------------------------------------------------------------- */

static void requests(struct daemon *dm)
{
	struct request *v = NULL;
	size_t n = 0;
	struct rc_err err = { 0 };
	if (request_list(dm->o->state_dir, &v, &n, &err) < 0) {
		say("warning: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct buf msg = BUF_INIT;
		unsigned eff = 0;
		bool ok = request_exec(dm->st, v[i].verb, v[i].arg, &msg, &eff, &err) == 0;
		save(dm);
		say("request %s %s: %s", v[i].verb, v[i].arg, ok ? buf_cstr(&msg) : err.msg);
		if (request_answer(dm->o->state_dir, v[i].name, ok, ok ? buf_cstr(&msg) : err.msg, &err) < 0)
			say("warning: %s", err.msg);
		if (eff & REQ_EFFECT_CONVERGE)
			dm->converge_cur = true;
		if (eff & REQ_EFFECT_RECHECK) {
			free(dm->skip_logged);
			dm->skip_logged = NULL;
			dm->head_check = true;
		}
		if (str_eq(v[i].verb, "enable") && ok && dm->cur) {
			struct rc_unit *u = rc_desired_unit(dm->cur, v[i].arg);
			if (u) {
				struct unit_rt *rt = &dm->rt[u - dm->cur->units];
				rt->pending = ACT_NONE;
				rt->bad = false;
				rt->ok_since = 0;
			}
		}
		buf_release(&msg);
	}
	request_list_free(v, n);
}

/* ---- signals and the engine wait --------------------------------------------- */

static void read_signals(struct daemon *dm)
{
	struct signalfd_siginfo si;
	while (read(dm->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			say("SIGHUP: re-reading the manifests");
			dm->reload = true;
		} else {
			say("%s: finishing", strsignal((int)si.ssi_signo));
			dm->stop = true;
		}
	}
}

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
		say("waiting for the docker engine at %s: %s; next try in %.1fs",
		    dm->o->docker_host ? dm->o->docker_host : DK_DEFAULT_HOST, err.msg, secs(delay));
		struct pollfd p = { dm->sigfd, POLLIN, 0 };
		if (poll(&p, 1, (int)(delay / NS_PER_MS)) > 0) {
			read_signals(dm);
			if (dm->stop)
				return -1;
		}
		delay = delay * 2 > 30 * NS_PER_S ? 30 * NS_PER_S : delay * 2;
	}
}

/* ---- the loop --------------------------------------------------------------- */

static int64_t next_deadline(const struct daemon *dm)
{
	int64_t now = now_ns(), t = now + NS_PER_S / 2;  /* requests are looked at twice a second */
	if (dm->next_check < t)
		t = dm->next_check;
	if (dm->next_drift && dm->cur && dm->next_drift < t)
		t = dm->next_drift;
	if (!dm->ev && dm->cur && dm->next_events < t)
		t = dm->next_events;
	if (dm->retry_head_at && dm->retry_head_at < t)
		t = dm->retry_head_at;
	if (dm->o->remote && dm->next_fetch < t)
		t = dm->next_fetch;
	for (size_t i = 0; dm->cur && i < dm->cur->nunits; i++) {
		if (dm->rt[i].pending && dm->rt[i].due < t)
			t = dm->rt[i].due;
		if (dm->cur->units[i].health.kind == RC_HEALTH_HTTP && dm->rt[i].next_probe < t)
			t = dm->rt[i].next_probe;
	}
	return t < now ? now : t;
}

static void fetch(struct daemon *dm)
{
	struct rc_err err = { 0 };
	const char *branch = dm->o->remote_branch ? dm->o->remote_branch : "main";
	char id[41];
	if (source_fetch(dm->o->repo, dm->o->remote, dm->o->remote_credentials, branch, dm->follow, id, &err) < 0) {
		_cleanup_free_ char *shown = url_redact(dm->o->remote);
		say("warning: fetching %s from %s: %s", branch, shown, err.msg);
		return;
	}
	if (!str_eq(id, cur_commit(dm)))
		dm->head_check = true;
}

/* A drift check against the desired state in force (journaled); ret_report may be NULL. */
static int drift_run(struct daemon *dm, int parallel, struct drift_report *ret_report,
		     struct drift_summary *ret_sum, struct rc_err *err)
{
	if (!dm->images)
		dm->images = drift_image_cache_new();
	struct drift_opts o = { .parallel = parallel, .journal = true, .images = dm->images };
	if (dm->known_valid && dm->ev) {
		o.known_ids = (const char *const *)dm->known;
		o.nknown = dm->nknown;
	}
	log_debug("drift check: %s", o.known_ids ? "inspecting the known containers" : "listing");
	return drift_check(dm->c, dm->st, dm->cur, &o, ret_report, ret_sum, err);
}

/* The periodic drift check: report only (journal, log). */
static void drift(struct daemon *dm)
{
	struct drift_summary sum;
	struct rc_err err = { 0 };
	if (drift_run(dm, 8, NULL, &sum, &err) < 0) {
		say("warning: drift check: %s", err.msg);
		return;
	}
	if (sum.total) {
		struct buf b = BUF_INIT;
		drift_summary_format(&sum, &b);
		say("drift against %.12s: %s (see reconciler drift)", cur_commit(dm), buf_cstr(&b));
		buf_release(&b);
	}
}

/* Handle the events the engine has sent already, without waiting: the known container ids are then
 * those of this moment (but for events still on their way, as with a list). */
static void events_drain(struct daemon *dm)
{
	while (dm->ev) {
		struct dk_event e;
		struct rc_err err = { 0 };
		int r = dk_events_poll(dm->ev, 0, NULL, 0, &e, &err);
		if (r == 1) {
			handle_event(dm, &e);
			dk_event_release(&e);
			continue;
		}
		if (r < 0) {
			say("engine event stream lost: %s; reconnecting", err.msg);
			events_close(dm);
		}
		break;
	}
}

static const char *root_if_dot(const char *path)
{
	return !path || !strcmp(path, ".") ? "" : path;
}

static void overlay_drift(struct plan_observed *o, void *ctx)
{
	drift_overlay_observed(ctx, o);
}

/*
 * `drift --fix` (control.h, "fix"): check, converge the desired state in
 * force with the drifted fields visible to the planner (units the daemon
 * disabled are left alone, as in every converge of its), check again.
 */
static void control_fix(struct daemon *dm, struct control_request *r)
{
	struct rc_err err = { 0 };
	struct drift_report rep = { 0 };
	struct drift_summary sum;
	if (drift_run(dm, r->parallel, &rep, &sum, &err) < 0) {
		say("warning: drift check for drift --fix: %s", err.msg);
		control_answer_no(r, err.msg);
		return;
	}
	struct buf msg = BUF_INIT;
	size_t nsteps = 0;
	enum conv_result cr = CONV_OK;
	if (sum.total) {
		struct conv_adjust adj = { overlay_drift, &rep };
		cr = converge_desired_r(dm, dm->cur, NULL, NULL, false, false, &adj, &msg, &nsteps, NULL);
		save(dm);
		if (cr == CONV_OK)
			say("drift --fix: converged %.12s (%zu step%s)", cur_commit(dm), nsteps, nsteps == 1 ? "" : "s");
		else
			say("drift --fix: converging %.12s: %s", cur_commit(dm), buf_cstr(&msg));
	}
	drift_report_release(&rep);
	if (cr != CONV_OK) {
		control_answer_no(r, buf_cstr(&msg));
		buf_release(&msg);
		return;
	}
	buf_release(&msg);
	struct drift_report after = { 0 };
	if (drift_run(dm, r->parallel, &after, &sum, &err) < 0) {
		control_answer_no(r, err.msg);
		return;
	}
	struct buf b = BUF_INIT;
	if (sum.total)
		drift_render(&after, DRIFT_TEXT, false, &b);
	control_answer_ok(r, sum.total ? 2 : 0, nsteps, sum.duration_ns, buf_cstr(&b), b.len);
	buf_release(&b);
	drift_report_release(&after);
}

/* A command on the control socket (control.h): a drift check against the desired state in force, or a fix. */
static void control(struct daemon *dm)
{
	struct control_request *r = NULL;
	struct rc_err err = { 0 };
	int a = control_accept(dm->ctl, &r, &err);
	if (a < 0)
		say("warning: %s", err.msg);
	if (a <= 0)
		return;
	if (control_say_accepted(r) < 0)
		goto out;  /* the command gave up waiting and checks by itself */
	events_drain(dm);
	if (!dm->cur || !dm->c) {
		control_answer_no(r, "no desired state in force yet");
		goto out;
	}
	if (!str_eq(r->commit, cur_commit(dm)) || !str_eq(root_if_dot(r->path), root_if_dot(dm->o->path))) {
		_cleanup_free_ char *why = xasprintf("the daemon's desired state is commit %.12s under '%s'",
						     cur_commit(dm), root_if_dot(dm->o->path));
		control_answer_no(r, why);
		goto out;
	}
	const char *secret = NULL;
	if (!manifest_secrets_current(dm->cur, &secret)) {
		/* its desired specs carry the old digest: a check of the command's own would differ */
		_cleanup_free_ char *why = xasprintf("secret '%s' changed since the daemon loaded commit %.12s "
						     "(it reads the manifests and secrets again on SIGHUP)",
						     secret, cur_commit(dm));
		control_answer_no(r, why);
		goto out;
	}
	if (str_eq(r->verb, "fix")) {
		control_fix(dm, r);
		goto out;
	}
	struct drift_report rep = { 0 };
	struct drift_summary sum;
	if (drift_run(dm, r->parallel, &rep, &sum, &err) < 0) {
		say("warning: drift check for a command: %s", err.msg);
		control_answer_no(r, err.msg);
		goto out;
	}
	enum drift_format fmt = str_eq(r->format, "json")	  ? DRIFT_JSON
				: str_eq(r->format, "markdown") ? DRIFT_MARKDOWN
								: DRIFT_TEXT;
	struct buf b = BUF_INIT;
	drift_render(&rep, fmt, r->color, &b);
	control_answer_ok(r, sum.total ? 2 : 0, sum.containers, sum.duration_ns, buf_cstr(&b), b.len);
	buf_release(&b);
	drift_report_release(&rep);
out:
	control_request_free(r);
}

static void loop(struct daemon *dm)
{
	int64_t check_ns = dm->o->check_interval_ns > 0 ? dm->o->check_interval_ns : 30 * NS_PER_S;
	int64_t fetch_ns = dm->o->fetch_interval_ns > 0 ? dm->o->fetch_interval_ns : 60 * NS_PER_S;
	int64_t drift_ns = dm->o->drift_interval_ns ? dm->o->drift_interval_ns : 300 * NS_PER_S;
	dm->next_check = now_ns() + check_ns;
	dm->next_fetch = now_ns() + fetch_ns;
	dm->next_drift = drift_ns > 0 ? now_ns() + drift_ns : 0;
	while (!dm->stop) {
		telemetry_tick(dm->cur, dm->st);  /* heartbeat, watchdog, the unit table for /metrics */
		int64_t now = now_ns();
		int timeout = (int)((next_deadline(dm) - now) / NS_PER_MS);
		struct pollfd fds[3] = { { watch_fd(dm->w), POLLIN, 0 }, { dm->sigfd, POLLIN, 0 },
					 { control_fd(dm->ctl), POLLIN, 0 } };
		size_t nfds = dm->ctl ? 3 : 2;
		struct rc_err err = { 0 };
		if (dm->ev) {
			struct dk_event e;
			int r = dk_events_poll(dm->ev, timeout, fds, nfds, &e, &err);
			if (r == 1) {
				handle_event(dm, &e);
				dk_event_release(&e);
			} else if (r < 0) {
				say("engine event stream lost: %s; reconnecting", err.msg);
				events_close(dm);
			}
			poll(fds, nfds, 0);
		} else {
			poll(fds, nfds, timeout);
		}
		if (fds[1].revents & POLLIN)
			read_signals(dm);
		if (dm->stop)
			break;
		if (fds[0].revents & POLLIN) {
			int r = watch_wait(dm->w, 0, &err);
			if (r == 1)
				dm->head_check = true;
			else if (r < 0)
				say("warning: watching the repository: %s", err.msg);
		}
		requests(dm);
		if (nfds > 2 && (fds[2].revents & POLLIN))
			control(dm);
		now = now_ns();
		if (dm->o->remote && now >= dm->next_fetch) {
			fetch(dm);
			dm->next_fetch = now_ns() + fetch_ns;
		}
		if (dm->retry_head_at && now >= dm->retry_head_at)
			retry_rollout(dm);
		if (dm->reload) {
			dm->reload = false;
			dm->head_check = false;
			check_head(dm, true, "SIGHUP");
		}
		if (dm->head_check) {
			dm->head_check = false;
			check_head(dm, false, "new commit");
		}
		if (dm->stop)
			break;
		if (dm->converge_cur && dm->cur) {
			dm->converge_cur = false;
			struct buf msg = BUF_INIT;
			size_t nsteps = 0;
			if (converge_desired(dm, dm->cur, NULL, NULL, false, false, &msg, &nsteps) != CONV_OK)
				say("converging %.12s: %s", cur_commit(dm), buf_cstr(&msg));
			else if (nsteps)
				say("converged %.12s (%zu step%s)", cur_commit(dm), nsteps, nsteps == 1 ? "" : "s");
			save(dm);
			buf_release(&msg);
			dm->check_all = true;
		}
		if (dm->cur && dm->ev && !str_eq(dm->ev_project, dm->cur->settings.project))
			events_close(dm);
		if (!dm->ev && dm->cur && now_ns() >= dm->next_events)
			events_open(dm);
		if (dm->check_all || now_ns() >= dm->next_check) {
			dm->check_all = false;
			check_all(dm);
			dm->next_check = now_ns() + check_ns;
		}
		if (dm->cur && dm->next_drift && now_ns() >= dm->next_drift) {
			drift(dm);
			dm->next_drift = now_ns() + drift_ns;
		}
		http_probes(dm);
		if (dm->cur && !dm->stop)
			act_all(dm);
		save(dm);
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

int daemon_run(const struct daemon_opts *o)
{
	struct daemon dm = { .o = o, .sigfd = -1 };
	struct rc_err err = { 0 };
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
	if (state_open(o->state_dir, STATE_OPEN_LOCK, &dm.st, &err) < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		goto out;
	}
	size_t nw = 0;
	const char *const *w = state_warnings(dm.st, &nw);
	for (size_t i = 0; i < nw; i++)
		say("warning: %s", w[i]);
	if (setup_signals(&dm) < 0) {
		fprintf(stderr, "reconciler: cannot set up signal handling: %s\n", strerror(errno));
		goto out;
	}
	if (control_listen(o->state_dir, &dm.ctl, &err) < 0)
		say("warning: no control socket (drift commands will check by themselves): %s", err.msg);
	if (telemetry_start(o->state_dir, &err) < 0) {  /* the HTTP endpoint, webhooks, systemd */
		fprintf(stderr, "reconciler: %s\n", err.msg);
		goto out;
	}
	say("starting: following '%s' of %s%s%s%s%s%s, state in %s", dm.follow, o->repo,
	    o->remote ? " fetched from " : "", o->remote ? remote_shown : "",
	    o->remote_credentials ? " (credentials from " : "", o->remote_credentials ? o->remote_credentials : "",
	    o->remote_credentials ? ")" : "", o->state_dir);
	if (o->remote) {
		char id[41];
		if (source_fetch(o->repo, o->remote, o->remote_credentials, o->remote_branch ? o->remote_branch : "main",
				 dm.follow, id, &err) < 0)
			say("warning: first fetch from %s failed: %s", remote_shown, err.msg);
	}
	struct watch_opts wo = WATCH_OPTS_DEFAULT;
	wo.inotify = !o->no_inotify;
	if (o->poll_interval_ns > 0)
		wo.poll_interval_ms = (int)(o->poll_interval_ns / NS_PER_MS) > 0 ? (int)(o->poll_interval_ns / NS_PER_MS) : 1;
	if (watch_open(o->repo, dm.follow, &wo, &dm.w, &err) < 0) {
		fprintf(stderr, "reconciler: watching '%s': %s\n", o->repo, err.msg);
		goto out;
	}
	/* boot-time reconciliation */
	say("boot: waiting for the engine, then converging before anything else");
	if (wait_engine(&dm) < 0) {
		rc = 0;
		goto out;
	}
	journal(&dm, NULL, "boot", NULL, "started", dm.follow);
	{
		_cleanup_free_ char *head = resolve_head(&dm);
		const char *target = head;
		if (head && state_get_failed_commit(dm.st, head)) {
			target = state_get_last_good(dm.st);
			say("boot: the head %.12s is marked failed; %s", head,
			    target ? "converging to the last good commit" : "no last good commit: nothing to do");
			dm.skip_logged = xstrdup(head);
		}
		_cleanup_free_ char *t = target ? xstrdup(target) : NULL;
		if (t)
			rollout(&dm, t, "boot");
		/* Follow events, then take a first look at every unit before saying boot is done: the
		 * RestartCount each container has now is the baseline; restarts after it are counted. */
		if (!dm.stop) {
			events_open(&dm);
			check_all(&dm);
			dm.check_all = false;
		}
		size_t nd = 0;
		_cleanup_free_ const char **dis = state_disabled_units(dm.st, &nd);
		_cleanup_free_ char *summary = xasprintf(
			"commit %.12s, %zu unit%s, %zu network%s, %zu disabled", cur_commit(&dm) ? cur_commit(&dm) : "(none)",
			dm.cur ? dm.cur->nunits : 0, dm.cur && dm.cur->nunits == 1 ? "" : "s",
			dm.cur ? dm.cur->nnetworks : 0, dm.cur && dm.cur->nnetworks == 1 ? "" : "s", nd);
		if (dm.refused) {
			say("boot convergence refused: the project belongs to another state directory; stopping");
		} else if (dm.stop) {
			say("boot convergence interrupted: %s", summary);
			journal(&dm, cur_commit(&dm), "boot", NULL, "interrupted", summary);
		} else {
			say("boot convergence complete: %s", summary);
			telemetry_booted(summary);  /* READY=1 */
			journal(&dm, cur_commit(&dm), "boot", NULL, "ok", summary);
		}
		save(&dm);
	}
	events_open(&dm);
	loop(&dm);
	say("stopped");
	journal(&dm, cur_commit(&dm), "stop", NULL, dm.refused ? "refused" : "ok", NULL);
	save(&dm);
	rc = dm.refused ? 1 : 0;
out:
	telemetry_stop();  /* STOPPING=1 */
	control_close(dm.ctl);
	events_close(&dm);
	watch_close(dm.w);
	if (dm.sigfd >= 0)
		close(dm.sigfd);
	rt_release(&dm);
	rc_desired_free(dm.cur);
	source_files_release(&dm.files);
	dk_client_free(dm.c);
	state_free(dm.st);
	free(dm.ev_project);
	known_clear(&dm);
	free(dm.known);
	drift_image_cache_free(dm.images);
	free(dm.skip_logged);
	free(dm.retry_commit);
	free(dm.secrets_dir);
	free(dm.repo_id);
	return rc;
}
