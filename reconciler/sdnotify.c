/* sdnotify.c — see sdnotify.h.  The only user of libsystemd. */
#include "sdnotify.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "util.h"

static atomic_llong watchdog_ns;   /* 0: none */
static atomic_llong last_ping_ns;
static pthread_mutex_t status_mu = PTHREAD_MUTEX_INITIALIZER;
static char *last_status;

void sdn_init(void)
{
	uint64_t usec = 0;
	/* 0: unset them?  No: a child (docker-credential helpers) does not talk to systemd anyway */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
		atomic_store(&watchdog_ns, (long long)usec * 1000LL);
}

int64_t sdn_watchdog_ns(void)
{
	return atomic_load(&watchdog_ns);
}

void sdn_ready(const char *status)
{
	if (status) {
		sd_notifyf(0, "READY=1\nSTATUS=%s", status);
		pthread_mutex_lock(&status_mu);
		free(last_status);
		last_status = xstrdup(status);
		pthread_mutex_unlock(&status_mu);
	} else {
		sd_notify(0, "READY=1");
	}
}

void sdn_status(const char *text)
{
	pthread_mutex_lock(&status_mu);
	if (!str_eq(text, last_status)) {
		free(last_status);
		last_status = xstrdup(text);
		sd_notifyf(0, "STATUS=%s", text);
	}
	pthread_mutex_unlock(&status_mu);
}

void sdn_watchdog(void)
{
	long long w = atomic_load(&watchdog_ns);
	if (!w)
		return;
	long long now = now_ns(), last = atomic_load(&last_ping_ns);
	if (now - last < w / 2)
		return;
	if (!atomic_compare_exchange_strong(&last_ping_ns, &last, now))
		return;  /* another thread pings this time */
	sd_notify(0, "WATCHDOG=1");
}

void sdn_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}
