#!/bin/sh
test_description='reconciler run --remote ssh://… against a private SSH Git server (OpenSSH sshd on
127.0.0.1, public keys only): a key from --remote-credentials (plain or with its passphrase) or from
an ssh-agent converges and follows new commits; a server whose host key is unknown or differs from
known_hosts is refused (no fetch, a clear error); a key the server refuses is one clear error per
fetch; no passphrase or key appears in any output'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"
. "$RC_TOP/tests/lib/sshd.sh"

AGENT_PID=
agent_stop() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
	AGENT_PID=
	return 0
}
MUTE_PID=
mute_stop() {
	[ -n "$MUTE_PID" ] && kill "$MUTE_PID" 2>/dev/null
	MUTE_PID=
	return 0
}
trap 'mute_stop; agent_stop; sshd_stop; test_exit_handler' EXIT

U=$TRASH/upstream
SRV=$TRASH/srv
PASS=pass-$$-Qv8e
# libgit2 reads known_hosts from $HOME/.ssh: a home of this test's own
export HOME=$TRASH/home

write_manifests() {
	cat >$U/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	---
	kind: Service
	name: app
	image: $TEST_IMAGE
	env: {MODE: sleep, V: "$1"}
	EOT
}

creds() {
	(umask 077 && printf '%s\n' "$2" >$TRASH/$1)
}

