#!/bin/sh
test_description='reconciler run and containers that stop: why each one stopped is logged and
journalled (exit 0, out of memory, crash with a code); a crash loop kept going by the engine'"'"'s
unless-stopped policy is disabled after max_failures and its container stopped, until
`reconciler enable`; SIGTERM during a long health wait exits 0 promptly without marking the commit'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
write_manifests() {
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	---
	kind: Plan
	name: once
	restart: {policy: "no", backoff: 1s, max_backoff: 2s, max_failures: 0}
	---
	kind: Plan
	name: small
	memory: 16M
	restart: {policy: "no", backoff: 1s, max_backoff: 2s, max_failures: 0}
	---
	kind: Plan
	name: loop
	restart: {policy: unless-stopped, backoff: 1s, max_backoff: 2s, max_failures: 3}
	EOT
}

# wait (bounded) until the daemon logged that it stopped, then reap it
daemon_wait_stopped() {
	daemon_wait_log "$1" "reconciler\[$DPID\]: stopped" "$2" && daemon_stop
}

test_expect_success 'setup: a manifest repository' '
	repo_init $M &&
	write_manifests &&
	repo_commit $M "initial"
'

test_expect_success 'why a container stopped: exit 0, out of memory, crash with a code' '
	test_when_finished daemon_kill &&
	cat >$M/stoppers.yaml <<-EOT &&
	kind: Service
	name: quitter
	image: $TEST_IMAGE
	plan: once
	env: {EXIT_AFTER: "2", EXIT_CODE: "0"}
	---
	kind: Service
	name: crasher
	image: $TEST_IMAGE
	plan: once
	env: {EXIT_AFTER: "2", EXIT_CODE: "3"}
	---
	kind: Service
	name: hog
	image: $TEST_IMAGE
	plan: small
	env: {MODE: oom, START_DELAY: "2"}
	EOT
	repo_commit $M "stoppers" &&
	daemon_start exits.log --repo $M &&
	daemon_wait_log exits.log "boot convergence complete: commit $(git -C $M rev-parse HEAD | cut -c1-12), 3 units" 60 &&
	daemon_wait_log exits.log "unit quitter: stopped (exit 0); repairing in 1.0s" 30 &&
	daemon_wait_log exits.log "unit crasher: crashed with exit code 3; repairing in 1.0s" 30 &&
	daemon_wait_log exits.log "unit hog: killed: out of memory (exit 137); repairing in 1.0s" 30 &&
	daemon_wait_log exits.log "unit hog: repairing (killed: out of memory (exit 137))" 30 &&
	grep "\"action\":\"failure\"" $STATE/journal.jsonl >failures &&
	grep "\"unit\":\"quitter\"" failures | test_grep "stopped (exit 0)" &&
	grep "\"unit\":\"crasher\"" failures | test_grep "crashed with exit code 3" &&
	grep "\"unit\":\"hog\"" failures | test_grep "killed: out of memory" &&
	daemon_stop && test "$DEXIT" = 0 &&
	git -C $M rm -q stoppers.yaml && repo_commit $M "no stoppers"
'

