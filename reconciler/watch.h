/*
 * watch.h — noticing that a branch of a Git repository may have moved.
 *
 * Owns: one inotify instance, one timerfd and one epoll fd per struct watch,
 * and one source_refs handle (source.h) through which the ref, the branch
 * HEAD points at, the git dir and the common dir are read with libgit2
 * (git2.h itself belongs to source.c).  What it reports is a hint, never
 * the truth.  watch_wait() returning 1 means "re-resolve the ref now";
 * the caller resolves it with the Git source and compares with what it last
 * applied.  Spurious 1s are allowed (e.g. `git gc` rewriting packed-refs
 * without moving the branch); missed changes are not.
 *
 * How changes are seen (inotify mode, the default):
 *  - Git never rewrites a ref in place: it writes `<ref>.lock` and renames
 *    it over the ref; `git gc` / `git pack-refs` rewrite `packed-refs` (via
 *    `packed-refs.new`) and delete the loose ref; a fresh bare clone has no
 *    loose refs at all.  So the module watches DIRECTORIES, never files: the
 *    git dir (HEAD), the common dir (packed-refs; the same directory except
 *    in linked work trees), `refs/`, `refs/heads/` and every directory on the
 *    way to the branch's leaf (`release/v1` → `refs/heads/release/`).
 *    Directories that do not exist yet are picked up when they appear.
 *  - Mask IN_MOVED_TO|IN_CREATE|IN_DELETE|IN_CLOSE_WRITE|IN_DELETE_SELF|
 *    IN_MOVE_SELF.  Names ending in `.lock` / `.new` are ignored; only
 *    `HEAD`, `packed-refs` and the next component of the ref path count;
 *    other branches, the index, objects and logs are not reported.
 *  - IN_Q_OVERFLOW, IN_IGNORED, IN_DELETE_SELF and IN_MOVE_SELF re-establish
 *    the watches and count as a change.  The watch set is re-established
 *    after every relevant event (cheap: a handful of inotify_add_watch calls),
 *    which also follows HEAD to a new branch after a checkout when the watched
 *    ref is HEAD.
 *  - Debounce: relevant events start a quiet period of debounce_ms; the
 *    notification fires when no relevant event arrived for debounce_ms, or at
 *    the latest 8 × debounce_ms after the first one (so a steady stream of
 *    commits still gets noticed).  A burst of events gives one notification.
 *
 * Polling, built in:
 *  - Every poll_interval_ms (default 2000) watch_wait() re-reads the ref
 *    (source_refs_resolve() on the watch's handle: libgit2 reads the loose
 *    ref anew and re-reads packed-refs when its inode, size or mtime
 *    changed) and returns 1 if the value (commit id, "absent" or
 *    "unreadable") differs from the last one seen.  In inotify mode this is a
 *    safety net; with opts.inotify = false (NFS and other file systems where
 *    remote writers produce no inotify events) it is the only mechanism.
 *  - If inotify is not available (inotify_init1 fails, or the watch limit
 *    fs.inotify.max_user_watches is reached) the watch falls back to polling
 *    on its own (watch_uses_inotify() tells), logged at debug level.
 *  - The last seen value is refreshed whenever watch_wait() returns 1, so one
 *    change is reported once.  The baseline is read by watch_open().
 *
 * Daemon integration: watch_fd() is an epoll fd that becomes readable when
 * inotify has events OR when the module's next deadline (end of a debounce
 * period, next poll) has passed; poll it with the other fds and then call
 * watch_wait(w, 0, err).  That call may return 0 (still debouncing): it
 * re-arms the deadline, so simply poll again.
 *
 * Limits: object ids are SHA-1 (40 hex digits); a SHA-256 repository is
 * refused by watch_open() and watch_read_ref() (libgit2 1.5 cannot open
 * one).  reftable repositories are not supported (Git 2.45+, opt-in).
 * Per-worktree refs other than HEAD (refs/worktree/, refs/bisect/) are read
 * where Git keeps them, but only the common dir's are watched with inotify:
 * the poll sees those.
 */
#ifndef RC_WATCH_H
#define RC_WATCH_H

#include <stdbool.h>

#include "util.h"

struct watch;

struct watch_opts {
	bool inotify;          /* false: polling only (NFS) */
	int debounce_ms;       /* quiet period after a relevant event; 0: none */
	int poll_interval_ms;  /* 0: no polling (allowed only with inotify) */
};
#define WATCH_DEBOUNCE_MS_DEFAULT 150
#define WATCH_POLL_MS_DEFAULT     2000
#define WATCH_OPTS_DEFAULT { .inotify = true, .debounce_ms = WATCH_DEBOUNCE_MS_DEFAULT, \
			     .poll_interval_ms = WATCH_POLL_MS_DEFAULT }

/*
 * Start watching `branch` of the repository at `repo`: a work tree (with a
 * `.git` directory, or a `.git` file as in linked work trees and
 * submodules), a `.git` directory or a bare repository.  `branch` is a short
 * branch name ("main", "release/v1"), a full ref name ("refs/heads/main",
 * "refs/tags/v1") or NULL / "HEAD" for whatever HEAD points at (followed
 * through `ref: `; a checkout to another branch is noticed).  opts NULL:
 * WATCH_OPTS_DEFAULT; negative durations, or polling-only with
 * poll_interval_ms 0, are errors.  The branch need not exist yet.
 * On success *ret_w is the caller's, released with watch_close().
 */
int watch_open(const char *repo, const char *branch, const struct watch_opts *opts,
	       struct watch **ret_w, struct rc_err *err);

/* Close every fd and free w.  NULL is allowed. */
void watch_close(struct watch *w);

/*
 * An fd for poll()/epoll (POLLIN): readable when watch_wait(w, 0, err) has
 * something to do.  Owned by w; do not read from it or close it.
 */
int watch_fd(const struct watch *w);

/* true when inotify is in use, false when the watch only polls. */
bool watch_uses_inotify(const struct watch *w);

/*
 * Wait up to timeout_ms (negative: no limit; 0: just check) for a possible
 * change of the ref.  Returns 1 when the caller should re-resolve the ref
 * (after the debounce period), 0 on timeout, -1 on error (err filled; e.g.
 * the git directory disappeared).  Restarted on EINTR internally.
 */
int watch_wait(struct watch *w, int timeout_ms, struct rc_err *err);

/*
 * Resolve `branch` (same forms as watch_open()) in the repository at `repo`
 * (same forms as watch_open()), once, as the watch reads it
 * (source_ref_resolve(): the loose ref first, then packed-refs; symbolic
 * refs, `ref: ...` in HEAD or in a loose ref, followed up to 5 levels).
 * Returns 1 and writes 40 lowercase hex digits and a NUL into out when the
 * ref exists, 0 (out = "") when it does not (unborn branch, deleted
 * branch), -1 on error (not a repository, invalid ref name, malformed ref,
 * SHA-256 repository; the message names the repository and the ref; out
 * untouched).
 */
int watch_read_ref(const char *repo, const char *branch, char out[41], struct rc_err *err);

#endif
