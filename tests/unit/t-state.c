/* Unit tests for the state module (state.c, state_*.c): files, lock, journal, allocations kept, a hostile state directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "requests.h"
#include "source.h"
#include "state.h"
#include "tap.h"
#include "unit.h"
#include "util.h"

static char root[] = "/tmp/rc-t-state.XXXXXX";

static char *path_in(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static bool exists(const char *p)
{
	return access(p, F_OK) == 0;
}

static int count_prefix(const char *dir, const char *prefix)
{
	int n = 0;
	char *cmd = xasprintf("ls -a '%s'", dir);
	FILE *f = popen(cmd, "r");
	char line[512];
	while (f && fgets(line, sizeof(line), f))
		if (str_startswith(line, prefix))
			n++;
	if (f)
		pclose(f);
	free(cmd);
	return n;
}

static void write_text(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *p)
{
	char *s = NULL;
	if (read_file(p, 1 << 20, &s, NULL, NULL) < 0)
		return xstrdup("");
	return s;
}

/* ---- desired-state builders ------------------------------------------------- */

static struct rc_desired *mk_desired(void)
{
	struct rc_desired *d = xcalloc(1, sizeof(*d));
	d->settings.project = xstrdup("t");
	d->settings.port_lo = 20000;
	d->settings.port_hi = 20099;
	d->settings.subnet_pool = xstrdup("10.210.0.0/16");
	d->settings.subnet_prefix = 26;
	return d;
}

/* Units must be added in id order (the arrays are sorted). */
static struct rc_unit *add_unit(struct rc_desired *d, const char *id)
{
	d->units = xrealloc(d->units, (d->nunits + 1) * sizeof(*d->units));
	struct rc_unit *u = &d->units[d->nunits++];
	memset(u, 0, sizeof(*u));
	u->id = xstrdup(id);
	return u;
}

static void add_port(struct rc_unit *u, uint16_t cport, bool is_auto, uint16_t host)
{
	u->ports = xrealloc(u->ports, (u->nports + 1) * sizeof(*u->ports));
	struct rc_port *p = &u->ports[u->nports++];
	memset(p, 0, sizeof(*p));
	p->container_port = cport;
	p->host_auto = is_auto;
	p->host_port = host;
	p->proto = xstrdup("tcp");
}

static struct rc_network *add_net(struct rc_desired *d, const char *name, const char *subnet)
{
	d->networks = xrealloc(d->networks, (d->nnetworks + 1) * sizeof(*d->networks));
	struct rc_network *n = &d->networks[d->nnetworks++];
	memset(n, 0, sizeof(*n));
	n->name = xstrdup(name);
	n->subnet = subnet ? xstrdup(subnet) : NULL;
	n->customer = xstrdup(strncmp(name, "t-", 2) == 0 ? name + 2 : name);  /* a customer's network */
	return n;
}

/* A shared network (no customer): without a fixed subnet, the engine chooses. */
static struct rc_network *add_shared_net(struct rc_desired *d, const char *name, const char *subnet)
{
	struct rc_network *n = add_net(d, name, subnet);
	free(n->customer);
	n->customer = NULL;
	return n;
}

