/*
 * hostpolicy.h — finding and reading the host's policy file: the limits the
 * repository's Settings policy cannot lift (spec/manifest.md, "Host policy").
 *
 * Owns: which file that is — `--policy FILE`, else $RECONCILER_POLICY, else
 * /etc/reconciler/policy.yaml when it exists — and the checks that make it
 * the host's: a regular file (never through a symbolic link), owned by root
 * or the uid reconciler runs as, that group and others cannot write.  Its
 * content is parsed by the manifest loader (manifest_opts.host_policy).
 */
#ifndef RC_HOSTPOLICY_H
#define RC_HOSTPOLICY_H

#include "source.h"
#include "util.h"

#define HOSTPOLICY_DEFAULT "/etc/reconciler/policy.yaml"

/*
 * 0 with *ret the file (path and content; free with hostpolicy_free()), or
 * with *ret NULL when no file was named and the default does not exist;
 * -1 with err when the named file is missing or any file is not the host's.
 */
int hostpolicy_read(const char *path, struct source_file **ret, struct rc_err *err);
void hostpolicy_free(struct source_file *f);

#endif
