/* metrics.c — see metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#ifndef RC_VERSION
#define RC_VERSION "0.1.0"
#endif

#define MAX_OPS 48
#define NBUCKETS_MAX 16

struct histogram {
	const double *le;     /* upper bounds, ascending; +Inf implied */
	size_t nle;
	uint64_t count[NBUCKETS_MAX];  /* per bucket, not cumulative */
	uint64_t total;
	double sum;
};

static const double engine_le[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
static const double rollout_le[] = { 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600 };

struct op_stats {
	char *op;
	struct histogram h;
	uint64_t errors;
};

struct unit_copy {
	char *unit, *customer, *service, *image;
	bool ready, disabled;
	int failures;
	uint64_t restarts;
};

struct event {
	uint64_t seq;
	char *json;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	time_t boot;
	struct op_stats ops[MAX_OPS];
	size_t nops;
	int engine_up;              /* -1 unknown */
	/* rollouts */
	uint64_t rollouts_ok, rollouts_failed, rollouts_error, rollouts_interrupted, rollouts_rejected;
	int64_t rollout_started_ns; /* 0: none running */
	struct histogram rollout, commit_conv;
	/* drift: findings of the last check; -1 none yet */
	long drift_findings;
	/* webhooks */
	uint64_t hooks_delivered, hooks_failed, hooks_dropped;
	/* the loop */
	int64_t heartbeat_ns;
	/* units, as last handed over */
	struct unit_copy *units;
	size_t nunits;
	char *commit;
	int64_t commit_time;
	/* events */
	struct event ring[METRICS_EVENT_RING];
	uint64_t seq;               /* the last assigned; ring[seq % N] */
	bool woken;
} R = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.engine_up = -1,
	.rollout = { rollout_le, ARRAY_SIZE(rollout_le), { 0 }, 0, 0 },
	.commit_conv = { rollout_le, ARRAY_SIZE(rollout_le), { 0 }, 0, 0 },
	.drift_findings = -1,
};

static void observe(struct histogram *h, double v)
{
	size_t i = 0;
	while (i < h->nle && v > h->le[i])
		i++;
	h->count[i]++;  /* i == nle: +Inf only */
	h->total++;
	h->sum += v;
}

static void boot_init(void)
{
	if (!R.boot)
		R.boot = time(NULL);
}

void metrics_engine_request(const char *op, int64_t ns, bool answered)
{
	if (!op)
		return;
	pthread_mutex_lock(&R.mu);
	struct op_stats *s = NULL;
	for (size_t i = 0; i < R.nops && !s; i++)
		if (strcmp(R.ops[i].op, op) == 0)
			s = &R.ops[i];
	if (!s && R.nops < MAX_OPS) {
		s = &R.ops[R.nops++];
		s->op = xstrdup(op);
		s->h = (struct histogram){ engine_le, ARRAY_SIZE(engine_le), { 0 }, 0, 0 };
	}
	if (s) {
		observe(&s->h, (double)ns / 1e9);
		if (!answered)
			s->errors++;
	}
	R.engine_up = answered ? 1 : 0;
	pthread_mutex_unlock(&R.mu);
}

static void rollout_line(const char *result)
{
	if (!result)
		return;
	if (strcmp(result, "started") == 0) {
		R.rollout_started_ns = now_ns();
		return;
	}
	if (strcmp(result, "ok") == 0)
		R.rollouts_ok++;
	else if (strcmp(result, "failed") == 0)
		R.rollouts_failed++;
	else if (strcmp(result, "error") == 0)
		R.rollouts_error++;
	else if (strcmp(result, "interrupted") == 0)
		R.rollouts_interrupted++;
	else
		return;
	if (R.rollout_started_ns) {
		observe(&R.rollout, (double)(now_ns() - R.rollout_started_ns) / 1e9);
		R.rollout_started_ns = 0;
	}
}

