"""A full ring buffer: events are lost, counted in BPF (in all and per
hook) and reported with the hooks that lost them; the agent keeps going and
what arrived is still assembled correctly. Both paths of a call: one event
per call (the default: a call is lost or arrives whole) and entry and
return events (TASKTAP_SESSION=0: a span may lose its end)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import Agent, write_spec

BURST = os.path.abspath(".output/burst")
SPEC = """service: burst
targets:
  - binary: %s
    probes:
      - role: task
        symbol: tick
        attributes:
          tick.name: str(arg1)
""" % BURST


class OverflowTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def tiny_ring(self, env, until_cut):
        """Bursts of 300000 calls traced with `env` into a 4 KB ring, until a
        span lost its end (`until_cut`; each run does with a chance of ~5
        in 6) or once. Checks what every path must say of its losses (by
        hook and reason in /metrics, /health and the reports) and returns
        (spans, events, lost, runs, the spans, stderr)."""
        spec = write_spec(SPEC, self.dir)
        agent = Agent([spec, "--json", "--ring-size", "4096"], env=env)
        agent.wait_attached()
        runs = 0
        while runs < (6 if until_cut else 1):
            subprocess.run([BURST, "300000"], check=True, timeout=120)
            runs += 1
            time.sleep(1.2)  # past one housekeeping tick, which reports losses
            if '"tasktap.cut","value":{"stringValue":"lost"}' in agent.stdout().replace(" ", ""):
                break
        # /metrics and /health say it too, by hook and reason (refreshed once a second)
        _, _, metrics = agent.get("/metrics")
        m = re.search(r'^tasktap_hook_event_lost_total\{code_function_name="tick",'
                      r'error_type="ring_full"\} (\d+)$', metrics, re.M)
        self.assertIsNotNone(m, metrics)
        self.assertGreater(int(m.group(1)), 0)
        _, _, body = agent.get("/health")
        health = json.loads(body)
        by_hook = health["events_lost_by_hook"]
        self.assertEqual([(h["hook"], h["function"], h["reason"]) for h in by_hook],
                         [(1, "tick", "ring_full")], body)
        self.assertEqual(by_hook[0]["count"], health["events_lost_by_reason"]["ring_full"])
        self.assertGreater(by_hook[0]["count"], 0)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        err = agent.stderr()
        self.assertRegex(err, r"\d+ events lost: the ring buffer was full \(raise --ring-size\)")
        # each report names the hooks that lost them, and how many each
        reports = re.findall(r"(\d+) events lost: the ring buffer was full \(raise --ring-size\)"
                             r": (.*)", err)
        self.assertTrue(reports, err)
        for total, hooks in reports:
            per_hook = re.findall(r"hook (\d+) '([^']*)' (\d+)", hooks)
            self.assertEqual([(h, name) for h, name, _ in per_hook], [("1", "tick")], hooks)
            self.assertEqual(sum(int(n) for _, _, n in per_hook), int(total))
        m = re.search(r"(\d+) spans, (\d+) events, (\d+) lost", err)
        self.assertIsNotNone(m, err)
        spans, events, lost = map(int, m.groups())
        self.assertGreater(lost, 0)
        self.assertGreater(spans, 0)
        lines = agent.spans()
        self.assertEqual(len(lines), spans)
        self.assertNotIn("exited with status 0", agent.stdout())
        return spans, events, lost, runs, lines, err

    def test_tiny_ring_loses_whole_calls_and_says_so(self):
        # one event per call (the default): a call is lost whole, or arrives whole
        spans, events, lost, runs, lines, err = self.tiny_ring(None, until_cut=False)
        # every call was either delivered or counted as lost, one event each
        self.assertEqual(events + lost, 300000 * runs)
        self.assertEqual(spans, events)
        for s in lines:
            self.assertEqual(s["name"], "tick")
            self.assertEqual(s["status"]["code"], 0)
            self.assertNotIn("tasktap.cut", [a["key"] for a in s["attributes"]], s)
        self.assertNotIn("spans ended without their end", err)

    def test_tiny_ring_loses_events_and_says_so_two_events(self):
        # entry and return events: a run may lose only starts, or lose ends only where a
        # later start followed
        spans, events, lost, runs, lines, err = self.tiny_ring({"TASKTAP_SESSION": "0"},
                                                               until_cut=True)
        # every event was either delivered or counted as lost
        self.assertEqual(events + lost, 2 * 300000 * runs)
        whole = [s for s in lines if not any(a["key"] == "tasktap.cut" for a in s["attributes"])]
        self.assertGreater(len(whole), 0)
        # a span whose end was lost is no failure of the worker: it says why it was cut
        cut = {}
        for s in lines:
            for a in s["attributes"]:
                if a["key"] == "tasktap.cut":
                    cut.setdefault(a["value"]["stringValue"], []).append(s)
        self.assertIn("lost", cut)
        for s in cut.get("lost", []) + cut.get("unwound", []):
            self.assertNotEqual(s["status"]["code"], 2, s)
        self.assertNotIn("exit", cut)  # the process exited normally: no span failed with it
        m = re.search(r"(\d+) spans ended without their end \(tasktap.cut: lost\)", err)
        self.assertIsNotNone(m, err)
        self.assertEqual(int(m.group(1)), len(cut["lost"]))
        for s in whole:
            self.assertEqual(s["name"], "tick")
            self.assertEqual(s["status"]["code"], 0)

    def default_ring(self, env):
        spec = write_spec(SPEC, self.dir)
        agent = Agent([spec, "--json"], env=env)
        agent.wait_attached()
        subprocess.run([BURST, "100000"], check=True, timeout=120)
        time.sleep(0.2)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        self.assertEqual(len(agent.spans()), 100000)
        return agent.stderr()

    def test_default_ring_loses_nothing_at_this_rate(self):
        # one event per call (the default)
        self.assertIn("100000 spans, 100000 events, 0 lost", self.default_ring(None))

    def test_default_ring_loses_nothing_at_this_rate_two_events(self):
        self.assertIn("100000 spans, 200000 events, 0 lost",
                      self.default_ring({"TASKTAP_SESSION": "0"}))

if __name__ == "__main__":
    unittest.main()
