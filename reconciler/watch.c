/*
 * watch.c — inotify on the directories that hold a ref, debounced, with a
 * polling fallback that reads refs as plain files.  See watch.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "buf.h"
#include "watch.h"

#define WATCH_MASK (IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_DELETE_SELF | \
		    IN_MOVE_SELF | IN_ONLYDIR)
#define SYMREF_DEPTH 5
#define LOOSE_MAX 4096
#define DEBOUNCE_CAP_FACTOR 8

/* Where a repository keeps HEAD (gitdir) and refs/ + packed-refs (commondir). */
struct repo_dirs {
	char *gitdir;
	char *commondir;
};

static void repo_dirs_release(struct repo_dirs *d)
{
	free(d->gitdir);
	free(d->commondir);
	d->gitdir = d->commondir = NULL;
}

/* One watched directory and what in it matters. */
struct wdir {
	int wd;
	char *path;
	char *next;       /* the component of the ref path expected in it, or NULL */
	bool head_dir;    /* the git dir: HEAD counts (when following HEAD) */
	bool packed_dir;  /* the common dir: packed-refs counts */
};

struct watch {
	struct repo_dirs dirs;
	char *refname;            /* "HEAD" or "refs/..." */
	struct watch_opts opts;
	int ifd;                  /* inotify, -1 when polling only */
	int tfd;                  /* timerfd: next internal deadline */
	int efd;                  /* epoll over ifd and tfd: watch_fd() */
	struct wdir *w;
	size_t nw, capw;
	bool pending;             /* relevant events seen, debounce running */
	int64_t first_ms, last_ms;
	int64_t next_poll_ms;     /* -1: no polling */
	char seen[48];            /* last value: 40 hex, "-" absent, "?" unreadable */
};

/* ---- ref names and repository layout ------------------------------------ */

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool looks_like_gitdir(const char *d)
{
	_cleanup_free_ char *head = xasprintf("%s/HEAD", d);
	_cleanup_free_ char *refs = xasprintf("%s/refs", d);
	_cleanup_free_ char *common = xasprintf("%s/commondir", d);
	return is_file(head) && (is_dir(refs) || is_file(common));
}

/* Read a small file, strip trailing whitespace. */
static int read_small_trimmed(const char *path, char **ret, struct rc_err *err)
{
	char *data = NULL;
	size_t len;
	if (read_file(path, LOOSE_MAX, &data, &len, err) < 0)
		return -1;
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' ||
			   data[len - 1] == ' ' || data[len - 1] == '\t'))
		data[--len] = '\0';
	*ret = data;
	return 0;
}

/* dir + "/" + rel, unless rel is absolute. */
static char *path_join_rel(const char *dir, const char *rel)
{
	if (rel[0] == '/')
		return xstrdup(rel);
	return xasprintf("%s/%s", dir, rel);
}

static char *dirname_of(const char *p)
{
	const char *s = strrchr(p, '/');
	if (!s)
		return xstrdup(".");
	if (s == p)
		return xstrdup("/");
	return xstrndup(p, (size_t)(s - p));
}

static int canonical(const char *p, char **ret, struct rc_err *err)
{
	char *r = realpath(p, NULL);
	if (!r)
		return rc_errf(err, "cannot resolve '%s': %s", p, strerror(errno));
	*ret = r;
	return 0;
}

