"""Hooks on one function share its uprobes (docs/architecture.md "Hooks on one
function"): every compiled two-event hook on a function joins the function's
entry site and return site, each one uprobe whose one program (tt_s<slot>_entry,
tt_s<slot>_ret, behind a dispatcher) runs every member's filter and writes only
what they keep.

A spec of 3 probes on one function of tests/workers/bpfgen-worker.c (a task, an
annotate of it, a step's begin): the agent holds 2 uprobe links for it (not 6),
and makes the spans it made with a uprobe (and a uretprobe) of each hook's own
(TASKTAP_FN_SITES=0); tests/e2e/bpfgen-compare.c compares the shared programs'
events with the generic interpreter's (a uprobe a hook), record by record;
`tasktap check --verbose` prints the shared programs."""
import json
import subprocess
import tempfile
import unittest

from harness import Agent, attrs, run_tool, write_spec
from test_bpfgen import COMPARE, WORKER
from test_python_share import uprobe_links
from test_session import normal

SPEC = """\
targets:
  - binary: {worker}
    probes:
      - role: task
        symbol: bg_d
        key: arg0
        attributes:
          a0: arg0
          result: ret @return
      - role: annotate
        of: task
        symbol: bg_d
        attributes:
          t: str(arg4) @return
      - role: step
        begin: {{ symbol: bg_d, key: arg0, when: arg0 >= 2, attributes: {{ s: str(arg2) }} }}
        end: {{ symbol: bg_e, key: arg0 }}
"""


def probe_links(pid):
    """The uprobe and uretprobe links process `pid` holds."""
    return uprobe_links(pid, ("uprobe", "uretprobe"))


# TASKTAP_FN_SITES=0: each hook a uprobe (and a uretprobe) of its own, as before
APART = {"TASKTAP_FN_SITES": "0"}


class FunctionSiteTest(unittest.TestCase):
    def run_worker(self, env, links):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=WORKER), d)
            agent = Agent([spec, "--json", "--no-http"], env=env)
            self.addCleanup(agent.stop)
            agent.wait_attached()
            links.extend(probe_links(agent.proc.pid))
            subprocess.run([WORKER], check=True, capture_output=True, timeout=60)
            self.assertEqual(agent.stop(), 0, agent.stderr())
            return agent.spans()

    def test_three_probes_hold_one_site_and_make_the_same_spans(self):
        shared, apart = [], []
        together = self.run_worker({}, shared)
        before = self.run_worker(APART, apart)
        # bg_d: one uprobe and one uretprobe for its 3 hooks (6 apart); bg_e: 1
        self.assertEqual(len(shared), 3, shared)
        self.assertEqual(len(apart), 6, apart)
        self.assertEqual(sorted(set(s["name"] for s in together)),
                         sorted(set(s["name"] for s in before)))
        self.assertIn("t", attrs([s for s in together if s["name"] == "bg_d"][0]))
        self.assertGreater(len(together), 10)
        self.assertEqual(normal(together), normal(before))

    def test_shared_programs_capture_what_the_interpreter_does(self):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=WORKER), d)
            p = subprocess.run([COMPARE, spec, WORKER], capture_output=True, text=True,
                               timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        result = json.loads(p.stdout)
        self.assertEqual(result["differences"], [])
        self.assertEqual(result["events"][0], result["events"][1])
        self.assertGreater(result["events"][0], 0)
        # bg_d's entry (3 hooks) and return (2: the step begins at the entry), bg_e's entry
        self.assertEqual(result["shared_sites"], 3)
        self.assertEqual(result["shared_members"], 6)

    def test_check_verbose_prints_the_shared_programs(self):
        with tempfile.TemporaryDirectory() as d:
            spec = write_spec(SPEC.format(worker=WORKER), d)
            rc, out, err = run_tool(["check", spec, "--verbose"])
        self.assertEqual(rc, 0, err)
        self.assertIn("shared by hooks 1, 2, 3: one uprobe and one uretprobe", out)
        self.assertEqual(out.count("shared by hooks"), 1, out)
        block = out.split("shared by hooks")[1]
        # the newest first, as the kernel ran their own uprobes
        self.assertRegex(block, r"\n  entry runs hooks 3, 2, 1: \d+ BPF instructions\n")
        self.assertRegex(block, r"\n  return runs hooks 2, 1: \d+ BPF instructions\n")


if __name__ == "__main__":
    unittest.main()
