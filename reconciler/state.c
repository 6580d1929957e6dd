/* state.c — see state.h. */
#include "state_int.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "hash.h"

#define STATE_FILE_MAX (64u << 20)

static const char *const file_names[F_N] = { "allocations.json", "applied.json", "units.json" };

/* ---- in-memory data ------------------------------------------------------- */

static void clear_file_data(struct rc_state *st, int f)
{
	switch (f) {
	case F_ALLOC:
		state_alloc_clear(st);
		break;
	case F_APPLIED:
		state_applied_clear(st);
		break;
	case F_UNITS:
		state_units_clear(st);
		break;
	default:
		BUG("bad state file %d", f);
	}
}

void state_add_warning(struct rc_state *st, char *msg)
{
	GROW(st->warnings, st->nwarnings + 1, st->cwarnings);
	st->warnings[st->nwarnings++] = msg;
	log_debug("%s", msg);
}

/* ---- JSON: data <-> memory -------------------------------------------------- */

struct cJSON *sj_obj(void)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		die("out of memory");
	return o;
}

struct cJSON *sj_arr(void)
{
	cJSON *o = cJSON_CreateArray();
	if (!o)
		die("out of memory");
	return o;
}

void sj_put_str(struct cJSON *o, const char *k, const char *v)
{
	cJSON *x = v ? cJSON_CreateString(v) : cJSON_CreateNull();
	if (!x)
		die("out of memory");
	cJSON_AddItemToObject(o, k, x);
}

void sj_put_num(struct cJSON *o, const char *k, double v)
{
	cJSON *x = cJSON_CreateNumber(v);
	if (!x)
		die("out of memory");
	cJSON_AddItemToObject(o, k, x);
}

void sj_put_bool(struct cJSON *o, const char *k, bool v)
{
	cJSON *x = cJSON_CreateBool(v);
	if (!x)
		die("out of memory");
	cJSON_AddItemToObject(o, k, x);
}

/* Typed getters for loading: return -1 on a wrong shape. */
int sj_get_str(const struct cJSON *o, const char *k, bool nullable, const char **ret)
{
	const struct cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	if (nullable && (!x || cJSON_IsNull(x))) {
		*ret = NULL;
		return 0;
	}
	if (!cJSON_IsString(x) || !x->valuestring)
		return -1;
	*ret = x->valuestring;
	return 0;
}

int sj_get_int(const struct cJSON *o, const char *k, int64_t lo, int64_t hi, int64_t *ret)
{
	const struct cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsNumber(x))
		return -1;
	double d = x->valuedouble;
	if (d < (double)lo || d > (double)hi || d != (double)(int64_t)d)
		return -1;
	*ret = (int64_t)d;
	return 0;
}

int sj_get_bool(const struct cJSON *o, const char *k, bool *ret)
{
	const struct cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsBool(x))
		return -1;
	*ret = cJSON_IsTrue(x);
	return 0;
}

const struct cJSON *sj_get_arr(const struct cJSON *o, const char *k)
{
	const struct cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsArray(x) ? x : NULL;
}

static struct cJSON *emit_file(const struct rc_state *st, int f)
{
	switch (f) {
	case F_ALLOC: return state_alloc_emit(st);
	case F_APPLIED: return state_applied_emit(st);
	case F_UNITS: return state_units_emit(st);
	}
	BUG("bad state file %d", f);
}

static int parse_file(struct rc_state *st, int f, const struct cJSON *data)
{
	switch (f) {
	case F_ALLOC: return state_alloc_parse(st, data);
	case F_APPLIED: return state_applied_parse(st, data);
	case F_UNITS: return state_units_parse(st, data);
	}
	BUG("bad state file %d", f);
}

/* ---- files ------------------------------------------------------------------- */

void state_checksum(const struct cJSON *data, char out[RC_HASH_HEX_LEN + 1])
{
	char *text = cJSON_PrintUnformatted(data);
	if (!text)
		die("out of memory");
	rc_hash128_hex(text, strlen(text), out);
	cJSON_free(text);
}

/* Validate and load one document; on failure set *why (static string) and return -1. */
static int load_doc(struct rc_state *st, int f, const char *text, const char **why)
{
	cJSON *doc = cJSON_Parse(text);
	int r = -1;
	if (!doc || !cJSON_IsObject(doc)) {
		*why = "not valid JSON";
		goto out;
	}
	int64_t version;
	const char *sum;
	const struct cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
	if (sj_get_int(doc, "version", 0, INT32_MAX, &version) < 0 || sj_get_str(doc, "checksum", false, &sum) < 0 ||
	    !cJSON_IsObject(data)) {
		*why = "missing version, checksum or data";
		goto out;
	}
	if (version != STATE_VERSION) {
		*why = "unsupported version";
		goto out;
	}
	char want[RC_HASH_HEX_LEN + 1];
	state_checksum(data, want);
	if (strcmp(want, sum) != 0) {
		*why = "checksum mismatch";
		goto out;
	}
	clear_file_data(st, f);
	if (parse_file(st, f, data) < 0) {
		clear_file_data(st, f);
		*why = "unexpected content";
		goto out;
	}
	r = 0;
out:
	cJSON_Delete(doc);
	return r;
}

