/*
 * planfile.h — the reviewed-plan file written by `plan --out FILE` and
 * checked by `apply --plan FILE`: the commit the plan was computed for and a
 * digest of the observed state it was computed from (observe_digest()),
 * wrapped around the plan's JSON rendering (spec/plan-json.md).
 *
 * Owns: the file format (documented in spec/plan-json.md, "Plan files").
 */
#ifndef RC_PLANFILE_H
#define RC_PLANFILE_H

#include "util.h"

struct planfile {
	char *commit;            /* NULL for --dir */
	char *observed_digest;
	char *plan_digest;       /* planfile_plan_digest() of its "plan" */
};
/*
 * A digest of a plan's JSON rendering that ignores its layout (XXH3-128 hex of
 * cJSON's unformatted print of it): `apply --plan` compares the plan it would
 * run with the one reviewed.  ret must hold RC_HASH_HEX_LEN + 1 bytes; "" when
 * plan_json does not parse.
 */
void planfile_plan_digest(const char *plan_json, char *ret);

/* Write the wrapper around plan_json (a complete JSON document) to path, atomically. */
int planfile_write(const char *path, const char *commit, const char *observed_digest, const char *plan_json,
		   struct rc_err *err);
/* Read a plan file; *ret filled on success (release with planfile_release). */
int planfile_read(const char *path, struct planfile *ret, struct rc_err *err);
void planfile_release(struct planfile *p);

#endif
