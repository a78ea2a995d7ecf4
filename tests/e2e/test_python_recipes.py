"""The Python recipes against the real Debian packages: recipes/rq.yaml with python3-rq and
recipes/celery.yaml with python3-celery, both on python3-redis and a redis-server of the test's
own, the workers run by Debian's /usr/bin/python3.11. The spans are compared job by job with
what the workload recorded itself doing (tests/e2e/pyworkloads/record.py): ids, count, status,
exception type, attempts, and each attempt's duration within 1 ms (besides the time the worker's
thread waited for a CPU, which a loaded machine adds to the call but not to the span)

RQ: one agent traces the interpreter (the producer, the worker and each work horse it forks).
Celery: one agent traces the producer and one the worker (--pid, as on two nodes), whose pool
child it covers; the test waits until a warm-up task shows the child is traced."""
import os
import shutil
import sys
import tempfile
import time
import unittest

from harness import Agent, attrs
from pyworkers import WORKLOADS, RedisServer, Workload

sys.path.insert(0, WORKLOADS)
import record  # noqa: E402

RQ_RECIPE = os.path.abspath("recipes/rq.yaml")
README = os.path.abspath("README.md")
CELERY_RECIPE = os.path.abspath("recipes/celery.yaml")

N_OK, N_FAIL, N_FLAKY, MS = 3, 2, 2, 20
TOLERANCE_NS = 1_000_000  # durations agree within 1 ms, besides the time waited for a CPU

STATUS_ERROR = 2


class RecipeTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tt-pyrecipe-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        self.record = os.path.join(self.dir, "record.jsonl")
        self.queue = "ttq%d" % os.getpid()

    def start(self, script, args, env=None):
        w = Workload(script, args, self.record, env)
        self.addCleanup(w.stop)
        return w

    def agent(self, spec, pid=None):
        a = Agent([spec, "--json"] + (["--pid", str(pid)] if pid else []))
        self.addCleanup(a.stop)
        a.wait_attached()
        return a

    def runs(self):
        """The workload's job executions by id, in order, and the exceptions its jobs raised."""
        runs, raised = {}, {}
        for e in sorted(record.read(self.record), key=lambda e: e.get("start_ns", 0)):
            if e["id"].startswith("warm"):
                continue
            if e["event"] == "run":
                runs.setdefault(e["id"], []).append(e)
            else:
                raised.setdefault(e["id"], []).append(e["type"])
        return runs, raised

    def compare(self, producer_spans, worker_spans, sent, destination, error_types):
        """Job by job: one publish span, then one task span per execution the workload
        recorded, in the publish's trace, with its attempt, status and duration."""
        runs, raised = self.runs()
        self.assertEqual(sorted(runs), sorted(sent))
        def key_of(span):
            return attrs(span).get("task.id", "")

        every = producer_spans + (worker_spans if worker_spans is not producer_spans else [])
        publishes = [s for s in every if s["kind"] == 4 and key_of(s) in sent]
        tasks = [s for s in worker_spans if s["kind"] != 4 and not key_of(s).startswith("warm")]
        # a retry puts the job back on its queue: a second publish of it, by the worker
        self.assertEqual(len(publishes), sum(len(r) for r in runs.values()), producer_spans)
        self.assertEqual(len(tasks), sum(len(r) for r in runs.values()), worker_spans)
        for job_id, kind in sent.items():
            with self.subTest(job=job_id):
                pubs = [s for s in publishes if key_of(s) == job_id]
                pub = pubs[0]
                for p in pubs:
                    self.assertEqual(p["name"], "publish " + destination)
                    self.assertEqual(attrs(p)["messaging.destination.name"], destination)
                    self.assertEqual(p["traceId"], pub["traceId"])
                self.assertEqual(len(pubs), 2 if kind == "flaky" else 1)
                mine = sorted((s for s in tasks if attrs(s).get("task.id") == job_id),
                              key=lambda s: int(s["startTimeUnixNano"]))
                want = runs[job_id]
                self.assertEqual(len(mine), len(want), mine)
                self.assertEqual(len(want), 2 if kind == "flaky" else 1)
                for attempt, (span, run) in enumerate(zip(mine, want), 1):
                    a = attrs(span)
                    self.assertEqual(span["traceId"], pub["traceId"])
                    self.assertEqual(a["task.attempt"], attempt)
                    self.assertEqual(a["task.name"], run["name"])
                    # made in the process that ran it: RQ's work horse, Celery's pool child
                    self.assertEqual(span["resource"]["process.pid"], run["pid"])
                    span_ns = int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"])
                    run_ns = run["end_ns"] - run["start_ns"]
                    # the span is the call, within 1 ms: the wrapper's clock reads and the call
                    # around it take microseconds, but the thread may wait for a CPU in between
                    why = "span %d ns, the call %d ns (%d ns waiting for a CPU)" % (
                        span_ns, run_ns, run["wait_ns"])
                    self.assertLess(span_ns - run_ns, TOLERANCE_NS, why)
                    self.assertLess(run_ns - span_ns, TOLERANCE_NS + run["wait_ns"], why)
                    failed = not run["ok"]
                    self.assertEqual(span.get("status", {}).get("code") == STATUS_ERROR, failed,
                                     span)
                    if failed:
                        # "JobFailed", or with its module: "celery_tasks.JobFailed"
                        self.assertRegex(a["exception.type"], r"(^|\.)%s$" % error_types[kind])
                        # the error's class is the exception's, not the annotate's function
                        self.assertEqual(a["error.type"], a["exception.type"])
                        events = span.get("events", [])
                        self.assertEqual([attrs(e)["exception.type"] for e in events],
                                         [a["exception.type"]])
                        self.assertIn(error_types[kind].split(".")[-1], raised[job_id])
                    else:
                        self.assertNotIn("error.type", a)
                        self.assertNotIn("exception.type", a)
                    # every value the recipe reads was readable
                    self.assertNotIn("tasktap.unreadable", a)


