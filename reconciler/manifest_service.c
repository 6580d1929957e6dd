/*
 * manifest_service.c — pass 2 for a service's keys (a shared Service, a
 * Template's services): mf_parse_svc() and the grammars only services have —
 * port entries, volumes and tmpfs, depends_on, health.
 */
#include "manifest_int.h"

#include <string.h>

#include "buf.h"

#include "speckeys.h"
#include "strmap.h"
#include "util.h"

/* "[IP:]HOST:CONTAINER[/PROTO]"; published: a bit per container port and protocol */
static void parse_port_entry(struct ctx *c, struct osvc *s, const struct ynode *it, uint64_t *published)
{
	const char *str = mf_as_str(c, it, "ports");
	if (!str)
		return;
	char *t = mf_keep(c, xstrdup(str));
	const char *proto = "tcp";
	char *slash = strchr(t, '/');
	if (slash) {
		*slash = '\0';
		proto = slash + 1;
		if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) {
			mf_diag(c, it, "port protocol '%s' is not 'tcp' or 'udp'", mf_shown(c, proto));
			return;
		}
	}
	if (strchr(t, '-')) {
		mf_diag(c, it, "port ranges are not supported: '%s'", mf_shown(c, str));
		return;
	}
	char *parts[3];
	int np = 0;
	for (char *p = t; np < 3;) {
		parts[np++] = p;
		char *colon = strchr(p, ':');
		if (!colon)
			break;
		*colon = '\0';
		p = colon + 1;
		if (np == 3) {
			np = 4;
			break;
		}
	}
	if (np == 1) {
		mf_diag(c, it, "'ports' entry '%s' has no host port: write 'HOST:%s' (Docker would pick a random one)",
		     mf_shown(c, str), mf_shown(c, t));
		return;
	}
	if (np > 3) {
		mf_diag(c, it, "'ports' entry '%s' is not [IP:]HOST:CONTAINER[/tcp|udp]", mf_shown(c, str));
		return;
	}
	struct oport o = { .proto = proto, .at = it };
	const char *hs = parts[np - 2], *cs = parts[np - 1];
	if (np == 3) {
		uint32_t a;
		if (!ipv4_parse(parts[0], &a)) {
			mf_diag(c, it, "'%s' is not an IPv4 address in '%s'", mf_shown(c, parts[0]), mf_shown(c, str));
			return;
		}
		if (a != 0)   /* 0.0.0.0 is "all addresses", the same as no address */
			o.ip = parts[0];
	}
	if (!mf_parse_port(hs, &o.host) || !mf_parse_port(cs, &o.cont)) {
		mf_diag(c, it, "port numbers must be from 1 to 65535: '%s'", mf_shown(c, str));
		return;
	}
	size_t bit = (size_t)o.cont * 2 + (strcmp(o.proto, "udp") == 0);
	if (published[bit / 64] & (UINT64_C(1) << (bit % 64))) {
		mf_diag(c, it, "container port %u/%s is published twice", o.cont, o.proto);
		return;
	}
	if (s->has_port && o.cont == s->port && strcmp(o.proto, "tcp") == 0) {
		mf_diag(c, it, "container port %u/tcp is already published by 'port'", o.cont);
		return;
	}
	published[bit / 64] |= UINT64_C(1) << (bit % 64);
	GROW(s->ports, s->nports + 1, s->capports);
	s->ports[s->nports++] = o;
}

static void add_vol(struct ctx *c, struct osvc *s, enum rc_mount_kind kind, const char *src,
		    const char *target, bool ro, const struct ynode *at)
{
	if (!s->targets) {
		/* the secrets are parsed first: their mount points are taken */
		s->targets = strmap_new();
		s->secret_targets = strmap_new();
		for (size_t i = 0; i < s->secrets.n; i++)
			strmap_add(s->secret_targets, mf_keep(c, xasprintf("/run/secrets/%s", s->secrets.v[i].name)),
				   &s->secrets.v[i]);
	}
	if (strmap_get(s->targets, target)) {
		mf_diag(c, at, "'%s' is mounted twice", mf_shown(c, target));
		return;
	}
	const struct oref *secret = strmap_get(s->secret_targets, target);
	if (secret) {
		mf_diag(c, at, "'%s' is where secret '%s' is mounted", mf_shown(c, target), secret->name);
		return;
	}
	strmap_add(s->targets, target, (void *)(uintptr_t)at);
	GROW(s->vols, s->nvols + 1, s->capvols);
	s->vols[s->nvols++] = (struct ovol){ kind, src, target, ro, at };
}

