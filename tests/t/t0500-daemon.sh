#!/bin/sh
test_description='reconciler run: boot convergence in dependency order, new commits, bad commits,
self-healing of killed and removed containers, a second instance, SIGHUP and SIGTERM'
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
	restart: {backoff: 1s, max_backoff: 4s, max_failures: 5}
	---
	kind: Network
	name: backend
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	plan: p
	env: {START_DELAY: "1", ROLE: db}
	networks: [backend]
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 5}
	---
	kind: Service
	name: web
	image: $TEST_IMAGE
	plan: p
	env: {MODE: sleep, GREETING: hello}
	networks: [backend]
	depends_on: {db: healthy}
	EOT
}

ids() {
	docker ps -a --filter label=io.reconciler.project=$PROJECT --format '{{.Names}} {{.ID}} {{.State}}' | sort
}

test_expect_success 'setup: a manifest repository' '
	repo_init $M &&
	write_manifests &&
	repo_commit $M "initial"
'

test_expect_success 'boot convergence: containers appear in dependency order, the log says complete' '
	test_when_finished daemon_kill &&
	daemon_start boot.log --repo $M &&
	daemon_wait_log boot.log "boot convergence complete" 90 &&
	test_grep "boot convergence complete: commit $(git -C $M rev-parse HEAD | cut -c1-12), 2 units" boot.log &&
	test "$(container_field $PROJECT-db {{.State.Health.Status}})" = healthy &&
	test "$(container_field $PROJECT-web {{.State.Status}})" = running &&
	db_s=$(date -d "$(container_field $PROJECT-db {{.State.StartedAt}})" +%s%N) &&
	web_s=$(date -d "$(container_field $PROJECT-web {{.State.StartedAt}})" +%s%N) &&
	test $((web_s - db_s)) -ge 1000000000 &&
	grep "\"action\":\"boot\"" $STATE/journal.jsonl | test_grep "\"result\":\"ok\"" &&
	test_grep "$(git -C $M rev-parse HEAD)" $STATE/applied.json
'

test_expect_success 'a second daemon on the same state directory exits 1 naming the holder' '
	test_when_finished daemon_kill &&
	daemon_start second.log --repo $M &&
	daemon_wait_log second.log "boot convergence complete" &&
	test_expect_code 1 $RC --state-dir $STATE --repo $M run 2>err &&
	test_grep "locked by another reconciler (pid $DPID)" err
'

