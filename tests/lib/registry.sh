#!/bin/sh
# A local registry (Debian's docker-registry) on 127.0.0.1 for pull tests.
#   registry_start  -> exports RC_TEST_REGISTRY=127.0.0.1:PORT
#   registry_stop
registry_start() {
	REGISTRY_DIR=$(mktemp -d /tmp/rc-registry.XXXXXX)
	# per run of the harness (two runs on one engine do not share it), in 32000-32699: above
	# the test scripts' blocks (10000-31999, tests/lib/test-lib.sh), below the ephemeral ports
	port=${RC_REGISTRY_PORT:-$((32000 + $$ % 700))}
	cat >"$REGISTRY_DIR/config.yml" <<CFG
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
http:
  addr: 127.0.0.1:$port
CFG
	docker-registry serve "$REGISTRY_DIR/config.yml" >"$REGISTRY_DIR/log" 2>&1 &
	REGISTRY_PID=$!
	registry_wait "$port" 200 "$REGISTRY_DIR/log" || { registry_stop; return 1; }
	RC_TEST_REGISTRY=127.0.0.1:$port
	export RC_TEST_REGISTRY
}

# registry_wait PORT CODE LOG: wait (10 s at most) until GET /v2/ answers CODE (200; 401 for a
# registry that wants credentials); on timeout print LOG and fail.
registry_wait() {
	i=0
	while [ "$i" -lt 40 ]; do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/v2/")" = "$2" ] && return 0
		sleep 0.25
		i=$((i + 1))
	done
	echo "registry on port $1: did not start; log:" >&2
	cat "$3" >&2
	return 1
}

registry_stop() {
	[ -n "${REGISTRY_PID:-}" ] && kill "$REGISTRY_PID" 2>/dev/null
	[ -n "${REGISTRY_DIR:-}" ] && rm -rf "$REGISTRY_DIR"
	return 0
}

# A second registry that wants a user and password (htpasswd, bcrypt), for
# tests of pulls with credentials.  Its own variables: it may run beside the
# one above.
#   auth_registry_start PORT USER PASSWORD  -> exports AUTH_REGISTRY=127.0.0.1:PORT
#   auth_registry_stop
auth_registry_start() {
	AUTH_REGISTRY_DIR=$(mktemp -d /tmp/rc-auth-registry.XXXXXX)
	hash=$(python3 -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))' "$3") || return 1
	printf '%s:%s\n' "$2" "$hash" >"$AUTH_REGISTRY_DIR/htpasswd"
	cat >"$AUTH_REGISTRY_DIR/config.yml" <<CFG
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $AUTH_REGISTRY_DIR/data
http:
  addr: 127.0.0.1:$1
auth:
  htpasswd:
    realm: reconciler-test
    path: $AUTH_REGISTRY_DIR/htpasswd
CFG
	docker-registry serve "$AUTH_REGISTRY_DIR/config.yml" >"$AUTH_REGISTRY_DIR/log" 2>&1 &
	AUTH_REGISTRY_PID=$!
	# 401 without credentials: it is up, and it does want them
	registry_wait "$1" 401 "$AUTH_REGISTRY_DIR/log" || { auth_registry_stop; return 1; }
	AUTH_REGISTRY=127.0.0.1:$1
	export AUTH_REGISTRY
}

auth_registry_stop() {
	[ -n "${AUTH_REGISTRY_PID:-}" ] && kill "$AUTH_REGISTRY_PID" 2>/dev/null
	[ -n "${AUTH_REGISTRY_DIR:-}" ] && rm -rf "$AUTH_REGISTRY_DIR"
	return 0
}
