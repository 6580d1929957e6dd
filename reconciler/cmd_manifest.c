/*
 * cmd_manifest.c — `reconciler validate` and `reconciler render`: load the
 * manifests (Git or --dir), expand them, and report.  See cli.h; the JSON
 * form of render is documented in spec/render-json.md.
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "converge.h"
#include "hostpolicy.h"
#include "manifest.h"
#include "order.h"
#include "owner.h"
#include "source.h"
#include "spec.h"
#include "unit.h"

/* What was loaded, for messages: "commit abc1234" or "directory D". */
static void describe_source(const struct cli_opts *o, const struct source_files *f, struct buf *out)
{
	if (f->commit)
		buf_addf(out, "commit %.7s", f->commit);
	else
		buf_addf(out, "directory %s", o->dir);
}

/*
 * Read and expand.  Returns 0 with *ret_desired set, or 1 after printing
 * the problem(s) to stderr (every diagnostic, then a count line).
 */
static int load_or_expand(const struct cli_opts *o, struct source_files *files, const struct source_files *read,
			  bool generate, struct rc_desired **ret_desired)
{
	struct rc_err err = { 0 };
	_cleanup_free_ char *secrets = xasprintf("%s/secrets", o->state_dir);
	struct source_file *policy = NULL;
	if (hostpolicy_read(o->policy, &policy, &err) < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		return 1;
	}
	struct converge_source src = { .repo = o->repo, .rev = o->rev, .path = o->path, .dir = o->dir,
				       .secrets_dir = secrets, .generate_secrets = generate, .host_policy = policy };
	struct buf diag = BUF_INIT;
	int rc = 0;
	if ((read ? converge_expand(&src, read, ret_desired, &diag, &err)
		  : converge_load(&src, NULL, files, ret_desired, &diag, &err)) < 0) {
		if (diag.len)
			fputs(buf_cstr(&diag), stderr);
		else
			fprintf(stderr, "reconciler: %s\n", err.msg);
		rc = 1;
	}
	buf_release(&diag);
	hostpolicy_free(policy);
	return rc;
}

int cli_load_desired(const struct cli_opts *o, struct source_files *files, struct rc_desired **ret_desired)
{
	return load_or_expand(o, files, NULL, true, ret_desired);
}

int cli_expand_desired(const struct cli_opts *o, const struct source_files *files,
		       struct rc_desired **ret_desired)
{
	return load_or_expand(o, NULL, files, true, ret_desired);
}

/* validate and render change nothing: a generated secret not made yet is digested as empty */
static int load_readonly(const struct cli_opts *o, struct source_files *files, struct rc_desired **ret_desired)
{
	return load_or_expand(o, files, NULL, false, ret_desired);
}

char *cli_repo_identity(const struct cli_opts *o)
{
	return owner_repo_identity(o->repo, o->dir, o->remote);
}

static size_t count_customers(const struct rc_desired *d)
{
	/* Units are sorted by id ("<customer>/<service>"), networks by name:
	 * collect the distinct customer names of both. */
	char **names = xcalloc(d->nunits + d->nnetworks + 1, sizeof(char *));
	size_t n = 0;
	for (size_t i = 0; i < d->nunits; i++)
		if (d->units[i].customer)
			names[n++] = d->units[i].customer;
	for (size_t i = 0; i < d->nnetworks; i++)
		if (d->networks[i].customer)
			names[n++] = d->networks[i].customer;
	qsort(names, n, sizeof(*names), strp_cmp);
	size_t distinct = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
			distinct++;
	free(names);
	return distinct;
}

static void json_str_or_null(struct buf *b, const char *s);

/* One entry of validate --json's "errors". */
static void json_diag(struct buf *b, bool first, const char *file, int line, int col, const char *msg)
{
	buf_adds(b, first ? "\n    {\"file\": " : ",\n    {\"file\": ");
	json_str_or_null(b, file);
	if (line > 0)
		buf_addf(b, ", \"line\": %d", line);
	else
		buf_adds(b, ", \"line\": null");
	if (col > 0)
		buf_addf(b, ", \"col\": %d", col);
	else
		buf_adds(b, ", \"col\": null");
	buf_adds(b, ", \"severity\": \"error\", \"message\": ");
	buf_add_json_str(b, msg);
	buf_adds(b, "}");
}

