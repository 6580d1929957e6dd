/* util.c — see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum rc_log_level rc_log_level = RC_LOG_WARN;

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		die("out of memory (%zu bytes)", n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		die("out of memory");
	va_end(ap);
	return s;
}

void *xgrow(void *arr, size_t elem, size_t n, size_t *cap)
{
	if (n <= *cap)
		return arr;
	size_t c = *cap ? *cap : 8;
	while (c < n)
		c *= 2;
	void *p = xrealloc(arr, c * elem);
	memset((char *)p + *cap * elem, 0, (c - *cap) * elem);
	*cap = c;
	return p;
}

void die(const char *fmt, ...)
{
	va_list ap;
	fputs("reconciler: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(128);
}

void bug_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "reconciler: BUG: %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

RC_PRINTF(3, 0)
static int err_vset(struct rc_err *err, bool fault, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	err->engine_fault = fault;
	return -1;
}

int rc_errf(struct rc_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(err, false, fmt, ap);
	va_end(ap);
	return r;
}

int rc_err_fault(struct rc_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(err, true, fmt, ap);
	va_end(ap);
	return r;
}

int rc_err_copy(struct rc_err *dst, const struct rc_err *src)
{
	if (dst && dst != src)
		*dst = *src;
	return -1;
}

int rc_err_prefix(struct rc_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char pre[1024], old[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	size_t n = strlen(pre);
	if (n > sizeof(err->msg) - 3)
		n = sizeof(err->msg) - 3;
	memcpy(err->msg, pre, n);
	memcpy(err->msg + n, ": ", 2);
	size_t rest = sizeof(err->msg) - n - 3;
	size_t m = strnlen(old, rest);
	memcpy(err->msg + n + 2, old, m);
	err->msg[n + 2 + m] = '\0';
	return -1;
}

static bool rc_log_stamped;

void rc_log_stamp(bool on)
{
	rc_log_stamped = on;
}

void rc_log(enum rc_log_level lvl, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	if (lvl > rc_log_level)
		return;
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		msg = NULL;
	/* one fprintf per line: another thread's line (the daemon's webhooks, its HTTP endpoint)
	 * never lands inside this one */
	if (rc_log_stamped) {
		char ts[32];
		time_t t = time(NULL);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(stderr, "%s reconciler[%ld]: %s: %s\n", ts, (long)getpid(), names[lvl], msg ? msg : fmt);
	} else {
		fprintf(stderr, "reconciler: %s: %s\n", names[lvl], msg ? msg : fmt);
	}
	fflush(stderr);
	free(msg);
}

int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int64_t now_ms(void)
{
	return now_ns() / NS_PER_MS;
}

void sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { .tv_sec = ms / MS_PER_S, .tv_nsec = (ms % MS_PER_S) * NS_PER_MS };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool str_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_endswith(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* The length of the UTF-8 sequence at p (at most n bytes) that str_shown() prints as it is, or 0. */
static size_t printable_utf8(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;   /* the second byte's range */
	if (c >= 0x20 && c < 0x7f)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;                     /* C0 controls, DEL, continuation bytes, 0xc0, 0xc1, 0xf5.. */
	if (c == 0xe0)
		lo = 0xa0;                    /* no overlong forms */
	else if (c == 0xed)
		hi = 0x9f;                    /* no surrogates */
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;                    /* nothing past U+10FFFF */
	if (len > n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	if (c == 0xc2 && p[1] <= 0x9f)
		return 0;                     /* the C1 controls, U+0080..U+009F */
	return len;
}

bool str_needs_escape(const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		size_t k = printable_utf8((const unsigned char *)s + i, n - i);
		if (!k)
			return true;
		i += k;
	}
	return false;
}

char *str_shown(const char *s)
{
	size_t n = strlen(s), w = 0;
	char *r = xmalloc(4 * n + 1);
	for (size_t i = 0; i < n;) {
		size_t k = printable_utf8((const unsigned char *)s + i, n - i);
		if (k) {
			memcpy(r + w, s + i, k);
			w += k;
			i += k;
		} else {
			w += (size_t)sprintf(r + w, "\\x%02x", (unsigned char)s[i++]);
		}
	}
	r[w] = '\0';
	return r;
}

int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Create "<dir>/.<base>.XXXXXX" (tmp holds the template; its last six characters are replaced) with
 * O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600: never an existing file, never through a symbolic link.
 */
static int create_temp(char *tmp)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static unsigned counter;
	size_t n = strlen(tmp);
	for (int tries = 0; tries < 100; tries++) {
		unsigned char rnd[6];
		if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
			uint64_t x = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)++counter * 0x9e3779b97f4a7c15u;
			for (size_t i = 0; i < sizeof(rnd); i++, x >>= 8)
				rnd[i] = (unsigned char)x;
		}
		for (size_t i = 0; i < sizeof(rnd); i++)
			tmp[n - sizeof(rnd) + i] = chars[rnd[i] % (sizeof(chars) - 1)];
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
		      struct rc_err *err)
{
	_cleanup_free_ char *dcopy = xstrdup(path);
	_cleanup_free_ char *bcopy = xstrdup(path);
	const char *dir = dirname(dcopy), *base = basename(bcopy);
	_cleanup_free_ char *tmp = xasprintf("%s/.%s.XXXXXX", dir, base);
	int fd = create_temp(tmp);
	if (fd < 0)
		return rc_errf(err, "cannot create temporary file in '%s': %s", dir, strerror(errno));
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc_errf(err, "cannot write '%s': %s", path, strerror(e));
}

/* Read fd to its end (at most max bytes) and close it. */
int read_fd(int fd, const char *path, size_t max, char **ret_data, size_t *ret_len, struct rc_err *err)
{
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap >= max + 1) {
				free(buf);
				close(fd);
				return rc_errf(err, "'%s' is larger than %zu bytes", path, max);
			}
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			close(fd);
			return rc_errf(err, "cannot read '%s': %s", path, strerror(e));
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > max) {
		free(buf);
		return rc_errf(err, "'%s' is larger than %zu bytes", path, max);
	}
	buf[len] = '\0';
	*ret_data = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}

int read_file(const char *path, size_t max, char **ret_data, size_t *ret_len, struct rc_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rc_errf(err, "cannot open '%s': %s", path, strerror(errno));
	return read_fd(fd, path, max, ret_data, ret_len, err);
}

/* ---- files of a private directory ---- */

const char *private_file_problem(const struct stat *sb, bool one_link, char buf[64])
{
	mode_t m = sb->st_mode;
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	if (!S_ISREG(m))
		return "not a regular file";
	if (sb->st_uid != geteuid()) {
		snprintf(buf, 64, "owned by uid %lu", (unsigned long)sb->st_uid);
		return buf;
	}
	if (one_link && sb->st_nlink != 1) {
		snprintf(buf, 64, "a file with %lu hard links", (unsigned long)sb->st_nlink);
		return buf;
	}
	return NULL;
}

int private_file_check(const char *what, const char *path, const struct stat *sb, bool one_link,
		       struct rc_err *err)
{
	char buf[64];
	const char *problem = private_file_problem(sb, one_link, buf);
	if (!problem)
		return 0;
	if (S_ISLNK(sb->st_mode))
		return rc_errf(err, "%s '%s' is a symbolic link: refusing to follow it; remove it (rm '%s')", what,
			       path, path);
	if (!S_ISREG(sb->st_mode))
		return rc_errf(err, "%s '%s' is %s, not a regular file: refusing to use it; remove it", what, path,
			       problem);
	if (sb->st_uid != geteuid())
		return rc_errf(err, "%s '%s' is owned by uid %lu, not by the running uid %lu: refusing to use it; "
			       "remove it, or run reconciler as its owner", what, path, (unsigned long)sb->st_uid,
			       (unsigned long)geteuid());
	return rc_errf(err, "%s '%s' has %lu hard links: refusing to write through it; remove it, or break the "
		       "link (cp -p '%s' '%s.new' && mv '%s.new' '%s')", what, path, (unsigned long)sb->st_nlink,
		       path, path, path, path);
}

