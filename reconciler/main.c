/*
 * main.c — argument parsing and dispatch.  Everything else lives in the
 * library modules; see docs/architecture.md.
 *
 * Options per command, in the style of git's parse_options: every command
 * declares the options it takes (its row in commands[] below); an option it
 * does not take is an error naming the command, and nothing runs.  Options
 * may come before or after the command's name.  The global options — where
 * things live and how much to say: --state-dir, --docker-host, -v, -q, -h,
 * --version — are taken by every command.  `reconciler help CMD`,
 * `reconciler CMD --help` and `-h` print a command's own usage.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "source.h"
#include "util.h"

#ifndef RC_VERSION
#define RC_VERSION "0.1.0"
#endif

/* Every option any command takes; the getopt value of one is OPT_BASE + its index. */
enum opt {
	O_REPO, O_REV, O_PATH, O_DIR, O_STATE, O_DOCKER, O_POLICY,
	O_JSON, O_MD, O_OUT, O_PLAN, O_STATS, O_FIX, O_PAR, O_TAKE_OVER, O_CUSTOMER, O_NO_REFRESH, O_REASON, O_BUILD,
	O_POLL, O_NO_INOTIFY, O_CHECK, O_DRIFT, O_PULL, O_STABLE, O_STOPPED_GRACE, O_REMOTE, O_BRANCH, O_REMOTE_CRED, O_FETCH, O_FETCH_TIMEOUT, O_LISTEN,
	O_VERBOSE, O_QUIET, O_HELP, O_VERSION,
	O__MAX
};
#define OPT_BASE 256
#define BIT(o) (UINT64_C(1) << (o))

struct optdef {
	const char *name;   /* long name */
	char short_name;    /* 0: none */
	const char *arg;    /* its value's name; NULL: takes none */
	const char *help;   /* what it does (a command's row can say more) */
};

static const struct optdef optdefs[O__MAX] = {
	[O_REPO] = { "repo", 0, "R", "Git repository holding the manifests (default .)" },
	[O_REV] = { "rev", 0, "REV", "branch, tag or commit (default HEAD)" },
	[O_PATH] = { "path", 0, "P", "manifest directory inside the repository (default: the root)" },
	[O_DIR] = { "dir", 0, "D", "read the manifests from a plain directory instead of Git" },
	[O_STATE] = { "state-dir", 0, "D", "state directory (default $RECONCILER_STATE_DIR or /var/lib/reconciler)" },
	[O_POLICY] = { "policy", 0, "FILE",
		       "the host policy the repository cannot widen (default $RECONCILER_POLICY, else "
		       "/etc/reconciler/policy.yaml if present)" },
	[O_DOCKER] = { "docker-host", 0, "H",
		       "unix:///path, tcp://host[:port] (TLS with $DOCKER_TLS_VERIFY), https://host[:port] "
		       "(default $DOCKER_HOST or the unix socket)" },
	[O_JSON] = { "json", 0, NULL, "machine-readable output" },
	[O_MD] = { "markdown", 0, NULL, "Markdown for a pull-request comment" },
	[O_OUT] = { "out", 0, "FILE", "write the output to FILE" },
	[O_PLAN] = { "plan", 0, "FILE", "apply only the plan reviewed in FILE (plan --out)" },
	[O_STATS] = { "stats", 0, NULL, "Docker API calls by kind and time per phase, on stderr" },
	[O_FIX] = { "fix", 0, NULL, "converge what drifted, as apply would" },
	[O_PAR] = { "parallel", 0, "N", "engine operations in flight at once (1 to 256, default 8)" },
	[O_TAKE_OVER] = { "take-over", 0, NULL,
			  "take the project from the state directory that owns it (journaled; reconciler(1), "
			  "PROJECT OWNERSHIP)" },
	[O_CUSTOMER] = { "customer", 0, "C", "only customer C" },
	[O_NO_REFRESH] = { "no-refresh", 0, NULL,
			   "plan from the containers' labels only: do not inspect them for changes made by hand" },
	[O_BUILD] = { "build", 0, NULL, "the output of the unit's newest image build (build: in the manifest)" },
	[O_REASON] = { "reason", 0, "TEXT", "why, for the journal and status (one line)" },
	[O_LISTEN] = { "listen", 0, "ADDR",
		       "the read-only HTTP endpoint (/metrics, /status, /healthz, /events): a unix socket path or "
		       "127.0.0.1:PORT (default <state-dir>/http.sock, mode 0660)" },
	[O_POLL] = { "poll-interval", 0, "S", "polling fallback of the branch watch, seconds (default 2)" },
	[O_NO_INOTIFY] = { "no-inotify", 0, NULL, "notice commits by polling only (NFS and the like)" },
	[O_CHECK] = { "check-interval", 0, "S", "periodic check of every unit, seconds (default 30)" },
	[O_DRIFT] = { "drift-interval", 0, "S",
		      "periodic drift check, journaled and shown by status (default 300, 0: off)" },
	[O_PULL] = { "pull-interval", 0, "S",
		     "how often the tags of the `pull: always` services are asked of their registries, and a moved "
		     "one rolled out, seconds (default 300, 0: off)" },
	[O_STABLE] = { "stable-period", 0, "S", "ready this long resets a unit's failure counter (default 600)" },
	[O_STOPPED_GRACE] = { "stopped-grace", 0, "S",
			      "a unit an operator stopped through the engine (docker stop) is started again after this, "
			      "seconds (default 2)" },
	[O_REMOTE] = { "remote", 0, "URL", "fetch the branch from URL into --repo (created bare if missing)" },
	[O_BRANCH] = { "branch", 0, "B", "the branch of --remote (default main)" },
	[O_REMOTE_CRED] = { "remote-credentials", 0, "FILE",
			    "password, token or SSH key for --remote (mode 0600; spec/remote-credentials.md)" },
	[O_FETCH] = { "fetch-interval", 0, "S", "how often to fetch --remote, seconds (default 60)" },
	[O_FETCH_TIMEOUT] = { "fetch-timeout", 0, "S", "end a fetch of --remote that takes longer, seconds (default 120)" },
	[O_VERBOSE] = { "verbose", 'v', NULL, "more chatter on stderr (repeatable)" },
	[O_QUIET] = { "quiet", 'q', NULL, "less chatter on stderr" },
	[O_HELP] = { "help", 'h', NULL, "this text" },
	[O_VERSION] = { "version", 0, NULL, "print the version" },
};

