/*
 * Unit tests for planner.c: table-driven.  Each case builds a desired state
 * and what Docker "shows", plans, and compares the rendered plan — one line
 * per action "kind target: cause", then "conflict: ..." lines — with the
 * expected text.
 */
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "planner.h"
#include "spec.h"
#include "tap.h"
#include "unit.h"
#include "util.h"

/* ---- builders ------------------------------------------------------------------ */

static struct rc_desired *mk_desired(void)
{
	struct rc_desired *d = xcalloc(1, sizeof(*d));
	d->settings.project = xstrdup("t");
	return d;
}

/* Units must be added in id order. */
static struct rc_unit *add_unit(struct rc_desired *d, const char *id, const char *image)
{
	d->units = xrealloc(d->units, (d->nunits + 1) * sizeof(*d->units));
	struct rc_unit *u = &d->units[d->nunits++];
	memset(u, 0, sizeof(*u));
	u->id = xstrdup(id);
	char *name = xasprintf("t-%s", id);
	for (char *p = name; *p; p++)
		if (*p == '/')
			*p = '-';
	u->container = name;
	const char *slash = strchr(id, '/');
	u->customer = slash ? xstrndup(id, (size_t)(slash - id)) : NULL;
	u->service = xstrdup(slash ? slash + 1 : id);
	u->image = xstrdup(image);
	u->running = true;
	u->memory = 64 << 20;
	if (u->customer) {
		u->networks = xcalloc(1, sizeof(char *));
		u->networks[0] = xasprintf("t-%s", u->customer);
		u->nnetworks = 1;
	}
	return u;
}

static void add_dep(struct rc_unit *u, const char *dep)
{
	u->deps = xrealloc(u->deps, (u->ndeps + 1) * sizeof(*u->deps));
	u->deps[u->ndeps++] = (struct rc_dep){ xstrdup(dep), RC_DEP_STARTED, false };
}

static void add_port(struct rc_unit *u, uint16_t cport, uint16_t host)
{
	u->ports = xrealloc(u->ports, (u->nports + 1) * sizeof(*u->ports));
	u->ports[u->nports++] = (struct rc_port){ cport, host, false, NULL, xstrdup("tcp") };
}

static void add_secret(struct rc_unit *u, const char *name, const char *content)
{
	u->secrets = xrealloc(u->secrets, (u->nsecrets + 1) * sizeof(*u->secrets));
	struct rc_secret *s = &u->secrets[u->nsecrets++];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	s->path = xasprintf("/state/secrets/%s", name);
	rc_hash128_hex(content, strlen(content), s->digest);
}

static void add_net(struct rc_desired *d, const char *name)
{
	d->networks = xrealloc(d->networks, (d->nnetworks + 1) * sizeof(*d->networks));
	struct rc_network *n = &d->networks[d->nnetworks++];
	memset(n, 0, sizeof(*n));
	n->name = xstrdup(name);
	n->id = xstrdup(name + 2);
	n->subnet = xstrdup("10.210.0.0/26");
}

static int seq;

/* An observed container exactly as the executor would have created it from u. */
static struct plan_container *obs_from(struct plan_observed *o, const struct rc_unit *u, const char *state)
{
	o->containers = xrealloc(o->containers, (o->ncontainers + 1) * sizeof(*o->containers));
	struct plan_container *c = &o->containers[o->ncontainers++];
	memset(c, 0, sizeof(*c));
	c->id = xasprintf("c%03d", ++seq);
	c->name = xstrdup(u->container);
	c->unit = xstrdup(u->id);
	c->hash = xstrdup(u->hash);
	c->base_hash = xstrdup(u->base_hash);
	struct buf b = BUF_INIT;
	spec_canonical(u, true, &b);
	c->spec = buf_detach(&b, NULL);
	for (size_t i = 0; i < u->ndeps; i++)
		buf_addf(&b, "%s%s", i ? "," : "", u->deps[i].unit);
	c->depends_on = u->ndeps ? buf_detach(&b, NULL) : NULL;
	c->state = xstrdup(state);
	c->image_id = xstrdup("sha256:aaa");
	c->health = xstrdup("none");
	c->networks = xcalloc(u->nnetworks + 1, sizeof(char *));
	for (size_t i = 0; i < u->nnetworks; i++)
		c->networks[i] = xstrdup(u->networks[i]);
	c->nnetworks = u->nnetworks;
	c->host_ports = xcalloc(u->nports + 1, sizeof(uint16_t));
	for (size_t i = 0; i < u->nports; i++)
		c->host_ports[c->nhost_ports++] = u->ports[i].host_port;
	return c;
}

