/*
 * docker.h — the Docker Engine API client (API 1.41, libcurl + cJSON).
 *
 * Owns: the connection to the engine (struct dk_client), the per-operation
 * call counters, every request body and every parsed response.  libcurl and
 * cJSON stay inside docker.c and its docker_*.c files (docker_int.h maps
 * them): callers only see the C structs below.
 *
 * Host strings (dk_client_open, dk_host_parse): NULL or "" means
 * unix:///var/run/docker.sock; "unix:///path" or "/path" a unix socket;
 * "tcp://host[:port]" plain HTTP over TCP (port 2375), or HTTPS when
 * $DOCKER_TLS_VERIFY is non-empty (port 2376), as the docker CLI reads them;
 * "https://host[:port]" HTTPS (2376); "http://host[:port]" plain HTTP (80,
 * refused when DOCKER_TLS_VERIFY is set).  A host may be "[v6addr]".  TLS
 * uses $DOCKER_CERT_PATH (default ~/.docker): ca.pem verifies the engine's
 * certificate and its host name, always; cert.pem and key.pem, when there
 * (both or neither), are the client's certificate.  "ssh://[user@]host[:port]
 * [/path]" runs `ssh -L` to forward the engine's socket on that host (path,
 * default /var/run/docker.sock) to a socket in a private directory of ours,
 * and talks to that (docker_ssh.c): the ssh process lives as long as the
 * client and its clones, dies with this process, and is reaped by the last
 * dk_client_free().  Such an engine is not local (dk_client_local()).  Every
 * request goes to
 * /v1.41/...; opening the client asks GET /version once and fails when the
 * engine's ApiVersion is below 1.41.
 *
 * Results.  Every call that talks to the engine takes an optional
 * `struct dk_status *st` (may be NULL) and a `struct rc_err *err`:
 *  - st->http is the HTTP status (0 when the transfer itself failed:
 *    connection refused, timeout, dropped connection, body over the cap,
 *    invalid JSON in a 2xx reply leaves st->http at 200 but fails);
 *  - st->message is Docker's `message` for error replies, "" otherwise.
 * Calls return 0 for 2xx **and for 304** (already started / stopped: nothing
 * to do, st->http says which), -1 for anything else with err filled
 * ("stop 'web': 404: No such container: web").  A caller that treats 404
 * as done writes: `if (dk_container_stop(...) < 0 && st.http != 404) fail;`
 * ret_* out-parameters are left untouched on failure.
 *
 * Engine faults.  An error is either the engine's answer (a 4xx, a 500 saying
 * what went wrong with the request, a pull error line) or a fault of the
 * engine, flagged in rc_err.engine_fault: no complete reply (connection
 * refused or reset, a TLS handshake or certificate that fails, a reply cut
 * short, nothing within the call's timeout),
 * a 2xx reply that is not what the engine sends (garbage or truncated JSON,
 * a create without an Id, a ping that is not "OK", a body over the cap), an
 * error reply that is not Docker's {"message": ...} object, 502/503/504, and
 * a 500 whose message says the engine's own machinery failed (containerd
 * unreachable, an internal deadline: dk_error_reply_is_fault()).  A fault
 * says nothing about the request: the caller must not take it as a verdict.
 * A pull that the registry refuses or that goes silent is no fault.
 *
 * Timeouts.  Every call is bounded: the client's timeout (default 30 s, or
 * RECONCILER_ENGINE_TIMEOUT_MS when set: tests use short ones), stop adds the
 * stop timeout plus a slack (the client's timeout, at most 30 s), remove
 * (force kills) the client's timeout plus that slack; pulls have no overall limit but abort when nothing
 * arrives for `stall_ms`; the events stream has no limit but never
 * blocks longer than the timeout given to dk_events_next().  Response bodies
 * larger than the cap (default 64 MiB) are an error.
 *
 * Threads.  A dk_client (and its curl handles) must be used by one thread at
 * a time.  For worker threads make one client per thread with
 * dk_client_clone(): clones share the (atomic) call counters, so the stats
 * read from any of them add up every call of the family.  curl_global_init()
 * must have been called once (main.c does).
 *
 * Counters.  Every request made is counted under its enum dk_op (one pull
 * attempt = one DK_OP_PULL; the version check at open = one DK_OP_VERSION).
 * dk_op_mutating() tells calls that change the engine's state from
 * read-only ones; dk_stats_mutating() sums them.
 */
#ifndef RC_DOCKER_H
#define RC_DOCKER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "unit.h"
#include "util.h"