static void parse_volume(struct ctx *c, struct osvc *s, const struct ynode *it)
{
	const struct osettings *set = &c->m->set;
	const char *str = mf_as_str(c, it, "volumes");
	if (!str)
		return;
	char *t = mf_keep(c, xstrdup(str));
	char *parts[4];
	int np = 0;
	for (char *p = t; np < 4;) {
		parts[np++] = p;
		char *colon = strchr(p, ':');
		if (!colon)
			break;
		*colon = '\0';
		p = colon + 1;
	}
	if (np == 1) {
		mf_diag(c, it, "anonymous volumes are not supported: name the volume ('NAME:%s')", mf_shown(c, str));
		return;
	}
	if (np > 3) {
		mf_diag(c, it, "'volumes' entry '%s' is not SOURCE:TARGET[:ro|rw]", mf_shown(c, str));
		return;
	}
	bool ro = false;
	if (np == 3) {
		if (strcmp(parts[2], "ro") == 0)
			ro = true;
		else if (strcmp(parts[2], "rw") != 0) {
			mf_diag(c, it, "volume mode '%s' is not 'ro' or 'rw'", mf_shown(c, parts[2]));
			return;
		}
	}
	const char *src = parts[0], *target = parts[1];
	if (!mf_clean_abs_path(target)) {
		mf_diag(c, it, "mount target '%s' must be a clean absolute path", mf_shown(c, target));
		return;
	}
	if (src[0] == '/') {
		if (!mf_clean_abs_path(src)) {
			mf_diag(c, it, "bind mount source '%s' must be a clean absolute path (no '.', '..', '//' or trailing '/')",
			     mf_shown(c, src));
			return;
		}
		const char *held;
		if (mf_bind_forbidden(src, &held)) {
			mf_diag(c, it, "bind mount of '%s' is never allowed (system directories and the Docker socket)",
			     mf_shown(c, src));
			return;
		}
		if (!set->root_tree || !mf_roots_hold(c, set->root_tree, src)) {
			if (set->bind_roots.n == 0)
				mf_diag(c, it, "bind mount of '%s' is not allowed by policy: Settings 'policy.bind_roots' is empty",
				     mf_shown(c, src));
			else
				mf_diag(c, it, "bind mount of '%s' is not allowed by policy: it is outside policy.bind_roots (%s)",
				     mf_shown(c, src), mf_diag_room(c) ? mf_roots_listed(c, &set->bind_roots) : "");
			return;
		}
		add_vol(c, s, RC_MOUNT_BIND, src, target, ro, it);
		return;
	}
	if (src[0] == '.' || src[0] == '~') {
		mf_diag(c, it, "relative bind mount source '%s' is not supported: use an absolute path", mf_shown(c, src));
		return;
	}
	if (!mf_valid_name(src) || strlen(src) < 2) {
		mf_diag(c, it, "invalid volume name '%s': use 2 to %d letters, digits, '_', '.', '-', starting with a letter or digit",
		     mf_shown(c, src), NAME_MAX_LEN);
		return;
	}
	add_vol(c, s, RC_MOUNT_VOLUME, src, target, ro, it);
}

static bool parse_cond(const char *s, enum rc_dep_cond *ret)
{
	if (strcmp(s, "started") == 0 || strcmp(s, "service_started") == 0)
		*ret = RC_DEP_STARTED;
	else if (strcmp(s, "healthy") == 0 || strcmp(s, "service_healthy") == 0)
		*ret = RC_DEP_HEALTHY;
	else if (strcmp(s, "completed") == 0 || strcmp(s, "service_completed_successfully") == 0)
		*ret = RC_DEP_COMPLETED;
	else
		return false;
	return true;
}

/* One dependency; a name listed again adds nothing (a list's items all mean "started"). */
static void add_dep(struct ctx *c, struct osvc *s, struct strmap *seen, const char *name,
		    enum rc_dep_cond cond, bool restart, const struct ynode *at)
{
	if (!mf_valid_name(name)) {
		mf_diag(c, at, "invalid service name '%s' in 'depends_on'", mf_shown(c, name));
		return;
	}
	if (strmap_add(seen, name, (void *)(uintptr_t)at))
		return;
	GROW(s->deps, s->ndeps + 1, s->capdeps);
	s->deps[s->ndeps++] = (struct odep){ name, cond, restart, at };
}

