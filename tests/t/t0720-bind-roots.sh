#!/bin/sh
test_description='bind sources are resolved beneath their root on the host: a link a container
made, or one made on the host, never hands a later unit / or /etc; links that stay inside work'
. "$(dirname "$0")/../lib/test-lib.sh"

# The bind root lives in this script's trash directory (its real path: a
# root reached through a symbolic link is refused).
ROOT=$(cd "$TRASH" && pwd -P)/binds
M=$TRASH/repo

settings() {
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	policy: {bind_roots: [$ROOT]}
	EOT
}

# The writer mounts ROOT/x writable and makes a link to the host's / in it.
writer() {
	cat >$M/writer.yaml <<-EOT
	kind: Service
	name: writer
	image: $TEST_IMAGE
	volumes: ["$ROOT/x:/data"]
	command: [sh, -c, "ln -sfn / /data/rootlink && trap 'exit 0' TERM && while :; do sleep 1; done"]
	stop_grace_period: 1s
	EOT
}

# reader SOURCE TARGET: a second service mounting SOURCE read-only.
reader() {
	cat >$M/reader.yaml <<-EOT
	kind: Service
	name: reader
	image: $TEST_IMAGE
	env: {MODE: sleep}
	volumes: ["$1:$2:ro"]
	stop_grace_period: 1s
	EOT
}

# No container of the project has host path $1 (or anything below /) mounted.
no_mount_of() {
	for c in $(docker ps -aq --filter label=io.reconciler.project=$PROJECT); do
		if docker inspect -f '{{range .Mounts}}{{.Source}}{{"\n"}}{{end}}' $c | grep -qx "$1"; then
			echo "container $c mounts $1"
			return 1
		fi
	done
	return 0
}

test_expect_success 'setup: a bind root and a repository' '
	mkdir -p $ROOT/x $ROOT/data &&
	chmod 0700 $ROOT &&
	echo inside >$ROOT/data/file &&
	repo_init $M &&
	settings &&
	writer &&
	repo_commit $M "writer"
'

test_expect_success 'commit 1: the writer runs and makes a link to / inside its mount' '
	$RC --repo $M apply >out 2>&1 || { cat out; false; } &&
	wait_for "test -L $ROOT/x/rootlink" 20 &&
	test "$(readlink $ROOT/x/rootlink)" = / &&
	writer_id=$(container_id $PROJECT-writer) &&
	test "$(container_field $PROJECT-writer {{.State.Status}})" = running
'

# The issue's attack verbatim: the reader's source lies below the writer's
# writable mount, which the loader refuses before anything runs.
test_expect_success 'commit 2: mounting below the writer'"'"'s writable mount is refused before anything runs' '
	reader $ROOT/x/rootlink /host &&
	repo_commit $M "reader of the writer'"'"'s link" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "reader.yaml:5:[0-9]*: bind source .$ROOT/x/rootlink. lies below .$ROOT/x., which service .writer. mounts writable" out &&
	test_must_fail docker inspect $PROJECT-reader >/dev/null 2>&1 &&
	no_mount_of / &&
	test "$(container_id $PROJECT-writer)" = "$writer_id" &&
	test "$(container_field $PROJECT-writer {{.State.Status}})" = running
'

# The link outlives its maker: with the writer gone from the manifests the
# loader has nothing to compare with, and the create-time resolution refuses it.
test_expect_success 'commit 3: the writer gone, the link it left is refused at create, naming the link' '
	git -C $M rm -q writer.yaml &&
	repo_commit $M "the writer leaves, its link stays" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "bind source .$ROOT/x/rootlink. leaves bind root .$ROOT." out &&
	test_grep "symbolic link .$ROOT/x/rootlink. -> ./." out &&
	test_must_fail docker inspect $PROJECT-reader >/dev/null 2>&1 &&
	no_mount_of / &&
	git -C $M rm -q reader.yaml &&
	writer &&
	repo_commit $M "the writer is back, no reader" &&
	$RC --repo $M apply >out 2>&1 || { cat out; false; } &&
	writer_id=$(container_id $PROJECT-writer)
'

