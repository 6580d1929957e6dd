#!/bin/sh
test_description='cluster.sh: three engines in network namespaces of their own joined into one swarm; cluster_stop leaves nothing'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/cluster.sh"

test_expect_success 'cluster_start 3: a manager and two workers, ready, labelled and named in order' '
	ip -o link >links.before &&
	cluster_start 3 &&
	test_equal "$CLUSTER_SIZE" 3 &&
	test_equal "$(echo $CLUSTER_NODES | wc -w)" 3 &&
	test_equal "$CLUSTER_HOST" "unix://$CLUSTER_DIR/n1/sock" &&
	cdocker 1 node ls --format "{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}" | sort >nodes &&
	printf "%s\n" "rc-n1 Ready Active Leader" "rc-n2 Ready Active " "rc-n3 Ready Active " >expect &&
	test_cmp expect nodes &&
	for i in 1 2 3; do
		id=$(cluster_node_id $i) &&
		test_equal "$(cdocker 1 node inspect -f "{{index .Spec.Labels \"rc.node\"}} {{.Description.Hostname}} {{.Status.Addr}}" $id)" \
			"n$i rc-n$i $(cluster_node_ip $i)" &&
		test_equal "$(cdocker $i info -f {{.Swarm.NodeID}})" "$id" &&
		cdocker $i image inspect "$TEST_IMAGE" >/dev/null || return 1
	done &&
	: every engine its own, none the main one &&
	docker info -f "{{.ID}}" >ids &&
	for i in 1 2 3; do cdocker $i info -f "{{.ID}}" >>ids || return 1; done &&
	test_equal "$(sort -u ids | wc -l)" 4
'

test_expect_success 'the nodes reach each other on the private link, no link of theirs is in the host namespace' '
	cnet 2 ip -o -4 addr show dev eth0 >addr2 &&
	test_grep " $(cluster_node_ip 2)/24 " addr2 &&
	: no default route in a node: nothing leaves the namespaces &&
	cnet 2 ip route >route2 &&
	test_must_fail grep "^default" route2 &&
	: n2 connects to the manager port of n1 "(curl: 7 refused, 28 timed out, anything else connected)" &&
	code=$(cnet 2 curl -s --max-time 5 -o /dev/null "http://$(cluster_node_ip 1):$(test_port 43)/" >/dev/null 2>&1; echo $?) &&
	test "$code" != 7 && test "$code" != 28 &&
	: no link of the cluster is in the host namespace, so the host has no way in "(and on the test" &&
	: machines an HTTP proxy on the default route answers any address: no curl from the host here")" &&
	ip -o link >links.now &&
	for i in 1 2 3; do
		mac=$(cnet $i ip -o link show eth0 | sed "s/.*link\/ether \([^ ]*\) .*/\1/") &&
		hub=$(ip -n ${CLUSTER_DIR##*/}-h -o link show v$i | sed "s/.*link\/ether \([^ ]*\) .*/\1/") &&
		echo "$mac $hub" | grep -q "^..:..:..:..:..:.. ..:..:..:..:..:..$" &&
		test_must_fail grep -F -e "$mac" -e "$hub" links.now || return 1
	done
'

test_expect_success 'cluster_stop leaves no process, namespace, link, mount, cgroup or file; a second call does nothing' '
	dir=$CLUSTER_DIR && tag=${CLUSTER_DIR##*/} &&
	swarm_procs_of "$dir" >procs &&
	test -s procs &&
	cluster_stop &&
	test_equal "$CLUSTER_HOST$CLUSTER_NODES" "" &&
	test_equal "$(swarm_procs_of "$dir")" "" &&
	ip netns list >netns &&
	test_must_fail grep -F "$tag" netns &&
	test_must_fail grep -F "$dir" /proc/self/mountinfo &&
	mount >mounts &&
	test_must_fail grep -F "$tag" mounts &&
	test_must_fail ls -d /sys/fs/cgroup/$tag-* /sys/fs/cgroup/*/$tag-* 2>/dev/null &&
	test_equal "$(ls -d "$dir" 2>/dev/null)" "" &&
	ip -o link >links.after &&
	sed "s/^[0-9]*: //" links.before | cut -d" " -f1 | sort >names.before &&
	sed "s/^[0-9]*: //" links.after | cut -d" " -f1 | sort >names.after &&
	comm -13 names.before names.after >new.links &&
	test_must_fail grep -E "^(v[0-9]|br0|eth0|docker_gwbridge)" new.links &&
	cluster_stop
'

test_done
