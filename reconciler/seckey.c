/* seckey.c — see seckey.h. */
#include "seckey.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static int make_key(const char *path, struct rc_err *err)
{
	unsigned char key[RC_SECKEY_LEN];
	size_t got = 0;
	while (got < sizeof(key)) {
		ssize_t n = getrandom(key + got, sizeof(key) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rc_errf(err, "cannot make the secret digest key: getrandom: %s", strerror(errno));
		got += (size_t)n;
	}
	/* written aside, then linked into place: link() never replaces a key another process made */
	_cleanup_free_ char *aside = xasprintf("%s.new.%ld", path, (long)getpid());
	int rc = write_file_atomic(aside, key, sizeof(key), 0600, err);
	explicit_bzero(key, sizeof(key));
	if (rc < 0)
		return -1;
	if (link(aside, path) < 0 && errno != EEXIST) {
		rc_errf(err, "cannot make the secret digest key '%s': %s", path, strerror(errno));
		unlink(aside);
		return -1;
	}
	unlink(aside);
	return 0;
}

int seckey_load(const char *secrets_dir, unsigned char key[RC_SECKEY_LEN], struct rc_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", secrets_dir, RC_SECKEY_FILE);
	for (int attempt = 0; attempt < 2; attempt++) {
		char *data = NULL;
		size_t len = 0;
		int r = read_private_file("secret digest key", path, RC_SECKEY_LEN + 1, &data, &len, err);
		if (r == -1 && errno == ENOENT && attempt == 0) {
			if (make_key(path, err) < 0)
				return -1;
			continue;
		}
		if (r < 0) {
			free(data);
			return -1;
		}
		if (len != RC_SECKEY_LEN) {
			explicit_bzero(data, len);
			free(data);
			return rc_errf(err, "secret digest key '%s' is damaged (%zu bytes, not %d): remove it "
				       "(the units that mount secrets are then replaced once)", path, len, RC_SECKEY_LEN);
		}
		memcpy(key, data, RC_SECKEY_LEN);
		explicit_bzero(data, len);
		free(data);
		return 0;
	}
	return rc_errf(err, "secret digest key '%s' vanished while it was made", path);
}
