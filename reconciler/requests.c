/* requests.c — see requests.h. */
#include "requests.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX_BYTES 4096

static const char *const verbs[] = { "enable", "disable", "restart", "approve", "retry", "wake" };

bool request_verb_known(const char *verb)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (str_eq(verb, verbs[i]))
			return true;
	return false;
}

/*
 * What a request's argument can be: a unit id ("c1/app"), a commit or a
 * prefix of one — names of [A-Za-z0-9_.-] and '/', at most 256 bytes — or
 * nothing.  Anything else in a request file (a control character, a third
 * line, bytes of another format) means the file is not one of ours.
 */
#define REQ_ARG_MAX 256
static bool arg_ok(const char *arg)
{
	size_t n = strlen(arg);
	if (n > REQ_ARG_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = arg[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-' || c == '/'))
			return false;
	}
	return true;
}

/* restart's argument: unit ids and customer:ID, one space between. */
static bool args_ok(const char *arg)
{
	_cleanup_free_ char *copy = xstrdup(arg);
	if (strlen(copy) > 8 * REQ_ARG_MAX)
		return false;
	char *save = NULL;
	size_t n = 0;
	for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save), n++)
		if (!arg_ok(str_startswith(tok, "customer:") ? tok + 9 : tok) || !*tok)
			return false;
	return n > 0 && !strstr(arg, "  ") && arg[0] != ' ' && arg[strlen(arg) - 1] != ' ';
}

/* A request's note (disable's reason): one line of printable text, at most REQ_ARG_MAX bytes. */
static bool note_ok(const char *note)
{
	size_t n = strlen(note);
	if (n > REQ_ARG_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)note[i] < 0x20 || note[i] == 0x7f)
			return false;
	return true;
}

static bool verb_arg_ok(const char *verb, const char *arg)
{
	return str_eq(verb, "restart") || str_eq(verb, "wake") ? args_ok(arg) : arg_ok(arg);
}

char *request_who(void)
{
	uid_t uid = geteuid();
	char buf[1024];
	struct passwd pw, *res = NULL;
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res)
		return xasprintf("%s (uid %u)", pw.pw_name, (unsigned)uid);
	return xasprintf("uid %u", (unsigned)uid);
}

/* The state directory and its requests/ (made 0700 when missing), checked as state_open() does. */
static int ensure_dir(const char *state_dir, char **ret, struct rc_err *err)
{
	char *dir = xasprintf("%s/requests", state_dir);
	if (state_check_dir(state_dir, false, err) < 0 || state_check_dir(dir, true, err) < 0) {
		free(dir);
		return -1;
	}
	*ret = dir;
	return 0;
}

int request_submit(const char *state_dir, const char *verb, const char *arg, char **ret_name,
		   struct rc_err *err)
{
	return request_submit_note(state_dir, verb, arg, NULL, ret_name, err);
}

int request_submit_note(const char *state_dir, const char *verb, const char *arg, const char *note,
			char **ret_name, struct rc_err *err)
{
	_cleanup_free_ char *dir = NULL;
	if (!request_verb_known(verb))
		return rc_errf(err, "unknown request '%s'", verb);
	if (arg && !verb_arg_ok(verb, arg)) {
		_cleanup_free_ char *shown = str_shown(arg);
		return rc_errf(err, "'%.300s' is not a unit id or a commit", shown);
	}
	if (note && !note_ok(note))
		return rc_errf(err, "the reason must be one line of printable text, at most %d bytes", REQ_ARG_MAX);
	if (ensure_dir(state_dir, &dir, err) < 0)
		return -1;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char *name = xasprintf("%lld%09ld-%ld", (long long)ts.tv_sec, ts.tv_nsec, (long)getpid());
	_cleanup_free_ char *path = xasprintf("%s/%s.req", dir, name);
	_cleanup_free_ char *body = note ? xasprintf("%s\n%s\n%s\n", verb, arg ? arg : "", note)
					 : xasprintf("%s\n%s\n", verb, arg ? arg : "");
	if (write_file_atomic(path, body, strlen(body), 0600, err) < 0) {
		free(name);
		return -1;
	}
	*ret_name = name;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct request *)a)->name, ((const struct request *)b)->name);
}

