"""OTLP export end to end: the demo worker traced with real BPF, spans sent
to a real HTTP receiver (tests/receiver/otlp-receiver.c, libmicrohttpd) or a
real gRPC server (python3-grpcio), through retries, outages, restarts and
shutdowns."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from harness import Agent, RECIPE, free_port, isolated_demo

HERE = os.path.dirname(os.path.abspath(__file__))
RECEIVER = os.path.abspath(".output/otlp-receiver")
GRPC_RECEIVER = os.path.join(HERE, "otlp_grpc_receiver.py")
SCALE = "0.1"
SPANS_PER_TASK = 5  # CreateZip: 1 + 4 steps; Thumbnail: 1 + 4 steps


class Receiver:
    """The test collector, started on 127.0.0.1:port and stopped by pid."""

    def __init__(self, port, *args):
        self.port = port
        self.proc = subprocess.Popen([RECEIVER, "--port", str(port)] + list(args),
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise AssertionError("receiver did not start: %r" % line)

    def get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                    timeout=10) as r:
            return r.read().decode()

    def control(self, query):
        req = urllib.request.Request("http://127.0.0.1:%d/control?%s" % (self.port, query),
                                     data=b"", method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def stats(self):
        return json.loads(self.get("/stats"))

    def spans(self):
        return [json.loads(l) for l in self.get("/spans").splitlines() if l.strip()]

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


def run_worker(worker, tasks, first_id=1001):
    subprocess.run([worker, "--tasks", str(tasks), "--scale", SCALE,
                    "--first-id", str(first_id)],
                   check=True, stderr=subprocess.DEVNULL, timeout=120)


def wait_spool_files(spool, timeout):
    """The spool's batch files, as soon as there are any (none after `timeout` s)."""
    end = time.time() + timeout
    while time.time() < end:
        files = [f for f in os.listdir(spool) if f.endswith(".tts")]
        if files:
            return files
        time.sleep(0.01)
    return []


