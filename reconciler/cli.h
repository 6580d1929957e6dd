/*
 * cli.h — the command-line front end: the options and one entry point per
 * command.  Commands are thin: they parse nothing themselves (main.c does),
 * call the library modules, print results to stdout and the one error
 * message to stderr, and return the process exit code.
 *
 * Options are per command: each command's row in main.c's table declares
 * the ones it takes, and main.c refuses any other before the command runs.
 * So a command sees in struct cli_opts only its own options set (the others
 * keep their defaults) plus the global ones (state_dir, docker_host,
 * verbose, quiet).
 *
 * Owns: struct cli_opts (filled by main.c from argv and the environment).
 */
#ifndef RC_CLI_H
#define RC_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cli_opts {
	const char *repo;        /* --repo, default "." */
	const char *rev;         /* --rev, default "HEAD" */
	bool rev_set;            /* --rev was given (drift: instead of the last applied commit) */
	const char *dir;         /* --dir: a plain directory instead of Git */
	const char *path;        /* --path: manifest sub-directory inside the repo, default "" (root) */
	const char *state_dir;   /* --state-dir, env RECONCILER_STATE_DIR, default /var/lib/reconciler */
	const char *docker_host; /* --docker-host, env DOCKER_HOST, default unix:///var/run/docker.sock */
	const char *out;         /* --out FILE */
	const char *plan_file;   /* --plan FILE */
	bool json;               /* --json */
	bool markdown;           /* --markdown */
	bool stats;              /* --stats */
	bool fix;                /* --fix */
	bool take_over;          /* --take-over: plan, apply, drift --fix, run may take the project from its owner */
	const char *customer;    /* --customer C: rotate only that customer's secret; restart its units */
	const char *reason;      /* --reason TEXT: disable's reason */
	const char *policy;      /* --policy FILE: the host policy (hostpolicy.h); NULL: env or the default */
	bool build;              /* --build: logs shows a unit's image build output */
	bool no_refresh;         /* --no-refresh: plan and apply trust the containers' labels (no inspects) */
	int parallel;            /* --parallel N, 0 = default */
	int verbose;             /* -v (repeatable) */
	/* run (the daemon); durations in seconds, 0 = the default */
	double poll_interval;    /* --poll-interval S: polling fallback of the branch watch (2) */
	double check_interval;   /* --check-interval S: periodic check of every unit (30) */
	double drift_interval;   /* --drift-interval S: periodic drift check (300; 0 = off) */
	bool drift_interval_set;
	double pull_interval;    /* --pull-interval S: the `pull: always` tags asked of their registries (300; 0 = off) */
	bool pull_interval_set;
	double stable_period;    /* --stable-period S: ready this long resets a failure counter (600) */
	double stopped_grace;    /* --stopped-grace S: an operator's docker stop is undone after this (2; 0: 2) */
	double fetch_interval;   /* --fetch-interval S: with --remote (60) */
	double fetch_timeout;    /* --fetch-timeout S: with --remote (120; 0: the default) */
	const char *remote;      /* --remote URL: fetch the manifests from there into --repo */
	const char *branch;      /* --branch B: the remote's branch (main) */
	const char *remote_credentials;  /* --remote-credentials FILE (gitcred.h) */
	bool no_inotify;         /* --no-inotify: the branch watch polls only */
	const char *listen;      /* --listen ADDR: the daemon's HTTP endpoint (httpd.h; default <state-dir>/http.sock) */
	bool quiet;              /* -q */
	int argc;                /* positional arguments after the command */
	char **argv;
};

typedef int (*cli_cmd_fn)(const struct cli_opts *o);

int cmd_version(const struct cli_opts *o);

/*
 * Shell completion (cmd_complete.c): `reconciler __complete WORD...` prints
 * the candidates for the last WORD, from main.c's tables handed over here.
 */
struct cli_complete_opt {
	const char *name;     /* long name, without "--" */
	char short_name;      /* 0: none */
	const char *arg;      /* its value's name (R, D, P, FILE: a path); NULL: takes none */
};
struct cli_complete_cmd {
	const char *name;
	uint64_t opts;        /* bit i: takes option i (globals included) */
};
struct cli_complete {
	const struct cli_complete_opt *opts;
	size_t nopts;
	const struct cli_complete_cmd *cmds;
	size_t ncmds;
	uint64_t global;      /* the options before a command's name */
};
int cmd_complete(int argc, char **argv, const struct cli_complete *t);

struct source_files;
struct rc_desired;
/*
 * Read the manifests (--dir, or --repo/--rev/--path) and expand them, with
 * secrets from <state-dir>/secrets (making the generated per-customer ones
 * that do not exist yet: custsecret.h).  Returns 0 with *ret_desired set, or 1
 * after printing every diagnostic (file:line:col) and a count to stderr.
 * files is filled either way; release it with source_files_release().
 */
