/*
 * Unit tests for the table of spec keys (speckeys.h), row by row through every
 * layer the table drives: a manifest value gives its canonical lines (also as a
 * Settings.defaults value), the create body
 * carries it at the row's engine path (the update body too for in-place rows),
 * an inspect holding it there reads back as the same lines, and bad values are
 * diagnosed at their position.  Every row must have a case: a row added without
 * one fails here.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "docker.h"
#include "manifest.h"
#include "report.h"
#include "spec.h"
#include "speckeys.h"
#include "tap.h"
#include "util.h"
#include "fixture.h"

/* ---- helpers ------------------------------------------------------------------ */

static void collect(void *ctx, const char *key, const char *value)
{
	struct buf *b = ctx;
	buf_addf(b, "%s=%s\n", key, value);
}

/* The canonical lines of the table's fields, sorted (malloc'ed). */
static char *field_lines(const struct sk_value v[SK__COUNT])
{
	struct buf b = BUF_INIT;
	sk_canonical(v, collect, &b);
	char **lines = NULL;
	size_t n = 0;
	for (char *p = b.data ? b.data : (char *)""; *p;) {
		char *nl = strchr(p, '\n');
		lines = xrealloc(lines, (n + 1) * sizeof(*lines));
		lines[n++] = xstrndup(p, (size_t)(nl - p));
		p = nl + 1;
	}
	if (n)
		qsort(lines, n, sizeof(*lines), strp_cmp);
	struct buf out = BUF_INIT;
	buf_adds(&out, "");
	for (size_t i = 0; i < n; i++) {
		buf_addf(&out, "%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
	buf_release(&b);
	return buf_detach(&out, NULL);
}

/* One file; NULL on failure with the diagnostics in *ret_diags (malloc'ed) when asked. */
static struct rc_desired *load(const char *text, char **ret_diags)
{
	const char *pairs[] = { "m.yaml", text, NULL };
	return fixture_load(pairs, NULL, ret_diags);
}

#define SETTINGS "kind: Settings\npolicy: {allow_privileged: true}\n"

/* A set with one service x carrying `yaml` where the row is written (a service, or its Plan). */
static char *manifest_with(const struct sk_row *r, const char *yaml, const char *defaults)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, SETTINGS);
	if (defaults)
		buf_addf(&b, "defaults:\n  %s\n", defaults);
	if (r->where & SK_IN_PLAN && !(r->where & SK_IN_SERVICE)) {
		buf_addf(&b, "---\nkind: Plan\nname: p\n%s\n", yaml ? yaml : "");
		buf_adds(&b, "---\nkind: Service\nname: x\nimage: x:1\nplan: p\n");
	} else {
		buf_addf(&b, "---\nkind: Service\nname: x\nimage: x:1\n%s\n", yaml ? yaml : "");
	}
	return buf_detach(&b, NULL);
}

/* The text of the object that follows `member` in json (braces counted; no braces in strings). */
static char *object_text(const char *json, const char *member)
{
	const char *p = strstr(json, member);
	if (!p)
		return NULL;
	p += strlen(member);
	int depth = 0;
	for (const char *q = p; *q; q++) {
		depth += *q == '{' ? 1 : *q == '}' ? -1 : 0;
		if (depth == 0)
			return xstrndup(p, (size_t)(q - p + 1));
	}
	return NULL;
}

/* ---- the table itself ----------------------------------------------------------- */

