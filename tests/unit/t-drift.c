/*
 * Unit tests for drift.c (pure parts): findings computed from recorded
 * inspect replies (tests/unit/data/actual) and hand-made list summaries,
 * their rendering against golden files (tests/golden/drift/report.*;
 * GOLDEN_UPDATE=1 rewrites them), the summary line, and the hand-over to
 * the planner for --fix (a resource drift becomes an UPDATE, a network
 * drift a RECREATE).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "docker.h"
#include "drift.h"
#include "manifest.h"
#include "observe.h"
#include "planner.h"
#include "source.h"
#include "spec.h"
#include "tap.h"
#include "util.h"

static const char *top(void)
{
	const char *t = getenv("RC_TOP");
	return t && *t ? t : ".";
}

static char *slurp(const char *path, size_t *len)
{
	char *data = NULL;
	struct rc_err err;
	if (read_file(path, 1 << 20, &data, len, &err) < 0)
		die("%s", err.msg);
	return data;
}

static struct dk_container *load_ct(const char *name)
{
	size_t len;
	_cleanup_free_ char *path = xasprintf("%s/tests/unit/data/actual/%s", top(), name);
	_cleanup_free_ char *json = slurp(path, &len);
	struct dk_container *ct = NULL;
	struct rc_err err;
	if (dk_decode_container(json, len, &ct, &err) < 0)
		die("%s: %s", name, err.msg);
	return ct;
}

static struct rc_desired *load_desired(void)
{
	char sd[] = "/tmp/t-drift.XXXXXX";
	if (!mkdtemp(sd))
		die("mkdtemp");
	_cleanup_free_ char *sp = xasprintf("%s/db_password", sd);
	_cleanup_free_ char *kp = xasprintf("%s/.digest-key", sd);
	struct rc_err err;
	if (write_file_atomic(sp, "s3cret", 6, 0600, &err) < 0)
		die("%s", err.msg);
	/* the key the recorded db.json's secret digest was made with (seckey.h) */
	if (write_file_atomic(kp, "golden-key-0123456789abcdefghijk", 32, 0600, &err) < 0)
		die("%s", err.msg);
	_cleanup_free_ char *dir = xasprintf("%s/tests/unit/data/actual/manifests", top());
	struct source_files files = { 0 };
	if (source_load_dir(dir, &files, &err) < 0)
		die("%s", err.msg);
	struct manifest_opts mo = { .secrets_dir = sd };
	struct rc_diags diags = { 0 };
	struct rc_desired *d = NULL;
	if (manifest_load(&files, &mo, &d, &diags) < 0)
		die("fixture manifests do not load");
	source_files_release(&files);
	rc_desired_unit(d, "c1/app")->ports[0].host_port = 23900;
	free(d->commit);
	d->commit = xstrdup("d71d34fd65eaf524876ae54d8636309282d92930");
	unlink(sp);
	unlink(kp);
	rmdir(sd);
	return d;
}

static void golden(const char *name, const char *got)
{
	_cleanup_free_ char *path = xasprintf("%s/tests/golden/drift/%s", top(), name);
	struct rc_err err;
	if (getenv("GOLDEN_UPDATE")) {
		ok(write_file_atomic(path, got, strlen(got), 0644, &err) == 0, "wrote %s", path);
		return;
	}
	size_t len;
	_cleanup_free_ char *want = slurp(path, &len);
	if (!is_str(got, want, "golden %s", name))
		diag("regenerate with GOLDEN_UPDATE=1 and review with git diff");
}

/* A list summary for an inspected container (what the list call shows). */
static void summary_of(const struct dk_container *ct, struct dk_container_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->id = xstrdup(ct->id);
	s->name = xstrdup(ct->name);
	s->state = xstrdup(ct->state_status);
	s->labels = xcalloc(ct->nlabels + 1, sizeof(*s->labels));
	for (size_t i = 0; i < ct->nlabels; i++) {
		s->labels[i].key = xstrdup(ct->labels[i].key);
		s->labels[i].value = xstrdup(ct->labels[i].value);
	}
	s->nlabels = ct->nlabels;
}