/*
 * Move a damaged file aside to PATH.corrupt.<unix-time>[.N]; *ret_aside (malloc'ed) names where.
 * rename() moves a symbolic link, FIFO or directory itself: nothing behind it is touched.
 */
int state_set_aside(const char *path, char **ret_aside, struct rc_err *err)
{
	char *aside = xasprintf("%s.corrupt.%lld", path, (long long)time(NULL));
	struct stat sb;
	for (int i = 1; lstat(aside, &sb) == 0; i++) {
		free(aside);
		aside = xasprintf("%s.corrupt.%lld.%d", path, (long long)time(NULL), i);
	}
	if (rename(path, aside) < 0) {
		rc_errf(err, "cannot move damaged state file '%s' aside: %s", path, strerror(errno));
		free(aside);
		return -1;
	}
	*ret_aside = aside;
	return 0;
}

static int load_file(struct rc_state *st, int f, struct rc_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", st->dir, file_names[f]);
	_cleanup_free_ char *text = NULL;
	struct rc_err e;
	clear_file_data(st, f);
	st->dirty[f] = false;
	struct stat sb;
	if (lstat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		return rc_errf(err, "cannot stat state file '%s': %s", path, strerror(errno));
	}
	/* Not a regular file of ours (a symbolic link, FIFO, directory, another uid's file): never
	 * opened, set aside like a corrupt one. */
	char pbuf[64];
	const char *unsafe = private_file_problem(&sb, false, pbuf);
	const char *why = "too large";
	if (!unsafe) {
		int r = read_private_file("state file", path, STATE_FILE_MAX, &text, NULL, &e);
		if (r == -2) {
			unsafe = "not a regular file of the running uid";
		} else if (r < 0 && !strstr(e.msg, "larger than")) {
			/* Permissions, I/O: an error, not corruption.  Too large counts as corrupt. */
			if (err)
				*err = e;
			return -1;
		}
	}
	if (!unsafe && text && load_doc(st, f, text, &why) == 0) {
		st->dirty[f] = false;
		return 0;
	}
	/* Corrupt or unsafe: set it aside (if we may) and carry on with empty state. */
	if (st->lock_fd >= 0) {
		_cleanup_free_ char *aside = NULL;
		if (state_set_aside(path, &aside, err) < 0)
			return -1;
		if (unsafe)
			state_add_warning(st, xasprintf("state file '%s' is %s, not a regular file owned by uid %lu: not read; "
						  "moved aside to '%s', starting from empty state",
						  path, unsafe, (unsigned long)geteuid(), aside));
		else
			state_add_warning(st, xasprintf("state file '%s' is corrupt (%s); moved aside to '%s', "
						  "starting from empty state",
						  path, why, aside));
	} else if (unsafe) {
		state_add_warning(st, xasprintf("state file '%s' is %s, not a regular file owned by uid %lu: not read; ignored",
					  path, unsafe, (unsigned long)geteuid()));
	} else {
		state_add_warning(st, xasprintf("state file '%s' is corrupt (%s); ignored", path, why));
	}
	return 0;
}

static int load_all(struct rc_state *st, struct rc_err *err)
{
	for (int f = 0; f < F_N; f++)
		if (load_file(st, f, err) < 0)
			return -1;
	return 0;
}

static int save_file(struct rc_state *st, int f, struct rc_err *err)
{
	cJSON *doc = sj_obj();
	cJSON *data = emit_file(st, f);
	char sum[RC_HASH_HEX_LEN + 1];
	state_checksum(data, sum);
	sj_put_num(doc, "version", STATE_VERSION);
	sj_put_str(doc, "checksum", sum);
	cJSON_AddItemToObject(doc, "data", data);
	char *text = cJSON_Print(doc);
	cJSON_Delete(doc);
	if (!text)
		die("out of memory");
	struct buf b = BUF_INIT;
	buf_adds(&b, text);
	buf_addc(&b, '\n');
	cJSON_free(text);
	_cleanup_free_ char *path = xasprintf("%s/%s", st->dir, file_names[f]);
	int r = write_file_atomic(path, b.data, b.len, 0600, err);
	buf_release(&b);
	return r;
}

int state_save(struct rc_state *st, struct rc_err *err)
{
	if (st->lock_fd < 0)
		return rc_errf(err, "state directory '%s' is not locked: cannot save", st->dir);
	for (int f = 0; f < F_N; f++) {
		if (!st->dirty[f])
			continue;
		if (save_file(st, f, err) < 0)
			return -1;
		st->dirty[f] = false;
	}
	return 0;
}

