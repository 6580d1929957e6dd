/* state.c — see state.h. */
#include "state.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "hash.h"
#include "metrics.h"
#include "source.h"

#define STATE_FILE_MAX (64u << 20)

enum { F_ALLOC, F_APPLIED, F_UNITS, F_N };
static const char *const file_names[F_N] = { "allocations.json", "applied.json", "units.json" };

struct port_alloc {
	char *unit;
	uint16_t cport;
	char *proto;
	uint16_t host;
};

struct subnet_alloc {
	char *network;
	char *cidr;
};

struct restarts {
	char *unit;
	struct state_restarts r;
};

struct disabled {
	char *unit;
	int64_t time;
	char *reason;
};

struct inplace {
	char *id;
	char *hash;
	char *resources;
};

struct rc_state {
	char *dir;
	char *secrets;
	int lock_fd;
	bool dirty[F_N];
	char **warnings;
	size_t nwarnings, cwarnings;
	size_t journal_max;
	int journal_keep;

	/* allocations.json */
	struct port_alloc *ports;
	size_t nports, cports;
	struct subnet_alloc *subnets;
	size_t nsubnets, csubnets;
	/* applied.json */
	char *last_applied;
	char *last_good;
	char *project;  /* of the last apply */
	char *path;     /* its --path */
	char **containers;  /* the container names of the last apply's units */
	size_t ncontainers;
	struct state_failed_commit *failed;
	size_t nfailed, cfailed;
	/* units.json */
	struct restarts *restarts;
	size_t nrestarts, crestarts;
	struct disabled *disabled;
	size_t ndisabled, cdisabled;
	struct state_awaiting *awaiting;
	size_t nawaiting, cawaiting;
	struct inplace *inplace;
	size_t ninplace, cinplace;
};

/* Free a string we own but expose through a const pointer. */
static void free_const(const char *p)
{
	free((void *)(uintptr_t)p);
}

static char *xstrdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static const char *proto_or_tcp(const char *p)
{
	return p ? p : "tcp";
}

/* ---- in-memory data ------------------------------------------------------- */

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void clear_file_data(struct rc_state *st, int f)
{
	switch (f) {
	case F_ALLOC:
		for (size_t i = 0; i < st->nports; i++) {
			free(st->ports[i].unit);
			free(st->ports[i].proto);
		}
		free(st->ports);
		st->ports = NULL;
		st->nports = st->cports = 0;
		for (size_t i = 0; i < st->nsubnets; i++) {
			free(st->subnets[i].network);
			free(st->subnets[i].cidr);
		}
		free(st->subnets);
		st->subnets = NULL;
		st->nsubnets = st->csubnets = 0;
		break;
	case F_APPLIED:
		free(st->last_applied);
		free(st->last_good);
		free(st->project);
		free(st->path);
		st->last_applied = st->last_good = st->project = st->path = NULL;
		strv_free(st->containers, st->ncontainers);
		st->containers = NULL;
		st->ncontainers = 0;
		for (size_t i = 0; i < st->nfailed; i++) {
			free_const(st->failed[i].commit);
			free_const(st->failed[i].message);
		}
		free(st->failed);
		st->failed = NULL;
		st->nfailed = st->cfailed = 0;
		break;
	case F_UNITS:
		for (size_t i = 0; i < st->nrestarts; i++)
			free(st->restarts[i].unit);
		free(st->restarts);
		st->restarts = NULL;
		st->nrestarts = st->crestarts = 0;
		for (size_t i = 0; i < st->ndisabled; i++) {
			free(st->disabled[i].unit);
			free(st->disabled[i].reason);
		}
		free(st->disabled);
		st->disabled = NULL;
		st->ndisabled = st->cdisabled = 0;
		for (size_t i = 0; i < st->nawaiting; i++) {
			free_const(st->awaiting[i].unit);
			free_const(st->awaiting[i].hash);
			free_const(st->awaiting[i].commit);
		}
		free(st->awaiting);
		st->awaiting = NULL;
		st->nawaiting = st->cawaiting = 0;
		for (size_t i = 0; i < st->ninplace; i++) {
			free(st->inplace[i].id);
			free(st->inplace[i].hash);
			free(st->inplace[i].resources);
		}
		free(st->inplace);
		st->inplace = NULL;
		st->ninplace = st->cinplace = 0;
		break;
	default:
		BUG("bad state file %d", f);
	}
}

static void add_warning(struct rc_state *st, char *msg)
{
	GROW(st->warnings, st->nwarnings + 1, st->cwarnings);
	st->warnings[st->nwarnings++] = msg;
	log_debug("%s", msg);
}

/* ---- JSON: data <-> memory -------------------------------------------------- */

static cJSON *xobj(void)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		die("out of memory");
	return o;
}

static cJSON *xarr(void)
{
	cJSON *o = cJSON_CreateArray();
	if (!o)
		die("out of memory");
	return o;
}

static void put_str(cJSON *o, const char *k, const char *v)
{
	cJSON *x = v ? cJSON_CreateString(v) : cJSON_CreateNull();
	if (!x)
		die("out of memory");
	cJSON_AddItemToObject(o, k, x);
}

static void put_num(cJSON *o, const char *k, double v)
{
	cJSON *x = cJSON_CreateNumber(v);
	if (!x)
		die("out of memory");
	cJSON_AddItemToObject(o, k, x);
}

static void put_bool(cJSON *o, const char *k, bool v)
{
	cJSON *x = cJSON_CreateBool(v);
	if (!x)
		die("out of memory");
	cJSON_AddItemToObject(o, k, x);
}

/* Typed getters for loading: return -1 on a wrong shape. */
static int get_str(const cJSON *o, const char *k, bool nullable, const char **ret)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	if (nullable && (!x || cJSON_IsNull(x))) {
		*ret = NULL;
		return 0;
	}
	if (!cJSON_IsString(x) || !x->valuestring)
		return -1;
	*ret = x->valuestring;
	return 0;
}

static int get_int(const cJSON *o, const char *k, int64_t lo, int64_t hi, int64_t *ret)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsNumber(x))
		return -1;
	double d = x->valuedouble;
	if (d < (double)lo || d > (double)hi || d != (double)(int64_t)d)
		return -1;
	*ret = (int64_t)d;
	return 0;
}

static int get_bool(const cJSON *o, const char *k, bool *ret)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsBool(x))
		return -1;
	*ret = cJSON_IsTrue(x);
	return 0;
}

static const cJSON *get_arr(const cJSON *o, const char *k)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsArray(x) ? x : NULL;
}

#define INT53 ((int64_t)1 << 53)

static cJSON *emit_alloc(const struct rc_state *st)
{
	cJSON *data = xobj(), *ports = xarr(), *subnets = xarr();
	for (size_t i = 0; i < st->nports; i++) {
		cJSON *p = xobj();
		put_str(p, "unit", st->ports[i].unit);
		put_num(p, "container_port", st->ports[i].cport);
		put_str(p, "proto", st->ports[i].proto);
		put_num(p, "host_port", st->ports[i].host);
		cJSON_AddItemToArray(ports, p);
	}
	for (size_t i = 0; i < st->nsubnets; i++) {
		cJSON *s = xobj();
		put_str(s, "network", st->subnets[i].network);
		put_str(s, "subnet", st->subnets[i].cidr);
		cJSON_AddItemToArray(subnets, s);
	}
	cJSON_AddItemToObject(data, "ports", ports);
	cJSON_AddItemToObject(data, "subnets", subnets);
	return data;
}

static int parse_alloc(struct rc_state *st, const cJSON *data)
{
	const cJSON *ports = get_arr(data, "ports"), *subnets = get_arr(data, "subnets"), *x;
	if (!ports || !subnets)
		return -1;
	cJSON_ArrayForEach(x, ports) {
		const char *unit, *proto;
		int64_t cport, host;
		if (get_str(x, "unit", false, &unit) < 0 || get_str(x, "proto", false, &proto) < 0 ||
		    get_int(x, "container_port", 1, 65535, &cport) < 0 ||
		    get_int(x, "host_port", 1, 65535, &host) < 0)
			return -1;
		state_set_port(st, unit, (uint16_t)cport, proto, (uint16_t)host);
	}
	cJSON_ArrayForEach(x, subnets) {
		const char *net, *cidr;
		struct state_cidr c;
		if (get_str(x, "network", false, &net) < 0 || get_str(x, "subnet", false, &cidr) < 0 ||
		    state_cidr_parse(cidr, true, &c, NULL) < 0)
			return -1;
		state_set_subnet(st, net, cidr);
	}
	return 0;
}

