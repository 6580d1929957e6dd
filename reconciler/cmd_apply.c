/*
 * cmd_apply.c — `reconciler plan`, `apply` and `status`: load the desired
 * state, observe the engine, allocate, plan, and (apply) execute.  Thin:
 * the work is in converge.c (observe, allocate, plan, apply, record).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "buf.h"
#include "cli.h"
#include "converge.h"
#include "docker.h"
#include "drift.h"
#include "health.h"
#include "manifest.h"
#include "observe.h"
#include "owner.h"
#include "planfile.h"
#include "planner.h"
#include "prefetch.h"
#include "report.h"
#include "source.h"
#include "spec.h"
#include "state.h"

struct session {
	struct source_files files;
	struct rc_desired *d;
	struct dk_client *c;
	struct rc_state *st;
	struct owner_self self;     /* who we are for the project (owner.h) */
	struct owner_marker owner;  /* the project's ownership marker as seen */
	struct converge cv;
	/* plan and apply refresh: what drifted (inspects), made visible to the planner */
	struct drift_report refresh;
	bool refreshed;
	struct rc_desired *refresh_d;  /* the desired state the refresh checked against: a second
	                                * expansion (drift_check allocates into what it is given, and
	                                * allocating one rc_desired twice reads its subnets as fixed) */
	int64_t t_load;
	struct swarm_look swarm;    /* status on a swarm: nodes, tasks, services (look_at_units()) */
	bool swarm_looked;
};

static void session_close(struct session *s)
{
	owner_marker_release(&s->owner);
	owner_self_release(&s->self);
	converge_release(&s->cv);
	swarm_look_release(&s->swarm);
	if (s->refreshed)
		drift_report_release(&s->refresh);
	rc_desired_free(s->refresh_d);
	state_free(s->st);
	dk_client_free(s->c);
	rc_desired_free(s->d);
	source_files_release(&s->files);
	memset(s, 0, sizeof(*s));
}

static int fail(const char *what, const struct rc_err *err)
{
	fprintf(stderr, "reconciler: %s: %s\n", what, err->msg);
	return 1;
}

/* apply's exit code when the engine failed (docker.h, "Engine faults"): nothing is decided. */
#define EXIT_ENGINE_FAULT 3

/* The engine failed under `apply`: say that this is no verdict on the commit.  Returns the exit code. */
static int engine_fault(const char *commit, const char *what)
{
	fprintf(stderr, "reconciler: the engine failed (%s); nothing is decided about commit %.12s: run apply "
			"again once the engine answers\n", what, commit ? commit : "(directory)");
	return EXIT_ENGINE_FAULT;
}

/*
 * The --path of the last apply from Git recorded in the state directory
 * (malloc'ed), or NULL: none recorded, no state directory yet, or one that
 * cannot be read (session_open() reports that when it opens it).
 */
static char *path_of_last_apply(const char *state_dir)
{
	struct rc_state *st = NULL;
	struct rc_err err = { 0 };
	if (state_open(state_dir, 0, &st, &err) < 0)
		return NULL;
	const char *p = state_get_path(st);
	char *ret = p && *p ? xstrdup(p) : NULL;
	state_free(st);
	return ret;
}

/* What a session is for: the project's owner refuses plan and apply from another state directory. */
enum session_kind { SESSION_STATUS, SESSION_PLAN, SESSION_APPLY };

/*
 * The project's owner (owner.h), before anything is planned: plan and apply
 * are refused (1, after printing why) when another state directory owns the
 * project, unless --take-over; status only mentions it.
 */
static int check_owner(const struct cli_opts *o, enum session_kind kind, struct session *s)
{
	struct rc_err err = { 0 };
	_cleanup_free_ char *repo = cli_repo_identity(o);
	if (owner_self_init(&s->self, s->d->settings.project, state_dir(s->st), repo, &err) < 0)
		return fail("project owner", &err);
	int r = owner_check(s->c, &s->self, kind != SESSION_STATUS && o->take_over, &s->owner, &err);
	if (r < 0)
		return fail("project owner", &err);
	if (r == 0)
		return 0;
	if (kind == SESSION_STATUS) {
		_cleanup_free_ char *who = owner_describe(&s->owner);
		log_warn("project '%s' is owned by %s, not by this state directory: plan, apply and drift --fix "
			 "with it are refused (see --take-over)", s->self.project, who);
		return 0;
	}
	fprintf(stderr, "reconciler: %s\n", err.msg);
	return 1;
}

/*
 * Load, connect, check the project's owner, observe, allocate, plan
 * (converge.h).  Returns 0, or the exit code after printing the error.
 * kind SESSION_APPLY takes the state directory's lock.  Without --path (and
 * --dir), the manifests are read under the --path of the last apply, as
 * drift reads them (`--path .`: the root).
 */
static void refresh_overlay(struct plan_observed *o, void *ctx)
{
	drift_overlay_observed(ctx, o);
}

/*
 * What the refresh hands the planner: the fields changed by hand, minus network
 * membership (networks.*) — a container off a network whose recreation is
 * planned is reconnected by it, and a shared service on a link network of a
 * customer going away is disconnected by the network's removal; replacing the
 * container for either would be wrong.  A container disconnected by hand is
 * drift's to report and drift --fix's to repair.
 */
