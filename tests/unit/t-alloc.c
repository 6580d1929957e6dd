/*
 * Unit tests for alloc.c, the allocator of host ports and subnets: a table of
 * cases, each an allocation table before, a desired state, what Docker shows,
 * and what must come out.  No disk, no engine.
 *
 * The little languages of the table (space-separated items):
 *   table    "UNIT:PORT[/udp]=HOST" a port held, "NET=CIDR" a subnet held
 *   desired  "UNIT:PORT[/udp]" an auto port, "UNIT:PORT=HOST" a fixed one,
 *            "NET" a customer's network (from the pool), "NET=CIDR" a fixed
 *            subnet, "*NET" a shared network (the engine's choice)
 *   in_use   host ports in use on the engine or the host
 *   ours     "UNIT:PORT[/udp]=HOST" published by our containers
 *   nets     "NET=CIDR" our network on the engine, "!NET=CIDR" someone else's
 *   want     each desired auto port "UNIT:PORT[/udp]=HOST", then each network
 *            "NET=CIDR" or "NET=-" (no subnet)
 *   after    the table after, items sorted
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "tap.h"
#include "unit.h"
#include "util.h"

struct acase {
	const char *name;
	uint16_t lo, hi;
	const char *pool;
	int prefix;
	const char *table, *desired, *in_use, *ours, *nets;
	int rc;
	const char *want;      /* rc 0 */
	const char *after;     /* rc 0 */
	bool changed;
	const char *err;       /* rc -1: a part of the message */
};

#define RANGE 20000, 20099
#define POOL "10.210.0.0/16", 26

