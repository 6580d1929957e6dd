/*
 * docker_int.h — the Docker client's private header, shared by its files
 * (docker.c and docker_*.c; nothing else includes it): the client struct, a
 * transfer in flight (struct xfer), the request functions of docker_http.c
 * and the JSON readers and writers of docker_json.c.  The public interface
 * is docker.h.  As the one header inside the module it may include libcurl
 * and cJSON (make check-layers knows).
 *
 *   docker.c            the client: open, clone, free, the version check, ping, call counters
 *   docker_host.c       the host string and its TLS files: unix://, tcp://, https://, http://, ssh:// (pure)
 *   docker_http.c       one request: URL escaping, the libcurl handle, timeouts, replies and errors
 *   docker_json.c       cJSON readers (strings, numbers, string arrays, label maps) and writers
 *   docker_fields.c     the spec-key table's rows (speckeys.h) to and from the engine's JSON
 *   docker_inspect.c    container list, inspect, inspect-many, their decoders without an engine
 *   docker_container.c  container create, start, stop, remove, update, rename
 *   docker_network.c    networks and volumes
 *   docker_image.c      image inspect and pulls (with retries and stall detection)
 *   docker_events.c     the events stream
 *   docker_swarm.c      Swarm (docker_swarm.h): swarm info, tasks, nodes, secrets
 *   docker_service.c    Swarm services: the request body, create, update, remove, list, the fingerprint
 *   docker_ssh.c        ssh:// engines: the `ssh -L` forward of the engine's socket, its process
 */
#ifndef RC_DOCKER_INT_H
#define RC_DOCKER_INT_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "docker.h"
#include "speckeys.h"

#define API "/v" DK_API_VERSION
#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define DEFAULT_MAX_BODY ((size_t)64 << 20)
#define SLACK_MAX_MS 30000L
#define ENV_TIMEOUT "RECONCILER_ENGINE_TIMEOUT_MS"

struct dk_counters;

struct dk_client {
	char *host;        /* as given (for messages) */
	struct dk_endpoint ep; /* the socket or URL, and the TLS files (cert_file NULL: no client cert) */
	long timeout_ms;
	long connect_timeout_ms;
	size_t max_body;
	CURL *easy;
	struct dk_counters *ctr;
	struct dk_ssh *ssh;  /* ssh://: the forward, shared by the clones (the last one ends it); else NULL */
};

/* docker_ssh.c: start ssh forwarding ep's remote socket (ep->ssh_*) to a socket of ours, wait until
 * it is there, and set ep->sock_path to it.  0 with *ret (one reference), or -1 (err names ssh's last
 * line on standard error, or that ssh is missing). */
struct dk_ssh;
int dk_ssh_start(const char *host, struct dk_endpoint *ep, struct dk_ssh **ret, struct rc_err *err);
struct dk_ssh *dk_ssh_ref(struct dk_ssh *s);
/* Drop a reference; the last one ends ssh (SIGTERM), reaps it and removes the socket. */
void dk_ssh_unref(struct dk_ssh *s);
/* The ssh process ended (the connection dropped, sshd restarted): start it again, on the same
 * socket path, at most every 5 s (said in the log); at once when it runs.  Before every request. */
void dk_ssh_revive(struct dk_ssh *s);
/* ssh's last line on standard error ("" when none) into out. */
void dk_ssh_said(struct dk_ssh *s, char *out, size_t n);

/* docker.c */
void count_op(struct dk_client *c, enum dk_op op);
long slack_ms(const struct dk_client *c);

/* docker_http.c: a transfer, its reply body (whole, or line by line when streaming) */
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

char *esc_path(const char *s);
char *esc_query(const char *s);
char *filters_query(const struct dk_filter *f, size_t n);
char *what_of(const char *verb, const char *obj);
void xfer_init(struct xfer *x, size_t max);
void xfer_release(struct xfer *x);
int xferinfo_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
void setup_easy(const struct dk_client *c, CURL *easy, const char *method, const char *path,
		const char *body, long timeout_ms, struct xfer *x);
