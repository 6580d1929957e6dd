/* control.c — see control.h. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"

#define REQUEST_MAX 4096

struct control_server {
	int fd;
	char *path;
};

static int socket_path(const char *state_dir, struct sockaddr_un *sa, struct rc_err *err)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", state_dir, CONTROL_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
		return rc_errf(err, "'%s/%s': a socket path is at most %zu bytes", state_dir, CONTROL_SOCKET,
			       sizeof(sa->sun_path) - 1);
	return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- the daemon's side ---- */

int control_listen(const char *state_dir, struct control_server **ret, struct rc_err *err)
{
	struct sockaddr_un sa;
	if (socket_path(state_dir, &sa, err) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return rc_errf(err, "socket: %s", strerror(errno));
	/* the caller holds the state lock: a socket file here is a dead daemon's */
	if (unlink(sa.sun_path) < 0 && errno != ENOENT) {
		int e = errno;
		close(fd);
		return rc_errf(err, "cannot remove '%s': %s", sa.sun_path, strerror(e));
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0600) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		unlink(sa.sun_path);
		return rc_errf(err, "cannot listen on '%s': %s", sa.sun_path, strerror(e));
	}
	struct control_server *s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->path = xstrdup(sa.sun_path);
	*ret = s;
	return 0;
}

int control_fd(const struct control_server *s)
{
	return s ? s->fd : -1;
}

void control_close(struct control_server *s)
{
	if (!s)
		return;
	close(s->fd);
	unlink(s->path);
	free(s->path);
	free(s);
}

void control_request_free(struct control_request *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->verb);
	free(r->format);
	free(r->commit);
	free(r->path);
	free(r);
}

/* Split line (NUL-terminated, no LF) at tabs into at most max fields; returns how many. */
static size_t split_tabs(char *line, char **f, size_t max)
{
	size_t n = 0;
	for (char *p = line; n < max;) {
		f[n++] = p;
		char *t = strchr(p, '\t');
		if (!t)
			break;
		*t = '\0';
		p = t + 1;
	}
	return n;
}

static bool format_known(const char *f)
{
	return !strcmp(f, "text") || !strcmp(f, "markdown") || !strcmp(f, "json");
}

int control_accept(struct control_server *s, struct control_request **ret, struct rc_err *err)
{
	*ret = NULL;
	int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
			return 0;
		return rc_errf(err, "control socket: accept: %s", strerror(errno));
	}
	/* the command writes its request before it waits: a second is plenty */
	struct timeval rt = { 1, 0 }, wt = { 10, 0 };
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wt, sizeof(wt));
	char line[REQUEST_MAX + 1];
	size_t len = 0;
	char *nl = NULL;
	while (!nl && len < REQUEST_MAX) {
		ssize_t r = recv(fd, line + len, REQUEST_MAX - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		line[len] = '\0';
		nl = memchr(line, '\n', len);
	}
	if (!nl) {
		(void)send_all(fd, "no\tno request line\n", 19);
		close(fd);
		return 0;
	}
	*nl = '\0';
	char *f[7];
	size_t n = split_tabs(line, f, 7);
	char *end = NULL;
	long par = n == 6 ? strtol(f[3], &end, 10) : 0;
	if (n != 6 || (strcmp(f[0], "drift") && strcmp(f[0], "fix")) || !format_known(f[1]) || (strcmp(f[2], "0") && strcmp(f[2], "1")) ||
	    end == f[3] || *end || par < 1 || par > 256 || !*f[4]) {
		static const char msg[] = "no\tunknown or malformed request\n";
		(void)send_all(fd, msg, sizeof(msg) - 1);
		close(fd);
		return 0;
	}
	struct control_request *q = xcalloc(1, sizeof(*q));
	q->fd = fd;
	q->verb = xstrdup(f[0]);
	q->format = xstrdup(f[1]);
	q->color = f[2][0] == '1';
	q->parallel = (int)par;
	q->commit = xstrdup(f[4]);
	q->path = xstrdup(f[5]);
	*ret = q;
	return 1;
}

int control_say_accepted(struct control_request *r)
{
	return send_all(r->fd, "accepted\n", 9);
}

void control_answer_ok(struct control_request *r, int exit_code, size_t count, int64_t duration_ns,
		       const char *body, size_t len)
{
	char head[96];
	int n = snprintf(head, sizeof(head), "ok\t%d\t%zu\t%" PRId64 "\t%zu\n", exit_code, count, duration_ns, len);
	if (send_all(r->fd, head, (size_t)n) == 0)
		(void)send_all(r->fd, body, len);
}

