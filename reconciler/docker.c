/* docker.c — see docker.h.  The only user of curl/curl.h and cJSON.h for the engine. */
#include "docker.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "metrics.h"

#define API "/v" DK_API_VERSION
#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define DEFAULT_MAX_BODY ((size_t)64 << 20)
#define SLACK_MAX_MS 30000L
#define ENV_TIMEOUT "RECONCILER_ENGINE_TIMEOUT_MS"

/* ------------------------------------------------------------------ */
/* counters                                                           */

struct dk_counters {
	atomic_uint_fast64_t n[DK_OP__MAX];
	atomic_int refs;
};

static const struct {
	const char *name;
	bool mutating;
} op_info[DK_OP__MAX] = {
	[DK_OP_PING] = { "ping", false },
	[DK_OP_VERSION] = { "version", false },
	[DK_OP_LIST] = { "list", false },
	[DK_OP_INSPECT] = { "inspect", false },
	[DK_OP_CREATE] = { "create", true },
	[DK_OP_START] = { "start", true },
	[DK_OP_STOP] = { "stop", true },
	[DK_OP_KILL] = { "kill", true },
	[DK_OP_REMOVE] = { "remove", true },
	[DK_OP_UPDATE] = { "update", true },
	[DK_OP_RENAME] = { "rename", true },
	[DK_OP_NETWORK_LIST] = { "network-list", false },
	[DK_OP_NETWORK_INSPECT] = { "network-inspect", false },
	[DK_OP_NETWORK_CREATE] = { "network-create", true },
	[DK_OP_NETWORK_REMOVE] = { "network-remove", true },
	[DK_OP_NETWORK_CONNECT] = { "network-connect", true },
	[DK_OP_NETWORK_DISCONNECT] = { "network-disconnect", true },
	[DK_OP_VOLUME_LIST] = { "volume-list", false },
	[DK_OP_VOLUME_INSPECT] = { "volume-inspect", false },
	[DK_OP_VOLUME_CREATE] = { "volume-create", true },
	[DK_OP_VOLUME_REMOVE] = { "volume-remove", true },
	[DK_OP_IMAGE_INSPECT] = { "image-inspect", false },
	[DK_OP_IMAGE_PULL] = { "image-pull", true },
	[DK_OP_IMAGE_REMOVE] = { "image-remove", true },
	[DK_OP_EVENTS] = { "events", false },
};

const char *dk_op_name(enum dk_op op)
{
	if ((unsigned)op >= DK_OP__MAX)
		return "?";
	return op_info[op].name;
}

bool dk_op_mutating(enum dk_op op)
{
	return (unsigned)op < DK_OP__MAX && op_info[op].mutating;
}

/* ------------------------------------------------------------------ */
/* client                                                             */

struct dk_client {
	char *host;        /* as given (for messages) */
	char *sock_path;   /* unix socket, or NULL for TCP */
	char *base_url;    /* "http://localhost" or "http://host:port" */
	long timeout_ms;
	long connect_timeout_ms;
	size_t max_body;
	CURL *easy;
	struct dk_counters *ctr;
};

long dk_client_timeout_ms(const struct dk_client *c)
{
	return c->timeout_ms;
}

bool dk_client_local(const struct dk_client *c)
{
	return c && c->sock_path;
}

static void count(struct dk_client *c, enum dk_op op)
{
	atomic_fetch_add(&c->ctr->n[op], 1);
}

uint64_t dk_stats_get(const struct dk_client *c, enum dk_op op)
{
	if ((unsigned)op >= DK_OP__MAX)
		return 0;
	return atomic_load(&c->ctr->n[op]);
}

uint64_t dk_stats_total(const struct dk_client *c)
{
	uint64_t t = 0;
	for (int i = 0; i < DK_OP__MAX; i++)
		t += atomic_load(&c->ctr->n[i]);
	return t;
}

uint64_t dk_stats_mutating(const struct dk_client *c)
{
	uint64_t t = 0;
	for (int i = 0; i < DK_OP__MAX; i++)
		if (op_info[i].mutating)
			t += atomic_load(&c->ctr->n[i]);
	return t;
}

void dk_stats_reset(struct dk_client *c)
{
	for (int i = 0; i < DK_OP__MAX; i++)
		atomic_store(&c->ctr->n[i], 0);
}

int dk_stats_format(const struct dk_client *c, struct buf *out)
{
	for (int i = 0; i < DK_OP__MAX; i++) {
		uint64_t n = atomic_load(&c->ctr->n[i]);
		if (n && buf_addf(out, "  %s %" PRIu64 "\n", op_info[i].name, n) < 0)
			return -1;
	}
	return buf_addf(out, "  total %" PRIu64 " (mutating %" PRIu64 ")\n", dk_stats_total(c),
			dk_stats_mutating(c));
}

static int parse_host(const char *host, char **ret_sock, char **ret_base, struct rc_err *err)
{
	if (!host || !*host)
		host = DK_DEFAULT_HOST;
	if (str_startswith(host, "unix://") || host[0] == '/') {
		const char *p = host[0] == '/' ? host : host + strlen("unix://");
		if (!*p)
			return rc_errf(err, "docker host '%s' has no socket path", host);
		if (strlen(p) > 107)
			return rc_errf(err, "docker socket path '%s' is longer than 107 bytes", p);
		*ret_sock = xstrdup(p);
		*ret_base = xstrdup("http://localhost");
		return 0;
	}
	const char *hp = NULL;
	if (str_startswith(host, "tcp://"))
		hp = host + strlen("tcp://");
	else if (str_startswith(host, "http://"))
		hp = host + strlen("http://");
	else
		return rc_errf(err, "unsupported docker host '%s' (use unix://, tcp:// or http://)", host);
	size_t n = strcspn(hp, "/");
	if (n == 0)
		return rc_errf(err, "docker host '%s' has no address", host);
	*ret_sock = NULL;
	*ret_base = xasprintf("http://%.*s", (int)n, hp);
	return 0;
}

static struct dk_client *client_new(const char *host, const char *sock, const char *base, long timeout_ms,
				    long connect_timeout_ms, size_t max_body, struct dk_counters *ctr)
{
	struct dk_client *c = xcalloc(1, sizeof(*c));
	c->host = xstrdup(host);
	c->sock_path = sock ? xstrdup(sock) : NULL;
	c->base_url = xstrdup(base);
	c->timeout_ms = timeout_ms;
	c->connect_timeout_ms = connect_timeout_ms;
	c->max_body = max_body;
	c->easy = curl_easy_init();
	if (!c->easy)
		die("cannot initialise libcurl");
	c->ctr = ctr;
	atomic_fetch_add(&ctr->refs, 1);
	return c;
}

struct dk_client *dk_client_clone(const struct dk_client *c)
{
	return client_new(c->host, c->sock_path, c->base_url, c->timeout_ms, c->connect_timeout_ms,
			  c->max_body, c->ctr);
}

void dk_client_free(struct dk_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (atomic_fetch_sub(&c->ctr->refs, 1) == 1)
		free(c->ctr);
	free(c->host);
	free(c->sock_path);
	free(c->base_url);
	free(c);
}

/* ------------------------------------------------------------------ */
/* JSON helpers                                                       */

/* The per-call timeout when the caller sets none: $RECONCILER_ENGINE_TIMEOUT_MS (a positive number
 * of ms), else 30 s. */
static long default_timeout_ms(void)
{
	const char *e = getenv(ENV_TIMEOUT);
	char *end = NULL;
	long v = e && *e ? strtol(e, &end, 10) : 0;
	if (e && *e && (*end || v <= 0)) {
		log_warn("%s='%s' is not a positive number of milliseconds: using %ld", ENV_TIMEOUT, e,
			 DEFAULT_TIMEOUT_MS);
		v = 0;
	}
	return v > 0 ? v : DEFAULT_TIMEOUT_MS;
}

/* What stop and remove allow beyond their own time: the engine kills after the grace period. */
static long slack_ms(const struct dk_client *c)
{
	return c->timeout_ms < SLACK_MAX_MS ? c->timeout_ms : SLACK_MAX_MS;
}

static const cJSON *jget(const cJSON *o, const char *key)
{
	return o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = jget(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *jdup(const cJSON *o, const char *key)
{
	const char *s = jstr(o, key);
	return s ? xstrdup(s) : NULL;
}

static char *jdup_nonempty(const cJSON *o, const char *key)
{
	const char *s = jstr(o, key);
	return s && *s ? xstrdup(s) : NULL;
}

/* A number, clamped to int64 (the engine never sends more; fuzzed input does). */
static int64_t jnum(const cJSON *v)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != v->valuedouble)
		return 0;
	if (v->valuedouble >= 9.2e18)
		return INT64_MAX;
	if (v->valuedouble <= -9.2e18)
		return INT64_MIN;
	return (int64_t)v->valuedouble;
}

static int64_t jint(const cJSON *o, const char *key)
{
	return jnum(jget(o, key));
}

static bool jbool(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(jget(o, key));
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void kv_free(struct rc_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/* Copy an array of strings (non-strings skipped). NULL when absent or not an array. */
static char **jstrv(const cJSON *arr, size_t *ret_n)
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
static char **jkeys(const cJSON *obj, size_t *ret_n)
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
static struct rc_kv *jkv(const cJSON *obj, size_t *ret_n)
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

static cJSON *jstrarray(const char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static cJSON *jkvobject(const struct rc_kv *kv, size_t n)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToObject(o, kv[i].key, cJSON_CreateString(kv[i].value ? kv[i].value : ""));
	return o;
}

static char *jprint(const cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	if (!s)
		die("out of memory (cJSON)");
	char *r = xstrdup(s);
	cJSON_free(s);
	return r;
}

/* ------------------------------------------------------------------ */
/* URL pieces                                                         */

/* Percent-encode everything but unreserved characters (and, for paths, ':' '/' '@'). */
static void url_escape(struct buf *b, const char *s, bool path)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char ch = *p;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
		    (path && (ch == ':' || ch == '/' || ch == '@')))
			buf_addc(b, (char)ch);
		else
			buf_addf(b, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
	}
}

static char *esc_path(const char *s)
{
	struct buf b = BUF_INIT;
	url_escape(&b, s, true);
	return buf_detach(&b, NULL);
}

static char *esc_query(const char *s)
{
	struct buf b = BUF_INIT;
	url_escape(&b, s, false);
	return buf_detach(&b, NULL);
}

/* {"key":["v1","v2"],...} from filter terms, URL-encoded; "" when none. */
static char *filters_query(const struct dk_filter *f, size_t n)
{
	if (!n)
		return xstrdup("");
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; i < n; i++) {
		cJSON *a = cJSON_GetObjectItemCaseSensitive(o, f[i].key);
		if (!a) {
			a = cJSON_CreateArray();
			cJSON_AddItemToObject(o, f[i].key, a);
		}
		cJSON_AddItemToArray(a, cJSON_CreateString(f[i].value));
	}
	_cleanup_free_ char *js = jprint(o);
	cJSON_Delete(o);
	return esc_query(js);
}

/* ------------------------------------------------------------------ */
/* transfers                                                          */

struct xfer {
	struct buf body;                 /* whole reply (non-streaming) or current line (streaming) */
	bool over_cap;
	bool streaming;
	/* streaming: called for every complete line (without '\n'); non-zero aborts */
	int (*on_line)(void *ud, const char *line, size_t len);
	void *ud;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	/* stall detection (pulls): abort when no byte arrived for stall_ms */
	long stall_ms;
	int64_t last_data_ms;
	bool stalled;
};

static void xfer_init(struct xfer *x, size_t max)
{
	memset(x, 0, sizeof(*x));
	buf_init(&x->body, max);
}

static void xfer_release(struct xfer *x)
{
	buf_release(&x->body);
	curl_slist_free_all(x->headers);
	x->headers = NULL;
}

