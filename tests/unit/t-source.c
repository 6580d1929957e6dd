/*
 * Unit tests for source.c against real repositories made with git(1) in a
 * temporary directory: working and bare repositories, every kind of rev,
 * sub-path filtering, limits, and what must be refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "source.h"
#include "tap.h"
#include "util.h"

static char tmp[] = "/tmp/rc-t-source.XXXXXX";

/* Run a shell command in the temp dir; returns its exit status. */
RC_PRINTF(1, 2)
static int sh(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	buf_addf(&b, "cd '%s' && { ", tmp);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	buf_adds(&b, "; } >/dev/null 2>&1");
	int rc = system(b.data);
	buf_release(&b);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* First line of a command's stdout (run in the temp dir). */
RC_PRINTF(1, 2)
static char *sh_out(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	buf_addf(&b, "cd '%s' && ", tmp);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	FILE *p = popen(b.data, "r");
	buf_release(&b);
	char line[256] = "";
	if (!p || !fgets(line, sizeof(line), p))
		line[0] = '\0';
	if (p)
		pclose(p);
	line[strcspn(line, "\n")] = '\0';
	return xstrdup(line);
}

static char *tpath(const char *rel)
{
	return xasprintf("%s/%s", tmp, rel);
}

/* "a.yaml,b.yml,..." of the paths loaded. */
static char *paths_of(const struct source_files *f)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < f->nfiles; i++)
		buf_addf(&b, "%s%s", i ? "," : "", f->files[i].path);
	return buf_detach(&b, NULL);
}

static const char *content_of(const struct source_files *f, const char *path)
{
	for (size_t i = 0; i < f->nfiles; i++)
		if (strcmp(f->files[i].path, path) == 0)
			return f->files[i].data;
	return NULL;
}

#define GIT "git -c user.email=t@example.invalid -c user.name=t -c init.defaultBranch=main " \
	    "-c protocol.file.allow=always -c advice.detachedHead=false"

/* Loads and checks the list of paths; returns 0/-1 like the loader. */
static int expect_git(const char *repo_rel, const char *rev, const char *sub, const char *want,
		      const char *name)
{
	_cleanup_free_ char *repo = tpath(repo_rel);
	struct source_files f = { 0 };
	struct rc_err err = { 0 };
	int rc = source_load_git(repo, rev, sub, &f, &err);
	if (!ok(rc == 0, "%s: loads", name)) {
		diag("error: %s", err.msg);
		return -1;
	}
	_cleanup_free_ char *got = paths_of(&f);
	is_str(got, want, "%s: paths", name);
	source_files_release(&f);
	return 0;
}

/* Expects failure with a message containing each of the NULL-terminated needles. */
static void expect_git_fail(const char *repo, const char *rev, const char *sub, const char *name, ...)
{
	struct source_files f = { 0 };
	struct rc_err err = { 0 };
	int rc = source_load_git(repo, rev, sub, &f, &err);
	ok(rc == -1, "%s: fails", name);
	ok(f.files == NULL && f.nfiles == 0 && f.commit == NULL, "%s: ret untouched", name);
	va_list ap;
	va_start(ap, name);
	for (const char *s; (s = va_arg(ap, const char *));)
		ok(strstr(err.msg, s) != NULL, "%s: message has '%s' (%s)", name, s, err.msg);
	va_end(ap);
	if (rc == 0)
		source_files_release(&f);
}

static void setup_repo(void)
{
	int rc = sh("mkdir -p work && cd work && " GIT " init -q && mkdir -p sub/deep other .github && "
		    "printf 'kind: A\\n' >a.yaml && printf 'kind: B\\n' >b.yml && echo doc >README.md && "
		    "echo x >sub/notes.txt && printf 'kind: C\\n' >sub/c.yaml && "
		    "printf 'kind: D\\n' >sub/deep/d.yaml && printf 'kind: E\\n' >other/e.yaml && "
		    "echo 'on: push' >.github/ci.yml && echo '' >.hidden.yaml && echo z >sub/x.yaml.orig && "
		    GIT " add -A && " GIT " commit -q -m one && " GIT " tag v1 && "
		    GIT " checkout -q -b feature && printf 'kind: F\\n' >sub/f.yaml && " GIT " add -A && "
		    GIT " commit -q -m feature && " GIT " checkout -q main && "
		    "printf 'kind: A2\\n' >a.yaml && " GIT " commit -q -am two && "
		    GIT " tag -a -m annotated v2 && "
		    "cd .. && " GIT " clone -q --bare work bare.git && " GIT " clone -q bare.git clone");
	ok(rc == 0, "test repositories made with git");
}

