/* alloc.c — see alloc.h. */
#include "alloc.h"

#include <string.h>

#include "cidr.h"

struct alloc_table {
	struct alloc_port *ports;
	size_t nports, cports;
	struct alloc_subnet *subnets;
	size_t nsubnets, csubnets;
};

static const char *proto_or_tcp(const char *p)
{
	return p ? p : "tcp";
}

/* ---- the table ------------------------------------------------------------- */

static void ports_free(struct alloc_port *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].unit);
		free(v[i].proto);
	}
	free(v);
}

static void subnets_free(struct alloc_subnet *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].network);
		free(v[i].cidr);
	}
	free(v);
}

struct alloc_table *alloc_table_new(void)
{
	return xcalloc(1, sizeof(struct alloc_table));
}

void alloc_table_clear(struct alloc_table *t)
{
	ports_free(t->ports, t->nports);
	subnets_free(t->subnets, t->nsubnets);
	*t = (struct alloc_table){ 0 };
}

void alloc_table_free(struct alloc_table *t)
{
	if (!t)
		return;
	alloc_table_clear(t);
	free(t);
}

const struct alloc_port *alloc_ports(const struct alloc_table *t, size_t *ret_n)
{
	*ret_n = t->nports;
	return t->ports;
}

const struct alloc_subnet *alloc_subnets(const struct alloc_table *t, size_t *ret_n)
{
	*ret_n = t->nsubnets;
	return t->subnets;
}

static struct alloc_port *find_port(const struct alloc_table *t, const char *unit, uint16_t cport,
				    const char *proto)
{
	proto = proto_or_tcp(proto);
	for (size_t i = 0; i < t->nports; i++)
		if (t->ports[i].container_port == cport && strcmp(t->ports[i].unit, unit) == 0 &&
		    strcmp(t->ports[i].proto, proto) == 0)
			return &t->ports[i];
	return NULL;
}

uint16_t alloc_port_get(const struct alloc_table *t, const char *unit, uint16_t container_port, const char *proto)
{
	const struct alloc_port *p = find_port(t, unit, container_port, proto);
	return p ? p->host_port : 0;
}

bool alloc_port_set(struct alloc_table *t, const char *unit, uint16_t container_port, const char *proto,
		    uint16_t host_port)
{
	struct alloc_port *p = find_port(t, unit, container_port, proto);
	if (p) {
		bool changed = p->host_port != host_port;
		p->host_port = host_port;
		return changed;
	}
	GROW(t->ports, t->nports + 1, t->cports);
	t->ports[t->nports++] = (struct alloc_port){ xstrdup(unit), container_port, xstrdup(proto_or_tcp(proto)),
						     host_port };
	return true;
}

bool alloc_port_del(struct alloc_table *t, const char *unit, uint16_t container_port, const char *proto)
{
	struct alloc_port *p = find_port(t, unit, container_port, proto);
	if (!p)
		return false;
	free(p->unit);
	free(p->proto);
	*p = t->ports[--t->nports];
	return true;
}

static struct alloc_subnet *find_subnet(const struct alloc_table *t, const char *network)
{
	for (size_t i = 0; i < t->nsubnets; i++)
		if (strcmp(t->subnets[i].network, network) == 0)
			return &t->subnets[i];
	return NULL;
}

const char *alloc_subnet_get(const struct alloc_table *t, const char *network)
{
	const struct alloc_subnet *s = find_subnet(t, network);
	return s ? s->cidr : NULL;
}

bool alloc_subnet_set(struct alloc_table *t, const char *network, const char *cidr)
{
	struct alloc_subnet *s = find_subnet(t, network);
	if (s) {
		if (strcmp(s->cidr, cidr) == 0)
			return false;
		free(s->cidr);
		s->cidr = xstrdup(cidr);
		return true;
	}
	GROW(t->subnets, t->nsubnets + 1, t->csubnets);
	t->subnets[t->nsubnets++] = (struct alloc_subnet){ xstrdup(network), xstrdup(cidr) };
	return true;
}

