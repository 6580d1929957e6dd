/*
 * observe_swarm.c — observe_fetch() for a swarm (observe.h): the project's
 * services and the swarm's tasks, read as container summaries
 * (swarm_summaries()), and the networks.  Three list calls whatever the
 * number of services and tasks.
 */
#include "observe.h"

#include "docker_swarm.h"
#include "swarm.h"

int observe_fetch_swarm(struct dk_client *c, const char *project, struct observe_raw *ret, struct rc_err *err)
{
	_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, project);
	struct dk_filter f = { "label", label };
	struct dk_service_list *svcs = NULL;
	struct dk_task_list *tasks = NULL;
	struct observe_raw r = { 0 };
	struct dk_swarm_info si = { 0 };
	if (dk_swarm_info(c, &si, NULL, err) < 0)
		return rc_err_prefix(err, "asking the engine about its swarm");
	if (!si.manager) {
		rc_errf(err, "the manifests say engine: swarm, but this engine is not a swarm manager (its swarm "
			"state: %s%s%s): point --host at a manager, or `docker swarm init` on this one",
			si.state ? si.state : "unknown", si.error ? ", " : "", si.error ? si.error : "");
		dk_swarm_info_release(&si);
		return -1;
	}
	dk_swarm_info_release(&si);
	if (dk_service_list(c, &f, 1, &svcs, NULL, err) < 0)
		return rc_err_prefix(err, "listing services");
	if (dk_task_list(c, NULL, 0, &tasks, NULL, err) < 0) {
		dk_service_list_free(svcs);
		return rc_err_prefix(err, "listing tasks");
	}
	if (dk_network_list(c, NULL, 0, &r.networks, NULL, err) < 0) {
		dk_service_list_free(svcs);
		dk_task_list_free(tasks);
		return rc_err_prefix(err, "listing networks");
	}
	swarm_summaries(svcs, tasks, r.networks, &r.containers);
	dk_service_list_free(svcs);
	dk_task_list_free(tasks);
	*ret = r;
	return 0;
}

/* "host (id12, label=value...)" for a node, or the id when the node is not listed. */
static void node_name(const struct dk_node_list *nodes, const char *id, struct buf *out)
{
	const struct dk_node *n = id ? dk_node_find(nodes, id) : NULL;
	if (!n) {
		buf_addf(out, "%.12s", id ? id : "unscheduled");
		return;
	}
	buf_addf(out, "%s/%.12s", n->hostname ? n->hostname : "?", n->id);
}

int observe_swarm_look(struct dk_client *c, const struct rc_desired *d, struct swarm_look *ret, struct rc_err *err)
{
	struct swarm_look l = { 0 };
	_cleanup_free_ char *label = xasprintf("%s=%s", RC_LABEL_PROJECT, d->settings.project);
	struct dk_filter f = { "label", label };
	if (dk_node_list(c, &l.nodes, NULL, err) < 0 || dk_task_list(c, NULL, 0, &l.tasks, NULL, err) < 0 ||
	    dk_service_list(c, &f, 1, &l.services, NULL, err) < 0) {
		swarm_look_release(&l);
		return -1;
	}
	*ret = l;
	return 0;
}

void swarm_look_release(struct swarm_look *l)
{
	if (l->nodes)
		dk_node_list_free(l->nodes);
	if (l->tasks)
		dk_task_list_free(l->tasks);
	if (l->services)
		dk_service_list_free(l->services);
	*l = (struct swarm_look){ 0 };
}

/* The tasks of u's service that are meant to run (desired state running), in the list's order;
 * NULL when u has no service. */
static const struct dk_service *unit_service(const struct swarm_look *l, const struct rc_unit *u)
{
	return dk_service_find(l->services, u->container);
}

static bool task_of(const struct dk_task *t, const struct dk_service *svc)
{
	return str_eq(t->service_id, svc->id) && str_eq(t->desired_state, "running");
}

