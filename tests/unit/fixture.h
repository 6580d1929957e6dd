/*
 * fixture.h — shared fixtures of the C unit tests (header-only, after
 * tap.h): manifests loaded from text, as the loader gets them from Git.
 *
 *   struct rc_desired *d = fixture_load1("kind: Settings\n...");
 *   const char *files[] = { "a.yaml", A, "b.yaml", B, NULL };
 *   d = fixture_load(files, &opts, &diags);
 */
#ifndef RC_TEST_FIXTURE_H
#define RC_TEST_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "manifest.h"
#include "source.h"

/* The files (path, text pairs, NULL-terminated) loaded with opts (NULL: none).  NULL on failure:
 * the diagnostics go to *ret_diags (malloc'ed) when it is given, else to the TAP stream. */
__attribute__((unused))
static struct rc_desired *fixture_load(const char *const *pairs, const struct manifest_opts *opts, char **ret_diags)
{
	size_t n = 0;
	while (pairs[2 * n])
		n++;
	struct source_files f = { 0 };
	f.files = xcalloc(n + 1, sizeof(*f.files));
	for (size_t i = 0; i < n; i++) {
		f.files[i].path = xstrdup(pairs[2 * i]);
		f.files[i].data = xstrdup(pairs[2 * i + 1]);
		f.files[i].len = strlen(pairs[2 * i + 1]);
	}
	f.nfiles = n;
	struct manifest_opts none = { 0 };
	struct rc_desired *d = NULL;
	struct rc_diags diags = { 0 };
	if (manifest_load(&f, opts ? opts : &none, &d, &diags) < 0) {
		struct buf b = BUF_INIT;
		rc_diags_format(&diags, &b);
		if (ret_diags)
			*ret_diags = buf_detach(&b, NULL);
		else
			diag("load failed:\n%s", buf_cstr(&b));
		buf_release(&b);
		d = NULL;
	}
	rc_diags_release(&diags);
	for (size_t i = 0; i < n; i++) {
		free(f.files[i].path);
		free(f.files[i].data);
	}
	free(f.files);
	return d;
}

/* One file, m.yaml, loaded with no options (failures shown in the TAP stream). */
__attribute__((unused))
static struct rc_desired *fixture_load1(const char *text)
{
	const char *pairs[] = { "m.yaml", text, NULL };
	return fixture_load(pairs, NULL, NULL);
}

#endif
