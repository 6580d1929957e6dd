#!/bin/sh
test_description='hardening and fairness keys against a real engine: init, read_only, cap_drop,
security_opt, shm_size, logging, ulimits and Plan cpu_shares reach the engine and the processes,
read back without drift, drift when changed by hand, cpu_shares updates in place, read_only
recreates, policy.require refuses a service without them'
. "$(dirname "$0")/../lib/test-lib.sh"

M=$TRASH/repo
P=$PROJECT
C=$P-hard

write_manifests() {
	cat >$M/settings.yaml <<-EOT &&
	kind: Settings
	project: $P
	subnets: {pool: $TEST_POOL, size: 28}
	policy: {require: [no_new_privileges, log_cap]}
	defaults:
	  security_opt: [no-new-privileges]
	  logging: {driver: json-file, options: {max-size: 10M, max-file: 3}}
	---
	kind: Plan
	name: fair
	cpu_shares: 512
	EOT
	cat >$M/hard.yaml <<-EOT
	kind: Service
	name: hard
	image: $TEST_IMAGE
	plan: fair
	env: {MODE: sleep}
	init: true
	read_only: true
	tmpfs: [/tmp]
	cap_drop: [NET_RAW, cap_mknod]
	shm_size: 32M
	ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
	EOT
}

test_expect_success 'setup: a service with every key, the rest from Settings.defaults' '
	repo_init $M &&
	write_manifests &&
	repo_commit $M "hardened"
'

test_expect_success 'plan lists the create; apply makes the container' '
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "^ *+ *hard ($C) will be created" plan.out &&
	$RC --repo $M apply >apply.out &&
	test "$(container_field $C {{.State.Status}})" = running
'

test_expect_success 'docker inspect shows each key' '
	: >bad &&
	check() {
		got=$(container_field $C "$1") &&
		if [ "$got" != "$2" ]; then echo "$1: got <$got>, want <$2>" >>bad; fi
	} &&
	check "{{.HostConfig.Init}}" true &&
	check "{{.HostConfig.ReadonlyRootfs}}" true &&
	check "{{json .HostConfig.CapDrop}}" "[\"MKNOD\",\"NET_RAW\"]" &&
	check "{{json .HostConfig.SecurityOpt}}" "[\"no-new-privileges\"]" &&
	check "{{.HostConfig.ShmSize}}" 33554432 &&
	check "{{.HostConfig.LogConfig.Type}}" json-file &&
	check "{{index .HostConfig.LogConfig.Config \"max-size\"}}" 10485760 &&
	check "{{index .HostConfig.LogConfig.Config \"max-file\"}}" 3 &&
	check "{{.HostConfig.CpuShares}}" 512 &&
	check "{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}} {{end}}" "nofile=1024:2048 nproc=512:512 " &&
	cat bad &&
	test ! -s bad
'

test_expect_success 'and the processes live under them' '
	: >bad &&
	pid1=$(docker exec $C cat /proc/1/comm) &&
	if [ "$pid1" != docker-init ]; then echo "PID 1 is <$pid1>, not docker-init" >>bad; fi &&
	if docker exec $C touch /made-by-test 2>/dev/null; then echo "the root filesystem is writable" >>bad; fi &&
	docker exec $C touch /tmp/ok &&
	nnp=$(docker exec $C sh -c "grep ^NoNewPrivs: /proc/self/status" | tr -d "\t ") &&
	if [ "$nnp" != NoNewPrivs:1 ]; then echo "no-new-privileges: <$nnp>" >>bad; fi &&
	nofile=$(docker exec $C sh -c "grep \"^Max open files\" /proc/1/limits" | awk "{print \$4 \":\" \$5}") &&
	if [ "$nofile" != 1024:2048 ]; then echo "PID 1 open files (soft:hard): <$nofile>" >>bad; fi &&
	shm=$(docker exec $C df -k /dev/shm | awk "NR==2 {print \$2}") &&
	if [ "$shm" != 32768 ]; then echo "/dev/shm: <$shm> KiB" >>bad; fi &&
	cat bad &&
	test ! -s bad
'

test_expect_success 'a second apply changes nothing, and nothing has drifted' '
	$RC --repo $M apply >again.out &&
	test_grep "^No changes" again.out &&
	test_expect_code 0 $RC --repo $M plan &&
	$RC --repo $M drift >drift.out &&
	test_grep "^No drift\.$" drift.out
