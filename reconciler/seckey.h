/*
 * seckey.h — the per-host key that secret digests are keyed with.
 *
 * A secret's digest appears in labels (io.reconciler.spec), plans, renders
 * and the journal, which people other than the state directory's owner may
 * read.  An unkeyed hash of a short secret (a PIN, a word) is reversed by
 * trying every value; a keyed one (HMAC-SHA256, hash.h) reveals nothing
 * without the key, and a rotated secret still changes it.
 *
 * Owns: <secrets-dir>/.digest-key — 32 random bytes, mode 0600, a regular
 * file of the running uid (read like every private file: util.h), made once,
 * the first time a secret is digested.  Its name cannot be a secret's name
 * (those start with a letter or digit), so no manifest can mount it.
 * Losing it (with the state directory) changes every secret digest: the
 * units that mount secrets are replaced once by the next apply.
 */
#ifndef RC_SECKEY_H
#define RC_SECKEY_H

#include "util.h"

#define RC_SECKEY_LEN 32
#define RC_SECKEY_FILE ".digest-key"

/*
 * Read the key of secrets_dir (which must exist), making it first when there
 * is none (two processes racing make one key: the second uses the first's).
 * 0 with key filled; -1 with err set (key untouched): not a private file,
 * damaged (not 32 bytes: remove it), or not writable.
 */
int seckey_load(const char *secrets_dir, unsigned char key[RC_SECKEY_LEN], struct rc_err *err);

#endif
