#!/bin/sh
test_description='the host policy file: the ceiling of what a repository'"'"'s Settings policy may
allow (bind roots, privileged, host namespaces, capabilities, devices); refused when it is not the
host'"'"'s file'
. "$(dirname "$0")/../lib/test-lib.sh"

M=$TRASH/m
P=$TRASH/policy.yaml

# settings POLICY-FLOW-MAPPING [SERVICE-EXTRA]
settings() {
	mkdir -p $M &&
	cat >$M/settings.yaml <<-EOT
	kind: Settings
	project: $PROJECT
	policy: $1
	---
	kind: Service
	name: app
	image: $TEST_IMAGE
	env: {MODE: sleep}
	${2:-}
	EOT
}

test_expect_success 'setup: a host policy allowing one bind root and one capability' '
	cat >$P <<-EOT &&
	# the host says what repositories may allow
	kind: HostPolicy
	bind_roots: [/srv/customers]
	allow_cap_add: [NET_BIND_SERVICE]
	EOT
	chmod 644 $P
'

test_expect_success 'within the ceiling: valid' '
	settings "{bind_roots: [/srv/customers/acme], allow_cap_add: [NET_BIND_SERVICE]}" &&
	$RC --policy $P --dir $M validate
'

test_expect_success 'a bind root outside the host roots is refused at its position' '
	settings "{bind_roots: [/srv/other]}" &&
	test_expect_code 1 $RC --policy $P --dir $M validate 2>err &&
	test_grep "settings.yaml:3:[0-9]*: bind root ./srv/other. is beyond the host policy ($P: bind_roots)" err
'

# (this machine has no /etc/reconciler/policy.yaml: the default is absent)
test_expect_success 'without a policy file the same repository is valid (the repository polices itself)' '
	test ! -e /etc/reconciler/policy.yaml &&
	env -u RECONCILER_POLICY $RC --dir $M validate &&
	RECONCILER_POLICY=$TRASH/none.yaml test_expect_code 1 $RC --dir $M validate 2>err &&
	test_grep "host policy .*none.yaml.: No such file" err &&
	RECONCILER_POLICY=$P test_expect_code 1 $RC --dir $M validate 2>err &&
	test_grep "beyond the host policy" err
'

test_expect_success 'privileged, host namespaces, a capability and a device beyond the ceiling' '
	settings "{allow_privileged: true, allow_host_namespaces: true, allow_cap_add: [NET_RAW], allow_devices: [/dev/fuse]}" &&
	test_expect_code 1 $RC --policy $P --dir $M validate 2>err &&
	test_grep "allow_privileged: true. is beyond the host policy" err &&
	test_grep "allow_host_namespaces: true. is beyond the host policy" err &&
	test_grep "capability .NET_RAW. is beyond the host policy ($P: allow_cap_add)" err &&
	test_grep "device ./dev/fuse. is beyond the host policy ($P: allow_devices)" err
'

test_expect_success 'the policy file itself: never-allowed capabilities and system roots are errors in it' '
	printf "bind_roots: [/etc]\nallow_cap_add: [SYS_ADMIN]\nnope: 1\n" >$TRASH/bad.yaml &&
	settings "{}" &&
	test_expect_code 1 $RC --policy $TRASH/bad.yaml --dir $M validate 2>err &&
	test_grep "bad.yaml:1:[0-9]*: bind root ./etc. is or holds a system directory" err &&
	test_grep "bad.yaml:2:[0-9]*: capability .SYS_ADMIN. can never be allowed" err &&
	test_grep "bad.yaml:3:[0-9]*: unknown key .nope." err
'

test_expect_success 'a policy file others may write, or a symbolic link, is not the host'"'"'s: refused' '
	settings "{}" &&
	cp $P $TRASH/loose.yaml && chmod 666 $TRASH/loose.yaml &&
	test_expect_code 1 $RC --policy $TRASH/loose.yaml --dir $M validate 2>err &&
	test_grep "is writable by group or others" err &&
	ln -s $P $TRASH/link.yaml &&
	test_expect_code 1 $RC --policy $TRASH/link.yaml --dir $M validate 2>err &&
	test_grep "symbolic link" err
'

test_expect_success 'require: what every service must set, which the repository cannot drop' '
	printf "require: [no_new_privileges, log_cap]\n" >$TRASH/req.yaml &&
	settings "{}" &&
	test_expect_code 1 $RC --policy $TRASH/req.yaml --dir $M validate 2>err &&
	test_grep "settings.yaml:[0-9]*:[0-9]*: service .app. does not set .*which the host policy requires (.*req.yaml: require no_new_privileges)" err &&
	test_grep "which the host policy requires (.*req.yaml: require log_cap)" err &&
	settings "{}" "$(printf "security_opt: [no-new-privileges]\nlogging: {driver: json-file, options: {max-size: 10m}}")" &&
	$RC --policy $TRASH/req.yaml --dir $M validate
'

test_expect_success 'tenant_isolation: false (customers on one bridge) only if the host policy allows shared bridges' '
	cat >$M/settings.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	tenant_isolation: false
	EOT
	test_expect_code 1 $RC --policy $P --dir $M validate 2>err &&
	test_grep "settings.yaml:3:[0-9]*: .tenant_isolation: false. is beyond the host policy" err &&
	printf "allow_shared_bridges: true\n" >$TRASH/shared.yaml &&
	$RC --policy $TRASH/shared.yaml --dir $M validate
'

test_expect_success 'apply of a repository beyond the ceiling changes nothing' '
	settings "{allow_cap_add: [NET_RAW]}" "cap_add: [NET_RAW]" &&
	test_expect_code 1 $RC --policy $P --dir $M apply >out 2>&1 &&
	test_grep "beyond the host policy" out &&
	test "$(docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT | wc -l)" = 0
'

test_expect_success 'subnet_pools: subnets.pool, a Network subnet and the default pool must lie inside' '
	cat >$TRASH/pools.yaml <<-EOT &&
	bind_roots: [/srv/customers]
	subnet_pools: [10.210.0.0/16, 172.30.0.0/16]
	EOT
	settings "{}" &&
	$RC --policy $TRASH/pools.yaml --dir $M validate &&
	cat >$TRASH/lan.yaml <<-EOT &&
	subnet_pools: [172.30.0.0/16]
	EOT
	test_expect_code 1 $RC --policy $TRASH/lan.yaml --dir $M validate 2>err &&
	test_grep "settings.yaml:1:1: subnet .10.210.0.0/16 (the default subnets.pool). is beyond the host policy ($TRASH/lan.yaml: subnet_pools)" err &&
	cat >>$M/settings.yaml <<-EOT &&
	---
	kind: Network
	name: lan
	subnet: 192.168.1.0/24
	EOT
	sed -i "s|^policy: {}|policy: {}\nsubnets: {pool: 172.30.0.0/17, size: 26}|" $M/settings.yaml &&
	test_expect_code 1 $RC --policy $TRASH/lan.yaml --dir $M validate 2>err &&
	cat err &&
	test_grep "settings.yaml:[0-9]*:[0-9]*: subnet .192.168.1.0/24. is beyond the host policy ($TRASH/lan.yaml: subnet_pools): it must lie inside one of its pools" err &&
	test_equal "$(grep -c "subnet_pools" err)" 1 &&
	sed -i "s|subnet: 192.168.1.0/24|subnet: 172.30.200.0/24|" $M/settings.yaml &&
	$RC --policy $TRASH/lan.yaml --dir $M validate
'

test_done
