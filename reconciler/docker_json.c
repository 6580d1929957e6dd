/*
 * docker_json.c — the cJSON readers and writers the client's files share, and a
 * scanner over raw JSON text (container ids, integers a double cannot hold).
 * See docker.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

const cJSON *jget(const cJSON *o, const char *key)
{
	return o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = jget(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *jdup(const cJSON *o, const char *key)
{
	const char *s = jstr(o, key);
	return s ? xstrdup(s) : NULL;
}

char *jdup_nonempty(const cJSON *o, const char *key)
{
	const char *s = jstr(o, key);
	return s && *s ? xstrdup(s) : NULL;
}

/* A number, clamped to int64 (the engine never sends more; fuzzed input does). */
int64_t jnum(const cJSON *v)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != v->valuedouble)
		return 0;
	if (v->valuedouble >= 9.2e18)
		return INT64_MAX;
	if (v->valuedouble <= -9.2e18)
		return INT64_MIN;
	return (int64_t)v->valuedouble;
}

int64_t jint(const cJSON *o, const char *key)
{
	return jnum(jget(o, key));
}

bool jbool(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(jget(o, key));
}

void jstrv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void jkv_free(struct rc_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/* Copy an array of strings (non-strings skipped). NULL when absent or not an array. */
char **jstrv(const cJSON *arr, size_t *ret_n)
{
	*ret_n = 0;
	if (!cJSON_IsArray(arr))
		return NULL;
	size_t n = 0, cap = 0;
	char **v = NULL;
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		if (!cJSON_IsString(e))
			continue;
		GROW(v, n + 1, cap);
		v[n++] = xstrdup(e->valuestring);
	}
	*ret_n = n;
	return v ? v : xcalloc(1, sizeof(char *));
}

/* Keys of an object, sorted. */
char **jkeys(const cJSON *obj, size_t *ret_n)
{
	*ret_n = 0;
	if (!cJSON_IsObject(obj))
		return NULL;
	size_t n = 0, cap = 0;
	char **v = NULL;
	const cJSON *e;
	cJSON_ArrayForEach(e, obj) {
		GROW(v, n + 1, cap);
		v[n++] = xstrdup(e->string);
	}
	if (n)
		qsort(v, n, sizeof(*v), strp_cmp);
	*ret_n = n;
	return v;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_kv *)a)->key, ((const struct rc_kv *)b)->key);
}

/* A string-to-string object as sorted rc_kv (non-string values skipped). */
struct rc_kv *jkv(const cJSON *obj, size_t *ret_n)
{
	*ret_n = 0;
	if (!cJSON_IsObject(obj))
		return NULL;
	size_t n = 0, cap = 0;
	struct rc_kv *kv = NULL;
	const cJSON *e;
	cJSON_ArrayForEach(e, obj) {
		if (!cJSON_IsString(e))
			continue;
		GROW(kv, n + 1, cap);
		kv[n].key = xstrdup(e->string);
		kv[n].value = xstrdup(e->valuestring);
		n++;
	}
	if (n)
		qsort(kv, n, sizeof(*kv), kv_cmp);
	*ret_n = n;
	return kv;
}

const char *dk_label(const struct rc_kv *labels, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(labels[i].key, key) == 0)
			return labels[i].value;
	return NULL;
}

cJSON *jstrarray(const char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

cJSON *jkvobject(const struct rc_kv *kv, size_t n)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToObject(o, kv[i].key, cJSON_CreateString(kv[i].value ? kv[i].value : ""));
	return o;
}

char *jprint(const cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	if (!s)
		die("out of memory (cJSON)");
	char *r = xstrdup(s);
	cJSON_free(s);
	return r;
}

/* A JSON integer's text ("-"? digits, no fraction or exponent) as int64; false past its range. */
static bool int_token(const char *s, size_t n, int64_t *ret)
{
	bool neg = n && *s == '-';
	size_t i = neg ? 1 : 0;
	if (i == n)
		return false;
	uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (lim - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
	return true;
}

/* ------------------------------------------------------------------ */
/* a scanner over raw JSON text (docker_int.h)                        */

const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p at the opening quote; *ret_plain: no escape inside (the bytes between the quotes are the value). */
const char *skip_string(const char *p, const char *end, bool *ret_plain)
{
	bool plain = true;
	for (p++; p < end; p++) {
		if (*p == '"') {
			if (ret_plain)
				*ret_plain = plain;
			return p + 1;
		}
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			plain = false;
			if (++p >= end)
				return NULL;
		}
	}
	return NULL;
}

const char *skip_value(const char *p, const char *end, int depth)
{
	p = skip_ws(p, end);
	if (p >= end || depth > SKIP_DEPTH_MAX)
		return NULL;
	if (*p == '"')
		return skip_string(p, end, NULL);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = skip_ws(p + 1, end);
		if (p < end && *p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				p = skip_ws(p, end);
				if (p >= end || *p != '"' || !(p = skip_string(p, end, NULL)))
					return NULL;
				p = skip_ws(p, end);
				if (p >= end || *p++ != ':')
					return NULL;
			}
			if (!(p = skip_value(p, end, depth + 1)))
				return NULL;
			p = skip_ws(p, end);
			if (p < end && *p == ',') {
				p++;
				continue;
			}
			return p < end && *p == close ? p + 1 : NULL;
		}
	}
	/* a number or true/false/null: its characters */
	const char *q = p;
	while (q < end && (isalnum((unsigned char)*q) || *q == '-' || *q == '+' || *q == '.'))
		q++;
	return q > p ? q : NULL;
}

/*
 * The integer a top-level key of an object holds, read from its text: a
 * number cJSON would read as a double (timeNano, ~1.7e18, is past 2^53).
 * Only a key of the outer object counts (not one of the same name inside
 * a nested object, a label, say); the first occurrence wins, as cJSON reads
 * it.  false when the text is no object, the key is absent or its value is
 * not a plain integer that fits int64.
 */
bool json_top_int(const char *json, size_t len, const char *key, int64_t *ret)
{
	const char *p = json, *end = json + len;
	size_t klen = strlen(key);
	p = skip_ws(p, end);
	if (p >= end || *p++ != '{')
		return false;
	p = skip_ws(p, end);
	if (p < end && *p == '}')
		return false;
	for (;;) {
		p = skip_ws(p, end);
		const char *k = p;
		bool plain = false;
		if (p >= end || *p != '"' || !(p = skip_string(p, end, &plain)))
			return false;
		bool match = plain && (size_t)(p - k) == klen + 2 && !memcmp(k + 1, key, klen);
		p = skip_ws(p, end);
		if (p >= end || *p++ != ':')
			return false;
		p = skip_ws(p, end);
		const char *v = p;
		if (!(p = skip_value(p, end, 1)))
			return false;
		if (match)
			return int_token(v, (size_t)(p - v), ret);
		p = skip_ws(p, end);
		if (p >= end || *p++ != ',')
			return false;
	}
}
