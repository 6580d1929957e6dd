/* Unit tests for health.c: backoff arithmetic, exit reasons, the HTTP probe
 * against a local listener. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "health.h"
#include "tap.h"

#define S 1000000000LL

static void test_backoff(void)
{
	is_int(backoff_delay_ns(1, 5 * S, 300 * S), 5 * S, "first delay is the base");
	is_int(backoff_delay_ns(2, 5 * S, 300 * S), 10 * S, "doubles");
	is_int(backoff_delay_ns(6, 5 * S, 300 * S), 160 * S, "5s doubling, 6th failure: 160s");
	is_int(backoff_delay_ns(7, 5 * S, 300 * S), 300 * S, "capped at max");
	is_int(backoff_delay_ns(1000, 5 * S, 300 * S), 300 * S, "no overflow after many failures");
	is_int(backoff_delay_ns(0, 5 * S, 300 * S), 5 * S, "0 failures treated as first");
}

static void test_exit_reason(void)
{
	char b[128];
	is_str(health_exit_reason(0, false, b, sizeof b), "stopped (exit 0)", "exit 0 is a stop");
	is_str(health_exit_reason(137, true, b, sizeof b), "killed: out of memory (exit 137)", "OOM");
	is_str(health_exit_reason(137, false, b, sizeof b), "killed (exit 137)", "137 without OOM");
	is_str(health_exit_reason(3, false, b, sizeof b), "crashed with exit code 3", "crash");
	is_str(health_exit_reason(143, false, b, sizeof b), "killed by signal 15 (exit 143)", "signal");
}

struct srv {
	int fd;
	const char *reply;
};

static void *serve_one(void *arg)
{
	struct srv *s = arg;
	int c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	char buf[1024];
	ssize_t r = read(c, buf, sizeof buf);
	(void)r;
	ssize_t w = write(c, s->reply, strlen(s->reply));
	(void)w;
	close(c);
	return NULL;
}

static int listen_local(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4) < 0)
		return -1;
	getsockname(fd, (struct sockaddr *)&a, &len);
	*port = ntohs(a.sin_port);
	return fd;
}

static void probe_with(const char *reply, int want, const char *want_why, const char *name)
{
	uint16_t port;
	struct srv s = { listen_local(&port), reply };
	pthread_t t;
	pthread_create(&t, NULL, serve_one, &s);
	char why[128] = "";
	is_int(health_http_probe("127.0.0.1", port, "/health", 2000, why, sizeof why), want, "%s", name);
	is_str(why, want_why, "%s: reason", name);
	pthread_join(t, NULL);
	close(s.fd);
}

static void test_probe(void)
{
	probe_with("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n", 1, "HTTP 200", "200 is healthy");
	probe_with("HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0, "HTTP 404", "404 is unhealthy");
	probe_with("HTTP/1.0 503 Busy\r\nContent-Length: 0\r\n\r\n", 0, "HTTP 503", "503 is unhealthy");
	/* nothing listens: refused */
	uint16_t port;
	int fd = listen_local(&port);
	close(fd);
	char why[128] = "";
	is_int(health_http_probe("127.0.0.1", port, "health", 1000, why, sizeof why), 0,
	       "refused connection is unhealthy");
	ok(why[0] != '\0', "refusal has a reason: %s", why);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	test_backoff();
	test_exit_reason();
	test_probe();
	curl_global_cleanup();
	return done_testing();
}
