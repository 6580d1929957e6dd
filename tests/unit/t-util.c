/* Unit tests for util.c, buf.c and hash.c. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "hash.h"
#include "tap.h"
#include "util.h"

static void test_buf(void)
{
	struct buf b = BUF_INIT;
	is_str(buf_cstr(&b), "", "empty buf reads as empty string");
	buf_adds(&b, "abc");
	buf_addf(&b, "-%d-", 42);
	buf_addc(&b, 'z');
	is_str(b.data, "abc-42-z", "appends and formats");
	is_int(b.len, 8, "length tracked");
	buf_reset(&b);
	buf_add_json_str(&b, "a\"b\\c\n\x01");
	is_str(b.data, "\"a\\\"b\\\\c\\n\\u0001\"", "json string escaping");
	buf_release(&b);

	struct buf c;
	buf_init(&c, 5);
	is_int(buf_adds(&c, "12345"), 0, "capped buffer accepts up to its max");
	is_int(buf_adds(&c, "6"), -1, "capped buffer refuses past its max");
	is_str(c.data, "12345", "refused append leaves the buffer unchanged");
	size_t n;
	char *s = buf_detach(&c, &n);
	is_str(s, "12345", "detach hands the string out");
	is_int(n, 5, "detach reports length");
	free(s);
}

static void test_err(void)
{
	struct rc_err e;
	is_int(rc_errf(&e, "cannot open '%s'", "x"), -1, "rc_errf returns -1");
	rc_err_prefix(&e, "loading %s", "manifests");
	is_str(e.msg, "loading manifests: cannot open 'x'", "prefix adds context");
	is_int(rc_errf(NULL, "ignored"), -1, "NULL err is allowed");
}

static void test_hash(void)
{
	char a[RC_HASH_HEX_LEN + 1], b[RC_HASH_HEX_LEN + 1];
	rc_hash128_hex("hello", 5, a);
	rc_hash128_hex("hello", 5, b);
	is_int(strlen(a), 32, "hash is 32 hex digits");
	is_str(a, b, "hash is deterministic");
	rc_hash128_hex("hellp", 5, b);
	ok(strcmp(a, b) != 0, "different input, different hash");
}

static void test_atomic_file(void)
{
	char dir[] = "/tmp/rc-t-util.XXXXXX";
	ok(mkdtemp(dir) != NULL, "temp dir");
	char *p = xasprintf("%s/state.json", dir);
	struct rc_err e;
	is_int(write_file_atomic(p, "one", 3, 0600, &e), 0, "atomic write");
	is_int(write_file_atomic(p, "two!", 4, 0600, &e), 0, "atomic overwrite");
	char *data = NULL;
	size_t len = 0;
	is_int(read_file(p, 100, &data, &len, &e), 0, "read back");
	is_str(data, "two!", "content is the last write");
	struct stat st;
	stat(p, &st);
	is_int(st.st_mode & 0777, 0600, "mode applied");
	free(data);
	is_int(read_file(p, 2, &data, &len, &e), -1, "read_file enforces its cap");
	unlink(p);
	rmdir(dir);
	free(p);
	is_int(write_file_atomic("/nonexistent-dir/x", "a", 1, 0600, &e), -1, "write into a missing dir fails");
	ok(strstr(e.msg, "/nonexistent-dir") != NULL, "error names the directory: %s", e.msg);
}

static void test_redact(void)
{
	struct { const char *in, *out; } cases[] = {
		{ "https://user:TOKEN@host/r.git", "https://user:***@host/r.git" },
		{ "https://TOKEN@host/r.git", "https://***@host/r.git" },
		{ "ssh://git@host:22/r.git", "ssh://***@host:22/r.git" },
		{ "http://u:p%40ss@host/a@b", "http://u:***@host/a@b" },
		{ "https://host/r.git", "https://host/r.git" },
		{ "file:///srv/r.git", "file:///srv/r.git" },
		{ "/srv/r.git", "/srv/r.git" },
		{ "https://user:@host/", "https://user:@host/" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = url_redact(cases[i].in);
		is_str(got, cases[i].out, "url_redact(%s)", cases[i].in);
		free(got);
	}
	char arg[] = "https://deploy:s3cret@host/r.git", tok[] = "https://TOKEN@host/r", plain[] = "https://host/r";
	url_scrub(arg);
	url_scrub(tok);
	url_scrub(plain);
	is_str(arg, "https://deploy:******@host/r.git", "url_scrub() overwrites a password in place");
	is_str(tok, "https://*****@host/r", "... and a token given as the user");
	is_str(plain, "https://host/r", "... and leaves a URL without credentials alone");
	char msg[256];
	snprintf(msg, sizeof msg, "failed to resolve 'https://user:s3cret@h/r': s3cret s3cret");
	redact_secret_of(msg, "https://user:s3cret@h/r");
	is_str(msg, "failed to resolve 'https://user:***@h/r': *** ***", "every copy of the password in a message");
	snprintf(msg, sizeof msg, "nothing to hide");
	redact_secret_of(msg, "https://h/r");
	is_str(msg, "nothing to hide", "a URL without credentials changes nothing");
	snprintf(msg, sizeof msg, "cannot reach 'ssh://git@h/m.git' as git@h");
	redact_secret_of(msg, "ssh://git@h/m.git");
	is_str(msg, "cannot reach 'ssh://***@h/m.git' as ***@h", "a user alone is hidden where it precedes '@' only");
	snprintf(msg, sizeof msg, "https://ghp_tok3n@h/r: ghp_tok3n@h refused");
	redact_secret_of(msg, "https://ghp_tok3n@h/r");
	is_str(msg, "https://***@h/r: ***@h refused", "a token given as the user, every copy before '@'");
}

int main(void)
{
	test_redact();
	test_buf();
	test_err();
	test_hash();
	test_atomic_file();
	return done_testing();
}
