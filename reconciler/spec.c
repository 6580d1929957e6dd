/* spec.c — see spec.h.  The rules are documented in spec/manifest.md ("Canonical form"). */
#include "spec.h"

#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "util.h"

struct lines {
	char **v;
	size_t n, cap;
};

void spec_escape(struct buf *b, const char *s, bool is_key)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_adds(b, "\\\\");
		else if (*s == '\n')
			buf_adds(b, "\\n");
		else if (is_key && *s == '=')
			buf_adds(b, "\\=");
		else
			buf_addc(b, *s);
	}
}

/* Append "key=value" (both escaped) unless it is a resource key and !with_resources. */
static void addkv(struct lines *l, bool with_resources, const char *key, const char *value)
{
	if (!with_resources && spec_key_is_resource(key))
		return;
	struct buf b = BUF_INIT;
	spec_escape(&b, key, true);
	buf_addc(&b, '=');
	spec_escape(&b, value, false);
	GROW(l->v, l->n + 1, l->cap);
	l->v[l->n++] = buf_detach(&b, NULL);
}

struct emit_ctx {
	struct lines *l;
	bool with_resources;
};

static void emit_line(void *ctx, const char *key, const char *value)
{
	struct emit_ctx *e = ctx;
	addkv(e->l, e->with_resources, key, value);
}

static void addint(struct lines *l, bool wr, const char *key, long long v)
{
	char num[32];
	snprintf(num, sizeof(num), "%lld", v);
	addkv(l, wr, key, num);
}

static char *json_argv(char **v, size_t n)
{
	struct buf b = BUF_INIT;
	buf_addc(&b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addc(&b, ',');
		buf_add_json_str(&b, v[i]);
	}
	buf_addc(&b, ']');
	return buf_detach(&b, NULL);
}

static const char *mount_kind(enum rc_mount_kind k)
{
	switch (k) {
	case RC_MOUNT_VOLUME: return "volume";
	case RC_MOUNT_BIND: return "bind";
	case RC_MOUNT_SECRET: return "secret";
	case RC_MOUNT_TMPFS: return "tmpfs";
	}
	return "?";
}

/* image, command, entrypoint, env.K, labels.K */
static void canon_process(const struct rc_unit *u, bool wr, struct lines *l)
{
	char *s;
	if (u->image)
		addkv(l, wr, "image", u->image);
	if (u->build) {   /* what the image is built from: the tag abbreviates it, this says it */
		const struct rc_build *b = u->build;
		addkv(l, wr, "build.context", *b->context ? b->context : ".");
		addkv(l, wr, "build.tree", b->tree);
		addkv(l, wr, "build.dockerfile", b->dockerfile);
		if (b->target)
			addkv(l, wr, "build.target", b->target);
		for (size_t i = 0; i < b->nargs; i++) {
			s = xasprintf("build.args.%s", b->args[i].key);
			addkv(l, wr, s, b->args[i].value);
			free(s);
		}
	}
	if (u->job)
		addkv(l, wr, "run", "once");
	if (u->command) {
		s = json_argv(u->command, u->ncommand);
		addkv(l, wr, "command", s);
		free(s);
	}
	if (u->entrypoint) {
		s = json_argv(u->entrypoint, u->nentrypoint);
		addkv(l, wr, "entrypoint", s);
		free(s);
	}
	for (size_t i = 0; i < u->nenv; i++) {
		s = xasprintf("env.%s", u->env[i].key);
		addkv(l, wr, s, u->env[i].value);
		free(s);
	}
	for (size_t i = 0; i < u->nlabels; i++) {
		s = xasprintf("labels.%s", u->labels[i].key);
		addkv(l, wr, s, u->labels[i].value);
		free(s);
	}
}

/* ports.P/PROTO, mounts.TARGET, secrets.NAME (their digests), networks.I */
static void canon_wiring(const struct rc_unit *u, bool wr, struct lines *l)
{
	char key[512];
	char *s;
	for (size_t i = 0; i < u->nports; i++) {
		const struct rc_port *p = &u->ports[i];
		char val[128];
		snprintf(key, sizeof(key), "ports.%u/%s", p->container_port, p->proto ? p->proto : "tcp");
		if (p->host_auto)
			snprintf(val, sizeof(val), "%s%sauto", p->host_ip ? p->host_ip : "",
				 p->host_ip ? ":" : "");
		else
			snprintf(val, sizeof(val), "%s%s%u", p->host_ip ? p->host_ip : "",
				 p->host_ip ? ":" : "", p->host_port);
		addkv(l, wr, key, val);
	}
	for (size_t i = 0; i < u->nmounts; i++) {
		const struct rc_mount *m = &u->mounts[i];
		char *k = xasprintf("mounts.%s", m->target);
		char *v = xasprintf("%s:%s:%s", mount_kind(m->kind), m->source ? m->source : "",
				    m->read_only ? "ro" : "rw");
		addkv(l, wr, k, v);
		free(k);
		free(v);
	}
	for (size_t i = 0; i < u->nsecrets; i++) {
		s = xasprintf("secrets.%s", u->secrets[i].name);
		addkv(l, wr, s, u->secrets[i].digest);
		free(s);
	}
	for (size_t i = 0; i < u->nnetworks; i++) {
		snprintf(key, sizeof(key), "networks.%zu", i);
		addkv(l, wr, key, u->networks[i]);
	}
}

