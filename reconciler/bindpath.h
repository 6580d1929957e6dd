/*
 * bindpath.h — resolve a bind mount's source beneath its bind root on the
 * host, so that what the engine mounts is what the manifest's policy check
 * allowed (spec/manifest.md, "Volume rules").
 *
 * Owns: the one walk of a bind source on the host.  The manifest check is
 * textual; a symbolic link below a root (made by the host, or by a container
 * that has part of the root mounted writable) could otherwise hand a later
 * unit `/`, `/etc` or the Docker socket.
 *
 * The root is opened with no symbolic link anywhere in its path (write its
 * real path in policy.bind_roots); the rest is resolved by the kernel with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so `..` and relative
 * links may move about inside the root but never out of it.  An absolute
 * link is followed only when its target lies inside the root (the kernel
 * refuses absolute links beneath a directory; its target is taken as a path
 * below the root and resolved the same way).  What cannot be proved to stay
 * inside is refused, naming the link.
 *
 * What remains is the window between this resolution and the engine's mount
 * (and every later start of the container, when the engine mounts the path
 * again): see docs/operations.md, "Bind mounts".
 */
#ifndef RC_BINDPATH_H
#define RC_BINDPATH_H

#include "util.h"

/* Symbolic links followed at most while resolving one source (the kernel's own limit). */
#define BINDPATH_MAX_LINKS 40

/*
 * Resolve path (absolute, equal to root or below it, no `.`/`..`/empty
 * components) beneath root (absolute, clean, an existing directory reached
 * through no symbolic link).  On success *ret_resolved (malloc'ed) is the
 * real path of what path names, inside the real path of root, and 0 is
 * returned.  A path that does not exist (a component is missing, not a
 * dangling link) resolves to the real path of its longest existing part
 * followed by the missing components, unchanged: the engine then refuses it
 * as it always has ("bind source path does not exist").  A root that does
 * not exist resolves to path itself for the same reason.  Otherwise -1 with
 * err saying which link or component leaves the root.
 */
int bindpath_resolve(const char *root, const char *path, char **ret_resolved, struct rc_err *err);

/* path is root or below it (both absolute and clean; root without a trailing '/' unless it is
 * "/", which holds every absolute path).  Text only: nothing is looked up. */
bool bindpath_under(const char *path, const char *root);

/* The outermost of roots[0..nroots) holding path (bindpath_under()): the root a bind source is
 * resolved beneath.  NULL: none holds it, or path is not absolute. */
const char *bindpath_root_of(char *const *roots, size_t nroots, const char *path);

#endif
