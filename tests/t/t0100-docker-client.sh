#!/bin/sh
test_description='the Docker Engine API client (reconciler/docker*.c) against the real engine'
. "$(dirname "$0")/../lib/test-lib.sh"

# tests/helpers/docker-live.c is the TAP stream: it exercises every call of
# docker.h and labels what it creates with $PROJECT.  Here: push a copy of
# the test image to the local registry for its pull test, run it, and
# remove the images (test-lib's exit handler removes labelled leftovers).
if [ -z "${RC_TEST_REGISTRY:-}" ]; then
	echo "Bail out! RC_TEST_REGISTRY is not set (run through tests/lib/run-tests.sh)"
	exit 1
fi
DK_LIVE_PULL_REF=$RC_TEST_REGISTRY/$PROJECT/app:1
export DK_LIVE_PULL_REF
if ! { docker tag "$TEST_IMAGE" "$DK_LIVE_PULL_REF" &&
       docker push "$DK_LIVE_PULL_REF" >/dev/null; } >"$TRASH/.push" 2>&1; then
	echo "Bail out! cannot push $DK_LIVE_PULL_REF: $(cat "$TRASH/.push")"
	docker rmi "$DK_LIVE_PULL_REF" >/dev/null 2>&1
	exit 1
fi
"$RC_TOP/build/test/helpers/docker-live"
status=$?
docker rmi "$DK_LIVE_PULL_REF" >/dev/null 2>&1
exit $status