def wait_for(cond, timeout=30, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class ReceiversAndAgents:
    """A test case mixin: a free port for a receiver (self.receiver()), a spool
    directory, a private copy of the demo worker and its spec (other tests'
    workers are not counted), and the agents (self.agents) and receivers a test
    started, stopped after it."""

    def setUp(self):
        self.port = free_port()
        self.spool = tempfile.mkdtemp(prefix="tt-spool-")
        self.dir = tempfile.mkdtemp(prefix="tt-worker-")
        self.worker, self.spec = isolated_demo(self.dir)
        self.receivers = []
        self.agents = []

    def tearDown(self):
        for a in self.agents:
            if a.proc.poll() is None:
                a.proc.kill()
                a.proc.wait()
        for r in self.receivers:
            r.stop()
        shutil.rmtree(self.spool, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def receiver(self, *args):
        r = Receiver(self.port, *args)
        self.receivers.append(r)
        return r


class OtlpTest(ReceiversAndAgents, unittest.TestCase):
    def agent(self, extra=None, env=None):
        e = {"OTEL_BSP_SCHEDULE_DELAY": "200",
             "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % self.port}
        e.update(env or {})
        a = Agent([self.spec, "--spool", self.spool] + (extra or []), env=e)
        self.agents.append(a)
        a.wait_attached()
        return a

    def assert_demo_trace(self, spans, tasks):
        self.assertEqual(len(spans), tasks * SPANS_PER_TASK)
        self.assertEqual(len({s["spanId"] for s in spans}), len(spans))  # exactly once
        by_id = {s["spanId"]: s for s in spans}
        roots = [s for s in spans if "parentSpanId" not in s]
        self.assertEqual(len(roots), tasks)
        self.assertEqual(len({r["traceId"] for r in roots}), tasks)
        for s in spans:
            if "parentSpanId" in s:
                parent = by_id[s["parentSpanId"]]
                self.assertEqual(s["traceId"], parent["traceId"])
                self.assertEqual(s["attributes"]["task.id"], parent["attributes"]["task.id"])
                self.assertTrue(s["name"].startswith(parent["name"] + "."), s["name"])

    def test_demo_spans_arrive_with_ids_attributes_and_resource(self):
        r = self.receiver()
        a = self.agent()
        run_worker(self.worker, 2)
        wait_for(lambda: r.stats()["spans"] >= 10, what="10 spans")
        self.assertEqual(a.stop(), 0, a.stderr())
        spans = r.spans()
        self.assert_demo_trace(spans, 2)
        zips = [s for s in spans if s["name"] == "CreateZip.CreateZipArchive"]
        self.assertEqual(sorted(s["attributes"]["step.attempt"] for s in zips), [1, 2])
        failed = [s for s in zips if s["attributes"]["step.attempt"] == 1][0]
        self.assertEqual(failed["status"]["code"], 2)
        self.assertEqual(failed["events"][0]["name"], "exception")
        self.assertEqual(failed["events"][0]["attributes"]["exception.message"],
                         failed["status"]["message"])
        for s in spans:
            self.assertEqual(s["scope"]["name"], "tasktap")
            res = s["resource"]
            self.assertEqual(res["service.name"], "demo-worker")
            self.assertEqual(res["process.executable.name"], "demo-worker")
            self.assertEqual(res["os.type"], "linux")
            self.assertEqual(res["telemetry.distro.name"], "tasktap")
            self.assertEqual(res["telemetry.sdk.name"], "tasktap")
            self.assertEqual(res["telemetry.sdk.language"], "c")
            self.assertEqual(res["telemetry.sdk.version"], open("VERSION").read().strip())
            self.assertEqual(res["host.name"], socket.gethostname())
            self.assertIsInstance(res["process.pid"], int)
            self.assertEqual(s["attributes"]["code.function.name"],
                             "run_task" if "." not in s["name"] else "execute_step")
            self.assertGreater(int(s["endTimeUnixNano"]), int(s["startTimeUnixNano"]))
            # Unix time, not boot time
            self.assertLess(abs(int(s["startTimeUnixNano"]) / 1e9 - time.time()), 120)
        self.assertIn("otlp: 10 spans exported", a.stderr())

    def test_each_spec_names_its_own_service(self):
        # two specs, each with its own service: and its own copy of the worker
        other_dir = tempfile.mkdtemp(prefix="tt-otlp-b-")
        self.addCleanup(shutil.rmtree, other_dir, ignore_errors=True)
        worker_b, spec_b = isolated_demo(other_dir)
        with open(spec_b) as f:
            text = f.read().replace("service: demo-worker", "service: billing-worker")
        with open(spec_b, "w") as f:
            f.write(text)
        r = self.receiver()
        a = self.agent(["--spec", spec_b])
        run_worker(self.worker, 1)
        run_worker(worker_b, 1, first_id=2001)
        wait_for(lambda: r.stats()["spans"] >= 10, what="10 spans")
        self.assertEqual(a.stop(), 0, a.stderr())
        services = {}
        for sp in r.spans():
            services.setdefault(sp["resource"]["service.name"], set()).add(
                sp["attributes"]["task.id"])
        self.assertEqual(services, {"demo-worker": {"1001"}, "billing-worker": {"2001"}})
        # the task metrics too: one resource per service, the service not an attribute
        points = [json.loads(l) for l in r.get("/points").splitlines() if l.strip()]
        completed = {}
        for p in points:
            if p["name"] == "task.completed":
                self.assertNotIn("service.name", p["attributes"])
                completed[p["resource"]["service.name"]] = p["value"]
        self.assertEqual(completed, {"demo-worker": 1, "billing-worker": 1})
        # the agent's own metrics keep the agent's resource
        own = [p for p in points if p["name"] == "tasktap.event.received"]
        self.assertTrue(own)
        self.assertEqual({p["resource"]["process.executable.name"] for p in own}, {"tasktap"})

    def test_retries_through_503_honouring_retry_after(self):
        r = self.receiver("--mode", "503", "--fail", "2", "--retry-after", "1")
        a = self.agent()
        t0 = time.time()
        run_worker(self.worker, 1)
        wait_for(lambda: r.stats()["spans"] >= 5, what="5 spans")
        st = r.stats()
        self.assertEqual(st["refused"], 2)
        self.assertEqual(st["accepted"], 1)
        self.assertGreaterEqual(time.time() - t0, 2.0)  # two Retry-After: 1
        self.assertEqual(a.stop(), 0)
        self.assert_demo_trace(r.spans(), 1)
        self.assertIn("HTTP 503", a.stderr())

    def test_400_is_not_retried(self):
        r = self.receiver("--mode", "400")
        a = self.agent()
        run_worker(self.worker, 1)
        wait_for(lambda: r.stats()["requests"] >= 1, what="a request")
        time.sleep(2)
        self.assertEqual(a.stop(), 0)
        self.assertEqual(r.stats()["requests"], 1)
        self.assertIn("rejected 5", a.stderr())

    def test_no_loss_through_an_outage(self):
        r = self.receiver()
        a = self.agent()
        run_worker(self.worker, 2, first_id=1)
        wait_for(lambda: r.stats()["spans"] >= 10, what="spans before the outage")
        before = r.spans()
        r.stop()
        run_worker(self.worker, 4, first_id=100)  # the collector is away
        time.sleep(3)
        r2 = self.receiver()  # back on the same port
        run_worker(self.worker, 2, first_id=200)
        wait_for(lambda: r2.stats()["spans"] >= 30, timeout=60, what="every span")
        self.assertEqual(a.stop(), 0, a.stderr())
        spans = before + r2.spans()
        self.assert_demo_trace(spans, 8)
        self.assertIn("cannot export spans", a.stderr())
        self.assertIn("otlp: 40 spans exported, 0 in the spool", a.stderr())

    def test_slow_collector_spills_to_the_spool_and_every_span_arrives(self):
        # each request waits 200 ms; a queue of 8 spans in batches of 2 fills at
        # once: the spill thread moves the oldest batches to the spool instead of
        # the queue dropping them, and the exporter replays them
        r = self.receiver("--delay", "200")
        a = self.agent(env={"OTEL_BSP_MAX_QUEUE_SIZE": "8",
                            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2"})
        spilled = []
        t = threading.Thread(target=lambda: spilled.extend(
            wait_spool_files(self.spool, 30)))
        t.start()
        run_worker(self.worker, 10)
        t.join()
        self.assertTrue(spilled, "no batch went to the spool")
        wait_for(lambda: r.stats()["spans"] >= 50, timeout=120, what="every span")
        self.assertEqual(a.stop(), 0, a.stderr())
        self.assert_demo_trace(r.spans(), 10)
        self.assertIn("otlp: 50 spans exported, 0 in the spool (0 batches), 0 dropped",
                      a.stderr())

    def test_spool_survives_an_agent_restart(self):
        a = self.agent()  # nothing listens on the port
        run_worker(self.worker, 2)
        time.sleep(1)
        self.assertEqual(a.stop(signal.SIGTERM), 0)
        self.assertIn("10 in the spool", a.stderr())
        files = [f for f in os.listdir(self.spool) if f.endswith(".tts")]
        self.assertGreaterEqual(len(files), 1)
        r = self.receiver()
        a2 = self.agent()
        wait_for(lambda: r.stats()["spans"] >= 10, what="the replay")
        self.assertEqual(a2.stop(), 0)
        self.assert_demo_trace(r.spans(), 2)
        self.assertEqual([f for f in os.listdir(self.spool) if f.endswith(".tts")], [])

    def test_sigterm_flushes_the_queue(self):
        r = self.receiver()
        # a batch would wait a minute: only the shutdown flush can send it
        a = self.agent(env={"OTEL_BSP_SCHEDULE_DELAY": "60000"})
        run_worker(self.worker, 2)
        time.sleep(0.5)
        self.assertEqual(r.stats()["spans"], 0)
        self.assertEqual(a.stop(signal.SIGTERM), 0)
        self.assertEqual(r.stats()["spans"], 10)
        self.assert_demo_trace(r.spans(), 2)

    def test_spans_a_killed_agent_had_not_sent_are_counted_by_the_next(self):
        """SIGKILL with finished spans still in the exporter's queue: the next
        agent with the same --pin reads the span ledger the first kept there
        and counts them, on stderr (at its start and in its summary), in
        /health and in /metrics. What the first produced is what the
        receiver got plus what the second counted."""
        pin = "/sys/fs/bpf/tasktap-test-ledger-%d" % self.port
        self.addCleanup(shutil.rmtree, pin, True)
        r = self.receiver()
        # batches of 4 go at once; the rest of 15 spans would wait a minute
        a = self.agent(["--pin", pin], env={"OTEL_BSP_SCHEDULE_DELAY": "60000",
                                            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4"})
        run_worker(self.worker, 3)
        produced = 3 * SPANS_PER_TASK
        wait_for(lambda: r.stats()["spans"] == 12, what="three batches of 4")
        wait_for(lambda: json.loads(a.get("/health")[2])["queue_size"] == 3,
                 what="3 spans waiting in the queue")
        a.proc.kill()  # SIGKILL: the queue goes with it
        a.proc.wait()
        exported = r.stats()["spans"]
        b = self.agent(["--pin", pin])
        line = ("%d spans of the previous agent (pid %d) lost: it was killed before "
                "sending them" % (produced - exported, a.proc.pid))
        self.assertIn(line, b.stderr())
        h = json.loads(b.get("/health")[2])
        self.assertEqual(h["spans_unsent_by_killed_agent"], produced - exported)
        self.assertEqual(h["spans_lost_by_killed_agent"], 0)
        self.assertGreaterEqual(h["spans_dropped"], produced - exported)
        self.assertIn('error_type="agent_killed"} %d' % (produced - exported),
                      b.get("/metrics")[2])
        # the second agent's own spans: sent when it stops, nothing left to count
        run_worker(self.worker, 1, first_id=2001)
        self.assertEqual(b.stop(signal.SIGTERM), 0, b.stderr())
        self.assertEqual(b.stderr().count(line), 2, b.stderr())  # at the start, and the summary
        self.assertEqual(r.stats()["spans"], exported + SPANS_PER_TASK)
        # a third agent: the second stopped cleanly, nothing lost
        c = self.agent(["--pin", pin])
        self.assertNotIn("of the previous agent", c.stderr())
        self.assertEqual(json.loads(c.get("/health")[2])["spans_unsent_by_killed_agent"], 0)
        self.assertEqual(c.stop(), 0, c.stderr())

    def test_gzip_and_json(self):
        r = self.receiver()
        a = self.agent(["--otlp-compression", "gzip"])
        run_worker(self.worker, 1)
        wait_for(lambda: r.stats()["spans"] >= 5, what="gzip spans")
        self.assertEqual(a.stop(), 0)
        self.assertGreaterEqual(r.stats()["gzip"], 1)
        self.assert_demo_trace(r.spans(), 1)

        a = self.agent(["--otlp-protocol", "http/json"])
        run_worker(self.worker, 1)
        wait_for(lambda: r.stats()["json"] >= 1, what="a JSON request")
        self.assertEqual(a.stop(), 0)
        body = json.loads(r.get("/bodies").splitlines()[0])
        spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
        self.assertEqual(len(spans), 5)
        for s in spans:
            self.assertEqual(len(s["traceId"]), 32)
            int(s["traceId"], 16)
            self.assertIsInstance(s["kind"], int)
            self.assertIsInstance(s["startTimeUnixNano"], str)
            tid = [x for x in s["attributes"] if x["key"] == "tasktap.thread.tid"][0]
            self.assertIsInstance(tid["value"]["intValue"], str)

    def health(self, a):
        status, _, body = a.get("/health")
        return json.loads(body)

    def test_refused_metrics_show_at_once_in_health_and_on_stderr(self):
        # a collector without a metrics pipeline answers 404 on /v1/metrics;
        # the metrics interval is the default minute: the first export comes early
        self.receiver("--mode", "404", "--fail-signals", "metrics")
        a = self.agent()
        wait_for(lambda: self.health(a).get("rejected", {}).get("metrics", {}).get("404"),
                 what="the 404 in /health")
        h = self.health(a)
        self.assertEqual(h["status"], "degraded")
        self.assertIn("the collector refuses metrics: 404", h["reasons"])
        self.assertEqual(h["rejected"]["traces"], {})
        wait_for(lambda: "(404)" in a.stderr(), what="the message")
        self.assertIn("the collector refused", a.stderr())
        self.assertIn("data points (404): HTTP 404", a.stderr())
        self.assertEqual(a.stop(), 0, a.stderr())

    def test_partial_success_is_counted_as_rejected(self):
        r = self.receiver("--mode", "partial", "--rejected", "1")
        a = self.agent()
        run_worker(self.worker, 1)
        wait_for(lambda: self.health(a)["rejected"]["traces"].get("rejected"),
                 what="the partial success in /health")
        h = self.health(a)
        self.assertIn("the collector refuses traces: rejected", h["reasons"])
        self.assertEqual(h["rejected"]["traces"]["rejected"], r.stats()["requests"])
        self.assertIn("the collector accepted a batch partly", a.stderr())
        self.assertEqual(a.stop(), 0, a.stderr())

    def test_a_slow_collector_gets_each_batch_once(self):
        # the collector answers 3 s after each request, past the OTLP timeout
        # (1 s here, 10 s by default) but within the export timeout (30 s):
        # the request is sent in time, so the agent waits for the answer
        # rather than send the batch again, which the collector would keep twice
        r = self.receiver("--delay", "3000")
        a = self.agent(env={"OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
                            "OTEL_METRICS_EXPORTER": "none"})
        run_worker(self.worker, 2)
        wait_for(lambda: len(r.spans()) >= 2 * SPANS_PER_TASK, what="spans")
        self.assertEqual(a.stop(), 0, a.stderr())
        self.assert_demo_trace(r.spans(), 2)  # each span exactly once
        self.assertEqual(r.stats()["requests"], r.stats()["accepted"])
        self.assertNotIn("cannot export", a.stderr())

    def test_secrets_are_masked_on_stderr(self):
        # a password in the endpoint, a token in a header the agent cannot parse
        r = self.receiver()
        a = self.agent(["--otlp-endpoint", "http://alice:s3cret-pw@127.0.0.1:%d" % self.port],
                       env={"OTEL_EXPORTER_OTLP_HEADERS": "Authorization Bearer tok-123"})
        run_worker(self.worker, 1)
        wait_for(lambda: len(r.spans()) >= SPANS_PER_TASK, what="spans")
        self.assertEqual(a.stop(), 0, a.stderr())
        err = a.stderr()
        self.assertIn("exporting spans to http://***@127.0.0.1:%d/v1/traces" % self.port, err)
        self.assertIn("Authorization Bearer ***", err)
        self.assertNotIn("s3cret-pw", err)
        self.assertNotIn("tok-123", err)

    def test_an_sdk_variable_tasktap_lacks_is_refused_at_start(self):
        for var, value, said in (
                ("OTEL_TRACES_EXPORTER", "zipkin", "OTEL_TRACES_EXPORTER: 'zipkin' is not "
                 "supported (tasktap has otlp, console and none)"),
                ("OTEL_PROPAGATORS", "tracecontext,b3", "OTEL_PROPAGATORS: 'b3' is not "
                 "supported"),
                ("OTEL_METRICS_EXPORTER", "console", "OTEL_METRICS_EXPORTER: 'console' is not "
                 "supported")):
            p = subprocess.run([os.path.abspath(".output/tasktap"), "run", self.spec],
                               capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, **{var: value}))
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(said, p.stderr)
            self.assertNotIn("attached", p.stderr)  # before BPF is loaded

    def test_each_signal_goes_where_its_exporter_variable_says(self):
        r = self.receiver()
        a = self.agent(env={"OTEL_TRACES_EXPORTER": "console",
                            "OTEL_METRICS_EXPORTER": "otlp",
                            "OTEL_LOGS_EXPORTER": "otlp",
                            "OTEL_METRIC_EXPORT_INTERVAL": "300"})
        run_worker(self.worker, 1)
        wait_for(lambda: r.stats()["log_records"] >= 8, what="the step logs")
        wait_for(lambda: r.stats()["points"] > 0, what="the metrics")
        status, _, _ = a.get("/metrics")  # prometheus is not among the metrics exporters
        self.assertEqual(status, 503)
        self.assertEqual(a.stop(), 0, a.stderr())
        self.assertIn("CreateZip", a.stdout())  # the waterfall
        self.assertEqual(r.stats()["requests"], 0)  # no span went to OTLP
        self.assertNotIn("exporting spans", a.stderr())

    def test_logs_console_and_traces_none(self):
        # no endpoint at all: OTEL_LOGS_EXPORTER=console is the step lines on stderr,
        # OTEL_TRACES_EXPORTER=none leaves stdout without waterfalls
        a = Agent([self.spec, "--spool", self.spool],
                  env={"OTEL_LOGS_EXPORTER": "console", "OTEL_TRACES_EXPORTER": "none"})
        self.agents.append(a)
        a.wait_attached()
        run_worker(self.worker, 1)
        wait_for(lambda: "step UploadResult completed" in a.stderr(), what="the step lines")
        self.assertEqual(a.stop(), 0, a.stderr())
        self.assertIn("step CreateZipArchive failed", a.stderr())
        self.assertEqual(a.stdout().strip(), "")

    def test_prometheus_address_limits_and_delta_from_the_environment(self):
        r = self.receiver()
        prom = free_port()
        a = self.agent(env={"OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
                            "OTEL_EXPORTER_PROMETHEUS_PORT": str(prom),
                            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "3",
                            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "5",
                            "OTEL_METRICS_EXPORTER": "none"})
        self.assertEqual(a.http_addr, "127.0.0.1:%d" % prom)
        run_worker(self.worker, 1)
        wait_for(lambda: len(r.spans()) >= SPANS_PER_TASK, what="spans")
        status, _, body = a.get("/metrics")
        self.assertEqual(status, 503)  # OTEL_METRICS_EXPORTER=none: not prometheus either
        self.assertEqual(a.stop(), 0, a.stderr())
        for s in r.spans():
            self.assertLessEqual(len(s["attributes"]), 3, s)
            for v in s["attributes"].values():
                if isinstance(v, str):
                    self.assertLessEqual(len(v.encode()), 5, s)
        self.assertEqual(r.stats()["metrics_requests"], 0)

    def test_print_config_shows_each_setting_and_where_it_came_from(self):
        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT="http://alice:pw@127.0.0.1:4318",
                   OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="grpc",
                   OTEL_EXPORTER_OTLP_HEADERS="api-key=s3cret",
                   OTEL_BSP_SCHEDULE_DELAY="250", OTEL_PROPAGATORS="none",
                   OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT="9",
                   OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="delta")
        p = subprocess.run([os.path.abspath(".output/tasktap"), "run", "--print-config",
                            "--otlp-compression", "gzip"],
                           capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = {}
        for line in p.stdout.splitlines()[1:]:
            name, value, source = line.split(None, 2) if len(line.split()) >= 3 else (
                line.split() + ["", ""])[:3]
            rows[name] = (value, source)
        self.assertEqual(rows["traces.endpoint"],
                         ("http://***@127.0.0.1:4318/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT"))
        self.assertEqual(rows["metrics.protocol"],
                         ("grpc", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"))
        self.assertEqual(rows["traces.protocol"], ("http/protobuf", "default"))
        self.assertEqual(rows["traces.compression"], ("gzip", "--otlp-compression"))
        self.assertEqual(rows["traces.headers"], ("api-key=***", "OTEL_EXPORTER_OTLP_HEADERS"))
        self.assertEqual(rows["traces.schedule_delay_ms"], ("250", "OTEL_BSP_SCHEDULE_DELAY"))
        self.assertEqual(rows["propagators"], ("none", "OTEL_PROPAGATORS"))
        self.assertEqual(rows["span.attribute_count_limit"],
                         ("9", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"))
        self.assertEqual(rows["metrics.temporality"],
                         ("delta", "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"))
        self.assertEqual(rows["logs.otlp"][0], "off")
        self.assertNotIn("s3cret", p.stdout)
        self.assertNotIn("alice:pw", p.stdout)
        # a refused value stops it too, naming the variable
        env["OTEL_TRACES_EXPORTER"] = "jaeger"
        p = subprocess.run([os.path.abspath(".output/tasktap"), "run", "--print-config"],
                           capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(p.returncode, 2)
        self.assertIn("OTEL_TRACES_EXPORTER: 'jaeger' is not supported", p.stderr)

    def test_bad_option_is_refused(self):
        p = subprocess.run([os.path.abspath(".output/tasktap"), "run", RECIPE,
                            "--otlp-protocol", "udp"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--otlp-protocol: invalid protocol 'udp'", p.stderr)

    def test_grpc_with_a_real_grpc_server(self):
        out = os.path.join(self.spool, "grpc.jsonl")
        g = subprocess.Popen(["/usr/bin/python3", GRPC_RECEIVER, "--port", str(self.port),
                              "--out", out, "--fail", "1"], stdout=subprocess.PIPE, text=True)
        try:
            self.assertIn("listening", g.stdout.readline())
            a = self.agent(env={"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                                "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"})
            run_worker(self.worker, 2)

            def lines():
                with open(out) as f:
                    return [json.loads(l) for l in f if l.strip()]
            wait_for(lambda: len([l for l in lines() if "spanId" in l]) >= 10,
                     what="gRPC spans")
            self.assertEqual(a.stop(), 0, a.stderr())
        finally:
            g.send_signal(signal.SIGTERM)
            g.wait(10)
        got = lines()
        calls = [l for l in got if "call" in l]
        self.assertEqual(calls[0]["status"], "UNAVAILABLE")  # retried after it
        self.assertEqual(calls[1]["status"], "OK")
        self.assertEqual(calls[1]["metadata"]["user-agent"].split(" ")[0], "tasktap/"
                         + open("VERSION").read().strip())
        spans = [l for l in got if "spanId" in l]
        self.assert_demo_trace(spans, 2)
        self.assertEqual(spans[0]["resource"]["service.name"], "demo-worker")

    def test_grpc_a_hundred_requests_in_a_row_without_a_retry(self):
        # one span per request: every request after the first could reuse the
        # connection, which libcurl 7.88 (Debian 12) cannot do over h2c
        out = os.path.join(self.spool, "grpc100.jsonl")
        g = subprocess.Popen(["/usr/bin/python3", GRPC_RECEIVER, "--port", str(self.port),
                              "--out", out], stdout=subprocess.PIPE, text=True)
        tasks = 21
        try:
            self.assertIn("listening", g.stdout.readline())
            a = self.agent(env={"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1",
                                "OTEL_BSP_SCHEDULE_DELAY": "10",
                                "OTEL_METRIC_EXPORT_INTERVAL": "300"})
            run_worker(self.worker, tasks)

            def lines():
                with open(out) as f:
                    return [json.loads(l) for l in f if l.strip()]
            wait_for(lambda: len([l for l in lines() if "spanId" in l]) >= tasks * 5,
                     what="gRPC spans")
            self.assertEqual(a.stop(), 0, a.stderr())
        finally:
            g.send_signal(signal.SIGTERM)
            g.wait(10)
        got = lines()
        calls = [l for l in got if "call" in l]
        self.assertGreaterEqual(len(calls), 100)
        self.assertEqual([c["status"] for c in calls], ["OK"] * len(calls))
        spans = [l for l in got if "spanId" in l]
        self.assertEqual(len(calls), len(spans))  # each span sent once: no retry
        self.assert_demo_trace(spans, tasks)
        self.assertGreaterEqual(len([l for l in got if l.get("signal") == "metrics"]), 2)
        self.assertNotIn("cannot export", a.stderr())
        self.assertNotIn("HTTP2", a.stderr())


if __name__ == "__main__":
    unittest.main()
