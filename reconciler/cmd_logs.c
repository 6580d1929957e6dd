/*
 * cmd_logs.c — `reconciler logs --build UNIT`: the output of the newest
 * image build apply ran for UNIT, kept in the state directory
 * (builds/<commit>/<unit>.log: state.h), on stdout; the commit it was
 * built for on stderr.  Reads without the state's lock, so it works while a
 * daemon runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "state.h"
#include "util.h"

int cmd_logs(const struct cli_opts *o)
{
	if (!o->build) {
		fprintf(stderr, "reconciler: logs: give --build (the only logs kept are image builds')\n");
		return 1;
	}
	if (o->argc != 1) {
		fprintf(stderr, "reconciler: logs --build takes one UNIT (\"web\", \"alpha/web\")\n");
		return 1;
	}
	struct rc_err err = { 0 };
	_cleanup_free_ char *commit = NULL, *data = NULL;
	size_t len = 0;
	if (state_read_build_log(o->state_dir, o->argv[0], &commit, &data, &len, &err) < 0) {
		_cleanup_free_ char *shown = str_shown(err.msg);
		fprintf(stderr, "reconciler: %s\n", shown);
		return 1;
	}
	log_info("build output of %s for commit %s", o->argv[0], commit);
	fwrite(data, 1, len, stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}
