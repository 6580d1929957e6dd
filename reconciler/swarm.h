/*
 * swarm.h — what a unit becomes on a Docker Swarm (Settings.engine: swarm,
 * spec/swarm.md), and what a swarm shows in the terms the planner reads.
 * Pure: no engine call (the calls are docker_swarm.h's, made by
 * observe_swarm.c and apply_swarm.c).
 *
 * Owns: the service spec of a unit (swarm_svc_build(): name, labels, the
 * container's labels, image, command, env, mounts, secrets by content, the
 * networks — its own and its links —, ports, replicas, resources, health,
 * restart, placement, rollout), the names of Swarm secrets, the mapping of
 * services and their tasks onto container summaries (so that observe.c,
 * the planner, plan, diff and the digest of `plan --out` read a swarm as
 * they read containers), and the verdict of a rollout wait
 * (swarm_ready()).
 */
#ifndef RC_SWARM_H
#define RC_SWARM_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "docker.h"
#include "docker_swarm.h"
#include "unit.h"
#include "util.h"

/* A Swarm secret made for a unit's secret: named by its content's digest (Swarm secrets are immutable). */
struct swarm_secret_ref {
	const char *name;   /* rc_secret.name (as the unit's mounts name it) */
	const char *id;     /* the Swarm secret's id */
	const char *swarm_name;
};

/* The Swarm secret name for s of project: <project>-[<customer>-]<name>-<digest 12>. malloc'ed. */
char *swarm_secret_name(const char *project, const struct rc_secret *s);

/* A unit's service spec and everything it owns. */
struct swarm_svc {
	struct dk_service_spec spec;   /* points into the fields below and into the unit */
	struct buf canonical, deps;
	struct rc_kv *labels, *clabels;
	const char **networks, **aliases, **caps, **drops;
	struct dk_svc_port *ports;
	struct dk_svc_mount *mounts;
	struct dk_svc_secret *secrets;
	char *fingerprint;             /* RC_LABEL_SWARM_FP: of the body without it */
};
/*
 * Build u's service spec (u from d; secrets: the Swarm secrets made for u's,
 * by name).  -1 when something of u cannot be a service (a secret without
 * its Swarm secret, a bind mount).  The spec's labels carry the fingerprint
 * of the spec itself (docker_swarm.h).  Release with swarm_svc_release()
 * either way.
 */
int swarm_svc_build(const struct rc_desired *d, const struct rc_unit *u, const struct swarm_secret_ref *secrets,
		    size_t nsecrets, struct swarm_svc *ret, struct rc_err *err);
void swarm_svc_release(struct swarm_svc *s);

/*
 * Services and their tasks as container summaries (observe.h reads those):
 * a service is one "container" named as the service, with its labels;
 * state "running" when it asks for replicas, "exited" (scaled to 0) when
 * not; Status "Up N/M tasks running (healthy)" when every replica wanted
 * runs the service's current spec, "... (unhealthy)" with the last task
 * error when tasks of that spec failed, "... (health: starting)" otherwise; ports its published ones; networks its networks'
 * names (nets maps the ids the engine keeps).  A service whose Spec no
 * longer gives the fingerprint its label recorded was changed by hand: its
 * hash label is replaced ("changed-by-hand") and its canonical spec label
 * gets a line `swarm.changed_by_hand=<updated at>`, so the planner plans an
 * update that names it.  *ret is the caller's (dk_container_list_free()).
 */
void swarm_summaries(const struct dk_service_list *svcs, const struct dk_task_list *tasks,
		     const struct dk_network_list *nets, struct dk_container_list **ret);

/* What a wait for a service's rollout found. */
enum swarm_verdict { SWARM_WAIT = 0, SWARM_READY, SWARM_FAILED };
/*
 * Is service svc (of unit u, whose spec hash is hash) converged?  READY
 * when `replicas` tasks that run hash are running (Swarm reports a task with
 * a health check running only once healthy) and no update is under way;
 * FAILED when Swarm paused or rolled back the update, or when `max_failed`
 * tasks of hash failed (why says the last task error); WAIT otherwise.
 * why gets a line for messages either way.
 */
enum swarm_verdict swarm_ready(const struct dk_service *svc, const struct dk_task_list *tasks, const char *hash,
			       uint64_t replicas, int max_failed, struct buf *why);
/* Has a task of svc running hash got as far as its container (starting, running, or ended)?  Before
 * that the swarm is still scheduling it or a node is pulling its image: the wait's health bound
 * starts counting only then (apply_swarm.c). */
bool swarm_started(const struct dk_service *svc, const struct dk_task_list *tasks, const char *hash);

/* The replicas u asks for: 0 when desired stopped, else its replicas (default 1). */
uint64_t swarm_replicas(const struct rc_unit *u);

#endif
