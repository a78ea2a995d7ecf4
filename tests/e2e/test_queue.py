"""A producer and a worker pass orders through a real POSIX message queue;
the worker runs each as a saga of steps, with a retry, parallel steps and,
for a failing order, compensations. Traced with real BPF, by one agent, and
by two agents that never talk (one per process, as on two nodes)."""
import ctypes
import json
import os
import signal
import subprocess
import time
import unittest

from harness import Agent, attrs, duration_ms, two_agents

PRODUCER = os.path.abspath(".output/queue-producer")
WORKER = os.path.abspath(".output/queue-worker")
SPEC = os.path.abspath("tests/e2e/specs/orders.yaml")


class QueueTest(unittest.TestCase):
    def setUp(self):
        self.queue = "/tasktap-test-%d-%d" % (os.getpid(), id(self) % 100000)
        self.procs = []
        self.addCleanup(self.cleanup)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        # mq_unlink(3): /dev/mqueue is not always mounted; a queue left behind
        # counts against the system's limit on queues
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mq_unlink(self.queue.encode())

    def start(self, argv):
        p = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def check_trace(self, spans, order, bad):
        """The spans of one order form one trace with the expected shape."""
        mine = [s for s in spans if attrs(s).get("task.id") == order]
        trace = {s["traceId"] for s in mine}
        self.assertEqual(len(trace), 1, mine)
        by = {}
        for s in mine:
            by.setdefault(s["name"], []).append(s)
        task_name = "BadOrder" if bad else "Order"
        [pub] = by.pop("publish " + self.queue)
        [con] = by.pop("process " + self.queue)
        [task] = by.pop(task_name)
        self.assertEqual(pub["kind"], 4)
        self.assertNotIn("parentSpanId", pub)
        self.assertEqual(con["kind"], 5)
        self.assertEqual(con["parentSpanId"], pub["spanId"])
        self.assertEqual(task["parentSpanId"], con["spanId"])
        self.assertEqual(attrs(con)["messaging.system"], "posix-mq")
        self.assertEqual(attrs(pub)["messaging.operation.name"], "publish")
        self.assertEqual(attrs(pub)["messaging.operation.type"], "send")
        self.assertEqual(attrs(con)["messaging.operation.name"], "process")
        self.assertEqual(attrs(con)["messaging.operation.type"], "process")
        self.assertEqual(task["status"]["code"], 2 if bad else 0)
        steps = {name.split(".", 1)[1]: ss for name, ss in by.items()}
        for ss in steps.values():
            for s in ss:
                self.assertEqual(s["parentSpanId"], task["spanId"], s["name"])
        reserve, = steps.pop("Reserve")
        self.assertEqual(attrs(reserve)["step.attempt"], 1)
        charges = sorted(steps.pop("Charge"), key=lambda s: attrs(s)["step.attempt"])
        self.assertEqual([attrs(c)["step.attempt"] for c in charges], [1, 2])
        self.assertEqual([c["status"]["code"] for c in charges], [2, 0])
        email, = steps.pop("NotifyEmail")
        sms, = steps.pop("NotifySms")
        self.assertNotEqual(attrs(email)["tasktap.thread.tid"], attrs(task)["tasktap.thread.tid"])
        self.assertLess(int(email["startTimeUnixNano"]), int(sms["endTimeUnixNano"]))
        self.assertLess(int(sms["startTimeUnixNano"]), int(email["endTimeUnixNano"]))
        ships = sorted(steps.pop("Ship"), key=lambda s: attrs(s)["step.attempt"])
        if not bad:
            self.assertEqual([s["status"]["code"] for s in ships], [0])
            self.assertEqual(steps, {})
            return
        self.assertEqual([s["status"]["code"] for s in ships], [2, 2])
        comp_charge, = steps.pop("Charge.Compensate")
        comp_reserve, = steps.pop("Reserve.Compensate")
        self.assertEqual(steps, {})
        # compensations run after the last failed Ship, newest step first
        self.assertGreater(int(comp_charge["startTimeUnixNano"]), int(ships[1]["endTimeUnixNano"]))
        self.assertGreater(int(comp_reserve["startTimeUnixNano"]),
                           int(comp_charge["endTimeUnixNano"]))
        self.assertGreaterEqual(duration_ms(comp_charge), 15)
        for comp in (comp_charge, comp_reserve):
            self.assertEqual(comp["events"][0]["name"], "Compensating")
            self.assertEqual(comp["events"][0]["timeUnixNano"], comp["startTimeUnixNano"])
        # failed attempts carry the exception event with the status message
        self.assertEqual(ships[0]["events"][-1]["name"], "exception")
        self.assertIn("returned -1", json.dumps(ships[0]["events"][-1]["attributes"]))

    def test_one_agent_sees_the_whole_saga(self):
        agent = Agent([SPEC, "--json"])
        self.addCleanup(agent.stop)
        agent.wait_attached()
        producer = self.start([PRODUCER, self.queue, "2", "--bad", "2"])
        worker = self.start([WORKER, self.queue, "2"])
        self.assertEqual(producer.wait(30), 0)
        self.assertEqual(worker.wait(30), 0)
        time.sleep(0.2)
        # task.queue.wait: each message, from its publish's start to its consume's start
        _, _, metrics = agent.get("/metrics")
        self.assertEqual(agent.stop(), 0, agent.stderr())
        spans = agent.spans()
        self.check_trace(spans, "order-1", bad=False)
        self.check_trace(spans, "order-2", bad=True)
        dest = 'messaging_destination_name="%s"' % self.queue
        counts = [l for l in metrics.splitlines()
                  if l.startswith("task_queue_wait_seconds_count{") and dest in l]
        self.assertEqual(sum(int(l.split()[-1]) for l in counts), 2, metrics)
        waits = {}
        for s in spans:
            if s["name"] == "publish " + self.queue:
                waits[s["spanId"]] = int(s["startTimeUnixNano"])
        total = sum(int(s["startTimeUnixNano"]) - waits[s["parentSpanId"]]
                    for s in spans if s["name"] == "process " + self.queue) / 1e9
        sums = [float(l.split()[-1]) for l in metrics.splitlines()
                if l.startswith("task_queue_wait_seconds_sum{") and dest in l]
        self.assertAlmostEqual(sum(sums), total, places=6)

    def test_two_agents_that_never_talk_form_one_trace(self):
        producer = self.start([PRODUCER, self.queue, "3", "--bad", "3", "--wait-signal"])
        worker = self.start([WORKER, self.queue, "3", "--wait-signal"])
        time.sleep(0.2)
        # the same spec everywhere; each agent sees one process only
        a, b = two_agents(self, SPEC, producer, worker)
        self.assertTrue(a and all(s["name"].startswith("publish ") for s in a), a)
        self.assertFalse(any(s["name"].startswith("publish ") for s in b))
        self.assertEqual(len(a), 3)
        spans = a + b
        for i in (1, 2):
            self.check_trace(spans, "order-%d" % i, bad=False)
        self.check_trace(spans, "order-3", bad=True)


if __name__ == "__main__":
    unittest.main()
