#!/bin/sh
test_description='bash completion (issue 14): docs/reconciler.bash-completion sourced in bash asks the
binary (reconciler __complete) for the commands, each command'\''s own options (main.c'\''s tables) and
the unit ids of the last apply in the state directory; make install puts it where bash-completion
looks'
. "$(dirname "$0")/../lib/test-lib.sh"

M=$TRASH/repo
SCRIPT=$RC_TOP/docs/reconciler.bash-completion

# complete_words WORD...: what bash offers for the last word (the first is the binary)
complete_words() {
	bash -c '
	script=$1
	shift
	. "$script"
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_reconciler
	for c in "${COMPREPLY[@]}"; do printf "%s\n" "$c"; done
	' complete-test "$SCRIPT" "$@"
}

test_expect_success 'commands: reconciler st<TAB> offers status only' '
	complete_words $RC st >out &&
	echo status >expect &&
	test_cmp expect out &&
	complete_words $RC "" >out &&
	test_grep "^restart$" out &&
	test_grep "^validate$" out &&
	! grep "__complete" out &&
	complete_words $RC help dr >out &&
	echo drift >expect &&
	test_cmp expect out
'

test_expect_success 'options: the command'\''s own, from its table' '
	complete_words $RC apply --p >out &&
	sort out >actual &&
	printf "%s\n" --parallel --path --plan --policy >expect &&
	test_cmp expect actual &&
	complete_words $RC validate --p >out &&
	sort out >actual &&
	printf "%s\n" --path --policy >expect &&
	test_cmp expect actual &&
	complete_words $RC --state-dir /nonexistent disable --r >out &&
	echo --reason >expect &&
	test_cmp expect out &&
	complete_words $RC drift --f >out &&
	echo --fix >expect &&
	test_cmp expect out
'

test_expect_success 'an option that takes a path completes file names' '
	mkdir repo-dir &&
	complete_words $RC apply --repo repo- >out &&
	echo repo-dir >expect &&
	test_cmp expect out
'

test_expect_success 'no unit ids without a state directory, and none is made' '
	complete_words $RC --state-dir $TRASH/none enable "" >out &&
	test ! -s out &&
	test ! -e $TRASH/none
'

test_expect_success 'unit ids of the last apply: reconciler enable <TAB>, restart --customer <TAB>' '
	repo_init $M &&
	cat >$M/m.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Template
	name: t
	services:
	  app: {image: $TEST_IMAGE}
	---
	kind: Customer
	id: alpha
	template: t
	---
	kind: Customer
	id: beta
	template: t
	---
	kind: Service
	name: web
	image: $TEST_IMAGE
	EOT
	repo_commit $M "three units" &&
	$RC --repo $M apply >apply.out 2>&1 || { cat apply.out; false; } &&
	complete_words $RC enable "" >out &&
	printf "%s\n" alpha/app beta/app web >expect &&
	test_cmp expect out &&
	complete_words $RC restart al >out &&
	echo alpha/app >expect &&
	test_cmp expect out &&
	complete_words $RC restart --customer "" >out &&
	printf "%s\n" alpha beta >expect &&
	test_cmp expect out &&
	complete_words $RC --state-dir $STATE disable w >out &&
	echo web >expect &&
	test_cmp expect out &&
	complete_words $RC --state-dir $TRASH/none enable "" >out &&
	test ! -s out
'

test_expect_success 'make install puts the script where bash-completion looks' '
	make -s -C $RC_TOP BUILD=test DESTDIR=$TRASH/inst PREFIX=/usr install >install.out 2>&1 ||
		{ cat install.out; false; } &&
	test_cmp $SCRIPT $TRASH/inst/usr/share/bash-completion/completions/reconciler
'

test_done
