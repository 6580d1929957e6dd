/*
 * manifest_diag.c — how the loader says a problem: the diagnostics list of
 * manifest.h (rc_diags_*), mf_diag() at a node, mf_shown() for user text in a
 * message, and "did you mean" for unknown keys and names (mf_check_keys()).
 */
#include "manifest_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* diagnostics                                                         */

void rc_diags_add(struct rc_diags *d, const char *file, int line, int col, const char *fmt, ...)
{
	if (d->n >= RC_MANIFEST_MAX_DIAGS) {
		d->dropped++;
		return;
	}
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		die("out of memory");
	va_end(ap);
	GROW(d->v, d->n + 1, d->cap);
	d->v[d->n].file = file ? xstrdup(file) : NULL;
	d->v[d->n].line = line;
	d->v[d->n].col = col;
	d->v[d->n].msg = msg;
	d->n++;
}

static int diag_cmp(const void *pa, const void *pb)
{
	const struct rc_diag *a = pa, *b = pb;
	if (!a->file != !b->file)
		return a->file ? -1 : 1;
	if (a->file) {
		int c = strcmp(a->file, b->file);
		if (c)
			return c;
	}
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return strcmp(a->msg, b->msg);
}

void rc_diags_sort(struct rc_diags *d)
{
	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), diag_cmp);
}

void rc_diags_format(const struct rc_diags *d, struct buf *out)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct rc_diag *g = &d->v[i];
		if (g->file)
			buf_addf(out, "%s:%d:%d: %s\n", g->file, g->line, g->col, g->msg);
		else
			buf_addf(out, "%s\n", g->msg);
	}
	if (d->dropped)
		buf_addf(out, "... and %zu more problems\n", d->dropped);
}

void rc_diags_release(struct rc_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = d->cap = d->dropped = 0;
}

char *mf_keep(struct ctx *c, char *s)
{
	GROW(c->owned, c->nowned + 1, c->capowned);
	c->owned[c->nowned++] = s;
	return s;
}

RC_PRINTF(3, 4)
void mf_diag(struct ctx *c, const struct ynode *at, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		die("out of memory");
	va_end(ap);
	if (at)
		rc_diags_add(c->d, at->file, at->line, at->col, "%s", msg);
	else
		rc_diags_add(c->d, NULL, 0, 0, "%s", msg);
	free(msg);
}

/* A short, printable excerpt of user text for messages: at most 60 bytes of a
 * longer one (cut before a UTF-8 character), escaped as str_shown() does. */
const char *mf_shown(struct ctx *c, const char *s)
{
	size_t n = strlen(s);
	if (n <= 80 && !str_needs_escape(s))
		return s;
	size_t cut = n;
	if (n > 80) {
		cut = 60;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	char *head = xstrndup(s, cut);
	char *r = str_shown(head);
	free(head);
	if (cut < n) {
		char *t = xasprintf("%s...", r);
		free(r);
		r = t;
	}
	return mf_keep(c, r);
}

/* ------------------------------------------------------------------ */
/* did you mean: unknown keys and names                                */

/*
 * Optimal string alignment distance (edits, transpositions count once), or
 * max + 1 when it is above max: only the band |i - j| <= max of the table is
 * computed, which is exact for distances up to max.
 */
static size_t edit_distance(const char *a, const char *b, size_t max, size_t *cells)
{
	size_t n = strlen(a), m = strlen(b), inf = max + 1;
	if (n > 64 || m > 64 || (n > m ? n - m : m - n) > max)
		return inf;
	size_t d[65][65];
#define D(i, j) ((i) > (j) + max || (j) > (i) + max ? inf : d[i][j])
	for (size_t i = 0; i <= n && i <= max; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= m && j <= max; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= n; i++) {
		size_t lo = i > max ? i - max : 1, hi = i + max < m ? i + max : m;
		for (size_t j = lo; j <= hi; j++) {
			size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			size_t v = D(i - 1, j) + 1;
			if (D(i, j - 1) + 1 < v)
				v = D(i, j - 1) + 1;
			if (D(i - 1, j - 1) + cost < v)
				v = D(i - 1, j - 1) + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    D(i - 2, j - 2) + 1 < v)
				v = D(i - 2, j - 2) + 1;
			d[i][j] = v < inf ? v : inf;
		}
		*cells += hi >= lo ? hi - lo + 1 : 0;
	}
	return D(n, m);
#undef D
}

