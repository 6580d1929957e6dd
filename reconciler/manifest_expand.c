/*
 * manifest_expand.c — a valid set → rc_desired: one unit per shared Service
 * and per customer × template service, one network per customer plus the
 * shared ones, the link networks of tenant isolation, plans resolved; then
 * the checks only the expansion can make (host ports, subnets, container and
 * volume names).
 */
#include "manifest_int.h"

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "hash.h"
#include "speckeys.h"
#include "strmap.h"
#include "util.h"

/* --- expansion --- */

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_kv *)a)->key, ((const struct rc_kv *)b)->key);
}

/* The layers merged, later ones winning; sorted by key. */
static void set_kvs(struct rc_kv **ret, size_t *ret_n, const struct kvs *const *layers, size_t nl)
{
	struct kvs all = { 0 };
	size_t nonempty = 0;
	for (size_t l = 0; l < nl; l++)
		nonempty += layers[l] && layers[l]->n;
	/* one layer: its keys are unique already, nothing to merge */
	_cleanup_(strmap_freep) struct strmap *at = nonempty > 1 ? strmap_new() : NULL;   /* key -> index in all, plus 1 */
	for (size_t l = 0; l < nl; l++) {
		for (size_t i = 0; layers[l] && i < layers[l]->n; i++) {
			const struct okv *kv = &layers[l]->v[i];
			uintptr_t j = at ? (uintptr_t)strmap_get(at, kv->key) : 0;
			if (j) {
				all.v[j - 1].value = kv->value;
			} else {
				mf_kvs_add(&all, kv->key, kv->value, NULL);
				if (at)
					strmap_set(at, kv->key, (void *)(uintptr_t)all.n);
			}
		}
	}
	if (all.n == 0)
		return;
	struct rc_kv *v = xcalloc(all.n, sizeof(*v));
	for (size_t i = 0; i < all.n; i++) {
		v[i].key = xstrdup(all.v[i].key);
		v[i].value = xstrdup(all.v[i].value);
	}
	qsort(v, all.n, sizeof(*v), kv_cmp);
	*ret = v;
	*ret_n = all.n;
	free(all.v);
}

static char **copy_argv(char **v, size_t n)
{
	if (!v)
		return NULL;
	char **r = xcalloc(n + 1, sizeof(*r));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

static int port_cmp(const void *pa, const void *pb)
{
	const struct rc_port *a = pa, *b = pb;
	if (a->container_port != b->container_port)
		return a->container_port < b->container_port ? -1 : 1;
	return strcmp(a->proto, b->proto);
}

static int mount_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_mount *)a)->target, ((const struct rc_mount *)b)->target);
}

static int secret_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_secret *)a)->name, ((const struct rc_secret *)b)->name);
}

static int dep_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_dep *)a)->unit, ((const struct rc_dep *)b)->unit);
}

static int unit_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_unit *)a)->id, ((const struct rc_unit *)b)->id);
}

static int network_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_network *)a)->name, ((const struct rc_network *)b)->name);
}

/* What the global checks need to know about each unit and host port. */
struct hostport {
	uint16_t port;
	const char *proto, *ip;
	const char *unit;
	const struct ynode *at;
};
struct volown {
	const char *volume;
	const char *owner;     /* customer id, or "" for shared services */
	const char *unit;
	const struct ynode *at;
};
struct expand_aux {
	const struct ynode **unit_at;   /* parallel to d->units before sorting: kept by id */
	struct hostport *hp;
	size_t nhp, caphp;
	struct volown *vo;
	size_t nvo, capvo;
	size_t nauto;
};

/* The unit's ports: the service's own (each host port noted for the global checks), then the
 * customer port (a fixed one noted; port: auto counted). */
static void unit_ports(struct rc_unit *u, const struct osvc *s, const struct ocust *cu, struct expand_aux *aux)
{
	size_t np = s->nports + (s->has_port ? 1 : 0);
	if (np) {
		u->ports = xcalloc(np, sizeof(*u->ports));
		for (size_t i = 0; i < s->nports; i++) {
			struct rc_port *rp = &u->ports[u->nports++];
			rp->container_port = s->ports[i].cont;
			rp->host_port = s->ports[i].host;
			rp->host_ip = s->ports[i].ip ? xstrdup(s->ports[i].ip) : NULL;
			rp->proto = xstrdup(s->ports[i].proto);
			GROW(aux->hp, aux->nhp + 1, aux->caphp);
			aux->hp[aux->nhp++] = (struct hostport){ rp->host_port, s->ports[i].proto, s->ports[i].ip,
								 u->id, s->ports[i].at };
		}
		if (s->has_port) {
			struct rc_port *rp = &u->ports[u->nports++];
			rp->container_port = s->port;
			rp->proto = xstrdup("tcp");
			if (cu->has_port && !cu->port_auto) {
				rp->host_port = cu->port;
				GROW(aux->hp, aux->nhp + 1, aux->caphp);
				aux->hp[aux->nhp++] = (struct hostport){ cu->port, "tcp", NULL, u->id, cu->port_at };
			} else {
				rp->host_auto = true;
				aux->nauto++;
			}
		}
		qsort(u->ports, u->nports, sizeof(*u->ports), port_cmp);
	}
}

