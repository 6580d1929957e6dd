#!/bin/sh
# fuzz.sh SECONDS [fuzz-NAME...] — run the libFuzzer targets (what `make fuzz` calls).
#
# For each target (default: every tests/fuzz/fuzz-*.c; its binary is
# build/fuzz/fuzz-NAME, made by `make fuzz-build`):
#   1. replay the committed corpus tests/fuzz/corpus/NAME/ once (-runs=0);
#   2. fuzz for SECONDS (0: replay only) with a scratch corpus directory that
#      receives the new inputs; the committed corpus is only read.
# Crashers go to build/fuzz/artifacts/NAME/ (the path is printed).  Exits
# non-zero if any target is missing, crashes, leaks, times out or runs out
# of memory.  Environment: FUZZ_MAX_LEN (default 16384 bytes per input),
# FUZZ_KEEP_SCRATCH=1 keeps the scratch corpus (to review for committing).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2

seconds=${1:-60}
[ $# -gt 0 ] && shift
case $seconds in
''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a number, got '$seconds'" >&2; exit 2 ;;
esac
max_len=${FUZZ_MAX_LEN:-16384}

if [ $# -eq 0 ]; then
	for src in tests/fuzz/fuzz-*.c; do
		[ -e "$src" ] || continue
		set -- "$@" "$(basename "$src" .c)"
	done
fi
if [ $# -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets (tests/fuzz/fuzz-*.c)" >&2
	exit 1
fi

report_artifacts() {
	found=
	for f in "$artifacts"/*; do
		[ -e "$f" ] || continue
		echo "fuzz.sh: $target: crasher saved in $f (reproduce: $bin $f)" >&2
		found=1
	done
	[ -n "$found" ] || echo "fuzz.sh: $target: no crasher file written (see the log)" >&2
}

failed=0
for target in "$@"; do
	target=${target%.c}
	bin=build/fuzz/$target
	name=${target#fuzz-}
	corpus=tests/fuzz/corpus/$name
	# One artifacts directory per run, so only this run's crashers are listed.
	artifacts=build/fuzz/artifacts/$name/$(date +%Y%m%d-%H%M%S)-$$
	if [ ! -x "$bin" ]; then
		echo "fuzz.sh: $target: $bin is missing (run make fuzz-build)" >&2
		failed=1
		continue
	fi
	mkdir -p "$artifacts"
	log=build/fuzz/$target.log
	: >"$log"

	if [ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ]; then
		n=$(ls -A "$corpus" | wc -l)
		echo "fuzz.sh: $target: replaying $n corpus inputs from $corpus"
		if ! "$bin" -runs=0 -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" \
			-artifact_prefix="$artifacts/" "$corpus" >>"$log" 2>&1; then
			echo "fuzz.sh: $target: FAILED replaying $corpus (log: $log)" >&2
			tail -n 40 "$log" >&2
			report_artifacts
			failed=1
			continue
		fi
	else
		echo "fuzz.sh: $target: no committed corpus in $corpus (starting from nothing)"
		corpus=
	fi

	[ "$seconds" -eq 0 ] && { rmdir "$artifacts" 2>/dev/null; continue; }
	scratch=$(mktemp -d "/tmp/rc-fuzz-$name.XXXXXX")
	echo "fuzz.sh: $target: fuzzing for ${seconds}s (max_len $max_len, scratch corpus $scratch)"
	# New inputs go to the first directory only: the scratch one.
	if "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" \
		-print_final_stats=1 -artifact_prefix="$artifacts/" "$scratch" ${corpus:+"$corpus"} \
		>>"$log" 2>&1; then
		grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$log" | tail -n 2 | sed "s/^/fuzz.sh: $target: /"
	else
		echo "fuzz.sh: $target: FAILED while fuzzing (log: $log)" >&2
		tail -n 40 "$log" >&2
		report_artifacts
		failed=1
	fi
	rmdir "$artifacts" 2>/dev/null
	if [ -n "${FUZZ_KEEP_SCRATCH:-}" ]; then
		echo "fuzz.sh: $target: scratch corpus kept in $scratch"
	else
		rm -rf "$scratch"
	fi
done
exit $failed
