/*
 * source.h — where manifests come from: a Git revision read straight from the
 * object database (libgit2; bare repositories too, no checkout), or a plain
 * directory.  Returns every *.yaml / *.yml file under a sub-path, with its
 * path relative to the repository root (or to the directory).
 *
 * Owns: the only use of git2.h (and so the credential callback of a
 * fetch).  Enforces input limits (file size, number of files); symlinks and
 * submodules inside the manifest path are errors (a symlink elsewhere in the
 * repository is not looked at).  Entries whose name starts with '.' (.git,
 * .github, editor files) are skipped, files and directories alike.  Other files than *.yaml / *.yml are ignored.
 *
 * libgit2 is initialised on first use (once, thread-safe) and shut down at
 * exit; callers need not do anything.  Each call opens its own repository
 * handle, so calls from different threads are safe.  Errors carry the repo
 * path, the rev and libgit2's message: "cannot resolve 'x' in '/r': ...".
 */
#ifndef RC_SOURCE_H
#define RC_SOURCE_H

#include <stddef.h>

#include "util.h"

#define RC_SOURCE_MAX_FILE_SIZE (4u << 20)  /* bytes per manifest file */
#define RC_SOURCE_MAX_FILES 10000

struct source_file {
	char *path;           /* relative to the repository root, '/'-separated */
	char *data;           /* NUL-terminated copy of the content */
	size_t len;
};

struct source_files {
	struct source_file *files;   /* sorted by path */
	size_t nfiles;
	char *commit;                /* 40-hex commit id; NULL for a directory */
};

/*
 * Load manifests from repo (a work tree, its .git directory or a bare
 * repository; never searched upwards) at rev (anything git_revparse_single
 * takes: branch, tag — annotated tags are peeled —, full or short sha,
 * HEAD, origin/x, HEAD~1; NULL or "" = HEAD), under subdir ("", "." or NULL
 * = the whole tree; "./a//b/" is normalised; ".." is refused; it must name
 * a directory of the commit).  Read from the object database: the work
 * tree is never looked at.  On success fills *ret (the caller releases it
 * with source_files_release()) with ret->commit set; on failure *ret is
 * untouched.
 */
int source_load_git(const char *repo, const char *rev, const char *subdir,
		    struct source_files *ret, struct rc_err *err);
/*
 * Load manifests from a plain directory (recursively, sorted by path, paths
 * relative to dir; symlinks and non-regular *.yaml files are errors).
 * ret->commit is NULL.
 */
int source_load_dir(const char *dir, struct source_files *ret, struct rc_err *err);
/* Resolve rev in repo to a 40-hex commit id (ret must hold 41 bytes). */
int source_resolve(const char *repo, const char *rev, char ret[41], struct rc_err *err);
/* The committer time (Unix seconds) of commit (anything source_resolve() takes). */
int source_commit_time(const char *repo, const char *commit, int64_t *ret_time, struct rc_err *err);
/*
 * Refs, for the branch watch (watch.h), read through libgit2: the loose
 * ref first, then packed-refs; symbolic refs ("ref: ..." in HEAD or in a
 * loose ref) are followed up to 5 levels.
 *
 * source_refs_open(): a handle on repo (same forms as source_load_git()),
 * kept for many reads: libgit2 reads a loose ref from its file at every
 * lookup and re-reads packed-refs whenever its stamp (inode, size, mtime
 * to the nanosecond) changed, so nothing stale is returned; opening once
 * spares reading the configuration files at every read (a read costs
 * ~2-10 us on a handle, ~40-140 us with an open; docs/performance.md).
 * One thread at a time; released with
 * source_refs_close() (NULL allowed).  On failure *ret is untouched.
 * source_refs_gitdir(): where HEAD is; source_refs_commondir(): where
 * refs/ and packed-refs are (the same directory except in a linked work
 * tree); both absolute, symbolic links resolved, no trailing '/', owned by
 * the handle.
 *
 * source_refs_resolve(): read refname ("HEAD" or "refs/...").  Returns 1
 * with 40 lowercase hex digits and a NUL in out when the ref exists, 0 with
 * out = "" when it does not (an unborn or deleted branch), -1 on error (a
 * malformed ref, an invalid symbolic target, too many levels; the message
 * names the repository and the ref).  ret_target (NULL: not wanted) gets
 * the last ref name reached, the ref a commit would move, also when it
 * does not exist ("HEAD" -> "refs/heads/main"); the caller frees it.  On
 * failure out and *ret_target are untouched.
 *
 * source_ref_resolve(): the same in one call (open, resolve, close); also
 * -1 when repo is not a repository or is a sha256 one.
 */
