/* swarm_spec.c — see swarm.h. */
#include "swarm.h"

#include <stdio.h>
#include <string.h>

#include "spec.h"

char *swarm_secret_name(const char *project, const struct rc_secret *s)
{
	return s->customer ? xasprintf("%s-%s-%s-%.12s", project, s->customer, s->name, s->digest)
			   : xasprintf("%s-%s-%.12s", project, s->name, s->digest);
}

uint64_t swarm_replicas(const struct rc_unit *u)
{
	if (!u->running)
		return 0;
	return u->swarm.replicas ? u->swarm.replicas : 1;
}

static struct rc_kv kv(const char *k, const char *v)
{
	return (struct rc_kv){ (char *)(uintptr_t)k, (char *)(uintptr_t)v };
}

/* The service's labels (those a container gets: spec/labels.md) and its containers' (unit, hash). */
static void svc_labels(const struct rc_desired *d, const struct rc_unit *u, struct swarm_svc *s)
{
	spec_canonical(u, true, &s->canonical);
	s->labels = xcalloc(u->nlabels + 14, sizeof(*s->labels));
	size_t k = 0;
	s->labels[k++] = kv(RC_LABEL_MANAGED, RC_MANAGED_BY);
	s->labels[k++] = kv(RC_LABEL_PROJECT, d->settings.project);
	s->labels[k++] = kv(RC_LABEL_UNIT, u->id);
	s->labels[k++] = kv(RC_LABEL_SERVICE, u->service);
	if (u->customer)
		s->labels[k++] = kv(RC_LABEL_CUSTOMER, u->customer);
	s->labels[k++] = kv(RC_LABEL_HASH, u->hash);
	s->labels[k++] = kv(RC_LABEL_BASE_HASH, u->base_hash);
	s->labels[k++] = kv(RC_LABEL_SPEC, buf_cstr(&s->canonical));
	s->labels[k++] = kv(RC_LABEL_COMMIT, d->commit ? d->commit : "");
	s->labels[k++] = kv(RC_LABEL_IMAGE, u->image);
	for (size_t i = 0; i < u->ndeps; i++)
		buf_addf(&s->deps, "%s%s", i ? "," : "", u->deps[i].unit);
	if (u->ndeps)
		s->labels[k++] = kv(RC_LABEL_DEPENDS, buf_cstr(&s->deps));
	for (size_t i = 0; i < u->nlabels; i++)
		s->labels[k++] = u->labels[i];
	s->spec.labels = s->labels;
	s->spec.nlabels = k;
	/* not the project: the task containers on this engine are the swarm's, not ours to list */
	s->clabels = xcalloc(3, sizeof(*s->clabels));
	s->clabels[0] = kv(RC_LABEL_UNIT, u->id);
	s->clabels[1] = kv(RC_LABEL_HASH, u->hash);
	s->spec.container_labels = s->clabels;
	s->spec.ncontainer_labels = 2;
}

/* Networks: its own, then its link networks (a shared service's customers reach it over those);
 * the service name is its alias on each (a customer's units are on their own network only). */
static void svc_networks(const struct rc_unit *u, struct swarm_svc *s)
{
	s->networks = xcalloc(u->nnetworks + u->nlinks + 1, sizeof(char *));
	size_t n = 0;
	for (size_t i = 0; i < u->nnetworks; i++)
		s->networks[n++] = u->networks[i];
	for (size_t i = 0; i < u->nlinks; i++)
		s->networks[n++] = u->links[i];
	s->spec.networks = s->networks;
	s->spec.nnetworks = n;
	s->aliases = xcalloc(2, sizeof(char *));
	s->aliases[0] = u->service;
	s->spec.aliases = s->aliases;
	s->spec.naliases = 1;
}

