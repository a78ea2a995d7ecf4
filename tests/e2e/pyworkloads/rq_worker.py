"""An RQ worker (fork per job: the work horse runs perform_job) that records each job execution
(record.py). Usage: rq_worker.py REDIS_URL QUEUE. It waits for SIGUSR1 (tasktap attached), then
for the producer's "enqueued" mark in Redis, then works the queue until it is empty (burst)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from redis import Redis
from rq import Queue, Worker

import record

perform_job = Worker.perform_job


def recorded_perform_job(self, job, queue):
    ok, event = record.timed(lambda: perform_job(self, job, queue), event="run", id=job.id)
    record.write(ok=bool(ok), name=job.func_name, **event)
    return ok


Worker.perform_job = recorded_perform_job


def main():
    url, name = sys.argv[1], sys.argv[2]
    redis = Redis.from_url(url)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    print("ready", flush=True)
    signal.sigwait([signal.SIGUSR1])
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])
    deadline = time.monotonic() + 60
    while not redis.get("tt:enqueued:" + name) and time.monotonic() < deadline:
        time.sleep(0.01)
    worker = Worker([Queue(name, connection=redis)], connection=redis)
    worker.work(burst=True, with_scheduler=False)


if __name__ == "__main__":
    main()