static void set_label(struct dk_container *ct, const char *key, const char *value)
{
	for (size_t i = 0; i < ct->nlabels; i++)
		if (strcmp(ct->labels[i].key, key) == 0) {
			free(ct->labels[i].value);
			ct->labels[i].value = xstrdup(value);
		}
}

static void add_network(struct dk_network_list *l, const char *name, const char *project, const char *cust)
{
	struct dk_network *n = &l->items[l->n++];
	memset(n, 0, sizeof(*n));
	n->id = xasprintf("id-%s", name);
	n->name = xstrdup(name);
	n->labels = xcalloc(3, sizeof(*n->labels));
	if (project) {
		n->labels[n->nlabels].key = xstrdup(RC_LABEL_CUSTOMER);
		n->labels[n->nlabels++].value = xstrdup(cust ? cust : "x");
		n->labels[n->nlabels].key = xstrdup(RC_LABEL_PROJECT);
		n->labels[n->nlabels++].value = xstrdup(project);
	}
}

/* drift_check()'s ways of getting the containers, from its options (drift.h): the first that applies. */
static void test_acquisition(void)
{
	struct observe_raw raw = { 0 };
	struct rc_desired none = { 0 };
	struct drift_inspects *di = drift_inspects_start(NULL, &none, 1, NULL, 0);  /* no client: inspects nothing */
	const char *ids[] = { "abc" };
	static const struct {
		bool inspects, prelisted, known;
		enum drift_acquisition want;
	} cases[] = {
		{ false, false, false, DRIFT_ACQ_LIST },
		{ false, true, false, DRIFT_ACQ_PRELISTED },
		{ true, false, false, DRIFT_ACQ_INSPECTING },
		{ true, true, false, DRIFT_ACQ_INSPECTING },
		{ false, false, true, DRIFT_ACQ_KNOWN_IDS },
		{ false, true, true, DRIFT_ACQ_PRELISTED },   /* known_ids is not used with prelisted */
		{ true, false, true, DRIFT_ACQ_INSPECTING },  /* ... nor with inspects */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct drift_opts o = { .inspects = cases[i].inspects ? di : NULL,
					.prelisted = cases[i].prelisted ? &raw : NULL,
					.known_ids = cases[i].known ? ids : NULL, .nknown = cases[i].known };
		is_str(drift_acquisition_name(drift_acquisition_of(&o)), drift_acquisition_name(cases[i].want),
		       "inspects %d, prelisted %d, known ids %d: %s", cases[i].inspects, cases[i].prelisted,
		       cases[i].known, drift_acquisition_name(cases[i].want));
	}
	drift_inspects_free(di);
}

