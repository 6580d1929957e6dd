#!/bin/sh
test_description='engine: swarm (issue 16) on a one-node swarm of the test'"'"'s own (a second dockerd):
units become services in dependency order, gated on their tasks running healthy; an update is a
service update; a secret is a Swarm secret named by content; a change or a removal made by hand is
seen by plan and drift and put back by apply; a customer removed takes its services and network;
a failing health check fails the unit and skips its dependents; status shows nodes and tasks;
the daemon converges at boot, puts back a service removed by hand, rolls a failing commit back'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/swarm.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
P_A=$(test_port 0)
P_B=$(test_port 1)

write_manifests() {
	mkdir -p $M &&
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	engine: swarm
	project: $PROJECT
	ports: {range: $TEST_PORTS}
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Plan
	name: small
	memory: 64M
	publish: host
	rollout: {monitor: 1s}
	---
	kind: Network
	name: backend
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	env: {ROLE: db}
	networks: [backend]
	secrets: [db_password]
	plan: small
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
	---
	kind: Template
	name: web
	services:
	  app:
	    image: $TEST_IMAGE
	    port: 8080
	    networks: [backend]
	    depends_on: {db: healthy}
	    health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
	  worker:
	    image: $TEST_IMAGE
	    env: {MODE: sleep}
	    replicas: 2
	    depends_on: {app: healthy}
	---
	kind: Customer
	id: alpha
	template: web
	plan: small
	port: $P_A
	---
	kind: Customer
	id: beta
	template: web
	plan: small
	port: $P_B
	EOT
}

# rcs ARGS: reconciler against the test's swarm
rcs() {
	DOCKER_HOST=$SWARM_HOST $RC "$@"
}

svc_field() {
	sdocker service inspect -f "$2" "$PROJECT-$1"
}

# running_tasks SERVICE: how many tasks of the service run
running_tasks() {
	sdocker service ps -q --filter desired-state=running "$PROJECT-$1" | while read -r t; do
		sdocker inspect -f '{{.Status.State}}' "$t"
	done | grep -c '^running$'
}

test_expect_success 'setup: a swarm of our own, manifests with engine: swarm, a secret' '
	swarm_start &&
	mkdir -p "$STATE/secrets" && chmod 700 "$STATE" "$STATE/secrets" &&
	printf "s3cret-1" >"$STATE/secrets/db_password" && chmod 600 "$STATE/secrets/db_password" &&
	repo_init $M &&
	write_manifests &&
	repo_commit $M "initial"
'

test_expect_success 'the main engine is no swarm manager: a clear error, nothing done' '
	test_expect_code 1 $RC --repo $M plan 2>err &&
	test_grep "engine: swarm, but this engine is not a swarm manager" err
'

test_expect_success 'plan shows a service per unit and the overlay networks' '
	test_expect_code 2 rcs --repo $M plan >plan.out 2>&1 &&
	test_grep "+ *db ($PROJECT-db) will be created" plan.out &&
	test_grep "+ *alpha/app ($PROJECT-alpha-app) will be created" plan.out &&
	test_grep "+ *beta/worker ($PROJECT-beta-worker) will be created" plan.out &&
	test_grep "+ *network $PROJECT-alpha will be created" plan.out
'

