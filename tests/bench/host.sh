#!/bin/sh
# host.sh — the host-scale rollout benchmark: reconciler, docker-compose and
# the engine's own floor side by side in one run.  On demand only (not part
# of `make test`, nor of `make bench`):
#
#   sh tests/bench/host.sh [curve|cold|boot|all]     (default all)
#
#   BENCH_HOST_N           customer counts (default "50 200"; at most 1000)
#   RC_BENCH               the release binary (default build/reconciler, `make`)
#   BENCH_FLOOR_PARALLEL   calls in flight of the raw engine loop (default 8)
#   BENCH_HOST_TIMEOUT     bound of each timed rollout, s (default 900)
#   BENCH_HEALTH_INTERVAL  the health checks' interval (default 5s; 500 customers need more on 2 CPUs)
#   BENCH_CURVE_M          containers per curve run (default 64)
#   BENCH_CURVE_P          in-flight counts of the curve (default "1 2 4 8 16 32")
#   BENCH_CURVE_RUNS       runs per in-flight count (default 2; the median is reported)
#
# The N customers (tests/bench/gen-host.sh writes both inputs): one
# container each (reconciler-test/app:1, busybox httpd on 8080), on its own
# network with its own /26 subnet, a published host port, cpus 0.25 and
# memory 64M, restart unless-stopped, a Docker health check (wget of
# /health) every 5 s.
#
#   cold   per N: (a) `reconciler apply --stats` from nothing until it returns
#          (it waits for health); (b) `docker-compose up -d`, then polling
#          (0.5 s) until all N are healthy, bounded by BENCH_HOST_TIMEOUT (a
#          hang is reported with how many were up); (c) the floor: `docker
#          network create` + `docker run -d` of the same containers by `xargs
#          -P BENCH_FLOOR_PARALLEL`, then the same polling.
#   boot   per N: converge with `apply`, remove the project's containers,
#          start `reconciler run` and time until it logs "boot convergence
#          complete" and all N are healthy; then SIGTERM it.
#   curve  create+start throughput against calls in flight: M containers
#          (MODE=sleep, no health check, default bridge) created and started
#          by curl on the engine socket, P at a time (xargs -P P).
#
# What it creates carries labels and only that is removed, before each run
# and at exit: io.reconciler.project=rcbench-host (reconciler),
# io.reconciler.project=rcbench-host-floor (the floor), compose project
# rcbench-host-compose (`docker-compose down -v`, then its labels),
# io.reconciler.project=rcbench-curve (the curve).
# Prints Markdown for docs/performance.md on stdout, progress on stderr;
# exits 0 unless setup fails (2).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rc=${RC_BENCH:-$top/build/reconciler}
what=${1:-all}
ns=${BENCH_HOST_N:-50 200}
floor_p=${BENCH_FLOOR_PARALLEL:-8}
tmo=${BENCH_HOST_TIMEOUT:-900}
curve_m=${BENCH_CURVE_M:-64}
curve_p=${BENCH_CURVE_P:-1 2 4 8 16 32}
curve_runs=${BENCH_CURVE_RUNS:-2}
image=reconciler-test/app:1
project=rcbench-host
fproject=$project-floor
cproject=$project-compose
curve_project=rcbench-curve
sock=/var/run/docker.sock
api=http://localhost/v1.41

case $what in
curve | cold | boot | all) ;;
*)
	echo "usage: sh tests/bench/host.sh [curve|cold|boot|all]" >&2
	exit 2
	;;
esac
say() { echo "host.sh: $*" >&2; }
for t in curl timeout xargs awk git; do
	command -v $t >/dev/null 2>&1 || { say "$t is needed"; exit 2; }
done
if [ "$what" != curve ] && [ ! -x "$rc" ]; then
	say "$rc missing: run make first"
	exit 2
fi
. "$top/tests/lib/engine.sh"
engine_ensure || exit 2
docker image inspect "$image" >/dev/null 2>&1 || {
	(cd "$top" && . tests/lib/images.sh && build_test_images) >&2 || exit 2
}
compose=
if [ "$what" = cold ] || [ "$what" = all ]; then
	if ! command -v docker-compose >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
		say "installing docker-compose (apt-get)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >&2 ||
			{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >&2; }
	fi
	command -v docker-compose >/dev/null 2>&1 && compose=docker-compose
	[ -n "$compose" ] || say "docker-compose is not installed: its column stays empty"
