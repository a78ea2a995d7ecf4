"""Debian's unmodified Gearman, traced through libgearman.so.8 with
recipes/gearman.yaml: a real gearmand on loopback, the `gearman` CLI as
worker and as client (foreground and -b), and a C client and worker on
libgearman (tests/workers/gearman-worker.c) that submit with the blocking
gearman_client_do*() and do*_background() and fail jobs with
gearman_job_send_fail() and send_exception(), as PHP's do*() and
sendFail() do. Each job is one trace: the client's publish (PRODUCER) and
the worker's process (CONSUMER) joined by the job's unique id; a failed job,
a WORK_FAIL or WORK_EXCEPTION and a worker killed mid-job are errors, and a
job run again on another worker is attempt 2. A recipe pinned to another
build of the library is refused with the build-id found."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, free_port, run_tool, write_spec

RECIPE = os.path.abspath("recipes/gearman.yaml")


def n(name):
    """A function name or unique id of this test run: a library target
    sees every process on the host, other runs' jobs included."""
    return "%s-%d" % (name, os.getpid())

C_WORKER = os.path.abspath(".output/gearman-worker")


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

    def wait_child(self, parent, comm, timeout=60):
        """Waits until PARENT has a child process named COMM."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open("/proc/%s/stat" % pid) as f:
                        stat = f.read()
                except OSError:
                    continue
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                if ppid == parent.pid and name == comm:
                    return
            self.assertIsNone(parent.poll(), "the worker ended")
            time.sleep(0.05)
        self.fail("no %s started by the worker in %d s" % (comm, timeout))

    def client(self, function, data, *flags):
        return subprocess.run(self.gearman(*flags, "-f", function), input=data,
                              capture_output=True, timeout=30)

    def spans(self):
        time.sleep(0.3)
        self.assertEqual(self.agent.stop(), 0, self.agent.stderr())
        return self.agent.spans()

    def c_worker(self, function, n):
        p = subprocess.Popen([C_WORKER, "work", str(self.port), function, str(n)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        self.procs.append(p)
        self.assertEqual(p.stdout.readline(), "ready\n", p.stderr.read() if p.poll() else "")
        return p

    def c_client(self, mode, function, unique, workload):
        p = subprocess.run([C_WORKER, mode, str(self.port), function, unique, workload],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        rc, _, handle = p.stdout.strip().partition(" ")
        return int(rc), handle

    def c_jobs(self, worker):
        """What the C worker ran: [(handle, unique, workload)] in order."""
        out, err = worker.communicate(timeout=60)
        self.assertEqual(worker.returncode, 0, err)
        return [tuple(line.split()) for line in out.splitlines()]

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
        self.worker(n("reverse"), "rev")
        p = self.client(n("reverse"), b"hello\n")
        self.assertEqual(p.stdout.strip(), b"olleh")
        pub, [con] = self.one_trace(self.spans(), n("reverse"))
        self.assertNotIn("gearman.background", attrs(pub))
        self.assertEqual(con["status"]["code"], 0)
        self.assertEqual(attrs(con)["task.attempt"], 1)
        # the worker ran the job after the client submitted it
        self.assertGreater(int(con["startTimeUnixNano"]), int(pub["startTimeUnixNano"]))
        # the CLI's task, freed after its publish ended, is not a do*()'s: no
        # annotate looked for an open span
        self.assertNotIn("annotate probes found no open span", self.agent.stderr())

    def test_background_job_is_one_trace(self):
        self.assertEqual(self.client(n("bg"), b"data\n", "-b").returncode, 0)
        time.sleep(0.3)  # the client is gone before any worker exists
        w = self.worker(n("bg"), "cat")
        w.wait(30)
        pub, [con] = self.one_trace(self.spans(), n("bg"))
        self.assertEqual(attrs(pub)["gearman.background"], "true")
        self.assertEqual(con["status"]["code"], 0)
        self.assertGreater(int(con["startTimeUnixNano"]), int(pub["endTimeUnixNano"]))

    def test_failed_job_is_an_error(self):
        self.worker(n("fails"), "false")
        p = self.client(n("fails"), b"x\n")
        self.assertNotEqual(p.returncode, 0)
        _, [con] = self.one_trace(self.spans(), n("fails"))
        self.assertEqual(con["status"]["code"], 2)
        self.assertIn("returned 24", con["status"]["message"])

    def test_worker_killed_mid_job_then_attempt_2_on_another_worker(self):
        first = self.worker(n("slow"), "sleep", "30")
        self.assertEqual(self.client(n("slow"), b"x\n", "-b").returncode, 0)
        self.wait_child(first, "sleep")  # the first worker has the job and runs it
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        second = self.worker(n("slow"), "cat")
        second.wait(30)
        pub, cons = self.one_trace(self.spans(), n("slow"))
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

    def test_blocking_do_and_background_do_from_a_c_client(self):
        worker = self.c_worker(n("cdo"), 4)
        # foreground: the client waits for each result; a unique given or made
        self.assertEqual(self.c_client("do", n("cdo"), n("u-do-1"), "ok"), (0, ""))
        self.assertEqual(self.c_client("do_high", n("cdo"), "-", "ok")[0], 0)
        rc, handle = self.c_client("bg", n("cdo"), n("u-bg-1"), "ok")
        self.assertEqual(rc, 0)
        self.assertRegex(handle, r"^H:")
        rc, handle_low = self.c_client("bg_low", n("cdo"), "-", "ok")
        self.assertEqual(rc, 0)
        jobs = self.c_jobs(worker)
        self.assertEqual(len(jobs), 4, jobs)
        spans = self.spans()
        pubs = sorted((s for s in spans if s["name"] == "publish " + n("cdo")),
                      key=lambda s: int(s["startTimeUnixNano"]))
        self.assertEqual([attrs(p)["code.function.name"] for p in pubs],
                         ["gearman_client_do", "gearman_client_do_high",
                          "gearman_client_do_background", "gearman_client_do_low_background"],
                         spans)
        # each publish got its job's unique id (given, or made by libgearman)
        self.assertEqual([attrs(p)["task.id"] for p in pubs], [j[1] for j in jobs])
        self.assertEqual(attrs(pubs[0])["task.id"], n("u-do-1"))
        self.assertEqual(attrs(pubs[2])["task.id"], n("u-bg-1"))
        self.assertEqual(attrs(pubs[2])["messaging.message.id"], handle)
        self.assertEqual(attrs(pubs[3])["messaging.message.id"], handle_low)
        self.assertEqual(attrs(pubs[1])["gearman.priority"], "high")
        self.assertEqual(attrs(pubs[3])["gearman.priority"], "low")
        for p, (job_handle, unique, _) in zip(pubs, jobs):
            self.assertEqual(p["kind"], 4)
            self.assertNotIn("parentSpanId", p)
            self.assertEqual(p["status"].get("code", 0), 0, p)
            con, = [c for c in spans if c["name"] == "process " + n("cdo") and
                    attrs(c)["task.id"] == unique]
            self.assertEqual(con["traceId"], p["traceId"])
            self.assertEqual(con["parentSpanId"], p["spanId"])
            self.assertEqual(attrs(con)["messaging.message.id"], job_handle)
            self.assertEqual(con["status"].get("code", 0), 0, con)
        # a blocking do waits while the worker runs its job (the worker's
        # gearman_worker_work() returns after it sent the result: its span
        # may end after the client's)
        for p in pubs[:2]:
            con, = [c for c in spans if c["name"] == "process " + n("cdo") and
                    attrs(c)["task.id"] == attrs(p)["task.id"]]
            self.assertLess(int(p["startTimeUnixNano"]), int(con["startTimeUnixNano"]))
            self.assertGreater(int(p["endTimeUnixNano"]), int(con["startTimeUnixNano"]))
        self.assertNotIn("annotate probes found no open span", self.agent.stderr())

    def test_send_fail_and_send_exception_are_errors(self):
        worker = self.c_worker(n("cfail"), 3)
        self.assertNotEqual(self.c_client("do", n("cfail"), n("u-fail"), "fail")[0], 0)
        self.assertNotEqual(self.c_client("do", n("cfail"), n("u-exc"), "exception")[0], 0)
        self.assertEqual(self.c_client("do_low", n("cfail"), n("u-ok"), "ok")[0], 0)
        self.assertEqual([j[1:] for j in self.c_jobs(worker)],
                         [(n("u-fail"), "fail"), (n("u-exc"), "exception"), (n("u-ok"), "ok")])
        spans = self.spans()
        by = {}
        for s in spans:
            if s["name"] in ("publish " + n("cfail"), "process " + n("cfail")):
                by[(s["name"].split()[0], attrs(s)["task.id"])] = s
        self.assertEqual(len(by), 6, spans)
        for key in (n("u-fail"), n("u-exc"), n("u-ok")):
            pub, con = by[("publish", key)], by[("process", key)]
            self.assertEqual(con["parentSpanId"], pub["spanId"])
            self.assertEqual(con["traceId"], pub["traceId"])
        # the worker's own report: gearman_worker_work() returned success
        fail, exc = by[("process", n("u-fail"))], by[("process", n("u-exc"))]
        self.assertEqual(fail["status"]["code"], 2)
        self.assertEqual(fail["status"]["message"], "the worker sent WORK_FAIL")
        self.assertEqual(attrs(fail)["error.type"], "gearman_job_send_fail")
        self.assertEqual(exc["status"]["code"], 2)
        self.assertEqual(exc["status"]["message"], "the worker sent WORK_EXCEPTION")
        self.assertEqual(attrs(exc)["gearman.exception"], "boom")
        self.assertEqual(by[("process", n("u-ok"))]["status"].get("code", 0), 0)
        # and the client's: its blocking do failed
        for key in (n("u-fail"), n("u-exc")):
            pub = by[("publish", key)]
            self.assertEqual(pub["status"]["code"], 2, pub)
            self.assertIn("(error: u32(arg6) != 0)", pub["status"]["message"])
        self.assertEqual(by[("publish", n("u-ok"))]["status"].get("code", 0), 0)


class GearmanPinTest(unittest.TestCase):
    def test_recipe_pinned_to_another_build_is_refused(self):
        # the recipe reads libgearman's private structs: on another build of
        # the library it is refused, naming the build it found
        with open(RECIPE) as f:
            text = f.read()
        d = tempfile.mkdtemp(prefix="tasktap-gearman-pin-")
        self.addCleanup(shutil.rmtree, d, True)
        spec = write_spec(text.replace("1b25be9f7cd0ababf46599250bc13a1c336c34a8",
                                       "00000000000000000000000000000000000000aa"), d)
        rc, out, err = run_tool(["check", spec])
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("build-id mismatch: the probe is pinned to build "
                      "00000000000000000000000000000000000000aa, but", err)
        self.assertIn("is build 1b25be9f7cd0ababf46599250bc13a1c336c34a8", err)
        self.assertRegex(err, r"spec\.yaml:\d+:\d+: ")


if __name__ == "__main__":
    unittest.main()
