"""The Celery app and tasks of the recipe's end-to-end test (broker and result backend: the test's
redis-server, from $TT_REDIS_URL): one that succeeds, one that fails, and one that fails its first
attempt and succeeds when retried (self.retry()). Each sleeps `ms` milliseconds."""
import os
import time

from celery import Celery

import record

app = Celery("celery_tasks", broker=os.environ["TT_REDIS_URL"],
             backend=os.environ["TT_REDIS_URL"])
app.conf.update(worker_hijack_root_logger=False, broker_connection_retry_on_startup=True,
                task_acks_late=False, worker_prefetch_multiplier=1, result_expires=600)


class JobFailed(Exception):
    pass


@app.task
def ok_task(ms):
    time.sleep(ms / 1000)
    return ms


@app.task(bind=True)
def fail_task(self, ms):
    time.sleep(ms / 1000)
    record.write(event="raise", id=self.request.id, type="JobFailed")
    raise JobFailed("failed on purpose")


@app.task(bind=True, max_retries=1)
def flaky_task(self, ms):
    time.sleep(ms / 1000)
    if not self.request.retries:
        # self.retry() raises Retry carrying this exception: the task failed with it
        record.write(event="raise", id=self.request.id, type="ValueError")
        raise self.retry(exc=ValueError("flaky on purpose"), countdown=0)
    return ms
