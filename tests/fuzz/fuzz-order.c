/*
 * fuzz-order.c — rc_desired_order() on arbitrary dependency graphs: it must
 * either return a complete topological order (every dependency first, each
 * unit once, ties by id) or report a cycle that really exists.
 *
 * Input: byte 0 = number of units (mod 64, ids "u00".."u63", sorted); then
 * pairs (a, b): unit a depends on unit b.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "order.h"
#include "unit.h"
#include "util.h"

#define MAXU 64

static int has_cycle_from(size_t i, const uint8_t adj[MAXU][MAXU], size_t n, uint8_t *color)
{
	color[i] = 1;
	for (size_t j = 0; j < n; j++) {
		if (!adj[i][j])
			continue;
		if (color[j] == 1)
			return 1;
		if (color[j] == 0 && has_cycle_from(j, adj, n, color))
			return 1;
	}
	color[i] = 2;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	size_t n = data[0] % MAXU;
	static uint8_t adj[MAXU][MAXU]; /* adj[a][b]: a depends on b */
	memset(adj, 0, sizeof(adj));
	struct rc_desired d = { 0 };
	d.units = xcalloc(n ? n : 1, sizeof(*d.units));
	d.nunits = n;
	for (size_t i = 0; i < n; i++)
		d.units[i].id = xasprintf("u%02zu", i);
	if (n) {
		for (size_t k = 1; k + 1 < size; k += 2) {
			size_t a = data[k] % n, b = data[k + 1] % n;
			struct rc_unit *u = &d.units[a];
			u->deps = xrealloc(u->deps, (u->ndeps + 1) * sizeof(*u->deps));
			u->deps[u->ndeps++] = (struct rc_dep){ .unit = xasprintf("u%02zu", b) };
			adj[a][b] = 1;
		}
	}
	size_t *order = NULL;
	struct rc_err err;
	int rc = rc_desired_order(&d, &order, &err);
	uint8_t color[MAXU] = { 0 };
	int cyclic = 0;
	for (size_t i = 0; i < n && !cyclic; i++)
		if (color[i] == 0)
			cyclic = has_cycle_from(i, adj, n, color);
	if (rc < 0) {
		if (!cyclic || !strstr(err.msg, "cycle"))
			BUG("order failed without a cycle: %s", err.msg);
	} else {
		if (cyclic)
			BUG("order succeeded on a cyclic graph");
		size_t pos[MAXU];
		uint8_t seen[MAXU] = { 0 };
		for (size_t i = 0; i < n; i++) {
			if (order[i] >= n || seen[order[i]])
				BUG("order is not a permutation");
			seen[order[i]] = 1;
			pos[order[i]] = i;
		}
		for (size_t a = 0; a < n; a++)
			for (size_t b = 0; b < n; b++)
				if (adj[a][b] && pos[b] >= pos[a])
					BUG("u%02zu placed before its dependency u%02zu", a, b);
		/* Ties by id: each unit is the smallest one ready at its step. */
		for (size_t i = 0; i < n; i++) {
			for (size_t c = 0; c < order[i]; c++) {
				if (pos[c] < i)
					continue;
				int ready = 1;
				for (size_t b = 0; b < n; b++)
					if (adj[c][b] && pos[b] >= i)
						ready = 0;
				if (ready)
					BUG("u%02zu was ready before u%02zu at step %zu", c, order[i], i);
			}
		}
		free(order);
	}
	for (size_t i = 0; i < n; i++)
		rc_unit_release(&d.units[i]);
	free(d.units);
	return 0;
}
