/*
 * manifest_values.c — the value grammars every kind shares: names, booleans,
 * integers, durations, sizes, cpus, ports, IPv4 and CIDRs, paths, lists of
 * names and strings, key=value maps, argv (shell splitting), image
 * references, signals, capabilities (canonical CAP_ names), and the bind
 * checks (system directories no bind may touch, the state directory, the
 * policy's bind roots as a tree).  Each reads a node and reports at it.
 */
#include "manifest_int.h"

#include <ctype.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "strmap.h"
#include "util.h"

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* Docker's rule for object names, [a-zA-Z0-9][a-zA-Z0-9_.-]*, and our length cap. */
bool mf_valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_MAX_LEN || !is_alnum(s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* A scalar string (not null); else a diagnostic. */
const char *mf_as_str(struct ctx *c, const struct ynode *y, const char *key)
{
	if (!y)
		return NULL;
	if (y->kind != Y_SCALAR || y_is_null(y)) {
		mf_diag(c, y, "'%s' must be a string", key);
		return NULL;
	}
	return y->str;
}

const char *mf_get_str(struct ctx *c, const struct ynode *m, const char *key)
{
	return mf_as_str(c, y_get(m, key), key);
}

/* A name (Docker-safe); required: diagnostic at m when absent. */
const char *mf_get_name(struct ctx *c, const struct ynode *m, const char *key, const char *what,
		     bool required)
{
	const struct ynode *y = y_get(m, key);
	if (!y) {
		if (required)
			mf_diag(c, m, "%s has no '%s'", what, key);
		return NULL;
	}
	const char *s = mf_as_str(c, y, key);
	if (!s)
		return NULL;
	if (!mf_valid_name(s)) {
		mf_diag(c, y, "invalid %s '%s': use at most %d letters, digits, '_', '.', '-', starting with a letter or digit",
		     key, mf_shown(c, s), NAME_MAX_LEN);
		return NULL;
	}
	return s;
}

/* 1 set, 0 absent, -1 invalid (diagnosed). */
int mf_get_bool(struct ctx *c, const struct ynode *m, const char *key, bool *ret)
{
	const struct ynode *y = y_get(m, key);
	if (!y)
		return 0;
	if (y->kind == Y_SCALAR && y->plain && strcmp(y->str, "true") == 0) {
		*ret = true;
		return 1;
	}
	if (y->kind == Y_SCALAR && y->plain && strcmp(y->str, "false") == 0) {
		*ret = false;
		return 1;
	}
	mf_diag(c, y, "'%s' must be true or false", key);
	return -1;
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned dgt = (unsigned)(*s - '0');
		if (v > (max - dgt) / 10)
			return false;
		v = v * 10 + dgt;
	}
	*ret = v;
	return true;
}

int mf_get_int(struct ctx *c, const struct ynode *m, const char *key, int64_t lo, int64_t hi,
	    int64_t *ret)
{
	const struct ynode *y = y_get(m, key);
	if (!y)
		return 0;
	uint64_t v;
	if (y->kind != Y_SCALAR || !parse_uint(y->str, (uint64_t)hi, &v) || (int64_t)v < lo) {
		mf_diag(c, y, "'%s' must be a whole number from %lld to %lld", key, (long long)lo,
		     (long long)hi);
		return -1;
	}
	*ret = (int64_t)v;
	return 1;
}

/* Durations: 500ms, 10s, 5m, 1h, 1h30m, 1m30s (units in decreasing order). */
static bool parse_duration(const char *s, int64_t *ret)
{
	static const struct { const char *u; int64_t ns; } units[] = {
		{ "h", 3600 * NS_PER_S }, { "m", 60 * NS_PER_S }, { "s", NS_PER_S },
		{ "ms", NS_PER_MS }, { "us", NS_PER_US }, { "ns", 1 },
	};
	int64_t total = 0;
	size_t last = 0;
	bool any = false;
	while (*s) {
		uint64_t v = 0;
		size_t nd = 0;
		while (s[nd] >= '0' && s[nd] <= '9') {
			if (v > (UINT64_C(1) << 40))
				return false;
			v = v * 10 + (uint64_t)(s[nd] - '0');
			nd++;
		}
		if (nd == 0)
			return false;
		s += nd;
		size_t ul = 0;
		while (s[ul] && !(s[ul] >= '0' && s[ul] <= '9'))
			ul++;
		size_t u;
		for (u = 0; u < ARRAY_SIZE(units); u++)
			if (strlen(units[u].u) == ul && strncmp(s, units[u].u, ul) == 0)
				break;
		if (u == ARRAY_SIZE(units) || (any && u <= last))
			return false;
		if (v > (uint64_t)(INT64_MAX / 4) / (uint64_t)units[u].ns)
			return false;
		total += (int64_t)v * units[u].ns;
		if (total > INT64_MAX / 4)
			return false;
		last = u;
		any = true;
		s += ul;
	}
	if (!any)
		return false;
	*ret = total;
	return true;
}