/* The unit's volume and bind mounts (a named volume of its own noted with its owner). */
static void unit_volumes(struct ctx *c, const char *proj, struct rc_unit *u, const struct osvc *s,
			 const struct ocust *cu, struct expand_aux *aux)
{
	for (size_t i = 0; i < s->nvols; i++) {
		const struct ovol *v = &s->vols[i];
		struct rc_mount *rm = &u->mounts[u->nmounts++];
		rm->kind = v->kind;
		rm->target = xstrdup(v->target);
		rm->read_only = v->ro;
		const struct oxvol *xv = v->kind == RC_MOUNT_VOLUME && !cu ? mf_find_xvol(c->m, v->src) : NULL;
		if (xv) {
			/* made outside reconciler: its own name, and shared services may share it */
			rm->source = xstrdup(xv->docker_name);
			rm->external = true;
		} else if (v->kind == RC_MOUNT_VOLUME) {
			rm->source = cu ? xasprintf("%s-%s-%s", proj, cu->id, v->src) : xasprintf("%s-%s", proj, v->src);
			GROW(aux->vo, aux->nvo + 1, aux->capvo);
			aux->vo[aux->nvo++] = (struct volown){ rm->source, cu ? cu->id : "", u->id, v->at };
		} else if (v->src) {
			rm->source = xstrdup(v->src);
		}
	}
}

/* The unit's secrets, each also a read-only mount at /run/secrets/NAME; then mounts and secrets
 * sorted. */
static void unit_secrets(struct ctx *c, struct pass3 *p, struct rc_unit *u, const struct osvc *s,
			 const struct otmpl *t, const struct ocust *cu)
{
	if (s->secrets.n)
		u->secrets = xcalloc(s->secrets.n, sizeof(*u->secrets));
	for (size_t i = 0; i < s->secrets.n; i++) {
		const char *name = s->secrets.v[i].name;
		const struct osecdecl *decl = NULL;
		if (cu && !(decl = mf_find_secdecl(&cu->secrets, name)))
			decl = mf_find_secdecl(t ? &t->secrets : NULL, name);
		const struct secret_entry *e = mf_secret_get(c, p, name, cu ? cu->id : NULL, decl, s->secrets.v[i].at);
		struct rc_secret *rs = &u->secrets[u->nsecrets++];
		rs->name = xstrdup(name);
		rs->path = e && e->path ? xstrdup(e->path) : NULL;
		if (decl) {
			rs->customer = xstrdup(cu->id);
			rs->gen_bytes = decl->gen_bytes;
			rs->gen_base64 = decl->gen_base64;
		}
		if (e)
			memcpy(rs->digest, e->digest, sizeof(rs->digest));
		struct rc_mount *rm = &u->mounts[u->nmounts++];
		rm->kind = RC_MOUNT_SECRET;
		rm->source = xstrdup(name);
		rm->target = xasprintf("/run/secrets/%s", name);
		rm->read_only = true;
	}
	if (u->nmounts)
		qsort(u->mounts, u->nmounts, sizeof(*u->mounts), mount_cmp);
	if (u->nsecrets)
		qsort(u->secrets, u->nsecrets, sizeof(*u->secrets), secret_cmp);
}

/* The unit's networks: the customer's own first, then the shared ones by name. */
static void unit_networks(const struct model *m, const char *proj, struct rc_unit *u, const struct osvc *s,
			  const struct ocust *cu)
{
	size_t nn = s->networks.n + (cu ? 1 : 0);
	if (nn)
		u->networks = xcalloc(nn, sizeof(*u->networks));
	if (cu)
		u->networks[u->nnetworks++] = xasprintf("%s-%s", proj, cu->id);
	size_t first_shared = u->nnetworks;
	/* a customer joins a shared network through its own link network (tenant isolation: no two
	 * customers share a bridge; the shared services on it join each link network) */
	for (size_t i = 0; i < s->networks.n; i++)
		u->networks[u->nnetworks++] = cu && !m->set.shared_bridges
						      ? xasprintf("%s-%s-via-%s", proj, cu->id, s->networks.v[i].name)
						 : xasprintf("%s-%s", proj, s->networks.v[i].name);
	if (u->nnetworks - first_shared > 1)
		qsort(u->networks + first_shared, u->nnetworks - first_shared, sizeof(char *), strp_cmp);
}

