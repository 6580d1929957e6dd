/*
 * spec.h — the canonical form of a unit, its content hashes, and field-level
 * differences between two canonical forms.
 *
 * Owns: the canonical serialization, which is the definition of "the
 * container must change".  It is text, one `key=value` line per field,
 * sorted by key, e.g.
 *
 *     cpus=500000000
 *     env.FEATURE_X=on
 *     health.interval=30000000000
 *     image=mission-control:1.4
 *     networks.0=acme-abc123
 *     ports.3000/tcp=auto          (or the fixed host port)
 *     secrets.db_password=<digest>
 *
 * Values are normalized (durations in ns, sizes in bytes, CPUs in nano-CPUs)
 * and escaped (`\n`, `\\`), so a spec is always one line per key.  Fields
 * that are unset are omitted.  The hash depends only on what changes the
 * container, never on file layout, key order, comments or other units.
 * Secrets enter only as digests of their content.  The canonical text is
 * also stored on each container as a label (see unit.h) so a later run can
 * say which fields changed.
 *
 *  - hash:      XXH3-128 of the whole canonical text.
 *  - base_hash: of the text without resource keys (cpus, memory,
 *               memory_reservation, pids, restart.*, the rows of the
 *               spec-key table marked in_place, speckeys.h, and with
 *               engine: swarm replicas and rollout.*); equal base_hash
 *               with a different hash means "update in place".
 *
 * With engine: swarm (rc_swarm.enabled) the text also has replicas=N,
 * placement.constraint.C=true per constraint, placement.spread=A,B,
 * rollout.parallelism/delay/monitor and publish=host; a containers unit's
 * text has none of them, so its hashes are what they were before Swarm.
 *
 * The fields of the spec-key table (speckeys.h) are written by
 * sk_canonical(); the others are written out here.
 */
#ifndef RC_SPEC_H
#define RC_SPEC_H

#include <stdbool.h>

#include "buf.h"
#include "unit.h"

/* Canonical text of u.  with_resources=false omits resource keys. */
void spec_canonical(const struct rc_unit *u, bool with_resources, struct buf *out);
/* Append s escaped as the canonical text escapes keys (is_key: '=' too) and values. */
void spec_escape(struct buf *out, const char *s, bool is_key);
/* Fill u->hash and u->base_hash. */
void spec_hash_unit(struct rc_unit *u);
void spec_hash_units(struct rc_desired *d);
/* True for keys that `docker update` can change in place. */
bool spec_key_is_resource(const char *key);

struct spec_change {
	char *key;
	char *before;   /* NULL: key absent before */
	char *after;    /* NULL: key absent after */
};
struct spec_changes {
	struct spec_change *v;
	size_t n;
};
/* Keys that differ between two canonical texts, sorted by key. */
void spec_diff(const char *before, const char *after, struct spec_changes *ret);
/* True if every change is a resource key (so the change can be made in place). */
bool spec_changes_resource_only(const struct spec_changes *c);
void spec_changes_release(struct spec_changes *c);

#endif