void metrics_journaled(const char *action, const char *result, const char *message, const char *json)
{
	pthread_mutex_lock(&R.mu);
	boot_init();
	if (str_eq(action, "rollout")) {
		rollout_line(result);
	} else if ((str_eq(action, "load") || str_eq(action, "plan")) && str_eq(result, "failed")) {
		/* the commit was refused before anything changed (invalid, conflicting) */
		R.rollouts_rejected++;
		R.rollout_started_ns = 0;
	} else if (str_eq(action, "drift")) {
		if (str_eq(result, "none"))
			R.drift_findings = 0;
		else if (str_eq(result, "drift") && message)
			R.drift_findings = strtol(message, NULL, 10);
	}
	if (json) {
		R.seq++;
		struct event *e = &R.ring[R.seq % METRICS_EVENT_RING];
		free(e->json);
		e->seq = R.seq;
		/* {"seq":N, then the journal's own fields */
		size_t len = strlen(json);
		while (len && (json[len - 1] == '\n' || json[len - 1] == '\r'))
			len--;  /* one line of the stream */
		e->json = json[0] == '{' && len > 2 ? xasprintf("{\"seq\":%llu,%.*s", (unsigned long long)R.seq,
							      (int)(len - 1), json + 1)
						     : xasprintf("{\"seq\":%llu}", (unsigned long long)R.seq);
		pthread_cond_broadcast(&R.cond);
	}
	pthread_mutex_unlock(&R.mu);
}

void metrics_heartbeat(void)
{
	int64_t t = now_ns();
	pthread_mutex_lock(&R.mu);
	R.heartbeat_ns = t;
	pthread_mutex_unlock(&R.mu);
}

int64_t metrics_heartbeat_age_ns(void)
{
	pthread_mutex_lock(&R.mu);
	int64_t t = R.heartbeat_ns;
	pthread_mutex_unlock(&R.mu);
	return t ? now_ns() - t : -1;
}

static void units_free(struct unit_copy *u, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(u[i].unit);
		free(u[i].customer);
		free(u[i].service);
		free(u[i].image);
	}
	free(u);
}

void metrics_set_units(const struct metrics_unit *u, size_t n, const char *commit, int64_t commit_time)
{
	struct unit_copy *c = xcalloc(n + 1, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		c[i].ready = u[i].ready;
		c[i].disabled = u[i].disabled;
		c[i].failures = u[i].failures;
		c[i].restarts = u[i].restarts;
		c[i].unit = xstrdup(u[i].unit ? u[i].unit : "");
		c[i].customer = xstrdup(u[i].customer ? u[i].customer : "");
		c[i].service = xstrdup(u[i].service ? u[i].service : "");
		c[i].image = xstrdup(u[i].image ? u[i].image : "");
	}
	char *cm = commit ? xstrdup(commit) : NULL;
	pthread_mutex_lock(&R.mu);
	struct unit_copy *old = R.units;
	size_t nold = R.nunits;
	char *oldc = R.commit;
	R.units = c;
	R.nunits = n;
	R.commit = cm;
	R.commit_time = commit_time;
	pthread_mutex_unlock(&R.mu);
	units_free(old, nold);
	free(oldc);
}

void metrics_commit_converged(double seconds)
{
	pthread_mutex_lock(&R.mu);
	observe(&R.commit_conv, seconds < 0 ? 0 : seconds);
	pthread_mutex_unlock(&R.mu);
}

void metrics_webhook(const char *outcome)
{
	pthread_mutex_lock(&R.mu);
	if (str_eq(outcome, "delivered"))
		R.hooks_delivered++;
	else if (str_eq(outcome, "failed"))
		R.hooks_failed++;
	else
		R.hooks_dropped++;
	pthread_mutex_unlock(&R.mu);
}

/* ---- rendering ------------------------------------------------------------- */

