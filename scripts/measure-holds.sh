#!/usr/bin/env bash
# The longest time a worker stays stopped at exec for discovery, from its
# exec to the SIGCONT that continues it (tests/bench/holdmeter), in four
# cases: the agent healthy (workers one after another), the agent stopped
# (SIGSTOP), the agent SIGKILLed while workers start, and a --pin agent
# SIGKILLed and started again while they start. Needs root.
#
#   scripts/measure-holds.sh [WORKERS]      (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory all .output/bench/holdmeter >/dev/null
N=${1:-30}
dir=$(mktemp -d)
pin=/sys/fs/bpf/tasktap-measure-$$
trap 'rm -rf "$dir" "$pin"' EXIT
name=tthm-$$
cp .output/demo-worker "$dir/$name"
printf 'service: demo-worker\nkeyspace: demo\ntargets:\n  - comm: %s\n    probes:\n      - role: task\n        symbol: run_task\n        key: arg0\n' \
	"$name" >"$dir/spec.yaml"

worker() { "$dir/$name" --tasks 1 --scale 0.02 >/dev/null 2>&1; }

agent() { # agent ARGS...: starts one, sets $agent to its pid, returns once it runs its loop
	.output/tasktap run "$dir/spec.yaml" --json --http 0 "$@" >/dev/null 2>"$dir/agent.err" &
	agent=$!
	until grep -q 'tracing' "$dir/agent.err"; do sleep 0.1; done
	sleep 0.5
}

measure() { # measure CASE FUNCTION
	.output/bench/holdmeter "$name" >"$dir/meter" 2>/dev/null &
	local meter=$!
	sleep 1
	"$2"
	sleep 2
	kill -INT "$meter"
	wait "$meter" || true
	printf '%-26s %s\n' "$1:" "$(cat "$dir/meter")"
}

healthy() {
	agent
	for _ in $(seq "$N"); do worker; done
	kill -INT "$agent"; wait "$agent" || true
}

workers=()
start_worker() { worker & workers+=($!); }
wait_workers() { wait "${workers[@]}" || true; workers=(); }

stalled() {
	agent
	kill -STOP "$agent"
	for _ in $(seq "$N"); do start_worker; done
	wait_workers
	kill -CONT "$agent"; kill -INT "$agent"; wait "$agent" || true
}

killed() {
	agent
	for i in $(seq "$N"); do
		start_worker
		if [ "$i" = $((N / 2)) ]; then kill -KILL "$agent"; fi
	done
	wait "$agent" 2>/dev/null || true
	wait_workers
}

killed_then_restarted() {
	agent --pin "$pin"
	for i in $(seq "$N"); do
		start_worker
		if [ "$i" = $((N / 2)) ]; then
			kill -KILL "$agent"; wait "$agent" 2>/dev/null || true
			agent --pin "$pin"
		fi
	done
	wait_workers
	kill -INT "$agent"; wait "$agent" || true
}

measure "agent healthy" healthy
measure "agent stopped (SIGSTOP)" stalled
measure "agent SIGKILLed" killed
measure "--pin agent restarted" killed_then_restarted
