"""A two-event hook's entry and return in one uprobe session program
(TASKTAP_PAIR=1, user/bpfgen.c pair_prog; docs/architecture.md "Hooks on one
function"): one link a hook instead of a uprobe and a uretprobe, and the same
two events bit for bit, so the same spans.

tests/e2e/bpfgen-compare.c compares the programs' events with the generic
interpreter's (a uprobe and a uretprobe a hook), record by record; an agent
tracing tests/workers/bpfgen-worker.c makes the spans it makes without
TASKTAP_PAIR, field by field."""
import json
import os
import re
import subprocess
import tempfile
import unittest

from harness import Agent, run_tool, write_spec
from test_bpfgen import COMPARE, WORKER
from test_fn_share import probe_links
from test_session import normal

# hooks whose returns read no argument saved at entry: a task, filtered steps, an untracked span
SPEC = """\
targets:
  - binary: {worker}
    probes:
      - role: task
        symbol: bg_a
        key: arg0
        attributes:
          rid: u64(arg1)
          name: str(*(arg1 + 16))
        error: ret != 0
      - role: step
        symbol: bg_e
        key: arg0
        when: str(arg2) == "perf*"
        attributes:
          s: str(arg2)
      - role: step
        symbol: bg_g
        key: arg0
        when: s32(arg1 + 8) < -70001
        attributes:
          i32: s32(arg1 + 8)
      - role: span
        symbol: bg_c
        name: stack
        attributes:
          a6: arg6
          s7: str(arg7)
"""
PAIR = {"TASKTAP_PAIR": "1"}


def untraced(spans):
    """normal() less the trace ids: the span probe's root spans have a random one each run."""
    return sorted(json.dumps({k: v for k, v in s.items() if k != "trace"}, sort_keys=True)
                  for s in normal(spans))


class PairTest(unittest.TestCase):
    def test_pair_programs_capture_what_the_interpreter_does(self):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=WORKER), d)
            p = subprocess.run([COMPARE, spec, WORKER], capture_output=True, text=True,
                               timeout=120, env=dict(os.environ, **PAIR))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("could not be built", p.stderr)
        result = json.loads(p.stdout)
        self.assertEqual(result["differences"], [])
        self.assertEqual(result["events"][0], result["events"][1])
        self.assertGreater(result["events"][0], 33)
        # no function site: each hook its session link
        self.assertEqual(result["shared_sites"], 0)
        self.assertEqual(result["calls"], 0)  # two events, not one

    def test_check_verbose_prints_the_pair_programs(self):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=WORKER), d)
            rc, out, err = run_tool(["check", spec, "--verbose"], env=PAIR)
            rc_off, off, _ = run_tool(["check", spec, "--verbose"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.count("both written by one session program (TASKTAP_PAIR=1)"), 4)
        self.assertEqual(len(re.findall(r"\n  entry and return: \d+ BPF instructions\n", out)), 4)
        self.assertIn("call kfunc", out)  # bpf_session_is_return
        self.assertEqual(rc_off, 0)
        self.assertNotIn("one session program", off)

    def trace(self, env):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=WORKER), d)
            agent = Agent([spec, "--json", "--no-http"], env=env)
            self.addCleanup(agent.stop)
            agent.wait_attached()
            links = probe_links(agent.proc.pid)
            subprocess.run([WORKER], check=True, capture_output=True, timeout=60)
            self.assertEqual(agent.stop(), 0, agent.stderr())
            return agent.spans(), links

    def test_the_same_spans_with_one_link_a_hook(self):
        paired, links = self.trace(PAIR)
        before, links_before = self.trace({})
        self.assertEqual(len(links), 4, links)  # a session link a hook
        self.assertEqual(len(links_before), 8, links_before)
        self.assertGreater(len(paired), 10)
        self.assertEqual(untraced(paired), untraced(before))


if __name__ == "__main__":
    unittest.main()
