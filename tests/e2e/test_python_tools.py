"""The Python tools: `tasktap check` refuses a CPython USDT probe that crashes or fools the
interpreter, and `tasktap symbols --python PID` lists a running worker's functions as the
module:qualname a spec names, read from its memory with the offsets table. Against Debian 12's
/usr/bin/python3.11."""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from harness import run_tool, write_spec

PYTHON = "/usr/bin/python3.11"

USDT_SPEC = """service: py
targets:
  - binary: %s
    probes:
      - role: task
        usdt: python:%s
"""


class CheckRefusesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir)

    def test_python_line_crashes_311_and_is_refused_with_the_reason(self):
        spec = write_spec(USDT_SPEC % (PYTHON, "line"), self.dir)
        rc, out, err = run_tool(["check", spec])
        self.assertEqual(rc, 2, err)
        self.assertIn("%s:6:15: USDT probe 'python:line' of python 3.11.2 in '%s' is refused: "
                      "enabling it crashes CPython 3.11" % (spec, PYTHON), err)
        self.assertEqual(out, "")

    def test_function_entry_never_fires_on_311_and_is_refused(self):
        spec = write_spec(USDT_SPEC % (PYTHON, "function__entry"), self.dir)
        rc, out, err = run_tool(["check", spec])
        self.assertEqual(rc, 2, err)
        self.assertIn("USDT probe 'python:function__entry' of python 3.11.2 in '%s' is "
                      "refused: it never fires on CPython 3.11 (gh-98894)" % PYTHON, err)

    def test_function_return_is_accepted(self):
        spec = write_spec(USDT_SPEC % (PYTHON, "function__return"), self.dir)
        rc, out, err = run_tool(["check", spec])
        self.assertEqual(rc, 0, err)
        self.assertIn("ok, 1 attachment", out)


if __name__ == "__main__":
    unittest.main()
