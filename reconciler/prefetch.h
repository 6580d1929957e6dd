/*
 * prefetch.h — engine work that needs no manifests, started while they load.
 *
 * Owns one background thread that opens the Docker client, checks the
 * engine's API version (on a clone of the client) and makes observe_fetch()'s
 * two list calls (containers and networks).  `plan`, `apply`,
 * `status` and `drift` start it before reading the manifests from Git, so
 * the list calls cost no wall time of their own (docs/performance.md).
 * For `drift` it also inspects the containers of the last apply by name
 * while it lists, then the listed containers those missed; of the list it
 * reads only the ids (dk_container_ids()), *ret_raw's container list comes
 * back empty and the caller makes the summaries from the inspects.  Nothing here
 * mutates the engine.
 */
#ifndef RC_PREFETCH_H
#define RC_PREFETCH_H

#include <stdbool.h>

#include "docker.h"
#include "observe.h"
#include "util.h"

struct prefetch;

struct prefetch_opts {
	const char *docker_host;  /* NULL: the default */
	bool lists;               /* make the two list calls (without: *ret_raw comes back empty) */
	const char *project;      /* with lists: list only the containers carrying this project's label */
	/*
	 * > 0 (with lists and project): inspect containers, that many in flight:
	 * the names given (borrowed until prefetch_finish()) while the lists
	 * run, then every listed container those did not find, by id.
	 */
	int inspect_parallel;
	const char *const *names;
	size_t nnames;
};
/* Start.  Never fails: without a thread it runs to completion here. */
struct prefetch *prefetch_start(const struct prefetch_opts *o);

/* The inspects made (by name and by id; a failed one, or a 404, has no
 * container).  Release with dk_inspect_results_release(res, n), free(res). */
struct prefetch_inspected {
	struct dk_inspect_result *res;
	size_t n;
};

/*
 * Wait for it and free it.  0: *ret_client (free with dk_client_free()),
 * *ret_raw (hand to observe_build() or release) and, when ret_inspected is
 * not NULL, *ret_inspected (empty unless inspect_parallel was given) are
 * set.  -1: nothing is returned (all are emptied) and err says what failed
 * ("docker: ...", "observing the engine: ...").  p may be NULL (returns -1
 * with no message).
 */
int prefetch_finish(struct prefetch *p, struct dk_client **ret_client, struct observe_raw *ret_raw,
		    struct prefetch_inspected *ret_inspected, struct rc_err *err);

#endif