/* The unit's dependencies: a template's sibling as CUSTOMER/NAME, a shared service by its name. */
static void unit_deps(struct rc_unit *u, const struct osvc *s, const struct otmpl *t, const struct ocust *cu)
{
	if (s->ndeps)
		u->deps = xcalloc(s->ndeps, sizeof(*u->deps));
	for (size_t i = 0; i < s->ndeps; i++) {
		const struct odep *dp = &s->deps[i];
		char *id;
		if (t && mf_tmpl_svc(t, dp->name))
			id = xasprintf("%s/%s", cu->id, dp->name);
		else
			id = xstrdup(dp->name);
		u->deps[u->ndeps].unit = id;   /* parse_depends() kept one of each name */
		u->deps[u->ndeps].restart = dp->restart;
		u->deps[u->ndeps++].cond = dp->cond;
	}
	if (u->ndeps > 1)
		qsort(u->deps, u->ndeps, sizeof(*u->deps), dep_cmp);
}

/* The unit's plan (the customer's, else the service's, else the template's, else the default)
 * and what it sets: limits and the restart policy.  Returns the plan, NULL for none. */
static const struct oplan *unit_plan(const struct model *m, struct rc_unit *u, const struct osvc *s,
				     const struct otmpl *t, const struct ocust *cu)
{
	const char *plan = cu && cu->plan ? cu->plan : s->plan ? s->plan : t && t->plan ? t->plan
										   : m->set.default_plan;
	const struct oplan *pl = plan ? mf_find_plan(m, plan) : NULL;
	u->plan = plan ? xstrdup(plan) : NULL;
	u->restart.policy = xstrdup(pl && pl->restart_policy ? pl->restart_policy : DEFAULT_RESTART_POLICY);
	u->restart.backoff_ns = DEFAULT_BACKOFF_NS;
	u->restart.max_backoff_ns = DEFAULT_MAX_BACKOFF_NS;
	if (pl) {
		u->nano_cpus = pl->cpus;
		u->memory = pl->memory;
		u->memory_reservation = pl->memory_reservation;
		u->pids_limit = pl->pids;
		u->restart.max_retries = (int)pl->max_retries;
		if (pl->has_backoff)
			u->restart.backoff_ns = pl->backoff;
		if (pl->has_max_backoff)
			u->restart.max_backoff_ns = pl->max_backoff;
		if (u->restart.max_backoff_ns < u->restart.backoff_ns)
			u->restart.max_backoff_ns = u->restart.backoff_ns;
		u->restart.max_failures = (int)pl->max_failures;
	}
	return pl;
}

/* The rest of the container's settings: the spec-key table's rows (the service's, or the plan's,
 * as written, else Settings.defaults'), capabilities and devices. */
static void unit_settings(const struct model *m, const struct rc_desired *d, struct rc_unit *u,
			  const struct osvc *s, const struct oplan *pl)
{
	u->stop_grace_ns = s->has_stop_grace ? s->stop_grace : d->settings.default_stop_grace_ns;
	u->start_first = s->start_first;
	u->pull = s->pull;
	u->job = s->run_once;
	u->job_timeout_ns = s->run_timeout;
	if (u->job) {
		/* a job runs once per spec: the engine never restarts it (a plan's policy is overridden;
		 * one the service names itself is refused: manifest_check.c) */
		free(u->restart.policy);
		u->restart.policy = xstrdup("no");
		u->restart.max_retries = 0;
	}
	for (int i = 0; i < SK__COUNT; i++) {
		const struct sk_value *own = sk_row((enum sk_id)i)->where & SK_IN_PLAN ? (pl ? pl->fields : NULL)
											 : s->fields;
		const struct sk_value *v = mf_field_effective(m, own, i);
		if (v)
			sk_value_copy(&u->fields[i], v);
	}
	u->pid_host = s->pid_host;
	u->ipc_host = s->ipc_host;
	if (s->cap_add.n) {
		u->cap_add = xcalloc(s->cap_add.n, sizeof(char *));
		for (size_t i = 0; i < s->cap_add.n; i++)
			u->cap_add[u->ncap_add++] = xstrdup(s->cap_add.v[i].name);
		qsort(u->cap_add, u->ncap_add, sizeof(char *), strp_cmp);
	}
	if (s->devices.n) {
		u->devices = xcalloc(s->devices.n, sizeof(char *));
		for (size_t i = 0; i < s->devices.n; i++)
			u->devices[u->ndevices++] = xstrdup(s->devices.v[i].name);
		qsort(u->devices, u->ndevices, sizeof(char *), strp_cmp);
	}
}

/* A repository name Docker takes: lower case, one '-' for each run of other characters. */
static void add_repo_name(struct buf *b, const char *s)
{
	bool sep = false;
	for (; *s; s++) {
		char ch = *s;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
			if (sep && b->len)
				buf_addc(b, '-');
			buf_addc(b, ch);
			sep = false;
		} else {
			sep = true;
		}
	}
}

