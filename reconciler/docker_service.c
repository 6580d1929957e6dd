/*
 * docker_service.c — Swarm services: the request body, create, update,
 * remove, list, and the fingerprint that tells a service changed by hand.
 * See docker_swarm.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"
#include "docker_swarm.h"
#include "hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* the request body                                                   */

static void add_int(cJSON *o, const char *key, int64_t v)
{
	if (v)
		cJSON_AddNumberToObject(o, key, (double)v);
}

static void add_str(cJSON *o, const char *key, const char *v)
{
	if (v && *v)
		cJSON_AddStringToObject(o, key, v);
}

static void add_strv(cJSON *o, const char *key, const char *const *v, size_t n)
{
	if (n)
		cJSON_AddItemToObject(o, key, jstrarray(v, n));
}

static void add_labels(cJSON *o, const char *key, const struct rc_kv *kv, size_t n)
{
	if (n)
		cJSON_AddItemToObject(o, key, jkvobject(kv, n));
}

/* o[key] when it has members, else o is left as it was (the object is freed). */
static void add_nonempty(cJSON *o, const char *key, cJSON *child)
{
	if (child->child)
		cJSON_AddItemToObject(o, key, child);
	else
		cJSON_Delete(child);
}

static const char *mount_type(enum dk_mount_type t)
{
	switch (t) {
	case DK_MOUNT_BIND:
		return "bind";
	case DK_MOUNT_TMPFS:
		return "tmpfs";
	case DK_MOUNT_VOLUME:
		break;
	}
	return "volume";
}

static cJSON *container_spec(const struct dk_service_spec *s)
{
	cJSON *cs = cJSON_CreateObject();
	add_str(cs, "Image", s->image);
	add_labels(cs, "Labels", s->container_labels, s->ncontainer_labels);
	add_strv(cs, "Command", s->entrypoint, s->nentrypoint);
	add_strv(cs, "Args", s->command, s->ncommand);
	if (s->nenv) {
		cJSON *env = cJSON_AddArrayToObject(cs, "Env");
		for (size_t i = 0; i < s->nenv; i++) {
			_cleanup_free_ char *kv = xasprintf("%s=%s", s->env[i].key, s->env[i].value ? s->env[i].value : "");
			cJSON_AddItemToArray(env, cJSON_CreateString(kv));
		}
	}
	add_str(cs, "User", s->user);
	add_str(cs, "Dir", s->workdir);
	add_str(cs, "StopSignal", s->stop_signal);
	add_int(cs, "StopGracePeriod", s->stop_grace_ns);
	if (s->init)
		cJSON_AddBoolToObject(cs, "Init", true);
	if (s->read_only)
		cJSON_AddBoolToObject(cs, "ReadOnly", true);
	add_strv(cs, "CapabilityAdd", s->cap_add, s->ncap_add);
	add_strv(cs, "CapabilityDrop", s->cap_drop, s->ncap_drop);
	if (s->nmounts) {
		cJSON *ms = cJSON_AddArrayToObject(cs, "Mounts");
		for (size_t i = 0; i < s->nmounts; i++) {
			const struct dk_svc_mount *m = &s->mounts[i];
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "Type", mount_type(m->type));
			if (m->type != DK_MOUNT_TMPFS)
				add_str(e, "Source", m->source);
			cJSON_AddStringToObject(e, "Target", m->target ? m->target : "");
			if (m->read_only)
				cJSON_AddBoolToObject(e, "ReadOnly", true);
			cJSON_AddItemToArray(ms, e);
		}
	}
	if (s->nsecrets) {
		cJSON *ss = cJSON_AddArrayToObject(cs, "Secrets");
		for (size_t i = 0; i < s->nsecrets; i++) {
			const struct dk_svc_secret *sec = &s->secrets[i];
			cJSON *e = cJSON_CreateObject();
			cJSON *f = cJSON_AddObjectToObject(e, "File");
			cJSON_AddStringToObject(f, "Name", sec->target ? sec->target : sec->secret_name);
			cJSON_AddStringToObject(f, "UID", "0");
			cJSON_AddStringToObject(f, "GID", "0");
			cJSON_AddNumberToObject(f, "Mode", sec->mode ? sec->mode : 0444);
			add_str(e, "SecretID", sec->secret_id);
			add_str(e, "SecretName", sec->secret_name);
			cJSON_AddItemToArray(ss, e);
		}
	}
	cJSON *hc = cJSON_CreateObject();
	if (s->health_disable) {
		const char *none[] = { "NONE" };
		cJSON_AddItemToObject(hc, "Test", jstrarray(none, 1));
	} else {
		if (s->health_cmd) {
			const char *t[] = { "CMD-SHELL", s->health_cmd };
			cJSON_AddItemToObject(hc, "Test", jstrarray(t, 2));
		}
		add_int(hc, "Interval", s->health_interval_ns);
		add_int(hc, "Timeout", s->health_timeout_ns);
		add_int(hc, "StartPeriod", s->health_start_period_ns);
		add_int(hc, "Retries", s->health_retries);
	}
	add_nonempty(cs, "Healthcheck", hc);
	return cs;
}