int main(void)
{
	test_acquisition();
	struct rc_desired *d = load_desired();
	const char *P = d->settings.project;

	/* the engine: db as applied, c1/app drifted (memory, a network), c1/worker
	 * exited, a stray container with our label, a squatter on c1/app's port */
	struct dk_container *cts[5] = {
		load_ct("db.json"), load_ct("c1-app-drifted.json"), load_ct("c1-worker.json"),
		load_ct("c1-worker.json"), NULL,
	};
	free(cts[2]->state_status);
	cts[2]->state_status = xstrdup("exited");
	cts[2]->exit_code = 137;
	free(cts[3]->id);
	cts[3]->id = xstrdup("0000stray");
	free(cts[3]->name);
	cts[3]->name = xstrdup("rtdriftdev-stray");
	set_label(cts[3], RC_LABEL_UNIT, "ghost");
	struct dk_container_list *list = xcalloc(1, sizeof(*list));
	list->items = xcalloc(5, sizeof(struct dk_container_summary));
	list->n = 5;
	for (size_t i = 0; i < 4; i++)
		summary_of(cts[i], &list->items[i]);
	struct dk_container_summary *sq = &list->items[4];
	sq->id = xstrdup("ffffsquat");
	sq->name = xstrdup("squatter");
	sq->state = xstrdup("running");
	sq->ports = xcalloc(1, sizeof(*sq->ports));
	sq->ports[0] = (struct dk_port_summary){ 8080, 23900, xstrdup("tcp"), xstrdup("0.0.0.0") };
	sq->nports = 1;
	struct dk_network_list *nets = xcalloc(1, sizeof(*nets));
	nets->items = xcalloc(5, sizeof(struct dk_network));
	add_network(nets, "bridge", NULL, NULL);
	add_network(nets, "rtdriftdev-backend", P, NULL);
	nets->items[1].internal = true;   /* the manifests say it is not: recreated by hand */
	add_network(nets, "rtdriftdev-c1-via-backend", P, "c1");
	add_network(nets, "rtdriftdev-old", P, "old");
	/* rtdriftdev-c1 is missing */

	size_t ilen;
	_cleanup_free_ char *ipath = xasprintf("%s/tests/unit/data/actual/image.json", top());
	_cleanup_free_ char *ij = slurp(ipath, &ilen);
	struct dk_image *img = NULL;
	struct rc_err err;
	dk_decode_image(ij, ilen, &img, &err);
	const struct dk_image *imgs[1] = { img };
	struct drift_input in = { .d = d, .containers = list, .networks = nets, .inspected = (const struct dk_container *const *)cts, .images = imgs,
				  .nimages = 1 };
	struct drift_report r;
	drift_compute(&in, &r);
	struct drift_summary s;
	drift_summarize(&r, &s);
	is_int(s.total, 7, "seven findings");
	is_int(s.count[DRIFT_CHANGED], 1, "one changed");
	is_int(s.count[DRIFT_STOPPED], 1, "one stopped");
	is_int(s.count[DRIFT_EXTRA], 1, "one extra");
	is_int(s.count[DRIFT_UNMANAGED], 1, "one unmanaged");
	is_int(s.count[DRIFT_NET_MISSING], 1, "one network missing");
	is_int(s.count[DRIFT_NET_EXTRA], 1, "one network extra");
	is_int(s.count[DRIFT_NET_CHANGED], 1, "one network changed (internal)");
	is_int(r.ncontainers, 4, "four of our containers inspected");
	struct buf b = BUF_INIT;
	drift_summary_format(&s, &b);
	is_str(buf_cstr(&b), "7 findings: 1 changed, 1 stopped, 1 extra, 1 unmanaged, 1 network missing, 1 network extra, "
	       "1 network changed", "summary line");
	buf_reset(&b);
	drift_render(&r, DRIFT_TEXT, false, &b);
	golden("report.txt", buf_cstr(&b));
	buf_reset(&b);
	drift_render(&r, DRIFT_MARKDOWN, false, &b);
	golden("report.md", buf_cstr(&b));
	buf_reset(&b);
	drift_render(&r, DRIFT_JSON, false, &b);
	golden("report.json", buf_cstr(&b));

	/* No image config: nothing can be subtracted, the image's env shows up. */
	ok(strstr(buf_cstr(&b), "env.PORT") == NULL, "with the image config the image env is subtracted");
	drift_report_release(&r);
	in.nimages = 0;
	drift_compute(&in, &r);
	buf_reset(&b);
	drift_render(&r, DRIFT_TEXT, false, &b);
	ok(strstr(buf_cstr(&b), "env.PORT: (absent) " "\xe2\x86\x92" " 8080") != NULL,
	   "without the image config the image env is reported");
	drift_report_release(&r);

	/* No drift at all */
	struct dk_container *fresh[3] = { load_ct("db.json"), load_ct("c1-app.json"), load_ct("c1-worker.json") };
	struct dk_container_list *l3 = xcalloc(1, sizeof(*l3));
	l3->items = xcalloc(3, sizeof(struct dk_container_summary));
	l3->n = 3;
	for (size_t i = 0; i < 3; i++)
		summary_of(fresh[i], &l3->items[i]);
	struct dk_network_list *nets2 = xcalloc(1, sizeof(*nets2));
	nets2->items = xcalloc(4, sizeof(struct dk_network));
	add_network(nets2, "rtdriftdev-backend", P, NULL);
	/* no subnet in the manifests: whatever the engine chose is right */
	nets2->items[0].subnets = xcalloc(1, sizeof(char *));
	nets2->items[0].subnets[nets2->items[0].nsubnets++] = xstrdup("172.30.0.0/16");
	add_network(nets2, "rtdriftdev-c1-via-backend", P, "c1");
	add_network(nets2, "rtdriftdev-c1", P, "c1");
	struct drift_input in3 = { .d = d, .containers = l3, .networks = nets2, .inspected = (const struct dk_container *const *)fresh, .images = imgs,
				   .nimages = 1 };
	drift_compute(&in3, &r);
	is_int(r.n, 0, "fresh containers: no drift");
	buf_reset(&b);
	drift_render(&r, DRIFT_TEXT, false, &b);
	golden("none.txt", buf_cstr(&b));
	drift_report_release(&r);

	/* a tag that moved: the unit's reference now names another image than its container runs */
	{
		const struct rc_unit *u1 = rc_desired_unit(d, "c1/app");  /* db and c1/worker use the same image */
		struct plan_image tags[2] = { { .ref = (char *)"other:1", .id = (char *)"sha256:1111" },
					      { .ref = u1->image, .id = (char *)"sha256:2222" } };
		in3.tags = tags;
		in3.ntags = 2;
		drift_compute(&in3, &r);
		is_int(r.n, 3, "moved tag: every unit using the reference (db, c1/app, c1/worker) changed");
		bool found = false, sorted = true, all_changed = true;
		for (size_t k = 0; k < r.n; k++) {
			all_changed = all_changed && r.v[k].kind == DRIFT_CHANGED;
			for (size_t i = 0; i < r.v[k].changes.n; i++) {
				const struct spec_change *c = &r.v[k].changes.v[i];
				if (str_eq(r.v[k].unit, "c1/app") && str_eq(c->key, "image.id"))
					found = str_eq(c->before, "sha256:2222") && str_eq(c->after, fresh[1]->image_id);
				if (i && strcmp(r.v[k].changes.v[i - 1].key, c->key) >= 0)
					sorted = false;
			}
		}
		ok(all_changed, "moved tag: reported as changed");
		ok(found, "moved tag: image.id expected = what the tag names, actual = what runs");
		ok(sorted, "moved tag: changes stay sorted by key");
		drift_report_release(&r);
		tags[1].id = fresh[1]->image_id;
		drift_compute(&in3, &r);
		is_int(r.n, 0, "tag naming the running image: no drift");
		drift_report_release(&r);
		in3.tags = NULL;
		in3.ntags = 0;
	}

	/* a secret's mount replaced: named, never its digest */
	for (size_t i = 0; i < fresh[0]->nmounts; i++)
		if (strcmp(fresh[0]->mounts[i].target, "/run/secrets/db_password") == 0) {
			free(fresh[0]->mounts[i].source);
			fresh[0]->mounts[i].source = xstrdup("/tmp/elsewhere");
		}
	drift_compute(&in3, &r);
	const char *digest = rc_desired_unit(d, "db")->secrets[0].digest;
	for (int f = DRIFT_TEXT; f <= DRIFT_JSON; f++) {
		buf_reset(&b);
		drift_render(&r, (enum drift_format)f, false, &b);
		ok(strstr(buf_cstr(&b), digest) == NULL, "format %d: the secret's digest is never shown", f);
		ok(strstr(buf_cstr(&b), f == DRIFT_JSON ? "\"field\": \"secrets.db_password\", \"secret\": true, "
							 "\"expected\": \"(secret)\", \"actual\": null"
							 : "secret db_password: not mounted") != NULL,
		   "format %d: the secret is named", f);
	}
	drift_report_release(&r);
	dk_container_free(fresh[0]);
	fresh[0] = load_ct("db.json");

	/* --fix: memory changed by hand on c1/app → the planner updates it in place */
	fresh[1]->memory = 64 << 20;
	drift_compute(&in3, &r);
	is_int(r.n, 1, "one finding");
	struct plan_observed po = { 0 };
	po.containers = xcalloc(3, sizeof(*po.containers));
	for (size_t i = 0; i < 3; i++) {
		struct plan_container *pc = &po.containers[po.ncontainers++];
		const struct dk_container *ct = fresh[i];
		pc->id = xstrdup(ct->id);
		pc->name = xstrdup(ct->name);
		pc->unit = xstrdup(dk_label(ct->labels, ct->nlabels, RC_LABEL_UNIT));
		pc->hash = xstrdup(dk_label(ct->labels, ct->nlabels, RC_LABEL_HASH));
		pc->base_hash = xstrdup(dk_label(ct->labels, ct->nlabels, RC_LABEL_BASE_HASH));
		pc->spec = xstrdup(dk_label(ct->labels, ct->nlabels, RC_LABEL_SPEC));
		pc->state = xstrdup("running");
		pc->networks = xcalloc(ct->nnetworks + 2, sizeof(char *));
		for (size_t k = 0; k < ct->nnetworks; k++)
			pc->networks[pc->nnetworks++] = xstrdup(ct->networks[k].name);
		/* recorded before tenant isolation: the shared db joins c1's link network (unit.h, links) */
		if (str_eq(pc->unit, "db"))
			pc->networks[pc->nnetworks++] = xstrdup("rtdriftdev-c1-via-backend");
	}
	po.networks = xcalloc(3, sizeof(*po.networks));
	po.networks[0] = (struct plan_net){ xstrdup("n1"), xstrdup("rtdriftdev-backend"), xstrdup("backend"), NULL, false };
	po.networks[1] = (struct plan_net){ xstrdup("n2"), xstrdup("rtdriftdev-c1"), xstrdup("c1"), NULL, false };
	po.networks[2] = (struct plan_net){ xstrdup("n3"), xstrdup("rtdriftdev-c1-via-backend"), xstrdup("c1-via-backend"),
					    NULL, false };
	po.nnetworks = 3;
	struct plan p;
	planner_plan(d, &po, &p, &err);
	is_int(p.n, 0, "the labels alone hide the drift from the planner");
	plan_release(&p);
	drift_overlay_observed(&r, &po);
	planner_plan(d, &po, &p, &err);
	is_int(p.n, 1, "with the overlay: one action");
	if (p.n == 1) {
		is_int(p.v[0].kind, PLAN_UPDATE, "an in-place update");
		is_str(p.v[0].unit, "c1/app", "of c1/app");
	}
	plan_release(&p);
	drift_report_release(&r);

	/* a network disconnected by hand → recreate */
	struct dk_container *dr = load_ct("c1-app-drifted.json");
	dr->memory = fresh[1]->memory = 50331648;
	free(dr->id);
	dr->id = xstrdup(fresh[1]->id); /* recorded from a later container of the unit */
	struct dk_container *swap = fresh[1];
	fresh[1] = dr;
	drift_compute(&in3, &r);
	fresh[1] = swap;
	is_int(r.n, 1, "network drift: one finding");
	if (r.n == 1)
		is_str(r.v[0].changes.n ? r.v[0].changes.v[0].key : "", "networks.1", "network drift: networks.1");
	drift_overlay_observed(&r, &po);
	planner_plan(d, &po, &p, &err);
	is_int(p.n, 1, "network drift: one action");
	if (p.n == 1) {
		is_int(p.v[0].kind, PLAN_RECREATE, "a recreate");
	}
	plan_release(&p);
	drift_report_release(&r);
	dk_container_free(dr);
	plan_observed_release(&po);

	for (size_t i = 0; i < 3; i++)
		dk_container_free(fresh[i]);
	dk_container_list_free(list);
	dk_container_list_free(l3);
	dk_network_list_free(nets);
	dk_network_list_free(nets2);
	for (size_t i = 0; i < 4; i++)
		dk_container_free(cts[i]);
	dk_image_free(img);
	buf_release(&b);
	rc_desired_free(d);
	return done_testing();
}