/* build: the unit's rc_build and its image, <project>-build-<service>:<tree id's first 12>, with
 * "-<8 hex>" of the build's options added when a dockerfile, target or args are given, so that
 * one tag always means one build (spec/manifest.md, "Building images"). */
static void unit_build(struct rc_unit *u, const char *proj, const struct osvc *s)
{
	struct rc_build *b = xcalloc(1, sizeof(*b));
	b->context = xstrdup(s->build_context);
	b->tree = xstrdup(s->build_tree);
	b->dockerfile = xstrdup(s->build_dockerfile);
	b->target = s->build_target ? xstrdup(s->build_target) : NULL;
	const struct kvs *layers[] = { &s->build_args };
	set_kvs(&b->args, &b->nargs, layers, 1);
	struct buf opts = BUF_INIT;
	if (strcmp(b->dockerfile, "Dockerfile") != 0 || b->target || b->nargs) {
		buf_addf(&opts, "dockerfile=%s", b->dockerfile);
		buf_add(&opts, "", 1);
		buf_addf(&opts, "target=%s", b->target ? b->target : "");
		buf_add(&opts, "", 1);
		for (size_t i = 0; i < b->nargs; i++) {
			buf_addf(&opts, "arg.%s=%s", b->args[i].key, b->args[i].value);
			buf_add(&opts, "", 1);
		}
	}
	struct buf img = BUF_INIT;
	add_repo_name(&img, proj);
	buf_adds(&img, "-build-");
	add_repo_name(&img, s->name);
	buf_addf(&img, ":%.12s", b->tree);
	if (opts.len) {
		char h[RC_HASH_HEX_LEN + 1];
		rc_hash128_hex(opts.data, opts.len, h);
		buf_addf(&img, "-%.8s", h);
	}
	buf_release(&opts);
	u->image = buf_detach(&img, NULL);
	u->build = b;
}

static void build_unit(struct ctx *c, struct pass3 *p, struct rc_desired *d, struct rc_unit *u,
		       const struct osvc *s, const struct otmpl *t, const struct ocust *cu,
		       struct expand_aux *aux)
{
	const struct model *m = c->m;
	const char *proj = d->settings.project;
	const struct over *ov = cu ? strmap_get(cu->over_by, s->name) : NULL;

	u->service = xstrdup(s->name);
	if (cu) {
		u->customer = xstrdup(cu->id);
		u->id = xasprintf("%s/%s", cu->id, s->name);
		u->container = xasprintf("%s-%s-%s", proj, cu->id, s->name);
	} else {
		u->id = xstrdup(s->name);
		u->container = xasprintf("%s-%s", proj, s->name);
	}
	if (ov && ov->image)
		u->image = xstrdup(ov->image);   /* a customer's own image wins over the template's build */
	else if (s->build_at)
		unit_build(u, proj, s);
	else
		u->image = xstrdup(s->image);
	u->command = copy_argv(s->command, s->ncommand);
	u->ncommand = s->command ? s->ncommand : 0;
	u->entrypoint = copy_argv(s->entrypoint, s->nentrypoint);
	u->nentrypoint = s->entrypoint ? s->nentrypoint : 0;
	const struct kvs *env_layers[] = { &s->env, cu ? &cu->env : NULL, ov ? &ov->env : NULL };
	set_kvs(&u->env, &u->nenv, env_layers, ARRAY_SIZE(env_layers));
	const struct kvs *label_layers[] = { &s->labels };
	set_kvs(&u->labels, &u->nlabels, label_layers, 1);

	unit_ports(u, s, cu, aux);
	size_t nm = s->nvols + s->secrets.n;
	if (nm)
		u->mounts = xcalloc(nm, sizeof(*u->mounts));
	unit_volumes(c, proj, u, s, cu, aux);
	unit_secrets(c, p, u, s, t, cu);
	unit_networks(m, proj, u, s, cu);
	u->health = s->health;
	u->health.cmd = s->health.cmd ? xstrdup(s->health.cmd) : NULL;
	u->health.http_path = s->health.http_path ? xstrdup(s->health.http_path) : NULL;
	unit_deps(u, s, t, cu);
	const struct oplan *upl = unit_plan(m, u, s, t, cu);
	unit_settings(m, d, u, s, upl);
	mf_swarm_unit(m, u, s, cu, upl);
	u->running = cu ? !cu->stopped : !s->stopped;
	const struct oplan *pl = u->plan ? mf_find_plan(m, u->plan) : NULL;
	u->idle_after_ns = cu && cu->has_idle ? cu->idle_after : pl ? pl->idle_after : 0;
	u->protected_ = cu ? cu->protected_ : s->protected_;
	const struct ynode *at = cu ? cu->at : s->at;
	u->file = xstrdup(at->file);
	u->line = at->line;
}

struct unit_at {
	const char *id;
	const char *container;
	const struct ynode *at;
};

