#!/bin/sh
test_description='soak: the daemon (sanitizer build) keeps 6 customers and a shared database
converged for SOAK_SECONDS while, in turn, containers are killed and removed by hand, plan and env
commits roll out, a one-shot migration job (run: once) is changed and must run once per change and
never otherwise, an operator restarts a healthy unit (docker restart: never counted as a failure,
never disabled), docker update changes limits, extra containers come and go and `drift` runs (answered by
the daemon, or by itself when the daemon is busy); then it converges
on its own, exits cleanly on SIGTERM with no sanitizer report, and drift --fix leaves no drift.
Not part of make test: make soak (SOAK_SECONDS, default 300; RC=build/reconciler for the release
build, whose RSS is then meaningful: the sanitizer build keeps freed memory in quarantine).'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

SOAK_SECONDS=${SOAK_SECONDS:-300}
N=6
M=$TRASH/repo

write_manifests() {
	mkdir -p $M/customers &&
	cat >$M/settings.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	ports: {range: $TEST_PORTS}
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Plan
	name: small
	memory: 48M
	restart: {backoff: 1s, max_backoff: 4s, max_failures: 1000}
	---
	kind: Plan
	name: large
	memory: 96M
	restart: {backoff: 1s, max_backoff: 4s, max_failures: 1000}
	---
	kind: Network
	name: backend
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	plan: small
	env: {ROLE: db}
	networks: [backend]
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
	---
	kind: Service
	name: cache
	image: $TEST_IMAGE
	plan: small
	env: {ROLE: cache}
	networks: [backend]
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 3}
	---
	kind: Service
	name: migrate
	image: $TEST_IMAGE
	plan: small
	run: once
	entrypoint: ["/bin/sh", "-c"]
	command: ["echo migrating to v0; sleep 1"]
	networks: [backend]
	depends_on: {db: healthy}
	---
	kind: Template
	name: web
	services:
	  app:
	    image: $TEST_IMAGE
	    port: 8080
	    networks: [backend]
	    depends_on: {db: healthy, migrate: completed}
	    health: {http: /health, interval: 1s, timeout: 2s, retries: 5}
	  worker:
	    image: $TEST_IMAGE
	    env: {MODE: sleep}
	    depends_on: {app: healthy}
	EOT
	i=1 &&
	while [ $i -le $N ]; do
		printf "kind: Customer\nid: c%d\ntemplate: web\nplan: small\nport: auto\nenv: {GREETING: v0}\n" $i \
			>$M/customers/c$i.yaml &&
		i=$((i + 1)) || return 1
	done
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' /proc/$DPID/status 2>/dev/null
}

test_expect_success 'setup: the daemon converges the initial commit' '
	repo_init $M && write_manifests && repo_commit $M initial &&
	daemon_start soak.log --repo $M --drift-interval 5 &&
	daemon_wait_log soak.log "boot convergence complete" 180 &&
	test "$(docker ps -q --filter label=$LABEL_PROJECT=$PROJECT --filter status=running | wc -l)" = $((2 * N + 2)) &&
	test "$(container_field $PROJECT-migrate {{.State.ExitCode}})" = 0
'