static cJSON *emit_applied(const struct rc_state *st)
{
	cJSON *data = xobj(), *failed = xarr();
	put_str(data, "last_applied", st->last_applied);
	put_str(data, "last_good", st->last_good);
	if (st->project)
		put_str(data, "project", st->project);
	if (st->path)
		put_str(data, "path", st->path);
	if (st->containers) {
		cJSON *names = xarr();
		for (size_t i = 0; i < st->ncontainers; i++)
			cJSON_AddItemToArray(names, cJSON_CreateString(st->containers[i]));
		cJSON_AddItemToObject(data, "containers", names);
	}
	for (size_t i = 0; i < st->nfailed; i++) {
		cJSON *f = xobj();
		put_str(f, "commit", st->failed[i].commit);
		put_num(f, "time", (double)st->failed[i].time);
		put_str(f, "message", st->failed[i].message);
		cJSON_AddItemToArray(failed, f);
	}
	cJSON_AddItemToObject(data, "failed", failed);
	return data;
}

static int parse_applied(struct rc_state *st, const cJSON *data)
{
	const char *applied, *good;
	const cJSON *failed = get_arr(data, "failed"), *x;
	if (get_str(data, "last_applied", true, &applied) < 0 ||
	    get_str(data, "last_good", true, &good) < 0 || !failed)
		return -1;
	const char *project = NULL, *spath = NULL;
	if (get_str(data, "project", true, &project) < 0 || get_str(data, "path", true, &spath) < 0)
		return -1;
	st->path = xstrdup_or_null(spath);
	st->last_applied = xstrdup_or_null(applied);
	st->last_good = xstrdup_or_null(good);
	st->project = xstrdup_or_null(project);
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(data, "containers");
	if (names && !cJSON_IsArray(names))
		return -1;
	if (names) {
		size_t n = (size_t)cJSON_GetArraySize(names), k = 0;
		st->containers = xcalloc(n + 1, sizeof(char *));
		cJSON_ArrayForEach(x, names) {
			if (!cJSON_IsString(x) || !x->valuestring)
				return -1;
			st->containers[k++] = xstrdup(x->valuestring);
			st->ncontainers = k;
		}
	}
	cJSON_ArrayForEach(x, failed) {
		const char *commit, *msg;
		int64_t t;
		if (get_str(x, "commit", false, &commit) < 0 || get_str(x, "message", true, &msg) < 0 ||
		    get_int(x, "time", 0, INT53, &t) < 0)
			return -1;
		state_add_failed_commit(st, commit, t, msg);
	}
	return 0;
}

static cJSON *emit_units(const struct rc_state *st)
{
	cJSON *data = xobj(), *restarts = xarr(), *disabled = xarr(), *awaiting = xarr();
	for (size_t i = 0; i < st->nrestarts; i++) {
		cJSON *r = xobj();
		put_str(r, "unit", st->restarts[i].unit);
		put_num(r, "failures", st->restarts[i].r.failures);
		put_num(r, "last_failure", (double)st->restarts[i].r.last_failure);
		put_num(r, "backoff_ns", (double)st->restarts[i].r.backoff_ns);
		cJSON_AddItemToArray(restarts, r);
	}
	for (size_t i = 0; i < st->ndisabled; i++) {
		cJSON *d = xobj();
		put_str(d, "unit", st->disabled[i].unit);
		put_num(d, "time", (double)st->disabled[i].time);
		put_str(d, "reason", st->disabled[i].reason);
		cJSON_AddItemToArray(disabled, d);
	}
	for (size_t i = 0; i < st->nawaiting; i++) {
		cJSON *a = xobj();
		put_str(a, "unit", st->awaiting[i].unit);
		put_str(a, "hash", st->awaiting[i].hash);
		put_str(a, "commit", st->awaiting[i].commit);
		put_num(a, "since", (double)st->awaiting[i].since);
		put_bool(a, "approved", st->awaiting[i].approved);
		cJSON_AddItemToArray(awaiting, a);
	}
	cJSON *inplace = xarr();
	for (size_t i = 0; i < st->ninplace; i++) {
		cJSON *x = xobj();
		put_str(x, "container", st->inplace[i].id);
		put_str(x, "hash", st->inplace[i].hash);
		put_str(x, "resources", st->inplace[i].resources);
		cJSON_AddItemToArray(inplace, x);
	}
	cJSON_AddItemToObject(data, "in_place", inplace);
	cJSON_AddItemToObject(data, "restarts", restarts);
	cJSON_AddItemToObject(data, "disabled", disabled);
	cJSON_AddItemToObject(data, "awaiting_approval", awaiting);
	return data;
}

static int parse_units(struct rc_state *st, const cJSON *data)
{
	const cJSON *restarts = get_arr(data, "restarts"), *disabled = get_arr(data, "disabled"),
		    *awaiting = get_arr(data, "awaiting_approval"), *inplace = get_arr(data, "in_place"), *x;
	if (!restarts || !disabled || !awaiting || !inplace)
		return -1;
	cJSON_ArrayForEach(x, inplace) {
		const char *id, *hash, *res;
		if (get_str(x, "container", false, &id) < 0 || get_str(x, "hash", false, &hash) < 0 ||
		    get_str(x, "resources", false, &res) < 0)
			return -1;
		state_set_inplace(st, id, hash, res);
	}
	cJSON_ArrayForEach(x, restarts) {
		const char *unit;
		int64_t failures;
		struct state_restarts r;
		if (get_str(x, "unit", false, &unit) < 0 ||
		    get_int(x, "failures", 0, INT32_MAX, &failures) < 0 ||
		    get_int(x, "last_failure", 0, INT53, &r.last_failure) < 0 ||
		    get_int(x, "backoff_ns", 0, INT53, &r.backoff_ns) < 0)
			return -1;
		r.failures = (int)failures;
		state_set_restarts(st, unit, &r);
	}
	cJSON_ArrayForEach(x, disabled) {
		const char *unit, *reason;
		int64_t t;
		if (get_str(x, "unit", false, &unit) < 0 || get_str(x, "reason", true, &reason) < 0 ||
		    get_int(x, "time", 0, INT53, &t) < 0)
			return -1;
		state_set_disabled(st, unit, t, reason);
	}
	cJSON_ArrayForEach(x, awaiting) {
		const char *unit, *hash, *commit;
		int64_t since;
		bool approved;
		if (get_str(x, "unit", false, &unit) < 0 || get_str(x, "hash", false, &hash) < 0 ||
		    get_str(x, "commit", true, &commit) < 0 || get_int(x, "since", 0, INT53, &since) < 0 ||
		    get_bool(x, "approved", &approved) < 0)
			return -1;
		state_set_awaiting(st, unit, hash, commit, since);
		if (approved)
			(void)state_approve(st, unit, NULL);
	}
	return 0;
}

static cJSON *emit_file(const struct rc_state *st, int f)
{
	switch (f) {
	case F_ALLOC: return emit_alloc(st);
	case F_APPLIED: return emit_applied(st);
	case F_UNITS: return emit_units(st);
	}
	BUG("bad state file %d", f);
}

static int parse_file(struct rc_state *st, int f, const cJSON *data)
{
	switch (f) {
	case F_ALLOC: return parse_alloc(st, data);
	case F_APPLIED: return parse_applied(st, data);
	case F_UNITS: return parse_units(st, data);
	}
	BUG("bad state file %d", f);
}

/* ---- files ------------------------------------------------------------------- */

static void checksum_of(const cJSON *data, char out[RC_HASH_HEX_LEN + 1])
{
	char *text = cJSON_PrintUnformatted(data);
	if (!text)
		die("out of memory");
	rc_hash128_hex(text, strlen(text), out);
	cJSON_free(text);
}

/* Validate and load one document; on failure set *why (static string) and return -1. */
static int load_doc(struct rc_state *st, int f, const char *text, const char **why)
{
	cJSON *doc = cJSON_Parse(text);
	int r = -1;
	if (!doc || !cJSON_IsObject(doc)) {
		*why = "not valid JSON";
		goto out;
	}
	int64_t version;
	const char *sum;
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
	if (get_int(doc, "version", 0, INT32_MAX, &version) < 0 || get_str(doc, "checksum", false, &sum) < 0 ||
	    !cJSON_IsObject(data)) {
		*why = "missing version, checksum or data";
		goto out;
	}
	if (version != STATE_VERSION) {
		*why = "unsupported version";
		goto out;
	}
	char want[RC_HASH_HEX_LEN + 1];
	checksum_of(data, want);
	if (strcmp(want, sum) != 0) {
		*why = "checksum mismatch";
		goto out;
	}
	clear_file_data(st, f);
	if (parse_file(st, f, data) < 0) {
		clear_file_data(st, f);
		*why = "unexpected content";
		goto out;
	}
	r = 0;
out:
	cJSON_Delete(doc);
	return r;
}