/* Whether one more diagnostic would be kept: work that only makes the text
 * of a message (suggestions, lists) is skipped once none would be. */
bool mf_diag_room(const struct ctx *c)
{
	return c->d->n < RC_MANIFEST_MAX_DIAGS;
}

/*
 * The closest candidate within reach, or NULL.  Bounded: no work once no
 * diagnostic would be kept, and none after SUGGEST_BUDGET table cells in one
 * load (a file naming 10,000 undefined plans among 10,000 defined ones must
 * not cost 10^8 comparisons for messages nobody reads past the first 1000).
 */
#define SUGGEST_BUDGET (20u * 1000 * 1000)
const char *mf_suggest(struct ctx *c, const char *word, const char *const *cands, size_t n)
{
	size_t len = strlen(word);
	size_t reach = len <= 3 ? 1 : len <= 6 ? 2 : 3;
	size_t best = reach + 1;
	const char *who = NULL;
	if (!mf_diag_room(c))
		return NULL;
	for (size_t i = 0; i < n && best > 0; i++) {
		if (c->suggest_cells > SUGGEST_BUDGET)
			return NULL;
		size_t dist = edit_distance(word, cands[i], reach, &c->suggest_cells);
		if (dist < best) {
			best = dist;
			who = cands[i];
		}
	}
	return who;
}

/* " (did you mean 'x'?)" or "" */
const char *mf_mean(struct ctx *c, const char *word, const char *const *cands, size_t n)
{
	const char *s = mf_suggest(c, word, cands, n);
	return s ? mf_keep(c, xasprintf(" (did you mean '%s'?)", s)) : "";
}

size_t mf_count_keys(const char *const *keys)
{
	size_t n = 0;
	while (keys[n])
		n++;
	return n;
}

/* docker compose keys that mean something else here */
static const struct {
	const char *key, *hint;
} compose_hints[] = {
	{ "environment", " (did you mean 'env'?)" },
	{ "healthcheck", " (did you mean 'health'?)" },
	{ "workdir", " (did you mean 'working_dir'?)" },
	{ "build", ": only a service builds its image ('build: {context: DIR}')" },
	{ "container_name", ": container names are derived (<project>-<customer>-<service>)" },
	{ "hostname", ": container names are derived (<project>-<customer>-<service>)" },
	{ "restart", ": the restart policy belongs to a Plan ('plan: NAME')" },
	{ "cpus", ": resources belong to a Plan ('plan: NAME')" },
	{ "memory", ": resources belong to a Plan ('plan: NAME')" },
	{ "mem_limit", ": resources belong to a Plan ('plan: NAME')" },
	{ "mem_reservation", ": resources belong to a Plan ('plan: NAME')" },
	{ "pids_limit", ": resources belong to a Plan ('plan: NAME')" },
	{ "cpu_shares", ": resources belong to a Plan ('plan: NAME')" },
	{ "deploy", ": with 'engine: swarm', write 'replicas', 'placement', 'rollout' and 'publish' on the service itself" },
};

/* Report keys of m not in allowed (NULL-terminated). */
void mf_check_keys(struct ctx *c, const struct ynode *m, const char *const *allowed, const char *what)
{
	size_t na = mf_count_keys(allowed);
	bool service = strstr(what, "ervice") != NULL;
	for (size_t i = 0; i < y_npairs(m); i++) {
		const char *k = y_key(m, i)->str;
		bool found = false;
		for (size_t j = 0; j < na && !found; j++)
			found = strcmp(k, allowed[j]) == 0;
		if (found)
			continue;
		const char *hint = NULL;
		for (size_t j = 0; service && j < ARRAY_SIZE(compose_hints) && !hint; j++)
			if (strcmp(k, compose_hints[j].key) == 0)
				hint = compose_hints[j].hint;
		mf_diag(c, y_key(m, i), "unknown key '%s' in %s%s", mf_shown(c, k), what,
		     hint ? hint : mf_mean(c, k, allowed, na));
	}
}
