/*
 * Error paths of docker.c that a real engine will not produce on demand,
 * against a tiny fake engine: a thread in this program serving canned
 * replies on a unix socket (and on TCP for the host-string forms).
 * Each connection gets one reply and is closed.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "docker.h"
#include "tap.h"
#include "util.h"

/* ---- the fake engine ---- */

struct step {
	int delay_ms;
	const char *data;  /* one chunk of a chunked reply */
};

struct route {
	const char *method;    /* NULL: any */
	const char *prefix;    /* path (with query) starts with this */
	int status;
	const char *body;      /* JSON reply with Content-Length */
	const char *raw;       /* or: these bytes as they are, then close */
	int delay_ms;          /* before replying */
	const struct step *steps; /* or: a chunked stream of these */
	size_t nsteps;
};

struct request {
	char method[16];
	char path[2048];
	char *head;
	char *body;
};

#define MAX_CONNS 512
#define MAX_REQS 512

static struct {
	int lfd, tfd;
	uint16_t tcp_port;
	char path[108];
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;
	const struct route *routes;
	size_t nroutes;
	pthread_t conns[MAX_CONNS];
	size_t nconns;
	struct request reqs[MAX_REQS];
	size_t nreqs;
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void set_routes(const struct route *r, size_t n)
{
	pthread_mutex_lock(&srv.lock);
	srv.routes = r;
	srv.nroutes = n;
	pthread_mutex_unlock(&srv.lock);
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 409: return "Conflict";
	default: return "Internal Server Error";
	}
}

static void *conn_main(void *p)
{
	int fd = (int)(intptr_t)p;
	struct buf in = BUF_INIT;
	char tmp[4096];
	char *end = NULL;
	while (!(end = in.data ? strstr(in.data, "\r\n\r\n") : NULL)) {
		ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
		if (r <= 0)
			goto out;
		buf_add(&in, tmp, (size_t)r);
	}
	size_t head_len = (size_t)(end - in.data) + 4;
	size_t clen = 0;
	const char *cl = strcasestr(in.data, "\r\nContent-Length:");
	if (cl && cl < end)
		clen = strtoul(cl + strlen("\r\nContent-Length:"), NULL, 10);
	while (in.len < head_len + clen) {
		ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
		if (r <= 0)
			goto out;
		buf_add(&in, tmp, (size_t)r);
	}
	struct request rq = { 0 };
	sscanf(in.data, "%15s %2047s", rq.method, rq.path);
	rq.head = xstrndup(in.data, head_len);
	rq.body = xstrndup(in.data + head_len, clen);

	const struct route *rt = NULL;
	pthread_mutex_lock(&srv.lock);
	for (size_t i = 0; i < srv.nroutes; i++) {
		const struct route *r = &srv.routes[i];
		if ((!r->method || strcmp(r->method, rq.method) == 0) && str_startswith(rq.path, r->prefix)) {
			rt = r;
			break;
		}
	}
	if (srv.nreqs < MAX_REQS)
		srv.reqs[srv.nreqs++] = rq;
	else {
		free(rq.head);
		free(rq.body);
	}
	pthread_mutex_unlock(&srv.lock);

	if (!rt) {
		send_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 30\r\n"
			     "Connection: close\r\n\r\n{\"message\":\"no route in fake\"}");
		goto out;
	}
	sleep_ms(rt->delay_ms);
	if (rt->raw) {
		send_str(fd, rt->raw);
	} else if (rt->steps) {
		char h[256];
		snprintf(h, sizeof(h), "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n", rt->status, reason(rt->status));
		send_str(fd, h);
		for (size_t i = 0; i < rt->nsteps; i++) {
			sleep_ms(rt->steps[i].delay_ms);
			char ch[32];
			snprintf(ch, sizeof(ch), "%zx\r\n", strlen(rt->steps[i].data));
			send_str(fd, ch);
			send_str(fd, rt->steps[i].data);
			send_str(fd, "\r\n");
		}
		send_str(fd, "0\r\n\r\n");
	} else {
		const char *body = rt->body ? rt->body : "";
		char h[256];
		snprintf(h, sizeof(h), "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", rt->status, reason(rt->status), strlen(body));
		send_str(fd, h);
		send_str(fd, body);
	}
out:
	buf_release(&in);
	shutdown(fd, SHUT_WR);
	/* let the client see the close before the fd goes */
	while (recv(fd, tmp, sizeof(tmp), 0) > 0)
		;
	close(fd);
	return NULL;
}

static void *server_main(void *unused)
{
	struct pollfd pf[2] = { { .fd = srv.lfd, .events = POLLIN }, { .fd = srv.tfd, .events = POLLIN } };
	while (!atomic_load(&srv.stop)) {
		if (poll(pf, 2, 50) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (!(pf[i].revents & POLLIN))
				continue;
			int fd = accept(pf[i].fd, NULL, NULL);
			if (fd < 0)
				continue;
			pthread_mutex_lock(&srv.lock);
			if (srv.nconns < MAX_CONNS &&
			    pthread_create(&srv.conns[srv.nconns], NULL, conn_main, (void *)(intptr_t)fd) == 0)
				srv.nconns++;
			else
				close(fd);
			pthread_mutex_unlock(&srv.lock);
		}
	}
	return NULL;
}

static void server_start(void)
{
	snprintf(srv.path, sizeof(srv.path), "/tmp/rc-fake-docker.%d.sock", (int)getpid());
	unlink(srv.path);
	srv.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", srv.path);
	if (srv.lfd < 0 || bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(srv.lfd, 64) < 0)
		die("fake server: %s", strerror(errno));
	srv.tfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in t = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(t);
	if (srv.tfd < 0 || bind(srv.tfd, (struct sockaddr *)&t, sizeof(t)) < 0 || listen(srv.tfd, 64) < 0 ||
	    getsockname(srv.tfd, (struct sockaddr *)&t, &len) < 0)
		die("fake server (tcp): %s", strerror(errno));
	srv.tcp_port = ntohs(t.sin_port);
	pthread_create(&srv.thread, NULL, server_main, NULL);
}

