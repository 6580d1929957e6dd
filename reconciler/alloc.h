/*
 * alloc.h — the allocator of host ports (`port: auto`) and per-network
 * subnets.  Pure: no disk, no engine.  The state (state.h) keeps a table in
 * allocations.json and calls alloc_assign() with what the caller saw in
 * Docker; tests call it with a table they made.
 *
 * Owns: struct alloc_table (opaque), the allocations held — a host port per
 * (unit id, container port, proto) and a subnet per network name — and the
 * rules that fill a desired state from it (alloc_assign(), below).
 */
#ifndef RC_ALLOC_H
#define RC_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "unit.h"
#include "util.h"

struct alloc_table;

/* One allocation, as the table holds it (read-only views: alloc_ports(), alloc_subnets()). */
struct alloc_port {
	char *unit;
	uint16_t container_port;
	char *proto;              /* "tcp" / "udp" */
	uint16_t host_port;
};
struct alloc_subnet {
	char *network;
	char *cidr;
};

struct alloc_table *alloc_table_new(void);
/* Forget every allocation. */
void alloc_table_clear(struct alloc_table *t);
/* NULL is fine. */
void alloc_table_free(struct alloc_table *t);
/* Every allocation, in no particular order; borrowed until the next change. */
const struct alloc_port *alloc_ports(const struct alloc_table *t, size_t *ret_n);
const struct alloc_subnet *alloc_subnets(const struct alloc_table *t, size_t *ret_n);

/* proto NULL means "tcp".  The host port of (unit, container_port, proto); 0 if none. */
uint16_t alloc_port_get(const struct alloc_table *t, const char *unit, uint16_t container_port, const char *proto);
/* Setters and deleters copy what they are given and return true when the table changed. */
bool alloc_port_set(struct alloc_table *t, const char *unit, uint16_t container_port, const char *proto,
		    uint16_t host_port);
bool alloc_port_del(struct alloc_table *t, const char *unit, uint16_t container_port, const char *proto);
/* The subnet (CIDR) of network; NULL if none. */
const char *alloc_subnet_get(const struct alloc_table *t, const char *network);
bool alloc_subnet_set(struct alloc_table *t, const char *network, const char *cidr);
bool alloc_subnet_del(struct alloc_table *t, const char *network);

/* A host port published by one of OUR containers (from its unit label and Ports). */
struct alloc_obs_port {
	const char *unit;
	uint16_t container_port;
	const char *proto;        /* "tcp" / "udp"; NULL means "tcp" */
	uint16_t host_port;
};
/* A network on the engine and its subnet. */
struct alloc_obs_net {
	const char *name;
	const char *subnet;       /* CIDR; NULL or IPv6: ignored */
	bool ours;                /* carries our project label */
};
/* What the caller saw in Docker.  All borrowed. */
struct alloc_observed {
	/* Every host port published on the engine, by anyone (ours and unmanaged), and, with a
	 * local engine, every TCP port a host process listens on (hostports.h). */
	const uint16_t *ports_in_use;
	size_t nports_in_use;
	/* Published ports of our containers, by unit. */
	const struct alloc_obs_port *our_ports;
	size_t nour_ports;
	/* Every network on the engine that has a subnet. */
	const struct alloc_obs_net *nets;
	size_t nnets;
};

/*
 * Fill d: ports[i].host_port of every host_auto port and the subnet of every
 * network without a fixed one, and replace the table's allocations with
 * those of d (*changed is set true when they differ from before; it is
 * never set false).  obs may be NULL (nothing seen).
 *
 *  - An allocation never moves while its unit port / network exists.  What
 *    our containers actually publish (obs->our_ports) and the subnets of our
 *    networks win over the table (and re-seed it when it was lost).  Two
 *    claims on one host port (a broken table): the second is allocated anew.
 *  - New ports: the lowest port in settings.port_lo..port_hi that is not
 *    allocated, not in obs->ports_in_use and not a fixed host port of d.
 *  - New subnets: the lowest subnet of size settings.subnet_prefix in
 *    settings.subnet_pool that overlaps no allocated subnet, no subnet in
 *    obs->nets and no fixed subnet in d.  Only a customer's networks (its
 *    own and its link networks) take one (rc_network_from_pool()); a
 *    shared network without a fixed subnet is left without (NULL: the
 *    engine chooses when it is created) and holds no allocation.
 *  - Allocations of units, ports and networks no longer in d are freed.
 * Fails (the table and d possibly half-filled: do not apply) when a pool is
 * missing, malformed or exhausted; err names the unit port or network.
 */
int alloc_assign(struct alloc_table *t, struct rc_desired *d, const struct alloc_observed *obs, bool *changed,
		 struct rc_err *err);

#endif