static int xfer_lines(struct xfer *x)
{
	char *nl;
	while (x->body.len && (nl = memchr(x->body.data, '\n', x->body.len))) {
		size_t n = (size_t)(nl - x->body.data);
		*nl = '\0';
		if (n && x->on_line(x->ud, x->body.data, n) != 0)
			return -1;
		size_t rest = x->body.len - n - 1;
		memmove(x->body.data, nl + 1, rest);
		x->body.len = rest;
		x->body.data[rest] = '\0';
	}
	return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	x->last_data_ms = now_ms();
	if (!x->streaming) {
		if (buf_add(&x->body, ptr, n) < 0) {
			x->over_cap = true;
			return 0;
		}
		return n;
	}
	/* streaming: split on newlines; the cap applies to one line */
	size_t off = 0;
	while (off < n) {
		char *nl = memchr(ptr + off, '\n', n - off);
		size_t take = nl ? (size_t)(nl - (ptr + off)) + 1 : n - off;
		if (buf_add(&x->body, ptr + off, take) < 0) {
			x->over_cap = true;
			return 0;
		}
		off += take;
		if (nl && xfer_lines(x) < 0)
			return 0;
	}
	return n;
}

static int xferinfo_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = ud;
	if (x->stall_ms > 0 && now_ms() - x->last_data_ms > x->stall_ms) {
		x->stalled = true;
		return 1;
	}
	return 0;
}

/* Configure easy for one request.  body NULL: no body (POST sends an empty one). */
static void setup_easy(const struct dk_client *c, CURL *easy, const char *method, const char *path,
		       const char *body, long timeout_ms, struct xfer *x)
{
	curl_easy_reset(easy);
	_cleanup_free_ char *url = xasprintf("%s%s", c->base_url, path);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	if (c->sock_path)
		curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, c->sock_path);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, x->errbuf);
	x->errbuf[0] = '\0';
	x->headers = curl_slist_append(x->headers, "Expect:");
	/* libcurl's POST default is form-encoded: JSON, or no type for an empty body */
	x->headers = curl_slist_append(x->headers, body ? "Content-Type: application/json" : "Content-Type:");
	if (!x->headers)
		die("out of memory (curl_slist)");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, x->headers);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(easy, CURLOPT_POST, 1L);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, body ? (long)strlen(body) : 0L);
		curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body ? body : "");
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	}
}

static struct dk_status *status_or(struct dk_status *st, struct dk_status *tmp)
{
	st = st ? st : tmp;
	st->http = 0;
	st->message[0] = '\0';
	return st;
}

/* Docker's message from an error body: {"message": "..."} or the raw text.  Returns whether the body
 * was the engine's JSON error object. */
static bool error_message(const char *body, size_t len, char *out, size_t outsz)
{
	out[0] = '\0';
	cJSON *j = cJSON_ParseWithLength(body, len);
	const char *m = cJSON_IsObject(j) ? jstr(j, "message") : NULL;
	if (m)
		snprintf(out, outsz, "%s", m);
	else {
		while (len && (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' '))
			len--;
		snprintf(out, outsz, "%.*s", (int)len, body);
	}
	cJSON_Delete(j);
	return m != NULL;
}

/* What a 500 says when the engine's own machinery failed rather than the request (containerd gone,
 * an internal deadline): matched in the message, case-sensitively, as the engine words them. */
static const char *const internal_5xx[] = {
	"rpc error: code = Unavailable",
	"rpc error: code = DeadlineExceeded",
	"transport is closing",
	"containerd.sock",
	"context deadline exceeded",
};

bool dk_error_reply_is_fault(long http, bool json_message, const char *message)
{
	if (http == 502 || http == 503 || http == 504)
		return true;
	if (!json_message)
		return true;  /* the engine answers every error with {"message": ...} */
	if (http >= 500 && message)
		for (size_t i = 0; i < ARRAY_SIZE(internal_5xx); i++)
			if (strstr(message, internal_5xx[i]))
				return true;
	return false;
}

/*
 * Turn a finished transfer into the result convention: 0 for 2xx/304, -1
 * otherwise.  Every failure of the transfer itself, and an error reply
 * dk_error_reply_is_fault() calls one, is an engine fault (rc_err.engine_fault).
 */
static int xfer_result(const struct dk_client *c, CURL *easy, CURLcode cc, struct xfer *x,
		       long timeout_ms, const char *what, struct dk_status *st, struct rc_err *err)
{
	if (cc != CURLE_OK) {
		st->http = 0;
		if (x->over_cap)
			return rc_err_fault(err, "%s: reply larger than %zu bytes", what, x->body.max);
		if (cc == CURLE_OPERATION_TIMEDOUT)
			return rc_err_fault(err, "%s: no complete reply from the docker engine at '%s' within %ld ms",
					    what, c->host, timeout_ms);
		if (cc == CURLE_COULDNT_CONNECT) {
			long oserr = 0;
			curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &oserr);
			return rc_err_fault(err, "%s: cannot connect to the docker engine at '%s': %s", what, c->host,
					    oserr ? strerror((int)oserr) : x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
		}
		return rc_err_fault(err, "%s: %s", what, x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
	}
	long http = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http);
	st->http = http;
	if ((http >= 200 && http < 300) || http == 304)
		return 0;
	bool json = error_message(buf_cstr(&x->body), x->body.len, st->message, sizeof(st->message));
	if (dk_error_reply_is_fault(http, json, st->message))
		return rc_err_fault(err, "%s: %ld %s", what, http, st->message[0] ? st->message : "(no message)");
	return rc_errf(err, "%s: %ld %s", what, http, st->message[0] ? st->message : "(no message)");
}

/*
 * One request on c's easy handle.  ret_json (may be NULL): the parsed reply
 * of a 2xx answer (invalid JSON is an error).  st may be NULL.  With
 * ret_body (not NULL), the reply's body is handed over (buf_release() it).
 * A 2xx reply must be what the engine sends: JSON when ret_json asks for
 * it, "OK" for a ping, else nothing or JSON; anything else (garbage, a body
 * cut short) is an engine fault.
 */
static int request_x(struct dk_client *c, enum dk_op op, const char *method, const char *path,
		     const char *body, long timeout_ms, const char *what, cJSON **ret_json,
		     struct buf *ret_body, struct dk_status *st, struct rc_err *err)
{
	struct dk_status tmp;
	st = status_or(st, &tmp);
	struct xfer x;
	xfer_init(&x, c->max_body);
	if (timeout_ms <= 0)
		timeout_ms = c->timeout_ms;
	setup_easy(c, c->easy, method, path, body, timeout_ms, &x);
	count(c, op);
	log_debug("docker: %s %s", method, path);
	int64_t t0 = now_ns();
	CURLcode cc = curl_easy_perform(c->easy);
	metrics_engine_request(dk_op_name(op), now_ns() - t0, cc == CURLE_OK);  /* metrics.h */
	int r = xfer_result(c, c->easy, cc, &x, timeout_ms, what, st, err);
	if (r == 0 && st->http != 304 && !ret_body) {
		if (op == DK_OP_PING) {
			if (strcmp(buf_cstr(&x.body), "OK") != 0)
				r = rc_err_fault(err, "%s: the engine's reply is not \"OK\" (%zu bytes)", what, x.body.len);
		} else if (ret_json || x.body.len) {
			cJSON *j = cJSON_ParseWithLength(buf_cstr(&x.body), x.body.len);
			if (!j)
				r = rc_err_fault(err, "%s: invalid JSON in the engine's reply (%zu bytes)", what, x.body.len);
			else if (ret_json)
				*ret_json = j;
			else
				cJSON_Delete(j);
		}
	} else if (r == 0 && ret_json) {
		*ret_json = NULL;
	}
	if (r == 0 && ret_body) {
		*ret_body = x.body;
		x.body = (struct buf)BUF_INIT;
	}
	xfer_release(&x);
	return r;
}

static int request(struct dk_client *c, enum dk_op op, const char *method, const char *path,
		   const char *body, long timeout_ms, const char *what, cJSON **ret_json,
		   struct dk_status *st, struct rc_err *err)
{
	return request_x(c, op, method, path, body, timeout_ms, what, ret_json, NULL, st, err);
}

/* ------------------------------------------------------------------ */
/* open, ping, version                                                */

void dk_version_release(struct dk_version *v)
{
	if (!v)
		return;
	free(v->version);
	free(v->api_version);
	free(v->min_api_version);
	free(v->os);
	free(v->arch);
	free(v->kernel);
	memset(v, 0, sizeof(*v));
}

static int get_version(struct dk_client *c, const char *path, struct dk_version *ret,
		       struct dk_status *st, struct rc_err *err)
{
	cJSON *j = NULL;
	if (request(c, DK_OP_VERSION, "GET", path, NULL, 0, "version", &j, st, err) < 0)
		return -1;
	if (!jstr(j, "ApiVersion")) {
		cJSON_Delete(j);
		return rc_err_fault(err, "version: the engine's reply has no ApiVersion");
	}
	ret->version = jdup(j, "Version");
	ret->api_version = jdup(j, "ApiVersion");
	ret->min_api_version = jdup(j, "MinAPIVersion");
	ret->os = jdup(j, "Os");
	ret->arch = jdup(j, "Arch");
	ret->kernel = jdup(j, "KernelVersion");
	cJSON_Delete(j);
	return 0;
}

int dk_version(struct dk_client *c, struct dk_version *ret, struct dk_status *st, struct rc_err *err)
{
	return get_version(c, API "/version", ret, st, err);
}

int dk_ping(struct dk_client *c, struct dk_status *st, struct rc_err *err)
{
	return request(c, DK_OP_PING, "GET", API "/_ping", NULL, 0, "ping", NULL, st, err);
}