static void server_stop(void)
{
	atomic_store(&srv.stop, true);
	pthread_join(srv.thread, NULL);
	for (size_t i = 0; i < srv.nconns; i++)
		pthread_join(srv.conns[i], NULL);
	close(srv.lfd);
	close(srv.tfd);
	unlink(srv.path);
	for (size_t i = 0; i < srv.nreqs; i++) {
		free(srv.reqs[i].head);
		free(srv.reqs[i].body);
	}
}

/* The last request whose path starts with prefix (copied strings valid until server_stop). */
static const struct request *last_request(const char *prefix)
{
	const struct request *r = NULL;
	pthread_mutex_lock(&srv.lock);
	for (size_t i = srv.nreqs; i-- > 0;)
		if (str_startswith(srv.reqs[i].path, prefix)) {
			r = &srv.reqs[i];
			break;
		}
	pthread_mutex_unlock(&srv.lock);
	return r;
}

/* ---- tests ---- */

#define VERSION_OK { "GET", "/version", 200, "{\"Version\":\"20.10.24\",\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\"}", NULL, 0, NULL, 0 }

static struct dk_client *open_fake(long timeout_ms, size_t max_body)
{
	static const struct route r[] = { VERSION_OK };
	set_routes(r, ARRAY_SIZE(r));
	_cleanup_free_ char *host = xasprintf("unix://%s", srv.path);
	struct dk_opts o = { .host = host, .timeout_ms = timeout_ms, .max_body = max_body };
	struct dk_client *c = NULL;
	struct rc_err err = { 0 };
	if (dk_client_open(&o, &c, &err) < 0)
		die("open fake: %s", err.msg);
	return c;
}

static void test_open(void)
{
	struct rc_err err = { 0 };
	struct dk_client *c = NULL;
	static const struct route old[] = {
		{ "GET", "/version", 200, "{\"Version\":\"19.03.15\",\"ApiVersion\":\"1.40\"}", NULL, 0, NULL, 0 },
	};
	set_routes(old, ARRAY_SIZE(old));
	_cleanup_free_ char *host = xasprintf("unix://%s", srv.path);
	struct dk_opts o = { .host = host };
	ok(dk_client_open(&o, &c, &err) < 0 && !c, "an engine with API 1.40 is refused");
	ok(strstr(err.msg, "API 1.40") && strstr(err.msg, "1.41") && strstr(err.msg, "19.03.15"),
	   "clear message: %s", err.msg);
	const struct request *rq = last_request("/version");
	ok(rq && strcmp(rq->path, "/version") == 0, "the check asks the unversioned /version");

	static const struct route garbage[] = { { "GET", "/version", 200, "{\"Version\":", NULL, 0, NULL, 0 } };
	set_routes(garbage, 1);
	ok(dk_client_open(&o, &c, &err) < 0 && strstr(err.msg, "invalid JSON"), "garbage /version: %s", err.msg);

	static const struct route ok_[] = { VERSION_OK, { "GET", "/v1.41/_ping", 200, "OK", NULL, 0, NULL, 0 } };
	set_routes(ok_, ARRAY_SIZE(ok_));
	ok(dk_client_open(&o, &c, &err) == 0 && c, "API 1.41 accepted (%s)", err.msg);
	struct dk_status st;
	ok(dk_ping(c, &st, &err) == 0 && st.http == 200, "ping over the unix socket");
	dk_client_free(c);

	/* host forms */
	const char *forms[] = { "tcp://", "http://", "http://" };
	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		_cleanup_free_ char *h = xasprintf("%s127.0.0.1:%u%s", forms[i], srv.tcp_port, i == 2 ? "/" : "");
		struct dk_opts ot = { .host = h };
		c = NULL;
		ok(dk_client_open(&ot, &c, &err) == 0 && dk_ping(c, &st, &err) == 0, "host '%s' works (%s)", h, err.msg);
		dk_client_free(c);
	}
	_cleanup_free_ char *bare = xstrdup(srv.path);
	struct dk_opts ob = { .host = bare };
	c = NULL;
	ok(dk_client_open(&ob, &c, &err) == 0, "a bare socket path works");
	dk_client_free(c);

	struct dk_opts on = { .host = "unix:///tmp/rc-no-such-socket.sock", .timeout_ms = 1000 };
	c = NULL;
	ok(dk_client_open(&on, &c, &err) < 0 && strstr(err.msg, "cannot connect") &&
	   strstr(err.msg, "rc-no-such-socket"), "connection refused: %s", err.msg);
	struct dk_opts ol = { .host = "unix:///tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	ok(dk_client_open(&ol, &c, &err) < 0 && strstr(err.msg, "107"), "socket path too long: %s", err.msg);
	struct dk_opts os = { .host = "npipe:////./pipe/docker_engine" };
	ok(dk_client_open(&os, &c, &err) < 0 && strstr(err.msg, "unsupported"), "npipe refused: %s", err.msg);
}

