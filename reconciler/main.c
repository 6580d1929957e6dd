/*
 * main.c — argument parsing and dispatch.  Everything else lives in the
 * library modules; see docs/architecture.md.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

#ifndef RC_VERSION
#define RC_VERSION "0.1.0"
#endif

struct command {
	const char *name;
	cli_cmd_fn fn;
	const char *help;
};

static const struct command commands[] = {
	{ "version", cmd_version, "print the version" },
	{ "validate", cmd_validate, "check the manifests (exit 1 with file:line:col errors)" },
	{ "render", cmd_render, "print the expanded units, hashes and canonical specs (--json)" },
	{ "plan", cmd_plan, "show what apply would change (exit 0 none, 2 changes, 1 error)" },
	{ "apply", cmd_apply, "make Docker match the manifests (--stats, --parallel N)" },
	{ "status", cmd_status, "show each unit's container, state and health" },
	{ "run", cmd_run, "the daemon: follow the branch, converge, self-heal (--poll-interval, --check-interval)" },
	{ "enable", cmd_enable, "let the daemon manage a unit it disabled again (UNIT)" },
	{ "approve", cmd_approve, "approve changes to protected units (COMMIT or UNIT)" },
	{ "retry", cmd_retry, "try a failed commit again ([COMMIT]; default every failed one)" },
	{ "diff", cmd_diff, "what would change from revision A to B (A B; --markdown, --json; exit 2 if any)" },
	{ "drift", cmd_drift, "compare the engine with the last applied commit (--fix; --json; exit 2 if any)" },
	{ "rotate", cmd_rotate, "new values for a generated per-customer secret, then apply (NAME [--customer C])" },
};

int cmd_version(const struct cli_opts *o)
{
	(void)o;
	printf("reconciler %s\n", RC_VERSION);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: reconciler [global options] <command> [args]\n\n"
		   "commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nglobal options:\n"
		   "  --repo R          Git repository holding the manifests (default .)\n"
		   "  --rev REV         branch, tag or commit (default HEAD)\n"
		   "  --path P          manifest directory inside the repository (default: the root)\n"
		   "  --dir D           read manifests from a plain directory instead of Git\n"
		   "  --state-dir D     state directory (default $RECONCILER_STATE_DIR or /var/lib/reconciler)\n"
		   "  --docker-host H   unix:///path or tcp://host:port (default $DOCKER_HOST or the unix socket)\n"
		   "  --json            machine-readable output\n"
		   "  --take-over       plan, apply, drift --fix, run: take the project from the state directory\n"
		   "                    that owns it (journaled; see reconciler(1), PROJECT OWNERSHIP)\n"
		   "  --customer C      rotate: only customer C's secret\n"
		   "  --policy FILE     the host policy the repository cannot widen (default\n"
		   "                    $RECONCILER_POLICY, else /etc/reconciler/policy.yaml if present)\n"
		   "run options (durations in seconds):\n"
		   "  --poll-interval S   polling fallback of the branch watch (default 2)\n"
		   "  --no-inotify        notice commits by polling only (NFS and the like)\n"
		   "  --check-interval S  periodic check of every unit (default 30)\n"
		   "  --drift-interval S  periodic drift check, journaled and shown by status (default 300, 0: off)\n"
		   "  --stable-period S   ready this long resets a unit's failure counter (default 600)\n"
		   "  --remote URL        fetch the branch from URL into --repo (created bare if missing)\n"
		   "  --branch B          the branch of --remote (default main)\n"
		   "  --remote-credentials FILE  password, token or SSH key for --remote (mode 0600)\n"
		   "  --fetch-interval S  how often to fetch (default 60)\n"
		   "  -v, -q            more / less chatter on stderr\n"
		   "  -h, --help        this text; --version: the version\n"
		   "\nSee reconciler(1).\n");
}

enum { OPT_REPO = 256, OPT_REV, OPT_DIR, OPT_PATH, OPT_STATE, OPT_DOCKER, OPT_JSON, OPT_MD,
       OPT_OUT, OPT_PLAN, OPT_STATS, OPT_FIX, OPT_PAR, OPT_POLL, OPT_CHECK, OPT_DRIFT, OPT_STABLE, OPT_FETCH,
       OPT_REMOTE, OPT_BRANCH, OPT_REMOTE_CRED, OPT_NO_INOTIFY, OPT_TAKE_OVER, OPT_CUSTOMER, OPT_POLICY, OPT_VERSION };

/* A duration in seconds (decimals allowed), >= 0. */
static int parse_seconds(const char *opt, const char *s, double *ret)
{
	char *end = NULL;
	double v = strtod(s, &end);
	if (!*s || *end || v < 0 || v > 1e7) {
		fprintf(stderr, "reconciler: --%s: '%s' is not a number of seconds\n", opt, s);
		return -1;
	}
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, OPT_REPO },
		{ "rev", required_argument, NULL, OPT_REV },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "docker-host", required_argument, NULL, OPT_DOCKER },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "markdown", no_argument, NULL, OPT_MD },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "plan", required_argument, NULL, OPT_PLAN },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "fix", no_argument, NULL, OPT_FIX },
		{ "parallel", required_argument, NULL, OPT_PAR },
		{ "poll-interval", required_argument, NULL, OPT_POLL },
		{ "check-interval", required_argument, NULL, OPT_CHECK },
		{ "drift-interval", required_argument, NULL, OPT_DRIFT },
		{ "stable-period", required_argument, NULL, OPT_STABLE },
		{ "fetch-interval", required_argument, NULL, OPT_FETCH },
		{ "remote", required_argument, NULL, OPT_REMOTE },
		{ "branch", required_argument, NULL, OPT_BRANCH },
		{ "remote-credentials", required_argument, NULL, OPT_REMOTE_CRED },
		{ "no-inotify", no_argument, NULL, OPT_NO_INOTIFY },
		{ "take-over", no_argument, NULL, OPT_TAKE_OVER },
		{ "customer", required_argument, NULL, OPT_CUSTOMER },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts o = { .repo = ".", .rev = "HEAD", .path = "" };
	o.state_dir = getenv("RECONCILER_STATE_DIR");
	if (!o.state_dir || !*o.state_dir)
		o.state_dir = "/var/lib/reconciler";
	o.docker_host = getenv("DOCKER_HOST");
	if (!o.docker_host || !*o.docker_host)
		o.docker_host = "unix:///var/run/docker.sock";

	int c;
	while ((c = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_REPO: o.repo = optarg; break;
		case OPT_REV: o.rev = optarg; o.rev_set = true; break;
		case OPT_DIR: o.dir = optarg; break;
		case OPT_PATH: o.path = optarg; break;
		case OPT_STATE: o.state_dir = optarg; break;
		case OPT_DOCKER: o.docker_host = optarg; break;
		case OPT_JSON: o.json = true; break;
		case OPT_MD: o.markdown = true; break;
		case OPT_OUT: o.out = optarg; break;
		case OPT_PLAN: o.plan_file = optarg; break;
		case OPT_STATS: o.stats = true; break;
		case OPT_FIX: o.fix = true; break;
		case OPT_PAR: {
			char *end = NULL;
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 1 || v > 256) {
				fprintf(stderr, "reconciler: --parallel: '%s' is not a number from 1 to 256\n", optarg);
				return 1;
			}
			o.parallel = (int)v;
			break;
		}
		case OPT_VERSION: return cmd_version(&o);
		case OPT_POLL: if (parse_seconds("poll-interval", optarg, &o.poll_interval) < 0) return 1; break;
		case OPT_CHECK: if (parse_seconds("check-interval", optarg, &o.check_interval) < 0) return 1; break;
		case OPT_DRIFT:
			if (parse_seconds("drift-interval", optarg, &o.drift_interval) < 0)
				return 1;
			o.drift_interval_set = true;
			break;
		case OPT_STABLE: if (parse_seconds("stable-period", optarg, &o.stable_period) < 0) return 1; break;
		case OPT_FETCH: if (parse_seconds("fetch-interval", optarg, &o.fetch_interval) < 0) return 1; break;
		case OPT_REMOTE: o.remote = optarg; break;
		case OPT_BRANCH: o.branch = optarg; break;
		case OPT_REMOTE_CRED: o.remote_credentials = optarg; break;
		case OPT_NO_INOTIFY: o.no_inotify = true; break;
		case OPT_TAKE_OVER: o.take_over = true; break;
		case OPT_CUSTOMER: o.customer = optarg; break;
		case OPT_POLICY: o.policy = optarg; break;
		case 'v': o.verbose++; break;
		case 'q': o.quiet = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	/* Paths the engine sees (secret bind mounts) must be absolute. */
	_cleanup_free_ char *abs_state = NULL;
	if (o.state_dir[0] != '/') {
		char cwd[4096];
		if (getcwd(cwd, sizeof(cwd)))
			o.state_dir = abs_state = xasprintf("%s/%s", cwd, o.state_dir);
	}
	rc_log_level = o.quiet ? RC_LOG_ERROR : (enum rc_log_level)(RC_LOG_WARN + (o.verbose > 2 ? 2 : o.verbose));
	const char *name = argv[optind];
	o.argc = argc - optind - 1;
	o.argv = argv + optind + 1;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(commands[i].name, name) == 0) {
			curl_global_init(CURL_GLOBAL_ALL);
			int r = commands[i].fn(&o);
			curl_global_cleanup();
			return r;
		}
	}
	fprintf(stderr, "reconciler: unknown command '%s' (see reconciler --help)\n", name);
	return 1;
}
