/*
 * drift.h — drift detection: does the engine still hold what was applied?
 *
 * Owns: the comparison of the engine's ACTUAL state (every container of the
 * project inspected, the networks, the unmanaged containers) with a desired
 * state (normally the last applied commit), the findings, their rendering
 * (text, Markdown, JSON: spec/drift-json.md), the summary line written to the
 * journal, and the hand-over of findings to the planner for `drift --fix`.
 *
 * Unlike the planner, which trusts the hash labels, drift looks at what each
 * container really is (actual.h): `docker update`, `docker network
 * disconnect`, `docker rename`, `docker stop` by hand all show up.
 *
 * Findings (enum drift_kind), per unit of the desired state:
 *   changed    fields differ (expected → actual, spec_diff of actual_expected()
 *              and actual_canonical())
 *   stopped    desired running, the container is not (exited, created,
 *              paused, restarting, dead)
 *   running    desired stopped, the container runs
 *   missing    no container carries the unit's label
 *   renamed    the unit's container has another name
 * and beyond the units:
 *   extra      a container with the project label whose unit is not desired,
 *              or has none, or a second container of one unit (duplicate)
 *   unmanaged  a container without the project label that publishes a host
 *              port of a unit, or has a unit's container name; a network
 *              without the label that has a desired network's name
 *   network-missing / network-extra   networks with the project label
 *   network-changed  a desired network whose subnet (when the desired one
 *              has one) or internal flag differs (changes "subnet",
 *              "internal": before = expected, after = actual)
 *
 * Pure parts (drift_compute, drift_summarize, drift_render,
 * drift_overlay_observed) do no I/O: drift.c.  drift_check() is the whole
 * check against the engine, for the CLI and the daemon: drift_check.c (how
 * the containers are acquired — enum drift_acquisition — the inspects, the
 * image cache, the journal line).
 */
#ifndef RC_DRIFT_H
#define RC_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "docker.h"
#include "planner.h"
#include "spec.h"
#include "state.h"
#include "unit.h"

enum drift_kind {
	DRIFT_CHANGED = 0,
	DRIFT_STOPPED,
	DRIFT_RUNNING,
	DRIFT_MISSING,
	DRIFT_RENAMED,
	DRIFT_EXTRA,
	DRIFT_UNMANAGED,
	DRIFT_NET_MISSING,
	DRIFT_NET_EXTRA,
	DRIFT_NET_CHANGED,
	DRIFT__MAX
};

/* "changed", "stopped", "running", "missing", "renamed", "extra", "unmanaged",
 * "network-missing", "network-extra", "network-changed" (static strings; the JSON "kind"). */
const char *drift_kind_name(enum drift_kind k);

struct drift_item {
	enum drift_kind kind;
	char *unit;           /* unit id; NULL for networks, unlabelled extras, unmanaged objects */
	char *customer;       /* customer of the unit / network; NULL for shared ones */
	char *container;      /* the container's actual name (NULL for missing / networks) */
	char *container_id;
	char *network;        /* network kinds, unmanaged networks */
	char *detail;         /* for humans: "exited (137)", "named 'x'", "publishes host port 8080 of c1/app" */
	struct spec_changes changes; /* DRIFT_CHANGED, DRIFT_NET_CHANGED: before = expected, after = actual
	                              * (escaped as in spec.h) */
};

struct drift_report {
	struct drift_item *v; /* sorted: units by id, then extras, unmanaged, networks */
	size_t n;
	char *project;
	char *commit;         /* what was compared against; NULL for a directory */
	size_t nunits;        /* desired units */
	size_t ncontainers;   /* containers of the project inspected */
	size_t nnetworks;     /* desired networks */
};
void drift_report_release(struct drift_report *r);
/* Free one item's strings and changes (the item itself is not freed). */
void drift_item_release(struct drift_item *it);

struct drift_summary {
	size_t count[DRIFT__MAX];  /* findings by kind */
	size_t total;              /* all findings (0: no drift) */
	size_t units;              /* desired units checked */
	size_t containers;         /* containers inspected */
	int64_t duration_ns;       /* drift_check() only */
};
void drift_summarize(const struct drift_report *r, struct drift_summary *ret);
/* "no drift" or "3 findings: 1 changed, 1 stopped, 1 missing" (the journal message). */
void drift_summary_format(const struct drift_summary *s, struct buf *out);

/* ---- pure: compute, render, hand over ------------------------------------------- */

