#!/bin/sh
test_description='plan --out records the commit and the observed state; apply --plan applies it
only while neither moved'
. "$(dirname "$0")/../lib/test-lib.sh"

M=$TRASH/repo

test_expect_success 'setup' '
	repo_init $M &&
	cat >$M/all.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Service
	name: a
	image: $TEST_IMAGE
	env: {MODE: sleep, V: "1"}
	---
	kind: Service
	name: b
	image: $TEST_IMAGE
	env: {MODE: sleep}
	EOT
	repo_commit $M initial
'

test_expect_success 'plan --out writes the plan with its commit and a digest of the engine' '
	test_expect_code 2 $RC --repo $M plan --out plan1.json >plan.txt &&
	test_grep "will be created" plan.txt &&
	grep -q "\"format\":\"reconciler-plan\"" plan1.json &&
	grep -q "\"commit\":\"$(git -C $M rev-parse HEAD)\"" plan1.json &&
	grep -q "\"observed_digest\":\"[0-9a-f]\{32\}\"" plan1.json
'

test_expect_success 'apply --plan applies a plan that is still current' '
	$RC --repo $M apply --plan plan1.json &&
	test "$(container_field $PROJECT-a {{.State.Status}})" = running
'

test_expect_success 'apply --plan refuses when the engine moved since the plan' '
	sed -i "s/V: \"1\"/V: \"2\"/" $M/all.yaml && repo_commit $M "a v2" &&
	test_expect_code 2 $RC --repo $M plan --out plan2.json >/dev/null &&
	docker stop $PROJECT-b >/dev/null &&
	a=$(container_id $PROJECT-a) &&
	test_expect_code 1 $RC --repo $M apply --plan plan2.json 2>err &&
	test_grep "the engine changed since the plan" err &&
	test_grep "nothing was changed" err &&
	test "$(container_id $PROJECT-a)" = "$a" &&
	test "$(container_field $PROJECT-b {{.State.Status}})" = exited
'

test_expect_success 'apply --plan refuses when the commit moved since the plan' '
	test_expect_code 2 $RC --repo $M plan --out plan3.json >/dev/null &&
	sed -i "s/V: \"2\"/V: \"3\"/" $M/all.yaml && repo_commit $M "a v3" &&
	a=$(container_id $PROJECT-a) &&
	test_expect_code 1 $RC --repo $M apply --plan plan3.json 2>err &&
	test_grep "was made for commit" err &&
	test "$(container_id $PROJECT-a)" = "$a"
'

test_expect_success 'apply --plan refuses another plan of the same commit and engine (another --path)' '
	mkdir -p $M/two/one $M/two/alt &&
	sed "s/V: \"3\"/V: \"one\"/" $M/all.yaml >$M/two/one/all.yaml &&
	sed "s/V: \"3\"/V: \"alt\"/" $M/all.yaml >$M/two/alt/all.yaml &&
	! cmp -s $M/two/one/all.yaml $M/two/alt/all.yaml &&
	git -C $M mv all.yaml root.yaml.off &&
	repo_commit $M "two alternatives" &&
	test_expect_code 2 $RC --repo $M --path two/one plan --out plan5.json >/dev/null &&
	a=$(container_id $PROJECT-a) &&
	test_expect_code 1 $RC --repo $M --path two/alt apply --plan plan5.json 2>err &&
	test_grep "the plan apply would run is not the one in" err &&
	test_grep "nothing was changed" err &&
	test "$(container_id $PROJECT-a)" = "$a" &&
	git -C $M mv root.yaml.off all.yaml && git -C $M rm -rq two && repo_commit $M "back to the root"
'

test_expect_success 'a file that is not a plan is refused' '
	echo "{}" >bogus.json &&
	test_expect_code 1 $RC --repo $M apply --plan bogus.json 2>err &&
	test_grep "is not a plan file" err
'

test_expect_success 'a fresh plan of the current state applies' '
	test_expect_code 2 $RC --repo $M plan --out plan4.json >/dev/null &&
	$RC --repo $M apply --plan plan4.json &&
	test "$(docker exec $PROJECT-a sh -c "echo \$V")" = 3 &&
	test_expect_code 0 $RC --repo $M plan
'

test_done
