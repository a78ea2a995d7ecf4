#!/usr/bin/env python3
"""make soak: the node agent under everything at once, for a while (default
10 minutes; not part of make check).

What runs, all on this machine:
- an OTLP/HTTP receiver (tests/receiver/otlp-receiver.c) that counts every
  span it accepts;
- tasktap run --spec-dir DIR --pin PIN, its spec a `comm:` target, so every
  new demo-worker is held at exec until its probes are in;
- demo-workers started one after another, by two threads (each runs
  --tasks tasks, --scale times as long as the demo's: a few seconds);
- every RELOAD seconds the spec is rewritten (an attribute toggled: the
  probes are swapped while tasks run);
- every OUTAGE seconds the receiver answers 503 for OUTAGE_LEN seconds (the
  exporter spools and replays);
- every KILL seconds the agent is SIGKILLed and started again on the same
  pins (open spans and the exporter's memory are lost there, not hidden);
- slow HTTP clients hold connections open and dribble header bytes, while
  /health/live is asked every second.

It watches every demo-worker's state in /proc: the longest time any of them
spent stopped (state T) is reported, and one still stopped at the end fails
the soak. At the end it stops the agent with SIGTERM and accounts for every
span, one by one: what each worker said it ran (its stderr, a line per task,
timed as read) against what the receiver got (by task id, span name and
attempt), so produced = exported + spooled + counted lost (with their
reasons, as the agents said them: the span ledger in the pin directory
for what a killed agent had not sent and had counted, the last agent's
summary, and the processes an agent names as having run before their
probes were in, whose spans that ended before then are theirs) +
unaccounted. What is missing is also broken down by the agent that ran
when it ended: each SIGKILL's beside what was counted for it. The agent's
RSS is sampled: first and last minute compared, and its event loop's
longest stall read from /health. The raw material (spans.jsonl,
workers.json, the agents' logs) stays in the data_dir it names.

usage: scripts/soak.py [--duration S] [--reload S] [--outage S] [--outage-len S]
                       [--kill S] [--slow-clients N] [--tasks N] [--scale F] [--out FILE]
                       [--tasktap PATH]
Prints one JSON object of figures (also written to --out) and exits 1 when a
worker was left stopped or /health/live stopped answering."""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TASKTAP = os.path.join(ROOT, ".output/tasktap")
WORKER = os.path.join(ROOT, ".output/demo-worker")
RECEIVER = os.path.join(ROOT, ".output/otlp-receiver")
SPANS_PER_TASK = 5  # CreateZip and Thumbnail: the task and four step spans each
FIRST_ID = 1000000  # each worker run's task ids: FIRST_ID + run * ID_STRIDE, onwards
ID_STRIDE = 10000
COMM = "soak-worker"

