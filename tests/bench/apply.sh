#!/bin/sh
# apply.sh — plan/apply benchmarks against the real engine (called by
# run.sh; alone: sh tests/bench/apply.sh [noop|cold|all]).
#
#   noop: a converged engine with N units (BENCH_NOOP_UNITS, default
#         "200 1000"): wall time of a no-op `reconciler apply --no-refresh`
#         (labels only) against one raw list call of the same containers
#         (curl on the socket, label filter; target: ratio <= 1.5), and of
#         the default `apply` (refresh: every container inspected) against
#         that list call plus the same inspects made raw
#         (build/helpers/inspect-many 8; reported).  The units are shared Services on
#         the default bridge, desired `stopped` by default (created, never
#         started: 1000 running containers cost ~10 GiB of shims on a shared
#         machine; the list call and the plan do the same work either way);
#         BENCH_NOOP_STATE=running runs them.
#   cold: BENCH_COLD_UNITS (default 50) customers of a one-service template
#         (own network with a pool subnet, port, cpus/memory/pids limits, no
#         health check) converged from nothing by one apply, against a raw
#         `xargs -P4` loop of `docker network create` + `docker run -d` of the
#         same containers (same image, networks, subnets, limits, ports,
#         labels).  Target: ratio <= 1.2.
#
# Everything carries the label io.reconciler.project=$BENCH_PROJECT
# (default rcbench-apply) and is removed at exit.  Prints Markdown; exits 1
# if a target is missed (BENCH_NO_FAIL=1: always 0).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rc=${RC_BENCH:-$top/build/reconciler}
what=${1:-all}
project=${BENCH_PROJECT:-rcbench-apply}
image=${BENCH_APPLY_IMAGE:-reconciler-test/app:1}
noop_units=${BENCH_NOOP_UNITS:-200 1000}
noop_state=${BENCH_NOOP_STATE:-stopped}
cold_units=${BENCH_COLD_UNITS:-50}
runs=${BENCH_RUNS:-20}
cold_runs=${BENCH_COLD_RUNS:-5}
sock=/var/run/docker.sock
pool=10.96.0.0/16
port_lo=31000

for t in hyperfine curl python3; do
	command -v $t >/dev/null 2>&1 || { echo "apply.sh: $t is needed" >&2; exit 2; }
done
[ -x "$rc" ] || { echo "apply.sh: $rc missing: run make first" >&2; exit 2; }
inspect_many=$(dirname "$rc")/helpers/inspect-many
[ -x "$inspect_many" ] || { echo "apply.sh: $inspect_many missing: make $inspect_many" >&2; exit 2; }
. "$top/tests/lib/engine.sh"
engine_ensure || exit 2
docker image inspect "$image" >/dev/null 2>&1 || {
	(cd "$top" && . tests/lib/images.sh && build_test_images) >&2 || exit 2
}

work=$(mktemp -d /tmp/rc-bench-apply.XXXXXX)
cleanup_engine() {
	ids=$(docker ps -aq --filter "label=io.reconciler.project=$project")
	[ -n "$ids" ] && docker rm -f $ids >/dev/null
	ids=$(docker network ls -q --filter "label=io.reconciler.project=$project")
	[ -n "$ids" ] && docker network rm $ids >/dev/null
	# the project's ownership marker (docs/operations.md, "Project ownership"): each round applies
	# from a state directory of its own
	ids=$(docker volume ls -q --filter "label=io.reconciler.project=$project")
	[ -n "$ids" ] && docker volume rm $ids >/dev/null
	return 0
}
trap 'cleanup_engine; rm -rf "$work"; engine_stop' EXIT
cleanup_engine

median_ms() { # hyperfine json, index
	python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["median"]*1000))' "$1" "$2"
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}
verdict() { # value target
	if awk -v v="$1" -v t="$2" 'BEGIN { exit !(v <= t) }'; then echo met; else echo MISSED; fi
}
repo_commit() {
	git -C "$1" add -A && git -C "$1" -c user.email=bench@example.invalid -c user.name=bench commit -qm "$2"
}
fail=0
out=$work/report.md

# ---- no-op apply -----------------------------------------------------------
filter=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label":["io.reconciler.project="+sys.argv[1]]})))' "$project")
list_cmd="curl -sf -o /dev/null --unix-socket $sock http://localhost/v1.41/containers/json?all=1&filters=$filter"

