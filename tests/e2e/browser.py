"""A headless Chromium driven through the DevTools protocol, for the tests
of the task view (test_view_browser.py) and `make bench`.

Chromium (Debian's `chromium`, scripts/install-deps.sh) runs with
--remote-debugging-pipe: it reads protocol messages from fd 3 and writes
its own to fd 4, each a JSON text ending in a NUL byte. No websocket, no
port: nothing else on the machine can talk to it. Every wait is bounded."""
import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class BrowserError(AssertionError):
    pass


class Browser:
    """One headless Chromium with one page. Use as a context manager."""

    def __init__(self, width=1280, height=800, timeout=30):
        if not os.path.exists(CHROMIUM):
            raise BrowserError("chromium is not installed (run scripts/install-deps.sh)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="tt-chromium-")
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def child_fds():
            # the protocol's fds: 3 is what Chromium reads, 4 what it writes
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
             "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--mute-audio",
             "--user-data-dir=" + self.profile,
             "--window-size=%d,%d" % (width, height), "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # close_fds would close 3 and 4 after preexec_fn: Python's own fds are
            # not inheritable anyway, and dup2 makes only 3 and 4 so
            preexec_fn=child_fds, close_fds=False)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buf = b""
        self.events = []  # (method, params) of the page's events, in order
        self.next_id = 0
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Log.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("Browser.close", session=False, timeout=5)
            except (BrowserError, OSError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in (self.to_child, self.from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            ready, _, _ = select.select([self.from_child], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                raise BrowserError("chromium exited")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=True, timeout=None):
        """Sends one command and returns its result; events are kept in self.events."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + (timeout or self.timeout)
        while True:
            reply = self._read_message(deadline)
            if "method" in reply and len(self.events) < 10000:
                self.events.append((reply["method"], reply.get("params", {})))
            if reply.get("id") != self.next_id:
                continue
            if "error" in reply:
                raise BrowserError("%s: %s" % (method, reply["error"].get("message")))
            return reply.get("result", {})

    def problems(self):
        """The page's uncaught exceptions and console errors (CSP violations among them)."""
        out = []
        for method, p in self.events:
            if method == "Runtime.exceptionThrown":
                out.append(p["exceptionDetails"].get("exception", {}).get("description")
                           or p["exceptionDetails"].get("text"))
            elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append("%s (%s)" % (p["entry"]["text"], p["entry"].get("url", "")))
            elif method == "Runtime.consoleAPICalled" and p["type"] == "error":
                out.append(" ".join(str(a.get("value", a.get("description")))
                                    for a in p.get("args", [])))
        return out

    def navigate(self, url):
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", what="the page to load")

    def eval(self, expression):
        """The value of a JavaScript expression in the page (awaited if a promise)."""
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise BrowserError("page error in %r: %s" % (
                expression, r["exceptionDetails"].get("exception", {}).get("description")))
        return r["result"].get("value")

    def wait_for(self, expression, timeout=30, what=None):
        """Waits until the expression is truthy in the page; returns its value."""
        end = time.time() + timeout
        while time.time() < end:
            v = self.eval(expression)
            if v:
                return v
            time.sleep(0.1)
        raise BrowserError("timed out waiting for " + (what or expression))

    def type_into(self, selector, text):
        """Focuses the element and types text, as a person at the keyboard."""
        self.eval("document.querySelector(%s).focus()" % json.dumps(selector))
        self.call("Input.insertText", {"text": text})

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
