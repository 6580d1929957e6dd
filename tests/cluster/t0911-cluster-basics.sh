#!/bin/sh
test_description='a three-node swarm with the docker CLI only: an overlay across the nodes, a service pinned by node label, drain, a node killed and started again (the recipe the Swarm executor is tested against)'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/cluster.sh"

# wait (bounded) until cluster_tasks SERVICE prints EXPECT (lines joined by ",")
wait_tasks() {
	wait_for "test \"\$(cluster_tasks $1 | paste -sd,)\" = \"$2\"" "${3:-90}" ||
		{ cluster_tasks "$1"; cdocker 1 service ps "$1"; false; }
}

NET=${PROJECT}net
A=${PROJECT}a
B=${PROJECT}b

test_expect_success 'a cluster of three, an attachable overlay network from the run'"'"'s pool' '
	cluster_start 3 &&
	cdocker 1 network create -d overlay --attachable --subnet "$(test_subnet 0 24)" \
		--label "$LABEL_PROJECT=$PROJECT" "$NET" >/dev/null &&
	test_equal "$(cdocker 1 network inspect -f "{{.Driver}} {{.Attachable}} {{(index .IPAM.Config 0).Subnet}}" "$NET")" \
		"overlay true $(test_subnet 0 24)"
'

test_expect_success 'a service pinned by node.labels.rc.node==n2 runs on n2, healthy, published there (mode=host)' '
	port=$(test_port 0) &&
	cdocker 1 service create -d --name "$A" --label "$LABEL_PROJECT=$PROJECT" --no-resolve-image \
		--network "$NET" --constraint "node.labels.rc.node==n2" \
		--publish "mode=host,target=8080,published=$port" \
		--health-cmd "wget -q -O /dev/null http://127.0.0.1:8080/health" --health-interval 1s \
		"$TEST_IMAGE" >/dev/null &&
	wait_tasks "$A" "rc-n2 running" &&
	task=$(cdocker 1 service ps -q --filter desired-state=running "$A") &&
	test_equal "$(cdocker 1 inspect -f {{.NodeID}} $task)" "$(cluster_node_id 2)" &&
	cid=$(cdocker 1 inspect -f "{{.Status.ContainerStatus.ContainerID}}" $task) &&
	wait_for "test \"\$(cdocker 2 inspect -f {{.State.Health.Status}} $cid)\" = healthy" 60 &&
	test_equal "$(cnet 2 curl -fsS --max-time 5 "http://$(cluster_node_ip 2):$port/version")" 1 &&
	: published on n2 only &&
	test_must_fail cnet 3 curl -fsS --max-time 5 "http://$(cluster_node_ip 3):$port/version"
'

test_expect_success 'a container on n1 reaches the task on n2 over the overlay (VXLAN between the namespaces; tasks.NAME, no VIP without IPVS)' '
	cdocker 1 run --rm --network "$NET" --label "$LABEL_PROJECT=$PROJECT" "$TEST_IMAGE" \
		sh -c "timeout 10 wget -q -O- http://tasks.$A:8080/version" >version &&
	test_equal "$(cat version)" 1
'

test_expect_success 'drain n2: the spread service moves to n3; the pinned one has nowhere to go' '
	cdocker 1 service create -d --name "$B" --label "$LABEL_PROJECT=$PROJECT" --no-resolve-image \
		--network "$NET" --replicas 2 --constraint "node.role==worker" \
		--placement-pref "spread=node.labels.rc.node" --publish "mode=host,target=8080" \
		"$TEST_IMAGE" >/dev/null &&
	wait_tasks "$B" "rc-n2 running,rc-n3 running" &&
	cluster_drain_node 2 &&
	test_equal "$(cdocker 1 node inspect -f {{.Spec.Availability}} "$(cluster_node_id 2)")" drain &&
	wait_tasks "$B" "rc-n3 running,rc-n3 running" &&
	wait_tasks "$A" "- pending" &&
	test_equal "$(cdocker 2 ps -q --filter "label=com.docker.swarm.service.name=$B")" ""
'

test_expect_success 'kill n3: the manager marks it down, its tasks are rescheduled on n2' '
	cdocker 1 node update --availability active "$(cluster_node_id 2)" >/dev/null &&
	wait_tasks "$A" "rc-n2 running" &&
	cluster_kill_node 3 &&
	wait_for "test \"\$(cdocker 1 node inspect -f {{.Status.State}} $(cluster_node_id 3))\" = down" 90 &&
	wait_tasks "$B" "rc-n2 running,rc-n2 running" &&
	test_equal "$(cdocker 1 node inspect -f "{{.Status.State}} {{.Spec.Availability}}" "$(cluster_node_id 2)")" "ready active" &&
	test_must_fail cdocker 3 info >/dev/null 2>&1
'

test_expect_success 'n3 started again rejoins, ready and empty: Swarm does not move tasks back' '
	cluster_start_node 3 &&
	test_equal "$(cdocker 3 info -f "{{.Swarm.NodeID}} {{.Swarm.LocalNodeState}}")" "$(cluster_node_id 3) active" &&
	wait_for "test -z \"\$(cdocker 3 ps -q)\"" 30 &&
	test_equal "$(cluster_tasks "$B" | paste -sd,)" "rc-n2 running,rc-n2 running"
'

test_expect_success 'cluster_stop after a node was killed leaves nothing' '
	dir=$CLUSTER_DIR && tag=${CLUSTER_DIR##*/} &&
	cluster_stop &&
	test_equal "$(swarm_procs_of "$dir")" "" &&
	ip netns list >netns &&
	test_must_fail grep -F "$tag" netns &&
	test_must_fail ls -d /sys/fs/cgroup/$tag-* /sys/fs/cgroup/*/$tag-* 2>/dev/null &&
	test_equal "$(ls -d "$dir" 2>/dev/null)" ""
'

test_done
