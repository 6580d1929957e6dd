#!/bin/sh
test_description='every repository in examples/ validates, and the README walkthrough works on a
copy of examples/hosting under this test project: apply, a plan change updated in place, diff'
. "$(dirname "$0")/../lib/test-lib.sh"

test_expect_success 'every example validates (as a directory and from Git)' '
	for d in "$RC_TOP"/examples/*/; do
		echo "== $d" &&
		$RC --dir "$d" validate || return 1
	done &&
	repo_init ex && cp -r "$RC_TOP"/examples/. ex/ && repo_commit ex examples &&
	for d in "$RC_TOP"/examples/*/; do
		$RC --repo ex --path "$(basename "$d")" validate || return 1
	done
'

# The hosting example under this test's project, its ports and subnets
# moved out of the way of a real deployment of the example.
M=$TRASH/acme
base=$TEST_PORT_BASE
test_expect_success 'setup: a copy of examples/hosting as its own repository' '
	repo_init $M &&
	cp -r "$RC_TOP"/examples/hosting/. $M/ &&
	sed -i "s/^project: acme/project: $PROJECT/; s/range: 20000-20999/range: $base-$((base + 19))/; s#pool: 10.210.0.0/16#pool: $TEST_POOL#" $M/settings.yaml &&
	sed -i "s/port: 20001/port: $((base + 1))/" $M/customers/alpha.yaml &&
	sed -i "s/port: 20003/port: $((base + 3))/" $M/customers/gamma.yaml &&
	sed -i "s#example/app:1.0#$TEST_IMAGE#" $M/shared.yaml $M/template.yaml &&
	repo_commit $M "acme: initial"
'

test_expect_success 'apply converges the example; status says every unit is current' '
	$RC --repo $M apply >out &&
	$RC --repo $M status >status.out &&
	test "$(grep -c " current$" status.out)" = 8 &&
	test_expect_code 0 $RC --repo $M plan &&
	curl -fsS http://127.0.0.1:$((base + 1))/health
'

test_expect_success 'status probes the units with http checks (Docker holds no health for them)' '
	$RC --repo $M status >status.out &&
	test_grep "^alpha/app  *$PROJECT-alpha-app  *running  *healthy " status.out &&
	test_grep "^db  *$PROJECT-db  *running  *healthy " status.out &&
	test_grep "^alpha/worker  *$PROJECT-alpha-worker  *running  *- " status.out &&
	docker exec $PROJECT-alpha-app rm /tmp/www/health &&
	test_when_finished "docker exec $PROJECT-alpha-app sh -c \"echo ok >/tmp/www/health\"" &&
	$RC --repo $M status >status2.out &&
	test_grep "^alpha/app  *$PROJECT-alpha-app  *running  *unhealthy " status2.out &&
	test_grep "^beta/app  *$PROJECT-beta-app  *running  *healthy " status2.out &&
	$RC --repo $M status --json >status.json &&
	python3 - status.json "$PROJECT" $((base + 1)) <<-\EOF
	import json, sys
	doc = json.load(open(sys.argv[1]))
	assert doc["format"] == "reconciler-status" and doc["version"] == 1, doc
	assert doc["project"] == sys.argv[2] and doc["pending_changes"] == 0
	units = {u["unit"]: u for u in doc["units"]}
	assert sorted(units) == ["alpha/app", "alpha/worker", "beta/app", "beta/worker", "cache", "db", "gamma/app", "gamma/worker"], units
	assert units["alpha/app"]["health"] == "unhealthy", units["alpha/app"]
	assert units["beta/app"]["health"] == "healthy" and units["db"]["health"] == "healthy"
	assert units["alpha/worker"]["health"] is None
	for u in units.values():
	    assert u["state"] == "running" and u["desired"] == "running" and u["spec"] == "current", u
	    assert len(u["container_id"]) == 64 and u["disabled"] is False and u["failures"] == 0, u
	assert units["alpha/app"]["customer"] == "alpha" and units["db"]["customer"] is None
	assert units["alpha/app"]["ports"] == [int(sys.argv[3])], units["alpha/app"]
	EOF
'

test_expect_success 'README: moving beta to the pro plan is an update in place' '
	id=$(container_id $PROJECT-beta-app) &&
	sed -i "s/plan: starter/plan: pro/" $M/customers/beta.yaml &&
	git -C $M commit -qam "beta: starter -> pro" &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "beta/app ($PROJECT-beta-app) will be updated in place" plan.out &&
	test_grep "memory: 64 MiB → 128 MiB" plan.out &&
	$RC --repo $M apply &&
	test "$(container_id $PROJECT-beta-app)" = "$id" &&
	test "$(container_field $PROJECT-beta-app {{.HostConfig.Memory}})" = 134217728
'

test_expect_success 'README: diff HEAD~1 HEAD --markdown shows the same change without Docker' '
	DOCKER_HOST=unix:///nonexistent test_expect_code 2 $RC --repo $M diff HEAD~1 HEAD --markdown >diff.md &&
	test_grep "customer <b>beta</b>: 2 to update in place" diff.md
'

test_expect_success 'README: drift after docker update, then drift --fix' '
	docker update --memory 96m --memory-swap 192m $PROJECT-alpha-app >/dev/null &&
	test_expect_code 2 $RC --repo $M drift >drift.out &&
	test_grep "memory: 64 MiB → 96 MiB" drift.out &&
	$RC --repo $M drift --fix >/dev/null &&
	test_expect_code 0 $RC --repo $M drift
'

test_done
