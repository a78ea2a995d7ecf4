"""The task view's JSON endpoints with real BPF against the demo worker:
/api/tasks while a task runs, /api/traces and /api/traces/{id} after,
/api/rates, their filters, bad query parameters (400, the value never
echoed), the page's headers, redacted values, and the --recent-traces bound."""
import ctypes
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.request

from harness import Agent, isolated_demo, run_tool, write_spec
from test_http import wait_for

SECRET = "zq-secret-7781"  # a value a bad request carries; no answer may contain it


class ViewApiTest(unittest.TestCase):
    def setUp(self):
        self.agent = None
        self.workers = []
        self.dir = tempfile.mkdtemp(prefix="tt-view-api-")

    def tearDown(self):
        for w in self.workers:
            if w.poll() is None:
                w.kill()
                w.wait()
        if self.agent and self.agent.proc.poll() is None:
            self.agent.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, args=(), redact=False):
        worker, spec = isolated_demo(self.dir)
        if redact:
            with open(spec) as f:
                text = f.read()
            text = text.replace("        error: ret != 0", "        error: ret != 0\n"
                                "        redact: [task.id]")
            spec = write_spec(text, self.dir)
        self.worker_path = worker
        self.agent = Agent([spec] + list(args))
        self.agent.wait_attached()

    def run_worker(self, *args):
        w = subprocess.Popen([self.worker_path] + list(args), stderr=subprocess.DEVNULL)
        self.workers.append(w)
        return w

    def json(self, path, status=200):
        code, ctype, body = self.agent.get(path)
        self.assertEqual(code, status, body)
        self.assertEqual(ctype, "application/json", path)
        return json.loads(body)

    def test_tasks_traces_and_rates(self):
        self.start(["--stuck-after", "1"])
        self.assertEqual(self.json("/api/tasks")["tasks"], [])
        self.assertEqual(self.json("/api/traces")["traces"], [])
        w = self.run_worker("--tasks", "1", "--scale", "10")
        t = wait_for(lambda: (lambda d: d["count"] == 1 and d)(self.json("/api/tasks")),
                     what="a task in flight")
        task = t["tasks"][0]
        self.assertEqual(task["name"], "CreateZip")
        self.assertEqual(task["id"], "1001")
        self.assertEqual(task["service"], "demo-worker")
        self.assertEqual(task["process"], "demo-worker")
        self.assertEqual(task["pid"], w.pid)
        self.assertEqual(task["attempt"], 1)
        self.assertIn(task["step"], {"UploadSourceFiles", "CreateZipArchive", "UploadResult"})
        self.assertEqual(t["stuck_after_seconds"], 1)
        # filters narrow the list
        self.assertEqual(self.json("/api/tasks?name=Zip")["count"], 1)
        self.assertEqual(self.json("/api/tasks?name=Thumbnail")["count"], 0)
        self.assertEqual(self.json("/api/tasks?service=demo-worker")["count"], 1)
        self.assertEqual(self.json("/api/tasks?service=other")["count"], 0)
        # older than --stuck-after 1: marked
        t = wait_for(lambda: (lambda d: d["stuck"] == 1 and d)(self.json("/api/tasks")),
                     what="a stuck task")
        self.assertTrue(t["tasks"][0]["stuck"])
        self.assertEqual(w.wait(60), 0)

        # CreateZip then Thumbnail, quickly
        self.assertEqual(self.run_worker("--tasks", "2", "--first-id", "2001").wait(60), 0)
        d = wait_for(lambda: (lambda d: d["count"] == 3 and d)(self.json("/api/traces")),
                     what="three finished traces")
        self.assertEqual([x["name"] for x in d["traces"]], ["Thumbnail", "CreateZip", "CreateZip"])
        self.assertEqual(d["kept"], 3)
        self.assertEqual(d["capacity"], 1000)
        self.assertGreater(d["bytes"], 0)
        self.assertFalse(d["truncated"])
        first = d["traces"][-1]
        self.assertEqual(first["status"], "ok")  # the task succeeded after a retried step
        self.assertEqual(first["spans"], 5)
        self.assertEqual(first["errors"], 1)
        self.assertEqual(first["service"], "demo-worker")
        self.assertEqual(len(first["trace_id"]), 32)
        self.assertGreater(first["duration_us"], 0)

        # what the ring holds is counted in /metrics
        metrics = self.agent.get("/metrics")[2]
        self.assertIn("\ntasktap_view_traces 3\n", metrics)
        mem = [l for l in metrics.splitlines() if l.startswith("tasktap_view_memory_bytes ")]
        self.assertEqual(len(mem), 1)
        self.assertGreater(int(mem[0].split()[1]), 3 * 5 * 200)

        self.assertEqual([x["name"] for x in self.json("/api/traces?name=Thumb")["traces"]],
                         ["Thumbnail"])
        self.assertEqual(self.json("/api/traces?status=error")["count"], 0)
        self.assertEqual(self.json("/api/traces?status=ok")["count"], 3)
        self.assertEqual(self.json("/api/traces?service=nope")["count"], 0)
        one = self.json("/api/traces?limit=1")
        self.assertEqual((len(one["traces"]), one["count"], one["truncated"]), (1, 3, True))

        # one trace: the task, four step attempts, the failed one with its message
        tr = self.json("/api/traces/" + first["trace_id"])
        self.assertEqual(tr["trace"], first)
        spans = tr["spans"]
        self.assertEqual(sorted(s["role"] for s in spans), ["step"] * 4 + ["task"])
        root = [s for s in spans if s["role"] == "task"][0]
        self.assertIsNone(root["parent_id"])
        self.assertEqual({s["parent_id"] for s in spans if s["role"] == "step"},
                         {root["span_id"]})
        failed = [s for s in spans if s["status"] == "error"]
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["name"], "CreateZip.CreateZipArchive")
        self.assertEqual(failed[0]["attempt"], 1)
        self.assertIn("returned -1", failed[0]["message"])
        self.assertEqual(failed[0]["attributes"]["step.name"], "CreateZipArchive")
        self.assertEqual(self.json("/api/traces/" + first["trace_id"].upper())["trace"], first)
        self.assertIn("no such trace", self.json("/api/traces/" + "0" * 32, 404)["error"])

        rates = {r["name"]: r for r in self.json("/api/rates")["tasks"]}
        self.assertEqual(rates["CreateZip"]["completed"], 2)
        self.assertEqual(rates["CreateZip"]["failed"], 0)
        self.assertEqual(rates["CreateZip"]["retried"], 2)
        self.assertEqual(rates["Thumbnail"]["completed"], 1)
        self.assertGreater(rates["CreateZip"]["completed_per_minute"], 0)
        dur = rates["CreateZip"]["duration_seconds"]
        self.assertEqual(dur["count"], 2)
        self.assertLessEqual(dur["p50"], dur["p95"])
        self.assertLessEqual(dur["p95"], dur["p99"])

    def test_bad_query_parameters_are_400_and_not_echoed(self):
        self.start()
        bad = [
            ("/api/tasks?limit=0", "invalid limit: expected 1 to 100000"),
            ("/api/tasks?limit=100001", "invalid limit"),
            ("/api/tasks?limit=-1", "invalid limit"),
            ("/api/tasks?limit=1e3", "invalid limit"),
            ("/api/tasks?limit=" + SECRET, "invalid limit"),
            ("/api/tasks?status=ok", "unknown query parameter: expected name, service or limit"),
            ("/api/tasks?name=a&name=b", "query parameter 'name' given twice"),
            ("/api/tasks?name=", "invalid query parameter 'name': expected 1 to 256 bytes"),
            ("/api/tasks?name=" + "x" * 300, "invalid query parameter 'name'"),
            ("/api/traces?status=" + SECRET, "invalid status: expected ok or error"),
            ("/api/traces?" + SECRET + "=1", "unknown query parameter: expected name, "
                                             "service, status or limit"),
            ("/api/traces?%3Cscript%3E=1", "unknown query parameter"),
            ("/api/traces?limit=1&" + "&".join("name=%d" % i for i in range(20)),
             "too many query parameters"),
            ("/api/traces/" + SECRET, "invalid trace id: expected 32 hex digits"),
            ("/api/traces/" + "g" * 32, "invalid trace id"),
            ("/api/traces/" + "0" * 32 + "?x=" + SECRET, "unknown query parameter: none"),
            ("/api/rates?window=5", "unknown query parameter: none is accepted"),
            ("/?q=" + SECRET, "unknown query parameter: none is accepted"),
        ]
        for path, msg in bad:
            with self.subTest(path=path[:60]):
                code, ctype, body = self.agent.get(path)
                self.assertEqual(code, 400, body)
                self.assertEqual(ctype, "application/json")
                self.assertIn(msg, json.loads(body)["error"])
                self.assertNotIn(SECRET, body)
                self.assertNotIn("script", body)
        code, _, body = self.agent.get("/api/nothing")
        self.assertEqual(code, 404)
        self.assertIn("/api/traces", json.loads(body)["error"])

    def test_the_page_and_its_headers(self):
        self.start()
        for path, ctype, marker in [("/", "text/html; charset=utf-8", "<title>tasktap"),
                                    ("/view.js", "text/javascript; charset=utf-8", "/api/tasks"),
                                    ("/view.css", "text/css; charset=utf-8", ".waterfall"),
                                    ("/favicon.svg", "image/svg+xml", "<svg")]:
            with urllib.request.urlopen("http://%s%s" % (self.agent.http_addr, path),
                                        timeout=10) as r:
                body = r.read().decode()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.headers["Content-Type"], ctype)
                csp = r.headers["Content-Security-Policy"]
                self.assertIn("default-src 'none'", csp)
                self.assertIn("script-src 'self'", csp)
                self.assertNotIn("unsafe", csp)
                self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
                self.assertIn(marker, body)
        # the page's files are the ones in the repository, compiled in
        with open("user/export/view/view.js") as f:
            self.assertEqual(self.agent.get("/view.js")[2], f.read())
        # no CDN, nothing from elsewhere
        self.assertNotIn("http", self.agent.get("/")[2].replace("http-equiv", ""))

    def test_a_trace_across_processes(self):
        """publish (producer) -> process -> task -> steps and compensations (worker): one
        trace, though its root, the publish, ends long before the rest."""
        queue = "/tasktap-view-%d" % os.getpid()
        self.addCleanup(lambda: ctypes.CDLL(None).mq_unlink(queue.encode()))
        self.agent = Agent([os.path.abspath("tests/e2e/specs/orders.yaml"), "--json"])
        self.agent.wait_attached()
        producer = subprocess.Popen([os.path.abspath(".output/queue-producer"), queue, "2",
                                     "--bad", "2"], stderr=subprocess.DEVNULL)
        worker = subprocess.Popen([os.path.abspath(".output/queue-worker"), queue, "2"],
                                  stderr=subprocess.DEVNULL)
        self.workers += [producer, worker]
        self.assertEqual(producer.wait(30), 0)
        self.assertEqual(worker.wait(30), 0)
        d = wait_for(lambda: (lambda d: {t["name"] for t in d["traces"]} == {"Order", "BadOrder"}
                              and d)(self.json("/api/traces")), what="both orders")
        self.assertEqual(d["count"], 2)
        for t in d["traces"]:
            spans = self.json("/api/traces/" + t["trace_id"])["spans"]
            by_role = {}
            for s in spans:
                by_role.setdefault(s["role"], []).append(s)
            [pub], [con], [task] = by_role["publish"], by_role["consume"], by_role["task"]
            self.assertIsNone(pub["parent_id"])
            self.assertEqual(pub["kind"], "producer")
            self.assertEqual(pub["pid"], producer.pid)
            self.assertEqual((con["parent_id"], con["kind"], con["pid"]),
                             (pub["span_id"], "consumer", worker.pid))
            self.assertEqual(task["parent_id"], con["span_id"])
            self.assertEqual({s["parent_id"] for s in by_role["step"]}, {task["span_id"]})
            self.assertEqual(t["spans"], len(spans))
            if t["name"] == "BadOrder":
                self.assertEqual(t["status"], "error")
                self.assertEqual(sorted(s["name"] for s in by_role["compensation"]),
                                 ["BadOrder.Charge.Compensate", "BadOrder.Reserve.Compensate"])
                self.assertTrue(all(s["message"] for s in spans if s["status"] == "error"))
            else:
                self.assertEqual(t["status"], "ok")
                self.assertNotIn("compensation", by_role)

    def test_redacted_values_stay_redacted(self):
        self.start(redact=True)
        self.run_worker("--tasks", "1", "--scale", "10", "--first-id", "4242")
        t = wait_for(lambda: (lambda d: d["count"] == 1 and d)(self.json("/api/tasks")),
                     what="a task in flight")
        # an open task's redacted id is shown hashed already, as its spans will export it
        self.assertTrue(t["tasks"][0]["id"].startswith("xxh3:"), t)
        self.assertNotIn("4242", json.dumps(t))
        self.workers[0].wait(60)
        d = wait_for(lambda: (lambda d: d["count"] == 1 and d)(self.json("/api/traces")),
                     what="the finished trace")
        _, _, body = self.agent.get("/api/traces/" + d["traces"][0]["trace_id"])
        spans = json.loads(body)["spans"]
        self.assertEqual(len(spans), 5)
        for s in spans:
            self.assertTrue(s["attributes"]["task.id"].startswith("xxh3:"), s)
        self.assertNotIn("4242", body)

    def test_recent_traces_is_a_bounded_ring(self):
        self.start(["--recent-traces", "2"])
        self.assertEqual(self.run_worker("--tasks", "3", "--scale", "0.2").wait(60), 0)
        d = wait_for(lambda: (lambda d: d["dropped"] == 1 and d)(self.json("/api/traces")),
                     what="the oldest trace pushed out")
        self.assertEqual((d["kept"], d["capacity"], d["count"]), (2, 2, 2))
        self.assertEqual([x["name"] for x in d["traces"]], ["CreateZip", "Thumbnail"])
        for bad in ["0", "-1", "x", "100001", "1e3"]:
            with self.subTest(value=bad):
                code, _, err = run_tool(["run", "--recent-traces", bad, "--no-http",
                                         os.path.join(self.dir, "spec.yaml")])
                self.assertEqual(code, 2)
                self.assertIn("invalid --recent-traces '%s': expected 1 to 100000 traces" % bad,
                              err)


if __name__ == "__main__":
    unittest.main()