/*
 * validate --json (spec/validate-json.md): the verdict, every diagnostic and
 * a summary as one document on stdout, whatever the outcome; nothing on
 * stderr but -v chatter.  Exit codes as validate.
 */
static int validate_json(const struct cli_opts *o)
{
	struct rc_err err = { 0 };
	struct rc_diags diags = { 0 };
	_cleanup_free_ char *secrets = xasprintf("%s/secrets", o->state_dir);
	struct converge_source src = { .repo = o->repo, .rev = o->rev, .path = o->path, .dir = o->dir,
				       .secrets_dir = secrets, .diags = &diags };
	struct source_files files = { 0 };
	struct rc_desired *d = NULL;
	_cleanup_free_ size_t *order = NULL;
	bool valid = converge_load(&src, NULL, &files, &d, NULL, &err) == 0 && rc_desired_order(d, &order, &err) == 0;

	struct buf b = BUF_INIT, text = BUF_INIT;
	buf_addf(&b, "{\n  \"format\": \"reconciler-validate\",\n  \"version\": 1,\n  \"valid\": %s,\n  \"commit\": ",
		 valid ? "true" : "false");
	json_str_or_null(&b, files.commit);
	buf_adds(&b, ",\n  \"directory\": ");
	json_str_or_null(&b, o->dir);
	buf_adds(&b, ",\n  \"errors\": [");
	size_t nerrors = 0;
	if (diags.n || diags.dropped) {
		for (size_t i = 0; i < diags.n; i++)
			json_diag(&b, i == 0, diags.v[i].file, diags.v[i].line, diags.v[i].col, diags.v[i].msg);
		nerrors = diags.n + diags.dropped;
		buf_adds(&text, err.msg);  /* "invalid: N errors (commit ...)" */
	} else if (!valid) {
		json_diag(&b, true, NULL, 0, 0, err.msg);  /* no diagnostic: the one error (a revision, a repository) */
		nerrors = 1;
		buf_adds(&text, err.msg);
	}
	buf_adds(&b, nerrors ? "\n  ],\n" : "],\n");
	buf_addf(&b, "  \"summary\": {\"errors\": %zu, \"dropped\": %zu, ", nerrors, diags.dropped);
	if (valid) {
		size_t nc = count_customers(d);
		buf_addf(&b, "\"customers\": %zu, \"units\": %zu, \"networks\": %zu, \"text\": ", nc, d->nunits,
			 d->nnetworks);
		buf_addf(&text, "valid: %zu customer%s, %zu unit%s, %zu network%s (", nc, nc == 1 ? "" : "s",
			 d->nunits, d->nunits == 1 ? "" : "s", d->nnetworks, d->nnetworks == 1 ? "" : "s");
		describe_source(o, &files, &text);
		buf_adds(&text, ")");
	} else {
		buf_adds(&b, "\"customers\": null, \"units\": null, \"networks\": null, \"text\": ");
	}
	buf_add_json_str(&b, buf_cstr(&text));
	buf_adds(&b, "}\n}\n");
	int rc = valid ? 0 : 1;
	if (fwrite(buf_cstr(&b), 1, b.len, stdout) != b.len || fflush(stdout) != 0) {
		fprintf(stderr, "reconciler: cannot write the output\n");
		rc = 1;
	}
	buf_release(&text);
	buf_release(&b);
	rc_diags_release(&diags);
	rc_desired_free(d);
	source_files_release(&files);
	return rc;
}

