"""Sends the Celery test's tasks with Task.apply_async, each with its own id, and waits for each
one's result. Usage: celery_send.py QUEUE PREFIX N_OK N_FAIL N_FLAKY MS, with $TT_REDIS_URL.
Commands on stdin: "warm ID" sends one quick ok_task with that id and prints "ID done" when it
ran (the test sends these until tasktap has attached in the worker's pool child); "go" sends the
test's tasks and prints one line per task: its id, kind and final state."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from celery_tasks import fail_task, flaky_task, ok_task


def main():
    queue, prefix = sys.argv[1:3]
    n_ok, n_fail, n_flaky, ms = (int(a) for a in sys.argv[3:7])
    print("ready", flush=True)
    for line in sys.stdin:
        if line.startswith("warm "):
            warm_id = line.split()[1]
            ok_task.apply_async(args=(1,), task_id=warm_id, queue=queue).get(timeout=60)
            print(warm_id, "done", flush=True)
        else:
            break
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