static void test_revs(void)
{
	const char *all = "a.yaml,b.yml,other/e.yaml,sub/c.yaml,sub/deep/d.yaml";
	expect_git("work", NULL, NULL, all, "HEAD (NULL rev), whole tree");
	expect_git("work", "HEAD", "", all, "HEAD");
	expect_git("work", "feature", "", "a.yaml,b.yml,other/e.yaml,sub/c.yaml,sub/deep/d.yaml,sub/f.yaml",
		   "branch");
	expect_git("work", "refs/heads/feature", "sub", "sub/c.yaml,sub/deep/d.yaml,sub/f.yaml",
		   "full ref name and sub-path");

	_cleanup_free_ char *head = sh_out(GIT " -C work rev-parse HEAD");
	_cleanup_free_ char *one = sh_out(GIT " -C work rev-parse v1");
	_cleanup_free_ char *feat = sh_out(GIT " -C work rev-parse feature");
	_cleanup_free_ char *v2 = sh_out(GIT " -C work rev-parse 'v2^{commit}'");
	_cleanup_free_ char *v2tag = sh_out(GIT " -C work rev-parse v2");
	ok(strlen(head) == 40 && strcmp(v2, head) == 0 && strcmp(v2tag, head) != 0,
	   "v2 is an annotated tag object pointing at HEAD");

	_cleanup_free_ char *repo = tpath("work");
	struct { const char *rev; const char *want; } revs[] = {
		{ "HEAD", head }, { "main", head }, { "v1", one }, { "v2", v2 },
		{ "feature", feat }, { "HEAD~1", one }, { "main^", one },
	};
	for (size_t i = 0; i < ARRAY_SIZE(revs); i++) {
		char id[41] = "";
		struct rc_err err = { 0 };
		int rc = source_resolve(repo, revs[i].rev, id, &err);
		is_int(rc, 0, "resolve '%s' %s", revs[i].rev, err.msg);
		is_str(id, revs[i].want, "resolve '%s' gives the commit", revs[i].rev);
	}
	char full[41], shortsha[8];
	snprintf(full, sizeof(full), "%s", one);
	snprintf(shortsha, sizeof(shortsha), "%s", one);
	char id[41] = "";
	struct rc_err err = { 0 };
	is_int(source_resolve(repo, full, id, &err), 0, "resolve a full sha");
	is_str(id, one, "full sha resolves to itself");
	is_int(source_resolve(repo, shortsha, id, &err), 0, "resolve a short sha");
	is_str(id, one, "short sha resolves to the commit");

	/* Content comes from the commit, not the work tree. */
	struct source_files f = { 0 };
	is_int(source_load_git(repo, "v1", "", &f, &err), 0, "load at the lightweight tag");
	is_str(content_of(&f, "a.yaml"), "kind: A\n", "content at v1");
	is_str(f.commit, one, "commit id recorded");
	source_files_release(&f);
	is_int(source_load_git(repo, "v2", "", &f, &err), 0, "load at the annotated tag");
	is_str(content_of(&f, "a.yaml"), "kind: A2\n", "content at v2 (peeled)");
	is_str(f.commit, head, "annotated tag peeled to its commit");
	ok(f.nfiles > 0 && f.files[0].len == strlen("kind: A2\n") &&
	   f.files[0].data[f.files[0].len] == '\0', "length and NUL terminator");
	source_files_release(&f);
	is_int(source_load_git(repo, shortsha, "", &f, &err), 0, "load at a short sha");
	is_str(f.commit, one, "short sha: full commit id recorded");
	source_files_release(&f);
	source_files_release(&f); /* released twice is harmless */

	/* The work tree's uncommitted changes are not seen. */
	ok(sh("printf 'dirty\\n' >work/a.yaml && printf 'new\\n' >work/new.yaml") == 0, "dirty the work tree");
	is_int(source_load_git(repo, NULL, NULL, &f, &err), 0, "load HEAD of a dirty work tree");
	is_str(content_of(&f, "a.yaml"), "kind: A2\n", "committed content, not the work tree's");
	ok(content_of(&f, "new.yaml") == NULL, "untracked files not seen");
	source_files_release(&f);
	sh(GIT " -C work checkout -q a.yaml && rm work/new.yaml");
}