/* Split "first\nsecond\n..." into two malloc'ed lines ("" when missing). */
static void two_lines(const char *s, char **first, char **second)
{
	const char *nl = strchr(s, '\n');
	*first = nl ? xstrndup(s, (size_t)(nl - s)) : xstrdup(s);
	const char *rest = nl ? nl + 1 : "";
	size_t n = strlen(rest);
	while (n && rest[n - 1] == '\n')
		n--;
	*second = xstrndup(rest, n);
}

/* A request file's verb, argument and note; false when the data is not one: a
 * NUL, a verb we do not know, an argument that is no unit id or commit
 * (arg_ok(), which also refuses a third line), a note for a verb that takes
 * none, or one that is not one line of text.  Nothing is set then. */
static bool parse_request(const char *data, size_t len, char **ret_verb, char **ret_arg, char **ret_note)
{
	if (strlen(data) != len)
		return false;
	char *verb, *rest, *arg, *note = NULL;
	two_lines(data, &verb, &rest);
	const char *nl = strchr(rest, '\n');
	if (nl && str_eq(verb, "disable")) {
		arg = xstrndup(rest, (size_t)(nl - rest));
		note = xstrdup(nl + 1);
		free(rest);
	} else {
		arg = rest;
	}
	if (!request_verb_known(verb) || !verb_arg_ok(verb, arg) || (note && (!*note || !note_ok(note)))) {
		free(verb);
		free(arg);
		free(note);
		return false;
	}
	*ret_verb = verb;
	*ret_arg = arg;
	*ret_note = note;
	return true;
}

/*
 * What request_list() warned about, so that it says it once and not on every turn of the daemon's
 * loop: the problem with requests/ itself, and the request files it would not read (those seen by
 * the last listing; a name gone from the directory is forgotten).  The daemon lists from one thread.
 */
static char dir_warned[sizeof(((struct rc_err *)0)->msg)];
static char **refused;
static size_t nrefused;

static bool was_refused(const char *name)
{
	for (size_t i = 0; i < nrefused; i++)
		if (strcmp(refused[i], name) == 0)
			return true;
	return false;
}

int request_list(const char *state_dir, struct request **ret, size_t *ret_n, struct rc_err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/requests", state_dir);
	struct stat sb;
	if (lstat(dir, &sb) < 0 && errno == ENOENT) {
		dir_warned[0] = '\0';
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	struct rc_err derr;
	int dfd = -1;
	DIR *d = NULL;
	if (state_check_dir(dir, false, &derr) == 0) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0 || !(d = fdopendir(dfd)))
			rc_errf(&derr, "cannot open '%s': %s", dir, strerror(errno));
	}
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		/* said once: the daemon lists twice a second */
		bool said = strcmp(dir_warned, derr.msg) == 0;
		snprintf(dir_warned, sizeof(dir_warned), "%s", derr.msg);
		if (said) {
			*ret = NULL;
			*ret_n = 0;
			return 0;
		}
		if (err)
			*err = derr;
		return -1;
	}
	dir_warned[0] = '\0';
	struct request *v = NULL;
	size_t n = 0, cap = 0;
	char **now = NULL;
	size_t nnow = 0, cnow = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !str_endswith(e->d_name, ".req"))
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, e->d_name);
		char *data = NULL;
		size_t len = 0;
		struct rc_err e2;
		/* another uid's file, a symbolic link, a FIFO: not read, not carried out, said once */
		int r = read_private_file("request file", path, REQ_MAX_BYTES, &data, &len, &e2);
		if (r == -1 && errno == ENOENT)
			continue;  /* answered and removed meanwhile */
		char *verb = NULL, *arg = NULL, *note = NULL;
		if (r == 0 && !parse_request(data, len, &verb, &arg, &note)) {
			/* its bytes are another program's (or an attacker's): never printed */
			_cleanup_free_ char *shown = str_shown(path);
			rc_errf(&e2, "request file '%s' is not a request (%zu bytes; a known verb and a unit id or commit were expected)",
				shown, len);
			r = -2;
		}
		free(data);
		if (r < 0) {
			if (!was_refused(e->d_name)) {
				_cleanup_free_ char *shown = str_shown(e2.msg);   /* a file name may hold anything */
				log_warn("request not carried out: %s", shown);
			}
			GROW(now, nnow + 1, cnow);
			now[nnow++] = xstrdup(e->d_name);
			continue;
		}
		GROW(v, n + 1, cap);
		struct request *r2 = &v[n++];
		r2->name = xstrndup(e->d_name, strlen(e->d_name) - 4);
		r2->verb = verb;
		r2->arg = arg;
		r2->note = note;
		r2->who = request_who();  /* only files of our own uid are read (above) */
	}
	closedir(d);
	for (size_t i = 0; i < nrefused; i++)
		free(refused[i]);
	free(refused);
	refused = now;
	nrefused = nnow;
	if (n)
		qsort(v, n, sizeof(*v), name_cmp);
	*ret = v;
	*ret_n = n;
	return 0;
}

