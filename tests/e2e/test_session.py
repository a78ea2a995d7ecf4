"""One event per synchronous call: a uprobe session program pairs a call's
entry and return in BPF and writes one event at its return (DESIGN §8,
docs/architecture.md "One event per call").

The path is the default where the kernel has session links, turned off
with TASKTAP_SESSION=0. The same worker is traced both ways, with the
session programs and without (the two-event path every kernel has), and
the spans compared field by field: names, traces, parents,
attributes, status, attempts, events. A worker killed in the middle of a
call, and an agent stopped in the middle of one, end that call's span as
the two-event path does; one handed over to the next agent with --pin ends
under it, once. tests/e2e/bpfgen-compare.c compares the session
programs' captures with the generic interpreter's, record by record, on
the table of expressions of test_bpfgen.py."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, duration_ms, isolated_demo, run_tool, write_spec
from test_bpfgen import COMPARE, SPEC as BPFGEN_SPEC, WORKER as BPFGEN_WORKER
from test_http import wait_for

ON = {"TASKTAP_SESSION": "1"}
OFF = {"TASKTAP_SESSION": "0"}
DEFAULT = {"TASKTAP_SESSION": ""}
SUMMARY = re.compile(r"(\d+) spans, (\d+) events")


def leaf_spec():
    """test_bpfgen's functions as steps of no task: each may be one event
    per call (its USDT probes, whose publish and span probes would take any
    span for a parent, are left out)."""
    text = BPFGEN_SPEC.format(worker=BPFGEN_WORKER, usdt="/unused")
    text = text[:text.index("  - binary: /unused")]
    return text.replace("role: span", "role: step")


class CompareTest(unittest.TestCase):
    """The session programs capture what the interpreter captures."""

    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(leaf_spec(), d)
            p = subprocess.run([COMPARE, spec, BPFGEN_WORKER], capture_output=True, text=True,
                               timeout=120, env=dict(os.environ, **ON))
        if p.returncode != 0:
            raise AssertionError("bpfgen-compare failed:\n" + p.stderr)
        cls.result = json.loads(p.stdout)

    def test_whole_calls_capture_what_the_interpreter_does(self):
        # every call the filters kept came whole: entry and return of 3
        # rounds of 11 cases through 7 functions, less the ones filtered out
        self.assertGreater(self.result["calls"], 33)
        self.assertEqual(self.result["differences"], [])
        self.assertEqual(self.result["events"][0], self.result["events"][1])
        self.assertEqual(self.result["events"][0], 2 * self.result["calls"])
        self.assertEqual(self.result["lost"], [0, 0])
        self.assertGreater(self.result["faults"], 0)
        self.assertGreater(self.result["truncated"], 0)
        self.assertEqual(self.result["cap_faults"][0], self.result["cap_faults"][1])


def normal(spans):
    """Spans as what must not depend on the path: by trace and name, each
    with its parent's name (span ids are random per run), attributes but
    the thread's id, status, events without their times."""
    names = {s["spanId"]: s["name"] for s in spans}
    out = []
    for s in spans:
        a = attrs(s)
        a.pop("tasktap.thread.tid", None)
        out.append({
            "trace": s["traceId"],
            "name": s["name"],
            "kind": s["kind"],
            "parent": names.get(s.get("parentSpanId", ""), s.get("parentSpanId", "")),
            "attributes": a,
            "status": s["status"],
            "events": [(e["name"], json.dumps(e.get("attributes"), sort_keys=True))
                       for e in s.get("events", [])],
        })
    return sorted(out, key=lambda x: json.dumps(x, sort_keys=True))


