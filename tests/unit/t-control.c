/*
 * Unit tests for control.c: both ends of the control socket in one process
 * (the daemon's end on a thread), over a real unix socket in a temporary
 * state directory.  What the daemon does with a request is tested in
 * t0550 against a real engine.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <poll.h>

#include "control.h"
#include "tap.h"
#include "util.h"

static char dir[] = "/tmp/rc-t-control.XXXXXX";

/* The daemon's end: accept one request, then do what mode says. */
enum mode { ANSWER_OK, ANSWER_NO, ANSWER_NOTHING, REFUSE, CUT };

struct server {
	struct control_server *s;
	enum mode mode;
	int accepted;                 /* control_accept()'s return */
	struct control_request seen;  /* copies of what it read */
	int said;                     /* control_say_accepted()'s return */
};

static int wait_readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, ms);
}

static void *serve(void *p)
{
	struct server *sv = p;
	struct control_request *r = NULL;
	struct rc_err err = { 0 };
	sv->accepted = -2;
	if (wait_readable(control_fd(sv->s), 5000) <= 0)
		return NULL;
	sv->accepted = control_accept(sv->s, &r, &err);
	if (sv->accepted != 1)
		return NULL;
	sv->seen.verb = xstrdup(r->verb);
	sv->seen.format = xstrdup(r->format);
	sv->seen.color = r->color;
	sv->seen.parallel = r->parallel;
	sv->seen.commit = xstrdup(r->commit);
	sv->seen.path = xstrdup(r->path);
	if (sv->mode == REFUSE) {  /* as for a request it does not understand: no "accepted" first */
		control_answer_no(r, "unknown request");
		control_request_free(r);
		return NULL;
	}
	sv->said = control_say_accepted(r);
	if (sv->mode == ANSWER_OK)
		control_answer_ok(r, 2, 17, 1234567, "report\nline two\n", 16);
	else if (sv->mode == ANSWER_NO)
		control_answer_no(r, "another\tcommit\nin force");
	else if (sv->mode == CUT) {  /* a daemon that dies while it writes */
		static const char part[] = "ok\t2\t1\t5\t100\nonly a part of the repo";
		if (send(r->fd, part, sizeof(part) - 1, MSG_NOSIGNAL) < 0)
			diag("send: %s", strerror(errno));
	}
	control_request_free(r);
	return NULL;
}

static void seen_release(struct server *sv)
{
	free(sv->seen.verb);
	free(sv->seen.format);
	free(sv->seen.commit);
	free(sv->seen.path);
	memset(&sv->seen, 0, sizeof(sv->seen));
}

/* Write raw bytes to the socket, read the whole answer into out. */
static void raw_request(const char *req, char *out, size_t outsz)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, CONTROL_SOCKET);
	out[0] = '\0';
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
			diag("send: %s", strerror(errno));
		size_t n = 0;
		ssize_t r;
		while (n + 1 < outsz && wait_readable(fd, 5000) > 0 && (r = recv(fd, out + n, outsz - 1 - n, 0)) > 0)
			n += (size_t)r;
		while (n && out[n - 1] == '\n')
			n--;
		out[n] = '\0';
	}
	close(fd);
}

/* One exchange: the daemon's end on a thread, answering as mode; the command's end here. */
static int exchange(struct server *sv, struct control_server *s, enum mode mode, bool fix, const char *format,
		    bool color, int parallel, const char *commit, const char *path, struct control_drift_answer *a,
		    struct rc_err *err)
{
	*sv = (struct server){ .s = s, .mode = mode };
	pthread_t th;
	pthread_create(&th, NULL, serve, sv);
	struct control_drift_req q = { fix, format, color, parallel, commit, path, 2000, 5000 };
	int r = control_drift(dir, &q, a, err);
	pthread_join(th, NULL);
	return r;
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	struct rc_err err = { 0 };
	struct control_drift_answer a;

	/* no daemon: no socket file */
	is_int(control_drift(dir, &(struct control_drift_req){ false, "text", false, 8, "abc", "", 200, 1000 }, &a, &err), 0, "no socket: not answered");
	ok(strstr(err.msg, "no daemon answers") != NULL, "and says so (%s)", err.msg);

	/* a state directory whose path leaves no room for the socket's name */
	{
		char longdir[200];
		memset(longdir, 'd', sizeof(longdir) - 1);
		longdir[0] = '/';
		longdir[sizeof(longdir) - 1] = '\0';
		struct control_server *none = NULL;
		is_int(control_listen(longdir, &none, &err), -1, "too long a path: no socket");
		ok(strstr(err.msg, "a socket path is at most") != NULL, "and says so (%s)", err.msg);
		is_int(control_drift(longdir, &(struct control_drift_req){ false, "text", false, 8, "abc", "", 200, 1000 }, &a, &err), 0,
		       "nor a request to it");
	}

	/* the socket file of a daemon killed with -9: nobody listens on it */
	char *path = xasprintf("%s/%s", dir, CONTROL_SOCKET);
	int dead = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok(bind(dead, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(dead, 1) == 0, "a daemon's socket");
	close(dead);
	is_int(control_drift(dir, &(struct control_drift_req){ false, "text", false, 8, "abc", "", 200, 1000 }, &a, &err), 0, "its daemon dead: not answered");
	ok(strstr(err.msg, "no daemon answers") != NULL, "and says so (%s)", err.msg);
	/* the next daemon replaces it */
	struct control_server *s = NULL;
	is_int(control_listen(dir, &s, &err), 0, "listen over the dead one's file (%s)", err.msg);
	struct stat sb;
	ok(stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) && (sb.st_mode & 0777) == 0600, "the socket is mode 0600");

