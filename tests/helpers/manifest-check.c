/*
 * manifest-check — load manifests from a file or a directory (every *.yaml /
 * *.yml below it, paths relative to it) with manifest_load() and print the
 * result, for the golden tests (tests/t/t0150-manifest-golden.sh):
 *
 *   manifest-check [-s SECRETS_DIR] PATH
 *
 * On failure prints the diagnostics and exits 1; on success prints every
 * network and every unit with its hashes and canonical spec, exits 0.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "manifest.h"
#include "spec.h"
#include "util.h"

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct source_file *)a)->path, ((const struct source_file *)b)->path);
}

static void add_file(struct source_files *f, size_t *cap, const char *full, const char *rel)
{
	struct rc_err err;
	char *data;
	size_t len;
	if (read_file(full, RC_SOURCE_MAX_FILE_SIZE, &data, &len, &err) < 0)
		die("%s", err.msg);
	GROW(f->files, f->nfiles + 1, *cap);
	f->files[f->nfiles].path = xstrdup(rel);
	f->files[f->nfiles].data = data;
	f->files[f->nfiles].len = len;
	f->nfiles++;
}

static void walk(struct source_files *f, size_t *cap, const char *dir, const char *rel)
{
	DIR *d = opendir(dir);
	if (!d)
		die("cannot open '%s'", dir);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *full = xasprintf("%s/%s", dir, e->d_name);
		char *r = *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
		struct stat st;
		if (stat(full, &st) == 0 && S_ISDIR(st.st_mode))
			walk(f, cap, full, r);
		else if (str_endswith(e->d_name, ".yaml") || str_endswith(e->d_name, ".yml"))
			add_file(f, cap, full, r);
		free(full);
		free(r);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	struct manifest_opts opts = { NULL };
	int ch;
	while ((ch = getopt(argc, argv, "s:")) != -1) {
		if (ch == 's')
			opts.secrets_dir = optarg;
		else
			return 2;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: manifest-check [-s SECRETS_DIR] PATH\n");
		return 2;
	}
	const char *path = argv[optind];
	struct source_files f = { 0 };
	size_t cap = 0;
	struct stat st;
	if (stat(path, &st) < 0)
		die("cannot stat '%s'", path);
	if (S_ISDIR(st.st_mode)) {
		walk(&f, &cap, path, "");
	} else {
		const char *base = strrchr(path, '/');
		add_file(&f, &cap, path, base ? base + 1 : path);
	}
	if (f.nfiles > 1)
		qsort(f.files, f.nfiles, sizeof(*f.files), file_cmp);

	struct rc_desired *d = NULL;
	struct rc_diags diags = { 0 };
	struct buf out = BUF_INIT;
	int rc = 0;
	if (manifest_load(&f, &opts, &d, &diags) < 0) {
		rc_diags_format(&diags, &out);
		rc = 1;
	} else {
		buf_addf(&out, "project %s\n", d->settings.project);
		for (size_t i = 0; i < d->nnetworks; i++) {
			const struct rc_network *n = &d->networks[i];
			buf_addf(&out, "network %s id=%s%s%s%s%s%s\n", n->name, n->id, n->internal ? " internal" : "",
				 n->subnet ? " subnet=" : "", n->subnet ? n->subnet : "", n->link_of ? " link_of=" : "",
				 n->link_of ? n->link_of : "");
		}
		for (size_t i = 0; i < d->nunits; i++) {
			const struct rc_unit *u = &d->units[i];
			buf_addf(&out, "unit %s container=%s plan=%s running=%d protected=%d\n", u->id, u->container,
				 u->plan ? u->plan : "-", u->running, u->protected_);
			for (size_t j = 0; j < u->ndeps; j++)
				buf_addf(&out, "  dep %s %s\n", u->deps[j].unit, rc_dep_cond_name(u->deps[j].cond));
			for (size_t j = 0; j < u->nlinks; j++)
				buf_addf(&out, "  link %s\n", u->links[j]);
			buf_addf(&out, "  restart backoff=%lld max_backoff=%lld max_failures=%d\n",
				 (long long)u->restart.backoff_ns, (long long)u->restart.max_backoff_ns,
				 u->restart.max_failures);
			struct buf spec = BUF_INIT;
			spec_canonical(u, true, &spec);
			const char *p = buf_cstr(&spec);
			while (*p) {
				const char *e = strchr(p, '\n');
				size_t len = e ? (size_t)(e - p) : strlen(p);
				buf_addf(&out, "  | %.*s\n", (int)len, p);
				p += len + (e ? 1 : 0);
			}
			buf_release(&spec);
		}
	}
	fputs(buf_cstr(&out), stdout);
	buf_release(&out);
	rc_diags_release(&diags);
	rc_desired_free(d);
	for (size_t i = 0; i < f.nfiles; i++) {
		free(f.files[i].path);
		free(f.files[i].data);
	}
	free(f.files);
	return rc;
}
