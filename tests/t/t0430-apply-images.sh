#!/bin/sh
test_description='apply and images: a missing image is pulled from a registry (with retries),
an unpullable one fails only its unit, a moved tag shows as drift and recreates its users, a
registry that wants credentials is pulled from with those docker login wrote'
. "$(dirname "$0")/../lib/test-lib.sh"

authport=$(test_port 49)  # the registry that wants credentials
M=$TRASH/repo
REG_IMAGE=$RC_TEST_REGISTRY/$PROJECT/app:1
MOVING=$PROJECT/moving:latest
export RECONCILER_PULL_RETRIES=2 RECONCILER_PULL_BACKOFF_MS=100

test_expect_success 'setup: an image only in the local registry, a local mutable tag' '
	docker tag $TEST_IMAGE $REG_IMAGE &&
	docker push $REG_IMAGE >/dev/null &&
	docker rmi $REG_IMAGE >/dev/null &&
	test_must_fail docker image inspect $REG_IMAGE >/dev/null 2>&1 &&
	docker tag $TEST_IMAGE $MOVING &&
	repo_init $M &&
	cat >$M/all.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Service
	name: pulled
	image: $REG_IMAGE
	---
	kind: Service
	name: moving
	image: $MOVING
	---
	kind: Service
	name: steady
	image: $TEST_IMAGE
	env: {MODE: sleep}
	EOT
	repo_commit $M initial
'

PRIVATE=127.0.0.1:$authport/$PROJECT/private:1
PRIVATE2=127.0.0.1:$authport/$PROJECT/private:2
cleanup_images() {
	docker rmi -f $REG_IMAGE $MOVING $PRIVATE $PRIVATE2 >/dev/null 2>&1
	auth_registry_stop
	return 0
}
trap 'cleanup_images; test_exit_handler' EXIT

test_expect_success 'apply pulls the missing image from the registry and runs it' '
	$RC --repo $M apply --stats >out 2>stats &&
	test_grep "image-pull *1" stats &&
	docker image inspect $REG_IMAGE >/dev/null &&
	test "$(container_field $PROJECT-pulled {{.State.Status}})" = running
'

test_expect_success 'a tag that now points to another image recreates exactly its users' '
	id1=$(container_id $PROJECT-moving) &&
	steady=$(container_id $PROJECT-steady) &&
	docker tag $TEST_IMAGE2 $MOVING &&
	: drift reports the moved tag, for that unit only &&
	test_expect_code 2 $RC --repo $M drift --json >drift.json &&
	test_grep "\"summary\": {\"total\": 1, \"changed\": 1," drift.json &&
	test_grep "\"unit\": \"moving\"" drift.json &&
	test_grep "\"field\": \"image.id\", \"secret\": false, \"expected\": \"$(docker image inspect -f {{.Id}} $TEST_IMAGE2)\", \"actual\": \"$(docker image inspect -f {{.Id}} $TEST_IMAGE)\"" drift.json &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "moving ($PROJECT-moving) will be recreated" plan.out &&
	test_grep "now points to sha256:" plan.out &&
	! grep -q "steady" plan.out &&
	$RC --repo $M apply &&
	test "$(container_id $PROJECT-moving)" != "$id1" &&
	test "$(container_id $PROJECT-steady)" = "$steady" &&
	test "$(container_field $PROJECT-moving {{.Image}})" = "$(docker image inspect -f {{.Id}} $TEST_IMAGE2)" &&
	test_expect_code 0 $RC --repo $M plan &&
	$RC --repo $M drift &&
	: moved back, drift --fix recreates it as apply did &&
	id2=$(container_id $PROJECT-moving) &&
	docker tag $TEST_IMAGE $MOVING &&
	test_expect_code 2 $RC --repo $M drift >/dev/null &&
	$RC --repo $M drift --fix >/dev/null &&
	test "$(container_id $PROJECT-moving)" != "$id2" &&
	test "$(container_id $PROJECT-steady)" = "$steady" &&
	test "$(container_field $PROJECT-moving {{.Image}})" = "$(docker image inspect -f {{.Id}} $TEST_IMAGE)" &&
	$RC --repo $M drift
'

test_expect_success 'an image no registry has fails its unit after the retries, others go on' '
	cat >>$M/all.yaml <<-EOT &&
	---
	kind: Service
	name: ghost
	image: $RC_TEST_REGISTRY/$PROJECT/ghost:9
	---
	kind: Service
	name: fine
	image: $TEST_IMAGE
	env: {MODE: sleep}
	EOT
	repo_commit $M ghost &&
	test_expect_code 1 $RC --repo $M apply --stats >out 2>err &&
	cat out err &&
	test_grep "failed .*ghost.*cannot be pulled" err &&
	test_grep "3 attempts" err &&
	test_grep "image-pull *3" err &&
	test "$(container_field $PROJECT-fine {{.State.Status}})" = running &&
	test_must_fail docker inspect $PROJECT-ghost >/dev/null 2>&1
