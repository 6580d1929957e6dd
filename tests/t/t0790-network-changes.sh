#!/bin/sh
test_description='network changes: a shared network without subnet: gets the engine'"'"'s choice (30
customers converge on a small pool, which it does not touch); adding subnet: or flipping internal:
is planned (-/+ network) and applied, the services on it running and reachable again, no other
touched; networks recreated by hand are drift, and putting a customer'"'"'s back touches no other'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/fetch.sh"

M=$TRASH/repo
N=30
OPS=3                # c28..c30 are on template ops, which also reaches audit on the network admin
# subnets of this run's pool (tests/lib/test-lib.sh: test_subnet)
POOL=$(test_subnet 0 22)   # 64 /28s: the customers' own and link networks take 63 of them
FIXED=$(test_subnet 4 24)
ADMIN=$(test_subnet 5 24)
OTHER=$(test_subnet 6 24)  # admin, recreated by hand

# settings BACKEND ADMIN: the manifests, with the line BACKEND (e.g. "subnet: X") in the network
# backend (db's, every customer's) and ADMIN in the network admin (audit's, the ops customers')
settings() {
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	subnets: {pool: $POOL, size: 28}
	defaults: {stop_grace_period: 2s}
	---
	kind: Network
	name: backend
	$1
	---
	kind: Network
	name: admin
	subnet: $ADMIN
	$2
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	networks: [backend]
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
	---
	kind: Service
	name: audit
	image: $TEST_IMAGE
	networks: [admin]
	---
	kind: Template
	name: web
	services:
	  app:
	    image: $TEST_IMAGE
	    networks: [backend]
	    depends_on: {db: healthy}
	---
	kind: Template
	name: ops
	services:
	  app:
	    image: $TEST_IMAGE
	    networks: [admin, backend]
	    depends_on: {db: healthy}
	EOT
}