static void test_bare_and_clone(void)
{
	const char *all = "a.yaml,b.yml,other/e.yaml,sub/c.yaml,sub/deep/d.yaml";
	expect_git("bare.git", NULL, NULL, all, "bare clone at HEAD");
	expect_git("bare.git", "v1", "sub", "sub/c.yaml,sub/deep/d.yaml", "bare clone at a tag, sub-path");
	expect_git("clone", "origin/feature", "sub", "sub/c.yaml,sub/deep/d.yaml,sub/f.yaml",
		   "origin/x revspec in a clone");
	expect_git("clone/.git", "HEAD", "", all, "the .git directory of a clone");
	_cleanup_free_ char *a = sh_out(GIT " -C work rev-parse HEAD");
	_cleanup_free_ char *repo = tpath("bare.git");
	char id[41] = "";
	struct rc_err err = { 0 };
	is_int(source_resolve(repo, "HEAD", id, &err), 0, "resolve in a bare repository");
	is_str(id, a, "bare HEAD is the origin's HEAD");
	/* A packed-refs-only repository (what a fresh bare clone is). */
	ok(sh("test ! -e bare.git/refs/heads/main && grep -q refs/heads/main bare.git/packed-refs") == 0,
	   "bare clone keeps its refs in packed-refs only");
}

/* The branch watch's reads (watch.c): the directories, the ref, the last
 * name a symbolic chain reaches, and out-parameters left alone on failure. */
static void test_refs(void)
{
	struct rc_err err = { 0 };
	struct source_refs *h = (struct source_refs *)&err;  /* a sentinel */
	_cleanup_free_ char *plain = tpath("plain-dir");
	sh("mkdir -p plain-dir");
	is_int(source_refs_open(plain, &h, &err), -1, "refs: a plain directory is refused");
	ok(strstr(err.msg, "not a git repository") != NULL, "refs: says so: %s", err.msg);
	ok(h == (struct source_refs *)&err, "refs: *ret untouched on failure");

	ok(sh(GIT " -C work worktree add -q ../wt v1 && ln -s wt wt-link") == 0, "refs: a linked work tree");
	_cleanup_free_ char *real = realpath(tmp, NULL);
	_cleanup_free_ char *link = tpath("wt-link");
	_cleanup_free_ char *gd = xasprintf("%s/work/.git/worktrees/wt", real);
	_cleanup_free_ char *cd = xasprintf("%s/work/.git", real);
	h = NULL;
	is_int(source_refs_open(link, &h, &err), 0, "refs: opened through a symbolic link");
	if (h) {
		is_str(source_refs_gitdir(h), gd, "refs: the work tree's git dir, no trailing '/'");
		is_str(source_refs_commondir(h), cd, "refs: the common dir");
		char out[41] = "";
		char *target = NULL;
		_cleanup_free_ char *v1 = sh_out(GIT " -C work rev-parse v1^{commit}");
		is_int(source_refs_resolve(h, "HEAD", out, &target, &err), 1, "refs: detached HEAD found");
		is_str(out, v1, "refs: detached HEAD is the commit checked out");
		is_str(target, "HEAD", "refs: a detached HEAD is its own last name");
		free(target);
		target = NULL;
		_cleanup_free_ char *main_id = sh_out(GIT " -C work rev-parse main");
		is_int(source_refs_resolve(h, "refs/heads/main", out, &target, &err), 1,
		       "refs: a branch read from the common dir");
		is_str(out, main_id, "refs: main as git rev-parse says");
		free(target);
		source_refs_close(h);
	}
	source_refs_close(NULL);

	ok(sh(GIT " init -q -b trunk unborn && printf garbage >work/.git/refs/heads/junk") == 0,
	   "refs: an unborn repository and a garbage ref");
	_cleanup_free_ char *unborn = tpath("unborn");
	char out[41] = "x";
	char *target = NULL;
	is_int(source_ref_resolve(unborn, "HEAD", out, &target, &err), 0, "refs: unborn HEAD is absent");
	is_str(out, "", "refs: absent gives an empty string");
	is_str(target, "refs/heads/trunk", "refs: the branch HEAD will move, before it exists");
	free(target);
	target = (char *)"untouched";
	snprintf(out, sizeof(out), "untouched");
	_cleanup_free_ char *work = tpath("work");
	is_int(source_ref_resolve(work, "refs/heads/junk", out, &target, &err), -1, "refs: a garbage ref is an error");
	ok(strstr(err.msg, "'refs/heads/junk'") != NULL && strstr(err.msg, work) != NULL,
	   "refs: the message names the ref and the repository: %s", err.msg);
	is_str(out, "untouched", "refs: out untouched on failure");
	is_str(target, "untouched", "refs: *ret_target untouched on failure");
	sh("rm -f work/.git/refs/heads/junk");
}