noop() {
	n=$1
	repo=$work/noop-$n
	state=$work/noop-state-$n
	rm -rf "$repo" "$state" && mkdir -p "$repo" "$state" && git init -q -b main "$repo"
	printf 'kind: Settings\nproject: %s\n' "$project" >"$repo/settings.yaml"
	i=0
	while [ $i -lt "$n" ]; do
		printf -- '---\nkind: Service\nname: s%04d\nimage: %s\nenv: {MODE: sleep, N: "%d"}\nstate: %s\n' \
			$i "$image" $i "$noop_state"
		i=$((i + 1))
	done >"$repo/services.yaml"
	repo_commit "$repo" "$n services"
	echo "apply.sh: converging $n units ($noop_state)" >&2
	t0=$(date +%s%N)
	"$rc" -q --state-dir "$state" --repo "$repo" apply >&2 || return 1
	t1=$(date +%s%N)
	echo "apply.sh: converged in $(((t1 - t0) / 1000000)) ms" >&2
	"$rc" -q --state-dir "$state" --repo "$repo" apply --stats 2>"$work/noop-stats-$n" >/dev/null
	grep -q "(0 mutating)" "$work/noop-stats-$n" || { echo "apply.sh: second apply is not a no-op" >&2; return 1; }
	[ "$(curl -sf --unix-socket $sock "http://localhost/v1.41/containers/json?all=1&filters=$filter" |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$n" ] || return 1
	# both ways (issue 14): the default apply refreshes (inspects every container) and is measured
	# against the list call plus the same inspects made raw (tests/helpers/inspect-many);
	# --no-refresh trusts the labels and is measured against the list call alone
	docker ps -aq --no-trunc --filter "label=io.reconciler.project=$project" >"$work/ids-$n"
	printf '#!/bin/sh\ncurl -sf -o /dev/null --unix-socket %s "http://localhost/v1.41/containers/json?all=1&filters=%s" &&\n%s 8 <%s 2>/dev/null\n' \
		"$sock" "$filter" "$inspect_many" "$work/ids-$n" >"$work/list-inspect-$n.sh"
	"$rc" -q --state-dir "$state" --repo "$repo" apply --no-refresh --stats 2>"$work/noop-nr-stats-$n" >/dev/null
	hyperfine -N -w 3 -r "$runs" --export-json "$work/noop-$n.json" \
		"$rc -q --state-dir $state --repo $repo apply --no-refresh" "$list_cmd" \
		"$rc -q --state-dir $state --repo $repo apply" "sh $work/list-inspect-$n.sh" >&2 || return 1
	a=$(median_ms "$work/noop-$n.json" 0)
	l=$(median_ms "$work/noop-$n.json" 1)
	r=$(ratio "$a" "$l")
	v=$(verdict "$r" 1.5)
	[ "$v" = met ] || fail=1
	ar=$(median_ms "$work/noop-$n.json" 2)
	li=$(median_ms "$work/noop-$n.json" 3)
	rr=$(ratio "$ar" "$li")
	phases=$(sed -n 's/^phases: //p' "$work/noop-nr-stats-$n")
	calls=$(sed -n 's/^docker api calls: //p' "$work/noop-nr-stats-$n")
	rphases=$(sed -n 's/^phases: //p' "$work/noop-stats-$n")
	rcalls=$(sed -n 's/^docker api calls: //p' "$work/noop-stats-$n")
	echo "| $n | \`--no-refresh\` | $a ms | list call $l ms | $r | ≤ 1.5: $v | $phases; $calls calls |" >>"$out.noop"
	echo "| $n | refresh (default) | $ar ms | list call + $n inspects $li ms | $rr | (reported) | $rphases; $rcalls calls |" >>"$out.noop"
	cleanup_engine
}

# ---- cold converge ----------------------------------------------------------
cold() {
	n=$1
	repo=$work/cold
	rm -rf "$repo" && mkdir -p "$repo/customers" && git init -q -b main "$repo"
	cat >"$repo/settings.yaml" <<-EOT
	kind: Settings
	project: $project
	ports: {range: $port_lo-$((port_lo + n + 99))}
	subnets: {pool: $pool, size: 28}
	---
	kind: Plan
	name: small
	cpus: 0.25
	memory: 64M
	pids: 100
	---
	kind: Template
	name: tiny
	plan: small
	services:
	  app:
	    image: $image
	    port: 8080
	EOT
	i=0
	while [ $i -lt "$n" ]; do
		printf 'kind: Customer\nid: c%03d\ntemplate: tiny\nport: auto\n' $i >"$repo/customers/c$i.yaml"
		i=$((i + 1))
	done
	repo_commit "$repo" "$n customers"

	# The raw loop: one line per unit with what apply gives it (the
	# allocations of a first apply, which the loop then reuses).
	state=$work/cold-state
	rm -rf "$state" && mkdir -p "$state"
	"$rc" -q --state-dir "$state" --repo "$repo" apply --stats 2>"$work/cold-stats" >/dev/null || return 1
	docker ps -a --filter "label=io.reconciler.project=$project" --format '{{.Names}}' | sort | while read -r name; do
		docker inspect -f '{{.Name}} {{(index (index .HostConfig.PortBindings "8080/tcp") 0).HostPort}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$name"
	done | while read -r name port net; do
		subnet=$(docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' "$net")
		echo "${name#/} $port $net $subnet"
	done >"$work/raw-units"
	[ "$(wc -l <"$work/raw-units")" = "$n" ] || { echo "apply.sh: first cold apply did not make $n units" >&2; return 1; }
	cat >"$work/raw-one.sh" <<-EOT
	#!/bin/sh
	# raw-one.sh NAME PORT NETWORK SUBNET
	docker network create --label io.reconciler.project=$project --subnet "\$4" "\$3" >/dev/null &&
	exec docker run -d --name "\$1" --network "\$3" --network-alias app -p "\$2:8080" \\
		--cpus 0.25 --memory 64m --pids-limit 100 --restart unless-stopped \\
		--label io.reconciler.project=$project "$image" >/dev/null
	EOT
	cleanup_engine
	prep="sh -c 'ids=\$(docker ps -aq --filter label=io.reconciler.project=$project); [ -z \"\$ids\" ] || docker rm -f \$ids >/dev/null; ids=\$(docker network ls -q --filter label=io.reconciler.project=$project); [ -z \"\$ids\" ] || docker network rm \$ids >/dev/null; rm -rf $state; mkdir -p $state'"
	hyperfine -w 1 -r "$cold_runs" --prepare "$prep" --export-json "$work/cold.json" \
		"$rc -q --state-dir $state --repo $repo apply" \
		"xargs -P4 -L1 sh $work/raw-one.sh <$work/raw-units" >&2 || return 1
	a=$(median_ms "$work/cold.json" 0)
	l=$(median_ms "$work/cold.json" 1)
	r=$(ratio "$a" "$l")
	v=$(verdict "$r" 1.2)
	[ "$v" = met ] || fail=1
	phases=$(sed -n 's/^phases: //p' "$work/cold-stats")
	calls=$(sed -n 's/^docker api calls: //p' "$work/cold-stats")
	echo "| $n | $a ms | $l ms | $r | ≤ 1.2: $v | $phases; $calls calls |" >>"$out.cold"
	cleanup_engine
}

: >"$out.noop"
: >"$out.cold"
case $what in
noop | all) for n in $noop_units; do noop "$n" || { echo "apply.sh: noop $n failed" >&2; exit 2; }; done ;;
esac
case $what in
cold | all) cold "$cold_units" || { echo "apply.sh: cold failed" >&2; exit 2; } ;;
esac

