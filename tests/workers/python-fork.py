"""A tiny fork-per-job Python worker for tests/e2e/test_python_versions.py:
once a line arrives on stdin, forks three children (as RQ's work horses),
each calling job() twice, then calls job() itself; prints the children's
pids and how many calls each process made, as JSON."""
import json
import os
import sys
import time


def job(n):
    time.sleep(0.002)
    return n


def main():
    sys.stdin.readline()
    calls = {}
    for i in range(3):
        pid = os.fork()
        if pid == 0:
            # as a work horse sets up before its job: a child the agent could
            # not attach within its hold deadline (a loaded machine) is still
            # attached before its calls
            time.sleep(0.2)
            job(i)
            job(i + 10)
            os._exit(0)
        os.waitpid(pid, 0)
        calls[pid] = 2
    job(99)
    calls[os.getpid()] = 1
    print(json.dumps(calls), flush=True)


main()
