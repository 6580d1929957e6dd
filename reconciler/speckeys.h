/*
 * speckeys.h — the table of spec keys: one row per container field that is
 * driven by the table rather than written out by hand in each module.
 *
 * Owns: for every row, the manifest key and where it may be written (a
 * service, a Plan, Settings.defaults), the canonical key and its value form,
 * the grammar the loader checks it with (and its allow-lists), where the
 * engine keeps it (one path serves the create body, the inspect read-back and
 * `docker update`), how drift reads it back, how reports show it, whether
 * `docker update` changes it in place, whether it is secret, which policy
 * gates or requirements name it, and whether a Swarm service can set it
 * (engine: swarm).  Also the value every unit, container inspect and image
 * config carries for a row (struct sk_value, indexed by enum sk_id) and the
 * pure operations on it: canonical lines, copy, release.
 *
 * Pure: no I/O and no third-party header.  Its users: the loader (manifest_fields.c: parsing,
 * defaults, policy.require), spec.c (canonical text, resource keys), actual.c
 * (drift read-back), docker_fields.c (create body, inspect decode, update body),
 * apply_rollout.c (what cannot be undone in place), report.c (humanized values,
 * secrets).  The recipe for adding a compose-style key is in
 * docs/architecture.md ("Adding a compose-style key").
 *
 * Fields not in the table (image, command, env, ports, mounts, health, ...)
 * are still written out in each module.
 */
#ifndef RC_SPECKEYS_H
#define RC_SPECKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One row per field; the order is the table's (speckeys.c), nothing else depends on it. */
enum sk_id {
	SK_USER = 0,
	SK_WORKDIR,
	SK_STOP_SIGNAL,
	SK_PRIVILEGED,
	SK_INIT,
	SK_READ_ONLY,
	SK_CAP_DROP,
	SK_SECURITY_OPT,
	SK_SHM_SIZE,
	SK_LOGGING,
	SK_CPU_SHARES,
	SK_ULIMITS,
	SK__COUNT
};

/* How the value is kept and written in the canonical text (spec.h). */
enum sk_type {
	SKT_BOOL,     /* "KEY=true" when true; false is absent */
	SKT_INT,      /* "KEY=N" when not 0 (sizes in bytes) */
	SKT_STRING,   /* "KEY=TEXT" when set (even "") */
	SKT_SET,      /* "KEY.ITEM=true" per item */
	SKT_MAP,      /* "KEY.SUB=VALUE" per entry */
};

/* What the loader accepts (manifest_fields.c implements each; messages name the manifest key). */
enum sk_grammar {
	SKG_BOOL,     /* true / false, unquoted */
	SKG_STRING,   /* any scalar but null */
	SKG_PATH,     /* a clean absolute path */
	SKG_SIGNAL,   /* SIGxxx of the engine's table, or 1-64 */
	SKG_INT,      /* a whole number from min to max */
	SKG_SIZE,     /* a size (bytes, k/m/g/t), at least min */
	SKG_CAPS,     /* a list of capabilities, one canonical name each (like cap_add) */
	SKG_CHOICES,  /* a list of allow-listed strings (choices; aliases allowed) */
	SKG_CHOICE,   /* one allow-listed string (a sub-key of SKG_MAPPING) */
	SKG_MAPPING,  /* a mapping of the sub-keys in subs (one level of nesting: "options.max-size") */
	SKG_ULIMITS,  /* NAME: N or NAME: {soft: N, hard: N}; names from choices */
};

/* Where the engine keeps it: the JSON shape at row.engine. */
enum sk_codec {
	SKE_BOOL,       /* true/false */
	SKE_INT,        /* a number */
	SKE_STRING,     /* a string ("" is none) */
	SKE_STRLIST,    /* an array of strings: the set's items */
	SKE_LOGCONFIG,  /* {"Type": driver, "Config": {option: "value"}}: the map's driver and options.* */
	SKE_ULIMITS,    /* [{"Name", "Soft", "Hard"}]: the map's NAME = "SOFT:HARD" */
};

/* When drift reads the field back from an inspect (actual.h). */
enum sk_readback {
	SKR_NONZERO,   /* whenever the engine holds a value that is not zero / empty */
	SKR_IMAGE,     /* when expected, or when it is not the image's own (Config.* the image supplies) */
	SKR_EXPECTED,  /* only when the expected text has the key (the engine fills in its own default) */
};

/* How reports show a value (report.c). */
enum sk_human { SKH_TEXT = 0, SKH_SIZE };

/* A policy that must allow a true value (Settings policy.*). */
enum sk_gate { SK_GATE_NONE = 0, SK_GATE_PRIVILEGED };

/* Where the manifest key may be written (bits). */
#define SK_IN_SERVICE  1u   /* a Service or a template service */
#define SK_IN_PLAN     2u   /* a Plan */
#define SK_IN_DEFAULTS 4u   /* Settings.defaults: for units that do not set it */

/* An allow-listed value as written and its canonical form (aliases share one). */
struct sk_choice {
	const char *written;
	const char *canonical;
};

