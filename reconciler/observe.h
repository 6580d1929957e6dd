/*
 * observe.h — what Docker shows, in the terms the allocator and the planner
 * use.  One container list call and one network list call (no per-container
 * inspect), plus one image inspect per distinct image the desired state
 * names (to notice a mutable tag that now points elsewhere).
 *
 * Owns: the raw lists and everything derived from them; released together
 * by observation_release().
 */
#ifndef RC_OBSERVE_H
#define RC_OBSERVE_H

#include "docker.h"
#include "planner.h"
#include "state.h"
#include "unit.h"

struct observation {
	struct plan_observed plan;          /* for planner_plan() */
	struct alloc_observed alloc;         /* for state_allocate(); borrows from the fields below */
	uint16_t *ports_in_use;
	struct alloc_obs_port *our_ports;
	struct alloc_obs_net *nets;
	struct dk_container_list *containers;  /* every container on the engine */
	struct dk_network_list *networks;      /* every network on the engine */
};

/*
 * Observe the engine for project.  d (may be NULL) names the images to
 * resolve; st (may be NULL) supplies in-place update records (see
 * planner.h).  *ret is filled on success; release with observation_release().
 */
int observe(struct dk_client *c, const char *project, const struct rc_desired *d,
	    const struct rc_state *st, struct observation *ret, struct rc_err *err);

/*
 * observe() in two steps, so the list calls (which need neither the project
 * nor the desired state) can run while the manifests load:
 * observe_fetch() makes the two list calls; observe_build() takes them over
 * (raw is emptied, even on failure) and does the rest.
 */
struct observe_raw {
	struct dk_container_list *containers;
	struct dk_network_list *networks;
	bool registry;   /* observe_build() also asks the registries of the `pull: always` units' tags
	                    (plan and apply: converge.c; the drift check does not) */
};
int observe_fetch(struct dk_client *c, struct observe_raw *ret, struct rc_err *err);
int observe_build(struct dk_client *c, struct observe_raw *raw, const char *project, const struct rc_desired *d,
		  const struct rc_state *st, struct observation *ret, struct rc_err *err);
void observe_raw_release(struct observe_raw *raw);
/*
 * observe_fetch() for engine: swarm (observe_swarm.c): the engine must be a
 * swarm manager (an error says what it is otherwise); the project's services
 * and every task become container summaries (swarm.h, swarm_summaries()),
 * so observe_build() and the planner read them as containers.
 */
int observe_fetch_swarm(struct dk_client *c, const char *project, struct observe_raw *ret, struct rc_err *err);
/* For `status` on a swarm: the nodes, the tasks and the project's services, as listed (three calls). */
struct swarm_look {
	struct dk_node_list *nodes;
	struct dk_task_list *tasks;
	struct dk_service_list *services;
};
/* Fill *ret (release with swarm_look_release()); *ret untouched on failure. */
int observe_swarm_look(struct dk_client *c, const struct rc_desired *d, struct swarm_look *ret, struct rc_err *err);
void swarm_look_release(struct swarm_look *l);
/* The nodes (role, state, availability, labels) and each unit's tasks that are meant to run, with
 * the node each is on and its state: text lines appended to out. */
void swarm_look_text(const struct swarm_look *l, const struct rc_desired *d, struct buf *out);
/* The same as JSON (spec/status-json.md): the nodes as an array; u's tasks as an array, or null
 * when u has no service. */
void swarm_look_json_nodes(const struct swarm_look *l, struct buf *out);
void swarm_look_json_tasks(const struct swarm_look *l, const struct rc_unit *u, struct buf *out);
void observation_release(struct observation *o);

/*
 * A digest of what the plan was computed from: our containers (id, name,
 * hash, state, image) and networks (id, name, subnet, internal), sorted.  `plan --out`
 * records it; `apply --plan` refuses when it moved.  out: 33 bytes.
 */
void observe_digest(const struct observation *o, char out[RC_HASH_HEX_LEN + 1]);

/* Health from a list summary's Status ("Up 3s (healthy)") or NULL. */
const char *observe_health_from_status(const char *status);
/* The exit code in a list entry's Status ("Exited (3) 2 minutes ago"): false when it has none. */
bool observe_exit_from_status(const char *status, int *ret_code);

#endif
