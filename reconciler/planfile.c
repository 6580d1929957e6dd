/* planfile.c — see planfile.h. */
#include "planfile.h"

#include <cJSON.h>
#include <string.h>

#include "buf.h"
#include "hash.h"

int planfile_write(const char *path, const char *commit, const char *observed_digest, const char *plan_json,
		   struct rc_err *err)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "{\"format\":\"reconciler-plan\",\"version\":1,\"commit\":");
	if (commit)
		buf_add_json_str(&b, commit);
	else
		buf_adds(&b, "null");
	buf_adds(&b, ",\"observed_digest\":");
	buf_add_json_str(&b, observed_digest);
	buf_adds(&b, ",\"plan\":");
	buf_adds(&b, plan_json);
	while (b.len && (b.data[b.len - 1] == '\n'))
		b.data[--b.len] = '\0';
	buf_adds(&b, "}\n");
	int rc = write_file_atomic(path, b.data, b.len, 0644, err);
	buf_release(&b);
	return rc;
}

int planfile_read(const char *path, struct planfile *ret, struct rc_err *err)
{
	char *data = NULL;
	if (read_file(path, 64u << 20, &data, NULL, err) < 0)
		return -1;
	cJSON *j = cJSON_Parse(data);
	free(data);
	if (!j)
		return rc_errf(err, "'%s' is not a plan file (invalid JSON)", path);
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
	const cJSON *commit = cJSON_GetObjectItemCaseSensitive(j, "commit");
	const cJSON *dig = cJSON_GetObjectItemCaseSensitive(j, "observed_digest");
	if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "reconciler-plan") != 0 || !cJSON_IsNumber(ver) ||
	    !cJSON_IsString(dig) || !(cJSON_IsString(commit) || cJSON_IsNull(commit))) {
		cJSON_Delete(j);
		return rc_errf(err, "'%s' is not a plan file written by `reconciler plan --out`", path);
	}
	if (ver->valueint != 1) {
		cJSON_Delete(j);
		return rc_errf(err, "'%s': plan file version %d is not supported", path, ver->valueint);
	}
	const cJSON *plan = cJSON_GetObjectItemCaseSensitive(j, "plan");
	char *printed = cJSON_IsObject(plan) ? cJSON_PrintUnformatted(plan) : NULL;
	if (!printed) {
		cJSON_Delete(j);
		return rc_errf(err, "'%s' is not a plan file written by `reconciler plan --out` (no plan)", path);
	}
	ret->commit = cJSON_IsString(commit) ? xstrdup(commit->valuestring) : NULL;
	ret->observed_digest = xstrdup(dig->valuestring);
	ret->plan_digest = xmalloc(RC_HASH_HEX_LEN + 1);
	rc_hash128_hex(printed, strlen(printed), ret->plan_digest);
	cJSON_free(printed);
	cJSON_Delete(j);
	return 0;
}

void planfile_plan_digest(const char *plan_json, char *ret)
{
	ret[0] = '\0';
	cJSON *j = cJSON_Parse(plan_json);
	char *printed = j ? cJSON_PrintUnformatted(j) : NULL;
	if (printed)
		rc_hash128_hex(printed, strlen(printed), ret);
	cJSON_free(printed);
	cJSON_Delete(j);
}

void planfile_release(struct planfile *p)
{
	free(p->commit);
	free(p->observed_digest);
	free(p->plan_digest);
	memset(p, 0, sizeof(*p));
}
