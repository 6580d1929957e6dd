/* bindpath.c — see bindpath.h. */
#include "bindpath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"

static int openat2_fd(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how how = { .flags = flags | O_CLOEXEC, .resolve = resolve };
	long fd;
	do
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return (int)fd;
}

/* Open rel ("" = the root itself) beneath rootfd; -1 with errno set. */
static int open_beneath(int rootfd, const char *rel)
{
	return openat2_fd(rootfd, *rel ? rel : ".", O_PATH, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
}

/* The path fd was opened at, as the kernel knows it now; NULL if /proc cannot say. */
static char *fd_path(int fd)
{
	char proc[64], buf[PATH_MAX + 1];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, buf, PATH_MAX);
	if (n <= 0 || buf[0] != '/')
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

bool bindpath_under(const char *path, const char *root)
{
	if (strcmp(root, "/") == 0)
		return path[0] == '/';
	size_t n = strlen(root);
	return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Every component of s ('/'-separated, no leading '/') is a plain name: not empty, '.' or '..'. */
static bool plain_components(const char *s)
{
	if (!*s)
		return true;
	for (const char *p = s;;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!p[n])
			return true;
		p += n + 1;
	}
}

/* The length of the first k components of rel (k >= 1). */
static size_t prefix_len(const char *rel, size_t k)
{
	const char *p = rel;
	for (size_t i = 0; i < k; i++) {
		p += strcspn(p, "/");
		if (i + 1 < k && *p == '/')
			p++;
	}
	return (size_t)(p - rel);
}

static size_t count_components(const char *rel)
{
	if (!*rel)
		return 0;
	size_t n = 1;
	for (const char *p = rel; *p; p++)
		n += *p == '/';
	return n;
}

/*
 * The first prefix of rel (in components) that does not open beneath rootfd,
 * with its errno; 0 when every prefix opens (the failure came and went).
 */
static size_t first_failing(int rootfd, const char *rel, int *ret_errno)
{
	size_t n = count_components(rel);
	for (size_t k = 1; k <= n; k++) {
		char *pre = xstrndup(rel, prefix_len(rel, k));
		int fd = open_beneath(rootfd, pre);
		int e = errno;
		free(pre);
		if (fd < 0) {
			*ret_errno = e;
			return k;
		}
		close(fd);
	}
	return 0;
}

/* The target of the symbolic link rel names beneath rootfd (its parent resolved beneath
 * rootfd, itself not followed), or NULL when it is not a link. */
static char *link_target(int rootfd, const char *rel, size_t parent_len, const char *name)
{
	char *parent = xstrndup(rel, parent_len);
	int pfd = open_beneath(rootfd, parent);
	free(parent);
	if (pfd < 0)
		return NULL;
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(pfd, name, buf, PATH_MAX);
	close(pfd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

/* root + "/" + rel, for messages */
static char *join(const char *root, const char *rel)
{
	if (!*rel)
		return xstrdup(root);
	return xasprintf("%s%s%s", root, strcmp(root, "/") == 0 ? "" : "/", rel);
}

static int open_root(const char *root, int *ret_fd, struct rc_err *err)
{
	int fd = openat2_fd(AT_FDCWD, root, O_PATH | O_DIRECTORY | O_NOFOLLOW,
			    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd >= 0) {
		*ret_fd = fd;
		return 0;
	}
	int e = errno;
	if (e == ENOENT) {
		*ret_fd = -1;
		return 0;
	}
	if (e == ENOSYS)
		return rc_errf(err, "cannot resolve bind sources safely: the kernel has no openat2 (Linux 5.6 or later is needed)");
	struct stat st;
	if (e == ELOOP || (e == ENOTDIR && lstat(root, &st) == 0 && S_ISLNK(st.st_mode)))
		return rc_errf(err, "bind root '%s' is reached through a symbolic link: write its real path in "
			       "policy.bind_roots", root);
	return rc_errf(err, "bind root '%s': %s", root, strerror(e));
}

/*
 * The path to resolve next after the link whose parent is rel's first plen bytes and whose target
 * is target, rest following it: a relative target taken from the link's parent, an absolute one
 * from the root (through its path as written or its real one).  NULL when an absolute target lies
 * outside the root.
 */
static char *follow_target(const char *root, const char *root_real, const char *rel, size_t plen,
			   const char *target, const char *rest)
{
	if (target[0] == '/') {
		if (!bindpath_under(target, root) && !bindpath_under(target, root_real))
			return NULL;
		/* the rest of the target, below the root (its '..' are the kernel's to refuse) */
		const char *in = target + (bindpath_under(target, root) ? strlen(root) : strlen(root_real));
		while (*in == '/')
			in++;
		return *in && *rest ? xasprintf("%s/%s", in, rest) : xstrdup(*in ? in : rest);
	}
	_cleanup_free_ char *parent = xstrndup(rel, plen);
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s%s%s", parent, *parent ? "/" : "", target);
	if (*rest)
		buf_addf(&b, "/%s", rest);
	char *next = xstrdup(buf_cstr(&b));
	buf_release(&b);
	return next;
}

/*
 * rel's k-th component is missing (and what follows it is plain names): the resolved path is the
 * real path of its parent (the first plen bytes), which must lie under the root, and the rest as
 * written.  0 with *ret_resolved, or -1.
 */
static int resolve_missing(int rootfd, const char *root, const char *root_real, const char *path, const char *rel,
			   size_t plen, size_t k, char **ret_resolved, struct rc_err *err)
{
	_cleanup_free_ char *parent = xstrndup(rel, plen);
	int pfd = open_beneath(rootfd, parent);
	char *preal = pfd >= 0 ? fd_path(pfd) : NULL;
	if (pfd >= 0)
		close(pfd);
	if (!preal || !bindpath_under(preal, root_real)) {
		_cleanup_free_ char *pshown = join(root, parent);
		free(preal);
		return rc_errf(err, "bind source '%s': cannot resolve '%s'", path, pshown);
	}
	_cleanup_free_ char *tail = xstrndup(rel + plen + (k > 1), strlen(rel) - plen - (k > 1));
	*ret_resolved = xasprintf("%s%s%s", preal, strcmp(preal, "/") == 0 ? "" : "/", tail);
	free(preal);
	return 0;
}

/* The real path of fd (opened beneath the root; closed here), which must lie under the root.  0 with
 * *ret_resolved, or -1. */
static int resolved_at(int fd, const char *path, const char *root, const char *root_real, char **ret_resolved,
		       struct rc_err *err)
{
	char *real = fd_path(fd);
	close(fd);
	if (!real)
		return rc_errf(err, "bind source '%s': cannot read its resolved path from /proc/self/fd", path);
	if (!bindpath_under(real, root_real)) {   /* cannot happen beneath rootfd; never trust it */
		rc_errf(err, "bind source '%s' resolves to '%s', outside bind root '%s'", path, real, root);
		free(real);
		return -1;
	}
	*ret_resolved = real;
	return 0;
}

/* The part of path below root ("" = root itself), once root is a clean absolute path and path a
 * clean one inside it; NULL with err set otherwise.  Text only: nothing is looked up. */
static const char *below_root(const char *root, const char *path, struct rc_err *err)
{
	size_t rl = strlen(root);
	if (root[0] != '/' || (rl > 1 && root[rl - 1] == '/') || !plain_components(root + 1)) {
		rc_errf(err, "bind root '%s' is not a clean absolute path", root);
		return NULL;
	}
	if (!bindpath_under(path, root)) {
		rc_errf(err, "bind source '%s' is not inside bind root '%s'", path, root);
		return NULL;
	}
	const char *start = path + (strcmp(root, "/") == 0 ? 1 : rl + (path[rl] == '/'));
	if (!plain_components(start)) {
		rc_errf(err, "bind source '%s' must be a clean absolute path (no '.', '..', '//' or trailing '/')",
			path);
		return NULL;
	}
	return start;
}

/* One walk of a bind source beneath its opened root: what bindpath_resolve() carries from hop to hop. */
struct walk {
	const char *root, *path;   /* as given, for messages */
	int rootfd;
	const char *root_real;     /* the root's real path (fd_path()) */
	char *rel;                 /* what to open next, below the root */
	struct buf chain;          /* "'LINK' -> 'TARGET'" for every link followed by hand */
	size_t nchain;
	char *first_link;          /* the first of them, for "too many" */
};

/* Where opening w->rel stopped: at its k-th component, whose parent is its first plen bytes. */
struct walk_stop {
	size_t k, plen;
	const char *link;   /* the root joined with the first k components, for messages */
	const char *rest;   /* the components after the k-th ("": none), inside w->rel */
	int e;              /* the errno of opening the first k components */
};

/* Follow the link where the walk stopped (its target: target) by hand, once: w->rel becomes what to
 * open next.  0, or -1 when an absolute target lies outside the root. */
static int walk_follow(struct walk *w, const struct walk_stop *s, const char *target, struct rc_err *err)
{
	buf_addf(&w->chain, "%s'%s' -> '%s'", w->chain.len ? ", " : "", s->link, target);
	if (!w->nchain++)
		w->first_link = xstrdup(s->link);
	char *next = follow_target(w->root, w->root_real, w->rel, s->plen, target, s->rest);
	if (!next)
		return rc_errf(err, "bind source '%s' leaves bind root '%s': symbolic link%s %s", w->path, w->root,
			       w->nchain > 1 ? "s" : "", buf_cstr(&w->chain));
	free(w->rel);
	w->rel = next;
	return 0;
}

/* The end of a walk stopped where no link is: a missing component resolves (resolve_missing()),
 * any other failure is refused, naming where.  0 with *ret_resolved, or -1. */
static int walk_stopped(const struct walk *w, const struct walk_stop *s, char **ret_resolved, struct rc_err *err)
{
	const char *links = w->nchain > 1 ? "s" : "";
	switch (s->e) {
	case ENOENT:
		/* Missing, and not a dangling link (that was followed).  What is left
		 * must be plain names: nothing in it may lead back up once made. */
		if (!plain_components(s->rest))
			return rc_errf(err, "bind source '%s' does not exist, and what follows the missing '%s' is not "
				       "plain names (symbolic link%s %s)", w->path, s->link, links, buf_cstr(&w->chain));
		return resolve_missing(w->rootfd, w->root, w->root_real, w->path, w->rel, s->plen, s->k, ret_resolved,
				       err);
	case EXDEV:
		if (w->chain.len)
			return rc_errf(err, "bind source '%s' leaves bind root '%s': symbolic link%s %s, then '%s' is "
				       "outside it", w->path, w->root, links, buf_cstr(&w->chain), s->link);
		return rc_errf(err, "bind source '%s' leaves bind root '%s' at '%s'", w->path, w->root, s->link);
	case ELOOP:
		return rc_errf(err, "bind source '%s': too many symbolic links at '%s'", w->path, s->link);
	default:
		return rc_errf(err, "bind source '%s': '%s': %s", w->path, s->link, strerror(s->e));
	}
}

/* One hop of the walk: open w->rel beneath the root; where that fails, find the component that
 * stops it and follow the link there, or end.  0 resolved (*ret_resolved), -1 refused, 1 go again
 * (a link was followed, or the tree changed under the walk). */
static int walk_hop(struct walk *w, char **ret_resolved, struct rc_err *err)
{
	int fd = open_beneath(w->rootfd, w->rel);
	if (fd >= 0)
		return resolved_at(fd, w->path, w->root, w->root_real, ret_resolved, err);
	int e = errno;
	size_t k = first_failing(w->rootfd, w->rel, &e);
	if (k == 0)
		return 1;   /* changed under us: try again (bounded like the links) */
	size_t plen = k > 1 ? prefix_len(w->rel, k - 1) : 0;
	size_t clen = prefix_len(w->rel, k);
	_cleanup_free_ char *name = xstrndup(w->rel + plen + (k > 1), clen - plen - (k > 1));
	_cleanup_free_ char *target = link_target(w->rootfd, w->rel, plen, name);
	_cleanup_free_ char *shown = xstrndup(w->rel, clen);
	_cleanup_free_ char *link = join(w->root, shown);
	const struct walk_stop s = { k, plen, link, w->rel[clen] ? w->rel + clen + 1 : "", e };
	if (!target)
		return walk_stopped(w, &s, ret_resolved, err);
	/* A link the kernel would not follow beneath the root, or whose
	 * resolution failed: follow it by hand, once, and resolve again. */
	return walk_follow(w, &s, target, err) < 0 ? -1 : 1;
}

/* Walk w->rel beneath the root, following at most BINDPATH_MAX_LINKS links by hand.  0 with
 * *ret_resolved, or -1. */
static int walk_all(struct walk *w, char **ret_resolved, struct rc_err *err)
{
	for (int hops = 0; hops <= BINDPATH_MAX_LINKS; hops++) {
		int r = walk_hop(w, ret_resolved, err);
		if (r <= 0)
			return r;
	}
	return rc_errf(err, "bind source '%s': too many symbolic links, from '%s' on", w->path,
		       w->first_link ? w->first_link : w->path);
}

int bindpath_resolve(const char *root, const char *path, char **ret_resolved, struct rc_err *err)
{
	const char *start = below_root(root, path, err);
	if (!start)
		return -1;
	int rootfd = -1;  /* (open_root() sets it unless it fails) */
	if (open_root(root, &rootfd, err) < 0)
		return -1;
	if (rootfd < 0) {   /* nothing there to follow: the engine says it does not exist */
		*ret_resolved = xstrdup(path);
		return 0;
	}
	_cleanup_free_ char *root_real = fd_path(rootfd);
	int rc = -1;
	if (!root_real) {
		rc_errf(err, "bind root '%s': cannot read its path from /proc/self/fd", root);
	} else {
		struct walk w = { .root = root, .path = path, .rootfd = rootfd, .root_real = root_real,
				  .rel = xstrdup(start), .chain = BUF_INIT };
		rc = walk_all(&w, ret_resolved, err);
		free(w.rel);
		free(w.first_link);
		buf_release(&w.chain);
	}
	close(rootfd);
	return rc;
}

const char *bindpath_root_of(char *const *roots, size_t nroots, const char *path)
{
	const char *root = NULL;
	for (size_t i = 0; i < nroots; i++)
		if (path[0] == '/' && bindpath_under(path, roots[i]) && (!root || strlen(roots[i]) < strlen(root)))
			root = roots[i];
	return root;
}
