/*
 * planner.h — pure planning: desired state + what Docker shows → the ordered
 * list of actions that converges them.  No I/O.
 *
 * Owns: the decision of what to do to each container and network and in what
 * order, with the cause of each action, and the dependency waves the
 * executor runs in.  It never talks to Docker: the executor fills a
 * plan_observed from Docker's list calls, calls planner_plan(), checks the
 * conflicts, and executes the actions in order.
 *
 * Preconditions on the desired state: spec_hash_units() has filled every
 * unit's hash/base_hash, and state_allocate() has filled host ports and
 * subnets.
 *
 * Decisions per desired unit (one kept container per unit):
 *   no container                        CREATE   "missing"
 *   spec hash differs, base hash equal  UPDATE   (docker update, same container)
 *   spec hash differs otherwise         RECREATE (cause: the changed fields)
 *   image tag now points elsewhere      RECREATE "image X now points to sha256:..."
 *   pull: always, the tag moved in its registry
 *                                       RECREATE "image X moved in the registry: sha256:<12>… → sha256:<12>…"
 *   wrong container name, or dead       RECREATE
 *   half-made (state "created"): hash differs, or not connected to one of
 *   its networks                        RECREATE; else START
 *   desired running, not running        START    "stopped" / "created, never started" / "paused"
 *   desired stopped, running            STOP     "desired state: stopped"
 * CREATE and RECREATE leave the new container running iff the unit's desired
 * state is running (the executor starts it); UPDATE of a container that must
 * also start or stop is followed by a START or preceded by a STOP.
 * Containers whose unit is gone are REMOVEd; extra containers claiming one
 * unit are REMOVEd ("duplicate"), keeping the one whose hash, then name,
 * matches (then a running one, then the lowest id).  A container that is not
 * running (created, exited, dead) and not connected to one of its networks
 * is RECREATEd (starting it would leave it off that network: a run cut short
 * while its network was being recreated).  Networks: NET_CREATE when
 * missing, NET_REMOVE when no longer desired, NET_RECREATE when the one
 * there differs from the desired one in `internal` or — when the desired
 * one has a subnet (fixed, or allocated from the pool) — in its subnet
 * (cause "internal: false -> true; subnet: A -> B"); a desired network
 * without a subnet takes the engine's choice, and any subnet is that.
 *
 * Order of the actions: NET_CREATE and NET_RECREATE (by name); then REMOVE and STOP in
 * reverse dependency order (units gone from the manifests first, by id);
 * then CREATE / RECREATE / UPDATE / START in dependency order (wave by wave,
 * ties by unit id); NET_REMOVE last.  A desired state in which nothing
 * differs yields zero actions.
 */
#ifndef RC_PLANNER_H
#define RC_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"
#include "unit.h"
#include "util.h"

/* ---- what Docker shows (filled by the executor; all owned by plan_observed) ---- */

/*
 * A container carrying our project label.
 *
 * hash and spec are the container's EFFECTIVE hash and spec: its labels,
 * unless an UPDATE has changed it in place since.  `docker update` cannot
 * change labels, so after an UPDATE the executor records the new hash and
 * resource lines (state_set_inplace()) and, when filling this struct for
 * that container id, uses the recorded hash and
 * planner_overlay_resources(spec label, recorded resources).  Without that
 * the same UPDATE would be planned forever.
 */
