/* unit.c — see unit.h. */
#include "unit.h"

#include <string.h>

#include "util.h"

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_kv(struct rc_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void rc_unit_release(struct rc_unit *u)
{
	free(u->id);
	free(u->container);
	free(u->customer);
	free(u->service);
	free(u->image);
	if (u->build) {
		free(u->build->context);
		free(u->build->tree);
		free(u->build->dockerfile);
		free(u->build->target);
		for (size_t i = 0; i < u->build->nargs; i++) {
			free(u->build->args[i].key);
			free(u->build->args[i].value);
		}
		free(u->build->args);
		free(u->build);
	}
	free_strv(u->command, u->ncommand);
	free_strv(u->entrypoint, u->nentrypoint);
	free_kv(u->env, u->nenv);
	free_kv(u->labels, u->nlabels);
	for (size_t i = 0; i < u->nports; i++) {
		free(u->ports[i].host_ip);
		free(u->ports[i].proto);
	}
	free(u->ports);
	for (size_t i = 0; i < u->nmounts; i++) {
		free(u->mounts[i].source);
		free(u->mounts[i].target);
	}
	free(u->mounts);
	for (size_t i = 0; i < u->nsecrets; i++) {
		free(u->secrets[i].name);
		free(u->secrets[i].path);
		free(u->secrets[i].customer);
	}
	free(u->secrets);
	free_strv(u->networks, u->nnetworks);
	free_strv(u->links, u->nlinks);
	free_strv(u->swarm.constraints, u->swarm.nconstraints);
	free_strv(u->swarm.spread, u->swarm.nspread);
	free(u->swarm.publish_mode);
	free(u->health.cmd);
	free(u->health.http_path);
	for (size_t i = 0; i < u->ndeps; i++)
		free(u->deps[i].unit);
	free(u->deps);
	free(u->restart.policy);
	free_strv(u->cap_add, u->ncap_add);
	free_strv(u->devices, u->ndevices);
	free(u->plan);
	sk_values_release(u->fields);
	free(u->file);
	memset(u, 0, sizeof(*u));
}

void rc_network_release(struct rc_network *n)
{
	free(n->name);
	free(n->id);
	free(n->customer);
	free(n->subnet);
	free(n->link_of);
	free(n->file);
	memset(n, 0, sizeof(*n));
}

void rc_desired_free(struct rc_desired *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nunits; i++)
		rc_unit_release(&d->units[i]);
	free(d->units);
	for (size_t i = 0; i < d->nnetworks; i++)
		rc_network_release(&d->networks[i]);
	free(d->networks);
	free(d->settings.project);
	free(d->settings.subnet_pool);
	free_strv(d->settings.bind_roots, d->settings.nbind_roots);
	free_strv(d->settings.notify_urls, d->settings.nnotify_urls);
	free_strv(d->settings.notify_events, d->settings.nnotify_events);
	free(d->commit);
	free(d->path);
	free(d->repo);
	free(d);
}

/*
 * Binary search over the arrays the loader sorts; a linear pass when that
 * finds nothing, so arrays built by hand (tests) in any order still work.
 */
struct rc_unit *rc_desired_unit(const struct rc_desired *d, const char *id)
{
	size_t lo = 0, hi = d->nunits;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(id, d->units[mid].id);
		if (c == 0)
			return &d->units[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	for (size_t i = 0; i < d->nunits; i++)
		if (strcmp(d->units[i].id, id) == 0)
			return &d->units[i];
	return NULL;
}

struct rc_network *rc_desired_network(const struct rc_desired *d, const char *name)
{
	size_t lo = 0, hi = d->nnetworks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, d->networks[mid].name);
		if (c == 0)
			return &d->networks[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	for (size_t i = 0; i < d->nnetworks; i++)
		if (strcmp(d->networks[i].name, name) == 0)
			return &d->networks[i];
	return NULL;
}

const char *rc_dep_cond_name(enum rc_dep_cond c)
{
	switch (c) {
	case RC_DEP_STARTED: return "started";
	case RC_DEP_HEALTHY: return "healthy";
	case RC_DEP_COMPLETED: return "completed";
	}
	return "?";
}
