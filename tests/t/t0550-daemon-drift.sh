#!/bin/sh
test_description='reconciler run checks drift periodically: none after boot convergence nor
after a restart, a hand-made change is journaled and shown by status'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo

# The n-th drift line of the journal (1-based), or nothing.
drift_line() {
	grep "\"action\":\"drift\"" $STATE/journal.jsonl | sed -n "${1}p"
}
drift_count() {
	cat $STATE/journal.jsonl 2>/dev/null | grep "\"action\":\"drift\"" | wc -l
}

test_expect_success 'setup' '
	repo_init $M &&
	cat >$M/all.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Plan
	name: p
	memory: 64M
	---
	kind: Service
	name: a
	image: $TEST_IMAGE
	plan: p
	env: {MODE: sleep}
	---
	kind: Service
	name: b
	image: $TEST_IMAGE
	plan: p
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 5}
	EOT
	repo_commit $M initial
'

test_expect_success 'after boot convergence the periodic check finds no drift' '
	test_when_finished daemon_kill &&
	daemon_start run1.log --repo $M --drift-interval 1 &&
	daemon_wait_log run1.log "boot convergence complete" 60 &&
	n=$(drift_count) &&
	wait_for "test \$(drift_count) -gt $n" 30 &&
	drift_line $(drift_count) | test_grep "\"result\":\"none\"" &&
	$RC --state-dir $STATE --repo $M status >status.out &&
	test_grep "^last drift check .*: no drift" status.out
'

test_expect_success 'nor after a daemon restart' '
	test_when_finished daemon_kill &&
	n=$(drift_count) &&
	daemon_start run2.log --repo $M --drift-interval 1 &&
	wait_for "test \$(drift_count) -gt $n" 30 &&
	drift_line $((n + 1)) | test_grep "\"result\":\"none\"" &&
	! grep -q "drift against" run2.log
'

test_expect_success 'a docker update by hand is found, journaled, logged and shown by status' '
	test_when_finished daemon_kill &&
	daemon_start run3.log --repo $M --drift-interval 1 &&
	daemon_wait_log run3.log "boot convergence complete" 60 &&
	docker update --memory 96m --memory-swap 192m $PROJECT-a >/dev/null &&
	daemon_wait_log run3.log "drift against .*1 changed" 30 &&
	grep "\"action\":\"drift\"" $STATE/journal.jsonl | tail -n 1 | test_grep "\"result\":\"drift\"" &&
	$RC --state-dir $STATE --repo $M status >status.out &&
	test_grep "^last drift check .*1 changed" status.out &&
	test "$(container_field $PROJECT-a {{.HostConfig.Memory}})" = 100663296
'

test_expect_success 'between periodic lists the check inspects the containers known from events: an extra is found' '
	test_when_finished daemon_kill &&
	test_when_finished "docker rm -f $PROJECT-intruder >/dev/null 2>&1 || :" &&
	$RC --state-dir $STATE --repo $M drift --fix >fix.out 2>&1 &&
	n=$(drift_count) &&
	DAEMON_CHECK_INTERVAL=3600 daemon_start run5.log -vv --repo $M --drift-interval 1 &&
	daemon_wait_log run5.log "boot convergence complete" 60 &&
	wait_for "test \$(drift_count) -gt $n" 30 &&
	drift_line $(drift_count) | test_grep "\"result\":\"none\"" &&
	test_grep "drift check: inspecting the known containers" run5.log &&
	: made by hand with the project label, after the only list of this daemon &&
	docker run -d --name $PROJECT-intruder --label io.reconciler.project=$PROJECT -e MODE=sleep \
		$TEST_IMAGE >/dev/null &&
	daemon_wait_log run5.log "drift against .*1 extra" 30 &&
	docker rm -f $PROJECT-intruder >/dev/null &&
	n=$(drift_count) &&
	wait_for "test \$(drift_count) -gt $((n + 1))" 30 &&
	drift_line $(drift_count) | test_grep "\"result\":\"none\"" &&
	! grep "warning: drift check" run5.log
'

test_expect_success 'status says whether a reconciler run holds the state directory' '
	test_when_finished daemon_kill &&
	{ $RC --state-dir $STATE --repo $M status >s0.out || test $? = 2 ; } &&
	test_grep "^daemon: none (no .reconciler run. holds this state directory)$" s0.out &&
	daemon_start run6.log --repo $M &&
	daemon_wait_log run6.log "boot convergence complete" 60 &&
	{ $RC --state-dir $STATE --repo $M status >s1.out || test $? = 2 ; } &&
	test_grep "^daemon: reconciler run, pid $DPID$" s1.out &&
	{ $RC --state-dir $STATE --repo $M status --json >s1.json || test $? = 2 ; } &&
	test_grep "\"daemon_pid\": $DPID," s1.json