int open_private(const char *what, const char *path, int flags, unsigned mode, struct rc_err *err)
{
	int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
	struct stat sb;
	if (fd < 0) {
		int e = errno;
		/* ELOOP (a symbolic link), EISDIR, ENXIO (a FIFO or socket), ...: say what is there */
		if (e != ENOENT && lstat(path, &sb) == 0 && private_file_check(what, path, &sb, false, err) < 0) {
			errno = e;
			return -2;
		}
		rc_errf(err, "cannot open %s '%s': %s", what, path, strerror(e));
		errno = e;
		return -1;
	}
	bool writes = (flags & O_ACCMODE) != O_RDONLY;
	if (fstat(fd, &sb) < 0) {
		int e = errno;
		close(fd);
		rc_errf(err, "cannot stat %s '%s': %s", what, path, strerror(e));
		errno = e;
		return -1;
	}
	if (private_file_check(what, path, &sb, writes, err) < 0) {
		close(fd);
		errno = EPERM;
		return -2;
	}
	if (!(flags & O_NONBLOCK)) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
			int e = errno;
			close(fd);
			rc_errf(err, "cannot open %s '%s': %s", what, path, strerror(e));
			errno = e;
			return -1;
		}
	}
	return fd;
}

int read_private_file(const char *what, const char *path, size_t max, char **ret_data, size_t *ret_len,
		      struct rc_err *err)
{
	int fd = open_private(what, path, O_RDONLY, 0, err);
	if (fd < 0)
		return fd;
	return read_fd(fd, path, max, ret_data, ret_len, err);
}

const char *url_userinfo(const char *url, const char **ret_at)
{
	const char *p = url ? strstr(url, "://") : NULL;
	if (!p)
		return NULL;
	p += 3;
	size_t auth = strcspn(p, "/?#");
	const char *at = NULL;
	for (const char *q = p; q < p + auth; q++)
		if (*q == '@')
			at = q;  /* the last '@' before the path ends the userinfo */
	if (!at)
		return NULL;
	*ret_at = at;
	return p;
}

/* The secret part of url's userinfo: [*ret_off, *ret_off + *ret_len).  false: none. */
static bool url_secret(const char *url, size_t *ret_off, size_t *ret_len)
{
	const char *at = NULL, *p = url_userinfo(url, &at);
	if (!p || at == p)
		return false;
	const char *colon = memchr(p, ':', (size_t)(at - p));
	const char *from = colon ? colon + 1 : p;
	if (from == at)
		return false;
	*ret_off = (size_t)(from - url);
	*ret_len = (size_t)(at - from);
	return true;
}

char *url_redact(const char *url)
{
	size_t off, len;
	if (!url)
		return NULL;
	if (!url_secret(url, &off, &len))
		return xstrdup(url);
	return xasprintf("%.*s***%s", (int)off, url, url + off + len);
}

void url_scrub(char *url)
{
	size_t off, len;
	if (url && url_secret(url, &off, &len))
		memset(url + off, '*', len);
}

void redact_secret_of(char *msg, const char *url)
{
	size_t off, len;
	if (!msg || !url || !url_secret(url, &off, &len) || len < 3)
		return;
	/*
	 * A password is scrubbed wherever it appears; a userinfo without one
	 * (a user name, or a token given as one) only where it precedes '@':
	 * the user "git" must not turn "m.git" into "m.***".
	 */
	const char *at = NULL, *ui = url_userinfo(url, &at);
	bool user_only = ui && !memchr(ui, ':', (size_t)(at - ui));
	_cleanup_free_ char *secret = user_only ? xasprintf("%.*s@", (int)len, url + off) : xstrndup(url + off, len);
	size_t slen = strlen(secret), keep = user_only ? 1 : 0;
	char *from = msg, *hit;
	while ((hit = strstr(from, secret))) {
		memcpy(hit, "***", 3);
		memmove(hit + 3, hit + slen - keep, strlen(hit + slen - keep) + 1);
		from = hit + 3 + keep;
	}
}
