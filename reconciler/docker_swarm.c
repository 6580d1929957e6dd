/*
 * docker_swarm.c — the swarm as the engine sees it (GET /info), tasks,
 * nodes and secrets; services are docker_service.c.
 * See docker_swarm.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"
#include "docker_swarm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t jcount(const cJSON *o, const char *key)
{
	int64_t v = jint(o, key);
	return v > 0 ? (uint64_t)v : 0;
}

static int jsmall(const cJSON *o, const char *key)
{
	int64_t v = jint(o, key);
	return v < 0 ? 0 : v > 1000000 ? 1000000 : (int)v;
}

/* An array of objects as a list of n items of size sz, each filled by parse (false: skipped). */
static void *decode_array(const cJSON *j, size_t sz, bool (*parse)(const cJSON *e, void *item), size_t *ret_n)
{
	char *items = xcalloc((size_t)cJSON_GetArraySize(j) + 1, sz);
	size_t n = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, j)
		if (cJSON_IsObject(e) && parse(e, items + n * sz))
			n++;
	*ret_n = n;
	return items;
}

/* ------------------------------------------------------------------ */
/* swarm info                                                         */

void dk_swarm_info_release(struct dk_swarm_info *i)
{
	if (!i)
		return;
	free(i->state);
	free(i->node_id);
	free(i->cluster_id);
	free(i->error);
	memset(i, 0, sizeof(*i));
}

/* The Swarm object of an /info reply (j: the whole reply). */
static int parse_swarm_info(const cJSON *j, struct dk_swarm_info *ret, struct rc_err *err)
{
	const cJSON *sw = jget(j, "Swarm");
	const char *state = jstr(sw, "LocalNodeState");
	if (!state)
		return rc_errf(err, "an engine's info has no Swarm.LocalNodeState");
	struct dk_swarm_info i = { 0 };
	i.state = xstrdup(state);
	i.manager = jbool(sw, "ControlAvailable");
	i.node_id = jdup_nonempty(sw, "NodeID");
	i.cluster_id = jdup_nonempty(jget(sw, "Cluster"), "ID");
	i.nodes = jsmall(sw, "Nodes");
	i.managers = jsmall(sw, "Managers");
	i.error = jdup_nonempty(sw, "Error");
	*ret = i;
	return 0;
}

int dk_decode_swarm_info(const char *json, size_t len, struct dk_swarm_info *ret, struct rc_err *err)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	int r = parse_swarm_info(j, ret, err);
	cJSON_Delete(j);
	return r;
}

int dk_swarm_info(struct dk_client *c, struct dk_swarm_info *ret, struct dk_status *st, struct rc_err *err)
{
	cJSON *j = NULL;
	if (engine_request(c, DK_OP_SWARM_INFO, "GET", API "/info", NULL, 0, "swarm info", &j, st, err) < 0)
		return -1;
	int r = parse_swarm_info(j, ret, err);
	cJSON_Delete(j);
	if (r < 0)
		return rc_err_fault(err, "swarm info: the engine's reply has no Swarm.LocalNodeState");
	return 0;
}

/* ------------------------------------------------------------------ */
/* tasks                                                              */

static void task_release(struct dk_task *t)
{
	free(t->id);
	free(t->service_id);
	free(t->node_id);
	free(t->desired_state);
	free(t->state);
	free(t->message);
	free(t->error);
	free(t->container_id);
	free(t->hash);
	free(t->timestamp);
}

void dk_task_list_free(struct dk_task_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		task_release(&l->items[i]);
	free(l->items);
	free(l);
}

