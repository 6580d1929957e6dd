/*
 * docker_swarm.h — the Swarm half of the Engine API client (API 1.41):
 * the swarm's state as the engine we talk to sees it, services, tasks,
 * nodes and secrets.  Same client (struct dk_client), same rules as
 * docker.h: every call takes an optional dk_status and an rc_err, returns 0
 * for 2xx (and 304) and -1 otherwise, leaves ret_* untouched on failure,
 * counts itself under an enum dk_op, flags engine faults.  cJSON stays in
 * docker_swarm.c; callers see the C structs below.
 *
 * Owns: the service request body (dk_service_body(), from a dk_service_spec
 * the swarm executor fills: swarm_spec.c), the decoded lists, and the
 * fingerprint that tells a service changed by hand (dk_service_fingerprint()).
 *
 * Overlay networks are made with dk_network_create() (docker.h) with
 * driver "overlay" and attachable set.
 */
#ifndef RC_DOCKER_SWARM_H
#define RC_DOCKER_SWARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "docker.h"

/* ---- the swarm as this engine sees it (GET /info, its Swarm object) ---- */

struct dk_swarm_info {
	char *state;          /* LocalNodeState: "inactive", "pending", "active", "error", "locked" */
	bool manager;         /* ControlAvailable: this engine is a manager (services can be asked of it) */
	char *node_id;        /* NodeID; NULL when inactive */
	char *cluster_id;     /* Cluster.ID; NULL when not a manager */
	int nodes;            /* Nodes, Managers: counts (0 when not a manager) */
	int managers;
	char *error;          /* Error, when the engine reports one; NULL otherwise */
};
int dk_swarm_info(struct dk_client *c, struct dk_swarm_info *ret, struct dk_status *st, struct rc_err *err);
void dk_swarm_info_release(struct dk_swarm_info *i);

/* ---- services ---- */

struct dk_svc_mount {
	enum dk_mount_type type;   /* volume, bind, tmpfs (docker.h) */
	const char *source;        /* volume name / host path; NULL for tmpfs */
	const char *target;
	bool read_only;
};

struct dk_svc_port {
	uint16_t target;           /* container port */
	uint16_t published;        /* host / ingress port; 0: not published */
	const char *proto;         /* NULL = "tcp" */
	const char *mode;          /* "ingress" or "host"; NULL = "ingress" */
};

struct dk_svc_secret {
	const char *secret_id;     /* the Swarm secret's ID (dk_secret_create()) */
	const char *secret_name;
	const char *target;        /* the file in the container: an absolute path, or a name under /run/secrets */
	uint32_t mode;             /* file mode; 0 = 0444 */
};

/* Everything dk_service_create() / dk_service_update() send.  Zero / NULL: the engine's or the image's. */
struct dk_service_spec {
	const char *name;
	const struct rc_kv *labels;           /* the service's labels (ours and the user's) */
	size_t nlabels;
	const struct rc_kv *container_labels; /* ContainerSpec.Labels: on every task's container (ours: the
	                                         unit and its hash, so a task tells which spec it runs) */
	size_t ncontainer_labels;
	const char *image;
	const char *const *command;           /* ContainerSpec.Args (the image's CMD replaced); NULL: the image's */
	size_t ncommand;
	const char *const *entrypoint;        /* ContainerSpec.Command (the ENTRYPOINT replaced); NULL: the image's */
	size_t nentrypoint;
	const struct rc_kv *env;
	size_t nenv;
	const char *user, *workdir, *stop_signal;
	int64_t stop_grace_ns;
	bool init, read_only;
	const char *const *cap_add;           /* CapabilityAdd: names with "CAP_" */
	size_t ncap_add;
	const char *const *cap_drop;          /* CapabilityDrop */
	size_t ncap_drop;
	const struct dk_svc_mount *mounts;
	size_t nmounts;
	const struct dk_svc_secret *secrets;
	size_t nsecrets;
	const char *const *networks;          /* TaskTemplate.Networks targets (names or ids) */
	size_t nnetworks;
	const char *const *aliases;           /* on every network */
	size_t naliases;
	const char *endpoint_mode;            /* EndpointSpec.Mode: "vip" (NULL) or "dnsrr" (the service's name
	                                         resolves to its tasks' addresses: no IPVS needed) */
	const struct dk_svc_port *ports;      /* EndpointSpec.Ports */
	size_t nports;
	uint64_t replicas;                    /* Mode.Replicated.Replicas (0 is 0: stopped) */
	int64_t nano_cpus, memory;            /* Resources.Limits */
	int64_t nano_cpus_reservation, memory_reservation;  /* Resources.Reservations */
	int64_t pids_limit;                   /* Resources.Limits.Pids; 0: unset */
	const char *health_cmd;               /* CMD-SHELL; NULL: the image's */
	bool health_disable;                  /* Test ["NONE"] */
	int64_t health_interval_ns, health_timeout_ns, health_start_period_ns;
	int health_retries;
	const char *restart_condition;        /* RestartPolicy.Condition "none", "on-failure", "any"; NULL = "any" */
	int64_t restart_delay_ns;
	uint64_t restart_max_attempts;        /* 0: unlimited */
	const char *const *constraints;       /* Placement.Constraints */
	size_t nconstraints;
	const char *const *spread;            /* Placement.Preferences, each {Spread: {SpreadDescriptor}} */
	size_t nspread;
	/* UpdateConfig (and RollbackConfig, the same values): */
	uint64_t update_parallelism;          /* 0: all at once */
	int64_t update_delay_ns, update_monitor_ns;
	const char *update_order;             /* "stop-first" or "start-first"; NULL = "stop-first" */
	const char *update_failure_action;    /* "pause", "continue", "rollback"; NULL = "pause" (RollbackConfig
	                                         gets "pause" for "rollback": a rollback never rolls back) */
	/* Not in the body (nor in the fingerprint): */
	const char *registry_auth;            /* X-Registry-Auth (regauth.h) sent with create and update: the
	                                         manager hands it to the nodes, so each can pull a private
	                                         image; NULL: anonymous pulls.  Never logged */
};

