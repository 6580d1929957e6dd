/*
 * manifest.c — see manifest.h; the format is documented in spec/manifest.md.
 *
 * Three passes:
 *  1. libyaml events → a small tree of nodes that remember file:line:col
 *     (limits, aliases and duplicate keys are checked here);
 *  2. each document → one object (settings, plan, network, service,
 *     template, customer), every key and value checked on its own;
 *  3. cross-document checks and expansion into rc_units and rc_networks.
 * Pass 3 runs only when passes 1 and 2 found nothing that would make its
 * findings unreliable (a syntax error can hide a plan, so "plan not found"
 * would be noise); every problem of a pass is reported.
 *
 * The loader is split by pass (manifest_int.h is their shared header):
 *   manifest_yaml.c     pass 1, the only user of libyaml
 *   manifest_diag.c     diagnostics, messages, "did you mean"
 *   manifest_values.c   the shared value grammars and bind checks
 *   manifest_service.c  pass 2 for a service's keys
 *   manifest_fields.c   pass 2 for the spec-key table's fields
 *   manifest_kinds.c    pass 2, one parser per kind, the host policy
 * This file: the entry point and what is not split out yet.
 */
#include "manifest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "custsecret.h"
#include "hash.h"
#include "seckey.h"
#include "spec.h"
#include "speckeys.h"
#include "strmap.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* pass 3: references, cycles, expansion, global checks                */

static int named_cmp(const void *pa, const void *pb)
{
	const struct named *a = pa, *b = pb;
	int r = strcmp(a->name, b->name);
	if (r)
		return r;
	r = strcmp(a->at->file, b->at->file);
	if (r)
		return r;
	if (a->at->line != b->at->line)
		return a->at->line < b->at->line ? -1 : 1;
	return a->at->col < b->at->col ? -1 : a->at->col > b->at->col;
}

/* Report every name that appears more than once, at each later occurrence. */
static void check_dups(struct ctx *c, struct named *v, size_t n, const char *fmt_what)
{
	if (n < 2)
		return;
	qsort(v, n, sizeof(*v), named_cmp);
	size_t first = 0;
	for (size_t i = 1; i < n; i++) {
		if (strcmp(v[i].name, v[first].name) != 0) {
			first = i;
			continue;
		}
		diag(c, v[i].at, "duplicate %s '%s' (first defined at %s:%d)", fmt_what, v[i].name,
		     v[first].at->file, v[first].at->line);
	}
}

/* Index every kind by name (the first object of a name; later ones are duplicates,
 * reported by check_dups).  After pass 2: the arrays do not move any more. */
static void model_index(struct model *m)
{
#define INDEX(map, arr, cnt, field)                         \
	map = strmap_new();                                  \
	for (size_t i = 0; i < (cnt); i++)                   \
		if ((arr)[i].field)                          \
			strmap_add(map, (arr)[i].field, &(arr)[i]);
	INDEX(m->plan_by, m->plans, m->nplans, name)
	INDEX(m->net_by, m->nets, m->nnets, name)
	INDEX(m->svc_by, m->svcs, m->nsvcs, name)
	INDEX(m->tmpl_by, m->tmpls, m->ntmpls, name)
#undef INDEX
}

static const struct oplan *find_plan(const struct model *m, const char *name)
{
	return name ? strmap_get(m->plan_by, name) : NULL;
}

static const struct onet *find_net(const struct model *m, const char *name)
{
	return name ? strmap_get(m->net_by, name) : NULL;
}

static const struct osvc *find_svc(const struct model *m, const char *name)
{
	return name ? strmap_get(m->svc_by, name) : NULL;
}

static const struct otmpl *find_tmpl(const struct model *m, const char *name)
{
	return name ? strmap_get(m->tmpl_by, name) : NULL;
}

static const struct osvc *tmpl_svc(const struct otmpl *t, const char *name)
{
	return name ? strmap_get(t->svc_by, name) : NULL;
}

static int u32_cmp(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	return a < b ? -1 : a > b;
}

/* The defined networks of s as sorted indexes into m->nets, made once per service. */
const uint32_t *net_ids(const struct model *m, const struct osvc *cs, size_t *ret_n)
{
	struct osvc *s = (struct osvc *)(uintptr_t)cs;   /* a cache, not a change */
	if (!s->net_ids) {
		s->net_ids = xcalloc(s->networks.n + 1, sizeof(*s->net_ids));
		for (size_t i = 0; i < s->networks.n; i++) {
			const struct onet *n = find_net(m, s->networks.v[i].name);
			if (n)
				s->net_ids[s->nnet_ids++] = (uint32_t)(n - m->nets);
		}
		qsort(s->net_ids, s->nnet_ids, sizeof(*s->net_ids), u32_cmp);
	}
	*ret_n = s->nnet_ids;
	return s->net_ids;
}

/*
 * Whether two services name a network in common: a merge of their sorted
 * network indexes, or a binary search of the shorter list's in the longer one
 * when one is much longer (many services depending on many others must stay
 * cheap: this runs once per dependency).
 */
static bool share_network(const struct model *m, const struct osvc *a, const struct osvc *b)
{
	size_t na, nb;
	const uint32_t *va = net_ids(m, a, &na), *vb = net_ids(m, b, &nb);
	if (na > nb) {
		const uint32_t *t = va;
		size_t tn = na;
		va = vb, na = nb, vb = t, nb = tn;
	}
	if (na * 8 < nb) {
		for (size_t i = 0; i < na; i++)
			if (bsearch(&va[i], vb, nb, sizeof(*vb), u32_cmp))
				return true;
		return false;
	}
	for (size_t i = 0, j = 0; i < na && j < nb;) {
		if (va[i] == vb[j])
			return true;
		if (va[i] < vb[j])
			i++;
		else
			j++;
	}
	return false;
}

static void names_add(struct names *n, const char *s)
{
	if (!s)
		return;
	GROW(n->v, n->n + 1, n->cap);
	n->v[n->n++] = s;
}

static void pass3_release(struct pass3 *p)
{
	free(p->plan_names.v);
	free(p->net_names.v);
	free(p->svc_names.v);
	free(p->tmpl_names.v);
	strmap_free(p->secret_by);
	for (size_t i = 0; i < p->nsecrets; i++) {
		free(p->secrets[i].path);
		free(p->secrets[i].key);
	}
	free(p->secrets);
	explicit_bzero(p->key, sizeof(p->key));
}

static void check_plan_ref(struct ctx *c, struct pass3 *p, const char *plan, const struct ynode *at)
{
	if (plan && !find_plan(c->m, plan))
		diag(c, at, "plan '%s' is not defined%s", plan, mean(c, plan, p->plan_names.v, p->plan_names.n));
}