#define DK_API_VERSION "1.41"
#define DK_DEFAULT_HOST "unix:///var/run/docker.sock"

struct dk_status {
	long http;          /* HTTP status; 0 when no complete reply arrived */
	char message[1024]; /* Docker's "message" on errors, "" on success */
};

/* ---- client ---- */

struct dk_client;

struct dk_opts {
	const char *host;      /* see above; NULL = DK_DEFAULT_HOST */
	long timeout_ms;       /* per call; 0 = $RECONCILER_ENGINE_TIMEOUT_MS, else 30000 */
	long connect_timeout_ms; /* 0 = 5000 */
	size_t max_body;       /* response cap in bytes; 0 = 64 MiB */
	bool defer_version_check; /* the caller calls dk_check_version() itself (e.g. on a
	                             clone, alongside its first read-only calls) */
};

/* Where the engine is, from a host string (see above) and the TLS environment. */
struct dk_tls_env {
	const char *tls_verify; /* $DOCKER_TLS_VERIFY: non-empty turns TLS on for tcp:// */
	const char *cert_path;  /* $DOCKER_CERT_PATH; NULL or "": HOME/.docker */
	const char *home;       /* $HOME */
};
struct dk_endpoint {
	char *sock_path;        /* a unix socket, or NULL (ssh://: the forwarded socket, once made) */
	char *base_url;         /* "http://localhost", "http://host:port", "https://host:port" */
	bool tls;
	char *ca_file, *cert_file, *key_file;  /* tls: CERT_PATH/ca.pem, cert.pem, key.pem; else NULL */
	/* ssh://[user@]host[:port][/socket]: what ssh is given; NULL for the other schemes */
	char *ssh_dest;         /* "user@host" or "host" (never starts with '-') */
	char *ssh_port;         /* "2222", or NULL: ssh's own default (its config, else 22) */
	char *ssh_sock;         /* the engine's socket on that host: "/var/run/docker.sock" by default */
};
/* Pure (no file is read; dk_client_open() checks the certificate files).  *ret is released with
 * dk_endpoint_release(). */
int dk_host_parse(const char *host, const struct dk_tls_env *env, struct dk_endpoint *ret, struct rc_err *err);
void dk_endpoint_release(struct dk_endpoint *e);

/* Open a client and check the engine's API version.  *ret_client is freed with dk_client_free(). */
int dk_client_open(const struct dk_opts *o, struct dk_client **ret_client, struct rc_err *err);
/* GET /version (unversioned) and refuse an engine below API 1.41.  dk_client_open() does it
 * unless told to defer; a caller that defers must check before any mutating call. */
int dk_check_version(struct dk_client *c, struct rc_err *err);
/* A new client for another thread: same host and options, shared counters.  No request made;
 * reads only what never changes in c, so any thread may call it. */
struct dk_client *dk_client_clone(const struct dk_client *c);
/* The engine is reached over a unix socket: it runs on this host (its published ports are ours). */
bool dk_client_local(const struct dk_client *c);
/* The host string the client was opened with (for messages). */
const char *dk_client_host(const struct dk_client *c);
/* The per-call timeout in ms (dk_opts.timeout_ms or its default). */
long dk_client_timeout_ms(const struct dk_client *c);
/* Free a client (NULL is fine).  Counters live while any clone does. */
void dk_client_free(struct dk_client *c);

/* ---- counters ---- */

enum dk_op {
	DK_OP_PING = 0,
	DK_OP_VERSION,
	DK_OP_LIST,        /* containers */
	DK_OP_INSPECT,     /* containers, also each inspect of dk_inspect_many */
	DK_OP_CREATE,
	DK_OP_START,
	DK_OP_STOP,
	DK_OP_REMOVE,
	DK_OP_UPDATE,
	DK_OP_RENAME,
	DK_OP_NETWORK_LIST,
	DK_OP_NETWORK_INSPECT,
	DK_OP_NETWORK_CREATE,
	DK_OP_NETWORK_REMOVE,
	DK_OP_NETWORK_CONNECT,
	DK_OP_NETWORK_DISCONNECT,
	DK_OP_VOLUME_INSPECT,
	DK_OP_VOLUME_CREATE,
	DK_OP_VOLUME_REMOVE,
	DK_OP_IMAGE_INSPECT,
	DK_OP_IMAGE_PULL,
	DK_OP_IMAGE_BUILD,
	DK_OP_DISTRIBUTION,  /* GET /distribution/{name}/json: a tag's digest in its registry */
	DK_OP_EVENTS,
	DK_OP_STATS,       /* one-shot container stats (the daemon's idle sampling) */
	/* Swarm (docker_swarm.h) */
	DK_OP_SWARM_INFO,  /* GET /info, read for its Swarm object */
	DK_OP_SERVICE_LIST,
	DK_OP_SERVICE_CREATE,
	DK_OP_SERVICE_UPDATE,
	DK_OP_SERVICE_REMOVE,
	DK_OP_TASK_LIST,
	DK_OP_NODE_LIST,
	DK_OP_SECRET_LIST,
	DK_OP_SECRET_CREATE,
	DK_OP_SECRET_REMOVE,
	DK_OP_INFO,        /* GET /info, read for the engine's data root */
	DK_OP__MAX
};

