#!/bin/sh
test_description='the Swarm half of the Engine API client (docker_swarm.h) against a swarm of its own'
. "$(dirname "$0")/../lib/test-lib.sh"

# tests/helpers/swarm-live.c is the TAP stream of the calls (swarm info,
# nodes, an attachable overlay network, secrets, a service created, updated
# with its version, changed by hand with the docker CLI and put back, tasks,
# removals).  Here: a second engine with a swarm of its own, which the
# helper talks to; it is stopped and its directories removed at the end.
# NEVER `docker swarm init` the main engine.

# --- a swarm engine of this test's own (tests/lib/swarm.sh may replace this) ---
# A second dockerd beside the main one, nothing shared
# (/work/shared/notes/swarm-and-test-engines-on-one-machine.md): its own data
# and exec roots and socket, no iptables, and host links of its own, all in
# the host's network namespace it shares with the main engine:
#  - its default bridge is rcbPID, made here with an address of this run's
#    pool.  NOT `--bridge none`: moby 20.10 then deletes the host's "docker0"
#    at start (removeDefaultBridgeInterface(), "the --bridge=none use case"),
#    the main engine's bridge, and every container the main engine starts on
#    its default bridge fails ("could not find bridge docker0");
#  - its docker_gwbridge (made at the first overlay attachment, a host link
#    that two swarm engines would share) is made before the swarm, with the
#    bridge name rcgwPID and a subnet of this run.
# The swarm's listen port, data path port and address pool are from this
# run's block.  The test images are copied in with save | load.
swarm_start() {
	SWARM_DIR=/tmp/rc-swarm-$$
	SWARM_SOCK=$SWARM_DIR/sock
	SWARM_BRIDGE=rcb$$
	bip=$(test_subnet 3 24) &&
	mkdir -p "$SWARM_DIR" &&
	ip link add "$SWARM_BRIDGE" type bridge &&
	ip addr add "${bip%.0/24}.1/24" dev "$SWARM_BRIDGE" &&
	ip link set "$SWARM_BRIDGE" up &&
	dockerd --data-root "$SWARM_DIR/data" --exec-root "$SWARM_DIR/exec" --pidfile "$SWARM_DIR/pid" \
		-H "unix://$SWARM_SOCK" --bridge "$SWARM_BRIDGE" --iptables=false >"$SWARM_DIR/log" 2>&1 &
	SWARM_PID=$!
	i=0
	until curl -fsS --max-time 2 --unix-socket "$SWARM_SOCK" http://localhost/_ping >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -ge 300 ] || ! kill -0 "$SWARM_PID" 2>/dev/null; then
			tail -n 20 "$SWARM_DIR/log" | sed 's/^/# dockerd: /'
			return 1
		fi
		sleep 0.1
	done
	sdocker() { DOCKER_HOST=unix://$SWARM_SOCK docker "$@"; }
	sdocker network create --subnet "$(test_subnet 0 24)" \
		--opt com.docker.network.bridge.name="rcgw$$" \
		--opt com.docker.network.bridge.enable_icc=false \
		--opt com.docker.network.bridge.enable_ip_masquerade=false docker_gwbridge >/dev/null &&
	sdocker swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$(test_port 10)" \
		--data-path-port "$(test_port 11)" --default-addr-pool "$(test_subnet 1 22)" \
		--default-addr-pool-mask-length 26 >/dev/null &&
	docker save "$TEST_IMAGE" "$TEST_IMAGE2" | sdocker load >/dev/null
}

swarm_stop() {
	[ -n "${SWARM_PID:-}" ] || return 0
	kill "$SWARM_PID" 2>/dev/null
	i=0
	while kill -0 "$SWARM_PID" 2>/dev/null && [ $i -lt 300 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	kill -9 "$SWARM_PID" 2>/dev/null
	# what the engine left mounted under its directory (network namespaces, layers), deepest first
	grep -o " $SWARM_DIR/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
	ip link del "rcgw$$" 2>/dev/null
	ip link del "rcb$$" 2>/dev/null
	rm -rf "$SWARM_DIR"
	SWARM_PID=
}

SWARM_PID=
# the engine is stopped whatever ends the script (test-lib's handler then removes the rest)
HELPER_PID=
trap '[ -z "$HELPER_PID" ] || kill "$HELPER_PID" 2>/dev/null; swarm_stop; auth_registry_stop 2>/dev/null; test_exit_handler' EXIT
trap 'exit 143' TERM INT HUP
ip link show docker0 >/dev/null 2>&1 && had_docker0=1 || had_docker0=
if ! swarm_start >"$TRASH/.swarm" 2>&1; then
	echo "Bail out! cannot start a swarm engine: $(cat "$TRASH/.swarm")"
	swarm_stop
	exit 1
fi

# a private image: in a registry that wants a password, logged in with a config of this test's own
. "$RC_TOP/tests/lib/registry.sh"
SWARM_PRIVATE_IMAGE=
if auth_registry_start "$(test_port 2)" op s3cret-pw >"$TRASH/.registry" 2>&1; then
	SWARM_PRIVATE_IMAGE=$AUTH_REGISTRY/$PROJECT/private:1
	SWARM_LOGIN_CONFIG=$TRASH/login/config.json
	{ echo s3cret-pw | DOCKER_CONFIG=$TRASH/login docker login -u op --password-stdin "$AUTH_REGISTRY" &&
	  docker tag "$TEST_IMAGE" "$SWARM_PRIVATE_IMAGE" &&
	  DOCKER_CONFIG=$TRASH/login docker push "$SWARM_PRIVATE_IMAGE"; } >>"$TRASH/.registry" 2>&1 ||
		SWARM_PRIVATE_IMAGE=
	docker rmi "$AUTH_REGISTRY/$PROJECT/private:1" >/dev/null 2>&1
fi
if [ -z "$SWARM_PRIVATE_IMAGE" ]; then
	echo "Bail out! cannot push to a registry with a password: $(cat "$TRASH/.registry")"
	auth_registry_stop
	swarm_stop
	exit 1
fi
export SWARM_PRIVATE_IMAGE SWARM_LOGIN_CONFIG

SWARM_HOST=unix://$SWARM_SOCK
SWARM_SUBNET=$(test_subnet 2 24)
SWARM_PORT=$(test_port 0)
SWARM_PORT2=$(test_port 1)
MAIN_DOCKER_HOST=${DOCKER_HOST:-}
export SWARM_HOST SWARM_SUBNET SWARM_PORT SWARM_PORT2 MAIN_DOCKER_HOST
# the helper checks that the main engine's bridge outlived the swarm engine's start (see swarm_start)
MAIN_BRIDGE=${had_docker0:+docker0}
export MAIN_BRIDGE
# (in the background: a signal to this script stops the swarm at once, not after the helper)
"$RC_TOP/build/test/helpers/swarm-live" &
HELPER_PID=$!
wait "$HELPER_PID"
status=$?
HELPER_PID=
auth_registry_stop
swarm_stop
exit $status