static const struct acase cases[] = {
	{ "a fresh start: lowest ports, lowest subnet", RANGE, POOL, "", "a:80 b:80 b:443 c1", "", "", "", 0,
	  "a:80=20000 b:80=20001 b:443=20002 c1=10.210.0.0/26",
	  "a:80=20000 b:443=20002 b:80=20001 c1=10.210.0.0/26", true, NULL },
	{ "what is held stays: nothing changes", RANGE, POOL, "a:80=20005 c1=10.210.0.192/26", "a:80 c1", "", "", "", 0,
	  "a:80=20005 c1=10.210.0.192/26", "a:80=20005 c1=10.210.0.192/26", false, NULL },
	{ "ports in use and fixed host ports are skipped", RANGE, POOL, "", "a:80 b:80=20002", "20000 20001", "", "", 0,
	  "a:80=20003 b:80=-", "a:80=20003", true, NULL },
	{ "held ports are not given twice", RANGE, POOL, "a:80=20000", "a:80 b:80", "", "", "", 0,
	  "a:80=20000 b:80=20001", "a:80=20000 b:80=20001", true, NULL },
	{ "what our container publishes wins over the table", RANGE, POOL, "a:80=20005", "a:80", "", "a:80=20007", "",
	  0, "a:80=20007", "a:80=20007", true, NULL },
	{ "the table's port wins among those our containers publish", RANGE, POOL, "a:80=20005", "a:80", "",
	  "a:80=20003 a:80=20005", "", 0, "a:80=20005", "a:80=20005", false, NULL },
	{ "a lost table is re-seeded from our containers (the lowest)", RANGE, POOL, "", "a:80", "",
	  "a:80=20011 a:80=20009 b:80=20001", "", 0, "a:80=20009", "a:80=20009", true, NULL },
	{ "two claims on one port (a broken table): the second moves", RANGE, POOL, "a:80=20000 b:80=20000",
	  "a:80 b:80", "", "", "", 0, "a:80=20000 b:80=20001", "a:80=20000 b:80=20001", true, NULL },
	{ "tcp and udp of one port are two allocations", RANGE, POOL, "a:53/udp=20001", "a:53 a:53/udp", "", "", "", 0,
	  "a:53=20000 a:53/udp=20001", "a:53/udp=20001 a:53=20000", true, NULL },
	{ "what left the desired state is freed", RANGE, POOL, "gone:80=20000 old=10.210.0.0/26 a:80=20001", "a:80",
	  "", "", "", 0, "a:80=20001", "a:80=20001", true, NULL },
	{ "the top of the range is used, then it is exhausted", 20000, 20001, POOL, "", "a:80 b:80 c:80", "", "", "",
	  -1, NULL, NULL, false, "port pool 20000-20001 is exhausted: no free host port for unit 'c' port 80/tcp" },
	{ "auto ports without a range", 0, 0, POOL, "", "a:80", "", "", "", -1, NULL, NULL, false,
	  "unit 'a' has 'port: auto' but settings define no port range" },
	{ "fixed ports need no range", 0, 0, POOL, "", "a:80=8080", "", "", "", 0, "a:80=-", "", false, NULL },
	{ "subnets of other networks on the engine are skipped", RANGE, POOL, "", "c1 c2", "", "",
	  "!theirs=10.210.0.0/25 !far=192.168.0.0/24", 0, "c1=10.210.0.128/26 c2=10.210.0.192/26",
	  "c1=10.210.0.128/26 c2=10.210.0.192/26", true, NULL },
	{ "fixed subnets of the manifests are skipped", RANGE, POOL, "", "c1 fixed=10.210.0.0/26", "", "", "", 0,
	  "c1=10.210.0.64/26 fixed=10.210.0.0/26", "c1=10.210.0.64/26", true, NULL },
	{ "our network on the engine wins over the table", RANGE, POOL, "c1=10.210.0.0/26", "c1", "", "",
	  "c1=10.210.5.0/26", 0, "c1=10.210.5.0/26", "c1=10.210.5.0/26", true, NULL },
	{ "a shared network gets no subnet and holds none", RANGE, POOL, "shared=10.210.0.0/26", "*shared c1", "", "",
	  "", 0, "shared=- c1=10.210.0.0/26", "c1=10.210.0.0/26", true, NULL },
	{ "a held subnet is not given twice", RANGE, POOL, "c2=10.210.0.0/26", "c1 c2", "", "", "", 0,
	  "c1=10.210.0.64/26 c2=10.210.0.0/26", "c1=10.210.0.64/26 c2=10.210.0.0/26", true, NULL },
	{ "no pool and no network needs one", RANGE, NULL, 26, "", "*shared fixed=10.1.0.0/24", "", "", "", 0,
	  "shared=- fixed=10.1.0.0/24", "", false, NULL },
	{ "no pool", RANGE, NULL, 26, "", "c1", "", "", "", -1, NULL, NULL, false,
	  "network 'c1' needs a subnet but settings define no subnet pool" },
	{ "a pool with host bits", RANGE, "10.210.0.1/16", 26, "", "c1", "", "", "", -1, NULL, NULL, false,
	  "settings subnet pool: invalid subnet '10.210.0.1/16': host bits set" },
	{ "subnets larger than the pool", RANGE, "10.210.0.0/24", 16, "", "c1", "", "", "", -1, NULL, NULL, false,
	  "subnet size /16 does not fit the pool '10.210.0.0/24' (needs /24 to /30)" },
	{ "subnets smaller than /30", RANGE, "10.210.0.0/24", 31, "", "c1", "", "", "", -1, NULL, NULL, false,
	  "does not fit the pool" },
	{ "more than 2^20 candidates", RANGE, "10.0.0.0/8", 30, "", "c1", "", "", "", -1, NULL, NULL, false,
	  "holds too many /30 subnets" },
	{ "the whole of a small pool, then it is exhausted", RANGE, "10.210.0.0/25", 26, "", "c1 c2 c3", "", "", "", -1,
	  NULL, NULL, false, "subnet pool '10.210.0.0/25' is exhausted: no free /26 for network 'c3'" },
	{ "a /0 pool", RANGE, "0.0.0.0/0", 20, "", "c1", "", "", "!a=0.0.0.0/21", 0, "c1=0.0.16.0/20", "c1=0.0.16.0/20",
	  true, NULL },
};

/* ---- the little languages ---- */

/* Split "UNIT:PORT[/udp][=HOST]"; returns the unit (malloc'ed). */
static char *port_item(const char *item, uint16_t *cport, const char **proto, int *host)
{
	char *unit = xstrdup(item);
	char *colon = strchr(unit, ':'), *eq = strchr(unit, '=');
	*host = -1;
	if (eq) {
		*eq = '\0';
		*host = atoi(eq + 1);
	}
	*colon = '\0';
	*cport = (uint16_t)atoi(colon + 1);
	*proto = strstr(colon + 1, "/udp") ? "udp" : "tcp";
	return unit;
}

/* Call fn for each space-separated item of list. */
#define EACH(list, item)                                                                               \
	for (char *_c = xstrdup(list), *_s = NULL, *item = strtok_r(_c, " ", &_s); item || (free(_c), 0); \
	     item = strtok_r(NULL, " ", &_s))

