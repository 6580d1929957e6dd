#!/bin/sh
test_description='swarm.sh: a single-node Swarm of the test'"'"'s own, a service with a health check on it, nothing left after swarm_stop'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/swarm.sh"

test_expect_success 'swarm_start: an engine of its own, a Swarm manager, the test image copied in' '
	swarm_start &&
	test_equal "$(sdocker info -f "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")" "active true" &&
	test_equal "$(sdocker node inspect -f "{{.Description.Hostname}}" "$SWARM_NODE")" rc-swarm &&
	sdocker image inspect "$TEST_IMAGE" >/dev/null &&
	: the main engine is not the one in the swarm &&
	test "$(docker info -f "{{.ID}}")" != "$(sdocker info -f "{{.ID}}")" &&
	test -S "${SWARM_HOST#unix://}" &&
	test -e "/var/run/netns/$SWARM_NETNS"
'

test_expect_success 'a service with the image'"'"'s health check runs healthy; what it publishes (mode=host) answers in the swarm'"'"'s namespace' '
	sdocker network create -d overlay --attachable --subnet "$(test_subnet 0 24)" \
		--label "$LABEL_PROJECT=$PROJECT" "${PROJECT}net" >/dev/null &&
	port=$(test_port 0) &&
	sdocker service create -d --name "${PROJECT}web" --label "$LABEL_PROJECT=$PROJECT" \
		--network "${PROJECT}net" --publish "mode=host,target=8080,published=$port" \
		--health-cmd "wget -q -O /dev/null http://127.0.0.1:8080/health" \
		--health-interval 1s --health-retries 3 --no-resolve-image "$TEST_IMAGE" >/dev/null &&
	wait_for "test \"\$(swarm_tasks ${PROJECT}web)\" = \"rc-swarm running\"" 60 &&
	task=$(sdocker service ps -q --filter desired-state=running "${PROJECT}web") &&
	test_equal "$(sdocker inspect -f "{{.NodeID}} {{.Status.State}}" $task)" "$SWARM_NODE running" &&
	cid=$(sdocker inspect -f "{{.Status.ContainerStatus.ContainerID}}" $task) &&
	wait_for "test \"\$(sdocker inspect -f {{.State.Health.Status}} $cid)\" = healthy" 60 &&
	test_equal "$(snet curl -fsS --max-time 5 "http://127.0.0.1:$port/version")" 1 &&
	: not on the host: the port lives in the namespace only &&
	test_must_fail curl -fsS --max-time 3 "http://127.0.0.1:$port/version"
'

test_expect_success '$SWARM_RC: reconciler in the swarm'"'"'s namespace against its engine' '
	mkdir m &&
	cat >m/all.yaml <<-EOF &&
	kind: Settings
	project: $PROJECT
	ports: {range: $TEST_PORTS}
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Plan
	name: small
	memory: 64M
	---
	kind: Template
	name: web
	services:
	  app:
	    image: $TEST_IMAGE
	    port: 8080
	---
	kind: Customer
	id: acme
	template: web
	plan: small
	port: $(test_port 1)
	EOF
	: plan exits 2 when there is something to do &&
	test_expect_code 2 env DOCKER_HOST=$SWARM_HOST "$RC" --dir m --state-dir "$TRASH/rcstate" plan >plan.out 2>plan.err &&
	test_grep "acme/app.*will be created" plan.out &&
	: a process, not a container, listens on the port in the swarm namespace: &&
	: reconciler run by SWARM_RC probes that namespace and sees it, from the host namespace it does not &&
	: "(nsenter, not snet: a function in the background is a subshell, its \$! not the listener)" &&
	{ nsenter --net="/var/run/netns/$SWARM_NETNS" socat "TCP-LISTEN:$(test_port 1),reuseaddr,fork" /dev/null \
		</dev/null >/dev/null 2>&1 7>&- 9>&- & } &&
	lpid=$! &&
	test_when_finished "kill $lpid" &&
	wait_for "snet curl -s --max-time 1 http://127.0.0.1:$(test_port 1)/; test \$? -ne 7" 10 &&
	test_must_fail $SWARM_RC --dir m --state-dir "$TRASH/rcstate" plan >plan2.out 2>plan2.err &&
	test_grep "conflict.*port $(test_port 1)" plan2.err &&
	test_expect_code 2 env DOCKER_HOST=$SWARM_HOST "$RC" --dir m --state-dir "$TRASH/rcstate" plan >plan3.out 2>plan3.err &&
	test_grep "acme/app.*will be created" plan3.out
'

test_expect_success 'swarm_stop leaves no process, namespace, mount, cgroup or file; a second call does nothing' '
	dir=$SWARM_DIR && ns=$SWARM_NETNS &&
	init=$(cat "$dir/e/init.pid") &&
	kill -0 "$init" &&
	swarm_stop &&
	test -z "$SWARM_HOST" &&
	test_must_fail kill -0 "$init" 2>/dev/null &&
	test_equal "$(swarm_procs_of "$dir")" "" &&
	test ! -e "$dir" &&
	test ! -e "/var/run/netns/$ns" &&
	test_must_fail grep -F "$dir" /proc/self/mountinfo &&
	test_must_fail ls -d /sys/fs/cgroup/$ns /sys/fs/cgroup/*/$ns 2>/dev/null &&
	swarm_stop
'

test_expect_success 'a script that ends without swarm_stop (or is killed) leaves nothing: the exit handler stops it' '
	cat >child.sh <<-EOF &&
	. "$RC_TOP/tests/lib/test-lib.sh"
	. "$RC_TOP/tests/lib/swarm.sh"
	test_expect_success "start" "swarm_start - && echo \\\$SWARM_DIR \\\$SWARM_NETNS >$TRASH/child.env"
	test_expect_success "hang" "wait_for false 60"
	test_done
	EOF
	{ RC_TOP=$RC_TOP sh child.sh >child.out 2>&1 </dev/null & } &&
	child=$! &&
	wait_for "test -s child.env" 60 &&
	read dir ns <child.env &&
	test -S "$dir/e/sock" &&
	kill -TERM $child &&
	wait_for "test ! -e $dir" 30 &&
	test ! -e "/var/run/netns/$ns" &&
	test_must_fail ls -d /sys/fs/cgroup/$ns /sys/fs/cgroup/*/$ns 2>/dev/null
'

test_expect_success 'a script KILLed: its engine dies with it; the next swarm_start sweeps what it left' '
	rm -f child.env &&
	{ RC_TOP=$RC_TOP sh child.sh >child2.out 2>&1 </dev/null & } &&
	child=$! &&
	wait_for "test -s child.env" 60 &&
	read dir ns <child.env &&
	kill -KILL $child &&
	wait_for "test -z \"\$(swarm_procs_of $dir)\"" 30 &&
	: its directory is left "(unless a run beside this one swept it already: any swarm_start does)" &&
	test_when_finished "swarm_stop" &&
	swarm_start - &&
	test ! -e "$dir" &&
	test ! -e "/var/run/netns/$ns" &&
	test_must_fail ls -d /sys/fs/cgroup/$ns /sys/fs/cgroup/*/$ns 2>/dev/null
'

test_done
