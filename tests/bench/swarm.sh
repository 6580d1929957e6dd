#!/bin/sh
test_description='the Swarm rollout benchmark (issue 16; on demand, not in make test): N customers
(tests/bench/gen-host.sh, with engine: swarm and publish: host) converged by `reconciler apply` on a
one-node swarm and on a three-node swarm (engines in network namespaces), timed from nothing to every
service ready (tasks running, health checks passed); then a no-op apply and a one-customer change.
Figures go to docs/scaling.md.

  sh tests/bench/swarm.sh            BENCH_SWARM_N (default 200), BENCH_SWARM_NODES (default "1 3"),
                                     BENCH_HEALTH_INTERVAL (default 5s), RC_BENCH (default build/reconciler)
Prints a Markdown table on stderr (and in $TRASH/table, kept in /tmp/rc-swarm-bench.md).'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/swarm.sh"
. "$RC_TOP/tests/lib/cluster.sh"

N=${BENCH_SWARM_N:-200}
NODES=${BENCH_SWARM_NODES:-1 3}
RCB=${RC_BENCH:-$RC_TOP/build/reconciler}
[ -x "$RCB" ] || RCB=$RC
OUT=/tmp/rc-swarm-bench.md

# gen DIR: the bench's repository for N customers on a swarm (ports of this run's block are too few:
# host ports 27000+ as gen-host.sh writes them, published inside the swarm's namespaces only)
gen() {
	sh "$RC_TOP/tests/bench/gen-host.sh" "$1" "$N" "$PROJECT" >/dev/null &&
	(
		cd "$1/repo" &&
		sed -i "s/^project: .*/&\nengine: swarm/; s/^memory: 64M$/&\npublish: host/" settings.yaml &&
		git commit -q -am "engine: swarm"
	)
}

# timed LABEL CMD...: run CMD, add a row with its wall time
timed() {
	label=$1
	shift
	t0=$(date +%s.%N)
	"$@" >"$TRASH/last.out" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	secs=$(echo "$t1 - $t0" | bc)
	printf '| %s | %s | %.1f s | %s |\n' "$label" "$N" "$secs" "$([ $rc -eq 0 ] && echo ok || echo "exit $rc")" >>$OUT
	if [ $rc -ne 0 ]; then
		cp "$TRASH/last.out" "/tmp/rc-swarm-bench-failed.out"
		grep -E "^ *(failed|skipped) |^reconciler: " "$TRASH/last.out" | sort | uniq -c | sort -rn | head -8 >&2
	fi
	return $rc
}

test_expect_success 'setup' '
	printf "| swarm | customers | time | result |\n| --- | --- | --- | --- |\n" >$OUT &&
	gen "$TRASH/g"
'

for nodes in $NODES; do
	test_expect_success "$nodes node(s): apply from nothing, a no-op apply, one customer changed" '
		if [ $nodes = 1 ]; then swarm_start && H=$SWARM_HOST; else cluster_start $nodes && H=$CLUSTER_HOST; fi &&
		timed "$nodes node(s): apply from nothing to ready" env DOCKER_HOST=$H $RCB --state-dir $STATE --repo $TRASH/g/repo apply --stats &&
		timed "$nodes node(s): apply, nothing to do" env DOCKER_HOST=$H $RCB --state-dir $STATE --repo $TRASH/g/repo apply --stats &&
		(cd $TRASH/g/repo && printf "env: {V: \"2\"}\n" >>customers/c000.yaml && git commit -q -am v2) &&
		timed "$nodes node(s): one customer changed" env DOCKER_HOST=$H $RCB --state-dir $STATE --repo $TRASH/g/repo apply --stats &&
		(cd $TRASH/g/repo && git revert --no-edit HEAD >/dev/null) &&
		if [ $nodes = 1 ]; then swarm_stop; else cluster_stop; fi &&
		rm -rf $STATE && mkdir -p $STATE
	'
done

test_expect_success 'the table' '
	cat $OUT >&2
'

test_done
