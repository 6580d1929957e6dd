/*
 * inspect-many — the baseline of tests/bench/drift.sh: inspect the
 * containers whose ids are read from stdin (one per line) with
 * dk_inspect_many() at the given parallelism, exactly as `reconciler
 * drift` does, and nothing else.
 *
 *   inspect-many [PARALLEL [DOCKER_HOST]] < ids
 *
 * Prints "<n> inspected in <ms> ms" to stderr; exits 1 if any inspect
 * failed (a container gone in between, 404, is not a failure).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"
#include "util.h"

int main(int argc, char **argv)
{
	int par = argc > 1 ? atoi(argv[1]) : 8;
	const char *host = argc > 2 ? argv[2] : NULL;
	char **ids = NULL;
	size_t n = 0, cap = 0;
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!*line)
			continue;
		GROW(ids, n + 1, cap);
		ids[n++] = xstrdup(line);
	}
	curl_global_init(CURL_GLOBAL_ALL);
	int64_t t0 = now_ns();
	struct dk_opts o = { .host = host };
	struct dk_client *c = NULL;
	struct rc_err err;
	int rc = 0;
	if (dk_client_open(&o, &c, &err) < 0) {
		fprintf(stderr, "inspect-many: %s\n", err.msg);
		rc = 1;
	} else {
		struct dk_inspect_result *res = xcalloc(n + 1, sizeof(*res));
		if (dk_inspect_many(c, (const char *const *)ids, n, par, res, &err) < 0) {
			fprintf(stderr, "inspect-many: %s\n", err.msg);
			rc = 1;
		}
		fprintf(stderr, "%zu inspected in %.1f ms\n", n, (double)(now_ns() - t0) / NS_PER_MS);
		dk_inspect_results_release(res, n);
		free(res);
	}
	dk_client_free(c);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	curl_global_cleanup();
	return rc;
}
