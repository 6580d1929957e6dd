/*
 * unit.h — the desired state after expansion: one rc_unit per container,
 * one rc_network per Docker network, plus the resolved Settings.
 *
 * Owns: the data model shared by expansion (manifest.c), canonical specs and
 * hashes (spec.c), the planner and the executor.  Everything in an
 * rc_desired is owned by it and released by rc_desired_free().
 *
 * All lists are sorted where order does not matter to Docker (env, labels,
 * ports, mounts by target) so that equal specs are byte-equal.  Durations are
 * nanoseconds, sizes bytes, CPUs nano-CPUs; 0 means "not set / engine default".
 */
#ifndef RC_UNIT_H
#define RC_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

/*
 * Labels on every object the reconciler creates (documented in spec/labels.md).
 * From these alone a later run rebuilds the whole picture.
 */
#define RC_LABEL_MANAGED   "io.reconciler.managed-by"   /* always "reconciler" */
#define RC_LABEL_PROJECT   "io.reconciler.project"
#define RC_LABEL_UNIT      "io.reconciler.unit"         /* unit id */
#define RC_LABEL_CUSTOMER  "io.reconciler.customer"     /* absent for shared units */
#define RC_LABEL_SERVICE   "io.reconciler.service"
#define RC_LABEL_HASH      "io.reconciler.hash"
#define RC_LABEL_BASE_HASH "io.reconciler.base-hash"
#define RC_LABEL_SPEC      "io.reconciler.spec"         /* canonical text (spec.h) */
#define RC_LABEL_COMMIT    "io.reconciler.commit"
#define RC_LABEL_IMAGE     "io.reconciler.image"        /* the reference; Config.Image is its ID */
#define RC_LABEL_DEPENDS   "io.reconciler.depends-on"   /* unit ids it depends on, comma-separated */
#define RC_LABEL_NETWORK   "io.reconciler.network"      /* on networks: manifest-level id */
#define RC_MANAGED_BY      "reconciler"
/* The project's ownership marker (owner.h): a volume named <project>RC_OWNER_VOLUME_SUFFIX. */
#define RC_OWNER_VOLUME_SUFFIX  "-reconciler-owner"
#define RC_LABEL_OWNER          "io.reconciler.owner"            /* the owner id (owner.h) */
#define RC_LABEL_OWNER_REPO     "io.reconciler.owner.repo"       /* its repository, credentials redacted */
#define RC_LABEL_OWNER_STATE    "io.reconciler.owner.state-dir"  /* its state directory (real path) */
#define RC_LABEL_OWNER_HOST     "io.reconciler.owner.host"       /* its host name */

enum rc_dep_cond { RC_DEP_STARTED = 0, RC_DEP_HEALTHY, RC_DEP_COMPLETED };
enum rc_health_kind { RC_HEALTH_NONE = 0, RC_HEALTH_CMD, RC_HEALTH_HTTP };
enum rc_mount_kind { RC_MOUNT_VOLUME = 0, RC_MOUNT_BIND, RC_MOUNT_SECRET, RC_MOUNT_TMPFS };

struct rc_kv {
	char *key;
	char *value;
};

struct rc_port {
	uint16_t container_port;
	uint16_t host_port;   /* 0 when host_auto and not yet allocated */
	bool host_auto;       /* `port: auto`: allocated from Settings.ports.range */
	char *host_ip;        /* NULL: all addresses */
	char *proto;          /* "tcp" or "udp" */
};

struct rc_mount {
	enum rc_mount_kind kind;
	char *source;         /* volume: Docker volume name; bind: host path; secret: secret name; tmpfs: NULL */
	char *target;         /* path in the container */
	bool read_only;
};

struct rc_secret {
	char *name;
	char *path;                          /* file in the state dir's secrets/ */
	char digest[RC_HASH_HEX_LEN + 1];    /* of the content; the content itself is never kept */
};

struct rc_health {
	enum rc_health_kind kind;
	char *cmd;            /* RC_HEALTH_CMD: shell command run by Docker (CMD-SHELL) */
	char *http_path;      /* RC_HEALTH_HTTP: path probed by the reconciler, e.g. "/health" */
	uint16_t http_port;   /* container port to probe; defaults to the unit's first port */
	int64_t interval_ns;
	int64_t timeout_ns;
	int64_t start_period_ns;
	int retries;
};

struct rc_dep {
	char *unit;           /* unit id of the dependency */
	enum rc_dep_cond cond;
};

struct rc_restart {
	char *policy;         /* Docker restart policy: "no", "always", "unless-stopped", "on-failure" */
	int max_retries;      /* for on-failure */
	int64_t backoff_ns;   /* the daemon's self-healing backoff: first delay */
	int64_t max_backoff_ns;
	int max_failures;     /* after this many, the unit is disabled */
};

