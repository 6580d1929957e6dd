/* custsecret.c — see custsecret.h. */
#include "custsecret.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

char *custsecret_path(const char *secrets_dir, const char *customer, const char *name)
{
	return xasprintf("%s/%s/%s", secrets_dir, customer, name);
}

/* The directory holding path: made 0700, or checked to be ours and private. */
static int customer_dir(const char *path, struct rc_err *err)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	char *up = strrchr(dir, '/');  /* secrets/ itself, when the state directory has none yet */
	if (up) {
		*up = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return rc_errf(err, "cannot make the secrets directory '%s': %s", dir, strerror(errno));
		*up = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return rc_errf(err, "cannot make the customer's secrets directory '%s': %s", dir, strerror(errno));
	struct stat sb;
	if (lstat(dir, &sb) < 0)
		return rc_errf(err, "cannot stat '%s': %s", dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return rc_errf(err, "'%s' is not a directory (a symbolic link?): remove it", dir);
	if (sb.st_uid != geteuid())
		return rc_errf(err, "'%s' is owned by uid %lu, not by the state directory's owner (uid %lu)", dir,
			       (unsigned long)sb.st_uid, (unsigned long)geteuid());
	if (sb.st_mode & (S_IWGRP | S_IWOTH))
		return rc_errf(err, "'%s' is writable by group or others: chmod 0700 %s", dir, dir);
	return 0;
}

/* bytes random bytes, encoded, into a malloc'ed string (wipe it after use). */
static char *make_value(int bytes, enum custsecret_encoding enc, size_t *ret_len, struct rc_err *err)
{
	unsigned char raw[CUSTSECRET_MAX_BYTES];
	size_t n = (size_t)bytes, got = 0;
	while (got < n) {
		ssize_t r = getrandom(raw + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc_errf(err, "cannot make a secret: getrandom: %s", strerror(errno));
			return NULL;
		}
		got += (size_t)r;
	}
	static const char hex[] = "0123456789abcdef";
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc(2 * n + 8);
	size_t o = 0;
	if (enc == CUSTSECRET_HEX) {
		for (size_t i = 0; i < n; i++) {
			out[o++] = hex[raw[i] >> 4];
			out[o++] = hex[raw[i] & 15];
		}
	} else {
		for (size_t i = 0; i < n; i += 3) {
			uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < n ? (uint32_t)raw[i + 1] << 8 : 0) |
				     (i + 2 < n ? raw[i + 2] : 0);
			out[o++] = b64[v >> 18 & 63];
			out[o++] = b64[v >> 12 & 63];
			out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
			out[o++] = i + 2 < n ? b64[v & 63] : '=';
		}
	}
	out[o] = '\0';
	explicit_bzero(raw, sizeof(raw));
	*ret_len = o;
	return out;
}

static int write_value(const char *path, int bytes, enum custsecret_encoding enc, bool replace,
		       struct rc_err *err)
{
	if (bytes < CUSTSECRET_MIN_BYTES || bytes > CUSTSECRET_MAX_BYTES)
		return rc_errf(err, "a generated secret has %d to %d bytes, not %d", CUSTSECRET_MIN_BYTES,
			       CUSTSECRET_MAX_BYTES, bytes);
	if (customer_dir(path, err) < 0)
		return -1;
	size_t len = 0;
	char *value = make_value(bytes, enc, &len, err);
	if (!value)
		return -1;
	int rc;
	if (replace) {
		rc = write_file_atomic(path, value, len, 0600, err);
	} else {
		/* written aside, then linked into place: link() never replaces a value made meanwhile */
		_cleanup_free_ char *aside = xasprintf("%s.new.%ld", path, (long)getpid());
		rc = write_file_atomic(aside, value, len, 0600, err);
		if (rc == 0 && link(aside, path) < 0 && errno != EEXIST)
			rc = rc_errf(err, "cannot make secret '%s': %s", path, strerror(errno));
		unlink(aside);
	}
	explicit_bzero(value, len);
	free(value);
	return rc;
}

int custsecret_generate(const char *path, int bytes, enum custsecret_encoding enc, struct rc_err *err)
{
	struct stat sb;
	if (lstat(path, &sb) == 0)
		return 0;  /* whatever is there is read (and checked) by the loader */
	if (errno != ENOENT)
		return rc_errf(err, "cannot stat '%s': %s", path, strerror(errno));
	return write_value(path, bytes, enc, false, err);
}

int custsecret_rotate(const char *path, int bytes, enum custsecret_encoding enc, struct rc_err *err)
{
	return write_value(path, bytes, enc, true, err);
}
