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

int dk_container_net_bytes(struct dk_client *c, const char *id, uint64_t *ret_rx, uint64_t *ret_tx,
			   bool *ret_counted, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/containers/%s/stats?stream=false&one-shot=true", eid);
	_cleanup_free_ char *what = what_of("stats of container", id);
	cJSON *j = NULL;
	if (engine_request(c, DK_OP_STATS, "GET", path, NULL, 0, what, &j, st, err) < 0)
		return -1;
	uint64_t rx = 0, tx = 0;
	const cJSON *nets = cJSON_GetObjectItemCaseSensitive(j, "networks"), *n;
	cJSON_ArrayForEach(n, nets) {
		int64_t r = jint(n, "rx_bytes"), t = jint(n, "tx_bytes");
		rx += r > 0 ? (uint64_t)r : 0;
		tx += t > 0 ? (uint64_t)t : 0;
	}
	*ret_counted = cJSON_IsObject(nets) && nets->child;
	cJSON_Delete(j);
	*ret_rx = rx;
	*ret_tx = tx;
	return 0;
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