/* "list", "inspect", "network-create", ... (static strings). */
const char *dk_op_name(enum dk_op op);
/* True for calls that change the engine's state (create, start, pull, ...). */
bool dk_op_mutating(enum dk_op op);
/* Calls of one kind made by c and all its clones. */
uint64_t dk_stats_get(const struct dk_client *c, enum dk_op op);
/* Sum over every op / over the mutating ones. */
uint64_t dk_stats_total(const struct dk_client *c);
uint64_t dk_stats_mutating(const struct dk_client *c);
void dk_stats_reset(struct dk_client *c);
/*
 * Append the counters to out for --stats: one "  <op> <n>" line per op
 * called at least once, in enum order, then "  total <n> (mutating <m>)".
 * Returns -1 only if out's cap is exceeded.
 */
struct buf;
int dk_stats_format(const struct dk_client *c, struct buf *out);

/* ---- filters (list calls and events) ---- */

/* One filter term, e.g. {"label", "io.reconciler.project=x"}, {"type", "container"}.
 * Terms with the same key are OR-ed by the engine, different keys AND-ed. */
struct dk_filter {
	const char *key;
	const char *value;
};

/* ---- system ---- */

struct dk_version {
	char *version;         /* "20.10.24" */
	char *api_version;     /* "1.41" */
	char *min_api_version;
	char *os, *arch, *kernel;
};
void dk_version_release(struct dk_version *v);

/* GET /_ping: 0 only when the engine answers "OK". */
int dk_ping(struct dk_client *c, struct dk_status *st, struct rc_err *err);
/* Fills *ret (release with dk_version_release). */
int dk_version(struct dk_client *c, struct dk_version *ret, struct dk_status *st, struct rc_err *err);
/* GET /info: the engine's data root (DockerRootDir, "/var/lib/docker" by default), *ret_root
 * malloc'ed; an engine that does not say is a fault.  *ret_root untouched on failure. */
int dk_data_root(struct dk_client *c, char **ret_root, struct dk_status *st, struct rc_err *err);

/* ---- containers ---- */

struct dk_port_summary {
	uint16_t private_port;
	uint16_t public_port;  /* 0: not published */
	char *type;            /* "tcp" / "udp" */
	char *ip;              /* host address, NULL when not published */
};

struct dk_container_summary {
	char *id;
	char *name;            /* without the leading "/" */
	char *image;
	char *image_id;
	char *state;           /* "created", "running", "paused", "exited", ... */
	char *status;          /* "Up 3 minutes" */
	struct rc_kv *labels;  /* sorted by key */
	size_t nlabels;
	struct dk_port_summary *ports;
	size_t nports;
	char **networks;       /* names, sorted */
	size_t nnetworks;
};

struct dk_container_list {
	struct dk_container_summary *items;
	size_t n;
};
void dk_container_list_free(struct dk_container_list *l);
struct dk_container;
/* Move the items of from whose id into lacks to the end of into; free from (and what it kept). */
void dk_container_list_merge(struct dk_container_list *into, struct dk_container_list *from);
/*
 * Append to l a summary made from an inspect, as the list would show it: id,
 * name, image, image id, state, labels, networks, the published host ports
 * (HostConfig.PortBindings with a host port, while running or paused), and a
 * Status made up of what observe_health_from_status() reads ("Up (healthy)",
 * "Up", "Exited (1)"; no uptime).  For a container found by name or id
 * rather than listed.
 */
void dk_container_list_add_inspected(struct dk_container_list *l, const struct dk_container *ct);
/* Value of a label or NULL (for summaries, inspects, networks, volumes). */
const char *dk_label(const struct rc_kv *labels, size_t n, const char *key);

/* GET /containers/json?all=1&filters=...; *ret_list is freed with dk_container_list_free(). */
int dk_container_list(struct dk_client *c, const struct dk_filter *filters, size_t nfilters,
		      struct dk_container_list **ret_list, struct dk_status *st, struct rc_err *err);
