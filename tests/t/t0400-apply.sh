#!/bin/sh
test_description='plan and apply against a real engine: create, labels, limits, health order,
in-place updates, recreates of exactly what changed, removal, failures, idempotence'
. "$(dirname "$0")/../lib/test-lib.sh"

# A repository: one shared db (slow to become healthy), a template with an
# app (http health) and a worker, two customers.  Ports from a range no one
# else in the suite uses.
base=$TEST_PORT_BASE
M=$TRASH/repo
write_manifests() {
	mkdir -p $M/customers &&
	cat >$M/settings.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	ports: {range: $base-$((base + 19))}
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Plan
	name: small
	cpus: 0.25
	memory: 48M
	memory_reservation: 24M
	pids: 50
	---
	kind: Plan
	name: large
	cpus: 0.5
	memory: 96M
	memory_reservation: 48M
	pids: 100
	---
	kind: Network
	name: backend
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	env: {START_DELAY: "2", ROLE: db}
	networks: [backend]
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
	    health: {http: /health, interval: 1s, timeout: 2s, retries: 5}
	  worker:
	    image: $TEST_IMAGE
	    env: {MODE: sleep}
	    depends_on: {app: healthy}
	EOT
	cat >$M/customers/c1.yaml <<-EOT &&
	kind: Customer
	id: c1
	template: web
	plan: small
	port: $base
	env: {GREETING: hello}
	EOT
	cat >$M/customers/c2.yaml <<-EOT
	kind: Customer
	id: c2
	template: web
	plan: small
	port: auto
	EOT
}

ids() {
	docker ps -a --filter label=io.reconciler.project=$PROJECT --format '{{.Names}} {{.ID}}' | sort
}

test_expect_success 'setup: a manifest repository' '
	repo_init $M &&
	write_manifests &&
	repo_commit $M "initial"
'

test_expect_success 'plan on an empty engine lists every create and exits 2' '
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "^ *+ *db ($PROJECT-db) will be created" plan.out &&
	test_grep "^ *+ *c1/app ($PROJECT-c1-app) will be created" plan.out &&
	test_grep "^ *+ *network $PROJECT-c1 will be created" plan.out &&
	test_grep "allocates host port $((base + 1)) for 8080/tcp" plan.out &&
	test_grep "^Plan: 5 to create, .*networks: 5 to create" plan.out &&
	test -z "$(ids)"
'

test_expect_success 'an unlabelled container with a similar name is left alone' '
	docker run -d --name $PROJECT-c1-app-old --label other=1 $TEST_IMAGE >/dev/null &&
	test_when_finished "docker rm -f $PROJECT-c1-app-old >/dev/null"
'

test_expect_success 'apply converges; dependents start after their dependency is healthy' '
	$RC --repo $M apply >apply.out &&
	test_grep "^ok .*+ db .*healthy" apply.out &&
	test "$(container_field $PROJECT-db {{.State.Health.Status}})" = healthy &&
	db_start=$(container_field $PROJECT-db {{.State.StartedAt}}) &&
	app_start=$(container_field $PROJECT-c1-app {{.State.StartedAt}}) &&
	worker_start=$(container_field $PROJECT-c1-worker {{.State.StartedAt}}) &&
	db_s=$(date -d "$db_start" +%s%N) && app_s=$(date -d "$app_start" +%s%N) &&
	worker_s=$(date -d "$worker_start" +%s%N) &&
	echo "db $db_s app $app_s worker $worker_s" &&
	test $((app_s - db_s)) -ge 2000000000 &&
	test $worker_s -gt $app_s
'

