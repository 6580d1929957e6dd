/*
 * hash.h — content hashes (XXH3-128), printed as 32 lowercase hex digits.
 *
 * Owns: the only use of xxhash.h.  Used for unit spec hashes, secret digests
 * and state file checksums.
 */
#ifndef RC_HASH_H
#define RC_HASH_H

#include <stddef.h>

#define RC_HASH_HEX_LEN 32
/* out must hold RC_HASH_HEX_LEN + 1 bytes. */
void rc_hash128_hex(const void *data, size_t len, char out[RC_HASH_HEX_LEN + 1]);

#endif