void control_answer_no(struct control_request *r, const char *why)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "no\t");
	for (const char *p = why; *p; p++)
		buf_addc(&b, *p == '\n' || *p == '\t' ? ' ' : *p);
	buf_addc(&b, '\n');
	(void)send_all(r->fd, buf_cstr(&b), b.len);
	buf_release(&b);
}

/* ---- the command's side ---- */

/* Read into b until the first LF (want_line) or EOF, or until deadline (now_ms() clock).  1 done, 0 timeout, -1 error. */
static int read_until(int fd, struct buf *b, bool want_line, int64_t deadline)
{
	for (;;) {
		if (want_line && b->len && memchr(b->data, '\n', b->len))
			return 1;
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		char chunk[65536];
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return want_line ? -1 : 1;
		buf_add(b, chunk, (size_t)n);
	}
}

int control_drift(const char *state_dir, const struct control_drift_req *q, struct control_drift_answer *ret,
		  struct rc_err *err)
{
	const char *commit = q->commit, *path = q->path ? q->path : "";
	int parallel = q->parallel, accept_ms = q->accept_ms, answer_ms = q->answer_ms;
	if (strpbrk(commit, "\t\n") || strpbrk(path, "\t\n")) {
		rc_errf(err, "a tab or a newline in the commit or path");
		return 0;
	}
	struct sockaddr_un sa;
	if (socket_path(state_dir, &sa, err) < 0)
		return 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc_errf(err, "socket: %s", strerror(errno));
		return 0;
	}
	struct buf b = BUF_INIT;
	int rc = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc_errf(err, "no daemon answers on '%s': %s", sa.sun_path, strerror(errno));
		goto out;
	}
	buf_addf(&b, "%s\t%s\t%d\t%d\t%s\t%s\n", q->fix ? "fix" : "drift", q->format, q->color ? 1 : 0,
		 parallel < 1 ? 8 : parallel > 256 ? 256 : parallel, commit, path);
	if (send_all(fd, buf_cstr(&b), b.len) < 0) {
		rc_errf(err, "writing to '%s': %s", sa.sun_path, strerror(errno));
		goto out;
	}
	buf_reset(&b);
	int r = read_until(fd, &b, true, now_ms() + accept_ms);
	if (r <= 0) {
		rc_errf(err, r == 0 ? "the daemon is busy (no answer in %d ms)" : "the daemon closed the connection",
			accept_ms);
		goto out;
	}
	if (b.len >= 3 && !memcmp(b.data, "no\t", 3)) {
		/* declined at once (malformed request): the reason is the rest of the line */
		char *nl = memchr(b.data, '\n', b.len);
		rc_errf(err, "the daemon declined: %.*s", (int)(nl - b.data - 3), b.data + 3);
		goto out;
	}
	if (b.len < 9 || memcmp(b.data, "accepted\n", 9)) {
		rc_errf(err, "the daemon's answer is not understood");
		goto out;
	}
	size_t skip = 9;
	r = read_until(fd, &b, false, now_ms() + answer_ms);
	if (r <= 0) {
		rc_errf(err, r == 0 ? "no report from the daemon in %d ms" : "reading the daemon's answer failed",
			answer_ms);
		goto out;
	}
	const char *head = buf_cstr(&b) + skip;
	const char *nl = memchr(head, '\n', b.len - skip);
	if (!nl) {
		rc_errf(err, "the daemon's answer is cut short");
		goto out;
	}
	if (!strncmp(head, "no\t", 3)) {
		rc_errf(err, "the daemon declined: %.*s", (int)(nl - head - 3), head + 3);
		goto out;
	}
	int code = -1;
	size_t count = 0, len = 0;
	int64_t dur = 0;
	int used = 0;
	if (sscanf(head, "ok\t%d\t%zu\t%" SCNd64 "\t%zu%n", &code, &count, &dur, &len, &used) != 4 ||
	    head + used != nl || (code != 0 && code != 2)) {
		rc_errf(err, "the daemon's answer is not understood");
		goto out;
	}
	size_t off = (size_t)(nl + 1 - buf_cstr(&b));
	if (b.len - off != len) {  /* the daemon died while it wrote */
		rc_errf(err, "the daemon's answer is cut short (%zu of %zu bytes)", b.len - off, len);
		goto out;
	}
	struct control_drift_answer a = { .exit_code = code, .count = count, .duration_ns = dur, .len = b.len - off };
	a.body = xmalloc(a.len + 1);
	memcpy(a.body, b.data + off, a.len);
	a.body[a.len] = '\0';
	*ret = a;
	rc = 1;
out:
	buf_release(&b);
	close(fd);
	return rc;
}
