/* speckeys.c — see speckeys.h.  The rows are documented for operators in spec/manifest.md. */
#include "speckeys.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- the table ------------------------------------------------------------------ */

/* ulimits: the names the engine knows (go-units' ulimit table) */
static const struct sk_choice ulimit_names[] = {
	{ "core", "core" }, { "cpu", "cpu" }, { "data", "data" }, { "fsize", "fsize" },
	{ "locks", "locks" }, { "memlock", "memlock" }, { "msgqueue", "msgqueue" }, { "nice", "nice" },
	{ "nofile", "nofile" }, { "nproc", "nproc" }, { "rss", "rss" }, { "rtprio", "rtprio" },
	{ "rttime", "rttime" }, { "sigpending", "sigpending" }, { "stack", "stack" },
	{ NULL, NULL },
};

/* logging: drivers that keep the output on the host in files the engine rotates, and the two
 * options that cap them (max-size goes to the engine in bytes: its own suffixes are decimal) */
static const struct sk_choice log_drivers[] = {
	{ "json-file", "json-file" },
	{ "local", "local" },
	{ NULL, NULL },
};
static const struct sk_sub logging_subs[] = {
	{ "driver", SKG_CHOICE, 0, 0, log_drivers, "json-file or local", true },
	{ "options.max-size", SKG_SIZE, 4096, 0, NULL, NULL, false },
	{ "options.max-file", SKG_INT, 1, 1000, NULL, NULL, false },
	{ NULL, 0, 0, 0, NULL, NULL, false },
};

/* security_opt: an allow-list, not a deny-list (seccomp, AppArmor and SELinux options loosen
 * confinement); both spellings compose accepts are one canonical value, the engine's bare form */
static const struct sk_choice security_opts[] = {
	{ "no-new-privileges", "no-new-privileges" },
	{ "no-new-privileges:true", "no-new-privileges" },
	{ NULL, NULL },
};

