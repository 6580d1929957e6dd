#!/bin/sh
test_description='the rollout at host scale: waiting for health holds no worker (with
--parallel 2, six units are all started before the first is healthy); a dependent is released
when its dependency turns healthy; the event stream cut mid-rollout; a replacement touches the
old container only once the new one is made (a missing image, a value the engine refuses, a new
container that never becomes healthy: the old one serves on, under its name, same ID); a unit
that never becomes healthy fails alone'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"
. "$RC_TOP/tests/lib/proxy.sh"

M=$TRASH/repo
base=$TEST_PORT_BASE
basehex=$(printf %04X $base)  # as /proc/net/tcp shows it
hc() {
	printf 'health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: %s}' \
		"${RETRIES:-10}"
}

# events_start SINCE: follow our containers' events from SINCE (unix seconds) on, live.  The
# engine keeps only its last 256 events for --since, and health checks (three exec events per
# check per container, from every test on the engine) push ours out within seconds: replaying
# them after the apply loses some, a stream opened before it does not.
EV_PID=
events_start() {
	rm -f ev.raw
	docker events --since "$1" --filter label=$LABEL_PROJECT=$PROJECT --filter type=container \
		--format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}' >ev.raw 2>/dev/null &
	EV_PID=$!
	return 0
}
events_kill() {
	[ -z "$EV_PID" ] || kill $EV_PID 2>/dev/null
	return 0
}
trap 'events_kill; test_exit_handler' EXIT

# events SINCE: "TIMENANO ACTION NAME" of our containers since SINCE (events_start), sorted.
events() {
	# the stream lags the engine by far less than a second (health checks keep it busy: it never
	# goes quiet, so do not wait for that)
	sleep 1
	kill $EV_PID 2>/dev/null
	wait $EV_PID 2>/dev/null
	EV_PID=
	sort -n ev.raw
}

# service NAME [EXTRA-LINES]: a Service document (health-checked app), appended to all.yaml.
service() {
	printf -- '---\nkind: Service\nname: %s\nimage: %s\n%s\n' "$1" "${IMAGE:-$TEST_IMAGE}" "$2" >>$M/all.yaml
}

settings() {
	repo_init $M 2>/dev/null
	printf 'kind: Settings\nproject: %s\nsubnets: {pool: %s, size: 28}\nports: {range: %s}\n' \
		"$PROJECT" "$TEST_POOL" "$TEST_PORTS" >$M/all.yaml
}


