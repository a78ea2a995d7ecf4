"""Late binding and outcomes with real BPF (README, "Late binding and
outcomes"): a consume that begins at the delivery frame and learns its key
from the header frame, an ack as the marker of `error_unless:`, a nack and
a result reported by another function as errors, a stray ack counted; and
the identity of a key published twice, seen by one agent and by two agents
that never talk (one per process, as on two nodes)."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, two_agents, write_spec

WORKER = os.path.abspath(".output/ack-worker")
SPEC = os.path.abspath("tests/e2e/specs/acks.yaml")

KEYS = ["ok-1", "fail-2", "noack-3", "nack-4", "sleep:300", "ok-1"]


class AnnotateTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tasktap-annotate-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        # a private copy: a binary target traces every process running the file
        self.worker = os.path.join(self.dir, "ack-worker")
        with open(WORKER, "rb") as src, open(self.worker, "wb") as dst:
            dst.write(src.read())
        os.chmod(self.worker, 0o755)
        with open(SPEC) as f:
            self.spec = write_spec(f.read().replace("WORKER", self.worker), self.dir)
        self.procs = []
        self.addCleanup(self.cleanup)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def start_pair(self, wait_signal=False):
        extra = ["--wait-signal"] if wait_signal else []
        producer = subprocess.Popen([self.worker, "produce"] + KEYS + extra,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        consumer = subprocess.Popen([self.worker, "consume", "5"] + extra,
                                    stdin=producer.stdout, stderr=subprocess.DEVNULL)
        producer.stdout.close()  # the consumer holds the pipe's read end
        self.procs += [producer, consumer]
        return producer, consumer

    def by_name(self, spans, name):
        return sorted((s for s in spans if s["name"] == name),
                      key=lambda s: int(s["startTimeUnixNano"]))

    def check_consumes(self, consumes, tasks):
        """What the annotate probes did to the five deliveries."""
        self.assertEqual([attrs(c).get("task.id") for c in consumes],
                         ["ok-1", "fail-2", "noack-3", "nack-4", "ok-1"])
        for c in consumes:
            key = attrs(c)["task.id"]
            # the header frame's attribute, and the key's trace
            self.assertEqual(attrs(c)["messaging.message.body.size"], len(key) * 100)
            self.assertEqual(c["kind"], 5)
            task, = [t for t in tasks if attrs(t)["task.id"] == key
                     and t["parentSpanId"] == c["spanId"]]
            self.assertEqual(task["traceId"], c["traceId"])
            # two probes end at run_job's return: neither is cut
            self.assertEqual(attrs(c)["job.result"], 0)
            self.assertNotIn("tasktap.cut", attrs(task))
        ok1, fail2, noack3, nack4, ok1b = consumes
        for c in (ok1, ok1b):
            self.assertEqual(c["status"]["code"], 0, c)
        self.assertEqual(fail2["status"]["code"], 2)
        self.assertIn("arg1 is 3", fail2["status"]["message"])
        self.assertEqual(noack3["status"]["code"], 2)
        self.assertEqual(noack3["status"]["message"],
                         "no 'ack' before the span ended (error_unless: ack)")
        self.assertEqual(attrs(noack3)["error.type"], "error_unless")
        self.assertEqual(nack4["status"]["code"], 2)
        self.assertEqual(nack4["status"]["message"], "nacked by the worker")
        self.assertEqual(attrs(nack4)["error.type"], "basic_nack")

    def check_ids_unique(self, spans):
        ids = [(s["traceId"], s["spanId"]) for s in spans]
        self.assertEqual(len(ids), len(set(ids)), spans)

    def test_one_agent(self):
        agent = Agent([self.spec, "--json"])
        self.addCleanup(agent.stop)
        agent.wait_attached()
        producer, consumer = self.start_pair()
        self.assertEqual(producer.wait(30), 0)
        self.assertEqual(consumer.wait(30), 0)
        time.sleep(0.3)
        _, _, metrics = agent.get("/metrics")
        self.assertEqual(agent.stop(), 0, agent.stderr())
        spans = agent.spans()
        self.check_ids_unique(spans)
        pubs = self.by_name(spans, "publish acks")
        consumes = self.by_name(spans, "process acks")
        tasks = self.by_name(spans, "run_job")
        self.assertEqual(len(pubs), 5, spans)
        self.assertEqual(len(consumes), 5, spans)
        self.assertEqual(len(tasks), 5, spans)
        self.check_consumes(consumes, tasks)
        # the re-push has its own span id in the same trace; each consume
        # is the child of the newest publish of its key at the time
        first, again = [p for p in pubs if attrs(p)["task.id"] == "ok-1"]
        self.assertEqual(first["traceId"], again["traceId"])
        self.assertNotEqual(first["spanId"], again["spanId"])
        self.assertEqual(consumes[0]["parentSpanId"], first["spanId"])
        self.assertEqual(consumes[4]["parentSpanId"], again["spanId"])
        self.assertEqual(consumes[4]["traceId"], first["traceId"])
        for c in consumes[1:4]:
            pub, = [p for p in pubs if attrs(p)["task.id"] == attrs(c)["task.id"]]
            self.assertEqual(c["parentSpanId"], pub["spanId"])
            self.assertEqual(c["traceId"], pub["traceId"])
        # the ack before any delivery: counted per function, not an error
        self.assertIn('tasktap_annotate_unmatched_total{code_function_name="basic_ack"} 1',
                      metrics)
        self.assertIn("annotate probes found no open span to complete 1 time: 'basic_ack' (%s:"
                      % self.spec, agent.stderr())

    def test_two_agents_that_never_talk(self):
        producer, consumer = self.start_pair(wait_signal=True)
        time.sleep(0.2)
        a, b = two_agents(self, self.spec, producer, consumer)
        self.check_ids_unique(a + b)
        pubs = self.by_name(a, "publish acks")
        self.assertEqual(len(pubs), 5, a)
        consumes = self.by_name(b, "process acks")
        self.check_consumes(consumes, self.by_name(b, "run_job"))
        # the far agent saw no publish: every consume is the child of the
        # derived id of its key's first publish, which the near agent gave it
        first, again = [p for p in pubs if attrs(p)["task.id"] == "ok-1"]
        self.assertNotEqual(first["spanId"], again["spanId"])
        for c in consumes:
            pub = [p for p in pubs if attrs(p)["task.id"] == attrs(c)["task.id"]][0]
            self.assertEqual(c["parentSpanId"], pub["spanId"])
            self.assertEqual(c["traceId"], pub["traceId"])


if __name__ == "__main__":
    unittest.main()
