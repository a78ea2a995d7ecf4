"""Generators and coroutines named by Python probes (DESIGN §10): tasktap
does not follow one across its yields and awaits yet, so it makes no span
for them (none per resume, none wrong), and says so: the agent warns that
runs of such functions were not traced, with their count, which the test
compares with what the worker ran (tests/workers/python-gen.py: generators
consumed by list(), asyncio tasks that await twice, one raising). A plain
function they call is traced as ever, call by call. On Debian's python3.11
and pyenv's 3.12."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import Agent, write_spec
from test_python import PYTHON, for_python, need_python
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
        error: raised
      - role: step
        function: __main__:count
      - role: span
        function: __main__:plain
"""


class PythonGeneratorsTest(unittest.TestCase):
    python = PYTHON

    def test_generators_and_coroutines_are_said_untraced(self):
        need_python(self, self.python)
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(for_python(SPEC, self.python), d)
            w = subprocess.Popen([self.python, WORKER], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
            self.addCleanup(lambda: w.poll() is None and (w.kill(), w.wait()))
            agent = Agent([spec, "--json", "--pid", str(w.pid)])
            self.addCleanup(agent.stop)
            agent.wait_attached()
            out, _ = w.communicate("go\n", timeout=60)
            self.assertEqual(w.returncode, 0)
            self.assertEqual(agent.stop(), 0, agent.stderr())
        ran = json.loads(out)
        spans = agent.spans()
        # only the plain function's calls, each one span
        self.assertEqual(sorted({s["name"] for s in spans}), ["__main__:plain"])
        self.assertEqual(len(spans), ran["plain"])
        self.assertIn("%d runs of generator or coroutine functions that python probes name "
                      "were not traced" % ran["runs"], agent.stderr())


class PythonGenerators312(PythonGeneratorsTest):
    python = pyenv_python("3.12")


if __name__ == "__main__":
    unittest.main()