struct source_refs;
int source_refs_open(const char *repo, struct source_refs **ret, struct rc_err *err);
void source_refs_close(struct source_refs *h);
const char *source_refs_gitdir(const struct source_refs *h);
const char *source_refs_commondir(const struct source_refs *h);
int source_refs_resolve(struct source_refs *h, const char *refname, char out[41], char **ret_target,
			struct rc_err *err);
int source_ref_resolve(const char *repo, const char *refname, char out[41], char **ret_target,
		       struct rc_err *err);
/*
 * Fetch branch from url (any URL libgit2 takes; file:// works offline) into
 * the local ref refname (e.g. "refs/remotes/reconciler/main") of repo,
 * forcing it (a rewritten remote branch is followed).  repo is created as a
 * bare repository when it does not exist.  On success writes the fetched
 * commit id (40 hex + NUL) to ret.  No FETCH_HEAD is written, and url is
 * used as given (url.*.insteadOf of the Git configuration is not applied).
 *
 * Credentials (gitcred.h): a user:password in url is offered first (by
 * libgit2); cred_file (NULL: none), read again for every fetch, gives a
 * password or token for HTTP(S) and a key for SSH; without a key, SSH uses
 * the ssh-agent at SSH_AUTH_SOCK.  Each is offered once: the first refusal
 * ends the fetch with "authentication failed for URL (credentials from
 * FILE)", never a retry.  url's userinfo never reaches err.
 *
 * The fetch runs in a child process (libgit2 leaks per SSH session, and has
 * no transfer timeout): one that has not finished within the fetch timeout
 * (source_set_fetch_timeout(), default 120 s) is killed and reported as
 * "no answer within N s".
 */
int source_fetch(const char *repo, const char *url, const char *cred_file, const char *branch,
		 const char *refname, char ret[41], struct rc_err *err);
/*
 * The child side of source_fetch(): `reconciler __fetch REPO URL CRED_FILE
 * BRANCH REFNAME` (CRED_FILE "" for none) fetches, writes its reply to
 * standard output and leaves with _exit().  Only main() calls it.
 */
int source_fetch_child(int argc, char **argv);
/* The bound of every later source_fetch(), seconds (> 0); process-wide. */
void source_set_fetch_timeout(double seconds);
/*
 * Build contexts (spec/manifest.md, "Building images").  The context of a
 * service's `build:` is a directory of the repository at a commit, named
 * relative to the repository's root ("" or "." = the root).
 *
 * source_build_tree(): check that context is a directory of rev and that
 * dockerfile (relative to the context) is a regular file in it, and write
 * the context's 40-hex tree id to ret (the image's tag is made from it).
 * Errors name what is missing: "no directory 'app' in commit 0123456789ab".
 *
 * source_tree_tar(): the tree tree_id of repo as a tar stream (ustar) in
 * *out, as `docker build` sends a context: regular files with their mode
 * (0644, or 0755 when executable), directories, symbolic links as links;
 * uid/gid 0 and mtime 0, so equal trees give equal streams.  A submodule
 * is an error, and so is a context over RC_SOURCE_MAX_CONTEXT bytes or
 * RC_SOURCE_MAX_CONTEXT_FILES entries.  On failure *out is untouched.
 */
#define RC_SOURCE_MAX_CONTEXT (256u << 20)
#define RC_SOURCE_MAX_CONTEXT_FILES 100000
struct buf;
int source_build_tree(const char *repo, const char *rev, const char *context, const char *dockerfile,
		      char ret[41], struct rc_err *err);
int source_tree_tar(const char *repo, const char *tree_id, struct buf *out, struct rc_err *err);
/* Free everything in f and zero it (safe to call twice). */
void source_files_release(struct source_files *f);

#endif