fi

work=$(mktemp -d /tmp/rc-bench-host.XXXXXX)
dpid=

# ---- cleanup: only what carries our labels ---------------------------------
rm_containers() { # docker ps filter...
	ids=$(docker ps -aq "$@")
	[ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1
	return 0
}
rm_networks() { # docker network ls filter...
	ids=$(docker network ls -q "$@")
	[ -z "$ids" ] || docker network rm $ids >/dev/null 2>&1
	return 0
}
compose_down() {
	if [ -n "$compose" ] && [ -f "$work/compose-file" ]; then
		timeout -k 10 300 $compose -p "$cproject" -f "$(cat "$work/compose-file")" down -v --remove-orphans >/dev/null 2>&1
	fi
	rm_containers --filter "label=com.docker.compose.project=$cproject"
	rm_networks --filter "label=com.docker.compose.project=$cproject"
	rm_networks --filter "label=io.reconciler.bench=$project"
}
cleanup_engine() {
	for p in "$project" "$fproject" "$curve_project"; do
		rm_containers --filter "label=io.reconciler.project=$p"
	done
	compose_down
	for p in "$project" "$fproject"; do
		rm_networks --filter "label=io.reconciler.project=$p"
	done
	# reconciler's ownership marker of the project (docs/operations.md, "Project ownership"):
	# each round applies from a state directory of its own
	ids=$(docker volume ls -q --filter "label=io.reconciler.project=$project")
	[ -z "$ids" ] || docker volume rm $ids >/dev/null 2>&1
}
stop_daemon() {
	[ -n "$dpid" ] || return 0
	kill -TERM "$dpid" 2>/dev/null
	i=0
	while kill -0 "$dpid" 2>/dev/null && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -0 "$dpid" 2>/dev/null && { say "the daemon ignored SIGTERM for 60 s: SIGKILL"; kill -KILL "$dpid"; }
	wait "$dpid" 2>/dev/null
	dexit=$?
	dpid=
}
trap 'stop_daemon; cleanup_engine; rm -rf "$work"; engine_stop' EXIT
trap 'exit 130' INT TERM
cleanup_engine
others=$(docker info --format '{{.Containers}}' 2>/dev/null)

# ---- helpers -----------------------------------------------------------------
now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
ratio() {
	case "$1 $2" in
	*[!0-9.\ ]* | " "* | *" ") echo "—" ;;
	*) awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }' ;;
	esac
}
median() { # numbers...
	printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
count() { # docker ps filter...: running containers
	docker ps -q "$@" | wc -l | tr -d ' '
}
# wait_healthy LABEL N DEADLINE_NS: polls every 0.5 s; sets $healthy; 0 when N are healthy
wait_healthy() {
	while :; do
		healthy=$(count --filter "label=$1" --filter health=healthy)
		[ "$healthy" -ge "$2" ] && return 0
		[ "$(now_ns)" -ge "$3" ] && return 1
		sleep 0.5
	done
}
gen() { # N: inputs in $work/n$N
	[ -d "$work/n$1" ] || sh "$top/tests/bench/gen-host.sh" "$work/n$1" "$1" "$project" || return 1
	echo "$work/n$1/docker-compose.yml" >"$work/compose-file"
}
deadline_of() { echo $(($1 + tmo * 1000000000)); }
settle() { sleep "${BENCH_SETTLE:-2}"; }
# fail_text EXIT: how a bounded command ended
fail_text() {
	case $1 in
	124 | 137) echo "timeout (${tmo} s)" ;;
	*) echo "failed (exit $1)" ;;
	esac
}

rc_apply() { # N STATE LOG: `reconciler apply --stats`, bounded
	timeout -k 10 "$tmo" "$rc" -q --repo "$work/n$1/repo" --state-dir "$2" apply --stats >"$3.out" 2>"$3"
}

