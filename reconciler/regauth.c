/*
 * regauth.c — see regauth.h.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "regauth.h"

#define CONFIG_MAX (1024 * 1024)

char *regauth_registry_of(const char *ref)
{
	const char *slash = strchr(ref, '/');
	if (!slash)
		return xstrdup("docker.io");
	size_t n = (size_t)(slash - ref);
	if (memchr(ref, '.', n) || memchr(ref, ':', n) || (n == 9 && strncmp(ref, "localhost", 9) == 0))
		return xstrndup(ref, n);
	return xstrdup("docker.io");
}

/* "https://index.docker.io/v1/" -> "index.docker.io"; Docker Hub's names -> "docker.io". */
static char *normalize(const char *key)
{
	if (strncmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncmp(key, "http://", 7) == 0)
		key += 7;
	size_t n = strcspn(key, "/");
	char *host = xstrndup(key, n);
	if (strcmp(host, "index.docker.io") == 0 || strcmp(host, "registry-1.docker.io") == 0) {
		free(host);
		host = xstrdup("docker.io");
	}
	return host;
}

static int b64val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/* Standard or URL-safe base64, padding optional.  NULL when invalid.  malloc'ed, NUL-terminated. */
static char *b64_decode(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n / 4 * 3 + 4);
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=')
			break;
		int v = b64val((unsigned char)s[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return out;
}

/* URL-safe base64 with padding: what the engine decodes X-Registry-Auth with. */
static char *b64url_encode(const char *s)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(s);
	char *out = xmalloc((n + 2) / 3 * 4 + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (uint32_t)(unsigned char)s[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void regauth_free(char *header)
{
	wipe_free(header);
}

static char *default_config_path(void)
{
	const char *dir = getenv("DOCKER_CONFIG");
	if (dir && *dir)
		return xasprintf("%s/config.json", dir);
	const char *home = getenv("HOME");
	if (home && *home)
		return xasprintf("%s/.docker/config.json", home);
	return NULL;
}

static const cJSON *entry_for(const cJSON *map, const char *registry)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, map) {
		_cleanup_free_ char *host = normalize(e->string ? e->string : "");
		if (strcmp(host, registry) == 0)
			return e;
	}
	return NULL;
}

/* The header for one "auths" entry in *ret (NULL when it has no credentials); -1 when malformed. */
static int header_of(const cJSON *e, const char *server, const char *path, char **ret, struct rc_err *err)
{
	*ret = NULL;
	const cJSON *auth = cJSON_GetObjectItemCaseSensitive(e, "auth");
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(e, "username");
	const cJSON *pass = cJSON_GetObjectItemCaseSensitive(e, "password");
	const cJSON *token = cJSON_GetObjectItemCaseSensitive(e, "identitytoken");
	cJSON *o = cJSON_CreateObject();
	char *pair = NULL;
	if (cJSON_IsString(token) && *token->valuestring) {
		cJSON_AddStringToObject(o, "identitytoken", token->valuestring);
	} else if (cJSON_IsString(auth) && *auth->valuestring) {
		pair = b64_decode(auth->valuestring);
		char *colon = pair ? strchr(pair, ':') : NULL;
		if (!colon) {
			wipe_free(pair);
			cJSON_Delete(o);
			return rc_errf(err, "registry credentials: %s: the \"auth\" of '%s' is not base64 of "
					    "user:password", path, e->string);
		}
		*colon = '\0';
		cJSON_AddStringToObject(o, "username", pair);
		cJSON_AddStringToObject(o, "password", colon + 1);
	} else if (cJSON_IsString(user) && cJSON_IsString(pass)) {
		cJSON_AddStringToObject(o, "username", user->valuestring);
		cJSON_AddStringToObject(o, "password", pass->valuestring);
	} else {
		cJSON_Delete(o);
		return 0;  /* e.g. an entry `docker login` left empty for a credential helper */
	}
	cJSON_AddStringToObject(o, "serveraddress", server);
	char *json = cJSON_PrintUnformatted(o);
	if (!json)
		die("out of memory");
	char *header = b64url_encode(json);
	wipe_free(json);
	wipe_free(pair);
	/* cJSON_Delete frees the strings; wipe the password first */
	const cJSON *pw = cJSON_GetObjectItemCaseSensitive(o, "password");
	if (cJSON_IsString(pw))
		explicit_bzero(pw->valuestring, strlen(pw->valuestring));
	cJSON_Delete(o);
	*ret = header;
	return 0;
}

int regauth_lookup(const char *config_path, const char *ref, char **ret_header, char **ret_source,
		   struct rc_err *err)
{
	*ret_header = NULL;
	if (ret_source)
		*ret_source = NULL;
	_cleanup_free_ char *path = config_path ? xstrdup(config_path) : default_config_path();
	if (!path)
		return 0;
	struct stat sb;
	if (stat(path, &sb) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return rc_errf(err, "registry credentials: cannot read '%s': %s", path, strerror(errno));
	}
	char *data = NULL;
	size_t len = 0;
	if (read_file(path, CONFIG_MAX, &data, &len, err) < 0)
		return rc_err_prefix(err, "registry credentials");
	cJSON *j = cJSON_ParseWithLength(data, len);
	explicit_bzero(data, len);
	free(data);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return rc_errf(err, "registry credentials: '%s' is not a JSON object", path);
	}
	_cleanup_free_ char *registry = regauth_registry_of(ref);
	const cJSON *e = entry_for(cJSON_GetObjectItemCaseSensitive(j, "auths"), registry);
	char *header = NULL;
	int rc = 0;
	if (e)
		rc = header_of(e, e->string, path, &header, err);
	if (!header && rc == 0) {
		const cJSON *store = cJSON_GetObjectItemCaseSensitive(j, "credsStore");
		bool helper = entry_for(cJSON_GetObjectItemCaseSensitive(j, "credHelpers"), registry) ||
			      (cJSON_IsString(store) && *store->valuestring);
		if (helper)
			log_warn("'%s' names a credential helper for %s; helpers are not supported: "
				 "pulling '%s' without credentials", path, registry, ref);
	}
	cJSON *auths = cJSON_GetObjectItemCaseSensitive(j, "auths");
	const cJSON *x;
	cJSON_ArrayForEach(x, auths) {  /* wipe what the file held before freeing it */
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(x, "auth");
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(x, "password");
		if (cJSON_IsString(a))
			explicit_bzero(a->valuestring, strlen(a->valuestring));
		if (cJSON_IsString(p))
			explicit_bzero(p->valuestring, strlen(p->valuestring));
	}
	cJSON_Delete(j);
	if (rc < 0)
		return -1;
	*ret_header = header;
	if (header && ret_source)
		*ret_source = xstrdup(path);
	return 0;
}
