#!/bin/sh
test_description='honest verdicts: an engine that answers garbage, a truncated body, nothing
(a hang), a slow drip or a reset is no verdict on the commit.  Through a fault proxy, at a chosen
phase of a rollout: apply exits 3 saying nothing is decided, marks nothing failed, and the next
apply after healing converges; the daemon with a fault injected mid-rollout neither marks the
commit failed nor rolls back, and converges the same commit once the engine is healed, without
`reconciler retry`'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"
. "$RC_TOP/tests/lib/proxy.sh"

M=$TRASH/repo
# short calls: a hang or a drip is a fault after 2 s, not 30
RECONCILER_ENGINE_TIMEOUT_MS=2000
export RECONCILER_ENGINE_TIMEOUT_MS

# manifests X: a health-checked unit a and a unit b that needs a healthy, both with env X
manifests() {
	cat >$M/all.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	defaults: {stop_grace_period: 1s}
	---
	kind: Service
	name: a
	image: $TEST_IMAGE
	env: {X: "$1", START_DELAY: "${DELAY:-0}"}
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
	---
	kind: Service
	name: b
	image: $TEST_IMAGE
	env: {MODE: sleep, X: "$1"}
	depends_on: {a: healthy}
	EOT
	repo_commit $M "x=$1"
}

# converged X: both units run env X=X and plan has nothing to do
converged() {
	container_field $PROJECT-a "{{.Config.Env}}" | grep -q "X=$1" &&
	container_field $PROJECT-b "{{.Config.Env}}" | grep -q "X=$1" &&
	test "$(container_field $PROJECT-a {{.State.Health.Status}})" = healthy &&
	test "$(container_field $PROJECT-b {{.State.Status}})" = running &&
	test_expect_code 0 $RC --repo $M plan >/dev/null
}

# no_verdict COMMIT: the commit is not marked failed, and no step of it is journaled as failed
no_verdict() {
	$RC --repo $M status --json >status.json
	python3 -c '
import json, sys
doc = json.load(open("status.json"))
bad = [f for f in doc["failed_commits"] if f["commit"].startswith(sys.argv[1][:12])]
sys.exit(1 if bad else 0)' "$1" || { echo "commit $1 marked failed:"; cat status.json; return 1; }
	if grep "\"commit\":[[:space:]]*\"$1\"" $STATE/journal.jsonl | grep -q "\"result\":[[:space:]]*\"failed\""; then
		echo "a step of $1 journaled as failed:"
		grep "\"commit\":[[:space:]]*\"$1\"" $STATE/journal.jsonl
		return 1
	fi
}

# apply_fault N MODE REGEX: commit x=N, apply through the proxy while MODE hits REGEX: exit 3,
# the engine-fault message, a fault really injected, nothing decided; then heal and apply again.
apply_fault() {
	n=$1 mode=$2 rx=$3
	manifests $n &&
	c=$(git -C $M rev-parse HEAD) &&
	before=$(proxy_faults) &&
	proxy_fault "$mode" "$rx" &&
	test_expect_code 3 $RC --repo $M --docker-host unix://$SOCK apply >apply.out 2>apply.err
	rc=$?
	proxy_heal
	cat apply.out apply.err
	test $rc = 0 &&
	test "$(proxy_faults)" -gt "$before" &&
	test_grep "the engine failed (" apply.err &&
	test_grep "nothing is decided about commit $(echo $c | cut -c1-12)" apply.err &&
	no_verdict $c &&
	! grep -q "\"last_good\":[[:space:]]*\"$c\"" $STATE/applied.json &&
	$RC --repo $M --docker-host unix://$SOCK apply >apply2.out 2>&1 &&
	cat apply2.out &&
	converged $n &&
	grep -q "\"last_good\":[[:space:]]*\"$c\"" $STATE/applied.json
}

test_expect_success 'setup: two units converged through the proxy' '
	repo_init $M &&
	manifests 0 &&
	proxy_start &&
	$RC --repo $M --docker-host unix://$SOCK apply >out 2>&1 &&
	cat out &&
	converged 0 &&
	grep -q "\"last_good\"" $STATE/applied.json
'

test_expect_success 'apply, garbage answering the creates: exit 3, nothing decided; converges once healed' '
	apply_fault 1 garbage "^POST .*/containers/create"
'

test_expect_success 'apply, a truncated body answering the starts: exit 3, nothing decided; converges once healed' '
	apply_fault 2 truncate "^POST .*/containers/.*/start"
'

test_expect_success 'apply, a hang on the stop of the replaced container: exit 3, nothing decided; converges once healed' '
	apply_fault 3 hang "^POST .*/containers/.*/stop"
'

test_expect_success 'apply, a slow drip answering the renames: exit 3, nothing decided; converges once healed' '
	apply_fault 4 drip "^POST .*/containers/.*/rename"
'

test_expect_success 'apply, a reset on the first list (observing): exit 3, nothing decided; converges once healed' '
	apply_fault 5 reset "^GET /v1.41/containers/json"
'

test_expect_success 'apply, garbage on every inspect while the unit waits (no event stream): exit 3, nothing decided; converges once healed' '
	apply_fault 6 garbage "^GET /v1.41/(events|containers/[^/]*/json)"
'

# daemon_fault N MODE REGEX SECONDS: the daemon follows the branch through the proxy; commit x=N
# (a starts after 2 s); once a's new container waits for its health, MODE on the requests REGEX
# matches for SECONDS, then healed: b (released when a is healthy) meets the fault.
daemon_fault() {
	n=$1 mode=$2 rx=$3 secs=$4
	DELAY=2 manifests $n &&
	c=$(git -C $M rev-parse HEAD) && cs=$(echo $c | cut -c1-12) &&
	daemon_wait_log d.log "new commit: converging to commit $cs" 30 &&
	wait_for "container_field $PROJECT-a \"{{.Config.Env}}\" | grep -q X=$n" 30 &&
	before=$(proxy_faults) &&
	proxy_fault "$mode" "$rx" &&
	sleep $secs &&
	proxy_heal &&
	test "$(proxy_faults)" -gt "$before" &&
	daemon_wait_log d.log "commit $cs converged" 90 &&
	cat d.log &&
	test_grep "cannot converge to $cs now: .*the engine" d.log &&
	test_grep "resuming: converging to commit $cs" d.log &&
	! grep -q "rollout of $cs failed" d.log &&
	! grep -q "rolling back" d.log &&
	! grep -q "is marked failed" d.log &&
	no_verdict $c &&
	converged $n
}

test_expect_success 'the daemon, garbage mid-rollout for 4 s: no verdict, no rollback; the same commit converges once healed' '
	test_when_finished "daemon_kill" &&
	daemon_start d.log --repo $M --docker-host unix://$SOCK &&
	daemon_wait_log d.log "boot convergence complete" 60 &&
	daemon_fault 7 garbage "" 4
'

test_expect_success 'the daemon, creates hanging mid-rollout for 6 s: no verdict, no rollback; the same commit converges once healed' '
	test_when_finished "daemon_kill" &&
	: >d.log &&
	daemon_start d.log --repo $M --docker-host unix://$SOCK &&
	daemon_wait_log d.log "boot convergence complete" 60 &&
	daemon_fault 8 hang "^POST .*/containers/create" 6
'

test_expect_success 'cleanup: the proxy' '
	proxy_stop
'

test_done
