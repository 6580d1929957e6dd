/*
 * requests.h — operator requests: `reconciler enable UNIT`, `approve
 * COMMIT|UNIT` and `retry [COMMIT]` change the state directory, which only
 * the holder of its lock may write.
 *
 * Owns: <state-dir>/requests/ and the meaning of each request.  `disable
 * UNIT [--reason TEXT]` is one too; `restart` goes through the same files but
 * is carried out by the daemon (engine work: daemon.h), not here.
 *  - No daemon running (the lock is free): the command takes the lock,
 *    request_exec()s the request itself, saves and exits.
 *  - A daemon holds the lock: the command writes requests/<name>.req
 *    ("verb\narg\n", atomically; <name> = <unix-ns>-<pid>, so names sort in
 *    submission order) and waits for requests/<name>.res ("ok\nmessage\n" or
 *    "error\nmessage\n").  The daemon lists pending requests on every turn of
 *    its loop (at least twice a second), request_exec()s each one on its
 *    in-memory state, saves, answers and removes the .req.  The command
 *    removes the .res after reading it.
 * So there is exactly one writer of the state files at any time, and no
 * second lock.  Requests left behind by a command that gave up waiting are
 * still carried out by the daemon (or by the next command run without one).
 *
 * requests/ must pass state_check_dir() (a directory of the running uid,
 * not writable by group or others).  A request or answer file is read only
 * when it is a regular file owned by the running uid (open_private(), util.h:
 * never through a symbolic link, never blocking on a FIFO): a request written
 * by another uid is not read and not carried out, and request_list() logs it
 * once (its name and owner, never its bytes).
 */
#ifndef RC_REQUESTS_H
#define RC_REQUESTS_H

#include <stdbool.h>

#include "buf.h"
#include "state.h"
#include "util.h"

struct request {
	char *name;   /* file name without .req */
	char *verb;   /* "enable", "disable", "restart", "approve", "retry", "wake" */
	char *arg;    /* "" when none; restart, wake: unit ids and customer:ID, one space between */
	char *note;   /* disable's reason (a third line of the file); NULL when none */
	char *who;    /* who asked: the file owner's user name and uid (always ours: see above) */
};

/* "NAME (uid N)" of the effective uid, for the journal (malloc'ed). */
char *request_who(void);

/* True for the verbs request_exec() knows. */
bool request_verb_known(const char *verb);

/* Write a request; *ret_name (malloc'ed) names it for request_wait(). */
int request_submit(const char *state_dir, const char *verb, const char *arg, char **ret_name,
		   struct rc_err *err);
/* The same with a note (disable's reason: one line of printable text; NULL: none). */
int request_submit_note(const char *state_dir, const char *verb, const char *arg, const char *note,
			char **ret_name, struct rc_err *err);
/* Pending requests, oldest first.  *ret is the caller's (request_list_free). */
int request_list(const char *state_dir, struct request **ret, size_t *ret_n, struct rc_err *err);
void request_list_free(struct request *v, size_t n);
/* Write name's answer and remove its .req. */
int request_answer(const char *state_dir, const char *name, bool ok, const char *msg, struct rc_err *err);
/*
 * Wait up to timeout_ms for name's answer.  Returns 1 with *ret_ok and
 * *ret_msg (malloc'ed) set and the .res removed, 0 on timeout, -1 on error.
 */
int request_wait(const char *state_dir, const char *name, int timeout_ms, bool *ret_ok, char **ret_msg,
		 struct rc_err *err);

/* What a request changed, for the daemon to act upon. */
enum {
	REQ_EFFECT_CONVERGE = 1 << 0,  /* converge the desired state in force (approval, enable) */
	REQ_EFFECT_RECHECK = 1 << 1,   /* failed commits were forgotten: look at the branch head again */
};

/*
 * Carry out verb/arg on st (locked): edit it, journal it, and describe the
 * result in msg.  Returns 0 with *ret_effect set, or -1 when the request
 * cannot be honoured (unknown unit, nothing awaiting, ...).
 *  enable UNIT      forget UNIT's disabled mark and failure counter
 *  disable UNIT     mark UNIT disabled, "disabled by WHO[: NOTE]" (the daemon
 *                   also stops its container)
 *  approve UNIT     approve the change of UNIT awaiting approval
 *  approve COMMIT   approve every change awaiting approval from COMMIT
 *                   (a prefix of 4+ hex digits)
 *  retry [COMMIT]   forget that COMMIT (prefix; none: every commit) failed
 */
int request_exec(struct rc_state *st, const char *verb, const char *arg, struct buf *msg, unsigned *ret_effect,
		 struct rc_err *err);
/* The same, with the request's note and who asked (either may be NULL). */
int request_exec_by(struct rc_state *st, const char *verb, const char *arg, const char *note, const char *who,
		    struct buf *msg, unsigned *ret_effect, struct rc_err *err);

#endif
