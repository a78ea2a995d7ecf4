"""The task view in a real browser: headless Chromium (browser.py) drives the
page of a `tasktap run` tracing the demo worker with real BPF, and checks
what a person sees: a task appears in flight while it runs (without a
reload) and is marked stuck, its waterfall after it ends has the task, four
step attempts and one error row with its message, typing in the name filter
narrows the recent traces, and the rates and agent views show the counts.
A screenshot of each view is kept in .output/e2e/test_view_browser/."""
import ctypes
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from browser import Browser
from harness import Agent, isolated_demo
from test_http import wait_for

SHOTS = os.path.abspath(".output/e2e/test_view_browser")


def rows(selector):
    """JS: the text of each row matching selector, cells joined by '|'."""
    return ("Array.from(document.querySelectorAll(%s)).map(r => "
            "Array.from(r.children).map(c => c.textContent.trim()).join('|'))"
            % json.dumps(selector))


class ViewBrowserTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tt-view-browser-")
        os.makedirs(SHOTS, exist_ok=True)
        self.worker = None
        worker, spec = isolated_demo(self.dir)
        self.worker_path = worker
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.agent = Agent([spec, "--stuck-after", "2"])
        self.addCleanup(self.stop_agent)
        self.agent.wait_attached()
        self.browser = Browser(width=1280, height=720)
        self.addCleanup(self.browser.close)

    def stop_agent(self):
        if self.worker and self.worker.poll() is None:
            self.worker.kill()
            self.worker.wait()
        if self.agent.proc.poll() is None:
            self.agent.stop()

    def shot(self, name):
        return self.browser.screenshot(os.path.join(SHOTS, name + ".png"))

    def click(self, selector):
        """Clicks the middle of the element with the mouse, as a person does."""
        b = self.browser
        box = b.eval("(() => { const r = document.querySelector(%s).getBoundingClientRect();"
                     " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
                     % json.dumps(selector))
        for kind in ("mousePressed", "mouseReleased"):
            b.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                "button": "left", "clickCount": 1})

    def test_in_flight_waterfall_filter_rates_and_health(self):
        b = self.browser
        url = "http://%s/" % self.agent.http_addr
        b.navigate(url)
        b.wait_for("!!document.querySelector('#tasks-body tr.empty')", what="an empty list")
        self.assertEqual(b.eval("document.querySelector('#tab-tasks').className"), "active")

        # in flight: CreateZip at scale 20 runs ~10 s; the page updates itself
        self.worker = subprocess.Popen([self.worker_path, "--tasks", "1", "--scale", "20"],
                                       stderr=subprocess.DEVNULL)
        seen = b.wait_for(rows("#tasks-body tr.task"), what="the task in flight")
        name, tid, service, process, step, attempt, age = seen[0].split("|")
        self.assertEqual((name, tid, service, attempt), ("CreateZip", "1001", "demo-worker", "1"))
        self.assertEqual(process, "demo-worker %d" % self.worker.pid)
        self.assertIn(step, {"UploadSourceFiles", "CreateZipArchive", "UploadResult"})
        stuck = b.wait_for(rows("#tasks-body tr.stuck"), what="the task marked stuck")
        self.assertTrue(stuck[0].startswith("CreateZipstuck|"), stuck)
        self.assertIn("1 stuck", b.eval("document.getElementById('tasks-summary').textContent"))
        self.shot("in-flight")
        self.assertEqual(self.worker.wait(60), 0)
        b.wait_for("!!document.querySelector('#tasks-body tr.empty')", what="the list emptied")

        # recent: the finished trace, then its waterfall
        self.click("#tab-traces")
        seen = b.wait_for(rows("#traces-body tr.trace"), what="the finished trace")
        self.assertEqual(len(seen), 1)
        cells = seen[0].split("|")
        self.assertEqual((cells[0], cells[2], cells[3], cells[4]),
                         ("CreateZip", "demo-worker", "ok", "5"))
        self.shot("recent")
        self.click("#traces-body tr.trace")
        b.wait_for("location.hash.startsWith('#/trace/')", what="the trace view")
        spans = b.wait_for(rows("#waterfall .span-row"), what="the waterfall")
        labels = [s.split("|")[0] for s in spans]
        self.assertEqual(labels[0], "CreateZip")
        self.assertEqual(labels[1:], ["CreateZip.UploadSourceFiles",
                                      "CreateZip.CreateZipArchive #1ERROR",
                                      "CreateZip.CreateZipArchive #2",
                                      "CreateZip.UploadResult"])
        self.assertEqual(b.eval("document.querySelectorAll('#waterfall .span-row.step').length"),
                         4)
        errors = b.eval(rows("#waterfall .span-row.error"))
        self.assertEqual(len(errors), 1)
        self.assertTrue(errors[0].startswith("CreateZip.CreateZipArchive #1"))
        msgs = b.eval("Array.from(document.querySelectorAll('#waterfall .span-msg'))"
                      ".map(m => m.textContent)")
        self.assertEqual(len(msgs), 1)
        self.assertIn("returned -1", msgs[0])
        # bars lie inside the track, in start order
        lefts = b.eval("Array.from(document.querySelectorAll('#waterfall .bar'))"
                       ".map(e => parseFloat(e.style.left))")
        self.assertEqual(lefts, sorted(lefts))
        self.assertTrue(all(0 <= x <= 100 for x in lefts), lefts)
        self.shot("waterfall")

        # a filter narrows the list: two more tasks, then "Thumb" typed in
        self.assertEqual(subprocess.run([self.worker_path, "--tasks", "2", "--first-id", "2001"],
                                        stderr=subprocess.DEVNULL, timeout=60).returncode, 0)
        self.click("#tab-traces")
        b.wait_for(rows("#traces-body tr.trace") + ".length === 3", what="three traces")
        self.browser.type_into("#filter-name", "Thumb")
        narrowed = b.wait_for("(r => r.length === 1 && r)(%s)" % rows("#traces-body tr.trace"),
                              what="the filter to narrow the list")
        self.assertTrue(narrowed[0].startswith("Thumbnail|"), narrowed)
        self.assertIn("1 of the 3 kept",
                      b.eval("document.getElementById('traces-summary').textContent"))
        self.shot("recent-filtered")

        # rates: per task name, from the agent's metrics
        self.click("#tab-rates")
        rates = b.wait_for("(r => r.length === 2 && r)(%s)" % rows("#rates-body tr"),
                           what="the rates")
        byname = {r.split("|")[0]: r.split("|") for r in rates}
        self.assertEqual(byname["CreateZip"][4:6], ["2", "0"])  # completed, failed
        self.assertEqual(byname["Thumbnail"][4:6], ["1", "0"])
        self.shot("rates")

        # agent health: probes, export, the ring
        self.click("#tab-agent")
        facts = b.wait_for("(f => f.length && f)(Array.from(document.querySelectorAll("
                           "'#agent-facts dt')).map(d => d.textContent + '=' + "
                           "d.nextElementSibling.textContent))", what="the agent facts")
        facts = dict(f.split("=", 1) for f in facts)
        self.assertEqual(facts["Probes attached"], "2")
        self.assertEqual(facts["Export"], "console")
        self.assertEqual(facts["Events lost"], "0")
        self.assertTrue(facts["Recent traces"].startswith("3 of 1000"), facts)
        specs = b.eval(rows("#specs-body tr"))
        self.assertEqual(len(specs), 1)
        self.assertTrue(specs[0].endswith("|in use|2|2|"), specs)
        self.shot("agent")
        # no script error, no failed request, no Content-Security-Policy violation on the way
        self.assertEqual(b.problems(), [])
        for name in ("in-flight", "recent", "waterfall", "recent-filtered", "rates", "agent"):
            self.assertGreater(os.path.getsize(os.path.join(SHOTS, name + ".png")), 1000)


