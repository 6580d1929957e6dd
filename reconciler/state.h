/*
 * state.h — the state directory: what the reconciler must remember between
 * runs that Docker itself cannot tell it (the allocations of host ports and
 * subnets that alloc.h makes among them).
 *
 * Owns: the directory (default /var/lib/reconciler, mode 0700, owned by the
 * uid reconciler runs as, never group- or other-writable) and every file in it:
 *
 *   lock              single-instance lock (flock), holds the holder's pid;
 *                     never unlinked
 *   allocations.json  host port per (unit id, container port, proto) and
 *                     subnet per network name
 *   applied.json      last applied commit, its project and container names, last good commit,
 *                     failed commits
 *   units.json        per-unit runtime facts: restart counters, disabled
 *                     units (and the spec hash they were disabled at), changes
 *                     awaiting approval, in-place updates, the daemon's last
 *                     look at each unit (for status)
 *   manifests.json    a copy of one commit's manifest files (below)
 *   journal.jsonl     one JSON object per line per action taken; rotated to
 *                     journal.jsonl.1 .. .N at a size
 *   secrets/          secret files (written by whoever materializes secrets)
 *
 * Each .json file is one document {"version":1,"checksum":"<hash>","data":{..}}
 * where checksum is rc_hash128_hex() of the compact JSON text of "data".
 * Every write goes through write_file_atomic().  A missing file is empty
 * state.  A corrupt file (bad JSON, bad checksum, wrong version, wrong shape)
 * is moved aside to NAME.corrupt.<unix-time> (only by the lock holder), a
 * warning is recorded (state_warnings()) and it is treated as empty: the
 * caller then rebuilds what it can from Docker labels (state_allocate()
 * re-seeds allocations from what is observed).
 *
 * Everything is in memory once opened: getters read memory, setters change
 * memory and mark the file dirty, state_save() writes the dirty files.  Only
 * the lock holder may save.  Strings returned by getters are borrowed from
 * the state and valid until the next setter on the same kind of data or
 * state_free(); setters copy what they are given.  Times are wall-clock
 * seconds since the epoch.
 *
 * The module is state.c and the state_*.c files, one per file of the
 * directory (state_int.h has the map); cJSON is used only inside them.
 */
#ifndef RC_STATE_H
#define RC_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "unit.h"
#include "util.h"

#define STATE_VERSION 1
/* Journal rotation defaults: rotate when the next line would pass 4 MiB, keep 3 old files. */
#define STATE_JOURNAL_MAX_BYTES (4u << 20)
#define STATE_JOURNAL_KEEP 3

struct rc_state;

enum {
	STATE_OPEN_LOCK = 1 << 0,  /* take the lock before cleaning and loading (see state_lock) */
};

/*
 * Open the state directory dir: create it (0700) and dir/secrets (0700) if
 * missing, then load every file.  With STATE_OPEN_LOCK, first take the lock
 * as state_lock() does (failing if another process holds it).  Without it,
 * the state is a read-only view: nothing is moved or cleaned and
 * state_save() fails.  *ret is freed with state_free().
 *
 * The directory is hostile ground until checked, and is checked before
 * anything in it is created or changed: dir, dir/secrets and dir/requests
 * must pass state_check_dir(), and an existing lock or journal.jsonl (written
 * in place) must be a regular file owned by the running uid with one link;
 * else state_open() fails with an error naming the path and the fix.  Every
 * state file is opened with O_NOFOLLOW (reads also O_NONBLOCK) and
 * fstat-checked (open_private(), util.h).  A .json file or manifests.json
 * that is not a regular file of ours (a symbolic link, FIFO, directory,
 * another uid's file) is never read: it is damaged, set aside like a corrupt
 * one (below).
 */
int state_open(const char *dir, unsigned flags, struct rc_state **ret, struct rc_err *err);
/*
 * dir (the state directory or one of its sub-directories) must be a
 * directory — not a symbolic link to one — owned by the running uid and not
 * writable by group or others.  create: make it (0700) when it is missing.
 * Otherwise -1, the error naming dir and the fix ("chmod 0700 DIR").
 */
