#!/bin/sh
test_description='ssh:// engines (issue 17): DOCKER_HOST=ssh://user@host:port/socket runs ssh -L to
forward the engine'"'"'s socket on that host (a real sshd on 127.0.0.1 in front of the local
engine): apply, status and the daemon work through it, no ssh process or socket is left when the
command ends (or the daemon is killed); a key the server refuses, a host that does not answer, a
socket that is not there and a missing ssh client are refused with clear errors, nothing made; an
http health check and the wake proxy, which need the engine on this host, are refused or left off'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"
. "$RC_TOP/tests/lib/sshd.sh"

M=$TRASH/repo
ENGINE=${DOCKER_HOST:-unix:///var/run/docker.sock}
ENGINE_SOCK=${ENGINE#unix://}
ME=$(id -un)

for tool in ssh ssh-keygen /usr/sbin/sshd; do
	command -v $tool >/dev/null || { echo "Bail out! $tool is missing (tests/lib/deps.sh installs it)"; exit 1; }
done
case $ENGINE in
unix://*) ;;
*) echo "1..0 # SKIP the engine is not on a unix socket ($ENGINE)"; exit 0 ;;
esac
trap 'sshd_stop; test_exit_handler' EXIT

# rc_ssh KEY ARGS...: the binary against the engine through ssh with key KEY (the wrapper's config);
# each ssh it runs is recorded in $TRASH/ssh.pids, its private directory made under $TRASH/tmp
rc_ssh() {
	key=$1
	shift
	env RECONCILER_SSH=$TRASH/ssh-$key TMPDIR=$TRASH/tmp "$RC" --repo $M "$@"
}
# no ssh process of ours left, no forwarded socket or directory left
nothing_left() {
	for p in $(cat $TRASH/ssh.pids 2>/dev/null); do
		! kill -0 $p 2>/dev/null || { echo "ssh $p still runs"; return 1; }
	done &&
	test -z "$(ls -A $TRASH/tmp)"
}
nothing_made() {
	test -z "$(docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT)"
}
# wrapper KEY: $TRASH/ssh-KEY runs ssh with a config of its own (key KEY, the test's known_hosts)
wrapper() {
	cat >$TRASH/ssh-$1.config <<-EOF &&
	Host *
	  IdentityFile $TRASH/$1
	  IdentitiesOnly yes
	  UserKnownHostsFile $TRASH/known_hosts
	  StrictHostKeyChecking yes
	EOF
	printf '#!/bin/sh\necho $$ >>%s\nexec ssh -F %s "$@"\n' $TRASH/ssh.pids $TRASH/ssh-$1.config >$TRASH/ssh-$1 &&
	chmod +x $TRASH/ssh-$1
}

test_expect_success 'setup: sshd on 127.0.0.1, a key it takes and one it does not, a repository' '
	sshd_start &&
	ssh-keygen -q -t ed25519 -N "" -C deploy -f $TRASH/id &&
	ssh-keygen -q -t ed25519 -N "" -C stranger -f $TRASH/stranger &&
	cat $TRASH/id.pub >>$SSHD_DIR/authorized_keys &&
	echo "[127.0.0.1]:$SSHD_PORT $SSHD_HOSTKEY" >$TRASH/known_hosts &&
	wrapper id && wrapper stranger &&
	mkdir $TRASH/tmp &&
	HOST=ssh://$ME@127.0.0.1:$SSHD_PORT$ENGINE_SOCK &&
	repo_init $M &&
	cat >$M/all.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Service
	name: web
	image: $TEST_IMAGE
	env: {MODE: sleep}
	EOT
	repo_commit $M initial
'

test_expect_success 'a key the server refuses: ssh'"'"'s own words, nothing made, nothing left' '
	test_expect_code 3 rc_ssh stranger --docker-host $HOST apply >out 2>err &&
	cat err &&
	test_grep "docker host .$HOST.: ssh to $ME@127.0.0.1 failed: .*Permission denied (publickey)" err &&
	nothing_made &&
	nothing_left
'

test_expect_success 'a host that does not answer: named, with ssh'"'"'s words' '
	closed=$(test_port 44) &&
	test_must_fail rc_ssh id --docker-host ssh://$ME@127.0.0.1:$closed plan >out 2>err &&
	cat err &&
	test_grep "ssh to $ME@127.0.0.1 failed: .*port $closed: Connection refused" err &&
	nothing_left
'

test_expect_success 'no engine socket at that path on the host: the forward is refused, ssh says so' '
	test_must_fail rc_ssh id --docker-host ssh://$ME@127.0.0.1:$SSHD_PORT/nonexistent/docker.sock plan >out 2>err &&
	cat err &&
	test_grep "docker engine at .ssh://$ME@127.0.0.1:$SSHD_PORT/nonexistent/docker.sock.: .*(ssh: .*open failed" err &&
	nothing_left
'

test_expect_success 'no ssh client: said before anything runs' '
	test_must_fail env RECONCILER_SSH=$TRASH/no-such-ssh "$RC" --repo $M --docker-host $HOST plan >out 2>err &&
	test_grep "no ssh client: .$TRASH/no-such-ssh. is not an executable" err &&
	test_must_fail env PATH=/nonexistent "$RC" --repo $M --docker-host $HOST plan >out 2>err &&
	test_grep "no ssh client: .ssh. is not in PATH (ssh:// engines run OpenSSH" err
'

test_expect_success 'through ssh: apply, status and plan; the ssh process ends with each command' '
	rc_ssh id --docker-host $HOST apply >out 2>err || { cat out err; false; } &&
	test "$(container_field $PROJECT-web {{.State.Status}})" = running &&
	DOCKER_HOST=$HOST rc_ssh id status >out 2>err || { cat out err; false; } &&
	test_grep "^web " out &&
	rc_ssh id --docker-host $HOST plan >out 2>err || { cat out err; false; } &&
	test_grep "Accepted publickey for $ME from 127.0.0.1" $SSHD_DIR/log &&
	test $(wc -l <$TRASH/ssh.pids) -ge 3 &&
	nothing_left
'

test_expect_success 'the daemon through ssh: converges, sees a kill; a dropped ssh is started again; its ssh dies with it (SIGKILL)' '
	test_when_finished daemon_kill &&
	: >$TRASH/ssh.pids &&
	RECONCILER_SSH=$TRASH/ssh-id TMPDIR=$TRASH/tmp daemon_start d.log -vv --repo $M --docker-host $HOST &&
	daemon_wait_log d.log "boot convergence complete" 60 &&
	docker kill $PROJECT-web >/dev/null &&
	daemon_wait_log d.log "unit web is ready again" 60 &&
	test $(wc -l <$TRASH/ssh.pids) = 1 &&
	: the connection drops: the next call starts ssh again, and the event stream follows &&
	kill -TERM $(cat $TRASH/ssh.pids) &&
	daemon_wait_log d.log "the ssh forward to $ME@127.0.0.1 ended (.*); started again" 60 &&
	test $(wc -l <$TRASH/ssh.pids) = 2 &&
	docker kill $PROJECT-web >/dev/null &&
	wait_for "test \$(grep -c \"unit web is ready again\" d.log) = 2" 60 &&
	kill -KILL $DPID &&
	wait_for "! kill -0 $(tail -1 $TRASH/ssh.pids) 2>/dev/null" 10
'

test_expect_success 'an http health check cannot be probed from here: refused, nothing changed' '
	cat >>$M/all.yaml <<-EOT &&
	---
	kind: Service
	name: api
	image: $TEST_IMAGE
	health: {http: /health, port: 8080}
	EOT
	repo_commit $M "api with an http check" &&
	test_expect_code 1 rc_ssh id --docker-host $HOST apply >out 2>err &&
	cat out err >all &&
	test_grep "conflict: unit .api.: an http health check is probed from this host, which cannot reach the containers of the engine at .$HOST. (not on this host): use health: {cmd: ...}" all &&
	test -z "$(docker ps -aq --filter name=^$PROJECT-api\$)"
'

test_done