/* Taken by every command: where things live, how much to say, help. */
#define GLOBAL_OPTS (BIT(O_STATE) | BIT(O_DOCKER) | BIT(O_POLICY) | BIT(O_VERBOSE) | BIT(O_QUIET) | BIT(O_HELP) | BIT(O_VERSION))

/* One option a command takes; help NULL: the option's own line. */
struct cmd_opt {
	enum opt opt;
	const char *help;
};
#define CMD_OPTS_END { O__MAX, NULL }

struct command {
	const char *name;
	cli_cmd_fn fn;            /* NULL: help */
	const char *args;         /* positional arguments in the usage line, or NULL */
	const char *summary;      /* one line in `reconciler --help` */
	const char *description;  /* a few lines in `reconciler help CMD` */
	const char *exits;        /* its exit codes, one line */
	const struct cmd_opt *opts;
};

/* The manifest source, for the commands that read manifests. */
#define SOURCE_OPTS { O_REPO, NULL }, { O_REV, NULL }, { O_PATH, NULL }, { O_DIR, NULL }
#define PATH_OF_LAST_APPLY "manifest directory inside the repository (default: the --path of the last " \
			   "apply recorded in the state directory, else the root; --path . is the root)"

static const struct cmd_opt no_opts[] = { CMD_OPTS_END };

static const struct cmd_opt validate_opts[] = {
	SOURCE_OPTS,
	{ O_JSON, "the verdict and every diagnostic as one JSON document on stdout (spec/validate-json.md)" },
	CMD_OPTS_END,
};

static const struct cmd_opt render_opts[] = {
	SOURCE_OPTS,
	{ O_JSON, "one JSON document (spec/render-json.md)" },
	CMD_OPTS_END,
};

static const struct cmd_opt plan_opts[] = {
	{ O_REPO, NULL }, { O_REV, NULL }, { O_PATH, PATH_OF_LAST_APPLY }, { O_DIR, NULL },
	{ O_JSON, "the plan as JSON (spec/plan-json.md)" },
	{ O_MD, NULL },
	{ O_OUT, "also record the plan, its commit and the observed state in FILE for apply --plan" },
	{ O_STATS, NULL },
	{ O_TAKE_OVER, "show what this state directory would change as the project's new owner" },
	{ O_NO_REFRESH, NULL },
	CMD_OPTS_END,
};