/* The JSON dk_service_create() and dk_service_update() send (malloc'ed). */
char *dk_service_body(const struct dk_service_spec *s);

/* POST /services/create.  *ret_id malloc'ed.  409: the name exists.  An engine in no swarm, or a
 * worker, answers this and every call below 503 "This node is not a swarm manager": an answer, not
 * an engine fault.  An image the node does not have and cannot pull is no error here: its tasks are
 * "rejected" ("No such image: ..."). */
int dk_service_create(struct dk_client *c, const struct dk_service_spec *s, char **ret_id,
		      struct dk_status *st, struct rc_err *err);
/* POST /services/{id}/update?version=V with the whole spec (a spec replaces the one there).
 * A version that moved meanwhile is refused by the engine (st->http 500, "rpc error: code = Unknown
 * desc = update out of sequence"; no engine fault): list again and retry with the new version.  The
 * version moves by itself while a rollout runs (each UpdateStatus the orchestrator writes is a new
 * version): an update during one often meets this, and must retry (seen in t0905 under load).
 * An update that changes nothing of the task template (the same body again, labels only) rolls no
 * task and leaves no UpdateStatus. */
int dk_service_update(struct dk_client *c, const char *id, uint64_t version, const struct dk_service_spec *s,
		      struct dk_status *st, struct rc_err *err);
/* DELETE /services/{id}; 404 is an error the caller may take as done. */
int dk_service_remove(struct dk_client *c, const char *id, struct dk_status *st, struct rc_err *err);

struct dk_service {
	char *id;
	char *name;
	uint64_t version;           /* Version.Index: what an update must name */
	struct rc_kv *labels;       /* Spec.Labels, sorted by key */
	size_t nlabels;
	char *image;                /* Spec.TaskTemplate.ContainerSpec.Image */
	bool replicated;            /* Mode.Replicated (false: global, or a job) */
	uint64_t replicas;          /* Mode.Replicated.Replicas */
	uint64_t running_tasks;     /* ServiceStatus (asked with ?status=true) */
	uint64_t desired_tasks;
	char **networks;            /* Spec.TaskTemplate.Networks[].Target (ids, as the engine keeps them) */
	size_t nnetworks;
	uint16_t *published;        /* Endpoint.Ports[].PublishedPort (ingress and host) */
	size_t npublished;
	char *update_state;         /* UpdateStatus.State ("updating", "paused", "completed",
	                               "rollback_started", "rollback_paused", "rollback_completed"); NULL: none */
	char *update_message;       /* UpdateStatus.Message; NULL: none */
	char *fingerprint;          /* dk_service_fingerprint() of the Spec as the engine returned it */
	char *created_at, *updated_at;  /* CreatedAt, UpdatedAt as the engine writes them */
};
struct dk_service_list {
	struct dk_service *items;
	size_t n;
};
/* GET /services?status=true&filters=...  Filters as docker.h's (label=K=V, name=...). */
int dk_service_list(struct dk_client *c, const struct dk_filter *filters, size_t nfilters,
		    struct dk_service_list **ret_list, struct dk_status *st, struct rc_err *err);
void dk_service_list_free(struct dk_service_list *l);
const struct dk_service *dk_service_find(const struct dk_service_list *l, const char *name);

/*
 * What "the service runs what we sent" means, as 32 hex digits: a hash of
 * the whole service Spec in a canonical form where what the engine and the
 * docker CLI change by themselves reads the same (docker_service.c's
 * comment has the rules, checked on a 20.10.24 swarm): networks count by
 * their aliases, not their targets (names come back as ids); secrets by
 * name and file, not id; the engine's defaults (Isolation "default",
 * Runtime "container", Condition "any", FailureAction "pause", Order
 * "stop-first", vip, tcp, ingress, Replicas 1 for an empty Replicated) and
 * every zero, false, "" , [] and {} read as absent (but 0 replicas); env,
 * mounts, secrets, capabilities, networks, aliases, constraints and ports
 * are sets (the CLI re-sorts mounts on any update, env on --env-add).  Not
 * in it: Labels, ContainerSpec.Labels and TaskTemplate.ForceUpdate (a
 * restart by hand changes no spec).  Everything else is: a field the
 * reconciler never sets (--hostname, --dns) set by hand changes it too.
 * The executor stores the fingerprint of the body it sent (computed from
 * dk_service_body()'s output) in a label (swarm.h); a service whose Spec no
 * longer gives that fingerprint was changed by hand (`docker service
 * update`, `scale`), or rolled back by Swarm (the Spec is then the one
 * before, labels included).  -1 when json is not a Spec object (or nests
 * deeper than 32 levels); ret untouched then.
 */