/* All units of d observed as created from d, all networks present. */
static void obs_all(struct plan_observed *o, const struct rc_desired *d, const char *state)
{
	for (size_t i = 0; i < d->nunits; i++)
		obs_from(o, &d->units[i], state);
	for (size_t i = 0; i < d->nnetworks; i++) {
		o->networks = xrealloc(o->networks, (o->nnetworks + 1) * sizeof(*o->networks));
		const struct rc_network *n = &d->networks[i];   /* as the engine shows it */
		o->networks[o->nnetworks++] = (struct plan_net){ xasprintf("n%03d", ++seq), xstrdup(n->name),
								 xstrdup(n->id), n->subnet ? xstrdup(n->subnet) : NULL,
								 n->internal };
	}
}

static void obs_net(struct plan_observed *o, const char *name)
{
	o->networks = xrealloc(o->networks, (o->nnetworks + 1) * sizeof(*o->networks));
	o->networks[o->nnetworks++] = (struct plan_net){ xasprintf("n%03d", ++seq), xstrdup(name), xstrdup(name + 2),
							 NULL, false };
}

static void obs_foreign(struct plan_observed *o, const char *name, uint16_t port)
{
	o->foreign = xrealloc(o->foreign, (o->nforeign + 1) * sizeof(*o->foreign));
	struct plan_foreign *f = &o->foreign[o->nforeign++];
	f->name = xstrdup(name);
	f->host_ports = xcalloc(1, sizeof(uint16_t));
	f->nhost_ports = 0;
	if (port)
		f->host_ports[f->nhost_ports++] = port;
}

static void obs_image(struct plan_observed *o, const char *ref, const char *id)
{
	o->images = xrealloc(o->images, (o->nimages + 1) * sizeof(*o->images));
	o->images[o->nimages++] = (struct plan_image){ .ref = xstrdup(ref), .id = xstrdup(id) };
}

static void replace(char **slot, const char *v)
{
	free(*slot);
	*slot = v ? xstrdup(v) : NULL;
}

/* ---- rendering ---------------------------------------------------------------------- */

static char *render(const struct plan *p)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "");
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		const char *target = a->network ? a->network : a->unit ? a->unit : a->container_name;
		buf_addf(&b, "%s %s: %s\n", planner_action_kind_name(a->kind), target, a->cause);
	}
	for (size_t i = 0; i < p->nconflicts; i++)
		buf_addf(&b, "conflict: %s\n", p->conflicts[i]);
	return buf_detach(&b, NULL);
}

/* ---- the cases ------------------------------------------------------------------------ */

/* A customer "acme" (db, web depending on db, on network t-acme) and a shared "proxy". */
static struct rc_desired *base(void)
{
	struct rc_desired *d = mk_desired();
	add_unit(d, "acme/db", "db:1");
	struct rc_unit *web = add_unit(d, "acme/web", "app:1");
	add_dep(web, "acme/db");
	add_port(web, 3000, 20000);
	add_secret(web, "db_password", "hunter2");
	struct rc_unit *proxy = add_unit(d, "proxy", "proxy:1");
	add_port(proxy, 80, 8080);
	add_dep(proxy, "acme/web");
	add_net(d, "t-acme");
	return d;
}

struct tcase {
	const char *name;
	/* Build the desired state (hashed afterwards) and the observed state. */
	void (*desired)(struct rc_desired *d);
	void (*observed)(struct plan_observed *o, struct rc_desired *d);
	const char *want;
};

static void d_none(struct rc_desired *d) { (void)d; }
static void o_same(struct plan_observed *o, struct rc_desired *d) { obs_all(o, d, "running"); }
static void o_nothing(struct plan_observed *o, struct rc_desired *d) { (void)o; (void)d; }

/* Observed as created from a variant of the desired state. */
static void o_from_variant(struct plan_observed *o, struct rc_desired *d, void (*mutate)(struct rc_desired *))
{
	(void)d;
	struct rc_desired *old = base();
	mutate(old);
	spec_hash_units(old);
	obs_all(o, old, "running");
	rc_desired_free(old);
}

static void m_old_image(struct rc_desired *d) { replace(&d->units[1].image, "app:0"); }
static void o_old_image(struct plan_observed *o, struct rc_desired *d) { o_from_variant(o, d, m_old_image); }

static void m_old_memory(struct rc_desired *d) { d->units[1].memory = 32 << 20; }
static void o_old_memory(struct plan_observed *o, struct rc_desired *d) { o_from_variant(o, d, m_old_memory); }

static void o_old_memory_exited(struct plan_observed *o, struct rc_desired *d)
{
	o_from_variant(o, d, m_old_memory);
	replace(&o->containers[1].state, "exited");
}