/* UpdateConfig and RollbackConfig.  A rollback never rolls back (swarmkit pauses it): its failure
 * action is "pause" where the update's is "rollback". */
static cJSON *update_config(const struct dk_service_spec *s, bool rollback)
{
	cJSON *u = cJSON_CreateObject();
	add_int(u, "Parallelism", (int64_t)s->update_parallelism);
	add_int(u, "Delay", s->update_delay_ns);
	const char *fa = s->update_failure_action;
	if (rollback && fa && strcmp(fa, "rollback") == 0)
		fa = "pause";
	add_str(u, "FailureAction", fa);
	add_int(u, "Monitor", s->update_monitor_ns);
	add_str(u, "Order", s->update_order);
	return u;
}

static cJSON *service_body(const struct dk_service_spec *s)
{
	cJSON *o = cJSON_CreateObject();
	add_str(o, "Name", s->name);
	add_labels(o, "Labels", s->labels, s->nlabels);

	cJSON *tt = cJSON_AddObjectToObject(o, "TaskTemplate");
	cJSON_AddItemToObject(tt, "ContainerSpec", container_spec(s));
	cJSON *res = cJSON_CreateObject();
	cJSON *lim = cJSON_CreateObject();
	add_int(lim, "NanoCPUs", s->nano_cpus);
	add_int(lim, "MemoryBytes", s->memory);
	add_int(lim, "Pids", s->pids_limit);
	add_nonempty(res, "Limits", lim);
	cJSON *rsv = cJSON_CreateObject();
	add_int(rsv, "NanoCPUs", s->nano_cpus_reservation);
	add_int(rsv, "MemoryBytes", s->memory_reservation);
	add_nonempty(res, "Reservations", rsv);
	add_nonempty(tt, "Resources", res);
	cJSON *rp = cJSON_CreateObject();
	add_str(rp, "Condition", s->restart_condition);
	add_int(rp, "Delay", s->restart_delay_ns);
	add_int(rp, "MaxAttempts", (int64_t)s->restart_max_attempts);
	add_nonempty(tt, "RestartPolicy", rp);
	cJSON *pl = cJSON_CreateObject();
	add_strv(pl, "Constraints", s->constraints, s->nconstraints);
	if (s->nspread) {
		cJSON *prefs = cJSON_AddArrayToObject(pl, "Preferences");
		for (size_t i = 0; i < s->nspread; i++) {
			cJSON *p = cJSON_CreateObject();
			cJSON *sp = cJSON_AddObjectToObject(p, "Spread");
			cJSON_AddStringToObject(sp, "SpreadDescriptor", s->spread[i]);
			cJSON_AddItemToArray(prefs, p);
		}
	}
	add_nonempty(tt, "Placement", pl);
	if (s->nnetworks) {
		cJSON *nets = cJSON_AddArrayToObject(tt, "Networks");
		for (size_t i = 0; i < s->nnetworks; i++) {
			cJSON *n = cJSON_CreateObject();
			cJSON_AddStringToObject(n, "Target", s->networks[i]);
			add_strv(n, "Aliases", s->aliases, s->naliases);
			cJSON_AddItemToArray(nets, n);
		}
	}

	cJSON *rep = cJSON_AddObjectToObject(cJSON_AddObjectToObject(o, "Mode"), "Replicated");
	cJSON_AddNumberToObject(rep, "Replicas", (double)s->replicas);
	add_nonempty(o, "UpdateConfig", update_config(s, false));
	add_nonempty(o, "RollbackConfig", update_config(s, true));
	if (s->nports || s->endpoint_mode) {
		cJSON *ep = cJSON_AddObjectToObject(o, "EndpointSpec");
		cJSON_AddStringToObject(ep, "Mode", s->endpoint_mode ? s->endpoint_mode : "vip");
		cJSON *ports = cJSON_AddArrayToObject(ep, "Ports");
		for (size_t i = 0; i < s->nports; i++) {
			const struct dk_svc_port *p = &s->ports[i];
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "Protocol", p->proto ? p->proto : "tcp");
			cJSON_AddNumberToObject(e, "TargetPort", p->target);
			add_int(e, "PublishedPort", p->published);
			cJSON_AddStringToObject(e, "PublishMode", p->mode ? p->mode : "ingress");
			cJSON_AddItemToArray(ports, e);
		}
	}
	return o;
}

