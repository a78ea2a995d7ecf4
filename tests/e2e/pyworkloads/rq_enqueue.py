"""Enqueues the RQ test's jobs with Queue.enqueue_call, each with its own id, after SIGUSR1
(tasktap attached). Usage: rq_enqueue.py REDIS_URL QUEUE PREFIX N_OK N_FAIL N_FLAKY MS.
Prints one line per job: its id and what it is; marks the queue "enqueued" in Redis."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from redis import Redis
from rq import Queue, Retry

import rq_jobs


def main():
    url, name, prefix = sys.argv[1:4]
    n_ok, n_fail, n_flaky, ms = (int(a) for a in sys.argv[4:8])
    redis = Redis.from_url(url)
    queue = Queue(name, connection=redis)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    print("ready", flush=True)
    signal.sigwait([signal.SIGUSR1])
    jobs = ([("ok", rq_jobs.ok_job, None)] * n_ok + [("fail", rq_jobs.fail_job, None)] * n_fail
            + [("flaky", rq_jobs.flaky_job, Retry(max=1))] * n_flaky)
    for i, (kind, func, retry) in enumerate(jobs):
        job_id = "%s-%s-%d" % (prefix, kind, i)
        queue.enqueue_call(func, args=(ms,), job_id=job_id, retry=retry, result_ttl=600,
                           failure_ttl=600)
        print(job_id, kind, flush=True)
    redis.set("tt:enqueued:" + name, 1)


if __name__ == "__main__":
    main()
