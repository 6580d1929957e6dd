#!/bin/sh
test_description='reconciler run when things go wrong: a unit that keeps turning unhealthy is
disabled after max_failures and `reconciler enable` brings it back; failure counters survive a
daemon restart; a rollout that never becomes healthy is rolled back and its commit marked failed
until a newer commit or `reconciler retry`'
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
	restart: {backoff: 1s, max_backoff: 2s, max_failures: 3}
	---
	kind: Plan
	name: fragile
	restart: {policy: "no", backoff: 1s, max_backoff: 2s, max_failures: 3}
	---
	kind: Network
	name: backend
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	plan: p
	networks: [backend]
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 3}
	---
	kind: Service
	name: web
	image: $TEST_IMAGE
	plan: p
	env: {ROLE: web}
	networks: [backend]
	depends_on: {db: healthy}
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 2}
	EOT
}

test_expect_success 'setup: a manifest repository' '
	repo_init $M &&
	write_manifests &&
	repo_commit $M "initial"
'

test_expect_success 'a unit that keeps turning unhealthy is disabled after max_failures; enable brings it back' '
	test_when_finished daemon_kill &&
	cat >$M/flaky.yaml <<-EOT &&
	kind: Service
	name: flaky
	image: $TEST_IMAGE
	plan: fragile
	env: {HEALTH: "fail-after:3"}
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 2}
	EOT
	repo_commit $M "flaky" &&
	daemon_start flaky.log --repo $M &&
	daemon_wait_log flaky.log "boot convergence complete" 90 &&
	daemon_wait_log flaky.log "unit flaky: unhealthy.*restarting in 1.0s (failure 1 of 3)" 60 &&
	daemon_wait_log flaky.log "unit flaky: unhealthy.*restarting in 2.0s (failure 2 of 3)" 60 &&
	daemon_wait_log flaky.log "unit flaky disabled after 3 consecutive failures" 60 &&
	wait_for "test \"\$(container_field $PROJECT-flaky {{.State.Status}})\" = exited" 30 &&
	test_grep "\"unit\":[[:space:]]*\"flaky\"" $STATE/units.json &&
	: a disabled unit stopped on purpose is no pending change &&
	$RC --state-dir $STATE --repo $M status >status.out 2>&1 &&
	test_grep "^flaky .*(disabled by the daemon)" status.out &&
	$RC --state-dir $STATE --repo $M status --json >status.json 2>&1 &&
	python3 -c "import json,sys; u={x[\"unit\"]: x for x in json.load(open(\"status.json\"))[\"units\"]}; f=u[\"flaky\"]; assert f[\"disabled\"] is True and \"unhealthy\" in f[\"disabled_reason\"] and f[\"failures\"] == 3 and f[\"state\"] == \"exited\", f" &&
	sleep 3 &&
	test "$(container_field $PROJECT-flaky {{.State.Status}})" = exited &&
	$RC --state-dir $STATE enable flaky >enable.out &&
	test_grep "enabled .flaky. (failure counter reset) (daemon pid $DPID)" enable.out &&
	wait_for "test \"\$(container_field $PROJECT-flaky {{.State.Status}})\" = running" 30 &&
	test_expect_code 1 $RC --state-dir $STATE enable web 2>err &&
	test_grep "unit .web. is not disabled" err &&
	git -C $M rm -q flaky.yaml && repo_commit $M "no flaky" &&
	daemon_wait_log flaky.log "commit $(git -C $M rev-parse HEAD | cut -c1-12) converged" 30
'

test_expect_success 'a disabled unit that leaves the manifests takes its mark along: made again, it starts clean' '
	test_when_finished daemon_kill &&
	cat >$M/gone.yaml <<-EOT &&
	kind: Service
	name: gone
	image: $TEST_IMAGE
	plan: fragile
	env: {HEALTH: "fail-after:2"}
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 2}
	EOT
	repo_commit $M "gone" &&
	daemon_start gone.log --repo $M &&
	daemon_wait_log gone.log "boot convergence complete" 90 &&
	daemon_wait_log gone.log "unit gone disabled after 3 consecutive failures" 90 &&
	test_grep "\"unit\":[[:space:]]*\"gone\"" $STATE/units.json &&
	git -C $M rm -q gone.yaml && repo_commit $M "no gone" &&
	daemon_wait_log gone.log "commit $(git -C $M rev-parse HEAD | cut -c1-12) converged" 30 &&
	daemon_stop &&
	! grep "\"gone\"" $STATE/units.json &&
	cat >$M/gone.yaml <<-EOT &&
	kind: Service
	name: gone
	image: $TEST_IMAGE
	plan: fragile
	EOT
	repo_commit $M "gone again, fixed" &&
	daemon_start gone2.log --repo $M &&
	daemon_wait_log gone2.log "boot convergence complete" 90 &&
	test "$(container_field $PROJECT-gone {{.State.Status}})" = running &&
	$RC --state-dir $STATE --repo $M status >status.out 2>&1 &&
	! grep "^gone .*disabled" status.out
