#!/bin/sh
# swarm.sh — a Docker Swarm of the test's own, beside the main engine and
# touching nothing of it.  Sourced by a test script after test-lib.sh:
#
#   . "$(dirname "$0")/../lib/swarm.sh"
#   test_expect_success 'a swarm' '
#       swarm_start &&                       # copies $TEST_IMAGE into it
#       sdocker service create -d --name x $TEST_IMAGE &&
#       $SWARM_RC --repo $M apply            # or DOCKER_HOST=$SWARM_HOST $RC
#   '
#
#   swarm_start [IMAGE...]  a second dockerd of this run, one Swarm manager
#                 node; copies IMAGE... in (default: $TEST_IMAGE; `-` for
#                 none).  Exports
#                   SWARM_HOST   unix:///tmp/rcsw.XXXXXX/e/sock: what
#                                DOCKER_HOST and `reconciler --docker-host` take
#                   SWARM_NODE   the node's id
#                   SWARM_NETNS  its network namespace's name
#                                (/var/run/netns/$SWARM_NETNS)
#                   SWARM_DIR    the run's directory (data, exec root, log: e/log)
#                   SWARM_RC     a wrapper: $RC run in the swarm's network
#                                namespace with DOCKER_HOST=$SWARM_HOST
#                                (`$SWARM_RC --repo $M apply`; `RC=$SWARM_RC
#                                daemon_start …`: the pid is reconciler's)
#                 Call it in the script's own shell (a test body, not inside
#                 $(...) or a pipe): the engine dies with the shell that
#                 started it.
#   sdocker ARGS  the docker CLI against it
#   snet CMD...   run a host command in its network namespace: what a
#                 service publishes (mode=host) is reachable there only,
#                 e.g. `snet curl -fsS http://127.0.0.1:PORT/health`
#   swarm_tasks SERVICE  its tasks that should run, one "HOSTNAME STATE"
#                 line each, sorted ("- pending" when on no node yet), e.g.
#                 `wait_for 'test "$(swarm_tasks web)" = "rc-swarm running"' 60`
#   swarm_stop    stop it (TERM, bounded wait, then KILL), delete its
#                 namespace and cgroups, remove the directory.  Safe to call
#                 twice; swarm_start registers it with test_atexit, so it
#                 also runs when a test failed or the script is killed.
#
# How (see /work/shared/notes/swarm-and-test-engines-on-one-machine.md):
# each engine runs in a network namespace of its own made here (only `lo`
# in it; cluster.sh adds links), and in private mount, UTS and PID
# namespaces (`unshare`, tini as PID 1, dockerd below it with its own data
# root, exec root, pid file, socket and --cgroup-parent, `--bridge none
# --iptables=false`, and its own /etc/docker: an empty daemon.json, a key
# of its own, hence an engine ID of its own).  So the swarm's
# docker_gwbridge, its gossip (7946) and VXLAN (4789) ports, the port it
# listens on and what services publish all live in that namespace: two
# runs, or a swarm of another person's on the host, never meet, and the
# host's interfaces, routes and rules are not touched.  Its mounts
# (overlay, netns) live in its own mount namespace and vanish with it.
# PID 1 of the engine's PID namespace dies with the script's shell
# (setpriv --pdeathsig, unshare --kill-child), and with it dockerd,
# containerd and every container: even a script killed with KILL leaves no
# process.  What a KILLed script cannot remove (the directory,
# the namespace name, empty cgroups) is swept by the next swarm_start or
# cluster_start, whatever the script, once the owner recorded in it is dead.
#
# The Swarm listens on 127.0.0.1:`test_port 44` (inside its namespace, so
# it reserves no host port; cluster.sh uses `test_port 43`).
#
# Measured on the 2-core test machine (Debian 12, docker.io 20.10.24, three
# other engineers' tests running): swarm_start 1.3-1.5 s (engine answers in
# 0.4 s, swarm init 0.2 s, copying $TEST_IMAGE in 0.3 s, node ready);
# swarm_stop 1.6-2.1 s with or without running tasks (dockerd stops them;
# SWARM_STOP_WAIT, default 10 s, then KILL); a KILL of the engine's PID 1
# takes effect in 0.03 s.  t0900 (six tests, three engine starts) takes
# 13-19 s.
#
# Not in this kernel/engine: IPVS (no /proc/sys/net/ipv4/vs): no ingress
# routing mesh and no service VIPs — publish with mode=host, and on an
# overlay reach a service by `tasks.NAME` or create it with
# `--endpoint-mode dnsrr`.  With `--bridge none`, mode=host publishing
# needs the service on an overlay network (docker_gwbridge does the
# mapping); a service on no network publishes nothing.  No registry is
# reachable from the engine: images come from swarm_start's copy (the
# engine logs a failed pull and uses the local image).
#
# reconciler against it: `$SWARM_RC …`, or from the host's namespace
# `env DOCKER_HOST=$SWARM_HOST $RC …` / `$RC --docker-host $SWARM_HOST …`.
# What reconciler checks on "the host" (is a host port already listened on)
# it checks in the namespace it runs in: $SWARM_RC makes that the swarm's;
# from the host's namespace the main engine's containers on their ports
# look like conflicts.
SWARM_WAIT=${SWARM_WAIT:-60}
SWARM_STOP_WAIT=${SWARM_STOP_WAIT:-10}
SWARM_DIR=${SWARM_DIR:-}
SWARM_HOST=${SWARM_HOST:-}
SWARM_NETNS=${SWARM_NETNS:-}
SWARM_NODE=${SWARM_NODE:-}
SWARM_RC=${SWARM_RC:-}
swarm_atexit_=