class QueueWaterfallTest(unittest.TestCase):
    """The waterfall of one order across two processes: publish in the producer, then
    process, the task, its steps and compensations in the worker."""

    def test_publish_process_steps_and_compensations(self):
        queue = "/tasktap-viewb-%d" % os.getpid()
        self.addCleanup(lambda: ctypes.CDLL(None).mq_unlink(queue.encode()))
        agent = Agent([os.path.abspath("tests/e2e/specs/orders.yaml"), "--json"])
        self.addCleanup(agent.stop)
        agent.wait_attached()
        producer = subprocess.run([os.path.abspath(".output/queue-producer"), queue, "1",
                                   "--bad", "1"], stderr=subprocess.DEVNULL, timeout=30)
        self.assertEqual(producer.returncode, 0)
        worker = subprocess.run([os.path.abspath(".output/queue-worker"), queue, "1"],
                                stderr=subprocess.DEVNULL, timeout=30)
        self.assertEqual(worker.returncode, 0)
        b = Browser(width=1280, height=680)
        self.addCleanup(b.close)
        b.navigate("http://%s/#/traces" % agent.http_addr)
        b.wait_for(rows("#traces-body tr.trace") + ".some(r => r.startsWith('BadOrder|'))",
                   what="the order's trace")
        b.eval("document.querySelector('#traces-body tr.trace').click()")
        labels = b.wait_for("(r => r.length > 3 && r)(%s)" % rows("#waterfall .span-row"),
                            what="the waterfall")
        labels = [r.split("|")[0] for r in labels]
        self.assertEqual(labels[:3], ["publish " + queue, "process " + queue, "BadOrderERROR"])
        indents = b.eval("Array.from(document.querySelectorAll('#waterfall .label'))"
                         ".map(l => parseInt(l.style.paddingLeft))")
        self.assertEqual(indents[:3], sorted(indents[:3]))  # each a child of the one above
        self.assertLess(indents[0], indents[1])
        comps = b.eval(rows("#waterfall .span-row.compensation"))
        # labelled as the console labels them: " #N" after an attempt beyond the first
        self.assertEqual(sorted(re.sub(r" #\d+$", "", c.split("|")[0]) for c in comps),
                         ["BadOrder.Charge.Compensate", "BadOrder.Reserve.Compensate"])
        where = b.eval("Array.from(document.querySelectorAll('#waterfall .where'))"
                       ".map(w => w.textContent)")
        self.assertTrue(where[0].startswith("queue-producer "), where)
        self.assertTrue(where[1].startswith("queue-worker "), where)
        self.assertEqual(b.problems(), [])
        b.screenshot(os.path.join(SHOTS, "waterfall-queue.png"))

if __name__ == "__main__":
    unittest.main()