'

test_expect_success 'failure counters survive a daemon restart' '
	test_when_finished daemon_kill &&
	daemon_start count.log --repo $M &&
	daemon_wait_log count.log "boot convergence complete" &&
	docker kill $PROJECT-web >/dev/null &&
	daemon_wait_log count.log "unit web: killed (exit 137); repairing in 1.0s (failure 1 of 3)" 30 &&
	daemon_wait_log count.log "unit web is ready again" 30 &&
	daemon_stop && test "$DEXIT" = 0 &&
	test_grep "\"failures\":[[:space:]]*1" $STATE/units.json &&
	daemon_start count2.log --repo $M &&
	daemon_wait_log count2.log "boot convergence complete" &&
	docker kill $PROJECT-web >/dev/null &&
	daemon_wait_log count2.log "unit web: killed (exit 137); repairing in 2.0s (failure 2 of 3)" 30 &&
	daemon_wait_log count2.log "unit web is ready again" 30
'

test_expect_success 'a container the engine restarts by itself (unless-stopped) counts as a failure' '
	test_when_finished daemon_kill &&
	$RC enable web &&
	daemon_start engine.log --repo $M &&
	daemon_wait_log engine.log "boot convergence complete" &&
	docker exec -d $PROJECT-web kill -TERM 1 && # detached: when pid 1 dies the exec is killed too
	daemon_wait_log engine.log "unit web: stopped (exit 0); restarted by the engine (1 time) (failure 1 of 3)" 30 &&
	test "$(container_field $PROJECT-web {{.RestartCount}})" -ge 1 &&
	daemon_wait_log engine.log "unit web is ready again" 30 &&
	rc=$(container_field $PROJECT-web {{.RestartCount}}) &&
	$RC --repo $M status >status.out 2>&1 &&
	test_grep "^web  *$PROJECT-web  *running  *[a-z-]*  *[0-9,-]*  *[0-9]*[smhd][0-9smh]*  *$rc/1 " status.out &&
	$RC --repo $M status --json >status.json &&
	python3 -c "import json,sys; u=[x for x in json.load(open(\"status.json\"))[\"units\"] if x[\"unit\"]==\"web\"][0]; sys.exit(0 if u[\"restart_count\"]==$rc and u[\"failures\"]==1 and u[\"uptime_seconds\"]>=0 else 1)"
'

test_expect_success 'without a daemon, enable edits the state directory itself' '
	test_grep "\"failures\":[[:space:]]*1" $STATE/units.json &&
	$RC --state-dir $STATE enable web >out &&
	test_grep "enabled .web." out &&
	! grep -q "\"failures\":[[:space:]]*1" $STATE/units.json
'

test_expect_success 'a rollout that never becomes healthy is rolled back; retry tries it again' '
	test_when_finished daemon_kill &&
	daemon_start rollback.log --repo $M &&
	daemon_wait_log rollback.log "boot convergence complete" &&
	good=$(git -C $M rev-parse HEAD) &&
	web_id=$(container_id $PROJECT-web) &&
	sed -i "s/env: {ROLE: web}/env: {ROLE: web, HEALTH: never}/" $M/settings.yaml &&
	repo_commit $M "web never healthy" &&
	bad=$(git -C $M rev-parse HEAD) &&
	daemon_wait_log rollback.log "rollout of $(echo $bad | cut -c1-12) failed" 60 &&
	daemon_wait_log rollback.log "rolled back to $(echo $good | cut -c1-12)" 60 &&
	# the replacement put the old container back (same ID): the rollback has nothing to redo
	test "$(container_id $PROJECT-web)" = "$web_id" &&
	! container_field $PROJECT-web "{{.Config.Env}}" | grep -q HEALTH=never &&
	wait_for "test \"\$(container_field $PROJECT-web {{.State.Health.Status}})\" = healthy" 30 &&
	test_grep "$bad" $STATE/applied.json &&
	test_grep "\"last_good\":[[:space:]]*\"$good\"" $STATE/applied.json &&
	grep "\"action\":\"rollback\"" $STATE/journal.jsonl | test_grep "\"result\":\"ok\"" &&
	sleep 3 &&
	test "$(grep -c "rollout of $(echo $bad | cut -c1-12) failed" rollback.log)" = 1 &&
	$RC --state-dir $STATE retry $(echo $bad | cut -c1-8) >retry.out &&
	test_grep "will retry $(echo $bad | cut -c1-12)" retry.out &&
	wait_for "test \$(grep -c \"rollout of $(echo $bad | cut -c1-12) failed\" rollback.log) = 2" 60 &&
	daemon_wait_log rollback.log "rolled back to $(echo $good | cut -c1-12) (" 60 &&
	sed -i "s/, HEALTH: never//; s/ROLE: web/ROLE: web2/" $M/settings.yaml &&
	repo_commit $M "web fixed" &&
	fixed=$(git -C $M rev-parse HEAD) &&
	daemon_wait_log rollback.log "commit $(echo $fixed | cut -c1-12) converged" 60 &&
	container_field $PROJECT-web "{{.Config.Env}}" | test_grep ROLE=web2
