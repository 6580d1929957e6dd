/*
 * hash.h — content hashes (XXH3-128), printed as 32 lowercase hex digits.
 *
 * Owns: the only use of xxhash.h and of libcrypto.  XXH3-128 for unit spec
 * hashes and state file checksums; HMAC-SHA256 (truncated to 128 bits) for
 * secret digests, which are keyed (seckey.h) so that a digest in a label
 * does not give a short secret away.
 */
#ifndef RC_HASH_H
#define RC_HASH_H

#include <stddef.h>

#define RC_HASH_HEX_LEN 32
/* out must hold RC_HASH_HEX_LEN + 1 bytes. */
void rc_hash128_hex(const void *data, size_t len, char out[RC_HASH_HEX_LEN + 1]);
/* HMAC-SHA256 of data under key, its first 128 bits as 32 hex digits (the width of the above). */
void rc_keyed128_hex(const void *key, size_t keylen, const void *data, size_t len,
		     char out[RC_HASH_HEX_LEN + 1]);

#endif
