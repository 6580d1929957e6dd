/*
 * cmd_diff.c — `reconciler diff A B`: what would change between the
 * manifests at two revisions of --repo (under --path), without Docker.
 *
 * One code path with `plan`: the desired state at A is turned into a
 * synthetic plan_observed (every unit of A as a container carrying A's
 * hash, base hash and canonical spec, running or stopped as A wants it;
 * every network of A as an existing network), and the planner plans B
 * against it.  The plan is rendered by report.c (text, --markdown, --json).
 *
 * Exit: 0 no changes, 2 changes, 1 error (an invalid revision prints its
 * file:line:col: diagnostics).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "converge.h"
#include "manifest.h"
#include "planner.h"
#include "report.h"
#include "hostpolicy.h"
#include "source.h"
#include "spec.h"
#include "state.h"
#include "unit.h"

/* The desired state at rev, or 1 after printing why not. */
static int load_rev(const struct cli_opts *o, const char *rev, const char *secrets_dir, struct source_files *files,
		    struct rc_desired **ret)
{
	struct rc_err err = { 0 };
	if (source_load_git(o->repo, rev, o->path, files, &err) < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		return 1;
	}
	/* the secrets directory and the state directory are checked before a secret is read */
	struct rc_err serr = { 0 };
	bool refused = secrets_dir && state_check_secrets(secrets_dir, &serr) < 0;
	struct source_file *policy = NULL;
	if (hostpolicy_read(o->policy, &policy, &err) < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		return 1;
	}
	struct manifest_opts mo = { .secrets_dir = secrets_dir, .secrets_dir_refused = refused ? serr.msg : NULL,
				    .host_policy = policy };
	struct converge_commit cc = { .repo = o->repo, .commit = files->commit };
	mo.build_tree = converge_build_tree;
	mo.build_ctx = &cc;
	struct rc_diags diags = { 0 };
	int loaded = manifest_load(files, &mo, ret, &diags);
	hostpolicy_free(policy);
	if (loaded < 0) {
		struct buf b = BUF_INIT;
		rc_diags_sort(&diags);
		rc_diags_format(&diags, &b);
		size_t total = diags.n + diags.dropped;
		if (total == 0)
			buf_adds(&b, "reconciler: manifests rejected without a diagnostic\n");
		buf_addf(&b, "invalid: %zu error%s (%s, commit %.7s)\n", total, total == 1 ? "" : "s", rev,
			 files->commit ? files->commit : "?");
		fputs(buf_cstr(&b), stderr);
		buf_release(&b);
		rc_diags_release(&diags);
		return 1;
	}
	rc_diags_release(&diags);
	return 0;
}

/* A as if it had been applied: one running (or stopped) container per unit, one network per network. */
static void observed_from_desired(const struct rc_desired *a, struct plan_observed *ret)
{
	struct plan_observed o = { 0 };
	o.containers = xcalloc(a->nunits + 1, sizeof(*o.containers));
	for (size_t i = 0; i < a->nunits; i++) {
		const struct rc_unit *u = &a->units[i];
		struct plan_container *c = &o.containers[o.ncontainers++];
		struct buf spec = BUF_INIT;
		spec_canonical(u, true, &spec);
		c->id = xstrdup(u->container);
		c->name = xstrdup(u->container);
		c->unit = xstrdup(u->id);
		c->hash = xstrdup(u->hash);
		c->base_hash = xstrdup(u->base_hash);
		c->spec = buf_detach(&spec, NULL);
		c->commit = a->commit ? xstrdup(a->commit) : NULL;
		c->state = xstrdup(u->running ? "running" : "exited");
		c->networks = xcalloc(u->nnetworks + u->nlinks + 1, sizeof(char *));
		for (size_t j = 0; j < u->nnetworks; j++)
			c->networks[c->nnetworks++] = xstrdup(u->networks[j]);
		for (size_t j = 0; j < u->nlinks; j++)  /* as applied: on its link networks too */
			c->networks[c->nnetworks++] = xstrdup(u->links[j]);
	}
	o.networks = xcalloc(a->nnetworks + 1, sizeof(*o.networks));
	for (size_t i = 0; i < a->nnetworks; i++) {
		const struct rc_network *n = &a->networks[i];
		struct plan_net *pn = &o.networks[o.nnetworks++];
		pn->id = xstrdup(n->name);
		pn->name = xstrdup(n->name);
		pn->label = n->id ? xstrdup(n->id) : NULL;
		pn->subnet = n->subnet ? xstrdup(n->subnet) : NULL;
		pn->internal = n->internal;
	}
	*ret = o;
}

static bool use_color(const struct cli_opts *o)
{
	const char *nc = getenv("NO_COLOR");
	return !o->json && !o->markdown && !o->out && isatty(STDOUT_FILENO) && !(nc && *nc);
}

int cmd_diff(const struct cli_opts *o)
{
	if (o->argc != 2) {
		fprintf(stderr, "usage: reconciler [--repo R] [--path P] diff [--json | --markdown] A B\n");
		return 1;
	}
	if (o->json && o->markdown) {
		fprintf(stderr, "reconciler: --json and --markdown cannot be used together\n");
		return 1;
	}
	/* Secrets digest from the state dir when there is one; in CI there is
	 * none, and every secret then digests as empty (manifest.h). */
	_cleanup_free_ char *secrets = xasprintf("%s/secrets", o->state_dir);
	struct stat st;
	const char *secrets_dir = secrets;
	if (lstat(secrets, &st) < 0 && errno == ENOENT)
		secrets_dir = NULL;

	struct source_files fa = { 0 }, fb = { 0 };
	struct rc_desired *a = NULL, *b = NULL;
	struct plan_observed obs = { 0 };
	struct plan plan = { 0 };
	struct buf out = BUF_INIT;
	int rc = load_rev(o, o->argv[0], secrets_dir, &fa, &a);
	if (rc == 0)
		rc = load_rev(o, o->argv[1], secrets_dir, &fb, &b);
	if (rc != 0)
		goto out;

	observed_from_desired(a, &obs);
	struct rc_err err = { 0 };
	if (planner_plan(b, &obs, &plan, &err) < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		rc = 1;
		goto out;
	}
	struct report_input in = {
		.plan = &plan, .desired = b, .before = a, .from = fa.commit, .to = fb.commit, .diff = true,
	};
	struct report_opts ro = {
		.format = o->json ? REPORT_JSON : o->markdown ? REPORT_MARKDOWN : REPORT_TEXT,
		.color = use_color(o),
	};
	report_render(&in, &ro, &out);
	if (o->out) {
		if (write_file_atomic(o->out, buf_cstr(&out), out.len, 0644, &err) < 0) {
			fprintf(stderr, "reconciler: %s\n", err.msg);
			rc = 1;
			goto out;
		}
	} else if (fwrite(buf_cstr(&out), 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		fprintf(stderr, "reconciler: cannot write the output\n");
		rc = 1;
		goto out;
	}
	rc = plan.n || plan.nconflicts ? 2 : 0;
out:
	buf_release(&out);
	plan_release(&plan);
	plan_observed_release(&obs);
	rc_desired_free(a);
	rc_desired_free(b);
	source_files_release(&fa);
	source_files_release(&fb);
	return rc;
}
