#!/bin/sh
# test-lib.sh — the integration test library, in the style of git's t/.
#
#   #!/bin/sh
#   test_description='what this script proves'
#   . "$(dirname "$0")/../lib/test-lib.sh"
#   test_expect_success 'title' '
#       cmd1 &&
#       test_when_finished "cleanup cmd" &&
#       cmd2
#   '
#   test_done
#
# Each script runs in its own throwaway directory ($TRASH, the cwd), with its
# own project name ($PROJECT) and state dir ($STATE).  At exit it removes
# only the containers, networks and volumes labelled with its project, even
# when a test failed.  Output is TAP; $RC is the reconciler under test.
#
# The body of a test is checked before it runs: every command must be
# &&-chained (git's chain lint: TEST_CHAIN_LINT=0 turns it off), and it must
# neither `exit` (not ok, and the script ends with its plan) nor `return 0`
# before its end (not ok: the rest was skipped).  `cmd || return 1` inside a
# loop ends the body with that status, as in git.  See tests/README.md.
set -u
RC_TOP=${RC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
RC=${RC:-$RC_TOP/build/test/reconciler}
TEST_NAME=$(basename "$0" .sh)
PROJECT="rt$(echo "$TEST_NAME" | tr -cd 'a-z0-9' | cut -c1-12)$$"
TRASH=$(mktemp -d "/tmp/rc-$TEST_NAME.XXXXXX")
STATE=$TRASH/state
RECONCILER_STATE_DIR=$STATE
TEST_IMAGE=${TEST_IMAGE:-reconciler-test/app:1}
TEST_IMAGE2=${TEST_IMAGE2:-reconciler-test/app:2}
LABEL_PROJECT=io.reconciler.project
export RC RC_TOP PROJECT TRASH STATE RECONCILER_STATE_DIR TEST_IMAGE TEST_IMAGE2
mkdir -p "$STATE"
cd "$TRASH" || exit 1
# fd 7: the TAP stream, for what the harness says while a body's output is redirected
exec 7>&1

test_count=0
test_failures=0
test_cleanup_cmds=
test_atexit_cmds=
test_in_body_=

say() { printf '# %s\n' "$*"; }

# Remove everything carrying this script's project label (and nothing else).
test_cleanup_project() {
	ids=$(docker ps -aq --filter "label=$LABEL_PROJECT=$PROJECT" 2>/dev/null)
	[ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
	ids=$(docker network ls -q --filter "label=$LABEL_PROJECT=$PROJECT" 2>/dev/null)
	[ -n "$ids" ] && docker network rm $ids >/dev/null 2>&1
	ids=$(docker volume ls -q --filter "label=$LABEL_PROJECT=$PROJECT" 2>/dev/null)
	[ -n "$ids" ] && docker volume rm $ids >/dev/null 2>&1
	return 0
}

test_exit_handler() {
	test_exit_status_=$?
	test_body_exited_=
	if [ -n "$test_in_body_" ]; then
		# a body called `exit`: say so instead of ending with no verdict and no plan
		test_in_body_=
		test_failures=$((test_failures + 1))
		echo "not ok $test_count - $test_title" >&7
		echo "#   the test body called exit (status $test_exit_status_): the script ended here;" \
			"use && chains, and || return 1 in loops" >&7
		[ -f "$TRASH/.test-out" ] && sed 's/^/#   /' "$TRASH/.test-out" >&7
		echo "1..$test_count" >&7
		test_body_exited_=1
	fi
	if [ -n "$test_atexit_cmds" ]; then
		test_atexit_run_=$test_atexit_cmds
		test_atexit_cmds=
		eval "$test_atexit_run_" >&2 || true
	fi
	test_cleanup_project
	if [ "$test_failures" -eq 0 ] || [ -z "${TEST_KEEP_TRASH:-}" ]; then
		cd / && rm -rf "$TRASH"
	fi
	[ -z "$test_body_exited_" ] || exit 1
}
trap test_exit_handler EXIT
# killed by a signal: still run the exit handler (git's test-lib does the same)
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# --- host ports and subnets of this run (git's test_set_port) ---
# Scripts run side by side (prove -j, several worktrees, a re-run beside a
# hung run) on one engine, so none may hard-code a host port or a subnet.
# Each script has a slot, s = its number mod 109 (t0400 -> 73; t0000 checks
# that no two scripts share one: give a new script another number if it
# complains).  A run of it takes one of the slot's four blocks, k = 4s + r,
# starting at r = $$ % 4 and moving on while another run holds r: a block is
# held by flock(1) on $TEST_SLOT_DIR/K through fd 9, which the script and
# everything it starts keep open (a daemon that outlives its script still
# holds it).  Block k gives:
#   TEST_PORT_BASE  10000 + 50k: fifty host ports TEST_PORT_BASE..+49, all in
#                   10000-31999 (below the kernel's ephemeral ports, 32768-);
#                   TEST_PORTS is "lo-hi", for ports: {range: $TEST_PORTS};
#                   `test_port N` is the Nth (0-49)
#   TEST_POOL       10.(100 + k/16).(16 (k % 16)).0/20, in 10.100.0.0-
#                   10.127.255.255: clear of the engine's default pools
#                   (172.17-31/16, 192.168/16), of reconciler's default
#                   subnets.pool (10.210.0.0/16) and of every other block;
#                   `test_subnet I LEN` is its Ith /LEN (LEN 20-30)
TEST_SLOTS=109
TEST_RUNS=4
TEST_BLOCK_PORTS=50
TEST_SLOT_DIR=${TEST_SLOT_DIR:-/tmp/rc-test-slots}

# test_number_of NAME: 400 for t0400-apply (a name that is not tNNNN-…: its checksum)
test_number_of() {
	case $1 in
	t[0-9][0-9][0-9][0-9]-*)
		n=${1#t}
		n=${n%%-*}
		echo "$n" | sed 's/^0*//; s/^$/0/'
		;;
	*) printf '%s' "$1" | cksum | cut -d' ' -f1 ;;
	esac
}
test_slot_of() { echo $(($1 % TEST_SLOTS)); }
test_block_port_base() { echo $((10000 + TEST_BLOCK_PORTS * $1)); }
test_block_pool() { echo "10.$((100 + $1 / 16)).$((16 * ($1 % 16))).0/20"; }

# test_claim_block_: hold a block of this script's slot on fd 9; set TEST_BLOCK
test_claim_block_() {
	test_slot_=$(test_slot_of "$(test_number_of "$TEST_NAME")")
	if ! { [ -d "$TEST_SLOT_DIR" ] || { mkdir -p "$TEST_SLOT_DIR" && chmod 1777 "$TEST_SLOT_DIR"; }; } ||
	   ! [ -w "$TEST_SLOT_DIR" ]; then
		TEST_BLOCK=$((TEST_RUNS * test_slot_ + $$ % TEST_RUNS))
		say "no lock directory $TEST_SLOT_DIR: block $TEST_BLOCK taken unchecked"
		return 0
	fi
	i=0
	while [ $i -lt $TEST_RUNS ]; do
		TEST_BLOCK=$((TEST_RUNS * test_slot_ + ($$ + i) % TEST_RUNS))
		# (a redirection that fails on exec would end the shell: look first)
		if { [ -w "$TEST_SLOT_DIR/$TEST_BLOCK" ] || [ ! -e "$TEST_SLOT_DIR/$TEST_BLOCK" ]; } &&
		   exec 9>>"$TEST_SLOT_DIR/$TEST_BLOCK" && flock -n 9; then
			chmod 666 "$TEST_SLOT_DIR/$TEST_BLOCK" 2>/dev/null
			echo $$ >"$TEST_SLOT_DIR/$TEST_BLOCK"
			return 0
		fi
		exec 9>&-
		i=$((i + 1))
	done
	echo "Bail out! $TEST_NAME: all $TEST_RUNS port and subnet blocks of its slot are held by other runs" \
		"(pids: $(cd "$TEST_SLOT_DIR" && cat $((TEST_RUNS * test_slot_)) $((TEST_RUNS * test_slot_ + 1)) \
		$((TEST_RUNS * test_slot_ + 2)) $((TEST_RUNS * test_slot_ + 3)) 2>/dev/null | tr '\n' ' '))"
	return 1
}
test_claim_block_ || exit 1
TEST_PORT_BASE=$(test_block_port_base $TEST_BLOCK)
TEST_PORTS=$TEST_PORT_BASE-$((TEST_PORT_BASE + TEST_BLOCK_PORTS - 1))
TEST_POOL=$(test_block_pool $TEST_BLOCK)
export TEST_PORT_BASE TEST_PORTS TEST_POOL

# test_port N: the Nth host port of this run (0-49)
test_port() {
	if [ "$1" -lt 0 ] || [ "$1" -ge $TEST_BLOCK_PORTS ]; then
		echo "test_port: $1 is beyond this run's $TEST_BLOCK_PORTS ports" >&2
		return 1
	fi
	echo $((TEST_PORT_BASE + $1))
}

# test_subnet I LEN: the Ith /LEN subnet of this run's pool (test_subnet 0 22, test_subnet 5 24)
test_subnet() {
	if [ "$2" -lt 20 ] || [ "$2" -gt 30 ] || [ "$1" -lt 0 ] || [ "$1" -ge $((1 << ($2 - 20))) ]; then
		echo "test_subnet: no subnet $1 of length /$2 in $TEST_POOL" >&2
		return 1
	fi
	test_o2_=${TEST_POOL#10.}
	test_o3_=${test_o2_#*.}
	test_o2_=${test_o2_%%.*}
	test_o3_=${test_o3_%%.*}
	test_off_=$(($1 << (32 - $2)))
	echo "10.$test_o2_.$((test_o3_ + test_off_ / 256)).$((test_off_ % 256))/$2"
}

test_when_finished() {
	test_cleanup_cmds="$*
$test_cleanup_cmds"
}

# test_atexit CMD: run CMD when the script ends, whatever its tests gave
# (and when it is killed by TERM, INT or HUP), last registered first, before
# the project's objects are removed: engines a library started (swarm.sh,
# cluster.sh register their stop here).
test_atexit() {
	test_atexit_cmds="$*
$test_atexit_cmds"
}

test_run_cleanup() {
	if [ -n "$test_cleanup_cmds" ]; then
		eval "$test_cleanup_cmds" || true
	fi
	test_cleanup_cmds=
}

# The chain lint (git's test_chain_lint): the body prefixed by a command that
# fails with 117.  If every command is &&-chained, nothing else runs and the
# whole gives 117; a broken link lets the rest run and give something else.
# It runs in a subshell, in an empty directory, with no PATH, $RC a no-op and
# kill/wait harmless, so what a broken body runs there does no harm.  There
# `false` gives 117 too, so that `cmd || { cat out; false; } && next` (show
# why, stay failed) passes; to ignore a failure use test_might_fail, not
# `cmd; next` or `cmd || true`.
test_chain_lint_() {
	[ "${TEST_CHAIN_LINT:-1}" = 0 ] && return 0
	mkdir -p "$TRASH/.chain-lint" || return 1
	test_lint_=$( (
		cd "$TRASH/.chain-lint" || exit 1
		PATH=/nonexistent
		RC=:
		kill() { return 1; }
		wait() { return 0; }
		false() { return 117; }
		eval "(exit 117) && $1
echo \"chain-lint:\$?\" >&8"
	) 8>&1 >/dev/null 2>&1 </dev/null )
	[ "$test_lint_" = "chain-lint:117" ]
}

# The body runs in a function of its own: a `return N` in it ends the body
# with N (and is told apart from reaching the end), never test_expect_success.
test_eval_body_() {
	test_body_done_=
	test_in_body_=1
	eval "$1"
	test_body_status_=$?
	test_body_done_=1
	return $test_body_status_
}

# test_expect_success 'title' 'body': the body is eval'ed in this shell (so
# variables carry over to later tests); its output goes to the TAP stream as
# comments when it fails (always with TEST_VERBOSE=1).
test_expect_success() {
	test_title=$1
	test_body=$2
	test_count=$((test_count + 1))
	test_cleanup_cmds=
	out=$TRASH/.test-out
	if ! test_chain_lint_ "$test_body"; then
		test_failures=$((test_failures + 1))
		echo "not ok $test_count - $test_title"
		echo "#   broken &&-chain (a command not followed by &&, or a & that backgrounds the chain);" \
			"the body was not run${test_lint_:+ (lint: $test_lint_)}:"
		printf '%s\n' "$test_body" | sed 's/^/#   /'
		return 0
	fi
	[ -n "${TEST_CHAIN_LINT_ONLY:-}" ] && { echo "ok $test_count - $test_title # SKIP chain lint only"; return 0; }
	{ test_eval_body_ "$test_body"; } >"$out" 2>&1 </dev/null
	status=$?
	test_in_body_=
	if [ $status -eq 0 ] && [ -z "$test_body_done_" ]; then
		echo "test harness: the body returned 0 before its end (a return in a test body skips the rest)" >>"$out"
		status=1
	fi
	test_run_cleanup >>"$out" 2>&1
	if [ $status -eq 0 ]; then
		echo "ok $test_count - $test_title"
		[ -n "${TEST_VERBOSE:-}" ] && sed 's/^/#   /' "$out"
	else
		test_failures=$((test_failures + 1))
		echo "not ok $test_count - $test_title"
		sed 's/^/#   /' "$out"
	fi
	return 0
}

test_done() {
	echo "1..$test_count"
	[ "$test_failures" -eq 0 ]
	exit $?
}

# --- assertions (each prints why it failed) ---
test_cmp() {
	diff -u "$1" "$2"
}

# test_expect_code N cmd...: cmd must exit with N.
test_expect_code() {
	want=$1
	shift
	"$@"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "test_expect_code: '$*' exited $got, expected $want"
		return 1
	fi
	return 0
}

# test_must_fail cmd...: cmd must exit non-zero, and not by a signal or sanitizer.
test_must_fail() {
	"$@"
	got=$?
	if [ "$got" = 0 ]; then
		echo "test_must_fail: '$*' succeeded"
		return 1
	fi
	if [ "$got" -gt 128 ]; then
		echo "test_must_fail: '$*' died with $got"
		return 1
	fi
	return 0
}

# test_might_fail cmd...: cmd may fail (its status is ignored), but not die by a signal or sanitizer.
test_might_fail() {
	"$@"
	got=$?
	if [ "$got" -gt 128 ]; then
		echo "test_might_fail: '$*' died with $got"
		return 1
	fi
	return 0
}

test_grep() {
	if ! grep "$@"; then
		echo "test_grep: no match for: $*"
		return 1
	fi
}

test_equal() {
	if [ "$1" != "$2" ]; then
		echo "test_equal: got '$1', expected '$2'"
		return 1
	fi
}

# --- Git helpers ---
# repo_init DIR: a fresh repository with an identity.
repo_init() {
	git init -q -b main "$1" &&
	git -C "$1" config user.email test@example.invalid &&
	git -C "$1" config user.name test
}

# repo_commit DIR MESSAGE: commit everything in DIR's work tree.
repo_commit() {
	git -C "$1" add -A &&
	git -C "$1" commit -q --allow-empty -m "$2"
}

# --- Docker helpers ---
# container_field NAME GO-TEMPLATE
container_field() {
	docker inspect -f "$2" "$1"
}
container_id() {
	docker inspect -f '{{.Id}}' "$1"
}
# wait_for 'cmd' SECONDS: retry cmd until it succeeds (bounded).
wait_for() {
	i=0
	while [ "$i" -lt "$(($2 * 4))" ]; do
		eval "$1" >/dev/null 2>&1 && return 0
		sleep 0.25
		i=$((i + 1))
	done
	echo "wait_for: '$1' still failing after $2 s"
	return 1
}
