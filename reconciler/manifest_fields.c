/*
 * manifest_fields.c — the spec-key table's fields (speckeys.h): one grammar
 * each (parse_field()), the table's keys added to a service's or a Plan's or
 * Settings.defaults' known keys, and the own → plan → default resolution.
 * A new grammar is one case here.
 */
#include "manifest_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "speckeys.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* the spec-key table's fields (speckeys.h): one grammar each          */

/* The written forms of an allow-list, for "did you mean" (ctx-owned). */
static const char *const *choice_words(struct ctx *c, const struct sk_choice *ch, size_t *ret_n)
{
	size_t n = sk_choice_count(ch);
	const char **w = xcalloc(n + 1, sizeof(*w));
	for (size_t i = 0; i < n; i++)
		w[i] = ch[i].written;
	mf_keep(c, (char *)w);
	*ret_n = n;
	return w;
}

/* One allow-listed scalar: its canonical form, or NULL with a diagnostic naming key. */
static const char *get_choice(struct ctx *c, const struct ynode *y, const char *key, const struct sk_choice *ch,
			      const char *hint)
{
	const char *str = mf_as_str(c, y, key);
	if (!str)
		return NULL;
	const char *canon = sk_choice(ch, str);
	if (!canon) {
		size_t n;
		const char *const *w = choice_words(c, ch, &n);
		mf_diag(c, y, "'%s' value '%s' is not allowed: only %s%s", key, mf_shown(c, str), hint, mf_mean(c, str, w, n));
	}
	return canon;
}

/* A size of at least min; 1 set, 0 absent, -1 invalid (diagnosed). */
static int get_size_min(struct ctx *c, const struct ynode *m, const char *key, int64_t min, int64_t *ret)
{
	int64_t v;
	int r = mf_get_size(c, m, key, &v);
	if (r <= 0)
		return r;
	if (v < min) {
		mf_diag(c, y_get(m, key), "'%s' must be at least %lld bytes", key, (long long)min);
		return -1;
	}
	*ret = v;
	return 1;
}

/*
 * SKG_MAPPING: the row's sub-keys, one level of nesting ("driver", "options.max-size"), each
 * a choice, a size or an integer, stored as the map's SUB = canonical value.
 */
static void parse_field_mapping(struct ctx *c, const struct ynode *y, const struct sk_row *r, struct sk_value *v)
{
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'%s' must be a mapping like %s", r->key, r->example);
		return;
	}
	v->set = true;
	/* the keys of each level: top level, and each nested mapping's own */
	const char *top[16] = { 0 };
	size_t ntop = 0;
	for (const struct sk_sub *sb = r->subs; sb->key; sb++) {
		size_t len = strcspn(sb->key, ".");
		_cleanup_free_ char *head = xstrndup(sb->key, len);
		bool seen = false;
		for (size_t i = 0; i < ntop && !seen; i++)
			seen = strcmp(top[i], head) == 0;
		if (!seen && ntop + 1 < ARRAY_SIZE(top))
			top[ntop++] = mf_keep(c, xstrdup(head));
	}
	mf_check_keys(c, y, top, r->key);
	for (size_t t = 0; t < ntop; t++) {
		const struct ynode *level = y;
		const char *where = r->key;
		bool nested = false;
		for (const struct sk_sub *sb = r->subs; sb->key; sb++)
			nested = nested || (str_startswith(sb->key, top[t]) && sb->key[strlen(top[t])] == '.');
		if (nested) {
			level = y_get(y, top[t]);
			if (!level)
				continue;
			where = mf_keep(c, xasprintf("%s.%s", r->key, top[t]));
			if (level->kind != Y_MAP) {
				mf_diag(c, level, "'%s' must be a mapping", where);
				continue;
			}
			const char *sub[16] = { 0 };
			size_t nsub = 0;
			for (const struct sk_sub *sb = r->subs; sb->key; sb++)
				if (str_startswith(sb->key, top[t]) && sb->key[strlen(top[t])] == '.' &&
				    nsub + 1 < ARRAY_SIZE(sub))
					sub[nsub++] = sb->key + strlen(top[t]) + 1;
			mf_check_keys(c, level, sub, where);
		}
		for (const struct sk_sub *sb = r->subs; sb->key; sb++) {
			const char *name = nested ? sb->key + strlen(top[t]) + 1 : sb->key;
			if (nested ? !(str_startswith(sb->key, top[t]) && sb->key[strlen(top[t])] == '.')
				   : strcmp(sb->key, top[t]) != 0)
				continue;
			const struct ynode *it = y_get(level, name);
			if (!it)
				continue;
			int64_t n;
			char num[32];
			switch (sb->grammar) {
			case SKG_CHOICE: {
				const char *canon = get_choice(c, it, name, sb->choices, sb->choices_hint);
				if (canon)
					sk_value_put(v, sb->key, canon);
				break;
			}
			case SKG_SIZE:
				if (get_size_min(c, level, name, sb->min, &n) > 0) {
					snprintf(num, sizeof(num), "%lld", (long long)n);
					sk_value_put(v, sb->key, num);
				}
				break;
			case SKG_INT:
				if (mf_get_int(c, level, name, sb->min, sb->max, &n) > 0) {
					snprintf(num, sizeof(num), "%lld", (long long)n);
					sk_value_put(v, sb->key, num);
				}
				break;
			default:
				BUG("spec key '%s': sub-key '%s' has a grammar mappings do not take", r->key, sb->key);
			}
		}
	}
	for (const struct sk_sub *sb = r->subs; sb->key; sb++)
		if (sb->required && !sk_value_get(v, sb->key) && !y_get(y, sb->key))
			mf_diag(c, y, "'%s' needs '%s'", r->key, sb->key);
}