static int find_dirs(const char *repo, struct repo_dirs *ret, struct rc_err *err)
{
	_cleanup_free_ char *dotgit = xasprintf("%s/.git", repo);
	_cleanup_free_ char *gd = NULL;
	struct stat st;

	if (stat(dotgit, &st) == 0 && S_ISDIR(st.st_mode)) {
		gd = TAKE_PTR(dotgit);
	} else if (stat(dotgit, &st) == 0 && S_ISREG(st.st_mode)) {
		/* linked work tree / submodule: "gitdir: <path>" */
		_cleanup_free_ char *c = NULL;
		if (read_small_trimmed(dotgit, &c, err) < 0)
			return -1;
		if (!str_startswith(c, "gitdir:"))
			return rc_errf(err, "'%s' is not a gitdir file", dotgit);
		const char *t = c + strlen("gitdir:");
		while (*t == ' ')
			t++;
		_cleanup_free_ char *base = dirname_of(dotgit);
		gd = path_join_rel(base, t);
	} else if (looks_like_gitdir(repo)) {
		gd = xstrdup(repo);
	} else {
		return rc_errf(err, "'%s' is not a git repository", repo);
	}
	if (!looks_like_gitdir(gd))
		return rc_errf(err, "'%s' is not a git directory", gd);

	_cleanup_free_ char *gitdir = NULL, *commondir = NULL;
	if (canonical(gd, &gitdir, err) < 0)
		return -1;
	_cleanup_free_ char *cfile = xasprintf("%s/commondir", gitdir);
	if (is_file(cfile)) {
		_cleanup_free_ char *c = NULL, *cd = NULL;
		if (read_small_trimmed(cfile, &c, err) < 0)
			return -1;
		cd = path_join_rel(gitdir, c);
		if (canonical(cd, &commondir, err) < 0)
			return -1;
	} else {
		commondir = xstrdup(gitdir);
	}
	ret->gitdir = TAKE_PTR(gitdir);
	ret->commondir = TAKE_PTR(commondir);
	return 0;
}

/* A conservative subset of git-check-ref-format, enough to build safe paths. */
static bool refname_ok(const char *r)
{
	if (strcmp(r, "HEAD") == 0)
		return true;
	if (!str_startswith(r, "refs/") || str_endswith(r, "/") || str_endswith(r, ".") ||
	    strstr(r, "..") || strstr(r, "@{") || strstr(r, "//"))
		return false;
	for (const char *p = r; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20 || ch == 0x7f || strchr(" ~^:?*[\\", ch))
			return false;
		if ((p == r || p[-1] == '/') && ch == '.')
			return false;
	}
	/* no component may end in ".lock" */
	const char *s = r;
	for (;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n >= 5 && memcmp(s + n - 5, ".lock", 5) == 0)
			return false;
		if (!e)
			break;
		s = e + 1;
	}
	return true;
}

static int branch_refname(const char *branch, char **ret, struct rc_err *err)
{
	char *r;
	if (!branch || strcmp(branch, "HEAD") == 0)
		r = xstrdup("HEAD");
	else if (str_startswith(branch, "refs/"))
		r = xstrdup(branch);
	else
		r = xasprintf("refs/heads/%s", branch);
	if (!refname_ok(r) || (branch && !*branch)) {
		free(r);
		return rc_errf(err, "invalid branch name '%s'", branch ? branch : "");
	}
	*ret = r;
	return 0;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

static void copy_oid(char out[41], const char *hex)
{
	for (int i = 0; i < 40; i++) {
		char c = hex[i];
		out[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
	}
	out[40] = '\0';
}

/* An object id at the start of s, ending at end of string or whitespace. */
static int parse_oid(const char *s, const char *what, char out[41], struct rc_err *err)
{
	size_t n = strcspn(s, " \t\r\n");
	if (n == 40 && all_hex(s, 40)) {
		copy_oid(out, s);
		return 0;
	}
	if (n == 64 && all_hex(s, 64))
		return rc_errf(err, "'%s': sha256 repositories are not supported", what);
	return rc_errf(err, "'%s': malformed ref", what);
}

/*
 * Read the loose ref file: 1 and *ret_content (trimmed), 0 absent, -1 error.
 * A directory or a missing parent counts as absent.
 */
static int read_loose(const struct repo_dirs *d, const char *refname, char **ret_content,
		      struct rc_err *err)
{
	const char *base = str_startswith(refname, "refs/") ? d->commondir : d->gitdir;
	_cleanup_free_ char *path = xasprintf("%s/%s", base, refname);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return rc_errf(err, "cannot open '%s': %s", path, strerror(errno));
	}
	char buf[LOOSE_MAX + 1];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, LOOSE_MAX - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			if (e == EISDIR)
				return 0;
			return rc_errf(err, "cannot read '%s': %s", path, strerror(e));
		}
		if (r == 0 || (len += (size_t)r) == LOOSE_MAX)
			break;
	}
	close(fd);
	if (len == LOOSE_MAX)
		return rc_errf(err, "'%s': malformed ref", path);
	buf[len] = '\0';
	while (len > 0 && strchr(" \t\r\n", buf[len - 1]))
		buf[--len] = '\0';
	*ret_content = xstrdup(buf);
	return 1;
}