class BothWaysTest(unittest.TestCase):
    def trace(self, env, worker_args, stop_after=None):
        """Traces the demo worker with `env`; returns (spans, spans, events)
        as the agent's summary counts them, and its stderr."""
        with tempfile.TemporaryDirectory() as d:
            worker, spec = isolated_demo(d)
            agent = Agent([spec, "--json", "--no-http"], env=env)
            self.addCleanup(agent.stop)
            agent.wait_attached()
            w = subprocess.Popen([worker] + worker_args, stderr=subprocess.DEVNULL)
            if stop_after is None:
                w.wait(60)
            else:
                time.sleep(stop_after)
            agent.stop()
            if stop_after is not None:
                w.wait(60)
        m = SUMMARY.search(agent.stderr())
        self.assertIsNotNone(m, agent.stderr())
        return agent.spans(), int(m.group(1)), int(m.group(2)), agent.stderr()

    def test_the_same_spans_both_ways(self):
        args = ["--tasks", "4", "--scale", "0.2"]
        one, n1, ev1, err1 = self.trace(ON, args)
        two, n2, ev2, err2 = self.trace(OFF, args)
        # 4 tasks of 3 and 4 steps, one retried: 2 tasks * 4 + 2 * 5 + 4 = 20 spans
        self.assertEqual(len(one), 20, err1)
        self.assertEqual(normal(one), normal(two))
        # and the path taken: each step one event, against two; tasks two either way
        self.assertEqual((n1, n2), (20, 20))
        self.assertEqual(ev2, 2 * 20)
        self.assertEqual(ev1, 2 * 4 + 16)
        steps = [s for s in one if s["name"] != "CreateZip" and s["name"] != "Thumbnail"]
        self.assertEqual(len(steps), 16)
        self.assertTrue(any(attrs(s).get("step.attempt") == 2 for s in steps))
        self.assertTrue(any(s["status"]["code"] == 2 for s in steps))

    def test_a_worker_killed_in_a_call_ends_it_both_ways(self):
        args = ["--tasks", "1", "--scale", "0.5", "--die-in", "UploadResult"]
        one, _, _, err1 = self.trace(ON, args)
        two, _, _, _ = self.trace(OFF, args)
        self.assertEqual(normal(one), normal(two))
        step = [s for s in one if s["name"] == "CreateZip.UploadResult"]
        self.assertEqual(len(step), 1, err1)
        self.assertEqual(attrs(step[0])["tasktap.cut"], "exit")
        self.assertIn("killed by signal 9", step[0]["status"]["message"])

    def test_an_agent_stopped_in_a_call_ends_it_both_ways(self):
        # UploadSourceFiles lasts 120 ms * 20: the agent stops inside it
        args = ["--tasks", "1", "--scale", "20"]
        one, _, _, err1 = self.trace(ON, args, stop_after=1.0)
        two, _, _, _ = self.trace(OFF, args, stop_after=1.0)
        self.assertEqual(normal(one), normal(two))
        step = [s for s in one if s["name"] == "CreateZip.UploadSourceFiles"]
        self.assertEqual(len(step), 1, err1)
        self.assertEqual(attrs(step[0])["tasktap.cut"], "shutdown")


def task_only_demo(directory):
    """The demo with its task probe alone: nothing can be the task's child,
    so with the session programs each task is one event, written at its
    return. Returns (worker, spec)."""
    worker, spec = isolated_demo(directory)
    with open(spec) as f:
        text = f.read()
    return worker, write_spec(text[:text.index("      - role: step")], directory)