test_expect_success 'apply creates the services in dependency order, each waited for' '
	rcs --repo $M apply >apply.out 2>&1 || { cat apply.out; false; } &&
	test "$(running_tasks db)" = 1 &&
	test "$(running_tasks alpha-app)" = 1 &&
	test "$(running_tasks alpha-worker)" = 2 &&
	test "$(svc_field alpha-app "{{index .Spec.Labels \"io.reconciler.unit\"}}")" = alpha/app &&
	test "$(svc_field alpha-worker "{{.Spec.Mode.Replicated.Replicas}}")" = 2 &&
	test "$(sdocker network inspect -f "{{.Driver}} {{.Attachable}}" $PROJECT-alpha)" = "overlay true" &&
	grep -n "^ok .* db\|^ok .* alpha/app\|^ok .* alpha/worker" apply.out >order &&
	head -1 order | grep " db" &&
	tail -1 order | grep "worker" &&
	rcs --repo $M plan >plan2.out 2>&1 &&
	test_grep "No changes" plan2.out
'

test_expect_success 'the app answers on its published port; the secret is a Swarm secret named by content' '
	wait_for "snet curl -sf --max-time 2 http://127.0.0.1:$P_A/health" 30 &&
	sdocker secret ls --filter label=io.reconciler.project=$PROJECT --format "{{.Name}}" >secrets &&
	grep "^$PROJECT-db_password-" secrets &&
	test "$(svc_field db "{{(index .Spec.TaskTemplate.ContainerSpec.Secrets 0).SecretName}}")" = "$(cat secrets)"
'

# task_container SERVICE: the container of one running task of the service
task_container() {
	sdocker ps -q --filter "label=com.docker.swarm.service.name=$PROJECT-$1" | head -1
}

test_expect_success 'a customer reaches the shared db by its name; not another customer (isolation)' '
	c=$(task_container alpha-app) &&
	test -n "$c" &&
	wait_for "sdocker exec $c timeout 3 wget -q -O /dev/null http://db:8080/health" 30 &&
	test_expect_code 1 sdocker exec $c sh -c "timeout 3 wget -q -O /dev/null http://$PROJECT-beta-app:8080/health || exit 1" &&
	test_expect_code 1 sdocker exec $c sh -c "timeout 3 wget -q -O /dev/null http://tasks.$PROJECT-beta-app:8080/health || exit 1"
'

test_expect_success 'a changed env is one service update: same service, new tasks, old secret pruned after a new one' '
	id=$(svc_field db "{{.ID}}") &&
	sdocker secret ls --filter label=io.reconciler.project=$PROJECT --format "{{.Name}}" >old-secret &&
	sed -i "s/env: {ROLE: db}/env: {ROLE: db, V: \"2\"}/" $M/settings.yaml &&
	printf "s3cret-2" >"$STATE/secrets/db_password" &&
	repo_commit $M "db: V=2, new password" &&
	test_expect_code 2 rcs --repo $M plan >plan.out 2>&1 &&
	test_grep "db" plan.out &&
	rcs --repo $M apply >apply.out 2>&1 || { cat apply.out; false; } &&
	test "$(svc_field db "{{.ID}}")" = "$id" &&
	svc_field db "{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{.}} {{end}}" | grep "V=2" &&
	test "$(running_tasks db)" = 1 &&
	sdocker secret ls --filter label=io.reconciler.project=$PROJECT --format "{{.Name}}" >secrets &&
	test "$(wc -l <secrets)" = 1 &&
	! cmp -s secrets old-secret
'

test_expect_success 'a service changed by hand: plan and drift say so, apply puts it back' '
	sdocker service update -d --env-add HAND=1 $PROJECT-beta-app >/dev/null &&
	test_expect_code 2 rcs --repo $M plan >plan.out 2>&1 &&
	test_grep "beta/app" plan.out &&
	test_expect_code 2 rcs --repo $M drift >drift.out 2>&1 &&
	test_grep "swarm.changed_by_hand" drift.out &&
	rcs --repo $M apply >apply.out 2>&1 || { cat apply.out; false; } &&
	! svc_field beta-app "{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{.}} {{end}}" | grep HAND &&
	rcs --repo $M drift >drift.out 2>&1 || { cat drift.out; false; }
'

test_expect_success 'a service removed by hand is missing in drift; apply makes it again' '
	sdocker service rm $PROJECT-beta-worker >/dev/null &&
	test_expect_code 2 rcs --repo $M drift >drift.out 2>&1 &&
	test_grep "missing" drift.out &&
	rcs --repo $M apply >apply.out 2>&1 || { cat apply.out; false; } &&
	test "$(running_tasks beta-worker)" = 2
'

test_expect_success 'status shows the nodes and where each task runs' '
	rcs --repo $M status >st.out 2>&1 || { cat st.out; false; } &&
	test_grep "^nodes:" st.out &&
	test_grep "manager (leader), ready, active" st.out &&
	grep "^  alpha/worker .*running; .*running" st.out &&
	test_expect_code 0 rcs --repo $M status --json >st.json 2>st.err &&
	python3 -c "
import json
d = json.load(open(\"st.json\"))
n = d[\"swarm\"][\"nodes\"]
assert len(n) == 1 and n[0][\"role\"] == \"manager\" and n[0][\"leader\"] and n[0][\"state\"] == \"ready\", n
u = {x[\"unit\"]: x for x in d[\"units\"]}
t = u[\"alpha/worker\"][\"tasks\"]
assert len(t) == 2 and all(x[\"state\"] == \"running\" and x[\"node_id\"] == n[0][\"id\"] for x in t), t
"
'

test_expect_success 'a failing health check fails the unit and skips its dependents; nothing else moves' '
	cat >>$M/settings.yaml <<-EOT &&
	---
	kind: Template
	name: broken
	services:
	  app:
	    image: $TEST_IMAGE
	    health: {cmd: "false", interval: 1s, timeout: 1s, retries: 1}
	  worker:
	    image: $TEST_IMAGE
	    depends_on: {app: healthy}
	---
	kind: Customer
	id: gamma
	template: broken
	EOT
	repo_commit $M "gamma: broken" &&
	test_expect_code 1 rcs --repo $M apply >apply.out 2>&1 &&
	test_grep "gamma/app" apply.out &&
	grep "gamma/worker" apply.out | grep -i "skip\|dependency" &&
	! sdocker service inspect $PROJECT-gamma-worker >/dev/null 2>&1 &&
	test "$(running_tasks alpha-app)" = 1
'

test_expect_success 'customers removed: their services and networks go, the shared db stays' '
	python3 - "$M/settings.yaml" <<-\EOF &&
	import sys
	p = sys.argv[1]
	docs = open(p).read().split("\n---\n")
	keep = [d for d in docs if "id: gamma" not in d and "name: broken" not in d and "id: beta" not in d]
	open(p, "w").write("\n---\n".join(keep))
	EOF
	repo_commit $M "beta and gamma gone" &&
	rcs --repo $M apply >apply.out 2>&1 || { cat apply.out; false; } &&
	! sdocker service inspect $PROJECT-beta-app >/dev/null 2>&1 &&
	! sdocker service inspect $PROJECT-gamma-app >/dev/null 2>&1 &&
	! sdocker network inspect $PROJECT-beta >/dev/null 2>&1 &&
	test "$(running_tasks db)" = 1
'

test_expect_success 'the daemon converges at boot, puts back a service removed by hand, rolls a failing commit back' '
	test_when_finished daemon_kill &&
	sdocker service rm $PROJECT-alpha-worker >/dev/null &&
	daemon_start d.log --docker-host $SWARM_HOST --repo $M &&
	daemon_wait_log d.log "boot convergence complete" 120 &&
	test "$(running_tasks alpha-worker)" = 2 &&
	sdocker service rm $PROJECT-alpha-worker >/dev/null &&
	daemon_wait_log d.log "swarm check: put back what changed outside Git" 60 &&
	wait_for "test \"\$(running_tasks alpha-worker)\" = 2" 60 &&
	good=$(svc_field alpha-app "{{index .Spec.Labels \"io.reconciler.hash\"}}") &&
	sed -i "s|    health: {cmd: \"wget -q -O /dev/null http://127.0.0.1:8080/health\", interval: 1s, timeout: 2s, retries: 10}|    health: {cmd: \"test -e /nonexistent\", interval: 1s, timeout: 1s, retries: 1}|" $M/settings.yaml &&
	grep "nonexistent" $M/settings.yaml &&
	repo_commit $M "app: a health check that fails" &&
	daemon_wait_log d.log "rollout of .* failed" 120 &&
	daemon_wait_log d.log "rolled back to" 120 &&
	test "$(svc_field alpha-app "{{index .Spec.Labels \"io.reconciler.hash\"}}")" = "$good" &&
	wait_for "test \"\$(running_tasks alpha-app)\" = 1" 60
'

test_done
