#!/bin/sh
test_description='engine: swarm manifests: validate and render the Swarm keys from a directory and from Git; a key of the other engine is refused by validate, plan and apply at its file:line:col, and nothing changes'
. "$(dirname "$0")/../lib/test-lib.sh"

# No Swarm engine is needed: everything here is the loader's.  A valid swarm
# set is only validated and rendered (planning it against a swarm is the Swarm
# executor's: spec/swarm.md); the refused sets go through plan and apply too,
# which must stop at the load with the same diagnostics and touch nothing.

# write_settings DIR ENGINE-LINE: Settings in a file that sorts after the services
write_settings() {
	cat >"$1/z-settings.yaml" <<-EOF
	kind: Settings
	project: $PROJECT
	$2
	ports: {range: $TEST_PORTS}
	subnets: {pool: $TEST_POOL, size: 26}
	EOF
}

# A swarm set: a shared service, a plan, a template and two customers.
write_swarm_set() {
	mkdir -p "$1" &&
	cat >"$1/a-services.yaml" <<-EOF &&
	kind: Service
	name: proxy
	image: $TEST_IMAGE
	ports: ["$(test_port 1):8080"]
	publish: host
	replicas: 2
	placement: {constraints: ["node.role == manager"]}
	rollout: {parallelism: 1, delay: 5s}
	---
	kind: Plan
	name: gold
	replicas: 3
	placement: {constraints: [node.labels.tier==gold], spread: [node.labels.zone]}
	rollout: {monitor: 20s}
	---
	kind: Template
	name: site
	plan: gold
	services:
	  app: {image: $TEST_IMAGE, user: "1000", cap_drop: [ALL]}
	---
	kind: Customer
	id: c1
	template: site
	placement: {constraints: [node.labels.customer==c1]}
	---
	kind: Customer
	id: c2
	template: site
	EOF
	write_settings "$1" "engine: swarm"
}

# Every container, network and volume of the project, and every file of the state
# directory with its content's checksum: what "nothing changed" compares.
snapshot() {
	{
		docker ps -aq --no-trunc --filter "label=$LABEL_PROJECT=$PROJECT" &&
		docker network ls -q --no-trunc --filter "label=$LABEL_PROJECT=$PROJECT" &&
		docker volume ls -q --filter "label=$LABEL_PROJECT=$PROJECT" &&
		find "$STATE" -type f -exec md5sum {} +
	} | sort
}

# refused DIR EXPECTED: validate, plan and apply of DIR all exit 1 with exactly the
# diagnostics in file EXPECTED (file:line:col: message, paths relative to DIR), and
# nothing of the project on the engine or in the state directory changes.
refused() {
	snapshot >snap.before &&
	for cmd in validate plan apply; do
		test_expect_code 1 $RC $cmd --dir "$1" >out 2>err || { cat err; return 1; }
		grep -v -e "^invalid: " -e "^reconciler: " err >diags || return 1
		test_cmp "$2" diags || return 1
		test_must_fail test -s out || return 1
	done &&
	snapshot >snap.after &&
	test_cmp snap.before snap.after
}

# unit_hashes RENDER-OUTPUT UNIT: its hash and base-hash lines
unit_hashes() {
	sed -n "/^unit $2\$/,/^\$/p" "$1" | grep -e "^  hash:" -e "^  base-hash:"
}

test_expect_success 'setup: a swarm set in a directory and in Git (Settings in the last file)' '
	write_swarm_set ok &&
	repo_init repo &&
	write_swarm_set repo/m &&
	repo_commit repo "a swarm set"
'

test_expect_success 'validate: the swarm set is valid from a directory and from Git' '
	$RC validate --dir ok 2>err &&
	test_grep "^valid: 2 customers, 3 units" err &&
	$RC validate --repo repo --path m 2>err &&
	test_grep "^valid: 2 customers, 3 units" err
'

test_expect_success 'render: the Swarm lines of each unit, from the service, its plan, its customer and the defaults' '
	$RC render --dir ok >render.txt &&
	sed -n "/^unit c1\/app$/,/^$/p" render.txt >c1app &&
	cat >want <<-EOF &&
	    cap_drop.ALL=true
	    image=$TEST_IMAGE
	    networks.0=$PROJECT-c1
	    placement.constraint.node.labels.customer\\=\\=c1=true
	    placement.constraint.node.labels.tier\\=\\=gold=true
	    placement.spread=node.labels.zone
	    replicas=3
	    restart.policy=unless-stopped
	    rollout.delay=0
	    rollout.monitor=20000000000
	    rollout.parallelism=1
	    stop_grace=10000000000
	    user=1000
	EOF
	sed -n "/^  spec:$/,/^$/p" c1app | sed -e "/^  spec:$/d" -e "/^$/d" >got &&
	test_cmp want got &&
	sed -n "/^unit proxy$/,/^$/p" render.txt >proxy &&
	test_grep "^    publish=host$" proxy &&
	test_grep "^    replicas=2$" proxy &&
	test_grep "^    placement.constraint.node.role\\\\=\\\\=manager=true$" proxy &&
	test_grep "^    rollout.delay=5000000000$" proxy &&
	$RC render --repo repo --path m >git.txt &&
	test_cmp render.txt git.txt
