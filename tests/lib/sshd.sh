#!/bin/sh
# A private SSH Git server for tests: OpenSSH's sshd on 127.0.0.1, with its
# own host key and authorized_keys under $TRASH/sshd, public-key login only.
# Sourced after test-lib.sh.
#   sshd_start            start it on a port of this run (test_port 45-49); sets
#                         $SSHD_PORT and $SSHD_HOSTKEY (the host's public key
#                         line, "TYPE BASE64"); clients log in as the current
#                         user with a key listed in $TRASH/sshd/authorized_keys
#   sshd_stop             end it (by its pid file)
SSHD_DIR=$TRASH/sshd
SSHD_PORT=
SSHD_HOSTKEY=

sshd_start() {
	mkdir -p "$SSHD_DIR" /run/sshd &&
	rm -f "$SSHD_DIR/host" "$SSHD_DIR/host.pub" &&
	ssh-keygen -q -t ed25519 -N '' -C test-host -f "$SSHD_DIR/host" &&
	touch "$SSHD_DIR/authorized_keys" && chmod 600 "$SSHD_DIR/authorized_keys" || return 1
	SSHD_HOSTKEY=$(cut -d' ' -f1,2 "$SSHD_DIR/host.pub")
	# a port of this run's own (tests/lib/test-lib.sh): test_port 45, moved on when taken
	p=$(test_port 45) || return 1
	for try in 1 2 3 4 5; do
		cat >"$SSHD_DIR/config" <<-EOT
		Port $p
		ListenAddress 127.0.0.1
		HostKey $SSHD_DIR/host
		AuthorizedKeysFile $SSHD_DIR/authorized_keys
		PidFile $SSHD_DIR/pid
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		PermitRootLogin prohibit-password
		EOT
		rm -f "$SSHD_DIR/pid"
		: >"$SSHD_DIR/log"
		if /usr/sbin/sshd -f "$SSHD_DIR/config" -E "$SSHD_DIR/log" &&
		   wait_for "test -s $SSHD_DIR/pid" 10; then
			SSHD_PORT=$p
			return 0
		fi
		cat "$SSHD_DIR/log"
		p=$((p + 1))
	done
	return 1
}

sshd_stop() {
	[ -s "$SSHD_DIR/pid" ] || return 0
	pid=$(cat "$SSHD_DIR/pid")
	kill -TERM "$pid" 2>/dev/null
	wait_for "! kill -0 $pid" 10 || kill -KILL "$pid" 2>/dev/null
	rm -f "$SSHD_DIR/pid"
	return 0
}
