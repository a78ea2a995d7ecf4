"""A `library:` target with real BPF: libttjob.so (tests/fixtures/libttjob.c)
named without a path, found through LD_LIBRARY_PATH in the agent's
environment, probed in a process (tests/workers/dlopen-worker.c) that
starts after tasktap attached and loads the library with dlopen."""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, duration_ms, run_tool, write_spec

LIB_DIR = os.path.abspath(".output/lib")
LOADER = os.path.abspath(".output/dlopen-worker")

SPEC = """\
service: ttjob
targets:
  - library: libttjob.so
    probes:
      - role: task
        symbol: ttjob_run
        key: arg0
        attributes:
          task.name: str(arg1)
          job.ms: arg2
        error: ret != 0
"""

OK, ERROR = 0, 2  # status codes: UNSET unless an error, as instrumentation leaves it


class LibraryTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.spec = write_spec(SPEC, self.dir.name)
        self.env = {"LD_LIBRARY_PATH": "/nonexistent:" + LIB_DIR}

    def tearDown(self):
        self.dir.cleanup()

    def test_check_finds_the_library_by_name(self):
        rc, out, err = run_tool(["check", self.spec], env=self.env)
        self.assertEqual(rc, 0, err)
        self.assertIn("ttjob_run+0x", out)
        self.assertIn("in %s/libttjob.so (every process)" % LIB_DIR, out)
        # without LD_LIBRARY_PATH it is not in the system directories
        rc, out, err = run_tool(["check", self.spec], env={"LD_LIBRARY_PATH": ""})
        self.assertEqual(rc, 2)
        self.assertIn("spec.yaml:3:5: library 'libttjob.so' not found", err)
        self.assertEqual(out, "")

    def test_process_started_later_loads_it_with_dlopen(self):
        agent = Agent([self.spec, "--json"], env=self.env)
        agent.wait_attached()
        p = subprocess.run([LOADER, "4"], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, **self.env), check=True)
        time.sleep(0.2)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        told = json.loads(p.stdout)
        self.assertEqual(os.path.realpath(told["library"]),
                         os.path.realpath(os.path.join(LIB_DIR, "libttjob.so")))
        spans = agent.spans()
        self.assertEqual(len(spans), len(told["jobs"]), agent.stdout())
        # one event per call (the default: the task probe alone, nothing can be its child)
        self.assertIn("4 spans, 4 events, 0 lost", agent.stderr())
        by_id = {attrs(s)["task.id"]: s for s in spans}
        for job in told["jobs"]:
            s = by_id[str(job["id"])]
            a = attrs(s)
            self.assertEqual(s["name"], job["name"])
            self.assertEqual(a["task.name"], job["name"])
            self.assertEqual(a["job.ms"], job["ms"])
            self.assertEqual(a["code.function.name"], "ttjob_run")
            self.assertEqual(s["status"]["code"], ERROR if job["rc"] else OK)
            if job["rc"]:
                self.assertIn("returned %d" % job["rc"], s["status"]["message"])
            self.assertGreaterEqual(duration_ms(s), job["ms"])
            self.assertEqual(s["resource"]["process.pid"], told["pid"])
            self.assertEqual(s["resource"]["service.name"], "ttjob")


class VendoredCopyTest(unittest.TestCase):
    """The library's code linked into an executable of another name
    (tests/workers/static-job-worker.c), found through /proc/PID/maps."""

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.spec = write_spec(SPEC, self.dir)
        self.env = {"LD_LIBRARY_PATH": LIB_DIR}
        self.worker = subprocess.Popen([os.path.abspath(".output/static-job-worker"), "2",
                                        "--wait-signal"])
        self.addCleanup(self.worker.kill)
        time.sleep(0.2)

    def test_check_lists_the_copy(self):
        rc, out, err = run_tool(["check", self.spec], env=self.env)
        self.assertEqual(rc, 0, err)
        self.assertIn("libttjob.so (every process)", out)
        self.assertIn("static-job-worker (code of libttjob.so) (every process)", out)

    def test_spans_from_the_copy(self):
        agent = Agent([self.spec, "--json"], env=self.env)
        self.addCleanup(agent.stop)
        agent.wait_attached()
        self.worker.send_signal(signal.SIGUSR1)
        self.assertEqual(self.worker.wait(30), 0)
        time.sleep(0.2)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        spans = sorted(agent.spans(), key=lambda s: attrs(s)["task.id"])
        self.assertEqual([attrs(s)["task.id"] for s in spans], ["500", "501"])
        for s in spans:
            self.assertEqual(s["resource"]["process.pid"], self.worker.pid)
            self.assertEqual(attrs(s)["task.name"], "vendored")
            self.assertEqual(attrs(s)["code.function.name"], "ttjob_run")
        self.assertEqual([s["status"]["code"] for s in spans], [0, 2])


if __name__ == "__main__":
    unittest.main()
