"""Capture expressions end to end, with real BPF: every attribute a spec can
capture from tests/workers/capture-worker.c is checked against what the
worker says it passed (structs by pointer, nested pointers, strings, (len,
ptr) pairs by value, stack slots, out-parameters read at return, return
values), along with `error:`, `attempt:`, `message_id:`, `name:`,
`redact:` and a bad pointer."""
import json
import os
import re
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, write_spec

CAPTURE_WORKER = os.path.abspath(".output/capture-worker")

SPEC = """\
service: capture-worker
keyspace: orders
targets:
  - binary: {worker}
    probes:
      - role: task
        symbol: process_order
        key: "*arg0"
        attributes:
          task.name: str(*(arg0 + 16))
          order.qty: s32(arg0 + 8)
          order.qty_u: u32(arg1)
          order.id_back: u64(arg1 - 8)
          order.delta: s16(arg0 + 12)
          order.flag: s8(arg0 + 14)
          order.code: u8(arg0 + 15)
      - role: step
        symbol: run_step
        key: arg0
        attempt: arg2
        attributes:
          step.name: str(arg1)
        error: ret != 0
      - role: span
        symbol: check_customer
        name: "check {{customer.tag}}"
        attributes:
          customer.level: u32(u64(arg0 + 24))
          customer.tag: str(u64(arg0 + 24) + 4, 5)
          customer.email: str(*(u64(arg0 + 24) + 16))
          order.delta_u: u16(arg0 + 12)
          order.flag_u: u8(arg0 + 14)
        redact: [customer.email]
      - role: publish
        symbol: amqp_basic_publish
        key: str(u64(arg8 + 16))
        message_id: str(u64(arg8 + 8))
        attributes:
          messaging.system: "rabbitmq"
          messaging.destination.name: bytes(arg5, arg4)
          exchange: bytes(arg3, arg2)
          mandatory: arg6
          immediate: arg7
          body.len: arg9
          body.head: bytes(arg10, 4)
      - role: task
        symbol: fetch_job
        key: str(arg2) @return
        name: "fetch {{task.id}} by {{symbol}}"
        attributes:
          job.priority: s32(arg1 + 8) @return
          job.owner: str(u64(arg1 + 16)) @return
          job.name: str(arg2) @return
          job.len: u64(arg3) @return
          job.name_at_entry: str(arg2)
        error: u32(arg1 + 12) != 0
      - role: task
        symbol: check_stock
        key: arg0
        error: ret < 0
      - role: span
        symbol: alloc_job
        attributes:
          job.addr: ret @return
          job.first: u64(ret) @return
        error: ret == 0
      - role: span
        symbol: encode
        attributes:
          src: str(arg0, 6)
          encoded: str(arg1) @return
          length: ret @return
        error: ret == -1
"""

OK, ERROR = 0, 2  # status codes: UNSET unless an error, as instrumentation leaves it


def xxh3(text):
    """XXH3_64 of text, as the agent writes a redacted value (xxhsum from Debian's xxhash)."""
    out = subprocess.run(["xxhsum", "-H3"], input=text.encode(), capture_output=True,
                         check=True).stdout.decode()
    return "xxh3:" + out.split("=")[1].strip()


class CaptureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=CAPTURE_WORKER), d)
            agent = Agent([spec, "--json"])
            agent.wait_attached()
            p = subprocess.run([CAPTURE_WORKER, "captures"], capture_output=True, text=True,
                               timeout=60, check=True)
            time.sleep(0.2)
            cls.rc = agent.stop()
        cls.agent = agent
        cls.told = json.loads(p.stdout)
        cls.spans = agent.spans()

    def named(self, symbol):
        return [s for s in self.spans if attrs(s)["code.function.name"] == symbol]

    def one(self, symbol):
        found = self.named(symbol)
        self.assertEqual(len(found), 1, [s["name"] for s in self.spans])
        return found[0]

    def test_agent_ran_cleanly(self):
        self.assertEqual(self.rc, 0, self.agent.stderr())
        # 13 calls, each an entry and a return event
        self.assertIn("13 spans, 26 events, 0 lost", self.agent.stderr())
        self.assertEqual(len(self.spans), 13, self.agent.stdout())
        for s in self.spans:
            self.assertEqual(s["resource"]["process.pid"], self.told["pid"])
            self.assertEqual(s["resource"]["service.name"], "capture-worker")

    def test_struct_fields_by_pointer_and_sign_extension(self):
        a = attrs(self.one("process_order"))
        t = self.told
        self.assertEqual(a["task.id"], t["order_id"])  # *arg0, an unsigned 64-bit key
        self.assertEqual(a["task.name"], t["order_name"])  # str(*(arg0 + 16))
        self.assertEqual(a["order.qty"], t["qty"])  # s32: sign-extended
        self.assertEqual(a["order.qty_u"], t["qty_u"])  # u32 through the second pointer
        self.assertEqual(a["order.id_back"], t["id_signed"])  # e - INT
        self.assertEqual(a["order.delta"], t["delta"])
        self.assertEqual(a["order.flag"], t["flag"])
        self.assertEqual(a["order.code"], t["code"])
        self.assertEqual(self.one("process_order")["name"], "order-7")

    def test_captured_attempt_and_parent(self):
        task = self.one("process_order")
        step = self.one("run_step")
        a = attrs(step)
        self.assertEqual(step["name"], "order-7.upload")
        self.assertEqual(a["step.attempt"], 3)  # attempt: arg2, not inferred
        self.assertNotIn("step.status", a)
        self.assertEqual(step["status"]["code"], OK)
        self.assertEqual(a["task.id"], self.told["order_id"])
        self.assertEqual(step["parentSpanId"], task["spanId"])
        self.assertEqual(step["traceId"], task["traceId"])

    def test_nested_pointers_name_template_and_redaction(self):
        good, bad = sorted(self.named("check_customer"), key=lambda s: s["startTimeUnixNano"])
        a = attrs(good)
        self.assertEqual(a["customer.level"], self.told["level"])  # u32(u64(arg0 + 24))
        self.assertEqual(a["customer.tag"], "gold")  # str(e, 5): four bytes and the NUL
        self.assertEqual(a["customer.email"], xxh3(self.told["email"]))
        self.assertNotIn(self.told["email"], json.dumps(good))
        self.assertEqual(a["order.delta_u"], self.told["delta_u"])
        self.assertEqual(a["order.flag_u"], self.told["flag_u"])
        self.assertEqual(good["name"], "check gold")
        self.assertNotIn("tasktap.unreadable", a)
        self.assertEqual(good["status"].get("code", 0), 0)  # a span's status is UNSET

    def test_bad_pointer_names_the_attribute_and_keeps_the_rest(self):
        good, bad = sorted(self.named("check_customer"), key=lambda s: s["startTimeUnixNano"])
        a = attrs(bad)
        self.assertEqual(a["tasktap.unreadable"].split(","),
                         ["customer.level", "customer.tag", "customer.email"])
        for k in ("customer.level", "customer.tag", "customer.email"):
            self.assertNotIn(k, a)
        self.assertEqual(a["order.delta_u"], self.told["delta_u"])
        self.assertEqual(a["order.flag_u"], self.told["flag_u"])
        self.assertEqual(a["code.function.name"], "check_customer")
        self.assertNotIn("tasktap.cut", a)
        self.assertEqual(bad["endTimeUnixNano"] >= bad["startTimeUnixNano"], True)

    def test_stack_slots_and_pairs_by_value(self):
        s = self.one("amqp_basic_publish")
        a = attrs(s)
        self.assertEqual(s["kind"], 4)  # PRODUCER
        self.assertEqual(s["name"], "publish jobs.resize")
        self.assertEqual(a["messaging.system"], "rabbitmq")
        self.assertEqual(a["messaging.destination.name"], "jobs.resize")  # bytes(arg5, arg4)
        self.assertEqual(a["exchange"], "amq.direct")  # bytes(arg3, arg2)
        self.assertEqual(a["mandatory"], 1)  # arg6: the first stack slot
        self.assertEqual(a["immediate"], 5)  # arg7
        self.assertEqual(a["body.len"], len("hello, world"))  # arg9: a pair on the stack
        self.assertEqual(a["body.head"], "hell")  # bytes(arg10, 4)
        self.assertEqual(a["messaging.message.id"], "msg-0001")  # str(u64(arg8 + 8))
        self.assertEqual(a["task.id"], "corr-42")

    def test_out_parameters_read_at_return(self):
        spans = sorted(self.named("fetch_job"), key=lambda s: s["startTimeUnixNano"])
        self.assertEqual(len(spans), 2)
        for s, job_id, owner, prio in ((spans[0], 42, "alice", -5), (spans[1], 43, "bob", -6)):
            a = attrs(s)
            # the key read at return: an out-parameter
            self.assertEqual(a["task.id"], "resize-%d" % job_id)
            self.assertEqual(a["job.priority"], prio)
            self.assertEqual(a["job.owner"], owner)
            self.assertEqual(a["job.name"], "resize-%d" % job_id)
            self.assertEqual(a["job.len"], len("resize-%d" % job_id))
            self.assertEqual(a["job.name_at_entry"], "unset")  # what the buffer held at entry
        # error: on a value the callee wrote (status 3 for odd ids)
        self.assertEqual(spans[0]["status"]["code"], OK)
        self.assertEqual(spans[1]["status"]["code"], ERROR)
        self.assertIn("u32(arg1 + 12) is 3", spans[1]["status"]["message"])

    def test_name_template_with_key_read_at_return(self):
        # BUG (user/assemble.c, not fixed here): the name is made when the span
        # starts, before an @return key exists, so "{task.id}" expands empty and
        # the span is named "fetch  by fetch_job". Fails until names are made at
        # the span's end (or remade there when a capture they use comes at return).
        spans = sorted(self.named("fetch_job"), key=lambda s: s["startTimeUnixNano"])
        self.assertEqual([s["name"] for s in spans],
                         ["fetch resize-42 by fetch_job", "fetch resize-43 by fetch_job"])

    def test_negative_int_return(self):
        spans = sorted(self.named("check_stock"), key=lambda s: s["startTimeUnixNano"])
        self.assertEqual([attrs(s)["task.id"] for s in spans], ["1", "2"])
        self.assertEqual(spans[0]["status"]["code"], ERROR)
        self.assertIn("returned -2", spans[0]["status"]["message"])
        self.assertEqual(spans[1]["status"]["code"], OK)

    def test_pointer_return(self):
        ok, null = sorted(self.named("alloc_job"), key=lambda s: s["startTimeUnixNano"])
        a = attrs(ok)
        self.assertEqual(a["job.addr"], self.told["alloc_addr"])
        self.assertEqual(a["job.first"], self.told["alloc_first"])  # u64(ret) @return
        self.assertEqual(ok["status"].get("code", 0), 0)
        self.assertEqual(null["status"]["code"], ERROR)
        self.assertIn("returned 0", null["status"]["message"])
        self.assertEqual(attrs(null)["job.addr"], 0)
        self.assertEqual(attrs(null)["tasktap.unreadable"], "job.first")

    def test_size_t_return(self):
        ok, bad = sorted(self.named("encode"), key=lambda s: s["startTimeUnixNano"])
        self.assertEqual(attrs(ok)["src"], "hello")  # str(arg0, 6)
        self.assertEqual(attrs(ok)["encoded"], "HELLO WORLD")
        self.assertEqual(attrs(ok)["length"], len("hello world"))
        self.assertEqual(ok["status"].get("code", 0), 0)
        self.assertEqual(bad["status"]["code"], ERROR)  # (size_t)-1 is ret == -1
        self.assertIn("returned -1", bad["status"]["message"])
        self.assertEqual(attrs(bad)["length"], -1)


