#!/bin/sh
test_description='tenant isolation: customers reach the shared services their template names, each
over a link network of its own, and never each other; adding or removing a customer never
replaces the shared service'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/fetch.sh"

M=$TRASH/repo

customer() {
	cat >$M/customer-$1.yaml <<-EOT
	kind: Customer
	id: $1
	template: web
	EOT
}

# reaches CONTAINER HOST: fetches, retried for 15 s (a loaded host answers late;
# only the negative checks rely on one try of 3 s).
reaches() {
	wait_for "fetches $1 $2" 15
}

# The IPv4 addresses of container $1, one per line.
addresses() {
	docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{"\n"}}{{end}}' "$1" | grep .
}

# The ids of the containers on network $1.
members() {
	docker network inspect -f '{{range $id, $c := .Containers}}{{$id}} {{end}}' "$1"
}

test_expect_success 'setup: a shared db on an internal network that the template names, two customers' '
	repo_init $M &&
	cat >$M/settings.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Network
	name: backend
	internal: true
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	networks: [backend]
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
	---
	kind: Template
	name: web
	services:
	  app:
	    image: $TEST_IMAGE
	    networks: [backend]
	    depends_on: {db: healthy}
	EOT
	customer alpha && customer beta &&
	repo_commit $M initial &&
	$RC --repo $M apply >out 2>&1 &&
	test_grep "network $PROJECT-alpha-via-backend" out &&
	test_grep "network $PROJECT-beta-via-backend" out
'

test_expect_success 'each customer reaches the shared db by its name' '
	reaches $PROJECT-alpha-app db &&
	reaches $PROJECT-beta-app db
'

test_expect_success 'a customer cannot open a TCP connection to another, on any of its addresses' '
	addresses $PROJECT-beta-app >beta.addrs &&
	cat beta.addrs &&
	test -s beta.addrs &&
	reaches $PROJECT-beta-app 127.0.0.1 &&
	while read ip; do
		if fetches $PROJECT-alpha-app "$ip"; then
			echo "alpha reached beta at $ip"
		fi
	done <beta.addrs >reached &&
	{ test ! -s reached || { cat beta.addrs reached; false; }; } &&
	! fetches $PROJECT-alpha-app $PROJECT-beta-app
'

test_expect_success 'no network holds the containers of two customers' '
	for net in $(docker network ls -q --filter label=io.reconciler.project=$PROJECT); do
		for c in $(members $net); do
			docker inspect -f "{{index .Config.Labels \"io.reconciler.customer\"}}" $c
		done | grep . | sort -u >custs
		if test "$(wc -l <custs)" -gt 1; then
			echo "network $net holds customers: $(cat custs)"
		fi
	done >shared &&
	test ! -s shared
'

test_expect_success 'the link network is internal, as backend is; the shared db is on both links' '
	test "$(docker network inspect -f {{.Internal}} $PROJECT-alpha-via-backend)" = true &&
	db=$(container_id $PROJECT-db) &&
	members $PROJECT-alpha-via-backend | grep -q $db &&
	members $PROJECT-beta-via-backend | grep -q $db
'

test_expect_success 'a new customer: the db joins its link network and is not replaced' '
	db=$(container_id $PROJECT-db) &&
	customer gamma && repo_commit $M gamma &&
	$RC --repo $M apply >out 2>&1 &&
	test "$(container_id $PROJECT-db)" = "$db" &&
	reaches $PROJECT-gamma-app db &&
	! fetches $PROJECT-gamma-app $PROJECT-alpha-app
'

test_expect_success 'drift sees nothing: the links are not differences' '
	$RC --repo $M drift >out 2>&1 &&
	test_grep "No drift" out
'

test_expect_success 'a run cut short before the db joined a link: plan shows it, apply connects it' '
	docker network disconnect $PROJECT-gamma-via-backend $PROJECT-db &&
	test_expect_code 2 $RC --repo $M plan >out 2>&1 &&
	test_grep "shared service .db. is not on it yet" out &&
	db=$(container_id $PROJECT-db) &&
	$RC --repo $M apply >out 2>&1 &&
	test "$(container_id $PROJECT-db)" = "$db" &&
	reaches $PROJECT-gamma-app db &&
	$RC --repo $M plan >out 2>&1
'

test_expect_success 'a customer removed: its link network goes, the db stays' '
	db=$(container_id $PROJECT-db) &&
	git -C $M rm -q customer-beta.yaml && repo_commit $M "beta leaves" &&
	$RC --repo $M apply >out 2>&1 &&
	test_must_fail docker network inspect $PROJECT-beta-via-backend >/dev/null 2>&1 &&
	test "$(container_id $PROJECT-db)" = "$db" &&
	reaches $PROJECT-alpha-app db
'

test_expect_success 'the db replaced: the new container is on every link network' '
	sed -i "s/retries: 10}/retries: 11}/" $M/settings.yaml && repo_commit $M "db changes" &&
	db=$(container_id $PROJECT-db) &&
	$RC --repo $M apply >out 2>&1 &&
	test "$(container_id $PROJECT-db)" != "$db" &&
	reaches $PROJECT-alpha-app db &&
	reaches $PROJECT-gamma-app db
'

# The opt-out (a host whose shared service must not carry one interface per
# customer): customers join the shared bridge themselves, and can then reach
# each other — the documented price.
test_expect_success 'tenant_isolation: false puts the customers on the shared bridge (and they reach each other)' '
	sed -i "s/^project: $PROJECT$/project: $PROJECT\ntenant_isolation: false/" $M/settings.yaml &&
	test_grep "^tenant_isolation: false" $M/settings.yaml &&
	repo_commit $M "shared bridges" &&
	$RC --repo $M apply >out 2>&1 &&
	test_must_fail docker network inspect $PROJECT-alpha-via-backend >/dev/null 2>&1 &&
	docker inspect -f "{{range \$k, \$v := .NetworkSettings.Networks}}{{\$k}} {{end}}" $PROJECT-alpha-app >nets &&
	test_grep "$PROJECT-backend " nets &&
	reaches $PROJECT-alpha-app db &&
	reaches $PROJECT-alpha-app $PROJECT-gamma-app
'

test_done
