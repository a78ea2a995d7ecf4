"""Reloads while a worker runs: each task the worker ran is exported once.

A spec reload attaches the hooks of the new version before it detaches
those of the old one and switches from one to the other at one time, so a
task that runs during a reload is neither missed (no probe attached) nor
exported twice (both attached), and a task open across the switch ends
under the new version of its probe."""
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import unittest

from harness import Agent, AgentsAndProcesses, WORKER, attrs
from test_otlp import wait_for

STEP = """      - role: step
        symbol: execute_step
        key: arg0
        attributes:
          step.name: str(arg1)
        error: ret != 0
"""


def spec(target, variant, step):
    """The spec: the task probe (with a constant attribute when `variant`), the step probe when
    `step`."""
    extra = '\n          reload.variant: "%s"' % variant if variant else ""
    return ("service: reload\nkeyspace: reload\ntargets:\n  - %s\n    probes:\n"
            "      - role: task\n        symbol: run_task\n        key: arg0\n"
            "        attributes:\n          task.name: str(arg1)%s\n        error: ret != 0\n"
            "%s") % (target, extra, STEP if step else "")


# the versions the reloads go through: the same one again, the task probe edited (an attribute
# added, then another value, then removed), the step probe removed and added back
VERSIONS = [("", True), ("", True), ("b", True), ("c", True), ("c", False), ("", False),
            ("", True), ("d", False), ("d", True)]


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


class ReloadTest(AgentsAndProcesses, unittest.TestCase):
    def reloads(self, a):
        return a.stderr().count("reloaded specs:")

    def run_across_reloads(self, spec_dir):
        name = "ttr-%05d" % random.randrange(100000)
        worker = os.path.join(self.dir, name)
        shutil.copy(WORKER, worker)
        target = "comm: " + name
        specs = os.path.join(self.dir, "specs")
        os.mkdir(specs)
        os.chmod(specs, 0o755)
        path = os.path.join(specs, "reload.yaml")
        write(path, spec(target, *VERSIONS[0]))
        a = Agent((["--spec-dir", specs] if spec_dir else [path]) + ["--json"])
        self.agents.append(a)
        a.wait_attached()
        # one worker, traced from its first task (held at exec until its probes are in)
        w = subprocess.Popen([worker, "--tasks", "1000", "--scale", "0.004", "--first-id", "1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.procs.append(w)
        err = []
        reader = threading.Thread(target=lambda: err.extend(w.stderr), daemon=True)
        reader.start()
        done = 0
        while w.poll() is None:
            for variant, step in VERSIONS[1:] + VERSIONS[:1]:
                n = self.reloads(a)
                write(path, spec(target, variant, step))
                if not spec_dir:
                    a.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: self.reloads(a) > n, timeout=60, what="the reload")
                # and a reload with the bytes unchanged
                n = self.reloads(a)
                a.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: self.reloads(a) > n, timeout=60, what="the SIGHUP")
                done += 1
        self.assertEqual(w.wait(60), 0)
        reader.join(10)
        ran = sorted(int(m.group(1)) for m in
                     (re.match(r"demo-worker: task (\d+) \S+ done", l) for l in err) if m)
        self.assertEqual(ran, list(range(1, 1001)))
        try:
            wait_for(lambda: len([s for s in a.spans() if "step.name" not in attrs(s)]) >= 1000,
                     timeout=60, what="the task spans")
        except AssertionError:
            pass  # the comparison below names the tasks missing and shows what the agent said
        a.stop()
        self.assertIn("reloaded '%s'" % path, a.stderr())
        tasks = {}
        for s in a.spans():
            at = attrs(s)
            if "step.name" not in at:
                tasks.setdefault(int(at["task.id"]), []).append(s)
        # each task the worker ran exported once, whole (its call paired, not cut), never twice
        said = "\n".join(l for l in a.stderr().splitlines() if "reloaded" not in l)
        self.assertEqual(sorted(set(ran) - set(tasks)), [], "tasks missing; the agent said:\n"
                         + said[-4000:])
        self.assertEqual(sorted(tasks), ran)
        twice = [t for t, spans in tasks.items() if len(spans) != 1]
        self.assertEqual(twice, [])
        cut = [(t, attrs(s[0]).get("tasktap.cut")) for t, s in tasks.items()
               if "tasktap.cut" in attrs(s[0])]
        self.assertEqual(cut, [])
        self.assertEqual({s[0]["status"]["code"] for s in tasks.values()}, {0})
        # the reloads went through every version while the worker ran
        self.assertGreaterEqual(done, 1)
        variants = {attrs(s[0]).get("reload.variant") for s in tasks.values()}
        self.assertTrue(len(variants) >= 2, variants)

    def test_spec_dir_edits_while_a_worker_runs_lose_and_double_no_task(self):
        self.run_across_reloads(spec_dir=True)

    def test_sighup_reloads_while_a_worker_runs_lose_and_double_no_task(self):
        self.run_across_reloads(spec_dir=False)


if __name__ == "__main__":
    unittest.main()
