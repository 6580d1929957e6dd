/* apply_json.c — apply --json: an apply's steps and outcomes as one document (spec/apply-json.md),
 * written with cJSON (apply.h). */
#include "apply.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static cJSON *str_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static double secs(int64_t ns)
{
	return (double)(ns / 1000000) / 1000.0;  /* to the millisecond */
}

/* "+ alpha/app" -> "+"; "-/+ network acme-alpha" -> "-/+" (the plan's marker, planner.h). */
static cJSON *marker_of(const char *what)
{
	size_t n = strcspn(what, " ");
	char m[8] = "";
	if (n < sizeof m) {
		memcpy(m, what, n);
		m[n] = '\0';
	}
	return cJSON_CreateString(m);
}

static cJSON *step_json(const struct apply_step *st)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "step", cJSON_CreateString(st->what));
	cJSON_AddItemToObject(o, "marker", marker_of(st->what));
	cJSON_AddItemToObject(o, "unit", str_or_null(st->unit));
	cJSON_AddItemToObject(o, "status", cJSON_CreateString(st->engine_fault ? "engine-fault"
							       : apply_status_name(st->status)));
	cJSON_AddItemToObject(o, "message", str_or_null(st->msg));
	cJSON_AddItemToObject(o, "seconds", cJSON_CreateNumber(secs(st->ns)));
	return o;
}

static const char *result_of(const struct apply_result *r, const struct apply_json_info *info)
{
	if (r->nfaults)
		return "engine-fault";
	if (r->nfailed)
		return "failed";
	if (!info->planned)
		return "no-changes";
	return r->nawaiting ? "awaiting-approval" : "ok";
}

void apply_result_json(const struct apply_result *r, const struct apply_json_info *info, struct buf *out)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddItemToObject(doc, "format", cJSON_CreateString("reconciler-apply"));
	cJSON_AddItemToObject(doc, "version", cJSON_CreateNumber(1));
	cJSON_AddItemToObject(doc, "project", str_or_null(info->project));
	cJSON_AddItemToObject(doc, "commit", str_or_null(info->commit));
	cJSON_AddItemToObject(doc, "result", cJSON_CreateString(result_of(r, info)));
	cJSON_AddItemToObject(doc, "exit_code", cJSON_CreateNumber(info->exit_code));
	cJSON_AddItemToObject(doc, "planned", cJSON_CreateNumber((double)info->planned));
	size_t count[4] = { 0 };
	cJSON *steps = cJSON_CreateArray();
	for (size_t i = 0; i < r->nsteps; i++) {
		cJSON_AddItemToArray(steps, step_json(&r->steps[i]));
		count[r->steps[i].status]++;
	}
	cJSON_AddItemToObject(doc, "steps", steps);
	cJSON *sum = cJSON_CreateObject();
	cJSON_AddItemToObject(sum, "ok", cJSON_CreateNumber((double)count[APPLY_OK]));
	cJSON_AddItemToObject(sum, "failed", cJSON_CreateNumber((double)count[APPLY_FAILED]));
	cJSON_AddItemToObject(sum, "skipped", cJSON_CreateNumber((double)count[APPLY_SKIPPED]));
	cJSON_AddItemToObject(sum, "awaiting_approval", cJSON_CreateNumber((double)count[APPLY_AWAITING]));
	cJSON_AddItemToObject(sum, "engine_faults", cJSON_CreateNumber((double)r->nfaults));
	cJSON_AddItemToObject(doc, "summary", sum);
	cJSON *ph = cJSON_CreateObject();
	cJSON_AddItemToObject(ph, "teardown", cJSON_CreateNumber(secs(r->phase_ns[0])));
	cJSON_AddItemToObject(ph, "rollout", cJSON_CreateNumber(secs(r->phase_ns[1])));
	cJSON_AddItemToObject(ph, "network_removal", cJSON_CreateNumber(secs(r->phase_ns[2])));
	cJSON_AddItemToObject(doc, "phase_seconds", ph);
	cJSON *slow = cJSON_CreateNull();
	if (r->slowest_unit) {
		cJSON_Delete(slow);
		slow = cJSON_CreateObject();
		cJSON_AddItemToObject(slow, "unit", cJSON_CreateString(r->slowest_unit));
		cJSON_AddItemToObject(slow, "seconds", cJSON_CreateNumber(secs(r->slowest_ns)));
	}
	cJSON_AddItemToObject(doc, "slowest", slow);
	char *text = cJSON_Print(doc);
	if (!text)
		BUG("cJSON_Print failed");
	buf_adds(out, text);
	buf_addc(out, '\n');
	free(text);
	cJSON_Delete(doc);
}