static void refresh_drop_networks(struct drift_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct spec_changes *ch = &r->v[i].changes;
		size_t keep = 0;
		for (size_t k = 0; k < ch->n; k++) {
			if (str_startswith(ch->v[k].key, "networks.")) {
				free(ch->v[k].key);
				free(ch->v[k].before);
				free(ch->v[k].after);
			} else {
				ch->v[keep++] = ch->v[k];
			}
		}
		ch->n = keep;
	}
}

/*
 * A disabled unit stays stopped until `reconciler enable`, whoever converges:
 * plan, apply and status hold back the work that would bring it (and what
 * depends on it) up, as the daemon does (converge_hold_disabled()), and say
 * so once — status shows it in its table instead.
 */
static void hold_disabled(const struct cli_opts *o, enum session_kind kind, struct session *s)
{
	struct buf why = BUF_INIT, ids = BUF_INIT;
	if (converge_hold_disabled(&s->cv, s->st, &why) && kind != SESSION_STATUS && !o->quiet) {
		for (size_t i = 0; i < s->cv.held.n; i++) {
			const char *u = s->cv.held.v[i].unit;
			bool said = false;
			for (size_t j = 0; j < i && !said; j++)
				said = str_eq(s->cv.held.v[j].unit, u);
			if (u && !said && state_is_disabled(s->st, u, NULL))
				buf_addf(&ids, "%s%s", ids.len ? ", " : "", u);
		}
		if (ids.len)
			fprintf(stderr, "reconciler: left stopped while disabled (`reconciler enable UNIT` brings it back): %s\n",
				buf_cstr(&ids));
		if (why.len)
			fprintf(stderr, "reconciler: held back behind disabled units: %s\n", buf_cstr(&why));
	}
	buf_release(&why);
	buf_release(&ids);
}

static int session_open(const struct cli_opts *o, enum session_kind kind, struct session *s)
{
	bool lock = kind == SESSION_APPLY;
	struct rc_err err = { 0 };
	struct observe_raw raw = { 0 };
	/* connecting, the version check and the two list calls run while the manifests load */
	struct prefetch *pf = prefetch_start(&(struct prefetch_opts){ .docker_host = o->docker_host, .lists = true });
	int64_t t = now_ns();
	struct cli_opts lo = *o;
	_cleanup_free_ char *last_path = NULL;
	if (!o->dir && (!o->path || !*o->path) && (last_path = path_of_last_apply(o->state_dir))) {
		log_info("manifests under '%s' (the --path of the last apply; --path . for the root)", last_path);
		lo.path = last_path;
	}
	o = &lo;
	int rc = cli_load_desired(o, &s->files, &s->d);
	s->t_load = now_ns() - t;
	if (prefetch_finish(pf, &s->c, &raw, NULL, &err) < 0) {
		if (rc)
			return rc;
		if (lock && err.engine_fault)
			return engine_fault(s->d ? s->d->commit : NULL, err.msg);
		fprintf(stderr, "reconciler: %s\n", err.msg);
		return 1;
	}
	if (rc) {
		observe_raw_release(&raw);
		return rc;
	}
	if (state_open(o->state_dir, lock ? STATE_OPEN_LOCK : 0, &s->st, &err) < 0) {
		observe_raw_release(&raw);
		return fail("state directory", &err);
	}
	size_t nw = 0;
	const char *const *w = state_warnings(s->st, &nw);
	for (size_t i = 0; i < nw; i++)
		log_warn("%s", w[i]);
	if ((rc = check_owner(o, kind, s)) != 0) {
		observe_raw_release(&raw);
		return rc;
	}
	int r;
	if (kind != SESSION_STATUS && !o->no_refresh && s->d->settings.engine != RC_ENGINE_SWARM) {
		/* (a swarm's services tell a change by hand themselves: swarm.h) */
		/* refresh, as terraform does: inspect every container, so that a change made by hand
		 * (docker update, a network disconnected) is planned back like drift --fix would */
		struct drift_summary sum;
		struct drift_opts dro = { .parallel = o->parallel, .prelisted = &raw, .prelisted_everything = true };
		if (cli_expand_desired(o, &s->files, &s->refresh_d) != 0) {
			observe_raw_release(&raw);
			return 1;
		}
		r = drift_check(s->c, s->st, s->refresh_d, &dro, &s->refresh, &sum, &err);
		observe_raw_release(&raw);
		if (r == 0) {
			s->refreshed = true;
			refresh_drop_networks(&s->refresh);
			r = converge_plan_adjusted(&s->cv, s->d, s->c, s->st, refresh_overlay, &s->refresh, &err);
		}
	} else {
		r = converge_plan_prefetched(&s->cv, s->d, s->c, s->st, &raw, &err);
	}
	if (r < 0) {
		if (lock && err.engine_fault)
			return engine_fault(s->d->commit, err.msg);
		fprintf(stderr, "reconciler: %s\n", err.msg);
		return 1;
	}
	for (size_t i = 0; i < s->cv.obs.plan.nwarnings; i++)
		log_warn("%s", s->cv.obs.plan.warnings[i]);  /* e.g. a registry that did not answer */
	hold_disabled(o, kind, s);
	return cli_report_conflicts(&s->cv.plan);
}

int cli_report_conflicts(const struct plan *p)
{
	if (!p->nconflicts)
		return 0;
	for (size_t i = 0; i < p->nconflicts; i++)
		fprintf(stderr, "reconciler: conflict: %s\n", p->conflicts[i]);
	fprintf(stderr, "reconciler: %zu conflict%s with objects reconciler does not manage; nothing was changed\n",
		p->nconflicts, p->nconflicts == 1 ? "" : "s");
	return 1;
}