bool manifest_secrets_current(const struct rc_desired *d, const char **ret_name)
{
	_cleanup_(strmap_freep) struct strmap *seen = strmap_new();  /* paths checked already: units share secrets */
	bool current = true;
	unsigned char key[RC_SECKEY_LEN];
	bool have_key = false;
	for (size_t i = 0; current && i < d->nunits; i++) {
		for (size_t k = 0; current && k < d->units[i].nsecrets; k++) {
			const struct rc_secret *s = &d->units[i].secrets[k];
			if (!s->path)
				continue;  /* loaded without a secrets directory */
			if (strmap_add(seen, s->path, s->path))
				continue;
			char *data = NULL, digest[RC_HASH_HEX_LEN + 1];
			size_t len = 0;
			struct rc_err err;
			if (!have_key) {
				_cleanup_free_ char *dir = xstrdup(s->path);
				char *slash = strrchr(dir, '/');
				if (slash)
					*slash = '\0';
				have_key = seckey_load(slash ? dir : ".", key, &err) == 0;
			}
			if (!have_key || read_private_file("secret", s->path, SECRET_MAX_SIZE, &data, &len, &err) < 0) {
				current = false;
			} else {
				rc_keyed128_hex(key, sizeof(key), data, len, digest);
				memset(data, 0, len);
				current = strcmp(digest, s->digest) == 0;
			}
			free(data);
			if (!current && ret_name)
				*ret_name = s->name;
		}
	}
	explicit_bzero(key, sizeof(key));
	return current;
}

/*
 * Why a secret file that is not a regular file of the running uid (the state
 * directory's owner: state_check_dir()) is refused, named by its path.  sb is
 * what is there (lstat when open_private() refused it); fallback: its error.
 */
static void secret_refused(struct ctx *c, const struct ynode *at, const char *name, const char *path,
			   const struct stat *sb, const char *fallback)
{
	char buf[64];
	const char *problem = sb ? private_file_problem(sb, false, buf) : NULL;
	if (!problem)
		diag(c, at, "cannot read secret '%s': %s", name, fallback);
	else if (S_ISLNK(sb->st_mode))
		diag(c, at, "secret '%s': '%s' is a symbolic link: secrets are never read through one "
		     "(put the file itself there, mode 0600)", name, path);
	else if (!S_ISREG(sb->st_mode))
		diag(c, at, "secret '%s': '%s' is not a regular file (%s)", name, path, problem);
	else
		diag(c, at, "secret '%s': '%s' is owned by uid %lu, not the state directory's owner (uid %lu)", name,
		     path, (unsigned long)sb->st_uid, (unsigned long)geteuid());
}

/*
 * Read (once) and digest a secret; the content is wiped and freed at once.
 * Opened with open_private() (O_NOFOLLOW, without blocking, fstat-checked):
 * the file checked for its mode is the one read, and only a regular file of
 * the running uid is.
 */