static const struct cmd_opt apply_opts[] = {
	{ O_REPO, NULL }, { O_REV, NULL }, { O_PATH, PATH_OF_LAST_APPLY }, { O_DIR, NULL },
	{ O_PLAN, "refuse unless the commit, the engine and the plan are those reviewed in FILE (plan --out)" },
	{ O_PAR, NULL },
	{ O_JSON, "the steps and their outcomes as one JSON document on stdout (spec/apply-json.md)" },
	{ O_STATS, NULL },
	{ O_TAKE_OVER, NULL },
	{ O_NO_REFRESH, NULL },
	CMD_OPTS_END,
};

static const struct cmd_opt status_opts[] = {
	{ O_REPO, NULL }, { O_REV, NULL }, { O_PATH, PATH_OF_LAST_APPLY }, { O_DIR, NULL },
	{ O_JSON, "one JSON document for monitoring (spec/status-json.md)" },
	CMD_OPTS_END,
};

static const struct cmd_opt diff_opts[] = {
	{ O_REPO, NULL },
	{ O_PATH, NULL },
	{ O_JSON, "the plan as JSON (spec/plan-json.md)" },
	{ O_MD, NULL },
	{ O_OUT, NULL },
	CMD_OPTS_END,
};

static const struct cmd_opt drift_opts[] = {
	{ O_REPO, NULL },
	{ O_REV, "compare with REV instead of the last applied commit" },
	{ O_PATH, PATH_OF_LAST_APPLY },
	{ O_DIR, "compare with a plain directory instead of the last applied commit" },
	{ O_JSON, "the report as JSON (spec/drift-json.md)" },
	{ O_MD, NULL },
	{ O_OUT, NULL },
	{ O_FIX, NULL },
	{ O_PAR, "inspects in flight at once (1 to 256, default 8)" },
	{ O_STATS, NULL },
	{ O_TAKE_OVER, "with --fix: take the project from the state directory that owns it" },
	CMD_OPTS_END,
};

static const struct cmd_opt run_opts[] = {
	{ O_REPO, NULL },
	{ O_REV, "the branch to follow (default the branch HEAD points to)" },
	{ O_PATH, NULL },
	{ O_POLL, NULL }, { O_NO_INOTIFY, NULL }, { O_CHECK, NULL }, { O_DRIFT, NULL }, { O_PULL, NULL }, { O_STABLE, NULL }, { O_STOPPED_GRACE, NULL },
	{ O_REMOTE, NULL }, { O_BRANCH, NULL }, { O_REMOTE_CRED, NULL }, { O_FETCH, NULL }, { O_FETCH_TIMEOUT, NULL },
	{ O_PAR, NULL },
	{ O_TAKE_OVER, NULL },
	{ O_LISTEN, NULL },
	CMD_OPTS_END,
};

static const struct cmd_opt rotate_opts[] = {
	SOURCE_OPTS,
	{ O_CUSTOMER, "only customer C's secret" },
	{ O_PAR, "for the apply that follows" },
	{ O_STATS, "for the apply that follows" },
	{ O_TAKE_OVER, "for the apply that follows" },
	CMD_OPTS_END,
};

static const struct cmd_opt disable_opts[] = {
	{ O_REASON, "why it is disabled: shown by status, journaled with who asked" },
	CMD_OPTS_END,
};

static const struct cmd_opt restart_opts[] = {
	{ O_CUSTOMER, "every unit of customer C" },
	{ O_REPO, "without a daemon: the repository of the last applied commit (default .)" },
	{ O_PATH, PATH_OF_LAST_APPLY },
	{ O_PAR, NULL },
	CMD_OPTS_END,
};

static const struct cmd_opt logs_opts[] = {
	{ O_BUILD, NULL },
	CMD_OPTS_END,
};

static const struct cmd_opt wake_opts[] = {
	{ O_CUSTOMER, "every sleeping unit of customer C" },
	{ O_REPO, "without a daemon: the repository of the last applied commit (default .)" },
	{ O_PATH, PATH_OF_LAST_APPLY },
	{ O_PAR, NULL },
	CMD_OPTS_END,
};