test_expect_success 'names, labels, limits, ports, networks and health as written' '
	c=$PROJECT-c1-app &&
	test "$(container_field $c "{{index .Config.Labels \"io.reconciler.unit\"}}")" = c1/app &&
	test "$(container_field $c "{{index .Config.Labels \"io.reconciler.customer\"}}")" = c1 &&
	test "$(container_field $c "{{index .Config.Labels \"io.reconciler.managed-by\"}}")" = reconciler &&
	test "$(container_field $c "{{index .Config.Labels \"io.reconciler.commit\"}}")" = "$(git -C $M rev-parse HEAD)" &&
	test "$(container_field $c {{.HostConfig.NanoCpus}})" = 250000000 &&
	test "$(container_field $c {{.HostConfig.Memory}})" = 50331648 &&
	test "$(container_field $c {{.HostConfig.MemoryReservation}})" = 25165824 &&
	test "$(container_field $c {{.HostConfig.PidsLimit}})" = 50 &&
	test "$(container_field $c "{{(index (index .HostConfig.PortBindings \"8080/tcp\") 0).HostPort}}")" = $base &&
	container_field $c "{{range \$k, \$v := .NetworkSettings.Networks}}{{\$k}} {{end}}" >nets &&
	test_grep "$PROJECT-c1 " nets && test_grep "$PROJECT-c1-via-backend " nets && ! test_grep "$PROJECT-backend " nets &&
	curl -fsS http://127.0.0.1:$base/health &&
	test "$(container_field $c "{{index .Config.Env}}" | tr " " "\n" | grep -c GREETING=hello)" = 1 &&
	test "$(container_field $PROJECT-db "{{index .Config.Healthcheck.Test 1}}")" = "wget -q -O /dev/null http://127.0.0.1:8080/health" &&
	python3 -c "import ipaddress, sys; sys.exit(not ipaddress.ip_network(sys.argv[1]).subnet_of(ipaddress.ip_network(sys.argv[2])))" \
		"$(docker network inspect -f "{{(index .IPAM.Config 0).Subnet}}" $PROJECT-c1)" $TEST_POOL
'

test_expect_success 'c2 got the first free port of the range' '
	test "$(container_field $PROJECT-c2-app "{{(index (index .HostConfig.PortBindings \"8080/tcp\") 0).HostPort}}")" = $((base + 1))
'

test_expect_success 'a second apply changes nothing: zero mutating Docker calls' '
	$RC --repo $M apply --stats >again.out 2>stats.out &&
	test_grep "^No changes" again.out &&
	test_grep "(0 mutating)" stats.out &&
	test_expect_code 0 $RC --repo $M plan
'

# Refresh (as terraform plans): a change made by hand to a container is seen by
# plan and undone by apply, not only by drift; --no-refresh trusts the labels.
test_expect_success 'docker update by hand: plan shows it, apply puts it back in place (same container)' '
	id=$(container_field $PROJECT-c2-app {{.Id}}) &&
	docker update --memory 96m --memory-swap 192m $PROJECT-c2-app >/dev/null &&
	test_expect_code 0 $RC --repo $M plan --no-refresh >norefresh.out &&
	test_grep "^No changes" norefresh.out &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "^ *~ *c2/app ($PROJECT-c2-app) will be updated in place" plan.out &&
	: the plan says the change comes from drift, in each format &&
	test_grep "^ *memory: 96 MiB → 48 MiB  (changed outside Git: drift)$" plan.out &&
	test_expect_code 2 $RC --repo $M plan --markdown >plan.md &&
	test_grep "memory.*48 MiB.* \*(changed outside Git: drift)\*$" plan.md &&
	test_expect_code 2 $RC --repo $M plan --json >plan.json &&
	python3 -c "
import json
a = [x for x in json.load(open(\"plan.json\"))[\"actions\"] if x[\"unit\"] == \"c2/app\"][0]
c = {x[\"field\"]: x for x in a[\"changes\"]}
assert c[\"memory\"].get(\"drift\") is True, c
" &&
	$RC --repo $M apply >apply.out &&
	test "$(container_field $PROJECT-c2-app {{.Id}})" = "$id" &&
	test "$(container_field $PROJECT-c2-app {{.HostConfig.Memory}})" = 50331648 &&
	test_expect_code 0 $RC --repo $M plan
'

test_expect_success 'a plan change updates in place: same container, new limits' '
	ids >before &&
	sed -i "s/plan: small/plan: large/" $M/customers/c2.yaml && repo_commit $M "c2 large" &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "^ *~ *c2/app ($PROJECT-c2-app) will be updated in place" plan.out &&
	test_grep "^ *memory: 48 MiB → 96 MiB$" plan.out &&
	: the commit made that change, not a hand: no drift in it &&
	! grep "changed outside Git" plan.out &&
	$RC --repo $M apply --stats >apply.out 2>stats.out &&
	ids >after &&
	test_cmp before after &&
	test "$(container_field $PROJECT-c2-app {{.HostConfig.Memory}})" = 100663296 &&
	test "$(container_field $PROJECT-c2-app {{.HostConfig.NanoCpus}})" = 500000000 &&
	test_grep "update *2" stats.out &&
	test_expect_code 0 $RC --repo $M plan
'

test_expect_success 'dropping a memory reservation recreates the unit: it cannot be lifted in place' '
	old=$(container_field $PROJECT-c2-app {{.Id}}) &&
	sed -i "/memory_reservation: 48M/d" $M/settings.yaml && repo_commit $M "large: no reservation" &&
	$RC --repo $M apply >apply.out &&
	test "$(container_field $PROJECT-c2-app {{.HostConfig.MemoryReservation}})" = 0 &&
	test "$(container_field $PROJECT-c2-app {{.HostConfig.Memory}})" = 100663296 &&
	test "$(container_field $PROJECT-c2-app {{.Id}})" != "$old" &&
	test_expect_code 0 $RC --repo $M plan &&
	test_expect_code 0 $RC --repo $M drift
'

test_expect_success 'changing one customer recreates only its units' '
	ids >before &&
	sed -i "s/GREETING: hello/GREETING: bonjour/" $M/customers/c1.yaml && repo_commit $M "c1 env" &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "^ *-/+ *c1/app ($PROJECT-c1-app) will be recreated" plan.out &&
	test_grep "GREETING: hello → bonjour" plan.out &&
	$RC --repo $M apply &&
	ids >after &&
	grep -v -- "-c1-" before >b && grep -v -- "-c1-" after >a && test_cmp b a &&
	! test_cmp before after >/dev/null &&
	test "$(container_field $PROJECT-c1-app "{{index .Config.Env}}" | tr " " "\n" | grep -c GREETING=bonjour)" = 1
'

test_expect_success 'an image change recreates every unit using it' '
	sed -i "s#image: $TEST_IMAGE#image: $TEST_IMAGE2#" $M/settings.yaml && repo_commit $M "image 2" &&
	$RC --repo $M apply &&
	curl -fsS http://127.0.0.1:$base/version | grep -qx 2
'

test_expect_success 'stopping a customer stops its containers, then starting again' '
	echo "state: stopped" >>$M/customers/c2.yaml && repo_commit $M "c2 stopped" &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "^ *\. *c2/app ($PROJECT-c2-app) will be stopped" plan.out &&
	$RC --repo $M apply &&
	test "$(container_field $PROJECT-c2-app {{.State.Status}})" = exited &&
	test "$(container_field $PROJECT-c1-app {{.State.Status}})" = running &&
	sed -i "/state: stopped/d" $M/customers/c2.yaml && repo_commit $M "c2 running" &&
	$RC --repo $M apply >apply.out &&
	test_grep "> c2/app" apply.out &&
	test "$(container_field $PROJECT-c2-app {{.State.Status}})" = running
'

test_expect_success 'removing a customer removes its containers and network and frees its port and subnet' '
	subnet=$(docker network inspect -f "{{(index .IPAM.Config 0).Subnet}}" $PROJECT-c2) &&
	git -C $M rm -q customers/c2.yaml && repo_commit $M "remove c2" &&
	$RC --repo $M apply &&
	test_must_fail docker inspect $PROJECT-c2-app >/dev/null 2>&1 &&
	test_must_fail docker inspect $PROJECT-c2-worker >/dev/null 2>&1 &&
	test_must_fail docker network inspect $PROJECT-c2 >/dev/null 2>&1 &&
	! grep -q "c2/" $STATE/allocations.json &&
	! grep -q "$subnet" $STATE/allocations.json &&
	cat >$M/customers/c3.yaml <<-EOT &&
	kind: Customer
	id: c3
	template: web
	plan: small
	port: auto
	EOT
	repo_commit $M "add c3" &&
	$RC --repo $M apply &&
	test "$(container_field $PROJECT-c3-app "{{(index (index .HostConfig.PortBindings \"8080/tcp\") 0).HostPort}}")" = $((base + 1)) &&
	test "$(docker network inspect -f "{{(index .IPAM.Config 0).Subnet}}" $PROJECT-c3)" = "$subnet"
'

test_expect_success 'invalid manifests: file:line:col errors, exit 1, nothing touched' '
	ids >before &&
	printf "kind: Customer\nid: c4\ntemplate: nope\nplan: small\n" >$M/customers/c4.yaml &&
	repo_commit $M "broken" &&
	test_expect_code 1 $RC --repo $M apply 2>err &&
	test_grep "^customers/c4.yaml:3:[0-9]*: " err &&
	ids >after &&
	test_cmp before after &&
	git -C $M rm -q customers/c4.yaml && repo_commit $M "unbreak"
'

test_expect_success 'an unmanaged container on a needed host port is a conflict before anything runs' '
	docker run -d --name $PROJECT-squatter -p $((base + 5)):8080 $TEST_IMAGE >/dev/null &&
	test_when_finished "docker rm -f $PROJECT-squatter >/dev/null" &&
	cat >$M/customers/c5.yaml <<-EOT &&
	kind: Customer
	id: c5
	template: web
	plan: small
	port: $((base + 5))
	EOT
	repo_commit $M "c5 on a taken port" &&
	ids >before &&
	test_expect_code 1 $RC --repo $M apply 2>err &&
	test_grep "conflict" err &&
	test_grep "$((base + 5))" err &&
	ids >after &&
	test_cmp before after &&
	git -C $M rm -q customers/c5.yaml && repo_commit $M "drop c5"
'

test_expect_success 'a never-healthy dependency fails its dependents, not the unrelated' '
	cat >$M/customers/c6.yaml <<-EOT &&
	kind: Customer
	id: c6
	template: web
	plan: small
	port: auto
	env: {HEALTH: never}
	EOT
	cat >$M/customers/c7.yaml <<-EOT &&
	kind: Customer
	id: c7
	template: web
	plan: small
	port: auto
	EOT
	repo_commit $M "c6 never healthy, c7 fine" &&
	test_expect_code 1 $RC --repo $M apply >out 2>err &&
	cat out err &&
	test_grep "failed .*c6/app.*not healthy" err &&
	test_grep "skipped .*c6/worker.*dependency .c6/app. failed" err &&
	test_must_fail docker inspect $PROJECT-c6-worker >/dev/null 2>&1 &&
	test "$(container_field $PROJECT-c7-worker {{.State.Status}})" = running &&
	git -C $M rm -q customers/c6.yaml && repo_commit $M "drop c6" &&
	$RC --repo $M apply
'

test_expect_success 'stopping, and removing, a dependency and its dependent: the dependent first, even when slow' '
	cat >$M/order.yaml <<-EOT &&
	kind: Service
	name: back
	image: $TEST_IMAGE
	env: {MODE: sleep}
	---
	kind: Service
	name: front
	image: $TEST_IMAGE
	env: {MODE: sleep, IGNORE_TERM: "1"}
	stop_grace_period: 2s
	depends_on: [back]
	EOT
	repo_commit $M "back and front" &&
	$RC --repo $M apply >/dev/null &&
	printf "state: stopped\n" >>$M/order.yaml &&
	sed -i "0,/^env: {MODE: sleep}\$/s//env: {MODE: sleep}\nstate: stopped/" $M/order.yaml &&
	test "$(grep -c "^state: stopped" $M/order.yaml)" = 2 &&
	repo_commit $M "both stopped" &&
	$RC --repo $M apply >/dev/null &&
	: front ignores SIGTERM and is killed after 2s, back stops at once: stopped side by side, back would end first &&
	f=$(date -d "$(container_field $PROJECT-front {{.State.FinishedAt}})" +%s%N) &&
	b=$(date -d "$(container_field $PROJECT-back {{.State.FinishedAt}})" +%s%N) &&
	test "$f" -lt "$b" &&
	: removed from the manifests while running: the dependent first still, from its depends-on label &&
	sed -i "/^state: stopped\$/d" $M/order.yaml && repo_commit $M "both running" &&
	$RC --repo $M apply >/dev/null &&
	test "$(container_field $PROJECT-front "{{index .Config.Labels \"io.reconciler.depends-on\"}}")" = back &&
	since=$(date +%s.%N) &&
	git -C $M rm -q order.yaml && repo_commit $M "no back and front" &&
	$RC --repo $M apply >/dev/null &&
	test_must_fail docker inspect $PROJECT-front >/dev/null 2>&1 &&
	docker events --since $since --until $(($(date +%s) + 1)) --filter label=$LABEL_PROJECT=$PROJECT \
		--filter event=die --format "{{.Actor.Attributes.name}}" >dies &&
	grep -x "$PROJECT-front\|$PROJECT-back" dies >order.got &&
	printf "%s\n" $PROJECT-front $PROJECT-back >order.want &&
	test_cmp order.want order.got
'

test_done