static void test_subdir(void)
{
	expect_git("work", "HEAD", "sub", "sub/c.yaml,sub/deep/d.yaml", "sub-path");
	expect_git("work", "HEAD", "./sub/", "sub/c.yaml,sub/deep/d.yaml", "sub-path normalised");
	expect_git("work", "HEAD", "sub//deep", "sub/deep/d.yaml", "nested sub-path");
	expect_git("work", "HEAD", ".", "a.yaml,b.yml,other/e.yaml,sub/c.yaml,sub/deep/d.yaml", "'.' is the root");
	expect_git("work", "HEAD", "/", "a.yaml,b.yml,other/e.yaml,sub/c.yaml,sub/deep/d.yaml", "'/' is the root");
	_cleanup_free_ char *repo = tpath("work");
	expect_git_fail(repo, "HEAD", "nope", "missing sub-path", "'nope'", "no path", (char *)NULL);
	expect_git_fail(repo, "HEAD", "README.md", "sub-path is a file", "'README.md'", "not a directory",
			(char *)NULL);
	expect_git_fail(repo, "HEAD", "../x", "sub-path with ..", "'..'", (char *)NULL);
	expect_git_fail(repo, "HEAD", "sub/../..", "sub-path with .. inside", "'..'", (char *)NULL);
}

static void test_refused(void)
{
	_cleanup_free_ char *work = tpath("work");
	_cleanup_free_ char *plain = tpath("plain");
	_cleanup_free_ char *missing = tpath("missing");
	_cleanup_free_ char *empty = tpath("empty");
	expect_git_fail(work, "nope", NULL, "missing rev", "cannot resolve 'nope' in '", work, (char *)NULL);
	expect_git_fail(work, "deadbeef", NULL, "missing sha", "cannot resolve 'deadbeef'", (char *)NULL);
	expect_git_fail(work, "HEAD^{tree}", NULL, "rev naming a tree", "'HEAD^{tree}'", (char *)NULL);
	ok(sh("mkdir plain && echo 'kind: x' >plain/a.yaml") == 0, "a plain directory");
	expect_git_fail(plain, NULL, NULL, "not a repository", "cannot open repository '", plain, (char *)NULL);
	expect_git_fail(missing, NULL, NULL, "missing path", "cannot open repository '", missing, (char *)NULL);
	ok(sh(GIT " init -q empty") == 0, "a repository without commits");
	expect_git_fail(empty, NULL, NULL, "unborn HEAD", "cannot resolve 'HEAD'", (char *)NULL);
	char id[41] = "unchanged";
	struct rc_err err = { 0 };
	is_int(source_resolve(work, "nope", id, &err), -1, "resolve of a missing rev fails");
	is_str(id, "unchanged", "resolve leaves ret untouched on failure");
	is_int(source_resolve(plain, "HEAD", id, &err), -1, "resolve in a non-repository fails");

	/* Symlinks and submodules in the manifest path. */
	ok(sh("cd work && " GIT " checkout -q -b links && ln -s ../a.yaml sub/link.yaml && "
	      GIT " add -A && " GIT " commit -q -m link") == 0, "commit a symlink");
	expect_git_fail(work, "links", NULL, "symlink in the tree", "'sub/link.yaml'", "symbolic link", (char *)NULL);
	expect_git_fail(work, "links", "sub", "symlink under the sub-path", "'sub/link.yaml'", (char *)NULL);
	expect_git("work", "links", "other", "other/e.yaml", "symlink outside the sub-path is not looked at");
	ok(sh("cd work && ln -s sub linkdir && " GIT " add -A && " GIT " commit -q -m linkdir") == 0,
	   "commit a symlinked directory");
	expect_git_fail(work, "links", "linkdir", "sub-path is a symlink", "'linkdir'", "symbolic link",
			(char *)NULL);
	_cleanup_free_ char *head = sh_out(GIT " -C work rev-parse main");
	ok(sh("cd work && " GIT " checkout -q -b mods main && " GIT " update-index --add --cacheinfo "
	      "160000,%s,sub/module && " GIT " commit -q -m submodule", head) == 0, "commit a submodule entry");
	expect_git_fail(work, "mods", NULL, "submodule in the tree", "'sub/module'", "submodule", (char *)NULL);
	expect_git("work", "mods", "other", "other/e.yaml", "submodule outside the sub-path is not looked at");
	sh(GIT " -C work checkout -q main");
}

