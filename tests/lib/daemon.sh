#!/bin/sh
# daemon.sh — helpers for the `reconciler run` tests (sourced after test-lib.sh).
#
#   daemon_start LOG [reconciler options...]   start `reconciler run` in the background
#                                               (short intervals: --check-interval
#                                               $DAEMON_CHECK_INTERVAL, default 2); its pid in $DPID
#   daemon_stop                                 SIGTERM, wait; its exit code in $DEXIT
#   daemon_wait_log LOG PATTERN [SECONDS]       wait (bounded) until LOG matches PATTERN
#
# Every test that starts a daemon registers `test_when_finished daemon_kill`,
# so a failing test never leaves one running.
DPID=
DEXIT=

daemon_start() {
	dlog=$1
	shift
	"$RC" --state-dir "$STATE" "$@" run --poll-interval 1 --check-interval "${DAEMON_CHECK_INTERVAL:-2}" >>"$dlog" 2>&1 </dev/null &
	DPID=$!
}

daemon_stop() {
	[ -n "$DPID" ] || return 0
	kill -TERM "$DPID" 2>/dev/null
	wait "$DPID"
	DEXIT=$?
	DPID=
	return 0
}

daemon_kill() {
	[ -n "$DPID" ] || return 0
	kill -TERM "$DPID" 2>/dev/null
	i=0
	while kill -0 "$DPID" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
	return 0
}

daemon_wait_log() {
	wait_for "grep -q -e \"$2\" \"$1\"" "${3:-60}" || { echo "--- $1"; cat "$1"; return 1; }
}
