#!/bin/sh
test_description='reconciler restart and disable (issue 14), through a running daemon and without
one: restart stops with the grace, starts in dependency order, waits for ready, resets the failure
counter, journaled with who asked; disable stops a unit and leaves it alone until enable, its
reason shown by status'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
write_manifests() {
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	subnets: {pool: 10.235.0.0/16, size: 28}
	---
	kind: Plan
	name: p
	restart: {backoff: 1s, max_backoff: 2s, max_failures: 5}
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	plan: p
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 3}
	---
	kind: Service
	name: web
	image: $TEST_IMAGE
	plan: p
	depends_on: {db: healthy}
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 3}
	---
	kind: Plan
	name: slow
	restart: {backoff: 60s, max_backoff: 60s, max_failures: 5}
	---
	kind: Service
	name: api
	image: $TEST_IMAGE
	plan: slow
	health: {http: /health, port: 8080, interval: 1s, timeout: 2s, retries: 3}
	EOT
}

started_at() {
	container_field $PROJECT-$1 "{{.State.StartedAt}}"
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

ME="$(id -un) (uid $(id -u))"

test_expect_success 'setup: a manifest repository, applied' '
	repo_init $M &&
	write_manifests &&
	repo_commit $M "initial" &&
	$RC --repo $M apply >apply.out 2>&1
'

test_expect_success 'the verbs check their arguments' '
	test_expect_code 1 $RC restart 2>err &&
	test_grep "usage: reconciler restart UNIT... | --customer C" err &&
	test_expect_code 1 $RC restart web --customer x 2>err &&
	test_expect_code 1 $RC disable 2>err &&
	test_grep "usage: reconciler disable UNIT" err &&
	test_expect_code 1 $RC disable web --fix 2>err &&
	test_grep "does not take --fix" err &&
	test_expect_code 1 $RC disable web --reason "$(printf "a\tb")" 2>err &&
	test_grep "one line of printable text" err
'

test_expect_success 'without a daemon: restart a unit directly, journaled with who asked' '
	before=$(started_at web) &&
	db_before=$(started_at db) &&
	$RC --repo $M restart web >out 2>err || { cat out err; false; } &&
	test_grep "restarted web (ready; failure counters reset)" out &&
	test "$(started_at web)" != "$before" &&
	test "$(started_at db)" = "$db_before" &&
	test "$(container_field $PROJECT-web {{.State.Health.Status}})" = healthy &&
	journal_has restart web "asked by $ME" &&
	test_expect_code 1 $RC --repo $M restart nosuch 2>err &&
	test_grep "no unit .nosuch. in commit" err
'

test_expect_success 'without a daemon: disable marks the unit (reason and who in status), enable forgets it' '
	$RC disable web --reason "disk swap" >out &&
	test_grep "disabled .web. (disabled by $ME: disk swap)" out &&
	journal_has disable web "disabled by $ME: disk swap" &&
	test_might_fail $RC --repo $M status --json >status.json 2>/dev/null &&
	python3 -c "
import json
u = {x[\"unit\"]: x for x in json.load(open(\"status.json\"))[\"units\"]}
assert u[\"web\"][\"disabled\"] is True and u[\"web\"][\"disabled_reason\"] == \"disabled by $ME: disk swap\", u[\"web\"]
" &&
	test_expect_code 1 $RC disable web 2>err &&
	test_grep "disabled already" err &&
	$RC enable web >out &&
	test_grep "enabled .web." out
'

# A disabled unit stays stopped whoever converges: apply by hand holds back what would
# bring it up, and what depends on it, as the daemon does; status counts nothing pending.
test_expect_success 'without a daemon: plan and apply leave a disabled unit and its dependents stopped' '
	$RC disable db --reason "restore" >out &&
	docker stop -t 1 $PROJECT-web $PROJECT-db >/dev/null &&
	$RC --repo $M plan >plan.out 2>plan.err || { cat plan.out plan.err; false; } &&
	test_grep "left stopped while disabled .* db$" plan.err &&
	test_grep "held back behind disabled units: web (db is disabled)" plan.err &&
	$RC --repo $M apply >apply.out 2>&1 || { cat apply.out; false; } &&
	test "$(container_field $PROJECT-db {{.State.Status}})" = exited &&
	test "$(container_field $PROJECT-web {{.State.Status}})" = exited &&
	$RC --repo $M status >status.out 2>&1 || { cat status.out; false; } &&
	docker rm -f $PROJECT-api >/dev/null &&
	$RC --repo $M drift --fix >fix.out 2>&1 || { cat fix.out; false; } &&
	test "$(container_field $PROJECT-api {{.State.Status}})" = running &&
	test "$(container_field $PROJECT-db {{.State.Status}})" = exited &&
	$RC enable db >out &&
	$RC --repo $M apply >apply.out 2>&1 || { cat apply.out; false; } &&
	test "$(container_field $PROJECT-db {{.State.Status}})" = running &&
	test "$(container_field $PROJECT-web {{.State.Status}})" = running
'

test_expect_success 'through the daemon: restart a unit and its dependents in order, counters reset' '
	test_when_finished daemon_kill &&
	daemon_start d.log --repo $M &&
	daemon_wait_log d.log "boot convergence complete" 90 &&
	docker kill $PROJECT-web >/dev/null &&
	daemon_wait_log d.log "unit web: killed (exit 137); repairing in 1.0s (failure 1 of 5)" 30 &&
	daemon_wait_log d.log "unit web is ready again" 30 &&
	test_grep "\"failures\":[[:space:]]*1" $STATE/units.json &&
	before_db=$(started_at db) && before_web=$(started_at web) &&
	$RC restart db web >out 2>err || { cat out err d.log; false; } &&
	test_grep "restarted db, web (ready; failure counters reset) (daemon pid $DPID)" out &&
	test "$(started_at db)" != "$before_db" &&
	test "$(started_at web)" != "$before_web" &&
	test "$(started_at web)" \> "$(started_at db)" &&
	! grep "\"failures\":" $STATE/units.json &&
	journal_has restart db "asked by $ME" &&
	journal_has restart web "asked by $ME" &&
	! grep "unit db: .*failure" d.log &&
	test_expect_code 1 $RC restart --customer nobody 2>err &&
	test_grep "no customer .nobody." err
'

test_expect_success 'status shows the last check of the daemon, its result, probe latency and next repair' '
	test_when_finished daemon_kill &&
	daemon_start d3.log --repo $M &&
	daemon_wait_log d3.log "boot convergence complete" 90 &&
	wait_for "grep -q \"probe_ms.:[[:space:]]*[0-9]\" $STATE/units.json" 30 &&
	wait_for "$RC --repo $M status --json 2>/dev/null | grep -q \"probe_latency_ms.: [0-9]\"" 30 &&
	docker kill $PROJECT-api >/dev/null &&
	daemon_wait_log d3.log "unit api: killed (exit 137); repairing in 60.0s (failure 1 of 5)" 30 &&
	test_might_fail $RC --repo $M status --json >status.json 2>/dev/null &&
	python3 -c "
import json
u = {x[\"unit\"]: x for x in json.load(open(\"status.json\"))[\"units\"]}
assert u[\"db\"][\"last_check\"] and u[\"db\"][\"last_check_result\"] == \"ready\", u[\"db\"]
assert u[\"db\"][\"probe_latency_ms\"] is None and u[\"db\"][\"next_repair\"] is None, u[\"db\"]
a = u[\"api\"]
assert \"killed\" in a[\"last_check_result\"] and a[\"next_repair\"] and a[\"failures\"] == 1, a
assert isinstance(a[\"probe_latency_ms\"], int), a
" &&
	test_might_fail $RC --repo $M status >status.out 2>/dev/null &&
	test_grep "^  checked .*: killed (exit 137).*; next repair " status.out &&
	test_grep "^  checked .*: ready" status.out
'

test_expect_success 'through the daemon: disable stops the unit and keeps it stopped; enable brings it back' '
	test_when_finished daemon_kill &&
	daemon_start d2.log --repo $M &&
	daemon_wait_log d2.log "boot convergence complete" 90 &&
	$RC disable web --reason "maintenance" >out 2>err || { cat out err; false; } &&
	test_grep "disabled .web. (disabled by $ME: maintenance) (daemon pid $DPID)" out &&
	wait_for "test \"\$(container_field $PROJECT-web {{.State.Status}})\" = exited" 30 &&
	sleep 4 &&
	test "$(container_field $PROJECT-web {{.State.Status}})" = exited &&
	! grep "unit web: .*failure" d2.log &&
	$RC --repo $M status >status.out 2>&1 &&
	test_grep "^web .*disabled" status.out &&
	wait_for "$RC --repo $M status --json 2>/dev/null | grep -q \"last_check_result.: .disabled.\"" 30 &&
	test_might_fail $RC --repo $M status >status.out 2>&1 &&
	grep -A1 "^web " status.out >web.out &&
	test_grep "^  checked .*: disabled$" web.out &&
	$RC --repo $M --rev HEAD drift >drift.out 2>&1 || { cat drift.out; false; } &&
	! grep "web" drift.out &&
	test_expect_code 1 $RC restart web 2>err &&
	test_grep "unit .web. is disabled: .reconciler enable web. first" err &&
	$RC enable web >out &&
	wait_for "test \"\$(container_field $PROJECT-web {{.State.Status}})\" = running" 30
'

test_expect_success 'depends_on restart: true: a restart of the dependency restarts the dependent after it' '
	test_when_finished daemon_kill &&
	cat >$M/worker.yaml <<-EOT &&
	kind: Service
	name: worker
	image: $TEST_IMAGE
	plan: p
	depends_on: {db: {condition: service_healthy}}
	EOT
	repo_commit $M "worker" &&
	$RC --repo $M apply >apply.out 2>&1 &&
	sed -i "s/condition: service_healthy}/condition: service_healthy, restart: true}/" $M/worker.yaml &&
	repo_commit $M "worker restarted with db" &&
	$RC --repo $M plan >plan.out 2>&1 &&
	test_grep "No changes" plan.out &&
	$RC --repo $M render --json >render.json &&
	test_grep "\"unit\": \"db\", \"condition\": \"healthy\", \"restart\": true" render.json &&
	$RC --repo $M apply >apply.out 2>&1 &&
	before_worker=$(started_at worker) && before_web=$(started_at web) &&
	$RC --repo $M restart db >out 2>err || { cat out err; false; } &&
	test_grep "restarted db, then its dependents worker (ready; failure counters reset)" out &&
	test "$(started_at worker)" != "$before_worker" &&
	test "$(started_at worker)" \> "$(started_at db)" &&
	test "$(started_at web)" = "$before_web" &&
	journal_has restart worker "after db (depends_on restart: true), asked by $ME" &&
	daemon_start d4.log --repo $M &&
	daemon_wait_log d4.log "boot convergence complete" 90 &&
	before_worker=$(started_at worker) &&
	$RC restart db >out 2>err || { cat out err d4.log; false; } &&
	test_grep "restarted db, then its dependents worker (ready; failure counters reset) (daemon pid $DPID)" out &&
	test "$(started_at worker)" != "$before_worker" &&
	test "$(started_at web)" = "$before_web" &&
	test_grep "with the dependents that ask for it (depends_on restart: true): worker" d4.log
'

test_expect_success 'depends_on restart takes true or false only' '
	mkdir bad &&
	cat >bad/m.yaml <<-EOT &&
	kind: Service
	name: db
	image: $TEST_IMAGE
	---
	kind: Service
	name: web
	image: $TEST_IMAGE
	depends_on: {db: {condition: healthy, restart: yes}}
	EOT
	test_expect_code 1 $RC validate --dir bad 2>err &&
	test_grep "m.yaml:8:.*.restart. must be true or false" err
'

test_done