/* "1.41" >= "1.41"? */
static bool api_at_least(const char *have, int want_major, int want_minor)
{
	int ma = 0, mi = 0;
	if (sscanf(have, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > want_major || (ma == want_major && mi >= want_minor);
}

int dk_client_open(const struct dk_opts *o, struct dk_client **ret_client, struct rc_err *err)
{
	static const struct dk_opts defaults;
	if (!o)
		o = &defaults;
	_cleanup_free_ char *sock = NULL, *base = NULL;
	if (parse_host(o->host, &sock, &base, err) < 0)
		return -1;
	struct dk_counters *ctr = xcalloc(1, sizeof(*ctr));
	struct dk_client *c = client_new(o->host && *o->host ? o->host : DK_DEFAULT_HOST, sock, base,
					 o->timeout_ms > 0 ? o->timeout_ms : default_timeout_ms(),
					 o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS,
					 o->max_body ? o->max_body : DEFAULT_MAX_BODY, ctr);
	if (!o->defer_version_check && dk_check_version(c, err) < 0) {
		dk_client_free(c);
		return -1;
	}
	*ret_client = c;
	return 0;
}

int dk_check_version(struct dk_client *c, struct rc_err *err)
{
	/* unversioned: an older engine would refuse /v1.41/version */
	struct dk_version v = { 0 };
	if (get_version(c, "/version", &v, NULL, err) < 0) {
		if (!err || !strstr(err->msg, c->host))
			rc_err_prefix(err, "docker engine at '%s'", c->host);
		return -1;
	}
	if (!api_at_least(v.api_version, 1, 41)) {
		rc_errf(err, "the docker engine at '%s' (version %s) speaks API %s; reconciler needs API "
			DK_API_VERSION " or later (Docker 20.10+)", c->host, v.version ? v.version : "?",
			v.api_version);
		dk_version_release(&v);
		return -1;
	}
	log_debug("docker: engine %s, API %s", v.version ? v.version : "?", v.api_version);
	dk_version_release(&v);
	return 0;
}

/* ------------------------------------------------------------------ */
/* containers: list                                                   */

static void summary_release(struct dk_container_summary *s)
{
	free(s->id);
	free(s->name);
	free(s->image);
	free(s->image_id);
	free(s->state);
	free(s->status);
	kv_free(s->labels, s->nlabels);
	for (size_t i = 0; i < s->nports; i++) {
		free(s->ports[i].type);
		free(s->ports[i].ip);
	}
	free(s->ports);
	strv_free(s->networks, s->nnetworks);
}

void dk_container_list_free(struct dk_container_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		summary_release(&l->items[i]);
	free(l->items);
	free(l);
}

void dk_container_list_merge(struct dk_container_list *into, struct dk_container_list *from)
{
	if (!from)
		return;
	into->items = xrealloc(into->items, (into->n + from->n + 1) * sizeof(*into->items));
	const char **ids = xcalloc(into->n + 1, sizeof(*ids));
	size_t nids = 0;
	for (size_t k = 0; k < into->n; k++)
		if (into->items[k].id)
			ids[nids++] = into->items[k].id;
	qsort(ids, nids, sizeof(*ids), strp_cmp);
	for (size_t i = 0; i < from->n; i++) {
		const char *id = from->items[i].id;
		if (id && bsearch(&id, ids, nids, sizeof(*ids), strp_cmp))
			summary_release(&from->items[i]);
		else
			into->items[into->n++] = from->items[i];
	}
	free(ids);
	free(from->items);
	free(from);
}

void dk_container_list_add_inspected(struct dk_container_list *l, const struct dk_container *ct)
{
	l->items = xrealloc(l->items, (l->n + 2) * sizeof(*l->items));
	struct dk_container_summary *s = &l->items[l->n++];
	memset(s, 0, sizeof(*s));
	s->id = xstrdup(ct->id ? ct->id : "");
	s->name = xstrdup(ct->name ? ct->name : "");
	s->image = ct->image ? xstrdup(ct->image) : NULL;
	s->image_id = ct->image_id ? xstrdup(ct->image_id) : NULL;
	s->state = ct->state_status ? xstrdup(ct->state_status) : NULL;
	/* what the list's Status says of health: "Up 2 minutes (healthy)" */
	if (ct->running && ct->health_status)
		s->status = str_eq(ct->health_status, "starting") ? xstrdup("Up (health: starting)")
								   : xasprintf("Up (%s)", ct->health_status);
	else if (ct->running)
		s->status = xstrdup("Up");
	else
		s->status = xasprintf("Exited (%d)", ct->exit_code);
	s->labels = xcalloc(ct->nlabels + 1, sizeof(*s->labels));
	for (size_t i = 0; i < ct->nlabels; i++) {
		s->labels[i].key = xstrdup(ct->labels[i].key);
		s->labels[i].value = xstrdup(ct->labels[i].value ? ct->labels[i].value : "");
	}
	s->nlabels = ct->nlabels;
	/* the list shows published ports while the container has its network namespace */
	s->ports = xcalloc(ct->nport_bindings + 1, sizeof(*s->ports));
	for (size_t i = 0; (ct->running || ct->paused) && i < ct->nport_bindings; i++) {
		const struct dk_port_binding *b = &ct->port_bindings[i];
		if (!b->host_port)
			continue;
		s->ports[s->nports++] = (struct dk_port_summary){
			.private_port = b->container_port, .public_port = b->host_port,
			.type = xstrdup(b->proto ? b->proto : "tcp"), .ip = xstrdup(b->host_ip ? b->host_ip : "0.0.0.0") };
	}
	s->networks = xcalloc(ct->nnetworks + 1, sizeof(*s->networks));
	for (size_t i = 0; i < ct->nnetworks; i++)
		s->networks[s->nnetworks++] = xstrdup(ct->networks[i].name);
}

static char *strip_slash(const char *s)
{
	return xstrdup(s && s[0] == '/' ? s + 1 : s ? s : "");
}

static void parse_summary(const cJSON *j, struct dk_container_summary *s)
{
	s->id = jdup(j, "Id");
	const cJSON *names = jget(j, "Names");
	const cJSON *first = cJSON_IsArray(names) ? cJSON_GetArrayItem(names, 0) : NULL;
	s->name = strip_slash(cJSON_IsString(first) ? first->valuestring : "");
	s->image = jdup(j, "Image");
	s->image_id = jdup(j, "ImageID");
	s->state = jdup(j, "State");
	s->status = jdup(j, "Status");
	s->labels = jkv(jget(j, "Labels"), &s->nlabels);
	const cJSON *ports = jget(j, "Ports"), *p;
	size_t cap = 0;
	cJSON_ArrayForEach(p, ports) {
		GROW(s->ports, s->nports + 1, cap);
		struct dk_port_summary *ps = &s->ports[s->nports++];
		ps->private_port = (uint16_t)jint(p, "PrivatePort");
		ps->public_port = (uint16_t)jint(p, "PublicPort");
		ps->type = jdup(p, "Type");
		ps->ip = jdup_nonempty(p, "IP");
	}
	s->networks = jkeys(jget(jget(j, "NetworkSettings"), "Networks"), &s->nnetworks);
}

int dk_container_list(struct dk_client *c, const struct dk_filter *filters, size_t nfilters,
		      struct dk_container_list **ret_list, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *fq = filters_query(filters, nfilters);
	_cleanup_free_ char *path = xasprintf(API "/containers/json?all=1%s%s", *fq ? "&filters=" : "", fq);
	cJSON *j = NULL;
	if (request(c, DK_OP_LIST, "GET", path, NULL, 0, "list containers", &j, st, err) < 0)
		return -1;
	if (!cJSON_IsArray(j)) {
		cJSON_Delete(j);
		return rc_err_fault(err, "list containers: the engine's reply is not an array");
	}
	struct dk_container_list *l = xcalloc(1, sizeof(*l));
	int n = cJSON_GetArraySize(j);
	l->items = xcalloc((size_t)n, sizeof(*l->items));
	const cJSON *e;
	cJSON_ArrayForEach(e, j)
		parse_summary(e, &l->items[l->n++]);
	cJSON_Delete(j);
	*ret_list = l;
	return 0;
}

int dk_container_ids(struct dk_client *c, const struct dk_filter *filters, size_t nfilters, char ***ret_ids,
		     size_t *ret_n, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *fq = filters_query(filters, nfilters);
	_cleanup_free_ char *path = xasprintf(API "/containers/json?all=1%s%s", *fq ? "&filters=" : "", fq);
	struct buf body = BUF_INIT;
	if (request_x(c, DK_OP_LIST, "GET", path, NULL, 0, "list containers", NULL, &body, st, err) < 0)
		return -1;
	int r = dk_decode_container_ids(buf_cstr(&body), body.len, ret_ids, ret_n, err);
	buf_release(&body);
	if (r < 0 && err)
		err->engine_fault = true;  /* a 2xx reply not understood */
	return r < 0 ? rc_err_prefix(err, "list containers") : 0;
}

void dk_ids_free(char **ids)
{
	for (size_t i = 0; ids && ids[i]; i++)
		free(ids[i]);
	free(ids);
}

/* ------------------------------------------------------------------ */
/* the spec-key table's fields (speckeys.h)                           */

/* A row's engine path, "Config.User" or "HostConfig.Init": the name within its section. */
static const char *engine_name(const struct sk_row *r, bool *ret_host_config)
{
	const char *dot = strchr(r->engine, '.');
	if (!dot)
		BUG("spec key '%s': engine path '%s' has no section", r->key, r->engine);
	*ret_host_config = str_startswith(r->engine, "HostConfig.");
	return dot + 1;
}

static void decode_field(const struct sk_row *r, const cJSON *j, struct sk_value *v)
{
	const cJSON *e;
	switch (r->codec) {
	case SKE_BOOL:
		if (cJSON_IsBool(j)) {
			v->set = true;
			v->num = cJSON_IsTrue(j);
		}
		break;
	case SKE_INT:
		if (cJSON_IsNumber(j)) {
			v->set = true;
			v->num = jnum(j);
		}
		break;
	case SKE_STRING:
		if (cJSON_IsString(j) && *j->valuestring) {
			v->set = true;
			v->str = xstrdup(j->valuestring);
		}
		break;
	case SKE_STRLIST:
		if (!cJSON_IsArray(j))
			break;
		cJSON_ArrayForEach(e, j) {
			if (!cJSON_IsString(e))
				continue;
			_cleanup_free_ char *item = sk_engine_item(r, e->valuestring);
			sk_value_put(v, item, "true");
		}
		break;
	case SKE_LOGCONFIG: {
		if (!cJSON_IsObject(j))
			break;
		if (jstr(j, "Type") && *jstr(j, "Type"))
			sk_value_put(v, "driver", jstr(j, "Type"));
		const cJSON *opts = jget(j, "Config");
		if (!cJSON_IsObject(opts))
			break;
		cJSON_ArrayForEach(e, opts) {
			if (!e->string || !cJSON_IsString(e))
				continue;
			_cleanup_free_ char *k = xasprintf("options.%s", e->string);
			sk_value_put(v, k, e->valuestring);
		}
		break;
	}
	case SKE_ULIMITS:
		if (!cJSON_IsArray(j))
			break;
		cJSON_ArrayForEach(e, j) {
			const char *name = jstr(e, "Name");
			if (!name || !*name)
				continue;
			char val[64];
			snprintf(val, sizeof(val), "%" PRId64 ":%" PRId64, jint(e, "Soft"), jint(e, "Hard"));
			sk_value_put(v, name, val);
		}
		break;
	}
}

/* The rows' values from an inspect's Config and HostConfig; image_only: from an image's Config,
 * only the rows an image supplies (read back SKR_IMAGE). */
static void fields_decode(struct sk_value *v, const cJSON *cfg, const cJSON *hc, bool image_only)
{
	for (int i = 0; i < SK__COUNT; i++) {
		const struct sk_row *r = sk_row((enum sk_id)i);
		bool in_hc;
		const char *name = engine_name(r, &in_hc);
		if (image_only && (in_hc || r->readback != SKR_IMAGE))
			continue;
		decode_field(r, jget(in_hc ? hc : cfg, name), &v[i]);
	}
}

static void encode_field(const struct sk_row *r, const struct sk_value *v, cJSON *to, const char *name)
{
	switch (r->codec) {
	case SKE_BOOL:
		cJSON_AddBoolToObject(to, name, v->num != 0);
		break;
	case SKE_INT:
		cJSON_AddNumberToObject(to, name, (double)v->num);
		break;
	case SKE_STRING:
		cJSON_AddStringToObject(to, name, v->str);
		break;
	case SKE_STRLIST: {
		cJSON *a = cJSON_AddArrayToObject(to, name);
		for (size_t k = 0; k < v->nkv; k++)
			cJSON_AddItemToArray(a, cJSON_CreateString(v->kv[k].key));
		break;
	}
	case SKE_LOGCONFIG: {
		cJSON *lc = cJSON_AddObjectToObject(to, name);
		const char *driver = sk_value_get(v, "driver");
		cJSON_AddStringToObject(lc, "Type", driver ? driver : "");
		cJSON *o = cJSON_AddObjectToObject(lc, "Config");
		for (size_t k = 0; k < v->nkv; k++)
			if (str_startswith(v->kv[k].key, "options."))
				cJSON_AddStringToObject(o, v->kv[k].key + strlen("options."), v->kv[k].value);
		break;
	}
	case SKE_ULIMITS: {
		cJSON *a = cJSON_AddArrayToObject(to, name);
		for (size_t k = 0; k < v->nkv; k++) {
			long long soft = 0, hard = 0;
			if (sscanf(v->kv[k].value, "%lld:%lld", &soft, &hard) != 2)
				BUG("ulimit '%s' is not SOFT:HARD: '%s'", v->kv[k].key, v->kv[k].value);
			cJSON *u = cJSON_CreateObject();
			cJSON_AddStringToObject(u, "Name", v->kv[k].key);
			cJSON_AddNumberToObject(u, "Soft", (double)soft);
			cJSON_AddNumberToObject(u, "Hard", (double)hard);
			cJSON_AddItemToArray(a, u);
		}
		break;
	}
	}
}

/* Write the rows' non-zero values at their engine paths (a create body's top level is Config);
 * in_place_only: the rows `docker update` takes (its body is flat: cfg = hc). */
static void fields_encode(cJSON *cfg, cJSON *hc, const struct sk_value *v, bool in_place_only)
{
	for (int i = 0; i < SK__COUNT; i++) {
		const struct sk_row *r = sk_row((enum sk_id)i);
		if (!sk_value_nonzero(r, &v[i]) || (in_place_only && !r->in_place))
			continue;
		bool in_hc;
		const char *name = engine_name(r, &in_hc);
		encode_field(r, &v[i], in_hc ? hc : cfg, name);
	}
}

/* ------------------------------------------------------------------ */
/* containers: inspect                                                */

void dk_container_free(struct dk_container *ct)
{
	if (!ct)
		return;
	free(ct->id);
	free(ct->name);
	free(ct->image);
	free(ct->image_id);
	free(ct->created);
	strv_free(ct->env, ct->nenv);
	kv_free(ct->labels, ct->nlabels);
	strv_free(ct->cmd, ct->ncmd);
	strv_free(ct->entrypoint, ct->nentrypoint);
	strv_free(ct->health_test, ct->nhealth_test);
	strv_free(ct->exposed_ports, ct->nexposed_ports);
	sk_values_release(ct->fields);
	free(ct->pid_mode);
	free(ct->ipc_mode);
	strv_free(ct->cap_add, ct->ncap_add);
	strv_free(ct->devices, ct->ndevices);
	free(ct->restart_policy);
	for (size_t i = 0; i < ct->nport_bindings; i++) {
		free(ct->port_bindings[i].proto);
		free(ct->port_bindings[i].host_ip);
	}
	free(ct->port_bindings);
	for (size_t i = 0; i < ct->nmounts; i++) {
		free(ct->mounts[i].source);
		free(ct->mounts[i].target);
	}
	free(ct->mounts);
	for (size_t i = 0; i < ct->nnetworks; i++) {
		free(ct->networks[i].name);
		free(ct->networks[i].network_id);
		strv_free(ct->networks[i].aliases, ct->networks[i].naliases);
		free(ct->networks[i].ip);
	}
	free(ct->networks);
	free(ct->state_status);
	free(ct->started_at);
	free(ct->finished_at);
	free(ct->health_status);
	free(ct);
}

const struct dk_net_attach *dk_container_network(const struct dk_container *ct, const char *name)
{
	for (size_t i = 0; i < ct->nnetworks; i++)
		if (strcmp(ct->networks[i].name, name) == 0)
			return &ct->networks[i];
	return NULL;
}

/* "8080/tcp" -> 8080, "tcp" */
static void parse_port_key(const char *key, uint16_t *ret_port, char **ret_proto)
{
	char *end;
	unsigned long p = strtoul(key, &end, 10);
	*ret_port = p <= 65535 ? (uint16_t)p : 0;
	*ret_proto = xstrdup(*end == '/' ? end + 1 : "tcp");
}

static int binding_cmp(const void *a, const void *b)
{
	const struct dk_port_binding *x = a, *y = b;
	if (x->container_port != y->container_port)
		return x->container_port < y->container_port ? -1 : 1;
	int r = strcmp(x->proto, y->proto);
	if (r)
		return r;
	return (int)x->host_port - (int)y->host_port;
}

static int mount_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dk_mount_info *)a)->target, ((const struct dk_mount_info *)b)->target);
}

