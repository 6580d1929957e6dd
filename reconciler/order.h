/*
 * order.h — the dependency graph of the desired units, in one place: a
 * topological order (every unit after the units it depends on), ties
 * broken by unit id, so the order is a pure function of the desired state;
 * the units' levels (the planner's waves); and the one report of a cycle,
 * in the loader's format ("dependency cycle: a -> b -> a"; the loader finds
 * cycles first, with positions — a cycle here means a desired state that
 * did not come from it).
 *
 * Owns: nothing but the returned arrays.  Used by `render`, the planner and
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
 * ("unit 'a' depends on unknown unit 'b'") or a cycle ("dependency cycle:
 * a -> b -> a", one cycle, from the smallest id on one).  The caller frees
 * *ret_order.
 */
int rc_desired_order(const struct rc_desired *d, size_t **ret_order, struct rc_err *err);

/*
 * level[i] (d->nunits of them, filled) for each unit i in the set in (NULL:
 * every unit): 0 when none of its dependencies is in the set, else one more
 * than the highest level among those; -1 for a unit outside the set.  A
 * dependency naming no unit counts as satisfied.  Fails (-1) on a cycle as
 * rc_desired_order() does.  Iterative: a chain of 50,000 units is fine.
 */
int rc_desired_levels(const struct rc_desired *d, const bool *in, int *level, struct rc_err *err);

#endif
