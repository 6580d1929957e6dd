#!/bin/sh
# A private smart-HTTP Git server for tests (tests/lib/githttp.py: `git
# http-backend` behind HTTP basic auth on 127.0.0.1).  Sourced after test-lib.sh.
#   githttp_start ROOT AUTH   serve the repositories under ROOT to the
#                             user:password lines of AUTH; waits (bounded) for
#                             its port, in $GITHTTP_PORT; requests are logged to
#                             $GITHTTP_LOG ("METHOD PATH STATUS USER")
#   githttp_stop              end it (by the pid it wrote itself: python3 may be a
#                             shim whose $! is not the server's)
GITHTTP_LOG=$TRASH/githttp.log
GITHTTP_PORT=
GITHTTP_PID=

githttp_start() {
	rm -f "$TRASH/githttp.pid" "$TRASH/githttp.port"
	python3 "$RC_TOP/tests/lib/githttp.py" "$1" "$2" "$GITHTTP_LOG" "$TRASH/githttp.pid" \
		"$TRASH/githttp.port" >>"$TRASH/githttp.err" 2>&1 </dev/null &
	wait_for "test -s $TRASH/githttp.port" 20 || { cat "$TRASH/githttp.err"; return 1; }
	GITHTTP_PORT=$(cat "$TRASH/githttp.port")
	GITHTTP_PID=$(cat "$TRASH/githttp.pid")
}

githttp_stop() {
	[ -n "$GITHTTP_PID" ] || return 0
	kill -TERM "$GITHTTP_PID" 2>/dev/null
	wait_for "! kill -0 $GITHTTP_PID" 10 || kill -KILL "$GITHTTP_PID" 2>/dev/null
	GITHTTP_PID=
	return 0
}