test_expect_success 'a crash loop under unless-stopped is disabled after max_failures; enable brings it back' '
	test_when_finished daemon_kill &&
	cat >$M/looper.yaml <<-EOT &&
	kind: Service
	name: looper
	image: $TEST_IMAGE
	plan: loop
	env: {EXIT_AFTER: "2", EXIT_CODE: "1"}
	EOT
	repo_commit $M "looper" &&
	daemon_start loop.log --repo $M &&
	daemon_wait_log loop.log "boot convergence complete" 60 &&
	daemon_wait_log loop.log "unit looper: crashed with exit code 1; restarted by the engine (1 time) (failure 1 of 3)" 30 &&
	daemon_wait_log loop.log "unit looper disabled after 3 consecutive failures, last: crashed with exit code 1" 60 &&
	wait_for "test \"\$(container_field $PROJECT-looper {{.State.Status}})\" = exited" 30 &&
	test "$(container_field $PROJECT-looper {{.RestartCount}})" -ge 2 &&
	: every failure counted is an engine restart, none a repair of its own, none counted twice &&
	test "$(grep -c "unit looper: .*(failure [0-9]* of 3)" loop.log)" = 3 &&
	test "$(grep -c "unit looper: crashed with exit code 1; restarted by the engine" loop.log)" = 3 &&
	: a disabled unit stopped on purpose is no pending change &&
	$RC --state-dir $STATE --repo $M status >status.out 2>&1 &&
	test_grep "^looper .*exited.* (crashed with exit code 1) (disabled by the daemon)$" status.out &&
	$RC --state-dir $STATE --repo $M status --json >status.json 2>&1 &&
	python3 -c "import json; u={x[\"unit\"]: x for x in json.load(open(\"status.json\"))[\"units\"]}; s=u[\"looper\"][\"stopped\"]; assert s == {\"exit_code\": 1, \"oom_killed\": False, \"reason\": \"crashed with exit code 1\"}, s" &&
	grep "\"action\":\"disable\"" $STATE/journal.jsonl | test_grep "\"unit\":\"looper\"" &&
	sleep 4 &&
	test "$(container_field $PROJECT-looper {{.State.Status}})" = exited &&
	test "$(grep -c "unit looper disabled" loop.log)" = 1 &&
	$RC --state-dir $STATE enable looper >enable.out &&
	test_grep "enabled .looper. (failure counter reset) (daemon pid $DPID)" enable.out &&
	! grep -q "\"unit\":[[:space:]]*\"looper\"" $STATE/units.json &&
	wait_for "test \"\$(container_field $PROJECT-looper {{.State.Status}})\" = running" 30 &&
	git -C $M rm -q looper.yaml && repo_commit $M "no looper" &&
	daemon_wait_log loop.log "commit $(git -C $M rev-parse HEAD | cut -c1-12) converged" 30
'

test_expect_success 'SIGTERM during a long health wait exits 0 promptly; the commit is not marked failed' '
	test_when_finished daemon_kill &&
	daemon_start term.log --repo $M &&
	daemon_wait_log term.log "boot convergence complete" 60 &&
	cat >$M/slow.yaml <<-EOT &&
	kind: Service
	name: slow
	image: $TEST_IMAGE
	plan: once
	env: {HEALTH: never}
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 5s, timeout: 2s, retries: 20}
	EOT
	repo_commit $M "slow" &&
	slow=$(git -C $M rev-parse HEAD) &&
	daemon_wait_log term.log "new commit: converging to commit $(echo $slow | cut -c1-12)" 30 &&
	wait_for "test \"\$(container_field $PROJECT-slow {{.State.Status}})\" = running" 30 &&
	kill -TERM $DPID &&
	daemon_wait_stopped term.log 20 &&
	test "$DEXIT" = 0 &&
	test_grep "rollout of $(echo $slow | cut -c1-12) interrupted" term.log &&
	! grep -q "rolling back" term.log &&
	! grep -q "\"commit\":[[:space:]]*\"$slow\"" $STATE/applied.json &&
	! grep -q "\"last_good\":[[:space:]]*\"$slow\"" $STATE/applied.json &&
	: the next start converges to it again, and a second SIGTERM ends that wait too &&
	daemon_start term2.log --repo $M &&
	daemon_wait_log term2.log "boot: converging to commit $(echo $slow | cut -c1-12)" 30 &&
	kill -TERM $DPID &&
	daemon_wait_stopped term2.log 20 &&
	test "$DEXIT" = 0 &&
	test_grep "rollout of $(echo $slow | cut -c1-12) interrupted: failed = slow: interrupted while waiting" term2.log &&
	test_grep "boot convergence interrupted" term2.log &&
	! grep -q "boot convergence complete" term2.log &&
	! grep -q "\"last_good\":[[:space:]]*\"$slow\"" $STATE/applied.json
'

test_done