void request_list_free(struct request *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].verb);
		free(v[i].arg);
		free(v[i].note);
		free(v[i].who);
	}
	free(v);
}

int request_answer(const char *state_dir, const char *name, bool ok, const char *msg, struct rc_err *err)
{
	_cleanup_free_ char *res = xasprintf("%s/requests/%s.res", state_dir, name);
	_cleanup_free_ char *req = xasprintf("%s/requests/%s.req", state_dir, name);
	_cleanup_free_ char *body = xasprintf("%s\n%s\n", ok ? "ok" : "error", msg ? msg : "");
	if (write_file_atomic(res, body, strlen(body), 0600, err) < 0)
		return -1;
	if (unlink(req) < 0 && errno != ENOENT)
		return rc_errf(err, "cannot remove '%s': %s", req, strerror(errno));
	return 0;
}

int request_wait(const char *state_dir, const char *name, int timeout_ms, bool *ret_ok, char **ret_msg,
		 struct rc_err *err)
{
	_cleanup_free_ char *res = xasprintf("%s/requests/%s.res", state_dir, name);
	int64_t end = now_ms() + timeout_ms;
	for (;;) {
		char *data = NULL;
		size_t len = 0;
		struct rc_err e;
		int r = read_private_file("answer file", res, REQ_MAX_BYTES, &data, &len, &e);
		if (r < 0 && !(r == -1 && errno == ENOENT)) {
			if (err)
				*err = e;
			return -1;
		}
		if (r == 0) {
			char *status = NULL, *msg = NULL;
			two_lines(data, &status, &msg);
			free(data);
			*ret_ok = str_eq(status, "ok");
			free(status);
			*ret_msg = msg;
			unlink(res);
			return 1;
		}
		if (now_ms() >= end)
			return 0;
		sleep_ms(50);
	}
}

