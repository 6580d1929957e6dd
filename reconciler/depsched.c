/* depsched.c — see depsched.h. */
#include "depsched.h"

#include <pthread.h>
#include <string.h>

struct run {
	const struct sched_graph *g;
	sched_fn fn;
	void *ctx;
	const char *const *names;
	struct sched_result *res;
	size_t *waiting;          /* unfinished deps per job */
	size_t **rdeps;           /* dependents per job */
	size_t *nrdeps;
	size_t *queue;            /* ready jobs */
	size_t qhead, qtail;
	size_t done;              /* jobs with a final status */
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void push_ready(struct run *r, size_t j)
{
	r->queue[r->qtail++] = j;
}

/* Mark every transitive dependent of j skipped.  Called with mu held. */
static void skip_dependents(struct run *r, size_t j)
{
	for (size_t k = 0; k < r->nrdeps[j]; k++) {
		size_t d = r->rdeps[j][k];
		if (r->res[d].status != SCHED_PENDING)
			continue;
		r->res[d].status = SCHED_SKIPPED;
		const char *nm = r->names ? r->names[j] : NULL;
		r->res[d].msg = nm ? xasprintf("not started: dependency '%s' failed", nm)
				   : xasprintf("not started: dependency #%zu failed", j);
		r->done++;
		skip_dependents(r, d);
	}
}

struct worker_arg {
	struct run *r;
	int id;
};

static void *worker_main(void *p)
{
	struct worker_arg *wa = p;
	struct run *r = wa->r;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (r->qhead == r->qtail && r->done < r->g->njobs)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->qhead == r->qtail)
			break;
		size_t j = r->queue[r->qhead++];
		pthread_mutex_unlock(&r->mu);

		struct rc_err err = { 0 };
		int64_t t0 = now_ns();
		int rc = r->fn(r->ctx, wa->id, j, &err);
		int64_t t1 = now_ns();

		pthread_mutex_lock(&r->mu);
		r->res[j].start_ns = t0;
		r->res[j].end_ns = t1;
		r->done++;
		if (rc == 0) {
			r->res[j].status = SCHED_OK;
			for (size_t k = 0; k < r->nrdeps[j]; k++) {
				size_t d = r->rdeps[j][k];
				if (--r->waiting[d] == 0 && r->res[d].status == SCHED_PENDING)
					push_ready(r, d);
			}
		} else {
			r->res[j].status = SCHED_FAILED;
			r->res[j].msg = xstrdup(err.msg[0] ? err.msg : "failed");
			skip_dependents(r, j);
		}
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

size_t sched_run(const struct sched_graph *g, int parallel, sched_fn fn, void *ctx,
		 const char *const *names, struct sched_result *results)
{
	size_t n = g->njobs;
	if (n == 0)
		return 0;
	if (parallel < 1)
		parallel = 1;
	if ((size_t)parallel > n)
		parallel = (int)n;
	struct run r = { .g = g, .fn = fn, .ctx = ctx, .names = names, .res = results };
	r.waiting = xcalloc(n, sizeof(size_t));
	r.nrdeps = xcalloc(n, sizeof(size_t));
	r.rdeps = xcalloc(n, sizeof(size_t *));
	r.queue = xcalloc(n, sizeof(size_t));
	for (size_t i = 0; i < n; i++) {
		r.waiting[i] = g->ndeps[i];
		for (size_t k = 0; k < g->ndeps[i]; k++)
			r.nrdeps[g->deps[i][k]]++;
	}
	size_t *fill = xcalloc(n, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		r.rdeps[i] = xcalloc(r.nrdeps[i] ? r.nrdeps[i] : 1, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < g->ndeps[i]; k++) {
			size_t d = g->deps[i][k];
			r.rdeps[d][fill[d]++] = i;
		}
	free(fill);
	for (size_t i = 0; i < n; i++)
		if (r.waiting[i] == 0)
			push_ready(&r, i);
	if (r.qtail == 0)
		BUG("sched_run: dependency cycle (no job is ready)");
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);

	pthread_t *th = xcalloc((size_t)parallel, sizeof(pthread_t));
	struct worker_arg *wa = xcalloc((size_t)parallel, sizeof(*wa));
	for (int i = 0; i < parallel; i++) {
		wa[i] = (struct worker_arg){ &r, i };
		if (pthread_create(&th[i], NULL, worker_main, &wa[i]) != 0)
			die("cannot create a worker thread");
	}
	for (int i = 0; i < parallel; i++)
		pthread_join(th[i], NULL);
	free(th);
	free(wa);

	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (results[i].status == SCHED_PENDING)
			BUG("sched_run: job %zu never ran (dependency cycle?)", i);
		if (results[i].status != SCHED_OK)
			bad++;
	}
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.cv);
	for (size_t i = 0; i < n; i++)
		free(r.rdeps[i]);
	free(r.rdeps);
	free(r.nrdeps);
	free(r.waiting);
	free(r.queue);
	return bad;
}

void sched_results_release(struct sched_result *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].msg);
		r[i].msg = NULL;
	}
}

void sched_graph_reverse(const struct sched_graph *g, struct sched_graph *ret)
{
	size_t n = g->njobs;
	ret->njobs = n;
	ret->ndeps = xcalloc(n ? n : 1, sizeof(size_t));
	ret->deps = xcalloc(n ? n : 1, sizeof(size_t *));
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < g->ndeps[i]; k++)
			ret->ndeps[g->deps[i][k]]++;
	size_t *fill = xcalloc(n ? n : 1, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		ret->deps[i] = xcalloc(ret->ndeps[i] ? ret->ndeps[i] : 1, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < g->ndeps[i]; k++) {
			size_t d = g->deps[i][k];
			ret->deps[d][fill[d]++] = i;
		}
	free(fill);
}

void sched_graph_release(struct sched_graph *g)
{
	for (size_t i = 0; i < g->njobs; i++)
		free(g->deps[i]);
	free(g->deps);
	free(g->ndeps);
	memset(g, 0, sizeof(*g));
}
