/* Unit tests for cidr.c: the one IPv4 / CIDR grammar and its arithmetic (tables of cases). */
#include <stdio.h>
#include <string.h>

#include "cidr.h"
#include "tap.h"
#include "util.h"

static struct cidr C(const char *s)
{
	struct cidr c = { 0, 0 };
	if (cidr_parse(s, &c) != CIDR_OK)
		ok(0, "test table: '%s' does not parse", s);
	return c;
}

static void test_parse(void)
{
	static const struct {
		const char *in;
		int want;              /* CIDR_OK, CIDR_MALFORMED, CIDR_HOST_BITS */
		const char *canon;     /* cidr_format() of *ret when it is filled */
	} cases[] = {
		{ "10.210.0.0/16", CIDR_OK, "10.210.0.0/16" },
		{ "0.0.0.0/0", CIDR_OK, "0.0.0.0/0" },
		{ "255.255.255.255/32", CIDR_OK, "255.255.255.255/32" },
		{ "10.0.0.1/32", CIDR_OK, "10.0.0.1/32" },
		{ "192.168.1.0/24", CIDR_OK, "192.168.1.0/24" },
		{ "10.0.0.1/24", CIDR_HOST_BITS, "10.0.0.0/24" },
		{ "1.2.3.4/0", CIDR_HOST_BITS, "0.0.0.0/0" },
		{ "10.210.0.64/25", CIDR_HOST_BITS, "10.210.0.0/25" },
		{ "10.0.0.0", CIDR_MALFORMED, NULL },
		{ "10.0.0.0/", CIDR_MALFORMED, NULL },
		{ "10.0.0.0/33", CIDR_MALFORMED, NULL },
		{ "10.0.0.0/-1", CIDR_MALFORMED, NULL },
		{ "10.0.0.0/+8", CIDR_MALFORMED, NULL },
		{ "10.0.0.0/08", CIDR_MALFORMED, NULL },       /* leading zero in the prefix */
		{ "10.0.0.0/8x", CIDR_MALFORMED, NULL },
		{ "10.0.0.0/8 ", CIDR_MALFORMED, NULL },
		{ " 10.0.0.0/8", CIDR_MALFORMED, NULL },
		{ "300.0.0.0/8", CIDR_MALFORMED, NULL },
		{ "256.0.0.0/8", CIDR_MALFORMED, NULL },
		{ "010.0.0.0/8", CIDR_MALFORMED, NULL },       /* octal to inet_aton */
		{ "10.0.0/8", CIDR_MALFORMED, NULL },
		{ "10.0.0.0.0/8", CIDR_MALFORMED, NULL },
		{ "10..0.0/8", CIDR_MALFORMED, NULL },
		{ "/8", CIDR_MALFORMED, NULL },
		{ "/", CIDR_MALFORMED, NULL },
		{ "fd00::/64", CIDR_MALFORMED, NULL },
		{ "0x0a.0.0.0/8", CIDR_MALFORMED, NULL },
		{ "1000.0.0.0/8", CIDR_MALFORMED, NULL },
		{ "100.100.100.100.100/8", CIDR_MALFORMED, NULL }, /* longer than an address */
		{ "", CIDR_MALFORMED, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cidr c = { 0x01020304u, 7 };
		int r = cidr_parse(cases[i].in, &c);
		is_int(r, cases[i].want, "cidr_parse('%s')", cases[i].in);
		char out[CIDR_TEXT_MAX];
		cidr_format(c, out);
		if (cases[i].canon)
			is_str(out, cases[i].canon, "  gives %s", cases[i].canon);
		else
			is_str(out, "1.2.3.4/7", "  leaves *ret untouched");
	}
}

static void test_parse_err(void)
{
	struct cidr c;
	struct rc_err err = { 0 };
	is_int(cidr_parse_err("10.0.0.1/24", true, &c, &err), -1, "strict refuses host bits");
	ok(strstr(err.msg, "'10.0.0.0/24'") != NULL, "and names the network meant: %s", err.msg);
	is_int(cidr_parse_err("10.0.0.1/24", false, &c, &err), 0, "lenient clears them");
	ok(c.addr == 0x0A000000u && c.prefix == 24, "to 10.0.0.0/24");
	is_int(cidr_parse_err("10.0.0/24", false, &c, &err), -1, "malformed is an error either way");
	ok(strstr(err.msg, "'10.0.0/24'") != NULL, "naming the input: %s", err.msg);
	is_int(cidr_parse_err("10.0.0/24", false, &c, NULL), -1, "err may be NULL");
}

static void test_ipv4(void)
{
	static const struct {
		const char *in;
		bool ok;
		uint32_t addr;
	} cases[] = {
		{ "0.0.0.0", true, 0 },
		{ "127.0.0.1", true, 0x7F000001u },
		{ "255.255.255.255", true, 0xFFFFFFFFu },
		{ "10.0.0.01", false, 0 },
		{ "10.0.0", false, 0 },
		{ "10.0.0.256", false, 0 },
		{ "10.0.0.1.", false, 0 },
		{ "a.b.c.d", false, 0 },
		{ "", false, 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t a = 42;
		bool got = ipv4_parse(cases[i].in, &a);
		ok(got == cases[i].ok && a == (cases[i].ok ? cases[i].addr : 42u), "ipv4_parse('%s') %s",
		   cases[i].in, cases[i].ok ? "parses" : "refuses, *ret untouched");
	}
}

static void test_overlap_holds(void)
{
	static const struct {
		const char *x, *y;
		bool overlap;
		bool x_holds_y;
	} cases[] = {
		{ "10.210.0.0/26", "10.210.0.64/26", false, false },   /* neighbours */
		{ "10.210.0.0/25", "10.210.0.0/26", true, true },
		{ "10.210.0.0/25", "10.210.0.64/26", true, true },
		{ "10.210.0.0/25", "10.210.0.128/26", false, false },
		{ "10.0.0.0/8", "10.210.3.0/26", true, true },
		{ "10.210.3.0/26", "10.0.0.0/8", true, false },         /* inner does not hold outer */
		{ "0.0.0.0/0", "192.168.1.0/24", true, true },          /* /0 holds everything */
		{ "0.0.0.0/0", "0.0.0.0/0", true, true },
		{ "255.255.255.0/24", "255.255.255.255/32", true, true }, /* the top of the space */
		{ "10.210.0.63/32", "10.210.0.64/26", false, false },
		{ "10.210.0.64/32", "10.210.0.64/26", true, false },
		{ "10.210.0.64/32", "10.210.0.64/32", true, true },
		{ "10.210.0.64/32", "10.210.0.65/32", false, false },
		{ "172.16.0.0/12", "172.32.0.0/12", false, false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cidr a = C(cases[i].x), b = C(cases[i].y);
		ok(cidr_overlap(a, b) == cases[i].overlap && cidr_overlap(b, a) == cases[i].overlap, "%s %s %s",
		   cases[i].x, cases[i].overlap ? "overlaps" : "does not overlap", cases[i].y);
		ok(cidr_holds(a, b) == cases[i].x_holds_y, "%s %s %s", cases[i].x,
		   cases[i].x_holds_y ? "holds" : "does not hold", cases[i].y);
	}
}

static void test_arith(void)
{
	is_int((long long)cidr_last(C("255.255.255.255/32")), 0xFFFFFFFFLL, "last of /32 at the top");
	is_int((long long)cidr_last(C("0.0.0.0/0")), 0xFFFFFFFFLL, "last of /0");
	is_int((long long)cidr_last(C("10.0.0.0/24")), 0x0A0000FFLL, "last of a /24");
	is_int((long long)cidr_mask(0), 0, "mask /0");
	is_int((long long)cidr_mask(32), 0xFFFFFFFFLL, "mask /32");
	is_int((long long)cidr_mask(26), 0xFFFFFFC0LL, "mask /26");
}

int main(void)
{
	test_parse();
	test_parse_err();
	test_ipv4();
	test_overlap_holds();
	test_arith();
	return done_testing();
}