void metrics_label_escape(struct buf *out, const char *v)
{
	for (const char *p = v ? v : ""; *p; p++) {
		if (*p == '\\')
			buf_adds(out, "\\\\");
		else if (*p == '"')
			buf_adds(out, "\\\"");
		else if (*p == '\n')
			buf_adds(out, "\\n");
		else
			buf_addc(out, *p);
	}
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A float as Prometheus reads it (%.17g keeps every digit; integers stay integers). */
static void num(struct buf *b, double v)
{
	buf_addf(b, "%.17g", v);
}

static void le_str(char out[32], double le)
{
	snprintf(out, 32, "%g", le);
}

/* labels: "" or `op="x"` (already escaped), without braces */
static void hist(struct buf *b, const char *name, const char *labels, const struct histogram *h)
{
	uint64_t cum = 0;
	const char *sep = labels[0] ? "," : "";
	for (size_t i = 0; i < h->nle; i++) {
		char le[32];
		le_str(le, h->le[i]);
		cum += h->count[i];
		buf_addf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep, le, (unsigned long long)cum);
	}
	buf_addf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)h->total);
	buf_addf(b, labels[0] ? "%s_sum{%s} " : "%s_sum%s ", name, labels);
	num(b, h->sum);
	buf_addf(b, labels[0] ? "\n%s_count{%s} %llu\n" : "\n%s_count%s %llu\n", name, labels,
		 (unsigned long long)h->total);
}

static void unit_labels(struct buf *b, const struct unit_copy *u)
{
	buf_adds(b, "{unit=\"");
	metrics_label_escape(b, u->unit);
	buf_adds(b, "\"}");
}

/* The units of the desired state in force: how many, each one's info and its gauges (R.mu held). */
static void render_units(struct buf *b)
{
	head(b, "reconciler_units", "gauge", "Units of the desired state in force.");
	buf_addf(b, "reconciler_units %zu\n", R.nunits);
	head(b, "reconciler_unit_info", "gauge", "One series per unit of the desired state in force (always 1).");
	for (size_t i = 0; i < R.nunits; i++) {
		const struct unit_copy *u = &R.units[i];
		buf_adds(b, "reconciler_unit_info{unit=\"");
		metrics_label_escape(b, u->unit);
		buf_adds(b, "\",customer=\"");
		metrics_label_escape(b, u->customer);
		buf_adds(b, "\",service=\"");
		metrics_label_escape(b, u->service);
		buf_adds(b, "\",image=\"");
		metrics_label_escape(b, u->image);
		buf_adds(b, "\"} 1\n");
	}
	head(b, "reconciler_unit_ready", "gauge", "1 when the daemon last saw the unit ready, else 0.");
	for (size_t i = 0; i < R.nunits; i++) {
		buf_adds(b, "reconciler_unit_ready");
		unit_labels(b, &R.units[i]);
		buf_addf(b, " %d\n", R.units[i].ready ? 1 : 0);
	}
	head(b, "reconciler_unit_failures", "gauge",
	     "The unit's consecutive failure counter (reset after the stable period; disabled at max_failures).");
	for (size_t i = 0; i < R.nunits; i++) {
		buf_adds(b, "reconciler_unit_failures");
		unit_labels(b, &R.units[i]);
		buf_addf(b, " %d\n", R.units[i].failures);
	}
	head(b, "reconciler_unit_disabled", "gauge", "1 when the daemon disabled the unit (reconciler enable UNIT).");
	for (size_t i = 0; i < R.nunits; i++) {
		buf_adds(b, "reconciler_unit_disabled");
		unit_labels(b, &R.units[i]);
		buf_addf(b, " %d\n", R.units[i].disabled ? 1 : 0);
	}
	head(b, "reconciler_unit_restarts_total", "counter",
	     "Failures of the unit this daemon process counted: restarts the engine made and repairs it made.");
	for (size_t i = 0; i < R.nunits; i++) {
		buf_adds(b, "reconciler_unit_restarts_total");
		unit_labels(b, &R.units[i]);
		buf_addf(b, " %llu\n", (unsigned long long)R.units[i].restarts);
	}
}