static int unit_at_cmp_container(const void *pa, const void *pb)
{
	const struct unit_at *a = pa, *b = pb;
	int r = strcmp(a->container, b->container);
	if (r)
		return r;
	return mf_named_cmp(&(struct named){ a->id, a->at }, &(struct named){ b->id, b->at });
}

static int hp_cmp(const void *pa, const void *pb)
{
	const struct hostport *a = pa, *b = pb;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	int r = strcmp(a->proto, b->proto);
	if (r)
		return r;
	return mf_named_cmp(&(struct named){ a->unit, a->at }, &(struct named){ b->unit, b->at });
}

static int vo_cmp(const void *pa, const void *pb)
{
	const struct volown *a = pa, *b = pb;
	int r = strcmp(a->volume, b->volume);
	if (r)
		return r;
	return mf_named_cmp(&(struct named){ a->unit, a->at }, &(struct named){ b->unit, b->at });
}

/*
 * Two bindings of one host port and protocol conflict unless both name
 * different addresses.  Sorted by port, protocol and unit, each binding
 * that conflicts with an earlier one is reported once, naming the nearest
 * earlier one it conflicts with: the last binding without an address or
 * the last with the same address (a set per port), so 20,000 services on
 * one port with 20,000 addresses are not 2 * 10^8 comparisons.
 */
static void host_port_checks(struct ctx *c, struct expand_aux *aux)
{
	if (aux->nhp > 1)
		qsort(aux->hp, aux->nhp, sizeof(*aux->hp), hp_cmp);
	for (size_t g = 0; g < aux->nhp;) {
		size_t end = g + 1;
		while (end < aux->nhp && aux->hp[end].port == aux->hp[g].port &&
		       strcmp(aux->hp[end].proto, aux->hp[g].proto) == 0)
			end++;
		_cleanup_(strmap_freep) struct strmap *last_at = end - g > 1 ? strmap_new() : NULL;   /* ip -> index + 1 */
		size_t last_any = SIZE_MAX;    /* the last binding without an address */
		for (size_t j = g; j < end; j++) {
			const struct hostport *b = &aux->hp[j];
			size_t a = SIZE_MAX;
			if (j > g && !b->ip) {
				a = j - 1;
			} else if (j > g) {
				uintptr_t same = (uintptr_t)strmap_get(last_at, b->ip);
				a = last_any;
				if (same && (a == SIZE_MAX || same - 1 > a))
					a = same - 1;
			}
			if (a != SIZE_MAX)
				mf_diag(c, b->at, "host port %u/%s of unit '%s' is already used by unit '%s' (%s:%d)", b->port,
				     b->proto, b->unit, aux->hp[a].unit, aux->hp[a].at->file, aux->hp[a].at->line);
			if (!b->ip)
				last_any = j;
			else if (last_at)
				strmap_set(last_at, b->ip, (void *)(uintptr_t)(j + 1));
		}
		g = end;
	}
}

static int net_cidr_cmp(const void *pa, const void *pb)
{
	const struct onet *const *a = pa, *const *b = pb;
	if ((*a)->cidr.addr != (*b)->cidr.addr)
		return (*a)->cidr.addr < (*b)->cidr.addr ? -1 : 1;
	if ((*a)->cidr.prefix != (*b)->cidr.prefix)
		return (*a)->cidr.prefix < (*b)->cidr.prefix ? -1 : 1;
	return *a < *b ? -1 : *a > *b;   /* document order */
}

/*
 * Subnets of shared networks must not overlap.  Two CIDR blocks overlap only
 * when one holds the other, so sorted by address (the larger first) the
 * blocks form a forest: a block overlaps its ancestors and its descendants.
 * One pass with a stack finds, for each, the earliest network (in document
 * order) among both; a block that overlaps an earlier one is reported once,
 * naming the earliest.
 */
static void subnet_overlap_checks(struct ctx *c)
{
	const struct model *m = c->m;
	size_t n = 0;
	for (size_t i = 0; i < m->nnets; i++)
		n += m->nets[i].subnet != NULL;
	if (n < 2)
		return;
	const struct onet **v = xcalloc(n, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < m->nnets; i++)
		if (m->nets[i].subnet)
			v[k++] = &m->nets[i];
	qsort(v, n, sizeof(*v), net_cidr_cmp);
	/* by position in v: the earliest ancestor / descendant (pointers compare in document order) */
	const struct onet **anc = xcalloc(n, sizeof(*anc)), **desc = xcalloc(n, sizeof(*desc));
	size_t *stack = xcalloc(n, sizeof(*stack)), top = 0;
#define EARLIER(x, y) ((x) && (!(y) || (x) < (y)) ? (x) : (y))
	for (size_t i = 0; i <= n; i++) {
		while (top && (i == n || !cidr_holds(v[stack[top - 1]]->cidr, v[i]->cidr))) {
			size_t t = stack[--top];
			if (top) {
				size_t parent = stack[top - 1];
				desc[parent] = EARLIER(desc[parent], EARLIER(desc[t], v[t]));
			}
		}
		if (i == n)
			break;
		if (top) {
			size_t parent = stack[top - 1];
			anc[i] = EARLIER(anc[parent], v[parent]);
		}
		stack[top++] = i;
	}
	for (size_t i = 0; i < n; i++) {
		const struct onet *a = v[i], *b = EARLIER(anc[i], desc[i]);
		if (b && b < a)
			mf_diag(c, a->subnet_at, "subnet %s of network '%s' overlaps subnet %s of network '%s'",
			     a->subnet, a->name, b->subnet, b->name);
	}
#undef EARLIER
	free(v);
	free(anc);
	free(desc);
	free(stack);
}

