#!/usr/bin/env python3
"""The benchmark of `make bench` (issue 6): run by scripts/bench.sh.

Every figure is measured side by side in one run: variants interleaved
(their order rotates each repetition), several repetitions, min and median
reported. Prints a table and writes bench/results.json.

Parts: 1 per traced call, 2 agent throughput and loss, 3 memory, 4 start-up,
5 export, plus allocation counts, 6 the task view (10k tasks in flight, 1k
recent traces: time to serve /api/tasks and /api/traces and to render them
in headless Chromium), 7 a USDT site with three probes whose filters drop
every hit, against the empty program on the site, 9 the same for a function
(three hooks on tick: a task and two begins), against the empty uprobe and
uretprobe, and against the three hooks each with uprobes of its own. Needs root (BPF);
bpftrace for (d); chromium for 6.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, ".output")
TASKTAP = os.path.join(OUT, "tasktap")
RECEIVER = os.path.join(OUT, "otlp-receiver")
BENCH = os.path.join(OUT, "bench")
WORKER = os.path.join(BENCH, "bench-worker")
FLOOR = os.path.join(BENCH, "floor")
PIPELINE = os.path.join(BENCH, "bench-pipeline")
MALLOC_COUNT = os.path.join(BENCH, "malloc-count.so")

# BEGIN fires once every probe is attached: the readiness line, not part of the measure
BPFTRACE_PROG = ("BEGIN {{ printf(\"attached\\n\"); }} "
                 "uprobe:{bin}:tick {{ @s[tid] = nsecs; }} "
                 "uretprobe:{bin}:tick /@s[tid]/ {{ @h = hist(nsecs - @s[tid]); delete(@s[tid]); }}")

# Start-up with 50 hooks (part 4): 50 functions of the 10k-symbol binary, each with captures.
HOOKS50_SPEC = """service: bench50
targets:
  - binary: {bin}
    probes:
{probes}"""
HOOKS50_PROBE = """      - role: task
        symbol: fn_{n:05d}
        key: arg0
        attributes:
          n: arg0
"""

# Names of the programs bpfgen compiles (user/bpfgen.c: tt_bpfgen__name()).
COMPILED_PROG = re.compile(r"^tt_(h\d+_(entry|ret|usdt|call|pair)|s\d+_(usdt|entry|ret|disp))$")
# (c) is tasktap's default path where the kernel has uprobe session links: one event per
# call, a uprobe session program pairing entry and return in BPF (docs/architecture.md "One
# event per call"); (f) the same agent on its two-event path (TASKTAP_SESSION=0), beside it
# (g): (f)'s two events from one session program a hook (TASKTAP_PAIR=1) instead of a uprobe and
# a uretprobe
TRACERS = ("c_tasktap", "f_two_events", "g_pair")

# Part 7: three USDT probes on one site, each filtering every hit out.
# part 8: a library: target on the worker's file, narrowed to one of two names of it (the
# symbol a glob, so that the agent does not look for copies of the "library" in other processes,
# such as another checkout's bench-worker)
NARROW_SPEC = """service: bench-narrow
targets:
  - library: {lib}
{narrowing}    probes:
      - role: task
        symbol: "tic[k]"
        key: arg0
"""

USDT3_SPEC = """service: bench-usdt
targets:
  - binary: {bin}
    probes:
      - role: span
        usdt: bench:hit
        name: a
        when: arg0 < 0
        attributes: {{i: arg0}}
      - role: publish
        usdt: bench:hit
        key: arg0
        when: arg0 < -1
      - role: consume
        usdt: bench:hit
        key: arg0
        when: arg0 < -2
"""

# Part 9: three hooks on tick (a task, two begins whose ends are never hit), each filtering every
# call out (the keys start at 1): one uprobe and one uretprobe, one program each
FN3_SPEC = """service: bench-fn
targets:
  - binary: {bin}
    probes:
      - role: task
        symbol: tick
        key: arg0
        when: arg0 == 0
        attributes: {{task.name: str(arg1)}}
      - role: step
        begin: {{symbol: tick, key: arg0, when: arg0 == 0, attributes: {{step.name: str(arg1)}}}}
        end: {{usdt: bench:hit, key: arg0}}
      - role: consume
        begin: {{symbol: tick, key: arg0, when: arg0 == 0}}
        end: {{usdt: bench:hit, key: arg0}}
"""

SPEC = """service: bench
keyspace: bench
targets:
  - binary: {bin}
    probes:
      - role: task
        symbol: tick
        key: arg0
        attributes:
          task.name: str(arg1)
        error: ret != 0
"""


# part 6: a worker that finishes N tasks, then leaves M open (begin/end, paired by key)
VIEW_WORKER = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static volatile uint64_t sink;
__attribute__((noinline)) void begin_task(uint64_t k, const char *n) { asm volatile("" : : "r"(n)); sink += k; }
__attribute__((noinline)) void end_task(uint64_t k) { sink += k; }
__attribute__((noinline)) int step(uint64_t k, const char *n, int fail) { asm volatile("" : : "r"(n)); sink += k; return fail ? -1 : 0; }
static void pause_ms(int ms) { struct timespec ts = {0, ms * 1000000L}; nanosleep(&ts, NULL); }
int main(int argc, char **argv)
{
	int done = atoi(argv[1]), open = atoi(argv[2]);
	const char *names[] = {"CreateZip", "Thumbnail", "SendMail", "Reindex"};
	for (int i = 0; i < done; i++) {
		begin_task(i + 1, names[i % 4]);
		step(i + 1, "Fetch", 0);
		step(i + 1, "Store", i % 10 == 0);
		end_task(i + 1);
		if (i % 200 == 199) pause_ms(20); /* the ring buffer drains on a timer */
	}
	for (int i = 0; i < open; i++) {
		begin_task(1000000 + i, names[i % 4]);
		step(1000000 + i, "Fetch", 0);
		if (i % 500 == 499) pause_ms(20);
	}
	printf("ready\n");
	fflush(stdout);
	pause();
	return 0;
}
"""

VIEW_SPEC = """service: view-bench
keyspace: view
targets:
  - binary: {bin}
    probes:
      - role: task
        begin: {{ symbol: begin_task, key: arg0, attributes: {{ task.name: str(arg1) }} }}
        end: {{ symbol: end_task, key: arg0 }}
      - role: step
        symbol: step
        key: arg0
        attributes:
          step.name: str(arg1)
        error: ret != 0
"""

STOP_TIMEOUTS = []  # processes that ignored their stop signal


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def urllib_open(url):
    import urllib.request
    return urllib.request.urlopen(url, timeout=30)


