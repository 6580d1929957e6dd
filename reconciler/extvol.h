/*
 * extvol.h — a volume made outside reconciler (`kind: Volume`, `external:
 * true`; spec/manifest.md, "Volume rules") checked on the engine before a
 * container mounts it.
 *
 * Owns: what may be mounted as an external volume.  The manifests decide the
 * name (the Settings and host policies' allow_external_volumes); what the
 * volume is can only be read from the engine, at create, since anyone with
 * the engine's socket may have made it: it must exist, must not be one
 * reconciler made (another project's data), and a `local` volume must be
 * either a bind of a directory that bindpath.h resolves inside a
 * policy.bind_roots entry, a tmpfs, or a network file system — never a host
 * block device or a bind of /etc.  Volumes of other drivers (plugins the
 * host's root installed) are taken as they are.  External volumes are never
 * created, changed or removed.
 */
#ifndef RC_EXTVOL_H
#define RC_EXTVOL_H

#include "docker.h"
#include "unit.h"

/* 0 when the engine's volume name may be mounted by d's units; else -1 with err saying why. */
int extvol_check(struct dk_client *c, const struct rc_desired *d, const char *name, struct rc_err *err);

#endif