static const struct secret_entry *secret_get(struct ctx *c, struct pass3 *p, const char *name,
					     const char *cust, const struct osecdecl *decl, const struct ynode *at)
{
	if (!decl)
		cust = NULL;  /* not declared by the customer or its template: the global one */
	if (!p->secret_by)
		p->secret_by = strmap_new();
	/* a customer's own secret is known as "customer/name" (names hold no '/') */
	char *ckey = cust ? xasprintf("%s/%s", cust, name) : NULL;
	uintptr_t known = (uintptr_t)strmap_get(p->secret_by, ckey ? ckey : name);
	if (known) {
		free(ckey);
		return p->secrets[known - 1].ok ? &p->secrets[known - 1] : NULL;
	}
	GROW(p->secrets, p->nsecrets + 1, p->capsecrets);
	struct secret_entry *e = &p->secrets[p->nsecrets++];
	memset(e, 0, sizeof(*e));
	e->name = name;
	e->customer = cust;
	e->key = ckey;
	strmap_add(p->secret_by, ckey ? ckey : name, (void *)(uintptr_t)p->nsecrets);
	const char *dir = c->opts ? c->opts->secrets_dir : NULL;
	if (!dir) {
		rc_hash128_hex("", 0, e->digest);
		e->ok = true;
		return e;
	}
	if (c->opts->secrets_dir_refused) {
		diag(c, at, "secret '%s': %s", name, c->opts->secrets_dir_refused);
		return NULL;
	}
	struct rc_err err;
	e->path = cust ? custsecret_path(dir, cust, name) : xasprintf("%s/%s", dir, name);
	if (cust && decl->gen_bytes) {
		if (!c->opts->generate_secrets && access(e->path, F_OK) < 0 && errno == ENOENT) {
			/* validate, render, diff: made by the first plan or apply; digested as empty meanwhile */
			rc_hash128_hex("", 0, e->digest);
			e->ok = true;
			return e;
		}
		if (c->opts->generate_secrets &&
		    custsecret_generate(e->path, decl->gen_bytes, decl->gen_base64 ? CUSTSECRET_BASE64 : CUSTSECRET_HEX,
					&err) < 0) {
			diag(c, at, "secret '%s' of customer '%s': %s", name, cust, err.msg);
			return NULL;
		}
	}
	struct stat st;
	int fd = open_private("secret", e->path, O_RDONLY, 0, &err);
	if (fd == -1 && errno == ENOENT) {
		if (cust)
			diag(c, at, "secret '%s' of customer '%s' not found: put it in '%s' (mode 0600)", name, cust,
			     e->path);
		else
			diag(c, at, "secret '%s' not found in the secrets directory", name);
		return NULL;
	}
	if (fd == -2) {
		bool seen = lstat(e->path, &st) == 0;
		secret_refused(c, at, name, e->path, seen ? &st : NULL, err.msg);
		return NULL;
	}
	if (fd < 0) {
		diag(c, at, "cannot read secret '%s': %s", name, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		diag(c, at, "cannot read secret '%s': %s", name, strerror(errno));
		close(fd);
		return NULL;
	}
	if (st.st_mode & 077) {
		diag(c, at, "secret '%s' must be readable by its owner only (mode 0600, not %04o)", name,
		     (unsigned)(st.st_mode & 07777));
		close(fd);
		return NULL;
	}
	if (p->key_state == 0)
		p->key_state = seckey_load(dir, p->key, &err) == 0 ? 1 : -1;
	if (p->key_state < 0) {
		/* the first secret says why; the others only that it was not digested */
		if (p->key_state == -1)
			diag(c, at, "secret '%s': %s", name, err.msg);
		else
			diag(c, at, "secret '%s' cannot be digested without the key (see above)", name);
		p->key_state = -2;
		close(fd);
		return NULL;
	}
	char *data = NULL;
	size_t len = 0;
	if (read_fd(fd, e->path, SECRET_MAX_SIZE, &data, &len, &err) < 0) {
		diag(c, at, "cannot read secret '%s' (at most %u bytes)", name, SECRET_MAX_SIZE);
		return NULL;
	}
	rc_keyed128_hex(p->key, sizeof(p->key), data, len, e->digest);
	explicit_bzero(data, len);
	free(data);
	e->ok = true;
	return e;
}

/* References of one service (shared when t is NULL). */
static void check_svc_refs(struct ctx *c, struct pass3 *p, const struct osvc *s, const struct otmpl *t)
{
	const struct model *m = c->m;
	check_plan_ref(c, p, s->plan, s->plan_at);
	for (size_t i = 0; i < s->networks.n; i++) {
		const char *n = s->networks.v[i].name;
		if (!find_net(m, n))
			diag(c, s->networks.v[i].at, "network '%s' is not defined%s", n,
			     mean(c, n, p->net_names.v, p->net_names.n));
	}
	/* a template's secrets may be each customer's own: read per customer at expansion */
	for (size_t i = 0; !t && i < s->secrets.n; i++)
		secret_get(c, p, s->secrets.v[i].name, NULL, NULL, s->secrets.v[i].at);
	for (size_t i = 0; i < s->ndeps; i++) {
		const struct odep *d = &s->deps[i];
		const struct osvc *target = t ? tmpl_svc(t, d->name) : NULL;
		bool shared = false;
		if (!target) {
			target = find_svc(m, d->name);
			shared = target != NULL;
		}
		if (!target && !diag_room(c)) {
			diag(c, d->at, "'depends_on' names '%s', which is not defined", d->name);
			continue;
		}
		if (!target) {
			struct names cand = { 0 };
			if (t)
				for (size_t j = 0; j < t->nsvcs; j++)
					names_add(&cand, t->svcs[j].name);
			for (size_t j = 0; j < p->svc_names.n; j++)
				names_add(&cand, p->svc_names.v[j]);
			if (t)
				diag(c, d->at, "'depends_on' names '%s', which is neither a service of template '%s' nor a shared Service%s",
				     d->name, t->name, mean(c, d->name, cand.v, cand.n));
			else
				diag(c, d->at, "'depends_on' names '%s', which is not a shared Service%s", d->name,
				     mean(c, d->name, cand.v, cand.n));
			free(cand.v);
			continue;
		}
		if (d->cond == RC_DEP_HEALTHY && target->health.kind == RC_HEALTH_NONE)
			diag(c, d->at, "'%s' waits for '%s' to be healthy, but '%s' has no 'health' check", s->name,
			     d->name, d->name);
		if (t && shared && !share_network(m, s, target))
			diag(c, d->at, "'%s' depends on shared service '%s' but shares no network with it%s",
			     s->name, d->name,
			     !diag_room(c) ? ""
			     : target->networks.n ? keep(c, xasprintf(" (add '%s' to 'networks')", target->networks.v[0].name))
						  : " (it is on no shared network)");
	}
}

struct edge {
	size_t to;
	const struct ynode *at;
};
struct gnode {
	const char *name;
	const char *tmpl;
	struct edge *e;
	size_t ne, cap;
	int color;               /* 0 unseen, 1 on the path, 2 done */
	size_t pos;              /* where on the path, while color is 1 */
};

/* One cycle: the path from where w stands on it to its end, back to w. */
static void report_cycle(struct ctx *c, const struct gnode *g, const size_t *path, const struct ynode **path_at,
			 size_t start, size_t end, size_t w)
{
	if (!diag_room(c)) {
		diag(c, path_at[start], "dependency cycle");   /* counted only */
		return;
	}
	struct buf b = BUF_INIT;
	for (size_t k = start; k <= end; k++)
		buf_addf(&b, "%s -> ", g[path[k]].name);
	buf_adds(&b, g[w].name);
	if (g[w].tmpl)
		diag(c, path_at[start], "dependency cycle in template '%s': %s", g[w].tmpl, buf_cstr(&b));
	else
		diag(c, path_at[start], "dependency cycle: %s", buf_cstr(&b));
	buf_release(&b);
}

/* Depth first from every unseen node, with an explicit stack (a chain of
 * 20,000 services must not be 20,000 C frames); every back edge is a cycle. */
static void dfs(struct ctx *c, struct gnode *g, size_t root, size_t *path, size_t *next,
		const struct ynode **path_at)
{
	size_t top = 0;
	path[top] = root;
	next[top] = 0;
	g[root].color = 1;
	g[root].pos = top++;
	while (top) {
		size_t v = path[top - 1];
		if (next[top - 1] == g[v].ne) {
			g[v].color = 2;
			top--;
			continue;
		}
		const struct edge *e = &g[v].e[next[top - 1]++];
		size_t w = e->to;
		path_at[top - 1] = e->at;
		if (g[w].color == 1) {
			report_cycle(c, g, path, path_at, g[w].pos, top - 1, w);
		} else if (g[w].color == 0) {
			path[top] = w;
			next[top] = 0;
			g[w].color = 1;
			g[w].pos = top++;
		}
	}
}

static void add_edges(struct gnode *g, size_t v, const struct model *m, const struct osvc *s,
		      const struct otmpl *t, size_t base)
{
	for (size_t i = 0; i < s->ndeps; i++) {
		const struct osvc *to = t ? tmpl_svc(t, s->deps[i].name) : NULL;
		size_t w = to ? base + (size_t)(to - t->svcs) : SIZE_MAX;
		if (!to && (to = find_svc(m, s->deps[i].name)))
			w = (size_t)(to - m->svcs);
		if (w == SIZE_MAX)
			continue;
		GROW(g[v].e, g[v].ne + 1, g[v].cap);
		g[v].e[g[v].ne++] = (struct edge){ w, s->deps[i].at };
	}
}

static void find_cycles(struct ctx *c)
{
	const struct model *m = c->m;
	size_t n = m->nsvcs;
	for (size_t i = 0; i < m->ntmpls; i++)
		n += m->tmpls[i].nsvcs;
	if (n == 0)
		return;
	struct gnode *g = xcalloc(n, sizeof(*g));
	size_t k = 0;
	for (size_t i = 0; i < m->nsvcs; i++) {
		g[k].name = m->svcs[i].name ? m->svcs[i].name : "?";
		add_edges(g, k++, m, &m->svcs[i], NULL, 0);
	}
	for (size_t i = 0; i < m->ntmpls; i++) {
		const struct otmpl *t = &m->tmpls[i];
		size_t base = k;
		for (size_t j = 0; j < t->nsvcs; j++) {
			g[k].name = t->svcs[j].name;
			g[k].tmpl = t->name;
			add_edges(g, k++, m, &t->svcs[j], t, base);
		}
	}
	size_t *path = xcalloc(n, sizeof(*path));
	size_t *next = xcalloc(n, sizeof(*next));
	const struct ynode **path_at = xcalloc(n, sizeof(*path_at));
	for (size_t v = 0; v < n; v++)
		if (g[v].color == 0)
			dfs(c, g, v, path, next, path_at);
	for (size_t v = 0; v < n; v++)
		free(g[v].e);
	free(g);
	free(path);
	free(next);
	free(path_at);
}

/* The values one unit of s carries, before the customer's env is merged in. */
static size_t svc_values(const struct osvc *s)
{
	size_t n = s->env.n + s->labels.n + s->nports + s->has_port + s->nvols + s->secrets.n + s->networks.n +
		   s->ndeps + s->ncommand + s->nentrypoint + s->cap_add.n + s->devices.n;
	for (int i = 0; i < SK__COUNT; i++)
		n += s->fields[i].nkv;
	return n;
}

/*
 * Customers multiply templates: a few kilobytes can ask for millions of
 * containers.  The expansion is counted before it is made, and the object
 * that takes it past RC_MANIFEST_MAX_UNITS units or RC_MANIFEST_MAX_VALUES
 * values is an error.
 */
static void check_expansion(struct ctx *c)
{
	const struct model *m = c->m;
	size_t units = 0, values = 0;
	const struct ynode *at = NULL;
	for (size_t i = 0; i < m->nsvcs && !at; i++) {
		units++;
		values += svc_values(&m->svcs[i]);
		if (units > RC_MANIFEST_MAX_UNITS || values > RC_MANIFEST_MAX_VALUES)
			at = m->svcs[i].at;
	}
	size_t *tvals = xcalloc(m->ntmpls + 1, sizeof(*tvals));
	for (size_t i = 0; i < m->ntmpls; i++)
		for (size_t j = 0; j < m->tmpls[i].nsvcs; j++)
			tvals[i] += svc_values(&m->tmpls[i].svcs[j]);
	for (size_t i = 0; i < m->ncusts && !at; i++) {
		const struct ocust *u = &m->custs[i];
		const struct otmpl *t = find_tmpl(m, u->tmpl);
		if (!t)
			continue;
		units += t->nsvcs;
		values += tvals[t - m->tmpls] + t->nsvcs * u->env.n;
		for (size_t j = 0; j < u->nover; j++)
			values += u->over[j].env.n;
		if (units > RC_MANIFEST_MAX_UNITS || values > RC_MANIFEST_MAX_VALUES)
			at = u->at;
	}
	free(tvals);
	if (units > RC_MANIFEST_MAX_UNITS)
		diag(c, at, "the manifests expand to more than %d units (containers) here, the most one set may have",
		     RC_MANIFEST_MAX_UNITS);
	else if (values > RC_MANIFEST_MAX_VALUES)
		diag(c, at, "the manifests expand to more than %d values (env, labels, ports, mounts, networks, dependencies, arguments of every unit) here, the most one set may have",
		     RC_MANIFEST_MAX_VALUES);
}

static void cross_check(struct ctx *c, struct pass3 *p)
{
	struct model *m = c->m;
	struct named *nv;
	size_t nn;

#define DUPS(arr, cnt, field, what)                                   \
	nv = xcalloc((cnt) + 1, sizeof(*nv));                          \
	nn = 0;                                                        \
	for (size_t i = 0; i < (cnt); i++)                             \
		if ((arr)[i].field)                                    \
			nv[nn++] = (struct named){ (arr)[i].field, (arr)[i].at }; \
	check_dups(c, nv, nn, what);                                   \
	free(nv);
	DUPS(m->plans, m->nplans, name, "Plan")
	DUPS(m->nets, m->nnets, name, "Network")
	DUPS(m->svcs, m->nsvcs, name, "Service")
	DUPS(m->tmpls, m->ntmpls, name, "Template")
	DUPS(m->custs, m->ncusts, id, "Customer")
#undef DUPS
	model_index(m);

	for (size_t i = 0; i < m->nplans; i++)
		names_add(&p->plan_names, m->plans[i].name);
	for (size_t i = 0; i < m->nnets; i++)
		names_add(&p->net_names, m->nets[i].name);
	for (size_t i = 0; i < m->nsvcs; i++)
		names_add(&p->svc_names, m->svcs[i].name);
	for (size_t i = 0; i < m->ntmpls; i++)
		names_add(&p->tmpl_names, m->tmpls[i].name);

	check_plan_ref(c, p, m->set.default_plan, m->set.default_plan_at);
	for (size_t i = 0; i < m->nsvcs; i++)
		check_svc_refs(c, p, &m->svcs[i], NULL);
	for (size_t i = 0; i < m->ntmpls; i++) {
		const struct otmpl *t = &m->tmpls[i];
		check_plan_ref(c, p, t->plan, t->plan_at);
		for (size_t j = 0; j < t->nsvcs; j++)
			check_svc_refs(c, p, &t->svcs[j], t);
	}
	const struct osettings *set = &m->set;
	for (size_t i = 0; i < m->ncusts; i++) {
		const struct ocust *u = &m->custs[i];
		check_plan_ref(c, p, u->plan, u->plan_at);
		if (!u->tmpl)
			continue;
		const struct otmpl *t = find_tmpl(m, u->tmpl);
		if (!t) {
			diag(c, u->tmpl_at, "template '%s' is not defined%s", u->tmpl,
			     mean(c, u->tmpl, p->tmpl_names.v, p->tmpl_names.n));
			continue;
		}
		const struct osvc *ps = t->port_svc;
		if (u->has_port && !ps) {
			diag(c, u->port_at, "template '%s' publishes no port (none of its services has 'port'), so 'port' means nothing here",
			     t->name);
		} else if (ps && (!u->has_port || u->port_auto) && !set->port_hi) {
			diag(c, u->port_at ? u->port_at : u->at,
			     "customer '%s' needs a host port: give 'port: NUMBER', or Settings 'ports: {range: LOW-HIGH}' for 'port: auto'",
			     u->id ? u->id : "?");
		} else if (ps && u->has_port && !u->port_auto && set->port_hi &&
			   (u->port < set->port_lo || u->port > set->port_hi)) {
			diag(c, u->port_at, "port %u is outside Settings ports.range %u-%u", u->port, set->port_lo,
			     set->port_hi);
		}
		for (size_t j = 0; j < u->nover; j++) {
			if (tmpl_svc(t, u->over[j].name))
				continue;
			if (!diag_room(c)) {
				diag(c, u->over[j].at, "template '%s' has no service '%s'", t->name, shown(c, u->over[j].name));
				continue;
			}
			struct names cand = { 0 };
			for (size_t k = 0; k < t->nsvcs; k++)
				names_add(&cand, t->svcs[k].name);
			diag(c, u->over[j].at, "template '%s' has no service '%s'%s", t->name, shown(c, u->over[j].name),
			     mean(c, u->over[j].name, cand.v, cand.n));
			free(cand.v);
		}
	}
	find_cycles(c);
	check_expansion(c);
}

/* --- expansion --- */

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_kv *)a)->key, ((const struct rc_kv *)b)->key);
}

