#!/bin/sh
test_description='volumes made outside reconciler (kind: Volume, external: true): allowed by name in
the policies, mounted by shared services only, checked on the engine at create (exists, not made by
reconciler, a local bind only inside a bind root, no host device), never created or removed'
. "$(dirname "$0")/../lib/test-lib.sh"

ROOT=$(cd "$TRASH" && pwd -P)/binds
M=$TRASH/repo
X=xv$$        # the prefix of the volumes this script makes by hand

# remove the volumes this script made (their names carry its pid)
xvol_cleanup() {
	for v in $(docker volume ls -q --filter name=$X-); do
		case $v in $X-*) docker volume rm -f $v >/dev/null 2>&1 ;; esac
	done
	return 0
}
trap 'xvol_cleanup; test_exit_handler' EXIT

# settings [ALLOWED…]: the Settings with these Docker names allowed as external volumes
settings() {
	allowed=$(echo "$*" | sed 's/ /, /g')
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	policy: {bind_roots: [$ROOT], allow_external_volumes: [$allowed]}
	EOT
}

# volume NAME DOCKER_NAME: a Volume document
volume() {
	cat >$M/vol-$1.yaml <<-EOT
	kind: Volume
	name: $1
	external: true
	docker_name: $2
	EOT
}

# service NAME VOLUME: a shared service mounting VOLUME at /data
service() {
	cat >$M/svc-$1.yaml <<-EOT
	kind: Service
	name: $1
	image: $TEST_IMAGE
	env: {MODE: sleep}
	volumes: ["$2:/data"]
	stop_grace_period: 1s
	EOT
}

# mounted CONTAINER: the names of the volumes it mounts
mounted() {
	docker inspect -f '{{range .Mounts}}{{.Name}}{{"\n"}}{{end}}' "$1"
}

test_expect_success 'setup: volumes made by hand, a bind root, a repository' '
	mkdir -p $ROOT/media &&
	chmod 0700 $ROOT &&
	echo from-host >$ROOT/media/file &&
	docker volume create $X-media >/dev/null &&
	docker run --rm -v $X-media:/v $TEST_IMAGE sh -c "echo hello >/v/greeting" &&
	docker volume create --opt type=none --opt o=bind --opt device=$ROOT/media $X-bindok >/dev/null &&
	docker volume create --opt type=none --opt o=bind --opt device=/etc $X-etc >/dev/null &&
	docker volume create --opt type=ext4 --opt device=/dev/sda1 $X-disk >/dev/null &&
	docker volume create --label io.reconciler.managed-by=reconciler --label io.reconciler.project=other$$ \
		$X-theirs >/dev/null &&
	repo_init $M &&
	settings $X-media &&
	volume media $X-media &&
	service app media &&
	repo_commit $M "app with an external volume"
'