static void m_old_secret(struct rc_desired *d)
{
	rc_hash128_hex("old-pass", 8, d->units[1].secrets[0].digest);
}
static void o_old_secret(struct plan_observed *o, struct rc_desired *d) { o_from_variant(o, d, m_old_secret); }

static void m_old_env_and_memory(struct rc_desired *d)
{
	d->units[0].memory = 1 << 20;
	d->units[0].env = xcalloc(1, sizeof(struct rc_kv));
	d->units[0].env[0] = (struct rc_kv){ xstrdup("MODE"), xstrdup("slow") };
	d->units[0].nenv = 1;
}
static void o_old_env_and_memory(struct plan_observed *o, struct rc_desired *d)
{
	o_from_variant(o, d, m_old_env_and_memory);
}

static void o_image_moved(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	obs_image(o, "app:1", "sha256:bbb");   /* the container runs sha256:aaa */
	obs_image(o, "db:1", "sha256:aaa");    /* unchanged */
}

/* app:1 moved in its registry; the local tag still names what the container runs */
static void o_registry_moved(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	obs_image(o, "app:1", "sha256:aaa");
	struct plan_image *pi = &o->images[o->nimages - 1];
	pi->moved = true;
	pi->local_digest = xstrdup("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	pi->registry_digest = xstrdup("sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
}

static void d_pull_always(struct rc_desired *d)
{
	for (size_t i = 0; i < d->nunits; i++)
		if (str_eq(d->units[i].image, "app:1"))
			d->units[i].pull = RC_PULL_ALWAYS;
}

static void o_states(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	replace(&o->containers[0].state, "exited");
	replace(&o->containers[1].state, "paused");
	replace(&o->containers[2].state, "dead");
}

static void d_stopped(struct rc_desired *d)
{
	for (size_t i = 0; i < d->nunits; i++)
		d->units[i].running = false;
}
static void o_mixed_running(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	replace(&o->containers[0].state, "exited");   /* already stopped: nothing to do */
}

static void o_removed_customer(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	struct rc_desired *gone = mk_desired();
	add_unit(gone, "gone/db", "db:1");
	add_dep(add_unit(gone, "gone/web", "app:1"), "gone/db");
	spec_hash_units(gone);
	obs_from(o, &gone->units[0], "running");
	obs_from(o, &gone->units[1], "exited");
	rc_desired_free(gone);
	obs_net(o, "t-gone");
}

static void o_duplicates(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	/* An older copy of acme/web under another name, and a copy of proxy with the right name but old hash. */
	struct plan_container *c = obs_from(o, &d->units[1], "exited");
	replace(&c->name, "t-acme-web-old");
	replace(&c->hash, "00000000000000000000000000000000");
	c = obs_from(o, &d->units[2], "running");
	replace(&c->hash, "00000000000000000000000000000000");
	/* A container of ours without a unit label. */
	c = obs_from(o, &d->units[2], "exited");
	replace(&c->unit, NULL);
	replace(&c->name, "t-stray");
}

/* A replacement of acme/web cut short: the old container (old hash) still under the unit's name,
 * the new one (current hash) under a side name; and one of proxy after the old one was renamed
 * aside and before the new one took the name. */
static void o_replacement_cut(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	struct plan_container *c = &o->containers[1];
	replace(&c->hash, "00000000000000000000000000000000");
	c = obs_from(o, &d->units[1], "created");
	replace(&c->name, "t-acme-web.next-0badc0de");
	c = &o->containers[2];
	replace(&c->name, "t-proxy.old-12345678");
	replace(&c->hash, "00000000000000000000000000000000");
	replace(&c->state, "exited");
	c = obs_from(o, &d->units[2], "created");
	replace(&c->name, "t-proxy.next-87654321");
}

static void o_half_made(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	/* acme/db created but never started, hash matches: just start it. */
	replace(&o->containers[0].state, "created");
	/* acme/web created with an old memory setting: recreate, not update. */
	replace(&o->containers[1].state, "created");
	replace(&o->containers[1].hash, "11111111111111111111111111111111");
	/* proxy: fine. */
}

static void o_half_made_net(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	/* acme/web created, crash before its network was connected. */
	replace(&o->containers[1].state, "created");
	free(o->containers[1].networks[0]);
	o->containers[1].nnetworks = 0;
}

static void o_wrong_name(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	replace(&o->containers[0].name, "t-acme-db-renamed");
}

static void o_conflicts(struct plan_observed *o, struct rc_desired *d)
{
	(void)d;
	obs_foreign(o, "someone-else", 8080);
	obs_foreign(o, "t-acme-db", 0);
	o->foreign_networks = xcalloc(1, sizeof(*o->foreign_networks));
	o->foreign_networks[0].name = xstrdup("t-acme");
	o->nforeign_networks = 1;
}

static void o_host_listening(struct plan_observed *o, struct rc_desired *d)
{
	(void)d;
	o->host_listening = xcalloc(2, sizeof(uint16_t));
	o->host_listening[0] = 8080;
	o->nhost_listening = 1;
}

static void o_conflict_running(struct plan_observed *o, struct rc_desired *d)
{
	/* Our proxy already runs on 8080 and nothing needs starting: a stale foreign entry is no conflict. */
	obs_all(o, d, "running");
	obs_foreign(o, "someone-else", 8080);
}

static void d_port_clash(struct rc_desired *d) { d->units[0].ports = NULL; add_port(&d->units[0], 5432, 8080); }

static void d_protected(struct rc_desired *d) { d->units[1].protected_ = true; }

/* acme/web binds /srv/web (root /srv, which holds the engine's data root /srv/docker), proxy
 * binds /data/x (root /data, clear of it), acme/db binds /srv/docker/volumes/v (root /srv/docker/volumes, inside it). */
static void add_bind(struct rc_unit *u, const char *source)
{
	u->mounts = xrealloc(u->mounts, (u->nmounts + 1) * sizeof(*u->mounts));
	u->mounts[u->nmounts++] = (struct rc_mount){ .kind = RC_MOUNT_BIND, .source = xstrdup(source),
						    .target = xstrdup("/data") };
}

static void d_binds(struct rc_desired *d)
{
	d->settings.bind_roots = xcalloc(4, sizeof(char *));
	d->settings.bind_roots[0] = xstrdup("/srv");
	d->settings.bind_roots[1] = xstrdup("/data");
	d->settings.bind_roots[2] = xstrdup("/srv/docker/volumes");
	d->settings.nbind_roots = 3;
	add_bind(&d->units[1], "/srv/web");
	add_bind(&d->units[2], "/data/x");
	add_bind(&d->units[0], "/srv/docker/volumes/v");
}

static void d_bind_inside(struct rc_desired *d)
{
	d->settings.bind_roots = xcalloc(2, sizeof(char *));
	d->settings.bind_roots[0] = xstrdup("/srv/docker/volumes");
	d->settings.nbind_roots = 1;
	add_bind(&d->units[0], "/srv/docker/volumes/v");
}

static void o_data_root(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	o->engine_data_root = xstrdup("/srv/docker");
}

static void o_data_root_elsewhere(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	o->engine_data_root = xstrdup("/var/lib/docker");
}
static void o_protected(struct plan_observed *o, struct rc_desired *d) { o_from_variant(o, d, m_old_image); }

static void o_no_spec_label(struct plan_observed *o, struct rc_desired *d)
{
	o_from_variant(o, d, m_old_memory);
	replace(&o->containers[1].spec, NULL);
}

/* A shared network t-backend (subnet 10.99.0.0/24 in the manifests) that proxy is on. */
static void d_backend(struct rc_desired *d)
{
	d->networks = xrealloc(d->networks, (d->nnetworks + 1) * sizeof(*d->networks));
	struct rc_network *n = &d->networks[d->nnetworks++];   /* after t-acme: sorted */
	memset(n, 0, sizeof(*n));
	n->name = xstrdup("t-backend");
	n->id = xstrdup("backend");
	n->subnet = xstrdup("10.99.0.0/24");
	struct rc_unit *proxy = &d->units[2];
	proxy->networks = xcalloc(1, sizeof(char *));
	proxy->networks[proxy->nnetworks++] = xstrdup("t-backend");
}
static void d_backend_internal(struct rc_desired *d)
{
	d_backend(d);
	d->networks[1].internal = true;
}
static void d_backend_engine(struct rc_desired *d)
{
	d_backend(d);
	replace(&d->networks[1].subnet, NULL);
}
static void d_backend_engine_internal(struct rc_desired *d)
{
	d_backend_engine(d);
	d->networks[1].internal = true;
}

static struct plan_net *obs_net_named(struct plan_observed *o, const char *name)
{
	for (size_t i = 0; i < o->nnetworks; i++)
		if (str_eq(o->networks[i].name, name))
			return &o->networks[i];
	BUG("no observed network '%s'", name);
}

/* t-backend made by the engine's choice before the manifests fixed a subnet. */
static void o_backend_engine(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	replace(&obs_net_named(o, "t-backend")->subnet, "172.20.0.0/16");
}
static void o_backend_no_subnet(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	replace(&obs_net_named(o, "t-backend")->subnet, NULL);
}
static void m_backend_old_image(struct rc_desired *d)
{
	d_backend(d);
	m_old_image(d);
}
static void o_backend_engine_image(struct plan_observed *o, struct rc_desired *d)
{
	o_from_variant(o, d, m_backend_old_image);
	replace(&obs_net_named(o, "t-backend")->subnet, "172.20.0.0/16");
}
/* t-acme (allocated 10.210.0.0/26) made internal by hand. */
static void o_acme_internal(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	obs_net_named(o, "t-acme")->internal = true;
}
/* t-backend as made before internal was set in the manifests. */
static void o_backend_plain(struct plan_observed *o, struct rc_desired *d) { o_from_variant(o, d, d_backend); }
static void o_backend_plain_engine(struct plan_observed *o, struct rc_desired *d)
{
	o_from_variant(o, d, d_backend);
	replace(&obs_net_named(o, "t-backend")->subnet, "172.20.0.0/16");
}
/* A run cut short while t-acme was recreated: acme/web stopped and off it. */
static void o_stopped_off_net(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	replace(&o->containers[1].state, "exited");
	free(o->containers[1].networks[0]);
	o->containers[1].nnetworks = 0;
}
/* ... and a running one off its network is drift's to find (the labels say nothing). */
static void o_running_off_net(struct plan_observed *o, struct rc_desired *d)
{
	obs_all(o, d, "running");
	free(o->containers[1].networks[0]);
	o->containers[1].nnetworks = 0;
}

static const struct tcase cases[] = {
	{ "no-op: everything matches", d_none, o_same, "" },
	{ "fresh: networks first, then creates in dependency order", d_none, o_nothing,
	  "network create t-acme: missing\n"
	  "create acme/db: missing\n"
	  "create acme/web: missing\n"
	  "create proxy: missing\n" },
	{ "image changed → recreate with the field named", d_none, o_old_image,
	  "recreate acme/web: image: app:0 -> app:1\n" },
	{ "resource-only change → update in place", d_none, o_old_memory,
	  "update acme/web: memory: 33554432 -> 67108864\n" },
	{ "resource-only change of a stopped container → update then start", d_none, o_old_memory_exited,
	  "update acme/web: memory: 33554432 -> 67108864\n"
	  "start acme/web: stopped\n" },
	{ "resource + other change → recreate naming both", d_none, o_old_env_and_memory,
	  "recreate acme/db: env.MODE removed (was slow); memory: 1048576 -> 67108864\n" },
	{ "secret changed: named, never valued", d_none, o_old_secret,
	  "recreate acme/web: secret db_password changed\n" },
	{ "mutable tag moved → recreate", d_none, o_image_moved,
	  "recreate acme/web: image app:1 now points to sha256:bbb\n" },
	{ "pull: always, the tag moved in the registry → recreate with both digests", d_pull_always,
	  o_registry_moved,
	  "recreate acme/web: image app:1 moved in the registry: sha256:0123456789ab\u2026 \u2192 "
	  "sha256:fedcba987654\u2026\n" },
	{ "pull: missing ignores a move in the registry", d_none, o_registry_moved, "" },
	{ "exited → start, paused → start, dead → recreate", d_none, o_states,
	  "start acme/db: stopped\n"
	  "start acme/web: paused\n"
	  "recreate proxy: container is dead\n" },
	{ "desired stopped: stops in reverse dependency order", d_stopped, o_mixed_running,
	  "stop proxy: desired state: stopped\n"
	  "stop acme/web: desired state: stopped\n" },
	{ "removed customer: containers from dependents down (their depends-on label), then its network last",
	  d_none, o_removed_customer,
	  "remove gone/web: unit removed from manifests\n"
	  "remove gone/db: unit removed from manifests\n"
	  "network remove t-gone: network removed from manifests\n" },
	{ "duplicates and an unlabelled container are removed", d_none, o_duplicates,
	  "remove t-stray: container has no unit label\n"
	  "remove proxy: duplicate container for unit 'proxy' (keeping 't-proxy')\n"
	  "remove acme/web: duplicate container for unit 'acme/web' (keeping 't-acme-web')\n" },
	{ "a replacement cut short: the container under the unit's name is kept, side containers removed",
	  d_none, o_replacement_cut,
	  "remove proxy: duplicate container for unit 'proxy' (keeping 't-proxy.next-87654321')\n"
	  "remove acme/web: duplicate container for unit 'acme/web' (keeping 't-acme-web')\n"
	  "update acme/web: spec hash differs\n"
	  "recreate proxy: container name 't-proxy.next-87654321' should be 't-proxy'\n" },
	{ "half-made containers: start if matching, recreate if not", d_none, o_half_made,
	  "start acme/db: created, never started\n"
	  "recreate acme/web: spec hash differs\n" },
	{ "half-made container missing its network → recreate", d_none, o_half_made_net,
	  "recreate acme/web: half-made container is not connected to network 't-acme'\n" },
	{ "wrong container name → recreate", d_none, o_wrong_name,
	  "recreate acme/db: container name 't-acme-db-renamed' should be 't-acme-db'\n" },
	{ "conflicts: unmanaged port, container name and network name", d_none, o_conflicts,
	  "network create t-acme: missing\n"
	  "create acme/db: missing\n"
	  "create acme/web: missing\n"
	  "create proxy: missing\n"
	  "conflict: network name 't-acme' is taken by a network not managed by reconciler\n"
	  "conflict: unit 'acme/db' needs container name 't-acme-db', which a container not managed by "
	  "reconciler holds\n"
	  "conflict: unit 'proxy' needs host port 8080, which container 'someone-else' (not managed by "
	  "reconciler) publishes\n" },
	{ "no conflict for a port the plan does not need", d_none, o_conflict_running, "" },
	{ "a port a host process listens on", d_none, o_host_listening,
	  "network create t-acme: missing\n"
	  "create acme/db: missing\n"
	  "create acme/web: missing\n"
	  "create proxy: missing\n"
	  "conflict: unit 'proxy' needs host port 8080, which a process on the host (not a container) listens on\n" },
	{ "a bind root that holds or lies in the engine's data root (changed or not)", d_binds, o_data_root,
	  "conflict: unit 'acme/db' mounts '/srv/docker/volumes/v' from bind root '/srv', which holds the engine's "
	  "data root '/srv/docker': a link inside the root could hand the container other containers' files and "
	  "the engine's state; narrow policy.bind_roots or move the engine's data root out of it\n"
	  "conflict: unit 'acme/web' mounts '/srv/web' from bind root '/srv', which holds the engine's data root "
	  "'/srv/docker': a link inside the root could hand the container other containers' files and the "
	  "engine's state; narrow policy.bind_roots or move the engine's data root out of it\n" },
	{ "a bind root inside the engine's data root", d_bind_inside, o_data_root,
	  "conflict: unit 'acme/db' mounts '/srv/docker/volumes/v' from bind root '/srv/docker/volumes', which lies "
	  "inside the engine's data root '/srv/docker': a link inside the root could hand the container other "
	  "containers' files and the engine's state; narrow policy.bind_roots or move the engine's data root out "
	  "of it\n" },
	{ "bind roots clear of the engine's data root", d_binds, o_data_root_elsewhere, "" },
	{ "two units wanting one host port", d_port_clash, o_same,
	  "conflict: host port 8080 is wanted by both unit 'acme/db' and unit 'proxy'\n" },
	{ "protected unit: action still planned (the executor asks)", d_protected, o_protected,
	  "recreate acme/web: image: app:0 -> app:1\n" },
	{ "no spec label: trust the base hash", d_none, o_no_spec_label,
	  "update acme/web: spec changed (container has no spec label)\n" },
	{ "a subnet added to a shared network: network recreate", d_backend, o_backend_engine,
	  "network recreate t-backend: subnet: 172.20.0.0/16 -> 10.99.0.0/24\n" },
	{ "a subnet where the network shows none: network recreate", d_backend, o_backend_no_subnet,
	  "network recreate t-backend: subnet added (10.99.0.0/24)\n" },
	{ "the same subnet: nothing", d_backend, o_same, "" },
	{ "internal flipped: network recreate", d_backend_internal, o_backend_plain,
	  "network recreate t-backend: internal: false -> true\n" },
	{ "no subnet in the manifests: the engine's choice is any subnet", d_backend_engine, o_backend_engine, "" },
	{ "no subnet in the manifests, internal flipped: only internal", d_backend_engine_internal,
	  o_backend_plain_engine,
	  "network recreate t-backend: internal: false -> true\n" },
	{ "a customer network's internal flag set by hand: network recreate", d_none, o_acme_internal,
	  "network recreate t-acme: internal: true -> false\n" },
	{ "a network recreate comes first, then the units' own actions", d_backend, o_backend_engine_image,
	  "network recreate t-backend: subnet: 172.20.0.0/16 -> 10.99.0.0/24\n"
	  "recreate acme/web: image: app:0 -> app:1\n" },
	{ "stopped container off one of its networks → recreate (starting it would leave it off)", d_none,
	  o_stopped_off_net, "recreate acme/web: stopped container is not connected to network 't-acme'\n" },
	{ "running container off one of its networks: drift's finding, not the planner's", d_none, o_running_off_net,
	  "" },
};

static void run_cases(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct tcase *t = &cases[i];
		struct rc_desired *d = base();
		t->desired(d);
		spec_hash_units(d);
		struct plan_observed o = { 0 };
		t->observed(&o, d);
		struct plan p;
		struct rc_err err;
		if (planner_plan(d, &o, &p, &err) < 0) {
			ok(0, "%s: %s", t->name, err.msg);
		} else {
			char *got = render(&p);
			is_str(got, t->want, "%s", t->name);
			free(got);
			if (str_eq(t->name, "protected unit: action still planned (the executor asks)"))
				ok(p.n == 1 && p.v[0].protected_ && p.v[0].desired == &d->units[1] &&
				   p.v[0].container_id && p.v[0].changes.n == 1,
				   "protected flag, desired unit, container id and changes carried");
			plan_release(&p);
		}
		plan_observed_release(&o);
		rc_desired_free(d);
	}
}