static void parse_depends(struct ctx *c, struct osvc *s, const struct ynode *y)
{
	static const char *const conds[] = { "started", "healthy", "completed" };
	_cleanup_(strmap_freep) struct strmap *seen = strmap_new();
	if (y->kind == Y_SEQ) {
		for (size_t i = 0; i < y->n; i++) {
			const char *n = mf_as_str(c, y->kids[i], "depends_on");
			if (n)
				add_dep(c, s, seen, n, RC_DEP_STARTED, false, y->kids[i]);
		}
		return;
	}
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'depends_on' must be a list of services or a mapping of service: condition");
		return;
	}
	for (size_t i = 0; i < y_npairs(y); i++) {
		const struct ynode *k = y_key(y, i), *v = y_val(y, i), *cv = v;
		bool restart = false;  /* compose's `restart: true`: restarted after the dependency */
		if (v->kind == Y_MAP) {
			static const char *const keys[] = { "condition", "restart", NULL };
			mf_check_keys(c, v, keys, "depends_on");
			mf_get_bool(c, v, "restart", &restart);
			cv = y_get(v, "condition");
			if (!cv) {
				add_dep(c, s, seen, k->str, RC_DEP_STARTED, restart, k);
				continue;
			}
		}
		const char *cs = mf_as_str(c, cv, "depends_on");
		if (!cs)
			continue;
		enum rc_dep_cond cond;
		if (!parse_cond(cs, &cond)) {
			mf_diag(c, cv, "unknown condition '%s': use started, healthy or completed%s", mf_shown(c, cs),
			     mf_mean(c, cs, conds, ARRAY_SIZE(conds)));
			continue;
		}
		add_dep(c, s, seen, k->str, cond, restart, k);
	}
}

static void parse_health(struct ctx *c, struct osvc *s, const struct ynode *y)
{
	static const char *const keys[] = { "cmd", "http", "port", "interval", "timeout", "retries",
					     "start_period", NULL };
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'health' must be a mapping");
		return;
	}
	mf_check_keys(c, y, keys, "health");
	struct rc_health *h = &s->health;
	const char *cmd = mf_get_str(c, y, "cmd");
	const char *http = mf_get_str(c, y, "http");
	s->health_at = y;
	if (y_get(y, "cmd") && y_get(y, "http")) {
		mf_diag(c, y, "'health' takes 'cmd' or 'http', not both");
		return;
	}
	if (!y_get(y, "cmd") && !y_get(y, "http")) {
		mf_diag(c, y, "'health' needs 'cmd' (a shell command) or 'http' (a path to probe)");
		return;
	}
	if (cmd) {
		h->kind = RC_HEALTH_CMD;
		h->cmd = (char *)(uintptr_t)cmd;
	}
	if (http) {
		if (http[0] != '/' || mf_has_ctl_or_space(http)) {
			mf_diag(c, y_get(y, "http"), "'http' must be a path starting with '/': '%s'", mf_shown(c, http));
		} else {
			h->kind = RC_HEALTH_HTTP;
			h->http_path = (char *)(uintptr_t)http;
		}
	}
	const struct ynode *py = y_get(y, "port");
	if (py) {
		if (!http)
			mf_diag(c, py, "'port' in 'health' only goes with 'http'");
		else if (py->kind != Y_SCALAR || !mf_parse_port(py->str, &h->http_port))
			mf_diag(c, py, "'port' must be a port number from 1 to 65535");
	}
	int64_t v;
	h->interval_ns = HEALTH_DEFAULT_INTERVAL_NS;
	h->timeout_ns = HEALTH_DEFAULT_TIMEOUT_NS;
	h->retries = HEALTH_DEFAULT_RETRIES;
	if (mf_get_duration(c, y, "interval", &v) > 0) {
		if (v < NS_PER_MS)
			mf_diag(c, y_get(y, "interval"), "'interval' must be at least 1ms");
		h->interval_ns = v;
	}
	if (mf_get_duration(c, y, "timeout", &v) > 0) {
		if (v < NS_PER_MS)
			mf_diag(c, y_get(y, "timeout"), "'timeout' must be at least 1ms");
		h->timeout_ns = v;
	}
	if (mf_get_duration(c, y, "start_period", &v) > 0)
		h->start_period_ns = v;
	if (mf_get_int(c, y, "retries", 1, 1000, &v) > 0)
		h->retries = (int)v;
}