static const struct sk_row rows[SK__COUNT] = {
	[SK_USER] = {
		.id = SK_USER, .key = "user", .ckey = "user", .where = SK_IN_SERVICE,
		.type = SKT_STRING, .grammar = SKG_STRING,
		.engine = "Config.User", .codec = SKE_STRING, .readback = SKR_IMAGE,
		.swarm = true,
	},
	[SK_WORKDIR] = {
		.id = SK_WORKDIR, .key = "working_dir", .ckey = "workdir", .where = SK_IN_SERVICE,
		.type = SKT_STRING, .grammar = SKG_PATH,
		.engine = "Config.WorkingDir", .codec = SKE_STRING, .readback = SKR_IMAGE,
		.swarm = true,
	},
	[SK_STOP_SIGNAL] = {
		.id = SK_STOP_SIGNAL, .key = "stop_signal", .ckey = "stop_signal", .where = SK_IN_SERVICE,
		.type = SKT_STRING, .grammar = SKG_SIGNAL,
		.engine = "Config.StopSignal", .codec = SKE_STRING, .readback = SKR_IMAGE,
		.swarm = true,
	},
	[SK_PRIVILEGED] = {
		.id = SK_PRIVILEGED, .key = "privileged", .ckey = "privileged", .where = SK_IN_SERVICE,
		.type = SKT_BOOL, .grammar = SKG_BOOL, .gate = SK_GATE_PRIVILEGED,
		.engine = "HostConfig.Privileged", .codec = SKE_BOOL, .readback = SKR_NONZERO,
	},
	/* hardening and fairness (compose's names and meanings) */
	[SK_INIT] = {
		.id = SK_INIT, .key = "init", .ckey = "init", .where = SK_IN_SERVICE | SK_IN_DEFAULTS,
		.type = SKT_BOOL, .grammar = SKG_BOOL,
		.engine = "HostConfig.Init", .codec = SKE_BOOL, .readback = SKR_NONZERO,
		.swarm = true,
	},
	[SK_READ_ONLY] = {
		.id = SK_READ_ONLY, .key = "read_only", .ckey = "read_only", .where = SK_IN_SERVICE | SK_IN_DEFAULTS,
		.type = SKT_BOOL, .grammar = SKG_BOOL,
		.engine = "HostConfig.ReadonlyRootfs", .codec = SKE_BOOL, .readback = SKR_NONZERO,
		.swarm = true,
	},
	[SK_CAP_DROP] = {
		.id = SK_CAP_DROP, .key = "cap_drop", .ckey = "cap_drop", .where = SK_IN_SERVICE | SK_IN_DEFAULTS,
		.type = SKT_SET, .grammar = SKG_CAPS,
		.engine = "HostConfig.CapDrop", .codec = SKE_STRLIST, .readback = SKR_NONZERO,
		.swarm = true,
	},
	[SK_SECURITY_OPT] = {
		.id = SK_SECURITY_OPT, .key = "security_opt", .ckey = "security_opt", .where = SK_IN_SERVICE | SK_IN_DEFAULTS,
		.type = SKT_SET, .grammar = SKG_CHOICES, .choices = security_opts,
		.choices_hint = "no-new-privileges (or no-new-privileges:true)",
		.engine = "HostConfig.SecurityOpt", .codec = SKE_STRLIST, .readback = SKR_NONZERO,
	},
	[SK_SHM_SIZE] = {
		.id = SK_SHM_SIZE, .key = "shm_size", .ckey = "shm_size", .where = SK_IN_SERVICE | SK_IN_DEFAULTS,
		.type = SKT_INT, .grammar = SKG_SIZE, .min = 4096,
		/* the engine fills in its default (64M, or the daemon's default-shm-size): read back only
		 * when the spec sets it */
		.engine = "HostConfig.ShmSize", .codec = SKE_INT, .readback = SKR_EXPECTED,
	},
	[SK_LOGGING] = {
		.id = SK_LOGGING, .key = "logging", .ckey = "logging", .where = SK_IN_SERVICE | SK_IN_DEFAULTS,
		.type = SKT_MAP, .grammar = SKG_MAPPING, .subs = logging_subs,
		.example = "{driver: json-file, options: {max-size: 10M, max-file: 3}}",
		/* the engine fills in its default driver (and merges the daemon's log-opts for it) */
		.engine = "HostConfig.LogConfig", .codec = SKE_LOGCONFIG, .readback = SKR_EXPECTED,
	},
	[SK_CPU_SHARES] = {
		.id = SK_CPU_SHARES, .key = "cpu_shares", .ckey = "cpu_shares", .where = SK_IN_PLAN | SK_IN_DEFAULTS,
		.type = SKT_INT, .grammar = SKG_INT, .min = 2, .max = 262144,
		.engine = "HostConfig.CpuShares", .codec = SKE_INT, .readback = SKR_NONZERO,
		/* a resource: `docker update --cpu-shares`; but 0 there means "unchanged", so going back
		 * to the engine's default is a replacement */
		.in_place = true, .clear_recreates = true,
	},
	[SK_ULIMITS] = {
		.id = SK_ULIMITS, .key = "ulimits", .ckey = "ulimits", .where = SK_IN_SERVICE | SK_IN_DEFAULTS,
		.type = SKT_MAP, .grammar = SKG_ULIMITS, .choices = ulimit_names, .min = 0, .max = INT64_C(1) << 40,
		.example = "{nofile: {soft: 1024, hard: 2048}, nproc: 512}",
		.engine = "HostConfig.Ulimits", .codec = SKE_ULIMITS, .readback = SKR_NONZERO,
	},
};