COLD_SPEC = """\
targets:
  - binary: {worker}
    probes:
      - role: task
        symbol: cold_task
        key: arg0
        attributes:
          task.name: str(arg1)
"""


class ColdPageTest(unittest.TestCase):
    """A string on a page the target never touched: a BPF probe cannot fault
    it in, so the read fails, is recorded, and the span is otherwise intact;
    once the target has touched the page the same capture reads it."""

    def test_untouched_page(self):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(COLD_SPEC.format(worker=CAPTURE_WORKER), d)
            agent = Agent([spec, "--json"])
            agent.wait_attached()
            p = subprocess.run([CAPTURE_WORKER, "cold"], capture_output=True, text=True,
                               timeout=60, check=True)
            time.sleep(0.2)
            self.assertEqual(agent.stop(), 0, agent.stderr())
        name = json.loads(p.stdout)["name"]
        first, second = sorted(agent.spans(), key=lambda s: attrs(s)["task.id"])
        self.assertEqual(attrs(first)["task.id"], "1")
        # known limitation (non-sleepable probes cannot fault pages in): either the
        # value, or the attribute named as unreadable; never a wrong value
        if "task.name" in attrs(first):
            self.assertEqual(attrs(first)["task.name"], name)
        else:
            self.assertEqual(attrs(first)["tasktap.unreadable"], "task.name")
            self.assertEqual(first["name"], "cold_task")
        self.assertEqual(first["status"]["code"], OK)
        self.assertEqual(attrs(second)["task.id"], "2")
        self.assertEqual(attrs(second)["task.name"], name)
        self.assertEqual(second["name"], name)
        self.assertNotIn("tasktap.unreadable", attrs(second))


if __name__ == "__main__":
    unittest.main()
