/*
 * docker_http.c — one request to the engine: URL escaping, the libcurl handle and its timeouts, replies and errors.
 * See docker.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

char *esc_path(const char *s)
{
	struct buf b = BUF_INIT;
	url_escape(&b, s, true);
	return buf_detach(&b, NULL);
}

char *esc_query(const char *s)
{
	struct buf b = BUF_INIT;
	url_escape(&b, s, false);
	return buf_detach(&b, NULL);
}

/* {"key":["v1","v2"],...} from filter terms, URL-encoded; "" when none. */
char *filters_query(const struct dk_filter *f, size_t n)
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

char *what_of(const char *verb, const char *obj)
{
	return xasprintf("%s '%s'", verb, obj);
}

/* ------------------------------------------------------------------ */
/* transfers                                                          */

void xfer_init(struct xfer *x, size_t max)
{
	memset(x, 0, sizeof(*x));
	buf_init(&x->body, max);
}

void xfer_release(struct xfer *x)
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

int xferinfo_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = ud;
	if (x->stall_ms > 0 && now_ms() - x->last_data_ms > x->stall_ms) {
		x->stalled = true;
		return 1;
	}
	return 0;
}

/* Configure easy for one request.  body NULL: no body (POST sends an empty one). */
void setup_easy(const struct dk_client *c, CURL *easy, const char *method, const char *path,
		       const char *body, long timeout_ms, struct xfer *x)
{
	dk_ssh_revive(c->ssh);  /* ssh://: a forward whose ssh ended is started again */
	curl_easy_reset(easy);
	_cleanup_free_ char *url = xasprintf("%s%s", c->ep.base_url, path);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	if (c->ep.sock_path)
		curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, c->ep.sock_path);
	if (c->ep.tls) {
		/* the engine's certificate and host name are always verified (libcurl's defaults, said) */
		curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https");
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
		curl_easy_setopt(easy, CURLOPT_CAINFO, c->ep.ca_file);
		if (c->ep.cert_file) {
			curl_easy_setopt(easy, CURLOPT_SSLCERT, c->ep.cert_file);
			curl_easy_setopt(easy, CURLOPT_SSLKEY, c->ep.key_file);
		}
	} else {
		curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
	}
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

struct dk_status *status_or(struct dk_status *st, struct dk_status *tmp)
{
	st = st ? st : tmp;
	st->http = 0;
	st->message[0] = '\0';
	return st;
}

/* Docker's message from an error body: {"message": "..."} or the raw text.  Returns whether the body
 * was the engine's JSON error object. */
bool error_message(const char *body, size_t len, char *out, size_t outsz)
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
	/* an engine outside any swarm, or a worker, asked for services, tasks, nodes or secrets: its
	 * answer (503), not a fault ("The swarm does not have a leader" is one) */
	if (http == 503 && json_message && message && strstr(message, "This node is not a swarm manager"))
		return false;
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

bool tls_error(const struct dk_client *c, CURLcode cc, const char *errbuf, char *out, size_t outsz)
{
	if (!c->ep.tls)
		return false;
	const char *why = errbuf && *errbuf ? errbuf : curl_easy_strerror(cc);
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		if (strstr(why, "expired"))  /* its notAfter is past (or a CA's in its chain) */
			snprintf(out, outsz, "the certificate of the docker engine at '%s' has expired (or one that signed it "
					     "has; CA %s): %s", c->host, c->ep.ca_file, why);
		else if (strstr(why, "not yet valid"))
			snprintf(out, outsz, "the certificate of the docker engine at '%s' is not valid yet (its notBefore "
					     "is ahead of this host's clock; CA %s): %s", c->host, c->ep.ca_file, why);
		else
			snprintf(out, outsz, "the certificate of the docker engine at '%s' does not verify (CA %s): %s",
				 c->host, c->ep.ca_file, why);
		return true;
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(out, outsz, "%s: not a CA certificate TLS can use: %s", c->ep.ca_file, why);
		return true;
	case CURLE_SSL_CERTPROBLEM:
		snprintf(out, outsz, "%s or %s: not a client certificate and key TLS can use: %s", c->ep.cert_file,
			 c->ep.key_file, why);
		return true;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
		snprintf(out, outsz, "TLS handshake with the docker engine at '%s' failed%s: %s", c->host,
			 c->ep.cert_file ? "" : " (no client certificate in DOCKER_CERT_PATH)", why);
		return true;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		/* TLS 1.3: the engine refuses a client certificate after the client's handshake ended; the
		 * client sees an alert, or (under load, the engine having closed first) only a dead socket
		 * (`getpeername() failed`): without a client certificate, that is the likely cause */
		if (!strstr(why, "SSL") && !strstr(why, "TLS") && !strstr(why, "alert") && c->ep.cert_file)
			return false;
		snprintf(out, outsz, "TLS handshake with the docker engine at '%s' failed%s: %s", c->host,
			 c->ep.cert_file ? "" : " (no client certificate in DOCKER_CERT_PATH)", why);
		return true;
	default:
		/* the same dead socket can surface on the connection's first use as another code */
		if (!c->ep.cert_file && strstr(why, "getpeername")) {
			snprintf(out, outsz, "TLS handshake with the docker engine at '%s' failed (no client certificate "
					     "in DOCKER_CERT_PATH): %s", c->host, why);
			return true;
		}
		return false;
	}
}