static int attach_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dk_net_attach *)a)->name, ((const struct dk_net_attach *)b)->name);
}

static void parse_bindings(struct dk_container *ct, const cJSON *pb)
{
	size_t cap = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, pb) {
		const cJSON *h;
		if (!e->string)
			continue;
		cJSON_ArrayForEach(h, e) {
			GROW(ct->port_bindings, ct->nport_bindings + 1, cap);
			struct dk_port_binding *b = &ct->port_bindings[ct->nport_bindings++];
			parse_port_key(e->string, &b->container_port, &b->proto);
			const char *hp = jstr(h, "HostPort");
			b->host_port = hp ? (uint16_t)strtoul(hp, NULL, 10) : 0;
			b->host_ip = jdup_nonempty(h, "HostIp");
		}
	}
	if (ct->nport_bindings)
		qsort(ct->port_bindings, ct->nport_bindings, sizeof(*ct->port_bindings), binding_cmp);
}

static enum dk_mount_type mount_type(const char *t)
{
	if (str_eq(t, "bind"))
		return DK_MOUNT_BIND;
	if (str_eq(t, "tmpfs"))
		return DK_MOUNT_TMPFS;
	return DK_MOUNT_VOLUME;
}

/* Is opt one of the comma-separated options in list? */
static bool has_opt(const char *list, const char *opt)
{
	size_t n = strlen(opt);
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, opt, n) == 0)
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

static void parse_mounts(struct dk_container *ct, const cJSON *hc)
{
	size_t cap = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, jget(hc, "Mounts")) {
		GROW(ct->mounts, ct->nmounts + 1, cap);
		struct dk_mount_info *m = &ct->mounts[ct->nmounts++];
		m->type = mount_type(jstr(e, "Type"));
		m->source = m->type == DK_MOUNT_TMPFS ? NULL : jdup(e, "Source");
		m->target = xstrdup(jstr(e, "Target") ? jstr(e, "Target") : "");
		m->read_only = jbool(e, "ReadOnly");
	}
	/* Binds: "src:dst[:opts]" */
	cJSON_ArrayForEach(e, jget(hc, "Binds")) {
		if (!cJSON_IsString(e))
			continue;
		const char *s = e->valuestring, *c1 = strchr(s, ':');
		if (!c1)
			continue;
		const char *c2 = strchr(c1 + 1, ':');
		GROW(ct->mounts, ct->nmounts + 1, cap);
		struct dk_mount_info *m = &ct->mounts[ct->nmounts++];
		m->source = xstrndup(s, (size_t)(c1 - s));
		m->type = m->source[0] == '/' ? DK_MOUNT_BIND : DK_MOUNT_VOLUME;
		m->target = c2 ? xstrndup(c1 + 1, (size_t)(c2 - c1 - 1)) : xstrdup(c1 + 1);
		m->read_only = c2 && has_opt(c2 + 1, "ro");
	}
	/* HostConfig.Tmpfs: {"/path": "opts"} */
	cJSON_ArrayForEach(e, jget(hc, "Tmpfs")) {
		if (!e->string)  /* not an object: ignore */
			continue;
		GROW(ct->mounts, ct->nmounts + 1, cap);
		struct dk_mount_info *m = &ct->mounts[ct->nmounts++];
		m->type = DK_MOUNT_TMPFS;
		m->target = xstrdup(e->string);
		m->read_only = cJSON_IsString(e) && has_opt(e->valuestring, "ro");
	}
	if (ct->nmounts)
		qsort(ct->mounts, ct->nmounts, sizeof(*ct->mounts), mount_cmp);
}

static void parse_networks(struct dk_container *ct, const cJSON *nets)
{
	size_t cap = 0;
	char shortid[13] = "";
	if (ct->id)
		snprintf(shortid, sizeof(shortid), "%s", ct->id);
	const cJSON *e;
	cJSON_ArrayForEach(e, nets) {
		if (!e->string)
			continue;
		GROW(ct->networks, ct->nnetworks + 1, cap);
		struct dk_net_attach *a = &ct->networks[ct->nnetworks++];
		a->name = xstrdup(e->string);
		a->network_id = jdup(e, "NetworkID");
		a->ip = jdup_nonempty(e, "IPAddress");
		size_t acap = 0;
		const cJSON *al;
		cJSON_ArrayForEach(al, jget(e, "Aliases")) {
			if (!cJSON_IsString(al) || (shortid[0] && strcmp(al->valuestring, shortid) == 0))
				continue;
			GROW(a->aliases, a->naliases + 1, acap);
			a->aliases[a->naliases++] = xstrdup(al->valuestring);
		}
		if (a->naliases)
			qsort(a->aliases, a->naliases, sizeof(char *), strp_cmp);
	}
	if (ct->nnetworks)
		qsort(ct->networks, ct->nnetworks, sizeof(*ct->networks), attach_cmp);
}

static struct dk_container *parse_inspect(const cJSON *j)
{
	struct dk_container *ct = xcalloc(1, sizeof(*ct));
	ct->id = jdup(j, "Id");
	ct->name = strip_slash(jstr(j, "Name"));
	ct->image_id = jdup(j, "Image");
	ct->created = jdup(j, "Created");
	ct->restart_count = (int)jint(j, "RestartCount");

	const cJSON *cfg = jget(j, "Config");
	ct->image = jdup(cfg, "Image");
	ct->env = jstrv(jget(cfg, "Env"), &ct->nenv);
	ct->labels = jkv(jget(cfg, "Labels"), &ct->nlabels);
	ct->cmd = jstrv(jget(cfg, "Cmd"), &ct->ncmd);
	ct->entrypoint = jstrv(jget(cfg, "Entrypoint"), &ct->nentrypoint);
	const cJSON *hc_ = jget(cfg, "Healthcheck");
	if (cJSON_IsObject(hc_)) {
		ct->has_health = true;
		ct->health_test = jstrv(jget(hc_, "Test"), &ct->nhealth_test);
		ct->health_interval_ns = jint(hc_, "Interval");
		ct->health_timeout_ns = jint(hc_, "Timeout");
		ct->health_start_period_ns = jint(hc_, "StartPeriod");
		ct->health_retries = (int)jint(hc_, "Retries");
	}
	ct->exposed_ports = jkeys(jget(cfg, "ExposedPorts"), &ct->nexposed_ports);
	ct->stop_timeout_s = cJSON_IsNumber(jget(cfg, "StopTimeout")) ? (int)jint(cfg, "StopTimeout") : -1;

	const cJSON *hc = jget(j, "HostConfig");
	fields_decode(ct->fields, cfg, hc, false);
	ct->nano_cpus = jint(hc, "NanoCpus");
	ct->memory = jint(hc, "Memory");
	ct->memory_reservation = jint(hc, "MemoryReservation");
	ct->pids_limit = jint(hc, "PidsLimit");
	const cJSON *rp = jget(hc, "RestartPolicy");
	ct->restart_policy = jdup_nonempty(rp, "Name");
	if (!ct->restart_policy)
		ct->restart_policy = xstrdup("no");
	ct->restart_max_retries = (int)jint(rp, "MaximumRetryCount");
	ct->pid_mode = jdup_nonempty(hc, "PidMode");
	ct->ipc_mode = jdup_nonempty(hc, "IpcMode");
	ct->cap_add = jstrv(jget(hc, "CapAdd"), &ct->ncap_add);
	if (ct->ncap_add)
		qsort(ct->cap_add, ct->ncap_add, sizeof(char *), strp_cmp);
	const cJSON *dv;
	size_t dcap = 0;
	cJSON_ArrayForEach(dv, jget(hc, "Devices")) {
		const char *perm = jstr(dv, "CgroupPermissions");
		GROW(ct->devices, ct->ndevices + 1, dcap);
		ct->devices[ct->ndevices++] = xasprintf("%s:%s:%s", jstr(dv, "PathOnHost") ? jstr(dv, "PathOnHost") : "",
							jstr(dv, "PathInContainer") ? jstr(dv, "PathInContainer") : "",
							perm && *perm ? perm : "rwm");
	}
	parse_bindings(ct, jget(hc, "PortBindings"));
	parse_mounts(ct, hc);

	parse_networks(ct, jget(jget(j, "NetworkSettings"), "Networks"));

	const cJSON *s = jget(j, "State");
	ct->state_status = jdup(s, "Status");
	ct->running = jbool(s, "Running");
	ct->paused = jbool(s, "Paused");
	ct->restarting = jbool(s, "Restarting");
	ct->oom_killed = jbool(s, "OOMKilled");
	ct->dead = jbool(s, "Dead");
	ct->exit_code = (int)jint(s, "ExitCode");
	ct->pid = (int)jint(s, "Pid");
	ct->started_at = jdup(s, "StartedAt");
	ct->finished_at = jdup(s, "FinishedAt");
	const cJSON *h = jget(s, "Health");
	if (cJSON_IsObject(h)) {
		ct->health_status = jdup(h, "Status");
		ct->failing_streak = (int)jint(h, "FailingStreak");
	}
	return ct;
}

static char *what_of(const char *verb, const char *obj)
{
	return xasprintf("%s '%s'", verb, obj);
}

int dk_container_inspect(struct dk_client *c, const char *id, struct dk_container **ret,
			 struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/containers/%s/json", eid);
	_cleanup_free_ char *what = what_of("inspect container", id);
	cJSON *j = NULL;
	if (request(c, DK_OP_INSPECT, "GET", path, NULL, 0, what, &j, st, err) < 0)
		return -1;
	if (!cJSON_IsObject(j) || !jstr(j, "Id")) {
		cJSON_Delete(j);
		return rc_err_fault(err, "%s: the engine's reply has no Id", what);
	}
	*ret = parse_inspect(j);
	cJSON_Delete(j);
	return 0;
}

/* ------------------------------------------------------------------ */
/* containers: inspect many (multi interface)                         */

void dk_inspect_results_release(struct dk_inspect_result *results, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		dk_container_free(results[i].container);
		results[i].container = NULL;
	}
}

struct slot {
	CURL *easy;
	struct xfer x;
	size_t idx;
	bool busy;
};

