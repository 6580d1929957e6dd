/*
 * metrics-bench — the /metrics document of N units, for tests/bench/metrics.sh.
 *
 *   metrics-bench N RENDERS [LISTEN SECONDS]
 *
 * Fills the registry (metrics.h) as a daemon of N units would be after a
 * while (the unit table, 25 engine operations with observations, rollouts,
 * events), renders it RENDERS times and prints "bytes=B render_median_us=U";
 * with LISTEN, then serves it with the daemon's HTTP server (httpd.h) for
 * SECONDS so that a client can time GET /metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "httpd.h"
#include "metrics.h"
#include "util.h"

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 5) {
		fprintf(stderr, "usage: metrics-bench N RENDERS [LISTEN SECONDS]\n");
		return 2;
	}
	size_t n = (size_t)atol(argv[1]);
	int renders = atoi(argv[2]);
	struct metrics_unit *u = xcalloc(n + 1, sizeof(*u));
	char **names = xcalloc(n + 1, sizeof(char *));
	char **custs = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		custs[i] = xasprintf("customer%04zu", i / 3);
		names[i] = xasprintf("%s/%s", custs[i], i % 3 == 0 ? "web" : i % 3 == 1 ? "worker" : "cache");
		u[i] = (struct metrics_unit){ .unit = names[i], .customer = custs[i],
					      .service = strchr(names[i], '/') + 1,
					      .image = "registry.example.com/acme/app:1.2.3", .ready = true,
					      .failures = (int)(i % 2), .restarts = i % 5 };
	}
	metrics_set_units(u, n, "0123456789abcdef0123456789abcdef01234567", 1796585613);
	static const char *const ops[] = { "ping", "version", "list", "inspect", "create", "start", "stop", "kill",
					   "remove", "update", "rename", "network-list", "network-inspect",
					   "network-create", "network-remove", "network-connect", "network-disconnect",
					   "volume-list", "volume-inspect", "volume-create", "volume-remove",
					   "image-inspect", "image-pull", "image-remove", "events" };
	for (size_t k = 0; k < ARRAY_SIZE(ops); k++)
		for (int j = 0; j < 100; j++)
			metrics_engine_request(ops[k], (int64_t)(j + 1) * 1000000, true);
	for (int j = 0; j < 50; j++) {
		metrics_journaled("rollout", "started", NULL, "{\"action\":\"rollout\",\"result\":\"started\"}");
		metrics_journaled("rollout", "ok", NULL, "{\"action\":\"rollout\",\"result\":\"ok\"}");
	}
	int64_t *t = xcalloc((size_t)renders + 1, sizeof(int64_t));
	size_t bytes = 0;
	for (int r = 0; r < renders; r++) {
		struct buf b = BUF_INIT;
		int64_t t0 = now_ns();
		metrics_render(&b);
		t[r] = now_ns() - t0;
		bytes = b.len;
		buf_release(&b);
	}
	qsort(t, (size_t)renders, sizeof(int64_t), cmp64);
	printf("units=%zu bytes=%zu render_median_us=%lld\n", n, bytes, renders ? (long long)(t[renders / 2] / 1000) : 0);
	fflush(stdout);
	int rc = 0;
	if (argc == 5) {
		struct httpd *h = NULL;
		struct rc_err err = { 0 };
		if (httpd_start(&(struct httpd_opts){ .listen = argv[3] }, &h, &err) < 0) {
			fprintf(stderr, "metrics-bench: %s\n", err.msg);
			rc = 1;
		} else {
			sleep((unsigned)atoi(argv[4]));
			httpd_stop(h);
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
		free(custs[i]);
	}
	free(names);
	free(custs);
	free(u);
	free(t);
	return rc;
}