static struct rc_state *open_locked(const char *dir)
{
	struct rc_state *st = NULL;
	struct rc_err err;
	if (state_open(dir, STATE_OPEN_LOCK, &st, &err) < 0) {
		diag("state_open: %s", err.msg);
		return NULL;
	}
	return st;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_open_and_persist(void)
{
	char *dir = path_in(root, "s1");
	struct rc_err err;
	struct rc_state *st = NULL;
	is_int(state_open(dir, 0, &st, &err), 0, "open creates the directory");
	struct stat sb;
	ok(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700, "state dir is 0700");
	char *sec = path_in(dir, "secrets");
	ok(stat(sec, &sb) == 0 && (sb.st_mode & 0777) == 0700, "secrets dir is 0700");
	is_str(state_secrets_dir(st), sec, "secrets dir path");
	ok(!state_locked(st), "not locked without STATE_OPEN_LOCK");
	state_set_last_applied(st, "abc");
	is_int(state_save(st, &err), -1, "save without the lock fails");
	ok(strstr(err.msg, "not locked") != NULL, "... saying why: %s", err.msg);
	state_free(st);

	/* Stale temp files are removed when the lock is taken; other files stay. */
	char *tmp1 = path_in(dir, ".applied.json.Ab12Cd");
	char *tmp2 = path_in(sec, ".db_password.XyZ987");
	char *keep = path_in(dir, ".hidden-but-not-temp");
	write_text(tmp1, "partial");
	write_text(tmp2, "partial");
	write_text(keep, "x");
	st = open_locked(dir);
	ok(st && state_locked(st), "open with lock");
	ok(!exists(tmp1) && !exists(tmp2), "stale temp files removed");
	ok(exists(keep), "other dot files kept");

	state_set_last_applied(st, "c1");
	state_set_last_good(st, "c0");
	ok(state_get_project(st) == NULL, "no project before an apply records one");
	state_set_project(st, "acme");
	size_t nnames = 9;
	ok(state_get_containers(st, &nnames) == NULL && nnames == 0, "no container names before an apply records them");
	const char *names[] = { "acme-web", "acme-db" };
	state_set_containers(st, names, 2);
	ok(state_get_path(st) == NULL, "no path before an apply records one");
	state_set_path(st, "deploy/prod");
	state_add_failed_commit(st, "bad1", 100, "image missing");
	state_add_failed_commit(st, "bad2", 200, NULL);
	state_add_failed_commit(st, "bad1", 300, "again");
	struct state_restarts r = { 3, 1234, 4000000000 };
	state_set_restarts(st, "acme/web", &r);
	state_set_disabled(st, "acme/worker", 555, "crash loop");
	state_set_awaiting(st, "shared/db", "h1", "c1", 777);
	state_set_awaiting(st, "acme/db", "h2", NULL, 778);
	is_int(state_approve(st, "nobody", &err), -1, "approve without awaiting change fails");
	is_int(state_approve(st, "shared/db", &err), 0, "approve awaiting change");
	state_set_port(st, "acme/web", 3000, "tcp", 20005);
	state_set_subnet(st, "t-acme", "10.210.0.64/26");
	state_set_inplace(st, "cid1", "hash1", "memory=10\n");
	state_set_inplace(st, "cid2", "hash2", "cpus=5\n");
	state_set_inplace(st, "cid3", "hash3", "");
	is_int(state_save(st, &err), 0, "save");
	state_free(st);

	char *lockp = path_in(dir, "lock");
	ok(exists(lockp), "lock file stays after close");
	free(lockp);
	st = open_locked(dir);
	size_t nw;
	state_warnings(st, &nw);
	is_int(nw, 0, "no warnings on a clean reload");
	is_str(state_get_last_applied(st), "c1", "last applied persisted");
	is_str(state_get_last_good(st), "c0", "last good persisted");
	is_str(state_get_project(st), "acme", "project of the last apply persisted");
	is_str(state_get_path(st), "deploy/prod", "the --path of the last apply persisted");
	const char *const *cn = state_get_containers(st, &nnames);
	ok(nnames == 2 && cn && str_eq(cn[0], "acme-web") && str_eq(cn[1], "acme-db"),
	   "container names of the last apply persisted, in order");
	size_t nf;
	const struct state_failed_commit *fc = state_failed_commits(st, &nf);
	is_int(nf, 2, "failed commits persisted (re-adding replaces)");
	is_str(fc[1].commit, "bad1", "replaced record moves to the end");
	is_str(fc[1].message, "again", "... with its new message");
	is_int(fc[1].time, 300, "... and time");
	ok(fc[0].message == NULL, "null message round-trips");
	ok(state_get_failed_commit(st, "bad2") != NULL && state_get_failed_commit(st, "zzz") == NULL,
	   "failed commit lookup");
	struct state_restarts r2 = state_get_restarts(st, "acme/web");
	ok(r2.failures == 3 && r2.last_failure == 1234 && r2.backoff_ns == 4000000000, "restart counter persisted");
	is_int(state_get_restarts(st, "nope").failures, 0, "unknown unit has zero counter");
	const char *reason = NULL;
	ok(state_is_disabled(st, "acme/worker", &reason) && str_eq(reason, "crash loop"), "disabled persisted");
	size_t nd;
	const char **dis = state_disabled_units(st, &nd);
	ok(nd == 1 && str_eq(dis[0], "acme/worker"), "disabled list");
	free(dis);
	ok(state_is_approved(st, "shared/db", "h1"), "approval persisted");
	ok(!state_is_approved(st, "shared/db", "h9"), "approval is for one hash only");
	ok(!state_is_approved(st, "acme/db", "h2"), "unapproved stays unapproved");
	size_t na;
	const struct state_awaiting *aw = state_awaiting_all(st, &na);
	ok(na == 2 && str_eq(aw[0].unit, "acme/db") && aw[0].commit == NULL && aw[1].since == 777,
	   "awaiting list sorted and complete");
	state_set_awaiting(st, "shared/db", "h3", "c2", 900);
	ok(!state_is_approved(st, "shared/db", "h3"), "a new change needs a new approval");
	is_int(state_get_port(st, "acme/web", 3000, "tcp"), 20005, "port allocation persisted");
	is_int(state_get_port(st, "acme/web", 3000, "udp"), 0, "protocol is part of the key");
	is_str(state_get_subnet(st, "t-acme"), "10.210.0.64/26", "subnet allocation persisted");
	const char *ih = NULL, *ir = NULL;
	ok(state_get_inplace(st, "cid1", &ih, &ir) && str_eq(ih, "hash1") && str_eq(ir, "memory=10\n"),
	   "in-place record persisted");
	const char *live[] = { "cid2", "other" };
	state_prune_inplace(st, live, 2);
	ok(!state_get_inplace(st, "cid1", NULL, NULL) && !state_get_inplace(st, "cid3", NULL, NULL) &&
	   state_get_inplace(st, "cid2", NULL, NULL), "prune keeps only live containers");
	state_del_failed_commit(st, "bad2");
	state_del_restarts(st, "acme/web");
	state_del_disabled(st, "acme/worker");
	state_del_awaiting(st, "acme/db");
	is_int(state_save(st, &err), 0, "save after deletes");
	state_free(st);
	st = open_locked(dir);
	state_failed_commits(st, &nf);
	state_awaiting_all(st, &na);
	ok(nf == 1 && na == 1 && !state_is_disabled(st, "acme/worker", NULL) &&
	   state_get_restarts(st, "acme/web").failures == 0, "deletes persisted");
	ok(state_get_inplace(st, "cid2", NULL, NULL) && !state_get_inplace(st, "cid1", NULL, NULL),
	   "in-place prune persisted");
	state_free(st);

	/* The file is versioned and checksummed. */
	char *ap = path_in(dir, "applied.json");
	char *text = read_text(ap);
	free(ap);
	ok(strstr(text, "\"version\":\t1") && strstr(text, "\"checksum\":\t\""), "file carries version and checksum");
	free(text);
	free(tmp1);
	free(tmp2);
	free(keep);
	free(sec);
	free(dir);
}

static void corrupt_case(const char *name, const char *content, const char *why)
{
	char *dir = path_in(root, name);
	struct rc_state *st = open_locked(dir);
	state_set_last_applied(st, "c1");
	state_set_port(st, "u", 80, "tcp", 20001);
	struct rc_err err;
	state_save(st, &err);
	state_free(st);

	char *p = path_in(dir, "applied.json");
	if (content) {
		write_text(p, content);
	} else {
		/* Flip a value but keep valid JSON: only the checksum can tell. */
		char *t = read_text(p);
		char *c1 = strstr(t, "\"c1\"");
		c1[2] = '2';
		write_text(p, t);
		free(t);
	}
	/* A read-only open warns and ignores, but leaves the file where it is. */
	is_int(state_open(dir, 0, &st, &err), 0, "%s: read-only open succeeds", why);
	size_t nw;
	const char *const *w = state_warnings(st, &nw);
	ok(nw == 1 && strstr(w[0], why) && strstr(w[0], "ignored"), "%s: warning: %s", why, nw ? w[0] : "none");
	ok(state_get_last_applied(st) == NULL, "%s: treated as empty", why);
	ok(exists(p), "%s: read-only open does not move the file", why);
	state_free(st);

	st = open_locked(dir);
	ok(st != NULL, "%s: locked open succeeds", why);
	w = state_warnings(st, &nw);
	ok(nw == 1 && strstr(w[0], "moved aside"), "%s: warning: %s", why, nw ? w[0] : "none");
	ok(state_get_last_applied(st) == NULL, "%s: treated as empty", why);
	is_int(state_get_port(st, "u", 80, "tcp"), 20001, "%s: other files unaffected", why);
	ok(!exists(p), "%s: corrupt file moved away", why);
	is_int(count_prefix(dir, "applied.json.corrupt."), 1, "%s: kept as applied.json.corrupt.<ts>", why);
	state_set_last_applied(st, "c3");
	is_int(state_save(st, &err), 0, "%s: saving rebuilt state works", why);
	state_free(st);
	st = open_locked(dir);
	state_warnings(st, &nw);
	ok(nw == 0 && str_eq(state_get_last_applied(st), "c3"), "%s: clean after rebuild", why);
	state_free(st);
	free(p);
	free(dir);
}

static void test_corrupt(void)
{
	corrupt_case("c-json", "{\"version\": 1, \"checksum\": ", "not valid JSON");
	corrupt_case("c-sum", NULL, "checksum mismatch");
	corrupt_case("c-ver", "{\"version\": 99, \"checksum\": \"x\", \"data\": {}}", "unsupported version");
	corrupt_case("c-shape", "[1,2,3]", "not valid JSON");
	corrupt_case("c-missing", "{\"version\": 1}", "missing version, checksum or data");
}

static void test_lock(void)
{
	char *dir = path_in(root, "lock");
	int ready[2], quit[2];
	if (pipe(ready) < 0 || pipe(quit) < 0)
		BUG("pipe");
	pid_t pid = fork();
	if (pid == 0) {
		struct rc_state *st = NULL;
		struct rc_err err;
		char c = state_open(dir, STATE_OPEN_LOCK, &st, &err) == 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(2);
		if (read(quit[0], &c, 1) < 0)
			_exit(2);
		state_free(st);
		_exit(0);
	}
	char c = 0;
	ok(read(ready[0], &c, 1) == 1 && c == 'y', "child takes the lock");
	struct rc_state *st = NULL;
	struct rc_err err;
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "second locker fails");
	char want[64];
	snprintf(want, sizeof(want), "(pid %ld)", (long)pid);
	ok(strstr(err.msg, want) != NULL, "error names the holder: %s", err.msg);
	is_int(state_open(dir, 0, &st, &err), 0, "a read-only open works while locked");
	is_int(state_lock(st, &err), -1, "state_lock on it fails too");
	state_free(st);
	if (write(quit[1], "q", 1) != 1)
		BUG("write");
	int status;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exits cleanly");
	st = open_locked(dir);
	ok(st != NULL, "lock is free once the holder is gone");
	is_int(state_lock(st, &err), 0, "locking twice is a no-op");
	char *lp = path_in(dir, "lock");
	char *t = read_text(lp);
	is_int(atol(t), getpid(), "lock file holds our pid");
	free(t);
	free(lp);
	state_free(st);
	close(ready[0]);
	close(ready[1]);
	close(quit[0]);
	close(quit[1]);
	free(dir);
}

