/*
 * cmd_run.c — `reconciler run` (the daemon, daemon.h) and the commands that
 * talk to it through the state directory: `enable`, `disable`, `restart`, `wake`,
 * `approve`, `retry` (requests.h).
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "daemon.h"
#include "gitcred.h"
#include "source.h"
#include "requests.h"
#include "state.h"
#include "httpd.h"
#include "telemetry.h"

/*
 * --remote-credentials is checked before the daemon starts (it is read
 * again for every fetch, so it can be rotated in place): a file that is
 * unusable, or a second password in the URL, stops the start.
 */
static int check_remote_credentials(const struct cli_opts *o)
{
	if (!o->remote) {
		fprintf(stderr, "reconciler: --remote-credentials is for the --remote fetched; give --remote too\n");
		return -1;
	}
	if (gitcred_url_has_password(o->remote)) {
		_cleanup_free_ char *shown = url_redact(o->remote);
		fprintf(stderr, "reconciler: --remote %s carries a password and --remote-credentials gives "
			"credentials too: keep them in the file only\n", shown);
		return -1;
	}
	struct rc_err err = { 0 };
	struct gitcred c = { 0 };
	if (gitcred_load(o->remote_credentials, &c, &err) < 0) {
		fprintf(stderr, "reconciler: --remote-credentials: %s\n", err.msg);
		return -1;
	}
	gitcred_release(&c);
	return 0;
}

/* GET /status (telemetry.h): what `reconciler status --json` with the daemon's options prints. */
static int status_cb(void *ctx, struct buf *out, struct rc_err *err)
{
	return status_document(ctx, out, err) < 0 ? -1 : 0;
}

int cmd_run(const struct cli_opts *o)
{
	if (o->fetch_timeout > 0)
		source_set_fetch_timeout(o->fetch_timeout);
	if (o->argc) {
		fprintf(stderr, "reconciler: run takes no arguments\n");
		return 1;
	}
	if (o->branch && !o->remote) {
		fprintf(stderr, "reconciler: --branch names the branch of --remote; give --remote too\n");
		return 1;
	}
	if (o->remote_credentials && check_remote_credentials(o) < 0)
		return 1;
	struct daemon_opts d = {
		.repo = o->repo,
		.rev = o->rev,
		.path = o->path,
		.state_dir = o->state_dir,
		.docker_host = o->docker_host,
		.remote = o->remote,
		.remote_branch = o->branch,
		.remote_credentials = o->remote_credentials,
		.policy = o->policy,
		.poll_interval_ns = (int64_t)(o->poll_interval * NS_PER_S),
		.check_interval_ns = (int64_t)(o->check_interval * NS_PER_S),
		.pull_interval_ns = o->pull_interval_set ? (o->pull_interval > 0 ? (int64_t)(o->pull_interval * NS_PER_S) : -1) : 0,
		.drift_interval_ns = o->drift_interval_set ? (o->drift_interval > 0 ? (int64_t)(o->drift_interval * NS_PER_S) : -1) : 0,
		.fetch_interval_ns = (int64_t)(o->fetch_interval * NS_PER_S),
		.stable_ns = (int64_t)(o->stable_period * NS_PER_S),
		.stopped_grace_ns = (int64_t)(o->stopped_grace * NS_PER_S),
		.parallel = o->parallel,
		.no_inotify = o->no_inotify,
		.quiet = o->quiet,
		.take_over = o->take_over,
	};
	struct rc_err err = { 0 };
	bool is_unix;
	if (o->listen && httpd_parse_listen(o->listen, &is_unix, &err) < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		return 1;
	}
	/* the status document of what the daemon follows: with --remote, its remote-tracking ref */
	struct cli_opts so = *o;
	so.json = true;
	_cleanup_free_ char *ref = o->remote ? xasprintf("refs/remotes/reconciler/%s", o->branch ? o->branch : "main") : NULL;
	if (ref) {
		so.rev = ref;
		so.rev_set = true;
	}
	rc_log_stamp(true);  /* every line on stderr is "TIME reconciler[PID]: ..." (docs/operations.md) */
	telemetry_configure(&(struct telemetry_opts){ .listen = o->listen, .repo = o->repo, .status = status_cb,
						      .status_ctx = &so });
	return daemon_run(&d);
}

/*
 * Carry out a request: ourselves when no daemon holds the state directory,
 * else through the daemon (requests.h), waiting for its answer.
 */
/* Submit verb/arg[/note] to the daemon holding the state directory and wait up to timeout_ms for its answer. */
static int submit_and_wait(const struct cli_opts *o, const char *verb, const char *arg, const char *note,
			   int timeout_ms)
{
	struct rc_err err = { 0 };
	long pid = state_lock_holder(o->state_dir, NULL);
	char *name = NULL;
	if (request_submit_note(o->state_dir, verb, arg, note, &name, &err) < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		return 1;
	}
	bool ok = false;
	char *msg = NULL;
	int r = request_wait(o->state_dir, name, timeout_ms, &ok, &msg, &err);
	int rc = 0;
	if (r < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		rc = 1;
	} else if (r == 0) {
		fprintf(stderr, "reconciler: the daemon (pid %ld) has not answered yet; the request stays queued\n", pid);
	} else if (!ok) {
		fprintf(stderr, "reconciler: %s\n", msg);
		rc = 1;
	} else if (!o->quiet) {
		printf("%s (daemon pid %ld)\n", msg, pid);
	}
	free(msg);
	free(name);
	return rc;
}

