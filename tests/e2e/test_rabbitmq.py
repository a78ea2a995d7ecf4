"""RabbitMQ through librabbitmq 0.11, traced with recipes/rabbitmq.yaml: a
real rabbitmq-server on loopback (its own node name, ports, epmd and
directories; started once for the class, stopped by PID), Debian's
amqp-publish as producer, and as consumers a C program on the library
(tests/workers/amqp-worker.c) that acks, nacks or rejects each message as
its body says, and amqp-consume. Every span is compared against what the
workload did: one publish per message, one consume per delivery, its
message's trace and publish as parent, attempt 2 on a redelivery, ERROR on
a nack, a reject or a missing ack."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, free_port

RECIPE = os.path.abspath("recipes/rabbitmq.yaml")
WORKER = os.path.abspath(".output/amqp-worker")
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
EXCHANGE = "amq.direct"


def wait_port(port, proc, what, timeout):
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise AssertionError("%s did not open port %d" % (what, port))
            time.sleep(0.1)


class Broker:
    """rabbitmq-server as root without the system service: its own node name,
    AMQP and distribution ports, directories and HOME in a temporary
    directory, and its own epmd on 127.0.0.1. Stopped by PID (the broker's
    process group, then epmd)."""

    def __init__(self):
        for tool in (RABBITMQ_SERVER, shutil.which("epmd"), shutil.which("amqp-publish"),
                     shutil.which("amqp-consume")):
            if not tool or not os.access(tool, os.X_OK):
                raise AssertionError("rabbitmq-server, epmd or amqp-tools is missing: make deps "
                                     "installs rabbitmq-server and amqp-tools")
        self.dir = tempfile.mkdtemp(prefix="tasktap-rabbitmq-")
        self.port = free_port()
        epmd_port = free_port()
        self.epmd = subprocess.Popen(["epmd", "-address", "127.0.0.1", "-port", str(epmd_port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(epmd_port, self.epmd, "epmd", 10)
        env = dict(os.environ, HOME=self.dir,
                   RABBITMQ_NODENAME="tasktap-%d@localhost" % os.getpid(),
                   RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
                   RABBITMQ_NODE_PORT=str(self.port),
                   RABBITMQ_DIST_PORT=str(free_port()),
                   RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"),
                   RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"),
                   RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.dir, "enabled_plugins"),
                   RABBITMQ_CONFIG_FILE=os.path.join(self.dir, "rabbitmq"),
                   RABBITMQ_CONF_ENV_FILE=os.path.join(self.dir, "rabbitmq-env.conf"),
                   ERL_EPMD_ADDRESS="127.0.0.1", ERL_EPMD_PORT=str(epmd_port))
        self.log = open(os.path.join(self.dir, "server.out"), "w")
        self.server = subprocess.Popen([RABBITMQ_SERVER], cwd=self.dir, env=env,
                                       stdout=self.log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        try:
            wait_port(self.port, self.server, "rabbitmq-server", 90)
        except AssertionError:
            self.stop()
            raise

    def url(self):
        return "amqp://guest:guest@127.0.0.1:%d" % self.port

    def stop(self):
        if self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()
        self.epmd.kill()
        self.epmd.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class RabbitMQTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()

    def setUp(self):
        self.queue = "tt-q-%d-%d" % (os.getpid(), id(self) % 100000)
        # message ids of this test: the library target sees every process
        # on the host, other runs' messages included
        self.i = lambda name: "%s@%s" % (name, self.queue)
        self.procs = []
        self.addCleanup(self.cleanup)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def agent(self, *extra):
        agent = Agent([RECIPE, "--json"] + list(extra))
        self.addCleanup(agent.stop)
        agent.wait_attached()
        return agent

    def publish(self, msg_id, body):
        p = subprocess.run(["amqp-publish", "--url", self.broker.url(), "-e", EXCHANGE,
                            "-r", self.queue, "-H", "message-id: " + msg_id, "-b", body],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def c_consumer(self, n, *extra):
        p = subprocess.Popen([WORKER, "consume", str(self.broker.port), self.queue, str(n)] +
                             list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        self.procs.append(p)
        self.assertEqual(p.stdout.readline(), "ready\n", p.stderr.read() if p.poll() else "")
        return p

    def deliveries(self, consumer):
        """What the C consumer did: [(id, action, redelivered)] in order."""
        out, err = consumer.communicate(timeout=60)
        self.assertEqual(consumer.returncode, 0, err)
        return [tuple(line.split()[:2]) + (int(line.split()[2]),) for line in out.splitlines()]

    def stopped(self, agent):
        time.sleep(0.3)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        return agent.spans()

    def check_publishes(self, spans, ids):
        pubs = {}
        for s in spans:
            if s["name"] != "publish " + EXCHANGE:
                continue
            a = attrs(s)
            if a.get("messaging.rabbitmq.destination.routing_key") != self.queue:
                continue
            self.assertNotIn(a["task.id"], pubs, "two publishes of one message")
            self.assertEqual(s["kind"], 4)  # PRODUCER
            self.assertNotIn("parentSpanId", s)
            self.assertEqual(s["status"].get("code", 0), 0)
            self.assertEqual(a["messaging.system"], "rabbitmq")
            self.assertEqual(a["messaging.destination.name"], EXCHANGE)
            self.assertEqual(a["messaging.operation.type"], "send")
            pubs[a["task.id"]] = s
        self.assertEqual(sorted(pubs), sorted(ids), spans)
        return pubs

    def consumes(self, spans):
        mine = [s for s in spans if s["name"] == "process " + EXCHANGE and
                attrs(s).get("messaging.rabbitmq.destination.routing_key") == self.queue]
        return sorted(mine, key=lambda s: int(s["startTimeUnixNano"]))

    def check_consume(self, con, pub, attempt, error):
        a = attrs(con)
        self.assertEqual(con["kind"], 5)  # CONSUMER
        self.assertEqual(con["traceId"], pub["traceId"])
        self.assertEqual(con["parentSpanId"], pub["spanId"])
        self.assertEqual(a["task.attempt"], attempt, con)
        self.assertEqual(a["rabbitmq.redelivered"], 1 if attempt > 1 else 0)
        self.assertEqual(a["messaging.destination.name"], EXCHANGE)
        self.assertGreater(int(con["startTimeUnixNano"]), int(pub["startTimeUnixNano"]))
        if error is None:
            self.assertEqual(con["status"].get("code", 0), 0, con)
        else:
            self.assertEqual(con["status"]["code"], 2, con)
            self.assertEqual(con["status"]["message"], error)

    def test_c_consumer_acks_nacks_rejects_and_redeliveries(self):
        agent = self.agent()
        # the body says what the consumer does; each requeued message comes
        # back at once (prefetch 1) and is acked the second time
        plan = [(self.i("m-ack"), "ack"), (self.i("m-nack"), "nack"), (self.i("m-reject"), "reject"),
                (self.i("m-nack-rq"), "nack-requeue"), (self.i("m-reject-rq"), "reject-requeue"),
                (self.i("m-none"), "none")]
        consumer = self.c_consumer(len(plan) + 2)
        for msg_id, body in plan:
            self.publish(msg_id, body)
        done = self.deliveries(consumer)
        self.assertEqual(done, [(self.i("m-ack"), "ack", 0), (self.i("m-nack"), "nack", 0),
                                (self.i("m-reject"), "reject", 0), (self.i("m-nack-rq"), "nack-requeue", 0),
                                (self.i("m-nack-rq"), "nack-requeue", 1),
                                (self.i("m-reject-rq"), "reject-requeue", 0),
                                (self.i("m-reject-rq"), "reject-requeue", 1), (self.i("m-none"), "none", 0)])
        spans = self.stopped(agent)
        pubs = self.check_publishes(spans, [i for i, _ in plan])
        cons = self.consumes(spans)
        self.assertEqual([attrs(c)["task.id"] for c in cons], [d[0] for d in done], spans)
        errors = {"nack": "nacked by the consumer", "reject": "rejected by the consumer",
                  "none": "no 'ack' before the span ended (error_unless: ack)"}
        for con, (msg_id, action, redelivered) in zip(cons, done):
            if action.endswith("-requeue"):
                error = None if redelivered else errors[action.split("-")[0]]
            else:
                error = errors.get(action)
            self.check_consume(con, pubs[msg_id], 1 + redelivered, error)
            if error and action != "none":
                self.assertEqual(attrs(con)["rabbitmq.requeue"],
                                 1 if action.endswith("-requeue") else 0)
        # a redelivery: two spans of one message, in its trace, each its own id
        ids = [(s["traceId"], s["spanId"]) for s in spans]
        self.assertEqual(len(ids), len(set(ids)))

    def test_message_without_headers_has_no_key(self):
        # the recipe's header says so: no first header, no id to join by
        agent = self.agent()
        consumer = self.c_consumer(1)
        p = subprocess.run(["amqp-publish", "--url", self.broker.url(), "-e", EXCHANGE,
                            "-r", self.queue, "-b", "ack"], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.deliveries(consumer), [("-", "ack", 0)])
        spans = self.stopped(agent)
        pub, = [s for s in spans if s["name"] == "publish " + EXCHANGE and
                attrs(s)["messaging.rabbitmq.destination.routing_key"] == self.queue]
        con, = self.consumes(spans)
        for s in (pub, con):
            self.assertNotIn("task.id", attrs(s), s)
            self.assertNotIn("parentSpanId", s)
        # each a trace of its own: nothing joins them
        self.assertNotEqual(con["traceId"], pub["traceId"])
        self.assertEqual(con["status"].get("code", 0), 0, con)

    def test_consume_on_a_node_that_did_not_see_the_publish(self):
        # one agent per process, as on two nodes that never talk: the near
        # one sees the C producer only, the far one the consumer only
        consumer = self.c_consumer(4, "--wait-signal")
        producer = subprocess.Popen([WORKER, "publish", str(self.broker.port), self.queue,
                                     self.i("n-1"), "ack", self.i("n-2"), "nack-requeue", self.i("n-dup"), "ack",
                                     self.i("n-dup"), "ack", "--wait-signal"],
                                    stderr=subprocess.PIPE, start_new_session=True)
        self.procs.append(producer)
        near = self.agent("--pid", str(producer.pid))
        far = self.agent("--pid", str(consumer.pid))
        consumer.send_signal(signal.SIGUSR1)
        producer.send_signal(signal.SIGUSR1)
        self.assertEqual(producer.wait(30), 0, producer.stderr.read())
        # the same message id published twice (n-dup): the second stays queued
        self.assertEqual([d[:2] for d in self.deliveries(consumer)],
                         [(self.i("n-1"), "ack"), (self.i("n-2"), "nack-requeue"), (self.i("n-2"), "nack-requeue"),
                          (self.i("n-dup"), "ack")])
        self.assertEqual(far.wait(30), 0, far.stderr())  # its process is gone
        self.assertEqual(near.wait(30), 0, near.stderr())
        pub_spans = near.spans()
        self.assertEqual(self.consumes(pub_spans), [])
        cons = self.consumes(far.spans())
        self.assertEqual([s["name"] for s in far.spans() if s["name"].startswith("publish")], [])
        pubs = [s for s in pub_spans if s["name"] == "publish " + EXCHANGE and
                attrs(s)["messaging.rabbitmq.destination.routing_key"] == self.queue]
        self.assertEqual([attrs(p)["task.id"] for p in pubs], [self.i("n-1"), self.i("n-2"), self.i("n-dup"), self.i("n-dup")])
        first = {}
        for p in pubs:
            first.setdefault(attrs(p)["task.id"], p)
        # the far agent parents each delivery to the id both derive from
        # the message's id: its publish's, the first one's for a re-push
        self.assertEqual([attrs(c)["task.id"] for c in cons], [self.i("n-1"), self.i("n-2"), self.i("n-2"), self.i("n-dup")])
        self.check_consume(cons[0], first[self.i("n-1")], 1, None)
        self.check_consume(cons[1], first[self.i("n-2")], 1, "nacked by the consumer")
        self.check_consume(cons[2], first[self.i("n-2")], 2, None)
        self.check_consume(cons[3], first[self.i("n-dup")], 1, None)
        self.assertNotEqual(pubs[2]["spanId"], pubs[3]["spanId"])
        self.assertEqual(pubs[2]["traceId"], pubs[3]["traceId"])

    def test_amqp_consume_acks_when_its_command_succeeds(self):
        # a queue bound to the exchange that outlives its consumers
        subprocess.run([WORKER, "declare", str(self.broker.port), self.queue], check=True,
                       timeout=30)
        self.addCleanup(subprocess.run, ["amqp-delete-queue", "--url", self.broker.url(), "-q",
                                         self.queue], capture_output=True, timeout=30)
        agent = self.agent()
        # the command fails on "fail": amqp-consume does not ack that message
        first = subprocess.Popen(["amqp-consume", "--url", self.broker.url(), "-q", self.queue,
                                  "-p", "1", "-c", "2", "--", "sh", "-c",
                                  'read b; test "$b" != fail'],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 start_new_session=True)
        self.procs.append(first)
        self.publish(self.i("a-ok"), "fine")
        self.publish(self.i("a-fail"), "fail")
        self.assertEqual(first.wait(30), 0, first.stderr.read())
        # the unacked message went back to the queue when the first consumer
        # left: the second runs it (attempt 2)
        second = subprocess.run(["amqp-consume", "--url", self.broker.url(), "-q", self.queue,
                                 "-p", "1", "-c", "1", "--", "cat"], capture_output=True, timeout=30)
        self.assertEqual(second.stdout, b"fail")
        spans = self.stopped(agent)
        pubs = self.check_publishes(spans, [self.i("a-ok"), self.i("a-fail")])
        cons = self.consumes(spans)
        self.assertEqual([attrs(c)["task.id"] for c in cons], [self.i("a-ok"), self.i("a-fail"), self.i("a-fail")], spans)
        self.check_consume(cons[0], pubs[self.i("a-ok")], 1, None)
        self.check_consume(cons[1], pubs[self.i("a-fail")], 1,
                           "no 'ack' before the span ended (error_unless: ack)")
        self.check_consume(cons[2], pubs[self.i("a-fail")], 2, None)
        self.assertNotEqual(attrs(cons[1])["tasktap.thread.tid"], attrs(cons[2])["tasktap.thread.tid"])


if __name__ == "__main__":
    unittest.main()
