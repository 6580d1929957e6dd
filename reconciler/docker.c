/*
 * docker.c — the client: open, clone, free, the version check, ping, and the call counters.
 * See docker.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	[DK_OP_REMOVE] = { "remove", true },
	[DK_OP_UPDATE] = { "update", true },
	[DK_OP_RENAME] = { "rename", true },
	[DK_OP_NETWORK_LIST] = { "network-list", false },
	[DK_OP_NETWORK_INSPECT] = { "network-inspect", false },
	[DK_OP_NETWORK_CREATE] = { "network-create", true },
	[DK_OP_NETWORK_REMOVE] = { "network-remove", true },
	[DK_OP_NETWORK_CONNECT] = { "network-connect", true },
	[DK_OP_NETWORK_DISCONNECT] = { "network-disconnect", true },
	[DK_OP_VOLUME_INSPECT] = { "volume-inspect", false },
	[DK_OP_VOLUME_CREATE] = { "volume-create", true },
	[DK_OP_VOLUME_REMOVE] = { "volume-remove", true },
	[DK_OP_IMAGE_INSPECT] = { "image-inspect", false },
	[DK_OP_IMAGE_PULL] = { "image-pull", true },
	[DK_OP_IMAGE_BUILD] = { "image-build", true },
	[DK_OP_DISTRIBUTION] = { "distribution", false },
	[DK_OP_EVENTS] = { "events", false },
	[DK_OP_STATS] = { "stats", false },
	[DK_OP_SWARM_INFO] = { "swarm-info", false },
	[DK_OP_SERVICE_LIST] = { "service-list", false },
	[DK_OP_SERVICE_CREATE] = { "service-create", true },
	[DK_OP_SERVICE_UPDATE] = { "service-update", true },
	[DK_OP_SERVICE_REMOVE] = { "service-remove", true },
	[DK_OP_TASK_LIST] = { "task-list", false },
	[DK_OP_NODE_LIST] = { "node-list", false },
	[DK_OP_SECRET_LIST] = { "secret-list", false },
	[DK_OP_SECRET_CREATE] = { "secret-create", true },
	[DK_OP_SECRET_REMOVE] = { "secret-remove", true },
	[DK_OP_INFO] = { "info", false },
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

long dk_client_timeout_ms(const struct dk_client *c)
{
	return c->timeout_ms;
}

const char *dk_client_host(const struct dk_client *c)
{
	return c->host;
}

bool dk_client_local(const struct dk_client *c)
{
	return c && c->ep.sock_path && !c->ssh;
}

void count_op(struct dk_client *c, enum dk_op op)
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

static struct dk_client *client_new(const char *host, const struct dk_endpoint *ep, long timeout_ms,
				    long connect_timeout_ms, size_t max_body, struct dk_counters *ctr,
				    struct dk_ssh *ssh)
{
	struct dk_client *c = xcalloc(1, sizeof(*c));
	c->host = xstrdup(host);
	c->ep.sock_path = ep->sock_path ? xstrdup(ep->sock_path) : NULL;
	c->ep.base_url = xstrdup(ep->base_url);
	c->ep.tls = ep->tls;
	c->ep.ca_file = ep->ca_file ? xstrdup(ep->ca_file) : NULL;
	c->ep.cert_file = ep->cert_file ? xstrdup(ep->cert_file) : NULL;
	c->ep.key_file = ep->key_file ? xstrdup(ep->key_file) : NULL;
	c->timeout_ms = timeout_ms;
	c->connect_timeout_ms = connect_timeout_ms;
	c->max_body = max_body;
	c->easy = curl_easy_init();
	if (!c->easy)
		die("cannot initialise libcurl");
	c->ctr = ctr;
	atomic_fetch_add(&ctr->refs, 1);
	c->ssh = dk_ssh_ref(ssh);
	return c;
}

struct dk_client *dk_client_clone(const struct dk_client *c)
{
	return client_new(c->host, &c->ep, c->timeout_ms, c->connect_timeout_ms, c->max_body, c->ctr, c->ssh);
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
	dk_endpoint_release(&c->ep);
	dk_ssh_unref(c->ssh);
	free(c);
}

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
long slack_ms(const struct dk_client *c)
{
	return c->timeout_ms < SLACK_MAX_MS ? c->timeout_ms : SLACK_MAX_MS;
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
	if (engine_request(c, DK_OP_VERSION, "GET", path, NULL, 0, "version", &j, st, err) < 0)
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

int dk_data_root(struct dk_client *c, char **ret_root, struct dk_status *st, struct rc_err *err)
{
	cJSON *j = NULL;
	if (engine_request(c, DK_OP_INFO, "GET", API "/info", NULL, 0, "info", &j, st, err) < 0)
		return -1;
	char *root = jdup_nonempty(j, "DockerRootDir");
	cJSON_Delete(j);
	if (!root || root[0] != '/') {
		free(root);
		return rc_err_fault(err, "info: the engine's reply has no DockerRootDir");
	}
	*ret_root = root;
	return 0;
}

int dk_ping(struct dk_client *c, struct dk_status *st, struct rc_err *err)
{
	return engine_request(c, DK_OP_PING, "GET", API "/_ping", NULL, 0, "ping", NULL, st, err);
}

/* "1.41" >= "1.41"? */
static bool api_at_least(const char *have, int want_major, int want_minor)
{
	int ma = 0, mi = 0;
	if (sscanf(have, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > want_major || (ma == want_major && mi >= want_minor);
}

/* A certificate file of CERT_PATH: readable, or (optional ones) absent.  1: there, 0: absent. */
static int cert_file(const char *path, bool optional, struct rc_err *err)
{
	FILE *f = fopen(path, "r");
	if (f) {
		fclose(f);
		return 1;
	}
	if (optional && errno == ENOENT)
		return 0;
	return rc_errf(err, "%s: cannot read: %s", path, strerror(errno));
}

/*
 * TLS: ca.pem must be readable (the engine's certificate is always
 * verified); cert.pem and key.pem, the client's certificate, both or
 * neither (an engine started with --tlsverify refuses a client without).
 */
static int check_tls_files(struct dk_endpoint *ep, struct rc_err *err)
{
	int have_cert, have_key;
	if (cert_file(ep->ca_file, false, err) < 0 || (have_cert = cert_file(ep->cert_file, true, err)) < 0 ||
	    (have_key = cert_file(ep->key_file, true, err)) < 0)
		return -1;
	if (have_cert != have_key)
		return rc_errf(err, "%s: cannot read: %s (a client certificate needs both cert.pem and key.pem)",
			       have_cert ? ep->key_file : ep->cert_file, strerror(ENOENT));
	if (!have_cert) {
		free(ep->cert_file);
		free(ep->key_file);
		ep->cert_file = ep->key_file = NULL;
	}
	return 0;
}

int dk_client_open(const struct dk_opts *o, struct dk_client **ret_client, struct rc_err *err)
{
	static const struct dk_opts defaults;
	if (!o)
		o = &defaults;
	const char *host = o->host && *o->host ? o->host : DK_DEFAULT_HOST;
	struct dk_tls_env env = { .tls_verify = getenv("DOCKER_TLS_VERIFY"),
				  .cert_path = getenv("DOCKER_CERT_PATH"), .home = getenv("HOME") };
	struct dk_endpoint ep = { 0 };
	if (dk_host_parse(host, &env, &ep, err) < 0)
		return -1;
	if (ep.tls && check_tls_files(&ep, err) < 0) {
		dk_endpoint_release(&ep);
		return -1;
	}
	struct dk_ssh *ssh = NULL;
	if (ep.ssh_dest && dk_ssh_start(host, &ep, &ssh, err) < 0) {
		dk_endpoint_release(&ep);
		return -1;
	}
	struct dk_counters *ctr = xcalloc(1, sizeof(*ctr));
	struct dk_client *c = client_new(host, &ep, o->timeout_ms > 0 ? o->timeout_ms : default_timeout_ms(),
					 o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS,
					 o->max_body ? o->max_body : DEFAULT_MAX_BODY, ctr, ssh);
	dk_ssh_unref(ssh);  /* the client holds it */
	dk_endpoint_release(&ep);
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
		char said[512];
		if (c->ssh && err) {  /* the forward is up, the far end refused: ssh says why */
			struct timespec ts = { 0, 200 * 1000 * 1000 };
			nanosleep(&ts, NULL);  /* its line may come just after the connection closed */
			dk_ssh_said(c->ssh, said, sizeof said);
			if (said[0]) {
				_cleanup_free_ char *msg = xstrdup(err->msg);
				if (err->engine_fault)
					rc_err_fault(err, "%s (ssh: %s)", msg, said);
				else
					rc_errf(err, "%s (ssh: %s)", msg, said);
			}
		}
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
