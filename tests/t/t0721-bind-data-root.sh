#!/bin/sh
test_description='a bind root may neither hold the engine'"'"'s data root nor lie in it: against an
engine of the test'"'"'s own whose data root is not /var/lib/docker, such a root is a plan conflict
(nothing is created), an external volume binding from it is refused, a root beside it works'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/swarm.sh"

M=$TRASH/repo
SD=$TRASH/state-dr      # a state directory of this engine's own
P=${PROJECT}dr

# settings ROOT [ALLOWED]: Settings with ROOT as the only bind root
settings() {
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $P
	policy: {bind_roots: [$1], allow_external_volumes: [${2:-}]}
	EOT
}

# binder SOURCE: a shared service bind-mounting SOURCE at /data
binder() {
	cat >$M/binder.yaml <<-EOT
	kind: Service
	name: binder
	image: $TEST_IMAGE
	env: {MODE: sleep}
	volumes: ["$1:/data"]
	stop_grace_period: 1s
	EOT
}

src() { env DOCKER_HOST=$SWARM_HOST $RC --state-dir $SD "$@"; }

test_expect_success 'setup: an engine whose data root is in this run'"'"'s directory' '
	swarm_start &&
	DR=$(sdocker info -f "{{.DockerRootDir}}") &&
	echo "data root: $DR" &&
	case $DR in /var/lib/docker*) false ;; esac &&
	HOLDER=$(dirname "$DR") &&
	mkdir -p "$HOLDER/shared" "$DR.beside/shared" &&
	chmod 0700 "$DR.beside" &&
	echo beside >"$DR.beside/shared/file" &&
	repo_init $M
'

test_expect_success 'a bind root holding the data root is a conflict, and nothing is created' '
	settings "$HOLDER" &&
	binder "$HOLDER/shared" &&
	repo_commit $M "root holds the data root" &&
	test_expect_code 1 src --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "unit .binder. mounts .$HOLDER/shared. from bind root .$HOLDER., which holds the engine.s data root .$DR." out &&
	test -z "$(sdocker ps -aq --filter label=io.reconciler.project=$P)" &&
	test_expect_code 1 src --repo $M plan >out 2>&1 &&
	test_grep "holds the engine.s data root" out
'

test_expect_success 'a bind root inside the data root is a conflict too' '
	mkdir -p "$DR/volumes/x" &&
	settings "$DR/volumes" &&
	binder "$DR/volumes/x" &&
	repo_commit $M "root inside the data root" &&
	test_expect_code 1 src --repo $M apply >out 2>&1 &&
	test_grep "from bind root .$DR/volumes., which lies inside the engine.s data root .$DR." out &&
	test -z "$(sdocker ps -aq --filter label=io.reconciler.project=$P)"
'

test_expect_success 'a bind root beside the data root works' '
	settings "$DR.beside" &&
	binder "$DR.beside/shared" &&
	repo_commit $M "root beside the data root" &&
	src --repo $M apply >out 2>&1 &&
	test "$(sdocker inspect -f "{{.State.Status}}" $P-binder)" = running &&
	test "$(sdocker exec $P-binder cat /data/file)" = beside
'

test_expect_success 'an external volume binding from a root that holds the data root is refused' '
	sdocker volume create --opt type=none --opt o=bind --opt device="$HOLDER/shared" xv$$-media >/dev/null &&
	settings "$HOLDER" "xv$$-media" &&
	rm $M/binder.yaml &&
	cat >$M/vol.yaml <<-EOT &&
	kind: Volume
	name: media
	external: true
	docker_name: xv$$-media
	EOT
	cat >$M/user.yaml <<-EOT &&
	kind: Service
	name: user
	image: $TEST_IMAGE
	env: {MODE: sleep}
	volumes: ["media:/data"]
	stop_grace_period: 1s
	EOT
	repo_commit $M "an external volume from the holder" &&
	test_expect_code 1 src --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "external volume .xv$$-media. is a bind of .$HOLDER/shared. from bind root .$HOLDER., which holds the engine.s data root .$DR." out &&
	test_must_fail sdocker container inspect $P-user >/dev/null 2>&1
'

test_done