struct plan_container {
	char *id;
	char *name;           /* without the leading "/" */
	char *unit;           /* RC_LABEL_UNIT; NULL if missing */
	char *hash;           /* RC_LABEL_HASH */
	char *base_hash;      /* RC_LABEL_BASE_HASH */
	char *spec;           /* RC_LABEL_SPEC: canonical text; NULL if missing */
	char *commit;         /* RC_LABEL_COMMIT */
	char *depends_on;     /* RC_LABEL_DEPENDS: "a,b" (unit ids); NULL if none or made before the label */
	char *state;          /* created|running|paused|restarting|exited|dead */
	char *image_id;       /* sha256:... */
	char *health;         /* healthy|unhealthy|starting|none (NULL = none) */
	bool has_exit;        /* exited, and its exit code is known (the list's Status "Exited (N) ...") */
	int exit_code;        /* ... that code: a job (rc_unit.job) exited 0 has completed */
	uint16_t *host_ports; /* published host ports */
	size_t nhost_ports;
	char **networks;      /* names of the networks it is connected to */
	size_t nnetworks;
};

/* A network carrying our project label. */
struct plan_net {
	char *id;
	char *name;
	char *label;          /* RC_LABEL_NETWORK */
	char *subnet;         /* NULL if none */
	bool internal;
};

/* A container or network NOT carrying our label (only what conflicts need). */
struct plan_foreign {
	char *name;
	uint16_t *host_ports;
	size_t nhost_ports;
};

/* The local image id a reference (as written in the spec, e.g. "app:1") resolves to now and, for
 * a reference a `pull: always` unit names, what its registry says of the tag (observe.c asks once
 * per reference). */
struct plan_image {
	char *ref;
	char *id;
	char *registry_digest;  /* "sha256:..." the tag names in the registry; NULL: not asked, or no answer */
	char *local_digest;     /* the repository's digest the local image has; NULL: none */
	bool moved;             /* registry_digest is not the local image's: the tag moved in the registry */
};

struct plan_observed {
	struct plan_container *containers;
	size_t ncontainers;
	struct plan_net *networks;
	size_t nnetworks;
	struct plan_foreign *foreign;            /* unmanaged containers */
	size_t nforeign;
	struct plan_foreign *foreign_networks;   /* unmanaged networks (name only) */
	size_t nforeign_networks;
	struct plan_image *images;               /* refs missing here are not compared */
	size_t nimages;
	uint16_t *host_listening;                /* TCP ports a host process (no container) listens on */
	size_t nhost_listening;
	char *remote_engine;                     /* the engine's host string when it is not on this host
	                                          * (tcp://, https://, ssh://): an `http` health check,
	                                          * probed from here, is a conflict; NULL: local */
	char *engine_data_root;                  /* the engine's data root (DockerRootDir; its real path here
	                                          * for a local engine): no bind root may hold it or lie in
	                                          * it; NULL: not asked (no unit has a bind mount) */
	char **warnings;                         /* what could not be looked at and was left as it is
	                                          * (a registry that did not answer); for the caller to print */
	size_t nwarnings;
};

/* The image o saw for ref, or NULL. */
const struct plan_image *planner_image(const struct plan_observed *o, const char *ref);

/* Free everything in o (and reset it).  o itself is not freed. */
void plan_observed_release(struct plan_observed *o);

/* ---- the plan ---- */

enum plan_kind {
	PLAN_NET_CREATE = 0,
	PLAN_CREATE,
	PLAN_RECREATE,
	PLAN_UPDATE,
	PLAN_START,
	PLAN_STOP,
	PLAN_REMOVE,
	PLAN_NET_REMOVE,
	PLAN_NET_RECREATE,
};

struct plan_action {
	enum plan_kind kind;
	char *unit;                      /* unit id; NULL for network actions and unlabelled containers */
	const struct rc_unit *desired;   /* borrowed from the rc_desired; NULL for REMOVE / network actions */
	char *container_id;              /* the existing container acted on; NULL for CREATE / network actions */
	char *container_name;            /* existing name (REMOVE, STOP, ...) or the name to create */
	char *network;                   /* network name for NET_*; NULL otherwise */
	const struct rc_network *desired_net; /* borrowed; NET_CREATE and NET_RECREATE */
	char *network_id;                /* NET_REMOVE, NET_RECREATE: the existing network's id; NET_CREATE
	                                  * of a link network that exists already: only its shared services
	                                  * are connected (a run was cut short) */
	char *cause;                     /* for humans; never contains secret values */
	struct spec_changes changes;     /* RECREATE / UPDATE from a spec diff: fields that changed;
	                                  * NET_RECREATE: "internal", "subnet" (planner_network_changes()) */
	bool protected_;                 /* copied from the desired unit (the executor decides about approval);
	                                    false for units no longer desired */
	int wave;                        /* dependency level among the desired units; for `gone`, among the
	                                    units gone (from their RC_LABEL_DEPENDS); 0 for others */
	bool gone;                       /* REMOVE of a container whose unit is not desired (any more) */
};

