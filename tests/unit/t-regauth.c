/* Unit tests for regauth.c: registry names and X-Registry-Auth from a docker config.json. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	struct rc_err err = { "" };
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

	_cleanup_free_ char *helper = config("{\"auths\": {\"reg.example.com\": {}}, \"credsStore\": \"desktop\"}");
	is_int(regauth_lookup(helper, "reg.example.com/app", &h, NULL, &err), 0,
	       "a credential helper only: anonymous (with a warning), not an error");
	ok(h == NULL, "... no header");

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

int main(void)
{
	if (!mkdtemp(dir))
		die("mkdtemp");
	test_registry_of();
	test_lookup();
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