/*
 * Move a damaged file aside to PATH.corrupt.<unix-time>[.N]; *ret_aside (malloc'ed) names where.
 * rename() moves a symbolic link, FIFO or directory itself: nothing behind it is touched.
 */
static int set_aside(const char *path, char **ret_aside, struct rc_err *err)
{
	char *aside = xasprintf("%s.corrupt.%lld", path, (long long)time(NULL));
	struct stat sb;
	for (int i = 1; lstat(aside, &sb) == 0; i++) {
		free(aside);
		aside = xasprintf("%s.corrupt.%lld.%d", path, (long long)time(NULL), i);
	}
	if (rename(path, aside) < 0) {
		rc_errf(err, "cannot move damaged state file '%s' aside: %s", path, strerror(errno));
		free(aside);
		return -1;
	}
	*ret_aside = aside;
	return 0;
}

static int load_file(struct rc_state *st, int f, struct rc_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", st->dir, file_names[f]);
	_cleanup_free_ char *text = NULL;
	struct rc_err e;
	clear_file_data(st, f);
	st->dirty[f] = false;
	struct stat sb;
	if (lstat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		return rc_errf(err, "cannot stat state file '%s': %s", path, strerror(errno));
	}
	/* Not a regular file of ours (a symbolic link, FIFO, directory, another uid's file): never
	 * opened, set aside like a corrupt one. */
	char pbuf[64];
	const char *unsafe = private_file_problem(&sb, false, pbuf);
	const char *why = "too large";
	if (!unsafe) {
		int r = read_private_file("state file", path, STATE_FILE_MAX, &text, NULL, &e);
		if (r == -2) {
			unsafe = "not a regular file of the running uid";
		} else if (r < 0 && !strstr(e.msg, "larger than")) {
			/* Permissions, I/O: an error, not corruption.  Too large counts as corrupt. */
			if (err)
				*err = e;
			return -1;
		}
	}
	if (!unsafe && text && load_doc(st, f, text, &why) == 0) {
		st->dirty[f] = false;
		return 0;
	}
	/* Corrupt or unsafe: set it aside (if we may) and carry on with empty state. */
	if (st->lock_fd >= 0) {
		_cleanup_free_ char *aside = NULL;
		if (set_aside(path, &aside, err) < 0)
			return -1;
		if (unsafe)
			add_warning(st, xasprintf("state file '%s' is %s, not a regular file owned by uid %lu: not read; "
						  "moved aside to '%s', starting from empty state",
						  path, unsafe, (unsigned long)geteuid(), aside));
		else
			add_warning(st, xasprintf("state file '%s' is corrupt (%s); moved aside to '%s', "
						  "starting from empty state",
						  path, why, aside));
	} else if (unsafe) {
		add_warning(st, xasprintf("state file '%s' is %s, not a regular file owned by uid %lu: not read; ignored",
					  path, unsafe, (unsigned long)geteuid()));
	} else {
		add_warning(st, xasprintf("state file '%s' is corrupt (%s); ignored", path, why));
	}
	return 0;
}

static int load_all(struct rc_state *st, struct rc_err *err)
{
	for (int f = 0; f < F_N; f++)
		if (load_file(st, f, err) < 0)
			return -1;
	return 0;
}

static int save_file(struct rc_state *st, int f, struct rc_err *err)
{
	cJSON *doc = xobj();
	cJSON *data = emit_file(st, f);
	char sum[RC_HASH_HEX_LEN + 1];
	checksum_of(data, sum);
	put_num(doc, "version", STATE_VERSION);
	put_str(doc, "checksum", sum);
	cJSON_AddItemToObject(doc, "data", data);
	char *text = cJSON_Print(doc);
	cJSON_Delete(doc);
	if (!text)
		die("out of memory");
	struct buf b = BUF_INIT;
	buf_adds(&b, text);
	buf_addc(&b, '\n');
	cJSON_free(text);
	_cleanup_free_ char *path = xasprintf("%s/%s", st->dir, file_names[f]);
	int r = write_file_atomic(path, b.data, b.len, 0600, err);
	buf_release(&b);
	return r;
}

int state_save(struct rc_state *st, struct rc_err *err)
{
	if (st->lock_fd < 0)
		return rc_errf(err, "state directory '%s' is not locked: cannot save", st->dir);
	for (int f = 0; f < F_N; f++) {
		if (!st->dirty[f])
			continue;
		if (save_file(st, f, err) < 0)
			return -1;
		st->dirty[f] = false;
	}
	return 0;
}

/* ---- open, lock ----------------------------------------------------------------- */

int state_check_dir(const char *dir, bool create, struct rc_err *err)
{
	struct stat sb;
	if (lstat(dir, &sb) < 0) {
		if (errno != ENOENT || !create)
			return rc_errf(err, "cannot use state directory '%s': %s", dir, strerror(errno));
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return rc_errf(err, "cannot create '%s': %s", dir, strerror(errno));
		if (lstat(dir, &sb) < 0)
			return rc_errf(err, "cannot stat '%s': %s", dir, strerror(errno));
	}
	if (S_ISLNK(sb.st_mode)) {
		_cleanup_free_ char *real = realpath(dir, NULL);
		if (real)
			return rc_errf(err, "state directory '%s' is a symbolic link (to '%s'): refusing to follow it; "
				       "give the real path, or replace the link with a directory", dir, real);
		return rc_errf(err, "state directory '%s' is a symbolic link: refusing to follow it; "
			       "replace it with a directory", dir);
	}
	if (!S_ISDIR(sb.st_mode))
		return rc_errf(err, "'%s' is not a directory", dir);
	if (sb.st_uid != geteuid())
		return rc_errf(err, "state directory '%s' is owned by uid %lu, not by the running uid %lu: "
			       "chown -R %lu %s (or run reconciler as uid %lu)", dir, (unsigned long)sb.st_uid,
			       (unsigned long)geteuid(), (unsigned long)geteuid(), dir, (unsigned long)sb.st_uid);
	if (sb.st_mode & (S_IWGRP | S_IWOTH))
		return rc_errf(err, "state directory '%s' is writable by group or others (mode %04o): chmod 0700 %s",
			       dir, (unsigned)(sb.st_mode & 07777), dir);
	return 0;
}

int state_check_secrets(const char *secrets_dir, struct rc_err *err)
{
	_cleanup_free_ char *parent = xstrdup(secrets_dir);
	size_t n = strlen(parent);
	while (n > 1 && parent[n - 1] == '/')
		parent[--n] = '\0';
	char *slash = strrchr(parent, '/');
	const char *state_dir = parent;
	if (!slash)
		state_dir = ".";
	else if (slash == parent)
		state_dir = "/";
	else
		*slash = '\0';
	struct stat sb;
	if (lstat(state_dir, &sb) == 0 && state_check_dir(state_dir, false, err) < 0)
		return -1;
	if (lstat(secrets_dir, &sb) == 0 && state_check_dir(secrets_dir, false, err) < 0)
		return -1;
	return 0;
}

/* An existing state file written in place (the lock, the journal): a regular file of ours, one link. */
static int check_inplace_file(const char *dir, const char *name, struct rc_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : rc_errf(err, "cannot stat state file '%s': %s", path, strerror(errno));
	return private_file_check("state file", path, &sb, true, err);
}

/* A temp file of write_file_atomic(): ".NAME.XXXXXX". */
static bool is_temp_name(const char *n)
{
	size_t len = strlen(n);
	if (n[0] != '.' || len < 9)
		return false;
	if (n[len - 7] != '.')
		return false;
	for (size_t i = len - 6; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

static void remove_temps(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!is_temp_name(e->d_name))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			log_debug("removed stale temporary file '%s/%s'", dir, e->d_name);
	}
	closedir(d);
}

