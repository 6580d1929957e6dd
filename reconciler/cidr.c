/* cidr.c — see cidr.h. */
#include "cidr.h"

#include <stdio.h>
#include <string.h>

/* A decimal number without leading zeros, at most max; s ends at the first byte that is not a digit. */
static bool parse_dec(const char *s, size_t *ret_len, unsigned max, unsigned *ret)
{
	size_t n = 0;
	unsigned v = 0;
	while (s[n] >= '0' && s[n] <= '9') {
		if (n > 0 && s[0] == '0')
			return false;
		v = v * 10 + (unsigned)(s[n] - '0');
		if (v > max)
			return false;
		n++;
	}
	if (n == 0)
		return false;
	*ret_len = n;
	*ret = v;
	return true;
}

bool ipv4_parse(const char *s, uint32_t *ret)
{
	uint32_t a = 0;
	for (int i = 0; i < 4; i++) {
		size_t n;
		unsigned v;
		if (!parse_dec(s, &n, 255, &v))
			return false;
		a = (a << 8) | v;
		s += n;
		if (i < 3 && *s++ != '.')
			return false;
	}
	if (*s)
		return false;
	*ret = a;
	return true;
}

uint32_t cidr_mask(int prefix)
{
	return prefix <= 0 ? 0 : ~UINT32_C(0) << (32 - prefix);
}

int cidr_parse(const char *s, struct cidr *ret)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash - s > 15)
		return CIDR_MALFORMED;
	char ip[16];
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	uint32_t a;
	size_t n;
	unsigned prefix;
	if (!ipv4_parse(ip, &a) || !parse_dec(slash + 1, &n, 32, &prefix) || slash[1 + n] != '\0')
		return CIDR_MALFORMED;
	uint32_t mask = cidr_mask((int)prefix);
	*ret = (struct cidr){ a & mask, (int)prefix };
	return (a & ~mask) ? CIDR_HOST_BITS : CIDR_OK;
}

int cidr_parse_err(const char *s, bool strict, struct cidr *ret, struct rc_err *err)
{
	struct cidr c;
	int r = cidr_parse(s, &c);
	if (r == CIDR_MALFORMED)
		return rc_errf(err, "invalid subnet '%s': expected a.b.c.d/prefix", s);
	if (r == CIDR_HOST_BITS && strict) {
		char meant[CIDR_TEXT_MAX];
		cidr_format(c, meant);
		return rc_errf(err, "invalid subnet '%s': host bits set (did you mean '%s'?)", s, meant);
	}
	*ret = c;
	return 0;
}

uint64_t cidr_last(struct cidr c)
{
	return (uint64_t)c.addr + ((uint64_t)1 << (32 - c.prefix)) - 1;
}

bool cidr_overlap(struct cidr a, struct cidr b)
{
	return (uint64_t)a.addr <= cidr_last(b) && (uint64_t)b.addr <= cidr_last(a);
}

bool cidr_holds(struct cidr outer, struct cidr inner)
{
	return outer.prefix <= inner.prefix && (inner.addr & cidr_mask(outer.prefix)) == outer.addr;
}

void cidr_format(struct cidr c, char out[CIDR_TEXT_MAX])
{
	snprintf(out, CIDR_TEXT_MAX, "%u.%u.%u.%u/%d", c.addr >> 24, (c.addr >> 16) & 255, (c.addr >> 8) & 255,
		 c.addr & 255, c.prefix);
}
