/*
 * regauth.h — registry credentials for image pulls, from the file
 * `docker login` writes.
 *
 * Owns: reading $DOCKER_CONFIG/config.json (default ~/.docker/config.json),
 * finding the entry of an image's registry in its "auths" and encoding it as
 * the engine's X-Registry-Auth header (base64url of {"username",
 * "password", "serveraddress"}, or {"identitytoken", "serveraddress"}).
 * Credential helpers are run as the docker CLI runs them: the registry's
 * "credHelpers" entry, else "credsStore", names NAME, and
 * `docker-credential-NAME get` (found in PATH) reads the server name
 * (Docker Hub: https://index.docker.io/v1/, else the registry host) on its
 * stdin and answers {"Username", "Secret"} ("<token>" as the user: the
 * secret is an identity token); "credentials not found" means none (an
 * anonymous pull).  A helper gets 30 s.  With a helper named, "auths" is not
 * read for that registry.  Credentials live in memory only for the pull
 * and are never logged.
 */
#ifndef RC_REGAUTH_H
#define RC_REGAUTH_H

#include "util.h"

/*
 * The registry of an image reference, as Docker reads it: the part before the
 * first '/' when it has a '.' or a ':' or is "localhost", else "docker.io".
 * malloc'ed.
 */
char *regauth_registry_of(const char *ref);

/*
 * The X-Registry-Auth value for pulling ref, from the config file at
 * config_path (NULL: $DOCKER_CONFIG/config.json, or
 * $HOME/.docker/config.json) or the credential helper it names.  0 with
 * *ret_header malloc'ed when there are credentials for ref's registry, 0
 * with *ret_header NULL when there are none (or there is no file), -1 when
 * the file cannot be read or parsed or the helper cannot be run, fails or
 * hangs (err says which).  *ret_source (may be NULL) gets where they came
 * from, for a log line (malloc'ed).  Release the header with regauth_free().
 */
int regauth_lookup(const char *config_path, const char *ref, char **ret_header, char **ret_source,
		   struct rc_err *err);

/* Wipe and free a header from regauth_lookup() (NULL is fine). */
void regauth_free(char *header);

#endif
