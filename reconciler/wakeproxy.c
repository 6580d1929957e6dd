/* wakeproxy.c — listeners on sleeping units' ports, held connections, the relay (wakeproxy.h). */
#include "wakeproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WP_BUF 16384
#define WP_RETRY_NS (50 * NS_PER_MS)

struct listener {
	char *unit;
	int fd;
	uint16_t port, cport;
};

enum conn_state { C_HELD, C_CONNECTING, C_RELAY };

struct pipe_buf {
	char data[WP_BUF];
	size_t off, len;
	bool eof;       /* the reading side ended */
	bool shut;      /* passed on to the writing side (shutdown SHUT_WR) */
};

struct conn {
	char *unit;
	enum conn_state st;
	int cfd, ufd;   /* the client's, the container's (-1: none yet) */
	uint16_t cport;
	char ip[64];
	int64_t deadline;   /* C_HELD/C_CONNECTING: the end of the hold; C_RELAY: the idle bound */
	int64_t retry_at;   /* C_CONNECTING after a refusal: when to connect again; 0: connecting */
	struct pipe_buf up, down;  /* client -> container, container -> client */
	bool answered;      /* a byte came back from the container */
	bool done;
};

struct wakeproxy {
	size_t max_held;
	int64_t hold_ns, idle_ns;
	struct listener *ls;
	size_t nls, cls;
	struct conn **cs;
	size_t ncs, ccs;
	char **wanted;      /* units a new connection asked for, not returned yet */
	size_t nwanted, cwanted;
	char *returned;     /* the last one returned (borrowed by the caller until the next call) */
};

struct wakeproxy *wp_new(size_t max_held, int64_t hold_ns, int64_t idle_ns)
{
	struct wakeproxy *wp = xcalloc(1, sizeof(*wp));
	wp->max_held = max_held;
	wp->hold_ns = hold_ns;
	wp->idle_ns = idle_ns;
	return wp;
}

static void conn_free(struct conn *c)
{
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->ufd >= 0)
		close(c->ufd);
	free(c->unit);
	free(c);
}

void wp_free(struct wakeproxy *wp)
{
	if (!wp)
		return;
	for (size_t i = 0; i < wp->nls; i++) {
		close(wp->ls[i].fd);
		free(wp->ls[i].unit);
	}
	free(wp->ls);
	for (size_t i = 0; i < wp->ncs; i++)
		conn_free(wp->cs[i]);
	free(wp->cs);
	for (size_t i = 0; i < wp->nwanted; i++)
		free(wp->wanted[i]);
	free(wp->wanted);
	free(wp->returned);
	free(wp);
}

static int listen_on(const char *ip, uint16_t port, struct rc_err *err)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		return rc_errf(err, "listening on %s:%u for a sleeping unit: not an IPv4 address", ip, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return rc_errf(err, "listening on %s:%u for a sleeping unit: %s", ip, port, strerror(e));
	}
	return fd;
}

static void add_listener(struct wakeproxy *wp, const char *unit, int fd, uint16_t port, uint16_t cport)
{
	GROW(wp->ls, wp->nls + 1, wp->cls);
	wp->ls[wp->nls++] = (struct listener){ xstrdup(unit), fd, port, cport };
}

int wp_listen(struct wakeproxy *wp, const char *unit, const char *host_ip, uint16_t port, uint16_t cport,
	      struct rc_err *err)
{
	bool any = !host_ip || !*host_ip || str_eq(host_ip, "0.0.0.0");
	int fd = listen_on(any ? "0.0.0.0" : host_ip, port, err);
	if (fd < 0)
		return -1;
	add_listener(wp, unit, fd, port, cport);
	if (!any && !str_eq(host_ip, "127.0.0.1")) {
		struct rc_err e2 = { 0 };
		int lo = listen_on("127.0.0.1", port, &e2);
		if (lo >= 0)
			add_listener(wp, unit, lo, port, cport);
	}
	return 0;
}

bool wp_listening(const struct wakeproxy *wp, const char *unit)
{
	for (size_t i = 0; i < wp->nls; i++)
		if (str_eq(wp->ls[i].unit, unit))
			return true;
	return false;
}

bool wp_listens_on(const struct wakeproxy *wp, uint16_t port)
{
	for (size_t i = 0; i < wp->nls; i++)
		if (wp->ls[i].port == port)
			return true;
	return false;
}

size_t wp_held(const struct wakeproxy *wp, const char *unit)
{
	size_t n = 0;
	for (size_t i = 0; i < wp->ncs; i++)
		if (wp->cs[i]->st == C_HELD && !wp->cs[i]->done && str_eq(wp->cs[i]->unit, unit))
			n++;
	return n;
}