char *dk_service_body(const struct dk_service_spec *s)
{
	cJSON *o = service_body(s);
	char *body = jprint(o);
	cJSON_Delete(o);
	return body;
}

/* ------------------------------------------------------------------ */
/* the fingerprint                                                    */

/*
 * What the engine (20.10.24) does to a Spec between the body we send and
 * what GET /services returns, and what `docker service update` (CLI 20.10)
 * does to it when it sends the Spec back with one change: each is a rule of
 * the canonical form hashed below (checked by t-docker-swarm on recorded
 * replies and by t0905 on a live swarm).
 *
 *  - networks given by name come back by id (TaskTemplate.Networks[].Target):
 *    targets are left out (a network's count and aliases stay); so is a
 *    secret's SecretID (it is named by SecretName, which names its content);
 *  - defaults are written in: ContainerSpec.Isolation "default",
 *    TaskTemplate.Runtime "container", TaskTemplate.ForceUpdate 0,
 *    RestartPolicy.Condition "any" and MaxAttempts 0 (when a RestartPolicy
 *    is given), Update/RollbackConfig FailureAction "pause", Order
 *    "stop-first", MaxFailureRatio 0 (when either is given), EndpointSpec
 *    Mode "vip", Ports[].Protocol "tcp", PublishMode "ingress";
 *    Mode.Replicated without Replicas becomes 1: all read as their default;
 *  - zero values are dropped (false, 0, ""), empty objects kept
 *    (Resources.Limits {}, Placement {}), Labels {} always written: every
 *    member that is null, false, 0, "", [] or {} is dropped (but Replicas:
 *    0 replicas is no default);
 *  - durations stay integers in ns: nothing to do;
 *  - the CLI re-sorts on update: mounts by target after any change (even
 *    --label-add), env in map order after --env-add, constraints sorted:
 *    Env, Mounts, Secrets, Configs, CapabilityAdd/Drop, Networks and their
 *    Aliases, Placement.Constraints and EndpointSpec.Ports are sets here
 *    (sorted by their canonical text); Args, Command, Healthcheck.Test and
 *    Placement.Preferences keep their order (it means something);
 *  - TaskTemplate.ForceUpdate (`docker service update --force`: a restart,
 *    the spec unchanged) is left out, as are Labels and ContainerSpec.Labels
 *    (ours are written by the executor, others are the user's).
 * Everything else of the Spec is in, so a field set by hand that the
 * reconciler never sets (--hostname, --dns, --log-driver) changes it too.
 */
#define FP_DEPTH_MAX 32

struct fp_rule {
	const char *path;      /* "TaskTemplate.ContainerSpec.Env"; "[]" for an array's elements */
	const char *deflt;     /* a string value that reads as absent; NULL: the member is dropped */
};