static void inspect_done(const struct dk_client *c, struct slot *s, CURLcode cc, const char *id,
			 struct dk_inspect_result *res)
{
	struct rc_err e = { 0 };
	_cleanup_free_ char *what = what_of("inspect container", id);
	if (xfer_result(c, s->easy, cc, &s->x, c->timeout_ms, what, &res->st, &e) == 0) {
		cJSON *j = cJSON_ParseWithLength(buf_cstr(&s->x.body), s->x.body.len);
		if (!cJSON_IsObject(j) || !jstr(j, "Id"))
			rc_err_fault(&e, "%s: invalid reply from the engine", what);
		else
			res->container = parse_inspect(j);
		cJSON_Delete(j);
	}
	snprintf(res->error, sizeof(res->error), "%.*s", (int)sizeof(res->error) - 1,
		 res->container ? "" : e.msg);
	res->engine_fault = !res->container && e.engine_fault;
}

int dk_inspect_many(struct dk_client *c, const char *const *ids, size_t n, int parallelism,
		    struct dk_inspect_result *results, struct rc_err *err)
{
	for (size_t i = 0; i < n; i++)
		memset(&results[i], 0, sizeof(results[i]));
	if (n == 0)
		return 0;
	if (parallelism < 1)
		parallelism = 1;
	if ((size_t)parallelism > n)
		parallelism = (int)n;
	CURLM *m = curl_multi_init();
	if (!m)
		die("cannot initialise libcurl multi");
	struct slot *slots = xcalloc((size_t)parallelism, sizeof(*slots));
	for (int i = 0; i < parallelism; i++) {
		slots[i].easy = curl_easy_init();
		if (!slots[i].easy)
			die("cannot initialise libcurl");
	}
	size_t next = 0, active = 0;
	while (next < n || active > 0) {
		for (int i = 0; i < parallelism && next < n; i++) {
			struct slot *s = &slots[i];
			if (s->busy)
				continue;
			_cleanup_free_ char *eid = esc_path(ids[next]);
			_cleanup_free_ char *path = xasprintf(API "/containers/%s/json", eid);
			xfer_init(&s->x, c->max_body);
			setup_easy(c, s->easy, "GET", path, NULL, c->timeout_ms, &s->x);
			curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
			s->idx = next++;
			s->busy = true;
			active++;
			count(c, DK_OP_INSPECT);
			curl_multi_add_handle(m, s->easy);
		}
		int running = 0;
		bool freed = false;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct slot *s = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			CURLcode cc = msg->data.result;
			curl_multi_remove_handle(m, s->easy);
			inspect_done(c, s, cc, ids[s->idx], &results[s->idx]);
			xfer_release(&s->x);
			s->busy = false;
			active--;
			freed = true;
		}
		if (active > 0 && !(freed && next < n))
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	for (int i = 0; i < parallelism; i++)
		curl_easy_cleanup(slots[i].easy);
	free(slots);
	curl_multi_cleanup(m);
	for (size_t i = 0; i < n; i++)
		if (!results[i].container && results[i].st.http != 404)
			return results[i].engine_fault ? rc_err_fault(err, "%s", results[i].error)
						       : rc_errf(err, "%s", results[i].error);
	return 0;
}

/* ------------------------------------------------------------------ */
/* containers: create                                                 */

static cJSON *build_create(const struct dk_create_spec *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Image", s->image);
	if (s->cmd)
		cJSON_AddItemToObject(o, "Cmd", jstrarray(s->cmd, s->ncmd));
	if (s->entrypoint)
		cJSON_AddItemToObject(o, "Entrypoint", jstrarray(s->entrypoint, s->nentrypoint));
	if (s->nenv) {
		cJSON *env = cJSON_AddArrayToObject(o, "Env");
		for (size_t i = 0; i < s->nenv; i++) {
			_cleanup_free_ char *kv = xasprintf("%s=%s", s->env[i].key, s->env[i].value ? s->env[i].value : "");
			cJSON_AddItemToArray(env, cJSON_CreateString(kv));
		}
	}
	cJSON_AddItemToObject(o, "Labels", jkvobject(s->labels, s->nlabels));
	if (s->health_disable || s->health_cmd) {
		cJSON *h = cJSON_AddObjectToObject(o, "Healthcheck");
		cJSON *t = cJSON_AddArrayToObject(h, "Test");
		if (s->health_disable) {
			cJSON_AddItemToArray(t, cJSON_CreateString("NONE"));
		} else {
			cJSON_AddItemToArray(t, cJSON_CreateString("CMD-SHELL"));
			cJSON_AddItemToArray(t, cJSON_CreateString(s->health_cmd));
			cJSON_AddNumberToObject(h, "Interval", (double)s->health_interval_ns);
			cJSON_AddNumberToObject(h, "Timeout", (double)s->health_timeout_ns);
			cJSON_AddNumberToObject(h, "StartPeriod", (double)s->health_start_period_ns);
			cJSON_AddNumberToObject(h, "Retries", s->health_retries);
		}
	}
	if (s->stop_timeout_s > 0)
		cJSON_AddNumberToObject(o, "StopTimeout", s->stop_timeout_s);

	cJSON *hc = cJSON_AddObjectToObject(o, "HostConfig");
	if (s->fields)
		fields_encode(o, hc, s->fields, false);
	if (s->nports) {
		cJSON *ep = cJSON_AddObjectToObject(o, "ExposedPorts");
		cJSON *pb = cJSON_AddObjectToObject(hc, "PortBindings");
		for (size_t i = 0; i < s->nports; i++) {
			const struct dk_port *p = &s->ports[i];
			char key[32];
			snprintf(key, sizeof(key), "%u/%s", p->container_port, p->proto ? p->proto : "tcp");
			if (!cJSON_GetObjectItemCaseSensitive(ep, key))
				cJSON_AddObjectToObject(ep, key);
			if (!p->host_port)
				continue;
			cJSON *arr = cJSON_GetObjectItemCaseSensitive(pb, key);
			if (!arr)
				arr = cJSON_AddArrayToObject(pb, key);
			cJSON *b = cJSON_CreateObject();
			char hp[8];
			snprintf(hp, sizeof(hp), "%u", p->host_port);
			cJSON_AddStringToObject(b, "HostIp", p->host_ip ? p->host_ip : "");
			cJSON_AddStringToObject(b, "HostPort", hp);
			cJSON_AddItemToArray(arr, b);
		}
	}
	if (s->nano_cpus)
		cJSON_AddNumberToObject(hc, "NanoCpus", (double)s->nano_cpus);
	if (s->memory) {
		cJSON_AddNumberToObject(hc, "Memory", (double)s->memory);
		cJSON_AddNumberToObject(hc, "MemorySwap", (double)s->memory * 2);
	}
	if (s->memory_reservation)
		cJSON_AddNumberToObject(hc, "MemoryReservation", (double)s->memory_reservation);
	if (s->pids_limit)
		cJSON_AddNumberToObject(hc, "PidsLimit", (double)s->pids_limit);
	if (s->pid_host)
		cJSON_AddStringToObject(hc, "PidMode", "host");
	if (s->ipc_host)
		cJSON_AddStringToObject(hc, "IpcMode", "host");
	if (s->ncap_add) {
		cJSON *ca = cJSON_AddArrayToObject(hc, "CapAdd");
		for (size_t i = 0; i < s->ncap_add; i++)
			cJSON_AddItemToArray(ca, cJSON_CreateString(s->cap_add[i]));
	}
	if (s->ndevices) {
		/* "host:container[:perms]" as the CLI's --device */
		cJSON *ds = cJSON_AddArrayToObject(hc, "Devices");
		for (size_t i = 0; i < s->ndevices; i++) {
			char *d = xstrdup(s->devices[i]);
			char *c1 = strchr(d, ':');
			char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (c1)
				*c1 = '\0';
			if (c2)
				*c2 = '\0';
			cJSON *dv = cJSON_CreateObject();
			cJSON_AddStringToObject(dv, "PathOnHost", d);
			cJSON_AddStringToObject(dv, "PathInContainer", c1 ? c1 + 1 : d);
			cJSON_AddStringToObject(dv, "CgroupPermissions", c2 ? c2 + 1 : "rwm");
			cJSON_AddItemToArray(ds, dv);
			free(d);
		}
	}
	cJSON *rp = cJSON_AddObjectToObject(hc, "RestartPolicy");
	cJSON_AddStringToObject(rp, "Name", s->restart_policy ? s->restart_policy : "no");
	cJSON_AddNumberToObject(rp, "MaximumRetryCount", s->restart_max_retries);
	if (s->nmounts) {
		cJSON *ms = cJSON_AddArrayToObject(hc, "Mounts");
		for (size_t i = 0; i < s->nmounts; i++) {
			const struct dk_mount *mt = &s->mounts[i];
			cJSON *mo = cJSON_CreateObject();
			cJSON_AddStringToObject(mo, "Type", mt->type == DK_MOUNT_BIND ? "bind" :
						mt->type == DK_MOUNT_TMPFS ? "tmpfs" : "volume");
			if (mt->type != DK_MOUNT_TMPFS && mt->source)
				cJSON_AddStringToObject(mo, "Source", mt->source);
			cJSON_AddStringToObject(mo, "Target", mt->target);
			cJSON_AddBoolToObject(mo, "ReadOnly", mt->read_only);
			cJSON_AddItemToArray(ms, mo);
		}
	}
	if (s->network) {
		cJSON_AddStringToObject(hc, "NetworkMode", s->network);
		cJSON *nc = cJSON_AddObjectToObject(o, "NetworkingConfig");
		cJSON *eps = cJSON_AddObjectToObject(nc, "EndpointsConfig");
		cJSON *ep = cJSON_AddObjectToObject(eps, s->network);
		if (s->naliases)
			cJSON_AddItemToObject(ep, "Aliases", jstrarray(s->aliases, s->naliases));
	}
	return o;
}

char *dk_create_body(const struct dk_create_spec *s)
{
	cJSON *o = build_create(s);
	char *body = jprint(o);
	cJSON_Delete(o);
	return body;
}

int dk_container_create(struct dk_client *c, const struct dk_create_spec *s, char **ret_id,
			struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *what = what_of("create container", s->name ? s->name : "");
	if (!s->image)
		return rc_errf(err, "%s: no image", what);
	if (s->memory && s->memory_reservation > s->memory)
		return rc_errf(err, "%s: memory reservation %" PRId64 " is above the memory limit %" PRId64,
			       what, s->memory_reservation, s->memory);
	_cleanup_free_ char *body = dk_create_body(s);
	_cleanup_free_ char *q = s->name ? esc_query(s->name) : NULL;
	_cleanup_free_ char *path = xasprintf(API "/containers/create%s%s", q ? "?name=" : "", q ? q : "");
	cJSON *j = NULL;
	if (request(c, DK_OP_CREATE, "POST", path, body, 0, what, &j, st, err) < 0)
		return -1;
	if (!jstr(j, "Id") || !*jstr(j, "Id")) {
		cJSON_Delete(j);
		return rc_err_fault(err, "%s: the engine's reply has no Id", what);
	}
	if (ret_id)
		*ret_id = jdup(j, "Id");
	cJSON_Delete(j);
	return 0;
}

/* ------------------------------------------------------------------ */
/* containers: lifecycle                                              */

static int container_post(struct dk_client *c, enum dk_op op, const char *verb, const char *id,
			  const char *suffix, const char *body, long timeout_ms,
			  struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/containers/%s/%s", eid, suffix);
	_cleanup_free_ char *what = what_of(verb, id);
	return request(c, op, "POST", path, body, timeout_ms, what, NULL, st, err);
}

int dk_container_start(struct dk_client *c, const char *id, struct dk_status *st, struct rc_err *err)
{
	return container_post(c, DK_OP_START, "start container", id, "start", NULL, 0, st, err);
}

int dk_container_start_within(struct dk_client *c, const char *id, long timeout_ms, struct dk_status *st,
			      struct rc_err *err)
{
	return container_post(c, DK_OP_START, "start container", id, "start", NULL, timeout_ms, st, err);
}

int dk_container_stop(struct dk_client *c, const char *id, int timeout_s, struct dk_status *st,
		      struct rc_err *err)
{
	_cleanup_free_ char *suffix = timeout_s >= 0 ? xasprintf("stop?t=%d", timeout_s) : xstrdup("stop");
	/* the engine waits the grace period, then kills: allow for both */
	long grace = timeout_s >= 0 ? timeout_s : 10;
	return container_post(c, DK_OP_STOP, "stop container", id, suffix, NULL,
			      c->timeout_ms + grace * 1000 + slack_ms(c), st, err);
}