/* policy.require: what a service must set (itself or through Settings.defaults). */
static const struct sk_requirement requirements[] = {
	{ "no_new_privileges", SK_SECURITY_OPT, "security_opt.no-new-privileges", "security_opt: [no-new-privileges]" },
	{ "log_cap", SK_LOGGING, "logging.options.max-size", "logging: {options: {max-size: SIZE}}" },
	{ "read_only", SK_READ_ONLY, "read_only", "read_only: true" },
	{ "init", SK_INIT, "init", "init: true" },
	{ "cap_drop_all", SK_CAP_DROP, "cap_drop.ALL", "cap_drop: [ALL]" },
	{ NULL, SK__COUNT, NULL, NULL },
};

const struct sk_row *sk_row(enum sk_id id)
{
	if ((unsigned)id >= SK__COUNT || rows[id].key == NULL)
		BUG("spec key %d has no row", (int)id);
	return &rows[id];
}

/* ---- values --------------------------------------------------------------------- */

void sk_value_release(struct sk_value *v)
{
	free(v->str);
	for (size_t i = 0; i < v->nkv; i++) {
		free(v->kv[i].key);
		free(v->kv[i].value);
	}
	free(v->kv);
	memset(v, 0, sizeof(*v));
}

void sk_values_release(struct sk_value v[SK__COUNT])
{
	for (size_t i = 0; i < SK__COUNT; i++)
		sk_value_release(&v[i]);
}

void sk_value_copy(struct sk_value *dst, const struct sk_value *src)
{
	*dst = (struct sk_value){ .set = src->set, .num = src->num };
	dst->str = src->str ? xstrdup(src->str) : NULL;
	if (src->nkv) {
		dst->kv = xcalloc(src->nkv, sizeof(*dst->kv));
		for (size_t i = 0; i < src->nkv; i++) {
			dst->kv[i].key = xstrdup(src->kv[i].key);
			dst->kv[i].value = xstrdup(src->kv[i].value);
		}
		dst->nkv = src->nkv;
	}
}

