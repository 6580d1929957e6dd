/*
 * source.c — manifests from a Git commit (libgit2, object database only) or
 * from a plain directory.  See source.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>

#include "buf.h"
#include "gitcred.h"
#include "source.h"
#include "strmap.h"

/* Deeper trees than this are refused (a hostile repository must not blow the stack). */
#define SOURCE_MAX_DEPTH 64
/* Symbolic refs followed by source_ref_resolve() (HEAD -> a branch is one). */
#define SOURCE_SYMREF_DEPTH 5
/* A fetch that has not finished by then is ended (source_fetch); --fetch-timeout. */
static double fetch_timeout_s = 120;

/* ---- libgit2 setup ---- */

/*
 * libgit2 1.5.1 (Debian 12) leaks a PCRE2 match block (~20 KiB) for every
 * configuration entry outside "extensions." each time it opens a repository
 * with core.repositoryformatversion 1 (git_regexp_search() returns on "no
 * match" without freeing it; fixed upstream by libgit2 pull request 6382).
 * It knows none of the extensions such repositories carry (objectformat =
 * sha256, worktreeConfig, partialclone), so the open fails and the program
 * says so and stops or retries at its next attempt: a bounded leak, not
 * ours to fix.  The sanitizer build is told so.  libgit2 has no frame
 * pointers, so the stack shows only PCRE2 itself; PCRE2 is used by libgit2
 * alone here.
 */
#if defined(__SANITIZE_ADDRESS__)        /* gcc */
#define SOURCE_ASAN 1
#elif defined(__has_feature)              /* clang (the fuzz build) */
#if __has_feature(address_sanitizer)
#define SOURCE_ASAN 1
#endif
#endif
#ifdef SOURCE_ASAN
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libpcre2-8.so\n";
}
#endif

static void git_shutdown_at_exit(void)
{
	git_libgit2_shutdown();
}

static void git_init_once(void)
{
	git_libgit2_init();
	atexit(git_shutdown_at_exit);
}

static void source_git_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, git_init_once);
}

/* Copy libgit2's last error text at once (git_error_last() may be NULL). */
static const char *git_errmsg(char *buf, size_t n)
{
	const git_error *e = git_error_last();
	snprintf(buf, n, "%s", e && e->message && *e->message ? e->message : "unknown libgit2 error");
	/* libgit2 messages sometimes end with a newline or a full stop. */
	size_t l = strlen(buf);
	while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == '.'))
		buf[--l] = '\0';
	return buf;
}

/* rc_errf with ": <libgit2 error>" appended. */
RC_PRINTF(2, 3)
static int git_errf(struct rc_err *err, const char *fmt, ...)
{
	char gmsg[512];
	git_errmsg(gmsg, sizeof(gmsg));
	char what[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return rc_errf(err, "%s: %s", what, gmsg);
}

/* Paths come from the repository or the directory: a name with a newline or
 * an escape sequence must not reach a terminal or a log as it is.  Errors
 * are escaped once, where they leave this module. */
static int escape_err(struct rc_err *err)
{
	if (err && str_needs_escape(err->msg)) {
		char *s = str_shown(err->msg);
		snprintf(err->msg, sizeof(err->msg), "%s", s);
		free(s);
	}
	return -1;
}

/* ---- the file list ---- */

struct flist {
	struct source_file *v;
	size_t n, cap;
};

static void flist_release(struct flist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].data);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static int file_cmp(const void *a, const void *b)
{
	const struct source_file *x = a, *y = b;
	return strcmp(x->path, y->path);
}

static bool is_manifest_name(const char *name)
{
	return str_endswith(name, ".yaml") || str_endswith(name, ".yml");
}

/* Hidden entries (".git", ".github", editor files) are never manifests. */
static bool is_hidden(const char *name)
{
	return name[0] == '.';
}

static int check_limits(const struct flist *l, const char *path, size_t size, struct rc_err *err)
{
	if (l->n >= RC_SOURCE_MAX_FILES)
		return rc_errf(err, "too many manifest files (more than %u), at '%s'",
			       (unsigned)RC_SOURCE_MAX_FILES, path);
	if (size > RC_SOURCE_MAX_FILE_SIZE)
		return rc_errf(err, "'%s' is larger than %u bytes", path, (unsigned)RC_SOURCE_MAX_FILE_SIZE);
	return 0;
}

static void flist_take(struct flist *l, char *path, char *data, size_t len)
{
	GROW(l->v, l->n + 1, l->cap);
	l->v[l->n++] = (struct source_file){ .path = path, .data = data, .len = len };
}

static void flist_finish(struct flist *l, struct source_files *ret, char *commit)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), file_cmp);
	*ret = (struct source_files){ .files = l->v, .nfiles = l->n, .commit = commit };
	l->v = NULL;
	l->n = l->cap = 0;
}

/*
 * Normalise a sub-path: "./a//b/" -> "a/b"; "" and "." -> "".  Refuses ".."
 * components (the manifest path stays inside the tree).
 */
static int normalize_subdir(const char *in, char **ret, struct rc_err *err)
{
	struct buf b = BUF_INIT;
	const char *p = in ? in : "";
	while (*p) {
		while (*p == '/')
			p++;
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		if (n == 0)
			break;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			buf_release(&b);
			return rc_errf(err, "path '%s' must not contain '..'", in);
		}
		if (!(n == 1 && p[0] == '.')) {
			if (b.len)
				buf_addc(&b, '/');
			buf_add(&b, p, n);
		}
		p = e;
	}
	*ret = buf_detach(&b, NULL);
	return 0;
}

