#!/bin/sh
# Make sure a Docker engine answers.  Sourced by the harness and the example.
#   engine_ensure   use DOCKER_HOST or /var/run/docker.sock if it answers
#                   GET /_ping; otherwise start dockerd in the background and
#                   wait (bounded) for it.  Sets ENGINE_STARTED_BY_US=1 then.
#   engine_stop     stop dockerd only if we started it.
ENGINE_WAIT=${ENGINE_WAIT:-60}
ENGINE_LOG=${ENGINE_LOG:-/tmp/reconciler-dockerd.log}

engine_ping() {
	case "${DOCKER_HOST:-}" in
	tcp://*) curl -fsS --max-time 3 "http://${DOCKER_HOST#tcp://}/_ping" >/dev/null 2>&1 ;;
	unix://*) curl -fsS --max-time 3 --unix-socket "${DOCKER_HOST#unix://}" http://localhost/_ping >/dev/null 2>&1 ;;
	"") curl -fsS --max-time 3 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1 ;;
	*) return 1 ;;
	esac
}

engine_ensure() {
	ENGINE_STARTED_BY_US=0
	if engine_ping; then
		return 0
	fi
	if [ -n "${DOCKER_HOST:-}" ]; then
		echo "engine: DOCKER_HOST=$DOCKER_HOST does not answer /_ping" >&2
		return 1
	fi
	if ! command -v dockerd >/dev/null 2>&1; then
		echo "engine: no Docker engine answers and dockerd is not installed (make deps)" >&2
		return 1
	fi
	echo "engine: starting dockerd (log: $ENGINE_LOG)" >&2
	# containerd comes with docker.io; dockerd starts its own when none runs.
	nohup dockerd >"$ENGINE_LOG" 2>&1 &
	ENGINE_PID=$!
	echo "$ENGINE_PID" >/tmp/reconciler-dockerd.pid
	i=0
	while [ "$i" -lt "$((ENGINE_WAIT * 2))" ]; do
		if engine_ping; then
			ENGINE_STARTED_BY_US=1
			return 0
		fi
		if ! kill -0 "$ENGINE_PID" 2>/dev/null; then
			echo "engine: dockerd exited; last lines of $ENGINE_LOG:" >&2
			tail -n 20 "$ENGINE_LOG" >&2
			return 1
		fi
		sleep 0.5
		i=$((i + 1))
	done
	echo "engine: dockerd did not answer /_ping within ${ENGINE_WAIT}s; see $ENGINE_LOG" >&2
	return 1
}

engine_stop() {
	if [ "${ENGINE_STARTED_BY_US:-0}" = 1 ] && [ -n "${ENGINE_PID:-}" ]; then
		kill "$ENGINE_PID" 2>/dev/null || true
		i=0
		while kill -0 "$ENGINE_PID" 2>/dev/null && [ "$i" -lt 60 ]; do
			sleep 0.5
			i=$((i + 1))
		done
	fi
}