int cli_report_failures(const struct apply_result *ar, const char *what)
{
	if (!ar->nfailed)
		return 0;
	fprintf(stderr, "reconciler: %s failed for %zu unit%s:\n", what, ar->nfailed, ar->nfailed == 1 ? "" : "s");
	for (size_t i = 0; i < ar->nsteps; i++)
		if (ar->steps[i].status == APPLY_FAILED || ar->steps[i].status == APPLY_SKIPPED)
			fprintf(stderr, "  %-8s %s: %s\n", apply_status_name(ar->steps[i].status), ar->steps[i].what,
				ar->steps[i].msg ? ar->steps[i].msg : "");
	return 1;
}

static void print_stats(const struct session *s, const struct apply_result *ar)
{
	fprintf(stderr, "phases: load %.1f ms (engine list calls alongside), observe %.1f ms, plan %.1f ms", (double)s->t_load / NS_PER_MS,
		(double)s->cv.t_observe / NS_PER_MS, (double)s->cv.t_plan / NS_PER_MS);
	if (ar)
		fprintf(stderr, ", teardown %.1f ms, rollout (networks included) %.1f ms, network removal %.1f ms",
			(double)ar->phase_ns[0] / NS_PER_MS, (double)ar->phase_ns[1] / NS_PER_MS, (double)ar->phase_ns[2] / NS_PER_MS);
	fprintf(stderr, "\ndocker api calls: %llu (%llu mutating)\n", (unsigned long long)dk_stats_total(s->c),
		(unsigned long long)dk_stats_mutating(s->c));
	for (int op = 0; op < DK_OP__MAX; op++) {
		uint64_t n = dk_stats_get(s->c, (enum dk_op)op);
		if (n)
			fprintf(stderr, "  %-20s %llu\n", dk_op_name((enum dk_op)op), (unsigned long long)n);
	}
}

static bool use_color(const struct cli_opts *o)
{
	const char *nc = getenv("NO_COLOR");
	return !o->json && !o->markdown && isatty(STDOUT_FILENO) && !(nc && *nc);
}

static void render_plan(const struct cli_opts *o, const struct session *s, enum report_format fmt, bool color,
			struct buf *out)
{
	struct report_input in = { .plan = &s->cv.plan, .desired = s->d, .observed = &s->cv.obs.plan, .to = s->d->commit };
	struct report_opts ro = { .format = fmt, .color = color };
	(void)o;
	/* the fields the refresh found changed by hand: the plan says those changes are drift */
	_cleanup_free_ const char **drifted = NULL;
	size_t nd = 0, cap = 0;
	for (size_t i = 0; s->refreshed && i < s->refresh.n; i++) {
		const struct drift_item *it = &s->refresh.v[i];
		if (it->kind != DRIFT_CHANGED || !it->unit)
			continue;
		for (size_t k = 0; k < it->changes.n; k++) {
			GROW(drifted, 2 * (nd + 1), cap);
			drifted[2 * nd] = it->unit;
			drifted[2 * nd + 1] = it->changes.v[k].key;
			nd++;
		}
	}
	in.drifted = drifted;
	in.ndrifted = nd;
	report_render(&in, &ro, out);
}

int cmd_plan(const struct cli_opts *o)
{
	struct session s = { 0 };
	if (o->json && o->markdown) {
		fprintf(stderr, "reconciler: --json and --markdown cannot be used together\n");
		return 1;
	}
	int rc = session_open(o, SESSION_PLAN, &s);
	if (rc == 0) {
		struct buf out = BUF_INIT;
		enum report_format fmt = o->json ? REPORT_JSON : o->markdown ? REPORT_MARKDOWN : REPORT_TEXT;
		render_plan(o, &s, fmt, use_color(o), &out);
		fputs(buf_cstr(&out), stdout);
		if (o->out) {
			struct buf js = BUF_INIT;
			struct rc_err err = { 0 };
			char dig[RC_HASH_HEX_LEN + 1];
			observe_digest(&s.cv.obs, dig);
			render_plan(o, &s, REPORT_JSON, false, &js);
			if (planfile_write(o->out, s.d->commit, dig, buf_cstr(&js), &err) < 0)
				rc = fail("writing the plan", &err);
			buf_release(&js);
		}
		buf_release(&out);
		if (rc == 0)
			rc = s.cv.plan.n ? 2 : 0;
		if (o->stats)
			print_stats(&s, NULL);
	}
	session_close(&s);
	return rc;
}

/* apply --plan FILE: refuse unless the commit and the observed state are those the plan was made from. */
static int check_reviewed_plan(const struct cli_opts *o, const struct session *s)
{
	struct planfile pf = { 0 };
	struct rc_err err = { 0 };
	if (planfile_read(o->plan_file, &pf, &err) < 0)
		return fail("reading the plan", &err);
	int rc = 0;
	char dig[RC_HASH_HEX_LEN + 1];
	observe_digest(&s->cv.obs, dig);
	if (!str_eq(pf.commit, s->d->commit)) {
		fprintf(stderr, "reconciler: the plan in '%s' was made for commit %.12s, but the manifests are at %.12s: "
				"run `reconciler plan --out` again and review it; nothing was changed\n",
			o->plan_file, pf.commit ? pf.commit : "(directory)", s->d->commit ? s->d->commit : "(directory)");
		rc = 1;
	} else if (strcmp(pf.observed_digest, dig) != 0) {
		fprintf(stderr, "reconciler: the engine changed since the plan in '%s' was made "
				"(containers or networks differ): run `reconciler plan --out` again and review it; "
				"nothing was changed\n", o->plan_file);
		rc = 1;
	} else {
		/* same commit, same engine: the plan must still be the one reviewed (another --path,
		 * other secret contents or allocations would make another) */
		struct buf js = BUF_INIT;
		char now[RC_HASH_HEX_LEN + 1];
		render_plan(o, s, REPORT_JSON, false, &js);
		planfile_plan_digest(buf_cstr(&js), now);
		buf_release(&js);
		if (strcmp(pf.plan_digest, now) != 0) {
			fprintf(stderr, "reconciler: the plan apply would run is not the one in '%s' (same commit and "
					"engine, but other manifests under another --path, other secret contents or "
					"allocations, or a pull: always tag that moved in its registry): run `reconciler plan --out` again and review it; nothing was changed\n",
				o->plan_file);
			rc = 1;
		}
	}
	planfile_release(&pf);
	return rc;
}

