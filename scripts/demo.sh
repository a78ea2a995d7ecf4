#!/usr/bin/env bash
# make demo: trace the unmodified demo worker and print its waterfalls.
set -euo pipefail
cd "$(dirname "$0")/.."

out=.output/demo-agent.err
.output/tasktap run recipes/demo-worker.yaml 2>"$out" &
agent=$!
trap 'kill -INT $agent 2>/dev/null || true' EXIT

# the probes attach to the file, so the worker may start once they are in
for _ in $(seq 100); do
	grep -q "attached" "$out" && break
	kill -0 $agent 2>/dev/null || { cat "$out" >&2; exit 1; }
	sleep 0.1
done
grep -q "attached" "$out" || { cat "$out" >&2; echo "demo: tasktap did not attach" >&2; exit 1; }
cat "$out" >&2

echo "demo: running .output/demo-worker --tasks 4 (no tracing code in it)" >&2
.output/demo-worker --tasks 4 2>/dev/null
sleep 0.2
kill -INT $agent
wait $agent || true
trap - EXIT
tail -n 1 "$out" >&2
