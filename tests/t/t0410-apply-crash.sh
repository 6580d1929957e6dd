#!/bin/sh
test_description='apply killed (SIGKILL) at every crash point converges on the next apply:
exactly one container per unit, no orphans, current hashes, health as desired,
ports and subnets consistent with the state, then zero mutating calls'
. "$(dirname "$0")/../lib/test-lib.sh"

# A shared network and a template of an app (health-checked, published on
# the customer port, connected to the shared network after create) and a
# worker that waits for the app to be healthy.  Ports and subnets from
# this run's block (TEST_PORT_BASE, TEST_POOL: tests/lib/test-lib.sh).
base=$TEST_PORT_BASE
pool=$TEST_POOL
M=$TRASH/repo
CONVERGED="python3 $RC_TOP/tests/lib/converged.py"

# write_settings [BACKEND-LINE]: BACKEND-LINE (e.g. "internal: true") in the network backend
write_settings() {
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	ports: {range: $base-$((base + 19))}
	subnets: {pool: $pool, size: 28}
	---
	kind: Network
	name: backend
	${1:-}
	---
	kind: Template
	name: web
	services:
	  app:
	    image: $TEST_IMAGE
	    port: 8080
	    networks: [backend]
	    env: {START_DELAY: "1"}
	    health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
	  worker:
	    image: $TEST_IMAGE
	    env: {MODE: sleep}
	    depends_on: {app: healthy}
	EOT
}

# add_customer ID: a customer of the template with port: auto, committed.
add_customer() {
	printf "kind: Customer\nid: %s\ntemplate: web\nport: auto\n" "$1" >$M/customers/$1.yaml &&
	repo_commit $M "add $1"
}

# crash POINT: apply must be killed at POINT (SIGKILL: 137).
# nets_of CUSTOMER: "NAME SUBNET" of each of the customer's networks that exists
# (its own and its links: the first made by a killed run can be either).
nets_of() {
	for net in $PROJECT-$1 $PROJECT-$1-via-backend; do
		docker network inspect -f "{{.Name}} {{(index .IPAM.Config 0).Subnet}}" $net 2>/dev/null | grep .
	done
	return 0
}

crash() {
	RECONCILER_TEST_CRASH_AT=$1 $RC --repo $M apply >crash.out 2>&1
	got=$?
	cat crash.out
	if [ $got != 137 ]; then
		echo "crash: apply with RECONCILER_TEST_CRASH_AT=$1 exited $got, expected 137 (SIGKILL)"
		return 1
	fi
}

# recover: a plain apply succeeds, the engine holds exactly the desired
# state, and a third apply changes nothing.
recover() {
	$RC --repo $M apply >recover.out 2>&1 || { cat recover.out; return 1; }
	cat recover.out &&
	$RC --repo $M render --json >render.json &&
	$CONVERGED render.json $STATE $pool &&
	$RC --repo $M apply --stats >again.out 2>stats.out &&
	cat stats.out &&
	test_grep "^No changes" again.out &&
	test_grep "(0 mutating)" stats.out
}

ctr_state() {
	docker inspect -f '{{.State.Status}}' "$1" 2>/dev/null
}
ctr_nets() {
	docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$1"
}
ctr_port() {
	docker inspect -f '{{(index (index .HostConfig.PortBindings "8080/tcp") 0).HostPort}}' "$1"
}
alloc_port() { # UNIT
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))["data"]
print(" ".join(str(p["host_port"]) for p in d["ports"] if p["unit"] == sys.argv[2]))' $STATE/allocations.json "$1"
}
count() { # FILTER...: number of our containers matching
	docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT "$@" | wc -l
}

test_expect_success 'setup: one customer converged' '
	repo_init $M && mkdir -p $M/customers &&
	write_settings && repo_commit $M "settings" &&
	add_customer a1 &&
	$RC --repo $M apply &&
	$RC --repo $M render --json >render.json &&
	$CONVERGED render.json $STATE $pool
'

