/*
 * Unit tests for watch.c against REAL git: every way a branch can move is
 * noticed (watch_wait() returns 1 within a bound of 5 s — a bound, not a
 * speed assertion) and the plain-file ref read afterwards equals
 * `git rev-parse`.  Inotify scenarios run with polling disabled so that only
 * inotify can report.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"
#include "watch.h"

#define BOUND_MS 5000

static char tmp[] = "/tmp/rc-t-watch.XXXXXX";

RC_PRINTF(1, 2)
static int sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		die("out of memory");
	va_end(ap);
	char *full = xasprintf("cd '%s' && { %s ; } >/dev/null 2>&1", tmp, cmd);
	int st = system(full);
	if (st != 0)
		diag("command failed (%d): %s", st, cmd);
	free(full);
	free(cmd);
	return st;
}

/* `git -C dir rev-parse --verify -q ref` into out; "" if it does not resolve. */
static void rev_parse(const char *dir, const char *ref, char out[41])
{
	char *cmd = xasprintf("cd '%s' && git -C '%s' rev-parse --verify -q '%s' 2>/dev/null",
			      tmp, dir, ref);
	FILE *p = popen(cmd, "r");
	out[0] = '\0';
	if (p) {
		char line[128] = "";
		if (fgets(line, sizeof(line), p) && strlen(line) >= 40) {
			memcpy(out, line, 40);
			out[40] = '\0';
		}
		pclose(p);
	}
	free(cmd);
}

static char *P(const char *rel)
{
	static char buf[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmp, rel);
	return buf[i];
}

/* watch_wait until it reports, at most BOUND_MS in all. */
static int wait_change(struct watch *w)
{
	int64_t end = now_ms() + BOUND_MS;
	struct rc_err e;
	for (;;) {
		int64_t left = end - now_ms();
		if (left <= 0)
			return 0;
		int r = watch_wait(w, (int)left, &e);
		if (r != 0) {
			if (r < 0)
				diag("watch_wait: %s", e.msg);
			return r;
		}
	}
}

/* Consume whatever is still pending (e.g. a late second notification). */
static void settle(struct watch *w)
{
	struct rc_err e;
	for (int i = 0; i < 20 && watch_wait(w, 400, &e) == 1; i++)
		;
}

/* The ref as read by watch_read_ref equals git rev-parse. */
static void check_ref(const char *repo, const char *branch, const char *what)
{
	char got[41] = "x", want[41];
	struct rc_err e;
	int r = watch_read_ref(P(repo), branch, got, &e);
	if (r < 0)
		diag("watch_read_ref: %s", e.msg);
	rev_parse(repo, branch ? branch : "HEAD", want);
	ok(r == (want[0] ? 1 : 0), "%s: ref %s", what, want[0] ? "found" : "absent");
	is_str(got, want, "%s: ref read equals git rev-parse", what);
}

static void noticed(struct watch *w, const char *repo, const char *branch, const char *what)
{
	is_int(wait_change(w), 1, "%s: noticed", what);
	check_ref(repo, branch, what);
	settle(w);
}

static void quiet(struct watch *w, const char *what)
{
	struct rc_err e;
	is_int(watch_wait(w, 500, &e), 0, "%s: nothing reported", what);
}

static struct watch *open_w(const char *repo, const char *branch, bool inotify, int poll_ms)
{
	struct watch_opts o = { .inotify = inotify, .debounce_ms = 150, .poll_interval_ms = poll_ms };
	struct watch *w = NULL;
	struct rc_err e;
	if (watch_open(P(repo), branch, &o, &w, &e) < 0) {
		diag("watch_open: %s", e.msg);
		return NULL;
	}
	return w;
}

static bool exists(const char *rel)
{
	struct stat st;
	return stat(P(rel), &st) == 0;
}

#define COMMIT(repo, msg) sh("git -C %s commit -q --allow-empty -m '%s'", repo, msg)