int cmd_validate(const struct cli_opts *o)
{
	if (o->json)
		return validate_json(o);
	struct source_files files = { 0 };
	struct rc_desired *d = NULL;
	int rc = load_readonly(o, &files, &d);
	if (rc == 0) {
		/* manifest_load rejects cycles; checking here too keeps validate
		 * honest about what render and apply will need. */
		_cleanup_free_ size_t *order = NULL;
		struct rc_err err = { 0 };
		if (rc_desired_order(d, &order, &err) < 0) {
			fprintf(stderr, "reconciler: %s\n", err.msg);
			rc = 1;
		} else if (!o->quiet) {
			struct buf b = BUF_INIT;
			size_t nc = count_customers(d);
			buf_addf(&b, "valid: %zu customer%s, %zu unit%s, %zu network%s (", nc, nc == 1 ? "" : "s",
				 d->nunits, d->nunits == 1 ? "" : "s", d->nnetworks, d->nnetworks == 1 ? "" : "s");
			describe_source(o, &files, &b);
			buf_adds(&b, ")\n");
			fputs(buf_cstr(&b), stderr);
			buf_release(&b);
		}
	}
	rc_desired_free(d);
	source_files_release(&files);
	return rc;
}

/* ---- render ---- */

/* Split one canonical line "key=value" at the first '='. */
static void split_line(const char *line, size_t len, const char **ret_val, size_t *ret_keylen)
{
	const char *eq = memchr(line, '=', len);
	*ret_keylen = eq ? (size_t)(eq - line) : len;
	*ret_val = eq ? eq + 1 : line + len;
}

static void json_strn(struct buf *b, const char *s, size_t n)
{
	_cleanup_free_ char *c = xstrndup(s, n);
	buf_add_json_str(b, c);
}

static void json_str_or_null(struct buf *b, const char *s)
{
	if (s)
		buf_add_json_str(b, s);
	else
		buf_adds(b, "null");
}

static void render_json(const struct cli_opts *o, const struct rc_desired *d,
			const struct source_files *f, const size_t *order, struct buf *out)
{
	struct buf spec = BUF_INIT;
	buf_adds(out, "{\n  \"format\": \"reconciler-render\",\n  \"version\": 1,\n  \"commit\": ");
	json_str_or_null(out, f->commit);
	buf_adds(out, ",\n  \"project\": ");
	json_str_or_null(out, d->settings.project);
	buf_adds(out, ",\n  \"networks\": [");
	for (size_t i = 0; i < d->nnetworks; i++) {
		const struct rc_network *n = &d->networks[i];
		buf_adds(out, i ? ",\n    {" : "\n    {");
		buf_adds(out, "\"name\": ");
		buf_add_json_str(out, n->name);
		buf_adds(out, ", \"id\": ");
		json_str_or_null(out, n->id);
		buf_adds(out, ", \"customer\": ");
		json_str_or_null(out, n->customer);
		buf_addf(out, ", \"internal\": %s, \"subnet\": ", n->internal ? "true" : "false");
		json_str_or_null(out, n->subnet);
		buf_adds(out, "}");
	}
	buf_adds(out, d->nnetworks ? "\n  ],\n" : "],\n");
	buf_adds(out, "  \"units\": [");
	for (size_t k = 0; k < d->nunits; k++) {
		const struct rc_unit *u = &d->units[order[k]];
		buf_adds(out, k ? ",\n    {\n" : "\n    {\n");
		buf_adds(out, "      \"id\": ");
		buf_add_json_str(out, u->id);
		buf_addf(out, ",\n      \"order\": %zu,\n      \"container\": ", k);
		buf_add_json_str(out, u->container);
		buf_adds(out, ",\n      \"customer\": ");
		json_str_or_null(out, u->customer);
		buf_adds(out, ",\n      \"service\": ");
		json_str_or_null(out, u->service);
		buf_addf(out, ",\n      \"hash\": \"%s\",\n      \"base_hash\": \"%s\",\n", u->hash, u->base_hash);
		buf_adds(out, "      \"depends_on\": [");
		for (size_t j = 0; j < u->ndeps; j++) {
			buf_adds(out, j ? ", {\"unit\": " : "{\"unit\": ");
			buf_add_json_str(out, u->deps[j].unit);
			buf_adds(out, ", \"condition\": ");
			buf_add_json_str(out, rc_dep_cond_name(u->deps[j].cond));
			buf_adds(out, u->deps[j].restart ? ", \"restart\": true}" : "}");
		}
		buf_adds(out, "],\n      \"source\": {\"file\": ");
		json_str_or_null(out, u->file);
		buf_addf(out, ", \"line\": %d},\n      \"spec\": {", u->line);
		buf_reset(&spec);
		spec_canonical(u, true, &spec);
		const char *p = buf_cstr(&spec);
		bool first = true;
		while (*p) {
			size_t len = strcspn(p, "\n");
			const char *val;
			size_t keylen;
			split_line(p, len, &val, &keylen);
			buf_adds(out, first ? "\n        " : ",\n        ");
			first = false;
			json_strn(out, p, keylen);
			buf_adds(out, ": ");
			json_strn(out, val, (size_t)(p + len - val));
			p += len;
			if (*p == '\n')
				p++;
		}
		buf_adds(out, first ? "}\n    }" : "\n      }\n    }");
	}
	buf_adds(out, d->nunits ? "\n  ]\n}\n" : "]\n}\n");
	buf_release(&spec);
	(void)o;
}