static struct rc_desired *three_units(void)
{
	struct rc_desired *d = mk_desired();
	add_port(add_unit(d, "a/web"), 3000, true, 0);
	struct rc_unit *b = add_unit(d, "b/web");
	add_port(b, 3000, true, 0);
	add_port(b, 9000, false, 20001);   /* fixed: never allocated to anyone else */
	add_port(add_unit(d, "c/web"), 3000, true, 0);
	add_net(d, "t-a", NULL);
	add_net(d, "t-b", NULL);
	add_net(d, "t-fixed", "10.210.0.64/26");
	return d;
}

static void test_allocate_ports(void)
{
	char *dir = path_in(root, "alloc");
	struct rc_state *st = open_locked(dir);
	struct rc_err err;
	struct rc_desired *d = three_units();
	uint16_t in_use[] = { 20002, 80 };   /* held by someone on the engine */
	struct alloc_observed obs = { .ports_in_use = in_use, .nports_in_use = 2 };
	is_int(state_allocate(st, d, &obs, &err), 0, "allocate");
	is_int(d->units[0].ports[0].host_port, 20000, "first unit gets the lowest port");
	is_int(d->units[1].ports[0].host_port, 20003, "fixed and in-use ports are skipped");
	is_int(d->units[1].ports[1].host_port, 20001, "fixed port untouched");
	is_int(d->units[2].ports[0].host_port, 20004, "third unit next");
	is_int(state_nports(st), 3, "three allocations recorded");
	is_str(d->networks[0].subnet, "10.210.0.0/26", "first network gets the first subnet");
	is_str(d->networks[1].subnet, "10.210.0.128/26", "fixed subnet in the pool is skipped");
	is_str(d->networks[2].subnet, "10.210.0.64/26", "fixed subnet untouched");
	is_int(state_nsubnets(st), 2, "only allocated subnets recorded");
	is_int(state_save(st, &err), 0, "save");
	state_free(st);
	rc_desired_free(d);

	/* A later run with a new unit sorted first: nothing moves, the newcomer takes a free port. */
	st = open_locked(dir);
	d = mk_desired();
	add_port(add_unit(d, "0/new"), 3000, true, 0);
	add_port(add_unit(d, "a/web"), 3000, true, 0);
	add_port(add_unit(d, "b/web"), 3000, true, 0);
	add_port(add_unit(d, "c/web"), 3000, true, 0);
	add_net(d, "t-0", NULL);
	add_net(d, "t-a", NULL);
	add_net(d, "t-b", NULL);
	is_int(state_allocate(st, d, NULL, &err), 0, "allocate again");
	is_int(d->units[1].ports[0].host_port, 20000, "a/web kept its port");
	is_int(d->units[2].ports[0].host_port, 20003, "b/web kept its port");
	is_int(d->units[3].ports[0].host_port, 20004, "c/web kept its port");
	is_int(d->units[0].ports[0].host_port, 20001, "newcomer takes the lowest free port");
	is_str(d->networks[1].subnet, "10.210.0.0/26", "t-a kept its subnet");
	is_str(d->networks[2].subnet, "10.210.0.128/26", "t-b kept its subnet");
	is_str(d->networks[0].subnet, "10.210.0.64/26", "newcomer network takes the lowest free subnet");
	state_save(st, &err);
	state_free(st);
	rc_desired_free(d);

	/* b/web and t-b removed: their allocations are freed and reused. */
	st = open_locked(dir);
	d = mk_desired();
	add_port(add_unit(d, "0/new"), 3000, true, 0);
	add_port(add_unit(d, "a/web"), 3000, true, 0);
	add_port(add_unit(d, "c/web"), 3000, true, 0);
	add_port(add_unit(d, "d/web"), 3000, true, 0);
	add_net(d, "t-0", NULL);
	add_net(d, "t-a", NULL);
	add_net(d, "t-d", NULL);
	is_int(state_allocate(st, d, NULL, &err), 0, "allocate after removal");
	is_int(state_get_port(st, "b/web", 3000, "tcp"), 0, "removed unit's port freed");
	ok(state_get_subnet(st, "t-b") == NULL, "removed network's subnet freed");
	is_int(d->units[3].ports[0].host_port, 20002, "freed ports are reused lowest first");
	is_str(d->networks[2].subnet, "10.210.0.128/26", "freed subnet reused");
	state_save(st, &err);
	state_free(st);
	rc_desired_free(d);

	/* Same desired state twice: nothing to write. */
	st = open_locked(dir);
	char *p = path_in(dir, "allocations.json");
	char *before = read_text(p);
	d = mk_desired();
	add_port(add_unit(d, "0/new"), 3000, true, 0);
	add_port(add_unit(d, "a/web"), 3000, true, 0);
	add_port(add_unit(d, "c/web"), 3000, true, 0);
	add_port(add_unit(d, "d/web"), 3000, true, 0);
	add_net(d, "t-0", NULL);
	add_net(d, "t-a", NULL);
	add_net(d, "t-d", NULL);
	is_int(state_allocate(st, d, NULL, &err), 0, "allocate unchanged");
	unlink(p);
	state_save(st, &err);
	ok(!exists(p), "unchanged allocations are not rewritten");
	write_text(p, before);
	free(before);
	free(p);
	state_free(st);
	rc_desired_free(d);
	free(dir);
}

static void test_shared_networks(void)
{
	/* A shared network without a subnet gets none from the pool (the engine's choice); a link
	 * network (a customer's) does; an allocation a shared network held before is dropped. */
	char *dir = path_in(root, "shared");
	struct rc_state *st = open_locked(dir);
	struct rc_err err = { 0 };
	state_set_subnet(st, "t-backend", "10.210.0.0/26");   /* what an older version allocated */
	struct rc_desired *d = mk_desired();
	add_net(d, "t-a", NULL);
	struct rc_network *link = add_net(d, "t-a-via-backend", NULL);
	free(link->customer);
	link->customer = xstrdup("a");
	link->link_of = xstrdup("backend");
	add_shared_net(d, "t-backend", NULL);
	add_shared_net(d, "t-fixed", "10.99.0.0/24");
	struct alloc_obs_net nets[] = { { "t-backend", "10.210.0.0/26", true } };  /* it still exists */
	struct alloc_observed obs = { .nets = nets, .nnets = 1 };
	is_int(state_allocate(st, d, &obs, &err), 0, "allocate: %s", err.msg);
	ok(d->networks[2].subnet == NULL, "shared network without a subnet: the engine's choice");
	ok(state_get_subnet(st, "t-backend") == NULL, "its old allocation is freed");
	is_str(d->networks[3].subnet, "10.99.0.0/24", "fixed shared subnet untouched");
	ok(state_get_subnet(st, "t-fixed") == NULL, "a fixed subnet is no allocation");
	is_str(d->networks[0].subnet, "10.210.0.64/26", "customer network from the pool, around the shared one");
	is_str(d->networks[1].subnet, "10.210.0.128/26", "link network from the pool");
	is_int(state_nsubnets(st), 2, "two allocations: the customer's networks");
	rc_desired_free(d);

	/* only shared networks: no pool needed at all */
	d = mk_desired();
	free(d->settings.subnet_pool);
	d->settings.subnet_pool = NULL;
	add_shared_net(d, "t-backend", NULL);
	is_int(state_allocate(st, d, NULL, &err), 0, "no pool, only shared networks: %s", err.msg);
	is_int(state_nsubnets(st), 0, "nothing allocated");
	rc_desired_free(d);
	state_free(st);
	free(dir);
}

