/*
 * strmap.h — a set / map of strings for lookups in loops over hostile input:
 * open addressing with linear probing, keyed SipHash-1-3 (one random key per
 * process, so no file can be written to make its keys collide), doubling at
 * half full.  Expected O(1) per operation whatever the input.
 *
 * Owns: nothing but the table.  Keys are borrowed (they must outlive the
 * map and not change); values are opaque non-NULL pointers.  The map never
 * iterates, so nothing that depends on its order can reach an output.
 */
#ifndef RC_STRMAP_H
#define RC_STRMAP_H

#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void);
void strmap_free(struct strmap *m);
static inline void strmap_freep(struct strmap **m) { strmap_free(*m); }

/* The value stored under key (n bytes, no NUL needed; the key itself holds no NUL), or NULL. */
void *strmap_getn(const struct strmap *m, const char *key, size_t n);
void *strmap_get(const struct strmap *m, const char *key);
/*
 * Store value (non-NULL) under key unless key is there already.  Returns
 * NULL when it was stored, else the value stored before (which stays: the
 * first one wins).
 */
void *strmap_add(struct strmap *m, const char *key, void *value);
/* Store value (non-NULL) under key, replacing what was there. */
void strmap_set(struct strmap *m, const char *key, void *value);
size_t strmap_count(const struct strmap *m);

#endif