/* "customer 'c'", "customer 'c''s link to 'backend'", "shared network 'backend'"; malloc'ed. */
static char *network_what(const struct rc_network *n)
{
	if (n->customer && n->link_of)
		return xasprintf("customer '%s''s link to '%s'", n->customer, n->link_of);
	if (n->customer)
		return xasprintf("customer '%s'", n->customer);
	return xasprintf("shared network '%s'", n->id);
}

static void global_checks(struct ctx *c, struct rc_desired *d, struct unit_at *ua, size_t nua,
			  struct expand_aux *aux)
{
	const struct model *m = c->m;
	/* container names: length and collisions */
	for (size_t i = 0; i < nua; i++)
		if (strlen(ua[i].container) > CONTAINER_NAME_MAX)
			mf_diag(c, ua[i].at, "container name '%s' of unit '%s' is longer than %d characters",
			     mf_shown(c, ua[i].container), ua[i].id, CONTAINER_NAME_MAX);
	if (nua > 1)
		qsort(ua, nua, sizeof(*ua), unit_at_cmp_container);
	for (size_t i = 1; i < nua; i++)
		if (strcmp(ua[i].container, ua[i - 1].container) == 0)
			mf_diag(c, ua[i].at, "unit '%s' would get container name '%s', which unit '%s' (%s:%d) has already",
			     ua[i].id, ua[i].container, ua[i - 1].id, ua[i - 1].at->file, ua[i - 1].at->line);
	/* network names */
	for (size_t i = 1; i < d->nnetworks; i++) {
		const struct rc_network *a = &d->networks[i - 1], *b = &d->networks[i];
		if (strcmp(a->name, b->name) != 0)
			continue;
		if (a->customer && !b->customer) {
			const struct rc_network *t = a;
			a = b;
			b = t;
		}
		_cleanup_free_ char *bw = network_what(b), *aw = network_what(a);
		rc_diags_add(c->d, b->file, b->line, 1, "network name '%s' of %s is also the name of %s (%s:%d)", b->name,
			     bw, aw, a->file, a->line);
	}
	host_port_checks(c, aux);
	/* auto ports vs. the range */
	const struct osettings *set = &m->set;
	if (set->port_hi && aux->nauto > (size_t)(set->port_hi - set->port_lo + 1))
		mf_diag(c, set->range_at, "%zu customers need a port from 'range', which holds only %u",
		     aux->nauto, set->port_hi - set->port_lo + 1);
	/* volumes: one owner each */
	if (aux->nvo > 1)
		qsort(aux->vo, aux->nvo, sizeof(*aux->vo), vo_cmp);
	for (size_t i = 1; i < aux->nvo; i++) {
		const struct volown *a = &aux->vo[i - 1], *b = &aux->vo[i];
		if (strcmp(a->volume, b->volume) == 0 && strcmp(a->owner, b->owner) != 0)
			mf_diag(c, b->at, "volume '%s' of unit '%s' is also the volume of unit '%s' (%s:%d)", b->volume,
			     b->unit, a->unit, a->at->file, a->at->line);
	}
	/* the project's ownership marker (owner.h) is no unit's volume */
	if (aux->nvo && d->settings.project) {
		_cleanup_free_ char *marker = xasprintf("%s" RC_OWNER_VOLUME_SUFFIX, d->settings.project);
		for (size_t i = 0; i < aux->nvo; i++)
			if (strcmp(aux->vo[i].volume, marker) == 0 && (i == 0 || strcmp(aux->vo[i - 1].volume, marker) != 0))
				mf_diag(c, aux->vo[i].at, "volume '%s' of unit '%s' has the name of the project's ownership "
				     "marker: choose another volume name", marker, aux->vo[i].unit);
	}
	/* subnets */
	for (size_t i = 0; i < m->nnets; i++) {
		const struct onet *a = &m->nets[i];
		if (a->subnet && cidr_overlap(a->cidr, set->pool))
			mf_diag(c, a->subnet_at, "subnet %s of network '%s' overlaps the customer subnet pool %s", a->subnet,
			     a->name, d->settings.subnet_pool);
	}
	subnet_overlap_checks(c);
	int bits = d->settings.subnet_prefix - set->pool.prefix;
	if (bits >= 0 && bits < 31 && m->ncusts > ((size_t)1 << bits))
		mf_diag(c, set->pool_at ? set->pool_at : m->custs[m->ncusts - 1].at,
		     "the subnet pool %s holds %zu /%d subnets, but there are %zu customers",
		     d->settings.subnet_pool, (size_t)1 << bits, d->settings.subnet_prefix, m->ncusts);
}