static void test_reseed(void)
{
	/* The state file was lost: what our containers publish becomes the allocation again. */
	char *dir = path_in(root, "reseed");
	struct rc_state *st = open_locked(dir);
	struct rc_err err;
	struct rc_desired *d = three_units();
	struct alloc_obs_port ours[] = {
		{ "b/web", 3000, "tcp", 20050 },
		{ "c/web", 3000, NULL, 20007 },
		{ "c/web", 4000, "tcp", 20009 },    /* a port no longer desired: ignored */
	};
	uint16_t in_use[] = { 20050, 20007, 20009, 20000 };
	struct alloc_obs_net nets[] = {
		{ "t-b", "10.210.3.0/26", true },
		{ "docker0-ish", "10.210.0.0/25", false },    /* unmanaged, overlaps two candidates */
		{ "v6", "fd00::/64", false },
	};
	struct alloc_observed obs = { in_use, 4, ours, 3, nets, 3 };
	is_int(state_allocate(st, d, &obs, &err), 0, "allocate from observed: %s", err.msg);
	is_int(d->units[1].ports[0].host_port, 20050, "b/web re-seeded from its container");
	is_int(d->units[2].ports[0].host_port, 20007, "c/web re-seeded (proto defaults to tcp)");
	is_int(d->units[0].ports[0].host_port, 20002, "a/web gets a new port, skipping ports in use");
	is_int(state_get_port(st, "c/web", 4000, "tcp"), 0, "undesired observed port not recorded");
	is_str(d->networks[1].subnet, "10.210.3.0/26", "t-b re-seeded from its network");
	is_str(d->networks[0].subnet, "10.210.0.128/26", "t-a skips subnets overlapping unmanaged networks");
	state_save(st, &err);
	state_free(st);
	rc_desired_free(d);

	/* Observed wins over a stale file. */
	st = open_locked(dir);
	d = three_units();
	struct alloc_obs_port moved[] = { { "a/web", 3000, "tcp", 20060 } };
	struct alloc_observed obs2 = { .our_ports = moved, .nour_ports = 1 };
	is_int(state_allocate(st, d, &obs2, &err), 0, "allocate");
	is_int(d->units[0].ports[0].host_port, 20060, "what the container publishes wins");
	is_int(state_get_port(st, "a/web", 3000, "tcp"), 20060, "... and is recorded");
	is_int(d->units[1].ports[0].host_port, 20050, "b/web kept from the file");
	state_free(st);
	rc_desired_free(d);
	free(dir);
}

static void test_exhaustion(void)
{
	char *dir = path_in(root, "exhaust");
	struct rc_state *st = open_locked(dir);
	struct rc_err err;
	struct rc_desired *d = three_units();
	d->settings.port_lo = 20000;
	d->settings.port_hi = 20002;   /* 20001 is fixed: only two free */
	is_int(state_allocate(st, d, NULL, &err), -1, "port pool exhaustion fails");
	ok(strstr(err.msg, "port pool 20000-20002 is exhausted") && strstr(err.msg, "c/web"),
	   "clear message: %s", err.msg);
	rc_desired_free(d);

	d = three_units();
	d->settings.port_lo = d->settings.port_hi = 0;
	is_int(state_allocate(st, d, NULL, &err), -1, "auto port without a range fails");
	ok(strstr(err.msg, "no port range") != NULL, "clear message: %s", err.msg);
	rc_desired_free(d);

	d = three_units();
	free(d->settings.subnet_pool);
	d->settings.subnet_pool = xstrdup("10.210.0.0/25");   /* two /26, one fixed */
	is_int(state_allocate(st, d, NULL, &err), -1, "subnet pool exhaustion fails");
	ok(strstr(err.msg, "subnet pool '10.210.0.0/25' is exhausted") && strstr(err.msg, "t-b"),
	   "clear message: %s", err.msg);
	rc_desired_free(d);

	d = three_units();
	free(d->settings.subnet_pool);
	d->settings.subnet_pool = xstrdup("10.210.0.1/16");
	is_int(state_allocate(st, d, NULL, &err), -1, "malformed pool fails");
	ok(strstr(err.msg, "host bits set") != NULL, "clear message: %s", err.msg);
	rc_desired_free(d);

	d = three_units();
	d->settings.subnet_prefix = 12;
	is_int(state_allocate(st, d, NULL, &err), -1, "subnet size larger than the pool fails");
	rc_desired_free(d);

	/* 1000 customers fit in a /16 of /26 subnets, and the 1025th does not. */
	d = mk_desired();
	d->settings.port_lo = 20000;
	d->settings.port_hi = 29999;
	for (int i = 0; i < 1025; i++) {
		char name[32];
		snprintf(name, sizeof(name), "c%04d/web", i);
		add_port(add_unit(d, name), 3000, true, 0);
		snprintf(name, sizeof(name), "t-c%04d", i);
		add_net(d, name, NULL);
	}
	d->nnetworks = 1024;
	is_int(state_allocate(st, d, NULL, &err), 0, "1024 networks and 1025 auto ports fit");
	is_str(d->networks[999].subnet, "10.210.249.192/26", "1000th customer subnet");
	is_str(d->networks[1023].subnet, "10.210.255.192/26", "last subnet of the pool");
	is_int(d->units[1024].ports[0].host_port, 21024, "1025th port");
	d->nnetworks = 1025;
	for (size_t i = 0; i < 1024; i++) {
		free(d->networks[i].subnet);
		d->networks[i].subnet = NULL;
	}
	is_int(state_allocate(st, d, NULL, &err), -1, "1025 networks do not fit");
	ok(strstr(err.msg, "t-c1024") != NULL, "names the network that did not fit: %s", err.msg);
	rc_desired_free(d);
	state_free(st);
	free(dir);
}

static int count_lines(const char *p)
{
	char *t = read_text(p);
	int n = 0;
	for (char *c = t; *c; c++)
		n += *c == '\n';
	free(t);
	return n;
}

static void test_journal(void)
{
	char *dir = path_in(root, "journal");
	struct rc_err err;
	struct rc_state *st = NULL;
	state_open(dir, 0, &st, &err);
	struct state_journal_entry e = { 0, "c1", "create", "acme/web", "ok", "created" };
	is_int(state_journal(st, &e, &err), -1, "journal needs the lock");
	state_free(st);

	st = open_locked(dir);
	char *j = path_in(dir, "journal.jsonl");
	e.time = 1700000000;
	e.message = "line \"one\"\nwith newline";
	is_int(state_journal(st, &e, &err), 0, "append");
	char *t = read_text(j);
	is_str(t, "{\"time\":\"2023-11-14T22:13:20Z\",\"commit\":\"c1\",\"action\":\"create\",\"unit\":\"acme/web\","
		  "\"result\":\"ok\",\"message\":\"line \\\"one\\\"\\nwith newline\"}\n",
	       "one JSON object per line, escaped");
	size_t line_len = strlen(t);
	free(t);
	e.commit = NULL;
	e.message = "xxxxxxxxxxxxxxxxxxxxxxxxxxx";
	state_set_journal_limit(st, line_len * 3, 3);
	/* Lines have similar lengths: about 3 lines per file before rotating. */
	for (int i = 0; i < 20; i++)
		if (state_journal(st, &e, &err) < 0)
			diag("journal: %s", err.msg);
	char *j1 = xasprintf("%s.1", j), *j2 = xasprintf("%s.2", j), *j3 = xasprintf("%s.3", j),
	     *j4 = xasprintf("%s.4", j);
	ok(exists(j1) && exists(j2) && exists(j3), "rotated files .1 .2 .3 exist");
	ok(!exists(j4), "only 3 rotated files are kept");
	struct stat sb;
	ok(stat(j, &sb) == 0 && (size_t)sb.st_size <= line_len * 3, "current file within the limit");
	ok(stat(j1, &sb) == 0 && (size_t)sb.st_size <= line_len * 3, "rotated file within the limit");
	int n0 = count_lines(j), n1 = count_lines(j1), n2 = count_lines(j2), n3 = count_lines(j3);
	ok(n0 >= 1 && n1 >= 2 && n2 >= 2 && n3 >= 2, "every file holds whole lines (%d %d %d %d)", n0, n1, n2, n3);
	ok(n0 + n1 + n2 + n3 < 21, "oldest lines dropped (%d kept of 21)", n0 + n1 + n2 + n3);
	t = read_text(j);
	ok(strstr(t, "\"commit\":null") != NULL, "NULL fields written as null");
	free(t);
	free(j1);
	free(j2);
	free(j3);
	free(j4);
	free(j);
	state_free(st);
	free(dir);
}

