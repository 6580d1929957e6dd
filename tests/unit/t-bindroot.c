/* Unit tests for bindroot.c: a bind root's owner and mode, and the nesting rule on real paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindroot.h"
#include "buf.h"
#include "manifest.h"
#include "source.h"
#include "tap.h"
#include "fixture.h"

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


/* bindroot_check_nesting() for unit id of the manifests: its message, "" when it passes. */
static char *nesting(const char *root, const char *services, const char *id)
{
	char *m = xasprintf("kind: Settings\npolicy: {bind_roots: [%s]}\n%s", root, services);
	struct rc_desired *d = fixture_load1(m);
	free(m);
	if (!d)
		return xstrdup("(not loaded)");
	struct rc_err err = { 0 }, err2 = { 0 };
	const struct rc_unit *u = rc_desired_unit(d, id);
	int rc = u ? bindroot_check_nesting(d, u, NULL, &err) : -1;
	/* the same with the real paths of a run kept (each unit checked first, as an apply would) */
	struct bindroot_reals *reals = bindroot_reals_new(d);
	for (size_t i = 0; i < d->nunits; i++) {
		struct rc_err ignored = { 0 };
		(void)bindroot_check_nesting(d, &d->units[i], reals, &ignored);
	}
	int rc2 = u ? bindroot_check_nesting(d, u, reals, &err2) : -1;
	bindroot_reals_free(reals);
	rc_desired_free(d);
	if (rc != rc2 || strcmp(err.msg, err2.msg) != 0)
		return xstrdup("(kept real paths give another answer)");
	return xstrdup(rc == 0 ? "" : u ? err.msg : "(no unit)");
}

/* The nesting rule on real paths: links inside the root that hide a writable parent. */
static void test_nesting(const char *root)
{
	char *x = xasprintf("%s/x", root), *sub = xasprintf("%s/x/sub", root), *y = xasprintf("%s/y", root),
	     *q = xasprintf("%s/q", root), *inner = xasprintf("%s/q/inner", root), *w = xasprintf("%s/w", root);
	ok(mkdir(x, 0700) == 0 && mkdir(sub, 0700) == 0 && symlink("x/sub", y) == 0 && mkdir(q, 0700) == 0 &&
		   mkdir(inner, 0700) == 0 && symlink("q", w) == 0,
	   "a root with x/sub, y -> x/sub, q/inner, w -> q");
	char *svcs = xasprintf("---\nkind: Service\nname: writer\nimage: a:1\nvolumes: [\"%s:/d\", \"%s:/again\"]\n"
			       "---\nkind: Service\nname: reader\nimage: a:1\nvolumes: [\"%s:/y:ro\"]\n", x, x, y);
	char *msg = nesting(root, svcs, "reader");
	ok(strstr(msg, "lies below") && strstr(msg, "(really '") && strstr(msg, "which unit 'writer' mounts writable"),
	   "a source really below a writable one (through a link) is refused: %s", msg);
	free(msg);
	msg = nesting(root, svcs, "writer");
	ok(strstr(msg, "is mounted writable above") && strstr(msg, "which unit 'reader' mounts"),
	   "... and so is the writer, whose writable source is really above it: %s", msg);
	free(msg);
	free(svcs);
	svcs = xasprintf("---\nkind: Service\nname: writer\nimage: a:1\nvolumes: [\"%s:/d\"]\n"
			 "---\nkind: Service\nname: reader\nimage: a:1\nvolumes: [\"%s:/q:ro\"]\n", w, q);
	msg = nesting(root, svcs, "reader");
	is_str(msg, "", "the same directory through a link is not below it");
	free(msg);
	free(svcs);
	svcs = xasprintf("---\nkind: Service\nname: writer\nimage: a:1\nvolumes: [\"%s:/d:ro\"]\n"
			 "---\nkind: Service\nname: reader\nimage: a:1\nvolumes: [\"%s:/y:ro\"]\n", x, y);
	msg = nesting(root, svcs, "reader");
	is_str(msg, "", "below a read-only mount is fine");
	free(msg);
	free(svcs);
	unlink(y);
	unlink(w);
	rmdir(inner);
	rmdir(q);
	rmdir(sub);
	rmdir(x);
	char *paths[] = { x, sub, y, q, inner, w };
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		free(paths[i]);
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
	test_nesting(dir);
	rmdir(dir);
	return done_testing();
}
