/*
 * manifest_int.h — the manifest loader's private header, shared by its files
 * (manifest.c and manifest_*.c; nothing else includes it): the loader's
 * constants, the YAML tree (struct ynode and its accessors), the load context
 * (struct ctx), the model pass 2 builds and pass 3 reads (struct model, the
 * o* objects), pass 3's state (struct pass3), and the functions one of these
 * files defines for another, all named mf_* (tests/lib/rename-manifest-helpers.sed
 * gave them the prefix; a helper static to one file keeps a plain name).  The
 * public interface is manifest.h.
 */
#ifndef RC_MANIFEST_INT_H
#define RC_MANIFEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cidr.h"
#include "hash.h"
#include "manifest.h"
#include "seckey.h"
#include "speckeys.h"
#include "util.h"

#define NAME_MAX_LEN 63
#define CONTAINER_NAME_MAX 128
#define SECRET_MAX_SIZE (1u << 20)
#define DEFAULT_PROJECT "reconciler"
#define DEFAULT_STOP_GRACE_NS (10 * NS_PER_S)
#define DEFAULT_RESTART_POLICY "unless-stopped"
#define DEFAULT_BACKOFF_NS (10 * NS_PER_S)
#define DEFAULT_MAX_BACKOFF_NS (300 * NS_PER_S)
#define DEFAULT_SUBNET_POOL "10.210.0.0/16"
#define DEFAULT_SUBNET_PREFIX 26
#define HEALTH_DEFAULT_INTERVAL_NS (30 * NS_PER_S)
#define HEALTH_DEFAULT_TIMEOUT_NS (30 * NS_PER_S)
#define HEALTH_DEFAULT_RETRIES 3

/* ------------------------------------------------------------------ */
/* the YAML tree                                                       */

enum ykind { Y_SCALAR, Y_MAP, Y_SEQ };

struct ynode {
	enum ykind kind;
	bool plain;              /* scalar written without quotes */
	int line, col;
	const char *file;
	char *str;               /* scalar text (NUL-terminated) */
	size_t len;
	struct ynode **kids;     /* seq: items; map: key, value, key, value, ... */
	size_t n, cap;
};

static inline bool y_is_null(const struct ynode *y)
{
	if (!y)
		return true;
	if (y->kind != Y_SCALAR || !y->plain)
		return false;
	return y->len == 0 || strcmp(y->str, "~") == 0 || strcmp(y->str, "null") == 0 ||
	       strcmp(y->str, "Null") == 0 || strcmp(y->str, "NULL") == 0;
}

static inline size_t y_npairs(const struct ynode *m)
{
	return m->kind == Y_MAP ? m->n / 2 : 0;
}
static inline const struct ynode *y_key(const struct ynode *m, size_t i) { return m->kids[2 * i]; }
static inline const struct ynode *y_val(const struct ynode *m, size_t i) { return m->kids[2 * i + 1]; }