def kv_lines(text):
    """'name value' lines into a dict of floats (other lines ignored)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


def prog_ids_of(pid):
    """Ids of the BPF programs process pid holds (its fds), from /proc/PID/fdinfo."""
    ids = set()
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values),
            "n": len(values), "values": values}


def taskset(cpu):
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


class Proc:
    """A background process whose stderr (or stdout) is read line by line."""

    def __init__(self, argv, env=None, ready=None, stream="stderr", cpu=None):
        self.lines = []
        self.ready_ev = threading.Event()
        self.ready = ready
        kw = {"stdout": subprocess.PIPE, "stderr": subprocess.DEVNULL} if stream == "stdout" \
            else {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(taskset(cpu) + argv, text=True,
                                     env=dict(os.environ, **(env or {})), **kw)
        self.ready_at = None
        pipe = self.proc.stdout if stream == "stdout" else self.proc.stderr
        self.reader = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.reader.start()

    def _read(self, pipe):
        for line in pipe:
            self.lines.append(line.rstrip("\n"))
            if self.ready and self.ready in line and not self.ready_ev.is_set():
                self.ready_at = time.monotonic()
                self.ready_ev.set()
        self.ready_ev.set()

    def wait_ready(self, timeout=60):
        if not self.ready_ev.wait(timeout) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("%s did not start:\n%s" % (self.proc.args, "\n".join(self.lines)))
        return self.ready_at - self.t0

    def cpu_ns(self):
        """Run time of every thread of the process (schedstat), in ns."""
        total = 0
        base = "/proc/%d/task" % self.proc.pid
        try:
            for tid in os.listdir(base):
                with open(os.path.join(base, tid, "schedstat")) as f:
                    total += int(f.read().split()[0])
        except OSError:
            pass
        return total

    def rss_kb(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def stop(self, sig=signal.SIGINT, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            STOP_TIMEOUTS.append(" ".join(self.proc.args[:3]))
            log("%s did not stop within %d s: killed" % (self.proc.args[:3], timeout))
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        return "\n".join(self.lines)


class Receiver(Proc):
    def __init__(self, cpu=None, count_only=False, extra=()):
        self.port = free_port()
        super().__init__([RECEIVER, "--port", str(self.port)] +
                         (["--count-only"] if count_only else []) + list(extra),
                         ready="listening",
                         stream="stdout", cpu=cpu)
        self.wait_ready()


def agent_summary(text):
    """The figures of tasktap's closing lines."""
    out = {}
    m = re.search(r"(\d+) spans, (\d+) events, (\d+) lost", text)
    if m:
        out.update(spans=int(m.group(1)), events=int(m.group(2)), lost=int(m.group(3)))
    m = re.search(r"otlp: (\d+) spans exported, (\d+) in the spool \(\d+ batches\), (\d+) "
                  r"dropped \(([^)]*)\)", text)
    if m:
        out.update(exported=int(m.group(1)), spooled=int(m.group(2)), dropped=int(m.group(3)))
        # "queue_full 0, spool_full 0, ...": every reason, named as /metrics names it
        out["dropped_by"] = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", m.group(4))}
    return out


