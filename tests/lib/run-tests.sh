#!/bin/sh
# Run the test suite with prove: unit tests (build/test/unit/*.t), then the
# integration scripts (tests/t/*.sh), which drive build/test/reconciler
# against a real Docker engine and real Git repositories.
#   sh tests/lib/run-tests.sh [test files or directories...]
# A directory stands for its *.sh (`make test-cluster`: tests/cluster).
# Ensures a Docker engine (starting dockerd if none answers), builds the
# test images, starts a local registry, and stops what it started.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. tests/lib/engine.sh
. tests/lib/images.sh
. tests/lib/registry.sh

engine_ensure || exit 1
cleanup() {
	registry_stop
	engine_stop
}
trap cleanup EXIT INT TERM
build_test_images || exit 1
registry_start || exit 1

RC_TOP=$top
export RC_TOP
if [ $# -eq 0 ]; then
	set -- build/test/unit/*.t tests/t/*.sh
fi
for a in "$@"; do
	shift
	if [ -d "$a" ]; then
		set -- "$@" "${a%/}"/*.sh
	else
		set -- "$@" "$a"
	fi
done
prove --exec '' --timer --failures --comments -j "${TEST_JOBS:-2}" "$@"