/*
 * The same list, of which only each container's Id is read (the rest of the
 * reply is skipped, not decoded): for a caller that inspects the containers
 * anyway.  An object without an Id string (or with an empty one) has none;
 * one with an escape in its Id makes the reply not understood.  *ret_ids is NULL-terminated, *ret_n of them; free with
 * dk_ids_free().
 */
int dk_container_ids(struct dk_client *c, const struct dk_filter *filters, size_t nfilters, char ***ret_ids,
		     size_t *ret_n, struct dk_status *st, struct rc_err *err);
void dk_ids_free(char **ids);

enum dk_mount_type { DK_MOUNT_VOLUME = 0, DK_MOUNT_BIND, DK_MOUNT_TMPFS };

struct dk_mount {
	enum dk_mount_type type;
	const char *source;    /* volume name / host path; NULL for tmpfs */
	const char *target;
	bool read_only;
};

struct dk_port {
	uint16_t container_port;
	const char *proto;     /* NULL = "tcp" */
	uint16_t host_port;    /* 0: exposed only, not published */
	const char *host_ip;   /* NULL = all addresses */
};

/* Everything dk_container_create() can set.  Zero / NULL means "engine or image default". */
struct dk_create_spec {
	const char *name;
	const char *image;
	const char *const *cmd;        /* NULL: the image's */
	size_t ncmd;
	const char *const *entrypoint; /* NULL: the image's */
	size_t nentrypoint;
	const struct rc_kv *env;       /* KEY=VALUE */
	size_t nenv;
	const struct rc_kv *labels;
	size_t nlabels;
	const struct dk_port *ports;
	size_t nports;
	int64_t nano_cpus;
	int64_t memory;                /* bytes; MemorySwap is sent as 2x (the engine's default) */
	int64_t memory_reservation;
	int64_t pids_limit;            /* 0 = unset, -1 = unlimited */
	const char *restart_policy;    /* "no", "always", "unless-stopped", "on-failure"; NULL = "no" */
	int restart_max_retries;
	const char *health_cmd;        /* CMD-SHELL command; NULL: the image's */
	bool health_disable;           /* Test ["NONE"] */
	int64_t health_interval_ns, health_timeout_ns, health_start_period_ns;
	int health_retries;
	int stop_timeout_s;            /* seconds; 0 = engine default (10), like every 0 here */
	const struct dk_mount *mounts; /* HostConfig.Mounts: volume, bind, tmpfs */
	size_t nmounts;
	/* Only when the manifest policy allows them (validation rejects them otherwise): */
	bool pid_host;                 /* PidMode "host" */
	bool ipc_host;                 /* IpcMode "host" */
	const char *const *cap_add;    /* capability names */
	size_t ncap_add;
	const char *const *devices;    /* "host-path:container-path[:perms]" */
	size_t ndevices;
	/* The fields of the spec-key table (speckeys.h; user, working_dir, stop_signal, privileged, ...):
	 * each non-zero one is written at its row's engine path.  NULL: none. */
	const struct sk_value *fields;  /* [SK__COUNT] */
	const char *network;           /* the one network given at create (NULL: default bridge) */
	const char *const *aliases;    /* on that network */
	size_t naliases;
};

/* POST /containers/create?name=...  *ret_id is malloc'ed (may be NULL). 409: name in use, 404: no image. */
int dk_container_create(struct dk_client *c, const struct dk_create_spec *s, char **ret_id,
			struct dk_status *st, struct rc_err *err);

struct dk_port_binding {
	uint16_t container_port;
	char *proto;
	uint16_t host_port;
	char *host_ip;         /* NULL when "" */
};

struct dk_mount_info {
	enum dk_mount_type type;
	char *source;          /* volume name or host path; NULL for tmpfs */
	char *target;
	bool read_only;
};

struct dk_net_attach {
	char *name;
	char *network_id;
	char **aliases;        /* without the short container id */
	size_t naliases;
	char *ip;              /* NULL when none */
};