test_expect_success 'a new commit is noticed and converged; a bad commit is reported, skipped, nothing changes' '
	test_when_finished daemon_kill &&
	daemon_start commits.log --repo $M &&
	daemon_wait_log commits.log "boot convergence complete" &&
	sed -i "s/GREETING: hello/GREETING: bonjour/" $M/settings.yaml && repo_commit $M "bonjour" &&
	good=$(git -C $M rev-parse HEAD) &&
	daemon_wait_log commits.log "commit $(echo $good | cut -c1-12) converged" 30 &&
	container_field $PROJECT-web "{{.Config.Env}}" | test_grep GREETING=bonjour &&
	test "$(container_field $PROJECT-web "{{index .Config.Labels \"io.reconciler.commit\"}}")" = $good &&
	ids >before &&
	printf "kind: Service\nname: broken\nimage: $TEST_IMAGE\nplan: nope\n" >$M/broken.yaml &&
	repo_commit $M "broken" &&
	bad=$(git -C $M rev-parse HEAD) &&
	daemon_wait_log commits.log "commit $(echo $bad | cut -c1-12) is invalid" 30 &&
	test_grep "^broken.yaml:4:[0-9]*: " commits.log &&
	test_grep "$bad" $STATE/applied.json &&
	grep "\"action\":\"load\"" $STATE/journal.jsonl | test_grep "broken.yaml:4" &&
	sleep 3 && ids >after && test_cmp before after &&
	test_grep "\"last_good\":[[:space:]]*\"$good\"" $STATE/applied.json &&
	: status at the bad head shows its errors, at the good one the failed commit &&
	test_expect_code 1 $RC --state-dir $STATE --repo $M status >status.out 2>status.err &&
	test_grep "^broken.yaml:4:[0-9]*: " status.err &&
	$RC --state-dir $STATE --repo $M --rev $good status >status.out &&
	cat status.out &&
	test_grep "^failed commits (not tried again until a newer commit or .reconciler retry.):" status.out &&
	test_grep "^  $(echo $bad | cut -c1-12) [0-9T:-]*Z: .*broken.yaml:4" status.out &&
	$RC --state-dir $STATE --repo $M --rev $good status --json >status.json &&
	python3 -c "import json; f=json.load(open(\"status.json\"))[\"failed_commits\"]; assert [x[\"commit\"] for x in f] == [\"$bad\"] and \"broken.yaml:4\" in f[0][\"message\"], f" &&
	git -C $M rm -q broken.yaml &&
	sed -i "s/GREETING: bonjour/GREETING: hallo/" $M/settings.yaml && repo_commit $M "fixed" &&
	fixed=$(git -C $M rev-parse HEAD) &&
	daemon_wait_log commits.log "commit $(echo $fixed | cut -c1-12) converged" 30 &&
	container_field $PROJECT-web "{{.Config.Env}}" | test_grep GREETING=hallo
'

test_expect_success 'a restarted daemon does not retry the failed commit at the head' '
	test_when_finished daemon_kill &&
	printf "kind: Service\nname: broken\nimage: $TEST_IMAGE\nplan: nope\n" >$M/broken.yaml &&
	repo_commit $M "broken again" &&
	bad=$(git -C $M rev-parse HEAD) &&
	daemon_start failed-head.log --repo $M &&
	daemon_wait_log failed-head.log "is invalid" 30 &&
	daemon_stop &&
	daemon_start failed-head2.log --repo $M &&
	daemon_wait_log failed-head2.log "boot convergence complete" &&
	test_grep "head $(echo $bad | cut -c1-12) is marked failed" failed-head2.log &&
	! grep -q "is invalid" failed-head2.log &&
	git -C $M rm -q broken.yaml && repo_commit $M "unbroken" &&
	daemon_wait_log failed-head2.log "commit $(git -C $M rev-parse HEAD | cut -c1-12) converged" 30
'

test_expect_success 'docker kill: the container is restarted after the backoff and the reason logged' '
	test_when_finished daemon_kill &&
	daemon_start kill.log --repo $M &&
	daemon_wait_log kill.log "boot convergence complete" &&
	id=$(container_id $PROJECT-web) &&
	docker kill $PROJECT-web >/dev/null &&
	daemon_wait_log kill.log "unit web: killed (exit 137); repairing in" 30 &&
	daemon_wait_log kill.log "unit web is ready again" 30 &&
	test "$(container_field $PROJECT-web {{.State.Status}})" = running &&
	test "$(container_id $PROJECT-web)" = "$id" &&
	grep "\"action\":\"repair\"" $STATE/journal.jsonl | test_grep "\"unit\":\"web\""
'

test_expect_success 'docker rm -f: the container is recreated, dependents wait for it' '
	test_when_finished daemon_kill &&
	daemon_start rm.log --repo $M &&
	daemon_wait_log rm.log "boot convergence complete" &&
	old=$(container_id $PROJECT-db) &&
	docker rm -f $PROJECT-db >/dev/null &&
	# while the engine removes it the container may be seen "dead" first
	daemon_wait_log rm.log "unit db: \\(container removed\\|dead\\)" 30 &&
	daemon_wait_log rm.log "unit db is ready again" 60 &&
	test "$(container_field $PROJECT-db {{.State.Health.Status}})" = healthy &&
	test "$(container_id $PROJECT-db)" != "$old"
'

test_expect_success 'a push into a bare repository is noticed' '
	test_when_finished daemon_kill &&
	git clone -q --bare $M $TRASH/bare.git &&
	git clone -q $TRASH/bare.git $TRASH/clone &&
	git -C $TRASH/clone config user.email t@example.invalid && git -C $TRASH/clone config user.name t &&
	daemon_start bare.log --repo $TRASH/bare.git &&
	daemon_wait_log bare.log "boot convergence complete" &&
	sed -i "s/GREETING: hallo/GREETING: pushed/" $TRASH/clone/settings.yaml &&
	repo_commit $TRASH/clone "pushed" && git -C $TRASH/clone push -q origin main &&
	daemon_wait_log bare.log "commit $(git -C $TRASH/clone rev-parse HEAD | cut -c1-12) converged" 30 &&
	container_field $PROJECT-web "{{.Config.Env}}" | test_grep GREETING=pushed || { cat bare.log; false; }
'

test_expect_success 'SIGHUP re-reads the manifests; SIGTERM exits 0' '
	test_when_finished daemon_kill &&
	daemon_start hup.log --repo $TRASH/bare.git &&
	daemon_wait_log hup.log "boot convergence complete" &&
	kill -HUP $DPID &&
	daemon_wait_log hup.log "SIGHUP: converging to commit" 30 &&
	kill -0 $DPID &&
	daemon_stop &&
	test "$DEXIT" = 0 &&
	test_grep "stopped" hup.log
'

test_expect_success 'SIGTERM while waiting for an engine that does not answer exits 0' '
	test_when_finished daemon_kill &&
	{ "$RC" --state-dir $STATE --repo $M --docker-host unix://$TRASH/no.sock run >noengine.log 2>&1 </dev/null & } &&
	DPID=$! &&
	daemon_wait_log noengine.log "waiting for the docker engine" 30 &&
	daemon_stop &&
	test "$DEXIT" = 0
'

test_done
