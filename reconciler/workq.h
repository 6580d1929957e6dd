/*
 * workq.h — a bounded pool of worker threads for one coordinating thread:
 * the coordinator pushes items (indices into its own table of work), at most
 * `nworkers` run at once, and it learns which finished by polling an fd.
 *
 * Owns: the threads, the queue of items not yet taken and the list of items
 * finished but not yet collected.  What an item means is the caller's: the
 * worker function gets the caller's context, the worker's number (for
 * per-thread resources, e.g. one Docker client each) and the item.  The
 * executor (apply_rollout.c) uses it so that only calls to the engine hold a
 * thread, never the waiting for a container to become healthy.
 */
#ifndef RC_WORKQ_H
#define RC_WORKQ_H

#include <stddef.h>

typedef void (*workq_fn)(void *ctx, int worker, size_t item);

struct workq;

/* Start nworkers (>= 1) threads. */
struct workq *workq_new(int nworkers, workq_fn fn, void *ctx);
/* Queue item (first in, first out). */
void workq_push(struct workq *q, size_t item);
/* Readable (POLLIN) when finished items wait to be collected. */
int workq_fd(const struct workq *q);
/* Move up to max finished items into items (in the order they finished); returns how many. */
size_t workq_collect(struct workq *q, size_t *items, size_t max);
/* Items pushed and not yet collected. */
size_t workq_pending(const struct workq *q);
/* Wait for every queued and running item, then stop the threads. */
void workq_free(struct workq *q);

#endif
