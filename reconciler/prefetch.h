/*
 * prefetch.h — engine work that needs no manifests, started while they load.
 *
 * Owns one background thread that opens the Docker client, checks the
 * engine's API version (on a clone of the client) and makes observe_fetch()'s
 * two list calls (containers and networks).  `plan`, `apply`,
 * `status` and `drift` start it before reading the manifests from Git, so
 * the list calls cost no wall time of their own (docs/performance.md).
 * Nothing here mutates the engine.
 */
#ifndef RC_PREFETCH_H
#define RC_PREFETCH_H

#include <stdbool.h>

#include "docker.h"
#include "observe.h"
#include "util.h"

struct prefetch;

/*
 * Start (docker_host NULL: the default).  lists: also make the two list
 * calls (without: *ret_raw comes back empty); project (with lists): list
 * only the containers carrying that project's label.  Never fails: without
 * a thread it runs to completion here.
 */
struct prefetch *prefetch_start(const char *docker_host, bool lists, const char *project);

/*
 * Wait for it and free it.  0: *ret_client (free with dk_client_free()) and
 * *ret_raw (hand to observe_build() or release) are set.  -1: nothing is
 * returned (both are emptied) and err says what failed ("docker: ...",
 * "observing the engine: ...").  p may be NULL (returns -1 with no message).
 */
int prefetch_finish(struct prefetch *p, struct dk_client **ret_client, struct observe_raw *ret_raw,
		    struct rc_err *err);

#endif
