/*
 * state_int.h — private to the state module (state.c and state_*.c): the
 * in-memory state and the helpers its files share.  Nobody else includes
 * it (make check-layers says so).
 *
 * The files of the module:
 *   state.c            open, lock (and who holds it), the directory checks, the .json
 *                      documents (version, checksum, load, set aside, save), warnings
 *   state_alloc.c      allocations.json: the table (alloc.h) in and out, state_allocate()
 *   state_applied.c    applied.json: last applied / good commit, project, path, containers,
 *                      failed commits
 *   state_units.c      units.json: restart counters, disabled units, changes awaiting
 *                      approval, in-place updates
 *   state_manifests.c  manifests.json: the copy of one commit's manifests
 *   state_journal.c    journal.jsonl: append, rotate, read back
 *   state_builds.c     builds/: the output of image builds, per commit and unit
 *
 * cJSON stays inside these files: the helpers below take struct cJSON
 * without including its header.
 */
#ifndef RC_STATE_INT_H
#define RC_STATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "hash.h"
#include "state.h"
#include "util.h"

/* The .json documents, each loaded and saved whole. */
enum { F_ALLOC, F_APPLIED, F_UNITS, F_N };

struct restarts {
	char *unit;
	struct state_restarts r;
};

struct disabled {
	char *unit;
	int64_t time;
	char *reason;
	char *hash;       /* the unit's spec hash when it was disabled; NULL: not known */
};

struct sleeping {
	char *unit;
	int64_t since;    /* Unix seconds it was put to sleep */
};

struct health {
	char *unit;
	struct state_health h;
	char *result;
};

struct inplace {
	char *id;
	char *hash;
	char *resources;
};

struct rc_state {
	char *dir;
	char *secrets;
	int lock_fd;
	bool dirty[F_N];
	char **warnings;
	size_t nwarnings, cwarnings;
	size_t journal_max;
	int journal_keep;

	/* allocations.json */
	struct alloc_table *alloc;
	/* applied.json */
	char *last_applied;
	char *last_good;
	char *project;  /* of the last apply */
	char *path;     /* its --path */
	char **containers;  /* the container names of the last apply's units */
	size_t ncontainers;
	char **unit_ids;    /* their unit ids (shell completion) */
	size_t nunit_ids;
	char *rolled_back_from;  /* the failed commit whose removals the last applied one keeps */
	struct state_failed_commit *failed;
	size_t nfailed, cfailed;
	/* units.json */
	struct restarts *restarts;
	size_t nrestarts, crestarts;
	struct disabled *disabled;
	size_t ndisabled, cdisabled;
	struct sleeping *sleeping;
	size_t nsleeping, csleeping;
	struct health *health;
	size_t nhealth, chealth;
	struct state_awaiting *awaiting;
	size_t nawaiting, cawaiting;
	struct inplace *inplace;
	size_t ninplace, cinplace;
};

/* Free a string we own but expose through a const pointer. */
static inline void free_const(const char *p)
{
	free((void *)(uintptr_t)p);
}

static inline char *xstrdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* ---- per document (state_alloc.c, state_applied.c, state_units.c) ---- */

struct cJSON;
/* Forget what the document holds in memory. */
void state_alloc_clear(struct rc_state *st);
void state_applied_clear(struct rc_state *st);
void state_units_clear(struct rc_state *st);
/* The "data" object of the document. */
struct cJSON *state_alloc_emit(const struct rc_state *st);
struct cJSON *state_applied_emit(const struct rc_state *st);
struct cJSON *state_units_emit(const struct rc_state *st);
/* Load the "data" object into memory (cleared first by the caller); -1 on a wrong shape. */
int state_alloc_parse(struct rc_state *st, const struct cJSON *data);
int state_applied_parse(struct rc_state *st, const struct cJSON *data);
int state_units_parse(struct rc_state *st, const struct cJSON *data);

/* ---- shared by the files (state.c) ---- */

/* A warning for state_warnings(); takes msg. */
void state_add_warning(struct rc_state *st, char *msg);
/* Move a damaged file aside to PATH.corrupt.<unix-time>[.N]; *ret_aside (malloc'ed) names where. */
int state_set_aside(const char *path, char **ret_aside, struct rc_err *err);
/* The checksum of a document's "data": rc_hash128_hex() of its compact JSON text. */
void state_checksum(const struct cJSON *data, char out[RC_HASH_HEX_LEN + 1]);

/* JSON helpers: constructors die when out of memory (a NULL string is written as null). */
struct cJSON *sj_obj(void);
struct cJSON *sj_arr(void);
void sj_put_str(struct cJSON *o, const char *k, const char *v);
void sj_put_num(struct cJSON *o, const char *k, double v);
void sj_put_bool(struct cJSON *o, const char *k, bool v);
/* Typed getters for loading: -1 on a wrong shape.  nullable: missing or null gives NULL. */
int sj_get_str(const struct cJSON *o, const char *k, bool nullable, const char **ret);
int sj_get_int(const struct cJSON *o, const char *k, int64_t lo, int64_t hi, int64_t *ret);
int sj_get_bool(const struct cJSON *o, const char *k, bool *ret);
/* The array o[k], or NULL when it is not one. */
const struct cJSON *sj_get_arr(const struct cJSON *o, const char *k);

/* Times and counters in the files: what a JSON number holds exactly. */
#define SJ_INT53 ((int64_t)1 << 53)

#endif
