"""A tiny Python worker for tests/e2e/test_python_generators.py: once a line
arrives on stdin, runs generators (count(n) yields n times, so runs n + 1
times: its start and each resume) and asyncio tasks (each awaits twice,
so runs 3 times, one of them raising), and calls a plain function from
each; prints what ran as one JSON line: {"runs": N (of count and task
together), "plain": calls of plain()}."""
import asyncio
import json
import sys
import time

plain_calls = 0


def plain(i):
    global plain_calls
    plain_calls += 1
    time.sleep(0.001)
    return i


def count(n):
    for i in range(n):
        yield plain(i)
    return n


async def task(i, fail):
    await asyncio.sleep(0.002 * (i + 1))
    plain(i)
    await asyncio.sleep(0.001)
    if fail:
        raise ValueError("task %d" % i)
    return i


async def main():
    return await asyncio.gather(*(task(i, i == 2) for i in range(4)), return_exceptions=True)


sys.stdin.readline()
runs = 0
for n in (3, 5):
    list(count(n))
    runs += n + 1
asyncio.run(main())
runs += 4 * 3
print(json.dumps({"runs": runs, "plain": plain_calls}), flush=True)
