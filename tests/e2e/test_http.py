"""The agent's health and in-flight endpoints with real BPF: /health,
/health/live, /health/ready and /tasks while a demo task is open
(`--scale 20` keeps it open for seconds), `--stuck-after 1` turning /health
degraded, and the HTTP flags (a taken port, a remote address, --no-http)."""
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Agent, RECIPE, isolated_demo

STEPS = {"UploadSourceFiles", "CreateZipArchive", "UploadResult"}


def wait_for(cond, timeout=30, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class HttpTest(unittest.TestCase):
    def setUp(self):
        self.agent = None
        self.worker = None
        self.dir = tempfile.mkdtemp(prefix="tt-http-")

    def tearDown(self):
        if self.worker and self.worker.poll() is None:
            self.worker.kill()
            self.worker.wait()
        if self.agent and self.agent.proc.poll() is None:
            self.agent.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def json(self, path):
        status, ctype, body = self.agent.get(path)
        self.assertEqual(status, 200, body)
        self.assertEqual(ctype, "application/json")
        return json.loads(body)

    def test_health_and_tasks_with_a_task_in_flight(self):
        worker, spec = isolated_demo(self.dir)
        self.agent = Agent([spec, "--stuck-after", "1"])
        self.agent.wait_attached()
        self.assertEqual(self.agent.get("/health/live")[0::2], (200, "ok\n"))
        self.assertEqual(self.agent.get("/health/ready")[0::2], (200, "ready\n"))
        h = self.json("/health")
        self.assertEqual(h["status"], "ok", h)
        self.assertEqual(h["probes_attached"], 2)
        self.assertEqual(h["exporter"], "console")
        self.assertEqual(self.json("/tasks"), {"tasks": [], "count": 0, "truncated": False})

        # CreateZip at scale 20: 2.4 s of upload, then the archive steps; ~10 s in all
        self.worker = subprocess.Popen([worker, "--tasks", "1", "--scale", "20"],
                                       stderr=subprocess.DEVNULL)
        t = wait_for(lambda: self.json("/tasks")["count"] == 1 and self.json("/tasks"),
                     what="a task in flight")
        task = t["tasks"][0]
        self.assertEqual(task["name"], "CreateZip")
        self.assertEqual(task["id"], "1001")
        self.assertEqual(task["pid"], self.worker.pid)
        self.assertIn(task["step"], STEPS)
        self.assertGreaterEqual(task["age_seconds"], 0)
        self.assertFalse(t["truncated"])

        # older than --stuck-after 1: degraded, still 200
        h = wait_for(lambda: (lambda h: h["status"] == "degraded" and h)(self.json("/health")),
                     what="degraded")
        self.assertEqual(h["reasons"], ["1 tasks stuck"])
        self.assertEqual(h["stuck_tasks"], 1)
        self.assertGreaterEqual(h["open_spans"], 1)
        later = self.json("/tasks")["tasks"][0]
        self.assertGreater(later["age_seconds"], 1.0)
        self.assertEqual(self.json("/tasks?limit=0")["truncated"], True)
        status, _, metrics = self.agent.get("/metrics")
        self.assertIn('task_in_flight{task_name="CreateZip",service_name="demo-worker"} 1', metrics.splitlines())
        self.assertIn("tasktap_task_stuck 1", metrics.splitlines())

        # the process dies: its task ends (failed), nothing is in flight, health is ok
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()
        wait_for(lambda: self.json("/tasks")["count"] == 0, what="the task to end")
        h = wait_for(lambda: (lambda h: h["status"] == "ok" and h)(self.json("/health")),
                     what="ok again")
        self.assertEqual(h["stuck_tasks"], 0)
        status, _, metrics = self.agent.get("/metrics")
        lines = metrics.splitlines()
        self.assertIn('task_in_flight{task_name="CreateZip",service_name="demo-worker"} 0', lines)
        self.assertIn('task_failed_total{task_name="CreateZip",service_name="demo-worker"} 1', lines)
        self.assertEqual(self.agent.stop(), 0, self.agent.stderr())

    def test_other_paths_and_methods(self):
        self.agent = Agent([RECIPE])
        self.agent.wait_attached()
        self.assertEqual(self.agent.get("/nope")[0], 404)
        with socket.create_connection(tuple(self.agent.http_addr.rsplit(":", 1))) as s:
            s.sendall(b"POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
            self.assertIn(b" 405 ", s.recv(4096).split(b"\r\n")[0] + b" ")

    def test_a_taken_port_is_an_error_naming_it(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            addr = "127.0.0.1:%d" % s.getsockname()[1]
            a = Agent([RECIPE, "--http", addr])
            self.assertEqual(a.wait(30), 1)
        self.assertIn("cannot serve HTTP on '%s': the port is already in use" % addr,
                      a.stderr())
        self.assertNotIn("attached", a.stderr())

    def test_remote_address_needs_the_flag(self):
        a = Agent([RECIPE, "--http", "0.0.0.0:0"])
        self.assertEqual(a.wait(30), 2)
        self.assertIn("not a loopback address", a.stderr())
        self.agent = Agent([RECIPE, "--http", "0.0.0.0:0", "--http-allow-remote"])
        self.agent.wait_attached()
        self.assertTrue(self.agent.http_addr.startswith("0.0.0.0:"), self.agent.http_addr)
        port = self.agent.http_addr.rsplit(":", 1)[1]
        self.agent.http_addr = "127.0.0.1:" + port
        self.assertEqual(self.agent.get("/health/live")[0], 200)

    def test_no_http(self):
        self.agent = Agent([RECIPE, "--no-http"])
        self.agent.wait_attached()
        self.assertIsNone(self.agent.http_addr)
        self.assertNotIn("http:", self.agent.stderr())


if __name__ == "__main__":
    unittest.main()