struct dk_container {
	char *id;
	char *name;            /* without "/" */
	char *image;           /* Config.Image, as given at create */
	char *image_id;        /* sha256:... */
	char *created;
	/* Config (the engine merges the image's env, labels and exposed ports in) */
	char **env;            /* KEY=VALUE as the engine reports them */
	size_t nenv;
	struct rc_kv *labels;  /* sorted by key */
	size_t nlabels;
	char **cmd;
	size_t ncmd;
	char **entrypoint;
	size_t nentrypoint;
	bool has_health;
	char **health_test;    /* e.g. {"CMD-SHELL", "..."} */
	size_t nhealth_test;
	int64_t health_interval_ns, health_timeout_ns, health_start_period_ns;
	int health_retries;
	char **exposed_ports;  /* "8080/tcp", sorted */
	size_t nexposed_ports;
	int stop_timeout_s;    /* -1 when unset */
	/* HostConfig */
	int64_t nano_cpus, memory, memory_reservation, pids_limit;
	char *pid_mode;        /* NULL when "" ("host", "container:...") */
	char *ipc_mode;        /* NULL when "" ("private", "shareable", "host", ...) */
	char **cap_add;        /* sorted */
	size_t ncap_add;
	char **devices;        /* "PathOnHost:PathInContainer:CgroupPermissions", in the engine's order */
	size_t ndevices;
	char *restart_policy;  /* "" becomes "no" */
	int restart_max_retries;
	struct dk_port_binding *port_bindings; /* sorted by (container_port, proto) */
	size_t nport_bindings;
	struct dk_mount_info *mounts;          /* HostConfig.Mounts and .Binds, sorted by target */
	size_t nmounts;
	/* The fields of the spec-key table, read from each row's engine path (Config.User,
	 * HostConfig.Privileged, ...) in canonical form: set when the engine has a value
	 * (an empty string is none); list items made canonical (sk_engine_item()). */
	struct sk_value fields[SK__COUNT];
	/* NetworkSettings.Networks, sorted by name */
	struct dk_net_attach *networks;
	size_t nnetworks;
	/* State */
	char *state_status;    /* "running", "paused", "exited", ... (use this, not running) */
	bool running, paused, restarting, oom_killed, dead;
	int exit_code;
	int pid;
	char *started_at, *finished_at;
	char *health_status;   /* NULL: no healthcheck; "starting", "healthy", "unhealthy" */
	int failing_streak;
	int restart_count;
};
void dk_container_free(struct dk_container *ct);
const struct dk_net_attach *dk_container_network(const struct dk_container *ct, const char *name);

/* GET /containers/{id}/json.  404 when it does not exist.  Free with dk_container_free(). */
int dk_container_inspect(struct dk_client *c, const char *id, struct dk_container **ret,
			 struct dk_status *st, struct rc_err *err);

/* One result of dk_inspect_many(). */
struct dk_inspect_result {
	struct dk_status st;
	struct dk_container *container; /* NULL unless st.http == 200 and parsed */
	char error[512];                /* "" on success */
	bool engine_fault;              /* the failure is an engine fault (see above) */
};
/*
 * Inspect n containers with at most `parallelism` requests in flight
 * (multi interface, one thread).  results[] (n, caller-allocated) gets one
 * entry per id; release them with dk_inspect_results_release().  Returns 0
 * when every id was inspected or is gone (404), -1 otherwise with err set
 * to the first failure (the other results are still filled).
 */
int dk_inspect_many(struct dk_client *c, const char *const *ids, size_t n, int parallelism,
		    struct dk_inspect_result *results, struct rc_err *err);
void dk_inspect_results_release(struct dk_inspect_result *results, size_t n);

/* POST /containers/{id}/start (empty body).  304: already running. */
int dk_container_start(struct dk_client *c, const char *id, struct dk_status *st, struct rc_err *err);
/* The same within timeout_ms (0: the client's call timeout): a container on many networks takes
 * the engine longer to start (one endpoint each). */
int dk_container_start_within(struct dk_client *c, const char *id, long timeout_ms, struct dk_status *st,
			      struct rc_err *err);
/* POST /containers/{id}/stop?t=timeout_s (timeout_s < 0: the container's own).  304: not running. */
int dk_container_stop(struct dk_client *c, const char *id, int timeout_s, struct dk_status *st,
		      struct rc_err *err);
/* One result of dk_net_bytes_many(): from GET /containers/{id}/stats?stream=false&one-shot=true, the
 * bytes received and sent over all of the container's networks (its interfaces' counters since it
 * started); a container that is not running answers with no networks: 0, 0, not counted. */
struct dk_net_bytes {
	struct dk_status st;
	bool ok;                  /* the reply was read: rx, tx, counted as above */
	uint64_t rx, tx;
	bool counted;
	char error[256];          /* "" when ok */
};
/*
 * The stats of n containers with at most `parallelism` requests in flight
 * (multi interface, one thread): the engine answers a one-shot stats call
 * at its collector's next tick (up to a second on Docker 20.10), so the
 * calls of a sampling round must overlap.  results[] (n, caller-allocated)
 * gets one entry per id.
 */
