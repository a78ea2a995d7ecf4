"""The agent's HTTP server against hostile local clients (issue 12, item 4),
with a real agent: 40 slow clients that send a header line every second and
reconnect when dropped (bounded: they stop by themselves after 20 s) must
not keep /health/live from answering; URLs and headers of 64 KiB and 1 MiB
get an error status instead of no reply; a Host that is not loopback (DNS
rebinding from a local browser) is refused, loopback names are served;
/health/live is answered while the event loop cannot run (its thread frozen
with ptrace), and /health reports the stalled loop."""
import ctypes
import json
import os
import socket
import threading
import time
import unittest

from harness import Agent, RECIPE

SLOW_CLIENTS = 40
SLOW_SECONDS = 20

PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
WALL = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


def ptrace(request, tid):
    if LIBC.ptrace(request, tid, None, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class FrozenThread:
    """Stops one thread of a process (ptrace), the others run on: the
    agent's event loop blocked, as the kernel can block it for seconds."""

    def __init__(self, tid):
        self.tid = tid

    def __enter__(self):
        ptrace(PTRACE_SEIZE, self.tid)
        ptrace(PTRACE_INTERRUPT, self.tid)
        os.waitpid(self.tid, WALL)
        return self

    def __exit__(self, *exc):
        ptrace(PTRACE_DETACH, self.tid)


def status_line(data):
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


def exchange(addr, request, timeout=15):
    """Sends `request` while reading the answer (a big request may not be
    read to its end); returns the answer's bytes up to the server's close or
    the timeout."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    answer = bytearray()

    def send():
        try:
            s.sendall(request)
        except OSError:
            pass  # the server answered and closed before reading it all

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    end = time.time() + timeout
    try:
        while time.time() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer and len(answer) > 12:
                head, _, body = bytes(answer).partition(b"\r\n\r\n")
                length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
    finally:
        s.close()
        sender.join(timeout)
    return bytes(answer)


class SlowClients:
    """SLOW_CLIENTS connections that each send a request line, then one header
    line a second, never the blank line that ends the headers; a client the
    server drops connects again. All stop after `seconds`."""

    def __init__(self, addr, seconds=SLOW_SECONDS):
        host, port = addr.rsplit(":", 1)
        self.addr = (host, int(port))
        self.stop_at = time.time() + seconds
        self.connected = 0
        self.drops = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(SLOW_CLIENTS)]
        for t in self.threads:
            t.start()

    def run(self):
        while time.time() < self.stop_at:
            try:
                s = socket.create_connection(self.addr, timeout=2)
            except OSError:
                time.sleep(0.2)
                continue
            with self.lock:
                self.connected += 1
            try:
                s.sendall(b"GET /health/live HTTP/1.1\r\n")
                while time.time() < self.stop_at:
                    s.sendall(b"X-Slow: 1\r\n")
                    time.sleep(1)
            except OSError:
                with self.lock:
                    self.drops += 1
            finally:
                s.close()

    def join(self):
        for t in self.threads:
            t.join(SLOW_SECONDS + 10)


class HttpLimitsTest(unittest.TestCase):
    def setUp(self):
        self.agent = Agent([RECIPE])
        self.agent.wait_attached()

    def tearDown(self):
        if self.agent.proc.poll() is None:
            self.agent.stop()

    def get_raw(self, path, host):
        req = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)
        return exchange(self.agent.http_addr, req.encode())

    def test_slow_clients_do_not_starve_health_live(self):
        slow = SlowClients(self.agent.http_addr)
        # every slow client connected at least once: all of them hold connections now
        end = time.time() + 10
        while slow.connected < SLOW_CLIENTS and time.time() < end:
            time.sleep(0.1)
        self.assertGreaterEqual(slow.connected, SLOW_CLIENTS)
        # five probes while they hold on (each with a generous 15 s to answer)
        answers = []
        for _ in range(5):
            answers.append(status_line(self.get_raw("/health/live", self.agent.http_addr)))
            time.sleep(0.5)
        self.assertEqual(answers, ["HTTP/1.1 200 OK"] * 5)
        self.assertLess(time.time(), slow.stop_at, "the slow clients stopped before the probes")
        slow.join()
        # the server dropped slow clients to make room (they connected again)
        self.assertGreater(slow.drops, 0)
        self.assertEqual(self.agent.get("/health/live")[0::2], (200, "ok\n"))

    def test_huge_url_and_headers_get_an_error_status(self):
        for size in (64 * 1024, 1024 * 1024):
            req = b"GET /health/live?" + b"a" * size + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            line = status_line(exchange(self.agent.http_addr, req))
            self.assertRegex(line, r"^HTTP/1\.1 (414|400) ", "URL of %d bytes" % size)
            req = (b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * size +
                   b"\r\n\r\n")
            line = status_line(exchange(self.agent.http_addr, req))
            self.assertRegex(line, r"^HTTP/1\.1 (431|400) ", "header of %d bytes" % size)
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(20000))
        req = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n" + many + b"\r\n"
        self.assertRegex(status_line(exchange(self.agent.http_addr, req)),
                         r"^HTTP/1\.1 (431|400) ")
        # and the server still serves
        self.assertEqual(self.agent.get("/health/live")[0::2], (200, "ok\n"))

    def test_host_must_be_loopback_or_the_bound_address(self):
        port = self.agent.http_addr.rsplit(":", 1)[1]
        for host in ("evil.example", "evil.example:" + port, "10.1.2.3:" + port,
                     "127.0.0.1.evil.example:" + port, "localhost.evil.example"):
            answer = self.get_raw("/health", host)
            self.assertRegex(status_line(answer), r"^HTTP/1\.1 (421|403) ", host)
            self.assertIn(b"Host", answer, host)  # says why
        for host in ("127.0.0.1:" + port, "localhost:" + port, "localhost", "127.0.0.1",
                     "[::1]:" + port, "LOCALHOST:" + port):
            self.assertEqual(status_line(self.get_raw("/health/live", host)),
                             "HTTP/1.1 200 OK", host)
        # HTTP/1.0 without a Host is no browser: served
        answer = exchange(self.agent.http_addr, b"GET /health/live HTTP/1.0\r\n\r\n")
        self.assertRegex(status_line(answer), r"^HTTP/1\.[01] 200 OK$")


    def test_live_answered_while_the_loop_cannot_run(self):
        """The event loop's thread frozen: /health/live is answered by the
        server's own thread, every time; /health, which needs the loop,
        answers 503 "unhealthy" once the loop has not taken it in 2 s; once
        the loop runs again /health is ok and says how long it stalled."""
        pid = self.agent.proc.pid  # the main thread runs the event loop
        self.assertEqual(self.agent.get("/health")[0], 200)  # the loop runs
        with FrozenThread(pid):
            for _ in range(5):
                self.assertEqual(self.agent.get("/health/live", timeout=2)[0::2], (200, "ok\n"))
            status, ctype, body = self.agent.get("/health", timeout=15)
            self.assertEqual(self.agent.get("/health/live", timeout=2)[0], 200)
        self.assertEqual((status, ctype), (503, "application/json"), body)
        h = json.loads(body)
        self.assertEqual(h["status"], "unhealthy")
        self.assertIn("the event loop has made no progress for", h["reasons"][0])
        h = json.loads(self.agent.get("/health")[2])
        self.assertEqual(h["status"], "ok", h)
        self.assertLess(h["loop_last_progress_seconds"], h["loop_longest_stall_seconds"])
        self.assertGreaterEqual(h["loop_longest_stall_seconds"], 2.0)  # it waited 2 s for the loop
        self.assertEqual(self.agent.stop(), 0, self.agent.stderr())

if __name__ == "__main__":
    unittest.main()