# ---- cold ----------------------------------------------------------------------
cold() {
	n=$1
	gen "$n" || return 1

	# (a) reconciler
	cleanup_engine
	settle
	state=$work/state-cold-$n
	rm -rf "$state" && mkdir -p "$state"
	say "cold $n: reconciler apply"
	t0=$(now_ns)
	rc_apply "$n" "$state" "$work/cold-stats-$n"
	x=$?
	t1=$(now_ns)
	healthy=$(count --filter "label=io.reconciler.project=$project" --filter health=healthy)
	if [ $x = 0 ] && [ "$healthy" = "$n" ]; then
		r_s=$(secs "$t0" "$t1")
		r_cell="$r_s s"
	else
		r_s=
		r_cell="$(fail_text $x) after $(secs "$t0" "$t1") s: $healthy of $n healthy"
		say "cold $n: reconciler: $r_cell; its stderr ends:"
		tail -n 15 "$work/cold-stats-$n" >&2
	fi
	calls=$(sed -n 's/^docker api calls: \([0-9]*\) (\([0-9]*\) mutating).*/\1 \2/p' "$work/cold-stats-$n")
	if [ -n "$calls" ]; then
		set -- $calls
		per=$(awk -v c="$1" -v n="$n" 'BEGIN { printf "%.1f", c / n }')
		kinds=$(awk '/^  [a-z]/ { printf "%s%s %s", sep, $1, $2; sep = ", " }' "$work/cold-stats-$n")
		phases=$(sed -n 's/^phases: //p' "$work/cold-stats-$n")
		echo "| $n | $1 ($2 mutating) | $per | $kinds | $phases |" >>"$work/out.stats"
	else
		echo "| $n | (no --stats output) | | | |" >>"$work/out.stats"
	fi

	# (b) docker-compose
	cleanup_engine
	c_cell="not installed" c_s=
	if [ -n "$compose" ]; then
		settle
		say "cold $n: docker-compose up -d"
		t0=$(now_ns)
		timeout -k 10 "$tmo" $compose -p "$cproject" -f "$work/n$n/docker-compose.yml" up -d >"$work/compose-$n.log" 2>&1
		x=$?
		t1=$(now_ns)
		up=$(count --filter "label=com.docker.compose.project=$cproject")
		if [ $x = 124 ] || [ $x = 137 ]; then
			c_cell="hung: $up of $n up after $tmo s"
		elif [ $x != 0 ]; then
			c_cell="failed (exit $x) after $(secs "$t0" "$t1") s: $up of $n up"
			tail -n 15 "$work/compose-$n.log" >&2
		elif wait_healthy "com.docker.compose.project=$cproject" "$n" "$(deadline_of "$t0")"; then
			t2=$(now_ns)
			c_s=$(secs "$t0" "$t2")
			c_cell="$(secs "$t0" "$t1") / $c_s s"
		else
			c_cell="up $(secs "$t0" "$t1") s; $healthy of $n healthy after $tmo s"
		fi
		say "cold $n: docker-compose: $c_cell"
		compose_down
	fi

	# (c) the floor
	cleanup_engine
	settle
	cat >"$work/floor-one.sh" <<-EOT
	#!/bin/sh
	# floor-one.sh NAME PORT NETWORK SUBNET
	docker network create --label io.reconciler.project=$fproject --subnet "\$4" "\$3" >/dev/null &&
	exec docker run -d --name "\$1" --network "\$3" --network-alias app -p "\$2:8080" \\
		--cpus 0.25 --memory 64m --restart unless-stopped \\
		--health-cmd 'wget -q -O /dev/null http://127.0.0.1:8080/health' \\
		--health-interval ${BENCH_HEALTH_INTERVAL:-5s} --health-timeout 3s --health-retries 3 \\
		--label io.reconciler.project=$fproject "$image" >/dev/null
	EOT
	say "cold $n: floor (xargs -P $floor_p)"
	t0=$(now_ns)
	timeout -k 10 "$tmo" xargs -P "$floor_p" -L1 sh "$work/floor-one.sh" <"$work/n$n/floor-units" 2>"$work/floor-$n.log"
	x=$?
	t1=$(now_ns)
	f_s=
	if [ $x != 0 ]; then
		f_cell="$(fail_text $x): $(count --filter "label=io.reconciler.project=$fproject") of $n up"
		tail -n 15 "$work/floor-$n.log" >&2
	elif wait_healthy "io.reconciler.project=$fproject" "$n" "$(deadline_of "$t0")"; then
		t2=$(now_ns)
		f_s=$(secs "$t0" "$t2")
		f_cell="$(secs "$t0" "$t1") / $f_s s"
	else
		f_cell="$healthy of $n healthy after $tmo s"
	fi
	say "cold $n: floor: $f_cell"
	cleanup_engine

	echo "| $n | $r_cell | $c_cell | $f_cell | $(ratio "$c_s" "$r_s") | $(ratio "$r_s" "$f_s") |" >>"$work/out.cold"
}

