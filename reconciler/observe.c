/* observe.c — see observe.h. */
#include "observe.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "hostports.h"
#include "regauth.h"

const char *observe_health_from_status(const char *status)
{
	if (!status)
		return NULL;
	if (strstr(status, "(healthy)"))
		return "healthy";
	if (strstr(status, "(unhealthy)"))
		return "unhealthy";
	if (strstr(status, "(health: starting)"))
		return "starting";
	return NULL;
}

bool observe_exit_from_status(const char *status, int *ret_code)
{
	int code;
	if (!status || sscanf(status, "Exited (%d)", &code) != 1)
		return false;
	*ret_code = code;
	return true;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void fill_container(const struct dk_container_summary *s, const struct rc_state *st,
			   struct plan_container *pc)
{
	pc->id = xstrdup(s->id);
	pc->name = xstrdup(s->name);
	pc->unit = dup_or_null(dk_label(s->labels, s->nlabels, RC_LABEL_UNIT));
	pc->hash = dup_or_null(dk_label(s->labels, s->nlabels, RC_LABEL_HASH));
	pc->base_hash = dup_or_null(dk_label(s->labels, s->nlabels, RC_LABEL_BASE_HASH));
	pc->spec = dup_or_null(dk_label(s->labels, s->nlabels, RC_LABEL_SPEC));
	pc->commit = dup_or_null(dk_label(s->labels, s->nlabels, RC_LABEL_COMMIT));
	pc->depends_on = dup_or_null(dk_label(s->labels, s->nlabels, RC_LABEL_DEPENDS));
	pc->state = dup_or_null(s->state);
	pc->image_id = dup_or_null(s->image_id);
	pc->health = dup_or_null(observe_health_from_status(s->status));
	pc->has_exit = str_eq(s->state, "exited") && observe_exit_from_status(s->status, &pc->exit_code);
	const char *ihash, *ires;
	if (st && pc->spec && state_get_inplace(st, s->id, &ihash, &ires)) {
		/* updated in place since it was labelled: its effective spec */
		struct buf b = BUF_INIT;
		planner_overlay_resources(pc->spec, ires, &b);
		free(pc->spec);
		pc->spec = buf_detach(&b, NULL);
		free(pc->hash);
		pc->hash = xstrdup(ihash);
	}
	pc->host_ports = xcalloc(s->nports + 1, sizeof(uint16_t));
	for (size_t i = 0; i < s->nports; i++)
		if (s->ports[i].public_port)
			pc->host_ports[pc->nhost_ports++] = s->ports[i].public_port;
	pc->networks = xcalloc(s->nnetworks + 1, sizeof(char *));
	for (size_t i = 0; i < s->nnetworks; i++)
		pc->networks[pc->nnetworks++] = xstrdup(s->networks[i]);
}

static bool is_ours(const struct rc_kv *labels, size_t n, const char *project)
{
	return str_eq(dk_label(labels, n, RC_LABEL_PROJECT), project);
}

int observe_fetch(struct dk_client *c, struct observe_raw *ret, struct rc_err *err)
{
	struct observe_raw r = { 0 };
	if (dk_container_list(c, NULL, 0, &r.containers, NULL, err) < 0)
		return rc_err_prefix(err, "listing containers");
	if (dk_network_list(c, NULL, 0, &r.networks, NULL, err) < 0) {
		observe_raw_release(&r);
		return rc_err_prefix(err, "listing networks");
	}
	*ret = r;
	return 0;
}

void observe_raw_release(struct observe_raw *raw)
{
	if (raw->containers)
		dk_container_list_free(raw->containers);
	if (raw->networks)
		dk_network_list_free(raw->networks);
	raw->containers = NULL;
	raw->networks = NULL;
}

int observe(struct dk_client *c, const char *project, const struct rc_desired *d,
	    const struct rc_state *st, struct observation *ret, struct rc_err *err)
{
	struct observe_raw raw = { 0 };
	if (observe_fetch(c, &raw, err) < 0)
		return -1;
	return observe_build(c, &raw, project, d, st, ret, err);
}

/* Our containers (for the planner, with their state), the others' (foreign: their host ports),
 * and every published host port (ours noted by unit, for the allocator). */
static void observe_containers(struct observation *o, const char *project, const struct rc_state *st,
			       size_t *ret_npu, size_t *ret_nop)
{
	struct plan_observed *p = &o->plan;
	size_t nc = o->containers->n;
	p->containers = xcalloc(nc + 1, sizeof(*p->containers));
	p->foreign = xcalloc(nc + 1, sizeof(*p->foreign));
	size_t nports = 0;
	for (size_t i = 0; i < nc; i++)
		nports += o->containers->items[i].nports;
	o->ports_in_use = xcalloc(nports + 1, sizeof(uint16_t));
	o->our_ports = xcalloc(nports + 1, sizeof(*o->our_ports));
	size_t npu = 0, nop = 0;
	for (size_t i = 0; i < nc; i++) {
		const struct dk_container_summary *s = &o->containers->items[i];
		bool ours = is_ours(s->labels, s->nlabels, project);
		const char *unit = dk_label(s->labels, s->nlabels, RC_LABEL_UNIT);
		for (size_t k = 0; k < s->nports; k++) {
			if (!s->ports[k].public_port)
				continue;
			o->ports_in_use[npu++] = s->ports[k].public_port;
			if (ours && unit)
				o->our_ports[nop++] = (struct alloc_obs_port){ unit, s->ports[k].private_port,
									     s->ports[k].type, s->ports[k].public_port };
		}
		if (ours) {
			fill_container(s, st, &p->containers[p->ncontainers++]);
		} else {
			struct plan_foreign *f = &p->foreign[p->nforeign++];
			f->name = xstrdup(s->name);
			f->host_ports = xcalloc(s->nports + 1, sizeof(uint16_t));
			for (size_t k = 0; k < s->nports; k++)
				if (s->ports[k].public_port)
					f->host_ports[f->nhost_ports++] = s->ports[k].public_port;
		}
	}
	*ret_npu = npu;
	*ret_nop = nop;
}

/* Our networks (for the planner), the others' names, and every network's subnet (for the
 * allocator).  Returns the number of subnets noted. */
static size_t observe_networks(struct observation *o, const char *project)
{
	struct plan_observed *p = &o->plan;
	size_t nn = o->networks->n;
	p->networks = xcalloc(nn + 1, sizeof(*p->networks));
	p->foreign_networks = xcalloc(nn + 1, sizeof(*p->foreign_networks));
	o->nets = xcalloc(nn + 1, sizeof(*o->nets));
	size_t nnets = 0;
	for (size_t i = 0; i < nn; i++) {
		const struct dk_network *n = &o->networks->items[i];
		bool ours = is_ours(n->labels, n->nlabels, project);
		if (n->nsubnets)
			o->nets[nnets++] = (struct alloc_obs_net){ n->name, n->subnets[0], ours };
		if (ours) {
			struct plan_net *pn = &p->networks[p->nnetworks++];
			pn->id = xstrdup(n->id);
			pn->name = xstrdup(n->name);
			pn->label = dup_or_null(dk_label(n->labels, n->nlabels, RC_LABEL_NETWORK));
			pn->subnet = n->nsubnets ? xstrdup(n->subnets[0]) : NULL;
			pn->internal = n->internal;
		} else {
			p->foreign_networks[p->nforeign_networks++].name = xstrdup(n->name);
		}
	}
	return nnets;
}

/* Ports a host process listens on are not free either (only a local engine's host is ours to
 * read): added to ports_in_use (*npu grows); those no container publishes are the planner's
 * conflicts. */
static void observe_host_ports(struct dk_client *c, struct observation *o, size_t *npu)
{
	struct plan_observed *p = &o->plan;
	if (!dk_client_local(c)) {
		p->remote_engine = xstrdup(dk_client_host(c));
		return;
	}
	uint16_t *hp = NULL;
	size_t nhp = 0;
	hostports_listening(&hp, &nhp);
	p->host_listening = xcalloc(nhp + 1, sizeof(uint16_t));
	for (size_t i = 0; i < nhp; i++) {
		bool published = false;
		for (size_t k = 0; k < *npu && !published; k++)
			published = o->ports_in_use[k] == hp[i];
		if (!published)
			p->host_listening[p->nhost_listening++] = hp[i];
	}
	o->ports_in_use = xrealloc(o->ports_in_use, (*npu + nhp + 1) * sizeof(uint16_t));
	for (size_t i = 0; i < nhp; i++)
		o->ports_in_use[(*npu)++] = hp[i];
	free(hp);
}

static bool pulls_always(const struct rc_desired *d, const char *ref)
{
	for (size_t i = 0; i < d->nunits; i++)
		if (d->units[i].pull == RC_PULL_ALWAYS && str_eq(d->units[i].image, ref))
			return true;
	return false;
}

static void add_warning(struct plan_observed *p, char *msg)
{
	p->warnings = xrealloc(p->warnings, (p->nwarnings + 1) * sizeof(char *));
	p->warnings[p->nwarnings++] = msg;
}

/* For a reference a `pull: always` unit names: what its registry says of the tag (one
 * distribution request, with the credentials a pull would use), against the local image's
 * RepoDigests.  A registry that does not answer is a warning, and the image is left as it is. */
static void observe_registry(struct dk_client *c, const struct dk_image *img, struct plan_observed *p,
			     struct plan_image *pi)
{
	if (strchr(pi->ref, '@'))
		return;  /* by digest: nothing can move */
	char *auth = NULL, *digest = NULL;
	struct rc_err e = { 0 };
	struct dk_status ds;
	if (regauth_lookup(NULL, pi->ref, &auth, NULL, &e) < 0 ||
	    dk_distribution_inspect(c, pi->ref, auth, &digest, &ds, &e) < 0) {
		regauth_free(auth);
		add_warning(p, xasprintf("image %s (pull: always): the registry was not asked or did not answer, "
					 "the image is left as it is: %s", pi->ref, e.msg));
		return;
	}
	regauth_free(auth);
	const char *local = NULL;
	pi->moved = !dk_image_has_digest(img, pi->ref, digest, &local);
	pi->registry_digest = digest;
	pi->local_digest = local ? xstrdup(local) : NULL;
}

/* The images the desired units name: one inspect per distinct reference; one not here yet is
 * left out (apply pulls it).  A reference a `pull: always` unit names is asked of its registry
 * too (observe_registry()). */
static int observe_images(struct dk_client *c, const struct rc_desired *d, bool registry, struct plan_observed *p,
			  struct rc_err *err)
{
	if (!d || !d->nunits)
		return 0;
	p->images = xcalloc(d->nunits, sizeof(*p->images));
	for (size_t i = 0; i < d->nunits; i++) {
		const char *ref = d->units[i].image;
		bool seen = false;
		for (size_t k = 0; k < p->nimages && !seen; k++)
			seen = strcmp(p->images[k].ref, ref) == 0;
		if (seen)
			continue;
		struct dk_image *img = NULL;
		struct dk_status ds;
		struct rc_err e2 = { 0 };
		if (dk_image_inspect(c, ref, &img, &ds, &e2) < 0) {
			if (ds.http == 404)
				continue; /* not here yet: apply pulls it */
			rc_err_copy(err, &e2);
			return rc_err_prefix(err, "inspecting image '%s'", ref);
		}
		struct plan_image *pi = &p->images[p->nimages++];
		pi->ref = xstrdup(ref);
		pi->id = xstrdup(img->id);
		if (registry && pulls_always(d, ref))
			observe_registry(c, img, p, pi);
		dk_image_free(img);
	}
	return 0;
}

/* The engine's data root, asked (one GET /info) only when a unit has a bind mount; for a local
 * engine its real path on this host (the planner refuses a bind root that holds it or lies in it). */
static int observe_data_root(struct dk_client *c, const struct rc_desired *d, struct plan_observed *p,
			     struct rc_err *err)
{
	bool binds = false;
	for (size_t i = 0; d && i < d->nunits && !binds; i++)
		for (size_t j = 0; j < d->units[i].nmounts && !binds; j++)
			binds = d->units[i].mounts[j].kind == RC_MOUNT_BIND;
	if (!binds)
		return 0;
	char *root = NULL;
	struct dk_status ds = { 0 };
	if (dk_data_root(c, &root, &ds, err) < 0)
		return rc_err_prefix(err, "reading the engine's data root");
	char *real = dk_client_local(c) ? realpath(root, NULL) : NULL;
	if (real) {
		free(root);
		root = real;
	}
	p->engine_data_root = root;
	return 0;
}

int observe_build(struct dk_client *c, struct observe_raw *raw, const char *project, const struct rc_desired *d,
		  const struct rc_state *st, struct observation *ret, struct rc_err *err)
{
	struct observation o = { 0 };
	o.containers = raw->containers;
	o.networks = raw->networks;
	bool registry = raw->registry;
	raw->containers = NULL;
	raw->networks = NULL;
	size_t npu, nop;
	observe_containers(&o, project, st, &npu, &nop);
	size_t nnets = observe_networks(&o, project);
	observe_host_ports(c, &o, &npu);
	o.alloc = (struct alloc_observed){ o.ports_in_use, npu, o.our_ports, nop, o.nets, nnets };
	if (observe_images(c, d, registry, &o.plan, err) < 0 || observe_data_root(c, d, &o.plan, err) < 0) {
		observation_release(&o);
		return -1;
	}
	*ret = o;
	return 0;
}

void observe_digest(const struct observation *o, char out[RC_HASH_HEX_LEN + 1])
{
	const struct plan_observed *p = &o->plan;
	char **lines = xcalloc(p->ncontainers + p->nnetworks + 1, sizeof(char *));
	size_t n = 0;
	for (size_t i = 0; i < p->ncontainers; i++) {
		const struct plan_container *c = &p->containers[i];
		lines[n++] = xasprintf("c %s %s %s %s %s", c->id, c->name, c->hash ? c->hash : "-",
				       c->state ? c->state : "-", c->image_id ? c->image_id : "-");
	}
	for (size_t i = 0; i < p->nnetworks; i++) {
		const struct plan_net *nw = &p->networks[i];
		lines[n++] = xasprintf("n %s %s %s%s", nw->id, nw->name, nw->subnet ? nw->subnet : "-",
				       nw->internal ? " internal" : "");
	}
	qsort(lines, n, sizeof(char *), strp_cmp);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		buf_adds(&b, lines[i]);
		buf_addc(&b, '\n');
		free(lines[i]);
	}
	free(lines);
	rc_hash128_hex(buf_cstr(&b), b.len, out);
	buf_release(&b);
}

void observation_release(struct observation *o)
{
	plan_observed_release(&o->plan);
	free(o->ports_in_use);
	free(o->our_ports);
	free(o->nets);
	if (o->containers)
		dk_container_list_free(o->containers);
	if (o->networks)
		dk_network_list_free(o->networks);
	memset(o, 0, sizeof(*o));
}
