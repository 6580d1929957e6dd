/*
 * converge.h — one convergence pass, shared by the CLI (plan, apply,
 * status) and the daemon: load the desired state at a revision, observe the
 * engine, allocate ports and subnets, plan, and (optionally) apply the plan
 * and record the result in the state.
 *
 * Owns: the order of those steps and the error contexts the CLI prints
 * ("observing the engine: ...", "allocating ports and subnets: ...",
 * "planning: ...").  It prints nothing; the caller reports.  It does not open
 * the state directory or the Docker client: both are the caller's, so the
 * daemon keeps them for its whole life while a CLI command opens them once.
 */
#ifndef RC_CONVERGE_H
#define RC_CONVERGE_H

#include <stdbool.h>
#include <stdint.h>

#include "apply.h"
#include "buf.h"
#include "docker.h"
#include "observe.h"
#include "owner.h"
#include "planner.h"
#include "source.h"
#include "state.h"
#include "unit.h"

struct rc_diags;  /* manifest.h */

/* Where the manifests come from.  All borrowed. */
struct converge_source {
	const char *repo;         /* Git repository (unused when dir is set) */
	const char *rev;          /* revision; NULL = HEAD */
	const char *path;         /* manifest sub-directory of the repository; NULL or "" = root */
	const char *dir;          /* a plain directory instead of Git; NULL: Git */
	const char *secrets_dir;  /* <state-dir>/secrets */
	bool generate_secrets;    /* make missing generated per-customer secrets (manifest_opts) */
	const struct source_file *host_policy;  /* the host policy file (hostpolicy.h); NULL: none */
	struct rc_diags *diags;   /* optional: a rejected set's diagnostics, sorted, are moved here */
};

/* manifest_opts.build_tree for the manifests of one commit: ctx is a struct converge_commit
 * (source_build_tree() at that commit). */
struct converge_commit {
	const char *repo;
	const char *commit;
};
int converge_build_tree(void *ctx, const char *context, const char *dockerfile, char ret[41],
			struct rc_err *err);

/*
 * Read the manifests (rev overrides src->rev when not NULL) and expand them.
 * On success *ret_desired is the caller's (rc_desired_free) and 0 is
 * returned.  On failure returns -1 with err holding one line ("cannot
 * resolve ...", or "invalid: 3 errors (commit abc1234)") and, for invalid
 * manifests, diag holding every diagnostic as "file:line:col: message"
 * lines followed by that count line (diag may be NULL).  files is filled
 * whenever the source could be read (release it with
 * source_files_release() either way); files->commit names the commit.
 */
int converge_load(const struct converge_source *src, const char *rev, struct source_files *files,
		  struct rc_desired **ret_desired, struct buf *diag, struct rc_err *err);
/* The expanding half of converge_load(), for files read already (src gives the secrets directory,
 * the path recorded in the desired state and, for a directory, its name in messages). */
int converge_expand(const struct converge_source *src, const struct source_files *files,
		    struct rc_desired **ret_desired, struct buf *diag, struct rc_err *err);

/* One pass over a desired state: what was seen and what to do. */
struct converge {
	const struct rc_desired *d;  /* borrowed; must outlive the struct */
	struct observation obs;
	struct plan plan;            /* what will run */
	struct plan held;            /* actions converge_filter() took out of plan (no conflicts) */
	int64_t t_observe, t_plan;   /* ns spent observing and allocating + planning */
	bool claimed;                /* converge_claim() made the project ours: converge_apply() may run */
};

/*
 * Observe the engine for d's project, allocate (state_allocate fills d's
 * ports and subnets, which is why d is not const), forget in-place records
 * of containers that are gone (only when st is locked), and plan.  Returns
 * 0 with cv filled (even with conflicts: check cv->plan.nconflicts), or -1
 * with err prefixed by the step that failed.  Release cv with
 * converge_release() in both cases.
 */
int converge_plan(struct converge *cv, struct rc_desired *d, struct dk_client *c, struct rc_state *st,
		  struct rc_err *err);
/*
 * The same, calling adjust(&cv->obs.plan, ctx) between observing and
 * planning (drift --fix makes drifted fields visible to the planner there).
 */
int converge_plan_adjusted(struct converge *cv, struct rc_desired *d, struct dk_client *c, struct rc_state *st,
			   void (*adjust)(struct plan_observed *o, void *ctx), void *ctx, struct rc_err *err);
/* The same with the list calls already made (observe_fetch()); raw is taken over. */
int converge_plan_prefetched(struct converge *cv, struct rc_desired *d, struct dk_client *c, struct rc_state *st,
			     struct observe_raw *raw, struct rc_err *err);

/*
 * Keep only the actions for which keep(action, ctx) is true; the others move
 * to cv->held (released with cv).  Order is preserved.
 */
void converge_filter(struct converge *cv, bool (*keep)(const struct plan_action *a, void *ctx), void *ctx);

/*
 * Hold back (to cv->held) the work that would bring up a disabled unit
 * (create, recreate, update, start: it stays stopped until `reconciler
 * enable`) and the units that depend on one, directly or not (they would
 * wait for a dependency kept stopped).  why (may be NULL) gets one entry
 * per dependent held, "; "-separated: "app (web is disabled)" (the
 * disabled units themselves are not listed: their actions are in
 * cv->held).  The daemon, plan, apply and status all hold the same.
 * Returns how many units were held, disabled ones included.
 */
size_t converge_hold_disabled(struct converge *cv, const struct rc_state *st, struct buf *why);

/*
 * Make the project ours before the first change (owner.h): claim it when no
 * marker was seen, take it over when seen is another owner's and take_over
 * is set (journaled: action "claim" or "take-over"), or refuse (-1, *ret_refused set, err
 * the refusal; also when another claimant won a race).  -1 with
 * *ret_refused false: an engine error.  On 0 the marker is ours and
 * converge_apply() may run.
 * seen is what owner_check() found.  st must be locked.
 */
int converge_claim(struct converge *cv, struct dk_client *c, struct rc_state *st, const struct owner_self *self,
		   const struct owner_marker *seen, bool take_over, bool *ret_refused, struct rc_err *err);

/*
 * Run cv->plan (when it has actions, or o->wait_unchanged) with apply_run(), then record: the
 * commit becomes the last applied one, and the last good one when no step
 * failed (nothing is recorded for a plain directory).  converge_claim()
 * must have succeeded on cv first (a broken invariant otherwise).  ret is always
 * filled (release it with apply_result_release()).  Returns 0 when every
 * step succeeded, -1 otherwise.  The caller saves the state.
 */
int converge_apply(struct converge *cv, struct dk_client *c, struct rc_state *st, const struct apply_opts *o,
		   struct apply_result *ret);

void converge_release(struct converge *cv);

/*
 * The rollback's target (docs/operations.md, "Rollouts and rollback"): take
 * out of g (the last good commit's desired state) what the failed commit f
 * removed from it.  The failed commit's removals were made before anything
 * of it failed (removals come first) and were asked for by the operator: a
 * customer deleted stays deleted when an unrelated unit fails.  Only a unit
 * that a unit kept still depends on (in g) stays: g's version of that unit
 * needs it.  A network goes when f has no network of that name and no unit
 * kept is on it (a deleted customer's network and its link networks; the
 * shared units' links to it go too).  The unit ids dropped are added to
 * dropped ("a, b").  Used by the daemon's rollback and by `drift` against
 * the commit in force after one.
 */
void converge_keep_removals(struct rc_desired *g, const struct rc_desired *f, struct buf *dropped);

#endif