# ---- boot ----------------------------------------------------------------------
boot() {
	n=$1
	gen "$n" || return 1
	cleanup_engine
	state=$work/state-boot-$n
	rm -rf "$state" && mkdir -p "$state"
	say "boot $n: converging with apply"
	rc_apply "$n" "$state" "$work/boot-apply-$n"
	x=$?
	if [ $x != 0 ]; then
		say "boot $n: apply $(fail_text $x); its stderr ends:"
		tail -n 15 "$work/boot-apply-$n" >&2
		echo "| $n | apply before it: $(fail_text $x) | | |" >>"$work/out.boot"
		cleanup_engine
		return 0
	fi
	rm_containers --filter "label=io.reconciler.project=$project"
	settle
	say "boot $n: reconciler run"
	log=$work/boot-$n.log
	: >"$log"
	t0=$(now_ns)
	"$rc" -q --repo "$work/n$n/repo" --state-dir "$state" run >"$log" 2>&1 </dev/null &
	dpid=$!
	deadline=$((t0 + tmo * 1000000000))
	t_line='' t_health='' cell=''
	while :; do
		if [ -z "$t_line" ] && grep -q "boot convergence complete" "$log"; then
			t_line=$(now_ns)
		fi
		if [ -z "$t_health" ]; then
			healthy=$(count --filter "label=io.reconciler.project=$project" --filter health=healthy)
			[ "$healthy" -ge "$n" ] && t_health=$(now_ns)
		fi
		[ -n "$t_line" ] && [ -n "$t_health" ] && break
		if ! kill -0 "$dpid" 2>/dev/null; then
			cell="the daemon exited"
			break
		fi
		if grep -q "boot convergence interrupted" "$log"; then
			cell="boot convergence interrupted"
			break
		fi
		if [ "$(now_ns)" -ge "$deadline" ]; then
			cell="timeout ($tmo s)"
			break
		fi
		sleep 0.2
	done
	t1=$(now_ns)
	stop_daemon
	if [ -n "$cell" ]; then
		say "boot $n: $cell; the daemon's log ends:"
		tail -n 15 "$log" >&2
		line_cell=${t_line:+$(secs "$t0" "$t_line") s}
		echo "| $n | $cell after $(secs "$t0" "$t1") s (${healthy:-0} of $n healthy) | ${line_cell:-not logged} | exit $dexit |" >>"$work/out.boot"
	else
		say "boot $n: done in $(secs "$t0" "$t1") s"
		echo "| $n | $(secs "$t0" "$t1") s | $(secs "$t0" "$t_line") s | exit $dexit |" >>"$work/out.boot"
	fi
	cleanup_engine
}

# ---- curve -----------------------------------------------------------------------
curve() {
	printf '{"Image":"%s","Env":["MODE=sleep"],"Labels":{"io.reconciler.project":"%s"}}' \
		"$image" "$curve_project" >"$work/curve-body.json"
	for p in $curve_p; do
		times='' shown=''
		r=1
		while [ $r -le "$curve_runs" ]; do
			rm_containers --filter "label=io.reconciler.project=$curve_project"
			settle
			i=0
			while [ $i -lt "$curve_m" ]; do
				echo "$curve_project-p$p-r$r-$i"
				i=$((i + 1))
			done >"$work/curve-names"
			t0=$(now_ns)
			xargs -P "$p" -I{} curl -sSf -o /dev/null --unix-socket "$sock" -X POST \
				-H 'Content-Type: application/json' --data-binary @"$work/curve-body.json" "$api/containers/create?name={}" \
				--next -sSf -o /dev/null --unix-socket "$sock" -X POST "$api/containers/{}/start" \
				<"$work/curve-names" 2>"$work/curve.log"
			x=$?
			t1=$(now_ns)
			running=$(count --filter "label=io.reconciler.project=$curve_project")
			if [ $x != 0 ] || [ "$running" != "$curve_m" ]; then
				say "curve: P=$p run $r: xargs exit $x, $running of $curve_m running"
				tail -n 5 "$work/curve.log" >&2
				shown="$shown${shown:+, }failed"
			else
				s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
				say "curve: P=$p run $r: $s s"
				times="$times $s"
				shown="$shown${shown:+, }$s s"
			fi
			r=$((r + 1))
		done
		rm_containers --filter "label=io.reconciler.project=$curve_project"
		if [ -n "$times" ]; then
			med=$(median $times)
			rate=$(awk -v m="$curve_m" -v t="$med" 'BEGIN { printf "%.1f", m / t }')
			per=$(awk -v p="$p" -v m="$curve_m" -v t="$med" 'BEGIN { printf "%.0f", t * 1000 * p / m }')
			echo "| $p | $shown | $med s | $rate | $per ms |" >>"$work/out.curve"
		else
			echo "| $p | $shown | | | |" >>"$work/out.curve"
		fi
	done
}