class InFlightTest(unittest.TestCase):
    """A call in flight in a session program's frame is an open task: in
    /tasks, task.in_flight and the stuck count, as its entry event makes it
    on the two-event path; its one event, at its return, ends it once."""

    def json(self, agent, path):
        status, _, body = agent.get(path)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def blocked_task(self, env):
        """A task of ~5 s traced with `env` and --stuck-after 1: its /tasks
        entry, /health and /metrics while it runs, then its spans and the
        agent's summary (spans, events)."""
        with tempfile.TemporaryDirectory() as d:
            worker, spec = task_only_demo(d)
            agent = Agent([spec, "--json", "--stuck-after", "1"], env=env)
            self.addCleanup(agent.stop)
            agent.wait_attached()
            self.assertEqual(self.json(agent, "/tasks")["count"], 0)
            w = subprocess.Popen([worker, "--tasks", "1", "--scale", "10"],
                                 stderr=subprocess.DEVNULL)
            self.addCleanup(w.kill)
            tasks = wait_for(lambda: (lambda t: t["count"] == 1 and t)(
                self.json(agent, "/tasks")), what="the task in /tasks")
            health = wait_for(lambda: (lambda h: h["stuck_tasks"] == 1 and h)(
                self.json(agent, "/health")), what="the task stuck")
            metrics = agent.get("/metrics")[2].splitlines()
            self.assertEqual(w.wait(60), 0)
            wait_for(lambda: agent.spans(), what="the task's span")
            after = wait_for(lambda: (lambda t: t["count"] == 0 and t)(
                self.json(agent, "/tasks")), what="no task in flight")
            self.assertEqual(self.json(agent, "/health")["stuck_tasks"], 0)
            self.assertEqual(agent.stop(), 0, agent.stderr())
        m = SUMMARY.search(agent.stderr())
        self.assertIsNotNone(m, agent.stderr())
        task = dict(tasks["tasks"][0])
        self.assertEqual(task["pid"], w.pid)
        self.assertGreaterEqual(task.pop("age_seconds"), 0)
        task.pop("pid")
        self.assertEqual(after["tasks"], [])
        self.assertEqual(health["status"], "degraded")
        self.assertEqual(health["reasons"], ["1 tasks stuck"])
        self.assertIn("tasktap_task_stuck 1", metrics)
        self.assertIn('task_in_flight{task_name="CreateZip",service_name="demo-worker"} 1',
                      metrics)
        return task, agent.spans(), (int(m.group(1)), int(m.group(2)))

    def test_a_task_blocked_in_a_whole_call_is_in_flight_and_stuck(self):
        one, spans1, counts1 = self.blocked_task(ON)
        two, spans2, counts2 = self.blocked_task(OFF)
        self.assertEqual(one, two)
        self.assertEqual(one["name"], "CreateZip")
        self.assertEqual(one["id"], "1001")
        # the path each took: the task one event, against two
        self.assertEqual((counts1, counts2), ((1, 1), (1, 2)))
        self.assertEqual(normal(spans1), normal(spans2))
        self.assertEqual(len(spans1), 1)
        self.assertNotIn("tasktap.cut", attrs(spans1[0]))
        # ~5 s: its start the call's, not the moment it was read in flight
        self.assertGreater(duration_ms(spans1[0]), 4000)
        self.assertLess(abs(duration_ms(spans1[0]) - duration_ms(spans2[0])), 1000)


class ReloadTest(unittest.TestCase):
    """A reload that edits a probe while one of its calls is open: the old
    session link stays, retired (it takes no new call), so that its return
    writes the call whole; the call counts for the edited probe, as on the
    two-event path, where the new version's return ends it."""

    def reload_mid_step(self, env):
        """The demo traced with `env`, its step probe edited (a new constant
        attribute) in the middle of the task's first step: the spans and
        the agent's stderr."""
        with tempfile.TemporaryDirectory() as d:
            worker, spec = isolated_demo(d)
            with open(spec) as f:
                text = f.read()
            agent = Agent([spec, "--json"], env=env)
            self.addCleanup(agent.stop)
            agent.wait_attached()
            # UploadSourceFiles lasts 1.2 s * 2: the reload lands in it
            w = subprocess.Popen([worker, "--tasks", "1", "--scale", "20"],
                                 stderr=subprocess.DEVNULL)
            self.addCleanup(w.kill)
            time.sleep(0.8)
            write_spec(text.replace("step.name: str(arg1)",
                                    "step.name: str(arg1)\n          step.phase: \"v2\""), d)
            agent.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "1 of 2 hooks kept with their open spans" in agent.stderr(),
                     what="the in-place reload")
            self.assertEqual(w.wait(60), 0)
            wait_for(lambda: len(agent.spans()) >= 5, what="the task's 5 spans")
            # the old link, retired, detached once its call returned: 2 probes again
            wait_for(lambda: json.loads(agent.get("/health")[2])["probes_attached"] == 2,
                     what="the retired link detached")
            self.assertEqual(agent.stop(), 0, agent.stderr())
        return agent.spans(), agent.stderr()

    maxDiff = None

    def test_a_call_open_across_a_reload_that_edits_its_probe_ends_whole(self):
        one, err1 = self.reload_mid_step(ON)
        two, _ = self.reload_mid_step(OFF)
        self.assertEqual(normal(one), normal(two), err1)
        step = [s for s in one if s["name"] == "CreateZip.UploadSourceFiles"]
        self.assertEqual(len(step), 1, err1)
        self.assertNotIn("tasktap.cut", attrs(step[0]))
        # 1.2 s * 2 from its start, under the old version, to its return
        self.assertGreater(duration_ms(step[0]), 2300)
        self.assertLess(duration_ms(step[0]), 2400 + 1000)
        self.assertEqual(len(one), 5, err1)
        for s in one:
            self.assertNotIn("tasktap.cut", attrs(s))
        # the steps after the reload are the new version's
        later = [attrs(s).get("step.phase") for s in one
                 if s["name"] in ("CreateZip.CreateZipArchive", "CreateZip.UploadResult")]
        self.assertEqual(later, ["v2"] * len(later))
        self.assertGreater(len(later), 0)