/*
 * Turn a finished transfer into the result convention: 0 for 2xx/304, -1
 * otherwise.  Every failure of the transfer itself, and an error reply
 * dk_error_reply_is_fault() calls one, is an engine fault (rc_err.engine_fault).
 */
int xfer_result(const struct dk_client *c, CURL *easy, CURLcode cc, struct xfer *x,
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
		char tls[CURL_ERROR_SIZE + 512];
		if (tls_error(c, cc, x->errbuf, tls, sizeof(tls)))
			return rc_err_fault(err, "%s: %s", what, tls);
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
static int request(struct dk_client *c, enum dk_op op, const char *method, const char *path, const char *body,
		   const char *header, long timeout_ms, const char *what, cJSON **ret_json, struct buf *ret_body,
		   struct dk_status *st, struct rc_err *err)
{
	struct dk_status tmp;
	st = status_or(st, &tmp);
	struct xfer x;
	xfer_init(&x, c->max_body);
	if (timeout_ms <= 0)
		timeout_ms = c->timeout_ms;
	setup_easy(c, c->easy, method, path, body, timeout_ms, &x);
	if (header) {
		x.headers = curl_slist_append(x.headers, header);
		if (!x.headers)
			die("out of memory (curl_slist)");
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, x.headers);
	}
	count_op(c, op);
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

int engine_request_x(struct dk_client *c, enum dk_op op, const char *method, const char *path,
		     const char *body, long timeout_ms, const char *what, cJSON **ret_json,
		     struct buf *ret_body, struct dk_status *st, struct rc_err *err)
{
	return request(c, op, method, path, body, NULL, timeout_ms, what, ret_json, ret_body, st, err);
}

int engine_request_h(struct dk_client *c, enum dk_op op, const char *method, const char *path,
		     const char *body, const char *header, const char *what, cJSON **ret_json,
		     struct dk_status *st, struct rc_err *err)
{
	return request(c, op, method, path, body, header, 0, what, ret_json, NULL, st, err);
}

int engine_request(struct dk_client *c, enum dk_op op, const char *method, const char *path,
		   const char *body, long timeout_ms, const char *what, cJSON **ret_json,
		   struct dk_status *st, struct rc_err *err)
{
	return engine_request_x(c, op, method, path, body, timeout_ms, what, ret_json, NULL, st, err);
}

int engine_list(struct dk_client *c, enum dk_op op, const char *base, const struct dk_filter *filters,
		size_t nfilters, const char *what, cJSON **ret_json, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *fq = filters_query(filters, nfilters);
	_cleanup_free_ char *path = *fq ? xasprintf("%s%cfilters=%s", base, strchr(base, '?') ? '&' : '?', fq)
					: xstrdup(base);
	cJSON *j = NULL;
	if (engine_request(c, op, "GET", path, NULL, 0, what, &j, st, err) < 0)
		return -1;
	if (!cJSON_IsArray(j)) {
		cJSON_Delete(j);
		return rc_err_fault(err, "%s: the engine's reply is not an array", what);
	}
	*ret_json = j;
	return 0;
}

cJSON *json_array_parse(const char *json, size_t len, const char *what, struct rc_err *err)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (cJSON_IsArray(j))
		return j;
	cJSON_Delete(j);
	rc_errf(err, "a %s is a JSON array", what);
	return NULL;
}