: >"$work/out.cold"
: >"$work/out.stats"
: >"$work/out.boot"
: >"$work/out.curve"
case $what in curve | all) curve ;; esac
case $what in cold | all) for n in $ns; do cold "$n" || { say "cold $n: setup failed"; exit 2; }; done ;; esac
case $what in boot | all) for n in $ns; do boot "$n" || { say "boot $n: setup failed"; exit 2; }; done ;; esac

cat <<EOT
### $(date -u +%Y-%m-%d) — host-scale rollout (\`tests/bench/host.sh $what\`)

- Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs, $(free -m | awk '/^Mem:/ { printf "%.1f", $2 / 1024 }') GiB RAM, $(uname -sr)
- Docker Engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) (API $(docker version --format '{{.Server.APIVersion}}' 2>/dev/null)); $(if [ -n "$compose" ]; then $compose version --short 2>/dev/null | sed 's/^/docker-compose /'; else echo "docker-compose not used"; fi); $others other containers on the engine at the start
- reconciler: $("$rc" version 2>/dev/null | head -n1) ($rc, release build), \`apply\` at its default parallelism
EOT
if [ -s "$work/out.curve" ]; then
	cat <<-EOT

	Create+start throughput against calls in flight: $curve_m containers ($image, MODE=sleep, no health check, default bridge, no ports) created and started with curl on the engine socket (\`POST /containers/create\`, then \`/start\`, one curl process per container), \`xargs -P P\`; $curve_runs runs per P, median; containers removed between runs:

	| in flight (P) | runs | median | containers/s | per container per slot |
	| --- | --- | --- | --- | --- |
	EOT
	cat "$work/out.curve"
fi
if [ -s "$work/out.cold" ]; then
	cat <<-EOT

	Cold rollout of N customers (one container each: own network and /26 subnet, published port, cpus 0.25, memory 64M, Docker health check every ${BENCH_HEALTH_INTERVAL:-5s}; tests/bench/gen-host.sh), engine emptied before each tool, one run each, bounded by $tmo s.  reconciler: \`apply\` until it returns (it waits for health).  docker-compose: \`up -d\` returned / all N healthy (polled every 0.5 s).  Floor: \`docker network create\` + \`docker run -d\` by \`xargs -P $floor_p\` returned / all N healthy.  The first health check runs one interval after a start, so about one interval of every figure is the wait for it:

	| N | reconciler | docker-compose (up / healthy) | floor, P=$floor_p (started / healthy) | compose / reconciler | reconciler / floor |
	| --- | --- | --- | --- | --- | --- |
	EOT
	cat "$work/out.cold"
	cat <<-EOT

	\`reconciler apply --stats\` of those runs:

	| N | Docker API calls | per unit | by kind | phases |
	| --- | --- | --- | --- | --- |
	EOT
	cat "$work/out.stats"
fi
if [ -s "$work/out.boot" ]; then
	cat <<-EOT

	Boot: \`apply\` converged N customers, then their containers were removed (networks and state kept) and \`reconciler run\` started; time from the start to the log line "boot convergence complete" with all N healthy (polled every 0.2 s); then SIGTERM:

	| N | boot to converged and healthy | "boot convergence complete" logged | daemon after SIGTERM |
	| --- | --- | --- | --- |
	EOT
	cat "$work/out.boot"
fi
exit 0