static bool parse_task(const cJSON *j, void *item)
{
	struct dk_task *t = item;
	const char *id = jstr(j, "ID");
	if (!id || !*id)
		return false;
	t->id = xstrdup(id);
	t->service_id = jdup_nonempty(j, "ServiceID");
	t->node_id = jdup_nonempty(j, "NodeID");
	t->slot = jcount(j, "Slot");
	t->desired_state = jdup_nonempty(j, "DesiredState");
	const cJSON *s = jget(j, "Status");
	t->state = jdup_nonempty(s, "State");
	t->message = jdup_nonempty(s, "Message");
	t->error = jdup_nonempty(s, "Err");
	t->timestamp = jdup_nonempty(s, "Timestamp");
	const cJSON *cs = jget(s, "ContainerStatus");
	t->container_id = jdup_nonempty(cs, "ContainerID");
	int64_t code = jint(cs, "ExitCode");
	t->exit_code = code < -1000000 ? -1000000 : code > 1000000 ? 1000000 : (int)code;
	t->hash = jdup_nonempty(jget(jget(jget(j, "Spec"), "ContainerSpec"), "Labels"), RC_LABEL_HASH);
	return true;
}

static struct dk_task_list *tasks_of(const cJSON *j)
{
	struct dk_task_list *l = xcalloc(1, sizeof(*l));
	l->items = decode_array(j, sizeof(*l->items), parse_task, &l->n);
	return l;
}

int dk_decode_task_list(const char *json, size_t len, struct dk_task_list **ret, struct rc_err *err)
{
	cJSON *j = json_array_parse(json, len, "task list", err);
	if (!j)
		return -1;
	*ret = tasks_of(j);
	cJSON_Delete(j);
	return 0;
}

int dk_task_list(struct dk_client *c, const struct dk_filter *filters, size_t nfilters,
		 struct dk_task_list **ret_list, struct dk_status *st, struct rc_err *err)
{
	cJSON *j = NULL;
	if (engine_list(c, DK_OP_TASK_LIST, API "/tasks", filters, nfilters, "list tasks", &j, st, err) < 0)
		return -1;
	*ret_list = tasks_of(j);
	cJSON_Delete(j);
	return 0;
}

/* ------------------------------------------------------------------ */
/* nodes                                                              */

static void node_release(struct dk_node *n)
{
	free(n->id);
	free(n->hostname);
	free(n->role);
	free(n->availability);
	free(n->state);
	free(n->addr);
	free(n->reachability);
	jkv_free(n->labels, n->nlabels);
}

void dk_node_list_free(struct dk_node_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		node_release(&l->items[i]);
	free(l->items);
	free(l);
}

const struct dk_node *dk_node_find(const struct dk_node_list *l, const char *id)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (strcmp(l->items[i].id, id) == 0)
			return &l->items[i];
	return NULL;
}

static bool parse_node(const cJSON *j, void *item)
{
	struct dk_node *n = item;
	const char *id = jstr(j, "ID");
	if (!id || !*id)
		return false;
	n->id = xstrdup(id);
	n->hostname = jdup_nonempty(jget(j, "Description"), "Hostname");
	const cJSON *spec = jget(j, "Spec");
	n->role = jdup_nonempty(spec, "Role");
	n->availability = jdup_nonempty(spec, "Availability");
	n->labels = jkv(jget(spec, "Labels"), &n->nlabels);
	const cJSON *st = jget(j, "Status");
	n->state = jdup_nonempty(st, "State");
	n->addr = jdup_nonempty(st, "Addr");
	const cJSON *ms = jget(j, "ManagerStatus");
	n->leader = jbool(ms, "Leader");
	n->reachability = jdup_nonempty(ms, "Reachability");
	return true;
}

static struct dk_node_list *nodes_of(const cJSON *j)
{
	struct dk_node_list *l = xcalloc(1, sizeof(*l));
	l->items = decode_array(j, sizeof(*l->items), parse_node, &l->n);
	return l;
}

int dk_decode_node_list(const char *json, size_t len, struct dk_node_list **ret, struct rc_err *err)
{
	cJSON *j = json_array_parse(json, len, "node list", err);
	if (!j)
		return -1;
	*ret = nodes_of(j);
	cJSON_Delete(j);
	return 0;
}