/*
 * Tenant isolation: a customer whose template services name a shared network
 * N gets its own link network <project>-<customer>-via-<N> (internal as N is;
 * its subnet from the pool), which its services join instead of N.
 */
static void add_link_networks(const struct model *m, struct rc_desired *d, const struct ocust *cu,
			      const struct otmpl *t)
{
	const char *proj = d->settings.project;
	size_t first = d->nnetworks;
	for (size_t j = 0; t && j < t->nsvcs; j++) {
		const struct osvc *s = &t->svcs[j];
		for (size_t k = 0; k < s->networks.n; k++) {
			const char *net = s->networks.v[k].name;
			bool have = false;
			for (size_t x = first; x < d->nnetworks && !have; x++)
				have = strcmp(d->networks[x].link_of, net) == 0;
			if (have)
				continue;
			const struct onet *on = mf_find_net(m, net);
			struct rc_network *n = &d->networks[d->nnetworks++];
			n->name = xasprintf("%s-%s-via-%s", proj, cu->id, net);
			n->id = xasprintf("%s-via-%s", cu->id, net);
			n->customer = xstrdup(cu->id);
			n->link_of = xstrdup(net);
			n->internal = on && on->internal;
			n->file = xstrdup(cu->at->file);
			n->line = cu->at->line;
		}
	}
}

/*
 * Every shared unit (units[0..nshared)) on a shared network joins that
 * network's link networks.  Linear: the shared units on each network are
 * listed once (a chain per network name: first[] by map, then next[]).
 */
static void join_link_networks(struct rc_desired *d, size_t nshared)
{
	const char *proj = d->settings.project;
	size_t nmemb = 0;
	for (size_t k = 0; k < nshared; k++)
		nmemb += d->units[k].nnetworks;
	size_t *unit_of = xcalloc(nmemb + 1, sizeof(size_t)), *next = xcalloc(nmemb + 1, sizeof(size_t));
	_cleanup_(strmap_freep) struct strmap *first = strmap_new();  /* network name -> member index + 1 */
	size_t e = 0;
	for (size_t k = 0; k < nshared; k++)
		for (size_t x = 0; x < d->units[k].nnetworks; x++, e++) {
			unit_of[e] = k;
			next[e] = (size_t)(uintptr_t)strmap_get(first, d->units[k].networks[x]);
			strmap_set(first, d->units[k].networks[x], (void *)(uintptr_t)(e + 1));
		}
	for (size_t i = 0; i < d->nnetworks; i++) {
		const struct rc_network *n = &d->networks[i];
		if (!n->link_of)
			continue;
		_cleanup_free_ char *shared = xasprintf("%s-%s", proj, n->link_of);
		for (size_t m = (size_t)(uintptr_t)strmap_get(first, shared); m; m = next[m - 1]) {
			struct rc_unit *u = &d->units[unit_of[m - 1]];
			u->links = xrealloc(u->links, (u->nlinks + 1) * sizeof(*u->links));
			u->links[u->nlinks++] = xstrdup(n->name);
		}
	}
	free(unit_of);
	free(next);
	for (size_t k = 0; k < nshared; k++)
		if (d->units[k].nlinks > 1)
			qsort(d->units[k].links, d->units[k].nlinks, sizeof(char *), strp_cmp);
}

/* d's settings from the manifests' Settings, defaults filled in (the default subnet pool checked
 * against the host policy's subnet_pools when there is a Settings document to point at). */