static int svc_mounts(const struct rc_unit *u, const struct swarm_secret_ref *secrets, size_t nsecrets,
		      struct swarm_svc *s, struct rc_err *err)
{
	s->mounts = xcalloc(u->nmounts + 1, sizeof(*s->mounts));
	s->secrets = xcalloc(u->nmounts + 1, sizeof(*s->secrets));
	for (size_t i = 0; i < u->nmounts; i++) {
		const struct rc_mount *m = &u->mounts[i];
		switch (m->kind) {
		case RC_MOUNT_VOLUME:
			s->mounts[s->spec.nmounts++] =
				(struct dk_svc_mount){ DK_MOUNT_VOLUME, m->source, m->target, m->read_only };
			break;
		case RC_MOUNT_TMPFS:
			s->mounts[s->spec.nmounts++] = (struct dk_svc_mount){ DK_MOUNT_TMPFS, NULL, m->target, false };
			break;
		case RC_MOUNT_BIND:
			return rc_errf(err, "unit '%s': bind mount of '%s': a swarm's nodes cannot be checked for links "
				       "out of the bind roots; use a volume", u->id, m->source);
		case RC_MOUNT_SECRET: {
			const struct swarm_secret_ref *ref = NULL;
			for (size_t k = 0; k < nsecrets && !ref; k++)
				if (str_eq(secrets[k].name, m->source))
					ref = &secrets[k];
			if (!ref)
				return rc_errf(err, "unit '%s': secret '%s' has no Swarm secret", u->id, m->source);
			s->secrets[s->spec.nsecrets++] =
				(struct dk_svc_secret){ ref->id, ref->swarm_name, m->target, 0444 };
			break;
		}
		}
	}
	s->spec.mounts = s->mounts;
	s->spec.secrets = s->secrets;
	return 0;
}

static void svc_ports(const struct rc_unit *u, struct swarm_svc *s)
{
	s->ports = xcalloc(u->nports + 1, sizeof(*s->ports));
	for (size_t i = 0; i < u->nports; i++)
		s->ports[i] = (struct dk_svc_port){ u->ports[i].container_port, u->ports[i].host_port,
						    u->ports[i].proto, u->swarm.publish_mode };
	s->spec.ports = s->ports;
	s->spec.nports = u->nports;
	/* A virtual IP needs IPVS on every node, and ingress publishing needs the VIP; without an
	 * ingress port the name resolves to the tasks themselves (spec/swarm.md, "Reaching a service"). */
	bool ingress = false;
	for (size_t i = 0; i < u->nports; i++)
		ingress = ingress || (u->ports[i].host_port && !str_eq(u->swarm.publish_mode, "host"));
	s->spec.endpoint_mode = ingress ? NULL : "dnsrr";
}

/* The spec-key table's rows a service can carry (the loader refuses the others with engine: swarm). */
static void svc_fields(const struct rc_unit *u, struct swarm_svc *s)
{
	const struct sk_value *f = u->fields;
	s->spec.user = f[SK_USER].set ? f[SK_USER].str : NULL;
	s->spec.workdir = f[SK_WORKDIR].set ? f[SK_WORKDIR].str : NULL;
	s->spec.stop_signal = f[SK_STOP_SIGNAL].set ? f[SK_STOP_SIGNAL].str : NULL;
	s->spec.init = f[SK_INIT].set && f[SK_INIT].num;
	s->spec.read_only = f[SK_READ_ONLY].set && f[SK_READ_ONLY].num;
	s->caps = xcalloc(u->ncap_add + 1, sizeof(char *));
	for (size_t i = 0; i < u->ncap_add; i++)
		s->caps[i] = u->cap_add[i];
	s->spec.cap_add = s->caps;
	s->spec.ncap_add = u->ncap_add;
	s->drops = xcalloc(f[SK_CAP_DROP].nkv + 1, sizeof(char *));
	for (size_t i = 0; f[SK_CAP_DROP].set && i < f[SK_CAP_DROP].nkv; i++)
		s->drops[s->spec.ncap_drop++] = f[SK_CAP_DROP].kv[i].key;
	s->spec.cap_drop = s->drops;
}

/* Restart: the container's policy in Swarm's words; the daemon's backoff is Swarm's delay. */
static void svc_restart(const struct rc_unit *u, struct dk_service_spec *sp)
{
	const char *p = u->restart.policy;
	sp->restart_condition = str_eq(p, "no") ? "none" : str_eq(p, "on-failure") ? "on-failure" : "any";
	sp->restart_max_attempts = str_eq(p, "on-failure") && u->restart.max_retries > 0 ? (uint64_t)u->restart.max_retries : 0;
	sp->restart_delay_ns = u->restart.backoff_ns;
}