SPEC = """service: soak
keyspace: soak
targets:
  - comm: %s
    probes:
      - role: task
        symbol: run_task
        key: arg0
        attributes:
          task.name: str(arg1)%s
        error: ret != 0
      - role: step
        symbol: execute_step
        key: arg0
        attributes:
          step.name: str(arg1)
        error: ret != 0
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(url, data=None, timeout=5):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read().decode()


# A task's spans (name, step.attempt) and when each ends, in ms before the task's own end at
# --scale 1 (tests/workers/demo-worker.c): the worker says when a task ended, not its steps
TASK_SPANS = {
    "CreateZip": [("CreateZip", 0, 0), ("UploadSourceFiles", 1, 370),
                  ("CreateZipArchive", 1, 330), ("CreateZipArchive", 2, 90),
                  ("UploadResult", 1, 0)],
    "Thumbnail": [("Thumbnail", 0, 0), ("Decode", 1, 180), ("ResizeSmall", 1, 100),
                  ("ResizeLarge", 1, 30), ("Store", 1, 0)],
}


def exported(body):
    """The distinct spans the receiver got, by (task id, name, attempt), and its lines."""
    spans, lines = set(), 0
    for line in body.splitlines():
        if not line.strip():
            continue
        s = json.loads(line)
        a = s.get("attributes") or {}
        lines += 1
        # a step whose task span a killed agent had is exported without it, as a root
        spans.add((a.get("task.id"), s.get("name", "").split(".")[-1], a.get("step.attempt", 0)))
    return spans, lines


def missing_spans(runs, spans, scale):
    """Each produced span the receiver did not get: (run, task id, name, est. end ns)."""
    out = []
    for run in runs:
        for tid, name, _, end_ns in run["tasks"]:
            for span, attempt, before_ms in TASK_SPANS[name]:
                if (str(tid), span, attempt) not in spans:
                    out.append((run, tid, span, end_ns - int(before_ms * scale * 1e6)))
    return out


def attribute_untraced(runs, missing, untraced):
    """Missing spans of processes an agent named as having run before their probes
    were in, that ended before those probes were in; they leave the missing list."""
    n = 0
    for pid, secs in untraced.items():
        run = next((r for r in runs if r["pid"] == pid), None)
        if run is None:
            continue
        cut = run["start_ns"] + int(secs * 1e9)
        gone = [m for m in missing if m[0] is run and m[3] < cut]
        n += len(gone)
        for m in gone:
            missing.remove(m)
    return n


def read_logs(paths):
    """What the agents said they lost, spooled, handed over, or let run untraced."""
    out = {"unsent": {}, "killed_counted": {}, "orphans": 0, "dropped": 0, "spooled": 0,
           "handed": 0, "untraced": {}, "summaries": [], "watchdog": 0}
    for path in paths:
        with open(path) as f:
            text = f.read()
        # the span ledger in --pin: what each killed agent lost, said by the next one (at
        # its start and in its summary: counted once per killed agent)
        for m in re.finditer(r"(\d+) spans of the previous agent \(pid (\d+)\) lost", text):
            out["unsent"][m.group(2)] = int(m.group(1))
        for m in re.finditer(r"(\d+) spans lost by the previous agent \(pid (\d+)\)", text):
            out["killed_counted"][m.group(2)] = int(m.group(1))
        for m in re.finditer(r"process (\d+) \(.*?\) .*?: its probes were in ([\d.]+) s after",
                             text):
            out["untraced"][int(m.group(1))] = float(m.group(2))
        # the summary of an agent that stopped (the last one, on SIGTERM)
        for m in re.finditer(r"(\d+) spans lost: their end came without their start", text):
            out["orphans"] += int(m.group(1))
        for m in re.finditer(r"otlp: \d+ spans exported, (\d+) in the spool \(\d+ batches\), "
                             r"(\d+) dropped", text):
            out["spooled"] += int(m.group(1))
            out["dropped"] += int(m.group(2))
        out["watchdog"] += len(re.findall(r"hold watchdog: continued process", text))
        for m in re.finditer(r"handed (\d+) open spans over", text):
            out["handed"] += int(m.group(1))
        out["summaries"] += [l for l in text.splitlines()
                             if re.search(r"\d+ spans, \d+ events|otlp: \d+ spans", l)]
    return out


def missing_elsewhere(missing, timeline):
    """The missing spans that ended away from any SIGKILL (more than 5 s before one, or
    1.5 s after), by what came before them: a worker's first task (its probes not in
    yet), a reload less than 3 s before (its switch from one version of the probes to
    the next), or nothing the soak did."""
    kills = [ts for ts, w in timeline if w.startswith("kill ")]
    reloads = [ts for ts, w in timeline if w.startswith("reload ")]
    out = {"a worker's first task": 0, "within 3 s after a reload": 0, "other": 0}
    for run, tid, _, end in missing:
        if any(k - 5e9 <= end <= k + 1.5e9 for k in kills):
            continue
        if tid == run["first"]:
            out["a worker's first task"] += 1
        elif any(0 <= end - r <= 3e9 for r in reloads):
            out["within 3 s after a reload"] += 1
        else:
            out["other"] += 1
    return out


def missing_by_window(missing, timeline, logs):
    """The spans still missing (after those of untraced processes), by the agent that
    ran when they ended: each killed agent's beside what was counted for it (the span
    ledger: what it had not sent; and the next agent's ends without their start: the
    spans open at the kill)."""
    agents = [int(w.split()[1]) for _, w in timeline if w.endswith(" started")]
    kills = [(ts, int(w.split()[1])) for ts, w in timeline if w.startswith("kill ")]
    rows, lo = [], 0
    for ts, pid in kills:
        nxt = agents[agents.index(pid) + 1] if agents.index(pid) + 1 < len(agents) else None
        last = nxt == agents[-1]
        # a span open at the kill ends after it, under the next agent
        n = sum(1 for m in missing if lo <= m[3] < ts + 1.5e9)
        counted = logs["unsent"].get(str(pid), 0) + (
            logs["orphans"] if last else logs["killed_counted"].get(str(nxt), 0))
        rows.append({"sigkill_of": pid, "missing": n, "counted": counted})
        lo = ts + 1.5e9
    rows.append({"after_the_last_sigkill": True,
                 "missing": sum(1 for m in missing if m[3] >= lo),
                 "counted": logs["dropped"]})
    return rows

class Soak:
    def __init__(self, args):
        self.a = args
        self.dir = tempfile.mkdtemp(prefix="tasktap-soak-")
        os.chmod(self.dir, 0o755)
        self.specs = os.path.join(self.dir, "specs")
        os.mkdir(self.specs, 0o755)
        self.pin = "/sys/fs/bpf/tasktap-soak-%d" % os.getpid()
        self.spool = os.path.join(self.dir, "spool")
        self.worker = os.path.join(self.dir, COMM)
        shutil.copy(WORKER, self.worker)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.runs = 0           # demo-worker runs that exited 0
        self.failed_runs = 0
        self.agent = None
        self.agents = 0
        self.agent_logs = []    # stderr of every agent instance
        self.rss = []           # (seconds since start, KiB)
        self.stopped = {}       # pid -> first time seen stopped
        self.longest_stop = 0.0
        self.live_worst = 0.0
        self.live_failures = 0
        self.reloads = 0
        self.outages = 0
        self.kills = 0
        self.queued_at_kills = 0  # spans in the export queue just before each SIGKILL
        self.first_ids = []       # the first task id of each worker run
        self.loop_stall = 0.0  # the longest stall of an agent's event loop (its /health)
        self.t0 = time.monotonic()
        self.stop_time = None
        self.worker_log = []    # each worker run: pid, first id, its tasks as it said them
        self.timeline = []      # (unix ns, what): kills, agents up, reloads, outages

    def note(self, what):
        self.timeline.append((time.time_ns(), what))

    # --- the pieces ---------------------------------------------------------

    def start_receiver(self):
        self.rport = free_port()
        self.receiver = subprocess.Popen([RECEIVER, "--port", str(self.rport)],
                                         stdout=subprocess.PIPE, text=True)
        line = self.receiver.stdout.readline()
        if "listening" not in line:
            raise SystemExit("soak: the receiver did not start: %r" % line)

    def write_spec(self, variant):
        extra = "\n          soak.variant: \"%d\"" % variant if variant % 2 else ""
        path = os.path.join(self.specs, "soak.yaml")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(SPEC % (COMM, extra))
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)

    def start_agent(self):
        self.hport = free_port()
        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % self.rport)
        log = open(os.path.join(self.dir, "agent-%d.log" % self.agents), "w+")
        self.agent_logs.append(log.name)
        self.agent = subprocess.Popen(
            [self.a.tasktap, "run", "--spec-dir", self.specs, "--pin", self.pin, "--spool", self.spool,
             "--http", "127.0.0.1:%d" % self.hport, "--no-color"],
            stdout=log, stderr=log, env=env)
        self.note("agent %d started" % self.agent.pid)
        self.agents += 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if http("http://127.0.0.1:%d/health/live" % self.hport, timeout=1)[0] == 200:
                    self.note("agent %d up" % self.agent.pid)
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("soak: the agent did not come up; see %s" % log.name)

    def workload(self):
        while not self.stop.is_set():
            with self.lock:
                first = FIRST_ID + len(self.first_ids) * ID_STRIDE
                self.first_ids.append(first)
            p = subprocess.Popen([self.worker, "--tasks", str(self.a.tasks), "--scale",
                                  str(self.a.scale), "--first-id", str(first)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            run = {"first": first, "pid": p.pid, "start_ns": time.time_ns(), "tasks": []}
            for line in p.stderr:  # "demo-worker: task ID NAME done", as each task ends
                f = line.split()
                if len(f) >= 5 and f[1] == "task":
                    run["tasks"].append([int(f[2]), f[3], f[4], time.time_ns()])
            p.wait()
            run["end_ns"] = time.time_ns()
            run["rc"] = p.returncode
            with self.lock:
                self.worker_log.append(run)
                if p.returncode == 0:
                    self.runs += 1
                else:
                    self.failed_runs += 1

    def watch_stops(self):
        """Every 20 ms: which soak-workers are stopped, and since when."""
        while True:
            now = time.monotonic()
            seen = set()
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open("/proc/%s/stat" % pid) as f:
                        stat = f.read()
                except OSError:
                    continue
                comm = stat[stat.index("(") + 1:stat.rindex(")")]
                state = stat[stat.rindex(")") + 2]
                if comm == COMM and state == "T":
                    seen.add(pid)
                    self.stopped.setdefault(pid, now)
            for pid in list(self.stopped):
                if pid not in seen:
                    self.longest_stop = max(self.longest_stop, now - self.stopped.pop(pid))
            for since in self.stopped.values():
                self.longest_stop = max(self.longest_stop, now - since)
            if self.stop.is_set() and now - self.stop_time > 5:
                break  # the last workers have had 5 s to be continued
            time.sleep(0.02)

    def slow_client(self):
        """Holds a connection open, one header byte every 3 s, for its whole life."""
        while not self.stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", self.hport), timeout=5)
                s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                while not self.stop.wait(3):
                    s.sendall(b"X")
            except OSError:
                self.stop.wait(0.5)
            finally:
                try:
                    s.close()
                except Exception:
                    pass

    def probe_live(self):
        """Asks /health/live every second; a failure counts when the agent
        asked is the one still running (not one killed meanwhile)."""
        while not self.stop.wait(1):
            gen, port, agent = self.agents, self.hport, self.agent
            if self.restarting or agent is None:
                continue
            t = time.monotonic()
            try:
                http("http://127.0.0.1:%d/health/live" % port, timeout=10)
                ok = True
            except OSError:
                ok = False
            same = gen == self.agents and agent.poll() is None
            if same and ok:
                self.live_worst = max(self.live_worst, time.monotonic() - t)
            elif same and not self.stop.is_set():
                self.live_failures += 1

    def queue_size(self):
        """Spans in the agent's export queue now (its /health), 0 when it does not say."""
        def find(v):
            if isinstance(v, dict):
                if isinstance(v.get("queue_size"), int):
                    return v["queue_size"]
                v = list(v.values())
            if isinstance(v, list):
                for x in v:
                    n = find(x)
                    if n is not None:
                        return n
            return None
        try:
            _, body = http("http://127.0.0.1:%d/health" % self.hport, timeout=5)
            return find(json.loads(body)) or 0
        except (OSError, ValueError):
            return 0

    def note_loop_stall(self):
        """The longest the running agent's event loop went without progress (its /health)."""
        try:
            _, body = http("http://127.0.0.1:%d/health" % self.hport, timeout=10)
            stall = json.loads(body).get("loop_longest_stall_seconds", 0)
            self.loop_stall = max(self.loop_stall, stall)
        except (OSError, ValueError):
            pass

    def sample_rss(self):
        while not self.stop.wait(5):
            try:
                with open("/proc/%d/status" % self.agent.pid) as f:
                    kib = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
                self.rss.append((round(time.monotonic() - self.t0), kib))
            except (OSError, AttributeError):
                pass

    # --- the run ------------------------------------------------------------

    def run(self):
        self.restarting = False
        self.start_receiver()
        self.write_spec(0)
        self.start_agent()
        threads = [threading.Thread(target=f, daemon=True) for f in
                   [self.workload, self.workload, self.watch_stops, self.probe_live,
                    self.sample_rss] + [self.slow_client] * self.a.slow_clients]
        for t in threads:
            t.start()
        end = self.t0 + self.a.duration
        next_reload = time.monotonic() + self.a.reload
        next_outage = time.monotonic() + self.a.outage
        next_kill = time.monotonic() + self.a.kill
        outage_ends = None
        while time.monotonic() < end:
            time.sleep(0.2)
            now = time.monotonic()
            if now >= next_reload:
                self.reloads += 1
                self.note("reload %d" % self.reloads)
                self.write_spec(self.reloads)
                next_reload += self.a.reload
            if outage_ends is None and now >= next_outage:
                http("http://127.0.0.1:%d/control?mode=503&fail=0" % self.rport, data=b"")
                self.outages += 1
                self.note("outage")
                outage_ends = now + self.a.outage_len
            if outage_ends is not None and now >= outage_ends:
                http("http://127.0.0.1:%d/control?mode=ok" % self.rport, data=b"")
                outage_ends = None
                self.note("outage ends")
                next_outage = now + self.a.outage
            if now >= next_kill:
                self.queued_at_kills += self.queue_size()
                self.note_loop_stall()
                self.restarting = True
                self.note("kill %d" % self.agent.pid)
                self.agent.kill()
                self.agent.wait()
                self.kills += 1
                self.start_agent()
                self.restarting = False
                next_kill += self.a.kill
        if outage_ends is not None:
            http("http://127.0.0.1:%d/control?mode=ok" % self.rport, data=b"")
        self.stop_time = time.monotonic()
        self.stop.set()
        for t in threads:
            t.join(60)
        self.note_loop_stall()
        self.note("sigterm %d" % self.agent.pid)
        self.agent.send_signal(signal.SIGTERM)
        self.agent.wait(120)
        return self.figures()

    def figures(self):
        _, body = http("http://127.0.0.1:%d/spans" % self.rport, timeout=60)
        self.receiver.terminate()
        self.receiver.wait(10)
        with open(os.path.join(self.dir, "spans.jsonl"), "w") as f:
            f.write(body)
        with open(os.path.join(self.dir, "workers.json"), "w") as f:
            json.dump({"runs": self.worker_log, "timeline": self.timeline}, f)
        spans, lines = exported(body)
        logs = read_logs(self.agent_logs)
        runs = [r for r in self.worker_log if r["rc"] == 0]
        produced = sum(len(r["tasks"]) for r in runs) * SPANS_PER_TASK
        missing = missing_spans(runs, spans, self.a.scale)
        untraced = attribute_untraced(runs, missing, logs["untraced"])
        counted = {
            "unsent by killed agents (span ledger)": sum(logs["unsent"].values()),
            "ends without their start, counted by killed agents (span ledger)":
                sum(logs["killed_counted"].values()),
            "ends without their start (the last agent's summary)": logs["orphans"],
            "dropped by the exporter (the last agent's summary)": logs["dropped"],
            "ran before their probes were in (the agents, per process)": untraced,
        }
        spooled = logs["spooled"]
        unaccounted = produced - len(spans) - spooled - sum(counted.values())
        first = [k for t, k in self.rss if t <= 60]
        last = [k for t, k in self.rss if t >= self.a.duration - 60]
        fig = {
            "duration_s": self.a.duration,
            "worker_runs": len(runs),
            "worker_runs_failed": len(self.worker_log) - len(runs),
            "spans_produced": produced,
            "spans_exported_distinct": len(spans),
            "spans_exported_duplicates": lines - len(spans),
            "spans_spooled": spooled,
            "spool_files_left": sum(len(f) for _, _, f in os.walk(self.spool)),
            "spans_counted_lost": counted,
            "unaccounted": unaccounted,
            # what is missing at the receiver, by when it ran: around each SIGKILL (to
            # set against what the span ledger counted for that agent), and the rest
            "missing_by_window": missing_by_window(missing, self.timeline, logs),
            "missing_away_from_sigkills": missing_elsewhere(missing, self.timeline),
            "processes_untraced_at_start": len(logs["untraced"]),
            "processes_continued_by_the_hold_watchdog": logs["watchdog"],
            "handed_over_at_the_end": logs["handed"],
            "in_export_queues_at_sigkill": self.queued_at_kills,
            "loop_longest_stall_s": self.loop_stall,
            "agent_summaries": logs["summaries"],
            "reloads": self.reloads,
            "outages": self.outages,
            "sigkill_restarts": self.kills,
            "slow_clients": self.a.slow_clients,
            "health_live_worst_s": round(self.live_worst, 3),
            "health_live_failures": self.live_failures,
            "longest_worker_stop_s": round(self.longest_stop, 3),
            "workers_stopped_at_end": list(self.stopped),
            "rss_kib_first_minute_max": max(first) if first else None,
            "rss_kib_last_minute_max": max(last) if last else None,
            "agent_logs": self.agent_logs,
            "data_dir": self.dir,
        }
        return fig

    def cleanup(self):
        for p in [self.agent, getattr(self, "receiver", None)]:
            if p and p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.pin, True)


