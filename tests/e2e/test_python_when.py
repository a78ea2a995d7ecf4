"""`when:` on Python probes (DESIGN §10): py() values compared with quoted
literals and integers (==, !=, <, <=, >, >=, starts_with(), &&, ||, !, and
the name of a py() attribute), evaluated in BPF at the call's start, so a
call the filter drops emits nothing, neither its entry nor its return. The
worker (tests/workers/python-when.py) records every call it makes; the
spans are compared with the calls the same predicates keep, job by job
(ids, count, status), on Debian's python3.11 and pyenv's 3.12 and 3.13. A
filter the Python programs cannot run is refused by `tasktap check` with
the reason."""
import os
import tempfile
import unittest

from harness import attrs, run_tool, write_spec
from test_python import ERROR, PYTHON, for_python, need_python, trace_worker
from test_python_versions import pyenv_python

WORKER = os.path.abspath("tests/workers/python-when.py")

SPEC = """\
service: python-when
targets:
  - binary: /usr/bin/python3.11
    runtime: python
    probes:
      - role: task
        function: __main__:run
        key: py(job.id)
        when: py(job.queue) == "low" || py(n) >= 5
        error: raised
      - role: step
        function: __main__:fetch
        key: py(job.id)
        when: starts_with(py(job.name), "tasks.") && !(py(n) == 3)
      - role: span
        function: __main__:ship
        key: py(job.id)
        attributes: { queue: py(job.queue) }
        when: queue != "low" && -1 < py(n)
"""


def kept(call):
    """Whether the spec's `when:` keeps `call`: an unreadable value fails its
    comparison (and so `!=` of it holds)."""
    q, name, n = call["queue"], call["name"], call["n"]
    if call["fn"] == "run":
        return q == "low" or n >= 5
    if call["fn"] == "fetch":
        return name is not None and name.startswith("tasks.") and not n == 3
    return q != "low" and -1 < n


class PythonWhenTest(unittest.TestCase):
    python = PYTHON

    def setUp(self):
        need_python(self, self.python)
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def test_filtered_calls_emit_nothing(self):
        spec = write_spec(for_python(SPEC, self.python), self.dir.name)
        record, agent = trace_worker(self, self.python, spec, WORKER)
        calls = record["calls"]
        spans = agent.spans()
        want = sorted((c["fn"], c["id"]) for c in calls if kept(c))
        got = sorted((s["name"].rsplit(":", 1)[1], attrs(s).get("task.id", "other"))
                     for s in spans)
        self.assertEqual(got, want)
        # every function had calls on both sides of its filter
        for fn in ("run", "fetch", "ship"):
            mine = [c for c in calls if c["fn"] == fn]
            self.assertTrue(any(kept(c) for c in mine) and not all(kept(c) for c in mine), fn)
        # a dropped call wrote no event at all: two a span, none else
        self.assertIn("%d spans, %d events, 0 lost" % (len(spans), 2 * len(spans)),
                      agent.stderr())
        for s in spans:
            raised = [c for c in calls if c["raised"] and
                      (c["fn"], c["id"]) == (s["name"].rsplit(":", 1)[1], attrs(s).get("task.id"))]
            self.assertEqual(s.get("status", {}).get("code") == ERROR, bool(raised), s)
            self.assertNotIn("tasktap.cut", attrs(s), s)

    def test_check_verbose_names_the_python_programs(self):
        code, out, err = run_tool(["check", "--verbose",
                                   write_spec(for_python(SPEC, self.python), self.dir.name)])
        self.assertEqual(code, 0, err)
        paths = [line for line in out.splitlines() if line.startswith("  path:")]
        self.assertEqual(len(paths), 3, out)
        for line in paths:
            self.assertIn("the interpreter's Python programs (tt_py_entry", line)
        self.assertNotIn("generic interpreter", out)

    def test_refused_filters(self):
        cases = (
            ('when: arg0 > 1', "compares py() values with quoted literals or integers"),
            ('when: str(arg0) == "x"', "compares py() values with quoted literals or integers"),
            ('when: py(n) == arg0', "a py() value compares with a quoted literal or an integer"),
            ('when: ends_with(py(job.name), "x")', "with ==, != or starts_with()"),
            ('when: py(job.queue) == py(job.name)', "a py() value compares with a quoted literal"),
            ('when: py(job..queue) == "x"', "expected a name"),
            ('when: py(job.queue) < "x"', "strings compare with == or != only"),
        )
        for when, message in cases:
            text = for_python(SPEC, self.python).replace(
                'when: py(job.queue) == "low" || py(n) >= 5', when)
            code, _, err = run_tool(["check", write_spec(text, self.dir.name)])
            self.assertNotEqual(code, 0, when)
            self.assertIn(message, err, when)
            self.assertIn("spec.yaml:9:", err, when)  # where the filter is
        # py() on a C function's probe
        text = ("service: c\ntargets:\n  - binary: /usr/bin/python3.11\n    probes:\n"
                "      - role: task\n        symbol: PyObject_Call\n"
                "        when: py(job.id) == \"x\"\n")
        code, _, err = run_tool(["check", write_spec(text, self.dir.name)])
        self.assertNotEqual(code, 0)
        self.assertIn("py() reads Python values: give the target 'runtime: python'", err)


class PythonWhen312(PythonWhenTest):
    python = pyenv_python("3.12")


class PythonWhen313(PythonWhenTest):
    python = pyenv_python("3.13")


if __name__ == "__main__":
    unittest.main()
