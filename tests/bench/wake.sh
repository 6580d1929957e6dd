#!/bin/sh
# wake.sh — waking a sleeping customer on demand (docs/performance.md, "Waking a sleeping customer").
#
#   sh tests/bench/wake.sh              (BENCH_WAKES wakes, default 5)
#   BENCH_BURST=10 sh tests/bench/wake.sh   (each wake by a burst of 10 connections at once)
#
# One customer (image reconciler-test/app:1: busybox httpd on 8080; a `cmd` health check
# every 200 ms, or none with BENCH_HEALTH=none) on a plan with idle: {after: 2s}, its port
# published on 127.0.0.1.  Each round: wait until the daemon put it to sleep (status
# sleeping and the daemon listening on the port), then one curl to the port; the figure is
# curl's time_starttransfer: from the start of the connection (its SYN; the daemon accepts at
# once) to the first byte of the answer.  The baseline, each round after the wake: the
# container stopped by hand, then `docker start` and polling its published port (every 10 ms)
# until it answers — the container's own start-to-ready time, without reconciler.  The
# issue's target: wake <= the container's own start time + 200 ms.  With BENCH_BURST=N, each
# round opens N connections at once (N curls started together) and the figure is the slowest
# one's first byte; a connection that is refused or gets no answer is counted and reported (the
# wake proxy holds them all: none expected).  Release build (`make`).
# BENCH_VERBOSE=-vv BENCH_LOG=FILE keeps the daemon's log with its own timings of each wake.
# Needs a running engine and the test image (tests/lib/images.sh).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rc=${RC_BENCH:-$top/build/reconciler}
wakes=${BENCH_WAKES:-5}
burst=${BENCH_BURST:-1}
image=${BENCH_IMAGE:-reconciler-test/app:1}
port=${BENCH_PORT:-$((20000 + $$ % 20000))}

if [ ! -x "$rc" ]; then
	echo "wake.sh: $rc missing: run make first" >&2
	exit 2
fi
work=$(mktemp -d /tmp/rc-bench-wake.XXXXXX)
project=benchwake$$
dpid=
cleanup() {
	[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	ids=$(docker ps -aq --filter "label=io.reconciler.project=$project")
	[ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
	nets=$(docker network ls -q --filter "label=io.reconciler.project=$project")
	[ -n "$nets" ] && docker network rm $nets >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

health='    health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 200ms, timeout: 2s, retries: 3}'
[ "${BENCH_HEALTH:-cmd}" = none ] && health=
repo=$work/repo
mkdir -p "$repo"
(
	cd "$repo" && git init -q -b main . && git config user.email bench@example.invalid &&
	git config user.name bench &&
	cat >m.yaml <<-EOT &&
	kind: Settings
	project: $project
	ports: {range: $port-$port}
	subnets: {pool: 10.$((200 + $$ % 50)).0.0/16, size: 28}
	---
	kind: Plan
	name: nap
	idle: {after: 2s}
	---
	kind: Template
	name: web
	services:
	  app:
	    image: $image
	    port: 8080
	$health
	---
	kind: Customer
	id: c
	template: web
	plan: nap
	port: $port
	EOT
	git add -A && git commit -q -m "one customer"
) || exit 2

state=$work/state
mkdir -p "$state"
"$rc" -q --state-dir "$state" --repo "$repo" apply >"$work/apply.log" 2>&1 || {
	cat "$work/apply.log" >&2
	exit 1
}
"$rc" ${BENCH_VERBOSE:--q} --state-dir "$state" --repo "$repo" run --check-interval 3600 >"$work/d.log" 2>&1 </dev/null &
dpid=$!
ct=$project-c-app
now_ms() { echo $(($(date +%s%N) / 1000000)); }
: >"$work/wake"
: >"$work/own"
k=1
while [ $k -le "$wakes" ]; do
	n=0
	until [ "$(docker inspect -f '{{.State.Running}}' $ct)" = false ] && ss -ltn | grep -q ":$port "; do
		n=$((n + 1))
		if [ $n -gt 600 ]; then
			echo "wake.sh: $ct did not go to sleep" >&2
			cat "$work/d.log" >&2
			exit 1
		fi
		sleep 0.05
	done
	if [ "$burst" -gt 1 ]; then
		pids=
		i=1
		while [ $i -le "$burst" ]; do
			curl -sS --max-time 60 -o "$work/body.$i" -w '%{time_starttransfer}\n' \
				"http://127.0.0.1:$port/version" >"$work/t.$i" 2>>"$work/burst.err" &
			pids="$pids $!"
			i=$((i + 1))
		done
		for p in $pids; do wait "$p"; done
		i=1
		while [ $i -le "$burst" ]; do
			[ -s "$work/body.$i" ] || echo "round $k: connection $i: no answer" >>"$work/failed"
			rm -f "$work/body.$i"
			i=$((i + 1))
		done
		t=$(cat "$work"/t.* | sort -n | tail -1)
		rm -f "$work"/t.*
	else
		t=$(curl -sS --max-time 60 -o "$work/body" -w '%{time_starttransfer}' "http://127.0.0.1:$port/version") || {
			cat "$work/d.log" >&2
			exit 1
		}
		[ -s "$work/body" ] || { echo "wake.sh: an empty answer" >&2; exit 1; }
	fi
	awk -v t="$t" 'BEGIN { printf "%.0f\n", t * 1000 }' >>"$work/wake"
	k=$((k + 1))
done
kill -TERM "$dpid"
wait "$dpid"
dpid=
[ -n "${BENCH_LOG:-}" ] && cp "$work/d.log" "$BENCH_LOG"  # with BENCH_VERBOSE=-vv: the daemon's timings
k=1
while [ $k -le "$wakes" ]; do
	docker stop -t 10 $ct >/dev/null
	t0=$(now_ms)
	docker start $ct >/dev/null
	until curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$port/version"; do sleep 0.01; done
	echo $(($(now_ms) - t0)) >>"$work/own"
	k=$((k + 1))
done
med() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mx() { sort -n "$1" | tail -1; }
echo "| | median | max | rounds |"
echo "| --- | --- | --- | --- |"
if [ "$burst" -gt 1 ]; then
	echo "| wake on demand by $burst connections at once: SYN to the slowest one's first response byte | $(med "$work/wake") ms | $(mx "$work/wake") ms | $wakes |"
	echo "| connections refused or unanswered | $(cat "$work/failed" 2>/dev/null | wc -l) of $((burst * wakes)) | | |"
	[ -s "$work/burst.err" ] && sort "$work/burst.err" | uniq -c >&2
else
	echo "| wake on demand: SYN to first response byte | $(med "$work/wake") ms | $(mx "$work/wake") ms | $wakes |"
fi
echo "| the container's own: \`docker start\` to its port answering | $(med "$work/own") ms | $(mx "$work/own") ms | $wakes |"
echo "# wake: $(tr '\n' ' ' <"$work/wake")ms; own: $(tr '\n' ' ' <"$work/own")ms" >&2