struct dk_status *status_or(struct dk_status *st, struct dk_status *tmp);
bool error_message(const char *body, size_t len, char *out, size_t outsz);
/* A transfer that failed in TLS (a handshake refused, a certificate not verified) in words naming the
 * engine and the file concerned; false when cc is no TLS failure. */
bool tls_error(const struct dk_client *c, CURLcode cc, const char *errbuf, char *out, size_t outsz);
int xfer_result(const struct dk_client *c, CURL *easy, CURLcode cc, struct xfer *x,
		long timeout_ms, const char *what, struct dk_status *st, struct rc_err *err);
int engine_request_x(struct dk_client *c, enum dk_op op, const char *method, const char *path,
		     const char *body, long timeout_ms, const char *what, cJSON **ret_json,
		     struct buf *ret_body, struct dk_status *st, struct rc_err *err);
int engine_request(struct dk_client *c, enum dk_op op, const char *method, const char *path,
		   const char *body, long timeout_ms, const char *what, cJSON **ret_json,
		   struct dk_status *st, struct rc_err *err);
/* GET base (its filters, if any, as its filters= parameter) whose reply must be a JSON array:
 * *ret_json (cJSON_Delete() it).  A reply that is no array is an engine fault ("WHAT: the
 * engine's reply is not an array").  The lists of services, tasks, nodes and secrets. */
int engine_list(struct dk_client *c, enum dk_op op, const char *base, const struct dk_filter *filters,
		size_t nfilters, const char *what, cJSON **ret_json, struct dk_status *st, struct rc_err *err);
/* json parsed, when it is a JSON array; NULL otherwise, err saying "a WHAT is a JSON array"
 * (the dk_decode_*_list() functions of recorded replies). */
cJSON *json_array_parse(const char *json, size_t len, const char *what, struct rc_err *err);
/* engine_request() with one more header line ("X-Registry-Auth: ..."; NULL: none), the client's timeout. */
int engine_request_h(struct dk_client *c, enum dk_op op, const char *method, const char *path,
		     const char *body, const char *header, const char *what, cJSON **ret_json,
		     struct dk_status *st, struct rc_err *err);

/* docker_json.c */
const cJSON *jget(const cJSON *o, const char *key);
const char *jstr(const cJSON *o, const char *key);
char *jdup(const cJSON *o, const char *key);
char *jdup_nonempty(const cJSON *o, const char *key);
int64_t jnum(const cJSON *v);
int64_t jint(const cJSON *o, const char *key);
bool jbool(const cJSON *o, const char *key);
void jstrv_free(char **v, size_t n);
void jkv_free(struct rc_kv *kv, size_t n);
char **jstrv(const cJSON *arr, size_t *ret_n);
char **jkeys(const cJSON *obj, size_t *ret_n);
struct rc_kv *jkv(const cJSON *obj, size_t *ret_n);
cJSON *jstrarray(const char *const *v, size_t n);
cJSON *jkvobject(const struct rc_kv *kv, size_t n);
char *jprint(const cJSON *o);

/*
 * A scanner over raw JSON text that reads nothing but skips values: for the
 * container list (the largest reply; its ids are all a caller inspecting the
 * containers needs) and for numbers a double cannot hold.  Each returns the
 * position after what it skipped, or NULL when the text is not JSON.
 */
#define SKIP_DEPTH_MAX 64
const char *skip_ws(const char *p, const char *end);
const char *skip_string(const char *p, const char *end, bool *ret_plain);
const char *skip_value(const char *p, const char *end, int depth);
bool json_top_int(const char *json, size_t len, const char *key, int64_t *ret);

/* docker_fields.c */
void fields_decode(struct sk_value *v, const cJSON *cfg, const cJSON *hc, bool image_only);
void fields_encode(cJSON *cfg, cJSON *hc, const struct sk_value *v, bool in_place_only);

#endif
