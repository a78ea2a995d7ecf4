#!/usr/bin/env bash
# make bench: the benchmark of issue 6. Builds the bench helpers, then runs
# scripts/bench_run.py, which prints a table and writes bench/results.json.
#
#   scripts/bench.sh            the full run (several minutes)
#   scripts/bench.sh --quick    a smoke run (about a minute), e.g. for CI
#   scripts/bench.sh --parts 1,4 --reps 3
#
# Needs root (BPF) and bpftrace (scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory all bench-bins
exec python3 scripts/bench_run.py "$@"
