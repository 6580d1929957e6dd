#!/bin/sh
test_description='the command line: options per command, per-command help, validate --json (no engine needed)'
. "$(dirname "$0")/../lib/test-lib.sh"

# Nothing here may reach an engine or the default state directory.
DOCKER_HOST=unix://$TRASH/no-engine.sock
export DOCKER_HOST

COMMANDS="version validate render plan apply status run enable disable restart approve retry diff drift rotate help"

# A valid set: one template, two customers.
write_valid() {
	mkdir -p "$1" &&
	cat >"$1/stack.yaml" <<-EOF
	kind: Settings
	project: $PROJECT
	ports: {range: $TEST_PORTS}
	---
	kind: Template
	name: site
	services:
	  web:
	    image: $TEST_IMAGE
	    port: 8080
	---
	kind: Customer
	id: one
	template: site
	port: auto
	---
	kind: Customer
	id: two
	template: site
	port: auto
	EOF
}

# An invalid one: a misspelt key and a missing template, in a sub-directory.
write_invalid() {
	mkdir -p "$1/customers" &&
	write_valid "$1" &&
	printf "kind: Customer\nid: three\ntemplat: site\n" >"$1/customers/three.yaml"
}

# "--name" and "--name VALUE" of every option `reconciler help CMD` lists, one a line.
listed_options() {
	"$RC" help "$1" | sed -n "s/^  \(--[a-z-]*\)\( [A-Z][A-Z]*\)\{0,1\}\( .*\)\{0,1\}$/\1\2/p"
}

test_expect_success 'setup: a valid and an invalid set of manifests' '
	write_valid valid &&
	write_invalid invalid &&
	"$RC" --state-dir "$STATE" validate --dir valid 2>err &&
	test_grep "^valid: 2 customers, 2 units" err &&
	test_expect_code 1 "$RC" --state-dir "$STATE" validate --dir invalid 2>err &&
	test_grep "^invalid: 2 errors" err
'

test_expect_success 'an option a command does not take: exit 1, named with the command, nothing done' '
	test_expect_code 1 "$RC" validate --fix --dir valid >out 2>err &&
	test_grep "^reconciler: .validate. does not take --fix" err &&
	test ! -s out &&
	test_expect_code 1 "$RC" validate --fix --plan /nonexistent --dir valid 2>err &&
	test_grep "does not take --fix" err &&
	test_expect_code 1 "$RC" --fix validate --dir valid 2>err &&
	test_grep "^reconciler: .validate. does not take --fix" err &&
	test_expect_code 1 "$RC" render --markdown --dir valid >out 2>err &&
	test_grep "^reconciler: .render. does not take --markdown" err &&
	test ! -s out &&
	test_expect_code 1 "$RC" --rev HEAD diff A B 2>err &&
	test_grep "^reconciler: .diff. does not take --rev" err &&
	test_expect_code 1 "$RC" --dir valid diff A B 2>err &&
	test_grep "^reconciler: .diff. does not take --dir" err &&
	test_expect_code 1 "$RC" status --markdown --dir valid 2>err &&
	test_grep "^reconciler: .status. does not take --markdown" err &&
	test_expect_code 1 "$RC" enable web --repo . 2>err &&
	test_grep "^reconciler: .enable. does not take --repo" err &&
	test_expect_code 1 "$RC" run --dir valid 2>err &&
	test_grep "^reconciler: .run. does not take --dir" err &&
	test_expect_code 1 "$RC" plan --parallel 4 --dir valid 2>err &&
	test_grep "^reconciler: .plan. does not take --parallel" err &&
	test_expect_code 1 "$RC" rotate pw --plan p.json --dir valid 2>err &&
	test_grep "^reconciler: .rotate. does not take --plan" err &&
	test_expect_code 1 "$RC" version --json 2>err &&
	test_grep "^reconciler: .version. does not take --json" err
'