static size_t nheld(const struct wakeproxy *wp)
{
	size_t n = 0;
	for (size_t i = 0; i < wp->ncs; i++)
		if (wp->cs[i]->st != C_RELAY && !wp->cs[i]->done)
			n++;
	return n;
}

static void want(struct wakeproxy *wp, const char *unit)
{
	for (size_t i = 0; i < wp->nwanted; i++)
		if (str_eq(wp->wanted[i], unit))
			return;
	GROW(wp->wanted, wp->nwanted + 1, wp->cwanted);
	wp->wanted[wp->nwanted++] = xstrdup(unit);
}

/* Accept what waits on listener l; each held (up to max_held), the unit wanted. */
static void accept_all(struct wakeproxy *wp, const struct listener *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;  /* EAGAIN: no more */
		if (nheld(wp) >= wp->max_held) {
			close(fd);  /* bounded: the client sees the connection closed */
			continue;
		}
		struct conn *c = xcalloc(1, sizeof(*c));
		c->unit = xstrdup(l->unit);
		c->cfd = fd;
		c->ufd = -1;
		c->cport = l->cport;
		c->st = C_HELD;
		c->deadline = now_ns() + wp->hold_ns;
		GROW(wp->cs, wp->ncs + 1, wp->ccs);
		wp->cs[wp->ncs++] = c;
		want(wp, l->unit);
	}
}

void wp_unlisten(struct wakeproxy *wp, const char *unit)
{
	for (size_t i = wp->nls; i-- > 0;) {
		if (!str_eq(wp->ls[i].unit, unit))
			continue;
		accept_all(wp, &wp->ls[i]);  /* a connection in the backlog is held too */
		close(wp->ls[i].fd);
		free(wp->ls[i].unit);
		wp->ls[i] = wp->ls[--wp->nls];
	}
}

/* Start connecting c to its container; a refusal is retried (C_CONNECTING, retry_at). */
static void connect_up(struct conn *c)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(c->cport) };
	if (inet_pton(AF_INET, c->ip, &a.sin_addr) != 1) {
		c->done = true;
		return;
	}
	if (c->ufd >= 0)
		close(c->ufd);
	c->ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->st = C_CONNECTING;
	c->retry_at = 0;
	if (c->ufd < 0) {
		c->done = true;
		return;
	}
	if (connect(c->ufd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
		close(c->ufd);
		c->ufd = -1;
		c->retry_at = now_ns() + WP_RETRY_NS;
	}
}

void wp_splice(struct wakeproxy *wp, const char *unit, const char *ip)
{
	for (size_t i = 0; i < wp->ncs; i++) {
		struct conn *c = wp->cs[i];
		if (c->st != C_HELD || c->done || !str_eq(c->unit, unit))
			continue;
		snprintf(c->ip, sizeof c->ip, "%s", ip);
		connect_up(c);
	}
}

void wp_drop(struct wakeproxy *wp, const char *unit)
{
	for (size_t i = 0; i < wp->ncs; i++)
		if (wp->cs[i]->st != C_RELAY && str_eq(wp->cs[i]->unit, unit))
			wp->cs[i]->done = true;
}

size_t wp_unanswered(const struct wakeproxy *wp)
{
	size_t n = 0;
	for (size_t i = 0; i < wp->ncs; i++)
		if (!wp->cs[i]->done && wp->cs[i]->st != C_HELD && !wp->cs[i]->answered)
			n++;
	return n;
}

size_t wp_nfds(const struct wakeproxy *wp)
{
	return wp->nls + 2 * wp->ncs;
}

static void add_fd(struct pollfd *fds, size_t *n, size_t cap, int fd, short ev)
{
	if (fd >= 0 && ev && *n < cap)
		fds[(*n)++] = (struct pollfd){ fd, ev, 0 };
}

void wp_pollfds(const struct wakeproxy *wp, struct pollfd *fds, size_t *n, size_t cap)
{
	for (size_t i = 0; i < wp->nls; i++)
		add_fd(fds, n, cap, wp->ls[i].fd, POLLIN);
	for (size_t i = 0; i < wp->ncs; i++) {
		const struct conn *c = wp->cs[i];
		if (c->done)
			continue;
		if (c->st == C_CONNECTING && !c->retry_at)
			add_fd(fds, n, cap, c->ufd, POLLOUT);
		if (c->st != C_RELAY)
			continue;  /* held: not read from */
		short cev = (short)((!c->up.eof && c->up.len < WP_BUF ? POLLIN : 0) | (c->down.len ? POLLOUT : 0));
		short uev = (short)((!c->down.eof && c->down.len < WP_BUF ? POLLIN : 0) | (c->up.len ? POLLOUT : 0));
		add_fd(fds, n, cap, c->cfd, cev);
		add_fd(fds, n, cap, c->ufd, uev);
	}
}

