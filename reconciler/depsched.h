/*
 * depsched.h — run jobs in dependency order on a bounded pool of threads
 * (the s6-rc way): every job whose dependencies have all succeeded is ready
 * and starts at once; a job that fails never lets its dependents start
 * (they end SCHED_SKIPPED, naming the failed dependency), while unrelated
 * jobs go on.
 *
 * Owns: the worker threads and the bookkeeping.  The job function runs on a
 * worker thread; `worker` (0..parallel-1) lets the caller keep per-thread
 * resources (one Docker client per worker).  Cycles are a BUG: callers
 * validate the graph first.
 */
#ifndef RC_DEPSCHED_H
#define RC_DEPSCHED_H

#include <stddef.h>

#include "util.h"

enum sched_status { SCHED_PENDING = 0, SCHED_OK, SCHED_FAILED, SCHED_SKIPPED };

/* Returns 0 on success, -1 on failure with err filled. */
typedef int (*sched_fn)(void *ctx, int worker, size_t job, struct rc_err *err);

struct sched_graph {
	size_t njobs;
	size_t **deps;    /* deps[i]: indices of the jobs job i waits for */
	size_t *ndeps;
};

struct sched_result {
	enum sched_status status;
	char *msg;        /* SCHED_FAILED: the error; SCHED_SKIPPED: which dependency failed; owned */
	int64_t start_ns, end_ns; /* monotonic, for --stats and tests */
};

/*
 * Run every job; results (njobs entries, caller-allocated, zeroed) receive
 * each outcome.  Returns the number of jobs that did not end SCHED_OK.
 * names (optional, may be NULL) are used in "dependency X failed" messages.
 */
size_t sched_run(const struct sched_graph *g, int parallel, sched_fn fn, void *ctx,
		 const char *const *names, struct sched_result *results);
void sched_results_release(struct sched_result *r, size_t n);

/* Reverse every edge (for teardown in reverse dependency order). *ret is owned by the caller. */
void sched_graph_reverse(const struct sched_graph *g, struct sched_graph *ret);
void sched_graph_release(struct sched_graph *g);

#endif