/* SKG_ULIMITS: NAME: N (soft = hard) or NAME: {soft: N, hard: N}, stored as NAME = "SOFT:HARD". */
static void parse_field_ulimits(struct ctx *c, const struct ynode *y, const struct sk_row *r, struct sk_value *v)
{
	static const char *const lim_keys[] = { "soft", "hard", NULL };
	if (y->kind != Y_MAP) {
		mf_diag(c, y, "'%s' must be a mapping like %s", r->key, r->example);
		return;
	}
	v->set = true;
	size_t nn;
	const char *const *names = choice_words(c, r->choices, &nn);
	for (size_t i = 0; i < y_npairs(y); i++) {
		const struct ynode *k = y_key(y, i), *val = y_val(y, i);
		const char *name = sk_choice(r->choices, k->str);
		if (!name) {
			mf_diag(c, k, "unknown ulimit '%s' in '%s'%s", mf_shown(c, k->str), r->key, mf_mean(c, k->str, names, nn));
			continue;
		}
		int64_t soft = 0, hard = 0;
		if (val->kind == Y_MAP) {
			mf_check_keys(c, val, lim_keys, mf_keep(c, xasprintf("%s.%s", r->key, name)));
			int gs = mf_get_int(c, val, "soft", r->min, r->max, &soft);
			int gh = mf_get_int(c, val, "hard", r->min, r->max, &hard);
			if (gs == 0 || gh == 0) {
				mf_diag(c, val, "ulimit '%s' needs both 'soft' and 'hard' (or one number for both)", name);
				continue;
			}
			if (gs < 0 || gh < 0)
				continue;
			if (soft > hard) {
				mf_diag(c, y_get(val, "soft"), "ulimit '%s': soft limit %lld is above the hard limit %lld", name,
				     (long long)soft, (long long)hard);
				continue;
			}
		} else {
			if (mf_get_int(c, y, k->str, r->min, r->max, &soft) <= 0)
				continue;
			hard = soft;
		}
		char lim[64];
		snprintf(lim, sizeof(lim), "%lld:%lld", (long long)soft, (long long)hard);
		sk_value_put(v, name, lim);
	}
}

/*
 * One field of the spec-key table from mapping m by its row's grammar into *v (left
 * untouched when m does not have it).  Messages name the manifest key.
 */
