#!/bin/sh
# Install, with apt, everything building, testing and the example need.
# Idempotent and quiet when all is present; run as root on Debian 12.
set -eu
PKGS="build-essential pkg-config clang libclang-rt-14-dev libgit2-dev libyaml-dev
libcurl4-openssl-dev libcjson-dev libxxhash-dev libssl-dev docker.io git busybox-static
docker-registry curl perl python3 iproute2 iptables ca-certificates procps openssh-server
libmicrohttpd-dev libsystemd-dev prometheus socat openssl stunnel4 util-linux tini"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# openssh-server is for the tests' own sshd on 127.0.0.1 (t0765): keep its
# package from starting a system sshd on port 22 (policy-rc.d, only when
# the machine has none, removed after).
own_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null || { [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
[ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
# Debian's docker-registry package starts a service on :5000; the harness runs
# its own registry on a port of its choosing, so leave the packaged one alone.