int state_lock(struct rc_state *st, struct rc_err *err)
{
	if (st->lock_fd >= 0)
		return 0;
	_cleanup_free_ char *path = xasprintf("%s/lock", st->dir);
	/* never through a symbolic link, never another file: the pid is written into it */
	int fd = open_private("state file", path, O_RDWR | O_CREAT, 0600, err);
	if (fd < 0)
		return -1;
	if (check_inplace_file(st->dir, "journal.jsonl", err) < 0) {
		close(fd);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e == EWOULDBLOCK) {
			char pidbuf[32] = "";
			ssize_t n = pread(fd, pidbuf, sizeof(pidbuf) - 1, 0);
			close(fd);
			long pid = n > 0 ? strtol(pidbuf, NULL, 10) : 0;
			if (pid > 0)
				return rc_errf(err, "state directory '%s' is locked by another reconciler (pid %ld)",
					       st->dir, pid);
			return rc_errf(err, "state directory '%s' is locked by another reconciler", st->dir);
		}
		close(fd);
		return rc_errf(err, "cannot lock '%s': %s", path, strerror(e));
	}
	char pidbuf[32];
	int n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pidbuf, (size_t)n, 0) != n) {
		int e = errno;
		close(fd);
		return rc_errf(err, "cannot write '%s': %s", path, strerror(e));
	}
	st->lock_fd = fd;
	remove_temps(st->dir);
	remove_temps(st->secrets);
	return load_all(st, err);
}

/* Does /proc/locks show a flock() by pid on inode ino?  (Read only: taking even a shared lock to find
 * out could make a daemon starting at that moment fail to take its own.) */
static bool flock_held(long pid, unsigned long ino)
{
	char *locks = NULL;
	struct rc_err err;
	if (read_file("/proc/locks", 16u << 20, &locks, NULL, &err) < 0)
		return false;
	bool held = false;
	for (char *line = locks; line && *line && !held;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		/* "1: FLOCK  ADVISORY  WRITE 469 fe:00:1090403 0 EOF"; waiters have "->" after the number */
		char type[16], kind[16], mode[16];
		long lpid;
		unsigned maj, min;
		unsigned long lino;
		if (!strstr(line, "->") &&
		    sscanf(line, "%*d: %15s %15s %15s %ld %x:%x:%lu", type, kind, mode, &lpid, &maj, &min, &lino) == 7)
			held = strcmp(type, "FLOCK") == 0 && lpid == pid && lino == ino;
		line = nl ? nl + 1 : NULL;
	}
	free(locks);
	return held;
}

long state_lock_holder(const char *dir, bool *ret_daemon)
{
	if (ret_daemon)
		*ret_daemon = false;
	_cleanup_free_ char *path = xasprintf("%s/lock", dir);
	int fd = open_private("state file", path, O_RDONLY, 0, NULL);
	if (fd < 0)
		return 0;
	struct stat sb;
	char pidbuf[32] = "";
	ssize_t n = fstat(fd, &sb) == 0 ? pread(fd, pidbuf, sizeof(pidbuf) - 1, 0) : -1;
	close(fd);
	long pid = n > 0 ? strtol(pidbuf, NULL, 10) : 0;
	/* the file keeps the pid of the last holder: it holds it only if the kernel says so */
	if (pid <= 0 || !flock_held(pid, (unsigned long)sb.st_ino))
		return 0;
	_cleanup_free_ char *cmdline = xasprintf("/proc/%ld/cmdline", pid);
	char *args = NULL;
	size_t len = 0;
	struct rc_err err;
	if (ret_daemon && read_file(cmdline, 1u << 16, &args, &len, &err) == 0) {
		for (size_t i = 0; i < len; i += strlen(args + i) + 1)
			if (strcmp(args + i, "run") == 0)
				*ret_daemon = true;
		free(args);
	}
	return pid;
}

bool state_locked(const struct rc_state *st)
{
	return st->lock_fd >= 0;
}

/*
 * Before anything is created or changed: the directory (made 0700 when missing), secrets/ (the
 * same), requests/ when there is one, and the files written in place (lock, journal.jsonl).
 */
static int check_tree(const struct rc_state *st, struct rc_err *err)
{
	if (state_check_dir(st->dir, true, err) < 0)
		return -1;
	_cleanup_free_ char *requests = xasprintf("%s/requests", st->dir);
	struct stat sb;
	if (lstat(requests, &sb) == 0 && state_check_dir(requests, false, err) < 0)
		return -1;
	if (check_inplace_file(st->dir, "lock", err) < 0 || check_inplace_file(st->dir, "journal.jsonl", err) < 0)
		return -1;
	return state_check_dir(st->secrets, true, err);
}

int state_open(const char *dir, unsigned flags, struct rc_state **ret, struct rc_err *err)
{
	struct rc_state *st = xcalloc(1, sizeof(*st));
	st->dir = xstrdup(dir);
	st->secrets = xasprintf("%s/secrets", dir);
	st->lock_fd = -1;
	st->journal_max = STATE_JOURNAL_MAX_BYTES;
	st->journal_keep = STATE_JOURNAL_KEEP;
	if (check_tree(st, err) < 0)
		goto fail;
	if (flags & STATE_OPEN_LOCK) {
		if (state_lock(st, err) < 0)
			goto fail;
	} else if (load_all(st, err) < 0) {
		goto fail;
	}
	*ret = st;
	return 0;
fail:
	state_free(st);
	return -1;
}

void state_free(struct rc_state *st)
{
	if (!st)
		return;
	for (int f = 0; f < F_N; f++)
		clear_file_data(st, f);
	for (size_t i = 0; i < st->nwarnings; i++)
		free(st->warnings[i]);
	free(st->warnings);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->dir);
	free(st->secrets);
	free(st);
}

const char *state_dir(const struct rc_state *st)
{
	return st->dir;
}

const char *state_secrets_dir(const struct rc_state *st)
{
	return st->secrets;
}

const char *const *state_warnings(const struct rc_state *st, size_t *ret_n)
{
	*ret_n = st->nwarnings;
	return (const char *const *)st->warnings;
}

/* ---- allocations ------------------------------------------------------------------ */

static struct port_alloc *find_port(const struct rc_state *st, const char *unit, uint16_t cport,
				    const char *proto)
{
	proto = proto_or_tcp(proto);
	for (size_t i = 0; i < st->nports; i++)
		if (st->ports[i].cport == cport && strcmp(st->ports[i].unit, unit) == 0 &&
		    strcmp(st->ports[i].proto, proto) == 0)
			return &st->ports[i];
	return NULL;
}

uint16_t state_get_port(const struct rc_state *st, const char *unit, uint16_t container_port,
			const char *proto)
{
	const struct port_alloc *p = find_port(st, unit, container_port, proto);
	return p ? p->host : 0;
}

void state_set_port(struct rc_state *st, const char *unit, uint16_t container_port,
		    const char *proto, uint16_t host_port)
{
	struct port_alloc *p = find_port(st, unit, container_port, proto);
	if (p) {
		if (p->host != host_port)
			st->dirty[F_ALLOC] = true;
		p->host = host_port;
		return;
	}
	GROW(st->ports, st->nports + 1, st->cports);
	st->ports[st->nports++] = (struct port_alloc){ xstrdup(unit), container_port,
						       xstrdup(proto_or_tcp(proto)), host_port };
	st->dirty[F_ALLOC] = true;
}

void state_del_port(struct rc_state *st, const char *unit, uint16_t container_port, const char *proto)
{
	struct port_alloc *p = find_port(st, unit, container_port, proto);
	if (!p)
		return;
	free(p->unit);
	free(p->proto);
	*p = st->ports[--st->nports];
	st->dirty[F_ALLOC] = true;
}

size_t state_nports(const struct rc_state *st)
{
	return st->nports;
}

static struct subnet_alloc *find_subnet(const struct rc_state *st, const char *network)
{
	for (size_t i = 0; i < st->nsubnets; i++)
		if (strcmp(st->subnets[i].network, network) == 0)
			return &st->subnets[i];
	return NULL;
}

const char *state_get_subnet(const struct rc_state *st, const char *network)
{
	const struct subnet_alloc *s = find_subnet(st, network);
	return s ? s->cidr : NULL;
}

void state_set_subnet(struct rc_state *st, const char *network, const char *cidr)
{
	struct subnet_alloc *s = find_subnet(st, network);
	if (s) {
		if (strcmp(s->cidr, cidr) != 0) {
			free(s->cidr);
			s->cidr = xstrdup(cidr);
			st->dirty[F_ALLOC] = true;
		}
		return;
	}
	GROW(st->subnets, st->nsubnets + 1, st->csubnets);
	st->subnets[st->nsubnets++] = (struct subnet_alloc){ xstrdup(network), xstrdup(cidr) };
	st->dirty[F_ALLOC] = true;
}

void state_del_subnet(struct rc_state *st, const char *network)
{
	struct subnet_alloc *s = find_subnet(st, network);
	if (!s)
		return;
	free(s->network);
	free(s->cidr);
	*s = st->subnets[--st->nsubnets];
	st->dirty[F_ALLOC] = true;
}

size_t state_nsubnets(const struct rc_state *st)
{
	return st->nsubnets;
}

/* ---- CIDR ---------------------------------------------------------------------------- */

