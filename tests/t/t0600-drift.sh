#!/bin/sh
test_description='drift against a real engine: none after apply; each kind of hand-made change
(docker update, stop, rm, run, rename, network disconnect / rm, an unmanaged squatter) is
detected exactly; --fix converges; JSON and Markdown output; journal'
. "$(dirname "$0")/../lib/test-lib.sh"

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
	kind: Network
	name: backend
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	env: {ROLE: db}
	labels: {team: infra}
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
	    command: [/app/run, --worker]
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

# One line per finding: "kind unit container network" (null for none), in report order.
findings() {
	sed -n 's/^    {"kind": "\([^"]*\)", "unit": \("[^"]*"\|null\), "customer": [^,]*, "container": \("[^"]*"\|null\), "container_id": [^,]*, "network": \("[^"]*"\|null\).*/\1 \2 \3 \4/p' "$1" | tr -d '"'
}

# drift_is EXPECTED-FILE: drift --json exits 2 and reports exactly these findings.
drift_is() {
	test_expect_code 2 $RC --repo $M drift --json >drift.json &&
	findings drift.json >got &&
	test_cmp "$1" got
}

P=$PROJECT

test_expect_success 'setup: a repository with two customers and a shared service, applied' '
	repo_init $M &&
	write_manifests &&
	repo_commit $M "initial" &&
	$RC --repo $M apply >apply.out &&
	test "$(container_field $P-c2-app {{.State.Status}})" = running
'

test_expect_success 'drift before anything was applied from Git is an error' '
	test_expect_code 1 $RC --repo $M --state-dir $TRASH/empty-state drift 2>err &&
	test_grep "nothing was applied" err
'

test_expect_success 'no drift right after apply (exit 0), against the last applied commit' '
	$RC --repo $M drift >out &&
	test_grep "^Drift check of project $P against commit $(git -C $M rev-parse HEAD | cut -c1-12): 5 units, 5 containers, 5 networks" out &&
	test_grep "^No drift\.$" out
'

test_expect_success 'no drift after a second apply either' '
	$RC --repo $M apply >again.out &&
	test_grep "^No changes" again.out &&
	test_expect_code 0 $RC --repo $M drift --json >drift.json &&
	test_grep "\"total\": 0" drift.json &&
	test -z "$(findings drift.json)"
'

test_expect_success 'the drift check is journaled' '
	grep "\"action\":\"drift\"" $STATE/journal.jsonl | tail -1 >last &&
	test_grep "\"result\":\"none\"" last &&
	test_grep "\"message\":\"no drift\"" last &&
	test_grep "\"commit\":\"$(git -C $M rev-parse HEAD)\"" last
'

test_expect_success 'docker update --memory: a resource change of that unit only' '
	docker update --memory 64m --memory-swap 128m $P-c1-app >/dev/null &&
	echo "changed c1/app $P-c1-app null" >want &&
	drift_is want &&
	test_grep "\"field\": \"memory\", \"secret\": false, \"expected\": \"50331648\", \"actual\": \"67108864\", \"expected_human\": \"48 MiB\", \"actual_human\": \"64 MiB\"" drift.json &&
	test "$(grep -c "\"field\"" drift.json)" = 1 &&
	test_expect_code 2 $RC --repo $M drift >out &&
	test_grep "^~ c1/app  *changed  *$P-c1-app$" out &&
	test_grep "^      memory: 48 MiB → 64 MiB$" out &&
	test_grep "^Drift: 1 changed\.$" out
'

test_expect_success 'docker stop: stopped' '
	docker stop -t 1 $P-c1-worker >/dev/null &&
	cat >>want <<-EOT &&
	stopped c1/worker $P-c1-worker null
	EOT
	drift_is want &&
	test_grep "\"detail\": \"exited (code [0-9]*)\"" drift.json
'

test_expect_success 'a summary made from an inspect says what the list says, stopped or running' '
	: the daemon drift check inspects the containers it knows instead of listing them &&
	"$RC_TOP/build/test/helpers/summary-check" $P >sum.out &&
	test_grep "^checked 5$" sum.out
'

test_expect_success 'docker rm -f: missing' '
	docker rm -f $P-c2-worker >/dev/null &&
	cat >want <<-EOT &&
	changed c1/app $P-c1-app null
	stopped c1/worker $P-c1-worker null
	missing c2/worker null null
	EOT
	drift_is want
'

test_expect_success 'docker run of a container with the project label: extra' '
	docker run -d --name $P-stray --label $LABEL_PROJECT=$P --label io.reconciler.unit=ghost $TEST_IMAGE >/dev/null &&
	echo "extra ghost $P-stray null" >>want &&
	drift_is want &&
	test_grep "unit .ghost. is not in the desired state" drift.json