int dk_container_kill(struct dk_client *c, const char *id, const char *signal, struct dk_status *st,
		      struct rc_err *err)
{
	_cleanup_free_ char *q = signal ? esc_query(signal) : NULL;
	_cleanup_free_ char *suffix = q ? xasprintf("kill?signal=%s", q) : xstrdup("kill");
	return container_post(c, DK_OP_KILL, "kill container", id, suffix, NULL, 0, st, err);
}

int dk_container_remove(struct dk_client *c, const char *id, bool force, bool volumes,
			struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/containers/%s?force=%d&v=%d", eid, force, volumes);
	_cleanup_free_ char *what = what_of("remove container", id);
	return request(c, DK_OP_REMOVE, "DELETE", path, NULL, c->timeout_ms + slack_ms(c), what, NULL, st, err);
}

/*
 * Update.  The engine checks MemoryReservation <= Memory only among the
 * values sent, and refuses a Memory above the container's current
 * MemorySwap unless MemorySwap comes along: so Memory always travels with
 * MemorySwap = 2 x Memory (what the engine sets at create), and a
 * reservation above the limit is refused here with a clear message.
 */
int dk_container_update(struct dk_client *c, const char *id, const struct dk_resources *r,
			struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *what = what_of("update container", id);
	if (r->memory > 0 && r->memory_reservation > r->memory)
		return rc_errf(err, "%s: memory reservation %" PRId64 " is above the memory limit %" PRId64,
			       what, r->memory_reservation, r->memory);
	_cleanup_free_ char *body = dk_update_body(r);
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/containers/%s/update", eid);
	return request(c, DK_OP_UPDATE, "POST", path, body, 0, what, NULL, st, err);
}

char *dk_update_body(const struct dk_resources *r)
{
	cJSON *o = cJSON_CreateObject();
	if (r->nano_cpus)
		cJSON_AddNumberToObject(o, "NanoCpus", (double)r->nano_cpus);
	if (r->memory) {
		cJSON_AddNumberToObject(o, "Memory", (double)r->memory);
		cJSON_AddNumberToObject(o, "MemorySwap", (double)r->memory * 2);
	}
	if (r->memory_reservation)
		cJSON_AddNumberToObject(o, "MemoryReservation", (double)r->memory_reservation);
	if (r->pids_limit)
		cJSON_AddNumberToObject(o, "PidsLimit", (double)r->pids_limit);
	if (r->restart_policy) {
		cJSON *rp = cJSON_AddObjectToObject(o, "RestartPolicy");
		cJSON_AddStringToObject(rp, "Name", r->restart_policy);
		cJSON_AddNumberToObject(rp, "MaximumRetryCount", r->restart_max_retries);
	}
	if (r->fields)
		fields_encode(o, o, r->fields, true);   /* the update body is HostConfig's resources, flat */
	char *body = jprint(o);
	cJSON_Delete(o);
	return body;
}

int dk_container_rename(struct dk_client *c, const char *id, const char *new_name,
			struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *q = esc_query(new_name);
	_cleanup_free_ char *suffix = xasprintf("rename?name=%s", q);
	return container_post(c, DK_OP_RENAME, "rename container", id, suffix, NULL, 0, st, err);
}

/* ------------------------------------------------------------------ */
/* networks                                                           */

static void network_release(struct dk_network *n)
{
	free(n->id);
	free(n->name);
	free(n->driver);
	kv_free(n->labels, n->nlabels);
	strv_free(n->subnets, n->nsubnets);
	strv_free(n->containers, n->ncontainers);
}

void dk_network_free(struct dk_network *n)
{
	if (!n)
		return;
	network_release(n);
	free(n);
}

void dk_network_list_free(struct dk_network_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		network_release(&l->items[i]);
	free(l->items);
	free(l);
}

static void parse_network(const cJSON *j, struct dk_network *n)
{
	n->id = jdup(j, "Id");
	n->name = jdup(j, "Name");
	n->driver = jdup(j, "Driver");
	n->labels = jkv(jget(j, "Labels"), &n->nlabels);
	n->internal = jbool(j, "Internal");
	size_t cap = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, jget(jget(j, "IPAM"), "Config")) {
		const char *sn = jstr(e, "Subnet");
		if (!sn)
			continue;
		GROW(n->subnets, n->nsubnets + 1, cap);
		n->subnets[n->nsubnets++] = xstrdup(sn);
	}
	n->containers = jkeys(jget(j, "Containers"), &n->ncontainers);
}

int dk_network_list(struct dk_client *c, const struct dk_filter *filters, size_t nfilters,
		    struct dk_network_list **ret_list, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *fq = filters_query(filters, nfilters);
	_cleanup_free_ char *path = xasprintf(API "/networks%s%s", *fq ? "?filters=" : "", fq);
	cJSON *j = NULL;
	if (request(c, DK_OP_NETWORK_LIST, "GET", path, NULL, 0, "list networks", &j, st, err) < 0)
		return -1;
	if (!cJSON_IsArray(j)) {
		cJSON_Delete(j);
		return rc_err_fault(err, "list networks: the engine's reply is not an array");
	}
	struct dk_network_list *l = xcalloc(1, sizeof(*l));
	l->items = xcalloc((size_t)cJSON_GetArraySize(j), sizeof(*l->items));
	const cJSON *e;
	cJSON_ArrayForEach(e, j)
		parse_network(e, &l->items[l->n++]);
	cJSON_Delete(j);
	*ret_list = l;
	return 0;
}

int dk_network_inspect(struct dk_client *c, const char *id, struct dk_network **ret,
		       struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/networks/%s", eid);
	_cleanup_free_ char *what = what_of("inspect network", id);
	cJSON *j = NULL;
	if (request(c, DK_OP_NETWORK_INSPECT, "GET", path, NULL, 0, what, &j, st, err) < 0)
		return -1;
	if (!cJSON_IsObject(j) || !jstr(j, "Id")) {
		cJSON_Delete(j);
		return rc_err_fault(err, "%s: the engine's reply has no Id", what);
	}
	struct dk_network *n = xcalloc(1, sizeof(*n));
	parse_network(j, n);
	cJSON_Delete(j);
	*ret = n;
	return 0;
}

int dk_network_create(struct dk_client *c, const struct dk_network_spec *s, char **ret_id,
		      struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *what = what_of("create network", s->name);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Name", s->name);
	cJSON_AddBoolToObject(o, "CheckDuplicate", true);
	cJSON_AddStringToObject(o, "Driver", s->driver ? s->driver : "bridge");
	cJSON_AddBoolToObject(o, "Internal", s->internal);
	cJSON_AddItemToObject(o, "Labels", jkvobject(s->labels, s->nlabels));
	if (s->subnet) {
		cJSON *ipam = cJSON_AddObjectToObject(o, "IPAM");
		cJSON_AddStringToObject(ipam, "Driver", "default");
		cJSON *cfg = cJSON_AddArrayToObject(ipam, "Config");
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "Subnet", s->subnet);
		if (s->gateway)
			cJSON_AddStringToObject(e, "Gateway", s->gateway);
		cJSON_AddItemToArray(cfg, e);
	}
	_cleanup_free_ char *body = jprint(o);
	cJSON_Delete(o);
	cJSON *j = NULL;
	if (request(c, DK_OP_NETWORK_CREATE, "POST", API "/networks/create", body, 0, what, &j, st, err) < 0)
		return -1;
	if (ret_id)
		*ret_id = jdup(j, "Id");
	cJSON_Delete(j);
	return 0;
}

int dk_network_remove(struct dk_client *c, const char *id, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/networks/%s", eid);
	_cleanup_free_ char *what = what_of("remove network", id);
	return request(c, DK_OP_NETWORK_REMOVE, "DELETE", path, NULL, 0, what, NULL, st, err);
}

int dk_network_connect(struct dk_client *c, const char *network, const char *container,
		       const char *const *aliases, size_t naliases, struct dk_status *st,
		       struct rc_err *err)
{
	_cleanup_free_ char *what = xasprintf("connect container '%s' to network '%s'", container, network);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Container", container);
	cJSON *ep = cJSON_AddObjectToObject(o, "EndpointConfig");
	if (naliases)
		cJSON_AddItemToObject(ep, "Aliases", jstrarray(aliases, naliases));
	_cleanup_free_ char *body = jprint(o);
	cJSON_Delete(o);
	_cleanup_free_ char *en = esc_path(network);
	_cleanup_free_ char *path = xasprintf(API "/networks/%s/connect", en);
	return request(c, DK_OP_NETWORK_CONNECT, "POST", path, body, 0, what, NULL, st, err);
}

int dk_network_disconnect(struct dk_client *c, const char *network, const char *container,
			  bool force, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *what = xasprintf("disconnect container '%s' from network '%s'", container, network);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Container", container);
	cJSON_AddBoolToObject(o, "Force", force);
	_cleanup_free_ char *body = jprint(o);
	cJSON_Delete(o);
	_cleanup_free_ char *en = esc_path(network);
	_cleanup_free_ char *path = xasprintf(API "/networks/%s/disconnect", en);
	return request(c, DK_OP_NETWORK_DISCONNECT, "POST", path, body, 0, what, NULL, st, err);
}

/* ------------------------------------------------------------------ */
/* volumes                                                            */

static void volume_release(struct dk_volume *v)
{
	free(v->name);
	free(v->driver);
	free(v->mountpoint);
	kv_free(v->labels, v->nlabels);
	kv_free(v->options, v->noptions);
}

static void volume_from_json(const cJSON *e, struct dk_volume *v)
{
	v->name = jdup(e, "Name");
	v->driver = jdup(e, "Driver");
	v->mountpoint = jdup(e, "Mountpoint");
	v->labels = jkv(jget(e, "Labels"), &v->nlabels);
	v->options = jkv(jget(e, "Options"), &v->noptions);
}

void dk_volume_free(struct dk_volume *v)
{
	if (!v)
		return;
	volume_release(v);
	free(v);
}

void dk_volume_list_free(struct dk_volume_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		volume_release(&l->items[i]);
	free(l->items);
	free(l);
}

int dk_volume_create(struct dk_client *c, const char *name, const struct rc_kv *labels, size_t nlabels,
		     struct dk_volume **ret_vol, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *what = what_of("create volume", name);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Name", name);
	cJSON_AddStringToObject(o, "Driver", "local");
	cJSON_AddItemToObject(o, "Labels", jkvobject(labels, nlabels));
	_cleanup_free_ char *body = jprint(o);
	cJSON_Delete(o);
	cJSON *j = NULL;
	if (request(c, DK_OP_VOLUME_CREATE, "POST", API "/volumes/create", body, 0, what, ret_vol ? &j : NULL, st,
		    err) < 0)
		return -1;
	if (ret_vol) {
		struct dk_volume *v = xcalloc(1, sizeof(*v));
		volume_from_json(j, v);
		cJSON_Delete(j);
		*ret_vol = v;
	}
	return 0;
}

int dk_volume_list(struct dk_client *c, const struct dk_filter *filters, size_t nfilters,
		   struct dk_volume_list **ret_list, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *fq = filters_query(filters, nfilters);
	_cleanup_free_ char *path = xasprintf(API "/volumes%s%s", *fq ? "?filters=" : "", fq);
	cJSON *j = NULL;
	if (request(c, DK_OP_VOLUME_LIST, "GET", path, NULL, 0, "list volumes", &j, st, err) < 0)
		return -1;
	const cJSON *vols = jget(j, "Volumes");
	struct dk_volume_list *l = xcalloc(1, sizeof(*l));
	l->items = xcalloc((size_t)(cJSON_IsArray(vols) ? cJSON_GetArraySize(vols) : 0), sizeof(*l->items));
	const cJSON *e, *arr = cJSON_IsArray(vols) ? vols : NULL;
	cJSON_ArrayForEach(e, arr) {
		volume_from_json(e, &l->items[l->n++]);
	}
	cJSON_Delete(j);
	*ret_list = l;
	return 0;
}

