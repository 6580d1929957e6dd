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

int bindpath_resolve(const char *root, const char *path, char **ret_resolved, struct rc_err *err)
{
	size_t rl = strlen(root);
	if (root[0] != '/' || (rl > 1 && root[rl - 1] == '/') || !plain_components(root + 1))
		return rc_errf(err, "bind root '%s' is not a clean absolute path", root);
	if (!bindpath_under(path, root))
		return rc_errf(err, "bind source '%s' is not inside bind root '%s'", path, root);
	const char *start = path + (strcmp(root, "/") == 0 ? 1 : rl + (path[rl] == '/'));
	if (!plain_components(start))
		return rc_errf(err, "bind source '%s' must be a clean absolute path (no '.', '..', '//' or trailing '/')",
			       path);

	int rootfd;
	if (open_root(root, &rootfd, err) < 0)
		return -1;
	if (rootfd < 0) {   /* nothing there to follow: the engine says it does not exist */
		*ret_resolved = xstrdup(path);
		return 0;
	}
	int rc = -1;
	char *root_real = fd_path(rootfd);
	char *rel = xstrdup(start);
	struct buf chain = BUF_INIT;   /* "'LINK' -> 'TARGET'" for every link followed by hand */
	size_t nchain = 0;
	_cleanup_free_ char *first_link = NULL;
	if (!root_real) {
		rc_errf(err, "bind root '%s': cannot read its path from /proc/self/fd", root);
		goto out;
	}
	for (int hops = 0;; hops++) {
		if (hops > BINDPATH_MAX_LINKS) {
			rc_errf(err, "bind source '%s': too many symbolic links, from '%s' on", path,
				first_link ? first_link : path);
			goto out;
		}
		int fd = open_beneath(rootfd, rel);
		if (fd >= 0) {
			rc = resolved_at(fd, path, root, root_real, ret_resolved, err);
			goto out;
		}
		int e = errno;
		size_t k = first_failing(rootfd, rel, &e);
		if (k == 0)
			continue;   /* changed under us: try again (bounded like the links) */
		size_t plen = k > 1 ? prefix_len(rel, k - 1) : 0;
		size_t clen = prefix_len(rel, k);
		const char *comp = rel + plen + (k > 1);
		char *name = xstrndup(comp, clen - plen - (k > 1));
		char *target = link_target(rootfd, rel, plen, name);
		_cleanup_free_ char *shown = xstrndup(rel, clen);
		_cleanup_free_ char *link = join(root, shown);
		free(name);
		const char *rest = rel[clen] ? rel + clen + 1 : "";

		if (target) {
			/* A link the kernel would not follow beneath the root, or whose
			 * resolution failed: follow it by hand, once, and resolve again. */
			buf_addf(&chain, "%s'%s' -> '%s'", chain.len ? ", " : "", link, target);
			if (!nchain++)
				first_link = xstrdup(link);
			char *next = follow_target(root, root_real, rel, plen, target, rest);
			free(target);
			if (!next) {
				rc_errf(err, "bind source '%s' leaves bind root '%s': symbolic link%s %s", path,
					root, nchain > 1 ? "s" : "", buf_cstr(&chain));
				goto out;
			}
			free(rel);
			rel = next;
			continue;
		}
		switch (e) {
		case ENOENT: {
			/* Missing, and not a dangling link (that was followed above).  What is
			 * left must be plain names: nothing in it may lead back up once made. */
			if (!plain_components(rest)) {
				rc_errf(err, "bind source '%s' does not exist, and what follows the missing '%s' is not "
					"plain names (symbolic link%s %s)", path, link, nchain > 1 ? "s" : "",
					buf_cstr(&chain));
				goto out;
			}
			rc = resolve_missing(rootfd, root, root_real, path, rel, plen, k, ret_resolved, err);
			goto out;
		}
		case EXDEV:
			if (chain.len)
				rc_errf(err, "bind source '%s' leaves bind root '%s': symbolic link%s %s, then '%s' is "
					"outside it", path, root, nchain > 1 ? "s" : "", buf_cstr(&chain), link);
			else
				rc_errf(err, "bind source '%s' leaves bind root '%s' at '%s'", path, root, link);
			goto out;
		case ELOOP:
			rc_errf(err, "bind source '%s': too many symbolic links at '%s'", path, link);
			goto out;
		default:
			rc_errf(err, "bind source '%s': '%s': %s", path, link, strerror(e));
			goto out;
		}
	}
out:
	close(rootfd);
	free(root_real);
	free(rel);
	buf_release(&chain);
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