int state_cidr_parse(const char *s, bool strict, struct state_cidr *ret, struct rc_err *err)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || slash - s > 15)
		return rc_errf(err, "invalid subnet '%s': expected a.b.c.d/prefix", s);
	char addr[16];
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	struct in_addr in;
	if (inet_pton(AF_INET, addr, &in) != 1)
		return rc_errf(err, "invalid subnet '%s': bad IPv4 address", s);
	const char *p = slash + 1;
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
		return rc_errf(err, "invalid subnet '%s': bad prefix length", s);
	char *end;
	long prefix = strtol(p, &end, 10);
	if (*end || prefix < 0 || prefix > 32)
		return rc_errf(err, "invalid subnet '%s': bad prefix length", s);
	uint32_t a = ntohl(in.s_addr);
	uint32_t mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
	if (strict && (a & ~mask))
		return rc_errf(err, "invalid subnet '%s': host bits set (did you mean '%u.%u.%u.%u/%ld'?)", s,
			       (a & mask) >> 24, ((a & mask) >> 16) & 255, ((a & mask) >> 8) & 255,
			       (a & mask) & 255, prefix);
	ret->addr = a & mask;
	ret->prefix = (int)prefix;
	return 0;
}

static uint64_t cidr_last(struct state_cidr c)
{
	return (uint64_t)c.addr + ((uint64_t)1 << (32 - c.prefix)) - 1;
}

bool state_cidr_overlap(struct state_cidr a, struct state_cidr b)
{
	return (uint64_t)a.addr <= cidr_last(b) && (uint64_t)b.addr <= cidr_last(a);
}

void state_cidr_format(struct state_cidr c, char out[19])
{
	snprintf(out, 19, "%u.%u.%u.%u/%d", c.addr >> 24, (c.addr >> 16) & 255, (c.addr >> 8) & 255,
		 c.addr & 255, c.prefix);
}

/* ---- the allocator ---------------------------------------------------------------------- */

#define BIT_SET(bm, i) ((bm)[(i) >> 3] |= (uint8_t)(1u << ((i) & 7)))
#define BIT_GET(bm, i) (((bm)[(i) >> 3] >> ((i) & 7)) & 1u)

struct new_port {
	struct rc_port *port;   /* in d */
	const char *unit;
};

static int allocate_ports(struct rc_state *st, struct rc_desired *d, const struct state_observed *obs,
			  struct rc_err *err)
{
	const struct rc_settings *s = &d->settings;
	uint8_t used[65536 / 8], taken[65536 / 8];
	memset(used, 0, sizeof(used));
	memset(taken, 0, sizeof(taken));
	for (size_t i = 0; i < obs->nports_in_use; i++)
		BIT_SET(used, obs->ports_in_use[i]);
	for (size_t i = 0; i < d->nunits; i++)
		for (size_t j = 0; j < d->units[i].nports; j++)
			if (!d->units[i].ports[j].host_auto && d->units[i].ports[j].host_port)
				BIT_SET(used, d->units[i].ports[j].host_port);

	/* The new table replaces the old one: what is not carried over is freed. */
	struct port_alloc *next = NULL;
	size_t nnext = 0, cnext = 0;
	struct new_port *pending = NULL;
	size_t npending = 0, cpending = 0;
	bool changed = false;

	for (size_t i = 0; i < d->nunits; i++) {
		struct rc_unit *u = &d->units[i];
		for (size_t j = 0; j < u->nports; j++) {
			struct rc_port *p = &u->ports[j];
			if (!p->host_auto)
				continue;
			const char *proto = proto_or_tcp(p->proto);
			uint16_t have = state_get_port(st, u->id, p->container_port, proto);
			uint16_t seen = 0;
			bool seen_have = false;
			for (size_t k = 0; k < obs->nour_ports; k++) {
				const struct state_obs_port *o = &obs->our_ports[k];
				if (o->container_port != p->container_port || !o->host_port ||
				    strcmp(o->unit, u->id) != 0 || strcmp(proto_or_tcp(o->proto), proto) != 0)
					continue;
				if (o->host_port == have)
					seen_have = true;
				if (!seen || o->host_port < seen)
					seen = o->host_port;
			}
			uint16_t host = seen_have ? have : seen ? seen : have;
			if (host && BIT_GET(taken, host))
				host = 0; /* two claims on one port (a broken file): reallocate this one */
			if (!host) {
				GROW(pending, npending + 1, cpending);
				pending[npending++] = (struct new_port){ p, u->id };
				continue;
			}
			if (host != have) {
				changed = true;
				log_debug("unit '%s' port %u/%s: host port %u (re-seeded from Docker)", u->id,
					  p->container_port, proto, host);
			}
			BIT_SET(taken, host);
			p->host_port = host;
			GROW(next, nnext + 1, cnext);
			next[nnext++] = (struct port_alloc){ xstrdup(u->id), p->container_port, xstrdup(proto), host };
		}
	}

	int r = 0;
	if (npending && (s->port_lo == 0 || s->port_hi < s->port_lo)) {
		r = rc_errf(err, "unit '%s' has 'port: auto' but settings define no port range", pending[0].unit);
		goto out;
	}
	unsigned cursor = s->port_lo;
	for (size_t i = 0; i < npending; i++) {
		while (cursor <= s->port_hi && (BIT_GET(used, cursor) || BIT_GET(taken, cursor)))
			cursor++;
		if (cursor > s->port_hi) {
			r = rc_errf(err, "port pool %u-%u is exhausted: no free host port for unit '%s' port %u/%s",
				    s->port_lo, s->port_hi, pending[i].unit, pending[i].port->container_port,
				    proto_or_tcp(pending[i].port->proto));
			goto out;
		}
		struct rc_port *p = pending[i].port;
		BIT_SET(taken, cursor);
		p->host_port = (uint16_t)cursor;
		changed = true;
		GROW(next, nnext + 1, cnext);
		next[nnext++] = (struct port_alloc){ xstrdup(pending[i].unit), p->container_port,
						     xstrdup(proto_or_tcp(p->proto)), (uint16_t)cursor };
	}
	if (nnext != st->nports)
		changed = true;
	/* Swap the tables. */
	{
		struct port_alloc *old = st->ports;
		size_t nold = st->nports;
		st->ports = TAKE_PTR(next);
		st->nports = nnext;
		st->cports = cnext;
		next = old;
		nnext = nold;
	}
	if (changed)
		st->dirty[F_ALLOC] = true;
out:
	for (size_t i = 0; i < nnext; i++) {
		free(next[i].unit);
		free(next[i].proto);
	}
	free(next);
	free(pending);
	return r;
}

/* Mark every candidate (subnet of size sp in pool) that c overlaps. */
static void mark_cidr(uint8_t *bm, struct state_cidr pool, int sp, struct state_cidr c)
{
	if (!state_cidr_overlap(pool, c))
		return;
	uint64_t lo = c.addr > pool.addr ? c.addr : pool.addr;
	uint64_t hi = cidr_last(c) < cidr_last(pool) ? cidr_last(c) : cidr_last(pool);
	uint64_t first = (lo - pool.addr) >> (32 - sp), last = (hi - pool.addr) >> (32 - sp);
	for (uint64_t i = first; i <= last; i++)
		BIT_SET(bm, i);
}

static int allocate_subnets(struct rc_state *st, struct rc_desired *d, const struct state_observed *obs,
			    struct rc_err *err)
{
	const struct rc_settings *s = &d->settings;
	size_t need = 0;
	const char *first = NULL;   /* the first network that needs one */
	for (size_t i = 0; i < d->nnetworks; i++)
		if (rc_network_from_pool(&d->networks[i]) && need++ == 0)
			first = d->networks[i].name;

	struct state_cidr pool = { 0, 0 };
	int sp = s->subnet_prefix;
	uint8_t *bm = NULL;
	uint64_t ncand = 0;
	if (need) {
		if (!s->subnet_pool)
			return rc_errf(err, "network '%s' needs a subnet but settings define no subnet pool", first);
		if (state_cidr_parse(s->subnet_pool, true, &pool, err) < 0)
			return rc_err_prefix(err, "settings subnet pool");
		if (sp < pool.prefix || sp > 30)
			return rc_errf(err, "subnet size /%d does not fit the pool '%s' (needs /%d to /30)", sp,
				       s->subnet_pool, pool.prefix);
		if (sp - pool.prefix > 20)
			return rc_errf(err, "subnet pool '%s' holds too many /%d subnets (at most 2^20)",
				       s->subnet_pool, sp);
		ncand = (uint64_t)1 << (sp - pool.prefix);
		bm = xcalloc((size_t)(ncand / 8 + 1), 1);
		for (size_t i = 0; i < obs->nnets; i++) {
			struct state_cidr c;
			if (obs->nets[i].subnet && state_cidr_parse(obs->nets[i].subnet, false, &c, NULL) == 0)
				mark_cidr(bm, pool, sp, c);
		}
		for (size_t i = 0; i < d->nnetworks; i++) {
			struct state_cidr c;
			if (d->networks[i].subnet && state_cidr_parse(d->networks[i].subnet, false, &c, NULL) == 0)
				mark_cidr(bm, pool, sp, c);
		}
	}

