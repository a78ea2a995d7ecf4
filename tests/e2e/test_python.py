"""Python functions by module:qualname (DESIGN §10) with real BPF, on
Debian's /usr/bin/python3.11 running tests/workers/python-calls.py: calls
from Python (which 3.11 runs inside the same interpreter loop) and from C,
nested and recursive, each one span whose duration is what the worker
measured, and in three threads at once, each call on its own thread; a function the spec does not name makes no span; `error:
raised` and the exception's type. `match:` attaches only in the processes
whose command line it matches: the others keep the interpreter's
function__return semaphore at 0 (no probe, nothing to pay)."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, duration_ms, run_tool, write_spec
from test_otlp import wait_for

PYTHON = "/usr/bin/python3.11"
ERROR = 2  # span status code
WORKER = os.path.abspath("tests/workers/python-calls.py")

SPEC = """\
service: python-calls
targets:
  - binary: /usr/bin/python3.11
    runtime: python
    probes:
      - role: task
        function: __main__:Worker.perform
        error: raised
      - role: step
        function: __main__:job
        error: raised
      - role: span
        function: __main__:re*
"""


THREADS_WORKER = os.path.abspath("tests/workers/python-threads.py")

THREADS_SPEC = """\
service: python-threads
targets:
  - binary: /usr/bin/python3.11
    runtime: python
    probes:
      - role: task
        function: __main__:Worker.perform
      - role: step
        function: __main__:job
"""


def for_python(spec_text, python):
    """The spec, for the interpreter at `python` instead of Debian's."""
    return spec_text.replace(PYTHON, python)


def need_python(test, python):
    """Fails (never skips) `test` when the interpreter it runs on is missing."""
    if not os.access(python, os.X_OK):
        test.fail("the interpreter %s is missing: the Python tests run on it" % python)