static void test_read_ref(void)
{
	char out[41] = "untouched";
	struct rc_err e;
	is_int(watch_read_ref(tmp, "main", out, &e), -1, "not a repository is an error");
	ok(strstr(e.msg, "not a git repository") != NULL, "message says so: %s", e.msg);
	is_str(out, "untouched", "out untouched on failure");

	ok(sh("git init -q -b main rd && git -C rd config gc.auto 0") == 0, "git init");
	is_int(watch_read_ref(P("rd"), "main", out, &e), 0, "unborn branch is absent");
	is_str(out, "", "absent gives an empty string");
	is_int(watch_read_ref(P("rd"), NULL, out, &e), 0, "HEAD of an unborn branch is absent");
	static const char *bad[] = { "", "../x", "a..b", "x.lock", "a//b", "a/.b", "a b", "x@{1}", "a/" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		is_int(watch_read_ref(P("rd"), bad[i], out, &e), -1, "invalid name '%s' rejected", bad[i]);

	COMMIT("rd", "one");
	COMMIT("rd", "two");
	check_ref("rd", "main", "loose ref");
	check_ref("rd", "refs/heads/main", "full ref name");
	check_ref("rd", NULL, "HEAD via ref:");
	check_ref("rd", "HEAD", "HEAD by name");
	check_ref("rd/.git", "main", "the .git directory itself");

	sh("git -C rd checkout -q --detach HEAD~1");
	check_ref("rd", NULL, "detached HEAD");
	sh("git -C rd checkout -q main");

	sh("git -C rd pack-refs --all");
	ok(!exists("rd/.git/refs/heads/main"), "pack-refs removed the loose ref");
	check_ref("rd", "main", "packed ref");
	sh("git -C rd tag -a -m t v1");
	sh("git -C rd pack-refs --all");
	check_ref("rd", "refs/tags/v1", "annotated tag in packed-refs (peeled line skipped)");

	sh("git -C rd symbolic-ref refs/heads/alias refs/heads/main");
	char a[41], m[41];
	is_int(watch_read_ref(P("rd"), "alias", a, &e), 1, "symbolic ref resolves");
	rev_parse("rd", "main", m);
	is_str(a, m, "symbolic ref resolves to its target");

	ok(sh("git -C rd worktree add -q -b wtb ../rd-wt HEAD~1") == 0, "git worktree add");
	check_ref("rd-wt", NULL, "linked work tree: its own HEAD");
	check_ref("rd-wt", "main", "linked work tree: refs from the common dir");

	ok(sh("git clone -q --bare rd rd.git") == 0, "bare clone");
	check_ref("rd.git", "main", "bare repository");

	if (sh("git init -q --object-format=sha256 rd256 && git -C rd256 commit -q --allow-empty -m x") == 0) {
		is_int(watch_read_ref(P("rd256"), "HEAD", out, &e), -1, "sha256 repository is refused");
		ok(strstr(e.msg, "sha256") != NULL, "message names sha256: %s", e.msg);
	}
}

static void test_open_errors(void)
{
	struct watch *w = NULL;
	struct rc_err e;
	struct watch_opts o = { .inotify = false, .debounce_ms = 100, .poll_interval_ms = 0 };
	is_int(watch_open(P("rd"), "main", &o, &w, &e), -1, "polling only without interval refused");
	o = (struct watch_opts){ .inotify = true, .debounce_ms = -1 };
	is_int(watch_open(P("rd"), "main", &o, &w, &e), -1, "negative debounce refused");
	is_int(watch_open(tmp, "main", NULL, &w, &e), -1, "not a repository refused");
	is_int(watch_open(P("rd"), "bad..name", NULL, &w, &e), -1, "invalid branch refused");
	ok(w == NULL, "ret untouched on failure");
	watch_close(NULL);
}

/* Commits in a work tree, other branches ignored, pack-refs and gc. */
static void test_worktree(void)
{
	ok(sh("git init -q -b main a && git -C a config gc.auto 0") == 0, "git init a");
	struct watch *w = open_w("a", "main", true, 0);
	ok(w != NULL, "watch on an unborn branch");
	if (!w)
		return;
	ok(watch_uses_inotify(w), "inotify in use");
	quiet(w, "no change");

	COMMIT("a", "c1");
	noticed(w, "a", "main", "first commit");
	COMMIT("a", "c2");
	noticed(w, "a", "main", "second commit (ref renamed over)");
	COMMIT("a", "c3");
	noticed(w, "a", "main", "third commit");

	sh("git -C a branch other");
	quiet(w, "another branch created");
	sh("git -C a update-ref refs/heads/other HEAD~1");
	quiet(w, "another branch moved");

	sh("git -C a pack-refs --all");
	ok(!exists("a/.git/refs/heads/main"), "pack-refs removed the loose ref");
	noticed(w, "a", "main", "pack-refs --all");
	COMMIT("a", "c4");
	noticed(w, "a", "main", "commit after pack-refs");
	sh("git -C a gc -q");
	ok(!exists("a/.git/refs/heads/main"), "gc removed the loose ref");
	noticed(w, "a", "main", "git gc");
	COMMIT("a", "c5");
	noticed(w, "a", "main", "commit after gc");
	watch_close(w);
}

static void test_delete_recreate(void)
{
	sh("git -C a branch feature HEAD~1");
	struct watch *w = open_w("a", "feature", true, 0);
	ok(w != NULL, "watch on feature");
	if (!w)
		return;
	sh("git -C a branch -D feature");
	noticed(w, "a", "feature", "branch deleted");
	sh("git -C a branch feature HEAD~2");
	noticed(w, "a", "feature", "branch re-created");
	/* the same, with the branch packed: deletion rewrites packed-refs only */
	sh("git -C a pack-refs --all");
	settle(w);
	sh("git -C a branch -D feature");
	noticed(w, "a", "feature", "packed branch deleted");
	sh("git -C a branch feature HEAD");
	noticed(w, "a", "feature", "branch re-created after packed deletion");
	watch_close(w);
}

static void test_slash_branch(void)
{
	ok(!exists("a/.git/refs/heads/release"), "refs/heads/release does not exist yet");
	struct watch *w = open_w("a", "release/v1", true, 0);
	ok(w != NULL, "watch on release/v1");
	if (!w)
		return;
	quiet(w, "release/v1: no change");
	sh("git -C a branch release/v1 HEAD~2");
	noticed(w, "a", "release/v1", "release/v1 created (directory appears)");
	sh("git -C a update-ref refs/heads/release/v1 HEAD");
	noticed(w, "a", "release/v1", "release/v1 moved");
	sh("git -C a branch release/v2 HEAD");
	quiet(w, "sibling release/v2 created");
	sh("git -C a branch -D release/v1 release/v2");
	noticed(w, "a", "release/v1", "release/v1 deleted (directory removed)");
	ok(!exists("a/.git/refs/heads/release"), "git removed the empty directory");
	sh("git -C a branch release/v1 HEAD~1");
	noticed(w, "a", "release/v1", "release/v1 re-created in a new directory");
	sh("git -C a update-ref refs/heads/release/v1 HEAD");
	noticed(w, "a", "release/v1", "release/v1 moved in the new directory");
	watch_close(w);
}

static void test_bare_push(void)
{
	ok(sh("git clone -q --bare a b.git && git -C b.git config gc.auto 0") == 0, "bare clone");
	ok(!exists("b.git/refs/heads/main") && exists("b.git/packed-refs"),
	   "fresh bare clone keeps refs in packed-refs only");
	struct watch *w = open_w("b.git", "main", true, 0);
	ok(w != NULL, "watch on the bare repository");
	if (!w)
		return;
	check_ref("b.git", "main", "bare, before any push");
	quiet(w, "bare: no change");
	COMMIT("a", "p1");
	sh("git -C a push -q ../b.git main");
	noticed(w, "b.git", "main", "push into the bare repository");
	COMMIT("a", "p2");
	sh("git -C a push -q ../b.git main");
	noticed(w, "b.git", "main", "second push");
	sh("git -C a push -q ../b.git other");
	quiet(w, "push of another branch");
	watch_close(w);
}

static void test_follow_head(void)
{
	struct watch *w = open_w("a", NULL, true, 0);
	ok(w != NULL, "watch on HEAD");
	if (!w)
		return;
	COMMIT("a", "h1");
	noticed(w, "a", NULL, "HEAD: commit on the checked-out branch");
	sh("git -C a checkout -q other");
	noticed(w, "a", NULL, "HEAD: checkout of another branch");
	COMMIT("a", "h2");
	noticed(w, "a", NULL, "HEAD: commit on the newly checked-out branch");
	sh("git -C a checkout -q main");
	noticed(w, "a", NULL, "HEAD: back to main");
	watch_close(w);
}

/* A linked work tree: HEAD in .git/worktrees/<name>, refs in the common dir. */
static void test_linked_worktree(void)
{
	ok(sh("git -C a worktree add -q -b lw ../a-wt main") == 0, "git worktree add");
	struct watch *h = open_w("a-wt", NULL, true, 0);
	struct watch *m = open_w("a-wt", "main", true, 0);
	ok(h && m, "watches through a .git file");
	if (h && m) {
		COMMIT("a-wt", "lw1");
		noticed(h, "a-wt", NULL, "linked work tree: commit on its HEAD");
		quiet(m, "linked work tree: main did not move");
		COMMIT("a", "lw2");
		noticed(m, "a-wt", "main", "linked work tree: main moved in the main work tree");
		quiet(h, "linked work tree: its HEAD did not move");
	}
	watch_close(h);
	watch_close(m);
}

static void test_polling(void)
{
	struct watch *w = open_w("a", "main", false, 200);
	ok(w != NULL, "polling-only watch");
	if (!w)
		return;
	ok(!watch_uses_inotify(w), "no inotify");
	quiet(w, "polling: no change");
	COMMIT("a", "q1");
	noticed(w, "a", "main", "polling: commit");
	sh("git -C a pack-refs --all");
	is_int(watch_wait(w, 700, NULL), 0, "polling: pack-refs does not move the ref, not reported");
	/* watch_fd becomes readable when the next poll is due */
	COMMIT("a", "q2");
	struct pollfd pfd = { .fd = watch_fd(w), .events = POLLIN };
	int got = 0;
	int64_t end = now_ms() + BOUND_MS;
	while (!got && now_ms() < end) {
		if (poll(&pfd, 1, BOUND_MS) > 0)
			got = watch_wait(w, 0, NULL);
	}
	is_int(got, 1, "polling: poll(watch_fd) + watch_wait(0) notices a commit");
	watch_close(w);
}

static void test_fd(void)
{
	struct watch *w = open_w("a", "main", true, 0);
	ok(w != NULL, "watch for the fd test");
	if (!w)
		return;
	struct pollfd pfd = { .fd = watch_fd(w), .events = POLLIN };
	is_int(poll(&pfd, 1, 300), 0, "fd not readable while nothing happens");
	COMMIT("a", "f1");
	int got = 0, wakeups = 0;
	int64_t end = now_ms() + BOUND_MS;
	while (!got && now_ms() < end) {
		if (poll(&pfd, 1, BOUND_MS) > 0) {
			wakeups++;
			got = watch_wait(w, 0, NULL);
		}
	}
	is_int(got, 1, "poll(watch_fd) + watch_wait(0) notices a commit (after %d wakeups)", wakeups);
	check_ref("a", "main", "fd");
	watch_close(w);
}

static void test_burst(void)
{
	struct watch *w = open_w("a", "main", true, 0);
	ok(w != NULL, "watch for the burst");
	if (!w)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		char *cmd = xasprintf("cd '%s' && for i in $(seq 20); do "
				      "git -C a commit -q --allow-empty -m burst$i || exit 1; done", tmp);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int count = 0, status = -1;
	bool done = false;
	for (int i = 0; i < 400; i++) {
		int r = watch_wait(w, 300, NULL);
		if (r == 1)
			count++;
		if (!done && waitpid(pid, &status, WNOHANG) == pid)
			done = true;
		else if (done && r == 0)
			break;
	}
	if (!done)
		waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "20 commits made");
	ok(count >= 1, "burst noticed (%d notifications)", count);
	ok(count < 20, "burst of 20 commits gives fewer than 20 notifications (%d)", count);
	check_ref("a", "main", "after the burst");
	watch_close(w);
}

