#!/bin/sh
# `make example`: ensure a Docker engine, build the example's images locally
# (busybox stand-ins; no registry is reachable), converge examples/hosting
# from this repository's Git history (or the directory when there is no
# .git), and print status.  Leaves the engine and the containers running.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/engine.sh
. tests/lib/images.sh
engine_ensure
build_image example/app:1.0 1.0
build_image example/app:1.1 1.1
R=build/reconciler
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1 && git -C "$top" cat-file -e HEAD:examples/hosting 2>/dev/null; then
	set -- --repo "$top" --path examples/hosting
else
	set -- --dir examples/hosting
fi
echo "example: $R $* apply" >&2
"$R" "$@" validate
"$R" "$@" apply
echo
"$R" "$@" status