# apply through the proxy in the background (bounded); its exit code lands in cut.rc
apply_behind_proxy() {
	rm -f cut.rc
	(timeout 120 $RC --repo $M --docker-host unix://$SOCK apply >cut.out 2>&1; echo $? >cut.rc) &
}

remove_all() {
	docker rm -f $(docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT) >/dev/null 2>&1
	return 0
}

test_expect_success 'with --parallel 2, six units whose health takes 6 s are all started before the first is healthy' '
	settings &&
	for i in 1 2 3 4 5 6; do service s$i "env: {START_DELAY: \"6\"}
$(hc)" || return 1; done &&
	repo_commit $M six &&
	t0=$(date +%s) && events_start $t0 &&
	$RC --repo $M apply --parallel 2 >out &&
	cat out &&
	events $t0 >ev &&
	cat ev &&
	test "$(grep -c " start " ev)" = 6 &&
	last_start=$(grep " start " ev | tail -n 1 | cut -d" " -f1) &&
	first_healthy=$(grep " health_status: healthy " ev | head -n 1 | cut -d" " -f1) &&
	test -n "$first_healthy" &&
	test "$last_start" -lt "$first_healthy"
'

test_expect_success 'a dependent is released as its dependency turns healthy (created within 1 s of the event)' '
	remove_all && settings &&
	service db "env: {START_DELAY: \"2\"}
$(hc)" &&
	service web "env: {MODE: sleep}
depends_on: {db: healthy}" &&
	repo_commit $M "db and web" &&
	t0=$(date +%s) && events_start $t0 &&
	$RC --repo $M apply >out &&
	cat out &&
	events $t0 >ev && cat ev &&
	healthy=$(grep " health_status: healthy $PROJECT-db\$" ev | head -n 1 | cut -d" " -f1) &&
	created=$(grep " create $PROJECT-web\$" ev | head -n 1 | cut -d" " -f1) &&
	test -n "$healthy" && test -n "$created" &&
	test "$created" -gt "$healthy" &&
	test $((created - healthy)) -lt 1000000000
'

test_expect_success 'the event stream cut mid-rollout: the rollout still ends, every unit healthy' '
	test_when_finished "proxy_stop" &&
	remove_all && settings &&
	for i in 1 2 3 4; do service c$i "env: {START_DELAY: \"4\"}
$(hc)" || return 1; done &&
	repo_commit $M four &&
	proxy_start &&
	apply_behind_proxy &&
	wait_for "test \$(docker ps -q --filter label=$LABEL_PROJECT=$PROJECT --filter health=starting | wc -l) = 4" 60 &&
	proxy_stop && proxy_start &&
	wait_for "test -s cut.rc" 120 &&
	cat cut.out &&
	test_grep "engine events: .*dropped" cut.out &&
	test "$(cat cut.rc)" = 0 &&
	test "$(docker ps -q --filter label=$LABEL_PROJECT=$PROJECT --filter health=healthy | wc -l)" = 4
'

# Three customers of a health-checked app, converged; each test commits a bad change and checks
# that every old container serves on, then puts the good manifests back.
customers() {
	settings &&
	cat >>$M/all.yaml <<-EOT &&
	---
	kind: Plan
	name: small
	cpus: ${CPUS:-0.5}
	memory: 64M
	---
	kind: Template
	name: web
	services:
	  app:
	    image: ${IMAGE:-$TEST_IMAGE}
	    plan: small
	    port: 8080
	    env: {HEALTH: "${HEALTH:-ok}"}
	    $(hc)
	EOT
	for c in a b c; do printf -- "---\nkind: Customer\nid: %s\ntemplate: web\nport: auto\n" $c >>$M/all.yaml || return 1; done
	repo_commit $M "${1:-customers}"
}
ids() {
	for c in a b c; do docker inspect -f "{{.Id}} {{.Name}} {{.State.Status}}" $PROJECT-$c-app || return 1; done
}

test_expect_success 'setup: three customers converged' '
	remove_all && customers &&
	$RC --repo $M apply >out && cat out &&
	ids >ids.good && cat ids.good
'

test_expect_success 'an image that does not exist: every old container keeps running (same IDs), apply exits 1 naming the unit' '
	IMAGE=$RC_TEST_REGISTRY/$PROJECT/nosuch:1 customers "missing image" &&
	test_expect_code 1 env RECONCILER_PULL_RETRIES=0 $RC --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "a/app" out && test_grep "old container was not touched" out &&
	ids >ids.now && test_cmp ids.good ids.now &&
	test "$(docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT | wc -l)" = 3
'

test_expect_success 'a value the engine refuses at create: every old container keeps running (same IDs)' '
	CPUS=64 customers "cpus the engine refuses" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "b/app" out && test_grep -i "cpu" out &&
	ids >ids.now && test_cmp ids.good ids.now &&
	test "$(docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT | wc -l)" = 3
'

test_expect_success 'a new container that starts but never becomes healthy: the old one runs again, under its name' '
	HEALTH=never RETRIES=2 customers "never healthy" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "unhealthy" out && test_grep "the old container runs again" out &&
	ids >ids.now && test_cmp ids.good ids.now &&
	test "$(docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT | wc -l)" = 3 &&
	wait_for "test \$(docker ps -q --filter label=$LABEL_PROJECT=$PROJECT --filter health=healthy | wc -l) = 3" 30
'

test_expect_success 'and the good manifests converge again with nothing to replace' '
	customers "good again" &&
	$RC --repo $M apply >out && cat out &&
	test_grep "^No changes" out
'

test_expect_success 'update_order: start-first: the old container serves until the new one is healthy' '
	remove_all && settings &&
	service w "env: {V: \"1\", START_DELAY: \"2\"}
update_order: start-first
$(hc)" &&
	repo_commit $M "w v1" &&
	$RC --repo $M apply >out && cat out &&
	old=$(container_id $PROJECT-w) &&
	sed -i "s/V: \"1\"/V: \"2\"/" $M/all.yaml && repo_commit $M "w v2" &&
	t0=$(date +%s.%N) && events_start $t0 &&
	$RC --repo $M apply >out && cat out &&
	events $t0 >ev && cat ev &&
	new=$(container_id $PROJECT-w) &&
	test "$new" != "$old" &&
	test "$(docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT | wc -l)" = 1 &&
	healthy=$(grep " health_status: healthy $PROJECT-w\.next-" ev | head -n 1 | cut -d" " -f1) &&
	stopped=$(grep " die $PROJECT-w\$" ev | head -n 1 | cut -d" " -f1) &&
	test -n "$healthy" && test -n "$stopped" &&
	test "$stopped" -gt "$healthy"
'

test_expect_success 'update_order: start-first, a new container never healthy: the old one never stops' '
	old=$(container_id $PROJECT-w) &&
	sed -i "s/V: \"2\"/V: \"3\", HEALTH: never/; s/retries: 10/retries: 2/" $M/all.yaml && repo_commit $M "w never" &&
	t0=$(date +%s.%N) && events_start $t0 &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 && cat out &&
	test_grep "the old container runs on (never stopped)" out &&
	test "$(container_id $PROJECT-w)" = "$old" &&
	test "$(container_field $PROJECT-w {{.State.Status}})" = running &&
	events $t0 >ev && cat ev &&
	! grep " die $PROJECT-w\$" ev &&
	test "$(docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT | wc -l)" = 1
'

test_expect_success 'update_order: start-first is refused for a service that publishes a port' '
	settings &&
	service p "ports: [\"$((base + 48)):8080\"]
update_order: start-first" &&
	service q "update_order: sideways" &&
	repo_commit $M "bad orders" &&
	test_expect_code 1 $RC --repo $M validate >out 2>&1 && cat out &&
	test_grep "all.yaml:[0-9]*:[0-9]*: .update_order: start-first. needs a service that publishes no host port" out &&
	test_grep "all.yaml:[0-9]*:[0-9]*: .update_order. must be stop-first or start-first" out
'

# poll_ports: every 0.2 s, GET /health on each customer's published port; a failure is a line in down.log.
poll_ports() {
	ports=$(for c in a b c; do docker port $PROJECT-$c-app 8080/tcp | head -n 1 | sed "s/.*://"; done)
	test "$(echo $ports | wc -w)" = 3 || return 1
	rm -f poll.stop down.log rounds.log && : >down.log && : >rounds.log
	(while [ ! -f poll.stop ]; do
		for p in $ports; do
			curl -fsS --max-time 1 -o /dev/null http://127.0.0.1:$p/health ||
				echo "down $p $(date +%T.%N)" >>down.log
		done
		echo . >>rounds.log
		sleep 0.2
	done) &
	POLLER=$!
}
poll_stop() {
	[ -n "${POLLER:-}" ] || return 0
	touch poll.stop
	wait $POLLER
	POLLER=
}

test_expect_success 'under the daemon, a commit with a missing image: no customer is down through the rollout and the rollback' '
	test_when_finished "poll_stop; daemon_kill" &&
	remove_all && customers "daemon: good" &&
	good=$(git -C $M rev-parse HEAD) &&
	export RECONCILER_PULL_RETRIES=0 &&
	daemon_start d.log --repo $M &&
	daemon_wait_log d.log "boot convergence complete" 90 &&
	wait_for "test \$(docker ps -q --filter label=$LABEL_PROJECT=$PROJECT --filter health=healthy | wc -l) = 3" 30 &&
	ids >ids.good &&
	poll_ports &&
	sleep 1 &&
	IMAGE=$RC_TEST_REGISTRY/$PROJECT/nosuch:1 customers "daemon: missing image" &&
	bad=$(git -C $M rev-parse HEAD) &&
	daemon_wait_log d.log "rollout of $(echo $bad | cut -c1-12) failed" 90 &&
	daemon_wait_log d.log "rolled back to $(echo $good | cut -c1-12)" 60 &&
	sleep 1 &&
	poll_stop &&
	cat d.log &&
	test "$(wc -l <rounds.log)" -ge 5 &&
	{ test ! -s down.log || { echo "customers down:"; cat down.log; false; }; } &&
	ids >ids.now && test_cmp ids.good ids.now
'

test_expect_success 'a unit that never becomes healthy fails alone: its dependent skipped, 50 unrelated units done before' '
	remove_all && settings &&
	service bad "env: {HEALTH: never}
$(hc)" &&
	service child "env: {MODE: sleep}
depends_on: {bad: healthy}" &&
	i=0 && while [ $i -lt 50 ]; do service u$i "env: {MODE: sleep}" || return 1; i=$((i + 1)); done &&
	repo_commit $M "bad and 50" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "^failed  *+ bad .*unhealthy" out &&
	test_grep "^skipped  *+ child .*dependency .bad. failed" out &&
	test "$(grep -c "^ok  *+ u[0-9]*  *started" out)" = 50 &&
	test "$(grep -n "^failed  *+ bad" out | cut -d: -f1)" -gt "$(grep -n "^ok  *+ u" out | tail -n 1 | cut -d: -f1)" &&
	test "$(docker ps -q --filter label=$LABEL_PROJECT=$PROJECT --filter status=running | wc -l)" = 51
'

test_expect_success 'port: auto skips a port a host process listens on' '
	test_when_finished "pkill -f \"$TRASH/listener.py\"" &&
	remove_all &&
	printf "import socket, time\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind((\"0.0.0.0\", $base))\ns.listen()\ntime.sleep(120)\n" >$TRASH/listener.py &&
	{ python3 $TRASH/listener.py & } &&
	wait_for "grep -qi \":$basehex 00000000:0000 0A\" /proc/net/tcp" 10 &&
	customers "host port taken" &&
	: a state directory of its own, with no allocations, so port: auto starts at the low end of the range: &&
	: it takes the project over from $STATE, deliberately &&
	$RC --state-dir $TRASH/hostport-state --repo $M --take-over apply >out 2>&1 && cat out &&
	for c in a b c; do
		test "$(docker port $PROJECT-$c-app 8080/tcp | head -n 1 | sed "s/.*://")" != $base || return 1
	done
'

test_expect_success 'an explicit port a host process holds is a conflict before anything changes' '
	test_when_finished "pkill -f \"$TRASH/listener.py\"" &&
	remove_all && settings &&
	service fixed "ports: [\"$base:8080\"]" &&
	repo_commit $M "fixed port taken" &&
	{ python3 $TRASH/listener.py & } &&
	wait_for "grep -qi \":$basehex 00000000:0000 0A\" /proc/net/tcp" 10 &&
	test_expect_code 1 $RC --state-dir $TRASH/hostport-state --repo $M apply >out 2>&1 && cat out &&
	test_grep "unit .fixed. needs host port $base, which a process on the host (not a container) listens on" out &&
	test "$(docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT | wc -l)" = 0
'

test_done
