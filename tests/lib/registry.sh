#!/bin/sh
# A local registry (Debian's docker-registry) on 127.0.0.1 for pull tests.
#   registry_start  -> exports RC_TEST_REGISTRY=127.0.0.1:PORT
#   registry_stop
registry_start() {
	REGISTRY_DIR=$(mktemp -d /tmp/rc-registry.XXXXXX)
	port=${RC_REGISTRY_PORT:-15500}
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
	i=0
	while [ "$i" -lt 40 ]; do
		if curl -fsS --max-time 2 "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
			RC_TEST_REGISTRY=127.0.0.1:$port
			export RC_TEST_REGISTRY
			return 0
		fi
		sleep 0.25
		i=$((i + 1))
	done
	echo "registry: did not start; log:" >&2
	cat "$REGISTRY_DIR/log" >&2
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
	i=0
	while [ "$i" -lt 40 ]; do
		# 401 without credentials: it is up, and it does want them
		if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/v2/")" = 401 ]; then
			AUTH_REGISTRY=127.0.0.1:$1
			export AUTH_REGISTRY
			return 0
		fi
		sleep 0.25
		i=$((i + 1))
	done
	echo "auth registry: did not start; log:" >&2
	cat "$AUTH_REGISTRY_DIR/log" >&2
	return 1
}

auth_registry_stop() {
	[ -n "${AUTH_REGISTRY_PID:-}" ] && kill "$AUTH_REGISTRY_PID" 2>/dev/null
	[ -n "${AUTH_REGISTRY_DIR:-}" ] && rm -rf "$AUTH_REGISTRY_DIR"
	return 0
}