static inline const struct ynode *y_get(const struct ynode *m, const char *key)
{
	if (!m || m->kind != Y_MAP)
		return NULL;
	for (size_t i = 0; i < y_npairs(m); i++)
		if (strcmp(y_key(m, i)->str, key) == 0)
			return y_val(m, i);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* load context                                                        */

struct doc {
	struct ynode *root;
};

struct ctx {
	struct rc_diags *d;
	const struct manifest_opts *opts;
	struct doc *docs;
	size_t ndocs, capdocs;
	char **owned;            /* strings made during checking, freed at the end */
	size_t nowned, capowned;
	bool broken;             /* a problem that makes cross-document checks unreliable */
	size_t suggest_cells;    /* edit-distance work spent on "did you mean" (mf_suggest()) */
	size_t host_docs;        /* docs[0..host_docs) are the host policy file's (mf_load_host_policy()) */
	bool state_dir_known;    /* state_dir_paths() ran: its answers, once per load */
	const char *state_dir_abs, *state_dir_real;
	struct model *m;
};

/* ------------------------------------------------------------------ */
/* pass 2: documents → objects                                         */

struct okv {
	const char *key, *value;
	const struct ynode *at;
};
struct kvs {
	struct okv *v;
	size_t n, cap;
};
struct oref {
	const char *name;
	const struct ynode *at;
};
struct refs {
	struct oref *v;
	size_t n, cap;
};
struct odep {
	const char *name;
	enum rc_dep_cond cond;
	bool restart;  /* restart: true */
	const struct ynode *at;
};
struct ovol {
	enum rc_mount_kind kind;
	const char *src, *target;   /* a named volume's src is a Volume's name when one is declared (kind: Volume) */
	bool ro;
	const struct ynode *at;
};
struct oport {
	uint16_t host, cont;
	const char *ip, *proto;
	const struct ynode *at;
};

/*
 * The Swarm keys as written in a Plan, a Customer (placement only) or a service
 * (manifest_swarm.c).  A key's node is NULL when it is not written; the values are
 * checked (a wrong one is said and left unset).
 */
struct oswarm {
	const struct ynode *replicas_at, *placement_at, *rollout_at, *publish_at;
	int64_t replicas;                /* 1..SWARM_MAX_REPLICAS */
	struct refs constraints;         /* placement.constraints, as written (each checked) */
	struct refs spread;              /* placement.spread */
	bool has_spread;                 /* placement.spread written (even []) */
	int64_t parallelism, delay, monitor;      /* rollout.* */
	bool has_parallelism, has_delay, has_monitor;
	const char *publish;             /* "ingress" or "host" */
};

struct osvc {
	const struct ynode *at;          /* the mapping */
	const struct ynode *name_at;
	const char *name;
	const char *tmpl;                /* NULL: a shared Service */
	const char *image;
	/* build: (parse_build()); build_at NULL: none, or broken */
	const struct ynode *build_at;
	const char *build_context, *build_dockerfile, *build_target;   /* context normalised */
	struct kvs build_args;
	char build_tree[41];             /* the context's tree id ("" when it could not be resolved) */
	char **command, **entrypoint;    /* ctx-owned strings; arrays owned here */
	size_t ncommand, nentrypoint;
	bool start_first;                /* update_order: start-first */
	enum rc_pull pull;               /* pull: missing (default) | always | never */
	bool run_once;                   /* run: once (a one-shot job) */
	const struct ynode *run_at;
	int64_t run_timeout;             /* run_timeout: how long apply waits for the job (0: default) */
	struct kvs env, labels;
	bool has_port;
	uint16_t port;
	const struct ynode *port_at;
	struct oport *ports;
	size_t nports, capports;
	struct ovol *vols;
	size_t nvols, capvols;
	struct refs secrets, networks;
	struct odep *deps;
	size_t ndeps, capdeps;
	struct rc_health health;         /* strings point into the tree */
	const struct ynode *health_at;
	int64_t stop_grace;
	bool has_stop_grace;
	const char *plan;
	const struct ynode *plan_at;
	bool protected_, stopped;
	bool pid_host, ipc_host;
	struct refs cap_add, devices;    /* cap names (ctx-owned, normalized), device specs */
	struct sk_value fields[SK__COUNT];   /* the spec-key table's service rows (speckeys.h), as written */
	struct oswarm sw;                /* replicas, placement, rollout, publish (engine: swarm) */
	uint32_t *net_ids;               /* its networks as sorted indexes into the model's (mf_net_ids()) */
	size_t nnet_ids;
	struct strmap *targets, *secret_targets;   /* mount targets taken (add_vol()) */
};

struct oplan {
	const struct ynode *at;
	const char *name;
	int64_t cpus, memory, memory_reservation, pids;
	const char *restart_policy;
	int64_t max_retries, backoff, max_backoff, max_failures;
	bool has_backoff, has_max_backoff;
	int64_t idle_after;              /* idle: {after}: 0 none */
	struct sk_value fields[SK__COUNT];   /* the spec-key table's Plan rows (cpu_shares, ...) */
	struct oswarm sw;                /* replicas, placement, rollout, publish (engine: swarm) */
};

struct onet {
	const struct ynode *at;
	const char *name;
	bool internal;
	const char *subnet;
	struct cidr cidr;
	const struct ynode *subnet_at;
};

/* kind: Volume — a named volume made outside reconciler (external: true) that shared services may mount. */
struct oxvol {
	const struct ynode *at;
	const char *name;         /* the name services use in `volumes:` */
	const char *docker_name;  /* the engine's name of it (default: name) */
	const struct ynode *docker_name_at;
};

/* A Template's or Customer's `secrets:` entry: the secret is the customer's own (custsecret.h). */
struct osecdecl {
	const char *name;
	const struct ynode *at;
	int gen_bytes;            /* generate: {bytes}; 0: a file the operator provides */
	bool gen_base64;          /* generate: {encoding: base64} (default hex) */
};
struct osecdecls {
	struct osecdecl *v;
	size_t n;
};

struct otmpl {
	const struct ynode *at;
	const char *name;
	struct osecdecls secrets;
	const char *plan;
	const struct ynode *plan_at;
	struct osvc *svcs;
	size_t nsvcs;
	struct strmap *svc_by;           /* service name -> its osvc */
	const struct osvc *port_svc;     /* the service with 'port', if any */
};

struct over {
	const char *name;
	const struct ynode *at;
	const char *image;
	struct kvs env;
};

struct ocust {
	const struct ynode *at;
	const char *id;
	struct osecdecls secrets;
	const char *tmpl;
	const struct ynode *tmpl_at;
	const char *plan;
	const struct ynode *plan_at;
	bool has_port, port_auto;
	uint16_t port;
	const struct ynode *port_at;
	struct kvs env;
	struct over *over;
	size_t nover;
	struct strmap *over_by;          /* service name -> its override */
	bool stopped, protected_;
	bool has_idle;                   /* idle: given (overrides the plan's; {after: 0} turns it off) */
	int64_t idle_after;
	struct oswarm sw;                /* placement (engine: swarm) */
};

/*
 * policy.bind_roots as a tree of path components, so that "does a root hold
 * this path" is one lookup per component of the path, not a comparison with
 * every root: edges are "<node>/<component>" -> child node + 1, node 0 is
 * "/", and the nodes that are a root are marked.
 */
struct roots {
	struct strmap *edges;
	bool *is_root;
	size_t n, cap;
};

struct osettings {
	const struct ynode *at;
	const char *project;
	enum rc_engine engine;           /* engine: containers (default) | swarm */
	const struct ynode *engine_at;   /* NULL: not written */
	bool engine_unknown;             /* written, but neither: no engine check (mf_swarm_check()) */
	bool shared_bridges;             /* tenant_isolation: false — customers join shared networks themselves */
	uint16_t port_lo, port_hi;
	const struct ynode *range_at;
	struct cidr pool;
	const char *pool_str;
	const struct ynode *pool_at;
	int prefix;
	int64_t stop_grace;
	const char *default_plan;
	const struct ynode *default_plan_at;
	bool allow_privileged, allow_host_namespaces;
	struct refs allow_cap_add, allow_devices, bind_roots;
	struct refs allow_external_volumes;   /* policy.allow_external_volumes: Docker names (kind: Volume) */
	struct sk_value defaults[SK__COUNT];  /* defaults.<key> of the spec-key table's rows (SK_IN_DEFAULTS) */
	struct oswarm defaults_sw;       /* defaults.rollout (engine: swarm) */
	const struct sk_requirement **require;  /* policy.require */
	size_t nrequire;
	struct roots *root_tree;         /* bind_roots for lookups (mf_roots_hold()) */
	struct refs notify_urls, notify_events;  /* notify.webhooks, notify.events */
	bool notify_events_set;
};

/*
 * The host's policy file (manifest_opts.host_policy): the ceiling of what the
 * repository's Settings policy may allow.  A key it leaves out allows nothing.
 */
struct ohostpol {
	bool present;
	const char *file;                /* its path, for messages */
	bool allow_privileged, allow_host_namespaces;
	bool allow_shared_bridges;       /* the repository may say tenant_isolation: false */
	struct refs allow_cap_add, allow_devices, bind_roots;
	struct refs allow_external_volumes;     /* Docker names of volumes made outside reconciler (kind: Volume) */
	struct cidr *subnet_pools;              /* subnet_pools: where subnets.pool and Network subnets must lie */
	size_t nsubnet_pools;
	bool has_subnet_pools;                  /* the key was given (absent: no cap) */
	const struct sk_requirement **require;  /* what every service must set, whatever the repository says */
	size_t nrequire;
};

struct model {
	struct osettings set;
	struct ohostpol host;
	/* name -> first object of that name, built at the start of pass 3 (model_index()) */
	struct strmap *plan_by, *net_by, *svc_by, *tmpl_by, *xvol_by;
	bool have_settings;
	struct oplan *plans;
	size_t nplans, capplans;
	struct onet *nets;
	size_t nnets, capnets;
	struct oxvol *xvols;
	size_t nxvols, capxvols;
	struct osvc *svcs;
	size_t nsvcs, capsvcs;
	struct otmpl *tmpls;
	size_t ntmpls, captmpls;
	struct ocust *custs;
	size_t ncusts, capcusts;
};

/* Keys of a service that are not the table's (mf_check_keys adds those: mf_keys_with_fields()). */
#define SVC_KEYS "image", "command", "entrypoint", "env", "labels", "ports", \
	"volumes", "tmpfs", "secrets", "networks", "health", "depends_on", "stop_grace_period", \
	"plan", "cap_add", "devices", "pid", "ipc", "network_mode", "update_order", "run", "run_timeout", "pull", \
	"build", SWARM_SVC_KEYS
/* The Swarm keys (manifest_swarm.c): a service's, a Plan's, a Customer's, Settings.defaults'. */
#define SWARM_SVC_KEYS "replicas", "placement", "rollout", "publish"
#define SWARM_PLAN_KEYS SWARM_SVC_KEYS
#define SWARM_CUST_KEYS "placement"
#define SWARM_DEFAULTS_KEYS "rollout"
/* What mf_parse_swarm() may read (bits). */
#define SWARM_REPLICAS  1u
#define SWARM_PLACEMENT 2u
#define SWARM_ROLLOUT   4u
#define SWARM_PUBLISH   8u
#define SWARM_MAX_REPLICAS 1000
#define SWARM_MAX_CONSTRAINTS 32
#define SWARM_MAX_SPREAD 8
#define SWARM_DEFAULT_PARALLELISM 1
#define SWARM_DEFAULT_MONITOR_NS (5 * NS_PER_S)

struct named {
	const char *name;
	const struct ynode *at;
};

/* Candidate names for "did you mean" (pointers into the model). */
struct names {
	const char **v;
	size_t n, cap;
};

struct secret_entry {
	const char *name;
	const char *customer;     /* a customer's own secret (custsecret.h); NULL: the global one */
	char *key;                /* its key in pass3.secret_by when it is a customer's: "customer/name" */
	char *path;
	char digest[RC_HASH_HEX_LEN + 1];
	bool ok;
};

struct pass3 {
	struct names plan_names, net_names, svc_names, tmpl_names;
	struct secret_entry *secrets;
	size_t nsecrets, capsecrets;
	unsigned char key[RC_SECKEY_LEN];  /* secret digests are keyed with it (seckey.h) */
	int key_state;                     /* 0: not read yet, 1: read, -1: unusable (said once) */
	struct strmap *secret_by;        /* name -> index in secrets, plus 1 */
};

/* manifest_yaml.c */
void mf_ynode_free(struct ynode *y);
void mf_parse_file(struct ctx *c, const struct source_file *f);

/* manifest_diag.c */
char *mf_keep(struct ctx *c, char *s);
RC_PRINTF(3, 4)
void mf_diag(struct ctx *c, const struct ynode *at, const char *fmt, ...);
const char *mf_shown(struct ctx *c, const char *s);
bool mf_diag_room(const struct ctx *c);
const char *mf_suggest(struct ctx *c, const char *word, const char *const *cands, size_t n);
const char *mf_mean(struct ctx *c, const char *word, const char *const *cands, size_t n);
size_t mf_count_keys(const char *const *keys);
void mf_check_keys(struct ctx *c, const struct ynode *m, const char *const *allowed, const char *what);

/* manifest_values.c */
bool mf_valid_name(const char *s);
const char *mf_as_str(struct ctx *c, const struct ynode *y, const char *key);
const char *mf_get_str(struct ctx *c, const struct ynode *m, const char *key);
const char *mf_get_name(struct ctx *c, const struct ynode *m, const char *key, const char *what,
		     bool required);
int mf_get_bool(struct ctx *c, const struct ynode *m, const char *key, bool *ret);
int mf_get_int(struct ctx *c, const struct ynode *m, const char *key, int64_t lo, int64_t hi,
	    int64_t *ret);
int mf_get_duration(struct ctx *c, const struct ynode *m, const char *key, int64_t *ret);
int mf_get_size(struct ctx *c, const struct ynode *m, const char *key, int64_t *ret);
bool mf_parse_cpus(const char *s, int64_t *ret);
bool mf_parse_port(const char *s, uint16_t *ret);
int mf_get_cidr(struct ctx *c, const struct ynode *y, const char *key, struct cidr *ret);
/* A subnet of the repository (subnets.pool, a Network's subnet) checked against the host policy's subnet_pools. */
void mf_host_subnet_check(struct ctx *c, const struct cidr *x, const char *shown_cidr, const struct ynode *at);
bool mf_is_seq(struct ctx *c, const struct ynode *y, const char *key);
bool mf_clean_abs_path(const char *s);
bool mf_path_under(const char *path, const char *root);
void mf_refs_add(struct refs *r, const char *name, const struct ynode *at);
bool mf_refs_has(const struct refs *r, const char *name);
bool mf_hostpol_holds_root(const struct ohostpol *hp, const char *root);
void mf_get_names(struct ctx *c, const struct ynode *m, const char *key, struct refs *out);
void mf_get_strings(struct ctx *c, const struct ynode *m, const char *key, struct refs *out);
bool mf_has_ctl_or_space(const char *s);
void mf_kvs_add(struct kvs *k, const char *key, const char *value, const struct ynode *at);
void mf_get_kvs(struct ctx *c, const struct ynode *m, const char *key, bool labels, struct kvs *out);
void mf_get_argv(struct ctx *c, const struct ynode *m, const char *key, char ***ret, size_t *ret_n);
bool mf_bind_forbidden(const char *path, const char **ret_held);
const char *mf_root_state_overlap(struct ctx *c, const char *root);
void mf_roots_add(struct ctx *c, struct roots *r, const char *root);
bool mf_roots_hold(struct ctx *c, struct roots *r, const char *path);
const char *mf_roots_listed(struct ctx *c, const struct refs *roots);
bool mf_image_ok(const char *s, const char **why);
bool mf_signal_known(const char *name);
const char *mf_signal_mean(struct ctx *c, const char *name);
bool mf_signal_ok(const char *s);
const char *mf_cap_parse(struct ctx *c, const char *raw, const struct ynode *at, const char *key);
bool mf_cap_never(const char *cap);

/* manifest_service.c */
void mf_parse_svc(struct ctx *c, const struct ynode *m, struct osvc *s);

/* manifest_fields.c */
const char *const *mf_keys_with_fields(struct ctx *c, const char *const *base, unsigned where);
void mf_parse_fields(struct ctx *c, const struct ynode *m, unsigned where, struct sk_value v[SK__COUNT]);
const struct sk_value *mf_field_effective(const struct model *m, const struct sk_value *own, int i);

/* manifest_kinds.c */
void mf_model_release(struct model *m);
const struct osecdecl *mf_find_secdecl(const struct osecdecls *ds, const char *name);
void mf_load_host_policy(struct ctx *c, const struct source_file *f);
void mf_parse_docs(struct ctx *c);

/* manifest_swarm.c */
void mf_parse_swarm(struct ctx *c, const struct ynode *m, unsigned what, struct oswarm *ret);
void mf_swarm_release(struct oswarm *w);
void mf_swarm_check(struct ctx *c);
void mf_swarm_unit(const struct model *m, struct rc_unit *u, const struct osvc *s, const struct ocust *cu,
		   const struct oplan *pl);

/* manifest_check.c */
int mf_named_cmp(const void *pa, const void *pb);
const struct oplan *mf_find_plan(const struct model *m, const char *name);
const struct onet *mf_find_net(const struct model *m, const char *name);
const struct oxvol *mf_find_xvol(const struct model *m, const char *name);
const struct otmpl *mf_find_tmpl(const struct model *m, const char *name);
const struct osvc *mf_tmpl_svc(const struct otmpl *t, const char *name);
const uint32_t *mf_net_ids(const struct model *m, const struct osvc *cs, size_t *ret_n);
void mf_pass3_release(struct pass3 *p);
const struct secret_entry *mf_secret_get(struct ctx *c, struct pass3 *p, const char *name,
				      const char *cust, const struct osecdecl *decl, const struct ynode *at);
void mf_cross_check(struct ctx *c, struct pass3 *p);

/* manifest_expand.c */
struct rc_desired *mf_expand(struct ctx *c, struct pass3 *p);

#endif
