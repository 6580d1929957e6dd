/*
 * fuzz-manifest — libFuzzer target for manifest_load(): the input is one
 * manifest file (at most 64 KiB); load, and free whatever came back.
 * Seed corpus: tests/fuzz/corpus/manifest/ (the golden fixtures and past
 * crashers).  Build with `make fuzz-build`, run with `make fuzz`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "manifest.h"
#include "spec.h"
#include "util.h"

#define MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return -1;
	struct source_file f = { (char *)"fuzz.yaml", xstrndup((const char *)data, size), size };
	struct source_files fs = { &f, 1, NULL };
	struct rc_desired *d = NULL;
	struct rc_diags diags = { 0 };
	if (manifest_load(&fs, NULL, &d, &diags) == 0) {
		/* exercise the canonical form and diff as well */
		for (size_t i = 0; i < d->nunits; i++) {
			struct buf a = BUF_INIT, b = BUF_INIT;
			struct spec_changes c;
			spec_canonical(&d->units[i], true, &a);
			spec_canonical(&d->units[i], false, &b);
			spec_diff(a.data, b.data, &c);
			if (!spec_changes_resource_only(&c))
				abort();   /* the two differ only by resource keys */
			spec_changes_release(&c);
			buf_release(&a);
			buf_release(&b);
		}
		rc_desired_free(d);
	} else {
		struct buf out = BUF_INIT;
		rc_diags_format(&diags, &out);
		buf_release(&out);
	}
	rc_diags_release(&diags);
	free(f.data);
	return 0;
}