bool alloc_subnet_del(struct alloc_table *t, const char *network)
{
	struct alloc_subnet *s = find_subnet(t, network);
	if (!s)
		return false;
	free(s->network);
	free(s->cidr);
	*s = t->subnets[--t->nsubnets];
	return true;
}

/* ---- ports ------------------------------------------------------------------------ */

/* Add to a table being built (each unit port and network is visited once). */
static void append_port(struct alloc_table *t, const char *unit, const struct rc_port *p, uint16_t host)
{
	GROW(t->ports, t->nports + 1, t->cports);
	t->ports[t->nports++] = (struct alloc_port){ xstrdup(unit), p->container_port, xstrdup(proto_or_tcp(p->proto)),
						     host };
}

static void append_subnet(struct alloc_table *t, const char *network, const char *cidr)
{
	GROW(t->subnets, t->nsubnets + 1, t->csubnets);
	t->subnets[t->nsubnets++] = (struct alloc_subnet){ xstrdup(network), xstrdup(cidr) };
}

#define BIT_SET(bm, i) ((bm)[(i) >> 3] |= (uint8_t)(1u << ((i) & 7)))
#define BIT_GET(bm, i) (((bm)[(i) >> 3] >> ((i) & 7)) & 1u)

struct new_port {
	struct rc_port *port;   /* in d */
	const char *unit;
};

/* The host port unit u's port p keeps: what our containers publish for it (the table's when one of them
 * does, else the lowest), else the table's; 0 when it has none. */
static uint16_t port_kept(const struct alloc_table *t, const struct alloc_observed *obs, const struct rc_unit *u,
			  const struct rc_port *p)
{
	const char *proto = proto_or_tcp(p->proto);
	uint16_t have = alloc_port_get(t, u->id, p->container_port, proto);
	uint16_t seen = 0;
	bool seen_have = false;
	for (size_t k = 0; k < obs->nour_ports; k++) {
		const struct alloc_obs_port *o = &obs->our_ports[k];
		if (o->container_port != p->container_port || !o->host_port || strcmp(o->unit, u->id) != 0 ||
		    strcmp(proto_or_tcp(o->proto), proto) != 0)
			continue;
		if (o->host_port == have)
			seen_have = true;
		if (!seen || o->host_port < seen)
			seen = o->host_port;
	}
	return seen_have ? have : seen ? seen : have;
}

static int assign_ports(struct alloc_table *t, struct rc_desired *d, const struct alloc_observed *obs,
			bool *changed, struct rc_err *err)
{
	const struct rc_settings *s = &d->settings;
	uint8_t used[65536 / 8], taken[65536 / 8];
	memset(used, 0, sizeof(used));
	memset(taken, 0, sizeof(taken));
	for (size_t i = 0; i < obs->nports_in_use; i++)
		BIT_SET(used, obs->ports_in_use[i]);
	for (size_t i = 0; i < d->nunits; i++)
		for (size_t j = 0; j < d->units[i].nports; j++)
			if (!d->units[i].ports[j].host_auto && d->units[i].ports[j].host_port)
				BIT_SET(used, d->units[i].ports[j].host_port);

	/* The new table replaces the old one: what is not carried over is freed. */
	struct alloc_table next = { 0 };
	struct new_port *pending = NULL;
	size_t npending = 0, cpending = 0;
	bool moved = false;
	for (size_t i = 0; i < d->nunits; i++) {
		struct rc_unit *u = &d->units[i];
		for (size_t j = 0; j < u->nports; j++) {
			struct rc_port *p = &u->ports[j];
			if (!p->host_auto)
				continue;
			uint16_t host = port_kept(t, obs, u, p);
			if (host && BIT_GET(taken, host))
				host = 0; /* two claims on one port (a broken table): reallocate this one */
			if (!host) {
				GROW(pending, npending + 1, cpending);
				pending[npending++] = (struct new_port){ p, u->id };
				continue;
			}
			if (host != alloc_port_get(t, u->id, p->container_port, p->proto)) {
				moved = true;
				log_debug("unit '%s' port %u/%s: host port %u (re-seeded from Docker)", u->id,
					  p->container_port, proto_or_tcp(p->proto), host);
			}
			BIT_SET(taken, host);
			p->host_port = host;
			append_port(&next, u->id, p, host);
		}
	}

	int r = 0;
	if (npending && (s->port_lo == 0 || s->port_hi < s->port_lo)) {
		r = rc_errf(err, "unit '%s' has 'port: auto' but settings define no port range", pending[0].unit);
		goto out;
	}
	unsigned cursor = s->port_lo;
	for (size_t i = 0; i < npending; i++) {
		while (cursor <= s->port_hi && (BIT_GET(used, cursor) || BIT_GET(taken, cursor)))
			cursor++;
		struct rc_port *p = pending[i].port;
		if (cursor > s->port_hi) {
			r = rc_errf(err, "port pool %u-%u is exhausted: no free host port for unit '%s' port %u/%s",
				    s->port_lo, s->port_hi, pending[i].unit, p->container_port, proto_or_tcp(p->proto));
			goto out;
		}
		BIT_SET(taken, cursor);
		p->host_port = (uint16_t)cursor;
		moved = true;
		append_port(&next, pending[i].unit, p, (uint16_t)cursor);
	}
	if (moved || next.nports != t->nports)
		*changed = true;
	/* Swap the tables: the old ports go with next. */
	{
		struct alloc_port *old = t->ports;
		size_t nold = t->nports;
		t->ports = next.ports;
		t->nports = next.nports;
		t->cports = next.cports;
		next.ports = old;
		next.nports = nold;
	}
out:
	ports_free(next.ports, next.nports);
	free(pending);
	return r;
}

