#!/bin/sh
test_description='a project has one owner (issue 19): the first apply claims the project with a
labelled marker volume; the same state directory made again at the same path claims it again
silently; another state directory is refused by plan, apply, drift --fix and run (exit 1, before
any plan output, nothing changed) while read-only commands work; --take-over takes it, journaled;
two first claims at once leave one owner; manifests.json is checksummed, so an edited copy that
drops a customer makes drift --fix remove nothing'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
S2=$TRASH/other-state
MARKER=$PROJECT-reconciler-owner
HOST=$(hostname)

settings() {
	mkdir -p $M/customers &&
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	subnets: {pool: $TEST_POOL, size: 28}
	---
	kind: Template
	name: site
	services:
	  app:
	    image: $TEST_IMAGE
	    env: {MODE: sleep}
	EOT
}
customer() {
	printf "kind: Customer\nid: %s\ntemplate: site\n" "$1" >$M/customers/$1.yaml
}

# Every container of the project (id and state), sorted: what "nothing changed" compares.
snapshot() {
	docker ps -aq --no-trunc --filter "label=$LABEL_PROJECT=$PROJECT" |
		xargs -r docker inspect -f "{{.Id}} {{.Name}} {{.State.Status}}" | sort
}
marker_label() {
	docker volume inspect -f "{{index .Labels \"$1\"}}" $MARKER
}

test_expect_success 'setup: customers a, then a and b; the first apply claims the project' '
	repo_init $M &&
	settings && customer a &&
	repo_commit $M "customer a" &&
	customer b &&
	repo_commit $M "customers a and b" &&
	$RC --repo $M apply >apply.out &&
	test "$(container_field $PROJECT-b-app {{.State.Status}})" = running &&
	test "$(marker_label io.reconciler.project)" = $PROJECT &&
	test "$(marker_label io.reconciler.managed-by)" = reconciler &&
	test "$(marker_label io.reconciler.owner.state-dir)" = "$STATE" &&
	test "$(marker_label io.reconciler.owner.host)" = "$HOST" &&
	test "$(marker_label io.reconciler.owner.repo)" = "$M" &&
	marker_label io.reconciler.owner >owner.id &&
	test "$(wc -c <owner.id)" = 33 &&
	: the project label is what the test cleanup removes it by &&
	test "$(docker volume ls -q --filter label=$LABEL_PROJECT=$PROJECT)" = $MARKER &&
	test_grep "\"action\":\"claim\".*claimed project .$PROJECT. for state directory $STATE" $STATE/journal.jsonl &&
	snapshot >snap.before &&
	test "$(wc -l <snap.before)" = 2
'

test_expect_success 'a second apply claims nothing: the marker is looked at, not made again' '
	$RC --repo $M apply --stats >again.out 2>stats.out &&
	test_grep "(0 mutating)" stats.out &&
	test_grep "volume-inspect  *1" stats.out &&
	test "$(grep -c "\"action\":\"claim\"" $STATE/journal.jsonl)" = 1
'

test_expect_success 'the state directory lost and made again at the same path: no refusal, no removal' '
	rm -rf $STATE &&
	$RC --repo $M plan >plan.out 2>plan.err &&
	cat plan.out plan.err &&
	! grep "owned by" plan.err &&
	$RC --repo $M apply >apply.out 2>apply.err &&
	snapshot >snap.now &&
	test_cmp snap.before snap.now &&
	marker_label io.reconciler.owner >owner.now &&
	test_cmp owner.id owner.now
'

test_expect_success 'another state directory: plan is refused before any output, not a removal list' '
	test_expect_code 1 $RC --state-dir $S2 --repo $M --rev HEAD~1 plan >out 2>err &&
	cat err &&
	test ! -s out &&
	test_grep "^reconciler: project .$PROJECT. is owned by state directory $STATE on host $HOST (repository $M), not by this state directory ($S2 on host $HOST); nothing was changed; to take it over deliberately: reconciler --take-over apply" err &&
	test_expect_code 1 $RC --state-dir $S2 --repo $M --rev HEAD~1 plan --json >out 2>err &&
	test ! -s out &&
	: the finding of issue 19: a repository naming only the project, a fresh state directory &&
	mkdir only && printf "kind: Settings\nproject: $PROJECT\n" >only/all.yaml &&
	test_expect_code 1 $RC --state-dir $TRASH/fresh --dir only plan >out 2>err &&
	test ! -s out &&
	test_grep "is owned by state directory $STATE" err
'

test_expect_success 'another state directory: apply, drift --fix and the daemon are refused; nothing changes' '
	test_when_finished daemon_kill &&
	: a stopped container, so that each of them would act if it were let through &&
	docker stop -t 1 $PROJECT-a-app >/dev/null &&
	snapshot >snap.stopped &&
	test_expect_code 1 $RC --state-dir $S2 --repo $M --rev HEAD~1 apply >out 2>err &&
	test ! -s out &&
	test_grep "is owned by state directory $STATE on host $HOST" err &&
	snapshot >snap.now && test_cmp snap.stopped snap.now &&
	test_expect_code 1 $RC --state-dir $S2 --repo $M --rev HEAD drift --fix >out 2>err &&
	test ! -s out &&
	test_grep "is owned by state directory $STATE on host $HOST" err &&
	snapshot >snap.now && test_cmp snap.stopped snap.now &&
	test_expect_code 1 timeout 60 $RC --state-dir $S2 --repo $M run --poll-interval 1 >run.log 2>&1 &&
	cat run.log &&
	test_grep "is owned by state directory $STATE on host $HOST" run.log &&
	test_grep "\"action\":\"owner\",\"unit\":null,\"result\":\"refused\"" $S2/journal.jsonl &&
	snapshot >snap.now && test_cmp snap.stopped snap.now &&
	marker_label io.reconciler.owner >owner.now && test_cmp owner.id owner.now &&
	: the owner itself still converges &&
	$RC --repo $M apply >out &&
	test "$(container_field $PROJECT-a-app {{.State.Status}})" = running
