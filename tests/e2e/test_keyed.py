"""begin/end pairs with real BPF (tests/workers/keyed-worker.c): a step
begins in one function on the job's thread and ends in another function
on the thread that did the work, paired by key; parallel steps of one key
are told apart by the step.name both ends capture."""
import json
import os
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, duration_ms, write_spec

KEYED_WORKER = os.path.abspath(".output/keyed-worker")

SPEC = """\
keyspace: thumbs
targets:
  - binary: {worker}
    probes:
      - role: task
        symbol: run_job
        key: arg0
        attributes:
          task.name: str(arg1)
      - role: step
        begin:
          symbol: on_step_started
          key: arg0
          attributes:
            step.name: str(arg1)
        end:
          symbol: on_step_finished
          key: arg0
          attributes:
            step.name: str(arg1)
          error: arg2 != 0
"""

OK, ERROR = 0, 2  # status codes: UNSET unless an error, as instrumentation leaves it


class KeyedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=KEYED_WORKER), d)
            agent = Agent([spec, "--json"])
            agent.wait_attached()
            p = subprocess.run([KEYED_WORKER], capture_output=True, text=True, timeout=60,
                               check=True)
            time.sleep(0.2)
            cls.rc = agent.stop()
        cls.agent = agent
        cls.told = json.loads(p.stdout)
        cls.spans = agent.spans()

    def test_every_span_once(self):
        self.assertEqual(self.rc, 0, self.agent.stderr())
        # 2 tasks + 4 steps; every step's end found its begin
        self.assertEqual(len(self.spans), 6, self.agent.stdout())
        self.assertIn("6 spans, 12 events, 0 lost", self.agent.stderr())
        for s in self.spans:
            self.assertNotIn("tasktap.cut", attrs(s), s["name"])

    def test_steps_pair_by_key_and_step_name(self):
        for job in self.told["jobs"]:
            tasks = [s for s in self.spans if attrs(s)["code.function.name"] == "run_job"
                     and attrs(s)["task.id"] == job["key"]]
            self.assertEqual(len(tasks), 1)
            task = tasks[0]
            self.assertEqual(task["name"], job["name"])
            self.assertEqual(attrs(task)["tasktap.thread.tid"], job["tid"])
            steps = {attrs(s)["step.name"]: s for s in self.spans
                     if attrs(s)["code.function.name"] == "on_step_started"
                     and attrs(s)["task.id"] == job["key"]}
            self.assertEqual(sorted(steps), ["resize-large", "resize-small"])
            for want in job["steps"]:
                s = steps[want["name"]]
                a = attrs(s)
                self.assertEqual(s["name"], "%s.%s" % (job["name"], want["name"]))
                # ended by its own end: the time that step worked, within what the worker
                # timed from before its begin to after its end; its own status
                self.assertGreaterEqual(duration_ms(s), want["ms"], s["name"])
                self.assertLessEqual(duration_ms(s), want["window_ns"] / 1e6, s["name"])
                self.assertEqual(s["status"]["code"], ERROR if want["status"] else OK)
                if want["status"]:
                    self.assertIn("arg2 is %d" % want["status"], s["status"]["message"])
                self.assertEqual(a["step.attempt"], 1)
                # begun on the job's thread, ended on the step's own
                self.assertEqual(a["tasktap.thread.tid"], want["begin_tid"])
                self.assertNotEqual(want["end_tid"], want["begin_tid"])
                self.assertEqual(s.get("parentSpanId"), task["spanId"])
                self.assertEqual(s["traceId"], task["traceId"])
            # parallel: they overlap
            small, large = steps["resize-small"], steps["resize-large"]
            self.assertLess(int(large["startTimeUnixNano"]), int(small["endTimeUnixNano"]))


if __name__ == "__main__":
    unittest.main()