/* A rolling update: one task at a time unless rollout says, start-first when update_order says and
 * no port is published on the node itself (two tasks of one node cannot hold it), rolled back by
 * Swarm when a new task fails within the monitor period. */
static void svc_rollout(const struct rc_unit *u, struct dk_service_spec *sp)
{
	sp->update_parallelism = u->swarm.parallelism ? u->swarm.parallelism : 1;
	sp->update_delay_ns = u->swarm.delay_ns;
	sp->update_monitor_ns = u->swarm.monitor_ns ? u->swarm.monitor_ns : 5 * NS_PER_S;
	bool host_ports = u->nports && str_eq(u->swarm.publish_mode, "host");
	sp->update_order = u->start_first && !host_ports ? "start-first" : "stop-first";
	sp->update_failure_action = "rollback";
}

int swarm_svc_build(const struct rc_desired *d, const struct rc_unit *u, const struct swarm_secret_ref *secrets,
		    size_t nsecrets, struct swarm_svc *ret, struct rc_err *err)
{
	memset(ret, 0, sizeof(*ret));
	struct dk_service_spec *sp = &ret->spec;
	sp->name = u->container;
	svc_labels(d, u, ret);
	sp->image = u->image;
	sp->command = (const char *const *)u->command;
	sp->ncommand = u->ncommand;
	sp->entrypoint = (const char *const *)u->entrypoint;
	sp->nentrypoint = u->nentrypoint;
	sp->env = u->env;
	sp->nenv = u->nenv;
	sp->stop_grace_ns = u->stop_grace_ns;
	svc_fields(u, ret);
	svc_networks(u, ret);
	if (svc_mounts(u, secrets, nsecrets, ret, err) < 0)
		return -1;
	svc_ports(u, ret);
	sp->replicas = swarm_replicas(u);
	sp->nano_cpus = u->nano_cpus;
	sp->memory = u->memory;
	sp->memory_reservation = u->memory_reservation;
	sp->pids_limit = u->pids_limit > 0 ? u->pids_limit : 0;
	if (u->health.kind == RC_HEALTH_CMD) {
		sp->health_cmd = u->health.cmd;
		sp->health_interval_ns = u->health.interval_ns;
		sp->health_timeout_ns = u->health.timeout_ns;
		sp->health_start_period_ns = u->health.start_period_ns;
		sp->health_retries = u->health.retries;
	}
	svc_restart(u, sp);
	sp->constraints = (const char *const *)u->swarm.constraints;
	sp->nconstraints = u->swarm.nconstraints;
	sp->spread = (const char *const *)u->swarm.spread;
	sp->nspread = u->swarm.nspread;
	svc_rollout(u, sp);
	/* the fingerprint of what is sent (labels are not in it), kept in a label */
	_cleanup_free_ char *body = dk_service_body(sp);
	char fp[RC_HASH_HEX_LEN + 1];
	if (dk_service_fingerprint(body, strlen(body), fp, err) < 0)
		BUG("the body made for '%s' has no fingerprint: %s", u->id, err->msg);
	ret->fingerprint = xstrdup(fp);
	ret->labels[sp->nlabels++] = kv(RC_LABEL_SWARM_FP, ret->fingerprint);
	return 0;
}

void swarm_svc_release(struct swarm_svc *s)
{
	buf_release(&s->canonical);
	buf_release(&s->deps);
	free(s->labels);
	free(s->clabels);
	free(s->networks);
	free(s->aliases);
	free(s->caps);
	free(s->drops);
	free(s->ports);
	free(s->mounts);
	free(s->secrets);
	free(s->fingerprint);
	memset(s, 0, sizeof(*s));
}

/* ---- what a swarm shows, as containers ---------------------------------------- */

