/*
 * regauth.c — see regauth.h.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "regauth.h"

#define CONFIG_MAX (1024 * 1024)
#define HELPER_OUT_MAX (64 * 1024)
#define HELPER_TIMEOUT_MS 30000  /* RECONCILER_CREDENTIAL_HELPER_TIMEOUT_MS */

extern char **environ;

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

/* X-Registry-Auth of a user and password, or of an identity token (user and password NULL). */
static char *make_header(const char *user, const char *pass, const char *token, const char *server)
{
	cJSON *o = cJSON_CreateObject();
	if (token) {
		cJSON_AddStringToObject(o, "identitytoken", token);
	} else {
		cJSON_AddStringToObject(o, "username", user);
		cJSON_AddStringToObject(o, "password", pass);
	}
	cJSON_AddStringToObject(o, "serveraddress", server);
	char *json = cJSON_PrintUnformatted(o);
	if (!json)
		die("out of memory");
	char *header = b64url_encode(json);
	wipe_free(json);
	/* cJSON_Delete frees the strings; wipe the secrets first */
	const char *keys[] = { "password", "identitytoken" };
	for (size_t i = 0; i < 2; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
		if (cJSON_IsString(v))
			explicit_bzero(v->valuestring, strlen(v->valuestring));
	}
	cJSON_Delete(o);
	return header;
}

/* The header for one "auths" entry in *ret (NULL when it has no credentials); -1 when malformed. */
static int header_of(const cJSON *e, const char *server, const char *path, char **ret, struct rc_err *err)
{
	*ret = NULL;
	const cJSON *auth = cJSON_GetObjectItemCaseSensitive(e, "auth");
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(e, "username");
	const cJSON *pass = cJSON_GetObjectItemCaseSensitive(e, "password");
	const cJSON *token = cJSON_GetObjectItemCaseSensitive(e, "identitytoken");
	if (cJSON_IsString(token) && *token->valuestring) {
		*ret = make_header(NULL, NULL, token->valuestring, server);
	} else if (cJSON_IsString(auth) && *auth->valuestring) {
		char *pair = b64_decode(auth->valuestring);
		char *colon = pair ? strchr(pair, ':') : NULL;
		if (!colon) {
			wipe_free(pair);
			return rc_errf(err, "registry credentials: %s: the \"auth\" of '%s' is not base64 of "
					    "user:password", path, e->string);
		}
		*colon = '\0';
		*ret = make_header(pair, colon + 1, NULL, server);
		explicit_bzero(colon + 1, strlen(colon + 1));
		wipe_free(pair);
	} else if (cJSON_IsString(user) && cJSON_IsString(pass)) {
		*ret = make_header(user->valuestring, pass->valuestring, NULL, server);
	}
	/* else: e.g. an entry `docker login` left empty for a credential helper */
	return 0;
}

/* ---- credential helpers ------------------------------------------------------------ */

/* Helper names are a program name's suffix: no '/', nothing a shell or PATH would read. */
static bool helper_name_ok(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

/* Read fd to EOF into out (cap bytes, NUL-terminated, the rest dropped; *len), waiting until deadline_ns
 * (monotonic).  -1 on timeout.  One buffer, never reallocated: nothing of a secret is left behind. */
static int read_all(int fd, char *out, size_t cap, size_t *len, int64_t deadline_ns)
{
	*len = 0;
	out[0] = '\0';
	for (;;) {
		int64_t left = (deadline_ns - now_ns()) / NS_PER_MS;
		if (left <= 0)
			return -1;
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		char drop[512];
		char *to = *len < cap - 1 ? out + *len : drop;
		size_t room = *len < cap - 1 ? cap - 1 - *len : sizeof drop;
		ssize_t n = read(fd, to, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		if (to == drop)
			explicit_bzero(drop, sizeof drop);
		else
			out[*len += (size_t)n] = '\0';
	}
}

/* Reap pid by deadline_ns, killing it then.  false when it had to be killed. */
static bool reap(pid_t pid, int *status, int64_t deadline_ns)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return true;
		if (now_ns() >= deadline_ns) {
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			return false;
		}
		struct timespec ts = { 0, 5 * NS_PER_MS };
		nanosleep(&ts, NULL);
	}
}

static int64_t helper_timeout_ms(void)
{
	const char *ev = getenv("RECONCILER_CREDENTIAL_HELPER_TIMEOUT_MS");
	long v = ev && *ev ? atol(ev) : 0;
	return v > 0 ? v : HELPER_TIMEOUT_MS;
}

/*
 * `docker-credential-NAME get` with server on its stdin, as the docker CLI
 * runs it: 0 with *ret_header, 1 when it has no credentials for server
 * ("credentials not found"), -1 when it cannot be run, fails, hangs or
 * answers something else.
 */