/* tmpfs: a path or a list of them, each a clean absolute path other than "/". */
static void parse_tmpfs(struct ctx *c, struct osvc *s, const struct ynode *y)
{
	size_t n = y->kind == Y_SEQ ? y->n : 1;
	for (size_t i = 0; i < n; i++) {
		const struct ynode *it = y->kind == Y_SEQ ? y->kids[i] : y;
		const char *p = mf_as_str(c, it, "tmpfs");
		if (!p)
			continue;
		if (!mf_clean_abs_path(p) || strcmp(p, "/") == 0)
			mf_diag(c, it, "tmpfs target '%s' must be a clean absolute path", mf_shown(c, p));
		else
			add_vol(c, s, RC_MOUNT_TMPFS, NULL, p, false, it);
	}
}

/* The policies a service answers to: privileged only where Settings allows it; what Settings'
 * policy.require and the host policy's require ask for, set. */
static void check_svc_policy(struct ctx *c, const struct ynode *m, const struct osvc *s)
{
	const struct osettings *set = &c->m->set;
	for (int i = 0; i < SK__COUNT; i++) {
		const struct sk_row *r = sk_row((enum sk_id)i);
		const struct sk_value *v = mf_field_effective(c->m, s->fields, i);
		if (r->gate == SK_GATE_PRIVILEGED && v && v->num && !set->allow_privileged)
			mf_diag(c, y_get(m, r->key) ? y_get(m, r->key) : m,
			     "privileged containers are not allowed by policy (Settings policy.allow_privileged)");
	}
	for (size_t i = 0; i < set->nrequire; i++) {
		const struct sk_requirement *q = set->require[i];
		if (!sk_requirement_met(q, mf_field_effective(c->m, s->fields, (int)q->id)))
			mf_diag(c, m, "service '%s' does not set '%s', which Settings policy.require asks for (%s)",
			     s->name ? s->name : "?", q->how, q->name);
	}
	const struct ohostpol *hp = &c->m->host;
	for (size_t i = 0; i < hp->nrequire; i++) {
		const struct sk_requirement *q = hp->require[i];
		if (!sk_requirement_met(q, mf_field_effective(c->m, s->fields, (int)q->id)))
			mf_diag(c, m, "service '%s' does not set '%s', which the host policy requires (%s: require %s)",
			     s->name ? s->name : "?", q->how, hp->file, q->name);
	}
}

/* pid: host and ipc: host, where Settings policy.allow_host_namespaces allows them. */
static void parse_namespaces(struct ctx *c, const struct ynode *m, struct osvc *s)
{
	const struct osettings *set = &c->m->set;
	static const char *const ns_keys[] = { "pid", "ipc" };
	for (size_t i = 0; i < ARRAY_SIZE(ns_keys); i++) {
		const char *v = mf_get_str(c, m, ns_keys[i]);
		if (!v)
			continue;
		if (strcmp(v, "host") != 0) {
			mf_diag(c, y_get(m, ns_keys[i]), "'%s' can only be 'host'", ns_keys[i]);
			continue;
		}
		if (!set->allow_host_namespaces) {
			mf_diag(c, y_get(m, ns_keys[i]), "'%s: host' is not allowed by policy (Settings policy.allow_host_namespaces)",
			     ns_keys[i]);
			continue;
		}
		if (i == 0)
			s->pid_host = true;
		else
			s->ipc_host = true;
	}
}

/* cap_add: each capability known, never a forbidden one, in Settings policy.allow_cap_add. */
static void parse_cap_add(struct ctx *c, const struct ynode *m, struct osvc *s)
{
	const struct osettings *set = &c->m->set;
	struct refs caps = { 0 };
	mf_get_strings(c, m, "cap_add", &caps);
	for (size_t i = 0; i < caps.n; i++) {
		const char *cap = mf_cap_parse(c, caps.v[i].name, caps.v[i].at, "cap_add");
		if (!cap)
			continue;
		bool allowed = false;
		for (size_t j = 0; j < set->allow_cap_add.n && !allowed; j++)
			allowed = strcmp(set->allow_cap_add.v[j].name, cap) == 0;
		if (mf_cap_never(cap))
			mf_diag(c, caps.v[i].at, "capability '%s' is never allowed", cap);
		else if (!allowed)
			mf_diag(c, caps.v[i].at, "capability '%s' is not allowed by policy (Settings policy.allow_cap_add)", cap);
		else
			mf_refs_add(&s->cap_add, cap, caps.v[i].at);
	}
	free(caps.v);
}

