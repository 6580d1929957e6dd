/*
 * gitcred.h — credentials for fetching --remote: the credentials file
 * (`--remote-credentials FILE`, spec/remote-credentials.md) and what it
 * says to use for HTTPS and SSH.
 *
 * Owns: the file's format and its checks.  The file is read with the
 * private-file rules (open_private(): never through a symbolic link, a
 * regular file of the running uid) and must not be readable or writable by
 * group or other (chmod 600); an SSH key it names must pass the same
 * checks.  Values are never put in a message: errors name the file, the
 * line and the key only.  Secrets are wiped from memory on release.
 *
 * The libgit2 side (the credential callback, which asks for what here) is
 * in source.c, the only user of git2.h.
 */
#ifndef RC_GITCRED_H
#define RC_GITCRED_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define RC_GITCRED_MAX_SIZE 16384  /* bytes of a credentials file */
#define RC_GITCRED_TOKEN_USER "x-access-token"  /* the user name sent with token= */
#define RC_GITCRED_SSH_USER "git"               /* the SSH user when neither file nor URL names one */

struct gitcred {
	char *username;        /* username=; NULL: none given */
	char *password;        /* password= or token=; NULL: none */
	bool token;            /* password came from token= */
	char *ssh_key;         /* ssh_key=: absolute path of a private key; NULL: none */
	char *ssh_pubkey;      /* ssh_pubkey=: its public key (optional) */
	char *ssh_passphrase;  /* ssh_passphrase=: the key's passphrase (optional) */
};

/*
 * Parse a credentials file's text (len bytes; need not be NUL-terminated):
 * lines `key=value` (spaces around the key and the value are ignored),
 * blank lines and lines starting with '#'.  Keys: username, password,
 * token, ssh_key, ssh_pubkey, ssh_passphrase; each at most once; password
 * and token exclude each other; ssh_pubkey and ssh_passphrase need ssh_key;
 * ssh paths must be absolute; the file must say something.  file names
 * the file in errors ("credentials file 'F', line 3: unknown key 'pasword'").
 * On success fills *ret (release with gitcred_release()); on failure *ret
 * is untouched.
 */
int gitcred_parse(const char *file, const char *text, size_t len, struct gitcred *ret, struct rc_err *err);

/*
 * Read and parse the credentials file at path, after the checks above
 * (symbolic link, not a regular file, another uid's, group or other
 * access: refused with the fix, e.g. "chmod 600 'F'"), and check the SSH
 * key it names the same way.
 */
int gitcred_load(const char *path, struct gitcred *ret, struct rc_err *err);

/*
 * The user name to send over HTTP(S): username=, else the URL's user, else
 * RC_GITCRED_TOKEN_USER for a token; NULL when there is none (a password=
 * without a user).
 */
const char *gitcred_http_user(const struct gitcred *c, const char *user_from_url);
/* The SSH user: username=, else the URL's (git@host:...), else RC_GITCRED_SSH_USER. */
const char *gitcred_ssh_user(const struct gitcred *c, const char *user_from_url);

/* Whether url carries a password in its userinfo ("https://u:p@host/..."). */
bool gitcred_url_has_password(const char *url);

/* Wipe the secrets, free everything and zero c (safe to call twice). */
void gitcred_release(struct gitcred *c);

#endif
