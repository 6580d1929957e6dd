/*
 * docker_network.c — networks and volumes.
 * See docker.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* networks                                                           */

static void network_release(struct dk_network *n)
{
	free(n->id);
	free(n->name);
	free(n->driver);
	jkv_free(n->labels, n->nlabels);
	jstrv_free(n->subnets, n->nsubnets);
	jstrv_free(n->containers, n->ncontainers);
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
	n->attachable = jbool(j, "Attachable");
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
	if (engine_request(c, DK_OP_NETWORK_LIST, "GET", path, NULL, 0, "list networks", &j, st, err) < 0)
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
	if (engine_request(c, DK_OP_NETWORK_INSPECT, "GET", path, NULL, 0, what, &j, st, err) < 0)
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
	if (s->attachable)
		cJSON_AddBoolToObject(o, "Attachable", true);
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
	if (engine_request(c, DK_OP_NETWORK_CREATE, "POST", API "/networks/create", body, 0, what, &j, st, err) < 0)
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
	return engine_request(c, DK_OP_NETWORK_REMOVE, "DELETE", path, NULL, 0, what, NULL, st, err);
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
	return engine_request(c, DK_OP_NETWORK_CONNECT, "POST", path, body, 0, what, NULL, st, err);
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
	return engine_request(c, DK_OP_NETWORK_DISCONNECT, "POST", path, body, 0, what, NULL, st, err);
}

/* ------------------------------------------------------------------ */
/* volumes                                                            */

static void volume_release(struct dk_volume *v)
{
	free(v->name);
	free(v->driver);
	free(v->mountpoint);
	jkv_free(v->labels, v->nlabels);
	jkv_free(v->options, v->noptions);
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
	if (engine_request(c, DK_OP_VOLUME_CREATE, "POST", API "/volumes/create", body, 0, what,
			   ret_vol ? &j : NULL, st, err) < 0)
		return -1;
	if (ret_vol) {
		struct dk_volume *v = xcalloc(1, sizeof(*v));
		volume_from_json(j, v);
		cJSON_Delete(j);
		*ret_vol = v;
	}
	return 0;
}

int dk_volume_inspect(struct dk_client *c, const char *name, struct dk_volume **ret, struct dk_status *st,
		      struct rc_err *err)
{
	_cleanup_free_ char *en = esc_path(name);
	_cleanup_free_ char *path = xasprintf(API "/volumes/%s", en);
	_cleanup_free_ char *what = what_of("inspect volume", name);
	cJSON *j = NULL;
	if (engine_request(c, DK_OP_VOLUME_INSPECT, "GET", path, NULL, 0, what, &j, st, err) < 0)
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
	return engine_request(c, DK_OP_VOLUME_REMOVE, "DELETE", path, NULL, 0, what, NULL, st, err);
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
