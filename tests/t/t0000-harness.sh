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

test_expect_success 'test_atexit: its commands run at the end, last first, after a failed test, an exit in a body and a TERM' '
	cat >child.sh <<-\EOF &&
	#!/bin/sh
	DONE=$1 MODE=${2:-}
	. "$RC_TOP/tests/lib/test-lib.sh"
	test_expect_success "register" "test_atexit \"echo first >>\$DONE\" && test_atexit \"echo second >>\$DONE\""
	test_expect_success "fail" "false"
	case $MODE in
	exit) test_expect_success "exit" "exit 3" ;;
	term) test_expect_success "term" "echo \$\$ >\$DONE.pid && wait_for false 60" ;;
	esac
	test_done
	EOF
	test_expect_code 1 sh child.sh "$TRASH/done" >child.out &&
	printf "second\nfirst\n" >expect &&
	test_cmp expect done &&
	test_expect_code 1 sh child.sh "$TRASH/done.exit" exit >child.out &&
	test_cmp expect done.exit &&
	{ sh child.sh "$TRASH/done.term" term >child.out 2>&1 </dev/null & } &&
	wait_for "test -s done.term.pid" 20 &&
	kill -TERM "$(cat done.term.pid)" &&
	wait_for "test -s done.term" 20 &&
	test_cmp expect done.term &&
	test_grep "not ok 3 - term" child.out
'

test_expect_success 'every script has a slot of its own; blocks stay in their zones, clear of each other' '
	for f in "$RC_TOP"/tests/t/t[0-9]*.sh "$RC_TOP"/tests/cluster/t[0-9]*.sh; do
		echo "$(test_slot_of "$(test_number_of "$(basename "$f" .sh)")") $(basename "$f")" || return 1
	done | sort -n >slots &&
	cut -d" " -f1 slots | uniq -d >shared &&
	if test -s shared; then echo "scripts sharing a slot (number mod $TEST_SLOTS):" && grep -wf shared slots && false; fi &&
	last=$((TEST_SLOTS * TEST_RUNS - 1)) &&
	k=0 &&
	while [ $k -le $last ]; do
		echo "$(test_block_port_base $k) $(test_block_pool $k)" || return 1
		k=$((k + 1))
	done >blocks &&
	test_equal "$(head -n 1 blocks)" "10000 10.100.0.0/20" &&
	test "$(($(tail -n 1 blocks | cut -d" " -f1) + TEST_BLOCK_PORTS - 1))" -lt 32000 &&
	test_equal "$(cut -d" " -f2 blocks | sort -u | wc -l)" $((last + 1)) &&
	: every pool is a /20 of 10.100.0.0-10.127.255.255, so none is in 172.16/12 or 192.168/16 &&
	test_must_fail grep -v " 10\.1[0-2][0-9]\.\(0\|16\|32\|48\|64\|80\|96\|112\|128\|144\|160\|176\|192\|208\|224\|240\)\.0/20$" blocks &&
	test_must_fail grep " 10\.12[89]\." blocks &&
	test_equal "$(test_number_of t0400-apply)" 400 &&
	test_equal "$(test_number_of t0000-harness)" 0
'

test_expect_success 'this run: its ports and pool come from its block; test_port and test_subnet stay inside' '
	test_equal "$TEST_PORT_BASE" "$(test_block_port_base $TEST_BLOCK)" &&
	test_equal "$TEST_PORTS" "$TEST_PORT_BASE-$((TEST_PORT_BASE + 49))" &&
	test_equal "$TEST_POOL" "$(test_block_pool $TEST_BLOCK)" &&
	test_equal "$(test_port 49)" $((TEST_PORT_BASE + 49)) &&
	test_must_fail test_port 50 &&
	test_equal "$(test_subnet 0 20)" "$TEST_POOL" &&
	pre=${TEST_POOL%.*.0/20} &&
	o3=${TEST_POOL#$pre.} && o3=${o3%%.*} &&
	test_equal "$(test_subnet 1 22)" "$pre.$((o3 + 4)).0/22" &&
	test_equal "$(test_subnet 15 24)" "$pre.$((o3 + 15)).0/24" &&
	test_equal "$(test_subnet 255 28)" "$pre.$((o3 + 15)).240/28" &&
	test_must_fail test_subnet 16 24 &&
	test_must_fail test_subnet 0 19
'

test_expect_success 'two runs of one script at once hold two blocks; a fifth beside four is told, not given one' '
	TEST_SLOT_DIR=$TRASH/slot-locks && export TEST_SLOT_DIR &&
	cat >t0001-slot.sh <<-\EOF &&
	#!/bin/sh
	. "$RC_TOP/tests/lib/test-lib.sh"
	echo "$TEST_BLOCK $TEST_PORTS $TEST_POOL" >"$1.tmp" && mv "$1.tmp" "$1"
	i=0
	while [ ! -e "$2" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	EOF
	test_when_finished "touch $TRASH/go" &&
	for r in 1 2 3 4; do
		{ sh t0001-slot.sh $TRASH/run$r $TRASH/go >$TRASH/log$r 2>&1 </dev/null & } || return 1
	done &&
	for r in 1 2 3 4; do
		wait_for "test -s run$r" 20 || { cat log$r; return 1; }
	done &&
	cat run1 run2 run3 run4 >held &&
	test_equal "$(cut -d" " -f1 held | sort -u | tr "\n" " ")" "4 5 6 7 " &&
	test_equal "$(cut -d" " -f2 held | sort -u | wc -l)" 4 &&
	test_equal "$(cut -d" " -f3 held | sort -u | wc -l)" 4 &&
	test_expect_code 1 sh t0001-slot.sh $TRASH/run5 $TRASH/go >fifth.out &&
	test_grep "^Bail out! t0001-slot: all 4 port and subnet blocks of its slot are held by other runs" fifth.out &&
	! test -e run5 &&
	touch go &&
	: a block is free again once its run ended &&
	wait_for "sh t0001-slot.sh $TRASH/run6 $TRASH/go" 20 &&
	test -s run6
'

test_done
