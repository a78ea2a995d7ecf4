#!/usr/bin/env bash
# Runs the unit test binaries given (cmocka), every one even after one
# fails, and ends with one line "unit: N passed, N failed, N skipped". A
# binary that dies before its summary counts as one failure. Exits 1 when a
# test failed, and when one skipped where nothing may skip (CI set, as
# .ci/run sets it).
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # count WORD: the N of "[  WORD ] N test(s)" lines in the log
	grep -oE "^\[  $1 *\] [0-9]+ test" "$log" | awk '{s += $(NF - 1)} END {print s + 0}'
}

for t in "$@"; do
	[ -x "$t" ] && [ -f "$t" ] || continue # .d files lie beside the binaries
	echo "== $t"
	CMOCKA_MESSAGE_OUTPUT=stdout "$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(count PASSED)
	f=$(count FAILED)
	s=$(count SKIPPED)
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed before its summary
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
done

echo "unit: $passed passed, $failed failed, $skipped skipped"
if [ "$failed" -gt 0 ]; then
	exit 1
fi
if [ "$skipped" -gt 0 ] && [ -n "${CI:-}" ]; then
	echo "unit: a test skipped, and nothing may skip in CI" >&2
	exit 1
fi
exit 0