struct drift_input {
	const struct rc_desired *d;                  /* ports and subnets allocated (state_allocate) */
	/* List summaries: the project's containers plus any other that holds a unit's host port or
	 * container name (or simply every container of the engine) */
	const struct dk_container_list *containers;
	const struct dk_network_list *networks;      /* every network of the engine */
	/* Parallel to containers->items: the inspect of each container carrying
	 * the project label (NULL for the others, and for ours that vanished). */
	const struct dk_container *const *inspected;
	const struct dk_image *const *images;        /* images of the inspected containers, by Id; may lack some */
	size_t nimages;
	/* What each unit's image reference points to now (observe.h); a unit whose container runs
	 * another image under the same reference (the tag moved) is reported as changed (image.id). */
	const struct plan_image *tags;
	size_t ntags;
	/* The project's containers as the planner sees them (observe.h: the spec each was made with,
	 * its labels, with the in-place updates since): a unit's container made from another spec
	 * than the unit's is reported changed only in the fields that differ from both — the rest
	 * was not applied yet (held back, awaiting approval, a failed step), not changed by hand.
	 * NULL, or unapplied_is_drift (drift --rev / --dir): every difference from the unit. */
	const struct plan_container *made;
	size_t nmade;
	bool unapplied_is_drift;
};
/* Compare; fills *ret (release with drift_report_release()). */
void drift_compute(const struct drift_input *in, struct drift_report *ret);

enum drift_format { DRIFT_TEXT = 0, DRIFT_MARKDOWN, DRIFT_JSON };
/*
 * Append r in the format to out.  Text: one line per finding (changed
 * fields indented below, values humanized with report_humanize()), then
 * "Drift: ..." or "No drift: ..." last.  Markdown: a heading, a table, a
 * summary line.  JSON: spec/drift-json.md.  Secrets are only ever named
 * ("secret db_password: not mounted"), never their digest.  Deterministic.
 */
void drift_render(const struct drift_report *r, enum drift_format fmt, bool color, struct buf *out);

/*
 * For `drift --fix` (and the daemon's self-healing): make the planner see
 * the drift that labels hide.  For each `changed` finding, the observed
 * container's effective spec becomes its spec label (in-place records
 * applied) with the drifted fields set to their actual values, and its hash
 * and base hash are recomputed from that text; planner_plan() then plans
 * an UPDATE (resources only) or a RECREATE for it.  The other findings are
 * visible to the planner already (missing, stopped, renamed, extra, networks).
 */
void drift_overlay_observed(const struct drift_report *r, struct plan_observed *o);

/*
 * The findings on a swarm (engine: swarm; drift_swarm.c): each action the
 * planner took from the services seen (swarm.h's summaries, whose labels
 * say when a service was changed by hand) is a finding — create: missing,
 * update/recreate: changed (the spec's changes; the detail says when by
 * hand), start: stopped (scaled to 0), stop: running, remove: extra,
 * networks: network-* — and so is a service left as it should be whose
 * tasks do not all run (stopped, detail "tasks: Up 1/2 ..."): Swarm
 * reschedules, the report says it has not yet.
 */
void drift_from_plan(const struct rc_desired *d, const struct dk_container_list *seen, const struct plan *p,
		     struct drift_report *ret);

/* ---- the check against the engine --------------------------------------------------- */

/*
 * Inspecting every unit's container by name (names are known from the
 * desired state alone) in a thread of its own, so the inspects overlap the
 * list calls.  Best effort: drift_check() inspects whatever this did not get.
 * drift_inspects_start() takes over c (a client of its own: a clone, or one
 * opened with defer_version_check); d must outlive it.  pre (may be NULL):
 * npre inspects of the project's listed containers made already (by id,
 * prefetch.h), taken over: units whose container name one of them has are
 * not inspected again by name.
 */
struct drift_inspects;
struct drift_inspects *drift_inspects_start(struct dk_client *c, const struct rc_desired *d, int parallel,
					    struct dk_inspect_result *pre, size_t npre);
/* Join and free (NULL is fine); drift_check() does this for what it is given. */
void drift_inspects_free(struct drift_inspects *di);

/* Image inspects kept between checks (the daemon's): new, free. */
struct drift_image_cache;
struct drift_image_cache *drift_image_cache_new(void);
void drift_image_cache_free(struct drift_image_cache *ic);

