/* health.c — see health.h. */
#include "health.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static CURL *probe_easy(const char *ip, uint16_t port, const char *path, int64_t timeout_ms, char *errbuf)
{
	char url[512];
	const char *sep = (path && path[0] == '/') ? "" : "/";
	snprintf(url, sizeof(url), "http://%s:%u%s%s", ip, (unsigned)port, sep, path ? path : "");
	CURL *c = curl_easy_init();
	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 5000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 5000));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	return c;
}

/* The verdict on a finished transfer (1 healthy, 0 not) and its reason. */
static int probe_verdict(CURL *c, CURLcode rc, const char *errbuf, char *why, size_t whylen)
{
	long status = 0;
	int healthy = 0;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		healthy = status >= 200 && status < 400;
		if (why)
			snprintf(why, whylen, "HTTP %ld", status);
	} else if (why) {
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	return healthy;
}

int health_http_probe(const char *ip, uint16_t port, const char *path, int64_t timeout_ms,
		      char *why, size_t whylen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *c = probe_easy(ip, port, path, timeout_ms, errbuf);
	if (!c) {
		if (why)
			snprintf(why, whylen, "cannot initialise libcurl");
		return 0;
	}
	CURLcode rc = curl_easy_perform(c);
	int healthy = probe_verdict(c, rc, errbuf, why, whylen);
	curl_easy_cleanup(c);
	return healthy;
}

/* The probe's socket, made in the network namespace of process pid when this thread can enter it. */
struct ns_socket {
	int pid;
	bool inside;   /* it was */
};

static curl_socket_t open_in_ns(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)purpose;
	struct ns_socket *o = ud;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/net", o->pid);
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int target = self >= 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	int fd = -1;
	if (target >= 0 && setns(target, CLONE_NEWNET) == 0) {
		fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
		if (setns(self, CLONE_NEWNET) != 0)
			die("http probe: cannot return to the daemon's network namespace: %s", strerror(errno));
		o->inside = fd >= 0;
	}
	if (fd < 0)  /* not ours to enter (no CAP_SYS_ADMIN, the process is gone): from here, counted */
		fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (target >= 0)
		close(target);
	if (self >= 0)
		close(self);
	return fd >= 0 ? fd : CURL_SOCKET_BAD;
}

/* Is pid the process mark (a container id) names in its cgroup: not another one that has its number
 * here (this process in another pid namespace than the engine's, or the number reused)? */
static bool pid_is(int pid, const char *mark)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
	char *data = NULL;
	size_t len = 0;
	struct rc_err err = { 0 };
	if (!mark || strlen(mark) < 12 || read_file(path, 1 << 16, &data, &len, &err) < 0)
		return false;
	bool is = strstr(data, mark) != NULL;
	free(data);
	return is;
}

int health_http_probe_in(int netns_pid, const char *pid_mark, const char *ip, uint16_t port, const char *path,
			 int64_t timeout_ms, char *why, size_t whylen, bool *ret_inside)
{
	if (ret_inside)
		*ret_inside = false;
	if (netns_pid <= 0 || !pid_is(netns_pid, pid_mark))
		return health_http_probe(ip, port, path, timeout_ms, why, whylen);
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *c = probe_easy(ip, port, path, timeout_ms, errbuf);
	if (!c) {
		if (why)
			snprintf(why, whylen, "cannot initialise libcurl");
		return 0;
	}
	struct ns_socket o = { .pid = netns_pid };
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_in_ns);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &o);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	CURLcode rc = curl_easy_perform(c);
	int healthy = probe_verdict(c, rc, errbuf, why, whylen);
	curl_easy_cleanup(c);
	if (ret_inside)
		*ret_inside = o.inside;
	return healthy;
}

/* ---- many probes on one multi handle ---- */

struct probe {
	CURL *easy;
	size_t key;
	char errbuf[CURL_ERROR_SIZE];
};

struct health_probes {
	CURLM *multi;
	struct probe **v;
	size_t n, cap;
};

