#!/bin/sh
# idle.sh — the cost of the daemon's idle sampling (docs/performance.md, "Idle sampling").
#
#   sh tests/bench/idle.sh              (BENCH_UNITS units, default 200)
#
# A repository of BENCH_UNITS services (image reconciler-test/app:1, MODE=sleep, no health
# check, no port) on a plan with idle: {after: 30s}: the daemon samples them every 10 s, one
# one-shot stats call per unit, one after the other, and logs each round's time at -vv
# ("idle: sampled N units in X ms").  The script waits for BENCH_ROUNDS rounds (default 3:
# the boot round and two more, before the 30 s are over and anything sleeps), then prints a
# Markdown block with each round's time and the time per unit.  Release build (`make`).
# Needs a running engine and the test image (tests/lib/images.sh).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rc=${RC_BENCH:-$top/build/reconciler}
nunits=${BENCH_UNITS:-200}
rounds=${BENCH_ROUNDS:-3}
image=${BENCH_IMAGE:-reconciler-test/app:1}

if [ ! -x "$rc" ]; then
	echo "idle.sh: $rc missing: run make first" >&2
	exit 2
fi
work=$(mktemp -d /tmp/rc-bench-idle.XXXXXX)
project=benchidle$$
dpid=
cleanup() {
	[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	ids=$(docker ps -aq --filter "label=io.reconciler.project=$project")
	[ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

repo=$work/repo
mkdir -p "$repo"
(
	cd "$repo" && git init -q -b main . && git config user.email bench@example.invalid &&
	git config user.name bench &&
	printf 'kind: Settings\nproject: %s\n---\nkind: Plan\nname: nap\nidle: {after: 30s}\n' "$project" >settings.yaml &&
	i=1 && while [ $i -le "$nunits" ]; do
		printf -- '---\nkind: Service\nname: s%03d\nimage: %s\nplan: nap\nenv: {MODE: sleep}\n' "$i" "$image"
		i=$((i + 1))
	done >services.yaml &&
	git add -A && git commit -q -m "$nunits services"
) || exit 2

state=$work/state
mkdir -p "$state"
t0=$(date +%s)
"$rc" -q --state-dir "$state" --repo "$repo" apply --parallel 8 >"$work/apply.log" 2>&1 || {
	cat "$work/apply.log" >&2
	exit 1
}
echo "# applied $nunits units in $(($(date +%s) - t0)) s" >&2
"$rc" -vv --state-dir "$state" --repo "$repo" run --check-interval 3600 >"$work/d.log" 2>&1 </dev/null &
dpid=$!
i=0
while [ "$(grep -c "idle: sampled" "$work/d.log")" -lt "$rounds" ]; do
	i=$((i + 1))
	if [ $i -gt 1200 ] || ! kill -0 "$dpid" 2>/dev/null; then
		echo "idle.sh: fewer than $rounds sampling rounds" >&2
		tail -20 "$work/d.log" >&2
		exit 1
	fi
	sleep 0.1
done
kill -TERM "$dpid"
wait "$dpid"
dpid=
grep "idle: sampled" "$work/d.log" | sed 's/.*idle: sampled \([0-9]*\) units* in \([0-9.]*\) ms.*/\1 \2/' >"$work/rounds"
if grep -q "is sleeping" "$work/d.log"; then
	echo "idle.sh: units went to sleep during the measurement" >&2
	exit 1
fi
echo "| round | units sampled | time | per unit |"
echo "| --- | --- | --- | --- |"
awk '{ printf "| %d | %d | %.0f ms | %.2f ms |\n", NR, $1, $2, $2 / ($1 ? $1 : 1) }' "$work/rounds"
