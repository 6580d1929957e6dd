/* daemon_rollout.c — a commit's life in the daemon: load, converge, roll out, roll back (daemon_int.h). */
#include "daemon_int.h"
#include "telemetry.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hostpolicy.h"
#include "owner.h"
#include "regauth.h"

/* ---- convergence ---------------------------------------------------------- */

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

/* Another state directory owns the project (owner.h): say so, journal it, and stop (exit 1). */
static void refuse(struct daemon *dm, const char *commit, const char *why)
{
	dm_say("%s", why);
	dm_journal(dm, commit, "owner", NULL, "refused", why);
	dm->refused = true;
	dm->stop = true;
}

/* The project's owner, before anything is planned: one engine call (owner.h).  CONV_OK to go on. */
static enum conv_result check_owner(struct daemon *dm, const struct rc_desired *d, struct owner_self *self,
				    struct owner_marker *seen, struct buf *msg)
{
	struct rc_err err = { 0 };
	int orc = owner_self_init(self, d->settings.project, dm->o->state_dir, dm->repo_id, &err) < 0
			  ? -1 : owner_check(dm->c, self, dm->take_over, seen, &err);
	if (orc == 0)
		return CONV_OK;
	buf_adds(msg, err.msg);
	if (orc < 0)
		return CONV_TRANSIENT;
	refuse(dm, d->commit, err.msg);
	return CONV_REFUSED;
}

/* Claim the project before the first change (converge_claim()).  CONV_OK to go on. */
static enum conv_result claim(struct daemon *dm, struct converge *cv, struct owner_self *self,
			      struct owner_marker *seen, struct buf *msg)
{
	struct rc_err err = { 0 };
	bool refused = false;
	int cr = converge_claim(cv, dm->c, dm->st, self, seen, dm->take_over, &refused, &err);
	if (cr == 0 && owner_judge(self, seen) != OWNER_MINE) {
		_cleanup_free_ char *prev = seen->present ? owner_describe(seen) : NULL;
		if (prev)
			dm_say("took over project '%s' from %s", self->project, prev);
		else
			dm_say("claimed project '%s' for this state directory", self->project);
	}
	if (cr == 0) {
		dm->take_over = false;  /* taken over once; a later take-over by another state directory stops us */
		return CONV_OK;
	}
	buf_adds(msg, err.msg);
	if (!refused)
		return CONV_TRANSIENT;
	refuse(dm, cv->d->commit, err.msg);
	return CONV_REFUSED;
}

/* An apply failed: was it the commit, or the engine (no verdict)?  Says why in msg. */
static enum conv_result judge_failure(struct daemon *dm, const struct rc_desired *d, const struct apply_result *ar,
				      struct buf *msg)
{
	enum conv_result res = stop_pending(dm) ? CONV_INTERRUPTED : CONV_FAILED;
	struct dk_status ps;
	struct rc_err perr = { 0 };
	if (res == CONV_FAILED && dk_ping(dm->c, &ps, &perr) < 0) {
		/* the engine went away under the steps: no verdict on the commit, try again later */
		res = CONV_TRANSIENT;
		buf_addf(msg, "the engine stopped answering (%s); nothing is decided about commit %.12s; ", perr.msg,
			 d->commit ? d->commit : "(directory)");
	} else if (res == CONV_FAILED && ar->nfaults) {
		/* a step met no coherent answer (docker.h, "Engine faults"): what failed with it
		 * says nothing about the commit */
		res = CONV_TRANSIENT;
		for (size_t i = 0; i < ar->nsteps; i++)
			if (ar->steps[i].engine_fault) {
				buf_addf(msg, "the engine failed (%s); nothing is decided about commit %.12s; ",
					 ar->steps[i].msg ? ar->steps[i].msg : ar->steps[i].what,
					 d->commit ? d->commit : "(directory)");
				break;
			}
	}
	size_t k = 0;
	for (size_t i = 0; i < ar->nsteps; i++) {
		const struct apply_step *s = &ar->steps[i];
		if (s->status != APPLY_FAILED && s->status != APPLY_SKIPPED)
			continue;
		buf_addf(msg, "%s%s %s: %s", k++ ? "; " : "", apply_status_name(s->status), s->what, s->msg ? s->msg : "");
	}
	return res;
}