test_expect_success 'after-network: killed after creating a fresh customer network' '
	add_customer n1 &&
	crash after-network &&
	nets_of n1 >made && test "$(wc -l <made)" -ge 1 &&
	test "$(ctr_state $PROJECT-n1-app)" = "" &&
	recover
'

test_expect_success 'after-create: killed with the container created, not connected, not started' '
	add_customer c1 &&
	crash after-create &&
	test "$(ctr_state $PROJECT-c1-app)" = created &&
	! ctr_nets $PROJECT-c1-app | grep -q "$PROJECT-c1-via-backend " &&
	recover
'

test_expect_success 'after-connect: killed with the container connected, not started' '
	add_customer k1 &&
	crash after-connect &&
	test "$(ctr_state $PROJECT-k1-app)" = created &&
	ctr_nets $PROJECT-k1-app | grep -q "$PROJECT-k1-via-backend " &&
	recover
'

test_expect_success 'after-start: killed with the container started, not yet healthy' '
	add_customer s1 &&
	crash after-start &&
	test "$(ctr_state $PROJECT-s1-app)" = running &&
	test "$(docker inspect -f "{{.State.Health.Status}}" $PROJECT-s1-app)" = starting &&
	test "$(ctr_state $PROJECT-s1-worker)" = "" &&
	recover
'

test_expect_success 'after-job: killed mid-wave, the first unit done, its dependent pending' '
	add_customer j1 &&
	crash after-job &&
	test "$(docker inspect -f "{{.State.Health.Status}}" $PROJECT-j1-app)" = healthy &&
	test "$(ctr_state $PROJECT-j1-worker)" = "" &&
	recover
'

test_expect_success 'after-job on a recreate: killed after the first of several recreated units' '
	sed -i "s/START_DELAY: \"1\"/START_DELAY: \"1\", V: \"2\"/" $M/settings.yaml &&
	repo_commit $M "app env" &&
	crash after-job &&
	recover
'

# A recreate replaces: the new container is made under a side name
# ("<name>.next-XXXXXXXX"), then the old one is stopped, renamed aside
# ("<name>.old-XXXXXXXX"), the new one takes the name and starts.  Killed at
# each point (in whichever app reaches it first; the others may be partway),
# the next apply keeps what serves under the unit's name and removes the side
# containers: one container per unit (converged.py), none left over.
sides() { # KIND (next|old): how many of our containers are named *.KIND-*
	docker ps -a --format "{{.Names}}" --filter label=$LABEL_PROJECT=$PROJECT | grep -c "\.$1-[0-9a-f]*\$" || :
}
apps_running() {
	docker ps --format "{{.Names}}" --filter label=$LABEL_PROJECT=$PROJECT | grep -c -- "-app\$" || :
}
apps_wanted() {
	ls $M/customers | wc -l
}

test_expect_success 'after-replace-create: killed with a new container made aside, every old one serving' '
	sed -i "s/START_DELAY: \"1\"/START_DELAY: \"1\", R: \"1\"/" $M/settings.yaml &&
	repo_commit $M "app env R=1" &&
	crash after-replace-create &&
	test "$(apps_running)" = "$(apps_wanted)" &&
	test "$(sides next)" -ge 1 &&
	test "$(sides old)" = 0 &&
	recover &&
	test "$(sides next)" = 0
'

test_expect_success 'after-replace-stop: killed with an old container stopped under its name' '
	sed -i "s/R: \"1\"/R: \"2\"/" $M/settings.yaml &&
	repo_commit $M "app env R=2" &&
	crash after-replace-stop &&
	test "$(docker ps -a --filter label=$LABEL_PROJECT=$PROJECT --filter status=exited -q | wc -l)" -ge 1 &&
	test "$(sides next)" -ge 1 &&
	recover &&
	test "$(sides next)" = 0 && test "$(sides old)" = 0
'

test_expect_success 'after-replace-rename: killed with the old container renamed aside, the new one not yet named' '
	sed -i "s/R: \"2\"/R: \"3\"/" $M/settings.yaml &&
	repo_commit $M "app env R=3" &&
	crash after-replace-rename &&
	test "$(sides old)" -ge 1 &&
	test "$(sides next)" -ge 1 &&
	test "$(apps_running)" -lt "$(apps_wanted)" &&
	recover &&
	test "$(sides next)" = 0 && test "$(sides old)" = 0
