#!/bin/sh
test_description='40 customers, each with its own network, converge in one apply on one engine:
every customer subnet from the configured pool and distinct (Docker'"'"'s default pools hold
about 30 bridge networks), then zero mutating calls, then removing them all removes the
40 networks and frees every allocation'
. "$(dirname "$0")/../lib/test-lib.sh"

N=40
base=$TEST_PORT_BASE
pool=$TEST_POOL
M=$TRASH/repo
CONVERGED="python3 $RC_TOP/tests/lib/converged.py"
ENGINE=${DOCKER_HOST:-unix:///var/run/docker.sock}
ENGINE_SOCK=${ENGINE#unix://}
INFLIGHT="python3 $RC_TOP/tests/lib/inflight.py"

# proxy_start LOG: the engine behind a proxy that logs every request (tests/lib/sockproxy.py),
# at unix://$TRASH/engine.sock; sets PROXY (the pid; kill it when done).
proxy_start() {
	rm -f $TRASH/engine.sock &&
	python3 "$RC_TOP/tests/lib/sockproxy.py" $TRASH/engine.sock $ENGINE_SOCK "$1" &
	PROXY=$!
	wait_for "curl -fsS --max-time 2 --unix-socket $TRASH/engine.sock http://localhost/_ping >/dev/null 2>&1" 20
}

count_ctrs() {
	docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT | wc -l
}
count_nets() {
	docker network ls -q --filter label=$LABEL_PROJECT=$PROJECT | wc -l
}
# stat NAME: the count of Docker API calls of kind NAME in stats.out (0 if absent)
stat() {
	awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' stats.out
}

test_expect_success "setup: $N customers of a one-service template, port: auto" '
	repo_init $M && mkdir -p $M/customers &&
	cat >$M/settings.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	ports: {range: $base-$((base + 49))}
	subnets: {pool: $pool, size: 28}
	---
	kind: Template
	name: tiny
	services:
	  app:
	    image: $TEST_IMAGE
	    port: 8080
	EOT
	i=1 &&
	while [ $i -le $N ]; do
		printf "kind: Customer\nid: c%02d\ntemplate: tiny\nport: auto\n" $i >$M/customers/c$i.yaml &&
		i=$((i + 1)) || return 1
	done &&
	repo_commit $M "$N customers" &&
	$RC --repo $M render --json >render.json &&
	test "$(grep -c "\"order\":" render.json)" = $N
'

test_expect_success "one apply converges $N customers, $N networks" '
	: through a proxy that logs the requests, to see the network creates run side by side &&
	proxy_start $TRASH/requests.log &&
	test_when_finished "kill $PROXY" &&
	$RC --docker-host unix://$TRASH/engine.sock --repo $M apply --stats >apply.out 2>stats.out &&
	cat stats.out &&
	test "$(grep -c "^req [0-9]* POST .*/networks/create" requests.log)" = $N &&
	test "$($INFLIGHT requests.log POST /networks/create)" -ge 2 &&
	test "$(stat create)" = $N &&
	test "$(stat start)" = $N &&
	test "$(stat network-create)" = $N &&
	test "$(count_ctrs)" = $N &&
	test "$(count_nets)" = $N &&
	$CONVERGED render.json $STATE $pool >conv.out &&
	cat conv.out &&
	test_grep "$N pool subnets" conv.out &&
	test_grep "$N host ports" conv.out
'

test_expect_success 'every customer subnet is a distinct /28 of the pool' '
	docker network inspect -f "{{(index .IPAM.Config 0).Subnet}}" \
		$(docker network ls -q --filter label=$LABEL_PROJECT=$PROJECT) | sort >subnets &&
	test "$(wc -l <subnets)" = $N &&
	test "$(sort -u subnets | wc -l)" = $N &&
	python3 -c "import ipaddress, sys; p = ipaddress.ip_network(sys.argv[1]); bad = [s for s in open(sys.argv[2]).read().split() if not s.endswith(\"/28\") or not ipaddress.ip_network(s).subnet_of(p)]; print(\"not /28s of\", p, bad); sys.exit(bool(bad))" $pool subnets
'

test_expect_success 'a second apply makes zero mutating calls' '
	$RC --repo $M apply --stats >again.out 2>stats.out &&
	cat stats.out &&
	test_grep "^No changes" again.out &&
	test_grep "(0 mutating)" stats.out
'

test_expect_success "drift over $N units: none, then exactly the two changed by hand" '
	$RC --repo $M drift >drift.out &&
	test_grep "^No drift" drift.out &&
	: one container in each half of the units, compared on two threads &&
	docker update --cpus 0.5 $PROJECT-c03-app >/dev/null &&
	docker update --pids-limit 77 $PROJECT-c38-app >/dev/null &&
	test_expect_code 2 $RC --repo $M drift >drift.out &&
	test_grep "^Drift: 2 changed\.$" drift.out &&
	test "$(grep -c "changed" drift.out)" = 3 &&
	test_grep "^~ c03/app  *changed" drift.out &&
	test_grep "^      cpus: (absent) → 0.5" drift.out &&
	test_grep "^~ c38/app  *changed" drift.out &&
	test_grep "^      pids: (absent) → 77" drift.out &&
	$RC --repo $M drift --fix >fix.out 2>&1 &&
	test_expect_code 0 $RC --repo $M drift
'

test_expect_success "removing all $N customers removes $N containers and $N networks and frees every allocation" '
	git -C $M rm -q -r customers && repo_commit $M "no customers" &&
	: the containers of units gone, then the networks, are removed side by side: their stops overlap &&
	: "(a removal itself is quick: two of them in flight at once is luck, not proof)" &&
	proxy_start $TRASH/removal.log &&
	test_when_finished "kill $PROXY" &&
	$RC --docker-host unix://$TRASH/engine.sock --repo $M apply --stats >apply.out 2>stats.out &&
	cat stats.out &&
	echo "in flight at once: container removals $($INFLIGHT removal.log DELETE /containers/), stops $($INFLIGHT removal.log POST /stop), network removals $($INFLIGHT removal.log DELETE /networks/)" &&
	test "$($INFLIGHT removal.log POST /stop)" -ge 2 &&
	test "$($INFLIGHT removal.log DELETE /networks/)" -ge 2 &&
	test "$(stat remove)" = $N &&
	test "$(stat network-remove)" = $N &&
	test "$(count_ctrs)" = 0 &&
	test "$(count_nets)" = 0 &&
	python3 -c "import json,sys; d=json.load(open(sys.argv[1]))[\"data\"]; sys.exit(bool(d[\"ports\"] or d[\"subnets\"]))" \
		$STATE/allocations.json &&
	$RC --repo $M apply --stats >again.out 2>stats.out &&
	test_grep "(0 mutating)" stats.out
'

test_done
