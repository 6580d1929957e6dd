/* Unit tests for bindpath.c: resolving bind sources beneath their root, on a real temporary tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindpath.h"
#include "tap.h"
#include "util.h"

static char *T;      /* the temporary directory (its real path) */
static char *R;      /* T/root: the bind root */

static char *at(const char *rel)
{
	return xasprintf("%s/%s", T, rel);
}

static void mk_dir(const char *rel)
{
	char *p = at(rel);
	if (mkdir(p, 0755) < 0)
		die("mkdir %s: %m", p);
	free(p);
}

static void mk_file(const char *rel)
{
	char *p = at(rel);
	FILE *f = fopen(p, "w");
	if (!f)
		die("create %s: %m", p);
	fclose(f);
	free(p);
}

static void mk_link(const char *target, const char *rel)
{
	char *p = at(rel);
	if (symlink(target, p) < 0)
		die("symlink %s: %m", p);
	free(p);
}

/* bindpath_resolve(R, R/rel) must succeed with R/want ("" = R itself). */
static void resolves(const char *rel, const char *want, const char *what)
{
	char *path = *rel ? xasprintf("%s/%s", R, rel) : xstrdup(R);
	char *exp = *want ? xasprintf("%s/%s", R, want) : xstrdup(R);
	char *got = NULL;
	struct rc_err err = { 0 };
	int rc = bindpath_resolve(R, path, &got, &err);
	if (!ok(rc == 0, "%s: resolves", what))
		diag("error: %s", err.msg);
	else
		is_str(got, exp, "%s: to %s", what, exp);
	free(got);
	free(exp);
	free(path);
}

/* bindpath_resolve(R, R/rel) must fail with a message holding every one of the words. */
static void refused(const char *rel, const char *what, const char *word1, const char *word2)
{
	char *path = xasprintf("%s/%s", R, rel);
	char *got = NULL;
	struct rc_err err = { 0 };
	int rc = bindpath_resolve(R, path, &got, &err);
	if (!ok(rc == -1, "%s: refused", what))
		diag("resolved to %s", got ? got : "(null)");
	ok(strstr(err.msg, path) != NULL, "%s: the message names the source", what);
	char *w1 = word1 ? xasprintf("%s/%s", R, word1) : NULL;
	if (w1 && !ok(strstr(err.msg, w1) != NULL, "%s: the message names '%s'", what, w1))
		diag("message: %s", err.msg);
	if (word2 && !ok(strstr(err.msg, word2) != NULL, "%s: the message says '%s'", what, word2))
		diag("message: %s", err.msg);
	free(w1);
	free(got);
	free(path);
}

static void build_tree(void)
{
	mk_dir("root");
	mk_dir("root/data");
	mk_dir("root/data/sub");
	mk_file("root/data/file");
	mk_dir("outside");
	mk_file("outside/secret");
	mk_link("/", "root/rootlink");
	mk_link("/etc", "root/etclink");
	mk_link("/var/run/docker.sock", "root/socklink");
	mk_link("chain2", "root/chain1");
	mk_link("chain3", "root/chain2");
	mk_link("../outside", "root/chain3");
	mk_link("hop2", "root/hop1");
	mk_link("/etc", "root/hop2");
	mk_link("../outside", "root/dotdot");
	mk_link("../../outside", "root/data/up2");
	mk_link("data/sub", "root/inside");
	mk_link("data/../data/file", "root/inside-dotdot");
	mk_link("../file", "root/data/sub/parentfile");
	char *abs_in = xasprintf("%s/data", R);
	mk_link(abs_in, "root/abs-inside");
	free(abs_in);
	char *abs_out = xasprintf("%s/../outside", R);
	mk_link(abs_out, "root/abs-dotdot");
	free(abs_out);
	mk_link("missing-target", "root/dangling");
	mk_link("/nonexistent", "root/dangling-out");
	mk_link("nowhere/../../outside", "root/dangling-up");
	mk_link("loop2", "root/loop1");
	mk_link("loop1", "root/loop2");
	mk_link("root", "rootvia");
}