/* Refs that libgit2 cannot read, and a packed-refs rewritten within one
 * second: what the user sees, and what a watch keeping one handle sees. */
static void test_edges(void)
{
	char out[41] = "untouched", a[41], b[41];
	struct rc_err e = { 0 };
	ok(sh("git init -q -b main ed && git -C ed config gc.auto 0") == 0, "git init ed");
	COMMIT("ed", "one");
	COMMIT("ed", "two");
	rev_parse("ed", "main~1", a);
	rev_parse("ed", "main", b);

	/* a loose ref with garbage in it */
	sh("git -C ed branch junk && echo garbage >ed/.git/refs/heads/junk");
	is_int(watch_read_ref(P("ed"), "junk", out, &e), -1, "a ref holding garbage is an error");
	ok(strstr(e.msg, "refs/heads/junk") != NULL && strstr(e.msg, P("ed")) != NULL && strstr(e.msg, "corrupted") != NULL,
	   "message names the ref and the repository: %s", e.msg);
	is_str(out, "untouched", "out untouched on failure");
	struct watch *w = open_w("ed", "junk", false, 100);
	ok(w != NULL, "a watch opens on an unreadable ref");
	if (w) {
		sh("git -C ed rev-parse main >ed/.git/refs/heads/junk");
		is_int(wait_change(w), 1, "unreadable -> readable is noticed");
		sh("echo garbage >ed/.git/refs/heads/junk");
		is_int(wait_change(w), 1, "readable -> unreadable is noticed");
		watch_close(w);
	}

	/* symbolic refs: a loop, and a target that is no ref name */
	sh("git -C ed symbolic-ref refs/heads/l1 refs/heads/l2 && git -C ed symbolic-ref refs/heads/l2 refs/heads/l1");
	is_int(watch_read_ref(P("ed"), "l1", out, &e), -1, "a loop of symbolic refs is an error");
	ok(strstr(e.msg, "levels of symbolic refs") != NULL && strstr(e.msg, "refs/heads/l1") != NULL,
	   "message says so: %s", e.msg);
	sh("printf 'ref: refs/heads/../../x\\n' >ed/.git/refs/heads/odd");
	is_int(watch_read_ref(P("ed"), "odd", out, &e), -1, "an invalid symbolic target is an error");
	ok(strstr(e.msg, "invalid symbolic ref target") != NULL, "message says so: %s", e.msg);
	sh("git -C ed symbolic-ref refs/heads/ahead refs/heads/not-yet");
	is_int(watch_read_ref(P("ed"), "ahead", out, &e), 0, "a symbolic ref to a missing branch is absent");

	/* packed-refs replaced twice by rename within one second, same size,
	 * same mtime: a watch that keeps its handle must see both */
	sh("git -C ed branch pk main && git -C ed pack-refs --all");
	ok(!exists("ed/.git/refs/heads/pk"), "pk is packed");
	w = open_w("ed", "pk", false, 50);
	ok(w != NULL, "polling watch on a packed ref");
	if (w) {
		check_ref("ed", "pk", "packed, before");
		sh("sed 's|^%s refs/heads/pk$|%s refs/heads/pk|' ed/.git/packed-refs >ed/p1 && "
		   "touch -r ed/.git/packed-refs ed/p1 && mv ed/p1 ed/.git/packed-refs", b, a);
		is_int(wait_change(w), 1, "packed-refs renamed over (same size, same mtime): noticed");
		check_ref("ed", "pk", "packed, first rewrite");
		sh("sed 's|^%s refs/heads/pk$|%s refs/heads/pk|' ed/.git/packed-refs >ed/p2 && "
		   "touch -r ed/.git/packed-refs ed/p2 && mv ed/p2 ed/.git/packed-refs", a, b);
		is_int(wait_change(w), 1, "and again within the second: noticed");
		check_ref("ed", "pk", "packed, second rewrite");
		watch_close(w);
	}
}

