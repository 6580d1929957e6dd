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