/* ---- open, lock ----------------------------------------------------------------- */

int state_check_dir(const char *dir, bool create, struct rc_err *err)
{
	struct stat sb;
	if (lstat(dir, &sb) < 0) {
		if (errno != ENOENT || !create)
			return rc_errf(err, "cannot use state directory '%s': %s", dir, strerror(errno));
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return rc_errf(err, "cannot create '%s': %s", dir, strerror(errno));
		if (lstat(dir, &sb) < 0)
			return rc_errf(err, "cannot stat '%s': %s", dir, strerror(errno));
	}
	if (S_ISLNK(sb.st_mode)) {
		_cleanup_free_ char *real = realpath(dir, NULL);
		if (real)
			return rc_errf(err, "state directory '%s' is a symbolic link (to '%s'): refusing to follow it; "
				       "give the real path, or replace the link with a directory", dir, real);
		return rc_errf(err, "state directory '%s' is a symbolic link: refusing to follow it; "
			       "replace it with a directory", dir);
	}
	if (!S_ISDIR(sb.st_mode))
		return rc_errf(err, "'%s' is not a directory", dir);
	if (sb.st_uid != geteuid())
		return rc_errf(err, "state directory '%s' is owned by uid %lu, not by the running uid %lu: "
			       "chown -R %lu %s (or run reconciler as uid %lu)", dir, (unsigned long)sb.st_uid,
			       (unsigned long)geteuid(), (unsigned long)geteuid(), dir, (unsigned long)sb.st_uid);
	if (sb.st_mode & (S_IWGRP | S_IWOTH))
		return rc_errf(err, "state directory '%s' is writable by group or others (mode %04o): chmod 0700 %s",
			       dir, (unsigned)(sb.st_mode & 07777), dir);
	return 0;
}

int state_check_secrets(const char *secrets_dir, struct rc_err *err)
{
	_cleanup_free_ char *parent = xstrdup(secrets_dir);
	size_t n = strlen(parent);
	while (n > 1 && parent[n - 1] == '/')
		parent[--n] = '\0';
	char *slash = strrchr(parent, '/');
	const char *state_dir = parent;
	if (!slash)
		state_dir = ".";
	else if (slash == parent)
		state_dir = "/";
	else
		*slash = '\0';
	struct stat sb;
	if (lstat(state_dir, &sb) == 0 && state_check_dir(state_dir, false, err) < 0)
		return -1;
	if (lstat(secrets_dir, &sb) == 0 && state_check_dir(secrets_dir, false, err) < 0)
		return -1;
	return 0;
}

/* An existing state file written in place (the lock, the journal): a regular file of ours, one link. */
static int check_inplace_file(const char *dir, const char *name, struct rc_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : rc_errf(err, "cannot stat state file '%s': %s", path, strerror(errno));
	return private_file_check("state file", path, &sb, true, err);
}

/* A temp file of write_file_atomic(): ".NAME.XXXXXX". */
static bool is_temp_name(const char *n)
{
	size_t len = strlen(n);
	if (n[0] != '.' || len < 9)
		return false;
	if (n[len - 7] != '.')
		return false;
	for (size_t i = len - 6; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

static void remove_temps(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!is_temp_name(e->d_name))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			log_debug("removed stale temporary file '%s/%s'", dir, e->d_name);
	}
	closedir(d);
}

/* The pid written in the open lock file fd (its last holder's), or 0. */
static long lock_file_pid(int fd)
{
	char pidbuf[32] = "";
	ssize_t n = pread(fd, pidbuf, sizeof(pidbuf) - 1, 0);
	long pid = n > 0 ? strtol(pidbuf, NULL, 10) : 0;
	return pid > 0 ? pid : 0;
}

int state_lock(struct rc_state *st, struct rc_err *err)
{
	if (st->lock_fd >= 0)
		return 0;
	_cleanup_free_ char *path = xasprintf("%s/lock", st->dir);
	/* never through a symbolic link, never another file: the pid is written into it */
	int fd = open_private("state file", path, O_RDWR | O_CREAT, 0600, err);
	if (fd < 0)
		return -1;
	if (check_inplace_file(st->dir, "journal.jsonl", err) < 0) {
		close(fd);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e == EWOULDBLOCK) {
			long pid = lock_file_pid(fd);
			close(fd);
			if (pid > 0)
				return rc_errf(err, "state directory '%s' is locked by another reconciler (pid %ld)",
					       st->dir, pid);
			return rc_errf(err, "state directory '%s' is locked by another reconciler", st->dir);
		}
		close(fd);
		return rc_errf(err, "cannot lock '%s': %s", path, strerror(e));
	}
	char pidbuf[32];
	int n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pidbuf, (size_t)n, 0) != n) {
		int e = errno;
		close(fd);
		return rc_errf(err, "cannot write '%s': %s", path, strerror(e));
	}
	st->lock_fd = fd;
	remove_temps(st->dir);
	remove_temps(st->secrets);
	return load_all(st, err);
}

