/*
 * state_builds.c — builds/: the output of each image build apply ran
 * (spec/manifest.md, "Building images"), one file per commit and unit:
 * builds/<first 12 hex of the commit>/<unit>.log (a template unit's
 * "customer/service" as "customer+service"), mode 0600 in directories of
 * mode 0700, each at most RC_STATE_BUILD_LOG_MAX bytes (the caller's buffer
 * is capped).  The newest RC_STATE_BUILD_COMMITS commits' directories are
 * kept; older ones are removed when a new one is made.
 */
#include "state_int.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

/* A unit id: NAME or CUSTOMER/NAME, each a manifest name (a letter or digit, then letters, digits,
 * '_', '.', '-'): nothing that could climb out of builds/. */
static bool unit_id_ok(const char *unit)
{
	int parts = 0;
	for (const char *p = unit; *p;) {
		const char *e = strchrnul(p, '/');
		if (e == p || !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return false;
		for (const char *q = p; q < e; q++)
			if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
			      *q == '_' || *q == '.' || *q == '-'))
				return false;
		if (++parts > 2)
			return false;
		p = *e ? e + 1 : e;
		if (*e && !*p)
			return false;
	}
	return parts > 0;
}

static char *log_name(const char *unit)
{
	char *n = xasprintf("%s.log", unit);
	for (char *p = n; *p; p++)
		if (*p == '/')
			*p = '+';
	return n;
}

static int mkdir_private(const char *path, struct rc_err *err)
{
	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return rc_errf(err, "cannot make '%s': %s", path, strerror(errno));
	struct stat sb;
	if (lstat(path, &sb) < 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid() || (sb.st_mode & 077))
		return rc_errf(err, "'%s' must be a directory of uid %u with mode 0700", path, (unsigned)geteuid());
	return 0;
}

struct dated {
	char *name;
	int64_t mtime;
};

static int dated_cmp(const void *a, const void *b)
{
	const struct dated *x = a, *y = b;
	if (x->mtime != y->mtime)
		return x->mtime > y->mtime ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The commit directories under top, newest first (*ret_n of them). */
static struct dated *list_commits(const char *top, size_t *ret_n)
{
	*ret_n = 0;
	DIR *dir = opendir(top);
	if (!dir)
		return NULL;
	struct dated *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", top, de->d_name);
		struct stat sb;
		if (lstat(p, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		GROW(v, n + 1, cap);
		v[n++] = (struct dated){ xstrdup(de->d_name), (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec };
	}
	closedir(dir);
	if (n)
		qsort(v, n, sizeof(*v), dated_cmp);
	*ret_n = n;
	return v;
}

static void free_dated(struct dated *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* Remove the commit directories past the newest RC_STATE_BUILD_COMMITS (their logs only). */
static void prune(const char *top)
{
	size_t n;
	struct dated *v = list_commits(top, &n);
	for (size_t i = RC_STATE_BUILD_COMMITS; i < n; i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", top, v[i].name);
		DIR *dir = opendir(d);
		if (!dir)
			continue;
		struct dirent *de;
		while ((de = readdir(dir)))
			if (de->d_name[0] != '.')
				unlinkat(dirfd(dir), de->d_name, 0);
		closedir(dir);
		rmdir(d);
	}
	free_dated(v, n);
}

int state_save_build_log(struct rc_state *st, const char *commit, const char *unit, const char *data,
			 size_t len, struct rc_err *err)
{
	if (!unit_id_ok(unit))
		BUG("build log of a unit id '%s' the loader would not make", unit);
	_cleanup_free_ char *top = xasprintf("%s/builds", state_dir(st));
	_cleanup_free_ char *dir = xasprintf("%s/%.12s", top, commit ? commit : "none");
	_cleanup_free_ char *name = log_name(unit);
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	if (len > RC_STATE_BUILD_LOG_MAX)
		len = RC_STATE_BUILD_LOG_MAX;
	bool made = access(dir, F_OK) != 0;
	if (mkdir_private(top, err) < 0 || mkdir_private(dir, err) < 0 ||
	    write_file_atomic(path, data, len, 0600, err) < 0)
		return rc_err_prefix(err, "keeping the build output of %s", unit);
	if (made)
		prune(top);
	return 0;
}

int state_read_build_log(const char *state_dir, const char *unit, char **ret_commit, char **ret_data,
			 size_t *ret_len, struct rc_err *err)
{
	if (!unit_id_ok(unit)) {
		_cleanup_free_ char *shown = str_shown(unit);
		return rc_errf(err, "'%s' is no unit id (NAME or CUSTOMER/NAME)", shown);
	}
	_cleanup_free_ char *top = xasprintf("%s/builds", state_dir);
	_cleanup_free_ char *name = log_name(unit);
	size_t n;
	struct dated *v = list_commits(top, &n);
	/* the newest log of the unit: the commit directories newest first, then the file's own time */
	char *best = NULL, *best_commit = NULL;
	int64_t best_t = 0;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s/%s", top, v[i].name, name);
		struct stat sb;
		if (lstat(p, &sb) < 0)
			continue;
		int64_t t = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
		if (!best || t > best_t) {
			free(best);
			free(best_commit);
			best = TAKE_PTR(p);
			best_commit = xstrdup(v[i].name);
			best_t = t;
		}
	}
	free_dated(v, n);
	if (!best) {
		rc_errf(err, "no build output of '%s' in %s", unit, top);
		errno = ENOENT;
		return -1;
	}
	char *data = NULL;
	size_t len = 0;
	int rc = read_private_file("build log", best, RC_STATE_BUILD_LOG_MAX + 4096, &data, &len, err);
	free(best);
	if (rc < 0) {
		free(best_commit);
		return -1;
	}
	*ret_commit = best_commit;
	*ret_data = data;
	*ret_len = len;
	return 0;
}