static bool is_hex_prefix(const char *s)
{
	size_t n = strlen(s);
	if (n < 4 || n > 40)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void journal(struct rc_state *st, const char *commit, const char *action, const char *unit,
		    const char *message)
{
	struct state_journal_entry je = { .commit = commit, .action = action, .unit = unit, .result = "ok",
					  .message = message };
	struct rc_err err;
	if (state_journal(st, &je, &err) < 0)
		log_warn("%s", err.msg);
}

static int exec_enable(struct rc_state *st, const char *unit, struct buf *msg, unsigned *eff, struct rc_err *err)
{
	if (!*unit)
		return rc_errf(err, "enable needs a unit id");
	bool disabled = state_is_disabled(st, unit, NULL);
	struct state_restarts r = state_get_restarts(st, unit);
	if (!disabled && r.failures == 0)
		return rc_errf(err, "unit '%s' is not disabled", unit);
	state_del_disabled(st, unit);
	state_del_restarts(st, unit);
	buf_addf(msg, "enabled '%s' (failure counter reset)", unit);
	journal(st, NULL, "enable", unit, buf_cstr(msg));
	*eff = REQ_EFFECT_CONVERGE;
	return 0;
}

static int exec_disable(struct rc_state *st, const char *unit, const char *note, const char *who, struct buf *msg,
			struct rc_err *err)
{
	if (!*unit)
		return rc_errf(err, "disable needs a unit id");
	if (note && !note_ok(note))
		return rc_errf(err, "the reason must be one line of printable text, at most %d bytes", REQ_ARG_MAX);
	if (state_is_disabled(st, unit, NULL))
		return rc_errf(err, "unit '%s' is disabled already", unit);
	_cleanup_free_ char *why = xasprintf("disabled by %s%s%s", who ? who : "an operator", note ? ": " : "",
					     note ? note : "");
	state_set_disabled(st, unit, (int64_t)time(NULL), why);
	buf_addf(msg, "disabled '%s' (%s)", unit, why);
	journal(st, NULL, "disable", unit, why);
	return 0;
}

static int exec_approve(struct rc_state *st, const char *arg, struct buf *msg, unsigned *eff, struct rc_err *err)
{
	if (!*arg)
		return rc_errf(err, "approve needs a commit or a unit id");
	const struct state_awaiting *a = state_get_awaiting(st, arg);
	if (a) {
		if (state_approve(st, arg, err) < 0)
			return -1;
		buf_addf(msg, "approved the change of '%s'", arg);
		journal(st, NULL, "approve", arg, buf_cstr(msg));
		*eff = REQ_EFFECT_CONVERGE;
		return 0;
	}
	if (!is_hex_prefix(arg))
		return rc_errf(err, "no change of unit '%s' is awaiting approval", arg);
	size_t n = 0, k = 0;
	const struct state_awaiting *all = state_awaiting_all(st, &n);
	char **units = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		if (all[i].commit && str_startswith(all[i].commit, arg) && !all[i].approved)
			units[k++] = xstrdup(all[i].unit);
	for (size_t i = 0; i < k; i++) {
		(void)state_approve(st, units[i], NULL);
		buf_addf(msg, "%s'%s'", i ? ", " : "approved the change of ", units[i]);
		journal(st, NULL, "approve", units[i], arg);
		free(units[i]);
	}
	free(units);
	if (k == 0)
		return rc_errf(err, "nothing from commit '%s' is awaiting approval", arg);
	*eff = REQ_EFFECT_CONVERGE;
	return 0;
}

static int exec_retry(struct rc_state *st, const char *arg, struct buf *msg, unsigned *eff, struct rc_err *err)
{
	size_t n = 0, k = 0;
	const struct state_failed_commit *fc = state_failed_commits(st, &n);
	char **commits = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		if (!*arg || str_startswith(fc[i].commit, arg))
			commits[k++] = xstrdup(fc[i].commit);
	for (size_t i = 0; i < k; i++) {
		state_del_failed_commit(st, commits[i]);
		buf_addf(msg, "%s%.12s", i ? ", " : "will retry ", commits[i]);
		journal(st, commits[i], "retry", NULL, "failure forgotten");
		free(commits[i]);
	}
	free(commits);
	if (k == 0)
		return *arg ? rc_errf(err, "commit '%s' is not marked failed", arg)
			    : rc_errf(err, "no commit is marked failed");
	*eff = REQ_EFFECT_RECHECK;
	return 0;
}

int request_exec(struct rc_state *st, const char *verb, const char *arg, struct buf *msg, unsigned *ret_effect,
		 struct rc_err *err)
{
	return request_exec_by(st, verb, arg, NULL, NULL, msg, ret_effect, err);
}

int request_exec_by(struct rc_state *st, const char *verb, const char *arg, const char *note, const char *who,
		    struct buf *msg, unsigned *ret_effect, struct rc_err *err)
{
	unsigned eff = 0;
	int rc;
	if (str_eq(verb, "enable"))
		rc = exec_enable(st, arg, msg, &eff, err);
	else if (str_eq(verb, "disable"))
		rc = exec_disable(st, arg, note, who, msg, err);
	else if (str_eq(verb, "approve"))
		rc = exec_approve(st, arg, msg, &eff, err);
	else if (str_eq(verb, "retry"))
		rc = exec_retry(st, arg, msg, &eff, err);
	else
		rc = rc_errf(err, "unknown request '%s'", verb);
	if (rc == 0)
		*ret_effect = eff;
	return rc;
}