/* ---- subnets ------------------------------------------------------------------------ */

/* The pool of new subnets and its candidates (subnets of size sp in pool): a bit each, set when taken. */
struct subnet_pool {
	struct cidr pool;
	int sp;
	uint8_t *bm;
	uint64_t ncand;
};

/* Mark every candidate that c overlaps. */
static void mark_cidr(struct subnet_pool *sp, struct cidr c)
{
	if (!sp->bm || !cidr_overlap(sp->pool, c))
		return;
	uint64_t lo = c.addr > sp->pool.addr ? c.addr : sp->pool.addr;
	uint64_t hi = cidr_last(c) < cidr_last(sp->pool) ? cidr_last(c) : cidr_last(sp->pool);
	uint64_t first = (lo - sp->pool.addr) >> (32 - sp->sp), last = (hi - sp->pool.addr) >> (32 - sp->sp);
	for (uint64_t i = first; i <= last; i++)
		BIT_SET(sp->bm, i);
}

static void mark_text(struct subnet_pool *sp, const char *cidr)
{
	struct cidr c;
	if (cidr && cidr_parse_err(cidr, false, &c, NULL) == 0)
		mark_cidr(sp, c);
}

/* Check settings' pool and mark what obs and d's fixed subnets take; first names a network that needs one. */
static int pool_open(struct subnet_pool *sp, const struct rc_desired *d, const struct alloc_observed *obs,
		     const char *first, struct rc_err *err)
{
	const struct rc_settings *s = &d->settings;
	sp->sp = s->subnet_prefix;
	if (!s->subnet_pool)
		return rc_errf(err, "network '%s' needs a subnet but settings define no subnet pool", first);
	if (cidr_parse_err(s->subnet_pool, true, &sp->pool, err) < 0)
		return rc_err_prefix(err, "settings subnet pool");
	if (sp->sp < sp->pool.prefix || sp->sp > 30)
		return rc_errf(err, "subnet size /%d does not fit the pool '%s' (needs /%d to /30)", sp->sp,
			       s->subnet_pool, sp->pool.prefix);
	if (sp->sp - sp->pool.prefix > 20)
		return rc_errf(err, "subnet pool '%s' holds too many /%d subnets (at most 2^20)", s->subnet_pool,
			       sp->sp);
	sp->ncand = (uint64_t)1 << (sp->sp - sp->pool.prefix);
	sp->bm = xcalloc((size_t)(sp->ncand / 8 + 1), 1);
	for (size_t i = 0; i < obs->nnets; i++)
		mark_text(sp, obs->nets[i].subnet);
	for (size_t i = 0; i < d->nnetworks; i++)
		mark_text(sp, d->networks[i].subnet);
	return 0;
}