static const struct fp_rule fp_drop[] = {
	{ "Labels", NULL },
	{ "TaskTemplate.ContainerSpec.Labels", NULL },
	{ "TaskTemplate.ForceUpdate", NULL },
	{ "TaskTemplate.Networks[].Target", NULL },
	{ "Networks[].Target", NULL },
	{ "TaskTemplate.ContainerSpec.Secrets[].SecretID", NULL },
	{ "TaskTemplate.ContainerSpec.Isolation", "default" },
	{ "TaskTemplate.Runtime", "container" },
	{ "TaskTemplate.RestartPolicy.Condition", "any" },
	{ "UpdateConfig.FailureAction", "pause" },
	{ "UpdateConfig.Order", "stop-first" },
	{ "RollbackConfig.FailureAction", "pause" },
	{ "RollbackConfig.Order", "stop-first" },
	{ "EndpointSpec.Mode", "vip" },
	{ "EndpointSpec.Ports[].Protocol", "tcp" },
	{ "EndpointSpec.Ports[].PublishMode", "ingress" },
};

static const char *const fp_sets[] = {
	"TaskTemplate.ContainerSpec.Env",
	"TaskTemplate.ContainerSpec.Mounts",
	"TaskTemplate.ContainerSpec.Secrets",
	"TaskTemplate.ContainerSpec.Configs",
	"TaskTemplate.ContainerSpec.CapabilityAdd",
	"TaskTemplate.ContainerSpec.CapabilityDrop",
	"TaskTemplate.Networks",
	"TaskTemplate.Networks[].Aliases",
	"Networks",
	"Networks[].Aliases",
	"TaskTemplate.Placement.Constraints",
	"EndpointSpec.Ports",
};

static bool fp_dropped(const char *path, const cJSON *v)
{
	for (size_t i = 0; i < ARRAY_SIZE(fp_drop); i++)
		if (strcmp(fp_drop[i].path, path) == 0)
			return !fp_drop[i].deflt || (cJSON_IsString(v) && strcmp(v->valuestring, fp_drop[i].deflt) == 0);
	return false;
}

static bool fp_is_set(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(fp_sets); i++)
		if (strcmp(fp_sets[i], path) == 0)
			return true;
	return false;
}

static bool fp_zero(const cJSON *v)
{
	if (cJSON_IsNull(v) || cJSON_IsFalse(v))
		return true;
	if (cJSON_IsNumber(v))
		return v->valuedouble == 0;
	if (cJSON_IsString(v))
		return !v->valuestring || !*v->valuestring;
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		return !v->child;
	return false;
}

struct fp_item {
	cJSON *node;
	char *key;    /* sort key: the member's name, or an element's canonical text */
};

static int fp_item_cmp(const void *a, const void *b)
{
	const struct fp_item *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c;
}

/* Relink parent's children in the order of items (n of them, every child once). */
static void fp_relink(cJSON *parent, struct fp_item *items, size_t n)
{
	parent->child = n ? items[0].node : NULL;
	for (size_t i = 0; i < n; i++) {
		items[i].node->prev = i ? items[i - 1].node : items[n - 1].node;  /* cJSON: head->prev is the tail */
		items[i].node->next = i + 1 < n ? items[i + 1].node : NULL;
	}
}

static int fp_canon(cJSON *v, const char *path, int depth);

static int fp_canon_object(cJSON *o, const char *path, int depth)
{
	bool replicated = strcmp(path, "Mode.Replicated") == 0;
	cJSON *c = o->child;
	while (c) {
		cJSON *next = c->next;
		const char *key = c->string ? c->string : "";
		_cleanup_free_ char *sub = *path ? xasprintf("%s.%s", path, key) : xstrdup(key);
		bool keep_zero = replicated && strcmp(key, "Replicas") == 0;
		if (fp_dropped(sub, c)) {
			cJSON_Delete(cJSON_DetachItemViaPointer(o, c));
		} else {
			if (fp_canon(c, sub, depth + 1) < 0)
				return -1;
			if (!keep_zero && fp_zero(c))
				cJSON_Delete(cJSON_DetachItemViaPointer(o, c));
		}
		c = next;
	}
	if (replicated && !cJSON_GetObjectItemCaseSensitive(o, "Replicas"))
		cJSON_AddNumberToObject(o, "Replicas", 1);  /* the engine's default */
	size_t n = 0;
	for (c = o->child; c; c = c->next)
		n++;
	if (n < 2)
		return 0;
	struct fp_item *items = xcalloc(n, sizeof(*items));
	size_t i = 0;
	for (c = o->child; c; c = c->next, i++) {
		items[i].node = c;
		items[i].key = c->string ? c->string : (char *)"";
	}
	qsort(items, n, sizeof(*items), fp_item_cmp);
	fp_relink(o, items, n);
	free(items);
	return 0;
}