static char *join_path(const char *dir, const char *name)
{
	return *dir ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

/* ---- Git ---- */

static void repo_freep(git_repository **r) { git_repository_free(*r); }
static void object_freep(git_object **o) { git_object_free(*o); }
static void tree_freep(git_tree **t) { git_tree_free(*t); }
static void entry_freep(git_tree_entry **e) { git_tree_entry_free(*e); }
static void odb_freep(git_odb **o) { git_odb_free(*o); }
static void odb_object_freep(git_odb_object **o) { git_odb_object_free(*o); }

static int open_repo(const char *path, git_repository **ret, struct rc_err *err)
{
	source_git_init();
	/* NO_SEARCH: a directory that is not a repository must not silently
	 * resolve to an enclosing one. */
	int rc = git_repository_open_ext(ret, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (rc == GIT_ENOTFOUND) {
		char g[512];
		return rc_errf(err, "cannot open repository '%s': not a git repository (%s)", path,
			       git_errmsg(g, sizeof(g)));
	}
	/* libgit2 1.5 reads SHA-1 repositories only, and says so obscurely */
	if (rc < 0 && git_error_last() && git_error_last()->message &&
	    strstr(git_error_last()->message, "objectformat"))
		return git_errf(err, "cannot open repository '%s' (sha256 repositories are not supported)", path);
	if (rc < 0)
		return git_errf(err, "cannot open repository '%s'", path);
	return 0;
}

static int resolve_commit(git_repository *repo, const char *path, const char *rev,
			  git_object **ret, struct rc_err *err)
{
	_cleanup_(object_freep) git_object *obj = NULL;
	if (!rev || !*rev)
		rev = "HEAD";
	if (git_revparse_single(&obj, repo, rev) < 0)
		return git_errf(err, "cannot resolve '%s' in '%s'", rev, path);
	/* Branches, annotated tags (peeled) and shas all end at a commit. */
	if (git_object_peel(ret, obj, GIT_OBJECT_COMMIT) < 0)
		return rc_errf(err, "cannot resolve '%s' in '%s': it names a %s, not a commit", rev, path,
			       git_object_type2string(git_object_type(obj)));
	return 0;
}

struct git_walk {
	git_repository *repo;
	git_odb *odb;
	struct flist files;
};

static int read_blob(struct git_walk *w, const git_tree_entry *e, const char *path, struct rc_err *err)
{
	const git_oid *oid = git_tree_entry_id(e);
	size_t size;
	git_object_t type;
	/* The header first: a huge blob is refused before it is inflated. */
	if (git_odb_read_header(&size, &type, w->odb, oid) < 0)
		return git_errf(err, "cannot read '%s'", path);
	if (check_limits(&w->files, path, size, err) < 0)
		return -1;
	_cleanup_(odb_object_freep) git_odb_object *obj = NULL;
	if (git_odb_read(&obj, w->odb, oid) < 0)
		return git_errf(err, "cannot read '%s'", path);
	size_t len = git_odb_object_size(obj);
	if (check_limits(&w->files, path, len, err) < 0)
		return -1;
	char *data = xmalloc(len + 1);
	memcpy(data, git_odb_object_data(obj), len);
	data[len] = '\0';
	flist_take(&w->files, xstrdup(path), data, len);
	return 0;
}

static int walk_tree(struct git_walk *w, const git_tree *tree, const char *prefix, int depth,
		     struct rc_err *err)
{
	if (depth > SOURCE_MAX_DEPTH)
		return rc_errf(err, "'%s' is nested more than %d directories deep", prefix, SOURCE_MAX_DEPTH);
	size_t n = git_tree_entrycount(tree);
	/* Git never writes two entries of one name in a tree, but a hand-made
	 * tree (git mktree) can hold them, and both would be read. */
	_cleanup_(strmap_freep) struct strmap *names = strmap_new();
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		_cleanup_free_ char *path = join_path(prefix, name);
		if (strmap_add(names, name, (void *)(uintptr_t)e))
			return rc_errf(err, "'%s' appears twice in one directory of the tree (a malformed tree: "
				       "git fsck reports it as duplicateEntries)", path);
		if (!*name || strchr(name, '/'))
			return rc_errf(err, "'%s' is not a valid name in a tree (a malformed tree)", path);
		if (is_hidden(name))
			continue;
		switch (git_tree_entry_filemode(e)) {
		case GIT_FILEMODE_TREE: {
			_cleanup_(tree_freep) git_tree *sub = NULL;
			if (git_tree_lookup(&sub, w->repo, git_tree_entry_id(e)) < 0)
				return git_errf(err, "cannot read directory '%s'", path);
			if (walk_tree(w, sub, path, depth + 1, err) < 0)
				return -1;
			break;
		}
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
			if (is_manifest_name(name) && read_blob(w, e, path, err) < 0)
				return -1;
			break;
		case GIT_FILEMODE_LINK:
			return rc_errf(err, "'%s' is a symbolic link (not allowed in the manifest path)", path);
		case GIT_FILEMODE_COMMIT:
			return rc_errf(err, "'%s' is a submodule (not allowed in the manifest path)", path);
		default:
			return rc_errf(err, "'%s' has an unknown file mode %o", path,
				       (unsigned)git_tree_entry_filemode(e));
		}
	}
	return 0;
}

int source_resolve(const char *repo, const char *rev, char ret[41], struct rc_err *err)
{
	_cleanup_(repo_freep) git_repository *r = NULL;
	_cleanup_(object_freep) git_object *commit = NULL;
	if (open_repo(repo, &r, err) < 0 || resolve_commit(r, repo, rev, &commit, err) < 0)
		return -1;
	git_oid_tostr(ret, 41, git_object_id(commit));
	return 0;
}

int source_commit_time(const char *repo, const char *commit, int64_t *ret_time, struct rc_err *err)
{
	_cleanup_(repo_freep) git_repository *r = NULL;
	_cleanup_(object_freep) git_object *obj = NULL;
	if (open_repo(repo, &r, err) < 0 || resolve_commit(r, repo, commit, &obj, err) < 0)
		return -1;
	*ret_time = (int64_t)git_commit_time((const git_commit *)obj);
	return 0;
}

/* ---- refs, for the branch watch ---- */

struct source_refs {
	git_repository *repo;
	char *path;        /* as given, for messages */
	char *gitdir, *commondir;
};

/* A path libgit2 gives for a directory, without its trailing '/'. */
static char *dir_path(const char *p)
{
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	return xstrndup(p, n);
}

int source_refs_open(const char *repo, struct source_refs **ret, struct rc_err *err)
{
	git_repository *r = NULL;
	if (open_repo(repo, &r, err) < 0)
		return escape_err(err);
	struct source_refs *h = xcalloc(1, sizeof(*h));
	h->repo = r;
	h->path = xstrdup(repo);
	h->gitdir = dir_path(git_repository_path(r));
	h->commondir = dir_path(git_repository_commondir(r));
	*ret = h;
	return 0;
}

void source_refs_close(struct source_refs *h)
{
	if (!h)
		return;
	git_repository_free(h->repo);
	free(h->path);
	free(h->gitdir);
	free(h->commondir);
	free(h);
}

const char *source_refs_gitdir(const struct source_refs *h)
{
	return h->gitdir;
}

const char *source_refs_commondir(const struct source_refs *h)
{
	return h->commondir;
}

static void reference_freep(git_reference **r) { git_reference_free(*r); }

int source_refs_resolve(struct source_refs *h, const char *refname, char out[41], char **ret_target,
			struct rc_err *err)
{
	_cleanup_free_ char *cur = xstrdup(refname);
	for (int depth = 0;; depth++) {
		_cleanup_(reference_freep) git_reference *ref = NULL;
		int rc = git_reference_lookup(&ref, h->repo, cur);
		if (rc == GIT_ENOTFOUND) {
			out[0] = '\0';
			break;
		}
		if (rc < 0) {
			git_errf(err, "cannot read ref '%s' in '%s'", cur, h->path);
			return escape_err(err);
		}
		if (git_reference_type(ref) == GIT_REFERENCE_SYMBOLIC) {
			const char *t = git_reference_symbolic_target(ref);
			int valid = 0;
			if (depth >= SOURCE_SYMREF_DEPTH)
				rc_errf(err, "cannot read ref '%s' in '%s': more than %d levels of symbolic refs",
					refname, h->path, SOURCE_SYMREF_DEPTH);
			/* libgit2 takes a symbolic ref's target as it is written: the
			 * name goes into the watch's paths, so it must be a valid one */
			else if (git_reference_name_is_valid(&valid, t) < 0 || !valid)
				rc_errf(err, "cannot read ref '%s' in '%s': invalid symbolic ref target '%s'",
					cur, h->path, t);
			else {
				free(cur);
				cur = xstrdup(t);
				continue;
			}
			return escape_err(err);
		}
		const git_oid *oid = git_reference_target(ref);
		if (!oid) {
			rc_errf(err, "cannot read ref '%s' in '%s': no object id", cur, h->path);
			return escape_err(err);
		}
		git_oid_tostr(out, 41, oid);
		break;
	}
	if (ret_target)
		*ret_target = TAKE_PTR(cur);
	return out[0] ? 1 : 0;
}

int source_ref_resolve(const char *repo, const char *refname, char out[41], char **ret_target,
		       struct rc_err *err)
{
	struct source_refs *h = NULL;
	if (source_refs_open(repo, &h, err) < 0)
		return -1;
	int r = source_refs_resolve(h, refname, out, ret_target, err);
	source_refs_close(h);
	return r;
}

static void remote_freep(git_remote **r) { git_remote_free(*r); }

/*
 * The credential callback's state for one fetch.  libgit2 asks again after
 * every refusal (up to 15 times over HTTP, without end over SSH): each
 * source of credentials is offered once, and the next question means it
 * was refused, which ends the fetch with one clear error.
 */
enum cred_outcome {
	CRED_OK = 0,      /* nothing went wrong here (or it did elsewhere) */
	CRED_REFUSED,     /* what was offered was refused */
	CRED_NONE,        /* the server wants credentials that were not given */
	CRED_ERROR,       /* libgit2 could not make the credential */
};

struct cred_ctx {
	const struct gitcred *c;   /* from the file (all NULL without one) */
	const char *file;          /* --remote-credentials, or NULL */
	bool url_password;         /* the URL carries user:password (libgit2 offers it before asking) */
	int offered;               /* credentials handed to libgit2 */
	enum { OFFER_URL, OFFER_FILE, OFFER_FILE_KEY, OFFER_AGENT } what;  /* what was offered last */
	enum cred_outcome outcome;
	const char *need;          /* CRED_NONE: what the server asks for */
	const char *hint;          /* CRED_NONE: which keys of the file would give it */
};

static int cred_cb(git_credential **out, const char *url, const char *user_from_url, unsigned int allowed,
		   void *payload)
{
	(void)url;  /* may carry userinfo: never logged */
	struct cred_ctx *x = payload;
	const struct gitcred *c = x->c;
	/* SSH first asks for the user name alone: that offers no secret */
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, gitcred_ssh_user(c, user_from_url)) < 0 ? GIT_EUSER : 0;
	if (x->offered > 0 || (x->url_password && !x->file)) {
		if (x->offered == 0)
			x->what = OFFER_URL;
		x->outcome = CRED_REFUSED;
		git_error_set_str(GIT_ERROR_NET, "authentication failed");
		return GIT_EUSER;
	}
	int r = 1;
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && c->ssh_key) {
		r = git_credential_ssh_key_new(out, gitcred_ssh_user(c, user_from_url), c->ssh_pubkey, c->ssh_key,
					       c->ssh_passphrase);
		x->what = OFFER_FILE_KEY;
	} else if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && c->password &&
		   gitcred_http_user(c, user_from_url)) {
		r = git_credential_userpass_plaintext_new(out, gitcred_http_user(c, user_from_url), c->password);
		x->what = OFFER_FILE;
	} else if ((allowed & GIT_CREDENTIAL_SSH_KEY) && getenv("SSH_AUTH_SOCK") && *getenv("SSH_AUTH_SOCK")) {
		r = git_credential_ssh_key_from_agent(out, gitcred_ssh_user(c, user_from_url));
		x->what = OFFER_AGENT;
	}
	if (r == 0) {
		x->offered++;
		return 0;
	}
	if (r < 0) {
		x->outcome = CRED_ERROR;
		return GIT_EUSER;
	}
	x->outcome = CRED_NONE;
	if (allowed & GIT_CREDENTIAL_SSH_KEY) {
		x->need = "an SSH key";
		x->hint = "ssh_key=, or an ssh-agent with SSH_AUTH_SOCK set";
	} else if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && c->password) {
		x->need = "a user name with the password";
		x->hint = "username=, or a user in the URL";
	} else if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
		x->need = "a user name and password or a token";
		x->hint = "password= or token=";
	} else {
		x->need = "a kind of credentials reconciler does not offer";
		x->hint = "Kerberos, NTLM and client certificates are not supported";
	}
	git_error_set_str(GIT_ERROR_NET, "no credentials");
	return GIT_EUSER;
}

