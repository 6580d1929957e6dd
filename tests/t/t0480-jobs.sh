#!/bin/sh
test_description='one-shot jobs (run: once): a migration runs once per spec before the app that
waits for it to complete; a second apply, plan and drift find nothing to do; a changed spec runs it
again; a failing job fails apply (naming it) and blocks its dependents; status says completed or
failed; run: once with a restart policy is refused at file:line:col; the daemon leaves a completed
job alone and retries a failed one with backoff'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo

# manifests JOB_SCRIPT [APP_ROLE]: a migration job and an app that waits for it to complete.
manifests() {
	cat >$M/all.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	subnets: {pool: 10.251.0.0/16, size: 28}
	---
	kind: Plan
	name: p
	restart: {backoff: 1s, max_backoff: 2s, max_failures: 20}
	---
	kind: Service
	name: migrate
	image: $TEST_IMAGE
	run: once
	plan: p
	entrypoint: ["/bin/sh", "-c"]
	command: ["$1"]
	---
	kind: Service
	name: app
	image: $TEST_IMAGE
	plan: p
	env: {MODE: sleep, ROLE: ${2:-app}}
	depends_on: {migrate: completed}
	EOT
}

# runs: how many times the migration container ran (each run prints "migrat..." to its logs, which
# a container keeps across starts; the engine's event history is too short to count on).
runs() {
	docker logs $PROJECT-migrate 2>&1 | grep -c "^migrat\|^broken\|^fixed"
}

remove_all() {
	docker rm -f $(docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT) >/dev/null 2>&1
	rm -rf "$STATE"
	return 0
}

test_expect_success 'setup: a migration job before an app' '
	repo_init $M &&
	manifests "sleep 1; echo migrated" &&
	repo_commit $M "migrate, then app"
'

test_expect_success 'apply runs the migration to exit 0, then starts the app' '
	$RC --repo $M apply >out 2>err &&
	cat out &&
	test "$(container_field $PROJECT-migrate {{.State.Status}})" = exited &&
	test "$(container_field $PROJECT-migrate {{.State.ExitCode}})" = 0 &&
	test "$(container_field $PROJECT-migrate {{.HostConfig.RestartPolicy.Name}})" = no &&
	test "$(container_field $PROJECT-app {{.State.Status}})" = running &&
	test "$(runs)" = 1 &&
	finished=$(date -d "$(container_field $PROJECT-migrate {{.State.FinishedAt}})" +%s%N) &&
	app_started=$(date -d "$(container_field $PROJECT-app {{.State.StartedAt}})" +%s%N) &&
	test "$finished" -le "$app_started" &&
	docker logs $PROJECT-migrate 2>&1 | test_grep "^migrated$"
'

test_expect_success 'a second apply, plan (refreshed or not) and drift find nothing: the job is not run again' '
	id=$(container_id $PROJECT-migrate) &&
	test_expect_code 0 $RC --repo $M plan >plan.out &&
	test_grep "^No changes" plan.out &&
	test_expect_code 0 $RC --repo $M plan --no-refresh >plan2.out &&
	test_grep "^No changes" plan2.out &&
	$RC --repo $M apply >again.out &&
	test_grep "^No changes" again.out &&
	test_expect_code 0 $RC --repo $M drift >drift.out &&
	test_grep "^No drift\.$" drift.out &&
	test "$(container_id $PROJECT-migrate)" = "$id" &&
	test "$(runs)" = 1
'

test_expect_success 'status shows the job completed (exit 0, when), status --json its result' '
	$RC --repo $M status >st.out &&
	cat st.out &&
	grep "^migrate " st.out | test_grep " completed .*(exit 0, 20[0-9-]*T[0-9:]*Z)" &&
	$RC --repo $M status --json >st.json &&
	python3 -c "