/* health.* */
static void canon_health(const struct rc_unit *u, bool wr, struct lines *l)
{
	const struct rc_health *h = &u->health;
	if (h->kind == RC_HEALTH_CMD && h->cmd)
		addkv(l, wr, "health.cmd", h->cmd);
	if (h->kind == RC_HEALTH_HTTP && h->http_path) {
		addkv(l, wr, "health.http", h->http_path);
		if (h->http_port)
			addint(l, wr, "health.port", h->http_port);
	}
	if (h->kind != RC_HEALTH_NONE) {
		if (h->interval_ns)
			addint(l, wr, "health.interval", h->interval_ns);
		if (h->timeout_ns)
			addint(l, wr, "health.timeout", h->timeout_ns);
		if (h->start_period_ns)
			addint(l, wr, "health.start_period", h->start_period_ns);
		if (h->retries)
			addint(l, wr, "health.retries", h->retries);
	}
}

/* stop_grace, pid, ipc, cap_add.CAP, devices.I */
static void canon_host(const struct rc_unit *u, bool wr, struct lines *l)
{
	char key[512];
	char *s;
	addint(l, wr, "stop_grace", u->stop_grace_ns);
	if (u->pid_host)
		addkv(l, wr, "pid", "host");
	if (u->ipc_host)
		addkv(l, wr, "ipc", "host");
	for (size_t i = 0; i < u->ncap_add; i++) {
		s = xasprintf("cap_add.%s", u->cap_add[i]);
		addkv(l, wr, s, "true");
		free(s);
	}
	for (size_t i = 0; i < u->ndevices; i++) {
		snprintf(key, sizeof(key), "devices.%zu", i);
		addkv(l, wr, key, u->devices[i]);
	}
}

/* cpus, memory, memory_reservation, pids, restart.*: what an update in place may change */
static void canon_resources(const struct rc_unit *u, bool wr, struct lines *l)
{
	if (u->nano_cpus)
		addint(l, wr, "cpus", u->nano_cpus);
	if (u->memory)
		addint(l, wr, "memory", u->memory);
	if (u->memory_reservation)
		addint(l, wr, "memory_reservation", u->memory_reservation);
	if (u->pids_limit)
		addint(l, wr, "pids", u->pids_limit);
	if (u->restart.policy)
		addkv(l, wr, "restart.policy", u->restart.policy);
	if (u->restart.max_retries)
		addint(l, wr, "restart.max_retries", u->restart.max_retries);
}

/* engine: swarm only (rc_swarm.enabled): replicas, placement.constraint.C, placement.spread,
 * rollout.*, publish — so that a containers unit's text (and hashes) stay what they were */
static void canon_swarm(const struct rc_unit *u, bool wr, struct lines *l)
{
	const struct rc_swarm *w = &u->swarm;
	if (!w->enabled)
		return;
	addint(l, wr, "replicas", w->replicas ? (long long)w->replicas : 1);
	for (size_t i = 0; i < w->nconstraints; i++) {
		char *k = xasprintf("placement.constraint.%s", w->constraints[i]);
		addkv(l, wr, k, "true");
		free(k);
	}
	if (w->nspread) {
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < w->nspread; i++) {
			if (i)
				buf_addc(&b, ',');
			buf_adds(&b, w->spread[i]);
		}
		addkv(l, wr, "placement.spread", buf_cstr(&b));
		buf_release(&b);
	}
	addint(l, wr, "rollout.parallelism", (long long)w->parallelism);
	addint(l, wr, "rollout.delay", w->delay_ns);
	addint(l, wr, "rollout.monitor", w->monitor_ns);
	if (w->publish_mode && strcmp(w->publish_mode, "ingress") != 0)
		addkv(l, wr, "publish", w->publish_mode);
	/* a shared service's link networks are its service's networks on a swarm (swarm.h): a customer
	 * that comes or goes is an update of it, which must come before the link network's removal */
	for (size_t i = 0; i < u->nlinks; i++) {
		char *k = xasprintf("links.%s", u->links[i]);
		addkv(l, wr, k, "true");
		free(k);
	}
}

