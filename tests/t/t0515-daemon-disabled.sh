#!/bin/sh
test_description='reconciler run: a disabled mark belongs to a unit and to the spec it was disabled at
(issue 14): a customer deleted while one of its units is disabled takes the mark along (journaled);
a commit that changes a disabled unit lifts the mark and tries the new spec; a commit that changes
only a dependent of a disabled unit holds the dependent back, reported as blocked, instead of
failing and rolling back'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
# write_manifests APP_ENV WEB_ROLE CUSTOMERS...: gamma's app turns unhealthy with
# APP_ENV = fail (disabled after 3 failures); web depends on app being healthy
write_manifests() {
	app_env=$1 web_role=$2 &&
	shift 2 &&
	if test "$app_env" = fail
	then
		app_env="HEALTH: \"fail-after:2\""
	else
		app_env="FIXED: \"1\""
	fi &&
	cat >$M/settings.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: 10.234.0.0/16, size: 28}
	---
	kind: Plan
	name: fragile
	restart: {policy: "no", backoff: 1s, max_backoff: 2s, max_failures: 3}
	---
	kind: Template
	name: t
	services:
	  app:
	    image: $TEST_IMAGE
	    plan: fragile
	    env: {$app_env}
	    health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 2}
	  web:
	    image: $TEST_IMAGE
	    plan: fragile
	    env: {ROLE: $web_role}
	    depends_on: {app: healthy}
	EOT
	rm -f $M/customer-*.yaml &&
	for c in "$@"
	do
		printf "kind: Customer\nid: %s\ntemplate: t\n" "$c" >$M/customer-$c.yaml || return 1
	done
}

head12() {
	git -C $M rev-parse HEAD | cut -c1-12
}

test_expect_success 'setup: a manifest repository' '
	repo_init $M &&
	write_manifests fail web gamma &&
	repo_commit $M "gamma, app failing"
'

test_expect_success 'a commit that changes only a dependent of a disabled unit: held back, no rollback' '
	test_when_finished daemon_kill &&
	daemon_start d1.log --repo $M &&
	daemon_wait_log d1.log "boot convergence complete" 90 &&
	daemon_wait_log d1.log "unit gamma/app disabled after 3 consecutive failures" 90 &&
	wait_for "test \"\$(container_field $PROJECT-gamma-app {{.State.Status}})\" = exited" 30 &&
	write_manifests fail web2 gamma &&
	repo_commit $M "web changed" &&
	daemon_wait_log d1.log "commit $(head12) converged" 60 &&
	test_grep "commit $(head12): held back behind disabled units.*gamma/web (gamma/app is disabled)" d1.log &&
	! grep "rolling back" d1.log &&
	! grep "rollout of $(head12) failed" d1.log &&
	test "$(container_field $PROJECT-gamma-app {{.State.Status}})" = exited &&
	python3 -c "
import json, sys
j = [json.loads(l) for l in open(\"$STATE/journal.jsonl\")]
b = [e for e in j if e[\"action\"] == \"blocked\"]
assert b and b[-1][\"result\"] == \"blocked\" and \"gamma/web (gamma/app is disabled)\" in b[-1][\"message\"], b
"
'

test_expect_success 'a commit that changes the disabled unit lifts its mark ("new spec") and converges' '
	test_when_finished daemon_kill &&
	daemon_start d2.log --repo $M &&
	daemon_wait_log d2.log "boot convergence complete" 90 &&
	write_manifests ok web2 gamma &&
	repo_commit $M "app fixed" &&
	daemon_wait_log d2.log "commit $(head12) converged" 90 &&
	test_grep "unit gamma/app: new spec in commit $(head12): the disabled mark" d2.log &&
	! grep "rolling back" d2.log &&
	! grep "commit $(head12): held back" d2.log &&
	test "$(container_field $PROJECT-gamma-app {{.State.Status}})" = running &&
	container_field $PROJECT-gamma-web "{{.Config.Env}}" >env.out &&
	test_grep "ROLE=web2" env.out &&
	python3 -c "
import json
j = [json.loads(l) for l in open(\"$STATE/journal.jsonl\")]
e = [x for x in j if x[\"action\"] == \"enable\" and x[\"unit\"] == \"gamma/app\"]
assert e and \"new spec\" in e[-1][\"message\"], e
u = json.load(open(\"$STATE/units.json\"))
assert \"gamma/app\" not in json.dumps(u[\"data\"][\"disabled\"] if \"data\" in u else u[\"disabled\"]), u
"
'

test_expect_success 'a customer deleted while a unit of it is disabled takes the mark along (journaled)' '
	test_when_finished daemon_kill &&
	write_manifests fail web gamma delta &&
	repo_commit $M "delta, app failing" &&
	daemon_start d3.log --repo $M &&
	daemon_wait_log d3.log "boot convergence complete" 90 &&
	daemon_wait_log d3.log "unit delta/app disabled after 3 consecutive failures" 90 &&
	write_manifests fail web gamma &&
	repo_commit $M "no delta" &&
	daemon_wait_log d3.log "commit $(head12) converged" 60 &&
	daemon_stop &&
	! grep "\"delta/app\"" $STATE/units.json &&
	python3 -c "
import json
j = [json.loads(l) for l in open(\"$STATE/journal.jsonl\")]
f = [x for x in j if x[\"action\"] == \"forget\" and x[\"unit\"] == \"delta/app\"]
assert f and \"disabled mark\" in f[-1][\"message\"], f
"
'

test_done
