"""What a Python workload did, written by the workload itself as it runs: one JSON line per event,
appended to the file named by $TT_RECORD (O_APPEND: lines from forked work horses and pool
children never interleave). The tests compare tasktap's spans with these lines job by job.

Events: {"event": "run", "id", "attempt", "pid", "start_ns", "end_ns", "wait_ns", "ok", "name"}
for each execution of a job (the call the recipe's task span covers, timed by a wrapper around
it; wait_ns: how long the thread waited for a CPU meanwhile), and {"event": "raise", "id", "type"}
when a job function raises."""
import json
import os
import time


def write(**event):
    line = (json.dumps(event, sort_keys=True) + "\n").encode()
    fd = os.open(os.environ["TT_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def run_delay_ns():
    """How long this thread has waited on a run queue, runnable but not running (schedstat)."""
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[1])


def timed(call, **fields):
    """Runs call(), recording its wall-clock start and end, and how long the thread waited for
    a CPU in between (read outside the timed part); returns (its result, the event)."""
    waited = run_delay_ns()
    start = time.time_ns()
    result = call()
    end = time.time_ns()
    waited = run_delay_ns() - waited
    return result, dict(fields, start_ns=start, end_ns=end, wait_ns=waited, pid=os.getpid())


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