'

test_expect_success 'another state directory: read-only commands work, status names the owner' '
	$RC --state-dir $S2 --repo $M status >out 2>err &&
	test_grep "^reconciler: warning: project .$PROJECT. is owned by state directory $STATE on host $HOST" err &&
	test_grep "^b/app " out &&
	$RC --state-dir $S2 --repo $M --rev HEAD drift >out 2>err &&
	test_grep "^No drift" out &&
	$RC --state-dir $S2 --repo $M validate 2>err &&
	$RC --state-dir $S2 --repo $M render >out &&
	test_expect_code 2 $RC --state-dir $S2 --repo $M diff HEAD~1 HEAD >out &&
	snapshot >snap.now && test_cmp snap.before snap.now
'

test_expect_success 'plan --take-over shows what a take-over would do, and takes nothing' '
	test_expect_code 2 $RC --state-dir $S2 --repo $M --rev HEAD~1 --take-over plan >out 2>err &&
	cat out &&
	test_grep "b/app" out &&
	marker_label io.reconciler.owner >owner.now && test_cmp owner.id owner.now
'

test_expect_success '--take-over: apply takes the project (journaled); then the first state directory is refused' '
	$RC --state-dir $S2 --repo $M --take-over apply >out 2>err &&
	cat err &&
	test_grep "took over project .$PROJECT. from state directory $STATE on host $HOST (repository $M)" err &&
	test "$(marker_label io.reconciler.owner.state-dir)" = "$S2" &&
	test_grep "\"action\":\"take-over\",\"unit\":null,\"result\":\"ok\",\"message\":\"took over project .$PROJECT. from state directory $STATE on host $HOST" $S2/journal.jsonl &&
	snapshot >snap.now && test_cmp snap.before snap.now &&
	test_expect_code 1 $RC --repo $M plan >out 2>err &&
	test ! -s out &&
	test_grep "is owned by state directory $S2 on host $HOST" err &&
	test_expect_code 1 $RC --repo $M apply >out 2>err &&
	test_grep "is owned by state directory $S2 on host $HOST" err
'

test_expect_success 'run --take-over takes the project back, once, journaled' '
	test_when_finished daemon_kill &&
	daemon_start run.log --repo $M --take-over &&
	daemon_wait_log run.log "boot convergence complete" &&
	cat run.log &&
	test_grep "took over project .$PROJECT. from state directory $S2" run.log &&
	test "$(marker_label io.reconciler.owner.state-dir)" = "$STATE" &&
	test_grep "\"action\":\"take-over\"" $STATE/journal.jsonl &&
	daemon_stop &&
	test "$DEXIT" = 0 &&
	snapshot >snap.now && test_cmp snap.before snap.now
'

test_expect_success 'two first claims at once: one wins, the other is refused' '
	docker volume rm $MARKER >/dev/null &&
	{ { $RC --repo $M apply >c1.out 2>&1; echo $? >c1.rc; } & } &&
	{ { $RC --state-dir $S2 --repo $M apply >c2.out 2>&1; echo $? >c2.rc; } & } &&
	wait &&
	cat c1.out c2.out &&
	test "$(cat c1.rc c2.rc | sort | tr "\n" " ")" = "0 1 " &&
	if test "$(cat c1.rc)" = 0; then winner=$STATE; loser=c2.out; else winner=$S2; loser=c1.out; fi &&
	test "$(marker_label io.reconciler.owner.state-dir)" = "$winner" &&
	test_grep "is owned by state directory $winner" $loser &&
	snapshot >snap.now && test_cmp snap.before snap.now &&
	: the rest of this script is the first state directory again &&
	$RC --repo $M --take-over apply >/dev/null 2>&1 &&
	test "$(marker_label io.reconciler.owner.state-dir)" = "$STATE"
'

test_expect_success 'manifests.json edited to drop a customer: set aside, read from Git; drift --fix removes nothing' '
	$RC --repo $M drift >out &&
	test_grep "customers/b.yaml" $STATE/manifests.json &&
	python3 -c "
import json, sys
p = sys.argv[1]
doc = json.load(open(p))
body = doc.get(\"data\", doc)
body[\"files\"] = [f for f in body[\"files\"] if f[\"path\"] != \"customers/b.yaml\"]
json.dump(doc, open(p, \"w\"))
" $STATE/manifests.json &&
	! grep -q "customers/b.yaml" $STATE/manifests.json &&
	docker stop -t 1 $PROJECT-a-app >/dev/null &&
	$RC --repo $M drift --fix >fix.out 2>fix.err &&
	cat fix.out fix.err &&
	test_grep "manifests.json. is damaged (checksum mismatch); moved aside to .$STATE/manifests.json.corrupt" fix.err &&
	test_grep "reading the manifests from Git" fix.err &&
	ls $STATE/manifests.json.corrupt.* &&
	test_grep "customers/b.yaml" $STATE/manifests.json &&
	snapshot >snap.now && test_cmp snap.before snap.now &&
	test "$(container_field $PROJECT-b-app {{.State.Status}})" = running
'

test_expect_success 'a unit volume may not take the name of the marker' '
	mkdir vol && printf "kind: Settings\nproject: $PROJECT\n---\nkind: Service\nname: db\nimage: $TEST_IMAGE\nvolumes: [\"reconciler-owner:/data\"]\n" >vol/all.yaml &&
	test_expect_code 1 $RC --dir vol validate 2>err &&
	test_grep "volume .$MARKER. of unit .db. has the name of the project.s ownership marker" err
'

test_done
