/*
 * hostports.h — the TCP ports a host process already listens on, so that
 * `port: auto` does not hand them out (the engine's list only shows what
 * containers publish).
 *
 * Owns: reading /proc/net/tcp and /proc/net/tcp6 of the reconciler's own
 * network namespace (the host's when it runs on the host, as the engine's
 * published ports are) and the parser of their text, kept pure for tests.
 * Only meaningful when the engine is local (a unix socket): for a remote
 * engine the caller does not ask.
 */
#ifndef RC_HOSTPORTS_H
#define RC_HOSTPORTS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Append to *v (n entries, capacity *cap; GROW-managed) the local ports of
 * the sockets in LISTEN state (st 0A) in the text of /proc/net/tcp or tcp6.
 * Lines that do not parse are skipped.
 */
void hostports_parse(const char *text, uint16_t **v, size_t *n, size_t *cap);
/* The listening TCP ports of this network namespace, sorted, no duplicates (*ret malloc'ed;
 * none when /proc cannot be read). */
void hostports_listening(uint16_t **ret, size_t *ret_n);

#endif
