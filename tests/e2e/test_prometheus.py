"""The agent's /metrics endpoint with real BPF: the demo worker traced, then
(a) `promtool check metrics` on the live body finds nothing, and (b) a real
Prometheus server (Debian's `prometheus`, started on loopback, stopped by
pid) scrapes the agent and its query API returns the task metrics with the
right counts. Fails, never skips, when prometheus is missing
(scripts/install-deps.sh installs it)."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from harness import Agent, free_port, isolated_demo

CONFIG = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tasktap
    static_configs:
      - targets: ["%s"]
"""


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def run_worker(worker, tasks, scale="0.1"):
    subprocess.run([worker, "--tasks", str(tasks), "--scale", scale], check=True,
                   stderr=subprocess.DEVNULL, timeout=120)


class PrometheusTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.worker, self.spec = isolated_demo(self.dir)
        self.procs = []
        self.files = []
        self.agent = None

    def tearDown(self):
        if self.agent and self.agent.proc.poll() is None:
            self.agent.stop()
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, 15)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, 9)
                    p.wait()
        for f in self.files:
            f.close()
        shutil.rmtree(self.dir)

    def start_agent(self, extra=None):
        self.agent = Agent([self.spec] + (extra or []))
        self.agent.wait_attached()
        self.assertIsNotNone(self.agent.http_addr, self.agent.stderr())
        return self.agent

    def query(self, base, expr):
        url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        return get_json(url)["data"]["result"]

    def test_promtool_finds_nothing_in_the_live_body(self):
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "no promtool (apt-get install prometheus)")
        a = self.start_agent()
        run_worker(self.worker, 2)
        # the worker has exited: wait for the loop to have drained its last events
        deadline = time.time() + 20
        while True:
            status, ctype, body = a.get("/metrics")
            self.assertEqual(status, 200)
            if 'task_completed_total{task_name="Thumbnail",service_name="demo-worker"} 1' \
                    in body or \
                    time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        p = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout + p.stderr, "", "promtool findings")
        lines = body.splitlines()
        # the spec's service: the metrics of its tasks carry it (OTLP: their resource)
        self.assertIn('task_completed_total{task_name="CreateZip",'
                      'service_name="demo-worker"} 1', lines)
        self.assertIn('task_completed_total{task_name="Thumbnail",'
                      'service_name="demo-worker"} 1', lines)
        self.assertIn('task_step_retries_total{task_name="CreateZip",'
                      'step_name="CreateZipArchive",service_name="demo-worker"} 1', lines)
        self.assertIn("tasktap_probe_attached 2", lines)
        # 2 tasks, entry + return; 8 steps, one event per call (the default)
        self.assertIn("tasktap_event_received_total 12", lines)
        self.assertIn('tasktap_event_lost_total{kind="probe"} 0', lines)
        self.assertIn("otel_sdk_span_live 0", lines)
        # target_info: the agent's resource as labels
        [info] = [l for l in lines if l.startswith("target_info{")]
        self.assertIn('service_name="demo-worker"', info)
        self.assertIn('telemetry_sdk_name="tasktap"', info)
        self.assertTrue(info.endswith("} 1"), info)
        # OpenMetrics when the scraper asks for it
        req = urllib.request.Request("http://%s/metrics" % a.http_addr, headers={
            "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
        with urllib.request.urlopen(req, timeout=10) as r:
            om_type, om = r.headers.get("Content-Type"), r.read().decode()
        self.assertEqual(om_type, "application/openmetrics-text; version=1.0.0; charset=utf-8")
        self.assertTrue(om.endswith("\n# EOF\n"))
        self.assertIn("# TYPE task_completed counter\n", om)
        self.assertIn("# TYPE target info\n", om)
        self.assertEqual(a.stop(), 0, a.stderr())

    def test_prometheus_scrapes_the_agent(self):
        prometheus = shutil.which("prometheus")
        self.assertIsNotNone(prometheus, "no prometheus binary (apt-get install prometheus)")
        a = self.start_agent()
        run_worker(self.worker, 2, scale="1")
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(CONFIG % a.http_addr)
        web = free_port()
        log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.files.append(log)
        self.procs.append(subprocess.Popen(
            [prometheus, "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % web], stdout=log, stderr=log))
        base = "http://127.0.0.1:%d" % web

        deadline = time.time() + 60
        completed = steps = None
        while time.time() < deadline:
            time.sleep(1)
            try:
                completed = self.query(base, "task_completed_total")
                steps = self.query(base, 'task_step_duration_seconds_count'
                                         '{step_name="CreateZipArchive"}')
            except OSError:
                continue  # not listening yet
            if completed and steps:
                break
        log.seek(0)
        self.assertTrue(completed, "prometheus returned no task_completed_total; its log:\n" +
                        log.read()[-3000:])
        by_task = {m["metric"]["task_name"]: m["value"][1] for m in completed}
        self.assertEqual(by_task, {"CreateZip": "1", "Thumbnail": "1"})
        for m in completed:
            self.assertEqual(m["metric"]["job"], "tasktap")
            self.assertEqual(m["metric"]["instance"], a.http_addr)
        # CreateZipArchive: attempt 1 failed, attempt 2 succeeded
        by_status = {m["metric"]["status"]: m["value"][1] for m in steps}
        self.assertEqual(by_status, {"error": "1", "ok": "1"})

        targets = get_json(base + "/api/v1/targets")["data"]["activeTargets"]
        self.assertEqual(len(targets), 1)
        self.assertEqual(targets[0]["health"], "up", targets[0].get("lastError"))
        self.assertEqual(targets[0]["lastError"], "")
        self.assertEqual(self.query(base, 'up{job="tasktap"}')[0]["value"][1], "1")
        # Prometheus asks for OpenMetrics first: target_info arrived as an info metric
        info = self.query(base, "target_info")
        self.assertEqual(len(info), 1, info)
        self.assertEqual(info[0]["metric"]["service_name"], "demo-worker")
        self.assertEqual(info[0]["value"][1], "1")
        # the histogram is usable as one: CreateZip ~0.49 s, Thumbnail ~0.23 s
        q = self.query(base, "histogram_quantile(0.5, sum by (le) "
                             "(task_duration_seconds_bucket))")
        self.assertTrue(q)
        self.assertTrue(0.1 < float(q[0]["value"][1]) <= 0.5, q)
        self.assertEqual(a.stop(), 0, a.stderr())


if __name__ == "__main__":
    unittest.main()
