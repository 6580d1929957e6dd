#!/bin/sh
test_description='pull: always follows a tag in its registry: plan shows a push under the same
tag with both digests, apply pulls and replaces the unit, the daemon rolls it out on its own
(--pull-interval); pull: missing ignores the push; pull: never never pulls; a registry that does
not answer is a warning and changes nothing'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"
. "$RC_TOP/tests/lib/registry.sh"

M=$TRASH/repo

# A registry of this script's own (it is stopped in the last test), on one of its ports.
RC_REGISTRY_PORT=$(test_port 1)
cleanup_pull() {
	docker rmi -f $IMG $LAZY $NEVER >/dev/null 2>&1
	# the digests pulls and pushes left on the test images (shown as <none> tags)
	for r in $RC_TEST_REGISTRY/$PROJECT/app $RC_TEST_REGISTRY/$PROJECT/never; do
		docker images --digests --format '{{.Repository}}@{{.Digest}}' $r | grep '@sha256:' |
			xargs -r docker rmi >/dev/null 2>&1
	done
	registry_stop
	return 0
}
trap 'cleanup_pull; test_exit_handler' EXIT

# push_as SRC REF: push image SRC under REF from "elsewhere": the registry's tag moves, the local
# tag REF is put back where it was.  Prints the digest the registry now has for REF.
push_as() {
	before=$(docker image inspect -f '{{.Id}}' "$2" 2>/dev/null)
	docker tag "$1" "$2" &&
	docker push "$2" | sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p' &&
	if test -n "$before"; then docker tag "$before" "$2"; fi
}

# local_digest REF: the digest the local image REF has in REF's repository.
local_digest() {
	docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$1" |
		sed -n "s|^${1%:*}@||p" | head -n 1
}

# the daemon journaled a rollout of moved images
pull_rolled_out() {
	grep "\"action\":\"pull\"" $STATE/journal.jsonl | grep -q "\"result\":\"ok\""
}

image_of() {
	docker image inspect -f '{{.Id}}' "$1"
}

test_expect_success 'setup: a registry, two tags pushed, services that follow one of them' '
	registry_start &&
	IMG=$RC_TEST_REGISTRY/$PROJECT/app:stable &&
	LAZY=$RC_TEST_REGISTRY/$PROJECT/app:lazy &&
	NEVER=$RC_TEST_REGISTRY/$PROJECT/never:1 &&
	docker tag $TEST_IMAGE $IMG &&
	docker push $IMG >/dev/null &&
	docker tag $TEST_IMAGE $LAZY &&
	docker push $LAZY >/dev/null &&
	repo_init $M &&
	cat >$M/all.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Service
	name: follow
	image: $IMG
	pull: always
	env: {MODE: sleep}
	---
	kind: Service
	name: follow2
	image: $IMG
	pull: always
	env: {MODE: sleep}
	---
	kind: Service
	name: lazy
	image: $LAZY
	env: {MODE: sleep}
	EOT
	repo_commit $M initial
'

test_expect_success 'apply runs them; plan is clean and asks the registry once per image' '
	$RC --repo $M apply >out &&
	test_expect_code 0 $RC --repo $M plan --stats >plan.out 2>stats &&
	cat stats &&
	test_grep "distribution *1$" stats &&
	! grep -q "image-pull" stats
'

test_expect_success 'a bad pull value is refused at its line' '
	mkdir bad &&
	sed "s/pull: always/pull: sometimes/" $M/all.yaml >bad/all.yaml &&
	test_expect_code 1 $RC validate --dir bad 2>err &&
	test_grep "all.yaml:[0-9]*:[0-9]*: .pull. must be always, missing or never: .sometimes." err
'

test_expect_success 'a push under the same tag: plan shows the move with both digests (exit 2), not the pull: missing unit' '
	old=$(local_digest $IMG) &&
	test -n "$old" &&
	new=$(push_as $TEST_IMAGE2 $IMG) &&
	test -n "$new" && test "$new" != "$old" &&
	push_as $TEST_IMAGE2 $LAZY >/dev/null &&
	test "$(image_of $IMG)" = "$(image_of $TEST_IMAGE)" &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	cat plan.out &&
	o12=$(echo $old | cut -c1-19) && n12=$(echo $new | cut -c1-19) &&
	test_grep -F "image $IMG moved in the registry: $o12… → $n12…" plan.out &&
	test_grep "follow ($PROJECT-follow) will be recreated" plan.out &&
	test_grep "follow2 ($PROJECT-follow2) will be recreated" plan.out &&
	! grep -q "lazy" plan.out &&
	test_expect_code 2 $RC --repo $M plan --json >plan.json &&
	test_grep -F "moved in the registry: $o12" plan.json
