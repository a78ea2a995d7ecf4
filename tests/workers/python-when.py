"""A tiny Python worker for tests/e2e/test_python_when.py: calls run(job, n),
fetch(job, n) and ship(job, n) with jobs of several queues, names and
numbers (one object has none of the attributes), once a line arrives on
stdin, and prints every call it made as one JSON line, to compare with the
spans a spec with `when: py(...)` filters made: {"calls": [{"fn", "id",
"queue", "name", "n", "raised"}, ...]}."""
import json
import sys

calls = []


class Job:
    def __init__(self, i, queue, name):
        self.id = "job-%d" % i
        self.queue = queue
        self.name = name


class Other:
    id = "other"


def note(fn, job, n, raised):
    calls.append({"fn": fn, "id": getattr(job, "id", None), "n": n, "raised": raised,
                  "queue": job.__dict__.get("queue"), "name": job.__dict__.get("name")})


def run(job, n):
    note("run", job, n, n == 3)
    if n == 3:
        raise ValueError("job %d" % n)  # job-4
    return n


def fetch(job, n):
    note("fetch", job, n, False)
    return n


def ship(job, n):
    note("ship", job, n, False)
    return n


def main():
    sys.stdin.readline()
    jobs = [Job(i, ("high", "low", "r\u00e9seau")[i % 3], ("tasks.resize", "mail.send")[i % 2])
            for i in range(8)]
    for i, job in enumerate(jobs):
        for fn in (run, fetch, ship):
            try:
                fn(job, i - 1)
            except ValueError:
                pass
    for fn in (run, fetch, ship):
        fn(Other(), 5)
    print(json.dumps({"calls": calls}), flush=True)


main()