static const char *net_name(const struct dk_network_list *nets, const char *id)
{
	for (size_t i = 0; nets && i < nets->n; i++)
		if (str_eq(nets->items[i].id, id) || str_eq(nets->items[i].name, id))
			return nets->items[i].name;
	return id;
}

/* Tasks of svc that run its current spec (hash), in each state. */
struct task_counts {
	uint64_t running, failed, current;
	const struct dk_task *last_failed;
};

static struct task_counts count_tasks(const struct dk_service *svc, const struct dk_task_list *tasks, const char *hash)
{
	struct task_counts tc = { 0 };
	for (size_t i = 0; tasks && i < tasks->n; i++) {
		const struct dk_task *t = &tasks->items[i];
		if (!str_eq(t->service_id, svc->id) || !str_eq(t->hash, hash))
			continue;
		tc.current++;
		if (str_eq(t->state, "running") && str_eq(t->desired_state, "running"))
			tc.running++;
		/* ended on its own: a service's task is meant to run (Swarm also ends, "complete", a task
		 * whose health check failed: the container is stopped and exits 0) */
		if (str_eq(t->state, "failed") || str_eq(t->state, "rejected") || str_eq(t->state, "complete")) {
			tc.failed++;
			if (!tc.last_failed || strcmp(t->timestamp ? t->timestamp : "",
						      tc.last_failed->timestamp ? tc.last_failed->timestamp : "") > 0)
				tc.last_failed = t;
		}
	}
	return tc;
}

static void summary_of(const struct dk_service *svc, const struct dk_task_list *tasks,
		       const struct dk_network_list *nets, struct dk_container_summary *s)
{
	s->id = xstrdup(svc->id);
	s->name = xstrdup(svc->name);
	s->image = svc->image ? xstrdup(svc->image) : NULL;
	const char *hash = dk_label(svc->labels, svc->nlabels, RC_LABEL_HASH);
	const char *fp = dk_label(svc->labels, svc->nlabels, RC_LABEL_SWARM_FP);
	bool by_hand = fp && svc->fingerprint && !str_eq(fp, svc->fingerprint);
	s->labels = xcalloc(svc->nlabels + 1, sizeof(*s->labels));
	for (size_t i = 0; i < svc->nlabels; i++) {
		const char *k = svc->labels[i].key, *v = svc->labels[i].value;
		_cleanup_free_ char *spec = NULL;
		if (by_hand && str_eq(k, RC_LABEL_HASH))
			v = "changed-by-hand";
		if (by_hand && str_eq(k, RC_LABEL_SPEC)) {
			spec = xasprintf("%s%sswarm.changed_by_hand=%s", v, *v ? "\n" : "",
					 svc->updated_at ? svc->updated_at : "yes");
			v = spec;
		}
		s->labels[s->nlabels++] = (struct rc_kv){ xstrdup(k), xstrdup(v ? v : "") };
	}
	uint64_t want = svc->replicated ? svc->replicas : svc->desired_tasks;
	struct task_counts tc = count_tasks(svc, tasks, hash);
	s->state = xstrdup(want ? "running" : "exited");
	unsigned long long run = (unsigned long long)tc.running, w = (unsigned long long)want;
	if (!want)
		s->status = xstrdup("Exited (0) scaled to 0");
	else if (tc.running >= want)
		s->status = xasprintf("Up %llu/%llu tasks running (healthy)", run, w);
	else if (tc.failed)
		s->status = xasprintf("Up %llu/%llu tasks running, %llu failed: %s (unhealthy)", run, w,
				      (unsigned long long)tc.failed,
				      tc.last_failed->error ? tc.last_failed->error
				      : tc.last_failed->message ? tc.last_failed->message : "no reason given");
	else
		s->status = xasprintf("Up %llu/%llu tasks running (health: starting)", run, w);
	s->ports = xcalloc(svc->npublished + 1, sizeof(*s->ports));
	for (size_t i = 0; i < svc->npublished; i++)
		s->ports[s->nports++] = (struct dk_port_summary){ .public_port = svc->published[i] };
	s->networks = xcalloc(svc->nnetworks + 1, sizeof(char *));
	for (size_t i = 0; i < svc->nnetworks; i++)
		s->networks[s->nnetworks++] = xstrdup(net_name(nets, svc->networks[i]));
	qsort(s->networks, s->nnetworks, sizeof(char *), strp_cmp);
}