int state_check_dir(const char *dir, bool create, struct rc_err *err);
/*
 * For the commands that read secrets without opening the state (validate,
 * render, diff; plan and apply load the manifests before state_open()):
 * secrets_dir ("<state-dir>/secrets") and its parent, each when it exists,
 * must pass state_check_dir() (nothing is created).  0, or -1 with err
 * saying why neither must be read.
 */
int state_check_secrets(const char *secrets_dir, struct rc_err *err);
/*
 * Take the single-instance lock (dir/lock, flock LOCK_EX|LOCK_NB) and keep
 * its fd until state_free().  The lock file is opened with O_NOFOLLOW and
 * must be a regular file of ours with one link (so the pid is never written
 * through a link to another file).  If another process holds it the error names
 * that process's pid (read from the file).  On success, write our pid into
 * the file, remove stale temp files (.NAME.XXXXXX) left by a crash, and
 * reload every file (setting aside corrupt ones).  Locking twice is a no-op.
 */
int state_lock(struct rc_state *st, struct rc_err *err);
bool state_locked(const struct rc_state *st);
/*
 * Who holds dir's lock, without touching it: the pid written in the lock
 * file when /proc/locks shows that process holding a flock on it (> 0), else
 * 0 (nobody, no lock file yet, or no /proc).  *ret_daemon (may be NULL): that
 * process is `reconciler run` (its command line has a "run" argument).
 * The one answer to "who holds the lock" (status, plan --json, and the
 * request commands deciding to hand their request to a daemon): never by
 * taking the lock, not even shared, which could make a daemon starting at
 * that moment fail to take its own.
 */
long state_lock_holder(const char *dir, bool *ret_daemon);
/* Release everything; closes the lock fd (which releases the lock).  NULL is fine. */
void state_free(struct rc_state *st);

const char *state_dir(const struct rc_state *st);
/* dir/secrets, created by state_open(). */
const char *state_secrets_dir(const struct rc_state *st);
/*
 * Warnings gathered while loading (corrupt files set aside), oldest first;
 * borrowed.  They are not errors: report them and carry on.
 */
const char *const *state_warnings(const struct rc_state *st, size_t *ret_n);

/* Write every file changed since it was loaded or last saved (atomically).  Needs the lock. */
int state_save(struct rc_state *st, struct rc_err *err);

/* ---- allocations.json ---------------------------------------------------- */

/* The host port allocated to (unit, container_port, proto); 0 if none. */
uint16_t state_get_port(const struct rc_state *st, const char *unit, uint16_t container_port,
			const char *proto);
void state_set_port(struct rc_state *st, const char *unit, uint16_t container_port,
		    const char *proto, uint16_t host_port);
void state_del_port(struct rc_state *st, const char *unit, uint16_t container_port, const char *proto);
size_t state_nports(const struct rc_state *st);
/* The subnet (CIDR) allocated to the network named name; NULL if none. */
const char *state_get_subnet(const struct rc_state *st, const char *network);
void state_set_subnet(struct rc_state *st, const char *network, const char *cidr);
void state_del_subnet(struct rc_state *st, const char *network);
size_t state_nsubnets(const struct rc_state *st);

/* ---- the allocator --------------------------------------------------------- */

/*
 * Fill d's auto host ports and pool subnets from the allocations, as
 * alloc_assign() (alloc.h) says, and keep what it assigned (marking
 * allocations.json dirty when anything changed; call state_save()).
 * obs: what the caller saw in Docker (may be NULL).  Fails (leaving state
 * and d possibly half-filled: do not apply) when a pool is missing,
 * malformed or exhausted.
 */
int state_allocate(struct rc_state *st, struct rc_desired *d, const struct alloc_observed *obs,
		   struct rc_err *err);