static void test_journal_last(void)
{
	char *dir = path_in(root, "journal-last");
	struct rc_err err;
	struct rc_state *st = open_locked(dir);
	struct state_journal_record r;
	is_int(state_journal_last(st, "drift", &r, &err), 0, "journal_last: no journal yet");
	struct state_journal_entry e = { 1700000000, "c1", "drift", NULL, "drift", "1 finding: 1 missing" };
	state_journal(st, &e, &err);
	e = (struct state_journal_entry){ 1700000001, "c1", "create", "acme/web", "ok", "created" };
	state_journal(st, &e, &err);
	is_int(state_journal_last(st, "drift", &r, &err), 1, "journal_last: found under a newer line");
	is_str(r.message, "1 finding: 1 missing", "journal_last: message");
	is_str(r.time, "2023-11-14T22:13:20Z", "journal_last: time");
	ok(r.unit == NULL, "journal_last: null stays NULL");
	state_journal_record_release(&r);
	e = (struct state_journal_entry){ 1700000002, "c2", "drift", NULL, "none", "no drift" };
	state_journal(st, &e, &err);
	is_int(state_journal_last(st, "drift", &r, &err), 1, "journal_last: the newest");
	is_str(r.commit, "c2", "journal_last: newest commit");
	state_journal_record_release(&r);
	/* after a rotation the current file has no drift line: look into .1 */
	state_set_journal_limit(st, 10, 3);
	e = (struct state_journal_entry){ 1700000003, "c2", "create", "acme/db", "ok", "created" };
	state_journal(st, &e, &err);
	is_int(state_journal_last(st, "drift", &r, &err), 1, "journal_last: found in journal.jsonl.1");
	is_str(r.result, "none", "journal_last: from the rotated file");
	state_journal_record_release(&r);
	is_int(state_journal_last(st, "approve", &r, &err), 0, "journal_last: other actions: none");
	state_free(st);
	free(dir);
}

static void test_lock_holder(void)
{
	char *dir = path_in(root, "s-holder");
	bool daemon = true;
	is_int((int)state_lock_holder(dir, &daemon), 0, "lock holder: no state directory yet: 0");
	struct rc_state *st = open_locked(dir);
	is_int((int)state_lock_holder(dir, &daemon), (int)getpid(), "held by this process: its pid");
	ok(!daemon, "... which is not `reconciler run`");
	state_free(st);
	is_int((int)state_lock_holder(dir, NULL), 0, "released: 0, though the file still names the pid");
	free(dir);
}

static void test_manifests(void)
{
	char *dir = path_in(root, "s-manifests");
	struct rc_err err;
	struct rc_state *st = NULL;
	is_int(state_open(dir, 0, &st, &err), 0, "manifests: open");
	struct source_files got = { 0 };
	is_int(state_get_manifests(st, "c1", "deploy", &got, &err), 0, "no copy yet: 0");
	struct source_file fv[] = { { (char *)"deploy/a.yaml", (char *)"kind: Settings\nproject: x\n", 26 },
				    { (char *)"deploy/b \"q\".yaml", (char *)"name: \u00e9\n", 9 } };
	struct source_files files = { fv, 2, (char *)"c1" };
	is_int(state_put_manifests(st, &files, "deploy", &err), -1, "put without the lock fails");
	state_free(st);
	st = open_locked(dir);
	is_int(state_put_manifests(st, &files, "deploy", &err), 0, "put");
	char *file = path_in(dir, "manifests.json");
	struct stat sb;
	ok(stat(file, &sb) == 0 && (sb.st_mode & 0777) == 0600, "manifests.json is 0600");
	is_int(state_get_manifests(st, "c1", "deploy", &got, &err), 1, "get: the same commit and path");
	ok(got.nfiles == 2 && str_eq(got.commit, "c1") && str_eq(got.files[0].path, "deploy/a.yaml") &&
		   str_eq(got.files[0].data, fv[0].data) && got.files[0].len == 26 &&
		   str_eq(got.files[1].path, fv[1].path) && str_eq(got.files[1].data, fv[1].data) &&
		   got.files[1].len == 9,
	   "... every file back, byte for byte");
	source_files_release(&got);
	is_int(state_get_manifests(st, "c2", "deploy", &got, &err), 0, "another commit: 0");
	is_int(state_get_manifests(st, "c1", "", &got, &err), 0, "another path: 0");
	is_int(state_get_manifests(st, "c1", NULL, &got, &err), 0, "... the root too");
	struct source_file nul[] = { { (char *)"x.yaml", (char *)"a\0b", 3 } };
	struct source_files bad = { nul, 1, (char *)"c3" };
	is_int(state_put_manifests(st, &bad, "", &err), -1, "a file with a NUL byte is not kept");
	ok(strstr(err.msg, "NUL") != NULL, "... saying so: %s", err.msg);
	struct source_files nocommit = { fv, 2, NULL };
	is_int(state_put_manifests(st, &nocommit, "", &err), -1, "nor the files of a directory");
	write_text(file, "{\"version\": 1, \"commit\": \"c1\"}");
	is_int(state_get_manifests(st, "c1", "deploy", &got, &err), -1, "a damaged copy: -1");
	ok(strstr(err.msg, "damaged") != NULL, "... saying so: %s", err.msg);
	is_int(count_prefix(dir, "manifests.json.corrupt."), 1, "... and set aside by the lock holder");
	/* checksummed like the other state files: an edit (a customer's file dropped) is damage */
	is_int(state_put_manifests(st, &files, "deploy", &err), 0, "put again");
	char *text = read_text(file);
	ok(strstr(text, "\"checksum\":\"") && strstr(text, "\"data\":{"), "the copy is a checksummed state document");
	char *cut = strstr(text, ",{\"path\":\"deploy/b");
	ok(cut != NULL, "... holding the second file");
	if (cut) {
		strcpy(cut, "]}}");
		write_text(file, text);
	}
	free(text);
	is_int(state_get_manifests(st, "c1", "deploy", &got, &err), -1, "an edited copy (a file dropped): -1");
	ok(strstr(err.msg, "checksum mismatch") != NULL, "... a checksum mismatch: %s", err.msg);
	is_int(count_prefix(dir, "manifests.json.corrupt."), 2, "... set aside");
	/* an older reconciler's copy has no checksum: never used, replaced without a warning */
	write_text(file, "{\"version\":1,\"commit\":\"c1\",\"path\":\"deploy\",\"files\":[]}");
	is_int(state_get_manifests(st, "c1", "deploy", &got, &err), 0, "a copy without a checksum (older format): 0");
	state_free(st);
	free(file);
	free(dir);
}

/* ---- a hostile state directory ------------------------------------------------ */

#define VICTIM_TEXT "precious: not the reconciler's\n"

/* A file outside the state directory that a planted link points at. */
static char *mk_victim(const char *name)
{
	char *v = path_in(root, name);
	write_text(v, VICTIM_TEXT);
	return v;
}

static bool victim_intact(const char *v)
{
	char *t = read_text(v);
	bool same = strcmp(t, VICTIM_TEXT) == 0;
	free(t);
	return same;
}

/* A fresh state directory (made by state_open, then closed). */
static char *mk_state(const char *name)
{
	char *dir = path_in(root, name);
	struct rc_state *st = NULL;
	struct rc_err err;
	if (state_open(dir, 0, &st, &err) < 0)
		diag("state_open %s: %s", dir, err.msg);
	state_free(st);
	return dir;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "not ok - hung on a FIFO in the state directory\n";
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(2);
}