int dk_volume_inspect(struct dk_client *c, const char *name, struct dk_volume **ret, struct dk_status *st,
		      struct rc_err *err)
{
	_cleanup_free_ char *en = esc_path(name);
	_cleanup_free_ char *path = xasprintf(API "/volumes/%s", en);
	_cleanup_free_ char *what = what_of("inspect volume", name);
	cJSON *j = NULL;
	if (request(c, DK_OP_VOLUME_INSPECT, "GET", path, NULL, 0, what, &j, st, err) < 0)
		return -1;
	if (!cJSON_IsObject(j) || !jstr(j, "Name")) {
		cJSON_Delete(j);
		return rc_errf(err, "%s: the engine's reply has no Name", what);
	}
	struct dk_volume *v = xcalloc(1, sizeof(*v));
	volume_from_json(j, v);
	cJSON_Delete(j);
	*ret = v;
	return 0;
}

int dk_volume_remove(struct dk_client *c, const char *name, bool force, struct dk_status *st,
		     struct rc_err *err)
{
	_cleanup_free_ char *en = esc_path(name);
	_cleanup_free_ char *path = xasprintf(API "/volumes/%s?force=%d", en, force);
	_cleanup_free_ char *what = what_of("remove volume", name);
	return request(c, DK_OP_VOLUME_REMOVE, "DELETE", path, NULL, 0, what, NULL, st, err);
}

/* ------------------------------------------------------------------ */
/* images                                                             */

void dk_image_free(struct dk_image *img)
{
	if (!img)
		return;
	free(img->id);
	strv_free(img->repo_tags, img->nrepo_tags);
	struct dk_image_config *ic = &img->config;
	strv_free(ic->env, ic->nenv);
	kv_free(ic->labels, ic->nlabels);
	strv_free(ic->cmd, ic->ncmd);
	strv_free(ic->entrypoint, ic->nentrypoint);
	sk_values_release(ic->fields);
	strv_free(ic->health_test, ic->nhealth_test);
	strv_free(ic->exposed_ports, ic->nexposed_ports);
	free(img);
}

static struct dk_image *parse_image(const cJSON *j)
{
	struct dk_image *img = xcalloc(1, sizeof(*img));
	img->id = jdup(j, "Id");
	img->repo_tags = jstrv(jget(j, "RepoTags"), &img->nrepo_tags);
	const cJSON *cfg = jget(j, "Config");
	struct dk_image_config *ic = &img->config;
	ic->env = jstrv(jget(cfg, "Env"), &ic->nenv);
	ic->labels = jkv(jget(cfg, "Labels"), &ic->nlabels);
	ic->cmd = jstrv(jget(cfg, "Cmd"), &ic->ncmd);
	ic->entrypoint = jstrv(jget(cfg, "Entrypoint"), &ic->nentrypoint);
	fields_decode(ic->fields, cfg, NULL, true);
	const cJSON *h = jget(cfg, "Healthcheck");
	if (cJSON_IsObject(h)) {
		ic->has_health = true;
		ic->health_test = jstrv(jget(h, "Test"), &ic->nhealth_test);
		ic->health_interval_ns = jint(h, "Interval");
		ic->health_timeout_ns = jint(h, "Timeout");
		ic->health_start_period_ns = jint(h, "StartPeriod");
		ic->health_retries = (int)jint(h, "Retries");
	}
	ic->exposed_ports = jkeys(jget(cfg, "ExposedPorts"), &ic->nexposed_ports);
	return img;
}

int dk_decode_image(const char *json, size_t len, struct dk_image **ret, struct rc_err *err)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(j) || !jstr(j, "Id")) {
		cJSON_Delete(j);
		return rc_errf(err, "not an image inspect reply (no Id)");
	}
	*ret = parse_image(j);
	cJSON_Delete(j);
	return 0;
}

int dk_image_inspect(struct dk_client *c, const char *ref, struct dk_image **ret,
		     struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *er = esc_path(ref);
	_cleanup_free_ char *path = xasprintf(API "/images/%s/json", er);
	_cleanup_free_ char *what = what_of("inspect image", ref);
	cJSON *j = NULL;
	if (request(c, DK_OP_IMAGE_INSPECT, "GET", path, NULL, 0, what, &j, st, err) < 0)
		return -1;
	if (!jstr(j, "Id")) {
		cJSON_Delete(j);
		return rc_err_fault(err, "%s: the engine's reply has no Id", what);
	}
	struct dk_image *img = parse_image(j);
	cJSON_Delete(j);
	*ret = img;
	return 0;
}

int dk_image_remove(struct dk_client *c, const char *ref, bool force, struct dk_status *st,
		    struct rc_err *err)
{
	_cleanup_free_ char *er = esc_path(ref);
	_cleanup_free_ char *path = xasprintf(API "/images/%s?force=%d", er, force);
	_cleanup_free_ char *what = what_of("remove image", ref);
	return request(c, DK_OP_IMAGE_REMOVE, "DELETE", path, NULL, 0, what, NULL, st, err);
}

/* Split "name:tag" / "name@digest" / "name" (tag "latest"). */
static void split_ref(const char *ref, char **ret_name, char **ret_tag)
{
	const char *at = strchr(ref, '@');
	if (at) {
		*ret_name = xstrndup(ref, (size_t)(at - ref));
		*ret_tag = xstrdup(at + 1);
		return;
	}
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(ref, ':');
	if (colon && (!slash || colon > slash)) {
		*ret_name = xstrndup(ref, (size_t)(colon - ref));
		*ret_tag = xstrdup(colon + 1);
	} else {
		*ret_name = xstrdup(ref);
		*ret_tag = xstrdup("latest");
	}
}

struct pull_ctx {
	char error[1024];   /* first errorDetail / error line */
	char message[1024]; /* {"message": ...} (error replies) */
	size_t lines;
};

static int pull_line(void *ud, const char *line, size_t len)
{
	struct pull_ctx *p = ud;
	p->lines++;
	cJSON *j = cJSON_ParseWithLength(line, len);
	if (!j)
		return 0;
	if (!p->error[0]) {
		const char *m = jstr(jget(j, "errorDetail"), "message");
		if (!m)
			m = jstr(j, "error");
		if (m)
			snprintf(p->error, sizeof(p->error), "%s", m);
	}
	const char *msg = jstr(j, "message");
	if (msg && !jget(j, "status"))
		snprintf(p->message, sizeof(p->message), "%s", msg);
	cJSON_Delete(j);
	return 0;
}

static int pull_once(struct dk_client *c, const char *path, const char *what, long stall_ms, const char *auth,
		     struct dk_status *st, struct rc_err *err)
{
	struct pull_ctx p = { "", "", 0 };
	struct xfer x;
	xfer_init(&x, c->max_body);
	x.streaming = true;
	x.on_line = pull_line;
	x.ud = &p;
	setup_easy(c, c->easy, "POST", path, NULL, 0, &x);
	if (auth) {
		_cleanup_free_ char *h = xasprintf("X-Registry-Auth: %s", auth);
		x.headers = curl_slist_append(x.headers, h);
		if (!x.headers)
			die("out of memory (curl_slist)");
		explicit_bzero(h, strlen(h));
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, x.headers);
	}
	/* no overall limit: a pull takes what it takes, but must not go silent */
	x.stall_ms = stall_ms;
	x.last_data_ms = now_ms();
	curl_easy_setopt(c->easy, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	curl_easy_setopt(c->easy, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(c->easy, CURLOPT_NOPROGRESS, 0L);
	count(c, DK_OP_IMAGE_PULL);
	CURLcode cc = curl_easy_perform(c->easy);
	if (cc == CURLE_OK && x.body.len)  /* last line without a newline */
		pull_line(&p, x.body.data, x.body.len);
	int r;
	if (x.stalled) {
		st->http = 0;
		r = rc_errf(err, "%s: nothing from the engine for %ld ms", what, stall_ms);
	} else {
		/* for error replies the message was seen as a line: give xfer_result() the engine's
		 * {"message": ...} back (none: the reply was not the engine's) */
		buf_reset(&x.body);
		if (p.message[0]) {
			cJSON *m = cJSON_CreateObject();
			cJSON_AddStringToObject(m, "message", p.message);
			_cleanup_free_ char *js = jprint(m);
			cJSON_Delete(m);
			buf_adds(&x.body, js);
		}
		r = xfer_result(c, c->easy, cc, &x, 0, what, st, err);
		if (r == 0 && p.error[0]) {
			snprintf(st->message, sizeof(st->message), "%s", p.error);
			r = rc_errf(err, "%s: %s", what, p.error);
		}
	}
	xfer_release(&x);
	return r;
}

int dk_image_pull(struct dk_client *c, const char *ref, const struct dk_pull_opts *o, char **ret_id,
		  struct dk_status *st, struct rc_err *err)
{
	struct dk_status tmp;
	st = status_or(st, &tmp);
	int retries = 3;
	long delay = 5000, stall = 120000;
	if (o) {
		retries = o->retries < 0 ? 0 : o->retries > 0 ? o->retries : 3;
		if (o->first_delay_ms > 0)
			delay = o->first_delay_ms;
		if (o->stall_ms > 0)
			stall = o->stall_ms;
	}
	_cleanup_free_ char *name = NULL, *tag = NULL;
	split_ref(ref, &name, &tag);
	_cleanup_free_ char *qn = esc_query(name), *qt = esc_query(tag);
	_cleanup_free_ char *path = xasprintf(API "/images/create?fromImage=%s&tag=%s", qn, qt);
	_cleanup_free_ char *what = what_of("pull image", ref);
	struct rc_err e = { 0 };
	int attempt = 0;
	for (;;) {
		attempt++;
		if (pull_once(c, path, what, stall, o ? o->registry_auth : NULL, st, &e) == 0)
			break;
		log_debug("docker: %s (attempt %d of %d)", e.msg, attempt, retries + 1);
		if (attempt > retries) {
			rc_err_copy(err, &e);
			return rc_err_prefix(err, "giving up after %d attempt%s", attempt, attempt == 1 ? "" : "s");
		}
		for (long waited = 0; waited < delay; waited += 100) {
			if (o && o->interrupted && o->interrupted(o->interrupted_ctx)) {
				rc_err_copy(err, &e);
				return rc_err_prefix(err, "interrupted after %d attempt%s", attempt,
						     attempt == 1 ? "" : "s");
			}
			sleep_ms(delay - waited < 100 ? delay - waited : 100);
		}
		delay *= 3;
	}
	/* the name we pulled, as the engine stores it */
	_cleanup_free_ char *local = xasprintf(strchr(ref, '@') ? "%s@%s" : "%s:%s", name, tag);
	struct dk_image *img = NULL;
	if (dk_image_inspect(c, local, &img, st, err) < 0)
		return rc_err_prefix(err, "%s: pulled, but", what);
	if (!str_startswith(img->id, "sha256:")) {
		rc_errf(err, "%s: unexpected image id '%s'", what, img->id);
		dk_image_free(img);
		return -1;
	}
	if (ret_id)
		*ret_id = xstrdup(img->id);
	dk_image_free(img);
	return 0;
}

/* ------------------------------------------------------------------ */
/* events                                                             */

struct dk_events {
	struct dk_client *client;  /* counters, host name for messages */
	CURLM *multi;
	CURL *easy;
	struct xfer x;
	struct buf pending;        /* complete lines, each ending in '\n' */
	bool done;
	CURLcode result;
};

static int events_line(void *ud, const char *line, size_t len)
{
	struct dk_events *ev = ud;
	buf_add(&ev->pending, line, len);
	buf_addc(&ev->pending, '\n');
	return 0;
}

void dk_event_release(struct dk_event *e)
{
	if (!e)
		return;
	free(e->type);
	free(e->action);
	free(e->id);
	kv_free(e->attrs, e->nattrs);
	memset(e, 0, sizeof(*e));
}

const char *dk_event_attr(const struct dk_event *e, const char *key)
{
	return dk_label(e->attrs, e->nattrs, key);
}

static int parse_event(const char *line, size_t len, struct dk_event *ret)
{
	cJSON *j = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(j) || !jstr(j, "Action")) {
		cJSON_Delete(j);
		return -1;
	}
	struct dk_event e = { 0 };
	e.type = jdup(j, "Type");
	if (!e.type)
		e.type = xstrdup("");
	e.action = jdup(j, "Action");
	const cJSON *actor = jget(j, "Actor");
	e.id = jdup(actor, "ID");
	if (!e.id)
		e.id = xstrdup("");
	e.attrs = jkv(jget(actor, "Attributes"), &e.nattrs);
	e.time = jint(j, "time");
	/* timeNano does not fit a double exactly: read the raw text */
	_cleanup_free_ char *copy = xstrndup(line, len);
	const char *tn = strstr(copy, "\"timeNano\":");
	if (tn)
		e.time_nano = strtoll(tn + strlen("\"timeNano\":"), NULL, 10);
	else if (e.time > INT64_MAX / 1000000000LL || e.time < INT64_MIN / 1000000000LL)
		e.time_nano = 0;
	else
		e.time_nano = e.time * 1000000000LL;
	cJSON_Delete(j);
	*ret = e;
	return 0;
}

