#!/bin/sh
# Build the test images locally (no registry is reachable): a root made from
# busybox-static, imported with `docker import`.  Rebuilt only when missing.
#
# The image runs /app/run, an HTTP server (busybox httpd) on $PORT (8080)
# serving /health and /version.  Behaviour is set with environment variables:
#   HEALTH=ok            /health answers 200 (default)
#   HEALTH=never         /health never answers 200
#   HEALTH=fail-after:N  /health answers 200 for N seconds, then 404
#   EXIT_CODE=N          exit with code N at once
#   START_DELAY=N        sleep N seconds before serving
#   IGNORE_TERM=1        ignore SIGTERM (to test stop grace periods)
#   MODE=sleep           no server: just wait for a signal (a "worker")
# Tags: reconciler-test/app:1 and :2 differ in content (/app/VERSION).
set -eu
TEST_IMAGE_REPO=${TEST_IMAGE_REPO:-reconciler-test/app}
DOCKER=${DOCKER:-docker}

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
if [ -n "${EXIT_CODE:-}" ]; then
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
wait $HPID
RUN
	chmod 755 "$root/app/run"
}

image_exists() {
	$DOCKER image inspect "$1" >/dev/null 2>&1
}

build_image() {
	tag=$1
	version=$2
	image_exists "$tag" && return 0
	tmp=$(mktemp -d)
	build_root "$tmp/root" "$version"
	tar -C "$tmp/root" -c . | $DOCKER import \
		--change 'CMD ["/app/run"]' \
		--change 'ENV PORT=8080 PATH=/bin' \
		--change 'EXPOSE 8080' \
		--change 'LABEL io.reconciler.test-image=1' \
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