static void test_repo_removed(void)
{
	sh("git init -q -b main gone && git -C gone commit -q --allow-empty -m x");
	struct watch *w = open_w("gone", "main", true, 0);
	ok(w != NULL, "watch on a repository about to vanish");
	if (!w)
		return;
	sh("rm -rf gone");
	struct rc_err e = { 0 };
	is_int(watch_wait(w, BOUND_MS, &e), -1, "git dir removed is an error");
	ok(strstr(e.msg, "cannot watch") != NULL, "message: %s", e.msg);
	watch_close(w);
}

int main(void)
{
	if (!mkdtemp(tmp)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	setenv("HOME", tmp, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "t", 1);
	setenv("GIT_AUTHOR_EMAIL", "t@example.invalid", 1);
	setenv("GIT_COMMITTER_NAME", "t", 1);
	setenv("GIT_COMMITTER_EMAIL", "t@example.invalid", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");

	test_read_ref();
	test_open_errors();
	test_worktree();
	test_delete_recreate();
	test_slash_branch();
	test_bare_push();
	test_follow_head();
	test_linked_worktree();
	test_polling();
	test_fd();
	test_burst();
	test_edges();
	test_repo_removed();

	char *rm = xasprintf("rm -rf '%s'", tmp);
	if (system(rm) != 0)
		diag("could not remove %s", tmp);
	free(rm);
	return done_testing();
}