static struct rc_unit *unit_of(struct rc_desired *d, const char *id)
{
	for (size_t i = 0; i < d->nunits; i++)
		if (strcmp(d->units[i].id, id) == 0)
			return &d->units[i];
	d->units = xrealloc(d->units, (d->nunits + 1) * sizeof(*d->units));
	struct rc_unit *u = &d->units[d->nunits++];
	memset(u, 0, sizeof(*u));
	u->id = xstrdup(id);
	return u;
}

static struct rc_desired *build_desired(const struct acase *c)
{
	struct rc_desired *d = xcalloc(1, sizeof(*d));
	d->settings.project = xstrdup("t");
	d->settings.port_lo = c->lo;
	d->settings.port_hi = c->hi;
	d->settings.subnet_pool = c->pool ? xstrdup(c->pool) : NULL;
	d->settings.subnet_prefix = c->prefix;
	EACH(c->desired, item) {
		if (strchr(item, ':')) {
			uint16_t cport;
			const char *proto;
			int host;
			char *id = port_item(item, &cport, &proto, &host);
			struct rc_unit *u = unit_of(d, id);
			free(id);
			u->ports = xrealloc(u->ports, (u->nports + 1) * sizeof(*u->ports));
			u->ports[u->nports++] = (struct rc_port){ .container_port = cport, .host_auto = host < 0,
								  .host_port = host < 0 ? 0 : (uint16_t)host,
								  .proto = xstrdup(proto) };
			continue;
		}
		bool shared = item[0] == '*';
		char *name = xstrdup(item + shared), *eq = strchr(name, '=');
		if (eq)
			*eq++ = '\0';
		d->networks = xrealloc(d->networks, (d->nnetworks + 1) * sizeof(*d->networks));
		d->networks[d->nnetworks++] = (struct rc_network){ .name = xstrdup(name),
								   .customer = shared ? NULL : xstrdup(name),
								   .subnet = eq ? xstrdup(eq) : NULL };
		free(name);
	}
	return d;
}

static void seed_table(struct alloc_table *t, const char *table)
{
	EACH(table, item) {
		if (strchr(item, ':')) {
			uint16_t cport;
			const char *proto;
			int host;
			char *unit = port_item(item, &cport, &proto, &host);
			alloc_port_set(t, unit, cport, proto, (uint16_t)host);
			free(unit);
		} else {
			char *eq = strchr(item, '=');
			*eq = '\0';
			alloc_subnet_set(t, item, eq + 1);
		}
	}
}

struct observed {
	struct alloc_observed o;
	uint16_t in_use[16];
	struct alloc_obs_port ours[16];
	struct alloc_obs_net nets[16];
	char *strings[64];
	size_t nstrings;
};

static const char *keep(struct observed *ob, char *s)
{
	ob->strings[ob->nstrings++] = s;
	return s;
}

static void build_observed(const struct acase *c, struct observed *ob)
{
	memset(ob, 0, sizeof(*ob));
	EACH(c->in_use, item)
		ob->in_use[ob->o.nports_in_use++] = (uint16_t)atoi(item);
	EACH(c->ours, item) {
		uint16_t cport;
		const char *proto;
		int host;
		const char *unit = keep(ob, port_item(item, &cport, &proto, &host));
		ob->ours[ob->o.nour_ports++] = (struct alloc_obs_port){ unit, cport, proto, (uint16_t)host };
	}
	EACH(c->nets, item) {
		bool theirs = item[0] == '!';
		char *name = xstrdup(item + theirs), *eq = strchr(name, '=');
		*eq = '\0';
		keep(ob, name);
		ob->nets[ob->o.nnets++] = (struct alloc_obs_net){ name, eq + 1, !theirs };
	}
	ob->o.ports_in_use = ob->in_use;
	ob->o.our_ports = ob->ours;
	ob->o.nets = ob->nets;
}

static void port_text(struct buf *b, const char *unit, uint16_t cport, const char *proto, uint16_t host)
{
	buf_addf(b, "%s%s:%u%s=", b->len ? " " : "", unit, cport, strcmp(proto, "tcp") ? "/udp" : "");
	if (host)
		buf_addf(b, "%u", host);
	else
		buf_adds(b, "-");
}

