/*
 * custsecret.h — per-customer secrets: where their files live, generating
 * them once, and rotating them.
 *
 * A Template or Customer `secrets:` declaration (spec/manifest.md, Secrets)
 * makes a secret the customer's own: its file is
 * <secrets-dir>/<customer>/<name> (a directory 0700 and a file 0600 of the
 * running uid, as everything in the state directory).  A declaration with
 * `generate: {bytes: N, encoding: hex|base64}` has reconciler make the value:
 * N random bytes from getrandom(), encoded, written once and never printed;
 * rotating writes a new one in its place (atomically).
 *
 * Owns: the per-customer directories under secrets/ and the generated files.
 */
#ifndef RC_CUSTSECRET_H
#define RC_CUSTSECRET_H

#include <stdbool.h>

#include "util.h"

#define CUSTSECRET_MIN_BYTES 8
#define CUSTSECRET_MAX_BYTES 1024

enum custsecret_encoding { CUSTSECRET_HEX = 0, CUSTSECRET_BASE64 };

/* "<secrets_dir>/<customer>/<name>", malloc'ed. */
char *custsecret_path(const char *secrets_dir, const char *customer, const char *name);

/*
 * Make the value of a generated secret at path when there is none (another
 * process making it at the same time: its value is kept).  The customer's
 * directory is made 0700 when missing, and must otherwise be a directory of
 * the running uid that group and others cannot write (else -1: never written
 * through a link).  0: the file exists now (made or found); -1 with err.
 */
int custsecret_generate(const char *path, int bytes, enum custsecret_encoding enc, struct rc_err *err);

/* Replace the value at path with a new one (atomic rename); 0 or -1 with err. */
int custsecret_rotate(const char *path, int bytes, enum custsecret_encoding enc, struct rc_err *err);

#endif
