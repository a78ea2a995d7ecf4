"""USDT probes with real BPF, on tests/workers/usdt-worker.c: a `usdt:` +
`end:` pair (paired per thread), a point probe, a `when:` filter on both
ends of the pair, an `error:` read at the end, and a probe guarded by its
semaphore — which the worker sees set only while tasktap is attached — in
a process started after tasktap and in one already running before it."""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, duration_ms, write_spec

USDT_WORKER = os.path.abspath(".output/usdt-worker")

SPEC = """\
service: usdt-worker
targets:
  - binary: {worker}
    probes:
      - role: task
        usdt: ttw:job_start
        end: ttw:job_end
        key: arg0
        when: str(arg1) != "skip*"
        attributes:
          task.name: str(arg1)
        error: arg2 != 0
      - role: span
        usdt: ttw:tick
        name: tick
        attributes:
          tick: arg0
      - role: span
        usdt: ttw:expensive
        name: expensive
        attributes:
          job: arg0
          cost: arg1
"""

OK, ERROR = 1, 2


class UsdtTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.spec = write_spec(SPEC.format(worker=USDT_WORKER), self.dir.name)

    def tearDown(self):
        self.dir.cleanup()

    def check_spans(self, spans, told):
        jobs = told["jobs"]
        mine = [s for s in spans if s["resource"]["process.pid"] == told["pid"]]
        tasks = {attrs(s)["task.id"]: s for s in mine if attrs(s)["code.function"] == "ttw:job_start"}
        kept = [j for j in jobs if not j["name"].startswith("skip")]
        # the filter dropped both ends of the skipped jobs
        self.assertEqual(sorted(tasks), sorted(str(j["id"]) for j in kept))
        for j in kept:
            t = tasks[str(j["id"])]
            self.assertEqual(t["name"], j["name"])
            self.assertEqual(attrs(t)["task.name"], j["name"])
            self.assertEqual(t["status"]["code"], ERROR if j["status"] else OK)
            if j["status"]:
                self.assertIn("arg2 is %d" % j["status"], t["status"]["message"])
            self.assertNotIn("tasktap.cut", attrs(t))
            self.assertGreaterEqual(duration_ms(t), 30)  # the job sleeps 20 + 10 ms
        ticks = [s for s in mine if s["name"] == "tick"]
        self.assertEqual(sorted(attrs(s)["tick"] for s in ticks),
                         sorted(j["id"] * 10 for j in jobs))
        for s in ticks:
            self.assertEqual(s["startTimeUnixNano"], s["endTimeUnixNano"])  # a point
            job = str(attrs(s)["tick"] // 10)
            if job in tasks:  # inside its job's span, on the same thread
                self.assertEqual(s.get("parentSpanId"), tasks[job]["spanId"])
                self.assertEqual(s["traceId"], tasks[job]["traceId"])
        # the semaphore: set by tasktap, so the guarded probe fired for every job
        self.assertTrue(told["semaphore_seen"])
        costly = {attrs(s)["job"]: attrs(s)["cost"] for s in mine if s["name"] == "expensive"}
        self.assertEqual(costly, {j["id"]: j["cost"] for j in jobs})
        self.assertTrue(all(j["cost"] > 0 for j in jobs))

    def test_semaphore_is_clear_without_tasktap(self):
        p = subprocess.run([USDT_WORKER, "--jobs", "2"], capture_output=True, text=True,
                           timeout=30, check=True)
        told = json.loads(p.stdout)
        self.assertFalse(told["semaphore_seen"])
        self.assertEqual([j["cost"] for j in told["jobs"]], [0, 0])

    def test_process_started_after_tasktap(self):
        agent = Agent([self.spec, "--json"])
        agent.wait_attached()
        p = subprocess.run([USDT_WORKER, "--jobs", "6"], capture_output=True, text=True,
                           timeout=60, check=True)
        time.sleep(0.2)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        told = json.loads(p.stdout)
        self.check_spans(agent.spans(), told)
        # 4 kept jobs (start + end), 6 ticks, 6 expensive points
        self.assertIn("16 spans, 20 events, 0 lost", agent.stderr())

    def test_process_running_before_tasktap(self):
        worker = subprocess.Popen([USDT_WORKER, "--jobs", "4", "--first-id", "11",
                                   "--wait-signal"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(worker.stderr.readline().strip(), "ready")
            agent = Agent([self.spec, "--json"])
            agent.wait_attached()
            worker.send_signal(signal.SIGUSR1)
            out, _ = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        self.assertEqual(worker.returncode, 0)
        time.sleep(0.2)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        self.check_spans(agent.spans(), json.loads(out))

    def test_pid_target(self):
        worker = subprocess.Popen([USDT_WORKER, "--jobs", "3", "--first-id", "21",
                                   "--wait-signal"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(worker.stderr.readline().strip(), "ready")
            agent = Agent([self.spec, "--json", "--pid", str(worker.pid)])
            agent.wait_attached()
            worker.send_signal(signal.SIGUSR1)
            out, _ = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        # the agent stops by itself once its only process is gone
        self.assertEqual(agent.wait(30), 0, agent.stderr())
        self.check_spans(agent.spans(), json.loads(out))


if __name__ == "__main__":
    unittest.main()
