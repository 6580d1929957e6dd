/*
 * notify.h — webhook notifications of the daemon's events (Settings.notify).
 *
 * Owns: one worker thread that follows the event ring (metrics.h), picks the
 * events the configured filter names, and POSTs each as a JSON object with
 * libcurl to every configured URL.  The queue is bounded
 * (NOTIFY_QUEUE_MAX deliveries; beyond it a delivery is dropped, logged and
 * counted); a delivery is tried NOTIFY_TRIES times (timeout
 * NOTIFY_TIMEOUT_MS each, backoff 1 s doubling between tries), then
 * dropped, logged and counted (reconciler_webhooks_total).  The daemon's
 * loop never waits for any of it: it only replaces the configuration.
 * The body is the journal's event (which names secrets, never values them);
 * URLs are logged with their credentials redacted.
 */
#ifndef RC_NOTIFY_H
#define RC_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>

#define NOTIFY_QUEUE_MAX 256
#define NOTIFY_TRIES 4
#define NOTIFY_TIMEOUT_MS 5000

struct notifier;

/* Start the worker; the events of this process are considered (NULL if the thread cannot start). */
struct notifier *notify_start(void);
/* Replace the project named in the bodies, the webhooks and the filter (events NULL:
 * NOTIFY_DEFAULT_EVENTS).  Copied.  Until the first call the worker leaves the events in the
 * ring: those of boot convergence go by the configuration of the commit it ends with. */
void notify_configure(struct notifier *n, const char *project, const char *const *urls, size_t nurls,
		      const char *const *events, size_t nevents);
/* Whether an event ACTION with RESULT passes filter (pure: t-metrics). */
bool notify_event_matches(const char *const *events, size_t nevents, const char *action, const char *result);
/* Stop the worker (what is queued is dropped) and free. */
void notify_stop(struct notifier *n);

/* The filter when Settings.notify gives none. */
#define NOTIFY_DEFAULT_EVENTS "rollout:failed", "rollout:ok", "rollout:error", "load:failed", "plan:failed", \
	"rollback", "disable", "drift:drift"

#endif
