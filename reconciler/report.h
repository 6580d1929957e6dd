/*
 * report.h — render a struct plan for humans (text, Markdown) and machines
 * (JSON).  Shared by `reconciler plan` (Docker as observed → the desired
 * commit) and `reconciler diff A B` (commit A → commit B).
 *
 * Owns: the presentation of plans: markers, wording, humanized values
 * (sizes, CPUs, durations), the redaction of secrets (a secret is only ever
 * named: "secret db_password changed"; neither its value nor its digest is
 * printed in any format), allocation effects (a host port taken from or
 * given back to the `port: auto` pool, a subnet allocated or freed), the
 * grouping by customer, and the JSON schema documented in spec/plan-json.md.
 *
 * Pure: no I/O.  Output is appended to a struct buf owned by the caller; the
 * caller decides about colour (isatty(1) && NO_COLOR unset) and where the
 * text goes.  Output is deterministic for a given input (golden-tested).
 */
#ifndef RC_REPORT_H
#define RC_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "planner.h"
#include "unit.h"

enum report_format {
	REPORT_TEXT = 0,     /* Terraform-like lines, field changes indented, summary line last */
	REPORT_MARKDOWN,     /* for a pull-request comment: one <details> section per customer */
	REPORT_JSON,         /* spec/plan-json.md */
};

/*
 * What to render.  Everything is borrowed; only plan is required.  The
 * optional parts make the report richer (customers, allocation effects,
 * dependents); without them it still names every action and change.
 */
struct report_input {
	const struct plan *plan;
	/* The desired state the plan converges to (dependents, the port and
	 * subnet pools for allocation effects). */
	const struct rc_desired *desired;
	/* diff only: the desired state at `from` (customers and ports of
	 * removed units, subnets of removed networks). */
	const struct rc_desired *before;
	/* plan only: what Docker showed (host ports and subnets freed by REMOVE
	 * and NET_REMOVE are taken from here when given). */
	const struct plan_observed *observed;
	/* plan only: the fields the refresh found changed outside Git (drift.h), as pairs
	 * drifted[2i] = unit id, drifted[2i + 1] = field; the plan's changes of those fields
	 * (their `before` is what was found) are marked "changed outside Git: drift". */
	const char *const *drifted;
	size_t ndrifted;
	const char *from;    /* commit id the plan starts from, or NULL (Docker) */
	const char *to;      /* commit id the plan converges to, or NULL */
	/* true for `diff`: causes are worded for two commits ("new unit",
	 * "desired state: running") instead of for Docker ("missing",
	 * "stopped"); the JSON "command" field says "diff" instead of "plan". */
	bool diff;
};

struct report_opts {
	enum report_format format;
	bool color;          /* ANSI colours in REPORT_TEXT (ignored by the other formats) */
};

/* Counts by action kind (summary line, JSON "summary", exit codes). */
struct report_summary {
	size_t create, update, recreate, remove, start, stop;
	size_t net_create, net_remove, net_recreate;
	size_t conflicts;
};
void report_summarize(const struct plan *p, struct report_summary *ret);

/*
 * Append the rendering of in->plan in opts->format to out.  Text ends with
 * "Plan: N to create, N to update in place, N to recreate, N to remove."
 * (plus start / stop / network counts when not zero) or "No changes.";
 * conflicts come first, as errors.
 */
void report_render(const struct report_input *in, const struct report_opts *opts, struct buf *out);

/*
 * Append the human form of a canonical spec value (spec.h) for key:
 * cpus 500000000 → "0.5"; memory* 67108864 → "64 MiB"; durations
 * (stop_grace, health.interval/timeout/start_period) 10000000000 → "10s",
 * 90000000000 → "1m30s", 500000000 → "500ms"; anything else as str_shown() writes it
 * (control characters, ESC and CR included, as \xNN: the value is the repository's).
 * Never call this for secrets.* keys (their values are digests, never shown).
 */
void report_humanize(const char *key, const char *value, struct buf *out);

/* True for the canonical keys of secrets ("secrets.NAME", also "secret.NAME"). */
bool report_key_is_secret(const char *key, const char **ret_name);

#endif
