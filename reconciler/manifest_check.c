/*
 * manifest_check.c — pass 3, the checks across documents: duplicates,
 * references (plans, networks, services, templates) with "did you mean",
 * dependency cycles, what the set expands to, and the secrets (read once,
 * only their keyed digest kept; manifest_secrets_current()).
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
#include "speckeys.h"
#include "strmap.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* pass 3: references, cycles, secrets, global checks                  */

int mf_named_cmp(const void *pa, const void *pb)
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
	qsort(v, n, sizeof(*v), mf_named_cmp);
	size_t first = 0;
	for (size_t i = 1; i < n; i++) {
		if (strcmp(v[i].name, v[first].name) != 0) {
			first = i;
			continue;
		}
		mf_diag(c, v[i].at, "duplicate %s '%s' (first defined at %s:%d)", fmt_what, v[i].name,
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
	INDEX(m->xvol_by, m->xvols, m->nxvols, name)
#undef INDEX
}

const struct oplan *mf_find_plan(const struct model *m, const char *name)
{
	return name ? strmap_get(m->plan_by, name) : NULL;
}

const struct onet *mf_find_net(const struct model *m, const char *name)
{
	return name ? strmap_get(m->net_by, name) : NULL;
}

const struct oxvol *mf_find_xvol(const struct model *m, const char *name)
{
	return name && m->xvol_by ? strmap_get(m->xvol_by, name) : NULL;
}

/*
 * Declared volumes (kind: Volume): the Docker name must be allowed by the
 * Settings policy (the host policy capped that list when it was read), must
 * not lie in the project's own namespace (the volumes reconciler makes), and
 * only shared services may mount one: a template's service is every
 * customer's, and customers do not share data.
 */
static void check_xvols(struct ctx *c)
{
	const struct model *m = c->m;
	const char *proj = m->set.project;
	size_t plen = proj ? strlen(proj) : 0;
	for (size_t i = 0; i < m->nxvols; i++) {
		const struct oxvol *v = &m->xvols[i];
		if (!v->name)
			continue;
		const struct ynode *at = v->docker_name_at ? v->docker_name_at : v->at;
		if (plen && strncmp(v->docker_name, proj, plen) == 0 && v->docker_name[plen] == '-')
			mf_diag(c, at, "external volume '%s' is in the namespace of project '%s' ('%s-…', the volumes "
				    "reconciler makes): it cannot be declared external", v->docker_name, proj, proj);
		else if (!mf_refs_has(&m->set.allow_external_volumes, v->docker_name))
			mf_diag(c, at, "external volume '%s' is not allowed by policy (Settings policy.allow_external_volumes)",
			     v->docker_name);
	}
	for (size_t i = 0; i < m->ntmpls; i++) {
		const struct otmpl *t = &m->tmpls[i];
		for (size_t j = 0; j < t->nsvcs; j++) {
			const struct osvc *s = &t->svcs[j];
			for (size_t k = 0; k < s->nvols; k++)
				if (s->vols[k].kind == RC_MOUNT_VOLUME && mf_find_xvol(m, s->vols[k].src))
					mf_diag(c, s->vols[k].at, "volume '%s' is an external Volume: a template's service cannot "
								"mount it (every customer would share it); mount it from a "
								"shared Service", s->vols[k].src);
		}
	}
}

static const struct osvc *find_svc(const struct model *m, const char *name)
{
	return name ? strmap_get(m->svc_by, name) : NULL;
}

const struct otmpl *mf_find_tmpl(const struct model *m, const char *name)
{
	return name ? strmap_get(m->tmpl_by, name) : NULL;
}

const struct osvc *mf_tmpl_svc(const struct otmpl *t, const char *name)
{
	return name ? strmap_get(t->svc_by, name) : NULL;
}

static int u32_cmp(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	return a < b ? -1 : a > b;
}

/* The defined networks of s as sorted indexes into m->nets, made once per service. */
const uint32_t *mf_net_ids(const struct model *m, const struct osvc *cs, size_t *ret_n)
{
	struct osvc *s = (struct osvc *)(uintptr_t)cs;   /* a cache, not a change */
	if (!s->net_ids) {
		s->net_ids = xcalloc(s->networks.n + 1, sizeof(*s->net_ids));
		for (size_t i = 0; i < s->networks.n; i++) {
			const struct onet *n = mf_find_net(m, s->networks.v[i].name);
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
	const uint32_t *va = mf_net_ids(m, a, &na), *vb = mf_net_ids(m, b, &nb);
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

void mf_pass3_release(struct pass3 *p)
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
	if (plan && !mf_find_plan(c->m, plan))
		mf_diag(c, at, "plan '%s' is not defined%s", plan, mf_mean(c, plan, p->plan_names.v, p->plan_names.n));
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
			struct rc_err err = { 0 };
			if (!have_key) {
				/* the key is the secrets directory's: secrets/NAME, or secrets/CUSTOMER/NAME */
				_cleanup_free_ char *dir = xstrdup(s->path);
				for (int up = s->customer ? 2 : 1; up > 0; up--) {
					char *slash = strrchr(dir, '/');
					if (slash)
						*slash = '\0';
				}
				have_key = seckey_load(dir, key, &err) == 0;
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
		mf_diag(c, at, "cannot read secret '%s': %s", name, fallback);
	else if (S_ISLNK(sb->st_mode))
		mf_diag(c, at, "secret '%s': '%s' is a symbolic link: secrets are never read through one "
		     "(put the file itself there, mode 0600)", name, path);
	else if (!S_ISREG(sb->st_mode))
		mf_diag(c, at, "secret '%s': '%s' is not a regular file (%s)", name, path, problem);
	else
		mf_diag(c, at, "secret '%s': '%s' is owned by uid %lu, not the state directory's owner (uid %lu)", name,
		     path, (unsigned long)sb->st_uid, (unsigned long)geteuid());
}

/*
 * Open a secret's file for reading: opened with open_private() (O_NOFOLLOW, without blocking,
 * fstat-checked), so the file checked for its mode is the one read, and only a regular file of the
 * running uid, readable by its owner only, is.  The fd, or -1 (said).
 */
static int open_secret(struct ctx *c, const struct ynode *at, const char *name, const char *cust, const char *path)
{
	struct rc_err err = { 0 };
	struct stat st;
	int fd = open_private("secret", path, O_RDONLY, 0, &err);
	if (fd == -1 && errno == ENOENT) {
		if (cust)
			mf_diag(c, at, "secret '%s' of customer '%s' not found: put it in '%s' (mode 0600)", name, cust,
			     path);
		else
			mf_diag(c, at, "secret '%s' not found in the secrets directory", name);
		return -1;
	}
	if (fd == -2) {
		bool seen = lstat(path, &st) == 0;
		secret_refused(c, at, name, path, seen ? &st : NULL, err.msg);
		return -1;
	}
	if (fd < 0) {
		mf_diag(c, at, "cannot read secret '%s': %s", name, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		mf_diag(c, at, "cannot read secret '%s': %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		mf_diag(c, at, "secret '%s' must be readable by its owner only (mode 0600, not %04o)", name,
		     (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Read (once) and digest a secret; the content is wiped and freed at once.
 * Opened with open_secret(): only a private regular file of the running uid is read.
 */
const struct secret_entry *mf_secret_get(struct ctx *c, struct pass3 *p, const char *name,
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
		mf_diag(c, at, "secret '%s': %s", name, c->opts->secrets_dir_refused);
		return NULL;
	}
	struct rc_err err = { 0 };
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
			mf_diag(c, at, "secret '%s' of customer '%s': %s", name, cust, err.msg);
			return NULL;
		}
	}
	int fd = open_secret(c, at, name, cust, e->path);
	if (fd < 0)
		return NULL;
	if (p->key_state == 0)
		p->key_state = seckey_load(dir, p->key, &err) == 0 ? 1 : -1;
	if (p->key_state < 0) {
		/* the first secret says why; the others only that it was not digested */
		if (p->key_state == -1)
			mf_diag(c, at, "secret '%s': %s", name, err.msg);
		else
			mf_diag(c, at, "secret '%s' cannot be digested without the key (see above)", name);
		p->key_state = -2;
		close(fd);
		return NULL;
	}
	char *data = NULL;
	size_t len = 0;
	if (read_fd(fd, e->path, SECRET_MAX_SIZE, &data, &len, &err) < 0) {
		mf_diag(c, at, "cannot read secret '%s' (at most %u bytes)", name, SECRET_MAX_SIZE);
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
	/* a job is never restarted by the engine: a plan the service names for it must not ask to */
	const struct oplan *jp = s->run_once && s->plan ? mf_find_plan(m, s->plan) : NULL;
	if (jp && jp->restart_policy && strcmp(jp->restart_policy, "no") != 0)
		mf_diag(c, s->run_at, "'run: once' cannot be combined with restart policy '%s' (plan '%s'): a job's "
		     "restart policy is \"no\"; give it a plan without 'restart.policy', or policy \"no\"",
		     jp->restart_policy, s->plan);
	for (size_t i = 0; i < s->networks.n; i++) {
		const char *n = s->networks.v[i].name;
		if (!mf_find_net(m, n))
			mf_diag(c, s->networks.v[i].at, "network '%s' is not defined%s", n,
			     mf_mean(c, n, p->net_names.v, p->net_names.n));
	}
	/* a template's secrets may be each customer's own: read per customer at expansion */
	for (size_t i = 0; !t && i < s->secrets.n; i++)
		mf_secret_get(c, p, s->secrets.v[i].name, NULL, NULL, s->secrets.v[i].at);
	for (size_t i = 0; i < s->ndeps; i++) {
		const struct odep *d = &s->deps[i];
		const struct osvc *target = t ? mf_tmpl_svc(t, d->name) : NULL;
		bool shared = false;
		if (!target) {
			target = find_svc(m, d->name);
			shared = target != NULL;
		}
		if (!target && !mf_diag_room(c)) {
			mf_diag(c, d->at, "'depends_on' names '%s', which is not defined", d->name);
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
				mf_diag(c, d->at, "'depends_on' names '%s', which is neither a service of template '%s' nor a shared Service%s",
				     d->name, t->name, mf_mean(c, d->name, cand.v, cand.n));
			else
				mf_diag(c, d->at, "'depends_on' names '%s', which is not a shared Service%s", d->name,
				     mf_mean(c, d->name, cand.v, cand.n));
			free(cand.v);
			continue;
		}
		if (d->cond == RC_DEP_HEALTHY && target->health.kind == RC_HEALTH_NONE)
			mf_diag(c, d->at, "'%s' waits for '%s' to be healthy, but '%s' has no 'health' check", s->name,
			     d->name, d->name);
		if (t && shared && !share_network(m, s, target))
			mf_diag(c, d->at, "'%s' depends on shared service '%s' but shares no network with it%s",
			     s->name, d->name,
			     !mf_diag_room(c) ? ""
			     : target->networks.n ? mf_keep(c, xasprintf(" (add '%s' to 'networks')", target->networks.v[0].name))
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
	if (!mf_diag_room(c)) {
		mf_diag(c, path_at[start], "dependency cycle");   /* counted only */
		return;
	}
	struct buf b = BUF_INIT;
	for (size_t k = start; k <= end; k++)
		buf_addf(&b, "%s -> ", g[path[k]].name);
	buf_adds(&b, g[w].name);
	if (g[w].tmpl)
		mf_diag(c, path_at[start], "dependency cycle in template '%s': %s", g[w].tmpl, buf_cstr(&b));
	else
		mf_diag(c, path_at[start], "dependency cycle: %s", buf_cstr(&b));
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
		const struct osvc *to = t ? mf_tmpl_svc(t, s->deps[i].name) : NULL;
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
		const struct otmpl *t = mf_find_tmpl(m, u->tmpl);
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
		mf_diag(c, at, "the manifests expand to more than %d units (containers) here, the most one set may have",
		     RC_MANIFEST_MAX_UNITS);
	else if (values > RC_MANIFEST_MAX_VALUES)
		mf_diag(c, at, "the manifests expand to more than %d values (env, labels, ports, mounts, networks, dependencies, arguments of every unit) here, the most one set may have",
		     RC_MANIFEST_MAX_VALUES);
}

/* A bind mount of a service, for check_bind_nesting(). */
struct bindref {
	const struct osvc *svc;
	const struct ovol *vol;
};

/* Every bind mount of every service (shared, then templates'), in document order. */
static struct bindref *all_binds(const struct model *m, size_t *ret_n)
{
	struct bindref *v = NULL;
	size_t n = 0, cap = 0;
	for (size_t t = 0; t <= m->ntmpls; t++) {
		const struct osvc *svcs = t ? m->tmpls[t - 1].svcs : m->svcs;
		size_t nsvcs = t ? m->tmpls[t - 1].nsvcs : m->nsvcs;
		for (size_t i = 0; i < nsvcs; i++)
			for (size_t j = 0; j < svcs[i].nvols; j++)
				if (svcs[i].vols[j].kind == RC_MOUNT_BIND && svcs[i].vols[j].src) {
					GROW(v, n + 1, cap);
					v[n++] = (struct bindref){ &svcs[i], &svcs[i].vols[j] };
				}
	}
	*ret_n = n;
	return v;
}

/*
 * No bind source lies below one that a service mounts writable
 * (docs/operations.md, "Bind mounts").  The writer can swap a directory on
 * the way for a symbolic link, and the engine follows it whenever it mounts
 * the source again — at every start of the container (a restart policy
 * starts one that merely exited), long after the create resolved it: one
 * service mounting /srv/x writable and /srv/x/sub got the host's / at
 * /sub at its second start.  The same source twice is fine (the root of a
 * mount cannot be renamed from inside it).  Linear: the writable sources in
 * a set, each source's ancestors looked up in it.
 */
static void check_bind_nesting(struct ctx *c)
{
	size_t n = 0;
	_cleanup_free_ struct bindref *b = all_binds(c->m, &n);
	_cleanup_(strmap_freep) struct strmap *rw = strmap_new();   /* source -> index + 1 */
	for (size_t i = 0; i < n; i++)
		if (!b[i].vol->ro)
			strmap_add(rw, b[i].vol->src, (void *)(uintptr_t)(i + 1));
	for (size_t i = 0; i < n; i++) {
		const char *src = b[i].vol->src;
		for (size_t len = strlen(src); len > 1;) {
			while (len > 0 && src[len - 1] != '/')
				len--;
			if (len > 1)
				len--;          /* "/srv/x/sub" -> "/srv/x", then "/srv" */
			else
				break;          /* "/" is no bind source */
			uintptr_t w = (uintptr_t)strmap_getn(rw, src, len);
			if (!w)
				continue;
			const struct bindref *a = &b[w - 1];
			const char *w_src = mf_shown(c, a->vol->src);
			mf_diag(c, b[i].vol->at, "bind source '%s' lies below '%s', which %s%s%s '%s' mounts writable (%s:%d): "
				"that container can swap a directory on the way for a symbolic link, which the engine "
				"follows when it mounts '%s' again (at every start of the container); mount '%s' read-only, "
				"or give each mount its own directory", mf_shown(c, src), w_src,
				a->svc->tmpl ? "template '" : "", a->svc->tmpl ? a->svc->tmpl : "",
				a->svc->tmpl ? "' service" : "service", a->svc->name, a->vol->at->file, a->vol->at->line,
				mf_shown(c, src), w_src);
			break;
		}
	}
}

void mf_cross_check(struct ctx *c, struct pass3 *p)
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
	DUPS(m->xvols, m->nxvols, name, "Volume")
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
		const struct otmpl *t = mf_find_tmpl(m, u->tmpl);
		if (!t) {
			mf_diag(c, u->tmpl_at, "template '%s' is not defined%s", u->tmpl,
			     mf_mean(c, u->tmpl, p->tmpl_names.v, p->tmpl_names.n));
			continue;
		}
		const struct osvc *ps = t->port_svc;
		if (u->has_port && !ps) {
			mf_diag(c, u->port_at, "template '%s' publishes no port (none of its services has 'port'), so 'port' means nothing here",
			     t->name);
		} else if (ps && (!u->has_port || u->port_auto) && !set->port_hi) {
			mf_diag(c, u->port_at ? u->port_at : u->at,
			     "customer '%s' needs a host port: give 'port: NUMBER', or Settings 'ports: {range: LOW-HIGH}' for 'port: auto'",
			     u->id ? u->id : "?");
		} else if (ps && u->has_port && !u->port_auto && set->port_hi &&
			   (u->port < set->port_lo || u->port > set->port_hi)) {
			mf_diag(c, u->port_at, "port %u is outside Settings ports.range %u-%u", u->port, set->port_lo,
			     set->port_hi);
		}
		for (size_t j = 0; j < u->nover; j++) {
			if (mf_tmpl_svc(t, u->over[j].name))
				continue;
			if (!mf_diag_room(c)) {
				mf_diag(c, u->over[j].at, "template '%s' has no service '%s'", t->name, mf_shown(c, u->over[j].name));
				continue;
			}
			struct names cand = { 0 };
			for (size_t k = 0; k < t->nsvcs; k++)
				names_add(&cand, t->svcs[k].name);
			mf_diag(c, u->over[j].at, "template '%s' has no service '%s'%s", t->name, mf_shown(c, u->over[j].name),
			     mf_mean(c, u->over[j].name, cand.v, cand.n));
			free(cand.v);
		}
	}
	check_xvols(c);
	check_bind_nesting(c);
	find_cycles(c);
	check_expansion(c);
	mf_swarm_check(c);
}