int mf_get_duration(struct ctx *c, const struct ynode *m, const char *key, int64_t *ret)
{
	const struct ynode *y = y_get(m, key);
	if (!y)
		return 0;
	int64_t v;
	if (y->kind != Y_SCALAR || !parse_duration(y->str, &v)) {
		mf_diag(c, y, "'%s' is not a duration: write e.g. 500ms, 10s, 5m, 1h30m", key);
		return -1;
	}
	*ret = v;
	return 1;
}

/* Sizes: bytes, or k/m/g/t (binary) with an optional b. */
static bool parse_size(const char *s, int64_t *ret)
{
	size_t nd = 0;
	while (s[nd] >= '0' && s[nd] <= '9')
		nd++;
	if (nd == 0 || nd > 18)
		return false;
	char num[20];
	memcpy(num, s, nd);
	num[nd] = '\0';
	uint64_t v;
	if (!parse_uint(num, UINT64_C(1) << 62, &v))
		return false;
	const char *u = s + nd;
	uint64_t mul = 1;
	switch (tolower((unsigned char)*u)) {
	case '\0': break;
	case 'b': mul = 1; break;
	case 'k': mul = UINT64_C(1) << 10; break;
	case 'm': mul = UINT64_C(1) << 20; break;
	case 'g': mul = UINT64_C(1) << 30; break;
	case 't': mul = UINT64_C(1) << 40; break;
	default: return false;
	}
	if (*u) {
		u++;
		if (mul > 1 && (*u == 'b' || *u == 'B'))
			u++;
		if (*u)
			return false;
	}
	if (v > (UINT64_C(1) << 62) / mul)
		return false;
	*ret = (int64_t)(v * mul);
	return true;
}

int mf_get_size(struct ctx *c, const struct ynode *m, const char *key, int64_t *ret)
{
	const struct ynode *y = y_get(m, key);
	if (!y)
		return 0;
	int64_t v;
	if (y->kind != Y_SCALAR || !parse_size(y->str, &v)) {
		mf_diag(c, y, "'%s' is not a size: write e.g. 512M, 1G, 1024k or plain bytes", key);
		return -1;
	}
	*ret = v;
	return 1;
}

/* CPUs as a decimal with at most 9 fractional digits → nano-CPUs. */
bool mf_parse_cpus(const char *s, int64_t *ret)
{
	int64_t whole = 0, frac = 0;
	size_t nw = 0, nf = 0;
	while (s[nw] >= '0' && s[nw] <= '9') {
		if (nw >= 5)
			return false;
		whole = whole * 10 + (s[nw] - '0');
		nw++;
	}
	s += nw;
	if (*s == '.') {
		s++;
		while (s[nf] >= '0' && s[nf] <= '9') {
			if (nf >= 9)
				return false;
			frac = frac * 10 + (s[nf] - '0');
			nf++;
		}
		if (nf == 0)
			return false;
		s += nf;
	}
	if (*s || nw == 0)
		return false;
	for (size_t i = nf; i < 9; i++)
		frac *= 10;
	*ret = whole * NS_PER_S + frac;
	return true;
}

bool mf_parse_port(const char *s, uint16_t *ret)
{
	uint64_t v;
	if (!parse_uint(s, 65535, &v) || v == 0)
		return false;
	*ret = (uint16_t)v;
	return true;
}

/*
 * Where the subnets of our networks may come from: the private unicast
 * ranges (RFC 1918) and the shared address space (RFC 6598).  Anything
 * else — 0.0.0.0/0, loopback, link-local, multicast, reserved or public
 * addresses — would shadow the host's own routes or not work at all.
 */
