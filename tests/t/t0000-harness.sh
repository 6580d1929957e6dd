#!/bin/sh
test_description='the harness itself: engine, test images, registry, isolation'
. "$(dirname "$0")/../lib/test-lib.sh"

test_expect_success 'the Docker engine answers' '
	docker version --format "{{.Server.APIVersion}}" >api &&
	test -s api
'

test_expect_success 'test image serves /health and /version' '
	name=$PROJECT-probe &&
	docker run -d --name $name --label $LABEL_PROJECT=$PROJECT $TEST_IMAGE >/dev/null &&
	ip=$(container_field $name "{{.NetworkSettings.IPAddress}}") &&
	wait_for "wget -q -O- http://$ip:8080/health" 10 &&
	test "$(curl -fsS http://$ip:8080/version)" = 1
'

test_expect_success 'the two test tags differ in content' '
	a=$(docker image inspect -f "{{.Id}}" $TEST_IMAGE) &&
	b=$(docker image inspect -f "{{.Id}}" $TEST_IMAGE2) &&
	test "$a" != "$b"
'

test_expect_success 'HEALTH=never never answers /health' '
	name=$PROJECT-never &&
	docker run -d --name $name --label $LABEL_PROJECT=$PROJECT -e HEALTH=never $TEST_IMAGE >/dev/null &&
	ip=$(container_field $name "{{.NetworkSettings.IPAddress}}") &&
	wait_for "curl -fsS http://$ip:8080/version" 10 &&
	test_must_fail curl -fsS http://$ip:8080/health
'

test_expect_success 'HEALTH=fail-after:1 stops answering' '
	name=$PROJECT-fail &&
	docker run -d --name $name --label $LABEL_PROJECT=$PROJECT -e HEALTH=fail-after:1 $TEST_IMAGE >/dev/null &&
	ip=$(container_field $name "{{.NetworkSettings.IPAddress}}") &&
	wait_for "curl -fsS http://$ip:8080/version" 10 &&
	wait_for "! curl -fsS http://$ip:8080/health" 10
'

test_expect_success 'EXIT_CODE=3 exits with 3' '
	test_expect_code 3 docker run --rm --label $LABEL_PROJECT=$PROJECT -e EXIT_CODE=3 $TEST_IMAGE
'

test_expect_success 'SIGTERM stops the server at once; IGNORE_TERM=1 needs the kill' '
	docker run -d --name $PROJECT-term --label $LABEL_PROJECT=$PROJECT $TEST_IMAGE >/dev/null &&
	docker run -d --name $PROJECT-ign --label $LABEL_PROJECT=$PROJECT -e IGNORE_TERM=1 $TEST_IMAGE >/dev/null &&
	sleep 0.5 &&
	docker stop -t 30 $PROJECT-term >/dev/null &&
	test "$(container_field $PROJECT-term "{{.State.ExitCode}}")" = 0 &&
	docker stop -t 1 $PROJECT-ign >/dev/null &&
	test "$(container_field $PROJECT-ign "{{.State.ExitCode}}")" = 137
'

test_expect_success 'the local registry accepts a push' '
	test -n "$RC_TEST_REGISTRY" &&
	docker tag $TEST_IMAGE $RC_TEST_REGISTRY/$PROJECT/app:1 &&
	test_when_finished "docker rmi $RC_TEST_REGISTRY/$PROJECT/app:1 >/dev/null" &&
	docker push $RC_TEST_REGISTRY/$PROJECT/app:1 >/dev/null &&
	curl -fsS http://$RC_TEST_REGISTRY/v2/$PROJECT/app/tags/list | grep -q "\"1\""
'

test_expect_success 'cleanup removes only what carries the project label' '
	docker run -d --name $PROJECT-other $TEST_IMAGE >/dev/null &&
	test_when_finished "docker rm -f $PROJECT-other >/dev/null" &&
	docker run -d --name $PROJECT-mine --label $LABEL_PROJECT=$PROJECT $TEST_IMAGE >/dev/null &&
	test_cleanup_project &&
	docker inspect $PROJECT-other >/dev/null &&
	test_must_fail docker inspect $PROJECT-mine >/dev/null 2>&1
'

test_expect_success 'the harness: a broken &&-chain, a return 0 and an exit in a body are reported' '
	cat >child.sh <<-\EOF &&
	#!/bin/sh
	. "$RC_TOP/tests/lib/test-lib.sh"
	test_expect_success "chained" "x=1 && test \$x = 1"
	test_expect_success "broken" "x=2
	test \$x = 2"
	test_expect_success "backgrounded" "sleep 0 &
	true"
	test_expect_success "shown, still failed" "test_must_fail true || { echo why; false; }"
	test_expect_success "return 1 in a loop" "for i in 1 2; do test \$i = 1 || return 1; done"
	test_expect_success "return 0 early" "true && return 0"
	test_expect_success "not run by the broken one" "test \$x = 1"
	test_expect_success "exit" "echo before && exit 3"
	test_expect_success "never reached" "true"
	test_done
	EOF
	test_expect_code 1 sh child.sh >child.out &&
	grep "^ok\|^not ok\|^1\.\." child.out >verdicts &&
	cat >expect <<-\EOF &&
	ok 1 - chained
	not ok 2 - broken
	not ok 3 - backgrounded
	not ok 4 - shown, still failed
	not ok 5 - return 1 in a loop
	not ok 6 - return 0 early
	ok 7 - not run by the broken one
	not ok 8 - exit
	1..8
	EOF
	test_cmp expect verdicts &&
	test "$(grep -c "broken &&-chain" child.out)" = 2 &&
	test_grep "returned 0 before its end" child.out &&
	test_grep "called exit (status 3)" child.out
'

test_done
