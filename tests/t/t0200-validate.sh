#!/bin/sh
test_description='validate and render: manifests from Git (work tree, bare clone, any rev) and from a directory'
. "$(dirname "$0")/../lib/test-lib.sh"

# The manifests of a small hosting setup (format: spec/manifest.md), under
# DIR: two shared services on an internal network, a template with two
# services, three customers.  The db service reads the secret db_password.
write_manifests() {
	mkdir -p "$1/customers" &&
	cat >"$1/settings.yaml" <<-EOF &&
	kind: Settings
	project: $PROJECT
	ports: {range: $TEST_PORTS}
	subnets: {pool: $TEST_POOL, size: 26}
	defaults: {stop_grace_period: 10s}
	EOF
	cat >"$1/plans.yaml" <<-EOF &&
	kind: Plan
	name: small
	cpus: 0.25
	memory: 64M
	pids: 64
	---
	kind: Plan
	name: big
	cpus: 1
	memory: 256M
	pids: 256
	EOF
	cat >"$1/shared.yaml" <<-EOF &&
	# shared services
	kind: Network
	name: backend
	internal: true
	---
	kind: Service
	name: db
	image: $TEST_IMAGE
	plan: big
	env: {ROLE: database}
	networks: [backend]
	secrets: [db_password]
	health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, retries: 5}
	---
	kind: Service
	name: cache
	image: $TEST_IMAGE
	plan: small
	env: {ROLE: cache}
	networks: [backend]
	EOF
	cat >"$1/template.yaml" <<-EOF &&
	kind: Template
	name: webapp
	services:
	  app:
	    image: $TEST_IMAGE
	    port: 8080
	    networks: [backend]
	    env: {ROLE: app, MODE: serve}
	    depends_on: {db: healthy, cache: started}
	    health: {http: /health, interval: 1s, retries: 5}
	  worker:
	    image: $TEST_IMAGE
	    env: {ROLE: worker}
	    depends_on: {app: healthy}
	EOF
	for c in alpha beta gamma; do
		cat >"$1/customers/$c.yaml" <<-EOF || return 1
		kind: Customer
		id: $c
		template: webapp
		plan: small
		port: auto
		env: {CUSTOMER: $c}
		EOF
	done
}

# All of DIR's documents in one stream, in reverse order, with the lines of
# flat documents reversed, flow maps reordered and comments added: the same
# manifests for anything that reads YAML.
shuffle_manifests() {
	for f in customers/gamma customers/beta customers/alpha template shared plans settings; do
		cat "$1/$f.yaml" && echo "---"
	done | python3 -c "$(cat <<-'PY'
	import sys
	docs = [d for d in sys.stdin.read().split("---\n") if d.strip()]
	out = []
	for d in reversed(docs):
	    lines = d.rstrip("\n").split("\n")
	    if not any(l.startswith(" ") or l.endswith(":") for l in lines):
	        lines.reverse()
	    text = "\n".join(lines) + "\n"
	    text = text.replace("{ROLE: app, MODE: serve}", "{MODE: serve, ROLE: app}")
	    text = text.replace("{db: healthy, cache: started}", "{cache: started,   db: healthy}")
	    out.append("# reordered\n" + text)
	sys.stdout.write("---\n".join(out))
	PY
	)"
}

# "unit-id hash" pairs from render's text output.
unit_hashes() {
	awk '/^unit /{u=$2} /^  hash: /{print u, $2}' "$1"
}

test_expect_success 'the command line: --help, --version, unknown commands and bad options' '
	"$RC" --help >help.out &&
	test_grep "^usage: reconciler" help.out &&
	test_grep "^  drift " help.out &&
	"$RC" --version >version.out &&
	test_grep "^reconciler [0-9][0-9.]*$" version.out &&
	"$RC" version >version2.out &&
	test_cmp version.out version2.out &&
	test_expect_code 1 "$RC" frobnicate 2>err &&
	test_grep "unknown command .frobnicate." err &&
	test_expect_code 1 "$RC" --parallel many plan 2>err &&
	test_grep "parallel: .many. is not a number from 1 to 256" err &&
	test_expect_code 1 "$RC" --parallel 0 apply 2>err &&
	test_expect_code 1 "$RC" --no-such-option validate 2>err &&
	test_grep "usage:" err
'

test_expect_success 'setup: a repository with manifests under manifests/' '
	mkdir -p "$STATE/secrets" &&
	printf "s3cret-one" >"$STATE/secrets/db_password" &&
	chmod 600 "$STATE/secrets/db_password" &&
	repo_init repo &&
	write_manifests repo/manifests &&
	mkdir repo/docs &&
	printf "openapi: 3.0.0\nnot: [a manifest\n" >repo/docs/api.yaml &&
	echo "# readme" >repo/README.md &&
	echo "not yaml" >repo/manifests/NOTES.txt &&
	repo_commit repo one &&
	git -C repo tag -a -m "release one" v1 &&
	git -C repo branch stable &&
	git clone -q --bare repo bare.git &&
	sha=$(git -C repo rev-parse HEAD) &&
	short=$(echo $sha | cut -c1-7) &&
	echo "$sha" >sha