/* The layers merged, later ones winning; sorted by key. */
static void set_kvs(struct rc_kv **ret, size_t *ret_n, const struct kvs *const *layers, size_t nl)
{
	struct kvs all = { 0 };
	size_t nonempty = 0;
	for (size_t l = 0; l < nl; l++)
		nonempty += layers[l] && layers[l]->n;
	/* one layer: its keys are unique already, nothing to merge */
	_cleanup_(strmap_freep) struct strmap *at = nonempty > 1 ? strmap_new() : NULL;   /* key -> index in all, plus 1 */
	for (size_t l = 0; l < nl; l++) {
		for (size_t i = 0; layers[l] && i < layers[l]->n; i++) {
			const struct okv *kv = &layers[l]->v[i];
			uintptr_t j = at ? (uintptr_t)strmap_get(at, kv->key) : 0;
			if (j) {
				all.v[j - 1].value = kv->value;
			} else {
				kvs_add(&all, kv->key, kv->value, NULL);
				if (at)
					strmap_set(at, kv->key, (void *)(uintptr_t)all.n);
			}
		}
	}
	if (all.n == 0)
		return;
	struct rc_kv *v = xcalloc(all.n, sizeof(*v));
	for (size_t i = 0; i < all.n; i++) {
		v[i].key = xstrdup(all.v[i].key);
		v[i].value = xstrdup(all.v[i].value);
	}
	qsort(v, all.n, sizeof(*v), kv_cmp);
	*ret = v;
	*ret_n = all.n;
	free(all.v);
}

static char **copy_argv(char **v, size_t n)
{
	if (!v)
		return NULL;
	char **r = xcalloc(n + 1, sizeof(*r));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

static int port_cmp(const void *pa, const void *pb)
{
	const struct rc_port *a = pa, *b = pb;
	if (a->container_port != b->container_port)
		return a->container_port < b->container_port ? -1 : 1;
	return strcmp(a->proto, b->proto);
}

static int mount_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_mount *)a)->target, ((const struct rc_mount *)b)->target);
}

static int secret_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_secret *)a)->name, ((const struct rc_secret *)b)->name);
}

static int dep_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_dep *)a)->unit, ((const struct rc_dep *)b)->unit);
}

static int unit_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_unit *)a)->id, ((const struct rc_unit *)b)->id);
}

static int network_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rc_network *)a)->name, ((const struct rc_network *)b)->name);
}