'

# Maintenance: an operator's docker restart and docker stop (the stop signal through
# the engine's API) are acts, not failures: four restarts and a stop never disable the
# unit (max_failures is 3) and the stopped one is started again.
test_expect_success 'an operator'"'"'s docker restart and docker stop are not counted as failures' '
	test_when_finished daemon_kill &&
	daemon_start op.log --repo $M &&
	daemon_wait_log op.log "boot convergence complete" &&
	docker restart -t 1 $PROJECT-web >/dev/null && sleep 1 &&
	docker restart -t 1 $PROJECT-web >/dev/null && sleep 1 &&
	docker restart -t 1 $PROJECT-web >/dev/null && sleep 1 &&
	docker restart -t 1 $PROJECT-web >/dev/null && sleep 1 &&
	docker stop -t 1 $PROJECT-web >/dev/null &&
	daemon_wait_log op.log "unit web: stopped through the engine.s API, not counted as a failure" 30 &&
	wait_for "test \"\$(container_field $PROJECT-web {{.State.Status}})\" = running" 30 &&
	sleep 2 &&
	! grep "unit web: .*(failure [0-9]" op.log &&
	! grep "unit web disabled" op.log &&
	grep -c "stopped through the engine.s API" op.log >n && test "$(cat n)" -ge 1
'

# run --stopped-grace: the operator gets that long before the daemon undoes a docker stop; the
# wait is a pending repair that status shows, and nothing is counted.
test_expect_success 'run --stopped-grace 20: an operator'"'"'s docker stop is left for 20 s, then undone' '
	test_when_finished daemon_kill &&
	daemon_start grace.log --repo $M --stopped-grace 20 &&
	daemon_wait_log grace.log "boot convergence complete" &&
	docker stop -t 1 $PROJECT-web >/dev/null &&
	daemon_wait_log grace.log "unit web: stopped through the engine.s API, not counted as a failure; starting it again in 20s" 30 &&
	test "$(container_field $PROJECT-web {{.State.Status}})" = exited &&
	test_might_fail $RC --repo $M status --json >status.json 2>/dev/null &&
	python3 -c "
import json
u = {x[\"unit\"]: x for x in json.load(open(\"status.json\"))[\"units\"]}[\"web\"]
assert \"stopped through the engine\" in u[\"last_check_result\"] and u[\"next_repair\"], u
assert u[\"failures\"] == 0 and not u[\"disabled\"], u
" &&
	test_expect_code 2 $RC drift >drift.out 2>drift.err &&
	test_grep "^! web .*stopped" drift.out &&
	: status says why it is stopped and when it is started, also after later checks &&
	sleep 5 &&
	test_might_fail $RC --repo $M status --json >st.json 2>/dev/null &&
	python3 -c "
import json
w = [u for u in json.load(open(\"st.json\"))[\"units\"] if u[\"unit\"] == \"web\"][0]
assert w[\"last_check_result\"] == \"stopped through the engine\x27s API (not a failure) (repair pending)\", w
assert w[\"next_repair\"] and w[\"failures\"] == 0, w
" &&
	wait_for "test \"\$(container_field $PROJECT-web {{.State.Status}})\" = running" 60 &&
	! grep "unit web: .*(failure [0-9]" grace.log
'

test_expect_success 'run --stopped-grace takes seconds' '
	test_expect_code 1 $RC --repo $M run --stopped-grace soon 2>err &&
	test_grep "stopped-grace" err
'

test_done