int cli_load_desired(const struct cli_opts *o, struct source_files *files, struct rc_desired **ret_desired);
/* The same for files read already (o gives the secrets directory and --path). */
int cli_expand_desired(const struct cli_opts *o, const struct source_files *files,
		       struct rc_desired **ret_desired);

/*
 * The repository identity recorded in the project's ownership marker
 * (owner.h): --remote (redacted), --dir or --repo.  malloc'ed.
 */
char *cli_repo_identity(const struct cli_opts *o);

struct plan;
struct apply_result;
/*
 * Print a plan's conflicts to stderr ("nothing was changed"); returns 1 if
 * there were any, 0 otherwise.  Print the failed and skipped steps of an
 * apply under the heading "<what> failed for N units:"; returns 1 if any.
 */
int cli_report_conflicts(const struct plan *p);
int cli_report_failures(const struct apply_result *ar, const char *what);

/*
 * rotate NAME [--customer C] (cmd_secret.c): a new value for the generated
 * per-customer secret NAME of every customer that has it (or of C), then
 * apply, which replaces exactly the units that mount it.  Exit 1 when NAME
 * is no generated per-customer secret (a file the operator writes: the error
 * names it) or the apply fails.
 */
int cmd_rotate(const struct cli_opts *o);
/* logs --build UNIT (cmd_logs.c): the output of UNIT's newest image build (state.h, builds/). */
int cmd_logs(const struct cli_opts *o);

/*
 * plan / apply / status (cmd_apply.c).  plan and apply (and drift --fix)
 * exit 1 before any plan output when another state directory owns the
 * project (owner.h), unless --take-over; apply claims the project before
 * its first change; status only warns.
 */
int cmd_plan(const struct cli_opts *o);
int cmd_apply(const struct cli_opts *o);
int cmd_status(const struct cli_opts *o);
/* The document of `status --json` (spec/status-json.md) into out, for the daemon's GET /status
 * (telemetry.h): 0 nothing pending, 2 changes pending, -1 with err (the reason went to stderr). */
struct buf;
struct rc_err;
int status_document(const struct cli_opts *o, struct buf *out, struct rc_err *err);
/*
 * validate: load and expand the manifests (--repo/--rev/--path or --dir).
 * Exit 0 and a one-line summary on stderr (unless -q); exit 1 with every
 * diagnostic as "file:line:col: message" on stderr, then a count line.
 * --json: the verdict, the diagnostics and the summary as one document on
 * stdout instead, whatever the outcome (spec/validate-json.md).
 */
int cmd_validate(const struct cli_opts *o);
/*
 * render: the expanded units in dependency order with their container
 * name, hashes and canonical spec (secrets only as digests); --json gives
 * the document described in spec/render-json.md.  Exit codes as validate.
 */
int cmd_render(const struct cli_opts *o);

/*
 * `diff A B`: what would change going from the manifests at revision A to
 * those at revision B of --repo (under --path); no Docker.  Text (colour
 * when stdout is a terminal and NO_COLOR is unset), --markdown or --json
 * (spec/plan-json.md) on stdout (or --out FILE).  Returns 0 when nothing
 * changes, 2 when something does, 1 on error (an invalid revision prints
 * its file:line:col: diagnostics to stderr).
 */
int cmd_diff(const struct cli_opts *o);

/*
 * `drift`: compare what the engine actually runs with the last applied
 * commit (state's last applied; --rev or --dir instead), inspecting every
 * container of the project (--parallel N in flight, default 8).  Text
 * (colour on a terminal unless NO_COLOR), --markdown or --json
 * (spec/drift-json.md) on stdout (or --out FILE).  Journals a summary line
 * when it can take the state lock.  --fix then converges like apply (takes
 * the lock, plans with the drift made visible, applies, checks again).
 * When a daemon holds the lock, against the last applied commit, the
 * daemon checks and fixes instead (control.h); without its answer the
 * command checks by itself, unjournaled, and cannot fix.
 * Returns 0 no drift (after --fix: none left), 2 drift, 1 error.
 */
int cmd_drift(const struct cli_opts *o);

/*
 * run (cmd_run.c): the daemon (daemon.h).  enable UNIT, approve
 * COMMIT|UNIT, retry [COMMIT]: edit the state directory, through the daemon
 * when one holds it (requests.h).  Exit 0 done, 1 refused or error.
 */
int cmd_run(const struct cli_opts *o);
int cmd_enable(const struct cli_opts *o);
int cmd_disable(const struct cli_opts *o);
int cmd_restart(const struct cli_opts *o);
int cmd_wake(const struct cli_opts *o);
int cmd_approve(const struct cli_opts *o);
int cmd_retry(const struct cli_opts *o);

#endif
