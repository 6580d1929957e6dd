/*
 * docker_host.c — the host string and its TLS settings: unix://, tcp://,
 * http://, https://, ssh:// (pure: dk_client_open() reads the environment and the
 * certificate files).  See docker.h; the map of the client's files is in
 * docker_int.h.
 */
#include "docker_int.h"

#include <stdlib.h>
#include <string.h>

#define PORT_PLAIN "2375"
#define PORT_TLS "2376"

void dk_endpoint_release(struct dk_endpoint *e)
{
	if (!e)
		return;
	free(e->sock_path);
	free(e->base_url);
	free(e->ca_file);
	free(e->cert_file);
	free(e->key_file);
	free(e->ssh_dest);
	free(e->ssh_port);
	free(e->ssh_sock);
	memset(e, 0, sizeof(*e));
}

static int parse_unix(const char *host, struct dk_endpoint *ret, struct rc_err *err)
{
	const char *p = host[0] == '/' ? host : host + strlen("unix://");
	if (!*p)
		return rc_errf(err, "docker host '%s' has no socket path", host);
	if (strlen(p) > 107)
		return rc_errf(err, "docker socket path '%s' is longer than 107 bytes", p);
	*ret = (struct dk_endpoint){ .sock_path = xstrdup(p), .base_url = xstrdup("http://localhost") };
	return 0;
}