'

test_expect_success 'a registry that wants credentials: refused without, pulled with those of docker login' '
	. "$RC_TOP/tests/lib/registry.sh" &&
	auth_registry_start $authport op s3cret-pw &&
	test "$AUTH_REGISTRY/$PROJECT/private:1" = $PRIVATE &&
	: docker login writes the credentials where DOCKER_CONFIG says, as it would in the home directory &&
	mkdir -p $TRASH/login $TRASH/nologin &&
	echo s3cret-pw | DOCKER_CONFIG=$TRASH/login docker login -u op --password-stdin $AUTH_REGISTRY >/dev/null 2>&1 &&
	test_grep "\"$AUTH_REGISTRY\"" $TRASH/login/config.json &&
	docker tag $TEST_IMAGE $PRIVATE &&
	DOCKER_CONFIG=$TRASH/login docker push $PRIVATE >/dev/null &&
	docker rmi $PRIVATE >/dev/null &&
	: the ghost of the test before goes, so that only the private image decides the outcome &&
	n=$(grep -n "^name: ghost\$" $M/all.yaml | cut -d: -f1) &&
	sed -i "$((n - 2)),$((n + 1))d" $M/all.yaml &&
	! grep -q ghost $M/all.yaml &&
	cat >>$M/all.yaml <<-EOT &&
	---
	kind: Service
	name: private
	image: $PRIVATE
	env: {MODE: sleep}
	EOT
	repo_commit $M private &&
	test_expect_code 1 env DOCKER_CONFIG=$TRASH/nologin $RC --repo $M apply >out 2>err &&
	cat err &&
	test_grep "failed .*private.*cannot be pulled" err &&
	test_grep "no basic auth credentials\|unauthorized\|authentication required" err &&
	test_must_fail docker inspect $PROJECT-private >/dev/null 2>&1 &&
	DOCKER_CONFIG=$TRASH/login $RC -v --repo $M apply >out 2>err &&
	cat err &&
	test_grep "pulling .$PRIVATE. (credentials from $TRASH/login/config.json)" err &&
	! grep -q "s3cret-pw" out err &&
	test "$(container_field $PROJECT-private {{.State.Status}})" = running &&
	test "$(container_field $PROJECT-private {{.Config.Image}})" = "$(docker image inspect -f {{.Id}} $PRIVATE)"
'

test_expect_success 'a credential helper named by credHelpers gives the credentials' '
	: a second tag, pushed and removed locally, so that apply has to pull it &&
	docker tag $TEST_IMAGE2 $PRIVATE2 &&
	DOCKER_CONFIG=$TRASH/login docker push $PRIVATE2 >/dev/null &&
	docker rmi $PRIVATE2 >/dev/null &&
	sed -i "s#image: $PRIVATE#image: $PRIVATE2#" $M/all.yaml &&
	repo_commit $M "private 2" &&
	mkdir -p $TRASH/bin $TRASH/helper &&
	cat >$TRASH/bin/docker-credential-rctest <<-EOT &&
	#!/bin/sh
	read -r server || :
	echo "\$1 \$server" >>$TRASH/helper/asked
	[ "\$server" = "$AUTH_REGISTRY" ] || { echo "credentials not found in native keychain"; exit 1; }
	echo "{\"ServerURL\": \"\$server\", \"Username\": \"op\", \"Secret\": \"s3cret-pw\"}"
	EOT
	chmod +x $TRASH/bin/docker-credential-rctest &&
	echo "{\"credHelpers\": {\"$AUTH_REGISTRY\": \"rctest\"}}" >$TRASH/helper/config.json &&
	PATH=$TRASH/bin:$PATH DOCKER_CONFIG=$TRASH/helper $RC -v --repo $M apply >out 2>err &&
	cat err &&
	test_grep "pulling .$PRIVATE2. (credentials from the credential helper docker-credential-rctest" err &&
	test "$(cat $TRASH/helper/asked)" = "get $AUTH_REGISTRY" &&
	! grep -q "s3cret-pw" out err &&
	test "$(container_field $PROJECT-private {{.Config.Image}})" = \
		"$(docker image inspect -f {{.Id}} $PRIVATE2)"
'

test_done
