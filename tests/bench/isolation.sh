#!/bin/sh
# isolation.sh — what tenant isolation costs at host scale (docs/performance.md,
# "Tenant isolation").  N customers (BENCH_ISO_N, default 200), each one
# service (busybox, MODE=sleep: no health check, so the figures are the
# networks' cost alone), and one shared service `db` on an internal shared
# network, measured in two layouts from nothing:
#
#   isolated   the template names the shared network: every customer gets a
#              link network <project>-cNNN-via-backend that db joins
#              (N more networks, N connects, N + 1 interfaces on db)
#   baseline   the template names no shared network (customers on their own
#              networks only; they could not reach db at all)
#
# For each: wall time and engine calls of `apply --stats` from nothing, then
# of adding one customer (db must keep its container), then the teardown.
# Run as root against the local engine; everything made carries the label
# io.reconciler.project=rtbenchiso-*, removed at the end.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
rc=$top/build/reconciler
[ -x "$rc" ] || { echo "isolation: build first (make)" >&2; exit 1; }
n=${BENCH_ISO_N:-200}
image=${BENCH_IMAGE:-reconciler-test/app:1}
work=$(mktemp -d /tmp/rc-bench-iso.XXXXXX)
trap 'rm -rf "$work"' EXIT

cleanup() { # PROJECT
	ids=$(docker ps -aq --filter "label=io.reconciler.project=$1")
	[ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || :
	ids=$(docker network ls -q --filter "label=io.reconciler.project=$1")
	[ -z "$ids" ] || docker network rm $ids >/dev/null 2>&1 || :
	ids=$(docker volume ls -q --filter "label=io.reconciler.project=$1")  # the ownership marker
	[ -z "$ids" ] || docker volume rm $ids >/dev/null 2>&1 || :
}

gen() { # DIR PROJECT LAYOUT
	mkdir -p "$1/customers"
	git -C "$1" init -q
	nets=""
	[ "$3" = isolated ] && nets="    networks: [backend]"
	cat >"$1/settings.yaml" <<-EOT
	kind: Settings
	project: $2
	subnets: {pool: 10.190.0.0/16, size: 28}
	---
	kind: Network
	name: backend
	internal: true
	subnet: 10.189.0.0/24
	---
	kind: Service
	name: db
	image: $image
	env: {MODE: sleep}
	networks: [backend]
	---
	kind: Template
	name: web
	services:
	  app:
	    image: $image
	    env: {MODE: sleep}
	$nets
	EOT
	i=0
	while [ "$i" -lt "$n" ]; do
		printf 'kind: Customer\nid: c%03d\ntemplate: web\n' "$i" >"$1/customers/c$(printf %03d $i).yaml"
		i=$((i + 1))
	done
	git -C "$1" add -A && git -C "$1" -c user.name=b -c user.email=b@b commit -q -m gen
}

calls() { sed -n 's/^docker api calls: \([0-9]*\) .*/\1/p' "$1"; }

printf '| layout | N | apply from nothing | engine calls | add one customer | its calls | db interfaces | db replaced by the add | docker restart of db |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for layout in isolated baseline; do
	p=rtbenchiso-$layout
	d=$work/$layout
	cleanup "$p"
	gen "$d" "$p" "$layout"
	t0=$(date +%s.%N)
	if ! "$rc" -q --repo "$d" --state-dir "$work/state-$layout" apply --stats >"$work/$layout.out" 2>"$work/$layout.stats"; then
		echo "isolation: apply of $layout failed:" >&2
		tail -n 20 "$work/$layout.out" "$work/$layout.stats" >&2
		cleanup "$p"
		exit 1
	fi
	t1=$(date +%s.%N)
	db=$(docker inspect -f '{{.Id}}' "$p-db")
	ifs=$(docker inspect -f '{{len .NetworkSettings.Networks}}' "$p-db")
	printf 'kind: Customer\nid: extra\ntemplate: web\n' >"$d/customers/extra.yaml"
	git -C "$d" add -A && git -C "$d" -c user.name=b -c user.email=b@b commit -q -m extra
	t2=$(date +%s.%N)
	"$rc" -q --repo "$d" --state-dir "$work/state-$layout" apply --stats >/dev/null 2>"$work/$layout.add"
	t3=$(date +%s.%N)
	same=no
	[ "$(docker inspect -f '{{.Id}}' "$p-db")" = "$db" ] || same=yes
	t4=$(date +%s.%N)
	docker restart -t 1 "$p-db" >/dev/null   # one endpoint per network at each start
	t5=$(date +%s.%N)
	printf '| %s | %d | %.1f s | %s | %.2f s | %s | %s | %s | %.1f s |\n' "$layout" "$n" \
		"$(awk "BEGIN{print $t1 - $t0}")" "$(calls "$work/$layout.stats")" "$(awk "BEGIN{print $t3 - $t2}")" \
		"$(calls "$work/$layout.add")" "$ifs" "$same" "$(awk "BEGIN{print $t5 - $t4}")"
	cleanup "$p"
done
