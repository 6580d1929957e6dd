#!/bin/sh
test_description='tenant isolation below IP routing: a shared service on two customers'"'"' link
networks routes nothing between them, so frames one customer sends to its MAC never reach the other'
. "$(dirname "$0")/../lib/test-lib.sh"

M=$TRASH/repo

# net_field CONTAINER NETWORK FIELD: the container's IPAddress or MacAddress on NETWORK.
net_field() {
	docker inspect -f "{{(index .NetworkSettings.Networks \"$2\").$3}}" "$1"
}

# udp_noports CONTAINER: UDP datagrams its network namespace got for no socket.
udp_noports() {
	docker exec "$1" sh -c "grep ^Udp: /proc/net/snmp | tail -1" | awk "{print \$3}"
}

# inject FROM NETWORK TO_IP: five UDP datagrams sent from container FROM's
# address on NETWORK to TO_IP, as Ethernet frames to the db's MAC on NETWORK.
# What FROM's code can do with a raw socket (NET_RAW is one of Docker's
# default capabilities); the host sends from FROM's network namespace.
inject() {
	pid=$(docker inspect -f {{.State.Pid}} $1) &&
	src=$(net_field $1 $2 IPAddress) &&
	iface=$(nsenter -t $pid -n ip -o -4 addr show | awk -v a="$src" 'index($4, a "/") == 1 {print $2}') &&
	test -n "$iface" &&
	mac=$(net_field $PROJECT-db $2 MacAddress) &&
	nsenter -t $pid -n python3 "$RC_TOP/tests/lib/udp-inject.py" $iface $mac $src $3 9999
}

# The shared network is not internal: an internal network's own iptables
# rules drop a frame addressed beyond its subnet at the first bridge (with
# br_netfilter), which hides what the db does with it.
test_expect_success 'setup: a shared db on a plain network that the template names, two customers' '
	repo_init $M &&
	cat >$M/settings.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Network
	name: backend
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	networks: [backend]
	stop_grace_period: 1s
	---
	kind: Template
	name: web
	services:
	  app:
	    image: $TEST_IMAGE
	    networks: [backend]
	    stop_grace_period: 1s
	---
	kind: Customer
	id: alpha
	template: web
	---
	kind: Customer
	id: beta
	template: web
	EOT
	repo_commit $M initial &&
	$RC --repo $M apply >out 2>&1 || { cat out; false; }
'

# A network namespace inherits the host's ip_forward, 1 wherever Docker runs.
test_expect_success 'no container of the project forwards between its networks' '
	for c in db alpha-app beta-app; do
		test "$(docker exec $PROJECT-$c cat /proc/sys/net/ipv4/ip_forward)" = 0 || return 1
	done
'

test_expect_success 'frames alpha sends through the db to beta never reach beta (the db gets its own)' '
	db_ip=$(net_field $PROJECT-db $PROJECT-alpha-via-backend IPAddress) &&
	beta_ip=$(net_field $PROJECT-beta-app $PROJECT-beta-via-backend IPAddress) &&
	beta_before=$(udp_noports $PROJECT-beta-app) &&
	db_before=$(udp_noports $PROJECT-db) &&
	inject $PROJECT-alpha-app $PROJECT-alpha-via-backend $beta_ip &&
	inject $PROJECT-alpha-app $PROJECT-alpha-via-backend $db_ip &&
	wait_for "test \$(udp_noports $PROJECT-db) -ge $((db_before + 5))" 10 &&
	test "$(udp_noports $PROJECT-beta-app)" = "$beta_before"
'

test_done
