#!/bin/sh
# gen-hosting.sh DIR [CUSTOMERS] — write a Git repository of manifests for a
# hosting setup of CUSTOMERS customers (default 1000): Settings, 3 plans, a
# shared internal network with 3 shared services (db reads the secret
# db_password), 3 templates (1 to 3 services each), one file per customer
# under customers/.  The format is spec/manifest.md's.
set -eu
dir=$1
n=${2:-1000}
project=${BENCH_PROJECT:-bench}
image=${BENCH_IMAGE:-example/app:1.0}

rm -rf "$dir"
mkdir -p "$dir/customers"
cd "$dir"
git init -q -b main .
git config user.email bench@example.invalid
git config user.name bench

cat >settings.yaml <<EOT
kind: Settings
project: $project
ports: {range: 20000-29999}
subnets: {pool: 10.64.0.0/14, size: 26}
defaults: {stop_grace_period: 10s}
EOT

cat >plans.yaml <<'EOT'
kind: Plan
name: starter
cpus: 0.25
memory: 64M
memory_reservation: 32M
pids: 64
restart: {backoff: 5s, max_backoff: 300s, max_failures: 5}
---
kind: Plan
name: pro
cpus: 0.5
memory: 128M
memory_reservation: 64M
pids: 128
restart: {backoff: 5s, max_backoff: 300s, max_failures: 5}
---
kind: Plan
name: infra
cpus: 1
memory: 256M
pids: 256
restart: {backoff: 5s, max_backoff: 300s, max_failures: 10}
EOT

cat >shared.yaml <<EOT
kind: Network
name: backend
internal: true
---
kind: Service
name: db
image: $image
plan: infra
env: {ROLE: database}
volumes: ["db-data:/data"]
networks: [backend]
secrets: [db_password]
health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10, start_period: 1s}
stop_grace_period: 30s
---
kind: Service
name: cache
image: $image
plan: infra
env: {ROLE: cache}
networks: [backend]
health: {cmd: "wget -q -O /dev/null http://127.0.0.1:8080/health", interval: 1s, timeout: 2s, retries: 10}
---
kind: Service
name: queue
image: $image
plan: infra
env: {ROLE: queue}
networks: [backend]
EOT

cat >templates.yaml <<EOT
kind: Template
name: webapp
services:
  app:
    image: $image
    port: 8080
    networks: [backend]
    env: {ROLE: app, LOG_LEVEL: info}
    depends_on: {db: healthy, cache: healthy}
    health: {http: /health, interval: 1s, timeout: 2s, retries: 10, start_period: 1s}
  worker:
    image: $image
    networks: [backend]
    env: {ROLE: worker, MODE: sleep}
    depends_on: {app: healthy, queue: started}
  cron:
    image: $image
    env: {ROLE: cron}
    depends_on: {app: started}
---
kind: Template
name: static
services:
  web:
    image: $image
    port: 8080
    env: {ROLE: static}
    health: {http: /health, interval: 5s, timeout: 2s, retries: 3}
---
kind: Template
name: api
services:
  api:
    image: $image
    port: 8080
    networks: [backend]
    env: {ROLE: api}
    depends_on: {db: healthy}
    health: {http: /health, interval: 2s, timeout: 2s, retries: 5}
  jobs:
    image: $image
    networks: [backend]
    env: {ROLE: jobs}
    depends_on: {api: healthy, queue: started}
EOT

i=0
while [ "$i" -lt "$n" ]; do
	id=$(printf 'c%04d' "$i")
	case $((i % 3)) in 0) t=webapp ;; 1) t=static ;; 2) t=api ;; esac
	case $((i % 2)) in 0) p=starter ;; 1) p=pro ;; esac
	cat >"customers/$id.yaml" <<EOT
# customer $i
kind: Customer
id: $id
template: $t
plan: $p
port: auto
env: {CUSTOMER: "$id", FEATURE_X: "$((i % 2))"}
EOT
	i=$((i + 1))
done
git add -A
git commit -q -m "$n customers"
