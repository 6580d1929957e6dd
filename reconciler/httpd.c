/* httpd.c — see httpd.h.  The only user of libmicrohttpd. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "metrics.h"


struct httpd {
	struct MHD_Daemon *mhd;
	struct httpd_opts o;
	char *unix_path;          /* to remove at stop */
	int fd;
	atomic_bool stopping;
	atomic_int streams;
	pthread_mutex_t status_mu; /* one /status document at a time */
};

int httpd_parse_listen(const char *listen, bool *ret_unix, struct rc_err *err)
{
	if (!listen || !*listen)
		return rc_errf(err, "--listen: empty address");
	if (str_startswith(listen, "unix:"))
		listen += 5;
	if (listen[0] == '/') {
		if (strlen(listen) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return rc_errf(err, "--listen: the socket path is too long (%zu bytes)", strlen(listen));
		*ret_unix = true;
		return 0;
	}
	const char *colon = strrchr(listen, ':');
	char host[64];
	if (!colon || (size_t)(colon - listen) >= sizeof host)
		return rc_errf(err, "--listen: '%s' is neither a socket path (/...) nor IPV4:PORT", listen);
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	struct in_addr a;
	char *end = NULL;
	long port = strtol(colon + 1, &end, 10);
	if (inet_pton(AF_INET, host, &a) != 1)
		return rc_errf(err, "--listen: '%s' is not an IPv4 address", host);
	if (!colon[1] || *end || port < 1 || port > 65535)
		return rc_errf(err, "--listen: '%s' is not a port from 1 to 65535", colon + 1);
	*ret_unix = false;
	return 0;
}

static int listen_socket(const char *addr, char **ret_unix_path, struct rc_err *err)
{
	const char *where = addr;
	bool is_unix = false;
	if (httpd_parse_listen(addr, &is_unix, err) < 0)
		return -1;
	if (str_startswith(where, "unix:"))
		where += 5;
	int fd;
	if (is_unix) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", where);
		struct stat sb;
		/* a socket left by a daemon that died; never anything else */
		if (lstat(where, &sb) == 0) {
			if (!S_ISSOCK(sb.st_mode))
				return rc_errf(err, "--where: '%s' exists and is not a socket", where);
			unlink(where);
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return rc_errf(err, "--where: socket: %s", strerror(errno));
		mode_t old = umask(0117);
		int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
		umask(old);
		if (r < 0 || chmod(where, 0660) < 0) {
			int e = errno;
			close(fd);
			return rc_errf(err, "--where: cannot bind '%s': %s", where, strerror(e));
		}
		*ret_unix_path = xstrdup(where);
	} else {
		const char *colon = strrchr(where, ':');
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
		_cleanup_free_ char *host = xstrndup(where, (size_t)(colon - where));
		inet_pton(AF_INET, host, &sa.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return rc_errf(err, "--where: socket: %s", strerror(errno));
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
			int e = errno;
			close(fd);
			return rc_errf(err, "--where: cannot bind %s: %s", where, strerror(e));
		}
	}
	if (listen(fd, 64) < 0) {
		int e = errno;
		close(fd);
		return rc_errf(err, "--where: where: %s", strerror(e));
	}
	return fd;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned code, const char *type, const char *body,
			      size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned code, const char *text)
{
	return answer(conn, code, "text/plain; charset=utf-8", text, strlen(text));
}

/* ---- /events ----------------------------------------------------------- */

struct stream {
	struct httpd *h;
	uint64_t after;
	struct buf pending;       /* formatted, not yet handed to the server */
	size_t off;
	bool hello;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct stream *s = cls;
	if (s->off >= s->pending.len) {
		buf_reset(&s->pending);
		s->off = 0;
		if (atomic_load(&s->h->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (!s->hello) {
			s->hello = true;
			buf_adds(&s->pending, "retry: 1000\n\n");
		}
		s->after = metrics_events_wait(s->after, 1000, 64, &s->pending, NULL);
		if (!s->pending.len)
			buf_adds(&s->pending, ": keep-alive\n\n");  /* also how a closed client is noticed */
	}
	size_t n = s->pending.len - s->off;
	if (n > max)
		n = max;
	memcpy(out, s->pending.data + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;
	atomic_fetch_sub(&s->h->streams, 1);
	buf_release(&s->pending);
	free(s);
}

static enum MHD_Result events(struct httpd *h, struct MHD_Connection *conn)
{
	if (atomic_fetch_add(&h->streams, 1) >= HTTPD_MAX_STREAMS) {
		atomic_fetch_sub(&h->streams, 1);
		return answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "too many event streams\n");
	}
	struct stream *s = xcalloc(1, sizeof(*s));
	s->h = h;
	buf_init(&s->pending, 0);
	const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
	s->after = metrics_event_id_parse(last);
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
	if (!r) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- dispatch ---------------------------------------------------------- */

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct httpd *h = cls;
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0, head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	if (!get && !head) {
		/* nothing here takes a body or changes anything; refuse at once, before any upload */
		struct MHD_Response *r = MHD_create_response_from_buffer(strlen("read-only: GET only\n"),
									 (void *)"read-only: GET only\n",
									 MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Allow", "GET, HEAD");
		MHD_add_response_header(r, "Connection", "close");
		enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/metrics") == 0) {
		struct buf b = BUF_INIT;
		metrics_render(&b);
		enum MHD_Result ret = answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "",
					     b.len);
		buf_release(&b);
		return ret;
	}
	if (strcmp(url, "/healthz") == 0) {
		int64_t bound = h->o.health_bound_ns > 0 ? h->o.health_bound_ns : 60 * NS_PER_S;
		int64_t age = metrics_heartbeat_age_ns();
		char msg[128];
		bool ok = age >= 0 && age <= bound;
		snprintf(msg, sizeof msg, "%s: the loop turned %.1fs ago (bound %.0fs)\n", ok ? "ok" : "stalled",
			 age >= 0 ? (double)age / 1e9 : -1.0, (double)bound / 1e9);
		if (age < 0)
			snprintf(msg, sizeof msg, "starting: the loop has not turned yet\n");
		return answer_text(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, msg);
	}
	if (strcmp(url, "/status") == 0) {
		if (!h->o.status)
			return answer_text(conn, MHD_HTTP_NOT_FOUND, "no status here\n");
		struct buf b = BUF_INIT;
		struct rc_err err = { 0 };
		pthread_mutex_lock(&h->status_mu);
		int r = h->o.status(h->o.status_ctx, &b, &err);
		pthread_mutex_unlock(&h->status_mu);
		enum MHD_Result ret;
		if (r < 0) {
			_cleanup_free_ char *m = xasprintf("status: %s\n", err.msg);
			ret = answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, m);
		} else {
			ret = answer(conn, MHD_HTTP_OK, "application/json", b.data ? b.data : "", b.len);
		}
		buf_release(&b);
		return ret;
	}
	if (strcmp(url, "/events") == 0)
		return events(h, conn);
	return answer_text(conn, MHD_HTTP_NOT_FOUND, "not found: /metrics, /status, /healthz, /events\n");
}

int httpd_start(const struct httpd_opts *o, struct httpd **ret, struct rc_err *err)
{
	char *unix_path = NULL;
	int fd = listen_socket(o->listen, &unix_path, err);
	if (fd < 0)
		return -1;
	struct httpd *h = xcalloc(1, sizeof(*h));
	h->o = *o;
	h->fd = fd;
	h->unix_path = unix_path;
	atomic_init(&h->stopping, false);
	atomic_init(&h->streams, 0);
	pthread_mutex_init(&h->status_mu, NULL);
	h->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
					  MHD_USE_ITC,
				  0, NULL, NULL, handle, h,
				  MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTPD_MAX_CONNECTIONS,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTPD_REQUEST_MEMORY,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTPD_IDLE_TIMEOUT_S,
				  MHD_OPTION_END);
	if (!h->mhd) {
		close(fd);
		if (unix_path)
			unlink(unix_path);
		free(unix_path);
		pthread_mutex_destroy(&h->status_mu);
		free(h);
		return rc_errf(err, "--listen %s: the HTTP server did not start", o->listen);
	}
	*ret = h;
	return 0;
}

void httpd_stop(struct httpd *h)
{
	if (!h)
		return;
	atomic_store(&h->stopping, true);
	metrics_events_wake();
	MHD_stop_daemon(h->mhd);
	close(h->fd);
	if (h->unix_path)
		unlink(h->unix_path);
	free(h->unix_path);
	pthread_mutex_destroy(&h->status_mu);
	free(h);
}
