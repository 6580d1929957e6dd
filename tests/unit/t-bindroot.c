/* Unit tests for bindroot.c: a bind root's owner and mode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindroot.h"
#include "tap.h"

/* bindroot_check() of dir after chmod mode: 0, or -1 with its message in msg. */
static int check_mode(const char *dir, mode_t mode, char *msg, size_t len)
{
	struct rc_err err = { 0 };
	if (chmod(dir, mode) < 0)
		return -2;
	int rc = bindroot_check(dir, &err);
	snprintf(msg, len, "%s", err.msg);
	return rc;
}

int main(void)
{
	char tmpl[] = "/tmp/t-bindroot.XXXXXX";
	char *dir = mkdtemp(tmpl);
	if (!ok(dir != NULL, "a scratch directory"))
		return done_testing();
	char msg[512];
	is_int(check_mode(dir, 0700, msg, sizeof msg), 0, "0700: a root");
	is_int(check_mode(dir, 0750, msg, sizeof msg), 0, "0750: a root (its group is trusted)");
	is_int(check_mode(dir, 0704, msg, sizeof msg), 0, "0704: others may list it but not enter");
	is_int(check_mode(dir, 0755, msg, sizeof msg), -1, "0755: every user may enter it");
	ok(strstr(msg, "can be entered by every user (mode 0755)") && strstr(msg, "setuid") &&
		   strstr(msg, "chmod o-rwx"), "... says so and how to fix it: %s", msg);
	is_int(check_mode(dir, 0701, msg, sizeof msg), -1, "0701: entered by name");
	is_int(check_mode(dir, 0770, msg, sizeof msg), -1, "0770: group-writable");
	ok(strstr(msg, "writable by group or others (mode 0770)") != NULL, "... says so: %s", msg);
	is_int(check_mode(dir, 0702, msg, sizeof msg), -1, "0702: writable by others");
	if (geteuid() == 0) {
		chmod(dir, 0700);
		ok(chown(dir, 1000, 1000) == 0, "given to uid 1000");
		struct rc_err err = { 0 };
		is_int(bindroot_check(dir, &err), -1, "another uid's root");
		ok(strstr(err.msg, "is owned by uid 1000, not root or the uid reconciler runs as") != NULL, "... says so: %s",
		   err.msg);
		ok(chown(dir, 0, 0) == 0, "given back");
	} else {
		diag("another uid's root: not checked (not root)");
	}
	struct rc_err err = { 0 };
	char *missing = xasprintf("%s/none", dir);
	is_int(bindroot_check(missing, &err), 0, "a root that does not exist is left to the engine");
	free(missing);
	chmod(dir, 0700);
	rmdir(dir);
	return done_testing();
}
