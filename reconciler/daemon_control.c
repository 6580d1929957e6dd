/* daemon_control.c — the control socket's drift and drift --fix, and the periodic drift check (daemon_int.h). */
#include "daemon_int.h"

#include <stdio.h>
#include <string.h>

#include "control.h"
#include "drift.h"
#include "manifest.h"

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
void dm_drift(struct daemon *dm)
{
	struct drift_summary sum;
	struct rc_err err = { 0 };
	if (drift_run(dm, 8, NULL, &sum, &err) < 0) {
		dm_say("warning: drift check: %s", err.msg);
		return;
	}
	if (sum.total) {
		struct buf b = BUF_INIT;
		drift_summary_format(&sum, &b);
		dm_say("drift against %.12s: %s (see reconciler drift)", dm_cur_commit(dm), buf_cstr(&b));
		buf_release(&b);
	}
}

/* Handle the events the engine has sent already, without waiting: the known container ids are then
 * those of this moment (but for events still on their way, as with a list). */
void dm_events_drain(struct daemon *dm)
{
	while (dm->ev) {
		struct dk_event e;
		struct rc_err err = { 0 };
		int r = dk_events_poll(dm->ev, 0, NULL, 0, &e, &err);
		if (r == 1) {
			dm_handle_event(dm, &e);
			dk_event_release(&e);
			continue;
		}
		if (r < 0) {
			dm_say("engine event stream lost: %s; reconnecting", err.msg);
			dm_events_close(dm);
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
		dm_say("warning: drift check for drift --fix: %s", err.msg);
		control_answer_no(r, err.msg);
		return;
	}
	struct buf msg = BUF_INIT;
	size_t nsteps = 0;
	enum conv_result cr = CONV_OK;
	if (sum.total) {
		struct conv_adjust adj = { overlay_drift, &rep };
		struct conv_opts co = { .adjust = &adj };
		cr = dm_converge(dm, dm->cur, &co, &msg, &nsteps);
		dm_save(dm);
		if (cr == CONV_OK)
			dm_say("drift --fix: converged %.12s (%zu step%s)", dm_cur_commit(dm), nsteps, nsteps == 1 ? "" : "s");
		else
			dm_say("drift --fix: converging %.12s: %s", dm_cur_commit(dm), buf_cstr(&msg));
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
void dm_control(struct daemon *dm)
{
	struct control_request *r = NULL;
	struct rc_err err = { 0 };
	int a = control_accept(dm->ctl, &r, &err);
	if (a < 0)
		dm_say("warning: %s", err.msg);
	if (a <= 0)
		return;
	if (control_say_accepted(r) < 0)
		goto out;  /* the command gave up waiting and checks by itself */
	dm_events_drain(dm);
	if (!dm->cur || !dm->c) {
		control_answer_no(r, "no desired state in force yet");
		goto out;
	}
	if (!str_eq(r->commit, dm_cur_commit(dm)) || !str_eq(root_if_dot(r->path), root_if_dot(dm->o->path))) {
		_cleanup_free_ char *why = xasprintf("the daemon's desired state is commit %.12s under '%s'",
						     dm_cur_commit(dm), root_if_dot(dm->o->path));
		control_answer_no(r, why);
		goto out;
	}
	const char *secret = NULL;
	if (!manifest_secrets_current(dm->cur, &secret)) {
		/* its desired specs carry the old digest: a check of the command's own would differ */
		_cleanup_free_ char *why = xasprintf("secret '%s' changed since the daemon loaded commit %.12s "
						     "(it reads the manifests and secrets again on SIGHUP)",
						     secret, dm_cur_commit(dm));
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
		dm_say("warning: drift check for a command: %s", err.msg);
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