static void parse_field(struct ctx *c, const struct ynode *m, const struct sk_row *r, struct sk_value *v)
{
	const struct ynode *y = y_get(m, r->key);
	if (!y)
		return;
	const char *k = r->key, *str;
	bool b;
	int64_t n;
	struct refs items = { 0 };
	switch (r->grammar) {
	case SKG_BOOL:
		if (mf_get_bool(c, m, k, &b) > 0) {
			v->set = true;
			v->num = b;
		}
		break;
	case SKG_STRING:
		if ((str = mf_as_str(c, y, k))) {
			v->set = true;
			v->str = xstrdup(str);
		}
		break;
	case SKG_PATH:
		if ((str = mf_as_str(c, y, k)) && !mf_clean_abs_path(str)) {
			mf_diag(c, y, "'%s' must be a clean absolute path", k);
		} else if (str) {
			v->set = true;
			v->str = xstrdup(str);
		}
		break;
	case SKG_SIGNAL:
		if (!(str = mf_as_str(c, y, k)))
			break;
		if (!mf_signal_ok(str))
			mf_diag(c, y, "'%s' must be a signal name like SIGTERM or a number: '%s'", k, mf_shown(c, str));
		else if (!isdigit((unsigned char)str[0]) && !mf_signal_known(str + 3))
			mf_diag(c, y, "unknown signal '%s' in '%s'%s", mf_shown(c, str), k, mf_signal_mean(c, str + 3));
		v->set = true;
		v->str = xstrdup(str);
		break;
	case SKG_INT:
		if (mf_get_int(c, m, k, r->min, r->max, &n) > 0) {
			v->set = true;
			v->num = n;
		}
		break;
	case SKG_SIZE:
		if (get_size_min(c, m, k, r->min, &n) > 0) {
			v->set = true;
			v->num = n;
		}
		break;
	case SKG_CAPS:
		if (!mf_is_seq(c, y, k))
			break;
		v->set = true;
		mf_get_strings(c, m, k, &items);
		for (size_t i = 0; i < items.n; i++) {
			const char *cap = mf_cap_parse(c, items.v[i].name, items.v[i].at, k);
			if (cap)
				sk_value_put(v, cap, "true");
		}
		break;
	case SKG_CHOICES:
		if (!mf_is_seq(c, y, k))
			break;
		v->set = true;
		mf_get_strings(c, m, k, &items);
		for (size_t i = 0; i < items.n; i++) {
			const char *canon = get_choice(c, items.v[i].at, k, r->choices, r->choices_hint);
			if (canon)
				sk_value_put(v, canon, "true");
		}
		break;
	case SKG_MAPPING:
		parse_field_mapping(c, y, r, v);
		break;
	case SKG_ULIMITS:
		parse_field_ulimits(c, y, r, v);
		break;
	case SKG_CHOICE:
		BUG("spec key '%s': SKG_CHOICE is for sub-keys", k);
	}
	free(items.v);
}

/* The keys a mapping of kind `where` takes: base (NULL-terminated) plus the table's rows for it
 * (ctx-owned). */
const char *const *mf_keys_with_fields(struct ctx *c, const char *const *base, unsigned where)
{
	size_t nb = mf_count_keys(base);
	const char **k = xcalloc(nb + SK__COUNT + 1, sizeof(*k));
	memcpy(k, base, nb * sizeof(*k));
	for (int i = 0; i < SK__COUNT; i++)
		if (sk_row((enum sk_id)i)->where & where)
			k[nb++] = sk_row((enum sk_id)i)->key;
	mf_keep(c, (char *)k);
	return k;
}

/* The table's rows written in m (a service, a Plan or Settings.defaults) into v. */
void mf_parse_fields(struct ctx *c, const struct ynode *m, unsigned where, struct sk_value v[SK__COUNT])
{
	for (int i = 0; i < SK__COUNT; i++) {
		const struct sk_row *r = sk_row((enum sk_id)i);
		if (r->where & where)
			parse_field(c, m, r, &v[i]);
	}
}

/* The value a unit gets for row i: its own as written, else Settings.defaults' (NULL: none). */
const struct sk_value *mf_field_effective(const struct model *m, const struct sk_value *own, int i)
{
	if (own && own[i].set)
		return &own[i];
	return m->set.defaults[i].set ? &m->set.defaults[i] : NULL;
}