struct health_probes *health_probes_new(void)
{
	struct health_probes *p = xcalloc(1, sizeof(*p));
	p->multi = curl_multi_init();
	if (!p->multi)
		die("cannot initialise libcurl");
	return p;
}

void health_probes_free(struct health_probes *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		curl_multi_remove_handle(p->multi, p->v[i]->easy);
		curl_easy_cleanup(p->v[i]->easy);
		free(p->v[i]);
	}
	free(p->v);
	curl_multi_cleanup(p->multi);
	free(p);
}

size_t health_probes_running(const struct health_probes *p)
{
	return p->n;
}

void health_probes_start(struct health_probes *p, size_t key, const char *ip, uint16_t port, const char *path,
			 int64_t timeout_ms)
{
	struct probe *pr = xcalloc(1, sizeof(*pr));
	pr->key = key;
	pr->easy = probe_easy(ip, port, path, timeout_ms, pr->errbuf);
	if (!pr->easy)
		die("cannot initialise libcurl");
	curl_easy_setopt(pr->easy, CURLOPT_PRIVATE, pr);
	GROW(p->v, p->n + 1, p->cap);
	p->v[p->n++] = pr;
	curl_multi_add_handle(p->multi, pr->easy);
	int running;
	curl_multi_perform(p->multi, &running);
}

size_t health_probes_fds(struct health_probes *p, struct pollfd *fds, size_t max, int *timeout_ms)
{
	if (!p->n)
		return 0;
	fd_set r, w, e;
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_ZERO(&e);
	int maxfd = -1;
	curl_multi_fdset(p->multi, &r, &w, &e, &maxfd);
	long t = -1;
	curl_multi_timeout(p->multi, &t);
	if (maxfd < 0 && (t < 0 || t > 100))
		t = 100;  /* libcurl has no socket to wait on yet: look again soon */
	if (t >= 0 && t < *timeout_ms)
		*timeout_ms = (int)t;
	size_t n = 0;
	for (int fd = 0; fd <= maxfd && n < max; fd++) {
		short ev = (short)((FD_ISSET(fd, &r) ? POLLIN : 0) | (FD_ISSET(fd, &w) ? POLLOUT : 0) |
				   (FD_ISSET(fd, &e) ? POLLPRI : 0));
		if (ev)
			fds[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	return n;
}

void health_probes_perform(struct health_probes *p, health_probe_done_fn done, void *ctx)
{
	if (!p->n)
		return;
	int running;
	curl_multi_perform(p->multi, &running);
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(p->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct probe *pr = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&pr);
		CURLcode rc = msg->data.result;
		char why[256];
		int healthy = probe_verdict(pr->easy, rc, pr->errbuf, why, sizeof why);
		curl_multi_remove_handle(p->multi, pr->easy);
		curl_easy_cleanup(pr->easy);
		size_t key = pr->key;
		for (size_t i = 0; i < p->n; i++)
			if (p->v[i] == pr) {
				p->v[i] = p->v[--p->n];
				break;
			}
		free(pr);
		done(ctx, key, healthy, why);
	}
}

int64_t backoff_delay_ns(int failures, int64_t base_ns, int64_t max_ns)
{
	if (failures < 1)
		failures = 1;
	int64_t d = base_ns > 0 ? base_ns : 1;
	for (int i = 1; i < failures; i++) {
		if (d >= max_ns / 2) {
			d = max_ns;
			break;
		}
		d *= 2;
	}
	return d > max_ns ? max_ns : d;
}

const char *health_exit_reason(int exit_code, bool oom_killed, char *out, size_t n)
{
	if (oom_killed)
		snprintf(out, n, "killed: out of memory (exit %d)", exit_code);
	else if (exit_code == 0)
		snprintf(out, n, "stopped (exit 0)");
	else if (exit_code == 137)
		snprintf(out, n, "killed (exit 137)");
	else if (exit_code > 128 && exit_code < 160)
		snprintf(out, n, "killed by signal %d (exit %d)", exit_code - 128, exit_code);
	else
		snprintf(out, n, "crashed with exit code %d", exit_code);
	return out;
}
