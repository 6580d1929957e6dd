/*
 * drift-inproc — the in-process half of tests/bench/drift.sh: what the
 * daemon's periodic drift check costs once it is running (no process start,
 * the manifests already in memory), against the raw inspects of the same
 * containers, in the same process, rounds alternating.
 *
 *   drift-inproc REPO STATE_DIR ROUNDS [PARALLEL]
 *
 * Loads REPO at HEAD, opens STATE_DIR read-only, lists the project's
 * containers once (as the daemon's periodic check does; it then follows
 * create and destroy events), then ROUNDS times, in each of the six orders
 * in turn (so that none is always measured after the same one):
 *   - drift_check() as the daemon makes it: the known container ids
 *     inspected while the network list runs, the units none of them holds
 *     inspected by name, the image inspects kept from earlier rounds,
 *     compare; no journal;
 *   - drift_check() as the command line makes it without a prefetch: the
 *     project's list, inspects by name alongside, compare;
 *   - dk_inspect_many() over the ids of the project's containers.
 * Prints "drift <median ms> raw <median ms> findings <n> listing <median ms>"
 * on stdout (findings: of the daemon's way, last round; both ways must
 * agree, or it fails).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "converge.h"
#include "docker.h"
#include "drift.h"
#include "source.h"
#include "state.h"
#include "unit.h"
#include "util.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double median_ms(int64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	return (double)v[n / 2] / NS_PER_MS;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: drift-inproc REPO STATE_DIR ROUNDS [PARALLEL]\n");
		return 2;
	}
	int rounds = atoi(argv[3]), par = argc > 4 ? atoi(argv[4]) : 8;
	if (rounds < 1)
		rounds = 1;
	curl_global_init(CURL_GLOBAL_ALL);
	struct rc_err err = { 0 };
	struct source_files files = { 0 };
	struct rc_desired *d = NULL;
	struct rc_state *st = NULL;
	struct dk_client *c = NULL;
	struct converge_source src = { .repo = argv[1] };
	struct dk_opts dopts = { 0 };
	struct dk_container_list *l = NULL;
	const char **ids = NULL;
	int64_t *td = NULL, *tl = NULL, *tr = NULL;
	char *label = NULL;
	struct drift_image_cache *images = drift_image_cache_new();
	int rc = 1;
	if (converge_load(&src, NULL, &files, &d, NULL, &err) < 0 || state_open(argv[2], 0, &st, &err) < 0 ||
	    dk_client_open(&dopts, &c, &err) < 0) {
		fprintf(stderr, "drift-inproc: %s\n", err.msg);
		goto out;
	}
	/* the project's container ids, listed once (outside the timing): what the daemon knows */
	label = xasprintf("%s=%s", RC_LABEL_PROJECT, d->settings.project);
	struct dk_filter f[] = { { "label", label } };
	if (dk_container_list(c, f, 1, &l, NULL, &err) < 0) {
		fprintf(stderr, "drift-inproc: %s\n", err.msg);
		goto out;
	}
	ids = xcalloc(l->n + 1, sizeof(*ids));
	for (size_t i = 0; i < l->n; i++)
		ids[i] = l->items[i].id;
	td = xcalloc((size_t)rounds, sizeof(int64_t));
	tl = xcalloc((size_t)rounds, sizeof(int64_t));
	tr = xcalloc((size_t)rounds, sizeof(int64_t));
	size_t findings = 0;
	/* the three in every order in turn (all six), so none always follows the same one */
	static const char orders[6][3] = { "KRL", "RKL", "LKR", "KLR", "RLK", "LRK" };
	for (int k = 0; k < rounds; k++) {
		struct drift_summary sum = { 0 }, suml = { 0 };
		for (int step = 0; step < 3; step++) {
			char what = orders[k % 6][step];
			int64_t t0 = now_ns();
			if (what == 'K') {
				struct drift_opts o = { .parallel = par, .known_ids = ids, .nknown = l->n,
							.images = images };
				if (drift_check(c, st, d, &o, NULL, &sum, &err) < 0)
					goto fail;
				td[k] = now_ns() - t0;
			} else if (what == 'L') {
				struct drift_opts ol = { .parallel = par };
				if (drift_check(c, st, d, &ol, NULL, &suml, &err) < 0)
					goto fail;
				tl[k] = now_ns() - t0;
			} else {
				struct dk_inspect_result *res = xcalloc(l->n + 1, sizeof(*res));
				int r = dk_inspect_many(c, ids, l->n, par, res, &err);
				tr[k] = now_ns() - t0;
				dk_inspect_results_release(res, l->n);
				free(res);
				if (r < 0)
					goto fail;
			}
		}
		findings = sum.total;
		if (sum.total != suml.total || sum.containers != suml.containers) {
			fprintf(stderr, "drift-inproc: the known ids found %zu findings in %zu containers, the list %zu in %zu\n",
				sum.total, sum.containers, suml.total, suml.containers);
			goto out;
		}
	}
	printf("drift %.1f raw %.1f findings %zu listing %.1f\n", median_ms(td, rounds), median_ms(tr, rounds), findings,
	       median_ms(tl, rounds));
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "drift-inproc: %s\n", err.msg);
out:
	drift_image_cache_free(images);
	free(label);
	free(td);
	free(tl);
	free(tr);
	free(ids);
	dk_container_list_free(l);
	dk_client_free(c);
	state_free(st);
	rc_desired_free(d);
	source_files_release(&files);
	curl_global_cleanup();
	return rc;
}