/* ---- applied.json ---------------------------------------------------------- */

/* NULL if never. */
const char *state_get_last_applied(const struct rc_state *st);
const char *state_get_last_good(const struct rc_state *st);
void state_set_last_applied(struct rc_state *st, const char *commit);
void state_set_last_good(struct rc_state *st, const char *commit);
/* The project of the last apply (a hint for `drift`, which lists its containers while it loads). */
const char *state_get_project(const struct rc_state *st);
void state_set_project(struct rc_state *st, const char *project);
/* The repository sub-directory of the last apply ("" = root; NULL = not recorded): `drift`, `plan`,
 * `apply` and `status` read the manifests there unless given --path. */
const char *state_get_path(const struct rc_state *st);
void state_set_path(struct rc_state *st, const char *path);
/* The container names of the last apply's units (a hint for `drift`, which
 * inspects them while it loads; NULL and 0 when not recorded).  Borrowed. */
const char *const *state_get_containers(const struct rc_state *st, size_t *ret_n);
void state_set_containers(struct rc_state *st, const char *const *names, size_t n);
/* The unit ids of the last apply (shell completion: `reconciler __complete`, no engine, no Git;
 * NULL and 0 when not recorded).  Borrowed. */
const char *const *state_get_unit_ids(const struct rc_state *st, size_t *ret_n);
void state_set_unit_ids(struct rc_state *st, const char *const *ids, size_t n);
/*
 * The failed commit a rollback kept the removals of (docs/operations.md,
 * "Rollouts and rollback"): the last applied commit is in force less the
 * units and networks that commit removed.  NULL: none (cleared by the next
 * rollout that converges).  Borrowed.
 */
const char *state_get_rolled_back_from(const struct rc_state *st);
void state_set_rolled_back_from(struct rc_state *st, const char *commit);

/* ---- manifests.json: a copy of one commit's manifests ---------------------- */

/*
 * `drift` keeps the manifest files it read from Git for (commit, path) in
 * manifests.json (and the daemon those of each commit it applied), so that checking against the last applied commit again
 * needs neither libgit2 nor the commit (gone after a force-push and gc).  A
 * commit names immutable content, so the copy never goes stale; one copy is
 * kept, replaced when another (commit, path) is read.
 *
 * The copy is a state document like the .json files above
 * ({"version":1,"checksum":..,"data":{"commit","path","files"}}), so an
 * edited or damaged copy is never used: read the manifests from Git again.
 *
 * state_get_manifests: 1 with *ret filled (ret->commit set; release it with
 * source_files_release()) when the copy is of commit under path; 0 when there
 * is none, it is of another, or it is an older reconciler's copy without a
 * checksum; -1 when it cannot be read or is damaged (err says why, and the
 * lock holder has moved it aside to manifests.json.corrupt.<ts>: treat it as
 * none).
 * state_put_manifests: write the copy now (atomically, 0600; the state must be
 * locked); files->commit names the commit.
 */
struct source_files;
int state_get_manifests(const struct rc_state *st, const char *commit, const char *path,
			struct source_files *ret, struct rc_err *err);
int state_put_manifests(struct rc_state *st, const struct source_files *files, const char *path,
			struct rc_err *err);

struct state_failed_commit {
	const char *commit;
	int64_t time;
	const char *message;
};
/* Record that commit failed (replacing an earlier record of it). */
void state_add_failed_commit(struct rc_state *st, const char *commit, int64_t time, const char *message);
/* The record of commit, or NULL. */
const struct state_failed_commit *state_get_failed_commit(const struct rc_state *st, const char *commit);
void state_del_failed_commit(struct rc_state *st, const char *commit);
/* All records, in insertion order; borrowed. */
const struct state_failed_commit *state_failed_commits(const struct rc_state *st, size_t *ret_n);

/* ---- units.json ------------------------------------------------------------ */