/* devices: HOST[:CONTAINER[:PERMS]], the host device in Settings policy.allow_devices; kept as
 * host:container:perms. */
static void parse_devices(struct ctx *c, const struct ynode *m, struct osvc *s)
{
	const struct osettings *set = &c->m->set;
	struct refs devs = { 0 };
	mf_get_strings(c, m, "devices", &devs);
	for (size_t i = 0; i < devs.n; i++) {
		const char *d = devs.v[i].name;
		size_t hl = strcspn(d, ":");
		char *host = mf_keep(c, xstrndup(d, hl));
		bool allowed = false;
		for (size_t j = 0; j < set->allow_devices.n && !allowed; j++)
			allowed = strcmp(set->allow_devices.v[j].name, host) == 0;
		if (!allowed) {
			mf_diag(c, devs.v[i].at, "device '%s' is not allowed by policy (Settings policy.allow_devices)", mf_shown(c, host));
			continue;
		}
		/* normalize to host:container:perms */
		const char *rest = d[hl] ? d + hl + 1 : "";
		size_t cl = strcspn(rest, ":");
		char *cont = mf_keep(c, cl ? xstrndup(rest, cl) : xstrdup(host));
		const char *perms = rest[cl] ? rest + cl + 1 : "rwm";
		if (!mf_clean_abs_path(cont) || !*perms || strspn(perms, "rwm") != strlen(perms)) {
			mf_diag(c, devs.v[i].at, "device '%s' is not HOST[:CONTAINER[:PERMS]]", mf_shown(c, d));
			continue;
		}
		mf_refs_add(&s->devices, mf_keep(c, xasprintf("%s:%s:%s", host, cont, perms)), devs.v[i].at);
	}
	free(devs.v);

}

/* run: once — a one-shot job (its restart policy is "no": manifest_check.c refuses another) */
static void parse_run(struct ctx *c, const struct ynode *m, struct osvc *s)
{
	const struct ynode *y;
	if ((y = y_get(m, "run"))) {
		const char *run = mf_as_str(c, y, "run");
		s->run_at = y;
		if (run && strcmp(run, "once") == 0)
			s->run_once = true;
		else if (run)
			mf_diag(c, y, "'run' can only be 'once' (a one-shot job that runs to exit 0 once per spec): '%s'",
				mf_shown(c, run));
	}
	if (mf_get_duration(c, m, "run_timeout", &s->run_timeout) > 0) {
		if (!s->run_once)
			mf_diag(c, y_get(m, "run_timeout"), "'run_timeout' is for a one-shot job: add 'run: once'");
		else if (s->run_timeout < NS_PER_S)
			mf_diag(c, y_get(m, "run_timeout"), "'run_timeout' must be at least 1s");
	}
	if (s->run_once && s->health_at)
		mf_diag(c, s->health_at, "a one-shot job (run: once) has no 'health': it is done when it exits 0");
}

/* update_order: how a replacement goes.  start-first (the new container started before the old
 * one stops) needs both to run at once, so nothing either of them publishes on the host. */
static void parse_update_order(struct ctx *c, const struct ynode *m, struct osvc *s)
{
	const char *order = mf_get_str(c, m, "update_order");
	if (order && strcmp(order, "start-first") == 0) {
		s->start_first = true;
		if (s->has_port || s->nports)
			mf_diag(c, y_get(m, "update_order"),
			     "'update_order: start-first' needs a service that publishes no host port "
			     "(the old and the new container would both need it)");
	} else if (order && strcmp(order, "stop-first") != 0) {
		mf_diag(c, y_get(m, "update_order"), "'update_order' must be stop-first or start-first: '%s'",
		     mf_shown(c, order));
	}
}

/* A relative path of the repository, normalised ("./a//b/" -> "a/b", "." -> ""); NULL when it is
 * absolute or climbs out with "..". */