void swarm_look_text(const struct swarm_look *l, const struct rc_desired *d, struct buf *out)
{
	buf_addf(out, "nodes:\n");
	for (size_t i = 0; i < l->nodes->n; i++) {
		const struct dk_node *n = &l->nodes->items[i];
		buf_adds(out, "  ");
		node_name(l->nodes, n->id, out);
		buf_addf(out, " %s%s, %s, %s", n->role ? n->role : "?", n->leader ? " (leader)" : "",
			 n->state ? n->state : "?", n->availability ? n->availability : "?");
		for (size_t k = 0; k < n->nlabels; k++)
			buf_addf(out, "%s%s=%s", k ? "," : " [", n->labels[k].key, n->labels[k].value);
		buf_adds(out, n->nlabels ? "]\n" : "\n");
	}
	buf_addf(out, "tasks (desired running):\n");
	for (size_t i = 0; i < d->nunits; i++) {
		const struct rc_unit *u = &d->units[i];
		const struct dk_service *svc = unit_service(l, u);
		buf_addf(out, "  %-24s", u->id);
		size_t shown = 0;
		for (size_t k = 0; svc && k < l->tasks->n; k++) {
			const struct dk_task *t = &l->tasks->items[k];
			if (!task_of(t, svc))
				continue;
			buf_adds(out, shown++ ? "; " : " ");
			node_name(l->nodes, t->node_id, out);
			buf_addf(out, " %s", t->state ? t->state : "?");
			if (t->error)
				buf_addf(out, " (%s)", t->error);
		}
		buf_adds(out, !svc ? " no service\n" : shown ? "\n" : " none\n");
	}
}


void swarm_look_json_nodes(const struct swarm_look *l, struct buf *out)
{
	buf_adds(out, "[");
	for (size_t i = 0; i < l->nodes->n; i++) {
		const struct dk_node *n = &l->nodes->items[i];
		buf_adds(out, i ? ", {\"id\": " : "{\"id\": ");
		buf_add_json_str_or_null(out, n->id);
		buf_adds(out, ", \"hostname\": ");
		buf_add_json_str_or_null(out, n->hostname);
		buf_adds(out, ", \"role\": ");
		buf_add_json_str_or_null(out, n->role);
		buf_addf(out, ", \"leader\": %s, \"state\": ", n->leader ? "true" : "false");
		buf_add_json_str_or_null(out, n->state);
		buf_adds(out, ", \"availability\": ");
		buf_add_json_str_or_null(out, n->availability);
		buf_adds(out, ", \"labels\": {");
		for (size_t k = 0; k < n->nlabels; k++) {
			buf_adds(out, k ? ", " : "");
			buf_add_json_str(out, n->labels[k].key);
			buf_adds(out, ": ");
			buf_add_json_str(out, n->labels[k].value);
		}
		buf_adds(out, "}}");
	}
	buf_adds(out, "]");
}

void swarm_look_json_tasks(const struct swarm_look *l, const struct rc_unit *u, struct buf *out)
{
	const struct dk_service *svc = unit_service(l, u);
	if (!svc) {
		buf_adds(out, "null");
		return;
	}
	buf_adds(out, "[");
	size_t shown = 0;
	for (size_t k = 0; k < l->tasks->n; k++) {
		const struct dk_task *t = &l->tasks->items[k];
		if (!task_of(t, svc))
			continue;
		const struct dk_node *n = t->node_id ? dk_node_find(l->nodes, t->node_id) : NULL;
		buf_adds(out, shown++ ? ", {\"node_id\": " : "{\"node_id\": ");
		buf_add_json_str_or_null(out, t->node_id);
		buf_adds(out, ", \"node\": ");
		buf_add_json_str_or_null(out, n ? n->hostname : NULL);
		buf_adds(out, ", \"state\": ");
		buf_add_json_str_or_null(out, t->state);
		buf_adds(out, ", \"error\": ");
		buf_add_json_str_or_null(out, t->error);
		buf_adds(out, "}");
	}
	buf_adds(out, "]");
}