test_expect_success 'a shared service mounts the external volume by its own name; plan and drift are quiet after' '
	$RC --repo $M apply >out 2>&1 || { cat out; false; } &&
	mounted $PROJECT-app | test_grep -x "$X-media" &&
	test "$(docker exec $PROJECT-app cat /data/greeting)" = hello &&
	$RC --repo $M plan >plan.out 2>&1 &&
	test_grep "No changes" plan.out &&
	$RC --repo $M drift >drift.out 2>&1 || { cat drift.out; false; } &&
	test_equal "$(docker volume inspect -f "{{index .Labels \"io.reconciler.managed-by\"}}" $X-media)" ""
'

# refused FILE:LINE MESSAGE: validate and apply refuse the manifests with that diagnostic, and nothing changes
refused() {
	before=$(docker ps -aq --filter label=io.reconciler.project=$PROJECT --no-trunc | sort) &&
	test_expect_code 1 $RC --dir $M validate >v.out 2>&1 || { cat v.out; return 1; }
	cat v.out &&
	test_grep -F "$1" v.out &&
	test_grep -F "$2" v.out &&
	test_equal "$(docker ps -aq --filter label=io.reconciler.project=$PROJECT --no-trunc | sort)" "$before"
}

test_expect_success 'a Volume without external: true, or not allowed by policy, or in the project namespace is an error' '
	cat >$M/vol-bad.yaml <<-EOT &&
	kind: Volume
	name: bad
	EOT
	refused "vol-bad.yaml:1:" "a Volume is one made outside reconciler: say '"'"'external: true'"'"'" &&
	volume bad $X-other &&
	refused "vol-bad.yaml:4:" "external volume '"'"'$X-other'"'"' is not allowed by policy (Settings policy.allow_external_volumes)" &&
	volume bad $PROJECT-data &&
	settings $X-media $PROJECT-data &&
	refused "vol-bad.yaml:4:" "is in the namespace of project '"'"'$PROJECT'"'"'" &&
	rm $M/vol-bad.yaml && settings $X-media
'

test_expect_success 'a template service cannot mount an external volume' '
	cat >$M/tmpl.yaml <<-EOT &&
	kind: Template
	name: web
	services:
	  app:
	    image: $TEST_IMAGE
	    volumes: ["media:/data"]
	---
	kind: Customer
	id: c1
	template: web
	EOT
	refused "tmpl.yaml:6:" "volume '"'"'media'"'"' is an external Volume: a template'"'"'s service cannot mount it" &&
	rm $M/tmpl.yaml
'

test_expect_success 'the host policy caps allow_external_volumes' '
	printf "bind_roots: [%s]\n" "$ROOT" >$TRASH/policy.yaml &&
	test_expect_code 1 $RC --policy $TRASH/policy.yaml --dir $M validate >v.out 2>&1 &&
	test_grep "settings.yaml:3:.*external volume '"'"'$X-media'"'"' is beyond the host policy ($TRASH/policy.yaml: allow_external_volumes)" v.out &&
	printf "bind_roots: [%s]\nallow_external_volumes: [%s]\n" "$ROOT" "$X-media" >$TRASH/policy.yaml &&
	$RC --policy $TRASH/policy.yaml --dir $M validate >v.out 2>&1 || { cat v.out; false; }
'

# fails_at_create DOCKER_NAME MESSAGE: a service mounting that volume fails at create with MESSAGE; app is untouched
fails_at_create() {
	app=$(container_id $PROJECT-app) &&
	settings $X-media $1 &&
	volume other $1 &&
	service other other &&
	repo_commit $M "other mounts $1" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 || { cat out; return 1; }
	cat out &&
	test_grep -F "$2" out &&
	test_must_fail docker inspect $PROJECT-other >/dev/null 2>&1 &&
	test_equal "$(container_id $PROJECT-app)" "$app"
}

test_expect_success 'a local bind of /etc is refused at create, nothing else touched' '
	fails_at_create $X-etc "external volume '"'"'$X-etc'"'"' is a bind of '"'"'/etc'"'"', which lies in no policy.bind_roots entry"
'

test_expect_success 'a host block device is refused' '
	fails_at_create $X-disk "external volume '"'"'$X-disk'"'"' mounts '"'"'/dev/sda1'"'"' (type ext4)"
'

test_expect_success 'another project'"'"'s volume (made by reconciler) is refused' '
	fails_at_create $X-theirs "external volume '"'"'$X-theirs'"'"' was made by reconciler for project '"'"'other$$'"'"'"
'

test_expect_success 'a volume that does not exist is a clear error' '
	fails_at_create $X-missing "external volume '"'"'$X-missing'"'"' does not exist: create it (docker volume create $X-missing)" &&
	test_must_fail docker volume inspect $X-missing >/dev/null 2>&1
'

test_expect_success 'a local bind inside a bind root every user can enter is refused at create' '
	chmod 0755 $ROOT &&
	test_when_finished "chmod 0700 $ROOT" &&
	fails_at_create $X-bindok "external volume '"'"'$X-bindok'"'"' is a bind of '"'"'$ROOT/media'"'"': bind root '"'"'$ROOT'"'"' can be entered by every user (mode 0755)"
'

test_expect_success 'a local bind inside a bind root is mounted' '
	settings $X-media $X-bindok &&
	volume other $X-bindok &&
	repo_commit $M "other mounts a bind inside the root" &&
	$RC --repo $M apply >out 2>&1 || { cat out; false; } &&
	test "$(docker exec $PROJECT-other cat /data/file)" = from-host
'

test_expect_success 'removing the services leaves the external volumes where they were' '
	rm $M/svc-app.yaml $M/svc-other.yaml &&
	repo_commit $M "no services" &&
	$RC --repo $M apply >out 2>&1 || { cat out; false; } &&
	test_must_fail docker inspect $PROJECT-app >/dev/null 2>&1 &&
	docker volume inspect $X-media >/dev/null &&
	docker volume inspect $X-bindok >/dev/null &&
	test "$(docker run --rm -v $X-media:/v $TEST_IMAGE cat /v/greeting)" = hello
'

test_done