/* ---- other tests -------------------------------------------------------------------------- */

static void test_markers(void)
{
	is_str(planner_action_marker(PLAN_CREATE), "+", "create marker");
	is_str(planner_action_marker(PLAN_UPDATE), "~", "update marker");
	is_str(planner_action_marker(PLAN_RECREATE), "-/+", "recreate marker");
	is_str(planner_action_marker(PLAN_REMOVE), "-", "remove marker");
	is_str(planner_action_marker(PLAN_START), ">", "start marker");
	is_str(planner_action_marker(PLAN_STOP), ".", "stop marker");
	is_str(planner_action_kind_name(PLAN_NET_REMOVE), "network remove", "kind name");
}

static char *wave_text(const struct plan_waves *w)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "");
	for (size_t i = 0; i < w->n; i++) {
		buf_addf(&b, "%s[", i ? " " : "");
		for (size_t j = 0; j < w->v[i].n; j++)
			buf_addf(&b, "%s%s", j ? " " : "", w->v[i].units[j]->id);
		buf_addc(&b, ']');
	}
	return buf_detach(&b, NULL);
}

static void test_waves(void)
{
	struct rc_desired *d = mk_desired();
	add_unit(d, "a", "x:1");
	add_dep(add_unit(d, "b", "x:1"), "a");
	struct rc_unit *c = add_unit(d, "c", "x:1");
	add_dep(c, "a");
	add_dep(c, "b");
	add_dep(c, "not-in-desired");
	add_unit(d, "d", "x:1");
	add_dep(add_unit(d, "e", "x:1"), "c");
	struct plan_waves w;
	struct rc_err err;
	is_int(planner_waves(d, NULL, 0, &w, &err), 0, "waves of all units");
	char *t = wave_text(&w);
	is_str(t, "[a d] [b] [c] [e]", "levels by deepest dependency");
	free(t);
	plan_waves_release(&w);

	const char *subset[] = { "e", "c", "a" };
	is_int(planner_waves(d, subset, 3, &w, &err), 0, "waves of a subset");
	t = wave_text(&w);
	is_str(t, "[a] [c] [e]", "deps outside the set count as satisfied");
	free(t);
	plan_waves_release(&w);

	const char *unknown[] = { "zzz" };
	is_int(planner_waves(d, unknown, 1, &w, &err), -1, "unknown unit is an error");

	const struct rc_unit **deps;
	c = &d->units[2];   /* add_unit() moved the array */
	size_t n = planner_unit_deps(d, c, &deps);
	ok(n == 2 && deps[0] == &d->units[0] && deps[1] == &d->units[1], "unit deps skip unknown ids");
	free(deps);

	/* A cycle: a -> e -> c -> a. */
	add_dep(&d->units[0], "e");
	is_int(planner_waves(d, NULL, 0, &w, &err), -1, "cycle detected");
	is_str(err.msg, "dependency cycle: a -> e -> c -> a", "cycle named, in the loader's format");
	spec_hash_units(d);
	struct plan p;
	is_int(planner_plan(d, NULL, &p, &err), -1, "planning refuses a cycle");
	ok(strstr(err.msg, "dependency cycle") != NULL, "with the reason: %s", err.msg);
	rc_desired_free(d);
}

