/*
 * source.h — where manifests come from: a Git revision read straight from the
 * object database (libgit2; bare repositories too, no checkout), or a plain
 * directory.  Returns every *.yaml / *.yml file under a sub-path, with its
 * path relative to the repository root (or to the directory).
 *
 * Owns: the only use of git2.h.  Enforces input limits (file size, number of
 * files); symlinks and submodules inside the tree are errors.
 */
#ifndef RC_SOURCE_H
#define RC_SOURCE_H

#include <stddef.h>

#include "util.h"

#define RC_SOURCE_MAX_FILE_SIZE (4u << 20)  /* bytes per manifest file */
#define RC_SOURCE_MAX_FILES 10000

struct source_file {
	char *path;           /* relative to the repository root, '/'-separated */
	char *data;           /* NUL-terminated copy of the content */
	size_t len;
};

struct source_files {
	struct source_file *files;   /* sorted by path */
	size_t nfiles;
	char *commit;                /* 40-hex commit id; NULL for a directory */
};

/*
 * Load manifests from repo at rev (branch, tag, sha; NULL = HEAD), under
 * subdir ("" or NULL = the whole tree).
 */
int source_load_git(const char *repo, const char *rev, const char *subdir,
		    struct source_files *ret, struct rc_err *err);
/* Load manifests from a plain directory (recursively). */
int source_load_dir(const char *dir, struct source_files *ret, struct rc_err *err);
/* Resolve rev in repo to a 40-hex commit id (ret must hold 41 bytes). */
int source_resolve(const char *repo, const char *rev, char ret[41], struct rc_err *err);
void source_files_release(struct source_files *f);

#endif
