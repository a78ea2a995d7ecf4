"""Debian's unmodified Gearman, traced through libgearman.so.8 with
recipes/gearman.yaml: a real gearmand on loopback, the `gearman` CLI as
worker and as client (foreground and -b). Each job is one trace: the
client's publish (PRODUCER) and the worker's process (CONSUMER) joined by
the job's unique id; a failed job and a worker killed mid-job are errors,
and a job run again on another worker is attempt 2."""
import os
import shutil
import signal
import socket
import subprocess
import time
import unittest

from harness import Agent, attrs

RECIPE = os.path.abspath("recipes/gearman.yaml")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GearmanTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("gearmand", "gearman"):
            if not shutil.which(tool):
                raise AssertionError("%s is missing: make deps installs gearman-job-server "
                                     "and gearman-tools" % tool)
        cls.port = free_port()
        cls.gearmand = subprocess.Popen(
            [shutil.which("gearmand"), "-L", "127.0.0.1", "-p", str(cls.port), "-t", "2",
             "--log-file", "none"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", cls.port), 0.2).close()
                break
            except OSError:
                if time.time() > deadline or cls.gearmand.poll() is not None:
                    raise AssertionError("gearmand did not start")
                time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.gearmand.kill()
        cls.gearmand.wait()

    def setUp(self):
        self.procs = []
        self.agent = Agent([RECIPE, "--json"])
        self.addCleanup(self.cleanup)
        self.agent.wait_attached()

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.agent.stop()

    def gearman(self, *args):
        return ["gearman", "-h", "127.0.0.1", "-p", str(self.port)] + list(args)

    def worker(self, function, *command, jobs=1):
        p = subprocess.Popen(self.gearman("-w", "-c", str(jobs), "-f", function, "--") +
                             list(command), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        time.sleep(0.3)  # registered with gearmand
        return p

    def client(self, function, data, *flags):
        return subprocess.run(self.gearman(*flags, "-f", function), input=data,
                              capture_output=True, timeout=30)

    def spans(self):
        time.sleep(0.3)
        self.assertEqual(self.agent.stop(), 0, self.agent.stderr())
        return self.agent.spans()

    def one_trace(self, spans, function):
        pubs = [s for s in spans if s["name"] == "publish " + function]
        cons = [s for s in spans if s["name"] == "process " + function]
        self.assertEqual(len(pubs), 1, spans)
        self.assertGreaterEqual(len(cons), 1, spans)
        pub = pubs[0]
        key = attrs(pub)["task.id"]
        self.assertRegex(key, r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertEqual(pub["kind"], 4)  # PRODUCER
        self.assertEqual(attrs(pub)["messaging.system"], "gearman")
        self.assertEqual(attrs(pub)["messaging.destination.name"], function)
        self.assertNotIn("parentSpanId", pub)
        for c in cons:
            self.assertEqual(c["kind"], 5)  # CONSUMER
            self.assertEqual(attrs(c)["task.id"], key)
            self.assertEqual(c["traceId"], pub["traceId"])
            self.assertEqual(c["parentSpanId"], pub["spanId"])
            self.assertEqual(attrs(c)["messaging.destination.name"], function)
            self.assertRegex(attrs(c)["messaging.message.id"], r"^H:")
        return pub, cons

    def test_foreground_job_is_one_trace(self):
        self.worker("reverse", "rev")
        p = self.client("reverse", b"hello\n")
        self.assertEqual(p.stdout.strip(), b"olleh")
        pub, [con] = self.one_trace(self.spans(), "reverse")
        self.assertNotIn("gearman.background", attrs(pub))
        self.assertEqual(con["status"]["code"], 0)
        self.assertEqual(attrs(con)["task.attempt"], 1)
        # the worker ran the job after the client submitted it
        self.assertGreater(int(con["startTimeUnixNano"]), int(pub["startTimeUnixNano"]))

    def test_background_job_is_one_trace(self):
        self.assertEqual(self.client("bg", b"data\n", "-b").returncode, 0)
        time.sleep(0.3)  # the client is gone before any worker exists
        w = self.worker("bg", "cat")
        w.wait(30)
        pub, [con] = self.one_trace(self.spans(), "bg")
        self.assertEqual(attrs(pub)["gearman.background"], "true")
        self.assertEqual(con["status"]["code"], 0)
        self.assertGreater(int(con["startTimeUnixNano"]), int(pub["endTimeUnixNano"]))

    def test_failed_job_is_an_error(self):
        self.worker("fails", "false")
        p = self.client("fails", b"x\n")
        self.assertNotEqual(p.returncode, 0)
        _, [con] = self.one_trace(self.spans(), "fails")
        self.assertEqual(con["status"]["code"], 2)
        self.assertIn("returned 24", con["status"]["message"])

    def test_worker_killed_mid_job_then_attempt_2_on_another_worker(self):
        first = self.worker("slow", "sleep", "30")
        self.assertEqual(self.client("slow", b"x\n", "-b").returncode, 0)
        time.sleep(1.0)  # the first worker has the job
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        second = self.worker("slow", "cat")
        second.wait(30)
        pub, cons = self.one_trace(self.spans(), "slow")
        self.assertEqual(len(cons), 2, cons)
        cons.sort(key=lambda c: int(c["startTimeUnixNano"]))
        killed, rerun = cons
        self.assertEqual(attrs(killed)["task.attempt"], 1)
        self.assertEqual(killed["status"]["code"], 2)
        self.assertIn("killed by signal 9", killed["status"]["message"])
        self.assertEqual(attrs(killed)["tasktap.cut"], "exit")
        self.assertEqual(attrs(rerun)["task.attempt"], 2)
        self.assertEqual(rerun["status"]["code"], 0)
        self.assertNotEqual(attrs(killed)["tasktap.thread.tid"], attrs(rerun)["tasktap.thread.tid"])


if __name__ == "__main__":
    unittest.main()