static void test_errors(void)
{
	static char big[20000];
	memset(big, 'x', sizeof(big) - 1);
	big[0] = '"';
	big[sizeof(big) - 2] = '"';
	static const struct route r[] = {
		{ "GET", "/v1.41/containers/e500/json", 500, "{\"message\":\"boom: disk on fire\"}", NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/e500plain/json", 500, "plain text failure\n", NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/trunc/json", 200, "{\"Id\":\"abc\",\"Name\":\"/x", NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/drop/json", 0, NULL,
		  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Id\":\"abc\",", 0, NULL, 0 },
		{ "GET", "/v1.41/containers/big/json", 200, big, NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/slow/json", 200, "{\"Id\":\"slow\"}", NULL, 1500, NULL, 0 },
		{ "GET", "/v1.41/containers/noid/json", 200, "{\"Name\":\"/x\"}", NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/json", 200, "{\"not\":\"an array\"}", NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/e503/json", 503, "{\"message\":\"busy\"}", NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/e500ctd/json", 500, "{\"message\":\"connection error: desc = \\\"transport: "
		  "Error while dialing dial unix /run/containerd/containerd.sock: connect: connection refused\\\"\"}",
		  NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/e404/json", 404, "{\"message\":\"No such container: e404\"}", NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/e404garbage/json", 404, "<html>nope", NULL, 0, NULL, 0 },
		{ "POST", "/v1.41/containers/garbage/start", 200, "\x01\xffnot json", NULL, 0, NULL, 0 },
		{ "POST", "/v1.41/containers/ok/start", 204, NULL, NULL, 0, NULL, 0 },
		{ "POST", "/v1.41/containers/e409/start", 409, "{\"message\":\"conflict\"}", NULL, 0, NULL, 0 },
		{ "POST", "/v1.41/containers/create", 201, "{\"Warnings\":[]}", NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/_ping", 200, "{}", NULL, 0, NULL, 0 },
	};
	struct dk_client *c = open_fake(400, 4096);
	set_routes(r, ARRAY_SIZE(r));
	struct dk_status st;
	struct rc_err err = { 0 };
	struct dk_container *ct = NULL;

	ok(dk_container_inspect(c, "e500", &ct, &st, &err) < 0 && !ct, "HTTP 500 fails");
	is_int(st.http, 500, "status 500");
	is_str(st.message, "boom: disk on fire", "Docker's message");
	ok(strstr(err.msg, "inspect container 'e500'") && strstr(err.msg, "500") && strstr(err.msg, "disk on fire"),
	   "error names the call, code and message: %s", err.msg);
	ok(!err.engine_fault, "a 500 with Docker's message is the engine's answer, no fault");
	ok(dk_container_inspect(c, "e500plain", &ct, &st, &err) < 0, "500 with a text body fails");
	is_str(st.message, "plain text failure", "the text is the message (trimmed)");
	ok(err.engine_fault, "an error reply that is not Docker's JSON is an engine fault");
	ok(dk_container_inspect(c, "e503", &ct, &st, &err) < 0 && err.engine_fault, "503 is an engine fault");
	ok(dk_container_inspect(c, "e500ctd", &ct, &st, &err) < 0 && err.engine_fault,
	   "a 500 saying containerd is unreachable is an engine fault: %s", err.msg);
	ok(dk_container_inspect(c, "e404", &ct, &st, &err) < 0 && st.http == 404 && !err.engine_fault,
	   "404 is an answer");
	ok(dk_container_inspect(c, "e404garbage", &ct, &st, &err) < 0 && err.engine_fault, "404 with garbage: a fault");
	ok(dk_container_start(c, "garbage", &st, &err) < 0 && err.engine_fault && strstr(err.msg, "invalid JSON"),
	   "a 200 with a garbage body to a start is an engine fault: %s", err.msg);
	ok(dk_container_start(c, "ok", &st, &err) == 0, "204 without a body is fine");
	err.engine_fault = true;
	ok(dk_container_start(c, "e409", &st, &err) < 0 && !err.engine_fault, "409 is an answer (and rc_errf clears the flag)");
	struct dk_create_spec cs = { .name = "x", .image = "img" };
	char *cid = NULL;
	ok(dk_container_create(c, &cs, &cid, &st, &err) < 0 && !cid && err.engine_fault && strstr(err.msg, "no Id"),
	   "a create answered without an Id is an engine fault: %s", err.msg);
	ok(dk_ping(c, &st, &err) < 0 && err.engine_fault, "a ping not answered \"OK\" fails, as a fault: %s", err.msg);

	ok(dk_container_inspect(c, "trunc", &ct, &st, &err) < 0 && !ct && strstr(err.msg, "invalid JSON") &&
	   err.engine_fault, "truncated JSON: a fault: %s", err.msg);
	ok(dk_container_inspect(c, "noid", &ct, &st, &err) < 0 && !ct && strstr(err.msg, "no Id") && err.engine_fault,
	   "JSON without Id: a fault: %s", err.msg);
	ok(dk_container_inspect(c, "drop", &ct, &st, &err) < 0 && !ct && err.engine_fault,
	   "connection dropped mid-body fails, as a fault");
	is_int(st.http, 0, "no complete reply: http 0");
	diag("dropped: %s", err.msg);
	ok(dk_container_inspect(c, "big", &ct, &st, &err) < 0 && strstr(err.msg, "larger than 4096 bytes") &&
	   err.engine_fault, "body over the cap: %s", err.msg);
	ok(dk_container_inspect(c, "slow", &ct, &st, &err) < 0 && strstr(err.msg, "within 400 ms") && st.http == 0 &&
	   err.engine_fault, "slow server hits the timeout, a fault: %s", err.msg);
	struct dk_container_list *l = NULL;
	ok(dk_container_list(c, NULL, 0, &l, &st, &err) < 0 && !l && strstr(err.msg, "not an array"),
	   "list reply that is no array: %s", err.msg);
	dk_client_free(c);
}

static void test_codes_and_bodies(void)
{
	static const struct route r[] = {
		{ "POST", "/v1.41/containers/c1/start", 304, NULL, NULL, 0, NULL, 0 },
		{ "POST", "/v1.41/containers/gone/stop", 404, "{\"message\":\"No such container: gone\"}", NULL, 0, NULL, 0 },
		{ "POST", "/v1.41/containers/c1/stop", 204, NULL, NULL, 0, NULL, 0 },
		{ "POST", "/v1.41/containers/create?name=dup", 409,
		  "{\"message\":\"Conflict. The container name \\\"/dup\\\" is already in use\"}", NULL, 0, NULL, 0 },
		{ "POST", "/v1.41/containers/create", 201, "{\"Id\":\"newid\",\"Warnings\":[]}", NULL, 0, NULL, 0 },
		{ "POST", "/v1.41/containers/c1/update", 200, "{\"Warnings\":[]}", NULL, 0, NULL, 0 },
		{ "DELETE", "/v1.41/containers/c1", 204, NULL, NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/json", 200, "[{\"Id\":\"c1\",\"Names\":[\"/web\"],\"Image\":\"img:1\","
		  "\"ImageID\":\"sha256:i\",\"State\":\"running\",\"Status\":\"Up\",\"Labels\":{\"b\":\"2\",\"a\":\"1\"},"
		  "\"Ports\":[{\"IP\":\"0.0.0.0\",\"PrivatePort\":80,\"PublicPort\":8080,\"Type\":\"tcp\"}],"
		  "\"NetworkSettings\":{\"Networks\":{\"zeta\":{},\"alpha\":{}}}}]", NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/c1/json", 200, "{\"Id\":\"c1aaaaaaaaaaaaaaaa\",\"Name\":\"/web\",\"Image\":\"sha256:i\","
		  "\"Config\":{\"Image\":\"img:1\",\"Env\":[\"A=1\"],\"Labels\":{\"k\":\"v\"},\"Cmd\":[\"run\"],"
		  "\"Entrypoint\":null,\"User\":\"\",\"StopTimeout\":7,"
		  "\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"true\"],\"Interval\":30000000000,\"Retries\":2},"
		  "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}}},"
		  "\"HostConfig\":{\"NanoCpus\":1500000000,\"Memory\":1099511627776,\"PidsLimit\":null,"
		  "\"RestartPolicy\":{\"Name\":\"\",\"MaximumRetryCount\":0},"
		  "\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"8080\"}]},"
		  "\"Binds\":[\"/srv:/srv:ro,rprivate\",\"vol:/data\"],\"Tmpfs\":{\"/run\":\"rw,noexec\"}},"
		  "\"NetworkSettings\":{\"Networks\":{\"n1\":{\"Aliases\":[\"web\",\"c1aaaaaaaaaa\"],\"IPAddress\":\"10.0.0.2\"}}},"
		  "\"State\":{\"Status\":\"paused\",\"Running\":true,\"Paused\":true,\"OOMKilled\":true,\"ExitCode\":0,"
		  "\"Pid\":42,\"StartedAt\":\"2024-01-01T00:00:00Z\",\"FinishedAt\":\"0001-01-01T00:00:00Z\","
		  "\"Health\":{\"Status\":\"unhealthy\",\"FailingStreak\":4}}}", NULL, 0, NULL, 0 },
	};
	struct dk_client *c = open_fake(2000, 0);
	set_routes(r, ARRAY_SIZE(r));
	struct dk_status st;
	struct rc_err err = { 0 };
	ok(dk_container_start(c, "c1", &st, &err) == 0 && st.http == 304, "304 on start is success, told apart");
	const struct request *rq = last_request("/v1.41/containers/c1/start");
	ok(rq && strcasestr(rq->head, "Content-Length: 0") && !strcasestr(rq->head, "Content-Type"),
	   "start sends an empty body without a content type");
	ok(rq && !strcasestr(rq->head, "Expect:"), "no Expect header");
	ok(dk_container_stop(c, "gone", 3, &st, &err) < 0 && st.http == 404 &&
	   strcmp(st.message, "No such container: gone") == 0, "404 on stop with the message");
	ok(dk_container_stop(c, "c1", 3, &st, &err) == 0 && st.http == 204, "stop");
	rq = last_request("/v1.41/containers/c1/stop");
	ok(rq && strcmp(rq->path, "/v1.41/containers/c1/stop?t=3") == 0, "stop passes t");

	struct dk_create_spec dup = { .name = "dup", .image = "img:1" };
	ok(dk_container_create(c, &dup, NULL, &st, &err) < 0 && st.http == 409 && strstr(st.message, "already in use"),
	   "409 on create");

	struct rc_kv env[] = { { (char *)"A", (char *)"1" } };
	struct rc_kv labels[] = { { (char *)"k", (char *)"v" } };
	struct dk_port ports[] = { { .container_port = 80, .host_port = 18080 }, { .container_port = 80, .host_port = 18081, .host_ip = "127.0.0.1" } };
	struct dk_mount mounts[] = { { DK_MOUNT_TMPFS, NULL, "/run", false }, { DK_MOUNT_BIND, "/srv", "/srv", true } };
	const char *aliases[] = { "web" };
	const char *cmd[] = { "a b", "c" };
	struct dk_create_spec s = { .name = "web one", .image = "img:1", .cmd = cmd, .ncmd = 2,
				    .env = env, .nenv = 1, .labels = labels, .nlabels = 1, .ports = ports, .nports = 2,
				    .memory = 1 << 30, .memory_reservation = 1 << 29, .pids_limit = -1,
				    .health_cmd = "curl -f localhost", .health_interval_ns = 1000000000,
				    .health_retries = 3, .mounts = mounts, .nmounts = 2,
				    .network = "n1", .aliases = aliases, .naliases = 1 };
	char *id = NULL;
	ok(dk_container_create(c, &s, &id, &st, &err) == 0 && st.http == 201, "create (%s)", err.msg);
	is_str(id, "newid", "create returns the id");
	free(id);
	rq = last_request("/v1.41/containers/create?name=web");
	ok(rq && strcmp(rq->path, "/v1.41/containers/create?name=web%20one") == 0, "name is URL-encoded");
	ok(rq && strcasestr(rq->head, "Content-Type: application/json"), "create sends JSON");
	const char *b = rq ? rq->body : "";
	diag("create body: %s", b);
	ok(strstr(b, "\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"18080\"},"
		     "{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"18081\"}]}") != NULL, "HostPort is a string, bindings grouped");
	ok(strstr(b, "\"ExposedPorts\":{\"80/tcp\":{}}") != NULL, "exposed once");
	ok(strstr(b, "\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"curl -f localhost\"],\"Interval\":1000000000,") != NULL,
	   "healthcheck CMD-SHELL with ns");
	ok(!strstr(b, "StopTimeout") && !strstr(b, "StopSignal") && !strstr(b, "User"),
	   "zero / NULL fields are left out (engine defaults)");
	ok(strstr(b, "\"Memory\":1073741824,\"MemorySwap\":2147483648") != NULL, "MemorySwap travels with Memory");
	ok(strstr(b, "\"PidsLimit\":-1") != NULL, "PidsLimit -1");
	ok(strstr(b, "\"Mounts\":[{\"Type\":\"tmpfs\",\"Target\":\"/run\",\"ReadOnly\":false},"
		     "{\"Type\":\"bind\",\"Source\":\"/srv\",\"Target\":\"/srv\",\"ReadOnly\":true}]") != NULL, "mounts");
	ok(strstr(b, "\"NetworkMode\":\"n1\"") && strstr(b, "\"EndpointsConfig\":{\"n1\":{\"Aliases\":[\"web\"]}}"),
	   "one network at create with its aliases");
	ok(strstr(b, "\"RestartPolicy\":{\"Name\":\"no\",\"MaximumRetryCount\":0}") != NULL, "restart policy default");
	ok(strstr(b, "\"Cmd\":[\"a b\",\"c\"]") && !strstr(b, "Entrypoint"), "cmd given, entrypoint left to the image");
	ok(strstr(b, "\"Sysctls\":{\"net.ipv4.ip_forward\":\"0\"}") != NULL,
	   "every container is created not forwarding between its networks");

	struct dk_resources res = { .memory = 2 << 20, .pids_limit = 50 };
	ok(dk_container_update(c, "c1", &res, &st, &err) == 0, "update");
	rq = last_request("/v1.41/containers/c1/update");
	ok(rq && strcmp(rq->body, "{\"Memory\":2097152,\"MemorySwap\":4194304,\"PidsLimit\":50}") == 0,
	   "update sends only what is set: %s", rq ? rq->body : "");
	ok(dk_container_remove(c, "c1", true, false, &st, &err) == 0, "remove");
	rq = last_request("/v1.41/containers/c1?");
	ok(rq && strcmp(rq->method, "DELETE") == 0 && strcmp(rq->path, "/v1.41/containers/c1?force=1&v=0") == 0,
	   "remove: DELETE with force and v");

	struct dk_filter f[] = { { "label", "a=b c" }, { "label", "x" }, { "name", "web" } };
	struct dk_container_list *l = NULL;
	ok(dk_container_list(c, f, 3, &l, &st, &err) == 0 && l && l->n == 1, "list (%s)", err.msg);
	rq = last_request("/v1.41/containers/json");
	is_str(rq ? rq->path : NULL,
	       "/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22a%3Db%20c%22%2C%22x%22%5D%2C%22name%22%3A%5B%22web%22%5D%7D",
	       "all=1 and filters grouped by key, URL-encoded");
	if (l && l->n == 1) {
		const struct dk_container_summary *s1 = &l->items[0];
		is_str(s1->name, "web", "summary name without '/'");
		ok(s1->nlabels == 2 && strcmp(s1->labels[0].key, "a") == 0, "labels sorted");
		ok(s1->nports == 1 && s1->ports[0].public_port == 8080 && str_eq(s1->ports[0].ip, "0.0.0.0"), "ports");
		ok(s1->nnetworks == 2 && strcmp(s1->networks[0], "alpha") == 0, "network names sorted");
	}
	dk_container_list_free(l);

	struct dk_container *ct = NULL;
	ok(dk_container_inspect(c, "c1", &ct, &st, &err) == 0 && ct, "inspect (%s)", err.msg);
	if (ct) {
		ok(ct->ncmd == 1 && ct->entrypoint == NULL && ct->fields[SK_USER].str == NULL, "cmd; null entrypoint; empty user is NULL");
		is_int(ct->stop_timeout_s, 7, "StopTimeout");
		is_int(ct->health_interval_ns, 30000000000LL, "30 s interval in ns is exact");
		is_int(ct->memory, 1099511627776LL, "1 TiB memory is exact");
		is_int(ct->pids_limit, 0, "PidsLimit null is 0");
		is_str(ct->restart_policy, "no", "empty restart policy reads as no");
		ok(ct->nexposed_ports == 2 && strcmp(ct->exposed_ports[0], "53/udp") == 0, "exposed ports sorted");
		ok(ct->nport_bindings == 1 && ct->port_bindings[0].host_port == 8080 && !ct->port_bindings[0].host_ip,
		   "binding with empty HostIp");
		ok(ct->nmounts == 3, "binds and tmpfs read (%zu)", ct->nmounts);
		if (ct->nmounts == 3) {
			ok(ct->mounts[0].type == DK_MOUNT_VOLUME && str_eq(ct->mounts[0].source, "vol") &&
			   str_eq(ct->mounts[0].target, "/data") && !ct->mounts[0].read_only, "named volume bind");
			ok(ct->mounts[1].type == DK_MOUNT_TMPFS && str_eq(ct->mounts[1].target, "/run") &&
			   !ct->mounts[1].read_only, "tmpfs (rw)");
			ok(ct->mounts[2].type == DK_MOUNT_BIND && ct->mounts[2].read_only, "ro bind among options");
		}
		const struct dk_net_attach *a = dk_container_network(ct, "n1");
		ok(a && a->naliases == 1 && strcmp(a->aliases[0], "web") == 0 && str_eq(a->ip, "10.0.0.2"),
		   "short-id alias stripped");
		ok(ct->paused && ct->running && ct->oom_killed && ct->pid == 42, "state flags");
		is_str(ct->state_status, "paused", "status paused");
		is_str(ct->health_status, "unhealthy", "health status");
		is_int(ct->failing_streak, 4, "failing streak");
		dk_container_free(ct);
	}
	dk_client_free(c);
}

static bool stop_now(void *ctx)
{
	(void)ctx;
	return true;
}

static void test_pull(void)
{
	static const struct step fail_steps[] = {
		{ 0, "{\"status\":\"Pulling from x/app\",\"id\":\"1\"}\n" },
		{ 10, "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1}}\n{\"errorDetail\":{\"message\":\"unexpected EOF\"},\"error\":\"unexpected EOF\"}\n" },
	};
	static const struct step nonl_steps[] = {
		{ 0, "{\"status\":\"Pulling\"}\n{\"errorDetail\":{\"message\":\"last line\"},\"error\":\"last line\"}" },
	};
	static const struct step ok_steps[] = {
		{ 0, "{\"status\":\"Pulling from x/app\"}\n{\"status\":\"Dig" },
		{ 5, "est: sha256:ffff\"}\n{\"status\":\"Status: Downloaded newer image for x/app:1\"}\n" },
	};
	static const struct step stall_steps[] = {
		{ 0, "{\"status\":\"Pulling\"}\n" },
		{ 2500, "{\"status\":\"too late\"}\n" },
	};
	static const struct route r[] = {
		{ "POST", "/v1.41/images/create?fromImage=x%2Fstall&tag=1", 200, NULL, NULL, 0, stall_steps, ARRAY_SIZE(stall_steps) },
		{ "POST", "/v1.41/images/create?fromImage=x%2Ffail&tag=1", 200, NULL, NULL, 0, fail_steps, ARRAY_SIZE(fail_steps) },
		{ "POST", "/v1.41/images/create?fromImage=x%2Fnonl&tag=latest", 200, NULL, NULL, 0, nonl_steps, 1 },
		{ "POST", "/v1.41/images/create?fromImage=x%2Fdenied", 404, "{\"message\":\"pull access denied for x/denied\"}", NULL, 0, NULL, 0 },
		{ "POST", "/v1.41/images/create?fromImage=localhost%3A5000%2Fx%2Fapp&tag=1", 200, NULL, NULL, 0, ok_steps, ARRAY_SIZE(ok_steps) },
		{ "GET", "/v1.41/images/localhost:5000/x/app:1/json", 200, "{\"Id\":\"sha256:abcd\",\"RepoTags\":[\"localhost:5000/x/app:1\"]}", NULL, 0, NULL, 0 },
	};
	struct dk_client *c = open_fake(2000, 0);
	set_routes(r, ARRAY_SIZE(r));
	struct dk_status st;
	struct rc_err err = { 0 };
	struct dk_pull_opts o = { .retries = 2, .first_delay_ms = 1 };
	char *id = NULL;
	uint64_t before = dk_stats_get(c, DK_OP_IMAGE_PULL);
	ok(dk_image_pull(c, "x/fail:1", &o, &id, &st, &err) < 0 && !id, "error line inside a 200 stream fails the pull");
	is_int(dk_stats_get(c, DK_OP_IMAGE_PULL) - before, 3, "three attempts (1 + 2 retries)");
	ok(strstr(err.msg, "giving up after 3 attempts") && strstr(err.msg, "unexpected EOF") &&
	   strstr(err.msg, "x/fail:1"), "error: %s", err.msg);
	is_int(st.http, 200, "status 200");
	is_str(st.message, "unexpected EOF", "message from errorDetail");

	/* interrupted (the daemon's SIGTERM) during the wait before a retry: no 10-minute wait, no retry */
	struct dk_pull_opts slow = { .retries = 2, .first_delay_ms = 600000, .interrupted = stop_now };
	before = dk_stats_get(c, DK_OP_IMAGE_PULL);
	ok(dk_image_pull(c, "x/fail:1", &slow, &id, &st, &err) < 0 && strstr(err.msg, "interrupted after 1 attempt"),
	   "interrupted between attempts: %s", err.msg);
	is_int(dk_stats_get(c, DK_OP_IMAGE_PULL) - before, 1, "interrupted: one attempt");

	struct dk_pull_opts once = { .retries = -1 };
	before = dk_stats_get(c, DK_OP_IMAGE_PULL);
	ok(dk_image_pull(c, "x/nonl", &once, &id, &st, &err) < 0 && strstr(err.msg, "last line"),
	   "error on a last line without newline, tag defaults to latest: %s", err.msg);
	is_int(dk_stats_get(c, DK_OP_IMAGE_PULL) - before, 1, "retries -1: one attempt");
	ok(dk_image_pull(c, "x/denied:2", &once, &id, &st, &err) < 0 && st.http == 404 &&
	   strstr(st.message, "pull access denied"), "HTTP error reply: %s", err.msg);
	ok(!err.engine_fault, "a pull the engine refuses (404) is its answer, no engine fault");
	ok(dk_image_pull(c, "x/nonl", &once, &id, &st, &err) < 0 && !err.engine_fault,
	   "an error line in a pull is the engine's answer, no engine fault");

	struct dk_pull_opts stall = { .retries = -1, .stall_ms = 1000 };
	ok(dk_image_pull(c, "x/stall:1", &stall, &id, &st, &err) < 0 && strstr(err.msg, "nothing from the engine for 1000 ms") && st.http == 0,
	   "a stalled pull is cut: %s", err.msg);
	ok(!err.engine_fault, "a stalled pull (the registry, as far as anyone can tell) is no engine fault");
	ok(dk_image_pull(c, "localhost:5000/x/app:1", &o, &id, &st, &err) == 0, "pull with a registry port (%s)", err.msg);
	is_str(id, "sha256:abcd", "Id from the image inspect after the pull");
	free(id);
	dk_client_free(c);
}

static void test_events(void)
{
	static const struct step steps[] = {
		{ 300, "{\"status\":\"die\",\"id\":\"abc\",\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"abc\","
		       "\"Attributes\":{\"exitCode\":\"137\",\"name\":\"web\",\"io.reconciler.project\":\"p\"}},"
		       "\"scope\":\"local\",\"time\":1700000000,\"timeNano\":1700000000123456789}\n" },
		{ 10, "{\"Type\":\"container\",\"Action\":\"health_status: healthy\",\"Actor\":{\"ID\":\"d" },
		{ 100, "ef\",\"Attributes\":{}},\"time\":1700000001}\nnot json at all\n" },
	};
	static const struct route r[] = {
		{ "GET", "/v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D&since=5", 200, NULL, NULL, 0, steps, ARRAY_SIZE(steps) },
		{ "GET", "/v1.41/events?filters=%7B%22drop", 0, NULL,
		  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "12\r\n{\"Action\":\"start\"", 0, NULL, 0 },
		{ "GET", "/v1.41/events?filters=%7B%22bad", 400, "{\"message\":\"invalid filter 'bad'\"}", NULL, 0, NULL, 0 },
	};
	struct dk_client *c = open_fake(2000, 0);
	set_routes(r, ARRAY_SIZE(r));
	struct rc_err err = { 0 };
	struct dk_filter f[] = { { "type", "container" } };
	struct dk_events *ev = NULL;
	ok(dk_events_open(c, f, 1, 5, &ev, &err) == 0 && ev, "events open (%s)", err.msg);
	if (!ev) {
		dk_client_free(c);
		return;
	}
	struct dk_event e;
	is_int(dk_events_next(ev, 20, &e, &err), 0, "timeout before the first event");
	ok(dk_events_next(ev, 5000, &e, &err) == 1, "first event (%s)", err.msg);
	is_str(e.type, "container", "Type");
	is_str(e.action, "die", "Action");
	is_str(e.id, "abc", "Actor.ID");
	is_str(dk_event_attr(&e, "exitCode"), "137", "exitCode attribute");
	is_str(dk_event_attr(&e, "name"), "web", "name attribute");
	is_str(dk_event_attr(&e, "io.reconciler.project"), "p", "label attribute");
	is_int(e.time, 1700000000, "time");
	is_int(e.time_nano, 1700000000123456789LL, "timeNano exact");
	dk_event_release(&e);
	ok(dk_events_next(ev, 5000, &e, &err) == 1, "second event, split across chunks");
	is_str(e.action, "health_status: healthy", "health action");
	is_str(e.id, "def", "its id");
	is_int(e.time_nano, 1700000001000000000LL, "timeNano from time when absent");
	dk_event_release(&e);
	ok(dk_events_next(ev, 5000, &e, &err) < 0 && strstr(err.msg, "ended"),
	   "garbage skipped, end of stream reported: %s", err.msg);
	ok(dk_events_next(ev, 10, &e, &err) < 0, "and again");
	dk_events_close(ev);

	struct dk_filter drop[] = { { "drop", "x" } };
	ev = NULL;
	ok(dk_events_open(c, drop, 1, 0, &ev, &err) == 0 && ev, "stream that will drop opens");
	if (ev) {
		ok(dk_events_next(ev, 5000, &e, &err) < 0 && strstr(err.msg, "dropped"),
		   "connection dropped mid-stream: %s", err.msg);
		dk_events_close(ev);
	}
	struct dk_filter bad[] = { { "bad", "x" } };
	ev = NULL;
	ok(dk_events_open(c, bad, 1, 0, &ev, &err) < 0 && !ev && strstr(err.msg, "400") &&
	   strstr(err.msg, "invalid filter"), "refused stream fails at open: %s", err.msg);
	dk_client_free(c);
}

/* Recorded from dockerd 20.10 (docker events --format '{{json .}}'), a container labelled timeNano=x. */
static void test_event_time_nano(void)
{
	static const char with_label[] =
		"{\"status\":\"start\",\"id\":\"4f1c\",\"from\":\"busybox:1.36\",\"Type\":\"container\","
		"\"Action\":\"start\",\"Actor\":{\"ID\":\"4f1c\",\"Attributes\":{\"image\":\"busybox:1.36\","
		"\"name\":\"tn\",\"timeNano\":\"x\"}},\"scope\":\"local\",\"time\":1733500000,"
		"\"timeNano\":1733500000987654321}";
	struct dk_event e = { 0 };
	struct rc_err err = { 0 };
	ok(dk_decode_event(with_label, strlen(with_label), &e, &err) == 0, "event with a label named timeNano");
	is_str(dk_event_attr(&e, "timeNano"), "x", "the label is an attribute");
	is_int(e.time_nano, 1733500000987654321LL, "timeNano is the top-level key's, exact");
	dk_event_release(&e);

	static const char label_only[] =
		"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\",\"Attributes\":"
		"{\"timeNano\":\"1\"}},\"time\":1733500001}";
	ok(dk_decode_event(label_only, strlen(label_only), &e, &err) == 0, "event with the label only");
	is_int(e.time_nano, 1733500001000000000LL, "a label is no timeNano: from time");
	dk_event_release(&e);

	static const char nested_first[] =
		"{\"Actor\":{\"timeNano\":5},\"Action\":\"x\",\"timeNano\":-12,\"time\":0}";
	ok(dk_decode_event(nested_first, strlen(nested_first), &e, &err) == 0 && e.time_nano == -12,
	   "a nested key of that name before the top-level one is skipped");
	dk_event_release(&e);

	static const char not_int[] = "{\"Action\":\"x\",\"time\":2,\"timeNano\":1.5e18}";
	ok(dk_decode_event(not_int, strlen(not_int), &e, &err) == 0 && e.time_nano == 2000000000LL,
	   "a timeNano that is not an integer: from time");
	dk_event_release(&e);

	static const char too_big[] = "{\"Action\":\"x\",\"time\":3,\"timeNano\":9223372036854775808}";
	ok(dk_decode_event(too_big, strlen(too_big), &e, &err) == 0 && e.time_nano == 3000000000LL,
	   "a timeNano past int64: from time");
	dk_event_release(&e);
}

static void test_inspect_many(void)
{
	static const struct route r[] = {
		{ "GET", "/v1.41/containers/a/json", 200, "{\"Id\":\"a\",\"Name\":\"/a\"}", NULL, 50, NULL, 0 },
		{ "GET", "/v1.41/containers/b/json", 404, "{\"message\":\"No such container: b\"}", NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/c/json", 500, "{\"message\":\"oops\"}", NULL, 20, NULL, 0 },
		{ "GET", "/v1.41/containers/d/json", 200, "{\"Id\":\"d\",\"Name\":\"/d\"}", NULL, 0, NULL, 0 },
		{ "GET", "/v1.41/containers/t/json", 200, "{\"Id\":", NULL, 0, NULL, 0 },
	};
	struct dk_client *c = open_fake(2000, 0);
	set_routes(r, ARRAY_SIZE(r));
	struct rc_err err = { 0 };
	const char *ids[] = { "a", "b", "c", "d", "t", "a", "d" };
	struct dk_inspect_result res[7];
	uint64_t before = dk_stats_get(c, DK_OP_INSPECT);
	ok(dk_inspect_many(c, ids, 7, 3, res, &err) < 0, "a 500 among them: -1");
	ok(strstr(err.msg, "'c'") && strstr(err.msg, "oops"), "err names the first failure: %s", err.msg);
	is_int(dk_stats_get(c, DK_OP_INSPECT) - before, 7, "seven inspects counted");
	ok(res[0].container && strcmp(res[0].container->name, "a") == 0 && res[0].error[0] == '\0', "a");
	ok(!res[1].container && res[1].st.http == 404, "b: 404");
	ok(!res[2].container && res[2].st.http == 500 && strcmp(res[2].st.message, "oops") == 0, "c: 500");
	ok(res[3].container && strcmp(res[3].container->id, "d") == 0, "d");
	ok(!res[4].container && strstr(res[4].error, "invalid"), "t: invalid JSON (%s)", res[4].error);
	ok(res[5].container && res[6].container, "repeats fine");
	dk_inspect_results_release(res, 7);

	const char *ids2[] = { "a", "b", "d" };
	ok(dk_inspect_many(c, ids2, 3, 8, res, &err) == 0, "only 404s besides successes: 0");
	dk_inspect_results_release(res, 3);
	ok(dk_inspect_many(c, NULL, 0, 4, res, &err) == 0, "empty list");
	dk_client_free(c);
}

static void test_clone(void)
{
	struct dk_client *c = open_fake(2000, 0);
	static const struct route r[] = { { "GET", "/v1.41/_ping", 200, "OK", NULL, 0, NULL, 0 } };
	set_routes(r, 1);
	struct dk_client *k = dk_client_clone(c);
	dk_ping(k, NULL, NULL);
	dk_ping(k, NULL, NULL);
	dk_ping(c, NULL, NULL);
	is_int(dk_stats_get(c, DK_OP_PING), 3, "clone's calls counted on the original");
	dk_client_free(c);
	is_int(dk_stats_get(k, DK_OP_PING), 3, "counters outlive the original");
	struct buf b = BUF_INIT;
	dk_stats_format(k, &b);
	is_str(buf_cstr(&b), "  ping 3\n  version 1\n  total 4 (mutating 0)\n", "stats text for --stats");
	buf_release(&b);
	dk_client_free(k);
}

/* The pure rule: which complete error replies are the engine's answer, which its fault. */
static void test_fault_rule(void)
{
	ok(!dk_error_reply_is_fault(400, true, "invalid reference format"), "400 with Docker's message: an answer");
	ok(!dk_error_reply_is_fault(404, true, "No such image: x"), "404: an answer");
	ok(!dk_error_reply_is_fault(409, true, "name in use"), "409: an answer");
	ok(!dk_error_reply_is_fault(500, true, "driver failed programming external connectivity on endpoint x: "
					       "Bind for 0.0.0.0:80 failed: port is already allocated"),
	   "500 about the request (a host port taken): an answer");
	ok(dk_error_reply_is_fault(500, true, "rpc error: code = Unavailable desc = connection closed"),
	   "500 from a containerd that is gone: a fault");
	ok(dk_error_reply_is_fault(500, true, "context deadline exceeded"), "500, an internal deadline: a fault");
	ok(dk_error_reply_is_fault(502, true, "Bad Gateway"), "502: a fault");
	ok(dk_error_reply_is_fault(503, true, "x"), "503: a fault");
	ok(!dk_error_reply_is_fault(503, true, "This node is not a swarm manager. Use \"docker swarm init\" or "
		"\"docker swarm join\" to connect this node to swarm and try again."),
	   "503, no swarm here (Swarm calls): an answer");
	ok(dk_error_reply_is_fault(503, true, "rpc error: code = Unknown desc = The swarm does not have a leader. "
		"It's possible that too few managers are online."),
	   "503, a swarm without a leader: a fault");
	ok(!dk_error_reply_is_fault(500, true, "rpc error: code = Unknown desc = update out of sequence"),
	   "500, a service's version moved: an answer");
	ok(dk_error_reply_is_fault(504, true, "x"), "504: a fault");
	ok(dk_error_reply_is_fault(404, false, "<html>"), "an error body that is not Docker's JSON: a fault");
	ok(!dk_error_reply_is_fault(400, true, "context deadline exceeded"), "a 4xx is an answer whatever it says");
}

int main(void)
{
	test_fault_rule();
	curl_global_init(CURL_GLOBAL_ALL);
	server_start();
	test_open();
	test_errors();
	test_codes_and_bodies();
	test_pull();
	test_events();
	test_event_time_nano();
	test_inspect_many();
	test_clone();
	server_stop();
	curl_global_cleanup();
	return done_testing();
}
