#!/bin/sh
# cluster.sh — a Swarm of N engines on this machine, each in network
# namespaces the test makes, joined over a private link that exists only
# between those namespaces.  Sourced after test-lib.sh (it sources
# swarm.sh, whose engines it reuses: read swarm.sh's header first).
# Scripts using it live in tests/cluster/ (`make test-cluster`), not in
# `make test`.
#
#   cluster_start N [IMAGE...]  N engines (3 for the scenarios), node 1 the
#                 manager (`swarm init`), the others workers (`swarm join`),
#                 node i labelled rc.node=ni; copies IMAGE... into each
#                 (default: $TEST_IMAGE; `-` for none).  Exports
#                   CLUSTER_HOST   unix:///tmp/rccl.XXXXXX/n1/sock, the
#                                  manager: DOCKER_HOST / --docker-host
#                   CLUSTER_NODES  the nodes' ids, in order (n1 first)
#                   CLUSTER_SIZE   N
#                   CLUSTER_DIR    the run's directory (node i: n$i/, its
#                                  log n$i/log)
#                   CLUSTER_RC     $RC run in node 1's network namespace
#                                  with DOCKER_HOST=$CLUSTER_HOST (as SWARM_RC)
#                 Node i's host name is rc-ni, its address 192.168.S.i
#                 (`cluster_node_ip i`), S = 250 + (the run's block mod 5).
#                 Call it in the script's own shell, as swarm_start.
#   cdocker N ARGS          the docker CLI against node N
#   cnet N CMD...           a host command in node N's network namespace
#                           (what node N publishes with mode=host answers
#                           there: `cnet 2 curl http://$(cluster_node_ip 2):P/`)
#   cluster_node_id N, cluster_node_ip N
#   cluster_tasks SERVICE   "HOSTNAME STATE" per task that should run, sorted
#                           (`rc-n2 running`, `- pending`), from the manager
#   cluster_kill_node N     KILL PID 1 of node N's PID namespace: its
#                           dockerd, containerd and containers die at once,
#                           like a machine that lost power (its namespace
#                           and link stay; the manager marks it down after
#                           the heartbeat, CLUSTER_HEARTBEAT)
#   cluster_start_node N    start a killed node again on its data root; it
#                           rejoins (waits until the manager sees it ready)
#   cluster_drain_node N    docker node update --availability drain (on n1)
#   cluster_stop            stop every engine, delete the namespaces (and
#                           with them the links), cgroups and directory.
#                           Safe twice; registered with test_atexit.
#
# The network: a "hub" namespace holding a bridge, and per node a veth pair
# from the hub to the node's namespace.  No interface, address or route is
# added to the host's namespace, nothing is routed or NATed anywhere (no
# default route in any of them), so the 192.168.250-254.0/24 ranges cannot
# meet the host's networks, and two runs that pick the same one never
# meet either.  Overlay networks (VXLAN) run over that link between the
# nodes.  The Swarm listens on 192.168.S.i:`test_port 43` in each node's
# namespace (no host port is reserved by it).
#
# CLUSTER_HEARTBEAT (default 2s; the engine's default is 5s) is the
# dispatcher heartbeat given to `swarm init`: a KILLed node is marked down
# after a few of them, and its tasks are rescheduled then.
#
# What the manager says about a KILLed node (seen with 20.10.24): the node
# goes Down; its task keeps its last state, "running", with desired state
# "shutdown", and the replacement is "running" elsewhere, so `docker
# service ls` shows REPLICAS 3/2: count tasks whose desired state is
# running (and whose node is ready), not every task "running".  Started
# again (cluster_start_node), the node comes back Ready and empty; the
# tasks stay where they were rescheduled.
#
# Measured on the 2-core test machine: cluster_start 3 takes 3.2-3.4 s (the
# engines start side by side; images saved once, loaded into each);
# cluster_stop 3 takes 2.8-7 s.  With heartbeat 2s: a drained node's 3 tasks
# ran elsewhere 0.6 s later; a KILLed node was marked down after 6.7 s and
# its 3 tasks ran on another node after 12.5 s.  t0910 takes 7-9 s, t0911
# 29-39 s.  See swarm.sh for what this kernel and engine do not do (no IPVS:
# mode=host, dnsrr or tasks.NAME).
. "$RC_TOP/tests/lib/swarm.sh"

CLUSTER_HEARTBEAT=${CLUSTER_HEARTBEAT:-2s}
CLUSTER_DIR=${CLUSTER_DIR:-}
CLUSTER_HOST=${CLUSTER_HOST:-}
CLUSTER_NODES=${CLUSTER_NODES:-}
CLUSTER_SIZE=${CLUSTER_SIZE:-0}
CLUSTER_RC=${CLUSTER_RC:-}
cluster_atexit_=

