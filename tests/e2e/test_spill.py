"""The export queue bounded in bytes, end to end: the demo worker traced with
real BPF, spans sent to the test receiver (tests/receiver/otlp-receiver.c)
started on 127.0.0.1 and stopped by PID. A receiver that is slow, then
stopped, makes the agent spill to its spool instead of dropping, and every
span arrives exactly once when it is back; with a spool too small for what
waits, the spans dropped are counted with their reason (spool_full) in
/metrics, /health and the closing line. No timed assertion: the waits are
bounds on how long a step may take on a loaded machine."""
import json
import os
import re
import unittest

from harness import Agent, run_tool
from test_otlp import ReceiversAndAgents, run_worker, wait_for, SPANS_PER_TASK

QUEUE = "64K"  # the smallest bound: a few hundred spans, so that the spill runs soon


def metric(text, name, error_type):
    """The value of a Prometheus sample NAME{error_type="..."} (None when absent)."""
    m = re.search(r'^%s\{error_type="%s"\} (\d+)$' % (name, error_type), text, re.M)
    return int(m.group(1)) if m else None


class SpillTest(ReceiversAndAgents, unittest.TestCase):
    def agent(self, extra=None):
        env = {"OTEL_BSP_SCHEDULE_DELAY": "100",
               "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % self.port}
        a = Agent([self.spec, "--spool", self.spool, "--otlp-queue-bytes", QUEUE] +
                  (extra or []), env=env)
        self.agents.append(a)
        a.wait_attached()
        return a

    def health(self, a):
        return json.loads(a.get("/health")[2])

    @staticmethod
    def settled(h):
        """Nothing queued or in flight, and the ledger adds up in this one answer (a batch
        between the queue and the spool may be read in neither an instant)."""
        return (h["spans_in_queue"] == 0 and h["spans_in_flight"] == 0 and
                h["spans_queued"] == h["spans_exported"] + h["spans_in_spool"] +
                sum(h["spans_dropped_by"].values()))

    def test_a_stopped_receiver_makes_the_agent_spill_and_every_span_arrives_once(self):
        tasks = 200  # 1000 spans: several times what the queue holds
        # the receiver is not there yet: the queue fills past 3/4 and spills to the spool
        a = self.agent()
        run_worker_fast(self.worker, tasks, first_id=1)
        wait_for(lambda: self.health(a)["spans_queued"] == tasks * SPANS_PER_TASK,
                 timeout=60, what="every span queued")
        wait_for(lambda: self.settled(self.health(a)), timeout=60,
                 what="the queue emptied into the spool")
        h = self.health(a)
        self.assertEqual(h["spans_in_spool"], tasks * SPANS_PER_TASK, h)
        self.assertEqual(sum(h["spans_dropped_by"].values()), 0, h)
        self.assertEqual(h["spans_exported"], 0, h)
        self.assertLessEqual(h["queue_bytes"], h["queue_max_bytes"], h)
        r = self.receiver("--delay", "50")  # back, and slow
        wait_for(lambda: r.stats()["spans"] >= tasks * SPANS_PER_TASK, timeout=120,
                 what="every span replayed")
        wait_for(lambda: self.health(a)["spans_in_spool"] == 0, timeout=60,
                 what="the spool emptied")
        h = self.health(a)
        self.assertEqual(h["spans_exported"], tasks * SPANS_PER_TASK, h)
        self.assertEqual(sum(h["spans_dropped_by"].values()), 0, h)
        self.assertEqual(a.stop(), 0, a.stderr())
        ids = [s["spanId"] for s in r.spans()]
        self.assertEqual(len(ids), tasks * SPANS_PER_TASK)
        self.assertEqual(len(set(ids)), len(ids))  # no duplicate
        self.assertIn("otlp: %d spans exported, 0 in the spool (0 batches), 0 dropped"
                      % (tasks * SPANS_PER_TASK), a.stderr())
        self.assertEqual([f for f in os.listdir(self.spool) if f.endswith(".tts")], [])

    def test_a_tiny_spool_counts_its_drops_as_spool_full(self):
        tasks = 20
        # nothing listens: every batch waits for the spool, which holds 4 KiB
        a = self.agent(["--spool-size", "4096"])
        run_worker_fast(self.worker, tasks, first_id=1)
        wait_for(lambda: self.health(a)["spans_queued"] == tasks * SPANS_PER_TASK,
                 timeout=60, what="every span queued")
        wait_for(lambda: self.health(a)["spans_dropped_by"]["spool_full"] > 0,
                 timeout=60, what="a batch past the spool's bound")
        h = self.health(a)
        body = a.get("/metrics")[2]
        full = h["spans_dropped_by"]["spool_full"]
        self.assertEqual(h["spans_dropped"], full, h)
        for reason, n in h["spans_dropped_by"].items():
            if reason != "spool_full":
                self.assertEqual(n, 0, h)
        cap = re.search(r"^tasktap_exporter_queue_capacity_bytes (\d+)$", body, re.M)
        self.assertEqual(int(cap.group(1)), 64 << 10, body)
        # the same count, under its reason, in /metrics (the value may have grown since)
        self.assertGreaterEqual(
            metric(body, "otel_sdk_exporter_span_exported_total", "spool_full"), full)
        # `tasktap status` names the reason too
        rc, out, err = run_tool(["status", "--http", a.http_addr])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^  spool_full +[1-9]\d*$")
        self.assertNotIn("queue_full", out)
        self.assertEqual(a.stop(), 0, a.stderr())
        m = re.search(r"otlp: (\d+) spans exported, (\d+) in the spool \(\d+ batches\), "
                      r"(\d+) dropped \(queue_full (\d+), spool_full (\d+),", a.stderr())
        self.assertIsNotNone(m, a.stderr())
        exported, spooled, dropped, qfull, sfull = map(int, m.groups())
        self.assertEqual(exported, 0)
        self.assertEqual(qfull, 0)
        self.assertEqual(dropped, sfull)
        self.assertGreaterEqual(sfull, full)
        # every span: in the spool or dropped for that reason
        self.assertEqual(spooled + sfull, tasks * SPANS_PER_TASK)


def run_worker_fast(worker, tasks, first_id):
    import subprocess
    subprocess.run([worker, "--tasks", str(tasks), "--scale", "0.01",
                    "--first-id", str(first_id)],
                   check=True, stderr=subprocess.DEVNULL, timeout=120)


if __name__ == "__main__":
    unittest.main()
