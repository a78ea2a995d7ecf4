"""The demo worker, traced with real BPF: exact spans, attach by binary and
by pid, and a target that dies mid-task."""
import os
import re
import signal
import subprocess
import time
import unittest

from harness import Agent, RECIPE, WORKER, attrs, duration_ms

SCALE = 0.5
# step -> milliseconds the worker sleeps in it (before SCALE)
SLEEPS = {"UploadSourceFiles": 120, "UploadResult": 90, "Decode": 50,
          "ResizeSmall": 80, "ResizeLarge": 150, "Store": 30}
ZIP_ATTEMPTS = {1: 40, 2: 240}
SLACK_MS = 150  # scheduling noise on a shared machine


def by_name(spans):
    out = {}
    for s in spans:
        out.setdefault(s["name"], []).append(s)
    return out


class DemoWorkerTest(unittest.TestCase):
    def assertSlept(self, span, ms):
        d = duration_ms(span)
        self.assertGreaterEqual(d, ms * SCALE, span["name"])
        self.assertLess(d, ms * SCALE + SLACK_MS, span["name"])

    def assertChildOf(self, child, parent):
        self.assertEqual(child["traceId"], parent["traceId"], child["name"])
        self.assertEqual(child.get("parentSpanId"), parent["spanId"], child["name"])
        self.assertGreaterEqual(int(child["startTimeUnixNano"]), int(parent["startTimeUnixNano"]))
        self.assertLessEqual(int(child["endTimeUnixNano"]), int(parent["endTimeUnixNano"]))

    def check_create_zip(self, spans, task_id):
        tasks = [s for s in spans if s["name"] == "CreateZip" and attrs(s)["task.id"] == task_id]
        self.assertEqual(len(tasks), 1)
        task = tasks[0]
        self.assertNotIn("parentSpanId", task)
        self.assertEqual(task["status"]["code"], 0)  # UNSET: no error
        self.assertNotIn("error.type", attrs(task))
        self.assertEqual(attrs(task)["task.name"], "CreateZip")
        self.assertEqual(attrs(task)["code.function.name"], "run_task")
        kids = [s for s in spans if s.get("parentSpanId") == task["spanId"]]
        kids.sort(key=lambda s: int(s["startTimeUnixNano"]))
        self.assertEqual([k["name"] for k in kids],
                         ["CreateZip.UploadSourceFiles", "CreateZip.CreateZipArchive",
                          "CreateZip.CreateZipArchive", "CreateZip.UploadResult"])
        for k in kids:
            self.assertChildOf(k, task)
            self.assertEqual(attrs(k)["task.id"], task_id)
            self.assertEqual(attrs(k)["tasktap.thread.tid"], attrs(task)["tasktap.thread.tid"])
        first, second = kids[1], kids[2]
        self.assertEqual(attrs(first)["step.attempt"], 1)
        self.assertEqual(first["status"]["code"], 2)
        self.assertIn("returned -1", first["status"]["message"])
        self.assertEqual(attrs(first)["error.type"], "-1")  # the code it returned
        self.assertNotIn("step.status", attrs(first))  # the status says it
        self.assertEqual(attrs(second)["step.attempt"], 2)
        self.assertEqual(second["status"]["code"], 0)
        self.assertEqual(attrs(kids[0])["step.attempt"], 1)
        self.assertEqual(attrs(kids[3])["step.attempt"], 1)
        self.assertSlept(kids[0], SLEEPS["UploadSourceFiles"])
        self.assertSlept(first, ZIP_ATTEMPTS[1])
        self.assertSlept(second, ZIP_ATTEMPTS[2])
        self.assertSlept(kids[3], SLEEPS["UploadResult"])
        self.assertGreaterEqual(duration_ms(task), sum(duration_ms(k) for k in kids))
        return task

    def check_thumbnail(self, spans, task_id):
        tasks = [s for s in spans if s["name"] == "Thumbnail" and attrs(s)["task.id"] == task_id]
        self.assertEqual(len(tasks), 1)
        task = tasks[0]
        self.assertEqual(task["status"]["code"], 0)
        kids = by_name([s for s in spans if s.get("parentSpanId") == task["spanId"]])
        self.assertEqual(sorted(kids), ["Thumbnail.Decode", "Thumbnail.ResizeLarge",
                                        "Thumbnail.ResizeSmall", "Thumbnail.Store"])
        for name, [k] in kids.items():
            self.assertChildOf(k, task)
            self.assertSlept(k, SLEEPS[name.split(".")[1]])
            self.assertEqual(attrs(k)["step.attempt"], 1)
        small, large = kids["Thumbnail.ResizeSmall"][0], kids["Thumbnail.ResizeLarge"][0]
        # parallel steps: other threads than the task's, and overlapping in time
        tid = attrs(task)["tasktap.thread.tid"]
        self.assertNotEqual(attrs(small)["tasktap.thread.tid"], tid)
        self.assertNotEqual(attrs(large)["tasktap.thread.tid"], tid)
        self.assertNotEqual(attrs(small)["tasktap.thread.tid"], attrs(large)["tasktap.thread.tid"])
        self.assertLess(int(small["startTimeUnixNano"]), int(large["endTimeUnixNano"]))
        self.assertLess(int(large["startTimeUnixNano"]), int(small["endTimeUnixNano"]))
        return task

    def test_worker_usage_lists_only_what_it_takes(self):
        # its usage once listed --forever, which it refused
        p = subprocess.run([WORKER, "--no-such-option"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("demo-worker: unknown argument '--no-such-option'", p.stderr)
        usage = [line for line in p.stderr.splitlines() if line.startswith("usage:")]
        self.assertEqual(len(usage), 1, p.stderr)
        options = re.findall(r"\[(--[a-z-]+)(?: ([A-Z]+))?\]", usage[0])
        self.assertEqual(len(options), 5, usage)
        values = {"N": "0", "F": "0.01", "STEP": "NoSuchStep"}
        for opt, arg in options:
            with self.subTest(option=opt):
                args = [WORKER, opt] + ([values[arg]] if arg else []) + ["--tasks", "0"]
                w = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
                try:
                    _, err = w.communicate(timeout=5)
                    self.assertEqual(w.returncode, 0, err)
                except subprocess.TimeoutExpired:
                    # taken: --wait-signal waits for SIGUSR1 before its (no) tasks
                    self.assertEqual(opt, "--wait-signal")
                    w.send_signal(signal.SIGUSR1)
                    self.assertEqual(w.wait(30), 0)

    def test_binary_target_gives_exact_spans(self):
        agent = Agent([RECIPE, "--json"])
        agent.wait_attached()
        subprocess.run([WORKER, "--tasks", "4", "--scale", str(SCALE)], check=True,
                       stderr=subprocess.DEVNULL, timeout=60)
        time.sleep(0.1)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        spans = agent.spans()
        # 2 CreateZip tasks of 4 steps, 2 Thumbnail tasks of 4 steps
        self.assertEqual(len(spans), 4 * 5, agent.stdout())
        zips = [self.check_create_zip(spans, "1001"), self.check_create_zip(spans, "1003")]
        thumbs = [self.check_thumbnail(spans, "1002"), self.check_thumbnail(spans, "1004")]
        trace_ids = {t["traceId"] for t in zips + thumbs}
        self.assertEqual(len(trace_ids), 4)  # one trace per task
        for s in spans:
            self.assertEqual(s["resource"]["service.name"], "demo-worker")
        self.assertIn("20 spans", agent.stderr())
        self.assertIn("0 lost", agent.stderr())

    def test_same_task_id_gives_same_trace_id(self):
        # trace ids derive from the key: two runs of task 1001 share a trace
        runs = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            agent = Agent([RECIPE, "--json"])
            agent.wait_attached()
            subprocess.run([WORKER, "--tasks", "1", "--scale", "0.1"], check=True,
                           stderr=subprocess.DEVNULL, timeout=60)
            time.sleep(0.1)
            # both signals detach, drain and exit cleanly
            self.assertEqual(agent.stop(sig), 0, agent.stderr())
            self.assertIn("5 spans", agent.stderr())
            runs.append([s for s in agent.spans() if s["name"] == "CreateZip"][0])
        self.assertEqual(runs[0]["traceId"], runs[1]["traceId"])
        self.assertNotEqual(runs[0]["spanId"], runs[1]["spanId"])

    def test_pid_target_and_exit_with_it(self):
        worker = subprocess.Popen([WORKER, "--tasks", "2", "--scale", str(SCALE), "--wait-signal"],
                                  stderr=subprocess.DEVNULL)
        # a copy of the binary elsewhere must not matter: --pid resolves /proc/PID/exe
        agent = Agent([RECIPE, "--json", "--pid", str(worker.pid)])
        agent.wait_attached()
        worker.send_signal(signal.SIGUSR1)
        self.assertEqual(worker.wait(60), 0)
        # the agent notices its only target is gone and stops by itself
        self.assertEqual(agent.wait(30), 0, agent.stderr())
        self.assertIn("every traced process has exited", agent.stderr())
        spans = agent.spans()
        self.assertEqual(len(spans), 10)
        self.check_create_zip(spans, "1001")
        self.check_thumbnail(spans, "1002")
        self.assertTrue(all(s["resource"]["process.pid"] == worker.pid for s in spans))

    def test_pid_target_ignores_other_processes(self):
        other = subprocess.Popen([WORKER, "--tasks", "1", "--scale", "0.1", "--wait-signal",
                                  "--first-id", "7"], stderr=subprocess.DEVNULL)
        worker = subprocess.Popen([WORKER, "--tasks", "1", "--scale", "0.1", "--wait-signal"],
                                  stderr=subprocess.DEVNULL)
        agent = Agent([RECIPE, "--json", "--pid", str(worker.pid)])
        agent.wait_attached()
        other.send_signal(signal.SIGUSR1)
        worker.send_signal(signal.SIGUSR1)
        other.wait(60)
        worker.wait(60)
        agent.wait(30)
        ids = {attrs(s)["task.id"] for s in agent.spans()}
        self.assertEqual(ids, {"1001"})

    def test_target_killed_mid_step_closes_spans_as_errors(self):
        agent = Agent([RECIPE, "--json"])
        agent.wait_attached()
        p = subprocess.run([WORKER, "--tasks", "1", "--scale", str(SCALE), "--die-in",
                            "UploadResult"],
                           stderr=subprocess.DEVNULL, timeout=60)
        self.assertEqual(p.returncode, -signal.SIGKILL)
        time.sleep(0.1)
        agent.stop()
        spans = by_name(agent.spans())
        task = spans["CreateZip"][0]
        step = spans["CreateZip.UploadResult"][0]
        for s in (task, step):
            self.assertEqual(s["status"]["code"], 2, s)
            self.assertIn("killed by signal 9", s["status"]["message"])
            self.assertEqual(attrs(s)["tasktap.cut"], "exit")
            self.assertEqual(attrs(s)["error.type"], "exit")
        self.assertChildOf(step, task)
        # what finished before the crash is kept as it was
        self.assertEqual(spans["CreateZip.UploadSourceFiles"][0]["status"]["code"], 0)
        self.assertEqual(len(spans["CreateZip.CreateZipArchive"]), 2)
        # the step ran for about half its time before the kill
        self.assertSlept(step, SLEEPS["UploadResult"] / 2)


if __name__ == "__main__":
    unittest.main()