static void expand_settings(struct ctx *c, struct rc_desired *d)
{
	struct osettings *set = &c->m->set;
	struct rc_settings *rs = &d->settings;
	rs->project = xstrdup(set->project ? set->project : DEFAULT_PROJECT);
	rs->engine = set->engine;
	rs->port_lo = set->port_lo;
	rs->port_hi = set->port_hi;
	if (!set->pool_str) {
		cidr_parse(DEFAULT_SUBNET_POOL, &set->pool);
		rs->subnet_pool = xstrdup(DEFAULT_SUBNET_POOL);
		if (set->at)
			mf_host_subnet_check(c, &set->pool, DEFAULT_SUBNET_POOL " (the default subnets.pool)", set->at);
	} else {
		rs->subnet_pool = xstrdup(set->pool_str);
	}
	rs->subnet_prefix = set->prefix ? set->prefix : DEFAULT_SUBNET_PREFIX;
	if (rs->subnet_prefix <= set->pool.prefix)
		rs->subnet_prefix = set->pool.prefix + 1 > 30 ? 30 : set->pool.prefix + 1;
	rs->default_stop_grace_ns = set->stop_grace ? set->stop_grace : DEFAULT_STOP_GRACE_NS;
	rs->allow_privileged = set->allow_privileged;
	if (set->bind_roots.n) {
		rs->bind_roots = xcalloc(set->bind_roots.n, sizeof(char *));
		for (size_t i = 0; i < set->bind_roots.n; i++)
			rs->bind_roots[rs->nbind_roots++] = xstrdup(set->bind_roots.v[i].name);
	}
	if (set->notify_urls.n) {
		rs->notify_urls = xcalloc(set->notify_urls.n, sizeof(char *));
		for (size_t i = 0; i < set->notify_urls.n; i++)
			rs->notify_urls[rs->nnotify_urls++] = xstrdup(set->notify_urls.v[i].name);
	}
	if (set->notify_events_set) {
		rs->notify_events = xcalloc(set->notify_events.n + 1, sizeof(char *));
		for (size_t i = 0; i < set->notify_events.n; i++)
			rs->notify_events[rs->nnotify_events++] = xstrdup(set->notify_events.v[i].name);
	}
}

struct rc_desired *mf_expand(struct ctx *c, struct pass3 *p)
{
	struct model *m = c->m;
	struct osettings *set = &m->set;
	struct rc_desired *d = xcalloc(1, sizeof(*d));
	expand_settings(c, d);
	struct rc_settings *rs = &d->settings;
	size_t nunits = m->nsvcs;
	for (size_t i = 0; i < m->ncusts; i++) {
		const struct otmpl *t = mf_find_tmpl(m, m->custs[i].tmpl);
		nunits += t ? t->nsvcs : 0;
	}
	d->units = xcalloc(nunits + 1, sizeof(*d->units));
	size_t nlinks_max = 0;  /* link networks: at most one per customer and shared network */
	for (size_t i = 0; i < m->ncusts; i++) {
		const struct otmpl *t = mf_find_tmpl(m, m->custs[i].tmpl);
		for (size_t j = 0; t && j < t->nsvcs; j++)
			nlinks_max += t->svcs[j].networks.n;
	}
	d->networks = xcalloc(m->nnets + m->ncusts + nlinks_max + 1, sizeof(*d->networks));
	struct unit_at *ua = xcalloc(nunits + 1, sizeof(*ua));
	struct expand_aux aux = { 0 };

	for (size_t i = 0; i < m->nsvcs; i++) {
		struct rc_unit *u = &d->units[d->nunits++];
		build_unit(c, p, d, u, &m->svcs[i], NULL, NULL, &aux);
		ua[d->nunits - 1] = (struct unit_at){ u->id, u->container, m->svcs[i].at };
	}
	for (size_t i = 0; i < m->ncusts; i++) {
		const struct ocust *cu = &m->custs[i];
		const struct otmpl *t = mf_find_tmpl(m, cu->tmpl);
		for (size_t j = 0; t && j < t->nsvcs; j++) {
			struct rc_unit *u = &d->units[d->nunits++];
			build_unit(c, p, d, u, &t->svcs[j], t, cu, &aux);
			ua[d->nunits - 1] = (struct unit_at){ u->id, u->container, cu->at };
		}
		struct rc_network *n = &d->networks[d->nnetworks++];
		n->name = xasprintf("%s-%s", rs->project, cu->id);
		n->id = xstrdup(cu->id);
		n->customer = xstrdup(cu->id);
		n->file = xstrdup(cu->at->file);
		n->line = cu->at->line;
		if (!set->shared_bridges)
			add_link_networks(m, d, cu, t);
	}
	for (size_t i = 0; i < m->nnets; i++) {
		const struct onet *on = &m->nets[i];
		struct rc_network *n = &d->networks[d->nnetworks++];
		n->name = xasprintf("%s-%s", rs->project, on->name);
		n->id = xstrdup(on->name);
		n->internal = on->internal;
		n->subnet = on->subnet ? xstrdup(on->subnet) : NULL;
		n->file = xstrdup(on->at->file);
		n->line = on->at->line;
	}
	join_link_networks(d, m->nsvcs);
	if (d->nnetworks > 1)
		qsort(d->networks, d->nnetworks, sizeof(*d->networks), network_cmp);
	global_checks(c, d, ua, d->nunits, &aux);
	if (d->nunits > 1)
		qsort(d->units, d->nunits, sizeof(*d->units), unit_cmp);
	free(ua);
	free(aux.hp);
	free(aux.vo);
	return d;
}
