"""Sends the Celery test's tasks with Task.apply_async, each with its own id, after SIGUSR1
(tasktap attached), and waits for each one's result. Usage: celery_send.py QUEUE PREFIX N_OK
N_FAIL N_FLAKY MS, with $TT_REDIS_URL. Prints one line per task: its id, kind and final state."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from celery_tasks import fail_task, flaky_task, ok_task


def main():
    queue, prefix = sys.argv[1:3]
    n_ok, n_fail, n_flaky, ms = (int(a) for a in sys.argv[3:7])
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    print("ready", flush=True)
    signal.sigwait([signal.SIGUSR1])
    tasks = [("ok", ok_task)] * n_ok + [("fail", fail_task)] * n_fail + \
        [("flaky", flaky_task)] * n_flaky
    sent = []
    for i, (kind, task) in enumerate(tasks):
        task_id = "%s-%s-%d" % (prefix, kind, i)
        sent.append((kind, task.apply_async(args=(ms,), task_id=task_id, queue=queue)))
    for kind, result in sent:
        result.get(timeout=60, propagate=False)
        print(result.id, kind, result.state, flush=True)


if __name__ == "__main__":
    main()