static void test_inside(void)
{
	resolves("", "", "the root itself");
	resolves("data", "data", "a directory");
	resolves("data/file", "data/file", "a file");
	resolves("inside", "data/sub", "a relative link that stays inside");
	resolves("inside/parentfile", "data/file", "a link to '..' that stays inside");
	resolves("inside-dotdot", "data/file", "a link through '..' that stays inside");
	resolves("abs-inside", "data", "an absolute link into the root");
	resolves("abs-inside/sub", "data/sub", "an absolute link into the root, then more");
}

static void test_escapes(void)
{
	refused("rootlink", "a link to /", "rootlink", "'/'");
	refused("rootlink/etc/passwd", "through a link to /", "rootlink", "'/'");
	refused("rootlink/nonexistent", "a missing path behind a link to /", "rootlink", "'/'");
	refused("etclink", "a link to /etc", "etclink", "'/etc'");
	refused("socklink", "a link to the Docker socket", "socklink", "docker.sock");
	refused("chain1", "a chain of relative links leading out", "chain1", "../outside");
	refused("hop1", "a chain ending in an absolute link out", "hop1", "'/etc'");
	refused("dotdot", "a link with '..' out of the root", "dotdot", "../outside");
	refused("data/up2", "a link two levels up", "data/up2", "../../outside");
	refused("abs-dotdot", "an absolute link naming the root, then '..'", "abs-dotdot", NULL);
	refused("dangling-out", "a dangling link out of the root", "dangling-out", "/nonexistent");
	refused("dangling-up/x", "a dangling link whose '..' would lead out once made", "dangling-up", NULL);
	refused("loop1", "a loop of links", "loop1", "too many");
	refused("data/../../outside", "'..' in the source", NULL, "clean");
	refused("data//file", "'//' in the source", NULL, "clean");
}

static void test_missing(void)
{
	resolves("missing", "missing", "a missing path");
	resolves("data/missing/deeper", "data/missing/deeper", "a missing path below a directory");
	resolves("inside/missing", "data/sub/missing", "a missing path behind a link inside");
	resolves("dangling", "missing-target", "a dangling link inside the root");
	resolves("dangling/x", "missing-target/x", "below a dangling link inside the root");

	char *root = at("no-such-root");
	char *path = at("no-such-root/x");
	char *got = NULL;
	struct rc_err err = { 0 };
	is_int(bindpath_resolve(root, path, &got, &err), 0, "a missing root: left to the engine");
	is_str(got, path, "a missing root: the path unchanged");
	free(got);
	free(path);
	free(root);
}

static void test_roots(void)
{
	struct rc_err err = { 0 };
	char *got = NULL;
	char *root = at("rootvia");
	char *path = at("rootvia/data");
	is_int(bindpath_resolve(root, path, &got, &err), -1, "a root reached through a link is refused");
	ok(strstr(err.msg, "symbolic link") && strstr(err.msg, root), "and the message says so (%s)", err.msg);
	free(path);
	path = at("outside/secret");
	is_int(bindpath_resolve(R, path, &got, &err), -1, "a source outside the root is refused");
	ok(strstr(err.msg, "not inside") != NULL, "and the message says so (%s)", err.msg);
	free(path);
	char *rr = xasprintf("%s/", R);
	path = xasprintf("%s/data", R);
	is_int(bindpath_resolve(rr, path, &got, &err), -1, "a root with a trailing '/' is refused");
	free(path);
	free(rr);
	free(root);
	ok(got == NULL, "nothing is returned on failure");
}

static void rm_tree(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	free(cmd);
}

int main(void)
{
	char tmpl[] = "/tmp/rc-t-bindpath.XXXXXX";
	if (!mkdtemp(tmpl))
		die("mkdtemp: %m");
	T = realpath(tmpl, NULL);
	if (!T)
		die("realpath %s: %m", tmpl);
	R = xasprintf("%s/root", T);
	build_tree();
	test_inside();
	test_escapes();
	test_missing();
	test_roots();
	rm_tree(T);
	free(R);
	free(T);
	return done_testing();
}
