/*
 * bindroot.c — a bind root's owner and mode.  See bindroot.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindroot.h"

int bindroot_check(const char *root, struct rc_err *err)
{
	struct stat sb;
	if (lstat(root, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		return rc_errf(err, "bind root '%s': %s", root, strerror(errno));
	}
	if (!S_ISDIR(sb.st_mode))
		return 0;
	unsigned mode = (unsigned)(sb.st_mode & 07777);
	if (sb.st_uid != 0 && sb.st_uid != geteuid())
		return rc_errf(err, "bind root '%s' is owned by uid %u, not root or the uid reconciler runs as (uid %u): "
				    "its owner could swap a directory below it for a symbolic link between the check and the "
				    "mount: chown %u %s", root, (unsigned)sb.st_uid, (unsigned)geteuid(),
			       (unsigned)geteuid(), root);
	if (sb.st_mode & (S_IWGRP | S_IWOTH))
		return rc_errf(err, "bind root '%s' is writable by group or others (mode %04o): chmod go-w %s", root,
			       mode, root);
	if (sb.st_mode & S_IXOTH)
		return rc_errf(err, "bind root '%s' can be entered by every user (mode %04o): a container writes below it "
				    "as the host's root (a setuid program, a device node), which any local user could then "
				    "run or open: chmod o-rwx %s", root, mode, root);
	return 0;
}
