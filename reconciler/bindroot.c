/*
 * bindroot.c — a bind root's owner and mode.  See bindroot.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindpath.h"
#include "bindroot.h"
#include "strmap.h"

int bindroot_check(const char *root, struct rc_err *err)
{
	struct stat sb;
	if (lstat(root, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		return rc_errf(err, "bind root '%s': %s", root, strerror(errno));
	}
	if (!S_ISDIR(sb.st_mode))
		return 0;
	unsigned mode = (unsigned)(sb.st_mode & 07777);
	if (sb.st_uid != 0 && sb.st_uid != geteuid())
		return rc_errf(err, "bind root '%s' is owned by uid %u, not root or the uid reconciler runs as (uid %u): "
				    "its owner could swap a directory below it for a symbolic link between the check and the "
				    "mount: chown %u %s", root, (unsigned)sb.st_uid, (unsigned)geteuid(),
			       (unsigned)geteuid(), root);
	if (sb.st_mode & (S_IWGRP | S_IWOTH))
		return rc_errf(err, "bind root '%s' is writable by group or others (mode %04o): chmod go-w %s", root,
			       mode, root);
	if (sb.st_mode & S_IXOTH)
		return rc_errf(err, "bind root '%s' can be entered by every user (mode %04o): a container writes below it "
				    "as the host's root (a setuid program, a device node), which any local user could then "
				    "run or open: chmod o-rwx %s", root, mode, root);
	return 0;
}

/* Real paths of bind sources, each resolved once (NULL: it does not resolve). */
struct bindroot_reals {
	const struct rc_desired *d;
	struct strmap *by_source;   /* source -> index + 1 into v */
	char **v;
	size_t n, cap;
};

static const char *real_of(struct bindroot_reals *r, const char *source)
{
	uintptr_t i = (uintptr_t)strmap_get(r->by_source, source);
	if (i)
		return r->v[i - 1];
	const char *root = bindpath_root_of(r->d->settings.bind_roots, r->d->settings.nbind_roots, source);
	char *real = NULL;
	struct rc_err ignored = { 0 };
	if (root && bindpath_resolve(root, source, &real, &ignored) < 0)
		real = NULL;
	GROW(r->v, r->n + 1, r->cap);
	r->v[r->n++] = real;
	strmap_add(r->by_source, source, (void *)(uintptr_t)r->n);
	return real;
}

/* The nearest strict ancestor of path (absolute, clean) that set holds: its value, or NULL. */
static void *ancestor_in(const struct strmap *set, const char *path)
{
	for (size_t len = strlen(path); len > 1;) {
		while (len > 0 && path[len - 1] != '/')
			len--;
		if (len <= 1)
			return NULL;
		len--;
		void *v = strmap_getn(set, path, len);
		if (v)
			return v;
	}
	return NULL;
}

/* A writable bind: who mounts it, as written, and its real path. */
struct wbind {
	const struct rc_unit *unit;
	const char *source, *real;
};

/* "'path'", or "'path' (really 'real')" when a link made them differ; malloc'ed. */
static char *as_written(const char *path, const char *real)
{
	return strcmp(path, real) == 0 ? xasprintf("'%s'", path) : xasprintf("'%s' (really '%s')", path, real);
}

/* below (a source of unit `who`) lies under the writable source w. */
static int nesting_error(struct rc_err *err, const char *src, const char *real, const char *who, const struct wbind *w,
			 bool u_is_writer)
{
	_cleanup_free_ char *a = as_written(src, real);
	_cleanup_free_ char *b = as_written(w->source, w->real);
	if (u_is_writer)
		return rc_errf(err, "bind source %s is mounted writable above %s, which unit '%s' mounts: this container "
				    "could swap a directory on the way for a symbolic link, which the engine follows when "
				    "it mounts '%s' again; give each mount its own directory", b, a, who, real);
	return rc_errf(err, "bind source %s lies below %s, which unit '%s' mounts writable: that container could swap "
			    "a directory on the way for a symbolic link, which the engine follows when it mounts '%s' "
			    "again; give each mount its own directory", a, b, w->unit->id, real);
}

static int check_nesting(struct bindroot_reals *r, const struct rc_desired *d, const struct rc_unit *u, struct rc_err *err)
{
	_cleanup_(strmap_freep) struct strmap *rw = strmap_new();      /* real -> struct wbind * (any unit) */
	_cleanup_(strmap_freep) struct strmap *own_rw = strmap_new();  /* real -> struct wbind * (u's) */
	size_t nw = 0;
	for (size_t i = 0; i < d->nunits; i++)
		for (size_t j = 0; j < d->units[i].nmounts; j++)
			nw += d->units[i].mounts[j].kind == RC_MOUNT_BIND && !d->units[i].mounts[j].read_only;
	_cleanup_free_ struct wbind *w = xcalloc(nw + 1, sizeof(*w));
	size_t k = 0;
	for (size_t i = 0; i < d->nunits; i++) {
		const struct rc_unit *x = &d->units[i];
		for (size_t j = 0; j < x->nmounts; j++) {
			const struct rc_mount *m = &x->mounts[j];
			const char *real = m->kind == RC_MOUNT_BIND && !m->read_only ? real_of(r, m->source) : NULL;
			if (!real)
				continue;
			w[k] = (struct wbind){ x, m->source, real };
			strmap_add(rw, real, &w[k]);
			if (strcmp(x->id, u->id) == 0)
				strmap_add(own_rw, real, &w[k]);
			k++;
		}
	}
	if (!k)
		return 0;
	/* u's sources below anyone's writable one */
	for (size_t j = 0; j < u->nmounts; j++) {
		const char *real = u->mounts[j].kind == RC_MOUNT_BIND ? real_of(r, u->mounts[j].source) : NULL;
		const struct wbind *a = real ? ancestor_in(rw, real) : NULL;
		if (a)
			return nesting_error(err, u->mounts[j].source, real, u->id, a, false);
	}
	/* anyone's sources below u's writable ones */
	if (!strmap_count(own_rw))
		return 0;
	for (size_t i = 0; i < d->nunits; i++)
		for (size_t j = 0; j < d->units[i].nmounts; j++) {
			const struct rc_mount *m = &d->units[i].mounts[j];
			const char *real = m->kind == RC_MOUNT_BIND ? real_of(r, m->source) : NULL;
			const struct wbind *a = real ? ancestor_in(own_rw, real) : NULL;
			if (a)
				return nesting_error(err, m->source, real, d->units[i].id, a, true);
		}
	return 0;
}

struct bindroot_reals *bindroot_reals_new(const struct rc_desired *d)
{
	struct bindroot_reals *r = xcalloc(1, sizeof(*r));
	r->d = d;
	r->by_source = strmap_new();
	return r;
}

void bindroot_reals_free(struct bindroot_reals *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	strmap_free(r->by_source);
	free(r);
}

int bindroot_check_nesting(const struct rc_desired *d, const struct rc_unit *u, struct bindroot_reals *reals,
			   struct rc_err *err)
{
	bool any = false;
	for (size_t j = 0; j < u->nmounts && !any; j++)
		any = u->mounts[j].kind == RC_MOUNT_BIND;
	if (!any)
		return 0;
	struct bindroot_reals *own = reals ? NULL : bindroot_reals_new(d);
	int rc = check_nesting(reals ? reals : own, d, u, err);
	bindroot_reals_free(own);
	return rc;
}