static void test_hostile_lock(void)
{
	char *dir = mk_state("h-lock");
	char *victim = mk_victim("victim-lock");
	char *lock = path_in(dir, "lock");
	struct rc_err err;
	struct rc_state *st = NULL;

	ok(symlink(victim, lock) == 0, "lock: plant a symlink to a victim file");
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "lock: a symlinked lock is refused");
	ok(strstr(err.msg, lock) && strstr(err.msg, "symbolic link"), "... naming the file: %s", err.msg);
	ok(victim_intact(victim), "... and the victim is neither truncated nor given a pid");
	is_int(state_open(dir, 0, &st, &err), -1, "lock: a read-only open refuses it too");
	is_int((int)state_lock_holder(dir, NULL), 0, "lock: state_lock_holder does not follow it");
	ok(victim_intact(victim), "... victim still intact");

	/* a dangling link: O_CREAT must not create its target */
	char *target = path_in(root, "created-through-lock");
	unlink(lock);
	ok(symlink(target, lock) == 0, "lock: plant a dangling symlink");
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "lock: a dangling symlinked lock is refused");
	ok(!exists(target), "... and nothing is created behind it");

	/* a hard link to a file of ours elsewhere: the pid would land in it */
	unlink(lock);
	ok(link(victim, lock) == 0, "lock: plant a hard link to a victim file");
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "lock: a lock with two links is refused");
	ok(strstr(err.msg, "hard links") != NULL, "... saying why: %s", err.msg);
	ok(victim_intact(victim), "... victim intact");

	/* a FIFO, a directory */
	unlink(lock);
	ok(mkfifo(lock, 0600) == 0, "lock: a FIFO in place of the lock");
	alarm(20);
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "lock: a FIFO lock is refused (without hanging)");
	alarm(0);
	ok(strstr(err.msg, "FIFO") != NULL, "... saying so: %s", err.msg);
	unlink(lock);
	ok(mkdir(lock, 0700) == 0, "lock: a directory in place of the lock");
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "lock: a directory lock is refused");
	ok(strstr(err.msg, lock) && strstr(err.msg, "directory"), "... naming it: %s", err.msg);
	rmdir(lock);
	st = open_locked(dir);
	ok(st != NULL, "lock: once it is removed, the lock is taken again");
	state_free(st);
	free(target);
	free(lock);
	free(victim);
	free(dir);
}

static void test_hostile_journal(void)
{
	char *dir = mk_state("h-journal");
	char *victim = mk_victim("victim-journal");
	char *j = path_in(dir, "journal.jsonl");
	struct rc_err err;
	struct rc_state *st = NULL;
	struct state_journal_entry e = { 1700000000, "c1", "create", "acme/web", "ok", "created" };
	struct state_journal_record r;

	ok(symlink(victim, j) == 0, "journal: plant a symlink to a victim file");
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "journal: a symlinked journal is refused at open");
	ok(strstr(err.msg, j) && strstr(err.msg, "symbolic link"), "... naming the file: %s", err.msg);
	is_int(state_open(dir, 0, &st, &err), -1, "journal: a read-only open refuses it too");

	/* planted after the open: the append refuses it, as does reading it back */
	unlink(j);
	st = open_locked(dir);
	ok(symlink(victim, j) == 0, "journal: plant the symlink while the state is open");
	is_int(state_journal(st, &e, &err), -1, "journal: the append does not write through it");
	ok(strstr(err.msg, j) && strstr(err.msg, "symbolic link"), "... naming the file: %s", err.msg);
	is_int(state_journal_last(st, "create", &r, &err), -1, "journal: reading back does not follow it");
	ok(victim_intact(victim), "... victim intact");
	unlink(j);
	ok(link(victim, j) == 0, "journal: a hard link to a victim file");
	is_int(state_journal(st, &e, &err), -1, "journal: the append does not write into a file with two links");
	ok(victim_intact(victim), "... victim intact");
	unlink(j);

	/* a FIFO: neither the append nor a reader (status, drift) may hang on it */
	ok(mkfifo(j, 0600) == 0, "journal: a FIFO in place of the journal");
	alarm(20);
	is_int(state_journal_last(st, "create", &r, &err), -1, "journal: reading a FIFO fails at once");
	ok(strstr(err.msg, j) && strstr(err.msg, "FIFO"), "... naming it: %s", err.msg);
	is_int(state_journal(st, &e, &err), -1, "journal: appending to a FIFO fails at once");
	state_free(st);
	is_int(state_open(dir, 0, &st, &err), -1, "journal: an open refuses the FIFO at once");
	ok(strstr(err.msg, "FIFO") != NULL, "... saying so: %s", err.msg);
	alarm(0);
	unlink(j);

	/* a directory; a rotated journal that is a symlink is moved, never followed */
	ok(mkdir(j, 0700) == 0, "journal: a directory in place of the journal");
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "journal: a directory is refused");
	ok(strstr(err.msg, j) && strstr(err.msg, "directory"), "... naming it: %s", err.msg);
	rmdir(j);
	char *j1 = xasprintf("%s.1", j);
	ok(symlink(victim, j1) == 0, "journal: journal.jsonl.1 is a symlink");
	st = open_locked(dir);
	state_set_journal_limit(st, 10, 3);
	is_int(state_journal(st, &e, &err), 0, "journal: append");
	is_int(state_journal(st, &e, &err), 0, "journal: append and rotate past the symlink");
	ok(victim_intact(victim), "... victim intact");
	state_free(st);
	free(j1);
	free(j);
	free(victim);
	free(dir);
}

static void test_hostile_data_files(void)
{
	char *dir = mk_state("h-data");
	char *victim = mk_victim("victim-data");
	char *ap = path_in(dir, "applied.json");
	char *al = path_in(dir, "allocations.json");
	struct rc_err err;
	struct rc_state *st = NULL;
	size_t nw;
	const char *const *w;

	/* a symlinked state file is not read and, by the lock holder, set aside */
	ok(symlink(victim, ap) == 0, "data: applied.json is a symlink to a victim file");
	is_int(state_open(dir, 0, &st, &err), 0, "data: a read-only open carries on");
	w = state_warnings(st, &nw);
	ok(nw == 1 && strstr(w[0], ap) && strstr(w[0], "symbolic link") && strstr(w[0], "ignored"),
	   "... warning: %s", nw ? w[0] : "none");
	state_free(st);
	st = open_locked(dir);
	w = state_warnings(st, &nw);
	ok(nw == 1 && strstr(w[0], "symbolic link") && strstr(w[0], "moved aside"), "data: locked: %s",
	   nw ? w[0] : "none");
	is_int(count_prefix(dir, "applied.json.corrupt."), 1, "data: the link is kept as applied.json.corrupt.<ts>");
	state_set_last_applied(st, "c1");
	is_int(state_save(st, &err), 0, "data: save");
	struct stat sb;
	ok(lstat(ap, &sb) == 0 && S_ISREG(sb.st_mode), "data: applied.json is a regular file again");
	ok(victim_intact(victim), "data: victim intact");

	/* planted while open: the save replaces the link, never writes through it */
	unlink(al);
	ok(symlink(victim, al) == 0, "data: allocations.json made a symlink while open");
	state_set_port(st, "u", 80, "tcp", 20001);
	is_int(state_save(st, &err), 0, "data: save");
	ok(lstat(al, &sb) == 0 && S_ISREG(sb.st_mode) && victim_intact(victim),
	   "data: the save replaced the link, victim intact");
	state_free(st);

	/* a directory and a FIFO in place of state files */
	char *un = path_in(dir, "units.json");
	ok(mkdir(un, 0700) == 0 && unlink(al) == 0 && mkfifo(al, 0600) == 0,
	   "data: units.json a directory, allocations.json a FIFO");
	alarm(20);
	is_int(state_open(dir, 0, &st, &err), 0, "data: read-only open (no hang on the FIFO)");
	state_warnings(st, &nw);
	is_int(nw, 2, "data: two warnings");
	state_free(st);
	st = open_locked(dir);
	alarm(0);
	w = state_warnings(st, &nw);
	ok(nw == 2 && strstr(w[0], "FIFO") && strstr(w[1], "directory"), "data: both set aside: %s / %s",
	   nw > 0 ? w[0] : "", nw > 1 ? w[1] : "");
	is_str(state_get_last_applied(st), "c1", "data: other files unaffected");
	ok(!exists(un) && count_prefix(dir, "units.json.corrupt.") == 1, "data: the directory moved aside");
	is_int(state_save(st, &err), 0, "data: save");
	state_free(st);

	/* manifests.json: damaged; the lock holder moves it aside so the copy can be replaced */
	char *mf = path_in(dir, "manifests.json");
	ok(mkdir(mf, 0700) == 0, "manifests: a directory in place of manifests.json");
	st = open_locked(dir);
	struct source_files got = { 0 };
	is_int(state_get_manifests(st, "c1", "", &got, &err), -1, "manifests: damaged: -1");
	ok(strstr(err.msg, "damaged") && strstr(err.msg, "moved aside"), "... saying so: %s", err.msg);
	struct source_file fv[] = { { (char *)"a.yaml", (char *)"x: 1\n", 5 } };
	struct source_files files = { fv, 1, (char *)"c1" };
	is_int(state_put_manifests(st, &files, "", &err), 0, "manifests: the copy is written again");
	unlink(mf);
	ok(symlink(victim, mf) == 0, "manifests: manifests.json a symlink");
	is_int(state_get_manifests(st, "c1", "", &got, &err), -1, "manifests: a symlink is not followed");
	ok(victim_intact(victim), "manifests: victim intact");
	state_free(st);

	free(mf);
	free(un);
	free(al);
	free(ap);
	free(victim);
	free(dir);
}