no_secret() {
	if grep -r -l -e "$PASS" -e "PRIVATE KEY" $TRASH/*.log $STATE 2>/dev/null; then
		echo "a secret was written to the files above"
		return 1
	fi
	return 0
}

known_hosts() {
	mkdir -p $HOME/.ssh && chmod 700 $HOME/.ssh &&
	printf "[127.0.0.1]:%s %s\n" "$SSHD_PORT" "$1" >$HOME/.ssh/known_hosts
}

test_expect_success 'setup: manifests in a bare repository served over SSH' '
	repo_init $U &&
	write_manifests 1 &&
	repo_commit $U "app 1" &&
	mkdir -p $SRV &&
	git clone -q --bare $U $SRV/m.git &&
	sshd_start &&
	ssh-keygen -q -t ed25519 -N "" -C deploy -f $TRASH/id &&
	ssh-keygen -q -t ed25519 -N "$PASS" -C deploy-pass -f $TRASH/id-pass &&
	ssh-keygen -q -t ed25519 -N "" -C stranger -f $TRASH/id-stranger &&
	cat $TRASH/id.pub $TRASH/id-pass.pub >>$SSHD_DIR/authorized_keys &&
	known_hosts "$SSHD_HOSTKEY" &&
	URL=ssh://$(id -un)@127.0.0.1:$SSHD_PORT$SRV/m.git &&
	GIT_SSH_COMMAND="ssh -i $TRASH/id -o BatchMode=yes -o UserKnownHostsFile=$HOME/.ssh/known_hosts" git ls-remote $URL >ls.out &&
	test_grep refs/heads/main ls.out &&
	creds cred-key "ssh_key=$TRASH/id" &&
	creds cred-pass "ssh_key=$TRASH/id-pass
ssh_passphrase=$PASS" &&
	creds cred-stranger "ssh_key=$TRASH/id-stranger"
'

test_expect_success 'ssh_key from --remote-credentials: converged, and a pushed commit follows' '
	test_when_finished daemon_kill &&
	daemon_start key.log --repo $TRASH/key.git --remote $URL --remote-credentials $TRASH/cred-key \
		--fetch-interval 1 &&
	daemon_wait_log key.log "boot convergence complete" 60 &&
	test "$(git -C $TRASH/key.git rev-parse refs/remotes/reconciler/main)" = "$(git -C $U rev-parse HEAD)" &&
	test "$(container_field $PROJECT-app {{.State.Status}})" = running &&
	write_manifests 2 && repo_commit $U "app 2" &&
	git -C $U push -q $SRV/m.git main &&
	daemon_wait_log key.log "commit $(git -C $U rev-parse HEAD | cut -c1-12) converged" 30 &&
	container_field $PROJECT-app "{{.Config.Env}}" | test_grep V=2 &&
	! grep -e "authentication failed" -e warning key.log &&
	test_grep "Accepted publickey for $(id -un) from 127.0.0.1" $SSHD_DIR/log &&
	no_secret
'

test_expect_success 'a key with its passphrase from the file' '
	test_when_finished daemon_kill &&
	daemon_start pass.log --repo $TRASH/pass.git --remote $URL --remote-credentials $TRASH/cred-pass \
		--fetch-interval 1 &&
	daemon_wait_log pass.log "boot convergence complete" 60 &&
	test "$(git -C $TRASH/pass.git rev-parse refs/remotes/reconciler/main)" = "$(git -C $U rev-parse HEAD)" &&
	! grep warning pass.log &&
	no_secret
'

test_expect_success 'the keys of an ssh-agent at SSH_AUTH_SOCK, with no credentials file' '
	test_when_finished "agent_stop; daemon_kill" &&
	eval "$(ssh-agent -s -a $TRASH/agent.sock)" >/dev/null &&
	AGENT_PID=$SSH_AGENT_PID &&
	ssh-add -q $TRASH/id 2>/dev/null &&
	daemon_start agent.log --repo $TRASH/agent.git --remote $URL --fetch-interval 1 &&
	daemon_wait_log agent.log "boot convergence complete" 60 &&
	test "$(git -C $TRASH/agent.git rev-parse refs/remotes/reconciler/main)" = "$(git -C $U rev-parse HEAD)" &&
	! grep warning agent.log &&
	unset SSH_AUTH_SOCK SSH_AGENT_PID
'

test_expect_success 'a server whose host key is not in known_hosts is refused: nothing fetched' '
	test_when_finished "daemon_kill; known_hosts \"$SSHD_HOSTKEY\"" &&
	: >$HOME/.ssh/known_hosts &&
	n0=$(grep -c "Accepted publickey" $SSHD_DIR/log) &&
	daemon_start unknown.log --repo $TRASH/unknown.git --remote $URL --remote-credentials $TRASH/cred-key \
		--fetch-interval 1 &&
	msg="is not in $HOME/.ssh/known_hosts or does not match it" &&
	wait_for "test \$(grep -c -F \"$msg\" unknown.log) -ge 2" 30 &&
	daemon_kill &&
	cat unknown.log &&
	test_must_fail git -C $TRASH/unknown.git rev-parse --verify -q refs/remotes/reconciler/main &&
	test_equal "$(grep -c "Accepted publickey" $SSHD_DIR/log)" "$n0" &&
	test_equal "$(docker ps -aq --filter label=io.reconciler.project=$PROJECT --filter name=unknown | wc -l)" 0
'

test_expect_success 'a server whose host key differs from known_hosts (a man in the middle) is refused' '
	test_when_finished "daemon_kill; known_hosts \"$SSHD_HOSTKEY\"" &&
	known_hosts "$(cut -d" " -f1,2 $TRASH/id-stranger.pub)" &&
	n0=$(grep -c "Accepted publickey" $SSHD_DIR/log) &&
	daemon_start mitm.log --repo $TRASH/mitm.git --remote $URL --remote-credentials $TRASH/cred-key \
		--fetch-interval 1 &&
	wait_for "grep -c -F \"or does not match it\" mitm.log" 30 &&
	daemon_kill &&
	test_must_fail git -C $TRASH/mitm.git rev-parse --verify -q refs/remotes/reconciler/main &&
	test_equal "$(grep -c "Accepted publickey" $SSHD_DIR/log)" "$n0"
'

test_expect_success 'a key the server does not accept: one clear error per fetch, no storm' '
	test_when_finished daemon_kill &&
	n0=$(grep -c "Connection closed\|Disconnected\|Received disconnect" $SSHD_DIR/log) &&
	t0=$(date +%s) &&
	daemon_start stranger.log --repo $TRASH/stranger.git --remote $URL \
		--remote-credentials $TRASH/cred-stranger --fetch-interval 1 &&
	msg="authentication failed for ssh://***@127.0.0.1:$SSHD_PORT$SRV/m.git (the SSH key named by $TRASH/cred-stranger)" &&
	wait_for "test \$(grep -c -F \"$msg\" stranger.log) -ge 3" 30 &&
	daemon_kill &&
	t1=$(date +%s) &&
	cat stranger.log &&
	errors=$(grep -c -F "$msg" stranger.log) &&
	test_equal "$(grep -c "authentication failed" stranger.log)" "$errors" &&
	test "$errors" -le $((t1 - t0 + 2)) &&
	test_must_fail git -C $TRASH/stranger.git rev-parse --verify -q refs/remotes/reconciler/main
'

# a server that accepts connections and never says a word
MUTE_PY='
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    c, _ = s.accept()
    held.append(c)
'
mute_start() {
	python3 -c "$MUTE_PY" $TRASH/mute.port </dev/null >/dev/null 2>&1 &
	MUTE_PID=$!
	wait_for "test -s $TRASH/mute.port" 10
}

test_expect_success 'a server that never answers: each fetch ends after --fetch-timeout, the daemon goes on' '
	test_when_finished "mute_stop; daemon_kill" &&
	mute_start &&
	MUTE=ssh://git@127.0.0.1:$(cat $TRASH/mute.port)/m.git &&
	daemon_start mute.log --repo $TRASH/key.git --remote $MUTE --remote-credentials $TRASH/cred-key \
		--fetch-interval 1 --fetch-timeout 2 &&
	daemon_wait_log mute.log "boot convergence complete" 60 &&
	wait_for "test \$(grep -c \"no answer within 2 s (--fetch-timeout)\" mute.log) -ge 2" 30 &&
	kill -0 $DPID &&
	! grep "m\.\*\*\*" mute.log
'

test_expect_success 'a daemon killed during a fetch leaves no fetching process holding its state directory' '
	test_when_finished "mute_stop; daemon_kill" &&
	rm -f $TRASH/mute.port && mute_start &&
	MUTE=ssh://git@127.0.0.1:$(cat $TRASH/mute.port)/m.git &&
	daemon_start killed.log --repo $TRASH/key.git --remote $MUTE --remote-credentials $TRASH/cred-key \
		--fetch-interval 1 --fetch-timeout 60 &&
	wait_for "pgrep -f \"__fetch $TRASH/key.git \"" 20 &&
	kill -KILL $DPID &&
	wait_for "! pgrep -f \"__fetch $TRASH/key.git \"" 10 &&
	DPID= &&
	daemon_start again.log --repo $TRASH/key.git &&
	daemon_wait_log again.log "boot convergence complete" 60
'

test_expect_success 'no daemon of this script leaked memory (libgit2 runs in a child that exits)' '
	! grep -l "LeakSanitizer" $TRASH/*.log
'

test_done
