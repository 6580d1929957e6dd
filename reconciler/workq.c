/* workq.c — see workq.h. */
#include "workq.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>

#include "util.h"

struct workq {
	workq_fn fn;
	void *ctx;
	int nworkers;
	pthread_t *threads;
	int *ids;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t *queue, nqueue, capqueue, head;  /* waiting items: queue[head..nqueue) */
	size_t *fin, nfin, capfin;           /* finished, not collected */
	size_t pending;                      /* pushed, not collected */
	bool stopping;
	int pipe[2];
};

struct worker_arg {
	struct workq *q;
	int id;
};

static void *worker_main(void *p)
{
	struct worker_arg *wa = p;
	struct workq *q = wa->q;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->head == q->nqueue && !q->stopping)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->head == q->nqueue)
			break;
		size_t item = q->queue[q->head++];
		pthread_mutex_unlock(&q->mu);
		q->fn(q->ctx, wa->id, item);
		pthread_mutex_lock(&q->mu);
		GROW(q->fin, q->nfin + 1, q->capfin);
		q->fin[q->nfin++] = item;
		char b = 1;
		while (write(q->pipe[1], &b, 1) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&q->mu);
	free(wa);
	return NULL;
}

struct workq *workq_new(int nworkers, workq_fn fn, void *ctx)
{
	struct workq *q = xcalloc(1, sizeof(*q));
	q->fn = fn;
	q->ctx = ctx;
	q->nworkers = nworkers < 1 ? 1 : nworkers;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	if (pipe2(q->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		die("cannot make a pipe: %s", strerror(errno));
	q->threads = xcalloc((size_t)q->nworkers, sizeof(pthread_t));
	for (int i = 0; i < q->nworkers; i++) {
		struct worker_arg *wa = xcalloc(1, sizeof(*wa));
		*wa = (struct worker_arg){ q, i };
		if (pthread_create(&q->threads[i], NULL, worker_main, wa) != 0)
			die("cannot create a worker thread");
	}
	return q;
}

void workq_push(struct workq *q, size_t item)
{
	pthread_mutex_lock(&q->mu);
	if (q->head == q->nqueue)
		q->head = q->nqueue = 0;
	GROW(q->queue, q->nqueue + 1, q->capqueue);
	q->queue[q->nqueue++] = item;
	q->pending++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

int workq_fd(const struct workq *q)
{
	return q->pipe[0];
}

size_t workq_collect(struct workq *q, size_t *items, size_t max)
{
	char drain[64];
	while (read(q->pipe[0], drain, sizeof drain) > 0)
		;
	pthread_mutex_lock(&q->mu);
	size_t n = q->nfin < max ? q->nfin : max;
	for (size_t i = 0; i < n; i++)
		items[i] = q->fin[i];
	for (size_t i = n; i < q->nfin; i++)
		q->fin[i - n] = q->fin[i];
	q->nfin -= n;
	q->pending -= n;
	if (q->nfin) {  /* more than max: stay readable */
		char b = 1;
		if (write(q->pipe[1], &b, 1) < 0) {
			/* the pipe is full: it is readable anyway */
		}
	}
	pthread_mutex_unlock(&q->mu);
	return n;
}

size_t workq_pending(const struct workq *q)
{
	pthread_mutex_t *mu = (pthread_mutex_t *)(uintptr_t)&q->mu;
	pthread_mutex_lock(mu);
	size_t n = q->pending;
	pthread_mutex_unlock(mu);
	return n;
}

void workq_free(struct workq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < q->nworkers; i++)
		pthread_join(q->threads[i], NULL);
	free(q->threads);
	close(q->pipe[0]);
	close(q->pipe[1]);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->queue);
	free(q->fin);
	free(q);
}
