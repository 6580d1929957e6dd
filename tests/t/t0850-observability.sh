#!/bin/sh
test_description='the daemon observed: /metrics checked by promtool and scraped by a real Prometheus,
/status against status --json, /healthz, /events live and resumed with Last-Event-ID, webhooks to a
local receiver (and failing ones that delay nothing), bad and idle clients that stop no rollout,
sd_notify READY=1 / WATCHDOG=1 / STOPPING=1 on a datagram socket, the default unix socket'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

# ports of this run (derived from the pid, as no fixed port may be shared with another test)
BASE=$((31000 + ($$ % 3000) * 4))
HPORT=$BASE            # the daemon's --listen
HOOK=$((BASE + 1))     # webhook receiver answering 200
HOOK500=$((BASE + 2))  # webhook receiver answering 500
PROMPORT=$((BASE + 3)) # prometheus
DOWN=$((BASE + 3999 - ($$ % 1000)))  # nothing listens here (a webhook that is down)
URL=http://127.0.0.1:$HPORT
M=$TRASH/repo
BG_PIDS=

bg_kill() {
	for p in $BG_PIDS; do
		kill "$p" 2>/dev/null
	done
	BG_PIDS=
	return 0
}
# "$@" in the background, killed at the end (bg_kill)
bg() {
	"$@" &
	BG_PIDS="$BG_PIDS $!"
}
# the daemon and the helpers outlive single tests: stopped when the script ends, however it ends
trap 'st_=$?; daemon_kill; bg_kill; (exit $st_); test_exit_handler' EXIT

# a client of /events from now on (its pid in CURL_PID)
follow_events() {
	curl -sN --max-time 60 $URL/events &
	CURL_PID=$!
}

# n connections that send nothing (held for 30 s; the server closes them after 10 s idle)
open_idle() {
	i=0
	while [ $i -lt "$1" ]; do
		sleep 30 | socat -u - TCP:127.0.0.1:$HPORT 2>/dev/null &
		IDLE="${IDLE:-} $!"
		i=$((i + 1))
	done
}