/* Rollouts by result and how long they took, the commit in force, the last drift check (R.mu held). */
static void render_rollouts(struct buf *b)
{
	head(b, "reconciler_rollouts_total", "counter",
	     "Rollouts of a commit by result: ok, failed (rolled back), rejected (invalid or conflicting: "
	     "nothing changed), error (the engine failed: resumed), interrupted (a stop request).");
	buf_addf(b, "reconciler_rollouts_total{result=\"ok\"} %llu\n", (unsigned long long)R.rollouts_ok);
	buf_addf(b, "reconciler_rollouts_total{result=\"failed\"} %llu\n", (unsigned long long)R.rollouts_failed);
	buf_addf(b, "reconciler_rollouts_total{result=\"rejected\"} %llu\n", (unsigned long long)R.rollouts_rejected);
	buf_addf(b, "reconciler_rollouts_total{result=\"error\"} %llu\n", (unsigned long long)R.rollouts_error);
	buf_addf(b, "reconciler_rollouts_total{result=\"interrupted\"} %llu\n",
		 (unsigned long long)R.rollouts_interrupted);
	head(b, "reconciler_rollout_duration_seconds", "histogram", "Time from a rollout's start to its end.");
	hist(b, "reconciler_rollout_duration_seconds", "", &R.rollout);
	head(b, "reconciler_commit_to_converged_seconds", "histogram",
	     "Time from a commit's committer timestamp to the daemon having it in force.");
	hist(b, "reconciler_commit_to_converged_seconds", "", &R.commit_conv);
	head(b, "reconciler_last_applied_commit_timestamp_seconds", "gauge",
	     "Committer time of the commit in force (Unix seconds; 0 when none).");
	buf_addf(b, "reconciler_last_applied_commit_timestamp_seconds %lld\n", (long long)R.commit_time);
	head(b, "reconciler_drift_units", "gauge",
	     "Findings of the last drift check (a unit or network each; -1 before the first check).");
	buf_addf(b, "reconciler_drift_units %ld\n", R.drift_findings);
}

/* Engine API requests by operation: durations, unanswered ones; whether the engine is up (R.mu held). */
static void render_engine(struct buf *b)
{
	head(b, "reconciler_engine_request_duration_seconds", "histogram",
	     "Engine API requests by operation, from send to the reply's end.");
	for (size_t i = 0; i < R.nops; i++) {
		struct buf l = BUF_INIT;
		buf_adds(&l, "op=\"");
		metrics_label_escape(&l, R.ops[i].op);
		buf_adds(&l, "\"");
		hist(b, "reconciler_engine_request_duration_seconds", buf_cstr(&l), &R.ops[i].h);
		buf_release(&l);
	}
	head(b, "reconciler_engine_request_errors_total", "counter",
	     "Engine API requests without an answer (transport error, timeout), by operation.");
	for (size_t i = 0; i < R.nops; i++) {
		buf_adds(b, "reconciler_engine_request_errors_total{op=\"");
		metrics_label_escape(b, R.ops[i].op);
		buf_addf(b, "\"} %llu\n", (unsigned long long)R.ops[i].errors);
	}
	head(b, "reconciler_engine_up", "gauge",
	     "1 when the engine answered the last request, 0 when it did not (-1: no request yet).");
	buf_addf(b, "reconciler_engine_up %d\n", R.engine_up);
}

/* Webhook outcomes, events written, the age of the loop's heartbeat (R.mu held). */
static void render_process(struct buf *b)
{
	head(b, "reconciler_webhooks_total", "counter",
	     "Webhook notifications by outcome: delivered, failed (after the retries), dropped (queue full).");
	buf_addf(b, "reconciler_webhooks_total{outcome=\"delivered\"} %llu\n", (unsigned long long)R.hooks_delivered);
	buf_addf(b, "reconciler_webhooks_total{outcome=\"failed\"} %llu\n", (unsigned long long)R.hooks_failed);
	buf_addf(b, "reconciler_webhooks_total{outcome=\"dropped\"} %llu\n", (unsigned long long)R.hooks_dropped);

	head(b, "reconciler_events_total", "counter", "Journal entries (events) written by this process.");
	buf_addf(b, "reconciler_events_total %llu\n", (unsigned long long)R.seq);
	head(b, "reconciler_loop_heartbeat_age_seconds", "gauge",
	     "Seconds since the daemon's loop (or a rollout it runs) last turned.");
	buf_adds(b, "reconciler_loop_heartbeat_age_seconds ");
	num(b, R.heartbeat_ns ? (double)(now_ns() - R.heartbeat_ns) / 1e9 : 0);
	buf_addc(b, '\n');
}