'

test_expect_success 'replicas and rollout change the hash, not the base hash; placement and publish both' '
	unit_hashes render.txt proxy >h0 &&
	cp -r ok ok2 &&
	sed -i "s/^replicas: 2$/replicas: 5/; s/delay: 5s/delay: 7s/" ok2/a-services.yaml &&
	$RC render --dir ok2 >r2 && unit_hashes r2 proxy >h2 &&
	test "$(wc -l <h2)" = 2 &&
	test "$(sed -n 1p h0)" != "$(sed -n 1p h2)" &&
	test "$(sed -n 2p h0)" = "$(sed -n 2p h2)" &&
	sed -i "s/^publish: host$/publish: ingress/" ok2/a-services.yaml &&
	$RC render --dir ok2 >r3 && unit_hashes r3 proxy >h3 &&
	test "$(sed -n 2p h2)" != "$(sed -n 2p h3)"
'

test_expect_success 'diff: replicas and rollout are an update in place, a constraint a replacement, keys shown as written' '
	sed -i "s/^replicas: 2$/replicas: 5/; s/delay: 5s/delay: 90s/" repo/m/a-services.yaml &&
	repo_commit repo "more proxies" &&
	test_expect_code 2 $RC diff --repo repo --path m HEAD~1 HEAD >out &&
	cat out &&
	test_grep "^  ~   proxy ($PROJECT-proxy) will be updated in place$" out &&
	test_grep "^        replicas: 2 → 5$" out &&
	test_grep "^        rollout.delay: 5s → 1m30s$" out &&
	sed -i "s/node.labels.tier==gold/node.labels.tier==silver/" repo/m/a-services.yaml &&
	repo_commit repo "silver" &&
	test_expect_code 2 $RC diff --repo repo --path m HEAD~1 HEAD >out &&
	cat out &&
	test_grep "^  -/+ c1/app ($PROJECT-c1-app) will be recreated$" out &&
	test_grep "^        placement.constraint.node.labels.tier==gold: true → (unset)$" out &&
	test_grep "^        placement.constraint.node.labels.tier==silver: (unset) → true$" out &&
	test_expect_code 2 $RC diff --markdown --repo repo --path m HEAD~1 HEAD >md &&
	test_grep "placement.constraint.node.labels.tier==silver\`: (unset) → \`true" md
'

test_expect_success 'containers: the same set without its Swarm keys has no Swarm line, engine written or not' '
	mkdir -p plain &&
	sed -e "/^publish:/d" -e "/^replicas:/d" -e "/^placement:/d" -e "/^rollout:/d" ok/a-services.yaml >plain/a-services.yaml &&
	write_settings plain "" &&
	$RC render --dir plain >p1 &&
	test_must_fail grep -e "replicas=" -e "placement\." -e "rollout\." -e "publish=" p1 &&
	write_settings plain "engine: containers" &&
	$RC render --dir plain >p2 &&
	test_cmp p1 p2
'

test_expect_success 'containers (no engine written, Settings last): each Swarm key refused at its key' '
	mkdir -p c1 &&
	cp ok/a-services.yaml c1/ &&
	write_settings c1 "" &&
	cat >want <<-EOF &&
	a-services.yaml:5:1: '"'"'publish'"'"' only applies with '"'"'engine: swarm'"'"' (the engine is containers, the default: no Settings sets '"'"'engine'"'"')
	a-services.yaml:6:1: '"'"'replicas'"'"' only applies with '"'"'engine: swarm'"'"' (the engine is containers, the default: no Settings sets '"'"'engine'"'"')
	a-services.yaml:7:1: '"'"'placement'"'"' only applies with '"'"'engine: swarm'"'"' (the engine is containers, the default: no Settings sets '"'"'engine'"'"')
	a-services.yaml:8:1: '"'"'rollout'"'"' only applies with '"'"'engine: swarm'"'"' (the engine is containers, the default: no Settings sets '"'"'engine'"'"')
	a-services.yaml:12:1: '"'"'replicas'"'"' only applies with '"'"'engine: swarm'"'"' (the engine is containers, the default: no Settings sets '"'"'engine'"'"')
	a-services.yaml:13:1: '"'"'placement'"'"' only applies with '"'"'engine: swarm'"'"' (the engine is containers, the default: no Settings sets '"'"'engine'"'"')
	a-services.yaml:14:1: '"'"'rollout'"'"' only applies with '"'"'engine: swarm'"'"' (the engine is containers, the default: no Settings sets '"'"'engine'"'"')
	a-services.yaml:25:1: '"'"'placement'"'"' only applies with '"'"'engine: swarm'"'"' (the engine is containers, the default: no Settings sets '"'"'engine'"'"')
	EOF
	refused c1 want
'

test_expect_success 'containers written: the message names the Settings line' '
	write_settings c1 "engine: containers" &&
	sed -n "s/ (the engine is containers, the default: no Settings sets .engine.)$/ (z-settings.yaml:3 sets '"'"'engine: containers'"'"')/p" want >want2 &&
	test "$(wc -l <want2)" = 8 &&
	refused c1 want2
