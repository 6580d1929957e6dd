/* strmap.c — see strmap.h. */
#include "strmap.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct slot {
	const char *key;      /* NULL: empty */
	size_t len;
	uint64_t hash;
	void *value;
};

struct strmap {
	struct slot *v;
	size_t cap;           /* a power of two */
	size_t n;
};

/* ---- SipHash-1-3 (Aumasson, Bernstein), 64-bit output ---- */

static uint64_t sip_k0, sip_k1;

static void sip_key_init(void)
{
	uint64_t k[2];
	if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k)) {
		/* No entropy source: still a per-process key, if a guessable one. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
		k[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4fu ^ (uint64_t)(uintptr_t)&ts;
	}
	sip_k0 = k[0];
	sip_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                        \
	do {                                                            \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                   \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                   \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t siphash13(const char *p, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sip_key_init);
	uint64_t v0 = sip_k0 ^ 0x736f6d6570736575u, v1 = sip_k1 ^ 0x646f72616e646f6du;
	uint64_t v2 = sip_k0 ^ 0x6c7967656e657261u, v3 = sip_k1 ^ 0x7465646279746573u;
	const unsigned char *in = (const unsigned char *)p;
	size_t full = len & ~(size_t)7;
	for (size_t i = 0; i < full; i += 8) {
		uint64_t m;
		memcpy(&m, in + i, 8);   /* host byte order: the hash never leaves the process */
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)in[full + i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ---- */

struct strmap *strmap_new(void)
{
	struct strmap *m = xcalloc(1, sizeof(*m));
	m->cap = 16;
	m->v = xcalloc(m->cap, sizeof(*m->v));
	return m;
}

void strmap_free(struct strmap *m)
{
	if (!m)
		return;
	free(m->v);
	free(m);
}

size_t strmap_count(const struct strmap *m)
{
	return m->n;
}

/* The slot holding key, or the empty slot where it belongs. */
static struct slot *find(const struct strmap *m, const char *key, size_t len, uint64_t h)
{
	size_t mask = m->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct slot *s = &m->v[i];
		if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
			return s;
	}
}

static void grow(struct strmap *m)
{
	struct strmap bigger = { .cap = m->cap * 2 };
	if (bigger.cap < m->cap)
		die("out of memory");
	bigger.v = xcalloc(bigger.cap, sizeof(*bigger.v));
	for (size_t i = 0; i < m->cap; i++)
		if (m->v[i].key)
			*find(&bigger, m->v[i].key, m->v[i].len, m->v[i].hash) = m->v[i];
	free(m->v);
	m->v = bigger.v;
	m->cap = bigger.cap;
}

void *strmap_getn(const struct strmap *m, const char *key, size_t n)
{
	if (!m || m->n == 0)
		return NULL;
	const struct slot *s = find(m, key, n, siphash13(key, n));
	return s->key ? s->value : NULL;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	return strmap_getn(m, key, strlen(key));
}

static struct slot *slot_for(struct strmap *m, const char *key, void *value)
{
	if (!value)
		BUG("strmap: NULL value");
	if (2 * (m->n + 1) > m->cap)
		grow(m);
	size_t len = strlen(key);
	uint64_t h = siphash13(key, len);
	struct slot *s = find(m, key, len, h);
	if (!s->key) {
		*s = (struct slot){ .key = key, .len = len, .hash = h };
		m->n++;
	}
	return s;
}

void *strmap_add(struct strmap *m, const char *key, void *value)
{
	struct slot *s = slot_for(m, key, value);
	if (s->value)
		return s->value;
	s->value = value;
	return NULL;
}

void strmap_set(struct strmap *m, const char *key, void *value)
{
	slot_for(m, key, value)->value = value;
}