int dk_node_list(struct dk_client *c, struct dk_node_list **ret_list, struct dk_status *st, struct rc_err *err)
{
	cJSON *j = NULL;
	if (engine_list(c, DK_OP_NODE_LIST, API "/nodes", NULL, 0, "list nodes", &j, st, err) < 0)
		return -1;
	*ret_list = nodes_of(j);
	cJSON_Delete(j);
	return 0;
}

/* ------------------------------------------------------------------ */
/* secrets                                                            */

static void secret_release(struct dk_secret *s)
{
	free(s->id);
	free(s->name);
	jkv_free(s->labels, s->nlabels);
}

void dk_secret_list_free(struct dk_secret_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		secret_release(&l->items[i]);
	free(l->items);
	free(l);
}

static bool parse_secret(const cJSON *j, void *item)
{
	struct dk_secret *s = item;
	const char *id = jstr(j, "ID");
	const char *name = jstr(jget(j, "Spec"), "Name");
	if (!id || !*id || !name)
		return false;
	s->id = xstrdup(id);
	s->name = xstrdup(name);
	s->labels = jkv(jget(jget(j, "Spec"), "Labels"), &s->nlabels);
	return true;
}

static struct dk_secret_list *secrets_of(const cJSON *j)
{
	struct dk_secret_list *l = xcalloc(1, sizeof(*l));
	l->items = decode_array(j, sizeof(*l->items), parse_secret, &l->n);
	return l;
}

int dk_decode_secret_list(const char *json, size_t len, struct dk_secret_list **ret, struct rc_err *err)
{
	cJSON *j = json_array_parse(json, len, "secret list", err);
	if (!j)
		return -1;
	*ret = secrets_of(j);
	cJSON_Delete(j);
	return 0;
}

int dk_secret_list(struct dk_client *c, const struct dk_filter *filters, size_t nfilters,
		   struct dk_secret_list **ret_list, struct dk_status *st, struct rc_err *err)
{
	cJSON *j = NULL;
	if (engine_list(c, DK_OP_SECRET_LIST, API "/secrets", filters, nfilters, "list secrets", &j, st, err) < 0)
		return -1;
	*ret_list = secrets_of(j);
	cJSON_Delete(j);
	return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const unsigned char *p, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1), *o = out;
	size_t i = 0;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = b64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

int dk_secret_create(struct dk_client *c, const char *name, const void *data, size_t len, const struct rc_kv *labels,
		     size_t nlabels, char **ret_id, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *what = what_of("create secret", name);
	char *enc = base64(data, len);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Name", name);
	cJSON_AddItemToObject(o, "Labels", jkvobject(labels, nlabels));
	cJSON_AddStringToObject(o, "Data", enc);
	explicit_bzero(enc, strlen(enc));
	free(enc);
	char *body = jprint(o);
	cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "Data");
	explicit_bzero(d->valuestring, strlen(d->valuestring));
	cJSON_Delete(o);
	cJSON *j = NULL;
	int r = engine_request(c, DK_OP_SECRET_CREATE, "POST", API "/secrets/create", body, 0, what, &j, st, err);
	explicit_bzero(body, strlen(body));
	free(body);
	if (r < 0)
		return -1;
	const char *id = jstr(j, "ID");
	if (!id || !*id) {
		cJSON_Delete(j);
		return rc_err_fault(err, "%s: the engine's reply has no ID", what);
	}
	if (ret_id)
		*ret_id = xstrdup(id);
	cJSON_Delete(j);
	return 0;
}

int dk_secret_remove(struct dk_client *c, const char *id, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/secrets/%s", eid);
	_cleanup_free_ char *what = what_of("remove secret", id);
	return engine_request(c, DK_OP_SECRET_REMOVE, "DELETE", path, NULL, 0, what, NULL, st, err);
}
