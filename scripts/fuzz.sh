#!/usr/bin/env bash
# Runs the libFuzzer harnesses (tests/fuzz/fuzz_NAME.c, built by
# `make fuzz-bins` into .output/fuzz/) one after the other, each for a
# given time on a copy of its checked-in corpus (tests/fuzz/corpus/NAME/).
#
#   scripts/fuzz.sh [--time SECONDS] [NAME...]   default: 30 s, every harness
#
# Prints one line per harness ("fuzz NAME: N runs in S s, ok" or "... CRASH:
# see ARTIFACT"), then "fuzz: N ok, N failed"; exits 1 when one crashed,
# leaked, ran out of memory or time on an input (its reproducer is saved
# under .output/fuzz/artifacts/; rerun it with .output/fuzz/fuzz_NAME FILE).
set -uo pipefail
cd "$(dirname "$0")/.."

secs=30
names=()
while [ $# -gt 0 ]; do
	case "$1" in
	--time)
		secs="${2:?--time needs seconds}"
		shift 2
		;;
	-*)
		echo "fuzz.sh: unknown option '$1'" >&2
		exit 2
		;;
	*)
		names+=("$1")
		shift
		;;
	esac
done
if [ ${#names[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		n=${f#tests/fuzz/fuzz_}
		names+=("${n%.c}")
	done
fi

out=.output/fuzz
mkdir -p "$out/artifacts" "$out/logs"
ok=0
failed=0
for n in "${names[@]}"; do
	bin="$out/fuzz_$n"
	seeds="tests/fuzz/corpus/$n"
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "fuzz $n: no harness '$bin' or corpus '$seeds' (make fuzz-bins)"
		failed=$((failed + 1))
		continue
	fi
	work="$out/corpus/$n"
	mkdir -p "$work"
	log="$out/logs/$n.log"
	# the checked-in seeds are read, new inputs go to the work copy
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$n-" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	if [ "$rc" -eq 0 ]; then
		echo "fuzz $n: ${runs:-0} runs in $secs s, ok"
		ok=$((ok + 1))
	else
		artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
		echo "fuzz $n: ${runs:-?} runs, CRASH (exit $rc): see ${artifact:-$log}"
		grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done
echo "fuzz: $ok ok, $failed failed"
[ "$failed" -eq 0 ]