class PinTest(unittest.TestCase):
    def restart_mid_step(self, env):
        """An agent with --pin stopped (SIGTERM) in the middle of the task's
        first step and a second one started: the second agent's spans, and
        the first's stderr."""
        pin = "/sys/fs/bpf/tasktap-test-%05d" % random.randrange(100000)
        self.addCleanup(shutil.rmtree, pin, True)
        with tempfile.TemporaryDirectory() as d:
            worker, spec = isolated_demo(d)
            first = Agent([spec, "--json", "--no-http", "--pin", pin], env=env)
            self.addCleanup(first.stop)
            first.wait_attached()
            # UploadSourceFiles lasts 1.2 s: the restart lands in it
            w = subprocess.Popen([worker, "--tasks", "1", "--scale", "10"],
                                 stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            self.assertEqual(first.stop(signal.SIGTERM), 0, first.stderr())
            second = Agent([spec, "--json", "--no-http", "--pin", pin], env=env)
            self.addCleanup(second.stop)
            second.wait_attached()
            self.assertEqual(w.wait(60), 0)
            deadline = time.time() + 20
            while len(second.spans()) < 5 and time.time() < deadline:
                time.sleep(0.1)
            second.stop()
        return second.spans(), first.stderr()

    def test_a_restart_with_pin_hands_a_call_in_flight_over_both_ways(self):
        one, err1 = self.restart_mid_step(ON)
        two, err2 = self.restart_mid_step(OFF)
        # the task and its first step, open in the first agent (one of them in BPF)
        self.assertIn("handed 2 open spans over to the next agent", err1)
        self.assertIn("handed 2 open spans over to the next agent", err2)
        self.assertEqual(len(one), 5, err1)
        self.assertEqual(normal(one), normal(two))
        for s in one:
            self.assertNotIn("tasktap.cut", attrs(s))


class CheckTest(unittest.TestCase):
    def test_check_verbose_says_which_path_each_hook_takes(self):
        with tempfile.TemporaryDirectory() as d:
            _, spec = isolated_demo(d)
            code, out, err = run_tool(["check", spec, "--verbose"], env=ON)
            self.assertEqual(code, 0, err)
            off_code, off, _ = run_tool(["check", spec, "--verbose"], env=OFF)
            self.assertEqual(off_code, 0)
            default_code, default, _ = run_tool(["check", spec, "--verbose"], env=DEFAULT)
            self.assertEqual(default_code, 0)
            bad_code, bad, bad_err = run_tool(["check", spec, "--verbose"],
                                              env={"TASKTAP_SESSION": "yes"})
            self.assertEqual(bad_code, 0)
        task, step = out.split("hook 2 ")
        self.assertIn("path: entry and return events, paired by the agent: its span may have "
                      "children", task)
        self.assertIn("path: one event per call (a uprobe session program", step)
        self.assertIn("call kfunc", step)
        self.assertIn("path: entry and return events, paired by the agent: "
                      "turned off (TASKTAP_SESSION=0)", off)
        self.assertNotIn("path: one event per call", off)
        # the default: one event per call, as asked for; a bad value says so and keeps it
        self.assertEqual(default, out)
        self.assertEqual(bad, out)
        self.assertIn("invalid TASKTAP_SESSION 'yes': expected 0 (entry and return events) or "
                      "1 (one event per call, the default)", bad_err)


if __name__ == "__main__":
    unittest.main()
