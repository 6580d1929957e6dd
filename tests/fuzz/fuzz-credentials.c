/*
 * libFuzzer target: the --remote-credentials file parser (gitcred_parse).
 * The file is the operator's, but it is read again at every fetch, so a
 * half-written or corrupted one must give an error, never a crash; a
 * success is walked (ASan sees every field) and released (LSan sees the
 * wipe-and-free of the secrets).  Also checks the contract that *ret is
 * untouched on failure.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gitcred.h"

static size_t sink;

static void touch(const char *s)
{
	if (s)
		sink += strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 16))
		return 0;
	struct gitcred c;
	memset(&c, 0xa5, sizeof c);
	struct gitcred before = c;
	struct rc_err err = { 0 };
	if (gitcred_parse("fuzz.cred", (const char *)data, size, &c, &err) < 0) {
		if (memcmp(&c, &before, sizeof c) != 0)
			abort();   /* *ret must be untouched on failure */
		if (!err.msg[0])
			abort();   /* a failure says why */
		return 0;
	}
	touch(c.username);
	touch(c.password);
	touch(c.ssh_key);
	touch(c.ssh_pubkey);
	touch(c.ssh_passphrase);
	touch(gitcred_http_user(&c, NULL));
	touch(gitcred_ssh_user(&c, "git"));
	gitcred_release(&c);
	return 0;
}
