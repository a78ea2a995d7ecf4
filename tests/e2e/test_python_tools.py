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


PY_SPEC = """service: py
targets:
  - binary: %s
    runtime: python
    probes:
      - role: task
        function: rq.worker:Worker.perform_job
"""

# An interpreter of a version tasktap has no offsets for, as its binary says it (3.11+ export
# Py_Version, PY_VERSION_HEX; every CPython since 3.7 exports _PyRuntime)
FAKE_PYTHON = """
const unsigned long Py_Version = 0x030a0cf0; /* 3.10.12 */
char _PyRuntime[4096] = {1};
int main(void) { return 0; }
"""


class CheckRefusesInterpretersTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir)

    def check(self, binary):
        return run_tool(["check", write_spec(PY_SPEC % binary, self.dir)])

    def test_an_unknown_version_is_refused_with_the_version_found(self):
        src = os.path.join(self.dir, "fake.c")
        with open(src, "w") as f:
            f.write(FAKE_PYTHON)
        binary = os.path.join(self.dir, "python3.10")
        subprocess.run(["cc", "-rdynamic", "-o", binary, src], check=True)
        rc, out, err = self.check(binary)
        self.assertEqual(rc, 2, err)
        self.assertIn("spec.yaml:7:19: python 3.10.12 at '%s': no offsets for this version; "
                      "tasktap knows 3.11, 3.12, 3.13" % binary, err)
        self.assertEqual(out, "")

    def test_a_program_that_is_no_python_is_refused(self):
        rc, out, err = self.check("/bin/true")
        self.assertEqual(rc, 2, err)
        self.assertIn("'/bin/true' is not a python interpreter: no _PyRuntime, no libpython",
                      err)

    def test_debians_python311_is_accepted(self):
        rc, out, err = self.check(PYTHON)
        self.assertEqual(rc, 0, err)
        self.assertIn("rq.worker:Worker.perform_job", out)


JOBS = """
import threading


def helper():
    return 1


class Worker:
    def perform_job(self, job, ready, release):
        ready.write("ready\\n")
        ready.flush()
        release.readline()

    @classmethod
    def build(cls):
        return cls()

    @staticmethod
    def version():
        return "1"

    @property
    def name(self):
        return "w"

    class Retry:
        def backoff(self):
            return 2


def waiting_thread(release):
    release.wait()
"""

MAIN = """import sys, threading
sys.path.insert(0, %r)
from ttpyjobs import tasks
from ttpyjobs.tasks import helper  # a re-export: listed once, under its own module
release = threading.Event()
t = threading.Thread(target=tasks.waiting_thread, args=(release,))
t.start()
tasks.Worker.build().perform_job(None, sys.stdout, sys.stdin)
release.set()
t.join()
"""


class SymbolsPythonTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)
        os.mkdir(os.path.join(self.dir, "ttpyjobs"))
        open(os.path.join(self.dir, "ttpyjobs", "__init__.py"), "w").close()
        with open(os.path.join(self.dir, "ttpyjobs", "tasks.py"), "w") as f:
            f.write(textwrap.dedent(JOBS))
        self.worker = subprocess.Popen([PYTHON, "-c", MAIN % self.dir], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        self.addCleanup(self.stop_worker)
        self.assertEqual(self.worker.stdout.readline(), "ready\n")

    def stop_worker(self):
        if self.worker.poll() is None:
            self.worker.stdin.write("go\n")
            self.worker.stdin.close()
            self.worker.wait(10)

    def symbols(self, *args):
        rc, out, err = run_tool(["symbols", "--python", str(self.worker.pid)] + list(args))
        return rc, out.splitlines(), err

    def test_lists_a_workers_functions_as_module_qualname(self):
        rc, lines, err = self.symbols()
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines[0], "# python 3.11.2 functions in process %d (%s): "
                         "module:qualname  file:line; * on a thread's stack now"
                         % (self.worker.pid, PYTHON))
        tasks = os.path.join(self.dir, "ttpyjobs", "tasks.py")
        listed = {line[2:].split("  ")[0]: line for line in lines[1:]}
        # a decorated function's first line is its decorator's
        want = {
            "ttpyjobs.tasks:helper": "  ttpyjobs.tasks:helper  %s:5" % tasks,
            "ttpyjobs.tasks:Worker.perform_job":
                "* ttpyjobs.tasks:Worker.perform_job  %s:10" % tasks,
            "ttpyjobs.tasks:Worker.build": "  ttpyjobs.tasks:Worker.build  %s:15" % tasks,
            "ttpyjobs.tasks:Worker.version": "  ttpyjobs.tasks:Worker.version  %s:19" % tasks,
            "ttpyjobs.tasks:Worker.name": "  ttpyjobs.tasks:Worker.name  %s:23" % tasks,
            "ttpyjobs.tasks:Worker.Retry.backoff":
                "  ttpyjobs.tasks:Worker.Retry.backoff  %s:28" % tasks,
            # on the second thread's stack, in the standard library's threading too
            "ttpyjobs.tasks:waiting_thread": "* ttpyjobs.tasks:waiting_thread  %s:32" % tasks,
            "__main__:<module>": "* __main__:<module>  <string>:1",
        }
        for name, line in want.items():
            self.assertEqual(listed.get(name), line, name)
        self.assertTrue(listed["threading:Event.wait"].startswith("* "))
        self.assertTrue(listed["threading:Thread.start"].startswith("  "))
        # each module:qualname once, in order
        names = [line[2:].split("  ")[0] for line in lines[1:]]
        self.assertEqual(names, sorted(set(names)))
        self.assertGreater(len(names), 300)  # the standard library's modules too

    def test_match_selects_by_module_qualname(self):
        rc, lines, err = self.symbols("--match", "ttpyjobs.*:Worker.*")
        self.assertEqual(rc, 0, err)
        self.assertEqual([line[2:].split("  ")[0] for line in lines[1:]],
                         ["ttpyjobs.tasks:Worker.Retry.backoff", "ttpyjobs.tasks:Worker.build",
                          "ttpyjobs.tasks:Worker.name", "ttpyjobs.tasks:Worker.perform_job",
                          "ttpyjobs.tasks:Worker.version"])
        rc, lines, err = self.symbols("--match", "nothing:*")
        self.assertEqual(rc, 1)
        self.assertEqual(len(lines), 1)

    def test_a_process_without_python_is_refused(self):
        sleeper = subprocess.Popen(["sleep", "30"])
        self.addCleanup(sleeper.wait)
        self.addCleanup(sleeper.kill)
        rc, out, err = run_tool(["symbols", "--python", str(sleeper.pid)])
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn("process %d runs no python tasktap can read: no _PyRuntime in the files "
                      "it maps" % sleeper.pid, err)
        rc, out, err = run_tool(["symbols", "--python", "0x"])
        self.assertEqual(rc, 2, err)
        rc, out, err = run_tool(["symbols", "--python", str(self.worker.pid), PYTHON])
        self.assertEqual(rc, 2, err)


if __name__ == "__main__":
    unittest.main()
