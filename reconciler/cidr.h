/*
 * cidr.h — IPv4 addresses and subnets in CIDR form ("10.210.0.0/16"): the
 * one grammar the manifests (subnets, the subnet pool), the allocator and
 * the state files share, and the arithmetic on them.  Pure.
 *
 * The grammar: four decimal numbers 0..255 separated by dots, without
 * leading zeros ("010" is refused: inet_aton would read it as octal), a
 * slash, a prefix length 0..32 without leading zeros.  Nothing else: no
 * spaces, no IPv6, no shortened forms ("10.0/8").
 */
#ifndef RC_CIDR_H
#define RC_CIDR_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct cidr {
	uint32_t addr;    /* network address, host order */
	int prefix;       /* 0..32 */
};

/* "255.255.255.255/32" and its NUL. */
#define CIDR_TEXT_MAX 19

/* Parse a dotted quad "a.b.c.d" into *ret (host order); false (ret untouched) when it is not one. */
bool ipv4_parse(const char *s, uint32_t *ret);

enum {
	CIDR_OK = 0,
	CIDR_MALFORMED = -1,   /* not a.b.c.d/n: *ret untouched */
	CIDR_HOST_BITS = -2,   /* well-formed, but bits past the prefix are set: *ret holds the
	                        * network with them cleared (the "did you mean") */
};
/* Parse "a.b.c.d/n": CIDR_OK with *ret filled, or one of the failures above. */
int cidr_parse(const char *s, struct cidr *ret);
/*
 * cidr_parse() with the error said in err ("invalid subnet 'S': ...").
 * strict: host bits set is an error (naming the network meant); not
 * strict: they are cleared.  0 or -1.
 */
int cidr_parse_err(const char *s, bool strict, struct cidr *ret, struct rc_err *err);

/* The netmask of prefix (0 for /0). */
uint32_t cidr_mask(int prefix);
/* The last address of c (a 64-bit value so that 255.255.255.255 + 1 does not wrap). */
uint64_t cidr_last(struct cidr c);
/* Do a and b share an address? */
bool cidr_overlap(struct cidr a, struct cidr b);
/* Does outer hold every address of inner? */
bool cidr_holds(struct cidr outer, struct cidr inner);
/* "a.b.c.d/n" into out. */
void cidr_format(struct cidr c, char out[CIDR_TEXT_MAX]);

#endif