static void test_rows(void)
{
	for (int i = 0; i < SK__COUNT; i++) {
		const struct sk_row *r = sk_row((enum sk_id)i);
		ok(r->id == (enum sk_id)i, "%s: its row is at its id", r->key);
		ok(r->key && r->ckey && *r->key && *r->ckey, "%s: manifest and canonical keys", r->key);
		ok(r->where != 0, "%s: written somewhere", r->key);
		ok(str_startswith(r->engine, "Config.") || str_startswith(r->engine, "HostConfig."),
		   "%s: engine path %s is in Config or HostConfig", r->key, r->engine);
		bool shape = (r->type == SKT_BOOL && r->codec == SKE_BOOL) ||
			     (r->type == SKT_INT && r->codec == SKE_INT) ||
			     (r->type == SKT_STRING && r->codec == SKE_STRING) ||
			     (r->type == SKT_SET && r->codec == SKE_STRLIST) ||
			     (r->type == SKT_MAP && (r->codec == SKE_LOGCONFIG || r->codec == SKE_ULIMITS));
		ok(shape, "%s: value type and engine shape agree", r->key);
		ok(!r->in_place || str_startswith(r->engine, "HostConfig."),
		   "%s: only HostConfig fields change in place", r->key);
		ok(!r->clear_recreates || r->in_place, "%s: clear_recreates only for in-place rows", r->key);
		ok(r->readback != SKR_IMAGE || (r->type == SKT_STRING && str_startswith(r->engine, "Config.")),
		   "%s: only Config strings are the image's", r->key);
		ok(sk_row_of_ckey(r->ckey) == r || ((r->type == SKT_SET || r->type == SKT_MAP) && !sk_row_of_ckey(r->ckey)),
		   "%s: its canonical key leads back to it", r->key);
		for (int j = 0; j < i; j++) {
			const struct sk_row *o = sk_row((enum sk_id)j);
			ok(strcmp(o->key, r->key) != 0 && strcmp(o->ckey, r->ckey) != 0, "%s and %s: distinct keys",
			   o->key, r->key);
		}
	}
	ok(sk_row_of_ckey("image") == NULL && sk_row_of_ckey("env.A") == NULL, "keys outside the table: no row");
	ok(!sk_ckey_in_place("user") && !sk_ckey_secret("user"), "user: not in place, not secret");
	ok(spec_key_is_resource("cpus") && !spec_key_is_resource("privileged"), "resources: the old ones still");
	ok(spec_key_is_resource("cpu_shares") && sk_ckey_clear_recreates("cpu_shares"),
	   "cpu_shares: a resource whose removal needs a replacement");
	ok(!spec_key_is_resource("read_only") && !spec_key_is_resource("logging.driver"), "the others are not");
}

static void test_values(void)
{
	struct sk_value v = { 0 };
	sk_value_put(&v, "b", "2");
	sk_value_put(&v, "a", "1");
	sk_value_put(&v, "c", "3");
	sk_value_put(&v, "b", "two");
	ok(v.set && v.nkv == 3, "put: three keys, one replaced");
	is_str(v.kv[0].key, "a", "sorted: a");
	is_str(v.kv[1].value, "two", "sorted: b replaced");
	is_str(sk_value_get(&v, "c"), "3", "get");
	ok(sk_value_get(&v, "d") == NULL, "get: absent");
	struct sk_value w;
	sk_value_copy(&w, &v);
	sk_value_release(&v);
	ok(w.nkv == 3 && strcmp(w.kv[2].key, "c") == 0, "copy is deep");
	sk_value_release(&w);
}

/* ---- one case per row ------------------------------------------------------------- */

static const struct row_case {
	enum sk_id id;
	const char *yaml;       /* as written in the service (or Plan), one line */
	const char *lines;      /* the canonical lines it gives */
	const char *engine;     /* the engine's JSON at the row's path (create body and inspect) */
} cases[] = {
	{ SK_USER, "user: app", "user=app\n", "\"User\":\"app\"" },
	{ SK_WORKDIR, "working_dir: /srv/app", "workdir=/srv/app\n", "\"WorkingDir\":\"/srv/app\"" },
	{ SK_STOP_SIGNAL, "stop_signal: SIGINT", "stop_signal=SIGINT\n", "\"StopSignal\":\"SIGINT\"" },
	{ SK_PRIVILEGED, "privileged: true", "privileged=true\n", "\"Privileged\":true" },
	{ SK_INIT, "init: true", "init=true\n", "\"Init\":true" },
	{ SK_READ_ONLY, "read_only: true", "read_only=true\n", "\"ReadonlyRootfs\":true" },
	{ SK_CAP_DROP, "cap_drop: [cap_net_raw, ALL, \" NET_RAW\"]", "cap_drop.ALL=true\ncap_drop.NET_RAW=true\n",
	  "\"CapDrop\":[\"ALL\",\"NET_RAW\"]" },
	{ SK_SECURITY_OPT, "security_opt: [no-new-privileges:true, no-new-privileges]",
	  "security_opt.no-new-privileges=true\n", "\"SecurityOpt\":[\"no-new-privileges\"]" },
	{ SK_SHM_SIZE, "shm_size: 256m", "shm_size=268435456\n", "\"ShmSize\":268435456" },
	{ SK_LOGGING, "logging: {driver: json-file, options: {max-size: 10M, max-file: 3}}",
	  "logging.driver=json-file\nlogging.options.max-file=3\nlogging.options.max-size=10485760\n",
	  "\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"max-file\":\"3\",\"max-size\":\"10485760\"}}" },
	{ SK_CPU_SHARES, "cpu_shares: 512", "cpu_shares=512\n", "\"CpuShares\":512" },
	{ SK_ULIMITS, "ulimits: {nproc: 512, nofile: {soft: 1024, hard: 2048}}",
	  "ulimits.nofile=1024:2048\nulimits.nproc=512:512\n",
	  "\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":1024,\"Hard\":2048},{\"Name\":\"nproc\",\"Soft\":512,\"Hard\":512}]" },
};