static void test_empty_and_limits(void)
{
	ok(sh("mkdir e && cd e && " GIT " init -q && " GIT " commit -q --allow-empty -m empty") == 0,
	   "a commit with an empty tree");
	expect_git("e", NULL, NULL, "", "empty tree loads no files");
	ok(sh("cd e && echo x >README && " GIT " add -A && " GIT " commit -q -m readme") == 0, "no yaml at all");
	expect_git("e", NULL, NULL, "", "a tree without yaml loads no files");

	/* Size: exactly the limit is fine, one byte more is not. */
	ok(sh("mkdir big && cd big && " GIT " init -q && head -c %u /dev/zero | tr '\\0' '#' >ok.yaml && "
	      GIT " add -A && " GIT " commit -q -m ok && " GIT " tag ok && "
	      "head -c %u /dev/zero | tr '\\0' '#' >big.yaml && " GIT " add -A && " GIT " commit -q -m big && "
	      "head -c %u /dev/zero | tr '\\0' '#' >big.txt && " GIT " rm -q big.yaml && "
	      GIT " add -A && " GIT " commit -q -m txt",
	      RC_SOURCE_MAX_FILE_SIZE, RC_SOURCE_MAX_FILE_SIZE + 1, RC_SOURCE_MAX_FILE_SIZE + 1) == 0,
	   "repository with big files");
	expect_git("big", "ok", NULL, "ok.yaml", "a file of exactly the size limit");
	_cleanup_free_ char *big = tpath("big");
	expect_git_fail(big, "HEAD~1", NULL, "a file over the size limit", "'big.yaml'", "larger than",
			(char *)NULL);
	expect_git("big", "HEAD", NULL, "ok.yaml", "a big non-yaml file is not read");

	/* Number of files: the limit is fine, one more is not. */
	ok(sh("mkdir many && cd many && " GIT " init -q && mkdir d && cd d && "
	      "i=0; while [ $i -lt %d ]; do echo 'x: 1' >f$i.yaml; i=$((i+1)); done && cd .. && "
	      GIT " add -A && " GIT " commit -q -m many && " GIT " tag max && echo 'x: 1' >one-more.yml && "
	      GIT " add -A && " GIT " commit -q -m more", RC_SOURCE_MAX_FILES) == 0,
	   "repository with many files");
	_cleanup_free_ char *many = tpath("many");
	struct source_files f = { 0 };
	struct rc_err err = { 0 };
	is_int(source_load_git(many, "max", NULL, &f, &err), 0, "exactly the file limit loads");
	is_int(f.nfiles, RC_SOURCE_MAX_FILES, "all files loaded");
	int sorted = 1;
	for (size_t i = 1; i < f.nfiles; i++)
		sorted &= strcmp(f.files[i - 1].path, f.files[i].path) < 0;
	ok(sorted, "paths strictly sorted");
	source_files_release(&f);
	expect_git_fail(many, "HEAD", NULL, "one file over the limit", "too many manifest files", (char *)NULL);
	is_int(source_load_dir(many, &f, &err), -1, "directory over the file limit fails");
	ok(strstr(err.msg, "too many") != NULL, "directory: %s", err.msg);
}

