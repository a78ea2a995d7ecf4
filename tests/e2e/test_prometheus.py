"""A real Prometheus server (Debian's `prometheus`) on loopback scrapes the
agent's /metrics endpoint, served by user/export/httpd from an epoll loop
(`.output/tests/test_httpd --serve`, the agent's loop in miniature), and
its query API then returns the task metrics. Fails, never skips, when
prometheus is missing (scripts/install-deps.sh installs it)."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

SERVER = os.path.abspath(".output/tests/test_httpd")

CONFIG = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tasktap
    static_configs:
      - targets: ["127.0.0.1:%d"]
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


class PrometheusScrapeTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.procs = []
        self.files = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, 15)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, 9)
                    p.wait()
            if p.stdout:
                p.stdout.close()
        for f in self.files:
            f.close()
        shutil.rmtree(self.dir)

    def start(self, args, **kw):
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def query(self, base, expr):
        url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        return get_json(url)["data"]["result"]

    def test_prometheus_scrapes_and_returns_the_metric(self):
        prometheus = shutil.which("prometheus")
        self.assertIsNotNone(prometheus, "no prometheus binary (apt-get install prometheus)")
        self.assertTrue(os.access(SERVER, os.X_OK), "build it first: make unit-bins")

        server = self.start([SERVER, "--serve", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            text=True)
        line = server.stdout.readline()
        self.assertTrue(line.startswith("port "), "server said %r" % line)
        port = int(line.split()[1])

        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(CONFIG % port)
        web = free_port()
        log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.files.append(log)
        self.start([prometheus, "--config.file=" + config,
                    "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                    "--web.listen-address=127.0.0.1:%d" % web], stdout=log, stderr=log)
        base = "http://127.0.0.1:%d" % web

        deadline = time.time() + 60
        completed = steps = None
        while time.time() < deadline:
            time.sleep(1)
            try:
                completed = self.query(base, 'task_completed_total{task_name="CreateZip"}')
                steps = self.query(base, 'task_step_duration_seconds_count{step_name="Upload"}')
            except OSError:
                continue  # not listening yet
            if completed and steps:
                break
        log.seek(0)
        self.assertTrue(completed, "prometheus returned no task_completed_total; its log:\n" +
                        log.read()[-3000:])
        self.assertGreater(float(completed[0]["value"][1]), 0)
        self.assertEqual(completed[0]["metric"]["job"], "tasktap")
        self.assertEqual({m["metric"]["status"] for m in steps} - {"ok", "error"}, set())

        targets = get_json(base + "/api/v1/targets")["data"]["activeTargets"]
        self.assertEqual(len(targets), 1)
        self.assertEqual(targets[0]["health"], "up", targets[0].get("lastError"))
        self.assertEqual(targets[0]["lastError"], "")

        up = self.query(base, 'up{job="tasktap"}')
        self.assertEqual(up[0]["value"][1], "1")
        # the histogram is usable as one: a quantile over its buckets
        q = self.query(base, "histogram_quantile(0.5, sum by (le) "
                             "(task_duration_seconds_bucket))")
        self.assertTrue(q)
        self.assertTrue(0.25 < float(q[0]["value"][1]) <= 0.5, q)


if __name__ == "__main__":
    unittest.main()