static void test_hostile_dir(void)
{
	struct rc_err err;
	struct rc_state *st = NULL;
	char *dir = path_in(root, "h-0777");
	ok(mkdir(dir, 0700) == 0 && chmod(dir, 0777) == 0, "dir: a state directory of mode 0777");
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "dir: refused");
	char *want = xasprintf("state directory '%s' is writable by group or others (mode 0777): chmod 0700 %s", dir,
			       dir);
	is_str(err.msg, want, "dir: the error names the path and the fix");
	free(want);
	is_int(state_open(dir, 0, &st, &err), -1, "dir: refused for a read-only open too");
	ok(count_prefix(dir, "lock") == 0 && count_prefix(dir, "secrets") == 0, "dir: nothing was created in it");
	chmod(dir, 01777);
	is_int(state_open(dir, 0, &st, &err), -1, "dir: sticky 1777 refused too");
	chmod(dir, 0770);
	is_int(state_open(dir, 0, &st, &err), -1, "dir: group-writable 0770 refused");
	chmod(dir, 0755);
	is_int(state_open(dir, 0, &st, &err), 0, "dir: 0755 is fine (not writable by others)");
	state_free(st);
	char *sec = path_in(dir, "secrets");
	chmod(sec, 0777);
	is_int(state_open(dir, 0, &st, &err), -1, "dir: a 0777 secrets/ is refused");
	ok(strstr(err.msg, sec) && strstr(err.msg, "chmod 0700"), "... naming it: %s", err.msg);
	chmod(sec, 0700);
	char *req = path_in(dir, "requests");
	ok(mkdir(req, 0700) == 0 && chmod(req, 0733) == 0, "dir: a requests/ writable by others");
	is_int(state_open(dir, 0, &st, &err), -1, "dir: refused");
	ok(strstr(err.msg, req) != NULL, "... naming it: %s", err.msg);
	char *name = NULL;
	is_int(request_submit(dir, "retry", "", &name, &err), -1, "dir: a request is not submitted into it");
	chmod(req, 0700);

	/* a symlinked state directory and secrets directory */
	char *link_dir = path_in(root, "h-link");
	ok(symlink(dir, link_dir) == 0, "dir: a symlink to a state directory");
	is_int(state_open(link_dir, 0, &st, &err), -1, "dir: a symlinked state directory is refused");
	ok(strstr(err.msg, "symbolic link") && strstr(err.msg, dir), "... giving the real path: %s", err.msg);
	char *other = path_in(root, "h-elsewhere");
	mkdir(other, 0700);
	char *tmp = xasprintf("%s/.x.Ab12Cd", other);
	write_text(tmp, "not ours to remove");
	ok(rmdir(sec) == 0 && symlink(other, sec) == 0, "dir: secrets/ a symlink to another directory");
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "dir: refused");
	ok(strstr(err.msg, sec) && strstr(err.msg, "symbolic link"), "... naming it: %s", err.msg);
	ok(exists(tmp), "dir: nothing removed behind the link");
	unlink(sec);
	mkdir(sec, 0700);

	/* a file in place of the directory */
	char *file_dir = path_in(root, "h-file");
	write_text(file_dir, "x");
	is_int(state_open(file_dir, 0, &st, &err), -1, "dir: a file is not a state directory");
	free(file_dir);
	free(tmp);
	free(other);
	free(link_dir);
	free(req);
	free(sec);
	free(dir);
}

/* state_check_secrets(): what validate, render and diff check before a secret is read; nothing is created */
static void test_check_secrets(void)
{
	struct rc_err err;
	char *dir = path_in(root, "cs");
	char *sec = path_in(dir, "secrets");
	is_int(state_check_secrets(sec, &err), 0, "secrets: no state directory yet is fine");
	ok(!exists(dir), "secrets: and nothing is created");
	mkdir(dir, 0700);
	is_int(state_check_secrets(sec, &err), 0, "secrets: no secrets/ yet is fine");
	ok(!exists(sec), "secrets: and it is not created");
	mkdir(sec, 0700);
	is_int(state_check_secrets(sec, &err), 0, "secrets: 0700 directories pass");
	chmod(sec, 0777);
	is_int(state_check_secrets(sec, &err), -1, "secrets: a 0777 secrets/ is refused");
	ok(strstr(err.msg, sec) && strstr(err.msg, "chmod 0700"), "... naming it and the fix: %s", err.msg);
	chmod(sec, 0700);
	chmod(dir, 0777);
	is_int(state_check_secrets(sec, &err), -1, "secrets: a 0777 state directory is refused");
	ok(strstr(err.msg, dir) && !strstr(err.msg, sec), "... naming it: %s", err.msg);
	chmod(dir, 0700);
	char *other = path_in(root, "cs-elsewhere");
	mkdir(other, 0700);
	ok(rmdir(sec) == 0 && symlink(other, sec) == 0, "secrets: secrets/ a symlink to a 0700 directory of ours");
	is_int(state_check_secrets(sec, &err), -1, "secrets: refused");
	ok(strstr(err.msg, sec) && strstr(err.msg, "symbolic link"), "... naming it: %s", err.msg);
	unlink(sec);
	free(other);
	free(sec);
	free(dir);
}