	/* an answered request: every field there and back */
	struct server sv;
	int r = exchange(&sv, s, ANSWER_OK, false, "markdown", true, 3, "0123456789abcdef", "sub/dir", &a, &err);
	is_int(r, 1, "answered (%s)", err.msg);
	is_int(sv.accepted, 1, "the daemon's end read a request");
	is_str(sv.seen.verb, "drift", "verb");
	is_str(sv.seen.format, "markdown", "format");
	ok(sv.seen.color, "color");
	is_int(sv.seen.parallel, 3, "parallel");
	is_str(sv.seen.commit, "0123456789abcdef", "commit");
	is_str(sv.seen.path, "sub/dir", "path");
	is_int(sv.said, 0, "accepted was said");
	is_int(a.exit_code, 2, "exit code");
	is_int((long long)a.count, 17, "count");
	is_int(a.duration_ns, 1234567, "duration");
	is_int((long long)a.len, 16, "report length");
	is_str(a.body, "report\nline two\n", "report");
	free(a.body);
	seen_release(&sv);

	/* a fix */
	r = exchange(&sv, s, ANSWER_OK, true, "text", false, 8, "abc", "", &a, &err);
	is_int(r, 1, "a fix: answered (%s)", err.msg);
	is_str(sv.seen.verb, "fix", "a fix: verb");
	free(a.body);
	seen_release(&sv);

	/* --parallel is clamped to what the daemon takes; the root is "" */
	r = exchange(&sv, s, ANSWER_OK, false, "json", false, 999, "c0ffee", NULL, &a, &err);
	is_int(r, 1, "answered");
	is_int(sv.seen.parallel, 256, "parallel over 256 is sent as 256");
	is_str(sv.seen.path, "", "no path: the root");
	ok(!sv.seen.color, "no color");
	free(a.body);
	seen_release(&sv);

	/* declined */
	r = exchange(&sv, s, ANSWER_NO, false, "text", false, 8, "abc", "", &a, &err);
	is_int(r, 0, "declined: not answered");
	is_str(err.msg, "the daemon declined: another commit in force", "the reason, tabs and newlines flattened");
	seen_release(&sv);

	/* refused at once (a daemon of another version, say) */
	r = exchange(&sv, s, REFUSE, false, "text", false, 8, "abc", "", &a, &err);
	is_int(r, 0, "refused: not answered");
	is_str(err.msg, "the daemon declined: unknown request", "the reason");
	seen_release(&sv);

	/* accepted, then the connection closes without a report */
	r = exchange(&sv, s, ANSWER_NOTHING, false, "text", false, 8, "abc", "", &a, &err);
	is_int(r, 0, "no report: not answered");
	ok(strstr(err.msg, "cut short") != NULL, "and says so (%s)", err.msg);
	seen_release(&sv);

	/* a report cut short */
	r = exchange(&sv, s, CUT, false, "text", false, 8, "abc", "", &a, &err);
	is_int(r, 0, "a report cut short: not answered");
	is_str(err.msg, "the daemon's answer is cut short (23 of 100 bytes)", "and says so");
	seen_release(&sv);

	/* a busy daemon: nobody accepts (the connection waits in the backlog) */
	r = control_drift(dir, &(struct control_drift_req){ false, "text", false, 8, "abc", "", 300, 5000 }, &a, &err);
	is_int(r, 0, "busy: not answered");
	ok(strstr(err.msg, "busy") != NULL, "and says so (%s)", err.msg);
	/* ... and when the daemon gets to it, the command is gone: saying accepted fails */
	sv = (struct server){ .s = s, .mode = ANSWER_NOTHING };
	serve(&sv);
	is_int(sv.accepted, 1, "the abandoned request is read");
	is_int(sv.said, -1, "saying accepted to a command that left fails");
	seen_release(&sv);

	/* malformed requests are refused by the daemon's end, which then has nothing to answer */
	static const char *bad[] = {
		"plan\ttext\t0\t8\tabc\t\n", "fixes\ttext\t0\t8\tabc\t\n", "drift\tyaml\t0\t8\tabc\t\n", "drift\ttext\t2\t8\tabc\t\n",
		"drift\ttext\t0\t0\tabc\t\n", "drift\ttext\t0\t257\tabc\t\n", "drift\ttext\t0\t8x\tabc\t\n",
		"drift\ttext\t0\t8\t\t\n", "drift\ttext\t0\t8\tabc\n", "drift\ttext\t0\t8\tabc\t\textra\n",
		"drift\ttext\t0\t8\tabc\t",  /* no newline: the daemon's end waits a second for it */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sv = (struct server){ .s = s, .mode = ANSWER_OK };
		pthread_t th;
		pthread_create(&th, NULL, serve, &sv);
		char out[256];
		raw_request(bad[i], out, sizeof(out));
		pthread_join(th, NULL);
		is_int(sv.accepted, 0, "malformed request %zu: nothing to answer", i);
		ok(!strncmp(out, "no\t", 3), "malformed request %zu: refused (%s)", i, out);
	}

	/* a commit or path with a tab or newline is not sent */
	is_int(control_drift(dir, &(struct control_drift_req){ false, "text", false, 8, "ab\tc", "", 300, 1000 }, &a, &err), 0, "a tab in the commit");
	is_int(control_drift(dir, &(struct control_drift_req){ false, "text", false, 8, "abc", "a\nb", 300, 1000 }, &a, &err), 0, "a newline in the path");

	control_close(s);
	ok(stat(path, &sb) < 0 && errno == ENOENT, "closing removes the socket file");
	free(path);
	rmdir(dir);
	return done_testing();
}