struct state_restarts {
	int failures;             /* consecutive failures seen by the daemon */
	int64_t last_failure;     /* time of the last one; 0 if none */
	int64_t backoff_ns;       /* current delay before the next restart */
};
/* The counter of unit (all zero if none). */
struct state_restarts state_get_restarts(const struct rc_state *st, const char *unit);
void state_set_restarts(struct rc_state *st, const char *unit, const struct state_restarts *r);
void state_del_restarts(struct rc_state *st, const char *unit);

/* Disabled units: the daemon stopped trying (too many failures). reason is copied. */
bool state_is_disabled(const struct rc_state *st, const char *unit, const char **ret_reason);
void state_set_disabled(struct rc_state *st, const char *unit, int64_t time, const char *reason);
/* The same, tied to the unit's spec hash (NULL: none): a commit that changes the spec lifts the
 * mark (the daemon, "new spec").  state_disabled_hash(): that hash, or NULL. */
void state_set_disabled_at(struct rc_state *st, const char *unit, int64_t time, const char *reason, const char *hash);
const char *state_disabled_hash(const struct rc_state *st, const char *unit);
void state_del_disabled(struct rc_state *st, const char *unit);
/* Ids of disabled units, sorted; the array is allocated (free it), the strings borrowed. */
const char **state_disabled_units(const struct rc_state *st, size_t *ret_n);
/*
 * Sleeping units (idle: {after}): the daemon stopped them for want of
 * traffic; `wake` (or a connection to a published port) starts them again.
 * A sleeping unit is kept stopped by plan and apply and is not drift.
 * since: Unix seconds.  state_sleeping_units(): ids, sorted, allocated array
 * of borrowed strings.
 */
bool state_is_sleeping(const struct rc_state *st, const char *unit, int64_t *ret_since);
void state_set_sleeping(struct rc_state *st, const char *unit, int64_t since);
void state_del_sleeping(struct rc_state *st, const char *unit);
const char **state_sleeping_units(const struct rc_state *st, size_t *ret_n);
/* The disabled unit u depends on, directly or not (at most 64 levels), or NULL (borrowed from d). */
const char *state_disabled_dependency(const struct rc_state *st, const struct rc_desired *d, const struct rc_unit *u);
/* Mark the sleeping units of d as desired stopped (u->running = false); how many. */
size_t state_apply_sleeping(const struct rc_state *st, struct rc_desired *d);
/*
 * Forget the runtime facts (restart counters, disabled marks, changes
 * awaiting approval, health facts) of every unit not in live_ids[0..n): a
 * unit that left the manifests takes them with it, so a new unit of the same
 * id (a customer deleted and made again) starts clean.  Each dropped
 * disabled mark is journaled (action "forget").
 */
void state_prune_units(struct rc_state *st, const char *const *live_ids, size_t n);

/*
 * What the daemon last saw of a unit, for `status` (spec/status-json.md):
 * times are Unix seconds (0: never / none).
 */
struct state_health {
	int64_t last_check;       /* the daemon's last look at it */
	const char *result;       /* what it saw: "ready", "unhealthy (...)", "crashed ...", ... */
	int64_t probe_ms;         /* the last http probe's latency; -1: none */
	int64_t next_repair;      /* when a pending repair is due; 0: none */
};
/* False when the daemon has not recorded any (ret untouched). result is borrowed. */
bool state_get_health(const struct rc_state *st, const char *unit, struct state_health *ret);
/* Record (result is copied); nothing is marked to save when nothing changed. */
void state_set_health(struct rc_state *st, const char *unit, const struct state_health *h);

/* A change to a protected unit, held until `reconciler approve`. */
struct state_awaiting {
	const char *unit;
	const char *hash;         /* the desired hash awaiting approval */
	const char *commit;       /* may be NULL */
	int64_t since;
	bool approved;
};
/* Record (or replace) the change awaiting approval for unit. */
void state_set_awaiting(struct rc_state *st, const char *unit, const char *hash, const char *commit,
			int64_t since);