int cmd_apply(const struct cli_opts *o)
{
	struct session s = { 0 };
	struct rc_err err = { 0 };
	int rc = session_open(o, SESSION_APPLY, &s);
	if (rc) {
		session_close(&s);
		return rc;
	}
	if (o->plan_file && (rc = check_reviewed_plan(o, &s)) != 0) {
		session_close(&s);
		return rc;
	}
	bool refused = false;
	if (converge_claim(&s.cv, s.c, s.st, &s.self, &s.owner, o->take_over, &refused, &err) < 0) {
		fprintf(stderr, "reconciler: %s%s\n", refused ? "" : "project owner: ", err.msg);
		session_close(&s);
		return 1;
	}
	if (owner_judge(&s.self, &s.owner) == OWNER_FOREIGN && !o->quiet) {
		_cleanup_free_ char *prev = owner_describe(&s.owner);
		fprintf(stderr, "reconciler: took over project '%s' from %s\n", s.self.project, prev);
	}
	/* --json: stdout holds the document only (spec/apply-json.md) */
	bool text = !o->quiet && !o->json;
	struct apply_opts ao = { .parallel = o->parallel, .progress = text, .progress_line = true };
	struct apply_result ar = { 0 };
	if (s.cv.plan.n == 0 && text)
		printf("No changes.\n");
	converge_apply(&s.cv, s.c, s.st, &ao, &ar);
	if (state_save(s.st, &err) < 0) {
		fprintf(stderr, "reconciler: saving state: %s\n", err.msg);
		rc = 1;
	}
	if (cli_report_failures(&ar, "apply")) {
		rc = 1;
		for (size_t i = 0; i < ar.nsteps && ar.nfaults; i++)
			if (ar.steps[i].engine_fault) {
				rc = engine_fault(s.d->commit, ar.steps[i].msg ? ar.steps[i].msg : ar.steps[i].what);
				break;
			}
	} else if (s.cv.plan.n && text) {
		printf("Applied: %zu step%s", ar.nsteps, ar.nsteps == 1 ? "" : "s");
		if (ar.nawaiting)
			printf(", %zu awaiting approval", ar.nawaiting);
		printf(".\n");
		if (ar.slowest_unit)
			printf("Slowest to become ready: %s (%.1fs).\n", ar.slowest_unit, (double)ar.slowest_ns / NS_PER_S);
	}
	if (o->stats)
		print_stats(&s, s.cv.plan.n ? &ar : NULL);
	if (o->json) {
		struct buf js = BUF_INIT;
		struct apply_json_info ji = { .project = s.d->settings.project, .commit = s.d->commit,
					      .planned = s.cv.plan.n, .exit_code = rc };
		apply_result_json(&ar, &ji, &js);
		fputs(buf_cstr(&js), stdout);
		buf_release(&js);
	}
	apply_result_release(&ar);
	session_close(&s);
	return rc;
}

static const struct plan_container *find_container(const struct plan_observed *o, const char *unit)
{
	const struct plan_container *best = NULL;
	for (size_t i = 0; i < o->ncontainers; i++)
		if (str_eq(o->containers[i].unit, unit) && (!best || str_eq(o->containers[i].state, "running")))
			best = &o->containers[i];
	return best;
}

/*
 * What the list does not tell: Docker holds no health for units with `http`
 * checks, so status probes each running one once (a few at a time, the
 * check's timeout capped at STATUS_PROBE_CAP_MS); and why a container that
 * should run does not (exit code, OOM) is in its inspect.  One parallel
 * inspect of just those containers.
 */
#define STATUS_PROBE_CAP_MS 2000
#define STATUS_PROBE_THREADS 8

struct unit_look {
	bool inspected;         /* the container's inspect answered: the fields below are filled */
	int64_t up_s;           /* running: seconds since its start (State.StartedAt); -1 unknown */
	int restart_count;      /* the engine's restarts of this container (RestartCount) */
	const char *health;     /* http checks: "healthy", "unhealthy"; NULL: not probed */
	bool stopped;           /* desired running, container there but not running: */
	int exit_code;
	bool oom_killed;
	char why_stopped[128];  /* health_exit_reason(), "created but never started", "dead" */
	/* a job (run: once) whose container exited: "completed" (exit 0) or "failed"; NULL otherwise.
	 * The record is the kept container itself: its spec hash label, State.ExitCode, FinishedAt. */
	const char *job;
	char finished[32];      /* State.FinishedAt to the second, "2026-12-06T19:40:01Z" */
};