void dk_net_bytes_many(struct dk_client *c, const char *const *ids, size_t n, int parallelism,
		       struct dk_net_bytes *results);
/* DELETE /containers/{id}?force=&v=.  404: already gone. */
int dk_container_remove(struct dk_client *c, const char *id, bool force, bool volumes,
			struct dk_status *st, struct rc_err *err);

/*
 * What dk_container_update() changes in place; 0 leaves a value unchanged
 * (engine semantics).  Rules of the engine (20.10) to plan around:
 *  - a limit cannot be lifted in place: Memory and NanoCpus cannot go back
 *    to 0 (unlimited) by update ("Minimum memory limit allowed is 6MB"):
 *    recreate instead; MemoryReservation and PidsLimit can (-1);
 *  - NanoCpus above the host's CPU count is refused;
 *  - the engine compares MemoryReservation with Memory only among the
 *    values in one request (a reservation above the current limit sent
 *    alone is accepted): send both whenever either changes.  A reservation
 *    above the limit in one request is refused here, before asking.
 */
struct dk_resources {
	int64_t nano_cpus;
	int64_t memory;             /* MemorySwap is sent as 2x memory along with it */
	int64_t memory_reservation; /* must stay <= memory; -1 clears it */
	int64_t pids_limit;         /* -1: unlimited */
	const char *restart_policy; /* NULL: unchanged */
	int restart_max_retries;
	/* The spec-key table's in-place rows (speckeys.h, in_place: CpuShares, ...): each non-zero
	 * one is sent (0 leaves it unchanged).  NULL: none. */
	const struct sk_value *fields;  /* [SK__COUNT] */
};
/* POST /containers/{id}/update. */
int dk_container_update(struct dk_client *c, const char *id, const struct dk_resources *r,
			struct dk_status *st, struct rc_err *err);
/* POST /containers/{id}/rename?name=...  409: name in use. */
int dk_container_rename(struct dk_client *c, const char *id, const char *new_name,
			struct dk_status *st, struct rc_err *err);

/* ---- networks ---- */

struct dk_network {
	char *id;
	char *name;
	char *driver;
	struct rc_kv *labels;  /* sorted */
	size_t nlabels;
	bool internal;
	bool attachable;       /* Attachable (overlay networks) */
	char **subnets;        /* IPAM.Config[].Subnet */
	size_t nsubnets;
	char **containers;     /* container ids (inspect only; list leaves it empty) */
	size_t ncontainers;
};
struct dk_network_list {
	struct dk_network *items;
	size_t n;
};
void dk_network_free(struct dk_network *n);
void dk_network_list_free(struct dk_network_list *l);

struct dk_network_spec {
	const char *name;
	const char *driver;    /* NULL = "bridge" */
	const struct rc_kv *labels;
	size_t nlabels;
	bool internal;
	const char *subnet;    /* NULL: from the engine's default pools */
	const char *gateway;   /* NULL: the engine picks */
	bool attachable;       /* overlay: containers and services may join it (Attachable) */
};

int dk_network_list(struct dk_client *c, const struct dk_filter *filters, size_t nfilters,
		    struct dk_network_list **ret_list, struct dk_status *st, struct rc_err *err);
int dk_network_inspect(struct dk_client *c, const char *id, struct dk_network **ret,
		       struct dk_status *st, struct rc_err *err);
/* POST /networks/create with CheckDuplicate: 409 when the name exists.  *ret_id malloc'ed (may be NULL). */
int dk_network_create(struct dk_client *c, const struct dk_network_spec *s, char **ret_id,
		      struct dk_status *st, struct rc_err *err);
int dk_network_remove(struct dk_client *c, const char *id, struct dk_status *st, struct rc_err *err);
int dk_network_connect(struct dk_client *c, const char *network, const char *container,
		       const char *const *aliases, size_t naliases, struct dk_status *st,
		       struct rc_err *err);
int dk_network_disconnect(struct dk_client *c, const char *network, const char *container,
			  bool force, struct dk_status *st, struct rc_err *err);

/* ---- volumes ---- */

struct dk_volume {
	char *name;
	char *driver;
	char *mountpoint;
	struct rc_kv *labels;
	size_t nlabels;
	struct rc_kv *options;   /* driver options (local: type, o, device); NULL when none */
	size_t noptions;
};

/*
 * POST /volumes/create.  The engine answers 201 even when the volume exists,
 * with the volume it has (its own labels and options, not those asked for):
 * *ret_vol (when not NULL) is that volume, to be freed with dk_volume_free().
 */
