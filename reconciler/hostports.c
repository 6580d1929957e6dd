/* hostports.c — see hostports.h. */
#include "hostports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void hostports_parse(const char *text, uint16_t **v, size_t *n, size_t *cap)
{
	const char *line = text;
	while (line && *line) {
		const char *next = strchr(line, '\n');
		/* "  0: 00000000:07E8 00000000:0000 0A ..." : local address, remote address, state */
		char local[80], remote[80], st[8];
		if (sscanf(line, " %*[0-9]: %79s %79s %7s", local, remote, st) == 3 && strcmp(st, "0A") == 0) {
			const char *colon = strrchr(local, ':');
			char *end = NULL;
			unsigned long port = colon ? strtoul(colon + 1, &end, 16) : 0;
			if (colon && end && *end == '\0' && port > 0 && port <= 65535) {
				GROW(*v, *n + 1, *cap);
				(*v)[(*n)++] = (uint16_t)port;
			}
		}
		line = next ? next + 1 : NULL;
	}
}

static int u16_cmp(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

void hostports_listening(uint16_t **ret, size_t *ret_n)
{
	uint16_t *v = NULL;
	size_t n = 0, cap = 0;
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *data = NULL;
		size_t len = 0;
		struct rc_err err;
		if (read_file(files[i], 8 << 20, &data, &len, &err) < 0)
			continue;
		hostports_parse(data, &v, &n, &cap);
		free(data);
	}
	if (n)
		qsort(v, n, sizeof(*v), u16_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	*ret = v;
	*ret_n = k;
}
