#!/bin/sh
test_description='idle customers (issue 17): a customer with idle: {after: 3s} is put to sleep by
the daemon after 3 s without network traffic (status sleeping, drift clean, no failure, apply and
plan keep it asleep), a customer with traffic stays up, wake starts it (dependencies first), and a
connection to a sleeping customer'"'"'s port wakes it and gets the container'"'"'s answer'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
P_SLEEPY=$(test_port 0)
P_BUSY=$(test_port 1)
P_DEPS=$(test_port 2)

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
	restart: {backoff: 1s, max_backoff: 2s, max_failures: 3}
	---
	kind: Template
	name: web
	services:
	  app:
	    image: $TEST_IMAGE
	    port: 8080
	    health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 3}
	---
	kind: Template
	name: pair
	services:
	  db:
	    image: $TEST_IMAGE
	    health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 3}
	  app:
	    image: $TEST_IMAGE
	    port: 8080
	    depends_on: {db: healthy}
	    health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 3}
	---
	kind: Customer
	id: sleepy
	template: web
	plan: nap
	port: $P_SLEEPY
	---
	kind: Customer
	id: busy
	template: web
	plan: nap
	port: $P_BUSY
	---
	kind: Customer
	id: deps
	template: pair
	port: $P_DEPS
	idle: {after: 3s}
	---
	kind: Customer
	id: awake
	template: web
	EOT
}

state_of() {
	container_field $PROJECT-$1 "{{.State.Status}}"
}

