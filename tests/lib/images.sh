#!/bin/sh
# Build the test images locally (no registry is reachable): a root made from
# busybox-static, imported with `docker import`.  Rebuilt when missing or
# when its label io.reconciler.test-image-version differs from
# TEST_IMAGE_VERSION below (bump it whenever /app/run changes, so an image
# left by an older checkout is replaced).
#
# The image runs /app/run, an HTTP server (busybox httpd) on $PORT (8080)
# serving /health and /version.  Behaviour is set with environment variables:
#   HEALTH=ok            /health answers 200 (default)
#   HEALTH=never         /health never answers 200
#   HEALTH=fail-after:N  /health answers 200 for N seconds, then 404
#   EXIT_CODE=N          exit with code N at once (or after EXIT_AFTER)
#   EXIT_AFTER=N         serve for N seconds, then exit with EXIT_CODE (default 1)
#   START_DELAY=N        sleep N seconds before serving
#   IGNORE_TERM=1        ignore SIGTERM (to test stop grace periods)
#   MODE=sleep           no server: just wait for a signal (a "worker")
#   MODE=oom             (after START_DELAY) grow memory until the kernel
#                        kills the container (give it a memory limit)
# Tags: reconciler-test/app:1 and :2 differ in content (/app/VERSION).
set -eu
TEST_IMAGE_REPO=${TEST_IMAGE_REPO:-reconciler-test/app}
DOCKER=${DOCKER:-docker}
TEST_IMAGE_VERSION=2

build_root() {
	root=$1
	version=$2
	mkdir -p "$root/bin" "$root/app" "$root/tmp" "$root/etc" "$root/run/secrets"
	chmod 1777 "$root/tmp"
	cp /bin/busybox "$root/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
	done
	echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
	echo "nobody:x:65534:65534:nobody:/:/bin/sh" >>"$root/etc/passwd"
	echo "root:x:0:" >"$root/etc/group"
	echo "$version" >"$root/app/VERSION"
	cat >"$root/app/run" <<'RUN'
#!/bin/sh
if [ -n "${EXIT_CODE:-}" ] && [ -z "${EXIT_AFTER:-}" ]; then
	echo "run: exiting with code $EXIT_CODE"
	exit "$EXIT_CODE"
fi
HPID=
if [ "${IGNORE_TERM:-0}" = 1 ]; then
	trap '' TERM
else
	trap '[ -n "$HPID" ] && kill $HPID 2>/dev/null; exit 0' TERM INT
fi
if [ -n "${START_DELAY:-}" ]; then
	sleep "$START_DELAY" &
	wait $!
fi
if [ "${MODE:-http}" = sleep ]; then
	while :; do sleep 3600 & HPID=$!; wait $HPID; done
fi
if [ "${MODE:-http}" = oom ]; then
	echo "run: growing memory until killed"
	a=x
	while :; do a="$a$a"; done
fi
mkdir -p /tmp/www
cp /app/VERSION /tmp/www/version
env | grep -v -i secret | sort >/tmp/www/env
case "${HEALTH:-ok}" in
ok) echo ok >/tmp/www/health ;;
never) ;;
fail-after:*)
	echo ok >/tmp/www/health
	(sleep "${HEALTH#fail-after:}"; rm -f /tmp/www/health) &
	;;
esac
httpd -f -p "${PORT:-8080}" -h /tmp/www &
HPID=$!
echo "run: serving on ${PORT:-8080}, version $(cat /app/VERSION)"
if [ -n "${EXIT_AFTER:-}" ]; then
	sleep "$EXIT_AFTER" &
	wait $!
	kill $HPID 2>/dev/null
	echo "run: exiting with code ${EXIT_CODE:-1} after ${EXIT_AFTER}s"
	exit "${EXIT_CODE:-1}"
fi
wait $HPID
RUN
	chmod 755 "$root/app/run"
}

# The image exists with the current TEST_IMAGE_VERSION.
image_current() {
	v=$($DOCKER image inspect -f '{{index .Config.Labels "io.reconciler.test-image-version"}}' "$1" 2>/dev/null) &&
		[ "$v" = "$TEST_IMAGE_VERSION" ]
}

build_image() {
	tag=$1
	version=$2
	image_current "$tag" && return 0
	tmp=$(mktemp -d)
	build_root "$tmp/root" "$version"
	tar -C "$tmp/root" -c . | $DOCKER import \
		--change 'CMD ["/app/run"]' \
		--change 'ENV PORT=8080 PATH=/bin' \
		--change 'EXPOSE 8080' \
		--change 'LABEL io.reconciler.test-image=1' \
		--change "LABEL io.reconciler.test-image-version=$TEST_IMAGE_VERSION" \
		- "$tag" >/dev/null
	rm -rf "$tmp"
	echo "images: built $tag" >&2
}

build_test_images() {
	build_image "$TEST_IMAGE_REPO:1" 1
	build_image "$TEST_IMAGE_REPO:2" 2
}

if [ "${0##*/}" = images.sh ]; then
	build_test_images
fi
