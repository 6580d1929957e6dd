/*
 * Unit tests for gitcred.c: the --remote credentials file (format, checks
 * on the file and on the SSH key it names, which user is sent), and that no
 * error quotes a value.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gitcred.h"
#include "tap.h"
#include "util.h"

static char tmp[] = "/tmp/rc-t-gitcred.XXXXXX";

static int parse(const char *text, struct gitcred *c, struct rc_err *err)
{
	return gitcred_parse("F", text, strlen(text), c, err);
}

static void write_mode(const char *name, const char *text, mode_t mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0)
		BUG("cannot write %s", path);
	chmod(path, mode);
}

static void test_parse(void)
{
	struct gitcred c = { 0 };
	struct rc_err err = { 0 };
	is_int(parse("# deploy key\n\nusername = deploy\npassword=  p@ss=w:rd \r\n", &c, &err), 0, "user and password");
	is_str(c.username, "deploy", "spaces around the key and value are ignored");
	is_str(c.password, "p@ss=w:rd", "the value runs to the end of the line ('=' and ':' kept, CR dropped)");
	ok(!c.token, "password= is not a token");
	is_str(gitcred_http_user(&c, "url-user"), "deploy", "username= wins over the URL's user");
	gitcred_release(&c);
	ok(c.password == NULL && c.username == NULL, "release zeroes");
	gitcred_release(&c);

	is_int(parse("token=ghp_abc", &c, &err), 0, "a token alone (no final newline)");
	ok(c.token, "token= is a token");
	is_str(gitcred_http_user(&c, NULL), RC_GITCRED_TOKEN_USER, "a token's user is x-access-token");
	is_str(gitcred_http_user(&c, ""), RC_GITCRED_TOKEN_USER, "an empty URL user is none");
	is_str(gitcred_http_user(&c, "bot"), "bot", "unless the URL names one");
	gitcred_release(&c);

	is_int(parse("password=x\n", &c, &err), 0, "a password without a user parses");
	ok(gitcred_http_user(&c, NULL) == NULL, "but has no HTTP user without the URL's");
	is_str(gitcred_http_user(&c, "u"), "u", "the URL's user goes with it");
	gitcred_release(&c);

	is_int(parse("ssh_key=/k/id\nssh_pubkey=/k/id.pub\nssh_passphrase=pp\n", &c, &err), 0, "an SSH key");
	is_str(c.ssh_key, "/k/id", "ssh_key");
	is_str(c.ssh_pubkey, "/k/id.pub", "ssh_pubkey");
	is_str(c.ssh_passphrase, "pp", "ssh_passphrase");
	is_str(gitcred_ssh_user(&c, NULL), RC_GITCRED_SSH_USER, "the SSH user defaults to git");
	is_str(gitcred_ssh_user(&c, "deploy"), "deploy", "the URL's SSH user");
	gitcred_release(&c);
	is_int(parse("username=me\nssh_key=/k/id\n", &c, &err), 0, "an SSH key with a user");
	is_str(gitcred_ssh_user(&c, "git"), "me", "username= wins for SSH too");
	gitcred_release(&c);

	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "", "holds no credentials" },
		{ "# nothing\n\n", "holds no credentials" },
		{ "hunter2\n", "line 1: expected KEY=VALUE" },
		{ "username=a\n pasword=hunter2\n", "line 2: unknown key 'pasword'" },
		{ "=hunter2\n", "line 1: a key is missing" },
		{ "password=\n", "line 1: 'password' has no value" },
		{ "password=a\npassword=hunter2\n", "line 2: 'password' is given twice" },
		{ "token=a\ntoken=hunter2\n", "line 2: 'token' is given twice" },
		{ "password=a\ntoken=hunter2\n", "line 2: token given after password" },
		{ "token=a\npassword=hunter2\n", "line 2: password given after token" },
		{ "username=a\nusername=b\n", "line 2: 'username' is given twice" },
		{ "ssh_key=id_rsa\n", "line 1: 'ssh_key' must be an absolute path" },
		{ "ssh_pubkey=/a.pub\ntoken=t\n", "ssh_pubkey is given without ssh_key" },
		{ "ssh_passphrase=hunter2\ntoken=t\n", "ssh_passphrase is given without ssh_key" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct gitcred keep = { .username = (char *)"untouched" };
		err.msg[0] = '\0';
		is_int(parse(bad[i].text, &keep, &err), -1, "refused: %s", bad[i].want);
		ok(strstr(err.msg, bad[i].want) != NULL, "  says '%s' (got '%s')", bad[i].want, err.msg);
		ok(strstr(err.msg, "hunter2") == NULL, "  and never quotes a value");
		ok(strstr(err.msg, "credentials file 'F'") != NULL, "  and names the file");
		is_str(keep.username, "untouched", "  ret untouched on failure");
	}
	is_int(gitcred_parse("F", "token=a\0b\n", 10, &c, &err), -1, "a NUL byte is refused");
}

static void test_url(void)
{
	ok(gitcred_url_has_password("https://u:p@h/r"), "user:password@ is a password");
	ok(gitcred_url_has_password("http://u:@h/r"), "an empty password is one too");
	ok(!gitcred_url_has_password("https://u@h/r"), "a user alone is not");
	ok(!gitcred_url_has_password("https://h:443/r"), "a port is not");
	ok(!gitcred_url_has_password("https://h/r?a=b:c@d"), "'@' after the path is not userinfo");
	ok(!gitcred_url_has_password("git@host:org/repo.git"), "scp-like syntax has no password");
	ok(!gitcred_url_has_password(NULL), "NULL");
}

static void test_load(void)
{
	char path[256], key[256];
	struct gitcred c = { 0 };
	struct rc_err err = { 0 };
	snprintf(path, sizeof(path), "%s/cred", tmp);
	snprintf(key, sizeof(key), "%s/id", tmp);

	write_mode("cred", "username=deploy\npassword=hunter2\n", 0600);
	is_int(gitcred_load(path, &c, &err), 0, "a 0600 file of ours is read");
	is_str(c.password, "hunter2", "its password");
	gitcred_release(&c);
	write_mode("cred", "token=hunter2\n", 0400);
	is_int(gitcred_load(path, &c, &err), 0, "0400 is fine");
	gitcred_release(&c);

	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0602 };
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		chmod(path, modes[i]);
		char want[64];
		snprintf(want, sizeof(want), "has mode %04o", (unsigned)modes[i]);
		is_int(gitcred_load(path, &c, &err), -1, "mode %04o is refused", (unsigned)modes[i]);
		ok(strstr(err.msg, want) && strstr(err.msg, "chmod 600") && strstr(err.msg, path),
		   "  names the file, the mode and the fix: %s", err.msg);
	}
	chmod(path, 0600);

	char link[256];
	snprintf(link, sizeof(link), "%s/link", tmp);
	unlink(link);
	if (symlink(path, link) < 0)
		BUG("symlink");
	is_int(gitcred_load(link, &c, &err), -1, "a symbolic link is refused");
	ok(strstr(err.msg, "symbolic link") && strstr(err.msg, link), "  and says so: %s", err.msg);

	char dir[256];
	snprintf(dir, sizeof(dir), "%s/dir", tmp);
	mkdir(dir, 0700);
	is_int(gitcred_load(dir, &c, &err), -1, "a directory is refused");
	char missing[256];
	snprintf(missing, sizeof(missing), "%s/missing", tmp);
	is_int(gitcred_load(missing, &c, &err), -1, "a missing file is an error");
	ok(strstr(err.msg, "No such file") != NULL, "  naming why: %s", err.msg);

	char *big = xmalloc(RC_GITCRED_MAX_SIZE + 100);
	memset(big, '#', RC_GITCRED_MAX_SIZE + 99);
	big[RC_GITCRED_MAX_SIZE + 99] = '\0';
	write_mode("cred", big, 0600);
	free(big);
	is_int(gitcred_load(path, &c, &err), -1, "a file over the size cap is refused");

	/* the SSH key it names passes the same checks */
	char text[512];
	snprintf(text, sizeof(text), "ssh_key=%s\n", key);
	write_mode("cred", text, 0600);
	write_mode("id", "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0600);
	is_int(gitcred_load(path, &c, &err), 0, "an SSH key of mode 0600 is fine");
	gitcred_release(&c);
	chmod(key, 0644);
	is_int(gitcred_load(path, &c, &err), -1, "an SSH key of mode 0644 is refused");
	ok(strstr(err.msg, "SSH key") && strstr(err.msg, "chmod 600") && strstr(err.msg, "named by credentials file"),
	   "  naming the key and the file: %s", err.msg);
	unlink(key);
	is_int(gitcred_load(path, &c, &err), -1, "a missing SSH key is refused");
}

int main(void)
{
	if (!mkdtemp(tmp))
		BUG("mkdtemp");
	test_parse();
	test_url();
	test_load();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmp);
	return done_testing();
}
