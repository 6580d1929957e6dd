/* state_manifests.c — manifests.json (state.h): a copy of one commit's manifest files. */
#include "state_int.h"

#include <cJSON.h>
#include <errno.h>
#include <string.h>

#include "source.h"

#define MANIFESTS_FILE "manifests.json"
#define MANIFESTS_MAX ((size_t)RC_SOURCE_MAX_FILE_SIZE * 16)

/* A damaged copy: set aside by the lock holder (so that the copy read from Git again takes its place). */
static int manifests_damaged(const struct rc_state *st, const char *file, const char *why, struct rc_err *err)
{
	_cleanup_free_ char *aside = NULL;
	if (st->lock_fd >= 0 && state_set_aside(file, &aside, NULL) == 0)
		return rc_errf(err, "'%s' is damaged (%s); moved aside to '%s'", file, why, aside);
	return rc_errf(err, "'%s' is damaged (%s)", file, why);
}

int state_get_manifests(const struct rc_state *st, const char *commit, const char *path,
			struct source_files *ret, struct rc_err *err)
{
	_cleanup_free_ char *file = xasprintf("%s/" MANIFESTS_FILE, st->dir);
	char *text = NULL;
	size_t len = 0;
	struct rc_err rerr;
	int rr = read_private_file("state file", file, MANIFESTS_MAX, &text, &len, &rerr);
	if (rr == -1 && errno == ENOENT)
		return 0;
	if (rr == -2)  /* a symbolic link, FIFO, directory, another uid's file */
		return manifests_damaged(st, file, rerr.msg, err);
	if (rr < 0) {
		if (strstr(rerr.msg, "larger than"))
			return manifests_damaged(st, file, "too large", err);
		if (err)
			*err = rerr;
		return -1;
	}
	cJSON *doc = cJSON_ParseWithLength(text, len);
	free(text);
	int rc = -1;
	const struct cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
	const char *sum = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "checksum"));
	const struct cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "version");
	if (cJSON_IsObject(doc) && !data && !sum && cJSON_GetObjectItemCaseSensitive(doc, "files")) {
		/* the copy of an older reconciler, without a checksum: never trusted, replaced */
		rc = 0;
		goto out;
	}
	if (!cJSON_IsObject(doc) || !cJSON_IsNumber(ver) || !sum || !cJSON_IsObject(data)) {
		manifests_damaged(st, file, "not a state document: missing version, checksum or data", err);
		goto out;
	}
	if (ver->valuedouble != STATE_VERSION) {
		manifests_damaged(st, file, "unsupported version", err);
		goto out;
	}
	char want[RC_HASH_HEX_LEN + 1];
	state_checksum(data, want);
	if (strcmp(want, sum) != 0) {
		manifests_damaged(st, file, "checksum mismatch", err);
		goto out;
	}
	const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "commit"));
	const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "path"));
	const struct cJSON *files = cJSON_GetObjectItemCaseSensitive(data, "files");
	if (!c || !p || !cJSON_IsArray(files)) {
		manifests_damaged(st, file, "unexpected content", err);
		goto out;
	}
	if (!str_eq(c, commit) || !str_eq(p, path ? path : "")) {
		rc = 0;
		goto out;
	}
	struct source_files f = { 0 };
	size_t n = (size_t)cJSON_GetArraySize(files);
	f.files = xcalloc(n + 1, sizeof(*f.files));
	const struct cJSON *e;
	cJSON_ArrayForEach(e, files) {
		const char *fp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "path"));
		const char *fd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "data"));
		if (!fp || !fd) {
			source_files_release(&f);
			manifests_damaged(st, file, "a file without path or data", err);
			goto out;
		}
		f.files[f.nfiles++] = (struct source_file){ xstrdup(fp), xstrdup(fd), strlen(fd) };
	}
	f.commit = xstrdup(c);
	*ret = f;
	rc = 1;
out:
	cJSON_Delete(doc);
	return rc;
}

int state_put_manifests(struct rc_state *st, const struct source_files *files, const char *path,
			struct rc_err *err)
{
	if (st->lock_fd < 0)
		return rc_errf(err, "state directory '%s' is not locked: cannot save", st->dir);
	if (!files->commit)
		return rc_errf(err, "manifests of a directory are not kept");
	for (size_t i = 0; i < files->nfiles; i++)
		if (strlen(files->files[i].data) != files->files[i].len)
			return rc_errf(err, "'%s' holds a NUL byte: manifests not kept", files->files[i].path);
	cJSON *data = sj_obj();
	sj_put_str(data, "commit", files->commit);
	sj_put_str(data, "path", path ? path : "");
	cJSON *arr = sj_arr();
	for (size_t i = 0; i < files->nfiles; i++) {
		cJSON *e = sj_obj();
		sj_put_str(e, "path", files->files[i].path);
		sj_put_str(e, "data", files->files[i].data);
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddItemToObject(data, "files", arr);
	char sum[RC_HASH_HEX_LEN + 1];
	state_checksum(data, sum);
	cJSON *doc = sj_obj();
	sj_put_num(doc, "version", STATE_VERSION);
	sj_put_str(doc, "checksum", sum);
	cJSON_AddItemToObject(doc, "data", data);
	char *text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (!text)
		die("out of memory");
	_cleanup_free_ char *file = xasprintf("%s/" MANIFESTS_FILE, st->dir);
	int r = write_file_atomic(file, text, strlen(text), 0600, err);
	cJSON_free(text);
	return r;
}
