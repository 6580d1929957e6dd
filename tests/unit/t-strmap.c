/* Unit tests for strmap.c: add / set / get, growth, keys by length. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "strmap.h"
#include "tap.h"
#include "util.h"

static void test_basics(void)
{
	struct strmap *m = strmap_new();
	int a = 1, b = 2;
	ok(strmap_get(m, "x") == NULL, "empty: nothing found");
	ok(strmap_add(m, "x", &a) == NULL, "add stores a new key");
	ok(strmap_add(m, "x", &b) == &a, "add of a known key returns the first value");
	ok(strmap_get(m, "x") == &a, "and keeps it");
	strmap_set(m, "x", &b);
	ok(strmap_get(m, "x") == &b, "set replaces");
	ok(strmap_add(m, "", &a) == NULL && strmap_get(m, "") == &a, "the empty key is a key");
	is_int(strmap_count(m), 2, "two keys");
	ok(strmap_getn(m, "xyz", 1) == &b, "getn looks up a prefix by length");
	ok(strmap_getn(m, "xyz", 2) == NULL, "and only that length");
	ok(strmap_get(NULL, "x") == NULL, "a NULL map holds nothing");
	strmap_free(m);
	strmap_free(NULL);
}

static void test_many(void)
{
	enum { N = 100000 };
	char **keys = xcalloc(N, sizeof(*keys));
	struct strmap *m = strmap_new();
	size_t dup = 0;
	for (size_t i = 0; i < N; i++) {
		keys[i] = xasprintf("key-%zu", i % (N / 2));   /* every key twice */
		if (strmap_add(m, keys[i], (void *)(uintptr_t)(i + 1)))
			dup++;
	}
	is_int(strmap_count(m), N / 2, "%d keys, each added twice: %d in the map", N, N / 2);
	is_int(dup, N / 2, "every second add found its key");
	size_t right = 0;
	for (size_t i = 0; i < N / 2; i++)
		right += (uintptr_t)strmap_get(m, keys[i]) == i + 1;
	is_int(right, N / 2, "every key maps to its first value after growing");
	ok(strmap_get(m, "key-50000") == NULL, "a key never added is not found");
	strmap_free(m);
	for (size_t i = 0; i < N; i++)
		free(keys[i]);
	free(keys);
}

int main(void)
{
	test_basics();
	test_many();
	return done_testing();
}
