/*
 * cmd_drift.c — `reconciler drift [--fix]`: see cli.h.  The work is in
 * drift.c; --fix converges with the same building blocks as apply
 * (observe, state_allocate, planner_plan, apply_run).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "buf.h"
#include "cli.h"
#include "control.h"
#include "converge.h"
#include "docker.h"
#include "drift.h"
#include "observe.h"
#include "owner.h"
#include "planner.h"
#include "prefetch.h"
#include "source.h"
#include "state.h"

static int fail(const char *what, const struct rc_err *err)
{
	fprintf(stderr, "reconciler: %s: %s\n", what, err->msg);
	return 1;
}

static bool use_color(const struct cli_opts *o)
{
	const char *nc = getenv("NO_COLOR");
	return !o->json && !o->markdown && !o->out && isatty(STDOUT_FILENO) && !(nc && *nc);
}

/* The planner's view of the engine, with the drift in the report (ctx) made visible. */
static void overlay(struct plan_observed *o, void *ctx)
{
	drift_overlay_observed(ctx, o);
}

/*
 * --fix: converge d like apply, with the drift in rep made visible to the planner.  Returns 0 when
 * every step succeeded, 1 otherwise (after printing why).
 */
static int fix(const struct cli_opts *o, struct dk_client *c, struct rc_state *st, struct rc_desired *d,
	       const struct drift_report *rep, const struct owner_self *self, const struct owner_marker *seen)
{
	struct rc_err err = { 0 };
	struct converge cv = { 0 };
	struct apply_result ar = { 0 };
	int rc = 1;
	bool refused = false;
	if (converge_plan_adjusted(&cv, d, c, st, overlay, (void *)(uintptr_t)rep, &err) < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		goto out;
	}
	if (cli_report_conflicts(&cv.plan))
		goto out;
	converge_hold_disabled(&cv, st, NULL);  /* a disabled unit stays stopped (as the daemon's --fix) */
	if (converge_claim(&cv, c, st, self, seen, o->take_over, &refused, &err) < 0) {
		fprintf(stderr, "reconciler: %s%s\n", refused ? "" : "project owner: ", err.msg);
		goto out;
	}
	struct apply_opts ao = { .parallel = o->parallel, .progress = !o->quiet && !o->json && !o->markdown };
	converge_apply(&cv, c, st, &ao, &ar);
	rc = 0;
	if (state_save(st, &err) < 0)
		rc = fail("saving state", &err);
	if (cli_report_failures(&ar, "drift --fix"))
		rc = 1;
out:
	apply_result_release(&ar);
	converge_release(&cv);
	return rc;
}

/*
 * How long the daemon may take to pick a request up (it is busy in a rollout when it does not), to
 * answer a check, and to answer a fix (a converge waits on health: minutes).
 */
#define DAEMON_ACCEPT_MS 1000
#define DAEMON_ANSWER_MS 120000
#define DAEMON_FIX_MS 3600000

/* --fix by the daemon, after its check found drift: 0, 2 (drift left) or 1. */
static int fix_by_daemon(const struct cli_opts *o, const char *commit, const char *path)
{
	struct control_drift_answer a;
	struct rc_err err = { 0 };
	struct control_drift_req q = { .fix = true, .format = "text", .parallel = o->parallel, .commit = commit,
				       .path = path, .accept_ms = DAEMON_ACCEPT_MS, .answer_ms = DAEMON_FIX_MS };
	if (control_drift(o->state_dir, &q, &a, &err) <= 0) {
		fprintf(stderr, "reconciler: drift --fix by the daemon: %s\n", err.msg);
		return 1;
	}
	int rc = a.exit_code;
	if (rc)
		fprintf(stderr, "reconciler: drift remains after --fix (the daemon took %zu step%s):\n%s", a.count,
			a.count == 1 ? "" : "s", a.body);
	else if (!o->quiet)
		fprintf(stderr, "reconciler: drift fixed by the daemon (%zu step%s): no drift left\n", a.count,
			a.count == 1 ? "" : "s");
	free(a.body);
	return rc;
}

/*
 * A daemon holds the state directory: ask it for the check (control.h), and
 * with --fix for the converge.  It knows the project's containers from the
 * engine's events, so its check makes no container list
 * (docs/performance.md).  1: answered, *ret_rc is the exit code; 0: not
 * answered (why is said with -v): check here.
 */