def without_comments(text):
    """The spec's lines without comments, blank lines or trailing spaces."""
    lines = (line.split(" #")[0].rstrip() for line in text.splitlines())
    return [line for line in lines if line and not line.lstrip().startswith("#")]


def readme_python_example():
    """The spec the README's "Python workers" section shows."""
    with open(README) as f:
        text = f.read()
    section = text[text.index("### Python workers"):]
    return section[section.index("```yaml\n") + 8:section.index("```\n", 8)]


class ReadmeTest(unittest.TestCase):
    def test_the_readmes_python_example_is_the_rq_recipe(self):
        with open(RQ_RECIPE) as f:
            recipe = f.read()
        self.assertEqual(without_comments(readme_python_example()), without_comments(recipe))


class RQTest(RecipeTest):
    def test_rq_jobs_succeed_fail_and_retry_each_a_span_per_attempt(self):
        worker = self.start("rq_worker.py", [self.redis.url, self.queue])
        producer = self.start("rq_enqueue.py", [self.redis.url, self.queue, "rq", N_OK, N_FAIL,
                                                N_FLAKY, MS])
        agent = self.agent(RQ_RECIPE)
        producer.go()
        worker.go()
        rc, out = producer.wait(60)
        self.assertEqual(rc, 0)
        sent = dict(line.split() for line in out.splitlines())
        rc, _ = worker.wait(60)  # a burst worker: it ends when the queue is empty
        self.assertEqual(rc, 0)
        runs, _ = self.runs()
        spans = self.wait_spans(agent, sum(len(r) for r in runs.values()) + len(sent))
        self.compare(spans, spans, sent, self.queue, {"fail": "JobFailed", "flaky": "ValueError"})
        # each job ran in a work horse of its own, forked by the worker
        pids = {run["pid"] for r in runs.values() for run in r}
        self.assertEqual(len(pids), sum(len(r) for r in runs.values()))
        self.assertNotIn(worker.pid, pids)

    def wait_spans(self, agent, n, timeout=30):
        """The agent's spans once it has written n (they come as each call ends)."""
        deadline = time.monotonic() + timeout
        while len(agent.spans()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        return agent.spans()


class CeleryTest(RecipeTest):
    def test_celery_tasks_succeed_fail_and_retry_each_a_span_per_attempt(self):
        env = {"TT_REDIS_URL": self.redis.url}
        worker = self.start("celery_worker.py", [self.queue], env)
        producer = self.start("celery_send.py", [self.queue, "cel", N_OK, N_FAIL, N_FLAKY, MS],
                              env)
        near = self.agent(CELERY_RECIPE, producer.pid)
        far = self.agent(CELERY_RECIPE, worker.pid)
        worker.go()
        # the pool child is forked once the worker is up: wait until a task of it is traced
        deadline = time.monotonic() + 60
        for n in range(1000):
            self.assertEqual(producer.say("warm warm-%d" % n), "warm-%d done\n" % n)
            if any(attrs(s).get("task.id", "").startswith("warm") for s in far.spans()):
                break
            self.assertLess(time.monotonic(), deadline, far.stderr())
        producer.proc.stdin.write("go\n")
        producer.proc.stdin.close()
        rc, out = producer.wait(90)
        self.assertEqual(rc, 0)
        sent = {}
        for line in out.splitlines():
            task_id, kind, state = line.split()
            sent[task_id] = kind
            self.assertEqual(state, "FAILURE" if kind == "fail" else "SUCCESS")
        worker.stop()  # warm shutdown: the pool child ends, then the worker
        self.assertEqual(worker.proc.returncode, 0)
        self.assertEqual(near.wait(30), 0, near.stderr())
        self.assertEqual(far.wait(30), 0, far.stderr())
        self.compare(near.spans(), far.spans(), sent, self.queue,
                     {"fail": "JobFailed", "flaky": "ValueError"})


if __name__ == "__main__":
    unittest.main()