#define EXITS_STATE "exit status: 0 done, 1 refused or error"

static const struct command commands[] = {
	{ "version", cmd_version, NULL, "print the version", "Print the version.", "exit status: 0", no_opts },
	{ "validate", cmd_validate, NULL, "check the manifests (exit 1 with file:line:col errors)",
	  "Load and expand the manifests; print every problem as file:line:col: message\n"
	  "on stderr and a count, or a one-line summary when they are valid.\n"
	  "Nothing is changed (a generated secret not made yet is digested as empty).",
	  "exit status: 0 valid, 1 invalid or error", validate_opts },
	{ "render", cmd_render, NULL, "print the expanded units, hashes and canonical specs (--json)",
	  "Print the expanded units in dependency order with their container name,\n"
	  "hashes and canonical spec (secrets only as digests), and the networks.",
	  "exit status: 0, 1 invalid or error", render_opts },
	{ "plan", cmd_plan, NULL, "show what apply would change (exit 0 none, 2 changes, 1 error)",
	  "Show what apply would change in this engine: creates, updates in place,\n"
	  "recreates, starts, stops and removals, each with its cause.",
	  "exit status: 0 no changes, 2 changes, 1 error (a conflict, another owner)", plan_opts },
	{ "apply", cmd_apply, NULL, "make Docker match the manifests (--stats, --parallel N)",
	  "Make the engine match the manifests, in dependency order, gated on health.",
	  "exit status: 0 done, 1 a step failed or error, 3 the engine failed (nothing decided)", apply_opts },
	{ "status", cmd_status, NULL, "show each unit's container, state and health",
	  "Show each unit's container, state, health, ports and whether its spec is\n"
	  "current; the daemon, failed commits and the last drift check.",
	  "exit status: 0 nothing pending, 2 changes pending, 1 error", status_opts },
	{ "run", cmd_run, NULL, "the daemon: follow the branch, converge, self-heal (--poll-interval, --check-interval)",
	  "The daemon: converge to the branch, roll out every new commit gated on\n"
	  "health (rolling a failed one back), heal the units, check drift.\n"
	  "Runs until SIGTERM or SIGINT; SIGHUP converges again.",
	  "exit status: 0 stopped by a signal, 1 cannot start or the project is owned by another", run_opts },
	{ "enable", cmd_enable, "UNIT", "let the daemon manage a unit it disabled again (UNIT)",
	  "Forget that the daemon disabled UNIT and reset its failure counter\n"
	  "(through the running daemon, else in the state directory).",
	  EXITS_STATE, no_opts },
	{ "disable", cmd_disable, "UNIT", "stop a unit and leave it alone until enable (UNIT [--reason TEXT])",
	  "Mark UNIT disabled, as the daemon does after max_failures: the daemon\n"
	  "stops its container and leaves it alone (and holds back the units that\n"
	  "depend on it) until `reconciler enable UNIT` or a commit that changes\n"
	  "its spec.  Through the running daemon, else in the state directory\n"
	  "(then the container is left as it is until a daemon runs).",
	  EXITS_STATE, disable_opts },
	{ "restart", cmd_restart, "UNIT...", "stop and start units, waiting until ready (UNIT... | --customer C)",
	  "Stop the units (dependents first, each with its stop grace), start them\n"
	  "in dependency order, wait until each is ready, and reset their failure\n"
	  "counters; journaled with who asked.  Units whose depends_on entry for a\n"
	  "restarted unit says restart: true are restarted after it.  Through the\n"
	  "running daemon, else directly against the engine with the last applied\n"
	  "commit's manifests.",
	  "exit status: 0 restarted and ready, 1 refused, a unit not ready, or error", restart_opts },
	{ "wake", cmd_wake, "UNIT...", "start sleeping (idle) units, waiting until ready (UNIT... | --customer C)",
	  "Start the units the daemon put to sleep (idle: {after}), the sleeping\n"
	  "units they depend on first, wait until each is ready, and clear their\n"
	  "sleeping marks; journaled with who asked.  Through the running daemon,\n"
	  "else directly against the engine with the last applied commit's manifests.",
	  "exit status: 0 awake and ready (or nothing asleep), 1 refused, a unit not ready, or error", wake_opts },
	{ "approve", cmd_approve, "COMMIT|UNIT", "approve changes to protected units (COMMIT or UNIT)",
	  "Approve the change awaiting approval of a protected UNIT, or every such\n"
	  "change from COMMIT (4 or more hex digits).",
	  EXITS_STATE, no_opts },
	{ "retry", cmd_retry, "[COMMIT]", "try a failed commit again ([COMMIT]; default every failed one)",
	  "Forget that COMMIT (without one: every commit) failed, so the daemon\n"
	  "tries the branch head again.",
	  EXITS_STATE, no_opts },
	{ "diff", cmd_diff, "A B", "what would change from revision A to B (A B; --markdown, --json; exit 2 if any)",
	  "Show what moving the manifests from revision A to B of --repo changes,\n"
	  "without Docker (secrets digest from the state directory if there is one).",
	  "exit status: 0 no changes, 2 changes, 1 error", diff_opts },
	{ "drift", cmd_drift, NULL, "compare the engine with the last applied commit (--fix; --json; exit 2 if any)",
	  "Inspect every managed container and report what changed by hand against\n"
	  "the last applied commit: fields, stopped, missing, renamed and extra\n"
	  "containers, squatters, networks.  Asked of a running daemon when one holds\n"
	  "the state directory.",
	  "exit status: 0 no drift (after --fix: none left), 2 drift, 1 error", drift_opts },
	{ "rotate", cmd_rotate, "NAME", "new values for a generated per-customer secret, then apply (NAME [--customer C])",
	  "Write a new value for the generated per-customer secret NAME (never\n"
	  "printed), then apply: exactly the units that mount it are replaced.",
	  "exit status: as apply; 1 when NAME is no generated per-customer secret", rotate_opts },
	{ "logs", cmd_logs, "--build UNIT", "the output of a unit's newest image build (--build UNIT)",
	  "Print the output of the newest image build apply or the daemon ran for\n"
	  "UNIT (a service with build:), kept in the state directory per commit\n"
	  "(builds/<commit>/<unit>.log); the commit is named on stderr with -v.",
	  "exit status: 0, 1 no build output kept for UNIT or error", logs_opts },
	{ "help", NULL, "[COMMAND]", "this list, or a command's usage and options (help COMMAND)",
	  "Print the commands, or COMMAND's usage, options and exit codes.", "exit status: 0, 1 unknown command",
	  no_opts },
};