static const struct cidr private_ranges[] = {
	{ UINT32_C(0x0a000000), 8 },    /* 10.0.0.0/8 */
	{ UINT32_C(0xac100000), 12 },   /* 172.16.0.0/12 */
	{ UINT32_C(0xc0a80000), 16 },   /* 192.168.0.0/16 */
	{ UINT32_C(0x64400000), 10 },   /* 100.64.0.0/10 */
};
#define PRIVATE_RANGES "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10"

static bool cidr_private(const struct cidr *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(private_ranges); i++)
		if (cidr_holds(private_ranges[i], *c))
			return true;
	return false;
}

int mf_get_cidr(struct ctx *c, const struct ynode *y, const char *key, struct cidr *ret)
{
	if (y->kind != Y_SCALAR) {
		mf_diag(c, y, "'%s' must be a string", key);
		return -1;
	}
	struct cidr parsed;
	int r = cidr_parse(y->str, &parsed);
	if (r == CIDR_MALFORMED) {
		mf_diag(c, y, "'%s' is not an IPv4 subnet in CIDR form (e.g. 10.210.0.0/16): '%s'", key,
		     mf_shown(c, y->str));
		return -1;
	}
	if (r == CIDR_HOST_BITS) {
		char meant[CIDR_TEXT_MAX];
		cidr_format(parsed, meant);
		mf_diag(c, y, "subnet '%s' has host bits set (did you mean '%s'?)", mf_shown(c, y->str), meant);
		return -1;
	}
	if (!cidr_private(&parsed)) {
		mf_diag(c, y, "subnet '%s' is not inside a private range: '%s' must lie within %s", mf_shown(c, y->str), key,
		     PRIVATE_RANGES);
		return -1;
	}
	*ret = parsed;
	return 0;
}

bool mf_is_seq(struct ctx *c, const struct ynode *y, const char *key)
{
	if (y->kind != Y_SEQ) {
		mf_diag(c, y, "'%s' must be a list", key);
		return false;
	}
	return true;
}

/* Normalize an absolute path: no empty, '.' or '..' components, no trailing '/'. */
bool mf_clean_abs_path(const char *s)
{
	if (s[0] != '/')
		return false;
	if (strcmp(s, "/") == 0)
		return true;
	const char *p = s + 1;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
		else
			break;
	}
	return s[strlen(s) - 1] != '/';
}

/* path is root or below it (both clean absolute paths) */
bool mf_path_under(const char *path, const char *root)
{
	if (strcmp(root, "/") == 0)
		return true;
	size_t n = strlen(root);
	return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

void mf_refs_add(struct refs *r, const char *name, const struct ynode *at)
{
	GROW(r->v, r->n + 1, r->cap);
	r->v[r->n].name = name;
	r->v[r->n].at = at;
	r->n++;
}

bool mf_refs_has(const struct refs *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].name, name) == 0)
			return true;
	return false;
}

bool mf_hostpol_holds_root(const struct ohostpol *hp, const char *root)
{
	for (size_t i = 0; i < hp->bind_roots.n; i++)
		if (mf_path_under(root, hp->bind_roots.v[i].name))
			return true;
	return false;
}

/* A list of names (each Docker-safe, no duplicates). */
void mf_get_names(struct ctx *c, const struct ynode *m, const char *key, struct refs *out)
{
	const struct ynode *y = y_get(m, key);
	if (!y || !mf_is_seq(c, y, key))
		return;
	_cleanup_(strmap_freep) struct strmap *seen = strmap_new();
	for (size_t i = 0; i < out->n; i++)
		strmap_add(seen, out->v[i].name, &out->v[i]);
	for (size_t i = 0; i < y->n; i++) {
		const struct ynode *it = y->kids[i];
		const char *s = mf_as_str(c, it, key);
		if (!s)
			continue;
		if (!mf_valid_name(s)) {
			mf_diag(c, it, "invalid name '%s' in '%s': use at most %d letters, digits, '_', '.', '-', starting with a letter or digit",
			     mf_shown(c, s), key, NAME_MAX_LEN);
			continue;
		}
		if (strmap_add(seen, s, (void *)(uintptr_t)it)) {
			mf_diag(c, it, "'%s' is listed twice in '%s'", s, key);
			continue;
		}
		mf_refs_add(out, s, it);
	}
}