void swarm_summaries(const struct dk_service_list *svcs, const struct dk_task_list *tasks,
		     const struct dk_network_list *nets, struct dk_container_list **ret)
{
	struct dk_container_list *l = xcalloc(1, sizeof(*l));
	l->items = xcalloc(svcs->n + 1, sizeof(*l->items));
	for (size_t i = 0; i < svcs->n; i++)
		summary_of(&svcs->items[i], tasks, nets, &l->items[l->n++]);
	*ret = l;
}

/* " (tasks of this spec: starting 1, shutdown 1)": what a wait that does not end is waiting on. */
static void states_of(const struct dk_service *svc, const struct dk_task_list *tasks, const char *hash,
		      struct buf *out)
{
	const char *seen[8] = { 0 };
	size_t count[8] = { 0 }, n = 0, total = 0;
	for (size_t i = 0; tasks && i < tasks->n; i++) {
		const struct dk_task *t = &tasks->items[i];
		if (!str_eq(t->service_id, svc->id) || !str_eq(t->hash, hash) || !t->state)
			continue;
		size_t k = 0;
		while (k < n && !str_eq(seen[k], t->state))
			k++;
		if (k == n && n < ARRAY_SIZE(seen))
			seen[n++] = t->state;
		if (k < n)
			count[k]++;
		total++;
	}
	if (!total)
		return;
	buf_adds(out, " (tasks of this spec:");
	for (size_t k = 0; k < n; k++)
		buf_addf(out, "%s %s %zu", k ? "," : "", seen[k], count[k]);
	buf_adds(out, ")");
}

enum swarm_verdict swarm_ready(const struct dk_service *svc, const struct dk_task_list *tasks, const char *hash,
			       uint64_t replicas, int max_failed, struct buf *why)
{
	struct task_counts tc = count_tasks(svc, tasks, hash);
	const char *us = svc->update_state;
	if (str_eq(us, "paused") || str_eq(us, "rollback_started") || str_eq(us, "rollback_paused") ||
	    str_eq(us, "rollback_completed")) {
		buf_addf(why, "Swarm %s the update%s%s", str_eq(us, "paused") ? "paused" : "rolled back",
			 svc->update_message ? ": " : "", svc->update_message ? svc->update_message : "");
		return SWARM_FAILED;
	}
	if (tc.failed >= (uint64_t)(max_failed > 0 ? max_failed : 1) && tc.running < replicas) {
		const struct dk_task *t = tc.last_failed;
		buf_addf(why, "%llu task%s of this spec ended, the last %s (exit %d): %s%s", (unsigned long long)tc.failed,
			 tc.failed == 1 ? "" : "s", t ? t->state : "?", t ? t->exit_code : 0,
			 t && t->error ? t->error : t && t->message ? t->message : "no reason given",
			 t && str_eq(t->state, "complete") ? " (Swarm stops a task whose health check fails)" : "");
		return SWARM_FAILED;
	}
	bool updating = str_eq(us, "updating");
	if (tc.running >= replicas && !updating) {
		buf_addf(why, "%llu/%llu running", (unsigned long long)tc.running, (unsigned long long)replicas);
		return SWARM_READY;
	}
	buf_addf(why, "%llu/%llu running%s", (unsigned long long)tc.running, (unsigned long long)replicas,
		 updating ? ", update under way" : "");
	states_of(svc, tasks, hash, why);
	return SWARM_WAIT;
}

bool swarm_started(const struct dk_service *svc, const struct dk_task_list *tasks, const char *hash)
{
	static const char *const started[] = { "starting", "running", "complete", "failed", "shutdown" };
	for (size_t i = 0; tasks && i < tasks->n; i++) {
		const struct dk_task *t = &tasks->items[i];
		if (!str_eq(t->service_id, svc->id) || !str_eq(t->hash, hash))
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(started); k++)
			if (str_eq(t->state, started[k]))
				return true;
	}
	return false;
}
