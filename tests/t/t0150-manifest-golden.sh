#!/bin/sh
test_description='manifest golden files: every bad case gives exactly its .err, good ones their .out'
. "$(dirname "$0")/../lib/test-lib.sh"

# Cases: tests/golden/manifests/bad/NAME.yaml or NAME/ (a directory of
# manifests) with NAME.err, the exact diagnostics; good/NAME.yaml with
# NAME.out, the expansion (networks, units, canonical specs).
# GOLDEN_UPDATE=1 (or `make golden`) rewrites the expected files for review.
GOLDEN=$RC_TOP/tests/golden/manifests
CHECK=$RC_TOP/build/test/helpers/manifest-check

# Git keeps no file modes: give the secrets the 0600 the loader insists on.
mkdir -p "$TRASH/secrets" &&
cp "$GOLDEN"/secrets/* "$TRASH/secrets/" &&
# secret digests are keyed by a per-host random key (seckey.h): a fixed one here
printf '%s' golden-key-0123456789abcdefghijk >"$TRASH/secrets/.digest-key" &&
chmod 600 "$TRASH"/secrets/* "$TRASH/secrets/.digest-key"

# run_case PATH EXPECTED WANT_STATUS
run_case() {
	"$CHECK" -s "$TRASH/secrets" "$1" >"$TRASH/out" 2>"$TRASH/err"
	status=$?
	if [ -s "$TRASH/err" ]; then
		echo "stderr is not empty:"
		cat "$TRASH/err"
		return 1
	fi
	if [ "$status" != "$3" ]; then
		echo "exit status $status, expected $3"
		cat "$TRASH/out"
		return 1
	fi
	if [ -n "${GOLDEN_UPDATE:-}" ]; then
		cp "$TRASH/out" "$2"
		return 0
	fi
	test_cmp "$2" "$TRASH/out"
}

for path in "$GOLDEN"/bad/*; do
	case $path in
	*.err) continue ;;
	*.yaml) name=${path%.yaml} ;;
	*) [ -d "$path" ] || continue; name=$path ;;
	esac
	test_expect_success "bad: $(basename "$name")" "run_case '$path' '$name.err' 1"
done

for path in "$GOLDEN"/good/*.yaml "$GOLDEN"/good/*/; do
	[ -e "$path" ] || continue
	path=${path%/}
	name=${path%.yaml}
	test_expect_success "good: $(basename "$name")" "run_case '$path' '$name.out' 0"
done

test_expect_success 'every bad case has its expected output' '
	for path in "$GOLDEN"/bad/*; do
		case $path in *.err) test -e "${path%.err}.yaml" || test -d "${path%.err}" || { echo "orphan $path"; exit 1; } ;; esac
	done
'

test_done