'

test_expect_success 'with a daemon running, drift asks it: the report a check of its own makes, journaled' '
	test_when_finished daemon_kill &&
	test_when_finished "docker rm -f $PROJECT-intruder2 >/dev/null 2>&1 || :" &&
	DAEMON_CHECK_INTERVAL=3600 daemon_start run7.log --repo $M --drift-interval 0 &&
	daemon_wait_log run7.log "boot convergence complete" 60 &&
	test "$(stat -c %a $STATE/control.sock)" = 600 &&
	commit=$(git -C $M rev-parse HEAD) &&
	n=$(drift_count) &&
	$RC -v --state-dir $STATE drift >d1.out 2>d1.err &&
	test_grep "the daemon made this drift check" d1.err &&
	test_grep "^No drift" d1.out &&
	test "$(drift_count)" = $((n + 1)) &&
	: an extra made after the only list of the daemon: it knows it from the create event &&
	docker run -d --name $PROJECT-intruder2 --label io.reconciler.project=$PROJECT -e MODE=sleep \
		$TEST_IMAGE >/dev/null &&
	test_expect_code 2 $RC -v --state-dir $STATE drift >d2.out 2>d2.err &&
	test_grep "the daemon made this drift check" d2.err &&
	test_grep "$PROJECT-intruder2 .*extra" d2.out &&
	: --rev makes the command check by itself: the same report &&
	test_expect_code 2 $RC -v --state-dir $STATE --repo $M drift --rev $commit >d3.out 2>d3.err &&
	! grep "the daemon made" d3.err &&
	test_cmp d3.out d2.out &&
	test_expect_code 2 $RC --state-dir $STATE drift --json >d2.json &&
	test_expect_code 2 $RC --state-dir $STATE --repo $M drift --rev $commit --json >d3.json &&
	test_cmp d3.json d2.json &&
	test_expect_code 2 $RC --state-dir $STATE drift --markdown --out d2.md &&
	test_expect_code 2 $RC --state-dir $STATE --repo $M drift --rev $commit --markdown >d3.md &&
	test_cmp d3.md d2.md &&
	docker rm -f $PROJECT-intruder2 >/dev/null &&
	$RC --state-dir $STATE drift --stats >d4.out 2>d4.err &&
	test_grep "^drift check: .* ms in the daemon, 2 containers inspected$" d4.err &&
	! grep "warning" run7.log
'

test_expect_success 'drift --fix with a daemon running: the daemon converges what drifted' '
	test_when_finished daemon_kill &&
	DAEMON_CHECK_INTERVAL=3600 daemon_start run12.log --repo $M --drift-interval 0 &&
	daemon_wait_log run12.log "boot convergence complete" 60 &&
	docker update --memory 96m --memory-swap 192m $PROJECT-a >/dev/null &&
	: the report first, then the fix, as without a daemon &&
	$RC -v --state-dir $STATE drift --fix >f1.out 2>f1.err &&
	test_grep "memory: 64 MiB → 96 MiB" f1.out &&
	test_grep "the daemon made this drift check" f1.err &&
	test_grep "^reconciler: drift fixed by the daemon (1 step): no drift left$" f1.err &&
	test "$(container_field $PROJECT-a {{.HostConfig.Memory}})" = 67108864 &&
	daemon_wait_log run12.log "drift --fix: converged" 5 &&
	$RC --state-dir $STATE drift >f2.out &&
	: nothing to fix: nothing asked &&
	$RC --state-dir $STATE drift --fix >f3.out 2>f3.err &&
	! grep "fixed" f3.err &&
	: with --rev the command would fix by itself, which the lock forbids &&
	commit=$(git -C $M rev-parse HEAD) &&
	test_expect_code 1 $RC --state-dir $STATE --repo $M drift --rev $commit --fix 2>f4.err &&
	test_grep "is locked by another reconciler (pid $DPID)" f4.err &&
	! grep "warning" run12.log
'

test_expect_success 'a daemon that does not take the request in time (stopped): drift checks by itself' '
	test_when_finished "kill -CONT \$DPID 2>/dev/null; daemon_kill" &&
	daemon_start run8.log --repo $M --drift-interval 0 &&
	daemon_wait_log run8.log "boot convergence complete" 60 &&
	kill -STOP $DPID &&
	$RC -v --state-dir $STATE drift >b1.out 2>b1.err &&
	test_grep "the daemon is busy" b1.err &&
	test_grep "this drift check is not journaled" b1.err &&
	test_grep "^No drift" b1.out &&
	kill -CONT $DPID &&
	: it drops the request the command gave up on, and answers the next &&
	$RC -v --state-dir $STATE drift >b2.out 2>b2.err &&
	test_grep "the daemon made this drift check" b2.err &&
	! grep "warning" run8.log
