/*
 * util.h — allocation, cleanup attributes, fatal errors and small helpers
 * shared by every module.
 *
 * Owns: nothing but process-wide conventions.
 *
 * Conventions used across the code base (see docs/architecture.md):
 *  - x*alloc() never return NULL: out of memory is fatal (die()).
 *  - Functions that can fail return 0 on success and -1 on failure, and fill a
 *    `struct rc_err *err` with what went wrong; the caller adds context with
 *    rc_err_prefix() and only the top level (the CLI) prints it, once.
 *  - Out-parameters are named ret_* and are left untouched on failure.
 *  - _cleanup_free_ / _cleanup_(fn) release on every return path; TAKE_PTR()
 *    hands ownership out.
 */
#ifndef RC_UTIL_H
#define RC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define RC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define RC_NORETURN __attribute__((noreturn))

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
static inline void freep(void *p) { free(*(void **)p); }
/* Return *pp and set it to NULL: ownership leaves a _cleanup_ variable. */
#define TAKE_PTR(p) ({ __typeof__(p) _tp = (p); (p) = NULL; _tp; })

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) RC_PRINTF(1, 2);
/* Grow *arr (of elements of size elem) so that it holds at least n; *cap tracks capacity. */
void *xgrow(void *arr, size_t elem, size_t n, size_t *cap);
#define GROW(arr, n, cap) ((arr) = xgrow((arr), sizeof(*(arr)), (n), &(cap)))

RC_NORETURN void die(const char *fmt, ...) RC_PRINTF(1, 2);
#define BUG(...) bug_at(__FILE__, __LINE__, __VA_ARGS__)
RC_NORETURN void bug_at(const char *file, int line, const char *fmt, ...) RC_PRINTF(3, 4);

/* An error value carried up the stack. */
struct rc_err {
	char msg[2048];
	/*
	 * The Docker engine failed rather than refused: no coherent answer came
	 * (a transport error, a reply cut short, garbage, a hang past the call
	 * timeout, an engine-internal 5xx; docker.h, "Engine faults").  Such an
	 * error is no verdict on what was asked.  Set by rc_err_fault(), cleared
	 * by rc_errf(), kept by rc_err_prefix(); rc_err_copy() carries it.
	 */
	bool engine_fault;
};
/* Set the message; returns -1 so `return rc_errf(err, "...")` is one line. err may be NULL. */
int rc_errf(struct rc_err *err, const char *fmt, ...) RC_PRINTF(2, 3);
/* rc_errf(), and the error is an engine fault. */
int rc_err_fault(struct rc_err *err, const char *fmt, ...) RC_PRINTF(2, 3);
/* *dst = *src (message and kind); returns -1.  dst may be NULL. */
int rc_err_copy(struct rc_err *dst, const struct rc_err *src);
/* Prepend "context: " to the message; returns -1. */
int rc_err_prefix(struct rc_err *err, const char *fmt, ...) RC_PRINTF(2, 3);

/* Logging to stderr.  Level set once by the CLI (-v / -q). */
enum rc_log_level { RC_LOG_ERROR = 0, RC_LOG_WARN, RC_LOG_INFO, RC_LOG_DEBUG };
extern enum rc_log_level rc_log_level;
void rc_log(enum rc_log_level lvl, const char *fmt, ...) RC_PRINTF(2, 3);
/* The daemon's form, "TIME reconciler[PID]: warning: ...", as its own lines (dm_say()); set by
 * `reconciler run` before it starts its threads.  Default: "reconciler: warning: ...". */
void rc_log_stamp(bool on);
#define log_error(...) rc_log(RC_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  rc_log(RC_LOG_WARN, __VA_ARGS__)
#define log_info(...)  rc_log(RC_LOG_INFO, __VA_ARGS__)
#define log_debug(...) rc_log(RC_LOG_DEBUG, __VA_ARGS__)

/*
 * Time units: the one spelling of each (durations are int64_t nanoseconds,
 * the *_ns fields, or milliseconds, the *_ms ones).  Long long constants;
 * cast where a printf format wants int64_t.
 */
#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define NS_PER_US 1000LL
#define MS_PER_S 1000LL

