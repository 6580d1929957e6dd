/* hash.c — see hash.h. */
#include "hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void rc_hash128_hex(const void *data, size_t len, char out[RC_HASH_HEX_LEN + 1])
{
	XXH128_hash_t h = XXH3_128bits(data, len);
	snprintf(out, RC_HASH_HEX_LEN + 1, "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
}

void rc_keyed128_hex(const void *key, size_t keylen, const void *data, size_t len,
		     char out[RC_HASH_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	static const unsigned char empty[1];
	/* HMAC() fails only on allocation failure or a NULL digest: abort rather than print a weak digest */
	if (!HMAC(EVP_sha256(), key, (int)keylen, len ? data : empty, len, md, &mdlen) || mdlen < 16)
		abort();
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	OPENSSL_cleanse(md, sizeof(md));
}