'

test_expect_success 'apply pulls the tag once and replaces its units; pull: missing stays; plan is clean' '
	f1=$(container_id $PROJECT-follow) &&
	lazy=$(container_id $PROJECT-lazy) &&
	$RC --repo $M apply --stats >out 2>stats &&
	cat out stats &&
	test_grep "image-pull *1$" stats &&
	test "$(container_id $PROJECT-follow)" != "$f1" &&
	test "$(container_field $PROJECT-follow {{.Image}})" = "$(image_of $TEST_IMAGE2)" &&
	test "$(container_field $PROJECT-follow2 {{.Image}})" = "$(image_of $TEST_IMAGE2)" &&
	test "$(container_id $PROJECT-lazy)" = "$lazy" &&
	test "$(container_field $PROJECT-lazy {{.Image}})" = "$(image_of $TEST_IMAGE)" &&
	test_expect_code 0 $RC --repo $M plan
'

test_expect_success 'changing the pull policy alone recreates nothing' '
	f=$(container_id $PROJECT-follow2) &&
	cp $M/all.yaml all.yaml.kept &&
	sed "/^name: follow2/,/^env/s/pull: always/pull: missing/" all.yaml.kept >$M/all.yaml &&
	! cmp -s all.yaml.kept $M/all.yaml &&
	repo_commit $M missing &&
	test_expect_code 0 $RC --repo $M plan &&
	$RC --repo $M apply >out &&
	cp all.yaml.kept $M/all.yaml &&
	repo_commit $M always-again &&
	test_expect_code 0 $RC --repo $M plan &&
	$RC --repo $M apply >out &&
	test "$(container_id $PROJECT-follow2)" = "$f"
'

test_expect_success 'pull: never with a missing image fails that unit clearly, even when a pull would work' '
	docker tag $TEST_IMAGE $NEVER &&
	docker push $NEVER >/dev/null &&
	docker rmi $NEVER >/dev/null &&
	cat >>$M/all.yaml <<-EOT &&
	---
	kind: Service
	name: never
	image: $NEVER
	pull: never
	env: {MODE: sleep}
	EOT
	repo_commit $M never &&
	test_expect_code 1 $RC --repo $M apply >out 2>err &&
	cat out err &&
	test_grep "image .$NEVER. is not present and the service says .pull: never." err &&
	test_must_fail docker image inspect $NEVER >/dev/null 2>&1 &&
	test "$(container_field $PROJECT-follow {{.State.Status}})" = running &&
	cp all.yaml.kept $M/all.yaml &&
	repo_commit $M no-never &&
	$RC --repo $M apply >out
'

test_expect_success 'the daemon (--pull-interval 2) rolls a moved tag out by itself, journaled; pull: missing stays' '
	test_when_finished daemon_kill &&
	daemon_start run.log --repo $M --pull-interval 2 &&
	daemon_wait_log run.log "boot convergence complete" 60 &&
	f=$(container_id $PROJECT-follow) &&
	lazy=$(container_id $PROJECT-lazy) &&
	old=$(local_digest $IMG) &&
	new=$(push_as $TEST_IMAGE $IMG) &&
	test -n "$new" &&
	wait_for pull_rolled_out 60 &&
	grep "\"action\":\"pull\"" $STATE/journal.jsonl >pull.lines &&
	cat pull.lines &&
	test_grep "\"result\":\"moved\".*image $IMG moved in the registry: $old -> $new" pull.lines &&
	test "$(container_id $PROJECT-follow)" != "$f" &&
	test "$(container_field $PROJECT-follow {{.Image}})" = "$(image_of $TEST_IMAGE)" &&
	test "$(container_field $PROJECT-follow2 {{.Image}})" = "$(image_of $TEST_IMAGE)" &&
	test "$(container_id $PROJECT-lazy)" = "$lazy" &&
	test_grep "rolling it out" run.log &&
	daemon_stop &&
	test "$DEXIT" = 0 &&
	test_expect_code 0 $RC --repo $M plan
'

test_expect_success 'a registry that does not answer: plan and apply warn and change nothing' '
	push_as $TEST_IMAGE2 $IMG >/dev/null &&
	f=$(container_id $PROJECT-follow) &&
	registry_stop &&
	test_expect_code 0 $RC --repo $M plan >plan.out 2>err &&
	cat err &&
	test_grep "warning: image $IMG (pull: always): the registry was not asked or did not answer, the image is left as it is" err &&
	$RC --repo $M apply >out 2>err &&
	test_grep "warning: image $IMG" err &&
	test "$(container_id $PROJECT-follow)" = "$f"
'

test_done