const struct state_awaiting *state_get_awaiting(const struct rc_state *st, const char *unit);
/* Mark the awaiting change of unit approved; -1 if none awaits. */
int state_approve(struct rc_state *st, const char *unit, struct rc_err *err);
/* True if the change of unit to hash was approved. */
bool state_is_approved(const struct rc_state *st, const char *unit, const char *hash);
void state_del_awaiting(struct rc_state *st, const char *unit);
/* All, sorted by unit; borrowed. */
const struct state_awaiting *state_awaiting_all(const struct rc_state *st, size_t *ret_n);

/*
 * In-place updates: `docker update` cannot change labels, so after an UPDATE
 * the container keeps its old hash label.  The executor records the
 * effective hash and resource lines (planner_resource_lines()) by container
 * id and feeds them to the planner (see planner.h, struct plan_container).
 */
void state_set_inplace(struct rc_state *st, const char *container_id, const char *hash,
		       const char *resources);
/* False if none; *ret_hash / *ret_resources borrowed. */
bool state_get_inplace(const struct rc_state *st, const char *container_id, const char **ret_hash,
		       const char **ret_resources);
void state_del_inplace(struct rc_state *st, const char *container_id);
/* Forget records of containers not in live_ids (they were removed or recreated). */
void state_prune_inplace(struct rc_state *st, const char *const *live_ids, size_t n);

/* ---- journal.jsonl ---------------------------------------------------------- */

struct state_journal_entry {
	int64_t time;             /* 0: now */
	const char *commit;       /* any field may be NULL: written as null */
	const char *action;
	const char *unit;
	const char *result;       /* "ok", "failed", ... */
	const char *message;
};
/*
 * Append one line {"time":"<ISO-8601 UTC>","commit":..,"action":..,"unit":..,
 * "result":..,"message":..} with O_APPEND and fsync.  Before writing, if the
 * line would take the file past the limit, rotate: journal.jsonl.(keep-1) →
 * .keep, ..., journal.jsonl → .1.  Needs the lock.
 */
int state_journal(struct rc_state *st, const struct state_journal_entry *e, struct rc_err *err);
/* A journal line read back (every field copied; NULL where the line has null). */
struct state_journal_record {
	char *time;               /* "<ISO-8601 UTC>" as written */
	char *commit;
	char *action;
	char *unit;
	char *result;
	char *message;
};
/*
 * The newest line of journal.jsonl whose "action" is action (looking into
 * journal.jsonl.1 when the current file has none, e.g. right after a
 * rotation).  Returns 1 and fills *ret (release with
 * state_journal_record_release()), 0 when there is none, -1 when a file
 * cannot be read.  Unparsable lines are skipped.  Needs no lock.
 */
int state_journal_last(const struct rc_state *st, const char *action, struct state_journal_record *ret,
		       struct rc_err *err);
void state_journal_record_release(struct state_journal_record *r);
/* Change the rotation limit (tests); keep ≥ 1. */
void state_set_journal_limit(struct rc_state *st, size_t max_bytes, int keep);

/*
 * Image builds' output (state_builds.c): builds/<commit 12 hex>/<unit>.log, mode 0600, at most
 * RC_STATE_BUILD_LOG_MAX bytes (more is cut); the newest RC_STATE_BUILD_COMMITS commits' logs are
 * kept.  state_read_build_log() finds the newest log of unit (a unit id: "web", "alpha/web") under
 * state_dir without the state's lock: *ret_commit is its commit's 12 hex; -1 with errno ENOENT
 * when there is none.
 */
#define RC_STATE_BUILD_LOG_MAX (1u << 20)
#define RC_STATE_BUILD_COMMITS 20
int state_save_build_log(struct rc_state *st, const char *commit, const char *unit, const char *data,
			 size_t len, struct rc_err *err);
int state_read_build_log(const char *state_dir, const char *unit, char **ret_commit, char **ret_data,
			 size_t *ret_len, struct rc_err *err);

#endif