static int run_helper(const char *name, const char *server, char **ret_header, struct rc_err *err)
{
	*ret_header = NULL;
	if (!helper_name_ok(name))
		return rc_errf(err, "registry credentials: credential helper name '%s' is not a program name", name);
	_cleanup_free_ char *prog = xasprintf("docker-credential-%s", name);
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return rc_errf(err, "registry credentials: pipe: %s", strerror(errno));
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return rc_errf(err, "registry credentials: pipe: %s", strerror(errno));
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	char *argv[] = { prog, (char *)"get", NULL };
	pid_t pid;
	int se = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (se != 0) {
		close(in[1]);
		close(out[0]);
		return rc_errf(err, "registry credentials: cannot run the credential helper '%s': %s", prog,
			       strerror(se));
	}
	/* a helper that exits without reading its stdin must not kill us with SIGPIPE: blocked in
	 * this thread only (pulls run side by side), a pending one taken back before unblocking */
	sigset_t pipe_set, old_mask;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	size_t len = strlen(server);
	bool wrote = write(in[1], server, len) == (ssize_t)len;
	if (!wrote && errno == EPIPE) {
		struct timespec zero = { 0, 0 };
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	close(in[1]);
	char *o = xmalloc(HELPER_OUT_MAX + 1);
	size_t olen = 0;
	int64_t limit = helper_timeout_ms(), deadline = now_ns() + limit * NS_PER_MS;
	bool timed_out = read_all(out[0], o, HELPER_OUT_MAX + 1, &olen, deadline) < 0;
	close(out[0]);
	int status = 0;
	/* also one that closed its stdout and went on (or left a child holding it) */
	if (!reap(pid, &status, timed_out ? 0 : deadline))
		timed_out = true;
	int rc = -1;
	if (timed_out) {
		rc_errf(err, "registry credentials: the credential helper '%s' did not answer within %.1f s", prog,
			(double)limit / MS_PER_S);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (strstr(o, "credentials not found")) {
			rc = 1;
		} else {
			/* its message only: a failing helper prints an error, not the secret */
			size_t n = strcspn(o, "\n");
			rc_errf(err, "registry credentials: the credential helper '%s' failed (%s %d)%s%.*s", prog,
				WIFEXITED(status) ? "exit" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), n ? ": " : "",
				(int)(n > 200 ? 200 : n), o);
		}
	} else if (!wrote) {
		rc_errf(err, "registry credentials: the credential helper '%s' did not read the server name", prog);
	} else {
		cJSON *j = cJSON_ParseWithLength(o, olen);
		const char *user = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "Username"));
		const cJSON *sec = cJSON_GetObjectItemCaseSensitive(j, "Secret");
		if (!cJSON_IsObject(j) || !user || !cJSON_IsString(sec)) {
			rc_errf(err, "registry credentials: the credential helper '%s' did not answer "
				     "{\"Username\": ..., \"Secret\": ...}", prog);
		} else {
			/* "<token>" as the user: the secret is an identity token (the docker CLI's rule) */
			*ret_header = strcmp(user, "<token>") == 0
					      ? make_header(NULL, NULL, sec->valuestring, server)
					      : make_header(user, sec->valuestring, NULL, server);
			rc = 0;
		}
		if (cJSON_IsString(sec))
			explicit_bzero(sec->valuestring, strlen(sec->valuestring));
		cJSON_Delete(j);
	}
	explicit_bzero(o, olen);
	free(o);
	return rc;
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
	char *header = NULL;
	_cleanup_free_ char *source = NULL;
	int rc = 0;
	/* the docker CLI's order: the registry's credHelpers entry, else credsStore, else auths */
	const cJSON *per = entry_for(cJSON_GetObjectItemCaseSensitive(j, "credHelpers"), registry);
	const cJSON *store = cJSON_GetObjectItemCaseSensitive(j, "credsStore");
	const char *helper = cJSON_IsString(per) ? per->valuestring
			     : cJSON_IsString(store) && *store->valuestring ? store->valuestring : NULL;
	if (helper) {
		/* what `docker login` stores under: Docker Hub's legacy URL, else the host */
		const char *server = strcmp(registry, "docker.io") == 0 ? "https://index.docker.io/v1/" : registry;
		rc = run_helper(helper, server, &header, err);
		if (rc == 1)
			rc = 0;  /* none for this registry: anonymous, as the docker CLI pulls */
		else if (rc == 0)
			source = xasprintf("the credential helper docker-credential-%s (named in %s)", helper, path);
	} else {
		const cJSON *e = entry_for(cJSON_GetObjectItemCaseSensitive(j, "auths"), registry);
		if (e)
			rc = header_of(e, e->string, path, &header, err);
		if (header)
			source = xstrdup(path);
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
		*ret_source = TAKE_PTR(source);
	return 0;
}