static int fp_canon_array(cJSON *a, const char *path, int depth)
{
	_cleanup_free_ char *sub = xasprintf("%s[]", path);
	size_t n = 0;
	for (cJSON *c = a->child; c; c = c->next) {
		if (fp_canon(c, sub, depth + 1) < 0)
			return -1;
		n++;
	}
	if (n < 2 || !fp_is_set(path))
		return 0;
	struct fp_item *items = xcalloc(n, sizeof(*items));
	size_t i = 0;
	for (cJSON *c = a->child; c; c = c->next, i++) {
		items[i].node = c;
		items[i].key = jprint(c);
	}
	qsort(items, n, sizeof(*items), fp_item_cmp);
	fp_relink(a, items, n);
	for (i = 0; i < n; i++)
		free(items[i].key);
	free(items);
	return 0;
}

static int fp_canon(cJSON *v, const char *path, int depth)
{
	if (depth > FP_DEPTH_MAX)
		return -1;
	if (cJSON_IsObject(v))
		return fp_canon_object(v, path, depth);
	if (cJSON_IsArray(v))
		return fp_canon_array(v, path, depth);
	return 0;
}

/* The fingerprint of spec, canonicalised in place (the caller's tree is changed). */
static int fingerprint_tree(cJSON *spec, char ret[RC_HASH_HEX_LEN + 1], struct rc_err *err)
{
	if (!cJSON_IsObject(spec))
		return rc_errf(err, "a service spec is a JSON object");
	if (fp_canon(spec, "", 0) < 0)
		return rc_errf(err, "a service spec nested deeper than %d levels", FP_DEPTH_MAX);
	_cleanup_free_ char *text = jprint(spec);
	/* "svc1": the rules' version, so a change of them is a change of every fingerprint */
	_cleanup_free_ char *tagged = xasprintf("svc1\n%s", text);
	rc_hash128_hex(tagged, strlen(tagged), ret);
	return 0;
}

int dk_service_fingerprint(const char *spec_json, size_t len, char ret[RC_HASH_HEX_LEN + 1], struct rc_err *err)
{
	cJSON *j = cJSON_ParseWithLength(spec_json, len);
	char fp[RC_HASH_HEX_LEN + 1];
	int r = fingerprint_tree(j, fp, err);
	cJSON_Delete(j);
	if (r == 0)
		memcpy(ret, fp, sizeof(fp));
	return r;
}

/* ------------------------------------------------------------------ */
/* create, update, remove                                             */

/* A create or an update, with the registry credentials the nodes pull with when there are some. */
static int service_request(struct dk_client *c, enum dk_op op, const char *path, const struct dk_service_spec *s,
			   const char *what, cJSON **ret_json, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *body = dk_service_body(s);
	char *header = s->registry_auth ? xasprintf("X-Registry-Auth: %s", s->registry_auth) : NULL;
	int r = engine_request_h(c, op, "POST", path, body, header, what, ret_json, st, err);
	if (header) {
		explicit_bzero(header, strlen(header));
		free(header);
	}
	return r;
}

int dk_service_create(struct dk_client *c, const struct dk_service_spec *s, char **ret_id,
		      struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *what = what_of("create service", s->name);
	cJSON *j = NULL;
	if (service_request(c, DK_OP_SERVICE_CREATE, API "/services/create", s, what, &j, st, err) < 0)
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

int dk_service_update(struct dk_client *c, const char *id, uint64_t version, const struct dk_service_spec *s,
		      struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *what = what_of("update service", s->name ? s->name : id);
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/services/%s/update?version=%" PRIu64, eid, version);
	return service_request(c, DK_OP_SERVICE_UPDATE, path, s, what, NULL, st, err);
}

int dk_service_remove(struct dk_client *c, const char *id, struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/services/%s", eid);
	_cleanup_free_ char *what = what_of("remove service", id);
	return engine_request(c, DK_OP_SERVICE_REMOVE, "DELETE", path, NULL, 0, what, NULL, st, err);
}

/* ------------------------------------------------------------------ */
/* the list                                                           */

static uint64_t jcount(const cJSON *o, const char *key)
{
	int64_t v = jint(o, key);
	return v > 0 ? (uint64_t)v : 0;
}

static void service_release(struct dk_service *s)
{
	free(s->id);
	free(s->name);
	jkv_free(s->labels, s->nlabels);
	free(s->image);
	jstrv_free(s->networks, s->nnetworks);
	free(s->published);
	free(s->update_state);
	free(s->update_message);
	free(s->fingerprint);
	free(s->created_at);
	free(s->updated_at);
}

void dk_service_list_free(struct dk_service_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		service_release(&l->items[i]);
	free(l->items);
	free(l);
}

const struct dk_service *dk_service_find(const struct dk_service_list *l, const char *name)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (l->items[i].name && strcmp(l->items[i].name, name) == 0)
			return &l->items[i];
	return NULL;
}