'

test_expect_success 'docker network disconnect: the networks of that unit' '
	docker network disconnect $P-backend $P-db &&
	cat >want <<-EOT &&
	changed c1/app $P-c1-app null
	stopped c1/worker $P-c1-worker null
	missing c2/worker null null
	changed db $P-db null
	extra ghost $P-stray null
	EOT
	drift_is want &&
	test_grep "\"field\": \"networks.0\", \"secret\": false, \"expected\": \"$P-backend\", \"actual\": null" drift.json
'

test_expect_success 'an unmanaged container on a managed name and host port (while the unit is gone)' '
	c2port=$(container_field $P-c2-app "{{(index (index .HostConfig.PortBindings \"8080/tcp\") 0).HostPort}}") &&
	docker rm -f $P-c2-app >/dev/null &&
	docker run -d --name $P-c2-app --label rt.squatter=$P -p $c2port:8080 $TEST_IMAGE >/dev/null &&
	test_when_finished "docker rm -f \$(docker ps -aq --filter label=rt.squatter=$P) >/dev/null 2>&1" &&
	cat >want <<-EOT &&
	changed c1/app $P-c1-app null
	stopped c1/worker $P-c1-worker null
	missing c2/app null null
	missing c2/worker null null
	changed db $P-db null
	extra ghost $P-stray null
	unmanaged null $P-c2-app null
	unmanaged null $P-c2-app null
	EOT
	drift_is want &&
	test_grep "\"detail\": \"has the container name of unit .c2/app.\"" drift.json &&
	test_grep "\"detail\": \"publishes host port $c2port of unit .c2/app.\"" drift.json &&
	docker rm -f $P-c2-app >/dev/null
'

test_expect_success 'unmanaged containers on a managed name only, and on a managed (auto) host port only' '
	docker run -d --name $P-c2-worker --label rt.squatter=$P $TEST_IMAGE >/dev/null &&
	docker run -d --name $P-squat2 --label rt.squatter=$P -p $c2port:8080 $TEST_IMAGE >/dev/null &&
	test_when_finished "docker rm -f \$(docker ps -aq --filter label=rt.squatter=$P) >/dev/null 2>&1" &&
	cat >want <<-EOT &&
	changed c1/app $P-c1-app null
	stopped c1/worker $P-c1-worker null
	missing c2/app null null
	missing c2/worker null null
	changed db $P-db null
	extra ghost $P-stray null
	unmanaged null $P-c2-worker null
	unmanaged null $P-squat2 null
	EOT
	drift_is want &&
	test_grep "\"detail\": \"has the container name of unit .c2/worker.\"" drift.json &&
	test_grep "\"detail\": \"publishes host port $c2port of unit .c2/app.\"" drift.json &&
	docker rm -f $P-c2-worker $P-squat2 >/dev/null
'

test_expect_success 'docker network rm of a customer network (its containers gone): missing network' '
	docker network rm $P-c2 >/dev/null &&
	cat >want <<-EOT &&
	changed c1/app $P-c1-app null
	stopped c1/worker $P-c1-worker null
	missing c2/app null null
	missing c2/worker null null
	changed db $P-db null
	extra ghost $P-stray null
	network-missing null null $P-c2
	EOT
	drift_is want
'

test_expect_success 'docker rename: renamed' '
	docker rename $P-c1-worker $P-c1-worker-old &&
	cat >want <<-EOT &&
	changed c1/app $P-c1-app null
	renamed c1/worker $P-c1-worker-old null
	stopped c1/worker $P-c1-worker-old null
	missing c2/app null null
	missing c2/worker null null
	changed db $P-db null
	extra ghost $P-stray null
	network-missing null null $P-c2
	EOT
	drift_is want &&
	test_grep "named .$P-c1-worker-old. instead of .$P-c1-worker." drift.json
'

test_expect_success 'JSON: summary counts and the documented fields' '
	test_grep "^  \"version\": 1,$" drift.json &&
	test_grep "^  \"command\": \"drift\",$" drift.json &&
	test_grep "^  \"project\": \"$P\",$" drift.json &&
	test_grep "^  \"commit\": \"$(git -C $M rev-parse HEAD)\",$" drift.json &&
	test_grep "\"summary\": {\"total\": 8, \"changed\": 2, \"stopped\": 1, \"running\": 0, \"missing\": 2, \"renamed\": 1, \"extra\": 1, \"unmanaged\": 0, \"network-missing\": 1, \"network-extra\": 0, \"network-changed\": 0}" drift.json