struct adjust_ctx {
	struct daemon *dm;
	const struct conv_adjust *then;
};

/*
 * The observed state as the daemon sees it: the host ports its wake proxy
 * listens on for sleeping units are no host process's (a unit woken starts
 * on its port: its listener closes right before, dm_idle_before_start());
 * then the caller's adjustment, if any.
 */
static void adjust_observed(struct plan_observed *o, void *ctx)
{
	struct adjust_ctx *a = ctx;
	size_t k = 0;
	for (size_t i = 0; i < o->nhost_listening; i++)
		if (!a->dm->wp || !wp_listens_on(a->dm->wp, o->host_listening[i]))
			o->host_listening[k++] = o->host_listening[i];
	o->nhost_listening = k;
	if (a->then)
		a->then->fn(o, a->then->ctx);
}

/* Plan (after the owner check and the claim), filter and apply. */
static enum conv_result plan_and_apply(struct daemon *dm, struct rc_desired *d, const struct conv_opts *o,
				       struct owner_self *self, struct owner_marker *seen, struct buf *msg,
				       struct apply_result *ar)
{
	struct converge cv;
	struct rc_err err = { 0 };
	struct adjust_ctx actx = { dm, o->adjust };
	int pr = converge_plan_adjusted(&cv, d, dm->c, dm->st, adjust_observed, &actx, &err);
	if (pr < 0) {
		buf_adds(msg, err.msg);
		converge_release(&cv);
		return CONV_TRANSIENT;
	}
	for (size_t i = 0; i < cv.obs.plan.nwarnings; i++)
		dm_say("warning: %s", cv.obs.plan.warnings[i]);  /* e.g. a registry that did not answer */
	if (cv.plan.nconflicts) {
		for (size_t i = 0; i < cv.plan.nconflicts; i++)
			buf_addf(msg, "%sconflict: %s", i ? "\n" : "", cv.plan.conflicts[i]);
		converge_release(&cv);
		return CONV_CONFLICT;
	}
	enum conv_result res = claim(dm, &cv, self, seen, msg);
	if (res != CONV_OK) {
		converge_release(&cv);
		return res;
	}
	converge_hold_disabled(&cv, dm->st, o->blocked);  /* disabled units stay stopped, their dependents wait */
	if (o->keep)
		converge_filter(&cv, o->keep, o->keep_ctx);
	if (o->self_heal) {
		/* starting the same container again is no change to approve */
		for (size_t i = 0; i < cv.plan.n; i++)
			if (cv.plan.v[i].kind == PLAN_START)
				cv.plan.v[i].protected_ = false;
	}
	struct apply_opts ao = { .parallel = dm->o->parallel, .progress = !dm->o->quiet, .progress_line = true,
				 .interrupted = stop_pending, .interrupted_ctx = dm, .wait_unchanged = o->verify,
				 .before_start = dm->wp ? dm_idle_before_start : NULL, .before_start_ctx = dm };
	if (converge_apply(&cv, dm->c, dm->st, &ao, ar) < 0)
		res = judge_failure(dm, d, ar, msg);
	converge_release(&cv);
	return res;
}

enum conv_result dm_converge(struct daemon *dm, struct rc_desired *d, const struct conv_opts *o, struct buf *msg,
			     size_t *ret_steps)
{
	static const struct conv_opts none = { 0 };
	if (!o)
		o = &none;
	struct apply_result ar = { 0 };
	struct owner_self self = { 0 };
	struct owner_marker seen = { 0 };
	enum conv_result res = check_owner(dm, d, &self, &seen, msg);
	if (res == CONV_OK)
		res = plan_and_apply(dm, d, o, &self, &seen, msg, &ar);
	owner_marker_release(&seen);
	owner_self_release(&self);
	if (ret_steps)
		*ret_steps = ar.nsteps;
	if (o->result)
		*o->result = ar;
	else
		apply_result_release(&ar);
	if (res == CONV_INTERRUPTED)
		dm_read_signals(dm);  /* sets dm->stop */
	return res;
}

