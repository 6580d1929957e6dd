#!/bin/sh
test_description='a hostile state directory (issue 19): a symlinked lock or journal is never written
through, a state directory writable by others is refused, all before anything changes; a FIFO
journal does not hang status or drift; a request written by another uid is not carried out'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
VICTIM=$TRASH/victim

write_manifests() {
	cat >$M/all.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Service
	name: web
	image: $TEST_IMAGE
	env: {MODE: sleep, GREETING: "$1"}
	EOT
}

test_expect_success 'setup: one service applied, then a change committed but not applied' '
	repo_init $M &&
	write_manifests one &&
	repo_commit $M initial &&
	$RC --repo $M apply >apply.out &&
	test "$(container_field $PROJECT-web {{.State.Status}})" = running &&
	container_id $PROJECT-web >id.before &&
	write_manifests two &&
	repo_commit $M "a change apply would make" &&
	printf "precious: not the reconciler'"'"'s\n" >$VICTIM &&
	cp $VICTIM victim.orig &&
	cp $STATE/journal.jsonl journal.orig
'

# Nothing was changed: the victim, the container, the journal.
unchanged() {
	test_cmp victim.orig $VICTIM &&
	container_id $PROJECT-web >id.now &&
	test_cmp id.before id.now
}

test_expect_success 'a symlinked lock: apply exits non-zero naming it, the victim keeps its bytes' '
	rm $STATE/lock &&
	ln -s "$VICTIM" $STATE/lock &&
	test_when_finished "rm -f $STATE/lock" &&
	test_must_fail $RC --repo $M apply >out 2>err &&
	cat err &&
	test_grep "state file .$STATE/lock. is a symbolic link: refusing to follow it" err &&
	unchanged &&
	test_cmp journal.orig $STATE/journal.jsonl
'

test_expect_success 'a symlinked lock to a file that does not exist: nothing is created behind it' '
	ln -s "$TRASH/made-through-the-lock" $STATE/lock &&
	test_when_finished "rm -f $STATE/lock" &&
	test_must_fail $RC --repo $M apply >out 2>err &&
	test_grep "symbolic link" err &&
	test ! -e "$TRASH/made-through-the-lock"
'

test_expect_success 'a symlinked journal: apply exits non-zero naming it, the victim keeps its bytes' '
	mv $STATE/journal.jsonl journal.real &&
	ln -s "$VICTIM" $STATE/journal.jsonl &&
	test_when_finished "rm -f $STATE/journal.jsonl && mv journal.real $STATE/journal.jsonl" &&
	test_must_fail $RC --repo $M apply >out 2>err &&
	cat err &&
	test_grep "state file .$STATE/journal.jsonl. is a symbolic link: refusing to follow it" err &&
	unchanged
'

test_expect_success 'a state directory writable by others is refused before anything changes' '
	chmod 0777 $STATE &&
	test_when_finished "chmod 0700 $STATE" &&
	test_must_fail $RC --repo $M apply >out 2>err &&
	cat err &&
	test_grep "state directory .$STATE. is writable by group or others (mode 0777): chmod 0700 $STATE" err &&
	unchanged &&
	test_cmp journal.orig $STATE/journal.jsonl &&
	test_must_fail $RC --repo $M status >out 2>err &&
	test_grep "chmod 0700" err
'

test_expect_success 'a new state directory is made 0700' '
	: status, not plan: the project belongs to $STATE, so plan from another state directory is refused &&
	{ $RC --state-dir $TRASH/fresh --repo $M status >out 2>&1 || test $? = 2 ; } &&
	test "$(stat -c %a $TRASH/fresh)" = 700
'

test_expect_success 'a FIFO journal hangs neither status nor drift' '
	mv $STATE/journal.jsonl journal.real &&
	mkfifo $STATE/journal.jsonl &&
	test_when_finished "rm -f $STATE/journal.jsonl && mv journal.real $STATE/journal.jsonl" &&
	{ timeout 20 $RC --repo $M status >out 2>err; rc=$?; } &&
	cat err &&
	test $rc != 124 && test $rc -lt 128 &&
	test_grep "journal.jsonl. is a FIFO" err &&
	{ timeout 20 $RC --repo $M drift >out 2>err; rc=$?; } &&
	test $rc != 124 && test $rc -lt 128 &&
	test_grep "journal.jsonl. is a FIFO" err &&
	unchanged
'

test_expect_success 'once the state directory is sound again, apply makes the change' '
	test_cmp journal.orig $STATE/journal.jsonl &&
	$RC --repo $M apply >apply.out &&
	container_id $PROJECT-web >id.now &&
	! test_cmp id.before id.now >/dev/null &&
	test_cmp victim.orig $VICTIM
'

if [ "$(id -u)" = 0 ]; then
test_expect_success 'the daemon does not carry out a request written by another uid, and says so once' '
	test_when_finished daemon_kill &&
	daemon_start d.log --repo $M &&
	daemon_wait_log d.log "boot convergence complete" 90 &&
	mkdir -p -m 0700 $STATE/requests &&
	printf "retry\nSECRET-ARG\n" >$STATE/requests/.foreign &&
	chown 65534 $STATE/requests/.foreign &&
	mv $STATE/requests/.foreign $STATE/requests/1000000000000000000-1.req &&
	daemon_wait_log d.log "request not carried out" 10 &&
	sleep 2 &&
	test "$(grep -c "request not carried out" d.log)" = 1 &&
	test_grep "owned by uid 65534" d.log &&
	! grep SECRET-ARG d.log &&
	test ! -e $STATE/requests/1000000000000000000-1.res &&
	test -e $STATE/requests/1000000000000000000-1.req &&
	test_must_fail $RC --state-dir $STATE retry >out 2>err &&
	test_grep "no commit is marked failed" err
'
fi

test_done
