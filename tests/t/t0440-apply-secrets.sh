#!/bin/sh
test_description='secrets: delivered as read-only files under /run/secrets, never in env, labels
or output; rotating one recreates exactly its users'
. "$(dirname "$0")/../lib/test-lib.sh"

M=$TRASH/repo
SECRET_VALUE="s3cr3t-$$-value"

test_expect_success 'setup: two services, one using a secret' '
	mkdir -p $STATE/secrets &&
	printf "%s" "$SECRET_VALUE" >$STATE/secrets/db_password &&
	chmod 600 $STATE/secrets/db_password &&
	repo_init $M &&
	cat >$M/all.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: 10.242.0.0/16, size: 28}
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	secrets: [db_password]
	---
	kind: Service
	name: other
	image: $TEST_IMAGE
	env: {MODE: sleep}
	EOT
	repo_commit $M initial
'

test_expect_success 'apply mounts the secret read-only at /run/secrets/NAME' '
	$RC --repo $M apply >out 2>err &&
	test "$(docker exec $PROJECT-db cat /run/secrets/db_password)" = "$SECRET_VALUE" &&
	test_must_fail docker exec $PROJECT-db sh -c "echo x >/run/secrets/db_password" &&
	test "$(docker exec $PROJECT-db cat /run/secrets/db_password)" = "$SECRET_VALUE"
'

test_expect_success 'the secret value is in no env, label, output or state file' '
	docker inspect $PROJECT-db >inspect.json &&
	! grep -q "$SECRET_VALUE" inspect.json &&
	! grep -q "$SECRET_VALUE" out err &&
	$RC --repo $M render >render.out &&
	$RC --repo $M render --json >render.json &&
	$RC --repo $M plan --json >plan.json &&
	! grep -q "$SECRET_VALUE" render.out render.json plan.json &&
	! grep -rq "$SECRET_VALUE" $STATE/*.json $STATE/journal.jsonl
'

test_expect_success 'rotating the secret recreates exactly its users' '
	db=$(container_id $PROJECT-db) && other=$(container_id $PROJECT-other) &&
	printf "%s" "rotated-$$" >$STATE/secrets/db_password &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "secret db_password changed" plan.out &&
	! grep -q "rotated-$$" plan.out &&
	! grep -q "other" plan.out &&
	$RC --repo $M apply &&
	test "$(container_id $PROJECT-db)" != "$db" &&
	test "$(container_id $PROJECT-other)" = "$other" &&
	test "$(docker exec $PROJECT-db cat /run/secrets/db_password)" = "rotated-$$"
'

test_expect_success 'a missing secret file is a validation error and touches nothing' '
	rm $STATE/secrets/db_password &&
	db=$(container_id $PROJECT-db) &&
	test_expect_code 1 $RC --repo $M apply 2>err &&
	test_grep "all.yaml:[0-9]*:[0-9]*: .*db_password" err &&
	test "$(container_id $PROJECT-db)" = "$db"
'

test_done
