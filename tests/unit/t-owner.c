/* Unit tests for owner.c: the owner id, the verdicts and the refusal (no engine). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owner.h"
#include "tap.h"

static struct owner_marker marker_of(const struct owner_self *s)
{
	return (struct owner_marker){ .present = true, .id = xstrdup(s->id), .project = xstrdup(s->project),
				      .repo = xstrdup(s->repo), .state_dir = xstrdup(s->state_dir),
				      .host = xstrdup(s->host) };
}

int main(void)
{
	char tmpl[] = "/tmp/t-owner.XXXXXX";
	char *root = mkdtemp(tmpl);
	ok(root != NULL, "a scratch directory");
	if (!root)
		return done_testing();
	char *s1 = xasprintf("%s/state", root), *s2 = xasprintf("%s/other", root), *link = xasprintf("%s/via", root);
	mkdir(s1, 0700);
	mkdir(s2, 0700);
	ok(symlink(root, link) == 0, "a symbolic link to the scratch directory");
	char *s1_via = xasprintf("%s/state", link);
	struct rc_err err;
	struct owner_self a = { 0 }, a2 = { 0 }, a3 = { 0 }, b = { 0 }, p = { 0 };
	is_int(owner_self_init(&a, "acme", s1, "/srv/repo", &err), 0, "self for acme in state");
	is_int(owner_self_init(&a2, "acme", s1_via, "https://example.org/other.git", &err), 0,
	       "... again, through a link and with another repository");
	is_int(owner_self_init(&b, "acme", s2, "/srv/repo", &err), 0, "self for acme in other");
	is_int(owner_self_init(&p, "beta", s1, "/srv/repo", &err), 0, "self for beta in state");
	ok(strlen(a.id) == 32, "the id is 32 hex digits: %s", a.id);
	ok(strcmp(a.id, a2.id) == 0, "the same state directory (its real path) is the same owner, whatever the repository");
	is_str(a2.state_dir, a.state_dir, "the state directory is its real path (the link resolved)");
	ok(strcmp(a.id, b.id) != 0, "another state directory is another owner");
	ok(strcmp(a.id, p.id) != 0, "another project is another id");
	/* a state directory removed and made again at the same path: the same owner */
	rmdir(s1);
	mkdir(s1, 0700);
	is_int(owner_self_init(&a3, "acme", s1, "/srv/repo", &err), 0, "the state directory made again");
	ok(strcmp(a.id, a3.id) == 0, "... is the same owner");
	is_int(owner_self_init(&(struct owner_self){ 0 }, "acme", "/no/such/dir", "/r", &err), -1,
	       "a state directory that does not exist: -1");

	struct owner_marker none = { 0 }, mine = marker_of(&a), theirs = marker_of(&b);
	struct owner_marker stranger = { .present = true };
	is_int(owner_judge(&a, &none), OWNER_ABSENT, "no marker: absent");
	is_int(owner_judge(&a, &mine), OWNER_MINE, "our id: mine");
	is_int(owner_judge(&a3, &mine), OWNER_MINE, "... for the state directory made again too");
	is_int(owner_judge(&a, &theirs), OWNER_FOREIGN, "another state directory's: foreign");
	is_int(owner_judge(&a, &stranger), OWNER_FOREIGN, "a volume of that name without labels: foreign");

	is_int(owner_refusal(&a, &theirs, &err), -1, "the refusal");
	ok(strstr(err.msg, "project 'acme' is owned by state directory ") && strstr(err.msg, theirs.state_dir) &&
		   strstr(err.msg, "(repository /srv/repo)") && strstr(err.msg, "reconciler --take-over apply") &&
		   strstr(err.msg, "nothing was changed"),
	   "... names the owner's state directory, host and repository, and the take-over: %s", err.msg);
	owner_refusal(&a, &stranger, &err);
	ok(strstr(err.msg, "acme-reconciler-owner") && strstr(err.msg, "not made by reconciler") &&
		   !strstr(err.msg, "--take-over"),
	   "a volume reconciler did not make is no marker to take over: %s", err.msg);

	char *r = owner_repo_identity(".", NULL, "https://user:s3cret@git.example.org/acme.git");
	ok(strstr(r, "s3cret") == NULL && strstr(r, "git.example.org/acme.git"), "a remote's credentials are redacted: %s", r);
	free(r);
	r = owner_repo_identity("/srv/repo", "/no/such/dir", NULL);
	is_str(r, "dir:/no/such/dir", "--dir: dir:<path>");
	free(r);
	char *v = owner_volume_name("acme");
	is_str(v, "acme-reconciler-owner", "the marker's name");
	free(v);

	owner_marker_release(&mine);
	owner_marker_release(&theirs);
	owner_self_release(&a);
	owner_self_release(&a2);
	owner_self_release(&a3);
	owner_self_release(&b);
	owner_self_release(&p);
	unlink(link);
	rmdir(s1);
	rmdir(s2);
	rmdir(root);
	free(s1);
	free(s2);
	free(link);
	free(s1_via);
	return done_testing();
}