write_manifests() {
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	subnets: {pool: 10.236.0.0/16, size: 28}
	notify:
	  webhooks: [http://127.0.0.1:$HOOK/hook, http://127.0.0.1:$HOOK500/hook, http://127.0.0.1:$DOWN/hook]
	  events: [rollout, disable]
	---
	kind: Plan
	name: p
	restart: {backoff: 1s, max_backoff: 2s, max_failures: 1}
	---
	kind: Service
	name: web
	image: $TEST_IMAGE
	plan: p
	env: {MODE: sleep, GREETING: "$1"}
	---
	kind: Service
	name: api
	image: $TEST_IMAGE
	env: {MODE: sleep}
	EOT
}

# A webhook receiver: one request per connection, the body appended to $2, answered with status $3.
start_receiver() {
	cat >"$TRASH/recv-$1.sh" <<-'EOT'
	len=0
	while IFS= read -r line; do
		line=$(printf '%s' "$line" | tr -d '\r')
		[ -z "$line" ] && break
		case "$line" in
		[Cc]ontent-[Ll]ength:*) len=${line#*:}; len=$((len + 0)) ;;
		esac
	done
	body=$(head -c "$len")
	printf '%s\n' "$body" >>"$OUT"
	printf 'HTTP/1.1 %s X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' "$CODE"
	EOT
	OUT=$2 CODE=$3 bg socat TCP-LISTEN:$1,bind=127.0.0.1,reuseaddr,fork EXEC:"sh $TRASH/recv-$1.sh"
}

metric() {
	curl -sf "$URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

test_expect_success 'setup: a repository, webhook receivers, a notify socket' '
	repo_init $M &&
	write_manifests one &&
	repo_commit $M "one" &&
	: >hooks.txt && : >hooks500.txt &&
	start_receiver $HOOK $TRASH/hooks.txt 200 &&
	start_receiver $HOOK500 $TRASH/hooks500.txt 500 &&
	bg socat -u UNIX-RECV:$TRASH/notify.sock OPEN:$TRASH/notify.txt,creat,append &&
	wait_for "test -S $TRASH/notify.sock" 10 &&
	wait_for "ss -ltn | grep -q 127.0.0.1:$HOOK500" 10
'

test_expect_success '--listen: a bad address is refused before anything starts' '
	test_expect_code 1 $RC --state-dir $STATE run --repo $M --listen 10.0.0.300:80 2>err &&
	test_grep "not an IPv4 address" err &&
	test_expect_code 1 $RC --state-dir $STATE run --repo $M --listen 127.0.0.1:99999 2>err &&
	test_grep "not a port" err
'

test_expect_success 'the daemon starts with --listen, READY=1 after boot convergence, watchdog pings' '
	NOTIFY_SOCKET=$TRASH/notify.sock WATCHDOG_USEC=1000000 daemon_start d.log --repo $M --listen 127.0.0.1:$HPORT &&
	daemon_wait_log d.log "boot convergence complete" 90 &&
	wait_for "grep -q READY=1 notify.txt" 10 &&
	test_grep "STATUS=commit $(git -C $M rev-parse HEAD | cut -c1-12), 2 units" notify.txt &&
	wait_for "test \$(grep -o WATCHDOG=1 notify.txt | wc -l) -ge 6" 20 &&
	curl -sf $URL/healthz >hz &&
	test_grep "^ok" hz &&
	: the boot convergence is posted too, by the filter of the commit it converged to &&
	boot=$(git -C $M rev-parse HEAD) &&
	wait_for "grep -q \"\\\"commit\\\":\\\"$boot\\\".*\\\"event\\\":\\\"rollout:ok\\\"\" hooks.txt" 30
'

test_expect_success '/metrics: promtool accepts it; the units, rollouts and engine requests are there' '
	wait_for "curl -sf $URL/metrics | grep -q \"reconciler_unit_ready{unit=\\\"web\\\"} 1\"" 30 &&
	curl -sf -D headers $URL/metrics >metrics.txt &&
	test_grep "Content-Type: text/plain; version=0.0.4" headers &&
	promtool check metrics <metrics.txt &&
	test_grep "^reconciler_unit_info{unit=\"web\",customer=\"\",service=\"web\",image=\"$TEST_IMAGE\"} 1" metrics.txt &&
	test_grep "^reconciler_unit_ready{unit=\"api\"} 1" metrics.txt &&
	test_grep "^reconciler_unit_disabled{unit=\"web\"} 0" metrics.txt &&
	test_grep "^reconciler_rollouts_total{result=\"ok\"} 1" metrics.txt &&
	test_grep "^reconciler_rollout_duration_seconds_count 1" metrics.txt &&
	test_grep "^reconciler_engine_request_duration_seconds_bucket{op=\"version\",le=\"+Inf\"} [1-9]" metrics.txt &&
	test_grep "^reconciler_engine_request_duration_seconds_count{op=\"create\"} 2" metrics.txt &&
	test_grep "^reconciler_engine_up 1" metrics.txt &&
	test_grep "^reconciler_build_info{version=" metrics.txt &&
	test_grep "^reconciler_last_applied_commit_timestamp_seconds $(git -C $M log -1 --format=%ct)" metrics.txt
'

test_expect_success 'a real Prometheus scrapes it: PromQL counts the units' '
	cat >prom.yml <<-EOT &&
	global: {scrape_interval: 1s, evaluation_interval: 1s}
	scrape_configs:
	  - job_name: reconciler
	    static_configs: [{targets: ["127.0.0.1:$HPORT"]}]
	EOT
	promtool check config prom.yml >/dev/null &&
	bg prometheus --config.file=prom.yml --storage.tsdb.path=$TRASH/prom \
		--web.listen-address=127.0.0.1:$PROMPORT >prom.log 2>&1 &&
	q="http://127.0.0.1:$PROMPORT/api/v1/query?query=sum(reconciler_unit_ready)" &&
	wait_for "curl -sf \"$q\" | grep -q \"\\\"2\\\"\"" 60 &&
	curl -sf "$q" >prom.json &&
	test_grep "\"status\":\"success\"" prom.json &&
	curl -sf "http://127.0.0.1:$PROMPORT/api/v1/query?query=up" | grep -q "\"1\""
'

test_expect_success '/status is the document of status --json (but for the uptimes)' '
	curl -sf $URL/status >http.json &&
	$RC --state-dir $STATE status --repo $M --json >cli.json &&
	sed "s/\"uptime_seconds\": [0-9]*/\"uptime_seconds\": N/" http.json >a &&
	sed "s/\"uptime_seconds\": [0-9]*/\"uptime_seconds\": N/" cli.json >b &&
	test_cmp b a &&
	test_grep "\"daemon_pid\": $DPID" a
'

test_expect_success 'bad requests: unknown path 404, POST 405, a huge header refused' '
	test "$(curl -s -o /dev/null -w %{http_code} $URL/nope)" = 404 &&
	test "$(curl -s -o /dev/null -w %{http_code} -X POST -d x=1 $URL/metrics)" = 405 &&
	big=$(head -c 40000 /dev/zero | tr "\0" a) &&
	code=$(curl -s -o /dev/null -w %{http_code} -H "X-Big: $big" $URL/metrics) &&
	test "$code" != 200 &&
	curl -sf $URL/healthz >/dev/null
'

test_expect_success '/events: a client connected before a commit gets the rollout in order; Last-Event-ID resumes' '
	follow_events >ev1.txt &&
	wait_for "grep -q \"^data: \" ev1.txt" 10 &&
	write_manifests two &&
	repo_commit $M "two" &&
	head=$(git -C $M rev-parse HEAD) &&
	wait_for "grep \"\\\"commit\\\":\\\"$head\\\",\\\"action\\\":\\\"rollout\\\"\" ev1.txt | grep -q \"\\\"result\\\":\\\"ok\\\"\"" 60 &&
	kill $CURL_PID &&
	grep "^data: .*\"commit\":\"$head\"" ev1.txt >mine &&
	sed -n 1p mine | test_grep "\"action\":\"rollout\".*\"result\":\"started\"" &&
	sed -n \$p mine | test_grep "\"action\":\"rollout\".*\"result\":\"ok\"" &&
	grep -q "\"unit\":\"web\"" mine &&
	started_id=$(grep -B1 "\"commit\":\"$head\",\"action\":\"rollout\".*\"started\"" ev1.txt | sed -n "s/^id: //p") &&
	test -n "$started_id" &&
	seq=${started_id#*.} &&
	test_expect_code 28 curl -sN --max-time 3 -H "Last-Event-ID: $started_id" $URL/events >ev2.txt &&
	test -s ev2.txt &&
	first=$(sed -n "s/^id: [0-9]*\.//p" ev2.txt | head -1) &&
	test "$first" -eq $((seq + 1)) &&
	grep "^data: " ev1.txt | sed -n "/\"seq\":$((seq + 1)),/,\$p" >after1 &&
	grep "^data: " ev2.txt | head -n $(wc -l <after1) >after2 &&
	test_cmp after1 after2
'

test_expect_success 'webhooks: the rollout posted as JSON to the receiver; the failing ones delay nothing' '
	head=$(git -C $M rev-parse HEAD) &&
	wait_for "grep -q \"\\\"commit\\\":\\\"$head\\\".*\\\"event\\\":\\\"rollout:ok\\\"\" hooks.txt" 30 &&
	grep "\"event\":\"rollout:ok\"" hooks.txt | grep "$head" | test_grep "\"project\":\"$PROJECT\"" &&
	wait_for "grep -q rollout:ok hooks500.txt" 30 &&
	wait_for "test \"\$(metric reconciler_webhooks_total{outcome=\\\"failed\\\"})\" -ge 2" 40 &&
	test_grep "webhook http://127.0.0.1:$DOWN/hook: .*dropped after 4 tries" d.log &&
	test_grep "webhook http://127.0.0.1:$HOOK500/hook: HTTP 500; dropped after 4 tries" d.log &&
	: the webhook worker logs as the daemon does, a line of its own with time and pid &&
	test_grep "^[0-9T:-]*Z reconciler\[[0-9]*\]: warning: webhook http://127.0.0.1:$HOOK500/hook: HTTP 500; dropped after 4 tries$" d.log &&
	test "$(metric reconciler_webhooks_total{outcome=\"delivered\"})" -ge 1
'

test_expect_success 'webhooks: a failed rollout and a disabled unit are delivered' '
	cat >>$M/settings.yaml <<-EOT &&
	---
	kind: Service
	name: bad
	image: $TEST_IMAGE
	env: {HEALTH: never}
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 1s, retries: 2}
	EOT
	repo_commit $M "bad" &&
	bad=$(git -C $M rev-parse HEAD) &&
	wait_for "grep -q \"\\\"commit\\\":\\\"$bad\\\".*rollout:failed\" hooks.txt" 90 &&
	git -C $M revert --no-edit HEAD >/dev/null &&
	daemon_wait_log d.log "commit $(git -C $M rev-parse HEAD | cut -c1-12) converged" 60 &&
	docker kill $PROJECT-web >/dev/null &&
	wait_for "grep -q \"\\\"unit\\\":\\\"web\\\".*\\\"event\\\":\\\"disable:ok\\\"\" hooks.txt" 60 &&
	wait_for "curl -sf $URL/metrics | grep -q \"^reconciler_unit_disabled{unit=\\\"web\\\"} 1\"" 10 &&
	curl -sf $URL/metrics | test_grep "^reconciler_rollouts_total{result=\"failed\"} 1"
'

test_expect_success 'idle connections (past the limit) and slow clients stop no rollout' '
	$RC --state-dir $STATE enable web >/dev/null &&
	open_idle 140 &&
	wait_for "! curl -sf --max-time 2 -o /dev/null $URL/healthz" 10 &&
	write_manifests three &&
	repo_commit $M "three" &&
	daemon_wait_log d.log "commit $(git -C $M rev-parse HEAD | cut -c1-12) converged" 60 &&
	test "$(container_field $PROJECT-web "{{range .Config.Env}}{{println .}}{{end}}" | grep GREETING)" = GREETING=three &&
	for p in $IDLE; do kill $p 2>/dev/null; done &&
	wait_for "curl -sf --max-time 2 $URL/healthz" 30
'

test_expect_success 'STOPPING=1 at the stop' '
	daemon_stop &&
	test "$DEXIT" = 0 &&
	test_grep STOPPING=1 notify.txt
'

test_expect_success 'without --listen: a unix socket in the state directory, mode 0660, and no TCP' '
	test_when_finished "daemon_kill; bg_kill" &&
	daemon_start d2.log --repo $M &&
	daemon_wait_log d2.log "boot convergence complete" 90 &&
	test "$(stat -c %a $STATE/http.sock)" = 660 &&
	curl -sf --unix-socket $STATE/http.sock http://localhost/healthz >hz &&
	test_grep "^ok" hz &&
	curl -sf --unix-socket $STATE/http.sock http://localhost/metrics | promtool check metrics &&
	! ss -ltnp | grep -q "pid=$DPID," &&
	daemon_stop &&
	test ! -e $STATE/http.sock
'

test_done
