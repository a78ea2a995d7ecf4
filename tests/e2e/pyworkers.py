"""Real Python task workers for the recipes' end-to-end tests: a redis-server of the test's own on
127.0.0.1, and the workloads of tests/e2e/pyworkloads/ run with Debian's /usr/bin/python3 (its
python3-rq, python3-celery, python3-redis), each recording what it did (record.py)."""
import os
import signal
import socket
import subprocess
import tempfile
import time

from harness import free_port

PYTHON = "/usr/bin/python3"
WORKLOADS = os.path.abspath("tests/e2e/pyworkloads")


class RedisServer:
    """redis-server on a free loopback port, no persistence, stopped by its PID."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tt-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = "redis://127.0.0.1:%d/0" % self.port
        deadline = time.monotonic() + 30
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("redis-server did not start on port %d" % self.port)
            time.sleep(0.02)

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir])


class Workload:
    """A workload script run with /usr/bin/python3, its record file in env TT_RECORD. It prints
    "ready" once set up and then waits for SIGUSR1 (go()): by then tasktap is attached."""

    def __init__(self, script, args, record, env=None):
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(WORKLOADS, script)] + [str(a) for a in args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, TT_RECORD=record, PYTHONDONTWRITEBYTECODE="1", **(env or {})))
        self.pid = self.proc.pid
        line = self.proc.stdout.readline()
        if line != "ready\n":
            self.stop()
            raise AssertionError("%s did not start: %r" % (script, line))

    def go(self):
        self.proc.send_signal(signal.SIGUSR1)

    def say(self, line):
        """Writes one command line to its stdin; returns the line it answers."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline()

    def wait(self, timeout=60):
        rc = self.proc.wait(timeout)
        return rc, self.proc.stdout.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