int cmd_version(const struct cli_opts *o)
{
	(void)o;
	printf("reconciler %s\n", RC_VERSION);
	return 0;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static uint64_t accepted(const struct command *c)
{
	uint64_t m = GLOBAL_OPTS;
	for (const struct cmd_opt *co = c->opts; co->opt != O__MAX; co++)
		m |= BIT(co->opt);
	return m;
}

/* "--name ARG" or "-v, --verbose" */
static void opt_label(enum opt o, char *out, size_t n)
{
	const struct optdef *d = &optdefs[o];
	if (d->short_name)
		snprintf(out, n, "-%c, --%s%s%s", d->short_name, d->name, d->arg ? " " : "", d->arg ? d->arg : "");
	else
		snprintf(out, n, "--%s%s%s", d->name, d->arg ? " " : "", d->arg ? d->arg : "");
}

/* text word-wrapped to 79 columns, every line after the first indented by indent */
static void print_wrapped(FILE *f, size_t col, size_t indent, const char *text)
{
	const char *p = text;
	while (*p) {
		size_t w = strcspn(p, " ");
		if (col > indent && col + 1 + w > 79) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)w, p);
		col += w;
		p += w;
		while (*p == ' ')
			p++;
	}
	fputc('\n', f);
}

static void print_opt(FILE *f, enum opt o, const char *help)
{
	char label[64];
	opt_label(o, label, sizeof label);
	if (strlen(label) > 20) {
		fprintf(f, "  %s\n%24s", label, "");
	} else {
		fprintf(f, "  %-20s  ", label);
	}
	print_wrapped(f, 24, 24, help ? help : optdefs[o].help);
}

