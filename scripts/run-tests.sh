#!/usr/bin/env bash
# make check: every unit test binary (cmocka), then the end-to-end tests
# (real BPF; they need root and fail, not skip, without it). Ends with one
# line "check: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in .output/tests/test_*; do
	[ -x "$t" ] || continue
	echo "== $t"
	CMOCKA_MESSAGE_OUTPUT=stdout "$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(grep -oE '^\[  PASSED  \] [0-9]+' "$log" | awk '{s+=$4} END {print s+0}')
	f=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed before its summary
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

echo "== end-to-end (real BPF)"
python3 tests/e2e/run.py >"$log" 2>&1
rc=$?
cat "$log"
p=$(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$log")
f=$(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$log")
if [ -z "$p" ]; then
	p=0
	f=1
fi
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
	f=1
fi
passed=$((passed + p))
failed=$((failed + f))

echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