'

test_expect_success 'Markdown: heading, one table row per finding, summary' '
	test_expect_code 2 $RC --repo $M drift --markdown >drift.md &&
	test "$(head -1 drift.md)" = "### Drift: project \`$P\`, commit \`$(git -C $M rev-parse HEAD | cut -c1-12)\`" &&
	test_grep "^| | object | finding | details |$" drift.md &&
	test "$(grep -c "^| [-~!+] | " drift.md)" = 8 &&
	test_grep "^| ~ | \`c1/app\` | changed | memory: 48 MiB → 64 MiB |$" drift.md &&
	test_grep "^| - | \`network $P-c2\` | network-missing | " drift.md &&
	test_grep "^\*\*Drift:\*\* 2 changed, 1 stopped, 2 missing, 1 renamed, 1 extra, 1 network missing\.$" drift.md
'

test_expect_success 'the journal has the last summary' '
	grep "\"action\":\"drift\"" $STATE/journal.jsonl | tail -1 >last &&
	test_grep "\"result\":\"drift\"" last &&
	test_grep "\"message\":\"8 findings: 2 changed, 1 stopped, 2 missing, 1 renamed, 1 extra, 1 network missing\"" last
'

test_expect_success 'drift --fix converges; drift then says none' '
	$RC --repo $M drift --fix >fix.out 2>fix.err &&
	cat fix.out fix.err &&
	test_grep "drift fixed: no drift left" fix.err &&
	test_expect_code 0 $RC --repo $M drift >out &&
	test_grep "^No drift\.$" out &&
	test "$(container_field $P-c1-app {{.HostConfig.Memory}})" = 50331648 &&
	test "$(container_field $P-c1-worker {{.State.Status}})" = running &&
	test_must_fail docker inspect $P-c1-worker-old >/dev/null 2>&1 &&
	test_must_fail docker inspect $P-stray >/dev/null 2>&1 &&
	test "$(container_field $P-c2-app {{.State.Status}})" = running &&
	docker network inspect $P-c2 >/dev/null &&
	container_field $P-db "{{range \$k, \$v := .NetworkSettings.Networks}}{{\$k}} {{end}}" | grep -q "$P-backend"
'

test_expect_success 'an in-place update fixed by --fix stays fixed: apply and drift agree' '
	test_expect_code 0 $RC --repo $M plan &&
	test_expect_code 0 $RC --repo $M drift
'

test_expect_success 'a network reconnected without its alias: that alias only; --fix gives it back' '
	docker network disconnect $P-c1 $P-c1-app &&
	docker network connect $P-c1 $P-c1-app &&
	echo "changed c1/app $P-c1-app null" >want &&
	drift_is want &&
	test "$(grep -c "\"field\"" drift.json)" = 1 &&
	test_grep "\"field\": \"networks.0.alias\", \"secret\": false, \"expected\": \"app\", \"actual\": \"\"" drift.json &&
	test_expect_code 2 $RC --repo $M drift >out &&
	test_grep "^      networks.0.alias: app → \"\"$" out &&
	$RC --repo $M drift --fix >/dev/null 2>&1 &&
	container_field $P-c1-app "{{json (index .NetworkSettings.Networks \"$P-c1\").Aliases}}" | grep -q "^\[\"app\"" &&
	test_expect_code 0 $RC --repo $M drift
'

test_expect_success 'containers are made from the image ID, the reference in a label' '
	test "$(container_field $P-c1-worker {{.Config.Image}})" = "$(docker image inspect -f {{.Id}} $TEST_IMAGE)" &&
	test "$(container_field $P-c1-worker "{{index .Config.Labels \"io.reconciler.image\"}}")" = "$TEST_IMAGE"
'

test_expect_success 'a container replaced by hand from another image: the image of that unit only' '
	python3 "$RC_TOP/tests/lib/recreate.py" $P-c1-worker $TEST_IMAGE2 >/dev/null &&
	test "$(container_field $P-c1-worker {{.Config.Image}})" = $TEST_IMAGE2 &&
	echo "changed c1/worker $P-c1-worker null" >want &&
	drift_is want &&
	test "$(grep -c "\"field\"" drift.json)" = 1 &&
	test_grep "\"field\": \"image\", \"secret\": false, \"expected\": \"$TEST_IMAGE\", \"actual\": \"$TEST_IMAGE2\"" drift.json &&
	$RC --repo $M drift --fix >/dev/null 2>&1 &&
	test "$(container_field $P-c1-worker {{.Config.Image}})" = "$(docker image inspect -f {{.Id}} $TEST_IMAGE)" &&
	test_expect_code 0 $RC --repo $M drift
