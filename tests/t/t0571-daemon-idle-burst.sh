#!/bin/sh
test_description='idle customers (issue 17), the rest: a burst of connections to a sleeping
customer is held while it wakes (its listener stays open until right before the engine starts the
container) and every connection gets the container'"'"'s answer; a unit with an http health check
goes to sleep too, and one that stops answering is still restarted (the daemon'"'"'s probes are not counted as its traffic)'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
P_BURST=$(test_port 0)
P_PROBED=$(test_port 1)
P_FLAKY=$(test_port 2)
BURST=10

# burst/db takes 2 s to start and is woken first: the window in which burst/app is not started yet
# (its port still held by the daemon) is that long at least
write_manifests() {
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	ports: {range: $TEST_PORTS}
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Plan
	name: nap
	idle: {after: 3s}
	---
	kind: Template
	name: pair
	services:
	  db:
	    image: $TEST_IMAGE
	    env: {START_DELAY: "2"}
	    health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 5}
	  app:
	    image: $TEST_IMAGE
	    port: 8080
	    depends_on: {db: healthy}
	    health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 3}
	---
	kind: Template
	name: probed
	services:
	  app:
	    image: $TEST_IMAGE
	    port: 8080
	    health: {http: /health, interval: 1s, timeout: 2s, retries: 3}
	---
	kind: Customer
	id: burst
	template: pair
	plan: nap
	port: $P_BURST
	---
	kind: Customer
	id: probed
	template: probed
	plan: nap
	port: $P_PROBED
	---
	kind: Customer
	id: flaky
	template: probed
	idle: {after: 1h}
	port: $P_FLAKY
	env: {HEALTH: "fail-after:8"}
	EOT
}

state_of() {
	container_field $PROJECT-$1 "{{.State.Status}}"
}

# is_sleeping UNIT: the state marks UNIT sleeping
is_sleeping() {
	python3 -c "
import json, sys
s = json.load(open(\"$STATE/units.json\"))[\"data\"]
assert sys.argv[1] in [x[\"unit\"] for x in s.get(\"sleeping\", [])]
" "$1"
}

# status_until_sleeping UNIT: `status` (which probes http checks) every second until UNIT sleeps
# (at most 40 s): its probes are no traffic either
status_until_sleeping() {
	i=0
	while [ $i -lt 40 ]; do
		"$RC" --repo $M status >status.out 2>&1 || { cat status.out; return 1; }
		is_sleeping $1 2>/dev/null && return 0
		sleep 1
		i=$((i + 1))
	done
	return 1
}

# fetch_bg I: GET /env from the sleeping customer's port, in the background: the body in body.I,
# curl's complaint (none expected) in curl.I
fetch_bg() {
	curl -sS --max-time 60 -o body.$1 http://127.0.0.1:$P_BURST/env 2>curl.$1 &
}

test_expect_success 'setup: a manifest repository, applied' '
	repo_init $M &&
	write_manifests &&
	repo_commit $M "initial" &&
	$RC --repo $M apply >apply.out 2>&1 || { cat apply.out; false; }
'

test_expect_success 'a unit with an http health check sleeps: the daemon'"'"'s and status'"'"'s probes are no traffic' '
	test_when_finished daemon_kill &&
	daemon_start d1.log -vv --repo $M &&
	daemon_wait_log d1.log "boot convergence complete" 90 &&
	"$RC" --repo $M status >st.out 2>&1 &&
	test_grep "^probed/app .* healthy" st.out &&
	status_until_sleeping probed/app || { grep "idle:\|probe" d1.log | tail -20; false; } &&
	test "$(state_of probed-app)" = exited &&
	grep "unit probed/app is sleeping: no network traffic for" d1.log &&
	grep "idle: probed/app: http probes from inside its network namespace" d1.log
'

test_expect_success 'probed from inside its namespace, a unit that stops answering is still found and restarted' '
	test_when_finished daemon_kill &&
	daemon_start d3.log -vv --repo $M &&
	daemon_wait_log d3.log "boot convergence complete" 90 &&
	daemon_wait_log d3.log "idle: flaky/app: http probes from inside its network namespace" 30 &&
	daemon_wait_log d3.log "unit flaky/app: unhealthy (http probe of /health failed 3 times)" 60 &&
	daemon_wait_log d3.log "unit flaky/app is ready again" 60
'

test_expect_success 'a burst of connections to a sleeping customer: each one held, each one answered' '
	test_when_finished daemon_kill &&
	daemon_start d2.log -vv --repo $M &&
	daemon_wait_log d2.log "boot convergence complete" 90 &&
	wait_for "is_sleeping burst/app && is_sleeping burst/db" 60 &&
	wait_for "ss -ltn | grep -q \":$P_BURST \"" 20 &&
	: the first connection starts the wake, the others come while burst/db starts &&
	fetch_bg 0 &&
	daemon_wait_log d2.log "a connection to a port of sleeping unit burst/app: waking it" 20 &&
	for i in $(seq 1 $((BURST - 1))); do fetch_bg $i; done &&
	wait_for "test \$(cat body.* 2>/dev/null | grep -c ^HOSTNAME=) -eq $BURST || test \$(cat curl.* | wc -c) -gt 0" 90 &&
	cat curl.* &&
	test "$(cat body.* | grep -c "^HOSTNAME=")" -eq $BURST &&
	test "$(state_of burst-app)" = running &&
	test "$(container_field $PROJECT-burst-app {{.State.StartedAt}})" \> "$(container_field $PROJECT-burst-db {{.State.StartedAt}})" &&
	grep "idle: burst/app starts: [0-9]* connection(s) held, its listeners closed" d2.log
'

test_done