/* What the global checks need to know about each unit and host port. */
struct hostport {
	uint16_t port;
	const char *proto, *ip;
	const char *unit;
	const struct ynode *at;
};
struct volown {
	const char *volume;
	const char *owner;     /* customer id, or "" for shared services */
	const char *unit;
	const struct ynode *at;
};
struct expand_aux {
	const struct ynode **unit_at;   /* parallel to d->units before sorting: kept by id */
	struct hostport *hp;
	size_t nhp, caphp;
	struct volown *vo;
	size_t nvo, capvo;
	size_t nauto;
};

static void build_unit(struct ctx *c, struct pass3 *p, struct rc_desired *d, struct rc_unit *u,
		       const struct osvc *s, const struct otmpl *t, const struct ocust *cu,
		       struct expand_aux *aux)
{
	const struct model *m = c->m;
	const char *proj = d->settings.project;
	const struct over *ov = cu ? strmap_get(cu->over_by, s->name) : NULL;

	u->service = xstrdup(s->name);
	if (cu) {
		u->customer = xstrdup(cu->id);
		u->id = xasprintf("%s/%s", cu->id, s->name);
		u->container = xasprintf("%s-%s-%s", proj, cu->id, s->name);
	} else {
		u->id = xstrdup(s->name);
		u->container = xasprintf("%s-%s", proj, s->name);
	}
	u->image = xstrdup(ov && ov->image ? ov->image : s->image);
	u->command = copy_argv(s->command, s->ncommand);
	u->ncommand = s->command ? s->ncommand : 0;
	u->entrypoint = copy_argv(s->entrypoint, s->nentrypoint);
	u->nentrypoint = s->entrypoint ? s->nentrypoint : 0;
	const struct kvs *env_layers[] = { &s->env, cu ? &cu->env : NULL, ov ? &ov->env : NULL };
	set_kvs(&u->env, &u->nenv, env_layers, ARRAY_SIZE(env_layers));
	const struct kvs *label_layers[] = { &s->labels };
	set_kvs(&u->labels, &u->nlabels, label_layers, 1);

	/* ports */
	size_t np = s->nports + (s->has_port ? 1 : 0);
	if (np) {
		u->ports = xcalloc(np, sizeof(*u->ports));
		for (size_t i = 0; i < s->nports; i++) {
			struct rc_port *rp = &u->ports[u->nports++];
			rp->container_port = s->ports[i].cont;
			rp->host_port = s->ports[i].host;
			rp->host_ip = s->ports[i].ip ? xstrdup(s->ports[i].ip) : NULL;
			rp->proto = xstrdup(s->ports[i].proto);
			GROW(aux->hp, aux->nhp + 1, aux->caphp);
			aux->hp[aux->nhp++] = (struct hostport){ rp->host_port, s->ports[i].proto, s->ports[i].ip,
								 u->id, s->ports[i].at };
		}
		if (s->has_port) {
			struct rc_port *rp = &u->ports[u->nports++];
			rp->container_port = s->port;
			rp->proto = xstrdup("tcp");
			if (cu->has_port && !cu->port_auto) {
				rp->host_port = cu->port;
				GROW(aux->hp, aux->nhp + 1, aux->caphp);
				aux->hp[aux->nhp++] = (struct hostport){ cu->port, "tcp", NULL, u->id, cu->port_at };
			} else {
				rp->host_auto = true;
				aux->nauto++;
			}
		}
		qsort(u->ports, u->nports, sizeof(*u->ports), port_cmp);
	}

	/* mounts and secrets */
	size_t nm = s->nvols + s->secrets.n;
	if (nm)
		u->mounts = xcalloc(nm, sizeof(*u->mounts));
	for (size_t i = 0; i < s->nvols; i++) {
		const struct ovol *v = &s->vols[i];
		struct rc_mount *rm = &u->mounts[u->nmounts++];
		rm->kind = v->kind;
		rm->target = xstrdup(v->target);
		rm->read_only = v->ro;
		if (v->kind == RC_MOUNT_VOLUME) {
			rm->source = cu ? xasprintf("%s-%s-%s", proj, cu->id, v->src) : xasprintf("%s-%s", proj, v->src);
			GROW(aux->vo, aux->nvo + 1, aux->capvo);
			aux->vo[aux->nvo++] = (struct volown){ rm->source, cu ? cu->id : "", u->id, v->at };
		} else if (v->src) {
			rm->source = xstrdup(v->src);
		}
	}
	if (s->secrets.n)
		u->secrets = xcalloc(s->secrets.n, sizeof(*u->secrets));
	for (size_t i = 0; i < s->secrets.n; i++) {
		const char *name = s->secrets.v[i].name;
		const struct osecdecl *decl = NULL;
		if (cu && !(decl = find_secdecl(&cu->secrets, name)))
			decl = find_secdecl(t ? &t->secrets : NULL, name);
		const struct secret_entry *e = secret_get(c, p, name, cu ? cu->id : NULL, decl, s->secrets.v[i].at);
		struct rc_secret *rs = &u->secrets[u->nsecrets++];
		rs->name = xstrdup(name);
		rs->path = e && e->path ? xstrdup(e->path) : NULL;
		if (decl) {
			rs->customer = xstrdup(cu->id);
			rs->gen_bytes = decl->gen_bytes;
			rs->gen_base64 = decl->gen_base64;
		}
		if (e)
			memcpy(rs->digest, e->digest, sizeof(rs->digest));
		struct rc_mount *rm = &u->mounts[u->nmounts++];
		rm->kind = RC_MOUNT_SECRET;
		rm->source = xstrdup(name);
		rm->target = xasprintf("/run/secrets/%s", name);
		rm->read_only = true;
	}
	if (u->nmounts)
		qsort(u->mounts, u->nmounts, sizeof(*u->mounts), mount_cmp);
	if (u->nsecrets)
		qsort(u->secrets, u->nsecrets, sizeof(*u->secrets), secret_cmp);

	/* networks: the customer's own first, then the shared ones by name */
	size_t nn = s->networks.n + (cu ? 1 : 0);
	if (nn)
		u->networks = xcalloc(nn, sizeof(*u->networks));
	if (cu)
		u->networks[u->nnetworks++] = xasprintf("%s-%s", proj, cu->id);
	size_t first_shared = u->nnetworks;
	/* a customer joins a shared network through its own link network (tenant isolation: no two
	 * customers share a bridge; the shared services on it join each link network) */
	for (size_t i = 0; i < s->networks.n; i++)
		u->networks[u->nnetworks++] = cu && !m->set.shared_bridges
						      ? xasprintf("%s-%s-via-%s", proj, cu->id, s->networks.v[i].name)
						 : xasprintf("%s-%s", proj, s->networks.v[i].name);
	if (u->nnetworks - first_shared > 1)
		qsort(u->networks + first_shared, u->nnetworks - first_shared, sizeof(char *), strp_cmp);

	/* health */
	u->health = s->health;
	u->health.cmd = s->health.cmd ? xstrdup(s->health.cmd) : NULL;
	u->health.http_path = s->health.http_path ? xstrdup(s->health.http_path) : NULL;

