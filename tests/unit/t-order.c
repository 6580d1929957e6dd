/* Unit tests for order.c: topological order of units, ties by id. */
#include <string.h>

#include "buf.h"
#include "order.h"
#include "tap.h"
#include "unit.h"
#include "util.h"

/* Build a desired state from "id:dep,dep id:..." (ids given sorted). */
static struct rc_desired *make(const char *spec)
{
	struct rc_desired *d = xcalloc(1, sizeof(*d));
	_cleanup_free_ char *copy = xstrdup(spec);
	size_t cap = 0;
	char *save = NULL;
	for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		GROW(d->units, d->nunits + 1, cap);
		struct rc_unit *u = &d->units[d->nunits++];
		memset(u, 0, sizeof(*u));
		char *colon = strchr(tok, ':');
		if (colon)
			*colon = '\0';
		u->id = xstrdup(tok);
		if (colon && colon[1]) {
			size_t dcap = 0;
			char *s2 = NULL;
			for (char *dep = strtok_r(colon + 1, ",", &s2); dep; dep = strtok_r(NULL, ",", &s2)) {
				GROW(u->deps, u->ndeps + 1, dcap);
				u->deps[u->ndeps++] = (struct rc_dep){ .unit = xstrdup(dep), .cond = RC_DEP_HEALTHY };
			}
		}
	}
	return d;
}

static int unit_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_unit *)a)->id, ((const struct rc_unit *)b)->id);
}

static char *ordered(const char *spec, struct rc_err *err)
{
	struct rc_desired *d = make(spec);
	size_t *order = NULL;
	char *res = NULL;
	if (rc_desired_order(d, &order, err) == 0) {
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < d->nunits; i++)
			buf_addf(&b, "%s%s", i ? " " : "", d->units[order[i]].id);
		res = buf_detach(&b, NULL);
		free(order);
	}
	rc_desired_free(d);
	return res;
}

static void check(const char *spec, const char *want, const char *name)
{
	struct rc_err err = { 0 };
	_cleanup_free_ char *got = ordered(spec, &err);
	is_str(got, want, "%s", name);
	if (!got)
		diag("error: %s", err.msg);
}

static void check_fail(const char *spec, const char *needle, const char *name)
{
	struct rc_err err = { 0 };
	_cleanup_free_ char *got = ordered(spec, &err);
	ok(got == NULL, "%s: fails", name);
	ok(strstr(err.msg, needle) != NULL, "%s: '%s' in '%s'", name, needle, err.msg);
}

int main(void)
{
	check("", "", "no units");
	check("a b c", "a b c", "no dependencies: by id");
	check("a:c b c", "b c a", "dependency first, ties by id");
	check("a:b b:c c", "c b a", "a chain");
	check("app:cache,db cache db worker:app", "cache db app worker", "diamond-ish");
	check("db x/app:db x/worker:x/app y/app:db y/worker:y/app",
	      "db x/app x/worker y/app y/worker", "per-customer units after the shared one, ready ones by id");
	check("a:d b:d c d", "c d a b", "an independent unit with a smaller id goes first");
	check_fail("a:b b:a c", "dependency cycle: a -> b -> a", "two-cycle, the loader's format");
	check_fail("a:a", "dependency cycle: a -> a", "self-dependency");
	check_fail("a:b b:c c:a d", "dependency cycle: a -> b -> c -> a", "three-cycle, the free unit not named");
	check_fail("a d:e e:f f:d", "dependency cycle: d -> e -> f -> d", "the cycle, not the units before it");
	check_fail("a:b b:c c:b", "dependency cycle: b -> c -> b", "a unit waiting on a cycle is not in it");
	check_fail("a:zz", "unit 'a' depends on unknown unit 'zz'", "unknown dependency");

	/* levels: 0 with no dependency in the set, else one over the highest; a chain of 50,000 */
	{
		struct rc_desired *ld = make("a b:a c:a,b d:zz e:c");
		int lv[5];
		struct rc_err lerr = { 0 };
		is_int(rc_desired_levels(ld, NULL, lv, &lerr), 0, "levels");
		ok(lv[0] == 0 && lv[1] == 1 && lv[2] == 2 && lv[3] == 0 && lv[4] == 3, "levels %d %d %d %d %d (unknown dep satisfied)",
		   lv[0], lv[1], lv[2], lv[3], lv[4]);
		bool in[5] = { false, true, true, false, true };
		is_int(rc_desired_levels(ld, in, lv, &lerr), 0, "levels of a subset");
		ok(lv[0] == -1 && lv[1] == 0 && lv[2] == 1 && lv[3] == -1 && lv[4] == 2, "outside the set: -1, its deps satisfied");
		rc_desired_free(ld);
		struct buf cs = BUF_INIT;
		buf_adds(&cs, "u00000");
		for (int i = 1; i < 50000; i++)
			buf_addf(&cs, " u%05d:u%05d", i, i - 1);
		struct rc_desired *cd = make(cs.data);
		buf_release(&cs);
		int *clv = xcalloc(50000, sizeof(int));
		is_int(rc_desired_levels(cd, NULL, clv, &lerr), 0, "a chain of 50,000 units");
		is_int(clv[49999], 49999, "its last level");
		free(clv);
		rc_desired_free(cd);
	}

	/* Scale: 3000 units in a fan; order must be complete and valid. */
	struct buf s = BUF_INIT;
	buf_adds(&s, "db");
	for (int i = 0; i < 1000; i++)
		buf_addf(&s, " c%04d/app:db c%04d/web:c%04d/app c%04d/worker:c%04d/app,c%04d/web", i, i, i, i, i, i);
	struct rc_desired *d = make(s.data);
	buf_release(&s);
	/* make() takes ids in the given order; the model wants them sorted. */
	qsort(d->units, d->nunits, sizeof(*d->units), unit_cmp);
	size_t *order = NULL;
	struct rc_err err = { 0 };
	is_int(rc_desired_order(d, &order, &err), 0, "3001 units ordered");
	size_t *pos = xcalloc(d->nunits, sizeof(size_t));
	for (size_t i = 0; i < d->nunits; i++)
		pos[order[i]] = i;
	int good = 1;
	for (size_t i = 0; i < d->nunits; i++)
		for (size_t k = 0; k < d->units[i].ndeps; k++) {
			struct rc_unit *dep = rc_desired_unit(d, d->units[i].deps[k].unit);
			good &= dep && pos[dep - d->units] < pos[i];
		}
	ok(good, "every dependency placed before its dependent");
	free(pos);
	free(order);
	rc_desired_free(d);
	return done_testing();
}