	struct subnet_alloc *next = NULL;
	size_t nnext = 0, cnext = 0;
	struct rc_network **pending = NULL;
	size_t npending = 0, cpending = 0;
	bool changed = false;
	int r = 0;

	for (size_t i = 0; i < d->nnetworks; i++) {
		struct rc_network *n = &d->networks[i];
		if (!rc_network_from_pool(n))
			continue;   /* fixed in the manifest, or the engine's choice: nothing held (a shared
			             * network's allocation from before is dropped with the rest) */
		const char *have = state_get_subnet(st, n->name), *seen = NULL;
		for (size_t k = 0; k < obs->nnets; k++)
			if (obs->nets[k].ours && obs->nets[k].subnet && strcmp(obs->nets[k].name, n->name) == 0) {
				struct state_cidr c;
				if (state_cidr_parse(obs->nets[k].subnet, false, &c, NULL) == 0)
					seen = obs->nets[k].subnet;
			}
		const char *cidr = seen ? seen : have;
		if (!cidr) {
			GROW(pending, npending + 1, cpending);
			pending[npending++] = n;
			continue;
		}
		if (!str_eq(cidr, have))
			changed = true;
		struct state_cidr c;
		if (state_cidr_parse(cidr, false, &c, NULL) == 0)
			mark_cidr(bm, pool, sp, c);
		n->subnet = xstrdup(cidr);
		GROW(next, nnext + 1, cnext);
		next[nnext++] = (struct subnet_alloc){ xstrdup(n->name), xstrdup(cidr) };
	}

	uint64_t cursor = 0;
	for (size_t i = 0; i < npending; i++) {
		while (cursor < ncand && BIT_GET(bm, cursor))
			cursor++;
		if (cursor >= ncand) {
			r = rc_errf(err, "subnet pool '%s' is exhausted: no free /%d for network '%s'",
				    s->subnet_pool, sp, pending[i]->name);
			goto out;
		}
		BIT_SET(bm, cursor);
		struct state_cidr c = { pool.addr + (uint32_t)(cursor << (32 - sp)), sp };
		char text[19];
		state_cidr_format(c, text);
		pending[i]->subnet = xstrdup(text);
		changed = true;
		GROW(next, nnext + 1, cnext);
		next[nnext++] = (struct subnet_alloc){ xstrdup(pending[i]->name), xstrdup(text) };
	}
	if (nnext != st->nsubnets)
		changed = true;
	{
		struct subnet_alloc *old = st->subnets;
		size_t nold = st->nsubnets;
		st->subnets = TAKE_PTR(next);
		st->nsubnets = nnext;
		st->csubnets = cnext;
		next = old;
		nnext = nold;
	}
	if (changed)
		st->dirty[F_ALLOC] = true;
out:
	for (size_t i = 0; i < nnext; i++) {
		free(next[i].network);
		free(next[i].cidr);
	}
	free(next);
	free(pending);
	free(bm);
	return r;
}

int state_allocate(struct rc_state *st, struct rc_desired *d, const struct state_observed *obs,
		   struct rc_err *err)
{
	static const struct state_observed none;
	if (!obs)
		obs = &none;
	if (allocate_ports(st, d, obs, err) < 0 || allocate_subnets(st, d, obs, err) < 0)
		return rc_err_prefix(err, "allocating");
	return 0;
}

/* ---- manifests.json ---------------------------------------------------------------------- */

#define MANIFESTS_FILE "manifests.json"
#define MANIFESTS_MAX ((size_t)RC_SOURCE_MAX_FILE_SIZE * 16)

/* A damaged copy: set aside by the lock holder (so that the copy read from Git again takes its place). */
static int manifests_damaged(const struct rc_state *st, const char *file, const char *why, struct rc_err *err)
{
	_cleanup_free_ char *aside = NULL;
	if (st->lock_fd >= 0 && set_aside(file, &aside, NULL) == 0)
		return rc_errf(err, "'%s' is damaged (%s); moved aside to '%s'", file, why, aside);
	return rc_errf(err, "'%s' is damaged (%s)", file, why);
}

int state_get_manifests(const struct rc_state *st, const char *commit, const char *path,
			struct source_files *ret, struct rc_err *err)
{
	_cleanup_free_ char *file = xasprintf("%s/" MANIFESTS_FILE, st->dir);
	char *text = NULL;
	size_t len = 0;
	struct rc_err rerr;
	int rr = read_private_file("state file", file, MANIFESTS_MAX, &text, &len, &rerr);
	if (rr == -1 && errno == ENOENT)
		return 0;
	if (rr == -2)  /* a symbolic link, FIFO, directory, another uid's file */
		return manifests_damaged(st, file, rerr.msg, err);
	if (rr < 0) {
		if (strstr(rerr.msg, "larger than"))
			return manifests_damaged(st, file, "too large", err);
		if (err)
			*err = rerr;
		return -1;
	}
	cJSON *doc = cJSON_ParseWithLength(text, len);
	free(text);
	int rc = -1;
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
	const char *sum = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "checksum"));
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "version");
	if (cJSON_IsObject(doc) && !data && !sum && cJSON_GetObjectItemCaseSensitive(doc, "files")) {
		/* the copy of an older reconciler, without a checksum: never trusted, replaced */
		rc = 0;
		goto out;
	}
	if (!cJSON_IsObject(doc) || !cJSON_IsNumber(ver) || !sum || !cJSON_IsObject(data)) {
		manifests_damaged(st, file, "not a state document: missing version, checksum or data", err);
		goto out;
	}
	if (ver->valuedouble != STATE_VERSION) {
		manifests_damaged(st, file, "unsupported version", err);
		goto out;
	}
	char want[RC_HASH_HEX_LEN + 1];
	checksum_of(data, want);
	if (strcmp(want, sum) != 0) {
		manifests_damaged(st, file, "checksum mismatch", err);
		goto out;
	}
	const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "commit"));
	const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "path"));
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(data, "files");
	if (!c || !p || !cJSON_IsArray(files)) {
		manifests_damaged(st, file, "unexpected content", err);
		goto out;
	}
	if (!str_eq(c, commit) || !str_eq(p, path ? path : "")) {
		rc = 0;
		goto out;
	}
	struct source_files f = { 0 };
	size_t n = (size_t)cJSON_GetArraySize(files);
	f.files = xcalloc(n + 1, sizeof(*f.files));
	const cJSON *e;
	cJSON_ArrayForEach(e, files) {
		const char *fp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "path"));
		const char *fd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "data"));
		if (!fp || !fd) {
			source_files_release(&f);
			manifests_damaged(st, file, "a file without path or data", err);
			goto out;
		}
		f.files[f.nfiles++] = (struct source_file){ xstrdup(fp), xstrdup(fd), strlen(fd) };
	}
	f.commit = xstrdup(c);
	*ret = f;
	rc = 1;
out:
	cJSON_Delete(doc);
	return rc;
}

