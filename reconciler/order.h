/*
 * order.h — the dependency order of the desired units: a topological order
 * (every unit after the units it depends on), ties broken by unit id, so the
 * order is a pure function of the desired state.
 *
 * Owns: nothing but the returned index array.  Used by `render` and by
 * whatever walks units in start order (stops walk it backwards).
 */
#ifndef RC_ORDER_H
#define RC_ORDER_H

#include <stddef.h>

#include "unit.h"
#include "util.h"

/*
 * Fill *ret_order with a malloc'ed array of d->nunits indices into
 * d->units, dependencies before dependents; among units whose dependencies
 * are all placed, the smallest id comes first (d->units is sorted by id).
 * Fails (returns -1, *ret_order untouched) on a dependency naming no unit
 * ("unit 'a' depends on unknown unit 'b'") or a cycle ("dependency cycle
 * among 'a', 'b'").  The caller frees *ret_order.
 */
int rc_desired_order(const struct rc_desired *d, size_t **ret_order, struct rc_err *err);

#endif