static const struct bad_case {
	const char *yaml;       /* a service's line */
	const char *diag;       /* the diagnostic (file:line:col: message) */
} bad[] = {
	{ "working_dir: app", "m.yaml:7:14: 'working_dir' must be a clean absolute path" },
	{ "user: [a]", "m.yaml:7:7: 'user' must be a string" },
	{ "stop_signal: TERM", "m.yaml:7:14: 'stop_signal' must be a signal name like SIGTERM or a number: 'TERM'" },
	{ "privileged: yes", "m.yaml:7:13: 'privileged' must be true or false" },
	{ "init: 1", "m.yaml:7:7: 'init' must be true or false" },
	{ "read_only: \"true\"", "m.yaml:7:12: 'read_only' must be true or false" },
	{ "cap_drop: [CAP_CAP_SYS_ADMIN]", "m.yaml:7:12: unknown capability 'CAP_CAP_SYS_ADMIN' in 'cap_drop'" },
	{ "cap_drop: [NET_RWA]", "m.yaml:7:12: unknown capability 'NET_RWA' in 'cap_drop' (did you mean 'NET_RAW'?)" },
	{ "cap_drop: NET_RAW", "m.yaml:7:11: 'cap_drop' must be a list" },
	{ "security_opt: [seccomp=unconfined]",
	  "m.yaml:7:16: 'security_opt' value 'seccomp=unconfined' is not allowed: only no-new-privileges (or no-new-privileges:true)" },
	{ "security_opt: [no-new-privilege]",
	  "m.yaml:7:16: 'security_opt' value 'no-new-privilege' is not allowed: only no-new-privileges (or no-new-privileges:true) (did you mean 'no-new-privileges'?)" },
	{ "security_opt: [\"no-new-privileges:false\"]", "m.yaml:7:16: 'security_opt' value 'no-new-privileges:false' is not allowed" },
	{ "security_opt: [apparmor=unconfined]", "m.yaml:7:16: 'security_opt' value 'apparmor=unconfined' is not allowed" },
	{ "shm_size: 1x", "m.yaml:7:11: 'shm_size' is not a size: write e.g. 512M, 1G, 1024k or plain bytes" },
	{ "shm_size: 100", "m.yaml:7:11: 'shm_size' must be at least 4096 bytes" },
	{ "logging: {driver: syslog}", "m.yaml:7:19: 'driver' value 'syslog' is not allowed: only json-file or local" },
	{ "logging: {driver: local, options: {compress: true}}",
	  "m.yaml:7:36: unknown key 'compress' in logging.options" },
	{ "logging: {options: {max-size: 10M}}", "m.yaml:7:10: 'logging' needs 'driver'" },
	{ "logging: {driver: local, options: {max-file: 0}}",
	  "m.yaml:7:46: 'max-file' must be a whole number from 1 to 1000" },
	{ "logging: {driver: local, options: {max-size: 1k}}", "m.yaml:7:46: 'max-size' must be at least 4096 bytes" },
	{ "logging: {driver: local, options: [max-size]}", "m.yaml:7:35: 'logging.options' must be a mapping" },
	{ "logging: json-file", "m.yaml:7:10: 'logging' must be a mapping like {driver: json-file, options: {max-size: 10M, max-file: 3}}" },
	{ "logging: {drive: local}", "m.yaml:7:11: unknown key 'drive' in logging (did you mean 'driver'?)" },
	{ "cpu_shares: 512", "m.yaml:7:1: unknown key 'cpu_shares' in Service: resources belong to a Plan ('plan: NAME')" },
	{ "ulimits: {nofiles: 10}", "m.yaml:7:11: unknown ulimit 'nofiles' in 'ulimits' (did you mean 'nofile'?)" },
	{ "ulimits: {nofile: {soft: 2048, hard: 1024}}",
	  "m.yaml:7:26: ulimit 'nofile': soft limit 2048 is above the hard limit 1024" },
	{ "ulimits: {nofile: {soft: 1}}",
	  "m.yaml:7:19: ulimit 'nofile' needs both 'soft' and 'hard' (or one number for both)" },
	{ "ulimits: {nproc: -1}", "m.yaml:7:18: 'nproc' must be a whole number from 0 to 1099511627776" },
	{ "ulimits: [nofile]", "m.yaml:7:10: 'ulimits' must be a mapping like {nofile: {soft: 1024, hard: 2048}, nproc: 512}" },
	{ "ulimits: {nofile: {soft: 1, hard: 2, max: 3}}", "m.yaml:7:38: unknown key 'max' in ulimits.nofile" },
};