reaches() { # CONTAINER HOST: fetches, or says why not
	fetches "$1" "$2" && return 0
	echo "$1 cannot reach $2:"
	docker exec "$1" nslookup "$2" 2>&1
	docker inspect -f '{{.State.Status}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}' "$1" "$PROJECT-db"
	return 1
}
started() { docker inspect -f '{{.State.StartedAt}}' "$1"; }
net_subnet() { docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$1"; }
net_internal() { docker network inspect -f '{{.Internal}}' "$1"; }
ip_on() { # CONTAINER NETWORK
	docker inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"
}
running() { # the number of our containers that run
	docker ps -q --filter "label=$LABEL_PROJECT=$PROJECT" --filter status=running | wc -l
}
overlaps() { # CIDR CIDR
	python3 -c 'import ipaddress, sys
sys.exit(0 if ipaddress.ip_network(sys.argv[1]).overlaps(ipaddress.ip_network(sys.argv[2])) else 1)' "$1" "$2"
}
allocated() { # the networks allocations.json holds a subnet for, one per line
	python3 -c 'import json, sys
print("\n".join(s["network"] for s in json.load(open(sys.argv[1]))["data"]["subnets"]))' $STATE/allocations.json
}
c() { printf "c%02d" "$1"; }

test_expect_success "setup: $N customers whose template joins a shared network without subnet: all converge" '
	repo_init $M &&
	settings "internal: false" "internal: false" &&
	i=1 && while [ $i -le $N ]; do
		t=web && [ $i -le $((N - OPS)) ] || t=ops
		printf "kind: Customer\nid: %s\ntemplate: %s\n" $(c $i) $t >$M/customer-$(c $i).yaml
		i=$((i + 1))
	done &&
	repo_commit $M initial &&
	$RC --repo $M apply >out 2>&1 &&
	! grep -i -e "no available" -e "exhausted" out &&
	test_equal "$(running)" $((N + 2)) &&
	reaches $PROJECT-c01-app db &&
	reaches $PROJECT-c30-app db &&
	reaches $PROJECT-c30-app audit
'

test_expect_success 'the engine chose the shared network'"'"'s subnet: outside the pool, nothing allocated for it' '
	sub=$(net_subnet $PROJECT-backend) &&
	say "backend: $sub" &&
	test -n "$sub" &&
	! overlaps "$sub" $POOL &&
	overlaps "$(net_subnet $PROJECT-c01)" $POOL &&
	overlaps "$(net_subnet $PROJECT-c01-via-backend)" $POOL &&
	allocated >alloc &&
	! grep -x "$PROJECT-backend" alloc &&
	test_equal "$(wc -l <alloc)" $((2 * N + OPS)) &&
	grep -x "$PROJECT-c30-via-backend" alloc
'

test_expect_success 'adding subnet: to the shared network: plan shows -/+ network (exit 2), nothing else' '
	settings "subnet: $FIXED" "internal: false" &&
	repo_commit $M "backend: a subnet" &&
	test_expect_code 2 $RC --repo $M plan >plan.txt &&
	cat plan.txt &&
	test_grep "^  -/+ network $PROJECT-backend will be recreated$" plan.txt &&
	test_grep "subnet: $(net_subnet $PROJECT-backend) → $FIXED" plan.txt &&
	test_grep "stops, reconnects and starts again db$" plan.txt &&
	test_equal "$(grep -c "will be" plan.txt)" 1 &&
	test_expect_code 2 $RC --repo $M plan --json >plan.json &&
	test_grep "\"network_recreate\": 1" plan.json
'

test_expect_success 'apply recreates it with the subnet; db back on it, healthy and reachable; customers untouched' '
	db0=$(started $PROJECT-db) && app0=$(started $PROJECT-c05-app) &&
	{ $RC --repo $M apply >apply.out 2>&1 || { cat apply.out; false; }; } &&
	test_grep "network $PROJECT-backend" apply.out &&
	test_equal "$(net_subnet $PROJECT-backend)" $FIXED &&
	overlaps "$(ip_on $PROJECT-db $PROJECT-backend)/32" $FIXED &&
	test "$(started $PROJECT-db)" != "$db0" &&
	test_equal "$(container_field $PROJECT-db "{{.State.Health.Status}}")" healthy &&
	test_equal "$(started $PROJECT-c05-app)" "$app0" &&
	test_equal "$(running)" $((N + 2)) &&
	reaches $PROJECT-c05-app db &&
	test_expect_code 0 $RC --repo $M plan >again.txt &&
	test_grep "No changes" again.txt
'

test_expect_success 'flipping internal: the network and its customers'"'"' links recreated, only they restarted' '
	settings "subnet: $FIXED" "internal: true" &&
	repo_commit $M "admin: internal" &&
	test_expect_code 2 $RC --repo $M plan >plan2.txt &&
	cat plan2.txt &&
	test_equal "$(grep -c "^  -/+ network .* will be recreated$" plan2.txt)" $((OPS + 1)) &&
	test_grep "^  -/+ network $PROJECT-admin will be recreated$" plan2.txt &&
	test_grep "^  -/+ network $PROJECT-c30-via-admin will be recreated$" plan2.txt &&
	test_equal "$(grep -c "internal: false → true" plan2.txt)" $((OPS + 1)) &&
	test_equal "$(grep -c "will be" plan2.txt)" $((OPS + 1)) &&
	app1=$(started $PROJECT-c01-app) && app30=$(started $PROJECT-c30-app) && db0=$(started $PROJECT-db) &&
	{ $RC --repo $M apply >apply2.out 2>&1 || { cat apply2.out; false; }; } &&
	test_equal "$(net_internal $PROJECT-admin)" true &&
	test_equal "$(net_internal $PROJECT-backend)" false &&
	: >bad &&
	i=$((N - OPS + 1)) && while [ $i -le $N ]; do
		test "$(net_internal $PROJECT-$(c $i)-via-admin)" = true || echo "$(c $i): link not internal" >>bad
		test "$(net_internal $PROJECT-$(c $i)-via-backend)" = false || echo "$(c $i): backend link internal" >>bad
		i=$((i + 1))
	done &&
	test_cmp /dev/null bad &&
	test "$(started $PROJECT-c30-app)" != "$app30" &&
	test_equal "$(started $PROJECT-c01-app)" "$app1" &&
	test_equal "$(started $PROJECT-db)" "$db0" &&
	test_equal "$(running)" $((N + 2)) &&
	test_equal "$(net_subnet $PROJECT-admin)" $ADMIN &&
	reaches $PROJECT-c30-app audit &&
	reaches $PROJECT-c30-app db &&
	reaches $PROJECT-c01-app db &&
	{ test_expect_code 0 $RC --repo $M plan >again2.txt || { cat again2.txt; false; }; }
'

test_expect_success 'networks recreated by hand (another subnet; a customer'"'"'s link internal) are drift' '
	docker network disconnect -f $PROJECT-admin $PROJECT-audit &&
	docker network rm $PROJECT-admin >/dev/null &&
	docker network create --internal --subnet $OTHER --label io.reconciler.managed-by=reconciler \
		--label $LABEL_PROJECT=$PROJECT --label io.reconciler.network=admin $PROJECT-admin >/dev/null &&
	sub7=$(net_subnet $PROJECT-c07-via-backend) &&
	docker network disconnect -f $PROJECT-c07-via-backend $PROJECT-c07-app &&
	docker network disconnect -f $PROJECT-c07-via-backend $PROJECT-db &&
	docker network rm $PROJECT-c07-via-backend >/dev/null &&
	docker network create --internal --subnet "$sub7" \
		--label io.reconciler.managed-by=reconciler --label $LABEL_PROJECT=$PROJECT \
		--label io.reconciler.network=c07-via-backend --label io.reconciler.customer=c07 \
		$PROJECT-c07-via-backend >/dev/null &&
	test_expect_code 2 $RC --repo $M drift >drift.txt &&
	cat drift.txt &&
	test_grep "network $PROJECT-admin .*network-changed" drift.txt &&
	test_grep "subnet: $ADMIN → $OTHER" drift.txt &&
	test_grep "network $PROJECT-c07-via-backend .*network-changed" drift.txt &&
	test_grep "internal: false → true" drift.txt &&
	test_expect_code 2 $RC --repo $M drift --json >drift.json &&
	test_grep "\"network-changed\": 2" drift.json &&
	test_grep "{\"field\": \"subnet\", \"secret\": false, \"expected\": \"$ADMIN\", \"actual\": \"$OTHER\"" drift.json
'

test_expect_success 'apply puts them back; of the customers only c07 is restarted, db only reconnected' '
	app7=$(started $PROJECT-c07-app) && app8=$(started $PROJECT-c08-app) && db0=$(started $PROJECT-db) &&
	test_expect_code 2 $RC --repo $M plan >plan3.txt &&
	cat plan3.txt &&
	test_grep "^  -/+ network $PROJECT-admin will be recreated$" plan3.txt &&
	test_grep "^  -/+ network $PROJECT-c07-via-backend will be recreated$" plan3.txt &&
	test_equal "$(grep -c "will be" plan3.txt)" 2 &&
	{ $RC --repo $M apply >apply3.out 2>&1 || { cat apply3.out; false; }; } &&
	test_equal "$(net_subnet $PROJECT-admin)" $ADMIN &&
	test_equal "$(net_internal $PROJECT-admin)" true &&
	test_equal "$(net_internal $PROJECT-c07-via-backend)" false &&
	test "$(started $PROJECT-c07-app)" != "$app7" &&
	test_equal "$(started $PROJECT-c08-app)" "$app8" &&
	test_equal "$(started $PROJECT-db)" "$db0" &&
	test_equal "$(running)" $((N + 2)) &&
	reaches $PROJECT-c07-app db &&
	reaches $PROJECT-c08-app db &&
	reaches $PROJECT-c30-app audit &&
	{ test_expect_code 0 $RC --repo $M drift >drift2.txt || { cat drift2.txt; false; }; } &&
	{ test_expect_code 0 $RC --repo $M plan >again3.txt || { cat again3.txt; false; }; }
'

test_done