struct drift_opts {
	int parallel;         /* inspects in flight; 0 = 8 */
	bool journal;         /* write a journal line (st must be locked; skipped otherwise) */
	/* The project's containers (label filter) and every network, listed already (prefetch.h):
	 * taken over and emptied.  NULL: drift_check lists them. */
	struct observe_raw *prelisted;
	/* prelisted holds every container of the engine (observe_fetch(), as plan and apply list):
	 * a unit whose container name none of them holds is not inspected by name (a 404 each). */
	bool prelisted_everything;
	/* Inspects by name already under way: taken over (joined and freed).  NULL: drift_check starts
	 * them itself, on a clone of c, before its list calls. */
	struct drift_inspects *inspects;
	/* The project's containers as the caller knows them without listing (the daemon: its last
	 * list plus the create and destroy events since, daemon.c): inspected by id instead of listing
	 * the project's containers (the other lists run alongside, on a clone of c), those gone (404)
	 * dropped, then every unit none of them holds the name of is inspected by name as usual.  A container of the project missing here that holds
	 * no unit's name (an extra whose create event was lost) is not seen.  NULL: list.  Not used
	 * with prelisted or inspects. */
	const char *const *known_ids;
	size_t nknown;
	/* Image inspects kept from one check to the next (an image id names immutable content);
	 * NULL: inspect each image anew. */
	struct drift_image_cache *images;
	/* drift --rev / --dir: the manifests are not the last applied commit's; every difference
	 * from them is a finding, also what was never applied (drift_input.unapplied_is_drift) */
	bool unapplied_is_drift;
};

/*
 * How drift_check() gets the containers it looks at, chosen from the
 * options (drift_acquisition_of(); the first that applies):
 *   DRIFT_ACQ_INSPECTING  o->inspects: the caller's inspects by name are under
 *                         way; list what o->prelisted does not hold
 *   DRIFT_ACQ_PRELISTED   o->prelisted: the project's containers and the networks
 *                         are listed; list the host-port holders, inspect the
 *                         units' containers by name alongside
 *   DRIFT_ACQ_KNOWN_IDS   o->known_ids (the daemon): inspect those by id instead of
 *                         listing the project's containers, list the rest
 *                         alongside, then inspect by name the units none of them
 *                         holds the name of
 *   DRIFT_ACQ_LIST        nothing given: list (filtered: the project's
 *                         containers, the host-port holders, every network)
 *                         while the units' containers are inspected by name
 * Each way ends with the lists and the inspects by name; whoever holds a
 * unit's container name is added to the lists.  When an inspect by name did
 * not answer, who holds that name is unknown and everything on the engine is
 * listed instead.
 */
enum drift_acquisition {
	DRIFT_ACQ_LIST = 0,
	DRIFT_ACQ_PRELISTED,
	DRIFT_ACQ_INSPECTING,
	DRIFT_ACQ_KNOWN_IDS,
};
enum drift_acquisition drift_acquisition_of(const struct drift_opts *o);
/* "list", "prelisted", "inspecting", "known-ids" (static strings, for logs). */
const char *drift_acquisition_name(enum drift_acquisition a);

/*
 * Check the engine against d (the desired state at the commit compared,
 * normally state_get_last_applied()): list containers and networks
 * (observe(), or observe_build() of o->raw), allocate ports and subnets (state_allocate(), as apply would:
 * st is changed in memory only, saved by nobody here), inspect every
 * container carrying the project label (by name, alongside the list calls,
 * see drift_inspects_start(); then whatever that missed by id), o->parallel
 * in flight, inspect the image of each distinct image id once, and compute.
 *
 * Fills *ret_summary and, when ret_report is not NULL, *ret_report (release
 * it).  With o->journal and a locked st, appends one journal line:
 * {"action":"drift","result":"none"|"drift"|"failed","message":<summary or
 * error>,"commit":d->commit}.  Returns 0 when the check ran (whatever it
 * found), -1 with err set when it could not (engine unreachable, ...).
 *
 * For the daemon: call it periodically with its client, its locked state and
 * the desired state of the last applied commit; it takes about one inspect
 * per container (see docs/performance.md, "Drift check").
 */
int drift_check(struct dk_client *c, struct rc_state *st, struct rc_desired *d, const struct drift_opts *o,
		struct drift_report *ret_report, struct drift_summary *ret_summary, struct rc_err *err);

/*
 * The last drift check recorded in st's journal as one line for `status`:
 * "last drift check 2026-11-23T10:00:00Z (commit 1234567890ab): no drift" or
 * "...: 2 findings: 1 changed, 1 missing", or "last drift check: never".
 * Returns -1 only when the journal cannot be read.
 */
int drift_last_summary(const struct rc_state *st, struct buf *out, struct rc_err *err);

#endif