/* Index of key in v's sorted pairs, or where it would go (*found says which). */
static size_t kv_find(const struct sk_value *v, const char *key, bool *found)
{
	size_t lo = 0, hi = v->nkv;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v->kv[mid].key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

void sk_value_put(struct sk_value *v, const char *key, const char *value)
{
	bool found;
	size_t i = kv_find(v, key, &found);
	v->set = true;
	if (found) {
		free(v->kv[i].value);
		v->kv[i].value = xstrdup(value);
		return;
	}
	v->kv = xrealloc(v->kv, (v->nkv + 1) * sizeof(*v->kv));
	memmove(&v->kv[i + 1], &v->kv[i], (v->nkv - i) * sizeof(*v->kv));
	v->kv[i].key = xstrdup(key);
	v->kv[i].value = xstrdup(value);
	v->nkv++;
}

const char *sk_value_get(const struct sk_value *v, const char *key)
{
	bool found;
	size_t i = kv_find(v, key, &found);
	return found ? v->kv[i].value : NULL;
}

bool sk_value_nonzero(const struct sk_row *r, const struct sk_value *v)
{
	switch (r->type) {
	case SKT_BOOL:
	case SKT_INT: return v->num != 0;
	case SKT_STRING: return v->str != NULL;
	case SKT_SET:
	case SKT_MAP: return v->nkv > 0;
	}
	return false;
}

/* ---- canonical text ------------------------------------------------------------- */

void sk_canonical(const struct sk_value v[SK__COUNT], void (*emit)(void *ctx, const char *key, const char *value),
		  void *ctx)
{
	for (size_t i = 0; i < SK__COUNT; i++) {
		const struct sk_row *r = &rows[i];
		const struct sk_value *x = &v[i];
		if (!sk_value_nonzero(r, x))
			continue;
		switch (r->type) {
		case SKT_BOOL:
			emit(ctx, r->ckey, "true");
			break;
		case SKT_INT: {
			char num[32];
			snprintf(num, sizeof(num), "%lld", (long long)x->num);
			emit(ctx, r->ckey, num);
			break;
		}
		case SKT_STRING:
			emit(ctx, r->ckey, x->str);
			break;
		case SKT_SET:
		case SKT_MAP:
			for (size_t k = 0; k < x->nkv; k++) {
				_cleanup_free_ char *key = xasprintf("%s.%s", r->ckey, x->kv[k].key);
				emit(ctx, key, r->type == SKT_SET ? "true" : x->kv[k].value);
			}
			break;
		}
	}
}

const struct sk_row *sk_row_of_ckey(const char *ckey)
{
	for (size_t i = 0; i < SK__COUNT; i++) {
		const struct sk_row *r = &rows[i];
		size_t n = strlen(r->ckey);
		if (strncmp(ckey, r->ckey, n) != 0)
			continue;
		if (r->type == SKT_SET || r->type == SKT_MAP) {
			if (ckey[n] == '.' && ckey[n + 1])
				return r;
		} else if (ckey[n] == '\0') {
			return r;
		}
	}
	return NULL;
}

bool sk_ckey_in_place(const char *ckey)
{
	const struct sk_row *r = sk_row_of_ckey(ckey);
	return r && r->in_place;
}

bool sk_ckey_clear_recreates(const char *ckey)
{
	const struct sk_row *r = sk_row_of_ckey(ckey);
	return r && r->in_place && r->clear_recreates;
}

bool sk_ckey_secret(const char *ckey)
{
	const struct sk_row *r = sk_row_of_ckey(ckey);
	return r && r->secret;
}

enum sk_human sk_ckey_human(const char *ckey)
{
	const struct sk_row *r = sk_row_of_ckey(ckey);
	if (!r)
		return SKH_TEXT;
	if (r->grammar == SKG_SIZE)
		return SKH_SIZE;
	if (r->grammar == SKG_MAPPING && r->subs) {
		const char *sub = ckey + strlen(r->ckey) + 1;
		for (const struct sk_sub *s = r->subs; s->key; s++)
			if (strcmp(s->key, sub) == 0)
				return s->grammar == SKG_SIZE ? SKH_SIZE : SKH_TEXT;
	}
	return SKH_TEXT;
}

/* ---- grammar helpers ------------------------------------------------------------ */

const char *sk_choice(const struct sk_choice *choices, const char *written)
{
	for (const struct sk_choice *c = choices; c && c->written; c++)
		if (strcmp(c->written, written) == 0)
			return c->canonical;
	return NULL;
}

size_t sk_choice_count(const struct sk_choice *choices)
{
	size_t n = 0;
	while (choices && choices[n].written)
		n++;
	return n;
}

/* ---- engine --------------------------------------------------------------------- */

char *sk_engine_item(const struct sk_row *r, const char *raw)
{
	if (r->grammar == SKG_CAPS) {
		/* the engine may keep "CAP_NET_RAW" for "NET_RAW": one canonical name, as the loader's */
		char *s = xstrdup(raw);
		for (char *p = s; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		if (str_startswith(s, "CAP_"))
			memmove(s, s + 4, strlen(s + 4) + 1);
		return s;
	}
	const char *canon = sk_choice(r->choices, raw);
	return xstrdup(canon ? canon : raw);
}

/* ---- policy.require --------------------------------------------------------------- */

const struct sk_requirement *sk_requirements(size_t *ret_n)
{
	size_t n = 0;
	while (requirements[n].name)
		n++;
	*ret_n = n;
	return requirements;
}

const struct sk_requirement *sk_requirement(const char *name)
{
	for (const struct sk_requirement *q = requirements; q->name; q++)
		if (strcmp(q->name, name) == 0)
			return q;
	return NULL;
}

bool sk_requirement_met(const struct sk_requirement *req, const struct sk_value *v)
{
	const struct sk_row *r = sk_row(req->id);
	if (!v || !sk_value_nonzero(r, v))
		return false;
	if (r->type != SKT_SET && r->type != SKT_MAP)
		return true;
	const char *sub = req->ckey + strlen(r->ckey) + 1;
	return sk_value_get(v, sub) != NULL;
}
