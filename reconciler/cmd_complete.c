/*
 * cmd_complete.c — shell completion: `reconciler __complete WORD...` (hidden;
 * called by docs/reconciler.bash-completion, installed by `make install`).
 *
 * WORD... are the command line's words after `reconciler`, the last one the
 * word being completed (maybe empty).  Prints the candidates that start with
 * it, one per line: the command names, the options of the command (main.c's
 * tables, handed over by main(): they never drift from what the command
 * takes), and for the verbs that name units (enable, disable, restart,
 * approve) the unit ids of the last apply recorded in the state directory
 * (applied.json; no engine call, no Git; nothing when the directory is not
 * there or not readable).  After an option that takes a file or directory it
 * prints the one line ":files", and the script completes file names.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "state.h"
#include "util.h"

static void say(const char *cand, const char *cur)
{
	if (str_startswith(cand, cur))
		printf("%s\n", cand);
}

/* The option word w names (--name, --name=V, -x), or -1. */
static int option_of(const struct cli_complete *t, const char *w)
{
	for (size_t i = 0; i < t->nopts; i++) {
		const struct cli_complete_opt *o = &t->opts[i];
		size_t n = strlen(o->name);
		if (w[0] == '-' && w[1] == '-' && strncmp(w + 2, o->name, n) == 0 && (!w[2 + n] || w[2 + n] == '='))
			return (int)i;
		if (o->short_name && w[0] == '-' && w[1] == o->short_name && !w[2])
			return (int)i;
	}
	return -1;
}

/* The unit ids of the last apply in the state directory dir, filtered: customers (the part before '/'). */
static void say_units(const char *dir, const char *cur, bool customers)
{
	struct stat sb;
	_cleanup_free_ char *applied = xasprintf("%s/applied.json", dir);
	if (stat(applied, &sb) < 0)  /* never make a state directory to complete a word */
		return;
	struct rc_state *st = NULL;
	struct rc_err err = { 0 };
	if (state_open(dir, 0, &st, &err) < 0)
		return;
	size_t n = 0;
	const char *const *ids = state_get_unit_ids(st, &n);
	_cleanup_free_ char *last = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!customers) {
			say(ids[i], cur);
			continue;
		}
		const char *slash = strchr(ids[i], '/');
		if (!slash)
			continue;
		char *c = xstrndup(ids[i], (size_t)(slash - ids[i]));
		if (!str_eq(c, last))  /* ids are sorted: a customer's units are together */
			say(c, cur);
		free(last);
		last = c;
	}
	state_free(st);
}

static bool names_units(const char *cmd)
{
	return str_eq(cmd, "enable") || str_eq(cmd, "disable") || str_eq(cmd, "restart") || str_eq(cmd, "approve");
}

int cmd_complete(int argc, char **argv, const struct cli_complete *t)
{
	if (argc < 1)
		return 0;
	rc_log_level = RC_LOG_ERROR;
	const char *cur = argv[argc - 1];
	const char *state_dir = getenv("RECONCILER_STATE_DIR");
	if (!state_dir || !*state_dir)
		state_dir = "/var/lib/reconciler";
	const struct cli_complete_cmd *cmd = NULL;
	int value_of = -1;  /* the option whose value cur is */
	for (int i = 0; i < argc - 1; i++) {
		const char *w = argv[i];
		int o = w[0] == '-' ? option_of(t, w) : -1;
		if (o >= 0 && t->opts[o].arg && !strchr(w, '=')) {
			if (i + 1 < argc - 1 && str_eq(t->opts[o].name, "state-dir"))
				state_dir = argv[i + 1];
			if (i + 1 == argc - 1)
				value_of = o;
			i++;
			continue;
		}
		if (o >= 0 && str_startswith(w, "--state-dir="))
			state_dir = w + strlen("--state-dir=");
		if (w[0] == '-' || cmd)
			continue;
		for (size_t k = 0; k < t->ncmds && !cmd; k++)
			if (str_eq(t->cmds[k].name, w))
				cmd = &t->cmds[k];
	}
	if (value_of >= 0) {
		const char *name = t->opts[value_of].name;
		if (str_eq(name, "customer"))
			say_units(state_dir, cur, true);
		else if (str_eq(t->opts[value_of].arg, "R") || str_eq(t->opts[value_of].arg, "D") ||
			 str_eq(t->opts[value_of].arg, "P") || str_eq(t->opts[value_of].arg, "FILE"))
			printf(":files\n");
		return 0;
	}
	if (cur[0] == '-') {
		for (size_t i = 0; i < t->nopts; i++) {
			if (!(cmd ? cmd->opts : t->global) || !((cmd ? cmd->opts : t->global) & (UINT64_C(1) << i)))
				continue;
			_cleanup_free_ char *w = xasprintf("--%s", t->opts[i].name);
			say(w, cur);
		}
		return 0;
	}
	if (!cmd || str_eq(cmd->name, "help")) {
		for (size_t k = 0; k < t->ncmds; k++)
			say(t->cmds[k].name, cur);
		return 0;
	}
	if (names_units(cmd->name))
		say_units(state_dir, cur, false);
	return 0;
}
