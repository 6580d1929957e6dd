/*
 * wakeproxy.h — waking a sleeping unit on demand: the daemon's listeners on
 * a sleeping unit's published host ports, the connections they accept and
 * hold (not read from) while the unit starts, and a small poll-based relay
 * that splices each held connection to the container once it is ready.
 *
 * Owns: the sockets (listeners, held connections, the container side), the
 * relay's buffers, and its bounds: at most max_held connections held at a
 * time (more are closed at once), each closed when its unit is not spliced
 * within hold_ns, a relay closed after idle_ns without a byte either way.
 * It never talks to the engine and decides nothing about units: the daemon
 * says which unit listens where (wp_listen), is told which unit a connection
 * asked for (wp_handle's return), starts it, and then splices (wp_splice).
 * Driven from the daemon loop: wp_pollfds() adds its fds to the loop's
 * poll set, wp_handle() acts on what poll returned.  Single-threaded.
 */
#ifndef RC_WAKEPROXY_H
#define RC_WAKEPROXY_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct wakeproxy;

struct wakeproxy *wp_new(size_t max_held, int64_t hold_ns, int64_t idle_ns);
void wp_free(struct wakeproxy *wp);

/*
 * Listen for unit on the host port it publishes: host_ip (NULL or "" or
 * "0.0.0.0": every address, which covers 127.0.0.1; else that address and
 * 127.0.0.1), port, for its container port cport.  0, or -1 with err (the
 * port taken: the caller says so and goes on without it).
 */
int wp_listen(struct wakeproxy *wp, const char *unit, const char *host_ip, uint16_t port, uint16_t cport,
	      struct rc_err *err);
/* Whether unit has a listener open. */
bool wp_listening(const struct wakeproxy *wp, const char *unit);
/* Whether a listener is open on host port port (the daemon's own: no host process's). */
bool wp_listens_on(const struct wakeproxy *wp, uint16_t port);
/* Accept what waits in unit's listeners' backlog (held), then close them (the engine may bind). */
void wp_unlisten(struct wakeproxy *wp, const char *unit);

/* Connections held for unit (accepted, not spliced yet). */
size_t wp_held(const struct wakeproxy *wp, const char *unit);
/*
 * Splice unit's held connections to ip (the container's address on its
 * network) at the container port each was accepted for; connection refusals
 * are tried again until the hold time ends.
 */
void wp_splice(struct wakeproxy *wp, const char *unit, const char *ip);
/* Spliced connections that have not had a byte from the container yet (being connected, or
 * waiting for its answer). */
size_t wp_unanswered(const struct wakeproxy *wp);
/* Close unit's held connections (its start failed). */
void wp_drop(struct wakeproxy *wp, const char *unit);

/* Append its fds to fds[*n..cap) (events set); the number it may add is wp_nfds(). */
size_t wp_nfds(const struct wakeproxy *wp);
void wp_pollfds(const struct wakeproxy *wp, struct pollfd *fds, size_t *n, size_t cap);
/* The earliest time it must be called again (a hold or idle timeout, a retry); 0: none. */
int64_t wp_deadline(const struct wakeproxy *wp);
/*
 * Act on fds[0..n) as poll returned them (others' fds are skipped) and on
 * the timeouts: accept, relay, close.  Returns the id of a unit a new
 * connection asked for (borrowed until the next call), or NULL; call again
 * with n = 0 until NULL for more.
 */
const char *wp_handle(struct wakeproxy *wp, const struct pollfd *fds, size_t n);

#endif