/* One service of the list; false (nothing kept) without an ID. */
static bool parse_service(cJSON *j, struct dk_service *s)
{
	const char *id = jstr(j, "ID");
	if (!id || !*id)
		return false;
	s->id = xstrdup(id);
	s->version = jcount(jget(j, "Version"), "Index");
	s->created_at = jdup(j, "CreatedAt");
	s->updated_at = jdup(j, "UpdatedAt");
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(j, "Spec");
	s->name = jdup(spec, "Name");
	s->labels = jkv(jget(spec, "Labels"), &s->nlabels);
	const cJSON *tt = jget(spec, "TaskTemplate");
	s->image = jdup(jget(tt, "ContainerSpec"), "Image");
	const cJSON *rep = jget(jget(spec, "Mode"), "Replicated");
	s->replicated = cJSON_IsObject(rep);
	s->replicas = s->replicated ? (jget(rep, "Replicas") ? jcount(rep, "Replicas") : 1) : 0;
	const cJSON *ss = jget(j, "ServiceStatus");
	s->running_tasks = jcount(ss, "RunningTasks");
	s->desired_tasks = jcount(ss, "DesiredTasks");
	size_t cap = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, jget(tt, "Networks")) {
		const char *t = jstr(e, "Target");
		if (!t)
			continue;
		GROW(s->networks, s->nnetworks + 1, cap);
		s->networks[s->nnetworks++] = xstrdup(t);
	}
	cap = 0;
	cJSON_ArrayForEach(e, jget(jget(j, "Endpoint"), "Ports")) {
		int64_t p = jint(e, "PublishedPort");
		if (p <= 0 || p > 65535)
			continue;
		GROW(s->published, s->npublished + 1, cap);
		s->published[s->npublished++] = (uint16_t)p;
	}
	const cJSON *us = jget(j, "UpdateStatus");
	s->update_state = jdup_nonempty(us, "State");
	s->update_message = jdup_nonempty(us, "Message");
	char fp[RC_HASH_HEX_LEN + 1];
	if (spec && fingerprint_tree(spec, fp, NULL) == 0)  /* last: it changes the Spec */
		s->fingerprint = xstrdup(fp);
	return true;
}

/* The services of a list reply (parse_service() fingerprints each Spec, which changes j). */
static struct dk_service_list *services_of(cJSON *j)
{
	struct dk_service_list *l = xcalloc(1, sizeof(*l));
	l->items = xcalloc((size_t)cJSON_GetArraySize(j) + 1, sizeof(*l->items));
	cJSON *e;
	cJSON_ArrayForEach(e, j)
		if (cJSON_IsObject(e) && parse_service(e, &l->items[l->n]))
			l->n++;
	return l;
}

int dk_decode_service_list(const char *json, size_t len, struct dk_service_list **ret, struct rc_err *err)
{
	cJSON *j = json_array_parse(json, len, "service list", err);
	if (!j)
		return -1;
	*ret = services_of(j);
	cJSON_Delete(j);
	return 0;
}

int dk_service_list(struct dk_client *c, const struct dk_filter *filters, size_t nfilters,
		    struct dk_service_list **ret_list, struct dk_status *st, struct rc_err *err)
{
	cJSON *j = NULL;
	if (engine_list(c, DK_OP_SERVICE_LIST, API "/services?status=true", filters, nfilters, "list services", &j,
			st, err) < 0)
		return -1;
	*ret_list = services_of(j);
	cJSON_Delete(j);
	return 0;
}
