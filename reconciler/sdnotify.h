/*
 * sdnotify.h — telling systemd how the daemon is (sd_notify(3), libsystemd).
 *
 * Owns: the notifications to $NOTIFY_SOCKET: READY=1 once boot convergence
 * is over, STATUS= lines, WATCHDOG=1 pings at half of $WATCHDOG_USEC
 * (sd_watchdog_enabled()), STOPPING=1.  Without $NOTIFY_SOCKET every call
 * does nothing.  Thread-safe: the watchdog ping may come from a rollout's
 * coordinator while the loop is busy in it.
 */
#ifndef RC_SDNOTIFY_H
#define RC_SDNOTIFY_H

#include <stdint.h>

/* Read $WATCHDOG_USEC once (the variables stay for a child). */
void sdn_init(void);
void sdn_ready(const char *status);
/* STATUS=text, only when it differs from the last one sent. */
void sdn_status(const char *text);
/* WATCHDOG=1 if half the watchdog interval passed since the last ping; nothing without a watchdog. */
void sdn_watchdog(void);
/* The watchdog interval in ns (0: none). */
int64_t sdn_watchdog_ns(void);
void sdn_stopping(void);

#endif