static int by_daemon(const struct cli_opts *o, const char *commit, const char *path, int *ret_rc)
{
	struct control_drift_answer a;
	struct rc_err err = { 0 };
	const char *fmt = o->json ? "json" : o->markdown ? "markdown" : "text";
	struct control_drift_req q = { .format = fmt, .color = use_color(o), .parallel = o->parallel,
				       .commit = commit, .path = path, .accept_ms = DAEMON_ACCEPT_MS,
				       .answer_ms = DAEMON_ANSWER_MS };
	if (control_drift(o->state_dir, &q, &a, &err) <= 0) {
		if (o->fix)  /* and the command cannot fix while the daemon holds the lock: say why it did not */
			log_warn("asking the daemon for drift --fix: %s", err.msg);
		else
			log_info("%s: checking without it", err.msg);
		return 0;
	}
	log_info("the daemon made this drift check");
	int rc = a.exit_code;
	if (o->out) {
		if (write_file_atomic(o->out, a.body, a.len, 0644, &err) < 0)
			rc = fail("writing the report", &err);
	} else {
		fwrite(a.body, 1, a.len, stdout);
		fflush(stdout);
	}
	if (o->stats)
		fprintf(stderr, "drift check: %.1f ms in the daemon, %zu containers inspected\n", (double)a.duration_ns / NS_PER_MS,
			a.count);
	free(a.body);
	if (o->fix && rc == 2)
		rc = fix_by_daemon(o, commit, path);
	*ret_rc = rc;
	return 1;
}

/*
 * The state directory, locked when it can be.  When another process (the daemon, an apply) holds it,
 * it is opened unlocked and *ret_held says why: the daemon checks (and fixes), or we check without a
 * journal line (and cannot fix).  -1 (said) when it cannot be opened.
 */
static int drift_state_open(const struct cli_opts *o, struct rc_state **ret_st, char **ret_held)
{
	struct rc_err err = { 0 };
	struct rc_state *st = NULL;
	char *held = NULL;
	if (state_open(o->state_dir, STATE_OPEN_LOCK, &st, &err) < 0) {
		held = xstrdup(err.msg);
		if (state_open(o->state_dir, 0, &st, &err) < 0) {
			free(held);
			fail("state directory", &err);
			return -1;
		}
	}
	size_t nw = 0;
	const char *const *w = state_warnings(st, &nw);
	for (size_t i = 0; i < nw; i++)
		log_warn("%s", w[i]);
	*ret_st = st;
	*ret_held = held;
	return 0;
}

/* --fix: the project's owner (owner.h), before any output: drift --fix from another state
 * directory is refused unless --take-over.  0, or 1 (said). */
static int fix_owner_check(const struct cli_opts *o, struct dk_client *c, struct rc_state *st,
			   const struct rc_desired *d, struct owner_self *self, struct owner_marker *seen)
{
	struct rc_err err = { 0 };
	_cleanup_free_ char *repo = cli_repo_identity(o);
	int orc = owner_self_init(self, d->settings.project, state_dir(st), repo, &err) < 0
			  ? -1 : owner_check(c, self, o->take_over, seen, &err);
	if (orc != 0) {
		fprintf(stderr, "reconciler: %s%s\n", orc < 0 ? "project owner: " : "", err.msg);
		return 1;
	}
	return 0;
}

/*
 * Without --dir or --rev, drift checks the last applied commit (from where it was applied): lo->rev
 * and lo->path are set, and *ret_last holds the commit (the caller frees it).  With them, *ret_last
 * is NULL.  -1 (said) when nothing was applied from Git yet.
 */
static int last_applied_rev(const struct cli_opts *o, struct rc_state *st, struct cli_opts *lo, char **ret_last)
{
	if (o->dir || o->rev_set) {
		*ret_last = NULL;
		return 0;
	}
	if (!state_get_last_applied(st)) {
		fprintf(stderr, "reconciler: nothing was applied from Git yet (no last applied commit in '%s'): "
				"give --rev or --dir\n", o->state_dir);
		return -1;
	}
	char *last = xstrdup(state_get_last_applied(st));
	lo->rev = last;
	if ((!o->path || !*o->path) && state_get_path(st))
		lo->path = state_get_path(st);  /* where that commit was applied from */
	*ret_last = last;
	return 0;
}

/*
 * After a rollback that kept a failed commit's removals, the commit in force
 * is the last applied one less what that commit removed (state.h,
 * rolled_back_from; docs/operations.md, "Rollouts and rollback") while it
 * stays marked failed: take them out of d too, so that drift does not report
 * a deleted customer as missing nor drift --fix make it again.  The failed
 * commit is read from Git; when it cannot be, d stays whole (warned).
 */
