"""Probes compiled to BPF (user/bpfgen.c), with real BPF on real target
processes.

The compiled programs must capture exactly what the generic interpreter
captures: tests/e2e/bpfgen-compare.c attaches every hook of a table of
expressions twice to the same places, once compiled and once interpreted,
runs tests/workers/bpfgen-worker.c (strings shorter than, as long as and
longer than the limit, empty, NULL, pointers into a page nobody can read,
every integer width, stack arguments, out-parameters, filters) and
tests/workers/usdt-forms-worker.c (USDT arguments of every form, one probe
on two sites, a page nobody can read), and compares the two event streams
field by field and record by record.

Probes on the same USDT site share one uprobe and one program (the
compiled side of the comparison has two such sites with two probes each),
as the probes on one function do (test_fn_share.py). `tasktap run` loads
the compiled programs (one per hook and kind, named tt_h<hook>_<kind>) and
attaches the sites' (tt_s<slot>_usdt, _entry, _ret, behind a dispatcher
tt_s<slot>_disp), and `tasktap check --verbose` prints them."""
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import Agent, run_tool, write_spec
from test_otlp import wait_for

COMPARE = os.path.abspath(".output/tests/bpfgen-compare")
WORKER = os.path.abspath(".output/bpfgen-worker")
USDT_WORKER = os.path.abspath(".output/usdt-forms-worker")

SPEC = """\
targets:
  - binary: {worker}
    probes:
      - role: span
        symbol: bg_a
        name: ints
        attributes:
          a0: arg0
          rid: "*arg1"
          i32: s32(arg1 + 8)
          i16: s16(arg1 + 12)
          u8: u8(arg1 + 14)
          i8: s8(arg1 + 15)
          name: str(*(arg1 + 16))
      - role: span
        symbol: bg_b
        name: strings
        attributes:
          s: str(arg2)
          s5: str(arg2, 5)
          b: bytes(arg2, arg3)
          b3: bytes(arg4, 3)
          t: str(arg4)
          nested: str(*(*(arg1 + 24) + 16))
      - role: span
        symbol: bg_c
        name: stack
        attributes:
          a6: arg6
          s7: str(arg7)
          r8: u64(arg8)
          r8name: str(u64(arg8 + 16))
          a9: arg9
          minus: u64(arg1 - 8)
          big: arg0 + 5000000000
      - role: span
        symbol: bg_d
        name: int-filter
        when: arg0 >= 2
        attributes:
          a0: arg0
          out: u64(arg5) @return
          result: ret @return
      - role: span
        symbol: bg_e
        name: prefix
        when: str(arg2) == "perf*"
        attributes:
          s: str(arg2)
      - role: span
        symbol: bg_f
        name: not-hello
        when: str(arg2) != "hello"
        attributes:
          s: str(arg2)
          t: str(arg4) @return
      - role: span
        symbol: bg_g
        name: signed-filter
        when: s32(arg1 + 8) < -70001
        attributes:
          i32: s32(arg1 + 8)
  - binary: {usdt}
    probes:
      - role: span
        usdt: ttwf:narrow
        name: narrow
        attributes: {{i8: arg0, u8: arg1, i16: arg2, u16: arg3, i32: arg4, u32: arg5, i64: arg6}}
      - role: span
        usdt: ttwf:fields
        name: fields
        attributes: {{id: arg0, i32: arg1, i16: arg2, u8: arg3, i8: arg4}}
      - role: span
        usdt: ttwf:konst
        name: konst
        when: arg1 < 0
        attributes: {{a: arg0, b: arg1, c: arg2}}
      - role: span
        usdt: ttwf:step
        name: step
        attributes: {{id: arg0, where: arg1}}
      - role: publish
        usdt: ttwf:step
        key: arg0
        when: arg1 == 2
        attributes: {{where: arg1}}
      - role: consume
        usdt: ttwf:fields
        key: arg0
        when: arg0 > 300
        attributes: {{i8: arg4}}
"""

# bpfgen-worker: 3 rounds of 11 cases through 7 functions; the filters keep some
CALLS = 33


class CompareTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=WORKER, usdt=USDT_WORKER), d)
            p = subprocess.run([COMPARE, spec, WORKER, USDT_WORKER], capture_output=True,
                               text=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError("bpfgen-compare failed:\n" + p.stderr)
        cls.result = json.loads(p.stdout)

    def test_same_events_and_records_in_both_forms(self):
        self.assertEqual(self.result["differences"], [])
        self.assertEqual(self.result["events"][0], self.result["events"][1])
        self.assertEqual(self.result["lost"], [0, 0])

    def test_every_hook_ran_compiled(self):
        # 7 functions (entry and return) and 6 USDT probes, narrow, fields
        # (twice) and konst on one site each, step (twice) on two: 22 programs
        self.assertEqual(self.result["compiled"], 22)
        self.assertEqual(self.result["not_compiled"], 0)
        self.assertEqual(self.result["interpreter_compiled"], 0)

    def test_the_table_reached_faults_truncations_and_filters(self):
        # entries of the 3 unfiltered functions and returns of all 7, at least
        self.assertGreaterEqual(self.result["events"][0], 3 * CALLS + 7 * 0)
        self.assertGreater(self.result["faults"], 0)
        self.assertGreater(self.result["truncated"], 0)
        self.assertEqual(self.result["cap_faults"][0], self.result["cap_faults"][1])
        self.assertGreater(self.result["cap_faults"][0], 0)

    def test_probes_on_one_usdt_site_share_one_program(self):
        # without --pin, each USDT site is one uprobe whatever the probes on
        # it: narrow, konst, fields (2 probes) and step's two sites (2 each);
        # and each of the 7 functions an entry site and a return site of one
        self.assertEqual(self.result["shared_sites"], 5 + 14)
        self.assertEqual(self.result["shared_members"], 8 + 14)


class AgentTest(unittest.TestCase):
    def test_run_attaches_the_compiled_programs(self):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=WORKER, usdt=USDT_WORKER), d)
            agent = Agent([spec, "--json"])
            agent.wait_attached()
            try:
                ids = set()
                fds = "/proc/%d/fdinfo" % agent.proc.pid
                for fd in os.listdir(fds):
                    with open(os.path.join(fds, fd)) as f:
                        for line in f:
                            if line.startswith("prog_id:"):
                                ids.add(int(line.split()[1]))
                progs = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                                       text=True, check=True).stdout
                mine = [p["name"] for p in json.loads(progs) if p["id"] in ids]
            finally:
                agent.stop()
        for name in ["tt_h1_entry", "tt_h1_ret", "tt_h4_entry", "tt_h4_ret", "tt_h8_usdt",
                     "tt_h11_usdt"]:
            self.assertIn(name, mine)
        # 5 USDT sites and 7 functions' entries and returns, each one dispatcher and one
        # program for its probes
        self.assertEqual(len([n for n in mine if re.match(r"tt_s\d+_disp$", n)]), 5 + 14)
        self.assertEqual(len([n for n in mine if re.match(r"tt_s\d+_usdt$", n)]), 5)
        self.assertEqual(len([n for n in mine if re.match(r"tt_s\d+_entry$", n)]), 7)
        self.assertEqual(len([n for n in mine if re.match(r"tt_s\d+_ret$", n)]), 7)
        self.assertNotIn("cannot compile", agent.stderr())


PIN_SPEC = """\
targets:
  - binary: {usdt}
    probes:
      - role: span
        usdt: ttwf:step
        name: step
        attributes: {{id: arg0, where: arg1}}
      - role: publish
        usdt: ttwf:step
        key: arg0
        when: arg1 == 2
"""


class SharedSitePinTest(unittest.TestCase):
    def test_shared_sites_survive_a_sigkill_with_pin(self):
        # ttwf:step has two sites; both probes on each share one pinned uprobe
        pin = "/sys/fs/bpf/tasktap-bpfgen-%05d" % random.randrange(100000)
        self.addCleanup(shutil.rmtree, pin, True)
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(PIN_SPEC.format(usdt=USDT_WORKER), d)
            first = Agent([spec, "--json", "--pin", pin])
            first.wait_attached()
            links = sorted(os.listdir(os.path.join(pin, "links")))
            self.assertEqual(len(links), 2, links)
            self.assertTrue(all(re.match(r"site_[0-9a-f]+_[0-9a-f]+_[0-9a-f]+_-1-s\d+$", n)
                                for n in links), links)
            first.proc.kill()
            first.proc.wait()
            # while no agent runs: the pinned probes record into the pinned rings
            subprocess.run([USDT_WORKER], check=True, capture_output=True, timeout=60)
            second = Agent([spec, "--json", "--pin", pin])
            second.wait_attached()
            self.assertEqual(sorted(os.listdir(os.path.join(pin, "links"))), links)
            subprocess.run([USDT_WORKER], check=True, capture_output=True, timeout=60)
            wait_for(lambda: len(second.spans()) >= 12, what="both runs' spans")
            self.assertEqual(second.stop(), 0, second.stderr())
        self.assertIn("adopted the probes and rings pinned in", second.stderr())
        names = sorted(sp["name"] for sp in second.spans())
        # 2 rounds x 2 sites a run, 2 runs: 8 steps; publish only where == 2: 4
        self.assertEqual(names.count("step"), 8, names)
        self.assertEqual(len([n for n in names if n.startswith("publish")]), 4, names)


class CheckTest(unittest.TestCase):
    def test_check_verbose_prints_each_hooks_instructions(self):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=WORKER, usdt=USDT_WORKER), d)
            rc, out, err = run_tool(["check", spec, "--verbose"])
            rc_quiet, quiet, _ = run_tool(["check", spec])
        self.assertEqual(rc, 0, err)
        self.assertEqual(rc_quiet, 0)
        self.assertNotIn("BPF instructions", quiet)
        # hook 4: a filter, captures at entry and at return
        block = out.split("hook 4 ")[1].split("\nhook 5 ")[0]
        self.assertRegex(block, r"\n  entry: \d+ BPF instructions\n")
        self.assertRegex(block, r"\n  return: \d+ BPF instructions\n")
        self.assertIn("call bpf_probe_read_user", block)
        self.assertIn("r1 = map[threads]", block)
        self.assertIn("call bpf_ringbuf_output", block)
        self.assertRegex(block, r"\n +\d+: exit\n")
        # a USDT probe on two sites: one program each
        self.assertEqual(len([l for l in out.split("hook 11 ")[1].split("\nhook 12 ")[0].splitlines()
                              if l.startswith("  site 0x")]), 2)