static void mark_failed(struct daemon *dm, const char *commit, const char *what, const char *msg)
{
	state_add_failed_commit(dm->st, commit, (int64_t)time(NULL), msg);
	dm_journal(dm, commit, what, NULL, "failed", msg);
	dm_save(dm);
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

/* Load commit `from` and take its removals out of d (converge_keep_removals()); said.  False if it cannot be read. */
static bool less_removals(struct daemon *dm, struct rc_desired *d, const char *from)
{
	struct source_files files = { 0 };
	struct rc_desired *f = NULL;
	struct buf msg = BUF_INIT, dropped = BUF_INIT;
	bool invalid = false;
	bool ok = load(dm, from, &files, &f, &invalid, &msg) == 0;
	if (!ok) {
		dm_say("cannot read commit %.12s to keep its removals: %s", from, buf_cstr(&msg));
	} else {
		converge_keep_removals(d, f, &dropped);
		if (dropped.len)
			dm_say("commit %.12s is in force less what %.12s removed: %s", d->commit ? d->commit : "(directory)",
			       from, buf_cstr(&dropped));
	}
	rc_desired_free(f);
	source_files_release(&files);
	buf_release(&msg);
	buf_release(&dropped);
	return ok;
}

/*
 * Converge the last good commit again — less what the failed commit bad
 * (its desired state bad_d, NULL when it never loaded) removed — and put it
 * in force.  False when there is none.
 */
static bool rollback(struct daemon *dm, const char *bad, const struct rc_desired *bad_d)
{
	const char *lg0 = state_get_last_good(dm->st);
	if (!lg0 || str_eq(lg0, bad)) {
		dm_say("no last good commit to roll back to: the units of %.12s stay as they are", bad);
		return false;
	}
	bool installed = false;
	_cleanup_free_ char *lg = xstrdup(lg0);
	dm_say("rolling back to the last good commit %.12s", lg);
	struct source_files files = { 0 };
	struct rc_desired *d = NULL;
	struct buf msg = BUF_INIT;
	bool invalid = false;
	if (load(dm, lg, &files, &d, &invalid, &msg) < 0) {
		dm_say("rollback: cannot load %.12s: %s", lg, buf_cstr(&msg));
		dm_journal(dm, lg, "rollback", NULL, "failed", buf_cstr(&msg));
	} else {
		struct buf dropped = BUF_INIT;
		if (bad_d)
			converge_keep_removals(d, bad_d, &dropped);
		if (dropped.len) {
			/* the failed commit's removals stand (converge_keep_removals()); a restart keeps them too */
			dm_say("rollback keeps what %.12s removed: %s", bad, buf_cstr(&dropped));
			dm_journal(dm, lg, "keep-removals", NULL, "ok", buf_cstr(&dropped));
		}
		state_set_rolled_back_from(dm->st, dropped.len ? bad : NULL);
		buf_release(&dropped);
		size_t nsteps = 0;
		enum conv_result r = dm_converge(dm, d, NULL, &msg, &nsteps);
		if (r == CONV_OK) {
			dm_say("rolled back to %.12s (%zu step%s)", lg, nsteps, nsteps == 1 ? "" : "s");
			dm_journal(dm, lg, "rollback", NULL, "ok", bad);
		} else if (r == CONV_INTERRUPTED) {
			dm_say("rollback to %.12s interrupted: %s", lg, buf_cstr(&msg));
			dm_journal(dm, lg, "rollback", NULL, "interrupted", buf_cstr(&msg));
		} else {
			dm_say("rollback to %.12s did not fully succeed: %s", lg, buf_cstr(&msg));
			dm_journal(dm, lg, "rollback", NULL, "failed", buf_cstr(&msg));
		}
		dm_install(dm, d, &files);
		d = NULL;
		installed = true;
	}
	rc_desired_free(d);
	source_files_release(&files);
	buf_release(&msg);
	return installed;
}

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
		dm_say("warning: keeping the manifests of %.12s: %s", files->commit, err.msg);
}