import json, sys
u = {x[\"unit\"]: x for x in json.load(open(\"st.json\"))[\"units\"]}
j = u[\"migrate\"][\"job\"]
assert j[\"result\"] == \"completed\" and j[\"exit_code\"] == 0 and j[\"finished_at\"].endswith(\"Z\"), j
assert u[\"app\"][\"job\"] is None
"
'

test_expect_success 'a changed spec runs the migration again (a new container), once' '
	id=$(container_id $PROJECT-migrate) &&
	manifests "sleep 1; echo migrated v2" &&
	repo_commit $M "migration v2" &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "migrate" plan.out &&
	$RC --repo $M apply >out &&
	cat out &&
	test "$(container_id $PROJECT-migrate)" != "$id" &&
	test "$(container_field $PROJECT-migrate {{.State.ExitCode}})" = 0 &&
	docker logs $PROJECT-migrate 2>&1 | test_grep "^migrated v2$" &&
	test "$(runs)" = 1 &&
	$RC --repo $M apply >again.out &&
	test "$(runs)" = 1 &&
	test_grep "^No changes" again.out
'

test_expect_success 'a failing job fails apply, naming it, and its dependent is not started' '
	app_id=$(container_id $PROJECT-app) &&
	manifests "echo broken; exit 3" app2 &&
	repo_commit $M "a broken migration" &&
	test_must_fail $RC --repo $M apply >out 2>err &&
	cat out err &&
	grep "migrate" out | test_grep "failed" &&
	test_grep "exit code 3" out &&
	grep "app" out | test_grep "dependency .migrate. failed" &&
	test "$(container_id $PROJECT-app)" = "$app_id" &&
	! container_field $PROJECT-app "{{.Config.Env}}" | grep -q ROLE=app2 &&
	test_expect_code 2 $RC --repo $M status >st.out &&
	grep "^migrate " st.out | test_grep " failed .*(exit 3)" &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "job failed (exit 3): runs again" plan.out
'

# apply-json DOC RESULT EXIT: DOC (all of apply --json'"'"'s stdout) is one apply document with
# that result and exit code; prints "STATUS STEP" per step.
apply_json() {
	python3 - "$@" <<-\EOF
	import json, sys
	doc = json.load(open(sys.argv[1]))
	assert doc["format"] == "reconciler-apply" and doc["version"] == 1, doc
	assert doc["result"] == sys.argv[2] and doc["exit_code"] == int(sys.argv[3]), doc
	n = {"ok": 0, "failed": 0, "skipped": 0, "awaiting approval": 0, "engine-fault": 0}
	for s in doc["steps"]:
	    assert s["marker"] == s["step"].split(" ")[0] and isinstance(s["seconds"], (int, float)), s
	    n[s["status"]] += 1
	    print(s["status"], s["step"], "|", s["message"])
	assert doc["summary"]["ok"] == n["ok"] and doc["summary"]["skipped"] == n["skipped"], doc
	assert set(doc["phase_seconds"]) == {"teardown", "rollout", "network_removal"}, doc
	EOF
}

test_expect_success 'apply --json: the steps and their outcomes, stdout the document only' '
	test_expect_code 1 $RC --repo $M apply --json >a.json 2>err &&
	apply_json a.json failed 1 >steps &&
	cat steps &&
	test_grep "^failed > migrate | .*exit code 3" steps &&
	test_grep "^skipped -/+ app | not started: dependency .migrate. failed" steps &&
	test_grep "apply failed for 2 units" err &&
	manifests "sleep 1; echo migrated v3" app2 &&
	repo_commit $M "migration fixed" &&
	$RC --repo $M apply --json >b.json &&
	apply_json b.json ok 0 >steps &&
	cat steps &&
	test_grep "^ok -/+ migrate | completed after" steps &&
	test_grep "^ok -/+ app | started" steps &&
	$RC --repo $M apply --json >c.json &&
	apply_json c.json no-changes 0 >steps &&
	test ! -s steps
'

test_expect_success 'run_timeout bounds the wait for a job that does not exit' '
	manifests "echo migrating slowly; sleep 60" app3 &&
	sed -i "s/^run: once$/run: once\nrun_timeout: 2s/" $M/all.yaml &&
	repo_commit $M "a migration that hangs" &&
	test_must_fail $RC --repo $M apply >out 2>err &&
	cat out &&
	test_grep "^failed .*migrate .*not completed after 2s" out &&
	test_grep "^skipped .*app .*dependency .migrate. failed" out
'

test_expect_success 'run: once with a restart policy is refused at file:line:col' '
	mkdir -p bad &&
	cat >bad/all.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	---
	kind: Plan
	name: always
	restart: {policy: always}
	---
	kind: Service
	name: migrate
	image: $TEST_IMAGE
	plan: always
	run: once
	EOT
	test_must_fail $RC validate --dir bad 2>err &&
	cat err &&
	test_grep "all.yaml:12:[0-9]*: .*run: once. cannot be combined with restart policy .always." err &&
	cat >bad/all.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	---
	kind: Service
	name: migrate
	image: $TEST_IMAGE
	run: twice
	EOT
	test_must_fail $RC validate --dir bad 2>err &&
	test_grep "all.yaml:7:[0-9]*: .*.run. can only be .once." err
'

test_expect_success 'examples/migration: the migration completes between the database and the app' '
	remove_all &&
	repo_init ex &&
	cp "$RC_TOP"/examples/migration/stack.yaml ex/ &&
	sed -i "s/^project: shop/project: $PROJECT\nsubnets: {pool: 10.251.0.0\/16, size: 28}/; s/range: 18100-18199/range: 24800-24819/; s/18180:8080/24880:8080/; s#example/app:1.0#$TEST_IMAGE#" ex/stack.yaml &&
	repo_commit ex example &&
	$RC --repo ex apply >out &&
	cat out &&
	test_grep "migrate .*completed after" out &&
	test "$(container_field $PROJECT-migrate {{.State.ExitCode}})" = 0 &&
	docker logs $PROJECT-migrate 2>&1 | test_grep "schema at version 7" &&
	test "$(container_field $PROJECT-app {{.State.Status}})" = running &&
	test_expect_code 0 $RC --repo ex plan
'

test_expect_success 'the daemon retries a failed job with backoff, then leaves the completed one alone' '
	test_when_finished daemon_kill &&
	remove_all &&
	manifests "echo broken; exit 3" &&
	repo_commit $M "broken from the start" &&
	daemon_start d.log --repo $M &&
	daemon_wait_log d.log "unit migrate: .*exit.* 3.*repairing in .*failure 1 of 20" 90 &&
	daemon_wait_log d.log "unit migrate: .*repairing in .*failure 2 of 20" 60 &&
	test_must_fail container_id $PROJECT-app &&
	test "$(runs)" -ge 2 &&
	manifests "sleep 1; echo fixed" &&
	repo_commit $M "migration fixed" &&
	fixed=$(git -C $M rev-parse HEAD | cut -c1-12) &&
	daemon_wait_log d.log "commit $fixed converged" 90 &&
	test "$(container_field $PROJECT-migrate {{.State.ExitCode}})" = 0 &&
	test "$(container_field $PROJECT-app {{.State.Status}})" = running &&
	id=$(container_id $PROJECT-migrate) &&
	lines=$(wc -l <d.log) &&
	sleep 7 &&
	tail -n +$((lines + 1)) d.log >after.log &&
	cat after.log &&
	! grep "unit migrate" after.log &&
	grep "unit migrate" d.log &&
	test "$(container_id $PROJECT-migrate)" = "$id" &&
	test "$(runs)" = 1
'

test_done