static void test_case(const struct row_case *k)
{
	const struct sk_row *r = sk_row(k->id);
	_cleanup_free_ char *m = manifest_with(r, k->yaml, NULL);
	struct rc_desired *d = load(m, NULL);
	if (!ok(d != NULL, "%s: '%s' loads", r->key, k->yaml))
		return;
	const struct rc_unit *u = rc_desired_unit(d, "x");
	_cleanup_free_ char *lines = field_lines(u->fields);
	is_str(lines, k->lines, "%s: canonical lines", r->key);
	struct buf spec = BUF_INIT;
	spec_canonical(u, true, &spec);
	ok(strstr(buf_cstr(&spec), k->lines) != NULL, "%s: in the unit's canonical text", r->key);
	buf_release(&spec);

	/* create body, update body */
	struct dk_create_spec cs = { .name = "x", .image = "x:1", .fields = u->fields };
	_cleanup_free_ char *body = dk_create_body(&cs);
	ok(strstr(body, k->engine) != NULL, "%s: the create body has %s", r->key, k->engine);
	bool hc = str_startswith(r->engine, "HostConfig.");
	_cleanup_free_ char *hcobj = object_text(body, "\"HostConfig\":");
	ok(hcobj && (strstr(hcobj, k->engine) != NULL) == hc, "%s: ... in %s", r->key, hc ? "HostConfig" : "Config");
	struct dk_resources res = { .fields = u->fields };
	_cleanup_free_ char *upd = dk_update_body(&res);
	ok((strstr(upd, k->engine) != NULL) == r->in_place, "%s: the update body %s it", r->key,
	   r->in_place ? "has" : "has not");

	/* read back from an inspect */
	_cleanup_free_ char *json = xasprintf("{\"Id\":\"x\",\"Config\":{%s},\"HostConfig\":{%s}}", hc ? "" : k->engine,
					      hc ? k->engine : "");
	struct dk_container *ct = NULL;
	struct rc_err err = { 0 };
	if (ok(dk_decode_container(json, strlen(json), &ct, &err) == 0, "%s: inspect decodes (%s)", r->key, err.msg)) {
		_cleanup_free_ char *back = field_lines(ct->fields);
		is_str(back, k->lines, "%s: the inspect reads back as the same lines", r->key);
	}
	dk_container_free(ct);
	rc_desired_free(d);

	/* a default for units that do not set it */
	if (!(r->where & SK_IN_DEFAULTS))
		return;
	_cleanup_free_ char *md = manifest_with(r, NULL, k->yaml);
	d = load(md, NULL);
	if (ok(d != NULL, "%s: as Settings.defaults", r->key)) {
		_cleanup_free_ char *dl = field_lines(rc_desired_unit(d, "x")->fields);
		is_str(dl, k->lines, "%s: the default applies", r->key);
	}
	rc_desired_free(d);
}

