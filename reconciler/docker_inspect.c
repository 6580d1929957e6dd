/*
 * docker_inspect.c — containers: list, inspect, inspect many at once, and decoding their replies without an engine.
 * See docker.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	jkv_free(s->labels, s->nlabels);
	for (size_t i = 0; i < s->nports; i++) {
		free(s->ports[i].type);
		free(s->ports[i].ip);
	}
	free(s->ports);
	jstrv_free(s->networks, s->nnetworks);
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
	if (engine_request(c, DK_OP_LIST, "GET", path, NULL, 0, "list containers", &j, st, err) < 0)
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
	if (engine_request_x(c, DK_OP_LIST, "GET", path, NULL, 0, "list containers", NULL, &body, st, err) < 0)
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
	jstrv_free(ct->env, ct->nenv);
	jkv_free(ct->labels, ct->nlabels);
	jstrv_free(ct->cmd, ct->ncmd);
	jstrv_free(ct->entrypoint, ct->nentrypoint);
	jstrv_free(ct->health_test, ct->nhealth_test);
	jstrv_free(ct->exposed_ports, ct->nexposed_ports);
	sk_values_release(ct->fields);
	free(ct->pid_mode);
	free(ct->ipc_mode);
	jstrv_free(ct->cap_add, ct->ncap_add);
	jstrv_free(ct->devices, ct->ndevices);
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
		jstrv_free(ct->networks[i].aliases, ct->networks[i].naliases);
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

int dk_container_inspect(struct dk_client *c, const char *id, struct dk_container **ret,
			 struct dk_status *st, struct rc_err *err)
{
	_cleanup_free_ char *eid = esc_path(id);
	_cleanup_free_ char *path = xasprintf(API "/containers/%s/json", eid);
	_cleanup_free_ char *what = what_of("inspect container", id);
	cJSON *j = NULL;
	if (engine_request(c, DK_OP_INSPECT, "GET", path, NULL, 0, what, &j, st, err) < 0)
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
			count_op(c, DK_OP_INSPECT);
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
		bool seen_id = false;
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
				/* the first Id key only, as cJSON reads it: a later one never counts, even when
				 * the first is empty or not a string (found by fuzz-docker-json) */
				if (is_id && !seen_id) {
					seen_id = true;
					if (*v == '"' && p - v > 2) {
						/* an id is hex: one with an escape is no id */
						if (memchr(v + 1, '\\', (size_t)(p - v - 2)))
							goto bad;
						id = v + 1;
						idlen = (size_t)(p - v - 2);
					}
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
