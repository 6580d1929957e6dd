/* Unit tests for regauth.c: registry names and X-Registry-Auth from a docker config.json. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regauth.h"
#include "tap.h"
#include "util.h"

static char dir[] = "/tmp/rc-t-regauth.XXXXXX";

static char *config(const char *text)
{
	char *p = xasprintf("%s/config.json", dir);
	FILE *f = fopen(p, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		die("writing %s", p);
	return p;
}

/* Decode a header (base64url of JSON) back into its JSON text. */
static char *decoded(const char *h)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = xcalloc(strlen(h) + 1, 1);
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (const char *p = h; *p && *p != '='; p++) {
		const char *at = strchr(tab, *p);
		if (!at)
			return out;
		acc = (acc << 6) | (unsigned)(at - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	return out;
}

static void test_registry_of(void)
{
	struct { const char *ref, *want; } cases[] = {
		{ "busybox", "docker.io" },
		{ "library/busybox:1", "docker.io" },
		{ "acme/app:2", "docker.io" },
		{ "127.0.0.1:5000/acme/app:1", "127.0.0.1:5000" },
		{ "registry.example.com/app", "registry.example.com" },
		{ "localhost/app:1", "localhost" },
		{ "localhost:5000/app@sha256:00", "localhost:5000" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *got = regauth_registry_of(cases[i].ref);
		is_str(got, cases[i].want, "registry of %s", cases[i].ref);
		free(got);
	}
}

static void test_lookup(void)
{
	struct rc_err err = { 0 };
	char *h = NULL, *src = NULL;
	_cleanup_free_ char *missing = xasprintf("%s/none.json", dir);
	is_int(regauth_lookup(missing, "reg.example.com/app", &h, &src, &err), 0, "no file: no credentials, no error");
	ok(h == NULL && src == NULL, "... nothing returned");

	/* what `docker login 127.0.0.1:15530 -u op` writes: base64("op:s3cret") */
	_cleanup_free_ char *p = config("{\"auths\": {\"127.0.0.1:15530\": {\"auth\": \"b3A6czNjcmV0\"},"
					" \"https://index.docker.io/v1/\": {\"username\": \"hub\", \"password\": \"pw\"}}}");
	is_int(regauth_lookup(p, "127.0.0.1:15530/acme/app:1", &h, &src, &err), 0, "registry with credentials");
	ok(h != NULL, "... a header");
	is_str(src, p, "... and where it came from");
	_cleanup_free_ char *js = h ? decoded(h) : xstrdup("");
	cJSON *j = cJSON_Parse(js);
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(j, "username")), "op", "header carries the user");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(j, "password")), "s3cret", "... the password");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(j, "serveraddress")), "127.0.0.1:15530", "... the server");
	ok(h && !strpbrk(h, "+/"), "header is base64url");
	cJSON_Delete(j);
	regauth_free(h);
	free(src);

	is_int(regauth_lookup(p, "acme/app:1", &h, NULL, &err), 0, "Docker Hub image");
	_cleanup_free_ char *hub = h ? decoded(h) : xstrdup("");
	ok(strstr(hub, "\"username\":\"hub\"") && strstr(hub, "\"serveraddress\":\"https://index.docker.io/v1/\""),
	   "Docker Hub's key (https://index.docker.io/v1/) matches docker.io images: %s", hub);
	regauth_free(h);

	is_int(regauth_lookup(p, "other.example.com/app", &h, &src, &err), 0, "another registry");
	ok(h == NULL, "... no credentials");

	_cleanup_free_ char *tok = config("{\"auths\": {\"https://reg.example.com\": {\"identitytoken\": \"T0K\"}}}");
	is_int(regauth_lookup(tok, "reg.example.com/app", &h, NULL, &err), 0, "identity token, key with a scheme");
	_cleanup_free_ char *tj = h ? decoded(h) : xstrdup("");
	ok(strstr(tj, "\"identitytoken\":\"T0K\"") != NULL, "... passed on: %s", tj);
	regauth_free(h);

	_cleanup_free_ char *bad = config("{\"auths\": {\"reg.example.com\": {\"auth\": \"bm9jb2xvbg==\"}}}");
	is_int(regauth_lookup(bad, "reg.example.com/app", &h, NULL, &err), -1, "auth without user:password");
	ok(strstr(err.msg, bad) && strstr(err.msg, "not base64 of user:password"), "... names the file: %s", err.msg);

	_cleanup_free_ char *garbage = config("not json");
	is_int(regauth_lookup(garbage, "reg.example.com/app", &h, NULL, &err), -1, "unparsable config");
	ok(strstr(err.msg, "not a JSON object") != NULL, "... says so: %s", err.msg);

	setenv("DOCKER_CONFIG", dir, 1);
	free(config("{\"auths\": {\"reg.example.com\": {\"auth\": \"b3A6czNjcmV0\"}}}"));
	is_int(regauth_lookup(NULL, "reg.example.com/app", &h, &src, &err), 0, "DOCKER_CONFIG is honoured");
	ok(h != NULL && src && strstr(src, dir), "... its config.json is read: %s", src ? src : "(none)");
	regauth_free(h);
	free(src);
	unsetenv("DOCKER_CONFIG");
}