/* The subnet network n keeps: our network's on the engine, else the table's; NULL when it has none. */
static const char *subnet_kept(const struct alloc_table *t, const struct alloc_observed *obs,
			       const struct rc_network *n)
{
	const char *seen = NULL;
	for (size_t k = 0; k < obs->nnets; k++)
		if (obs->nets[k].ours && obs->nets[k].subnet && strcmp(obs->nets[k].name, n->name) == 0) {
			struct cidr c;
			if (cidr_parse_err(obs->nets[k].subnet, false, &c, NULL) == 0)
				seen = obs->nets[k].subnet;
		}
	return seen ? seen : alloc_subnet_get(t, n->name);
}

static int assign_subnets(struct alloc_table *t, struct rc_desired *d, const struct alloc_observed *obs,
			  bool *changed, struct rc_err *err)
{
	size_t need = 0;
	const char *first = NULL;   /* the first network that needs one */
	for (size_t i = 0; i < d->nnetworks; i++)
		if (rc_network_from_pool(&d->networks[i]) && need++ == 0)
			first = d->networks[i].name;
	struct subnet_pool sp = { .sp = d->settings.subnet_prefix };
	if (need && pool_open(&sp, d, obs, first, err) < 0)
		return -1;

	struct alloc_table next = { 0 };
	struct rc_network **pending = NULL;
	size_t npending = 0, cpending = 0;
	bool moved = false;
	int r = 0;
	for (size_t i = 0; i < d->nnetworks; i++) {
		struct rc_network *n = &d->networks[i];
		if (!rc_network_from_pool(n))
			continue;   /* fixed in the manifest, or the engine's choice: nothing held (a shared
			             * network's allocation from before is dropped with the rest) */
		const char *cidr = subnet_kept(t, obs, n);
		if (!cidr) {
			GROW(pending, npending + 1, cpending);
			pending[npending++] = n;
			continue;
		}
		if (!str_eq(cidr, alloc_subnet_get(t, n->name)))
			moved = true;
		mark_text(&sp, cidr);
		n->subnet = xstrdup(cidr);
		append_subnet(&next, n->name, cidr);
	}

	uint64_t cursor = 0;
	for (size_t i = 0; i < npending; i++) {
		while (cursor < sp.ncand && BIT_GET(sp.bm, cursor))
			cursor++;
		if (cursor >= sp.ncand) {
			r = rc_errf(err, "subnet pool '%s' is exhausted: no free /%d for network '%s'",
				    d->settings.subnet_pool, sp.sp, pending[i]->name);
			goto out;
		}
		BIT_SET(sp.bm, cursor);
		struct cidr c = { sp.pool.addr + (uint32_t)(cursor << (32 - sp.sp)), sp.sp };
		char text[CIDR_TEXT_MAX];
		cidr_format(c, text);
		pending[i]->subnet = xstrdup(text);
		moved = true;
		append_subnet(&next, pending[i]->name, text);
	}
	if (moved || next.nsubnets != t->nsubnets)
		*changed = true;
	{
		struct alloc_subnet *old = t->subnets;
		size_t nold = t->nsubnets;
		t->subnets = next.subnets;
		t->nsubnets = next.nsubnets;
		t->csubnets = next.csubnets;
		next.subnets = old;
		next.nsubnets = nold;
	}
out:
	subnets_free(next.subnets, next.nsubnets);
	free(pending);
	free(sp.bm);
	return r;
}

int alloc_assign(struct alloc_table *t, struct rc_desired *d, const struct alloc_observed *obs, bool *changed,
		 struct rc_err *err)
{
	static const struct alloc_observed none;
	if (!obs)
		obs = &none;
	if (assign_ports(t, d, obs, changed, err) < 0 || assign_subnets(t, d, obs, changed, err) < 0)
		return -1;
	return 0;
}
