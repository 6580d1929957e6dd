/*
 * bindroot.h — who may reach a bind root on the host (spec/manifest.md,
 * "Volume rules"; docs/operations.md, "Bind mounts").
 *
 * Owns: the checks of a policy.bind_roots directory itself, made when a
 * container that mounts something below it is created.  A container runs
 * as the host's root unless told otherwise, and what it writes into a
 * writable bind mount is the host's root's: a setuid-root program, or a
 * device node of the host's disk (mknod is one of Docker's default
 * capabilities).  The bind root is the one door between those files and
 * the host's other users, so it must be shut: owned by root or by the uid
 * reconciler runs as, writable by no one else, and not enterable by others
 * (a group that may enter it is trusted).  Its owner alone may change
 * what lies below it (bindpath.h resolves each source beneath it; a
 * directory swapped for a link between that and the mount is the race
 * docs/operations.md describes).
 */
#ifndef RC_BINDROOT_H
#define RC_BINDROOT_H

#include "unit.h"
#include "util.h"

struct bindroot_reals;

/*
 * 0 when root (an absolute path; a symbolic link is bindpath.h's refusal, not
 * this one's) may hold bind sources, or does not exist (the engine then
 * refuses the source as it always has); else -1 with err saying what is
 * wrong and the chmod/chown that fixes it.
 */
int bindroot_check(const char *root, struct rc_err *err);

/*
 * The loader's nesting rule (no bind source below one a service mounts
 * writable: manifest_check.c) on real paths, for the links inside a root
 * that text cannot see (`/srv/acme/y` -> `e/sub`, below a writable
 * `/srv/acme/e`): u's bind sources, resolved, lie below no source a unit of d
 * mounts writable, resolved; and no source of d, resolved, lies below one u
 * mounts writable.  Sources that do not resolve are skipped (their own
 * create refuses them).  0, or -1 with err naming both sources.
 */
int bindroot_check_nesting(const struct rc_desired *d, const struct rc_unit *u, struct bindroot_reals *reals,
			   struct rc_err *err);

/*
 * The real paths of d's bind sources, each resolved once and kept for the
 * checks that follow (one apply: without it each create resolved every
 * writable source of d again, N x N walks — 3.6 s at 1,000 units).  reals
 * NULL above: resolved afresh for that call.  Not thread-safe: the caller
 * serialises the checks that share one.
 */
struct bindroot_reals *bindroot_reals_new(const struct rc_desired *d);
void bindroot_reals_free(struct bindroot_reals *r);

#endif
