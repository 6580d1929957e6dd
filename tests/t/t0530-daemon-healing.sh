#!/bin/sh
test_description='reconciler run, self-healing in detail: the daemon'"'"'s own http probe restarts a
unit whose /health starts failing (with backoff, reason logged); a unit ready for the stable period
gets its failure counter reset; a dependency that recovers resets its dependents'"'"' counters; and a
restart waits until the unit'"'"'s dependencies are healthy again'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
write_manifests() {
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Plan
	name: p
	restart: {backoff: 1s, max_backoff: 4s, max_failures: 10}
	---
	kind: Plan
	name: slow
	restart: {backoff: 3s, max_backoff: 4s, max_failures: 10}
	---
	kind: Network
	name: backend
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	plan: slow
	env: {START_DELAY: "3", ROLE: db}
	networks: [backend]
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
	---
	kind: Service
	name: app
	image: $TEST_IMAGE
	plan: p
	env: {MODE: sleep, ROLE: app}
	networks: [backend]
	depends_on: {db: healthy}
	EOT
}

# ns since the epoch of a container's State.StartedAt
started_ns() {
	date -d "$(container_field $1 {{.State.StartedAt}})" +%s%N
}

test_expect_success 'setup: a manifest repository' '
	repo_init $M &&
	write_manifests &&
	repo_commit $M "initial"
'

test_expect_success 'http probe: a unit whose /health starts failing is restarted with backoff, reason logged' '
	test_when_finished daemon_kill &&
	cat >$M/probed.yaml <<-EOT &&
	kind: Service
	name: probed
	image: $TEST_IMAGE
	plan: p
	env: {HEALTH: "fail-after:4"}
	networks: [backend]
	health: {http: /health, port: 8080, interval: 1s, timeout: 1s, retries: 2}
	EOT
	repo_commit $M "probed" &&
	daemon_start http.log --repo $M &&
	daemon_wait_log http.log "boot convergence complete" 90 &&
	t0=$(started_ns $PROJECT-probed) &&
	id=$(container_id $PROJECT-probed) &&
	daemon_wait_log http.log "unit probed: unhealthy (http probe of /health failed 2 times); restarting in 1.0s (failure 1 of 10)" 30 &&
	daemon_wait_log http.log "unit probed: restarting (unhealthy (http probe of /health failed 2 times))" 30 &&
	daemon_wait_log http.log "unit probed is ready again" 30 &&
	test "$(container_field $PROJECT-probed {{.State.Status}})" = running &&
	test "$(container_id $PROJECT-probed)" = "$id" &&
	test "$(started_ns $PROJECT-probed)" -gt "$t0" &&
	grep "\"action\":\"restart\"" $STATE/journal.jsonl | test_grep "\"unit\":\"probed\"" &&
	daemon_wait_log http.log "unit probed: unhealthy (http probe of /health failed 2 times); restarting in 2.0s (failure 2 of 10)" 30 &&
	daemon_stop && test "$DEXIT" = 0 &&
	test_grep "\"unit\":[[:space:]]*\"probed\"" $STATE/units.json &&
	git -C $M rm -q probed.yaml && repo_commit $M "no probed" &&
	test_might_fail $RC --state-dir $STATE enable probed >/dev/null 2>&1
'

test_expect_success 'a unit ready for the stable period gets its failure counter reset' '
	test_when_finished daemon_kill &&
	daemon_start stable.log --repo $M --stable-period 4 &&
	daemon_wait_log stable.log "boot convergence complete" 60 &&
	docker kill $PROJECT-app >/dev/null &&
	daemon_wait_log stable.log "unit app: killed (exit 137); repairing in 1.0s (failure 1 of 10)" 30 &&
	daemon_wait_log stable.log "unit app is ready again" 30 &&
	test_grep "\"failures\":[[:space:]]*1" $STATE/units.json &&
	daemon_wait_log stable.log "unit app ready for [0-9]*s: failure counter reset" 30 &&
	grep "\"action\":\"stable\"" $STATE/journal.jsonl | test_grep "\"unit\":\"app\"" &&
	! grep -q "\"failures\":" $STATE/units.json &&
	docker kill $PROJECT-app >/dev/null &&
	daemon_wait_log stable.log "unit app: killed (exit 137); repairing in 1.0s (failure 1 of 10)" 30 &&
	test "$(grep -c "unit app: killed (exit 137); repairing in 1.0s (failure 1 of 10)" stable.log)" = 2 &&
	wait_for "test \$(grep -c \"unit app is ready again\" stable.log) = 2" 30
