#!/bin/sh
test_description='reconciler run --remote against a private smart-HTTP Git server (git http-backend
behind basic auth): credentials from --remote-credentials FILE (user and password, or a token) or
from the URL converge and follow new commits; a wrong password is one clear error per fetch, with
no retry storm and no secret in any output; an unsafe credentials file is refused before anything
starts'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"
. "$RC_TOP/tests/lib/githttp.sh"

trap 'githttp_stop; test_exit_handler' EXIT

U=$TRASH/upstream
SRV=$TRASH/srv
GOOD=good-$$-pW7q
TOKEN=tok-$$-Kx3m
WRONG=wrong-$$-Zr9v

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

# creds NAME CONTENT: a credentials file of mode 0600
creds() {
	(umask 077 && printf '%s\n' "$2" >$TRASH/$1)
}

# no_secret: none of the passwords appears in the logs, outputs or the state directory
no_secret() {
	if grep -r -l -e "$GOOD" -e "$TOKEN" -e "$WRONG" $TRASH/*.log $TRASH/*.out $TRASH/*.err $STATE 2>/dev/null; then
		echo "a secret was written to the files above"
		return 1
	fi
	return 0
}

test_expect_success 'setup: manifests in a bare repository served over HTTP with basic auth' '
	repo_init $U &&
	write_manifests 1 &&
	repo_commit $U "app 1" &&
	mkdir $SRV &&
	git clone -q --bare $U $SRV/m.git &&
	printf "deploy:%s\nx-access-token:%s\n" "$GOOD" "$TOKEN" >$TRASH/auth &&
	githttp_start $SRV $TRASH/auth &&
	URL=http://127.0.0.1:$GITHTTP_PORT/m.git &&
	GIT_TERMINAL_PROMPT=0 test_expect_code 128 git ls-remote $URL >/dev/null 2>&1 &&
	git ls-remote http://deploy:$GOOD@127.0.0.1:$GITHTTP_PORT/m.git >ls.out &&
	test_grep refs/heads/main ls.out &&
	creds cred-good "# the deploy user
username = deploy
password = $GOOD" &&
	creds cred-token "token=$TOKEN" &&
	creds cred-bad "username=deploy
password=$WRONG"
'

test_expect_success 'user and password from --remote-credentials: converged, and a pushed commit follows' '
	test_when_finished daemon_kill &&
	: >$GITHTTP_LOG &&
	daemon_start good.log --repo $TRASH/local.git --remote $URL --remote-credentials $TRASH/cred-good \
		--fetch-interval 1 &&
	daemon_wait_log good.log "boot convergence complete" 60 &&
	test_grep "fetched from $URL (credentials from $TRASH/cred-good)" good.log &&
	test "$(git -C $TRASH/local.git rev-parse refs/remotes/reconciler/main)" = "$(git -C $U rev-parse HEAD)" &&
	test "$(container_field $PROJECT-app {{.State.Status}})" = running &&
	test_grep "^POST /m.git/git-upload-pack 200 deploy$" $GITHTTP_LOG &&
	write_manifests 2 && repo_commit $U "app 2" &&
	git -C $U push -q $SRV/m.git main &&
	daemon_wait_log good.log "commit $(git -C $U rev-parse HEAD | cut -c1-12) converged" 30 &&
	container_field $PROJECT-app "{{.Config.Env}}" | test_grep V=2 &&
	! grep "authentication failed" good.log &&
	no_secret
'

test_expect_success 'token= is sent as the user x-access-token' '
	test_when_finished daemon_kill &&
	: >$GITHTTP_LOG &&
	daemon_start token.log --repo $TRASH/token.git --remote $URL --remote-credentials $TRASH/cred-token \
		--fetch-interval 1 &&
	daemon_wait_log token.log "boot convergence complete" 60 &&
	test "$(git -C $TRASH/token.git rev-parse refs/remotes/reconciler/main)" = "$(git -C $U rev-parse HEAD)" &&
	test_grep "^GET /m.git/info/refs 200 x-access-token$" $GITHTTP_LOG &&
	! grep " deploy$" $GITHTTP_LOG &&
	no_secret
'

test_expect_success 'a user and password in the URL still work, shown as ***' '
	test_when_finished daemon_kill &&
	daemon_start url.log --repo $TRASH/url.git --remote http://deploy:$GOOD@127.0.0.1:$GITHTTP_PORT/m.git \
		--fetch-interval 1 &&
	daemon_wait_log url.log "boot convergence complete" 60 &&
	test "$(git -C $TRASH/url.git rev-parse refs/remotes/reconciler/main)" = "$(git -C $U rev-parse HEAD)" &&
	test_grep "fetched from http://deploy:\*\*\*@127.0.0.1:$GITHTTP_PORT/m.git" url.log &&
	no_secret &&
	tr "\0" " " </proc/$DPID/cmdline >cmdline &&
	test_grep -F "http://deploy:" cmdline &&
	! grep -F "$GOOD" cmdline
'

# What ps shows every local user: the daemon's command line, and the fetching
# child's while it runs (held here by a server that accepts and never answers).
test_expect_success 'the password of a URL is on no command line: the daemon'"'"'s, or its fetching child'"'"'s' '
	port=$(test_port 10) &&
	cat >silent.py <<-\EOT &&
	import os, socket, sys, time
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind(("127.0.0.1", int(sys.argv[1])))
	s.listen(8)
	open("silent.pid", "w").write(str(os.getpid()))
	held = []
	end = time.time() + 120
	while time.time() < end:
	    held.append(s.accept()[0])
	EOT
	{ python3 silent.py $port >silent.out 2>&1 </dev/null & } &&
	test_when_finished "kill \$(cat silent.pid) 2>/dev/null; :" &&
	wait_for "test -s silent.pid" 20 &&
	test_when_finished daemon_kill &&
	daemon_start silent.log --repo $TRASH/silent.git --remote http://deploy:$GOOD@127.0.0.1:$port/m.git \
		--fetch-timeout 60 &&
	wait_for "pgrep -P $DPID -f __fetch >child.pid" 20 &&
	child=$(head -1 child.pid) &&
	tr "\0" " " </proc/$child/cmdline >child.cmdline &&
	test_grep -F "__fetch" child.cmdline &&
	test_grep -F "http://deploy:***@127.0.0.1:$port/m.git" child.cmdline &&
	! grep -F "$GOOD" child.cmdline &&
	tr "\0" " " </proc/$DPID/cmdline >daemon.cmdline &&
	! grep -F "$GOOD" daemon.cmdline
'

# fetch_attempts: the fetches the server saw (each starts with one request without credentials)
fetch_attempts() {
	grep -c "^GET /m.git/info/refs 401 -$" $GITHTTP_LOG
}

test_expect_success 'a wrong password: one clear error per fetch, one try of it per fetch, no storm' '
	test_when_finished daemon_kill &&
	: >$GITHTTP_LOG &&
	t0=$(date +%s) &&
	daemon_start bad.log --repo $TRASH/local.git --remote $URL --remote-credentials $TRASH/cred-bad \
		--fetch-interval 1 &&
	daemon_wait_log bad.log "boot convergence complete" 60 &&
	msg="authentication failed for $URL (credentials from $TRASH/cred-bad)" &&
	wait_for "test \$(grep -c -F \"$msg\" bad.log) -ge 4" 30 &&
	daemon_kill &&
	t1=$(date +%s) &&
	cat bad.log && cat $GITHTTP_LOG &&
	errors=$(grep -c -F "$msg" bad.log) &&
	attempts=$(fetch_attempts) &&
	tries=$(grep -c "^GET /m.git/info/refs 401 deploy$" $GITHTTP_LOG) &&
	echo "errors=$errors attempts=$attempts tries=$tries in $((t1 - t0)) s" &&
	test_equal "$(grep -c "authentication failed" bad.log)" "$errors" &&
	test_equal "$attempts" "$errors" &&
	test_equal "$tries" "$attempts" &&
	test_equal "$(wc -l <$GITHTTP_LOG)" "$((attempts + tries))" &&
	test "$attempts" -le $((t1 - t0 + 2)) &&
	no_secret
'

test_expect_success 'a wrong password in the URL: the same, naming the URL as their source' '
	test_when_finished daemon_kill &&
	: >$GITHTTP_LOG &&
	daemon_start badurl.log --repo $TRASH/local.git \
		--remote http://deploy:$WRONG@127.0.0.1:$GITHTTP_PORT/m.git --fetch-interval 1 &&
	msg="authentication failed for http://deploy:***@127.0.0.1:$GITHTTP_PORT/m.git (credentials from the URL)" &&
	wait_for "test \$(grep -c -F \"$msg\" badurl.log) -ge 3" 30 &&
	daemon_kill &&
	attempts=$(fetch_attempts) &&
	test_equal "$(grep -c "^GET /m.git/info/refs 401 deploy$" $GITHTTP_LOG)" "$attempts" &&
	test_equal "$(grep -c -F "$msg" badurl.log)" "$attempts" &&
	no_secret
'

test_expect_success 'no credentials at all: the error says how to give them' '
	test_when_finished daemon_kill &&
	daemon_start none.log --repo $TRASH/local.git --remote $URL --fetch-interval 1 &&
	daemon_wait_log none.log "$URL asks for a user name and password or a token: give it with --remote-credentials FILE" 30
'

# refused WHY ARGS...: run refuses to start (exit 1, WHY on stderr) and contacts nobody
refused() {
	why=$1
	shift
	: >$GITHTTP_LOG
	test_expect_code 1 timeout 20 "$RC" --state-dir $STATE --repo $TRASH/local.git run "$@" >refused.out 2>refused.err &&
	cat refused.err &&
	test_grep -F -e "$why" refused.err &&
	test_equal "$(wc -l <$GITHTTP_LOG)" 0 &&
	test_equal "$(wc -l <refused.out)" 0 &&
	no_secret
}

test_expect_success 'a credentials file others can read, a symbolic link or a bad line is refused' '
	cp -p $TRASH/cred-good $TRASH/cred-644 && chmod 644 $TRASH/cred-644 &&
	refused "credentials file '\''$TRASH/cred-644'\'' has mode 0644: it must be readable by its owner only; chmod 600 '\''$TRASH/cred-644'\''" \
		--remote $URL --remote-credentials $TRASH/cred-644 &&
	cp -p $TRASH/cred-good $TRASH/cred-640 && chmod 640 $TRASH/cred-640 &&
	refused "has mode 0640" --remote $URL --remote-credentials $TRASH/cred-640 &&
	ln -s $TRASH/cred-good $TRASH/cred-link &&
	refused "credentials file '\''$TRASH/cred-link'\'' is a symbolic link" \
		--remote $URL --remote-credentials $TRASH/cred-link &&
	creds cred-typo "username=deploy
pasword=$GOOD" &&
	refused "credentials file '\''$TRASH/cred-typo'\'', line 2: unknown key '\''pasword'\''" \
		--remote $URL --remote-credentials $TRASH/cred-typo &&
	creds cred-noeq "$GOOD" &&
	refused "line 1: expected KEY=VALUE" --remote $URL --remote-credentials $TRASH/cred-noeq &&
	refused "cannot open credentials file" --remote $URL --remote-credentials $TRASH/nonexistent &&
	refused "--remote-credentials is for the --remote fetched; give --remote too" \
		--remote-credentials $TRASH/cred-good &&
	refused "carries a password and --remote-credentials gives credentials too" \
		--remote http://deploy:$GOOD@127.0.0.1:$GITHTTP_PORT/m.git --remote-credentials $TRASH/cred-good
'

test_done