static void test_dir(void)
{
	_cleanup_free_ char *work = tpath("work");
	struct source_files f = { 0 };
	struct rc_err err = { 0 };
	is_int(source_load_dir(work, &f, &err), 0, "load a plain directory %s", err.msg);
	_cleanup_free_ char *got = paths_of(&f);
	is_str(got, "a.yaml,b.yml,other/e.yaml,sub/c.yaml,sub/deep/d.yaml",
	       "directory: sorted, nested, .git and hidden files skipped");
	is_str(content_of(&f, "sub/deep/d.yaml"), "kind: D\n", "directory: content");
	ok(f.commit == NULL, "directory: no commit");
	source_files_release(&f);

	_cleanup_free_ char *sub = tpath("work/sub");
	is_int(source_load_dir(sub, &f, &err), 0, "load a sub-directory");
	free(got);
	got = paths_of(&f);
	is_str(got, "c.yaml,deep/d.yaml", "directory: paths relative to the given directory");
	source_files_release(&f);

	ok(sh("mkdir d1 && printf 'a\\n' >d1/z.yaml && mkdir d1/a && printf 'b\\n' >d1/a/z.yml && "
	      "ln -s z.yaml d1/link.yaml") == 0, "directory with a symlinked file");
	_cleanup_free_ char *d1 = tpath("d1");
	is_int(source_load_dir(d1, &f, &err), -1, "symlinked file refused");
	ok(strstr(err.msg, "'link.yaml'") && strstr(err.msg, "symbolic link"), "names it: %s", err.msg);
	ok(f.files == NULL, "ret untouched");
	ok(sh("rm d1/link.yaml && ln -s a d1/linkdir") == 0, "directory with a symlinked directory");
	is_int(source_load_dir(d1, &f, &err), -1, "symlinked directory refused");
	ok(strstr(err.msg, "'linkdir'") != NULL, "names it: %s", err.msg);
	ok(sh("rm d1/linkdir && mkfifo d1/a/pipe.yaml") == 0, "directory with a fifo named .yaml");
	is_int(source_load_dir(d1, &f, &err), -1, "fifo refused (and not blocked on)");
	ok(strstr(err.msg, "'a/pipe.yaml'") && strstr(err.msg, "not a regular file"), "names it: %s", err.msg);
	ok(sh("rm d1/a/pipe.yaml && head -c %u /dev/zero >d1/a/big.yaml", RC_SOURCE_MAX_FILE_SIZE + 1) == 0,
	   "directory with a big file");
	is_int(source_load_dir(d1, &f, &err), -1, "big file refused");
	ok(strstr(err.msg, "'a/big.yaml'") && strstr(err.msg, "larger than"), "names it: %s", err.msg);
	ok(sh("rm d1/a/big.yaml") == 0, "remove it");
	is_int(source_load_dir(d1, &f, &err), 0, "clean directory loads");
	free(got);
	got = paths_of(&f);
	is_str(got, "a/z.yml,z.yaml", "sorted by full path");
	source_files_release(&f);

	ok(sh("mkdir d2") == 0, "an empty directory");
	_cleanup_free_ char *d2 = tpath("d2");
	is_int(source_load_dir(d2, &f, &err), 0, "empty directory loads");
	is_int(f.nfiles, 0, "no files");
	source_files_release(&f);

	_cleanup_free_ char *missing = tpath("nodir");
	is_int(source_load_dir(missing, &f, &err), -1, "missing directory fails");
	ok(strstr(err.msg, missing) != NULL, "names it: %s", err.msg);
	_cleanup_free_ char *file = tpath("work/a.yaml");
	is_int(source_load_dir(file, &f, &err), -1, "a file is not a directory");

	/* Unreadable sub-directory (skipped when running as root: root reads anything). */
	if (geteuid() != 0) {
		ok(sh("mkdir -p d3/locked && echo 'a: 1' >d3/locked/x.yaml && chmod 000 d3/locked") == 0,
		   "unreadable directory");
		_cleanup_free_ char *d3 = tpath("d3");
		is_int(source_load_dir(d3, &f, &err), -1, "unreadable directory fails");
		ok(strstr(err.msg, "locked") != NULL, "names it: %s", err.msg);
		sh("chmod 755 d3/locked");
	}
}

