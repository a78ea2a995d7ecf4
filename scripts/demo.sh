#!/usr/bin/env bash
# make demo: trace the unmodified demo worker and print its waterfalls, and
# the address of the task view. From a terminal it keeps going (a task every
# few seconds) until Ctrl-C, so that the page has something to show.
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
page=$(sed -n 's|.*http: serving .* on \(http://[^ ]*\).*|\1/|p' "$out" | head -n 1)
[ -n "$page" ] && echo "demo: the task view is at $page (open it in a browser)" >&2

echo "demo: running .output/demo-worker --tasks 4 (no tracing code in it)" >&2
.output/demo-worker --tasks 4 2>/dev/null
if [ -t 0 ] && [ -n "$page" ]; then
	echo "demo: still tracing, one task every few seconds: see $page; Ctrl-C to stop" >&2
	trap 'kill -INT $agent 2>/dev/null || true' INT
	id=2001
	while kill -0 $agent 2>/dev/null; do
		.output/demo-worker --tasks 2 --scale 4 --first-id $id 2>/dev/null || break
		id=$((id + 2))
	done
fi
sleep 0.2
kill -INT $agent
wait $agent || true
trap - EXIT
tail -n 1 "$out" >&2