/* Why the fetch failed, when the credential callback knows better than libgit2. */
static int cred_errf(const struct cred_ctx *x, const char *shown, struct rc_err *err)
{
	switch (x->outcome) {
	case CRED_REFUSED:
		switch (x->what) {
		case OFFER_URL:
			return rc_errf(err, "authentication failed for %s (credentials from the URL)", shown);
		case OFFER_FILE:
			return rc_errf(err, "authentication failed for %s (credentials from %s)", shown, x->file);
		case OFFER_FILE_KEY:
			return rc_errf(err, "authentication failed for %s (the SSH key named by %s)", shown, x->file);
		case OFFER_AGENT:
			return rc_errf(err, "authentication failed for %s (the keys of the ssh-agent at SSH_AUTH_SOCK)",
				       shown);
		}
		break;
	case CRED_NONE:
		if (x->file)
			return rc_errf(err, "%s asks for %s, which credentials file '%s' does not give (%s)", shown,
				       x->need, x->file, x->hint);
		return rc_errf(err, "%s asks for %s: give it with --remote-credentials FILE (%s)", shown, x->need,
			       x->hint);
	case CRED_ERROR:
		return git_errf(err, "cannot use the credentials for %s", shown);
	case CRED_OK:
		break;
	}
	BUG("cred_errf without an outcome");
}