test_expect_success 'a link made on the host to /etc is refused' '
	ln -s /etc $ROOT/link &&
	reader $ROOT/link /host-etc &&
	repo_commit $M "reader of a host link to /etc" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "symbolic link .$ROOT/link. -> ./etc." out &&
	test_must_fail docker inspect $PROJECT-reader >/dev/null 2>&1 &&
	no_mount_of /etc &&
	test "$(container_field $PROJECT-writer {{.State.Status}})" = running
'

test_expect_success 'a chain of links leading out is refused, naming its first link' '
	ln -s hop2 $ROOT/hop1 &&
	ln -s ../../../../../../../../../../etc $ROOT/hop2 &&
	reader $ROOT/hop1 /host-etc &&
	repo_commit $M "reader of a chain" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "symbolic links .$ROOT/hop1. -> .hop2." out &&
	no_mount_of /etc
'

test_expect_success 'a link inside the root that stays inside works (the real path is mounted)' '
	ln -s data $ROOT/current &&
	reader $ROOT/current /cur &&
	repo_commit $M "reader of a link inside" &&
	$RC --repo $M apply >out 2>&1 || { cat out; false; } &&
	test "$(docker exec $PROJECT-reader cat /cur/file)" = inside &&
	test "$(container_field $PROJECT-reader "{{range .Mounts}}{{.Source}}{{end}}")" = $ROOT/data &&
	test "$(container_id $PROJECT-writer)" = "$writer_id" &&
	$RC --repo $M apply >out 2>&1 || { cat out; false; }
'

test_expect_success 'a source that does not exist is still the engine'"'"'s to refuse' '
	reader $ROOT/missing /m &&
	repo_commit $M "reader of a missing path" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "does not exist" out &&
	test "$(container_field $PROJECT-writer {{.State.Status}})" = running
'

# A named volume is the project's only if reconciler made it: one of that name
# made by hand (here a bind of /etc; it carries the project label only so the
# harness cleans it up) is never adopted.
test_expect_success 'a volume of the same name made by hand (a bind of /etc) is refused, touching nothing' '
	docker volume create --label io.reconciler.project=$PROJECT --opt type=none --opt o=bind \
		--opt device=/etc $PROJECT-vol >/dev/null &&
	writer_id=$(container_id $PROJECT-writer) &&
	cat >$M/vol.yaml <<-EOT &&
	kind: Service
	name: voluser
	image: $TEST_IMAGE
	env: {MODE: sleep}
	volumes: ["vol:/data"]
	EOT
	repo_commit $M "a named volume" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	test_grep "volume .$PROJECT-vol. exists and was not made by reconciler for project .$PROJECT. (a bind of ./etc.)" out &&
	test_must_fail docker container inspect $PROJECT-voluser >/dev/null 2>&1 &&
	test "$(container_id $PROJECT-writer)" = "$writer_id"
'

