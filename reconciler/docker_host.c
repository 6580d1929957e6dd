/*
 * docker_host.c — the host string: unix://, tcp://, http:// (pure).
 * See docker.h; the map of the client's files is in docker_int.h.
 */
#include "docker_int.h"

#include <string.h>

int parse_host(const char *host, char **ret_sock, char **ret_base, struct rc_err *err)
{
	if (!host || !*host)
		host = DK_DEFAULT_HOST;
	if (str_startswith(host, "unix://") || host[0] == '/') {
		const char *p = host[0] == '/' ? host : host + strlen("unix://");
		if (!*p)
			return rc_errf(err, "docker host '%s' has no socket path", host);
		if (strlen(p) > 107)
			return rc_errf(err, "docker socket path '%s' is longer than 107 bytes", p);
		*ret_sock = xstrdup(p);
		*ret_base = xstrdup("http://localhost");
		return 0;
	}
	const char *hp = NULL;
	if (str_startswith(host, "tcp://"))
		hp = host + strlen("tcp://");
	else if (str_startswith(host, "http://"))
		hp = host + strlen("http://");
	else
		return rc_errf(err, "unsupported docker host '%s' (use unix://, tcp:// or http://)", host);
	size_t n = strcspn(hp, "/");
	if (n == 0)
		return rc_errf(err, "docker host '%s' has no address", host);
	*ret_sock = NULL;
	*ret_base = xasprintf("http://%.*s", (int)n, hp);
	return 0;
}