/* A credential helper as `docker login` uses them: the server on stdin, JSON on stdout. */
static const char helper_script[] =
	"#!/bin/sh\n"
	"[ \"$1\" = get ] || exit 2\n"
	"read -r server || :\n"
	"case \"$server\" in\n"
	"127.0.0.1:15530) printf '{\"ServerURL\":\"%s\",\"Username\":\"op\",\"Secret\":\"s3cret\"}\\n' \"$server\" ;;\n"
	"token.example.com) printf '{\"ServerURL\":\"%s\",\"Username\":\"<token>\",\"Secret\":\"T0K\"}\\n' \"$server\" ;;\n"
	"echo.example.com|https://index.docker.io/v1/) printf '{\"Username\":\"%s\",\"Secret\":\"x\"}' \"$server\" ;;\n"
	"boom.example.com) echo boom; echo more; exit 3 ;;\n"
	"garbage.example.com) echo not json ;;\n"
	"slow.example.com) sleep 5; echo late ;;\n"
	"quiet.example.com) exec >&-; sleep 5 ;;\n"
	"*) echo 'credentials not found in native keychain'; exit 1 ;;\n"
	"esac\n";

static char *header_json(const char *cfg, const char *ref, int *ret_rc, char **ret_src, struct rc_err *err)
{
	char *h = NULL;
	*ret_rc = regauth_lookup(cfg, ref, &h, ret_src, err);
	char *js = h ? decoded(h) : NULL;
	regauth_free(h);
	return js;
}