int64_t wp_deadline(const struct wakeproxy *wp)
{
	int64_t t = 0;
	for (size_t i = 0; i < wp->ncs; i++) {
		const struct conn *c = wp->cs[i];
		int64_t at = c->done ? 1 : c->retry_at && c->retry_at < c->deadline ? c->retry_at : c->deadline;
		if (!t || at < t)
			t = at;
	}
	return t;
}

static short revents_of(const struct pollfd *fds, size_t n, int fd)
{
	for (size_t i = 0; fd >= 0 && i < n; i++)
		if (fds[i].fd == fd)
			return fds[i].revents;
	return 0;
}

/* Read from fd into b; false on an error. */
static bool fill(int fd, struct pipe_buf *b)
{
	if (b->eof || b->len >= WP_BUF)
		return true;
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->off) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	ssize_t r = read(fd, b->data + b->len, WP_BUF - b->len);
	if (r > 0)
		b->len += (size_t)r;
	else if (r == 0)
		b->eof = true;
	else if (errno != EAGAIN && errno != EINTR)
		return false;
	return true;
}

/* Write what b holds to fd; pass its end on once drained.  false on an error. */
static bool drain(int fd, struct pipe_buf *b)
{
	if (b->off < b->len) {
		ssize_t w = send(fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
		if (w > 0)
			b->off += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		if (b->off == b->len)
			b->off = b->len = 0;
	}
	if (b->eof && !b->len && !b->shut) {
		shutdown(fd, SHUT_WR);
		b->shut = true;
	}
	return true;
}

static void relay(struct conn *c, const struct pollfd *fds, size_t n, int64_t now, int64_t idle_ns)
{
	short cr = revents_of(fds, n, c->cfd), ur = revents_of(fds, n, c->ufd);
	if (!cr && !ur)
		return;
	size_t before = c->up.len + c->down.len + c->up.off + c->down.off;
	bool ok = true;
	if (cr & (POLLIN | POLLHUP | POLLERR))
		ok = ok && fill(c->cfd, &c->up);
	if (ur & (POLLIN | POLLHUP | POLLERR))
		ok = ok && fill(c->ufd, &c->down);
	c->answered = c->answered || c->down.len || c->down.eof;
	ok = ok && drain(c->ufd, &c->up) && drain(c->cfd, &c->down);
	if (!ok || (c->up.shut && c->down.shut))
		c->done = true;
	if (c->up.len + c->down.len + c->up.off + c->down.off != before || (cr | ur))
		c->deadline = now + idle_ns;
}

/* A connect finished (or failed: tried again until the hold ends). */
static void connected(struct conn *c, const struct pollfd *fds, size_t n, int64_t now, int64_t idle_ns)
{
	if (c->retry_at) {
		if (now >= c->retry_at)
			connect_up(c);
		return;
	}
	if (!(revents_of(fds, n, c->ufd) & (POLLOUT | POLLERR | POLLHUP)))
		return;
	int e = 0;
	socklen_t len = sizeof e;
	if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e) {
		close(c->ufd);
		c->ufd = -1;
		c->retry_at = now + WP_RETRY_NS;
		return;
	}
	c->st = C_RELAY;
	c->deadline = now + idle_ns;
}

const char *wp_handle(struct wakeproxy *wp, const struct pollfd *fds, size_t n)
{
	int64_t now = now_ns();
	for (size_t i = 0; n && i < wp->nls; i++)
		if (revents_of(fds, n, wp->ls[i].fd) & POLLIN)
			accept_all(wp, &wp->ls[i]);
	for (size_t i = 0; i < wp->ncs; i++) {
		struct conn *c = wp->cs[i];
		if (c->done)
			continue;
		if (c->st == C_CONNECTING)
			connected(c, fds, n, now, wp->idle_ns);
		else if (c->st == C_RELAY)
			relay(c, fds, n, now, wp->idle_ns);
		if (!c->done && now >= c->deadline)
			c->done = true;  /* held too long, or a relay idle too long */
	}
	for (size_t i = wp->ncs; i-- > 0;) {
		if (!wp->cs[i]->done)
			continue;
		conn_free(wp->cs[i]);
		wp->cs[i] = wp->cs[--wp->ncs];
	}
	free(wp->returned);
	wp->returned = NULL;
	if (!wp->nwanted)
		return NULL;
	wp->returned = wp->wanted[0];
	memmove(wp->wanted, wp->wanted + 1, (wp->nwanted - 1) * sizeof(*wp->wanted));
	wp->nwanted--;
	return wp->returned;
}
