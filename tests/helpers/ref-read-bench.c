/*
 * ref-read-bench — the cost of one read of a branch, as the watch does it.
 *
 *   ref-read-bench REPO BRANCH N
 *
 * Reads BRANCH ("HEAD" or "refs/...") of REPO N times in three ways and
 * prints the mean microseconds per read of each: "handle_us=" through one
 * source_refs handle (the watch's poll and its inotify re-reads),
 * "oneshot_us=" opening the repository at every read (source_ref_resolve(),
 * watch_read_ref()), and "watch_read_ref_us=" through watch.h.  Figures go
 * to docs/performance.md; nothing is asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"
#include "util.h"
#include "watch.h"

static double per_read_us(int64_t t0, long n)
{
	return (double)(now_ns() - t0) / 1e3 / (double)n;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: ref-read-bench REPO BRANCH N\n");
		return 2;
	}
	const char *repo = argv[1], *ref = argv[2];
	long n = strtol(argv[3], NULL, 10);
	if (n <= 0) {
		fprintf(stderr, "ref-read-bench: N must be positive\n");
		return 2;
	}
	struct rc_err err = { 0 };
	char out[41];
	struct source_refs *h = NULL;
	if (source_refs_open(repo, &h, &err) < 0) {
		fprintf(stderr, "ref-read-bench: %s\n", err.msg);
		return 1;
	}
	int64_t t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (source_refs_resolve(h, ref, out, NULL, &err) < 0) {
			fprintf(stderr, "ref-read-bench: %s\n", err.msg);
			source_refs_close(h);
			return 1;
		}
	double handle = per_read_us(t0, n);
	source_refs_close(h);

	t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (source_ref_resolve(repo, ref, out, NULL, &err) < 0) {
			fprintf(stderr, "ref-read-bench: %s\n", err.msg);
			return 1;
		}
	double oneshot = per_read_us(t0, n);

	t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (watch_read_ref(repo, ref, out, &err) < 0) {
			fprintf(stderr, "ref-read-bench: %s\n", err.msg);
			return 1;
		}
	double wrr = per_read_us(t0, n);
	printf("reads=%ld handle_us=%.1f oneshot_us=%.1f watch_read_ref_us=%.1f commit=%s\n", n, handle,
	       oneshot, wrr, out);
	return 0;
}