static void render_text(const struct rc_desired *d, const size_t *order, struct buf *out)
{
	struct buf spec = BUF_INIT;
	for (size_t i = 0; i < d->nnetworks; i++) {
		const struct rc_network *n = &d->networks[i];
		buf_addf(out, "network %s\n  id: %s\n  customer: %s\n  internal: %s\n  subnet: %s\n\n", n->name,
			 n->id ? n->id : "-", n->customer ? n->customer : "-", n->internal ? "yes" : "no",
			 n->subnet ? n->subnet : "(allocated)");
	}
	for (size_t k = 0; k < d->nunits; k++) {
		const struct rc_unit *u = &d->units[order[k]];
		buf_addf(out, "unit %s\n  order: %zu\n  container: %s\n  hash: %s\n  base-hash: %s\n  depends-on:",
			 u->id, k, u->container, u->hash, u->base_hash);
		if (u->ndeps == 0)
			buf_adds(out, " -");
		for (size_t j = 0; j < u->ndeps; j++)
			buf_addf(out, "%s %s (%s)", j ? "," : "", u->deps[j].unit, rc_dep_cond_name(u->deps[j].cond));
		buf_adds(out, "\n  spec:\n");
		buf_reset(&spec);
		spec_canonical(u, true, &spec);
		const char *p = buf_cstr(&spec);
		while (*p) {
			size_t len = strcspn(p, "\n");
			_cleanup_free_ char *line = xstrndup(p, len);
			_cleanup_free_ char *shown = str_shown(line);   /* no ESC or CR of a value reaches the terminal */
			buf_adds(out, "    ");
			buf_adds(out, shown);
			buf_addc(out, '\n');
			p += len;
			if (*p == '\n')
				p++;
		}
		buf_addc(out, '\n');
	}
	buf_release(&spec);
}

int cmd_render(const struct cli_opts *o)
{
	struct source_files files = { 0 };
	struct rc_desired *d = NULL;
	int rc = load_readonly(o, &files, &d);
	if (rc != 0) {
		source_files_release(&files);
		return rc;
	}
	_cleanup_free_ size_t *order = NULL;
	struct rc_err err = { 0 };
	if (rc_desired_order(d, &order, &err) < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		rc = 1;
	} else {
		struct buf out = BUF_INIT;
		if (o->json)
			render_json(o, d, &files, order, &out);
		else
			render_text(d, order, &out);
		if (fwrite(buf_cstr(&out), 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
			fprintf(stderr, "reconciler: cannot write the output\n");
			rc = 1;
		}
		buf_release(&out);
	}
	rc_desired_free(d);
	source_files_release(&files);
	return rc;
}
