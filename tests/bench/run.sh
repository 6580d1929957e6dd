#!/bin/sh
# run.sh — the load benchmark (what `make bench` calls, after `make`).
#
# Generates a Git repository with $BENCH_CUSTOMERS customers (default 1000;
# tests/bench/gen-hosting.sh), then measures the release binary
# (build/reconciler) loading it:
#   - wall time of `validate` and `render` from Git (hyperfine when installed,
#     otherwise a loop timed with date +%s%N; median of the runs);
#   - peak RSS of each (/usr/bin/time -v, "Maximum resident set size").
# Targets: <= 100 ms and <= 20 MiB.  Then tests/bench/apply.sh (plan and
# apply against the engine; BENCH_APPLY=0 skips it) and tests/bench/daemon.sh
# (commit-to-converged latency of `reconciler run`; BENCH_DAEMON=0 skips it).
# Prints Markdown blocks to paste into docs/performance.md ("Loading
# manifests", "Plan and apply", "Daemon");
# exits 1 if a target is missed (BENCH_NO_FAIL=1: always 0).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rc=${RC_BENCH:-$top/build/reconciler}
n=${BENCH_CUSTOMERS:-1000}
runs=${BENCH_RUNS:-20}
target_ms=100
target_kib=$((20 * 1024))

if [ ! -x "$rc" ]; then
	echo "run.sh: $rc missing: run make first" >&2
	exit 2
fi
work=$(mktemp -d /tmp/rc-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
state=$work/state
mkdir -p "$state/secrets"
printf 'bench-secret' >"$state/secrets/db_password"
chmod 600 "$state/secrets/db_password"

echo "run.sh: generating $n customers in $work/repo" >&2
sh "$top/tests/bench/gen-hosting.sh" "$work/repo" "$n" || exit 2
files=$(git -C "$work/repo" ls-files | wc -l)
bytes=$(git -C "$work/repo" ls-files -z | (cd "$work/repo" && xargs -0 cat) | wc -c)

set -- --state-dir "$state" --repo "$work/repo"
if ! "$rc" validate "$@"; then
	echo "run.sh: the generated manifests do not validate" >&2
	exit 2
fi
units=$("$rc" render --json "$@" | grep -c '"order":')

# median wall time in ms of: $rc CMD args (stdout discarded)
measure_ms() {
	cmd=$1
	if command -v hyperfine >/dev/null 2>&1; then
		hyperfine -N -w 3 -r "$runs" --export-json "$work/hf.json" \
			"$rc -q $cmd --state-dir $state --repo $work/repo" >&2 &&
		python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$work/hf.json"
	else
		: >"$work/times"
		i=0
		while [ $i -lt "$runs" ]; do
			t0=$(date +%s%N)
			"$rc" -q "$cmd" --state-dir "$state" --repo "$work/repo" >/dev/null
			t1=$(date +%s%N)
			echo $(((t1 - t0) / 1000)) >>"$work/times"
			i=$((i + 1))
		done
		sort -n "$work/times" | awk '{a[NR]=$1} END {printf "%.1f\n", a[int((NR+1)/2)]/1000}'
	fi
}

peak_kib() {
	/usr/bin/time -v "$rc" -q "$1" --state-dir "$state" --repo "$work/repo" 2>&1 >/dev/null |
		awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}'
}

v_ms=$(measure_ms validate)
r_ms=$(measure_ms render)
v_kib=$(peak_kib validate)
r_kib=$(peak_kib render)
method=$(command -v hyperfine >/dev/null 2>&1 && echo "hyperfine -N, 3 warm-ups, $runs runs, median" ||
	echo "date +%s%N loop, $runs runs, median")

fail=0
verdict() { # value target
	if awk -v v="$1" -v t="$2" 'BEGIN { exit !(v <= t) }'; then echo "ok"; else echo "MISSED"; fi
}
vv=$(verdict "$v_ms" $target_ms); rv=$(verdict "$r_ms" $target_ms)
vm=$(verdict "$v_kib" $target_kib); rm_=$(verdict "$r_kib" $target_kib)
for x in "$vv" "$rv" "$vm" "$rm_"; do [ "$x" = ok ] || fail=1; done

cat <<EOT
### $(date -u +%Y-%m-%d) — $n customers

- Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)
- Input: $n customers, $units units, $files files, $bytes bytes of YAML, one commit (tests/bench/gen-hosting.sh)
- Binary: release build (\`make\`, $(sed -n 's/^OPT *?= *//p' "$top/Makefile"))
- Method: wall time by $method; peak RSS by \`/usr/bin/time -v\`

| command | wall time (median) | target | peak RSS | target |
| --- | --- | --- | --- | --- |
| \`reconciler validate\` | $v_ms ms | ≤ $target_ms ms: $vv | $((v_kib / 1024)).$(((v_kib % 1024) * 10 / 1024)) MiB | ≤ 20 MiB: $vm |
| \`reconciler render\` | $r_ms ms | ≤ $target_ms ms: $rv | $((r_kib / 1024)).$(((r_kib % 1024) * 10 / 1024)) MiB | ≤ 20 MiB: $rm_ |
EOT

# Plan and apply against the engine (tests/bench/apply.sh: no-op apply vs a
# raw list call, cold converge vs a raw docker run loop).  BENCH_APPLY=0 skips.
if [ "${BENCH_APPLY:-1}" != 0 ]; then
	echo
	RC_BENCH=$rc BENCH_NO_FAIL= sh "$top/tests/bench/apply.sh" all || fail=1
fi
# The daemon: commit-to-converged latency (tests/bench/daemon.sh).
# BENCH_DAEMON=0 skips it.
if [ "${BENCH_DAEMON:-1}" != 0 ]; then
	echo
	RC_BENCH=$rc BENCH_NO_FAIL= sh "$top/tests/bench/daemon.sh" || fail=1
fi
[ -n "${BENCH_NO_FAIL:-}" ] && exit 0
exit $fail
