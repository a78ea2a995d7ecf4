"""py(return…) on Python probes (DESIGN §10): the value the probed function
returned, and its attributes, read in BPF where the call ends, as a span's
attributes and key. The worker (tests/workers/python-return.py) prints what
each call returned; the spans are compared call by call: a constant str
(RETURN_CONST on 3.12+), a str and an int made at run time, an object's
attributes (its status the span's key), None (neither str, int nor bytes:
unreadable), and a call that raised (it returned nothing: unreadable, the
span ERROR with the exception's type). On Debian's python3.11 (the value
read at function__return) and pyenv's 3.11, 3.12 and 3.13 (at
_PyThreadState_PopFrame). `tasktap check` refuses py(return) in `when:`,
which runs at the call's start."""
import os
import tempfile
import unittest

from harness import attrs, run_tool, write_spec
from test_python import ERROR, PYTHON, for_python, need_python, trace_worker
from test_python_versions import pyenv_python

WORKER = os.path.abspath("tests/workers/python-return.py")

SPEC = """\
service: python-return
targets:
  - binary: /usr/bin/python3.11
    runtime: python
    probes:
      - role: task
        function: __main__:const
        attributes: { out: py(return), n: py(n) }
      - role: step
        function: __main__:made
        attributes: { out: py(return), n: py(n) }
      - role: span
        function: __main__:number
        attributes: { out: py(return), n: py(n) }
      - role: consume
        function: __main__:result
        key: py(return.status)
        attributes: { count: py(return.count), n: py(n) }
      - role: publish
        function: __main__:nothing
        attributes: { out: py(return), n: py(n) }
      - role: task
        function: __main__:failing
        attributes: { out: py(return), n: py(n) }
        error: raised
"""


class PythonReturnTest(unittest.TestCase):
    python = PYTHON

    def setUp(self):
        need_python(self, self.python)
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def test_returned_values(self):
        spec = write_spec(for_python(SPEC, self.python), self.dir.name)
        record, agent = trace_worker(self, self.python, spec, WORKER)
        calls = record["calls"]
        spans = agent.spans()
        self.assertEqual(len(spans), len(calls))
        by_call = {}
        for s in spans:
            a = attrs(s)
            fn = a["code.function.name"].split(":", 1)[1]
            self.assertNotIn((fn, a["n"]), by_call, s)
            by_call[(fn, a["n"])] = s
        for c in calls:
            s = by_call[(c["fn"], c["n"])]
            a = attrs(s)
            unreadable = a.get("tasktap.unreadable", "").split(",")
            if c["fn"] == "result":
                self.assertEqual(a.get("task.id"), c["ret"]["status"])
                self.assertEqual(a.get("count"), c["ret"]["count"])
            elif c["ret"] is None:  # None, or raised: no value to read
                self.assertNotIn("out", a, s)
                self.assertIn("out", unreadable, s)
            else:
                self.assertEqual(a.get("out"), c["ret"], s)
                self.assertNotIn("out", unreadable, s)
            self.assertEqual(s.get("status", {}).get("code") == ERROR, c["raised"], s)
            if c["raised"]:
                self.assertEqual(a.get("exception.type"), "KeyError")
            else:
                self.assertNotIn("exception.type", a, s)

    def test_return_is_not_read_at_the_start(self):
        for line in ('when: py(return) == "x"', 'when: py(return.status) == "x"'):
            text = for_python(SPEC, self.python).replace(
                "        function: __main__:const\n",
                "        function: __main__:const\n        %s\n" % line)
            code, _, err = run_tool(["check", write_spec(text, self.dir.name)])
            self.assertNotEqual(code, 0, line)
            self.assertIn("py(return) is read where the call ends", err, line)


class PythonReturn311(PythonReturnTest):
    python = pyenv_python("3.11")


class PythonReturn312(PythonReturnTest):
    python = pyenv_python("3.12")


class PythonReturn313(PythonReturnTest):
    python = pyenv_python("3.13")


if __name__ == "__main__":
    unittest.main()