static void test_helpers(void)
{
	_cleanup_free_ char *bin = xasprintf("%s/bin", dir);
	_cleanup_free_ char *prog = xasprintf("%s/docker-credential-rctest", bin);
	if (mkdir(bin, 0700) < 0)
		die("mkdir %s", bin);
	FILE *f = fopen(prog, "w");
	if (!f || fputs(helper_script, f) < 0 || fclose(f) != 0 || chmod(prog, 0700) < 0)
		die("writing %s", prog);
	const char *old = getenv("PATH");
	_cleanup_free_ char *saved = xstrdup(old ? old : "/usr/bin:/bin");
	_cleanup_free_ char *path = xasprintf("%s:%s", bin, saved);
	setenv("PATH", path, 1);

	struct rc_err err = { 0 };
	int rc;
	char *src = NULL;
	/* per registry; its auths entry (other credentials) is not read */
	_cleanup_free_ char *per = config("{\"auths\": {\"127.0.0.1:15530\": {\"auth\": \"b3RoZXI6b3RoZXI=\"}},"
					  " \"credHelpers\": {\"127.0.0.1:15530\": \"rctest\"}}");
	_cleanup_free_ char *j1 = header_json(per, "127.0.0.1:15530/acme/app:1", &rc, &src, &err);
	is_int(rc, 0, "credHelpers: the registry's helper is run");
	ok(j1 && strstr(j1, "\"username\":\"op\"") && strstr(j1, "\"password\":\"s3cret\"") &&
		   strstr(j1, "\"serveraddress\":\"127.0.0.1:15530\""),
	   "... its answer is the header, not the auths entry: %s", j1 ? j1 : "(none)");
	ok(src && strstr(src, "docker-credential-rctest") && strstr(src, per), "... named as the source: %s",
	   src ? src : "(none)");
	free(src);
	src = NULL;
	_cleanup_free_ char *j2 = header_json(per, "elsewhere.example.com/app", &rc, &src, &err);
	is_int(rc, 0, "credHelpers of another registry only: no helper, no auths entry");
	ok(j2 == NULL && src == NULL, "... anonymous");

	/* credsStore for every registry; Docker Hub is asked for by its legacy URL */
	_cleanup_free_ char *store = config("{\"credsStore\": \"rctest\"}");
	_cleanup_free_ char *j3 = header_json(store, "acme/app:1", &rc, NULL, &err);
	is_int(rc, 0, "credsStore: Docker Hub image");
	ok(j3 && strstr(j3, "\"username\":\"https://index.docker.io/v1/\""),
	   "... the helper was asked for https://index.docker.io/v1/: %s", j3 ? j3 : "(none)");
	_cleanup_free_ char *j4 = header_json(store, "echo.example.com:443/app", &rc, NULL, &err);
	ok(rc == 0 && j4 == NULL, "the helper is asked for the host with its port (echo.example.com:443: none)");
	_cleanup_free_ char *j5 = header_json(store, "token.example.com/app", &rc, NULL, &err);
	is_int(rc, 0, "a <token> user");
	ok(j5 && strstr(j5, "\"identitytoken\":\"T0K\"") && !strstr(j5, "username"),
	   "... makes the secret an identity token: %s", j5 ? j5 : "(none)");
	_cleanup_free_ char *j6 = header_json(store, "unknown.example.com/app", &rc, &src, &err);
	is_int(rc, 0, "credentials not found: not an error");
	ok(j6 == NULL && src == NULL, "... an anonymous pull");

	_cleanup_free_ char *j7 = header_json(store, "boom.example.com/app", &rc, NULL, &err);
	is_int(rc, -1, "a failing helper is an error");
	ok(strstr(err.msg, "docker-credential-rctest") && strstr(err.msg, "failed (exit 3): boom") &&
		   !strstr(err.msg, "more"),
	   "... with its exit code and first line: %s", err.msg);
	_cleanup_free_ char *j8 = header_json(store, "garbage.example.com/app", &rc, NULL, &err);
	is_int(rc, -1, "an answer that is not the helper JSON");
	ok(strstr(err.msg, "did not answer") != NULL, "... says so: %s", err.msg);

	setenv("RECONCILER_CREDENTIAL_HELPER_TIMEOUT_MS", "300", 1);
	_cleanup_free_ char *j11 = header_json(store, "slow.example.com/app", &rc, NULL, &err);
	is_int(rc, -1, "a helper that does not answer in time");
	ok(strstr(err.msg, "did not answer within 0.3 s") != NULL, "... is killed: %s", err.msg);
	_cleanup_free_ char *j12 = header_json(store, "quiet.example.com/app", &rc, NULL, &err);
	is_int(rc, -1, "a helper that closes its output and does not exit");
	ok(strstr(err.msg, "did not answer within 0.3 s") != NULL,
	   "... is killed too, not waited for (that would read as no answer): %s", err.msg);
	unsetenv("RECONCILER_CREDENTIAL_HELPER_TIMEOUT_MS");

	_cleanup_free_ char *none = config("{\"credsStore\": \"nosuchhelper\"}");
	_cleanup_free_ char *j9 = header_json(none, "reg.example.com/app", &rc, NULL, &err);
	is_int(rc, -1, "a helper not in PATH");
	ok(strstr(err.msg, "cannot run the credential helper 'docker-credential-nosuchhelper'") != NULL,
	   "... names it: %s", err.msg);
	_cleanup_free_ char *evil = config("{\"credsStore\": \"../../bin/sh\"}");
	_cleanup_free_ char *j10 = header_json(evil, "reg.example.com/app", &rc, NULL, &err);
	is_int(rc, -1, "a helper name with a '/'");
	ok(strstr(err.msg, "is not a program name") != NULL, "... is refused: %s", err.msg);
	setenv("PATH", saved, 1);
}

int main(void)
{
	if (!mkdtemp(dir))
		die("mkdtemp");
	test_registry_of();
	test_lookup();
	test_helpers();
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
