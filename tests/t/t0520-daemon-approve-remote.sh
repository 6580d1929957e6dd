#!/bin/sh
test_description='reconciler run: protected units wait for `reconciler approve` (by unit or by
commit; plan and status say so), and --remote fetches a file:// remote into a local repository'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

U=$TRASH/upstream
write_manifests() {
	cat >$U/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	---
	kind: Service
	name: app
	image: $TEST_IMAGE
	env: {MODE: sleep, V: "1"}
	---
	kind: Service
	name: vault
	image: $TEST_IMAGE
	protected: true
	env: {MODE: sleep, V: "1"}
	EOT
}

test_expect_success 'setup: an upstream repository, exported bare' '
	repo_init $U &&
	write_manifests &&
	repo_commit $U "initial" &&
	git clone -q --bare $U $TRASH/upstream.git
'

test_expect_success '--remote: the branch is fetched into a new bare repository and converged' '
	test_when_finished daemon_kill &&
	daemon_start remote.log --repo $TRASH/local.git --remote file://$TRASH/upstream.git --branch main \
		--fetch-interval 1 &&
	daemon_wait_log remote.log "boot convergence complete" 60 &&
	test -d $TRASH/local.git/refs &&
	test "$(git -C $TRASH/local.git rev-parse refs/remotes/reconciler/main)" = "$(git -C $U rev-parse HEAD)" &&
	test "$(container_field $PROJECT-app {{.State.Status}})" = running &&
	sed -i "0,/V: \"1\"/s//V: \"2\"/" $U/settings.yaml && repo_commit $U "app 2" &&
	git -C $U push -q $TRASH/upstream.git main &&
	daemon_wait_log remote.log "commit $(git -C $U rev-parse HEAD | cut -c1-12) converged" 30 &&
	container_field $PROJECT-app "{{.Config.Env}}" | test_grep V=2
'

test_expect_success '--remote with credentials in the URL: they appear in no log line' '
	test_when_finished daemon_kill &&
	daemon_start cred.log --repo $TRASH/cred.git --remote "http://deploy:s3cr3tTOKEN@127.0.0.1:9/x.git" \
		--fetch-interval 1 &&
	daemon_wait_log cred.log "first fetch from http://deploy:\*\*\*@127.0.0.1:9/x.git failed" 30 &&
	daemon_wait_log cred.log "warning: fetching main from http://deploy:\*\*\*@127.0.0.1:9/x.git" 30 &&
	daemon_kill &&
	cat cred.log &&
	test_grep "fetched from http://deploy:\*\*\*@127.0.0.1:9/x.git" cred.log &&
	! grep s3cr3tTOKEN cred.log
'

test_expect_success 'a change to a protected unit waits for approval; plan and status say so; approve UNIT' '
	test_when_finished daemon_kill &&
	daemon_start approve.log --repo $TRASH/upstream.git &&
	daemon_wait_log approve.log "boot convergence complete" &&
	test "$(container_field $PROJECT-vault {{.State.Status}})" = running &&
	sed -i "s/V: \"1\"/V: \"3\"/" $U/settings.yaml && repo_commit $U "vault 3" &&
	c=$(git -C $U rev-parse HEAD) &&
	git -C $U push -q $TRASH/upstream.git main &&
	daemon_wait_log approve.log "commit $(echo $c | cut -c1-12) converged" 30 &&
	container_field $PROJECT-vault "{{.Config.Env}}" | test_grep V=1 &&
	test_grep "\"unit\":[[:space:]]*\"vault\"" $STATE/units.json &&
	test_expect_code 2 $RC --repo $TRASH/upstream.git status >status.out &&
	test_grep "^vault .*awaiting approval" status.out &&
	test_expect_code 2 $RC --repo $TRASH/upstream.git plan >plan.out &&
	test_grep "vault.*needs approval" plan.out &&
	: a change awaiting approval is not drift: drift and the plan say nothing of it, but do of one by hand &&
	! grep "changed outside Git" plan.out &&
	$RC drift >drift.out 2>drift.err || { cat drift.out drift.err; false; } &&
	test_grep "^No drift" drift.out &&
	docker update --cpus 0.3 $PROJECT-vault >/dev/null &&
	test_expect_code 2 $RC drift >drift.out 2>drift.err &&
	test_grep "^ *cpus: (absent) → 0.3" drift.out &&
	! grep "env.V" drift.out &&
	test_expect_code 2 $RC --repo $TRASH/upstream.git plan >plan.out &&
	test_grep "^ *cpus: 0.3 → (unset)  (changed outside Git: drift)$" plan.out &&
	test_grep "^ *env.V: 1 → 3$" plan.out &&
	test_expect_code 1 $RC approve nosuchunit 2>err &&
	test_grep "no change of unit .nosuchunit. is awaiting approval" err &&
	$RC approve vault >out &&
	test_grep "approved the change of .vault. (daemon pid $DPID)" out &&
	wait_for "container_field $PROJECT-vault \"{{.Config.Env}}\" | grep -q V=3" 30
'

test_expect_success 'approve COMMIT approves what that commit changed' '
	test_when_finished daemon_kill &&
	daemon_start approve2.log --repo $TRASH/upstream.git &&
	daemon_wait_log approve2.log "boot convergence complete" &&
	sed -i "s/V: \"3\"/V: \"4\"/" $U/settings.yaml && repo_commit $U "vault 4" &&
	c=$(git -C $U rev-parse HEAD) &&
	git -C $U push -q $TRASH/upstream.git main &&
	daemon_wait_log approve2.log "commit $(echo $c | cut -c1-12) converged" 30 &&
	container_field $PROJECT-vault "{{.Config.Env}}" | test_grep V=3 &&
	$RC approve $(echo $c | cut -c1-10) >out &&
	test_grep "approved the change of .vault." out &&
	wait_for "container_field $PROJECT-vault \"{{.Config.Env}}\" | grep -q V=4" 30
'

test_done