/* Look refname up in packed-refs: 1 found, 0 absent, -1 error. */
static int read_packed(const struct repo_dirs *d, const char *refname, char out[41],
		       struct rc_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/packed-refs", d->commondir);
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		return rc_errf(err, "cannot open '%s': %s", path, strerror(errno));
	}
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	size_t rlen = strlen(refname);
	int found = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (line[0] == '#' || line[0] == '^' || n == 0)
			continue;
		char *sp = strchr(line, ' ');
		if (!sp || strlen(sp + 1) != rlen || memcmp(sp + 1, refname, rlen) != 0)
			continue;
		*sp = '\0';
		found = parse_oid(line, path, out, err) < 0 ? -1 : 1;
		break;
	}
	if (found == 0 && ferror(f))
		found = rc_errf(err, "cannot read '%s': %s", path, strerror(errno));
	fclose(f);
	return found;
}

/*
 * Resolve refname: 1 found (out), 0 absent, -1 error.  *ret_target (if not
 * NULL) gets the last ref name reached after following symbolic refs (the
 * ref a commit would move), also when absent.
 */
static int resolve(const struct repo_dirs *d, const char *refname, char out[41],
		   char **ret_target, struct rc_err *err)
{
	_cleanup_free_ char *cur = xstrdup(refname);
	for (int depth = 0;; depth++) {
		_cleanup_free_ char *content = NULL;
		int r = read_loose(d, cur, &content, err);
		if (r < 0)
			return -1;
		if (r > 0 && str_startswith(content, "ref:")) {
			if (depth >= SYMREF_DEPTH)
				return rc_errf(err, "'%s': too many levels of symbolic refs", refname);
			const char *t = content + 4;
			while (*t == ' ' || *t == '\t')
				t++;
			if (!refname_ok(t))
				return rc_errf(err, "'%s': invalid symbolic ref target '%s'", cur, t);
			free(cur);
			cur = xstrdup(t);
			continue;
		}
		char oid[41];
		if (r > 0) {
			_cleanup_free_ char *what = xasprintf("%s/%s",
				str_startswith(cur, "refs/") ? d->commondir : d->gitdir, cur);
			if (parse_oid(content, what, oid, err) < 0)
				return -1;
		} else if (str_startswith(cur, "refs/")) {
			r = read_packed(d, cur, oid, err);
			if (r < 0)
				return -1;
		}
		if (ret_target)
			*ret_target = TAKE_PTR(cur);
		if (r == 0) {
			out[0] = '\0';
			return 0;
		}
		memcpy(out, oid, 41);
		return 1;
	}
}

int watch_read_ref(const char *repo, const char *branch, char out[41], struct rc_err *err)
{
	struct repo_dirs d = { 0 };
	_cleanup_free_ char *refname = NULL;
	if (branch_refname(branch, &refname, err) < 0)
		return -1;
	if (find_dirs(repo, &d, err) < 0)
		return -1;
	char oid[41];
	int r = resolve(&d, refname, oid, NULL, err);
	repo_dirs_release(&d);
	if (r >= 0)
		memcpy(out, oid, 41);
	return r;
}

/* ---- the watch ---------------------------------------------------------- */

static void wdirs_clear(struct wdir *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].next);
	}
}

static void wanted_add(struct wdir **v, size_t *n, size_t *cap, const char *path,
		       const char *next, size_t nextlen, bool head, bool packed)
{
	GROW(*v, *n + 1, *cap);
	(*v)[*n] = (struct wdir){
		.wd = -1,
		.path = xstrdup(path),
		.next = next ? xstrndup(next, nextlen) : NULL,
		.head_dir = head,
		.packed_dir = packed,
	};
	(*n)++;
}

/*
 * (Re-)establish the watches: the git dir, the common dir and the directories
 * on the way to the ref's leaf that exist now.  Watches no longer wanted are
 * removed.  On failure returns -1 with *ret_errno set (ENOSPC etc. let the
 * caller fall back to polling).
 */