static void less_removals(const struct cli_opts *lo, struct rc_state *st, const char *last, struct rc_desired *d)
{
	const char *from = state_get_rolled_back_from(st);
	if (!from || str_eq(from, last) || !state_get_failed_commit(st, from))
		return;
	struct cli_opts fo = *lo;
	fo.rev = from;
	fo.dir = NULL;
	struct source_files files = { 0 };
	struct rc_desired *f = NULL;
	struct buf dropped = BUF_INIT;
	int saved = rc_log_level;
	rc_log_level = RC_LOG_ERROR;  /* its own warnings (a secret to make) are not this check's */
	int rc = cli_load_desired(&fo, &files, &f);
	rc_log_level = saved;
	if (rc) {
		log_warn("cannot read commit %.12s, whose removals the commit in force keeps: checking all of %.12s",
			 from, last);
	} else {
		converge_keep_removals(d, f, &dropped);
		if (dropped.len)
			log_info("commit %.12s is in force less what %.12s removed: %s", last, from, buf_cstr(&dropped));
	}
	rc_desired_free(f);
	source_files_release(&files);
	buf_release(&dropped);
}

/* The desired state of lo: for the last applied commit, from the copy of its manifests drift kept
 * (state.h), else from Git (then kept, when the state is ours).  0, or 1 (said). */
static int drift_desired(const struct cli_opts *lo, struct rc_state *st, const char *last,
			 struct source_files *files, struct rc_desired **ret_d)
{
	int kept = 0;
	if (last) {
		struct rc_err kerr = { 0 };
		if ((kept = state_get_manifests(st, last, lo->path, files, &kerr)) < 0)
			log_warn("%s: reading the manifests from Git", kerr.msg);
	}
	int rc = kept == 1 ? cli_expand_desired(lo, files, ret_d) : cli_load_desired(lo, files, ret_d);
	if (!rc && last && kept != 1 && state_locked(st)) {
		struct rc_err kerr = { 0 };
		if (state_put_manifests(st, files, lo->path, &kerr) < 0)
			log_warn("keeping the manifests of %.12s: %s", last, kerr.msg);
	}
	if (!rc && last)
		less_removals(lo, st, last, *ret_d);
	return rc;
}

static void prefetched_release(struct observe_raw *raw, struct prefetch_inspected *pi)
{
	observe_raw_release(raw);
	dk_inspect_results_release(pi->res, pi->n);
	free(pi->res);
	*pi = (struct prefetch_inspected){ 0 };
}

/* The report, in the format asked for, to stdout or --out.  0, or 1 (said). */
static int drift_write(const struct cli_opts *o, const struct drift_report *rep)
{
	struct rc_err err = { 0 };
	struct buf out = BUF_INIT;
	int rc = 0;
	enum drift_format fmt = o->json ? DRIFT_JSON : o->markdown ? DRIFT_MARKDOWN : DRIFT_TEXT;
	drift_render(rep, fmt, use_color(o), &out);
	if (o->out) {
		if (write_file_atomic(o->out, buf_cstr(&out), out.len, 0644, &err) < 0)
			rc = fail("writing the report", &err);
	} else {
		fputs(buf_cstr(&out), stdout);
		fflush(stdout);
	}
	buf_release(&out);
	return rc;
}

/* --fix after the check found drift: converge, then check again.  0 (no drift left), 2 (drift
 * left, said) or 1 (said). */
static int fix_and_recheck(const struct cli_opts *o, struct dk_client *c, struct rc_state *st, struct rc_desired *d,
			   const struct drift_report *rep, const struct drift_opts *dro, const struct owner_self *self,
			   const struct owner_marker *seen)
{
	struct rc_err err = { 0 };
	struct drift_summary sum = { 0 };
	if (fix(o, c, st, d, rep, self, seen) != 0)
		return 1;
	struct drift_report after = { 0 };
	int rc;
	if (drift_check(c, st, d, dro, &after, &sum, &err) < 0) {
		rc = fail("drift check after --fix", &err);
	} else if (sum.total) {
		struct buf b = BUF_INIT;
		drift_render(&after, DRIFT_TEXT, false, &b);
		fprintf(stderr, "reconciler: drift remains after --fix:\n%s", buf_cstr(&b));
		buf_release(&b);
		rc = 2;
	} else {
		if (!o->quiet)
			fprintf(stderr, "reconciler: drift fixed: no drift left\n");
		rc = 0;
	}
	drift_report_release(&after);
	return rc;
}

