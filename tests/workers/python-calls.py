"""A tiny Python worker for tests/e2e/test_python.py: calls its functions
from Python (inlined into the interpreter loop on 3.11), from C (map()),
nested, recursive, and ending by an exception, once a line arrives on
stdin. Each probed call records what it did; the record is printed as one
JSON line at the end, to compare with the spans tasktap made: {"calls": [...],
"wait_ns": how long the thread waited for a CPU while it made them}."""
import json
import sys
import time

calls = []


def note(name, start, raised):
    calls.append({"name": name, "ns": time.monotonic_ns() - start, "raised": raised})


def job(n):
    start = time.monotonic_ns()
    try:
        if n < 0:
            raise ValueError("negative job %d" % n)
        time.sleep(0.001)
        return n * 2
    except ValueError:
        note("job", start, True)
        raise
    finally:
        if n >= 0:
            note("job", start, False)


def rec(n):
    start = time.monotonic_ns()
    try:
        return 0 if n == 0 else 1 + rec(n - 1)
    finally:
        note("rec", start, False)


def run_delay_ns():
    """How long this thread has waited on a run queue, runnable but not running (schedstat)."""
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[1])


def unprobed(n):
    return n + 1


class Worker:
    def perform(self, n):
        start = time.monotonic_ns()
        raised = False
        try:
            time.sleep(0.002)
            if n == 10:
                try:
                    job(-2)  # raises, and perform handles it: perform succeeds
                except ValueError:
                    pass
            return job(-3 if n == 11 else n) + unprobed(n)  # n == 11: both raise
        except ValueError:
            raised = True
            raise
        finally:
            note("Worker.perform", start, raised)


def main():
    w = Worker()
    sys.stdin.readline()
    waited = run_delay_ns()
    for i in range(3):
        w.perform(i)  # Python -> Python, with a nested probed call
    list(map(job, [5, 6]))  # C -> Python
    rec(3)  # recursive: 4 nested calls
    try:
        job(-1)  # ends by an exception
    except ValueError:
        pass
    w.perform(10)
    try:
        w.perform(11)
    except ValueError:
        pass
    waited = run_delay_ns() - waited
    print(json.dumps({"calls": calls, "wait_ns": waited}), flush=True)


main()