def trace_worker(test, python, spec, worker, attached=None, ran=None):
    """Runs `worker` on `python` under an agent narrowed to it (--pid) with `spec`,
    telling it to go once the agent is attached; returns (the worker's JSON record,
    the stopped agent). `attached(agent)` runs before the go, `ran(agent)` after the
    worker ended, while the agent still runs."""
    w = subprocess.Popen([python, worker], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    test.addCleanup(lambda: w.poll() is None and (w.kill(), w.wait()))
    agent = Agent([spec, "--json", "--pid", str(w.pid)])
    test.addCleanup(agent.stop)
    agent.wait_attached()
    if attached:
        attached(agent)
    out, _ = w.communicate("go\n", timeout=60)
    test.assertEqual(w.returncode, 0)
    if ran:
        ran(agent)
    test.assertEqual(agent.stop(), 0, agent.stderr())
    return json.loads(out), agent


class PythonCallsTest(unittest.TestCase):
    python = PYTHON  # the interpreter the workers run on (test_python_versions: others)

    def setUp(self):
        need_python(self, self.python)
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def run_worker(self, spec_text):
        """Runs the worker under an agent narrowed to it; returns (its record, the spans)."""
        spec = write_spec(for_python(spec_text, self.python), self.dir.name)
        record, agent = trace_worker(self, self.python, spec, WORKER)
        return record, agent.spans()

    def test_calls_from_python_and_c(self):
        record, spans = self.run_worker(SPEC)
        calls = record["calls"]
        # one span per call the worker made, of each function
        for fn, name in (("Worker.perform", "__main__:Worker.perform"),
                         ("job", "__main__:job"), ("rec", "__main__:re*")):
            want = [c for c in calls if c["name"] == fn]
            got = [s for s in spans if s["name"].endswith(name)]
            self.assertEqual(len(got), len(want), (fn, [s["name"] for s in spans]))
        self.assertEqual(len(spans), len(calls))
        # the jobs perform called are its children; those map() called are roots
        performs = [s for s in spans if s["name"] == "__main__:Worker.perform"]
        self.assertEqual(len(performs), 5)
        children = [s for s in spans if s.get("parentSpanId") in
                    {p["spanId"] for p in performs}]
        self.assertEqual(len(children), 6)
        self.assertTrue(all(c["name"].endswith("__main__:job") for c in children))
        # rec(3): four calls, each the parent of the next
        recs = [s for s in spans if s["name"].endswith("__main__:re*")]
        roots = [s for s in recs if not s.get("parentSpanId")]
        self.assertEqual(len(roots), 1)
        depth, s = 0, roots[0]
        while True:
            kids = [k for k in recs if k.get("parentSpanId") == s["spanId"]]
            if not kids:
                break
            self.assertEqual(len(kids), 1)
            s, depth = kids[0], depth + 1
        self.assertEqual(depth, 3)
        # durations: each span lasts what the worker measured, within 1 ms: the span
        # also covers the call's first and last lines, microseconds, unless the thread
        # waited for a CPU there (a loaded machine): no more than it waited in all
        waited_ms = record["wait_ns"] / 1e6
        for fn, name in (("Worker.perform", "__main__:Worker.perform"), ("job", "__main__:job")):
            want = sorted(c["ns"] / 1e6 for c in calls if c["name"] == fn)
            got = sorted(duration_ms(s) for s in spans if s["name"].endswith(name))
            for w, g in zip(want, got):
                self.assertGreaterEqual(g + 0.05, w, (fn, want, got))
                self.assertLess(g - w, 1.0 + waited_ms, (fn, want, got, waited_ms))
        self.assertFalse([s for s in spans if "unprobed" in s["name"]])
        # the calls that raised are errors, with the exception's type; the others are not
        # (a perform that handled its job's exception succeeded)
        for fn, name in (("Worker.perform", "__main__:Worker.perform"), ("job", "__main__:job")):
            mine = [s for s in spans if s["name"].endswith(name)]
            failed = [s for s in mine if s.get("status", {}).get("code") == ERROR]
            raised = [c for c in calls if c["name"] == fn and c["raised"]]
            self.assertEqual(len(failed), len(raised), fn)
            for s in mine:
                if s in failed:
                    self.assertEqual(attrs(s).get("exception.type"), "ValueError")
                    self.assertEqual(attrs(s).get("error.type"), "ValueError")
                    self.assertIn("raised ValueError", s["status"].get("message", ""))
                else:
                    self.assertNotIn("exception.type", attrs(s))
                    self.assertNotIn("tasktap.unreadable", attrs(s))
        self.assertEqual(len([c for c in calls if c["raised"]]), 4)

    def test_threads(self):
        """Each thread's calls are found through its own thread state, the one
        holding the GIL: spans on the thread that made them, nested there."""
        spec = write_spec(for_python(THREADS_SPEC, self.python), self.dir.name)
        record, agent = trace_worker(self, self.python, spec, THREADS_WORKER)
        counts = {int(k): v for k, v in record.items()}
        spans = agent.spans()
        by_id = {s["spanId"]: s for s in spans}
        for tid, count in counts.items():
            mine = [s for s in spans if attrs(s).get("tasktap.thread.tid") == tid]
            performs = [s for s in mine if s["name"] == "__main__:Worker.perform"]
            jobs = [s for s in mine if s["name"].endswith("__main__:job")]
            self.assertEqual(len(performs), count, tid)
            self.assertEqual(len(jobs), count, tid)
            for j in jobs:
                parent = by_id.get(j.get("parentSpanId"))
                self.assertIsNotNone(parent, tid)
                self.assertEqual(attrs(parent).get("tasktap.thread.tid"), tid)
        self.assertEqual(len(spans), 2 * sum(counts.values()))

    def test_bad_function_names(self):
        cases = [
            ("function: nocolon", "expected module:qualname"),
            ("function: a:b*c", "only a final '*'"),
            ("function: :f", "empty module"),
        ]
        for line, message in cases:
            text = for_python(SPEC, self.python).replace("function: __main__:re*", line)
            path = write_spec(text, self.dir.name)
            code, _, err = run_tool(["check", path])
            self.assertNotEqual(code, 0, line)
            self.assertIn(message, err, line)
        # a filter the Python programs cannot run is refused, not ignored
        # (the filters they run: test_python_when.py)
        text = for_python(SPEC, self.python).replace(
            "        function: __main__:re*\n",
            "        function: __main__:re*\n        when: arg0 == 5\n")
        code, _, err = run_tool(["check", write_spec(text, self.dir.name)])
        self.assertNotEqual(code, 0)
        self.assertIn("a python probe's 'when' compares py() values", err)
        text = for_python(SPEC, self.python).replace("    runtime: python\n", "")
        code, _, err = run_tool(["check", write_spec(text, self.dir.name)])
        self.assertNotEqual(code, 0)
        self.assertIn("give the target 'runtime: python'", err)


VALUES_WORKER = os.path.abspath("tests/workers/python-values.py")

VALUES_SPEC = """\
service: python-values
targets:
  - binary: /usr/bin/python3.11
    runtime: python
    probes:
      - role: task
        function: __main__:run_job
        key: py(job._id)
        attributes:
          task.name: py(job.func_name)
          big: py(job.attempt)
          neg: py(job.neg)
          payload: py(job.payload)
          local: py(local)
          trace: py(job.meta["trace"])
          timeout: py(options['timeout'])
"""


LAST_CALL_WORKER = os.path.abspath("tests/workers/python-last-call.py")

LAST_CALL_SPEC = """\
service: python-last-call
targets:
  - binary: /usr/bin/python3.11
    runtime: python
    probes:
      - role: task
        function: __main__:outer
      - role: step
        function: __main__:inner
"""


class PythonLastCallTest(unittest.TestCase):
    python = PYTHON

    def test_last_calls_before_exit_end_by_their_returns(self):
        """The worker stops the agent and exits right after its last call
        returns: the return is still held for ordering as the agent stops,
        and ends the span (the span was cut, tasktap.cut: lost, and the
        return counted as an end without its start, when the agent ended a
        gone target's spans before its last drain)."""
        need_python(self, self.python)
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        spec = write_spec(for_python(LAST_CALL_SPEC, self.python), d.name)
        w = subprocess.Popen([self.python, LAST_CALL_WORKER], stdin=subprocess.PIPE, text=True)
        self.addCleanup(lambda: w.poll() is None and (w.kill(), w.wait()))
        agent = Agent([spec, "--json", "--pid", str(w.pid)])
        self.addCleanup(agent.stop)
        agent.wait_attached()
        w.communicate("%d\n" % agent.proc.pid, timeout=60)
        self.assertEqual(w.returncode, 0)
        self.assertEqual(agent.wait(60), 0, agent.stderr())  # the worker stopped it
        spans = agent.spans()
        self.assertEqual(sorted(s["name"] for s in spans),
                         ["__main__:outer", "__main__:outer.__main__:inner"],
                         (spans, agent.stderr()))
        outer = [s for s in spans if s["name"] == "__main__:outer"][0]
        inner = [s for s in spans if s["name"].endswith("__main__:inner")][0]
        self.assertEqual(inner.get("parentSpanId"), outer["spanId"])
        for s in spans:
            self.assertNotIn("tasktap.cut", attrs(s), s)
            self.assertNotEqual(s.get("status", {}).get("code"), ERROR, s)
        self.assertNotIn("spans lost", agent.stderr())
        self.assertNotIn("ended without their end", agent.stderr())


class PythonValuesTest(unittest.TestCase):
    """py(): arguments, attributes through instance dicts (3.11's inline
    values and a materialized dict), dict values by a str key (**kwargs, a
    dict attribute), str, int, bytes; what cannot be read is recorded as
    unreadable."""
    python = PYTHON

    def setUp(self):
        need_python(self, self.python)

    def test_values(self):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(for_python(VALUES_SPEC, self.python), d)
            given, agent = trace_worker(self, self.python, spec, VALUES_WORKER)
        spans = sorted(agent.spans(), key=lambda s: int(s["startTimeUnixNano"]))
        self.assertEqual(len(spans), len(given) + 1)
        for g, s in zip(given, spans):
            a = attrs(s)
            self.assertEqual(a.get("task.id"), g["id"])
            self.assertEqual(a.get("task.name"), g["name"])
            self.assertEqual(a.get("big"), g["attempt"])
            self.assertEqual(a.get("neg"), g["neg"])
            self.assertEqual(a.get("payload"), "\x01abc")
            self.assertEqual(a.get("trace"), g["trace"])
            self.assertEqual(a.get("timeout"), g["timeout"])
            # a local not set at the call's start cannot be read: said so, not guessed
            self.assertEqual(a.get("tasktap.unreadable"), "local")
        last = attrs(spans[-1])
        self.assertNotIn("task.id", last)
        self.assertEqual(sorted(last["tasktap.unreadable"].split(",")),
                         ["big", "local", "neg", "payload", "task.name", "timeout", "trace"])

    def test_bad_values(self):
        with tempfile.TemporaryDirectory() as d:
            for expr, message in (("py(job..id)", "expected a name"),
                                  ("py(job[0])", "expected a quoted key"),
                                  ("py(1job)", "expected a name"),
                                  ("py(" + "a" * 32 + ")", "longer than 31")):
                text = for_python(VALUES_SPEC, self.python).replace("py(job.func_name)", expr)
                code, _, err = run_tool(["check", write_spec(text, d)])
                self.assertNotEqual(code, 0, expr)
                self.assertIn(message, err, expr)
            text = for_python(VALUES_SPEC, self.python).replace("    runtime: python\n", "").replace(
                "function: __main__:run_job", "symbol: main")
            code, _, err = run_tool(["check", write_spec(text, d)])
            self.assertNotEqual(code, 0)


MATCH_SPEC = """\
service: python-match
targets:
  - binary: {python}
    runtime: python
    match: {{ argv: "*python-calls.py picked*" }}
    probes:
      - role: task
        function: __main__:Worker.perform
"""

# Debian's python3.11 (3.11.2, non-PIE): the address of the semaphore of
# python:function__return, as `readelf -n` shows it
SEMAPHORE = 0xa84262


def exe(pid):
    """What process `pid` runs, or None while that cannot be read."""
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


def semaphore(pid):
    """Process `pid`'s function__return semaphore; waits, as long as the
    address is not mapped yet (an exec in progress), for it to be."""
    def read():
        try:
            with open("/proc/%d/mem" % pid, "rb") as f:
                f.seek(SEMAPHORE)
                return int.from_bytes(f.read(2), "little")
        except OSError:
            return None
    wait_for(lambda: read() is not None, what="process %d's semaphore mapped" % pid)
    return read()


class PythonMatchTest(unittest.TestCase):
    """Only the processes `match:` names pay: a private copy of the
    interpreter, so that no other test's agent attaches to these processes."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.python = os.path.join(self.dir.name, "python3.11")
        shutil.copy(PYTHON, self.python)

    def worker(self, arg):
        w = subprocess.Popen([self.python, WORKER, arg], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: w.poll() is None and (w.kill(), w.wait()))
        return w

    def test_only_matching_processes(self):
        spec = write_spec(MATCH_SPEC.format(python=self.python), self.dir.name)
        before = [self.worker("picked"), self.worker("other")]
        agent = Agent([spec, "--json"])
        self.addCleanup(agent.stop)
        agent.wait_attached()
        after = [self.worker("picked"), self.worker("other")]
        workers = before + after
        # a child reads as the test's own interpreter until its exec is done:
        # its semaphore is mapped once it runs the copy
        for w in workers:
            wait_for(lambda: exe(w.pid) == os.path.realpath(self.python),
                     what="worker %d running %s" % (w.pid, self.python))
        # a process started after the agent is held at exec until it is attached
        deadline = time.monotonic() + 30
        while semaphore(after[0].pid) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual([semaphore(w.pid) > 0 for w in workers], [True, False, True, False])
        calls = {}
        for w in workers:
            out, _ = w.communicate("go\n", timeout=60)
            self.assertEqual(w.returncode, 0)
            calls[w.pid] = [c for c in json.loads(out)["calls"] if c["name"] == "Worker.perform"]
        self.assertEqual(agent.stop(), 0, agent.stderr())
        by_pid = {}
        for s in agent.spans():
            by_pid.setdefault(s["resource"]["process.pid"], []).append(s)
        self.assertEqual(sorted(by_pid), sorted([before[0].pid, after[0].pid]))
        for pid, spans in by_pid.items():
            self.assertEqual(len(spans), len(calls[pid]))

    def test_bad_match(self):
        text = MATCH_SPEC.format(python=self.python)
        cases = [
            (text.replace("    runtime: python\n", ""), "'match' narrows a 'runtime: python'"),
            (text.replace('{ argv: "*python-calls.py picked*" }', "{ argv: \"\" }"),
             "'argv' must not be empty"),
            (text.replace('{ argv: "*python-calls.py picked*" }', "{ args: x }"),
             "unknown key 'args' in match"),
            (text.replace(self.python, "/usr/bin/python3*"), "'match' needs the interpreter"),
        ]
        for spec_text, message in cases:
            code, _, err = run_tool(["check", write_spec(spec_text, self.dir.name)])
            self.assertNotEqual(code, 0, spec_text)
            self.assertIn(message, err, spec_text)


if __name__ == "__main__":
    unittest.main()
