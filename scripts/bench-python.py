#!/usr/bin/env python3
"""What Python probes cost (issue 15's targets), on Debian's python3.11 or
the interpreter --python names (a pyenv build: its libpython is probed):
ns per call of a function the spec does not name and of one it names, in a
process outside the probes (untraced), in a process `match:` leaves out
while tasktap runs, and in the process it picks. A private copy of the
interpreter keeps other agents' probes out. Run as root after `make`:

    python3 scripts/bench-python.py [--calls N] [--reps N] [--python PATH] [--probes N]
                                    [--json FILE]

--probes N: the spec names N Python functions on the interpreter, the
measured one and N-1 the workload never calls (the RQ recipe has 4).
--json FILE: the figures also go to FILE (scripts/bench.sh's part 10).

Prints one line per case, min / median of the reps, and the ratios the
issue sets (unprobed call in a probed process <= 1.1x untraced; outside
match: nothing measurable; a probed call <= 2x the C floor). The C floor,
an empty uprobe+uretprobe on a C function (scripts/bench.sh part 1's (b)),
is measured in each rep beside the Python runs: a trap's cost follows the
machine's load, and a floor from another hour is no measure."""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
os.chdir(ROOT)
from harness import Agent, write_spec  # noqa: E402
import bench_run  # noqa: E402

WORKLOAD = r'''
import sys, time
def probed(n):
    return n + 1
def unprobed(n):
    return n + 1
def loop(fn, n):
    t = time.perf_counter_ns()
    for i in range(n):
        fn(i)
    return (time.perf_counter_ns() - t) / n
sys.stdin.readline()
n = int(sys.argv[2])
print(loop(unprobed, n), loop(probed, n), flush=True)
'''

SPEC = """\
targets:
  - binary: {python}
    runtime: python
    match: {{ argv: "*bench-python-calls.py picked*" }}
    probes:
      - role: span
        function: __main__:probed
"""

# the further probes of --probes: functions the workload never calls
OTHER_PROBE = """\
      - role: span
        function: __main__:absent_{i}
"""


def run(python, script, tag, calls):
    p = subprocess.Popen([python, script, tag, str(calls)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    return p


def finish(p):
    out, _ = p.communicate("go\n", timeout=600)
    unprobed, probed = (float(x) for x in out.split())
    return unprobed, probed


def c_floor_offset(d):
    """Where bench-worker's tick is probed (its offset, as tasktap check says)."""
    spec = os.path.join(d, "floor.yaml")
    with open(spec, "w") as f:
        f.write(bench_run.SPEC.format(bin=bench_run.WORKER))
    os.chmod(spec, 0o600)
    p = subprocess.run([bench_run.TASKTAP, "check", spec], capture_output=True, text=True,
                       check=True)
    m = re.search(r"tick\+(0x[0-9a-f]+)", p.stdout)
    if not m:
        raise RuntimeError("cannot read the probe offset from: " + p.stdout)
    return m.group(1)


def c_floor(offset, calls):
    """ns per call of bench-worker's tick under the empty uprobe+uretprobe."""
    tracer = bench_run.Proc([bench_run.FLOOR, bench_run.WORKER, offset], ready="attached")
    tracer.wait_ready()
    try:
        p = subprocess.run([bench_run.WORKER, "loop", str(calls), "1"], capture_output=True,
                           text=True, check=True)
    finally:
        tracer.stop()
    return bench_run.kv_lines(p.stdout)["ns_per_call"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--probes", type=int, default=1,
                    help="Python probes in the spec (1 + N-1 on functions never called)")
    ap.add_argument("--json", help="write the figures to this file as well")
    ap.add_argument("--python", help="the interpreter, used where it is (default: a private "
                    "copy of /usr/bin/python3.11)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench-python: needs root (BPF)", file=sys.stderr)
        return 1
    subprocess.run(["make", "--no-print-directory", "-s", "all", "bench-bins"], check=True)
    d = tempfile.mkdtemp()
    os.chmod(d, 0o755)
    if args.python:
        # a libpython is shared with other processes: match: keeps the probes in the picked one
        python = args.python
    else:
        python = os.path.join(d, "python3.11")
        shutil.copy("/usr/bin/python3.11", python)
    script = os.path.join(d, "bench-python-calls.py")
    with open(script, "w") as f:
        f.write(WORKLOAD)
    if args.probes < 1:
        print("bench-python: --probes must be at least 1", file=sys.stderr)
        return 2
    text = SPEC.format(python=python) + "".join(
        OTHER_PROBE.format(i=i) for i in range(1, args.probes))
    spec = write_spec(text, d)
    print("%d Python probe(s) on %s" % (args.probes, python))
    res = {"untraced": [], "outside match": [], "picked": []}
    floor = []
    offset = c_floor_offset(d)
    for _ in range(args.reps):
        floor.append(c_floor(offset, args.calls))
        res["untraced"].append(finish(run(python, script, "alone", args.calls)))
        picked = run(python, script, "picked", args.calls)
        other = run(python, script, "other", args.calls)
        agent = Agent([spec, "--json", "--no-http"])
        agent.wait_attached()
        res["outside match"].append(finish(other))
        res["picked"].append(finish(picked))
        agent.stop()
    med = {}
    out = {"python": args.python or "a private copy of /usr/bin/python3.11", "probes": args.probes,
           "calls": args.calls, "reps": args.reps, "ns_per_call": {}}
    for case, vals in res.items():
        for k, name in ((0, "unprobed call"), (1, "probed call")):
            xs = [v[k] for v in vals]
            med[(case, k)] = statistics.median(xs)
            out["ns_per_call"]["%s, %s" % (case, name)] = {"min": min(xs),
                                                          "median": statistics.median(xs)}
            print("%-14s %-14s ns/call min %8.1f  median %8.1f" % (case, name, min(xs),
                                                                  statistics.median(xs)))
    print("ratio unprobed call, picked process / untraced: %.1fx (target <= 1.1)" %
          (med[("picked", 0)] / med[("untraced", 0)]))
    print("ratio unprobed call, outside match / untraced: %.2fx (target: nothing measurable)" %
          (med[("outside match", 0)] / med[("untraced", 0)]))
    print("C floor (empty uprobe+uretprobe)       ns/call min %8.1f  median %8.1f" %
          (min(floor), statistics.median(floor)))
    print("ratio probed call, picked process / C floor: %.2fx of min, %.2fx of median "
          "(target <= 2)" % (min(x[1] for x in res["picked"]) / min(floor),
                             med[("picked", 1)] / statistics.median(floor)))
    shutil.rmtree(d, ignore_errors=True)
    out["ns_per_call"]["C floor"] = {"min": min(floor), "median": statistics.median(floor)}
    out["ratio_unprobed_picked_untraced"] = med[("picked", 0)] / med[("untraced", 0)]
    out["ratio_probed_floor_of_min"] = min(x[1] for x in res["picked"]) / min(floor)
    out["ratio_probed_floor_of_median"] = med[("picked", 1)] / statistics.median(floor)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