static int rewatch(struct watch *w, int *ret_errno, struct rc_err *err)
{
	bool follow_head = strcmp(w->refname, "HEAD") == 0;
	_cleanup_free_ char *target = NULL;
	if (follow_head) {
		char oid[41];
		struct rc_err ignored;
		/* A broken HEAD still gets the git dir watched; the poller reports it. */
		if (resolve(&w->dirs, "HEAD", oid, &target, &ignored) < 0)
			target = NULL;
	} else {
		target = xstrdup(w->refname);
	}

	struct wdir *v = NULL;
	size_t n = 0, cap = 0;
	bool same = strcmp(w->dirs.gitdir, w->dirs.commondir) == 0;
	if (!same)
		wanted_add(&v, &n, &cap, w->dirs.gitdir, NULL, 0, follow_head, false);
	/* chain: commondir -> refs -> refs/heads -> ... -> parent of the leaf */
	if (target && str_startswith(target, "refs/")) {
		struct buf p = BUF_INIT;
		buf_adds(&p, w->dirs.commondir);
		const char *s = target;
		bool first = true;
		for (;;) {
			const char *e = strchr(s, '/');
			size_t len = e ? (size_t)(e - s) : strlen(s);
			wanted_add(&v, &n, &cap, p.data, s, len, first && same && follow_head,
				   first);
			if (!e)
				break;
			buf_addc(&p, '/');
			buf_add(&p, s, len);
			s = e + 1;
			first = false;
		}
		buf_release(&p);
	} else {
		wanted_add(&v, &n, &cap, w->dirs.commondir, NULL, 0, same && follow_head, true);
	}

	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		int wd = inotify_add_watch(w->ifd, v[i].path, WATCH_MASK);
		if (wd < 0) {
			int e = errno;
			/* the git dir and the common dir must be there; deeper ones may not yet */
			bool optional = i > 0 && strcmp(v[i].path, w->dirs.commondir) != 0;
			if (optional && (e == ENOENT || e == ENOTDIR)) {
				wdirs_clear(v + i, n - i);
				n = i;
				break;
			}
			*ret_errno = e;
			rc = rc_errf(err, "cannot watch '%s': %s", v[i].path, strerror(e));
			wdirs_clear(v + i, n - i);
			n = i;
			break;
		}
		v[i].wd = wd;
	}
	/* drop watches that are no longer wanted (their IN_IGNORED is then unknown) */
	for (size_t i = 0; i < w->nw; i++) {
		bool keep = false;
		for (size_t j = 0; j < n && !keep; j++)
			keep = v[j].wd == w->w[i].wd;
		if (!keep && w->w[i].wd >= 0)
			inotify_rm_watch(w->ifd, w->w[i].wd);
	}
	wdirs_clear(w->w, w->nw);
	free(w->w);
	w->w = v;
	w->nw = n;
	w->capw = cap;
	log_debug("watch: %zu directories watched for '%s'", n, w->refname);
	return rc;
}

/* When watch_wait() next has something to do (debounce end, poll); -1: never. */
static int64_t next_deadline(const struct watch *w)
{
	int64_t next = -1;
	if (w->pending) {
		int64_t a = w->last_ms + w->opts.debounce_ms;
		int64_t b = w->first_ms + (int64_t)w->opts.debounce_ms * DEBOUNCE_CAP_FACTOR;
		next = a < b ? a : b;
	}
	if (w->next_poll_ms >= 0 && (next < 0 || w->next_poll_ms < next))
		next = w->next_poll_ms;
	return next;
}