void metrics_render(struct buf *b)
{
	pthread_mutex_lock(&R.mu);
	boot_init();
	head(b, "reconciler_build_info", "gauge", "The running reconciler's version (always 1).");
	buf_adds(b, "reconciler_build_info{version=\"");
	metrics_label_escape(b, RC_VERSION);
	buf_adds(b, "\"} 1\n");
	render_units(b);
	render_rollouts(b);
	render_engine(b);
	render_process(b);
	pthread_mutex_unlock(&R.mu);
}

/* ---- events ------------------------------------------------------------- */

uint64_t metrics_event_id_parse(const char *id)
{
	if (!id)
		return 0;
	char *end = NULL;
	errno = 0;
	unsigned long long boot = strtoull(id, &end, 10);
	if (errno || end == id || *end != '.')
		return 0;
	const char *s = end + 1;
	unsigned long long seq = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return 0;
	pthread_mutex_lock(&R.mu);
	boot_init();
	bool ours = (time_t)boot == R.boot && seq <= R.seq;
	pthread_mutex_unlock(&R.mu);
	return ours ? (uint64_t)seq : 0;  /* another process's id: everything kept */
}

void metrics_events_wake(void)
{
	pthread_mutex_lock(&R.mu);
	R.woken = true;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.mu);
}

struct copied {
	uint64_t seq;
	char *json;
};

/* Copy up to max events after `after` (waiting up to timeout_ms for one).  Under no lock on return. */
static size_t take(uint64_t after, int timeout_ms, size_t max, struct copied *out, bool *ret_lost)
{
	pthread_mutex_lock(&R.mu);
	boot_init();
	if (R.seq <= after && timeout_ms > 0 && !R.woken) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (R.seq <= after && !R.woken)
			if (pthread_cond_timedwait(&R.cond, &R.mu, &ts) == ETIMEDOUT)
				break;
	}
	uint64_t oldest = R.seq >= METRICS_EVENT_RING ? R.seq - METRICS_EVENT_RING + 1 : 1;
	uint64_t from = after + 1;
	if (ret_lost)
		*ret_lost = from < oldest;
	if (from < oldest)
		from = oldest;
	size_t n = 0;
	for (uint64_t s = from; s <= R.seq && n < max; s++) {
		const struct event *e = &R.ring[s % METRICS_EVENT_RING];
		out[n].seq = e->seq;
		out[n].json = xstrdup(e->json ? e->json : "{}");
		n++;
	}
	pthread_mutex_unlock(&R.mu);
	return n;
}

uint64_t metrics_events_each(uint64_t after, int timeout_ms, size_t max,
			     void (*fn)(void *ctx, uint64_t seq, const char *json), void *ctx)
{
	if (max > 256)
		max = 256;
	struct copied c[256];
	size_t n = take(after, timeout_ms, max, c, NULL);
	for (size_t i = 0; i < n; i++) {
		fn(ctx, c[i].seq, c[i].json);
		after = c[i].seq;
		free(c[i].json);
	}
	return after;
}

uint64_t metrics_events_wait(uint64_t after, int timeout_ms, size_t max, struct buf *out, bool *ret_lost)
{
	if (max > 256)
		max = 256;
	struct copied c[256];
	size_t n = take(after, timeout_ms, max, c, ret_lost);
	for (size_t i = 0; i < n; i++) {
		buf_addf(out, "id: %lld.%llu\ndata: %s\n\n", (long long)R.boot, (unsigned long long)c[i].seq, c[i].json);
		after = c[i].seq;
		free(c[i].json);
	}
	return after;
}