'

test_expect_success 'validate at HEAD: exit 0, a summary on stderr' '
	$RC validate --repo repo --path manifests 2>err &&
	cat err &&
	test_grep "^valid: 3 customers, 8 units, " err &&
	test_grep "(commit $(cut -c1-7 sha))" err &&
	test $(wc -l <err) = 1
'

test_expect_success 'validate -q is silent' '
	$RC -q validate --repo repo --path manifests >out 2>err &&
	test_must_fail test -s err &&
	test_must_fail test -s out
'

test_expect_success 'validate at a branch, an annotated tag, a full and a short sha' '
	for rev in stable v1 "$(cat sha)" "$(cut -c1-8 sha)" main HEAD; do
		$RC validate --repo repo --rev "$rev" --path manifests 2>err &&
		test_grep "^valid: 3 customers" err || return 1
	done
'

test_expect_success 'validate from a bare clone and from a directory' '
	$RC validate --repo bare.git --path manifests 2>err &&
	test_grep "(commit $(cut -c1-7 sha))" err &&
	$RC validate --dir repo/manifests 2>err &&
	test_grep "^valid: 3 customers, 8 units, .*(directory repo/manifests)" err
'

test_expect_success 'the whole repository is not a manifest tree (docs/api.yaml is not one)' '
	test_expect_code 1 $RC validate --repo repo 2>err &&
	test_grep "^docs/api.yaml:[0-9]*:[0-9]*: " err
'

test_expect_success 'a missing rev, path or repository: exit 1 with one message' '
	test_expect_code 1 $RC validate --repo repo --rev nope --path manifests 2>err &&
	test_grep "cannot resolve .nope. in .repo." err &&
	test_expect_code 1 $RC validate --repo repo --path nowhere 2>err &&
	test_grep "nowhere" err &&
	test_expect_code 1 $RC validate --repo "$TRASH/nothing" 2>err &&
	test_grep "cannot open repository" err &&
	test_expect_code 1 $RC validate --dir repo/manifests --path x 2>err &&
	test_grep "cannot be used together" err
'

test_expect_success 'an invalid commit: file:line:col: for every problem, relative to the repo, exit 1' '
	cat >repo/manifests/customers/delta.yaml <<-EOF &&
	kind: Customer
	id: delta
	template: webapp
	plan: no-such-plan
	port: auto
	EOF
	cat >repo/manifests/customers/epsilon.yaml <<-EOF &&
	kind: Customer
	id: epsilon
	template: no-such-template
	plan: small
	port: auto
	EOF
	repo_commit repo broken &&
	test_expect_code 1 $RC validate --repo repo --path manifests 2>err &&
	cat err &&
	test_grep "^manifests/customers/delta.yaml:4:[0-9]*: .*no-such-plan" err &&
	test_grep "^manifests/customers/epsilon.yaml:3:[0-9]*: .*no-such-template" err &&
	test_grep "^invalid: [0-9]* errors\? (commit " err &&
	test_must_fail grep -v -e "^manifests/customers/[a-z]*.yaml:[0-9]*:[0-9]*: " -e "^invalid: " err &&
	test_expect_code 1 $RC render --repo repo --path manifests >out 2>err &&
	test_must_fail test -s out &&
	test_grep "^manifests/customers/delta.yaml:4:" err &&
	$RC validate --repo repo --rev v1 --path manifests 2>err
'

test_expect_success 'a YAML syntax error is reported with its position' '
	printf "kind: Customer\nid: [unclosed\n" >bad.yaml &&
	mkdir -p syntax && cp bad.yaml syntax/ &&
	test_expect_code 1 $RC validate --dir syntax 2>err &&
	test_grep "^bad.yaml:[0-9]*:[0-9]*: " err
'

test_expect_success 'stop_signal: a signal the engine knows passes, SIGFOO is an error at its position' '
	repo_init sig &&
	cat >sig/svc.yaml <<-EOF &&
	kind: Service
	name: sig
	image: $TEST_IMAGE
	stop_signal: SIGRTMIN+3
	EOF
	repo_commit sig good &&
	$RC validate --repo sig 2>err &&
	test_grep "^valid: 0 customers, 1 unit" err &&
	sed -i "s/^stop_signal: .*/stop_signal: 9/" sig/svc.yaml &&
	repo_commit sig number &&
	$RC validate --repo sig 2>err &&
	sed -i "s/^stop_signal: .*/stop_signal: SIGFOO/" sig/svc.yaml &&
	repo_commit sig bad &&
	test_expect_code 1 $RC validate --repo sig 2>err &&
	cat err &&
	test_grep "^svc.yaml:4:14: unknown signal .SIGFOO. in .stop_signal.$" err &&
	test_grep "^invalid: 1 error (commit " err
