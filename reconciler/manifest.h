/*
 * manifest.h — the manifest format: YAML documents with a `kind:` (Settings,
 * Plan, Network, Service, Template, Customer), parsed, validated and expanded
 * into the desired state (unit.h).  The format is documented in spec/.
 *
 * Owns: the only use of yaml.h; the diagnostics list.
 *
 * Every problem found is reported as one diagnostic with file:line:col; a
 * load with any diagnostic yields no desired state.
 */
#ifndef RC_MANIFEST_H
#define RC_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "source.h"
#include "unit.h"

/* Input limits: exceeding one is a diagnostic, never a crash. */
#define RC_MANIFEST_MAX_DOCS 20000      /* documents per file */
#define RC_MANIFEST_MAX_DEPTH 32        /* nesting depth */
#define RC_MANIFEST_MAX_STRING 65536    /* bytes per scalar */
#define RC_MANIFEST_MAX_DIAGS 1000      /* diagnostics kept; the rest are counted */
/* What a set of manifests may expand to (customers multiply templates): */
#define RC_MANIFEST_MAX_UNITS 50000     /* units (containers) */
#define RC_MANIFEST_MAX_VALUES 1000000  /* env, labels, ports, mounts, networks, ... of every unit */

struct rc_diag {
	char *file;           /* path relative to the repo root; NULL for global problems */
	int line;             /* 1-based; 0 if unknown */
	int col;              /* 1-based; 0 if unknown */
	char *msg;
};

struct rc_diags {
	struct rc_diag *v;
	size_t n;
	size_t cap;
	size_t dropped;       /* problems past RC_MANIFEST_MAX_DIAGS, counted only */
};

/* Add a diagnostic (printf-style message). */
void rc_diags_add(struct rc_diags *d, const char *file, int line, int col, const char *fmt, ...)
	RC_PRINTF(5, 6);
/*
 * Sort by file, line, col (global problems, file NULL, last); format each as
 * "file:line:col: msg\n" (or "msg\n" without a file) into out, then
 * "... and N more problems\n" if some were dropped.
 */
struct buf;
void rc_diags_sort(struct rc_diags *d);
void rc_diags_format(const struct rc_diags *d, struct buf *out);
void rc_diags_release(struct rc_diags *d);

struct manifest_opts {
	const char *secrets_dir;  /* where secret files live (state dir's secrets/); NULL: do not read secrets */
	/* why secrets_dir must not be read (state_check_secrets() refused it, or its parent): each
	 * secret referenced is then an error saying so; NULL: it may be read */
	const char *secrets_dir_refused;
	/* make the generated per-customer secrets that do not exist yet (plan, apply, the daemon);
	 * false: such a secret is digested as empty (validate, render, diff) */
	bool generate_secrets;
	/* the host's policy file (path and content; hostpolicy_read()): the ceiling of the
	 * repository's Settings policy; NULL: none */
	const struct source_file *host_policy;
	/*
	 * A service's `build:` (spec/manifest.md, "Building images"): check that context (a
	 * directory relative to the repository root, normalised) holds dockerfile at the commit
	 * being loaded and write the context's 40-hex tree id to ret (source_build_tree()); -1
	 * with err saying what is wrong.  NULL: the manifests come from no commit (--dir), and
	 * `build:` is an error.
	 */
	int (*build_tree)(void *ctx, const char *context, const char *dockerfile, char ret[41],
			  struct rc_err *err);
	void *build_ctx;
};

/*
 * Parse, validate and expand.  On success (*ret set, return 0) every unit
 * has its hash and base_hash filled (spec_hash_units()).  On failure
 * returns -1, *ret untouched, diags holds every problem found.
 */
int manifest_load(const struct source_files *files, const struct manifest_opts *opts,
		  struct rc_desired **ret, struct rc_diags *diags);

/*
 * Whether every secret file d's units use still has the digest it had when
 * d was loaded (a secret rotated since changes the desired specs: loading
 * again would give other hashes).  False names the first one that differs
 * or cannot be read in *ret_name (borrowed from d); each is read as the
 * loader reads it (open_private(): one that became a symbolic link, a FIFO
 * or another uid's file cannot be read).  d loaded without a secrets
 * directory: true.
 */
bool manifest_secrets_current(const struct rc_desired *d, const char **ret_name);

#endif