static void test_overlay(void)
{
	const char *label = "cpus=1000\nenv.A=x\nimage=app:1\nmemory=10\nrestart.policy=always\n";
	struct buf b = BUF_INIT;
	planner_resource_lines(label, &b);
	is_str(b.data, "cpus=1000\nmemory=10\nrestart.policy=always\n", "resource lines extracted");
	buf_reset(&b);
	planner_overlay_resources(label, "memory=20\npids=5\n", &b);
	is_str(b.data, "env.A=x\nimage=app:1\nmemory=20\npids=5\n", "resources overlaid, sorted");
	buf_release(&b);

	/* After an UPDATE, the effective hash + overlaid spec make the next plan a no-op. */
	struct rc_desired *d = base();
	spec_hash_units(d);
	struct plan_observed o = { 0 };
	o_old_memory(&o, d);
	struct buf want = BUF_INIT, res = BUF_INIT, eff = BUF_INIT;
	spec_canonical(&d->units[1], true, &want);
	planner_resource_lines(want.data, &res);
	planner_overlay_resources(o.containers[1].spec, res.data, &eff);
	replace(&o.containers[1].hash, d->units[1].hash);
	free(o.containers[1].spec);
	o.containers[1].spec = buf_detach(&eff, NULL);
	struct plan p;
	struct rc_err err;
	is_int(planner_plan(d, &o, &p, &err), 0, "plan after in-place update");
	is_int(p.n, 0, "no actions once the effective hash is used");
	is_str(o.containers[1].spec, want.data, "overlaid spec equals the desired spec");
	plan_release(&p);
	buf_release(&want);
	buf_release(&res);
	plan_observed_release(&o);
	rc_desired_free(d);
}