# --- shared with cluster.sh: one engine in a namespace, runs' directories ---

# swarm_pid_ours_ PID DIR: PID lives (not a zombie) and its command line names DIR
swarm_pid_ours_() {
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) in Z* | X* | "") return 1 ;; esac
	{ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF "$2"
}

# swarm_procs_of DIR: the pids of the processes whose command line names DIR
# (what a test checks is gone after a stop)
swarm_procs_of() {
	for sp_f_ in /proc/[0-9]*/cmdline; do
		{ tr '\0' ' ' <"$sp_f_"; } 2>/dev/null | grep -qF "$1" || continue
		sp_p_=${sp_f_#/proc/}
		echo "${sp_p_%/cmdline}"
	done
	return 0
}

# swarm_owner_: "pid starttime" of this shell, what a sweep checks
swarm_owner_() {
	echo "$$ $(sed 's/.*) //' /proc/$$/stat | cut -d' ' -f20)"
}

# swarm_owner_dead_ DIR: DIR names its owner (written whole, by rename)
# and that shell no longer runs (its pid is gone or is another process)
swarm_owner_dead_() {
	[ -s "$1/owner" ] || return 1
	read -r so_pid_ so_start_ <"$1/owner" || return 1
	[ -n "$so_pid_" ] && [ -n "$so_start_" ] || return 1
	[ ! -r "/proc/$so_pid_/stat" ] ||
		[ "$(sed 's/.*) //' "/proc/$so_pid_/stat" 2>/dev/null | cut -d' ' -f20)" != "$so_start_" ]
}

# swarm_rundir_ PREFIX: a new run directory /tmp/PREFIX.XXXXXX owned by this shell
swarm_rundir_() {
	sr_d_=$(mktemp -d "/tmp/$1.XXXXXX") || return 1
	swarm_owner_ >"$sr_d_/owner.new" &&
	mv "$sr_d_/owner.new" "$sr_d_/owner" &&
	echo "$sr_d_"
}

# swarm_netns_add_ DIR NAME: a network namespace, recorded in DIR for removal, lo up
swarm_netns_add_() {
	echo "$2" >>"$1/netns" &&
	ip netns add "$2" &&
	ip -n "$2" link set lo up
}

# swarm_engine_start_ EDIR NETNS HOSTNAME CGROUP: dockerd in NETNS (no wait)
swarm_engine_start_() {
	mkdir -p "$1" &&
	echo "$4" >>"${1%/*}/cgroups" || return 1
	# setpriv: KILLed when this shell dies; nsenter and unshare exec, so $!
	# is unshare, which forks tini (PID 1 of the new PID namespace) and
	# KILLs it when it dies itself.  fd 7 (prove's pipe) and 9 (the port
	# block) are not handed down.
	{ setpriv --pdeathsig KILL nsenter --net="/var/run/netns/$2" \
		unshare --mount --uts --pid --kill-child=KILL --mount-proc --propagation private -- \
		sh -c 'hostname "$0" && mkdir -p "$1/etc" && echo {} >"$1/etc/daemon.json" &&
			mount --bind "$1/etc" /etc/docker &&
			exec tini -s -- dockerd --data-root "$1/data" --exec-root "$1/exec" \
			--pidfile "$1/dockerd.pid" -H "unix://$1/sock" --cgroup-parent "/$2" \
			--bridge none --iptables=false' "$3" "$1" "$4" \
		>>"$1/log" 2>&1 </dev/null 7>&- 9>&- & } &&
	echo $! >"$1/unshare.pid"
}

# swarm_engine_wait_ EDIR: the engine answers /_ping (bounded by SWARM_WAIT); records tini's pid
swarm_engine_wait_() {
	se_up_=$(cat "$1/unshare.pid") &&
	se_i_=0 &&
	while [ "$se_i_" -lt $((SWARM_WAIT * 4)) ]; do
		if [ ! -s "$1/init.pid" ]; then
			se_init_=$(cat "/proc/$se_up_/task/$se_up_/children" 2>/dev/null | tr -d ' ')
			[ -z "$se_init_" ] || echo "$se_init_" >"$1/init.pid"
		fi
		if [ -s "$1/init.pid" ] &&
		   curl -fsS --max-time 3 --unix-socket "$1/sock" http://localhost/_ping >/dev/null 2>&1; then
			return 0
		fi
		if ! swarm_pid_ours_ "$se_up_" "$1"; then
			echo "swarm: the engine in $1 exited; last lines of its log:"
			tail -n 20 "$1/log"
			return 1
		fi
		sleep 0.25
		se_i_=$((se_i_ + 1))
	done
	echo "swarm: the engine in $1 did not answer within ${SWARM_WAIT}s; last lines of its log:"
	tail -n 20 "$1/log"
	return 1
}

# swarm_engine_kill_ EDIR [SIGNAL]: signal PID 1 of the engine's PID namespace
# (KILL: dockerd, containerd and the containers die at once)
swarm_engine_kill_() {
	se_init_=$(cat "$1/init.pid" 2>/dev/null)
	swarm_pid_ours_ "$se_init_" "$1" || return 0
	kill "-${2:-KILL}" "$se_init_" 2>/dev/null
	return 0
}

# swarm_engines_gone_ DIR SECONDS: wait (bounded) until no engine under DIR runs
swarm_engines_gone_() {
	sg_i_=0
	while [ "$sg_i_" -lt $(($2 * 4)) ]; do
		sg_alive_=
		for sg_e_ in "$1"/*/unshare.pid; do
			[ -f "$sg_e_" ] || continue
			if swarm_pid_ours_ "$(cat "$sg_e_")" "${sg_e_%/unshare.pid}" ||
			   swarm_pid_ours_ "$(cat "${sg_e_%/unshare.pid}/init.pid" 2>/dev/null)" "${sg_e_%/unshare.pid}"; then
				sg_alive_=1
			fi
		done
		[ -z "$sg_alive_" ] && return 0
		sleep 0.25
		sg_i_=$((sg_i_ + 1))
	done
	return 1
}

# swarm_rundir_remove_ DIR [GRACE]: stop every engine under DIR (TERM, GRACE
# seconds, then KILL), delete its namespaces and cgroups, unmount what is
# left mounted under it, remove it.  Idempotent.
swarm_rundir_remove_() {
	[ -n "$1" ] && [ -d "$1" ] || return 0
	for sr_e_ in "$1"/*/init.pid; do
		[ -f "$sr_e_" ] && swarm_engine_kill_ "${sr_e_%/init.pid}" TERM
	done
	if ! swarm_engines_gone_ "$1" "${2:-$SWARM_STOP_WAIT}"; then
		echo "swarm: an engine under $1 did not stop within ${2:-$SWARM_STOP_WAIT}s: KILL" >&2
		for sr_e_ in "$1"/*/init.pid; do
			[ -f "$sr_e_" ] && swarm_engine_kill_ "${sr_e_%/init.pid}" KILL
		done
		for sr_e_ in "$1"/*/unshare.pid; do
			[ -f "$sr_e_" ] || continue
			sr_p_=$(cat "$sr_e_")
			swarm_pid_ours_ "$sr_p_" "${sr_e_%/unshare.pid}" && kill -KILL "$sr_p_" 2>/dev/null
		done
		swarm_engines_gone_ "$1" 10 || echo "swarm: engines under $1 still run after KILL" >&2
	fi
	if [ -f "$1/netns" ]; then
		while read -r sr_ns_; do
			[ -n "$sr_ns_" ] && [ -e "/var/run/netns/$sr_ns_" ] && ip netns del "$sr_ns_"
		done <"$1/netns"
	fi
	if [ -f "$1/cgroups" ]; then
		# the containers' cgroups under the engine's --cgroup-parent (empty
		# once its PID namespace is gone), deepest first
		while read -r sr_cg_; do
			[ -n "$sr_cg_" ] || continue
			for sr_c_ in /sys/fs/cgroup/"$sr_cg_" /sys/fs/cgroup/*/"$sr_cg_"; do
				[ -d "$sr_c_" ] || continue
				find "$sr_c_" -depth -type d -exec rmdir {} + 2>/dev/null
			done
		done <"$1/cgroups"
	fi
	# nothing should be mounted here (the engines' mounts were in their own
	# mount namespaces); unmount whatever is, deepest first
	awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r sr_m_; do umount -l "$sr_m_" 2>/dev/null; done
	sr_i_=0
	while ! rm -rf "$1" 2>/dev/null && [ "$sr_i_" -lt 20 ]; do
		sleep 0.25
		sr_i_=$((sr_i_ + 1))
	done
	[ ! -e "$1" ] || { echo "swarm: could not remove $1" >&2; return 1; }
}

# swarm_sweep_stale_: remove what runs KILLed before they could clean up left
# (directories /tmp/rcsw.* and /tmp/rccl.* whose owner shell is dead)
swarm_sweep_stale_() {
	for ss_d_ in /tmp/rcsw.?????? /tmp/rccl.??????; do
		[ -d "$ss_d_" ] && swarm_owner_dead_ "$ss_d_" || continue
		swarm_rundir_remove_ "$ss_d_" 2 || true
	done
	return 0
}

# --- one node ---
sdocker() {
	DOCKER_HOST=$SWARM_HOST docker "$@"
}

snet() {
	nsenter --net="/var/run/netns/$SWARM_NETNS" "$@"
}

# swarm_copy_images_ HOST IMAGE...: docker save | docker load into the engine at HOST
swarm_copy_images_() {
	sc_host_=$1
	shift
	[ $# -eq 0 ] && return 0
	docker save "$@" | DOCKER_HOST=$sc_host_ docker load -q >/dev/null
}

# swarm_tasks_ CLI SERVICE: "HOSTNAME STATE" per task that should run, sorted
swarm_tasks_() {
	"$1" service ps --filter desired-state=running --format '{{.Node}}|{{.CurrentState}}' "$2" |
		while IFS='|' read -r st_node_ st_state_; do
			st_state_=${st_state_%% *}
			echo "${st_node_:--} $(echo "$st_state_" | tr 'A-Z' 'a-z')"
		done | sort
}

swarm_tasks() {
	swarm_tasks_ sdocker "$1"
}

# swarm_rc_wrapper_ FILE NETNS HOST: FILE runs $RC in NETNS against HOST
swarm_rc_wrapper_() {
	printf '#!/bin/sh\nexec nsenter --net=/var/run/netns/%s env DOCKER_HOST=%s "%s" "$@"\n' "$2" "$3" "$RC" >"$1" &&
	chmod 755 "$1"
}

swarm_start() {
	if [ -n "$SWARM_DIR" ]; then
		echo "swarm_start: a swarm of this run already runs ($SWARM_DIR)"
		return 1
	fi
	[ $# -gt 0 ] || set -- "$TEST_IMAGE"
	[ "$1" != - ] || set --
	swarm_sweep_stale_
	if [ -z "$swarm_atexit_" ]; then
		test_atexit swarm_stop
		swarm_atexit_=1
	fi
	SWARM_DIR=$(swarm_rundir_ rcsw) || return 1
	SWARM_NETNS=${SWARM_DIR##*/}
	SWARM_HOST=unix://$SWARM_DIR/e/sock
	SWARM_RC=$SWARM_DIR/rc
	export SWARM_DIR SWARM_NETNS SWARM_HOST SWARM_RC
	if swarm_rc_wrapper_ "$SWARM_RC" "$SWARM_NETNS" "$SWARM_HOST" &&
	   ss_port_=$(test_port 44) &&
	   swarm_netns_add_ "$SWARM_DIR" "$SWARM_NETNS" &&
	   swarm_engine_start_ "$SWARM_DIR/e" "$SWARM_NETNS" rc-swarm "$SWARM_NETNS" &&
	   swarm_engine_wait_ "$SWARM_DIR/e" &&
	   sdocker swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$ss_port_" >/dev/null &&
	   swarm_copy_images_ "$SWARM_HOST" "$@" &&
	   SWARM_NODE=$(sdocker info -f '{{.Swarm.NodeID}}') &&
	   export SWARM_NODE &&
	   wait_for 'test "$(sdocker node inspect -f "{{.Status.State}}" "$SWARM_NODE")" = ready' "$SWARM_WAIT"; then
		return 0
	fi
	# a half-made swarm is no use: say why, remove it (swarm_start may be tried again)
	echo "swarm_start: failed; last lines of the engine's log:"
	tail -n 20 "$SWARM_DIR/e/log" 2>/dev/null
	swarm_stop
	return 1
}

swarm_stop() {
	[ -n "$SWARM_DIR" ] || return 0
	swarm_rundir_remove_ "$SWARM_DIR"
	ss_status_=$?
	SWARM_DIR= SWARM_HOST= SWARM_NETNS= SWARM_NODE= SWARM_RC=
	return $ss_status_
}
