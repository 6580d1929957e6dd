/* Unit tests for depsched.c: dependency order, parallelism bound, failure
 * propagation, teardown order. */
#include <pthread.h>
#include <stdatomic.h>

#include "depsched.h"
#include "tap.h"

struct ctx {
	int fail_job;            /* job index that fails, -1 none */
	atomic_int running, max_running;
	atomic_int order[16];
	atomic_int pos;
};

static int job(void *p, int worker, size_t j, struct rc_err *err)
{
	struct ctx *c = p;
	int now = atomic_fetch_add(&c->running, 1) + 1;
	int m = atomic_load(&c->max_running);
	while (now > m && !atomic_compare_exchange_weak(&c->max_running, &m, now))
		;
	sleep_ms(20);
	c->order[atomic_fetch_add(&c->pos, 1)] = (int)j;
	atomic_fetch_sub(&c->running, 1);
	if ((int)j == c->fail_job)
		return rc_errf(err, "job %zu broke on worker %d", j, worker);
	return 0;
}

static int position(struct ctx *c, int j)
{
	for (int i = 0; i < c->pos; i++)
		if (c->order[i] == j)
			return i;
	return -1;
}

/* 0 <- 1 <- 3, 0 <- 2 <- 3, 4 independent, 5 <- 4 */
static size_t d1[] = { 0 }, d2[] = { 0 }, d3[] = { 1, 2 }, d5[] = { 4 };
static size_t *deps[] = { NULL, d1, d2, d3, NULL, d5 };
static size_t ndeps[] = { 0, 1, 1, 2, 0, 1 };
static const char *names[] = { "db", "app-a", "app-b", "worker", "cache", "proxy" };

int main(void)
{
	struct sched_graph g = { 6, deps, ndeps };
	struct sched_result res[6] = { 0 };
	struct ctx c = { .fail_job = -1 };

	is_int(sched_run(&g, 2, job, &c, names, res), 0, "all jobs succeed");
	ok(position(&c, 0) < position(&c, 1) && position(&c, 0) < position(&c, 2), "db before its dependents");
	ok(position(&c, 1) < position(&c, 3) && position(&c, 2) < position(&c, 3), "worker after both apps");
	ok(position(&c, 4) < position(&c, 5), "cache before proxy");
	ok(c.max_running <= 2, "never more than 2 at once (saw %d)", (int)c.max_running);
	ok(c.max_running == 2, "independent jobs do run in parallel");
	for (int i = 0; i < 6; i++)
		is_int(res[i].status, SCHED_OK, "job %d ok", i);
	ok(res[3].start_ns >= res[1].end_ns && res[3].start_ns >= res[2].end_ns,
	   "worker started after both apps ended");
	sched_results_release(res, 6);

	struct sched_result res2[6] = { 0 };
	struct ctx c2 = { .fail_job = 1 };
	is_int(sched_run(&g, 4, job, &c2, names, res2), 2, "a failure and its dependent count as not ok");
	is_int(res2[1].status, SCHED_FAILED, "app-a failed");
	ok(res2[1].msg && strstr(res2[1].msg, "job 1 broke on worker"), "failure message kept: %s", res2[1].msg);
	is_int(res2[3].status, SCHED_SKIPPED, "worker skipped");
	is_str(res2[3].msg, "not started: dependency 'app-a' failed", "skip names the failed dependency");
	ok(position(&c2, 3) < 0, "skipped job never ran");
	is_int(res2[2].status, SCHED_OK, "sibling app-b unaffected");
	is_int(res2[5].status, SCHED_OK, "unrelated proxy unaffected");
	sched_results_release(res2, 6);

	struct sched_graph rev;
	sched_graph_reverse(&g, &rev);
	struct sched_result res3[6] = { 0 };
	struct ctx c3 = { .fail_job = -1 };
	is_int(sched_run(&rev, 3, job, &c3, names, res3), 0, "teardown runs");
	ok(position(&c3, 3) < position(&c3, 1) && position(&c3, 1) < position(&c3, 0),
	   "teardown: worker, then app, then db");
	ok(position(&c3, 5) < position(&c3, 4), "teardown: proxy before cache");
	sched_results_release(res3, 6);
	sched_graph_release(&rev);

	struct sched_graph empty = { 0, NULL, NULL };
	is_int(sched_run(&empty, 2, job, &c, NULL, NULL), 0, "an empty graph runs nothing");
	return done_testing();
}