struct plan {
	struct plan_action *v;
	size_t n;
	/* Conflicts: the plan cannot run while any remains (unmanaged objects holding what we need). */
	char **conflicts;
	size_t nconflicts;
};

/*
 * Compute the plan.  Returns 0 and fills *ret (release with plan_release())
 * even when there are conflicts: the caller must check ret->nconflicts
 * before running anything.  Returns -1 only if the desired dependency graph
 * has a cycle (which validation should have caught).
 */
int planner_plan(const struct rc_desired *d, const struct plan_observed *o, struct plan *ret,
		 struct rc_err *err);
void plan_release(struct plan *p);
/* Number of actions that change something (all of them: a plan has no no-op actions). */
static inline size_t plan_nactions(const struct plan *p) { return p->n; }

/* "create", "recreate", "update", "start", "stop", "remove", "network create", "network remove",
 * "network recreate". */
const char *planner_action_kind_name(enum plan_kind k);
/* Terraform-like marker: "+" create, "-/+" recreate, "~" update, ">" start, "." stop, "-" remove
 * (the network kinds use "+", "-" and "-/+"). */
const char *planner_action_marker(enum plan_kind k);

/*
 * Append the field changes in the words the planner uses in causes
 * ("env.X: a -> b; secret db_password changed"); secrets are only named.
 */
void planner_describe_changes(const struct spec_changes *ch, struct buf *out);

/*
 * How a network there — subnet (NULL: none) and internal — differs from the
 * desired n: changes "internal" ("true"/"false") and "subnet" (only when n
 * has one: without, the engine's choice, any subnet is right), before =
 * what is there, after = n's.  The changes of a NET_RECREATE; drift's
 * "network-changed".
 */
void planner_network_changes(const struct rc_network *n, const char *subnet, bool internal,
			     struct spec_changes *ret);

/* ---- in-place updates (see struct plan_container) ---- */

/* Append the resource lines (spec_key_is_resource) of canonical text spec to out. */
void planner_resource_lines(const char *spec, struct buf *out);
/* Append spec with its resource lines replaced by those of resources, sorted. */
void planner_overlay_resources(const char *spec, const char *resources, struct buf *out);

/* ---- dependency graph and waves ---- */

/*
 * The dependencies of u that are in d (deps naming unknown units are
 * skipped).  *ret is an allocated array of pointers into d (free the array);
 * returns the count.
 */
size_t planner_unit_deps(const struct rc_desired *d, const struct rc_unit *u, const struct rc_unit ***ret);

struct plan_wave {
	const struct rc_unit **units;    /* borrowed from d, sorted by id */
	size_t n;
};
struct plan_waves {
	struct plan_wave *v;
	size_t n;
};
/*
 * Split the units named in ids (unit ids of d; unknown ids are an error) into
 * waves: wave 0 holds those with no dependency inside the set, wave k those
 * whose deepest dependency inside the set is in wave k-1.  Dependencies
 * outside the set count as already satisfied.  ids == NULL means all units of
 * d.  A cycle is an error naming the units on it.
 */
int planner_waves(const struct rc_desired *d, const char *const *ids, size_t nids, struct plan_waves *ret,
		  struct rc_err *err);
void plan_waves_release(struct plan_waves *w);

#endif
