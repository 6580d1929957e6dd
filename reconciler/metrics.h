/*
 * metrics.h — what the daemon shows of itself: its Prometheus metrics and
 * its event stream, held in memory for the HTTP endpoint (httpd.h) and the
 * webhooks (notify.h).
 *
 * Owns: one process-wide registry behind one mutex.  The code feeds it
 * with calls that only take the mutex and copy (never I/O, never a wait):
 * the engine client (metrics_engine_request(), one per Engine API request),
 * the journal (metrics_journaled(), one per line written: rollouts, drift
 * checks and every other event), the daemon loop (metrics_heartbeat(), and
 * the unit table it hands over whole with metrics_set_units()), the webhook
 * worker.  Readers render a copy: metrics_render() writes the Prometheus
 * text exposition format 0.0.4 (spec/http-api.md lists every series);
 * metrics_events_wait() reads the event ring (the last METRICS_EVENT_RING
 * journal lines, each with a sequence number) and waits for newer ones.
 * A process that feeds nothing renders the build info and zero counters.
 */
#ifndef RC_METRICS_H
#define RC_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define METRICS_EVENT_RING 4096

/* One Engine API request of operation op ("inspect", dk_op_name()) took ns; answered: the engine
 * replied (any HTTP status), false for a transport error or a timeout. */
void metrics_engine_request(const char *op, int64_t ns, bool answered);

/* A journal line was written (state_journal()): json is its object, without the newline.  Becomes
 * the next event; rollout and drift lines also feed the rollout and drift series. */
void metrics_journaled(const char *action, const char *result, const char *message, const char *json);

/* The daemon loop (or a rollout it runs) is alive. */
void metrics_heartbeat(void);
/* Nanoseconds since the last heartbeat; -1 before the first. */
int64_t metrics_heartbeat_age_ns(void);

/* One unit as the loop last saw it. */
struct metrics_unit {
	const char *unit, *customer, *service, *image;  /* copied */
	bool ready, disabled;
	int failures;             /* the persistent failure counter (state.h) */
	uint64_t restarts;        /* failures counted by this process (restarts and repairs) */
};
/* Replace the unit table (copied whole) and the commit in force (NULL: none) with its committer time
 * (Unix seconds; 0 unknown). */
void metrics_set_units(const struct metrics_unit *u, size_t n, const char *commit, int64_t commit_time);
/* A new commit is in force: observe commit → converged (seconds since its committer time). */
void metrics_commit_converged(double seconds);
/* Webhook deliveries: delivered, or failed after its retries (dropped: also counted when the
 * queue is full). */
void metrics_webhook(const char *outcome);

/* Everything, Prometheus text format 0.0.4, appended to out. */
void metrics_render(struct buf *out);

/* Escape a label value (backslash, double quote, newline) into out. */
void metrics_label_escape(struct buf *out, const char *v);

/*
 * Events after sequence number after: each appended to out as
 * "id: <boot>.<seq>\ndata: <json>\n\n" (Server-Sent Events; boot is this
 * process's start, so an id of an earlier process replays the whole ring),
 * up to max events.  Waits up to timeout_ms for one when there is none.
 * Returns the sequence number of the last event appended (after when none).
 * *ret_lost: events after `after` already gone from the ring.
 */
uint64_t metrics_events_wait(uint64_t after, int timeout_ms, size_t max, struct buf *out, bool *ret_lost);
/* The same without formatting: calls fn(ctx, seq, json) for each (under no lock: copies). */
uint64_t metrics_events_each(uint64_t after, int timeout_ms, size_t max,
			     void (*fn)(void *ctx, uint64_t seq, const char *json), void *ctx);
/* Parse a Last-Event-ID: the sequence to resume after (0: from the oldest kept). */
uint64_t metrics_event_id_parse(const char *id);
/* Wake every waiter (shutdown). */
void metrics_events_wake(void);

#endif
