"""`redact:` hides a value everywhere it would show (issue 12, item 3): a
redacted task.name and step.name name the spans, the open tasks (/tasks,
/api/tasks) and the task_in_flight{task_name} metric by their hash, never by
the value; real BPF against a private copy of the demo worker."""
import json
import shutil
import subprocess
import tempfile
import unittest

from harness import Agent, isolated_demo, write_spec
from test_captures import xxh3
from test_http import wait_for


class RedactTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tt-redact-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        worker, spec = isolated_demo(self.dir)
        with open(spec) as f:
            text = f.read()
        text = text.replace("task.name: str(arg1)\n        error: ret != 0",
                            "task.name: str(arg1)\n        error: ret != 0\n"
                            "        redact: [task.name, task.id]")
        text = text.replace("step.name: str(arg1)\n        error: ret != 0",
                            "step.name: str(arg1)\n        error: ret != 0\n"
                            "        redact: [step.name]")
        self.assertEqual(text.count("redact:"), 2, text)
        self.worker = worker
        self.agent = Agent([write_spec(text, self.dir), "--json"])
        self.addCleanup(lambda: self.agent.proc.poll() is None and self.agent.stop())
        self.agent.wait_attached()

    def test_redacted_names_show_only_hashed(self):
        task = xxh3("CreateZip")
        plain = ("CreateZip", "UploadSourceFiles", "CreateZipArchive", "UploadResult")
        w = subprocess.Popen([self.worker, "--tasks", "1", "--scale", "10"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: w.poll() is None and (w.kill(), w.wait()))
        t = wait_for(lambda: (lambda d: d["count"] == 1 and d)(
            json.loads(self.agent.get("/tasks")[2])), what="the task open")
        # while it runs: /tasks, the task view's API and the in-flight metric
        self.assertEqual(t["tasks"][0]["name"], task)
        self.assertEqual(t["tasks"][0]["id"], xxh3("1001"), t)
        open_now = {"/tasks": json.dumps(t), "/api/tasks": self.agent.get("/api/tasks")[2],
                    "/metrics": self.agent.get("/metrics")[2]}
        self.assertIn('task_in_flight{task_name="%s",service_name="demo-worker"} 1' % task,
                      open_now["/metrics"])
        for path, body in open_now.items():
            for value in plain:
                self.assertNotIn(value, body, path)
        self.assertEqual(w.wait(60), 0)
        wait_for(lambda: len(self.agent.spans()) >= 5, what="the task's five spans")
        self.assertEqual(self.agent.stop(), 0, self.agent.stderr())
        spans = self.agent.spans()
        names = [s["name"] for s in spans]
        self.assertEqual(names.count(task), 1, names)
        steps = {n[len(task) + 1:] for n in names if n != task}
        self.assertEqual(steps, {xxh3(s) for s in plain[1:]}, names)
        for value in plain:
            self.assertNotIn(value, self.agent.stdout())
            self.assertNotIn(value, self.agent.stderr())


if __name__ == "__main__":
    unittest.main()
