#!/bin/sh
test_description='build: images built from a directory of the repository at the applied commit:
tagged by the context tree, built once (not again while the context is unchanged, one image for
every customer of a template), rebuilt and replaced when the context changes, a failed build fails
the unit and leaves its container running (in the daemon: the rollout, rolled back), the output kept
for logs --build, validate errors'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
built_images() {
	docker images --format '{{.Repository}}:{{.Tag}}' | grep "^$PROJECT-build-" | sort
}
# the step images our builds made: the " ---> ID" lines of their logs (a failed build leaves the
# steps before the failure untagged); only untagged ones are removed (the FROM image is tagged)
step_images() {
	cat $STATE/builds/*/*.log 2>/dev/null | sed -n "s/^ ---> \([0-9a-f]\{12\}\)\$/\1/p" | sort -u
}
cleanup_builds() {
	for i in $(built_images); do docker rmi -f "$i" >/dev/null 2>&1; done
	for pass in 1 2 3; do
		for i in $(step_images); do
			test "$(docker image inspect -f "{{len .RepoTags}}" $i 2>/dev/null)" = 0 &&
			docker rmi $i >/dev/null 2>&1
		done
	done
	return 0
}
trap 'test_cleanup_project; cleanup_builds; test_exit_handler' EXIT

test_expect_success 'setup: an app directory with a Dockerfile, manifests under deploy/' '
	repo_init $M &&
	mkdir -p $M/app/conf $M/other $M/deploy &&
	cat >$M/app/Dockerfile <<-EOT &&
	FROM $TEST_IMAGE
	ARG GREETING=none
	COPY conf/hello.txt /app/hello.txt
	RUN echo "\$GREETING" >/app/greeting
	EOT
	echo "hello 1" >$M/app/conf/hello.txt &&
	echo unrelated >$M/other/readme &&
	cat >$M/deploy/all.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Service
	name: web
	build:
	  context: app
	  args: {GREETING: bonjour}
	env: {MODE: sleep}
	---
	kind: Template
	name: shop
	services:
	  worker:
	    build: {context: ./app/}
	    env: {MODE: sleep}
	---
	kind: Customer
	id: alpha
	template: shop
	---
	kind: Customer
	id: beta
	template: shop
	EOT
	repo_commit $M initial
'

test_expect_success 'render shows the context tree id and the tag made from it' '
	tree=$(git -C $M rev-parse HEAD:app) &&
	$RC --repo $M --path deploy render >render.out &&
	test_grep "build.tree=$tree" render.out &&
	test_grep "build.context=app" render.out &&
	test_grep "build.args.GREETING=bonjour" render.out &&
	test_grep "image=$PROJECT-build-web:$(echo $tree | cut -c1-12)-" render.out &&
	test_grep "image=$PROJECT-build-worker:$(echo $tree | cut -c1-12)\$" render.out
'

test_expect_success 'apply builds the images and runs them (a COPY from the context, an ARG)' '
	$RC --repo $M --path deploy apply --stats >out 2>stats &&
	test_grep "image-build *2" stats &&
	test "$(docker exec $PROJECT-web cat /app/hello.txt)" = "hello 1" &&
	test "$(docker exec $PROJECT-web cat /app/greeting)" = bonjour &&
	test "$(docker exec $PROJECT-alpha-worker cat /app/greeting)" = none &&
	: one image for every customer of the template &&
	test "$(built_images | grep -c -- -build-worker:)" = 1 &&
	test "$(container_field $PROJECT-alpha-worker {{.Image}})" = "$(container_field $PROJECT-beta-worker {{.Image}})" &&
	test "$(container_field $PROJECT-web {{.Image}})" = "$(docker image inspect -f {{.Id}} $(built_images | grep -- -build-web:))"
'

test_expect_success 'logs --build shows the build output, kept per commit (0600)' '
	$RC logs --build web >log &&
	test_grep "Successfully tagged $PROJECT-build-web:" log &&
	$RC logs --build beta/worker >log2 &&
	test_grep "Successfully tagged $PROJECT-build-worker:" log2 &&
	c=$(git -C $M rev-parse HEAD | cut -c1-12) &&
	test "$(stat -c %a $STATE/builds/$c/web.log)" = 600 &&
	test "$(stat -c %a $STATE/builds/$c/alpha+worker.log)" = 600 &&
	test_expect_code 1 $RC logs --build nosuch 2>err &&
	test_grep "no build output of .nosuch." err &&
	test_expect_code 1 $RC logs --build ../../etc/x 2>err &&
	test_grep "is no unit id" err &&
	test_expect_code 1 $RC logs web 2>err &&
	test_grep "give --build" err
'

test_expect_success 'apply again builds nothing and changes nothing' '
	img=$(container_field $PROJECT-web {{.Image}}) &&
	$RC --repo $M --path deploy apply --stats >out 2>stats &&
	! grep -q "image-build" stats &&
	test_grep "(0 mutating)" stats &&
	test "$(container_field $PROJECT-web {{.Image}})" = "$img" &&
	: what the image was built from is no drift, read from the spec label &&
	$RC --repo $M drift >drift.out &&
	test_expect_code 0 $RC --repo $M --path deploy plan
'

test_expect_success 'a commit that changes only another directory rebuilds nothing' '
	id=$(container_id $PROJECT-web) &&
	echo changed >$M/other/readme &&
	repo_commit $M other &&
	test_expect_code 0 $RC --repo $M --path deploy plan &&
	$RC --repo $M --path deploy apply --stats >out 2>stats &&
	! grep -q "image-build" stats &&
	test "$(container_id $PROJECT-web)" = "$id" &&
	test "$(built_images | wc -l)" = 2
'

test_expect_success 'a commit that changes the context rebuilds and replaces the units' '
	id=$(container_id $PROJECT-web) &&
	echo "hello 2" >$M/app/conf/hello.txt &&
	repo_commit $M context &&
	test_expect_code 2 $RC --repo $M --path deploy plan >plan.out &&
	test_grep "build.tree" plan.out &&
	test_expect_code 2 $RC --repo $M --path deploy diff HEAD~1 HEAD >diff.out &&
	test_grep "build.tree: $(git -C $M rev-parse HEAD~1:app) → $(git -C $M rev-parse HEAD:app)" diff.out &&
	$RC --repo $M --path deploy apply --stats >out 2>stats &&
	test_grep "image-build *2" stats &&
	test "$(container_id $PROJECT-web)" != "$id" &&
	test "$(docker exec $PROJECT-web cat /app/hello.txt)" = "hello 2" &&
	test "$(docker exec $PROJECT-beta-worker cat /app/hello.txt)" = "hello 2" &&
	test "$(built_images | wc -l)" = 4
'

test_expect_success 'a failing build fails apply naming the unit and leaves the container running' '
	id=$(container_id $PROJECT-web) &&
	echo "RUN false" >>$M/app/Dockerfile &&
	repo_commit $M broken &&
	test_expect_code 1 $RC --repo $M --path deploy apply >out 2>err &&
	test_grep "failed .* web" out &&
	test_grep "returned a non-zero code: 1" out &&
	test "$(container_id $PROJECT-web)" = "$id" &&
	test "$(container_field $PROJECT-web {{.State.Status}})" = running &&
	test "$(docker exec $PROJECT-web cat /app/hello.txt)" = "hello 2" &&
	$RC logs --build web >log &&
	test_grep "returned a non-zero code" log &&
	git -C $M revert --no-edit HEAD >/dev/null
'

test_expect_success 'the daemon builds a new context; a failing build fails the rollout, rolled back' '
	test_when_finished daemon_kill &&
	daemon_start d.log --repo $M --path deploy &&
	daemon_wait_log d.log "boot convergence complete" &&
	echo "hello 3" >$M/app/conf/hello.txt &&
	repo_commit $M "context 3" &&
	good=$(git -C $M rev-parse HEAD) &&
	daemon_wait_log d.log "commit $(echo $good | cut -c1-12) converged" 120 &&
	test "$(docker exec $PROJECT-web cat /app/hello.txt)" = "hello 3" &&
	$RC logs --build alpha/worker -v >log 2>err &&
	test_grep "Successfully tagged $PROJECT-build-worker:$(git -C $M rev-parse HEAD:app | cut -c1-12)" log &&
	test_grep "for commit $(echo $good | cut -c1-12)" err &&
	id=$(container_id $PROJECT-web) &&
	echo "RUN false" >>$M/app/Dockerfile &&
	repo_commit $M "broken again" &&
	bad=$(git -C $M rev-parse HEAD) &&
	daemon_wait_log d.log "rollout of $(echo $bad | cut -c1-12) failed" 120 &&
	daemon_wait_log d.log "rolled back to $(echo $good | cut -c1-12)" 60 &&
	test_grep "returned a non-zero code" d.log &&
	test "$(container_id $PROJECT-web)" = "$id" &&
	test "$(docker exec $PROJECT-web cat /app/hello.txt)" = "hello 3" &&
	daemon_stop &&
	git -C $M revert --no-edit HEAD >/dev/null
'

test_expect_success 'validate: image with build, a missing context, a dockerfile outside it' '
	cat >$M/deploy/bad.yaml <<-EOT &&
	kind: Service
	name: both
	image: $TEST_IMAGE
	build: {context: app}
	---
	kind: Service
	name: missing
	build: {context: nosuch}
	---
	kind: Service
	name: outside
	build: {context: app, dockerfile: ../other/readme}
	---
	kind: Service
	name: absolute
	build: {context: /etc}
	---
	kind: Service
	name: nofile
	build: {context: other}
	EOT
	repo_commit $M bad &&
	test_expect_code 1 $RC --repo $M --path deploy validate 2>err &&
	test_grep "deploy/bad.yaml:3:8: .image. and .build. cannot both be given" err &&
	test_grep "deploy/bad.yaml:8:18: build context .nosuch.: no directory .nosuch. in commit" err &&
	test_grep "deploy/bad.yaml:12:35: dockerfile .../other/readme. must be a file inside the build context" err &&
	test_grep "deploy/bad.yaml:16:18: build context ./etc. must be a directory of the repository" err &&
	test_grep "deploy/bad.yaml:20:18: build context .other.: no file .Dockerfile. in directory .other." err &&
	test_grep "invalid: 5 errors" err &&
	: a plain directory has no commit to build from &&
	mkdir dir && cp $M/deploy/all.yaml dir/ &&
	test_expect_code 1 $RC --dir dir validate 2>err &&
	test_grep "all.yaml:8:3: .build. needs the manifests read from Git" err &&
	git -C $M rm -q deploy/bad.yaml && repo_commit $M unbad
'

test_expect_success 'cleanup: the project and the images it built' '
	test_cleanup_project &&
	cleanup_builds &&
	test -z "$(built_images)" &&
	for i in $(step_images); do
		test_must_fail docker image inspect $i >/dev/null 2>&1 ||
		test "$(docker image inspect -f "{{len .RepoTags}}" $i)" != 0 || return 1
	done
'

test_done