'

test_expect_success '--rev compares with another commit; --dir with a directory' '
	sed -i "s/GREETING: hello/GREETING: bonjour/" $M/customers/c1.yaml && repo_commit $M "c1 env" &&
	test_expect_code 2 $RC --repo $M --rev HEAD drift >out &&
	test_grep "env.GREETING: bonjour → hello" out &&
	test_expect_code 0 $RC --repo $M --rev HEAD~1 drift &&
	git -C $M checkout -q HEAD~1 -- customers/c1.yaml &&
	test_expect_code 0 $RC --dir $M drift &&
	: another project than the last apply: the containers listed for the old one are not used &&
	cp -r $M other && rm -rf other/.git &&
	sed -i "s/^project: $P\$/project: ${P}x/" other/settings.yaml &&
	test_expect_code 2 $RC --dir other drift --json >other.json &&
	test_grep "\"project\": \"${P}x\"" other.json &&
	: all missing, and the containers of the old project are no extras of it, only intruders on its ports &&
	test_grep "\"summary\": {\"total\": 12, \"changed\": 0, \"stopped\": 0, \"running\": 0, \"missing\": 5, \"renamed\": 0, \"extra\": 0, \"unmanaged\": 2, \"network-missing\": 5, \"network-extra\": 0, \"network-changed\": 0}" other.json
'

test_expect_success 'a stopped unit that should be stopped is no drift; one running is' '
	git -C $M checkout -q HEAD -- customers/c1.yaml &&
	echo "state: stopped" >>$M/customers/c2.yaml && repo_commit $M "c2 stopped" &&
	$RC --repo $M apply >/dev/null &&
	test_expect_code 0 $RC --repo $M drift &&
	docker start $P-c2-app >/dev/null &&
	echo "running c2/app $P-c2-app null" >want &&
	drift_is want
'

test_expect_success 'status shows the last drift check' '
	test_might_fail $RC --repo $M status >status.out &&
	test_grep "^last drift check [0-9T:-]*Z (commit [0-9a-f]*): " status.out &&
	! grep -q "no drift" status.out
'

test_expect_success 'drift keeps the manifests it read: it checks with the repository gone' '
	rc=0 && { $RC --repo $M drift >out || rc=$? ; } && test $rc != 1 &&
	test_grep "\"commit\":\"$(git -C $M rev-parse HEAD)\"" $STATE/manifests.json &&
	mv $M $TRASH/away &&
	test_when_finished "mv $TRASH/away $M" &&
	rc2=0 && { $RC --repo $M drift >out2 || rc2=$? ; } && test $rc2 = $rc &&
	test_cmp out out2 &&
	: --rev always reads Git &&
	test_expect_code 1 $RC --repo $M drift --rev HEAD 2>err &&
	test_grep "$M" err
'

test_expect_success 'a damaged copy is read from Git again, with a warning, and replaced' '
	echo garbage >$STATE/manifests.json &&
	rc3=0 && { $RC --repo $M drift >out3 2>err3 || rc3=$? ; } && test $rc3 = $rc &&
	test_grep "damaged.*reading the manifests from Git" err3 &&
	test_cmp out out3 &&
	test_grep "\"commit\":\"$(git -C $M rev-parse HEAD)\"" $STATE/manifests.json
'

test_expect_success 'drift reads the last applied commit under the --path it was applied from' '
	repo_init nested && mkdir nested/deploy && cp -r $M/. nested/deploy/ && rm -rf nested/deploy/.git &&
	echo "not a manifest at the root" >nested/README.yaml &&
	repo_commit nested "manifests under deploy/" &&
	$RC --repo nested --path deploy apply >/dev/null &&
	test_grep "\"path\":	*\"deploy\"" $STATE/applied.json &&
	$RC --repo nested drift >out &&
	test_grep "^No drift\.$" out &&
	: an explicit --path still wins &&
	test_expect_code 1 $RC --repo nested --path . drift 2>err &&
	test_grep "README.yaml" err
'

test_expect_success 'plan, apply and status read under that --path too; --path . is the root' '
	$RC --repo nested plan >out &&
	test_grep "^No changes" out &&
	$RC --repo nested status >out &&
	test_grep "^project $P, manifests at $(git -C nested rev-parse HEAD)" out &&
	$RC --repo nested apply >out &&
	test_grep "^No changes" out &&
	test_expect_code 1 $RC --repo nested --path . plan 2>err &&
	test_grep "README.yaml" err &&
	test_expect_code 1 $RC --repo nested --path . apply 2>err &&
	test_grep "README.yaml" err
'

test_done