'

test_expect_success 'after-removal: killed after removing the first of a customer'"'"'s 2 containers' '
	subnet=$(docker network inspect -f "{{(index .IPAM.Config 0).Subnet}}" $PROJECT-j1) &&
	git -C $M rm -q customers/j1.yaml && repo_commit $M "remove j1" &&
	crash after-removal &&
	test "$(count --filter label=io.reconciler.customer=j1)" = 1 &&
	recover &&
	test "$(count --filter label=io.reconciler.customer=j1)" = 0 &&
	test_must_fail docker network inspect $PROJECT-j1 >/dev/null 2>&1 &&
	! grep -q "j1/" $STATE/allocations.json &&
	! grep -q "\"$subnet\"" $STATE/allocations.json
'

# The allocation is made in memory, then the containers, then the state is
# saved: a crash in between leaves a network and a created container that
# hold a subnet and a port the state file does not know.  A created (never
# started) container publishes nothing in Docker's list, so only the state
# can remember its port.  after-connect: the half-made container is complete
# (all networks), so recovery starts it as it is, with its port.
test_expect_success 'crash before the state save, fresh customer: port and subnet kept after recovery' '
	add_customer z9 &&
	crash after-connect &&
	test "$(ctr_state $PROJECT-z9-app)" = created &&
	port=$(ctr_port $PROJECT-z9-app) &&
	subnet=$(docker network inspect -f "{{(index .IPAM.Config 0).Subnet}}" $PROJECT-z9) &&
	id=$(container_id $PROJECT-z9-app) &&
	recover &&
	test "$(ctr_port $PROJECT-z9-app)" = "$port" &&
	test "$(alloc_port z9/app)" = "$port" &&
	test "$(docker network inspect -f "{{(index .IPAM.Config 0).Subnet}}" $PROJECT-z9)" = "$subnet" &&
	test "$(container_id $PROJECT-z9-app)" = "$id"
'

test_expect_success 'crash before the state save, then a new customer before recovery: no port taken twice' '
	add_customer y9 &&
	crash after-connect &&
	test "$(ctr_state $PROJECT-y9-app)" = created &&
	port=$(ctr_port $PROJECT-y9-app) &&
	add_customer b0 &&
	recover &&
	test "$(ctr_port $PROJECT-y9-app)" = "$port" &&
	test "$(alloc_port y9/app)" = "$port" &&
	test "$(ctr_port $PROJECT-b0-app)" != "$port"
'

test_expect_success 'after-network, then a new customer before recovery: subnets stay distinct' '
	add_customer x9 &&
	crash after-network &&
	nets_of x9 >before && test "$(wc -l <before)" -ge 1 &&
	add_customer b1 &&
	recover &&
	nets_of x9 >after &&
	cat before after &&
	while read net subnet; do
		grep -qx "$net $subnet" after || echo "$net lost its subnet $subnet"
	done <before >lost &&
	test ! -s lost
'

# every network of the project is internal as backend is ($1: true/false), or says which is not
internal_as() {
	for net in $(docker network ls -q --filter label=$LABEL_PROJECT=$PROJECT); do
		docker network inspect -f "{{.Name}} {{.Internal}}" $net
	done | while read name internal; do
		case $name in
		$PROJECT-backend | *-via-backend) test "$internal" = "$1" || echo "$name: internal $internal" ;;
		esac
	done
}

test_expect_success 'after-network-stop: killed recreating backend (internal), its units stopped' '
	write_settings "internal: true" && repo_commit $M "backend internal" &&
	crash after-network-stop &&
	recover &&
	internal_as true >wrong && test_cmp /dev/null wrong
'

test_expect_success 'after-network-remove: killed with a network recreated half-way (removed, not made)' '
	write_settings "internal: false" && repo_commit $M "backend not internal" &&
	crash after-network-remove &&
	recover &&
	internal_as false >wrong && test_cmp /dev/null wrong
'

test_done