	/* dependencies */
	if (s->ndeps)
		u->deps = xcalloc(s->ndeps, sizeof(*u->deps));
	for (size_t i = 0; i < s->ndeps; i++) {
		const struct odep *dp = &s->deps[i];
		char *id;
		if (t && tmpl_svc(t, dp->name))
			id = xasprintf("%s/%s", cu->id, dp->name);
		else
			id = xstrdup(dp->name);
		u->deps[u->ndeps].unit = id;   /* parse_depends() kept one of each name */
		u->deps[u->ndeps++].cond = dp->cond;
	}
	if (u->ndeps > 1)
		qsort(u->deps, u->ndeps, sizeof(*u->deps), dep_cmp);

	/* plan: the customer's, else the service's, else the template's, else the default */
	const char *plan = cu && cu->plan ? cu->plan : s->plan ? s->plan : t && t->plan ? t->plan
										   : m->set.default_plan;
	const struct oplan *pl = plan ? find_plan(m, plan) : NULL;
	u->plan = plan ? xstrdup(plan) : NULL;
	u->restart.policy = xstrdup(pl && pl->restart_policy ? pl->restart_policy : DEFAULT_RESTART_POLICY);
	u->restart.backoff_ns = DEFAULT_BACKOFF_NS;
	u->restart.max_backoff_ns = DEFAULT_MAX_BACKOFF_NS;
	if (pl) {
		u->nano_cpus = pl->cpus;
		u->memory = pl->memory;
		u->memory_reservation = pl->memory_reservation;
		u->pids_limit = pl->pids;
		u->restart.max_retries = (int)pl->max_retries;
		if (pl->has_backoff)
			u->restart.backoff_ns = pl->backoff;
		if (pl->has_max_backoff)
			u->restart.max_backoff_ns = pl->max_backoff;
		if (u->restart.max_backoff_ns < u->restart.backoff_ns)
			u->restart.max_backoff_ns = u->restart.backoff_ns;
		u->restart.max_failures = (int)pl->max_failures;
	}

	u->stop_grace_ns = s->has_stop_grace ? s->stop_grace : d->settings.default_stop_grace_ns;
	u->start_first = s->start_first;
	/* the spec-key table's rows: the service's (or the plan's) as written, else Settings.defaults' */
	for (int i = 0; i < SK__COUNT; i++) {
		const struct sk_value *own = sk_row((enum sk_id)i)->where & SK_IN_PLAN ? (pl ? pl->fields : NULL)
											 : s->fields;
		const struct sk_value *v = field_effective(m, own, i);
		if (v)
			sk_value_copy(&u->fields[i], v);
	}
	u->pid_host = s->pid_host;
	u->ipc_host = s->ipc_host;
	if (s->cap_add.n) {
		u->cap_add = xcalloc(s->cap_add.n, sizeof(char *));
		for (size_t i = 0; i < s->cap_add.n; i++)
			u->cap_add[u->ncap_add++] = xstrdup(s->cap_add.v[i].name);
		qsort(u->cap_add, u->ncap_add, sizeof(char *), strp_cmp);
	}
	if (s->devices.n) {
		u->devices = xcalloc(s->devices.n, sizeof(char *));
		for (size_t i = 0; i < s->devices.n; i++)
			u->devices[u->ndevices++] = xstrdup(s->devices.v[i].name);
		qsort(u->devices, u->ndevices, sizeof(char *), strp_cmp);
	}
	u->running = cu ? !cu->stopped : !s->stopped;
	u->protected_ = cu ? cu->protected_ : s->protected_;
	const struct ynode *at = cu ? cu->at : s->at;
	u->file = xstrdup(at->file);
	u->line = at->line;
}

struct unit_at {
	const char *id;
	const char *container;
	const struct ynode *at;
};

static int unit_at_cmp_container(const void *pa, const void *pb)
{
	const struct unit_at *a = pa, *b = pb;
	int r = strcmp(a->container, b->container);
	if (r)
		return r;
	return named_cmp(&(struct named){ a->id, a->at }, &(struct named){ b->id, b->at });
}

static int hp_cmp(const void *pa, const void *pb)
{
	const struct hostport *a = pa, *b = pb;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	int r = strcmp(a->proto, b->proto);
	if (r)
		return r;
	return named_cmp(&(struct named){ a->unit, a->at }, &(struct named){ b->unit, b->at });
}

static int vo_cmp(const void *pa, const void *pb)
{
	const struct volown *a = pa, *b = pb;
	int r = strcmp(a->volume, b->volume);
	if (r)
		return r;
	return named_cmp(&(struct named){ a->unit, a->at }, &(struct named){ b->unit, b->at });
}

/*
 * Two bindings of one host port and protocol conflict unless both name
 * different addresses.  Sorted by port, protocol and unit, each binding
 * that conflicts with an earlier one is reported once, naming the nearest
 * earlier one it conflicts with: the last binding without an address or
 * the last with the same address (a set per port), so 20,000 services on
 * one port with 20,000 addresses are not 2 * 10^8 comparisons.
 */
static void host_port_checks(struct ctx *c, struct expand_aux *aux)
{
	if (aux->nhp > 1)
		qsort(aux->hp, aux->nhp, sizeof(*aux->hp), hp_cmp);
	for (size_t g = 0; g < aux->nhp;) {
		size_t end = g + 1;
		while (end < aux->nhp && aux->hp[end].port == aux->hp[g].port &&
		       strcmp(aux->hp[end].proto, aux->hp[g].proto) == 0)
			end++;
		_cleanup_(strmap_freep) struct strmap *last_at = end - g > 1 ? strmap_new() : NULL;   /* ip -> index + 1 */
		size_t last_any = SIZE_MAX;    /* the last binding without an address */
		for (size_t j = g; j < end; j++) {
			const struct hostport *b = &aux->hp[j];
			size_t a = SIZE_MAX;
			if (j > g && !b->ip) {
				a = j - 1;
			} else if (j > g) {
				uintptr_t same = (uintptr_t)strmap_get(last_at, b->ip);
				a = last_any;
				if (same && (a == SIZE_MAX || same - 1 > a))
					a = same - 1;
			}
			if (a != SIZE_MAX)
				diag(c, b->at, "host port %u/%s of unit '%s' is already used by unit '%s' (%s:%d)", b->port,
				     b->proto, b->unit, aux->hp[a].unit, aux->hp[a].at->file, aux->hp[a].at->line);
			if (!b->ip)
				last_any = j;
			else if (last_at)
				strmap_set(last_at, b->ip, (void *)(uintptr_t)(j + 1));
		}
		g = end;
	}
}

static int net_cidr_cmp(const void *pa, const void *pb)
{
	const struct onet *const *a = pa, *const *b = pb;
	if ((*a)->cidr.addr != (*b)->cidr.addr)
		return (*a)->cidr.addr < (*b)->cidr.addr ? -1 : 1;
	if ((*a)->cidr.prefix != (*b)->cidr.prefix)
		return (*a)->cidr.prefix < (*b)->cidr.prefix ? -1 : 1;
	return *a < *b ? -1 : *a > *b;   /* document order */
}

/*
 * Subnets of shared networks must not overlap.  Two CIDR blocks overlap only
 * when one holds the other, so sorted by address (the larger first) the
 * blocks form a forest: a block overlaps its ancestors and its descendants.
 * One pass with a stack finds, for each, the earliest network (in document
 * order) among both; a block that overlaps an earlier one is reported once,
 * naming the earliest.
 */
