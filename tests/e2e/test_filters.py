"""`when:` filters run in BPF: calls that fail them produce no event at all
(the agent's summary counts the events that reached it), and the calls that
pass keep their captures, including return-time ones. Integer compare,
string equality, prefix and its negation, on tests/workers/capture-worker.c
called many times with different names.

Compound predicates (PredicateTest) on tests/workers/pred-worker.c, a job
worker that prints each job it ran: &&, ||, !, parentheses, starts_with,
ends_with, contains, a string against a string, str(p, n), a value eight
pointers deep, names of attributes in `when:` and `error:`, an `error:`
decided in BPF, `when:` on a begin and on an end (a requeue does not end
the job's span), and a filter that fills the 128 operations of one hook,
which the verifier accepts; one operation more is refused by `tasktap
check` at its line and column. Each probe's spans are compared with the
jobs the worker says it ran, predicate by predicate. StringEdgeTest runs the
string predicates in the kernel on empty strings, NULL pointers, strings
longer than the 63 bytes read, UTF-8 bytes and matches at the very end."""
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


PRED_WORKER = os.path.abspath(".output/pred-worker")
JOBS = 120
ATTRS = """        attributes:
          queue: str(*(arg0 + 8))
          kind: str(*(arg0 + 16))
          prio: arg2
          deep: u64(u64(u64(u64(u64(u64(u64(u64(arg0 + 24))))))))
          status: s32(arg0 + 32)
"""
PRED_SPEC = """targets:
  - binary: {worker}
    probes:
      - role: span
        symbol: handle_a
        when: (prio >= 5 || starts_with(queue, "img.")) && !contains(kind, "en")
{attrs}
      - role: span
        symbol: handle_b
        when: ends_with(queue, ".jobs") || str(arg1) == queue
{attrs}
      - role: span
        symbol: handle_c
        when: deep == 3 || str(arg1, 4) == "oth"
        error: ret == 2 && arg2 >= 3
{attrs}
      - role: span
        symbol: handle_d
        error: status != 0 && !ends_with(queue, ".retry")
{attrs}
      - role: span
        symbol: handle_e
        error: status != 0
{attrs}
      - role: span
        symbol: handle_f
        when: {budget}
        attributes:
          name: str(arg1)
          p: arg2 + 1
{extra}
      - role: task
        begin:
          symbol: job_begin
          key: arg0
          when: str(arg1) != "skip"
          attributes: {{ messaging.destination.name: str(arg1) }}
        end:
          symbol: job_end
          key: arg0
          when: arg1 != 1
          attributes: {{ outcome: arg1 }}
          error: outcome == 2
"""
# 24 leaves of 4 operations and a jump, and one of 3: 123; with the captures' 5, 128
BUDGET = " || ".join(['contains(str(arg1), "zzzzzzzz%s")' % chr(ord("a") + k)
                      for k in range(24)] + ['contains(str(arg1), "ther")'])


def pred_spec(extra=""):
    return PRED_SPEC.format(worker=PRED_WORKER, attrs=ATTRS.rstrip("\n"), budget=BUDGET,
                            extra=extra)


class PredicateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(pred_spec(), d)
            agent = Agent([spec, "--json"])
            agent.wait_attached()
            p = subprocess.run([PRED_WORKER, str(JOBS)], capture_output=True, text=True,
                               timeout=60, check=True)
            time.sleep(0.2)
            cls.rc = agent.stop()
        cls.agent = agent
        cls.jobs = [json.loads(line) for line in p.stdout.splitlines()]
        cls.spans = agent.spans()

    def of(self, symbol):
        return [s for s in self.spans
                if attrs(s).get("code.function.name") == symbol]

    def assertKept(self, symbol, keep):
        got = collections.Counter(
            (attrs(s)["queue"], attrs(s)["kind"], attrs(s)["prio"]) for s in self.of(symbol))
        want = collections.Counter((j["queue"], j["kind"], j["prio"])
                                   for j in self.jobs if keep(j))
        self.assertEqual(got, want, symbol)
        self.assertGreater(len(want), 0, symbol)
        self.assertLess(len(want), len(self.jobs), symbol)

    def test_agent_ran_every_hook_compiled(self):
        self.assertEqual(self.rc, 0, self.agent.stderr())
        self.assertEqual(len(self.jobs), JOBS)
        self.assertNotIn("interpreter", self.agent.stderr())
        self.assertNotIn("not attached", self.agent.stderr())

    def test_and_or_not_starts_with_contains(self):
        self.assertKept("handle_a", lambda j: (j["prio"] >= 5 or j["queue"].startswith("img."))
                        and "en" not in j["kind"])

    def test_ends_with_or_string_against_string(self):
        self.assertKept("handle_b",
                        lambda j: j["queue"].endswith(".jobs") or j["name"] == j["queue"])
        self.assertTrue(any(j["name"] == j["queue"] and not j["queue"].endswith(".jobs")
                            for j in self.jobs))

    def test_eight_dereferences_and_a_bounded_string(self):
        self.assertKept("handle_c", lambda j: j["deep"] == 3 or j["name"][:3] == "oth")
        for s in self.of("handle_c"):
            a = attrs(s)
            if a.get("deep") is not None:
                self.assertIn(a["deep"], range(5))

    def test_error_at_return_reads_ret_and_the_arguments(self):
        # decided when handle_c returns: ret, and arg2 as it was at entry
        spans = self.of("handle_c")
        self.assertTrue(spans)
        for s in spans:
            a = attrs(s)
            self.assertEqual(s["status"]["code"] == 2, a["status"] == 2 and a["prio"] >= 3, a)
        self.assertTrue(any(s["status"]["code"] == 2 for s in spans))
        self.assertTrue(any(s["status"]["code"] == 0 and attrs(s)["status"] == 2 for s in spans))

    def test_error_decided_in_bpf(self):
        got = {(attrs(s)["queue"], attrs(s)["prio"], attrs(s)["kind"]): s["status"]["code"]
               for s in self.of("handle_d")}
        self.assertEqual(len(self.of("handle_d")), JOBS)
        for j in self.jobs:
            err = j["status"] != 0 and not j["queue"].endswith(".retry")
            self.assertEqual(got[(j["queue"], j["prio"], j["kind"])], 2 if err else 0, j)
        errors = [s for s in self.of("handle_d") if s["status"]["code"] == 2]
        self.assertTrue(errors)
        self.assertEqual(errors[0]["status"]["message"],
                         "error: status != 0 && !ends_with(queue, \".retry\")")

    def test_error_names_an_attribute(self):
        spans = self.of("handle_e")
        self.assertEqual(len(spans), JOBS)
        self.assertEqual(collections.Counter(s["status"]["code"] for s in spans),
                         collections.Counter(2 if j["status"] else 0 for j in self.jobs))
        for s in spans:
            self.assertEqual(s["status"]["code"] == 2, attrs(s)["status"] != 0)

    def test_a_filter_of_128_operations(self):
        got = collections.Counter(attrs(s)["name"] for s in self.of("handle_f"))
        self.assertEqual(got, collections.Counter(j["name"] for j in self.jobs
                                                  if "ther" in j["name"]))
        for s in self.of("handle_f"):
            self.assertIn(attrs(s)["p"], range(1, 10))

    def test_when_on_begin_and_end(self):
        tasks = [s for s in self.spans if attrs(s).get("messaging.destination.name")]
        got = {attrs(s)["task.id"]: s for s in tasks}
        want = {str(j["id"]): j for j in self.jobs if j["queue"] != "skip"}
        self.assertEqual(sorted(got), sorted(want))
        self.assertTrue(any(j["requeued"] for j in want.values()))
        for key, j in want.items():
            s = got[key]
            # a requeue (outcome 1) does not end the span: the end after it does
            self.assertEqual(attrs(s)["outcome"], j["outcome"], j)
            self.assertEqual(s["status"]["code"], 2 if j["outcome"] == 2 else 0, j)

    def test_one_operation_more_is_refused_where_written(self):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(pred_spec("          q: arg2"), d)
            p = subprocess.run([os.path.abspath(".output/tasktap"), "check", spec],
                               capture_output=True, text=True, timeout=60)
        line = pred_spec("          q: arg2").splitlines().index("          q: arg2") + 1
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("%s:%d:14: the probe's captures need 130 operations, more than the 128 "
                      "one hook runs" % (spec, line), p.stderr)


EDGE_SPEC = """\
targets:
  - binary: {worker}
    probes:
      - role: span
        symbol: edge_eq
        when: str(arg0) == str(arg1)
        attributes: {{ i: arg2 }}
      - role: span
        symbol: edge_suffix
        when: ends_with(str(arg0), "abc") || ends_with(str(arg1), "abcd")
        attributes: {{ i: arg2 }}
      - role: span
        symbol: edge_contains
        when: contains(str(arg0), "zab") && !contains(str(arg1), "\u00e9")
        attributes: {{ i: arg2 }}
      - role: span
        symbol: edge_bounded
        when: str(arg0, 5) == str(arg1, 5) || str(arg0, 4) == "per"
        attributes: {{ i: arg2 }}
"""


def read(s, limit=64):
    """What str(p, limit) reads: None for NULL, else at most limit - 1 bytes."""
    return None if s is None else s.encode()[:limit - 1]


class StringEdgeTest(unittest.TestCase):
    """The string predicates in the kernel on empty strings, NULL, strings past
    the 63 bytes a predicate reads, a match at the very end, UTF-8 bytes."""

    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(EDGE_SPEC.format(worker=PRED_WORKER), d)
            agent = Agent([spec, "--json"])
            agent.wait_attached()
            p = subprocess.run([PRED_WORKER, "edges"], capture_output=True, text=True,
                               timeout=60, check=True)
            time.sleep(0.2)
            cls.rc = agent.stop()
        cls.agent = agent
        cls.pairs = json.loads(p.stdout)
        cls.spans = agent.spans()

    def assertKept(self, symbol, keep):
        got = sorted(attrs(s)["i"] for s in self.spans
                     if attrs(s).get("code.function.name") == symbol)
        want = [i for i, (a, b) in enumerate(self.pairs) if keep(a, b)]
        self.assertEqual(got, want, symbol)
        self.assertTrue(0 < len(want) < len(self.pairs), symbol)

    def test_string_against_string(self):
        self.assertEqual(self.rc, 0, self.agent.stderr())
        self.assertKept("edge_eq", lambda a, b: read(a) is not None and read(a) == read(b))

    def test_ends_with(self):
        self.assertKept("edge_suffix", lambda a, b: (read(a) or b"x").endswith(b"abc")
                        or (read(b) or b"x").endswith(b"abcd"))

    def test_contains_and_not_contains(self):
        self.assertKept("edge_contains", lambda a, b: b"zab" in (read(a) or b"")
                        and not (read(b) is not None and "\u00e9".encode() in read(b)))

    def test_bounded_reads(self):
        self.assertKept("edge_bounded",
                        lambda a, b: (read(a, 5) is not None and read(a, 5) == read(b, 5))
                        or read(a, 4) == b"per")


if __name__ == "__main__":
    unittest.main()