'

test_expect_success 'render: every unit, dependencies first, ties by id' '
	$RC render --repo repo --rev v1 --path manifests >render.txt &&
	cat render.txt &&
	grep "^unit " render.txt | cut -d" " -f2 >order &&
	test $(wc -l <order) = 8 &&
	printf "%s\n" cache db alpha/app alpha/worker beta/app beta/worker gamma/app gamma/worker >want &&
	test_cmp want order &&
	test $(grep -c "^  hash: [0-9a-f]\{32\}$" render.txt) = 8 &&
	test $(grep -c "^  base-hash: [0-9a-f]\{32\}$" render.txt) = 8 &&
	test_grep "^  container: $PROJECT-alpha-app$" render.txt &&
	test_grep "^  depends-on: .*db (healthy)" render.txt
'

test_expect_success 'render never shows a secret, only its digest' '
	test_must_fail grep s3cret render.txt &&
	$RC render --json --repo repo --rev v1 --path manifests >render.json &&
	test_must_fail grep s3cret render.json
'

test_expect_success 'render --json: valid JSON with the documented fields' '
	python3 - render.json <<-EOF
	import json, sys
	doc = json.load(open(sys.argv[1]))
	assert doc["format"] == "reconciler-render" and doc["version"] == 1, doc.keys()
	assert len(doc["commit"]) == 40
	units = doc["units"]
	assert [u["order"] for u in units] == list(range(len(units)))
	pos = {u["id"]: u["order"] for u in units}
	for u in units:
	    for k in ("id", "container", "hash", "base_hash", "depends_on", "spec", "source"):
	        assert k in u, (k, u)
	    assert len(u["hash"]) == 32 and len(u["base_hash"]) == 32
	    for d in u["depends_on"]:
	        assert pos[d["unit"]] < u["order"], (u["id"], d)
	    assert all(isinstance(v, str) for v in u["spec"].values())
	assert len(doc["networks"]) >= 4
	EOF
'

test_expect_success 'render is the same from --dir and from Git' '
	git -C repo checkout -q v1 &&
	$RC render --dir repo/manifests >dir.txt &&
	git -C repo checkout -q main &&
	test_cmp render.txt dir.txt &&
	$RC render --repo bare.git --rev v1 --path manifests >bare.txt &&
	test_cmp render.txt bare.txt &&
	git -C repo checkout -q v1 &&
	$RC render --json --dir repo/manifests >dir.json &&
	git -C repo checkout -q main &&
	grep -v -e "\"commit\":" -e "\"source\":" render.json >a &&
	grep -v -e "\"commit\":" -e "\"source\":" dir.json >b &&
	test_cmp a b
'

test_expect_success 'reordering files, documents and keys, and comments, change no hash' '
	repo_init shuffled &&
	mkdir -p shuffled/m/x/y &&
	write_manifests tmp-m &&
	shuffle_manifests tmp-m >shuffled/m/x/y/all.yaml &&
	cat shuffled/m/x/y/all.yaml &&
	repo_commit shuffled one &&
	$RC render --repo shuffled --path m >shuffled.txt &&
	unit_hashes render.txt >h1 &&
	unit_hashes shuffled.txt >h2 &&
	test_cmp h1 h2 &&
	test_cmp render.txt shuffled.txt
'

test_expect_success 'a secret rotation changes the hash of exactly its users' '
	unit_hashes render.txt | sort >before &&
	printf "s3cret-two" >"$STATE/secrets/db_password" &&
	$RC render --repo repo --rev v1 --path manifests >rotated.txt &&
	unit_hashes rotated.txt | sort >after &&
	test_must_fail grep s3cret-two rotated.txt &&
	join before after | awk "\$2 != \$3 {print \$1}" >changed &&
	echo db >want &&
	test_cmp want changed &&
	printf "s3cret-one" >"$STATE/secrets/db_password" &&
	$RC render --repo repo --rev v1 --path manifests >again.txt &&
	test_cmp render.txt again.txt
'

test_expect_success 'a missing secret file is a diagnostic' '
	mv "$STATE/secrets/db_password" "$STATE/secrets/moved" &&
	test_when_finished "mv \"$STATE/secrets/moved\" \"$STATE/secrets/db_password\"" &&
	test_expect_code 1 $RC validate --repo repo --rev v1 --path manifests 2>err &&
	test_grep "db_password" err
'

test_done
