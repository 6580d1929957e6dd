/*
 * cmd_run.c — `reconciler run` (the daemon, daemon.h) and the commands that
 * talk to it through the state directory: `enable`, `approve`, `retry`
 * (requests.h).
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
		.drift_interval_ns = o->drift_interval_set ? (o->drift_interval > 0 ? (int64_t)(o->drift_interval * NS_PER_S) : -1) : 0,
		.fetch_interval_ns = (int64_t)(o->fetch_interval * NS_PER_S),
		.stable_ns = (int64_t)(o->stable_period * NS_PER_S),
		.parallel = o->parallel,
		.no_inotify = o->no_inotify,
		.quiet = o->quiet,
		.take_over = o->take_over,
	};
	return daemon_run(&d);
}

/*
 * Carry out a request: ourselves when no daemon holds the state directory,
 * else through the daemon (requests.h), waiting for its answer.
 */
static int request(const struct cli_opts *o, const char *verb, const char *arg)
{
	struct rc_err err = { 0 };
	struct rc_state *st = NULL;
	if (state_open(o->state_dir, STATE_OPEN_LOCK, &st, &err) == 0) {
		struct buf msg = BUF_INIT;
		unsigned eff = 0;
		int rc = 0;
		if (request_exec(st, verb, arg, &msg, &eff, &err) < 0) {
			fprintf(stderr, "reconciler: %s\n", err.msg);
			rc = 1;
		} else if (state_save(st, &err) < 0) {
			fprintf(stderr, "reconciler: saving state: %s\n", err.msg);
			rc = 1;
		} else if (!o->quiet) {
			printf("%s", buf_cstr(&msg));
			if (eff & (REQ_EFFECT_CONVERGE | REQ_EFFECT_RECHECK))
				printf(" (no daemon is running: `reconciler apply` or `reconciler run` acts on it)");
			printf("\n");
		}
		buf_release(&msg);
		state_free(st);
		return rc;
	}
	long pid = state_lock_holder(o->state_dir, NULL);
	if (pid == 0) {
		fprintf(stderr, "reconciler: state directory: %s\n", err.msg);
		return 1;
	}
	char *name = NULL;
	if (request_submit(o->state_dir, verb, arg, &name, &err) < 0) {
		fprintf(stderr, "reconciler: %s\n", err.msg);
		return 1;
	}
	bool ok = false;
	char *msg = NULL;
	int r = request_wait(o->state_dir, name, 60000, &ok, &msg, &err);
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

int cmd_enable(const struct cli_opts *o)
{
	if (o->argc != 1) {
		fprintf(stderr, "usage: reconciler enable UNIT\n");
		return 1;
	}
	return request(o, "enable", o->argv[0]);
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