int state_put_manifests(struct rc_state *st, const struct source_files *files, const char *path,
			struct rc_err *err)
{
	if (st->lock_fd < 0)
		return rc_errf(err, "state directory '%s' is not locked: cannot save", st->dir);
	if (!files->commit)
		return rc_errf(err, "manifests of a directory are not kept");
	for (size_t i = 0; i < files->nfiles; i++)
		if (strlen(files->files[i].data) != files->files[i].len)
			return rc_errf(err, "'%s' holds a NUL byte: manifests not kept", files->files[i].path);
	cJSON *data = xobj();
	put_str(data, "commit", files->commit);
	put_str(data, "path", path ? path : "");
	cJSON *arr = xarr();
	for (size_t i = 0; i < files->nfiles; i++) {
		cJSON *e = xobj();
		put_str(e, "path", files->files[i].path);
		put_str(e, "data", files->files[i].data);
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddItemToObject(data, "files", arr);
	char sum[RC_HASH_HEX_LEN + 1];
	checksum_of(data, sum);
	cJSON *doc = xobj();
	put_num(doc, "version", STATE_VERSION);
	put_str(doc, "checksum", sum);
	cJSON_AddItemToObject(doc, "data", data);
	char *text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (!text)
		die("out of memory");
	_cleanup_free_ char *file = xasprintf("%s/" MANIFESTS_FILE, st->dir);
	int r = write_file_atomic(file, text, strlen(text), 0600, err);
	cJSON_free(text);
	return r;
}

/* ---- applied.json ------------------------------------------------------------------------ */

const char *state_get_last_applied(const struct rc_state *st)
{
	return st->last_applied;
}

const char *state_get_last_good(const struct rc_state *st)
{
	return st->last_good;
}

static void set_str(struct rc_state *st, int f, char **slot, const char *v)
{
	if (str_eq(*slot, v))
		return;
	free(*slot);
	*slot = xstrdup_or_null(v);
	st->dirty[f] = true;
}

void state_set_last_applied(struct rc_state *st, const char *commit)
{
	set_str(st, F_APPLIED, &st->last_applied, commit);
}

void state_set_last_good(struct rc_state *st, const char *commit)
{
	set_str(st, F_APPLIED, &st->last_good, commit);
}

const char *state_get_project(const struct rc_state *st)
{
	return st->project;
}

void state_set_project(struct rc_state *st, const char *project)
{
	set_str(st, F_APPLIED, &st->project, project);
}

const char *state_get_path(const struct rc_state *st)
{
	return st->path;
}

void state_set_path(struct rc_state *st, const char *path)
{
	set_str(st, F_APPLIED, &st->path, path);
}

const char *const *state_get_containers(const struct rc_state *st, size_t *ret_n)
{
	*ret_n = st->ncontainers;
	return (const char *const *)st->containers;
}

void state_set_containers(struct rc_state *st, const char *const *names, size_t n)
{
	bool same = st->containers && st->ncontainers == n;
	for (size_t i = 0; same && i < n; i++)
		same = strcmp(st->containers[i], names[i]) == 0;
	if (same)
		return;
	strv_free(st->containers, st->ncontainers);
	st->containers = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		st->containers[i] = xstrdup(names[i]);
	st->ncontainers = n;
	st->dirty[F_APPLIED] = true;
}

const struct state_failed_commit *state_get_failed_commit(const struct rc_state *st, const char *commit)
{
	for (size_t i = 0; i < st->nfailed; i++)
		if (strcmp(st->failed[i].commit, commit) == 0)
			return &st->failed[i];
	return NULL;
}

void state_del_failed_commit(struct rc_state *st, const char *commit)
{
	for (size_t i = 0; i < st->nfailed; i++) {
		if (strcmp(st->failed[i].commit, commit) != 0)
			continue;
		free_const(st->failed[i].commit);
		free_const(st->failed[i].message);
		memmove(&st->failed[i], &st->failed[i + 1], (st->nfailed - i - 1) * sizeof(st->failed[0]));
		st->nfailed--;
		st->dirty[F_APPLIED] = true;
		return;
	}
}

void state_add_failed_commit(struct rc_state *st, const char *commit, int64_t time, const char *message)
{
	state_del_failed_commit(st, commit);
	GROW(st->failed, st->nfailed + 1, st->cfailed);
	st->failed[st->nfailed++] = (struct state_failed_commit){ xstrdup(commit), time,
								 xstrdup_or_null(message) };
	st->dirty[F_APPLIED] = true;
}

const struct state_failed_commit *state_failed_commits(const struct rc_state *st, size_t *ret_n)
{
	*ret_n = st->nfailed;
	return st->failed;
}

/* ---- units.json ---------------------------------------------------------------------------- */

static struct restarts *find_restarts(const struct rc_state *st, const char *unit)
{
	for (size_t i = 0; i < st->nrestarts; i++)
		if (strcmp(st->restarts[i].unit, unit) == 0)
			return &st->restarts[i];
	return NULL;
}

struct state_restarts state_get_restarts(const struct rc_state *st, const char *unit)
{
	const struct restarts *r = find_restarts(st, unit);
	return r ? r->r : (struct state_restarts){ 0, 0, 0 };
}

void state_set_restarts(struct rc_state *st, const char *unit, const struct state_restarts *v)
{
	struct restarts *r = find_restarts(st, unit);
	if (!r) {
		GROW(st->restarts, st->nrestarts + 1, st->crestarts);
		r = &st->restarts[st->nrestarts++];
		r->unit = xstrdup(unit);
	} else if (memcmp(&r->r, v, sizeof(*v)) == 0) {
		return;
	}
	r->r = *v;
	st->dirty[F_UNITS] = true;
}

void state_del_restarts(struct rc_state *st, const char *unit)
{
	struct restarts *r = find_restarts(st, unit);
	if (!r)
		return;
	free(r->unit);
	*r = st->restarts[--st->nrestarts];
	st->dirty[F_UNITS] = true;
}

static struct disabled *find_disabled(const struct rc_state *st, const char *unit)
{
	for (size_t i = 0; i < st->ndisabled; i++)
		if (strcmp(st->disabled[i].unit, unit) == 0)
			return &st->disabled[i];
	return NULL;
}

bool state_is_disabled(const struct rc_state *st, const char *unit, const char **ret_reason)
{
	const struct disabled *d = find_disabled(st, unit);
	if (d && ret_reason)
		*ret_reason = d->reason;
	return d != NULL;
}

void state_set_disabled(struct rc_state *st, const char *unit, int64_t time, const char *reason)
{
	struct disabled *d = find_disabled(st, unit);
	if (!d) {
		GROW(st->disabled, st->ndisabled + 1, st->cdisabled);
		d = &st->disabled[st->ndisabled++];
		d->unit = xstrdup(unit);
	} else {
		free(d->reason);
	}
	d->time = time;
	d->reason = xstrdup_or_null(reason);
	st->dirty[F_UNITS] = true;
}

void state_del_disabled(struct rc_state *st, const char *unit)
{
	struct disabled *d = find_disabled(st, unit);
	if (!d)
		return;
	free(d->unit);
	free(d->reason);
	*d = st->disabled[--st->ndisabled];
	st->dirty[F_UNITS] = true;
}

const char **state_disabled_units(const struct rc_state *st, size_t *ret_n)
{
	const char **v = xcalloc(st->ndisabled + 1, sizeof(*v));
	for (size_t i = 0; i < st->ndisabled; i++)
		v[i] = st->disabled[i].unit;
	qsort(v, st->ndisabled, sizeof(*v), strp_cmp);
	*ret_n = st->ndisabled;
	return v;
}

static struct state_awaiting *find_awaiting(const struct rc_state *st, const char *unit)
{
	for (size_t i = 0; i < st->nawaiting; i++)
		if (strcmp(st->awaiting[i].unit, unit) == 0)
			return &st->awaiting[i];
	return NULL;
}

static int awaiting_cmp(const void *a, const void *b)
{
	return strcmp(((const struct state_awaiting *)a)->unit, ((const struct state_awaiting *)b)->unit);
}

void state_set_awaiting(struct rc_state *st, const char *unit, const char *hash, const char *commit,
			int64_t since)
{
	struct state_awaiting *a = find_awaiting(st, unit);
	if (a && str_eq(a->hash, hash) && str_eq(a->commit, commit))
		return; /* same change still waiting: keep its time and approval */
	if (a) {
		free_const(a->hash);
		free_const(a->commit);
	} else {
		GROW(st->awaiting, st->nawaiting + 1, st->cawaiting);
		a = &st->awaiting[st->nawaiting++];
		a->unit = xstrdup(unit);
	}
	a->hash = xstrdup(hash);
	a->commit = xstrdup_or_null(commit);
	a->since = since;
	a->approved = false;
	qsort(st->awaiting, st->nawaiting, sizeof(st->awaiting[0]), awaiting_cmp);
	st->dirty[F_UNITS] = true;
}

const struct state_awaiting *state_get_awaiting(const struct rc_state *st, const char *unit)
{
	return find_awaiting(st, unit);
}

int state_approve(struct rc_state *st, const char *unit, struct rc_err *err)
{
	struct state_awaiting *a = find_awaiting(st, unit);
	if (!a)
		return rc_errf(err, "no change of unit '%s' is awaiting approval", unit);
	if (!a->approved) {
		a->approved = true;
		st->dirty[F_UNITS] = true;
	}
	return 0;
}

bool state_is_approved(const struct rc_state *st, const char *unit, const char *hash)
{
	const struct state_awaiting *a = find_awaiting(st, unit);
	return a && a->approved && str_eq(a->hash, hash);
}

void state_del_awaiting(struct rc_state *st, const char *unit)
{
	struct state_awaiting *a = find_awaiting(st, unit);
	if (!a)
		return;
	free_const(a->unit);
	free_const(a->hash);
	free_const(a->commit);
	size_t i = (size_t)(a - st->awaiting);
	memmove(a, a + 1, (st->nawaiting - i - 1) * sizeof(*a));
	st->nawaiting--;
	st->dirty[F_UNITS] = true;
}

static bool is_live(const char *unit, const char *const *live, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(live[i], unit) == 0)
			return true;
	return false;
}