static void arm_timer(struct watch *w)
{
	int64_t next = next_deadline(w);
	struct itimerspec its = { 0 };
	if (next >= 0) {
		int64_t ns = next * NS_PER_MS;
		if (ns <= 0)
			ns = 1;
		its.it_value.tv_sec = ns / NS_PER_S;
		its.it_value.tv_nsec = ns % NS_PER_S;
	}
	/* cannot fail with valid arguments; a failure would only cost a wakeup */
	(void)timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Re-read the ref; true if it differs from the last value seen. */
static bool refresh_seen(struct watch *w)
{
	char oid[41], now[48];
	struct rc_err e;
	int r = resolve(&w->dirs, w->refname, oid, NULL, &e);
	if (r > 0)
		snprintf(now, sizeof(now), "%s", oid);
	else if (r == 0)
		snprintf(now, sizeof(now), "-");
	else {
		log_debug("watch: %s", e.msg);
		snprintf(now, sizeof(now), "?");
	}
	bool changed = strcmp(now, w->seen) != 0;
	memcpy(w->seen, now, sizeof(now));
	return changed;
}

static void stop_inotify(struct watch *w)
{
	if (w->ifd < 0)
		return;
	epoll_ctl(w->efd, EPOLL_CTL_DEL, w->ifd, NULL);
	close(w->ifd);
	w->ifd = -1;
	wdirs_clear(w->w, w->nw);
	w->nw = 0;
	if (w->opts.poll_interval_ms == 0)
		w->opts.poll_interval_ms = WATCH_POLL_MS_DEFAULT;
	w->next_poll_ms = now_ms() + w->opts.poll_interval_ms;
}

static bool limit_errno(int e)
{
	return e == ENOSPC || e == ENOMEM || e == EMFILE || e == ENFILE;
}

static struct wdir *wdir_by_wd(struct watch *w, int wd)
{
	for (size_t i = 0; i < w->nw; i++)
		if (w->w[i].wd == wd)
			return &w->w[i];
	return NULL;
}

/* Is this event one that may move the ref? */
static bool event_relevant(struct watch *w, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		log_debug("watch: inotify queue overflow");
		return true;
	}
	struct wdir *d = wdir_by_wd(w, ev->wd);
	if (!d)
		return false;  /* a watch we removed */
	if (ev->mask & IN_IGNORED) {
		d->wd = -1;    /* the kernel dropped it (directory gone) */
		return true;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
		return true;
	if (ev->len == 0 || !ev->name[0])
		return false;
	const char *name = ev->name;
	if (str_endswith(name, ".lock") || str_endswith(name, ".new"))
		return false;
	if (d->head_dir && strcmp(name, "HEAD") == 0)
		return true;
	if (d->packed_dir && strcmp(name, "packed-refs") == 0)
		return true;
	return d->next && strcmp(name, d->next) == 0;
}

/* Read every queued event; -1 only on a real error. */
static int drain_inotify(struct watch *w, struct rc_err *err)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	for (;;) {
		ssize_t n = read(w->ifd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return rc_errf(err, "cannot read inotify events: %s", strerror(errno));
		}
		if (n == 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
			if (event_relevant(w, ev)) {
				log_debug("watch: event 0x%x '%s'", (unsigned)ev->mask,
					  ev->len ? ev->name : "");
				relevant = true;
			}
			p += sizeof(struct inotify_event) + ev->len;
		}
	}
	if (!relevant)
		return 0;
	int e = 0;
	struct rc_err rerr;
	if (rewatch(w, &e, &rerr) < 0) {
		if (!limit_errno(e)) {
			if (err)
				*err = rerr;
			return -1;
		}
		log_debug("watch: %s; falling back to polling", rerr.msg);
		stop_inotify(w);
	}
	int64_t now = now_ms();
	if (!w->pending) {
		w->pending = true;
		w->first_ms = now;
	}
	w->last_ms = now;
	return 0;
}

int watch_open(const char *repo, const char *branch, const struct watch_opts *opts,
	       struct watch **ret_w, struct rc_err *err)
{
	struct watch_opts o = WATCH_OPTS_DEFAULT;
	if (opts)
		o = *opts;
	if (o.debounce_ms < 0 || o.poll_interval_ms < 0)
		return rc_errf(err, "negative debounce or poll interval");
	if (!o.inotify && o.poll_interval_ms == 0)
		return rc_errf(err, "polling only needs a poll interval");

	struct watch *w = xcalloc(1, sizeof(*w));
	w->ifd = w->tfd = w->efd = -1;
	w->opts = o;
	if (branch_refname(branch, &w->refname, err) < 0 ||
	    find_dirs(repo, &w->dirs, err) < 0)
		goto fail;

