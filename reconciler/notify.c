/* notify.c — see notify.h. */
#include "notify.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metrics.h"
#include "util.h"


struct delivery {
	char *url;
	char *body;
	int tries;
	int64_t next_ns;
};

struct notifier {
	pthread_t th;
	pthread_mutex_t mu;       /* the configuration */
	char **urls, **events;
	size_t nurls, nevents;
	bool events_set;
	atomic_bool configured;   /* a first notify_configure() came: the worker takes events from then on */
	char *project;
	atomic_bool stop;
	struct delivery q[NOTIFY_QUEUE_MAX];
	size_t nq;                /* worker only */
	uint64_t after;           /* worker only */
};

static const char *const default_events[] = { NOTIFY_DEFAULT_EVENTS };

bool notify_event_matches(const char *const *events, size_t nevents, const char *action, const char *result)
{
	if (!events) {
		events = default_events;
		nevents = ARRAY_SIZE(default_events);
	}
	if (!action)
		return false;
	size_t al = strlen(action);
	for (size_t i = 0; i < nevents; i++) {
		const char *e = events[i];
		if (strcmp(e, "*") == 0 || strcmp(e, action) == 0)
			return true;
		if (strncmp(e, action, al) == 0 && e[al] == ':' && str_eq(e + al + 1, result ? result : ""))
			return true;
	}
	return false;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char **strv_copy(const char *const *v, size_t n)
{
	char **c = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c[i] = xstrdup(v[i]);
	return c;
}

void notify_configure(struct notifier *n, const char *project, const char *const *urls, size_t nurls,
		      const char *const *events, size_t nevents)
{
	if (!n)
		return;
	char **u = strv_copy(urls, nurls), **e = events ? strv_copy(events, nevents) : NULL;
	pthread_mutex_lock(&n->mu);
	free(n->project);
	n->project = xstrdup(project ? project : "");
	strv_free(n->urls, n->nurls);
	strv_free(n->events, n->nevents);
	n->urls = u;
	n->nurls = nurls;
	n->events = e;
	n->nevents = events ? nevents : 0;
	n->events_set = events != NULL;
	pthread_mutex_unlock(&n->mu);
	atomic_store(&n->configured, true);
}

static void drop(struct notifier *n, size_t i)
{
	free(n->q[i].url);
	free(n->q[i].body);
	n->q[i] = n->q[--n->nq];
}

/* An event from the ring: queue one delivery per URL if the filter lets it through. */
static void on_event(void *ctx, uint64_t seq, const char *json)
{
	struct notifier *n = ctx;
	cJSON *j = cJSON_Parse(json);
	if (!j)
		return;
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "action");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "result");
	const char *action = cJSON_IsString(a) ? a->valuestring : NULL;
	const char *result = cJSON_IsString(r) ? r->valuestring : NULL;
	pthread_mutex_lock(&n->mu);
	bool want = n->nurls && notify_event_matches(n->events_set ? (const char *const *)n->events : NULL,
						    n->nevents, action, result);
	if (want) {
		_cleanup_free_ char *name = xasprintf("%s%s%s", action, result ? ":" : "", result ? result : "");
		cJSON_AddStringToObject(j, "event", name);
		cJSON_AddStringToObject(j, "project", n->project);
		char *body = cJSON_PrintUnformatted(j);
		for (size_t i = 0; body && i < n->nurls; i++) {
			if (n->nq >= NOTIFY_QUEUE_MAX) {
				_cleanup_free_ char *shown = url_redact(n->urls[i]);
				log_warn("webhook %s: queue full (%d): event %s dropped", shown, NOTIFY_QUEUE_MAX, name);
				metrics_webhook("dropped");
				continue;
			}
			n->q[n->nq++] = (struct delivery){ xstrdup(n->urls[i]), xstrdup(body), 0, 0 };
		}
		cJSON_free(body);
	}
	pthread_mutex_unlock(&n->mu);
	cJSON_Delete(j);
}

static size_t discard(char *p, size_t size, size_t nmemb, void *ctx)
{
	return size * nmemb;
}

/* One try.  0 when the receiver answered 2xx; else -1 with why. */
static int post(CURL *e, const struct delivery *d, char *why, size_t n)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, d->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)NOTIFY_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)NOTIFY_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	CURLcode cc = curl_easy_perform(e);
	long code = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	if (cc != CURLE_OK) {
		snprintf(why, n, "%s", curl_easy_strerror(cc));
		return -1;
	}
	if (code < 200 || code > 299) {
		snprintf(why, n, "HTTP %ld", code);
		return -1;
	}
	return 0;
}

static void *worker(void *p)
{
	struct notifier *n = p;
	CURL *e = curl_easy_init();
	if (!e) {
		log_warn("webhooks: cannot make a libcurl handle: no notifications");
		return NULL;
	}
	while (!atomic_load(&n->stop)) {
		if (!atomic_load(&n->configured)) {
			/* no commit in force yet (boot convergence): its events wait in the ring (the last
			 * 4096) for the webhooks and the filter of the commit it ends with */
			sleep_ms(100);
			continue;
		}
		int64_t now = now_ns(), wait_ms = 1000;
		for (size_t i = 0; i < n->nq; i++) {
			int64_t w = (n->q[i].next_ns - now) / 1000000;
			if (w < wait_ms)
				wait_ms = w < 0 ? 0 : w;
		}
		n->after = metrics_events_each(n->after, (int)wait_ms, 64, on_event, n);
		for (size_t i = 0; i < n->nq && !atomic_load(&n->stop);) {
			struct delivery *d = &n->q[i];
			if (d->next_ns > now_ns()) {
				i++;
				continue;
			}
			char why[256];
			if (post(e, d, why, sizeof why) == 0) {
				metrics_webhook("delivered");
				drop(n, i);
				continue;
			}
			_cleanup_free_ char *shown = url_redact(d->url);
			if (++d->tries >= NOTIFY_TRIES) {
				log_warn("webhook %s: %s; dropped after %d tries", shown, why, d->tries);
				metrics_webhook("failed");
				drop(n, i);
				continue;
			}
			d->next_ns = now_ns() + (NS_PER_S << (d->tries - 1));
			log_info("webhook %s: %s; trying again in %llds", shown, why, (long long)1 << (d->tries - 1));
			i++;
		}
	}
	curl_easy_cleanup(e);
	return NULL;
}

struct notifier *notify_start(void)
{
	struct notifier *n = xcalloc(1, sizeof(*n));
	pthread_mutex_init(&n->mu, NULL);
	atomic_init(&n->stop, false);
	atomic_init(&n->configured, false);
	n->project = xstrdup("");
	if (pthread_create(&n->th, NULL, worker, n) != 0) {
		log_warn("webhooks: cannot start the worker thread: no notifications");
		pthread_mutex_destroy(&n->mu);
		free(n->project);
		free(n);
		return NULL;
	}
	return n;
}

void notify_stop(struct notifier *n)
{
	if (!n)
		return;
	atomic_store(&n->stop, true);
	metrics_events_wake();
	pthread_join(n->th, NULL);
	while (n->nq)
		drop(n, 0);
	strv_free(n->urls, n->nurls);
	strv_free(n->events, n->nevents);
	free(n->project);
	pthread_mutex_destroy(&n->mu);
	free(n);
}