static void subnet_overlap_checks(struct ctx *c)
{
	const struct model *m = c->m;
	size_t n = 0;
	for (size_t i = 0; i < m->nnets; i++)
		n += m->nets[i].subnet != NULL;
	if (n < 2)
		return;
	const struct onet **v = xcalloc(n, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < m->nnets; i++)
		if (m->nets[i].subnet)
			v[k++] = &m->nets[i];
	qsort(v, n, sizeof(*v), net_cidr_cmp);
	/* by position in v: the earliest ancestor / descendant (pointers compare in document order) */
	const struct onet **anc = xcalloc(n, sizeof(*anc)), **desc = xcalloc(n, sizeof(*desc));
	size_t *stack = xcalloc(n, sizeof(*stack)), top = 0;
#define EARLIER(x, y) ((x) && (!(y) || (x) < (y)) ? (x) : (y))
	for (size_t i = 0; i <= n; i++) {
		while (top && (i == n || !cidr_holds(&v[stack[top - 1]]->cidr, &v[i]->cidr))) {
			size_t t = stack[--top];
			if (top) {
				size_t parent = stack[top - 1];
				desc[parent] = EARLIER(desc[parent], EARLIER(desc[t], v[t]));
			}
		}
		if (i == n)
			break;
		if (top) {
			size_t parent = stack[top - 1];
			anc[i] = EARLIER(anc[parent], v[parent]);
		}
		stack[top++] = i;
	}
	for (size_t i = 0; i < n; i++) {
		const struct onet *a = v[i], *b = EARLIER(anc[i], desc[i]);
		if (b && b < a)
			diag(c, a->subnet_at, "subnet %s of network '%s' overlaps subnet %s of network '%s'",
			     a->subnet, a->name, b->subnet, b->name);
	}
#undef EARLIER
	free(v);
	free(anc);
	free(desc);
	free(stack);
}

static void global_checks(struct ctx *c, struct rc_desired *d, struct unit_at *ua, size_t nua,
			  struct expand_aux *aux)
{
	const struct model *m = c->m;
	/* container names: length and collisions */
	for (size_t i = 0; i < nua; i++)
		if (strlen(ua[i].container) > CONTAINER_NAME_MAX)
			diag(c, ua[i].at, "container name '%s' of unit '%s' is longer than %d characters",
			     shown(c, ua[i].container), ua[i].id, CONTAINER_NAME_MAX);
	if (nua > 1)
		qsort(ua, nua, sizeof(*ua), unit_at_cmp_container);
	for (size_t i = 1; i < nua; i++)
		if (strcmp(ua[i].container, ua[i - 1].container) == 0)
			diag(c, ua[i].at, "unit '%s' would get container name '%s', which unit '%s' (%s:%d) has already",
			     ua[i].id, ua[i].container, ua[i - 1].id, ua[i - 1].at->file, ua[i - 1].at->line);
	/* network names */
	for (size_t i = 1; i < d->nnetworks; i++) {
		const struct rc_network *a = &d->networks[i - 1], *b = &d->networks[i];
		if (strcmp(a->name, b->name) != 0)
			continue;
		if (a->customer && !b->customer) {
			const struct rc_network *t = a;
			a = b;
			b = t;
		}
		rc_diags_add(c->d, b->file, b->line, 1, "network name '%s' of %s '%s' is also the name of %s '%s' (%s:%d)",
			     b->name, b->customer ? "customer" : "network", b->id,
			     a->customer ? "customer" : "shared network", a->id, a->file, a->line);
	}
	host_port_checks(c, aux);
	/* auto ports vs. the range */
	const struct osettings *set = &m->set;
	if (set->port_hi && aux->nauto > (size_t)(set->port_hi - set->port_lo + 1))
		diag(c, set->range_at, "%zu customers need a port from 'range', which holds only %u",
		     aux->nauto, set->port_hi - set->port_lo + 1);
	/* volumes: one owner each */
	if (aux->nvo > 1)
		qsort(aux->vo, aux->nvo, sizeof(*aux->vo), vo_cmp);
	for (size_t i = 1; i < aux->nvo; i++) {
		const struct volown *a = &aux->vo[i - 1], *b = &aux->vo[i];
		if (strcmp(a->volume, b->volume) == 0 && strcmp(a->owner, b->owner) != 0)
			diag(c, b->at, "volume '%s' of unit '%s' is also the volume of unit '%s' (%s:%d)", b->volume,
			     b->unit, a->unit, a->at->file, a->at->line);
	}
	/* the project's ownership marker (owner.h) is no unit's volume */
	if (aux->nvo && d->settings.project) {
		_cleanup_free_ char *marker = xasprintf("%s" RC_OWNER_VOLUME_SUFFIX, d->settings.project);
		for (size_t i = 0; i < aux->nvo; i++)
			if (strcmp(aux->vo[i].volume, marker) == 0 && (i == 0 || strcmp(aux->vo[i - 1].volume, marker) != 0))
				diag(c, aux->vo[i].at, "volume '%s' of unit '%s' has the name of the project's ownership "
				     "marker: choose another volume name", marker, aux->vo[i].unit);
	}
	/* subnets */
	for (size_t i = 0; i < m->nnets; i++) {
		const struct onet *a = &m->nets[i];
		if (a->subnet && cidr_overlap(&a->cidr, &set->pool))
			diag(c, a->subnet_at, "subnet %s of network '%s' overlaps the customer subnet pool %s", a->subnet,
			     a->name, d->settings.subnet_pool);
	}
	subnet_overlap_checks(c);
	int bits = d->settings.subnet_prefix - set->pool.prefix;
	if (bits >= 0 && bits < 31 && m->ncusts > ((size_t)1 << bits))
		diag(c, set->pool_at ? set->pool_at : m->custs[m->ncusts - 1].at,
		     "the subnet pool %s holds %zu /%d subnets, but there are %zu customers",
		     d->settings.subnet_pool, (size_t)1 << bits, d->settings.subnet_prefix, m->ncusts);
}

/*
 * Tenant isolation: a customer whose template services name a shared network
 * N gets its own link network <project>-<customer>-via-<N> (internal as N is;
 * its subnet from the pool), which its services join instead of N.
 */
static void add_link_networks(const struct model *m, struct rc_desired *d, const struct ocust *cu,
			      const struct otmpl *t)
{
	const char *proj = d->settings.project;
	size_t first = d->nnetworks;
	for (size_t j = 0; t && j < t->nsvcs; j++) {
		const struct osvc *s = &t->svcs[j];
		for (size_t k = 0; k < s->networks.n; k++) {
			const char *net = s->networks.v[k].name;
			bool have = false;
			for (size_t x = first; x < d->nnetworks && !have; x++)
				have = strcmp(d->networks[x].link_of, net) == 0;
			if (have)
				continue;
			const struct onet *on = find_net(m, net);
			struct rc_network *n = &d->networks[d->nnetworks++];
			n->name = xasprintf("%s-%s-via-%s", proj, cu->id, net);
			n->id = xasprintf("%s-via-%s", cu->id, net);
			n->customer = xstrdup(cu->id);
			n->link_of = xstrdup(net);
			n->internal = on && on->internal;
			n->file = xstrdup(cu->at->file);
			n->line = cu->at->line;
		}
	}
}

/*
 * Every shared unit (units[0..nshared)) on a shared network joins that
 * network's link networks.  Linear: the shared units on each network are
 * listed once (a chain per network name: first[] by map, then next[]).
 */