/*
 * A disabled mark belongs to the spec it was disabled at: a commit that
 * changes the unit's spec lifts it (journaled "new spec"), and the unit is
 * tried with its new spec, failures counted from zero.  A mark without a
 * hash (made before marks had one, or by `disable` with no daemon running)
 * is tied to the spec in force now.
 */
static void lift_new_specs(struct daemon *dm, const struct rc_desired *d)
{
	size_t n = 0;
	_cleanup_free_ const char **dis = state_disabled_units(dm->st, &n);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *id = xstrdup(dis[i]);  /* dis[] is the state's: lifting frees it */
		const struct rc_unit *u = rc_desired_unit(d, id);
		const struct rc_unit *old = dm->cur ? rc_desired_unit(dm->cur, id) : NULL;
		const char *at = state_disabled_hash(dm->st, id);
		if (!at)
			at = old ? old->hash : u ? u->hash : NULL;
		if (!u || !at || str_eq(at, u->hash))
			continue;
		const char *reason = NULL;
		state_is_disabled(dm->st, id, &reason);
		_cleanup_free_ char *msg = xasprintf("new spec in commit %.12s: the disabled mark (%s) is lifted and the "
						     "unit tried with it", d->commit ? d->commit : "(directory)",
						     reason ? reason : "no reason");
		state_del_disabled(dm->st, id);
		state_del_restarts(dm->st, id);
		dm_say("unit %s: %s", id, msg);
		dm_journal(dm, d->commit, "enable", id, "ok", msg);
	}
}

/* One rollout: what dm_rollout() loads and hands from step to step. */
struct rollout {
	const char *commit;
	struct source_files files;
	struct rc_desired *d;     /* the commit's desired state; NULL once installed (dm_install() took it) */
	struct buf msg;           /* why it could not be loaded, or why converging to it failed */
	char *from;               /* a failed commit whose removals it keeps (rolled back from), or NULL */
	struct buf blocked;       /* the units held back behind disabled units (struct conv_opts) */
	size_t nsteps;
};

/* The rollout's desired state is the one in force now. */
static void rollout_install(struct daemon *dm, struct rollout *ro)
{
	dm_install(dm, ro->d, &ro->files);
	ro->d = NULL;
}

/* The commit could not be loaded: an invalid one is marked failed, one that cannot be read is tried later. */
static void rollout_not_loaded(struct daemon *dm, const struct rollout *ro, bool invalid)
{
	fprintf(stderr, "%s\n", buf_cstr(&ro->msg));
	if (invalid) {
		dm_say("commit %.12s is invalid: nothing changed; it will not be tried again until a newer "
		    "commit or `reconciler retry`", ro->commit);
		mark_failed(dm, ro->commit, "load", buf_cstr(&ro->msg));
	} else {
		dm_say("cannot read commit %.12s; trying again later", ro->commit);
		dm_arm(dm, DT_RETRY, now_ns() + 5 * NS_PER_S);
	}
}

/*
 * The commit in force after a rollback that kept a failed commit's
 * removals, converged again (boot, SIGHUP, a resumption) while that
 * commit is still marked failed: it keeps them (ro->from).
 */
static void rollout_keep_removals(struct daemon *dm, struct rollout *ro)
{
	const char *from0 = state_get_rolled_back_from(dm->st);
	if (from0 && str_eq(state_get_last_applied(dm->st), ro->commit) && state_get_failed_commit(dm->st, from0) &&
	    !str_eq(from0, ro->commit))
		ro->from = xstrdup(from0);
	if (ro->from && !less_removals(dm, ro->d, ro->from)) {
		free(ro->from);
		ro->from = NULL;
	}
}

