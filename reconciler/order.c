/* order.c — topological order of units; see order.h. */
#include <string.h>

#include "buf.h"
#include "order.h"

/* Binary min-heap of unit indices (index order is id order). */
struct heap {
	size_t *v;
	size_t n;
};

static void heap_push(struct heap *h, size_t x)
{
	size_t i = h->n++;
	h->v[i] = x;
	while (i > 0 && h->v[(i - 1) / 2] > h->v[i]) {
		size_t p = (i - 1) / 2, t = h->v[p];
		h->v[p] = h->v[i];
		h->v[i] = t;
		i = p;
	}
}

static size_t heap_pop(struct heap *h)
{
	size_t top = h->v[0];
	h->v[0] = h->v[--h->n];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && h->v[l] < h->v[m])
			m = l;
		if (r < h->n && h->v[r] < h->v[m])
			m = r;
		if (m == i)
			break;
		size_t t = h->v[m];
		h->v[m] = h->v[i];
		h->v[i] = t;
		i = m;
	}
	return top;
}

static int unit_id_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct rc_unit *)elem)->id);
}

/* d->units is sorted by id (unit.h): binary search. */
static const struct rc_unit *find_unit(const struct rc_desired *d, const char *id)
{
	return bsearch(id, d->units, d->nunits, sizeof(*d->units), unit_id_cmp);
}

/* One cycle among the units left unplaced (indeg > 0: each has an unplaced dependency), as
 * "dependency cycle: a -> b -> a", the loader's format: from the smallest id left, follow the
 * first unplaced dependency until a unit comes back. */
static int cycle_error(const struct rc_desired *d, const size_t *indeg, struct rc_err *err)
{
	size_t n = d->nunits;
	_cleanup_free_ size_t *pos = xcalloc(n + 1, sizeof(size_t));   /* 1 + place on the path; 0: not on it */
	_cleanup_free_ size_t *path = xcalloc(n + 1, sizeof(size_t));
	size_t len = 0, cur = 0;
	while (cur < n && indeg[cur] == 0)
		cur++;
	while (cur < n && !pos[cur]) {
		pos[cur] = ++len;
		path[len - 1] = cur;
		const struct rc_unit *u = &d->units[cur];
		size_t next = n;
		for (size_t k = 0; k < u->ndeps && next == n; k++) {
			const struct rc_unit *dep = find_unit(d, u->deps[k].unit);
			if (dep && indeg[dep - d->units] > 0)
				next = (size_t)(dep - d->units);
		}
		cur = next;
	}
	struct buf b = BUF_INIT;
	for (size_t k = cur < n ? pos[cur] - 1 : 0; k < len; k++)
		buf_addf(&b, "%s -> ", d->units[path[k]].id);
	buf_adds(&b, cur < n ? d->units[cur].id : "?");
	rc_errf(err, "dependency cycle: %s", buf_cstr(&b));
	buf_release(&b);
	return -1;
}

/* The topological order (rc_desired_order()); skip_unknown: a dependency naming no unit is
 * left out rather than an error. */
static int toposort(const struct rc_desired *d, bool skip_unknown, size_t **ret_order, struct rc_err *err)
{
	size_t n = d->nunits, nedges = 0;
	for (size_t i = 0; i < n; i++)
		nedges += d->units[i].ndeps;

	/* Edges dependency -> dependent, as compressed rows (start[j]..start[j+1]). */
	_cleanup_free_ size_t *dep_of = xcalloc(nedges ? nedges : 1, sizeof(size_t));   /* edge's dependency */
	_cleanup_free_ size_t *start = xcalloc(n + 1, sizeof(size_t));
	_cleanup_free_ size_t *fill = xcalloc(n + 1, sizeof(size_t));
	_cleanup_free_ size_t *dependents = xcalloc(nedges ? nedges : 1, sizeof(size_t));
	_cleanup_free_ size_t *indeg = xcalloc(n ? n : 1, sizeof(size_t));
	size_t e = 0;
	for (size_t i = 0; i < n; i++) {
		const struct rc_unit *u = &d->units[i];
		for (size_t k = 0; k < u->ndeps; k++) {
			const struct rc_unit *dep = find_unit(d, u->deps[k].unit);
			if (!dep && skip_unknown)
				continue;
			if (!dep)
				return rc_errf(err, "unit '%s' depends on unknown unit '%s'", u->id,
					       u->deps[k].unit);
			size_t j = (size_t)(dep - d->units);
			dep_of[e++] = j;
			start[j + 1]++;
			indeg[i]++;
		}
	}
	for (size_t j = 0; j < n; j++)
		start[j + 1] += start[j];
	memcpy(fill, start, (n + 1) * sizeof(size_t));
	e = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < d->units[i].ndeps; k++)
			if (find_unit(d, d->units[i].deps[k].unit))
				dependents[fill[dep_of[e++]]++] = i;

	size_t *order = xcalloc(n ? n : 1, sizeof(size_t));
	_cleanup_free_ size_t *heapv = xcalloc(n ? n : 1, sizeof(size_t));
	struct heap h = { heapv, 0 };
	for (size_t i = 0; i < n; i++)
		if (indeg[i] == 0)
			heap_push(&h, i);
	size_t placed = 0;
	while (h.n) {
		size_t j = heap_pop(&h);
		order[placed++] = j;
		for (size_t k = start[j]; k < start[j + 1]; k++)
			if (--indeg[dependents[k]] == 0)
				heap_push(&h, dependents[k]);
	}
	if (placed < n) {
		free(order);
		return cycle_error(d, indeg, err);
	}
	*ret_order = order;
	return 0;
}

int rc_desired_order(const struct rc_desired *d, size_t **ret_order, struct rc_err *err)
{
	return toposort(d, false, ret_order, err);
}

int rc_desired_levels(const struct rc_desired *d, const bool *in, int *level, struct rc_err *err)
{
	size_t *order = NULL;
	if (toposort(d, true, &order, err) < 0)
		return -1;
	for (size_t k = 0; k < d->nunits; k++) {
		size_t i = order[k];
		level[i] = -1;
		if (in && !in[i])
			continue;
		int lvl = 0;
		const struct rc_unit *u = &d->units[i];
		for (size_t j = 0; j < u->ndeps; j++) {
			const struct rc_unit *dep = find_unit(d, u->deps[j].unit);
			size_t di = dep ? (size_t)(dep - d->units) : 0;
			if (dep && (!in || in[di]) && level[di] + 1 > lvl)
				lvl = level[di] + 1;
		}
		level[i] = lvl;
	}
	free(order);
	return 0;
}