	w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->tfd < 0) {
		rc_errf(err, "cannot create timerfd: %s", strerror(errno));
		goto fail;
	}
	w->efd = epoll_create1(EPOLL_CLOEXEC);
	if (w->efd < 0) {
		rc_errf(err, "cannot create epoll fd: %s", strerror(errno));
		goto fail;
	}
	struct epoll_event ee = { .events = EPOLLIN, .data.fd = w->tfd };
	if (epoll_ctl(w->efd, EPOLL_CTL_ADD, w->tfd, &ee) < 0) {
		rc_errf(err, "cannot add timerfd to epoll: %s", strerror(errno));
		goto fail;
	}

	if (o.inotify) {
		w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (w->ifd < 0) {
			log_debug("watch: inotify_init1: %s; polling instead", strerror(errno));
		} else {
			ee = (struct epoll_event){ .events = EPOLLIN, .data.fd = w->ifd };
			if (epoll_ctl(w->efd, EPOLL_CTL_ADD, w->ifd, &ee) < 0) {
				rc_errf(err, "cannot add inotify fd to epoll: %s", strerror(errno));
				goto fail;
			}
			int e = 0;
			struct rc_err rerr;
			if (rewatch(w, &e, &rerr) < 0) {
				if (!limit_errno(e)) {
					if (err)
						*err = rerr;
					goto fail;
				}
				log_debug("watch: %s; polling instead", rerr.msg);
				stop_inotify(w);
			}
		}
	}
	if (w->ifd < 0 && w->opts.poll_interval_ms == 0)
		w->opts.poll_interval_ms = WATCH_POLL_MS_DEFAULT;
	w->next_poll_ms = w->opts.poll_interval_ms > 0 ? now_ms() + w->opts.poll_interval_ms : -1;
	snprintf(w->seen, sizeof(w->seen), "!");  /* nothing seen yet */
	refresh_seen(w);
	arm_timer(w);
	*ret_w = w;
	return 0;
fail:
	watch_close(w);
	return -1;
}

void watch_close(struct watch *w)
{
	if (!w)
		return;
	if (w->ifd >= 0)
		close(w->ifd);
	if (w->tfd >= 0)
		close(w->tfd);
	if (w->efd >= 0)
		close(w->efd);
	wdirs_clear(w->w, w->nw);
	free(w->w);
	repo_dirs_release(&w->dirs);
	free(w->refname);
	free(w);
}

int watch_fd(const struct watch *w)
{
	return w->efd;
}

bool watch_uses_inotify(const struct watch *w)
{
	return w->ifd >= 0;
}

int watch_wait(struct watch *w, int timeout_ms, struct rc_err *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	for (;;) {
		uint64_t ticks;
		while (read(w->tfd, &ticks, sizeof(ticks)) < 0 && errno == EINTR)
			;
		if (w->ifd >= 0 && drain_inotify(w, err) < 0)
			return -1;

		int64_t now = now_ms();
		if (w->pending &&
		    (now - w->last_ms >= w->opts.debounce_ms ||
		     now - w->first_ms >= (int64_t)w->opts.debounce_ms * DEBOUNCE_CAP_FACTOR)) {
			w->pending = false;
			refresh_seen(w);
			if (w->next_poll_ms >= 0)
				w->next_poll_ms = now + w->opts.poll_interval_ms;
			arm_timer(w);
			return 1;
		}
		if (w->next_poll_ms >= 0 && now >= w->next_poll_ms) {
			w->next_poll_ms = now + w->opts.poll_interval_ms;
			if (refresh_seen(w)) {
				log_debug("watch: poll saw '%s' move", w->refname);
				arm_timer(w);
				return 1;
			}
		}
		arm_timer(w);
		if (deadline >= 0 && now >= deadline)
			return 0;

		int64_t wait = -1, next = next_deadline(w);
		if (next >= 0)
			wait = next - now;
		if (deadline >= 0 && (wait < 0 || deadline - now < wait))
			wait = deadline - now;
		if (wait > INT_MAX)
			wait = INT_MAX;
		if (wait < -1 || (wait < 0 && (next >= 0 || deadline >= 0)))
			wait = 0;
		struct epoll_event ev[4];
		int r = epoll_wait(w->efd, ev, (int)ARRAY_SIZE(ev), (int)wait);
		if (r < 0 && errno != EINTR)
			return rc_errf(err, "cannot wait for events: %s", strerror(errno));
	}
}
