/*
 * spec.h — the canonical form of a unit and its content hashes.
 *
 * Owns: the canonical serialization (sorted keys, normalized values:
 * durations in ns, sizes in bytes, CPUs in nano-CPUs, env sorted), which is
 * the definition of "the container must change".  The hash depends only on
 * what changes the container, never on file layout, key order, comments or
 * other units.  Secrets enter only as digests.
 *
 *  - hash:      XXH3-128 of the whole canonical spec.
 *  - base_hash: of the spec without resources (cpus, memory, memory
 *               reservation, pids) and restart policy; equal base_hash with
 *               different hash means "update in place".
 */
#ifndef RC_SPEC_H
#define RC_SPEC_H

#include <stdbool.h>

#include "buf.h"
#include "unit.h"

/* Canonical JSON of u (one line, sorted keys).  with_resources=false omits resources/restart. */
void spec_canonical(const struct rc_unit *u, bool with_resources, struct buf *out);
/* Fill u->hash and u->base_hash. */
void spec_hash_unit(struct rc_unit *u);
void spec_hash_units(struct rc_desired *d);

#endif
