#!/bin/sh
test_description='remote engines: DOCKER_HOST=tcp://HOST:PORT with DOCKER_TLS_VERIFY and
DOCKER_CERT_PATH (stunnel in front of the local engine, client certificate required): apply, status,
drift and the daemon'"'"'s event stream over TLS; a wrong CA, no client certificate, a missing ca.pem,
a certificate for another name and an expired one are refused with a clear error and change nothing;
plain tcp:// through a socat forwarder; --docker-host takes the same forms (ssh://: t0805)'
. "$(dirname "$0")/../lib/test-lib.sh"
. "$RC_TOP/tests/lib/daemon.sh"

M=$TRASH/repo
ENGINE=${DOCKER_HOST:-unix:///var/run/docker.sock}
ENGINE_SOCK=${ENGINE#unix://}
# ports of this run (derived from the pid: scripts run side by side)
BASE=$((40000 + ($$ % 4000) * 4))
TLS_PORT=$BASE
OTHER_NAME_PORT=$((BASE + 1))
PLAIN_PORT=$((BASE + 2))
EXPIRED_PORT=$((BASE + 3))
C=$TRASH/certs
FORWARDERS=

for tool in openssl stunnel4 socat curl; do
	command -v $tool >/dev/null || { echo "Bail out! $tool is missing (tests/lib/deps.sh installs it)"; exit 1; }
done
case $ENGINE in
unix://*) ;;
*) echo "1..0 # SKIP the engine is not on a unix socket ($ENGINE)"; exit 0 ;;
esac

# mkcert NAME CA-DIR SUBJECT EXTENSIONS: NAME/cert.pem and NAME/key.pem signed by CA-DIR's CA
mkcert() {
	mkdir -p $C/$1 &&
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout $C/$1/key.pem -out $C/$1/req.pem 2>/dev/null &&
	printf '%s\n' "$4" >$C/$1/ext &&
	openssl x509 -req -in $C/$1/req.pem -CA $C/$2/ca.pem -CAkey $C/$2/ca-key.pem -CAcreateserial \
		-days 2 -extfile $C/$1/ext -out $C/$1/cert.pem 2>/dev/null
}
# mkcert_expired NAME CA-DIR SUBJECT EXTENSIONS: as mkcert, valid for a day in 2020 (`openssl x509
# -days` cannot go back in time: `openssl ca` sets the dates)
mkcert_expired() {
	mkdir -p $C/$1 &&
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout $C/$1/key.pem -out $C/$1/req.pem 2>/dev/null &&
	printf '%s\n' "$4" >$C/$1/ext &&
	: >$C/$1/index.txt &&
	echo 1000 >$C/$1/serial &&
	cat >$C/$1/ca.cnf <<-EOF &&
	[ca]
	default_ca = test
	[test]
	database = $C/$1/index.txt
	new_certs_dir = $C/$1
	serial = $C/$1/serial
	default_md = sha256
	policy = any
	[any]
	commonName = supplied
	EOF
	openssl ca -batch -notext -config $C/$1/ca.cnf -cert $C/$2/ca.pem -keyfile $C/$2/ca-key.pem \
		-startdate 20200101000000Z -enddate 20200102000000Z -extfile $C/$1/ext \
		-in $C/$1/req.pem -out $C/$1/cert.pem 2>$C/$1/ca.log || { cat $C/$1/ca.log; false; }
}
mkca() {
	mkdir -p $C/$1 &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=reconciler test CA $1" \
		-keyout $C/$1/ca-key.pem -out $C/$1/ca.pem 2>/dev/null
}

# tunnel NAME PORT SERVER-CERT-DIR: stunnel on 127.0.0.1:PORT, TLS with a client certificate
# signed by the test CA required (verify = 2), forwarding to the engine's socket
tunnel() {
	cat >$TRASH/$1.conf <<-EOF &&
	foreground = yes
	pid =
	[engine]
	accept = 127.0.0.1:$2
	connect = $ENGINE_SOCK
	cert = $C/$3/cert.pem
	key = $C/$3/key.pem
	CAfile = $C/ca/ca.pem
	verify = 2
	EOF
	{ stunnel4 $TRASH/$1.conf >$TRASH/$1.log 2>&1 </dev/null & } &&
	FORWARDERS="$FORWARDERS $!" &&
	wait_for "curl -fsS --max-time 2 -k --cert $C/client/cert.pem --key $C/client/key.pem https://127.0.0.1:$2/_ping" 20
}
# plain: socat on 127.0.0.1:PLAIN_PORT forwarding to the engine's socket, no TLS
plain_forwarder() {
	{ socat TCP-LISTEN:$PLAIN_PORT,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:$ENGINE_SOCK \
		>$TRASH/socat.log 2>&1 </dev/null & } &&
	FORWARDERS="$FORWARDERS $!" &&
	wait_for "curl -fsS --max-time 2 http://127.0.0.1:$PLAIN_PORT/_ping" 20
}
forwarders_stop() {
	for p in $FORWARDERS; do
		kill -TERM $p 2>/dev/null
		wait $p 2>/dev/null
	done
	FORWARDERS=
	return 0
}
# each test stops what it started (test_when_finished); this is for a script that ends mid-test
trap 't0800_status_=$?; forwarders_stop; (exit $t0800_status_); test_exit_handler' EXIT

# rc_tls CERT-DIR ARGS...: the binary against the TLS tunnel, certificates from CERT-DIR
rc_tls() {
	certs=$1
	shift
	env DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$certs \
		"$RC" --repo $M "$@"
}
nothing_made() {
	test -z "$(docker ps -aq --filter label=$LABEL_PROJECT=$PROJECT)" &&
	test -z "$(docker network ls -q --filter label=$LABEL_PROJECT=$PROJECT)"
}

test_expect_success 'setup: a CA, the engine'"'"'s certificate (127.0.0.1, localhost), a client certificate; another CA; a repository' '
	mkca ca && mkca other &&
	mkcert server ca localhost "subjectAltName=IP:127.0.0.1,DNS:localhost" &&
	mkcert elsewhere ca other.example "subjectAltName=DNS:other.example" &&
	mkcert client ca client "extendedKeyUsage=clientAuth" &&
	mkcert_expired expired ca localhost "subjectAltName=IP:127.0.0.1,DNS:localhost" &&
	openssl x509 -in $C/expired/cert.pem -noout -enddate | grep "notAfter=Jan  2 00:00:00 2020 GMT" &&
	cp $C/ca/ca.pem $C/client/ &&
	mkdir $C/wrong-ca $C/no-client $C/empty &&
	cp $C/other/ca.pem $C/client/cert.pem $C/client/key.pem $C/wrong-ca/ &&
	cp $C/ca/ca.pem $C/no-client/ &&
	repo_init $M &&
	cat >$M/all.yaml <<-EOT &&
	kind: Settings
	project: $PROJECT
	subnets: {pool: 10.249.0.0/16, size: 28}
	---
	kind: Service
	name: web
	image: $TEST_IMAGE
	env: {MODE: sleep, X: "1"}
	EOT
	repo_commit $M initial
'

test_expect_success 'a CA that did not sign the engine'"'"'s certificate: refused, saying so; nothing made' '
	test_when_finished forwarders_stop &&
	tunnel tls $TLS_PORT server &&
	test_expect_code 3 rc_tls $C/wrong-ca apply >out 2>err &&
	cat err &&
	test_grep "the certificate of the docker engine at .tcp://127.0.0.1:$TLS_PORT. does not verify (CA $C/wrong-ca/ca.pem): SSL certificate problem" err &&
	nothing_made
'

test_expect_success 'no client certificate: the engine'"'"'s side refuses the handshake; nothing made' '
	test_when_finished forwarders_stop &&
	tunnel tls $TLS_PORT server &&
	test_must_fail rc_tls $C/no-client apply >out 2>err &&
	cat err &&
	test_grep "TLS handshake with the docker engine at .tcp://127.0.0.1:$TLS_PORT. failed (no client certificate in DOCKER_CERT_PATH)" err &&
	nothing_made
'

test_expect_success 'no ca.pem in DOCKER_CERT_PATH: named before anything is sent' '
	test_must_fail rc_tls $C/empty apply >out 2>err &&
	test_grep "^reconciler: docker: $C/empty/ca.pem: cannot read: No such file or directory" err &&
	nothing_made
'

test_expect_success 'a certificate for another host name: refused' '
	test_when_finished forwarders_stop &&
	tunnel other-name $OTHER_NAME_PORT elsewhere &&
	test_must_fail env DOCKER_HOST=tcp://127.0.0.1:$OTHER_NAME_PORT DOCKER_TLS_VERIFY=1 \
		DOCKER_CERT_PATH=$C/client "$RC" --repo $M apply >out 2>err &&
	cat err &&
	test_grep "does not verify (CA $C/client/ca.pem): .*no alternative certificate subject name matches" err &&
	nothing_made
'

test_expect_success 'an expired engine certificate: refused, naming the expiry; nothing made' '
	test_when_finished forwarders_stop &&
	tunnel expired $EXPIRED_PORT expired &&
	test_expect_code 3 env DOCKER_HOST=tcp://127.0.0.1:$EXPIRED_PORT DOCKER_TLS_VERIFY=1 \
		DOCKER_CERT_PATH=$C/client "$RC" --repo $M apply >out 2>err &&
	cat err &&
	test_grep "the certificate of the docker engine at .tcp://127.0.0.1:$EXPIRED_PORT. has expired (or one that signed it has; CA $C/client/ca.pem): SSL certificate problem: certificate has expired" err &&
	nothing_made
'

test_expect_success 'TLS with a client certificate: apply, status, plan and drift' '
	test_when_finished forwarders_stop &&
	tunnel tls $TLS_PORT server &&
	rc_tls $C/client apply >out 2>err || { cat out err; false; } &&
	test "$(container_field $PROJECT-web {{.State.Status}})" = running &&
	rc_tls $C/client status >out 2>err &&
	test_grep "web" out &&
	rc_tls $C/client plan >out 2>err &&
	: a change by hand is drift, seen over TLS too &&
	docker stop -t 1 $PROJECT-web >/dev/null &&
	test_expect_code 2 rc_tls $C/client drift >out 2>err &&
	test_grep "web" out &&
	rc_tls $C/client drift --fix >out 2>err &&
	test "$(container_field $PROJECT-web {{.State.Status}})" = running
'

test_expect_success '--docker-host https://127.0.0.1:PORT and tcp://localhost:PORT (the name is verified too)' '
	test_when_finished forwarders_stop &&
	tunnel tls $TLS_PORT server &&
	env DOCKER_CERT_PATH=$C/client "$RC" --repo $M --docker-host https://127.0.0.1:$TLS_PORT plan >out 2>err ||
		{ cat out err; false; } &&
	env DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$C/client "$RC" --repo $M --docker-host tcp://localhost:$TLS_PORT \
		plan >out 2>err || { cat out err; false; }
'

test_expect_success 'the daemon over TLS: its event stream sees a kill, and it repairs the unit' '
	test_when_finished "daemon_kill; forwarders_stop; unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH" &&
	tunnel tls $TLS_PORT server &&
	export DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$C/client &&
	daemon_start tls.log -vv --repo $M --docker-host tcp://127.0.0.1:$TLS_PORT &&
	unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH &&
	daemon_wait_log tls.log "boot convergence complete" 60 &&
	docker kill $PROJECT-web >/dev/null &&
	daemon_wait_log tls.log "event die web" 30 &&
	daemon_wait_log tls.log "unit web is ready again" 60 &&
	! grep "event stream lost" tls.log
'

test_expect_success 'plain tcp:// through a socat forwarder; http:// with DOCKER_TLS_VERIFY set is refused' '
	test_when_finished forwarders_stop &&
	plain_forwarder &&
	env DOCKER_HOST=tcp://127.0.0.1:$PLAIN_PORT "$RC" --repo $M plan >out 2>err || { cat out err; false; } &&
	env DOCKER_HOST=tcp://127.0.0.1:$PLAIN_PORT "$RC" --repo $M status >out 2>err &&
	test_grep "web" out &&
	test_must_fail env DOCKER_TLS_VERIFY=1 "$RC" --repo $M --docker-host http://127.0.0.1:$PLAIN_PORT plan >out 2>err &&
	test_grep "plain HTTP but DOCKER_TLS_VERIFY is set" err
'

test_done