/* A list of strings. */
void mf_get_strings(struct ctx *c, const struct ynode *m, const char *key, struct refs *out)
{
	const struct ynode *y = y_get(m, key);
	if (!y || !mf_is_seq(c, y, key))
		return;
	for (size_t i = 0; i < y->n; i++) {
		const char *s = mf_as_str(c, y->kids[i], key);
		if (s)
			mf_refs_add(out, s, y->kids[i]);
	}
}

bool mf_has_ctl_or_space(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return true;
	return false;
}

void mf_kvs_add(struct kvs *k, const char *key, const char *value, const struct ynode *at)
{
	GROW(k->v, k->n + 1, k->cap);
	k->v[k->n].key = key;
	k->v[k->n].value = value;
	k->v[k->n].at = at;
	k->n++;
}

/* env / labels: a mapping, or a list of "KEY=VALUE". */
void mf_get_kvs(struct ctx *c, const struct ynode *m, const char *key, bool labels, struct kvs *out)
{
	const struct ynode *y = y_get(m, key);
	if (!y)
		return;
	if (y->kind == Y_SCALAR) {
		mf_diag(c, y, "'%s' must be a mapping or a list of KEY=VALUE", key);
		return;
	}
	size_t n = y->kind == Y_MAP ? y_npairs(y) : y->n;
	/* a mapping's keys are unique already (finish_map()); a list's are checked here */
	_cleanup_(strmap_freep) struct strmap *seen = y->kind == Y_SEQ ? strmap_new() : NULL;
	for (size_t i = 0; i < n; i++) {
		const struct ynode *at;
		const char *k, *v;
		if (y->kind == Y_MAP) {
			at = y_key(y, i);
			const struct ynode *val = y_val(y, i);
			k = at->str;
			if (val->kind != Y_SCALAR || y_is_null(val)) {
				mf_diag(c, val, "value of '%s' in '%s' must be a string", mf_shown(c, k), key);
				continue;
			}
			v = val->str;
		} else {
			at = y->kids[i];
			const char *s = mf_as_str(c, at, key);
			if (!s)
				continue;
			const char *eq = strchr(s, '=');
			if (!eq) {
				mf_diag(c, at, "'%s' entry '%s' is not KEY=VALUE", key, mf_shown(c, s));
				continue;
			}
			k = mf_keep(c, xstrndup(s, (size_t)(eq - s)));
			v = eq + 1;
		}
		if (!*k || strchr(k, '=') || mf_has_ctl_or_space(k)) {
			mf_diag(c, at, "invalid %s name '%s'", labels ? "label" : "variable", mf_shown(c, k));
			continue;
		}
		if (labels && str_startswith(k, "io.reconciler.")) {
			mf_diag(c, at, "label '%s' is reserved: 'io.reconciler.' labels are set by reconciler", mf_shown(c, k));
			continue;
		}
		if (seen && strmap_add(seen, k, (void *)(uintptr_t)at)) {
			mf_diag(c, at, "'%s' is set twice in '%s'", mf_shown(c, k), key);
			continue;
		}
		mf_kvs_add(out, k, v, at);
	}
}

/* Split a command line like a POSIX shell would (quotes and backslashes only). */
static int shell_split(struct ctx *c, const char *s, char ***ret, size_t *ret_n)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct buf w = BUF_INIT;
	bool inword = false;
	for (const char *p = s;; p++) {
		if (*p == '\0' || *p == ' ' || *p == '\t' || *p == '\n') {
			if (inword) {
				GROW(v, n + 1, cap);
				v[n++] = mf_keep(c, buf_detach(&w, NULL));
				inword = false;
			}
			if (*p == '\0')
				break;
			continue;
		}
		inword = true;
		if (*p == '\'') {
			const char *e = strchr(p + 1, '\'');
			if (!e)
				goto bad;
			buf_add(&w, p + 1, (size_t)(e - p - 1));
			if (e == p + 1)
				buf_add(&w, "", 0);
			p = e;
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
					p++;
				buf_addc(&w, *p);
			}
			if (!*p)
				goto bad;
			buf_add(&w, "", 0);
		} else if (*p == '\\') {
			if (!p[1])
				goto bad;
			p++;
			buf_addc(&w, *p);
		} else {
			buf_addc(&w, *p);
		}
	}
	buf_release(&w);
	if (!v)
		v = xcalloc(1, sizeof(*v));
	*ret = v;
	*ret_n = n;
	return 0;