int dk_volume_create(struct dk_client *c, const char *name, const struct rc_kv *labels, size_t nlabels,
		     struct dk_volume **ret_vol, struct dk_status *st, struct rc_err *err);
void dk_volume_free(struct dk_volume *v);
/* GET /volumes/{name}: one volume (404: none).  *ret is freed with dk_volume_free(). */
int dk_volume_inspect(struct dk_client *c, const char *name, struct dk_volume **ret, struct dk_status *st,
		      struct rc_err *err);
/* 404: gone; 409: in use. */
int dk_volume_remove(struct dk_client *c, const char *name, bool force, struct dk_status *st,
		     struct rc_err *err);

/* ---- images ---- */

/*
 * An image's Config: what the engine merges into a container's Config at
 * create when the request leaves a field empty (env by key, labels by key,
 * Cmd unless an Entrypoint is given, healthcheck fields left zero, ...).
 * Lists are NULL / 0 when the image has none.
 */
struct dk_image_config {
	char **env;            /* KEY=VALUE, in the image's order */
	size_t nenv;
	struct rc_kv *labels;  /* sorted by key */
	size_t nlabels;
	char **cmd;
	size_t ncmd;
	char **entrypoint;
	size_t nentrypoint;
	bool has_health;
	char **health_test;
	size_t nhealth_test;
	int64_t health_interval_ns, health_timeout_ns, health_start_period_ns;
	int health_retries;
	char **exposed_ports;  /* "8080/tcp", sorted */
	size_t nexposed_ports;
	/* The spec-key table's rows the image supplies (read back SKR_IMAGE, engine path Config.*):
	 * User, WorkingDir, StopSignal, ... */
	struct sk_value fields[SK__COUNT];
};

struct dk_image {
	char *id;              /* sha256:... */
	char **repo_tags;
	size_t nrepo_tags;
	char **repo_digests;   /* "name@sha256:..." the registry knows it by (pulled or pushed) */
	size_t nrepo_digests;
	struct dk_image_config config;
};
void dk_image_free(struct dk_image *img);

int dk_image_inspect(struct dk_client *c, const char *ref, struct dk_image **ret,
		     struct dk_status *st, struct rc_err *err);

struct dk_pull_opts {
	int retries;           /* after the first attempt; < 0 = none, 0 = default 3 */
	long first_delay_ms;   /* wait before the first retry, x3 each time; 0 = 5000 (5 s, 15 s, 45 s) */
	long stall_ms;         /* abort an attempt when no byte arrives for this long; 0 = 120000 */
	/* Asked between attempts and during the waits (every 100 ms): true gives up at once,
	 * with "interrupted" in the error.  NULL: never. */
	bool (*interrupted)(void *ctx);
	void *interrupted_ctx;
	/* X-Registry-Auth header value (regauth.h); NULL: an anonymous pull.  Never logged. */
	const char *registry_auth;
};
/*
 * Pull ref ("name:tag", "name" = ":latest", or "name@sha256:...") with
 * POST /images/create, scanning every progress line for errors (they arrive
 * with HTTP 200), retrying with backoff, then inspect the image and return
 * its Id in *ret_id (malloc'ed).  o may be NULL for the defaults.  On
 * failure err says how many attempts were made and the last error.
 */
int dk_image_pull(struct dk_client *c, const char *ref, const struct dk_pull_opts *o, char **ret_id,
		  struct dk_status *st, struct rc_err *err);

/* A build (`POST /build`): the context as a tar stream, the image tagged tag. */
struct dk_build_opts {
	const char *tag;          /* t= */
	const char *dockerfile;   /* relative to the context; NULL: "Dockerfile" */
	const char *target;       /* NULL: the last stage */
	const struct rc_kv *args; /* buildargs */
	size_t nargs;
	long stall_ms;            /* abort when no byte arrives for this long; 0 = 600000 */
};
/*
 * Build from context (tar, len bytes) with rm=1 and forcerm=1 (no
 * intermediate containers are left, even after a failure).  Every line of
 * the engine's progress stream ("stream" texts, "status", the error) is
 * appended to log (NULL: none; its cap bounds it, and what does not fit is
 * dropped).  A line with errorDetail fails the build (HTTP 200 before it):
 * err says "build image 'TAG': <the engine's error line>".  On success the
 * image's sha256: id in *ret_id (NULL: not wanted).  Not retried.
 */
int dk_image_build(struct dk_client *c, const struct dk_build_opts *o, const void *context, size_t len,
		   struct buf *log, char **ret_id, struct dk_status *st, struct rc_err *err);