static void test_cases(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		test_case(&cases[i]);
	for (int id = 0; id < SK__COUNT; id++) {
		bool covered = false;
		for (size_t i = 0; i < ARRAY_SIZE(cases) && !covered; i++)
			covered = cases[i].id == (enum sk_id)id;
		ok(covered, "row %s has a case", sk_row((enum sk_id)id)->key);
	}
}

/* What the engine keeps is read back in canonical form. */
static void test_engine_items(void)
{
	static const struct { const char *json, *lines; } items[] = {
		{ "{\"Id\":\"x\",\"HostConfig\":{\"CapDrop\":[\"CAP_NET_RAW\",\"all\"]}}",
		  "cap_drop.ALL=true\ncap_drop.NET_RAW=true\n" },
		{ "{\"Id\":\"x\",\"HostConfig\":{\"CapDrop\":null,\"Init\":null,\"ReadonlyRootfs\":false}}", "" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(items); i++) {
		struct dk_container *ct = NULL;
		struct rc_err err = { 0 };
		if (ok(dk_decode_container(items[i].json, strlen(items[i].json), &ct, &err) == 0, "decodes %s", items[i].json)) {
			_cleanup_free_ char *l = field_lines(ct->fields);
			is_str(l, items[i].lines, "%s reads back canonical", items[i].json);
		}
		dk_container_free(ct);
	}
}

/* A change of an in-place row changes hash, not base_hash; any other row changes both. */
static void test_hashes(void)
{
	static const struct { const char *a, *b; bool in_place; } h[] = {
		{ "kind: Plan\nname: p\ncpu_shares: 512", "kind: Plan\nname: p\ncpu_shares: 1024", true },
		{ "kind: Plan\nname: p\ncpu_shares: 512", "kind: Plan\nname: p", true },
		{ "kind: Plan\nname: p\n---\nkind: Service\nname: y\nimage: y:1\nread_only: true",
		  "kind: Plan\nname: p\n---\nkind: Service\nname: y\nimage: y:1\nread_only: false", false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(h); i++) {
		char *ma = xasprintf("%s\n---\nkind: Service\nname: x\nimage: x:1\nplan: p\n", h[i].a);
		char *mb = xasprintf("%s\n---\nkind: Service\nname: x\nimage: x:1\nplan: p\n", h[i].b);
		struct rc_desired *da = load(ma, NULL), *db = load(mb, NULL);
		if (ok(da && db, "hash case %zu loads", i)) {
			const char *id = h[i].in_place ? "x" : "y";
			const struct rc_unit *ua = rc_desired_unit(da, id), *ub = rc_desired_unit(db, id);
			ok(strcmp(ua->hash, ub->hash) != 0, "case %zu: the hash changes", i);
			is_int(strcmp(ua->base_hash, ub->base_hash) == 0, h[i].in_place, "case %zu: base_hash %s", i,
			       h[i].in_place ? "the same (in place)" : "changes (recreate)");
		}
		rc_desired_free(da);
		rc_desired_free(db);
		free(ma);
		free(mb);
	}
}

/* policy.require: every service must set the named keys, itself or through Settings.defaults. */
static void test_require(void)
{
	static const struct { const char *text, *diag; } rq[] = {
		{ "kind: Settings\npolicy: {require: [no_new_privileges, log_cap]}\n---\n"
		  "kind: Service\nname: x\nimage: x:1\nsecurity_opt: [no-new-privileges]\n",
		  "m.yaml:4:1: service 'x' does not set 'logging: {options: {max-size: SIZE}}', which Settings policy.require "
		  "asks for (log_cap)" },
		{ "kind: Settings\npolicy: {require: [no_new_privileges]}\n---\n"
		  "kind: Template\nname: t\nservices:\n  app:\n    image: x:1\n",
		  "m.yaml:8:5: service 'app' does not set 'security_opt: [no-new-privileges]', which Settings policy.require "
		  "asks for (no_new_privileges)" },
		{ "kind: Settings\npolicy: {require: [read_only, init, cap_drop_all]}\n"
		  "defaults: {read_only: true, init: true, cap_drop: [ALL]}\n---\n"
		  "kind: Service\nname: x\nimage: x:1\ninit: false\n",
		  "m.yaml:5:1: service 'x' does not set 'init: true', which Settings policy.require asks for (init)" },
		{ "kind: Settings\npolicy: {require: [no_new_privilege]}\n",
		  "m.yaml:2:20: unknown requirement 'no_new_privilege' in 'require' (did you mean 'no_new_privileges'?)" },
		{ "kind: Settings\npolicy: {require: [no_new_privileges, log_cap, read_only, init, cap_drop_all]}\n"
		  "defaults: {security_opt: [no-new-privileges], logging: {driver: local, options: {max-size: 1M}},"
		  " read_only: true, init: true, cap_drop: [ALL]}\n---\n"
		  "kind: Service\nname: x\nimage: x:1\n",
		  NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rq); i++) {
		char *diags = NULL;
		struct rc_desired *d = load(rq[i].text, &diags);
		if (rq[i].diag) {
			ok(d == NULL && diags && strstr(diags, rq[i].diag), "require case %zu: %s", i, rq[i].diag);
			if (diags && !strstr(diags, rq[i].diag))
				diag("got: %s", diags);
		} else {
			ok(d != NULL, "require case %zu: defaults satisfy every requirement (%s)", i, diags ? diags : "");
		}
		free(diags);
		rc_desired_free(d);
	}
}

/* Reports show values of the table's size rows as sizes. */
static void test_human(void)
{
	static const struct { const char *key, *value, *shown; } h[] = {
		{ "shm_size", "268435456", "256 MiB" },
		{ "logging.options.max-size", "10485760", "10 MiB" },
		{ "logging.options.max-file", "3", "3" },
		{ "user", "1024", "1024" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(h); i++) {
		struct buf b = BUF_INIT;
		report_humanize(h[i].key, h[i].value, &b);
		is_str(buf_cstr(&b), h[i].shown, "%s=%s is shown as %s", h[i].key, h[i].value, h[i].shown);
		buf_release(&b);
	}
}

/* A service's own value wins over Settings.defaults, even when it is false / empty. */
static void test_default_override(void)
{
	static const struct { const char *defaults, *own, *lines; } over[] = {
		{ "init: true", "init: false", "" },
		{ "init: true", "", "init=true\n" },
		{ "cap_drop: [ALL]", "cap_drop: []", "" },
		{ "cap_drop: [ALL]", "cap_drop: [NET_RAW]", "cap_drop.NET_RAW=true\n" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(over); i++) {
		_cleanup_free_ char *m = xasprintf(SETTINGS "defaults:\n  %s\n---\nkind: Service\nname: x\nimage: x:1\n%s\n",
						   over[i].defaults, over[i].own);
		struct rc_desired *d = load(m, NULL);
		if (ok(d != NULL, "defaults {%s}, service {%s}: loads", over[i].defaults, over[i].own)) {
			_cleanup_free_ char *l = field_lines(rc_desired_unit(d, "x")->fields);
			is_str(l, over[i].lines, "defaults {%s}, service {%s}", over[i].defaults, over[i].own);
		}
		rc_desired_free(d);
	}
}

static void test_bad(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		_cleanup_free_ char *m = xasprintf(SETTINGS "---\nkind: Service\nname: x\nimage: x:1\n%s\n", bad[i].yaml);
		char *diags = NULL;
		struct rc_desired *d = load(m, &diags);
		ok(d == NULL, "'%s' is refused", bad[i].yaml);
		ok(diags && strstr(diags, bad[i].diag) != NULL, "'%s': %s", bad[i].yaml, bad[i].diag);
		if (diags && !strstr(diags, bad[i].diag))
			diag("got: %s", diags);
		free(diags);
		rc_desired_free(d);
	}
}

int main(void)
{
	test_rows();
	test_values();
	test_cases();
	test_engine_items();
	test_require();
	test_hashes();
	test_human();
	test_default_override();
	test_bad();
	return done_testing();
}
