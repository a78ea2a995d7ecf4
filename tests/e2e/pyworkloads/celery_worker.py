"""A Celery worker (prefork pool: a child process runs each task) that records each task
execution in the pool child (record.py). Usage: celery_worker.py QUEUE, with $TT_REDIS_URL. It
waits for SIGUSR1 (tasktap attached), then works until SIGTERM."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import celery.app.trace
import celery.worker.request

import record
from celery_tasks import app

traced = celery.app.trace.fast_trace_task


def fast_trace_task(task, uuid, request, body, *args, **kwargs):
    result, event = record.timed(lambda: traced(task, uuid, request, body, *args, **kwargs),
                                 event="run", id=uuid, name=task)
    record.write(ok=result[0] == 0, attempt=request.get("retries", 0) + 1, **event)
    return result


# the pool sends this function to its child by name (pickle): both names must be this one
celery.app.trace.fast_trace_task = fast_trace_task
celery.worker.request.fast_trace_task = fast_trace_task


def main():
    queue = sys.argv[1]
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    print("ready", flush=True)
    signal.sigwait([signal.SIGUSR1])
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])
    app.worker_main(["worker", "--pool", "prefork", "--concurrency", "1", "--queues", queue,
                     "--without-heartbeat", "--without-mingle", "--without-gossip",
                     "--loglevel", "WARNING", "--hostname", "tt-%s@localhost" % queue])


if __name__ == "__main__":
    main()