int cmd_drift(const struct cli_opts *o)
{
	struct rc_err err = { 0 };
	if (o->json && o->markdown) {
		fprintf(stderr, "reconciler: --json and --markdown cannot be used together\n");
		return 1;
	}
	struct rc_state *st = NULL;
	_cleanup_free_ char *held = NULL;
	if (drift_state_open(o, &st, &held) < 0)
		return 1;

	struct cli_opts lo = *o;
	_cleanup_free_ char *last = NULL;
	if (last_applied_rev(o, st, &lo, &last) < 0) {
		state_free(st);
		return 1;
	}
	if (last && !state_locked(st)) {
		int drc = 0;
		if (by_daemon(o, last, lo.path, &drc)) {
			state_free(st);
			return drc;
		}
	}
	if (held && o->fix) {
		fprintf(stderr, "reconciler: state directory: %s\n", held);
		state_free(st);
		return 1;
	}
	if (held)
		log_info("%s: this drift check is not journaled", held);
	struct source_files files = { 0 };
	struct rc_desired *d = NULL;
	struct dk_client *c = NULL;
	struct drift_report rep = { 0 };
	struct drift_summary sum = { 0 };
	struct observe_raw raw = { 0 };
	struct drift_inspects *di = NULL;
	struct owner_self self = { 0 };
	struct owner_marker seen = { 0 };
	/*
	 * Connecting, the version check, the list of the last applied project's containers and the
	 * inspects of that apply's containers (by name, alongside the list; then by id what the list
	 * has more) run while the manifests load (prefetch.h); then the units' containers those did
	 * not find are inspected by name while drift_check() makes the rest of its list calls.
	 */
	const char *hint = state_get_project(st);  /* the project of the last apply, checked below */
	struct prefetch_opts po = { .docker_host = o->docker_host, .lists = hint != NULL, .project = hint,
				    .inspect_parallel = o->parallel > 0 ? o->parallel : 8 };
	po.names = state_get_containers(st, &po.nnames);
	struct prefetch *pf = prefetch_start(&po);
	int rc = drift_desired(&lo, st, last, &files, &d);
	struct prefetch_inspected pi = { 0 };
	if (prefetch_finish(pf, &c, &raw, &pi, &err) < 0) {
		if (!rc)
			rc = fail("drift check", &err);
		goto out;
	}
	if (!rc && !str_eq(hint, d->settings.project))
		/* listed another project's containers: drift_check lists, drift_inspects inspects */
		prefetched_release(&raw, &pi);
	if (rc) {
		prefetched_release(&raw, &pi);
		goto out;
	}
	if (o->fix && fix_owner_check(o, c, st, d, &self, &seen) != 0) {
		prefetched_release(&raw, &pi);
		rc = 1;
		goto out;
	}
	if (d->settings.engine == RC_ENGINE_SWARM)
		prefetched_release(&raw, &pi);  /* containers: a swarm's units are services, listed by drift_check() */
	else
		di = drift_inspects_start(dk_client_clone(c), d, o->parallel, pi.res, pi.n);
	struct drift_opts dro = { .parallel = o->parallel, .journal = true, .inspects = di,
				  .prelisted = raw.containers ? &raw : NULL, .unapplied_is_drift = o->dir || o->rev_set };
	int r = drift_check(c, st, d, &dro, &rep, &sum, &err);
	dro.inspects = NULL;  /* taken over; --fix's second look makes its own */
	if (r < 0) {
		rc = fail("drift check", &err);
		goto out;
	}
	if ((rc = drift_write(o, &rep)) != 0)
		goto out;
	if (o->stats)
		fprintf(stderr, "drift check: %.1f ms, %zu containers inspected, docker api calls: %llu\n",
			(double)sum.duration_ns / NS_PER_MS, sum.containers, (unsigned long long)dk_stats_total(c));
	rc = sum.total ? 2 : 0;
	if (o->fix && sum.total)
		rc = fix_and_recheck(o, c, st, d, &rep, &dro, &self, &seen);
out:
	owner_marker_release(&seen);
	owner_self_release(&self);
	drift_report_release(&rep);
	dk_client_free(c);
	rc_desired_free(d);
	source_files_release(&files);
	state_free(st);
	return rc;
}