static void usage_line(FILE *f, const struct command *c)
{
	fprintf(f, "usage: reconciler %s%s%s%s\n", c->name, c->opts[0].opt != O__MAX ? " [options]" : "",
		c->args ? " " : "", c->args ? c->args : "");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: reconciler [options] <command> [args]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nglobal options (every command; options may come before or after the command):\n");
	static const enum opt globals[] = { O_STATE, O_DOCKER, O_POLICY, O_VERBOSE, O_QUIET, O_HELP, O_VERSION };
	for (size_t i = 0; i < ARRAY_SIZE(globals); i++)
		print_opt(f, globals[i], globals[i] == O_HELP ? "this text; COMMAND --help: that command's usage, options and exit codes" : NULL);
	fprintf(f, "\nEach command takes only its own options (reconciler help COMMAND lists them);\n"
		   "the manifests' --repo, --rev, --path and --dir go to the commands that read them.\n"
		   "\nSee reconciler(1).\n");
}

static void command_help(FILE *f, const struct command *c)
{
	usage_line(f, c);
	fprintf(f, "\n%s\n", c->description);
	if (c->opts[0].opt != O__MAX) {
		fprintf(f, "\noptions:\n");
		for (const struct cmd_opt *co = c->opts; co->opt != O__MAX; co++)
			print_opt(f, co->opt, co->help);
	}
	fprintf(f, "\nglobal options: --state-dir D, --docker-host H, --policy FILE, -v, -q, -h (reconciler --help)\n"
		   "%s\n\nSee reconciler(1).\n", c->exits);
}

static int cmd_help(const struct cli_opts *o)
{
	if (o->argc == 0) {
		usage(stdout);
		return 0;
	}
	const struct command *c = o->argc == 1 ? find_command(o->argv[0]) : NULL;
	if (!c) {
		if (o->argc == 1)
			fprintf(stderr, "reconciler: unknown command '%s' (see reconciler --help)\n", o->argv[0]);
		else
			usage_line(stderr, find_command("help"));
		return 1;
	}
	command_help(stdout, c);
	return 0;
}

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

/* Store one option's value.  Returns 0, or -1 after printing why the value is bad. */
static int set_opt(struct cli_opts *o, enum opt id, char *arg)
{
	switch (id) {
	case O_REPO: o->repo = arg; break;
	case O_REV: o->rev = arg; o->rev_set = true; break;
	case O_DIR: o->dir = arg; break;
	case O_PATH: o->path = arg; break;
	case O_STATE: o->state_dir = arg; break;
	case O_POLICY: o->policy = arg; break;
	case O_DOCKER: o->docker_host = arg; break;
	case O_JSON: o->json = true; break;
	case O_MD: o->markdown = true; break;
	case O_OUT: o->out = arg; break;
	case O_PLAN: o->plan_file = arg; break;
	case O_STATS: o->stats = true; break;
	case O_FIX: o->fix = true; break;
	case O_PAR: {
		char *end = NULL;
		long v = strtol(arg, &end, 10);
		if (!*arg || *end || v < 1 || v > 256) {
			fprintf(stderr, "reconciler: --parallel: '%s' is not a number from 1 to 256\n", arg);
			return -1;
		}
		o->parallel = (int)v;
		break;
	}
	case O_POLL: return parse_seconds("poll-interval", arg, &o->poll_interval);
	case O_CHECK: return parse_seconds("check-interval", arg, &o->check_interval);
	case O_DRIFT:
		o->drift_interval_set = true;
		return parse_seconds("drift-interval", arg, &o->drift_interval);
	case O_PULL:
		o->pull_interval_set = true;
		return parse_seconds("pull-interval", arg, &o->pull_interval);
	case O_STABLE: return parse_seconds("stable-period", arg, &o->stable_period);
	case O_STOPPED_GRACE: return parse_seconds("stopped-grace", arg, &o->stopped_grace);
	case O_FETCH: return parse_seconds("fetch-interval", arg, &o->fetch_interval);
	case O_FETCH_TIMEOUT: return parse_seconds("fetch-timeout", arg, &o->fetch_timeout);
	case O_REMOTE: {
		/* the process keeps a copy (a static: reachable for as long as it runs); the argument
		 * itself loses its credentials, which ps would show every local user */
		static char *remote;
		free(remote);
		remote = xstrdup(arg);
		o->remote = remote;
		url_scrub(arg);
		break;
	}
	case O_BRANCH: o->branch = arg; break;
	case O_REMOTE_CRED: o->remote_credentials = arg; break;
	case O_LISTEN: o->listen = arg; break;
	case O_NO_INOTIFY: o->no_inotify = true; break;
	case O_TAKE_OVER: o->take_over = true; break;
	case O_CUSTOMER: o->customer = arg; break;
	case O_REASON: o->reason = arg; break;
	case O_NO_REFRESH: o->no_refresh = true; break;
	case O_BUILD: o->build = true; break;
	case O_VERBOSE: o->verbose++; break;
	case O_QUIET: o->quiet = true; break;
	case O_HELP: case O_VERSION: break;  /* handled once every option is read */
	case O__MAX: BUG("no such option");
	}
	return 0;
}

