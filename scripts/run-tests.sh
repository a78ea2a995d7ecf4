#!/usr/bin/env bash
# make check: every unit test binary (cmocka), the same built with ASan+UBSan
# (.output/asan/tests/; a sanitizer report fails it), the end-to-end tests
# (real BPF; they need root and fail, not skip, without it), then each fuzz
# harness for 30 s on its corpus (scripts/fuzz.sh; a crash fails). Ends with
# one line "check: N passed, N failed"; a skipped unit test counts as failed.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# run_units BINARY...: through the script `make unit` runs; a skip is a failure here
run_units() {
	scripts/run-unit.sh "$@" >"$log" 2>&1
	rc=$?
	cat "$log"
	line=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log")
	p=$(echo "$line" | awk '{print $2 + 0}')
	f=$(echo "$line" | awk '{print $4 + $6}')
	if [ -z "$line" ] || { [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; }; then
		f=$((f + 1))
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

run_units .output/tests/test_*
run_units .output/asan/tests/test_*

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

echo "== fuzz smoke (30 s a harness)"
scripts/fuzz.sh --time 30 >"$log" 2>&1
rc=$?
cat "$log"
p=$(grep -c '^fuzz [a-z_]*: .* ok$' "$log")
f=$(grep -c '^fuzz [a-z_]*: .*CRASH\|^fuzz [a-z_]*: no harness' "$log")
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
	f=1
fi
passed=$((passed + p))
failed=$((failed + f))

echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
