/*
 * docker_container.c — containers: create, start, stop, remove, update, rename.
 * See docker.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* containers: create                                                 */

/* Healthcheck: Test ["NONE"] to disable the image's, or CMD-SHELL with its timings. */
static void create_health(cJSON *o, const struct dk_create_spec *s)
{
	if (!(s->health_disable || s->health_cmd))
		return;
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

/* ExposedPorts (top level) and HostConfig.PortBindings. */
static void create_ports(cJSON *o, cJSON *hc, const struct dk_create_spec *s)
{
	if (!s->nports)
		return;
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

static void create_devices(cJSON *hc, const struct dk_create_spec *s)
{
	if (!s->ndevices)
		return;
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

static void create_mounts(cJSON *hc, const struct dk_create_spec *s)
{
	if (!s->nmounts)
		return;
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
	create_health(o, s);
	if (s->stop_timeout_s > 0)
		cJSON_AddNumberToObject(o, "StopTimeout", s->stop_timeout_s);

	cJSON *hc = cJSON_AddObjectToObject(o, "HostConfig");
	if (s->fields)
		fields_encode(o, hc, s->fields, false);
	create_ports(o, hc, s);
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
	create_devices(hc, s);
	cJSON *rp = cJSON_AddObjectToObject(hc, "RestartPolicy");
	cJSON_AddStringToObject(rp, "Name", s->restart_policy ? s->restart_policy : "no");
	cJSON_AddNumberToObject(rp, "MaximumRetryCount", s->restart_max_retries);
	create_mounts(hc, s);
	/* No container routes between its networks.  A network namespace inherits
	 * the host's ip_forward (1 wherever Docker runs), so a shared service on
	 * two customers' link networks forwarded what one customer's unit sent to
	 * its MAC addressed to the other (raw sockets: NET_RAW is a default
	 * capability) — docs/operations.md, "Tenant isolation".  Not part of the
	 * spec: no manifest key sets it, and every container gets it. */
	cJSON *sc = cJSON_AddObjectToObject(hc, "Sysctls");
	cJSON_AddStringToObject(sc, "net.ipv4.ip_forward", "0");
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
	if (engine_request(c, DK_OP_CREATE, "POST", path, body, 0, what, &j, st, err) < 0)
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
	return engine_request(c, op, "POST", path, body, timeout_ms, what, NULL, st, err);
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

/* The rx and tx bytes of a stats reply, over its networks; *counted: it has networks (it runs). */
static void net_bytes_of(const cJSON *j, uint64_t *rx, uint64_t *tx, bool *counted)
{
	const cJSON *nets = cJSON_GetObjectItemCaseSensitive(j, "networks"), *n;
	*rx = *tx = 0;
	cJSON_ArrayForEach(n, nets) {
		int64_t r = jint(n, "rx_bytes"), t = jint(n, "tx_bytes");
		*rx += r > 0 ? (uint64_t)r : 0;
		*tx += t > 0 ? (uint64_t)t : 0;
	}
	*counted = cJSON_IsObject(nets) && nets->child;
}

static char *stats_path(const char *id)
{
	_cleanup_free_ char *eid = esc_path(id);
	return xasprintf(API "/containers/%s/stats?stream=false&one-shot=true", eid);
}

struct stats_slot {
	CURL *easy;
	struct xfer x;
	size_t idx;
	bool busy;
};

static void stats_done(const struct dk_client *c, struct stats_slot *s, CURLcode cc, const char *id,
		       struct dk_net_bytes *res)
{
	struct rc_err e = { 0 };
	_cleanup_free_ char *what = what_of("stats of container", id);
	if (xfer_result(c, s->easy, cc, &s->x, c->timeout_ms, what, &res->st, &e) == 0) {
		cJSON *j = cJSON_ParseWithLength(buf_cstr(&s->x.body), s->x.body.len);
		if (cJSON_IsObject(j)) {
			net_bytes_of(j, &res->rx, &res->tx, &res->counted);
			res->ok = true;
		} else {
			rc_err_fault(&e, "%s: invalid reply from the engine", what);
		}
		cJSON_Delete(j);
	}
	if (!res->ok)
		snprintf(res->error, sizeof res->error, "%.*s", (int)sizeof res->error - 1, e.msg);
}

void dk_net_bytes_many(struct dk_client *c, const char *const *ids, size_t n, int parallelism,
		       struct dk_net_bytes *results)
{
	for (size_t i = 0; i < n; i++)
		memset(&results[i], 0, sizeof(results[i]));
	if (n == 0)
		return;
	parallelism = parallelism < 1 ? 1 : (size_t)parallelism > n ? (int)n : parallelism;
	CURLM *m = curl_multi_init();
	if (!m)
		die("cannot initialise libcurl multi");
	struct stats_slot *slots = xcalloc((size_t)parallelism, sizeof(*slots));
	for (int i = 0; i < parallelism; i++)
		if (!(slots[i].easy = curl_easy_init()))
			die("cannot initialise libcurl");
	size_t next = 0, active = 0;
	while (next < n || active > 0) {
		for (int i = 0; i < parallelism && next < n; i++) {
			struct stats_slot *s = &slots[i];
			if (s->busy)
				continue;
			_cleanup_free_ char *path = stats_path(ids[next]);
			xfer_init(&s->x, c->max_body);
			setup_easy(c, s->easy, "GET", path, NULL, c->timeout_ms, &s->x);
			curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
			s->idx = next++;
			s->busy = true;
			active++;
			count_op(c, DK_OP_STATS);
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
			struct stats_slot *s = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			CURLcode cc = msg->data.result;
			curl_multi_remove_handle(m, s->easy);
			stats_done(c, s, cc, ids[s->idx], &results[s->idx]);
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
}

int dk_container_remove(struct dk_client *c, const char *id, bool force, bool volumes,
			struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/containers/%s?force=%d&v=%d", eid, force, volumes);
	_cleanup_free_ char *what = what_of("remove container", id);
	return engine_request(c, DK_OP_REMOVE, "DELETE", path, NULL, c->timeout_ms + slack_ms(c), what, NULL, st, err);
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
	return engine_request(c, DK_OP_UPDATE, "POST", path, body, 0, what, NULL, st, err);
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