static void test_hostile_owner(void)
{
	if (geteuid() != 0) {
		ok(1, "# skip foreign owners: not root (cannot chown)");
		return;
	}
	const uid_t nobody = 65534;
	struct rc_err err;
	struct rc_state *st = NULL;
	char *dir = mk_state("h-owner");
	char *ap = path_in(dir, "applied.json");
	st = open_locked(dir);
	state_set_last_applied(st, "c1");
	state_save(st, &err);
	state_free(st);
	ok(chown(ap, nobody, nobody) == 0, "owner: applied.json given to nobody");
	st = open_locked(dir);
	size_t nw;
	const char *const *w = state_warnings(st, &nw);
	ok(nw == 1 && strstr(w[0], "owned by uid 65534") && strstr(w[0], "moved aside"), "owner: set aside: %s",
	   nw ? w[0] : "none");
	ok(state_get_last_applied(st) == NULL, "owner: not read");
	state_free(st);

	char *lock = path_in(dir, "lock");
	ok(chown(lock, nobody, nobody) == 0, "owner: lock given to nobody");
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "owner: a foreign lock is refused");
	ok(strstr(err.msg, lock) && strstr(err.msg, "owned by uid 65534"), "... naming it: %s", err.msg);
	chown(lock, 0, 0);

	char *j = path_in(dir, "journal.jsonl");
	write_text(j, "");
	ok(chown(j, nobody, nobody) == 0, "owner: journal given to nobody");
	is_int(state_open(dir, STATE_OPEN_LOCK, &st, &err), -1, "owner: a foreign journal is refused");
	ok(strstr(err.msg, j) != NULL, "... naming it: %s", err.msg);
	unlink(j);

	ok(chown(dir, nobody, nobody) == 0, "owner: the directory given to nobody");
	is_int(state_open(dir, 0, &st, &err), -1, "owner: a foreign state directory is refused");
	ok(strstr(err.msg, dir) && strstr(err.msg, "owned by uid 65534") && strstr(err.msg, "chown"),
	   "... naming it and the fix: %s", err.msg);
	chown(dir, 0, 0);
	free(j);
	free(lock);
	free(ap);
	free(dir);
}

/* Run request_list with stderr captured; returns how many lines it logged. */
static int list_counting_warnings(const char *dir, size_t *ret_n, int *ret_rc)
{
	char *log = path_in(root, "requests.log");
	fflush(stderr);
	int saved = dup(2);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	struct request *v = NULL;
	struct rc_err err;
	*ret_n = 0;
	*ret_rc = request_list(dir, &v, ret_n, &err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	request_list_free(v, *ret_n);
	int n = count_lines(log);
	char *t = read_text(log);
	ok(strstr(t, "SECRET-BYTES") == NULL, "requests: the bytes of a refused request are not logged");
	free(t);
	free(log);
	return n;
}

static void test_hostile_requests(void)
{
	char *dir = mk_state("h-requests");
	char *victim = mk_victim("victim-request");
	struct rc_err err;
	char *name = NULL;
	is_int(request_submit(dir, "retry", "", &name, &err), 0, "requests: submit one");
	char *req = path_in(dir, "requests");
	char *link_req = xasprintf("%s/1-link.req", req);
	ok(symlink(victim, link_req) == 0, "requests: a symlinked request");
	char *foreign = xasprintf("%s/2-foreign.req", req);
	write_text(foreign, "retry\nSECRET-BYTES\n");
	bool root_user = geteuid() == 0;
	if (root_user)
		ok(chown(foreign, 65534, 65534) == 0, "requests: a request written by nobody");
	else
		unlink(foreign);
	/* ours, but not requests: their bytes are never logged, an odd name is escaped */
	char *garbage = xasprintf("%s/3-garbage.req", req);
	write_text(garbage, "\x1b[2Jretry\nSECRET-BYTES\n");
	char *third = xasprintf("%s/4-third-line.req", req);
	write_text(third, "retry\nabc\nSECRET-BYTES\n");
	char *odd = xasprintf("%s/5-\x1b[31m\nforged.req", req);
	write_text(odd, "enable\nSECRET-BYTES\x1b[0m\n");
	size_t n = 0;
	int rc = 0;
	int logged = list_counting_warnings(dir, &n, &rc);
	ok(rc == 0 && n == 1, "requests: only our own request is listed (%zu)", n);
	is_int(logged, root_user ? 5 : 4, "requests: each refused request is logged, on one line");
	char *log = path_in(root, "requests.log");
	char *t = read_text(log);
	ok(strstr(t, "5-\\x1b[31m\\x0aforged.req") && !strchr(t, '\x1b'), "requests: a file name is logged escaped");
	ok(strstr(t, "3-garbage.req' is not a request (23 bytes") != NULL, "requests: a malformed request is named, not shown");
	free(t);
	free(log);
	logged = list_counting_warnings(dir, &n, &rc);
	ok(rc == 0 && n == 1, "requests: listed again");
	is_int(logged, 0, "requests: ... and not logged a second time");
	ok(victim_intact(victim), "requests: victim intact");

	/* the answer file: a symlink is not followed */
	char *res = xasprintf("%s/%s.res", req, name);
	ok(symlink(victim, res) == 0, "requests: a symlinked answer");
	bool okv = false;
	char *msg = NULL;
	is_int(request_wait(dir, name, 100, &okv, &msg, &err), -1, "requests: the answer is refused");
	ok(strstr(err.msg, res) && strstr(err.msg, "symbolic link"), "... naming it: %s", err.msg);
	unlink(res);

	chmod(req, 0777);
	n = 9;
	int logged1 = list_counting_warnings(dir, &n, &rc);
	ok(rc == -1 && n == 0, "requests: a requests/ writable by others is not read");
	int logged2 = list_counting_warnings(dir, &n, &rc);
	ok(rc == 0 && n == 0 && logged1 == 0 && logged2 == 0, "requests: ... and said once (rc %d)", rc);
	chmod(req, 0700);
	free(res);
	free(foreign);
	free(garbage);
	free(third);
	free(odd);
	free(link_req);
	free(req);
	free(name);
	free(victim);
	free(dir);
}

static void test_prune_units(void)
{
	struct rc_err err = { 0 };
	char *dir = xasprintf("%s/prune", root);
	struct rc_state *st = open_locked(dir);
	ok(st != NULL, "open for pruning");
	struct state_restarts r = { 2, 10, 5 };
	state_set_restarts(st, "gone/web", &r);
	state_set_restarts(st, "kept/web", &r);
	state_set_disabled(st, "gone/worker", 1, "crash loop");
	state_set_disabled(st, "kept/worker", 1, "crash loop");
	state_set_awaiting(st, "gone/db", "h", NULL, 1);
	state_set_awaiting(st, "kept/db", "h", NULL, 1);
	const char *live[] = { "kept/web", "kept/worker", "kept/db" };
	state_prune_units(st, live, 3);
	ok(state_get_restarts(st, "gone/web").failures == 0, "a gone unit's restart counter is forgotten");
	ok(state_get_restarts(st, "kept/web").failures == 2, "a live unit's counter stays");
	ok(!state_is_disabled(st, "gone/worker", NULL), "a gone unit's disabled mark is forgotten");
	ok(state_is_disabled(st, "kept/worker", NULL), "a live unit's mark stays");
	ok(state_get_awaiting(st, "gone/db") == NULL, "a gone unit's awaiting change is forgotten");
	ok(state_get_awaiting(st, "kept/db") != NULL, "a live unit's awaiting change stays");
	is_int(state_save(st, &err), 0, "save after pruning");
	state_free(st);
	st = open_locked(dir);
	ok(st && !state_is_disabled(st, "gone/worker", NULL) && state_is_disabled(st, "kept/worker", NULL),
	   "pruning is saved");
	state_free(st);
	free(dir);
}

int main(void)
{
	if (!mkdtemp(root))
		BUG("mkdtemp: %s", strerror(errno));
	test_open_and_persist();
	test_corrupt();
	test_lock();
	test_allocate_ports();
	test_shared_networks();
	test_reseed();
	test_exhaustion();
	test_journal();
	test_journal_last();
	test_manifests();
	test_lock_holder();
	signal(SIGALRM, on_alarm);
	test_hostile_lock();
	test_hostile_journal();
	test_hostile_data_files();
	test_hostile_dir();
	test_check_secrets();
	test_hostile_owner();
	test_hostile_requests();
	test_prune_units();
	char *cmd = xasprintf("rm -rf '%s'", root);
	if (system(cmd) != 0)
		diag("cannot remove %s", root);
	free(cmd);
	return done_testing();
}