'

test_expect_success 'db and app killed at once: app restarts only once db is healthy; db recovering resets app counter' '
	test_when_finished daemon_kill &&
	daemon_start deps.log --repo $M &&
	daemon_wait_log deps.log "boot convergence complete" 60 &&
	docker kill $PROJECT-db $PROJECT-app >/dev/null &&
	daemon_wait_log deps.log "unit app: killed (exit 137); repairing in [12].0s" 30 &&
	daemon_wait_log deps.log "unit db: killed (exit 137); repairing in 3.0s" 30 &&
	daemon_wait_log deps.log "unit app: restart waits for its dependency: db is not healthy" 30 &&
	daemon_wait_log deps.log "unit app: failure counter reset (its dependency db recovered)" 60 &&
	daemon_wait_log deps.log "unit app is ready again" 60 &&
	wait_for "test \"\$(container_field $PROJECT-app {{.State.Status}})\" = running" 30 &&
	db_start=$(started_ns $PROJECT-db) &&
	app_start=$(started_ns $PROJECT-app) &&
	docker inspect -f "{{range .State.Health.Log}}{{.Start.Format \"2006-01-02T15:04:05.000000000Z07:00\"}} {{.End.Format \"2006-01-02T15:04:05.000000000Z07:00\"}} {{.ExitCode}}{{\"\\n\"}}{{end}}" $PROJECT-db >health.log &&
	cat health.log &&
	: the log must reach back to a failed probe of the restarted db, so the first success in it is the real first &&
	first_fail=$(while read s e code; do
		[ "$code" != 0 ] && [ "$(date -d "$s" +%s%N)" -gt "$db_start" ] && { echo "$s"; break; }
	done <health.log) &&
	test -n "$first_fail" &&
	healthy_at=$(while read s e code; do
		[ "$code" = 0 ] && [ "$(date -d "$s" +%s%N)" -gt "$db_start" ] && { date -d "$e" +%s%N; break; }
	done <health.log) &&
	test -n "$healthy_at" &&
	echo "db started $db_start, healthy at $healthy_at, app started $app_start" &&
	test "$app_start" -gt "$healthy_at" &&
	! grep -q "\"unit\":[[:space:]]*\"app\"" $STATE/units.json
'

test_expect_success 'two independent units killed at once are repaired together, not one after the other' '
	test_when_finished daemon_kill &&
	for t in twin1 twin2; do
		printf "kind: Service\nname: %s\nimage: %s\nplan: p\nenv: {START_DELAY: \"2\", ROLE: %s}\nhealth: {cmd: \"wget -q -O /dev/null http://127.0.0.1:8080/health\", interval: 1s, timeout: 2s, retries: 10}\n" \
			$t $TEST_IMAGE $t >$M/$t.yaml || return 1
	done &&
	repo_commit $M "twins" &&
	daemon_start twins.log --repo $M &&
	daemon_wait_log twins.log "boot convergence complete" 90 &&
	docker kill $PROJECT-twin1 $PROJECT-twin2 >/dev/null &&
	daemon_wait_log twins.log "unit twin1 is ready again" 60 &&
	daemon_wait_log twins.log "unit twin2 is ready again" 60 &&
	: both repairs start before either unit is ready again: one converge for both &&
	r1=$(grep -n "unit twin1: repairing (" twins.log | head -n1 | cut -d: -f1) &&
	r2=$(grep -n "unit twin2: repairing (" twins.log | head -n1 | cut -d: -f1) &&
	ready=$(grep -n "unit twin[12] is ready again" twins.log | head -n1 | cut -d: -f1) &&
	echo "repairing at lines $r1 and $r2, first ready at $ready" &&
	test "$r1" -lt "$ready" && test "$r2" -lt "$ready" &&
	git -C $M rm -q twin1.yaml twin2.yaml && repo_commit $M "no twins" &&
	daemon_wait_log twins.log "commit $(git -C $M rev-parse HEAD | cut -c1-12) converged" 60
'

test_done