'

test_expect_success 'docker update --cpu-shares by hand is drift, and apply puts it back in place' '
	id=$(container_id $C) &&
	docker update --cpu-shares 256 $C >/dev/null &&
	test_expect_code 2 $RC --repo $M drift --json >drift.json &&
	test_grep "\"field\": \"cpu_shares\", \"secret\": false, \"expected\": \"512\", \"actual\": \"256\"" drift.json &&
	test "$(grep -c "\"field\"" drift.json)" = 1 &&
	test_expect_code 2 $RC --repo $M drift >drift.out &&
	test_grep "^      cpu_shares: 512 → 256$" drift.out &&
	$RC --repo $M drift --fix >fix.out &&
	test "$(container_field $C {{.HostConfig.CpuShares}})" = 512 &&
	test "$(container_id $C)" = "$id" &&
	$RC --repo $M drift >drift.out &&
	test_grep "^No drift\.$" drift.out
'

test_expect_success 'a plan change of cpu_shares updates in place: same container' '
	id=$(container_id $C) &&
	sed -i "s/cpu_shares: 512/cpu_shares: 768/" $M/settings.yaml && repo_commit $M "fair: 768" &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "^ *~ *hard ($C) will be updated in place" plan.out &&
	test_grep "^ *cpu_shares: 512 → 768" plan.out &&
	$RC --repo $M apply --stats >apply.out 2>stats.out &&
	test_grep "update *1" stats.out &&
	test "$(container_id $C)" = "$id" &&
	test "$(container_field $C {{.HostConfig.CpuShares}})" = 768 &&
	test_expect_code 0 $RC --repo $M plan &&
	$RC --repo $M drift >drift.out &&
	test_grep "^No drift\.$" drift.out
'

test_expect_success 'diff between the commits names the changed key' '
	test_expect_code 2 $RC --repo $M diff HEAD~1 HEAD >diff.out &&
	test_grep "^ *~ *hard ($C) will be updated in place" diff.out &&
	test_grep "^ *cpu_shares: 512 → 768" diff.out
'

test_expect_success 'changing read_only recreates the container' '
	id=$(container_id $C) &&
	sed -i "s/read_only: true/read_only: false/" $M/hard.yaml && repo_commit $M "writable" &&
	test_expect_code 2 $RC --repo $M plan >plan.out &&
	test_grep "^ *-/+ *hard ($C) will be recreated" plan.out &&
	test_grep "^ *read_only: true → (unset)$" plan.out &&
	$RC --repo $M apply >apply.out &&
	test "$(container_id $C)" != "$id" &&
	test "$(container_field $C {{.HostConfig.ReadonlyRootfs}})" = false &&
	docker exec $C touch /made-by-test &&
	test "$(container_field $C {{.HostConfig.Init}})" = true &&
	$RC --repo $M drift >drift.out &&
	test_grep "^No drift\.$" drift.out
'

test_expect_success 'policy.require: a service without the keys is refused at its position, nothing changes' '
	id=$(container_id $C) &&
	sed -i "/^  logging:/d" $M/settings.yaml && repo_commit $M "no log cap" &&
	test_expect_code 1 $RC --repo $M plan >plan.out 2>plan.err &&
	test_grep "^hard.yaml:1:1: service .hard. does not set .logging: {options: {max-size: SIZE}}., which Settings policy.require asks for (log_cap)$" plan.err &&
	test_must_fail $RC --repo $M apply >apply.out 2>apply.err &&
	test_grep "policy.require" apply.err &&
	test "$(container_id $C)" = "$id"
'

test_expect_success 'a security option outside the allow-list is an error at its position' '
	git -C $M revert --no-edit HEAD >/dev/null &&
	echo "security_opt: [seccomp=unconfined]" >>$M/hard.yaml && repo_commit $M "unconfined" &&
	test_expect_code 1 $RC --repo $M plan >plan.out 2>plan.err &&
	test_grep "^hard.yaml:12:16: .security_opt. value .seccomp=unconfined. is not allowed: only no-new-privileges (or no-new-privileges:true)$" plan.err
'

test_done
