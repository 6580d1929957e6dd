#!/bin/sh
# gen-host.sh DIR N PROJECT — the inputs of tests/bench/host.sh for N
# customers (at most 1000), one generator so the tools are given the same
# host:
#
#   DIR/repo/             a Git repository of reconciler manifests: Settings
#                         (project PROJECT, subnet pool 10.201.0.0/16 in /26s,
#                         ports 27000-27999), a Plan (cpus 0.25, memory 64M),
#                         a one-service Template and N Customers c000... with
#                         explicit ports 27000+i.  Containers PROJECT-cNNN-app,
#                         networks PROJECT-cNNN (labels io.reconciler.*).
#   DIR/docker-compose.yml  the same N containers for docker-compose (file
#                         format 2.4; host.sh runs it as -p PROJECT-compose):
#                         service cNNN on its own network cNNN with an
#                         explicit subnet from 10.202.0.0/16 (/26s), host port
#                         28000+i, cpus 0.25, mem_limit 64m; containers and
#                         networks carry the label io.reconciler.bench=PROJECT.
#   DIR/floor-units       one line per customer for the raw engine loop:
#                         "NAME PORT NETWORK SUBNET" (PROJECT-floor-cNNN-app,
#                         29000+i, PROJECT-floor-cNNN, 10.203.0.0/16 in /26s).
#
# Every container: image $BENCH_IMAGE (default reconciler-test/app:1, the
# busybox httpd of tests/lib/images.sh on 8080), container port 8080
# published, restart unless-stopped, health check
#   wget -q -O /dev/null http://127.0.0.1:8080/health
# every 5s, timeout 3s, 3 retries, no start period (run by Docker: a `cmd`
# check in the manifests, `healthcheck` in compose, --health-* for the loop).
# The three ranges of subnets and ports are disjoint from each other, from
# Docker's default pools (172.17-31.x, 192.168.x) and from the other benches
# and the tests (10.96/16, 10.64/14, 10.21x-10.24x; host ports 21000-26049
# of tests/t and tests/soak, which may run on the same engine; 31000+ of
# apply.sh), and ports stay below the kernel's ephemeral range (32768+).
set -eu
dir=$1
n=$2
project=$3
image=${BENCH_IMAGE:-reconciler-test/app:1}
health_cmd='wget -q -O /dev/null http://127.0.0.1:8080/health'
# the check's interval (BENCH_HEALTH_INTERVAL, default 5s): at 500 customers a 2-CPU engine cannot
# run 100 exec checks a second, so larger N needs a longer one
interval=${BENCH_HEALTH_INTERVAL:-5s}

if [ "$n" -lt 1 ] || [ "$n" -gt 1000 ]; then
	echo "gen-host.sh: N must be 1 to 1000" >&2
	exit 2
fi

# subnet BASE I: the I-th /26 of BASE (10.x.0.0/16)
subnet() {
	echo "$1.$(($2 / 4)).$((($2 % 4) * 64))/26"
}

rm -rf "$dir/repo"
mkdir -p "$dir/repo/customers"
(
	cd "$dir/repo"
	git init -q -b main .
	git config user.email bench@example.invalid
	git config user.name bench
	cat >settings.yaml <<EOT
kind: Settings
project: $project
ports: {range: 27000-27999}
subnets: {pool: 10.201.0.0/16, size: 26}
---
kind: Plan
name: small
cpus: 0.25
memory: 64M
---
kind: Template
name: web
plan: small
services:
  app:
    image: $image
    port: 8080
    health: {cmd: "$health_cmd", interval: $interval, timeout: 3s, retries: 3}
EOT
	i=0
	while [ "$i" -lt "$n" ]; do
		printf 'kind: Customer\nid: c%03d\ntemplate: web\nport: %d\n' "$i" $((27000 + i)) >"customers/c$(printf %03d $i).yaml"
		i=$((i + 1))
	done
	git add -A
	git commit -q -m "$n customers"
)

{
	printf 'version: "2.4"\nservices:\n'
	i=0
	while [ "$i" -lt "$n" ]; do
		c=$(printf c%03d "$i")
		cat <<EOT
  $c:
    image: $image
    ports: ["$((28000 + i)):8080"]
    cpus: 0.25
    mem_limit: 64m
    restart: unless-stopped
    networks: [$c]
    labels: {io.reconciler.bench: $project}
    healthcheck:
      test: ["CMD-SHELL", "$health_cmd"]
      interval: $interval
      timeout: 3s
      retries: 3
EOT
		i=$((i + 1))
	done
	printf 'networks:\n'
	i=0
	while [ "$i" -lt "$n" ]; do
		c=$(printf c%03d "$i")
		cat <<EOT
  $c:
    labels: {io.reconciler.bench: $project}
    ipam:
      config:
        - subnet: $(subnet 10.202 "$i")
EOT
		i=$((i + 1))
	done
} >"$dir/docker-compose.yml"

i=0
while [ "$i" -lt "$n" ]; do
	c=$(printf c%03d "$i")
	echo "$project-floor-$c-app $((29000 + i)) $project-floor-$c $(subnet 10.203 "$i")"
	i=$((i + 1))
done >"$dir/floor-units"