'

test_expect_success 'the daemon takes the events sent before a request into account before it checks' '
	test_when_finished "kill -CONT \$DPID 2>/dev/null; daemon_kill" &&
	test_when_finished "docker rm -f $PROJECT-x1 $PROJECT-x2 $PROJECT-x3 >/dev/null 2>&1 || :" &&
	DAEMON_CHECK_INTERVAL=3600 daemon_start run11.log --repo $M --drift-interval 0 &&
	daemon_wait_log run11.log "boot convergence complete" 60 &&
	: stopped, it reads neither the three create events nor the request until it wakes &&
	kill -STOP $DPID &&
	docker run -d --name $PROJECT-x1 --label io.reconciler.project=$PROJECT -e MODE=sleep $TEST_IMAGE >/dev/null &&
	docker run -d --name $PROJECT-x2 --label io.reconciler.project=$PROJECT -e MODE=sleep $TEST_IMAGE >/dev/null &&
	docker run -d --name $PROJECT-x3 --label io.reconciler.project=$PROJECT -e MODE=sleep $TEST_IMAGE >/dev/null &&
	{ (sleep 0.3; kill -CONT $DPID) & } &&
	test_expect_code 2 $RC -v --state-dir $STATE drift >e.out 2>e.err &&
	test_grep "the daemon made this drift check" e.err &&
	test_grep "^Drift: 3 extra" e.out
'

test_expect_success 'a daemon killed with -9 leaves its socket: drift checks by itself; a clean stop removes it' '
	test_when_finished daemon_kill &&
	daemon_start run9.log --repo $M --drift-interval 0 &&
	daemon_wait_log run9.log "boot convergence complete" 60 &&
	kill -KILL $DPID && { wait $DPID || :; } && DPID= &&
	test -S $STATE/control.sock &&
	n=$(drift_count) &&
	$RC -v --state-dir $STATE drift >k1.out 2>k1.err &&
	: the lock is free: the command checks by itself and does not ask &&
	! grep "daemon" k1.err &&
	test_grep "^No drift" k1.out &&
	test "$(drift_count)" = $((n + 1)) &&
	daemon_start run10.log --repo $M --drift-interval 0 &&
	daemon_wait_log run10.log "boot convergence complete" 60 &&
	$RC -v --state-dir $STATE drift >k2.out 2>k2.err &&
	test_grep "the daemon made this drift check" k2.err &&
	daemon_stop &&
	test "$DEXIT" = 0 &&
	! test -e $STATE/control.sock
'

test_expect_success 'a secret rotated since the daemon loaded the commit: the command checks by itself' '
	test_when_finished daemon_kill &&
	printf one >$STATE/secrets/tok && chmod 600 $STATE/secrets/tok &&
	sed -i "/^name: a$/a secrets: [tok]" $M/all.yaml &&
	repo_commit $M "a gets a secret" &&
	DAEMON_CHECK_INTERVAL=3600 daemon_start run13.log --repo $M --drift-interval 0 &&
	daemon_wait_log run13.log "boot convergence complete" 60 &&
	$RC -v --state-dir $STATE drift >s1.out 2>s1.err &&
	test_grep "the daemon made this drift check" s1.err &&
	printf two >$STATE/secrets/tok &&
	: its own check reads the manifests from the copy the daemon kept when it applied the commit &&
	test_expect_code 2 $RC -v --state-dir $STATE drift >s2.out 2>s2.err &&
	test_grep "secret .tok. changed since the daemon loaded commit" s2.err &&
	test_grep "secret tok: other content" s2.out &&
	: SIGHUP: it reads them again and converges &&
	kill -HUP $DPID &&
	daemon_wait_log run13.log "SIGHUP" 10 &&
	wait_for "$RC --state-dir $STATE --repo $M drift >s3.out 2>s3.err" 60 &&
	$RC -v --state-dir $STATE drift >s4.out 2>s4.err &&
	test_grep "the daemon made this drift check" s4.err
'

test_expect_success '--drift-interval 0 turns the check off' '
	test_when_finished daemon_kill &&
	n=$(drift_count) &&
	daemon_start run4.log --repo $M --drift-interval 0 &&
	daemon_wait_log run4.log "boot convergence complete" 60 &&
	sleep 3 &&
	test "$(drift_count)" = "$n"
'

test_done