test_expect_success 'an option apply does not take (--markdown) is refused before anything is read, locked or made' '
	test_expect_code 1 "$RC" --state-dir "$TRASH/fresh-state" apply --markdown --dir valid >out 2>err &&
	test_grep "^reconciler: .apply. does not take --markdown" err &&
	test ! -s out &&
	test ! -e "$TRASH/fresh-state" &&
	test_expect_code 1 "$RC" --state-dir "$TRASH/fresh-state" enable web --customer c 2>err &&
	test_grep "does not take --customer" err &&
	test ! -e "$TRASH/fresh-state"
'

test_expect_success 'the global options are taken by every command, before or after its name' '
	"$RC" -q --state-dir "$STATE" --docker-host "$DOCKER_HOST" validate --dir valid 2>err &&
	test ! -s err &&
	"$RC" validate --dir valid -q --state-dir "$STATE" --docker-host "$DOCKER_HOST" 2>err &&
	test ! -s err &&
	"$RC" -v --state-dir "$STATE" --docker-host "$DOCKER_HOST" version >out &&
	test_grep "^reconciler [0-9]" out &&
	for cmd in $COMMANDS; do
		# arguments that make each stop early (no engine answers; a usage error), after the options are checked
		case $cmd in
		validate|render|plan|apply|status|drift) args="--dir valid" ;;
		run|retry) args="x y" ;;
		*) args= ;;
		esac &&
		test_might_fail "$RC" --state-dir "$TRASH/g-$cmd" --docker-host "$DOCKER_HOST" -v -q $cmd $args \
			>out 2>err &&
		! grep -e "does not take" -e "unknown option" err || return 1
	done
'

test_expect_success 'unknown, ambiguous and value-less options: exit 1, named, with the usage line' '
	test_expect_code 1 "$RC" validate --frobnicate 2>err &&
	test_grep "^reconciler: unknown option .--frobnicate." err &&
	test_grep "^usage: reconciler validate" err &&
	test_expect_code 1 "$RC" --p x validate 2>err &&
	test_grep "ambiguous option .--p. (--path, --policy, --plan, --parallel, --poll-interval, --pull-interval)" err &&
	test_expect_code 1 "$RC" validate --repo 2>err &&
	test_grep "option .--repo. needs a value" err &&
	test_expect_code 1 "$RC" validate --json=yes 2>err &&
	test_grep "option .--json=yes. takes no value" err &&
	test_expect_code 1 "$RC" validate -x 2>err &&
	test_grep "unknown option .-x." err &&
	test_expect_code 1 "$RC" frobnicate 2>err &&
	test_grep "unknown command .frobnicate." err
'

test_expect_success 'reconciler --help lists every command; no command at all is a usage error' '
	"$RC" --help >help.out &&
	for cmd in $COMMANDS; do
		test_grep "^  $cmd " help.out || return 1
	done &&
	: -h says what COMMAND --help prints, in words that end &&
	tr -s " \n" "  " <help.out | test_grep "COMMAND --help: that command.s usage, options and exit codes" &&
	"$RC" help >help2.out &&
	test_cmp help.out help2.out &&
	test_expect_code 1 "$RC" >out 2>err &&
	test ! -s out &&
	test_grep "^usage: reconciler" err
'

test_expect_success 'help CMD, CMD --help, CMD -h and -h CMD print the same: usage, options, exit codes' '
	for cmd in $COMMANDS; do
		"$RC" help $cmd >h1 &&
		"$RC" $cmd --help >h2 &&
		"$RC" $cmd -h >h3 &&
		"$RC" -h $cmd >h4 &&
		test_cmp h1 h2 && test_cmp h1 h3 && test_cmp h1 h4 &&
		test_grep "^usage: reconciler $cmd" h1 &&
		test_grep "^exit status: " h1 &&
		test_grep "^global options: --state-dir" h1 || return 1
	done &&
	"$RC" help validate >validate.help &&
	test_grep "^  --json  *the verdict and every diagnostic as one JSON document" validate.help &&
	! grep -e "--fix" -e "--markdown" -e "--parallel" validate.help &&
	"$RC" help drift >drift.help &&
	test_grep "^  --fix " drift.help &&
	"$RC" help diff >diff.help &&
	test_grep "^usage: reconciler diff \[options\] A B" diff.help &&
	test_expect_code 1 "$RC" help nope 2>err &&
	test_grep "unknown command .nope." err &&
	"$RC" validate --fix --help >out &&
	test_cmp validate.help out