/* source_fetch() without the credential hiding. */
static int fetch(const char *repo, const char *url, const char *shown, const struct gitcred *creds,
		 const char *cred_file, const char *branch, const char *refname, char ret[41], struct rc_err *err)
{
	_cleanup_(repo_freep) git_repository *r = NULL;
	source_git_init();
	if (git_repository_open_ext(&r, repo, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		if (access(repo, F_OK) == 0)
			return git_errf(err, "cannot open repository '%s'", repo);
		if (git_repository_init(&r, repo, 1) < 0)
			return git_errf(err, "cannot create bare repository '%s'", repo);
	}
	/*
	 * Anonymous, and without url.*.insteadOf rewriting: libgit2 1.5 with
	 * PCRE2 (Debian 12) leaks about 240 KiB of regex match data per remote
	 * made with it, which a daemon fetching every minute cannot afford.
	 */
	_cleanup_(remote_freep) git_remote *rem = NULL;
	git_remote_create_options ro;
	git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = r;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (git_remote_create_with_opts(&rem, url, &ro) < 0)
		return git_errf(err, "remote '%s'", shown);
	_cleanup_free_ char *spec = xasprintf("+refs/heads/%s:%s", branch, refname);
	char *specs[] = { spec };
	git_strarray refspecs = { specs, 1 };
	struct cred_ctx x = { .c = creds, .file = cred_file, .url_password = gitcred_url_has_password(url) };
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.update_fetchhead = 0;
	fo.callbacks.credentials = cred_cb;
	fo.callbacks.payload = &x;
	if (git_remote_fetch(rem, &refspecs, &fo, "reconciler: fetch") < 0) {
		if (x.outcome != CRED_OK)
			return cred_errf(&x, shown, err);
		/* libgit2 (1.5.1 and later) checks an SSH server's key against $HOME/.ssh/known_hosts */
		const git_error *ge = git_error_last();
		if (ge && ge->klass == GIT_ERROR_SSH && ge->message && strstr(ge->message, "hostkey")) {
			const char *home = getenv("HOME");
			return git_errf(err,
					"cannot fetch '%s' from '%s': the server's SSH host key is not in "
					"%s/.ssh/known_hosts or does not match it (check its fingerprint, then add it: "
					"ssh-keyscan -p PORT HOST >>%s/.ssh/known_hosts)",
					branch, shown, home ? home : "~", home ? home : "~");
		}
		return git_errf(err, "cannot fetch '%s' from '%s'", branch, shown);
	}
	git_oid oid;
	if (git_reference_name_to_id(&oid, r, refname) < 0)
		return git_errf(err, "fetched '%s' from '%s' but cannot read '%s'", branch, shown, refname);
	git_oid_tostr(ret, 41, &oid);
	return 0;
}

/* What the fetching child hands back through its pipe. */
struct fetch_reply {
	int rc;
	char id[41];
	struct rc_err err;
};

static bool write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		c += w;
		n -= (size_t)w;
	}
	return true;
}