static char *rel_path(const char *in)
{
	if (in[0] == '/')
		return NULL;
	struct buf b = BUF_INIT;
	const char *p = in;
	while (*p) {
		while (*p == '/')
			p++;
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			buf_release(&b);
			return NULL;
		}
		if (n && !(n == 1 && p[0] == '.')) {
			if (b.len)
				buf_addc(&b, '/');
			buf_add(&b, p, n);
		}
		p = e;
	}
	return buf_detach(&b, NULL);
}

/* The build's tree id from the commit being loaded (manifest_opts.build_tree); a diagnostic at
 * the context when the commit does not hold it. */
static void resolve_build(struct ctx *c, const struct ynode *b, struct osvc *s)
{
	const struct ynode *cy = b->kind == Y_SCALAR ? b : y_get(b, "context");
	if (!c->opts || !c->opts->build_tree) {
		mf_diag(c, s->build_at, "'build' needs the manifests read from Git (--repo): the context is read "
		     "from the commit applied, and a directory (--dir) has none");
		return;
	}
	struct rc_err err = { 0 };
	char tree[41];
	if (c->opts->build_tree(c->opts->build_ctx, s->build_context, s->build_dockerfile, tree, &err) < 0) {
		mf_diag(c, cy, "build context '%s': %s", mf_shown(c, s->build_context), err.msg);
		return;
	}
	memcpy(s->build_tree, tree, sizeof(tree));
}

/* build: {context, dockerfile, args, target} — the image built from a directory of the repository
 * (spec/manifest.md, "Building images"). */
static void parse_build(struct ctx *c, const struct ynode *m, struct osvc *s)
{
	const struct ynode *b = y_get(m, "build");
	if (!b)
		return;
	if (b->kind != Y_MAP && b->kind != Y_SCALAR) {
		mf_diag(c, b, "'build' must be a directory or a mapping: {context: DIR, dockerfile: FILE, "
		     "args: {...}, target: STAGE}");
		return;
	}
	if (b->kind == Y_MAP) {
		static const char *const keys[] = { "context", "dockerfile", "args", "target", NULL };
		mf_check_keys(c, b, keys, "build");
	}
	if (y_get(m, "image")) {
		mf_diag(c, y_get(m, "image"), "'image' and 'build' cannot both be given: 'build' makes the image "
		     "(tagged <project>-build-%s:<tree id>)", s->name ? s->name : "SERVICE");
		return;
	}
	if (y_get(m, "pull"))
		mf_diag(c, y_get(m, "pull"), "'pull' is for an image from a registry: a 'build' image is made "
		     "from the repository (rebuilt when its context changes)");
	/* build: DIR is build: {context: DIR} */
	const struct ynode *cy = b->kind == Y_SCALAR ? b : y_get(b, "context");
	const char *ctxs = b->kind == Y_SCALAR ? mf_as_str(c, b, "build") : mf_get_str(c, b, "context");
	if (!cy) {
		mf_diag(c, b, "'build' needs a 'context': a directory of the repository, relative to its root");
		return;
	}
	if (!ctxs)
		return;
	char *norm = rel_path(ctxs);
	if (!norm) {
		mf_diag(c, cy, "build context '%s' must be a directory of the repository, relative to its root "
		     "(no leading '/', no '..')", mf_shown(c, ctxs));
		return;
	}
	s->build_context = mf_keep(c, norm);
	const char *df = "Dockerfile";
	const struct ynode *dy = b->kind == Y_MAP ? y_get(b, "dockerfile") : NULL;
	if (dy) {
		const char *d = mf_get_str(c, b, "dockerfile");
		if (!d)
			return;
		char *dn = rel_path(d);
		if (!dn || !*dn) {
			free(dn);
			mf_diag(c, dy, "dockerfile '%s' must be a file inside the build context (a relative path "
			     "without '..')", mf_shown(c, d));
			return;
		}
		df = mf_keep(c, dn);
	}
	s->build_dockerfile = df;
	if (b->kind == Y_MAP && y_get(b, "target")) {
		s->build_target = mf_get_str(c, b, "target");
		if (s->build_target && (!*s->build_target || mf_has_ctl_or_space(s->build_target))) {
			mf_diag(c, y_get(b, "target"), "invalid build target '%s'", mf_shown(c, s->build_target));
			return;
		}
	}
	if (b->kind == Y_MAP)
		mf_get_kvs(c, b, "args", false, &s->build_args);
	s->build_at = b;
	resolve_build(c, b, s);
}