'

test_expect_success 'swarm: what a Swarm service cannot do, refused at its key with the reason' '
	mkdir -p s1 &&
	cat >s1/a-services.yaml <<-EOF &&
	kind: Service
	name: db
	image: $TEST_IMAGE
	devices: ["/dev/null:/dev/null:rw"]
	security_opt: [no-new-privileges]
	---
	kind: Plan
	name: p
	idle: {after: 30m}
	---
	kind: Template
	name: site
	services:
	  job:
	    image: $TEST_IMAGE
	    run: once
	EOF
	cat >s1/z-settings.yaml <<-EOF &&
	kind: Settings
	project: $PROJECT
	policy: {allow_devices: [/dev/null]}
	engine: swarm
	defaults: {ulimits: {nofile: 1024}}
	EOF
	cat >want <<-EOF &&
	a-services.yaml:4:1: '"'"'devices'"'"' cannot be used with '"'"'engine: swarm'"'"' (z-settings.yaml:4): Swarm services have no devices
	a-services.yaml:5:1: '"'"'security_opt'"'"' cannot be used with '"'"'engine: swarm'"'"' (z-settings.yaml:4): a Swarm service spec has no such setting
	a-services.yaml:9:1: '"'"'idle'"'"' cannot be used with '"'"'engine: swarm'"'"' (z-settings.yaml:4): idle sleep stops and wakes single containers; Swarm services are not put to sleep
	a-services.yaml:16:5: '"'"'run'"'"' cannot be used with '"'"'engine: swarm'"'"' (z-settings.yaml:4): one-shot jobs (run: once) are not supported as Swarm services yet
	z-settings.yaml:5:12: '"'"'ulimits'"'"' cannot be used with '"'"'engine: swarm'"'"' (z-settings.yaml:4): a Swarm service spec has no such setting
	EOF
	refused s1 want
'

test_expect_success 'swarm: an http health check and a bind mount refused (a task may run on any node)' '
	mkdir -p s3 &&
	cat >s3/a.yaml <<-EOF &&
	kind: Settings
	project: $PROJECT
	engine: swarm
	policy: {bind_roots: [/srv]}
	---
	kind: Service
	name: web
	image: $TEST_IMAGE
	health: {http: /health, port: 8080}
	volumes: ["/srv/x:/data", "logs:/logs"]
	EOF
	cat >want <<-EOF &&
	a.yaml:9:1: '"'"'health'"'"' cannot be used with '"'"'engine: swarm'"'"' (a.yaml:3): an '"'"'http'"'"' check is probed by reconciler from its own host, and a task may run on any node: use '"'"'cmd'"'"' (Docker runs it inside the task)
	a.yaml:10:11: bind mount of '"'"'/srv/x'"'"' cannot be used with '"'"'engine: swarm'"'"' (a.yaml:3): the nodes'"'"' file systems cannot be checked for links out of the bind roots from here; use a named volume
	EOF
	refused s3 want
'

test_expect_success 'swarm from Git: build is refused (push the image to a registry the nodes reach)' '
	mkdir -p repo/m/app &&
	printf "FROM scratch\n" >repo/m/app/Dockerfile &&
	cat >repo/m/b-build.yaml <<-EOF &&
	kind: Service
	name: built
	build: {context: m/app}
	EOF
	repo_commit repo "a build" &&
	snapshot >snap.before &&
	test_expect_code 1 $RC validate --repo repo --path m 2>err &&
	test_grep "^m/b-build.yaml:3:1: .build. cannot be used with .engine: swarm. (m/z-settings.yaml:3): the nodes pull the image: push it to a registry every node reaches and name it in .image.$" err &&
	test_expect_code 1 $RC plan --repo repo --path m >out 2>err &&
	test_grep "^m/b-build.yaml:3:1: .build. cannot be used" err &&
	snapshot >snap.after &&
	test_cmp snap.before snap.after
'

test_expect_success 'the grammar: engine, a constraint, replicas: 0, publish' '
	mkdir -p g &&
	cat >g/a.yaml <<-EOF &&
	kind: Service
	name: web
	image: $TEST_IMAGE
	replicas: 0
	placement: {constraints: [node.labels.tier]}
	publish: hots
	EOF
	write_settings g "engine: swarn" &&
	cat >want <<-EOF &&
	a.yaml:4:11: '"'"'replicas'"'"' must be from 1 to 1000: to stop a service, say '"'"'state: stopped'"'"' on the Service or the Customer
	a.yaml:5:27: placement constraint '"'"'node.labels.tier'"'"' must be ATTRIBUTE==VALUE or ATTRIBUTE!=VALUE, e.g. node.labels.tier==gold
	a.yaml:6:10: '"'"'publish'"'"' must be ingress or host, not '"'"'hots'"'"' (did you mean '"'"'host'"'"'?)
	z-settings.yaml:3:9: '"'"'engine'"'"' must be containers or swarm, not '"'"'swarn'"'"' (did you mean '"'"'swarm'"'"'?)
	EOF
	refused g want
'

test_done