struct rc_unit {
	char *id;             /* "<customer>/<service>" or "<service>" for shared services */
	char *container;      /* Docker name: <project>-<customer>-<service> or <project>-<service> */
	char *customer;       /* NULL for shared services */
	char *service;
	char *image;
	char **command;       /* argv; NULL: the image's default */
	size_t ncommand;
	char **entrypoint;    /* argv; NULL: the image's default */
	size_t nentrypoint;
	char *user;           /* NULL: the image's default */
	char *workdir;        /* NULL: the image's default */
	struct rc_kv *env;    /* sorted by key */
	size_t nenv;
	struct rc_kv *labels; /* user labels, sorted by key (ours are added by the executor) */
	size_t nlabels;
	struct rc_port *ports;         /* sorted by (container_port, proto) */
	size_t nports;
	struct rc_mount *mounts;       /* sorted by target; secrets appear here as RC_MOUNT_SECRET */
	size_t nmounts;
	struct rc_secret *secrets;     /* sorted by name */
	size_t nsecrets;
	char **networks;      /* Docker network names; [0] is the one given at create */
	size_t nnetworks;
	/* A shared service's link networks (sorted): one per customer that reaches it over a shared
	 * network it is on (rc_network.link_of).  Joined at create and when a link network is made;
	 * not in the spec or its hash — customers come and go, the service stays. */
	char **links;
	size_t nlinks;
	struct rc_health health;
	struct rc_dep *deps;  /* sorted by unit id */
	size_t ndeps;
	/* Resources: changes here alone are applied in place (docker update). */
	int64_t nano_cpus;
	int64_t memory;
	int64_t memory_reservation;
	int64_t pids_limit;
	struct rc_restart restart;
	/* Lifecycle */
	int64_t stop_grace_ns;
	char *stop_signal;    /* NULL: SIGTERM */
	/* Privileges: only when Settings.policy allows them (see spec/manifest.md). */
	bool privileged;
	char **cap_add;       /* capability names without "CAP_", upper case, sorted */
	size_t ncap_add;
	char **devices;       /* "host-path:container-path:perms", sorted */
	size_t ndevices;
	bool pid_host;        /* pid: host */
	bool ipc_host;        /* ipc: host */
	bool running;         /* desired state: running (true) or stopped */
	bool protected_;      /* changes wait for `reconciler approve` */
	bool start_first;     /* update_order: start-first (a replacement starts the new container before
	                         stopping the old; not part of the spec: changing it recreates nothing) */
	char *plan;           /* name of the Plan it got its resources from (informational) */
	/* Where it was declared (for messages): file relative to the repo, line. */
	char *file;
	int line;
	/* Filled by spec_hash_units(): */
	char hash[RC_HASH_HEX_LEN + 1];      /* the whole canonical spec */
	char base_hash[RC_HASH_HEX_LEN + 1]; /* the spec without resources and restart policy */
};

struct rc_network {
	char *name;           /* Docker name: <project>-<customer>, <project>-<name>, or a link network's
	                       * <project>-<customer>-via-<name> */
	char *id;             /* manifest-level id: customer id or shared network name */
	char *customer;       /* NULL for shared networks */
	bool internal;
	char *subnet;         /* fixed in the manifest, or NULL: allocated from Settings.subnets */
	char *link_of;        /* a customer's link network: the shared network (manifest name) whose
	                       * services the customer reaches over it; NULL otherwise */
	char *file;
	int line;
};

struct rc_settings {
	char *project;              /* default "reconciler" */
	uint16_t port_lo, port_hi;  /* pool for `port: auto`; 0,0 = no pool */
	char *subnet_pool;          /* CIDR, e.g. "10.210.0.0/16" */
	int subnet_prefix;          /* size of each per-customer subnet, e.g. 26 */
	int64_t default_stop_grace_ns;
	bool allow_privileged;
	char **bind_roots;          /* host paths bind mounts may come from */
	size_t nbind_roots;
};

struct rc_desired {
	struct rc_settings settings;
	struct rc_unit *units;      /* sorted by id */
	size_t nunits;
	struct rc_network *networks; /* sorted by name */
	size_t nnetworks;
	char *commit;               /* the Git commit the manifests came from; NULL for --dir */
	char *path;                 /* with commit: the repository sub-directory they were read from ("" = root) */
};

void rc_unit_release(struct rc_unit *u);
void rc_network_release(struct rc_network *n);
void rc_desired_free(struct rc_desired *d);
/* Find by unit id / network name; NULL if absent.  Linear or binary search over the sorted arrays. */
struct rc_unit *rc_desired_unit(const struct rc_desired *d, const char *id);
struct rc_network *rc_desired_network(const struct rc_desired *d, const char *name);
const char *rc_dep_cond_name(enum rc_dep_cond c);

#endif
