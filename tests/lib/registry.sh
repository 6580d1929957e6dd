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