/* A sub-key of an SKG_MAPPING row: "driver", "options.max-size". */
struct sk_sub {
	const char *key;
	enum sk_grammar grammar;     /* SKG_CHOICE, SKG_SIZE, SKG_INT */
	int64_t min, max;
	const struct sk_choice *choices;  /* SKG_CHOICE; {NULL} ends */
	const char *choices_hint;    /* "json-file or local" */
	bool required;
};

struct sk_row {
	enum sk_id id;
	const char *key;             /* manifest key: "working_dir" */
	const char *ckey;            /* canonical key (the prefix of a set's or map's lines): "workdir" */
	unsigned where;              /* SK_IN_* bits */
	enum sk_type type;
	enum sk_grammar grammar;
	int64_t min, max;            /* SKG_INT, SKG_SIZE (min) */
	const struct sk_choice *choices;  /* SKG_CHOICES, SKG_ULIMITS; {NULL} ends */
	const char *choices_hint;    /* the allowed values, for messages */
	const struct sk_sub *subs;   /* SKG_MAPPING; {NULL} ends */
	const char *example;         /* the right shape, for messages: "{soft: 1024, hard: 2048}" */
	const char *engine;          /* "Config.User", "HostConfig.Init": create body, inspect, update */
	enum sk_codec codec;
	enum sk_readback readback;
	bool in_place;               /* `docker update` changes it: a resource (not in base_hash) */
	bool clear_recreates;        /* in place, but going back to unset cannot be (the engine takes 0 as
	                                "unchanged"): a replacement */
	bool secret;                 /* reports name it, never show its value */
	enum sk_gate gate;
	bool swarm;                  /* a Swarm service can set it too (engine: swarm, docker_swarm.h's
	                                dk_service_spec); the loader refuses the other rows there */
};

/* A value of a row.  Owned by whoever holds it; release with sk_value_release(). */
struct sk_pair {
	char *key;
	char *value;
};
struct sk_value {
	bool set;                    /* written (manifest) / present (engine) */
	int64_t num;                 /* SKT_BOOL (0/1), SKT_INT */
	char *str;                   /* SKT_STRING */
	struct sk_pair *kv;          /* SKT_SET (value "true") / SKT_MAP, sorted by key, keys unique */
	size_t nkv;
};

/* The row of id; every id has one. */
const struct sk_row *sk_row(enum sk_id id);

/* ---- values ---- */

void sk_value_release(struct sk_value *v);
void sk_values_release(struct sk_value v[SK__COUNT]);
void sk_value_copy(struct sk_value *dst, const struct sk_value *src);
/* Add (or replace) key's value; the pairs stay sorted. */
void sk_value_put(struct sk_value *v, const char *key, const char *value);
const char *sk_value_get(const struct sk_value *v, const char *key);
/* Not the zero value: what the canonical text would show a line for. */
bool sk_value_nonzero(const struct sk_row *r, const struct sk_value *v);

/* ---- canonical text ---- */

/* Call emit(ctx, key, value) for each canonical line of the rows' values (unescaped; any order). */
void sk_canonical(const struct sk_value v[SK__COUNT], void (*emit)(void *ctx, const char *key, const char *value),
		  void *ctx);
/* The row a canonical key belongs to ("cap_drop.NET_RAW" -> cap_drop), or NULL. */
const struct sk_row *sk_row_of_ckey(const char *ckey);
/* Per canonical key: changed in place / going back to unset needs a replacement / secret / shown how. */
bool sk_ckey_in_place(const char *ckey);
bool sk_ckey_clear_recreates(const char *ckey);
bool sk_ckey_secret(const char *ckey);
enum sk_human sk_ckey_human(const char *ckey);

/* ---- grammar helpers ---- */

/* The canonical form of an allow-listed value as written, or NULL. */
const char *sk_choice(const struct sk_choice *choices, const char *written);
/* The written forms of choices, for "did you mean" (a static NULL-terminated list). */
size_t sk_choice_count(const struct sk_choice *choices);

/* ---- engine ---- */

/* A list item as the engine reports it, in canonical form (e.g. "CAP_NET_RAW" -> "NET_RAW"); malloc'ed. */
char *sk_engine_item(const struct sk_row *r, const char *raw);

/* ---- policy.require ---- */

struct sk_requirement {
	const char *name;            /* in policy.require: "no_new_privileges" */
	enum sk_id id;
	const char *ckey;            /* the canonical line that must be there: "security_opt.no-new-privileges" */
	const char *how;             /* for the message: "security_opt: [no-new-privileges]" */
};
/* The requirement of that name, or NULL; sk_requirements() lists them (n in *ret_n). */
const struct sk_requirement *sk_requirement(const char *name);
const struct sk_requirement *sk_requirements(size_t *ret_n);
/* Does v (the row's effective value; NULL: none) satisfy req? */
bool sk_requirement_met(const struct sk_requirement *req, const struct sk_value *v);

#endif