/* Does /proc/locks show a flock() by pid on inode ino?  (Read only: taking even a shared lock to find
 * out could make a daemon starting at that moment fail to take its own.) */
static bool flock_held(long pid, unsigned long ino)
{
	char *locks = NULL;
	struct rc_err err;
	if (read_file("/proc/locks", 16u << 20, &locks, NULL, &err) < 0)
		return false;
	bool held = false;
	for (char *line = locks; line && *line && !held;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		/* "1: FLOCK  ADVISORY  WRITE 469 fe:00:1090403 0 EOF"; waiters have "->" after the number */
		char type[16], kind[16], mode[16];
		long lpid;
		unsigned maj, min;
		unsigned long lino;
		if (!strstr(line, "->") &&
		    sscanf(line, "%*d: %15s %15s %15s %ld %x:%x:%lu", type, kind, mode, &lpid, &maj, &min, &lino) == 7)
			held = strcmp(type, "FLOCK") == 0 && lpid == pid && lino == ino;
		line = nl ? nl + 1 : NULL;
	}
	free(locks);
	return held;
}

long state_lock_holder(const char *dir, bool *ret_daemon)
{
	if (ret_daemon)
		*ret_daemon = false;
	_cleanup_free_ char *path = xasprintf("%s/lock", dir);
	int fd = open_private("state file", path, O_RDONLY, 0, NULL);
	if (fd < 0)
		return 0;
	struct stat sb;
	long pid = fstat(fd, &sb) == 0 ? lock_file_pid(fd) : 0;
	close(fd);
	/* the file keeps the pid of the last holder: it holds it only if the kernel says so */
	if (pid <= 0 || !flock_held(pid, (unsigned long)sb.st_ino))
		return 0;
	_cleanup_free_ char *cmdline = xasprintf("/proc/%ld/cmdline", pid);
	char *args = NULL;
	size_t len = 0;
	struct rc_err err;
	if (ret_daemon && read_file(cmdline, 1u << 16, &args, &len, &err) == 0) {
		for (size_t i = 0; i < len; i += strlen(args + i) + 1)
			if (strcmp(args + i, "run") == 0)
				*ret_daemon = true;
		free(args);
	}
	return pid;
}

bool state_locked(const struct rc_state *st)
{
	return st->lock_fd >= 0;
}

/*
 * Before anything is created or changed: the directory (made 0700 when missing), secrets/ (the
 * same), requests/ when there is one, and the files written in place (lock, journal.jsonl).
 */
static int check_tree(const struct rc_state *st, struct rc_err *err)
{
	if (state_check_dir(st->dir, true, err) < 0)
		return -1;
	_cleanup_free_ char *requests = xasprintf("%s/requests", st->dir);
	struct stat sb;
	if (lstat(requests, &sb) == 0 && state_check_dir(requests, false, err) < 0)
		return -1;
	if (check_inplace_file(st->dir, "lock", err) < 0 || check_inplace_file(st->dir, "journal.jsonl", err) < 0)
		return -1;
	return state_check_dir(st->secrets, true, err);
}

int state_open(const char *dir, unsigned flags, struct rc_state **ret, struct rc_err *err)
{
	struct rc_state *st = xcalloc(1, sizeof(*st));
	st->dir = xstrdup(dir);
	st->secrets = xasprintf("%s/secrets", dir);
	st->lock_fd = -1;
	st->alloc = alloc_table_new();
	st->journal_max = STATE_JOURNAL_MAX_BYTES;
	st->journal_keep = STATE_JOURNAL_KEEP;
	if (check_tree(st, err) < 0)
		goto fail;
	if (flags & STATE_OPEN_LOCK) {
		if (state_lock(st, err) < 0)
			goto fail;
	} else if (load_all(st, err) < 0) {
		goto fail;
	}
	*ret = st;
	return 0;
fail:
	state_free(st);
	return -1;
}

void state_free(struct rc_state *st)
{
	if (!st)
		return;
	for (int f = 0; f < F_N; f++)
		clear_file_data(st, f);
	alloc_table_free(st->alloc);
	for (size_t i = 0; i < st->nwarnings; i++)
		free(st->warnings[i]);
	free(st->warnings);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->dir);
	free(st->secrets);
	free(st);
}

const char *state_dir(const struct rc_state *st)
{
	return st->dir;
}

const char *state_secrets_dir(const struct rc_state *st)
{
	return st->secrets;
}

const char *const *state_warnings(const struct rc_state *st, size_t *ret_n)
{
	*ret_n = st->nwarnings;
	return (const char *const *)st->warnings;
}