def table(fig):
    """The figures as a Markdown table (also written beside --out, as .md)."""
    rows = [
        ("worker runs (failed)", "%d (%d)" % (fig["worker_runs"], fig["worker_runs_failed"])),
        ("spans produced", fig["spans_produced"]),
        ("exported (distinct; duplicates)", "%d; %d" % (fig["spans_exported_distinct"],
                                                        fig["spans_exported_duplicates"])),
        ("spooled (files left)", "%d (%d)" % (fig["spans_spooled"], fig["spool_files_left"])),
    ]
    rows += [("lost, counted: " + k, v) for k, v in fig["spans_counted_lost"].items()]
    rows += [
        ("**unaccounted**", fig["unaccounted"]),
        ("missing by SIGKILL (missing / counted)",
         ", ".join("%d/%d" % (w["missing"], w["counted"]) for w in fig["missing_by_window"]
                   if "sigkill_of" in w)),
        ("missing after the last SIGKILL (missing / counted)",
         "%d/%d" % (fig["missing_by_window"][-1]["missing"],
                    fig["missing_by_window"][-1]["counted"])),
        ("missing away from SIGKILLs, by what came before",
         ", ".join("%s: %d" % kv for kv in fig["missing_away_from_sigkills"].items())),
        ("processes named as run before their probes were in",
         fig["processes_untraced_at_start"]),
        ("reloads / outages / SIGKILL restarts / slow clients",
         "%d / %d / %d / %d" % (fig["reloads"], fig["outages"], fig["sigkill_restarts"],
                                fig["slow_clients"])),
        ("workers stopped at the end", len(fig["workers_stopped_at_end"])),
        ("workers continued by the hold watchdog (a deadline reached)",
         fig["processes_continued_by_the_hold_watchdog"]),
        ("longest worker stop", "%.3f s" % fig["longest_worker_stop_s"]),
        ("/health/live worst (failures)", "%.3f s (%d)" % (fig["health_live_worst_s"],
                                                          fig["health_live_failures"])),
        ("event loop's longest stall", "%.3f s" % fig["loop_longest_stall_s"]),
        ("agent RSS, first / last minute (max)", "%.1f / %.1f MB" % (
            (fig["rss_kib_first_minute_max"] or 0) / 1024,
            (fig["rss_kib_last_minute_max"] or 0) / 1024)),
    ]
    return "\n".join(["| figure | value |", "|---|---|"] +
                      ["| %s | %s |" % (k, v) for k, v in rows]) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--reload", type=float, default=10)
    ap.add_argument("--outage", type=float, default=60)
    ap.add_argument("--outage-len", type=float, default=15)
    ap.add_argument("--kill", type=float, default=90)
    ap.add_argument("--slow-clients", type=int, default=40)
    # a worker lives ~15 s by default; at several new processes a second the kernel's
    # uprobe create/destroy (a global lock and an RCU wait each) falls behind: see
    # docs/performance.md, "Short-lived processes"
    ap.add_argument("--tasks", type=int, default=100, help="tasks per worker process")
    ap.add_argument("--scale", type=float, default=0.4, help="step durations, x the demo's")
    ap.add_argument("--out", default=os.path.join(ROOT, ".output/soak.json"))
    ap.add_argument("--tasktap", default=TASKTAP,
                    help="the agent's binary (a copy: a build meanwhile would change it)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("soak: needs root (it loads BPF)")
    soak = Soak(args)
    try:
        fig = soak.run()
    finally:
        soak.cleanup()
    text = json.dumps(fig, indent=2)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    md = table(fig)
    print(md)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
        f.write(md)
    bad = fig["workers_stopped_at_end"] or fig["health_live_failures"]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