/* Converged: said and journaled (and what was held back), the manifests kept, the commit in force. */
static void rollout_converged(struct daemon *dm, struct rollout *ro)
{
	const char *commit = ro->commit;
	dm_say("commit %.12s converged (%zu unit%s, %zu step%s)", commit, ro->d->nunits, ro->d->nunits == 1 ? "" : "s",
	    ro->nsteps, ro->nsteps == 1 ? "" : "s");
	dm_journal(dm, commit, "rollout", NULL, "ok", NULL);
	if (ro->blocked.len) {
		/* not a failure of the commit: converged once the units they wait for are enabled */
		dm_say("commit %.12s: held back behind disabled units (`reconciler enable` them): %s", commit,
		       buf_cstr(&ro->blocked));
		dm_journal(dm, commit, "blocked", NULL, "blocked", buf_cstr(&ro->blocked));
	}
	keep_manifests(dm, &ro->files);
	state_set_rolled_back_from(dm->st, ro->from);
	rollout_install(dm, ro);
}

/* No verdict: neither marked failed nor rolled back; the same commit again once the engine answers
 * (dm_retry_rollout()), after a backoff doubled from 1 s up to 30 s. */
static void rollout_transient(struct daemon *dm, const struct rollout *ro)
{
	dm->retry_backoff_ns = dm->retry_backoff_ns ? dm->retry_backoff_ns * 2 : NS_PER_S;
	if (dm->retry_backoff_ns > 30 * NS_PER_S)
		dm->retry_backoff_ns = 30 * NS_PER_S;
	dm_say("cannot converge to %.12s now: %s; trying again in %.1fs", ro->commit, buf_cstr(&ro->msg),
	    dm_secs(dm->retry_backoff_ns));
	dm_journal(dm, ro->commit, "rollout", NULL, "error", buf_cstr(&ro->msg));
	free(dm->retry_commit);
	dm->retry_commit = xstrdup(ro->commit);
	dm_arm(dm, DT_RETRY, now_ns() + dm->retry_backoff_ns);
}

/* What converging to the commit came to (r): said, journaled, and the commit in force, marked
 * failed (and rolled back) or tried again.  0 when it is in force. */
static int rollout_verdict(struct daemon *dm, struct rollout *ro, enum conv_result r)
{
	const char *commit = ro->commit;
	switch (r) {
	case CONV_OK:
		rollout_converged(dm, ro);
		return 0;
	case CONV_TRANSIENT:
		rollout_transient(dm, ro);
		break;
	case CONV_CONFLICT:
		fprintf(stderr, "%s\n", buf_cstr(&ro->msg));
		dm_say("commit %.12s conflicts with objects reconciler does not manage: nothing changed", commit);
		mark_failed(dm, commit, "plan", buf_cstr(&ro->msg));
		break;
	case CONV_REFUSED:
		/* no verdict on the commit either: the project is not ours to change (said and journaled) */
		break;
	case CONV_INTERRUPTED:
		/* a stop request is no verdict on the commit: the next start converges to it again */
		dm_say("rollout of %.12s interrupted: %s", commit, buf_cstr(&ro->msg));
		dm_journal(dm, commit, "rollout", NULL, "interrupted", buf_cstr(&ro->msg));
		break;
	case CONV_FAILED:
		dm_say("rollout of %.12s failed: %s", commit, buf_cstr(&ro->msg));
		mark_failed(dm, commit, "rollout", buf_cstr(&ro->msg));
		if (!rollback(dm, commit, ro->d))  /* nothing to roll back to: what was applied stays in force */
			rollout_install(dm, ro);
		break;
	}
	return -1;
}

/*
 * Converge to commit (a rollout).  Returns 0 when it is in force, -1
 * otherwise (invalid, conflicting, failed and rolled back, or a transient
 * engine error after which it is tried again).
 */
