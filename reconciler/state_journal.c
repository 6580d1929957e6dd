/* state_journal.c — journal.jsonl (state.h): one line per action taken, rotated at a size, read back. */
#include "state_int.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

void state_set_journal_limit(struct rc_state *st, size_t max_bytes, int keep)
{
	st->journal_max = max_bytes;
	st->journal_keep = keep < 1 ? 1 : keep;
}

static int rotate_journal(struct rc_state *st, const char *path, struct rc_err *err)
{
	for (int i = st->journal_keep - 1; i >= 1; i--) {
		_cleanup_free_ char *from = xasprintf("%s.%d", path, i);
		_cleanup_free_ char *to = xasprintf("%s.%d", path, i + 1);
		if (rename(from, to) < 0 && errno != ENOENT)
			return rc_errf(err, "cannot rotate '%s': %s", from, strerror(errno));
	}
	_cleanup_free_ char *first = xasprintf("%s.1", path);
	if (rename(path, first) < 0 && errno != ENOENT)
		return rc_errf(err, "cannot rotate '%s': %s", path, strerror(errno));
	return 0;
}

int state_journal(struct rc_state *st, const struct state_journal_entry *e, struct rc_err *err)
{
	if (st->lock_fd < 0)
		return rc_errf(err, "state directory '%s' is not locked: cannot write the journal", st->dir);
	time_t t = e->time ? (time_t)e->time : time(NULL);
	struct tm tm;
	char ts[32];
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON *o = sj_obj();
	sj_put_str(o, "time", ts);
	sj_put_str(o, "commit", e->commit);
	sj_put_str(o, "action", e->action);
	sj_put_str(o, "unit", e->unit);
	sj_put_str(o, "result", e->result);
	sj_put_str(o, "message", e->message);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		die("out of memory");
	struct buf line = BUF_INIT;
	buf_adds(&line, text);
	buf_addc(&line, '\n');
	cJSON_free(text);

	_cleanup_free_ char *path = xasprintf("%s/journal.jsonl", st->dir);
	int r = -1;
	/* a regular file of ours with one link, never through a symbolic link, never a FIFO */
	int fd = open_private("state file", path, O_WRONLY | O_APPEND | O_CREAT, 0600, err);
	struct stat sb;
	if (fd < 0)
		goto out;
	if (fstat(fd, &sb) < 0) {
		rc_errf(err, "cannot stat '%s': %s", path, strerror(errno));
		goto out;
	}
	if (sb.st_size > 0 && (size_t)sb.st_size + line.len > st->journal_max) {
		close(fd);
		fd = -1;
		if (rotate_journal(st, path, err) < 0)
			goto out;
		fd = open_private("state file", path, O_WRONLY | O_APPEND | O_CREAT, 0600, err);
		if (fd < 0)
			goto out;
	}
	const char *p = line.data;
	size_t left = line.len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc_errf(err, "cannot write '%s': %s", path, strerror(errno));
			goto out;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) < 0) {
		rc_errf(err, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = rc_errf(err, "cannot write '%s': %s", path, strerror(errno));
	buf_release(&line);
	return r;
}

/* ---- reading the journal back -------------------------------------------------- */

static char *jstr_dup(const struct cJSON *o, const char *k)
{
	const struct cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(x) ? xstrdup(x->valuestring) : NULL;
}

/* A journal past its limit is rotated; one much larger is not ours to read whole. */
#define STATE_JOURNAL_READ_MAX ((size_t)256 << 20)

/* 1 found (in *ret), 0 none, -1 error; a missing file is none. */
static int journal_last_in(const char *path, const char *action, struct state_journal_record *ret,
			   struct rc_err *err)
{
	char *data = NULL;
	size_t len = 0;
	/* never through a symbolic link, never blocking on a FIFO (status and drift read it) */
	int rr = read_private_file("state file", path, STATE_JOURNAL_READ_MAX, &data, &len, err);
	if (rr == -1 && errno == ENOENT)
		return 0;
	if (rr < 0)
		return -1;
	int found = 0;
	size_t end = len;
	while (end > 0 && !found) {
		size_t start = end;
		while (start > 0 && data[start - 1] != '\n')
			start--;
		if (end > start) {
			cJSON *o = cJSON_ParseWithLength(data + start, end - start);
			const struct cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "action");
			if (cJSON_IsObject(o) && cJSON_IsString(a) && strcmp(a->valuestring, action) == 0) {
				ret->time = jstr_dup(o, "time");
				ret->commit = jstr_dup(o, "commit");
				ret->action = jstr_dup(o, "action");
				ret->unit = jstr_dup(o, "unit");
				ret->result = jstr_dup(o, "result");
				ret->message = jstr_dup(o, "message");
				found = 1;
			}
			cJSON_Delete(o);
		}
		end = start > 0 ? start - 1 : 0;
	}
	free(data);
	return found;
}

int state_journal_last(const struct rc_state *st, const char *action, struct state_journal_record *ret,
		       struct rc_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/journal.jsonl", st->dir);
	_cleanup_free_ char *old = xasprintf("%s.1", path);
	struct state_journal_record r = { 0 };
	int found = journal_last_in(path, action, &r, err);
	if (found == 0)
		found = journal_last_in(old, action, &r, err);
	if (found == 1)
		*ret = r;
	return found;
}

void state_journal_record_release(struct state_journal_record *r)
{
	free(r->time);
	free(r->commit);
	free(r->action);
	free(r->unit);
	free(r->result);
	free(r->message);
	memset(r, 0, sizeof(*r));
}
