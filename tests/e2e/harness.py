"""Starting tasktap and target processes for the end-to-end tests."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

TASKTAP = os.path.abspath(".output/tasktap")
WORKER = os.path.abspath(".output/demo-worker")
RECIPE = os.path.abspath("recipes/demo-worker.yaml")


HTTP_LINE = re.compile(r"http: serving .* on http://(\S+)")


class Agent:
    """A running `tasktap run`, its stdout in a file and stderr collected.

    Unless the test passes --http or --no-http itself (or sets
    OTEL_EXPORTER_PROMETHEUS_PORT), the agent serves its
    HTTP endpoints on a free loopback port (`--http 0`), so that agents run
    in parallel never collide on 9464; `http_addr` is the address it bound
    ("127.0.0.1:PORT"), read from its stderr, and `get(path)` asks it.
    `prefix`: a command that runs tasktap in its place (nsenter ... --), its pid the agent's."""

    def __init__(self, args, env=None, prefix=()):
        self.out = tempfile.TemporaryFile(mode="w+")
        self.err_lines = []
        self.http_addr = None
        self.attached = threading.Event()
        if ("--http" not in args and "--no-http" not in args
                and "OTEL_EXPORTER_PROMETHEUS_PORT" not in (env or {})):
            args = args + ["--http", "0"]
        self.proc = subprocess.Popen(list(prefix) + [TASKTAP, "run"] + args, stdout=self.out,
                                     stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, **(env or {})))
        self.reader = threading.Thread(target=self._read_err, daemon=True)
        self.reader.start()

    def _read_err(self):
        for line in self.proc.stderr:
            self.err_lines.append(line)
            m = HTTP_LINE.search(line)
            if m:
                self.http_addr = m.group(1)
            if "attached" in line:
                self.attached.set()
        self.attached.set()  # the agent ended: stop waiting

    def wait_attached(self, timeout=30):
        if not self.attached.wait(timeout) or self.proc.poll() is not None:
            self.stop()
            raise AssertionError("tasktap did not attach:\n" + self.stderr())

    def stop(self, sig=signal.SIGINT, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("tasktap did not stop on signal %d" % sig)
        self.reader.join(5)
        return self.proc.returncode

    def wait(self, timeout=30):
        self.proc.wait(timeout)
        self.reader.join(5)
        return self.proc.returncode

    def get(self, path, timeout=10):
        """GET http://<http_addr><path>: (status, content type, body as text)."""
        try:
            with urllib.request.urlopen("http://%s%s" % (self.http_addr, path),
                                        timeout=timeout) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def stdout(self):
        """What the agent wrote to stdout so far, read with pread: the agent
        shares this file's offset, so a seek here would make its next write
        land over the first lines."""
        chunks, offset = [], 0
        while True:
            chunk = os.pread(self.out.fileno(), 1 << 20, offset)
            if not chunk:
                return b"".join(chunks).decode()
            chunks.append(chunk)
            offset += len(chunk)

    def stderr(self):
        return "".join(self.err_lines)

    def spans(self):
        """The complete JSON lines so far; a line still being written (no
        newline yet) is left for the next call."""
        done = self.stdout().rpartition("\n")[0]
        return [json.loads(line) for line in done.splitlines() if line.strip()]



class AgentsAndProcesses:
    """A test case mixin: a private directory (self.dir, others may read it: the
    agent reads the specs written there) and the agents (self.agents) and
    processes (self.procs) a test started, killed after it when still running,
    continued first (a test may leave one stopped)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.agents = []
        self.procs = []

    def tearDown(self):
        for p in self.procs + [a.proc for a in self.agents]:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()


def two_agents(test, spec, producer, consumer):
    """One agent per process, as on two nodes that never talk: each traces
    the same spec narrowed to its process (--pid). Both processes wait for
    SIGUSR1 and get it once both agents are attached; returns each agent's
    spans after all four have ended well."""
    near = Agent([spec, "--json", "--pid", str(producer.pid)])
    far = Agent([spec, "--json", "--pid", str(consumer.pid)])
    test.addCleanup(near.stop)
    test.addCleanup(far.stop)
    near.wait_attached()
    far.wait_attached()
    consumer.send_signal(signal.SIGUSR1)
    producer.send_signal(signal.SIGUSR1)
    test.assertEqual(producer.wait(30), 0)
    test.assertEqual(consumer.wait(30), 0)
    test.assertEqual(near.wait(30), 0, near.stderr())
    test.assertEqual(far.wait(30), 0, far.stderr())
    return near.spans(), far.spans()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_tool(args, env=None, timeout=60):
    """Runs tasktap to completion; returns (exit code, stdout, stderr)."""
    p = subprocess.run([TASKTAP] + args, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr


def attrs(span):
    """A span's attributes as a plain dict."""
    out = {}
    for a in span.get("attributes", []):
        v = a["value"]
        out[a["key"]] = int(v["intValue"]) if "intValue" in v else v.get("stringValue")
    return out


def duration_ms(span):
    return (int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"])) / 1e6


def isolated_demo(directory):
    """A private copy of the demo worker and a spec tracing only that copy.

    A `binary:` target traces every process running the file, so tests that
    count exactly use their own copy: demo workers started by other tests
    running at the same time are not seen. Returns (worker, spec)."""
    worker = os.path.join(directory, "demo-worker")
    shutil.copy(WORKER, worker)
    with open(RECIPE) as f:
        text = f.read().replace("binary: .output/demo-worker", "binary: " + worker)
    return worker, write_spec(text, directory)


def write_spec(text, directory):
    path = os.path.join(directory, "spec.yaml")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path