int dm_rollout(struct daemon *dm, const char *commit, const char *why)
{
	dm_say("%s: converging to commit %.12s", why, commit);
	dm_journal(dm, commit, "rollout", NULL, "started", why);
	struct rollout ro = { .commit = commit, .msg = BUF_INIT, .blocked = BUF_INIT };
	bool invalid = false;
	int rc = -1;
	if (load(dm, commit, &ro.files, &ro.d, &invalid, &ro.msg) < 0) {
		rollout_not_loaded(dm, &ro, invalid);
	} else {
		/*
		 * Applied before but never seen good: its rollout was cut short (a stop
		 * request, a crash) after its containers were made, so planning finds
		 * nothing to do.  Wait for their health all the same.
		 */
		bool verify = str_eq(state_get_last_applied(dm->st), commit) &&
			      !str_eq(state_get_last_good(dm->st), commit);
		rollout_keep_removals(dm, &ro);
		lift_new_specs(dm, ro.d);
		struct conv_opts co = { .verify = verify, .blocked = &ro.blocked };
		enum conv_result r = dm_converge(dm, ro.d, &co, &ro.msg, &ro.nsteps);
		if (r != CONV_TRANSIENT) {
			free(dm->retry_commit);
			dm->retry_commit = NULL;
			dm->retry_backoff_ns = 0;
		}
		rc = rollout_verdict(dm, &ro, r);
	}
	dm_save(dm);
	rc_desired_free(ro.d);
	source_files_release(&ro.files);
	buf_release(&ro.msg);
	buf_release(&ro.blocked);
	free(ro.from);
	return rc;
}

/* The commit the branch points to now, or NULL (logged). */
char *dm_resolve_head(struct daemon *dm)
{
	char id[41];
	struct rc_err err = { 0 };
	if (source_resolve(dm->o->repo, dm->follow, id, &err) < 0) {
		dm_say("cannot resolve '%s': %s", dm->follow, err.msg);
		return NULL;
	}
	return xstrdup(id);
}

/* Look at the branch head; roll out a new commit.  force: converge even if it is the one in force. */
void dm_check_head(struct daemon *dm, bool force, const char *why)
{
	_cleanup_free_ char *head = dm_resolve_head(dm);
	if (!head)
		return;
	if (!force && str_eq(head, dm_cur_commit(dm)))
		return;
	if (state_get_failed_commit(dm->st, head)) {
		if (!str_eq(dm->skip_logged, head)) {
			dm_say("commit %.12s is marked failed: waiting for a newer commit or `reconciler retry`", head);
			dm_journal(dm, head, "skip", NULL, "failed", "marked failed: waiting for a newer commit or `reconciler retry`");
			free(dm->skip_logged);
			dm->skip_logged = xstrdup(head);
		}
		if (!force || !dm->cur)
			return;
		free(head);
		head = xstrdup(dm->cur->commit);
	}
	dm_rollout(dm, head, why);
}

/*
 * Time to try again after a rollout the engine cut short (dm->retry_commit), or a commit that could
 * not be read: once the engine answers /_ping (else wait longer, the backoff doubling to 30 s), the
 * same commit, unless the branch moved on to a newer one meanwhile (that one, then).
 */
void dm_retry_rollout(struct daemon *dm)
{
	if (!dm->retry_commit) {
		dm_soon(dm, DT_HEAD);
		return;
	}
	struct rc_err err = { 0 };
	if (dk_ping(dm->c, NULL, &err) < 0) {
		dm->retry_backoff_ns = dm->retry_backoff_ns > 0 ? dm->retry_backoff_ns * 2 : NS_PER_S;
		if (dm->retry_backoff_ns > 30 * NS_PER_S)
			dm->retry_backoff_ns = 30 * NS_PER_S;
		dm_say("the engine does not answer yet (%s): the rollout of %.12s waits %.1fs more", err.msg,
		    dm->retry_commit, dm_secs(dm->retry_backoff_ns));
		dm_arm(dm, DT_RETRY, now_ns() + dm->retry_backoff_ns);
		return;
	}
	_cleanup_free_ char *commit = TAKE_PTR(dm->retry_commit);
	_cleanup_free_ char *head = dm_resolve_head(dm);
	if (head && !str_eq(head, commit) && !state_get_failed_commit(dm->st, head)) {
		dm_soon(dm, DT_HEAD);  /* a newer commit came meanwhile: converge to it instead */
		return;
	}
	dm_rollout(dm, commit, "the engine answers again: resuming");
}