/* Build contexts: the tree id of a directory at a commit, and the tar stream of it. */
static void test_build_context(void)
{
	_cleanup_free_ char *repo = tpath("ctx");
	const char *longdir = "a123456789/b123456789/c123456789/d123456789/e123456789/f123456789/"
			      "g123456789/h123456789/i123456789/j123456789";
	ok(sh(GIT " init -q ctx && cd ctx && mkdir -p app/conf other && "
	      "printf 'FROM x\\n' >app/Dockerfile && echo hi >app/conf/hello.txt && "
	      "printf '#!/bin/sh\\n' >app/run.sh && chmod +x app/run.sh && ln -s run.sh app/link && "
	      "echo o >other/readme && " GIT " add -A && " GIT " commit -q -m init") == 0,
	   "a repository with an app directory");
	ok(sh("cd ctx && mkdir -p app/%s && echo deep >app/%s/file.txt && "
	      GIT " add -A && " GIT " commit -q -m deep", longdir, longdir) == 0,
	   "a file deeper than 100 bytes of path");
	_cleanup_free_ char *want = sh_out(GIT " -C ctx rev-parse HEAD:app");
	_cleanup_free_ char *root = sh_out(GIT " -C ctx rev-parse 'HEAD^{tree}'");
	char id[41] = "";
	struct rc_err err = { 0 };
	is_int(source_build_tree(repo, "HEAD", "./app/", "Dockerfile", id, &err), 0, "the context resolves");
	is_str(id, want, "to the directory's tree id");
	is_int(source_build_tree(repo, NULL, "", "app/Dockerfile", id, &err), 0, "the root as the context");
	is_str(id, root, "to the commit's tree");
	char keep[41] = "unchanged";
	struct rc_err e1 = { 0 }, e2 = { 0 }, e3 = { 0 };
	is_int(source_build_tree(repo, "HEAD", "nosuch", "Dockerfile", keep, &e1), -1, "a missing context");
	ok(strstr(e1.msg, "no directory 'nosuch' in commit") != NULL, "says so: %s", e1.msg);
	is_str(keep, "unchanged", "ret untouched on failure");
	is_int(source_build_tree(repo, "HEAD", "other", "Dockerfile", keep, &e2), -1, "no Dockerfile");
	ok(strstr(e2.msg, "no file 'Dockerfile' in directory 'other'") != NULL, "says so: %s", e2.msg);
	is_int(source_build_tree(repo, "HEAD", "app", "conf", keep, &e3), -1, "a Dockerfile that is a directory");
	ok(strstr(e3.msg, "is not a regular file") != NULL, "says so: %s", e3.msg);

	struct buf tar = BUF_INIT;
	is_int(source_tree_tar(repo, want, &tar, &err), 0, "the context as a tar stream");
	ok(tar.len % 512 == 0 && tar.len >= 1024, "whole blocks, with the end marker");
	_cleanup_free_ char *tarpath = tpath("ctx.tar");
	is_int(write_file_atomic(tarpath, tar.data, tar.len, 0600, &err), 0, "written out");
	ok(sh("mkdir x && tar -xf ctx.tar -C x && cmp x/Dockerfile ctx/app/Dockerfile && "
	      "cmp x/conf/hello.txt ctx/app/conf/hello.txt && test -x x/run.sh && test ! -x x/Dockerfile && "
	      "test \"$(readlink x/link)\" = run.sh && cmp x/%s/file.txt ctx/app/%s/file.txt && "
	      "test ! -e x/readme", longdir, longdir) == 0,
	   "tar(1) extracts the files, modes, the link and the long path; nothing from outside");
	struct buf again = BUF_INIT;
	is_int(source_tree_tar(repo, want, &again, &err), 0, "again");
	ok(again.len == tar.len && memcmp(again.data, tar.data, tar.len) == 0, "the same tree gives the same bytes");
	buf_release(&again);
	buf_release(&tar);

	/* a submodule in the context is refused */
	_cleanup_free_ char *head = sh_out(GIT " -C ctx rev-parse HEAD");
	ok(sh("cd ctx && " GIT " update-index --add --cacheinfo 160000,%s,app/sub && " GIT " commit -q -m sub",
	      head) == 0, "commit a submodule entry");
	_cleanup_free_ char *withsub = sh_out(GIT " -C ctx rev-parse HEAD:app");
	struct buf t2 = BUF_INIT;
	struct rc_err e4 = { 0 };
	is_int(source_tree_tar(repo, withsub, &t2, &e4), -1, "a submodule in the context");
	ok(strstr(e4.msg, "'sub' is a submodule") != NULL, "says so: %s", e4.msg);
	ok(t2.len == 0, "out untouched on failure");
	buf_release(&t2);
}

int main(void)
{
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	setup_repo();
	test_revs();
	test_bare_and_clone();
	test_refs();
	test_subdir();
	test_refused();
	test_empty_and_limits();
	test_dir();
	test_build_context();
	sh("chmod -R u+rwx . ; cd / && rm -rf '%s'", tmp);
	return done_testing();
}