/*
 * Read the child's reply until its end, EOF or the deadline.  Returns the
 * bytes read; *ret_timed_out tells a deadline from an EOF.
 */
static size_t read_reply(int fd, struct fetch_reply *rep, int64_t deadline, bool *ret_timed_out)
{
	size_t got = 0;
	*ret_timed_out = false;
	while (got < sizeof *rep) {
		int64_t left = deadline - now_ns();
		if (left <= 0) {
			*ret_timed_out = true;
			break;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n = poll(&pfd, 1, (int)(left / 1000000 + 1));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (n == 0)
			continue;
		ssize_t r = read(fd, (char *)rep + got, sizeof *rep - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/*
 * fetch() in a child process, bounded by fetch_timeout_s.  libgit2 1.5.1
 * leaks each SSH session's known-hosts list (and more when a key is
 * refused): a daemon fetching every minute would grow without end; and a
 * server that stops answering would hold the caller for ever, as libgit2
 * has no transfer timeout.  The child is this program executed again
 * (`/proc/self/exe __fetch …`, source_fetch_child()), not a bare fork: the
 * daemon has threads (HTTP endpoint, webhooks), and a forked copy that
 * takes a lock one of them held at the fork waits for ever — holding the
 * state directory's lock, inherited with its descriptor.  Between fork and
 * exec only async-signal-safe calls: the child dies with its parent
 * (PR_SET_PDEATHSIG), keeps only the reply pipe (as stdout) and standard
 * error, and has no signal blocked, so a SIGTERM to the service's process
 * group ends it at once.
 */
/* The environment variable that hands fetch_isolated()'s child the URL with its credentials. */
#define FETCH_URL_ENV "RECONCILER_FETCH_URL"

static int fetch_isolated(const char *repo, const char *url, const char *shown, const char *cred_file,
			  const char *branch, const char *refname, char ret[41], struct rc_err *err)
{
	/* execve() takes char *const[]: copies, made before the fork (the child may not allocate).
	 * The URL travels in the child's environment, which only its uid can read: its arguments
	 * are every local user's (ps), so they get the URL redacted. */
	_cleanup_free_ char *a_repo = xstrdup(repo), *a_url = xstrdup(shown),
			    *a_cred = xstrdup(cred_file ? cred_file : ""), *a_branch = xstrdup(branch),
			    *a_ref = xstrdup(refname), *a_name = xstrdup("reconciler"), *a_verb = xstrdup("__fetch");
	char *argv[] = { a_name, a_verb, a_repo, a_url, a_cred, a_branch, a_ref, NULL };
	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	_cleanup_free_ char **envp = xcalloc(nenv + 2, sizeof(*envp));
	_cleanup_free_ char *e_url = xasprintf(FETCH_URL_ENV "=%s", url);
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++)
		if (!str_startswith(environ[i], FETCH_URL_ENV "="))
			envp[k++] = environ[i];
	envp[k] = e_url;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return rc_errf(err, "cannot fetch '%s' from '%s': pipe: %s", branch, shown, strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return rc_errf(err, "cannot fetch '%s' from '%s': fork: %s", branch, shown, strerror(e));
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(126);
		if (dup2(p[1], STDOUT_FILENO) < 0)
			_exit(126);
		close_range(3, ~0U, 0);
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	close(p[1]);
	struct fetch_reply rep;
	bool timed_out;
	size_t got = read_reply(p[0], &rep, now_ns() + (int64_t)(fetch_timeout_s * 1e9), &timed_out);
	close(p[0]);
	if (got != sizeof rep)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		return rc_errf(err, "cannot fetch '%s' from '%s': no answer within %g s (--fetch-timeout)", branch,
			       shown, fetch_timeout_s);
	if (got != sizeof rep) {
		if (WIFSIGNALED(st))
			return rc_errf(err, "cannot fetch '%s' from '%s': the fetching process ended by signal %d",
				       branch, shown, WTERMSIG(st));
		return rc_errf(err, "cannot fetch '%s' from '%s': the fetching process gave no answer (exit %d)",
			       branch, shown, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	if (rep.rc < 0)
		return rc_err_copy(err, &rep.err);
	memcpy(ret, rep.id, 41);
	return 0;
}

int source_fetch_child(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	const char *repo = argv[0], *url = getenv(FETCH_URL_ENV), *cred_file = *argv[2] ? argv[2] : NULL,
		   *branch = argv[3], *refname = argv[4];
	if (!url)   /* argv[1] is the URL redacted, for ps */
		return 2;
	struct fetch_reply rep = { 0 };
	struct gitcred creds = { 0 };
	if (cred_file && gitcred_load(cred_file, &creds, &rep.err) < 0) {
		rep.rc = -1;
	} else {
		_cleanup_free_ char *shown = url_redact(url);
		rep.rc = fetch(repo, url, shown, &creds, cred_file, branch, refname, rep.id, &rep.err);
	}
	gitcred_release(&creds);
	/* _exit: what libgit2 keeps (and leaks) goes with the process, unreported */
	_exit(write_all(STDOUT_FILENO, &rep, sizeof rep) ? 0 : 1);
}

void source_set_fetch_timeout(double seconds)
{
	if (seconds > 0)
		fetch_timeout_s = seconds;
}

int source_fetch(const char *repo, const char *url, const char *cred_file, const char *branch, const char *refname,
		 char ret[41], struct rc_err *err)
{
	struct gitcred creds = { 0 };
	if (cred_file && gitcred_load(cred_file, &creds, err) < 0)   /* said here, before any child runs */
		return -1;
	gitcred_release(&creds);
	_cleanup_free_ char *shown = url_redact(url);
	int rc = fetch_isolated(repo, url, shown, cred_file, branch, refname, ret, err);
	if (rc < 0)
		redact_secret_of(err->msg, url);  /* libgit2's own text may quote the URL */
	return rc;
}

int source_load_git(const char *repo, const char *rev, const char *subdir,
		    struct source_files *ret, struct rc_err *err)
{
	_cleanup_free_ char *sub = NULL;
	if (normalize_subdir(subdir, &sub, err) < 0)
		return -1;

	_cleanup_(repo_freep) git_repository *r = NULL;
	_cleanup_(object_freep) git_object *commit = NULL;
	if (open_repo(repo, &r, err) < 0 || resolve_commit(r, repo, rev, &commit, err) < 0)
		return -1;
	char id[GIT_OID_HEXSZ + 1];
	git_oid_tostr(id, sizeof(id), git_object_id(commit));

	_cleanup_(tree_freep) git_tree *root = NULL;
	if (git_commit_tree(&root, (git_commit *)commit) < 0)
		return git_errf(err, "cannot read the tree of commit %s in '%s'", id, repo);

	_cleanup_(tree_freep) git_tree *start = NULL;
	if (*sub) {
		_cleanup_(entry_freep) git_tree_entry *e = NULL;
		int rc = git_tree_entry_bypath(&e, root, sub);
		if (rc == GIT_ENOTFOUND)
			return rc_errf(err, "no path '%s' in commit %.12s of '%s'", sub, id, repo);
		if (rc < 0)
			return git_errf(err, "cannot look up '%s' in commit %.12s of '%s'", sub, id, repo);
		switch (git_tree_entry_filemode(e)) {
		case GIT_FILEMODE_TREE:
			break;
		case GIT_FILEMODE_LINK:
			return rc_errf(err, "'%s' is a symbolic link (not allowed in the manifest path)", sub);
		case GIT_FILEMODE_COMMIT:
			return rc_errf(err, "'%s' is a submodule (not allowed in the manifest path)", sub);
		default:
			return rc_errf(err, "'%s' in commit %.12s is not a directory", sub, id);
		}
		if (git_tree_lookup(&start, r, git_tree_entry_id(e)) < 0)
			return git_errf(err, "cannot read directory '%s'", sub);
	}

	_cleanup_(odb_freep) git_odb *odb = NULL;
	if (git_repository_odb(&odb, r) < 0)
		return git_errf(err, "cannot open the object database of '%s'", repo);

	struct git_walk w = { .repo = r, .odb = odb };
	if (walk_tree(&w, start ? start : root, sub, 0, err) < 0) {
		flist_release(&w.files);
		rc_err_prefix(err, "commit %.12s of '%s'", id, repo);
		return escape_err(err);
	}
	flist_finish(&w.files, ret, xstrdup(id));
	return 0;
}

/* ---- plain directory ---- */

static int read_plain_file(int dirfd, const char *name, const char *path, struct flist *l,
			   struct rc_err *err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			return rc_errf(err, "'%s' is a symbolic link (not allowed in the manifest path)", path);
		return rc_errf(err, "cannot open '%s': %s", path, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return rc_errf(err, "cannot stat '%s': %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return rc_errf(err, "'%s' is not a regular file", path);
	}
	if (check_limits(l, path, (size_t)st.st_size, err) < 0) {
		close(fd);
		return -1;
	}
	/* Read at most one byte past the limit so growth while reading is caught. */
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *data = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap > RC_SOURCE_MAX_FILE_SIZE)
				break;
			cap *= 2;
			data = xrealloc(data, cap + 1);
		}
		ssize_t r = read(fd, data + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(data);
			close(fd);
			return rc_errf(err, "cannot read '%s': %s", path, strerror(e));
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (check_limits(l, path, len, err) < 0) {
		free(data);
		return -1;
	}
	data[len] = '\0';
	flist_take(l, xstrdup(path), data, len);
	return 0;
}

static void dir_closep(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* Walk the directory open as fd (consumed); prefix is its path relative to the top. */
static int walk_dir(int fd, const char *top, const char *prefix, int depth, struct flist *l,
		    struct rc_err *err)
{
	_cleanup_(dir_closep) DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return rc_errf(err, "cannot read directory '%s%s%s': %s", top, *prefix ? "/" : "", prefix,
			       strerror(e));
	}
	if (depth > SOURCE_MAX_DEPTH)
		return rc_errf(err, "'%s' is nested more than %d directories deep", prefix, SOURCE_MAX_DEPTH);
	/* Collect names first so the walk does not depend on readdir order. */
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				rc = rc_errf(err, "cannot read directory '%s%s%s': %s", top,
					     *prefix ? "/" : "", prefix, strerror(errno));
			break;
		}
		if (is_hidden(de->d_name))
			continue;
		GROW(names, n + 1, cap);
		names[n++] = xstrdup(de->d_name);
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), strp_cmp);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		_cleanup_free_ char *path = join_path(prefix, names[i]);
		struct stat st;
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = rc_errf(err, "cannot stat '%s': %s", path, strerror(errno));
		} else if (S_ISLNK(st.st_mode)) {
			rc = rc_errf(err, "'%s' is a symbolic link (not allowed in the manifest path)", path);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				rc = rc_errf(err, "cannot open directory '%s': %s", path, strerror(errno));
			else
				rc = walk_dir(sub, top, path, depth + 1, l, err);
		} else if (is_manifest_name(names[i])) {
			rc = read_plain_file(dirfd(d), names[i], path, l, err);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int source_load_dir(const char *dir, struct source_files *ret, struct rc_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return rc_errf(err, "cannot open directory '%s': %s", dir, strerror(errno));
	struct flist l = { 0 };
	if (walk_dir(fd, dir, "", 0, &l, err) < 0) {
		flist_release(&l);
		rc_err_prefix(err, "directory '%s'", dir);
		return escape_err(err);
	}
	flist_finish(&l, ret, NULL);
	return 0;
}

void source_files_release(struct source_files *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nfiles; i++) {
		free(f->files[i].path);
		free(f->files[i].data);
	}
	free(f->files);
	free(f->commit);
	*f = (struct source_files){ 0 };
}

/* ---- build contexts (spec/manifest.md, "Building images") ---- */

int source_build_tree(const char *repo, const char *rev, const char *context, const char *dockerfile,
		      char ret[41], struct rc_err *err)
{
	_cleanup_free_ char *sub = NULL;
	if (normalize_subdir(context, &sub, err) < 0)
		return -1;
	_cleanup_(repo_freep) git_repository *r = NULL;
	_cleanup_(object_freep) git_object *commit = NULL;
	if (open_repo(repo, &r, err) < 0 || resolve_commit(r, repo, rev, &commit, err) < 0)
		return -1;
	char id[GIT_OID_HEXSZ + 1];
	git_oid_tostr(id, sizeof(id), git_object_id(commit));
	_cleanup_(tree_freep) git_tree *root = NULL;
	if (git_commit_tree(&root, (git_commit *)commit) < 0)
		return git_errf(err, "cannot read the tree of commit %s in '%s'", id, repo);
	_cleanup_(tree_freep) git_tree *ctx = NULL;
	if (*sub) {
		_cleanup_(entry_freep) git_tree_entry *e = NULL;
		int rc = git_tree_entry_bypath(&e, root, sub);
		if (rc == GIT_ENOTFOUND) {
			rc_errf(err, "no directory '%s' in commit %.12s", sub, id);
			return escape_err(err);
		}
		if (rc < 0)
			return git_errf(err, "cannot look up '%s' in commit %.12s", sub, id);
		if (git_tree_entry_filemode(e) != GIT_FILEMODE_TREE) {
			rc_errf(err, "'%s' in commit %.12s is not a directory", sub, id);
			return escape_err(err);
		}
		if (git_tree_lookup(&ctx, r, git_tree_entry_id(e)) < 0)
			return git_errf(err, "cannot read directory '%s'", sub);
	}
	const git_tree *t = ctx ? ctx : root;
	_cleanup_(entry_freep) git_tree_entry *df = NULL;
	int rc = git_tree_entry_bypath(&df, t, dockerfile);
	if (rc == GIT_ENOTFOUND) {
		rc_errf(err, "no file '%s' in directory '%s' of commit %.12s", dockerfile, *sub ? sub : ".", id);
		return escape_err(err);
	}
	if (rc < 0)
		return git_errf(err, "cannot look up '%s' in commit %.12s", dockerfile, id);
	git_filemode_t fm = git_tree_entry_filemode(df);
	if (fm != GIT_FILEMODE_BLOB && fm != GIT_FILEMODE_BLOB_EXECUTABLE) {
		rc_errf(err, "'%s' in directory '%s' of commit %.12s is not a regular file", dockerfile,
			*sub ? sub : ".", id);
		return escape_err(err);
	}
	git_oid_tostr(ret, 41, git_tree_id(t));
	return 0;
}

static int tar_too_big(const struct buf *out, struct rc_err *err)
{
	return rc_errf(err, "the build context is larger than %zu MiB (the limit)", out->max >> 20);
}

/* Append to the stream; past its cap, the "too large" error. */
static int tar_put(struct buf *out, const void *p, size_t n, struct rc_err *err)
{
	return buf_add(out, p, n) < 0 ? tar_too_big(out, err) : 0;
}

/* One ustar header: name split into prefix/name when longer than 100 bytes. */
static int tar_header(struct buf *out, const char *path, char type, unsigned mode, size_t size,
		      const char *link, struct rc_err *err)
{
	char h[512] = { 0 };
	size_t n = strlen(path);
	const char *name = path, *prefix = "";
	size_t plen = 0;
	if (n > 100) {
		const char *cut = NULL;
		for (const char *p = path; *p; p++)
			if (*p == '/' && (size_t)(p - path) <= 155 && strlen(p + 1) <= 100 && p > path) {
				cut = p;
				break;
			}
		if (!cut)
			return rc_errf(err, "path '%s' is too long for the build context (ustar: 100 + 155 bytes)", path);
		prefix = path;
		plen = (size_t)(cut - path);
		name = cut + 1;
	}
	if (link && strlen(link) > 100)
		return rc_errf(err, "symbolic link '%s' points at a target longer than 100 bytes", path);
	memcpy(h, name, strlen(name));
	snprintf(h + 100, 8, "%07o", mode);
	snprintf(h + 108, 8, "%07o", 0u);
	snprintf(h + 116, 8, "%07o", 0u);
	snprintf(h + 124, 12, "%011zo", size);
	snprintf(h + 136, 12, "%011o", 0u);
	h[156] = type;
	if (link)
		memcpy(h + 157, link, strlen(link));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memcpy(h + 345, prefix, plen);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (size_t i = 0; i < sizeof(h); i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return tar_put(out, h, sizeof(h), err);
}

struct tar_walk {
	git_repository *repo;
	git_odb *odb;
	struct buf *out;
	size_t files;
};

static int tar_tree(struct tar_walk *w, const git_tree *tree, const char *prefix, int depth, struct rc_err *err)
{
	if (depth > SOURCE_MAX_DEPTH)
		return rc_errf(err, "directory '%s' is nested deeper than %d levels", prefix, SOURCE_MAX_DEPTH);
	size_t n = git_tree_entrycount(tree);
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		_cleanup_free_ char *path = join_path(prefix, git_tree_entry_name(e));
		git_filemode_t fm = git_tree_entry_filemode(e);
		if (++w->files > RC_SOURCE_MAX_CONTEXT_FILES)
			return rc_errf(err, "the build context has more than %d entries", RC_SOURCE_MAX_CONTEXT_FILES);
		if (fm == GIT_FILEMODE_COMMIT)
			return rc_errf(err, "'%s' is a submodule (a build context cannot hold one)", path);
		if (fm == GIT_FILEMODE_TREE) {
			_cleanup_(tree_freep) git_tree *sub = NULL;
			if (git_tree_lookup(&sub, w->repo, git_tree_entry_id(e)) < 0)
				return git_errf(err, "cannot read directory '%s'", path);
			_cleanup_free_ char *dir = xasprintf("%s/", path);
			if (tar_header(w->out, dir, '5', 0755, 0, NULL, err) < 0 ||
			    tar_tree(w, sub, path, depth + 1, err) < 0)
				return -1;
			continue;
		}
		/* the header first: a blob past what is left of the cap is refused before it is inflated */
		const git_oid *oid = git_tree_entry_id(e);
		size_t size;
		git_object_t type;
		if (git_odb_read_header(&size, &type, w->odb, oid) < 0)
			return git_errf(err, "cannot read '%s'", path);
		if (w->out->max && size > w->out->max - w->out->len)
			return tar_too_big(w->out, err);
		_cleanup_(odb_object_freep) git_odb_object *o = NULL;
		if (git_odb_read(&o, w->odb, oid) < 0)
			return git_errf(err, "cannot read '%s'", path);
		size = git_odb_object_size(o);
		const char *data = git_odb_object_data(o);
		if (fm == GIT_FILEMODE_LINK) {
			_cleanup_free_ char *target = xstrndup(data, size);
			if (tar_header(w->out, path, '2', 0777, 0, target, err) < 0)
				return -1;
			continue;
		}
		unsigned mode = fm == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644;
		static const char zeros[512];
		if (tar_header(w->out, path, '0', mode, size, NULL, err) < 0 ||
		    tar_put(w->out, data, size, err) < 0 ||
		    tar_put(w->out, zeros, (512 - size % 512) % 512, err) < 0)
			return -1;
	}
	return 0;
}

int source_tree_tar(const char *repo, const char *tree_id, struct buf *out, struct rc_err *err)
{
	_cleanup_(repo_freep) git_repository *r = NULL;
	if (open_repo(repo, &r, err) < 0)
		return -1;
	git_oid oid;
	_cleanup_(tree_freep) git_tree *t = NULL;
	if (git_oid_fromstrn(&oid, tree_id, strlen(tree_id)) < 0 || git_tree_lookup(&t, r, &oid) < 0)
		return git_errf(err, "cannot read tree %.12s in '%s'", tree_id, repo);
	struct buf b;
	buf_init(&b, RC_SOURCE_MAX_CONTEXT);
	_cleanup_(odb_freep) git_odb *odb = NULL;
	if (git_repository_odb(&odb, r) < 0) {
		buf_release(&b);
		return git_errf(err, "cannot open the object database of '%s'", repo);
	}
	struct tar_walk w = { .repo = r, .odb = odb, .out = &b };
	static const char zeros[1024];
	if (tar_tree(&w, t, "", 0, err) < 0 || tar_put(&b, zeros, sizeof(zeros), err) < 0) {
		buf_release(&b);
		rc_err_prefix(err, "build context %.12s", tree_id);
		return escape_err(err);
	}
	buf_release(out);
	*out = b;
	return 0;
}