def ledger(s):
    """What became of the spans the worker made (one a call): lost before the agent
    made them (events lost in the rings), exported (the receiver's own count, which
    must equal the agent's), still in the spool, or dropped by reason. Returns
    (text, ok): ok when produced == lost + exported + spooled + dropped, the agent's
    exported count is the receiver's, and nothing is lost when no event was."""
    produced = int(s.get("worker", {}).get("calls", 0))
    spans, exported = s.get("spans"), s.get("exported")
    if spans is None or exported is None:
        return "no figures", False
    lost = produced - spans
    spooled, dropped = s.get("spooled", 0), s.get("dropped", 0)
    ok = (lost + exported + spooled + dropped == produced and
          s.get("receiver_spans") == exported and (lost == 0 or s.get("lost", 0) > 0))
    why = ", ".join("%s %d" % (k, v) for k, v in s.get("dropped_by", {}).items() if v)
    text = ("produced %d = lost %d (ring: %s events) + exported %d (receiver counted %s) + "
            "spooled %d + dropped %d%s: %s"
            % (produced, lost, s.get("lost"), exported, s.get("receiver_spans"), spooled,
               dropped, " (%s)" % why if why else "", "ok" if ok else "MISMATCH"))
    return text, ok


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.tmp = tempfile.mkdtemp(prefix="tasktap-bench-")
        self.spec = os.path.join(self.tmp, "bench.yaml")
        with open(self.spec, "w") as f:
            f.write(SPEC.format(bin=WORKER))
        os.chmod(self.spec, 0o600)
        self.results = {"quick": self.quick, "host": {}, "notes": []}
        self.offset = self.probe_offset(self.spec)

    def note(self, msg):
        self.results["notes"].append(msg)
        log(msg)

    def probe_offset(self, spec):
        p = subprocess.run([TASKTAP, "check", spec], capture_output=True, text=True, check=True)
        m = re.search(r"tick\+(0x[0-9a-f]+)", p.stdout)
        if not m:
            raise RuntimeError("cannot read the probe offset from: " + p.stdout)
        return m.group(1)

    # ---- tracers -----------------------------------------------------------

    def start_tracer(self, variant, cpu=None, receiver=None, env=None, spool=None):
        if variant == "a_none":
            return None
        if variant == "b_floor":
            p = Proc([FLOOR, WORKER, self.offset], ready="attached", cpu=cpu)
        elif variant == "e_ring":
            p = Proc([FLOOR, "--ring", WORKER, self.offset], ready="attached", cpu=cpu)
        elif variant == "d_bpftrace":
            p = Proc(["bpftrace", "-e", BPFTRACE_PROG.format(bin=WORKER)],
                     ready="attached", stream="stdout", cpu=cpu)
        elif variant in TRACERS:
            e = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % receiver.port,
                 "OTEL_BSP_SCHEDULE_DELAY": "100"}
            # (c) the default path, whatever the environment says; (f) and (g) turned off
            e["TASKTAP_SESSION"] = "1" if variant == "c_tasktap" else "0"
            if variant == "g_pair":
                e["TASKTAP_PAIR"] = "1"
            e.update(env or {})
            # a free port: other agents on the machine may hold 9464
            p = Proc([TASKTAP, "run", self.spec, "--http", "127.0.0.1:0"] +
                     (["--spool", spool] if spool else ["--no-spool"]), env=e, ready="attached",
                     cpu=cpu)
        else:
            raise ValueError(variant)
        p.wait_ready()
        return p

    def worker(self, args, cpu=None, env=None):
        p = subprocess.run(taskset(cpu) + [WORKER] + args, capture_output=True, text=True,
                           check=True, env=dict(os.environ, **(env or {})))
        return kv_lines(p.stdout)

    # ---- part 1 ------------------------------------------------------------

    def part1(self):
        variants = ["a_none", "b_floor", "c_tasktap", "d_bpftrace", "e_ring", "f_two_events",
                    "g_pair"]
        if not shutil.which("bpftrace"):
            variants.remove("d_bpftrace")
            self.note("bpftrace not found: (d) skipped (scripts/install-deps.sh installs it)")
        calls = 50000 if self.quick else 400000
        reps = self.args.reps or (1 if self.quick else 5)
        runs = {v: {1: [], 2: []} for v in variants}
        health = []
        log("part 1: per traced call, %d reps x %d variants, %d calls per thread"
            % (reps, len(variants), calls))
        for rep in range(reps):
            order = variants[rep % len(variants):] + variants[:rep % len(variants)]
            for v in order:
                rec = Receiver() if v in TRACERS else None
                tracer = self.start_tracer(v, receiver=rec)
                for threads in (1, 2):
                    r = self.worker(["loop", str(calls), str(threads)])
                    runs[v][threads].append(r["ns_per_call"])
                if tracer:
                    time.sleep(0.3)  # the agent drains and exports what is left
                    text = tracer.stop()
                    if v in TRACERS:
                        s = agent_summary(text)
                        s["offered_spans"] = 3 * calls
                        s["variant"] = v
                        health.append(s)
                if rec:
                    rec.stop(signal.SIGTERM)
        out = {"calls_per_thread": calls, "reps": reps, "ns_per_call": {}, "ratios": {}}
        for v in variants:
            out["ns_per_call"][v] = {str(t): stats(runs[v][t]) for t in (1, 2)}
        for t in (1, 2):
            for num, den in (("c_tasktap", "b_floor"), ("c_tasktap", "d_bpftrace"),
                             ("e_ring", "b_floor"), ("d_bpftrace", "b_floor"),
                             ("f_two_events", "b_floor"), ("f_two_events", "d_bpftrace"),
                             ("f_two_events", "c_tasktap"), ("g_pair", "f_two_events")):
                if num not in runs or den not in runs:
                    continue
                a, b = runs[num][t], runs[den][t]
                per_rep = [x / y for x, y in zip(a, b)]
                out["ratios"]["%s/%s@%d" % (num[0], den[0], t)] = {
                    "of_min": min(a) / min(b), "of_median": statistics.median(a) / statistics.median(b),
                    "per_rep": stats(per_rep)}
        out["tasktap_runs"] = health
        self.results["part1"] = out
        self.part1_bpf_cost(calls)

    def part1_bpf_cost(self, calls):
        """One untimed pass with kernel.bpf_stats_enabled: ns per program run."""
        path = "/proc/sys/kernel/bpf_stats_enabled"
        try:
            with open(path) as f:
                old = f.read().strip()
            with open(path, "w") as f:
                f.write("1")
        except OSError:
            self.note("cannot enable bpf_stats: BPF program cost not measured")
            return
        cost = {}
        try:
            for v, names in (("b_floor", ("floor_entry", "floor_return")),
                             ("e_ring", ("ring_entry", "ring_return")),
                             ("c_tasktap", ()),
                             ("f_two_events", ("tt_entry", "tt_return")), ("g_pair", ())):
                rec = Receiver() if v in TRACERS else None
                tracer = self.start_tracer(v, receiver=rec)
                self.worker(["loop", str(calls), "1"])
                show = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                                      text=True).stdout
                mine = prog_ids_of(tracer.proc.pid)
                for prog in json.loads(show or "[]"):
                    name = prog.get("name", "")
                    # tasktap's compiled programs are named tt_h<hook>_<kind> (user/bpfgen.c);
                    # only this tracer's: other agents on the machine have the same names
                    if (name in names or (v in TRACERS and COMPILED_PROG.match(name))) \
                            and prog.get("run_cnt") and prog["id"] in mine:
                        cost["%s.%s" % (v, name)] = prog["run_time_ns"] / prog["run_cnt"]
                tracer.stop()
                if rec:
                    rec.stop(signal.SIGTERM)
        finally:
            with open(path, "w") as f:
                f.write(old)
        self.results["part1"]["bpf_ns_per_run"] = cost

    # ---- part 7: a USDT site with three filtered-out probes ---------------------

    def part7(self):
        """bench-worker usdt: no probe; the empty program on the site (floor --entry);
        tasktap with three probes on the site whose filters drop every hit."""
        self.results["part7"] = self.filtered_site(
            "part 7: a USDT site with 3 filtered-out probes", USDT3_SPEC, ["usdt"],
            r"\n  site (0x[0-9a-f]+) ", ["--entry"], {})

    def part9(self):
        """bench-worker loop: no probe; the empty uprobe and uretprobe on tick (floor);
        tasktap with three hooks on tick whose filters drop every call, sharing the
        function's uprobes (tasktap3), and each with its own (TASKTAP_FN_SITES=0)."""
        self.results["part9"] = self.filtered_site(
            "part 9: a function with 3 filtered-out hooks", FN3_SPEC, ["loop"],
            r"\ntick\+(0x[0-9a-f]+) ", [], {"apart3": {"TASKTAP_FN_SITES": "0"}})

    def filtered_site(self, what, spec_text, worker_args, offset_re, floor_args, more):
        """A site with three probes that filter every hit out, against no probe and the
        empty program (floor) on it; `more`: tasktap variants with their environments."""
        spec = os.path.join(self.tmp, "filtered.yaml")
        with open(spec, "w") as f:
            f.write(spec_text.format(bin=WORKER))
        os.chmod(spec, 0o600)
        out = subprocess.run([TASKTAP, "check", spec, "--verbose"], capture_output=True,
                             text=True, check=True).stdout
        offset = re.search(offset_re, out).group(1)
        calls = 200000 if self.quick else 1000000
        reps = self.args.reps or (1 if self.quick else 5)
        agents = dict({"tasktap3": {}}, **more)
        variants = ["none", "floor"] + list(agents)
        runs = {v: [] for v in variants}
        self.site_cost = {}
        log("%s, %d reps x %d calls" % (what, reps, calls))
        for rep in range(reps):
            k = rep % len(variants)
            for v in variants[k:] + variants[:k]:
                p = None
                if v == "floor":
                    p = Proc([FLOOR] + floor_args + [WORKER, offset], ready="attached")
                elif v in agents:
                    p = Proc([TASKTAP, "run", spec, "--no-http", "--no-spool"], ready="attached",
                             env=agents[v])
                if p:
                    p.wait_ready()
                runs[v].append(self.worker(worker_args + [str(calls)])["ns_per_call"])
                if v == "tasktap3":
                    self.site_bpf_cost(worker_args + [str(calls)], p.proc.pid)
                if p:
                    p.stop()
        res = {"calls": calls, "reps": reps,
               "ns_per_call": {v: stats(runs[v]) for v in variants},
               "ratio_of_min": min(runs["tasktap3"]) / min(runs["floor"]),
               "ratio_of_median": statistics.median(runs["tasktap3"]) /
               statistics.median(runs["floor"])}
        res["bpf_ns_per_run"] = self.site_cost
        return res

    # ---- part 8: narrowing ----------------------------------------------------

    def part10(self):
        """Python probes (issue 15): scripts/bench-python.py on Debian's python3.11, a call the
        spec does not name and one it names, beside the C floor measured in the same reps."""
        calls = 20000 if self.quick else 100000
        reps = self.args.reps or (1 if self.quick else 3)
        out = os.path.join(self.tmp, "python.json")
        log("part 10: Python probes, %d reps, %d calls" % (reps, calls))
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench-python.py"),
                        "--reps", str(reps), "--calls", str(calls), "--json", out],
                       check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            self.results["part10"] = json.load(f)

    def part8(self):
        """Two names of one file (hard links, so one inode: per-file probes reach both),
        bench-meant and bench-other: a tight loop in bench-other with no agent, with tasktap
        attached to the file narrowed to comm bench-meant, and attached to the whole file;
        and bench-meant's loop when narrowed to it."""
        names = {}
        for n in ("bench-meant", "bench-other"):
            names[n] = os.path.join(BENCH, n)
            if os.path.exists(names[n]):
                os.unlink(names[n])
            os.link(WORKER, names[n])
        specs = {}
        for v, narrowing in (("narrowed", "    comm: bench-meant\n"), ("per_file", "")):
            specs[v] = os.path.join(self.tmp, "narrow-%s.yaml" % v)
            with open(specs[v], "w") as f:
                f.write(NARROW_SPEC.format(lib=WORKER, narrowing=narrowing))
            os.chmod(specs[v], 0o600)
        calls = 50000 if self.quick else 400000
        reps = self.args.reps or (1 if self.quick else 5)
        variants = ["none", "narrowed", "per_file"]
        runs = {v: [] for v in variants}
        meant = []
        log("part 8: narrowing, %d reps x %d calls" % (reps, calls))
        for rep in range(reps):
            for v in variants[rep % 3:] + variants[:rep % 3]:
                p = None
                if v != "none":
                    p = Proc([TASKTAP, "run", specs[v], "--no-http", "--no-spool", "--json"],
                             ready="attached")
                    p.wait_ready()
                r = subprocess.run([names["bench-other"], "loop", str(calls), "1"],
                                   capture_output=True, text=True, check=True)
                runs[v].append(kv_lines(r.stdout)["ns_per_call"])
                if v == "narrowed":
                    r = subprocess.run([names["bench-meant"], "loop", str(calls), "1"],
                                       capture_output=True, text=True, check=True)
                    meant.append(kv_lines(r.stdout)["ns_per_call"])
                if p:
                    p.stop()
        for n in names.values():
            os.unlink(n)
        self.results["part8"] = {"calls": calls, "reps": reps,
                                 "other_ns_per_call": {v: stats(runs[v]) for v in variants},
                                 "meant_ns_per_call": stats(meant)}

    def site_bpf_cost(self, worker_args, pid):
        """ns per run of the site's compiled programs, once, with bpf_stats (untimed)."""
        if self.site_cost:
            return
        path = "/proc/sys/kernel/bpf_stats_enabled"
        try:
            with open(path) as f:
                old = f.read().strip()
            with open(path, "w") as f:
                f.write("1")
        except OSError:
            return
        try:
            self.worker(worker_args)
            show = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                                  text=True).stdout
            mine = prog_ids_of(pid)
            self.site_cost = {p["name"]: p["run_time_ns"] / p["run_cnt"]
                              for p in json.loads(show or "[]")
                              if COMPILED_PROG.match(p.get("name", "")) and p.get("run_cnt")
                              and p["id"] in mine}
        finally:
            with open(path, "w") as f:
                f.write(old)

    # ---- part 2 ------------------------------------------------------------

    def agent_run(self, worker_args, agent_env=None, spool=False, receiver_args=()):
        """Agent on CPU 0; the worker and the receiver on CPU 1 (two cores: the
        receiver cannot have one of its own; it only decodes and counts, so that
        it is not the bottleneck). Returns figures. With `spool`, the exporter
        spills to a spool directory instead of running without one."""
        rec = Receiver(cpu=1, count_only=True, extra=receiver_args)
        sdir = tempfile.mkdtemp(prefix="spool-", dir=self.tmp) if spool else None
        agent = self.start_tracer("c_tasktap", cpu=0, receiver=rec, env=agent_env, spool=sdir)
        cpu0 = agent.cpu_ns()
        rcpu0 = rec.cpu_ns()
        t0 = time.monotonic()
        w = self.worker(worker_args, cpu=1)
        wall = time.monotonic() - t0
        time.sleep(0.3)  # past the 10 ms reorder slack and the 100 ms batch delay
        cpu = agent.cpu_ns() - cpu0
        rcpu = rec.cpu_ns() - rcpu0
        rss = agent.rss_kb()
        s = agent_summary(agent.stop())
        try:
            with urllib_open("http://127.0.0.1:%d/stats" % rec.port) as r:
                s["receiver_spans"] = json.loads(r.read().decode()).get("spans")
        except OSError:
            pass
        rec.stop(signal.SIGTERM)
        s.update(worker=w, agent_cpu_s=cpu / 1e9, wall_s=wall, agent_rss_kb=rss,
                 receiver_cpu_s=rcpu / 1e9)
        if s.get("events") and cpu > 0:
            s["events_per_agent_cpu_s"] = s["events"] / (cpu / 1e9)
            s["spans_per_agent_cpu_s"] = s["spans"] / (cpu / 1e9)
            s["events_per_s_offered"] = s["events"] / wall
        return s

    def part2(self):
        calls = 200000 if self.quick else 1000000
        log("part 2: agent throughput (agent on CPU 0, target on CPU 1)")
        out = {"max_rate": [], "rates": {}}
        for _ in range(1 if self.quick else 3):
            out["max_rate"].append(self.agent_run(["loop", str(calls), "1"]))
        seconds = 0.5 if self.quick else 3
        for rate in (100000, 500000, 1000000):
            s = self.agent_run(["rate", str(rate), str(seconds)])
            s["offered_events_per_s"] = rate
            s["achieved_events_per_s"] = s["worker"].get("events_per_s")
            s["agent_cpu_share"] = s["agent_cpu_s"] / s["wall_s"]
            out["rates"][str(rate)] = s
        # the exporter as it runs by default: a spool to spill to; a receiver that only counts
        out["spool_rates"] = {}
        for rate in (500000, 1000000):
            s = self.agent_run(["rate", str(rate), str(seconds)], spool=True)
            s["offered_events_per_s"] = rate
            s["achieved_events_per_s"] = s["worker"].get("events_per_s")
            s["agent_cpu_share"] = s["agent_cpu_s"] / s["wall_s"]
            out["spool_rates"][str(rate)] = s
        # a collector slower than the spans come (20 ms a request): the spool takes the rest
        s = self.agent_run(["rate", "500000", str(seconds)], spool=True,
                           receiver_args=["--delay", "20"])
        s["offered_events_per_s"] = 500000
        s["achieved_events_per_s"] = s["worker"].get("events_per_s")
        s["agent_cpu_share"] = s["agent_cpu_s"] / s["wall_s"]
        out["slow_receiver"] = {"500000": s}
        self.results["part2"] = out

    # ---- offline pipeline (parts 2, 3, 5) ----------------------------------

    def pipeline(self, args, preload=False):
        env = dict(os.environ)
        if preload:
            env["LD_PRELOAD"] = MALLOC_COUNT
        p = subprocess.run(taskset(0) + [PIPELINE] + args, capture_output=True, text=True,
                           check=True, env=env)
        return kv_lines(p.stdout), p.stdout

    def offline(self):
        spans = 50000 if self.quick else 1000000
        reps = 1 if self.quick else 3
        log("parts 2, 3, 5 offline: the pipeline without BPF, one core")
        tp = [self.pipeline(["throughput", str(spans)])[0] for _ in range(reps)]
        enc = [self.pipeline(["encode", str(spans)])[0] for _ in range(reps)]
        keys = [k for k in tp[0] if k.endswith("_spans_per_s")]
        self.results["offline_throughput"] = {k: stats([r[k] for r in tp]) for k in keys}
        self.results["offline_throughput"]["ns_per_span"] = {
            k: stats([r[k] for r in tp]) for k in tp[0] if k.endswith("_ns_per_span")}
        self.results["export"] = {k: stats([r[k] for r in enc]) for k in enc[0]
                                  if k.endswith("_spans_per_s") or k.endswith("_bytes_per_span")}
        allocs, _ = self.pipeline(["throughput", str(spans // 4)], preload=True)
        allocs_enc, _ = self.pipeline(["encode", str(spans // 4)], preload=True)
        self.results["allocs_per_span_offline"] = {
            k: v for k, v in list(allocs.items()) + list(allocs_enc.items())
            if k.endswith("_allocs_per_span")}
        mem, _ = self.pipeline(["memory", "10000", "100000"])
        self.results["memory"] = mem
        self.results["console"] = {
            n: self.pipeline(["console", str(n)])[0] for n in (10000, 100000)}
        steady, text = self.pipeline(["steady", str(1000000 if self.quick else 10000000)])
        self.results["steady"] = steady
        self.results["steady_lines"] = [l for l in text.splitlines() if l.startswith("steady_")
                                        and "rss_kb" in l and l.count(" ") > 2]

    # ---- allocations in the live agent -------------------------------------

    def live_allocs(self):
        log("allocations: the live agent under malloc-count, two run lengths")
        counts = []
        for calls in ((20000, 60000) if self.quick else (100000, 300000)):
            rec = Receiver()
            agent = self.start_tracer("c_tasktap", receiver=rec,
                                      env={"LD_PRELOAD": MALLOC_COUNT})
            # paced, so that nothing is dropped and every span is queued and encoded
            self.worker(["rate", str(200000), str(calls / 100000.0)])
            time.sleep(0.3)
            text = agent.stop()
            rec.stop(signal.SIGTERM)
            m = re.search(r"malloc-count: allocs (\d+) frees (\d+) bytes (\d+)", text)
            s = agent_summary(text)
            if m:
                counts.append((s.get("spans", 0), int(m.group(1)), s.get("exported", 0)))
        if len(counts) == 2 and counts[1][0] > counts[0][0]:
            (s1, a1, _), (s2, a2, _) = counts
            self.results["allocs_live"] = {
                "runs": [{"spans": s, "allocs": a, "exported": x} for s, a, x in counts],
                "allocs_per_span": (a2 - a1) / (s2 - s1)}

    # ---- part 4 ------------------------------------------------------------

    def syms10k(self):
        exe = os.path.join(BENCH, "syms10k")
        if os.path.exists(exe):
            return exe
        src = os.path.join(self.tmp, "syms10k.c")
        with open(src, "w") as f:
            f.write("#include <stdint.h>\n#include <unistd.h>\n")
            f.write("static volatile uint64_t sink;\n")
            for i in range(10000):
                f.write("__attribute__((noinline)) void fn_%05d(uint64_t x) "
                        "{ sink += x + %d; }\n" % (i, i))
            f.write("__attribute__((noinline)) int tick(uint64_t k, const char *n) "
                    "{ asm volatile(\"\" : : \"r\"(n)); sink += k; return 0; }\n")
            f.write("int main(void) { tick(1, \"x\"); pause(); return 0; }\n")
        subprocess.run(["cc", "-O1", "-fno-omit-frame-pointer", src, "-o", exe], check=True)
        return exe

    def part4(self):
        reps = 1 if self.quick else 5
        log("part 4: start-up")
        w = subprocess.Popen([WORKER, "wait"], stdout=subprocess.PIPE, text=True)
        pid = int(w.stdout.readline().split()[1])
        big = self.syms10k()
        nsyms = int(subprocess.run("nm %s | wc -l" % big, shell=True, capture_output=True,
                                   text=True).stdout)
        big_spec = os.path.join(self.tmp, "big.yaml")
        with open(big_spec, "w") as f:
            f.write(SPEC.format(bin=big))
        os.chmod(big_spec, 0o600)
        hooks50 = os.path.join(self.tmp, "hooks50.yaml")
        with open(hooks50, "w") as f:
            f.write(HOOKS50_SPEC.format(bin=big, probes="".join(
                HOOKS50_PROBE.format(n=n) for n in range(50))))
        os.chmod(hooks50, 0o600)
        res = {"attach_pid_s": [], "attach_10k_syms_s": [], "check_10k_syms_s": [],
               "attach_demo_s": [], "attach_50_hooks_s": [], "stop_demo_s": [],
               "stop_50_hooks_s": [],
               "floor_attach_s": [], "bpftrace_attach_s": []}
        for _ in range(reps):
            # the demo spec (2 hooks with captures and returns) and 50 hooks, to "attached"
            a = Proc([TASKTAP, "run", os.path.join(ROOT, "recipes", "demo-worker.yaml"),
                      "--no-http"], ready="attached")
            res["attach_demo_s"].append(a.wait_ready())
            t0 = time.monotonic()
            a.stop(timeout=120)
            res["stop_demo_s"].append(time.monotonic() - t0)
            a = Proc([TASKTAP, "run", hooks50, "--no-http"], ready="attached")
            res["attach_50_hooks_s"].append(a.wait_ready())
            # from SIGINT to exit: every probe detached (each close waits for grace periods)
            t0 = time.monotonic()
            a.stop(timeout=120)
            res["stop_50_hooks_s"].append(time.monotonic() - t0)
            a = Proc([TASKTAP, "run", self.spec, "--pid", str(pid), "--http", "127.0.0.1:0"],
                     ready="attached")
            res["attach_pid_s"].append(a.wait_ready())
            a.stop()
            a = Proc([TASKTAP, "run", big_spec, "--http", "127.0.0.1:0"], ready="attached")
            res["attach_10k_syms_s"].append(a.wait_ready())
            a.stop()
            t0 = time.monotonic()
            subprocess.run([TASKTAP, "check", big_spec], capture_output=True, check=True)
            res["check_10k_syms_s"].append(time.monotonic() - t0)
            a = Proc([FLOOR, WORKER, self.offset], ready="attached")
            res["floor_attach_s"].append(a.wait_ready())
            a.stop()
            if shutil.which("bpftrace"):
                a = Proc(["bpftrace", "-e", BPFTRACE_PROG.format(bin=WORKER)],
                         ready="attached", stream="stdout")
                res["bpftrace_attach_s"].append(a.wait_ready())
                a.stop()
        w.send_signal(signal.SIGTERM)
        w.wait()
        out = {k: stats(v) for k, v in res.items() if v}
        out["symbols_in_big_binary"] = nsyms
        self.results["part4"] = out

    # ---- part 6: the task view -----------------------------------------------

    def http_ms(self, url, reps):
        """Median and max milliseconds to GET url (whole body read), and its size."""
        import urllib.request
        times, size = [], 0
        for _ in range(reps):
            t0 = time.monotonic()
            with urllib.request.urlopen(url, timeout=30) as r:
                size = len(r.read())
            times.append((time.monotonic() - t0) * 1e3)
        return {"median_ms": statistics.median(times), "max_ms": max(times), "bytes": size}

    def part6(self):
        sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
        from browser import Browser
        n_open, n_done = 10000, 1000
        reps = 3 if self.quick else 10
        log("part 6: the task view, %d tasks in flight, %d recent traces" % (n_open, n_done))
        exe = os.path.join(BENCH, "view-worker")
        src = os.path.join(self.tmp, "view-worker.c")
        with open(src, "w") as f:
            f.write(VIEW_WORKER)
        subprocess.run(["cc", "-O1", "-fno-omit-frame-pointer", src, "-o", exe], check=True)
        spec = os.path.join(self.tmp, "view.yaml")
        with open(spec, "w") as f:
            f.write(VIEW_SPEC.format(bin=exe))
        os.chmod(spec, 0o600)
        port = free_port()
        base = "http://127.0.0.1:%d" % port
        # --json: the console holds the finished steps of open tasks to print their trees
        agent = Proc([TASKTAP, "run", spec, "--json", "--http", "127.0.0.1:%d" % port,
                      "--recent-traces", str(n_done), "--ring-size", str(8 << 20)],
                     ready="attached")
        agent.wait_ready()
        w = subprocess.Popen([exe, str(n_done), str(n_open)], stdout=subprocess.PIPE, text=True)
        res = {}
        try:
            w.stdout.readline()
            end = time.monotonic() + 60
            counts = (0, 0)
            while time.monotonic() < end:
                with urllib_open(base + "/api/tasks?limit=1") as r:
                    tasks = json.loads(r.read())["count"]
                with urllib_open(base + "/api/traces?limit=1") as r:
                    kept = json.loads(r.read())["kept"]
                counts = (tasks, kept)
                if counts == (n_open, n_done):
                    break
                time.sleep(0.2)
            res["in_flight"], res["recent"] = counts
            if counts != (n_open, n_done):
                self.note("part 6: the agent saw %d tasks in flight and %d traces, not %d and %d"
                          % (counts[0], counts[1], n_open, n_done))
            res["api_tasks_all"] = self.http_ms(base + "/api/tasks?limit=100000", reps)
            res["api_tasks_page"] = self.http_ms(base + "/api/tasks?limit=1000", reps)
            res["api_traces_all"] = self.http_ms(base + "/api/traces?limit=1000", reps)
            res["api_traces_page"] = self.http_ms(base + "/api/traces?limit=200", reps)
            with urllib_open(base + "/api/traces?limit=1") as r:
                tid = json.loads(r.read())["traces"][0]["trace_id"]
            res["api_trace"] = self.http_ms(base + "/api/traces/" + tid, reps)
            with urllib_open(base + "/metrics") as r:
                m = re.search(r"^tasktap_view_memory_bytes (\d+)", r.read().decode(), re.M)
                res["ring_bytes"] = int(m.group(1)) if m else None
            if shutil.which("chromium"):
                res.update(self.view_render(Browser, base, reps))
            else:
                self.note("part 6: chromium is not installed: no render times")
        finally:
            w.kill()
            w.wait()
            agent.stop()
        self.results["view"] = res

    def view_render(self, Browser, base, reps):
        """Milliseconds from asking for a view to its rows in the page (fetch and render,
        as the page measures them), and a round trip to the page while it refreshes."""
        out = {"render_tasks_ms": [], "render_traces_ms": [], "page_roundtrip_ms": []}
        with Browser(width=1280, height=800, timeout=60) as b:
            for i in range(reps):
                for view, key in (("tasks", "Tasks"), ("traces", "Traces")):
                    b.navigate("about:blank")  # a fresh load each time
                    b.navigate(base + "/#/" + view)
                    v = b.wait_for("document.documentElement.dataset.render%s" % key,
                                   timeout=60, what="the %s view" % view)
                    out["render_%s_ms" % view].append(float(v))
                    t0 = time.monotonic()
                    b.eval("1")
                    out["page_roundtrip_ms"].append((time.monotonic() - t0) * 1e3)
        return {k: stats(v) if isinstance(v, list) else v for k, v in out.items()}

    def run(self):
        self.results["host"] = {"cpus": os.cpu_count(), "kernel": os.uname().release,
                                "loadavg_start": os.getloadavg()}
        t0 = time.monotonic()
        parts = self.args.parts.split(",")
        timing = self.results["part_seconds"] = {}

        def timed(name, fn):
            t = time.monotonic()
            fn()
            timing[name] = round(time.monotonic() - t, 1)

        try:
            if "1" in parts:
                timed("part1", self.part1)
            if "2" in parts:
                timed("part2", self.part2)
            if "3" in parts or "5" in parts:
                timed("offline", self.offline)
                timed("allocs_live", self.live_allocs)
            if "4" in parts:
                timed("part4", self.part4)
            if "6" in parts:
                timed("part6", self.part6)
            if "8" in parts:
                timed("part8", self.part8)
            if "7" in parts:
                timed("part7", self.part7)
            if "9" in parts:
                timed("part9", self.part9)
            if "10" in parts:
                timed("part10", self.part10)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        for what in STOP_TIMEOUTS:
            self.note("did not stop on its signal, killed: " + what)
        self.results["host"]["loadavg_end"] = os.getloadavg()
        self.results["seconds"] = time.monotonic() - t0
        return self.results


# ---- the table ------------------------------------------------------------

def verdict(ok):
    return "ok" if ok else "MISSED"


def fmt_rate(v):
    return "%.2fM" % (v / 1e6) if v >= 1e6 else "%.0fk" % (v / 1e3)


def filtered_site_rows(add, p, title, rows):
    """Part 7's or part 9's rows (Bench.filtered_site()): each variant, the ratio, bpf_stats."""
    if not p:
        return
    add("%s; min / median of %d reps, %d calls)" % (title, p["reps"], p["calls"]))
    for v, name in rows:
        st = p["ns_per_call"][v]
        add("   %-42s %8.1f / %8.1f" % (name, st["min"], st["median"]))
    add("   ratio tasktap/empty (of min / of median) %5.2f / %5.2f  target <= 1.2: %s"
        % (p["ratio_of_min"], p["ratio_of_median"], verdict(p["ratio_of_median"] <= 1.2)))
    if p.get("bpf_ns_per_run"):
        add("   BPF run time per program run (bpf_stats): " + ", ".join(
            "%s %.0f ns" % (k, v) for k, v in sorted(p["bpf_ns_per_run"].items())))


def table(r):
    lines = []
    add = lines.append
    p1 = r.get("part1")
    if p1:
        add("1. per traced call (ns/call; min / median of %d reps, %d calls per thread)"
            % (p1["reps"], p1["calls_per_thread"]))
        names = {"a_none": "(a) no probe", "b_floor": "(b) empty uprobe+uretprobe",
                 "c_tasktap": "(c) tasktap, OTLP to loopback",
                 "f_two_events": "(f) (c), entry and return events",
                 "d_bpftrace": "(d) bpftrace minimal timing",
                 "e_ring": "(e) minimal 2-event ring tracer",
                 "g_pair": "(g) (f), one session program"}
        add("   %-34s %19s %19s" % ("", "1 thread", "2 threads"))
        for v, name in names.items():
            s = p1["ns_per_call"].get(v)
            if not s:
                continue
            cells = ["%8.1f / %8.1f" % (s[t]["min"], s[t]["median"]) for t in ("1", "2")]
            add("   %-34s %19s %19s" % (name, cells[0], cells[1]))
        for key, target in (("c/b", 1.3), ("c/d", 0.8), ("e/b", None), ("d/b", None),
                            ("f/b", None), ("f/d", None), ("f/c", None), ("g/f", None)):
            cells = []
            for t in (1, 2):
                x = p1["ratios"].get("%s@%d" % (key, t))
                cells.append("%5.2f / %5.2f" % (x["of_min"], x["of_median"]) if x else "-")
            tgt = ""
            if target and p1["ratios"].get("%s@1" % key):
                worst = max(p1["ratios"]["%s@%d" % (key, t)]["of_median"] for t in (1, 2)
                            if "%s@%d" % (key, t) in p1["ratios"])
                tgt = "target <= %.1f: %s" % (target, verdict(worst <= target))
            add("   ratio %-28s %19s %19s  %s" % (key + " (of min / of median)", cells[0],
                                                   cells[1], tgt))
        if p1.get("bpf_ns_per_run"):
            add("   BPF run time per program run (bpf_stats): " + ", ".join(
                "%s %.0f ns" % (k, v) for k, v in sorted(p1["bpf_ns_per_run"].items())))
        for v in TRACERS:
            for h in [h for h in p1.get("tasktap_runs", []) if h.get("variant") == v][:1]:
                add("   (%s) run health: %s spans assembled, %s events, %s lost, %s exported, "
                    "%s dropped"
                    % (v[0], h.get("spans"), h.get("events"), h.get("lost"), h.get("exported"),
                       h.get("dropped")))
    filtered_site_rows(add, r.get("part7"),
                       "7. a USDT site with 3 probes whose filters drop every hit (ns/hit",
                       (("none", "no probe"), ("floor", "the empty program on the site"),
                        ("tasktap3", "tasktap, 3 probes, all filtered out")))
    filtered_site_rows(add, r.get("part9"),
                       "9. a function with 3 hooks whose filters drop every call (ns/call",
                       (("none", "no probe"), ("floor", "the empty uprobe+uretprobe"),
                        ("tasktap3", "tasktap, 3 hooks, all filtered out"),
                        ("apart3", "the same, a uprobe each (before)")))
    p10 = r.get("part10")
    if p10:
        add("10. Python probes on %s (ns/call; min / median of %d reps, %d calls)"
            % (p10["python"], p10["reps"], p10["calls"]))
        for k, st in p10["ns_per_call"].items():
            add("   %-42s %8.1f / %8.1f" % (k, st["min"], st["median"]))
        add("   ratio unprobed call, picked / untraced (of median) %6.1f  target <= 1.1: %s"
            % (p10["ratio_unprobed_picked_untraced"],
               verdict(p10["ratio_unprobed_picked_untraced"] <= 1.1)))
        add("   ratio probed call / C floor (of min / of median) %5.2f / %5.2f  target <= 2: %s"
            % (p10["ratio_probed_floor_of_min"], p10["ratio_probed_floor_of_median"],
               verdict(p10["ratio_probed_floor_of_median"] <= 2)))
    p8 = r.get("part8")
    if p8:
        add("8. narrowing: a library: target on a file with two names (ns/call; min / median of "
            "%d reps, %d calls)" % (p8["reps"], p8["calls"]))
        for v, name in (("none", "bench-other, no agent"),
                        ("narrowed", "bench-other, narrowed to comm bench-meant"),
                        ("per_file", "bench-other, the whole file probed")):
            st = p8["other_ns_per_call"][v]
            add("   %-42s %8.1f / %8.1f" % (name, st["min"], st["median"]))
        st = p8["meant_ns_per_call"]
        add("   %-42s %8.1f / %8.1f" % ("bench-meant, narrowed to it", st["min"], st["median"]))
    p2 = r.get("part2")
    if p2:
        add("2. agent throughput (agent pinned to CPU 0; target and receiver on CPU 1; the "
            "receiver decodes and counts only)")
        for s in p2["max_rate"]:
            if "events_per_agent_cpu_s" not in s:
                continue
            add("   max rate: %s events/s offered; agent %.2f CPU-s for %d events = "
                "%s events per agent CPU-second; %s/%s spans exported (%s dropped)"
                % (fmt_rate(s.get("events_per_s_offered", 0)), s["agent_cpu_s"], s["events"],
                   fmt_rate(s["events_per_agent_cpu_s"]), s.get("exported"), s.get("spans"),
                   s.get("dropped")))
        oks = []
        for label, rates in (("no spool", p2["rates"]),
                             ("with the spool", p2.get("spool_rates", {})),
                             ("with the spool, a receiver taking 20 ms a request",
                              p2.get("slow_receiver", {}))):
            for rate, s in rates.items():
                text, ok = ledger(s)
                oks.append(ok)
                add("   %s, offered %5s events/s (achieved %s; agent CPU %3.0f%%, receiver CPU "
                    "%3.0f%%): exported %s / spooled %s / dropped %s"
                    % (label, fmt_rate(int(rate)),
                       fmt_rate(s.get("achieved_events_per_s") or 0),
                       100 * s["agent_cpu_share"], 100 * s["receiver_cpu_s"] / s["wall_s"],
                       s.get("exported"), s.get("spooled"), s.get("dropped")))
                add("      " + text)
        s500 = p2["rates"].get("500000", {})
        s1m = p2.get("spool_rates", {}).get("1000000", {})
        add("   ledgers: %s" % ("all add up" if oks and all(oks) else "MISMATCH"))
        add("   target 0 dropped at 500k events/s offered (no spool): %s (ring: %s events lost; "
            "exporter: %s dropped)" % (verdict(s500.get("lost") == 0 and s500.get("dropped") == 0),
                                       s500.get("lost"), s500.get("dropped")))
        add("   target 0 dropped at 1M events/s offered, the spool absorbing: %s (%s spooled, %s "
            "dropped)" % (verdict(s1m.get("dropped") == 0 and "dropped" in s1m),
                         s1m.get("spooled"), s1m.get("dropped")))
    off = r.get("offline_throughput")
    if off:
        add("2/5. offline pipeline, one core, event time at 2M events/s (spans/s, min / median)")
        for k, s in off.items():
            if k == "ns_per_span" or not s:
                continue
            add("   %-36s %10s / %10s" % (k.replace("_spans_per_s", ""), fmt_rate(s["min"]),
                                          fmt_rate(s["median"])))
        best = off.get("pipeline_pb_spans_per_s")
        if best:
            add("   target >= 1M spans/s assembled+encoded: %s (%s, best of runs, "
                "reorder included)" % (verdict(best["max"] >= 1e6), fmt_rate(best["max"])))
    ex = r.get("export")
    if ex:
        add("5. export only (spans/s, min / median; bytes per span)")
        for form in ("encode_pb", "encode_pb_gzip", "encode_json", "encode_jsonl",
                     "encode_pb_protobufc", "encode_json_protobufc"):
            s = ex.get(form + "_spans_per_s")
            b = ex.get(form + "_bytes_per_span")
            if s:
                add("   %-36s %10s / %10s  %s" % (form, fmt_rate(s["min"]), fmt_rate(s["median"]),
                                                  "%.0f B" % b["median"] if b else ""))
    mem = r.get("memory")
    if mem:
        add("3. memory (assembler, open spans)")
        add("   RSS: 0 open %d KB; 10k open %d KB; 100k open %d KB"
            % (mem["open_0_rss_kb"], mem["open_10000_rss_kb"], mem["open_100000_rss_kb"]))
        for n in (10000, 100000):
            k = "open_%d_" % n
            per = mem[k + "rss_bytes_per_span"]
            add("   bytes per open span, %dk open: %.0f (RSS), %.0f (heap): the span %.0f "
                "(slot and block), indexes %.0f, attempts table %.0f; target <= 256: %s"
                % (n // 1000, per, mem[k + "heap_bytes_per_span"],
                   mem.get(k + "span_bytes_per_span", 0), mem.get(k + "index_bytes_per_span", 0),
                   mem.get(k + "tries_bytes_per_span", 0), verdict(per <= 256)))
        add("   sizeof(struct tt_span) %d (a finished span, loaded whole; not kept while open)"
            % mem["sizeof_tt_span"])
    con = r.get("console")
    if con:
        add("   console waterfall, N open tasks each with a finished step (CPU ns per span, "
            "hold / flush; held-span visits per span): " + "; ".join(
                "%s: %.0f / %.0f, %.1f" % (n, c["console_hold_ns_per_span"],
                                           c["console_flush_ns_per_span"],
                                           c["console_ops_per_span"])
                for n, c in sorted(con.items(), key=lambda kv: int(kv[0]))))
    st = r.get("steady")
    if st:
        add("   after %d finished spans: RSS %d KB, growth over the last 70 %% %d KB: %s"
            % (st["steady_spans"], st["steady_rss_last_kb"], st["steady_rss_growth_kb"],
               verdict(st["steady_rss_growth_kb"] < 1024)))
    al = r.get("allocs_per_span_offline")
    if al:
        add("   allocations per span (offline): " + ", ".join(
            "%s %.3f" % (k.replace("_allocs_per_span", ""), v) for k, v in al.items()))
    live = r.get("allocs_live")
    if live:
        add("   allocations per span (live agent, OTLP): %.3f" % live["allocs_per_span"])
    p4 = r.get("part4")
    if p4:
        add("4. start-up (seconds, min / median)")
        for k, label in (("attach_pid_s", "tasktap run --pid (running process)"),
                         ("attach_10k_syms_s", "tasktap run, binary with %d symbols"
                          % p4["symbols_in_big_binary"]),
                         ("check_10k_syms_s", "tasktap check, same binary"),
                         ("attach_demo_s", "tasktap run, the demo spec (2 hooks)"),
                         ("attach_50_hooks_s", "tasktap run, 50 hooks"),
                         ("stop_demo_s", "stop (SIGINT to exit), the demo spec"),
                         ("stop_50_hooks_s", "stop (SIGINT to exit), 50 hooks"),
                         ("floor_attach_s", "reference: empty uprobe loader"),
                         ("bpftrace_attach_s", "reference: bpftrace")):
            s = p4.get(k)
            if s:
                add("   %-42s %6.3f / %6.3f" % (label, s["min"], s["median"]))
        for k, limit in (("attach_demo_s", 0.050), ("attach_50_hooks_s", 0.150)):
            s = p4.get(k)
            if s:
                add("   target %s <= %.3f s: %s (median %.3f)" % (
                    k.replace("attach_", "").replace("_s", ""), limit,
                    verdict(s["median"] <= limit), s["median"]))
    vw = r.get("view")
    if vw:
        add("6. task view: %s tasks in flight, %s recent traces (ring %s KB); ms, median / max"
            % (vw.get("in_flight"), vw.get("recent"),
               vw["ring_bytes"] // 1024 if vw.get("ring_bytes") else "?"))
        for k, label in (("api_tasks_all", "GET /api/tasks?limit=100000"),
                         ("api_tasks_page", "GET /api/tasks?limit=1000 (the page's)"),
                         ("api_traces_all", "GET /api/traces?limit=1000"),
                         ("api_traces_page", "GET /api/traces?limit=200 (the page's)"),
                         ("api_trace", "GET /api/traces/{id}")):
            s = vw.get(k)
            if s:
                add("   %-42s %8.1f / %8.1f  (%d KB)" % (label, s["median_ms"], s["max_ms"],
                                                         s["bytes"] // 1024))
        for k, label in (("render_tasks_ms", "page: in flight, fetch + render"),
                         ("render_traces_ms", "page: recent, fetch + render"),
                         ("page_roundtrip_ms", "page: a DevTools round trip after")):
            s = vw.get(k)
            if s:
                add("   %-42s %8.1f / %8.1f" % (label, s["median"], s["max"]))
    for n in r.get("notes", []):
        add("note: " + n)
    add("time per part (s): " + ", ".join("%s %s" % kv for kv in r.get("part_seconds", {}).items()))
    add("host: %d CPUs, kernel %s, load %.2f at start, %.2f at end; %.0f s"
        % (r["host"]["cpus"], r["host"]["kernel"], r["host"]["loadavg_start"][0],
           r["host"]["loadavg_end"][0], r["seconds"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a smoke run of seconds")
    ap.add_argument("--reps", type=int, default=0)
    ap.add_argument("--parts", default="1,2,3,4,5,6,7,8,9,10")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results.json"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root (BPF)", file=sys.stderr)
        return 1
    r = Bench(args).run()
    text = table(r)
    r["table"] = text.splitlines()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(r, f, indent=1)
    print(text)
    print("bench: results in %s" % os.path.relpath(args.out, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