/* pull: when the image is asked of its registry (always | missing | never). */
static void parse_pull(struct ctx *c, const struct ynode *m, struct osvc *s)
{
	const char *p = mf_get_str(c, m, "pull");
	if (!p || strcmp(p, "missing") == 0)
		s->pull = RC_PULL_MISSING;
	else if (strcmp(p, "always") == 0)
		s->pull = RC_PULL_ALWAYS;
	else if (strcmp(p, "never") == 0)
		s->pull = RC_PULL_NEVER;
	else
		mf_diag(c, y_get(m, "pull"), "'pull' must be always, missing or never: '%s'", mf_shown(c, p));
}

void mf_parse_svc(struct ctx *c, const struct ynode *m, struct osvc *s)
{
	const struct ynode *y;
	s->at = m;
	s->image = mf_get_str(c, m, "image");
	const char *why;
	if (!y_get(m, "image") && !y_get(m, "build"))
		mf_diag(c, m, "service '%s' has no 'image' (or 'build')", s->name ? s->name : "?");
	else if (s->image && !mf_image_ok(s->image, &why))
		mf_diag(c, y_get(m, "image"), "invalid image '%s': %s", mf_shown(c, s->image), why);
	parse_build(c, m, s);
	mf_get_argv(c, m, "command", &s->command, &s->ncommand);
	mf_get_argv(c, m, "entrypoint", &s->entrypoint, &s->nentrypoint);
	mf_get_kvs(c, m, "env", false, &s->env);
	mf_get_kvs(c, m, "labels", true, &s->labels);
	mf_parse_fields(c, m, SK_IN_SERVICE, s->fields);
	if ((y = y_get(m, "port"))) {
		if (y->kind != Y_SCALAR || !mf_parse_port(y->str, &s->port))
			mf_diag(c, y, "'port' must be a container port number from 1 to 65535");
		else
			s->has_port = true;
		s->port_at = y;
	}
	mf_get_names(c, m, "secrets", &s->secrets);
	if ((y = y_get(m, "ports")) && mf_is_seq(c, y, "ports") && y->n) {
		uint64_t *published = xcalloc(65536 * 2 / 64, sizeof(uint64_t));
		for (size_t i = 0; i < y->n; i++)
			parse_port_entry(c, s, y->kids[i], published);
		free(published);
	}
	if ((y = y_get(m, "volumes")) && mf_is_seq(c, y, "volumes"))
		for (size_t i = 0; i < y->n; i++)
			parse_volume(c, s, y->kids[i]);
	if ((y = y_get(m, "tmpfs")))
		parse_tmpfs(c, s, y);
	mf_get_names(c, m, "networks", &s->networks);
	if ((y = y_get(m, "health")))
		parse_health(c, s, y);
	if (s->health.kind == RC_HEALTH_HTTP && !s->health.http_port) {
		if (s->has_port)
			s->health.http_port = s->port;
		else if (s->nports)
			s->health.http_port = s->ports[0].cont;
		else
			mf_diag(c, s->health_at, "'health.http' needs a port: give 'health.port', 'port' or 'ports'");
	}
	if ((y = y_get(m, "depends_on")))
		parse_depends(c, s, y);
	if (mf_get_duration(c, m, "stop_grace_period", &s->stop_grace) > 0) {
		s->has_stop_grace = true;
		if (s->stop_grace % NS_PER_S)
			mf_diag(c, y_get(m, "stop_grace_period"), "'stop_grace_period' must be whole seconds (Docker counts it in seconds)");
	}
	if (y_get(m, "plan")) {
		s->plan = mf_get_name(c, m, "plan", "service", false);
		s->plan_at = y_get(m, "plan");
	}
	check_svc_policy(c, m, s);
	parse_namespaces(c, m, s);
	if ((y = y_get(m, "network_mode")))
		mf_diag(c, y, "'network_mode' is not supported: units join their customer's network and the networks in 'networks'");
	parse_cap_add(c, m, s);
	parse_devices(c, m, s);
	parse_run(c, m, s);
	parse_update_order(c, m, s);
	parse_pull(c, m, s);
	mf_parse_swarm(c, m, SWARM_REPLICAS | SWARM_PLACEMENT | SWARM_ROLLOUT | SWARM_PUBLISH, &s->sw);
}
