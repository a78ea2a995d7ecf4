"""Where the Python entry program finds the running frame (bpf/python.bpf.h,
py_sites): on 3.11 and 3.12 each entry site learns, the long way (thread
state, cframe), how far from the stack pointer the interpreter loop keeps
the frame's pointer, and then reads it there; 3.13 keeps the frame in the
thread state and never learns. The worker warms the sites up with calls no
probe names, then calls the probed functions from Python, from C (map) and
recursively through C (each level in an interpreter loop of its own, deeper
on the stack): the spans must be the calls the worker made, and the agent's
py_sites must show the sites learned (3.11, 3.12) or not (3.13)."""
import json
import os
import struct
import subprocess
import tempfile
import unittest

from harness import write_spec
from test_python import need_python, trace_worker
from test_python_versions import pyenv_python

WORKER = r'''
import json, sys
def unnamed(n):
    return n + 1
def named(n):
    return n * 2
def rec(n):
    # through C: each level runs in an interpreter loop of its own
    return 0 if n == 0 else list(map(rec, [n - 1]))[0] + 1
sys.stdin.readline()
for i in range(2000):
    unnamed(i)
for i in range(50):
    named(i)
list(map(named, range(50)))
print(json.dumps({"named": 100, "rec": rec(5) + 1}), flush=True)
'''

SPEC = """\
service: python-sites
targets:
  - binary: {python}
    runtime: python
    probes:
      - role: span
        function: __main__:named
      - role: span
        function: __main__:rec
"""


def agent_map(pid, name):
    """The values of BPF map `name` that process `pid` holds, as bytes."""
    ids = set()
    fdinfo = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                for line in f:
                    if line.startswith("map_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue  # closed meanwhile
    for i in sorted(ids):
        info = json.loads(subprocess.check_output(["bpftool", "-j", "map", "show", "id", str(i)]))
        if info.get("name") == name:
            dump = subprocess.check_output(["bpftool", "-j", "map", "dump", "id", str(i)])
            return [bytes(int(b, 16) for b in e["value"]) for e in json.loads(dump)]
    raise AssertionError("process %d holds no BPF map %s" % (pid, name))


def py_site(value):
    """bpf/python.bpf.h's struct py_site from its bytes."""
    site, off, seen, unstable = struct.unpack_from("<QqII", value)
    return {"site": site, "off": off, "seen": seen, "unstable": unstable}


class FrameSitesTest(unittest.TestCase):
    def run_on(self, python):
        need_python(self, python)
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        script = os.path.join(d.name, "sites.py")
        with open(script, "w") as f:
            f.write(WORKER)
        spec = write_spec(SPEC.format(python=python), d.name)
        sites = []
        want, agent = trace_worker(self, python, spec, script, ran=lambda a: sites.extend(
            s for s in map(py_site, agent_map(a.proc.pid, "py_sites")) if s["seen"]))
        spans = agent.spans()
        named = [s for s in spans if s["name"] == "__main__:named"]
        self.assertEqual(len(named), want["named"])
        # rec(5): six calls, each through C, each the parent of the next
        recs = [s for s in spans if s["name"] == "__main__:rec"]
        self.assertEqual(len(recs), want["rec"])
        ids = {s["spanId"] for s in recs}
        self.assertEqual(len([s for s in recs if s.get("parentSpanId") not in ids]), 1)
        return sites

    def assert_learned(self, sites):
        learned = [s for s in sites if s["seen"] >= 16 and not s["unstable"]]
        self.assertTrue(learned, sites)
        self.assertFalse([s for s in sites if s["unstable"]], sites)
        # the frame's holder is in the loop's own stack frame, above the stack pointer
        self.assertTrue(all(0 <= s["off"] < 1 << 16 for s in learned), sites)

    def test_debian_311_learns(self):
        self.assert_learned(self.run_on("/usr/bin/python3.11"))

    def test_pyenv_311_learns(self):
        self.assert_learned(self.run_on(pyenv_python("3.11")))

    def test_pyenv_312_learns(self):
        self.assert_learned(self.run_on(pyenv_python("3.12")))

    def test_313_keeps_the_long_way(self):
        self.assertEqual(self.run_on(pyenv_python("3.13")), [])


if __name__ == "__main__":
    unittest.main()