bad:
	buf_release(&w);
	free(v);
	return -1;
}

void mf_get_argv(struct ctx *c, const struct ynode *m, const char *key, char ***ret, size_t *ret_n)
{
	const struct ynode *y = y_get(m, key);
	if (!y)
		return;
	if (y->kind == Y_SCALAR && !y_is_null(y)) {
		if (shell_split(c, y->str, ret, ret_n) < 0)
			mf_diag(c, y, "unterminated quote or trailing backslash in '%s'", key);
		return;
	}
	if (y->kind != Y_SEQ) {
		mf_diag(c, y, "'%s' must be a string or a list of strings", key);
		return;
	}
	char **v = xcalloc(y->n + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < y->n; i++) {
		const struct ynode *it = y->kids[i];
		if (it->kind != Y_SCALAR) {
			mf_diag(c, it, "'%s' must be a list of strings", key);
			continue;
		}
		v[n++] = it->str;
	}
	*ret = v;
	*ret_n = n;
}

/* Host directories no bind mount may come from, lead to, or hold: what the host
 * runs on, its users' homes and the engine's and system services' own state.
 * (/var itself is an ancestor of several, so it can be neither a root nor a source.) */
static const char *const forbidden_binds[] = {
	"/etc", "/proc", "/sys", "/dev", "/boot", "/usr", "/lib", "/lib64", "/bin", "/sbin",
	"/run", "/var/run", "/root", "/home", "/var/lib", "/var/log", "/var/spool", "/var/lib/docker",
};

/* Whether path is "/", one of them, lies inside one, holds one ("/var" holds
 * several; *ret_held names the first) or names a Docker socket. */
bool mf_bind_forbidden(const char *path, const char **ret_held)
{
	*ret_held = NULL;
	if (strcmp(path, "/") == 0 || strstr(path, "docker.sock"))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(forbidden_binds); i++)
		if (mf_path_under(path, forbidden_binds[i]))
			return true;
	for (size_t i = 0; i < ARRAY_SIZE(forbidden_binds); i++)
		if (mf_path_under(forbidden_binds[i], path)) {
			*ret_held = forbidden_binds[i];
			return true;
		}
	return false;
}

/*
 * The state directory as the loader can know it: the parent of the secrets
 * directory it was given (always "<state-dir>/secrets", manifest.h), as an
 * absolute clean path and, when it exists, its real path.  Neither may be
 * inside a bind root nor hold one: a container must never see the state,
 * its secrets or its lock.  NULLs when no secrets directory was given.
 */
static void state_dir_paths(struct ctx *c, const char **ret_abs, const char **ret_real)
{
	if (c->state_dir_known) {
		*ret_abs = c->state_dir_abs;
		*ret_real = c->state_dir_real;
		return;
	}
	c->state_dir_known = true;
	*ret_abs = *ret_real = NULL;
	const char *sd = c->opts ? c->opts->secrets_dir : NULL;
	if (!sd || !*sd)
		return;
	char *dir = mf_keep(c, xstrdup(sd));
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	char *slash = strrchr(dir, '/');
	if (strcmp(slash ? slash + 1 : dir, "secrets") != 0)
		return;
	if (!slash)
		dir = mf_keep(c, xstrdup("."));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (dir[0] != '/') {
		char cwd[4096];
		if (getcwd(cwd, sizeof(cwd)))
			dir = mf_keep(c, strcmp(dir, ".") == 0 ? xstrdup(cwd) : xasprintf("%s/%s", cwd, dir));
	}
	if (mf_clean_abs_path(dir))
		*ret_abs = c->state_dir_abs = dir;
	char *real = realpath(dir, NULL);
	if (real)
		*ret_real = c->state_dir_real = mf_keep(c, real);
}

/* The state directory root holds or lies inside (shown as the path that matched), or NULL. */
const char *mf_root_state_overlap(struct ctx *c, const char *root)
{
	const char *abs, *real;
	state_dir_paths(c, &abs, &real);
	const char *v[] = { abs, real };
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		if (v[i] && (mf_path_under(v[i], root) || mf_path_under(root, v[i])))
			return v[i];
	return NULL;
}