'

test_expect_success 'every option a command does not list in its help is refused; the lists agree with the table' '
	for cmd in $COMMANDS; do
		listed_options $cmd >listed.$cmd || return 1
	done &&
	cat listed.* | sort -u >all-options &&
	test_grep "^--fix$" all-options &&
	test_grep "^--remote-credentials FILE$" all-options &&
	for cmd in $COMMANDS; do
		while read -r opt val; do
			grep -q -- "^$opt\( \|$\)" listed.$cmd && continue
			case $val in N) val=2 ;; S) val=1 ;; esac
			test_expect_code 1 "$RC" $cmd $opt $val >out 2>err &&
			test_grep "^reconciler: .$cmd. does not take $opt " err || return 1
		done <all-options || return 1
	done
'

test_expect_success 'validate --json, a valid set: one document, valid, counts, nothing on stderr' '
	"$RC" --state-dir "$STATE" validate --json --dir valid >v.json 2>err &&
	test ! -s err &&
	python3 -c "import json,sys; json.load(sys.stdin)" <v.json &&
	python3 - v.json <<-\EOF
	import json, sys
	d = json.load(open(sys.argv[1]))
	assert d["format"] == "reconciler-validate" and d["version"] == 1, d
	assert d["valid"] is True and d["errors"] == [], d
	assert d["directory"] == "valid" and d["commit"] is None, d
	s = d["summary"]
	assert (s["errors"], s["customers"], s["units"], s["networks"]) == (0, 2, 2, 2), s
	assert s["text"].startswith("valid: 2 customers, 2 units"), s
	EOF
'

test_expect_success 'validate --json, an invalid set: exit 1, every diagnostic with file, line, col, message' '
	test_expect_code 1 "$RC" --state-dir "$STATE" validate --json --dir invalid >i.json 2>err &&
	test ! -s err &&
	python3 -c "import json,sys; json.load(sys.stdin)" <i.json &&
	test_expect_code 1 "$RC" --state-dir "$STATE" validate --dir invalid 2>text.err &&
	python3 - i.json text.err <<-\EOF
	import json, sys
	d = json.load(open(sys.argv[1]))
	text = open(sys.argv[2]).read().splitlines()
	assert d["valid"] is False, d
	assert d["summary"]["errors"] == len(d["errors"]) == 2, d
	assert d["summary"]["units"] is None, d
	# the same diagnostics as the text form, in the same order
	got = ["%s:%d:%d: %s" % (e["file"], e["line"], e["col"], e["message"]) for e in d["errors"]]
	assert got == text[:-1], (got, text)
	assert d["summary"]["text"] == text[-1], (d["summary"], text)
	assert all(e["severity"] == "error" for e in d["errors"]), d
	assert d["errors"][0]["file"] == "customers/three.yaml", d
	EOF
'

test_expect_success 'validate --json from Git, and an error that is no diagnostic (an unknown revision)' '
	repo_init repo &&
	write_valid repo &&
	repo_commit repo one &&
	"$RC" --state-dir "$STATE" validate --json --repo repo >g.json &&
	python3 -c "import json,sys; d=json.load(sys.stdin); assert d[\"valid\"] and len(d[\"commit\"]) == 40, d" <g.json &&
	test_expect_code 1 "$RC" --state-dir "$STATE" validate --json --repo repo --rev nope >n.json 2>err &&
	test ! -s err &&
	python3 - n.json <<-\EOF
	import json, sys
	d = json.load(open(sys.argv[1]))
	assert d["valid"] is False and len(d["errors"]) == 1, d
	e = d["errors"][0]
	assert e["file"] is None and e["line"] is None and e["col"] is None, e
	assert "nope" in e["message"], e
	EOF
'

test_done