/* "unknown option '--x'", or "ambiguous option '--p' (--path, --plan, ...)" for a prefix of several */
static char *unknown_option(const char *arg)
{
	if (strncmp(arg, "--", 2) != 0)
		return xasprintf("unknown option '%s'", arg);
	size_t n = strcspn(arg + 2, "="), nmatch = 0;
	struct buf which = BUF_INIT;
	for (int i = 0; i < O__MAX; i++)
		if (n && strncmp(optdefs[i].name, arg + 2, n) == 0)
			buf_addf(&which, "%s--%s", nmatch++ ? ", " : "", optdefs[i].name);
	char *r = nmatch > 1 ? xasprintf("ambiguous option '%s' (%s)", arg, buf_cstr(&which))
			     : xasprintf("unknown option '%s'", arg);
	buf_release(&which);
	return r;
}

/* `reconciler __complete WORD...` (cmd_complete.c): the tables above as completion sees them. */
static int complete(int argc, char **argv)
{
	struct cli_complete_opt opts[O__MAX];
	struct cli_complete_cmd cmds[ARRAY_SIZE(commands)];
	for (int i = 0; i < O__MAX; i++)
		opts[i] = (struct cli_complete_opt){ optdefs[i].name, optdefs[i].short_name, optdefs[i].arg };
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		cmds[i] = (struct cli_complete_cmd){ commands[i].name, accepted(&commands[i]) };
	struct cli_complete t = { opts, O__MAX, cmds, ARRAY_SIZE(commands), GLOBAL_OPTS };
	return cmd_complete(argc, argv, &t);
}

/* getopt_long's tables from optdefs[]: longopts has O__MAX + 1 rows, shortopts 16 bytes. */
static void getopt_tables(struct option *longopts, char *shortopts)
{
	size_t ns = 0;
	shortopts[ns++] = ':';  /* ':' first: a missing value is told apart from an unknown option */
	for (int i = 0; i < O__MAX; i++) {
		const struct optdef *d = &optdefs[i];
		longopts[i] = (struct option){ d->name, d->arg ? required_argument : no_argument, NULL,
					       d->short_name ? d->short_name : OPT_BASE + i };
		if (d->short_name) {
			shortopts[ns++] = d->short_name;
			if (d->arg)
				shortopts[ns++] = ':';
		}
	}
	longopts[O__MAX] = (struct option){ NULL, 0, NULL, 0 };
	shortopts[ns] = '\0';
}

/* The options before any is read: the environment's state directory and engine, else the defaults. */
static void default_opts(struct cli_opts *o)
{
	*o = (struct cli_opts){ .repo = ".", .rev = "HEAD", .path = "" };
	o->state_dir = getenv("RECONCILER_STATE_DIR");
	if (!o->state_dir || !*o->state_dir)
		o->state_dir = "/var/lib/reconciler";
	o->docker_host = getenv("DOCKER_HOST");
	if (!o->docker_host || !*o->docker_host)
		o->docker_host = "unix:///var/run/docker.sock";
}

/* The options given on a command line, as read_options() found them. */
struct given_opts {
	enum opt *ids;   /* in the order given; whether the command takes them is checked later */
	size_t n;
	bool help;       /* -h or --help among them */
	char *bad;       /* the first unknown option or missing value, said once; NULL: none */
};

/* What is wrong with the option getopt_long() just refused (c: what it returned). */
static char *bad_option(int c, int argc, char **argv)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
	if (c == ':')
		return xasprintf("option '%s' needs a value", arg);
	if (optopt > 0 && optopt < OPT_BASE)
		return xasprintf("unknown option '-%c'", optopt);
	if (optopt >= OPT_BASE)
		return xasprintf("option '%s' takes no value", arg);
	return unknown_option(arg);
}

