#!/bin/sh
# The engine behind tests/lib/sockproxy.py, for tests that take it away and
# bring it back, or make it fail, without stopping the dockerd other tests
# share.  Sourced after test-lib.sh.
#   proxy_start   listen on $SOCK (default $TRASH/engine.sock), forwarding to
#                 the real engine; waits (bounded) until it answers /_ping
#   proxy_stop    drop every connection and end the proxy
#   proxy_fault MODE [REGEX]
#                 from the next request on, answer the requests whose
#                 "METHOD PATH" matches REGEX (all without one) with MODE:
#                 garbage, truncate, hang, drip or reset (sockproxy.py says
#                 what each does); each fault is logged in $PROXY_CONTROL.log
#   proxy_heal    forward everything again
#   proxy_faults  how many requests were faulted so far
SOCK=${SOCK:-$TRASH/engine.sock}
REAL=${DOCKER_HOST:-unix:///var/run/docker.sock}
PROXY_CONTROL=${PROXY_CONTROL:-$TRASH/proxy.control}
PROXY=

proxy_start() {
	python3 "$RC_TOP/tests/lib/sockproxy.py" "$SOCK" "${REAL#unix://}" - "$PROXY_CONTROL" &
	PROXY=$!
	wait_for "curl -fsS --max-time 2 --unix-socket $SOCK http://localhost/_ping >/dev/null 2>&1" 20
}
proxy_stop() {
	[ -n "$PROXY" ] || return 0
	kill -TERM "$PROXY" 2>/dev/null
	wait "$PROXY" 2>/dev/null
	# $! may be a wrapper's (a pyenv shim runs python as its child): end the proxy itself too
	pkill -TERM -f "sockproxy.py $SOCK " 2>/dev/null
	wait_for "! pgrep -f \"sockproxy.py $SOCK \"" 10
	PROXY=
	return 0
}
proxy_fault() {
	echo "$*" >"$PROXY_CONTROL.tmp" && mv "$PROXY_CONTROL.tmp" "$PROXY_CONTROL"
}
proxy_heal() {
	echo pass >"$PROXY_CONTROL.tmp" && mv "$PROXY_CONTROL.tmp" "$PROXY_CONTROL"
}
proxy_faults() {
	if [ -f "$PROXY_CONTROL.log" ]; then wc -l <"$PROXY_CONTROL.log"; else echo 0; fi
}