cluster_tag_() { echo "${CLUSTER_DIR##*/}"; }

cdocker() {
	cd_n_=$1
	shift
	DOCKER_HOST=unix://$CLUSTER_DIR/n$cd_n_/sock docker "$@"
}

cnet() {
	cn_n_=$1
	shift
	nsenter --net="/var/run/netns/$(cluster_tag_)-n$cn_n_" "$@"
}

cluster_tasks() {
	swarm_tasks_ cluster_manager_cli_ "$1"
}
cluster_manager_cli_() {
	cdocker 1 "$@"
}

cluster_node_ip() {
	echo "$CLUSTER_NET.$1"
}

cluster_node_id() {
	echo "$CLUSTER_NODES" | tr ' ' '\n' | sed -n "$1p"
}

cluster_start() {
	cluster_start_ "$@" && return 0
	# a half-made cluster is no use: remove it (cluster_start may be tried again)
	echo "cluster_start: failed; the nodes' logs end with:"
	for cs_l_ in "$CLUSTER_DIR"/n*/log; do
		[ -f "$cs_l_" ] && echo "== $cs_l_" && tail -n 5 "$cs_l_"
	done
	cluster_stop
	return 1
}

cluster_start_() {
	if [ -n "$CLUSTER_DIR" ]; then
		echo "cluster_start: a cluster of this run already runs ($CLUSTER_DIR)"
		return 1
	fi
	cs_n_=$1
	shift
	[ "$cs_n_" -ge 1 ] && [ "$cs_n_" -le 9 ] || { echo "cluster_start: 1 to 9 nodes, not $cs_n_"; return 1; }
	[ $# -gt 0 ] || set -- "$TEST_IMAGE"
	[ "$1" != - ] || set --
	swarm_sweep_stale_
	if [ -z "$cluster_atexit_" ]; then
		test_atexit cluster_stop
		cluster_atexit_=1
	fi
	CLUSTER_DIR=$(swarm_rundir_ rccl) || return 1
	CLUSTER_SIZE=$cs_n_
	CLUSTER_HOST=unix://$CLUSTER_DIR/n1/sock
	CLUSTER_NET=192.168.$((250 + TEST_BLOCK % 5))
	CLUSTER_NODES=
	CLUSTER_RC=$CLUSTER_DIR/rc
	export CLUSTER_DIR CLUSTER_SIZE CLUSTER_HOST CLUSTER_NET CLUSTER_NODES CLUSTER_RC
	cs_tag_=$(cluster_tag_)
	swarm_rc_wrapper_ "$CLUSTER_RC" "$cs_tag_-n1" "$CLUSTER_HOST" || return 1
	cs_port_=$(test_port 43) &&
	swarm_netns_add_ "$CLUSTER_DIR" "$cs_tag_-h" &&
	ip -n "$cs_tag_-h" link add br0 type bridge &&
	ip -n "$cs_tag_-h" link set br0 up || return 1
	cs_i_=1
	while [ "$cs_i_" -le "$cs_n_" ]; do
		swarm_netns_add_ "$CLUSTER_DIR" "$cs_tag_-n$cs_i_" &&
		ip -n "$cs_tag_-h" link add "v$cs_i_" type veth peer name eth0 netns "$cs_tag_-n$cs_i_" &&
		ip -n "$cs_tag_-h" link set "v$cs_i_" master br0 up &&
		ip -n "$cs_tag_-n$cs_i_" addr add "$CLUSTER_NET.$cs_i_/24" dev eth0 &&
		ip -n "$cs_tag_-n$cs_i_" link set eth0 up &&
		swarm_engine_start_ "$CLUSTER_DIR/n$cs_i_" "$cs_tag_-n$cs_i_" "rc-n$cs_i_" "$cs_tag_-n$cs_i_" ||
			return 1
		cs_i_=$((cs_i_ + 1))
	done
	# the images, saved once, loaded into every node while the swarm forms
	if [ $# -gt 0 ]; then
		docker save -o "$CLUSTER_DIR/images.tar" "$@" || return 1
	fi
	cs_i_=1
	while [ "$cs_i_" -le "$cs_n_" ]; do
		swarm_engine_wait_ "$CLUSTER_DIR/n$cs_i_" || return 1
		cs_i_=$((cs_i_ + 1))
	done
	cdocker 1 swarm init --advertise-addr "$CLUSTER_NET.1" --listen-addr "$CLUSTER_NET.1:$cs_port_" \
		--dispatcher-heartbeat "$CLUSTER_HEARTBEAT" >/dev/null &&
	cs_token_=$(cdocker 1 swarm join-token -q worker) || return 1
	cs_i_=2
	while [ "$cs_i_" -le "$cs_n_" ]; do
		cdocker "$cs_i_" swarm join --token "$cs_token_" --advertise-addr "$CLUSTER_NET.$cs_i_" \
			--listen-addr "$CLUSTER_NET.$cs_i_:$cs_port_" "$CLUSTER_NET.1:$cs_port_" >/dev/null || return 1
		cs_i_=$((cs_i_ + 1))
	done
	cs_i_=1
	while [ "$cs_i_" -le "$cs_n_" ]; do
		if [ -f "$CLUSTER_DIR/images.tar" ]; then
			cdocker "$cs_i_" load -q -i "$CLUSTER_DIR/images.tar" >/dev/null || return 1
		fi
		cs_id_=$(cdocker "$cs_i_" info -f '{{.Swarm.NodeID}}') &&
		[ -n "$cs_id_" ] &&
		CLUSTER_NODES="${CLUSTER_NODES:+$CLUSTER_NODES }$cs_id_" &&
		cdocker 1 node update --label-add "rc.node=n$cs_i_" "$cs_id_" >/dev/null || return 1
		cs_i_=$((cs_i_ + 1))
	done
	rm -f "$CLUSTER_DIR/images.tar"
	export CLUSTER_NODES
	wait_for 'test "$(cdocker 1 node ls --filter role=worker -q | wc -l)" -eq $((CLUSTER_SIZE - 1)) &&
		! cdocker 1 node ls --format "{{.Status}}" | grep -v "^Ready$"' "$SWARM_WAIT"
}

# cluster_start_node N: start a node that was killed again, on its data root:
# it rejoins the swarm by itself (waits, bounded, until the manager sees it ready)
cluster_start_node() {
	[ -n "$CLUSTER_DIR" ] && [ -d "$CLUSTER_DIR/n$1" ] || { echo "cluster_start_node: no node $1"; return 1; }
	if swarm_pid_ours_ "$(cat "$CLUSTER_DIR/n$1/init.pid" 2>/dev/null)" "$CLUSTER_DIR/n$1"; then
		echo "cluster_start_node: node $1 runs"
		return 1
	fi
	# as after a reboot, the exec root (a tmpfs under /run on a real host) is
	# empty: its pid files name processes of the dead PID namespace
	rm -rf "$CLUSTER_DIR/n$1/init.pid" "$CLUSTER_DIR/n$1/unshare.pid" "$CLUSTER_DIR/n$1/dockerd.pid" \
		"$CLUSTER_DIR/n$1/exec" &&
	swarm_engine_start_ "$CLUSTER_DIR/n$1" "$(cluster_tag_)-n$1" "rc-n$1" "$(cluster_tag_)-n$1" &&
	swarm_engine_wait_ "$CLUSTER_DIR/n$1" &&
	wait_for "test \"\$(cdocker 1 node inspect -f {{.Status.State}} $(cluster_node_id "$1"))\" = ready" "$SWARM_WAIT"
}

cluster_kill_node() {
	[ -n "$CLUSTER_DIR" ] && [ -f "$CLUSTER_DIR/n$1/init.pid" ] || { echo "cluster_kill_node: no node $1"; return 1; }
	swarm_engine_kill_ "$CLUSTER_DIR/n$1" KILL &&
	swarm_engines_gone_node_ "$CLUSTER_DIR/n$1" 30
}

# swarm_engines_gone_node_ EDIR SECONDS: that engine's processes are gone (bounded)
swarm_engines_gone_node_() {
	cg_i_=0
	while [ "$cg_i_" -lt $(($2 * 4)) ]; do
		swarm_pid_ours_ "$(cat "$1/init.pid")" "$1" || return 0
		sleep 0.25
		cg_i_=$((cg_i_ + 1))
	done
	echo "cluster: the engine in $1 still runs after KILL"
	return 1
}

cluster_drain_node() {
	cdocker 1 node update --availability drain "$(cluster_node_id "$1")" >/dev/null
}

cluster_stop() {
	[ -n "$CLUSTER_DIR" ] || return 0
	swarm_rundir_remove_ "$CLUSTER_DIR"
	cs_status_=$?
	CLUSTER_DIR= CLUSTER_HOST= CLUSTER_NODES= CLUSTER_SIZE=0 CLUSTER_RC=
	return $cs_status_
}