cat <<EOT
### $(date -u +%Y-%m-%d) — plan and apply

- Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr); Docker Engine $(docker version --format '{{.Server.Version}}') (API 1.41), $(docker info --format '{{.Containers}}') containers on the engine besides the bench's at the start
- Binary: release build (\`make\`, $(sed -n 's/^OPT *?= *//p' "$top/Makefile"))
EOT
if [ -s "$out.noop" ]; then
	cat <<-EOT

	No-op apply (units: shared Services, desired $noop_state; hyperfine -N, 3 warm-ups, $runs runs, median):

	| units | \`apply\` | (no changes) | raw baseline | ratio | target | \`apply --stats\` |
	| --- | --- | --- | --- | --- | --- | --- |
	EOT
	cat "$out.noop"
fi
if [ -s "$out.cold" ]; then
	cat <<-EOT

	Cold converge (customers of a one-service template, own network each, no health check; hyperfine, 1 warm-up, $cold_runs runs, median; engine emptied before each run):

	| units | \`apply\` | raw \`xargs -P4\` loop | ratio | target | \`apply --stats\` (first run) |
	| --- | --- | --- | --- | --- | --- |
	EOT
	cat "$out.cold"
fi
[ -n "${BENCH_NO_FAIL:-}" ] && exit 0
exit $fail