/* The child of node called name[0..len), or 0; made (as a ctx-owned key) when make is set. */
static size_t roots_child(struct ctx *c, struct roots *r, struct buf *key, size_t node, const char *name,
			  size_t len, bool make)
{
	buf_reset(key);
	buf_addf(key, "%zu/", node);
	buf_add(key, name, len);
	uintptr_t child = (uintptr_t)strmap_get(r->edges, buf_cstr(key));
	if (child || !make)
		return child ? child - 1 : 0;
	GROW(r->is_root, r->n + 1, r->cap);
	r->is_root[r->n] = false;
	strmap_add(r->edges, mf_keep(c, buf_detach(key, NULL)), (void *)(uintptr_t)(r->n + 1));
	return r->n++;
}

/* Mark the clean absolute path root (not "/": mf_bind_forbidden() refuses it). */
void mf_roots_add(struct ctx *c, struct roots *r, const char *root)
{
	struct buf key = BUF_INIT;
	size_t node = 0;
	for (const char *p = root + 1; *p;) {
		const char *e = strchrnul(p, '/');
		node = roots_child(c, r, &key, node, p, (size_t)(e - p), true);
		p = *e ? e + 1 : e;
	}
	r->is_root[node] = true;
	buf_release(&key);
}

/* Whether the clean absolute path is a root or lies below one. */
bool mf_roots_hold(struct ctx *c, struct roots *r, const char *path)
{
	struct buf key = BUF_INIT;
	size_t node = 0;
	bool held = false;
	for (const char *p = path + 1; *p && !held;) {
		const char *e = strchrnul(p, '/');
		node = roots_child(c, r, &key, node, p, (size_t)(e - p), false);
		if (!node)
			break;
		held = r->is_root[node];
		p = *e ? e + 1 : e;
	}
	buf_release(&key);
	return held;
}

/* "a, b, c" or "a, b, c and 7 more": at most five roots named in a message. */
const char *mf_roots_listed(struct ctx *c, const struct refs *roots)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < roots->n && i < 5; i++)
		buf_addf(&b, "%s%s", i ? ", " : "", mf_shown(c, roots->v[i].name));
	if (roots->n > 5)
		buf_addf(&b, " and %zu more", roots->n - 5);
	return mf_keep(c, buf_detach(&b, NULL));
}

/*
 * Image references, by the grammar the engine parses them with
 * (github.com/distribution/reference, regexp.go, and go-digest):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path          (at most 255 characters, counted
 *                                               with the "docker.io/" and "library/"
 *                                               the engine adds)
 *   domain     := host [ ":" port ]            (the first component, when it has a
 *                                               '.' or ':', is "localhost" or has
 *                                               upper case)
 *   host       := domain-component { "." domain-component } | "[" IPv6 "]"
 *   domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
 *   path       := path-component { "/" path-component }
 *   path-component := [a-z0-9]+ { separator [a-z0-9]+ }
 *   separator  := "." | "_" | "__" | "-"+
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest     := "sha256:" 64 | "sha384:" 96 | "sha512:" 128 lower-case hex digits
 *
 * and a name of exactly 64 lower-case hex digits is refused (an image ID).
 * *why says what is wrong, for "invalid image 'X': <why>".
 */
#define IMAGE_NAME_MAX 255
static bool is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool is_hex_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool path_component_ok(const char *s, size_t n)
{
	size_t i = 0;
	for (;;) {
		size_t run = 0;
		while (i < n && is_lower_alnum(s[i]))
			i++, run++;
		if (!run)
			return false;
		if (i == n)
			return true;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += i + 1 < n && s[i + 1] == '_' ? 2 : 1;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else
			return false;
	}
}

static bool domain_ok(const char *s, size_t n)
{
	const char *colon = NULL;
	size_t hn = n;
	if (n && s[0] == '[') {                           /* [IPv6][:port] */
		const char *close = memchr(s, ']', n);
		if (!close || close == s + 1)
			return false;
		for (const char *p = s + 1; p < close; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':')
				return false;
		hn = (size_t)(close - s) + 1;
		if (hn < n && s[hn] != ':')
			return false;
		colon = hn < n ? s + hn : NULL;
	} else {
		colon = memchr(s, ':', n);
		hn = colon ? (size_t)(colon - s) : n;
		/* domain-component { "." domain-component } */
		size_t i = 0;
		for (;;) {
			size_t start = i;
			while (i < hn && (is_alnum(s[i]) || s[i] == '-'))
				i++;
			if (i == start || s[start] == '-' || s[i - 1] == '-')
				return false;
			if (i == hn)
				break;
			if (s[i] != '.')
				return false;
			i++;
		}
	}
	if (colon) {
		size_t pn = n - (size_t)(colon - s) - 1;
		if (!pn)
			return false;
		for (size_t i = 1; i <= pn; i++)
			if (!isdigit((unsigned char)colon[i]))
				return false;
	}
	return true;
}

