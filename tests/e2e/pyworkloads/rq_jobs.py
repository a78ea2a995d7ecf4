"""RQ jobs of the recipe's end-to-end test: one that succeeds, one that fails, and one that fails
its first attempt and succeeds on the retry (RQ's Retry). Each sleeps `ms` milliseconds."""
import time

from rq import get_current_job

import record


class JobFailed(Exception):
    pass


def ok_job(ms):
    time.sleep(ms / 1000)
    return ms


def fail_job(ms):
    time.sleep(ms / 1000)
    record.write(event="raise", id=get_current_job().id, type="JobFailed")
    raise JobFailed("failed on purpose")


def flaky_job(ms):
    job = get_current_job()
    time.sleep(ms / 1000)
    if job.retries_left:  # the first attempt: RQ retries it
        record.write(event="raise", id=job.id, type="ValueError")
        raise ValueError("flaky on purpose")
    return ms
