#!/bin/sh
test_description='validate on hostile repositories (issue 19): file names with control characters are
printed escaped, one diagnostic per line; a Git tree holding two entries of one name is refused; a
large input loads (correctness, not timing: tests/bench/load.sh times it)'
. "$(dirname "$0")/../lib/test-lib.sh"

ESC=$(printf '\033')
# A file name that, printed raw, would colour the terminal red and forge a
# second diagnostic on a line of its own.
EVIL=$(printf 'evil\033[31m\nforged.yaml:1:1: all good')

test_expect_success 'a file name with an escape sequence and a newline is printed escaped, on one line' '
	repo_init evil &&
	printf "kind: Service\nname: a\n" >"evil/$EVIL.yaml" &&
	repo_commit evil "an evil file name" &&
	test_expect_code 1 $RC --repo evil validate >out 2>err &&
	! grep -q "$ESC" err &&
	test "$(grep -c . err)" = 2 &&
	test_grep -F "evil\\x1b[31m\\x0aforged.yaml:1:1: all good.yaml:1:1: service '"'"'a'"'"' has no '"'"'image'"'"'" err &&
	test_expect_code 1 $RC --dir evil validate >out 2>err &&
	! grep -q "$ESC" err &&
	test "$(grep -c . err)" = 2
'

test_expect_success 'a reader error (bytes that are not UTF-8) has its line and column' '
	mkdir utf &&
	printf "kind: Service\nname: a\nimage: \"app:1\"\nuser: \"r\377oot\"\n" >utf/m.yaml &&
	test_expect_code 1 $RC --dir utf validate 2>err &&
	test_grep -F "m.yaml:4:9: syntax error: invalid leading UTF-8 octet (byte 0xff)" err
'

test_expect_success 'a Git tree with two entries of one name is refused' '
	repo_init dup &&
	a=$(printf "kind: Service\nname: a\nimage: app:1\n" | git -C dup hash-object -w --stdin) &&
	b=$(printf "kind: Service\nname: b\nimage: app:1\n" | git -C dup hash-object -w --stdin) &&
	sub=$(printf "100644 blob %s\tm.yaml\n100644 blob %s\tm.yaml\n" $a $b | git -C dup mktree) &&
	top=$(printf "040000 tree %s\tdir\n" $sub | git -C dup mktree) &&
	c=$(git -C dup commit-tree $top -m "two entries of one name") &&
	git -C dup update-ref refs/heads/main $c &&
	test_expect_code 1 $RC --repo dup validate >out 2>err &&
	test_grep -F "'"'"'dir/m.yaml'"'"' appears twice in one directory of the tree" err &&
	test_expect_code 1 $RC --repo dup render >out 2>err &&
	test_grep "appears twice" err
'

test_expect_success 'a tree with one entry of each name loads (the check is per directory)' '
	sub2=$(printf "100644 blob %s\tm.yaml\n" $(git -C dup hash-object -w --stdin </dev/null) | git -C dup mktree) &&
	one=$(printf "100644 blob %s\tm.yaml\n" $(printf "kind: Service\nname: a\nimage: app:1\n" | git -C dup hash-object -w --stdin) | git -C dup mktree) &&
	top=$(printf "040000 tree %s\ta\n040000 tree %s\tb\n" $one $sub2 | git -C dup mktree) &&
	c=$(git -C dup commit-tree $top -m "m.yaml twice, in two directories") &&
	$RC --repo dup --rev $c validate 2>err &&
	test_grep "valid: 0 customers, 1 unit" err
'

test_expect_success 'a large set (8,000 customers, a 20,000-key env) loads and renders' '
	mkdir big &&
	awk "BEGIN {
		print \"kind: Settings\nports: {range: 10000-30000}\nsubnets: {pool: 10.0.0.0/8, size: 29}\";
		print \"---\nkind: Service\nname: shared\nimage: app:1\nenv:\";
		for (i = 0; i < 20000; i++) printf \"  K%05d: v\n\", i;
		print \"---\nkind: Template\nname: t\nservices:\n  app: {image: app:1, port: 80}\";
		for (i = 0; i < 8000; i++) printf \"---\nkind: Customer\nid: c%04d\ntemplate: t\nport: auto\n\", i
	}" >big/m.yaml &&
	$RC --dir big validate 2>err &&
	test_grep "valid: 8000 customers, 8001 units, 8000 networks" err &&
	$RC --dir big render >out &&
	test "$(grep -c "^    env\.K[0-9]*=v$" out)" = 20000
'

test_done
