/*
 * httpd.h — the daemon's read-only HTTP endpoint (libmicrohttpd).
 *
 * Owns: the listening socket (a unix socket path, mode 0660, or an IPv4
 * address:port), the server's threads and its limits, and the four
 * resources (spec/http-api.md):
 *   GET /metrics  metrics_render() (Prometheus text format 0.0.4)
 *   GET /status   the document of `reconciler status --json`, made by the
 *                 status callback on the request's thread
 *   GET /healthz  200 when the loop's heartbeat (metrics.h) is younger than
 *                 the bound, else 503
 *   GET /events   the journal as Server-Sent Events (metrics_events_wait()),
 *                 resumable with Last-Event-ID
 * Nothing here changes state: every other method is 405, every other path
 * 404.  The server runs on its own threads (one per connection, at most
 * HTTPD_MAX_CONNECTIONS, each with a small request memory and an idle
 * timeout; past the limit a connection is closed at once); the daemon loop never waits for it: it only ever takes the
 * metrics mutex, to copy.
 */
#ifndef RC_HTTPD_H
#define RC_HTTPD_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "util.h"

#define HTTPD_MAX_CONNECTIONS 128
#define HTTPD_MAX_STREAMS 16          /* /events followers at once */
#define HTTPD_REQUEST_MEMORY 16384    /* bytes per connection: request line and headers */
#define HTTPD_IDLE_TIMEOUT_S 10

struct httpd;

struct httpd_opts {
	const char *listen;       /* "/path/to/sock", "unix:/path", or "127.0.0.1:PORT" */
	int64_t health_bound_ns;  /* /healthz: the heartbeat's greatest age (0: 60 s) */
	/* /status: fill out with the document; 0, or -1 with err (answered 503) */
	int (*status)(void *ctx, struct buf *out, struct rc_err *err);
	void *status_ctx;
};

/* Parse an address; 0, or -1 with err saying what is wrong.  *ret_unix: a socket path. */
int httpd_parse_listen(const char *listen, bool *ret_unix, struct rc_err *err);
int httpd_start(const struct httpd_opts *o, struct httpd **ret, struct rc_err *err);
/* Stop (ends the event streams, waits for the connection threads), remove a unix socket. */
void httpd_stop(struct httpd *h);

#endif