/* Monotonic clock in nanoseconds / milliseconds. */
int64_t now_ns(void);
int64_t now_ms(void);
void sleep_ms(int64_t ms);

bool str_eq(const char *a, const char *b);      /* NULL-safe */
bool str_startswith(const char *s, const char *prefix);
bool str_endswith(const char *s, const char *suffix);
int strp_cmp(const void *a, const void *b);     /* qsort over char* */
/*
 * Text from outside (file names, values, request files) on its way to a
 * terminal or a log line: str_shown() returns a malloc'ed copy with every
 * byte a terminal could act on written as \xNN — C0 controls (newline and
 * ESC included), DEL, the C1 controls U+0080..U+009F and bytes that are not
 * well-formed UTF-8; other UTF-8 is kept.  str_needs_escape(): whether it
 * would change anything.
 */
bool str_needs_escape(const char *s);
char *str_shown(const char *s);

/*
 * Write data to path atomically: a temp file in the same directory (".NAME.XXXXXX", made with
 * O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600), fsync, rename over path (which replaces a symbolic
 * link rather than writing through it), fsync the directory.  mode is the new file's mode.
 */
int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
		      struct rc_err *err);
/* Read a whole file (at most max bytes; more is an error). Result is NUL-terminated. */
int read_file(const char *path, size_t max, char **ret_data, size_t *ret_len, struct rc_err *err);
/* read_file() of an open fd (path names it in errors), which is closed either way. */
int read_fd(int fd, const char *path, size_t max, char **ret_data, size_t *ret_len, struct rc_err *err);

/*
 * Files of a private directory (the state directory): never followed through a
 * symbolic link, never blocking on a FIFO, and used only when they are regular
 * files owned by the running (effective) uid — with a single link when they are
 * written in place, so that no write lands in a file linked from elsewhere.
 *
 * private_file_problem: NULL when *sb (from lstat or fstat) is such a file, else
 * a short description ("a symbolic link", "a FIFO", "owned by uid 65534", ...)
 * written into buf when it needs one.
 * private_file_check: 0, or -1 with err naming what (e.g. "state file"), the
 * path, the problem and the fix.
 */
struct stat;
const char *private_file_problem(const struct stat *sb, bool one_link, char buf[64]);
int private_file_check(const char *what, const char *path, const struct stat *sb, bool one_link,
		       struct rc_err *err);
/*
 * open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode), opened without blocking
 * (O_NONBLOCK, cleared afterwards unless flags ask for it) and fstat-checked
 * as above (one link when flags allow writing).  Returns the fd; -1 with err
 * set and errno kept (ENOENT: there is no such file and O_CREAT was not
 * given); -2 with err set when the file exists but must not be used (a
 * symbolic link, FIFO, directory, device, socket, another uid's file).
 */
int open_private(const char *what, const char *path, int flags, unsigned mode, struct rc_err *err);
/* read_file() through open_private(what, path, O_RDONLY): 0, -1 (errno ENOENT: missing) or -2. */
int read_private_file(const char *what, const char *path, size_t max, char **ret_data, size_t *ret_len,
		      struct rc_err *err);

/*
 * Credentials in URLs never reach a message.  url_redact() returns a copy
 * of url (malloc'ed) with the userinfo's password, or the whole userinfo
 * when it has no password (a token), replaced by "***":
 * "https://user:TOKEN@host/r" -> "https://user:***@host/r"; a bare token
 * before the "@" becomes "***" as a whole; other strings are unchanged.
 * redact_secret_of() replaces, in msg (in place), every occurrence of what
 * url_redact() hides (a library's error text may quote the URL).
 */
char *url_redact(const char *url);
/* The start of url's userinfo ("user:pass" of "scheme://user:pass@host/..."), *ret_at its
 * ending '@' (the last one before the path); NULL when url has none. */
const char *url_userinfo(const char *url, const char **ret_at);
void redact_secret_of(char *msg, const char *url);
/* Overwrite in place with '*' what url_redact() hides: a URL given on the command line, which
 * /proc/PID/cmdline (ps) shows every local user for the process's lifetime. */
void url_scrub(char *url);

#endif
