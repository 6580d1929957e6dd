#!/bin/sh
test_description='reconciler run and the engine: the engine goes away and comes back while the
daemon runs (it waits, then converges what changed meanwhile); boot after every managed container
was removed converges in dependency order; git gc makes no work; the engine lost in the middle of a
rollout is no verdict on the commit'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
# The engine as the daemon sees it: a proxy to the real one (stopping the shared dockerd would
# break the tests running beside this one).
. "$RC_TOP/tests/lib/proxy.sh"

started_ns() {
	date -d "$(container_field $1 {{.State.StartedAt}})" +%s%N
}

test_expect_success 'setup: a repository of two units, b depending on a' '
	repo_init $M &&
	cat >$M/all.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Service
	name: a
	image: $TEST_IMAGE
	env: {START_DELAY: "1"}
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
	---
	kind: Service
	name: b
	image: $TEST_IMAGE
	env: {MODE: sleep, X: "1"}
	depends_on: {a: healthy}
	EOT
	repo_commit $M initial
'

test_expect_success 'the engine goes away and comes back: the daemon waits, then converges what changed meanwhile' '
	test_when_finished "daemon_kill; proxy_stop" &&
	proxy_start &&
	daemon_start outage.log --repo $M --docker-host unix://$SOCK &&
	daemon_wait_log outage.log "boot convergence complete" 90 &&
	test "$(container_field $PROJECT-b {{.State.Status}})" = running &&
	proxy_stop &&
	daemon_wait_log outage.log "engine event stream lost" 30 &&
	: while it is away: a container removed by hand, and a new commit &&
	docker rm -f $PROJECT-a >/dev/null &&
	sed -i "s/X: \"1\"/X: \"2\"/" $M/all.yaml && repo_commit $M "x=2" &&
	c2=$(git -C $M rev-parse HEAD | cut -c1-12) &&
	daemon_wait_log outage.log "cannot converge to $c2 now" 30 &&
	kill -0 $DPID &&
	proxy_start &&
	daemon_wait_log outage.log "commit $c2 converged" 90 &&
	wait_for "test \"\$(container_field $PROJECT-a {{.State.Health.Status}})\" = healthy" 60 &&
	container_field $PROJECT-b "{{.Config.Env}}" | test_grep "X=2" &&
	test "$(container_field $PROJECT-b {{.State.Status}})" = running &&
	test_expect_code 0 $RC --repo $M plan
'

test_expect_success 'boot after every managed container was removed: converged in dependency order' '
	test_when_finished daemon_kill &&
	docker rm -f $(docker ps -aq --filter label=io.reconciler.project=$PROJECT) >/dev/null &&
	daemon_start boot.log --repo $M &&
	daemon_wait_log boot.log "boot convergence complete" 90 &&
	test "$(container_field $PROJECT-a {{.State.Health.Status}})" = healthy &&
	test "$(container_field $PROJECT-b {{.State.Status}})" = running &&
	test "$(started_ns $PROJECT-b)" -gt "$(started_ns $PROJECT-a)" &&
	: git gc rewrites the refs, which is noticed and needs no work, so the next commit is the only rollout &&
	git -C $M gc -q --prune=now &&
	test -f $M/.git/packed-refs &&
	sed -i "s/X: \"2\"/X: \"3\"/" $M/all.yaml && repo_commit $M "x=3" &&
	c3=$(git -C $M rev-parse HEAD | cut -c1-12) &&
	daemon_wait_log boot.log "commit $c3 converged" 60 &&
	test "$(grep -c "converging to commit" boot.log)" = 2 &&
	test_grep "boot: converging to commit" boot.log &&
	test_grep "new commit: converging to commit $c3" boot.log
'

test_expect_success 'the engine goes away in the middle of a rollout: no verdict on the commit, converged when it is back' '
	test_when_finished "daemon_kill; proxy_stop" &&
	proxy_start &&
	daemon_start midway.log --repo $M --docker-host unix://$SOCK &&
	daemon_wait_log midway.log "boot convergence complete" 90 &&
	sed -i "s/START_DELAY: \"1\"/START_DELAY: \"5\"/" $M/all.yaml && repo_commit $M "a starts slowly" &&
	c4=$(git -C $M rev-parse HEAD) &&
	daemon_wait_log midway.log "new commit: converging to commit $(echo $c4 | cut -c1-12)" 30 &&
	: a is recreated and now waits out its 5 s start delay before its first healthy check &&
	wait_for "container_field $PROJECT-a \"{{.Config.Env}}\" | grep -q START_DELAY=5" 30 &&
	proxy_stop &&
	daemon_wait_log midway.log "cannot converge to $(echo $c4 | cut -c1-12) now: the engine stopped answering" 60 &&
	proxy_start &&
	daemon_wait_log midway.log "commit $(echo $c4 | cut -c1-12) converged" 90 &&
	! grep -q "rollout of $(echo $c4 | cut -c1-12) failed" midway.log &&
	! grep -q "rolling back" midway.log &&
	! grep -q "\"commit\":[[:space:]]*\"$c4\"" $STATE/applied.json &&
	test "$(container_field $PROJECT-a {{.State.Health.Status}})" = healthy
'

test_done