test_expect_success 'the volume reconciler makes itself is mounted' '
	docker volume rm $PROJECT-vol >/dev/null &&
	{ $RC --repo $M apply >out 2>&1 || :; } &&
	test "$(docker volume inspect -f "{{index .Labels \"io.reconciler.managed-by\"}}" $PROJECT-vol)" = reconciler &&
	test "$(container_field $PROJECT-voluser {{.State.Status}})" = running &&
	docker inspect -f "{{range .Mounts}}{{.Name}}{{end}}" $PROJECT-voluser >mounts &&
	test "$(cat mounts)" = "$PROJECT-vol"
'

# The race docs/operations.md describes, closed by the loader: a unit that
# mounts a directory writable swaps a directory below it for a link to / and
# exits; its restart policy starts it again, and the engine mounts the source
# below again, following the link (the host's / at /sub, seen before the fix).
test_expect_success 'a bind source below one a service mounts writable is refused, nothing created' '
	mkdir -p $ROOT/e/sub &&
	cat >$M/esc.yaml <<-EOT &&
	kind: Service
	name: escaper
	image: $TEST_IMAGE
	stop_grace_period: 1s
	volumes: ["$ROOT/e:/data", "$ROOT/e/sub:/sub:ro"]
	command: [sh, -c, "if test -d /sub$ROOT; then echo ESCAPED; exec sleep 1000000; fi; mv /data/sub /data/sub.old && ln -s / /data/sub && exit 1"]
	EOT
	repo_commit $M "a service that swaps its own bind source" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	test_grep "esc.yaml:5:[0-9]*: bind source .$ROOT/e/sub. lies below .$ROOT/e., which service .escaper. mounts writable (esc.yaml:5)" out &&
	test_must_fail docker container inspect $PROJECT-escaper >/dev/null 2>&1 &&
	test -d $ROOT/e/sub &&
	git -C $M rm -q esc.yaml &&
	repo_commit $M "no escaper"
'

# The same rule on real paths: a link inside the root (allowed) hides from the
# loader that a source lies below the writer's writable mount.
test_expect_success 'a source that is really below a writable mount (through a link inside the root) is refused at create' '
	mkdir -p $ROOT/x/sub &&
	ln -s x/sub $ROOT/y &&
	writer_id=$(container_id $PROJECT-writer) &&
	reader $ROOT/y /y &&
	repo_commit $M "reader of a link into the writer'"'"'s directory" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	cat out &&
	test_grep "creating .$PROJECT-reader[^:]*: bind source .$ROOT/y. (really .$ROOT/x/sub.) lies below .$ROOT/x., which unit .writer. mounts writable" out &&
	no_mount_of $ROOT/x/sub &&
	test "$(container_id $PROJECT-writer)" = "$writer_id" &&
	git -C $M rm -q reader.yaml &&
	repo_commit $M "no reader"
'

test_expect_success 'a writable source that is really above another unit'"'"'s (through a link) is refused at create' '
	mkdir -p $ROOT/q/inner &&
	ln -s q $ROOT/w &&
	reader $ROOT/q/inner /inner &&
	repo_commit $M "a reader of q/inner" &&
	$RC --repo $M apply >out 2>&1 || { cat out; false; } &&
	reader_id=$(container_id $PROJECT-reader) &&
	cat >$M/w.yaml <<-EOT &&
	kind: Service
	name: wwriter
	image: $TEST_IMAGE
	env: {MODE: sleep}
	volumes: ["$ROOT/w:/data"]
	stop_grace_period: 1s
	EOT
	repo_commit $M "a writer of w, a link to q" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	test_grep "creating .$PROJECT-wwriter.: bind source .$ROOT/w. (really .$ROOT/q.) is mounted writable above .$ROOT/q/inner., which unit .reader. mounts" out &&
	test_must_fail docker container inspect $PROJECT-wwriter >/dev/null 2>&1 &&
	test "$(container_id $PROJECT-reader)" = "$reader_id" &&
	git -C $M rm -q reader.yaml w.yaml &&
	repo_commit $M "neither"
'

# A container writes below a bind root as the host's root: a setuid program
# or a node of the host's disk there is the host's root's, and the root is all
# that keeps the host's other users from running or opening it.
test_expect_success 'a bind root every user can enter is refused at create, naming it' '
	chmod 0755 $ROOT &&
	test_when_finished "chmod 0700 $ROOT" &&
	mkdir -p $ROOT/s &&
	cat >$M/suid.yaml <<-EOT &&
	kind: Service
	name: suid
	image: $TEST_IMAGE
	env: {MODE: sleep}
	volumes: ["$ROOT/s:/data"]
	stop_grace_period: 1s
	EOT
	repo_commit $M "a writable bind" &&
	test_expect_code 1 $RC --repo $M apply >out 2>&1 &&
	test_grep "creating .$PROJECT-suid.: bind root .$ROOT. can be entered by every user (mode 0755)" out &&
	test_grep "chmod o-rwx $ROOT" out &&
	test_must_fail docker container inspect $PROJECT-suid >/dev/null 2>&1
'

test_expect_success 'a root of its owner only (0700) takes it' '
	chmod 0700 $ROOT &&
	{ $RC --repo $M apply >out 2>&1 || :; } &&
	! grep "can be entered by every user" out &&
	test "$(container_field $PROJECT-suid {{.State.Status}})" = running
'

test_done
