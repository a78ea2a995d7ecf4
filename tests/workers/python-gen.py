"""A tiny Python worker for tests/e2e/test_python_generators.py: once a line
arrives on stdin, runs generators (count(n) yields n times, so runs n + 1
times: its start and each resume) and asyncio tasks run together (each
awaits twice, so runs 3 times; task 2 raises), and calls a plain function
from each; prints what ran as one JSON line: {"runs": N (of count and task
together), "plain": calls of plain(), "tasks": {i: [ns from its first
start to its end, raised]}, "counts": {n: ns from the first next() into
it to its end}, "early": the n of count(n) started before the line came
(it gets no span: its start was not seen)}; plain() calls and runs are
counted from the line on."""
import asyncio
import json
import sys
import time

plain_calls = 0
tasks = {}
counts = {}


def plain(i):
    global plain_calls
    plain_calls += 1
    time.sleep(0.001)
    return i


def count(n):
    t0 = time.monotonic_ns()
    for i in range(n):
        yield plain(i)
    counts[n] = time.monotonic_ns() - t0
    return n


async def task(i, fail):
    t0 = time.monotonic_ns()
    await asyncio.sleep(0.002 * (i + 1))
    plain(i)
    await asyncio.sleep(0.001)
    tasks[i] = [time.monotonic_ns() - t0, fail]
    if fail:
        raise ValueError("task %d" % i)
    return i


async def main():
    return await asyncio.gather(*(task(i, i == 2) for i in range(4)), return_exceptions=True)


def run_delay_ns():
    """How long this thread has waited on a run queue, runnable but not running (schedstat)."""
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[1])


# started before the agent attaches: resumed, and ended, after it did
early = count(4)
next(early)
sys.stdin.readline()
waited = run_delay_ns()
plain_calls = 0
runs = 0
for n in (3, 5):
    list(count(n))
    runs += n + 1
asyncio.run(main())
runs += 4 * 3
list(early)
runs += 4
print(json.dumps({"runs": runs, "plain": plain_calls, "tasks": tasks, "counts": counts,
                  "early": 4, "wait_ns": run_delay_ns() - waited}), flush=True)