/*
 * Read every option into o (getopt moves the arguments after them), and which were given into g.
 * -1 when main() goes on; else the exit code: a bad value (said) or --version (printed).
 */
static int read_options(int argc, char **argv, struct cli_opts *o, struct given_opts *g)
{
	struct option longopts[O__MAX + 1];
	char shortopts[16];
	getopt_tables(longopts, shortopts);
	g->ids = xcalloc((size_t)argc + 1, sizeof(*g->ids));
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		int id = -1;
		if (c >= OPT_BASE && c < OPT_BASE + O__MAX)
			id = c - OPT_BASE;
		for (int i = 0; id < 0 && i < O__MAX; i++)
			if (optdefs[i].short_name && optdefs[i].short_name == c)
				id = i;
		if (id < 0) {
			if (!g->bad)
				g->bad = bad_option(c, argc, argv);
			continue;
		}
		if (set_opt(o, (enum opt)id, optarg) < 0)
			return 1;
		if (id == O_VERSION)  /* as before: the version, whatever else is there */
			return cmd_version(o);
		g->help |= id == O_HELP;
		g->ids[g->n++] = (enum opt)id;
	}
	return -1;
}

/*
 * What the command line asks before a command runs (name: the command's name as given, NULL when
 * none; cmd: that command, NULL when unknown): a bad option, the usage, a command's help, an option
 * the command does not take.  -1 when the command is to run; else the exit code, said.
 */
static int before_running(const char *name, const struct command *cmd, const struct given_opts *g)
{
	if (g->bad) {
		fprintf(stderr, "reconciler: %s\n", g->bad);
		if (cmd)
			usage_line(stderr, cmd);
		else
			fprintf(stderr, "usage: reconciler [options] <command> [args]\n");
		fprintf(stderr, "(see reconciler help%s%s)\n", cmd ? " " : "", cmd ? cmd->name : "");
		return 1;
	}
	if (!name) {
		usage(g->help ? stdout : stderr);
		return g->help ? 0 : 1;
	}
	if (!cmd) {
		fprintf(stderr, "reconciler: unknown command '%s' (see reconciler --help)\n", name);
		return 1;
	}
	if (g->help) {
		command_help(stdout, cmd);
		return 0;
	}
	uint64_t ok = accepted(cmd);
	for (size_t i = 0; i < g->n; i++)
		if (!(ok & BIT(g->ids[i]))) {
			fprintf(stderr, "reconciler: '%s' does not take --%s (see reconciler help %s)\n", cmd->name,
				optdefs[g->ids[i]].name, cmd->name);
			return 1;
		}
	return -1;
}

/* Run cmd with o and its arguments (argc, argv: those after its name); its exit code. */
static int run_command(const struct command *cmd, struct cli_opts *o, int argc, char **argv)
{
	/* Paths the engine sees (secret bind mounts) must be absolute. */
	_cleanup_free_ char *abs_state = NULL;
	if (o->state_dir[0] != '/') {
		char cwd[4096];
		if (getcwd(cwd, sizeof(cwd)))
			o->state_dir = abs_state = xasprintf("%s/%s", cwd, o->state_dir);
	}
	rc_log_level = o->quiet ? RC_LOG_ERROR : (enum rc_log_level)(RC_LOG_WARN + (o->verbose > 2 ? 2 : o->verbose));
	o->argc = argc;
	o->argv = argv;
	if (!cmd->fn)
		return cmd_help(o);
	curl_global_init(CURL_GLOBAL_ALL);
	int r = cmd->fn(o);
	curl_global_cleanup();
	return r;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "__complete") == 0)
		return complete(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "__fetch") == 0)  /* source_fetch()'s child (source.h) */
		return source_fetch_child(argc - 2, argv + 2);

	struct cli_opts o;
	default_opts(&o);
	struct given_opts g = { 0 };
	const struct command *cmd = NULL;
	int rc = read_options(argc, argv, &o, &g);
	if (rc < 0) {
		const char *name = optind < argc ? argv[optind] : NULL;
		cmd = name ? find_command(name) : NULL;
		rc = before_running(name, cmd, &g);
	}
	free(g.ids);
	free(g.bad);
	if (rc >= 0)
		return rc;
	return run_command(cmd, &o, argc - optind - 1, argv + optind + 1);
}
