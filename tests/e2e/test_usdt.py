"""USDT probes with real BPF, on tests/workers/usdt-worker.c: a `usdt:` +
`end:` pair (paired per thread), a point probe, a `when:` filter on both
ends of the pair, an `error:` read at the end, and a probe guarded by its
semaphore — which the worker sees set only while tasktap is attached — in
a process started after tasktap and in one already running before it.

tasktap attaches USDT probes itself, one pinnable uprobe per site, so with
`--pin` they survive a SIGKILL of the agent like function probes: what
they record meanwhile is reported by the next agent, and the semaphores
stay set while their pinned probes stay. tests/workers/usdt-forms-worker.c
checks every argument form tasktap decodes (values of every width and
sign, constants, memory at a register plus an offset, a probe with two
sites) and the clear refusal of a form it cannot read."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Agent, attrs, duration_ms, run_tool, write_spec
from test_otlp import wait_for

USDT_WORKER = os.path.abspath(".output/usdt-worker")
FORMS_WORKER = os.path.abspath(".output/usdt-forms-worker")
SITES_WORKER = os.path.abspath(".output/usdt-sites-worker")
MAX_USDT_SITES = 4096  # TT_MAX_USDT_SITES, include/tasktap/limits.h

SPEC = """\
service: usdt-worker
targets:
  - binary: {worker}
    probes:
      - role: task
        usdt: ttw:job_start
        end: ttw:job_end
        key: arg0
        when: str(arg1) != "skip*"
        attributes:
          task.name: str(arg1)
        error: arg2 != 0
      - role: span
        usdt: ttw:tick
        name: tick
        attributes:
          tick: arg0
      - role: span
        usdt: ttw:expensive
        name: expensive
        attributes:
          job: arg0
          cost: arg1
"""

OK, ERROR = 0, 2  # status codes: UNSET unless an error, as instrumentation leaves it

FORMS_SPEC = """\
service: usdt-forms
targets:
  - binary: {worker}
    probes:
      - role: span
        usdt: ttwf:konst
        name: konst
        attributes: {{ a: arg0, b: arg1, c: arg2 }}
      - role: span
        usdt: ttwf:narrow
        name: narrow
        attributes: {{ i8: arg0, u8: arg1, i16: arg2, u16: arg3, i32: arg4, u32: arg5, i64: arg6 }}
      - role: span
        usdt: ttwf:fields
        name: fields
        attributes: {{ id: arg0, i32: arg1, i16: arg2, u8: arg3, i8: arg4 }}
      - role: span
        usdt: ttwf:step
        name: step
        attributes: {{ id: arg0, where: arg1 }}
"""

REFUSED_SPEC = """\
service: usdt-forms
targets:
  - binary: {worker}
    probes:
      - role: span
        usdt: ttwf:{probe}
        name: refused
        attributes: {{ v: arg0 }}
"""


def note_args(path, provider, name):
    """The argument strings of every note of provider:name, from binutils' readelf."""
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True,
                         check=True).stdout
    return [m.group(1).strip() for m in re.finditer(
        r"Provider: %s\n\s+Name: %s\n.*\n\s+Arguments: ?(.*)" % (provider, name), out)]


def pin_dir():
    return "/sys/fs/bpf/tasktap-test-%05d" % random.randrange(100000)


def pinned_sites(pin):
    """The keys (attach cookies) of the pinned BPF hash of USDT sites, read with bpftool."""
    out = subprocess.run(["bpftool", "map", "dump", "pinned", os.path.join(pin, "map-usdt_sites"),
                          "-j"], capture_output=True, text=True, check=True).stdout
    return sorted(int.from_bytes(bytes(int(b, 16) for b in e["key"]), "little")
                  for e in json.loads(out))


def usdt_hooks(health):
    return sorted(a["hook"] for a in health["attachments"] if a["function"].startswith("usdt "))


class UsdtTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.spec = write_spec(SPEC.format(worker=USDT_WORKER), self.dir.name)
        self.agents = []

    def tearDown(self):
        for a in self.agents:
            if a.proc.poll() is None:
                a.proc.kill()
                a.proc.wait()
        self.dir.cleanup()

    def agent(self, args):
        a = Agent(args)
        self.agents.append(a)
        a.wait_attached()
        return a

    def private_copy(self, path):
        """A copy of a worker of our own: its probes are not those of other tests' agents."""
        copy = os.path.join(self.dir.name, os.path.basename(path))
        shutil.copy(path, copy)
        return copy

    def run_usdt_worker(self, worker, *args):
        p = subprocess.run([worker] + list(args), capture_output=True, text=True, timeout=60,
                           check=True)
        return json.loads(p.stdout)

    def check_spans(self, spans, told):
        jobs = told["jobs"]
        mine = [s for s in spans if s["resource"]["process.pid"] == told["pid"]]
        tasks = {attrs(s)["task.id"]: s for s in mine if attrs(s)["code.function.name"] == "ttw:job_start"}
        kept = [j for j in jobs if not j["name"].startswith("skip")]
        # the filter dropped both ends of the skipped jobs
        self.assertEqual(sorted(tasks), sorted(str(j["id"]) for j in kept))
        for j in kept:
            t = tasks[str(j["id"])]
            self.assertEqual(t["name"], j["name"])
            self.assertEqual(attrs(t)["task.name"], j["name"])
            self.assertEqual(t["status"]["code"], ERROR if j["status"] else OK)
            if j["status"]:
                self.assertIn("arg2 is %d" % j["status"], t["status"]["message"])
            self.assertNotIn("tasktap.cut", attrs(t))
            self.assertGreaterEqual(duration_ms(t), 30)  # the job sleeps 20 + 10 ms
        ticks = [s for s in mine if s["name"] == "tick"]
        self.assertEqual(sorted(attrs(s)["tick"] for s in ticks),
                         sorted(j["id"] * 10 for j in jobs))
        for s in ticks:
            self.assertEqual(s["startTimeUnixNano"], s["endTimeUnixNano"])  # a point
            job = str(attrs(s)["tick"] // 10)
            if job in tasks:  # inside its job's span, on the same thread
                self.assertEqual(s.get("parentSpanId"), tasks[job]["spanId"])
                self.assertEqual(s["traceId"], tasks[job]["traceId"])
        # the semaphore: set by tasktap, so the guarded probe fired for every job
        self.assertTrue(told["semaphore_seen"])
        costly = {attrs(s)["job"]: attrs(s)["cost"] for s in mine if s["name"] == "expensive"}
        self.assertEqual(costly, {j["id"]: j["cost"] for j in jobs})
        self.assertTrue(all(j["cost"] > 0 for j in jobs))

    def test_semaphore_is_clear_without_tasktap(self):
        p = subprocess.run([USDT_WORKER, "--jobs", "2"], capture_output=True, text=True,
                           timeout=30, check=True)
        told = json.loads(p.stdout)
        self.assertFalse(told["semaphore_seen"])
        self.assertEqual([j["cost"] for j in told["jobs"]], [0, 0])

    def test_process_started_after_tasktap(self):
        agent = Agent([self.spec, "--json"])
        agent.wait_attached()
        p = subprocess.run([USDT_WORKER, "--jobs", "6"], capture_output=True, text=True,
                           timeout=60, check=True)
        time.sleep(0.2)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        told = json.loads(p.stdout)
        self.check_spans(agent.spans(), told)
        # 4 kept jobs (start + end), 6 ticks, 6 expensive points
        self.assertIn("16 spans, 20 events, 0 lost", agent.stderr())

    def test_process_running_before_tasktap(self):
        worker = subprocess.Popen([USDT_WORKER, "--jobs", "4", "--first-id", "11",
                                   "--wait-signal"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(worker.stderr.readline().strip(), "ready")
            agent = Agent([self.spec, "--json"])
            agent.wait_attached()
            worker.send_signal(signal.SIGUSR1)
            out, _ = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        self.assertEqual(worker.returncode, 0)
        time.sleep(0.2)
        self.assertEqual(agent.stop(), 0, agent.stderr())
        self.check_spans(agent.spans(), json.loads(out))

    def test_pid_target(self):
        worker = subprocess.Popen([USDT_WORKER, "--jobs", "3", "--first-id", "21",
                                   "--wait-signal"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(worker.stderr.readline().strip(), "ready")
            agent = Agent([self.spec, "--json", "--pid", str(worker.pid)])
            agent.wait_attached()
            worker.send_signal(signal.SIGUSR1)
            out, _ = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        # the agent stops by itself once its only process is gone
        self.assertEqual(agent.wait(30), 0, agent.stderr())
        self.check_spans(agent.spans(), json.loads(out))

    def test_sigkill_and_restart_with_pin_loses_nothing(self):
        pin = pin_dir()
        self.addCleanup(shutil.rmtree, pin, True)
        worker = self.private_copy(USDT_WORKER)
        spec = write_spec(SPEC.format(worker=worker), self.dir.name)
        first = self.agent([spec, "--json", "--pin", pin])
        self.assertIn("attached 4 probes", first.stderr())
        # every USDT site is pinned like a function probe: one link per site, and the
        # pinned map of sites holds where each one's arguments are, keyed by its cookie
        links = os.listdir(os.path.join(pin, "links"))
        self.assertEqual(len(links), 4, links)
        sites = pinned_sites(pin)
        hooks = usdt_hooks(json.loads(first.get("/health")[2]))
        self.assertEqual(len(hooks), 4)
        self.assertEqual(sorted(c & 0xffff for c in sites), hooks)
        first.proc.kill()  # SIGKILL: no detach, no drain
        first.proc.wait()
        # while no agent runs: the pinned probes fire into the pinned rings, and the
        # semaphore they hold stays set, so the guarded probe fires too
        told = [self.run_usdt_worker(worker, "--jobs", "3", "--first-id", str(k))
                for k in (31, 41)]
        for t in told:
            self.assertTrue(t["semaphore_seen"])
        second = self.agent([spec, "--json", "--pin", pin])
        self.assertIn("adopted the probes and rings pinned in", second.stderr())
        # each run: 2 jobs kept by the filter, 3 ticks, 3 expensive points
        wait_for(lambda: len(second.spans()) >= 16, what="the spans recorded while no agent ran")
        health = json.loads(second.get("/health")[2])
        usdt = [a for a in health["attachments"] if a["function"].startswith("usdt ttw:")]
        self.assertEqual(len(usdt), 4, health["attachments"])
        self.assertTrue(all(a["pinned"] == "adopted" for a in usdt), usdt)
        self.assertEqual(sorted(os.listdir(os.path.join(pin, "links"))), sorted(links))
        # the same hook ids and sites give the same cookies: the same entries
        self.assertEqual(usdt_hooks(health), hooks)
        self.assertEqual(pinned_sites(pin), sites)
        # and it keeps tracing with the adopted probes
        told.append(self.run_usdt_worker(worker, "--jobs", "3", "--first-id", "51"))
        wait_for(lambda: len(second.spans()) >= 24, what="spans after the restart")
        self.assertEqual(second.stop(), 0, second.stderr())
        spans = second.spans()
        self.assertEqual(len(spans), 24)
        for t in told:
            self.check_spans(spans, t)
        for sp in spans:
            self.assertNotIn("tasktap.cut", attrs(sp))
        # the links stay pinned after a clean stop: the semaphore is still set...
        self.assertTrue(self.run_usdt_worker(worker, "--jobs", "1")["semaphore_seen"])
        # ...until the pins are removed, which detaches the probes and clears it
        shutil.rmtree(pin)
        wait_for(lambda: not self.run_usdt_worker(worker, "--jobs", "1")["semaphore_seen"],
                 what="the semaphore cleared once the pinned probes are gone")

    def test_restart_without_a_probe_clears_its_semaphore(self):
        pin = pin_dir()
        self.addCleanup(shutil.rmtree, pin, True)
        worker = self.private_copy(USDT_WORKER)
        spec = write_spec(SPEC.format(worker=worker), self.dir.name)
        first = self.agent([spec, "--json", "--pin", pin])
        sites = pinned_sites(pin)
        self.assertEqual(len(sites), 4)
        first.proc.kill()
        first.proc.wait()
        self.assertTrue(self.run_usdt_worker(worker, "--jobs", "1")["semaphore_seen"])
        # the next agent no longer wants ttw:expensive: its pinned probe is removed, and
        # the others (the same hook ids) are adopted
        without = SPEC[:SPEC.index("      - role: span\n        usdt: ttw:expensive")]
        write_spec(without.format(worker=worker), self.dir.name)
        second = self.agent([spec, "--json", "--pin", pin])
        self.assertIn("adopted the probes and rings pinned in", second.stderr())
        health = json.loads(second.get("/health")[2])
        self.assertEqual(sorted(a["function"] for a in health["attachments"]),
                         ["usdt ttw:job_end", "usdt ttw:job_start", "usdt ttw:tick"])
        self.assertTrue(all(a["pinned"] == "adopted" for a in health["attachments"]),
                        health["attachments"])
        self.assertEqual(len(os.listdir(os.path.join(pin, "links"))), 3)
        # and the site of the probe it no longer wants is gone from the pinned map
        kept = pinned_sites(pin)
        self.assertEqual(len(kept), 3)
        self.assertTrue(set(kept) < set(sites))
        self.assertEqual(sorted(c & 0xffff for c in kept), usdt_hooks(health))
        # the kernel lets go of an unpinned probe, and of the semaphore it held, shortly after
        wait_for(lambda: not self.run_usdt_worker(worker, "--jobs", "1")["semaphore_seen"],
                 what="the semaphore of the removed probe cleared")
        # a probe whose semaphore is off is not hit: the worker skips it
        told = self.run_usdt_worker(worker, "--jobs", "3", "--first-id", "61")
        self.assertFalse(told["semaphore_seen"])
        self.assertEqual([j["cost"] for j in told["jobs"]], [0, 0, 0])
        wait_for(lambda: any(attrs(sp).get("task.id") == "63" for sp in second.spans()),
                 what="the last job of the worker")
        mine = [sp for sp in second.spans() if sp["resource"]["process.pid"] == told["pid"]]
        self.assertEqual(sorted(sp["name"] for sp in mine),
                         ["encode", "resize", "tick", "tick", "tick"])
        self.assertEqual(second.stop(), 0, second.stderr())

    def test_argument_forms_and_sites_across_a_restart(self):
        pin = pin_dir()
        self.addCleanup(shutil.rmtree, pin, True)
        worker = self.private_copy(FORMS_WORKER)
        spec = write_spec(FORMS_SPEC.format(worker=worker), self.dir.name)
        # ttwf:step has two sites: a link for each
        self.assertEqual(len(note_args(worker, "ttwf", "step")), 2)
        first = self.agent([spec, "--json", "--pin", pin])
        # a probe counts once, whatever its sites
        self.assertIn("attached 4 probes", first.stderr())
        self.assertEqual(len(os.listdir(os.path.join(pin, "links"))), 5)
        # 5 spans a round, and the fields that cannot be read
        told = [self.run_usdt_worker(worker, "--rounds", "2")]
        wait_for(lambda: len(first.spans()) >= 11, what="the first worker's spans")
        first.proc.kill()
        first.proc.wait()
        told.append(self.run_usdt_worker(worker, "--rounds", "3"))
        second = self.agent([spec, "--json", "--pin", pin])
        wait_for(lambda: len(second.spans()) >= 16, what="the spans recorded while no agent ran")
        self.assertEqual(second.stop(), 0, second.stderr())
        for agent, t in ((first, told[0]), (second, told[1])):
            spans = [sp for sp in agent.spans() if sp["resource"]["process.pid"] == t["pid"]]
            self.assertEqual(len(spans), 5 * t["rounds"] + 1)
            got = {}
            for sp in spans:
                a = attrs(sp)
                got.setdefault(sp["name"], []).append(
                    {k: v for k, v in a.items() if k not in ("tasktap.thread.tid", "code.function.name")})
            # a read that faults is recorded, not read as 0
            unreadable = [a for a in got["fields"] if "tasktap.unreadable" in a]
            self.assertEqual(unreadable, [{"tasktap.unreadable": "id,i32,i16,u8,i8"}])
            got["fields"].remove(unreadable[0])
            rounds = range(t["rounds"])
            self.assertEqual(got["konst"], [{"a": 7, "b": -7, "c": 42} for r in rounds])
            self.assertEqual(sorted(got["narrow"], key=lambda a: a["u8"]), [
                {"i8": -3 - r, "u8": 250 + r, "i16": -300 - r, "u16": 65000 + r,
                 "i32": -70000 - r, "u32": 4000000000 + r, "i64": -5000000000 - r}
                for r in rounds])
            self.assertEqual(sorted(got["fields"], key=lambda a: a["id"]), [
                {"id": 300 + r, "i32": -100000 - r, "i16": -2 - r, "u8": 200 + r,
                 "i8": -100 - r} for r in rounds])
            # both sites of ttwf:step, each with its own arguments
            self.assertEqual(sorted((a["id"], a["where"]) for a in got["step"]),
                             sorted([(100 + r, 1) for r in rounds] +
                                    [(200 + r, 2) for r in rounds]))

    def test_refused_argument_form_is_named(self):
        for probe, what in (("global", "a symbolic address ('counter') is not supported"),
                            ("indexed", "an indexed address (base, index, scale) is not "
                                        "supported")):
            args = note_args(FORMS_WORKER, "ttwf", probe)
            self.assertEqual(len(args), 1)
            spec = write_spec(REFUSED_SPEC.format(worker=FORMS_WORKER, probe=probe),
                              self.dir.name)
            # said where the spec names it, by `check` and by `run` before attaching
            want = ("%s:6:15: in '%s': USDT probe ttwf:%s: argument 1 '%s': %s"
                    % (spec, FORMS_WORKER, probe, args[0], what))
            rc, _, err = run_tool(["check", spec])
            self.assertEqual(rc, 2, err)
            self.assertIn(want, err)
            agent = Agent([spec, "--json"])
            self.assertEqual(agent.wait(30), 2, agent.stderr())
            self.assertIn(want, agent.stderr())

    def test_too_many_sites_is_refused_before_attaching(self):
        self.assertEqual(len(note_args(SITES_WORKER, "ttws", "over")), MAX_USDT_SITES + 1)
        spec = write_spec(REFUSED_SPEC.replace("ttwf:", "ttws:").format(
            worker=SITES_WORKER, probe="over"), self.dir.name)
        agent = Agent([spec, "--json"])
        # refused before any of its uprobes is attached: quickly, nothing to detach
        self.assertEqual(agent.wait(30), 2, agent.stderr())
        self.assertIn("cannot attach to USDT probe ttws:over in '%s': too many USDT probe "
                      "sites: its %d exceed TT_MAX_USDT_SITES (%d, include/tasktap/limits.h)"
                      % (SITES_WORKER, MAX_USDT_SITES + 1, MAX_USDT_SITES), agent.stderr())


if __name__ == "__main__":
    unittest.main()