/*
 * Carry out a request: ourselves when no daemon holds the state directory,
 * else through the daemon (requests.h), waiting for its answer.  note: the
 * request's note (disable's reason), or NULL.
 */
static int request_note(const struct cli_opts *o, const char *verb, const char *arg, const char *note)
{
	struct rc_err err = { 0 };
	struct rc_state *st = NULL;
	if (state_open(o->state_dir, STATE_OPEN_LOCK, &st, &err) == 0) {
		struct buf msg = BUF_INIT;
		unsigned eff = 0;
		int rc = 0;
		_cleanup_free_ char *who = request_who();
		if (request_exec_by(st, verb, arg, note, who, &msg, &eff, &err) < 0) {
			fprintf(stderr, "reconciler: %s\n", err.msg);
			rc = 1;
		} else if (state_save(st, &err) < 0) {
			fprintf(stderr, "reconciler: saving state: %s\n", err.msg);
			rc = 1;
		} else if (!o->quiet) {
			printf("%s", buf_cstr(&msg));
			if (eff & (REQ_EFFECT_CONVERGE | REQ_EFFECT_RECHECK))
				printf(" (no daemon is running: `reconciler apply` or `reconciler run` acts on it)");
			if (str_eq(verb, "disable"))
				printf(" (no daemon is running: its container is left as it is; a daemon leaves it alone)");
			printf("\n");
		}
		buf_release(&msg);
		state_free(st);
		return rc;
	}
	if (state_lock_holder(o->state_dir, NULL) == 0) {
		fprintf(stderr, "reconciler: state directory: %s\n", err.msg);
		return 1;
	}
	return submit_and_wait(o, verb, arg, note, 60000);
}

static int request(const struct cli_opts *o, const char *verb, const char *arg)
{
	return request_note(o, verb, arg, NULL);
}

int cmd_enable(const struct cli_opts *o)
{
	if (o->argc != 1) {
		fprintf(stderr, "usage: reconciler enable UNIT\n");
		return 1;
	}
	return request(o, "enable", o->argv[0]);
}

int cmd_disable(const struct cli_opts *o)
{
	if (o->argc != 1) {
		fprintf(stderr, "usage: reconciler disable UNIT [--reason TEXT]\n");
		return 1;
	}
	return request_note(o, "disable", o->argv[0], o->reason);
}

/*
 * Through the running daemon (a request, answered once the units are ready
 * again), else directly (daemon_restart_once()).
 */
int cmd_restart(const struct cli_opts *o)
{
	if ((o->argc == 0) == (o->customer == NULL)) {
		fprintf(stderr, "usage: reconciler restart UNIT... | --customer C\n");
		return 1;
	}
	struct buf arg = BUF_INIT;
	if (o->customer)
		buf_addf(&arg, "customer:%s", o->customer);
	for (int i = 0; i < o->argc; i++)
		buf_addf(&arg, "%s%s", i ? " " : "", o->argv[i]);
	int rc;
	if (state_lock_holder(o->state_dir, NULL) == 0) {
		struct daemon_opts d = { .repo = o->repo, .path = o->path, .state_dir = o->state_dir,
					 .docker_host = o->docker_host, .policy = o->policy, .parallel = o->parallel,
					 .quiet = o->quiet };
		rc = daemon_restart_once(&d, buf_cstr(&arg));
	} else {
		rc = submit_and_wait(o, "restart", buf_cstr(&arg), NULL, 600000);
	}
	buf_release(&arg);
	return rc;
}

/* As restart: through the running daemon, else directly (daemon_wake_once()). */
int cmd_wake(const struct cli_opts *o)
{
	if ((o->argc == 0) == (o->customer == NULL)) {
		fprintf(stderr, "usage: reconciler wake UNIT... | --customer C\n");
		return 1;
	}
	struct buf arg = BUF_INIT;
	if (o->customer)
		buf_addf(&arg, "customer:%s", o->customer);
	for (int i = 0; i < o->argc; i++)
		buf_addf(&arg, "%s%s", i ? " " : "", o->argv[i]);
	int rc;
	if (state_lock_holder(o->state_dir, NULL) == 0) {
		struct daemon_opts d = { .repo = o->repo, .path = o->path, .state_dir = o->state_dir,
					 .docker_host = o->docker_host, .policy = o->policy, .parallel = o->parallel,
					 .quiet = o->quiet };
		rc = daemon_wake_once(&d, buf_cstr(&arg));
	} else {
		rc = submit_and_wait(o, "wake", buf_cstr(&arg), NULL, 600000);
	}
	buf_release(&arg);
	return rc;
}

int cmd_approve(const struct cli_opts *o)
{
	if (o->argc != 1) {
		fprintf(stderr, "usage: reconciler approve COMMIT|UNIT\n");
		return 1;
	}
	return request(o, "approve", o->argv[0]);
}

int cmd_retry(const struct cli_opts *o)
{
	if (o->argc > 1) {
		fprintf(stderr, "usage: reconciler retry [COMMIT]\n");
		return 1;
	}
	return request(o, "retry", o->argc ? o->argv[0] : "");
}