/* "1".."65535", digits only. */
static bool valid_port(const char *p, size_t n)
{
	if (n == 0 || n > 5)
		return false;
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/*
 * The authority "host", "host:port", "[v6]" or "[v6]:port" into its host
 * part (brackets kept) and port (NULL when none).  The pieces point into a.
 */
static int split_authority(const char *host, const char *a, size_t n, size_t *ret_hostlen,
			   const char **ret_port, size_t *ret_portlen, struct rc_err *err)
{
	size_t hl;
	if (a[0] == '[') {
		const char *close = memchr(a, ']', n);
		if (!close || close == a + 1)
			return rc_errf(err, "docker host '%s' has an unterminated or empty [address]", host);
		hl = (size_t)(close - a) + 1;
	} else {
		const char *colon = memchr(a, ':', n);
		if (colon && memchr(colon + 1, ':', n - (size_t)(colon - a) - 1))
			return rc_errf(err, "docker host '%s': write an IPv6 address in brackets, [addr]:port", host);
		hl = colon ? (size_t)(colon - a) : n;
	}
	if (hl == 0)
		return rc_errf(err, "docker host '%s' has no address", host);
	if (memchr(a, '@', hl))
		return rc_errf(err, "docker host '%s': user names are not supported", host);
	const char *port = NULL;
	size_t pl = 0;
	if (hl < n) {
		if (a[hl] != ':')
			return rc_errf(err, "docker host '%s': unexpected text after the address", host);
		port = a + hl + 1;
		pl = n - hl - 1;
		if (!valid_port(port, pl))
			return rc_errf(err, "docker host '%s' has an invalid port '%.*s' (1 to 65535)", host, (int)pl,
				       port);
	}
	*ret_hostlen = hl;
	*ret_port = port;
	*ret_portlen = pl;
	return 0;
}

/* A user name ssh is given: letters, digits, '.', '_', '-', not first. */
static bool valid_user(const char *u, size_t n)
{
	if (n == 0 || n > 64 || u[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(u[i] >= 'a' && u[i] <= 'z') && !(u[i] >= 'A' && u[i] <= 'Z') && !(u[i] >= '0' && u[i] <= '9') &&
		    u[i] != '.' && u[i] != '_' && u[i] != '-')
			return false;
	return true;
}

/* A host ssh is given: a name, an IPv4 address or [v6]; nothing ssh could read as an option. */
static bool valid_ssh_host(const char *h, size_t n)
{
	if (n == 0 || h[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = h[i];
		if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') && !(ch >= '0' && ch <= '9') && ch != '.' &&
		    ch != '-' && ch != '_' && ch != ':' && ch != '[' && ch != ']')
			return false;
	}
	return true;
}

/*
 * ssh://[user@]host[:port][/socket]: the destination and port ssh is given
 * and the engine's socket on that host (an absolute path, no ':' — it goes
 * into ssh's -L LOCAL:REMOTE).  The local socket is made later (docker_ssh.c).
 */
static int parse_ssh(const char *host, struct dk_endpoint *ret, struct rc_err *err)
{
	const char *a = host + strlen("ssh://");
	size_t n = strcspn(a, "/");
	const char *path = a[n] ? a + n : NULL;
	const char *at = memchr(a, '@', n);
	const char *hp = at ? at + 1 : a;
	size_t hn = n - (size_t)(hp - a);
	if (at && !valid_user(a, (size_t)(at - a)))
		return rc_errf(err, "docker host '%s': the user name must be letters, digits, '.', '_' or '-'", host);
	size_t hl = 0, pl = 0;
	const char *port = NULL;
	if (hn == 0)
		return rc_errf(err, "docker host '%s' has no address", host);
	if (split_authority(host, hp, hn, &hl, &port, &pl, err) < 0)
		return -1;
	if (!valid_ssh_host(hp, hl))
		return rc_errf(err, "docker host '%s': '%.*s' is not a host name or address", host, (int)hl, hp);
	if (path && (str_eq(path, "/") || strchr(path, ':') || strlen(path) > 107))
		return rc_errf(err, "docker host '%s': the engine's socket on that host must be an absolute path without "
			       "':' (at most 107 bytes), like ssh://%.*s/var/run/docker.sock", host, (int)n, a);
	/* [v6] goes to ssh without its brackets */
	const char *h0 = hp[0] == '[' ? hp + 1 : hp;
	int h0n = hp[0] == '[' ? (int)hl - 2 : (int)hl;
	*ret = (struct dk_endpoint){
		.base_url = xstrdup("http://localhost"),
		.ssh_dest = at ? xasprintf("%.*s@%.*s", (int)(at - a), a, h0n, h0) : xasprintf("%.*s", h0n, h0),
		.ssh_port = port ? xasprintf("%.*s", (int)pl, port) : NULL,
		.ssh_sock = xstrdup(path ? path : "/var/run/docker.sock"),
	};
	return 0;
}

/* CERT_PATH/ca.pem, cert.pem, key.pem: CERT_PATH is $DOCKER_CERT_PATH, else $HOME/.docker. */
static int tls_files(const struct dk_tls_env *env, struct dk_endpoint *e, struct rc_err *err)
{
	const char *dir = env && env->cert_path && *env->cert_path ? env->cert_path : NULL;
	_cleanup_free_ char *home_dir = NULL;
	if (!dir) {
		if (!env || !env->home || !*env->home)
			return rc_errf(err, "TLS to the docker engine needs DOCKER_CERT_PATH (or HOME, for ~/.docker)");
		dir = home_dir = xasprintf("%s/.docker", env->home);
	}
	e->ca_file = xasprintf("%s/ca.pem", dir);
	e->cert_file = xasprintf("%s/cert.pem", dir);
	e->key_file = xasprintf("%s/key.pem", dir);
	return 0;
}

int dk_host_parse(const char *host, const struct dk_tls_env *env, struct dk_endpoint *ret, struct rc_err *err)
{
	if (!host || !*host)
		host = DK_DEFAULT_HOST;
	if (str_startswith(host, "unix://") || host[0] == '/')
		return parse_unix(host, ret, err);
	bool verify = env && env->tls_verify && *env->tls_verify;
	bool tls, http_scheme = false;
	const char *hp;
	if (str_startswith(host, "tcp://")) {
		hp = host + strlen("tcp://");
		tls = verify;
	} else if (str_startswith(host, "https://")) {
		hp = host + strlen("https://");
		tls = true;
	} else if (str_startswith(host, "http://")) {
		if (verify)
			return rc_errf(err, "docker host '%s' is plain HTTP but DOCKER_TLS_VERIFY is set: use tcp:// or https://",
				       host);
		hp = host + strlen("http://");
		tls = false;
		http_scheme = true;
	} else if (str_startswith(host, "ssh://")) {
		return parse_ssh(host, ret, err);
	} else {
		return rc_errf(err, "unsupported docker host '%s' (use unix://, tcp://, https:// or http://)", host);
	}
	size_t n = strcspn(hp, "/");
	if (n == 0)
		return rc_errf(err, "docker host '%s' has no address", host);
	size_t hl = 0, pl = 0;
	const char *port = NULL;
	if (split_authority(host, hp, n, &hl, &port, &pl, err) < 0)
		return -1;
	struct dk_endpoint e = { .tls = tls };
	if (tls && tls_files(env, &e, err) < 0)
		return -1;
	/* http:// keeps HTTP's own default port (80); tcp:// and https:// take the engine's */
	if (!port && !http_scheme) {
		port = tls ? PORT_TLS : PORT_PLAIN;
		pl = strlen(port);
	}
	e.base_url = port ? xasprintf("%s://%.*s:%.*s", tls ? "https" : "http", (int)hl, hp, (int)pl, port)
			  : xasprintf("http://%.*s", (int)hl, hp);
	*ret = e;
	return 0;
}
