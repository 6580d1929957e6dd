/* state_applied.c — applied.json (state.h): what was applied last, and the commits that failed. */
#include "state_int.h"

#include <cJSON.h>
#include <string.h>

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void state_applied_clear(struct rc_state *st)
{
	free(st->last_applied);
	free(st->last_good);
	free(st->project);
	free(st->path);
	free(st->rolled_back_from);
	st->last_applied = st->last_good = st->project = st->path = st->rolled_back_from = NULL;
	strv_free(st->containers, st->ncontainers);
	st->containers = NULL;
	st->ncontainers = 0;
	strv_free(st->unit_ids, st->nunit_ids);
	st->unit_ids = NULL;
	st->nunit_ids = 0;
	for (size_t i = 0; i < st->nfailed; i++) {
		free_const(st->failed[i].commit);
		free_const(st->failed[i].message);
	}
	free(st->failed);
	st->failed = NULL;
	st->nfailed = st->cfailed = 0;
}

static cJSON *strv_emit(char **v, size_t n)
{
	cJSON *a = sj_arr();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

/* An optional array of strings (absent: NULL, 0).  0 or -1. */
static int strv_parse(const struct cJSON *data, const char *key, char ***ret_v, size_t *ret_n)
{
	const struct cJSON *names = cJSON_GetObjectItemCaseSensitive(data, key), *x;
	if (names && !cJSON_IsArray(names))
		return -1;
	if (!names)
		return 0;
	size_t n = (size_t)cJSON_GetArraySize(names), k = 0;
	char **v = xcalloc(n + 1, sizeof(char *));
	cJSON_ArrayForEach(x, names) {
		if (!cJSON_IsString(x) || !x->valuestring || k == n) {
			strv_free(v, k);
			return -1;
		}
		v[k++] = xstrdup(x->valuestring);
	}
	*ret_v = v;
	*ret_n = k;
	return 0;
}

struct cJSON *state_applied_emit(const struct rc_state *st)
{
	cJSON *data = sj_obj(), *failed = sj_arr();
	sj_put_str(data, "last_applied", st->last_applied);
	sj_put_str(data, "last_good", st->last_good);
	if (st->project)
		sj_put_str(data, "project", st->project);
	if (st->path)
		sj_put_str(data, "path", st->path);
	if (st->rolled_back_from)
		sj_put_str(data, "rolled_back_from", st->rolled_back_from);
	if (st->containers)
		cJSON_AddItemToObject(data, "containers", strv_emit(st->containers, st->ncontainers));
	if (st->unit_ids)
		cJSON_AddItemToObject(data, "units", strv_emit(st->unit_ids, st->nunit_ids));
	for (size_t i = 0; i < st->nfailed; i++) {
		cJSON *f = sj_obj();
		sj_put_str(f, "commit", st->failed[i].commit);
		sj_put_num(f, "time", (double)st->failed[i].time);
		sj_put_str(f, "message", st->failed[i].message);
		cJSON_AddItemToArray(failed, f);
	}
	cJSON_AddItemToObject(data, "failed", failed);
	return data;
}

int state_applied_parse(struct rc_state *st, const struct cJSON *data)
{
	const char *applied, *good;
	const struct cJSON *failed = sj_get_arr(data, "failed"), *x;
	if (sj_get_str(data, "last_applied", true, &applied) < 0 ||
	    sj_get_str(data, "last_good", true, &good) < 0 || !failed)
		return -1;
	const char *project = NULL, *spath = NULL;
	if (sj_get_str(data, "project", true, &project) < 0 || sj_get_str(data, "path", true, &spath) < 0)
		return -1;
	st->path = xstrdup_or_null(spath);
	st->last_applied = xstrdup_or_null(applied);
	st->last_good = xstrdup_or_null(good);
	st->project = xstrdup_or_null(project);
	const char *from = NULL;
	if (sj_get_str(data, "rolled_back_from", true, &from) < 0)
		return -1;
	st->rolled_back_from = xstrdup_or_null(from);
	if (strv_parse(data, "containers", &st->containers, &st->ncontainers) < 0 ||
	    strv_parse(data, "units", &st->unit_ids, &st->nunit_ids) < 0)
		return -1;
	cJSON_ArrayForEach(x, failed) {
		const char *commit, *msg;
		int64_t t;
		if (sj_get_str(x, "commit", false, &commit) < 0 || sj_get_str(x, "message", true, &msg) < 0 ||
		    sj_get_int(x, "time", 0, SJ_INT53, &t) < 0)
			return -1;
		state_add_failed_commit(st, commit, t, msg);
	}
	return 0;
}

const char *state_get_last_applied(const struct rc_state *st)
{
	return st->last_applied;
}

const char *state_get_last_good(const struct rc_state *st)
{
	return st->last_good;
}

static void set_str(struct rc_state *st, int f, char **slot, const char *v)
{
	if (str_eq(*slot, v))
		return;
	free(*slot);
	*slot = xstrdup_or_null(v);
	st->dirty[f] = true;
}

void state_set_last_applied(struct rc_state *st, const char *commit)
{
	set_str(st, F_APPLIED, &st->last_applied, commit);
}

void state_set_last_good(struct rc_state *st, const char *commit)
{
	set_str(st, F_APPLIED, &st->last_good, commit);
}

const char *state_get_project(const struct rc_state *st)
{
	return st->project;
}

void state_set_project(struct rc_state *st, const char *project)
{
	set_str(st, F_APPLIED, &st->project, project);
}

const char *state_get_path(const struct rc_state *st)
{
	return st->path;
}

void state_set_path(struct rc_state *st, const char *path)
{
	set_str(st, F_APPLIED, &st->path, path);
}

const char *const *state_get_containers(const struct rc_state *st, size_t *ret_n)
{
	*ret_n = st->ncontainers;
	return (const char *const *)st->containers;
}

static void set_strv(struct rc_state *st, char ***slot, size_t *nslot, const char *const *v, size_t n)
{
	bool same = *slot && *nslot == n;
	for (size_t i = 0; same && i < n; i++)
		same = strcmp((*slot)[i], v[i]) == 0;
	if (same)
		return;
	strv_free(*slot, *nslot);
	*slot = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		(*slot)[i] = xstrdup(v[i]);
	*nslot = n;
	st->dirty[F_APPLIED] = true;
}

void state_set_containers(struct rc_state *st, const char *const *names, size_t n)
{
	set_strv(st, &st->containers, &st->ncontainers, names, n);
}

const char *const *state_get_unit_ids(const struct rc_state *st, size_t *ret_n)
{
	*ret_n = st->nunit_ids;
	return (const char *const *)st->unit_ids;
}

void state_set_unit_ids(struct rc_state *st, const char *const *ids, size_t n)
{
	set_strv(st, &st->unit_ids, &st->nunit_ids, ids, n);
}

const char *state_get_rolled_back_from(const struct rc_state *st)
{
	return st->rolled_back_from;
}

void state_set_rolled_back_from(struct rc_state *st, const char *commit)
{
	set_str(st, F_APPLIED, &st->rolled_back_from, commit);
}

const struct state_failed_commit *state_get_failed_commit(const struct rc_state *st, const char *commit)
{
	for (size_t i = 0; i < st->nfailed; i++)
		if (strcmp(st->failed[i].commit, commit) == 0)
			return &st->failed[i];
	return NULL;
}

void state_del_failed_commit(struct rc_state *st, const char *commit)
{
	for (size_t i = 0; i < st->nfailed; i++) {
		if (strcmp(st->failed[i].commit, commit) != 0)
			continue;
		free_const(st->failed[i].commit);
		free_const(st->failed[i].message);
		memmove(&st->failed[i], &st->failed[i + 1], (st->nfailed - i - 1) * sizeof(st->failed[0]));
		st->nfailed--;
		st->dirty[F_APPLIED] = true;
		return;
	}
}

void state_add_failed_commit(struct rc_state *st, const char *commit, int64_t time, const char *message)
{
	state_del_failed_commit(st, commit);
	GROW(st->failed, st->nfailed + 1, st->cfailed);
	st->failed[st->nfailed++] = (struct state_failed_commit){ xstrdup(commit), time,
								 xstrdup_or_null(message) };
	st->dirty[F_APPLIED] = true;
}

const struct state_failed_commit *state_failed_commits(const struct rc_state *st, size_t *ret_n)
{
	*ret_n = st->nfailed;
	return st->failed;
}