static void join_link_networks(struct rc_desired *d, size_t nshared)
{
	const char *proj = d->settings.project;
	size_t nmemb = 0;
	for (size_t k = 0; k < nshared; k++)
		nmemb += d->units[k].nnetworks;
	size_t *unit_of = xcalloc(nmemb + 1, sizeof(size_t)), *next = xcalloc(nmemb + 1, sizeof(size_t));
	_cleanup_(strmap_freep) struct strmap *first = strmap_new();  /* network name -> member index + 1 */
	size_t e = 0;
	for (size_t k = 0; k < nshared; k++)
		for (size_t x = 0; x < d->units[k].nnetworks; x++, e++) {
			unit_of[e] = k;
			next[e] = (size_t)(uintptr_t)strmap_get(first, d->units[k].networks[x]);
			strmap_set(first, d->units[k].networks[x], (void *)(uintptr_t)(e + 1));
		}
	for (size_t i = 0; i < d->nnetworks; i++) {
		const struct rc_network *n = &d->networks[i];
		if (!n->link_of)
			continue;
		_cleanup_free_ char *shared = xasprintf("%s-%s", proj, n->link_of);
		for (size_t m = (size_t)(uintptr_t)strmap_get(first, shared); m; m = next[m - 1]) {
			struct rc_unit *u = &d->units[unit_of[m - 1]];
			u->links = xrealloc(u->links, (u->nlinks + 1) * sizeof(*u->links));
			u->links[u->nlinks++] = xstrdup(n->name);
		}
	}
	free(unit_of);
	free(next);
	for (size_t k = 0; k < nshared; k++)
		if (d->units[k].nlinks > 1)
			qsort(d->units[k].links, d->units[k].nlinks, sizeof(char *), strp_cmp);
}

static struct rc_desired *expand(struct ctx *c, struct pass3 *p)
{
	struct model *m = c->m;
	struct osettings *set = &m->set;
	struct rc_desired *d = xcalloc(1, sizeof(*d));
	struct rc_settings *rs = &d->settings;
	rs->project = xstrdup(set->project ? set->project : DEFAULT_PROJECT);
	rs->port_lo = set->port_lo;
	rs->port_hi = set->port_hi;
	if (!set->pool_str) {
		parse_cidr(DEFAULT_SUBNET_POOL, &set->pool);
		rs->subnet_pool = xstrdup(DEFAULT_SUBNET_POOL);
	} else {
		rs->subnet_pool = xstrdup(set->pool_str);
	}
	rs->subnet_prefix = set->prefix ? set->prefix : DEFAULT_SUBNET_PREFIX;
	if (rs->subnet_prefix <= set->pool.prefix)
		rs->subnet_prefix = set->pool.prefix + 1 > 30 ? 30 : set->pool.prefix + 1;
	rs->default_stop_grace_ns = set->stop_grace ? set->stop_grace : DEFAULT_STOP_GRACE_NS;
	rs->allow_privileged = set->allow_privileged;
	if (set->bind_roots.n) {
		rs->bind_roots = xcalloc(set->bind_roots.n, sizeof(char *));
		for (size_t i = 0; i < set->bind_roots.n; i++)
			rs->bind_roots[rs->nbind_roots++] = xstrdup(set->bind_roots.v[i].name);
	}

	size_t nunits = m->nsvcs;
	for (size_t i = 0; i < m->ncusts; i++) {
		const struct otmpl *t = find_tmpl(m, m->custs[i].tmpl);
		nunits += t ? t->nsvcs : 0;
	}
	d->units = xcalloc(nunits + 1, sizeof(*d->units));
	size_t nlinks_max = 0;  /* link networks: at most one per customer and shared network */
	for (size_t i = 0; i < m->ncusts; i++) {
		const struct otmpl *t = find_tmpl(m, m->custs[i].tmpl);
		for (size_t j = 0; t && j < t->nsvcs; j++)
			nlinks_max += t->svcs[j].networks.n;
	}
	d->networks = xcalloc(m->nnets + m->ncusts + nlinks_max + 1, sizeof(*d->networks));
	struct unit_at *ua = xcalloc(nunits + 1, sizeof(*ua));
	struct expand_aux aux = { 0 };

	for (size_t i = 0; i < m->nsvcs; i++) {
		struct rc_unit *u = &d->units[d->nunits++];
		build_unit(c, p, d, u, &m->svcs[i], NULL, NULL, &aux);
		ua[d->nunits - 1] = (struct unit_at){ u->id, u->container, m->svcs[i].at };
	}
	for (size_t i = 0; i < m->ncusts; i++) {
		const struct ocust *cu = &m->custs[i];
		const struct otmpl *t = find_tmpl(m, cu->tmpl);
		for (size_t j = 0; t && j < t->nsvcs; j++) {
			struct rc_unit *u = &d->units[d->nunits++];
			build_unit(c, p, d, u, &t->svcs[j], t, cu, &aux);
			ua[d->nunits - 1] = (struct unit_at){ u->id, u->container, cu->at };
		}
		struct rc_network *n = &d->networks[d->nnetworks++];
		n->name = xasprintf("%s-%s", rs->project, cu->id);
		n->id = xstrdup(cu->id);
		n->customer = xstrdup(cu->id);
		n->file = xstrdup(cu->at->file);
		n->line = cu->at->line;
		if (!set->shared_bridges)
			add_link_networks(m, d, cu, t);
	}
	for (size_t i = 0; i < m->nnets; i++) {
		const struct onet *on = &m->nets[i];
		struct rc_network *n = &d->networks[d->nnetworks++];
		n->name = xasprintf("%s-%s", rs->project, on->name);
		n->id = xstrdup(on->name);
		n->internal = on->internal;
		n->subnet = on->subnet ? xstrdup(on->subnet) : NULL;
		n->file = xstrdup(on->at->file);
		n->line = on->at->line;
	}
	join_link_networks(d, m->nsvcs);
	if (d->nnetworks > 1)
		qsort(d->networks, d->nnetworks, sizeof(*d->networks), network_cmp);
	global_checks(c, d, ua, d->nunits, &aux);
	if (d->nunits > 1)
		qsort(d->units, d->nunits, sizeof(*d->units), unit_cmp);
	free(ua);
	free(aux.hp);
	free(aux.vo);
	return d;
}

int manifest_load(const struct source_files *files, const struct manifest_opts *opts,
		  struct rc_desired **ret, struct rc_diags *diags)
{
	struct model m = { 0 };
	struct ctx c = { .d = diags, .opts = opts, .m = &m };
	struct pass3 p = { 0 };
	struct rc_desired *d = NULL;
	size_t before = diags->n + diags->dropped;

	if (opts && opts->host_policy)
		load_host_policy(&c, opts->host_policy);
	for (size_t i = 0; i < files->nfiles; i++)
		parse_file(&c, &files->files[i]);
	parse_docs(&c);
	if (!c.broken) {
		cross_check(&c, &p);
		if (diags->n + diags->dropped == before) {
			d = expand(&c, &p);
			if (files->commit)
				d->commit = xstrdup(files->commit);
		}
	}
	pass3_release(&p);
	model_release(&m);
	for (size_t i = 0; i < c.ndocs; i++)
		ynode_free(c.docs[i].root);
	free(c.docs);
	for (size_t i = 0; i < c.nowned; i++)
		free(c.owned[i]);
	free(c.owned);

	if (diags->n + diags->dropped != before) {
		rc_desired_free(d);
		rc_diags_sort(diags);
		return -1;
	}
	spec_hash_units(d);
	*ret = d;
	return 0;
}
