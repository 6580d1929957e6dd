#!/bin/sh
test_description='reconciler run: a rollback keeps what the failed commit removed (issue 14).
A commit that deletes a customer and breaks another unit is rolled back to the last good commit
less the deleted customer: its containers and network are not made again, not by the rollback,
not by a daemon restart while the commit stays marked failed, nor by drift --fix without a daemon;
a newer commit that brings the customer back makes it; a unit that a kept unit depends on comes back'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
# write_manifests BROKEN CUSTOMERS...: BROKEN = yes adds a shared service that exits at once
# (never healthy: its rollout fails)
write_manifests() {
	broken=$1 &&
	shift &&
	cat >$M/settings.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Plan
	name: fragile
	restart: {policy: "no", backoff: 1s, max_backoff: 2s, max_failures: 3}
	---
	kind: Template
	name: t
	services:
	  app:
	    image: $TEST_IMAGE
	    plan: fragile
	    health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 2}
	EOT
	if test "$broken" = yes
	then
		cat >$M/broken.yaml <<-EOT
		kind: Service
		name: broken
		image: $TEST_IMAGE
		plan: fragile
		env: {EXIT_CODE: "1"}
		health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 2}
		EOT
	else
		rm -f $M/broken.yaml
	fi &&
	rm -f $M/customer-*.yaml &&
	for c in "$@"
	do
		printf "kind: Customer\nid: %s\ntemplate: t\n" "$c" >$M/customer-$c.yaml || return 1
	done
}

head12() {
	git -C $M rev-parse HEAD | cut -c1-12
}

absent() {
	test_must_fail docker inspect "$1" >/dev/null 2>&1
}

test_expect_success 'setup: alpha and beta converged' '
	repo_init $M &&
	write_manifests no alpha beta &&
	repo_commit $M "alpha and beta" &&
	good=$(head12) &&
	echo $good >good
'

test_expect_success 'a failed commit that deleted beta is rolled back without beta' '
	test_when_finished daemon_kill &&
	daemon_start d1.log --repo $M &&
	daemon_wait_log d1.log "boot convergence complete" 90 &&
	test "$(container_field $PROJECT-beta-app {{.State.Status}})" = running &&
	write_manifests yes alpha &&
	repo_commit $M "beta deleted, broken added" &&
	bad=$(head12) &&
	echo $bad >bad &&
	daemon_wait_log d1.log "rollout of $bad failed" 90 &&
	daemon_wait_log d1.log "rolled back to $(cat good)" 90 &&
	absent $PROJECT-beta-app &&
	absent $PROJECT-beta &&
	test_grep "rollback keeps what $bad removed: beta/app" d1.log &&
	absent $PROJECT-broken &&
	test "$(container_field $PROJECT-alpha-app {{.State.Status}})" = running &&
	test_grep "\"rolled_back_from\":[[:space:]]*\"$bad" $STATE/applied.json &&
	grep "\"action\":\"keep-removals\"" $STATE/journal.jsonl >keep.out &&
	test_grep "beta/app" keep.out &&
	sleep 3 &&
	absent $PROJECT-beta-app
'

test_expect_success 'a daemon restart while the commit is marked failed keeps the removal' '
	test_when_finished daemon_kill &&
	daemon_start d2.log --repo $M &&
	daemon_wait_log d2.log "boot convergence complete" 90 &&
	test_grep "boot: the head $(cat bad) is marked failed" d2.log &&
	absent $PROJECT-beta-app &&
	test_grep "commit $(cat good) is in force less what $(cat bad) removed: beta/app" d2.log &&
	kill -HUP $DPID &&
	wait_for "test \$(grep -c \"is in force less what $(cat bad) removed\" d2.log) = 2" 60 &&
	daemon_wait_log d2.log "commit $(cat good) converged" 60 &&
	sleep 3 &&
	absent $PROJECT-beta-app &&
	test "$(container_field $PROJECT-alpha-app {{.State.Status}})" = running
'

test_expect_success 'drift without a daemon checks the commit in force: beta is not missing, --fix keeps it gone' '
	$RC -v --repo $M drift >drift.out 2>drift.err || { cat drift.out drift.err; false; } &&
	! grep beta drift.out &&
	test_grep "commit $(cat good) is in force less what $(cat bad) removed: beta/app" drift.err &&
	$RC --repo $M drift --fix >fix.out 2>&1 || { cat fix.out; false; } &&
	absent $PROJECT-beta-app
'

test_expect_success 'a newer commit that brings beta back makes it, and clears the record' '
	test_when_finished daemon_kill &&
	daemon_start d3.log --repo $M &&
	daemon_wait_log d3.log "boot convergence complete" 90 &&
	write_manifests no alpha beta &&
	repo_commit $M "beta back" &&
	daemon_wait_log d3.log "commit $(head12) converged" 90 &&
	test "$(container_field $PROJECT-beta-app {{.State.Status}})" = running &&
	! grep "rolled_back_from" $STATE/applied.json
'

# write_cache_manifests WITH_CACHE BROKEN: alpha's app depends on a shared cache (WITH_CACHE = yes) or
# not at all
write_cache_manifests() {
	write_manifests $2 alpha &&
	if test "$1" = yes
	then
		cat >>$M/settings.yaml <<-EOT
		    networks: [backend]
		    depends_on: {cache: healthy}
		---
		kind: Network
		name: backend
		---
		kind: Service
		name: cache
		image: $TEST_IMAGE
		plan: fragile
		networks: [backend]
		health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 2}
		EOT
	fi
}

test_expect_success 'what a unit of the last good commit depends on comes back with it' '
	test_when_finished daemon_kill &&
	write_cache_manifests yes no &&
	repo_commit $M "alpha app on a cache" &&
	daemon_start d4.log --repo $M &&
	daemon_wait_log d4.log "commit $(head12) converged" 90 &&
	good=$(head12) &&
	test "$(container_field $PROJECT-cache {{.State.Status}})" = running &&
	write_cache_manifests no yes &&
	repo_commit $M "no cache, app alone, broken added" &&
	bad=$(head12) &&
	daemon_wait_log d4.log "rollout of $bad failed" 90 &&
	daemon_wait_log d4.log "rolled back to $good" 90 &&
	test "$(container_field $PROJECT-cache {{.State.Status}})" = running &&
	container_field $PROJECT-alpha-app "{{json .NetworkSettings.Networks}}" >nets &&
	test_grep "$PROJECT-alpha-via-backend" nets &&
	! grep "rollback keeps what $bad removed" d4.log &&
	! grep "rolled_back_from" $STATE/applied.json
'

test_done
