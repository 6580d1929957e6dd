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
