#!/bin/sh
# metrics.sh — the /metrics document of a daemon with BENCH_METRICS_UNITS units
# (default 1000): its size, the time to render it, and GET /metrics over the
# daemon's HTTP server (one client at a time, then BENCH_SCRAPERS at once,
# default 100).  Uses tests/helpers/metrics-bench (release build: `make
# build/helpers/metrics-bench`), which fills the registry as such a daemon's
# would be and serves it with the daemon's own server (httpd.c); no engine.
# Prints a Markdown block for docs/performance.md ("HTTP endpoint").
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bench=${METRICS_BENCH:-$top/build/helpers/metrics-bench}
n=${BENCH_METRICS_UNITS:-1000}
scrapers=${BENCH_SCRAPERS:-100}
port=$((40000 + $$ % 10000))
if [ ! -x "$bench" ]; then
	echo "metrics.sh: $bench missing: make build/helpers/metrics-bench" >&2
	exit 2
fi
work=$(mktemp -d /tmp/rc-bench-metrics.XXXXXX)
bpid=
cleanup() {
	[ -n "$bpid" ] && kill "$bpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
"$bench" "$n" 200 "127.0.0.1:$port" 120 >"$work/render" &
bpid=$!
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "metrics.sh: the server did not start" >&2; exit 1; }
	sleep 0.1
done
# one client at a time: 100 GETs
: >"$work/one"
k=0
while [ $k -lt 100 ]; do
	curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/metrics" >>"$work/one"
	k=$((k + 1))
done
# BENCH_SCRAPERS at once, 5 GETs each
k=0
pids=
while [ $k -lt "$scrapers" ]; do
	(j=0; while [ $j -lt 5 ]; do
		curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "http://127.0.0.1:$port/metrics"
		j=$((j + 1))
	done) >"$work/many.$k" &
	pids="$pids $!"
	k=$((k + 1))
done
for p in $pids; do
	wait "$p"
done
cat "$work"/many.* >"$work/many"
stats() { # seconds, one a line -> "median_ms max_ms"
	sort -n "$1" | awk '{a[NR]=$1} END {printf "%.1f %.1f\n", a[int((NR+1)/2)]*1000, a[NR]*1000}'
}
set -- $(stats "$work/one")
one_med=$1 one_max=$2
awk '{print $2}' "$work/many" >"$work/many.t"
set -- $(stats "$work/many.t")
many_med=$1 many_max=$2
ok=$(awk '$1 == 200' "$work/many" | wc -l)
total=$(wc -l <"$work/many")
bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$work/render")
render_us=$(sed -n 's/.*render_median_us=\([0-9]*\).*/\1/p' "$work/render")
cat <<EOT
| /metrics with $n units | |
| --- | --- |
| size | $bytes bytes |
| render (median of 200) | $render_us µs |
| GET, one client (median / max of 100) | $one_med / $one_max ms |
| GET, $scrapers clients at once, 5 each (median / max) | $many_med / $many_max ms ($ok of $total answered 200) |
EOT
