"""A tiny Python worker for tests/e2e/test_python.py's values: run_job(job, n)
is called (with a keyword argument) with jobs whose attributes are a str, an int (small, large and
negative), bytes, a non-ASCII str; one job's instance dict was
materialized (job.__dict__), one object lacks the attributes. Prints what
each call was given, as JSON, to compare with the spans' attributes."""
import json
import sys


class Job:
    def __init__(self, i):
        self._id = "job-%d" % i
        self.func_name = "tasks.resize"
        self.attempt = i * 1000003
        self.payload = b"\x01abc"
        self.neg = -42 - i
        self.title = "r\u00e9sum\u00e9"
        self.meta = {"queue": "default", "trace": "t-%d" % i, "retries": i}


class Other:
    pass


def run_job(job, n, **options):
    local = "set later"
    return n + len(local) + len(options)


def main():
    sys.stdin.readline()
    given = []
    for i in range(3):
        job = Job(i)
        if i == 2:
            job.__dict__["extra"] = 1  # a real dict now, not the inline values
        run_job(job, i, timeout=30 + i)
        given.append({"id": job._id, "name": job.func_name, "attempt": job.attempt,
                      "neg": job.neg, "n": i, "trace": job.meta["trace"],
                      "timeout": 30 + i})
    run_job(Other(), 7)
    print(json.dumps(given), flush=True)


main()
