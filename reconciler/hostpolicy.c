/* hostpolicy.c — see hostpolicy.h. */
#include "hostpolicy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOSTPOLICY_MAX (64 * 1024)

int hostpolicy_read(const char *path, struct source_file **ret, struct rc_err *err)
{
	bool named = path && *path;
	if (!named) {
		const char *env = getenv("RECONCILER_POLICY");
		named = env && *env;
		path = named ? env : HOSTPOLICY_DEFAULT;
	}
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && !named) {
		*ret = NULL;
		return 0;
	}
	if (fd < 0)
		return rc_errf(err, "host policy '%s': %s%s", path, strerror(errno),
			       errno == ELOOP ? " (a symbolic link: name the file itself)" : "");
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int e = errno;
		close(fd);
		return rc_errf(err, "host policy '%s': %s", path, strerror(e));
	}
	const char *problem = !S_ISREG(sb.st_mode) ? "is not a regular file"
			    : sb.st_uid != 0 && sb.st_uid != geteuid() ? "is owned by another user than root or reconciler's"
			    : (sb.st_mode & (S_IWGRP | S_IWOTH)) ? "is writable by group or others"
			    : NULL;
	if (problem) {
		close(fd);
		return rc_errf(err, "host policy '%s' %s: it must be the host's (chown root, chmod 0644)", path, problem);
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	char *data = NULL;
	size_t len = 0;
	if (read_fd(fd, path, HOSTPOLICY_MAX, &data, &len, err) < 0)
		return rc_err_prefix(err, "host policy");
	struct source_file *f = xcalloc(1, sizeof(*f));
	f->path = xstrdup(path);
	f->data = data;
	f->len = len;
	*ret = f;
	return 0;
}

void hostpolicy_free(struct source_file *f)
{
	if (!f)
		return;
	free(f->path);
	free(f->data);
	free(f);
}
