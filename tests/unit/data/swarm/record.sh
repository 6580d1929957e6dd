#!/bin/sh
# record.sh — re-record the engine replies t-docker-swarm reads, from a swarm of
# its own (never the main engine's: `docker swarm init` there is forbidden).
#   DOCKER_HOST=unix:///tmp/X/sock sh tests/unit/data/swarm/record.sh
# The swarm has one node, reconciler-test/app:1 and :2 loaded, and none of
# swx-net, swx-sec, swx-* (the script removes them at the end).  The bodies
# are t-docker-swarm's golden files (GOLDEN_UPDATE=1 writes them); the
# secret's id in body-full.json is replaced by the one made here.
set -eu
: "${DOCKER_HOST:?set DOCKER_HOST to the socket of a swarm engine of your own}"
case $DOCKER_HOST in unix:///var/run/docker.sock) echo "not the main engine" >&2; exit 1 ;; esac
sock=${DOCKER_HOST#unix://}
here=$(cd "$(dirname "$0")" && pwd)
api() { curl -sf --unix-socket "$sock" -H 'Content-Type: application/json' "$@"; }
pretty() { python3 -m json.tool; }
list() { api "http://localhost/v1.41/services?status=true" | pretty >"$here/services-$1.json"; }

docker network create -d overlay --attachable --subnet 10.199.1.0/24 swx-net >/dev/null
sid=$(printf hunter2 | docker secret create --label x=y swx-sec -)
sed "s/57xgp66ww61q9x94iywkxsstc/$sid/" "$here/body-full.json" >/tmp/swx-body-full.json
api -XPOST http://localhost/v1.41/services/create -d @/tmp/swx-body-full.json >/dev/null
api -XPOST http://localhost/v1.41/services/create -d @"$here/body-min.json" >/dev/null
api -XPOST http://localhost/v1.41/services/create -d @"$here/body-defaults.json" >/dev/null
i=0
until docker service ps swx-full --format '{{.CurrentState}}' | grep -q '^Running'; do
	i=$((i + 1)); [ $i -lt 120 ] || { echo "swx-full never ran" >&2; exit 1; }; sleep 0.5
done
list full
api "http://localhost/v1.41/tasks" | pretty >"$here/tasks.json"
api "http://localhost/v1.41/nodes" | pretty >"$here/nodes.json"
api "http://localhost/v1.41/secrets" | pretty >"$here/secrets.json"
api "http://localhost/v1.41/info" | python3 -c 'import json,sys; print(json.dumps({"Swarm": json.load(sys.stdin)["Swarm"]}, indent=4))' >"$here/info.json"
v=$(docker service inspect -f '{{.Version.Index}}' swx-full)
api -XPOST "http://localhost/v1.41/services/swx-full/update?version=$v" -d @/tmp/swx-body-full.json >/dev/null
list updated
upd() { name=$1; shift; docker service update --detach "$@" swx-full >/dev/null; list "$name"; }
upd label-add --label-add foo=bar
upd env-add --env-add C=3
upd replicas --replicas 2
upd image --image reconciler-test/app:2
upd limit-memory --limit-memory 128M
upd constraint-add --constraint-add 'node.labels.x!=y'
upd publish-add --publish-add published=23979,target=8081,mode=host
upd force --force
upd hostname --hostname swx
docker service rm swx-full swx-min swx-defaults >/dev/null
sleep 2
docker secret rm swx-sec >/dev/null
docker network rm swx-net >/dev/null
rm -f /tmp/swx-body-full.json
