"""The node agent (issue 7) end to end with real BPF: workers found as they
start (comm: and binary: globs) traced from their first task, a worker in
its own mount and PID namespace, many specs with one broken, live reload
without losing an open span, restarts with --pin that lose nothing, and
`tasktap status`."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import unittest
import urllib.request

from harness import (Agent, AgentsAndProcesses, RECIPE, TASKTAP, WORKER, attrs, duration_ms,
                     run_tool)
from test_otlp import Receiver, free_port, wait_for

TASK = """  - role: task
        symbol: run_task
        key: arg0
        attributes:
          task.name: str(arg1)
        error: ret != 0
      - role: step
        symbol: execute_step
        key: arg0
        attributes:
          step.name: str(arg1)
        error: ret != 0
"""


def spec_text(target, service="demo-worker"):
    """A demo-worker spec for one target line ("comm: x" or "binary: /path")."""
    return "service: %s\nkeyspace: demo\ntargets:\n  - %s\n    probes:\n    %s" % (
        service, target, TASK)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def tag():
    return "%05d" % random.randrange(100000)


def names(spans):
    return sorted(s["name"] for s in spans)


# one CreateZip task: the task and its four step spans (one retried)
ONE_TASK = sorted(["CreateZip", "CreateZip.UploadSourceFiles", "CreateZip.CreateZipArchive",
                   "CreateZip.CreateZipArchive", "CreateZip.UploadResult"])


class NodeAgentTest(AgentsAndProcesses, unittest.TestCase):
    def agent(self, args, env=None):
        a = Agent(args, env=env)
        self.agents.append(a)
        a.wait_attached()
        return a

    def copy_worker(self, name, directory=None):
        path = os.path.join(directory or self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copy(WORKER, path)
        return path

    def run_worker(self, path, *args):
        p = subprocess.run([path, "--tasks", "1", "--scale", "0.02"] + list(args),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        self.assertEqual(p.returncode, 0)

    def start_long_task(self, agent, worker, scale):
        """Starts one task of the worker, its steps `scale` times longer, and
        returns once the agent has its first step open."""
        p = subprocess.Popen([worker, "--tasks", "1", "--scale", str(scale)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)

        def first_step_open():
            tasks = json.loads(agent.get("/tasks")[2])["tasks"]
            return tasks and tasks[0]["step"] == "UploadSourceFiles"
        wait_for(first_step_open, what="the task's first step open")
        return p

    def first_task_traced(self, spec, worker):
        """Starts an agent on spec, then the worker, whose first task runs at
        once: it is traced only if the worker was held until attached."""
        a = self.agent([spec, "--json"])
        self.run_worker(worker)
        self.wait_spans(a, 5, "the first task's spans")
        self.assertEqual(names(a.spans()), ONE_TASK)
        self.assertEqual(a.stop(), 0, a.stderr())
        return a

    def wait_spans(self, agent, n, what, timeout=30):
        wait_for(lambda: len(agent.spans()) >= n, timeout=timeout, what=what)

    def test_comm_target_traced_from_the_first_task(self):
        name = "ttc-" + tag()
        worker = self.copy_worker(name)
        spec = write(os.path.join(self.dir, "comm.yaml"), spec_text("comm: " + name))
        a = self.agent([spec, "--json"])
        # started after the agent, its first task runs at once: no --wait-signal
        self.run_worker(worker)
        self.wait_spans(a, 5, "the first task's spans")
        self.assertEqual(names(a.spans()), ONE_TASK)
        # the process is gone: so are its probes
        wait_for(lambda: json.loads(a.get("/health")[2])["attachments"] == [],
                 what="the exited worker's probes detached")
        self.assertEqual(a.stop(), 0, a.stderr())

    def test_a_stream_of_short_lived_workers_each_traced_from_its_first_task(self):
        """Each exit detaches that worker's probes, which the kernel makes
        slow (0.1-0.5 s a probe); done in the event loop, it kept the next
        workers held at exec past their deadline, untraced."""
        name = "tts-" + tag()
        worker = self.copy_worker(name)
        spec = write(os.path.join(self.dir, "stream.yaml"), spec_text("comm: " + name))
        a = self.agent([spec, "--json"])
        for _ in range(20):
            self.run_worker(worker)
        # a loaded machine makes the kernel's attach and detach slow (seconds
        # a worker): wait long, what is checked is that every task is traced
        self.wait_spans(a, 20 * 5, "every worker's spans", timeout=180)
        self.assertEqual(a.stop(), 0, a.stderr())
        self.assertEqual(names(a.spans()), sorted(ONE_TASK * 20))
        self.assertNotIn("deadline", a.stderr())

    def test_health_live_answered_while_the_loop_is_busy_attaching(self):
        """A stream of short-lived workers under a comm: target keeps the
        event loop in the kernel (perf_uprobe_init waits behind the reaper's
        removals: up to seconds under load). A liveness probe with a 1 s
        timeout, asked every 50 ms meanwhile, is answered every time: the
        HTTP server has a thread of its own. /health, which needs the loop,
        is answered too, and says how long the loop stalled."""
        name = "ttl-" + tag()
        worker = self.copy_worker(name)
        spec = write(os.path.join(self.dir, "busy.yaml"), spec_text("comm: " + name))
        a = self.agent([spec, "--json"])
        url = "http://%s" % a.http_addr
        probes, failures, healths = [], [], []
        done = threading.Event()

        def live():
            while not done.is_set():
                try:
                    with urllib.request.urlopen(url + "/health/live", timeout=1) as r:
                        probes.append(r.status)
                except Exception as e:  # a timeout, a reset: what a kubelet sees
                    failures.append(repr(e))
                time.sleep(0.05)

        def health():
            while not done.is_set():
                healths.append(a.get("/health", timeout=30)[0])
                time.sleep(0.2)

        def workers():
            for _ in range(10):
                self.run_worker(worker)

        pollers = [threading.Thread(target=f) for f in (live, health)]
        streams = [threading.Thread(target=workers) for _ in range(2)]
        for t in pollers + streams:
            t.start()
        for t in streams:
            t.join(120)
        done.set()
        for t in pollers:
            t.join(60)
        h = json.loads(a.get("/health")[2])
        print("\n/health/live: %d answered, %d not; the loop's longest stall: %.3f s"
              % (len(probes), len(failures), h["loop_longest_stall_seconds"]))
        self.assertEqual(failures, [])
        self.assertTrue(probes and set(probes) == {200}, probes)
        self.assertTrue(healths and set(healths) <= {200, 503}, healths)
        self.assertEqual(h["status"], "ok", h)
        self.assertGreater(len(a.spans()), 0)
        # the reaper closes every exited worker's probes first: slow in this kernel
        self.assertEqual(a.stop(timeout=120), 0, a.stderr())

    def test_binary_glob_traced_from_the_first_task(self):
        t = tag()
        bindir = os.path.join(self.dir, "bin")
        worker = self.copy_worker("ttg-%s-worker" % t, bindir)
        spec = write(os.path.join(self.dir, "glob.yaml"),
                     spec_text("binary: %s/ttg-*-worker" % bindir))
        a = self.agent([spec, "--json"])
        self.run_worker(worker)
        self.run_worker(worker, "--first-id", "2001")
        self.wait_spans(a, 10, "both runs' spans")
        spans = a.spans()
        self.assertEqual(sorted(attrs(s)["task.id"] for s in spans if s["name"] == "CreateZip"),
                         ['1001', '2001'])
        self.assertEqual(a.stop(), 0, a.stderr())

    def test_glob_whose_file_name_starts_with_a_glob_character(self):
        # no process name to watch: BPF holds execs from the glob's directory
        bindir = os.path.join(self.dir, "any-" + tag())
        worker = self.copy_worker("w-" + tag(), bindir)
        spec = write(os.path.join(self.dir, "dir.yaml"), spec_text("binary: %s/*" % bindir))
        self.first_task_traced(spec, worker)

    def test_more_globs_than_bpf_prefix_slots(self):
        # 20 worker types: their names share "ttm-", which BPF watches for all of them
        t = tag()
        bindir = os.path.join(self.dir, "bin")
        targets = "".join("  - binary: %s/ttm-%02d-%s-*\n    probes:\n    %s"
                          % (bindir, i, t, TASK) for i in range(20))
        spec = write(os.path.join(self.dir, "many.yaml"),
                     "service: many\nkeyspace: demo\ntargets:\n" + targets)
        worker = self.copy_worker("ttm-17-%s-worker" % t, bindir)
        self.first_task_traced(spec, worker)

    def test_already_running_process_found_by_the_scan(self):
        name = "tts-" + tag()
        worker = self.copy_worker(name)
        p = subprocess.Popen([worker, "--tasks", "1", "--scale", "0.02", "--wait-signal"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        time.sleep(0.2)
        spec = write(os.path.join(self.dir, "scan.yaml"), spec_text("comm: " + name))
        a = self.agent([spec, "--json"])
        p.send_signal(signal.SIGUSR1)
        self.assertEqual(p.wait(30), 0)
        self.wait_spans(a, 5, "the running worker's spans")
        self.assertEqual(names(a.spans()), ONE_TASK)
        a.stop()

    def test_worker_in_its_own_mount_and_pid_namespace(self):
        self.traced_in_a_namespace("binary: {m}/ttn-*")

    def test_exact_path_that_exists_only_in_a_container(self):
        self.traced_in_a_namespace("binary: {m}/ttn-worker")

    def traced_in_a_namespace(self, target):
        t = tag()
        mnt = "/opt/ttns-" + t
        os.makedirs(mnt)
        self.addCleanup(os.rmdir, mnt)
        port = free_port()
        r = Receiver(port)
        self.addCleanup(r.stop)
        spec = write(os.path.join(self.dir, "ns.yaml"),
                     spec_text(target.format(m=mnt), service="ns-worker"))
        a = self.agent([spec, "--otlp-endpoint", "http://127.0.0.1:%d" % port],
                       env={"OTEL_BSP_SCHEDULE_DELAY": "100"})
        # the binary exists only in the new mount namespace: a private tmpfs; the
        # worker keeps running tasks, so that its /proc entry is there when the
        # exporter reads its resource
        script = ("mount -t tmpfs tmpfs {m} && cp {w} {m}/ttn-worker && "
                  "exec {m}/ttn-worker --tasks 100000 --scale 0.05").format(m=mnt, w=WORKER)
        p = subprocess.Popen(["unshare", "-m", "-p", "-f", "--kill-child", "--propagation", "private",
                              "--mount-proc", "sh", "-c", script],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        wait_for(lambda: r.stats()["spans"] >= 5, what="the namespaced worker's spans")
        self.assertEqual(os.listdir(mnt), [])  # not on the host
        wait_for(lambda: len([s for s in r.spans()
                              if s["attributes"].get("task.id") == "1001"]) >= 5,
                 what="the first task's spans")
        spans = [s for s in r.spans() if s["attributes"].get("task.id") == "1001"]
        self.assertEqual(names(spans), ONE_TASK)
        res = spans[0]["resource"]
        self.assertEqual(res["process.executable.path"], mnt + "/ttn-worker")
        # the first process of a new PID namespace is 1 there (sh exec'ed the worker)
        self.assertEqual(res["process.vpid"], 1)
        self.assertNotEqual(res["process.pid"], 1)
        self.assertIn("(in another mount namespace)", a.get("/health")[2])
        a.stop()

    def test_spec_dir_with_a_broken_spec(self):
        specs = os.path.join(self.dir, "specs")
        os.makedirs(specs)
        os.chmod(specs, 0o755)
        name = "ttb-" + tag()
        worker = self.copy_worker(name)
        write(os.path.join(specs, "a-broken.yaml"), "service: x\ntargets:\n  - comm: y\n"
              "    probes:\n      - role: nonsense\n        symbol: run_task\n")
        write(os.path.join(specs, "b-good.yaml"), spec_text("comm: " + name))
        a = self.agent(["--spec-dir", specs, "--json"])
        self.assertIn("a-broken.yaml:5:", a.stderr())
        self.assertIn("1 of 2 spec files have problems", a.stderr())
        self.run_worker(worker)
        self.wait_spans(a, 5, "the good spec's spans")
        health = json.loads(a.get("/health")[2])
        self.assertEqual([s["ok"] for s in health["specs"]], [False, True])
        self.assertIn("a-broken.yaml:5:", health["specs"][0]["error"])
        a.stop()

    def test_sighup_adds_and_removes_probes_keeping_an_open_span(self):
        specs = os.path.join(self.dir, "specs")
        os.makedirs(specs)
        os.chmod(specs, 0o755)
        wa, wb, wc = (self.copy_worker("tth%s-%s" % (x, tag())) for x in "abc")
        write(os.path.join(specs, "a.yaml"), spec_text("binary: " + wa))
        write(os.path.join(specs, "c.yaml"), spec_text("binary: " + wc))
        a = self.agent(["--spec-dir", specs, "--json"])
        # a task of worker a is open across the reload
        pa = subprocess.Popen([wa, "--tasks", "1", "--scale", "4"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(pa)
        wait_for(lambda: json.loads(a.get("/tasks")[2]), what="worker a's task open")
        write(os.path.join(specs, "b.yaml"), spec_text("binary: " + wb))
        os.unlink(os.path.join(specs, "c.yaml"))
        a.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded specs: 1 unchanged, 0 changed, 1 loaded, 1 removed"
                 in a.stderr(),
                 what="the reload")
        files = {x["spec"] for x in json.loads(a.get("/health")[2])["attachments"]}
        self.assertEqual(files, {os.path.join(specs, "a.yaml"), os.path.join(specs, "b.yaml")})
        self.run_worker(wb, "--first-id", "2001")
        self.run_worker(wc, "--first-id", "3001")  # its spec is gone: not traced
        self.assertEqual(pa.wait(60), 0)
        self.wait_spans(a, 10, "the spans of workers a and b")
        a.stop()
        spans = a.spans()
        tasks = {attrs(s)["task.id"]: s for s in spans if s["name"] == "CreateZip"}
        self.assertEqual(sorted(tasks), ['1001', '2001'])
        self.assertNotIn("tasktap.cut", attrs(tasks['1001']))
        self.assertEqual(tasks["1001"]["status"]["code"], 0)
        self.assertEqual(len(spans), 10)

    def test_editing_a_spec_keeps_the_open_spans_of_probes_that_stayed(self):
        wa = self.copy_worker("tte-" + tag())
        spec = write(os.path.join(self.dir, "edit.yaml"), spec_text("binary: " + wa))
        a = self.agent([spec, "--json"])
        # steps of 2.4 s, 0.8 s, 4.8 s and 1.8 s: the reload lands in the first
        pa = self.start_long_task(a, wa, 20)
        # the task probe stays as it was (keys in another order, other layout);
        # the step probe changes: a new constant attribute
        write(spec, "# edited\nservice: demo-worker\nkeyspace: demo\ntargets:\n"
              "  - binary: %s\n    probes:\n"
              "      - {symbol: run_task, role: task, key: arg0,\n"
              "         attributes: {task.name: str(arg1)}, error: ret != 0}\n"
              "      - role: step\n        symbol: execute_step\n        key: arg0\n"
              "        attributes:\n          step.name: str(arg1)\n"
              "          step.phase: \"v2\"\n        error: ret != 0\n" % wa)
        a.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "1 of 2 hooks kept with their open spans" in a.stderr(),
                 what="the in-place reload")
        # the summary follows once the reload has rescanned /proc: wait for it too
        wait_for(lambda: "reloaded specs:" in a.stderr(), what="the reload's summary")
        self.assertIn("reloaded specs: 0 unchanged, 1 changed, 0 loaded, 0 removed",
                      a.stderr())
        self.assertEqual(pa.wait(60), 0)
        self.wait_spans(a, 5, "the task's spans")
        # an edit that breaks the file: the version in use stays
        write(spec, "service: x\ntargets: [\n")
        a.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "(the previous version stays in use)" in a.stderr(),
                 what="the broken edit refused")
        health = json.loads(a.get("/health")[2])
        self.assertTrue(health["specs"][0]["ok"])
        self.assertIn("edit.yaml:3:", health["specs"][0]["reload_error"])
        rc, out, err = run_tool(["status", "--http", a.http_addr])
        self.assertEqual(rc, 0, err)
        self.assertIn("ok, 2 hooks; its last edit is not in use: %s:3:" % spec, out)
        self.run_worker(wa, "--first-id", "2001")
        self.wait_spans(a, 10, "the spans after the broken edit")
        a.stop()
        first = [s for s in a.spans() if attrs(s)["task.id"] == "1001"]
        by_name = {}
        for s in first:
            by_name.setdefault(s["name"], []).append(attrs(s))
        task = by_name["CreateZip"][0]
        self.assertNotIn("tasktap.cut", task)  # its return still paired after the reload
        self.assertEqual([s["status"]["code"] for s in first if s["name"] == "CreateZip"], [0])
        # the step open at the reload was of the old step probe: it ends under the new one at
        # the same place, its return paired (not cut)
        self.assertNotIn("tasktap.cut", by_name["CreateZip.UploadSourceFiles"][0])
        self.assertEqual(by_name["CreateZip.UploadSourceFiles"][0]["step.name"],
                         "UploadSourceFiles")
        # the steps after it are the new probe's
        later = by_name["CreateZip.CreateZipArchive"] + by_name["CreateZip.UploadResult"]
        self.assertEqual([x.get("step.phase") for x in later], ["v2"] * 3)
        self.assertEqual(len(first), 5)
        second = [attrs(s) for s in a.spans() if attrs(s)["task.id"] == "2001"]
        self.assertEqual(len(second), 5)
        self.assertEqual({x.get("step.phase") for x in second if "step.name" in x}, {"v2"})

    def test_sigkill_and_restart_with_pin_loses_nothing(self):
        pin = "/sys/fs/bpf/tasktap-test-" + tag()
        self.addCleanup(shutil.rmtree, pin, True)
        worker = self.copy_worker("ttp-" + tag())
        spec = write(os.path.join(self.dir, "pin.yaml"), spec_text("binary: " + worker))
        first = self.agent([spec, "--json", "--pin", pin])
        first.proc.kill()  # SIGKILL: no detach, no drain
        first.proc.wait()
        # while no agent runs: three tasks, fifteen spans, recorded in the pinned rings
        for i in range(3):
            self.run_worker(worker, "--first-id", str(4001 + 10 * i))
        second = self.agent([spec, "--json", "--pin", pin])
        self.assertIn("adopted the probes and rings pinned in", second.stderr())
        self.wait_spans(second, 15, "the spans recorded while no agent ran")
        # and it keeps tracing with the adopted probes
        self.run_worker(worker, "--first-id", "5001")
        self.wait_spans(second, 20, "spans after the restart")
        second.stop()
        spans = second.spans()
        ids = sorted(attrs(s)["task.id"] for s in spans if s["name"] == "CreateZip")
        self.assertEqual(ids, ['4001', '4011', '4021', '5001'])
        self.assertEqual(len(spans), 20)
        for s in spans:
            self.assertNotIn("tasktap.cut", attrs(s))

    def sigkill_mid_step(self, env):
        """An agent with --pin killed (SIGKILL) in the task's first step and
        a second one started, with `env`: the second's spans, and the spans
        it counted lost."""
        pin = "/sys/fs/bpf/tasktap-test-" + tag()
        self.addCleanup(shutil.rmtree, pin, True)
        worker = self.copy_worker("ttk-" + tag())
        spec = write(os.path.join(self.dir, "pin.yaml"), spec_text("binary: " + worker))
        first = self.agent([spec, "--json", "--pin", pin], env=env)
        # steps of 1.2 s, 0.4 s, 2.4 s and 0.9 s: the kill lands in the first, the task's
        # and the step's starts seen by the killed agent alone
        p = self.start_long_task(first, worker, 10)
        first.proc.kill()
        first.proc.wait()
        second = self.agent([spec, "--json", "--pin", pin], env=env)
        self.assertEqual(p.wait(60), 0)
        self.wait_spans(second, 3, "the steps that started after the kill")
        self.assertEqual(second.stop(), 0, second.stderr())
        m = re.search(r"(\d+) spans lost: their end came without their start", second.stderr())
        self.assertIsNotNone(m, second.stderr())
        # every span of the task arrived or was counted lost
        self.assertEqual(len(second.spans()) + int(m.group(1)), len(ONE_TASK))
        return second.spans(), int(m.group(1))

    def test_sigkill_with_a_task_open_counts_the_spans_it_loses(self):
        # one event per call (the default): the step running through the restart is in BPF,
        # its frame in the pinned `frames`, and its return, through the adopted link, writes
        # it whole; only the task, whose start the killed agent alone saw, is lost
        spans, lost = self.sigkill_mid_step(None)
        self.assertEqual(lost, 1)
        # the steps without their task's name: its span is not open in the second agent
        self.assertEqual(sorted(s["name"] for s in spans),
                         sorted(n.split(".")[1] for n in ONE_TASK if n != "CreateZip"))
        first = [s for s in spans if s["name"] == "UploadSourceFiles"]
        self.assertEqual(len(first), 1)
        self.assertNotIn("tasktap.cut", attrs(first[0]))
        self.assertGreater(duration_ms(first[0]), 1100)  # 1.2 s from its start, before the kill

    def test_sigkill_with_a_task_open_counts_the_spans_it_loses_two_events(self):
        # entry and return events: the step's start is lost with the killed agent too
        spans, lost = self.sigkill_mid_step({"TASKTAP_SESSION": "0"})
        self.assertEqual(lost, 2)  # the task and its first step
        self.assertNotIn("UploadSourceFiles", [s["name"] for s in spans])

    def test_restart_with_pin_continues_the_open_spans(self):
        pin = "/sys/fs/bpf/tasktap-test-" + tag()
        self.addCleanup(shutil.rmtree, pin, True)
        worker = self.copy_worker("tto-" + tag())
        spec = write(os.path.join(self.dir, "pin.yaml"), spec_text("binary: " + worker))
        first = self.agent([spec, "--json", "--pin", pin])
        # steps of 1.2 s, 0.4 s, 2.4 s and 0.9 s: the restart lands in the first
        p = self.start_long_task(first, worker, 10)
        self.assertEqual(first.stop(signal.SIGTERM), 0, first.stderr())
        self.assertIn("handed 2 open spans over to the next agent", first.stderr())
        self.assertEqual(first.spans(), [])  # nothing ended early
        second = self.agent([spec, "--json", "--pin", pin])
        self.assertIn("continuing 2 spans the earlier agent left open", second.stderr())
        self.assertEqual(p.wait(60), 0)
        self.wait_spans(second, 5, "the task's spans")
        second.stop()
        spans = second.spans()
        self.assertEqual(names(spans), ONE_TASK)
        task = [s for s in spans if s["name"] == "CreateZip"][0]
        for s in spans:
            self.assertNotIn("tasktap.cut", attrs(s))
            self.assertEqual(s["traceId"], task["traceId"])
            if s is not task:
                self.assertEqual(s["parentSpanId"], task["spanId"])
        upload = [s for s in spans if s["name"] == "CreateZip.UploadSourceFiles"][0]
        # it started under the first agent: its start is the entry's, not the restart's
        self.assertLess(int(upload["startTimeUnixNano"]), int(task["startTimeUnixNano"]) + 10**8)
        self.assertEqual(task["status"]["code"], 0)
        # the handover was taken once: a third agent finds none
        third = self.agent([spec, "--json", "--pin", pin])
        third.stop()
        self.assertNotIn("continuing", third.stderr())

    def test_status_shows_live_figures(self):
        name = "ttst-" + tag()
        worker = self.copy_worker(name)
        spec = write(os.path.join(self.dir, "status.yaml"), spec_text("comm: " + name))
        a = self.agent([spec, "--json"])
        p = subprocess.Popen([worker, "--tasks", "1", "--scale", "6"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_for(lambda: json.loads(a.get("/tasks")[2]), what="a task open")
        time.sleep(1.5)  # one rate sample with events in it
        rc, out, err = run_tool(["status", "--http", a.http_addr])
        self.assertEqual(rc, 0, err)
        self.assertIn("status:", out)
        self.assertIn("events/s:", out)
        self.assertRegex(out, r"open spans:\s+[1-9]")
        self.assertRegex(out, r"probes attached:\s+2")
        self.assertIn("exporter:              json", out)
        self.assertIn("status.yaml", out)
        self.assertRegex(out, r"hook \d+ +task +run_task +in .*%s \(pid %d\)" % (name, p.pid))
        rc, out, _ = run_tool(["status", "--http", a.http_addr, "--json"])
        self.assertEqual(json.loads(out)["attachments"][0]["pid"], p.pid)
        rc, _, err = run_tool(["status", "--http", "127.0.0.1:1"])
        self.assertEqual(rc, 1)
        self.assertIn("cannot reach the agent", err)
        p.kill()
        a.stop()


if __name__ == "__main__":
    unittest.main()