void state_prune_units(struct rc_state *st, const char *const *live, size_t n)
{
	for (size_t i = st->nrestarts; i-- > 0;)
		if (!is_live(st->restarts[i].unit, live, n))
			state_del_restarts(st, st->restarts[i].unit);
	for (size_t i = st->ndisabled; i-- > 0;)
		if (!is_live(st->disabled[i].unit, live, n))
			state_del_disabled(st, st->disabled[i].unit);
	for (size_t i = st->nawaiting; i-- > 0;)
		if (!is_live(st->awaiting[i].unit, live, n))
			state_del_awaiting(st, st->awaiting[i].unit);
}

const struct state_awaiting *state_awaiting_all(const struct rc_state *st, size_t *ret_n)
{
	*ret_n = st->nawaiting;
	return st->awaiting;
}

/* ---- in-place updates ------------------------------------------------------------------------ */

static struct inplace *find_inplace(const struct rc_state *st, const char *id)
{
	for (size_t i = 0; i < st->ninplace; i++)
		if (strcmp(st->inplace[i].id, id) == 0)
			return &st->inplace[i];
	return NULL;
}

void state_set_inplace(struct rc_state *st, const char *container_id, const char *hash,
		       const char *resources)
{
	struct inplace *x = find_inplace(st, container_id);
	if (x && str_eq(x->hash, hash) && str_eq(x->resources, resources))
		return;
	if (!x) {
		GROW(st->inplace, st->ninplace + 1, st->cinplace);
		x = &st->inplace[st->ninplace++];
		x->id = xstrdup(container_id);
	} else {
		free(x->hash);
		free(x->resources);
	}
	x->hash = xstrdup(hash);
	x->resources = xstrdup(resources ? resources : "");
	st->dirty[F_UNITS] = true;
}

bool state_get_inplace(const struct rc_state *st, const char *container_id, const char **ret_hash,
		       const char **ret_resources)
{
	const struct inplace *x = find_inplace(st, container_id);
	if (!x)
		return false;
	if (ret_hash)
		*ret_hash = x->hash;
	if (ret_resources)
		*ret_resources = x->resources;
	return true;
}

void state_del_inplace(struct rc_state *st, const char *container_id)
{
	struct inplace *x = find_inplace(st, container_id);
	if (!x)
		return;
	free(x->id);
	free(x->hash);
	free(x->resources);
	*x = st->inplace[--st->ninplace];
	st->dirty[F_UNITS] = true;
}

void state_prune_inplace(struct rc_state *st, const char *const *live_ids, size_t n)
{
	for (size_t i = 0; i < st->ninplace;) {
		bool live = false;
		for (size_t j = 0; j < n && !live; j++)
			live = strcmp(live_ids[j], st->inplace[i].id) == 0;
		if (live)
			i++;
		else
			state_del_inplace(st, st->inplace[i].id);
	}
}

/* ---- journal ---------------------------------------------------------------------------------- */

void state_set_journal_limit(struct rc_state *st, size_t max_bytes, int keep)
{
	st->journal_max = max_bytes;
	st->journal_keep = keep < 1 ? 1 : keep;
}

static int rotate_journal(struct rc_state *st, const char *path, struct rc_err *err)
{
	for (int i = st->journal_keep - 1; i >= 1; i--) {
		_cleanup_free_ char *from = xasprintf("%s.%d", path, i);
		_cleanup_free_ char *to = xasprintf("%s.%d", path, i + 1);
		if (rename(from, to) < 0 && errno != ENOENT)
			return rc_errf(err, "cannot rotate '%s': %s", from, strerror(errno));
	}
	_cleanup_free_ char *first = xasprintf("%s.1", path);
	if (rename(path, first) < 0 && errno != ENOENT)
		return rc_errf(err, "cannot rotate '%s': %s", path, strerror(errno));
	return 0;
}

int state_journal(struct rc_state *st, const struct state_journal_entry *e, struct rc_err *err)
{
	if (st->lock_fd < 0)
		return rc_errf(err, "state directory '%s' is not locked: cannot write the journal", st->dir);
	time_t t = e->time ? (time_t)e->time : time(NULL);
	struct tm tm;
	char ts[32];
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON *o = xobj();
	put_str(o, "time", ts);
	put_str(o, "commit", e->commit);
	put_str(o, "action", e->action);
	put_str(o, "unit", e->unit);
	put_str(o, "result", e->result);
	put_str(o, "message", e->message);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		die("out of memory");
	struct buf line = BUF_INIT;
	buf_adds(&line, text);
	buf_addc(&line, '\n');
	cJSON_free(text);

	_cleanup_free_ char *path = xasprintf("%s/journal.jsonl", st->dir);
	int r = -1;
	/* a regular file of ours with one link, never through a symbolic link, never a FIFO */
	int fd = open_private("state file", path, O_WRONLY | O_APPEND | O_CREAT, 0600, err);
	struct stat sb;
	if (fd < 0)
		goto out;
	if (fstat(fd, &sb) < 0) {
		rc_errf(err, "cannot stat '%s': %s", path, strerror(errno));
		goto out;
	}
	if (sb.st_size > 0 && (size_t)sb.st_size + line.len > st->journal_max) {
		close(fd);
		fd = -1;
		if (rotate_journal(st, path, err) < 0)
			goto out;
		fd = open_private("state file", path, O_WRONLY | O_APPEND | O_CREAT, 0600, err);
		if (fd < 0)
			goto out;
	}
	const char *p = line.data;
	size_t left = line.len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc_errf(err, "cannot write '%s': %s", path, strerror(errno));
			goto out;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) < 0) {
		rc_errf(err, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	metrics_journaled(e->action, e->result, e->message, buf_cstr(&line));  /* the event stream (metrics.h) */
	r = 0;
out:
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = rc_errf(err, "cannot write '%s': %s", path, strerror(errno));
	buf_release(&line);
	return r;
}

/* ---- reading the journal back -------------------------------------------------- */

static char *jstr_dup(const cJSON *o, const char *k)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(x) ? xstrdup(x->valuestring) : NULL;
}

/* A journal past its limit is rotated; one much larger is not ours to read whole. */
#define STATE_JOURNAL_READ_MAX ((size_t)256 << 20)

/* 1 found (in *ret), 0 none, -1 error; a missing file is none. */
static int journal_last_in(const char *path, const char *action, struct state_journal_record *ret,
			   struct rc_err *err)
{
	char *data = NULL;
	size_t len = 0;
	/* never through a symbolic link, never blocking on a FIFO (status and drift read it) */
	int rr = read_private_file("state file", path, STATE_JOURNAL_READ_MAX, &data, &len, err);
	if (rr == -1 && errno == ENOENT)
		return 0;
	if (rr < 0)
		return -1;
	int found = 0;
	size_t end = len;
	while (end > 0 && !found) {
		size_t start = end;
		while (start > 0 && data[start - 1] != '\n')
			start--;
		if (end > start) {
			cJSON *o = cJSON_ParseWithLength(data + start, end - start);
			const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "action");
			if (cJSON_IsObject(o) && cJSON_IsString(a) && strcmp(a->valuestring, action) == 0) {
				ret->time = jstr_dup(o, "time");
				ret->commit = jstr_dup(o, "commit");
				ret->action = jstr_dup(o, "action");
				ret->unit = jstr_dup(o, "unit");
				ret->result = jstr_dup(o, "result");
				ret->message = jstr_dup(o, "message");
				found = 1;
			}
			cJSON_Delete(o);
		}
		end = start > 0 ? start - 1 : 0;
	}
	free(data);
	return found;
}

int state_journal_last(const struct rc_state *st, const char *action, struct state_journal_record *ret,
		       struct rc_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/journal.jsonl", st->dir);
	_cleanup_free_ char *old = xasprintf("%s.1", path);
	struct state_journal_record r = { 0 };
	int found = journal_last_in(path, action, &r, err);
	if (found == 0)
		found = journal_last_in(old, action, &r, err);
	if (found == 1)
		*ret = r;
	return found;
}

void state_journal_record_release(struct state_journal_record *r)
{
	free(r->time);
	free(r->commit);
	free(r->action);
	free(r->unit);
	free(r->result);
	free(r->message);
	memset(r, 0, sizeof(*r));
}
