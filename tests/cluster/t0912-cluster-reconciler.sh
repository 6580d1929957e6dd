#!/bin/sh
test_description='engine: swarm on three nodes (issue 16; make test-cluster): reconciler converges
customers over the cluster, a customer pinned by placement lands on its node (the db on the manager, alpha on n2), a node drained moves its
tasks and status says where they went, a node killed has its tasks rescheduled while drift says what
is not running yet, and a customer on another node reaches the shared db over the overlay'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/cluster.sh"

M=$TRASH/repo

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
	rollout: {monitor: 1s}
	---
	kind: Plan
	name: pinned
	memory: 64M
	rollout: {monitor: 1s}
	placement: {constraints: [node.labels.rc.node==n2]}
	---
	kind: Network
	name: backend
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	networks: [backend]
	plan: small
	placement: {constraints: [node.labels.rc.node==n1]}
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
	---
	kind: Template
	name: web
	services:
	  app:
	    image: $TEST_IMAGE
	    networks: [backend]
	    replicas: 2
	    depends_on: {db: healthy}
	    health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
	---
	kind: Customer
	id: alpha
	template: web
	plan: pinned
	---
	kind: Customer
	id: beta
	template: web
	plan: small
	EOT
}

rcc() {
	DOCKER_HOST=$CLUSTER_HOST $RC "$@"
}

# nodes_of SERVICE: the rc.node labels of the nodes its running tasks are on, sorted
nodes_of() {
	for t in $(cdocker 1 service ps -q --filter desired-state=running "$PROJECT-$1"); do
		n=$(cdocker 1 inspect -f '{{.NodeID}} {{.Status.State}}' "$t")
		[ "${n#* }" = running ] || continue
		cdocker 1 node inspect -f '{{index .Spec.Labels "rc.node"}}' "${n% *}"
	done | sort
}

test_expect_success 'setup: three nodes, manifests, apply' '
	cluster_start 3 &&
	repo_init $M &&
	write_manifests &&
	repo_commit $M "initial" &&
	rcc --repo $M apply >apply.out 2>&1 || { cat apply.out; false; }
'

test_expect_success 'placement: the db on n1, alpha on n2 only, beta anywhere' '
	test "$(nodes_of db)" = n1 &&
	test "$(nodes_of alpha-app | uniq)" = n2 &&
	test "$(nodes_of alpha-app | wc -l)" = 2 &&
	test "$(nodes_of beta-app | wc -l)" = 2
'

test_expect_success 'a task on a worker reaches the db on the manager over the overlay' '
	c=$(cdocker 2 ps -q --filter "label=com.docker.swarm.service.name=$PROJECT-alpha-app" | head -1) &&
	test -n "$c" &&
	wait_for "cdocker 2 exec $c timeout 3 wget -q -O /dev/null http://db:8080/health" 30
'

test_expect_success 'status: three nodes, each task with its node' '
	rcc --repo $M status >st.out 2>&1 || { cat st.out; false; } &&
	test "$(grep -c " worker, ready, active\| manager (leader), ready, active" st.out)" = 3 &&
	grep "^  alpha/app .*rc-n2/.* running; .*rc-n2/.* running" st.out
'

test_expect_success 'drain n3: its tasks move; no drift, status shows them elsewhere' '
	cluster_drain_node 3 &&
	wait_for "! nodes_of beta-app | grep n3 && test \"\$(nodes_of beta-app | wc -l)\" = 2" 60 &&
	rcc --repo $M drift >drift.out 2>&1 || { cat drift.out; false; } &&
	rcc --repo $M status >st.out 2>&1 &&
	grep "rc-n3/.* worker, ready, drain" st.out &&
	! grep "^  beta/app .*rc-n3/" st.out
'

test_expect_success 'kill n2: beta is rescheduled, alpha (pinned there) cannot run: drift says so, status shows n2 down' '
	cluster_kill_node 2 &&
	wait_for "rcc --repo $M status 2>/dev/null | grep -q \"rc-n2/.* worker, down\"" 60 &&
	wait_for "test_expect_code 2 rcc --repo $M drift >drift.out 2>&1 && grep -q \"alpha/app .*tasks: Up 0/2\" drift.out" 60 &&
	wait_for "test \"\$(nodes_of beta-app | wc -l)\" = 2" 60 &&
	test_expect_code 2 rcc --repo $M drift >drift.out 2>&1 &&
	cat drift.out &&
	grep "alpha/app .*tasks: Up 0/2" drift.out &&
	! grep "beta/app\|^. db" drift.out
'

test_expect_success 'beta and the db are untouched by it; a new commit for beta converges without n2' '
	test "$(nodes_of db)" = n1 &&
	sed -i "s/^id: beta$/id: beta\nenv: {V: \"2\"}/" $M/settings.yaml &&
	repo_commit $M "beta: V=2" &&
	rcc --repo $M apply >apply.out 2>&1 || { cat apply.out; false; } &&
	grep "beta/app .*2/2 running" apply.out &&
	test "$(nodes_of beta-app | wc -l)" = 2
'

test_done
