#!/bin/sh
# drift.sh — the drift-check benchmark: wall time of `reconciler drift` over
# N units against N raw container inspects issued with the same parallelism
# (tests/helpers/inspect-many.c: dk_inspect_many() and nothing else).
# Target: drift <= 1.2 x the raw inspects.
#
#   sh tests/bench/drift.sh [N...]        (default: 200 1000)
#
# For each N: generates a manifest repository of N shared services (one
# container each, no health check, no port, no network of their own,
# `state: stopped` so that creating them is fast and 1000 of them do not
# need 1000 running shims or veths), applies it with the release build
# (`make`), checks that drift reports none, measures both in alternating
# rounds (tests/bench/alternate.py: 3 warm-ups, BENCH_RUNS rounds, default
# 30, median): the command with no daemon (it lists: reported, not held to
# the target), the daemon's check in process (tests/helpers/drift-inproc.c:
# over the container ids it knows, and listing instead), then the command
# with `reconciler run` holding the state directory (it asks the daemon over
# control.sock); then removes everything it created (label
# io.reconciler.project=$project).  Exit 1 when a held target is missed.
# Prints a Markdown block for docs/performance.md ("Drift check").
# Needs a running engine and the test image (tests/lib/images.sh).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rc=${RC_BENCH:-$top/build/reconciler}
helper=$top/build/helpers/inspect-many
par=${BENCH_PARALLEL:-8}
runs=${BENCH_RUNS:-30}
image=${BENCH_IMAGE:-reconciler-test/app:1}
[ $# -eq 0 ] && set -- 200 1000

(cd "$top" && make -s all build/helpers/inspect-many build/helpers/drift-inproc) || exit 2
work=$(mktemp -d /tmp/rc-bench-drift.XXXXXX)
project=benchdrift$$
cleanup() {
	ids=$(docker ps -aq --filter "label=io.reconciler.project=$project")
	[ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
	ids=$(docker volume ls -q --filter "label=io.reconciler.project=$project")
	[ -n "$ids" ] && docker volume rm $ids >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

gen() { # dir n
	rm -rf "$1"
	mkdir -p "$1"
	(
		cd "$1" && git init -q -b main . && git config user.email bench@example.invalid &&
		git config user.name bench &&
		printf 'kind: Settings\nproject: %s\n' "$project" >settings.yaml &&
		i=1 && while [ $i -le "$2" ]; do
			printf -- '---\nkind: Service\nname: s%04d\nimage: %s\nenv: {MODE: sleep, N: "%d"}\nstate: stopped\n' \
				"$i" "$image" "$i"
			i=$((i + 1))
		done >services.yaml &&
		git add -A && git commit -q -m "$2 services"
	)
}

rows=
inrows=
drows=
fail=0
for n in "$@"; do
	repo=$work/repo$n
	state=$work/state$n
	mkdir -p "$state"
	gen "$repo" "$n" || exit 2
	t0=$(date +%s)
	"$rc" -q --state-dir "$state" --repo "$repo" apply --parallel 4 >/dev/null || { echo "drift.sh: apply of $n failed" >&2; exit 2; }
	t1=$(date +%s)
	echo "drift.sh: $n containers created in $((t1 - t0)) s" >&2
	"$rc" -q --state-dir "$state" --repo "$repo" drift >"$work/out" || {
		echo "drift.sh: drift is not none after apply:" >&2; cat "$work/out" >&2; exit 2; }
	docker ps -aq --no-trunc --filter "label=io.reconciler.project=$project" >"$work/ids"
	[ "$(wc -l <"$work/ids")" -eq "$n" ] || { echo "drift.sh: expected $n containers" >&2; exit 2; }
	# both in alternating rounds (alternate.py): on a shared machine whose speed drifts, two
	# blocks of runs measured one after the other differ by more than what is measured
	read -r d_ms d_min d_max r_ms r_min r_max <<-EOT
	$(python3 "$top/tests/bench/alternate.py" "$runs" 3 \
		"$rc -q --state-dir $state --repo $repo drift --parallel $par" "$helper $par <$work/ids" | tr '\n' ' ')
	EOT
	[ -n "$r_ms" ] || { echo "drift.sh: measuring failed" >&2; exit 2; }
	ratio=$(awk -v a="$d_ms" -v b="$r_ms" 'BEGIN { printf "%.2f", a / b }')
	rows="$rows| $n | $d_ms ms | $r_ms ms | $ratio |
"
	# the daemon's periodic check: no process start, manifests in memory (tests/helpers/drift-inproc.c)
	inproc=$("$top/build/helpers/drift-inproc" "$repo" "$state" "$runs" "$par")
	read -r w1 i_d w3 i_r w5 i_f w7 i_l <<-EOT
	$inproc
	EOT
	if [ "$w1" = drift ] && [ "$w5" = findings ] && [ "$i_f" = 0 ] && [ "$w7" = listing ]; then
		iratio=$(awk -v a="$i_d" -v b="$i_r" 'BEGIN { printf "%.2f", a / b }')
		lratio=$(awk -v a="$i_l" -v b="$i_r" 'BEGIN { printf "%.2f", a / b }')
		iverdict=$(awk -v r="$iratio" 'BEGIN { print (r <= 1.2) ? "met" : "MISSED" }')
		[ "$iverdict" = met ] || fail=1
		inrows="$inrows| $n | $i_d ms | $i_r ms | $iratio | ≤ 1.2: $iverdict | $i_l ms ($lratio) |
"
	else
		echo "drift.sh: drift-inproc failed: $inproc" >&2
		fail=1
	fi
	# with `reconciler run` holding the state directory, the command asks it (control.sock): the
	# daemon knows the project's containers from the engine's events and lists none
	"$rc" -q --state-dir "$state" --repo "$repo" run --check-interval 3600 --drift-interval 0 \
		>"$work/daemon$n.log" 2>&1 </dev/null &
	dpid=$!
	i=0
	while ! grep -q "boot convergence complete" "$work/daemon$n.log" && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if "$rc" -v --state-dir "$state" drift 2>&1 >/dev/null | grep -q "the daemon made this drift check"; then
		read -r g_ms g_min g_max h_ms h_min h_max <<-EOT
		$(python3 "$top/tests/bench/alternate.py" "$runs" 3 \
			"$rc -q --state-dir $state drift --parallel $par" "$helper $par <$work/ids" | tr '\n' ' ')
		EOT
		gratio=$(awk -v a="$g_ms" -v b="$h_ms" 'BEGIN { printf "%.2f", a / b }')
		gverdict=$(awk -v r="$gratio" 'BEGIN { print (r <= 1.2) ? "met" : "MISSED" }')
		[ "$gverdict" = met ] || fail=1
		drows="$drows| $n | $g_ms ms | $h_ms ms | $gratio | ≤ 1.2: $gverdict |
"
	else
		echo "drift.sh: the daemon did not answer drift; its log:" >&2
		cat "$work/daemon$n.log" >&2
		fail=1
	fi
	kill -TERM $dpid 2>/dev/null
	wait $dpid
	ids=$(cat "$work/ids")
	docker rm -f $ids >/dev/null 2>&1
	# the project is torn down: its ownership marker too, as the next size applies from
	# a state directory of its own (docs/operations.md, "Project ownership")
	docker volume rm "$project-reconciler-owner" >/dev/null 2>&1
done

method="tests/bench/alternate.py: 3 warm-up rounds, $runs rounds alternating the two commands (order reversed every other round), median"
cat <<EOT
### $(date -u +%Y-%m-%d)

- Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr), Docker $(docker version -f '{{.Server.Version}}')
- Binary: release build (\`make\`); parallelism $par for both
- Method: wall time by $method

\`reconciler drift\` with \`reconciler run\` holding the state directory (the command asks the daemon
over control.sock; the daemon inspects the container ids it knows from its list and the engine's
events):

| units | \`reconciler drift\` | raw inspects | ratio | target |
| --- | --- | --- | --- | --- |
$drows
\`reconciler drift\` with no daemon (the command lists the project's containers to find extra ones;
reported, not held to the target: see docs/performance.md):

| units | \`reconciler drift\` | raw inspects | ratio |
| --- | --- | --- | --- |
$rows
In process (the daemon's periodic check: \`drift_check()\` over the container ids it knows from its
list and events, against \`dk_inspect_many()\`; last column: the same check listing the project's
containers instead; alternating, median of $runs):

| units | drift check | raw inspects | ratio | target | listing instead |
| --- | --- | --- | --- | --- | --- |
$inrows
EOT
[ -n "${BENCH_NO_FAIL:-}" ] && exit 0
exit $fail
