/*
 * watch.c — inotify on the directories that hold a ref, debounced, with a
 * polling fallback.  The ref, the branch HEAD points at and the directories
 * to watch are read with libgit2 through one source_refs handle (source.h);
 * nothing here parses Git's files.  See watch.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "buf.h"
#include "source.h"
#include "watch.h"

#define WATCH_MASK (IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_DELETE_SELF | \
		    IN_MOVE_SELF | IN_ONLYDIR)
#define DEBOUNCE_CAP_FACTOR 8

/* One watched directory and what in it matters. */
struct wdir {
	int wd;
	char *path;
	char *next;       /* the component of the ref path expected in it, or NULL */
	bool head_dir;    /* the git dir: HEAD counts (when following HEAD) */
	bool packed_dir;  /* the common dir: packed-refs counts */
};

struct watch {
	struct source_refs *refs; /* the repository, its git dir and common dir */
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

/* ---- ref names ---------------------------------------------------------- */

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

int watch_read_ref(const char *repo, const char *branch, char out[41], struct rc_err *err)
{
	_cleanup_free_ char *refname = NULL;
	if (branch_refname(branch, &refname, err) < 0)
		return -1;
	return source_ref_resolve(repo, refname, out, NULL, err);
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
		if (source_refs_resolve(w->refs, "HEAD", oid, &target, &ignored) < 0)
			target = NULL;
	} else {
		target = xstrdup(w->refname);
	}

	struct wdir *v = NULL;
	size_t n = 0, cap = 0;
	const char *gitdir = source_refs_gitdir(w->refs), *commondir = source_refs_commondir(w->refs);
	bool same = strcmp(gitdir, commondir) == 0;
	if (!same)
		wanted_add(&v, &n, &cap, gitdir, NULL, 0, follow_head, false);
	/* chain: commondir -> refs -> refs/heads -> ... -> parent of the leaf */
	if (target && str_startswith(target, "refs/")) {
		struct buf p = BUF_INIT;
		buf_adds(&p, commondir);
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
		wanted_add(&v, &n, &cap, commondir, NULL, 0, same && follow_head, true);
	}

	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		int wd = inotify_add_watch(w->ifd, v[i].path, WATCH_MASK);
		if (wd < 0) {
			int e = errno;
			/* the git dir and the common dir must be there; deeper ones may not yet */
			bool optional = i > 0 && strcmp(v[i].path, commondir) != 0;
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
	int r = source_refs_resolve(w->refs, w->refname, oid, NULL, &e);
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
	    source_refs_open(repo, &w->refs, err) < 0)
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
	source_refs_close(w->refs);
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