/* Pop one line from pending into a parsed event.  1: event, 0: nothing buffered. */
static int events_pop(struct dk_events *ev, struct dk_event *ret)
{
	for (;;) {
		char *nl = ev->pending.len ? memchr(ev->pending.data, '\n', ev->pending.len) : NULL;
		if (!nl)
			return 0;
		size_t n = (size_t)(nl - ev->pending.data);
		int r = parse_event(ev->pending.data, n, ret);
		size_t rest = ev->pending.len - n - 1;
		memmove(ev->pending.data, nl + 1, rest);
		ev->pending.len = rest;
		ev->pending.data[rest] = '\0';
		if (r == 0)
			return 1;
		log_debug("docker: skipping an unparsable event line");
	}
}

/* Run the transfer without blocking; notice its end. */
static void events_perform(struct dk_events *ev)
{
	int running = 0;
	curl_multi_perform(ev->multi, &running);
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(ev->multi, &left))) {
		if (msg->msg == CURLMSG_DONE) {
			ev->done = true;
			ev->result = msg->data.result;
		}
	}
}

static int events_error(struct dk_events *ev, struct rc_err *err)
{
	long http = 0;
	curl_easy_getinfo(ev->easy, CURLINFO_RESPONSE_CODE, &http);
	if (ev->result != CURLE_OK) {
		if (ev->x.over_cap)
			return rc_errf(err, "events: a line larger than %zu bytes", ev->x.body.max);
		if (ev->result == CURLE_COULDNT_CONNECT) {
			long oserr = 0;
			curl_easy_getinfo(ev->easy, CURLINFO_OS_ERRNO, &oserr);
			return rc_errf(err, "events: cannot connect to the docker engine at '%s': %s", ev->client->host,
				       oserr ? strerror((int)oserr) : curl_easy_strerror(ev->result));
		}
		return rc_errf(err, "events: stream from '%s' dropped: %s", ev->client->host,
			       ev->x.errbuf[0] ? ev->x.errbuf : curl_easy_strerror(ev->result));
	}
	if (http != 200) {
		char msg[1024];
		struct buf *b = ev->pending.len ? &ev->pending : &ev->x.body;
		error_message(buf_cstr(b), b->len, msg, sizeof(msg));
		return rc_errf(err, "events: %ld %s", http, msg[0] ? msg : "(no message)");
	}
	return rc_errf(err, "events: the engine at '%s' ended the stream", ev->client->host);
}

void dk_events_close(struct dk_events *ev)
{
	if (!ev)
		return;
	if (ev->multi) {
		curl_multi_remove_handle(ev->multi, ev->easy);
		curl_multi_cleanup(ev->multi);
	}
	if (ev->easy)
		curl_easy_cleanup(ev->easy);
	xfer_release(&ev->x);
	buf_release(&ev->pending);
	free(ev);
}

int dk_events_open(struct dk_client *c, const struct dk_filter *filters, size_t nfilters, int64_t since,
		   struct dk_events **ret, struct rc_err *err)
{
	_cleanup_free_ char *fq = filters_query(filters, nfilters);
	struct buf path = BUF_INIT;
	buf_adds(&path, API "/events");
	char sep = '?';
	if (*fq) {
		buf_addf(&path, "?filters=%s", fq);
		sep = '&';
	}
	if (since > 0)
		buf_addf(&path, "%csince=%" PRId64, sep, since);
	struct dk_events *ev = xcalloc(1, sizeof(*ev));
	ev->client = c;
	ev->multi = curl_multi_init();
	ev->easy = curl_easy_init();
	if (!ev->multi || !ev->easy)
		die("cannot initialise libcurl");
	xfer_init(&ev->x, c->max_body);
	buf_init(&ev->pending, 0);
	ev->x.streaming = true;
	ev->x.on_line = events_line;
	ev->x.ud = ev;
	setup_easy(c, ev->easy, "GET", path.data, NULL, 0, &ev->x);
	buf_release(&path);
	count(c, DK_OP_EVENTS);
	curl_multi_add_handle(ev->multi, ev->easy);
	/* wait (bounded) for the reply's head so a refused stream fails here */
	int64_t deadline = now_ms() + c->timeout_ms;
	for (;;) {
		events_perform(ev);
		long http = 0;
		curl_easy_getinfo(ev->easy, CURLINFO_RESPONSE_CODE, &http);
		if (http == 200)  /* even if it already ended: dk_events_next() reports that */
			break;
		if (ev->done || (http != 0 && http != 200 && now_ms() >= deadline)) {
			if (ev->done && ev->x.body.len)  /* an error reply without a newline */
				events_line(ev, ev->x.body.data, ev->x.body.len);
			events_error(ev, err);
			dk_events_close(ev);
			return -1;
		}
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			dk_events_close(ev);
			return rc_errf(err, "events: no reply from the docker engine at '%s' within %ld ms",
				       c->host, c->timeout_ms);
		}
		curl_multi_poll(ev->multi, NULL, 0, (int)(left < 100 ? left : 100), NULL);
	}
	*ret = ev;
	return 0;
}

int dk_events_poll(struct dk_events *ev, int timeout_ms, struct pollfd *fds, size_t nfds,
		   struct dk_event *ret_event, struct rc_err *err)
{
	struct curl_waitfd *wfds = nfds ? xcalloc(nfds, sizeof(*wfds)) : NULL;
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int r;
	for (size_t i = 0; i < nfds; i++)
		fds[i].revents = 0;
	for (;;) {
		if (events_pop(ev, ret_event)) {
			r = 1;
			break;
		}
		if (ev->done) {
			r = events_error(ev, err);
			break;
		}
		int64_t left = deadline - now_ms();
		if (left < 0)
			left = 0;
		for (size_t i = 0; i < nfds; i++) {
			wfds[i].fd = fds[i].fd;
			wfds[i].events = (short)(((fds[i].events & POLLIN) ? CURL_WAIT_POLLIN : 0) |
						 ((fds[i].events & POLLPRI) ? CURL_WAIT_POLLPRI : 0) |
						 ((fds[i].events & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
			wfds[i].revents = 0;
		}
		curl_multi_poll(ev->multi, wfds, (unsigned)nfds, (int)left, NULL);
		events_perform(ev);
		bool ready = false;
		for (size_t i = 0; i < nfds; i++) {
			short re = 0;
			if (wfds[i].revents & CURL_WAIT_POLLIN)
				re |= POLLIN;
			if (wfds[i].revents & CURL_WAIT_POLLPRI)
				re |= POLLPRI;
			if (wfds[i].revents & CURL_WAIT_POLLOUT)
				re |= POLLOUT;
			fds[i].revents = re;
			ready |= re != 0;
		}
		if (events_pop(ev, ret_event)) {
			r = 1;
			break;
		}
		if (ready || (left == 0 && !ev->done)) {
			r = 0;
			break;
		}
	}
	free(wfds);
	return r;
}

int dk_events_next(struct dk_events *ev, int timeout_ms, struct dk_event *ret_event, struct rc_err *err)
{
	return dk_events_poll(ev, timeout_ms, NULL, 0, ret_event, err);
}

/* ------------------------------------------------------------------ */
/* decoding without an engine (tests, fuzzing)                        */
/* ------------------------------------------------------------------ */

int dk_decode_container_list(const char *json, size_t len, struct dk_container_list **ret, struct rc_err *err)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsArray(j)) {
		cJSON_Delete(j);
		return rc_errf(err, "a container list is a JSON array");
	}
	struct dk_container_list *l = xcalloc(1, sizeof(*l));
	l->items = xcalloc((size_t)cJSON_GetArraySize(j) + 1, sizeof(*l->items));
	const cJSON *e;
	cJSON_ArrayForEach(e, j)
		parse_summary(e, &l->items[l->n++]);
	cJSON_Delete(j);
	*ret = l;
	return 0;
}

/*
 * A JSON scanner that reads nothing but skips values, for
 * dk_decode_container_ids(): the container list is the largest reply the
 * engine sends and its ids are all a caller inspecting the containers
 * needs.  Each returns the position after what it skipped, or NULL when
 * the text is not JSON.
 */
#define SKIP_DEPTH_MAX 64

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p at the opening quote; *ret_plain: no escape inside (the bytes between the quotes are the value). */
static const char *skip_string(const char *p, const char *end, bool *ret_plain)
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

static const char *skip_value(const char *p, const char *end, int depth)
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

int dk_decode_container_ids(const char *json, size_t len, char ***ret_ids, size_t *ret_n, struct rc_err *err)
{
	const char *p = json, *end = json + len;
	char **ids = xcalloc(1, sizeof(*ids));
	size_t n = 0, cap = 1;
	p = skip_ws(p, end);
	if (p >= end || *p++ != '[')
		goto bad;
	p = skip_ws(p, end);
	if (p < end && *p == ']') {
		p++;
		goto done;
	}
	for (;;) {
		p = skip_ws(p, end);
		if (p >= end || *p++ != '{')
			goto bad;
		const char *id = NULL;
		size_t idlen = 0;
		p = skip_ws(p, end);
		if (p < end && *p == '}') {
			p++;
		} else {
			for (;;) {
				p = skip_ws(p, end);
				const char *k = p;
				bool plain = false;
				if (p >= end || *p != '"' || !(p = skip_string(p, end, &plain)))
					goto bad;
				bool is_id = plain && p - k == 4 && !memcmp(k, "\"Id\"", 4);
				p = skip_ws(p, end);
				if (p >= end || *p++ != ':')
					goto bad;
				p = skip_ws(p, end);
				const char *v = p;
				if (!(p = skip_value(p, end, 1)))
					goto bad;
				if (is_id && !id && *v == '"' && p - v > 2) {  /* the first Id, as cJSON reads it */
					/* an id is hex: one with an escape is no id */
					if (memchr(v + 1, '\\', (size_t)(p - v - 2)))
						goto bad;
					id = v + 1;
					idlen = (size_t)(p - v - 2);
				}
				p = skip_ws(p, end);
				if (p < end && *p == ',') {
					p++;
					continue;
				}
				if (p < end && *p == '}') {
					p++;
					break;
				}
				goto bad;
			}
		}
		if (id) {
			GROW(ids, n + 2, cap);
			ids[n++] = xstrndup(id, idlen);
			ids[n] = NULL;
		}
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == ']') {
			p++;
			break;
		}
		goto bad;
	}
done:
	if (skip_ws(p, end) != end)
		goto bad;
	*ret_ids = ids;
	*ret_n = n;
	return 0;
bad:
	dk_ids_free(ids);
	*ret_ids = NULL;
	*ret_n = 0;
	return rc_errf(err, "a container list is a JSON array of objects");
}

int dk_decode_container(const char *json, size_t len, struct dk_container **ret, struct rc_err *err)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return rc_errf(err, "an inspect result is a JSON object");
	}
	*ret = parse_inspect(j);
	cJSON_Delete(j);
	return 0;
}

int dk_decode_network_list(const char *json, size_t len, struct dk_network_list **ret, struct rc_err *err)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsArray(j)) {
		cJSON_Delete(j);
		return rc_errf(err, "a network list is a JSON array");
	}
	struct dk_network_list *l = xcalloc(1, sizeof(*l));
	l->items = xcalloc((size_t)cJSON_GetArraySize(j) + 1, sizeof(*l->items));
	const cJSON *e;
	cJSON_ArrayForEach(e, j)
		parse_network(e, &l->items[l->n++]);
	cJSON_Delete(j);
	*ret = l;
	return 0;
}

int dk_decode_event(const char *line, size_t len, struct dk_event *ret, struct rc_err *err)
{
	if (parse_event(line, len, ret) < 0)
		return rc_errf(err, "not an event");
	return 0;
}