int dm_put_in_force(struct daemon *dm, const char *commit, struct rc_err *err)
{
	struct source_files files = { 0 };
	struct rc_desired *d = NULL;
	struct buf msg = BUF_INIT;
	bool invalid = false;
	if (load(dm, commit, &files, &d, &invalid, &msg) < 0) {
		rc_errf(err, "loading commit %.12s: %s", commit, buf_cstr(&msg));
		buf_release(&msg);
		source_files_release(&files);
		return -1;
	}
	buf_release(&msg);
	dm_install(dm, d, &files);
	return 0;
}

/* ---- following tags (pull: always) ------------------------------------------ */

/* Whether ref (a `pull: always` unit's) moved in its registry: 1 with *ret_msg saying from which
 * digest to which, 0 when not (or the image is not here yet: a create pulls it), -1 when it could
 * not be told (warned). */
static int tag_moved(struct daemon *dm, const char *ref, char **ret_msg)
{
	struct dk_image *img = NULL;
	struct dk_status ds;
	struct rc_err err = { 0 };
	if (dk_image_inspect(dm->c, ref, &img, &ds, &err) < 0) {
		if (ds.http == 404)
			return 0;
		dm_say("warning: pull check of %s: %s", ref, err.msg);
		return -1;
	}
	char *auth = NULL, *digest = NULL;
	if (regauth_lookup(NULL, ref, &auth, NULL, &err) < 0 ||
	    dk_distribution_inspect(dm->c, ref, auth, &digest, &ds, &err) < 0) {
		regauth_free(auth);
		dk_image_free(img);
		dm_say("warning: pull check of %s: the registry did not answer, the image is left as it is: %s", ref,
		       err.msg);
		return -1;
	}
	regauth_free(auth);
	const char *local = NULL;
	int moved = !dk_image_has_digest(img, ref, digest, &local);
	if (moved)
		*ret_msg = xasprintf("image %s moved in the registry: %s -> %s", ref, local ? local : "(no digest)",
				     digest);
	free(digest);
	dk_image_free(img);
	return moved;
}

void dm_pull_check(struct daemon *dm)
{
	const struct rc_desired *d = dm->cur;
	size_t nmoved = 0;
	for (size_t i = 0; i < d->nunits && !dm->stop; i++) {
		const struct rc_unit *u = &d->units[i];
		bool seen = u->pull != RC_PULL_ALWAYS || strchr(u->image, '@');
		for (size_t k = 0; k < i && !seen; k++)
			seen = d->units[k].pull == RC_PULL_ALWAYS && str_eq(d->units[k].image, u->image);
		if (seen)
			continue;  /* not followed, or asked already in this check */
		char *msg = NULL;
		if (tag_moved(dm, u->image, &msg) != 1)
			continue;
		dm_say("%s; rolling it out", msg);
		dm_journal(dm, dm_cur_commit(dm), "pull", u->id, "moved", msg);
		free(msg);
		nmoved++;
	}
	if (!nmoved || dm->stop)
		return;
	struct buf msg = BUF_INIT;
	size_t nsteps = 0;
	enum conv_result r = dm_converge(dm, dm->cur, NULL, &msg, &nsteps);
	if (r == CONV_OK) {
		dm_say("rolled out %zu moved image%s (%zu step%s)", nmoved, nmoved == 1 ? "" : "s", nsteps,
		       nsteps == 1 ? "" : "s");
		dm_journal(dm, dm_cur_commit(dm), "pull", NULL, "ok", "moved images rolled out");
	} else {
		dm_say("rolling out moved images: %s", buf_cstr(&msg));
		dm_journal(dm, dm_cur_commit(dm), "pull", NULL, "failed", buf_cstr(&msg));
	}
	dm_save(dm);
	buf_release(&msg);
	dm_soon(dm, DT_CHECK);
}