test_expect_success "$SOAK_SECONDS s of hand-made trouble while the daemon runs" '
	rss0=$(rss_kb) &&
	end=$(($(date +%s) + SOAK_SECONDS)) && i=0 && commits=0 && extras=0 && asked=0 && self=0 && migrations=0 &&
	restarts=0 &&
	while [ $(date +%s) -lt $end ]; do
		c=$((i % N + 1)) &&
		case $(((i + 8) % 9)) in  # the operator restart first, then 0, 1, ...
		0) docker kill $PROJECT-c$c-app >/dev/null 2>&1 || : ;;
		1) docker rm -f $PROJECT-c$c-worker >/dev/null 2>&1 || : ;;
		2) if grep -q "plan: small" $M/customers/c$c.yaml; then
			sed -i "s/plan: small/plan: large/" $M/customers/c$c.yaml
		   else
			sed -i "s/plan: large/plan: small/" $M/customers/c$c.yaml
		   fi && repo_commit $M "c$c plan $i" && commits=$((commits + 1)) ;;
		3) sed -i "s/GREETING: v[0-9]*/GREETING: v$i/" $M/customers/c$c.yaml &&
		   repo_commit $M "c$c env $i" && commits=$((commits + 1)) ;;
		4) docker update --memory 200m --memory-swap 400m $PROJECT-c$c-worker >/dev/null 2>&1 || : ;;
		5) docker rm -f $PROJECT-extra >/dev/null 2>&1
		   docker run -d --name $PROJECT-extra --label $LABEL_PROJECT=$PROJECT -e MODE=sleep \
			$TEST_IMAGE >/dev/null && extras=$((extras + 1)) ;;
		6) rc=0 && { $RC -v --repo $M drift >drift.out 2>drift.err || rc=$? ; } &&
		   { test $rc != 1 || { cat drift.err; false; }; } &&
		   if grep -q "the daemon made this drift check" drift.err; then asked=$((asked + 1)); else self=$((self + 1)); fi ;;
		7) sed -i "s/migrating to v[0-9]*/migrating to v$i/" $M/settings.yaml &&
		   repo_commit $M "migration $i" && commits=$((commits + 1)) && migrations=$((migrations + 1)) ;;
		8) if test "$(container_field $PROJECT-cache {{.State.Health.Status}} 2>/dev/null)" = healthy
		   then
			docker restart -t 2 $PROJECT-cache >/dev/null && restarts=$((restarts + 1))
		   fi ;;
		esac &&
		kill -0 $DPID &&
		sleep 3 &&
		i=$((i + 1)) || return 1
	done &&
	test_might_fail docker rm -f $PROJECT-extra >/dev/null 2>&1 &&
	echo "$restarts" >restarts &&
	echo "$i actions: $commits commits ($migrations of the migration job), $restarts operator restarts, $extras extra containers, drift $asked times answered by the daemon and $self by itself (the daemon busy); daemon RSS ${rss0} kB at the start, $(rss_kb) kB at the end ($RC)" >summary &&
	echo "daemon log: $(grep -c "commit [0-9a-f]* converged" soak.log) rollouts, $(grep -c "unit [^ ]*: .*failure [0-9]" soak.log) repairs, $(grep -c "warning" soak.log) warnings, $(grep -c "drift against" soak.log) drift reports" >>summary &&
	kill -0 $DPID
'
while read -r line; do say "$line"; done <summary

test_expect_success 'left alone, it converges to the last commit: every unit running, nothing pending' '
	head=$(git -C $M rev-parse HEAD) &&
	wait_for "$RC --repo $M status >status.out" 180 &&
	cat status.out &&
	test_grep "last applied $(echo $head | cut -c1-12)" status.out &&
	test "$(docker ps -q --filter label=$LABEL_PROJECT=$PROJECT --filter status=running | wc -l)" = $((2 * N + 2)) &&
	! grep -q "outdated\|missing" status.out &&
	grep "^migrate " status.out | test_grep " completed " &&
	docker logs $PROJECT-migrate 2>&1 | test_grep "migrating to v$(sed -n "s/.*migrating to v\([0-9]*\).*/\1/p" $M/settings.yaml)\$"
'

test_expect_success 'the migration job ran once for its current spec (the daemon never repaired a completed job)' '
	runs=$(docker logs $PROJECT-migrate 2>&1 | grep -c "^migrating to v") &&
	say "migration job: its current container ran $runs time(s); $(git -C $M log --oneline | grep -c " migration ") changes" &&
	test "$runs" = 1 &&
	! grep "unit migrate: .*failure" soak.log
'

test_expect_success 'operator restarts of a healthy unit were never counted as failures' '
	say "operator restarts: $(cat restarts) docker restart of cache" &&
	test "$(cat restarts)" -gt 0 &&
	! grep "unit cache: .*failure [0-9]" soak.log &&
	! grep "\"action\":\"failure\".*\"unit\":\"cache\"" $STATE/journal.jsonl &&
	! grep "unit cache disabled" soak.log &&
	test "$(container_field $PROJECT-cache {{.State.Status}})" = running
'

test_expect_success 'SIGTERM: exit 0, no sanitizer report, no crash in the log' '
	daemon_stop &&
	test "$DEXIT" = 0 &&
	! grep -n "AddressSanitizer\|LeakSanitizer\|runtime error\|Segmentation" soak.log
'

test_expect_success 'drift after the soak: only the limits changed by hand; --fix clears them' '
	rc=0 && { $RC --repo $M drift --json >drift.json || rc=$? ; } &&
	test $rc != 1 &&
	test "$(grep -c "\"kind\": \"changed\"" drift.json)" = "$(grep -c "\"kind\"" drift.json)" &&
	! grep "\"field\"" drift.json | grep -v "\"field\": \"memory\"" &&
	$RC --repo $M drift --fix >fix.out 2>&1 &&
	test_expect_code 0 $RC --repo $M drift
'

test_done
