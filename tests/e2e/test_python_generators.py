"""Generators and coroutines named by Python probes (DESIGN §10). On
Debian's python3.11 (whose function__return site also fires at each yield
and await) one span per call: from its first start to its end, across its
yields and awaits, while other coroutines run between them on the same
thread; ERROR with the exception's type when it raises. The test compares
each span, by its key, with what the worker measured inside the call
(tests/workers/python-gen.py: generators consumed by list(), asyncio
tasks run together that await twice, one raising; a generator started
before the agent attached, which gets no span). A plain function they
call is traced as ever, call by call. Where tasktap does not follow them
yet (pyenv's 3.12, whose frames end elsewhere) there is no span of theirs,
and the agent says so with the count of their runs."""
import os
import tempfile
import unittest

from harness import attrs, duration_ms, run_tool, write_spec
from test_python import PYTHON, for_python, need_python, trace_worker
from test_python_versions import pyenv_python

WORKER = os.path.abspath("tests/workers/python-gen.py")

SPEC = """\
service: python-gen
targets:
  - binary: /usr/bin/python3.11
    runtime: python
    probes:
      - role: task
        function: __main__:task
        key: py(i)
        error: raised
      - role: step
        function: __main__:count
        key: py(n)
      - role: span
        function: __main__:plain
"""


class PythonGenerators:
    python = PYTHON

    def run_worker(self):
        need_python(self, self.python)
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(for_python(SPEC, self.python), d)
            return trace_worker(self, self.python, spec, WORKER)

    def by_key(self, spans, name):
        return {attrs(s)["task.id"]: s for s in spans if s["name"] == name}


class PythonGeneratorsTest(PythonGenerators, unittest.TestCase):

    def test_one_span_per_generator_and_coroutine_call(self):
        ran, agent = self.run_worker()
        spans = agent.spans()
        self.assertEqual(len([s for s in spans if s["name"] == "__main__:plain"]), ran["plain"])
        tasks = self.by_key(spans, "__main__:task")
        counts = self.by_key(spans, "__main__:count")
        self.assertEqual(sorted(tasks), sorted(ran["tasks"]))
        # not the one started before the agent attached: its start was not seen
        self.assertIn(str(ran["early"]), ran["counts"])
        del ran["counts"][str(ran["early"])]
        self.assertEqual(sorted(counts), sorted(ran["counts"]))
        self.assertEqual(len(spans), ran["plain"] + len(tasks) + len(counts))
        # the worker's clock ran inside the call: the span holds it, and 1 ms more at
        # most, unless the thread waited for a CPU meanwhile (a loaded machine): no
        # more than it waited in all (schedstat's run delay, as test_python)
        slack_ms = 1 + ran["wait_ns"] / 1e6
        for key, (ns, raised) in ran["tasks"].items():
            s = tasks[key]
            self.assertGreaterEqual(duration_ms(s), ns / 1e6, s)
            self.assertLess(duration_ms(s), ns / 1e6 + slack_ms, s)
            self.assertEqual(s["status"]["code"], 2 if raised else 0, s)
            self.assertEqual(attrs(s).get("exception.type"), "ValueError" if raised else None)
        for key, ns in ran["counts"].items():
            s = counts[key]
            self.assertGreaterEqual(duration_ms(s), ns / 1e6, s)
            self.assertLess(duration_ms(s), ns / 1e6 + slack_ms, s)
            self.assertEqual(s["status"]["code"], 0, s)
        # they ran together: each task's span overlaps the others'
        starts = sorted(int(s["startTimeUnixNano"]) for s in tasks.values())
        ends = sorted(int(s["endTimeUnixNano"]) for s in tasks.values())
        self.assertLess(starts[-1], ends[0])
        self.assertNotIn("were not traced", agent.stderr())

    def test_check_says_they_are_followed(self):
        need_python(self, self.python)
        with tempfile.TemporaryDirectory() as d:
            code, out, err = run_tool(["check", write_spec(for_python(SPEC, self.python), d)])
        self.assertEqual(code, 0, err)
        self.assertEqual(out.count("generators and coroutines: a span per call)"), 3, out)


class PythonGenerators312(PythonGenerators, unittest.TestCase):
    python = pyenv_python("3.12")

    def test_generators_and_coroutines_are_said_untraced(self):
        ran, agent = self.run_worker()
        spans = agent.spans()
        # only the plain function's calls, each one span
        self.assertEqual(sorted({s["name"] for s in spans}), ["__main__:plain"])
        self.assertEqual(len(spans), ran["plain"])
        self.assertIn("%d runs of generator or coroutine functions that python probes name "
                      "were not traced" % ran["runs"], agent.stderr())


if __name__ == "__main__":
    unittest.main()