int dk_service_fingerprint(const char *spec_json, size_t len, char ret[RC_HASH_HEX_LEN + 1], struct rc_err *err);

/* ---- tasks ---- */

struct dk_task {
	char *id;
	char *service_id;
	char *node_id;              /* NULL until scheduled */
	uint64_t slot;              /* replicated services: 1.. */
	char *desired_state;        /* DesiredState: "running", "shutdown", "complete", ... */
	char *state;                /* Status.State: "new", "pending", "assigned", "accepted", "preparing",
	                               "ready", "starting", "running", "complete", "failed", "shutdown",
	                               "rejected", "orphaned", "remove"; a task with a health check is
	                               "starting" until healthy, then "running" (seen on 20.10.24) */
	char *message;              /* Status.Message */
	char *error;                /* Status.Err; NULL: none */
	char *container_id;         /* Status.ContainerStatus.ContainerID; NULL: none yet */
	int exit_code;              /* Status.ContainerStatus.ExitCode */
	char *hash;                 /* Spec.ContainerSpec.Labels[RC_LABEL_HASH]: the spec it runs; NULL: none */
	char *timestamp;            /* Status.Timestamp */
};
struct dk_task_list {
	struct dk_task *items;
	size_t n;
};
/* GET /tasks?filters=...  (service=ID or NAME, node=ID, desired-state=running, label=...). */
int dk_task_list(struct dk_client *c, const struct dk_filter *filters, size_t nfilters,
		 struct dk_task_list **ret_list, struct dk_status *st, struct rc_err *err);
void dk_task_list_free(struct dk_task_list *l);

/* ---- nodes ---- */

struct dk_node {
	char *id;
	char *hostname;             /* Description.Hostname (nodes on one machine share it) */
	char *role;                 /* Spec.Role: "manager", "worker" */
	char *availability;         /* Spec.Availability: "active", "pause", "drain" */
	char *state;                /* Status.State: "unknown", "down", "ready", "disconnected" */
	char *addr;                 /* Status.Addr */
	bool leader;                /* ManagerStatus.Leader */
	char *reachability;         /* ManagerStatus.Reachability; NULL for workers */
	struct rc_kv *labels;       /* Spec.Labels, sorted */
	size_t nlabels;
};
struct dk_node_list {
	struct dk_node *items;
	size_t n;
};
int dk_node_list(struct dk_client *c, struct dk_node_list **ret_list, struct dk_status *st, struct rc_err *err);
void dk_node_list_free(struct dk_node_list *l);
const struct dk_node *dk_node_find(const struct dk_node_list *l, const char *id);

/* ---- secrets (immutable: a new content is a new secret) ---- */

struct dk_secret {
	char *id;
	char *name;
	struct rc_kv *labels;       /* sorted */
	size_t nlabels;
};
struct dk_secret_list {
	struct dk_secret *items;
	size_t n;
};
int dk_secret_list(struct dk_client *c, const struct dk_filter *filters, size_t nfilters,
		   struct dk_secret_list **ret_list, struct dk_status *st, struct rc_err *err);
void dk_secret_list_free(struct dk_secret_list *l);
/* POST /secrets/create (data sent base64).  409: the name exists.  The data is not kept or logged. */
int dk_secret_create(struct dk_client *c, const char *name, const void *data, size_t len, const struct rc_kv *labels,
		     size_t nlabels, char **ret_id, struct dk_status *st, struct rc_err *err);
/* DELETE /secrets/{id}; 400 while a service uses it ("secret 'x' is in use by the following service"),
 * 404 when gone.  (A secret's data cannot be updated: 400 "only updates to Labels are allowed".) */
int dk_secret_remove(struct dk_client *c, const char *id, struct dk_status *st, struct rc_err *err);

/* ---- decoders (unit tests, fuzz-docker-swarm) ---- */
int dk_decode_swarm_info(const char *json, size_t len, struct dk_swarm_info *ret, struct rc_err *err);
int dk_decode_service_list(const char *json, size_t len, struct dk_service_list **ret, struct rc_err *err);
int dk_decode_task_list(const char *json, size_t len, struct dk_task_list **ret, struct rc_err *err);
int dk_decode_node_list(const char *json, size_t len, struct dk_node_list **ret, struct rc_err *err);
int dk_decode_secret_list(const char *json, size_t len, struct dk_secret_list **ret, struct rc_err *err);

#endif
