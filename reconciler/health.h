/*
 * health.h — health probes the reconciler runs itself, and the arithmetic of
 * self-healing: exponential backoff and why a container stopped.
 *
 * Owns: the HTTP probe (libcurl, a plain GET against a container's address,
 * so images need no curl inside).  Docker runs `cmd` checks; this module runs
 * `http` checks.
 */
#ifndef RC_HEALTH_H
#define RC_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/*
 * GET http://ip:port/path with a timeout.  Returns 1 healthy (2xx or 3xx),
 * 0 unhealthy (any other status, refused, timed out), and fills why (may be
 * NULL, size whylen) with a short reason: "HTTP 503", "connection refused".
 */
int health_http_probe(const char *ip, uint16_t port, const char *path, int64_t timeout_ms,
		      char *why, size_t whylen);
/*
 * The same probe made from inside the network namespace of process
 * netns_pid (a container's main process; <= 0: from here, as above): the
 * socket is made there (setns(2) on this thread, then back), so the
 * connection to the container's own address goes over its loopback and
 * never through its network interfaces, whose byte counters measure its
 * traffic (idle customers).  The process is entered only when its
 * /proc/PID/cgroup names pid_mark (the container's id): a number that is
 * another process here (another pid namespace than the engine's, or reused)
 * is not.  Entering needs CAP_SYS_ADMIN; when anything fails the probe is
 * made from here.  *ret_inside (may be NULL) says whether it was made
 * from inside.
 */
int health_http_probe_in(int netns_pid, const char *pid_mark, const char *ip, uint16_t port, const char *path,
			 int64_t timeout_ms, char *why, size_t whylen, bool *ret_inside);

/*
 * Many http probes at once on one libcurl multi handle, for a caller that
 * waits on many units with one thread (the executor's rollout loop).  Each
 * probe is started with a key; health_probes_fds() gives the descriptors
 * to poll (and lowers *timeout_ms to what libcurl needs), and
 * health_probes_perform() drives the transfers and reports each finished
 * probe once, with the same verdict and reason as health_http_probe().
 */
struct health_probes;
struct health_probes *health_probes_new(void);
void health_probes_free(struct health_probes *p);
void health_probes_start(struct health_probes *p, size_t key, const char *ip, uint16_t port, const char *path,
			 int64_t timeout_ms);
/* Fill at most max entries of fds; returns how many. */
struct pollfd;
size_t health_probes_fds(struct health_probes *p, struct pollfd *fds, size_t max, int *timeout_ms);
typedef void (*health_probe_done_fn)(void *ctx, size_t key, int healthy, const char *why);
void health_probes_perform(struct health_probes *p, health_probe_done_fn done, void *ctx);
size_t health_probes_running(const struct health_probes *p);

/*
 * The delay before restart number `failures` (1-based): base doubling up to
 * max.  backoff_delay(1, 5s, 300s) = 5s, (2) = 10s, ... capped at 300s.
 */
int64_t backoff_delay_ns(int failures, int64_t base_ns, int64_t max_ns);

/*
 * Why a container stopped, for humans: "stopped (exit 0)",
 * "killed: out of memory", "killed (exit 137)", "crashed with exit code N".
 * Writes into out (size n) and returns out.
 */
const char *health_exit_reason(int exit_code, bool oom_killed, char *out, size_t n);

#endif
