/* state_alloc.c — allocations.json (state.h): the allocator's table (alloc.h) kept between runs. */
#include "state_int.h"

#include <cJSON.h>

#include "cidr.h"

void state_alloc_clear(struct rc_state *st)
{
	alloc_table_clear(st->alloc);
}

struct cJSON *state_alloc_emit(const struct rc_state *st)
{
	cJSON *data = sj_obj(), *ports = sj_arr(), *subnets = sj_arr();
	size_t np, ns;
	const struct alloc_port *pv = alloc_ports(st->alloc, &np);
	const struct alloc_subnet *sv = alloc_subnets(st->alloc, &ns);
	for (size_t i = 0; i < np; i++) {
		cJSON *p = sj_obj();
		sj_put_str(p, "unit", pv[i].unit);
		sj_put_num(p, "container_port", pv[i].container_port);
		sj_put_str(p, "proto", pv[i].proto);
		sj_put_num(p, "host_port", pv[i].host_port);
		cJSON_AddItemToArray(ports, p);
	}
	for (size_t i = 0; i < ns; i++) {
		cJSON *s = sj_obj();
		sj_put_str(s, "network", sv[i].network);
		sj_put_str(s, "subnet", sv[i].cidr);
		cJSON_AddItemToArray(subnets, s);
	}
	cJSON_AddItemToObject(data, "ports", ports);
	cJSON_AddItemToObject(data, "subnets", subnets);
	return data;
}

int state_alloc_parse(struct rc_state *st, const struct cJSON *data)
{
	const cJSON *ports = sj_get_arr(data, "ports"), *subnets = sj_get_arr(data, "subnets"), *x;
	if (!ports || !subnets)
		return -1;
	cJSON_ArrayForEach(x, ports) {
		const char *unit, *proto;
		int64_t cport, host;
		if (sj_get_str(x, "unit", false, &unit) < 0 || sj_get_str(x, "proto", false, &proto) < 0 ||
		    sj_get_int(x, "container_port", 1, 65535, &cport) < 0 ||
		    sj_get_int(x, "host_port", 1, 65535, &host) < 0)
			return -1;
		alloc_port_set(st->alloc, unit, (uint16_t)cport, proto, (uint16_t)host);
	}
	cJSON_ArrayForEach(x, subnets) {
		const char *net, *cidr;
		struct cidr c;
		if (sj_get_str(x, "network", false, &net) < 0 || sj_get_str(x, "subnet", false, &cidr) < 0 ||
		    cidr_parse(cidr, &c) != CIDR_OK)
			return -1;
		alloc_subnet_set(st->alloc, net, cidr);
	}
	return 0;
}

uint16_t state_get_port(const struct rc_state *st, const char *unit, uint16_t container_port, const char *proto)
{
	return alloc_port_get(st->alloc, unit, container_port, proto);
}

void state_set_port(struct rc_state *st, const char *unit, uint16_t container_port, const char *proto,
		    uint16_t host_port)
{
	if (alloc_port_set(st->alloc, unit, container_port, proto, host_port))
		st->dirty[F_ALLOC] = true;
}

void state_del_port(struct rc_state *st, const char *unit, uint16_t container_port, const char *proto)
{
	if (alloc_port_del(st->alloc, unit, container_port, proto))
		st->dirty[F_ALLOC] = true;
}

size_t state_nports(const struct rc_state *st)
{
	size_t n;
	alloc_ports(st->alloc, &n);
	return n;
}

const char *state_get_subnet(const struct rc_state *st, const char *network)
{
	return alloc_subnet_get(st->alloc, network);
}

void state_set_subnet(struct rc_state *st, const char *network, const char *cidr)
{
	if (alloc_subnet_set(st->alloc, network, cidr))
		st->dirty[F_ALLOC] = true;
}

void state_del_subnet(struct rc_state *st, const char *network)
{
	if (alloc_subnet_del(st->alloc, network))
		st->dirty[F_ALLOC] = true;
}

size_t state_nsubnets(const struct rc_state *st)
{
	size_t n;
	alloc_subnets(st->alloc, &n);
	return n;
}

int state_allocate(struct rc_state *st, struct rc_desired *d, const struct alloc_observed *obs,
		   struct rc_err *err)
{
	bool changed = false;
	int r = alloc_assign(st->alloc, d, obs, &changed, err);
	if (changed)
		st->dirty[F_ALLOC] = true;
	if (r < 0)
		return rc_err_prefix(err, "allocating");
	return 0;
}