# journal_has ACTION UNIT TEXT: the journal's last ACTION entry for UNIT contains TEXT
journal_has() {
	python3 -c "
import json, sys
j = [json.loads(l) for l in open(\"$STATE/journal.jsonl\")]
e = [x for x in j if x[\"action\"] == sys.argv[1] and x[\"unit\"] == sys.argv[2]]
assert e and sys.argv[3] in (e[-1][\"message\"] or \"\"), e[-1:] or j[-5:]
" "$@"
}

# is_sleeping UNIT: the state marks UNIT sleeping (the daemon of an earlier test may have put it
# to sleep already, so its log need not say so)
is_sleeping() {
	python3 -c "
import json, sys
s = json.load(open(\"$STATE/units.json\"))[\"data\"]
assert sys.argv[1] in [x[\"unit\"] for x in s.get(\"sleeping\", [])]
" "$1"
}

# fetch PORT: GET / from 127.0.0.1:PORT on the host, bounded; the body on stdout
fetch() {
	curl -sS --max-time 20 "http://127.0.0.1:$1/"
}

# traffic PORT SECONDS: requests to PORT four times a second, in the background (pid in $TRAFFIC)
traffic() {
	( i=0; while [ $i -lt $(($2 * 4)) ]; do curl -s --max-time 2 -o /dev/null http://127.0.0.1:$1/; sleep 0.25; i=$((i + 1)); done ) &
	TRAFFIC=$!
}

ME="$(id -un) (uid $(id -u))"

test_expect_success 'setup: a manifest repository, applied' '
	repo_init $M &&
	write_manifests &&
	repo_commit $M "initial" &&
	$RC --repo $M apply >apply.out 2>&1 || { cat apply.out; false; }
'

test_expect_success 'idle: is checked (a mapping with after, at least 1s)' '
	mkdir bad && cat >bad/a.yaml <<-\EOT &&
	kind: Plan
	name: a
	idle: 3s
	---
	kind: Plan
	name: b
	idle: {after: 10ms}
	---
	kind: Plan
	name: c
	idle: {afterr: 1m}
	EOT
	test_expect_code 1 $RC validate --dir bad 2>err &&
	test_grep "a.yaml:3:.*.idle. must be a mapping like {after: 30m}" err &&
	test_grep "a.yaml:7:.*.after. must be at least 1s" err &&
	test_grep "a.yaml:11:.*unknown key .afterr." err
'

test_expect_success 'the daemon puts an idle customer to sleep; one with traffic stays up' '
	test_when_finished daemon_kill &&
	daemon_start d.log --repo $M &&
	daemon_wait_log d.log "boot convergence complete" 90 &&
	traffic $P_BUSY 10 &&
	daemon_wait_log d.log "unit sleepy/app is sleeping: no network traffic for" 30 &&
	test "$(state_of sleepy-app)" = exited &&
	test "$(state_of busy-app)" = running &&
	test "$(state_of awake-app)" = running &&
	wait $TRAFFIC &&
	journal_has sleep sleepy/app "idle after 3s" &&
	python3 -c "
import json
s = json.load(open(\"$STATE/units.json\"))[\"data\"]
assert \"sleepy/app\" in [x[\"unit\"] for x in s[\"sleeping\"]], s
" &&
	! grep "unit sleepy/app: .*failure" d.log &&
	daemon_wait_log d.log "unit deps/db is sleeping" 40 &&
	grep "unit deps/app is sleeping\|unit deps/db is sleeping" d.log >order &&
	head -1 order | grep "deps/app" &&
	sleep 3 &&
	test "$(state_of sleepy-app)" = exited &&
	test "$(state_of deps-db)" = exited
'

test_expect_success 'a sleeping unit: status says sleeping, drift is clean, plan and apply keep it asleep' '
	$RC --repo $M status >st.out 2>&1 &&
	grep "^sleepy/app .* sleeping " st.out &&
	$RC --repo $M status --json >st.json &&
	python3 -c "
import json
u = {x[\"unit\"]: x for x in json.load(open(\"st.json\"))[\"units\"]}
assert u[\"sleepy/app\"][\"sleeping\"] is True and u[\"sleepy/app\"][\"sleeping_since\"], u[\"sleepy/app\"]
assert u[\"sleepy/app\"][\"failures\"] == 0, u[\"sleepy/app\"]
assert u[\"awake/app\"][\"sleeping\"] is False and u[\"awake/app\"][\"sleeping_since\"] is None
" &&
	$RC --repo $M drift >drift.out 2>&1 || { cat drift.out; false; } &&
	! grep "sleepy" drift.out &&
	$RC --repo $M plan >plan.out 2>&1 || { cat plan.out; false; } &&
	! grep "sleepy" plan.out &&
	$RC --repo $M apply >apply2.out 2>&1 &&
	test "$(state_of sleepy-app)" = exited
'

test_expect_success 'a changed spec of a sleeping unit is applied, the new container left stopped' '
	old=$(container_id $PROJECT-sleepy-app) &&
	sed -i "s/^id: sleepy$/id: sleepy\nenv: {V: \"2\"}/" $M/settings.yaml &&
	grep -A1 "^id: sleepy" $M/settings.yaml | grep "V: \"2\"" &&
	repo_commit $M "sleepy: new env" &&
	$RC --repo $M apply >apply3.out 2>&1 || { cat apply3.out; false; } &&
	test "$(container_id $PROJECT-sleepy-app)" != "$old" &&
	test "$(state_of sleepy-app)" = created &&
	$RC --repo $M drift >drift2.out 2>&1 || { cat drift2.out; false; }
'

test_expect_success 'without a daemon: wake starts the unit, waits until ready, clears the mark' '
	$RC --repo $M wake sleepy/app >out 2>err || { cat out err; false; } &&
	test_grep "woke sleepy/app (ready)" out &&
	test "$(state_of sleepy-app)" = running &&
	test "$(container_field $PROJECT-sleepy-app {{.State.Health.Status}})" = healthy &&
	journal_has wake sleepy/app "asked by $ME" &&
	python3 -c "
import json
s = json.load(open(\"$STATE/units.json\"))[\"data\"]
assert \"sleepy/app\" not in [x[\"unit\"] for x in s.get(\"sleeping\", [])], s
" &&
	$RC --repo $M wake sleepy/app >out &&
	test_grep "nothing to wake" out &&
	test_expect_code 1 $RC --repo $M wake nosuch 2>err &&
	test_grep "no unit .nosuch." err &&
	test_expect_code 1 $RC wake 2>err &&
	test_grep "usage: reconciler wake UNIT... | --customer C" err
'

test_expect_success 'through the daemon: wake --customer starts the sleeping db first, then the app' '
	test_when_finished daemon_kill &&
	daemon_start d2.log --repo $M &&
	daemon_wait_log d2.log "boot convergence complete" 90 &&
	test "$(state_of deps-db)" = exited &&
	test "$(state_of deps-app)" = exited &&
	$RC wake --customer deps >out 2>err || { cat out err d2.log; false; } &&
	test_grep "woke deps/app, deps/db (ready) (daemon pid $DPID)" out &&
	test "$(state_of deps-db)" = running &&
	test "$(state_of deps-app)" = running &&
	test "$(container_field $PROJECT-deps-app {{.State.StartedAt}})" \> "$(container_field $PROJECT-deps-db {{.State.StartedAt}})" &&
	journal_has wake deps/db "asked by $ME"
'

test_expect_success 'a connection to a sleeping customer'"'"'s port wakes it and gets the container'"'"'s answer' '
	test_when_finished daemon_kill &&
	daemon_start d3.log -vv --repo $M &&
	daemon_wait_log d3.log "boot convergence complete" 90 &&
	wait_for "is_sleeping sleepy/app" 90 &&
	test "$(state_of sleepy-app)" = exited &&
	wait_for "ss -ltn | grep -q \":$P_SLEEPY \"" 20 &&
	curl -sS --max-time 60 -o body http://127.0.0.1:$P_SLEEPY/env 2>curl.err || { cat curl.err d3.log; false; } &&
	cat body &&
	grep "^V=2$" body &&
	grep "^HOSTNAME=" body &&
	test "$(state_of sleepy-app)" = running &&
	daemon_wait_log d3.log "a connection to a port of sleeping unit sleepy/app: waking it" 5 &&
	journal_has wake sleepy/app "a connection to its port" &&
	curl -sS --max-time 10 http://127.0.0.1:$P_SLEEPY/version >v &&
	test -s v
'

test_done
