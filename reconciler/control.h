/*
 * control.h — the daemon's control socket, <state-dir>/control.sock: how a
 * command hands the running daemon a piece of work it does more cheaply
 * than a fresh process, or that only the holder of the state directory's
 * lock may do.  `reconciler drift` asks for a drift check, which the daemon
 * makes without listing the project's containers (it knows their ids from
 * the engine's events: docs/performance.md, "Drift check"); `drift --fix`
 * then asks it to converge the drifted units.
 *
 * Owns: the socket file and its wire format.  The daemon creates the socket
 * after it has taken the state directory's lock (mode 0600 inside the 0700
 * directory: its owner only, as for every state file), replacing one a dead
 * daemon left, and removes it when it exits.  One request per connection,
 * lines of tab-separated fields:
 *
 *   command: <drift|fix> TAB <text|markdown|json> TAB <color 0|1> TAB <parallel> TAB <commit> TAB <path> LF
 *   daemon:  accepted LF                      as soon as it reads the request;
 *            ok TAB <exit> TAB <count> TAB <duration-ns> TAB <length> LF <text: length bytes> EOF
 *            or: no TAB <why> LF               (another commit in force, check failed, ...)
 *
 * drift: exit 0 or 2, count = containers inspected, text = the report.
 * fix: the daemon checks, converges with the drifted fields visible to the
 * planner (as `drift --fix` does), checks again; exit 0 (no drift left) or
 * 2, count = steps taken, text = the report left (text format) or nothing;
 * "no" when the converge failed (why names the failed steps).
 *
 * The daemon reads requests between its other work; one in a rollout that
 * waits on health does not read for minutes, so the command waits for
 * "accepted" only briefly and then checks by itself.  Nothing here is
 * trusted more than the state files: whoever can open the socket can write
 * the state directory.
 */
#ifndef RC_CONTROL_H
#define RC_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define CONTROL_SOCKET "control.sock"

/* ---- the daemon's side ---- */

struct control_server;

/* Listen on <state_dir>/control.sock.  *ret is closed (and the file removed) by control_close(). */
int control_listen(const char *state_dir, struct control_server **ret, struct rc_err *err);
/* The listening fd, for poll() (POLLIN: a command is waiting); -1 for NULL. */
int control_fd(const struct control_server *s);
void control_close(struct control_server *s);

struct control_request {
	int fd;
	char *verb;     /* "drift", "fix" */
	char *format;   /* "text", "markdown", "json" */
	bool color;
	int parallel;   /* inspects in flight, 1..256 (--parallel) */
	char *commit;   /* the commit the command checks against */
	char *path;     /* its manifest directory ("" the root) */
};

/*
 * Accept one connection and read its request (waiting at most a second for
 * it).  1: *ret set — answer it, then control_request_free(); 0: nothing to
 * answer (no connection after all, or a malformed request, already refused);
 * -1: accept() failed (err says why).
 */
int control_accept(struct control_server *s, struct control_request **ret, struct rc_err *err);
/* Say "accepted".  -1 when the command has gone (it gave up waiting): drop the request. */
int control_say_accepted(struct control_request *r);
void control_answer_ok(struct control_request *r, int exit_code, size_t count, int64_t duration_ns,
		       const char *body, size_t len);
void control_answer_no(struct control_request *r, const char *why);
void control_request_free(struct control_request *r);

/* ---- the command's side ---- */

struct control_drift_answer {
	int exit_code;          /* 0 no drift (left), 2 drift (left) */
	size_t count;           /* drift: containers inspected; fix: steps taken */
	int64_t duration_ns;    /* of the check, in the daemon */
	char *body;             /* the rendered report (caller frees) */
	size_t len;
};

/* What a drift request asks of the daemon. */
struct control_drift_req {
	bool fix;               /* and a converge of what drifted */
	const char *format;     /* "text", "json", "markdown" */
	bool color;
	int parallel;           /* inspects in flight (clamped to 1..256; < 1: 8) */
	const char *commit;     /* the commit to check against */
	const char *path;       /* the manifests' directory in it; NULL or "": the root */
	int accept_ms;          /* how long to wait for the daemon to take the request */
	int answer_ms;          /* then for its answer */
};

/*
 * Ask the daemon of state_dir for the drift check q describes.  1: *ret
 * filled (free ret->body); 0: not answered (no daemon socket, daemon busy,
 * declining or failing: err says why), *ret untouched.
 */
int control_drift(const char *state_dir, const struct control_drift_req *q, struct control_drift_answer *ret,
		  struct rc_err *err);

#endif