static void test_scale(void)
{
	/* 1000 customers × 2 units, all matching: zero actions. */
	struct rc_desired *d = mk_desired();
	char id[64];
	for (int i = 0; i < 1000; i++) {
		char db[64];
		snprintf(id, sizeof(id), "c%04d/app", i);
		snprintf(db, sizeof(db), "c%04d/db", i);
		add_dep(add_unit(d, id, "app:1"), db);
		add_unit(d, db, "db:1");
	}
	spec_hash_units(d);
	struct plan_observed o = { 0 };
	obs_all(&o, d, "running");
	struct plan p;
	struct rc_err err;
	is_int(planner_plan(d, &o, &p, &err), 0, "plan 2000 units");
	is_int(p.n, 0, "2000 matching units: zero actions");
	plan_release(&p);
	plan_observed_release(&o);
	rc_desired_free(d);
}

/* A job (run: once): exited 0 with its spec is converged; exited non-zero runs again; never started
 * runs; a changed spec recreates it. */
static void test_jobs(void)
{
	struct rc_desired *d = mk_desired();
	struct rc_unit *u = add_unit(d, "migrate", "app:1");
	u->job = true;
	spec_hash_units(d);
	static const struct {
		const char *state;
		bool has_exit;
		int code;
		const char *hash;
		const char *want;
	} jcases[] = {
		{ "exited", true, 0, NULL, "" },
		{ "exited", true, 3, NULL, "start:job failed (exit 3): runs again" },
		{ "exited", false, 0, NULL, "start:stopped" },
		{ "created", false, 0, NULL, "start:created, never started" },
		{ "running", false, 0, NULL, "" },
		{ "exited", true, 0, "00000000000000000000000000000000", "recreate" },
	};
	for (size_t i = 0; i < sizeof jcases / sizeof jcases[0]; i++) {
		struct plan_observed o = { 0 };
		struct plan_container *c = obs_from(&o, u, jcases[i].state);
		c->has_exit = jcases[i].has_exit;
		c->exit_code = jcases[i].code;
		if (jcases[i].hash) {  /* made from another spec: not an in-place change */
			replace(&c->hash, jcases[i].hash);
			replace(&c->base_hash, jcases[i].hash);
			replace(&c->spec, "image=app:0\nrun=once\n");
		}
		struct plan p = { 0 };
		struct rc_err err = { 0 };
		if (planner_plan(d, &o, &p, &err) < 0) {
			ok(0, "job %s: %s", jcases[i].state, err.msg);
			plan_observed_release(&o);
			continue;
		}
		struct buf b = BUF_INIT;
		buf_adds(&b, "");
		for (size_t k = 0; k < p.n; k++)
			if (p.v[k].kind == PLAN_RECREATE)
				buf_addf(&b, "recreate");
			else
				buf_addf(&b, "%s:%s", planner_action_kind_name(p.v[k].kind), p.v[k].cause);
		is_str(buf_cstr(&b), jcases[i].want, "job, container %s%s (exit %d)", jcases[i].state,
		       jcases[i].hash ? " of an old spec" : "", jcases[i].code);
		buf_release(&b);
		plan_release(&p);
		plan_observed_release(&o);
	}
	struct buf text = BUF_INIT;
	spec_canonical(u, true, &text);
	ok(strstr(buf_cstr(&text), "run=once\n") != NULL, "a job's canonical text says run=once");
	buf_release(&text);
	rc_desired_free(d);
}

int main(void)
{
	run_cases();
	test_jobs();
	test_markers();
	test_waves();
	test_overlay();
	test_scale();
	return done_testing();
}
