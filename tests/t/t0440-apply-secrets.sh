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
	subnets: {pool: $TEST_POOL, size: 28}
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

# A digest in a label must not give a short secret away (a PIN is found by
# hashing every candidate): it is HMAC-SHA256 under a per-host random key.
test_expect_success 'secret digests are keyed: HMAC-SHA256 under the host key in secrets/.digest-key' '
	key=$STATE/secrets/.digest-key &&
	test "$(stat -c %a $key)" = 600 &&
	test "$(stat -c %s $key)" = 32 &&
	label=$(docker inspect -f "{{index .Config.Labels \"io.reconciler.spec\"}}" $PROJECT-db) &&
	digest=$(printf "%s\n" "$label" | tr "," "\n" | sed -n "s/.*secrets.db_password[^0-9a-f]*\([0-9a-f]\{32\}\).*/\1/p") &&
	test ${#digest} = 32 &&
	want=$(printf "%s" "rotated-$$" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$(xxd -p -c 64 $key) |
		sed "s/.*= *//" | cut -c1-32) &&
	test "$digest" = "$want" &&
	$RC --repo $M render >render.out &&
	test_grep "secrets.db_password=$digest" render.out
'

test_expect_success 'another host key gives the same secret another digest' '
	other=$TRASH/other-state && mkdir -m 700 -p $other/secrets &&
	cp $STATE/secrets/db_password $other/secrets/ &&
	$RC --repo $M --state-dir $other render >render2.out &&
	test "$(stat -c %s $other/secrets/.digest-key)" = 32 &&
	! cmp -s $other/secrets/.digest-key $STATE/secrets/.digest-key &&
	a=$(grep -o "secrets.db_password=[0-9a-f]*" render.out) &&
	b=$(grep -o "secrets.db_password=[0-9a-f]*" render2.out) &&
	test -n "$a" && test -n "$b" && test "$a" != "$b"
'

test_expect_success 'a damaged key is an error naming it, and touches nothing' '
	db=$(container_id $PROJECT-db) &&
	cp $STATE/secrets/.digest-key key.saved &&
	printf short >$STATE/secrets/.digest-key &&
	test_expect_code 1 $RC --repo $M apply 2>err &&
	test_grep "digest-key.* is damaged (5 bytes, not 32): remove it" err &&
	test "$(container_id $PROJECT-db)" = "$db" &&
	cp key.saved $STATE/secrets/.digest-key &&
	$RC --repo $M apply &&
	test "$(container_id $PROJECT-db)" = "$db"
'

test_expect_success 'the key cannot be named as a secret' '
	cat >bad.yaml <<-EOT &&
	kind: Service
	name: thief
	image: $TEST_IMAGE
	secrets: [.digest-key]
	EOT
	mkdir -p baddir && cp bad.yaml baddir/ &&
	test_expect_code 1 $RC --dir baddir validate 2>err &&
	test_grep "bad.yaml:4:" err
'

test_expect_success 'a missing secret file is a validation error and touches nothing' '
	rm $STATE/secrets/db_password &&
	db=$(container_id $PROJECT-db) &&
	test_expect_code 1 $RC --repo $M apply 2>err &&
	test_grep "all.yaml:[0-9]*:[0-9]*: .*db_password" err &&
	test "$(container_id $PROJECT-db)" = "$db"
'

test_expect_success 'a secret that is a symbolic link to another 0600 file is refused and touches nothing' '
	printf "%s" "stolen-$$" >$TRASH/elsewhere &&
	chmod 600 $TRASH/elsewhere &&
	ln -s $TRASH/elsewhere $STATE/secrets/db_password &&
	cat >>$M/all.yaml <<-EOT &&
	---
	kind: Service
	name: fresh
	image: $TEST_IMAGE
	env: {MODE: sleep}
	secrets: [db_password]
	EOT
	repo_commit $M "fresh: uses the secret" &&
	db=$(container_id $PROJECT-db) && other=$(container_id $PROJECT-other) &&
	docker ps -aq --filter label=io.reconciler.project=$PROJECT | sort >before &&
	test_expect_code 1 $RC --repo $M validate 2>err &&
	test_grep "all.yaml:[0-9]*:[0-9]*: secret .db_password.: .$STATE/secrets/db_password. is a symbolic link" err &&
	test_expect_code 1 $RC --repo $M apply >out 2>err &&
	test_grep "all.yaml:[0-9]*:[0-9]*: secret .db_password.: .* is a symbolic link" err &&
	test_expect_code 1 $RC --repo $M diff HEAD~1 HEAD >diff.out 2>diff.err &&
	test_grep "all.yaml:[0-9]*:[0-9]*: secret .db_password.: .* is a symbolic link" diff.err &&
	! grep -q "stolen-$$" out err diff.out diff.err &&
	test "$(container_id $PROJECT-db)" = "$db" &&
	test "$(container_id $PROJECT-other)" = "$other" &&
	test_must_fail docker container inspect $PROJECT-fresh >/dev/null 2>&1 &&
	docker ps -aq --filter label=io.reconciler.project=$PROJECT | sort >after &&
	test_cmp before after
'

test_expect_success 'a FIFO secret does not hang validate or apply: refused, naming it' '
	rm $STATE/secrets/db_password &&
	mkfifo -m 600 $STATE/secrets/db_password &&
	test_expect_code 1 timeout 20 $RC --repo $M validate 2>err &&
	test_grep "all.yaml:[0-9]*:[0-9]*: secret .db_password.: .* is not a regular file (a FIFO)" err &&
	test_expect_code 1 timeout 20 $RC --repo $M apply 2>err &&
	test_grep "secret .db_password.: .* is not a regular file (a FIFO)" err &&
	test_must_fail docker container inspect $PROJECT-fresh >/dev/null 2>&1
'

test_expect_success 'a secrets directory writable by others is refused before a secret is read' '
	rm $STATE/secrets/db_password &&
	printf "%s" "rotated-$$" >$STATE/secrets/db_password &&
	chmod 600 $STATE/secrets/db_password &&
	chmod 0777 $STATE/secrets &&
	test_expect_code 1 $RC --repo $M validate 2>err &&
	test_grep "all.yaml:[0-9]*:[0-9]*: secret .db_password.: .*secrets. is writable by group or others" err &&
	chmod 0700 $STATE/secrets
'

test_expect_success 'the regular file back: valid again, and the secret keeps its digest (db is not recreated)' '
	db=$(container_id $PROJECT-db) &&
	$RC --repo $M validate &&
	$RC --repo $M apply &&
	test "$(container_id $PROJECT-db)" = "$db" &&
	test "$(docker exec $PROJECT-fresh cat /run/secrets/db_password)" = "rotated-$$"
'

test_done
