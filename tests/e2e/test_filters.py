"""`when:` filters run in BPF: calls that fail them produce no event at all
(the agent's summary counts the events that reached it), and the calls that
pass keep their captures, including return-time ones. Integer compare,
string equality, prefix and its negation, on tests/workers/capture-worker.c
called many times with different names."""
import collections
import json
import os
import re
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, write_spec

CAPTURE_WORKER = os.path.abspath(".output/capture-worker")
CALLS = 400

SPEC = """\
targets:
  - binary: {worker}
    probes:
      - role: span
        symbol: filter_int
        when: arg0 >= 5
        attributes:
          prio: arg0
          name: str(arg1)
          result: ret @return
      - role: span
        symbol: filter_eq
        when: str(arg1) == "exact"
        attributes:
          prio: arg0
          name: str(arg1)
      - role: span
        symbol: filter_prefix
        when: str(arg1) == "perf*"
        attributes:
          name: str(arg1)
      - role: span
        symbol: filter_ne
        when: str(arg1) != "perf*"
        attributes:
          name: str(arg1)
"""


class FilterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=CAPTURE_WORKER), d)
            agent = Agent([spec, "--json"])
            agent.wait_attached()
            p = subprocess.run([CAPTURE_WORKER, "filters", str(CALLS)], capture_output=True,
                               text=True, timeout=60, check=True)
            time.sleep(0.2)
            cls.rc = agent.stop()
        cls.agent = agent
        cls.told = json.loads(p.stdout)
        cls.spans = agent.spans()
        # what the worker passed, call by call
        names = cls.told["names"]
        cls.calls = [(i % 10, names[i % len(names)]) for i in range(cls.told["calls"])]

    def of(self, symbol):
        return [attrs(s) for s in self.spans if attrs(s)["code.function.name"] == symbol]

    def assertCalls(self, got, want):
        self.assertEqual(collections.Counter(got), collections.Counter(want))

    def test_filtered_calls_send_no_events(self):
        self.assertEqual(self.rc, 0, self.agent.stderr())
        self.assertEqual(self.told["calls"], CALLS)
        n = (sum(1 for p, _ in self.calls if p >= 5)
             + sum(1 for _, name in self.calls if name == "exact")
             + sum(1 for _, name in self.calls if name.startswith("perf"))
             + sum(1 for _, name in self.calls if not name.startswith("perf")))
        self.assertEqual(len(self.spans), n)
        # each kept call is an entry and a return event; dropped calls send neither
        m = re.search(r"(\d+) spans, (\d+) events, 0 lost", self.agent.stderr())
        self.assertIsNotNone(m, self.agent.stderr())
        self.assertEqual((int(m.group(1)), int(m.group(2))), (n, 2 * n))
        self.assertLess(2 * n, 4 * 2 * CALLS)

    def test_integer_compare_keeps_return_captures(self):
        got = self.of("filter_int")
        self.assertCalls([(a["prio"], a["name"]) for a in got],
                         [(p, name) for p, name in self.calls if p >= 5])
        for a in got:
            self.assertEqual(a["result"], a["prio"] * 10)  # the return of that very call

    def test_string_equality(self):
        got = self.of("filter_eq")
        self.assertCalls([(a["prio"], a["name"]) for a in got],
                         [(p, name) for p, name in self.calls if name == "exact"])
        self.assertNotIn("exactly", [a["name"] for a in got])

    def test_string_prefix(self):
        got = self.of("filter_prefix")
        self.assertCalls([a["name"] for a in got],
                         [name for _, name in self.calls if name.startswith("perf")])
        self.assertEqual({a["name"] for a in got}, {"perf-a", "perfect"})

    def test_string_prefix_negated(self):
        got = self.of("filter_ne")
        self.assertCalls([a.get("name") for a in got],
                         [name for _, name in self.calls if not name.startswith("perf")])
        self.assertIn("per", {a.get("name") for a in got})  # shorter than the prefix


if __name__ == "__main__":
    unittest.main()