static char *result_text(const struct rc_desired *d)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < d->nunits; i++)
		for (size_t j = 0; j < d->units[i].nports; j++) {
			const struct rc_port *p = &d->units[i].ports[j];
			port_text(&b, d->units[i].id, p->container_port, p->proto, p->host_auto ? p->host_port : 0);
		}
	for (size_t i = 0; i < d->nnetworks; i++)
		buf_addf(&b, "%s%s=%s", b.len ? " " : "", d->networks[i].name,
			 d->networks[i].subnet ? d->networks[i].subnet : "-");
	char *s = xstrdup(buf_cstr(&b));
	buf_release(&b);
	return s;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *table_text(const struct alloc_table *t)
{
	size_t np, ns;
	const struct alloc_port *pv = alloc_ports(t, &np);
	const struct alloc_subnet *sv = alloc_subnets(t, &ns);
	char **items = xcalloc(np + ns + 1, sizeof(char *));
	for (size_t i = 0; i < np; i++) {
		struct buf b = BUF_INIT;
		port_text(&b, pv[i].unit, pv[i].container_port, pv[i].proto, pv[i].host_port);
		items[i] = xstrdup(buf_cstr(&b));
		buf_release(&b);
	}
	for (size_t i = 0; i < ns; i++)
		items[np + i] = xasprintf("%s=%s", sv[i].network, sv[i].cidr);
	qsort(items, np + ns, sizeof(char *), str_cmp);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < np + ns; i++) {
		buf_addf(&b, "%s%s", i ? " " : "", items[i]);
		free(items[i]);
	}
	free(items);
	char *s = xstrdup(buf_cstr(&b));
	buf_release(&b);
	return s;
}

static void run_case(const struct acase *c)
{
	struct alloc_table *t = alloc_table_new();
	seed_table(t, c->table);
	struct rc_desired *d = build_desired(c);
	struct observed ob;
	build_observed(c, &ob);
	struct rc_err err = { 0 };
	bool changed = false;
	int rc = alloc_assign(t, d, &ob.o, &changed, &err);
	is_int(rc, c->rc, "%s", c->name);
	if (c->rc == 0) {
		char *got = result_text(d), *after = table_text(t);
		is_str(got, c->want, "  assigned");
		is_str(after, c->after, "  the table after");
		ok(changed == c->changed, "  %s", c->changed ? "changed" : "unchanged");
		free(got);
		free(after);
		/* a second run over its own result moves nothing */
		changed = false;
		rc_desired_free(d);
		d = build_desired(c);
		is_int(alloc_assign(t, d, &ob.o, &changed, &err), 0, "  again");
		got = result_text(d);
		ok(!changed && strcmp(got, c->want) == 0, "  again: the same, unchanged (%s)", got);
		free(got);
	} else {
		ok(strstr(err.msg, c->err) != NULL, "  says: %s", err.msg);
	}
	for (size_t i = 0; i < ob.nstrings; i++)
		free(ob.strings[i]);
	rc_desired_free(d);
	alloc_table_free(t);
}

static void test_table_edits(void)
{
	struct alloc_table *t = alloc_table_new();
	ok(alloc_port_set(t, "a", 80, NULL, 20000), "a new port: changed");
	ok(!alloc_port_set(t, "a", 80, "tcp", 20000), "the same again (NULL proto is tcp): unchanged");
	ok(alloc_port_set(t, "a", 80, "tcp", 20001), "another host port: changed");
	is_int(alloc_port_get(t, "a", 80, NULL), 20001, "read back");
	is_int(alloc_port_get(t, "a", 80, "udp"), 0, "udp is another port");
	ok(!alloc_port_del(t, "a", 80, "udp"), "deleting what is not there: unchanged");
	ok(alloc_port_del(t, "a", 80, NULL), "deleted");
	ok(alloc_subnet_set(t, "n", "10.0.0.0/24") && !alloc_subnet_set(t, "n", "10.0.0.0/24"), "subnet set once");
	is_str(alloc_subnet_get(t, "n"), "10.0.0.0/24", "read back");
	alloc_table_clear(t);
	ok(alloc_subnet_get(t, "n") == NULL, "cleared");
	alloc_table_free(t);
	alloc_table_free(NULL);
}

static void test_null_observed(void)
{
	struct acase c = { "", RANGE, POOL, "", "a:80 c1", "", "", "", 0, NULL, NULL, false, NULL };
	struct alloc_table *t = alloc_table_new();
	struct rc_desired *d = build_desired(&c);
	struct rc_err err = { 0 };
	bool changed = false;
	is_int(alloc_assign(t, d, NULL, &changed, &err), 0, "obs NULL: nothing seen");
	char *got = result_text(d);
	is_str(got, "a:80=20000 c1=10.210.0.0/26", "  assigned");
	free(got);
	rc_desired_free(d);
	alloc_table_free(t);
}

int main(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		run_case(&cases[i]);
	test_table_edits();
	test_null_observed();
	return done_testing();
}