void spec_canonical(const struct rc_unit *u, bool wr, struct buf *out)
{
	struct lines l = { 0 };
	canon_process(u, wr, &l);
	canon_wiring(u, wr, &l);
	canon_health(u, wr, &l);
	canon_host(u, wr, &l);
	canon_resources(u, wr, &l);
	canon_swarm(u, wr, &l);
	/* the fields of the spec-key table */
	struct emit_ctx ec = { &l, wr };
	sk_canonical(u->fields, emit_line, &ec);

	qsort(l.v, l.n, sizeof(*l.v), strp_cmp);
	for (size_t i = 0; i < l.n; i++) {
		buf_adds(out, l.v[i]);
		buf_addc(out, '\n');
		free(l.v[i]);
	}
	free(l.v);
}

void spec_hash_unit(struct rc_unit *u)
{
	struct buf b = BUF_INIT;
	spec_canonical(u, true, &b);
	rc_hash128_hex(buf_cstr(&b), b.len, u->hash);
	buf_reset(&b);
	spec_canonical(u, false, &b);
	rc_hash128_hex(buf_cstr(&b), b.len, u->base_hash);
	buf_release(&b);
}

void spec_hash_units(struct rc_desired *d)
{
	for (size_t i = 0; i < d->nunits; i++)
		spec_hash_unit(&d->units[i]);
}

bool spec_key_is_resource(const char *key)
{
	static const char *const keys[] = { "cpus", "memory", "memory_reservation", "pids" };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	/* replicas and rollout.*: engine: swarm's (a service update changes them, no task is replaced
	 * for them); a containers unit has neither */
	if (strcmp(key, "replicas") == 0 || str_startswith(key, "rollout."))
		return true;
	return str_startswith(key, "restart.") || sk_ckey_in_place(key);
}

struct kvline {
	char *key;
	char *value;
};

static int kvline_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kvline *)a)->key, ((const struct kvline *)b)->key);
}

/* Split canonical text into (key, value) pairs; keys end at the first unescaped '='. */
static struct kvline *split_text(const char *text, size_t *ret_n)
{
	struct kvline *v = NULL;
	size_t n = 0, cap = 0;
	const char *p = text ? text : "";
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > 0) {
			size_t k = 0;
			while (k < len && p[k] != '=') {
				if (p[k] == '\\' && k + 1 < len)
					k++;
				k++;
			}
			GROW(v, n + 1, cap);
			v[n].key = xstrndup(p, k < len ? k : len);
			v[n].value = k < len ? xstrndup(p + k + 1, len - k - 1) : xstrdup("");
			n++;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	if (n)
		qsort(v, n, sizeof(*v), kvline_cmp);
	*ret_n = n;
	return v;
}

static void push_change(struct spec_changes *c, size_t *cap, const char *key, const char *before,
			const char *after)
{
	GROW(c->v, c->n + 1, *cap);
	c->v[c->n].key = xstrdup(key);
	c->v[c->n].before = before ? xstrdup(before) : NULL;
	c->v[c->n].after = after ? xstrdup(after) : NULL;
	c->n++;
}

void spec_diff(const char *before, const char *after, struct spec_changes *ret)
{
	if (strcmp(before, after) == 0) {  /* the common case (no drift, no change): nothing to split */
		*ret = (struct spec_changes){ NULL, 0 };
		return;
	}
	size_t na, nb, cap = 0;
	struct kvline *a = split_text(before, &na);
	struct kvline *b = split_text(after, &nb);
	struct spec_changes c = { NULL, 0 };
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		int cmp = i >= na ? 1 : j >= nb ? -1 : strcmp(a[i].key, b[j].key);
		if (cmp < 0) {
			push_change(&c, &cap, a[i].key, a[i].value, NULL);
			i++;
		} else if (cmp > 0) {
			push_change(&c, &cap, b[j].key, NULL, b[j].value);
			j++;
		} else {
			if (strcmp(a[i].value, b[j].value) != 0)
				push_change(&c, &cap, a[i].key, a[i].value, b[j].value);
			i++;
			j++;
		}
	}
	for (size_t k = 0; k < na; k++) {
		free(a[k].key);
		free(a[k].value);
	}
	for (size_t k = 0; k < nb; k++) {
		free(b[k].key);
		free(b[k].value);
	}
	free(a);
	free(b);
	*ret = c;
}

bool spec_changes_resource_only(const struct spec_changes *c)
{
	for (size_t i = 0; i < c->n; i++)
		if (!spec_key_is_resource(c->v[i].key))
			return false;
	return true;
}

void spec_changes_release(struct spec_changes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].key);
		free(c->v[i].before);
		free(c->v[i].after);
	}
	free(c->v);
	c->v = NULL;
	c->n = 0;
}
