/* telemetry.c — see telemetry.h. */
#include "telemetry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpd.h"
#include "metrics.h"
#include "notify.h"
#include "sdnotify.h"
#include "source.h"
#include "strmap.h"
#include "util.h"


struct uinfo {
	char *id;
	bool ready;
	uint64_t restarts;
};

static struct {
	struct telemetry_opts o;
	char *listen, *repo;
	struct httpd *http;
	struct notifier *notify;
	bool started;
	/* the loop thread's view (tick, ready, failed run on it) */
	const struct rc_desired *cur;   /* identity only: the table below is of this one */
	char *commit;                   /* cur's commit, to notice a new one in force */
	struct uinfo **u;               /* every unit the loop spoke of */
	size_t nu, ucap;
	struct strmap *idx;             /* id → struct uinfo * (keys: u[i]->id) */
	int64_t next_publish;
} T;

void telemetry_configure(const struct telemetry_opts *o)
{
	free(T.listen);
	free(T.repo);
	T.o = *o;
	T.listen = o->listen ? xstrdup(o->listen) : NULL;
	T.repo = o->repo ? xstrdup(o->repo) : NULL;
	T.o.listen = T.listen;
	T.o.repo = T.repo;
}

int telemetry_start(const char *state_dir, struct rc_err *err)
{
	sdn_init();
	_cleanup_free_ char *def = xasprintf("%s/http.sock", state_dir);
	int64_t wd = sdn_watchdog_ns();
	struct httpd_opts ho = {
		.listen = T.o.listen ? T.o.listen : def,
		/* the loop turns twice a second when idle; a rollout's coordinator keeps the heartbeat too */
		.health_bound_ns = wd > 0 && wd < 60 * NS_PER_S ? wd : 60 * NS_PER_S,
		.status = T.o.status,
		.status_ctx = T.o.status_ctx,
	};
	if (httpd_start(&ho, &T.http, err) < 0) {
		if (T.o.listen)
			return -1;  /* asked for: the daemon does not start without it */
		/* the default socket (as the control socket): the daemon runs on without it */
		log_warn("no HTTP endpoint (give --listen): %s", err->msg);
		T.http = NULL;
	}
	T.notify = notify_start();
	T.started = true;
	return 0;
}

void telemetry_alive(void)
{
	metrics_heartbeat();
	sdn_watchdog();
}

static void table_free(void)
{
	for (size_t i = 0; i < T.nu; i++) {
		free(T.u[i]->id);
		free(T.u[i]);
	}
	free(T.u);
	strmap_free(T.idx);
	T.u = NULL;
	T.nu = T.ucap = 0;
	T.idx = NULL;
}

/* What the loop said of unit (made on first mention; kept while the process lives: unit ids are few). */
static struct uinfo *unit_info(const char *unit)
{
	if (!T.idx)
		T.idx = strmap_new();
	struct uinfo *u = strmap_get(T.idx, unit);
	if (!u) {
		u = xcalloc(1, sizeof(*u));
		u->id = xstrdup(unit);
		GROW(T.u, T.nu + 1, T.ucap);
		T.u[T.nu++] = u;
		strmap_add(T.idx, u->id, u);
	}
	return u;
}

void telemetry_unit_ready(const char *unit)
{
	unit_info(unit)->ready = true;
}

void telemetry_unit_failed(const char *unit, int n)
{
	struct uinfo *u = unit_info(unit);
	u->ready = false;
	u->restarts += n > 0 ? (uint64_t)n : 0;
}

static void publish(const struct rc_desired *d, const struct rc_state *st)
{
	size_t n = d ? d->nunits : 0, ndis = 0, nready = 0;
	struct metrics_unit *mu = xcalloc(n + 1, sizeof(*mu));
	for (size_t i = 0; i < n; i++) {
		const struct rc_unit *u = &d->units[i];
		mu[i].unit = u->id;
		mu[i].customer = u->customer;
		mu[i].service = u->service;
		mu[i].image = u->image;
		mu[i].disabled = st && state_is_disabled(st, u->id, NULL);
		mu[i].failures = st ? state_get_restarts(st, u->id).failures : 0;
		const struct uinfo *ui = T.idx ? strmap_get(T.idx, u->id) : NULL;
		mu[i].ready = ui && ui->ready && !mu[i].disabled;
		mu[i].restarts = ui ? ui->restarts : 0;
		ndis += mu[i].disabled;
		nready += mu[i].ready;
	}
	const char *commit = d ? d->commit : NULL;
	static int64_t commit_time;
	if (!str_eq(commit, T.commit)) {
		commit_time = 0;
		struct rc_err err = { 0 };
		if (commit && T.o.repo && source_commit_time(T.o.repo, commit, &commit_time, &err) < 0)
			commit_time = 0;
		if (commit && T.commit && commit_time)  /* a new commit in force (not the one found at boot) */
			metrics_commit_converged((double)time(NULL) - (double)commit_time);
		free(T.commit);
		T.commit = commit ? xstrdup(commit) : NULL;
	}
	metrics_set_units(mu, n, commit, commit_time);
	free(mu);
	char status[160];
	snprintf(status, sizeof status, "commit %.12s: %zu unit%s, %zu ready, %zu disabled", commit ? commit : "(none)",
		 n, n == 1 ? "" : "s", nready, ndis);
	sdn_status(status);
}

void telemetry_tick(const struct rc_desired *cur, const struct rc_state *st)
{
	telemetry_alive();
	if (!T.started)
		return;
	if (cur != T.cur) {
		T.cur = cur;
		if (cur)
			notify_configure(T.notify, cur->settings.project, (const char *const *)cur->settings.notify_urls,
					 cur->settings.nnotify_urls, (const char *const *)cur->settings.notify_events,
					 cur->settings.nnotify_events);
		T.next_publish = 0;
	}
	int64_t now = now_ns();
	if (now < T.next_publish)
		return;
	T.next_publish = now + 250 * NS_PER_MS;
	publish(cur, st);
}

void telemetry_booted(const char *summary)
{
	sdn_ready(summary);
}

void telemetry_stop(void)
{
	if (!T.started)
		return;
	sdn_stopping();
	httpd_stop(T.http);
	notify_stop(T.notify);
	T.http = NULL;
	T.notify = NULL;
	T.started = false;
	table_free();
	T.cur = NULL;
	free(T.commit);
	T.commit = NULL;
}