/*
 * GET /distribution/{ref}/json: the engine asks ref's registry (with
 * registry_auth, the X-Registry-Auth value, or anonymously when NULL) for
 * the digest its tag names now; *ret_digest is "sha256:..." (malloc'ed).
 * Read-only on the engine; the registry being unreachable is an error like
 * any other (the engine answers 500 or 401/404).
 */
int dk_distribution_inspect(struct dk_client *c, const char *ref, const char *registry_auth, char **ret_digest,
			    struct dk_status *st, struct rc_err *err);
/* Whether img is known to the registry of ref's repository as digest ("sha256:..."): one of its
 * RepoDigests is "<ref's name>@<digest>".  *ret_local (may be NULL) is set to that repository's
 * digest the image has (the first; NULL when none), borrowed from img. */
bool dk_image_has_digest(const struct dk_image *img, const char *ref, const char *digest, const char **ret_local);

/* ---- events ---- */

struct dk_events;

struct dk_event {
	char *type;            /* "container", "network", ... */
	char *action;          /* "start", "die", "health_status: healthy", ... */
	char *id;              /* Actor.ID */
	struct rc_kv *attrs;   /* Actor.Attributes (labels, name, exitCode, image, ...), sorted */
	size_t nattrs;
	int64_t time;          /* unix seconds */
	int64_t time_nano;     /* unix nanoseconds (parsed from the raw text, exact) */
};
void dk_event_release(struct dk_event *e);
/* Actor attribute or NULL. */
const char *dk_event_attr(const struct dk_event *e, const char *key);

/*
 * Open GET /events?filters=...&since=  (since <= 0: only new events).  The
 * stream has its own connection (from c's host; counted as DK_OP_EVENTS
 * on c); c must outlive it, and it belongs to one thread like c.  Fails
 * when the engine refuses the stream (e.g. 400 for a bad filter) or does
 * not answer within c's timeout.  Free with dk_events_close().
 */
int dk_events_open(struct dk_client *c, const struct dk_filter *filters, size_t nfilters, int64_t since,
		   struct dk_events **ret, struct rc_err *err);
/*
 * Wait at most timeout_ms for the next event.  Returns 1 with *ret_event
 * filled (release with dk_event_release), 0 on timeout, -1 when the stream
 * ended or failed (err says which; reopen, then resync by listing).
 * Unparsable lines are skipped.
 */
int dk_events_next(struct dk_events *ev, int timeout_ms, struct dk_event *ret_event, struct rc_err *err);
/*
 * Like dk_events_next(), but also wakes when one of the caller's fds is
 * ready (fds[i].events as for poll(); revents is set).  Returns 1 (event),
 * 0 (timeout or some fd ready: check revents) or -1.  Events already
 * buffered are returned first without waiting.
 */
int dk_events_poll(struct dk_events *ev, int timeout_ms, struct pollfd *fds, size_t nfds,
		   struct dk_event *ret_event, struct rc_err *err);
void dk_events_close(struct dk_events *ev);

/* ---- decoding and encoding without an engine (unit tests and fuzzing) ---- */

/*
 * Is a complete error reply (HTTP status http, not 2xx/304) a fault of the
 * engine rather than its answer?  json_message: the body was Docker's
 * {"message": ...} object; message: that message (or the raw text).
 */
bool dk_error_reply_is_fault(long http, bool json_message, const char *message);

/*
 * Decode the bodies the engine sends, exactly as the calls above do after a
 * 2xx reply: a container list, one inspect, a network list, one events line.
 * Return -1 (err filled) when the JSON is not of the expected shape.
 */
int dk_decode_container_list(const char *json, size_t len, struct dk_container_list **ret, struct rc_err *err);
int dk_decode_container(const char *json, size_t len, struct dk_container **ret, struct rc_err *err);
int dk_decode_network_list(const char *json, size_t len, struct dk_network_list **ret, struct rc_err *err);
int dk_decode_event(const char *line, size_t len, struct dk_event *ret, struct rc_err *err);
/* The ids of a container list, as dk_container_ids() reads them. */
int dk_decode_container_ids(const char *json, size_t len, char ***ret_ids, size_t *ret_n, struct rc_err *err);
/* The request bodies dk_container_create() and dk_container_update() send (malloc'ed JSON). */
char *dk_create_body(const struct dk_create_spec *s);
char *dk_update_body(const struct dk_resources *r);
/* One image inspect (GET /images/{ref}/json), as dk_image_inspect() decodes it; -1 without an Id. */
int dk_decode_image(const char *json, size_t len, struct dk_image **ret, struct rc_err *err);

#endif
