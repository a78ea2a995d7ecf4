"""OTLP metrics and logs end to end: the demo worker traced with real BPF,
metrics (cumulative) and step-transition logs sent to the test receiver
(tests/receiver/otlp-receiver.c, which decodes them with protobuf-c) and
checked for exact values; metrics retried through 503 like spans; the same
transitions as console lines with --log-steps."""
import os
import re
import signal
import subprocess
import unittest

import test_otlp as otlp
from harness import Agent

# demo-worker: CreateZip = UploadSourceFiles, CreateZipArchive #1 (fails), #2, UploadResult;
# Thumbnail = Decode, ResizeSmall, ResizeLarge, Store: 8 step spans for 2 tasks
STEP_SPANS = 8


def latest(points):
    """The last data point of each (name, attributes): cumulative, so the totals."""
    out = {}
    for p in points:
        out[(p["name"], tuple(sorted(p["attributes"].items())))] = p
    return out


def point(pts, name, **attrs):
    key = (name, tuple(sorted(attrs.items())))
    if key not in pts:
        raise AssertionError("no data point %s %s among %s" % (
            name, attrs, sorted(k for k in pts if k[0] == name)))
    return pts[key]


class OtlpMetricsLogsTest(otlp.ReceiversAndAgents, unittest.TestCase):
    def agent(self, extra=None, env=None):
        e = {"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BLRP_SCHEDULE_DELAY": "200",
             "OTEL_METRIC_EXPORT_INTERVAL": "300",
             "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % self.port}
        e.update(env or {})
        a = Agent([self.spec, "--spool", self.spool] + (extra or []), env=e)
        self.agents.append(a)
        a.wait_attached()
        return a

    def run_worker(self, tasks):
        subprocess.run([self.worker, "--tasks", str(tasks), "--scale", otlp.SCALE], check=True,
                       stderr=subprocess.DEVNULL, timeout=120)

    def points(self, r):
        return [otlp.json.loads(l) for l in r.get("/points").splitlines() if l.strip()]

    def logs(self, r):
        return [otlp.json.loads(l) for l in r.get("/logs").splitlines() if l.strip()]

    def test_metrics_arrive_cumulative_with_exact_values(self):
        r = self.receiver()
        a = self.agent()
        self.run_worker(2)
        otlp.wait_for(lambda: r.stats()["spans"] >= 10, what="the spans")
        # a periodic export after the tasks ended, and the last one at shutdown
        n = r.stats()["metrics_requests"]
        otlp.wait_for(lambda: r.stats()["metrics_requests"] >= n + 2, what="two more exports")
        self.assertEqual(a.stop(signal.SIGTERM), 0, a.stderr())
        st = r.stats()
        self.assertEqual(st["metrics_refused"], 0)
        self.assertEqual(st["logs_requests"], 0)  # logs are off without --logs
        pts = self.points(r)
        self.assertEqual(st["points"], len(pts))
        last = latest(pts)

        for task in ("CreateZip", "Thumbnail"):
            p = point(last, "task.completed", **{"task.name": task})
            self.assertEqual(p["type"], "sum")
            self.assertEqual(p["temporality"], 2)  # cumulative
            self.assertTrue(p["monotonic"])
            self.assertEqual(p["unit"], "{task}")
            self.assertEqual(p["value"], 1)
            d = point(last, "task.duration", **{"task.name": task, "status": "ok"})
            self.assertEqual(d["count"], 1)
            self.assertEqual(d["unit"], "s")
            self.assertEqual(sum(d["buckets"]), 1)
            self.assertEqual(len(d["buckets"]), len(d["bounds"]) + 1)
        self.assertFalse([k for k in last if k[0] == "task.failed"])
        att = point(last, "task.step.attempts",
                    **{"task.name": "CreateZip", "step.name": "CreateZipArchive"})
        self.assertEqual(att["type"], "histogram")
        self.assertEqual(att["temporality"], 2)
        self.assertEqual(att["count"], 2)
        self.assertEqual(att["sum"], 3)  # attempts 1 and 2
        self.assertEqual(att["bounds"], [1, 2, 3, 4, 5, 10])
        self.assertEqual(att["buckets"], [1, 1, 0, 0, 0, 0, 0])
        for step in ("UploadSourceFiles", "UploadResult"):
            att = point(last, "task.step.attempts",
                        **{"task.name": "CreateZip", "step.name": step})
            self.assertEqual((att["count"], att["buckets"][0]), (1, 1))
        retries = point(last, "task.step.retries",
                        **{"task.name": "CreateZip", "step.name": "CreateZipArchive"})
        self.assertEqual(retries["value"], 1)
        failed_step = point(last, "task.step.duration", **{
            "task.name": "CreateZip", "step.name": "CreateZipArchive", "status": "error"})
        self.assertEqual(failed_step["count"], 1)
        # a task of 50 ms may fall between two counts of open tasks (once a second)
        for k, p in last.items():
            if k[0] == "task.in_flight":
                # an UpDownCounter: a cumulative sum that is not monotonic
                self.assertEqual((p["type"], p["monotonic"], p["temporality"], p["value"]),
                                 ("sum", False, 2, 0))
        # the 2 tasks' entries and returns, and their 8 steps' whole calls, one event each
        # (the default: one event per call, for the calls nothing can be the child of)
        self.assertEqual(point(last, "tasktap.event.received")["value"], 2 * 2 + 8)
        # attached while it ran; the last export, at shutdown, follows the detach
        attached = [p["value"] for p in pts if p["name"] == "tasktap.probe.attached"]
        self.assertIn(2, attached)
        self.assertEqual(attached[-1], 0)
        # the SDK self-observability names: accepted spans have no error.type
        self.assertEqual(point(last, "otel.sdk.exporter.span.exported")["value"], 10)
        self.assertEqual(point(last, "otel.sdk.exporter.span.exported",
                               **{"error.type": "spool_full"})["value"], 0)
        self.assertEqual(point(last, "otel.sdk.processor.span.processed")["value"], 10)
        self.assertEqual(point(last, "otel.sdk.span.live")["type"], "sum")
        self.assertEqual(point(last, "tasktap.event.lost", kind="probe")["value"], 0)

        # cumulative: every export of a series starts at the same time, and never goes down
        starts = {p["start"] for p in pts}
        self.assertEqual(len(starts), 1)
        seen = {}
        for p in pts:
            if p["name"] == "task.completed":
                key = p["attributes"]["task.name"]
                self.assertGreaterEqual(p["value"], seen.get(key, 0))
                seen[key] = p["value"]
                self.assertGreaterEqual(int(p["time"]), int(p["start"]))
        res = pts[-1]["resource"]
        self.assertEqual(res["service.name"], "demo-worker")
        self.assertEqual(res["process.executable.name"], "tasktap")
        self.assertEqual(res["telemetry.distro.name"], "tasktap")
        self.assertRegex(a.stderr(), r"otlp metrics: \d+ data points exported in \d+ requests, "
                                     r"0 in the spool, 0 dropped")

    def test_delta_temporality(self):
        r = self.receiver()
        a = self.agent(env={"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
                            "OTEL_METRIC_EXPORT_INTERVAL": "300"})
        self.run_worker(2)
        otlp.wait_for(lambda: r.stats()["spans"] >= 10, what="the spans")
        n = r.stats()["metrics_requests"]
        otlp.wait_for(lambda: r.stats()["metrics_requests"] >= n + 2, what="two more exports")
        self.assertEqual(a.stop(), 0, a.stderr())
        pts = self.points(r)
        completed = [p for p in pts if p["name"] == "task.completed"]
        self.assertTrue(completed)
        self.assertEqual({p["temporality"] for p in completed}, {1})  # DELTA
        # the deltas add up to the tasks, each counted in one export only
        by_task = {}
        for p in completed:
            by_task[p["attributes"]["task.name"]] = by_task.get(
                p["attributes"]["task.name"], 0) + p["value"]
        self.assertEqual(by_task, {"CreateZip": 1, "Thumbnail": 1})
        self.assertIn(0, [p["value"] for p in completed])  # an export after them: nothing new
        # each delta starts where the one before it ended
        times = sorted({(int(p["start"]), int(p["time"])) for p in completed})
        for (s0, t0), (s1, t1) in zip(times, times[1:]):
            self.assertEqual(s1, t0)
        # a count now stays cumulative
        live = [p for p in pts if p["name"] == "otel.sdk.span.live"]
        self.assertEqual({p["temporality"] for p in live}, {2})
        durations = [p for p in pts if p["name"] == "task.duration"]
        self.assertEqual({p["temporality"] for p in durations}, {1})
        self.assertEqual(sum(p["count"] for p in durations), 2)

    def test_metrics_are_retried_through_503(self):
        r = self.receiver()
        a = self.agent(env={"OTEL_METRIC_EXPORT_INTERVAL": "60000"})
        # the first export comes a second after the start, the next after a minute
        otlp.wait_for(lambda: r.stats()["metrics_requests"] >= 1, what="the first export")
        self.run_worker(2)
        otlp.wait_for(lambda: r.stats()["spans"] >= 10, what="the spans")
        self.assertEqual(r.stats()["metrics_requests"], 1)
        r.control("mode=503&fail=2&retry_after=0&signals=metrics")
        self.assertEqual(a.stop(signal.SIGTERM), 0, a.stderr())
        # shutdown makes one try: refused, so the export is spooled ...
        st = r.stats()
        self.assertEqual((st["metrics_requests"], st["metrics_refused"]), (2, 1))
        self.assertIn("cannot export metrics: HTTP 503", a.stderr())
        spooled = os.listdir(os.path.join(self.spool, "metrics"))
        self.assertEqual(len([f for f in spooled if f.endswith(".tts")]), 1)
        # ... and the next agent replays it (refused once more, then accepted)
        a2 = self.agent()
        otlp.wait_for(lambda: r.stats()["points"] > 0, what="the replay")
        a2.stop(signal.SIGTERM)
        st = r.stats()
        self.assertEqual(st["metrics_refused"], 2)
        completed = [p for p in self.points(r) if p["name"] == "task.completed"]
        self.assertEqual(completed[0]["value"], 1)  # the first agent's totals came first

    def test_step_logs_with_trace_ids(self):
        r = self.receiver()
        a = self.agent(["--logs"])
        self.assertIn("exporting logs to http://127.0.0.1:%d/v1/logs" % self.port, a.stderr())
        self.run_worker(2)
        otlp.wait_for(lambda: r.stats()["log_records"] >= 2 * STEP_SPANS, what="the logs")
        otlp.wait_for(lambda: r.stats()["spans"] >= 10, what="the spans")
        self.assertEqual(a.stop(), 0, a.stderr())
        logs = self.logs(r)
        self.assertEqual(len(logs), 2 * STEP_SPANS)
        spans = {s["spanId"]: s for s in r.spans()}
        by_span = {}
        for rec in logs:
            by_span.setdefault(rec["spanId"], []).append(rec)
        self.assertEqual(len(by_span), STEP_SPANS)
        for span_id, recs in by_span.items():
            s = spans[span_id]
            self.assertEqual([x["traceId"] for x in recs], [s["traceId"]] * 2)
            started, ended = sorted(recs, key=lambda x: int(x["time"]))
            self.assertEqual(started["attributes"]["step.transition"], "started")
            self.assertEqual(started["eventName"], "step.started")
            self.assertEqual(started["time"], s["startTimeUnixNano"])
            self.assertEqual(ended["time"], s["endTimeUnixNano"])
            failed = s["status"]["code"] == 2
            self.assertEqual(ended["attributes"]["step.transition"],
                             "failed" if failed else "completed")
            self.assertEqual((ended["severity"], ended["severityText"]),
                             (17, "ERROR") if failed else (9, "INFO"))
            self.assertEqual((started["severity"], started["severityText"]), (9, "INFO"))
            for x in recs:
                self.assertEqual(x["attributes"]["step.name"], s["attributes"]["step.name"])
                self.assertEqual(x["attributes"]["step.attempt"],
                                 s["attributes"]["step.attempt"])
                self.assertEqual(x["attributes"]["task.id"], s["attributes"]["task.id"])
                self.assertEqual(x["attributes"]["task.name"], s["name"].split(".")[0])
                self.assertEqual(x["flags"], 1)
                self.assertEqual(x["scope"], "tasktap")
                self.assertEqual(x["resource"]["process.executable.name"], "demo-worker")
                self.assertEqual(x["resource"]["service.name"], "demo-worker")
        failed = [x for x in logs if x["attributes"]["step.transition"] == "failed"]
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["attributes"]["step.name"], "CreateZipArchive")
        self.assertEqual(failed[0]["attributes"]["step.attempt"], 1)
        self.assertRegex(failed[0]["body"], r"^step CreateZipArchive failed \(task CreateZip "
                                            r"1001, attempt 1, [\d.]+ ms\): returned -1")
        self.assertIn("otlp logs: 16 log records exported", a.stderr())

    def test_logs_without_an_endpoint_is_an_error(self):
        a = Agent([self.spec, "--logs"], env={"OTEL_EXPORTER_OTLP_ENDPOINT": ""})
        self.assertEqual(a.wait(30), 2)
        self.assertIn("--logs: no OTLP endpoint", a.stderr())

    def test_log_steps_on_the_console(self):
        a = Agent([self.spec, "--log-steps", "--no-color"],
                  env={"OTEL_EXPORTER_OTLP_ENDPOINT": ""})
        self.agents.append(a)
        a.wait_attached()
        self.run_worker(2)
        otlp.wait_for(lambda: "Thumbnail" in a.stdout(), what="the waterfalls")
        self.assertEqual(a.stop(), 0)
        line = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO |ERROR|WARN ) "
                          r"step (\w+) (started|completed|failed) \(task (\w+) (\d+), "
                          r"attempt (\d)")
        steps = [m.groups() for m in map(line.match, a.err_lines) if m]
        self.assertEqual(len(steps), 2 * STEP_SPANS)
        self.assertIn(("ERROR", "CreateZipArchive", "failed", "CreateZip", "1001", "1"), steps)
        self.assertIn(("INFO ", "CreateZipArchive", "completed", "CreateZip", "1001", "2"),
                      steps)
        self.assertIn(("INFO ", "Decode", "started", "Thumbnail", "1002", "1"), steps)
        self.assertIn("CreateZip.CreateZipArchive #1 ERROR", a.stdout())  # waterfalls too


if __name__ == "__main__":
    unittest.main()
