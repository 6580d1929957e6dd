#!/bin/sh
test_description='every libFuzzer target exists, replays its corpus and survives a short run'
. "$(dirname "$0")/../lib/test-lib.sh"

# Per target (12 s: about a minute for five targets at the end of `make test`); `make fuzz` is the long run.
FUZZ_SECONDS=${FUZZ_SECONDS:-12}

targets=
for src in "$RC_TOP"/tests/fuzz/fuzz-*.c; do
	[ -e "$src" ] && targets="$targets $(basename "$src" .c)"
done

test_expect_success 'there are fuzz targets' '
	test -n "$targets"
'

for t in $targets; do
	test_expect_success "$t is built (make fuzz-build)" "
		test -x \"\$RC_TOP/build/fuzz/$t\"
	"
	test_expect_success "$t: corpus replays and ${FUZZ_SECONDS}s of fuzzing find nothing" "
		sh \"\$RC_TOP/tests/lib/fuzz.sh\" \"\$FUZZ_SECONDS\" $t
	"
done

test_done