struct look_job {
	const struct rc_unit *u;
	const struct dk_container *ct;  /* NULL: not inspected */
	struct unit_look *look;
};

struct look_pool {
	struct look_job *jobs;
	size_t n;
	atomic_size_t next;
	bool local;  /* the engine is on this host: a unit with idle is probed from inside its namespace */
};

/* "2026-12-06T18:10:32.123456789Z" (the engine's StartedAt) to Unix seconds. */
static bool parse_rfc3339(const char *s, int64_t *ret)
{
	struct tm tm = { 0 };
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
			 &tm.tm_min, &tm.tm_sec) != 6 || tm.tm_year < 1971)
		return false;  /* the zero time of a container never started: 0001-01-01T00:00:00Z */
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*ret = (int64_t)timegm(&tm);
	return true;
}

/* "45s", "12m", "3h12m", "5d3h"; "-" when unknown. */
static void fmt_uptime(int64_t s, char out[48])
{
	if (s < 0)
		snprintf(out, 48, "-");
	else if (s < 60)
		snprintf(out, 48, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, 48, "%lldm", (long long)(s / 60));
	else if (s < 86400)
		snprintf(out, 48, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(out, 48, "%lldd%lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

static void *probe_worker(void *p)
{
	struct look_pool *pool = p;
	for (;;) {
		size_t i = atomic_fetch_add(&pool->next, 1);
		if (i >= pool->n)
			return NULL;
		struct look_job *j = &pool->jobs[i];
		char why[128];
		/* a unit that may sleep: not traffic that keeps it awake (as the daemon's own probes) */
		bool inside = pool->local && j->u->idle_after_ns > 0;
		if (j->ct && j->u->health.kind == RC_HEALTH_HTTP && str_eq(j->ct->state_status, "running"))
			j->look->health =
				apply_http_probe(j->ct, j->u, STATUS_PROBE_CAP_MS, inside, why, sizeof why, NULL) == 1
					? "healthy" : "unhealthy";
	}
}

/* Fill looks[i] for the units with a running `http` check and those that should run but do not. */
static void look_at_units(struct session *s, struct unit_look *looks)
{
	size_t n = 0;
	struct look_job *jobs = xcalloc(s->d->nunits + 1, sizeof(*jobs));
	const char **ids = xcalloc(s->d->nunits + 1, sizeof(*ids));
	bool swarm = s->d->settings.engine == RC_ENGINE_SWARM;
	if (swarm) {  /* a swarm's "containers" are services: their nodes and tasks are looked at instead */
		struct rc_err terr = { 0 };
		if (observe_swarm_look(s->c, s->d, &s->swarm, &terr) == 0)
			s->swarm_looked = true;
		else
			log_warn("the swarm's nodes and tasks: %s", terr.msg);
	}
	/* every container is inspected: uptime and restarts (one call each, 8 at once) */
	for (size_t i = 0; i < s->d->nunits; i++) {
		const struct rc_unit *u = &s->d->units[i];
		const struct plan_container *pc = find_container(&s->cv.obs.plan, u->id);
		looks[i].up_s = -1;
		if (!pc || swarm)
			continue;
		jobs[n] = (struct look_job){ u, NULL, &looks[i] };
		ids[n++] = pc->id;
	}
	struct dk_inspect_result *res = xcalloc(n + 1, sizeof(*res));
	struct rc_err err = { 0 };
	if (n)
		(void)dk_inspect_many(s->c, ids, n, 8, res, &err);  /* one that fails shows nothing */
	for (size_t k = 0; k < n; k++) {
		const struct dk_container *ct = jobs[k].ct = res[k].container;
		struct unit_look *l = jobs[k].look;
		const char *st = ct ? ct->state_status : NULL;
		if (ct) {
			l->inspected = true;
			l->restart_count = ct->restart_count;
			int64_t t0;
			if (str_eq(st, "running") && parse_rfc3339(ct->started_at, &t0))
				l->up_s = (int64_t)time(NULL) - t0;
		}
		if (!ct || str_eq(st, "running") || !jobs[k].u->running)
			continue;
		if (jobs[k].u->job && str_eq(st, "exited")) {
			l->job = ct->exit_code == 0 ? "completed" : "failed";
			l->exit_code = ct->exit_code;
			snprintf(l->finished, sizeof l->finished, "%.19sZ", ct->finished_at ? ct->finished_at : "");
			if (ct->exit_code == 0)
				continue;  /* done, not stopped */
		}
		l->stopped = true;
		l->exit_code = ct->exit_code;
		l->oom_killed = ct->oom_killed;
		if (str_eq(st, "created"))
			snprintf(l->why_stopped, sizeof l->why_stopped, "created but never started");
		else if (str_eq(st, "dead"))
			snprintf(l->why_stopped, sizeof l->why_stopped, "dead");
		else
			health_exit_reason(ct->exit_code, ct->oom_killed, l->why_stopped, sizeof l->why_stopped);
	}
	struct look_pool pool = { .jobs = jobs, .n = n, .local = dk_client_local(s->c) };
	atomic_init(&pool.next, 0);
	pthread_t th[STATUS_PROBE_THREADS];
	size_t nth = 0;
	for (; nth < STATUS_PROBE_THREADS && nth + 1 < n; nth++)
		if (pthread_create(&th[nth], NULL, probe_worker, &pool) != 0)
			break;
	probe_worker(&pool);
	for (size_t t = 0; t < nth; t++)
		pthread_join(th[t], NULL);
	dk_inspect_results_release(res, n);
	free(res);
	free(ids);
	free(jobs);
}

static void iso_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "%lld", (long long)t);
}




/* The daemon's last look at unit (units.json "health"): the status fields it adds, or nulls. */
static void status_json_health(struct buf *b, const struct rc_state *st, const char *unit)
{
	struct state_health h;
	if (!state_get_health(st, unit, &h)) {
		buf_adds(b, ", \"last_check\": null, \"last_check_result\": null, \"probe_latency_ms\": null, "
			    "\"next_repair\": null");
		return;
	}
	char when[32];
	iso_time(h.last_check, when);
	buf_addf(b, ", \"last_check\": \"%s\", \"last_check_result\": ", when);
	buf_add_json_str_or_null(b, h.result);
	if (h.probe_ms >= 0)
		buf_addf(b, ", \"probe_latency_ms\": %lld", (long long)h.probe_ms);
	else
		buf_adds(b, ", \"probe_latency_ms\": null");
	if (h.next_repair) {
		iso_time(h.next_repair, when);
		buf_addf(b, ", \"next_repair\": \"%s\"", when);
	} else {
		buf_adds(b, ", \"next_repair\": null");
	}
}

/* The daemon's last look at unit, as a line under the unit's (nothing when it recorded none). */
static void status_text_health(const struct rc_state *st, const char *unit)
{
	struct state_health h;
	if (!state_get_health(st, unit, &h))
		return;
	char when[32], rep[32];
	iso_time(h.last_check, when);
	printf("  checked %s: %s", when, h.result ? h.result : "-");
	if (h.probe_ms >= 0)
		printf("; probe %lld ms", (long long)h.probe_ms);
	if (h.next_repair) {
		iso_time(h.next_repair, rep);
		printf("; next repair %s", rep);
	}
	printf("\n");
}

/* status --json's head: the format, the project, the commits and the daemon's pid. */
static void status_json_head(const struct session *s, struct buf *b)
{
	buf_adds(b, "{\n  \"format\": \"reconciler-status\",\n  \"version\": 1,\n  \"project\": ");
	buf_add_json_str(b, s->d->settings.project);
	buf_adds(b, ",\n  \"commit\": ");
	buf_add_json_str_or_null(b, s->d->commit);
	buf_adds(b, ",\n  \"last_applied\": ");
	buf_add_json_str_or_null(b, state_get_last_applied(s->st));
	buf_adds(b, ",\n  \"last_good\": ");
	buf_add_json_str_or_null(b, state_get_last_good(s->st));
	bool daemon = false;
	long holder = state_lock_holder(state_dir(s->st), &daemon);
	if (daemon && holder > 0)
		buf_addf(b, ",\n  \"daemon_pid\": %ld", holder);
	else
		buf_adds(b, ",\n  \"daemon_pid\": null");
}

/* status --json's "last_drift_check": the journal's last drift check, or null. */
static void status_json_drift(const struct session *s, struct buf *b)
{
	struct state_journal_record jr;
	struct rc_err err = { 0 };
	buf_adds(b, ",\n  \"last_drift_check\": ");
	if (state_journal_last(s->st, "drift", &jr, &err) != 1) {
		buf_adds(b, "null");
		return;
	}
	buf_adds(b, "{\"time\": ");
	buf_add_json_str_or_null(b, jr.time);
	buf_adds(b, ", \"commit\": ");
	buf_add_json_str_or_null(b, jr.commit);
	buf_adds(b, ", \"result\": ");
	buf_add_json_str_or_null(b, jr.result);
	buf_adds(b, ", \"message\": ");
	buf_add_json_str_or_null(b, jr.message);
	buf_adds(b, "}");
	state_journal_record_release(&jr);
}

/* status --json's "failed_commits": the commits marked failed, when and why. */
static void status_json_failed(const struct session *s, struct buf *b)
{
	size_t nf = 0;
	const struct state_failed_commit *fc = state_failed_commits(s->st, &nf);
	buf_adds(b, ",\n  \"failed_commits\": [");
	for (size_t i = 0; i < nf; i++) {
		char when[32];
		iso_time(fc[i].time, when);
		buf_adds(b, i ? ", {\"commit\": " : "{\"commit\": ");
		buf_add_json_str(b, fc[i].commit);
		buf_addf(b, ", \"time\": \"%s\", \"message\": ", when);
		buf_add_json_str_or_null(b, fc[i].message);
		buf_adds(b, "}");
	}
	buf_adds(b, "]");
}

/* A unit's fields from "unit" to "restart_count": what it is and what the engine says of its container pc. */
static void status_json_unit_engine(const struct rc_unit *u, const struct plan_container *pc,
				    const struct unit_look *l, struct buf *b)
{
	const char *health = l->health ? l->health : pc && pc->health ? pc->health : NULL;
	buf_adds(b, "{\"unit\": ");
	buf_add_json_str(b, u->id);
	buf_adds(b, ", \"customer\": ");
	buf_add_json_str_or_null(b, u->customer);
	buf_adds(b, ", \"container\": ");
	buf_add_json_str(b, u->container);
	buf_adds(b, ", \"container_id\": ");
	buf_add_json_str_or_null(b, pc ? pc->id : NULL);
	buf_adds(b, ", \"state\": ");
	buf_add_json_str_or_null(b, pc ? pc->state : NULL);
	buf_addf(b, ", \"desired\": \"%s\", \"health\": ", u->running ? "running" : "stopped");
	buf_add_json_str_or_null(b, health);
	buf_adds(b, ", \"ports\": [");
	for (size_t k = 0; k < u->nports; k++)
		buf_addf(b, "%s%u", k ? ", " : "", u->ports[k].host_port);
	buf_adds(b, "], \"uptime_seconds\": ");
	if (l->up_s >= 0)
		buf_addf(b, "%lld", (long long)l->up_s);
	else
		buf_adds(b, "null");
	buf_adds(b, ", \"restart_count\": ");
	if (l->inspected)
		buf_addf(b, "%d", l->restart_count);
	else
		buf_adds(b, "null");
}

/* A unit's "spec" (spec, as status_json_unit() judged it) to "sleeping_since": what the state says of it. */
static void status_json_unit_state(const struct session *s, const struct rc_unit *u, const char *spec, struct buf *b)
{
	const char *reason = NULL;
	bool disabled = state_is_disabled(s->st, u->id, &reason);
	buf_addf(b, ", \"spec\": \"%s\", \"failures\": %d, \"disabled\": %s, \"disabled_reason\": ", spec,
		 state_get_restarts(s->st, u->id).failures, disabled ? "true" : "false");
	buf_add_json_str_or_null(b, disabled ? reason : NULL);
	int64_t slept = 0;
	bool sleeping = state_is_sleeping(s->st, u->id, &slept);
	buf_addf(b, ", \"sleeping\": %s, \"sleeping_since\": ", sleeping ? "true" : "false");
	if (sleeping) {
		char when[32];
		iso_time(slept, when);
		buf_add_json_str(b, when);
	} else {
		buf_adds(b, "null");
	}
}

/* A unit's "job": a job's last run (its kept container), running or pending; null for a service. */
static void status_json_job(const struct rc_unit *u, const struct plan_container *pc, const struct unit_look *l,
			    struct buf *b)
{
	if (u->job && l->job) {
		buf_addf(b, ", \"job\": {\"result\": \"%s\", \"exit_code\": %d, \"finished_at\": ", l->job, l->exit_code);
		buf_add_json_str(b, l->finished);
		buf_adds(b, "}");
	} else if (u->job) {
		buf_addf(b, ", \"job\": {\"result\": \"%s\", \"exit_code\": null, \"finished_at\": null}",
			 pc && str_eq(pc->state, "running") ? "running" : "pending");
	} else {
		buf_adds(b, ", \"job\": null");
	}
}

/* One unit's object of status --json's "units" (looked at: l). */
static void status_json_unit(const struct session *s, const struct rc_unit *u, const struct unit_look *l,
			     struct buf *b)
{
	const struct plan_container *pc = find_container(&s->cv.obs.plan, u->id);
	const char *spec = !pc ? "missing" : str_eq(pc->hash, u->hash) ? "current" : "outdated";
	const struct state_awaiting *aw = state_get_awaiting(s->st, u->id);
	bool awaiting = aw && !aw->approved && str_eq(aw->hash, u->hash) && !str_eq(spec, "current");
	status_json_unit_engine(u, pc, l, b);
	status_json_unit_state(s, u, spec, b);
	status_json_job(u, pc, l, b);
	buf_addf(b, ", \"awaiting_approval\": %s", awaiting ? "true" : "false");
	status_json_health(b, s->st, u->id);
	buf_adds(b, ", \"stopped\": ");
	if (l->stopped) {
		buf_addf(b, "{\"exit_code\": %d, \"oom_killed\": %s, \"reason\": ", l->exit_code,
			 l->oom_killed ? "true" : "false");
		buf_add_json_str(b, l->why_stopped);
		buf_adds(b, "}");
	} else {
		buf_adds(b, "null");
	}
	buf_adds(b, ", \"tasks\": ");
	if (s->swarm_looked)
		swarm_look_json_tasks(&s->swarm, u, b);
	else
		buf_adds(b, "null");
	buf_adds(b, "}");
}

/* status --json: spec/status-json.md. */
static void status_json(struct session *s, const struct unit_look *looks, struct buf *b)
{
	const struct rc_desired *d = s->d;
	status_json_head(s, b);
	status_json_drift(s, b);
	status_json_failed(s, b);
	buf_adds(b, ",\n  \"swarm\": ");
	if (s->swarm_looked) {
		buf_adds(b, "{\"nodes\": ");
		swarm_look_json_nodes(&s->swarm, b);
		buf_adds(b, "}");
	} else {
		buf_adds(b, "null");
	}
	buf_addf(b, ",\n  \"pending_changes\": %zu,\n  \"units\": [", s->cv.plan.n);
	for (size_t i = 0; i < d->nunits; i++) {
		buf_adds(b, i ? ",\n    " : "\n    ");
		status_json_unit(s, &d->units[i], &looks[i], b);
	}
	buf_adds(b, d->nunits ? "\n  ]\n}\n" : "]\n}\n");
}

static void status_write(struct session *s, struct buf *b)
{
	struct unit_look *looks = xcalloc(s->d->nunits + 1, sizeof(*looks));
	look_at_units(s, looks);
	status_json(s, looks, b);
	free(looks);
}

int status_document(const struct cli_opts *o, struct buf *out, struct rc_err *err)
{
	struct session s = { 0 };
	int rc = session_open(o, SESSION_STATUS, &s);
	if (rc) {
		session_close(&s);
		return rc_errf(err, "the status could not be made (status would exit %d; the daemon's log says why)", rc);
	}
	status_write(&s, out);
	rc = s.cv.plan.n ? 2 : 0;
	session_close(&s);
	return rc;
}

/* One unit's row of the status table (looked at: l), and the daemon's last look at it below. */
static void status_text_row(const struct session *s, const struct rc_unit *u, const struct unit_look *l)
{
	const struct plan_container *pc = find_container(&s->cv.obs.plan, u->id);
	struct buf ports = BUF_INIT;
	for (size_t k = 0; k < u->nports; k++)
		buf_addf(&ports, "%s%u", k ? "," : "", u->ports[k].host_port);
	const char *spec = !pc ? "missing" : str_eq(pc->hash, u->hash) ? "current" : "outdated";
	const struct state_awaiting *aw = state_get_awaiting(s->st, u->id);
	const char *dreason = NULL;
	bool disabled = state_is_disabled(s->st, u->id, &dreason);
	/* an operator's `disable` says who and why; the daemon's own marks say so */
	_cleanup_free_ char *dnote = disabled && dreason && str_startswith(dreason, "disabled by ")
					     ? xasprintf(" (%s)", dreason) : NULL;
	const char *note = dnote ? dnote : disabled ? " (disabled by the daemon)"
			   : aw && !aw->approved && str_eq(aw->hash, u->hash) && !str_eq(spec, "current")
			   ? " (awaiting approval)" : "";
	const char *health = l->health ? l->health : pc && pc->health ? pc->health : "-";
	_cleanup_free_ char *why = l->job && l->exit_code == 0
					   ? xasprintf(" (exit 0, %s)", l->finished)
				   : l->job ? xasprintf(" (exit %d)", l->exit_code)
				   : l->stopped ? xasprintf(" (%s)", l->why_stopped) : NULL;
	char up[48], restarts[24];
	fmt_uptime(l->up_s, up);
	/* the engine's restarts of this container / the daemon's failure count of the unit */
	snprintf(restarts, sizeof restarts, "%d/%d", l->inspected ? l->restart_count : 0,
		 state_get_restarts(s->st, u->id).failures);
	bool sleeping = state_is_sleeping(s->st, u->id, NULL) && !(pc && str_eq(pc->state, "running"));
	const char *state = l->job ? l->job : sleeping ? "sleeping" : pc ? pc->state : "-";
	printf("%-24s %-28s %-10s %-10s %-12s %-7s %-8s %s%s%s\n", u->id, u->container, state,
	       health, ports.len ? ports.data : "-", up, restarts, spec, why ? why : "", note);
	status_text_health(s->st, u->id);
	buf_release(&ports);
}

int cmd_status(const struct cli_opts *o)
{
	struct session s = { 0 };
	int rc = session_open(o, SESSION_STATUS, &s);
	if (rc) {
		session_close(&s);
		return rc;
	}
	if (o->json) {
		struct buf b = BUF_INIT;
		status_write(&s, &b);
		fputs(buf_cstr(&b), stdout);
		buf_release(&b);
		rc = s.cv.plan.n ? 2 : 0;
		session_close(&s);
		return rc;
	}
	const char *applied = state_get_last_applied(s.st);
	printf("project %s, manifests at %s, last applied %.12s\n", s.d->settings.project,
	       s.d->commit ? s.d->commit : o->dir, applied ? applied : "never");
	bool daemon = false;
	long holder = state_lock_holder(state_dir(s.st), &daemon);
	if (daemon)
		printf("daemon: reconciler run, pid %ld\n", holder);
	else if (holder > 0)
		printf("daemon: none (pid %ld, not `reconciler run`, holds the state directory)\n", holder);
	else
		printf("daemon: none (no `reconciler run` holds this state directory)\n");
	struct buf drift = BUF_INIT;
	struct rc_err derr = { 0 };
	if (drift_last_summary(s.st, &drift, &derr) == 0 && drift.len)
		printf("%s\n", buf_cstr(&drift));
	buf_release(&drift);
	struct unit_look *looks = xcalloc(s.d->nunits + 1, sizeof(*looks));
	look_at_units(&s, looks);
	size_t nf = 0;
	const struct state_failed_commit *fc = state_failed_commits(s.st, &nf);
	if (nf)
		printf("failed commits (not tried again until a newer commit or `reconciler retry`):\n");
	for (size_t i = 0; i < nf; i++) {
		char when[32];
		const char *m = fc[i].message ? fc[i].message : "";
		iso_time(fc[i].time, when);
		printf("  %.12s %s: %.*s%s\n", fc[i].commit, when, (int)strcspn(m, "\n"), m,
		       strchr(m, '\n') ? " (more in the journal)" : "");
	}
	printf("%-24s %-28s %-10s %-10s %-12s %-7s %-8s %s\n", "UNIT", "CONTAINER", "STATE", "HEALTH", "PORTS", "UP",
	       "RESTARTS", "SPEC");
	for (size_t i = 0; i < s.d->nunits; i++)
		status_text_row(&s, &s.d->units[i], &looks[i]);
	free(looks);
	if (s.swarm_looked) {
		struct buf tb = BUF_INIT;
		swarm_look_text(&s.swarm, s.d, &tb);
		fputs(buf_cstr(&tb), stdout);
		buf_release(&tb);
	}
	rc = s.cv.plan.n ? 2 : 0;
	if (s.cv.plan.n)
		printf("%zu change%s pending (see reconciler plan)\n", s.cv.plan.n, s.cv.plan.n == 1 ? "" : "s");
	session_close(&s);
	return rc;
}