bool mf_image_ok(const char *s, const char **why)
{
	if (!*s || mf_has_ctl_or_space(s)) {
		*why = "it is empty or contains spaces";
		return false;
	}
	size_t n = strlen(s);
	if (n == 64 && is_hex_lower(s, n)) {
		*why = "64 hex digits are an image ID, not a reference";
		return false;
	}
	/* digest */
	const char *at = strchr(s, '@');
	size_t end = at ? (size_t)(at - s) : n;
	if (at) {
		static const struct { const char *alg; size_t hex; } algs[] = {
			{ "sha256:", 64 }, { "sha384:", 96 }, { "sha512:", 128 },
		};
		bool good = false;
		for (size_t i = 0; i < ARRAY_SIZE(algs) && !good; i++) {
			size_t al = strlen(algs[i].alg);
			good = strncmp(at + 1, algs[i].alg, al) == 0 && strlen(at + 1 + al) == algs[i].hex &&
			       is_hex_lower(at + 1 + al, algs[i].hex);
		}
		if (!good) {
			*why = "a digest is sha256: and 64 lower-case hex digits (or sha384: and 96, sha512: and 128)";
			return false;
		}
	}
	/* tag: after a ':' that follows the last '/' */
	const char *slash = NULL;
	for (size_t i = 0; i < end; i++)
		if (s[i] == '/')
			slash = s + i;
	const char *colon = memchr(slash ? slash : s, ':', end - (size_t)((slash ? slash : s) - s));
	if (colon) {
		const char *t = colon + 1;
		size_t tn = end - (size_t)(t - s);
		bool good = tn >= 1 && tn <= 128 && (is_alnum(t[0]) || t[0] == '_');
		for (size_t i = 1; good && i < tn; i++)
			good = is_alnum(t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-';
		if (!good) {
			*why = "a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'";
			return false;
		}
		end = (size_t)(colon - s);
	}
	/* domain: a first component with '.' or ':', "localhost", or upper case */
	size_t start = 0;
	const char *first = memchr(s, '/', end);
	if (first) {
		size_t fn = (size_t)(first - s);
		bool upper = false;
		for (size_t i = 0; i < fn; i++)
			upper = upper || (s[i] >= 'A' && s[i] <= 'Z');
		if (memchr(s, '.', fn) || memchr(s, ':', fn) || (fn == 9 && strncmp(s, "localhost", 9) == 0) || upper) {
			if (!domain_ok(s, fn)) {
				*why = "the registry is not a host name, an IPv4 address or [IPv6], with an optional :port";
				return false;
			}
			start = fn + 1;
		}
	}
	for (size_t i = start; i < end; i++) {
		if (s[i] >= 'A' && s[i] <= 'Z') {
			*why = "repository names must be lower case";
			return false;
		}
	}
	if (end == start) {
		*why = "the repository name is empty";
		return false;
	}
	for (size_t i = start; i <= end;) {
		const char *e = memchr(s + i, '/', end - i);
		size_t cn = e ? (size_t)(e - s) - i : end - i;
		if (!path_component_ok(s + i, cn)) {
			*why = "each part of the repository name is lower-case letters and digits, separated by one '.', "
			       "one or two '_' or any number of '-'";
			return false;
		}
		i += cn + 1;
	}
	/* the length the engine counts: docker.io/library/NAME for a bare name */
	bool path_slash = memchr(s + start, '/', end - start) != NULL;
	size_t counted = end + (start ? 0 : strlen("docker.io/") + (path_slash ? 0 : strlen("library/")));
	if (counted > IMAGE_NAME_MAX) {
		*why = start ? "the repository name is longer than 255 characters"
			     : "the repository name is longer than 255 characters (counting the 'docker.io/' "
			       "and 'library/' the engine adds)";
		return false;
	}
	return true;
}

/* The signal names the engine knows on Linux, without "SIG" (moby's SignalMap:
 * CLD, IOT and POLL are its aliases of CHLD, ABRT and IO).  Real-time signals
 * are RTMIN, RTMIN+1..RTMIN+15, RTMAX-14..RTMAX-1 and RTMAX (signal_rt). */
static const char *const signal_names[] = {
	"HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "IOT", "BUS", "FPE", "KILL", "USR1", "SEGV",
	"USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CLD", "CONT", "STOP", "TSTP", "TTIN",
	"TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "POLL", "PWR", "SYS",
	"RTMIN", "RTMAX",
};

/* RTMIN, RTMIN+n (1..15), RTMAX-n (1..14), RTMAX: written as moby writes them (no "+0", no "+01") */
static bool signal_rt(const char *s)
{
	unsigned max;
	if (str_startswith(s, "RTMIN"))
		max = 15;
	else if (str_startswith(s, "RTMAX"))
		max = 14;
	else
		return false;
	s += 5;
	if (!*s)
		return true;
	if (*s++ != (max == 15 ? '+' : '-') || *s == '0')
		return false;
	uint64_t n;
	return parse_uint(s, max, &n) && n >= 1;
}

bool mf_signal_known(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
		if (strcmp(name, signal_names[i]) == 0)
			return true;
	return signal_rt(name);
}

/* " (did you mean 'SIGx'?)" or "": names are compared without "SIG"; a real-time
 * offset out of range (SIGRTMIN+16) gets no suggestion */
const char *mf_signal_mean(struct ctx *c, const char *name)
{
	if (strpbrk(name, "+-"))
		return "";
	const char *s = mf_suggest(c, name, signal_names, ARRAY_SIZE(signal_names));
	return s ? mf_keep(c, xasprintf(" (did you mean 'SIG%s'?)", s)) : "";
}

/* The shape the manifest takes: SIG followed by upper-case letters, digits, '+' or '-',
 * or a number from 1 to 64.  Whether the name is one the engine knows is mf_signal_known's. */
bool mf_signal_ok(const char *s)
{
	uint64_t v;
	if (parse_uint(s, 64, &v))
		return v > 0;
	if (!str_startswith(s, "SIG") || !s[3])
		return false;
	for (s += 3; *s; s++)
		if (!(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') && *s != '+' && *s != '-')
			return false;
	return true;
}

/* The kernel's capability names (include/uapi/linux/capability.h), without "CAP_". */
static const char *const cap_names[] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

/* What no repository can widen policy.allow_cap_add to (each one is justified in
 * spec/manifest.md): every one of them hands the container the host. */
static const char *const cap_never_names[] = {
	"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE", "SYS_BOOT", "MAC_ADMIN",
	"MAC_OVERRIDE", "BPF", "PERFMON", "NET_ADMIN", "SYS_TIME", "DAC_READ_SEARCH", "LINUX_IMMUTABLE",
};

/*
 * One capability as written (in 'cap_add' or 'policy.allow_cap_add') to its one
 * canonical name: trimmed, upper case, exactly one optional "CAP_" stripped, and
 * then a name of the kernel's table or ALL — so that what is checked is what the
 * engine gets ('CAP_CAP_SYS_ADMIN' is unknown, not SYS_ADMIN).  NULL, with a
 * diagnostic at the value, when it is not a capability.  The result is ctx-owned.
 */
const char *mf_cap_parse(struct ctx *c, const char *raw, const struct ynode *at, const char *key)
{
	const char *b = raw, *e = raw + strlen(raw);
	while (b < e && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	char *r = mf_keep(c, xstrndup(b, (size_t)(e - b)));
	for (char *p = r; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (str_startswith(r, "CAP_"))
		r += 4;
	if (strcmp(r, "ALL") == 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		if (strcmp(r, cap_names[i]) == 0)
			return r;
	mf_diag(c, at, "unknown capability '%s' in '%s'%s", mf_shown(c, raw), key,
	     *r ? mf_mean(c, r, cap_names, ARRAY_SIZE(cap_names)) : "");
	return NULL;
}

bool mf_cap_never(const char *cap)
{
	for (size_t i = 0; i < ARRAY_SIZE(cap_never_names); i++)
		if (strcmp(cap, cap_never_names[i]) == 0)
			return true;
	return false;
}
